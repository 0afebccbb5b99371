/* fe.c: fixed-effect levels across ranks and the demeaning sweep kernel (see fe.h).
 *
 * The sweep: for fixed-effect coefficients alpha (one vector per dimension) and a column v, the
 * residual e = v - sum_k alpha_k[id_k]. One Gauss-Seidel sweep F updates each dimension k in turn
 * with alpha_k[g] += mean of e over level g (group sums combined with MPI_Allreduce unless the
 * dimension's levels never cross ranks) and subtracts that change from e. Iterations apply F twice
 * and extrapolate (Irons & Tuck 1969, as in fixest), then rebuild e from the extrapolated alpha. */
#include "fe.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int64_t unique_sorted(double *v, int64_t n)
{
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int64_t m = 1;
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[m - 1]) v[m++] = v[i];
    return m;
}

/* Integer keys in a modest range: presence bitmap over [min, max], combined across ranks with
 * one MPI_BOR, then a prefix count gives the dense id. O(n + range) instead of a sort. */
static int dense_ids_direct(MPI_Comm comm, int64_t n, const double *key, int32_t *id, int64_t *nlevels,
                            int64_t lo, int64_t range)
{
    unsigned char *present = gr_calloc((size_t)range, 1);
    for (int64_t i = 0; i < n; i++) present[(int64_t)key[i] - lo] = 1;
    for (int64_t off = 0; off < range; off += 1 << 30) {
        int len = (int)(range - off < (1 << 30) ? range - off : (1 << 30));
        MPI_Allreduce(MPI_IN_PLACE, present + off, len, MPI_UNSIGNED_CHAR, MPI_BOR, comm);
    }
    int32_t *map = gr_malloc((size_t)range, sizeof *map);
    int64_t L = 0;
    for (int64_t r = 0; r < range; r++) map[r] = present[r] ? (int32_t)L++ : -1;
    free(present);
    if (L > INT32_MAX) { free(map); return gr_fail(GR_EINPUT, "fixed effects", "more than 2^31 levels"); }
    for (int64_t i = 0; i < n; i++) id[i] = map[(int64_t)key[i] - lo];
    free(map);
    *nlevels = L;
    return GR_OK;
}

int gr_dense_ids(MPI_Comm comm, int64_t n, const double *key, int32_t *id, int64_t *nlevels)
{
    int nranks;
    MPI_Comm_size(comm, &nranks);
    /* integer keys with a small range take the direct path */
    double st[4] = {INFINITY, INFINITY, 0, (double)n};  /* min, -max, any non-integer, rows */
    for (int64_t i = 0; i < n; i++) {
        double v = key[i];
        if (v < st[0]) st[0] = v;
        if (-v < st[1]) st[1] = -v;
        if (v != floor(v) || fabs(v) > 1e15) st[2] = 1;
    }
    double mn[2] = {st[0], st[1]}, mx[2] = {st[2], st[3]};
    MPI_Allreduce(MPI_IN_PLACE, mn, 2, MPI_DOUBLE, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, mx + 0, 1, MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, mx + 1, 1, MPI_DOUBLE, MPI_SUM, comm);
    if (mx[1] == 0) { *nlevels = 0; return GR_OK; }
    if (mx[0] == 0) {
        double range = -mn[1] - mn[0] + 1;
        if (range <= (double)(1 << 26) && range <= 16.0 * mx[1] + 65536.0)
            return dense_ids_direct(comm, n, key, id, nlevels, (int64_t)mn[0], (int64_t)range);
    }
    double *loc = gr_malloc((size_t)n, sizeof *loc);
    memcpy(loc, key, (size_t)n * sizeof *loc);
    int64_t m = unique_sorted(loc, n);
    double *all = loc;
    int64_t total = m;
    if (nranks > 1) {
        int *counts = gr_malloc((size_t)nranks, sizeof *counts), *displs = gr_malloc((size_t)nranks, sizeof *displs);
        int mi = (int)m;
        MPI_Allgather(&mi, 1, MPI_INT, counts, 1, MPI_INT, comm);
        total = 0;
        for (int r = 0; r < nranks; r++) { displs[r] = (int)total; total += counts[r]; }
        all = gr_malloc((size_t)total, sizeof *all);
        MPI_Allgatherv(loc, mi, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, comm);
        free(counts); free(displs); free(loc);
        total = unique_sorted(all, total);
    }
    if (total > INT32_MAX) { free(all); return gr_fail(GR_EINPUT, "fixed effects", "more than 2^31 levels"); }
    for (int64_t i = 0; i < n; i++) {
        int64_t lo = 0, hi = total - 1;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (all[mid] < key[i]) lo = mid + 1; else hi = mid;
        }
        id[i] = (int32_t)lo;
    }
    *nlevels = total;
    free(all);
    return GR_OK;
}

/* Range of integer-valued keys: [lo, hi] over all ranks; returns 0 if some key is not an integer. */
static int integer_range(MPI_Comm comm, int64_t n, const double *key, double *lo, double *hi)
{
    double mn[2] = {INFINITY, INFINITY}, nonint = 0;  /* min, -max */
    for (int64_t i = 0; i < n; i++) {
        double v = key[i];
        if (v < mn[0]) mn[0] = v;
        if (-v < mn[1]) mn[1] = -v;
        if (v != floor(v) || fabs(v) > 1e15) nonint = 1;
    }
    MPI_Allreduce(MPI_IN_PLACE, mn, 2, MPI_DOUBLE, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, &nonint, 1, MPI_DOUBLE, MPI_MAX, comm);
    *lo = mn[0];
    *hi = -mn[1];
    return nonint == 0;
}

int gr_combine_keys(MPI_Comm comm, int nparts, int64_t n, double *const *parts, double *out)
{
    /* integer parts with small ranges fold directly into one exact key (mixed radix) */
    double lo[16], hi[16], span = 1;
    int direct = nparts <= 16;
    for (int p = 0; p < nparts && direct; p++) {
        direct = integer_range(comm, n, parts[p], &lo[p], &hi[p]);
        if (direct) span *= (hi[p] >= lo[p] ? hi[p] - lo[p] + 1 : 1);
        if (span > 1e15) direct = 0;
    }
    /* every rank took the same branch: ranges and flags were reduced */
    if (direct) {
        for (int64_t i = 0; i < n; i++) {
            double k = 0;
            for (int p = 0; p < nparts; p++) k = k * (hi[p] - lo[p] + 1) + (parts[p][i] - lo[p]);
            out[i] = k;
        }
        return GR_OK;
    }
    int32_t *code = gr_malloc((size_t)n, sizeof *code);
    int64_t L;
    int rc = gr_dense_ids(comm, n, parts[0], code, &L);
    for (int64_t i = 0; i < n; i++) out[i] = code[i];
    for (int p = 1; p < nparts && !rc; p++) {
        int64_t Lp;
        rc = gr_dense_ids(comm, n, parts[p], code, &Lp);
        if (rc) break;
        for (int64_t i = 0; i < n; i++) out[i] = out[i] * (double)Lp + code[i];
        /* re-dense so the next fold stays exact below 2^53 */
        if (p + 1 < nparts) {
            rc = gr_dense_ids(comm, n, out, code, &L);
            for (int64_t i = 0; i < n; i++) out[i] = code[i];
        }
    }
    free(code);
    return rc;
}

