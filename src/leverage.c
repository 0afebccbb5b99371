/* leverage.c: the fixed effects' leverage in clustered inference (see leverage.h, docs/vcov.md):
 *   fixed-effect projection   P v = v - demean(v), in the fit's sqrt(w)-scaled space, on the absorber
 *   exact blocks P_D,gg       one demeaned unit vector per row, kept for the rows of its own cluster
 *   diagnostic                R = 1 - (sum_g w_g' P_D,gg w_g + sum_g w_g' X~_g B X~_g' w_g) / w'w
 *   CR2 / CR3                 A_g = (I - H_gg)^(-1/2) or (I - H_gg)^(-1), H_gg = P_D,gg + X~_g B X~_g' */
#include "leverage.h"
#include "levels.h"
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LEV_TOL 1e-10           /* demeaning tolerance of the exact paths' unit vectors (CG's floor is 1e-13 on the residual) */
#define LEV_PROBE_TOL 1e-3      /* the probes' demeaning tolerance: CG stops at a relative preconditioned residual of
                                 * tol^2 = 1e-6 (the sweeps get tol^2 itself); the error of R it leaves is below 1/100
                                 * of the probes' Monte Carlo s.e. (docs/vcov.md, "Probe tolerance") */
#define LEV_EIG_TOL 1e-12       /* clubSandwich's matrix_power: eigenvalues <= 1e-12 count as 0 */
#define LEV_BATCH_VALUES (1 << 23)  /* values of one batch of columns (64 MiB) */

/* ---- the fixed-effect projection through the absorber ---- */

typedef struct fe_proj {
    gr_absorber *ab;
    double *sw;                 /* sqrt of the weights of the kept rows, or NULL */
    double tol;                 /* the demeaning tolerance of the columns (the exact paths' by default) */
    int64_t columns;
    int converged;
    double t0;
    int iter_saved, conv_saved;
    int64_t cols_saved;
    double tdem_saved;
} fe_proj;

/* Local. Save the absorber's counters (restored by proj_done); the tolerance of the exact paths, at most
 * LEV_TOL (the probes set their own). */
static void proj_init(gr_absorber *ab, fe_proj *p)
{
    memset(p, 0, sizeof *p);
    p->ab = ab;
    p->converged = 1;
    p->t0 = gr_now();
    p->tol = ab->o.tol < LEV_TOL ? ab->o.tol : LEV_TOL;
    if (ab->w) {
        p->sw = gr_malloc((size_t)(ab->n ? ab->n : 1), sizeof *p->sw);
        for (int64_t i = 0; i < ab->n; i++) p->sw[i] = sqrt(ab->w[i]);
    }
    p->iter_saved = ab->iterations;
    p->conv_saved = ab->converged;
    p->cols_saved = ab->columns_demeaned;
    p->tdem_saved = ab->t_demean;
}

static void proj_done(fe_proj *p)
{
    gr_absorber *ab = p->ab;
    ab->iterations = p->iter_saved;
    ab->converged = p->conv_saved;
    ab->columns_demeaned = p->cols_saved;
    ab->t_demean = p->tdem_saved;
    free(p->sw);
}

/* Collective. cols[c] (capacity ab->n_in, values on the ab->n kept rows in the fit's scaled space) are
 * replaced by (I - P) v = sqrt(w) demean_W(v / sqrt(w)), on the kept rows. The absorber's fixed effects
 * demean them directly (gr_fe_demean_coef), so that the absorber's and the process's demeaned-column
 * counters (grid manifests) count only the fits' own columns. */
static int proj_resid(fe_proj *p, int ncols, double **cols)
{
    gr_absorber *ab = p->ab;
    for (int c = 0; c < ncols && p->sw; c++)
        for (int64_t i = 0; i < ab->n; i++) cols[c][i] /= p->sw[i];
    int iters = 0, conv = 1;
    if (ab->fe.nfe > 0 && ncols > 0) gr_fe_prepare(&ab->fe);  /* segments kept across the batches */
    if (ab->fe.nfe > 0 && ncols > 0)
        GR_CALL(gr_agree(ab->comm, gr_fe_demean_coef(&ab->fe, ncols, cols, NULL, p->tol, ab->o.maxiter, &iters,
                                                     &conv)));
    p->columns += ncols;
    p->converged &= conv;
    for (int c = 0; c < ncols && p->sw; c++)
        for (int64_t i = 0; i < ab->n; i++) cols[c][i] *= p->sw[i];
    return GR_OK;
}

/* Collective. Columns per batch for `total` columns of n_in local values (at least 4, CG's block): the same
 * on every rank (from the largest n_in), since every batch is one collective demeaning call. */
static int batch_size(MPI_Comm comm, int64_t total, int64_t n_in)
{
    MPI_Allreduce(MPI_IN_PLACE, &n_in, 1, MPI_INT64_T, MPI_MAX, comm);
    int64_t b = LEV_BATCH_VALUES / (n_in > 0 ? n_in : 1);
    if (b < 4) b = 4;
    if (b > total) b = total;
    return (int)(b > 0 ? b : 1);
}

static void allreduce_sum_chunked(MPI_Comm comm, double *x, int64_t n)
{
    for (int64_t off = 0; off < n; off += INT_MAX) {
        int len = (int)(n - off < INT_MAX ? n - off : INT_MAX);  /* at most INT_MAX by the test */
        MPI_Allreduce(MPI_IN_PLACE, x + off, len, MPI_DOUBLE, MPI_SUM, comm);
    }
}

/* ---- exact P_D,gg blocks ---- */

typedef struct gr_lev_blocks {
    int64_t N, G, off;          /* rows in all, clusters, this rank's first global row */
    const int32_t *cl;          /* the cluster ids they were made for (the caller's) */
    int converged;              /* the unit vectors' demeaning converged */
    int *counts, *displs;       /* rows per rank (Allgatherv) */
    int64_t *start, *row;       /* rows of cluster g: row[start[g] .. start[g+1]), global row numbers */
    int64_t *pos;               /* position of each global row in its cluster */
    int32_t *clg;               /* cluster of each global row */
    int64_t *boff;              /* block of cluster g: P[boff[g] ..), n_g x n_g column-major */
    double *P;                  /* P_D,gg for every g, replicated */
} hblocks;

static void hblocks_free(hblocks *h)
{
    free(h->counts); free(h->displs); free(h->start); free(h->row); free(h->pos); free(h->clg); free(h->boff);
    free(h->P);
    memset(h, 0, sizeof *h);
}

void gr_lev_blocks_free(gr_lev_blocks *h)
{
    if (h) hblocks_free(h);
    free(h);
}

