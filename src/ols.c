/* ols.c: fit one estimation sample (see ols.h). The steps and where they live:
 * sample cleaning (here) -> fixed-effect levels and singletons (fe.c) -> demeaning sweep (fe.c)
 * -> cross-products, collinearity, ScaLAPACK solve (linalg.c) -> variance formula (vcov.c). */
#include "ols.h"
#include <cblas.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t sum64(MPI_Comm comm, int64_t v)
{
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT64_T, MPI_SUM, comm);
    return v;
}

/* Fixed-effect parameters for the (n-1)/(n-K) adjustment, fixest's default (fixef.K = "nested",
 * not exact): sum over dimensions of (levels - 1), plus 1; a dimension nested in a cluster
 * variable removes its (levels - 1). See docs/vcov.md. */
static int64_t fe_dof(const gr_fe *fe, const int *nested)
{
    int64_t K = 0;
    int counted = 0;
    for (int k = 0; k < fe->nfe; k++) {
        if (nested && nested[k]) continue;
        K += fe->nlevels[k] - (counted ? 1 : 0);
        counted++;
    }
    return K > 0 ? K : 1;  /* all nested: the constant they absorb still counts */
}

static void compact(int64_t n, const unsigned char *keep, const double *src, double *dst)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (keep[i]) dst[m++] = src[i];
}

static int run_sample(MPI_Comm comm, gr_sample *s, const gr_fit_opts *o, gr_result **out);

/* Mean and sum of squares about the mean of v[0..n) in one pass: sums of v - K and (v - K)^2 about K,
 * the mean of the first few values (close to the mean, so no cancellation to speak of), four running
 * sums each so that the loop is not one chain of dependent additions. */
static void local_moments(int64_t n, const double *v, double *mean, double *m2)
{
    *mean = 0;
    *m2 = 0;
    if (n == 0) return;
    int64_t h = n < 64 ? n : 64;
    double K = 0;
    for (int64_t i = 0; i < h; i++) K += v[i];
    K /= (double)h;
    double s1[4] = {0, 0, 0, 0}, s2[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int q = 0; q < 4; q++) {
            double d = v[i + q] - K;
            s1[q] += d;
            s2[q] += d * d;
        }
    for (; i < n; i++) { double d = v[i] - K; s1[0] += d; s2[0] += d * d; }
    double S1 = (s1[0] + s1[1]) + (s1[2] + s1[3]), S2 = (s2[0] + s2[1]) + (s2[2] + s2[3]);
    *mean = K + S1 / (double)n;
    *m2 = S2 - S1 * S1 / (double)n;
    if (*m2 < 0) *m2 = 0;
}

static void compact_i32(int64_t n, const unsigned char *keep, const int32_t *src, int32_t *dst)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (keep[i]) dst[m++] = src[i];
}

static void result_init(gr_result *r, const gr_sample *s, int j)
{
    memset(r, 0, sizeof *r);
    r->yname = gr_strdup(s->ylabel[j]);
    r->sample_label = gr_strdup(s->label ? s->label : "Full sample");
    r->nfe = s->nfe;
    r->fenames = gr_calloc((size_t)(s->nfe ? s->nfe : 1), sizeof *r->fenames);
    r->fesizes = gr_calloc((size_t)(s->nfe ? s->nfe : 1), sizeof *r->fesizes);
    for (int k = 0; k < s->nfe; k++) r->fenames[k] = gr_strdup(s->fename[k]);
    r->converged = 1;
}

void gr_result_free(gr_result *r)
{
    free(r->yname); free(r->sample_label);
    for (int j = 0; j < r->k; j++) free(r->terms[j]);
    free(r->terms); free(r->coef); free(r->se); free(r->tval); free(r->pval);
    for (int j = 0; j < r->ncollin; j++) free(r->collin[j]);
    free(r->collin);
    for (int k = 0; k < r->nfe; k++) free(r->fenames[k]);
    free(r->fenames); free(r->fesizes);
    for (int k = 0; k < r->ncl; k++) free(r->clnames[k]);
    free(r->clnames);
    memset(r, 0, sizeof *r);
}

/* Fit the outcomes `ys` (indices into s->y) that share the row mask `keep`. With `consume`, the
 * sample's arrays are used up when that saves memory (see gr_sample.consumable). */
