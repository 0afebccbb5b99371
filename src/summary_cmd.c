/* summary_cmd.c: `gravrd summary`: summary statistics (observations, mean, SD, min, P25, P50, P75, max) of
 * expressions over the panel, on the rows a --where keeps, one block per --by value, by rows or one value
 * per pair (--level pair). Rows stay on their ranks: sums are reduced, and the quantiles are exact order
 * statistics found by a distributed selection over the ranks' sorted values (docs/summary.md); R's
 * quantile(type = 7) interpolation, sd with n - 1. */
#include "cleanup.h"
#include "commands.h"
#include "frame.h"
#include "opts.h"
#include "panel.h"
#include "report.h"
#include "summary.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUM_MAX_VARS GR_SUMMARY_MAX_VARS
#define SUM_MAX_GROUPS 1000

enum { LEVEL_ROWS = 0, LEVEL_PAIR };
static const gr_opt_word levels[] = {{"rows", LEVEL_ROWS}, {"pair", LEVEL_PAIR}, {NULL, 0}};

typedef struct {
    const char *data, *vars, *where, *by, *json;
    int level, quiet;
} sum_cli;

#define S(f, m, h) .kind = GR_OPT_STRING, GR_OPT_AT(sum_cli, f), .metavar = m, .help = h
static const gr_opt sum_table[] = {
    {.name = "data", S(data, "FILE.h5", "panel file (gravrd format); read only"), .flags = GR_OPT_REQUIRED},
    {.name = "vars", S(vars, "EXPR,...", "variables: column names or expressions (log(trade), exp_gdp - imp_gdp)"),
     .flags = GR_OPT_REQUIRED},
    {.name = "where", S(where, "EXPR", "keep rows where EXPR is true, e.g. 'dir == \"East to west\"'")},
    {.name = "by", S(by, "COL", "one block of statistics per value of the column COL (whole numbers or labels)")},
    {.name = "level", .kind = GR_OPT_CHOICE, GR_OPT_AT(sum_cli, level), .metavar = "L", .words = levels, .def = "rows",
     .help = "rows: every row; pair: one value per pair with a row kept (the variable must not vary within a pair)"},
    {.name = "json", S(json, "FILE|-", "write the statistics as JSON ('-': stdout, which then holds only the JSON)")},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(sum_cli, quiet), .help = "no table, no warnings (errors still printed)"},
    {0}};
#undef S

static const gr_opts_cmd sum_cmd_def = {
    "summary",
    "Summary statistics of each variable on the rows where it is finite: observations, mean, standard\n"
    "deviation (n - 1), min, 25th, 50th and 75th percentiles (exact over all ranks; R's quantile type 7),\n"
    "max. --level pair counts each pair once (pair-level variables: distance_km, partner, migration...).",
    sum_table, "docs/summary.md: the JSON fields, the quantile definition and the distributed selection.", 0};

/* The statistics of one variable in one sample. */
typedef struct {
    int64_t n, missing;
    double mean, sd, min, q[3], max;
} sum_stats;

typedef struct {
    sum_cli cli;
    gr_opts opts;
    int nvars;
    gr_expr *var[SUM_MAX_VARS];
    gr_expr *where, *by;
} sum_cmd;

/* ---------------- the command line ---------------- */

int gr_summary_vars(const char *text, const char *what, int max, gr_expr **out, int *n)
{
    int depth = 0, quote = 0;
    *n = 0;
    for (const char *a = text, *c = text;; c++) {
        if (*c == '"') quote = !quote;
        else if (!quote && *c == '(') depth++;
        else if (!quote && *c == ')') depth--;
        if (*c && (*c != ',' || depth > 0 || quote)) continue;
        size_t len = (size_t)(c - a);
        while (len && (*a == ' ' || *a == '\t')) { a++; len--; }
        if (!len) return gr_fail(GR_EUSAGE, what, "expected a comma-separated list of expressions, got '%s'", text);
        if (*n == max) return gr_fail(GR_EUSAGE, what, "at most %d variables", max);
        char *item = gr_malloc(len + 1, 1);
        memcpy(item, a, len);
        item[len] = 0;
        int rc = gr_expr_parse(item, what, &out[*n]);
        free(item);
        if (rc) return rc;
        (*n)++;
        if (!*c) return GR_OK;
        a = c + 1;
    }
}