/* Collective. Gather a local column (n values) to all ranks in global row order (out: N values). */
static void gather_rows(MPI_Comm comm, const hblocks *h, const double *v, int n, double *out)
{
    MPI_Allgatherv(v, n, MPI_DOUBLE, out, h->counts, h->displs, MPI_DOUBLE, comm);
}

/* Collective. Row layout and cluster index of the fit's rows (no demeaning); fails (on every rank) above
 * the exact limits, naming `what`. */
static int hblocks_layout(MPI_Comm comm, int64_t n, const int32_t *cl, int64_t G, const char *what, hblocks *h)
{
    int P, ni;
    MPI_Comm_size(comm, &P);
    memset(h, 0, sizeof *h);
    h->N = n;
    h->cl = cl;
    MPI_Allreduce(MPI_IN_PLACE, &h->N, 1, MPI_INT64_T, MPI_SUM, comm);
    if (h->N > GR_LEV_EXACT_MAX_ROWS)
        return gr_fail(GR_EINPUT, what, "%lld rows: the exact fixed-effect leverage demeans one column per row "
                       "(%lld columns of %lld rows), above the limit of %d rows (docs/vcov.md, \"Fixed-effect "
                       "leverage\"); cluster by a variable that nests the fixed effects, or use CR1",
                       (long long)h->N, (long long)h->N, (long long)h->N, GR_LEV_EXACT_MAX_ROWS);
    ni = (int)n;  /* n <= N <= GR_LEV_EXACT_MAX_ROWS */
    h->G = G;
    h->counts = gr_malloc((size_t)P, sizeof *h->counts);
    h->displs = gr_malloc((size_t)P, sizeof *h->displs);
    MPI_Allgather(&ni, 1, MPI_INT, h->counts, 1, MPI_INT, comm);
    for (int r = 0, s = 0; r < P; r++) { h->displs[r] = s; s += h->counts[r]; }
    int rank;
    MPI_Comm_rank(comm, &rank);
    h->off = h->displs[rank];
    size_t N1 = (size_t)(h->N ? h->N : 1);
    h->clg = gr_malloc(N1, sizeof *h->clg);
    MPI_Allgatherv(cl, ni, MPI_INT32_T, h->clg, h->counts, h->displs, MPI_INT32_T, comm);
    h->start = gr_calloc((size_t)G + 1, sizeof *h->start);
    h->boff = gr_calloc((size_t)G + 1, sizeof *h->boff);
    for (int64_t i = 0; i < h->N; i++) h->start[h->clg[i] + 1]++;
    for (int64_t g = 0; g < G; g++) {
        int64_t ng = h->start[g + 1];
        h->boff[g + 1] = h->boff[g] + ng * ng;
        h->start[g + 1] += h->start[g];
    }
    if (h->boff[G] > GR_LEV_EXACT_MAX_BLOCK)
        return gr_fail(GR_EINPUT, what, "the clusters' leverage blocks hold %lld values (sum of squared cluster "
                       "sizes), above the limit of %lld (docs/vcov.md, \"Fixed-effect leverage\")",
                       (long long)h->boff[G], (long long)GR_LEV_EXACT_MAX_BLOCK);
    h->row = gr_malloc(N1, sizeof *h->row);
    h->pos = gr_malloc(N1, sizeof *h->pos);
    int64_t *fill = gr_calloc((size_t)G + 1, sizeof *fill);
    for (int64_t i = 0; i < h->N; i++) {  /* stable: a cluster's rows in global row order */
        int32_t g = h->clg[i];
        h->pos[i] = fill[g];
        h->row[h->start[g] + fill[g]++] = i;
    }
    free(fill);
    return GR_OK;
}

/* Collective. P_D,gg for every cluster: the fixed-effect projection of the unit vector of each row,
 * kept on the rows of its own cluster (each entry written by the rank holding the row, then summed). */
static int hblocks_project(MPI_Comm comm, fe_proj *pj, hblocks *h)
{
    gr_absorber *ab = pj->ab;
    int64_t n = ab->n;
    h->P = gr_calloc((size_t)(h->boff[h->G] ? h->boff[h->G] : 1), sizeof *h->P);
    if (ab->fe.nfe == 0) { h->converged = 1; return GR_OK; }  /* no fixed effects: P_D = 0, nothing to demean */
    int b = batch_size(comm, h->N, ab->n_in);
    double **cols = gr_malloc((size_t)b, sizeof *cols);
    for (int c = 0; c < b; c++) cols[c] = gr_malloc((size_t)(ab->n_in ? ab->n_in : 1), sizeof **cols);
    int rc = GR_OK;
    for (int64_t t0 = 0; t0 < h->N && !rc; t0 += b) {
        int m = (int)(h->N - t0 < b ? h->N - t0 : b);
        for (int c = 0; c < m; c++) {
            int64_t r = h->row[t0 + c] - h->off;
            memset(cols[c], 0, (size_t)(ab->n_in ? ab->n_in : 1) * sizeof **cols);
            if (r >= 0 && r < n) cols[c][r] = 1.0;
        }
        rc = proj_resid(pj, m, cols);
        for (int c = 0; c < m && !rc; c++) {
            int64_t rg = h->row[t0 + c];
            int32_t g = h->clg[rg];
            int64_t ng = h->start[g + 1] - h->start[g];
            double *blk = h->P + h->boff[g] + ng * h->pos[rg];
            for (int64_t a = h->start[g]; a < h->start[g + 1]; a++) {
                int64_t i = h->row[a] - h->off;
                if (i >= 0 && i < n) blk[h->pos[h->row[a]]] = (h->row[a] == rg ? 1.0 : 0.0) - cols[c][i];
            }
        }
    }
    for (int c = 0; c < b; c++) free(cols[c]);
    free(cols);
    h->converged = pj->converged;
    if (!rc) allreduce_sum_chunked(comm, h->P, h->boff[h->G]);
    return rc;
}

/* ---- the diagnostic ---- */

/* B = XtX^-1 (k x k, full). */
static int invert_spd(int k, const double *XtX, double *B)
{
    memcpy(B, XtX, (size_t)k * k * sizeof *B);
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', k, B, k) || LAPACKE_dpotri(LAPACK_COL_MAJOR, 'U', k, B, k))
        return gr_fail(GR_EINPUT, "leverage", "the regressors' cross-product is not positive definite");
    for (int j = 0; j < k; j++)
        for (int i = j + 1; i < k; i++) B[i + j * k] = B[j + i * k];
    return GR_OK;
}

