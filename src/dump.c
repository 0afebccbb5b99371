/* dump.c: `gravrd dump`: print columns of a panel file (or its cities / pairs table) as CSV on rank 0.
 * Every rank reads its block; rank 0 gathers the blocks in rank (= row) order. A write to standard output
 * that fails (a full disk, /dev/full) stops the output and is the command's error. */
#include "cleanup.h"
#include "commands.h"
#include "gr.h"
#include "opts.h"
#include "panel.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TABLE_PANEL, TABLE_CITIES, TABLE_PAIRS };

typedef struct {
    const char *path;
    gr_opt_list cols;
    int table, quiet;
    int64_t limit;
} dump_opts;

static const gr_opt_word tables[] = {{"panel", TABLE_PANEL}, {"cities", TABLE_CITIES}, {"pairs", TABLE_PAIRS}, {NULL, 0}};

static const gr_opt dump_table_opts[] = {
    {.name = "file", .kind = GR_OPT_ARG, GR_OPT_AT(dump_opts, path), .metavar = "FILE.h5",
     .help = "the panel file", .flags = GR_OPT_REQUIRED},
    {.name = "columns", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(dump_opts, cols), .metavar = "a,b,c",
     .help = "the columns to print (default: every column)", .flags = GR_OPT_COMMA | GR_OPT_REPEAT},
    {.name = "table", .kind = GR_OPT_CHOICE, GR_OPT_AT(dump_opts, table), .metavar = "T",
     .help = "which table", .def = "panel", .words = tables},
    {.name = "limit", .kind = GR_OPT_INT, GR_OPT_AT(dump_opts, limit), .metavar = "N",
     .help = "print at most N rows (default: all)", .flags = GR_OPT_RANGE, .lo = 0, .hi = HUGE_VAL},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(dump_opts, quiet), .help = "no warnings"},
    {0}};

static const gr_opts_cmd dump_cmd = {
    "dump",
    "Print columns of a panel file as CSV (header line first): labels for string-coded columns,\n"
    "%.17g for numbers, an empty field for a missing value. Panel columns may be any name the\n"
    "estimators resolve (a /panel dataset, a pair column, exp_<c> / imp_<c>).",
    dump_table_opts, NULL, 0};

/* CSV field: quoted if it holds a comma, quote or line end */
static void put_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void put_value(FILE *f, double v, char **labels, int nl)
{
    if (isnan(v))
        return;
    if (labels) {
        if (v == -1)
            return; /* missing code */
        if (v >= 0 && v < nl && v == floor(v)) {
            put_field(f, labels[(int64_t)v]);
            return;
        }
    }
    fprintf(f, "%.17g", v);
}

static int dump_table(const gr_panel *p, const char *group, char **cols, int ncols, long limit)
{
    const gr_table *t = strcmp(group, "cities") ? &p->pairs : &p->cities;
    if (t->ncols == 0)
        return gr_fail(GR_EINPUT, p->path, "the file has no /%s table", group);
    int *idx = gr_malloc((size_t)(ncols ? ncols : t->ncols), sizeof *idx), n = 0;
    if (ncols) {
        for (int c = 0; c < ncols; c++)
            if ((idx[n++] = gr_table_find(t, cols[c])) < 0) {
                free(idx);
                return gr_fail(GR_EINPUT, p->path, "no column '%s' in /%s", cols[c], group);
            }
    } else
        for (int c = 0; c < t->ncols; c++)
            idx[n++] = c;
    if (p->rank == 0) {
        for (int c = 0; c < n; c++) {
            if (c)
                putchar(',');
            put_field(stdout, t->names[idx[c]]);
        }
        putchar('\n');
        int64_t rows = limit >= 0 && limit < t->nrows ? limit : t->nrows;
        for (int64_t i = 0; i < rows && !ferror(stdout); i++) {
            for (int c = 0; c < n; c++) {
                if (c)
                    putchar(',');
                put_value(stdout, t->cols[idx[c]][i], t->labels[idx[c]], t->nlabels[idx[c]]);
            }
            putchar('\n');
        }
    }
    free(idx);
    return p->rank == 0 ? gr_stdout_check() : GR_OK;
}

