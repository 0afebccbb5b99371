/* linalg.c: OpenBLAS products and the ScaLAPACK solves (see linalg.h). */
#include "linalg.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* BLACS and ScaLAPACK ship no C header: declare what is called (Fortran string lengths trail). */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *ctxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrc, const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb, const int *irsrc,
               const int *icsrc, const int *ictxt, const int *lld, int *info);
void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia, const int *ja, const int *desca, int *info,
              size_t);
void pdpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *ia, const int *ja,
              const int *desca, double *b, const int *ib, const int *jb, const int *descb, int *info, size_t);
void pdpotri_(const char *uplo, const int *n, double *a, const int *ia, const int *ja, const int *desca, int *info,
              size_t);
void pdgeqrf_(const int *m, const int *n, double *a, const int *ia, const int *ja, const int *desca, double *tau,
              double *work, const int *lwork, int *info);

const char *gr_solver_name(gr_solver s) { return s == GR_SOLVER_QR ? "scalapack-qr" : "scalapack-cholesky"; }

int gr_crossprod(MPI_Comm comm, int64_t n, int k, const double *X, const double *y, double *XtX, double *Xty,
                 double *yty)
{
    int ni = 0, m = 0;
    int rc = gr_int_count(n, "rows on this rank (cross-product)", &ni);
    if (!rc) rc = gr_int_count((int64_t)k * k + (Xty ? k : 0) + (yty ? 1 : 0), "cross-product entries", &m);
    GR_CALL(gr_agree(comm, rc));  /* before the reduction: a rank with too many rows must not leave it waiting */
    double *buf = gr_calloc((size_t)m, sizeof *buf);
    if (ni > 0 && k > 0) {
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, k, ni, 1.0, X, ni, 0.0, buf, k);
        for (int j = 0; j < k; j++)
            for (int i = j + 1; i < k; i++) buf[i + j * k] = buf[j + i * k];
        if (Xty) cblas_dgemv(CblasColMajor, CblasTrans, ni, k, 1.0, X, ni, y, 1, 0.0, buf + k * k, 1);
    }
    if (yty && ni > 0) buf[m - 1] = cblas_ddot(ni, y, 1, y, 1);
    MPI_Allreduce(MPI_IN_PLACE, buf, m, MPI_DOUBLE, MPI_SUM, comm);
    memcpy(XtX, buf, (size_t)k * k * sizeof *buf);
    if (Xty) memcpy(Xty, buf + k * k, (size_t)k * sizeof *buf);
    if (yty) *yty = buf[m - 1];
    free(buf);
    return GR_OK;
}

int gr_collinear(int k, const double *XtX, double tol, int *keep)
{
    /* Cholesky on the correlation-scaled matrix; a pivot below tol means the column is (numerically)
     * a combination of the columns kept before it. */
    double *A = gr_malloc((size_t)k * k, sizeof *A), *L = gr_calloc((size_t)k * k, sizeof *L);
    double *s = gr_malloc((size_t)k, sizeof *s);
    for (int j = 0; j < k; j++) s[j] = XtX[j + j * k] > 0 ? 1.0 / sqrt(XtX[j + j * k]) : 0.0;
    for (int j = 0; j < k; j++)
        for (int i = 0; i < k; i++) A[i + j * k] = XtX[i + j * k] * s[i] * s[j];
    int kept = 0;
    for (int j = 0; j < k; j++) {
        keep[j] = 0;
        if (s[j] == 0.0) continue;
        double d = A[j + j * k];
        for (int p = 0; p < j; p++) if (keep[p]) d -= L[j + p * k] * L[j + p * k];
        if (d < tol) continue;
        keep[j] = 1;
        kept++;
        double ljj = sqrt(d);
        L[j + j * k] = ljj;
        for (int i = j + 1; i < k; i++) {
            double v = A[i + j * k];
            for (int p = 0; p < j; p++) if (keep[p]) v -= L[i + p * k] * L[j + p * k];
            L[i + j * k] = v / ljj;
        }
    }
    free(A); free(L); free(s);
    return kept;
}

/* A process grid on comm: nprow x npcol with nprow*npcol <= P. */
static int grid_open(MPI_Comm comm, int nprow, int npcol, int *ctxt, int *handle)
{
    *handle = Csys2blacs_handle(comm);
    *ctxt = *handle;
    Cblacs_gridinit(ctxt, "Row", nprow, npcol);
    return GR_OK;
}