/* Collective. 1 if no cluster has rows on two ranks (then each (level, cluster) pair lives on one rank). */
static int clusters_local(MPI_Comm comm, int64_t n, const int32_t *cl, int64_t G)
{
    int P, Gi, local = 1;
    MPI_Comm_size(comm, &P);
    if (P == 1) return 1;
    if (G > INT_MAX) return 0;  /* the same on every rank */
    Gi = (int)G;
    int *ranks = gr_calloc((size_t)(Gi ? Gi : 1), sizeof *ranks);
    for (int64_t i = 0; i < n; i++) ranks[cl[i]] = 1;
    MPI_Allreduce(MPI_IN_PLACE, ranks, Gi, MPI_INT, MPI_SUM, comm);
    for (int g = 0; g < Gi && local; g++) local = ranks[g] <= 1;
    free(ranks);
    return local;
}

/* The local rows grouped by cluster: in their own order when every cluster's rows form one run (a pair's
 * months, as the panel stores them: runs = 1, no index), else by a counting sort: rows of cluster g are
 * row[start[g] .. start[g+1]). */
typedef struct by_cluster { int runs; int64_t *start, *row; } by_cluster;

static void by_cluster_make(int64_t n, const int32_t *cl, int64_t G, by_cluster *b)
{
    unsigned char *seen = gr_calloc((size_t)G + 1, 1);
    b->runs = 1;
    for (int64_t i = 0; i < n && b->runs; i++) {
        if (i > 0 && cl[i] == cl[i - 1]) continue;
        b->runs = !seen[cl[i]];
        seen[cl[i]] = 1;
    }
    free(seen);
    if (b->runs) return;
    b->start = gr_calloc((size_t)G + 1, sizeof *b->start);
    b->row = gr_malloc((size_t)(n ? n : 1), sizeof *b->row);
    for (int64_t i = 0; i < n; i++) b->start[cl[i] + 1]++;
    for (int64_t g = 0; g < G; g++) b->start[g + 1] += b->start[g];
    int64_t *fill = gr_malloc((size_t)G + 1, sizeof *fill);
    memcpy(fill, b->start, ((size_t)G + 1) * sizeof *fill);
    for (int64_t i = 0; i < n; i++) b->row[fill[cl[i]]++] = i;
    free(fill);
}

/* Collective. cnt[l] (L values, replicated) := the number of distinct clusters of level l. With clusters local
 * to the ranks (bc non-NULL): each rank counts its own (level, cluster) pairs in one pass over its rows by
 * cluster (a level's last cluster seen), and the counts are summed over the ranks (L values); otherwise through
 * the combined codes (levels.c), which gathers the distinct pairs of every rank. */
static int level_cluster_counts(MPI_Comm comm, int64_t n, const int32_t *lev, int64_t L, const int32_t *cl,
                                int64_t G, const by_cluster *bc, int64_t *cnt)
{
    int Li;
    GR_CALL(gr_int_count(L, "fixed-effect levels", &Li));  /* L is the same on every rank */
    memset(cnt, 0, (size_t)(L ? L : 1) * sizeof *cnt);
    if (bc) {
        /* a level's two counters side by side: the levels are visited in no useful order */
        struct { int64_t last, cnt; } *acc = gr_malloc((size_t)(L ? L : 1), sizeof *acc);
        for (int64_t l = 0; l < L; l++) { acc[l].last = -1; acc[l].cnt = 0; }
        if (bc->runs)
            for (int64_t i = 0; i < n; i++) {
                int32_t l = lev[i];
                if (acc[l].last != cl[i]) { acc[l].last = cl[i]; acc[l].cnt++; }
            }
        else
            for (int64_t g = 0; g < G; g++)
                for (int64_t a = bc->start[g]; a < bc->start[g + 1]; a++) {
                    int32_t l = lev[bc->row[a]];
                    if (acc[l].last != g) { acc[l].last = g; acc[l].cnt++; }
                }
        for (int64_t l = 0; l < L; l++) cnt[l] = acc[l].cnt;
        free(acc);
        MPI_Allreduce(MPI_IN_PLACE, cnt, Li, MPI_INT64_T, MPI_SUM, comm);
        return GR_OK;
    }
    int64_t C = L;
    int32_t *acc = gr_malloc((size_t)(n ? n : 1), sizeof *acc);
    memcpy(acc, lev, (size_t)n * sizeof *acc);
    int rc = gr_agree(comm, gr_codes_combine(comm, n, acc, &C, cl, G));
    if (!rc) rc = gr_agree(comm, gr_codes_dense(comm, n, acc, C, acc, &C));
    int Ci = 0;
    if (!rc) rc = gr_agree(comm, gr_int_count(C, "fixed-effect level x cluster pairs", &Ci));
    if (rc) { free(acc); return rc; }
    int32_t *level_of = gr_malloc((size_t)(Ci ? Ci : 1), sizeof *level_of);
    for (int c = 0; c < Ci; c++) level_of[c] = -1;
    for (int64_t i = 0; i < n; i++) level_of[acc[i]] = lev[i];
    MPI_Allreduce(MPI_IN_PLACE, level_of, Ci, MPI_INT32_T, MPI_MAX, comm);
    for (int c = 0; c < Ci; c++) cnt[level_of[c]]++;
    free(acc); free(level_of);
    return GR_OK;
}

/* Collective. Nesting, levels and (level, cluster) pairs of fixed effect q, and the share of sum w^2 in
 * levels with few clusters (wsq: this rank's sums of w^2 by level, from w_sums). */
static int fe_stats(MPI_Comm comm, const gr_absorber *ab, int q, const int32_t *cl, int64_t G, const by_cluster *bc,
                    const double *wsq, double wtw, gr_lev_fe *f)
{
    int64_t L = ab->fe.nlevels[q], C = 0;
    int64_t *cnt = gr_malloc((size_t)(L ? L : 1), sizeof *cnt);
    int rc = level_cluster_counts(comm, ab->n, ab->fe.id[q], L, cl, G, bc, cnt);
    if (rc) { free(cnt); return rc; }
    double few = 0;
    for (int64_t l = 0; l < L; l++) {
        C += cnt[l];
        if (cnt[l] <= GR_LEV_FEW_CLUSTERS) few += wsq[l];
    }
    MPI_Allreduce(MPI_IN_PLACE, &few, 1, MPI_DOUBLE, MPI_SUM, comm);
    f->name = gr_strdup(ab->fe.names[q]);
    f->levels = L;
    f->pairs = C;
    f->nested = C == L;
    f->share_few = few / wtw;
    free(cnt);
    return GR_OK;
}

