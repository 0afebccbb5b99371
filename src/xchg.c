/* xchg.c: int64-count all-to-all and all-gather over int-count MPI calls (see xchg.h). */
#include "xchg.h"
#include "gr.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int64_t gr_xchg_chunk(size_t size, int nranks)
{
    int64_t c = INT_MAX / nranks, budget = (int64_t)((256u << 20) / (size ? size : 1)) / nranks;
    if (budget < c)
        c = budget;
    const char *env = getenv("GRAVRD_XCHG_CHUNK");
    if (env && *env) {
        char *end;
        long long v = strtoll(env, &end, 10);
        if (*end == 0 && v > 0 && v < c)
            c = v;
    }
    return c > 0 ? c : 1;
}

void gr_xchg_counts(const int64_t *sendcounts, int64_t *recvcounts, MPI_Comm comm)
{
    MPI_Alltoall(sendcounts, 1, MPI_INT64_T, recvcounts, 1, MPI_INT64_T, comm);
}

/* records of one pair in round k: the count left after k rounds, at most chunk */
static int piece(int64_t count, int64_t k, int64_t chunk)
{
    int64_t left = count - k * chunk;
    return (int)(left <= 0 ? 0 : left < chunk ? left : chunk);
}

/* 1 if the round's pieces of `counts` lie in place at int displacements (one round, total <= INT_MAX) */
static int fits_in_place(const int64_t *counts, int n, int64_t rounds)
{
    int64_t tot = 0;
    for (int d = 0; d < n; d++)
        tot += counts[d];
    return rounds <= 1 && tot <= INT_MAX;
}

/* Round k's int counts and displacements of `counts` (records at int64 offsets off[d]); staged: packed
 * from 0; in place: at off[d]. */
static void round_layout(const int64_t *counts, const int64_t *off, int n, int64_t k, int64_t chunk, int staged,
                         int *cnt, int *dsp)
{
    int64_t pos = 0;
    for (int d = 0; d < n; d++) {
        cnt[d] = piece(counts[d], k, chunk);
        dsp[d] = (int)(staged ? pos : off[d]);
        pos += cnt[d];
    }
}

int gr_xchg_alltoallv(const void *send, const int64_t *sendcounts, void *recv, const int64_t *recvcounts,
                      size_t size, int64_t max_count, MPI_Comm comm)
{
    int n;
    MPI_Comm_size(comm, &n);
    if (size == 0 || size > INT_MAX)
        return gr_fail(GR_EINPUT, "exchange", "record of %zu bytes; at most %d", size, INT_MAX);
    int64_t chunk = max_count > 0 ? max_count : gr_xchg_chunk(size, n), mine = 0, rounds = 0;
    if (chunk > INT_MAX / n)
        chunk = INT_MAX / n;
    for (int d = 0; d < n; d++) {
        int64_t r = (sendcounts[d] + chunk - 1) / chunk;
        mine = r > mine ? r : mine;
    }
    MPI_Allreduce(&mine, &rounds, 1, MPI_INT64_T, MPI_MAX, comm);
    int64_t *soff = gr_malloc((size_t)n, sizeof *soff), *roff = gr_malloc((size_t)n, sizeof *roff);
    for (int d = 0; d < n; d++) {
        soff[d] = d ? soff[d - 1] + sendcounts[d - 1] : 0;
        roff[d] = d ? roff[d - 1] + recvcounts[d - 1] : 0;
    }
    int sstaged = !fits_in_place(sendcounts, n, rounds), rstaged = !fits_in_place(recvcounts, n, rounds);
    int *sc = gr_malloc((size_t)n, sizeof *sc), *sd = gr_malloc((size_t)n, sizeof *sd);
    int *rc = gr_malloc((size_t)n, sizeof *rc), *rd = gr_malloc((size_t)n, sizeof *rd);
    char *sbuf = sstaged ? gr_malloc((size_t)(n * chunk), size) : NULL;
    char *rbuf = rstaged ? gr_malloc((size_t)(n * chunk), size) : NULL;
    MPI_Datatype rec;
    MPI_Type_contiguous((int)size, MPI_BYTE, &rec);
    MPI_Type_commit(&rec);
    for (int64_t k = 0; k < rounds; k++) {
        round_layout(sendcounts, soff, n, k, chunk, sstaged, sc, sd);
        round_layout(recvcounts, roff, n, k, chunk, rstaged, rc, rd);
        for (int d = 0; sstaged && d < n; d++)
            if (sc[d])
                memcpy(sbuf + (size_t)sd[d] * size, (const char *)send + (size_t)(soff[d] + k * chunk) * size,
                       (size_t)sc[d] * size);
        MPI_Alltoallv(sstaged ? sbuf : send, sc, sd, rec, rstaged ? rbuf : recv, rc, rd, rec, comm);
        for (int s = 0; rstaged && s < n; s++)
            if (rc[s])
                memcpy((char *)recv + (size_t)(roff[s] + k * chunk) * size, rbuf + (size_t)rd[s] * size,
                       (size_t)rc[s] * size);
    }
    MPI_Type_free(&rec);
    free(sbuf);
    free(rbuf);
    free(sc);
    free(sd);
    free(rc);
    free(rd);
    free(soff);
    free(roff);
    return GR_OK;
}

void gr_xchg_allgather_bytes(const void *send, int64_t count, char **out, int64_t *total, MPI_Comm comm)
{
    int n, rank;
    MPI_Comm_size(comm, &n);
    MPI_Comm_rank(comm, &rank);
    int64_t *cnt = gr_malloc((size_t)n, sizeof *cnt), pos = 0;
    MPI_Allgather(&count, 1, MPI_INT64_T, cnt, 1, MPI_INT64_T, comm);
    *total = 0;
    for (int r = 0; r < n; r++)
        *total += cnt[r];
    *out = gr_malloc((size_t)(*total ? *total : 1), 1);
    const int64_t piece_max = (int64_t)1 << 30;
    for (int r = 0; r < n; r++) {
        if (r == rank && cnt[r])
            memcpy(*out + pos, send, (size_t)cnt[r]);
        for (int64_t done = 0; done < cnt[r]; done += piece_max) {
            int64_t len = cnt[r] - done < piece_max ? cnt[r] - done : piece_max;
            MPI_Bcast(*out + pos + done, (int)len, MPI_BYTE, r, comm);
        }
        pos += cnt[r];
    }
    free(cnt);
}
