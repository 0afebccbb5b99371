/* ppml.c: Poisson PML with high-dimensional fixed effects (see ppml.h, docs/ppml.md):
 *   usable rows -> all-zero fixed-effect groups (and singletons) dropped -> absorber (absorber.c)
 *   -> separation by the iterative rectifier (ReLU) -> IRLS on the absorber with warm starts and an
 *   adaptive inner tolerance -> the final weighted fit and sandwich (fit.c, vcov.c), fixest's fepois rules.
 * Every decision uses quantities reduced over the ranks, so all ranks take the same path. */
#include "ppml.h"
#include "formula.h"
#include "levels.h"
#include "rowsel.h"
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void gr_ppml_defaults(gr_ppml_opts *po)
{
    *po = (gr_ppml_opts){.tol = 1e-8, .maxiter = 100, .separation = 1, .sep_tol = 1e-5, .sep_maxiter = 1000};
}

const char *gr_family_name(int family) { return family == GR_FAMILY_POISSON ? "poisson" : "gaussian"; }

int gr_family_parse(const char *word, const char *where, int *family)
{
    if (!strcmp(word, "poisson")) *family = GR_FAMILY_POISSON;
    else if (!strcmp(word, "gaussian") || !strcmp(word, "ols")) *family = GR_FAMILY_GAUSSIAN;
    else return gr_fail(GR_EUSAGE, where, "expected gaussian or poisson, got '%s'", word);
    return GR_OK;
}

/* One outcome's estimation rows and their columns (all owned). X is n x kx, column-major. */
typedef struct sample {
    int64_t n;
    int kx, nfe, ncl;
    double *y, *X, *w;          /* w: prior (observation) weights, or NULL */
    double *off;                /* offset in the linear predictor (coefficient 1), or NULL */
    int32_t *fe[16], *cl[2];
} sample;

static void sample_free(sample *s)
{
    free(s->y); free(s->X); free(s->w); free(s->off);
    for (int k = 0; k < s->nfe; k++) free(s->fe[k]);
    for (int c = 0; c < s->ncl; c++) free(s->cl[c]);
    memset(s, 0, sizeof *s);
}

/* Keep the rows with keep[i] of every array of s, in place. */
static void sample_compact(sample *s, const unsigned char *keep)
{
    gr_rowsel sel;
    gr_rowsel_init(&sel, s->n, keep);
    gr_rowsel_apply(&sel, s->y, s->y, sizeof *s->y);
    for (int j = 0; j < s->kx; j++) gr_rowsel_apply(&sel, s->X + (size_t)j * s->n, s->X + (size_t)j * sel.m, sizeof *s->X);
    if (s->w) gr_rowsel_apply(&sel, s->w, s->w, sizeof *s->w);
    if (s->off) gr_rowsel_apply(&sel, s->off, s->off, sizeof *s->off);
    for (int k = 0; k < s->nfe; k++) gr_rowsel_apply(&sel, s->fe[k], s->fe[k], sizeof(int32_t));
    for (int c = 0; c < s->ncl; c++) gr_rowsel_apply(&sel, s->cl[c], s->cl[c], sizeof(int32_t));
    s->n = sel.m;
    gr_rowsel_free(&sel);
}

static int64_t sum_all(MPI_Comm comm, int64_t v)
{
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT64_T, MPI_SUM, comm);
    return v;
}

static double dsum_all(MPI_Comm comm, double v)
{
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_SUM, comm);
    return v;
}

static const char *where_of(const gr_model_data *d) { return d->label ? d->label : "sample"; }

/* Local. f[i] |= 1 where v[i] is NaN, 2 where it is infinite. */
static void flag_nonfinite(int64_t n, const double *v, unsigned char *f)
{
    for (int64_t i = 0; i < n; i++)  /* isinf is -1 for -inf in glibc: only its truth counts */
        f[i] |= (unsigned char)((isnan(v[i]) ? 1 : 0) | (isinf(v[i]) ? 2 : 0));
}

/* Collective. The usable rows of outcome j copied into s (intercept first in X; the offset off, d->n values or
 * NULL, counts as the outcome does: NaN missing, +-inf non-finite); counts of rows dropped as missing,
 * non-finite and with zero weight into r. Fails (agreed) on a negative or infinite weight and on a negative
 * outcome. */
static int sample_gather(MPI_Comm comm, const gr_model_data *d, const double *off, int j, sample *s, gr_result *r)
{
    int64_t n = d->n, cnt[4] = {0, 0, 0, 0}, m = 0;
    unsigned char *keep = gr_calloc((size_t)(n ? n : 1), 1);  /* first the flags: 1 missing, 2 infinite, 4 zero weight */
    double negval = 0;
    int rc = GR_OK;
    flag_nonfinite(n, d->y[j], keep);  /* a column at a time: one stream each */
    if (off) flag_nonfinite(n, off, keep);
    for (int q = 0; q < d->nx; q++) flag_nonfinite(n, d->x[q], keep);
    for (int k = 0; k < d->nfe + d->ncl; k++) {  /* restrict: keep (chars) could otherwise alias the codes */
        const int32_t *restrict code = k < d->nfe ? d->fecode[k] : d->clcode[k - d->nfe];
        unsigned char *restrict f = keep;
        for (int64_t i = 0; i < n; i++) f[i] |= code[i] < 0;
    }
    for (int64_t i = 0; d->w && i < n; i++) {
        double w = d->w[i];
        if (isnan(w)) keep[i] |= 1;
        else if (w == 0) keep[i] |= 4;
        else if (!(w > 0) || isinf(w))
            rc = gr_fail(GR_EINPUT, d->wname ? d->wname : "--weights", "weights must be positive and finite, found %g", w);
    }
    for (int64_t i = 0; i < n; i++) {
        int f = keep[i], miss = f & 1, inf = !miss && (f & 2);
        cnt[0] += miss; cnt[1] += inf; cnt[2] += !miss && !inf && (f & 4);
        keep[i] = f == 0;
        double v = d->y[j][i];
        if (keep[i] && v < 0) { cnt[3]++; negval = v; }
        m += keep[i];
    }
    MPI_Allreduce(MPI_IN_PLACE, cnt, 4, MPI_INT64_T, MPI_SUM, comm);
    r->n_missing = cnt[0]; r->n_nonfinite = cnt[1]; r->n_zero_weight = cnt[2];
    if (!rc && cnt[3] > 0 && negval < 0)
        rc = gr_fail(GR_EINPUT, where_of(d), "outcome '%s' has %lld negative values (e.g. %g): Poisson PML needs an "
                     "outcome >= 0 (in levels, zeros kept)", d->ylabel[j], (long long)cnt[3], negval);
    else if (!rc && cnt[3] > 0)
        rc = GR_EREMOTE;  /* another rank holds the negative values and reports them */
    rc = gr_agree(comm, rc);
    if (rc) { free(keep); return rc; }
    gr_rowsel sel;
    gr_rowsel_init(&sel, n, keep);
    free(keep);
    memset(s, 0, sizeof *s);
    s->n = m;
    s->kx = d->nx + (d->intercept ? 1 : 0);
    s->nfe = d->nfe;
    s->ncl = d->ncl;
    size_t mm = (size_t)(m ? m : 1);
    s->y = gr_malloc(mm, sizeof *s->y);
    gr_rowsel_apply(&sel, d->y[j], s->y, sizeof *s->y);
    s->X = gr_malloc(mm * (size_t)(s->kx ? s->kx : 1), sizeof *s->X);
    for (int64_t i = 0; d->intercept && i < m; i++) s->X[i] = 1.0;
    for (int q = 0; q < d->nx; q++) gr_rowsel_apply(&sel, d->x[q], s->X + (size_t)(q + d->intercept) * m, sizeof *s->X);
    if (d->w) { s->w = gr_malloc(mm, sizeof *s->w); gr_rowsel_apply(&sel, d->w, s->w, sizeof *s->w); }
    if (off) { s->off = gr_malloc(mm, sizeof *s->off); gr_rowsel_apply(&sel, off, s->off, sizeof *s->off); }
    for (int k = 0; k < d->nfe; k++) { s->fe[k] = gr_malloc(mm, sizeof(int32_t)); gr_rowsel_apply(&sel, d->fecode[k], s->fe[k], 4); }
    for (int c = 0; c < d->ncl; c++) { s->cl[c] = gr_malloc(mm, sizeof(int32_t)); gr_rowsel_apply(&sel, d->clcode[c], s->cl[c], 4); }
    gr_rowsel_free(&sel);
    return GR_OK;
}

