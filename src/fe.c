/* fe.c: singletons, nesting and the demeaning across ranks: Irons-Tuck sweeps and conjugate gradient (see fe.h).
 *
 * The sweep: for fixed-effect coefficients alpha (one vector per dimension) and a column v, the
 * residual e = v - sum_k alpha_k[id_k]. One Gauss-Seidel sweep F updates each dimension k in turn
 * with alpha_k[g] += mean of e over level g (the weighted mean sum w_i e_i / sum w_i with weights;
 * group sums combined with MPI_Allreduce unless the dimension's levels never cross ranks) and
 * subtracts that change from e. Iterations apply F twice and extrapolate (Irons & Tuck 1969, as in
 * fixest), then rebuild e from the extrapolated alpha.
 *
 * Weights (gr_fe_set_weights) take the same kernels as the unweighted path: every row kernel is
 * compiled twice, the weighted copy multiplying the row's value by w_i, so the unweighted copy is the
 * code that ran before weights existed. */
#include "fe.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Collective. buf[0..m) combined across comm with op, in place, in pieces whose counts fit an int
 * (m is the same on all ranks: global level counts). Cannot fail. */
#define REDUCE_CHUNK ((int64_t)1 << 28)
static void allreduce_chunked(MPI_Comm comm, void *buf, int64_t m, MPI_Datatype type, size_t size, MPI_Op op)
{
    for (int64_t o = 0; o < m; o += REDUCE_CHUNK) {
        int len = (int)(m - o < REDUCE_CHUNK ? m - o : REDUCE_CHUNK);
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)o * size, len, type, op, comm);
    }
}
static void sum_doubles(MPI_Comm comm, double *buf, int64_t m)
{
    allreduce_chunked(comm, buf, m, MPI_DOUBLE, sizeof *buf, MPI_SUM);
}

static int seg_level_sums(const gr_fe *fe, int k, double *cnt);
static int seg_level_sums_all(const gr_fe *fe, double *const *cnt);

/* Rows (weight sums if fe->w is set) of each level of dimension k over the rows with keep[i] (all
 * if keep is NULL); summed across ranks if allreduce (then collective). */
static void level_counts(const gr_fe *fe, int k, const unsigned char *keep, double *cnt, int allreduce)
{
    memset(cnt, 0, (size_t)fe->nlevels[k] * sizeof *cnt);
    if (!keep && seg_level_sums(fe, k, cnt)) {
        if (allreduce) sum_doubles(fe->comm, cnt, fe->nlevels[k]);
        return;
    }
    const int32_t *id = fe->id[k];
    for (int64_t i = 0; i < fe->n; i++)
        if (!keep || keep[i]) cnt[id[i]] += fe->w ? fe->w[i] : 1.0;
    if (allreduce) sum_doubles(fe->comm, cnt, fe->nlevels[k]);
}

int gr_fe_set_weights(gr_fe *fe, const double *w)
{
    int rc = GR_OK;
    for (int64_t i = 0; w && i < fe->n; i++)
        if (!isfinite(w[i]) || !(w[i] > 0)) {
            rc = gr_fail(GR_EINPUT, "weights", "weight of local row %lld is %g: expected a finite number > 0",
                         (long long)i, w[i]);
            break;
        }
    GR_CALL(gr_agree(fe->comm, rc));
    gr_fe_set_weights_trusted(fe, w);
    return GR_OK;
}

void gr_fe_set_weights_trusted(gr_fe *fe, const double *w)
{
    fe->w = w;
    if (fe->nfe <= 4) {  /* one pass along the segments for every dimension */
        for (int k = 0; k < fe->nfe; k++) memset(fe->count[k], 0, (size_t)fe->nlevels[k] * sizeof *fe->count[k]);
        if (seg_level_sums_all(fe, fe->count)) {
            for (int k = 0; k < fe->nfe; k++) sum_doubles(fe->comm, fe->count[k], fe->nlevels[k]);
            return;
        }
    }
    for (int k = 0; k < fe->nfe; k++) level_counts(fe, k, NULL, fe->count[k], 1);
}

int64_t gr_fe_ncoef(const gr_fe *fe)
{
    int64_t m = 0;
    for (int k = 0; k < fe->nfe; k++) m += fe->nlevels[k];
    return m;
}

int gr_ids_local_only(MPI_Comm comm, int64_t n, const int32_t *id, int64_t L)
{
    int P;
    MPI_Comm_size(comm, &P);
    if (P == 1) return 1;
    int *present = gr_calloc((size_t)(L ? L : 1), sizeof *present);
    for (int64_t i = 0; i < n; i++) present[id[i]] = 1;
    allreduce_chunked(comm, present, L, MPI_INT, sizeof *present, MPI_SUM);
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
        allreduce_chunked(fe->comm, lo, L, MPI_INT, sizeof *lo, MPI_MIN);
        allreduce_chunked(fe->comm, hi, L, MPI_INT, sizeof *hi, MPI_MAX);
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
 * number of columns so the inner loops unroll, and on weights (WT: the sums are of w_i e_i, the same
 * products as the generic loop in row_pass; WT = 0 compiles to the unweighted loop). */
#define SUMS_KERNEL(NC, WS, WT)                                                                      \
    static void sums_kernel_##NC##WS(int64_t n, const int32_t *restrict idk, const int32_t *restrict idp, \
                                     const double *restrict d, double *restrict E, double *restrict sum, \
                                     const double *restrict w)                                       \
    {                                                                                                \
        (void)w;                                                                                     \
        if (idp) {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                        \
                double *restrict e = E + i * NC;                                                     \
                const double *restrict dg = d + (int64_t)idp[i] * NC;                                \
                double *restrict sg = sum + (int64_t)idk[i] * NC;                                    \
                _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) {                               \
                    e[c] -= dg[c];                                                                   \
                    sg[c] += WT ? w[i] * e[c] : e[c];                                                \
                }                                                                                    \
            }                                                                                        \
        } else {                                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                        \
                const double *restrict e = E + i * NC;                                               \
                double *restrict sg = sum + (int64_t)idk[i] * NC;                                    \
                _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) sg[c] += WT ? w[i] * e[c] : e[c]; \
            }                                                                                        \
        }                                                                                            \
    }
