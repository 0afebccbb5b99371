/* design_balance.c: `gravrd balance`, the study's Online Appendix Table A.6: at the pair level, each
 * pair observable regressed on the partnership flag with exporter, importer and segment-pair fixed
 * effects for each bandwidth, and without segment pairs (the plain gravity comparison). The pairs
 * table is replicated; each rank fits the pairs of the exporters it owns (docs/design.md). */
#include "cleanup.h"
#include "commands.h"
#include "design.h"
#include "expr.h"
#include "model.h"
#include "opts.h"
#include "report.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BW 32
#define MAX_VARS 64
#define DEFAULT_VARS "log(distance_km),abs(gdp_diff),log(offline_trade_2012),log(offline_trade_2017)"

typedef struct {
    const char *data, *vars, *where, *json;
    int nbw;
    double bw[MAX_BW];
    char bwname[MAX_BW][32];
    gr_opt_list bwl;  /* --bandwidth as given; bw and bwname from it */
    int quiet;
    cJSON *prov;      /* provenance of the JSON result, made once the options are known */
} bal_opts;

static const gr_opt balance_table[] = {
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(bal_opts, data), .metavar = "FILE.h5",
     .help = "panel file with segpair_<KM> columns (gravrd segments)", .flags = GR_OPT_REQUIRED},
    {.name = "bandwidth", .kind = GR_OPT_LIST, .elem = GR_OPT_DOUBLE, GR_OPT_AT(bal_opts, bwl), .metavar = "KM",
     .help = "segment bandwidth", .flags = GR_OPT_REQUIRED | GR_OPT_REPEAT | GR_OPT_POSITIVE | GR_OPT_UNIQUE,
     .max = MAX_BW},
    {.name = "vars", .kind = GR_OPT_STRING, GR_OPT_AT(bal_opts, vars), .metavar = "LIST",
     .help = "comma-separated expressions over pairs columns and exp_<c> / imp_<c> city columns",
     .def = DEFAULT_VARS},
    {.name = "where", .kind = GR_OPT_STRING, GR_OPT_AT(bal_opts, where), .metavar = "EXPR",
     .help = "keep pairs where EXPR is true (pairs columns, e.g. 'dir == 1')"},
    {.name = "json", .kind = GR_OPT_STRING, GR_OPT_AT(bal_opts, json), .metavar = "FILE|-",
     .help = "the table as JSON ('-': stdout, then no table)"},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(bal_opts, quiet), .help = "no table, no warnings (errors still printed)"},
    {0}};

static const gr_opts_cmd balance_cmd = {
    "balance",
    "Balance of pair observables (Online Appendix Table A.6): one row per directed pair; each variable is\n"
    "regressed on partner with exporter + importer + segpair_<KM> fixed effects for every bandwidth, and with\n"
    "exporter + importer fixed effects only (column 'no segments'). Singleton groups are removed\n"
    "iteratively; standard errors are heteroskedasticity-robust (HC1) at the pair level, which is\n"
    "clustering by pair with one row per pair. Cells: coefficient (SE) and stars.",
    balance_table, NULL, 0};

/* Parse and check the options (identical on every rank): bw and bwname from the --bandwidth list. */
static int parse_balance(int argc, char **argv, bal_opts *o, gr_opts *s, int rank)
{
    int rc = gr_opts_parse(s, &balance_cmd, o, argc, argv, rank);
    for (int b = 0; b < o->bwl.n && !rc; b++)
        rc = gr_design_bandwidth_arg("--bandwidth", o->bwl.str[b], &o->bw[b], o->bwname[b]);
    if (!rc) o->nbw = o->bwl.n;
    gr_quiet |= o->quiet;
    return rc;
}

/* Split at commas outside parentheses and quotes. Returns the count, or -1 on an empty item / too many. */
static int split_vars(const char *s, char **out, int max)
{
    int n = 0, depth = 0, quote = 0;
    const char *b = s;
    for (const char *q = s;; q++) {
        if (*q == '"') quote = !quote;
        else if (!quote && *q == '(') depth++;
        else if (!quote && *q == ')') depth--;
        if (*q == 0 || (*q == ',' && depth == 0 && !quote)) {
            const char *e = q;
            while (b < e && *b == ' ') b++;
            while (e > b && e[-1] == ' ') e--;
            if (e == b || n == max) { for (int k = 0; k < n; k++) free(out[k]); return -1; }
            out[n] = gr_malloc((size_t)(e - b) + 1, 1);
            memcpy(out[n], b, (size_t)(e - b));
            out[n++][e - b] = 0;
            if (*q == 0) break;
            b = q + 1;
        }
    }
    return n;
}

