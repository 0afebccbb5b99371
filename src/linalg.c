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

void gr_crossprod(MPI_Comm comm, int64_t n, int k, const double *X, const double *y, double *XtX, double *Xty,
                  double *yty)
{
    int m = k * k + (Xty ? k : 0) + (yty ? 1 : 0);
    double *buf = gr_calloc((size_t)m, sizeof *buf);
    if (n > 0 && k > 0) {
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, k, (int)n, 1.0, X, (int)n, 0.0, buf, k);
        for (int j = 0; j < k; j++)
            for (int i = j + 1; i < k; i++) buf[i + j * k] = buf[j + i * k];
        if (Xty) cblas_dgemv(CblasColMajor, CblasTrans, (int)n, k, 1.0, X, (int)n, y, 1, 0.0, buf + k * k, 1);
    }
    if (yty && n > 0) buf[m - 1] = cblas_ddot((int)n, y, 1, y, 1);
    MPI_Allreduce(MPI_IN_PLACE, buf, m, MPI_DOUBLE, MPI_SUM, comm);
    memcpy(XtX, buf, (size_t)k * k * sizeof *buf);
    if (Xty) memcpy(Xty, buf + k * k, (size_t)k * sizeof *buf);
    if (yty) *yty = buf[m - 1];
    free(buf);
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

static int solve_cholesky(MPI_Comm comm, int k, const double *XtX, const double *Xty, double *beta, double *XtXinv)
{
    int P, rank;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &rank);
    const int nb = 32, izero = 0, ione = 1;
    /* near-square grid, but no more process rows/columns than blocks */
    int nblk = (k + nb - 1) / nb, pr = 1;
    while ((pr + 1) * (pr + 1) <= P && pr + 1 <= nblk) pr++;
    int pc = pr;
    int ctxt, handle, myrow = -1, mycol = -1, nprow, npcol;
    grid_open(comm, pr, pc, &ctxt, &handle);
    Cblacs_gridinfo(ctxt, &nprow, &npcol, &myrow, &mycol);
    int in_grid = myrow >= 0 && myrow < pr && mycol >= 0 && mycol < pc;
    double *fullinv = gr_calloc((size_t)k * k + k, sizeof *fullinv); /* inverse then beta, assembled by sum */
    int info = 0;
    if (in_grid) {
        int mloc = numroc_(&k, &nb, &myrow, &izero, &nprow), nloc = numroc_(&k, &nb, &mycol, &izero, &npcol);
        int lld = mloc > 1 ? mloc : 1, nloc_b = numroc_(&ione, &nb, &mycol, &izero, &npcol);
        int desca[9], descb[9];
        descinit_(desca, &k, &k, &nb, &nb, &izero, &izero, &ctxt, &lld, &info);
        descinit_(descb, &k, &ione, &nb, &nb, &izero, &izero, &ctxt, &lld, &info);
        double *a = gr_calloc((size_t)lld * (nloc > 0 ? nloc : 1), sizeof *a);
        double *b = gr_calloc((size_t)lld * (nloc_b > 0 ? nloc_b : 1), sizeof *b);
        /* global (i, j) -> local: block-cyclic */
        for (int jl = 0; jl < nloc; jl++) {
            int j = (jl / nb) * nb * npcol + mycol * nb + jl % nb;
            for (int il = 0; il < mloc; il++) {
                int i = (il / nb) * nb * nprow + myrow * nb + il % nb;
                a[il + (size_t)jl * lld] = XtX[i + (size_t)j * k];
            }
        }
        for (int il = 0; il < mloc && nloc_b > 0; il++) {
            int i = (il / nb) * nb * nprow + myrow * nb + il % nb;
            b[il] = Xty[i];
        }
        pdpotrf_("U", &k, a, &ione, &ione, desca, &info, 1);
        if (info == 0) pdpotrs_("U", &k, &ione, a, &ione, &ione, desca, b, &ione, &ione, descb, &info, 1);
        if (info == 0) pdpotri_("U", &k, a, &ione, &ione, desca, &info, 1);
        if (info == 0) {
            for (int jl = 0; jl < nloc; jl++) {
                int j = (jl / nb) * nb * npcol + mycol * nb + jl % nb;
                for (int il = 0; il < mloc; il++) {
                    int i = (il / nb) * nb * nprow + myrow * nb + il % nb;
                    if (i <= j) fullinv[i + (size_t)j * k] = a[il + (size_t)jl * lld];
                }
            }
            for (int il = 0; il < mloc && nloc_b > 0; il++) {
                int i = (il / nb) * nb * nprow + myrow * nb + il % nb;
                fullinv[(size_t)k * k + i] = b[il];
            }
        }
        free(a);
        free(b);
    }
    MPI_Allreduce(MPI_IN_PLACE, &info, 1, MPI_INT, MPI_MAX, comm);
    int rc = GR_OK;
    if (info != 0) {
        rc = gr_fail(GR_ENUM, "solve", "X'X is not positive definite (ScaLAPACK pdpotrf info %d)", info);
    } else {
        MPI_Allreduce(MPI_IN_PLACE, fullinv, k * k + k, MPI_DOUBLE, MPI_SUM, comm);
        for (int j = 0; j < k; j++)
            for (int i = 0; i < k; i++)
                XtXinv[i + (size_t)j * k] = i <= j ? fullinv[i + (size_t)j * k] : fullinv[j + (size_t)i * k];
        memcpy(beta, fullinv + (size_t)k * k, (size_t)k * sizeof *beta);
    }
    free(fullinv);
    grid_close(in_grid ? ctxt : -1, handle);
    return rc;
}