SUMS_KERNEL(1, , 0) SUMS_KERNEL(2, , 0) SUMS_KERNEL(3, , 0) SUMS_KERNEL(4, , 0)
SUMS_KERNEL(1, _w, 1) SUMS_KERNEL(2, _w, 1) SUMS_KERNEL(3, _w, 1) SUMS_KERNEL(4, _w, 1)
typedef void (*sums_kernel_fn)(int64_t, const int32_t *, const int32_t *, const double *, double *, double *,
                               const double *);
static const sums_kernel_fn sums_kernels[2][4] = {{sums_kernel_1, sums_kernel_2, sums_kernel_3, sums_kernel_4},
                                                  {sums_kernel_1_w, sums_kernel_2_w, sums_kernel_3_w, sums_kernel_4_w}};

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
    if (k >= 0 && p <= 4 && s->npending <= 1) {
        const int q = s->npending ? s->pending[0] : -1;
        const int32_t *idp = q >= 0 ? fe->id[q] : NULL;
        const double *d = q >= 0 ? s->P + s->off[q] * p : NULL;
        sums_kernels[fe->w != NULL][p - 1](n, idk, idp, d, E, sum, fe->w);
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
    if (k >= 0 && !fe->local_only[k] && s->nranks > 1) sum_doubles(fe->comm, sum, fe->nlevels[k] * p);
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

/* Collective when nranks > 1 and some dimension matches. Sums across ranks, in place, the entries of
 * the stacked level vectors v (levels x pw, dimension k from off[k] * pw) of the dimensions whose
 * local_only flag is `which` (0 or 1), in one Allreduce through pack (room for all of them). */
static void sum_dims(const gr_fe *fe, const int64_t *off, int pw, int which, double *v, double *pack)
{
    int64_t m = 0;
    for (int k = 0; k < fe->nfe; k++)
        if (!fe->local_only[k] == !which) {
            memcpy(pack + m, v + off[k] * pw, (size_t)(fe->nlevels[k] * pw) * sizeof *v);
            m += fe->nlevels[k] * pw;
        }
    if (m == 0) return;
    sum_doubles(fe->comm, pack, m);
    m = 0;
    for (int k = 0; k < fe->nfe; k++)
        if (!fe->local_only[k] == !which) {
            memcpy(v + off[k] * pw, pack + m, (size_t)(fe->nlevels[k] * pw) * sizeof *v);
            m += fe->nlevels[k] * pw;
        }
}

/* Collective when nranks > 1. The sweeps' coefficients A (levels x p) into alpha[c], which holds the
 * start on entry. An entry of a local-only dimension is moved only on the rank that holds the level's
 * rows and stays at the start elsewhere, so the changes from the start (tmp) are summed across ranks;
 * replicated dimensions are copied. */
static void it_coef_out(const sweep_ctx *s, const double *A, double *tmp, double **alpha)
{
    const gr_fe *fe = s->fe;
    const int p = s->p;
    int any = 0;
    for (int k = 0; k < fe->nfe; k++) {
        int shared_sum = fe->local_only[k] && s->nranks > 1;
        any |= shared_sum;
        for (int64_t j = s->off[k]; j < s->off[k + 1]; j++)
            for (int c = 0; c < p; c++) {
                if (shared_sum) tmp[j * p + c] = A[j * p + c] - alpha[c][j];
                else alpha[c][j] = A[j * p + c];
            }
    }
    if (!any) return;
    double *pack = gr_malloc((size_t)(s->off[fe->nfe] * p), sizeof *pack);
    sum_dims(fe, s->off, p, 1, tmp, pack);
    free(pack);
    for (int k = 0; k < fe->nfe; k++)
        if (fe->local_only[k])
            for (int64_t j = s->off[k]; j < s->off[k + 1]; j++)
                for (int c = 0; c < p; c++) alpha[c][j] += tmp[j * p + c];
}

/* The sweeps (see the top of the file). With warm set, the iterations start from alpha (levels of the
 * stacked vector alpha[c]) rather than zero: it becomes a pending change of every dimension, applied
 * to the rows by the first pass. With alpha, the coefficients are written back at the end. */
static int demean_irons_tuck(const gr_fe *fe, int ncols, const double *const *cols, double **outs, double **alpha,
                             int warm, double tol, int maxiter, int *iterations, int *converged)
{
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
    if (warm) {
        for (int64_t j = 0; j < s.off[fe->nfe]; j++)
            for (int c = 0; c < p; c++) X[j * p + c] = s.P[j * p + c] = alpha[c][j];
        s.npending = fe->nfe;
        for (int k = 0; k < fe->nfe; k++) s.pending[k] = k;
    }
    const double *A = X;  /* the coefficients E stands for at the end */
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
            A = GGX;
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
        double *restrict v = outs[c];
        for (int64_t i = 0; i < n; i++) v[i] = E[i * p + c];
    }
    if (alpha) it_coef_out(&s, A, GX, alpha);  /* GX: scratch now */
    free(E); free(X); free(GX); free(GGX); free(ab); free(bb); free(s.sum); free(s.P);
    return GR_OK;
}

/* ---- conjugate gradient ----
 * The normal equations of v on the dummies of all dimensions, D'WD alpha = D'Wv (W = I without
 * weights), are symmetric positive semi-definite and consistent; CG preconditioned by diag(D'WD) (the
 * level counts, or weight sums) solves them. The product D'WD x needs one pass over the level ids and
 * weights (no row data): t_i = w_i sum_k x_k[id_k(i)], then t_i is added to the sums of each of the
 * row's levels. Sums of dimensions shared across ranks are combined in one Allreduce per iteration. */

/* Up to four columns are stored four per level (padded with zero columns that stay
 * inactive) and run on whole vectors: two SSE2 vectors per level, always available on x86-64, or one
 * AVX2 vector when the CPU has it (checked once at run time: the build targets x86-64-v2). Level
 * vectors are 64-byte aligned. The SSE2 and AVX2 kernels do the same operations in the same order (no
 * FMA), so they give the same bits. */
