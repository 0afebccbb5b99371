/* diag_cmd.c: `gravrd diag`, the regression diagnostics of the companion time-series study on a CSV or
 * a panel's columns: normalisation, correlations with p-values, OLS with VIFs, ridge regression at a
 * given k and over a k grid with its trace plot (numerics in ridge.c; conventions in docs/companion.md). */
#include "cleanup.h"
#include "commands.h"
#include "opts.h"
#include "ridge.h"
#include "ridge_trace.h"
#include "smalldata.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIAG_MAX_K 1001  /* values of --k-grid */

enum { NORM_NONE, NORM_MINMAX, NORM_ZSCORE };

typedef struct diag_opts {
    const char *csv, *data, *where, *delimiter, *y, *json, *trace, *normalized, *kgrid_text;
    gr_opt_list x, reverse;
    int normalize, quiet;
    double k;
    /* derived */
    char delim;
    int has_k, nk;
    double *kgrid;
} diag_opts;

static const gr_opt_word norm_words[] = {{"none", NORM_NONE}, {"minmax", NORM_MINMAX}, {"zscore", NORM_ZSCORE},
                                         {"min-max", NORM_MINMAX}, {NULL, 0}};

static const gr_opt diag_table[] = {
    {.name = "csv", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, csv), .metavar = "FILE.csv",
     .help = "read the columns from a CSV file (header line; exactly one of --csv and --data)"},
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, data), .metavar = "FILE.h5",
     .help = "read the columns from a panel file (column expressions allowed)"},
    {.name = "delimiter", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, delimiter), .metavar = "C",
     .help = "CSV field separator, one character; 'tab' for a tab", .def = ","},
    {.name = "where", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, where), .metavar = "EXPR",
     .help = "panel only: keep rows where EXPR is true"},
    {.name = "y", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, y), .metavar = "COL", .help = "dependent variable",
     .flags = GR_OPT_REQUIRED},
    {.name = "x", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(diag_opts, x), .metavar = "COL",
     .help = "regressors (comma-separated or repeated)",
     .flags = GR_OPT_REQUIRED | GR_OPT_COMMA | GR_OPT_REPEAT | GR_OPT_UNIQUE, .max = GR_RIDGE_MAXP},
    {.name = "normalize", .kind = GR_OPT_CHOICE, GR_OPT_AT(diag_opts, normalize), .metavar = "M",
     .help = "transform every variable first: minmax (x - min)/(max - min), zscore (x - mean)/sd", .def = "none",
     .words = norm_words},
    {.name = "reverse", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(diag_opts, reverse), .metavar = "COL",
     .help = "negative indicators: normalised as (max - x)/(max - min) or (mean - x)/sd",
     .flags = GR_OPT_COMMA | GR_OPT_REPEAT | GR_OPT_UNIQUE},
    {.name = "k", .kind = GR_OPT_DOUBLE, GR_OPT_AT(diag_opts, k), .metavar = "K",
     .help = "ridge regression at this k >= 0 (standardized form: R + kI)"},
    {.name = "k-grid", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, kgrid_text), .metavar = "FROM:TO:STEP|K,K,...",
     .help = "ridge trace over these k values (at most 1001)"},
    {.name = "trace", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, trace), .metavar = "FILE.svg",
     .help = "ridge-trace plot of b*(k) over --k-grid"},
    {.name = "normalized", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, normalized), .metavar = "FILE.csv",
     .help = "write the analysed rows (after dropping and normalising) as CSV"},
    {.name = "json", .kind = GR_OPT_STRING, GR_OPT_AT(diag_opts, json), .metavar = "FILE|-",
     .help = "also write the results as JSON (to stdout with '-', then no table)"},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(diag_opts, quiet), .help = "no warnings"},
    {0}};

static const gr_opts_cmd diag_cmd = {
    "diag",
    "Regression diagnostics for a small data set: optional normalisation, the correlation matrix with\n"
    "p-values, OLS with variance inflation factors, and ridge regression (Hoerl-Kennard standardized form,\n"
    "coefficients on the original scale with a constant) at --k and over --k-grid. See docs/companion.md.",
    diag_table, "Rows with a missing value in --y or any --x are dropped and counted.", 0};

