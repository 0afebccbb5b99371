/* columns.c: columns of the local rows by name, expressions and fixed-effect keys (see columns.h). */
#include "columns.h"
#include "levels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

double *gr_columns_get(const gr_columns *cs, const char *name)
{
    for (int i = 0; i < cs->n; i++)
        if (!strcmp(cs->names[i], name)) return cs->vals[i];
    return NULL;
}

int gr_columns_load(gr_columns *cs, const char *name, const char *context)
{
    if (gr_columns_get(cs, name)) return GR_OK;
    if (!gr_panel_has_column(cs->p, name))
        return gr_fail(GR_EINPUT, context, "unknown column '%s' in %s", name, cs->p->path);
    double *v;
    GR_CALL(gr_panel_column(cs->p, name, &v));
    cs->names = gr_realloc(cs->names, (size_t)cs->n + 1, sizeof *cs->names);
    cs->vals = gr_realloc(cs->vals, (size_t)cs->n + 1, sizeof *cs->vals);
    cs->names[cs->n] = gr_strdup(name);
    cs->vals[cs->n++] = v;
    return GR_OK;
}

int gr_columns_load_expr(gr_columns *cs, const gr_expr *e, const char *context)
{
    for (int k = 0; k < gr_expr_ncolumns(e); k++) GR_CALL(gr_columns_load(cs, gr_expr_column(e, k), context));
    return GR_OK;
}

static int label_code(void *ctx, const char *column, const char *label, double *code)
{
    const gr_columns *cs = ctx;
    int n;
    char **labels = gr_panel_labels(cs->p, column, &n);
    if (!labels)
        return gr_fail(GR_EINPUT, "expression", "column '%s' has no text labels to compare with \"%s\"", column, label);
    for (int k = 0; k < n; k++)
        if (labels[k] && !strcmp(labels[k], label)) { *code = k; return GR_OK; }
    return gr_fail(GR_EINPUT, "expression", "column '%s' has no label \"%s\"", column, label);
}

int gr_columns_eval(gr_columns *cs, gr_expr *e, double *out)
{
    int nc = gr_expr_ncolumns(e);
    double **cols = gr_malloc((size_t)(nc ? nc : 1), sizeof *cols);
    for (int k = 0; k < nc; k++) cols[k] = gr_columns_get(cs, gr_expr_column(e, k));
    int rc = GR_OK;
    GR_TRY(gr_expr_bind_labels(e, label_code, cs));
    GR_TRY(gr_expr_eval(e, cs->p->nrows, cols, out));
fail:
    free(cols);
    return rc;
}

int gr_columns_pair_level(const gr_columns *cs, const gr_expr *e)
{
    int nc = gr_expr_ncolumns(e);
    for (int k = 0; k < nc; k++)
        if (!gr_panel_pair_level(cs->p, gr_expr_column(e, k))) return 0;
    return nc > 0;
}

int gr_columns_eval_rows(gr_columns *cs, gr_expr *e, double *out, const char *context)
{
    gr_panel *p = cs->p;
    if (!gr_columns_pair_level(cs, e)) {
        if (gr_expr_ncolumns(e) == 1 && !gr_columns_get(cs, gr_expr_column(e, 0)) &&
            gr_panel_has_column(p, gr_expr_column(e, 0))) {
            /* one column not loaded yet: read it into out and evaluate there (no copy of its own);
             * labels and the expression are the same on every rank: all ranks fail alike */
            GR_CALL(gr_panel_column_into(p, gr_expr_column(e, 0), out));
            GR_CALL(gr_expr_bind_labels(e, label_code, cs));
            return gr_expr_eval(e, p->nrows, &out, out);
        }
        GR_CALL(gr_agree(p->comm, gr_columns_load_expr(cs, e, context)));
        return gr_columns_eval(cs, e, out);
    }
    /* once per pair of the /pairs table, then spread over the rows */
    int nc = gr_expr_ncolumns(e), rc = GR_OK;
    int64_t np = p->pairs.nrows;
    double **cols = gr_calloc((size_t)nc, sizeof *cols), *v = gr_malloc((size_t)np, sizeof *v);
    for (int k = 0; k < nc; k++) GR_TRY(gr_panel_pair_values(p, gr_expr_column(e, k), &cols[k]));
    GR_TRY(gr_expr_bind_labels(e, label_code, cs));
    GR_TRY(gr_expr_eval(e, np, cols, v));
    for (int64_t i = 0; i < p->nrows; i++) out[i] = v[p->pair[i]];
fail:
    for (int k = 0; k < nc; k++) free(cols[k]);
    free(cols); free(v);
    return rc;
}

int gr_columns_fe_key(MPI_Comm comm, gr_columns *cs, int nvars, char *const *vars, double *out)
{
    int64_t n = cs->p->nrows, nc = 0;
    int32_t *code = gr_malloc((size_t)(n ? n : 1), sizeof *code);
    int rc = GR_OK;
    GR_TRY(gr_columns_codes(comm, cs, nvars, vars, code, &nc));
    for (int64_t i = 0; i < n; i++) out[i] = code[i] < 0 ? NAN : (double)code[i];
fail:
    free(code);
    return rc;
}

double *gr_columns_take(gr_columns *cs, const char *name)
{
    for (int i = 0; i < cs->n; i++) {
        if (strcmp(cs->names[i], name)) continue;
        double *v = cs->vals[i];
        free(cs->names[i]);
        cs->n--;
        cs->names[i] = cs->names[cs->n];
        cs->vals[i] = cs->vals[cs->n];
        return v;
    }
    return NULL;
}

void gr_columns_drop(gr_columns *cs, const char *name)
{
    free(gr_columns_take(cs, name));
}

void gr_columns_free(gr_columns *cs)
{
    for (int i = 0; i < cs->n; i++) { free(cs->names[i]); free(cs->vals[i]); }
    free(cs->names);
    free(cs->vals);
    cs->n = 0;
    cs->names = NULL;
    cs->vals = NULL;
}
