/* import.c: `gravrd import`: a long CSV into a panel file (docs/format.md). Rank 0 parses the CSV and
 * builds every column in file order; the status is agreed first, then metadata are broadcast and each
 * rank receives and writes its block of rows through gr_writer. */
#include "cleanup.h"
#include "commands.h"
#include "csv.h"
#include "gr.h"
#include "opts.h"
#include "panel.h"
#include "derived.h"
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
    int quiet;
    char delim;
} import_opts;

/* What is written, built on rank 0; metadata broadcast to all ranks. */
typedef struct {
    int64_t nrows;
    int ncols;
    char **names;
    int *is_int;
    char ***labels;
    int *nlabels;
    double **dcol;  /* rank 0: whole reordered column (double columns) */
    int32_t **icol; /* rank 0: whole reordered column (int columns) */
    gr_table cities, pairs;
    int n_exp;          /* 0 without structure */
    int64_t *offsets;   /* n_exp + 1 */
    int nattr;
    char **attr_name, **attr_value;
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

/* Rank 0. Sorted distinct non-NULL strings of up to two columns (labels point into the CSV buffer) in
 * *out, their count in *nout. GR_EINPUT naming `where` when the count does not fit an int32 (the label
 * codes are int32; the count, and for cities the count + 1 offsets, are broadcast with int counts);
 * *out is then NULL. */
static int distinct(char **a, char **b, int64_t n, const char *where, char ***out, int *nout)
{
    char **all = gr_malloc((size_t)(2 * n + 1), sizeof *all);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (a[i])
            all[k++] = a[i];
        if (b && b[i])
            all[k++] = b[i];
    }
    qsort(all, (size_t)k, sizeof *all, cmp_str);
    int64_t m = 0;
    for (int64_t i = 0; i < k; i++)
        if (m == 0 || strcmp(all[m - 1], all[i]) != 0)
            all[m++] = all[i];
    *out = NULL;
    *nout = 0;
    if (m >= INT32_MAX) { /* < INT32_MAX: n_exp + 1 exporter offsets are broadcast with an int count */
        free(all);
        return gr_fail(GR_EINPUT, where, "%lld distinct values; at most %d supported", (long long)m, INT32_MAX - 1);
    }
    *out = all;
    *nout = (int)m;
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

static char **dup_labels(char **l, int n)
{
    char **d = gr_malloc((size_t)(n ? n : 1), sizeof *d);
    for (int k = 0; k < n; k++)
        d[k] = gr_strdup(l[k]);
    return d;
}

/* numeric value of a CSV column at a row (string columns: the label code) */
typedef struct {
    int32_t pair;
    int32_t exp, imp;
    double pv;          /* --pair value (code or number) */
    double k[MAX_KEY];  /* row key values */
    int64_t idx;
} rowkey;

/* NaN sorts last and equals NaN */
static int cmp_d(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

static int cmp_pair_def(const void *x, const void *y)
{
    const rowkey *a = x, *b = y;
    if (a->exp != b->exp) return a->exp < b->exp ? -1 : 1;
    if (a->imp != b->imp) return a->imp < b->imp ? -1 : 1;
    int c = cmp_d(a->pv, b->pv);
    if (c) return c;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int cmp_rows(const void *x, const void *y)
{
    const rowkey *a = x, *b = y;
    if (a->pair != b->pair) return a->pair < b->pair ? -1 : 1;
    for (int j = 0; j < MAX_KEY; j++) {
        int c = cmp_d(a->k[j], b->k[j]);
        if (c) return c;
    }
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int same_key(const rowkey *a, const rowkey *b, int nk)
{
    if (a->pair != b->pair) return 0;
    for (int j = 0; j < nk; j++)
        if (cmp_d(a->k[j], b->k[j]) != 0) return 0;
    return 1;
}

static int need_col(const gr_csv *csv, const char *name, const char *opt)
{
    int j = gr_csv_find(csv, name);
    if (j < 0)
        gr_fail(GR_EINPUT, opt, "column '%s' is not in the header of the CSV", name);
    return j;
}

/* ---- building the plan (rank 0) ---- */

/* The state of build_plan on rank 0: the CSV, the columns the options name, the codes of its string
 * columns and the panel's row order. Freed by build_free. */
typedef struct {
    const import_opts *o;
    int structured;       /* --exporter and --importer given */
    gr_csv csv;
    int64_t n;            /* CSV rows */
    int je, ji, jt, jp;   /* CSV columns of --exporter, --importer, --time, --pair (-1: not given) */
    int jk[MAX_KEY], nk;  /* the row key: --time, then the --key columns */
    char ***lab;          /* labels of each string column (NULL for numeric ones) */
    int *nlab;
    int32_t **code;       /* label code of each string column's rows, -1 = missing */
    char **city;          /* sorted distinct exporters and importers (point into the CSV) */
    int ncity;
    int64_t *order;       /* the CSV row of each panel row */
    int32_t *pair_of;     /* the pair id of each CSV row (structured) */
    int keyed;            /* the row key identifies the rows (structured): recorded as row_key */
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
    free(b->city);
    free(b->order);
    free(b->pair_of);
    gr_csv_free(&b->csv);
}

/* Numeric value of CSV column j at row i; for string columns the label code (NaN when missing). */
static double csv_value(const import_build *b, int j, int64_t i)
{
    if (!b->csv.is_string[j])
        return b->csv.num[j][i];
    return b->code[j][i] < 0 ? NAN : (double)b->code[j][i];
}

/* Rank 0: read the CSV (--string columns, and the exporter and importer columns, as strings). */
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
    int st = gr_csv_read(o->in, o->delim, force, nf, &b->csv);
    free(force);
    if (st)
        return st;
    b->n = b->csv.nrows;
    if (b->n > INT_MAX)
        return gr_fail(GR_EINPUT, o->in, "%lld rows; at most %d supported", (long long)b->n, INT_MAX);
    return GR_OK;
}

/* Rank 0: the CSV columns the options name (GR_EINPUT naming the option for one that is not in the
 * header) and the row key: --time, then the --key columns not already in it. */
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
    return GR_OK;
}

/* Rank 0: labels (sorted distinct values) and codes of every string column; the exporter and importer
 * columns share the city labels, and a missing city is an error naming its line. */
static int encode_strings(import_build *b)
{
    const import_opts *o = b->o;
    const gr_csv *csv = &b->csv;
    int nc = csv->ncols, st;
    b->lab = gr_calloc(nc, sizeof *b->lab);
    b->nlab = gr_calloc(nc, sizeof *b->nlab);
    b->code = gr_calloc(nc, sizeof *b->code);
    if (b->structured) {
        for (int64_t i = 0; i < b->n; i++)
            for (int s = 0; s < 2; s++)
                if (!csv->str[s ? b->ji : b->je][i]) {
                    char lw[4200];
                    snprintf(lw, sizeof lw, "%s:%lld", o->in, (long long)csv->line[i]);
                    return gr_fail(GR_EINPUT, lw, "column '%s': missing %s city", csv->names[s ? b->ji : b->je],
                                   s ? "importer" : "exporter");
                }
        if ((st = distinct(csv->str[b->je], csv->str[b->ji], b->n, "--exporter/--importer", &b->city, &b->ncity)))
            return st;
    }
    for (int j = 0; j < nc; j++) {
        if (!csv->is_string[j])
            continue;
        if (j == b->je || j == b->ji) {
            b->lab[j] = dup_labels(b->city, b->ncity);
            b->nlab[j] = b->ncity;
        } else {
            char **d, lw[4200];
            snprintf(lw, sizeof lw, "%s: column '%s'", o->in, csv->names[j]);
            if ((st = distinct(csv->str[j], NULL, b->n, lw, &d, &b->nlab[j])))
                return st;
            b->lab[j] = dup_labels(d, b->nlab[j]);
            free(d);
        }
        b->code[j] = encode(csv->str[j], b->n, b->lab[j], b->nlab[j]);
    }
    return GR_OK;
}

/* Rank 0 (structured): the pairs, i.e. the distinct (exporter, importer[, --pair value]) in sorted order:
 * the pair id of every CSV row in b->pair_of, and each pair's exporter, importer and --pair value in
 * pe, pi, pv (*npairs of each; the caller frees them). GR_EINPUT naming the line of a missing --pair. */
static int assign_pairs(import_build *b, double **pe, double **pi, double **pv, int64_t *npairs)
{
    int64_t n = b->n, np = 0;
    rowkey *rk = gr_calloc((size_t)n, sizeof *rk);
    for (int64_t i = 0; i < n; i++) {
        rk[i].exp = b->code[b->je][i];
        rk[i].imp = b->code[b->ji][i];
        rk[i].pv = b->jp >= 0 ? csv_value(b, b->jp, i) : 0;
        rk[i].idx = i;
        if (b->jp >= 0 && isnan(rk[i].pv)) {
            char lw[4200];
            snprintf(lw, sizeof lw, "%s:%lld", b->o->in, (long long)b->csv.line[i]);
            free(rk);
            return gr_fail(GR_EINPUT, lw, "column '%s': missing pair id", b->csv.names[b->jp]);
        }
    }
    qsort(rk, (size_t)n, sizeof *rk, cmp_pair_def);
    b->pair_of = gr_malloc((size_t)n, sizeof *b->pair_of);
    *pe = gr_malloc((size_t)n, sizeof **pe);
    *pi = gr_malloc((size_t)n, sizeof **pi);
    *pv = gr_malloc((size_t)n, sizeof **pv);
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || rk[i].exp != rk[i - 1].exp || rk[i].imp != rk[i - 1].imp || cmp_d(rk[i].pv, rk[i - 1].pv) != 0) {
            (*pe)[np] = rk[i].exp;
            (*pi)[np] = rk[i].imp;
            (*pv)[np] = rk[i].pv;
            np++;
        }
        b->pair_of[rk[i].idx] = (int32_t)(np - 1);
    }
    free(rk);
    *npairs = np;
    return GR_OK;
}