/* Parse --k-grid: FROM:TO:STEP (FROM + i STEP while <= TO, within 1e-9 STEP) or a comma list; k >= 0. */
static int parse_kgrid(diag_opts *o)
{
    const char *t = o->kgrid_text;
    double a, b, st;
    char extra;
    o->kgrid = gr_malloc(DIAG_MAX_K, sizeof *o->kgrid);
    if (strchr(t, ':')) {
        if (sscanf(t, "%lf:%lf:%lf%c", &a, &b, &st, &extra) != 3 || !(a >= 0) || !(b >= a) || !(st > 0) ||
            !isfinite(b) || !isfinite(st))
            return gr_fail(GR_EUSAGE, "--k-grid", "expected FROM:TO:STEP with 0 <= FROM <= TO and STEP > 0, got '%s'", t);
        double cnt = floor((b - a) / st + 1e-9) + 1;
        if (cnt > DIAG_MAX_K) return gr_fail(GR_EUSAGE, "--k-grid", "'%s' gives %.0f values; at most %d", t, cnt, DIAG_MAX_K);
        o->nk = (int)cnt;  /* <= DIAG_MAX_K */
        for (int i = 0; i < o->nk; i++) o->kgrid[i] = a + i * st;
        return GR_OK;
    }
    char *copy = gr_strdup(t), *save = NULL;
    int rc = GR_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == GR_OK; tok = strtok_r(NULL, ",", &save)) {
        if (o->nk == DIAG_MAX_K) rc = gr_fail(GR_EUSAGE, "--k-grid", "at most %d values", DIAG_MAX_K);
        else if (gr_parse_double(tok, &a) || !(a >= 0)) rc = gr_fail(GR_EUSAGE, "--k-grid", "expected k >= 0, got '%s'", tok);
        else if (o->nk && !(a > o->kgrid[o->nk - 1])) rc = gr_fail(GR_EUSAGE, "--k-grid", "values must increase, got '%s'", t);
        else o->kgrid[o->nk++] = a;
    }
    free(copy);
    if (rc == GR_OK && o->nk == 0) rc = gr_fail(GR_EUSAGE, "--k-grid", "expected FROM:TO:STEP or K,K,..., got '%s'", t);
    return rc;
}

static int parse_delim(const char *d, char *out)
{
    if (!strcmp(d, "tab") || !strcmp(d, "\\t")) *out = '\t';
    else if (strlen(d) == 1 && !strchr("\"\n\r", d[0])) *out = d[0];
    else return gr_fail(GR_EUSAGE, "--delimiter", "expected one character other than a quote or a line end (or 'tab'), "
                        "got '%s'", d);
    return GR_OK;
}

/* The checks of option combinations; identical on every rank. */
static int check_opts(diag_opts *o, const gr_opts *s)
{
    if (!o->csv == !o->data) return gr_fail(GR_EUSAGE, "diag", "give exactly one of --csv FILE.csv and --data FILE.h5");
    if (o->where && !o->data) return gr_fail(GR_EUSAGE, "--where", "needs --data (a panel); filter a CSV beforehand");
    GR_CALL(parse_delim(o->delimiter, &o->delim));
    for (int j = 0; j < o->x.n; j++)
        if (!strcmp(o->x.str[j], o->y)) return gr_fail(GR_EUSAGE, "--x", "'%s' is also --y", o->y);
    for (int r = 0; r < o->reverse.n; r++) {
        int found = !strcmp(o->reverse.str[r], o->y);
        for (int j = 0; j < o->x.n; j++) found |= !strcmp(o->reverse.str[r], o->x.str[j]);
        if (!found) return gr_fail(GR_EUSAGE, "--reverse", "'%s' is neither --y nor one of --x", o->reverse.str[r]);
    }
    if (o->reverse.n && o->normalize == NORM_NONE)
        return gr_fail(GR_EUSAGE, "--reverse", "needs --normalize minmax or zscore");
    o->has_k = gr_opts_given(s, "k") > 0;
    if (o->has_k && !(o->k >= 0)) return gr_fail(GR_EUSAGE, "--k", "expected a number >= 0, got '%g'", o->k);
    if (o->kgrid_text) GR_CALL(parse_kgrid(o));
    if (o->trace && !o->kgrid_text) return gr_fail(GR_EUSAGE, "--trace", "needs --k-grid (the k values to plot)");
    gr_quiet |= o->quiet;
    return GR_OK;
}