static int fit_group(MPI_Comm comm, gr_sample *s, const gr_fit_opts *o, unsigned char *keep, int nys,
                     const int *ys, gr_result *res, int consume)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    double t0 = gr_now();
    int rc = GR_OK;
    int64_t n = 0;
    for (int64_t i = 0; i < s->n; i++) n += keep[i];
    if (consume && n < s->n) {
        /* drop the unusable rows from the sample's own arrays, in place: each block column moves to
         * stride n (never onto rows still to be read), codes shrink to n */
        for (int j = 0; j < s->ny; j++) {
            double *dst = s->y[0] + (size_t)j * n;
            compact(s->n, keep, s->y[j], dst);
            s->y[j] = dst;
        }
        for (int j = 0; j < s->nx; j++) {
            double *dst = s->x[0] + (size_t)j * n;
            compact(s->n, keep, s->x[j], dst);
            s->x[j] = dst;
        }
        for (int k = 0; k < s->nfe; k++) compact_i32(s->n, keep, s->fecode[k], s->fecode[k]);
        for (int c = 0; c < s->ncl; c++) compact_i32(s->n, keep, s->clcode[c], s->clcode[c]);
        s->n = n;
        memset(keep, 1, (size_t)n);
    }
    /* fixed effects on the kept rows; singletons removed iteratively when asked */
    gr_fe fe;
    memset(&fe, 0, sizeof fe);
    int32_t **fc = gr_calloc((size_t)(s->nfe + 1), sizeof *fc);
    int64_t singletons = 0;
    for (;;) {
        n = 0;
        for (int64_t i = 0; i < s->n; i++) n += keep[i];
        int all_rows = n == s->n;  /* then the sample's codes serve as they are */
        int take = !all_rows || consume;
        for (int k = 0; k < s->nfe; k++) {
            if (all_rows) { fc[k] = s->fecode[k]; continue; }
            fc[k] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
            compact_i32(s->n, keep, s->fecode[k], fc[k]);
        }
        gr_fe_free(&fe);
        rc = gr_fe_from_codes(comm, s->nfe, n, fc, s->fencode, s->fename, take, &fe);
        for (int k = 0; k < s->nfe; k++) {
            if (all_rows && take && !fc[k]) s->fecode[k] = NULL;  /* the level ids now own them */
            if (!all_rows) free(fc[k]);
            fc[k] = NULL;
        }
        fe.method = o->fe_method;
        if (rc || !o->rm_singletons || s->nfe == 0) break;
        unsigned char *k2 = gr_malloc((size_t)(n ? n : 1), 1);
        memset(k2, 1, (size_t)n);
        int64_t removed = 0;
        gr_fe_singletons(&fe, k2, &removed);
        if (removed == 0) { free(k2); break; }
        singletons += removed;
        int64_t m = 0;
        for (int64_t i = 0; i < s->n; i++)
            if (keep[i]) keep[i] = k2[m++];
        free(k2);
    }
    free(fc);
    int64_t nobs = sum64(comm, n);
    if (!rc && nobs == 0)
        rc = gr_fail(GR_EINPUT, s->label ? s->label : "sample", "no observations left to estimate %s%s",
                     s->ylabel[ys[0]], singletons ? " (after removing singletons)" : "");
    if (rc) { gr_fe_free(&fe); return rc; }
    for (int k = 0; k < s->nfe; k++)
        if (fe.nlevels[k] == 1 && rank == 0)
            gr_warn("fixed effect '%s' has a single level in %s: it acts as an intercept", s->fename[k],
                    s->label ? s->label : "the sample");
    /* cluster ids */
    int ncl = o->vcov == GR_VCOV_CLUSTER ? (o->cluster_on_fe ? 1 : s->ncl) : 0;
    int32_t *cl[3] = {NULL, NULL, NULL};
    int64_t G[3] = {0, 0, 0};
    for (int c = 0; c < ncl && !o->cluster_on_fe && !rc; c++) {
        if (n == s->n && consume) {
            cl[c] = s->clcode[c];
            s->clcode[c] = NULL;
        } else {
            cl[c] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
            compact_i32(s->n, keep, s->clcode[c], cl[c]);
        }
        rc = gr_codes_dense(comm, n, cl[c], s->clncode[c], cl[c], &G[c]);
    }
    if (o->cluster_on_fe) {
        cl[0] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
        memcpy(cl[0], fe.id[0], (size_t)n * sizeof(int32_t));
        G[0] = fe.nlevels[0];
    }
    if (ncl == 2 && !rc) {
        cl[2] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
        memcpy(cl[2], cl[0], (size_t)n * sizeof(int32_t));
        G[2] = G[0];
        rc = gr_codes_combine(comm, n, cl[2], &G[2], cl[1], G[1]);
        if (!rc) rc = gr_codes_dense(comm, n, cl[2], G[2], cl[2], &G[2]);
    }
    for (int c = 0; c < ncl; c++)
        if (G[c] < 2 && !rc)
            rc = gr_fail(GR_EINPUT, "--cluster", "'%s' has a single cluster in %s: clustered standard errors need "
                         "at least 2", o->cluster_on_fe ? s->fename[0] : s->clname[c],
                         s->label ? s->label : "the sample");
    /* fixed effects nested in a cluster variable (fixest's fixef.K = "nested") */
    int *nested = gr_calloc((size_t)(s->nfe + 1), sizeof *nested);
    for (int c = 0; c < ncl && !rc; c++) {
        int *nk = gr_calloc((size_t)(s->nfe + 1), sizeof *nk);
        gr_fe_nested_in(&fe, cl[c], G[c], nk);
        for (int k = 0; k < s->nfe; k++) nested[k] |= nk[k];
        free(nk);
    }
    /* columns: regressors (with the intercept first when there are no fixed effects), then outcomes */
    int kx = s->nx + (s->intercept ? 1 : 0);
    /* demean the caller's blocks in place when they hold exactly these rows and columns */
    int inplace = consume && n == s->n && !s->intercept && s->nx > 0 && nys == s->ny;
    double *X = inplace ? s->x[0] : gr_malloc((size_t)(n ? n : 1) * (kx ? kx : 1), sizeof *X);
    double *Y = inplace ? s->y[0] : gr_malloc((size_t)(n ? n : 1) * nys, sizeof *Y);
    char **xlab = gr_malloc((size_t)(kx ? kx : 1), sizeof *xlab);
    int c0 = 0;
    if (s->intercept) {
        for (int64_t i = 0; i < n; i++) X[i] = 1.0;
        xlab[0] = "(Intercept)";
        c0 = 1;
    }
    for (int j = 0; j < s->nx; j++) {
        if (!inplace) compact(s->n, keep, s->x[j], X + (size_t)(c0 + j) * n);
        xlab[c0 + j] = s->xlabel[j];
    }
    for (int j = 0; j < nys && !inplace; j++) compact(s->n, keep, s->y[ys[j]], Y + (size_t)j * n);
    /* centred sums of squares for R2 and the absorption checks, in one pass per column: each rank's
     * count, mean and sum of squares about its mean, combined across ranks (Chan, Golub & LeVeque) */
    int nm = 2 * (kx + nys);
    double *mom = gr_calloc((size_t)nm, sizeof *mom);
    {
        int P;
        MPI_Comm_size(comm, &P);
        double *loc = gr_malloc((size_t)(3 * (kx + nys)), sizeof *loc), *all = gr_malloc((size_t)(3 * (kx + nys)) * P, sizeof *all);
        for (int j = 0; j < kx + nys; j++) {
            loc[3 * j] = (double)n;
            local_moments(n, j < kx ? X + (size_t)j * n : Y + (size_t)(j - kx) * n, &loc[3 * j + 1], &loc[3 * j + 2]);
        }
        MPI_Allgather(loc, 3 * (kx + nys), MPI_DOUBLE, all, 3 * (kx + nys), MPI_DOUBLE, comm);
        for (int j = 0; j < kx + nys; j++) {
            double sum = 0, m2 = 0;
            for (int r = 0; r < P; r++) sum += all[r * 3 * (kx + nys) + 3 * j] * all[r * 3 * (kx + nys) + 3 * j + 1];
            double mean = sum / (double)nobs;
            for (int r = 0; r < P; r++) {
                const double *q = all + r * 3 * (kx + nys) + 3 * j;
                m2 += q[2] + q[0] * (q[1] - mean) * (q[1] - mean);
            }
            mom[2 * j + 1] = m2;
        }
        free(loc); free(all);
    }
    /* one demeaning pass for all outcomes and regressors */
    double t_index = gr_now() - t0;  /* levels, clusters, the design's columns and their moments */
    double t1 = gr_now();
    int iters = 0, conv = 1;
    double **cols = gr_malloc((size_t)(kx + nys), sizeof *cols);
    for (int j = 0; j < kx; j++) cols[j] = X + (size_t)j * n;
    for (int j = 0; j < nys; j++) cols[kx + j] = Y + (size_t)j * n;
    if (!rc && s->nfe > 0) rc = gr_fe_demean(&fe, kx + nys, cols, o->fe_tol, o->fe_maxiter, &iters, &conv);
    free(cols);
    double t_demean = gr_now() - t1;
    if (!conv && rank == 0)
        gr_warn("demeaning did not converge within %d iterations (tolerance %g): results are approximate "
                "(converged: false)", o->fe_maxiter, o->fe_tol);
    /* cross-products, absorbed and collinear regressors */
    t1 = gr_now();
    double *XtX = gr_malloc((size_t)(kx ? kx : 1) * (kx ? kx : 1), sizeof *XtX);
    gr_crossprod(comm, n, kx, X, NULL, XtX, NULL, NULL);
    int *keepx = gr_calloc((size_t)(kx ? kx : 1), sizeof *keepx);
    int nkept = gr_collinear(kx, XtX, o->collin_tol, keepx);
    int *absorbed = gr_calloc((size_t)(kx ? kx : 1), sizeof *absorbed);
    if (s->nfe > 0)
        for (int j = 0; j < kx; j++) {
            double raw = mom[2 * j + 1], dem = XtX[j + j * kx];
            if (raw <= 0 || dem <= o->collin_tol * raw) {
                absorbed[j] = 1;
                if (keepx[j]) { keepx[j] = 0; nkept--; }
            }
        }
    if (rank == 0)
        for (int j = 0; j < kx; j++)
            if (!keepx[j])
                gr_warn("%s: regressor '%s' removed: %s", s->label ? s->label : "sample", xlab[j],
                        absorbed[j] ? "constant or absorbed by the fixed effects" : "collinear with earlier regressors");
    if (!rc && nkept == 0 && kx > 0)
        rc = gr_fail(GR_EINPUT, "formula", "every regressor is constant, collinear or absorbed by the fixed effects "
                     "(%s%s)", xlab[0], kx > 1 ? ", ..." : "");
    if (!rc && kx == 0) rc = gr_fail(GR_EINPUT, "formula", "the model has no regressor to estimate");
    /* the kept design, contiguous */
    /* the kept design, contiguous (X itself when nothing was dropped) */
    double *Xk = nkept == kx ? X : gr_malloc((size_t)(n ? n : 1) * (nkept ? nkept : 1), sizeof *Xk);
    double *XtXk = gr_malloc((size_t)(nkept ? nkept : 1) * (nkept ? nkept : 1), sizeof *XtXk);
    {
        int a = 0;
        for (int j = 0; j < kx; j++) {
            if (!keepx[j]) continue;
            if (Xk != X) memcpy(Xk + (size_t)a * n, X + (size_t)j * n, (size_t)n * sizeof *Xk);
            int b = 0;
            for (int l = 0; l < kx; l++)
                if (keepx[l]) XtXk[b++ + a * nkept] = XtX[l + j * kx];
            a++;
        }
    }
    double t_prep = gr_now() - t1;
    int64_t K_full = nkept + (s->nfe ? fe_dof(&fe, NULL) : 0);
    int64_t K_vcov = nkept + (s->nfe ? fe_dof(&fe, nested) : 0);
    gr_vcov_spec vs = {.type = o->vcov, .ncluster = ncl, .min_cluster_df = 1};
    for (int c = 0; c < 3; c++) {
        vs.cl[c] = cl[c];
        vs.G[c] = G[c];
        vs.local_only[c] = cl[c] ? gr_ids_local_only(comm, n, cl[c], G[c]) : 1;
    }
    double *beta = gr_malloc((size_t)(nkept ? nkept : 1), sizeof *beta);
    double *B = gr_malloc((size_t)(nkept ? nkept : 1) * (nkept ? nkept : 1), sizeof *B);
    double *V = gr_calloc((size_t)(nkept ? nkept : 1) * (nkept ? nkept : 1), sizeof *V);
    double *Xty = gr_malloc((size_t)(nkept ? nkept : 1), sizeof *Xty);
    for (int j = 0; j < nys && !rc; j++) {
        gr_result *r = &res[j];
        const double *y = Y + (size_t)j * n;
        double t2 = gr_now();
        /* X'y and y'y for this outcome (X'X of the kept regressors is shared) */
        double xy[65], *xyb = nkept + 1 <= 65 ? xy : gr_malloc((size_t)nkept + 1, sizeof *xyb);
        for (int a = 0; a < nkept; a++) xyb[a] = cblas_ddot((int)n, Xk + (size_t)a * n, 1, y, 1);
        xyb[nkept] = cblas_ddot((int)n, y, 1, y, 1);
        MPI_Allreduce(MPI_IN_PLACE, xyb, nkept + 1, MPI_DOUBLE, MPI_SUM, comm);
        memcpy(Xty, xyb, (size_t)nkept * sizeof *Xty);
        double yty = xyb[nkept];
        if (xyb != xy) free(xyb);
        rc = gr_solve(comm, o->solver, n, nkept, Xk, y, XtXk, Xty, beta, B);
        if (rc) break;
        /* residuals, in the outcome's own column (nothing reads y after this) */
        double *e = Y + (size_t)j * n, rss = 0;
        if (nkept <= 64) {
            const double *xa[64];
            for (int a = 0; a < nkept; a++) xa[a] = Xk + (size_t)a * n;
            for (int64_t i = 0; i < n; i++) {
                double v = e[i];
                for (int a = 0; a < nkept; a++) v -= beta[a] * xa[a][i];
                e[i] = v;
            }
        } else {
            for (int a = 0; a < nkept; a++) cblas_daxpy((int)n, -beta[a], Xk + (size_t)a * n, 1, e, 1);
        }
        rss = cblas_ddot((int)n, e, 1, e, 1);
        MPI_Allreduce(MPI_IN_PLACE, &rss, 1, MPI_DOUBLE, MPI_SUM, comm);
        double tss_within = yty, tss = mom[2 * (kx + j) + 1];  /* yty: already summed over ranks */
        r->t_solve = gr_now() - t2 + t_prep;
        double t3 = gr_now();
        double df_t = 0;
        rc = gr_vcov_compute(comm, &vs, n, nobs, nkept, Xk, e, B, rss, K_vcov, V, &df_t);
        if (rc) break;
        r->t_vcov = gr_now() - t3;
        /* fill the result */
        double N = (double)nobs;
        r->nobs = nobs;
        r->n_singletons = singletons;
        r->k = nkept;
        r->terms = gr_malloc((size_t)(nkept ? nkept : 1), sizeof *r->terms);
        r->coef = gr_malloc((size_t)(nkept ? nkept : 1), sizeof(double));
        r->se = gr_malloc((size_t)(nkept ? nkept : 1), sizeof(double));
        r->tval = gr_malloc((size_t)(nkept ? nkept : 1), sizeof(double));
        r->pval = gr_malloc((size_t)(nkept ? nkept : 1), sizeof(double));
        int a = 0;
        for (int l = 0; l < kx; l++) {
            if (!keepx[l]) continue;
            r->terms[a] = gr_strdup(xlab[l]);
            r->coef[a] = beta[a];
            r->se[a] = sqrt(V[a + a * nkept]);
            r->tval[a] = r->coef[a] / r->se[a];
            r->pval[a] = 2.0 * gsl_cdf_tdist_Q(fabs(r->tval[a]), df_t);
            a++;
        }
        r->collin = gr_malloc((size_t)(kx ? kx : 1), sizeof *r->collin);
        for (int l = 0; l < kx; l++)
            if (!keepx[l]) r->collin[r->ncollin++] = gr_strdup(xlab[l]);
        r->rss = rss;
        r->rmse = sqrt(rss / N);
        r->df_t = df_t;
        r->r2 = 1.0 - rss / tss;
        r->adj_r2 = 1.0 - (1.0 - r->r2) * (N - 1) / (N - (double)K_full);
        /* within R2 from the explained sum of squares b'X'y (= y'y - rss for OLS): no cancellation when
         * the fit is poor, so it agrees across rank counts to the last digits */
        double ess_within = 0;
        for (int a2 = 0; a2 < nkept; a2++) ess_within += beta[a2] * Xty[a2];
        r->within_r2 = s->nfe > 0 ? ess_within / tss_within : NAN;
        /* fixest's fitstat "f": all coefficients and fixed effects against the constant-only model,
         * with the parameter count and t degrees of freedom of the variance in use */
        double df1 = (double)(K_vcov - 1), df2 = df_t;
        r->f_stat = df1 > 0 ? ((tss - rss) / df1) / (rss / df2) : NAN;
        r->f_pval = df1 > 0 ? gsl_cdf_fdist_Q(r->f_stat, df1, df2) : NAN;
        for (int k = 0; k < s->nfe; k++) r->fesizes[k] = fe.nlevels[k];
        r->ncl = ncl;
        r->clnames = gr_calloc(2, sizeof *r->clnames);
        for (int c = 0; c < ncl; c++) {
            r->clnames[c] = gr_strdup(o->cluster_on_fe ? s->fename[0] : s->clname[c]);
            r->G[c] = G[c];
        }
        r->iterations = iters;
        r->converged = conv;
        r->solver = gr_solver_name(o->solver);
        r->vcov_label = o->vcov == GR_VCOV_IID ? "iid" : o->vcov == GR_VCOV_HC1 ? "hc1"
                        : ncl == 2 ? "cluster (two-way)" : "cluster";
        r->t_index = t_index;
        r->t_demean = t_demean;
    }
    free(beta); free(B); free(V); free(Xty); if (Xk != X) free(Xk); free(XtXk); free(XtX);
    free(keepx); free(absorbed); if (!inplace) { free(X); free(Y); } free(xlab); free(mom); free(nested);
    for (int c = 0; c < 3; c++) free(cl[c]);
    gr_fe_free(&fe);
    return rc;
}

