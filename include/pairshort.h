/* pairshort.h: the exact pair-level shortcut of the demeaning (docs/grid.md, "The pair-level shortcut").
 * On a balanced panel (every pair of the rows observed once in every month of the rows, unweighted, no row
 * removed as a singleton) whose fixed effects are each either pair-level (constant within a pair, e.g. a
 * segment pair) or month-level (levels = a pair-level partition crossed with the month, e.g.
 * exporter^month), the fixed-effect space splits into two orthogonal parts: A, pair-level functions
 * (the pair-level parts of every dimension), and B, functions with zero mean over the months of every pair.
 * The projection is then P_A + P_B, so a column v demeans exactly as
 *     v~ = (vbar - P_A vbar) + (v - vbar - P_B (v - vbar)),
 * vbar its pair means: the first part is a regression on pair-level data (one row per pair, solved here
 * to 1e-13), the second the residual of v on the pair and the month-level dimensions alone, which does
 * not depend on the pair-level dimensions (a bandwidth's segment pairs) and is 0 for a pair-level column
 * (partner, log distance). Hence a pair-level regressor's coefficient and its standard error clustered by
 * any pair-level variable depend on pair-level sums only. Detected on the data, never on names. */
#ifndef GR_PAIRSHORT_H
#define GR_PAIRSHORT_H
#include "absorber.h"

typedef struct gr_pairpanel gr_pairpanel;
typedef struct gr_pairshort gr_pairshort;
typedef struct gr_pairwithin gr_pairwithin;

/* Collective. A sample's n rows with pair codes pair[] (in [0, npair); borrowed, must outlive it) and month
 * codes month[] (in [0, nmonth)): whether they are balanced (every pair has every month of the sample once),
 * stored pair by pair (the panel's order, kept by every row selection) and each pair on one rank; and a
 * cache of the fixed-effect dimensions analysed on them. */
gr_pairpanel *gr_pairpanel_new(MPI_Comm comm, int64_t n, const int32_t *pair, int64_t npair, const int32_t *month,
                               int64_t nmonth);
void gr_pairpanel_free(gr_pairpanel *pp);

/* Collective over ab->comm. The shortcut for absorber ab set up on the rows of pp; NULL (on every rank)
 * when it does not apply: pp not balanced, weights, singletons removed, other rows, a dimension that is
 * neither pair-level nor month-level. */
gr_pairshort *gr_pairshort_new(const gr_absorber *ab, gr_pairpanel *pp);

/* Collective. Demean cols[0..ncols) (ab->n values each) as gr_absorber_demean(ab, ...) would, exactly:
 * tss as there; columns that vary within a pair take their within part from *within (the residuals on the
 * pair and month-level dimensions, kept by column label and input values; rebuilt when its dimensions
 * differ; may start NULL). Counts the columns in *done. */
int gr_pairshort_demean(gr_pairshort *s, gr_absorber *ab, gr_pairwithin **within, int ncols, double **cols,
                        const char *const *labels, double *tss, int64_t *done);

void gr_pairshort_free(gr_pairshort *s);
void gr_pairwithin_free(gr_pairwithin *w);

/* Local. Columns demeaned by the shortcut in this process so far (for the grid's summary), and within
 * parts computed (each a demeaning on the pair and month-level dimensions). */
void gr_pairshort_work(int64_t *columns, int64_t *within);
#endif
