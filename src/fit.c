/* fit.c: least squares on demeaned columns (see fit.h): cross-products, collinear and absorbed
 * regressors (linalg.c), the ScaLAPACK solve (linalg.c), fit statistics, the variance (vcov.c).
 * Degenerate fits are refused with one line rather than printed as NaN, infinities or zero standard
 * errors (docs/estimator.md, "Degenerate fits"). */
#include "fit.h"
#include "formula.h"
#include <cblas.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Drop the regressors with keepx[j] = 0 from X (n x kx) in place, moving the kept ones forward. */
static void keep_columns(double *X, int64_t n, int kx, const int *keepx)
{
    int a = 0;
    for (int j = 0; j < kx; j++) {
        if (!keepx[j]) continue;
        if (a != j) memmove(X + (size_t)a * n, X + (size_t)j * n, (size_t)n * sizeof *X);
        a++;
    }
}

/* Mark regressors collinear with earlier ones, or (with fixed effects) absorbed: demeaned sum of
 * squares below tol of the raw one. Warns on rank 0. Returns the number kept. */
static int drop_regressors(gr_fit *fd, const double *XtX, const double *xtss, double tol)
{
    int kx = fd->kx, rank;
    MPI_Comm_rank(fd->comm, &rank);
    int nkept = gr_collinear(kx, XtX, tol, fd->keepx);
    for (int j = 0; j < kx && fd->has_fe && xtss; j++) {
        double raw = xtss[j], dem = XtX[j + j * kx];
        if (raw <= 0 || dem <= tol * raw) {
            fd->absorbed[j] = 1;
            if (fd->keepx[j]) { fd->keepx[j] = 0; nkept--; }
        }
    }
    for (int j = 0; j < kx && rank == 0; j++)
        if (!fd->keepx[j])
            gr_warn("%s: regressor '%s' removed: %s", fd->label, fd->xlabel[j],
                    fd->absorbed[j] ? "constant or absorbed by the fixed effects" : "collinear with earlier regressors");
    return nkept;
}

int gr_fit_init(MPI_Comm comm, int64_t n, int kx, double *X, char *const *xlabel, const double *xtss,
                const double *w, int has_fe, const gr_fit_opts *o, const char *label, gr_fit *fd)
{
    memset(fd, 0, sizeof *fd);
    fd->comm = comm;
    fd->n = n;
    fd->nobs = n;
    MPI_Allreduce(MPI_IN_PLACE, &fd->nobs, 1, MPI_INT64_T, MPI_SUM, comm);
    fd->kx = kx;
    fd->xlabel = (char **)xlabel;
    fd->has_fe = has_fe;
    fd->label = label ? label : "sample";
    fd->Xk = X;
    fd->keepx = gr_calloc((size_t)(kx ? kx : 1), sizeof *fd->keepx);
    fd->absorbed = gr_calloc((size_t)(kx ? kx : 1), sizeof *fd->absorbed);
    if (kx == 0) return gr_fail(GR_EINPUT, "formula", "the model has no regressor to estimate");
    if (w) {
        double *sw = gr_malloc((size_t)(n ? n : 1), sizeof *sw);
        for (int64_t i = 0; i < n; i++) sw[i] = sqrt(w[i]);
        for (int j = 0; j < kx; j++)
            for (int64_t i = 0; i < n; i++) X[(size_t)j * n + i] *= sw[i];
        fd->sw = sw;
    }
    double *XtX = gr_malloc((size_t)kx * kx, sizeof *XtX);
    int rc = gr_crossprod(comm, n, kx, X, NULL, XtX, NULL, NULL);  /* agreed across ranks */
    for (int j = 0; j < kx && !rc; j++)  /* XtX and xtss are the same on every rank: no agreement needed */
        if (!isfinite(XtX[j + j * kx]) || (xtss && !isfinite(xtss[j])))
            rc = gr_fail(GR_EINPUT, fd->label, "regressor '%s': its sum of squares is not finite (values too large "
                         "for a least-squares fit in double precision)", xlabel[j]);
    if (rc) { free(XtX); return rc; }
    fd->intercept = !strcmp(xlabel[0], GR_INTERCEPT_LABEL);
    int nkept = fd->nkept = drop_regressors(fd, XtX, xtss, o->collin_tol);
    if (nkept == 0)
        rc = gr_fail(GR_EINPUT, "formula", "every regressor is constant, collinear or absorbed by the fixed effects "
                     "(%s%s)", xlabel[0], kx > 1 ? ", ..." : "");
    if (nkept < kx) keep_columns(X, n, kx, fd->keepx);
    fd->XtXk = gr_malloc((size_t)(nkept ? nkept : 1) * (nkept ? nkept : 1), sizeof *fd->XtXk);
    for (int j = 0, a = 0; j < kx; j++) {
        if (!fd->keepx[j]) continue;
        for (int l = 0, b = 0; l < kx; l++)
            if (fd->keepx[l]) fd->XtXk[b++ + a * nkept] = XtX[l + j * kx];
        a++;
    }
    free(XtX);
    return rc;
}

