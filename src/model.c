/* model.c: one model on the evaluated columns of one sample (see model.h):
 *   usable rows and outcome groups (here) -> absorber per group (absorber.c: levels, singletons,
 *   demeaning) -> clusters and nesting (here, levels.c) -> one fit per outcome (fit.c, vcov.c). */
#include "model.h"
#include "mediation.h"
#include "formula.h"
#include "leverage.h"
#include "levels.h"
#include "pool.h"
#include "rowsel.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { ROW_MISSING = GR_ROW_MISSING, ROW_INF = GR_ROW_INF, ROW_ZERO_WEIGHT = 4 };
#define value_flags gr_value_flags  /* rowsel.h */

/* 1 if d carries the row flags of its columns (a caching frame's; a NULL entry: no row flagged). */
static int has_flags(const gr_model_data *d)
{
    return d->yflag && d->xflag && d->feflag && d->clflag;
}

/* flag[i] |= b[i] (b NULL: nothing flagged). */
static void or_flags(unsigned char *flag, const unsigned char *b, int64_t n)
{
    for (int64_t i = 0; b && i < n; i++) flag[i] |= b[i];
}

/* Flags of each row from the regressors and codes, in one pass over the rows (each row's values read
 * together), then the weights. Fails on a negative or infinite weight. */
static int row_flags(const gr_model_data *d, unsigned char *flag)
{
    int64_t n = d->n;
    const int nx = d->nx, nfe = d->nfe, ncl = d->ncl;
    if (has_flags(d)) {  /* the frame's flags of each column: a byte per row, or-ed */
        memset(flag, 0, (size_t)n);
        for (int j = 0; j < nx; j++) or_flags(flag, d->xflag[j], n);
        for (int k = 0; k < nfe; k++) or_flags(flag, d->feflag[k], n);
        for (int c = 0; c < ncl; c++) or_flags(flag, d->clflag[c], n);
    } else if (nx <= 16 && nfe <= 16) {
        const double *x[16];
        const int32_t *fc[16], *cc[2];
        for (int j = 0; j < nx; j++) x[j] = d->x[j];
        for (int k = 0; k < nfe; k++) fc[k] = d->fecode[k];
        for (int c = 0; c < ncl; c++) cc[c] = d->clcode[c];
        for (int64_t i = 0; i < n; i++) {
            int f = 0;
            for (int j = 0; j < nx; j++) f |= value_flags(x[j][i]);
            for (int k = 0; k < nfe; k++) f |= fc[k][i] < 0;
            for (int c = 0; c < ncl; c++) f |= cc[c][i] < 0;
            flag[i] = (unsigned char)f;
        }
    } else {
        memset(flag, 0, (size_t)n);
        for (int j = 0; j < nx; j++)
            for (int64_t i = 0; i < n; i++) flag[i] |= (unsigned char)value_flags(d->x[j][i]);
        for (int k = 0; k < nfe; k++)
            for (int64_t i = 0; i < n; i++) flag[i] |= (unsigned char)(d->fecode[k][i] < 0);
        for (int c = 0; c < ncl; c++)
            for (int64_t i = 0; i < n; i++) flag[i] |= (unsigned char)(d->clcode[c][i] < 0);
    }
    for (int64_t i = 0; d->w && i < n; i++) {
        double w = d->w[i];
        if (w != w) flag[i] |= ROW_MISSING;
        else if (w == 0) flag[i] |= ROW_ZERO_WEIGHT;
        else if (!(w > 0) || isinf(w))
            return gr_fail(GR_EINPUT, d->wname ? d->wname : "--weights",
                           "weights must be positive and finite, found %g", w);
    }
    return GR_OK;
}

/* Per outcome j: keep[j][i] = row usable for it; counts of rows dropped as missing, infinite and with
 * zero weight (a row counts once: missing first); group[j] = the first outcome with the same rows. */