/* Rank 0: CSV column j of row r as text for a message: the field as read ("NA" when missing). */
static void field_text(const import_build *b, int j, int64_t r, char *buf, size_t len)
{
    if (b->csv.is_string[j])
        snprintf(buf, len, "%.60s", b->csv.str[j][r] ? b->csv.str[j][r] : "NA");
    else if (isnan(b->csv.num[j][r]))
        snprintf(buf, len, "NA");
    else
        snprintf(buf, len, "%.17g", b->csv.num[j][r]);
}

/* Rank 0: GR_EINPUT for the first row of the CSV (by line) that repeats the pair and row key of an earlier
 * one, rows rk[i - 1] and rk[i] (same pair and key, sorted): "<csv>:<line>: duplicate row: same pair and
 * key columns as line <line> (pair A -> B, year 2001)". */
static int duplicate_error(const import_build *b, const rowkey *rk, int64_t i)
{
    char what[1024], key[1024], v[80];
    int64_t r = rk[i].idx, r0 = rk[i - 1].idx;
    size_t lv = (size_t)snprintf(what, sizeof what, "pair %.60s -> %.60s", b->csv.str[b->je][r], b->csv.str[b->ji][r]);
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
    snprintf(lw, sizeof lw, "%s:%lld", b->o->in, (long long)b->csv.line[r]);
    return gr_fail(GR_EINPUT, lw, "duplicate row: same pair and key columns as line %lld (%s): (%s) must "
                   "identify a row", (long long)b->csv.line[r0], what, key);
}