/* r's coefficient table from beta and V (nkept x nkept), t with df_t degrees of freedom. */
static void fill_terms(const gr_fit *fd, const double *beta, const double *V, double df_t, gr_result *r)
{
    int nk = fd->nkept;
    r->k = nk;
    r->terms = gr_malloc((size_t)(nk ? nk : 1), sizeof *r->terms);
    r->coef = gr_malloc((size_t)(nk ? nk : 1), sizeof(double));
    r->se = gr_malloc((size_t)(nk ? nk : 1), sizeof(double));
    r->tval = gr_malloc((size_t)(nk ? nk : 1), sizeof(double));
    r->pval = gr_malloc((size_t)(nk ? nk : 1), sizeof(double));
    for (int l = 0, a = 0; l < fd->kx; l++) {
        if (!fd->keepx[l]) continue;
        r->terms[a] = gr_strdup(fd->xlabel[l]);
        r->coef[a] = beta[a];
        r->se[a] = sqrt(V[a + a * nk]);
        r->tval[a] = r->se[a] > 0 ? r->coef[a] / r->se[a] : NAN;  /* no test against a zero standard error */
        r->pval[a] = r->se[a] > 0 ? 2.0 * gsl_cdf_tdist_Q(fabs(r->tval[a]), df_t) : NAN;
        a++;
    }
    r->collin = gr_malloc((size_t)(fd->kx ? fd->kx : 1), sizeof *r->collin);
    for (int l = 0; l < fd->kx; l++)
        if (!fd->keepx[l]) r->collin[r->ncollin++] = gr_strdup(fd->xlabel[l]);
    r->df_t = df_t;
}

/* y -= Xk beta over the local rows; returns the local sum of squared residuals. */
static double residuals(const gr_fit *fd, const double *beta, double *e)
{
    int64_t n = fd->n;
    int nk = fd->nkept;
    if (nk <= 64) {
        const double *xa[64];
        for (int a = 0; a < nk; a++) xa[a] = fd->Xk + (size_t)a * n;
        for (int64_t i = 0; i < n; i++) {
            double v = e[i];
            for (int a = 0; a < nk; a++) v -= beta[a] * xa[a][i];
            e[i] = v;
        }
    } else {
        for (int a = 0; a < nk; a++)
            for (int64_t i = 0; i < n; i++) e[i] -= beta[a] * fd->Xk[(size_t)a * n + i];
    }
    double rss = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 1 << 30)
        rss += cblas_ddot((int)(n - i0 < (1 << 30) ? n - i0 : 1 << 30), e + i0, 1, e + i0, 1);  /* <= 2^30 */
    return rss;
}