/* ---- the analysis (rank 0) ---- */

typedef struct diag_run {
    int m;                  /* variables: y then the p regressors */
    int64_t n, dropped;
    char **names;           /* m names (pointers into the options) */
    double **v;             /* m columns of n analysed values */
    double *raw_min, *raw_max, *raw_mean, *raw_sd;  /* m: before normalisation */
    double *corr, *corr_p;  /* m x m */
    gr_ridge_data rd;
    gr_ridge_fit ols, ridge, *trace;
    int have_ridge, ntrace;
} diag_run;

/* Mean, SD (n - 1), min and max of v. Values whose sums or squares leave double's range (about 1e300 or
 * 1e-300) are handled by scaling: the mean as the sum of v/n when the plain sum overflows, the squared
 * deviations divided by the largest deviation when their sum overflows or underflows. */
static void moments(int64_t n, const double *v, double *mean, double *sd, double *mn, double *mx)
{
    double s = 0, ss = 0;
    *mn = *mx = v[0];
    for (int64_t i = 0; i < n; i++) { s += v[i]; *mn = fmin(*mn, v[i]); *mx = fmax(*mx, v[i]); }
    *mean = s / (double)n;
    if (!isfinite(s)) { *mean = 0; for (int64_t i = 0; i < n; i++) *mean += v[i] / (double)n; }
    for (int64_t i = 0; i < n; i++) ss += (v[i] - *mean) * (v[i] - *mean);
    double sc = 1;
    if ((!isfinite(ss) || ss < 1e-290) && *mx > *mn) {
        sc = fmax(fabs(*mx - *mean), fabs(*mn - *mean));
        ss = 0;
        for (int64_t i = 0; i < n; i++) ss += ((v[i] - *mean) / sc) * ((v[i] - *mean) / sc);
    }
    *sd = n > 1 ? sc * sqrt(ss / (double)(n - 1)) : 0;
}

static int is_reversed(const diag_opts *o, const char *name)
{
    for (int r = 0; r < o->reverse.n; r++)
        if (!strcmp(o->reverse.str[r], name)) return 1;
    return 0;
}

/* Normalise column c in place (after recording its raw moments). A constant column cannot be scaled. */
static int normalize(const diag_opts *o, diag_run *d, int c)
{
    double *v = d->v[c];
    moments(d->n, v, &d->raw_mean[c], &d->raw_sd[c], &d->raw_min[c], &d->raw_max[c]);
    double big = fmax(fabs(d->raw_min[c]), fabs(d->raw_max[c]));
    if (o->normalize == NORM_NONE && (big > 1e150 || (d->raw_sd[c] > 0 && d->raw_sd[c] < 1e-150)))
        return gr_fail(GR_EINPUT, d->names[c], "values of size %g: their products and squares leave double's range "
                       "in the correlations and the regression; give --normalize zscore or minmax, or rescale the "
                       "column", big > 1e150 ? big : d->raw_sd[c]);
    if (o->normalize == NORM_NONE) return GR_OK;
    if (!(d->raw_max[c] > d->raw_min[c]))
        return gr_fail(GR_EINPUT, d->names[c], "constant over the %lld rows (%g): cannot normalise", (long long)d->n,
                       d->raw_min[c]);
    int rev = is_reversed(o, d->names[c]);
    if (!(d->raw_sd[c] > 0) || !isfinite(d->raw_sd[c]))  /* the moments above are scaled, so finite here */
        return gr_fail(GR_EINPUT, d->names[c], "its standard deviation is not a positive number (%g): cannot normalise",
                       d->raw_sd[c]);
    double lo = d->raw_min[c], hi = d->raw_max[c], mu = d->raw_mean[c], sd = d->raw_sd[c];
    for (int64_t i = 0; i < d->n; i++) {
        if (o->normalize == NORM_MINMAX) v[i] = rev ? (hi - v[i]) / (hi - lo) : (v[i] - lo) / (hi - lo);
        else v[i] = rev ? (mu - v[i]) / sd : (v[i] - mu) / sd;
    }
    return GR_OK;
}