/* Local. The options, the variables, --where and --by parsed (the same on every rank). */
static int parse_options(int argc, char **argv, sum_cmd *o, int rank)
{
    int rc = gr_opts_parse(&o->opts, &sum_cmd_def, &o->cli, argc, argv, rank);
    if (rc) return rc;  /* GR_OPTS_EXIT after --help, or a usage error */
    GR_CALL(gr_summary_vars(o->cli.vars, "--vars", SUM_MAX_VARS, o->var, &o->nvars));
    if (o->cli.where) GR_CALL(gr_expr_parse(o->cli.where, "--where", &o->where));
    if (o->cli.by) {
        GR_CALL(gr_expr_parse(o->cli.by, "--by", &o->by));
        if (!gr_expr_is_column(o->by))
            return gr_fail(GR_EUSAGE, "--by", "expected a column name, got '%s'", o->cli.by);
    }
    gr_quiet |= o->cli.quiet;
    return GR_OK;
}

/* ---------------- exact order statistics over the ranks ---------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* First index in v[lo, hi) with v[i] >= x (strict = 0) or v[i] > x (strict = 1). */
static int64_t bound(const double *v, int64_t lo, int64_t hi, double x, int strict)
{
    while (lo < hi) {
        int64_t m = lo + (hi - lo) / 2;
        if (strict ? v[m] <= x : v[m] < x) lo = m + 1;
        else hi = m;
    }
    return lo;
}

/* Collective. The k-th smallest (0-based) of the values of all ranks, each rank's v[0..n) sorted. Each
 * round every rank offers the middle of its active window; the pivot is the weighted median of the offers
 * (weights: window sizes), so at least a quarter of the active values leave every round; counts below and
 * up to the pivot are summed and the windows narrowed. Exact: the answer is one of the values. */
static double select_kth(MPI_Comm comm, const double *v, int64_t n, int64_t k)
{
    int nr;
    MPI_Comm_size(comm, &nr);
    double *offer = gr_malloc((size_t)nr * 2, sizeof *offer);
    int64_t lo = 0, hi = n;
    double answer = NAN;
    for (;;) {
        double mine[2] = {(double)(hi - lo), hi > lo ? v[lo + (hi - lo) / 2] : 0};
        MPI_Allgather(mine, 2, MPI_DOUBLE, offer, 2, MPI_DOUBLE, comm);
        double total = 0, pivot = NAN;
        for (int r = 0; r < nr; r++) total += offer[2 * r];
        for (double below = 0, best = -INFINITY;;) {  /* the weighted median of the offers */
            double next = INFINITY, w = 0;
            for (int r = 0; r < nr; r++)
                if (offer[2 * r] > 0 && offer[2 * r + 1] > best && offer[2 * r + 1] < next) next = offer[2 * r + 1];
            for (int r = 0; r < nr; r++) if (offer[2 * r] > 0 && offer[2 * r + 1] == next) w += offer[2 * r];
            below += w;
            best = next;
            if (2 * below >= total) { pivot = next; break; }
        }
        int64_t lt = bound(v, lo, hi, pivot, 0), le = bound(v, lt, hi, pivot, 1), c[2] = {lt - lo, le - lo};
        MPI_Allreduce(MPI_IN_PLACE, c, 2, MPI_INT64_T, MPI_SUM, comm);
        if (k < c[0]) hi = lt;
        else if (k < c[1]) { answer = pivot; break; }
        else { k -= c[1]; lo = le; }
    }
    free(offer);
    return answer;
}

/* Collective. R's quantile(x, p, type = 7) of the n sorted values over all ranks: h = 1 + (n - 1) p, the
 * order statistics floor(h) and ceiling(h) (1-based), interpolated as R does ((1 - f) x_lo + f x_hi, and
 * x_lo itself when they are equal). */
static double quantile7(MPI_Comm comm, const double *v, int64_t nloc, int64_t n, double p)
{
    double index = 1 + (double)(n - 1) * p, lo = floor(index), hi = ceil(index);
    double qs = select_kth(comm, v, nloc, (int64_t)lo - 1);
    if (hi == lo) return qs;
    double xh = select_kth(comm, v, nloc, (int64_t)hi - 1), h = index - lo;
    return xh != qs ? (1 - h) * qs + h * xh : qs;
}

/* Neumaier's compensated sum: s + c holds the sum to about one rounding of the result. */
typedef struct { double s, c; } ksum;
static void kadd(ksum *k, double x)
{
    double t = k->s + x;
    k->c += fabs(k->s) >= fabs(x) ? (k->s - t) + x : (x - t) + k->s;
    k->s = t;
}

