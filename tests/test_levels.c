/* test_levels.c: codes and dense level ids (levels.h). Every check holds on any number of ranks: each
 * rank takes a contiguous slice of the same global rows and compares its codes with values worked out
 * here by hand. Run directly (1 rank) and under mpirun -n 3 (tests/it_estimate.sh). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "mpi_cmocka.h"
#include "levels.h"

static int rank, nranks;

/* this rank's slice [*b, *e) of N global rows */
static void slice(int64_t N, int64_t *b, int64_t *e)
{
    *b = N * rank / nranks;
    *e = N * (rank + 1) / nranks;
}

static void test_integer_keys(void **state)
{
    (void)state;
    const double key[8] = {7, 3, NAN, 5, 3, 12, -2, 7};
    const int32_t want[8] = {9, 5, -1, 7, 5, 14, 0, 9};  /* value - min(-2); range 15 */
    int64_t b, e, nc = 0;
    slice(8, &b, &e);
    int32_t code[8];
    assert_int_equal(gr_codes_from_keys(MPI_COMM_WORLD, e - b, key + b, code, &nc), GR_OK);
    assert_int_equal(nc, 15);
    for (int64_t i = b; i < e; i++) assert_int_equal(code[i - b], want[i]);
}

static void test_real_keys(void **state)
{
    (void)state;
    /* non-integers: dense in increasing order, -0 and 0 one level, NaN and inf missing */
    const double key[9] = {0.5, -1.25, 3.0, NAN, -0.0, 0.0, 0.5, INFINITY, 1e300};
    const int32_t want[9] = {2, 0, 3, -1, 1, 1, 2, -1, 4};
    int64_t b, e, nc = 0;
    slice(9, &b, &e);
    int32_t code[9];
    assert_int_equal(gr_codes_from_keys(MPI_COMM_WORLD, e - b, key + b, code, &nc), GR_OK);
    assert_int_equal(nc, 5);
    for (int64_t i = b; i < e; i++) assert_int_equal(code[i - b], want[i]);
    /* integers too far apart for a direct range are sorted as well */
    const double big[5] = {1e12, -3, 1e12, 4e12, -3};
    const int32_t wbig[5] = {1, 0, 1, 2, 0};
    slice(5, &b, &e);
    assert_int_equal(gr_codes_from_keys(MPI_COMM_WORLD, e - b, big + b, code, &nc), GR_OK);
    assert_int_equal(nc, 3);
    for (int64_t i = b; i < e; i++) assert_int_equal(code[i - b], wbig[i]);
}

static void test_dense(void **state)
{
    (void)state;
    const int32_t code[7] = {8, 2, -1, 8, 5, 2, 0};
    const int32_t want[7] = {3, 1, -1, 3, 2, 1, 0};  /* codes 0 2 5 8 occur */
    int64_t b, e, L = 0;
    slice(7, &b, &e);
    int32_t id[7];
    assert_int_equal(gr_codes_dense(MPI_COMM_WORLD, e - b, code + b, 10, id, &L), GR_OK);
    assert_int_equal(L, 4);
    for (int64_t i = b; i < e; i++) assert_int_equal(id[i - b], want[i]);
    /* in place, and beyond the bitmap limit (sorted path) */
    const int32_t wide[4] = {2000000000, 7, 7, 100000000};
    const int32_t wwant[4] = {2, 0, 0, 1};
    slice(4, &b, &e);
    memcpy(id, wide + b, (size_t)(e - b) * sizeof *id);
    assert_int_equal(gr_codes_dense(MPI_COMM_WORLD, e - b, id, (int64_t)INT32_MAX, id, &L), GR_OK);
    assert_int_equal(L, 3);
    for (int64_t i = b; i < e; i++) assert_int_equal(id[i - b], wwant[i]);
}

