/* ppml.h: Poisson pseudo-maximum likelihood with high-dimensional fixed effects (fixest's fepois,
 * Stata's ppmlhdfe) on the distributed absorber: the sample (outcome in levels, zeros kept), fixed-effect
 * groups whose outcome is all zero dropped, separation by regressors found by the iterative rectifier
 * (ReLU) of Correia, Guimaraes and Zylkin (2019), then IRLS whose every iteration demeans the working
 * outcome and regressors with the current weights, warm-started from the previous iteration's
 * fixed-effect coefficients, with an adaptive inner tolerance. The variance is fit.c's sandwich on the
 * final weighted, demeaned design, with fixest's small-sample rules for fepois (docs/ppml.md,
 * docs/vcov.md). */
#ifndef GR_PPML_H
#define GR_PPML_H
#include "model.h"

typedef enum { GR_FAMILY_GAUSSIAN = 0, GR_FAMILY_POISSON = 1 } gr_family;

typedef struct gr_ppml_opts {
    double tol;         /* IRLS stops when |dev - dev_prev| / (0.1 + |dev|) < tol (fixest's glm.tol: 1e-8) */
    int maxiter;        /* IRLS iteration cap; reaching it is an error */
    int separation;     /* 1: drop all-zero fixed-effect groups and run the ReLU check (default) */
    double sep_tol;     /* ReLU: |z| below this is 0 (ppmlhdfe: 1e-5) */
    int sep_maxiter;    /* ReLU iteration cap */
} gr_ppml_opts;

/* Local. ppmlhdfe's and fixest's defaults: tol 1e-8, 100 iterations, separation checks on, 1e-5, 1000. */
void gr_ppml_defaults(gr_ppml_opts *po);

/* Local. "gaussian" / "poisson" <-> gr_family; GR_EUSAGE (one line naming `where`) on another word. */
const char *gr_family_name(int family);
int gr_family_parse(const char *word, const char *where, int *family);

/* Collective. PPML of every outcome of d on its usable rows (finite outcome, offset and regressors, defined
 * codes, positive weight), the same rules and results as gr_model_fit (d is not modified; the caller frees it),
 * *out gets d->ny results. off: d->n values entering the linear predictor with coefficient 1 (glm's and fixest's
 * offset, ppmlhdfe's offset()), or NULL; a row where it is not finite is dropped as a non-finite outcome is.
 * Refused (one line, agreed): a negative outcome, an outcome that is zero on every row, a sample in which
 * every observation is separated, no IRLS convergence within po->maxiter. */
int gr_ppml_fit(MPI_Comm comm, const gr_model_data *d, const double *off, const gr_model_opts *o,
                const gr_ppml_opts *po, gr_result **out);
#endif
