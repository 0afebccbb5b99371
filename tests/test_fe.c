/* test_fe.c: the fixed-effect demeaning (fe.h) against a dense least-squares solve written here, with
 * and without observation weights, for both methods, and its coefficients and warm starts.
 *
 * Ranks: every check runs on sub-communicators of the first P world ranks for P = 1 .. min(4, world
 * size) (MPI_Comm_split; the other ranks pass MPI_UNDEFINED and wait), each rank holding a contiguous
 * block of the same global rows; results are gathered on rank 0 and compared with the dense solve and
 * with P = 1. Run directly (1 rank: P = 1 only) and as `mpirun -n 4 build/tests/test_fe` (the four
 * layouts in one launch; tests/it_estimate.sh). Failures are counted on every rank and agreed over
 * MPI_COMM_WORLD before cmocka sees them, so a failing check never leaves a rank in a collective.
 * GR_TEST_VERBOSE=1 prints the largest errors and the iteration counts. */
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
#include <lapacke.h>
#include "levels.h"

#define MAXK 3
#define MAXC 6
#define MAXITER 100000
static int wrank, wsize, maxP, verbose;

/* ---- problems: global rows, codes, columns and weights, identical on every rank ---- */
typedef struct {
    const char *name;
    int64_t N;
    int K;
    int32_t *code[MAXK];
    int64_t ncodes[MAXK];
    int32_t *gid[MAXK];  /* global dense level ids, numbered as gr_fe_from_codes numbers them */
    int64_t off[MAXK + 1], ncoef;
    double *y[MAXC];
    double *w;           /* weights in [0.2, 5] */
    double scale[MAXC];  /* max |y| per column: errors are relative to it */
} problem;

static uint64_t rng = 88172645463325252ull;
static double unif(void) { return gr_test_xorshift(&rng); }

/* Level ids through gr_fe_from_codes on MPI_COMM_SELF (dense ids do not depend on the layout), then
 * columns y_c = sum_k effect_ck[level] + noise, and weights. */
static void problem_finish(problem *pb)
{
    char *names[MAXK] = {"a", "b", "c"};
    gr_fe fe;
    assert_int_equal(gr_fe_from_codes(MPI_COMM_SELF, pb->K, pb->N, pb->code, pb->ncodes, names, 0, &fe), GR_OK);
    pb->off[0] = 0;
    for (int k = 0; k < pb->K; k++) {
        pb->gid[k] = malloc((size_t)pb->N * sizeof(int32_t));
        memcpy(pb->gid[k], fe.id[k], (size_t)pb->N * sizeof(int32_t));
        pb->off[k + 1] = pb->off[k] + fe.nlevels[k];
    }
    pb->ncoef = pb->off[pb->K];
    assert_int_equal(gr_fe_ncoef(&fe), pb->ncoef);
    gr_fe_free(&fe);
    double *eff = malloc((size_t)pb->ncoef * sizeof *eff);
    for (int c = 0; c < MAXC; c++) {
        for (int64_t j = 0; j < pb->ncoef; j++) eff[j] = 4 * unif() - 2;
        pb->y[c] = malloc((size_t)pb->N * sizeof(double));
        pb->scale[c] = 0;
        for (int64_t i = 0; i < pb->N; i++) {
            double v = unif() - 0.5 + c;
            for (int k = 0; k < pb->K; k++) v += eff[pb->off[k] + pb->gid[k][i]];
            pb->y[c][i] = v;
            if (fabs(v) > pb->scale[c]) pb->scale[c] = fabs(v);
        }
    }
    free(eff);
    pb->w = malloc((size_t)pb->N * sizeof(double));
    for (int64_t i = 0; i < pb->N; i++) pb->w[i] = 0.2 + 4.8 * unif();
}

/* Rows in random order of level: dimension a sorted in blocks of 30 rows of three levels (4, 9 and 17
 * rows: runs, and local-only on 1-4 ranks since 30 divides every block boundary of 360 rows), b
 * skewed over 15 levels, c uniform over 6 (both shared across ranks, no runs, no segments). */