/* Rank 0 (structured): the panel's row order in b->order: by pair, then the row key, then CSV order.
 * Two rows with the same pair and row key (--time, --key) are an error naming the first such row of the
 * CSV, its pair and key and both lines (duplicate_error); the key is then recorded as row_key. */
static int order_rows(import_build *b)
{
    int64_t n = b->n, first = -1;
    rowkey *rk = gr_calloc((size_t)n, sizeof *rk);
    for (int64_t r = 0; r < n; r++) {
        rk[r].idx = r;
        rk[r].pair = b->pair_of[r];
        for (int m = 0; m < MAX_KEY; m++)
            rk[r].k[m] = m < b->nk ? csv_value(b, b->jk[m], r) : 0;
    }
    qsort(rk, (size_t)n, sizeof *rk, cmp_rows);
    b->keyed = b->nk > 0;
    /* the duplicate with the lowest line: rows of one key sort by line, so it follows its first row */
    for (int64_t i = 1; i < n && b->keyed; i++)
        if (same_key(&rk[i], &rk[i - 1], b->nk) && (first < 0 || rk[i].idx < rk[first].idx))
            first = i;
    if (first >= 0) {
        int st = duplicate_error(b, rk, first);
        free(rk);
        return st;
    }
    for (int64_t i = 0; i < n; i++)
        b->order[i] = rk[i].idx;
    free(rk);
    return GR_OK;
}

