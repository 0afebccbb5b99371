/* test_ppml_fe.c: the fe.h entry points that PPML's IRLS uses to demean one structure many times, against the
 * plain ones, to the bit: gr_fe_prepare (cached row segments and run flags), gr_fe_set_weights_trusted,
 * gr_fe_level_sums and gr_fe_demean_into (out of place).
 *
 * Two problems of three dimensions: rows in pair-month stretches (segments: exporter^t and importer^t step by
 * one per row, the pair stays) and the same rows shuffled (no segments: the fallbacks). Each rank holds a
 * contiguous block of the global rows (run directly, and on 3 ranks by tests/it_ppml.sh). Failures are agreed
 * over MPI_COMM_WORLD before cmocka sees them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "mpi_cmocka.h"
#include "test_rng.h"
#include "levels.h"

#define NC 6
static int wrank, wsize;

typedef struct {
    int64_t N;
    int32_t *code[3];
    int64_t ncodes[3];
    double *y[NC], *w;
} problem;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double unif(void) { return gr_test_xorshift(&rng); }

/* 8 exporters x 9 importers, 20-29 months each; shuffled: the rows in a random order (the same on all ranks). */
static void make_problem(problem *pb, int shuffled)
{
    memset(pb, 0, sizeof *pb);
    int64_t cap = 8 * 9 * 30, i = 0;
    for (int k = 0; k < 3; k++) pb->code[k] = malloc((size_t)cap * sizeof(int32_t));
    pb->ncodes[0] = 8 * 30;
    pb->ncodes[1] = 9 * 30;
    pb->ncodes[2] = 8 * 9;
    for (int e = 0; e < 8; e++)
        for (int m = 0; m < 9; m++) {
            int len = 20 + (e * 9 + m) % 10;
            for (int t = 0; t < len; t++, i++) {
                pb->code[0][i] = e * 30 + t;
                pb->code[1][i] = m * 30 + t;
                pb->code[2][i] = e * 9 + m;
            }
        }
    pb->N = i;
    for (int64_t a = pb->N - 1; shuffled && a > 0; a--) {
        int64_t b = (int64_t)(unif() * (double)(a + 1));
        for (int k = 0; k < 3; k++) { int32_t t = pb->code[k][a]; pb->code[k][a] = pb->code[k][b]; pb->code[k][b] = t; }
    }
    pb->w = malloc((size_t)pb->N * sizeof(double));
    for (int c = 0; c < NC; c++) pb->y[c] = malloc((size_t)pb->N * sizeof(double));
    for (int64_t r = 0; r < pb->N; r++) {
        pb->w[r] = 0.01 + 20 * unif() * unif();  /* mu-like: spread over three orders of magnitude */
        for (int c = 0; c < NC; c++) pb->y[c][r] = (double)pb->code[c % 3][r] / 7.0 + unif() - 0.5 + c;
    }
}

static void problem_free(problem *pb)
{
    for (int k = 0; k < 3; k++) free(pb->code[k]);
    for (int c = 0; c < NC; c++) free(pb->y[c]);
    free(pb->w);
}

/* The local block of rows on MPI_COMM_WORLD as a gr_fe (prepared or not); *b0 and *n get its rows. */
static int local_fe(const problem *pb, int prepared, gr_fe *fe, int64_t *b0, int64_t *n)
{
    *b0 = pb->N * wrank / wsize;
    *n = pb->N * (wrank + 1) / wsize - *b0;
    int32_t *codes[3];
    for (int k = 0; k < 3; k++) codes[k] = pb->code[k] + *b0;
    char *names[3] = {"exp^t", "imp^t", "pair"};
    int bad = gr_fe_from_codes(MPI_COMM_WORLD, 3, *n, codes, pb->ncodes, names, 0, fe) != GR_OK;
    if (!bad && prepared) gr_fe_prepare(fe);
    return bad;
}

static int same(const double *a, const double *b, int64_t m) { return memcmp(a, b, (size_t)m * sizeof *a) == 0; }

static void agree_none(int bad)
{
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    assert_int_equal(bad, 0);
}

/* Weighted demeaning of p columns, warm-started from a first solve's coefficients (as IRLS does): the columns
 * and coefficients of a prepared structure, set with gr_fe_set_weights_trusted, and out of place, are those of
 * the plain in-place path to the bit, and the input columns of the out-of-place call are left as they were. */