/* Local dot products X'y (nk) and y'y into xy[0..nk]; chunked so that no count is narrowed. */
static void local_xty(const gr_fit *fd, const double *y, double *xy)
{
    int nk = fd->nkept;
    for (int a = 0; a <= nk; a++) xy[a] = 0;
    for (int64_t i0 = 0; i0 < fd->n; i0 += 1 << 30) {
        int m = (int)(fd->n - i0 < (1 << 30) ? fd->n - i0 : 1 << 30);  /* at most 2^30: fits */
        for (int a = 0; a < nk; a++) xy[a] += cblas_ddot(m, fd->Xk + (size_t)a * fd->n + i0, 1, y + i0, 1);
        xy[nk] += cblas_ddot(m, y + i0, 1, y + i0, 1);
    }
}

/* R2, adjusted R2 (fixest's K), within R2 (from the explained sum of squares b'X'y: no cancellation
 * when the fit is poor, so it agrees across rank counts), and fixest's F ("f" fitstat: all coefficients
 * and fixed effects against the constant-only model, with the variance's parameter count and t df).
 * What is not defined is NaN: R2, adjusted R2 and F without a constant or fixed effects (there is no
 * constant-only model to compare with), the adjusted R2 without residual degrees of freedom, F without
 * numerator or denominator degrees of freedom. */
static void fill_stats(const gr_fit *fd, const double *beta, const double *Xty, double yty, double rss, double ytss,
                       const gr_fit_inference *inf, double df_t, gr_result *r)
{
    double N = (double)fd->nobs;
    int64_t K_full = fd->nkept + inf->K_fe, K_vcov = fd->nkept + inf->K_fe_vcov;
    int centred = fd->has_fe || fd->intercept;
    r->nobs = fd->nobs;
    r->rss = rss;
    r->rmse = sqrt(rss / N);
    r->r2 = centred ? 1.0 - rss / ytss : NAN;
    r->adj_r2 = centred && N - (double)K_full > 0 ? 1.0 - (1.0 - r->r2) * (N - 1) / (N - (double)K_full) : NAN;
    double ess_within = 0;
    for (int a = 0; a < fd->nkept; a++) ess_within += beta[a] * Xty[a];
    r->within_r2 = fd->has_fe ? ess_within / yty : NAN;
    double df1 = (double)(K_vcov - 1), df2 = df_t;
    r->f_df1 = df1;
    r->f_df2 = df2;
    double F = centred && df1 > 0 && df2 > 0 ? ((ytss - rss) / df1) / (rss / df2) : NAN;
    r->f_stat = isfinite(F) && F >= 0 ? F : NAN;
    r->f_pval = isnan(r->f_stat) ? NAN : gsl_cdf_fdist_Q(r->f_stat, df1, df2);
}

static const char *outcome_name(const gr_result *r) { return r->yname ? r->yname : "(outcome)"; }

/* Before the solve: refuse an outcome whose sums of squares are not finite, a constant one (centred sum
 * of squares 0) and, with fixed effects, one they absorb (demeaned sum of squares at most collin_tol
 * times the centred one, the rule for absorbed regressors). ytss and yty are the same on every rank. */
static int check_outcome(const gr_fit *fd, double ytss, double yty, double tol, const gr_result *r)
{
    const char *y = outcome_name(r);
    if (!isfinite(ytss) || !isfinite(yty))
        return gr_fail(GR_EINPUT, fd->label, "outcome '%s': its sum of squares is not finite (values too large for "
                       "a least-squares fit in double precision)", y);
    if (!(ytss > 0))
        return gr_fail(GR_EINPUT, fd->label, "outcome '%s' has a total sum of squares of 0 (constant, or values too "
                       "small to square in double precision): nothing to estimate", y);
    if (fd->has_fe && yty <= tol * ytss)
        return gr_fail(GR_EINPUT, fd->label, "outcome '%s' is fully explained by the fixed effects (demeaned sum of "
                       "squares %.3g of %.3g): nothing left to estimate", y, yty, ytss);
    return GR_OK;
}

