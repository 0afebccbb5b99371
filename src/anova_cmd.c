/* anova_cmd.c: `gravrd anova`, one-way analysis of variance of one or more outcomes by a group column of
 * a CSV or a panel (the companion urban-rural study): group counts, means and standard deviations, the
 * between / within / total sums of squares, degrees of freedom, mean squares, F and its p-value
 * (docs/companion.md). Rank 0 computes (smalldata.h). */
#include "cleanup.h"
#include "commands.h"
#include "opts.h"
#include "smalldata.h"
#include <cjson/cJSON.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANOVA_MAX_GROUPS 1000
#define ANOVA_MAX_Y 64

typedef struct anova_opts {
    const char *csv, *data, *where, *delimiter, *group, *json;
    gr_opt_list y;
    int quiet;
    char delim;
} anova_opts;

static const gr_opt anova_table[] = {
    {.name = "csv", .kind = GR_OPT_STRING, GR_OPT_AT(anova_opts, csv), .metavar = "FILE.csv",
     .help = "read the columns from a CSV file (header line; exactly one of --csv and --data)"},
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(anova_opts, data), .metavar = "FILE.h5",
     .help = "read the columns from a panel file (column expressions allowed)"},
    {.name = "delimiter", .kind = GR_OPT_STRING, GR_OPT_AT(anova_opts, delimiter), .metavar = "C",
     .help = "CSV field separator, one character; 'tab' for a tab", .def = ","},
    {.name = "where", .kind = GR_OPT_STRING, GR_OPT_AT(anova_opts, where), .metavar = "EXPR",
     .help = "panel only: keep rows where EXPR is true"},
    {.name = "y", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(anova_opts, y), .metavar = "COL",
     .help = "outcome(s): one table each (comma-separated or repeated)",
     .flags = GR_OPT_REQUIRED | GR_OPT_COMMA | GR_OPT_REPEAT | GR_OPT_UNIQUE, .max = ANOVA_MAX_Y},
    {.name = "group", .kind = GR_OPT_STRING, GR_OPT_AT(anova_opts, group), .metavar = "COL",
     .help = "the grouping column (text or numbers; at most 1000 groups)", .flags = GR_OPT_REQUIRED},
    {.name = "json", .kind = GR_OPT_STRING, GR_OPT_AT(anova_opts, json), .metavar = "FILE|-",
     .help = "also write the results as JSON (to stdout with '-', then no table)"},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(anova_opts, quiet), .help = "no warnings"},
    {0}};

static const gr_opts_cmd anova_cmd = {
    "anova",
    "One-way analysis of variance of each --y by --group: group counts, means and standard deviations;\n"
    "between, within and total sums of squares, degrees of freedom, mean squares, F and its p-value\n"
    "(as R's aov). See docs/companion.md.",
    anova_table, "For each --y, rows with a missing value of it or of --group are dropped and counted.", 0};

/* The checks of option combinations; identical on every rank. */
static int check_opts(anova_opts *o)
{
    if (!o->csv == !o->data) return gr_fail(GR_EUSAGE, "anova", "give exactly one of --csv FILE.csv and --data FILE.h5");
    if (o->where && !o->data) return gr_fail(GR_EUSAGE, "--where", "needs --data (a panel); filter a CSV beforehand");
    const char *d = o->delimiter;
    if (!strcmp(d, "tab") || !strcmp(d, "\\t")) o->delim = '\t';
    else if (strlen(d) == 1 && !strchr("\"\n\r", d[0])) o->delim = d[0];
    else return gr_fail(GR_EUSAGE, "--delimiter", "expected one character other than a quote or a line end (or 'tab'), "
                        "got '%s'", d);
    for (int t = 0; t < o->y.n; t++)
        if (!strcmp(o->y.str[t], o->group)) return gr_fail(GR_EUSAGE, "--y", "'%s' is also --group", o->group);
    gr_quiet |= o->quiet;
    return GR_OK;
}

