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

/* Local. The unshuffle of HDF5's shuffle filter: in holds size planes of nelem bytes (byte b of every
 * element, then byte b + 1, ...); write elements [lo, hi) of the chunk, size bytes each, to out. */
void gr_unshuffle(const unsigned char *in, int64_t nelem, int size, int64_t lo, int64_t hi, unsigned char *out);

#endif
