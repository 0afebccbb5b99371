/* fit.h: least squares on demeaned columns: cross-products, collinear and absorbed regressors, the
 * ScaLAPACK solve, fit statistics and the variance. Knows nothing about files, formulas or options:
 * it is handed columns of local rows (distributed over the ranks of comm) and fills gr_result.
 * Weighted least squares: the columns are scaled by sqrt(w) here, after the (weighted) demeaning,
 * which turns every OLS formula (and every sandwich) into its weighted form. */
#ifndef GR_FIT_H
#define GR_FIT_H
#include "linalg.h"
#include "result.h"
#include "vcov.h"
#include "wildboot.h"

typedef struct gr_fit_opts {
    gr_solver solver;
    double collin_tol;      /* fixest collin.tol: 1e-10 */
} gr_fit_opts;

/* The regressors of a model, shared by every outcome fitted on them. */
typedef struct gr_fit {
    MPI_Comm comm;
    int64_t n, nobs;        /* local rows, all rows */
    int kx;                 /* regressors given */
    char **xlabel;          /* kx labels (borrowed) */
    int *keepx;             /* 1 if regressor j is estimated, 0 if dropped */
    int *absorbed;          /* 1 if dropped as constant or absorbed by the fixed effects */
    int nkept;
    double *Xk;             /* n x nkept kept regressors (sqrt(w)-scaled), column-major */
    double *XtXk;           /* nkept x nkept cross-product, all ranks */
    const double *sw;       /* sqrt of the weights (n, owned) or NULL */
    int has_fe;
    int intercept;          /* 1 if the first regressor is the constant GR_INTERCEPT_LABEL */
    const char *label;      /* the sample, for warnings */
} gr_fit;

/* Collective. Set up the fit on the demeaned regressors X (n x kx, column-major, leading dimension n;
 * taken: X is overwritten and freed by gr_fit_free) with optional weights w (n, not owned) and xtss[j],
 * the (weighted) centred sum of squares of regressor j before demeaning: with fixed effects, a regressor
 * whose demeaned sum of squares is below collin_tol of it is absorbed. Regressors collinear with earlier
 * ones are dropped (warned on rank 0). Fails if nothing is left to estimate. */
int gr_fit_init(MPI_Comm comm, int64_t n, int kx, double *X, char *const *xlabel, const double *xtss,
                const double *w, int has_fe, const gr_fit_opts *o, const char *label, gr_fit *fd);

/* What the variance and the statistics need beyond the design. */
typedef struct gr_fit_inference {
    gr_vcov_spec vcov;      /* type and cluster ids (on the fit's rows) */
    int64_t K_fe;           /* fixed-effect parameters for the adjusted R2 (gr_absorber_dof) */
    int64_t K_fe_vcov;      /* the same without dimensions nested in a cluster, for the variance */
    gr_boot_opts boot;      /* wild cluster restricted bootstrap (wildboot.h); boot.B = 0: none */
} gr_fit_inference;

/* Collective. Fit the demeaned outcome y (n values, overwritten by the sqrt(w)-scaled residuals) with
 * ytss its (weighted) centred sum of squares before demeaning, and fill r: terms, coefficients, standard
 * errors, t and p values, R2s, F, the t degrees of freedom, the collinear terms, solve and vcov timings.
 * Refuses (GR_EINPUT, one line naming r->yname and the sample; the same on every rank) a degenerate fit:
 * non-finite sums of squares, coefficients or standard errors; a constant outcome; an outcome absorbed
 * by the fixed effects or fitted exactly (docs/estimator.md). Statistics that are not defined (R2 and F
 * without a constant or fixed effects, F or adjusted R2 without degrees of freedom) are NaN. */
int gr_fit_outcome(const gr_fit *fd, double *y, double ytss, const gr_fit_inference *inf, const gr_fit_opts *o,
                   gr_result *r);

void gr_fit_free(gr_fit *fd);
#endif
