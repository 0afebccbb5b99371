/* report.c: regression tables and JSON results (see report.h). */
#include "report.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"

static const char *stars(double p)
{
    return p < 0.01 ? "***" : p < 0.05 ? "**" : p < 0.1 ? "*" : "";
}

/* thousands separators for counts: 1148400 -> 1,148,400 */
static void fmt_count(char *buf, size_t len, int64_t v)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)v);
    int n = (int)strlen(raw), o = 0;  /* at most 20 digits and a sign */
    for (int i = 0; i < n && (size_t)o + 2 < len; i++) {
        buf[o++] = raw[i];
        if ((n - i - 1) % 3 == 0 && i < n - 1 && raw[i] != '-') buf[o++] = ',';
    }
    buf[o] = 0;
}

enum { TABLE_W0 = 24, TABLE_W = 16 };  /* widths of the label column and of each model's column */

/* The union of the models' terms, in order of first appearance (*nt of them; the strings are the
 * results'; free the array). */
static const char **union_terms(const gr_result *res, int nres, int *nt)
{
    int cap = 64;
    const char **terms = gr_malloc((size_t)cap + 1, sizeof *terms);
    *nt = 0;
    for (int m = 0; m < nres; m++)
        for (int j = 0; j < res[m].k; j++) {
            int found = 0;
            for (int t = 0; t < *nt; t++) if (!strcmp(terms[t], res[m].terms[j])) found = 1;
            if (!found) {
                if (*nt == cap) { cap *= 2; terms = gr_realloc(terms, (size_t)cap + 1, sizeof *terms); }
                terms[(*nt)++] = res[m].terms[j];
            }
        }
    return terms;
}

/* Index of `term` in r->terms (the last one if repeated), or -1. */
static int term_index(const gr_result *r, const char *term)
{
    int j = -1;
    for (int l = 0; l < r->k; l++) if (!strcmp(r->terms[l], term)) j = l;
    return j;
}

/* Two lines per term: the coefficients with stars, then the standard errors in parentheses. */
static void print_coef_rows(FILE *f, const gr_result *res, int nres, const char **terms, int nt)
{
    const int w0 = TABLE_W0, w = TABLE_W;
    for (int t = 0; t < nt; t++) {
        char cell[64];
        fprintf(f, "%-*.*s", w0, w0 - 1, terms[t]);
        for (int m = 0; m < nres; m++) {
            int j = term_index(&res[m], terms[t]);
            if (j < 0) snprintf(cell, sizeof cell, " ");
            else snprintf(cell, sizeof cell, "%.4f%s", res[m].coef[j], stars(res[m].pval[j]));
            fprintf(f, "%*s", w, cell);
        }
        fprintf(f, "\n%-*s", w0, "");
        for (int m = 0; m < nres; m++) {
            int j = term_index(&res[m], terms[t]);
            if (j < 0) snprintf(cell, sizeof cell, " ");
            else snprintf(cell, sizeof cell, "(%.4f)", res[m].se[j]);
            fprintf(f, "%*s", w, cell);
        }
        fprintf(f, "\n");
    }
}

/* 1 if model r absorbs a fixed effect named `name`. */
static int has_fe(const gr_result *r, const char *name)
{
    for (int k = 0; k < r->nfe; k++) if (!strcmp(r->fenames[k], name)) return 1;
    return 0;
}

/* One line per fixed effect of any model (the union of names, in order of first appearance): Yes / No. */
static void print_fe_rows(FILE *f, const gr_result *res, int nres)
{
    const int w0 = TABLE_W0, w = TABLE_W;
    for (int m = 0; m < nres; m++)
        for (int k = 0; k < res[m].nfe; k++) {
            int seen = 0;
            for (int m2 = 0; m2 < m && !seen; m2++) seen = has_fe(&res[m2], res[m].fenames[k]);
            if (seen) continue;
            char lab[128];
            snprintf(lab, sizeof lab, "%s FE", res[m].fenames[k]);
            fprintf(f, "%-*.*s", w0, w0 - 1, lab);
            for (int m2 = 0; m2 < nres; m2++) fprintf(f, "%*s", w, has_fe(&res[m2], res[m].fenames[k]) ? "Yes" : "No");
            fprintf(f, "\n");
        }
}