static int check_demean(const problem *pb, int p)
{
    int bad = 0;
    double *cols[2][NC], *outs[NC], *alpha[2][NC];
    gr_fe fe[2];
    int64_t b0 = 0, n = 0;
    for (int v = 0; v < 2; v++) {  /* v = 0: plain, in place; v = 1: prepared, trusted weights, out of place */
        bad += local_fe(pb, v, &fe[v], &b0, &n);
        if (v == 0) bad += gr_fe_set_weights(&fe[v], pb->w + b0) != GR_OK;
        else gr_fe_set_weights_trusted(&fe[v], pb->w + b0);
        for (int k = 0; k < 3; k++) bad += !same(fe[0].count[k], fe[v].count[k], fe[0].nlevels[k]);
        for (int c = 0; c < p; c++) {
            cols[v][c] = malloc((size_t)(n ? n : 1) * sizeof(double));
            memcpy(cols[v][c], pb->y[c] + b0, (size_t)n * sizeof(double));
            alpha[v][c] = calloc((size_t)gr_fe_ncoef(&fe[v]), sizeof(double));
        }
        for (int rep = 0; rep < 2; rep++) {  /* a cold solve, then a warm one on the same columns */
            int it = 0, conv = 0;
            if (v == 0) {
                for (int c = 0; c < p; c++) memcpy(cols[v][c], pb->y[c] + b0, (size_t)n * sizeof(double));
                bad += gr_fe_demean_coef(&fe[v], p, cols[v], alpha[v], 1e-9, 10000, &it, &conv) != GR_OK || !conv;
            } else {
                const double *in[NC];
                for (int c = 0; c < p; c++) { outs[c] = cols[v][c]; in[c] = pb->y[c] + b0; }
                bad += gr_fe_demean_into(&fe[v], p, in, outs, alpha[v], 1e-9, 10000, &it, &conv) != GR_OK || !conv;
            }
        }
    }
    for (int c = 0; c < p; c++) {
        bad += !same(cols[0][c], cols[1][c], n) || !same(alpha[0][c], alpha[1][c], gr_fe_ncoef(&fe[0]));
        for (int v = 0; v < 2; v++) { free(cols[v][c]); free(alpha[v][c]); }
    }
    for (int v = 0; v < 2; v++) gr_fe_free(&fe[v]);
    return bad;
}

static void test_demean_same_bits(void **state)
{
    (void)state;
    int bad = 0;
    for (int shuffled = 0; shuffled < 2; shuffled++) {
        problem pb;
        make_problem(&pb, shuffled);
        for (int p = 1; p <= NC; p += 2) bad += check_demean(&pb, p);
        problem_free(&pb);
    }
    agree_none(bad);
}

/* gr_fe_demean_into on each rank's block: out of place equals in place to the bit, its input is untouched. */
static void test_into_blocks(void **state)
{
    (void)state;
    int bad = 0;
    for (int shuffled = 0; shuffled < 2; shuffled++) {
        problem pb;
        make_problem(&pb, shuffled);
        for (int p = 1; p <= NC; p += 2)
            for (int prepared = 0; prepared < 2; prepared++) {
                gr_fe fe;
                int64_t b0 = 0, n = 0;
                bad += local_fe(&pb, prepared, &fe, &b0, &n);
                bad += gr_fe_set_weights(&fe, pb.w + b0) != GR_OK;
                const double *in[NC];
                double *a[NC], *o[NC];
                for (int c = 0; c < p; c++) {
                    in[c] = pb.y[c] + b0;
                    a[c] = malloc((size_t)(n ? n : 1) * sizeof(double));
                    o[c] = malloc((size_t)(n ? n : 1) * sizeof(double));
                    memcpy(a[c], in[c], (size_t)n * sizeof(double));
                }
                int it1 = 0, it2 = 0, cv = 0;
                bad += gr_fe_demean_coef(&fe, p, a, NULL, 1e-8, 10000, &it1, &cv) != GR_OK || !cv;
                bad += gr_fe_demean_into(&fe, p, in, o, NULL, 1e-8, 10000, &it2, &cv) != GR_OK || !cv || it1 != it2;
                for (int c = 0; c < p; c++) {
                    bad += !same(a[c], o[c], n);
                    double s = 0;
                    for (int64_t i = 0; i < n; i++) s += fabs(o[c][i] - in[c][i]);
                    bad += !(s > 0);  /* something was subtracted: the output is not a copy of the input */
                    free(a[c]); free(o[c]);
                }
                gr_fe_free(&fe);
            }
        problem_free(&pb);
    }
    agree_none(bad);
}

/* gr_fe_level_sums, prepared (along the segments of the ordered rows; the shuffled ones have none) or not,
 * equals the row loop to the bit. */
static void test_level_sums(void **state)
{
    (void)state;
    int bad = 0;
    for (int shuffled = 0; shuffled < 2; shuffled++) {
        problem pb;
        make_problem(&pb, shuffled);
        for (int prepared = 0; prepared < 2; prepared++) {
            gr_fe fe;
            int64_t b0 = 0, n = 0;
            bad += local_fe(&pb, prepared, &fe, &b0, &n);
            for (int k = 0; k < 3; k++) {
                double *want = calloc((size_t)fe.nlevels[k], sizeof(double)), *got = calloc((size_t)fe.nlevels[k],
                                                                                            sizeof(double));
                for (int64_t i = 0; i < n; i++) want[fe.id[k][i]] += pb.y[k][b0 + i];
                gr_fe_level_sums(&fe, k, pb.y[k] + b0, got);
                bad += !same(want, got, fe.nlevels[k]);
                free(want); free(got);
            }
            gr_fe_free(&fe);
        }
        problem_free(&pb);
    }
    agree_none(bad);
}

int main(int argc, char **argv)
{
    gr_test_mpi_init(&argc, &argv, &wrank, &wsize);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demean_same_bits),
        cmocka_unit_test(test_into_blocks),
        cmocka_unit_test(test_level_sums),
    };
    return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