/* the local pairs: rows of the pairs table whose exporter this rank owns */
typedef struct {
    const gr_panel *p;
    int64_t n;
    int64_t *row;
} lpairs;

/* Local: values of column `name` on the local pairs (pairs column, or exp_/imp_ city column), or NULL. */
static double *lp_column(const lpairs *lp, const char *name, char ***labels, int *nlabels)
{
    const gr_table *pt = &lp->p->pairs, *ct = &lp->p->cities;
    int c = gr_table_find(pt, name);
    double *v = gr_malloc((size_t)(lp->n ? lp->n : 1), sizeof *v);
    if (c >= 0) {
        for (int64_t i = 0; i < lp->n; i++) v[i] = pt->cols[c][lp->row[i]];
        if (labels) { *labels = pt->labels[c]; *nlabels = pt->nlabels[c]; }
        return v;
    }
    int side = !strncmp(name, "exp_", 4) ? 0 : !strncmp(name, "imp_", 4) ? 1 : -1;
    int who = side < 0 ? -1 : gr_table_find(pt, side ? "importer" : "exporter");
    int cc = side < 0 ? -1 : gr_table_find(ct, name + 4);
    if (who < 0 || cc < 0) { free(v); return NULL; }
    for (int64_t i = 0; i < lp->n; i++) {
        double id = pt->cols[who][lp->row[i]];
        v[i] = id >= 0 && id < ct->nrows ? ct->cols[cc][(int64_t)id] : NAN;
    }
    if (labels) { *labels = ct->labels[cc]; *nlabels = ct->nlabels[cc]; }
    return v;
}

static int lp_label(void *ctx, const char *column, const char *label, double *code)
{
    const lpairs *lp = ctx;
    char **labels = NULL;
    int n = 0;
    double *v = lp_column(lp, column, &labels, &n);
    free(v);
    if (!labels) return gr_fail(GR_EINPUT, "--vars", "column '%s' has no text labels to compare with \"%s\"", column, label);
    for (int k = 0; k < n; k++)
        if (labels[k] && !strcmp(labels[k], label)) { *code = k; return GR_OK; }
    return gr_fail(GR_EINPUT, "--vars", "column '%s' has no label \"%s\"", column, label);
}

/* Local: parse and evaluate `text` on the local pairs into out. Same outcome on every rank (the tables
 * are replicated). */
static int lp_eval(const lpairs *lp, const char *text, const char *what, double *out)
{
    gr_expr *e;
    int rc = gr_expr_parse(text, what, &e);
    if (rc) return rc;
    int nc = gr_expr_ncolumns(e);
    double **cols = gr_calloc((size_t)(nc ? nc : 1), sizeof *cols);
    for (int k = 0; k < nc && !rc; k++)
        if (!(cols[k] = lp_column(lp, gr_expr_column(e, k), NULL, NULL)))
            rc = gr_fail(GR_EINPUT, what, "unknown column '%s': not a pairs column or exp_/imp_ of a cities column of %s",
                         gr_expr_column(e, k), lp->p->path);
    if (!rc) rc = gr_expr_bind_labels(e, lp_label, (void *)lp);
    if (!rc) rc = gr_expr_eval(e, lp->n, cols, out);
    for (int k = 0; k < nc; k++) free(cols[k]);
    free(cols);
    gr_expr_free(e);
    return rc;
}

typedef struct { int ok; double coef, se, p; int64_t nobs; char msg[160]; } cell;

static void stars(double p, char *buf) { strcpy(buf, p < 0.01 ? "***" : p < 0.05 ? "**" : p < 0.1 ? "*" : ""); }

/* What balance works on: the design columns of the replicated pairs table, the pairs of this rank's
 * exporters and which of them --where keeps. */
typedef struct {
    int *exp, *imp;           /* m city ids each (gr_design_pairs) */
    unsigned char *treated;   /* m partner flags */
    int csp[MAX_BW];          /* pairs-table column of segpair_<bandwidth b> */
    lpairs lp;                /* this rank's pairs */
    double *keep;             /* lp.n flags: 1 = kept by --where */
} bal_pairs;

static void bal_pairs_free(bal_pairs *bp)
{
    free(bp->exp); free(bp->imp); free(bp->treated); free(bp->lp.row); free(bp->keep);
}

