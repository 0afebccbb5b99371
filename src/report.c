/* report.c: regression tables and JSON results (see report.h). */
#include "report.h"
#include <errno.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "leverage.h"

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

enum { TABLE_W0 = 24, TABLE_W = 16 };  /* least widths of the label column and of each model's column */

/* A number for a table cell: `dec` decimals between 1e-4 and 1e6 in magnitude (and for 0), else
 * scientific notation with `dec - 1` decimals, so that no value prints as a long string of digits or as
 * 0.0000 when it is not 0; "-" when not finite (not computable). */
static void fmt_num(char *buf, size_t len, double v, int dec)
{
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (v == 0 || (a >= 1e-4 && a < 1e6)) snprintf(buf, len, "%.*f", dec, v);
    else snprintf(buf, len, "%.*e", dec > 1 ? dec - 1 : 1, v);
}

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

/* 1 if model r absorbs a fixed effect named `name`. */
static int has_fe(const gr_result *r, const char *name)
{
    for (int k = 0; k < r->nfe; k++) if (!strcmp(r->fenames[k], name)) return 1;
    return 0;
}

/* The table's cells of one model (row by row), each formatted once for measuring and printing. */
enum { CELL_Y, CELL_SAMPLE, CELL_SE, CELL_WEIGHTS, CELL_ADJR2, CELL_WR2, CELL_F, CELL_FDF, CELL_N, NCELL };
typedef struct { char c[NCELL][256]; } model_cells;

static void coef_cell(const gr_result *r, int j, char *buf, size_t len)
{
    if (j < 0) { snprintf(buf, len, " "); return; }
    char v[64];
    fmt_num(v, sizeof v, r->coef[j], 4);
    snprintf(buf, len, "%s%s", v, isfinite(r->pval[j]) ? stars(r->pval[j]) : "");  /* no stars without a test */
}

static void se_cell(const gr_result *r, int j, char *buf, size_t len)
{
    if (j < 0) { snprintf(buf, len, " "); return; }
    char v[64];
    fmt_num(v, sizeof v, r->se[j], 4);
    snprintf(buf, len, "(%s)", v);
}

static void fill_cells(const gr_result *r, model_cells *mc)
{
    snprintf(mc->c[CELL_Y], sizeof mc->c[0], "%s", r->yname);
    snprintf(mc->c[CELL_SAMPLE], sizeof mc->c[0], "%s", r->sample_label);
    if (r->ncl > 0) snprintf(mc->c[CELL_SE], sizeof mc->c[0], "%s%s%s", r->clnames[0], r->ncl > 1 ? "&" : "",
                             r->ncl > 1 ? r->clnames[1] : "");
    else snprintf(mc->c[CELL_SE], sizeof mc->c[0], "%s", r->vcov_label);
    snprintf(mc->c[CELL_WEIGHTS], sizeof mc->c[0], "%s", r->weights ? r->weights : "none");
    if (isfinite(r->adj_r2)) snprintf(mc->c[CELL_ADJR2], sizeof mc->c[0], "%.3f", r->adj_r2);
    else snprintf(mc->c[CELL_ADJR2], sizeof mc->c[0], "-");
    if (r->nfe == 0) snprintf(mc->c[CELL_WR2], sizeof mc->c[0], " ");  /* not defined without fixed effects */
    else if (isfinite(r->within_r2)) snprintf(mc->c[CELL_WR2], sizeof mc->c[0], "%.3f", r->within_r2);
    else snprintf(mc->c[CELL_WR2], sizeof mc->c[0], "-");
    fmt_num(mc->c[CELL_F], sizeof mc->c[0], r->f_stat, 2);
    if (isfinite(r->f_df1) && isfinite(r->f_df2))
        snprintf(mc->c[CELL_FDF], sizeof mc->c[0], "(%.0f, %.0f)", r->f_df1, r->f_df2);
    else snprintf(mc->c[CELL_FDF], sizeof mc->c[0], "-");
    fmt_count(mc->c[CELL_N], sizeof mc->c[0], r->nobs);
}

/* Widths: w0 fits every row label, w[m] every cell of model m, each with at least one space before it;
 * never below TABLE_W0 and TABLE_W, so that ordinary tables keep their layout. */