/* Rank 0 (structured): the /cities and /pairs tables, the exporter index, the panel's pair column and
 * the attributes that describe the structure. Takes pe, pi and pv (npairs values each). */
static void add_structure(const import_build *b, plan *p, double *pe, double *pi, double *pv, int64_t npairs)
{
    const import_opts *o = b->o;
    const gr_csv *csv = &b->csv;
    int ncity = b->ncity, jp = b->jp;
    double *cid = gr_malloc((size_t)ncity, sizeof *cid), *cname = gr_malloc((size_t)ncity, sizeof *cname);
    for (int k = 0; k < ncity; k++)
        cid[k] = cname[k] = k;
    p->cities.nrows = ncity;
    p->pairs.nrows = npairs;
    gr_table_add(&p->cities, "city", cid, 1, NULL, 0);
    gr_table_add(&p->cities, "name", cname, 1, dup_labels(b->city, ncity), ncity);
    double *pid = gr_malloc((size_t)npairs, sizeof *pid);
    for (int64_t k = 0; k < npairs; k++)
        pid[k] = (double)k;
    gr_table_add(&p->pairs, "pair", pid, 1, NULL, 0);
    gr_table_add(&p->pairs, "exporter", gr_realloc(pe, npairs, sizeof *pe), 1, NULL, 0);
    gr_table_add(&p->pairs, "importer", gr_realloc(pi, npairs, sizeof *pi), 1, NULL, 0);
    if (jp >= 0 && strcmp(csv->names[jp], "pair") && strcmp(csv->names[jp], "exporter") &&
        strcmp(csv->names[jp], "importer"))
        gr_table_add(&p->pairs, csv->names[jp], gr_realloc(pv, npairs, sizeof *pv), csv->is_string[jp],
                     csv->is_string[jp] ? dup_labels(b->lab[jp], b->nlab[jp]) : NULL, b->nlab[jp]);
    else
        free(pv);
    p->n_exp = ncity;
    p->offsets = gr_calloc((size_t)ncity + 1, sizeof *p->offsets);
    for (int64_t i = 0; i < b->n; i++)
        p->offsets[b->code[b->je][i] + 1]++;
    for (int k = 0; k < ncity; k++)
        p->offsets[k + 1] += p->offsets[k];

    int32_t *pc = gr_malloc((size_t)b->n, sizeof *pc);
    for (int64_t i = 0; i < b->n; i++)
        pc[i] = b->pair_of[b->order[i]];
    plan_add(p, "pair", 1, NULL, pc, NULL, 0);

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

/* Rank 0 (structured): pairs, row order and tables (assign_pairs, order_rows, add_structure). */
static int build_structure(import_build *b, plan *p)
{
    double *pe = NULL, *pi = NULL, *pv = NULL;
    int64_t npairs = 0;
    int st = assign_pairs(b, &pe, &pi, &pv, &npairs);
    if (!st)
        st = order_rows(b);
    if (st) {
        free(pe);
        free(pi);
        free(pv);
        return st;
    }
    add_structure(b, p, pe, pi, pv, npairs);
    return GR_OK;
}

/* Rank 0: the panel columns in CSV order, rows in b->order; string columns as codes with their labels
 * (which move to the plan). */
static void add_panel_columns(import_build *b, plan *p)
{
    const gr_csv *csv = &b->csv;
    int64_t n = b->n;
    for (int j = 0; j < csv->ncols; j++) {
        if (csv->is_string[j]) {
            int32_t *v = gr_malloc((size_t)n, sizeof *v);
            for (int64_t i = 0; i < n; i++)
                v[i] = b->code[j][b->order[i]];
            plan_add(p, csv->names[j], 1, NULL, v, b->lab[j], b->nlab[j]);
            b->lab[j] = NULL;
        } else {
            double *v = gr_malloc((size_t)n, sizeof *v);
            for (int64_t i = 0; i < n; i++)
                v[i] = csv->num[j][b->order[i]];
            plan_add(p, csv->names[j], 0, v, NULL, NULL, 0);
        }
    }
}

/* Rank 0: parse the CSV and build every column of the plan: read_csv, find_columns, encode_strings, then
 * for a structured import build_structure (pairs, row order, tables), then the panel columns. */
static int build_plan(const import_opts *o, plan *p)
{
    import_build b;
    memset(&b, 0, sizeof b);
    b.o = o;
    b.structured = o->exp_col != NULL;
    int st = read_csv(&b);
    if (!st)
        st = find_columns(&b);
    if (!st)
        st = encode_strings(&b);
    if (!st) {
        b.order = gr_malloc((size_t)(b.n ? b.n : 1), sizeof *b.order);
        p->nrows = b.n;
        if (b.structured) {
            st = build_structure(&b, p);
        } else {
            for (int64_t i = 0; i < b.n; i++)
                b.order[i] = i;
        }
    }
    if (!st) {
        if (o->time_col)
            plan_attr(p, "time_column", o->time_col);
        plan_attr(p, "source", o->in);
        if (o->first_month)
            plan_attr(p, "first_month", o->first_month);
        add_panel_columns(&b, p);
    }
    build_free(&b);
    return st;
}

/* ---- broadcasting the plan ---- */

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

static void bcast_strs(char ***l, int *n, MPI_Comm comm)
{
    int rank, has;
    MPI_Comm_rank(comm, &rank);
    has = rank == 0 ? *l != NULL : 0;
    MPI_Bcast(&has, 1, MPI_INT, 0, comm);
    MPI_Bcast(n, 1, MPI_INT, 0, comm);
    if (!has) {
        if (rank)
            *l = NULL;
        return;
    }
    if (rank != 0)
        *l = gr_calloc((size_t)(*n ? *n : 1), sizeof **l);
    for (int k = 0; k < *n; k++)
        bcast_str(&(*l)[k], comm);
}

/* Collective: rank 0's table /<name_of_table> to every rank. The row count, the count of each column's
 * broadcast, is checked (gr_int_count) and agreed before the first column is sent. */
static int bcast_table(gr_table *t, const char *name_of_table, MPI_Comm comm)
{
    int rank, ncols = t->ncols, nr;
    int64_t nrows = t->nrows;
    MPI_Comm_rank(comm, &rank);
    MPI_Bcast(&ncols, 1, MPI_INT, 0, comm);
    MPI_Bcast(&nrows, 1, MPI_INT64_T, 0, comm);
    char what[64];
    snprintf(what, sizeof what, "rows of the /%s table", name_of_table);
    int st = gr_agree(comm, gr_int_count(nrows, what, &nr));
    if (st)
        return st;
    if (rank != 0)
        memset(t, 0, sizeof *t);
    for (int c = 0; c < ncols; c++) {
        char *name = rank == 0 ? t->names[c] : NULL;
        int is_int = rank == 0 ? t->is_int[c] : 0, nl = rank == 0 ? t->nlabels[c] : 0;
        char **labels = rank == 0 ? t->labels[c] : NULL;
        double *v = rank == 0 ? t->cols[c] : gr_malloc((size_t)(nrows ? nrows : 1), sizeof *v);
        bcast_str(&name, comm);
        MPI_Bcast(&is_int, 1, MPI_INT, 0, comm);
        bcast_strs(&labels, &nl, comm);
        MPI_Bcast(v, nr, MPI_DOUBLE, 0, comm);
        if (rank != 0) {
            t->nrows = nrows;
            gr_table_add(t, name, v, is_int, labels, nl);
            free(name);
        }
    }
    return GR_OK;
}

/* Collective: the plan's metadata, tables and exporter offsets from rank 0 to every rank (the panel
 * columns stay on rank 0; write_plan scatters them). Returns the agreed status. */
static int bcast_plan(plan *p, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    int ncols = p->ncols;
    MPI_Bcast(&p->nrows, 1, MPI_INT64_T, 0, comm);
    MPI_Bcast(&ncols, 1, MPI_INT, 0, comm);
    for (int c = 0; c < ncols; c++) {
        char *name = rank == 0 ? p->names[c] : NULL;
        int is_int = rank == 0 ? p->is_int[c] : 0, nl = rank == 0 ? p->nlabels[c] : 0;
        char **labels = rank == 0 ? p->labels[c] : NULL;
        bcast_str(&name, comm);
        MPI_Bcast(&is_int, 1, MPI_INT, 0, comm);
        bcast_strs(&labels, &nl, comm);
        if (rank != 0) {
            plan_add(p, name, is_int, NULL, NULL, labels, nl);
            free(name);
        }
    }
    int st = bcast_table(&p->cities, "cities", comm);
    if (!st)
        st = bcast_table(&p->pairs, "pairs", comm);
    if (st)
        return st;
    MPI_Bcast(&p->n_exp, 1, MPI_INT, 0, comm);
    if (rank != 0 && p->n_exp > 0)
        p->offsets = gr_malloc((size_t)p->n_exp + 1, sizeof *p->offsets);
    if (p->n_exp > 0)
        MPI_Bcast(p->offsets, p->n_exp + 1, MPI_INT64_T, 0, comm);
    int na = p->nattr;
    MPI_Bcast(&na, 1, MPI_INT, 0, comm);
    for (int a = 0; a < na; a++) {
        char *name = rank == 0 ? p->attr_name[a] : NULL, *value = rank == 0 ? p->attr_value[a] : NULL;
        bcast_str(&name, comm);
        bcast_str(&value, comm);
        if (rank != 0) {
            plan_attr(p, name, value);
            free(name);
            free(value);
        }
    }
    return GR_OK;
}

/* Collective: write the plan; rank r gets rows [begin, begin+count) by scatter from rank 0. */
static int write_plan(plan *p, const import_opts *o, MPI_Comm comm)
{
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    int64_t begin, count;
    if (p->n_exp > 0) {
        int eb, ee;
        gr_partition_exporters(p->n_exp, p->offsets, rank, nranks, &eb, &ee);
        begin = p->offsets[eb];
        count = p->offsets[ee] - begin;
    } else {
        begin = p->nrows * rank / nranks;
        count = p->nrows * (rank + 1) / nranks - begin;
    }
    /* the scatter takes int counts and displacements: checked on every rank, agreed before it */
    int mine = 0, mb = 0;
    int st = gr_int_count(count, "rows on this rank", &mine);
    if (!st)
        st = gr_int_count(begin, "first row of this rank", &mb);
    if ((st = gr_agree(comm, st)))
        return st;
    int *counts = gr_malloc((size_t)nranks, sizeof *counts), *displs = gr_malloc((size_t)nranks, sizeof *displs);
    MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm);
    MPI_Allgather(&mb, 1, MPI_INT, displs, 1, MPI_INT, comm);

    gr_writer w;
    st = gr_writer_open(comm, o->out, &w);
    if (st) {
        free(counts);
        free(displs);
        return st;
    }
    st = gr_writer_panel_layout(&w, p->nrows, begin, count);
    void *buf = gr_malloc((size_t)(count ? count : 1), sizeof(double));
    for (int c = 0; c < p->ncols && !st; c++) {
        if (p->is_int[c]) {
            MPI_Scatterv(rank == 0 ? p->icol[c] : NULL, counts, displs, MPI_INT32_T, buf, mine, MPI_INT32_T, 0, comm);
            st = gr_writer_panel_int(&w, p->names[c], buf);
        } else {
            MPI_Scatterv(rank == 0 ? p->dcol[c] : NULL, counts, displs, MPI_DOUBLE, buf, mine, MPI_DOUBLE, 0, comm);
            st = gr_writer_panel_double(&w, p->names[c], buf);
        }
        if (!st && p->labels[c])
            st = gr_writer_labels(&w, "panel", p->names[c], p->labels[c], p->nlabels[c]);
    }
    free(buf);
    free(counts);
    free(displs);
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
    if (!o->exp_col && (o->pair_col || o->key.n))
        return gr_fail(GR_EUSAGE, o->pair_col ? "--pair" : "--key", "needs --exporter and --importer");
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
        if (rank == 0)
            st = build_plan(&o, &p);
        st = gr_agree(comm, st); /* a parse failure releases every rank here */
        if (!st) {
            st = bcast_plan(&p, comm);
            if (!st)
                st = write_plan(&p, &o, comm);
        }
        if (!st && rank == 0 && !gr_quiet)
            printf("imported %lld rows, %d columns, %lld cities, %lld pairs from %s into %s (%.2f s)\n",
                   (long long)p.nrows, p.ncols, (long long)p.cities.nrows, (long long)p.pairs.nrows, o.in, o.out,
                   gr_now() - t0);
    }
    st = gr_stdout_agree(comm, st); /* the summary line reached standard output */
    if (is_input)
        gr_input_remove(o.in);
    plan_free(&p);
    gr_opts_free(&s);
    return gr_report(st);
}
