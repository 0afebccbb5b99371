/* ols.h: one fixed-effects OLS estimation sample, fitted for each of its outcomes: sample
 * cleaning (missing and non-finite rows, singletons), one demeaning pass shared by all outcomes,
 * collinearity detection, the ScaLAPACK solve, fit statistics and the variance. */
#ifndef GR_OLS_H
#define GR_OLS_H
#include "fe.h"
#include "levels.h"
#include "linalg.h"
#include "vcov.h"

typedef struct gr_fit_opts {
    double fe_tol;          /* convergence tolerance on fixed-effect coefficients (fixest: 1e-6) */
    int fe_maxiter;         /* iteration cap (fixest: 10000) */
    gr_fe_method fe_method; /* conjugate gradient (default) or Irons-Tuck sweeps */
    int rm_singletons;      /* remove singleton groups iteratively (reghdfe's default; fixest's fixef.rm) */
    gr_solver solver;
    double collin_tol;      /* fixest collin.tol: 1e-10 */
    gr_vcov_type vcov;
    int cluster_on_fe;      /* vcov clustered by the first fixed effect (fixest's default with FEs) */
} gr_fit_opts;

/* The local rows of one sample; arrays of n values, NaN = missing. The caller owns everything. */
typedef struct gr_sample {
    int64_t n;
    int ny; double **y; char **ylabel;
    int nx; double **x; char **xlabel;
    int intercept;
    int nfe; char **fename;
    int32_t **fecode; int64_t *fencode;         /* codes of each dimension (levels.h; -1 = missing) ... */
    double **fekey;                             /* ... or, when fecode is NULL, combined keys (NaN = missing) */
    int ncl; char **clname;                     /* 0-2 cluster variables, */
    int32_t **clcode; int64_t *clncode;         /* as codes ... */
    double **clkey;                             /* ... or keys when clcode is NULL */
    char *label;                                /* "Full sample", "dir = 1", ... */
    int consumable;  /* 1: x[0..nx) and y[0..ny) are each one contiguous n x k block that gr_ols_run may
                      * demean in place, and it may take fecode[] and clcode[] (setting them NULL) to turn
                      * them into level ids; the caller must not use any of them afterwards */
} gr_sample;

typedef struct gr_result {
    char *yname, *sample_label;
    int64_t nobs, n_missing, n_nonfinite, n_singletons;
    int k; char **terms; double *coef, *se, *tval, *pval;
    int ncollin; char **collin;
    double r2, adj_r2, within_r2, f_stat, f_pval, rss, rmse, df_t;
    int nfe; char **fenames; int64_t *fesizes;
    int ncl; char **clnames; int64_t G[2];
    int iterations, converged;
    const char *solver, *vcov_label;
    double t_read, t_prepare, t_index, t_demean, t_solve, t_vcov;  /* seconds per stage */
} gr_result;

/* Collective. Fit every outcome of the sample; *out gets s->ny results (caller frees each with
 * gr_result_free, then the array). Errors (nothing left to estimate, a cluster with one level...)
 * are agreed across ranks. A consumable sample's arrays are used up (see gr_sample). */
int gr_ols_run(MPI_Comm comm, gr_sample *s, const gr_fit_opts *o, gr_result **out);
void gr_result_free(gr_result *r);
#endif
