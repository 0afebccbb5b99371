/* rd_cmd.c: `gravrd rd`, local linear sharp RD at one or more fixed bandwidths on a panel file
 * (estimator in rd.c, docs/rd.md). */
#include "commands.h"
#include "expr.h"
#include "opts.h"
#include "panel.h"
#include "rd.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RD_MAX_BANDWIDTHS 256

typedef struct rd_opts {
    const char *data, *y, *running, *cluster, *where, *json;
    double cutoff;
    gr_opt_list bw;    /* --bandwidth */
    const double *h;   /* = bw.num */
    int nh;            /* = bw.n */
    gr_rd_kernel kernel;
    gr_rd_vcov vcov;
} rd_opts;

static const gr_opt_word rd_kernels[] = {
    {"triangular", GR_RD_TRIANGULAR}, {"uniform", GR_RD_UNIFORM}, {"epanechnikov", GR_RD_EPANECHNIKOV},
    {"tri", GR_RD_TRIANGULAR},        {"uni", GR_RD_UNIFORM},     {"epa", GR_RD_EPANECHNIKOV}, {NULL, 0}};
static const gr_opt_word rd_vcovs[] = {{"hc0", GR_RD_HC0}, {"hc1", GR_RD_HC1}, {"cluster", GR_RD_CLUSTER}, {NULL, 0}};

static const gr_opt rd_table[] = {
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(rd_opts, data), .metavar = "FILE.h5",
     .help = "panel file (HDF5, gravrd format)", .flags = GR_OPT_REQUIRED},
    {.name = "y", .kind = GR_OPT_STRING, GR_OPT_AT(rd_opts, y), .metavar = "COL", .help = "outcome column",
     .flags = GR_OPT_REQUIRED},
    {.name = "running", .kind = GR_OPT_STRING, GR_OPT_AT(rd_opts, running), .metavar = "COL",
     .help = "running variable column", .flags = GR_OPT_REQUIRED},
    {.name = "cutoff", .kind = GR_OPT_DOUBLE, GR_OPT_AT(rd_opts, cutoff), .metavar = "C", .help = "cutoff",
     .def = "0"},
    {.name = "bandwidth", .kind = GR_OPT_LIST, .elem = GR_OPT_DOUBLE, GR_OPT_AT(rd_opts, bw), .metavar = "H",
     .help = "bandwidth; one result each", .flags = GR_OPT_REQUIRED | GR_OPT_REPEAT | GR_OPT_POSITIVE,
     .max = RD_MAX_BANDWIDTHS},
    {.name = "kernel", .kind = GR_OPT_CHOICE, GR_OPT_AT(rd_opts, kernel), .metavar = "K", .help = "kernel",
     .def = "triangular", .words = rd_kernels},
    {.name = "vcov", .kind = GR_OPT_CHOICE, GR_OPT_AT(rd_opts, vcov), .metavar = "V",
     .help = "variance (default: cluster when --cluster is given, else hc1)", .words = rd_vcovs},
    {.name = "cluster", .kind = GR_OPT_STRING, GR_OPT_AT(rd_opts, cluster), .metavar = "COL",
     .help = "cluster id column for --vcov cluster"},
    {.name = "where", .kind = GR_OPT_STRING, GR_OPT_AT(rd_opts, where), .metavar = "EXPR",
     .help = "keep only rows where EXPR is true (see docs/rd.md)"},
    {.name = "json", .kind = GR_OPT_STRING, GR_OPT_AT(rd_opts, json), .metavar = "FILE|-",
     .help = "also write the results as JSON (to stdout with '-', then no table)"},
    {0}};

static const gr_opts_cmd rd_cmd = {
    "rd",
    "Sharp regression discontinuity by local linear regression at fixed bandwidths: a weighted line\n"
    "on each side of the cutoff within |X - C| <= H (X >= C is the treated side); the effect is the\n"
    "difference of the two intercepts (rdrobust's \"Conventional\" estimate, p = 1). See docs/rd.md.",
    rd_table, "Rows with a missing outcome, running variable or cluster id are dropped and counted.", 0};