static void grid_close(int ctxt, int handle)
{
    if (ctxt >= 0) Cblacs_gridexit(ctxt);
    Cfree_blacs_system_handle(handle);
}

/* This rank's part of a k x k matrix (and a k-vector) distributed block-cyclically (nb x nb blocks) over
 * the process grid; global (i, j) of local (il, jl) by gidx. */
typedef struct {
    int nb, nprow, npcol, myrow, mycol, mloc, nloc, nloc_b, lld;
    int desca[9], descb[9];
} bc_layout;

static int gidx(int l, int nb, int np, int me) { return (l / nb) * nb * np + me * nb + l % nb; }

/* Local. Sizes and descriptors of the k x k matrix and the k-vector on this rank of the grid ctxt
 * (L->nprow, npcol, myrow, mycol already set by Cblacs_gridinfo). */
static int bc_layout_init(bc_layout *L, int ctxt, int k, int nb)
{
    const int izero = 0, ione = 1;
    L->nb = nb;
    L->mloc = numroc_(&k, &nb, &L->myrow, &izero, &L->nprow);
    L->nloc = numroc_(&k, &nb, &L->mycol, &izero, &L->npcol);
    L->lld = L->mloc > 1 ? L->mloc : 1;
    L->nloc_b = numroc_(&ione, &nb, &L->mycol, &izero, &L->npcol);
    int info = 0, info_b = 0;
    descinit_(L->desca, &k, &k, &nb, &nb, &izero, &izero, &ctxt, &L->lld, &info);
    descinit_(L->descb, &k, &ione, &nb, &nb, &izero, &izero, &ctxt, &L->lld, &info_b);
    if (info || info_b)
        return gr_fail(GR_EMPI, "solve", "ScaLAPACK descinit rejected the layout (info %d, %d)", info, info_b);
    return GR_OK;
}

/* Factor and invert on the grid: a (this rank's blocks of X'X) becomes the upper triangle of
 * (X'X)^-1 and b (of X'y) the solution; the blocks are added into fullinv (k*k inverse, then k beta).
 * Collective over the grid: the chain below relies (as it always has) on pdpotrf/pdpotrs giving every
 * rank of the grid the same info. */
static int chol_factor(const bc_layout *L, int k, double *a, double *b, double *fullinv)
{
    const int ione = 1;
    int info = 0;
    pdpotrf_("U", &k, a, &ione, &ione, L->desca, &info, 1);
    if (info == 0) pdpotrs_("U", &k, &ione, a, &ione, &ione, L->desca, b, &ione, &ione, L->descb, &info, 1);
    if (info == 0) pdpotri_("U", &k, a, &ione, &ione, L->desca, &info, 1);
    if (info > 0) return gr_fail(GR_ENUM, "solve", "X'X is not positive definite (ScaLAPACK pdpotrf info %d)", info);
    if (info < 0) return gr_fail(GR_EMPI, "solve", "ScaLAPACK rejected argument %d of the Cholesky solve", -info);
    for (int jl = 0; jl < L->nloc; jl++) {
        int j = gidx(jl, L->nb, L->npcol, L->mycol);
        for (int il = 0; il < L->mloc; il++) {
            int i = gidx(il, L->nb, L->nprow, L->myrow);
            if (i <= j) fullinv[i + (size_t)j * k] = a[il + (size_t)jl * L->lld];
        }
    }
    for (int il = 0; il < L->mloc && L->nloc_b > 0; il++)
        fullinv[(size_t)k * k + gidx(il, L->nb, L->nprow, L->myrow)] = b[il];
    return GR_OK;
}