/* Collective. Sum x[0..m) over the ranks in place, in pieces whose counts fit an int. */
static void sum_doubles(MPI_Comm comm, double *x, int64_t m)
{
    for (int64_t o = 0; o < m; o += (int64_t)1 << 28) {
        int len = (int)(m - o < ((int64_t)1 << 28) ? m - o : ((int64_t)1 << 28));
        MPI_Allreduce(MPI_IN_PLACE, x + o, len, MPI_DOUBLE, MPI_SUM, comm);
    }
}

/* Collective. One round on the absorber's dense levels: keep[i] = 0 for rows in a level whose outcome is zero on
 * all its rows (with zero_groups: their fitted mean would go to zero, ppmlhdfe's `fe` check) or, with
 * rm_singletons, alone in a level. *sep and *single get the rows over all ranks. */
static void fe_group_round(MPI_Comm comm, const gr_absorber *ab, const sample *s, int zero_groups, int rm_singletons,
                           unsigned char *keep, int64_t *sep, int64_t *single)
{
    const gr_fe *fe = &ab->fe;
    int64_t c[2] = {0, 0};
    memset(keep, 1, (size_t)s->n);
    for (int k = 0; k < fe->nfe; k++) {
        int64_t L = fe->nlevels[k];
        double *ysum = gr_calloc((size_t)(L ? L : 1), sizeof *ysum);
        gr_fe_level_sums(fe, k, s->y, ysum);
        if (!(fe->local_only && fe->local_only[k])) sum_doubles(comm, ysum, L);
        int any = 0;  /* a level to drop: else no pass over the rows */
        for (int64_t g = 0; g < L && !any; g++) any = (zero_groups && ysum[g] == 0) || (rm_singletons && fe->count[k][g] == 1);
        for (int64_t i = 0; any && i < s->n; i++) {
            if (!keep[i]) continue;
            int32_t g = fe->id[k][i];
            if (zero_groups && ysum[g] == 0) { keep[i] = 0; c[0]++; }
            else if (rm_singletons && fe->count[k][g] == 1) { keep[i] = 0; c[1]++; }
        }
        free(ysum);
    }
    MPI_Allreduce(MPI_IN_PLACE, c, 2, MPI_INT64_T, MPI_SUM, comm);
    *sep = c[0];
    *single = c[1];
}

/* Local. Solve A b = r for the kept regressors (keep, nk of kx), A symmetric positive definite (kx x kx,
 * all entries given); b[j] = 0 for dropped j. Returns 0, or -1 if a pivot is not positive. */
static int solve_kept(int kx, const double *A, const double *r, const int *keep, double *b)
{
    int nk = 0, idx[256];
    for (int j = 0; j < kx; j++) { b[j] = 0; if (keep[j] && nk < 256) idx[nk++] = j; }
    if (nk == 0) return 0;
    double *L = gr_calloc((size_t)nk * nk, sizeof *L), *z = gr_malloc((size_t)nk, sizeof *z);
    int rc = 0;
    for (int a = 0; a < nk && !rc; a++)
        for (int c = 0; c <= a && !rc; c++) {
            double v = A[idx[a] + (size_t)idx[c] * kx];
            for (int e = 0; e < c; e++) v -= L[a + (size_t)e * nk] * L[c + (size_t)e * nk];
            if (a == c) { if (!(v > 0)) rc = -1; else L[a + (size_t)a * nk] = sqrt(v); }
            else L[a + (size_t)c * nk] = v / L[c + (size_t)c * nk];
        }
    for (int a = 0; a < nk && !rc; a++) {
        double v = r[idx[a]];
        for (int e = 0; e < a; e++) v -= L[a + (size_t)e * nk] * z[e];
        z[a] = v / L[a + (size_t)a * nk];
    }
    for (int a = nk - 1; a >= 0 && !rc; a--) {
        double v = z[a];
        for (int e = a + 1; e < nk; e++) v -= L[e + (size_t)a * nk] * z[e];
        z[a] = v / L[a + (size_t)a * nk];
        b[idx[a]] = z[a];
    }
    free(L); free(z);
    return rc;
}

/* Local. sum a[i] b[i] over [0, m), in four running sums (one chain of dependent additions would wait on each). */
static double dot(const double *restrict a, const double *restrict b, int64_t m)
{
    double s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= m; i += 4)
        for (int q = 0; q < 4; q++) s[q] += a[i + q] * b[i + q];
    for (; i < m; i++) s[0] += a[i] * b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* Local. A (kx x kx, lower triangle) += X'WX and r (kx) += X'Wv over rows [i0, i1) of X (n x kx, column-major;
 * W NULL: 1; v NULL: r untouched). */