/* Parse and check options; identical on every rank. GR_OK, GR_EUSAGE via gr_fail, or GR_OPTS_EXIT. */
static int parse(int argc, char **argv, rd_opts *o, gr_opts *s, int rank)
{
    int st = gr_opts_parse(s, &rd_cmd, o, argc, argv, rank);
    if (st) return st;
    o->h = o->bw.num;
    o->nh = o->bw.n;
    if (!gr_opts_given(s, "vcov")) o->vcov = o->cluster ? GR_RD_CLUSTER : GR_RD_HC1;
    if (o->vcov == GR_RD_CLUSTER && !o->cluster)
        return gr_fail(GR_EUSAGE, "--vcov", "cluster needs --cluster COL");
    if (o->vcov != GR_RD_CLUSTER && o->cluster)
        return gr_fail(GR_EUSAGE, "--cluster", "given with --vcov %s; use --vcov cluster", gr_rd_vcov_name(o->vcov));
    return GR_OK;
}

/* label resolution for --where string literals: the panel's label table of that column */
static int where_label(void *ctx, const char *column, const char *label, double *code)
{
    gr_panel *p = ctx;
    int n;
    char **labels = gr_panel_labels(p, column, &n);
    if (!labels) return gr_fail(GR_EINPUT, "--where", "column '%s' has no string labels to compare with \"%s\"", column, label);
    for (int k = 0; k < n; k++)
        if (labels[k] && !strcmp(labels[k], label)) {
            *code = k;
            return GR_OK;
        }
    return gr_fail(GR_EINPUT, "--where", "column '%s' has no label \"%s\"", column, label);
}

/* Apply --where: keep rows where the expression is non-zero (NaN = dropped). Compacts y, x, c in place
 * and returns the new local row count in *n. Collective (reads columns). */
static int apply_where(gr_panel *p, const char *text, int64_t *n, double *y, double *x, double *c)
{
    gr_expr *e = NULL;
    int st = gr_expr_parse(text, "--where", &e);
    if (st == GR_OK) {
        for (int k = 0; k < gr_expr_ncolumns(e) && st == GR_OK; k++)
            if (!gr_panel_has_column(p, gr_expr_column(e, k)))
                st = gr_fail(GR_EINPUT, "--where", "unknown column '%s' in %s", gr_expr_column(e, k), p->path);
    }
    if (st == GR_OK) st = gr_expr_bind_labels(e, where_label, p);
    if ((st = gr_agree(p->comm, st)) != GR_OK) {
        gr_expr_free(e);
        return st;
    }
    int nc = gr_expr_ncolumns(e);
    double **cols = gr_calloc((size_t)(nc > 0 ? nc : 1), sizeof *cols);
    for (int k = 0; k < nc && st == GR_OK; k++) st = gr_agree(p->comm, gr_panel_column(p, gr_expr_column(e, k), &cols[k]));
    double *keep = NULL;
    if (st == GR_OK) {
        keep = gr_malloc((size_t)(*n > 0 ? *n : 1), sizeof *keep);
        st = gr_agree(p->comm, gr_expr_eval(e, *n, cols, keep));
    }
    if (st == GR_OK) {
        int64_t m = 0;
        for (int64_t i = 0; i < *n; i++) {
            if (!(keep[i] != 0) || isnan(keep[i])) continue;
            y[m] = y[i];
            x[m] = x[i];
            if (c) c[m] = c[i];
            m++;
        }
        *n = m;
    }
    for (int k = 0; k < nc; k++) free(cols[k]);
    free(cols);
    free(keep);
    gr_expr_free(e);
    return st;
}

