/* import.c: `gravrd import`: a long CSV into a panel file (docs/format.md, docs/import.md). Every rank
 * parses a byte range of the CSV (gr_csv_read_part); the dictionaries (labels, cities, pairs) are merged
 * over all ranks in sorted order, so codes do not depend on the number of ranks; rows travel to the rank
 * that writes them (the exporter partition) in an int64-count exchange (xchg.h), are ordered there and
 * written collectively. Errors name the line a serial pass would find first. */
#include "cleanup.h"
#include "commands.h"
#include "csv.h"
#include "gr.h"
#include "opts.h"
#include "panel.h"
#include "derived.h"
#include "xchg.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY 8

typedef struct {
    const char *in, *out, *exp_col, *imp_col, *time_col, *pair_col, *delimiter;
    const char *first_month; /* --first-month: root attribute first_month (month 1 of a month index) */
    gr_opt_list force, key;  /* --string, --key */
    const char *cities, *city_key; /* --cities FILE.csv --city-key COL: the /cities columns */
    gr_opt_list city_force, pair_cols; /* --city-string, --pair-columns */
    int quiet;
    char delim;
} import_opts;

/* What is written: metadata and tables replicated, panel columns this rank's rows only. */
typedef struct {
    int64_t nrows, begin, count; /* rows of the panel; this rank's first row and row count */
    int ncols;
    char **names;
    int *is_int;
    char ***labels;
    int *nlabels;
    double **dcol;  /* this rank's rows of each double column (NULL for int columns) */
    int32_t **icol; /* this rank's rows of each int column */
    gr_table cities, pairs;
    int n_exp;          /* 0 without structure */
    int64_t *offsets;   /* n_exp + 1 */
    int nattr;
    char **attr_name, **attr_value;
    int64_t city_extra; /* --cities rows whose city is not in the panel */
} plan;