/* Collective (agreed status). The design columns of p's pairs table, the segpair_<d> column of each
 * bandwidth (stored or derived), this rank's pairs and the --where flags into bp (zeroed by the caller;
 * bal_pairs_free it also on failure). */
static int bal_pairs_open(MPI_Comm comm, const bal_opts *o, gr_panel *p, bal_pairs *bp)
{
    int64_t m = p->pairs.nrows;
    int rc = gr_design_pairs(&p->pairs, p->cities.nrows, o->data, &bp->exp, &bp->imp, &bp->treated);
    for (int b = 0; b < o->nbw && !rc; b++) {
        char nm[64];
        snprintf(nm, sizeof nm, "segpair_%s", o->bwname[b]);
        if (!gr_panel_has_column(p, nm) || (bp->csp[b] = gr_table_find(&p->pairs, nm)) < 0)  /* stored or derived */
            rc = gr_fail(GR_EINPUT, o->data, "no pairs column '%s'", nm);
    }
    lpairs *lp = &bp->lp;
    lp->p = p;
    int eb = p->n_exporters ? p->exp_begin : 0, ee = p->n_exporters ? p->exp_end : (p->rank == 0 ? INT32_MAX : 0);
    lp->row = gr_malloc((size_t)(m ? m : 1), sizeof *lp->row);
    for (int64_t k = 0; !rc && k < m; k++)
        if (bp->exp[k] >= eb && bp->exp[k] < ee) lp->row[lp->n++] = k;
    bp->keep = gr_malloc((size_t)(lp->n ? lp->n : 1), sizeof *bp->keep);
    for (int64_t i = 0; i < lp->n; i++) bp->keep[i] = 1;
    if (!rc && o->where) {
        rc = lp_eval(lp, o->where, "--where", bp->keep);
        for (int64_t i = 0; i < lp->n; i++) bp->keep[i] = isfinite(bp->keep[i]) && bp->keep[i] != 0;
    }
    rc = gr_agree(comm, rc);
    int64_t kept = 0;  /* an empty sample is an error, not a table of n/a */
    for (int64_t i = 0; i < lp->n && !rc; i++) kept += bp->keep[i] != 0;
    if (!rc) MPI_Allreduce(MPI_IN_PLACE, &kept, 1, MPI_INT64_T, MPI_SUM, comm);
    if (!rc && kept == 0) rc = gr_fail(GR_EINPUT, "--where", "no pairs satisfy '%s'", o->where ? o->where : "");
    return rc;
}

/* The rows of one regression: fixed-effect keys, partner flag and outcome of the kept pairs. */
typedef struct { double *ke, *ki, *ks, *x, *y; } bal_rows;

/* Local. The kept pairs' rows for table column col (a bandwidth's segment pairs, or none when
 * col == o->nbw) into r, compacting the outcome r->y (evaluated on all local pairs) in place. Returns
 * the row count. */
static int64_t bal_rows_fill(const bal_opts *o, const gr_panel *p, const bal_pairs *bp, int col, bal_rows *r)
{
    int withseg = col < o->nbw;
    int64_t q = 0;
    for (int64_t i = 0; i < bp->lp.n; i++) {
        if (bp->keep[i] == 0) continue;
        int64_t k = bp->lp.row[i];
        double s = withseg ? p->pairs.cols[bp->csp[col]][k] : 0;
        r->ke[q] = bp->exp[k]; r->ki[q] = bp->imp[k]; r->ks[q] = s >= 0 ? s : NAN; r->x[q] = bp->treated[k];
        r->y[q] = r->y[i];  /* compaction in place is safe: q <= i */
        q++;
    }
    return q;
}

/* Collective. Regress variable `var` (its q rows in r) on partner with exporter + importer (+ segment pair
 * when col < o->nbw) fixed effects into *c. A model that cannot be estimated fills c->msg and is not an
 * error; GR_EMPI / GR_ENOMEM are returned. */
