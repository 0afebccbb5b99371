/* absorber.h: the fixed-effect structure of one set of rows, set up once and then used to demean any
 * number of columns on demand (the within transformation), with optional observation weights, warm
 * starts from given fixed-effect coefficients, and a cache of demeaned columns by name so that
 * specifications sharing rows and fixed effects share the work. Layers: frame (rows, evaluated
 * columns) -> absorber (this) -> fit (OLS on demeaned columns). The kernels live in fe.c. */
#ifndef GR_ABSORBER_H
#define GR_ABSORBER_H
#include "fe.h"
#include "rowsel.h"

struct gr_fe_levels;  /* levels.h */

typedef struct gr_absorb_opts {
    double tol;             /* demeaning tolerance (fixest's fixef.tol: 1e-6) */
    int maxiter;            /* iteration cap (fixest: 10000) */
    gr_fe_method method;    /* conjugate gradient (default) or Irons-Tuck sweeps */
    int rm_singletons;      /* remove rows alone in a level, iteratively (reghdfe's default) */
} gr_absorb_opts;

/* A demeaned column kept for reuse. */
typedef struct gr_absorbed {
    char *key;              /* what it is: a canonical expression text */
    double *v;              /* ab->n values, demeaned (owned) */
    double tss;             /* (weighted) centred sum of squares before demeaning, all ranks */
} gr_absorbed;

typedef struct gr_absorber {
    MPI_Comm comm;
    int64_t n_in;           /* rows it was set up on (the caller's rows) */
    int64_t n;              /* rows kept: n_in less the singletons */
    unsigned char *kept;    /* kept[i] for the n_in input rows; NULL when every row was kept */
    gr_rowsel sel;          /* the same rows as a selection (valid when kept is not NULL) */
    int64_t nobs;           /* kept rows over all ranks */
    int64_t n_singletons;   /* rows removed as singletons, over all ranks */
    gr_fe fe;               /* level ids of the kept rows (fe.nfe may be 0: demeaning is then the identity) */
    double *w;              /* weights of the kept rows (owned), NULL when unweighted */
    gr_absorb_opts o;
    int ncache, capcache;
    gr_absorbed *cache;
    /* counters for the JSON timings: one set-up, then every demeaned column and every reuse */
    int setups;
    int64_t columns_demeaned, cache_hits;
    int iterations, converged;  /* the largest iteration count of any demeaning, and whether all converged */
    double t_setup, t_demean;
} gr_absorber;

/* Collective. Set up the fixed effects of n local rows: codes[k] (n int32 codes in [0, ncodes[k]), no -1)
 * become level ids; with o->rm_singletons, rows alone in a level of some dimension are removed
 * iteratively (ab->kept); w (n weights > 0, or NULL) gives level weight sums and the W-weighted
 * projection. The absorber takes codes[k] and *w (set to NULL): the caller must not free them. */
int gr_absorber_init(MPI_Comm comm, int64_t n, int nfe, int32_t **codes, const int64_t *ncodes,
                     char *const *names, double **w, const gr_absorb_opts *o, gr_absorber *ab);
/* Collective. gr_absorber_init with dimension k copied from pre[k] where pre[k].id is set (levels.h:
 * gr_fe_from_codes_pre; codes[k] is then not read nor taken). pre may be NULL. */
int gr_absorber_init_pre(MPI_Comm comm, int64_t n, int nfe, int32_t **codes, const int64_t *ncodes,
                         char *const *names, double **w, const gr_absorb_opts *o, const struct gr_fe_levels *pre,
                         gr_absorber *ab);

/* Local. Drop the removed singleton rows from a column given on the input rows, in place: v[0..n) keeps
 * the values of the kept rows (nothing happens when every row was kept). */
void gr_absorber_compact(const gr_absorber *ab, double *v);
void gr_absorber_compact_i32(const gr_absorber *ab, int32_t *v);

/* Collective. Demean cols[0..ncols) in place. Each holds ab->n_in values (the input rows); it is first
 * compacted to the ab->n kept rows (the start stays), then replaced by its residual from the (weighted)
 * projection on the fixed effects. tss (may be NULL) gets each column's (weighted) centred sum of squares
 * before demeaning, over all ranks. With alpha != NULL (ncols arrays of gr_fe_ncoef values): the starting
 * fixed-effect coefficients on entry (zeros: a cold start) and the coefficients on exit. The same
 * columns give the same numbers whether demeaned in one call or several. */
int gr_absorber_demean(gr_absorber *ab, int ncols, double **cols, double *tss, double **alpha);
/* Collective. gr_absorber_demean(ab, ncols, cols, tss, NULL), except that tss[j] is taken as given (not
 * computed) where have[j] (have may be NULL; must agree across ranks). */
int gr_absorber_demean_have(gr_absorber *ab, int ncols, double **cols, double *tss, const unsigned char *have);

/* Collective. Out of place, on columns already on the kept rows: outs[c] gets cols[c] demeaned at tolerance
 * tol (gr_fe_demean_into: no sums of squares, no compaction); *iters the iterations of this call. Counted in
 * the absorber's and the process's work like gr_absorber_demean (PPML's IRLS, ppml.c). */
int gr_absorber_demean_into(gr_absorber *ab, int ncols, const double *const *cols, double **outs, double tol,
                            double **alpha, int *iters);

/* Collective. The first half of gr_absorber_demean: compact cols[0..ncols) to the kept rows and put
 * their (weighted) centred sums of squares in tss (may be NULL); no demeaning (pairshort.h does it). */
int gr_absorber_tss(const gr_absorber *ab, int ncols, double **cols, double *tss);

/* Local. Keep a copy of the demeaned column v (ab->n values) under `key` (replaces an older one). */
void gr_absorber_store(gr_absorber *ab, const char *key, const double *v, double tss);
/* Local. The demeaned column stored under `key` (and its tss), or NULL; counts a reuse. */
const double *gr_absorber_lookup(gr_absorber *ab, const char *key, double *tss);

/* Collective. nested[k] = 1 if every level of dimension k lies in one cluster of cl (ab->n dense ids of
 * G clusters): fixest's rule for the small-sample correction (docs/vcov.md). */
int gr_absorber_nested_in(const gr_absorber *ab, const int32_t *cl, int64_t G, int *nested);
/* Local. Fixed-effect parameters counted in the (n-1)/(n-K) adjustment: sum of (levels - 1) over the
 * dimensions not nested (nested may be NULL), plus 1; 0 without fixed effects. */
int64_t gr_absorber_dof(const gr_absorber *ab, const int *nested);

void gr_absorber_free(gr_absorber *ab);

/* Local. What this process has done so far over all absorbers: set-ups and columns demeaned (a grid
 * reports its shared work from the differences). */
void gr_absorber_work(int64_t *setups, int64_t *columns);
#endif
