/* mediation.h: the study's mediation test (its footnote 15, Table 6 panel B): does adding a mediator to the
 * main model change the coefficient of a term (the partnership flag) significantly? The two nested models are
 * fitted on the same rows; delta = b_without - b_with gets a standard error from the models' joint covariance,
 * built from their per-cluster influence functions (stacked scores, clustered). docs/mediation.md has the
 * formula, its derivation and the small-sample factor. `gravrd mediate` is the command. */
#ifndef GR_MEDIATION_H
#define GR_MEDIATION_H
#include "fit.h"
#include "vcov.h"

/* A sink for the influence function of one coefficient of one fitted model, summed by cluster: set
 * gr_model_data.scores (model.h, through gr_spec.scores) and the model fills it after its first outcome's
 * fit. psi_i = [(X'X)^-1 x_i]_term * e_i on the demeaned (sqrt(w)-scaled) regressors X and residuals e,
 * so that b_term - beta_term = sum_i psi_i for a linear model. */
typedef struct gr_scores {
    const char *term;       /* in: the term (as the formula labels it, e.g. "partner") */
    int found;              /* out: 1 if the term was estimated (not dropped as collinear) */
    int64_t nobs, G, K;     /* rows, clusters, parameters of fixest's (n-1)/(n-K) (nested fixed effects excluded) */
    double *S;              /* G per-cluster sums of psi_i, cluster g = the model's dense id g (all ranks) */
    int64_t *rows;          /* G row counts per cluster (all ranks): two models' clusters are compared with it */
} gr_scores;

/* Collective over fd->comm. Fill sc from the fit fd, the residuals e of its outcome (fd->n local rows) and its
 * clustering vs (one variable: GR_EINPUT otherwise), with K parameters for the small-sample factor. */
int gr_scores_collect(gr_scores *sc, const gr_fit *fd, const double *e, const gr_vcov_spec *vs, int64_t K);

/* Local. Free what sc owns (S, rows) and reset its outputs; term is kept. */
void gr_scores_free(gr_scores *sc);

/* The test of one term between the model without (1) and with (2) the mediators, on the same N rows and G
 * clusters: delta = b1 - b2, V(delta) = c sum_g (S1_g - S2_g)^2 with c = G/(G-1) (N-1)/(N-K2). */
typedef struct gr_mediation {
    double b1, b2, delta, se, t, p, df, conf_low, conf_high, c;
    double se1, se2, cov12;  /* each model's variance and their covariance with the same c (docs/mediation.md) */
    int64_t nobs, G, K1, K2;
} gr_mediation;

/* Local. The test from the two models' sinks and coefficients; GR_EINPUT (one line) when the sinks do not
 * describe the same rows and clusters, or the variance is not finite and positive. */
int gr_mediation_test(const gr_scores *s1, const gr_scores *s2, double b1, double b2, gr_mediation *m);
/* Local. The terms a `command: mediate` grid specification adds to its formula's (for gravrd table): the
 * mediators as the formula labels them, then "delta(<term>)". options: the grid's "--name value" lines.
 * *terms: *n new strings (free each, then the array); none when options has no --mediator. */
int gr_mediation_terms(const char *formula, const char *options, char ***terms, int *n);
#endif
