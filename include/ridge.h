/* ridge.h: the small-sample statistics of `gravrd diag` (docs/companion.md): Pearson correlations with
 * their t-test p-values, OLS with variance inflation factors, and ridge regression in the standardized
 * (correlation-matrix) form of Hoerl and Kennard, reported back on the original scale with a constant.
 * Everything is Local, on data held whole by the caller (rank 0), O(n p^2 + p^3).
 *
 * Conventions (docs/companion.md says why):
 *   centring and unit-length scaling: z_ij = (x_ij - mean_j) / sqrt(S_jj), S_jj = sum_i (x_ij - mean_j)^2,
 *     the same for y; so Z'Z = R (the correlation matrix of X) and Z'y* = r (correlations with y);
 *   ridge: b*(k) = (R + kI)^-1 r; original scale b_j = b*_j sqrt(S_yy / S_jj), constant
 *     b_0 = mean_y - sum_j b_j mean_j; k = 0 is OLS;
 *   residuals e = y - b_0 - X b; RSS = e'e; s2 = RSS / (n - p - 1) (OLS's residual df for every k);
 *   Var(b*) = (s2 / S_yy) M, M = (R + kI)^-1 R (R + kI)^-1, so Cov(b_i, b_j) = s2 M_ij / sqrt(S_ii S_jj),
 *     Var(b_0) = s2 / n + mean' Cov(b) mean; t = b / se on n - p - 1 df;
 *   R2 = 1 - RSS / S_yy; adjusted R2 = 1 - (1 - R2)(n - 1)/(n - p - 1);
 *     F = (R2 / p) / ((1 - R2) / (n - p - 1)) on (p, n - p - 1) df;
 *   VIF_j(k) = M_jj (the ridge VIF of Marquardt 1970; at k = 0 it is 1 / (1 - R2_j)). */
#ifndef GR_RIDGE_H
#define GR_RIDGE_H
#include <stdint.h>

#define GR_RIDGE_MAXP 64  /* regressors at most */

/* What every fit of one data set shares: means, centred sums of squares and correlations. */
typedef struct gr_ridge_data {
    int64_t n;
    int p;
    const double *y;            /* n values (not owned) */
    const double *const *x;     /* p columns of n values (not owned) */
    const char *const *names;   /* p regressor names, for messages (not owned) */
    double ybar, syy;
    double *xbar, *sxx;         /* p each */
    double *R;                  /* p x p correlation matrix of X, row-major */
    double *r;                  /* p correlations of x_j with y */
} gr_ridge_data;

/* Local. Set up d for y and the p columns x (names: p regressor names, yname: the outcome's). GR_EINPUT
 * "<name>: constant over the N rows" for a constant column; "too few rows" when n < p + 2 (no residual
 * degree of freedom). On failure d holds nothing to free. */
int gr_ridge_setup(int64_t n, int p, const double *y, const double *const *x, const char *yname,
                   const char *const *names, gr_ridge_data *d);
void gr_ridge_data_free(gr_ridge_data *d);

/* One fit at one k. Index 0 of coef/se/tval/pval is the constant, 1..p the regressors. */
typedef struct gr_ridge_fit {
    double k;
    double *beta_std;           /* p: b*(k) */
    double *coef, *se, *tval, *pval;  /* p + 1 */
    double *vif;                /* p: M_jj */
    double rss, sigma, r2, adj_r2, f_stat, f_pval;
    int df_model, df_resid;
} gr_ridge_fit;

/* Local. The fit at k >= 0 into f (allocated here; gr_ridge_fit_free). GR_ENUM when R + kI is not
 * positive definite (at k = 0: "x_j is a linear combination of the others"), GR_EINPUT for k < 0 or a
 * perfect fit (RSS = 0: no standard errors). */
int gr_ridge_fit_at(const gr_ridge_data *d, double k, gr_ridge_fit *f);
void gr_ridge_fit_free(gr_ridge_fit *f);

/* Local. Pearson correlations of the m columns v[0..m-1] (n values each, none constant) into r[m*m] and
 * the two-sided p-values of cor.test's t = r sqrt((n - 2) / (1 - r^2)) on n - 2 df into pval[m*m]
 * (|r| = 1 off the diagonal: p = 0; the diagonal's p is NaN: not a test). Needs n >= 3. */
void gr_corr_matrix(int64_t n, int m, const double *const *v, double *r, double *pval);
#endif
