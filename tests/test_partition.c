/* test_partition.c: the exporter partitions of panel.h. The rules (gr_partition_exporters, the contiguous
 * one the writers use, and gr_deal_exporters, the balanced one of gr_panel_open_balanced) are checked
 * locally on made-up offsets; the balanced reader on the panel named by GR_TEST_PANEL (skipped without
 * it) against a whole copy read on one rank: every row held by exactly one rank, in file order, with the
 * values of that row, and every region's rows shared within one exporter of an even split. The local-pairs
 * reader (gr_panel_open_local) against the same copy: the pairs of the local rows only, each pair on one
 * rank, a share of the pairs that shrinks with the ranks, and the values of the whole-table reader for
 * pairs, cities, derived and /panel columns; a panel with a bad pair id (GR_TEST_BADPANEL) is refused with
 * GR_EFORMAT on every rank. Run on 1-4 ranks by tests/it_scale.sh. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "panel.h"

static int rank, nranks;

/* 5 eastern exporters (group 0) of 7..11 rows, 4 western (group 1) of 3..9 rows, interleaved ids */
enum { NE = 9 };
static const double grp[NE] = {0, 1, 0, 0, 1, 1, 0, 1, 0};
static const int64_t rows[NE] = {7, 3, 11, 9, 9, 4, 8, 6, 10};

static void make_offsets(int64_t *off)
{
    off[0] = 0;
    for (int e = 0; e < NE; e++) off[e + 1] = off[e] + rows[e];
}

static void test_deal_rule(void **state)
{
    (void)state;
    int64_t off[NE + 1];
    make_offsets(off);
    for (int P = 1; P <= 6; P++) {
        int owner[NE];
        for (int e = 0; e < NE; e++) owner[e] = -1;
        gr_deal_exporters(NE, off, grp, P, owner);
        for (int g = 0; g < 2; g++) {
            int64_t tot = 0, big = 0, have[6] = {0};
            int last = 0;
            for (int e = 0; e < NE; e++) {
                if (grp[e] != g) continue;
                assert_true(owner[e] >= 0 && owner[e] < P);
                assert_true(owner[e] >= last);  /* one run per rank, in id order */
                last = owner[e];
                have[owner[e]] += rows[e];
                tot += rows[e];
                if (rows[e] > big) big = rows[e];
            }
            for (int r = 0; r < P; r++)  /* within one exporter of an even share */
                assert_true(llabs(have[r] * P - tot) <= big * P);
        }
    }
    /* the groups are dealt separately: 2 ranks get rows of both groups */
    int owner[NE], seen[2][2] = {{0}};
    gr_deal_exporters(NE, off, grp, 2, owner);
    for (int e = 0; e < NE; e++) seen[(int)grp[e]][owner[e]] = 1;
    assert_true(seen[0][0] && seen[0][1] && seen[1][0] && seen[1][1]);
}

static void test_deal_one_group_is_contiguous(void **state)
{
    (void)state;
    int64_t off[NE + 1];
    make_offsets(off);
    double nan_group[NE];
    for (int e = 0; e < NE; e++) nan_group[e] = NAN;
    for (int P = 1; P <= 6; P++) {
        int owner[NE], owner_nan[NE];
        gr_deal_exporters(NE, off, NULL, P, owner);
        gr_deal_exporters(NE, off, nan_group, P, owner_nan);
        for (int r = 0; r < P; r++) {
            int b, e;
            gr_partition_exporters(NE, off, r, P, &b, &e);
            for (int x = b; x < e; x++) {
                assert_int_equal(owner[x], r);
                assert_int_equal(owner_nan[x], r);
            }
        }
    }
}

/* The balanced reader on the panel GR_TEST_PANEL against the file order read whole on this rank. */
static void test_balanced_reader(void **state)
{
    (void)state;
    const char *path = getenv("GR_TEST_PANEL");
    if (!path || !*path) { skip(); return; }
    gr_panel whole, p;
    assert_int_equal(gr_panel_open(MPI_COMM_SELF, path, &whole), GR_OK);
    assert_int_equal(gr_panel_open_balanced(MPI_COMM_WORLD, path, &p), GR_OK);
    int64_t N = whole.nrows_total;
    assert_int_equal(whole.nrows, N);
    double *trade_all = NULL, *trade = NULL;
    assert_int_equal(gr_panel_column(&whole, "trade", &trade_all), GR_OK);
    assert_int_equal(gr_panel_column(&p, "trade", &trade), GR_OK);
    int32_t *held = calloc((size_t)N, sizeof *held);
    int64_t prev = -1;
    for (int64_t i = 0; i < p.nrows; i++) {
        int64_t g = gr_panel_row(&p, i);
        assert_true(g > prev && g < N);  /* file order */
        prev = g;
        held[g]++;
        assert_int_equal(p.pair[i], whole.pair[g]);
        assert_true(trade[i] == trade_all[g] || (isnan(trade[i]) && isnan(trade_all[g])));
        int e = (int)whole.pairs.cols[gr_table_find(&whole.pairs, "exporter")][p.pair[i]];
        assert_true(gr_panel_owns_exporter(&p, e));
    }
    MPI_Allreduce(MPI_IN_PLACE, held, (int)N, MPI_INT32_T, MPI_SUM, MPI_COMM_WORLD);
    for (int64_t g = 0; g < N; g++) assert_int_equal(held[g], 1);
    /* every region's rows within one exporter's rows of an even share on every rank */
    int ir = gr_table_find(&whole.cities, "region");
    assert_true(ir >= 0);
    int64_t mine[2] = {0, 0}, tot[2] = {0, 0}, big = 0;
    for (int e = 0; e < whole.n_exporters; e++) {
        int r = (int)whole.cities.cols[ir][e];
        int64_t n = whole.exporter_offsets[e + 1] - whole.exporter_offsets[e];
        assert_true(r == 0 || r == 1);
        tot[r] += n;
        if (n > big) big = n;
        if (gr_panel_owns_exporter(&p, e)) mine[r] += n;
    }
    for (int r = 0; r < 2; r++) assert_true(llabs(mine[r] * nranks - tot[r]) <= big * nranks);
    free(held); free(trade); free(trade_all);
    gr_panel_close(&p);
    gr_panel_close(&whole);
}