static void column_widths(const gr_result *res, int nres, const model_cells *mc, const char **terms, int nt,
                          int *w0, int *w)
{
    *w0 = TABLE_W0;
    for (int t = 0; t < nt; t++) if ((int)strlen(terms[t]) + 1 > *w0) *w0 = (int)strlen(terms[t]) + 1;
    for (int m = 0; m < nres; m++)
        for (int k = 0; k < res[m].nfe; k++)
            if ((int)strlen(res[m].fenames[k]) + 4 > *w0) *w0 = (int)strlen(res[m].fenames[k]) + 4;  /* " FE" */
    for (int m = 0; m < nres; m++) {
        char cell[128];
        w[m] = TABLE_W;
        for (int c = 0; c < NCELL; c++) if ((int)strlen(mc[m].c[c]) + 1 > w[m]) w[m] = (int)strlen(mc[m].c[c]) + 1;
        for (int t = 0; t < nt; t++) {
            int j = term_index(&res[m], terms[t]);
            coef_cell(&res[m], j, cell, sizeof cell);
            if ((int)strlen(cell) + 1 > w[m]) w[m] = (int)strlen(cell) + 1;
            se_cell(&res[m], j, cell, sizeof cell);
            if ((int)strlen(cell) + 1 > w[m]) w[m] = (int)strlen(cell) + 1;
        }
    }
}

/* Two lines per term: the coefficients with stars, then the standard errors in parentheses. */
static void print_coef_rows(FILE *f, const gr_result *res, int nres, const char **terms, int nt, int w0, const int *w)
{
    for (int t = 0; t < nt; t++) {
        char cell[128];
        fprintf(f, "%-*s", w0, terms[t]);
        for (int m = 0; m < nres; m++) {
            coef_cell(&res[m], term_index(&res[m], terms[t]), cell, sizeof cell);
            fprintf(f, "%*s", w[m], cell);
        }
        fprintf(f, "\n%-*s", w0, "");
        for (int m = 0; m < nres; m++) {
            se_cell(&res[m], term_index(&res[m], terms[t]), cell, sizeof cell);
            fprintf(f, "%*s", w[m], cell);
        }
        fprintf(f, "\n");
    }
}

/* One line per fixed effect of any model (the union of names, in order of first appearance): Yes / No. */
static void print_fe_rows(FILE *f, const gr_result *res, int nres, int w0, const int *w)
{
    for (int m = 0; m < nres; m++)
        for (int k = 0; k < res[m].nfe; k++) {
            int seen = 0;
            for (int m2 = 0; m2 < m && !seen; m2++) seen = has_fe(&res[m2], res[m].fenames[k]);
            if (seen) continue;
            fprintf(f, "%s FE%*s", res[m].fenames[k], w0 - (int)strlen(res[m].fenames[k]) - 3, "");
            for (int m2 = 0; m2 < nres; m2++) fprintf(f, "%*s", w[m2], has_fe(&res[m2], res[m].fenames[k]) ? "Yes" : "No");
            fprintf(f, "\n");
        }
}

/* One row: the label, then cell c of every model. */
static void print_row(FILE *f, const char *label, const model_cells *mc, int nres, int c, int w0, const int *w)
{
    fprintf(f, "%-*s", w0, label);
    for (int m = 0; m < nres; m++) fprintf(f, "%*s", w[m], mc[m].c[c]);
    fprintf(f, "\n");
}

/* The lines under the coefficients: standard errors, weights (when any model has them), R2s, F and its
 * degrees of freedom, N. */
static void print_stat_rows(FILE *f, const gr_result *res, int nres, const model_cells *mc, int w0, const int *w)
{
    print_row(f, "Standard errors", mc, nres, CELL_SE, w0, w);
    int weighted = 0;
    for (int m = 0; m < nres; m++) weighted |= res[m].weights != NULL;
    if (weighted) print_row(f, "Weights", mc, nres, CELL_WEIGHTS, w0, w);
    print_row(f, "Adjusted R2", mc, nres, CELL_ADJR2, w0, w);
    print_row(f, "Within R2", mc, nres, CELL_WR2, w0, w);
    print_row(f, "F-statistic", mc, nres, CELL_F, w0, w);
    print_row(f, "F (df1, df2)", mc, nres, CELL_FDF, w0, w);
    print_row(f, "Observations", mc, nres, CELL_N, w0, w);
}