/* Complete rows of the loaded columns into d (names from the options), normalised. */
static int prepare(const diag_opts *o, const gr_small *in, diag_run *d)
{
    d->m = o->x.n + 1;
    d->names = gr_malloc((size_t)d->m, sizeof *d->names);
    d->v = gr_malloc((size_t)d->m, sizeof *d->v);
    int *cols = gr_malloc((size_t)d->m, sizeof *cols);
    for (int c = 0; c < d->m; c++) {
        cols[c] = c;
        d->names[c] = (char *)(c == 0 ? o->y : o->x.str[c - 1]);
    }
    d->n = gr_small_complete(in, d->m, cols, d->v);
    d->dropped = in->n - d->n;
    free(cols);
    d->raw_min = gr_malloc((size_t)d->m, sizeof *d->raw_min);
    d->raw_max = gr_malloc((size_t)d->m, sizeof *d->raw_max);
    d->raw_mean = gr_malloc((size_t)d->m, sizeof *d->raw_mean);
    d->raw_sd = gr_malloc((size_t)d->m, sizeof *d->raw_sd);
    if (d->n < 1)
        return gr_fail(GR_EINPUT, in->source, "no complete rows (%lld rows, every one missing a value)", (long long)in->n);
    for (int c = 0; c < d->m; c++) GR_CALL(normalize(o, d, c));
    return GR_OK;
}

/* Correlations, OLS, ridge at --k, the --k-grid trace. */
static int analyse(const diag_opts *o, diag_run *d)
{
    int p = d->m - 1;
    GR_CALL(gr_ridge_setup(d->n, p, d->v[0], (const double *const *)(d->v + 1), d->names[0],
                           (const char *const *)(d->names + 1), &d->rd));
    d->corr = gr_malloc((size_t)d->m * d->m, sizeof *d->corr);
    d->corr_p = gr_malloc((size_t)d->m * d->m, sizeof *d->corr_p);
    gr_corr_matrix(d->n, d->m, (const double *const *)d->v, d->corr, d->corr_p);
    GR_CALL(gr_ridge_fit_at(&d->rd, 0.0, &d->ols));
    if (o->has_k) {
        GR_CALL(gr_ridge_fit_at(&d->rd, o->k, &d->ridge));
        d->have_ridge = 1;
    }
    if (o->nk) d->trace = gr_calloc((size_t)o->nk, sizeof *d->trace);
    for (int i = 0; i < o->nk; i++, d->ntrace++) GR_CALL(gr_ridge_fit_at(&d->rd, o->kgrid[i], &d->trace[i]));
    return GR_OK;
}

static void run_free(diag_run *d)
{
    for (int c = 0; d->v && c < d->m; c++) free(d->v[c]);
    free(d->v);
    free(d->names);
    free(d->raw_min); free(d->raw_max); free(d->raw_mean); free(d->raw_sd);
    free(d->corr); free(d->corr_p);
    gr_ridge_fit_free(&d->ols);
    gr_ridge_fit_free(&d->ridge);
    for (int i = 0; i < d->ntrace; i++) gr_ridge_fit_free(&d->trace[i]);
    free(d->trace);
    gr_ridge_data_free(&d->rd);
}

/* ---- text output ---- */

static int name_width(const diag_run *d)
{
    int w = 11;
    for (int c = 0; c < d->m; c++) w = (int)strlen(d->names[c]) > w ? (int)strlen(d->names[c]) : w;
    return w;
}

static void print_matrix(const diag_run *d, const double *a, const char *fmt, int w)
{
    printf("%-*s", w, "");
    for (int c = 0; c < d->m; c++) printf(" %*s", w, d->names[c]);
    printf("\n");
    for (int r = 0; r < d->m; r++) {
        printf("%-*s", w, d->names[r]);
        for (int c = 0; c < d->m; c++) {
            if (isnan(a[r * d->m + c])) printf(" %*s", w, "-");
            else printf(fmt, w, a[r * d->m + c]);
        }
        printf("\n");
    }
}