static void make_random(problem *pb)
{
    memset(pb, 0, sizeof *pb);
    pb->name = "random rows";
    pb->N = 360;
    pb->K = 3;
    for (int k = 0; k < 3; k++) pb->code[k] = malloc(360 * sizeof(int32_t));
    pb->ncodes[0] = 36;
    pb->ncodes[1] = 15;
    pb->ncodes[2] = 6;
    for (int64_t i = 0; i < 360; i++) {
        int64_t b = i / 30, r = i % 30;
        pb->code[0][i] = (int32_t)(3 * b + (r < 4 ? 0 : r < 13 ? 1 : 2));
        double u = unif();
        pb->code[1][i] = (int32_t)(15 * u * u);
        pb->code[2][i] = (int32_t)(6 * unif());
    }
    problem_finish(pb);
}

/* Pairs of 5 exporters and 6 importers (not e == i) over 14-18 months each, rows pair by pair in
 * month order: exporter^month and importer^month step by one per row, the pair stays, so the CG
 * kernels run on segments. */
static void make_segments(problem *pb)
{
    memset(pb, 0, sizeof *pb);
    pb->name = "segments";
    pb->K = 3;
    int64_t cap = 30 * 18;
    for (int k = 0; k < 3; k++) pb->code[k] = malloc((size_t)cap * sizeof(int32_t));
    pb->ncodes[0] = 5 * 18;
    pb->ncodes[1] = 6 * 18;
    pb->ncodes[2] = 30;
    int64_t i = 0;
    for (int e = 0; e < 5; e++)
        for (int m = 0; m < 6; m++) {
            if (e == m) continue;
            int pair = e * 6 + m, len = 14 + (pair * 7) % 5;
            for (int t = 0; t < len; t++, i++) {
                pb->code[0][i] = e * 18 + t;
                pb->code[1][i] = m * 18 + t;
                pb->code[2][i] = pair;
            }
        }
    pb->N = i;
    problem_finish(pb);
}

static void problem_free(problem *pb)
{
    for (int k = 0; k < pb->K; k++) { free(pb->code[k]); free(pb->gid[k]); }
    for (int c = 0; c < MAXC; c++) free(pb->y[c]);
    free(pb->w);
}

/* The dense reference: e = y - D (D'WD)^+ D'W y for all MAXC columns, by LAPACKE_dgelsd (SVD, minimum
 * norm, rank-deficient) on W^1/2 D and W^1/2 y. Called on rank 0 only: returns a failure count rather
 * than asserting (the other ranks must not be left in a collective). */
static int dense_residuals(const problem *pb, int weighted, double **e)
{
    const int64_t N = pb->N, M = pb->ncoef, R = N > M ? N : M;
    double *A = calloc((size_t)(N * M), sizeof *A), *B = calloc((size_t)(R * MAXC), sizeof *B);
    double *sv = malloc((size_t)M * sizeof *sv);
    for (int64_t i = 0; i < N; i++) {
        double s = weighted ? sqrt(pb->w[i]) : 1.0;
        for (int k = 0; k < pb->K; k++) A[i * M + pb->off[k] + pb->gid[k][i]] = s;
        for (int c = 0; c < MAXC; c++) B[i * MAXC + c] = s * pb->y[c][i];
    }
    lapack_int rank = 0;
    int bad = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, (lapack_int)N, (lapack_int)M, MAXC, A, (lapack_int)M, B, MAXC, sv,
                             1e-10, &rank) != 0;
    bad += !(rank < M);  /* the dimensions overlap: the coefficients are not unique */
    if (verbose) fprintf(stderr, "# %s: %lld rows, %lld coefficients, rank %d\n", pb->name, (long long)N, (long long)M, (int)rank);
    for (int c = 0; c < MAXC; c++)
        for (int64_t i = 0; i < N; i++) {
            double fit = 0;
            for (int k = 0; k < pb->K; k++) fit += B[(pb->off[k] + pb->gid[k][i]) * MAXC + c];
            e[c][i] = pb->y[c][i] - fit;
        }
    free(A); free(B); free(sv);
    return bad;
}

