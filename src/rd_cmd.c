/* rd_cmd.c: `gravrd rd`, local linear sharp RD at one or more fixed bandwidths on a panel file
 * (estimator in rd.c, docs/rd.md). */
#include "cleanup.h"
#include "commands.h"
#include "expr.h"
#include "frame.h"
#include "opts.h"
#include "panel.h"
#include "rd.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The sample rd estimates on: this rank's rows where --where holds (a frame, frame.h), with their outcome,
 * running variable and dense cluster ids. */
typedef struct rd_sample {
    int64_t n;          /* local rows */
    int64_t n_where;    /* rows of all ranks that --where removed */
    double *y, *x;      /* n values each */
    int64_t *cid, ncl;  /* n dense cluster ids (gr_rd_dense_ids) and their count; NULL, 0 without --cluster */
} rd_sample;

enum { RD_WHERE, RD_Y, RD_RUNNING, RD_CLUSTER, RD_NEXPR };

/* Local (the same on every rank). Parse --where, --y, --running and --cluster into e[RD_NEXPR] (all NULL on
 * entry; those not given stay NULL; the caller frees them, also on failure), so that syntax errors come
 * before the file is read. */
static int parse_exprs(const rd_opts *o, gr_expr *e[RD_NEXPR])
{
    const char *text[RD_NEXPR] = {o->where, o->y, o->running, o->cluster};
    static const char *const opt[RD_NEXPR] = {"--where", "--y", "--running", "--cluster"};
    for (int k = 0; k < RD_NEXPR; k++)
        if (text[k]) GR_CALL(gr_expr_parse(text[k], opt[k], &e[k]));
    return GR_OK;
}

/* Collective. The cluster expression on the frame's rows as dense ids 0..G-1 into s->cid (allocated here). */
static int cluster_ids(gr_frame *f, gr_expr *cluster, rd_sample *s)
{
    double *v = gr_malloc((size_t)(f->n ? f->n : 1), sizeof *v);
    s->cid = gr_malloc((size_t)(f->n ? f->n : 1), sizeof *s->cid);
    int rc = gr_frame_eval(f, cluster, "--cluster", v);
    if (rc == GR_OK) rc = gr_agree(f->comm, gr_rd_dense_ids(f->comm, f->n, v, s->cid, &s->ncl));
    free(v);
    return rc;
}

/* Collective. Open the frame of p's rows where e[RD_WHERE] holds (all rows without it) and evaluate the
 * outcome, running variable and clusters on it into s (zeroed by the caller; its arrays are the caller's
 * to free, also on failure). Missing values stay NaN: gr_rd_estimate_mpi drops and counts them. */
