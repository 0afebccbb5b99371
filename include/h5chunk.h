/* h5chunk.h: reading a 1-D panel column straight from its compressed chunks.
 *
 * gravrd writes every /panel column in chunks of 65,536 rows through HDF5's shuffle and deflate filters
 * (docs/format.md). HDF5's own read inflates each chunk with zlib, unshuffles it a byte at a time and
 * copies it out of its chunk cache. The direct path reads each chunk's stored bytes (H5Dread_chunk),
 * inflates them with libdeflate (which checks the zlib stream's Adler-32 as zlib does) and unshuffles
 * them, 16 values at a time, into the caller's array: the same bytes, about twice as fast. */
#ifndef GR_H5CHUNK_H
#define GR_H5CHUNK_H
#include <hdf5.h>
#include <stdint.h>

/* Local. Read elements [off, off + n) of the open 1-D dataset d into buf as memtype, directly from the
 * chunks. Returns 1 when done, 0 when the caller must use H5Dread instead (buf may have been partly
 * written): the dataset does not take the direct path (not chunked, other filters than shuffle then
 * deflate, partial chunks stored unfiltered, a file type that needs a conversion to memtype, rows past
 * its end, a chunk never written) or a chunk cannot be read or inflated (H5Dread then reports the damage
 * in HDF5's words). */
int gr_h5chunk_read(hid_t d, hid_t memtype, int64_t off, int64_t n, void *buf);

/* The same as a reader kept over several reads of one dataset (a rank's blocks of rows): set up once, and
 * the chunk last inflated is kept, so that a chunk two consecutive reads share is inflated once.
 * gr_h5chunk_open: NULL when d does not take the direct path into memtype (H5Dread must read it).
 * gr_h5chunk_get: gr_h5chunk_read's contract. gr_h5chunk_close accepts NULL. All local. */
typedef struct gr_h5chunk gr_h5chunk;
gr_h5chunk *gr_h5chunk_open(hid_t d, hid_t memtype);
int gr_h5chunk_get(gr_h5chunk *r, int64_t off, int64_t n, void *buf);
void gr_h5chunk_close(gr_h5chunk *r);

/* Local. The unshuffle of HDF5's shuffle filter: in holds size planes of nelem bytes (byte b of every
 * element, then byte b + 1, ...); write elements [lo, hi) of the chunk, size bytes each, to out. */
void gr_unshuffle(const unsigned char *in, int64_t nelem, int size, int64_t lo, int64_t hi, unsigned char *out);

#endif
