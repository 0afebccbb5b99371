/* test_model.c: the absorber (absorber.h), the fit (fit.h) and the model that joins them (model.h),
 * against a dense weighted least-squares solve written out here (LAPACKE on the full dummy matrix), on
 * 1..P ranks in one launch: for each P the first P ranks form a communicator and each holds a contiguous
 * slice of the same global rows. Run directly (1 rank) and under mpirun -n 4 (tests/it_estimate.sh). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lapacke.h>
#include "model.h"
#include "leverage.h"
#include "pool.h"
#include "mpi_cmocka.h"
#include "test_rng.h"

#define N 300
#define LA 12   /* levels of the first fixed effect */
#define LB 9    /* levels of the second */
#define KX 2

static int wrank, wsize;
static int32_t fa[N], fb[N];
static double x1[N], x2[N], y1[N], y2[N], wt[N];

static double unif(uint64_t *s) { return gr_test_lcg(s); }

/* An unbalanced two-way panel: levels drawn unevenly, every level present. */
static void make_data(void)
{
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        fa[i] = i < LA ? i : (int32_t)(LA * unif(&s) * unif(&s));
        fb[i] = i < LB ? i : (int32_t)(LB * unif(&s));
        x1[i] = unif(&s) + 0.1 * fa[i];
        x2[i] = unif(&s) - 0.05 * fb[i];
        double e = unif(&s) - 0.5;
        y1[i] = 0.5 * x1[i] - 0.3 * x2[i] + 0.2 * fa[i] - 0.1 * fb[i] + e;
        y2[i] = -x1[i] + 0.7 * fa[i] * (fb[i] % 3) + 2 * e * e;
        wt[i] = 0.5 + 2 * unif(&s);
    }
}

/* Dense weighted least squares of v on [xs..., dummies of a, dummies of b but the first]: coef (k) and
 * residuals res (N); returns the number of columns k. xs may be NULL (nx = 0). */
static int dense_wls(const double *v, int nx, const double *const *xs, const double *w, double *coef, double *res)
{
    int k = nx + LA + LB - 1;
    double *Z = calloc((size_t)N * k, sizeof *Z), *r = malloc(N * sizeof *r);
    for (int i = 0; i < N; i++) {
        double sw = w ? sqrt(w[i]) : 1;
        for (int j = 0; j < nx; j++) Z[i + (size_t)j * N] = sw * xs[j][i];
        Z[i + (size_t)(nx + fa[i]) * N] = sw;
        if (fb[i] > 0) Z[i + (size_t)(nx + LA + fb[i] - 1) * N] = sw;
        r[i] = sw * v[i];
    }
    double *Zc = malloc((size_t)N * k * sizeof *Zc), *rc = malloc(N * sizeof *rc);
    memcpy(Zc, Z, (size_t)N * k * sizeof *Z);
    memcpy(rc, r, N * sizeof *r);
    assert_int_equal(LAPACKE_dgels(LAPACK_COL_MAJOR, 'N', N, k, 1, Zc, N, rc, N), 0);
    for (int j = 0; j < k; j++) coef[j] = rc[j];
    for (int i = 0; i < N; i++) {
        double f = 0;
        for (int j = 0; j < k; j++) f += Z[i + (size_t)j * N] * rc[j];
        res[i] = (r[i] - f) / (w ? sqrt(w[i]) : 1);
    }
    free(Z); free(r); free(Zc); free(rc);
    return k;
}

static void assert_close(double got, double want, double tol)
{
    double scale = fabs(want) > 1 ? fabs(want) : 1;
    if (fabs(got - want) > tol * scale) fail_msg("got %.17g, want %.17g (tol %g)", got, want, tol);
}

/* The communicator of the first P ranks (MPI_COMM_NULL on the others) and this rank's rows [b, e). */
static MPI_Comm sub_comm(int P, int *b, int *e)
{
    MPI_Comm c;
    MPI_Comm_split(MPI_COMM_WORLD, wrank < P ? 0 : MPI_UNDEFINED, wrank, &c);
    *b = N * wrank / P;
    *e = N * (wrank + 1) / P;
    return c;
}