/* Collective. The sum over all ranks of this rank's compensated sum: the ranks' parts added, compensated,
 * in rank order on every rank, so that the result does not depend on the number of ranks beyond a rounding. */
static double ksum_all(MPI_Comm comm, ksum k)
{
    int nr;
    MPI_Comm_size(comm, &nr);
    double *all = gr_malloc((size_t)nr * 2, sizeof *all), mine[2] = {k.s, k.c};
    MPI_Allgather(mine, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, comm);
    ksum t = {0, 0};
    for (int r = 0; r < 2 * nr; r++) kadd(&t, all[r]);
    free(all);
    return t.s + t.c;
}

/* Collective. The statistics of the values v[0..n) of this rank (finite; sorted here). Mean as R's mean
 * (the sum over n, then corrected by the mean residual); SD from the sum of squared deviations over n - 1;
 * every sum compensated (ksum). */
static void stats_of(MPI_Comm comm, double *v, int64_t nloc, int64_t missing, sum_stats *s)
{
    qsort(v, (size_t)nloc, sizeof *v, cmp_double);
    int64_t cnt[2] = {nloc, missing};
    double ext[2] = {nloc ? -v[0] : -INFINITY, nloc ? v[nloc - 1] : -INFINITY};
    MPI_Allreduce(MPI_IN_PLACE, cnt, 2, MPI_INT64_T, MPI_SUM, comm);
    MPI_Allreduce(MPI_IN_PLACE, ext, 2, MPI_DOUBLE, MPI_MAX, comm);
    *s = (sum_stats){.n = cnt[0], .missing = cnt[1], .mean = NAN, .sd = NAN, .min = NAN, .max = NAN,
                     .q = {NAN, NAN, NAN}};
    ksum a = {0, 0}, d = {0, 0}, q = {0, 0};
    for (int64_t i = 0; i < nloc; i++) kadd(&a, v[i]);
    double sum = ksum_all(comm, a);
    if (s->n == 0) return;
    double mean = sum / (double)s->n;
    for (int64_t i = 0; i < nloc; i++) kadd(&d, v[i] - mean);
    s->mean = mean + ksum_all(comm, d) / (double)s->n;
    for (int64_t i = 0; i < nloc; i++) kadd(&q, (v[i] - s->mean) * (v[i] - s->mean));
    double ss = ksum_all(comm, q), sc = 1;
    s->min = -ext[0];
    s->max = ext[1];
    if ((!isfinite(ss) || ss < 1e-290) && s->max > s->min) {  /* squares beyond double's range: scaled by the */
        sc = fmax(fabs(s->max - s->mean), fabs(s->min - s->mean));  /* largest deviation (the same on every rank) */
        q = (ksum){0, 0};
        for (int64_t i = 0; i < nloc; i++) kadd(&q, ((v[i] - s->mean) / sc) * ((v[i] - s->mean) / sc));
        ss = ksum_all(comm, q);
    }
    if (s->n > 1) s->sd = sc * sqrt(ss / (double)(s->n - 1));
    static const double p[3] = {0.25, 0.5, 0.75};
    for (int j = 0; j < 3; j++) s->q[j] = quantile7(comm, v, nloc, s->n, p[j]);
}

/* ---------------- samples and values ---------------- */

/* Collective. The distinct finite values of x[0..n) over all ranks, sorted (*vals, *nvals). A value that
 * is not a whole number, or more than SUM_MAX_GROUPS values, is an error naming --by. */
