/* pool.h: absorbers kept across the models of one sample (gravrd grid keeps one pool per sample it runs),
 * so that a model on the same rows with the same fixed-effect codes, weights and options reuses an earlier
 * model's set-up and every column that model demeaned: specifications that differ in their regressors,
 * clustering or variance share one absorber. Reuse is decided on the data, never on names: the codes and
 * weights are compared whole, and a demeaned column is taken only when its input values equal the cached
 * input's; every decision is agreed across the ranks. A reused column is the very array an earlier
 * demeaning produced, so the numbers are those of a model run alone (absorber.h: a column gives the same
 * numbers whether demeaned in one call or several). */
#ifndef GR_POOL_H
#define GR_POOL_H
#include "absorber.h"

typedef struct gr_pool gr_pool;

/* Local. An empty pool holding at most `max_absorbers` (>= 1; the oldest goes first). With share = 0 no
 * absorber or column is reused (nothing is copied or compared): the pool then only offers the pair-level
 * shortcut (gr_pool_set_panel; it holds one absorber for it) and the row cache (below). */
gr_pool *gr_pool_new(int max_absorbers, int share);
void gr_pool_free(gr_pool *p);

/* Collective. The absorber for n rows with fixed-effect codes codes[0..nfe) (n int32 each), weights *w (n
 * values, or NULL) and options o: a pooled one set up on equal codes, weights and options (the arguments
 * are then freed), or one set up now by gr_absorber_init_pre (which takes codes and *w; pre as there,
 * ignored by a sharing pool) and pooled; in *local instead without a pool (p NULL), or when the pool
 * neither shares nor may take the shortcut on these rows. *ab points to the absorber to use; do not free
 * a pooled one. */
int gr_pool_absorber(gr_pool *p, MPI_Comm comm, int64_t n, int nfe, int32_t **codes, const int64_t *ncodes,
                     char *const *names, double **w, const gr_absorb_opts *o, const struct gr_fe_levels *pre,
                     gr_absorber *local, gr_absorber **ab);

/* Collective. Demean cols[0..ncols) as gr_absorber_demean(ab, ncols, cols, tss, NULL) does; with a pool and
 * a pooled ab, a column whose input equals one demeaned before on ab (labels[j] names it) is copied from
 * there, and the others are demeaned and kept. tss[j] is taken as given where have[j] (have may be NULL;
 * agreed across ranks). */
int gr_pool_demean(gr_pool *p, gr_absorber *ab, int ncols, double **cols, const char *const *labels, double *tss,
                   const unsigned char *have);

/* ---- what models on the same rows of the sample share (model.c): keyed by the address of a column or
 * code array that the sample's frame owns (frame.h: gr_frame_*_ref), so only for arrays that outlive the
 * pool and are never changed. Each rank's cache follows the same sequence of calls, so lookups agree. */

/* Collective. Make the pool's row cache the one of these rows (keep: n flags over the sample's rows):
 * emptied when the rows differ from the last call's on some rank. */
void gr_pool_rows(gr_pool *p, MPI_Comm comm, int64_t n, const unsigned char *keep);
/* Local. The centred sum of squares of the column at src on the cached rows (unweighted, no singletons
 * removed): 1 and *tss if kept, else 0. */
int gr_pool_tss_get(const gr_pool *p, const void *src, double *tss);
void gr_pool_tss_put(gr_pool *p, const void *src, double tss);
/* Local. The levels (levels.h) of the codes at src on the cached rows (no singletons removed, unweighted),
 * or NULL (always in a pool that shares absorbers: it compares the codes themselves). */
const struct gr_fe_levels *gr_pool_fe_get(const gr_pool *p, const void *src);
/* Local. Keep a copy of dimension k of fe (set up on the cached rows from the codes at src). */
void gr_pool_fe_put(gr_pool *p, const void *src, const gr_fe *fe, int k);

/* Local. Columns taken from the pool instead of demeaned, so far. */
int64_t gr_pool_reused(const gr_pool *p);

/* Local. The pair codes (in [0, npair)) and month codes (in [0, nmonth)) of the sample's n rows (the pool
 * takes both arrays): an absorber set up later on exactly these rows is checked for the exact pair-level
 * shortcut (pairshort.h), and when it applies its columns are demeaned that way instead. */
void gr_pool_set_panel(gr_pool *p, int64_t n, int32_t *pair, int64_t npair, int32_t *month, int64_t nmonth);
/* Local. Columns demeaned by the pair-level shortcut, so far. */
int64_t gr_pool_shortcut(const gr_pool *p);
#endif