typedef double v2d __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef long long v2i __attribute__((vector_size(16)));
typedef long long v4i __attribute__((vector_size(32)));

/* The row passes, for KK dimensions: q_k[id_k(i)] += a(i) for every row i and dimension k, a(i) (NV
 * vectors of type VT) set by ROWVAL and, when WT (a compile-time 0 or 1), multiplied by the row's
 * weight w[i] (the generic loops multiply the same way, so they agree to the bit). Dimensions in RUNS
 * have rows in runs of one level: the sum of a run stays in registers and goes to memory when the
 * level changes, which saves a load and a store per row and breaks the store-to-load chain; the
 * others add each row to memory directly. */
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
        if (WT) _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) a[h] = a[h] * w[i];              \
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

/* SUF v: SSE2, x: AVX2; WS _w: weighted (WTV 1) */
#define ROW_FNS(SUF, ATTR, VT, NV, NK, WS, WTV)                                                       \
    ATTR static void rows_np_##SUF##WS##_##NK(int64_t n, int32_t *const *id, unsigned RUNS,           \
                                              const double *const *src, const double *restrict w,     \
                                              double *const *qk)                                      \
    {                                                                                                 \
        const int KK = NK, WT = WTV;                                                                  \
        (void)w;                                                                                      \
        SCATTER_BODY(VT, NV, ROW_GATHER_##SUF)                                                        \
    }                                                                                                 \
    ATTR static void rows_rhs_##SUF##WS##_##NK(int64_t n, int32_t *const *id, unsigned RUNS,          \
                                               const double *const *c, const long long *ln,           \
                                               const double *restrict w, double *const *qk)           \
    {                                                                                                 \
        const int KK = NK, WT = WTV;                                                                  \
        (void)w;                                                                                      \
        SCATTER_BODY(VT, NV, ROW_COLS_##SUF)                                                          \
    }
#define ROW_FNS_K(SUF, ATTR, VT, NV, WS, WTV)                                                         \
    ROW_FNS(SUF, ATTR, VT, NV, 2, WS, WTV) ROW_FNS(SUF, ATTR, VT, NV, 3, WS, WTV)                     \
    ROW_FNS(SUF, ATTR, VT, NV, 4, WS, WTV)
#define AVX2_ATTR __attribute__((target("avx2")))
ROW_FNS_K(v, , v2d, 2, , 0) ROW_FNS_K(x, AVX2_ATTR, v4d, 1, , 0)
ROW_FNS_K(v, , v2d, 2, _w, 1) ROW_FNS_K(x, AVX2_ATTR, v4d, 1, _w, 1)
typedef void (*rows_np_fn)(int64_t, int32_t *const *, unsigned, const double *const *, const double *,
                           double *const *);
typedef void (*rows_rhs_fn)(int64_t, int32_t *const *, unsigned, const double *const *, const long long *,
                            const double *, double *const *);
/* [weighted][avx2][K - 2] */
static const rows_np_fn rows_np[2][2][3] = {
    {{rows_np_v_2, rows_np_v_3, rows_np_v_4}, {rows_np_x_2, rows_np_x_3, rows_np_x_4}},
    {{rows_np_v_w_2, rows_np_v_w_3, rows_np_v_w_4}, {rows_np_x_w_2, rows_np_x_w_3, rows_np_x_w_4}}};
static const rows_rhs_fn rows_rhs[2][2][3] = {
    {{rows_rhs_v_2, rows_rhs_v_3, rows_rhs_v_4}, {rows_rhs_x_2, rows_rhs_x_3, rows_rhs_x_4}},
    {{rows_rhs_v_w_2, rows_rhs_v_w_3, rows_rhs_v_w_4}, {rows_rhs_x_w_2, rows_rhs_x_w_3, rows_rhs_x_w_4}}};

/* The residual o = c - sum_k x_k[id_k] for every row (any number of dimensions K; o may be c: in place). */
static void rows_resid_v(int K, int64_t n, int32_t *const *id, const double *const *xk, const double *const *c,
                         double *const *o, int p)
{
    for (int64_t i = 0; i < n; i++) {
        v2d a = {0, 0}, b = {0, 0};
        for (int k = 0; k < K; k++) {
            const v2d *xg = (const v2d *)xk[k] + (int64_t)id[k][i] * 2;
            a += xg[0];
            b += xg[1];
        }
        o[0][i] = c[0][i] - a[0];
        if (p > 1) o[1][i] = c[1][i] - a[1];
        if (p > 2) o[2][i] = c[2][i] - b[0];
        if (p > 3) o[3][i] = c[3][i] - b[1];
    }
}
AVX2_ATTR static void rows_resid_x(int K, int64_t n, int32_t *const *id, const double *const *xk,
                                   const double *const *c, double *const *o, int p)
{
    for (int64_t i = 0; i < n; i++) {
        v4d a = {0, 0, 0, 0};
        for (int k = 0; k < K; k++) a += ((const v4d *)xk[k])[id[k][i]];
        o[0][i] = c[0][i] - a[0];
        if (p > 1) o[1][i] = c[1][i] - a[1];
        if (p > 2) o[2][i] = c[2][i] - a[2];
        if (p > 3) o[3][i] = c[3][i] - a[3];
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

/* What gr_fe_prepare keeps: the segment list (or NULL) and the run flags. */
struct gr_fe_cache {
    cg_seg *seg;
    int64_t nseg;
    unsigned runs;
};

static unsigned run_dims(const gr_fe *fe);

void gr_fe_prepare(gr_fe *fe)
{
    if (fe->cache) return;
    fe->cache = gr_calloc(1, sizeof *fe->cache);
    fe->cache->seg = build_segments(fe, &fe->cache->nseg);
    fe->cache->runs = run_dims(fe);
}

/* Local. cnt[g] += v_i (v NULL: 1) over the rows i of level g of dimension k, along the cached segments: each
 * level's rows in row order, as the row loop adds them (the same bits). Returns 0 (nothing done) without cached
 * segments. */
static int seg_sums(const gr_fe *fe, int k, const double *v, double *cnt)
{
    if (!fe->cache || !fe->cache->seg) return 0;
    const double *restrict w = v;
    const int64_t nseg = fe->cache->nseg;
    int64_t i = 0;
    for (const cg_seg *sg = fe->cache->seg; sg < fe->cache->seg + nseg; i += sg->len, sg++) {
        double *restrict c = cnt + sg->s[k];
        if (sg->moving >> k & 1) {
            if (w) for (int32_t j = 0; j < sg->len; j++) c[j] += w[i + j];
            else for (int32_t j = 0; j < sg->len; j++) c[j] += 1.0;
        } else {
            double acc = c[0];
            if (w) for (int32_t j = 0; j < sg->len; j++) acc += w[i + j];
            else for (int32_t j = 0; j < sg->len; j++) acc += 1.0;
            c[0] = acc;
        }
    }
    return 1;
}

static int seg_level_sums(const gr_fe *fe, int k, double *cnt) { return seg_sums(fe, k, fe->w, cnt); }

/* Local. seg_sums of the weights (fe->w; NULL: 1) for every dimension at once, in one pass along the cached
 * segments: cnt[k][g] gets level g's rows in row order, as K calls of seg_sums add them (the same bits).
 * Returns 0 (nothing done) without cached segments. */
static int seg_level_sums_all(const gr_fe *fe, double *const *cnt)
{
    if (!fe->cache || !fe->cache->seg) return 0;
    const double *restrict w = fe->w;
    const int K = fe->nfe;
    const int64_t nseg = fe->cache->nseg;
    int64_t i = 0;
    for (const cg_seg *sg = fe->cache->seg; sg < fe->cache->seg + nseg; i += sg->len, sg++) {
        double *mv[4], *st[4], acc[4];
        int nm = 0, ns = 0;
        for (int k = 0; k < K; k++) {
            if (sg->moving >> k & 1) mv[nm++] = cnt[k] + sg->s[k];
            else { st[ns] = cnt[k] + sg->s[k]; acc[ns] = st[ns][0]; ns++; }
        }
        if (!w) {  /* counts: exact integers, so adding len at once gives the bits of adding 1 len times */
            for (int m = 0; m < nm; m++) for (int32_t j = 0; j < sg->len; j++) mv[m][j] += 1.0;
            for (int f = 0; f < ns; f++) st[f][0] = acc[f] + (double)sg->len;
            continue;
        }
        const double *restrict wr = w + i;  /* one segment's weights: read from memory once, then from cache */
        for (int m = 0; m < nm; m++) {
            double *restrict c = mv[m];
            for (int32_t j = 0; j < sg->len; j++) c[j] += wr[j];
        }
        for (int f = 0; f < ns; f++) {
            double a = acc[f];
            for (int32_t j = 0; j < sg->len; j++) a += wr[j];
            st[f][0] = a;
        }
    }
    return 1;
}

void gr_fe_level_sums(const gr_fe *fe, int k, const double *v, double *sum)
{
    if (seg_sums(fe, k, v, sum)) return;
    const int32_t *restrict id = fe->id[k];
    for (int64_t i = 0; i < fe->n; i++) sum[id[i]] += v[i];
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
 * (the loop without that sum when there are none); with WT (compile-time) a(j) is first multiplied by
 * the row's weight wr[j] (wr: the weights from the segment's first row) */
#define SEG_SCATTER(VT, NV, ROWVAL)                                                                   \
    VT acc[NV];                                                                                       \
    for (int h = 0; h < NV; h++) acc[h] = (VT){0};                                                    \
    if (nf == 0) {                                                                                    \
        for (int32_t j = 0; j < L; j++) {                                                             \
            VT a[NV];                                                                                 \
            ROWVAL()                                                                                  \
            if (WT) _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) a[h] = a[h] * wr[j];         \
            _Pragma("GCC unroll 4") for (int m = 0; m < M; m++)                                       \
                _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) qm[m][j * NV + h] += a[h];       \
        }                                                                                             \
    } else {                                                                                          \
        for (int32_t j = 0; j < L; j++) {                                                             \
            VT a[NV];                                                                                 \
            ROWVAL()                                                                                  \
            if (WT) _Pragma("GCC unroll 2") for (int h = 0; h < NV; h++) a[h] = a[h] * wr[j];         \
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
    ro[0][j] = c[0][j] - a[0][0];                                                                     \
    if (ln[1]) ro[1][j] = c[1][j] - a[0][1];                                                          \
    if (ln[2]) ro[2][j] = c[2][j] - a[1][0];                                                          \
    if (ln[3]) ro[3][j] = c[3][j] - a[1][1];
#define SEG_RESID_x()                                                                                 \
    ro[0][j] = c[0][j] - a[0][0];                                                                     \
    if (ln[1]) ro[1][j] = c[1][j] - a[0][1];                                                          \
    if (ln[2]) ro[2][j] = c[2][j] - a[0][2];                                                          \
    if (ln[3]) ro[3][j] = c[3][j] - a[0][3];

/* Per segment: the product (src: the x_k, into qk), the right-hand side (c: the columns at the
 * segment's first row, into qk), both weighted by wr when WT, and the residual (o = c - a; o may be c). */
#define SEG_BODIES(SUF, ATTR, VT, NV)                                                                 \
    ATTR __attribute__((always_inline)) static inline void seg_np_##SUF(                              \
        const int M, const int WT, const cg_seg *sg, int K, const double *const *src,                 \
        const double *restrict wr, double *const *qk)                                                 \
    {                                                                                                 \
        SEG_SETUP(VT, NV, 1)                                                                          \
        SEG_SCATTER(VT, NV, SEG_GATHER_##SUF)                                                         \
    }                                                                                                 \
    ATTR __attribute__((always_inline)) static inline void seg_rhs_##SUF(                             \
        const int M, const int WT, const cg_seg *sg, int K, const double *const *c, const long long *ln, \
        const double *restrict wr, double *const *qk)                                                 \
    {                                                                                                 \
        const double *const *src = NULL;                                                              \
        SEG_SETUP(VT, NV, 0)                                                                          \
        SEG_SCATTER(VT, NV, SEG_COLS_##SUF)                                                           \
    }                                                                                                 \
    ATTR __attribute__((always_inline)) static inline void seg_resid_##SUF(                           \
        const int M, const cg_seg *sg, int K, const double *const *src, const double *const *c,       \
        double *const *ro, const long long *ln)                                                       \
    {                                                                                                 \
        double *const *qk = NULL;                                                                     \
        SEG_SETUP(VT, NV, 1)                                                                          \
        for (int32_t j = 0; j < L; j++) {                                                             \
            VT a[NV];                                                                                 \
            SEG_GATHER_##SUF()                                                                        \
            SEG_RESID_##SUF()                                                                         \
        }                                                                                             \
    }                                                                                                 \
    ATTR static void segs_resid_##SUF(int64_t nseg, const cg_seg *seg, int K, const double *const *src, \
                                      const double *const *cols, double *const *outs, const long long *ln) \
    {                                                                                                 \
        const double *c[4] = {cols[0], cols[1], cols[2], cols[3]};                                    \
        double *o[4] = {outs[0], outs[1], outs[2], outs[3]};                                          \
        for (const cg_seg *sg = seg; sg < seg + nseg; sg++) {                                         \
            switch (__builtin_popcount(sg->moving)) {                                                 \
            case 0: seg_resid_##SUF(0, sg, K, src, c, o, ln); break;                                  \
            case 1: seg_resid_##SUF(1, sg, K, src, c, o, ln); break;                                  \
            case 2: seg_resid_##SUF(2, sg, K, src, c, o, ln); break;                                  \
            case 3: seg_resid_##SUF(3, sg, K, src, c, o, ln); break;                                  \
            default: seg_resid_##SUF(4, sg, K, src, c, o, ln); break;                                 \
            }                                                                                         \
            for (int j = 0; j < 4; j++) { c[j] += sg->len; o[j] += sg->len; }                         \
        }                                                                                             \
    }
/* The product and right-hand-side passes over all segments, unweighted (WS empty, WTV 0) or weighted
 * (WS _w, WTV 1): a switch on the number of moving dimensions. */
#define SEG_PASSES(SUF, ATTR, WS, WTV)                                                                \
    ATTR static void segs_np_##SUF##WS(int64_t nseg, const cg_seg *seg, int K, const double *const *src, \
                                       const double *w, double *const *qk)                            \
    {                                                                                                 \
        const double *wr = w;                                                                         \
        for (const cg_seg *sg = seg; sg < seg + nseg; sg++) {                                         \
            switch (__builtin_popcount(sg->moving)) {                                                 \
            case 0: seg_np_##SUF(0, WTV, sg, K, src, wr, qk); break;                                  \
            case 1: seg_np_##SUF(1, WTV, sg, K, src, wr, qk); break;                                  \
            case 2: seg_np_##SUF(2, WTV, sg, K, src, wr, qk); break;                                  \
            case 3: seg_np_##SUF(3, WTV, sg, K, src, wr, qk); break;                                  \
            default: seg_np_##SUF(4, WTV, sg, K, src, wr, qk); break;                                 \
            }                                                                                         \
            if (WTV) wr += sg->len;                                                                   \
        }                                                                                             \
    }                                                                                                 \
    ATTR static void segs_rhs_##SUF##WS(int64_t nseg, const cg_seg *seg, int K, const double *const *cols, \
                                        const long long *ln, const double *w, double *const *qk)      \
    {                                                                                                 \
        const double *c[4] = {cols[0], cols[1], cols[2], cols[3]};                                    \
        const double *wr = w;                                                                         \
        for (const cg_seg *sg = seg; sg < seg + nseg; sg++) {                                         \
            switch (__builtin_popcount(sg->moving)) {                                                 \
            case 0: seg_rhs_##SUF(0, WTV, sg, K, c, ln, wr, qk); break;                               \
            case 1: seg_rhs_##SUF(1, WTV, sg, K, c, ln, wr, qk); break;                               \
            case 2: seg_rhs_##SUF(2, WTV, sg, K, c, ln, wr, qk); break;                               \
            case 3: seg_rhs_##SUF(3, WTV, sg, K, c, ln, wr, qk); break;                               \
            default: seg_rhs_##SUF(4, WTV, sg, K, c, ln, wr, qk); break;                              \
            }                                                                                         \
            for (int j = 0; j < 4; j++) c[j] += sg->len;                                              \
            if (WTV) wr += sg->len;                                                                   \
        }                                                                                             \
    }
