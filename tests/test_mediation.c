/* test_mediation.c: the mediation test (mediation.h). The formula of gr_mediation_test on hand-made cluster
 * sums (worked out here), its refusals, and the score sink through gr_model_fit on rows sliced over the ranks:
 * c * sum_g S_g^2 must be the model's own clustered variance (vcov.c, a separate code path: B meat B), the
 * influence functions sum to 0 (residuals orthogonal to the regressors), and two nested models give the
 * delta of their coefficients. Run directly (1 rank) and under mpirun -n 2..4 (tests/it_mediation.sh). */
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
#include "mediation.h"
#include "model.h"

static int rank, nranks;

static void test_formula(void **state)
{
    (void)state;
    double S1[4] = {1, 2, -1, 0.5}, S2[4] = {0.8, 1.5, -1.2, 0.4};
    int64_t rows[4] = {3, 3, 3, 3};
    gr_scores a = {.term = "x", .found = 1, .nobs = 12, .G = 4, .K = 2, .S = S1, .rows = rows};
    gr_scores b = {.term = "x", .found = 1, .nobs = 12, .G = 4, .K = 3, .S = S2, .rows = rows};
    gr_mediation m;
    assert_int_equal(gr_mediation_test(&a, &b, 0.3, 0.2, &m), GR_OK);
    /* c = G/(G-1) (N-1)/(N-K2) = 4/3 * 11/9; sum (S1-S2)^2 = .04 + .25 + .04 + .01 = .34 */
    double c = 4.0 / 3.0 * 11.0 / 9.0;
    assert_true(fabs(m.c - c) < 1e-15);
    assert_true(fabs(m.delta - 0.1) < 1e-15);
    assert_true(fabs(m.se - sqrt(c * 0.34)) < 1e-15);
    assert_true(fabs(m.t - 0.1 / sqrt(c * 0.34)) < 1e-14);
    assert_true(fabs(m.df - 3) == 0);
    assert_true(fabs(m.se1 - sqrt(c * 6.25)) < 1e-14);          /* 1 + 4 + 1 + .25 */
    assert_true(fabs(m.cov12 - c * (0.8 + 3.0 + 1.2 + 0.2)) < 1e-14);
    assert_true(m.p > 0.8 && m.p < 0.95);                        /* t = 0.134 on 3 df: p = 0.90 */
    assert_true(fabs(m.conf_low + m.conf_high - 0.2) < 1e-14);  /* symmetric around delta */
}

static void test_refusals(void **state)
{
    (void)state;
    double S1[3] = {1, 2, 3}, S2[3] = {1, 2, 3};
    int64_t r1[3] = {2, 2, 2}, r2[3] = {2, 3, 1};
    gr_scores a = {.term = "x", .found = 1, .nobs = 6, .G = 3, .K = 2, .S = S1, .rows = r1};
    gr_scores b = a;
    gr_mediation m;
    b.rows = r2;
    assert_int_equal(gr_mediation_test(&a, &b, 1, 1, &m), GR_EINPUT);  /* clusters numbered differently */
    assert_non_null(strstr(gr_errmsg(), "number their clusters differently"));
    gr_clear_error();
    b = a;
    b.nobs = 7;
    assert_int_equal(gr_mediation_test(&a, &b, 1, 1, &m), GR_EINPUT);  /* different rows */
    gr_clear_error();
    b = a;
    b.S = S2;
    assert_int_equal(gr_mediation_test(&a, &b, 1, 1, &m), GR_EINPUT);  /* the change has variance 0 */
    assert_non_null(strstr(gr_errmsg(), "standard error of the change is 0"));
    gr_clear_error();
}

/* N rows in G = 10 clusters of 6 contiguous rows; y on x1, x2, x3 (deterministic, irregular). */
#define N 60
static double gy[N], gx1[N], gx2[N], gx3[N];
static int32_t gcl[N];

static void make_data(void)
{
    for (int i = 0; i < N; i++) {
        gcl[i] = i / 6;
        gx1[i] = (i % 7 == 0 || i % 5 == 1) ? 1 : 0;
        gx2[i] = sin(1.7 * i) + 0.3 * gx1[i];
        gx3[i] = cos(0.9 * i * i) + 0.5 * gx2[i];
        gy[i] = 0.2 * gx1[i] + 0.4 * gx2[i] - 0.7 * gx3[i] + 0.5 * sin(3.1 * i + 0.2) + 0.3 * cos(i / 2.0 + gcl[i]);
    }
}

/* Collective. The model y ~ x1 + ... (nx regressors, intercept) on this rank's slice, clustered by gcl, with
 * the sink for x1; the result. Slices are cut at cluster boundaries half the time, inside a cluster else. */