static void crossprod_block(int64_t n, int kx, const double *X, const double *v, const double *W, int64_t i0,
                            int64_t i1, double *A, double *r)
{
    double wx[512];
    for (int a = 0; a < kx; a++) {
        const double *xa = X + (size_t)a * n;
        for (int64_t i = i0; i < i1; i++) wx[i - i0] = W ? W[i] * xa[i] : xa[i];
        for (int c = 0; c <= a; c++) A[a + c * kx] += dot(wx, X + (size_t)c * n + i0, i1 - i0);
        if (v) r[a] += dot(wx, v + i0, i1 - i0);
    }
}

/* Collective. A = X'WX (kx x kx, full) and r = X'Wv (v may be NULL) over the rows of every rank, in one pass
 * over the rows (blocks of 512 rows, each read once while it is in cache). A holds kx * kx + kx values, r =
 * A + kx * kx. */
static void crossprod_all(MPI_Comm comm, int64_t n, int kx, const double *X, const double *v, const double *W,
                          double *A)
{
    int kk = kx * kx;
    double *r = A + kk;
    memset(A, 0, (size_t)(kk + kx) * sizeof *A);
    for (int64_t i0 = 0; i0 < n; i0 += 512)
        crossprod_block(n, kx, X, v, W, i0, n - i0 < 512 ? n : i0 + 512, A, r);
    MPI_Allreduce(MPI_IN_PLACE, A, kk + kx, MPI_DOUBLE, MPI_SUM, comm);
    for (int a = 0; a < kx; a++) for (int c = 0; c < a; c++) A[c + a * kx] = A[a + c * kx];
}

/* Collective. Weighted least squares of v on the columns of X (n x kx, both demeaned) with weights W (NULL:
 * 1): beta (kx, replicated; 0 for regressors collinear with earlier ones at tolerance tol). With keep_in
 * (kx flags, or NULL) the regressors kept are given instead of detected; keep_out (or NULL) gets them. */
static int wls(MPI_Comm comm, int64_t n, int kx, const double *X, const double *v, const double *W, double tol,
               const int *keep_in, int *keep_out, double *beta)
{
    if (kx == 0) return GR_OK;
    int kk = kx * kx;
    double *A = gr_malloc((size_t)(kk + kx), sizeof *A), *r = A + kk;
    crossprod_all(comm, n, kx, X, v, W, A);
    int *keep = gr_malloc((size_t)kx, sizeof *keep);
    if (keep_in) memcpy(keep, keep_in, (size_t)kx * sizeof *keep);
    else gr_collinear(kx, A, tol, keep);
    if (keep_out) memcpy(keep_out, keep, (size_t)kx * sizeof *keep);
    int bad = solve_kept(kx, A, r, keep, beta);
    free(keep); free(A);
    if (bad) return gr_fail(GR_ENUM, "ppml", "weighted least-squares step: the cross-product of the regressors is not positive definite");
    return GR_OK;
}

/* How demean_cols takes its weights: as they are (the previous call's), set and validated, or set without
 * validation (the caller checked each weight finite and > 0 as it computed it). */
enum { W_KEEP = 0, W_CHECK = 1, W_TRUSTED = 2 };

/* Collective. The residuals of cols[0..ncols) into outs[0..ncols) (out of place, no copy first; outs[c] may be
 * cols[c]) on the absorber at tolerance tol, warm-started from and updating alpha (ncols arrays, or NULL); unless
 * set_w is W_KEEP, with the weights W (NULL: unweighted) set first (their level sums cost a pass per fixed effect,
 * along the row segments that absorber_on prepared). The absorber's rows are the sample's (absorber_on removes
 * no singleton), so the kernels run on its structure directly; its counters (time, columns, iterations) are
 * kept as gr_absorber_demean keeps them. *inner accumulates the demeaning iterations. */
static int demean_cols(gr_absorber *ab, int ncols, const double *const *cols, double **outs, int set_w, double *W,
                       double tol, double **alpha, int64_t *inner)
{
    if (set_w == W_CHECK) GR_CALL(gr_fe_set_weights(&ab->fe, W));
    if (set_w == W_TRUSTED) gr_fe_set_weights_trusted(&ab->fe, W);
    if (set_w != W_KEEP) ab->w = W;
    int it = 0;
    int rc = gr_absorber_demean_into(ab, ncols, cols, outs, tol, alpha, &it);
    *inner += it;
    return rc;
}

/* Collective. The residuals of X into Xt and of v into vt (may be v), with weights W (set first as set_w says:
 * W_CHECK or W_TRUSTED) on the absorber, warm-started from and updating alpha (kx + 1 arrays, or NULL). *inner
 * accumulates the demeaning iterations. */
static int demean_all(gr_absorber *ab, const sample *s, double *Xt, const double *v, double *vt, int set_w, double *W,
                      double tol, double **alpha, int64_t *inner)
{
    int ncols = s->kx + 1;
    const double **cols = gr_malloc((size_t)ncols, sizeof *cols);
    double **outs = gr_malloc((size_t)ncols, sizeof *outs);
    for (int j = 0; j < s->kx; j++) { cols[j] = s->X + (size_t)j * s->n; outs[j] = Xt + (size_t)j * s->n; }
    cols[s->kx] = v;
    outs[s->kx] = vt;
    int rc = demean_cols(ab, ncols, cols, outs, set_w, W, tol, alpha, inner);
    free(cols); free(outs);
    return rc;
}

/* Collective. keep (kx flags): the regressors not collinear with earlier ones and the fixed effects on the
 * unweighted design (the demeaned columns at tolerance tol; the absorber's weights are left unset). */
static int collinear_unweighted(MPI_Comm comm, gr_absorber *ab, const sample *s, double tol, double collin_tol,
                                int *keep)
{
    size_t nn = (size_t)(s->n ? s->n : 1);
    double *Xu = gr_malloc(nn * (size_t)(s->kx ? s->kx : 1), sizeof *Xu);
    const double **cols = gr_malloc((size_t)s->kx, sizeof *cols);
    double **outs = gr_malloc((size_t)s->kx, sizeof *outs);
    for (int j = 0; j < s->kx; j++) { cols[j] = s->X + (size_t)j * s->n; outs[j] = Xu + (size_t)j * s->n; }
    int64_t dummy = 0;
    int rc = demean_cols(ab, s->kx, cols, outs, W_CHECK, NULL, tol, NULL, &dummy);
    if (!rc) {
        double *A = gr_malloc((size_t)s->kx * (size_t)(s->kx + 1), sizeof *A);
        crossprod_all(comm, s->n, s->kx, Xu, NULL, NULL, A);
        gr_collinear(s->kx, A, collin_tol, keep);
        free(A);
    }
    free(cols); free(outs); free(Xu);
    return rc;
}