/* ---- one demeaning on a sub-communicator ---- */
typedef struct {
    gr_fe_method method;
    int weighted;        /* 1: pb->w; 2: all weights 1 (through gr_fe_set_weights) */
    int p;               /* columns 0..p-1 */
    int with_alpha;
    double **start;      /* starting coefficients (NULL: zeros) */
    double tol;
} run_opts;

typedef struct {
    double *cols[MAXC];  /* demeaned columns, gathered (rank 0 of the sub-communicator) */
    double *alpha[MAXC]; /* coefficients (rank 0's copy) */
    int iterations, converged;
} run_out;

static void run_out_free(run_out *o)
{
    for (int c = 0; c < MAXC; c++) { free(o->cols[c]); free(o->alpha[c]); o->cols[c] = o->alpha[c] = NULL; }
}

/* Demean on comm (rows sliced in contiguous blocks) and gather. Returns the number of failures seen on
 * this rank (a non-zero status, coefficients that differ between ranks). */
static int run_on(MPI_Comm comm, const problem *pb, const run_opts *o, run_out *out)
{
    int r, P, bad = 0;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &P);
    const int64_t b = pb->N * r / P, e = pb->N * (r + 1) / P, n = e - b;
    int32_t *codes[MAXK];
    for (int k = 0; k < pb->K; k++) codes[k] = pb->code[k] + b;
    char *names[MAXK] = {"a", "b", "c"};
    gr_fe fe;
    if (gr_fe_from_codes(comm, pb->K, n, codes, pb->ncodes, names, 0, &fe) != GR_OK) return 1;
    fe.method = o->method;
    double *ones = NULL;
    if (o->weighted == 2) {
        ones = malloc((size_t)(n ? n : 1) * sizeof *ones);
        for (int64_t i = 0; i < n; i++) ones[i] = 1.0;
    }
    if (o->weighted && gr_fe_set_weights(&fe, o->weighted == 1 ? pb->w + b : ones) != GR_OK) bad++;
    if (gr_fe_ncoef(&fe) != pb->ncoef) bad++;
    double *cols[MAXC];
    for (int c = 0; c < o->p; c++) {
        cols[c] = malloc((size_t)(n ? n : 1) * sizeof(double));
        memcpy(cols[c], pb->y[c] + b, (size_t)n * sizeof(double));
        out->alpha[c] = malloc((size_t)pb->ncoef * sizeof(double));
        for (int64_t j = 0; j < pb->ncoef; j++) out->alpha[c][j] = o->start ? o->start[c][j] : 0.0;
    }
    if (gr_fe_demean_coef(&fe, o->p, cols, o->with_alpha ? out->alpha : NULL, o->tol, MAXITER, &out->iterations,
                          &out->converged) != GR_OK)
        bad++;
    int *counts = malloc((size_t)P * sizeof *counts), *displs = malloc((size_t)P * sizeof *displs);
    for (int q = 0; q < P; q++) {
        displs[q] = (int)(pb->N * q / P);
        counts[q] = (int)(pb->N * (q + 1) / P) - displs[q];
    }
    double *cmp = malloc((size_t)pb->ncoef * sizeof *cmp);
    for (int c = 0; c < o->p; c++) {
        out->cols[c] = r == 0 ? malloc((size_t)pb->N * sizeof(double)) : NULL;
        MPI_Gatherv(cols[c], (int)n, MPI_DOUBLE, out->cols[c], counts, displs, MPI_DOUBLE, 0, comm);
        /* the coefficients are replicated: the same bits on every rank */
        memcpy(cmp, out->alpha[c], (size_t)pb->ncoef * sizeof *cmp);
        MPI_Bcast(cmp, (int)pb->ncoef, MPI_DOUBLE, 0, comm);
        if (o->with_alpha && memcmp(cmp, out->alpha[c], (size_t)pb->ncoef * sizeof *cmp) != 0) bad++;
        free(cols[c]);
    }
    free(cmp); free(counts); free(displs); free(ones);
    gr_fe_free(&fe);
    return bad;
}

