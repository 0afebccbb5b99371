/* fe.c: singletons, nesting and the demeaning across ranks: Irons-Tuck sweeps and conjugate gradient (see fe.h).
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

static void level_counts(const gr_fe *fe, int k, const unsigned char *keep, double *cnt, int allreduce)
{
    memset(cnt, 0, (size_t)fe->nlevels[k] * sizeof *cnt);
    const int32_t *id = fe->id[k];
    for (int64_t i = 0; i < fe->n; i++)
        if (!keep || keep[i]) cnt[id[i]] += fe->w ? fe->w[i] : 1.0;
    if (allreduce) MPI_Allreduce(MPI_IN_PLACE, cnt, (int)fe->nlevels[k], MPI_DOUBLE, MPI_SUM, fe->comm);
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
    for (int k = 0; k < fe->nfe; k++) {
        int64_t L = fe->nlevels[k];
        /* each level within one cluster needs at least as many levels as clusters: else no pass */
        if (L < ncl) { nested[k] = 0; continue; }
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
 * in one Allreduce per iteration. */

/* Up to four unweighted columns are stored four per level (padded with zero columns that stay
 * inactive) and run on whole vectors: two SSE2 vectors per level, always available on x86-64, or one
 * AVX2 vector when the CPU has it (checked once at run time: the build targets x86-64-v2). Level
 * vectors are 64-byte aligned. The SSE2 and AVX2 kernels do the same operations in the same order (no
 * FMA), so they give the same bits. */
typedef double v2d __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef long long v2i __attribute__((vector_size(16)));
typedef long long v4i __attribute__((vector_size(32)));

/* The row passes, for KK dimensions: q_k[id_k(i)] += a(i) for every row i and dimension k, a(i) (NV
 * vectors of type VT) set by ROWVAL. Dimensions in RUNS have rows in runs of one level: the sum of a
 * run stays in registers and goes to memory when the level changes, which saves a load and a store per
 * row and breaks the store-to-load chain; the others add each row to memory directly. */