static void level_counts(const gr_fe *fe, int k, const unsigned char *keep, double *cnt, int allreduce)
{
    memset(cnt, 0, (size_t)fe->nlevels[k] * sizeof *cnt);
    const int32_t *id = fe->id[k];
    for (int64_t i = 0; i < fe->n; i++)
        if (!keep || keep[i]) cnt[id[i]] += fe->w ? fe->w[i] : 1.0;
    if (allreduce) MPI_Allreduce(MPI_IN_PLACE, cnt, (int)fe->nlevels[k], MPI_DOUBLE, MPI_SUM, fe->comm);
}

int gr_fe_build(MPI_Comm comm, int nfe, int64_t n, double *const *keys, char *const *names, gr_fe *fe)
{
    memset(fe, 0, sizeof *fe);
    fe->comm = comm;
    fe->nfe = nfe;
    fe->n = n;
    fe->id = gr_calloc((size_t)nfe, sizeof *fe->id);
    fe->nlevels = gr_calloc((size_t)nfe, sizeof *fe->nlevels);
    fe->count = gr_calloc((size_t)nfe, sizeof *fe->count);
    fe->local_only = gr_calloc((size_t)nfe, sizeof *fe->local_only);
    fe->names = gr_calloc((size_t)nfe, sizeof *fe->names);
    for (int k = 0; k < nfe; k++) {
        fe->names[k] = gr_strdup(names[k]);
        fe->id[k] = gr_malloc((size_t)n, sizeof(int32_t));
        int rc = gr_dense_ids(comm, n, keys[k], fe->id[k], &fe->nlevels[k]);
        if (rc) return rc;
        fe->count[k] = gr_malloc((size_t)fe->nlevels[k], sizeof(double));
        /* a level present on two ranks needs the Allreduce */
        fe->local_only[k] = gr_ids_local_only(comm, n, fe->id[k], fe->nlevels[k]);
        level_counts(fe, k, NULL, fe->count[k], 1);
    }
    return GR_OK;
}

int gr_ids_local_only(MPI_Comm comm, int64_t n, const int32_t *id, int64_t L)
{
    int P;
    MPI_Comm_size(comm, &P);
    if (P == 1) return 1;
    int *present = gr_calloc((size_t)(L ? L : 1), sizeof *present);
    for (int64_t i = 0; i < n; i++) present[id[i]] = 1;
    MPI_Allreduce(MPI_IN_PLACE, present, (int)L, MPI_INT, MPI_SUM, comm);
    int maxp = 0;
    for (int64_t g = 0; g < L; g++) if (present[g] > maxp) maxp = present[g];
    free(present);
    return maxp <= 1;
}

int gr_fe_singletons(const gr_fe *fe, unsigned char *keep, int64_t *nremoved)
{
    int64_t removed = 0;
    for (;;) {
        int64_t dropped = 0;
        for (int k = 0; k < fe->nfe; k++) {
            double *cnt = gr_malloc((size_t)fe->nlevels[k], sizeof *cnt);
            const gr_fe unweighted = {.comm = fe->comm, .n = fe->n, .id = fe->id, .nlevels = fe->nlevels};
            level_counts(&unweighted, k, keep, cnt, 1);
            for (int64_t i = 0; i < fe->n; i++)
                if (keep[i] && cnt[fe->id[k][i]] == 1.0) { keep[i] = 0; dropped++; }
            free(cnt);
        }
        MPI_Allreduce(MPI_IN_PLACE, &dropped, 1, MPI_INT64_T, MPI_SUM, fe->comm);
        removed += dropped;
        if (dropped == 0) break;
    }
    *nremoved = removed;
    return GR_OK;
}

int gr_fe_nested_in(const gr_fe *fe, const int32_t *cl, int64_t ncl, int *nested)
{
    (void)ncl;
    for (int k = 0; k < fe->nfe; k++) {
        int64_t L = fe->nlevels[k];
        int *lo = gr_malloc((size_t)L, sizeof *lo), *hi = gr_malloc((size_t)L, sizeof *hi);
        for (int64_t g = 0; g < L; g++) { lo[g] = INT32_MAX; hi[g] = -1; }
        for (int64_t i = 0; i < fe->n; i++) {
            int32_t g = fe->id[k][i];
            if (cl[i] < lo[g]) lo[g] = cl[i];
            if (cl[i] > hi[g]) hi[g] = cl[i];
        }
        MPI_Allreduce(MPI_IN_PLACE, lo, (int)L, MPI_INT, MPI_MIN, fe->comm);
        MPI_Allreduce(MPI_IN_PLACE, hi, (int)L, MPI_INT, MPI_MAX, fe->comm);
        nested[k] = 1;
        for (int64_t g = 0; g < L; g++)
            if (hi[g] >= 0 && lo[g] != hi[g]) { nested[k] = 0; break; }
        free(lo); free(hi);
    }
    return GR_OK;
}

/* ---- the sweep ----
 * All columns are swept together: residuals are stored row-interleaved (E[i*p + c]) so that one read
 * of a row's level id serves every column, and group sums travel in one Allreduce.
 * Changes to the coefficients are applied to E lazily: with R(alpha) = V - sum_k alpha_k[id_k] the
 * true residual, the invariant is R(alpha) = E - sum_k P_k[id_k] for the pending changes P (zero for
 * dimensions not pending), and the next pass over the rows applies them while it sums. This makes one
 * pass per dimension per sweep, and the Irons-Tuck extrapolation costs no pass of its own. */

typedef struct {
    const gr_fe *fe;
    int p;                /* columns swept together */
    int64_t off[16 + 1];  /* offset (in levels) of dimension k's coefficients in the stacked vector */
    double *sum;          /* group sums scratch: max levels x p */
    double *P;            /* pending changes, stacked like alpha (levels x p per dimension) */
    int pending[16];      /* dimensions with a non-zero pending change */
    int npending;
    int nranks;
} sweep_ctx;