/* An absorber on rows [b, e) with both fixed effects, weighted or not. */
static void absorber_on(MPI_Comm c, int b, int e, const double *w, gr_absorber *ab)
{
    int32_t *codes[2] = {malloc((size_t)(e - b + 1) * 4), malloc((size_t)(e - b + 1) * 4)};
    memcpy(codes[0], fa + b, (size_t)(e - b) * 4);
    memcpy(codes[1], fb + b, (size_t)(e - b) * 4);
    int64_t nc[2] = {LA, LB};
    char *names[2] = {"a", "b"};
    double *wc = NULL;
    if (w) { wc = malloc((size_t)(e - b + 1) * sizeof *wc); memcpy(wc, w + b, (size_t)(e - b) * sizeof *wc); }
    gr_absorb_opts o = {.tol = 1e-14, .maxiter = 100000, .method = GR_FE_CG};
    assert_int_equal(gr_absorber_init(c, e - b, 2, codes, nc, names, &wc, &o, ab), GR_OK);
    assert_null(codes[0]);
    assert_null(wc);
}

static void check_demean(int weighted, gr_fe_method method)
{
    double coef[64], ref[N];
    dense_wls(y1, 0, NULL, weighted ? wt : NULL, coef, ref);
    for (int P = 1; P <= wsize; P++) {
        int b, e;
        MPI_Comm c = sub_comm(P, &b, &e);
        if (c == MPI_COMM_NULL) continue;
        gr_absorber ab;
        absorber_on(c, b, e, weighted ? wt : NULL, &ab);
        ab.fe.method = method;
        double *v = malloc((size_t)(e - b + 1) * sizeof *v), tss;
        memcpy(v, y1 + b, (size_t)(e - b) * sizeof *v);
        assert_int_equal(gr_absorber_demean(&ab, 1, &v, &tss, NULL), GR_OK);
        for (int i = b; i < e; i++) assert_close(v[i - b], ref[i], 1e-9);
        assert_int_equal(ab.setups, 1);
        assert_true(ab.converged);
        free(v);
        gr_absorber_free(&ab);
        MPI_Comm_free(&c);
    }
}

static void test_demean_cg(void **s) { (void)s; check_demean(0, GR_FE_CG); }
static void test_demean_cg_weighted(void **s) { (void)s; check_demean(1, GR_FE_CG); }
static void test_demean_it(void **s) { (void)s; check_demean(0, GR_FE_IRONS_TUCK); }
static void test_demean_it_weighted(void **s) { (void)s; check_demean(1, GR_FE_IRONS_TUCK); }

/* Two outcomes demeaned in two calls through one absorber equal one call with both (1e-12); the set-up
 * ran once; a stored column is found again. */
static void test_sharing(void **state)
{
    (void)state;
    int b, e;
    MPI_Comm c = sub_comm(wsize, &b, &e);
    int n = e - b;
    gr_absorber one, two;
    absorber_on(c, b, e, wt, &one);
    absorber_on(c, b, e, wt, &two);
    double *a1 = malloc((size_t)(n + 1) * 8), *a2 = malloc((size_t)(n + 1) * 8);
    double *b1 = malloc((size_t)(n + 1) * 8), *b2 = malloc((size_t)(n + 1) * 8);
    memcpy(a1, y1 + b, (size_t)n * 8); memcpy(b1, y1 + b, (size_t)n * 8);
    memcpy(a2, y2 + b, (size_t)n * 8); memcpy(b2, y2 + b, (size_t)n * 8);
    double ta[2], tb[2], *both[2] = {b1, b2};
    assert_int_equal(gr_absorber_demean(&one, 1, &a1, &ta[0], NULL), GR_OK);
    assert_int_equal(gr_absorber_demean(&one, 1, &a2, &ta[1], NULL), GR_OK);
    assert_int_equal(gr_absorber_demean(&two, 2, both, tb, NULL), GR_OK);
    for (int i = 0; i < n; i++) { assert_close(a1[i], b1[i], 1e-12); assert_close(a2[i], b2[i], 1e-12); }
    assert_close(ta[0], tb[0], 1e-14);
    assert_int_equal(one.setups, 1);
    assert_int_equal(one.columns_demeaned, 2);
    gr_absorber_store(&one, "y1", a1, ta[0]);
    double t;
    const double *got = gr_absorber_lookup(&one, "y1", &t);
    assert_non_null(got);
    assert_memory_equal(got, a1, (size_t)n * 8);
    assert_null(gr_absorber_lookup(&one, "y3", NULL));
    assert_int_equal(one.cache_hits, 1);
    free(a1); free(a2); free(b1); free(b2);
    gr_absorber_free(&one);
    gr_absorber_free(&two);
    MPI_Comm_free(&c);
}

