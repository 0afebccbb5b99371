/* linalg.h: dense kernels for the regression step. Local products use OpenBLAS; the factorization
 * that combines the ranks' blocks runs on a ScaLAPACK/BLACS grid built on the caller's communicator:
 * either a QR of the row-distributed demeaned design (pdgeqrf) or a distributed Cholesky of the
 * assembled cross-product (pdpotrf/pdpotrs/pdpotri). Matrices are column-major. */
#ifndef GR_LINALG_H
#define GR_LINALG_H
#include "gr.h"

typedef enum { GR_SOLVER_CHOL = 0, GR_SOLVER_QR = 1 } gr_solver;
const char *gr_solver_name(gr_solver s);

/* Collective. XtX (k*k, full symmetric), Xty (k) and yty summed over ranks; X is n*k column-major
 * (leading dimension n). Any of Xty/yty may be NULL (y ignored). Returns GR_OK, or on every rank
 * GR_EINPUT (agreed, gr_agree) when some rank's n or k*k + k + 1 does not fit the int BLAS/MPI take. */
int gr_crossprod(MPI_Comm comm, int64_t n, int k, const double *X, const double *y, double *XtX, double *Xty,
                 double *yty);

/* Local. Detect regressors that are linearly dependent on earlier ones (or zero): sequential
 * Cholesky of the scaled cross-product; keep[j] = 0 where the remaining pivot is below tol
 * (relative). Returns the number kept. */
int gr_collinear(int k, const double *XtX, double tol, int *keep);

/* Collective. Solve (X'X) b = X'y and invert X'X through ScaLAPACK.
 * GR_SOLVER_CHOL: XtX/Xty already summed (gr_crossprod); pdpotrf/pdpotrs/pdpotri on a near-square grid.
 * GR_SOLVER_QR: X (n*k local rows) and y are factored as [X y] = QR with pdgeqrf on a P x 1 grid whose
 * blocks are the ranks' rows (padded with zero rows), XtX/Xty are ignored.
 * Outputs, replicated: beta (k), XtXinv (k*k). Returns GR_ENUM if X'X is not positive definite. */
int gr_solve(MPI_Comm comm, gr_solver solver, int64_t n, int k, const double *X, const double *y,
             const double *XtX, const double *Xty, double *beta, double *XtXinv);
#endif