/* The pass kernel for one pending dimension (the common case inside a sweep), specialised on the
 * number of columns so the inner loops unroll. */
#define SUMS_KERNEL(NC)                                                                              \
    static void sums_kernel_##NC(int64_t n, const int32_t *restrict idk, const int32_t *restrict idp, \
                                 const double *restrict d, double *restrict E, double *restrict sum)  \
    {                                                                                                \
        if (idp) {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                        \
                double *restrict e = E + i * NC;                                                     \
                const double *restrict dg = d + (int64_t)idp[i] * NC;                                \
                double *restrict sg = sum + (int64_t)idk[i] * NC;                                    \
                _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) { e[c] -= dg[c]; sg[c] += e[c]; } \
            }                                                                                        \
        } else {                                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                        \
                const double *restrict e = E + i * NC;                                               \
                double *restrict sg = sum + (int64_t)idk[i] * NC;                                    \
                _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) sg[c] += e[c];                 \
            }                                                                                        \
        }                                                                                            \
    }
SUMS_KERNEL(1)
SUMS_KERNEL(2)
SUMS_KERNEL(3)
SUMS_KERNEL(4)

/* Apply the pending changes to E and, if k >= 0, add each row to the sums of its level in
 * dimension k (weighted by fe->w if set). Afterwards nothing is pending. */
static void row_pass(sweep_ctx *s, int k, double *restrict E)
{
    const gr_fe *fe = s->fe;
    const int p = s->p;
    const int64_t n = fe->n;
    double *restrict sum = s->sum;
    if (k >= 0) memset(sum, 0, (size_t)fe->nlevels[k] * p * sizeof *sum);
    const int32_t *restrict idk = k >= 0 ? fe->id[k] : NULL;
    if (k >= 0 && !fe->w && p <= 4 && s->npending <= 1) {
        const int q = s->npending ? s->pending[0] : -1;
        const int32_t *idp = q >= 0 ? fe->id[q] : NULL;
        const double *d = q >= 0 ? s->P + s->off[q] * p : NULL;
        switch (p) {
        case 1: sums_kernel_1(n, idk, idp, d, E, sum); break;
        case 2: sums_kernel_2(n, idk, idp, d, E, sum); break;
        case 3: sums_kernel_3(n, idk, idp, d, E, sum); break;
        default: sums_kernel_4(n, idk, idp, d, E, sum); break;
        }
    } else {
        const int np = s->npending;
        const int32_t *ids[16];
        const double *ds[16];
        for (int j = 0; j < np; j++) {
            ids[j] = fe->id[s->pending[j]];
            ds[j] = s->P + s->off[s->pending[j]] * p;
        }
        const double *restrict w = fe->w;
        for (int64_t i = 0; i < n; i++) {
            double *restrict e = E + i * p;
            for (int j = 0; j < np; j++) {
                const double *restrict dg = ds[j] + (int64_t)ids[j][i] * p;
                for (int c = 0; c < p; c++) e[c] -= dg[c];
            }
            if (idk) {
                double *restrict sg = sum + (int64_t)idk[i] * p;
                double wi = w ? w[i] : 1.0;
                for (int c = 0; c < p; c++) sg[c] += wi * e[c];
            }
        }
    }
    for (int j = 0; j < s->npending; j++) {
        int q = s->pending[j];
        memset(s->P + s->off[q] * p, 0, (size_t)fe->nlevels[q] * p * sizeof(double));
    }
    s->npending = 0;
    if (k >= 0 && !fe->local_only[k] && s->nranks > 1)
        MPI_Allreduce(MPI_IN_PLACE, sum, (int)(fe->nlevels[k] * p), MPI_DOUBLE, MPI_SUM, fe->comm);
}

/* One Gauss-Seidel sweep over all dimensions: alpha (stacked, levels x p) updated in place; each
 * dimension's change becomes pending for the next pass. */
static void sweep(sweep_ctx *s, double *alpha, double *E)
{
    const gr_fe *fe = s->fe;
    const int p = s->p;
    for (int k = 0; k < fe->nfe; k++) {
        row_pass(s, k, E);
        double *a = alpha + s->off[k] * p, *d = s->P + s->off[k] * p;
        const double *cnt = fe->count[k];
        for (int64_t g = 0; g < fe->nlevels[k]; g++) {
            double inv = cnt[g] > 0 ? 1.0 / cnt[g] : 0.0;
            for (int c = 0; c < p; c++) {
                d[g * p + c] = s->sum[g * p + c] * inv;
                a[g * p + c] += d[g * p + c];
            }
        }
        s->pending[0] = k;
        s->npending = 1;
    }
}

/* Per column c: ab[c] = <GGX-GX, d2X>, bb[c] = <d2X, d2X> with d2X = GGX - 2GX + X, and the largest
 * relative change |GGX-GX|/(0.1+|GGX|) over all. Entries of replicated dimensions are identical on all
 * ranks; those of local-only dimensions live on one rank each and are summed across ranks. */
static double reduce_stats(sweep_ctx *s, const double *X, const double *GX, const double *GGX, double *ab,
                           double *bb)
{
    const gr_fe *fe = s->fe;
    const int p = s->p;
    double *loc = gr_calloc((size_t)2 * p + 1, sizeof *loc);
    double diff = 0;
    for (int c = 0; c < p; c++) ab[c] = bb[c] = 0;
    for (int k = 0; k < fe->nfe; k++) {
        int shared_sum = fe->local_only[k] && s->nranks > 1;
        double *tab = shared_sum ? loc : ab, *tbb = shared_sum ? loc + p : bb;
        for (int64_t j = s->off[k] * p; j < s->off[k + 1] * p; j++) {
            int c = (int)(j % p);
            double dGX = GGX[j] - GX[j], d2X = dGX - GX[j] + X[j];
            tab[c] += dGX * d2X;
            tbb[c] += d2X * d2X;
            double rel = fabs(dGX) / (0.1 + fabs(GGX[j]));
            if (rel > diff) diff = rel;
        }
    }
    if (s->nranks > 1) {
        MPI_Allreduce(MPI_IN_PLACE, loc, 2 * p, MPI_DOUBLE, MPI_SUM, fe->comm);
        MPI_Allreduce(MPI_IN_PLACE, &diff, 1, MPI_DOUBLE, MPI_MAX, fe->comm);
        for (int c = 0; c < p; c++) { ab[c] += loc[c]; bb[c] += loc[p + c]; }
    }
    free(loc);
    return diff;
}