static void outcome_masks(MPI_Comm comm, const gr_model_data *d, const unsigned char *flag, unsigned char **keep,
                          gr_result *res, int *group)
{
    int64_t n = d->n;
    for (int j = 0; j < d->ny; j++) {
        const double *y = d->y[j];
        unsigned char *kj = keep[j];
        int64_t cnt[3] = {0, 0, 0};
        if (has_flags(d)) {
            memcpy(kj, flag, (size_t)n);
            or_flags(kj, d->yflag[j], n);
        } else
            for (int64_t i = 0; i < n; i++) kj[i] = (unsigned char)(flag[i] | value_flags(y[i]));
        for (int64_t i = 0; i < n; i++) {  /* kj holds the row's flags here, then whether it is kept */
            int f = kj[i];
            kj[i] = f == 0;
            if (f) {  /* rare: count it */
                cnt[0] += (f & ROW_MISSING) != 0;
                cnt[1] += (f & (ROW_MISSING | ROW_INF)) == ROW_INF;
                cnt[2] += f == ROW_ZERO_WEIGHT;
            }
        }
        MPI_Allreduce(MPI_IN_PLACE, cnt, 3, MPI_INT64_T, MPI_SUM, comm);
        res[j].n_missing = cnt[0];
        res[j].n_nonfinite = cnt[1];
        res[j].n_zero_weight = cnt[2];
        group[j] = j;
        for (int l = 0; l < j && group[j] == j; l++) {
            if (group[l] != l) continue;
            int same = memcmp(keep[l], keep[j], (size_t)n) == 0;
            MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, comm);
            if (same) group[j] = l;
        }
    }
}

/* 1 if cols[j] = cols[0] + j*n for every j (one block). */
static int is_block(double *const *cols, int k, int64_t n)
{
    for (int j = 1; j < k; j++)
        if (cols[j] != cols[0] + (size_t)j * n) return 0;
    return k > 0;
}

/* The arrays of one outcome group on its rows, owned by the group. */
typedef struct group_data {
    int64_t n;
    int kx, nys;
    double *X, *Y;              /* n x kx (intercept first), n x nys: contiguous blocks */
    int32_t *fe[16], *cl[2];
    double *w;
} group_data;

/* A block of k columns on the selected rows: d's own block compacted in place when `take`, else a copy. */
static double *select_block(const gr_rowsel *s, double *const *cols, int k, int take, int extra_front)
{
    double *B = take ? cols[0] : gr_malloc((size_t)(s->m ? s->m : 1) * (size_t)(k + extra_front), sizeof *B);
    for (int j = 0; j < k; j++) gr_rowsel_apply(s, cols[j], B + (size_t)(j + extra_front) * s->m, sizeof *B);
    return B;
}

static int32_t *select_codes(const gr_rowsel *s, int32_t *code, int take)
{
    int32_t *c = take ? code : gr_malloc((size_t)(s->m ? s->m : 1), sizeof *c);
    gr_rowsel_apply(s, code, c, sizeof *c);
    return c;
}

/* Gather the group's rows (keep) of regressors, outcomes ys[0..nys), codes and weights. With `take`
 * (released data, one group), d's blocks and arrays are compacted in place and taken from d. */
static void group_gather(gr_model_data *d, const unsigned char *keep, const int *ys, int nys, int take,
                         const gr_fe_levels *pre, group_data *g)
{
    gr_rowsel s;
    gr_rowsel_init(&s, d->n, keep);
    memset(g, 0, sizeof *g);
    g->n = s.m;
    g->nys = nys;
    g->kx = d->nx + (d->intercept ? 1 : 0);
    int xin = take && !d->intercept && is_block(d->x, d->nx, d->n);
    int yin = take && nys == d->ny && is_block(d->y, d->ny, d->n);
    if (d->nx > 0 || d->intercept) g->X = select_block(&s, d->x, d->nx, xin, d->intercept);
    else g->X = gr_malloc(1, sizeof *g->X);
    for (int64_t i = 0; d->intercept && i < s.m; i++) g->X[i] = 1.0;
    double **yc = gr_malloc((size_t)nys, sizeof *yc);
    for (int j = 0; j < nys; j++) yc[j] = d->y[ys[j]];
    g->Y = select_block(&s, yc, nys, yin, 0);
    free(yc);
    for (int k = 0; k < d->nfe; k++) g->fe[k] = pre[k].id ? NULL : select_codes(&s, d->fecode[k], take);  /* pre: not read */
    for (int c = 0; c < d->ncl; c++) g->cl[c] = select_codes(&s, d->clcode[c], take);
    if (d->w) g->w = select_block(&s, &d->w, 1, take, 0);
    if (take) {  /* what the group took is no longer d's; what it did not take, d still frees */
        if (xin) { d->x[0] = NULL; }
        if (yin) { d->y[0] = NULL; }
        for (int k = 0; k < d->nfe; k++) d->fecode[k] = NULL;
        for (int c = 0; c < d->ncl; c++) d->clcode[c] = NULL;
        d->w = NULL;
    }
    gr_rowsel_free(&s);
}

