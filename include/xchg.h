/* xchg.h: exchanges between all ranks whose element counts, displacements and byte sizes may pass
 * INT_MAX (MPI 3.1's int counts; Debian 12's Open MPI 4.1 has no large-count calls). Elements are
 * opaque records of `size` bytes sent as one contiguous MPI type; counts are int64 and the exchange runs
 * in rounds of at most `max_count` elements per pair of ranks. */
#ifndef GR_XCHG_H
#define GR_XCHG_H
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* The default round size for records of `size` bytes on `nranks` ranks: at most INT_MAX / nranks
 * elements (so a round's counts and displacements fit an int) and at most 256 MiB of records per round
 * on a rank. GRAVRD_XCHG_CHUNK=N in the environment (a test knob) lowers it to N. */
int64_t gr_xchg_chunk(size_t size, int nranks);

/* Collective. recvcounts[s] = the sendcounts[me] of rank s (MPI_Alltoall of int64). */
void gr_xchg_counts(const int64_t *sendcounts, int64_t *recvcounts, MPI_Comm comm);

/* Collective. Every rank sends sendcounts[d] records of `size` bytes to rank d, taken in order from
 * `send` (rank 0's records first), and receives recvcounts[s] records from rank s into `recv` in rank
 * order (recvcounts from gr_xchg_counts). Rounds of at most max_count records per pair (<= 0: the
 * default, gr_xchg_chunk); a round that fits in int counts and displacements is one MPI_Alltoallv on the
 * buffers themselves, otherwise through a staging buffer. max_count and size must be equal on every
 * rank. Returns GR_OK, or GR_EINPUT via gr_fail when size does not fit an int. */
int gr_xchg_alltoallv(const void *send, const int64_t *sendcounts, void *recv, const int64_t *recvcounts,
                      size_t size, int64_t max_count, MPI_Comm comm);

/* Collective. Every rank's `count` bytes at `send`, concatenated in rank order into *out (allocated here,
 * freed by the caller; *total its length); broadcast in pieces of at most 1 GiB. */
void gr_xchg_allgather_bytes(const void *send, int64_t count, char **out, int64_t *total, MPI_Comm comm);
#endif
