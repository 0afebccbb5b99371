/* smalldata.c: a few named columns of a CSV or a panel, held whole on rank 0 (smalldata.h). */
#include "smalldata.h"
#include "cleanup.h"
#include "csv.h"
#include "expr.h"
#include "frame.h"
#include "panel.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rank 0: column c of the CSV into out->col[c]: numeric values as they are, text coded by first appearance. */
static void take_csv_column(const gr_csv *csv, int j, gr_small_col *c)
{
    c->v = gr_malloc((size_t)(csv->nrows ? csv->nrows : 1), sizeof *c->v);
    if (!csv->is_string[j]) {
        memcpy(c->v, csv->num[j], (size_t)csv->nrows * sizeof *c->v);
        return;
    }
    c->labels = gr_malloc(1, sizeof *c->labels);
    for (int64_t i = 0; i < csv->nrows; i++) {
        const char *s = csv->str[j][i];
        if (!s) { c->v[i] = NAN; continue; }
        int k = 0;
        while (k < c->nlabels && strcmp(c->labels[k], s)) k++;
        if (k == c->nlabels) {
            c->labels = gr_realloc(c->labels, (size_t)c->nlabels + 1, sizeof *c->labels);
            c->labels[c->nlabels++] = gr_strdup(s);
        }
        c->v[i] = k;
    }
}

/* Rank 0: the CSV's columns. Every name must be in the header (the option named in the message); a
 * text column needs text_ok; text_ok columns are parsed as text. */
static int load_csv(const gr_small_src *src, int ncols, const char *const *names, const char *const *what,
                    const int *text_ok, gr_small *out)
{
    gr_csv csv;
    GR_CALL(gr_csv_read(src->csv, src->delim, NULL, 0, &csv));
    char **force = gr_malloc((size_t)ncols, sizeof *force);
    int nforce = 0, rc = GR_OK;
    for (int c = 0; c < ncols && rc == GR_OK; c++) {
        int j = gr_csv_find(&csv, names[c]);
        if (j < 0) rc = gr_fail(GR_EINPUT, what[c], "unknown column '%s' in %s", names[c], src->csv);
        else if (text_ok && text_ok[c]) force[nforce++] = (char *)names[c];
    }
    if (rc == GR_OK && nforce) {  /* again, with the text_ok columns as text ("10" stays the label "10") */
        gr_csv_free(&csv);
        rc = gr_csv_read(src->csv, src->delim, force, nforce, &csv);
    }
    free(force);
    for (int c = 0; c < ncols && rc == GR_OK; c++) {
        int j = gr_csv_find(&csv, names[c]);
        if (csv.is_string[j] && !(text_ok && text_ok[c])) {
            int64_t i = 0;
            while (i < csv.nrows && !csv.str[j][i]) i++;
            rc = gr_fail(GR_EINPUT, what[c], "column '%s' of %s is not numeric (line %lld: '%s')", names[c], src->csv,
                         (long long)(i < csv.nrows ? csv.line[i] : 0), i < csv.nrows ? csv.str[j][i] : "");
        } else {
            take_csv_column(&csv, j, &out->col[c]);
        }
    }
    if (rc == GR_OK) out->n = csv.nrows;
    gr_csv_free(&csv);
    return rc;
}