/* A second regressor set on the same rows reuses the demeaned outcome kept in the absorber: the fit of
 * y1 on x1 alone, with y1 looked up (not demeaned again), equals the dense regression of y1 on x1. */
static void test_reuse_outcome(void **state)
{
    (void)state;
    const double *xs[1] = {x1};
    double coef[64], res[N];
    dense_wls(y1, 1, xs, wt, coef, res);
    int b, e;
    MPI_Comm c = sub_comm(wsize, &b, &e);
    int n = e - b;
    gr_absorber ab;
    absorber_on(c, b, e, wt, &ab);
    double *y = malloc((size_t)(n + 1) * 8), *X = malloc((size_t)(2 * n + 1) * 8), ytss, xtss[2];
    memcpy(y, y1 + b, (size_t)n * 8);
    memcpy(X, x1 + b, (size_t)n * 8);
    memcpy(X + n, x2 + b, (size_t)n * 8);
    double *cols[2] = {X, X + n};
    assert_int_equal(gr_absorber_demean(&ab, 1, &y, &ytss, NULL), GR_OK);
    gr_absorber_store(&ab, "y1", y, ytss);
    assert_int_equal(gr_absorber_demean(&ab, 2, cols, xtss, NULL), GR_OK);
    int64_t demeaned = ab.columns_demeaned;
    gr_fit_opts fo = {.solver = GR_SOLVER_CHOL, .collin_tol = 1e-10};
    gr_fit_inference inf = {.vcov = {.type = GR_VCOV_IID}, .K_fe = gr_absorber_dof(&ab, NULL), .K_fe_vcov = gr_absorber_dof(&ab, NULL)};
    char *xl[2] = {"x1", "x2"};
    for (int set = 0; set < 2; set++) {  /* set 0: x1 and x2; set 1: x1 alone */
        int kx = set == 0 ? 2 : 1;
        double *Xk = malloc((size_t)(kx * n + 1) * 8), yt;
        memcpy(Xk, X, (size_t)(kx * n) * 8);
        const double *cached = gr_absorber_lookup(&ab, "y1", &yt);
        assert_non_null(cached);
        double *yc = malloc((size_t)(n + 1) * 8);
        memcpy(yc, cached, (size_t)n * 8);
        gr_fit fd;
        assert_int_equal(gr_fit_init(c, n, kx, Xk, xl, xtss, ab.w, 1, &fo, "test", &fd), GR_OK);
        gr_result r;
        memset(&r, 0, sizeof r);
        assert_int_equal(gr_fit_outcome(&fd, yc, yt, &inf, &fo, &r), GR_OK);
        if (set == 1) assert_close(r.coef[0], coef[0], 1e-9);
        gr_result_free(&r);
        gr_fit_free(&fd);
        free(yc);
    }
    assert_int_equal(ab.columns_demeaned, demeaned);  /* the outcome was not demeaned again */
    assert_int_equal(ab.cache_hits, 2);
    assert_int_equal(ab.setups, 1);
    free(y); free(X);
    gr_absorber_free(&ab);
    MPI_Comm_free(&c);
}