static int solve_cholesky(MPI_Comm comm, int k, const double *XtX, const double *Xty, double *beta, double *XtXinv)
{
    int P, nfull;
    MPI_Comm_size(comm, &P);
    /* k is the same on every rank: all fail alike here, before any collective */
    GR_CALL(gr_int_count((int64_t)k * k + k, "entries of (X'X)^-1 and beta", &nfull));
    const int nb = 32;
    /* near-square grid, but no more process rows/columns than blocks */
    int nblk = (k + nb - 1) / nb, pr = 1;
    while ((pr + 1) * (pr + 1) <= P && pr + 1 <= nblk) pr++;
    int pc = pr, ctxt, handle;
    grid_open(comm, pr, pc, &ctxt, &handle);
    bc_layout L = {.myrow = -1, .mycol = -1};
    Cblacs_gridinfo(ctxt, &L.nprow, &L.npcol, &L.myrow, &L.mycol);
    int in_grid = L.myrow >= 0 && L.myrow < pr && L.mycol >= 0 && L.mycol < pc;
    double *fullinv = gr_calloc((size_t)nfull, sizeof *fullinv); /* inverse then beta, assembled by sum */
    double *a = NULL, *b = NULL;
    int rc = in_grid ? bc_layout_init(&L, ctxt, k, nb) : GR_OK;
    if (!rc && in_grid) {
        a = gr_calloc((size_t)L.lld * (L.nloc > 0 ? L.nloc : 1), sizeof *a);
        b = gr_calloc((size_t)L.lld * (L.nloc_b > 0 ? L.nloc_b : 1), sizeof *b);
        for (int jl = 0; jl < L.nloc; jl++) {  /* global (i, j) -> local: block-cyclic */
            int j = gidx(jl, nb, L.npcol, L.mycol);
            for (int il = 0; il < L.mloc; il++)
                a[il + (size_t)jl * L.lld] = XtX[gidx(il, nb, L.nprow, L.myrow) + (size_t)j * k];
        }
        for (int il = 0; il < L.mloc && L.nloc_b > 0; il++) b[il] = Xty[gidx(il, nb, L.nprow, L.myrow)];
    }
    GR_TRY(gr_agree(comm, rc));  /* every rank of the grid enters pdpotrf, or none */
    if (in_grid) rc = chol_factor(&L, k, a, b, fullinv);
    GR_TRY(gr_agree(comm, rc));
    MPI_Allreduce(MPI_IN_PLACE, fullinv, nfull, MPI_DOUBLE, MPI_SUM, comm);
    for (int j = 0; j < k; j++)
        for (int i = 0; i < k; i++)
            XtXinv[i + (size_t)j * k] = i <= j ? fullinv[i + (size_t)j * k] : fullinv[j + (size_t)i * k];
    memcpy(beta, fullinv + (size_t)k * k, (size_t)k * sizeof *beta);
fail:
    free(a);
    free(b);
    free(fullinv);
    grid_close(in_grid ? ctxt : -1, handle);
    return rc;
}

/* Local. The workspace pdgeqrf asked for (a double) as the int lwork it takes. */
static int qr_lwork(double wq, int *lwork)
{
    int64_t lw = wq >= 0 && wq < 9e18 ? (int64_t)wq + 1 : -1;
    return gr_int_count(lw, "QR workspace (pdgeqrf lwork)", lwork);
}

/* Collective. Factor [X y] = QR with pdgeqrf on a P x 1 grid, this rank's rows padded to mb; *R gets the
 * replicated upper triangle (kk x kk, kk = k + 1) and *info the largest pdgeqrf info over the ranks. */
