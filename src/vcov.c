/* vcov.c: sandwich variance estimators (see vcov.h and docs/vcov.md).
 *   iid:      V = rss/(n-K) * B
 *   HC1:      V = n/(n-K) * B (sum_i e_i^2 x_i x_i') B
 *   cluster:  V = G/(G-1) * (n-1)/(n-K) * B (sum_g s_g s_g') B,   s_g = sum_{i in g} e_i x_i
 *   two-way:  V = V_1 + V_2 - V_12 (V_12 clustered on the intersection), all with G_min/(G_min-1)
 *   CR2/CR3:  V = B (sum_g X_g' A_g e_g e_g' A_g X_g) B with the fixed effects' leverage (leverage.c)
 * where B = (X'X)^-1 of the demeaned regressors. */
#include "vcov.h"
#include "leverage.h"
#include "absorber.h"
#include "fe.h"
#include "levels.h"
#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sum x[0..n) over the ranks in place, in pieces of at most INT_MAX values (the int count MPI takes):
 * the sums are element-wise, so the pieces give the same numbers as one call. */
static void allreduce_sum_chunked(MPI_Comm comm, double *x, int64_t n)
{
    for (int64_t off = 0; off < n; off += INT_MAX) {
        int len = (int)(n - off < INT_MAX ? n - off : INT_MAX);  /* at most INT_MAX by the test */
        MPI_Allreduce(MPI_IN_PLACE, x + off, len, MPI_DOUBLE, MPI_SUM, comm);
    }
}

/* sum_{a <= i < b} e[i] x[i], in four partial sums. */
static inline double run_dot(const double *e, const double *x, int64_t a, int64_t b)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = a;
    for (; i + 4 <= b; i += 4) {
        s0 += e[i] * x[i];
        s1 += e[i + 1] * x[i + 1];
        s2 += e[i + 2] * x[i + 2];
        s3 += e[i + 3] * x[i + 3];
    }
    for (; i < b; i++) s0 += e[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

void gr_vcov_scores_add(int64_t n, int k, const double *X, int64_t ldx, const double *e, const int32_t *cl, int64_t G,
                        double *S)
{
    if (k <= 16 && n > 0) {
        /* rows of a cluster usually come in runs (a pair's months): each run's sums in registers, four
         * partial sums per column (no chain of dependent additions), added to the scores once per run */
        const double *x[16];
        for (int j = 0; j < k; j++) x[j] = X + (size_t)j * ldx;
        for (int64_t a = 0, b; a < n; a = b) {
            int32_t c = cl[a];
            for (b = a + 1; b < n && cl[b] == c; b++) {}
            for (int j = 0; j < k; j++) S[(size_t)j * G + c] += run_dot(e, x[j], a, b);
        }
    } else {
        for (int j = 0; j < k; j++) {
            const double *x = X + (size_t)j * ldx;
            double *s = S + (size_t)j * G;
            for (int64_t i = 0; i < n; i++) s[cl[i]] += e[i] * x[i];
        }
    }
}

/* G and k are the same on every rank, so a count that does not fit fails on all ranks alike, before any
 * collective. */
int gr_vcov_meat_from_scores(MPI_Comm comm, int k, int64_t G, int local_only, double *S, double *meat)
{
    int P, Gi;
    MPI_Comm_size(comm, &P);
    GR_CALL(gr_int_count(G, "clusters (leading dimension of the scores)", &Gi));
    memset(meat, 0, (size_t)k * k * sizeof *meat);
    if (local_only || P == 1) {
        /* clusters never cross ranks: reduce the k*k meat instead of the G*k scores */
        if (Gi > 0) cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, k, Gi, 1.0, S, Gi, 0.0, meat, k);
        MPI_Allreduce(MPI_IN_PLACE, meat, k * k, MPI_DOUBLE, MPI_SUM, comm);  /* k * k: checked by the caller */
    } else {
        allreduce_sum_chunked(comm, S, G * k);
        if (Gi > 0) cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, k, Gi, 1.0, S, Gi, 0.0, meat, k);
    }
    for (int j = 0; j < k; j++)
        for (int i = j + 1; i < k; i++) meat[i + j * k] = meat[j + i * k];
    return GR_OK;
}

int gr_vcov_cluster_meat(MPI_Comm comm, int64_t n, int k, const double *X, const double *e, const int32_t *cl,
                         int64_t G, int local_only, double *meat)
{
    int Gi;
    GR_CALL(gr_int_count(G, "clusters (leading dimension of the scores)", &Gi));
    double *S = gr_calloc((size_t)G * k, sizeof *S);
    gr_vcov_scores_add(n, k, X, n, e, cl, G, S);
    int rc = gr_vcov_meat_from_scores(comm, k, G, local_only, S, meat);
    free(S);
    return rc;
}