static int by_values(MPI_Comm comm, const char *col, const double *x, int64_t n, double **vals, int *nvals)
{
    int nr, bad = 0;
    MPI_Comm_size(comm, &nr);
    double *u = gr_malloc((size_t)(n ? n : 1), sizeof *u), badv = 0;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        if (x[i] != floor(x[i]) && !bad) { bad = 1; badv = x[i]; }
        u[m++] = x[i];
    }
    qsort(u, (size_t)m, sizeof *u, cmp_double);
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++) if (!k || u[i] != u[k - 1]) u[k++] = u[i];
    int mine = k > SUM_MAX_GROUPS ? SUM_MAX_GROUPS + 1 : (int)k, *cnt = gr_malloc((size_t)nr, sizeof *cnt),
        *off = gr_malloc((size_t)nr, sizeof *off), total = 0;
    MPI_Allgather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, comm);
    for (int r = 0; r < nr; r++) { off[r] = total; total += cnt[r]; }  /* at most nr * 1001: fits an int */
    double *all = gr_malloc((size_t)(total ? total : 1), sizeof *all);
    MPI_Allgatherv(u, mine, MPI_DOUBLE, all, cnt, off, MPI_DOUBLE, comm);
    free(u); free(cnt); free(off);
    qsort(all, (size_t)total, sizeof *all, cmp_double);
    int d = 0;
    for (int i = 0; i < total; i++) if (!d || all[i] != all[d - 1]) all[d++] = all[i];
    *vals = all;
    *nvals = d;
    int rc = GR_OK;
    if (bad) rc = gr_fail(GR_EINPUT, "--by", "column '%s' has the value %.17g, not a whole number: --by takes a column "
                          "of codes or labels (dir, control_type, month...)", col, badv);
    rc = gr_agree(comm, rc);
    if (!rc && d > SUM_MAX_GROUPS)
        rc = gr_fail(GR_EINPUT, "--by", "column '%s' has more than %d distinct values", col, SUM_MAX_GROUPS);
    if (!rc && d == 0) rc = gr_fail(GR_EINPUT, "--by", "column '%s' has no value on the rows kept", col);
    return rc;
}

/* The label of a sample: "Full sample", "where: ...", or the --by value's label (then "; where: ..."). */
static void sample_label(gr_panel *p, const sum_cmd *o, int has_val, double val, char *buf, size_t len)
{
    int nlab = 0, used = 0;
    if (!has_val) {
        if (o->where) snprintf(buf, len, "where: %s", gr_expr_text(o->where));
        else snprintf(buf, len, "Full sample");
        return;
    }
    char **labs = gr_panel_labels(p, o->cli.by, &nlab);
    if (labs && val >= 0 && val < nlab) used = snprintf(buf, len, "%s", labs[(int)val]);
    else used = snprintf(buf, len, "%s = %.17g", o->cli.by, val);
    if (o->where && used >= 0 && (size_t)used < len) snprintf(buf + used, len - (size_t)used, "; where: %s", gr_expr_text(o->where));
}

/* Local. The values of variable x on the rows of the sample (in[i]) where it is finite, into v (*m of them);
 * *missing: rows (pairs) of the sample where it is not. With pair ids (--level pair), one value per pair:
 * seen[] (one slot per pair, zeroed by the caller) marks the pairs met; a pair whose rows differ is an error.
 * A pair's rows are all on one rank (a panel with a pairs table is partitioned by exporter), so counting
 * each pair once per rank counts it once. */
static int sample_values(const double *x, const unsigned char *in, int64_t n, const double *pair, double *first,
                         unsigned char *seen, const char *name, double *v, int64_t *m, int64_t *missing)
{
    *m = *missing = 0;
    for (int64_t i = 0; i < n; i++) {
        if (in && !in[i]) continue;
        if (pair) {
            int64_t q = (int64_t)pair[i];
            if (seen[q]) {
                if (x[i] != first[q] && !(isnan(x[i]) && isnan(first[q])))
                    return gr_fail(GR_EINPUT, "--level pair", "'%s' varies within pair %lld (%.17g and %.17g): "
                                   "summarize it by rows, or give a pair-level variable", name, (long long)q, first[q], x[i]);
                continue;
            }
            seen[q] = 1;
            first[q] = x[i];
        }
        if (isfinite(x[i])) v[(*m)++] = x[i];
        else (*missing)++;
    }
    return GR_OK;
}

/* ---------------- output ---------------- */

static void add_num(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

/* One result object: sample, variable, level, nobs, missing, mean, sd, min, p25, p50, p75, max. */
static cJSON *stats_json(const char *sample, const char *var, int level, const sum_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "sample", sample);
    cJSON_AddStringToObject(o, "variable", var);
    cJSON_AddStringToObject(o, "level", level == LEVEL_PAIR ? "pair" : "rows");
    cJSON_AddNumberToObject(o, "nobs", (double)s->n);
    cJSON_AddNumberToObject(o, "missing", (double)s->missing);
    add_num(o, "mean", s->mean);
    add_num(o, "sd", s->sd);
    add_num(o, "min", s->min);
    add_num(o, "p25", s->q[0]);
    add_num(o, "p50", s->q[1]);
    add_num(o, "p75", s->q[2]);
    add_num(o, "max", s->max);
    return o;
}

