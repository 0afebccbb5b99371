/* ridge.c: correlations, OLS with VIFs and Hoerl-Kennard ridge regression on small data (ridge.h;
 * conventions in docs/companion.md). */
#include "ridge.h"
#include "gr.h"
#include <gsl/gsl_cdf.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PIVOT_TOL 1e-12  /* a Cholesky pivot below this share of its diagonal: not positive definite */

static double mean_of(int64_t n, const double *v)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return s / (double)n;
}

/* Centred cross-product sum_i (a_i - ma)(b_i - mb) (two-pass: the means are given). */
static double cross(int64_t n, const double *a, double ma, const double *b, double mb)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (a[i] - ma) * (b[i] - mb);
    return s;
}

static int is_constant(int64_t n, const double *v)
{
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[0]) return 0;
    return 1;
}

int gr_ridge_setup(int64_t n, int p, const double *y, const double *const *x, const char *yname,
                   const char *const *names, gr_ridge_data *d)
{
    memset(d, 0, sizeof *d);
    if (p < 1 || p > GR_RIDGE_MAXP)
        return gr_fail(GR_EINPUT, "--x", "%d regressors; 1 to %d supported", p, GR_RIDGE_MAXP);
    if (n > INT_MAX)
        return gr_fail(GR_EINPUT, yname, "%lld rows; at most %d supported", (long long)n, INT_MAX);
    if (n < p + 2)
        return gr_fail(GR_EINPUT, yname, "too few rows: %lld complete rows for %d regressor(s) and a constant "
                       "(at least %d needed for one residual degree of freedom)", (long long)n, p, p + 2);
    if (is_constant(n, y)) return gr_fail(GR_EINPUT, yname, "constant over the %lld rows", (long long)n);
    for (int j = 0; j < p; j++)
        if (is_constant(n, x[j])) return gr_fail(GR_EINPUT, names[j], "constant over the %lld rows", (long long)n);
    *d = (gr_ridge_data){.n = n, .p = p, .y = y, .x = x, .names = names};
    d->xbar = gr_malloc((size_t)p, sizeof *d->xbar);
    d->sxx = gr_malloc((size_t)p, sizeof *d->sxx);
    d->R = gr_malloc((size_t)p * (size_t)p, sizeof *d->R);
    d->r = gr_malloc((size_t)p, sizeof *d->r);
    d->ybar = mean_of(n, y);
    d->syy = cross(n, y, d->ybar, y, d->ybar);
    for (int j = 0; j < p; j++) {
        d->xbar[j] = mean_of(n, x[j]);
        d->sxx[j] = cross(n, x[j], d->xbar[j], x[j], d->xbar[j]);
    }
    for (int j = 0; j < p; j++) {
        d->r[j] = cross(n, x[j], d->xbar[j], y, d->ybar) / sqrt(d->sxx[j] * d->syy);
        for (int l = 0; l <= j; l++) {
            double c = l == j ? 1.0 : cross(n, x[j], d->xbar[j], x[l], d->xbar[l]) / sqrt(d->sxx[j] * d->sxx[l]);
            d->R[j * p + l] = d->R[l * p + j] = c;
        }
    }
    return GR_OK;
}

void gr_ridge_data_free(gr_ridge_data *d)
{
    free(d->xbar);
    free(d->sxx);
    free(d->R);
    free(d->r);
    memset(d, 0, sizeof *d);
}

/* Cholesky L L' = A (p x p, row-major) in place (lower triangle). Returns -1 on success, else the index
 * of the first pivot below PIVOT_TOL times its diagonal entry (that variable is, within rounding, a linear
 * combination of those before it). */
static int cholesky(int p, double *A)
{
    for (int j = 0; j < p; j++) {
        double s = A[j * p + j], d0 = s;
        for (int l = 0; l < j; l++) s -= A[j * p + l] * A[j * p + l];
        if (!(s > PIVOT_TOL * d0)) return j;
        A[j * p + j] = sqrt(s);
        for (int i = j + 1; i < p; i++) {
            double t = A[i * p + j];
            for (int l = 0; l < j; l++) t -= A[i * p + l] * A[j * p + l];
            A[i * p + j] = t / A[j * p + j];
        }
    }
    return -1;
}

/* Solve L L' x = b in place (L from cholesky). */
static void chol_solve(int p, const double *L, double *b)
{
    for (int i = 0; i < p; i++) {
        for (int l = 0; l < i; l++) b[i] -= L[i * p + l] * b[l];
        b[i] /= L[i * p + i];
    }
    for (int i = p - 1; i >= 0; i--) {
        for (int l = i + 1; l < p; l++) b[i] -= L[l * p + i] * b[l];
        b[i] /= L[i * p + i];
    }
}

/* M = A R A with A = (R + kI)^-1 (L its Cholesky factor); Ainv scratch p*p. */
static void sandwich(int p, const double *L, const double *R, double *A, double *M)
{
    for (int c = 0; c < p; c++) {  /* column c of A: A symmetric, so row c too */
        double *col = A + (size_t)c * p;
        for (int i = 0; i < p; i++) col[i] = i == c;
        chol_solve(p, L, col);
    }
    double *RA = gr_malloc((size_t)p * p, sizeof *RA);
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) {
            double s = 0;
            for (int l = 0; l < p; l++) s += R[i * p + l] * A[l * p + j];
            RA[i * p + j] = s;
        }
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) {
            double s = 0;
            for (int l = 0; l < p; l++) s += A[i * p + l] * RA[l * p + j];
            M[i * p + j] = s;
        }
    free(RA);
}