static int dump_panel(gr_panel *p, char **cols, int ncols, long limit)
{
    char **names = ncols ? cols : p->colnames;
    int n = ncols ? ncols : p->ncols;
    for (int c = 0; c < n; c++)
        if (!gr_panel_has_column(p, names[c]))
            return gr_fail(GR_EINPUT, p->path, "unknown column '%s'", names[c]);
    /* rows this rank contributes: the first `limit` rows overall */
    int64_t mine = p->nrows;
    if (limit >= 0) {
        int64_t room = (int64_t)limit - p->row_begin;
        mine = room <= 0 ? 0 : (room < p->nrows ? room : p->nrows);
    }
    if (mine > INT_MAX)
        return gr_fail(GR_EINPUT, p->path, "too many rows to gather; use --limit");
    int cnt = (int)mine, *counts = NULL, *displs = NULL;
    int64_t total = 0;
    if (p->rank == 0) {
        counts = gr_malloc((size_t)p->nranks, sizeof *counts);
        displs = gr_malloc((size_t)p->nranks, sizeof *displs);
    }
    MPI_Gather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, 0, p->comm);
    int rc = GR_OK;
    if (p->rank == 0) {
        for (int r = 0; r < p->nranks; r++) {
            displs[r] = (int)total;
            total += counts[r];
            if (total > INT_MAX)
                rc = gr_fail(GR_EINPUT, p->path, "too many rows to gather; use --limit");
        }
    }
    rc = gr_agree(p->comm, rc);
    if (rc) {
        free(counts);
        free(displs);
        return rc;
    }
    double **all = gr_calloc((size_t)n, sizeof *all);
    char ***labels = gr_calloc((size_t)n, sizeof *labels);
    int *nl = gr_calloc((size_t)n, sizeof *nl);
    for (int c = 0; c < n && !rc; c++) {
        double *v = NULL;
        rc = gr_agree(p->comm, gr_panel_column(p, names[c], &v));
        if (rc)
            break;
        labels[c] = gr_panel_labels(p, names[c], &nl[c]); /* owned by the panel */
        if (p->rank == 0)
            all[c] = gr_malloc((size_t)(total ? total : 1), sizeof **all);
        if (!rc)
            MPI_Gatherv(v, cnt, MPI_DOUBLE, all[c], counts, displs, MPI_DOUBLE, 0, p->comm);
        free(v);
    }
    if (!rc && p->rank == 0) {
        for (int c = 0; c < n; c++) {
            if (c)
                putchar(',');
            put_field(stdout, names[c]);
        }
        putchar('\n');
        for (int64_t i = 0; i < total && !ferror(stdout); i++) { /* a failed write ends the output */
            for (int c = 0; c < n; c++) {
                if (c)
                    putchar(',');
                put_value(stdout, all[c][i], labels[c], nl[c]);
            }
            putchar('\n');
        }
        rc = gr_stdout_check();
    }
    for (int c = 0; c < n; c++)
        free(all[c]);
    free(all);
    free(labels);
    free(nl);
    free(counts);
    free(displs);
    return rc;
}

int cmd_dump(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    dump_opts o;
    gr_opts s;
    int st = gr_opts_parse(&s, &dump_cmd, &o, argc, argv, rank);
    if (st == GR_OPTS_EXIT) {
        gr_opts_free(&s);
        return 0;
    }
    gr_quiet |= o.quiet;
    long limit = gr_opts_given(&s, "limit") ? (long)o.limit : -1;
    if (!st && s.echo && rank == 0)
        gr_opts_echo(&s, stderr);
    st = gr_agree(comm, st);
    if (!st) {
        gr_panel p;
        st = gr_panel_open(comm, o.path, &p);
        if (!st) {
            if (o.table == TABLE_PANEL)
                st = dump_panel(&p, o.cols.str, o.cols.n, limit);
            else
                st = dump_table(&p, tables[o.table].word, o.cols.str, o.cols.n, limit);
            st = gr_agree(comm, st);
            gr_panel_close(&p);
        }
    }
    gr_opts_free(&s);
    return gr_report(st);
}