/* splitmix64: the probe signs, a function of (cluster, probe) only. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double probe_sign(int64_t g, int p)
{
    return mix64(mix64((uint64_t)g) ^ ((uint64_t)p * 0xD1B54A32D192ED03ULL)) >> 63 ? 1.0 : -1.0;
}

/* ---- Student's t, for the sequential probes ---- */

double gr_lev_t_cdf(double t, int df)
{
    if (isnan(t) || df < 1) return NAN;
    if (isinf(t)) return t > 0 ? 1.0 : 0.0;
    /* A(t|df) = P(|T| <= t): Abramowitz & Stegun 26.7.3 (odd df) and 26.7.4 (even df), theta = atan(|t|/sqrt(df)) */
    double th = atan(fabs(t) / sqrt((double)df)), c2 = cos(th) * cos(th), s = sin(th), a, term = 1, sum = 1;
    if (df % 2) {
        if (df == 1) sum = 0;
        for (int k = 3; k <= df - 2; k += 2) { term *= (double)(k - 1) / (double)k * c2; sum += term; }
        a = 2.0 / 3.14159265358979323846 * (th + (df > 1 ? s * cos(th) * sum : 0.0));
    } else {
        for (int k = 2; k <= df - 2; k += 2) { term *= (double)(k - 1) / (double)k * c2; sum += term; }
        a = s * sum;
    }
    return t >= 0 ? 0.5 + a / 2 : 0.5 - a / 2;
}

double gr_lev_t_quantile(double p, int df)
{
    if (!(p > 0 && p < 1) || df < 1) return NAN;
    double lo = -1e6, hi = 1e6;
    for (int it = 0; it < 200 && hi - lo > 1e-12 * (1 + fabs(lo)); it++) {
        double mid = (lo + hi) / 2;
        if (gr_lev_t_cdf(mid, df) < p) lo = mid; else hi = mid;
    }
    return (lo + hi) / 2;
}

/* ---- the test switch ---- */

/* GRAVRD_LEVERAGE, comma-separated items: "exact", "probes" or "probes:N" (the method where it is auto; N, 2 to
 * 100000, the most probes), "all" (every probe: no early stop), "warn:X" (the warning threshold, 0 < X < 1),
 * "tol:X" (the probes' demeaning tolerance, 0 < X < 1). */
typedef struct lev_switch {
    gr_lev_method method;
    int probes, all;
    double warn, tol;
} lev_switch;

static int switch_number(const char *item, const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || !(x > lo && x < hi))
        return gr_fail(GR_EUSAGE, "GRAVRD_LEVERAGE", "item '%s': expected a number above %g and below %g", item, lo, hi);
    *out = x;
    return GR_OK;
}

static int switch_parse(const char *env, lev_switch *sw)
{
    *sw = (lev_switch){.method = GR_LEV_AUTO, .probes = 0, .all = 0, .warn = GR_LEV_RATIO_WARN, .tol = LEV_PROBE_TOL};
    if (!env) return GR_OK;
    char buf[256];
    if (strlen(env) >= sizeof buf) return gr_fail(GR_EUSAGE, "GRAVRD_LEVERAGE", "longer than %zu characters", sizeof buf - 1);
    strcpy(buf, env);
    for (char *save = NULL, *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        double x = 0;
        if (!strcmp(it, "exact")) sw->method = GR_LEV_EXACT;
        else if (!strcmp(it, "probes")) sw->method = GR_LEV_PROBE;
        else if (!strncmp(it, "probes:", 7)) {
            GR_CALL(switch_number(it, it + 7, 1.5, 100000.5, &x));
            if (x != floor(x)) return gr_fail(GR_EUSAGE, "GRAVRD_LEVERAGE", "item '%s': expected a whole number", it);
            sw->method = GR_LEV_PROBE;
            sw->probes = (int)x;
        } else if (!strcmp(it, "all")) sw->all = 1;
        else if (!strncmp(it, "warn:", 5)) GR_CALL(switch_number(it, it + 5, 0, 1, &sw->warn));
        else if (!strncmp(it, "tol:", 4)) GR_CALL(switch_number(it, it + 4, 0, 1, &sw->tol));
        else return gr_fail(GR_EUSAGE, "GRAVRD_LEVERAGE", "unknown item '%s' (exact, probes[:N], all, warn:X, tol:X)", it);
    }
    return GR_OK;
}

/* ---- the probes ---- */

/* The sequential rule's state: what R would be from the probe values so far. */
typedef struct probe_rule {
    double h_x, wtw, threshold;
    int all;                    /* no early stop */
} probe_rule;

/* Local. The end of the run of rows of cluster cl[i] that starts at row i. */
static inline int64_t cluster_run_end(const int32_t *cl, int64_t i, int64_t n)
{
    int64_t e = i + 1;
    while (e < n && cl[e] == cl[i]) e++;
    return e;
}

/* Local. cols[c][i] = wc[i] z[cl[i] * b + c] for the batch's m probes: one pass over the rows, a run of rows
 * of one cluster at a time (a pair's months form one run in the panel's order), so that the inner loop is a
 * plain scaled copy. */
static void probe_cols(int64_t n, const int32_t *cl, const signed char *z, int b, int m, const double *wc,
                       double **cols)
{
    for (int64_t i = 0; i < n;) {
        int64_t e = cluster_run_end(cl, i, n);
        const signed char *zi = z + (int64_t)cl[i] * b;
        for (int c = 0; c < m; c++) {
            double zc = zi[c], *col = cols[c];
            for (int64_t r = i; r < e; r++) col[r] = wc[r] * zc;
        }
        i = e;
    }
}

/* Local. out[c] = sum_i (wc[i] z[cl[i] * b + c] - cols[c][i])^2, the squared norm of each probe's projection
 * P_D v = v - (its residual), summed in row order for every c (the same bits however the loop runs); a full
 * batch keeps its four sums in registers. */
static void probe_sums(int64_t n, const int32_t *cl, const signed char *z, int b, int m, const double *wc,
                       double *const *cols, double *out)
{
    if (m == 4) {
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const double *c0 = cols[0], *c1 = cols[1], *c2 = cols[2], *c3 = cols[3];
        for (int64_t i = 0; i < n;) {
            int64_t e = cluster_run_end(cl, i, n);
            const signed char *zi = z + (int64_t)cl[i] * b;
            double z0 = zi[0], z1 = zi[1], z2 = zi[2], z3 = zi[3];
            for (int64_t r = i; r < e; r++) {
                double p0 = wc[r] * z0 - c0[r], p1 = wc[r] * z1 - c1[r];
                double p2 = wc[r] * z2 - c2[r], p3 = wc[r] * z3 - c3[r];
                a0 += p0 * p0; a1 += p1 * p1; a2 += p2 * p2; a3 += p3 * p3;
            }
            i = e;
        }
        out[0] = a0; out[1] = a1; out[2] = a2; out[3] = a3;
        return;
    }
    for (int c = 0; c < m; c++) {
        double a = 0;
        const double *col = cols[c];
        for (int64_t i = 0; i < n; i++) {
            double pv = wc[i] * z[(int64_t)cl[i] * b + c] - col[i];
            a += pv * pv;
        }
        out[c] = a;
    }
}