/* The lines under the coefficients: standard errors, weights (when any model has them), R2s, F, N. */
static void print_stat_rows(FILE *f, const gr_result *res, int nres)
{
    const int w0 = TABLE_W0, w = TABLE_W;
    fprintf(f, "%-*s", w0, "Standard errors");
    for (int m = 0; m < nres; m++) {
        char cell[96];
        if (res[m].ncl > 0) snprintf(cell, sizeof cell, "%s%s%s", res[m].clnames[0], res[m].ncl > 1 ? "&" : "",
                                     res[m].ncl > 1 ? res[m].clnames[1] : "");
        else snprintf(cell, sizeof cell, "%s", res[m].vcov_label);
        fprintf(f, "%*.*s", w, w - 1, cell);
    }
    int weighted = 0;
    for (int m = 0; m < nres; m++) weighted |= res[m].weights != NULL;
    if (weighted) {
        fprintf(f, "\n%-*s", w0, "Weights");
        for (int m = 0; m < nres; m++) fprintf(f, "%*.*s", w, w - 1, res[m].weights ? res[m].weights : "none");
    }
    fprintf(f, "\n%-*s", w0, "Adjusted R2");
    for (int m = 0; m < nres; m++) fprintf(f, "%*.3f", w, res[m].adj_r2);
    fprintf(f, "\n%-*s", w0, "Within R2");
    for (int m = 0; m < nres; m++) {
        if (isnan(res[m].within_r2)) fprintf(f, "%*s", w, "");
        else fprintf(f, "%*.3f", w, res[m].within_r2);
    }
    fprintf(f, "\n%-*s", w0, "F-statistic");
    for (int m = 0; m < nres; m++) fprintf(f, "%*.2f", w, res[m].f_stat);
    fprintf(f, "\n%-*s", w0, "Observations");
    for (int m = 0; m < nres; m++) {
        char cell[32];
        fmt_count(cell, sizeof cell, res[m].nobs);
        fprintf(f, "%*s", w, cell);
    }
}

void gr_print_table(FILE *f, const gr_result *res, int nres, const char *title)
{
    const int w0 = TABLE_W0, w = TABLE_W;
    int nt;
    const char **terms = union_terms(res, nres, &nt);
    int width = w0 + w * nres;
    char line[4096];
    memset(line, '=', (size_t)(width < 4095 ? width : 4095));
    line[width < 4095 ? width : 4095] = 0;
    if (title) fprintf(f, "%s\n", title);
    fprintf(f, "%s\n", line);
    fprintf(f, "%-*s", w0, "Dependent variable");
    for (int m = 0; m < nres; m++) fprintf(f, "%*.*s", w, w - 1, res[m].yname);
    fprintf(f, "\n%-*s", w0, "Sample");
    for (int m = 0; m < nres; m++) fprintf(f, "%*.*s", w, w - 1, res[m].sample_label);
    fprintf(f, "\n%s\n", line);
    print_coef_rows(f, res, nres, terms, nt);
    print_fe_rows(f, res, nres);
    print_stat_rows(f, res, nres);
    fprintf(f, "\n%s\n", line);
    fprintf(f, "Standard errors in parentheses. *** p<0.01, ** p<0.05, * p<0.1.\n");
    for (int m = 0; m < nres; m++)
        if (!res[m].converged)
            fprintf(f, "WARNING: model %d (%s, %s): demeaning did not converge\n", m + 1, res[m].yname,
                    res[m].sample_label);
    free(terms);
}

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

