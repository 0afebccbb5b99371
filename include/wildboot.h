/* wildboot.h: the wild cluster restricted (WCR) bootstrap of one-way clustered least squares, as boottest
 * (Roodman, Nielsen, MacKinnon and Webb 2019, "Fast and wild") and fwildclusterboot define it, on the
 * demeaned model (the absorbed fixed effects projected out: fwildclusterboot's `fe`): p-values of
 * H0: beta_j = b and confidence intervals by test inversion (docs/bootstrap.md). The efficient form:
 * one pass over the rows for per-cluster sums (k-vectors and k x k blocks, reduced over the ranks), then
 * O(G k) per draw and O(1) per draw for each tested value b. Weights come from a counter-based hash of
 * (seed, draw, cluster), so the draws do not depend on the number of ranks. */
#ifndef GR_WILDBOOT_H
#define GR_WILDBOOT_H
#include "result.h"
#include "vcov.h"

typedef enum { GR_BOOT_RADEMACHER = 0, GR_BOOT_WEBB } gr_boot_weights;

typedef struct gr_boot_opts {
    int64_t B;              /* draws; 0: no bootstrap */
    int weights;            /* gr_boot_weights */
    int64_t seed;
    double level;           /* confidence level of the interval, in (0, 1) */
    const char *term;       /* the one regressor to bootstrap; NULL: every estimated regressor */
} gr_boot_opts;

/* Local. The canonical name of a weight type ("rademacher", "webb"). */
const char *gr_boot_weights_name(int weights);

/* Local. Before any work: refuse (GR_EUSAGE, one line naming `where`, e.g. "--boot" or "boot") a bootstrap
 * without one-way clustering (vcov and ncl as resolved by gr_spec_resolve; cluster_on_fe counts as one
 * variable), with two cluster variables, for a model that is not least squares (poisson = 1), or with a
 * level outside (0, 1). Nothing to check when o->B is 0. */
int gr_boot_check(const gr_boot_opts *o, const char *where, gr_vcov_type vcov, int ncl, int cluster_on_fe, int poisson);

/* Collective. The WCR bootstrap for the regressors of a fitted model: X (n x k local rows, demeaned and
 * sqrt(w)-scaled, column-major), e (n residuals), beta (k), Binv = (X'X)^-1 (k x k, replicated), the
 * clusters of vs (one-way), K parameters for the CR1 factor G/(G-1) (N-1)/(N-K) of the t statistics.
 * r must hold the coefficient table (terms, k); fills r->boot_* (per term; NaN for terms not tested).
 * GR_EINPUT (one line, the same on every rank) without one-way clustering, with an unknown o->term. */
int gr_wildboot(MPI_Comm comm, const gr_boot_opts *o, const gr_vcov_spec *vs, int64_t n, int64_t nobs, int k,
                const double *X, const double *e, const double *beta, const double *Binv, int64_t K, gr_result *r);
#endif