/* The notes under the table: stars, which F, what "-" means, models that did not converge. */
static void print_notes(FILE *f, const gr_result *res, int nres, const model_cells *mc)
{
    fprintf(f, "Standard errors in parentheses. *** p<0.01, ** p<0.05, * p<0.1.\n");
    fprintf(f, "F-statistic: fixest's F (coefficients and fixed effects vs. a constant); df2 = t-test df (clusters - 1 "
               "if clustered).\n");
    int dash = 0;
    for (int m = 0; m < nres; m++)
        dash |= !strcmp(mc[m].c[CELL_ADJR2], "-") || !strcmp(mc[m].c[CELL_WR2], "-") || !strcmp(mc[m].c[CELL_F], "-");
    if (dash)
        fprintf(f, "-: not computable (no constant or fixed effects to compare with, or no degrees of freedom left; "
                   "docs/estimator.md).\n");
    for (int m = 0; m < nres; m++)
        if (!res[m].converged)
            fprintf(f, "WARNING: model %d (%s, %s): demeaning did not converge\n", m + 1, res[m].yname,
                    res[m].sample_label);
}

/* The wild cluster bootstrap's p-values and intervals under the table, one line per tested term
 * (wildboot.c, docs/bootstrap.md); nothing for models without --boot. */
static void print_boot_notes(FILE *f, const gr_result *res, int nres)
{
    for (int m = 0; m < nres; m++) {
        const gr_result *r = &res[m];
        if (r->boot_draws <= 0 || !r->boot_p) continue;
        for (int j = 0; j < r->k; j++) {
            if (!isfinite(r->boot_p[j])) continue;
            char model[32] = "", ci[96] = "no interval (test inversion found no bound)";
            if (nres > 1) snprintf(model, sizeof model, "model %d, ", m + 1);
            if (isfinite(r->boot_lo[j]) && isfinite(r->boot_hi[j]))
                snprintf(ci, sizeof ci, "%g%% interval [%.6g, %.6g]", 100 * r->boot_level, r->boot_lo[j], r->boot_hi[j]);
            fprintf(f, "Wild cluster bootstrap (WCR, %s, %lld draws%s, seed %lld), %s%s: p = %.4g (equal-tail %.4g), %s.\n",
                    r->boot_weights, (long long)r->boot_draws, r->boot_enumerated ? ", enumerated" : "",
                    (long long)r->boot_seed, model, r->terms[j], r->boot_p[j], r->boot_p_et[j], ci);
        }
    }
}