/* equal doubles, NaN equal to NaN */
static int same_value(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

/* The local-pairs reader against the whole file read on this rank (GR_TEST_PANEL). */
static void test_local_reader(void **state)
{
    (void)state;
    const char *path = getenv("GR_TEST_PANEL");
    if (!path || !*path) { skip(); return; }
    gr_panel whole, p;
    assert_int_equal(gr_panel_open(MPI_COMM_SELF, path, &whole), GR_OK);
    assert_int_equal(gr_panel_open_local(MPI_COMM_WORLD, path, &p), GR_OK);
    int64_t N = whole.nrows_total, M = whole.pairs.nrows;
    assert_true(M > 0);
    assert_int_equal(p.pairs_total, M);
    assert_int_equal(p.pairs.nrows, p.npairs_local);
    assert_int_equal(p.pairs.ncols, whole.pairs.ncols);
    assert_non_null(p.pair_ids);
    /* each pair with rows on exactly one rank; the local table holds no other pair */
    int32_t *on = calloc((size_t)M, sizeof *on), *used = calloc((size_t)M, sizeof *used);
    for (int64_t k = 0; k < p.npairs_local; k++) on[p.pair_ids[k]]++;
    for (int64_t i = 0; i < p.nrows; i++) used[p.pair_ids[p.pair[i]]] = 1;
    for (int64_t k = 0; k < p.npairs_local; k++) assert_int_equal(used[p.pair_ids[k]], 1);
    MPI_Allreduce(MPI_IN_PLACE, on, (int)M, MPI_INT32_T, MPI_SUM, MPI_COMM_WORLD);
    int64_t with_rows = 0;
    for (int64_t g = 0; g < N; g++) used[whole.pair[g]] = 2;
    for (int64_t q = 0; q < M; q++) {
        assert_int_equal(on[q], used[q] == 2 ? 1 : 0);
        with_rows += used[q] == 2;
    }
    /* the share shrinks with the ranks: at most an even share plus the pairs of the largest exporter */
    int ie = gr_table_find(&whole.pairs, "exporter");
    int64_t *per_exp = calloc((size_t)whole.n_exporters + 1, sizeof *per_exp), most = 0, mine = p.npairs_local;
    for (int64_t q = 0; q < M; q++) {
        int e = (int)whole.pairs.cols[ie][q];
        if (used[q] == 2 && ++per_exp[e] > most) most = per_exp[e];
    }
    MPI_Allreduce(MPI_IN_PLACE, &mine, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    assert_true(mine * nranks <= with_rows + 2 * most * nranks);
    if (nranks > 1) assert_true(mine < with_rows);
    /* values: table columns, city columns through the pair, a derived pairs column, /panel columns */
    const char *names[] = {"partner", "distance_km", "exporter", "dir", "exp_province", "imp_region",
                           "ntreated_100", "segpair_100", "pair", "month", "trade"};
    for (size_t c = 0; c < sizeof names / sizeof names[0]; c++) {
        double *a = NULL, *b = NULL;
        assert_int_equal(gr_panel_column(&whole, names[c], &a), GR_OK);
        assert_int_equal(gr_panel_column(&p, names[c], &b), GR_OK);
        for (int64_t i = 0; i < p.nrows; i++) assert_true(same_value(b[i], a[gr_panel_row(&p, i)]));
        free(a); free(b);
        assert_int_equal(gr_panel_pair_level(&p, names[c]), gr_panel_pair_level(&whole, names[c]));
    }
    double *pv = NULL;
    assert_int_equal(gr_panel_pair_values(&p, "pair", &pv), GR_OK);
    for (int64_t k = 0; k < p.npairs_local; k++) assert_true(pv[k] == p.pair_ids[k]);
    free(pv);
    /* an integer column asked twice (the second from memory) */
    for (int t = 0; t < 2; t++) {
        int32_t *m = NULL;
        assert_int_equal(gr_panel_column_int(&p, "month", &m), GR_OK);
        assert_non_null(m);
        double *a = NULL;
        assert_int_equal(gr_panel_column(&whole, "month", &a), GR_OK);
        for (int64_t i = 0; i < p.nrows; i++) assert_true(m[i] == a[gr_panel_row(&p, i)]);
        free(m); free(a);
    }
    free(on); free(used); free(per_exp);
    gr_panel_close(&p);
    gr_panel_close(&whole);
}

/* A panel whose /panel/pair has an id past the /pairs table (GR_TEST_BADPANEL): refused on every rank. */
static void test_local_reader_bad_pair(void **state)
{
    (void)state;
    const char *path = getenv("GR_TEST_BADPANEL");
    if (!path || !*path) { skip(); return; }
    gr_panel p;
    assert_int_equal(gr_panel_open_local(MPI_COMM_WORLD, path, &p), GR_EFORMAT);
    assert_int_equal(gr_panel_open_balanced(MPI_COMM_WORLD, path, &p), GR_EFORMAT);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deal_rule),
        cmocka_unit_test(test_deal_one_group_is_contiguous),
        cmocka_unit_test(test_balanced_reader),
        cmocka_unit_test(test_local_reader),
        cmocka_unit_test(test_local_reader_bad_pair),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return rc;
}