/* A statistic for the printed table: 7 significant digits, "-" when not computable. */
static void cell(char *buf, size_t len, double v)
{
    if (isfinite(v)) snprintf(buf, len, "%.7g", v);
    else snprintf(buf, len, "-");
}

/* Rank 0: the printed table of one sample. */
static void print_sample(const char *sample, const sum_cmd *o, const sum_stats *st, int level)
{
    int w = 8;
    for (int j = 0; j < o->nvars; j++) { int l = (int)strlen(gr_expr_text(o->var[j])); if (l > w) w = l; }
    if (w > 40) w = 40;
    printf("%s (%s)\n%-*s %12s %8s %13s %13s %13s %13s %13s %13s %13s\n", sample,
           level == LEVEL_PAIR ? "one value per pair" : "rows", w, "variable", "N", "missing", "mean", "sd", "min", "p25",
           "p50", "p75", "max");
    for (int j = 0; j < o->nvars; j++) {
        const sum_stats *s = &st[j];
        double vals[7] = {s->mean, s->sd, s->min, s->q[0], s->q[1], s->q[2], s->max};
        printf("%-*.*s %12lld %8lld", w, w, gr_expr_text(o->var[j]), (long long)s->n, (long long)s->missing);
        for (int k = 0; k < 7; k++) { char b[32]; cell(b, sizeof b, vals[k]); printf(" %13s", b); }
        printf("\n");
    }
    printf("\n");
}

/* ---------------- the run ---------------- */

typedef struct {
    double *x[SUM_MAX_VARS];   /* each variable on the frame's rows */
    double *byv, *pair;        /* the --by column, the pair ids (--level pair); NULL when not used */
} sum_cols;

/* Collective. Every column the statistics need, on the frame's rows. */
static int eval_columns(gr_frame *f, const sum_cmd *o, sum_cols *c)
{
    size_t n = (size_t)(f->n ? f->n : 1);
    for (int j = 0; j < o->nvars; j++) {
        c->x[j] = gr_malloc(n, sizeof **c->x);
        GR_CALL(gr_frame_eval(f, o->var[j], "--vars", c->x[j]));
    }
    if (o->by) { c->byv = gr_malloc(n, sizeof *c->byv); GR_CALL(gr_frame_eval(f, o->by, "--by", c->byv)); }
    if (o->cli.level == LEVEL_PAIR) {
        if (!f->p->pair || f->p->pairs.nrows == 0)
            return gr_agree(f->comm, gr_fail(GR_EINPUT, "--level pair", "%s has no pairs table", f->p->path));
        gr_expr *e = NULL;
        GR_CALL(gr_expr_parse("pair", "--level pair", &e));
        c->pair = gr_malloc(n, sizeof *c->pair);
        int rc = gr_frame_eval(f, e, "--level pair", c->pair);
        gr_expr_free(e);
        GR_CALL(rc);
    }
    return GR_OK;
}

/* Collective. The statistics of every variable on the rows in[] (NULL: all) of the frame, into st[]. */
static int sample_stats(gr_frame *f, const sum_cmd *o, const sum_cols *c, const unsigned char *in, sum_stats *st)
{
    int64_t np = f->p->pairs.nrows;
    double *v = gr_malloc((size_t)(f->n ? f->n : 1), sizeof *v), *first = NULL;
    unsigned char *seen = NULL;
    if (c->pair) { first = gr_malloc((size_t)(np ? np : 1), sizeof *first); seen = gr_malloc((size_t)(np ? np : 1), 1); }
    int rc = GR_OK;
    for (int j = 0; j < o->nvars && !rc; j++) {
        int64_t m = 0, missing = 0;
        if (seen) memset(seen, 0, (size_t)np);
        rc = gr_agree(f->comm, sample_values(c->x[j], in, f->n, c->pair, first, seen, gr_expr_text(o->var[j]), v, &m,
                                             &missing));
        if (!rc) stats_of(f->comm, v, m, missing, &st[j]);
    }
    free(v); free(first); free(seen);
    return rc;
}