/* Collective. sum_g w_g' P_D,gg w_g estimated by probes v = w o zeta_g(i): E||P_D v||^2 is it exactly. Probes
 * are added in batches of GR_LEV_PROBE_BATCH (probe p's signs depend on (cluster, p) only) until R is clearly
 * on one side of the threshold (|R - threshold| >= t_{P-1, 1 - GR_LEV_PROBE_ALPHA} s.e.) or `probes` are used.
 * Sets d->h_fe (the mean), d->ratio_se (its Monte Carlo s.e. over w'w), d->probes, d->probes_stop, _z,
 * _z_needed. The decision to go on is rank 0's, broadcast. */
static int fe_term_probes(MPI_Comm comm, fe_proj *pj, const int32_t *cl, int64_t G, const double *wc, int probes,
                          const probe_rule *rule, gr_lev_diag *d)
{
    gr_absorber *ab = pj->ab;
    int64_t n = ab->n;
    int b = GR_LEV_PROBE_BATCH < probes ? GR_LEV_PROBE_BATCH : probes, rc = GR_OK, used = 0, more = 1;
    double *s = gr_calloc((size_t)probes, sizeof *s);
    signed char *z = gr_malloc((size_t)(G ? G : 1) * (size_t)b, sizeof *z);  /* z[g * b + c]: the batch's signs */
    double **cols = gr_malloc((size_t)b, sizeof *cols);
    for (int c = 0; c < b; c++) cols[c] = gr_malloc((size_t)(ab->n_in ? ab->n_in : 1), sizeof **cols);
    double mean = 0, se = NAN, zs = NAN, zn = NAN;
    while (more && !rc) {
        int m = probes - used < b ? probes - used : b;
        for (int64_t g = 0; g < G; g++)
            for (int c = 0; c < m; c++) z[g * b + c] = (signed char)probe_sign(g, used + c);
        probe_cols(n, cl, z, b, m, wc, cols);
        rc = proj_resid(pj, m, cols);
        if (!rc) probe_sums(n, cl, z, b, m, wc, cols, s + used);
        if (rc) break;
        MPI_Allreduce(MPI_IN_PLACE, s + used, m, MPI_DOUBLE, MPI_SUM, comm);
        used += m;
        double ss = 0;
        mean = 0;
        for (int p = 0; p < used; p++) mean += s[p];
        mean /= used;
        for (int p = 0; p < used; p++) ss += (s[p] - mean) * (s[p] - mean);
        se = used > 1 ? sqrt(ss / (used - 1) / used) / rule->wtw : NAN;
        double R = 1.0 - (mean + rule->h_x) / rule->wtw;
        zs = fabs(R - rule->threshold) / se;  /* inf when se is 0: every probe gave the same value */
        zn = used > 1 ? gr_lev_t_quantile(1.0 - GR_LEV_PROBE_ALPHA, used - 1) : NAN;
        more = used < probes && (rule->all || !(zs >= zn));
        MPI_Bcast(&more, 1, MPI_INT, 0, comm);  /* one decision, whatever each rank's rounding */
    }
    d->h_fe = mean;
    d->ratio_se = se;
    d->probes = used;
    d->probes_z = zs;
    d->probes_z_needed = zn;
    d->probes_stop = rule->all ? "fixed" : zs >= zn ? "clear" : "max";
    for (int c = 0; c < b; c++) free(cols[c]);
    free(cols); free(s); free(z);
    return rc;
}

/* Collective. sum_g w_g' P_D,gg w_g exactly, from the blocks; with keep, the blocks are handed to *keep
 * (for CR2/CR3 on the same rows and clusters) instead of freed. */
static int fe_term_exact(MPI_Comm comm, fe_proj *pj, const int32_t *cl, int64_t G, const double *wc, double *est,
                         gr_lev_blocks **keep)
{
    hblocks h;
    int rc = gr_agree(comm, hblocks_layout(comm, pj->ab->n, cl, G, "leverage diagnostic", &h));
    if (!rc) rc = hblocks_project(comm, pj, &h);
    if (!rc) {
        double *wg = gr_malloc((size_t)(h.N ? h.N : 1), sizeof *wg), t = 0;
        gather_rows(comm, &h, wc, (int)pj->ab->n, wg);  /* n <= N <= the limit: fits */
        for (int64_t g = 0; g < G; g++) {
            int64_t a0 = h.start[g], ng = h.start[g + 1] - a0;
            const double *blk = h.P + h.boff[g];
            for (int64_t a = 0; a < ng; a++)
                for (int64_t c = 0; c < ng; c++) t += wg[h.row[a0 + a]] * blk[a + ng * c] * wg[h.row[a0 + c]];
        }
        *est = t;
        free(wg);
    }
    if (!rc && keep) {
        *keep = gr_malloc(1, sizeof **keep);
        **keep = h;
    } else hblocks_free(&h);
    return rc;
}

/* The coefficient of interest: the first kept regressor other than the intercept (else the first). */
static int coef_of_interest(const gr_fit *fd, const char **label)
{
    int a = 0, pick = -1;
    for (int l = 0; l < fd->kx && pick < 0; l++) {
        if (!fd->keepx[l]) continue;
        if (!(fd->intercept && l == 0)) { pick = a; *label = fd->xlabel[l]; }
        a++;
    }
    if (pick < 0) { pick = 0; *label = fd->xlabel[0]; }
    return pick;
}

/* Local. wb[i] = w_{i0+i} for i < m, w = X~ B e_j (the coefficient's weights: beta_j = w'y), each element as a
 * row-length loop would make it (columns added in order). */
static void w_block(const gr_fit *fd, const double *B, int j, int64_t i0, int64_t m, double *wb)
{
    int k = fd->nkept;
    for (int64_t i = 0; i < m; i++) wb[i] = 0;
    for (int a = 0; a < k; a++) {
        const double *x = fd->Xk + (size_t)a * fd->n + i0, f = B[a + j * k];
        for (int64_t i = 0; i < m; i++) wb[i] += f * x[i];
    }
}

