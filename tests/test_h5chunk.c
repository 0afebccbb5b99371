/* test_h5chunk.c: the direct chunk reader (h5chunk.h) against HDF5's own H5Dread: the same bytes for any
 * range of rows (whole chunks, parts, the short last chunk), doubles and 32-bit integers, a chunk written
 * with its deflate filter skipped; the cases it must hand back to H5Dread (other layouts, filters, types
 * and byte orders, unfiltered partial chunks, a chunk never written, rows past the end, a damaged chunk);
 * and the SSE2 unshuffle
 * against the byte loop for every element size and range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <mpi.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "h5chunk.h"
#include "test_rng.h"

#define N 2500      /* rows: two whole chunks of 1000 and a short one */
#define CHUNK 1000

static char path[64];

/* A 1-D dataset of N values of type ftype from data, with the given chunking and filters. */
static void write_dataset(hid_t f, const char *name, hid_t ftype, hid_t mtype, const void *data, int chunked,
                          int shuffle, int deflate)
{
    hsize_t n = N, c = CHUNK;
    hid_t s = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunked) assert_true(H5Pset_chunk(dcpl, 1, &c) >= 0);
    if (shuffle) assert_true(H5Pset_shuffle(dcpl) >= 0);
    if (deflate) assert_true(H5Pset_deflate(dcpl, 1) >= 0);
    hid_t d = H5Dcreate2(f, name, ftype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d); H5Pclose(dcpl); H5Sclose(s);
}

/* Datasets of N doubles, shuffled and deflated in chunks of CHUNK, each unusual in one way: "partial_raw"
 * stores its short last chunk unfiltered (H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS); "sparse" has only its first
 * chunk written (allocated when written); "mask2" has its first chunk written raw through H5Dwrite_chunk
 * with the deflate filter marked skipped (filter mask bit 1), its others through H5Dwrite. */
static void write_special(hid_t f, const double *x)
{
    static const char *names[] = { "partial_raw", "sparse", "mask2" };
    hsize_t n = N, c = CHUNK;
    for (int k = 0; k < 3; k++) {
        hid_t s = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_chunk(dcpl, 1, &c) >= 0 && H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, 1) >= 0);
        if (k == 0) assert_true(H5Pset_chunk_opts(dcpl, H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS) >= 0);
        if (k == 1) assert_true(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR) >= 0);
        hid_t d = H5Dcreate2(f, names[k], H5T_IEEE_F64LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(d >= 0);
        hsize_t start = k == 0 ? 0 : CHUNK, count = k == 1 ? CHUNK : (k == 0 ? N : N - CHUNK);
        if (k == 1) start = 0;
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, x + start) >= 0);
        H5Sclose(ms); H5Sclose(fs);
        if (k == 2) {  /* chunk 0: shuffled by hand, not deflated */
            unsigned char raw[CHUNK * 8];
            const unsigned char *b = (const unsigned char *)x;
            for (int i = 0; i < CHUNK; i++)
                for (int j = 0; j < 8; j++) raw[j * CHUNK + i] = b[i * 8 + j];
            hsize_t first = 0;
            assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 2u, &first, sizeof raw, raw) >= 0);
        }
        H5Dclose(d); H5Pclose(dcpl); H5Sclose(s);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/test_h5chunk.%d.h5", (int)getpid());
    double x[N];
    int32_t k[N];
    uint64_t s = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x[i] = (gr_test_xorshift(&s) - 0.5) * 1e6;
        k[i] = (int32_t)(gr_test_xorshift(&s) * 4e9 - 2e9);
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    write_dataset(f, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, x, 1, 1, 1);
    write_dataset(f, "k", H5T_STD_I32LE, H5T_NATIVE_INT32, k, 1, 1, 1);
    write_dataset(f, "contiguous", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, x, 0, 0, 0);
    write_dataset(f, "deflate_only", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, x, 1, 0, 1);
    write_dataset(f, "k64", H5T_STD_I64LE, H5T_NATIVE_INT32, k, 1, 1, 1);
    write_dataset(f, "damaged", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, x, 1, 1, 1);
    write_dataset(f, "big_endian", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, x, 1, 1, 1);
    write_special(f, x);
    H5Fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

/* Rows [off, off + n) of dataset `name` as mtype by H5Dread into ref; returns the H5Dread status. */
static herr_t reference_read(hid_t d, hid_t mtype, int64_t off, int64_t n, void *ref)
{
    hsize_t start = (hsize_t)off, count = (hsize_t)n;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    herr_t st = H5Dread(d, mtype, ms, fs, H5P_DEFAULT, ref);
    H5Sclose(ms); H5Sclose(fs);
    return st;
}

static void check_ranges(const char *name, hid_t mtype, size_t size)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    static const int64_t ranges[][2] = { { 0, N }, { 0, CHUNK }, { CHUNK, CHUNK }, { 2 * CHUNK, N - 2 * CHUNK },
                                         { 1, 1 }, { 999, 2 }, { 17, 2000 }, { 1500, 1000 }, { N - 1, 1 },
                                         { 5, 0 } };
    unsigned char *got = malloc(N * size), *ref = malloc(N * size);
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        int64_t off = ranges[r][0], n = ranges[r][1];
        memset(got, 0xAB, N * size);
        memset(ref, 0xAB, N * size);
        assert_int_equal(gr_h5chunk_read(d, mtype, off, n, got), 1);
        if (n > 0) assert_true(reference_read(d, mtype, off, n, ref) >= 0);
        if (memcmp(got, ref, N * size)) fail_msg("%s: rows [%lld, %lld) differ from H5Dread", name, (long long)off,
                                                 (long long)(off + n));
    }
    /* one reader kept over all the ranges, in this order (it keeps the chunk last inflated) */
    gr_h5chunk *r = gr_h5chunk_open(d, mtype);
    assert_non_null(r);
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        int64_t off = ranges[k][0], n = ranges[k][1];
        memset(got, 0xAB, N * size);
        memset(ref, 0xAB, N * size);
        assert_int_equal(gr_h5chunk_get(r, off, n, got), 1);
        if (n > 0) assert_true(reference_read(d, mtype, off, n, ref) >= 0);
        if (memcmp(got, ref, N * size)) fail_msg("%s: rows [%lld, %lld) differ (kept reader)", name, (long long)off,
                                                 (long long)(off + n));
    }
    assert_int_equal(gr_h5chunk_get(r, N - 1, 2, got), 0);  /* past the end */
    gr_h5chunk_close(r);
    free(got); free(ref);
    H5Dclose(d); H5Fclose(f);
}