/* Collective. The samples (the frame, or one per --by value), their statistics, the table and the JSON. */
static int run_samples(gr_frame *f, const sum_cmd *o, const sum_cols *c, cJSON *results)
{
    int rank, nvals = 0, rc = GR_OK;
    MPI_Comm_rank(f->comm, &rank);
    double *vals = NULL;
    if (o->by) GR_CALL(by_values(f->comm, o->cli.by, c->byv, f->n, &vals, &nvals));
    unsigned char *in = o->by ? gr_malloc((size_t)(f->n ? f->n : 1), 1) : NULL;
    sum_stats *st = gr_calloc((size_t)o->nvars, sizeof *st);
    int print = rank == 0 && !gr_quiet && !(o->cli.json && !strcmp(o->cli.json, "-"));
    for (int g = 0; g < (o->by ? nvals : 1) && !rc; g++) {
        for (int64_t i = 0; in && i < f->n; i++) in[i] = c->byv[i] == vals[g];
        rc = sample_stats(f, o, c, in, st);
        if (rc) break;
        char label[4400];
        sample_label(f->p, o, o->by != NULL, o->by ? vals[g] : 0, label, sizeof label);
        if (print) print_sample(label, o, st, o->cli.level);
        for (int j = 0; j < o->nvars; j++) {
            if (rank == 0) cJSON_AddItemToArray(results, stats_json(label, gr_expr_text(o->var[j]), o->cli.level, &st[j]));
            if (rank == 0 && st[j].n == 0)
                gr_warn("'%s' has no finite value in %s: its statistics are not computable", gr_expr_text(o->var[j]), label);
        }
    }
    free(vals); free(in); free(st);
    return rc;
}

/* Rank 0: the JSON document. */
static int write_json(const sum_cmd *o, cJSON *results, MPI_Comm comm)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "summary");
    cJSON_AddStringToObject(root, "data", o->cli.data);
    cJSON_AddItemToObject(root, "where", o->where ? cJSON_CreateString(gr_expr_text(o->where)) : cJSON_CreateNull());
    cJSON_AddItemToObject(root, "by", o->by ? cJSON_CreateString(o->cli.by) : cJSON_CreateNull());
    cJSON_AddStringToObject(root, "level", o->cli.level == LEVEL_PAIR ? "pair" : "rows");
    cJSON_AddNumberToObject(root, "quantile_type", 7);
    cJSON_AddItemToObject(root, "results", cJSON_Duplicate(results, 1));
    cJSON_AddItemToObject(root, "provenance", gr_opts_provenance(&o->opts, comm));
    int rc = gr_write_json(o->cli.json, root);
    cJSON_Delete(root);
    return rc;
}

static int run(MPI_Comm comm, sum_cmd *o)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (o->opts.echo && rank == 0) gr_opts_echo(&o->opts, stderr);
    gr_panel p;
    GR_CALL(gr_panel_open(comm, o->cli.data, &p));
    gr_frame f;
    sum_cols c;
    memset(&f, 0, sizeof f);
    memset(&c, 0, sizeof c);
    cJSON *results = cJSON_CreateArray();
    int rc = GR_OK;
    for (int j = 0; j < o->nvars && !rc; j++) {  /* a text column's values are the codes of its labels */
        int nlab = 0;
        const char *name = gr_expr_text(o->var[j]);
        if (gr_expr_is_column(o->var[j]) && gr_panel_labels(&p, name, &nlab) && nlab > 0)
            rc = gr_fail(GR_EINPUT, "--vars", "'%s' is a text column (%d labels, stored as their codes): it has no "
                         "mean or quantiles; summarise a numeric column, or an expression of it such as "
                         "%s == \"LABEL\"", name, nlab, name);
    }
    rc = gr_agree(comm, rc);
    if (!rc) rc = gr_agree(comm, gr_frame_open(comm, &p, o->where, NULL, &f));
    if (!rc) rc = eval_columns(&f, o, &c);
    if (!rc) rc = run_samples(&f, o, &c, results);
    if (!rc && o->cli.json) rc = gr_agree(comm, rank == 0 ? write_json(o, results, comm) : GR_OK);
    cJSON_Delete(results);
    for (int j = 0; j < o->nvars; j++) free(c.x[j]);
    free(c.byv); free(c.pair);
    gr_frame_free(&f);
    gr_panel_close(&p);
    return rc;
}

int cmd_summary(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    sum_cmd o;
    memset(&o, 0, sizeof o);
    int rc = parse_options(argc, argv, &o, rank);
    if (rc == GR_OPTS_EXIT) rc = GR_OK;
    else {
        rc = gr_agree(comm, rc);
        if (!rc) rc = gr_agree(comm, run(comm, &o));
    }
    for (int j = 0; j < o.nvars; j++) gr_expr_free(o.var[j]);
    gr_expr_free(o.where);
    gr_expr_free(o.by);
    gr_opts_free(&o.opts);
    return gr_report(gr_stdout_agree(comm, rc));
}