static int bal_fit_cell(MPI_Comm comm, const bal_opts *o, int col, char *var, bal_rows *r, int64_t q, cell *c)
{
    int withseg = col < o->nbw;
    double *yy = r->y, *xx = r->x;
    double *fk[3] = {r->ke, r->ki, r->ks};
    char *fn[3] = {"exporter", "importer", NULL};
    char fname[64];
    snprintf(fname, sizeof fname, "segpair_%s", withseg ? o->bwname[col] : "");
    fn[2] = fname;
    char *xl[1] = {"partner"}, *yl[1] = {var};
    char label[64];
    snprintf(label, sizeof label, "%s", withseg ? o->bwname[col] : "no segments");
    int nfe = withseg ? 3 : 2;
    int32_t *fc[3] = {NULL, NULL, NULL};
    int64_t nfc[3];
    gr_model_data md = {.n = q, .ny = 1, .y = &yy, .ylabel = yl, .nx = 1, .x = &xx, .xlabel = xl,
                        .nfe = nfe, .fecode = fc, .fencode = nfc, .fename = fn, .label = label};
    gr_model_opts mo = {.absorb = {.tol = 1e-10, .maxiter = 100000, .method = GR_FE_CG, .rm_singletons = 1},
                        .fit = {.solver = GR_SOLVER_CHOL, .collin_tol = 1e-10}, .vcov = GR_VCOV_HC1};
    gr_result *res = NULL;
    int st = gr_model_codes_from_keys(comm, q, nfe, fk, fc, nfc);
    if (!st) st = gr_model_fit(comm, &md, 0, &mo, &res);
    for (int k = 0; k < nfe; k++) free(fc[k]);
    if (st == GR_OK) {
        int j = -1;
        for (int t = 0; t < res[0].k; t++) if (!strcmp(res[0].terms[t], "partner")) j = t;
        if (j >= 0) { c->ok = 1; c->coef = res[0].coef[j]; c->se = res[0].se[j]; c->p = res[0].pval[j]; }
        else snprintf(c->msg, sizeof c->msg, "partner collinear with the fixed effects");
        c->nobs = res[0].nobs;
        gr_result_free(&res[0]);
        free(res);
        return GR_OK;
    }
    if (st == GR_EMPI || st == GR_ENOMEM) return st;
    const char *m = gr_errmsg()[0] ? gr_errmsg() : "not estimable (see another rank)";
    size_t ll = strlen(label);  /* the message names the column, which the note names already */
    if (!strncmp(m, label, ll) && !strncmp(m + ll, ": ", 2)) m += ll + 2;
    snprintf(c->msg, sizeof c->msg, "%s", m);
    gr_clear_error();
    return GR_OK;
}

/* Collective. Every cell of the table: cells[v * (o->nbw + 1) + col] for the nv variables. */
static int bal_fit_cells(MPI_Comm comm, const bal_opts *o, const gr_panel *p, const bal_pairs *bp, char **vars, int nv,
                         cell *cells)
{
    int ncolumn = o->nbw + 1, rc = GR_OK;
    size_t n = (size_t)(bp->lp.n ? bp->lp.n : 1);
    bal_rows r = {gr_malloc(n, sizeof(double)), gr_malloc(n, sizeof(double)), gr_malloc(n, sizeof(double)),
                  gr_malloc(n, sizeof(double)), gr_malloc(n, sizeof(double))};
    for (int v = 0; v < nv && !rc; v++) {
        rc = gr_agree(comm, lp_eval(&bp->lp, vars[v], "--vars", r.y));
        for (int col = 0; col < ncolumn && !rc; col++) {
            int64_t q = bal_rows_fill(o, p, bp, col, &r);
            rc = bal_fit_cell(comm, o, col, vars[v], &r, q, &cells[v * ncolumn + col]);
            /* y was compacted for this column; re-evaluate for the next one */
            if (col + 1 < ncolumn && !rc) rc = gr_agree(comm, lp_eval(&bp->lp, vars[v], "--vars", r.y));
        }
    }
    free(r.ke); free(r.ki); free(r.ks); free(r.x); free(r.y);
    return rc;
}

/* Rank 0: the table on stdout, then a note for each cell that could not be estimated. */
static void print_balance(const bal_opts *o, char **vars, int nv, const cell *cells)
{
    int ncolumn = o->nbw + 1;
    printf("Balance of pair observables on partner (Online Appendix Table A.6): one row per directed pair%s%s\n",
           o->where ? ", where " : "", o->where ? o->where : "");
    printf("FE: exporter + importer + segment pair (columns d = km), exporter + importer only ('no segments');\n"
           "singletons removed; SE: HC1 at the pair level. *** p<0.01, ** p<0.05, * p<0.1\n");
    int w0 = 26, w = 24;
    printf("%-*s", w0, "variable");
    for (int col = 0; col < ncolumn; col++) {
        char h[48];
        if (col < o->nbw) snprintf(h, sizeof h, "d = %s km", o->bwname[col]); else snprintf(h, sizeof h, "no segments");
        printf("%*s", w, h);
    }
    printf("\n");
    for (int v = 0; v < nv; v++) {
        printf("%-*.*s", w0, w0 - 1, vars[v]);
        for (int col = 0; col < ncolumn; col++) {
            const cell *c = &cells[v * ncolumn + col];
            char buf[96], st[4];
            if (c->ok) { stars(c->p, st); snprintf(buf, sizeof buf, "%.4f (%.4f) %-3s", c->coef, c->se, st); }
            else snprintf(buf, sizeof buf, "n/a");
            printf("%*s", w, buf);
        }
        printf("\n");
    }
    printf("%-*s", w0, "pairs used (first var.)");
    for (int col = 0; col < ncolumn; col++) printf("%*lld", w, (long long)cells[col].nobs);
    printf("\n");
    for (int v = 0; v < nv; v++)
        for (int col = 0; col < ncolumn; col++)
            if (!cells[v * ncolumn + col].ok)
                printf("note: %s, %s: %s\n", vars[v], col < o->nbw ? o->bwname[col] : "no segments", cells[v * ncolumn + col].msg);
}