/* Cluster ids on the absorber's rows: dense ids of each variable (or the first fixed effect's level ids),
 * the intersection for two-way, each with at least two clusters; nested[k] per fixed effect. */
static int cluster_ids(MPI_Comm comm, const gr_model_data *d, const gr_model_opts *o, gr_absorber *ab,
                       group_data *g, gr_vcov_spec *vs, int *nested)
{
    int ncl = gr_vcov_clustered(o->vcov) ? (o->cluster_on_fe ? 1 : d->ncl) : 0;
    int64_t n = ab->n;
    vs->type = o->vcov;
    vs->ncluster = ncl;
    vs->min_cluster_df = 1;
    int32_t **cl = (int32_t **)vs->cl;
    if (o->cluster_on_fe && ncl == 1) {
        cl[0] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
        memcpy(cl[0], ab->fe.id[0], (size_t)n * sizeof(int32_t));
        vs->G[0] = ab->fe.nlevels[0];
    }
    for (int c = 0; c < ncl && !o->cluster_on_fe; c++) {
        gr_absorber_compact_i32(ab, g->cl[c]);
        cl[c] = g->cl[c];
        g->cl[c] = NULL;
        GR_CALL(gr_agree(comm, gr_codes_dense(comm, n, cl[c], d->clncode[c], cl[c], &vs->G[c])));
    }
    for (int c = 0; c < ncl; c++) {
        if (vs->G[c] >= 2) continue;
        if (o->cluster_on_fe)  /* no --cluster was given: the default variance clusters by the first fixed effect */
            return gr_fail(GR_EINPUT, d->label ? d->label : "sample", "fixed effect '%s' has a single level, and the "
                           "default variance clusters by the first fixed effect: clustered standard errors need at "
                           "least 2 clusters (give --vcov iid or hc1, or --cluster COL)", d->fename[0]);
        return gr_fail(GR_EINPUT, "--cluster", "'%s' has a single cluster in %s: clustered standard errors need "
                       "at least 2", d->clname[c], d->label ? d->label : "the sample");
    }
    return gr_vcov_clusters_finish(comm, ab, d->nfe, vs, nested);
}

/* Repack columns compacted in place at stride `from` to stride `to` <= from (after singleton removal). */
static void restride(double *B, int k, int64_t from, int64_t to)
{
    for (int j = 1; j < k && from != to; j++) memmove(B + (size_t)j * to, B + (size_t)j * from, (size_t)to * sizeof *B);
}

void gr_model_describe(const gr_model_data *d, const gr_model_opts *o, const gr_absorber *ab, const gr_vcov_spec *vs,
                       gr_result *r)
{
    for (int k = 0; k < d->nfe; k++) r->fesizes[k] = ab->fe.nlevels[k];
    r->ncl = vs->ncluster;
    r->clnames = gr_calloc(2, sizeof *r->clnames);
    for (int c = 0; c < vs->ncluster; c++) {
        r->clnames[c] = gr_strdup(o->cluster_on_fe ? d->fename[0] : d->clname[c]);
        r->G[c] = vs->G[c];
    }
    r->weights = d->w || d->wname ? gr_strdup(d->wname ? d->wname : "weights") : NULL;
    r->iterations = ab->iterations;
    r->converged = ab->converged;
    r->solver = gr_solver_name(o->fit.solver);
    r->vcov_label = o->vcov == GR_VCOV_IID ? "iid" : o->vcov == GR_VCOV_HC1 ? "hc1"
                    : o->vcov == GR_VCOV_CR2 ? "cr2" : o->vcov == GR_VCOV_CR3 ? "cr3"
                    : vs->ncluster == 2 ? "cluster (two-way)" : "cluster";
    r->t_demean = ab->t_demean;
    r->absorber_setups = ab->setups;
    r->columns_demeaned = ab->columns_demeaned;
}