static int load_sample(MPI_Comm comm, gr_panel *p, gr_expr *e[RD_NEXPR], rd_sample *s)
{
    gr_frame f;
    int rc = gr_agree(comm, gr_frame_open(comm, p, e[RD_WHERE], NULL, &f));
    if (rc != GR_OK) goto fail;
    s->n = f.n;
    s->n_where = p->nrows_total - f.nobs;
    s->y = gr_malloc((size_t)(f.n ? f.n : 1), sizeof *s->y);
    s->x = gr_malloc((size_t)(f.n ? f.n : 1), sizeof *s->x);
    GR_TRY(gr_frame_eval(&f, e[RD_Y], "--y", s->y));
    GR_TRY(gr_frame_eval(&f, e[RD_RUNNING], "--running", s->x));
    if (e[RD_CLUSTER]) GR_TRY(cluster_ids(&f, e[RD_CLUSTER], s));
fail:
    gr_frame_free(&f);
    return rc;
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
    cJSON_AddNumberToObject(j, "nearest_left", r->nearest[0]);
    cJSON_AddNumberToObject(j, "nearest_right", r->nearest[1]);
    cJSON_AddBoolToObject(j, "extrapolated", r->extrapolated);  /* a side has no row within h/2 of the cutoff */
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

/* Collective. One estimate per bandwidth into res[o->nh]; the seconds each took into t_est[o->nh]. */
static int estimate_all(MPI_Comm comm, const rd_opts *o, const rd_sample *d, gr_rd_result *res, double *t_est)
{
    for (int b = 0; b < o->nh; b++) {
        double t1 = gr_now();
        char where[64];
        snprintf(where, sizeof where, "bandwidth %g", o->h[b]);
        GR_CALL(gr_rd_estimate_mpi(comm, d->n, d->y, d->x, d->cid, d->ncl, o->cutoff, o->h[b], o->kernel, o->vcov,
                                   where, &res[b]));
        t_est[b] = gr_now() - t1;
    }
    return GR_OK;
}

/* Rank 0: the text table on stdout, one line per bandwidth. */
static void print_table(const rd_opts *o, const rd_sample *d, const gr_rd_result *res)
{
    const gr_rd_result *r = &res[0];
    printf("gravrd rd: %s on %s at cutoff %g (%s kernel, %s variance%s%s)\n", o->y, o->running, o->cutoff,
           gr_rd_kernel_name(o->kernel), gr_rd_vcov_name(o->vcov), o->cluster ? " by " : "",
           o->cluster ? o->cluster : "");
    printf("rows: %lld used, %lld dropped for missing values", (long long)r->n_used, (long long)r->n_dropped);
    if (o->where) printf(", %lld excluded by --where", (long long)d->n_where);
    printf("; %lld left / %lld right of the cutoff\n", (long long)r->n_side[0], (long long)r->n_side[1]);
    printf("%12s %12s %12s %9s %10s %12s %12s %8s %8s\n", "bandwidth", "estimate", "std.error", "z", "p-value",
           "ci95.low", "ci95.high", "N.left", "N.right");
    int marked = 0;
    for (int b = 0; b < o->nh; b++) {
        r = &res[b];
        printf("%12.6g %12.6g %12.6g %9.4f %10.3g %12.6g %12.6g %8lld %8lld%s\n", r->h, r->estimate, r->std_error,
               r->z, r->p_value, r->ci_low, r->ci_high, (long long)r->n_eff[0], (long long)r->n_eff[1],
               r->extrapolated ? "  extrapolated" : "");
        marked |= r->extrapolated;
    }
    if (marked)
        printf("extrapolated: a side has no observation within half the bandwidth of the cutoff; its intercept is "
               "extrapolated across the empty region (docs/rd.md)\n");
    fflush(stdout);
}

/* Rank 0: a warning for each bandwidth whose estimate is extrapolated across an empty region. */
static void warn_extrapolated(const gr_rd_result *res, int nh)
{
    for (int b = 0; b < nh; b++)
        if (res[b].extrapolated)
            gr_warn("bandwidth %g: no observation within %g of the cutoff on the %s (nearest: %g left, %g right): the "
                    "estimate is extrapolated across the empty region", res[b].h, RD_GAP_SHARE * res[b].h,
                    res[b].nearest[0] > RD_GAP_SHARE * res[b].h ? (res[b].nearest[1] > RD_GAP_SHARE * res[b].h ?
                    "left and right" : "left") : "right", res[b].nearest[0], res[b].nearest[1]);
}

/* Rank 0: the JSON of the results (an object for one bandwidth, else an array) to --json's file, or to
 * stdout with '-'. t_read and t_total are seconds; t_est[b] those of bandwidth b. */
static int write_json(const rd_opts *o, const gr_opts *s, MPI_Comm comm, const rd_sample *d,
                      const gr_rd_result *res, double t_read, const double *t_est, double t_total)
{
    cJSON *doc, *prov = gr_opts_provenance(s, comm);
    if (o->nh == 1) {
        doc = result_json(o, &res[0], d->n_where, (double[3]){t_read, t_est[0], t_total}, prov);
    } else {
        doc = cJSON_CreateArray();
        for (int b = 0; b < o->nh; b++)
            cJSON_AddItemToArray(doc, result_json(o, &res[b], d->n_where, (double[3]){t_read, t_est[b], t_total}, prov));
    }
    cJSON_Delete(prov);
    int st = GR_OK;
    char *text = cJSON_Print(doc);
    if (!text) st = gr_fail(GR_ENOMEM, "--json", "cannot format the results");
    else st = gr_write_text(o->json, text); /* a checked temporary renamed into place, or stdout for '-' */
    free(text);
    cJSON_Delete(doc);
    return st;
}

/* Collective. Options and expressions parsed on every rank (GR_OPTS_EXIT: --help or --version printed);
 * a failure is printed once, by rank 0. Returns the command's exit status in *exit_status when it ends here. */
static int start(int argc, char **argv, int rank, rd_opts *o, gr_opts *s, gr_expr *e[RD_NEXPR], int *exit_status)
{
    for (int k = 0; k < RD_NEXPR; k++) e[k] = NULL;
    int st = parse(argc, argv, o, s, rank);
    if (st == GR_OK && s->echo && rank == 0) gr_opts_echo(s, stderr);
    if (st == GR_OK) st = parse_exprs(o, e);
    if (st == GR_OK) return GR_OK;
    for (int k = 0; k < RD_NEXPR; k++) gr_expr_free(e[k]);
    gr_opts_free(s);
    if (st == GR_OPTS_EXIT) {
        *exit_status = 0;
        return st;
    }
    if (rank != 0) gr_clear_error(); /* every rank parsed the same line: print once */
    *exit_status = gr_report(st);
    return st;
}

int cmd_rd(int argc, char **argv, MPI_Comm comm)
{
    double t0 = gr_now();
    int rank, exit_status;
    MPI_Comm_rank(comm, &rank);
    rd_opts o;
    gr_opts s;
    gr_expr *e[RD_NEXPR];
    if (start(argc, argv, rank, &o, &s, e, &exit_status) != GR_OK) return exit_status;

    gr_panel p;
    rd_sample d = {0};
    gr_rd_result *res = gr_calloc((size_t)o.nh, sizeof *res);
    double *t_est = gr_calloc((size_t)o.nh, sizeof *t_est);
    int st = gr_panel_open(comm, o.data, &p);
    if (st == GR_OK) {
        st = load_sample(comm, &p, e, &d);
        double t_read = gr_now() - t0;
        if (st == GR_OK) st = estimate_all(comm, &o, &d, res, t_est);
        double t_total = gr_now() - t0;
        if (st == GR_OK && rank == 0) {
            warn_extrapolated(res, o.nh);
            if (!o.json || strcmp(o.json, "-")) print_table(&o, &d, res);
            if (o.json) st = write_json(&o, &s, comm, &d, res, t_read, t_est, t_total);
        }
        st = gr_agree(comm, st);
        gr_panel_close(&p);
    }
    free(res);
    free(t_est);
    free(d.y);
    free(d.x);
    free(d.cid);
    for (int k = 0; k < RD_NEXPR; k++) gr_expr_free(e[k]);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, st)); /* the table reached standard output */
}