static int solve_qr(MPI_Comm comm, int64_t n, int k, const double *X, const double *y, double *beta,
                    double *XtXinv)
{
    int P, rank;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &rank);
    int64_t mb64 = n, ntot = 0;
    MPI_Allreduce(MPI_IN_PLACE, &mb64, 1, MPI_INT64_T, MPI_MAX, comm);
    MPI_Allreduce(&n, &ntot, 1, MPI_INT64_T, MPI_SUM, comm);
    if (mb64 < k + 1) mb64 = k + 1;  /* R must fit in rank 0's block */
    if (mb64 * P > INT32_MAX) return gr_fail(GR_EINPUT, "solve", "too many rows for the QR path; use --solver cholesky");
    int mb = (int)mb64, m = mb * P, kk = k + 1, izero = 0, ione = 1, info = 0;
    int ctxt, handle, myrow, mycol, nprow, npcol;
    grid_open(comm, P, 1, &ctxt, &handle);
    Cblacs_gridinfo(ctxt, &nprow, &npcol, &myrow, &mycol);
    int desca[9];
    descinit_(desca, &m, &kk, &mb, &kk, &izero, &izero, &ctxt, &mb, &info);
    double *a = gr_calloc((size_t)mb * kk, sizeof *a);
    for (int j = 0; j < k; j++) memcpy(a + (size_t)j * mb, X + (size_t)j * n, (size_t)n * sizeof *a);
    memcpy(a + (size_t)k * mb, y, (size_t)n * sizeof *a);
    double *tau = gr_malloc((size_t)kk, sizeof *tau), wq;
    int lwork = -1;
    pdgeqrf_(&m, &kk, a, &ione, &ione, desca, tau, &wq, &lwork, &info);
    lwork = (int)wq + 1;
    double *work = gr_malloc((size_t)lwork, sizeof *work);
    pdgeqrf_(&m, &kk, a, &ione, &ione, desca, tau, work, &lwork, &info);
    free(work);
    free(tau);
    /* R is the upper triangle of the first kk rows, all on process row 0 */
    double *R = gr_calloc((size_t)kk * kk, sizeof *R);
    if (rank == 0)
        for (int j = 0; j < kk; j++)
            for (int i = 0; i <= j; i++) R[i + j * kk] = a[i + (size_t)j * mb];
    MPI_Bcast(R, kk * kk, MPI_DOUBLE, 0, comm);
    MPI_Allreduce(MPI_IN_PLACE, &info, 1, MPI_INT, MPI_MAX, comm);
    free(a);
    grid_close(ctxt, handle);
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