static void test_doubles(void **state) { (void)state; check_ranges("x", H5T_NATIVE_DOUBLE, 8); }
/* a chunk stored with its deflate filter skipped (mask bit 1): read directly, the same bytes */
static void test_filter_mask(void **state) { (void)state; check_ranges("mask2", H5T_NATIVE_DOUBLE, 8); }
static void test_int32(void **state) { (void)state; check_ranges("k", H5T_NATIVE_INT32, 4); }

/* Layouts, filters and types the direct path does not take: 0, and H5Dread still reads them. */
static void test_hands_back(void **state)
{
    (void)state;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    static const char *names[] = { "contiguous", "deflate_only", "k64", "big_endian", "partial_raw", "sparse" };
    double buf[N], ref[N];
    for (int i = 0; i < 6; i++) {
        hid_t d = H5Dopen2(f, names[i], H5P_DEFAULT);
        hid_t mt = i == 2 ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE;
        if (gr_h5chunk_read(d, mt, 0, N, buf) != 0) fail_msg("%s took the direct path", names[i]);
        assert_true(reference_read(d, mt, 0, N, buf) >= 0);
        H5Dclose(d);
    }
    /* the written chunk of "sparse" still reads directly; rows past the end of "x" are refused */
    hid_t d = H5Dopen2(f, "sparse", H5P_DEFAULT);
    assert_int_equal(gr_h5chunk_read(d, H5T_NATIVE_DOUBLE, 10, CHUNK - 10, buf), 1);
    assert_true(reference_read(d, H5T_NATIVE_DOUBLE, 10, CHUNK - 10, ref) >= 0);
    assert_memory_equal(buf, ref, (CHUNK - 10) * sizeof(double));
    H5Dclose(d);
    d = H5Dopen2(f, "x", H5P_DEFAULT);
    assert_int_equal(gr_h5chunk_read(d, H5T_NATIVE_DOUBLE, N - 100, 101, buf), 0);
    assert_int_equal(gr_h5chunk_read(d, H5T_NATIVE_DOUBLE, -1, 10, buf), 0);
    H5Dclose(d);
    H5Fclose(f);
}

/* A damaged byte in a chunk's compressed stream: the direct path hands back (0) and H5Dread fails, so
 * the reader's caller reports the damage; the other chunks still read directly. */
static void test_damaged_chunk(void **state)
{
    (void)state;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "damaged", H5P_DEFAULT);
    hsize_t first = CHUNK, size = 0;
    haddr_t addr = 0;
    unsigned mask = 0;
    assert_true(H5Dget_chunk_info_by_coord(d, &first, &mask, &addr, &size) >= 0);
    assert_true(size > 100);
    H5Dclose(d); H5Fclose(f);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)(addr + size / 2)), 1);
    byte ^= 0x5A;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)(addr + size / 2)), 1);
    close(fd);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    d = H5Dopen2(f, "damaged", H5P_DEFAULT);
    double buf[N];
    assert_int_equal(gr_h5chunk_read(d, H5T_NATIVE_DOUBLE, 0, N, buf), 0);
    assert_int_equal(gr_h5chunk_read(d, H5T_NATIVE_DOUBLE, 0, CHUNK, buf), 1);
    assert_int_equal(gr_h5chunk_read(d, H5T_NATIVE_DOUBLE, 2 * CHUNK, N - 2 * CHUNK, buf), 1);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    assert_true(reference_read(d, H5T_NATIVE_DOUBLE, 0, N, buf) < 0);
    H5Dclose(d); H5Fclose(f);
}

/* The vectorised unshuffle against the byte loop: element sizes 1-9, ranges of every length up to 40 at
 * several starts (the SSE2 paths take 16 elements at a time, the rest bytewise). */
static void test_unshuffle(void **state)
{
    (void)state;
    enum { NE = 97 };
    unsigned char in[NE * 9], out[NE * 9], ref[NE * 9];
    uint64_t s = 2463534242ULL;
    for (int i = 0; i < NE * 9; i++) in[i] = (unsigned char)(gr_test_xorshift(&s) * 256);
    for (int size = 1; size <= 9; size++)
        for (int lo = 0; lo < 40; lo += 3)
            for (int hi = lo; hi <= lo + 40 && hi <= NE; hi++) {
                memset(out, 0, sizeof out);
                memset(ref, 0, sizeof ref);
                gr_unshuffle(in, NE, size, lo, hi, out);
                for (int i = lo; i < hi; i++)
                    for (int b = 0; b < size; b++) ref[(i - lo) * size + b] = in[b * NE + i];
                if (memcmp(out, ref, sizeof out)) fail_msg("size %d, elements [%d, %d)", size, lo, hi);
            }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles),    cmocka_unit_test(test_int32),     cmocka_unit_test(test_filter_mask),
        cmocka_unit_test(test_hands_back),
        cmocka_unit_test(test_damaged_chunk), cmocka_unit_test(test_unshuffle),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    MPI_Finalize();
    return rc;
}