/* Collective. The iterative rectifier (Correia, Guimaraes and Zylkin 2019; ppmlhdfe's separation(ir)):
 * u = 1(y = 0); repeat: weighted least squares of u on the regressors and fixed effects with weight K =
 * N0 / tol^2 on the rows with y > 0 and 1 elsewhere, fitted z (|z| < tol set to 0); stop when no z < 0,
 * else u = max(z, 0). Rows with z > 0 are separated: sep[i] = 1. *iters gets the iterations. buf: scratch space
 * (three arrays of s->n values and one of s->kx * s->n), the caller's.
 * The weights do not change between iterations, so the regressors are demeaned once (first iteration) and
 * only u after that (warm-started). Which regressors are collinear is decided on the weighted design when it
 * drops none; when it drops some, again on the unweighted design, which decides (the weight K would make what
 * the rows with y = 0 tell apart look like rounding error; with exact arithmetic the two agree, so a weighted
 * design of full rank is one of full rank unweighted). */
static int relu_check(MPI_Comm comm, gr_absorber *ab, const sample *s, const gr_ppml_opts *po, double fe_tol,
                      double collin_tol, unsigned char *sep, int64_t *nsep, int *iters, int64_t *inner,
                      double *const buf[4])
{
    int64_t n = s->n, n0 = 0;
    for (int64_t i = 0; i < n; i++) n0 += s->y[i] == 0;
    n0 = sum_all(comm, n0);
    memset(sep, 0, (size_t)(n ? n : 1));
    *nsep = 0;
    *iters = 0;
    if (n0 == 0) return GR_OK;
    int kx = s->kx;
    double K = (double)n0 / (po->sep_tol * po->sep_tol);
    double *u = buf[0], *v = buf[1], *om = buf[2], *Xt = buf[3], *beta = gr_calloc((size_t)kx + 1, sizeof *beta);
    int64_t nc = gr_fe_ncoef(&ab->fe);
    double **alpha = gr_malloc((size_t)kx + 1, sizeof *alpha);
    for (int j = 0; j <= kx; j++) alpha[j] = gr_calloc((size_t)(nc ? nc : 1), sizeof **alpha);
    int *keep = gr_calloc((size_t)kx + 1, sizeof *keep);
    for (int64_t i = 0; i < n; i++) { u[i] = s->y[i] == 0; om[i] = s->y[i] > 0 ? K : 1.0; }
    int rc = GR_OK, done = 0, weights_set = 0;
    double **va = ab->fe.nfe ? alpha + kx : NULL;
    while (!rc && !done && *iters < po->sep_maxiter) {
        (*iters)++;
        if (*iters == 1) {
            rc = demean_all(ab, s, Xt, u, v, W_CHECK, om, fe_tol, ab->fe.nfe ? alpha : NULL, inner);
            weights_set = 1;
            if (!rc) rc = gr_agree(comm, wls(comm, n, kx, Xt, v, om, collin_tol, NULL, keep, beta));
            int kept = 0;
            for (int j = 0; j < kx; j++) kept += keep[j];
            if (!rc && kept < kx) {
                rc = collinear_unweighted(comm, ab, s, fe_tol, collin_tol, keep);
                weights_set = 0;
                if (!rc) rc = gr_agree(comm, wls(comm, n, kx, Xt, v, om, collin_tol, keep, NULL, beta));
            }
        } else {
            const double *uc = u;
            rc = demean_cols(ab, 1, &uc, &v, weights_set ? W_KEEP : W_CHECK, om, fe_tol, va, inner);
            weights_set = 1;
            if (!rc) rc = gr_agree(comm, wls(comm, n, kx, Xt, v, om, collin_tol, keep, NULL, beta));
        }
        int64_t neg = 0;
        for (int64_t i = 0; i < n && !rc; i++) {
            double fit = v[i];  /* u~ - X~ b: the residual; z = u - residual */
            for (int j = 0; j < kx; j++) fit -= Xt[(size_t)j * n + i] * beta[j];
            double z = u[i] - fit;
            if (fabs(z) < po->sep_tol) z = 0;
            neg += z < 0;
            v[i] = z;
        }
        neg = sum_all(comm, neg);
        if (neg == 0) done = 1;
        for (int64_t i = 0; i < n && !rc; i++) {
            if (done) sep[i] = v[i] > 0 && s->y[i] == 0;
            else u[i] = v[i] > 0 ? v[i] : 0;
        }
    }
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += sep[i];
    *nsep = sum_all(comm, c);
    if (!rc && !done)
        rc = gr_fail(GR_ENUM, "ppml", "the separation check (ReLU) did not settle within %d iterations", po->sep_maxiter);
    for (int j = 0; j <= kx; j++) free(alpha[j]);
    free(alpha); free(beta); free(keep);
    ab->w = NULL;
    return gr_agree(comm, rc);
}

/* Collective. A fresh absorber on the rows of s (codes copied; singletons were removed by
 * prepare). */
static int absorber_on(MPI_Comm comm, const gr_model_data *d, const sample *s, const gr_model_opts *o, gr_absorber *ab)
{
    int32_t *codes[16];
    size_t nn = (size_t)(s->n ? s->n : 1);
    for (int k = 0; k < s->nfe; k++) { codes[k] = gr_malloc(nn, sizeof(int32_t)); memcpy(codes[k], s->fe[k], (size_t)s->n * 4); }
    gr_absorb_opts ao = o->absorb;
    ao.rm_singletons = 0;
    int rc = gr_absorber_init(comm, s->n, s->nfe, codes, d->fencode, d->fename, NULL, &ao, ab);
    for (int k = 0; k < s->nfe; k++) free(codes[k]);  /* NULL once taken */
    if (!rc) gr_fe_prepare(&ab->fe);  /* every demeaning of this structure reuses its row segments */
    return rc;
}

/* Collective. Cluster ids on the sample's rows, as model.c builds them: dense ids per variable (or the first
 * fixed effect's levels), the intersection for two-way, at least two clusters each; nested[k] per fixed
 * effect (fixest's rule, docs/vcov.md). */