void gr_print_table(FILE *f, const gr_result *res, int nres, const char *title)
{
    int nt;
    const char **terms = union_terms(res, nres, &nt);
    model_cells *mc = gr_malloc((size_t)(nres ? nres : 1), sizeof *mc);
    int *w = gr_malloc((size_t)(nres ? nres : 1), sizeof *w), w0;
    for (int m = 0; m < nres; m++) fill_cells(&res[m], &mc[m]);
    column_widths(res, nres, mc, terms, nt, &w0, w);
    int width = w0;
    for (int m = 0; m < nres; m++) width += w[m];
    char *line = gr_malloc((size_t)width + 1, 1);
    memset(line, '=', (size_t)width);
    line[width] = 0;
    if (title) fprintf(f, "%s\n", title);
    fprintf(f, "%s\n", line);
    print_row(f, "Dependent variable", mc, nres, CELL_Y, w0, w);
    print_row(f, "Sample", mc, nres, CELL_SAMPLE, w0, w);
    fprintf(f, "%s\n", line);
    print_coef_rows(f, res, nres, terms, nt, w0, w);
    print_fe_rows(f, res, nres, w0, w);
    print_stat_rows(f, res, nres, mc, w0, w);
    fprintf(f, "%s\n", line);
    print_notes(f, res, nres, mc);
    print_boot_notes(f, res, nres);
    free(terms); free(mc); free(w); free(line);
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
        /* fixest's confint: estimate -+ t(0.975, df_t) x std_error (the t of the p-value) */
        double q = r->df_t > 0 ? gsl_cdf_tdist_Qinv(0.025, r->df_t) : NAN;
        if (r->family) q = gsl_cdf_ugaussian_Qinv(0.025);  /* PPML: z (normal) intervals, as fixest's fepois */
        cJSON_AddItemToObject(c, "conf_low", num(r->coef[j] - q * r->se[j]));
        cJSON_AddItemToObject(c, "conf_high", num(r->coef[j] + q * r->se[j]));
        if (r->boot_draws > 0) {  /* wild cluster restricted bootstrap (wildboot.c, docs/bootstrap.md) */
            cJSON_AddItemToObject(c, "boot_p_value", num(r->boot_p[j]));
            cJSON_AddItemToObject(c, "boot_p_value_equal_tail", num(r->boot_p_et[j]));
            cJSON_AddItemToObject(c, "boot_conf_low", num(r->boot_lo[j]));
            cJSON_AddItemToObject(c, "boot_conf_high", num(r->boot_hi[j]));
        }
        cJSON_AddItemToArray(coefs, c);
    }
    cJSON_AddItemToObject(o, "r2", num(r->r2));
    cJSON_AddItemToObject(o, "adj_r2", num(r->adj_r2));
    cJSON_AddItemToObject(o, "within_r2", num(r->within_r2));
    /* which F: fixest's fitstat "f" (docs/vcov.md); null when not computable */
    cJSON_AddItemToObject(o, "f_stat", num(r->f_stat));
    cJSON_AddItemToObject(o, "f_df1", num(r->f_df1));
    cJSON_AddItemToObject(o, "f_df2", num(r->f_df2));
    cJSON_AddStringToObject(o, "f_type", "fixest_f");
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
    if (r->nlev > 0) {  /* the clustering diagnostic (leverage.h, docs/vcov.md "Fixed-effect leverage") */
        cJSON *lv = cJSON_AddArrayToObject(o, "cluster_diagnostic");
        for (int c = 0; c < r->nlev; c++) cJSON_AddItemToArray(lv, gr_lev_json(&r->lev[c]));
    }
    cJSON *fs = cJSON_AddObjectToObject(o, "fixef_sizes");
    for (int k = 0; k < r->nfe; k++) cJSON_AddNumberToObject(fs, r->fenames[k], (double)r->fesizes[k]);
    cJSON_AddNumberToObject(o, "iterations", r->iterations);
    cJSON_AddBoolToObject(o, "converged", r->converged);
    cJSON_AddStringToObject(o, "solver", r->solver ? r->solver : "");
    if (r->weights) cJSON_AddStringToObject(o, "weights", r->weights);
    if (r->family) {  /* PPML (ppml.c, docs/ppml.md) */
        cJSON_AddStringToObject(o, "family", r->family);
        cJSON_AddItemToObject(o, "deviance", num(r->deviance));
        cJSON_AddNumberToObject(o, "irls_iterations", r->irls_iterations);
        cJSON_AddNumberToObject(o, "inner_iterations", (double)r->inner_iterations);
        cJSON_AddNumberToObject(o, "separation_iterations", r->relu_iterations);
    }
    if (r->boot_draws > 0) {
        cJSON *b = cJSON_AddObjectToObject(o, "boot");
        cJSON_AddStringToObject(b, "method", "wild cluster restricted (WCR)");
        cJSON_AddStringToObject(b, "weights", r->boot_weights);
        cJSON_AddNumberToObject(b, "draws", (double)r->boot_draws);
        cJSON_AddBoolToObject(b, "enumerated", r->boot_enumerated);
        cJSON_AddNumberToObject(b, "seed", (double)r->boot_seed);
        cJSON_AddNumberToObject(b, "level", r->boot_level);
    }
    cJSON *d = cJSON_AddObjectToObject(o, "dropped");
    if (r->family) {
        cJSON_AddNumberToObject(d, "separated_fe", (double)r->n_sep_fe);
        cJSON_AddNumberToObject(d, "separated_relu", (double)r->n_sep_relu);
    }
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
    if (r->boot_draws > 0) cJSON_AddNumberToObject(t, "boot", r->t_boot);
    if (r->nlev > 0) cJSON_AddNumberToObject(t, "cluster_diag", r->t_cluster_diag);
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