#define SCATTER_BODY(VT, NV, ROWVAL)                                                                  \
    VT *q[4];                                                                                         \
    const int32_t *ix[4];                                                                             \
    int64_t cur[4];                                                                                   \
    VT acc[4][NV];                                                                                    \
    for (int k = 0; k < KK; k++) {                                                                    \
        q[k] = (VT *)qk[k];                                                                           \
        ix[k] = id[k];                                                                                \
        cur[k] = n > 0 ? ix[k][0] : 0;                                                                \
        for (int h = 0; h < NV; h++) acc[k][h] = (VT){0};                                             \
    }                                                                                                 \
    for (int64_t i = 0; i < n; i++) {                                                                 \
        int64_t g[4];                                                                                 \
        VT a[NV];                                                                                     \
        _Pragma("GCC unroll 4") for (int k = 0; k < KK; k++) g[k] = ix[k][i];                         \
        ROWVAL()                                                                                      \
        _Pragma("GCC unroll 4") for (int k = 0; k < KK; k++) {                                        \
            if (!(RUNS >> k & 1)) {                                                                   \
                _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) q[k][g[k] * NV + h] += a[h];     \
            } else if (g[k] != cur[k]) {                                                              \
                _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) {                                \
                    q[k][cur[k] * NV + h] += acc[k][h];                                               \
                    acc[k][h] = a[h];                                                                 \
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
#define ROW_GATHER_v() ROW_GATHER(v2d, 2)
#define ROW_GATHER_x() ROW_GATHER(v4d, 1)
/* right-hand side: a(i) = (v_0, v_1, v_2, v_3)(i) = c[0..3][i]; with fewer columns c[] repeats the
 * last one and the lane masks ln[j] (0 for columns j >= p, else -1) clear them */
#define ROW_COLS_v()                                                                                  \
    a[0] = (v2d)((v2i)(v2d){c[0][i], c[1][i]} & (v2i){ln[0], ln[1]});                                 \
    a[1] = (v2d)((v2i)(v2d){c[2][i], c[3][i]} & (v2i){ln[2], ln[3]});
#define ROW_COLS_x() a[0] = (v4d)((v4i)(v4d){c[0][i], c[1][i], c[2][i], c[3][i]} & (v4i){ln[0], ln[1], ln[2], ln[3]});

/* SUF v: SSE2, x: AVX2 */
#define ROW_FNS(SUF, ATTR, VT, NV, NK)                                                                \
    ATTR static void rows_np_##SUF##_##NK(int64_t n, int32_t *const *id, unsigned RUNS,               \
                                          const double *const *src, double *const *qk)                \
    {                                                                                                 \
        const int KK = NK;                                                                            \
        SCATTER_BODY(VT, NV, ROW_GATHER_##SUF)                                                        \
    }                                                                                                 \
    ATTR static void rows_rhs_##SUF##_##NK(int64_t n, int32_t *const *id, unsigned RUNS,              \
                                           const double *const *c, const long long *ln,               \
                                           double *const *qk)                                         \
    {                                                                                                 \
        const int KK = NK;                                                                            \
        SCATTER_BODY(VT, NV, ROW_COLS_##SUF)                                                          \
    }
#define AVX2_ATTR __attribute__((target("avx2")))
ROW_FNS(v, , v2d, 2, 2) ROW_FNS(v, , v2d, 2, 3) ROW_FNS(v, , v2d, 2, 4)
ROW_FNS(x, AVX2_ATTR, v4d, 1, 2) ROW_FNS(x, AVX2_ATTR, v4d, 1, 3) ROW_FNS(x, AVX2_ATTR, v4d, 1, 4)
typedef void (*rows_np_fn)(int64_t, int32_t *const *, unsigned, const double *const *, double *const *);
typedef void (*rows_rhs_fn)(int64_t, int32_t *const *, unsigned, const double *const *, const long long *,
                            double *const *);
static const rows_np_fn rows_np[2][3] = {{rows_np_v_2, rows_np_v_3, rows_np_v_4},
                                         {rows_np_x_2, rows_np_x_3, rows_np_x_4}};
static const rows_rhs_fn rows_rhs[2][3] = {{rows_rhs_v_2, rows_rhs_v_3, rows_rhs_v_4},
                                           {rows_rhs_x_2, rows_rhs_x_3, rows_rhs_x_4}};

/* The residual c -= sum_k x_k[id_k] for every row (any number of dimensions K). */
static void rows_resid_v(int K, int64_t n, int32_t *const *id, const double *const *xk, double *const *c, int p)
{
    for (int64_t i = 0; i < n; i++) {
        v2d a = {0, 0}, b = {0, 0};
        for (int k = 0; k < K; k++) {
            const v2d *xg = (const v2d *)xk[k] + (int64_t)id[k][i] * 2;
            a += xg[0];
            b += xg[1];
        }
        c[0][i] -= a[0];
        if (p > 1) c[1][i] -= a[1];
        if (p > 2) c[2][i] -= b[0];
        if (p > 3) c[3][i] -= b[1];
    }
}
AVX2_ATTR static void rows_resid_x(int K, int64_t n, int32_t *const *id, const double *const *xk, double *const *c,
                                   int p)
{
    for (int64_t i = 0; i < n; i++) {
        v4d a = {0, 0, 0, 0};
        for (int k = 0; k < K; k++) a += ((const v4d *)xk[k])[id[k][i]];
        c[0][i] -= a[0];
        if (p > 1) c[1][i] -= a[1];
        if (p > 2) c[2][i] -= a[2];
        if (p > 3) c[3][i] -= a[3];
    }
}

/* Segments: rows often come in stretches along which every dimension's level either stays or goes up
 * by one per row (a pair's months: exporter^month and importer^month step, the province pair stays).
 * Over such a stretch the passes need no level ids: the moving dimensions are read and updated as
 * contiguous vectors and the sum for the staying ones is kept in registers, with no store-to-load
 * chain. The segment list is built once per demeaning, when a sample of the rows shows segments of 8
 * rows or more on average. */
typedef struct {
    int32_t len;      /* rows */
    uint32_t moving;  /* bit k: dimension k's level goes up by one per row */
    int32_t s[4];     /* level of the first row in each dimension */
} cg_seg;

/* Greedy segments of rows [i0, i1) (K <= 4 dimensions); if out is not NULL, writes them to *out (room
 * for *cap, grown as needed). Returns their number. */
static int64_t segment_rows(const gr_fe *fe, int64_t i0, int64_t i1, cg_seg **out, int64_t *cap)
{
    const int K = fe->nfe;
    int32_t *const *id = fe->id;
    int64_t m = 0, i = i0;
    while (i < i1) {
        uint32_t mv = 0;
        int ok = i + 1 < i1;
        for (int k = 0; k < K && ok; k++) {
            int64_t step = (int64_t)id[k][i + 1] - id[k][i];
            if (step == 1) mv |= 1u << k;
            else if (step != 0) ok = 0;
        }
        int64_t j = i + 1;
        if (ok) {
            for (j = i + 2; j < i1 && j - i < INT32_MAX; j++) {
                int same = 1;
                for (int k = 0; k < K; k++) same &= id[k][j] == id[k][j - 1] + (int32_t)(mv >> k & 1);
                if (!same) break;
            }
        } else mv = 0;
        if (out) {
            if (m == *cap) {
                *cap = 2 * *cap + 16;
                *out = gr_realloc(*out, (size_t)*cap, sizeof **out);
            }
            cg_seg *sg = *out + m;
            sg->len = (int32_t)(j - i);
            sg->moving = mv;
            for (int k = 0; k < 4; k++) sg->s[k] = k < K ? id[k][i] : 0;
        }
        m++;
        i = j;
    }
    return m;
}

/* The segment list of the local rows (freed by the caller), or NULL with *nseg = 0 if segments are
 * short (or there are more than 4 dimensions). */
static cg_seg *build_segments(const gr_fe *fe, int64_t *nseg)
{
    const int64_t n = fe->n;
    *nseg = 0;
    if (fe->nfe > 4 || n == 0) return NULL;
    int64_t rows = 0, segs = 0;
    for (int b = 0; b < 64; b++) {
        int64_t i0 = n * b / 64, i1 = i0 + 512 < n ? i0 + 512 : n;
        if (i1 <= i0) continue;
        segs += segment_rows(fe, i0, i1, NULL, NULL);
        rows += i1 - i0;
    }
    if (segs == 0 || rows < 8 * segs) return NULL;
    int64_t cap = n / 16 + 16;
    cg_seg *seg = gr_malloc((size_t)cap, sizeof *seg);
    *nseg = segment_rows(fe, 0, n, &seg, &cap);
    return seg;
}

/* One segment with M moving dimensions (a compile-time constant in the bodies below): xm/qm point at
 * the moving dimensions' blocks from the segment's first level on, F is the sum of the staying
 * dimensions' coefficients and qf their sums' slots. The row value is a(j) = F + sum_m xm[m][j]. */
#define SEG_SETUP(VT, NV, WITH_X)                                                                     \
    const int32_t L = sg->len;                                                                        \
    const VT *xm[4] = {0};                                                                            \
    VT *qm[4] = {0}, *qf[4] = {0};                                                                    \
    VT F[NV];                                                                                         \
    int nm = 0, nf = 0;                                                                               \
    for (int h = 0; h < NV; h++) F[h] = (VT){0};                                                      \
    for (int k = 0; k < K; k++) {                                                                     \
        int64_t o = (int64_t)sg->s[k] * NV;                                                           \
        const VT *xs = WITH_X ? (const VT *)src[k] + o : NULL;                                        \
        if (sg->moving >> k & 1) {                                                                    \
            xm[nm] = xs;                                                                              \
            if (qk) qm[nm] = (VT *)qk[k] + o;                                                         \
            nm++;                                                                                     \
        } else {                                                                                      \
            if (WITH_X) for (int h = 0; h < NV; h++) F[h] += xs[h];                                   \
            if (qk) qf[nf] = (VT *)qk[k] + o;                                                         \
            nf++;                                                                                     \
        }                                                                                             \
    }                                                                                                 \
    (void)xm; (void)qm; (void)qf; (void)F;
#define SEG_GATHER(VT, NV)                                                                            \
    _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) a[h] = F[h];                                 \
    _Pragma("GCC unroll 4") for (int m = 0; m < M; m++)                                               \
        _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) a[h] += xm[m][j * NV + h];