static int demean_irons_tuck(const gr_fe *fe, int ncols, double **cols, double tol, int maxiter, int *iterations,
                             int *converged)
{
    *iterations = 0;
    *converged = 1;
    if (fe->nfe == 0 || ncols == 0) return GR_OK;
    if (fe->nfe > 16) return gr_fail(GR_EINPUT, "fixed effects", "at most 16 dimensions");
    const int p = ncols;
    const int64_t n = fe->n;
    sweep_ctx s = {.fe = fe, .p = p};
    MPI_Comm_size(fe->comm, &s.nranks);
    int64_t maxL = 1;
    s.off[0] = 0;
    for (int k = 0; k < fe->nfe; k++) {
        s.off[k + 1] = s.off[k] + fe->nlevels[k];
        if (fe->nlevels[k] > maxL) maxL = fe->nlevels[k];
    }
    int64_t L = s.off[fe->nfe] * p;
    s.sum = gr_malloc((size_t)(maxL * p), sizeof(double));
    s.P = gr_calloc((size_t)(L ? L : 1), sizeof(double));
    double *X = gr_calloc((size_t)L, sizeof *X), *GX = gr_malloc((size_t)L, sizeof *GX),
           *GGX = gr_malloc((size_t)L, sizeof *GGX), *ab = gr_malloc((size_t)p, sizeof *ab),
           *bb = gr_malloc((size_t)p, sizeof *bb);
    double *E = gr_malloc((size_t)(n ? n : 1) * p, sizeof *E);
    for (int c = 0; c < p; c++) {
        const double *restrict v = cols[c];
        for (int64_t i = 0; i < n; i++) E[i * p + c] = v[i];
    }
    int it = 0, done = 0;
    if (fe->nfe == 1) {
        sweep(&s, X, E);  /* one dimension: one sweep is exact */
        it = 1;
        done = 1;
    }
    while (!done && it < maxiter) {
        memcpy(GX, X, (size_t)L * sizeof *X);
        sweep(&s, GX, E);
        memcpy(GGX, GX, (size_t)L * sizeof *X);
        sweep(&s, GGX, E);
        it++;
        if (reduce_stats(&s, X, GX, GGX, ab, bb) < tol) {
            done = 1;
            break;
        }
        /* Irons-Tuck extrapolation, one coefficient per column; the move from GGX to the new X is
         * added to the pending changes of every dimension (applied by the next pass) */
        for (int64_t j = 0; j < L; j++) {
            int c = (int)(j % p);
            double coef = bb[c] > 0 ? ab[c] / bb[c] : 0.0;
            X[j] = GGX[j] - coef * (GGX[j] - GX[j]);
            s.P[j] += X[j] - GGX[j];
        }
        s.npending = fe->nfe;
        for (int k = 0; k < fe->nfe; k++) s.pending[k] = k;
    }
    row_pass(&s, -1, E);  /* apply what is still pending */
    if (!done) *converged = 0;
    *iterations = it;
    for (int c = 0; c < p; c++) {
        double *restrict v = cols[c];
        for (int64_t i = 0; i < n; i++) v[i] = E[i * p + c];
    }
    free(E); free(X); free(GX); free(GGX); free(ab); free(bb); free(s.sum); free(s.P);
    return GR_OK;
}

/* ---- conjugate gradient ----
 * The normal equations of v on the dummies of all dimensions, D'D alpha = D'v, are symmetric positive
 * semi-definite and consistent; CG preconditioned by diag(D'D) (the level counts) solves them. The
 * product D'D x needs one pass over the level ids (no row data): t_i = sum_k x_k[id_k(i)], then t_i is
 * added to the sums of each of the row's levels. Sums of dimensions shared across ranks are combined
 * in one Allreduce per iteration.
 * Three or four columns are stored four per level (three padded with an inactive zero column) and run
 * on SSE2 vectors (two per level, always available on x86-64) or, when the CPU has it (checked once at
 * run time; the build targets x86-64-v2), on one AVX2 vector per level. Both paths do the same
 * operations in the same order (no FMA), so they give the same bits. */

typedef void (*np_kernel_fn)(int64_t, int32_t *const *, const double *const *, double *const *);

/* The product kernel, specialised on the number of dimensions KK and columns PP so that the loops
 * unroll: t = sum_k x_k[id_k(i)], then q_k[id_k(i)] += t for every k. */
#define NP_KERNEL(KK, PP)                                                                             \
    static void np_kernel_##KK##_##PP(int64_t n, int32_t *const *id, const double *const *xk,         \
                                      double *const *qk)                                             \
    {                                                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                             \
            double t[PP];                                                                             \
            int64_t g[KK];                                                                            \
            _Pragma("GCC unroll 4") for (int k = 0; k < KK; k++) g[k] = (int64_t)id[k][i] * PP;       \
            _Pragma("GCC unroll 4") for (int c = 0; c < PP; c++) t[c] = xk[0][g[0] + c];              \
            _Pragma("GCC unroll 4") for (int k = 1; k < KK; k++)                                      \
                _Pragma("GCC unroll 4") for (int c = 0; c < PP; c++) t[c] += xk[k][g[k] + c];         \
            _Pragma("GCC unroll 4") for (int k = 0; k < KK; k++)                                      \
                _Pragma("GCC unroll 4") for (int c = 0; c < PP; c++) qk[k][g[k] + c] += t[c];         \
        }                                                                                             \
    }
#define NP_KERNELS(KK) NP_KERNEL(KK, 1) NP_KERNEL(KK, 2)
NP_KERNELS(2)
NP_KERNELS(3)
NP_KERNELS(4)
static const np_kernel_fn np_kernels_s[3][2] = {
    {np_kernel_2_1, np_kernel_2_2}, {np_kernel_3_1, np_kernel_3_2}, {np_kernel_4_1, np_kernel_4_2}};
/* Three or four columns per level (padded to four), on whole vectors: two SSE2 vectors per level, or
 * one AVX2 vector (level vectors are 64-byte aligned). The scatter passes (the product D'D x and the
 * right-hand side D'v) are specialised on the number of dimensions KK and on RUNS, the set of
 * dimensions whose rows come in runs of one level (a province pair over a pair's months): the sum of a
 * run stays in registers and goes to memory when the level changes, which saves a load and a store per
 * row and breaks the store-to-load chain; the other dimensions add each row to memory directly. */
