/* h5chunk.c: a 1-D shuffled and deflated dataset read straight from its chunks (contract in h5chunk.h).
 * Anything unusual (a layout, filter, type or chunk this path does not know) hands the read back to
 * H5Dread, which also reports a corrupt file in its own words. */
#include "h5chunk.h"
#include <emmintrin.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- unshuffle ---------------- */

/* 16 elements of 8 bytes from 8 byte planes (SSE2: three rounds of interleaving). */
static void unshuffle16_x8(const unsigned char *in, int64_t stride, unsigned char *out)
{
    __m128i a[8];
    for (int b = 0; b < 8; b++) a[b] = _mm_loadu_si128((const __m128i *)(in + b * stride));
    __m128i t[8], u[8];
    for (int k = 0; k < 4; k++) {  /* bytes 2k, 2k+1 of elements 0-7 and 8-15 */
        t[2 * k] = _mm_unpacklo_epi8(a[2 * k], a[2 * k + 1]);
        t[2 * k + 1] = _mm_unpackhi_epi8(a[2 * k], a[2 * k + 1]);
    }
    for (int k = 0; k < 2; k++) {  /* bytes 4k..4k+3 of elements 0-3, 4-7, 8-11, 12-15 */
        u[4 * k] = _mm_unpacklo_epi16(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm_unpackhi_epi16(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm_unpacklo_epi16(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm_unpackhi_epi16(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int q = 0; q < 4; q++) {  /* elements 4q .. 4q+3, all 8 bytes */
        _mm_storeu_si128((__m128i *)(out + 32 * q), _mm_unpacklo_epi32(u[q], u[4 + q]));
        _mm_storeu_si128((__m128i *)(out + 32 * q + 16), _mm_unpackhi_epi32(u[q], u[4 + q]));
    }
}

/* 16 elements of 4 bytes from 4 byte planes. */
static void unshuffle16_x4(const unsigned char *in, int64_t stride, unsigned char *out)
{
    __m128i a[4];
    for (int b = 0; b < 4; b++) a[b] = _mm_loadu_si128((const __m128i *)(in + b * stride));
    __m128i t0 = _mm_unpacklo_epi8(a[0], a[1]), t1 = _mm_unpackhi_epi8(a[0], a[1]);
    __m128i t2 = _mm_unpacklo_epi8(a[2], a[3]), t3 = _mm_unpackhi_epi8(a[2], a[3]);
    _mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_unpackhi_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(out + 32), _mm_unpacklo_epi16(t1, t3));
    _mm_storeu_si128((__m128i *)(out + 48), _mm_unpackhi_epi16(t1, t3));
}

void gr_unshuffle(const unsigned char *in, int64_t nelem, int size, int64_t lo, int64_t hi, unsigned char *out)
{
    int64_t i = lo;
    if (size == 8)
        for (; i + 16 <= hi; i += 16) unshuffle16_x8(in + i, nelem, out + (i - lo) * 8);
    else if (size == 4)
        for (; i + 16 <= hi; i += 16) unshuffle16_x4(in + i, nelem, out + (i - lo) * 4);
    for (; i < hi; i++)
        for (int b = 0; b < size; b++) out[(i - lo) * size + b] = in[b * nelem + i];
}

/* ---------------- the direct read ---------------- */

/* 1 if dcpl is a 1-D chunked layout with exactly HDF5's shuffle (of elements of `size` bytes) then deflate
 * filters, every chunk filtered (not H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS); *chunk its length. */
static int shuffle_deflate_chunks(hid_t dcpl, size_t size, hsize_t *chunk)
{
    unsigned opts = 0;
    if (H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_chunk(dcpl, 1, chunk) != 1 || *chunk == 0) return 0;
    if (H5Pget_chunk_opts(dcpl, &opts) < 0 || (opts & H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS)) return 0;
    if (H5Pget_nfilters(dcpl) != 2) return 0;
    for (unsigned f = 0; f < 2; f++) {
        unsigned flags, config, cd[8] = {0};
        size_t ncd = 8;
        H5Z_filter_t id = H5Pget_filter2(dcpl, f, &flags, &ncd, cd, 0, NULL, &config);
        if (id != (f == 0 ? H5Z_FILTER_SHUFFLE : H5Z_FILTER_DEFLATE)) return 0;
        if (f == 0 && (ncd < 1 || cd[0] != size)) return 0;  /* the element size HDF5 shuffled by */
    }
    return 1;
}

/* 1 if d takes the direct path into memtype; *chunk its chunk length, *size its element size, *dim its
 * length. */
static int direct_ok(hid_t d, hid_t memtype, hsize_t *chunk, size_t *size, hsize_t *dim)
{
    hid_t dcpl = H5Dget_create_plist(d), ft = H5Dget_type(d), fs = H5Dget_space(d);
    int ok = dcpl >= 0 && ft >= 0 && fs >= 0 && H5Sget_simple_extent_ndims(fs) == 1 &&
             H5Sget_simple_extent_dims(fs, dim, NULL) == 1 && H5Tequal(ft, memtype) > 0;
    if (ok) {
        *size = H5Tget_size(ft);
        ok = *size >= 1 && *size <= 16 && shuffle_deflate_chunks(dcpl, *size, chunk);
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    if (ft >= 0) H5Tclose(ft);
    if (fs >= 0) H5Sclose(fs);
    return ok;
}

struct gr_h5chunk {
    hid_t d;
    hsize_t chunk, dim;   /* elements per chunk, in the dataset */
    size_t size;          /* bytes per element */
    unsigned char *packed, *plain;
    size_t packed_cap;
    struct libdeflate_decompressor *dec;
    int64_t held;         /* first element of the chunk whose planes are held (planes, mask), -1: none */
    const unsigned char *planes;
    uint32_t mask;
};

/* Load the chunk starting at element `first` (its planes: inflated into r->plain, or as stored when its
 * deflate was skipped). 1 done, 0 hand back to H5Dread. */
static int load_chunk(gr_h5chunk *r, hsize_t first)
{
    hsize_t nbytes = 0, plain_bytes = r->chunk * r->size;
    r->held = -1;
    if (H5Dget_chunk_storage_size(r->d, &first, &nbytes) < 0 || nbytes == 0) return 0;
    if (nbytes > r->packed_cap) {
        free(r->packed);
        r->packed_cap = nbytes;
        if (!(r->packed = malloc(nbytes))) { r->packed_cap = 0; return 0; }
    }
    uint32_t mask = 0;
    if (H5Dread_chunk(r->d, H5P_DEFAULT, &first, &mask, r->packed) < 0) return 0;
    r->planes = r->packed;
    if (!(mask & 2u)) {  /* deflate applied (bit 1: the second filter skipped) */
        size_t got = 0;
        if (libdeflate_zlib_decompress(r->dec, r->packed, nbytes, r->plain, plain_bytes, &got) != LIBDEFLATE_SUCCESS
            || got != plain_bytes) return 0;
        r->planes = r->plain;
    } else if (nbytes != plain_bytes) {
        return 0;
    }
    r->mask = mask;
    r->held = (int64_t)first;
    return 1;
}

gr_h5chunk *gr_h5chunk_open(hid_t d, hid_t memtype)
{
    gr_h5chunk *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->d = d;
    r->held = -1;
    if (direct_ok(d, memtype, &r->chunk, &r->size, &r->dim)) {
        r->plain = malloc(r->chunk * r->size);
        r->dec = libdeflate_alloc_decompressor();
        if (r->plain && r->dec) return r;
    }
    gr_h5chunk_close(r);
    return NULL;
}

int gr_h5chunk_get(gr_h5chunk *r, int64_t off, int64_t n, void *buf)
{
    if (n <= 0) return 1;
    if (off < 0 || (hsize_t)(off + n) > r->dim) return 0;
    int64_t c = (int64_t)r->chunk;
    for (int64_t first = off / c * c; first < off + n; first += c) {
        int64_t lo = off > first ? off - first : 0, hi = off + n - first < c ? off + n - first : c;
        if (r->held != first && !load_chunk(r, (hsize_t)first)) return 0;
        unsigned char *out = (unsigned char *)buf + (first + lo - off) * (int64_t)r->size;
        if (r->mask & 1u) memcpy(out, r->planes + lo * r->size, (size_t)(hi - lo) * r->size);
        else gr_unshuffle(r->planes, c, (int)r->size, lo, hi, out);
    }
    return 1;
}

void gr_h5chunk_close(gr_h5chunk *r)
{
    if (!r) return;
    if (r->dec) libdeflate_free_decompressor(r->dec);
    free(r->plain);
    free(r->packed);
    free(r);
}

int gr_h5chunk_read(hid_t d, hid_t memtype, int64_t off, int64_t n, void *buf)
{
    if (n <= 0) return 1;
    gr_h5chunk *r = gr_h5chunk_open(d, memtype);
    int ok = r && gr_h5chunk_get(r, off, n, buf);
    gr_h5chunk_close(r);
    return ok;
}