static cJSON *result_json(const rd_opts *o, const gr_rd_result *r, int64_t n_where, const double t[3],
                          const cJSON *prov)
{
    cJSON *j = cJSON_CreateObject(), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "nobs", (double)(r->n_eff[0] + r->n_eff[1]));
    cJSON *coefs = cJSON_AddArrayToObject(j, "coefficients");
    cJSON_AddStringToObject(c, "term", "rd_effect");
    cJSON_AddNumberToObject(c, "estimate", r->estimate);
    cJSON_AddNumberToObject(c, "std_error", r->std_error);
    cJSON_AddNumberToObject(c, "t_value", r->z);
    cJSON_AddNumberToObject(c, "p_value", r->p_value);
    cJSON_AddNumberToObject(c, "ci_low", r->ci_low);
    cJSON_AddNumberToObject(c, "ci_high", r->ci_high);
    cJSON_AddItemToArray(coefs, c);
    cJSON_AddNumberToObject(j, "bandwidth", r->h);
    cJSON_AddStringToObject(j, "kernel", gr_rd_kernel_name(r->kernel));
    cJSON_AddStringToObject(j, "vcov", gr_rd_vcov_name(r->vcov));
    cJSON_AddNumberToObject(j, "n_left", (double)r->n_eff[0]);
    cJSON_AddNumberToObject(j, "n_right", (double)r->n_eff[1]);
    cJSON_AddNumberToObject(j, "cutoff", r->cutoff);
    cJSON_AddStringToObject(j, "y", o->y);
    cJSON_AddStringToObject(j, "running", o->running);
    if (o->cluster) {
        cJSON_AddStringToObject(j, "cluster", o->cluster);
        cJSON_AddNumberToObject(j, "n_clusters_left", (double)r->n_clusters[0]);
        cJSON_AddNumberToObject(j, "n_clusters_right", (double)r->n_clusters[1]);
    }
    if (o->where) cJSON_AddStringToObject(j, "where", o->where);
    cJSON_AddNumberToObject(j, "intercept_left", r->intercept[0]);
    cJSON_AddNumberToObject(j, "intercept_right", r->intercept[1]);
    cJSON_AddNumberToObject(j, "slope_left", r->slope[0]);
    cJSON_AddNumberToObject(j, "slope_right", r->slope[1]);
    cJSON_AddNumberToObject(j, "n_side_left", (double)r->n_side[0]);
    cJSON_AddNumberToObject(j, "n_side_right", (double)r->n_side[1]);
    cJSON_AddNumberToObject(j, "n_used", (double)r->n_used);
    cJSON_AddNumberToObject(j, "n_dropped_missing", (double)r->n_dropped);
    cJSON_AddNumberToObject(j, "n_excluded_where", (double)n_where);
    cJSON *tm = cJSON_AddObjectToObject(j, "timings");
    cJSON_AddNumberToObject(tm, "read", t[0]);
    cJSON_AddNumberToObject(tm, "fit", t[1]);
    cJSON_AddNumberToObject(tm, "total", t[2]);
    cJSON_AddItemToObject(j, "provenance", cJSON_Duplicate(prov, 1));
    return j;
}

/* rank 0: write text to path via a temporary name and rename */
static int write_file(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return gr_fail(GR_EIO, path, "cannot create %s (directory missing or not writable?)", tmp);
    int bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
    bad |= fclose(f) != 0;
    if (bad) {
        remove(tmp);
        return gr_fail(GR_EIO, path, "write failed");
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return gr_fail(GR_EIO, path, "cannot rename %s into place", tmp);
    }
    return GR_OK;
}

