/* fe.h: high-dimensional fixed effects across ranks: iterative singleton removal, nesting in a
 * cluster variable, and the demeaning (conjugate gradient by default, or Irons-Tuck-accelerated sweeps)
 * whose group sums are combined with MPI_Allreduce. One gr_fe serves any number of columns and
 * outcomes; its level ids are built from codes by gr_fe_from_codes (levels.h). */
#ifndef GR_FE_H
#define GR_FE_H
#include "gr.h"

typedef enum { GR_FE_CG = 0, GR_FE_IRONS_TUCK = 1 } gr_fe_method;

typedef struct gr_fe {
    MPI_Comm comm;
    gr_fe_method method;  /* how gr_fe_demean solves (set after gr_fe_from_codes, levels.h; default GR_FE_CG) */
    int nfe;            /* number of fixed-effect dimensions */
    int64_t n;          /* local rows */
    int32_t **id;       /* id[k][i]: global dense level of local row i in dimension k */
    int64_t *nlevels;   /* levels per dimension (global) */
    double **count;     /* count[k][g]: rows in level g, or their weight sum once weights are set; global */
    const double *w;    /* row weights (NULL: 1), not owned; set only through gr_fe_set_weights */
    int *local_only;    /* 1 if no level of dimension k has rows on two ranks: no Allreduce needed */
    char **names;       /* labels, e.g. "exporter^month" */
    struct gr_fe_cache *cache;  /* row segments and run flags kept by gr_fe_prepare (owned), or NULL */
} gr_fe;

/* Collective. Rows in fixed-effect groups of one row, iteratively (removing some can create
 * others): sets keep[i] = 0 for them, returns the global number removed in *nremoved. The gr_fe
 * must then be rebuilt on the kept rows. */
int gr_fe_singletons(const gr_fe *fe, unsigned char *keep, int64_t *nremoved);

/* Collective. Use observation weights w[0..fe->n) (finite, > 0; not owned, must outlive fe or the
 * next call; NULL: unweighted): count[k][g] become the weight sums of each level (row counts again
 * for NULL), and gr_fe_demean / gr_fe_demean_coef then project in the W-weighted norm (the residual of
 * the weighted least-squares regression on the fixed-effect dummies). GR_EINPUT on every rank, fe
 * unchanged, if some rank holds a weight that is not finite and > 0. */
int gr_fe_set_weights(gr_fe *fe, const double *w);

/* Local. Work out once what every demeaning of fe would otherwise work out per call from the level ids
 * alone (the row segments and the dimensions whose rows come in runs of one level) and keep it in fe
 * until gr_fe_free; gr_fe_set_weights then sums the level weights along the segments (the same additions
 * in the same order: the same bits). The demeaning gives the same bits with or without it. For a caller
 * that demeans the same structure many times (IRLS). */
void gr_fe_prepare(gr_fe *fe);

/* Collective. gr_fe_set_weights without its validation pass: the caller guarantees that every weight on
 * every rank is finite and > 0 (e.g. it checked them while computing them). */
void gr_fe_set_weights_trusted(gr_fe *fe, const double *w);

/* Local. sum[g] += v[i] over the local rows i of level g of dimension k (sum: nlevels[k] values, not reduced
 * across ranks), in row order for each level (along gr_fe_prepare's segments when there are). */
void gr_fe_level_sums(const gr_fe *fe, int k, const double *v, double *sum);

/* Local. Number of fixed-effect coefficients: sum over k of nlevels[k]; coefficient g of dimension k
 * is at offset sum_{j<k} nlevels[j] + g. */
int64_t gr_fe_ncoef(const gr_fe *fe);

/* Collective. Replace each column cols[c][0..n) by its residual from projecting on all fixed
 * effects (the within transformation; W-weighted if weights are set), all columns in one pass per
 * iteration. Same as gr_fe_demean_coef with alpha = NULL.
 * GR_FE_CG: conjugate gradient on the normal equations D'WD alpha = D'Wv, preconditioned by the level
 * counts (weight sums); stops when the preconditioned residual norm, relative to that of D'Wv, is
 * below max(tol^2, 1e-13).
 * GR_FE_IRONS_TUCK: Gauss-Seidel sweeps with Irons-Tuck extrapolation (fixest's scheme); stops when
 * the largest relative change of a coefficient is below tol.
 * Either way, after maxiter iterations *converged = 0. *iterations gets the iteration count. */
int gr_fe_demean(const gr_fe *fe, int ncols, double **cols, double tol, int maxiter, int *iterations,
                 int *converged);

/* Collective. As gr_fe_demean, and with alpha != NULL: alpha[c] (gr_fe_ncoef values each, caller's
 * memory, identical on all ranks) holds on entry a starting point (all zeros: a cold start; for IRLS,
 * the previous iteration's coefficients) and on exit the fixed-effect coefficients, identical on all
 * ranks, with cols_out[c][i] = cols_in[c][i] - sum_k alpha[c][off_k + id_k[i]] (to rounding; the
 * coefficients themselves solve the normal equations to the tolerance, and are not unique when the
 * dimensions overlap). A start near the solution cuts iterations: CG measures its residual against
 * that of the cold start D'Wv, the sweeps measure coefficient changes. */
int gr_fe_demean_coef(const gr_fe *fe, int ncols, double **cols, double **alpha, double tol, int maxiter,
                      int *iterations, int *converged);

/* Collective. As gr_fe_demean_coef, out of place: outs[c] gets the residual of cols[c] (not modified); outs[c] may
 * be cols[c] (then the same bits as gr_fe_demean_coef). Without fixed effects outs[c] gets a copy. */
int gr_fe_demean_into(const gr_fe *fe, int ncols, const double *const *cols, double **outs, double **alpha, double tol,
                      int maxiter, int *iterations, int *converged);

/* Collective. For each dimension k, nested[k] = 1 if every level of dimension k lies within one
 * level of the cluster ids cl[n] (dense global ids, ncl levels). */
int gr_fe_nested_in(const gr_fe *fe, const int32_t *cl, int64_t ncl, int *nested);

/* Collective. 1 if no id in id[0..n) (dense, L levels) occurs on two ranks. */
int gr_ids_local_only(MPI_Comm comm, int64_t n, const int32_t *id, int64_t L);

void gr_fe_free(gr_fe *fe);
#endif