typedef double v2d __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef long long v2i __attribute__((vector_size(16)));
typedef long long v4i __attribute__((vector_size(32)));
/* q_k[id_k(i)] += a(i) for every row i and dimension k < KK, a(i) (NV vectors of type VT) set by ROWVAL */
#define SCATTER_BODY(VT, NV, ROWVAL)                                                                  \
    VT *q[4];                                                                                         \
    const int32_t *ix[4];                                                                             \
    int64_t cur[4];                                                                                   \
    VT acc[4][NV];                                                                                    \
    for (int k = 0; k < KK; k++) {                                                                    \
        q[k] = (VT *)qk[k]; ix[k] = id[k];                                                            \
        cur[k] = n > 0 ? ix[k][0] : 0;                                                                \
        for (int h = 0; h < NV; h++) acc[k][h] = (VT){0};                                             \
    }                                                                                                 \
    for (int64_t i = 0; i < n; i++) {                                                                 \
        int64_t g[4];                                                                                 \
        VT a[NV];                                                                                     \
        _Pragma("GCC unroll 4") for (int k = 0; k < KK; k++) g[k] = ix[k][i];                         \
        ROWVAL                                                                                        \
        _Pragma("GCC unroll 4") for (int k = 0; k < KK; k++) {                                        \
            if (!(RUNS >> k & 1)) {                                                                   \
                _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) q[k][g[k] * NV + h] += a[h];     \
            } else if (g[k] != cur[k]) {                                                              \
                _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) {                                \
                    q[k][cur[k] * NV + h] += acc[k][h]; acc[k][h] = a[h];                             \
                }                                                                                     \
                cur[k] = g[k];                                                                        \
            } else {                                                                                  \
                _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) acc[k][h] += a[h];               \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
    for (int k = 0; k < KK && n > 0; k++)                                                             \
        if (RUNS >> k & 1)                                                                            \
            for (int h = 0; h < NV; h++) q[k][cur[k] * NV + h] += acc[k][h];
/* product: a(i) = sum_k x_k[id_k(i)], x_k = src[k] */
#define ROW_GATHER(VT, NV)                                                                            \
    const VT *const *x = (const VT *const *)src;                                                      \
    _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) a[h] = x[0][g[0] * NV + h];                  \
    _Pragma("GCC unroll 4") for (int k = 1; k < KK; k++)                                              \
        _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) a[h] += x[k][g[k] * NV + h];
/* right-hand side: a(i) = (v_0, v_1, v_2, v_3)(i) = src[0..3][i]; with three columns src[3] repeats
 * src[2] and lane3 = 0 clears that lane */
#define ROW_COLS_V                                                                                    \
    a[0] = (v2d){src[0][i], src[1][i]};                                                               \
    a[1] = (v2d)((v2i)(v2d){src[2][i], src[3][i]} & (v2i){-1, lane3});
#define ROW_COLS_X a[0] = (v4d)((v4i)(v4d){src[0][i], src[1][i], src[2][i], src[3][i]} & (v4i){-1, -1, -1, lane3});

__attribute__((always_inline)) static inline void np_body_v(const int KK, const unsigned RUNS, int64_t n,
                                                            int32_t *const *id, const double *const *src,
                                                            double *const *qk)
{
    SCATTER_BODY(v2d, 2, ROW_GATHER(v2d, 2))
}
__attribute__((target("avx2"), always_inline)) static inline void np_body_x(const int KK, const unsigned RUNS,
                                                                            int64_t n, int32_t *const *id,
                                                                            const double *const *src,
                                                                            double *const *qk)
{
    SCATTER_BODY(v4d, 1, ROW_GATHER(v4d, 1))
}
__attribute__((always_inline)) static inline void rhs_body_v(const int KK, const unsigned RUNS, int64_t n,
                                                             int32_t *const *id, const double *const *src,
                                                             double *const *qk, long long lane3)
{
    SCATTER_BODY(v2d, 2, ROW_COLS_V)
}
__attribute__((target("avx2"), always_inline)) static inline void rhs_body_x(const int KK, const unsigned RUNS,
                                                                             int64_t n, int32_t *const *id,
                                                                             const double *const *src,
                                                                             double *const *qk, long long lane3)
{
    SCATTER_BODY(v4d, 1, ROW_COLS_X)
}
typedef void (*rhs_kernel_fn)(int64_t, int32_t *const *, const double *const *, double *const *, long long);
#define SCATTER_FNS(KK, R)                                                                            \
    static void np_v_##KK##_##R(int64_t n, int32_t *const *id, const double *const *src, double *const *qk) \
    {                                                                                                 \
        np_body_v(KK, R, n, id, src, qk);                                                             \
    }                                                                                                 \
    __attribute__((target("avx2"))) static void np_x_##KK##_##R(int64_t n, int32_t *const *id,      \
                                                                const double *const *src,             \
                                                                double *const *qk)                    \
    {                                                                                                 \
        np_body_x(KK, R, n, id, src, qk);                                                             \
    }                                                                                                 \
    static void rhs_v_##KK##_##R(int64_t n, int32_t *const *id, const double *const *src,             \
                                 double *const *qk, long long lane3)                                  \
    {                                                                                                 \
        rhs_body_v(KK, R, n, id, src, qk, lane3);                                                     \
    }                                                                                                 \
    __attribute__((target("avx2"))) static void rhs_x_##KK##_##R(int64_t n, int32_t *const *id,     \
                                                                 const double *const *src,            \
                                                                 double *const *qk, long long lane3)  \
    {                                                                                                 \
        rhs_body_x(KK, R, n, id, src, qk, lane3);                                                     \
    }