/* One table: an outcome's groups and sums of squares. */
typedef struct anova_tab {
    const char *y;
    int64_t n, dropped;
    int ng;
    char **label;           /* ng group labels (owned) */
    int64_t *count;
    double *mean, *sd;      /* sd NaN for a group of one */
    double ssb, ssw, sst, f, p;
} anova_tab;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The label of group value v: the column's label, or the number (shortest text that reads back exactly). */
static char *group_label(const gr_small_col *g, double v)
{
    char buf[64];
    if (g->labels) return gr_strdup(v >= 0 && v < g->nlabels ? g->labels[(int)v] : "?");  /* v is a code < nlabels */
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    return gr_strdup(buf);
}

/* The distinct group values of g[0..n-1] into *val (sorted numerically; by label for a text column). */
static int distinct_groups(const gr_small_col *gc, int64_t n, const double *g, double **val, int *ng)
{
    double *s = gr_malloc((size_t)n, sizeof *s);
    memcpy(s, g, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || s[i] != s[k - 1]) s[k++] = s[i];
    if (k > ANOVA_MAX_GROUPS) {
        free(s);
        return gr_fail(GR_EINPUT, "--group", "'%s' has %lld distinct values; at most %d groups", gc->name, (long long)k,
                       ANOVA_MAX_GROUPS);
    }
    if (gc->labels)  /* text: order by label, byte by byte (insertion sort; k <= 1000) */
        for (int64_t a = 1; a < k; a++)
            for (int64_t b = a; b > 0 && strcmp(gc->labels[(int)s[b]], gc->labels[(int)s[b - 1]]) < 0; b--) {
                double t = s[b]; s[b] = s[b - 1]; s[b - 1] = t;
            }
    *val = s;
    *ng = (int)k;  /* <= ANOVA_MAX_GROUPS */
    return GR_OK;
}

static int group_of(const double *val, int ng, double v)
{
    for (int k = 0; k < ng; k++)
        if (val[k] == v) return k;
    return -1;  /* not reached: every value is one of val */
}

/* Group counts, means and standard deviations; the three sums of squares (two passes). */
static void sums(anova_tab *t, int64_t n, const double *g, const double *y, const double *val)
{
    int *gi = gr_malloc((size_t)n, sizeof *gi);
    double grand = 0, *ss = gr_calloc((size_t)t->ng, sizeof *ss);
    for (int64_t i = 0; i < n; i++) {
        gi[i] = group_of(val, t->ng, g[i]);
        t->count[gi[i]]++;
        t->mean[gi[i]] += y[i];
        grand += y[i];
    }
    grand /= (double)n;
    for (int k = 0; k < t->ng; k++) t->mean[k] /= (double)t->count[k];
    for (int64_t i = 0; i < n; i++) {
        double e = y[i] - t->mean[gi[i]];
        ss[gi[i]] += e * e;
        t->sst += (y[i] - grand) * (y[i] - grand);
    }
    for (int k = 0; k < t->ng; k++) {
        t->ssw += ss[k];
        t->ssb += (double)t->count[k] * (t->mean[k] - grand) * (t->mean[k] - grand);
        t->sd[k] = t->count[k] > 1 ? sqrt(ss[k] / (double)(t->count[k] - 1)) : NAN;
    }
    free(gi);
    free(ss);
}