void gr_model_result_init(gr_result *r, const gr_model_data *d, int j)
{
    memset(r, 0, sizeof *r);
    r->yname = gr_strdup(d->ylabel[j]);
    r->sample_label = gr_strdup(d->label ? d->label : "Full sample");
    r->nfe = d->nfe;
    r->fenames = gr_calloc((size_t)(d->nfe ? d->nfe : 1), sizeof *r->fenames);
    r->fesizes = gr_calloc((size_t)(d->nfe ? d->nfe : 1), sizeof *r->fesizes);
    for (int k = 0; k < d->nfe; k++) r->fenames[k] = gr_strdup(d->fename[k]);
    r->converged = 1;
}

void gr_result_free(gr_result *r)
{
    free(r->yname); free(r->sample_label); free(r->weights);
    for (int j = 0; j < r->k; j++) free(r->terms[j]);
    free(r->terms); free(r->coef); free(r->se); free(r->tval); free(r->pval);
    for (int j = 0; j < r->ncollin; j++) free(r->collin[j]);
    free(r->collin);
    for (int k = 0; k < r->nfe; k++) free(r->fenames[k]);
    free(r->fenames); free(r->fesizes);
    for (int k = 0; k < r->ncl; k++) free(r->clnames[k]);
    free(r->clnames);
    free(r->boot_p); free(r->boot_p_et); free(r->boot_lo); free(r->boot_hi);  /* wild bootstrap (wildboot.c) */
    for (int c = 0; c < r->nlev; c++) gr_lev_free(&r->lev[c]);  /* leverage.h */
    free(r->lev);
    memset(r, 0, sizeof *r);
}

static void warn_dropped(const gr_result *r)
{
    if (r->n_missing > 0)
        gr_warn("%s: %lld rows with missing values removed (NA in the data, or NaN from e.g. log of a negative "
                "number)", r->sample_label, (long long)r->n_missing);
    if (r->n_nonfinite > 0)
        gr_warn("%s: %lld rows with non-finite values (e.g. log of 0) removed", r->sample_label,
                (long long)r->n_nonfinite);
    if (r->n_zero_weight > 0)
        gr_warn("%s: %lld rows with zero weight removed", r->sample_label, (long long)r->n_zero_weight);
}

/* Collective (the same status on every rank). Refuse an outcome that takes one value on every row the
 * absorber kept (checked exactly, on the values before demeaning: its centred sum of squares can be a
 * rounding error above 0). Y holds nys columns of ab->n_in rows. */
static int check_constant(MPI_Comm comm, const gr_absorber *ab, const double *Y, int nys, const int *ys,
                          const gr_model_data *d)
{
    double *mm = gr_malloc((size_t)(2 * nys), sizeof *mm);  /* per outcome: min, -max */
    for (int j = 0; j < nys; j++) {
        const double *y = Y + (size_t)j * ab->n_in;
        double lo = INFINITY, hi = -INFINITY;  /* the values are finite here: plain compares vectorise */
        if (!ab->kept)
            for (int64_t i = 0; i < ab->n_in; i++) { double v = y[i]; lo = v < lo ? v : lo; hi = v > hi ? v : hi; }
        else
            for (int64_t i = 0; i < ab->n_in; i++)
                if (ab->kept[i]) { double v = y[i]; lo = v < lo ? v : lo; hi = v > hi ? v : hi; }
        mm[2 * j] = lo;
        mm[2 * j + 1] = -hi;
    }
    MPI_Allreduce(MPI_IN_PLACE, mm, 2 * nys, MPI_DOUBLE, MPI_MIN, comm);
    int rc = GR_OK;
    for (int j = 0; j < nys && !rc; j++)
        if (mm[2 * j] == -mm[2 * j + 1])
            rc = gr_fail(GR_EINPUT, d->label ? d->label : "sample", "outcome '%s' is constant (%g on all %lld rows): "
                         "nothing to estimate", d->ylabel[ys[j]], mm[2 * j], (long long)ab->nobs);
    free(mm);
    return rc;
}

/* The leverage diagnostic (leverage.h) of a clustered fit, one per cluster variable, warned on rank 0;
 * none with --cluster-diag off. Called once per group of outcomes sharing rows and regressors (w, the
 * coefficient's weights, does not depend on the outcome), and copied into each outcome's result. */