static int cluster_ids(MPI_Comm comm, const gr_model_data *d, const gr_model_opts *o, const gr_absorber *ab,
                       sample *s, gr_vcov_spec *vs, int *nested)
{
    int ncl = o->vcov == GR_VCOV_CLUSTER ? (o->cluster_on_fe ? 1 : d->ncl) : 0;
    int64_t n = ab->n;
    size_t nn = (size_t)(n ? n : 1);
    vs->type = o->vcov;
    vs->ncluster = ncl;
    vs->min_cluster_df = 1;
    int32_t **cl = (int32_t **)vs->cl;
    if (o->cluster_on_fe && ncl == 1) {
        cl[0] = gr_malloc(nn, sizeof(int32_t));
        memcpy(cl[0], ab->fe.id[0], (size_t)n * sizeof(int32_t));
        vs->G[0] = ab->fe.nlevels[0];
    }
    for (int c = 0; c < ncl && !o->cluster_on_fe; c++) {
        cl[c] = s->cl[c];
        s->cl[c] = gr_malloc(1, sizeof(int32_t));
        GR_CALL(gr_agree(comm, gr_codes_dense(comm, n, cl[c], d->clncode[c], cl[c], &vs->G[c])));
    }
    for (int c = 0; c < ncl; c++)
        if (vs->G[c] < 2)
            return gr_fail(GR_EINPUT, where_of(d), "'%s' has a single cluster in the PPML sample: clustered standard "
                           "errors need at least 2", o->cluster_on_fe ? d->fename[0] : d->clname[c]);
    return gr_vcov_clusters_finish(comm, ab, d->nfe, vs, nested);
}

/* Collective. tss[j]: weighted centred sum of squares of regressor j of s (j < kx) and of v (j = kx), over
 * all ranks: what fit.c compares the demeaned sums of squares with (absorbed regressors and outcome). */
static void weighted_tss(MPI_Comm comm, const sample *s, const double *v, const double *W, double *tss)
{
    int kx = s->kx;
    double *acc = gr_calloc((size_t)kx + 2, sizeof *acc);  /* sum W, then sum W c per column */
    for (int64_t i = 0; i < s->n; i++) acc[0] += W[i];
    for (int j = 0; j <= kx; j++) acc[j + 1] = dot(W, j < kx ? s->X + (size_t)j * s->n : v, s->n);
    MPI_Allreduce(MPI_IN_PLACE, acc, kx + 2, MPI_DOUBLE, MPI_SUM, comm);
    for (int j = 0; j <= kx; j++) {  /* sum W (c - mean)^2 = sum W c^2 - mean sum W c would cancel: about the mean */
        const double *c = j < kx ? s->X + (size_t)j * s->n : v;
        double mean = acc[j + 1] / acc[0], ss[4] = {0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 4 <= s->n; i += 4)
            for (int q = 0; q < 4; q++) ss[q] += W[i + q] * (c[i + q] - mean) * (c[i + q] - mean);
        for (; i < s->n; i++) ss[0] += W[i] * (c[i] - mean) * (c[i] - mean);
        tss[j] = (ss[0] + ss[1]) + (ss[2] + ss[3]);
    }
    MPI_Allreduce(MPI_IN_PLACE, tss, kx + 1, MPI_DOUBLE, MPI_SUM, comm);
    free(acc);
}

/* The IRLS state of one outcome. */
typedef struct irls {
    double *W, *z0, *z;         /* this iteration's weights, working outcome and its residual (demeaned) */
    double *Wn, *z0n;           /* the next iteration's, filled by the update pass */
    double dev0;                /* sum w (y log y - y) over the local rows: the deviance without a logarithm per
                                 * row and iteration */
    double *Xt, *beta;
    double **alpha;
    double *tss;                /* kx + 1: weighted centred sums of squares of the last iteration's columns */
    double dev;
    int iters;
    int64_t inner;
} irls;

/* Local. The arrays of the IRLS state for the rows of s (the separation check borrows some first). */
static void irls_alloc(const sample *s, irls *st)
{
    size_t nn = (size_t)(s->n ? s->n : 1);
    double **bufs[5] = {&st->W, &st->z, &st->z0, &st->Wn, &st->z0n};
    for (int q = 0; q < 5; q++) *bufs[q] = gr_malloc(nn, sizeof(double));
    st->Xt = gr_malloc(nn * (size_t)(s->kx ? s->kx : 1), sizeof(double));
    st->beta = gr_calloc((size_t)s->kx + 1, sizeof(double));
    st->tss = gr_calloc((size_t)s->kx + 1, sizeof(double));
}

static void irls_free(irls *st, int kx)
{
    for (int j = 0; st->alpha && j <= kx; j++) free(st->alpha[j]);
    free(st->alpha); free(st->W); free(st->z); free(st->z0); free(st->Wn); free(st->z0n);
    free(st->Xt); free(st->beta); free(st->tss);
}

/* Local. Row i's weight w mu and working outcome eta - offset + (y - mu) / mu into W and z0. */
static inline void working_row(const sample *s, int64_t i, double eta, double mu, double *W, double *z0)
{
    W[i] = (s->w ? s->w[i] : 1.0) * mu;
    z0[i] = eta - (s->off ? s->off[i] : 0.0) + (s->y[i] - mu) / mu;
}

/* Local. exp(x[j]) into e[j] for j < m (x[m..m+3) readable): for x in [-708, 709] (others are clamped first: the
 * caller refuses them anyway; NaN gives 1): x = k ln2 + r with k = round(x / ln2) (the 1.5 * 2^52 shift rounds it
 * and leaves k in the low bits), ln2 split in two so that k ln2_hi is exact (fdlibm's constants), |r| <= ln2 / 2,
 * e^r by its Taylor series to r^13 / 13! (truncation below 1e-17), times 2^k built in the exponent bits. Within
 * 1 ulp of glibc's exp on 2e7 values. Two lanes (SSE2) or four (AVX2 when the CPU has it) doing the same
 * operations with no fused multiply-add: the same bits on every x86-64 and every rank. */
typedef double v2d __attribute__((vector_size(16)));
typedef long long v2i __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4i __attribute__((vector_size(32)));
#define VEXP_BODY(VT, IT, NV)                                                                                 \
    for (int j = 0; j < m; j += NV) {                                                                         \
        VT x;                                                                                                 \
        memcpy(&x, xs + j, sizeof x);                                                                         \
        const VT zero = {0}, lo = zero - 708.0, hi = zero + 709.0, shift = zero + 0x1.8p52;                    \
        x = (VT)(((IT)(x < lo) & (IT)lo) | (~(IT)(x < lo) & (IT)x));                                          \
        x = (VT)(((IT)(x > hi) & (IT)hi) | (~(IT)(x > hi) & (IT)x));                                          \
        x = (VT)((IT)(x == x) & (IT)x);                                                                       \
        VT kd = x * 1.4426950408889634 + shift, k = kd - shift;                                               \
        VT r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;                         \
        VT p = r * vexp_c[13] + vexp_c[12];                                                                   \
        for (int q = 11; q >= 0; q--) p = p * r + vexp_c[q];                                                  \
        IT e = (((IT)kd - 0x4338000000000000LL) + 1023) << 52;                                                \
        p = p * (VT)e;                                                                                        \
        memcpy(es + j, &p, sizeof p);                                                                         \
    }
static const double vexp_c[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                                  1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
                                  1.0 / 6227020800};