/* q += a(j) for every row: in place for the moving dimensions, through a register sum for the others
 * (the loop without that sum when there are none) */
#define SEG_SCATTER(VT, NV, ROWVAL)                                                                   \
    VT acc[NV];                                                                                       \
    for (int h = 0; h < NV; h++) acc[h] = (VT){0};                                                    \
    if (nf == 0) {                                                                                    \
        for (int32_t j = 0; j < L; j++) {                                                             \
            VT a[NV];                                                                                 \
            ROWVAL()                                                                                  \
            _Pragma("GCC unroll 4") for (int m = 0; m < M; m++)                                       \
                _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) qm[m][j * NV + h] += a[h];       \
        }                                                                                             \
    } else {                                                                                          \
        for (int32_t j = 0; j < L; j++) {                                                             \
            VT a[NV];                                                                                 \
            ROWVAL()                                                                                  \
            _Pragma("GCC unroll 4") for (int m = 0; m < M; m++)                                       \
                _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) qm[m][j * NV + h] += a[h];       \
            _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) acc[h] += a[h];                      \
        }                                                                                             \
        for (int f = 0; f < nf; f++)                                                                  \
            for (int h = 0; h < NV; h++) qf[f][h] += acc[h];                                          \
    }
#define SEG_GATHER_v() SEG_GATHER(v2d, 2)
#define SEG_GATHER_x() SEG_GATHER(v4d, 1)
#define SEG_COLS_v()                                                                                  \
    a[0] = (v2d)((v2i)(v2d){c[0][j], c[1][j]} & (v2i){ln[0], ln[1]});                                 \
    a[1] = (v2d)((v2i)(v2d){c[2][j], c[3][j]} & (v2i){ln[2], ln[3]});