SEG_BODIES(v, , v2d, 2)
SEG_BODIES(x, AVX2_ATTR, v4d, 1)
SEG_PASSES(v, , , 0) SEG_PASSES(x, AVX2_ATTR, , 0)
SEG_PASSES(v, , _w, 1) SEG_PASSES(x, AVX2_ATTR, _w, 1)

typedef void (*segs_np_fn)(int64_t, const cg_seg *, int, const double *const *, const double *, double *const *);
typedef void (*segs_rhs_fn)(int64_t, const cg_seg *, int, const double *const *, const long long *, const double *,
                            double *const *);
typedef void (*segs_resid_fn)(int64_t, const cg_seg *, int, const double *const *, const double *const *,
                              double *const *, const long long *);
/* [weighted][avx2] */
static const segs_np_fn segs_np[2][2] = {{segs_np_v, segs_np_x}, {segs_np_v_w, segs_np_x_w}};
static const segs_rhs_fn segs_rhs[2][2] = {{segs_rhs_v, segs_rhs_x}, {segs_rhs_v_w, segs_rhs_x_w}};
static const segs_resid_fn segs_resid[2] = {segs_resid_v, segs_resid_x};

/* One or two columns without segments: the product kernel specialised on the number of dimensions
 * KK and columns PP so that the loops unroll: t = sum_k x_k[id_k(i)] (times w[i] when WT), then
 * q_k[id_k(i)] += t. */