static void vexp_v2(int m, const double *xs, double *es) { VEXP_BODY(v2d, v2i, 2) }
__attribute__((target("avx2"))) static void vexp_x4(int m, const double *xs, double *es) { VEXP_BODY(v4d, v4i, 4) }

/* Local. 1 if the AVX2 exp may run: the CPU has AVX2 and GRAVRD_NO_AVX2 is not set (as fe.c decides). */
static int vexp_avx2(void)
{
    const char *e = getenv("GRAVRD_NO_AVX2");
    if (e && *e && strcmp(e, "0") != 0) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
}

/* Local. The update pass of one IRLS iteration, fused, in blocks of 256 rows: residual z~ - X~ b, index eta =
 * offset + z0 - residual, mu = exp(eta) (vexp_v2 / vexp_x4), the deviance 2 sum w (y log(y/mu) - (y - mu)) = 2 (dev0
 * + sum w (mu - y eta)) (log mu = eta; dev0 = sum w (y log y - y) from the start), and the next iteration's W, z, z0.
 * Four rows at a time in 4-lane vectors (two SSE2 halves without AVX2: the same operations, no fused multiply-add,
 * so the same bits either way); the deviance is summed in four lanes, (l0 + l1) + (l2 + l3), then the rows of the
 * last partial vector in order. Returns the local deviance; *bad = 1 if a mean left double precision or a weight
 * w mu is not finite and > 0 (the next weights are then set without another validation pass). */
#define LD4(p) ({ v4d v_; memcpy(&v_, (p), sizeof v_); v_; })
#define ST4(p, v) do { v4d v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
#define UPDATE_BODY(VEXP)                                                                                     \
    const int64_t n = s->n;                                                                                   \
    const int kx = s->kx;                                                                                     \
    const double eta_lo = log(1e-300), eta_hi = 709.0; /* exp(709) = 8.2e307 */                                \
    const double *restrict z = st->z, *restrict z0 = st->z0, *restrict off = s->off, *restrict w = s->w,      \
                 *restrict y = s->y;                                                                          \
    double *restrict Wn = st->Wn, *restrict z0n = st->z0n;                                                    \
    double eta[260], mu[260], tail = 0;                                                                       \
    const v4d zero = {0, 0, 0, 0}, one = zero + 1.0, lo = zero + eta_lo, hi = zero + eta_hi,                 \
              inf = zero + INFINITY;                                                                          \
    v4d dev4 = zero;                                                                                          \
    v4i bad4 = {0, 0, 0, 0};                                                                                  \
    int b = 0;                                                                                                \
    for (int64_t i0 = 0; i0 < n; i0 += 256) {                                                                \
        const int m = n - i0 < 256 ? (int)(n - i0) : 256, m4 = m & ~3;                                       \
        for (int j = 0; j < m4; j += 4) {                                                                     \
            v4d a = LD4(z0 + i0 + j) - LD4(z + i0 + j);                                                       \
            for (int q = 0; q < kx; q++) a += LD4(st->Xt + (size_t)q * n + i0 + j) * st->beta[q];            \
            if (off) a += LD4(off + i0 + j);                                                                  \
            ST4(eta + j, a);                                                                                  \
        }                                                                                                     \
        for (int j = m4; j < m; j++) {                                                                        \
            double a = z0[i0 + j] - z[i0 + j];                                                                \
            for (int q = 0; q < kx; q++) a += st->Xt[(size_t)q * n + i0 + j] * st->beta[q];                  \
            eta[j] = off ? a + off[i0 + j] : a;                                                               \
        }                                                                                                     \
        for (int j = m; j < m + 4; j++) eta[j] = 0; /* the last vector's spare lanes */                       \
        VEXP(m, eta, mu);                                                                                     \
        for (int j = 0; j < m4; j += 4) {                                                                     \
            const int64_t i = i0 + j;                                                                         \
            const v4d et = LD4(eta + j), u = LD4(mu + j), yy = LD4(y + i), wi = w ? LD4(w + i) : one;         \
            const v4d wu = wi * u, o = off ? LD4(off + i) : zero;                                             \
            bad4 |= ~((et > lo) & (et < hi) & (wu > zero) & (wu < inf));                                     \
            dev4 += wi * (u - yy * et);                                                                       \
            ST4(Wn + i, wu);                                                                                  \
            ST4(z0n + i, et - o + (yy - u) / u);                                                              \
        }                                                                                                     \
        for (int j = m4; j < m; j++) {                                                                        \
            const int64_t i = i0 + j;                                                                         \
            const double wi = w ? w[i] : 1.0, et = eta[j], u = mu[j];                                         \
            b |= !(et > eta_lo && et < eta_hi); /* 1e-300 < mu < 8e307 (NaN fails too) */                     \
            tail += wi * (u - y[i] * et);                                                                     \
            Wn[i] = wi * u;                                                                                   \
            z0n[i] = et - (off ? off[i] : 0.0) + (y[i] - u) / u;                                              \
            b |= !(Wn[i] > 0 && Wn[i] < INFINITY);                                                            \
        }                                                                                                     \
    }                                                                                                         \
    b |= (bad4[0] | bad4[1] | bad4[2] | bad4[3]) != 0;                                                        \
    *bad = b;                                                                                                 \
    return 2.0 * (st->dev0 + (((dev4[0] + dev4[1]) + (dev4[2] + dev4[3])) + tail));
static double irls_update_v(const sample *s, irls *st, int *bad) { UPDATE_BODY(vexp_v2) }
__attribute__((target("avx2"))) static double irls_update_x(const sample *s, irls *st, int *bad) { UPDATE_BODY(vexp_x4) }

#undef UPDATE_BODY
#undef LD4
#undef ST4

static double irls_update(const sample *s, irls *st, int *bad)
{
    return vexp_avx2() ? irls_update_x(s, st, bad) : irls_update_v(s, st, bad);
}

static void swap_ptr(double **a, double **b) { double *t = *a; *a = *b; *b = t; }

/* Collective. IRLS to convergence: each iteration demeans the working outcome z = eta - offset + (y - mu)/mu and
 * the regressors with weights W = w mu (warm-started), takes the weighted least-squares step, and updates
 * eta = offset + z - residual, mu = exp(eta), from glm's start mu = y + 0.1 (offset 0 without --offset; as in
 * glm and ppmlhdfe the offset enters the linear predictor with coefficient 1, the start does not use it).
 * The inner tolerance starts at 1e-2 and follows a tenth of the square root of the relative deviance change
 * down to --fe-tol (at once when the change is within 1000 times --ppml-tol); convergence needs the deviance
 * criterion at the final inner tolerance. (Going to --fe-tol when eps^2 < --ppml-tol, as Newton's quadratic
 * convergence would suggest, saved one iteration on the default panel but cost one on the AGTPA panel, where the
 * next change was 350 eps^2.)
 * On return st->Xt, st->z hold the demeaned design and working outcome of the last iteration, st->W its
 * weights. */