SCATTER_FNS(2, 0) SCATTER_FNS(2, 1) SCATTER_FNS(2, 2) SCATTER_FNS(2, 3)
SCATTER_FNS(3, 0) SCATTER_FNS(3, 1) SCATTER_FNS(3, 2) SCATTER_FNS(3, 3) SCATTER_FNS(3, 4) SCATTER_FNS(3, 5) SCATTER_FNS(3, 6) SCATTER_FNS(3, 7)
SCATTER_FNS(4, 0) SCATTER_FNS(4, 1) SCATTER_FNS(4, 2) SCATTER_FNS(4, 3) SCATTER_FNS(4, 4) SCATTER_FNS(4, 5) SCATTER_FNS(4, 6) SCATTER_FNS(4, 7) SCATTER_FNS(4, 8) SCATTER_FNS(4, 9) SCATTER_FNS(4, 10) SCATTER_FNS(4, 11) SCATTER_FNS(4, 12) SCATTER_FNS(4, 13) SCATTER_FNS(4, 14) SCATTER_FNS(4, 15)
static const np_kernel_fn np_kernels_v[3][16] = {
    {np_v_2_0, np_v_2_1, np_v_2_2, np_v_2_3},
    {np_v_3_0, np_v_3_1, np_v_3_2, np_v_3_3, np_v_3_4, np_v_3_5, np_v_3_6, np_v_3_7},
    {np_v_4_0, np_v_4_1, np_v_4_2, np_v_4_3, np_v_4_4, np_v_4_5, np_v_4_6, np_v_4_7, np_v_4_8, np_v_4_9, np_v_4_10, np_v_4_11, np_v_4_12, np_v_4_13, np_v_4_14, np_v_4_15},
};
static const np_kernel_fn np_kernels_x[3][16] = {
    {np_x_2_0, np_x_2_1, np_x_2_2, np_x_2_3},
    {np_x_3_0, np_x_3_1, np_x_3_2, np_x_3_3, np_x_3_4, np_x_3_5, np_x_3_6, np_x_3_7},
    {np_x_4_0, np_x_4_1, np_x_4_2, np_x_4_3, np_x_4_4, np_x_4_5, np_x_4_6, np_x_4_7, np_x_4_8, np_x_4_9, np_x_4_10, np_x_4_11, np_x_4_12, np_x_4_13, np_x_4_14, np_x_4_15},
};
static const rhs_kernel_fn rhs_kernels_v[3][16] = {
    {rhs_v_2_0, rhs_v_2_1, rhs_v_2_2, rhs_v_2_3},
    {rhs_v_3_0, rhs_v_3_1, rhs_v_3_2, rhs_v_3_3, rhs_v_3_4, rhs_v_3_5, rhs_v_3_6, rhs_v_3_7},
    {rhs_v_4_0, rhs_v_4_1, rhs_v_4_2, rhs_v_4_3, rhs_v_4_4, rhs_v_4_5, rhs_v_4_6, rhs_v_4_7, rhs_v_4_8, rhs_v_4_9, rhs_v_4_10, rhs_v_4_11, rhs_v_4_12, rhs_v_4_13, rhs_v_4_14, rhs_v_4_15},
};
static const rhs_kernel_fn rhs_kernels_x[3][16] = {
    {rhs_x_2_0, rhs_x_2_1, rhs_x_2_2, rhs_x_2_3},
    {rhs_x_3_0, rhs_x_3_1, rhs_x_3_2, rhs_x_3_3, rhs_x_3_4, rhs_x_3_5, rhs_x_3_6, rhs_x_3_7},
    {rhs_x_4_0, rhs_x_4_1, rhs_x_4_2, rhs_x_4_3, rhs_x_4_4, rhs_x_4_5, rhs_x_4_6, rhs_x_4_7, rhs_x_4_8, rhs_x_4_9, rhs_x_4_10, rhs_x_4_11, rhs_x_4_12, rhs_x_4_13, rhs_x_4_14, rhs_x_4_15},
};

/* The level-vector loops over levels [g0, g1) of pw columns each, minv holding one value per level.
 * dot: s[c] += a[.c] * b[.c]. update: x += step d, r -= step q, rz[c] += r * (minv r). direction:
 * d = minv r + beta d. Generic versions and AVX2 ones for pw = 4 (same operations, same order). */
static void lv_dot(int pw, int64_t g0, int64_t g1, const double *restrict a, const double *restrict b, double *s)
{
    for (int64_t g = g0; g < g1; g++)
        for (int c = 0; c < pw; c++) s[c] += a[g * pw + c] * b[g * pw + c];
}
static void lv_update(int pw, int64_t g0, int64_t g1, const double *step, double *restrict x, double *restrict r,
                      const double *restrict d, const double *restrict q, const double *restrict minv, double *rz)
{
    for (int64_t g = g0; g < g1; g++)
        for (int c = 0; c < pw; c++) {
            int64_t j = g * pw + c;
            x[j] += step[c] * d[j];
            r[j] -= step[c] * q[j];
            rz[c] += r[j] * (minv[g] * r[j]);
        }
}
static void lv_direction(int pw, int64_t g0, int64_t g1, const double *beta, double *restrict d,
                         const double *restrict r, const double *restrict minv)
{
    for (int64_t g = g0; g < g1; g++)
        for (int c = 0; c < pw; c++) d[g * pw + c] = minv[g] * r[g * pw + c] + beta[c] * d[g * pw + c];
}
__attribute__((target("avx2"))) static void lv_dot_x4(int64_t g0, int64_t g1, const double *restrict a,
                                                      const double *restrict b, double *s)
{
    const v4d *A = (const v4d *)a, *B = (const v4d *)b;
    v4d acc = {s[0], s[1], s[2], s[3]};
    for (int64_t g = g0; g < g1; g++) acc += A[g] * B[g];
    for (int c = 0; c < 4; c++) s[c] = acc[c];
}
__attribute__((target("avx2"))) static void lv_update_x4(int64_t g0, int64_t g1, const double *step, double *restrict x,
                                                         double *restrict r, const double *restrict d,
                                                         const double *restrict q, const double *restrict minv, double *rz)
{
    v4d *X = (v4d *)x, *R = (v4d *)r;
    const v4d *D = (const v4d *)d, *Q = (const v4d *)q;
    const v4d st = {step[0], step[1], step[2], step[3]};
    v4d acc = {rz[0], rz[1], rz[2], rz[3]};
    for (int64_t g = g0; g < g1; g++) {
        X[g] += st * D[g];
        v4d rg = R[g] - st * Q[g];
        R[g] = rg;
        acc += rg * (minv[g] * rg);
    }
    for (int c = 0; c < 4; c++) rz[c] = acc[c];
}
__attribute__((target("avx2"))) static void lv_direction_x4(int64_t g0, int64_t g1, const double *beta, double *restrict d,
                                                            const double *restrict r, const double *restrict minv)
{
    v4d *D = (v4d *)d;
    const v4d *R = (const v4d *)r;
    const v4d be = {beta[0], beta[1], beta[2], beta[3]};
    for (int64_t g = g0; g < g1; g++) D[g] = minv[g] * R[g] + be * D[g];
}

/* The residual v - D x for three or four columns, four per level (xk[k]: dimension k's block of x):
 * c -= sum_k xk[k][id_k] for every row. */