#define SEG_COLS_x() a[0] = (v4d)((v4i)(v4d){c[0][j], c[1][j], c[2][j], c[3][j]} & (v4i){ln[0], ln[1], ln[2], ln[3]});
#define SEG_RESID_v()                                                                                 \
    c[0][j] -= a[0][0];                                                                               \
    if (ln[1]) c[1][j] -= a[0][1];                                                                    \
    if (ln[2]) c[2][j] -= a[1][0];                                                                    \
    if (ln[3]) c[3][j] -= a[1][1];
#define SEG_RESID_x()                                                                                 \
    c[0][j] -= a[0][0];                                                                               \
    if (ln[1]) c[1][j] -= a[0][1];                                                                    \
    if (ln[2]) c[2][j] -= a[0][2];                                                                    \
    if (ln[3]) c[3][j] -= a[0][3];

/* Per segment: the product (src: the x_k, into qk), the right-hand side (c: the columns at the
 * segment's first row, into qk) and the residual (c -= a). */
#define SEG_BODIES(SUF, ATTR, VT, NV)                                                                 \
    ATTR __attribute__((always_inline)) static inline void seg_np_##SUF(                              \
        const int M, const cg_seg *sg, int K, const double *const *src, double *const *qk)            \
    {                                                                                                 \
        SEG_SETUP(VT, NV, 1)                                                                          \
        SEG_SCATTER(VT, NV, SEG_GATHER_##SUF)                                                         \
    }                                                                                                 \
    ATTR __attribute__((always_inline)) static inline void seg_rhs_##SUF(                             \
        const int M, const cg_seg *sg, int K, const double *const *c, const long long *ln,            \
        double *const *qk)                                                                            \
    {                                                                                                 \
        const double *const *src = NULL;                                                              \
        SEG_SETUP(VT, NV, 0)                                                                          \
        SEG_SCATTER(VT, NV, SEG_COLS_##SUF)                                                           \
    }                                                                                                 \
    ATTR __attribute__((always_inline)) static inline void seg_resid_##SUF(                           \
        const int M, const cg_seg *sg, int K, const double *const *src, double *const *c,             \
        const long long *ln)                                                                          \
    {                                                                                                 \
        double *const *qk = NULL;                                                                     \
        SEG_SETUP(VT, NV, 1)                                                                          \
        for (int32_t j = 0; j < L; j++) {                                                             \
            VT a[NV];                                                                                 \
            SEG_GATHER_##SUF()                                                                        \
            SEG_RESID_##SUF()                                                                         \
        }                                                                                             \
    }                                                                                                 \
    /* the passes over all segments: a switch on the number of moving dimensions */                   \
    ATTR static void segs_np_##SUF(int64_t nseg, const cg_seg *seg, int K, const double *const *src,  \
                                   double *const *qk)                                                 \
    {                                                                                                 \
        for (const cg_seg *sg = seg; sg < seg + nseg; sg++) {                                         \
            switch (__builtin_popcount(sg->moving)) {                                                 \
            case 0: seg_np_##SUF(0, sg, K, src, qk); break;                                           \
            case 1: seg_np_##SUF(1, sg, K, src, qk); break;                                           \
            case 2: seg_np_##SUF(2, sg, K, src, qk); break;                                           \
            case 3: seg_np_##SUF(3, sg, K, src, qk); break;                                           \
            default: seg_np_##SUF(4, sg, K, src, qk); break;                                          \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
    ATTR static void segs_rhs_##SUF(int64_t nseg, const cg_seg *seg, int K, const double *const *cols, \
                                    const long long *ln, double *const *qk)                           \
    {                                                                                                 \
        const double *c[4] = {cols[0], cols[1], cols[2], cols[3]};                                    \
        for (const cg_seg *sg = seg; sg < seg + nseg; sg++) {                                         \
            switch (__builtin_popcount(sg->moving)) {                                                 \
            case 0: seg_rhs_##SUF(0, sg, K, c, ln, qk); break;                                        \
            case 1: seg_rhs_##SUF(1, sg, K, c, ln, qk); break;                                        \
            case 2: seg_rhs_##SUF(2, sg, K, c, ln, qk); break;                                        \
            case 3: seg_rhs_##SUF(3, sg, K, c, ln, qk); break;                                        \
            default: seg_rhs_##SUF(4, sg, K, c, ln, qk); break;                                       \
            }                                                                                         \
            for (int j = 0; j < 4; j++) c[j] += sg->len;                                              \
        }                                                                                             \
    }                                                                                                 \
    ATTR static void segs_resid_##SUF(int64_t nseg, const cg_seg *seg, int K, const double *const *src, \
                                      double *const *cols, const long long *ln)                       \
    {                                                                                                 \
        double *c[4] = {cols[0], cols[1], cols[2], cols[3]};                                          \
        for (const cg_seg *sg = seg; sg < seg + nseg; sg++) {                                         \
            switch (__builtin_popcount(sg->moving)) {                                                 \
            case 0: seg_resid_##SUF(0, sg, K, src, c, ln); break;                                     \
            case 1: seg_resid_##SUF(1, sg, K, src, c, ln); break;                                     \
            case 2: seg_resid_##SUF(2, sg, K, src, c, ln); break;                                     \
            case 3: seg_resid_##SUF(3, sg, K, src, c, ln); break;                                     \
            default: seg_resid_##SUF(4, sg, K, src, c, ln); break;                                    \
            }                                                                                         \
            for (int j = 0; j < 4; j++) c[j] += sg->len;                                              \
        }                                                                                             \
    }
SEG_BODIES(v, , v2d, 2)
SEG_BODIES(x, AVX2_ATTR, v4d, 1)

typedef void (*segs_np_fn)(int64_t, const cg_seg *, int, const double *const *, double *const *);
typedef void (*segs_rhs_fn)(int64_t, const cg_seg *, int, const double *const *, const long long *, double *const *);
typedef void (*segs_resid_fn)(int64_t, const cg_seg *, int, const double *const *, double *const *, const long long *);
static const segs_np_fn segs_np[2] = {segs_np_v, segs_np_x};
static const segs_rhs_fn segs_rhs[2] = {segs_rhs_v, segs_rhs_x};
static const segs_resid_fn segs_resid[2] = {segs_resid_v, segs_resid_x};

/* One or two columns without segments: the product kernel specialised on the number of dimensions
 * KK and columns PP so that the loops unroll: t = sum_k x_k[id_k(i)], then q_k[id_k(i)] += t. */
#define NP_KERNEL(KK, PP)                                                                             \
    static void np_kernel_##KK##_##PP(int64_t n, int32_t *const *id, const double *const *xk,         \
                                      double *const *qk)                                              \
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
typedef void (*np_kernel_fn)(int64_t, int32_t *const *, const double *const *, double *const *);
static const np_kernel_fn np_kernels_s[3][2] = {
    {np_kernel_2_1, np_kernel_2_2}, {np_kernel_3_1, np_kernel_3_2}, {np_kernel_4_1, np_kernel_4_2}};

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
AVX2_ATTR static void lv_dot_x4(int64_t g0, int64_t g1, const double *restrict a, const double *restrict b,
                                double *s)
{
    const v4d *A = (const v4d *)a, *B = (const v4d *)b;
    v4d acc = {s[0], s[1], s[2], s[3]};
    for (int64_t g = g0; g < g1; g++) acc += A[g] * B[g];
    for (int c = 0; c < 4; c++) s[c] = acc[c];
}
AVX2_ATTR static void lv_update_x4(int64_t g0, int64_t g1, const double *step, double *restrict x, double *restrict r,
                                   const double *restrict d, const double *restrict q, const double *restrict minv,
                                   double *rz)
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
AVX2_ATTR static void lv_direction_x4(int64_t g0, int64_t g1, const double *beta, double *restrict d,
                                      const double *restrict r, const double *restrict minv)
{
    v4d *D = (v4d *)d;
    const v4d *R = (const v4d *)r;
    const v4d be = {beta[0], beta[1], beta[2], beta[3]};
    for (int64_t g = g0; g < g1; g++) D[g] = minv[g] * R[g] + be * D[g];
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
static void normal_product(const gr_fe *fe, const int64_t *off, int pw, int avx2, unsigned runs, const cg_seg *seg,
                           int64_t nseg, const double *x, double *q, int nranks,
                           double *packbuf)
{
    const int K = fe->nfe;
    const int64_t n = fe->n;
    memset(q, 0, (size_t)(off[K] * pw) * sizeof *q);
    const double *restrict w = fe->w;
    if (!w && K >= 2 && K <= 4 && (pw == 4 || pw <= 2)) {
        const double *xk[4];
        double *qk[4];
        for (int k = 0; k < K; k++) { xk[k] = x + off[k] * pw; qk[k] = q + off[k] * pw; }
        if (seg) segs_np[avx2](nseg, seg, K, xk, qk);
        else if (pw == 4) rows_np[avx2][K - 2](n, fe->id, runs, xk, qk);
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

static int demean_cg_cols(const gr_fe *fe, int ncols, double **cols, double tol, int maxiter, int *iterations,
                          int *converged)
{
    const int K = fe->nfe, p = ncols;
    const int64_t n = fe->n;
    int nranks;
    MPI_Comm_size(fe->comm, &nranks);
    if (p > 64) return gr_fail(GR_EINPUT, "fixed effects", "at most 64 columns per demeaning pass");
    /* level vectors hold pw >= p columns per level: three columns, and one or two when the rows
     * form segments, are padded to four (zero columns that stay inactive) so that the kernels run on
     * whole vectors; without segments one or two columns keep their own kernels, whose level vectors
     * are smaller (randomly ordered rows are bound by cache misses) */
    int64_t nseg = 0;
    cg_seg *seg = !fe->w && K <= 4 && p <= 4 ? build_segments(fe, &nseg) : NULL;
    int pad = seg != NULL;  /* pw is the same on all ranks: pad only if every rank has segments */
    if (p < 3 && nranks > 1) MPI_Allreduce(MPI_IN_PLACE, &pad, 1, MPI_INT, MPI_MIN, fe->comm);
    const int pw = p == 3 || (p < 4 && pad) ? 4 : p;
    if (pw != 4) {
        free(seg);
        seg = NULL;
        nseg = 0;
    }
    const int x4 = pw == 4 && use_avx2();
    const long long lanes[4] = {-1, p > 1 ? -1 : 0, p > 2 ? -1 : 0, p > 3 ? -1 : 0};
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
        const double *src[4];
        for (int c = 0; c < 4; c++) src[c] = cols[c < p ? c : p - 1];
        if (seg) segs_rhs[x4](nseg, seg, K, src, lanes, rk);
        else rows_rhs[x4][K - 2](n, fe->id, runs, src, lanes, rk);
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
    lv_sums S = {.fe = fe, .pw = pw, .nranks = nranks};
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
        normal_product(fe, off, pw, x4, runs, seg, nseg, d, q, nranks, pack);
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
        double *c4[4];
        for (int c = 0; c < 4; c++) c4[c] = cols[c < p ? c : p - 1];
        if (seg) segs_resid[x4](nseg, seg, K, xk, c4, lanes);
        else if (x4) rows_resid_x(K, n, fe->id, xk, c4, p);
        else rows_resid_v(K, n, fe->id, xk, c4, p);
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
    free(seg);
    return GR_OK;
}

/* CG runs column by column (steps and stopping are per column), so more than four unweighted columns
 * are demeaned four at a time on the vector kernels: the same iterates, one pass over the rows per
 * iteration for each group of four. */
static int demean_cg(const gr_fe *fe, int ncols, double **cols, double tol, int maxiter, int *iterations,
                     int *converged)
{
    if (fe->w || fe->nfe > 4 || ncols <= 4)
        return demean_cg_cols(fe, ncols, cols, tol, maxiter, iterations, converged);
    *iterations = 0;
    *converged = 1;
    for (int c = 0; c < ncols; c += 4) {
        int it = 0, conv = 1;
        int rc = demean_cg_cols(fe, ncols - c < 4 ? ncols - c : 4, cols + c, tol, maxiter, &it, &conv);
        if (rc) return rc;
        if (it > *iterations) *iterations = it;
        if (!conv) *converged = 0;
    }
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