static void print_fit(const diag_run *d, const gr_ridge_fit *f, const char *title, int w)
{
    printf("\n%s: R2 %.6g, adjusted R2 %.6g, F(%d, %d) = %.6g, p = %.4g, sigma %.6g\n", title, f->r2, f->adj_r2,
           f->df_model, f->df_resid, f->f_stat, f->f_pval, f->sigma);
    printf("%-*s %14s %14s %10s %10s %12s %12s\n", w, "term", "estimate", "std.error", "t value", "p value",
           "std.beta", "VIF");
    printf("%-*s %14.6g %14.6g %10.4f %10.4g\n", w, "(Intercept)", f->coef[0], f->se[0], f->tval[0], f->pval[0]);
    for (int j = 1; j < d->m; j++)
        printf("%-*s %14.6g %14.6g %10.4f %10.4g %12.6g %12.6g\n", w, d->names[j], f->coef[j], f->se[j], f->tval[j],
               f->pval[j], f->beta_std[j - 1], f->vif[j - 1]);
}

static void print_trace(const diag_run *d, int w)
{
    printf("\nridge trace: standardized coefficients b*(k), R2 and the largest VIF\n%10s", "k");
    for (int j = 1; j < d->m; j++) printf(" %*s", w, d->names[j]);
    printf(" %10s %12s\n", "R2", "max VIF");
    for (int i = 0; i < d->ntrace; i++) {
        const gr_ridge_fit *f = &d->trace[i];
        double mv = 0;
        printf("%10.6g", f->k);
        for (int j = 0; j < d->m - 1; j++) { printf(" %*.6g", w, f->beta_std[j]); mv = fmax(mv, f->vif[j]); }
        printf(" %10.6g %12.6g\n", f->r2, mv);
    }
}

static void print_all(const diag_opts *o, const gr_small *in, const diag_run *d)
{
    static const char *const norm[] = {"none", "minmax", "zscore"};
    int w = name_width(d);
    printf("gravrd diag: %s on %d regressor(s); %lld rows of %s (%lld dropped for missing values); "
           "normalisation: %s", d->names[0], d->m - 1, (long long)d->n, in->source, (long long)d->dropped,
           norm[o->normalize]);
    for (int r = 0; r < o->reverse.n; r++) printf("%s%s", r ? ", " : " (reversed: ", o->reverse.str[r]);
    printf("%s\n\n%-*s %14s %14s %14s %14s\n", o->reverse.n ? ")" : "", w, "variable", "mean", "sd", "min", "max");
    for (int c = 0; c < d->m; c++) {
        double mean, sd, mn, mx;
        moments(d->n, d->v[c], &mean, &sd, &mn, &mx);
        printf("%-*s %14.6g %14.6g %14.6g %14.6g\n", w, d->names[c], mean, sd, mn, mx);
    }
    printf("\ncorrelations (Pearson r)\n");
    print_matrix(d, d->corr, " %*.4f", w);
    printf("\ntwo-sided p-values (t = r sqrt((n-2)/(1-r^2)), %lld df)\n", (long long)(d->n - 2));
    print_matrix(d, d->corr_p, " %*.4g", w);
    print_fit(d, &d->ols, "OLS", w);
    if (d->ntrace) print_trace(d, w);
    if (d->have_ridge) {
        char t[64];
        snprintf(t, sizeof t, "ridge at k = %g", o->k);
        print_fit(d, &d->ridge, t, w);
    }
    fflush(stdout);
}

/* ---- JSON ---- */

static void add_num(cJSON *j, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
    else cJSON_AddNullToObject(j, key);
}