/* After the solve: refuse an exact fit (residual sum of squares at most collin_tol times the sum of
 * squares the regressors had to explain: the demeaned one with fixed effects, the centred one with a
 * constant, the raw one otherwise), whose standard errors would be 0, and non-finite results. */
static int check_fit(const gr_fit *fd, double rss, double ytss, double yty, double tol, const double *beta,
                     const double *V, const gr_result *r)
{
    const char *y = outcome_name(r);
    int nk = fd->nkept, finite = isfinite(rss);
    for (int a = 0; a < nk; a++) finite &= isfinite(beta[a]) && isfinite(V[a + a * nk]);
    if (!finite)
        return gr_fail(GR_EINPUT, fd->label, "outcome '%s': the fit gave non-finite coefficients or standard errors "
                       "(values too large or too small for double precision)", y);
    double ref = fd->has_fe || !fd->intercept ? yty : ytss;
    if (rss <= tol * ref)
        return gr_fail(GR_EINPUT, fd->label, "outcome '%s' is fitted exactly by the regressors%s (residual sum of "
                       "squares %.3g of %.3g): standard errors would be 0 and tests undefined", y,
                       fd->has_fe ? " and fixed effects" : "", rss, ref);
    return GR_OK;
}

int gr_fit_outcome(const gr_fit *fd, double *y, double ytss, const gr_fit_inference *inf, const gr_fit_opts *o,
                   gr_result *r)
{
    double t0 = gr_now();
    int nk = fd->nkept;
    if (fd->sw)
        for (int64_t i = 0; i < fd->n; i++) y[i] *= fd->sw[i];
    double *xy = gr_malloc((size_t)nk + 1, sizeof *xy);
    local_xty(fd, y, xy);
    MPI_Allreduce(MPI_IN_PLACE, xy, nk + 1, MPI_DOUBLE, MPI_SUM, fd->comm);
    double yty = xy[nk];
    double *beta = gr_malloc((size_t)(nk ? nk : 1), sizeof *beta);
    double *B = gr_malloc((size_t)(nk ? nk : 1) * (nk ? nk : 1), sizeof *B);
    double *V = gr_calloc((size_t)(nk ? nk : 1) * (nk ? nk : 1), sizeof *V);
    int rc = check_outcome(fd, ytss, yty, o->collin_tol, r);
    if (!rc) rc = gr_solve(fd->comm, o->solver, fd->n, nk, fd->Xk, y, fd->XtXk, xy, beta, B);
    double df_t = 0;
    if (!rc) {
        double rss = residuals(fd, beta, y);  /* the residuals go in the outcome's own column */
        MPI_Allreduce(MPI_IN_PLACE, &rss, 1, MPI_DOUBLE, MPI_SUM, fd->comm);
        r->t_solve = gr_now() - t0;
        double t1 = gr_now();
        rc = gr_vcov_compute(fd->comm, &inf->vcov, fd->n, fd->nobs, nk, fd->Xk, y, B, rss, nk + inf->K_fe_vcov, V,
                             &df_t);
        r->t_vcov = gr_now() - t1;
        if (!rc) rc = check_fit(fd, rss, ytss, yty, o->collin_tol, beta, V, r);
        if (!rc) {
            fill_terms(fd, beta, V, df_t, r);
            fill_stats(fd, beta, xy, yty, rss, ytss, inf, df_t, r);
        }
        if (!rc && inf->boot.B > 0)  /* wild cluster restricted bootstrap on the demeaned model (wildboot.c) */
            rc = gr_wildboot(fd->comm, &inf->boot, &inf->vcov, fd->n, fd->nobs, nk, fd->Xk, y, beta, B,
                             nk + inf->K_fe_vcov, r);
    }
    free(xy); free(beta); free(B); free(V);
    return rc;
}

void gr_fit_free(gr_fit *fd)
{
    free(fd->keepx); free(fd->absorbed); free(fd->Xk); free(fd->XtXk); free((double *)fd->sw);
    memset(fd, 0, sizeof *fd);
}