/* Sub-communicator of the first P world ranks (MPI_COMM_NULL on the others). Collective on WORLD. */
static MPI_Comm first_ranks(int P)
{
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, wrank < P ? 0 : MPI_UNDEFINED, wrank, &sub);
    return sub;
}

/* max_i |a_i - b_i| <= tol * scale, else print and count one failure */
static int close_to(const char *what, const problem *pb, const run_opts *o, int P, int c, const double *a,
                    const double *b, double tol)
{
    double err = 0;
    for (int64_t i = 0; i < pb->N; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= err)) err = d;  /* NaN counts */
    }
    err /= pb->scale[c];
    if (verbose)
        fprintf(stderr, "# %s, %s, w=%d, p=%d, P=%d, column %d: %s %.2e\n", pb->name,
                o->method == GR_FE_CG ? "cg" : "irons-tuck", o->weighted, o->p, P, c, what, err);
    if (err <= tol) return 0;
    print_message("%s, %s, weighted %d, p = %d, P = %d, column %d: %s: relative error %.3e > %.0e\n", pb->name,
                  o->method == GR_FE_CG ? "cg" : "irons-tuck", o->weighted, o->p, P, c, what, err, tol);
    return 1;
}

/* D alpha for column c: the fitted values the coefficients stand for */
static void fitted(const problem *pb, const double *alpha, double *fit)
{
    for (int64_t i = 0; i < pb->N; i++) {
        double v = 0;
        for (int k = 0; k < pb->K; k++) v += alpha[pb->off[k] + pb->gid[k][i]];
        fit[i] = v;
    }
}

static double method_tol(gr_fe_method m) { return m == GR_FE_CG ? 1e-10 : 1e-13; }

/* Failures agreed over the world: every rank asserts on the same count. */
static void assert_none(int bad)
{
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    assert_int_equal(bad, 0);
}

/* ---- the checks ---- */

/* Against the dense solve: demeaned columns and the fitted values of the returned coefficients, both
 * methods, unweighted and weighted, 1, 3 and 6 columns (one, a group of four, four plus two), on 1-4
 * ranks; and every P agrees with P = 1 to 1e-10. */
static void check_dense(problem *pb)
{
    int bad = 0;
    double *ref[MAXC], *fit = malloc((size_t)pb->N * sizeof *fit), *yfit = malloc((size_t)pb->N * sizeof *yfit);
    for (int c = 0; c < MAXC; c++) ref[c] = malloc((size_t)pb->N * sizeof(double));
    const int ps[3] = {1, 3, 6};
    for (int weighted = 0; weighted <= 1; weighted++) {
        if (wrank == 0) bad += dense_residuals(pb, weighted, ref);
        for (int m = 0; m < 2; m++)
            for (int ip = 0; ip < 3; ip++) {
                run_opts o = {.method = m ? GR_FE_IRONS_TUCK : GR_FE_CG, .weighted = weighted, .p = ps[ip],
                              .with_alpha = 1, .tol = method_tol(m ? GR_FE_IRONS_TUCK : GR_FE_CG)};
                run_out one = {0};
                for (int P = 1; P <= maxP; P++) {
                    MPI_Comm sub = first_ranks(P);
                    if (sub == MPI_COMM_NULL) continue;
                    run_out out = {0};
                    bad += run_on(sub, pb, &o, &out);
                    if (!out.converged) bad++;
                    if (wrank == 0)
                        for (int c = 0; c < o.p; c++) {
                            bad += close_to("demeaned vs dense", pb, &o, P, c, out.cols[c], ref[c], 1e-9);
                            fitted(pb, out.alpha[c], fit);
                            for (int64_t i = 0; i < pb->N; i++) yfit[i] = pb->y[c][i] - ref[c][i];
                            bad += close_to("D alpha vs dense fit", pb, &o, P, c, fit, yfit, 1e-9);
                            if (P > 1) {
                                bad += close_to("demeaned vs P=1", pb, &o, P, c, out.cols[c], one.cols[c], 1e-10);
                                double *fit1 = yfit;
                                fitted(pb, one.alpha[c], fit1);
                                bad += close_to("D alpha vs P=1", pb, &o, P, c, fit, fit1, 1e-10);
                            }
                        }
                    if (P == 1) one = out;
                    else run_out_free(&out);
                    MPI_Comm_free(&sub);
                }
                run_out_free(&one);
            }
    }
    for (int c = 0; c < MAXC; c++) free(ref[c]);
    free(fit); free(yfit);
    assert_none(bad);
}