/* Collective. M = sum_i e_i^2 x_i x_i' over all ranks (replicated). n is this rank's: a count that does
 * not fit is agreed before the reduction, so the other ranks do not wait in it. */
static int hc1_meat(MPI_Comm comm, int64_t n, int k, const double *X, const double *e, double *M)
{
    int ni = 0;
    GR_CALL(gr_agree(comm, gr_int_count(n, "rows on this rank (HC1 variance)", &ni)));
    memset(M, 0, (size_t)k * k * sizeof *M);
    double *xe = gr_malloc((size_t)(n > 0 ? n : 1) * k, sizeof *xe);
    for (int j = 0; j < k; j++)
        for (int64_t i = 0; i < n; i++) xe[i + (size_t)j * n] = X[i + (size_t)j * n] * e[i];
    if (ni > 0) cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, k, ni, 1.0, xe, ni, 0.0, M, k);
    free(xe);
    MPI_Allreduce(MPI_IN_PLACE, M, k * k, MPI_DOUBLE, MPI_SUM, comm);  /* k * k: checked by the caller */
    for (int j = 0; j < k; j++)
        for (int i = j + 1; i < k; i++) M[i + j * k] = M[j + i * k];
    return GR_OK;
}

/* out = B M B */
static void sandwich(int k, const double *B, const double *M, double *out)
{
    double *T = gr_malloc((size_t)k * k, sizeof *T);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1.0, B, k, M, k, 0.0, T, k);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1.0, T, k, B, k, 0.0, out, k);
    free(T);
}

/* Collective (V replicated). fixest's fix of a variance with a negative diagonal entry, possible for two-way
 * clustering and by rounding for a nearly collinear regressor (Cameron, Gelbach and Miller 2011; fixest's
 * mat_posdef_fix, applied to every variance type): V = U diag(max(lambda, 1e-10)) U' from V's eigenvalues, with
 * a warning on rank 0 naming the variance (what). A V whose diagonal is >= 0 is left as it is, as fixest leaves it. */
static int posdef_fix(MPI_Comm comm, int k, double *V, const char *what)
{
    int neg = 0;
    for (int i = 0; i < k; i++) neg |= V[i + (size_t)i * k] < 0;
    if (!neg) return GR_OK;
    double *U = gr_malloc((size_t)k * k, sizeof *U), *ev = gr_malloc((size_t)k, sizeof *ev);
    memcpy(U, V, (size_t)k * k * sizeof *U);
    int rc = LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', k, U, k, ev) ? GR_ENUM : GR_OK;
    if (rc) rc = gr_fail(GR_ENUM, "vcov", "the %s variance has a negative diagonal entry and its eigenvalues could "
                         "not be computed to fix it", what);
    for (int a = 0; a < k && !rc; a++)
        for (int b = 0; b < k; b++) {
            double v = 0;
            for (int q = 0; q < k; q++) v += U[a + (size_t)q * k] * (ev[q] > 1e-10 ? ev[q] : 1e-10) * U[b + (size_t)q * k];
            V[a + (size_t)b * k] = v;
        }
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (!rc && rank == 0)
        gr_warn("the %s variance had a negative diagonal entry: its eigenvalues below 1e-10 were set to 1e-10 "
                "(Cameron, Gelbach and Miller 2011, as fixest does)", what);
    free(U); free(ev);
    return rc;
}