/* Collective. Gather this rank's n values of v to rank 0 (*all, allocated there), in rank order. */
static int gather(MPI_Comm comm, int64_t n, const double *v, int64_t *ntotal, double **all)
{
    int rank, size, ni;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    GR_CALL(gr_agree(comm, gr_int_count(n, "rows on this rank (gather)", &ni)));
    int64_t tot = n;
    MPI_Allreduce(MPI_IN_PLACE, &tot, 1, MPI_INT64_T, MPI_SUM, comm);
    int dummy;  /* every rank sees the same total: the same verdict everywhere */
    GR_CALL(gr_int_count(tot, "rows gathered on rank 0", &dummy));
    int *counts = rank == 0 ? gr_malloc((size_t)size, sizeof *counts) : NULL;
    int *displs = rank == 0 ? gr_malloc((size_t)size, sizeof *displs) : NULL;
    MPI_Gather(&ni, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    if (rank == 0) {
        displs[0] = 0;
        for (int r = 1; r < size; r++) displs[r] = displs[r - 1] + counts[r - 1];  /* <= tot, checked above */
        *all = gr_malloc((size_t)(tot ? tot : 1), sizeof **all);
    }
    MPI_Gatherv(v, ni, MPI_DOUBLE, rank == 0 ? *all : NULL, counts, displs, MPI_DOUBLE, 0, comm);
    free(counts);
    free(displs);
    *ntotal = rank == 0 ? tot : 0;
    return GR_OK;
}

/* Local: a copy of the panel's labels of a bare column expression, if it has any. */
static void copy_labels(const gr_panel *p, const gr_expr *e, gr_small_col *c)
{
    if (!gr_expr_is_column(e)) return;
    int nl = 0;
    char **l = gr_panel_labels(p, gr_expr_column(e, 0), &nl);
    if (!l || nl <= 0) return;
    c->labels = gr_malloc((size_t)nl, sizeof *c->labels);
    for (int k = 0; k < nl; k++) c->labels[k] = gr_strdup(l[k] ? l[k] : "");
    c->nlabels = nl;
}

/* Collective. Column c of the panel: the expression evaluated on the frame's rows, gathered to rank 0. */
static int panel_column(gr_frame *f, gr_panel *p, const char *name, const char *what, int text_ok, gr_small_col *c,
                        int64_t *n)
{
    gr_expr *e = NULL;
    double *v = gr_malloc((size_t)(f->n ? f->n : 1), sizeof *v);
    int rc = GR_OK;
    GR_TRY(gr_expr_parse(name, what, &e));
    GR_TRY(gr_frame_eval(f, e, what, v));
    for (int64_t i = 0; i < f->n; i++)
        if (!isfinite(v[i])) v[i] = NAN;
    GR_TRY(gather(f->comm, f->n, v, n, &c->v));
    copy_labels(p, e, c);
    if (c->labels && !text_ok)
        rc = gr_fail(GR_EINPUT, what, "column '%s' of %s is text (stored with labels), not numeric", name, p->path);
fail:
    gr_expr_free(e);
    free(v);
    return rc;
}

/* Collective. The panel's columns on the rows where src->where holds. */
static int load_panel(MPI_Comm comm, const gr_small_src *src, int ncols, const char *const *names,
                      const char *const *what, const int *text_ok, gr_small *out)
{
    gr_panel p;
    GR_CALL(gr_panel_open(comm, src->data, &p));
    gr_expr *where = NULL;
    gr_frame f;
    int rc = GR_OK, framed = 0;
    if (src->where) GR_TRY(gr_expr_parse(src->where, "--where", &where));
    GR_TRY(gr_agree(comm, gr_frame_open(comm, &p, where, NULL, &f)));
    framed = 1;
    for (int c = 0; c < ncols; c++)  /* out->n: the rows gathered (rank 0), 0 elsewhere */
        GR_TRY(panel_column(&f, &p, names[c], what[c], text_ok && text_ok[c], &out->col[c], &out->n));
fail:
    if (framed) gr_frame_free(&f);
    gr_expr_free(where);
    gr_panel_close(&p);
    return rc;
}

int gr_small_load(MPI_Comm comm, const gr_small_src *src, int ncols, const char *const *names,
                  const char *const *what, const int *text_ok, gr_small *out)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    memset(out, 0, sizeof *out);
    out->ncols = ncols;
    out->col = gr_calloc((size_t)ncols, sizeof *out->col);
    for (int c = 0; c < ncols; c++) out->col[c].name = gr_strdup(names[c]);
    out->path = src->csv ? src->csv : src->data;
    gr_input_add(out->path);  /* no output of this run may overwrite it (cleanup.h) */
    if (src->csv) snprintf(out->source, sizeof out->source, "%s", src->csv);
    else snprintf(out->source, sizeof out->source, "%s%s%s", src->data, src->where ? " where " : "",
                  src->where ? src->where : "");
    int rc = GR_OK;
    if (src->csv) {
        if (rank == 0) rc = load_csv(src, ncols, names, what, text_ok, out);
        rc = gr_agree(comm, rc);
    } else {
        rc = gr_agree(comm, load_panel(comm, src, ncols, names, what, text_ok, out));
    }
    if (rank != 0) out->n = 0;
    return rc;
}

int64_t gr_small_complete(const gr_small *d, int nc, const int *cols, double **out)
{
    for (int c = 0; c < nc; c++) out[c] = gr_malloc((size_t)(d->n ? d->n : 1), sizeof *out[c]);
    int64_t k = 0;
    for (int64_t i = 0; i < d->n; i++) {
        int keep = 1;
        for (int c = 0; c < nc && keep; c++) keep = isfinite(d->col[cols[c]].v[i]);
        if (!keep) continue;
        for (int c = 0; c < nc; c++) out[c][k] = d->col[cols[c]].v[i];
        k++;
    }
    return k;
}

void gr_small_free(gr_small *d)
{
    for (int c = 0; c < d->ncols; c++) {
        gr_small_col *col = &d->col[c];
        free(col->name);
        free(col->v);
        for (int k = 0; k < col->nlabels; k++) free(col->labels[k]);
        free(col->labels);
    }
    free(d->col);
    if (d->path) gr_input_remove(d->path);
    memset(d, 0, sizeof *d);
}