static int irls_run(MPI_Comm comm, gr_absorber *ab, const sample *s, const gr_model_opts *o, const gr_ppml_opts *po,
                    const gr_model_data *d, int j, irls *st)
{
    int64_t n = s->n;
    int kx = s->kx;
    if (!st->W) irls_alloc(s, st);
    int64_t nc = gr_fe_ncoef(&ab->fe);
    st->alpha = gr_malloc((size_t)kx + 1, sizeof *st->alpha);
    for (int q = 0; q <= kx; q++) st->alpha[q] = gr_calloc((size_t)(nc ? nc : 1), sizeof(double));
    st->dev0 = 0;
    for (int64_t i = 0; i < n; i++) {  /* glm's start mu = y + 0.1 */
        double y = s->y[i], mu = y + 0.1;
        st->dev0 += (s->w ? s->w[i] : 1.0) * ((y > 0 ? y * log(y) : 0.0) - y);
        working_row(s, i, log(mu), mu, st->W, st->z0);
    }
    double dev_prev = NAN, itol = o->absorb.tol > 1e-2 ? o->absorb.tol : 1e-2, eps = INFINITY;
    int rc = GR_OK;
    for (st->iters = 0; !rc && st->iters < po->maxiter;) {
        st->iters++;
        rc = demean_all(ab, s, st->Xt, st->z0, st->z, st->iters == 1 ? W_CHECK : W_TRUSTED, st->W, itol,
                        ab->fe.nfe ? st->alpha : NULL, &st->inner);
        if (!rc) rc = gr_agree(comm, wls(comm, n, kx, st->Xt, st->z, st->W, o->fit.collin_tol, NULL, NULL, st->beta));
        if (rc) break;
        int bad = 0;
        double dev = irls_update(s, st, &bad);
        MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, comm);
        st->dev = dev = dsum_all(comm, dev);
        if (bad || !isfinite(dev))
            rc = gr_fail(GR_ENUM, where_of(d), "outcome '%s': the fitted mean left the range of double precision at "
                         "IRLS iteration %d (a separated observation the checks did not catch, or values too large)",
                         d->ylabel[j], st->iters);
        if (rc) break;
        eps = isnan(dev_prev) ? INFINITY : fabs(dev - dev_prev) / (0.1 + fabs(dev));
        dev_prev = dev;
        if (eps < po->tol && itol <= o->absorb.tol) {
            weighted_tss(comm, s, st->z0, st->W, st->tss);
            int rank;
            MPI_Comm_rank(comm, &rank);
            /* below 0.1 the criterion's 0.1 dominates (an absolute test): warn when a relative test would go on */
            if (fabs(dev) < 0.1 && eps * (0.1 + fabs(dev)) >= po->tol * fabs(dev) && rank == 0)
                gr_warn("%s: outcome '%s': IRLS stopped at a deviance of %.3g, below the 0.1 in the convergence "
                        "criterion |change| / (0.1 + deviance) (fixest's), which is then not relative and may stop "
                        "early: multiply the outcome by a power of 10 (the estimates other than the fixed effects and "
                        "the intercept do not depend on its scale)", where_of(d), d->ylabel[j], dev);
            return GR_OK;
        }
        swap_ptr(&st->W, &st->Wn); swap_ptr(&st->z0, &st->z0n);
        /* the demeaning error moves the coefficients by about itol and the deviance by its square: a tenth of
         * sqrt(eps) keeps the step accurate enough; near convergence, the final tolerance at once */
        double next = eps < 1e3 * po->tol ? 0 : 0.1 * sqrt(eps);
        if (next > 1e-2) next = 1e-2;
        itol = next > o->absorb.tol ? next : o->absorb.tol;
    }
    if (rc) return rc;
    return gr_fail(GR_ENUM, where_of(d), "outcome '%s': IRLS did not converge within %d iterations (last relative "
                   "deviance change %.3g, tolerance %.3g): give a larger --ppml-maxiter or check the model",
                   d->ylabel[j], po->maxiter, eps, po->tol);
}

/* Local. fixest's fepois conventions on top of fit.c's least-squares output (docs/ppml.md): iid variance
 * (n-1)/(n-K) (X'WX)^-1 (no dispersion), z tests with the normal distribution, no R2 or F. */
static void poisson_stats(gr_result *r, const gr_vcov_spec *vs)
{
    double N = (double)r->nobs;
    double f = vs->type == GR_VCOV_IID && r->rss > 0 ? sqrt((N - 1) / r->rss) : 1.0;
    for (int a = 0; a < r->k; a++) {
        r->se[a] *= f;
        r->tval[a] = r->se[a] > 0 ? r->coef[a] / r->se[a] : NAN;
        r->pval[a] = r->se[a] > 0 ? 2.0 * gsl_cdf_ugaussian_Q(fabs(r->tval[a])) : NAN;
    }
    r->r2 = r->adj_r2 = r->within_r2 = r->f_stat = r->f_pval = r->f_df1 = r->f_df2 = r->rmse = NAN;
    r->df_t = INFINITY;
    r->family = "poisson";
}

/* Collective. Separation checks on s: all-zero groups (and singletons), then the ReLU; the absorber is set up
 * on the rows that remain. An offset plays no part: whether the estimates exist depends on y and the regressors
 * and fixed effects only, a finite offset shifts every row's index by a finite amount (ppmlhdfe's checks do not
 * read it either); the offsets of dropped rows go with them (sample_compact). */