static void test_combine(void **state)
{
    (void)state;
    /* small: acc * npart + part, -1 when either is missing */
    const int32_t a[6] = {0, 1, 2, -1, 1, 2}, p[6] = {3, 0, 3, 1, -1, 0};
    const int32_t want[6] = {3, 4, 11, -1, -1, 8};
    int64_t b, e;
    slice(6, &b, &e);
    int32_t acc[6];
    memcpy(acc, a + b, (size_t)(e - b) * sizeof *acc);
    int64_t nacc = 3;
    assert_int_equal(gr_codes_combine(MPI_COMM_WORLD, e - b, acc, &nacc, p + b, 4), GR_OK);
    assert_int_equal(nacc, 12);
    for (int64_t i = b; i < e; i++) assert_int_equal(acc[i - b], want[i]);
    /* ranges whose product overflows int32: the result still orders the pairs lexicographically */
    const int32_t ba[5] = {70000, 5, 70000, 5, 99999}, bp[5] = {99999, 1, 3, 1, 0};
    /* pairs: (70000,99999) (5,1) (70000,3) (5,1) (99999,0) -> sorted (5,1) (70000,3) (70000,99999) (99999,0) */
    const int32_t bwant[5] = {2, 0, 1, 0, 3};
    slice(5, &b, &e);
    memcpy(acc, ba + b, (size_t)(e - b) * sizeof *acc);
    nacc = 100000;
    assert_int_equal(gr_codes_combine(MPI_COMM_WORLD, e - b, acc, &nacc, bp + b, 100000), GR_OK);
    int32_t id[5];
    int64_t L = 0;
    assert_int_equal(gr_codes_dense(MPI_COMM_WORLD, e - b, acc, nacc, id, &L), GR_OK);
    assert_int_equal(L, 4);
    for (int64_t i = b; i < e; i++) assert_int_equal(id[i - b], bwant[i]);
}

static void test_fe_from_codes(void **state)
{
    (void)state;
    /* two dimensions on 6 rows: codes with a gap (level 1 unused) and a complete one */
    const int32_t c0[6] = {0, 2, 2, 3, 0, 3}, c1[6] = {1, 0, 1, 0, 1, 1};
    int64_t b, e;
    slice(6, &b, &e);
    int64_t n = e - b, nc[2] = {4, 2};
    int32_t *codes[2];
    codes[0] = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    codes[1] = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    memcpy(codes[0], c0 + b, (size_t)n * sizeof(int32_t));
    memcpy(codes[1], c1 + b, (size_t)n * sizeof(int32_t));
    char *names[2] = {"a", "b"};
    gr_fe fe;
    assert_int_equal(gr_fe_from_codes(MPI_COMM_WORLD, 2, n, codes, nc, names, 0, &fe), GR_OK);
    assert_non_null(codes[0]);  /* not taken */
    assert_int_equal(fe.nlevels[0], 3);
    assert_int_equal(fe.nlevels[1], 2);
    const int32_t want0[6] = {0, 1, 1, 2, 0, 2};
    for (int64_t i = b; i < e; i++) assert_int_equal(fe.id[0][i - b], want0[i]);
    const double cnt0[3] = {2, 2, 2}, cnt1[2] = {2, 4};
    for (int g = 0; g < 3; g++) assert_true(fe.count[0][g] == cnt0[g]);
    for (int g = 0; g < 2; g++) assert_true(fe.count[1][g] == cnt1[g]);
    gr_fe_free(&fe);
    /* taken: the code arrays become the ids */
    int32_t *keep0 = codes[0];
    assert_int_equal(gr_fe_from_codes(MPI_COMM_WORLD, 2, n, codes, nc, names, 1, &fe), GR_OK);
    assert_null(codes[0]);
    assert_null(codes[1]);
    assert_ptr_equal(fe.id[0], keep0);
    for (int64_t i = b; i < e; i++) assert_int_equal(fe.id[0][i - b], want0[i]);
    gr_fe_free(&fe);
}

int main(int argc, char **argv)
{
    gr_test_mpi_init(&argc, &argv, &rank, &nranks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_keys), cmocka_unit_test(test_real_keys), cmocka_unit_test(test_dense),
        cmocka_unit_test(test_combine), cmocka_unit_test(test_fe_from_codes),
    };
    return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