static cJSON *fit_json(const diag_run *d, const gr_ridge_fit *f)
{
    cJSON *j = cJSON_CreateObject(), *cs;
    add_num(j, "k", f->k);
    cs = cJSON_AddArrayToObject(j, "coefficients");
    for (int t = 0; t < d->m; t++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "term", t ? d->names[t] : "(Intercept)");
        add_num(c, "estimate", f->coef[t]);
        add_num(c, "std_error", f->se[t]);
        add_num(c, "t_value", f->tval[t]);
        add_num(c, "p_value", f->pval[t]);
        if (t) { add_num(c, "std_estimate", f->beta_std[t - 1]); add_num(c, "vif", f->vif[t - 1]); }
        cJSON_AddItemToArray(cs, c);
    }
    add_num(j, "nobs", (double)d->n);
    add_num(j, "df_model", f->df_model);
    add_num(j, "df_resid", f->df_resid);
    add_num(j, "rss", f->rss);
    add_num(j, "sigma", f->sigma);
    add_num(j, "r2", f->r2);
    add_num(j, "adj_r2", f->adj_r2);
    add_num(j, "f_stat", f->f_stat);
    add_num(j, "f_df1", f->df_model);
    add_num(j, "f_df2", f->df_resid);
    add_num(j, "f_p_value", f->f_pval);
    return j;
}

static cJSON *corr_json(const diag_run *d)
{
    cJSON *a = cJSON_CreateArray();
    for (int r = 0; r < d->m; r++) {
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "variable", d->names[r]);
        cJSON *rv = cJSON_AddObjectToObject(row, "r"), *pv = cJSON_AddObjectToObject(row, "p_value");
        for (int c = 0; c < d->m; c++) {
            add_num(rv, d->names[c], d->corr[r * d->m + c]);
            add_num(pv, d->names[c], d->corr_p[r * d->m + c]);
        }
        cJSON_AddItemToArray(a, row);
    }
    return a;
}

static cJSON *variables_json(const diag_run *d)
{
    cJSON *a = cJSON_CreateArray();
    for (int c = 0; c < d->m; c++) {
        cJSON *v = cJSON_CreateObject(), *raw;
        double mean, sd, mn, mx;
        moments(d->n, d->v[c], &mean, &sd, &mn, &mx);
        cJSON_AddStringToObject(v, "name", d->names[c]);
        add_num(v, "mean", mean);
        add_num(v, "sd", sd);
        add_num(v, "min", mn);
        add_num(v, "max", mx);
        raw = cJSON_AddObjectToObject(v, "raw");
        add_num(raw, "mean", d->raw_mean[c]);
        add_num(raw, "sd", d->raw_sd[c]);
        add_num(raw, "min", d->raw_min[c]);
        add_num(raw, "max", d->raw_max[c]);
        cJSON_AddItemToArray(a, v);
    }
    return a;
}

static cJSON *diag_json(const diag_opts *o, const gr_opts *s, const gr_small *in, const diag_run *d, MPI_Comm comm)
{
    static const char *const norm[] = {"none", "minmax", "zscore"};
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "command", "diag");
    cJSON_AddStringToObject(j, "source", in->source);
    cJSON_AddStringToObject(j, "y", o->y);
    cJSON *x = cJSON_AddArrayToObject(j, "x"), *rev;
    for (int c = 0; c < o->x.n; c++) cJSON_AddItemToArray(x, cJSON_CreateString(o->x.str[c]));
    cJSON_AddStringToObject(j, "normalize", norm[o->normalize]);
    rev = cJSON_AddArrayToObject(j, "reversed");
    for (int c = 0; c < o->reverse.n; c++) cJSON_AddItemToArray(rev, cJSON_CreateString(o->reverse.str[c]));
    add_num(j, "nobs", (double)d->n);
    add_num(j, "n_dropped_missing", (double)d->dropped);
    cJSON_AddItemToObject(j, "variables", variables_json(d));
    cJSON_AddItemToObject(j, "correlation", corr_json(d));
    cJSON_AddItemToObject(j, "ols", fit_json(d, &d->ols));
    if (d->have_ridge) cJSON_AddItemToObject(j, "ridge", fit_json(d, &d->ridge));
    if (d->ntrace) {
        cJSON *t = cJSON_AddArrayToObject(j, "ridge_trace");
        for (int i = 0; i < d->ntrace; i++) cJSON_AddItemToArray(t, fit_json(d, &d->trace[i]));
    }
    cJSON_AddItemToObject(j, "provenance", gr_opts_provenance(s, comm));
    return j;
}