/* The model on rows [b, e): y1 on x1, x2 with both fixed effects, weighted, variance `v`. */
static gr_result fit_model(MPI_Comm c, int b, int e, const double *w, gr_vcov_type v)
{
    int n = e - b;
    double *yb = malloc((size_t)(n + 1) * 8), *xb = malloc((size_t)(2 * n + 1) * 8), *wb = NULL;
    memcpy(yb, y1 + b, (size_t)n * 8);
    memcpy(xb, x1 + b, (size_t)n * 8);
    memcpy(xb + n, x2 + b, (size_t)n * 8);
    if (w) { wb = malloc((size_t)(n + 1) * 8); memcpy(wb, w + b, (size_t)n * 8); }
    int32_t *fc[2] = {malloc((size_t)(n + 1) * 4), malloc((size_t)(n + 1) * 4)};
    memcpy(fc[0], fa + b, (size_t)n * 4);
    memcpy(fc[1], fb + b, (size_t)n * 4);
    int64_t nfc[2] = {LA, LB};
    double *ys[1] = {yb}, *xs[2] = {xb, xb + n};
    char *yl[1] = {"y"}, *xl[2] = {"x1", "x2"}, *fn[2] = {"a", "b"};
    gr_model_data d = {.n = n, .ny = 1, .y = ys, .ylabel = yl, .nx = 2, .x = xs, .xlabel = xl, .nfe = 2,
                       .fecode = fc, .fencode = nfc, .fename = fn, .w = wb, .wname = w ? "w" : NULL, .label = "test"};
    gr_model_opts o = {.absorb = {.tol = 1e-14, .maxiter = 100000}, .fit = {.solver = GR_SOLVER_CHOL, .collin_tol = 1e-10},
                       .vcov = v};
    gr_result *r = NULL;
    assert_int_equal(gr_model_fit(c, &d, 1, &o, &r), GR_OK);
    assert_null(d.y[0]);  /* released */
    gr_result out = r[0];
    free(r);
    return out;
}

/* The model on rows [b, e) as gravrd grid runs it on a caching frame: d reads arrays it does not own (stable,
 * release = 0), with their row flags (NULL entries: nothing flagged), sharing the pool's row cache with
 * earlier models. y: the outcome (N values); nx regressors of {x1, x2}; bad: flags of y, or NULL. */
static gr_result fit_shared(MPI_Comm c, int b, int e, gr_pool *pool, const double *y, const unsigned char *bad, int nx)
{
    int n = e - b;
    double *ys[1] = {(double *)y + b}, *xs[2] = {x1 + b, x2 + b};
    int32_t *fc[2] = {fa + b, fb + b}, *cl[1] = {fa + b};
    int64_t nfc[2] = {LA, LB}, ncl[1] = {LA};
    char *yl[1] = {"y"}, *xl[2] = {"x1", "x2"}, *fn[2] = {"a", "b"}, *cn[1] = {"a"};
    const unsigned char *yf[1] = {bad ? bad + b : NULL}, *xf[2] = {NULL, NULL}, *ff[2] = {NULL, NULL}, *cf[1] = {NULL};
    gr_model_data d = {.n = n, .ny = 1, .y = ys, .ylabel = yl, .nx = nx, .x = xs, .xlabel = xl, .nfe = 2,
                       .fecode = fc, .fencode = nfc, .fename = fn, .ncl = 1, .clcode = cl, .clncode = ncl,
                       .clname = cn, .pool = pool, .yflag = yf, .xflag = xf, .feflag = ff, .clflag = cf,
                       .stable = pool != NULL, .label = "test"};
    gr_model_opts o = {.absorb = {.tol = 1e-14, .maxiter = 100000}, .fit = {.solver = GR_SOLVER_CHOL, .collin_tol = 1e-10},
                       .vcov = GR_VCOV_CLUSTER, .cluster_diag = GR_LEV_DIAG_OFF};
    gr_result *r = NULL;
    assert_int_equal(gr_model_fit(c, &d, 0, &o, &r), GR_OK);
    assert_ptr_equal(d.y[0], y + b);  /* left as it was */
    gr_result out = r[0];
    free(r);
    return out;
}

static void assert_same_result(const gr_result *a, const gr_result *b)
{
    assert_int_equal(a->k, b->k);
    assert_int_equal(a->nobs, b->nobs);
    for (int j = 0; j < a->k; j++) {
        assert_close(a->coef[j], b->coef[j], 1e-13);
        assert_close(a->se[j], b->se[j], 1e-13);
    }
    assert_close(a->r2, b->r2, 1e-13);
    assert_close(a->within_r2, b->within_r2, 1e-13);
}

/* Models on the same rows of a sample share the fixed effects' levels and the columns' sums of squares
 * (pool.h's row cache), and give the numbers of each model run alone (no pool); a model on other rows
 * (a missing outcome) starts the cache again. On 1..P ranks. */