int gr_ols_run(MPI_Comm comm, gr_sample *sample, const gr_fit_opts *o, gr_result **out)
{
    /* keys given instead of codes: code them here (the codes are ours then) */
    gr_sample local = *sample, *s = &local;
    int32_t **own_fe = NULL, **own_cl = NULL;
    int64_t own_nfe[16], own_ncl[2];
    int rc = GR_OK;
    if (!s->fecode && s->nfe > 0) {
        if (s->nfe > 16) return gr_fail(GR_EINPUT, "formula", "at most 16 fixed-effect dimensions");
        s->fecode = own_fe = gr_calloc((size_t)s->nfe, sizeof *own_fe);
        s->fencode = own_nfe;
        for (int k = 0; k < s->nfe && !rc; k++) {
            own_fe[k] = gr_malloc((size_t)(s->n ? s->n : 1), sizeof(int32_t));
            rc = gr_codes_from_keys(comm, s->n, s->fekey[k], own_fe[k], &own_nfe[k]);
        }
    }
    if (!s->clcode && s->ncl > 0) {
        s->clcode = own_cl = gr_calloc(2, sizeof *own_cl);
        s->clncode = own_ncl;
        for (int c = 0; c < s->ncl && c < 2 && !rc; c++) {
            own_cl[c] = gr_malloc((size_t)(s->n ? s->n : 1), sizeof(int32_t));
            rc = gr_codes_from_keys(comm, s->n, s->clkey[c], own_cl[c], &own_ncl[c]);
        }
    }
    rc = gr_agree(comm, rc);
    if (!rc) rc = run_sample(comm, s, o, out);
    for (int k = 0; own_fe && k < s->nfe; k++) free(own_fe[k]);
    for (int c = 0; own_cl && c < 2; c++) free(own_cl[c]);
    free(own_fe); free(own_cl);
    return rc;
}