#define NP_KERNEL(KK, PP, WS, WT)                                                                     \
    static void np_kernel_##KK##_##PP##WS(int64_t n, int32_t *const *id, const double *const *xk,     \
                                          const double *restrict w, double *const *qk)                \
    {                                                                                                 \
        (void)w;                                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                             \
            double t[PP];                                                                             \
            int64_t g[KK];                                                                            \
            _Pragma("GCC unroll 4") for (int k = 0; k < KK; k++) g[k] = (int64_t)id[k][i] * PP;       \
            _Pragma("GCC unroll 4") for (int c = 0; c < PP; c++) t[c] = xk[0][g[0] + c];              \
            _Pragma("GCC unroll 4") for (int k = 1; k < KK; k++)                                      \
                _Pragma("GCC unroll 4") for (int c = 0; c < PP; c++) t[c] += xk[k][g[k] + c];         \
            if (WT) _Pragma("GCC unroll 4") for (int c = 0; c < PP; c++) t[c] *= w[i];                \
            _Pragma("GCC unroll 4") for (int k = 0; k < KK; k++)                                      \
                _Pragma("GCC unroll 4") for (int c = 0; c < PP; c++) qk[k][g[k] + c] += t[c];         \
        }                                                                                             \
    }
#define NP_KERNELS(KK) NP_KERNEL(KK, 1, , 0) NP_KERNEL(KK, 2, , 0) NP_KERNEL(KK, 1, _w, 1) NP_KERNEL(KK, 2, _w, 1)
NP_KERNELS(2)
NP_KERNELS(3)
NP_KERNELS(4)
typedef void (*np_kernel_fn)(int64_t, int32_t *const *, const double *const *, const double *, double *const *);
/* [weighted][K - 2][pw - 1] */
static const np_kernel_fn np_kernels_s[2][3][2] = {
    {{np_kernel_2_1, np_kernel_2_2}, {np_kernel_3_1, np_kernel_3_2}, {np_kernel_4_1, np_kernel_4_2}},
    {{np_kernel_2_1_w, np_kernel_2_2_w}, {np_kernel_3_1_w, np_kernel_3_2_w}, {np_kernel_4_1_w, np_kernel_4_2_w}}};

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

