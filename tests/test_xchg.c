/* test_xchg.c: the int64-count exchanges (include/xchg.h). Counts above what one MPI call may take are
 * simulated by a small round size (max_count, or GRAVRD_XCHG_CHUNK): the records must arrive whole, in
 * order and from the right rank whatever the round size, through the staging buffer and in place. Run on
 * 1 rank by tests/run.sh and on 2-4 ranks by tests/it_import_par.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "mpi_cmocka.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gr.h"
#include "xchg.h"

static int rank, nranks;

/* one record: who sent it, to whom, its number among that pair's records, and padding to 20 bytes */
typedef struct {
    int32_t src, dst, k, pad[2];
} rec;

/* records from s to d: a different count for every pair, zero for some */
static int64_t count_of(int s, int d)
{
    return (s * 7 + d * 3) % 11 == 5 ? 0 : 3 + (s * 5 + d * 11) % 17;
}

/* exchange with round size max_count and check every record received */
static void exchange_and_check(int64_t max_count)
{
    int64_t *sc = calloc((size_t)nranks, sizeof *sc), *rc = calloc((size_t)nranks, sizeof *rc), ns = 0, nr = 0;
    for (int d = 0; d < nranks; d++)
        ns += sc[d] = count_of(rank, d);
    rec *send = calloc((size_t)ns + 1, sizeof *send);
    for (int d = 0, at = 0; d < nranks; d++)
        for (int k = 0; k < sc[d]; k++, at++)
            send[at] = (rec){rank, d, k, {k * 31 + d, -k}};
    gr_xchg_counts(sc, rc, MPI_COMM_WORLD);
    for (int s = 0; s < nranks; s++) {
        assert_int_equal(rc[s], count_of(s, rank));
        nr += rc[s];
    }
    rec *recv = calloc((size_t)nr + 1, sizeof *recv);
    memset(recv, 0xff, ((size_t)nr + 1) * sizeof *recv);
    assert_int_equal(gr_xchg_alltoallv(send, sc, recv, rc, sizeof(rec), max_count, MPI_COMM_WORLD), GR_OK);
    int64_t at = 0;
    for (int s = 0; s < nranks; s++)
        for (int k = 0; k < rc[s]; k++, at++) {
            assert_int_equal(recv[at].src, s);
            assert_int_equal(recv[at].dst, rank);
            assert_int_equal(recv[at].k, k);
            assert_int_equal(recv[at].pad[0], k * 31 + rank);
            assert_int_equal(recv[at].pad[1], -k);
        }
    assert_int_equal(recv[nr].src, -1); /* nothing written past the end */
    free(send);
    free(recv);
    free(sc);
    free(rc);
}

/* rounds of 1, 2 and 5 records (counts of up to 19 per pair: up to 19 rounds, staged), and the default
 * (one round, in place) */
static void test_rounds(void **state)
{
    (void)state;
    exchange_and_check(1);
    exchange_and_check(2);
    exchange_and_check(5);
    exchange_and_check(0);
    exchange_and_check(1000);
}

/* the default round size keeps a round's counts and displacements in an int and its records in 256 MiB;
 * GRAVRD_XCHG_CHUNK lowers it (and only lowers it), and gr_xchg_alltoallv with max_count 0 uses it */
static void test_chunk(void **state)
{
    (void)state;
    unsetenv("GRAVRD_XCHG_CHUNK");
    int64_t c = gr_xchg_chunk(8, nranks);
    assert_true(c >= 1 && c <= INT_MAX / nranks);
    assert_true(c * 8 * nranks <= (int64_t)256 << 20);
    assert_int_equal(gr_xchg_chunk((size_t)1 << 40, nranks), 1);
    setenv("GRAVRD_XCHG_CHUNK", "3", 1);
    assert_int_equal(gr_xchg_chunk(8, nranks), 3);
    exchange_and_check(0);
    setenv("GRAVRD_XCHG_CHUNK", "999999999999", 1);
    assert_int_equal(gr_xchg_chunk(8, nranks), c);
    setenv("GRAVRD_XCHG_CHUNK", "x", 1);
    assert_int_equal(gr_xchg_chunk(8, nranks), c);
    unsetenv("GRAVRD_XCHG_CHUNK");
}

/* a record size that is not an int is refused with one message, before any MPI call */
static void test_bad_size(void **state)
{
    (void)state;
    int64_t zero[64] = {0};
    gr_clear_error();
    assert_int_equal(gr_xchg_alltoallv(NULL, zero, NULL, zero, (size_t)INT_MAX + 1, 0, MPI_COMM_WORLD), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "bytes"));
    gr_clear_error();
}

/* every rank's bytes in rank order, whatever their lengths (zero included) */
static void test_allgather(void **state)
{
    (void)state;
    int64_t n = rank % 2 ? 0 : 5 + rank, total, want = 0;
    char *mine = malloc((size_t)n + 1), *all;
    for (int64_t i = 0; i < n; i++)
        mine[i] = (char)('a' + rank);
    gr_xchg_allgather_bytes(mine, n, &all, &total, MPI_COMM_WORLD);
    for (int r = 0; r < nranks; r++) {
        int64_t len = r % 2 ? 0 : 5 + r;
        for (int64_t i = 0; i < len; i++)
            assert_int_equal(all[want + i], 'a' + r);
        want += len;
    }
    assert_int_equal(total, want);
    free(mine);
    free(all);
}

int main(int argc, char **argv)
{
    gr_test_mpi_init(&argc, &argv, &rank, &nranks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounds), cmocka_unit_test(test_chunk), cmocka_unit_test(test_bad_size),
        cmocka_unit_test(test_allgather),
    };
    return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