static int write_json(const diag_opts *o, const gr_opts *s, const gr_small *in, const diag_run *d, MPI_Comm comm)
{
    cJSON *doc = diag_json(o, s, in, d, comm);
    char *text = cJSON_Print(doc);
    int st = text ? gr_write_text(o->json, text) : gr_fail(GR_ENOMEM, "--json", "cannot format the results");
    free(text);
    cJSON_Delete(doc);
    return st;
}

/* The analysed rows as CSV (%.17g: they read back exactly). */
static int write_normalized(const diag_opts *o, const diag_run *d)
{
    gr_outfile f;
    GR_CALL(gr_outfile_open(&f, o->normalized));
    for (int c = 0; c < d->m; c++) fprintf(f.f, "%s%s", c ? "," : "", d->names[c]);
    fprintf(f.f, "\n");
    for (int64_t i = 0; i < d->n; i++)
        for (int c = 0; c < d->m; c++) fprintf(f.f, "%.17g%s", d->v[c][i], c + 1 < d->m ? "," : "\n");
    return gr_outfile_close(&f, 1);
}

static int write_trace(const diag_opts *o, const diag_run *d)
{
    int p = d->m - 1;
    double *beta = gr_malloc((size_t)d->ntrace * p, sizeof *beta);
    for (int i = 0; i < d->ntrace; i++) memcpy(beta + (size_t)i * p, d->trace[i].beta_std, (size_t)p * sizeof *beta);
    char title[256];
    snprintf(title, sizeof title, "Ridge trace: %s", d->names[0]);
    int st = gr_ridge_trace_svg(o->trace, title, d->ntrace, o->kgrid, p, (const char *const *)(d->names + 1), beta,
                                o->has_k ? o->k : NAN);
    free(beta);
    return st;
}

/* Rank 0: the whole analysis and its outputs. */
static int run_rank0(const diag_opts *o, const gr_opts *s, const gr_small *in, MPI_Comm comm)
{
    diag_run d;
    memset(&d, 0, sizeof d);
    int rc = GR_OK;
    GR_TRY(prepare(o, in, &d));
    GR_TRY(analyse(o, &d));
    if ((double)d.n < 2.0 * d.m) /* allowed, but the p-values rest on very few residual df */
        gr_warn("%lld rows for %d regressors and a constant: %d residual degree(s) of freedom; t, F and p rest "
                "on them", (long long)d.n, d.m - 1, d.ols.df_resid);
    if (!o->json || strcmp(o->json, "-")) print_all(o, in, &d);
    if (o->json) GR_TRY(write_json(o, s, in, &d, comm));
    if (o->trace) GR_TRY(write_trace(o, &d));
    if (o->normalized) GR_TRY(write_normalized(o, &d));
fail:
    run_free(&d);
    return rc;
}

int cmd_diag(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    diag_opts o;
    gr_opts s;
    memset(&o, 0, sizeof o);
    int st = gr_opts_parse(&s, &diag_cmd, &o, argc, argv, rank);
    if (st == GR_OPTS_EXIT) { gr_opts_free(&s); return 0; }
    if (st == GR_OK) st = check_opts(&o, &s);
    if (st != GR_OK) {
        free(o.kgrid);
        gr_opts_free(&s);
        if (rank != 0) gr_clear_error(); /* every rank parsed the same line: print once */
        return gr_report(st);
    }
    if (s.echo && rank == 0) gr_opts_echo(&s, stderr);
    int m = o.x.n + 1;
    const char **names = gr_malloc((size_t)m, sizeof *names), **what = gr_malloc((size_t)m, sizeof *what);
    for (int c = 0; c < m; c++) { names[c] = c ? o.x.str[c - 1] : o.y; what[c] = c ? "--x" : "--y"; }
    gr_small_src src = {.csv = o.csv, .delim = o.delim, .data = o.data, .where = o.where};
    gr_small in;
    st = gr_small_load(comm, &src, m, names, what, NULL, &in);
    if (st == GR_OK && rank == 0) st = run_rank0(&o, &s, &in, comm);
    st = gr_agree(comm, st);
    gr_small_free(&in);
    free(names);
    free(what);
    free(o.kgrid);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, st));
}
