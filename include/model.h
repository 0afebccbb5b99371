/* model.h: one model on the evaluated columns of one sample: which rows are usable (finite outcome and
 * regressors, defined fixed effects and clusters, positive weight), outcomes grouped by their usable rows,
 * one absorber per group (absorber.h) demeaning regressors and outcomes together, then one fit per
 * outcome (fit.h) with its clusters. The estimate, balance and match commands end here. */
#ifndef GR_MODEL_H
#define GR_MODEL_H
#include "absorber.h"
#include "fit.h"

typedef struct gr_model_opts {
    gr_absorb_opts absorb;
    gr_fit_opts fit;
    gr_vcov_type vcov;
    int cluster_on_fe;      /* clustered by the first fixed effect (fixest's default with fixed effects) */
    gr_boot_opts boot;      /* wild cluster restricted bootstrap (wildboot.h); boot.B = 0: none */
    int cluster_diag;       /* the clustering diagnostic: GR_LEV_DIAG_AUTO (0), _ON or _OFF (leverage.h) */
} gr_model_opts;

/* The evaluated columns of one model on the local rows of its sample (NaN = missing, code -1 = missing).
 * Outcomes and regressors are separate arrays; when y[j] = y[0] + j*n (and x likewise) they form one
 * block that a released model reuses in place. */
typedef struct gr_model_data {
    int64_t n;
    int ny; double **y; char **ylabel;
    int nx; double **x; char **xlabel;
    int intercept;                              /* add an "(Intercept)" column of ones */
    int nfe; int32_t **fecode; int64_t *fencode; char **fename;
    int ncl; int32_t **clcode; int64_t *clncode; char **clname;  /* 0-2 cluster variables */
    double *w; const char *wname;               /* observation weights (> 0; 0 drops the row) or NULL */
    struct gr_pool *pool;                       /* absorbers shared with earlier models of this sample
                                                 * (pool.h; gravrd grid), or NULL */
    const unsigned char **yflag, **xflag, **feflag, **clflag;  /* NULL, or per column its row flags (rowsel.h:
                                                 * GR_ROW_MISSING / GR_ROW_INF; codes: 1 where -1; NULL: no row
                                                 * flagged) as a caching frame keeps them (frame.h), so they are
                                                 * not worked out again; all four or none */
    int stable;                                 /* 1: the arrays belong to a frame that outlives pool and never
                                                 * changes them (frame.h), so their addresses name their values:
                                                 * models on the same rows share levels and sums of squares */
    const char *label;                          /* "Full sample", "dir = 1", ... */
    struct gr_scores *scores;                   /* NULL, or a sink for the per-cluster influence of one coefficient
                                                 * of the first outcome (mediation.h: gravrd mediate) */
} gr_model_data;

/* Collective. Fit every outcome of d; *out gets d->ny results in outcome order (free each with
 * gr_result_free, then the array). With release = 1 the model takes the arrays d points to (y, x blocks,
 * codes, weights): it compacts and demeans them in place instead of copying, frees them, and sets d's
 * pointers to NULL; with release = 0, d is left as it was. Errors (nothing to estimate, one cluster,
 * negative weights) are agreed across ranks. */
int gr_model_fit(MPI_Comm comm, gr_model_data *d, int release, const gr_model_opts *o, gr_result **out);

/* Local. A fresh result for outcome j of d: names of the outcome, sample and fixed effects (model.c, ppml.c). */
void gr_model_result_init(gr_result *r, const gr_model_data *d, int j);

/* Local. What a result reports besides the fit itself: fixed-effect sizes, clusters, weights, iterations,
 * solver, variance label and the absorber's work (model.c, ppml.c); not the singletons (each caller's own). */
void gr_model_describe(const gr_model_data *d, const gr_model_opts *o, const gr_absorber *ab, const gr_vcov_spec *vs,
                       gr_result *r);

/* Collective. Codes (levels.h) of double keys: code[k] (new, n values; -1 where key[k] is NaN) and the
 * range ncode[k], for callers that build their columns in memory (balance, match). */
int gr_model_codes_from_keys(MPI_Comm comm, int64_t n, int nkeys, double *const *key, int32_t **code, int64_t *ncode);
#endif
