/* dump.c: `gravrd dump`: print columns of a panel file (or its cities / pairs table) as CSV on rank 0.
 * Every rank reads its block; rank 0 gathers the blocks in rank (= row) order. */
#include "commands.h"
#include "gr.h"
#include "panel.h"
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: gravrd dump FILE.h5 [--columns a,b,c] [--table panel|cities|pairs] [--limit N]\n"
          "Print columns of a panel file as CSV (header line first): labels for string-coded columns,\n"
          "%.17g for numbers, an empty field for a missing value. Panel columns may be any name the\n"
          "estimators resolve (a /panel dataset, a pair column, exp_<c> / imp_<c>). Default: every column.\n",
          f);
}

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

static void free_list(char **l, int n)
{
    if (!l)
        return;
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static int split_list(const char *s, char ***out, int *n)
{
    char *copy = gr_strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        *out = gr_realloc(*out, *n + 1, sizeof **out);
        (*out)[(*n)++] = gr_strdup(t);
    }
    free(copy);
    return *n > 0 ? GR_OK : gr_fail(GR_EUSAGE, "--columns", "expected a comma-separated list of column names");
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
        for (int64_t i = 0; i < rows; i++) {
            for (int c = 0; c < n; c++) {
                if (c)
                    putchar(',');
                put_value(stdout, t->cols[idx[c]][i], t->labels[idx[c]], t->nlabels[idx[c]]);
            }
            putchar('\n');
        }
        fflush(stdout);
    }
    free(idx);
    return GR_OK;
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
        for (int64_t i = 0; i < total; i++) {
            for (int c = 0; c < n; c++) {
                if (c)
                    putchar(',');
                put_value(stdout, all[c][i], labels[c], nl[c]);
            }
            putchar('\n');
        }
        fflush(stdout);
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
    static const struct option lo[] = {{"columns", required_argument, 0, 'c'}, {"table", required_argument, 0, 't'},
                                       {"limit", required_argument, 0, 'n'},   {"help", no_argument, 0, 'h'},
                                       {"quiet", no_argument, 0, 'q'},         {0, 0, 0, 0}};
    int rank;
    MPI_Comm_rank(comm, &rank);
    char **cols = NULL;
    int ncols = 0, st = GR_OK, c;
    const char *table = "panel";
    long limit = -1;
    optind = 0;
    opterr = 0;
    while (!st && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'c': st = split_list(optarg, &cols, &ncols); break;
        case 't':
            table = optarg;
            if (strcmp(table, "panel") && strcmp(table, "cities") && strcmp(table, "pairs"))
                st = gr_fail(GR_EUSAGE, "--table", "expected panel, cities or pairs, got '%s'", table);
            break;
        case 'n':
            if (gr_parse_long(optarg, 0, LONG_MAX, &limit) != 0)
                st = gr_fail(GR_EUSAGE, "--limit", "expected a non-negative integer, got '%s'", optarg);
            break;
        case 'q': gr_quiet = 1; break;
        case 'h':
            if (rank == 0)
                usage(stdout);
            free_list(cols, ncols);
            return 0;
        default:
            st = gr_fail(GR_EUSAGE, "dump", "unknown or incomplete option '%s' (see gravrd dump --help)",
                         argv[optind - 1]);
        }
    }
    if (!st && argc - optind != 1)
        st = gr_fail(GR_EUSAGE, "dump", "expected one FILE.h5 (see gravrd dump --help)");
    st = gr_agree(comm, st);
    if (!st) {
        gr_panel p;
        st = gr_panel_open(comm, argv[optind], &p);
        if (!st) {
            if (!strcmp(table, "panel"))
                st = dump_panel(&p, cols, ncols, limit);
            else
                st = dump_table(&p, table, cols, ncols, limit);
            st = gr_agree(comm, st);
            gr_panel_close(&p);
        }
    }
    free_list(cols, ncols);
    return gr_report(st);
}