int gr_vcov_compute(MPI_Comm comm, const gr_vcov_spec *spec, int64_t n, int64_t nobs, int k, const double *X,
                    const double *e, const double *B, double rss, int64_t K, double *V, double *df_t)
{
    if (k == 0) return GR_OK;
    double N = (double)nobs;
    if (nobs - K <= 0)
        return gr_fail(GR_EINPUT, "vcov", "no residual degrees of freedom (%lld observations, %lld parameters)",
                       (long long)nobs, (long long)K);
    int kk;  /* k is the same on every rank: all fail alike, before any collective */
    GR_CALL(gr_int_count((int64_t)k * k, "entries of the coefficient covariance", &kk));
    double adj = (N - 1) / (N - (double)K);
    double *M = gr_malloc((size_t)kk, sizeof *M), *Vt = NULL;
    int rc = GR_OK;
    switch (spec->type) {
    case GR_VCOV_IID:
        for (int i = 0; i < kk; i++) V[i] = rss / (N - (double)K) * B[i];
        *df_t = N - (double)K;
        break;
    case GR_VCOV_HC1: {
        GR_TRY(hc1_meat(comm, n, k, X, e, M));
        sandwich(k, B, M, V);
        double f = adj * N / (N - 1);  /* = n/(n-K) */
        for (int i = 0; i < kk; i++) V[i] *= f;
        *df_t = N - (double)K;
        break;
    }
    case GR_VCOV_CLUSTER: {
        int nterms = spec->ncluster == 2 ? 3 : 1;
        int64_t Gmin = spec->G[0];
        if (spec->ncluster == 2 && spec->G[1] < Gmin) Gmin = spec->G[1];
        if (Gmin < 2) {
            rc = gr_fail(GR_EINPUT, "vcov", "clustering needs at least 2 clusters (found %lld)", (long long)Gmin);
            break;
        }
        Vt = gr_malloc((size_t)kk, sizeof *Vt);
        memset(V, 0, (size_t)kk * sizeof *V);
        for (int t = 0; t < nterms; t++) {
            GR_TRY(gr_vcov_cluster_meat(comm, n, k, X, e, spec->cl[t], spec->G[t], spec->local_only[t], M));
            sandwich(k, B, M, Vt);
            double G = (double)(spec->min_cluster_df ? Gmin : spec->G[t]);
            double f = (G / (G - 1)) * adj * (t == 2 ? -1.0 : 1.0);
            for (int i = 0; i < kk; i++) V[i] += f * Vt[i];
        }
        *df_t = (double)(Gmin - 1);
        break;
    }
    case GR_VCOV_CR2:
    case GR_VCOV_CR3:
        /* clubSandwich's CR2/CR3: no small-sample factor; t with G - 1 degrees of freedom (docs/vcov.md) */
        if (!spec->absorber) {
            rc = gr_fail(GR_EUSAGE, "--vcov", "%s is implemented for least squares only (not --family poisson)",
                         spec->type == GR_VCOV_CR2 ? "cr2" : "cr3");
            break;
        }
        if (spec->ncluster != 1) {
            rc = gr_fail(GR_EUSAGE, "--vcov", "%s is one-way: give a single --cluster variable",
                         spec->type == GR_VCOV_CR2 ? "cr2" : "cr3");
            break;
        }
        if (spec->G[0] < 2) {
            rc = gr_fail(GR_EINPUT, "vcov", "clustering needs at least 2 clusters (found %lld)", (long long)spec->G[0]);
            break;
        }
        GR_TRY(gr_lev_vcov(comm, spec->absorber, spec->type, n, k, X, e, B, spec->cl[0], spec->G[0], spec->lev_blocks, V));
        *df_t = (double)(spec->G[0] - 1);
        break;
    }
    if (!rc && (spec->type == GR_VCOV_IID || spec->type == GR_VCOV_HC1 || spec->type == GR_VCOV_CLUSTER))
        rc = posdef_fix(comm, k, V, spec->type == GR_VCOV_CLUSTER && spec->ncluster == 2 ? "two-way clustered"
                                    : spec->type == GR_VCOV_CLUSTER ? "clustered" : gr_vcov_word(spec->type));
fail:
    free(Vt);
    free(M);
    return rc;
}

int gr_vcov_clusters_finish(MPI_Comm comm, const struct gr_absorber *ab, int nfe, gr_vcov_spec *spec, int *nested)
{
    int32_t **cl = (int32_t **)spec->cl;
    int64_t n = ab->n;
    if (spec->ncluster == 2) {
        cl[2] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
        memcpy(cl[2], cl[0], (size_t)n * sizeof(int32_t));
        spec->G[2] = spec->G[0];
        GR_CALL(gr_agree(comm, gr_codes_combine(comm, n, cl[2], &spec->G[2], cl[1], spec->G[1])));
        GR_CALL(gr_agree(comm, gr_codes_dense(comm, n, cl[2], spec->G[2], cl[2], &spec->G[2])));
    }
    for (int c = 0; c < spec->ncluster; c++) {
        int *nk = gr_calloc((size_t)(nfe + 1), sizeof *nk);
        int rc = gr_absorber_nested_in(ab, cl[c], spec->G[c], nk);
        for (int k = 0; k < nfe && !rc; k++) nested[k] |= nk[k];
        free(nk);
        GR_CALL(rc);
    }
    for (int c = 0; c < 3; c++) spec->local_only[c] = cl[c] ? gr_ids_local_only(comm, n, cl[c], spec->G[c]) : 1;
    return GR_OK;
}