/* The state of one CG solve of up to 64 columns (four or fewer on the vector kernels). */
typedef struct {
    const gr_fe *fe;
    int K, p, pw, nranks;
    int x4;              /* the AVX2 level-vector loops and kernels (pw == 4 and the CPU has AVX2) */
    int wt;              /* the weighted kernels (fe->w set) */
    unsigned runs;       /* run_dims */
    cg_seg *seg;         /* segments (pw == 4 only), or NULL */
    int64_t nseg;
    int seg_owned;       /* seg is this solve's (else gr_fe_prepare's) */
    long long lanes[4];  /* -1 for the real columns, 0 for padding */
    int64_t off[17], NL, L;
    double *block, *x, *r, *d, *q, *pack, *minv;
} cg_ctx;

/* Collective when nranks > 1. q = D'W D x for all pw columns (stacked level vectors); sums of the
 * dimensions shared across ranks are combined in one Allreduce. */
static void normal_product(const cg_ctx *g, const double *x, double *q)
{
    const gr_fe *fe = g->fe;
    const int K = g->K, pw = g->pw;
    const int64_t n = fe->n, *off = g->off;
    memset(q, 0, (size_t)(off[K] * pw) * sizeof *q);
    const double *restrict w = fe->w;
    if (K >= 2 && K <= 4 && (pw == 4 || pw <= 2)) {
        const double *xk[4];
        double *qk[4];
        for (int k = 0; k < K; k++) { xk[k] = x + off[k] * pw; qk[k] = q + off[k] * pw; }
        if (g->seg) segs_np[g->wt][g->x4](g->nseg, g->seg, K, xk, w, qk);
        else if (pw == 4) rows_np[g->wt][g->x4][K - 2](n, fe->id, g->runs, xk, w, qk);
        else np_kernels_s[g->wt][K - 2][pw - 1](n, fe->id, xk, w, qk);
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
    if (g->nranks > 1) sum_dims(fe, off, pw, 0, q, g->pack);
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

/* Collective only for p < 3 on several ranks (whether every rank has segments). The layout of p
 * columns: level vectors hold pw >= p columns per level: three columns, and one or two when the rows
 * form segments, are padded to four (zero columns that stay inactive) so that the kernels run on
 * whole vectors; without segments one or two columns keep their own kernels, whose level vectors
 * are smaller (randomly ordered rows are bound by cache misses). Allocates the level vectors x, r,
 * d, q, pack (zeroed) and minv = 1 / level counts (weight sums). */
static void cg_setup(cg_ctx *g, const gr_fe *fe, int p)
{
    memset(g, 0, sizeof *g);
    g->fe = fe;
    g->K = fe->nfe;
    g->p = p;
    g->wt = fe->w != NULL;
    MPI_Comm_size(fe->comm, &g->nranks);
    g->seg_owned = fe->cache == NULL;  /* gr_fe_prepare's segments are the same list, kept */
    if (g->K <= 4 && p <= 4) {
        if (fe->cache) { g->seg = fe->cache->seg; g->nseg = fe->cache->nseg; }
        else g->seg = build_segments(fe, &g->nseg);
    }
    int pad = g->seg != NULL;  /* pw is the same on all ranks: pad only if every rank has segments */
    if (p < 3 && g->nranks > 1) MPI_Allreduce(MPI_IN_PLACE, &pad, 1, MPI_INT, MPI_MIN, fe->comm);
    g->pw = p == 3 || (p < 4 && pad) ? 4 : p;
    if (g->pw != 4) {
        if (g->seg_owned) free(g->seg);
        g->seg = NULL;
        g->nseg = 0;
    }
    g->x4 = g->pw == 4 && use_avx2();
    for (int c = 0; c < 4; c++) g->lanes[c] = c < p ? -1 : 0;
    g->runs = fe->cache ? fe->cache->runs : run_dims(fe);
    for (int k = 0; k < g->K; k++) g->off[k + 1] = g->off[k] + fe->nlevels[k];
    g->NL = g->off[g->K];
    g->L = g->NL * g->pw;
    /* x, r, d, q, pack (L each) and minv (one per level) in one block, each 64-byte aligned */
    const int64_t Lpad = (g->L + 7) / 8 * 8;
    g->block = gr_calloc((size_t)(5 * Lpad + (g->NL + 7) / 8 * 8 + 8), sizeof *g->block);
    double *base = (double *)(((uintptr_t)g->block + 63) & ~(uintptr_t)63);
    g->x = base;
    g->r = base + Lpad;
    g->d = base + 2 * Lpad;
    g->q = base + 3 * Lpad;
    g->pack = base + 4 * Lpad;
    g->minv = base + 5 * Lpad;
    for (int k = 0; k < g->K; k++)
        for (int64_t j = 0; j < fe->nlevels[k]; j++)
            g->minv[g->off[k] + j] = fe->count[k][j] > 0 ? 1.0 / fe->count[k][j] : 0.0;
}

/* Collective when nranks > 1. r = D'W v for the columns cols[0..p): the (weighted) group sums of
 * every column, in one pass over the rows; sums of shared dimensions combined across ranks. */
static void cg_rhs(cg_ctx *g, const double *const *cols)
{
    const gr_fe *fe = g->fe;
    const int K = g->K, p = g->p, pw = g->pw;
    const int64_t n = fe->n, *off = g->off;
    double *rk[16];
    for (int k = 0; k < K; k++) rk[k] = g->r + off[k] * pw;
    if (pw == 4 && K <= 4) {
        const double *src[4];
        for (int c = 0; c < 4; c++) src[c] = cols[c < p ? c : p - 1];
        if (g->seg) segs_rhs[g->wt][g->x4](g->nseg, g->seg, K, src, g->lanes, fe->w, rk);
        else rows_rhs[g->wt][g->x4][K - 2](n, fe->id, g->runs, src, g->lanes, fe->w, rk);
    } else {
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
    if (g->nranks > 1)
        for (int k = 0; k < K; k++)
            if (!fe->local_only[k]) sum_doubles(fe->comm, g->r + off[k] * pw, fe->nlevels[k] * pw);
}

/* Collective when nranks > 1. The first direction d = z = M^-1 r and rz[c] = <r, z>. */
static void cg_first_direction(cg_ctx *g, double *rz)
{
    double zero[64] = {0};
    lv_sums S = {.fe = g->fe, .pw = g->pw, .nranks = g->nranks};
    for (int k = 0; k < g->K; k++) {
        double *dst = lv_sums_start(&S, k);
        if (g->x4) {
            lv_direction_x4(g->off[k], g->off[k + 1], zero, g->d, g->r, g->minv);
            lv_dot_x4(g->off[k], g->off[k + 1], g->r, g->d, dst);
        } else {
            lv_direction(g->pw, g->off[k], g->off[k + 1], zero, g->d, g->r, g->minv);
            lv_dot(g->pw, g->off[k], g->off[k + 1], g->r, g->d, dst);
        }
    }
    lv_sums_finish(&S, rz);
}

/* Collective when nranks > 1. A warm start: the residual of the normal equations at alpha (x stays
 * the change from alpha, zero so far): r -= D'WD alpha, alpha going through d, which
 * cg_first_direction then overwrites. */
static void cg_warm(cg_ctx *g, double **alpha)
{
    for (int64_t j = 0; j < g->NL; j++)
        for (int c = 0; c < g->pw; c++) g->d[j * g->pw + c] = c < g->p ? alpha[c][j] : 0.0;
    normal_product(g, g->d, g->q);
    for (int64_t j = 0; j < g->L; j++) g->r[j] -= g->q[j];
}

/* Collective. The CG iterations from r, d and rz (cg_first_direction), x accumulating the steps,
 * until every column has <r, M^-1 r> <= thr^2 ref[c] with thr = max(tol^2, 1e-13) (CG's residual
 * falls fast, and this keeps the default tolerance, 1e-6, as accurate as the sweeps' coefficient
 * criterion), or maxiter iterations. Returns 1 if converged; *iterations gets the count. */
static int cg_iterate(cg_ctx *g, double *rz, const double *ref, double tol, int maxiter, int *iterations)
{
    const int pw = g->pw, K = g->K, x4 = g->x4;
    const int64_t *off = g->off;
    double *x = g->x, *r = g->r, *d = g->d, *q = g->q, *minv = g->minv;
    lv_sums S = {.fe = g->fe, .pw = pw, .nranks = g->nranks};
    double pq[64];
    int it = 0, done = 0, active[64];
    for (int c = 0; c < pw; c++) active[c] = rz[c] > 0;
    double thr = tol * tol > 1e-13 ? tol * tol : 1e-13;
    for (;;) {
        int any = 0;
        for (int c = 0; c < pw; c++) {
            if (active[c] && rz[c] <= thr * thr * ref[c]) active[c] = 0;
            any |= active[c];
        }
        if (!any) { done = 1; break; }
        if (it >= maxiter) break;
        normal_product(g, d, q);
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
        if (x4) lv_direction_x4(0, g->NL, beta, d, r, minv);
        else lv_direction(pw, 0, g->NL, beta, d, r, minv);
        it++;
    }
    *iterations = it;
    return done;
}

/* Collective when alpha is set and nranks > 1. With alpha: alpha[c] += x, the change CG found (an
 * entry of a local-only dimension is non-zero only on the rank with the level's rows, so those are
 * summed across ranks first), and the coefficients used below become alpha. Then e = v - D x, in
 * one pass over the rows. */
static void cg_finish(cg_ctx *g, const double *const *cols, double **outs, double **alpha, int warm)
{
    const gr_fe *fe = g->fe;
    const int K = g->K, p = g->p, pw = g->pw;
    const int64_t n = fe->n;
    double *x = g->x;
    if (alpha) {
        if (g->nranks > 1) sum_dims(fe, g->off, pw, 1, x, g->pack);
        for (int64_t j = 0; j < g->NL; j++)
            for (int c = 0; c < p; c++) {
                alpha[c][j] += x[j * pw + c];
                if (warm) x[j * pw + c] = alpha[c][j];
            }
    }
    const double *xk[16];
    for (int k = 0; k < K; k++) xk[k] = x + g->off[k] * pw;
    if (pw == 4) {
        const double *c4[4];
        double *o4[4];
        for (int c = 0; c < 4; c++) { c4[c] = cols[c < p ? c : p - 1]; o4[c] = outs[c < p ? c : p - 1]; }
        if (g->seg) segs_resid[g->x4](g->nseg, g->seg, K, xk, c4, o4, g->lanes);
        else if (g->x4) rows_resid_x(K, n, fe->id, xk, c4, o4, p);
        else rows_resid_v(K, n, fe->id, xk, c4, o4, p);
    } else {
        for (int64_t i = 0; i < n; i++) {
            double t[64];
            for (int c = 0; c < p; c++) t[c] = 0;
            for (int k = 0; k < K; k++) {
                const double *restrict xg = xk[k] + (int64_t)fe->id[k][i] * pw;
                for (int c = 0; c < p; c++) t[c] += xg[c];
            }
            for (int c = 0; c < p; c++) outs[c][i] = cols[c][i] - t[c];
        }
    }
}

/* CG on up to 64 columns at once. A warm start solves for the change from alpha, and measures its
 * residual against that of the cold start (D'Wv; the warm one's own where D'Wv is zero). */
static int demean_cg_cols(const gr_fe *fe, int ncols, const double *const *cols, double **outs, double **alpha,
                          int warm, double tol, int maxiter, int *iterations, int *converged)
{
    if (ncols > 64) return gr_fail(GR_EINPUT, "fixed effects", "at most 64 columns per demeaning pass");
    cg_ctx g;
    cg_setup(&g, fe, ncols);
    cg_rhs(&g, cols);
    double rz[64], ref[64];
    cg_first_direction(&g, rz);
    for (int c = 0; c < g.pw; c++) ref[c] = rz[c];
    if (warm) {
        cg_warm(&g, alpha);
        cg_first_direction(&g, rz);
        for (int c = 0; c < g.pw; c++)
            if (!(ref[c] > 0)) ref[c] = rz[c];
    }
    *converged = cg_iterate(&g, rz, ref, tol, maxiter, iterations);
    cg_finish(&g, cols, outs, alpha, warm);
    free(g.block);
    if (g.seg_owned) free(g.seg);
    return GR_OK;
}

/* CG runs column by column (steps and stopping are per column), so more than four columns are
 * demeaned four at a time on the vector kernels: the same iterates, one pass over the rows per
 * iteration for each group of four. */
static int demean_cg(const gr_fe *fe, int ncols, const double *const *cols, double **outs, double **alpha, int warm,
                     double tol, int maxiter, int *iterations, int *converged)
{
    if (fe->nfe > 4 || ncols <= 4)
        return demean_cg_cols(fe, ncols, cols, outs, alpha, warm, tol, maxiter, iterations, converged);
    for (int c = 0; c < ncols; c += 4) {
        int it = 0, conv = 1;
        GR_CALL(demean_cg_cols(fe, ncols - c < 4 ? ncols - c : 4, cols + c, outs + c, alpha ? alpha + c : NULL, warm,
                               tol, maxiter, &it, &conv));
        if (it > *iterations) *iterations = it;
        if (!conv) *converged = 0;
    }
    return GR_OK;
}

int gr_fe_demean_coef(const gr_fe *fe, int ncols, double **cols, double **alpha, double tol, int maxiter,
                      int *iterations, int *converged)
{
    return gr_fe_demean_into(fe, ncols, (const double *const *)cols, cols, alpha, tol, maxiter, iterations, converged);
}

int gr_fe_demean_into(const gr_fe *fe, int ncols, const double *const *cols, double **outs, double **alpha, double tol,
                      int maxiter, int *iterations, int *converged)
{
    *iterations = 0;
    *converged = 1;
    for (int c = 0; fe->nfe == 0 && c < ncols; c++)  /* no fixed effect: the identity */
        if (outs[c] != cols[c]) memcpy(outs[c], cols[c], (size_t)fe->n * sizeof **outs);
    if (fe->nfe == 0 || ncols == 0) return GR_OK;
    if (fe->nfe > 16) return gr_fail(GR_EINPUT, "fixed effects", "at most 16 dimensions");
    int warm = 0;
    if (alpha) {
        /* a start of all zeros is a cold start: no extra pass */
        const int64_t m = gr_fe_ncoef(fe);
        int rc = GR_OK;
        for (int c = 0; c < ncols && !rc; c++)
            for (int64_t j = 0; j < m; j++) {
                if (!isfinite(alpha[c][j])) {
                    rc = gr_fail(GR_EINPUT, "fixed effects", "starting coefficient %lld of column %d is not finite",
                                 (long long)j, c);
                    break;
                }
                warm |= alpha[c][j] != 0;
            }
        GR_CALL(gr_agree(fe->comm, rc));
        MPI_Allreduce(MPI_IN_PLACE, &warm, 1, MPI_INT, MPI_MAX, fe->comm);  /* alpha should be replicated */
    }
    if (fe->method == GR_FE_IRONS_TUCK || fe->nfe == 1)
        return demean_irons_tuck(fe, ncols, cols, outs, alpha, warm, tol, maxiter, iterations, converged);
    return demean_cg(fe, ncols, cols, outs, alpha, warm, tol, maxiter, iterations, converged);
}

int gr_fe_demean(const gr_fe *fe, int ncols, double **cols, double tol, int maxiter, int *iterations,
                 int *converged)
{
    return gr_fe_demean_coef(fe, ncols, cols, NULL, tol, maxiter, iterations, converged);
}

void gr_fe_free(gr_fe *fe)
{
    for (int k = 0; k < fe->nfe; k++) {
        free(fe->id[k]);
        free(fe->count[k]);
        free(fe->names[k]);
    }
    free(fe->id); free(fe->count); free(fe->nlevels); free(fe->local_only); free(fe->names);
    if (fe->cache) free(fe->cache->seg);
    free(fe->cache);
    memset(fe, 0, sizeof *fe);
}