/* Close the gaps left by the dropped rows drop[0..nd) (increasing) in v[0..n) of elements of `size`
 * bytes: one memmove per run of kept rows. */
static void close_gaps(char *v, size_t size, int64_t n, const int64_t *drop, int64_t nd)
{
    int64_t to = drop[0];
    for (int64_t d = 0; d < nd; d++) {
        int64_t from = drop[d] + 1, end = d + 1 < nd ? drop[d + 1] : n;
        if (end > from) memmove(v + (size_t)to * size, v + (size_t)from * size, (size_t)(end - from) * size);
        to += end - from;
    }
}

/* For a consumable sample with one outcome: move the usable rows (finite regressors and outcome,
 * defined fixed effects and clusters) to the front of each of the sample's arrays (one pass finds the
 * others, then each array closes its gaps), and close up the regressor block to stride s->n = rows
 * kept. cnt[0] gets the rows dropped for a missing value, cnt[1] those dropped for an infinite one (a
 * row with both counts as missing). */
static void drop_unusable(gr_sample *s, int64_t cnt[2])
{
    const int64_t n = s->n;
    const int nx = s->nx, nfe = s->nfe, ncl = s->ncl;
    double *y = s->y[0], *x[16];
    int32_t *fc[16], *cc[2];
    for (int j = 0; j < nx; j++) x[j] = s->x[j];
    for (int k = 0; k < nfe; k++) fc[k] = s->fecode[k];
    for (int c = 0; c < ncl; c++) cc[c] = s->clcode[c];
    /* which rows go: one pass that only reads */
    int64_t nd = 0, cap = 1024, nmiss = 0, ninf = 0;
    int64_t *drop = gr_malloc((size_t)cap, sizeof *drop);
    for (int64_t i = 0; i < n; i++) {
        int f = 0;
        for (int j = 0; j < nx; j++) f |= (x[j][i] != x[j][i]) | (isinf(x[j][i]) ? 2 : 0);
        for (int k = 0; k < nfe; k++) f |= fc[k][i] < 0;
        for (int c = 0; c < ncl; c++) f |= cc[c][i] < 0;
        int yn = y[i] != y[i], yi = isinf(y[i]) != 0;
        if (!(f | yn | yi)) continue;
        if (f & 1) nmiss++;
        else if (f) ninf++;
        else { nmiss += yn; ninf += yi; }
        if (nd == cap) drop = gr_realloc(drop, (size_t)(cap *= 2), sizeof *drop);
        drop[nd++] = i;
    }
    /* then each array closes its gaps, a run of kept rows at a time */
    int64_t m = n - nd;
    if (nd > 0) {
        close_gaps((char *)y, sizeof *y, n, drop, nd);
        for (int j = 0; j < nx; j++) close_gaps((char *)x[j], sizeof *x[j], n, drop, nd);
        for (int k = 0; k < nfe; k++) close_gaps((char *)fc[k], sizeof *fc[k], n, drop, nd);
        for (int c = 0; c < ncl; c++) close_gaps((char *)cc[c], sizeof *cc[c], n, drop, nd);
    }
    free(drop);
    for (int j = 1; j < nx; j++) {
        double *dst = s->x[0] + (size_t)j * m;
        memmove(dst, x[j], (size_t)m * sizeof *dst);
        s->x[j] = dst;
    }
    s->n = m;
    cnt[0] = nmiss;
    cnt[1] = ninf;
}