static void rows_resid_v4(int K, int64_t n, int32_t *const *id, const double *const *xk, double **cols, int p)
{
    double *restrict c0 = cols[0], *restrict c1 = cols[1], *restrict c2 = cols[2], *restrict c3 = p > 3 ? cols[3] : NULL;
    for (int64_t i = 0; i < n; i++) {
        v2d a = {0, 0}, b = {0, 0};
        for (int k = 0; k < K; k++) {
            const v2d *xg = (const v2d *)xk[k] + (int64_t)id[k][i] * 2;
            a += xg[0];
            b += xg[1];
        }
        c0[i] -= a[0]; c1[i] -= a[1]; c2[i] -= b[0];
        if (c3) c3[i] -= b[1];
    }
}
__attribute__((target("avx2"))) static void rows_resid_x4(int K, int64_t n, int32_t *const *id, const double *const *xk,
                                                          double **cols, int p)
{
    double *restrict c0 = cols[0], *restrict c1 = cols[1], *restrict c2 = cols[2], *restrict c3 = p > 3 ? cols[3] : NULL;
    for (int64_t i = 0; i < n; i++) {
        v4d a = {0, 0, 0, 0};
        for (int k = 0; k < K; k++) a += ((const v4d *)xk[k])[id[k][i]];
        c0[i] -= a[0]; c1[i] -= a[1]; c2[i] -= a[2];
        if (c3) c3[i] -= a[3];
    }
}

/* 1 if the AVX2 kernels may run: the CPU has AVX2 and GRAVRD_NO_AVX2 is not set (to test the SSE2
 * path on any machine). */
static int use_avx2(void)
{
    const char *e = getenv("GRAVRD_NO_AVX2");
    if (e && *e && strcmp(e, "0") != 0) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
}

/* Bit k set if the rows of dimension k come in runs of one level (at least 4 rows on average), judged
 * on up to 64 blocks of 256 consecutive rows spread over the local rows: the kernels then sum a run in
 * registers. */
static unsigned run_dims(const gr_fe *fe)
{
    const int64_t n = fe->n;
    unsigned runs = 0;
    for (int k = 0; k < fe->nfe && k < 16; k++) {
        const int32_t *id = fe->id[k];
        int64_t changes = 0, pairs = 0;
        for (int b = 0; b < 64; b++) {
            int64_t i0 = n * b / 64, i1 = i0 + 256 < n ? i0 + 256 : n;
            for (int64_t i = i0 + 1; i < i1; i++) changes += id[i] != id[i - 1];
            pairs += i1 > i0 ? i1 - i0 - 1 : 0;
        }
        if (pairs > 0 && 4 * changes <= pairs) runs |= 1u << k;
    }
    return runs;
}

/* q = D'W D x for all pw columns (stacked level vectors). */
static void normal_product(const gr_fe *fe, const int64_t *off, int pw, int avx2, unsigned runs, const double *x, double *q, int nranks,
                           double *packbuf)
{
    const int K = fe->nfe;
    const int64_t n = fe->n;
    memset(q, 0, (size_t)(off[K] * pw) * sizeof *q);
    const double *restrict w = fe->w;
    if (!w && K >= 2 && K <= 4 && pw <= 4) {
        const double *xk[4];
        double *qk[4];
        for (int k = 0; k < K; k++) { xk[k] = x + off[k] * pw; qk[k] = q + off[k] * pw; }
        if (pw == 4) (avx2 ? np_kernels_x : np_kernels_v)[K - 2][runs](n, fe->id, xk, qk);
        else np_kernels_s[K - 2][pw - 1](n, fe->id, xk, qk);
    } else {
        double t[64];
        for (int64_t i = 0; i < n; i++) {
            for (int c = 0; c < pw; c++) t[c] = 0;
            for (int k = 0; k < K; k++) {
                const double *xg = x + (off[k] + fe->id[k][i]) * pw;
                for (int c = 0; c < pw; c++) t[c] += xg[c];
            }
            if (w) for (int c = 0; c < pw; c++) t[c] *= w[i];
            for (int k = 0; k < K; k++) {
                double *qg = q + (off[k] + fe->id[k][i]) * pw;
                for (int c = 0; c < pw; c++) qg[c] += t[c];
            }
        }
    }
    if (nranks > 1) {
        /* one Allreduce for the dimensions that are shared across ranks */
        int64_t m = 0;
        for (int k = 0; k < K; k++)
            if (!fe->local_only[k]) {
                memcpy(packbuf + m, q + off[k] * pw, (size_t)(fe->nlevels[k] * pw) * sizeof *q);
                m += fe->nlevels[k] * pw;
            }
        if (m > 0) {
            MPI_Allreduce(MPI_IN_PLACE, packbuf, (int)m, MPI_DOUBLE, MPI_SUM, fe->comm);
            m = 0;
            for (int k = 0; k < K; k++)
                if (!fe->local_only[k]) {
                    memcpy(q + off[k] * pw, packbuf + m, (size_t)(fe->nlevels[k] * pw) * sizeof *q);
                    m += fe->nlevels[k] * pw;
                }
        }
    }
}

/* The per-column sums of a level loop, per dimension: entries of dimensions that live on one rank
 * each (local-only) are summed across ranks, the others are identical on all ranks. */
typedef struct {
    const gr_fe *fe;
    const int64_t *off;
    int pw, nranks;
    double loc[64], rep[64];
} lv_sums;

static double *lv_sums_start(lv_sums *s, int k)
{
    if (k == 0)
        for (int c = 0; c < s->pw; c++) s->loc[c] = s->rep[c] = 0;
    return (s->fe->local_only[k] && s->nranks > 1) ? s->loc : s->rep;
}

static void lv_sums_finish(lv_sums *s, double *out)
{
    if (s->nranks > 1) MPI_Allreduce(MPI_IN_PLACE, s->loc, s->pw, MPI_DOUBLE, MPI_SUM, s->fe->comm);
    for (int c = 0; c < s->pw; c++) out[c] = s->rep[c] + s->loc[c];
}