static gr_result fit(int nx, gr_scores *sc)
{
    int b = N * rank / nranks, e = N * (rank + 1) / nranks, n = e - b;
    double *yb = malloc((size_t)(n + 1) * 8), *xb = malloc((size_t)(3 * n + 1) * 8);
    const double *src[3] = {gx1, gx2, gx3};
    memcpy(yb, gy + b, (size_t)n * 8);
    for (int j = 0; j < nx; j++) memcpy(xb + (size_t)j * n, src[j] + b, (size_t)n * 8);
    int32_t *cc = malloc((size_t)(n + 1) * 4);
    memcpy(cc, gcl + b, (size_t)n * 4);
    double *ys[1] = {yb}, *xs[3] = {xb, xb + n, xb + 2 * n};
    char *yl[1] = {"y"}, *xl[3] = {"x1", "x2", "x3"}, *cn[2] = {"g", NULL};
    int32_t *cls[2] = {cc, NULL};
    int64_t ncl[2] = {10, 0}, nfc[1] = {0};
    int32_t *fc[1] = {NULL};
    char *fn[1] = {NULL};
    gr_model_data d = {.n = n, .ny = 1, .y = ys, .ylabel = yl, .nx = nx, .x = xs, .xlabel = xl, .intercept = 1,
                       .nfe = 0, .fecode = fc, .fencode = nfc, .fename = fn, .ncl = 1, .clcode = cls, .clncode = ncl,
                       .clname = cn, .label = "test", .scores = sc};
    gr_model_opts o = {.absorb = {.tol = 1e-12, .maxiter = 1000}, .fit = {.solver = GR_SOLVER_CHOL, .collin_tol = 1e-10},
                       .vcov = GR_VCOV_CLUSTER};
    gr_result *r = NULL;
    assert_int_equal(gr_model_fit(MPI_COMM_WORLD, &d, 0, &o, &r), GR_OK);
    gr_result out = r[0];
    free(r); free(yb); free(xb); free(cc);
    return out;
}

static double coef(const gr_result *r, const char *t)
{
    for (int j = 0; j < r->k; j++) if (!strcmp(r->terms[j], t)) return r->coef[j];
    return NAN;
}

static double se(const gr_result *r, const char *t)
{
    for (int j = 0; j < r->k; j++) if (!strcmp(r->terms[j], t)) return r->se[j];
    return NAN;
}

static void test_sink(void **state)
{
    (void)state;
    make_data();
    gr_scores s1 = {.term = "x1"}, s2 = {.term = "x1"};
    gr_result r1 = fit(2, &s1), r2 = fit(3, &s2);
    assert_int_equal(s1.found, 1);
    assert_int_equal(s2.G, 10);
    assert_int_equal(s2.nobs, N);
    assert_int_equal(s1.K, 3);  /* intercept, x1, x2 */
    assert_int_equal(s2.K, 4);
    for (int m = 0; m < 2; m++) {
        const gr_scores *s = m ? &s2 : &s1;
        const gr_result *r = m ? &r2 : &r1;
        double ss = 0, sum = 0, c = 10.0 / 9.0 * (N - 1.0) / (N - (double)s->K);
        for (int g = 0; g < 10; g++) { ss += s->S[g] * s->S[g]; sum += s->S[g]; assert_int_equal(s->rows[g], 6); }
        assert_true(fabs(sqrt(c * ss) / se(r, "x1") - 1) < 1e-10);  /* the model's own clustered SE */
        assert_true(fabs(sum) < 1e-12);                              /* sum_i psi_i = [(X'X)^-1 X'e]_x1 = 0 */
    }
    gr_mediation m;
    assert_int_equal(gr_mediation_test(&s1, &s2, coef(&r1, "x1"), coef(&r2, "x1"), &m), GR_OK);
    assert_true(fabs(m.delta - (coef(&r1, "x1") - coef(&r2, "x1"))) < 1e-15);
    assert_true(fabs(m.se2 / se(&r2, "x1") - 1) < 1e-10);
    assert_true(m.se > 0 && m.se < m.se1 + m.se2);
    gr_scores_free(&s1);
    gr_scores_free(&s2);
    gr_result_free(&r1);
    gr_result_free(&r2);
}

/* A term the model drops (collinear with another) is reported as not found, not as an error. */
static void test_not_found(void **state)
{
    (void)state;
    make_data();
    gr_scores s = {.term = "nosuch"};
    gr_result r = fit(2, &s);
    assert_int_equal(s.found, 0);
    assert_null(s.S);
    gr_result_free(&r);
}

int main(int argc, char **argv)
{
    gr_test_mpi_init(&argc, &argv, &rank, &nranks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formula), cmocka_unit_test(test_refusals), cmocka_unit_test(test_sink),
        cmocka_unit_test(test_not_found),
    };
    return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