static int qr_factor(MPI_Comm comm, int64_t n, int k, int mb, const double *X, const double *y, double **R,
                     int *info)
{
    int P, rank, kk = k + 1, izero = 0, ione = 1, nR, lwork = 0;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &rank);
    int m = mb * P;  /* the caller checked mb * P <= INT32_MAX */
    GR_CALL(gr_int_count((int64_t)kk * kk, "entries of R", &nR));  /* k is the same on every rank */
    int ctxt, handle, myrow, mycol, nprow, npcol, desca[9];
    grid_open(comm, P, 1, &ctxt, &handle);
    Cblacs_gridinfo(ctxt, &nprow, &npcol, &myrow, &mycol);
    *info = 0;
    descinit_(desca, &m, &kk, &mb, &kk, &izero, &izero, &ctxt, &mb, info);
    double *a = gr_calloc((size_t)mb * kk, sizeof *a), *tau = gr_malloc((size_t)kk, sizeof *tau), wq = 0;
    int rc = *info ? gr_fail(GR_EMPI, "solve", "ScaLAPACK descinit rejected the QR layout (info %d)", *info) : GR_OK;
    GR_TRY(gr_agree(comm, rc));  /* every rank enters pdgeqrf, or none */
    for (int j = 0; j < k; j++) memcpy(a + (size_t)j * mb, X + (size_t)j * n, (size_t)n * sizeof *a);
    memcpy(a + (size_t)k * mb, y, (size_t)n * sizeof *a);
    lwork = -1;
    pdgeqrf_(&m, &kk, a, &ione, &ione, desca, tau, &wq, &lwork, info);
    rc = *info ? gr_fail(GR_EMPI, "solve", "ScaLAPACK pdgeqrf workspace query failed (info %d)", *info)
               : qr_lwork(wq, &lwork);
    GR_TRY(gr_agree(comm, rc));
    double *work = gr_malloc((size_t)lwork, sizeof *work);
    pdgeqrf_(&m, &kk, a, &ione, &ione, desca, tau, work, &lwork, info);
    free(work);
    /* R is the upper triangle of the first kk rows, all on process row 0 */
    *R = gr_calloc((size_t)nR, sizeof **R);
    if (rank == 0)
        for (int j = 0; j < kk; j++)
            for (int i = 0; i <= j; i++) (*R)[i + j * kk] = a[i + (size_t)j * mb];
    MPI_Bcast(*R, nR, MPI_DOUBLE, 0, comm);
    MPI_Allreduce(MPI_IN_PLACE, info, 1, MPI_INT, MPI_MAX, comm);
fail:
    free(tau);
    free(a);
    grid_close(ctxt, handle);
    return rc;
}

static int solve_qr(MPI_Comm comm, int64_t n, int k, const double *X, const double *y, double *beta,
                    double *XtXinv)
{
    int P;
    MPI_Comm_size(comm, &P);
    int64_t mb64 = n, ntot = 0;
    MPI_Allreduce(MPI_IN_PLACE, &mb64, 1, MPI_INT64_T, MPI_MAX, comm);
    MPI_Allreduce(&n, &ntot, 1, MPI_INT64_T, MPI_SUM, comm);
    if (mb64 < k + 1) mb64 = k + 1;  /* R must fit in rank 0's block */
    if (mb64 * P > INT32_MAX) return gr_fail(GR_EINPUT, "solve", "too many rows for the QR path; use --solver cholesky");
    int mb = (int)mb64, info = 0, kk = k + 1;  /* mb64 <= mb64 * P <= INT32_MAX, checked just above */
    double *R = NULL;
    GR_CALL(qr_factor(comm, n, k, mb, X, y, &R, &info));
    int rc = GR_OK;
    for (int j = 0; j < k && !rc; j++)
        if (!(fabs(R[j + j * kk]) > 0) || info)
            rc = gr_fail(GR_ENUM, "solve", "design is rank deficient in the QR (pdgeqrf info %d)", info);
    if (!rc) {
        /* beta = R11^-1 (Q'y)[0:k]; (X'X)^-1 = R11^-1 R11^-T */
        double *Rinv = gr_calloc((size_t)k * k, sizeof *Rinv);
        for (int j = k - 1; j >= 0; j--) {
            Rinv[j + j * k] = 1.0 / R[j + j * kk];
            for (int i = j - 1; i >= 0; i--) {
                double s = 0;
                for (int p = i + 1; p <= j; p++) s += R[i + p * kk] * Rinv[p + j * k];
                Rinv[i + j * k] = -s / R[i + i * kk];
            }
        }
        for (int i = 0; i < k; i++) {
            double s = 0;
            for (int p = i; p < k; p++) s += Rinv[i + p * k] * R[p + k * kk];
            beta[i] = s;
        }
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int p = (i > j ? i : j); p < k; p++) s += Rinv[i + p * k] * Rinv[j + p * k];
                XtXinv[i + j * k] = s;
            }
        free(Rinv);
    }
    free(R);
    return rc;
}

int gr_solve(MPI_Comm comm, gr_solver solver, int64_t n, int k, const double *X, const double *y,
             const double *XtX, const double *Xty, double *beta, double *XtXinv)
{
    if (k == 0) return GR_OK;
    return solver == GR_SOLVER_QR ? solve_qr(comm, n, k, X, y, beta, XtXinv)
                                  : solve_cholesky(comm, k, XtX, Xty, beta, XtXinv);
}