/* Local. w on all n rows (a new array): for the probes and the exact term, which need it whole. */
static double *w_rows(const gr_fit *fd, const double *B, int j)
{
    double *w = gr_malloc((size_t)(fd->n ? fd->n : 1), sizeof *w);
    w_block(fd, B, j, 0, fd->n, w);
    return w;
}

#define W_BLOCK 65536
/* Collective. The cheap part's sums of w without a row-length array of it: M = the cluster meat of w
 * (sum_g s_g s_g', s_g = X~_g' w_g) and wsq[q][l] (zeroed by the caller) += this rank's sum of w_i^2 over the
 * rows of level l of fixed effect q, block by block of rows (w is 8 bytes per row: it was the diagnostic's
 * share of the peak memory). */
static int w_sums(MPI_Comm comm, const gr_absorber *ab, const gr_fit *fd, const double *B, int j, const int32_t *cl,
                  int64_t G, double *M, double **wsq)
{
    int k = fd->nkept, Gi;
    int64_t n = fd->n;
    GR_CALL(gr_int_count(G, "clusters (leading dimension of the scores)", &Gi));
    double *S = gr_calloc((size_t)G * k, sizeof *S), *wb = gr_malloc(W_BLOCK, sizeof *wb);
    for (int64_t i0 = 0; i0 < n; i0 += W_BLOCK) {
        int64_t m = n - i0 < W_BLOCK ? n - i0 : W_BLOCK;
        w_block(fd, B, j, i0, m, wb);
        gr_vcov_scores_add(m, k, fd->Xk + i0, n, wb, cl + i0, G, S);
        for (int q = 0; q < ab->fe.nfe; q++) {
            /* a run of rows of one level (a coarse fixed effect, rows by pair) sums in a register: adding to
             * memory row by row would wait on the previous row's store */
            const int32_t *lev = ab->fe.id[q] + i0;
            double *ws = wsq[q];
            for (int64_t i = 0; i < m;) {
                int32_t l = lev[i];
                double s = 0;
                for (; i < m && lev[i] == l; i++) s += wb[i] * wb[i];
                ws[l] += s;
            }
        }
    }
    int rc = gr_vcov_meat_from_scores(comm, k, G, 0, S, M);
    free(S); free(wb);
    return rc;
}

int gr_lev_diagnose(MPI_Comm comm, gr_absorber *ab, const gr_fit *fd, const int32_t *cl, int64_t G,
                    const char *clname, int64_t K, gr_lev_policy policy, gr_lev_method method, int probes,
                    gr_lev_blocks **keep, gr_lev_diag *d)
{
    memset(d, 0, sizeof *d);
    int k = fd->nkept, rc = GR_OK;
    int64_t n = fd->n;
    const char *term = NULL;
    int j = coef_of_interest(fd, &term);
    d->cluster = gr_strdup(clname ? clname : "cluster");
    d->term = gr_strdup(term);
    d->converged = 1;
    double *B = gr_malloc((size_t)k * k, sizeof *B), *M = gr_malloc((size_t)k * k, sizeof *M), *wc = NULL;
    double **wsq = gr_calloc((size_t)(ab->fe.nfe ? ab->fe.nfe : 1), sizeof *wsq);
    for (int q = 0; q < ab->fe.nfe; q++)
        wsq[q] = gr_calloc((size_t)(ab->fe.nlevels[q] ? ab->fe.nlevels[q] : 1), sizeof **wsq);
    fe_proj pj;
    proj_init(ab, &pj);
    lev_switch sw;
    GR_TRY(switch_parse(getenv("GRAVRD_LEVERAGE"), &sw));  /* the same environment on every rank */
    d->threshold = sw.warn;
    GR_TRY(invert_spd(k, fd->XtXk, B));
    d->wtw = B[j + j * k];  /* w'w = e_j' B X~'X~ B e_j */
    GR_TRY(w_sums(comm, ab, fd, B, j, cl, G, M, wsq));
    d->h_x = 0;
    for (int a = 0; a < k * k; a++) d->h_x += B[a] * M[a];
    d->nfe = ab->fe.nfe;
    d->fe = gr_calloc((size_t)(d->nfe ? d->nfe : 1), sizeof *d->fe);
    int all_nested = 1, few = 0;
    by_cluster bc = {0};
    int local = clusters_local(comm, n, cl, G);
    if (local) by_cluster_make(n, cl, G, &bc);
    for (int q = 0; q < d->nfe && !rc; q++) {
        rc = fe_stats(comm, ab, q, cl, G, local ? &bc : NULL, wsq[q], d->wtw, &d->fe[q]);
        all_nested &= d->fe[q].nested;
        few |= !d->fe[q].nested && (double)d->fe[q].pairs < GR_LEV_AUTO_CPL * (double)d->fe[q].levels;
    }
    free(bc.start); free(bc.row);
    if (rc) goto fail;
    if (method == GR_LEV_AUTO) method = sw.method;
    if (sw.probes) probes = sw.probes;
    if (all_nested) {  /* P_D block-diagonal by cluster and P_D w = 0: every P_D,gg w_g = 0 */
        d->method = d->nfe ? "nested" : "exact";
    } else if (policy == GR_LEV_DIAG_AUTO && !few) {  /* the probes would cost more than they can tell */
        d->method = "skipped";
        d->reason = "every fixed effect not nested in the cluster has on average at least 10 clusters per level "
                    "(--cluster-diag on computes the ratio)";
    } else if (method == GR_LEV_EXACT || (method == GR_LEV_AUTO && (fd->nobs <= GR_LEV_DIAG_EXACT_ROWS ||
                                                                     (keep && fd->nobs <= GR_LEV_EXACT_MAX_ROWS)))) {
        d->method = "exact";  /* with keep (CR2/CR3 next), the blocks are needed anyway */
        wc = w_rows(fd, B, j);
        GR_TRY(fe_term_exact(comm, &pj, cl, G, wc, &d->h_fe, keep));
    } else {
        d->method = "probes";
        d->probes_max = probes > 1 ? probes : GR_LEV_PROBES;
        probe_rule rule = {.h_x = d->h_x, .wtw = d->wtw, .threshold = d->threshold, .all = sw.all};
        /* the probes' own tolerance (docs/vcov.md, "Probe tolerance"): CG's stop is on tol^2, the sweeps' on tol
         * (a first-order criterion), which therefore get tol^2 */
        int sweeps = ab->fe.method == GR_FE_IRONS_TUCK || ab->fe.nfe == 1;
        pj.tol = sweeps ? sw.tol * sw.tol : sw.tol;
        wc = w_rows(fd, B, j);
        GR_TRY(fe_term_probes(comm, &pj, cl, G, wc, d->probes_max, &rule, d));
    }
    double N = (double)fd->nobs, Gd = (double)G;
    d->ratio = d->reason ? NAN : 1.0 - (d->h_fe + d->h_x) / d->wtw;
    d->ratio_se = d->reason ? NAN : d->ratio_se;
    d->ratio_cr1 = N - (double)K > 0 && G > 1 ? d->ratio * Gd / (Gd - 1) * (N - 1) / (N - (double)K) : NAN;
fail:
    d->columns = pj.columns;
    d->converged = pj.converged;
    d->seconds = gr_now() - pj.t0;
    proj_done(&pj);
    for (int q = 0; q < ab->fe.nfe; q++) free(wsq[q]);
    free(B); free(M); free(wc); free(wsq);
    return rc;
}