static void test_row_cache(void **state)
{
    (void)state;
    double ymiss[N];
    unsigned char bad[N];
    memcpy(ymiss, y1, sizeof ymiss);
    memset(bad, 0, sizeof bad);
    for (int i = 7; i < N; i += 50) { ymiss[i] = NAN; bad[i] = 1; }
    for (int P = 1; P <= wsize; P++) {
        int b, e;
        MPI_Comm c = sub_comm(P, &b, &e);
        if (c == MPI_COMM_NULL) continue;
        gr_pool *pool = gr_pool_new(2, 0);
        gr_result first = fit_shared(c, b, e, pool, y1, NULL, 2);  /* fills the cache */
        gr_result again = fit_shared(c, b, e, pool, y1, NULL, 1);  /* its levels and the tss of y1 and x1 */
        gr_result other = fit_shared(c, b, e, pool, ymiss, bad, 2);  /* other rows: the cache starts again */
        gr_result back = fit_shared(c, b, e, pool, y1, NULL, 2);
        gr_result r1 = fit_shared(c, b, e, NULL, y1, NULL, 2), r2 = fit_shared(c, b, e, NULL, y1, NULL, 1);
        gr_result r3 = fit_shared(c, b, e, NULL, ymiss, bad, 2);
        assert_same_result(&first, &r1);
        assert_same_result(&again, &r2);
        assert_same_result(&other, &r3);
        assert_same_result(&back, &r1);
        assert_int_equal(other.nobs, N - (N - 7 + 49) / 50);
        assert_true(other.coef[0] != r1.coef[0]);  /* the rows did differ */
        /* and the shared model is the dense regression of y1 on x1 */
        const double *xs[1] = {x1};
        double coef[64], res[N];
        dense_wls(y1, 1, xs, NULL, coef, res);
        assert_close(again.coef[0], coef[0], 1e-9);
        gr_result *all[7] = {&first, &again, &other, &back, &r1, &r2, &r3};
        for (int q = 0; q < 7; q++) gr_result_free(all[q]);
        gr_pool_free(pool);
        MPI_Comm_free(&c);
    }
}

