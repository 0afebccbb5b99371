/* columns.h: the columns a command needs on this rank's rows, loaded once by name from a panel,
 * and what is computed from them: expressions (formula terms, --where) and fixed-effect keys. */
#ifndef GR_COLUMNS_H
#define GR_COLUMNS_H
#include "expr.h"
#include "panel.h"

typedef struct gr_columns {
    gr_panel *p;      /* not owned */
    int n;            /* columns loaded */
    char **names;
    double **vals;    /* p->nrows values each */
} gr_columns;

/* Local. The loaded column `name`, or NULL. */
double *gr_columns_get(const gr_columns *cs, const char *name);
/* Collective (every rank loads the same names in the same order). Load `name` unless loaded;
 * unknown names fail with GR_EINPUT naming `context` (e.g. "formula", "--where"). */
int gr_columns_load(gr_columns *cs, const char *name, const char *context);
/* Collective. Load every column expression e references. */
int gr_columns_load_expr(gr_columns *cs, const gr_expr *e, const char *context);
/* Local. Evaluate e on all local rows into out[p->nrows] (its columns loaded; text literals are
 * bound to the panel's label codes). */
int gr_columns_eval(gr_columns *cs, gr_expr *e, double *out);
/* Local. 1 if every column e references is pair-level (gr_panel_pair_level) and there is one. */
int gr_columns_pair_level(const gr_columns *cs, const gr_expr *e);
/* Collective. Evaluate e on all local rows into out[p->nrows]: once per pair and spread over the rows
 * when e is pair-level (nothing row-sized is read), else from its columns, loading those missing. */
int gr_columns_eval_rows(gr_columns *cs, gr_expr *e, double *out, const char *context);
/* Collective. Key of the fixed-effect dimension vars[0]^vars[1]^... on the local rows into
 * out[p->nrows]: its level code (gr_columns_codes, levels.h) as a double, NaN where a part is missing. */
int gr_columns_fe_key(MPI_Comm comm, gr_columns *cs, int nvars, char *const *vars, double *out);
/* Local. Remove column `name` from the set and hand its values to the caller (who frees them);
 * NULL if it is not loaded. */
double *gr_columns_take(gr_columns *cs, const char *name);
/* Local. Free column `name` if loaded. */
void gr_columns_drop(gr_columns *cs, const char *name);
void gr_columns_free(gr_columns *cs);
#endif