/* The coefficients on the original scale and the residual sum of squares (from the data, not from R). */
static void coefficients(const gr_ridge_data *d, gr_ridge_fit *f)
{
    int p = d->p;
    f->coef[0] = d->ybar;
    for (int j = 0; j < p; j++) {
        f->coef[j + 1] = f->beta_std[j] * sqrt(d->syy / d->sxx[j]);
        f->coef[0] -= f->coef[j + 1] * d->xbar[j];
    }
    double rss = 0;
    for (int64_t i = 0; i < d->n; i++) {
        double e = d->y[i] - f->coef[0];
        for (int j = 0; j < p; j++) e -= f->coef[j + 1] * d->x[j][i];
        rss += e * e;
    }
    f->rss = rss;
}

/* Standard errors, t and p from M (Var(b*) = s2 / S_yy M), and the fit statistics. */
static void inference(const gr_ridge_data *d, const double *M, gr_ridge_fit *f)
{
    int p = d->p;
    double df = (double)f->df_resid, s2 = f->rss / df, v0 = s2 / (double)d->n;
    for (int i = 0; i < p; i++) {
        f->vif[i] = M[i * p + i];
        f->se[i + 1] = sqrt(s2 * M[i * p + i] / d->sxx[i]);
        for (int j = 0; j < p; j++)
            v0 += d->xbar[i] * d->xbar[j] * s2 * M[i * p + j] / sqrt(d->sxx[i] * d->sxx[j]);
    }
    f->se[0] = sqrt(v0);
    for (int j = 0; j <= p; j++) {
        f->tval[j] = f->coef[j] / f->se[j];
        f->pval[j] = 2.0 * gsl_cdf_tdist_Q(fabs(f->tval[j]), df);
    }
    f->sigma = sqrt(s2);
    f->r2 = 1.0 - f->rss / d->syy;
    f->adj_r2 = 1.0 - (1.0 - f->r2) * (double)(d->n - 1) / df;
    f->f_stat = (f->r2 / p) / ((1.0 - f->r2) / df);
    f->f_pval = gsl_cdf_fdist_Q(f->f_stat, p, df);
}

int gr_ridge_fit_at(const gr_ridge_data *d, double k, gr_ridge_fit *f)
{
    int p = d->p;
    memset(f, 0, sizeof *f);
    if (!(k >= 0) || !isfinite(k)) return gr_fail(GR_EINPUT, "--k", "expected a number >= 0, got %g", k);
    f->k = k;
    f->df_model = p;
    f->df_resid = (int)(d->n - p - 1);  /* n <= INT_MAX (gr_ridge_setup) */
    double *L = gr_malloc((size_t)p * p, sizeof *L), *A = gr_malloc((size_t)p * p, sizeof *A);
    double *M = gr_malloc((size_t)p * p, sizeof *M);
    memcpy(L, d->R, (size_t)p * p * sizeof *L);
    for (int j = 0; j < p; j++) L[j * p + j] += k;
    int bad = cholesky(p, L), rc = GR_OK;
    if (bad >= 0) {
        rc = gr_fail(GR_ENUM, d->names[bad], "a linear combination of the regressors before it (1 - R2 < %g on "
                     "the correlation scale at k = %g): drop it or use a ridge k > 0", PIVOT_TOL, k);
        goto done;
    }
    f->beta_std = gr_malloc((size_t)p, sizeof *f->beta_std);
    f->vif = gr_malloc((size_t)p, sizeof *f->vif);
    f->coef = gr_malloc((size_t)p + 1, sizeof *f->coef);
    f->se = gr_malloc((size_t)p + 1, sizeof *f->se);
    f->tval = gr_malloc((size_t)p + 1, sizeof *f->tval);
    f->pval = gr_malloc((size_t)p + 1, sizeof *f->pval);
    memcpy(f->beta_std, d->r, (size_t)p * sizeof *d->r);
    chol_solve(p, L, f->beta_std);
    coefficients(d, f);
    if (!(f->rss > 1e-28 * d->syy)) {
        rc = gr_fail(GR_EINPUT, "--y", "a perfect fit at k = %g (residual sum of squares %g): no standard errors", k,
                     f->rss);
        goto done;
    }
    sandwich(p, L, d->R, A, M);
    inference(d, M, f);
done:
    free(L);
    free(A);
    free(M);
    if (rc) gr_ridge_fit_free(f);
    return rc;
}

void gr_ridge_fit_free(gr_ridge_fit *f)
{
    free(f->beta_std);
    free(f->vif);
    free(f->coef);
    free(f->se);
    free(f->tval);
    free(f->pval);
    memset(f, 0, sizeof *f);
}

void gr_corr_matrix(int64_t n, int m, const double *const *v, double *r, double *pval)
{
    double *mean = gr_malloc((size_t)m, sizeof *mean), *ss = gr_malloc((size_t)m, sizeof *ss);
    for (int a = 0; a < m; a++) {
        mean[a] = mean_of(n, v[a]);
        ss[a] = cross(n, v[a], mean[a], v[a], mean[a]);
    }
    double df = (double)(n - 2);
    for (int a = 0; a < m; a++)
        for (int b = 0; b <= a; b++) {
            double c = a == b ? 1.0 : cross(n, v[a], mean[a], v[b], mean[b]) / sqrt(ss[a] * ss[b]);
            c = fmax(-1.0, fmin(1.0, c));
            double pv = NAN;
            if (a != b) pv = fabs(c) == 1.0 ? 0.0 : 2.0 * gsl_cdf_tdist_Q(fabs(c) * sqrt(df / (1.0 - c * c)), df);
            r[a * m + b] = r[b * m + a] = c;
            pval[a * m + b] = pval[b * m + a] = pv;
        }
    free(mean);
    free(ss);
}