static int leverage_diagnostics(MPI_Comm comm, const gr_model_data *d, const gr_model_opts *o, gr_absorber *ab,
                                const gr_fit *fd, const gr_vcov_spec *vs, int64_t K, gr_lev_diag *lev, int *nlev,
                                gr_lev_blocks **blocks)
{
    int rank, rc = GR_OK;
    MPI_Comm_rank(comm, &rank);
    for (int c = 0; c < vs->ncluster && gr_vcov_clustered(vs->type) && o->cluster_diag != GR_LEV_DIAG_OFF && !rc; c++) {
        const char *name = o->cluster_on_fe ? d->fename[0] : d->clname[c];
        rc = gr_agree(comm, gr_lev_diagnose(comm, ab, fd, vs->cl[c], vs->G[c], name, K, (gr_lev_policy)o->cluster_diag,
                                                   GR_LEV_AUTO, 0, c == 0 ? blocks : NULL, &lev[c]));
        if (rc) { gr_lev_free(&lev[c]); break; }
        (*nlev)++;
        if (rank == 0) gr_lev_warn(&lev[c], d->label ? d->label : "sample", vs->type);
    }
    return rc;
}

/* Collective. 1 if the model may share what earlier models of the sample on the same rows made (d's arrays
 * are a frame's, unweighted, copied rather than taken; pool.h): the pool's row cache is then keep's, and
 * pre[k] the levels of fixed effect k made before on these rows (pre[k].id NULL: none). */
static int rows_cache(MPI_Comm comm, const gr_model_data *d, const unsigned char *keep, int take, gr_fe_levels *pre)
{
    memset(pre, 0, 16 * sizeof *pre);
    int rows = d->pool && d->stable && !d->w && !take && d->nfe <= 16;  /* the same on every rank */
    if (!rows) return 0;
    gr_pool_rows(d->pool, comm, d->n, keep);
    for (int k = 0; k < d->nfe; k++) {
        const gr_fe_levels *c = gr_pool_fe_get(d->pool, d->fecode[k]);
        if (c) pre[k] = *c;
    }
    return 1;
}