/* Rank 0: the table of outcome column yc (index in the loaded data; column 0 is the group). */
static int one_table(const gr_small *in, int yc, anova_tab *t)
{
    double *v[2];
    int cols[2] = {0, yc}, rc = GR_OK;
    double *val = NULL;
    t->y = in->col[yc].name;
    t->n = gr_small_complete(in, 2, cols, v);
    t->dropped = in->n - t->n;
    if (t->n < 1) {
        rc = gr_fail(GR_EINPUT, t->y, "no row of %s has both it and '%s'", in->source, in->col[0].name);
        goto done;
    }
    GR_TRY(distinct_groups(&in->col[0], t->n, v[0], &val, &t->ng));
    t->label = gr_malloc((size_t)t->ng, sizeof *t->label);
    for (int k = 0; k < t->ng; k++) t->label[k] = group_label(&in->col[0], val[k]);
    if (t->ng < 2) {
        rc = gr_fail(GR_EINPUT, "--group", "only one group ('%s') among the %lld rows with a value of '%s': one-way "
                     "ANOVA needs at least 2", t->label[0], (long long)t->n, t->y);
        goto done;
    }
    if (t->n - t->ng < 1) {
        rc = gr_fail(GR_EINPUT, t->y, "%lld rows in %d groups leave no residual degree of freedom (more rows than "
                     "groups needed)", (long long)t->n, t->ng);
        goto done;
    }
    t->count = gr_calloc((size_t)t->ng, sizeof *t->count);
    t->mean = gr_calloc((size_t)t->ng, sizeof *t->mean);
    t->sd = gr_calloc((size_t)t->ng, sizeof *t->sd);
    sums(t, t->n, v[0], v[1], val);
    if (!isfinite(t->ssw) || !isfinite(t->sst)) {
        rc = gr_fail(GR_EINPUT, t->y, "its sums of squares are not finite (values too large for double precision): "
                     "rescale it");
        goto done;
    }
    if (!(t->ssw > 1e-28 * t->sst) || !(t->ssw > 0)) {
        rc = gr_fail(GR_EINPUT, t->y, "no variation within the groups of '%s' (within-group sum of squares %g; or "
                     "values too small to square in double precision): F is not defined", in->col[0].name, t->ssw);
        goto done;
    }
    double dfb = t->ng - 1, dfw = (double)(t->n - t->ng);
    t->f = (t->ssb / dfb) / (t->ssw / dfw);
    t->p = gsl_cdf_fdist_Q(t->f, dfb, dfw);
fail:
done:
    free(val);
    free(v[0]);
    free(v[1]);
    return rc;
}

static void tab_free(anova_tab *t)
{
    for (int k = 0; t->label && k < t->ng; k++) free(t->label[k]);
    free(t->label);
    free(t->count);
    free(t->mean);
    free(t->sd);
}

static void print_tab(const gr_small *in, const anova_tab *t)
{
    int w = 10;
    for (int k = 0; k < t->ng; k++) w = (int)strlen(t->label[k]) > w ? (int)strlen(t->label[k]) : w;
    double dfb = t->ng - 1, dfw = (double)(t->n - t->ng);
    printf("gravrd anova: %s by %s; %lld rows of %s (%lld dropped for missing values)\n", t->y, in->col[0].name,
           (long long)t->n, in->source, (long long)t->dropped);
    printf("%-*s %10s %14s %14s\n", w, "group", "n", "mean", "sd");
    for (int k = 0; k < t->ng; k++) {
        printf("%-*s %10lld %14.6g ", w, t->label[k], (long long)t->count[k], t->mean[k]);
        if (isnan(t->sd[k])) printf("%14s\n", "-");
        else printf("%14.6g\n", t->sd[k]);
    }
    printf("%-10s %16s %8s %16s %12s %12s\n", "source", "sum of sq.", "df", "mean sq.", "F", "p");
    printf("%-10s %16.8g %8.0f %16.8g %12.6g %12.4g\n", "between", t->ssb, dfb, t->ssb / dfb, t->f, t->p);
    printf("%-10s %16.8g %8.0f %16.8g\n", "within", t->ssw, dfw, t->ssw / dfw);
    printf("%-10s %16.8g %8.0f\n", "total", t->sst, (double)(t->n - 1));
    printf("eta squared (between / total): %.6g\n\n", t->ssb / t->sst);
}

static void add_num(cJSON *j, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
    else cJSON_AddNullToObject(j, key);
}

static cJSON *tab_json(const anova_tab *t)
{
    cJSON *j = cJSON_CreateObject(), *gs, *b, *w, *tot;
    double dfb = t->ng - 1, dfw = (double)(t->n - t->ng);
    cJSON_AddStringToObject(j, "y", t->y);
    add_num(j, "nobs", (double)t->n);
    add_num(j, "n_dropped_missing", (double)t->dropped);
    gs = cJSON_AddArrayToObject(j, "groups");
    for (int k = 0; k < t->ng; k++) {
        cJSON *g = cJSON_CreateObject();
        cJSON_AddStringToObject(g, "group", t->label[k]);
        add_num(g, "n", (double)t->count[k]);
        add_num(g, "mean", t->mean[k]);
        add_num(g, "sd", t->sd[k]);
        cJSON_AddItemToArray(gs, g);
    }
    b = cJSON_AddObjectToObject(j, "between");
    add_num(b, "ss", t->ssb); add_num(b, "df", dfb); add_num(b, "ms", t->ssb / dfb);
    add_num(b, "f_stat", t->f); add_num(b, "p_value", t->p);
    w = cJSON_AddObjectToObject(j, "within");
    add_num(w, "ss", t->ssw); add_num(w, "df", dfw); add_num(w, "ms", t->ssw / dfw);
    tot = cJSON_AddObjectToObject(j, "total");
    add_num(tot, "ss", t->sst); add_num(tot, "df", (double)(t->n - 1));
    add_num(j, "eta_squared", t->ssb / t->sst);
    return j;
}