/* Rank 0: the table as JSON to --json's file (or stdout with '-'). */
static int write_balance_json(const bal_opts *o, char **vars, int nv, const cell *cells)
{
    int ncolumn = o->nbw + 1;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "data", o->data);
    cJSON_AddStringToObject(root, "vcov", "hc1");
    if (o->where) cJSON_AddStringToObject(root, "where", o->where);
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    for (int v = 0; v < nv; v++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "variable", vars[v]);
        cJSON *cs = cJSON_AddArrayToObject(r, "cells");
        for (int col = 0; col < ncolumn; col++) {
            const cell *c = &cells[v * ncolumn + col];
            cJSON *e = cJSON_CreateObject();
            if (col < o->nbw) cJSON_AddNumberToObject(e, "bandwidth_km", o->bw[col]);
            else cJSON_AddNullToObject(e, "bandwidth_km");
            if (c->ok) {
                cJSON_AddNumberToObject(e, "coef", c->coef);
                cJSON_AddNumberToObject(e, "se", c->se);
                cJSON_AddNumberToObject(e, "p", c->p);
                cJSON_AddNumberToObject(e, "nobs", (double)c->nobs);
            } else cJSON_AddStringToObject(e, "error", c->msg);
            cJSON_AddItemToArray(cs, e);
        }
        cJSON_AddItemToArray(rows, r);
    }
    cJSON_AddItemToObject(root, "provenance", cJSON_Duplicate(o->prov, 1));
    int rc = gr_write_json(o->json, root);
    cJSON_Delete(root);
    return rc;
}

static int run_balance(MPI_Comm comm, const bal_opts *o, int rank)
{
    char *vars[MAX_VARS];
    int nv = split_vars(o->vars, vars, MAX_VARS);
    if (nv < 0) return gr_fail(GR_EUSAGE, "--vars", "expected 1 to %d comma-separated expressions", MAX_VARS);
    gr_panel p;
    int rc = gr_panel_open(comm, o->data, &p);
    if (rc) { for (int k = 0; k < nv; k++) free(vars[k]); return rc; }
    bal_pairs bp;
    memset(&bp, 0, sizeof bp);
    cell *cells = gr_calloc((size_t)nv * (o->nbw + 1), sizeof *cells);
    rc = bal_pairs_open(comm, o, &p, &bp);
    if (!rc) rc = bal_fit_cells(comm, o, &p, &bp, vars, nv, cells);
    if (!rc && rank == 0) {
        if (!gr_quiet && !(o->json && !strcmp(o->json, "-"))) print_balance(o, vars, nv, cells);  /* '-': JSON alone */
        if (o->json) rc = write_balance_json(o, vars, nv, cells);
    }
    rc = gr_agree(comm, rc);
    free(cells);
    bal_pairs_free(&bp);
    for (int k = 0; k < nv; k++) free(vars[k]);
    gr_panel_close(&p);
    return rc;
}

int cmd_balance(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    bal_opts o;
    gr_opts s;
    memset(&o, 0, sizeof o);
    int rc = parse_balance(argc, argv, &o, &s, rank);
    if (rc == GR_OPTS_EXIT) { gr_opts_free(&s); return 0; }
    if (!rc && s.echo && rank == 0) gr_opts_echo(&s, stderr);
    if (!rc) o.prov = gr_opts_provenance(&s, comm);
    if (!(rc = gr_agree(comm, rc))) rc = gr_agree(comm, run_balance(comm, &o, rank));
    cJSON_Delete(o.prov);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, rc)); /* the table reached standard output */
}