int cmd_rd(int argc, char **argv, MPI_Comm comm)
{
    double t0 = gr_now();
    int rank;
    MPI_Comm_rank(comm, &rank);
    rd_opts o;
    gr_opts s;
    int st = parse(argc, argv, &o, &s, rank);
    if (st == GR_OPTS_EXIT) {
        gr_opts_free(&s);
        return 0;
    }
    if (st != GR_OK) {
        gr_opts_free(&s);
        if (rank != 0) gr_clear_error(); /* every rank parsed the same line: print once */
        return gr_report(st);
    }
    if (s.echo && rank == 0) gr_opts_echo(&s, stderr);
    if (o.where) { /* syntax errors before touching the file */
        gr_expr *e = NULL;
        st = gr_expr_parse(o.where, "--where", &e);
        gr_expr_free(e);
        if (st != GR_OK) {
            gr_opts_free(&s);
            if (rank != 0) gr_clear_error();
            return gr_report(st);
        }
    }

    gr_panel p;
    st = gr_panel_open(comm, o.data, &p);
    if (st != GR_OK) {
        gr_opts_free(&s);
        return gr_report(st);
    }
    double *y = NULL, *x = NULL, *cv = NULL;
    int64_t *cid = NULL, ncl = 0, n = p.nrows;
    const char *need[3] = {o.y, o.running, o.cluster};
    const char *opt[3] = {"--y", "--running", "--cluster"};
    for (int k = 0; k < 3 && st == GR_OK; k++)
        if (need[k] && !gr_panel_has_column(&p, need[k]))
            st = gr_fail(GR_EINPUT, opt[k], "unknown column '%s' in %s", need[k], o.data);
    st = gr_agree(comm, st);
    if (st == GR_OK) st = gr_agree(comm, gr_panel_column(&p, o.y, &y));
    if (st == GR_OK) st = gr_agree(comm, gr_panel_column(&p, o.running, &x));
    if (st == GR_OK && o.cluster) st = gr_agree(comm, gr_panel_column(&p, o.cluster, &cv));
    int64_t n_where = 0;
    if (st == GR_OK && o.where) {
        int64_t before = n;
        st = apply_where(&p, o.where, &n, y, x, cv);
        double ex = (double)(before - n);
        if (st == GR_OK) MPI_Allreduce(MPI_IN_PLACE, &ex, 1, MPI_DOUBLE, MPI_SUM, comm);
        n_where = (int64_t)ex;
    }
    if (st == GR_OK && o.cluster) {
        cid = gr_malloc((size_t)(n > 0 ? n : 1), sizeof *cid);
        st = gr_agree(comm, gr_rd_dense_ids(comm, n, cv, cid, &ncl));
    }
    double t_read = gr_now() - t0;

    gr_rd_result *res = gr_calloc((size_t)o.nh, sizeof *res);
    double *t_est = gr_calloc((size_t)o.nh, sizeof *t_est);
    for (int b = 0; b < o.nh && st == GR_OK; b++) {
        double t1 = gr_now();
        char where[64];
        snprintf(where, sizeof where, "bandwidth %g", o.h[b]);
        st = gr_rd_estimate_mpi(comm, n, y, x, cid, ncl, o.cutoff, o.h[b], o.kernel, o.vcov, where, &res[b]);
        t_est[b] = gr_now() - t1;
    }
    double t_total = gr_now() - t0;

    if (st == GR_OK && rank == 0) {
        int to_stdout = o.json && !strcmp(o.json, "-");
        if (!to_stdout) {
            const gr_rd_result *r = &res[0];
            printf("gravrd rd: %s on %s at cutoff %g (%s kernel, %s variance%s%s)\n", o.y, o.running, o.cutoff,
                   gr_rd_kernel_name(o.kernel), gr_rd_vcov_name(o.vcov), o.cluster ? " by " : "",
                   o.cluster ? o.cluster : "");
            printf("rows: %lld used, %lld dropped for missing values", (long long)r->n_used, (long long)r->n_dropped);
            if (o.where) printf(", %lld excluded by --where", (long long)n_where);
            printf("; %lld left / %lld right of the cutoff\n", (long long)r->n_side[0], (long long)r->n_side[1]);
            printf("%12s %12s %12s %9s %10s %12s %12s %8s %8s\n", "bandwidth", "estimate", "std.error", "z", "p-value",
                   "ci95.low", "ci95.high", "N.left", "N.right");
            for (int b = 0; b < o.nh; b++) {
                r = &res[b];
                printf("%12.6g %12.6g %12.6g %9.4f %10.3g %12.6g %12.6g %8lld %8lld\n", r->h, r->estimate, r->std_error,
                       r->z, r->p_value, r->ci_low, r->ci_high, (long long)r->n_eff[0], (long long)r->n_eff[1]);
            }
            fflush(stdout);
        }
        if (o.json) {
            cJSON *doc, *prov = gr_opts_provenance(&s, comm);
            if (o.nh == 1) {
                doc = result_json(&o, &res[0], n_where, (double[3]){t_read, t_est[0], t_total}, prov);
            } else {
                doc = cJSON_CreateArray();
                for (int b = 0; b < o.nh; b++)
                    cJSON_AddItemToArray(doc, result_json(&o, &res[b], n_where, (double[3]){t_read, t_est[b], t_total},
                                                          prov));
            }
            cJSON_Delete(prov);
            char *text = cJSON_Print(doc);
            if (!text) st = gr_fail(GR_ENOMEM, "--json", "cannot format the results");
            else if (to_stdout) {
                puts(text);
                fflush(stdout);
            } else
                st = write_file(o.json, text);
            free(text);
            cJSON_Delete(doc);
        }
    }
    st = gr_agree(comm, st);
    free(res);
    free(t_est);
    free(y);
    free(x);
    free(cv);
    free(cid);
    gr_panel_close(&p);
    gr_opts_free(&s);
    return gr_report(st);
}
