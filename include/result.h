/* result.h: the result of one fitted model (one outcome on one sample): what report.c prints and
 * writes as JSON. Filled by fit.c (coefficients, statistics) and model.c (sample, fixed effects). */
#ifndef GR_RESULT_H
#define GR_RESULT_H
#include "gr.h"

typedef struct gr_result {
    char *yname, *sample_label;
    int64_t nobs, n_missing, n_nonfinite, n_singletons, n_zero_weight;
    char *weights;                              /* weight column, NULL when unweighted */
    int k; char **terms; double *coef, *se, *tval, *pval;
    int ncollin; char **collin;
    double r2, adj_r2, within_r2, f_stat, f_pval, rss, rmse, df_t;
    double f_df1, f_df2;                        /* the F statistic's degrees of freedom */
    int nfe; char **fenames; int64_t *fesizes;
    int ncl; char **clnames; int64_t G[2];
    int nlev; struct gr_lev_diag *lev;          /* clustered fits: the leverage diagnostic per cluster variable (leverage.h) */
    double t_cluster_diag;                      /* seconds of the diagnostic (once per group of outcomes) */
    int iterations, converged;
    const char *solver, *vcov_label;
    double t_read, t_prepare, t_index, t_demean, t_solve, t_vcov;  /* seconds per stage */
    int absorber_setups;                        /* fixed-effect structures set up for this result's sample */
    int64_t columns_demeaned, columns_reused;   /* demeaned columns computed / taken from an absorber's cache */
    /* PPML (ppml.c, docs/ppml.md); family is NULL for least squares */
    const char *family;                         /* "poisson" */
    double deviance;                            /* Poisson deviance at convergence */
    int irls_iterations, relu_iterations;       /* IRLS iterations; iterations of the separation check */
    int64_t inner_iterations;                   /* demeaning iterations summed over the IRLS iterations */
    int64_t n_sep_fe, n_sep_relu;               /* rows dropped: all-zero fixed-effect groups; separated by the ReLU check */
    /* wild cluster restricted bootstrap (wildboot.c, docs/bootstrap.md); boot_draws is 0 when off */
    int64_t boot_draws, boot_seed;
    int boot_enumerated;                        /* 1: every weight vector once */
    const char *boot_weights;                   /* "rademacher", "webb" */
    double boot_level, t_boot;                  /* interval level; seconds */
    double *boot_p, *boot_p_et, *boot_lo, *boot_hi;  /* per term (k); NaN for terms not tested */
} gr_result;

/* Local. Free what r owns and zero it. */
void gr_result_free(gr_result *r);
#endif