/* Fit the outcomes ys[0..nys) that share the rows `keep`: gather, absorb, cluster, demean, fit. */
static int fit_group(MPI_Comm comm, gr_model_data *d, const unsigned char *keep, const int *ys, int nys, int take,
                     const gr_model_opts *o, gr_result *res)
{
    int rank, rc = GR_OK;
    MPI_Comm_rank(comm, &rank);
    double t0 = gr_now();
    group_data g;
    gr_fe_levels pre[16];
    int rows = rows_cache(comm, d, keep, take, pre);
    group_gather(d, keep, ys, nys, take, pre, &g);
    int64_t n_in = g.n;
    gr_absorber local, *pab;
    memset(&local, 0, sizeof local);
    rc = gr_pool_absorber(d->pool, comm, g.n, d->nfe, g.fe, d->fencode, d->fename, &g.w, &o->absorb, pre, &local, &pab);
    gr_absorber *ab = pab;  /* pooled (kept for later models of the sample) or local (freed below) */
    rows = rows && !rc && !ab->kept && !ab->w;  /* no singletons removed: ab's rows are keep's */
    for (int k = 0; k < d->nfe && rows; k++) if (!pre[k].id) gr_pool_fe_put(d->pool, d->fecode[k], &ab->fe, k);
    double t_demean0 = ab->t_demean;
    if (!rc && ab->nobs == 0)
        rc = gr_fail(GR_EINPUT, d->label ? d->label : "sample", "no observations left to estimate %s%s",
                     d->ylabel[ys[0]], ab->n_singletons ? " (after removing singletons)" : "");
    for (int k = 0; k < d->nfe && !rc; k++)
        if (ab->fe.nlevels[k] == 1 && rank == 0)
            gr_warn("fixed effect '%s' has a single level in %s: it acts as an intercept", d->fename[k],
                    d->label ? d->label : "the sample");
    if (!rc) rc = check_constant(comm, ab, g.Y, nys, ys, d);
    gr_vcov_spec vs;
    memset(&vs, 0, sizeof vs);
    int *nested = gr_calloc((size_t)(d->nfe + 1), sizeof *nested);
    if (!rc) rc = gr_agree(comm, cluster_ids(comm, d, o, ab, &g, &vs, nested));
    /* regressors and outcomes demeaned together: one pass of the kernels */
    int kx = g.kx, ncols = kx + nys;
    double **cols = gr_malloc((size_t)ncols, sizeof *cols), *tss = gr_calloc((size_t)ncols, sizeof *tss);
    for (int j = 0; j < kx; j++) cols[j] = g.X + (size_t)j * n_in;
    for (int j = 0; j < nys; j++) cols[kx + j] = g.Y + (size_t)j * n_in;
    const char **labels = gr_malloc((size_t)ncols, sizeof *labels);
    if (d->intercept) labels[0] = GR_INTERCEPT_LABEL;
    for (int j = 0; j < d->nx; j++) labels[j + d->intercept] = d->xlabel[j];
    for (int j = 0; j < nys; j++) labels[kx + j] = d->ylabel[ys[j]];
    unsigned char *have = gr_calloc((size_t)ncols, 1);
    const void **src = gr_calloc((size_t)ncols, sizeof *src);
    for (int j = 0; j < d->nx && rows; j++) src[j + d->intercept] = d->x[j];
    for (int j = 0; j < nys && rows; j++) src[kx + j] = d->y[ys[j]];
    for (int j = 0; j < ncols && rows; j++) have[j] = (unsigned char)gr_pool_tss_get(d->pool, src[j], &tss[j]);
    if (rows) MPI_Allreduce(MPI_IN_PLACE, have, ncols, MPI_UNSIGNED_CHAR, MPI_MIN, comm);  /* agreed (they are) */
    if (!rc) rc = gr_pool_demean(d->pool, ab, ncols, cols, labels, tss, have);
    for (int j = 0; j < ncols && rows && !rc; j++) if (!have[j]) gr_pool_tss_put(d->pool, src[j], tss[j]);
    free(have);
    free(src);
    free(labels);
    double t_index = gr_now() - t0 - (ab->t_demean - t_demean0);  /* gather, levels, clusters, column moments */
    free(cols);
    restride(g.X, kx, n_in, ab->n);
    restride(g.Y, nys, n_in, ab->n);
    if (!ab->converged && rank == 0)
        gr_warn("demeaning did not converge within %d iterations (tolerance %g): results are approximate "
                "(converged: false)", o->absorb.maxiter, o->absorb.tol);
    gr_fit fd;
    memset(&fd, 0, sizeof fd);
    char **xlab = gr_malloc((size_t)(kx ? kx : 1), sizeof *xlab);
    if (d->intercept) xlab[0] = GR_INTERCEPT_LABEL;
    for (int j = 0; j < d->nx; j++) xlab[j + d->intercept] = d->xlabel[j];
    if (!rc) {
        rc = gr_agree(comm, gr_fit_init(comm, ab->n, kx, g.X, xlab, tss, ab->w, d->nfe > 0, &o->fit, d->label, &fd));
        g.X = NULL;  /* the fit owns it now */
    }
    vs.absorber = ab;  /* CR2/CR3 (leverage.h) */
    gr_fit_inference inf = {.vcov = vs, .K_fe = gr_absorber_dof(ab, NULL), .K_fe_vcov = gr_absorber_dof(ab, nested),
                             .boot = o->boot};
    gr_lev_diag lev[2];
    int nlev = 0;
    gr_lev_blocks *blocks = NULL;  /* CR2/CR3: P_D,gg from the diagnostic, demeaned once for both */
    int cr23 = vs.type == GR_VCOV_CR2 || vs.type == GR_VCOV_CR3;
    if (!rc) rc = leverage_diagnostics(comm, d, o, ab, &fd, &vs, fd.nkept + inf.K_fe_vcov, lev, &nlev,
                                       cr23 ? &blocks : NULL);
    inf.vcov.lev_blocks = blocks;
    for (int j = 0; j < nys && !rc; j++) {
        rc = gr_agree(comm, gr_fit_outcome(&fd, g.Y + (size_t)j * ab->n, tss[kx + j], &inf, &o->fit, &res[j]));
        res[j].n_singletons = ab->n_singletons;
        gr_model_describe(d, o, ab, &vs, &res[j]);
        res[j].t_index = t_index;
        if (!rc && j == 0 && d->scores)  /* mediation.h: the influence of one coefficient, summed by cluster */
            rc = gr_agree(comm, gr_scores_collect(d->scores, &fd, g.Y, &vs, fd.nkept + inf.K_fe_vcov));
        res[j].nlev = nlev;
        res[j].lev = gr_calloc(2, sizeof *res[j].lev);
        for (int c = 0; c < nlev; c++) gr_lev_copy(&lev[c], &res[j].lev[c]);
        for (int c = 0; c < nlev; c++) res[j].t_cluster_diag += lev[c].seconds;
    }
    for (int c = 0; c < nlev; c++) gr_lev_free(&lev[c]);
    gr_lev_blocks_free(blocks);
    gr_fit_free(&fd);
    free(g.X); free(g.Y); free(g.w); free(xlab); free(tss); free(nested);
    for (int k = 0; k < d->nfe; k++) free(g.fe[k]);  /* NULL once the absorber took them */
    for (int c = 0; c < d->ncl; c++) free(g.cl[c]);
    for (int c = 0; c < 3; c++) free((int32_t *)vs.cl[c]);
    if (ab == &local) gr_absorber_free(&local);
    return rc;
}