/* ---- CR2 / CR3 ---- */

/* A = S^(-1/2) for symmetric S (m x m, overwritten): clubSandwich's matrix_power, eigenvalues <= 1e-12
 * mapped to 0 (a generalized inverse). */
static int sym_inv_sqrt(int m, double *S, double *A)
{
    double *ev = gr_malloc((size_t)m, sizeof *ev), *T = gr_malloc((size_t)m * m, sizeof *T);
    int rc = LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', m, S, m, ev) ? GR_EINPUT : GR_OK;
    for (int c = 0; c < m && !rc; c++) {
        double f = ev[c] > LEV_EIG_TOL ? 1.0 / sqrt(ev[c]) : 0.0;
        for (int r = 0; r < m; r++) T[r + (size_t)c * m] = S[r + (size_t)c * m] * f;
    }
    if (!rc) cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, m, m, m, 1.0, T, m, S, m, 0.0, A, m);
    free(ev); free(T);
    return rc;
}

/* A = S^-1 by LU, refused (*singular = 1) as R's solve() refuses: exactly singular, or reciprocal
 * condition number (1-norm) below the machine epsilon. */
static int lu_inverse(int m, const double *S, double *A, int *singular)
{
    lapack_int *ipiv = gr_malloc((size_t)m, sizeof *ipiv);
    memcpy(A, S, (size_t)m * m * sizeof *A);
    double anorm = LAPACKE_dlange(LAPACK_COL_MAJOR, '1', m, m, A, m), rcond = 0;
    lapack_int info = LAPACKE_dgetrf(LAPACK_COL_MAJOR, m, m, A, m, ipiv);
    if (info == 0) info = LAPACKE_dgecon(LAPACK_COL_MAJOR, '1', m, A, m, anorm, &rcond);
    if (info > 0 || (info == 0 && rcond < DBL_EPSILON)) *singular = 1;
    else if (info == 0) info = LAPACKE_dgetri(LAPACK_COL_MAJOR, m, A, m, ipiv);
    free(ipiv);
    return info < 0 ? GR_EINPUT : GR_OK;
}

/* Local. The adjusted score s = X_g' A_g e_g of cluster g (rows h->row[start..], global arrays Xg, eg). */
static int cluster_score(const hblocks *h, int64_t g, int k, const double *Xg, const double *eg, const double *B,
                         int cr3, double *s, int *singular)
{
    int64_t a0 = h->start[g];
    int m = (int)(h->start[g + 1] - a0);  /* m^2 <= GR_LEV_EXACT_MAX_BLOCK */
    int64_t N = h->N;
    double *S = gr_malloc((size_t)m * m, sizeof *S), *A = gr_malloc((size_t)m * m, sizeof *A);
    double *Xm = gr_malloc((size_t)m * k, sizeof *Xm), *XB = gr_malloc((size_t)m * k, sizeof *XB);
    double *Ae = gr_malloc((size_t)m, sizeof *Ae), *em = gr_malloc((size_t)m, sizeof *em);
    for (int a = 0; a < m; a++) {
        em[a] = eg[h->row[a0 + a]];
        for (int c = 0; c < k; c++) Xm[a + (size_t)c * m] = Xg[h->row[a0 + a] + (size_t)c * N];
    }
    /* S = I - P_gg - X_g B X_g' */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, k, k, 1.0, Xm, m, B, k, 0.0, XB, m);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, m, m, k, -1.0, XB, m, Xm, m, 0.0, S, m);
    const double *blk = h->P + h->boff[g];
    for (int64_t i = 0; i < (int64_t)m * m; i++) S[i] -= blk[i];
    for (int a = 0; a < m; a++) S[a + (size_t)a * m] += 1.0;
    int rc = cr3 ? lu_inverse(m, S, A, singular) : sym_inv_sqrt(m, S, A);
    if (!rc && !*singular) {
        cblas_dgemv(CblasColMajor, CblasNoTrans, m, m, 1.0, A, m, em, 1, 0.0, Ae, 1);
        cblas_dgemv(CblasColMajor, CblasTrans, m, k, 1.0, Xm, m, Ae, 1, 0.0, s, 1);
    }
    free(S); free(A); free(Xm); free(XB); free(Ae); free(em);
    return rc;
}