static void free_list(char **l, int n)
{
    if (!l)
        return;
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static void plan_free(plan *p)
{
    for (int c = 0; c < p->ncols; c++) {
        free(p->names[c]);
        free_list(p->labels[c], p->nlabels[c]);
        if (p->dcol)
            free(p->dcol[c]);
        if (p->icol)
            free(p->icol[c]);
    }
    free(p->names);
    free(p->is_int);
    free(p->labels);
    free(p->nlabels);
    free(p->dcol);
    free(p->icol);
    gr_table_free(&p->cities);
    gr_table_free(&p->pairs);
    free(p->offsets);
    free_list(p->attr_name, p->nattr);
    free_list(p->attr_value, p->nattr);
    memset(p, 0, sizeof *p);
}

static void plan_add(plan *p, const char *name, int is_int, double *d, int32_t *iv, char **labels, int nl)
{
    int c = p->ncols++;
    p->names = gr_realloc(p->names, p->ncols, sizeof *p->names);
    p->is_int = gr_realloc(p->is_int, p->ncols, sizeof *p->is_int);
    p->labels = gr_realloc(p->labels, p->ncols, sizeof *p->labels);
    p->nlabels = gr_realloc(p->nlabels, p->ncols, sizeof *p->nlabels);
    p->dcol = gr_realloc(p->dcol, p->ncols, sizeof *p->dcol);
    p->icol = gr_realloc(p->icol, p->ncols, sizeof *p->icol);
    p->names[c] = gr_strdup(name);
    p->is_int[c] = is_int;
    p->dcol[c] = d;
    p->icol[c] = iv;
    p->labels[c] = labels;
    p->nlabels[c] = labels ? nl : 0;
}

static void plan_attr(plan *p, const char *name, const char *value)
{
    p->attr_name = gr_realloc(p->attr_name, p->nattr + 1, sizeof *p->attr_name);
    p->attr_value = gr_realloc(p->attr_value, p->nattr + 1, sizeof *p->attr_value);
    p->attr_name[p->nattr] = gr_strdup(name);
    p->attr_value[p->nattr++] = gr_strdup(value);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **dup_labels(char **l, int n)
{
    char **d = gr_malloc((size_t)(n ? n : 1), sizeof *d);
    for (int k = 0; k < n; k++)
        d[k] = gr_strdup(l[k]);
    return d;
}

/* Collective: keep the error of the lowest CSV row. Each rank passes its status (its message recorded by
 * gr_fail) and the row it names (INT64_MAX: none); only the rank with the lowest row keeps its message,
 * so the line printed is the one a serial pass would find first, whatever the number of ranks. */
static int agree_first(MPI_Comm comm, int st, int64_t row)
{
    int64_t low = INT64_MAX;
    if (!st)
        row = INT64_MAX;
    MPI_Allreduce(&row, &low, 1, MPI_INT64_T, MPI_MIN, comm);
    return gr_agree(comm, st && row == low ? st : GR_OK);
}

/* Collective: the sorted distinct non-NULL strings of up to two local columns over all ranks, the same on
 * every rank (each rank's distinct strings are gathered to all, then sorted and made unique; owned
 * copies in *out, their count in *nout). GR_EINPUT naming `where` (on every rank) when the count does not
 * fit an int32 (the label codes are int32). */
static int distinct(char **a, char **b, int64_t n, const char *where, MPI_Comm comm, char ***out, int *nout)
{
    char **all = gr_malloc((size_t)(2 * n + 1), sizeof *all);
    int64_t k = 0, m = 0, bytes = 0, total;
    for (int64_t i = 0; i < n; i++) {
        if (a[i])
            all[k++] = a[i];
        if (b && b[i])
            all[k++] = b[i];
    }
    qsort(all, (size_t)k, sizeof *all, cmp_str);
    for (int64_t i = 0; i < k; i++)
        if (m == 0 || strcmp(all[m - 1], all[i]) != 0)
            all[m++] = all[i];
    for (int64_t i = 0; i < m; i++)
        bytes += (int64_t)strlen(all[i]) + 1;
    char *mine = gr_malloc((size_t)(bytes ? bytes : 1), 1), *got;
    for (int64_t i = 0, p = 0; i < m; p += (int64_t)strlen(all[i]) + 1, i++)
        memcpy(mine + p, all[i], strlen(all[i]) + 1);
    free(all);
    gr_xchg_allgather_bytes(mine, bytes, &got, &total, comm);
    free(mine);
    k = 0;
    for (int64_t p = 0; p < total; p++) /* every string ends with its NUL */
        k += got[p] == 0;
    all = gr_malloc((size_t)(k ? k : 1), sizeof *all);
    for (int64_t p = 0, i = 0; p < total; p += (int64_t)strlen(got + p) + 1)
        all[i++] = got + p;
    qsort(all, (size_t)k, sizeof *all, cmp_str);
    m = 0;
    for (int64_t i = 0; i < k; i++)
        if (m == 0 || strcmp(all[m - 1], all[i]) != 0)
            all[m++] = all[i];
    *out = NULL;
    *nout = 0;
    if (m >= INT32_MAX) { /* < INT32_MAX: n_exp + 1 exporter offsets are reduced with an int count */
        free(all);
        free(got);
        return gr_agree(comm, gr_fail(GR_EINPUT, where, "%lld distinct values; at most %d supported", (long long)m,
                                      INT32_MAX - 1));
    }
    *out = dup_labels(all, (int)m);
    *nout = (int)m;
    free(all);
    free(got);
    return GR_OK;
}

/* Codes of a string column against sorted labels; -1 for missing. */
static int32_t *encode(char **col, int64_t n, char **labels, int nl)
{
    int32_t *code = gr_malloc((size_t)(n ? n : 1), sizeof *code);
    for (int64_t i = 0; i < n; i++) {
        if (!col[i]) {
            code[i] = -1;
            continue;
        }
        char **hit = bsearch(&col[i], labels, (size_t)nl, sizeof *labels, cmp_str);
        code[i] = (int32_t)(hit - labels);
    }
    return code;
}

/* NaN sorts last and equals NaN */
static int cmp_d(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

/* a pair's definition: exporter, importer, --pair value */
typedef struct {
    double e, i, v;
} pairdef;

static int cmp_pairdef(const void *x, const void *y)
{
    const pairdef *a = x, *b = y;
    int c = cmp_d(a->e, b->e);
    if (!c)
        c = cmp_d(a->i, b->i);
    return c ? c : cmp_d(a->v, b->v);
}

/* One CSV row on its way to the rank that writes it: CSV index and line, pair id, exporter code, then the
 * value of every CSV column (string columns: the label code, -1 when missing). */
typedef struct {
    int64_t idx, line;
    int32_t pair, exp;
    double v[];
} rowrec;

/* the row order's key columns, for cmp_rows (qsort has no context argument) */
static struct {
    int nk, jk[MAX_KEY];
    const int *is_string;
} sort_key;

/* key value j of a row: NaN for a missing string code */
static double key_value(const rowrec *r, int m)
{
    double v = r->v[sort_key.jk[m]];
    return sort_key.is_string[sort_key.jk[m]] && v < 0 ? NAN : v;
}

/* by pair, then the row key, then CSV order */
static int cmp_rows(const void *x, const void *y)
{
    const rowrec *a = *(const rowrec *const *)x, *b = *(const rowrec *const *)y;
    if (a->pair != b->pair)
        return a->pair < b->pair ? -1 : 1;
    for (int m = 0; m < sort_key.nk; m++) {
        int c = cmp_d(key_value(a, m), key_value(b, m));
        if (c)
            return c;
    }
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int same_key(const rowrec *a, const rowrec *b)
{
    if (a->pair != b->pair)
        return 0;
    for (int m = 0; m < sort_key.nk; m++)
        if (cmp_d(key_value(a, m), key_value(b, m)) != 0)
            return 0;
    return 1;
}

static int need_col(const gr_csv *csv, const char *name, const char *opt)
{
    int j = gr_csv_find(csv, name);
    if (j < 0)
        gr_fail(GR_EINPUT, opt, "column '%s' is not in the header of the CSV", name);
    return j;
}

/* ---- building the plan (every rank, on its rows) ---- */

/* The state of build_plan on one rank: its rows of the CSV, the columns the options name, the labels of
 * the string columns (the same on every rank) and the codes of its rows, the pairs. Freed by build_free. */
typedef struct {
    const import_opts *o;
    MPI_Comm comm;
    int rank, nranks;
    int structured;       /* --exporter and --importer given */
    gr_csv csv;           /* this rank's rows, row0 .. row0 + n - 1 of the CSV */
    int64_t n;
    int je, ji, jt, jp;   /* CSV columns of --exporter, --importer, --time, --pair (-1: not given) */
    int jk[MAX_KEY], nk;  /* the row key: --time, then the --key columns */
    char ***lab;          /* labels of each string column (NULL for numeric ones), replicated */
    int *nlab;
    int32_t **code;       /* label code of each string column's local rows, -1 = missing */
    int ncity;            /* cities = lab[je] */
    pairdef *pairs;       /* the distinct pairs in order, replicated */
    int64_t npairs;
    int32_t *pair_of;     /* the pair id of each local row (structured) */
    int keyed;            /* the row key identifies the rows (structured): recorded as row_key */
    int *jpc, npc;        /* CSV columns of --pair-columns: stored in /pairs, not /panel */
    double **pcval;       /* their value for every pair (npairs each), replicated */
    gr_table ctab;        /* the --cities columns, one row per city (ncity rows), replicated */
    int64_t city_extra;   /* rows of the --cities table whose city is not in the panel (ignored) */
} import_build;

static void build_free(import_build *b)
{
    for (int j = 0; b->lab && j < b->csv.ncols; j++) {
        free_list(b->lab[j], b->nlab[j]);
        free(b->code[j]);
    }
    free(b->lab);
    free(b->nlab);
    free(b->code);
    free(b->pairs);
    free(b->pair_of);
    for (int c = 0; b->pcval && c < b->npc; c++)
        free(b->pcval[c]);
    free(b->pcval);
    free(b->jpc);
    gr_table_free(&b->ctab);
    gr_csv_free(&b->csv);
}

/* Numeric value of CSV column j at local row i; for string columns the label code (NaN when missing). */
static double csv_value(const import_build *b, int j, int64_t i)
{
    if (!b->csv.is_string[j])
        return b->csv.num[j][i];
    return b->code[j][i] < 0 ? NAN : (double)b->code[j][i];
}

/* Collective: read this rank's part of the CSV (--string columns, and the exporter and importer columns,
 * as strings). */
static int read_csv(import_build *b)
{
    const import_opts *o = b->o;
    char **force = gr_malloc((size_t)o->force.n + 2, sizeof *force);
    int nf = 0;
    for (int i = 0; i < o->force.n; i++)
        force[nf++] = o->force.str[i];
    if (b->structured) {
        force[nf++] = (char *)o->exp_col;
        force[nf++] = (char *)o->imp_col;
    }
    int st = gr_csv_read_part(o->in, o->delim, force, nf, b->comm, &b->csv);
    free(force);
    b->n = b->csv.nrows;
    return st;
}

/* Every rank, on the header alone: the CSV columns of --pair-columns (b->jpc). GR_EINPUT naming the
 * option for a column not in the header, or one that already has a place (the exporter, importer, --pair,
 * --time or --key column; a name the /pairs table reserves); GR_EUSAGE for one named twice. */
static int find_pair_columns(import_build *b)
{
    const gr_opt_list *l = &b->o->pair_cols;
    b->jpc = gr_malloc((size_t)l->n + 1, sizeof *b->jpc);
    for (int i = 0; i < l->n; i++) {
        int j = need_col(&b->csv, l->str[i], "--pair-columns");
        if (j < 0)
            return gr_errcode();
        int taken = j == b->je || j == b->ji || j == b->jp;
        for (int m = 0; m < b->nk; m++)
            taken |= j == b->jk[m];
        if (taken || !strcmp(l->str[i], "exporter") || !strcmp(l->str[i], "importer"))
            return gr_fail(GR_EINPUT, "--pair-columns", "column '%s' cannot be a pair column: it is the exporter, "
                           "importer, --pair, --time or a --key column, or a name /pairs reserves", l->str[i]);
        for (int m = 0; m < b->npc; m++)
            if (b->jpc[m] == j)
                return gr_fail(GR_EUSAGE, "--pair-columns", "column '%s' is named twice", l->str[i]);
        b->jpc[b->npc++] = j;
    }
    return GR_OK;
}

/* 1 if CSV column j is a --pair-columns column */
static int is_pair_column(const import_build *b, int j)
{
    for (int m = 0; m < b->npc; m++)
        if (b->jpc[m] == j)
            return 1;
    return 0;
}

/* Every rank, on the header alone (so the same on every rank): the CSV columns the options name (GR_EINPUT
 * naming the option for one that is not in the header) and the row key: --time, then the --key columns
 * not already in it. */
static int find_columns(import_build *b)
{
    const import_opts *o = b->o;
    const gr_csv *csv = &b->csv;
    b->je = b->ji = b->jt = b->jp = -1;
    if (b->structured && ((b->je = need_col(csv, o->exp_col, "--exporter")) < 0 ||
                          (b->ji = need_col(csv, o->imp_col, "--importer")) < 0))
        return gr_errcode();
    if (o->time_col && (b->jt = need_col(csv, o->time_col, "--time")) < 0)
        return gr_errcode();
    if (o->pair_col && (b->jp = need_col(csv, o->pair_col, "--pair")) < 0)
        return gr_errcode();
    if (b->jt >= 0)
        b->jk[b->nk++] = b->jt;
    for (int i = 0; i < o->key.n; i++) {
        int j = need_col(csv, o->key.str[i], "--key");
        if (j < 0)
            return gr_errcode();
        int dup = 0;
        for (int m = 0; m < b->nk; m++)
            dup |= b->jk[m] == j;
        if (dup)
            continue;
        if (b->nk == MAX_KEY)
            return gr_fail(GR_EUSAGE, "--key", "at most %d key columns (with --time)", MAX_KEY);
        b->jk[b->nk++] = j;
    }
    if (b->structured && gr_csv_find(csv, "pair") >= 0)
        return gr_fail(GR_EINPUT, o->in, "column name 'pair' is reserved for the pair id of a structured panel; "
                                         "rename the CSV column");
    return find_pair_columns(b);
}

/* Collective (structured): a missing exporter or importer city is an error naming the first such line. */
static int check_cities(import_build *b)
{
    const gr_csv *csv = &b->csv;
    int st = GR_OK;
    int64_t row = INT64_MAX;
    for (int64_t i = 0; i < b->n && !st; i++)
        for (int s = 0; s < 2 && !st; s++)
            if (!csv->str[s ? b->ji : b->je][i]) {
                char lw[4200];
                snprintf(lw, sizeof lw, "%s:%lld", b->o->in, (long long)csv->line[i]);
                st = gr_fail(GR_EINPUT, lw, "column '%s': missing %s city", csv->names[s ? b->ji : b->je],
                             s ? "importer" : "exporter");
                row = csv->row0 + i;
            }
    return agree_first(b->comm, st, row);
}

/* Collective: labels (sorted distinct values over all ranks) and local codes of every string column; the
 * exporter and importer columns share the city labels, and a missing city is an error naming its line. */
static int encode_strings(import_build *b)
{
    const gr_csv *csv = &b->csv;
    int nc = csv->ncols, st;
    b->lab = gr_calloc(nc, sizeof *b->lab);
    b->nlab = gr_calloc(nc, sizeof *b->nlab);
    b->code = gr_calloc(nc, sizeof *b->code);
    char **city = NULL;
    if (b->structured) {
        if ((st = check_cities(b)))
            return st;
        if ((st = distinct(csv->str[b->je], csv->str[b->ji], b->n, "--exporter/--importer", b->comm, &city,
                           &b->ncity)))
            return st;
    }
    for (int j = 0; j < nc; j++) {
        if (!csv->is_string[j])
            continue;
        if (j == b->je || j == b->ji) {
            b->lab[j] = dup_labels(city, b->ncity);
            b->nlab[j] = b->ncity;
        } else {
            char lw[4200];
            snprintf(lw, sizeof lw, "%s: column '%s'", b->o->in, csv->names[j]);
            if ((st = distinct(csv->str[j], NULL, b->n, lw, b->comm, &b->lab[j], &b->nlab[j]))) {
                free_list(city, b->ncity);
                return st;
            }
        }
        b->code[j] = encode(csv->str[j], b->n, b->lab[j], b->nlab[j]);
    }
    free_list(city, b->ncity);
    return GR_OK;
}

static void bcast_str(char **s, MPI_Comm comm);

/* ---- the --cities table (small: rank 0 parses it and broadcasts the columns) ---- */

/* sort helper for the cities rows: by key text, then row (qsort has no context argument) */
static char **city_keys;

static int cmp_city_row(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    int c = strcmp(city_keys[a], city_keys[b]);
    return c ? c : (a > b) - (a < b);
}

/* Rank 0: the row of the cities CSV c (key column jk) for every city of the panel (row[k] for label k of
 * the cities, `city`), after checking that every row has a key, that no key repeats (the repeat with the
 * lowest line is named, with its first line) and that every city of the panel has a row. */
static int match_city_rows(const import_build *b, const gr_csv *c, int jk, int64_t *row)
{
    const char *path = b->o->cities;
    char lw[4200];
    for (int64_t i = 0; i < c->nrows; i++)
        if (!c->str[jk][i]) {
            snprintf(lw, sizeof lw, "%s:%lld", path, (long long)c->line[i]);
            return gr_fail(GR_EINPUT, lw, "column '%s': missing city key", c->names[jk]);
        }
    int64_t *ix = gr_malloc((size_t)c->nrows, sizeof *ix), dup = -1, first = -1;
    for (int64_t i = 0; i < c->nrows; i++)
        ix[i] = i;
    city_keys = c->str[jk];
    qsort(ix, (size_t)c->nrows, sizeof *ix, cmp_city_row);
    for (int64_t i = 0, e; i < c->nrows; i = e) { /* a run [i, e) of one key, by row: ix[i + 1] repeats ix[i] */
        for (e = i + 1; e < c->nrows && !strcmp(c->str[jk][ix[e]], c->str[jk][ix[i]]); e++)
            ;
        if (e - i > 1 && (dup < 0 || ix[i + 1] < dup)) {
            dup = ix[i + 1];
            first = ix[i];
        }
    }
    free(ix);
    if (dup >= 0) {
        snprintf(lw, sizeof lw, "%s:%lld", path, (long long)c->line[dup]);
        return gr_fail(GR_EINPUT, lw, "duplicate city key '%.60s' in column '%s' (first at line %lld): one row "
                       "per city", c->str[jk][dup], c->names[jk], (long long)c->line[first]);
    }
    ix = gr_malloc((size_t)c->nrows, sizeof *ix); /* again, sorted by key, for the merge */
    for (int64_t i = 0; i < c->nrows; i++)
        ix[i] = i;
    qsort(ix, (size_t)c->nrows, sizeof *ix, cmp_city_row);
    char **city = b->lab[b->je];
    int64_t m = 0, missing = 0, firstmiss = -1;
    for (int k = 0; k < b->ncity; k++) { /* both lists sorted by strcmp: one merge */
        while (m < c->nrows && strcmp(c->str[jk][ix[m]], city[k]) < 0)
            m++;
        if (m < c->nrows && !strcmp(c->str[jk][ix[m]], city[k]))
            row[k] = ix[m];
        else if (missing++ == 0)
            firstmiss = k;
    }
    free(ix);
    if (missing)
        return gr_fail(GR_EINPUT, path, "city '%.60s' of the panel (columns '%s'/'%s') is not in the table (key "
                       "column '%s'); %lld of the panel's %d cities are missing", city[firstmiss], b->o->exp_col,
                       b->o->imp_col, c->names[jk], (long long)missing, b->ncity);
    return GR_OK;
}

/* Rank 0: column j of the cities CSV on the panel's cities (row[k] for city k) into table t: numbers as
 * float64, strings as int32 codes over the sorted distinct values of the panel's cities. */
static void add_city_column(const import_build *b, const gr_csv *c, int j, const int64_t *row, gr_table *t)
{
    int n = b->ncity;
    double *v = gr_malloc((size_t)(n ? n : 1), sizeof *v);
    if (!c->is_string[j]) {
        for (int k = 0; k < n; k++)
            v[k] = c->num[j][row[k]];
        gr_table_add(t, c->names[j], v, 0, NULL, 0);
        return;
    }
    char **s = gr_malloc((size_t)(n ? n : 1), sizeof *s), **lab;
    int nl = 0;
    for (int k = 0; k < n; k++)
        if ((s[k] = c->str[j][row[k]]))
            s[nl++] = s[k];
    qsort(s, (size_t)nl, sizeof *s, cmp_str);
    int m = 0;
    for (int k = 0; k < nl; k++)
        if (m == 0 || strcmp(s[m - 1], s[k]))
            s[m++] = s[k];
    lab = dup_labels(s, m);
    free(s);
    for (int k = 0; k < n; k++) {
        const char *x = c->str[j][row[k]];
        char **hit = x ? bsearch(&x, lab, (size_t)m, sizeof *lab, cmp_str) : NULL;
        v[k] = hit ? (double)(hit - lab) : NAN;
    }
    gr_table_add(t, c->names[j], v, 1, lab, m);
}

/* Rank 0: read --cities (the key column and --city-string columns as strings) into b->ctab: one row per
 * city of the panel, every column but the key. b->city_extra: table rows whose city the panel lacks. */
static int read_city_table(import_build *b)
{
    const import_opts *o = b->o;
    char **force = gr_malloc((size_t)o->city_force.n + 1, sizeof *force);
    int nf = 0;
    force[nf++] = (char *)o->city_key; /* first: an unknown key column is the error reported */
    for (int i = 0; i < o->city_force.n; i++)
        force[nf++] = o->city_force.str[i];
    gr_csv c;
    int st = gr_csv_read(o->cities, o->delim, force, nf, &c);
    free(force);
    if (st)
        return st;
    int jk = gr_csv_find(&c, o->city_key);
    for (int j = 0; j < c.ncols && !st; j++)
        if (j != jk && (!strcmp(c.names[j], "city") || !strcmp(c.names[j], "name")))
            st = gr_fail(GR_EINPUT, o->cities, "column name '%s' is reserved in /cities (the city id and name); "
                         "rename the column or make it the --city-key", c.names[j]);
    int64_t *row = gr_malloc((size_t)(b->ncity ? b->ncity : 1), sizeof *row);
    if (!st)
        st = match_city_rows(b, &c, jk, row);
    b->ctab.nrows = b->ncity;
    for (int j = 0; j < c.ncols && !st; j++)
        if (j != jk)
            add_city_column(b, &c, j, row, &b->ctab);
    b->city_extra = st ? 0 : c.nrows - b->ncity;
    free(row);
    gr_csv_free(&c);
    return st;
}

/* Collective: broadcast rank 0's table t (names, types, values, labels) to every rank. */
static void bcast_table(gr_table *t, MPI_Comm comm)
{
    int rank, nc = t->ncols;
    MPI_Comm_rank(comm, &rank);
    MPI_Bcast(&t->nrows, 1, MPI_INT64_T, 0, comm);
    MPI_Bcast(&nc, 1, MPI_INT, 0, comm);
    for (int c = 0; c < nc; c++) {
        char *name = rank == 0 ? gr_strdup(t->names[c]) : NULL;
        int meta[2] = {rank == 0 ? t->is_int[c] : 0, rank == 0 ? t->nlabels[c] : 0};
        bcast_str(&name, comm);
        MPI_Bcast(meta, 2, MPI_INT, 0, comm);
        double *v = rank == 0 ? t->cols[c] : gr_malloc((size_t)(t->nrows ? t->nrows : 1), sizeof *v);
        MPI_Bcast(v, (int)t->nrows, MPI_DOUBLE, 0, comm); /* nrows = cities < INT32_MAX (distinct) */
        char **lab = rank == 0 ? t->labels[c] : (meta[1] ? gr_calloc((size_t)meta[1], sizeof *lab) : NULL);
        for (int k = 0; k < meta[1]; k++)
            bcast_str(&lab[k], comm);
        if (rank != 0)
            gr_table_add(t, name, v, meta[0], lab, meta[1]);
        free(name);
    }
}

/* Collective (structured, --cities): the /cities columns of the city table, read and checked on rank 0
 * (the errors of match_city_rows, a reserved column name, the CSV reader's) and broadcast. */
static int load_cities(import_build *b)
{
    int st = b->rank == 0 ? read_city_table(b) : GR_OK;
    if ((st = gr_agree(b->comm, st)))
        return st;
    MPI_Bcast(&b->city_extra, 1, MPI_INT64_T, 0, b->comm);
    bcast_table(&b->ctab, b->comm);
    return GR_OK;
}

/* Collective (structured): the pairs, i.e. the distinct (exporter, importer[, --pair value]) over all
 * ranks in sorted order (b->pairs, replicated), and the pair id of every local row (b->pair_of).
 * GR_EINPUT naming the first line of a missing --pair, or when the pair ids do not fit an int32. */
static int assign_pairs(import_build *b)
{
    int64_t n = b->n, m = 0, row = INT64_MAX, total;
    int st = GR_OK;
    pairdef *d = gr_malloc((size_t)(n ? n : 1), sizeof *d);
    for (int64_t i = 0; i < n; i++) {
        d[i] = (pairdef){b->code[b->je][i], b->code[b->ji][i], b->jp >= 0 ? csv_value(b, b->jp, i) : 0};
        if (!st && b->jp >= 0 && isnan(d[i].v)) {
            char lw[4200];
            snprintf(lw, sizeof lw, "%s:%lld", b->o->in, (long long)b->csv.line[i]);
            st = gr_fail(GR_EINPUT, lw, "column '%s': missing pair id", b->csv.names[b->jp]);
            row = b->csv.row0 + i;
        }
    }
    if ((st = agree_first(b->comm, st, row))) {
        free(d);
        return st;
    }
    qsort(d, (size_t)n, sizeof *d, cmp_pairdef);
    for (int64_t i = 0; i < n; i++)
        if (m == 0 || cmp_pairdef(&d[m - 1], &d[i]) != 0)
            d[m++] = d[i];
    char *got;
    gr_xchg_allgather_bytes(d, m * (int64_t)sizeof *d, &got, &total, b->comm);
    free(d);
    b->pairs = (pairdef *)(void *)got;
    n = total / (int64_t)sizeof *d;
    qsort(b->pairs, (size_t)n, sizeof *b->pairs, cmp_pairdef);
    m = 0;
    for (int64_t i = 0; i < n; i++)
        if (m == 0 || cmp_pairdef(&b->pairs[m - 1], &b->pairs[i]) != 0)
            b->pairs[m++] = b->pairs[i];
    b->npairs = m;
    if (m > INT32_MAX)
        return gr_agree(b->comm, gr_fail(GR_EINPUT, "--exporter/--importer", "%lld pairs; at most %d supported "
                                         "(int32 pair ids)", (long long)m, INT32_MAX));
    b->pair_of = gr_malloc((size_t)(b->n ? b->n : 1), sizeof *b->pair_of);
    for (int64_t i = 0; i < b->n; i++) {
        pairdef k = {b->code[b->je][i], b->code[b->ji][i], b->jp >= 0 ? csv_value(b, b->jp, i) : 0};
        pairdef *hit = bsearch(&k, b->pairs, (size_t)m, sizeof k, cmp_pairdef);
        b->pair_of[i] = (int32_t)(hit - b->pairs);
    }
    return GR_OK;
}

/* CSV column j of a row as text for a message: the field as read ("NA" when missing). */
static void field_text(const import_build *b, int j, const rowrec *r, char *buf, size_t len)
{
    double v = r->v[j];
    if (b->csv.is_string[j])
        snprintf(buf, len, "%.60s", v >= 0 ? b->lab[j][(int64_t)v] : "NA");
    else if (isnan(v))
        snprintf(buf, len, "NA");
    else
        snprintf(buf, len, "%.17g", v);
}

/* GR_EINPUT for row r that repeats the pair and row key of row r0 (an earlier line): "<csv>:<line>:
 * duplicate row: same pair and key columns as line <line> (pair A -> B, year 2001)". */
static int duplicate_error(const import_build *b, const rowrec *r, const rowrec *r0)
{
    char what[1024], key[1024], v[80];
    size_t lv = (size_t)snprintf(what, sizeof what, "pair %.60s -> %.60s", b->lab[b->je][r->exp],
                                 b->lab[b->ji][(int64_t)r->v[b->ji]]);
    size_t lk = (size_t)snprintf(key, sizeof key, "pair");
    int cols[MAX_KEY + 1], nc = 0;
    if (b->jp >= 0)
        cols[nc++] = b->jp;
    for (int m = 0; m < b->nk; m++)
        cols[nc++] = b->jk[m];
    for (int c = 0; c < nc && lv < sizeof what && lk < sizeof key; c++) { /* stops at a full (truncated) text */
        field_text(b, cols[c], r, v, sizeof v);
        lv += (size_t)snprintf(what + lv, sizeof what - lv, ", %.60s %s", b->csv.names[cols[c]], v);
        if (cols[c] != b->jp)
            lk += (size_t)snprintf(key + lk, sizeof key - lk, ", %.60s", b->csv.names[cols[c]]);
    }
    char lw[4200];
    snprintf(lw, sizeof lw, "%s:%lld", b->o->in, (long long)r->line);
    return gr_fail(GR_EINPUT, lw, "duplicate row: same pair and key columns as line %lld (%s): (%s) must "
                   "identify a row", (long long)r0->line, what, key);
}

/* Collective: the destination rank of every local row, and the panel rows each rank writes: by exporter
 * (gr_partition_exporters on the exporter offsets) when structured, else in even blocks of CSV order.
 * Fills p->offsets (structured), *begin and *count (this rank's rows), dest[i] (the rank of local row i). */
static void destinations(const import_build *b, plan *p, int *dest, int64_t *begin, int64_t *count)
{
    int n = b->nranks;
    int64_t *first = gr_malloc((size_t)n + 1, sizeof *first); /* first panel row (or exporter) of each rank */
    if (b->structured) {
        int64_t *cnt = gr_calloc((size_t)b->ncity + 1, sizeof *cnt);
        for (int64_t i = 0; i < b->n; i++)
            cnt[b->code[b->je][i] + 1]++;
        p->n_exp = b->ncity;
        p->offsets = gr_calloc((size_t)b->ncity + 1, sizeof *p->offsets);
        MPI_Allreduce(cnt, p->offsets, b->ncity + 1, MPI_INT64_T, MPI_SUM, b->comm);
        free(cnt);
        for (int k = 0; k < b->ncity; k++)
            p->offsets[k + 1] += p->offsets[k];
        for (int r = 0; r < n; r++) {
            int eb, ee;
            gr_partition_exporters(b->ncity, p->offsets, r, n, &eb, &ee);
            first[r] = eb;
            if (r == b->rank) {
                *begin = p->offsets[eb];
                *count = p->offsets[ee] - *begin;
            }
        }
        first[n] = b->ncity;
    } else {
        for (int r = 0; r <= n; r++)
            first[r] = p->nrows * r / n;
        *begin = first[b->rank];
        *count = first[b->rank + 1] - *begin;
    }
    for (int64_t i = 0; i < b->n; i++) { /* the last rank whose first item is <= this row's */
        int64_t key = b->structured ? b->code[b->je][i] : b->csv.row0 + i;
        int lo = 0, hi = n - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (first[mid] <= key)
                lo = mid;
            else
                hi = mid - 1;
        }
        dest[i] = lo;
    }
    free(first);
}

/* The local CSV rows, their codes and pair ids, once packed (the header, types and labels stay). */
static void drop_local_rows(import_build *b)
{
    gr_csv *c = &b->csv;
    for (int j = 0; j < c->ncols; j++) {
        free(c->num[j]);
        free(c->str[j]);
        free(b->code[j]);
        c->num[j] = NULL;
        c->str[j] = NULL;
        b->code[j] = NULL;
    }
    free(c->line);
    free(c->buf);
    free(b->pair_of);
    c->line = NULL;
    c->buf = NULL;
    b->pair_of = NULL;
}

/* Collective: every local row as a rowrec to the rank that writes it; *recv holds the rows this rank
 * writes (*nrecv of them, `size` bytes each), in CSV order within each sending rank. */
static int exchange_rows(import_build *b, const int *dest, size_t size, char **recv, int64_t *nrecv)
{
    int n = b->nranks, nc = b->csv.ncols;
    int64_t *sc = gr_calloc((size_t)n, sizeof *sc), *rc = gr_malloc((size_t)n, sizeof *rc);
    int64_t *at = gr_calloc((size_t)n, sizeof *at);
    for (int64_t i = 0; i < b->n; i++)
        sc[dest[i]]++;
    for (int r = 1; r < n; r++)
        at[r] = at[r - 1] + sc[r - 1];
    char *send = gr_malloc((size_t)(b->n ? b->n : 1), size);
    for (int64_t i = 0; i < b->n; i++) {
        rowrec *r = (rowrec *)(void *)(send + (size_t)(at[dest[i]]++) * size);
        r->idx = b->csv.row0 + i;
        r->line = b->csv.line[i];
        r->pair = b->structured ? b->pair_of[i] : 0;
        r->exp = b->structured ? b->code[b->je][i] : 0;
        for (int j = 0; j < nc; j++)
            r->v[j] = b->csv.is_string[j] ? (double)b->code[j][i] : b->csv.num[j][i];
    }
    drop_local_rows(b); /* packed: the parsed rows are not needed any more */
    gr_xchg_counts(sc, rc, b->comm);
    *nrecv = 0;
    for (int r = 0; r < n; r++)
        *nrecv += rc[r];
    *recv = gr_malloc((size_t)(*nrecv ? *nrecv : 1), size);
    int st = gr_xchg_alltoallv(send, sc, *recv, rc, size, 0, b->comm);
    free(send);
    free(sc);
    free(rc);
    free(at);
    return gr_agree(b->comm, st);
}

/* Collective (structured): this rank's rows in the panel's order (by pair, then the row key, then CSV
 * order) in *order. Two rows with the same pair and row key are an error naming the first such row of
 * the CSV (over all ranks), its pair and key and both lines; the key is then recorded as row_key. */
static int order_rows(import_build *b, char *rows, int64_t nrows, size_t size, rowrec ***order)
{
    rowrec **o = gr_malloc((size_t)(nrows ? nrows : 1), sizeof *o);
    for (int64_t i = 0; i < nrows; i++)
        o[i] = (rowrec *)(void *)(rows + (size_t)i * size);
    sort_key.nk = b->nk;
    memcpy(sort_key.jk, b->jk, sizeof b->jk);
    sort_key.is_string = b->csv.is_string;
    qsort(o, (size_t)nrows, sizeof *o, cmp_rows);
    *order = o;
    b->keyed = b->nk > 0;
    /* the duplicate with the lowest line: rows of one key sort by line, so it follows its first row */
    int64_t first = -1;
    for (int64_t i = 1; i < nrows && b->keyed; i++)
        if (same_key(o[i], o[i - 1]) && (first < 0 || o[i]->idx < o[first]->idx))
            first = i;
    int st = first >= 0 ? duplicate_error(b, o[first], o[first - 1]) : GR_OK;
    return agree_first(b->comm, st, first >= 0 ? o[first]->idx : INT64_MAX);
}

/* Every rank (structured): the /cities and /pairs tables (replicated) and the attributes that describe
 * the structure. */
static void add_structure(import_build *b, plan *p)
{
    const import_opts *o = b->o;
    const gr_csv *csv = &b->csv;
    int ncity = b->ncity, jp = b->jp;
    int64_t np = b->npairs;
    double *cid = gr_malloc((size_t)(ncity ? ncity : 1), sizeof *cid);
    double *cname = gr_malloc((size_t)(ncity ? ncity : 1), sizeof *cname);
    for (int k = 0; k < ncity; k++)
        cid[k] = cname[k] = k;
    p->cities.nrows = ncity;
    p->pairs.nrows = np;
    gr_table_add(&p->cities, "city", cid, 1, NULL, 0);
    gr_table_add(&p->cities, "name", cname, 1, dup_labels(b->lab[b->je], ncity), ncity);
    double *pid = gr_malloc((size_t)np, sizeof *pid), *pe = gr_malloc((size_t)np, sizeof *pe);
    double *pi = gr_malloc((size_t)np, sizeof *pi), *pv = gr_malloc((size_t)np, sizeof *pv);
    for (int64_t k = 0; k < np; k++) {
        pid[k] = (double)k;
        pe[k] = b->pairs[k].e;
        pi[k] = b->pairs[k].i;
        pv[k] = b->pairs[k].v;
    }
    gr_table_add(&p->pairs, "pair", pid, 1, NULL, 0);
    gr_table_add(&p->pairs, "exporter", pe, 1, NULL, 0);
    gr_table_add(&p->pairs, "importer", pi, 1, NULL, 0);
    for (int c = 0; c < b->npc; c++) { /* --pair-columns, in the order given */
        int j = b->jpc[c];
        gr_table_add(&p->pairs, csv->names[j], b->pcval[c], csv->is_string[j],
                     csv->is_string[j] ? dup_labels(b->lab[j], b->nlab[j]) : NULL, b->nlab[j]);
        b->pcval[c] = NULL;
    }
    for (int c = 0; c < b->ctab.ncols; c++) { /* --cities: moved into the plan */
        gr_table_add(&p->cities, b->ctab.names[c], b->ctab.cols[c], b->ctab.is_int[c], b->ctab.labels[c],
                     b->ctab.nlabels[c]);
        b->ctab.cols[c] = NULL;
        b->ctab.labels[c] = NULL;
        b->ctab.nlabels[c] = 0;
    }
    if (jp >= 0 && strcmp(csv->names[jp], "pair") && strcmp(csv->names[jp], "exporter") &&
        strcmp(csv->names[jp], "importer"))
        gr_table_add(&p->pairs, csv->names[jp], pv, csv->is_string[jp],
                     csv->is_string[jp] ? dup_labels(b->lab[jp], b->nlab[jp]) : NULL, b->nlab[jp]);
    else
        free(pv);
    char keybuf[1024] = "";
    if (b->keyed)
        for (int m = 0; m < b->nk; m++)
            snprintf(keybuf + strlen(keybuf), sizeof keybuf - strlen(keybuf), "%s%s", m ? "," : "",
                     csv->names[b->jk[m]]);
    plan_attr(p, "exporter_column", o->exp_col);
    plan_attr(p, "importer_column", o->imp_col);
    if (o->pair_col)
        plan_attr(p, "pair_column", o->pair_col);
    plan_attr(p, "row_key", keybuf);
}

/* Every rank: the panel columns of its rows (in `order`): the pair column when structured, then the CSV
 * columns in CSV order; string columns as codes with (copies of) their labels. */
static void add_panel_columns(import_build *b, plan *p, rowrec **order, int64_t n)
{
    const gr_csv *csv = &b->csv;
    if (b->structured) {
        int32_t *pc = gr_malloc((size_t)(n ? n : 1), sizeof *pc);
        for (int64_t i = 0; i < n; i++)
            pc[i] = order[i]->pair;
        plan_add(p, "pair", 1, NULL, pc, NULL, 0);
    }
    for (int j = 0; j < csv->ncols; j++) {
        if (is_pair_column(b, j))
            continue;
        if (csv->is_string[j]) {
            int32_t *v = gr_malloc((size_t)(n ? n : 1), sizeof *v);
            for (int64_t i = 0; i < n; i++)
                v[i] = (int32_t)order[i]->v[j];
            plan_add(p, csv->names[j], 1, NULL, v, dup_labels(b->lab[j], b->nlab[j]), b->nlab[j]);
        } else {
            double *v = gr_malloc((size_t)(n ? n : 1), sizeof *v);
            for (int64_t i = 0; i < n; i++)
                v[i] = order[i]->v[j];
            plan_add(p, csv->names[j], 0, v, NULL, NULL, 0);
        }
    }
}

/* Every rank (structured): the first pair id of every rank's exporters (first[0..nranks], first[nranks] =
 * npairs). Pair ids are ordered by exporter, so each rank's pairs are the run [first[r], first[r+1]). */
static void pair_ranges(const import_build *b, const plan *p, int64_t *first)
{
    int64_t k = 0;
    for (int r = 0; r < b->nranks; r++) {
        int eb, ee;
        gr_partition_exporters(b->ncity, p->offsets, r, b->nranks, &eb, &ee);
        while (k < b->npairs && b->pairs[k].e < eb)
            k++;
        first[r] = k;
    }
    first[b->nranks] = b->npairs;
}

/* GR_EINPUT for row r whose --pair-columns column j differs from row r0, the first row of its pair in CSV
 * order: "<csv>:<line>: column 'partner' varies within pair A -> B (1 here, 0 at line 2): ...". */
static int pair_column_error(const import_build *b, int j, const rowrec *r, const rowrec *r0)
{
    char here[80], there[80], lw[4200];
    field_text(b, j, r, here, sizeof here);
    field_text(b, j, r0, there, sizeof there);
    snprintf(lw, sizeof lw, "%s:%lld", b->o->in, (long long)r->line);
    return gr_fail(GR_EINPUT, lw, "column '%s' varies within pair %.60s -> %.60s (%s here, %s at line %lld): a "
                   "--pair-columns column must be constant within each pair", b->csv.names[j], b->lab[b->je][r->exp],
                   b->lab[b->ji][(int64_t)r->v[b->ji]], here, there, (long long)r0->line);
}

/* Collective (structured): the --pair-columns values of every pair (b->pcval, replicated), from the rows
 * this rank writes (`order`, grouped by pair: a pair's rows are all on its exporter's rank). A column that
 * is not constant within a pair (NaN equals NaN only) is an error naming the row with the lowest line
 * that differs from its pair's first row in CSV order, and that first row. */
static int gather_pair_columns(import_build *b, const plan *p, rowrec **order, int64_t n)
{
    int64_t *first = gr_malloc((size_t)b->nranks + 1, sizeof *first), bad = INT64_MAX;
    pair_ranges(b, p, first);
    int64_t pb = first[b->rank], np = first[b->rank + 1] - pb;
    b->pcval = gr_calloc((size_t)b->npc, sizeof *b->pcval);
    double **mine = gr_calloc((size_t)b->npc, sizeof *mine);
    for (int c = 0; c < b->npc; c++)
        mine[c] = gr_malloc((size_t)(np ? np : 1), sizeof **mine);
    int st = GR_OK;
    for (int64_t i = 0, e; i < n; i = e) { /* rows [i, e) are one pair's */
        int64_t r0 = i;
        for (e = i + 1; e < n && order[e]->pair == order[i]->pair; e++)
            if (order[e]->idx < order[r0]->idx)
                r0 = e;
        for (int c = 0; c < b->npc; c++)
            mine[c][order[i]->pair - pb] = order[r0]->v[b->jpc[c]];
        for (int64_t k = i; k < e; k++)
            for (int c = 0; c < b->npc; c++)
                if (order[k]->idx < bad && cmp_d(order[k]->v[b->jpc[c]], order[r0]->v[b->jpc[c]])) {
                    gr_clear_error();
                    st = pair_column_error(b, b->jpc[c], order[k], order[r0]);
                    bad = order[k]->idx;
                }
    }
    st = agree_first(b->comm, st, bad);
    int *cnt = gr_malloc((size_t)b->nranks, sizeof *cnt), *dsp = gr_malloc((size_t)b->nranks, sizeof *dsp);
    for (int r = 0; r < b->nranks; r++) { /* npairs <= INT32_MAX (assign_pairs): the counts fit an int */
        cnt[r] = (int)(first[r + 1] - first[r]);
        dsp[r] = (int)first[r];
    }
    for (int c = 0; c < b->npc; c++) {
        b->pcval[c] = gr_malloc((size_t)(b->npairs ? b->npairs : 1), sizeof **b->pcval);
        if (!st)
            MPI_Allgatherv(mine[c], (int)np, MPI_DOUBLE, b->pcval[c], cnt, dsp, MPI_DOUBLE, b->comm);
        free(mine[c]);
    }
    free(mine);
    free(cnt);
    free(dsp);
    free(first);
    return st;
}

/* Collective: rows to their writers, ordered, checked for duplicates, into the plan's local columns. */
static int place_rows(import_build *b, plan *p)
{
    int *dest = gr_malloc((size_t)(b->n ? b->n : 1), sizeof *dest);
    destinations(b, p, dest, &p->begin, &p->count);
    size_t size = sizeof(rowrec) + (size_t)b->csv.ncols * sizeof(double);
    char *rows = NULL;
    int64_t nrows = 0;
    int st = exchange_rows(b, dest, size, &rows, &nrows);
    free(dest);
    /* the rows received are the rows this rank writes: a mismatch is a bug, caught before the write */
    if (!st && nrows != p->count)
        st = gr_fail(GR_EMPI, "import", "rank received %lld rows, expected %lld", (long long)nrows, (long long)p->count);
    st = gr_agree(b->comm, st);
    rowrec **order = NULL;
    if (!st && b->structured)
        st = order_rows(b, rows, nrows, size, &order);
    else if (!st) { /* CSV order: rows arrive by sending rank, each in CSV order */
        order = gr_malloc((size_t)(nrows ? nrows : 1), sizeof *order);
        for (int64_t i = 0; i < nrows; i++)
            order[i] = (rowrec *)(void *)(rows + (size_t)i * size);
    }
    if (!st && b->npc)
        st = gather_pair_columns(b, p, order, nrows);
    if (!st)
        add_panel_columns(b, p, order, nrows);
    free(order);
    free(rows);
    return st;
}

/* Collective: parse this rank's part of the CSV and build its rows of the plan: read_csv, find_columns,
 * encode_strings, then for a structured import the pairs, the rows to their writers by exporter, their
 * order and the tables; the panel columns. */
static int build_plan(const import_opts *o, plan *p, MPI_Comm comm)
{
    import_build b;
    memset(&b, 0, sizeof b);
    b.o = o;
    b.comm = comm;
    MPI_Comm_rank(comm, &b.rank);
    MPI_Comm_size(comm, &b.nranks);
    b.structured = o->exp_col != NULL;
    int st = read_csv(&b);
    if (!st)
        st = gr_agree(comm, find_columns(&b));
    if (!st)
        st = encode_strings(&b);
    if (!st && o->cities)
        st = load_cities(&b);
    if (!st && b.structured)
        st = assign_pairs(&b);
    if (!st) {
        p->nrows = b.csv.nrows_all;
        st = place_rows(&b, p);
    }
    if (!st && b.structured)
        add_structure(&b, p);
    p->city_extra = b.city_extra;
    if (!st) {
        if (o->time_col)
            plan_attr(p, "time_column", o->time_col);
        plan_attr(p, "source", o->in);
        if (o->first_month)
            plan_attr(p, "first_month", o->first_month);
    }
    build_free(&b);
    return st;
}

/* ---- writing ---- */

static void bcast_str(char **s, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    int len = rank == 0 ? (*s ? (int)strlen(*s) + 1 : 0) : 0;
    MPI_Bcast(&len, 1, MPI_INT, 0, comm);
    if (rank != 0)
        *s = len ? gr_malloc((size_t)len, 1) : NULL;
    if (len)
        MPI_Bcast(*s, len, MPI_CHAR, 0, comm);
}

/* Collective: write the plan; every rank writes its rows [begin, begin + count). */
static int write_plan(plan *p, const import_opts *o, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    gr_writer w;
    int st = gr_writer_open(comm, o->out, &w);
    if (st)
        return st;
    st = gr_writer_panel_layout(&w, p->nrows, p->begin, p->count);
    for (int c = 0; c < p->ncols && !st; c++) {
        if (p->is_int[c])
            st = gr_writer_panel_int(&w, p->names[c], p->icol[c]);
        else
            st = gr_writer_panel_double(&w, p->names[c], p->dcol[c]);
        if (!st && p->labels[c])
            st = gr_writer_labels(&w, "panel", p->names[c], p->labels[c], p->nlabels[c]);
    }
    if (!st && p->cities.ncols)
        st = gr_writer_table(&w, "cities", &p->cities);
    if (!st && p->pairs.ncols)
        st = gr_writer_table(&w, "pairs", &p->pairs);
    if (!st && p->n_exp > 0)
        st = gr_writer_exporter_offsets(&w, p->n_exp, p->offsets);
    for (int a = 0; a < p->nattr && !st; a++)
        st = gr_writer_attr_string(&w, p->attr_name[a], p->attr_value[a]);
    if (!st) {
        char *prov = rank == 0 ? gr_strdup(gr_provenance(comm)) : NULL;
        if (rank != 0)
            gr_provenance(comm);
        bcast_str(&prov, comm);
        st = gr_writer_attr_string(&w, "created_by", prov);
        free(prov);
    }
    if (!st)
        st = gr_writer_attr_string(&w, "command_line", gr_command_line);
    if (!st)
        st = gr_writer_commit(&w);
    else
        gr_writer_abort(&w);
    return st;
}

static const gr_opt import_table[] = {
    {.name = "in", .kind = GR_OPT_ARG, GR_OPT_AT(import_opts, in), .metavar = "FILE.csv",
     .help = "the CSV: a header line, one row per observation", .flags = GR_OPT_REQUIRED},
    {.name = "out", .kind = GR_OPT_ARG, GR_OPT_AT(import_opts, out), .metavar = "OUT.h5",
     .help = "the panel file to write", .flags = GR_OPT_REQUIRED},
    {.name = "exporter", .kind = GR_OPT_STRING, GR_OPT_AT(import_opts, exp_col), .metavar = "COL",
     .help = "exporter city column (with --importer): build /cities, /pairs, sort rows by exporter, index them"},
    {.name = "importer", .kind = GR_OPT_STRING, GR_OPT_AT(import_opts, imp_col), .metavar = "COL",
     .help = "importer city column (with --exporter)"},
    {.name = "time", .kind = GR_OPT_STRING, GR_OPT_AT(import_opts, time_col), .metavar = "COL",
     .help = "time column: rows of a pair are sorted by it; (pair, time) identifies a row (a duplicate is an "
             "error)"},
    {.name = "pair", .kind = GR_OPT_STRING, GR_OPT_AT(import_opts, pair_col), .metavar = "COL",
     .help = "pairs are the distinct values of COL (default: exporter x importer)"},
    {.name = "key", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(import_opts, key), .metavar = "COL",
     .help = "more columns that, with pair and time, identify a row (a duplicate is an error)",
     .flags = GR_OPT_COMMA | GR_OPT_REPEAT},
    {.name = "string", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(import_opts, force), .metavar = "COL",
     .help = "store these columns as strings (label codes) even if numeric", .flags = GR_OPT_COMMA | GR_OPT_REPEAT},
    {.name = "cities", .kind = GR_OPT_STRING, GR_OPT_AT(import_opts, cities), .metavar = "FILE.csv",
     .help = "a city table (one row per city, with --city-key): its other columns become /cities columns "
             "(exp_<col>, imp_<col>, segments, median splits)"},
    {.name = "city-key", .kind = GR_OPT_STRING, GR_OPT_AT(import_opts, city_key), .metavar = "COL",
     .help = "the column of --cities that holds the city names of --exporter/--importer (compared as text)"},
    {.name = "city-string", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(import_opts, city_force),
     .metavar = "COL", .help = "store these --cities columns as strings (label codes) even if numeric",
     .flags = GR_OPT_COMMA | GR_OPT_REPEAT},
    {.name = "pair-columns", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(import_opts, pair_cols),
     .metavar = "COL", .help = "store these CSV columns in /pairs, one value per pair (each must be constant "
     "within a pair), instead of /panel", .flags = GR_OPT_COMMA | GR_OPT_REPEAT},
    {.name = "delimiter", .kind = GR_OPT_STRING, GR_OPT_AT(import_opts, delimiter), .metavar = "C",
     .help = "field separator, one character; 'tab' or '\\t' for a tab", .def = ","},
    {.name = "first-month", .kind = GR_OPT_STRING, GR_OPT_AT(import_opts, first_month), .metavar = "YYYY-MM",
     .help = "record the root attribute first_month: the calendar month of month 1 of a column `month` (the "
             "month indicators december, cny_month, post_covid need it; docs/format.md)"},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(import_opts, quiet), .help = "no summary line, no warnings"},
    {0}};

static const gr_opts_cmd import_cmd = {
    "import", "Turn a long CSV (header line, one row per observation) into a gravrd panel file (docs/format.md).",
    import_table, NULL, 0};

/* Parse and check the options; identical on every rank. GR_OPTS_EXIT after --help / --version. */
static int parse_opts(int argc, char **argv, import_opts *o, gr_opts *s, int rank)
{
    int st = gr_opts_parse(s, &import_cmd, o, argc, argv, rank);
    if (st)
        return st;
    gr_quiet |= o->quiet;
    const char *d = o->delimiter;
    if (!strcmp(d, "tab") || !strcmp(d, "\\t"))
        o->delim = '\t';
    else if (strlen(d) == 1 && !strchr("\"\n\r", d[0]))
        o->delim = d[0];
    else
        return gr_fail(GR_EUSAGE, "--delimiter", "expected one character other than a quote or a line end (or 'tab'), "
                       "got '%s'", d);
    if (!o->exp_col != !o->imp_col)
        return gr_fail(GR_EUSAGE, "import", "--exporter and --importer go together");
    if (o->exp_col && !strcmp(o->exp_col, o->imp_col))
        return gr_fail(GR_EUSAGE, "--importer", "must differ from --exporter");
    if (!o->exp_col && (o->pair_col || o->key.n || o->time_col))  /* each orders or keys the rows of a pair */
        return gr_fail(GR_EUSAGE, o->pair_col ? "--pair" : o->key.n ? "--key" : "--time", "needs --exporter and --importer");
    if (!o->cities != !o->city_key)
        return gr_fail(GR_EUSAGE, "import", "--cities and --city-key go together");
    if (o->city_force.n && !o->cities)
        return gr_fail(GR_EUSAGE, "--city-string", "needs --cities");
    if (!o->exp_col && (o->cities || o->pair_cols.n))
        return gr_fail(GR_EUSAGE, o->cities ? "--cities" : "--pair-columns", "needs --exporter and --importer");
    if (o->first_month) {
        double probe = 1; /* the same check as the month indicators make when they read the attribute */
        if (gr_derived_time("december", o->first_month, "--first-month", 1, &probe)) {
            gr_clear_error();
            return gr_fail(GR_EUSAGE, "--first-month", "expected YYYY-MM (e.g. 2017-01), got '%s'", o->first_month);
        }
    }
    return GR_OK;
}

int cmd_import(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    import_opts o;
    gr_opts s;
    int st = parse_opts(argc, argv, &o, &s, rank);
    if (st == GR_OPTS_EXIT) {
        gr_opts_free(&s);
        return 0;
    }
    if (!st && s.echo && rank == 0)
        gr_opts_echo(&s, stderr);
    int is_input = !st;
    if (is_input) /* the CSV is only read: refuse an output that is it (same path, link or inode) before parsing */
        gr_input_add(o.in);
    if (!st && rank == 0)
        st = gr_refuse_input(o.out, NULL);
    st = gr_agree(comm, st);
    plan p;
    memset(&p, 0, sizeof p);
    if (!st) {
        double t0 = gr_now();
        st = build_plan(&o, &p, comm);
        if (!st)
            st = write_plan(&p, &o, comm);
        if (!st && rank == 0 && !gr_quiet) {
            printf("imported %lld rows, %d columns, %lld cities, %lld pairs from %s into %s (%.2f s)",
                   (long long)p.nrows, p.ncols, (long long)p.cities.nrows, (long long)p.pairs.nrows, o.in, o.out,
                   gr_now() - t0);
            if (o.pair_cols.n)
                printf("; %d pair columns", o.pair_cols.n);
            if (o.cities) /* city, name, then the table's columns */
                printf("; %d city columns from %s, %lld of its cities not in the panel (ignored)",
                       p.cities.ncols - 2, o.cities, (long long)p.city_extra);
            printf("\n");
        }
    }
    st = gr_stdout_agree(comm, st); /* the summary line reached standard output */
    if (is_input)
        gr_input_remove(o.in);
    plan_free(&p);
    gr_opts_free(&s);
    return gr_report(st);
}