static int write_json(const anova_opts *o, const gr_opts *s, const gr_small *in, const anova_tab *t, MPI_Comm comm)
{
    cJSON *doc = cJSON_CreateObject(), *a;
    cJSON_AddStringToObject(doc, "command", "anova");
    cJSON_AddStringToObject(doc, "source", in->source);
    cJSON_AddStringToObject(doc, "group", o->group);
    a = cJSON_AddArrayToObject(doc, "tables");
    for (int k = 0; k < o->y.n; k++) cJSON_AddItemToArray(a, tab_json(&t[k]));
    cJSON_AddItemToObject(doc, "provenance", gr_opts_provenance(s, comm));
    char *text = cJSON_Print(doc);
    int st = text ? gr_write_text(o->json, text) : gr_fail(GR_ENOMEM, "--json", "cannot format the results");
    free(text);
    cJSON_Delete(doc);
    return st;
}

/* Rank 0: every table, then the outputs (nothing is printed unless every table could be made). */
static int run_rank0(const anova_opts *o, const gr_opts *s, const gr_small *in, MPI_Comm comm)
{
    anova_tab *t = gr_calloc((size_t)o->y.n, sizeof *t);
    int rc = GR_OK;
    for (int k = 0; k < o->y.n; k++) GR_TRY(one_table(in, k + 1, &t[k]));
    for (int k = 0; k < o->y.n; k++)
        for (int g = 0; g < t[k].ng; g++)
            if (t[k].count[g] == 1)
                gr_warn("%s: group '%s' of %s has one row (no standard deviation; it adds nothing within groups)",
                        t[k].y, t[k].label[g], o->group);
    if (!o->json || strcmp(o->json, "-"))
        for (int k = 0; k < o->y.n; k++) print_tab(in, &t[k]);
    fflush(stdout);
    if (o->json) GR_TRY(write_json(o, s, in, t, comm));
fail:
    for (int k = 0; k < o->y.n; k++) tab_free(&t[k]);
    free(t);
    return rc;
}

int cmd_anova(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    anova_opts o;
    gr_opts s;
    int st = gr_opts_parse(&s, &anova_cmd, &o, argc, argv, rank);
    if (st == GR_OPTS_EXIT) { gr_opts_free(&s); return 0; }
    if (st == GR_OK) st = check_opts(&o);
    if (st != GR_OK) {
        gr_opts_free(&s);
        if (rank != 0) gr_clear_error(); /* every rank parsed the same line: print once */
        return gr_report(st);
    }
    if (s.echo && rank == 0) gr_opts_echo(&s, stderr);
    int m = o.y.n + 1;
    const char **names = gr_malloc((size_t)m, sizeof *names), **what = gr_malloc((size_t)m, sizeof *what);
    int *text_ok = gr_calloc((size_t)m, sizeof *text_ok);
    for (int c = 0; c < m; c++) { names[c] = c ? o.y.str[c - 1] : o.group; what[c] = c ? "--y" : "--group"; }
    text_ok[0] = 1;
    gr_small_src src = {.csv = o.csv, .delim = o.delim, .data = o.data, .where = o.where};
    gr_small in;
    st = gr_small_load(comm, &src, m, names, what, text_ok, &in);
    if (st == GR_OK && rank == 0) st = run_rank0(&o, &s, &in, comm);
    st = gr_agree(comm, st);
    gr_small_free(&in);
    free(names);
    free(what);
    free(text_ok);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, st));
}