static void test_dense_random(void **state)
{
    (void)state;
    problem pb;
    make_random(&pb);
    check_dense(&pb);
    problem_free(&pb);
}

static void test_dense_segments(void **state)
{
    (void)state;
    problem pb;
    make_segments(&pb);
    check_dense(&pb);
    problem_free(&pb);
}

/* Warm starts (weighted, three columns, both methods, 1-4 ranks): from the converged coefficients at
 * most 2 iterations and the same columns; from coefficients moved by up to +-1 the dense result again;
 * from ones moved by up to +-1e-4 fewer iterations than cold. */
static void check_warm(problem *pb)
{
    int bad = 0;
    double *ref[MAXC], *start[MAXC];
    for (int c = 0; c < MAXC; c++) {
        ref[c] = malloc((size_t)pb->N * sizeof(double));
        start[c] = malloc((size_t)pb->ncoef * sizeof(double));
    }
    if (wrank == 0) bad += dense_residuals(pb, 1, ref);
    for (int m = 0; m < 2; m++)
        for (int P = 1; P <= maxP; P++) {
            MPI_Comm sub = first_ranks(P);
            if (sub == MPI_COMM_NULL) continue;
            run_opts o = {.method = m ? GR_FE_IRONS_TUCK : GR_FE_CG, .weighted = 1, .p = 3, .with_alpha = 1,
                          .tol = method_tol(m ? GR_FE_IRONS_TUCK : GR_FE_CG)};
            run_out cold = {0}, again = {0}, far = {0}, near = {0};
            bad += run_on(sub, pb, &o, &cold);
            /* every rank needs the starting point: rank 0's coefficients (identical anyway) */
            for (int c = 0; c < o.p; c++) {
                MPI_Bcast(cold.alpha[c], (int)pb->ncoef, MPI_DOUBLE, 0, sub);
                memcpy(start[c], cold.alpha[c], (size_t)pb->ncoef * sizeof(double));
            }
            o.start = start;
            bad += run_on(sub, pb, &o, &again);
            uint64_t keep = rng;
            for (int c = 0; c < o.p; c++)
                for (int64_t j = 0; j < pb->ncoef; j++) start[c][j] = cold.alpha[c][j] + 2 * unif() - 1;
            bad += run_on(sub, pb, &o, &far);
            for (int c = 0; c < o.p; c++)
                for (int64_t j = 0; j < pb->ncoef; j++) start[c][j] = cold.alpha[c][j] + 2e-4 * unif() - 1e-4;
            bad += run_on(sub, pb, &o, &near);
            rng = keep;  /* the same draws on every P: ranks 1-3 skip some P */
            if (wrank == 0) {
                if (verbose)
                    fprintf(stderr, "# warm %s %s P=%d: iterations cold %d, from converged %d, far %d, near %d\n",
                            pb->name, m ? "irons-tuck" : "cg", P, cold.iterations, again.iterations, far.iterations,
                            near.iterations);
                if (!cold.converged || !again.converged || !far.converged || !near.converged) bad++;
                if (cold.iterations <= 2 || again.iterations > 2 || near.iterations >= cold.iterations) {
                    print_message("%s, %s, P = %d: iterations cold %d, from the converged start %d, near it %d\n",
                                  pb->name, m ? "irons-tuck" : "cg", P, cold.iterations, again.iterations,
                                  near.iterations);
                    bad++;
                }
                for (int c = 0; c < o.p; c++) {
                    bad += close_to("warm from converged vs cold", pb, &o, P, c, again.cols[c], cold.cols[c], 1e-10);
                    bad += close_to("warm from far vs dense", pb, &o, P, c, far.cols[c], ref[c], 1e-9);
                    bad += close_to("warm from near vs dense", pb, &o, P, c, near.cols[c], ref[c], 1e-9);
                    double *fit = malloc((size_t)pb->N * sizeof *fit), *yfit = malloc((size_t)pb->N * sizeof *yfit);
                    fitted(pb, far.alpha[c], fit);
                    for (int64_t i = 0; i < pb->N; i++) yfit[i] = pb->y[c][i] - ref[c][i];
                    bad += close_to("D alpha from far vs dense fit", pb, &o, P, c, fit, yfit, 1e-9);
                    free(fit); free(yfit);
                }
            }
            run_out_free(&cold); run_out_free(&again); run_out_free(&far); run_out_free(&near);
            MPI_Comm_free(&sub);
        }
    for (int c = 0; c < MAXC; c++) { free(ref[c]); free(start[c]); }
    assert_none(bad);
}