/* Coefficients and iid / HC1 standard errors against the dense weighted regression, K = 2 + 11 + 8 + 1. */
static void check_fit(int weighted)
{
    const double *w = weighted ? wt : NULL;
    const double *xs[2] = {x1, x2};
    double coef[64], res[N];
    int k = dense_wls(y1, 2, xs, w, coef, res);
    /* (Z'WZ)^-1 of the dense design, its x-block, and the sandwich meat sum (w e)^2 z z' */
    double *Z = calloc((size_t)N * k, 8), *ZtZ = calloc((size_t)k * k, 8), meat[4] = {0, 0, 0, 0}, rss = 0;
    for (int i = 0; i < N; i++) {
        double sw = w ? sqrt(w[i]) : 1;
        Z[i] = sw * x1[i]; Z[i + N] = sw * x2[i];
        Z[i + (size_t)(2 + fa[i]) * N] = sw;
        if (fb[i] > 0) Z[i + (size_t)(2 + LA + fb[i] - 1) * N] = sw;
        rss += (w ? w[i] : 1) * res[i] * res[i];
    }
    for (int a = 0; a < k; a++)
        for (int c = 0; c < k; c++)
            for (int i = 0; i < N; i++) ZtZ[a + c * k] += Z[i + (size_t)a * N] * Z[i + (size_t)c * N];
    assert_int_equal(LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', k, ZtZ, k), 0);
    assert_int_equal(LAPACKE_dpotri(LAPACK_COL_MAJOR, 'U', k, ZtZ, k), 0);
    for (int a = 0; a < k; a++) for (int c = a + 1; c < k; c++) ZtZ[c + a * k] = ZtZ[a + c * k];
    /* full-design HC meat, then the x-block of the sandwich */
    double *M = calloc((size_t)k * k, 8), *T = calloc((size_t)k * k, 8), hc[4];
    for (int i = 0; i < N; i++) {
        double we = (w ? sqrt(w[i]) : 1) * res[i];
        for (int a = 0; a < k; a++)
            for (int c = 0; c < k; c++) M[a + c * k] += we * we * Z[i + (size_t)a * N] * Z[i + (size_t)c * N];
    }
    for (int a = 0; a < k; a++) for (int c = 0; c < k; c++) for (int q = 0; q < k; q++) T[a + c * k] += ZtZ[a + q * k] * M[q + c * k];
    for (int a = 0; a < 2; a++) for (int c = 0; c < 2; c++) { hc[a + 2 * c] = 0; for (int q = 0; q < k; q++) hc[a + 2 * c] += T[a + q * k] * ZtZ[q + c * k]; }
    (void)meat;
    int K = 2 + (LA - 1) + (LB - 1) + 1;
    double sigma2 = rss / (N - K);
    for (int P = 1; P <= wsize; P++) {
        int b, e;
        MPI_Comm c = sub_comm(P, &b, &e);
        if (c == MPI_COMM_NULL) continue;
        gr_result ri = fit_model(c, b, e, w, GR_VCOV_IID), rh = fit_model(c, b, e, w, GR_VCOV_HC1);
        for (int j = 0; j < 2; j++) {
            assert_close(ri.coef[j], coef[j], 1e-9);
            assert_close(ri.se[j], sqrt(sigma2 * ZtZ[j + j * k]), 1e-9);
            assert_close(rh.se[j], sqrt((double)N / (N - K) * hc[j + 2 * j]), 1e-9);
        }
        assert_int_equal(ri.nobs, N);
        assert_close(ri.rss, rss, 1e-9);
        gr_result_free(&ri);
        gr_result_free(&rh);
        MPI_Comm_free(&c);
    }
    free(Z); free(ZtZ); free(M); free(T);
}

static void test_fit_unweighted(void **s) { (void)s; check_fit(0); }
static void test_fit_weighted(void **s) { (void)s; check_fit(1); }

/* A negative weight is one clear error on every rank; a zero weight drops the row (counted). */
static void test_bad_weights(void **state)
{
    (void)state;
    int b, e;
    MPI_Comm c = sub_comm(wsize, &b, &e);
    double w[N];
    memcpy(w, wt, sizeof w);
    w[N - 1] = -1;
    int n = e - b;
    double *yb = malloc((size_t)(n + 1) * 8), *xb = malloc((size_t)(n + 1) * 8), *ys[1] = {yb}, *xs[1] = {xb};
    memcpy(yb, y1 + b, (size_t)n * 8);
    memcpy(xb, x1 + b, (size_t)n * 8);
    char *yl[1] = {"y"}, *xl[1] = {"x1"};
    gr_model_data d = {.n = n, .ny = 1, .y = ys, .ylabel = yl, .nx = 1, .x = xs, .xlabel = xl, .intercept = 1,
                       .w = w + b, .wname = "w", .label = "test"};
    gr_model_opts o = {.absorb = {.tol = 1e-10, .maxiter = 1000}, .fit = {.solver = GR_SOLVER_CHOL, .collin_tol = 1e-10}};
    gr_result *r = NULL;
    assert_int_not_equal(gr_model_fit(c, &d, 0, &o, &r), GR_OK);
    gr_clear_error();
    w[N - 1] = 0;
    assert_int_equal(gr_model_fit(c, &d, 0, &o, &r), GR_OK);
    assert_int_equal(r[0].n_zero_weight, 1);
    assert_int_equal(r[0].nobs, N - 1);
    gr_result_free(&r[0]);
    free(r); free(yb); free(xb);
    MPI_Comm_free(&c);
}

int main(int argc, char **argv)
{
    gr_test_mpi_init(&argc, &argv, &wrank, &wsize);
    gr_quiet = 1;
    make_data();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demean_cg), cmocka_unit_test(test_demean_cg_weighted),
        cmocka_unit_test(test_demean_it), cmocka_unit_test(test_demean_it_weighted),
        cmocka_unit_test(test_sharing), cmocka_unit_test(test_reuse_outcome), cmocka_unit_test(test_fit_unweighted),
        cmocka_unit_test(test_fit_weighted), cmocka_unit_test(test_bad_weights), cmocka_unit_test(test_row_cache),
    };
    return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
