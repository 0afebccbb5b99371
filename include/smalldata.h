/* smalldata.h: the input of the companion-study commands (diag, anova): a few named columns of a CSV
 * file or of a panel, held whole on rank 0. These analyses are small (a province's years, a survey);
 * rank 0 computes, the other ranks take part in the reading and in the agreement on the status.
 *
 * CSV (--csv): rank 0 reads the file with csv.c; each column is named exactly as in the header (no
 * expressions). Panel (--data): every rank evaluates the column expressions (expr.h: `log(trade)`,
 * `exp_gdp`) on its rows where --where holds (frame.h), and the values are gathered to rank 0 in rank
 * order, so rank 0 holds the rows in file order whatever the number of ranks. Missing values (NaN) and
 * infinite ones (log(0)) are kept as NaN for the command to drop. */
#ifndef GR_SMALLDATA_H
#define GR_SMALLDATA_H
#include "gr.h"

/* Where the columns come from: exactly one of csv and data is set. */
typedef struct gr_small_src {
    const char *csv;    /* CSV path (rank 0 reads it) */
    char delim;         /* its field separator */
    const char *data;   /* panel path */
    const char *where;  /* panel only: keep rows where this expression is true (may be NULL) */
} gr_small_src;

/* One requested column. A text column (a CSV string column, or a panel column stored with labels and
 * named bare) is coded: value k stands for labels[k], in order of first appearance (CSV) or the panel's
 * label table (panel). */
typedef struct gr_small_col {
    char *name;         /* as requested */
    double *v;          /* n values (rank 0), NaN = missing */
    char **labels;      /* NULL for a numeric column; else nlabels strings (owned) */
    int nlabels;
} gr_small_col;

typedef struct gr_small {
    int64_t n;          /* rows: rank 0; 0 on the other ranks */
    int ncols;
    gr_small_col *col;  /* ncols entries (values only on rank 0) */
    char source[4200];  /* "FILE.csv" or "FILE.h5" (with " where EXPR") for messages and output */
    const char *path;   /* the input path, registered with gr_input_add until gr_small_free */
} gr_small;

/* Collective. Load `ncols` columns named names[c] (what[c] names the option in messages: "--y"). A text
 * column is an error ("is not numeric") unless text_ok[c] (text_ok may be NULL). In a CSV, text_ok columns
 * are always read as text (a group code "10" is the label "10"). The input path stays registered as an
 * input (no output may overwrite it) until gr_small_free. Returns an agreed status; on failure *out holds
 * nothing to use but must still be freed. */
int gr_small_load(MPI_Comm comm, const gr_small_src *src, int ncols, const char *const *names,
                  const char *const *what, const int *text_ok, gr_small *out);

/* Local (rank 0). Keep the rows where every column listed in cols[0..nc-1] is finite, compacting into
 * out[c][0..kept-1] (new arrays, caller frees each; out[c] for c in cols order). Returns the number kept. */
int64_t gr_small_complete(const gr_small *d, int nc, const int *cols, double **out);

void gr_small_free(gr_small *d);
#endif