cJSON *gr_result_json(const gr_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dependent", r->yname);
    cJSON_AddStringToObject(o, "sample", r->sample_label);
    cJSON_AddNumberToObject(o, "nobs", (double)r->nobs);
    cJSON *coefs = cJSON_AddArrayToObject(o, "coefficients");
    for (int j = 0; j < r->k; j++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "term", r->terms[j]);
        cJSON_AddItemToObject(c, "estimate", num(r->coef[j]));
        cJSON_AddItemToObject(c, "std_error", num(r->se[j]));
        cJSON_AddItemToObject(c, "t_value", num(r->tval[j]));
        cJSON_AddItemToObject(c, "p_value", num(r->pval[j]));
        cJSON_AddItemToArray(coefs, c);
    }
    cJSON_AddItemToObject(o, "r2", num(r->r2));
    cJSON_AddItemToObject(o, "adj_r2", num(r->adj_r2));
    cJSON_AddItemToObject(o, "within_r2", num(r->within_r2));
    cJSON_AddItemToObject(o, "f_stat", num(r->f_stat));
    cJSON_AddItemToObject(o, "f_p_value", num(r->f_pval));
    cJSON_AddItemToObject(o, "rmse", num(r->rmse));
    cJSON_AddItemToObject(o, "df_t", num(r->df_t));
    cJSON_AddStringToObject(o, "vcov", r->vcov_label);
    cJSON *cls = cJSON_AddArrayToObject(o, "n_clusters");
    cJSON *cln = cJSON_AddArrayToObject(o, "cluster_vars");
    for (int c = 0; c < r->ncl; c++) {
        cJSON_AddItemToArray(cls, cJSON_CreateNumber((double)r->G[c]));
        cJSON_AddItemToArray(cln, cJSON_CreateString(r->clnames[c]));
    }
    cJSON *fs = cJSON_AddObjectToObject(o, "fixef_sizes");
    for (int k = 0; k < r->nfe; k++) cJSON_AddNumberToObject(fs, r->fenames[k], (double)r->fesizes[k]);
    cJSON_AddNumberToObject(o, "iterations", r->iterations);
    cJSON_AddBoolToObject(o, "converged", r->converged);
    cJSON_AddStringToObject(o, "solver", r->solver ? r->solver : "");
    if (r->weights) cJSON_AddStringToObject(o, "weights", r->weights);
    cJSON *d = cJSON_AddObjectToObject(o, "dropped");
    cJSON_AddNumberToObject(d, "singletons", (double)r->n_singletons);
    cJSON_AddNumberToObject(d, "missing", (double)r->n_missing);
    cJSON_AddNumberToObject(d, "non_finite", (double)r->n_nonfinite);
    cJSON_AddNumberToObject(d, "zero_weight", (double)r->n_zero_weight);
    cJSON *cv = cJSON_AddArrayToObject(d, "collinear");
    for (int j = 0; j < r->ncollin; j++) cJSON_AddItemToArray(cv, cJSON_CreateString(r->collin[j]));
    cJSON *t = cJSON_AddObjectToObject(o, "timings");
    cJSON_AddNumberToObject(t, "read", r->t_read);
    cJSON_AddNumberToObject(t, "prepare", r->t_prepare);
    cJSON_AddNumberToObject(t, "index", r->t_index);
    cJSON_AddNumberToObject(t, "demean", r->t_demean);
    cJSON_AddNumberToObject(t, "solve", r->t_solve);
    cJSON_AddNumberToObject(t, "vcov", r->t_vcov);
    /* work done for this result's sample: fixed-effect set-ups and columns demeaned (shared by outcomes
     * with the same rows) */
    cJSON_AddNumberToObject(t, "absorber_setups", r->absorber_setups);
    cJSON_AddNumberToObject(t, "columns_demeaned", (double)r->columns_demeaned);
    return o;
}

int gr_write_json(const char *path, const cJSON *root)
{
    char *text = cJSON_Print(root);
    if (!text) return gr_fail(GR_ENOMEM, path, "cannot render JSON");
    int rc = GR_OK;
    if (!strcmp(path, "-")) {
        errno = 0;
        if (fputs(text, stdout) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0 || ferror(stdout))
            rc = gr_fail(GR_EIO, "standard output", "write of the JSON record failed: %s",
                         errno ? strerror(errno) : "part of it was lost (disk full?)");
    } else {
        rc = gr_write_text(path, text);
    }
    free(text);
    return rc;
}