static int demean_cg(const gr_fe *fe, int ncols, double **cols, double tol, int maxiter, int *iterations,
                     int *converged)
{
    const int K = fe->nfe, p = ncols;
    const int64_t n = fe->n;
    int nranks;
    MPI_Comm_size(fe->comm, &nranks);
    if (p > 64) return gr_fail(GR_EINPUT, "fixed effects", "at most 64 columns per demeaning pass");
    /* level vectors hold pw >= p columns per level: three are padded to four (a zero column that
     * stays inactive) so that the kernels run on whole vectors */
    const int pw = p == 3 ? 4 : p;
    const int x4 = pw == 4 && use_avx2();
    const unsigned runs = run_dims(fe);
    int64_t off[17];
    off[0] = 0;
    for (int k = 0; k < K; k++) off[k + 1] = off[k] + fe->nlevels[k];
    const int64_t NL = off[K], L = NL * pw;
    /* x, r, d, q, pack (L each) and minv (one per level) in one block, each 64-byte aligned */
    const int64_t Lpad = (L + 7) / 8 * 8;
    double *block = gr_calloc((size_t)(5 * Lpad + (NL + 7) / 8 * 8 + 8), sizeof *block);
    double *base = (double *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    double *x = base, *r = base + Lpad, *d = base + 2 * Lpad, *q = base + 3 * Lpad, *pack = base + 4 * Lpad,
           *minv = base + 5 * Lpad;
    for (int k = 0; k < K; k++)
        for (int64_t g = 0; g < fe->nlevels[k]; g++)
            minv[off[k] + g] = fe->count[k][g] > 0 ? 1.0 / fe->count[k][g] : 0.0;
    /* r = D'W v: the group sums of every column, in one pass over the rows */
    if (pw == 4 && !fe->w && K <= 4) {
        double *rk[16];
        for (int k = 0; k < K; k++) rk[k] = r + off[k] * pw;
        const double *src[4] = {cols[0], cols[1], cols[2], p > 3 ? cols[3] : cols[2]};
        (x4 ? rhs_kernels_x : rhs_kernels_v)[K - 2][runs](n, fe->id, src, rk, p > 3 ? -1 : 0);
    } else {
        double *rk[16];
        for (int k = 0; k < K; k++) rk[k] = r + off[k] * pw;
        const double *restrict w = fe->w;
        for (int64_t i = 0; i < n; i++) {
            double t[64];
            for (int c = 0; c < p; c++) t[c] = w ? w[i] * cols[c][i] : cols[c][i];
            for (int k = 0; k < K; k++) {
                double *restrict rg = rk[k] + (int64_t)fe->id[k][i] * pw;
                for (int c = 0; c < p; c++) rg[c] += t[c];
            }
        }
    }
    if (nranks > 1)
        for (int k = 0; k < K; k++)
            if (!fe->local_only[k])
                MPI_Allreduce(MPI_IN_PLACE, r + off[k] * pw, (int)(fe->nlevels[k] * pw), MPI_DOUBLE, MPI_SUM, fe->comm);
    /* d = z = M^-1 r and rz = <r, z> */
    double rz[64], rz0[64], pq[64], zero[64] = {0};
    lv_sums S = {.fe = fe, .off = off, .pw = pw, .nranks = nranks};
    for (int k = 0; k < K; k++) {
        double *dst = lv_sums_start(&S, k);
        if (x4) {
            lv_direction_x4(off[k], off[k + 1], zero, d, r, minv);
            lv_dot_x4(off[k], off[k + 1], r, d, dst);
        } else {
            lv_direction(pw, off[k], off[k + 1], zero, d, r, minv);
            lv_dot(pw, off[k], off[k + 1], r, d, dst);
        }
    }
    lv_sums_finish(&S, rz);
    for (int c = 0; c < pw; c++) rz0[c] = rz[c];
    int it = 0, done = 0, active[64];
    for (int c = 0; c < pw; c++) active[c] = rz0[c] > 0;
    /* stop when the preconditioned residual norm relative to that of D'v is below max(tol^2, 1e-13):
     * CG's residual falls fast, and this keeps the default tolerance (1e-6) as accurate as the
     * sweeps' coefficient criterion */
    double thr = tol * tol > 1e-13 ? tol * tol : 1e-13;
    for (;;) {
        int any = 0;
        for (int c = 0; c < pw; c++) {
            if (active[c] && rz[c] <= thr * thr * rz0[c]) active[c] = 0;
            any |= active[c];
        }
        if (!any) { done = 1; break; }
        if (it >= maxiter) break;
        normal_product(fe, off, pw, x4, runs, d, q, nranks, pack);
        for (int k = 0; k < K; k++) {
            double *dst = lv_sums_start(&S, k);
            if (x4) lv_dot_x4(off[k], off[k + 1], d, q, dst);
            else lv_dot(pw, off[k], off[k + 1], d, q, dst);
        }
        lv_sums_finish(&S, pq);
        double step[64];
        for (int c = 0; c < pw; c++) step[c] = (active[c] && pq[c] > 0) ? rz[c] / pq[c] : 0.0;
        /* x += step d, r -= step q, and <r, M^-1 r> in one pass */
        double rznew[64], beta[64];
        for (int k = 0; k < K; k++) {
            double *dst = lv_sums_start(&S, k);
            if (x4) lv_update_x4(off[k], off[k + 1], step, x, r, d, q, minv, dst);
            else lv_update(pw, off[k], off[k + 1], step, x, r, d, q, minv, dst);
        }
        lv_sums_finish(&S, rznew);
        for (int c = 0; c < pw; c++) {
            beta[c] = (active[c] && rz[c] > 0) ? rznew[c] / rz[c] : 0.0;
            if (active[c]) rz[c] = rznew[c];
        }
        if (x4) lv_direction_x4(0, NL, beta, d, r, minv);
        else lv_direction(pw, 0, NL, beta, d, r, minv);
        it++;
    }
    /* e = v - D x, in one pass over the rows */
    if (pw == 4) {
        const double *xk[16];
        for (int k = 0; k < K; k++) xk[k] = x + off[k] * pw;
        if (x4) rows_resid_x4(K, n, fe->id, xk, cols, p);
        else rows_resid_v4(K, n, fe->id, xk, cols, p);
    } else {
        const double *xk[16];
        for (int k = 0; k < K; k++) xk[k] = x + off[k] * pw;
        for (int64_t i = 0; i < n; i++) {
            double t[64];
            for (int c = 0; c < p; c++) t[c] = 0;
            for (int k = 0; k < K; k++) {
                const double *restrict xg = xk[k] + (int64_t)fe->id[k][i] * pw;
                for (int c = 0; c < p; c++) t[c] += xg[c];
            }
            for (int c = 0; c < p; c++) cols[c][i] -= t[c];
        }
    }
    *iterations = it;
    *converged = done;
    free(block);
    return GR_OK;
}

int gr_fe_demean(const gr_fe *fe, int ncols, double **cols, double tol, int maxiter, int *iterations,
                 int *converged)
{
    *iterations = 0;
    *converged = 1;
    if (fe->nfe == 0 || ncols == 0) return GR_OK;
    if (fe->nfe > 16) return gr_fail(GR_EINPUT, "fixed effects", "at most 16 dimensions");
    if (fe->method == GR_FE_IRONS_TUCK || fe->nfe == 1)
        return demean_irons_tuck(fe, ncols, cols, tol, maxiter, iterations, converged);
    return demean_cg(fe, ncols, cols, tol, maxiter, iterations, converged);
}

void gr_fe_free(gr_fe *fe)
{
    for (int k = 0; k < fe->nfe; k++) {
        free(fe->id[k]);
        free(fe->count[k]);
        free(fe->names[k]);
    }
    free(fe->id); free(fe->count); free(fe->nlevels); free(fe->local_only); free(fe->names);
    memset(fe, 0, sizeof *fe);
}