/* With release: free what the model took from d and did not hand on (blocks, codes, weights). */
static void release_data(gr_model_data *d)
{
    if (d->ny > 0) { free(d->y[0]); for (int j = 0; j < d->ny; j++) d->y[j] = NULL; }
    if (d->nx > 0) { free(d->x[0]); for (int j = 0; j < d->nx; j++) d->x[j] = NULL; }
    for (int k = 0; k < d->nfe; k++) { free(d->fecode[k]); d->fecode[k] = NULL; }
    for (int c = 0; c < d->ncl; c++) { free(d->clcode[c]); d->clcode[c] = NULL; }
    free(d->w);
    d->w = NULL;
}

int gr_model_fit(MPI_Comm comm, gr_model_data *d, int release, const gr_model_opts *o, gr_result **out)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    double t0 = gr_now();
    int64_t n = d->n;
    gr_result *res = gr_calloc((size_t)d->ny, sizeof *res);
    for (int j = 0; j < d->ny; j++) gr_model_result_init(&res[j], d, j);
    unsigned char *flag = gr_malloc((size_t)(n ? n : 1), 1);
    int rc = gr_agree(comm, row_flags(d, flag));
    unsigned char **keep = gr_malloc((size_t)d->ny, sizeof *keep);
    int *group = gr_malloc((size_t)d->ny, sizeof *group), ngroups = 0;
    for (int j = 0; j < d->ny; j++) keep[j] = gr_malloc((size_t)(n ? n : 1), 1);
    if (!rc) outcome_masks(comm, d, flag, keep, res, group);
    free(flag);
    for (int j = 0; j < d->ny; j++) ngroups += group[j] == j;
    double t_masks = gr_now() - t0;
    int *ys = gr_malloc((size_t)d->ny, sizeof *ys);
    for (int j = 0; j < d->ny && !rc; j++) {
        if (group[j] != j) continue;
        int nys = 0;
        for (int l = j; l < d->ny; l++) if (group[l] == j) ys[nys++] = l;
        if (rank == 0) warn_dropped(&res[j]);
        gr_result *tmp = gr_calloc((size_t)nys, sizeof *tmp);
        for (int l = 0; l < nys; l++) tmp[l] = res[ys[l]];
        rc = fit_group(comm, d, keep[j], ys, nys, release && ngroups == 1, o, tmp);
        for (int l = 0; l < nys; l++) { tmp[l].t_index += j == 0 ? t_masks : 0; res[ys[l]] = tmp[l]; }
        free(tmp);
    }
    free(ys);
    for (int j = 0; j < d->ny; j++) free(keep[j]);
    free(keep); free(group);
    if (release) release_data(d);
    rc = gr_agree(comm, rc);
    if (rc) {
        for (int j = 0; j < d->ny; j++) gr_result_free(&res[j]);
        free(res);
        return rc;
    }
    *out = res;
    return GR_OK;
}

int gr_model_codes_from_keys(MPI_Comm comm, int64_t n, int nkeys, double *const *key, int32_t **code, int64_t *ncode)
{
    int rc = GR_OK;
    for (int k = 0; k < nkeys; k++) code[k] = NULL;
    for (int k = 0; k < nkeys && !rc; k++) {
        code[k] = gr_malloc((size_t)(n ? n : 1), sizeof *code[k]);
        rc = gr_agree(comm, gr_codes_from_keys(comm, n, key[k], code[k], &ncode[k]));
    }
    return rc;
}
