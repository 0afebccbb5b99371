/* levels.h: fixed-effect and cluster variables as integer codes on the local rows, and the dense level
 * ids the estimator works with. A code column holds int32 values in [0, ncodes), numbered the same way
 * on every rank (increasing in the variable's values, lexicographic for a^b), with -1 where the row's
 * value is missing. Codes need not all occur; gr_codes_dense numbers the ones that do. Building codes
 * from the panel never holds a row-sized array of doubles for a pair-level variable (exporter,
 * importer, exp_/imp_ city columns, pair columns), and reads integer columns as integers. */
#ifndef GR_LEVELS_H
#define GR_LEVELS_H
#include "columns.h"
#include "fe.h"

/* Collective. Codes of double keys key[0..n): the finite values coded in increasing order over all
 * ranks (integer values in a modest range directly as value - min), NaN -> -1. */
int gr_codes_from_keys(MPI_Comm comm, int64_t n, const double *key, int32_t *code, int64_t *ncodes);

/* Collective. Dense ids 0..L-1 of the codes that occur on some rank, in code order; -1 stays -1.
 * id may be code (in place). */
int gr_codes_dense(MPI_Comm comm, int64_t n, const int32_t *code, int64_t ncodes, int32_t *id, int64_t *nlevels);

/* Collective. acc := acc x part, the codes of the combination (acc major), -1 where either is -1;
 * densifies first when the product of the two ranges would not fit. *nacc is updated. */
int gr_codes_combine(MPI_Comm comm, int64_t n, int32_t *acc, int64_t *nacc, const int32_t *part, int64_t npart);

/* Collective. Codes of the fixed-effect (or cluster) variable vars[0]^vars[1]^... on the local rows
 * into out[p->nrows]. Pair-level parts are coded once per pair of the /pairs table; other parts come
 * from loaded columns if cs holds them, else straight from the file. */
int gr_columns_codes(MPI_Comm comm, gr_columns *cs, int nvars, char *const *vars, int32_t *out, int64_t *ncodes);

/* One fixed-effect dimension's levels on some rows, as gr_fe_from_codes makes them (unweighted counts). */
typedef struct gr_fe_levels {
    int32_t *id;        /* n level ids */
    double *count;      /* nlevels row counts (global) */
    int64_t nlevels;
    int local_only;
} gr_fe_levels;

/* Collective. As gr_fe_from_codes, but dimension k with pre[k].id != NULL is copied from pre[k] (made
 * earlier on the same rows from the same codes: the same numbers) and codes[k] is not read (may be NULL;
 * with take, left as it is). pre may be NULL. Whether pre[k] is given must agree across ranks. */
int gr_fe_from_codes_pre(MPI_Comm comm, int nfe, int64_t n, int32_t **codes, const int64_t *ncodes,
                         char *const *names, int take, const gr_fe_levels *pre, gr_fe *fe);

/* Collective. Build the fixed-effect structure from code columns (no -1 among the n rows).
 * With take = 1 the code arrays become the level ids (densified in place) and codes[k] is set to
 * NULL: the gr_fe owns them. `names` are copied. */
int gr_fe_from_codes(MPI_Comm comm, int nfe, int64_t n, int32_t **codes, const int64_t *ncodes, char *const *names,
                     int take, gr_fe *fe);
#endif