static void warn_dropped(const gr_result *r)
{
    if (r->n_missing > 0)
        gr_warn("%s: %lld rows with missing values removed (NA in the data, or NaN from e.g. log of a negative "
                "number)", r->sample_label, (long long)r->n_missing);
    if (r->n_nonfinite > 0)
        gr_warn("%s: %lld rows with non-finite values (e.g. log of 0) removed", r->sample_label,
                (long long)r->n_nonfinite);
}

static int run_sample(MPI_Comm comm, gr_sample *s, const gr_fit_opts *o, gr_result **out)
{
    gr_result *res = gr_calloc((size_t)s->ny, sizeof *res);
    for (int j = 0; j < s->ny; j++) result_init(&res[j], s, j);
    double t0 = gr_now();
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (s->consumable && s->ny == 1 && !o->rm_singletons && s->nx <= 16 && s->nfe <= 16 && s->ncl <= 2) {
        /* the estimate command's full sample: drop the unusable rows in place, in one pass */
        int64_t cnt[2];
        drop_unusable(s, cnt);
        MPI_Allreduce(MPI_IN_PLACE, cnt, 2, MPI_INT64_T, MPI_SUM, comm);
        res[0].n_missing = cnt[0];
        res[0].n_nonfinite = cnt[1];
        if (rank == 0) warn_dropped(&res[0]);
        unsigned char *all = gr_malloc((size_t)(s->n ? s->n : 1), 1);
        memset(all, 1, (size_t)s->n);
        double t_clean = gr_now() - t0;
        int one[1] = {0};
        int rc = fit_group(comm, s, o, all, 1, one, res, 1);
        res[0].t_index += t_clean;
        free(all);
        rc = gr_agree(comm, rc);
        if (rc) { gr_result_free(&res[0]); free(res); return rc; }
        *out = res;
        return GR_OK;
    }
    /* rows usable for every outcome: finite regressors, defined fixed effects and clusters; one pass per
     * column marks each row's flags (1: missing, 2: infinite), then base[i] = no flag */
    int64_t n = s->n;
    unsigned char *base = gr_calloc((size_t)(n ? n : 1), 1);
    for (int j = 0; j < s->nx; j++) {
        const double *x = s->x[j];
        for (int64_t i = 0; i < n; i++) base[i] |= (unsigned char)((x[i] != x[i]) | (isinf(x[i]) ? 2 : 0));
    }
    for (int k = 0; k < s->nfe; k++) {
        const int32_t *c = s->fecode[k];
        for (int64_t i = 0; i < n; i++) base[i] |= (unsigned char)(c[i] < 0);
    }
    for (int c = 0; c < s->ncl; c++) {
        const int32_t *cc = s->clcode[c];
        for (int64_t i = 0; i < n; i++) base[i] |= (unsigned char)(cc[i] < 0);
    }
    int64_t nan_base = 0, inf_base = 0;
    for (int64_t i = 0; i < n; i++) {
        nan_base += base[i] & 1;
        inf_base += base[i] == 2;
        base[i] = base[i] == 0;
    }
    unsigned char **masks = gr_malloc((size_t)s->ny, sizeof *masks);
    int *group = gr_malloc((size_t)s->ny, sizeof *group);
    int rc = GR_OK;
    for (int j = 0; j < s->ny; j++) {
        masks[j] = gr_malloc((size_t)(n ? n : 1), 1);
        int64_t cnt[2] = {nan_base, inf_base};
        const double *y = s->y[j];
        int64_t nn = 0, ni = 0;
        for (int64_t i = 0; i < n; i++) {
            int isn = y[i] != y[i], isi = isinf(y[i]) != 0;
            masks[j][i] = (unsigned char)(base[i] & !isn & !isi);
            nn += base[i] & isn;
            ni += base[i] & isi;
        }
        cnt[0] += nn;
        cnt[1] += ni;
        MPI_Allreduce(MPI_IN_PLACE, cnt, 2, MPI_INT64_T, MPI_SUM, comm);
        res[j].n_missing = cnt[0];
        res[j].n_nonfinite = cnt[1];
        /* share the demeaning with an earlier outcome whose rows are the same */
        group[j] = j;
        for (int l = 0; l < j && group[j] == j; l++) {
            if (group[l] != l) continue;
            int same = memcmp(masks[l], masks[j], (size_t)n) == 0;
            MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, comm);
            if (same) group[j] = l;
        }
    }
    int ngroups = 0;
    for (int j = 0; j < s->ny; j++) ngroups += group[j] == j;
    double t_masks = gr_now() - t0;
    for (int j = 0; j < s->ny && !rc; j++) {
        if (group[j] != j) continue;
        int *ys = gr_malloc((size_t)s->ny, sizeof *ys), nys = 0;
        for (int l = j; l < s->ny; l++) if (group[l] == j) ys[nys++] = l;
        if (rank == 0) warn_dropped(&res[j]);
        gr_result *tmp = gr_calloc((size_t)nys, sizeof *tmp);
        for (int l = 0; l < nys; l++) tmp[l] = res[ys[l]];
        rc = fit_group(comm, s, o, masks[j], nys, ys, tmp, s->consumable && ngroups == 1 && !o->rm_singletons);
        for (int l = 0; l < nys && j == 0; l++) tmp[l].t_index += t_masks;  /* the masks count as indexing */
        for (int l = 0; l < nys; l++) res[ys[l]] = tmp[l];
        free(tmp);
        free(ys);
    }
    for (int j = 0; j < s->ny; j++) free(masks[j]);
    free(masks); free(group); free(base);
    rc = gr_agree(comm, rc);
    if (rc) {
        for (int j = 0; j < s->ny; j++) gr_result_free(&res[j]);
        free(res);
        return rc;
    }
    *out = res;
    return GR_OK;
}