static void test_warm_random(void **state)
{
    (void)state;
    problem pb;
    make_random(&pb);
    check_warm(&pb);
    problem_free(&pb);
}

static void test_warm_segments(void **state)
{
    (void)state;
    problem pb;
    make_segments(&pb);
    check_warm(&pb);
    problem_free(&pb);
}

/* Same bits: (a) the forced SSE2 kernels and the AVX2 ones, weighted (CG; the dispatch reads
 * GRAVRD_NO_AVX2 at every call); (b) weights all 1 and no weights (both methods: the weighted kernels
 * multiply by w exactly where the generic loops do). 1, 3 and 6 columns, 1-4 ranks, both layouts. */
static void test_same_bits(void **state)
{
    (void)state;
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") != 0;
    int bad = 0;
    const int ps[3] = {1, 3, 6};
    for (int layout = 0; layout < 2; layout++) {
        problem pb;
        if (layout) make_segments(&pb);
        else make_random(&pb);
        for (int ip = 0; ip < 3; ip++)
            for (int P = 1; P <= maxP; P++) {
                MPI_Comm sub = first_ranks(P);
                if (sub == MPI_COMM_NULL) continue;
                for (int m = 0; m < 2; m++) {
                    run_opts o = {.method = m ? GR_FE_IRONS_TUCK : GR_FE_CG, .weighted = 1, .p = ps[ip],
                                  .with_alpha = 1, .tol = 1e-8};
                    run_out a = {0}, b = {0};
                    if (m == 0 && avx2) {
                        bad += run_on(sub, &pb, &o, &a);
                        setenv("GRAVRD_NO_AVX2", "1", 1);
                        bad += run_on(sub, &pb, &o, &b);
                        unsetenv("GRAVRD_NO_AVX2");
                        for (int c = 0; wrank == 0 && c < o.p; c++)
                            if (memcmp(a.cols[c], b.cols[c], (size_t)pb.N * sizeof(double)) ||
                                memcmp(a.alpha[c], b.alpha[c], (size_t)pb.ncoef * sizeof(double))) {
                                print_message("%s, p = %d, P = %d: SSE2 and AVX2 differ\n", pb.name, o.p, P);
                                bad++;
                            }
                        run_out_free(&a); run_out_free(&b);
                    }
                    o.weighted = 0;
                    bad += run_on(sub, &pb, &o, &a);
                    o.weighted = 2;
                    bad += run_on(sub, &pb, &o, &b);
                    for (int c = 0; wrank == 0 && c < o.p; c++)
                        if (memcmp(a.cols[c], b.cols[c], (size_t)pb.N * sizeof(double)) ||
                            memcmp(a.alpha[c], b.alpha[c], (size_t)pb.ncoef * sizeof(double))) {
                            print_message("%s, %s, p = %d, P = %d: unit weights differ from none\n", pb.name,
                                          m ? "irons-tuck" : "cg", o.p, P);
                            bad++;
                        }
                    run_out_free(&a); run_out_free(&b);
                }
                MPI_Comm_free(&sub);
            }
        problem_free(&pb);
    }
    assert_none(bad);
    if (!avx2) skip();  /* the unit-weight half ran; the SSE2/AVX2 half needs an AVX2 CPU */
}