static int prepare(MPI_Comm comm, const gr_model_data *d, int j, const gr_model_opts *o, const gr_ppml_opts *po,
                   sample *s, gr_absorber *ab, gr_result *r, irls *st)
{
    double ysum = 0;
    for (int64_t i = 0; i < s->n; i++) ysum += s->y[i];
    int64_t nobs = sum_all(comm, s->n);
    if (dsum_all(comm, ysum) == 0)
        return gr_fail(GR_EINPUT, where_of(d), "outcome '%s' is 0 on all %lld rows: Poisson PML has nothing to "
                       "estimate", d->ylabel[j], (long long)nobs);
    /* all-zero groups (and singletons), on the absorber's levels, until nothing changes; rebuilt after a drop */
    GR_CALL(absorber_on(comm, d, s, o, ab));
    unsigned char *keep = gr_malloc((size_t)(s->n ? s->n : 1), 1);
    while (po->separation || o->absorb.rm_singletons) {
        int64_t sep = 0, single = 0;
        fe_group_round(comm, ab, s, po->separation, o->absorb.rm_singletons, keep, &sep, &single);
        if (sep + single == 0) break;
        r->n_sep_fe += sep;
        r->n_singletons += single;
        sample_compact(s, keep);
        gr_absorber_free(ab);
        if (sum_all(comm, s->n) == 0) {
            free(keep);
            return gr_fail(GR_EINPUT, where_of(d), "outcome '%s': every observation is separated (all %lld rows lie "
                           "in fixed-effect groups whose outcome is all zero): the estimates do not exist",
                           d->ylabel[j], (long long)nobs);
        }
        int rc = absorber_on(comm, d, s, o, ab);
        if (rc) { free(keep); return rc; }
    }
    free(keep);
    if (!po->separation || (s->kx == 0 && s->nfe == 0)) return GR_OK;
    unsigned char *sep = gr_malloc((size_t)(s->n ? s->n : 1), 1);
    irls_alloc(s, st);  /* the separation check works in IRLS's arrays (the rows only get fewer) */
    double *const buf[4] = {st->W, st->z, st->z0, st->Xt};
    int rc = relu_check(comm, ab, s, po, o->absorb.tol, o->fit.collin_tol, sep, &r->n_sep_relu, &r->relu_iterations,
                        &r->inner_iterations, buf);
    if (!rc && r->n_sep_relu > 0) {
        for (int64_t i = 0; i < s->n; i++) sep[i] = !sep[i];
        sample_compact(s, sep);
        gr_absorber_free(ab);
        if (sum_all(comm, s->n) == 0)
            rc = gr_fail(GR_EINPUT, where_of(d), "outcome '%s': every observation is separated: the estimates do not "
                         "exist", d->ylabel[j]);
        else rc = absorber_on(comm, d, s, o, ab);
    }
    free(sep);
    return rc;
}

/* Local. The result of a model with fixed effects and no regressor: no coefficient table. */
static void fe_only(gr_result *r, int64_t nobs)
{
    r->nobs = nobs;
    r->k = 0;
    r->terms = gr_malloc(1, sizeof *r->terms);
    r->coef = gr_malloc(1, sizeof(double)); r->se = gr_malloc(1, sizeof(double));
    r->tval = gr_malloc(1, sizeof(double)); r->pval = gr_malloc(1, sizeof(double));
    r->collin = gr_malloc(1, sizeof *r->collin);
}

/* Collective. One outcome: sample, separation, IRLS, the final fit and variance. */
static int fit_outcome(MPI_Comm comm, const gr_model_data *d, const double *off, int j, const gr_model_opts *o,
                       const gr_ppml_opts *po, gr_result *r)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    double t0 = gr_now();
    sample s;
    memset(&s, 0, sizeof s);
    gr_absorber ab;
    memset(&ab, 0, sizeof ab);
    irls st;
    memset(&st, 0, sizeof st);
    int rc = sample_gather(comm, d, off, j, &s, r);
    if (!rc) rc = gr_agree(comm, prepare(comm, d, j, o, po, &s, &ab, r, &st));
    if (!rc && rank == 0 && (r->n_sep_fe || r->n_sep_relu))
        gr_warn("%s: %s: %lld observations dropped as separated (%lld in fixed-effect groups with an all-zero outcome, "
                "%lld by the ReLU check)", where_of(d), d->ylabel[j], (long long)(r->n_sep_fe + r->n_sep_relu),
                (long long)r->n_sep_fe, (long long)r->n_sep_relu);
    gr_vcov_spec vs;
    memset(&vs, 0, sizeof vs);
    int *nested = gr_calloc((size_t)(d->nfe + 1), sizeof *nested);
    if (!rc) rc = gr_agree(comm, cluster_ids(comm, d, o, &ab, &s, &vs, nested));
    if (!rc) rc = gr_agree(comm, irls_run(comm, &ab, &s, o, po, d, j, &st));
    gr_fit fd;
    memset(&fd, 0, sizeof fd);
    char **xlab = gr_malloc((size_t)(s.kx ? s.kx : 1), sizeof *xlab);
    if (d->intercept) xlab[0] = GR_INTERCEPT_LABEL;
    for (int q = 0; q < d->nx; q++) xlab[q + d->intercept] = d->xlabel[q];
    if (!rc && s.kx > 0) {
        rc = gr_agree(comm, gr_fit_init(comm, s.n, s.kx, st.Xt, xlab, st.tss, st.W, d->nfe > 0, &o->fit, d->label, &fd));
        st.Xt = NULL;  /* the fit owns it */
    }
    gr_fit_inference inf = {.vcov = vs, .K_fe = gr_absorber_dof(&ab, NULL), .K_fe_vcov = gr_absorber_dof(&ab, nested)};
    if (!rc && s.kx > 0) rc = gr_agree(comm, gr_fit_outcome(&fd, st.z, st.tss[s.kx], &inf, &o->fit, r));
    if (!rc && s.kx == 0) fe_only(r, ab.nobs);  /* y ~ 1 | fe: fixed effects alone (fixest allows it) */
    if (!rc) {
        gr_model_describe(d, o, &ab, &vs, r);
        poisson_stats(r, &vs);
        r->deviance = st.dev;
        r->irls_iterations = st.iters;
        r->inner_iterations += st.inner;
        /* index: everything of this outcome's estimation that is not demeaning, solving or the variance (the
         * sample, separation checks, clusters and the IRLS passes), so that the timings add up to its time */
        r->t_index = gr_now() - t0 - r->t_demean - r->t_solve - r->t_vcov;
    }
    gr_fit_free(&fd);
    irls_free(&st, s.kx);
    free(xlab); free(nested);
    for (int c = 0; c < 3; c++) free((int32_t *)vs.cl[c]);
    ab.w = NULL;  /* ours (st.W), not the absorber's */
    gr_absorber_free(&ab);
    sample_free(&s);
    return rc;
}

int gr_ppml_fit(MPI_Comm comm, const gr_model_data *d, const double *off, const gr_model_opts *o,
                const gr_ppml_opts *po, gr_result **out)
{
    int rank, rc = GR_OK;
    MPI_Comm_rank(comm, &rank);
    gr_result *res = gr_calloc((size_t)d->ny, sizeof *res);
    for (int j = 0; j < d->ny; j++) gr_model_result_init(&res[j], d, j);
    if (d->nfe > 16) rc = gr_fail(GR_EINPUT, "formula", "at most 16 fixed-effect dimensions, got %d", d->nfe);
    for (int j = 0; j < d->ny && !rc; j++) rc = fit_outcome(comm, d, off, j, o, po, &res[j]);
    rc = gr_agree(comm, rc);
    if (rc) {
        for (int j = 0; j < d->ny; j++) gr_result_free(&res[j]);
        free(res);
        return rc;
    }
    *out = res;
    return GR_OK;
}