int gr_lev_vcov(MPI_Comm comm, struct gr_absorber *ab, gr_vcov_type type, int64_t n, int k, const double *X,
                const double *e, const double *B, const int32_t *cl, int64_t G, const gr_lev_blocks *pre, double *V)
{
    const char *name = type == GR_VCOV_CR2 ? "cr2" : "cr3";
    if (ab->w)  /* the same on every rank */
        return gr_fail(GR_EUSAGE, "--vcov", "%s with --weights is not implemented (clubSandwich's weighted CR2 "
                       "uses another target matrix; docs/vcov.md)", name);
    int rank, P, rc;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &P);
    hblocks own;
    memset(&own, 0, sizeof own);
    fe_proj pj;
    proj_init(ab, &pj);
    const hblocks *hp = &own;
    if (pre && pre->cl == cl && pre->G == G) {  /* the diagnostic's blocks: the same rows, clusters, tolerance */
        hp = pre;
        rc = GR_OK;
    } else {
        rc = gr_agree(comm, hblocks_layout(comm, n, cl, G, name, &own));
        if (!rc) rc = hblocks_project(comm, &pj, &own);
    }
    const hblocks h = *hp;  /* a shallow view: freed below only when own */
    if (!rc && !h.converged)  /* the convergence test is on global sums: the same on every rank */
        rc = gr_fail(GR_EINPUT, name, "demeaning the unit vectors did not converge within %d iterations: the "
                     "leverage would not be exact", ab->o.maxiter);
    double *Xg = NULL, *eg = NULL, *meat = gr_calloc((size_t)k * k, sizeof *meat), *s = gr_malloc((size_t)k, sizeof *s);
    int singular = 0;
    int64_t bad = -1;
    if (!rc) {
        Xg = gr_malloc((size_t)h.N * k + 1, sizeof *Xg);
        eg = gr_malloc((size_t)h.N + 1, sizeof *eg);
        for (int c = 0; c < k; c++) gather_rows(comm, &h, X + (size_t)c * n, (int)n, Xg + (size_t)c * h.N);
        gather_rows(comm, &h, e, (int)n, eg);
        for (int64_t g = rank; g < G && !rc; g += P) {  /* clusters dealt round-robin over the ranks */
            rc = cluster_score(&h, g, k, Xg, eg, B, type == GR_VCOV_CR3, s, &singular);
            if (singular && bad < 0) bad = g;
            if (singular) break;
            cblas_dger(CblasColMajor, k, k, 1.0, s, 1, s, 1, meat, k);
        }
        if (rc) rc = gr_fail(GR_EINPUT, name, "the decomposition of I - H_gg failed (LAPACK)");
        else if (singular)
            rc = gr_fail(GR_EINPUT, name, "I - H_gg is singular for cluster %lld (its rows are fitted exactly by the "
                         "fixed effects and regressors; reciprocal condition number below the machine epsilon, where "
                         "R's solve, and so clubSandwich, fails too): use cr2, which takes the generalized inverse",
                         (long long)bad);
        rc = gr_agree(comm, rc);
    }
    if (!rc) {
        MPI_Allreduce(MPI_IN_PLACE, meat, k * k, MPI_DOUBLE, MPI_SUM, comm);  /* k * k checked by the caller */
        double *T = gr_malloc((size_t)k * k, sizeof *T);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1.0, B, k, meat, k, 0.0, T, k);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1.0, T, k, B, k, 0.0, V, k);
        free(T);
    }
    proj_done(&pj);
    hblocks_free(&own);
    free(Xg); free(eg); free(meat); free(s);
    return rc;
}

/* ---- reporting ---- */

void gr_lev_warn(const gr_lev_diag *d, const char *sample, gr_vcov_type vcov)
{
    if (!(d->ratio < d->threshold) || vcov != GR_VCOV_CLUSTER) return;
    char fes[256] = "";
    size_t at = 0;
    for (int q = 0; q < d->nfe && at < sizeof fes - 1; q++) {
        if (d->fe[q].nested) continue;
        int w = snprintf(fes + at, sizeof fes - at, "%s'%s' (%.1f clusters per level)", at ? ", " : "",
                         d->fe[q].name, (double)d->fe[q].pairs / (double)d->fe[q].levels);
        if (w > 0) at += (size_t)w;
    }
    const char *nest = d->nfe ? "cluster by a variable the fixed effects nest in (e.g. --cluster segpair_<d>), or " : "";
    gr_warn("%s: clustered by '%s', the %sleverage makes the cluster-robust variance of '%s' expected to be %.2f of "
            "the true variance under independent errors (below %.2f)%s%s; %son small samples CR2 (--vcov cr2 of "
            "estimate and grid; docs/vcov.md, \"Fixed-effect leverage\")", sample ? sample : "sample", d->cluster,
            d->nfe ? "fixed-effect " : "", d->term, d->ratio, d->threshold, at ? ": not nested: " : "", fes, nest);
}

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

cJSON *gr_lev_json(const gr_lev_diag *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "cluster", d->cluster);
    cJSON_AddStringToObject(o, "term", d->term);
    cJSON_AddStringToObject(o, "method", d->method ? d->method : "");
    cJSON_AddBoolToObject(o, "ratio_computed", !d->reason);
    if (d->reason) cJSON_AddStringToObject(o, "ratio_not_computed", d->reason);
    cJSON_AddNumberToObject(o, "probes", d->probes);
    if (d->probes_stop) {  /* the sequential rule (docs/vcov.md, "Sequential probes") */
        cJSON_AddNumberToObject(o, "probes_max", d->probes_max);
        cJSON_AddStringToObject(o, "probes_stop", d->probes_stop);
        cJSON_AddItemToObject(o, "probes_z", num(d->probes_z));
        cJSON_AddItemToObject(o, "probes_z_needed", num(d->probes_z_needed));
    }
    cJSON_AddItemToObject(o, "ratio", num(d->ratio));
    cJSON_AddItemToObject(o, "ratio_se", num(d->ratio_se));
    cJSON_AddItemToObject(o, "ratio_cr1", num(d->ratio_cr1));
    cJSON_AddNumberToObject(o, "threshold", d->threshold);
    cJSON_AddBoolToObject(o, "warning", d->ratio < d->threshold);  /* false when not computed (NaN) */
    cJSON_AddItemToObject(o, "leverage_fe", num(d->reason ? NAN : d->h_fe / d->wtw));
    cJSON_AddItemToObject(o, "leverage_x", num(d->h_x / d->wtw));
    cJSON_AddNumberToObject(o, "columns_demeaned", (double)d->columns);
    cJSON_AddBoolToObject(o, "converged", d->converged);
    cJSON *fa = cJSON_AddArrayToObject(o, "fixed_effects");
    for (int q = 0; q < d->nfe; q++) {
        const gr_lev_fe *f = &d->fe[q];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", f->name);
        cJSON_AddBoolToObject(x, "nested", f->nested);
        cJSON_AddNumberToObject(x, "levels", (double)f->levels);
        cJSON_AddItemToObject(x, "clusters_per_level", num((double)f->pairs / (double)f->levels));
        /* nested: no bias. To 9 decimals: a share is meaningful far above that, and below it the demeaning's
         * rounding (rows whose w is ~0) would make it differ across rank counts */
        cJSON_AddItemToObject(x, "share_few_clusters", num(f->nested ? NAN : round(f->share_few * 1e9) / 1e9));
        cJSON_AddItemToArray(fa, x);
    }
    cJSON_AddNumberToObject(o, "few_clusters", GR_LEV_FEW_CLUSTERS);
    return o;
}

void gr_lev_copy(const gr_lev_diag *d, gr_lev_diag *out)
{
    *out = *d;
    out->cluster = gr_strdup(d->cluster);
    out->term = gr_strdup(d->term);
    out->fe = gr_calloc((size_t)(d->nfe ? d->nfe : 1), sizeof *out->fe);
    for (int q = 0; q < d->nfe; q++) {
        out->fe[q] = d->fe[q];
        out->fe[q].name = gr_strdup(d->fe[q].name);
    }
}

void gr_lev_free(gr_lev_diag *d)
{
    free(d->cluster); free(d->term);
    for (int q = 0; q < d->nfe && d->fe; q++) free(d->fe[q].name);
    free(d->fe);
    memset(d, 0, sizeof *d);
}