/* gr_fe_set_weights: level counts become the weight sums over all ranks, NULL restores row counts, and
 * a weight that is not finite and > 0 on one rank fails on every rank and leaves the fe as it was. */
static void test_set_weights(void **state)
{
    (void)state;
    problem pb;
    make_random(&pb);
    int bad = 0;
    for (int P = 1; P <= maxP; P++) {
        MPI_Comm sub = first_ranks(P);
        if (sub == MPI_COMM_NULL) continue;
        int r;
        MPI_Comm_rank(sub, &r);
        const int64_t b = pb.N * r / P, e = pb.N * (r + 1) / P, n = e - b;
        int32_t *codes[MAXK];
        for (int k = 0; k < pb.K; k++) codes[k] = pb.code[k] + b;
        char *names[MAXK] = {"a", "b", "c"};
        gr_fe fe;
        bad += gr_fe_from_codes(sub, pb.K, n, codes, pb.ncodes, names, 0, &fe) != GR_OK;
        bad += gr_fe_set_weights(&fe, pb.w + b) != GR_OK;
        bad += fe.w != pb.w + b;
        for (int k = 0; k < pb.K; k++) {
            double *want = calloc((size_t)fe.nlevels[k], sizeof *want);
            for (int64_t i = 0; i < pb.N; i++) want[pb.gid[k][i]] += pb.w[i];
            for (int64_t g = 0; g < fe.nlevels[k]; g++) bad += !(fabs(fe.count[k][g] - want[g]) <= 1e-12 * want[g]);
            free(want);
        }
        /* a bad weight on the last rank only: every rank fails, weights and counts unchanged */
        const double wrong[4] = {0.0, -1.0, NAN, INFINITY};
        double *w2 = malloc((size_t)(n ? n : 1) * sizeof *w2);
        for (int t = 0; t < 4; t++) {
            memcpy(w2, pb.w + b, (size_t)n * sizeof *w2);
            if (r == P - 1 && n > 0) w2[n / 2] = wrong[t];
            double before = fe.count[1][0];
            int rc = gr_fe_set_weights(&fe, w2);
            bad += rc != GR_EINPUT || fe.w != pb.w + b || fe.count[1][0] != before;
            gr_clear_error();
        }
        free(w2);
        bad += gr_fe_set_weights(&fe, NULL) != GR_OK;
        bad += fe.w != NULL;
        for (int k = 0; k < pb.K; k++) {
            double *want = calloc((size_t)fe.nlevels[k], sizeof *want);
            for (int64_t i = 0; i < pb.N; i++) want[pb.gid[k][i]] += 1.0;
            for (int64_t g = 0; g < fe.nlevels[k]; g++) bad += fe.count[k][g] != want[g];
            free(want);
        }
        /* the offsets of gr_fe_ncoef: dimension k from sum_{j<k} nlevels[j] */
        bad += gr_fe_ncoef(&fe) != pb.ncoef || fe.nlevels[0] != pb.off[1] || fe.nlevels[1] != pb.off[2] - pb.off[1];
        gr_fe_free(&fe);
        MPI_Comm_free(&sub);
    }
    problem_free(&pb);
    assert_none(bad);
}

int main(int argc, char **argv)
{
    gr_test_mpi_init(&argc, &argv, &wrank, &wsize);
    maxP = wsize < 4 ? wsize : 4;
    const char *v = getenv("GR_TEST_VERBOSE");
    verbose = v && *v && strcmp(v, "0") != 0 && wrank == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_random), cmocka_unit_test(test_dense_segments),
        cmocka_unit_test(test_warm_random),  cmocka_unit_test(test_warm_segments),
        cmocka_unit_test(test_same_bits),    cmocka_unit_test(test_set_weights),
    };
    return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
