/* estimate.c: `gravrd estimate`: the options become a specification (spec.h); its sample is a frame on
 * the panel (frame.h: --where, then one sub-frame per --split value); each frame's evaluated columns go
 * to the model (model.h: absorber, then fit); report.c prints the table and writes the JSON. */
#include "cleanup.h"
#include "commands.h"
#include "frame.h"
#include "model.h"
#include "opts.h"
#include "panel.h"
#include "report.h"
#include "spec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A memory figure of this process from /proc/self/status ("VmHWM:" peak, "VmRSS:" now), bytes;
 * 0 if unknown. */
static double proc_status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    size_t len = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, len)) kb = atof(line + len);
    fclose(f);
    return kb * 1024.0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Collective: the sorted distinct finite values of v over all ranks into *out (*nout of them). */
static int distinct_values(MPI_Comm comm, int64_t n, const double *v, double **out, int *nout)
{
    int P;
    MPI_Comm_size(comm, &P);
    double *loc = gr_malloc((size_t)(n ? n : 1), sizeof *loc);
    int64_t m = 0, u = 0;
    for (int64_t i = 0; i < n; i++) if (isfinite(v[i])) loc[m++] = v[i];
    qsort(loc, (size_t)m, sizeof *loc, cmp_d);
    for (int64_t i = 0; i < m; i++) if (u == 0 || loc[i] != loc[u - 1]) loc[u++] = loc[i];
    int ui = 0, toti = 0, rc = gr_agree(comm, gr_int_count(u, "--split: distinct values on a rank", &ui));
    int *cnt = gr_malloc((size_t)P, sizeof *cnt), *dis = gr_malloc((size_t)P, sizeof *dis);
    if (!rc) MPI_Allgather(&ui, 1, MPI_INT, cnt, 1, MPI_INT, comm);
    int64_t tot = 0;
    for (int r = 0; r < P && !rc; r++) { dis[r] = (int)tot; tot += cnt[r]; }  /* checked below before use */
    if (!rc) rc = gr_agree(comm, gr_int_count(tot, "--split: distinct values", &toti));
    double *all = gr_malloc((size_t)(tot ? tot : 1), sizeof *all);
    if (!rc) MPI_Allgatherv(loc, ui, MPI_DOUBLE, all, cnt, dis, MPI_DOUBLE, comm);
    qsort(all, (size_t)tot, sizeof *all, cmp_d);
    int64_t k = 0;
    for (int64_t i = 0; i < tot && !rc; i++) if (k == 0 || all[i] != all[k - 1]) all[k++] = all[i];
    free(loc); free(cnt); free(dis);
    *out = all;
    *nout = (int)k;  /* k <= tot, checked to fit */
    return rc;
}

/* The command line as given (opts.h); gr_spec is built from it. */
typedef struct {
    const char *data, *formula, *cluster, *where, *split, *fsplit, *weights, *json, *title;
    int vcov, fixef_rm, drop_singletons, fe_method, solver, quiet;
    int64_t fe_maxiter;
    double fe_tol, collin_tol;
} est_cli;

static const gr_opt_word vcovs[] = {{"iid", GR_VCOV_IID}, {"hc1", GR_VCOV_HC1}, {"cluster", GR_VCOV_CLUSTER},
                                    {"hetero", GR_VCOV_HC1}, {NULL, 0}};
static const gr_opt_word fixef_rms[] = {{"none", 0}, {"singleton", 1}, {NULL, 0}};
static const gr_opt_word fe_methods[] = {{"cg", GR_FE_CG}, {"irons-tuck", GR_FE_IRONS_TUCK}, {"it", GR_FE_IRONS_TUCK},
                                         {NULL, 0}};
static const gr_opt_word solvers[] = {{"cholesky", GR_SOLVER_CHOL}, {"qr", GR_SOLVER_QR}, {"chol", GR_SOLVER_CHOL},
                                      {NULL, 0}};

#define S(f, m, h) .kind = GR_OPT_STRING, GR_OPT_AT(est_cli, f), .metavar = m, .help = h
static const gr_opt est_table[] = {
    {.name = "data", S(data, "FILE.h5", "panel file (gravrd format); read only"), .flags = GR_OPT_REQUIRED},
    {.name = "formula", S(formula, "TEXT", "model formula, e.g. 'y ~ x1 + log(x2) | fe1 + fe2^fe3'"), .flags = GR_OPT_REQUIRED},
    {.name = "cluster", S(cluster, "A[,B]", "cluster variable(s): one- or two-way")},
    {.name = "vcov", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, vcov), .metavar = "TYPE", .words = vcovs,
     .help = "variance (default: clustered by --cluster, else by the first fixed effect, else iid)"},
    {.name = "weights", S(weights, "EXPR", "observation weights (weighted least squares); 0 drops a row")},
    {.name = "where", S(where, "EXPR", "keep rows where EXPR is true, e.g. 'dir == 1 && control_type != 2'")},
    {.name = "split", S(split, "COL", "one model per value of COL")},
    {.name = "fsplit", S(fsplit, "COL", "the full sample, then one model per value of COL")},
    {.name = "fixef-rm", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, fixef_rm), .metavar = "M", .words = fixef_rms,
     .def = "none", .help = "singleton removal (fixest's fixef.rm; 'singleton' is reghdfe's default)"},
    {.name = "drop-singletons", .kind = GR_OPT_FLAG, GR_OPT_AT(est_cli, drop_singletons),
     .help = "the same as --fixef-rm singleton"},
    {.name = "fe-tol", .kind = GR_OPT_DOUBLE, GR_OPT_AT(est_cli, fe_tol), .metavar = "X", .def = "1e-6",
     .flags = GR_OPT_POSITIVE, .help = "demeaning tolerance"},
    {.name = "fe-maxiter", .kind = GR_OPT_INT, GR_OPT_AT(est_cli, fe_maxiter), .metavar = "N", .def = "10000",
     .flags = GR_OPT_RANGE, .lo = 1, .hi = 100000000, .help = "demeaning iteration cap"},
    {.name = "fe-method", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, fe_method), .metavar = "M", .words = fe_methods,
     .def = "cg", .help = "conjugate gradient on the normal equations, or Irons-Tuck sweeps (fixest's scheme)"},
    {.name = "solver", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, solver), .metavar = "S", .words = solvers,
     .def = "cholesky", .help = "distributed Cholesky of X'X, or distributed QR of X (ScaLAPACK)"},
    {.name = "collin-tol", .kind = GR_OPT_DOUBLE, GR_OPT_AT(est_cli, collin_tol), .metavar = "X", .def = "1e-10",
     .flags = GR_OPT_POSITIVE, .help = "collinearity tolerance"},
    {.name = "json", S(json, "FILE|-", "write the results as JSON ('-': stdout, which then holds only the JSON: no table)")},
    {.name = "title", S(title, "TEXT", "title printed above the table")},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(est_cli, quiet), .help = "no table, no warnings (errors still printed)"},
    {0}};
#undef S

static const gr_opts_cmd est_cmd_def = {
    "estimate",
    "Fixed-effects OLS with fixest's conventions. Outcomes: y or c(y1, y2, ...), estimated with one shared\n"
    "demeaning pass. Regressors: columns, log(x), log1p(x), x:z, I(expr). Fixed effects after '|', a^b for\n"
    "combinations. The spatial design's columns (segment_<d>, segpair_<d>, ntreated_<d>, same_<attr>_<d>)\n"
    "are derived for any bandwidth d; the panel file is never written.",
    est_table, NULL, 0};

typedef struct {
    gr_spec spec;
    const char *json, *title;
    est_cli cli;        /* what was parsed (opts keeps a pointer to it for the echo and provenance) */
    gr_opts opts;
} est_cmd;

/* Local. The specification of the command line (same on every rank); GR_OPTS_EXIT after --help. */
static int parse_options(int argc, char **argv, est_cmd *o, int rank)
{
    memset(o, 0, sizeof *o);
    int rc = gr_opts_parse(&o->opts, &est_cmd_def, &o->cli, argc, argv, rank);
    if (rc) return rc;
    const est_cli c = o->cli;
    if (c.split && c.fsplit) return gr_fail(GR_EUSAGE, "estimate", "--split and --fsplit exclude each other");
    gr_spec *s = &o->spec;
    gr_spec_defaults(s);
    s->data = c.data;
    s->formula_text = c.formula;
    s->cluster_text = c.cluster;
    s->where_text = c.where;
    s->weights_text = c.weights;
    s->split = c.split ? c.split : c.fsplit;
    s->fsplit = c.fsplit != NULL;
    s->vcov_set = gr_opts_given(&o->opts, "vcov") > 0;
    gr_model_opts *m = &s->model;
    m->vcov = (gr_vcov_type)c.vcov;
    m->absorb = (gr_absorb_opts){.tol = c.fe_tol, .maxiter = (int)c.fe_maxiter,  /* <= 1e8: fits */
                                 .method = (gr_fe_method)c.fe_method, .rm_singletons = c.fixef_rm || c.drop_singletons};
    m->fit = (gr_fit_opts){.solver = (gr_solver)c.solver, .collin_tol = c.collin_tol};
    o->json = c.json;
    o->title = c.title;
    gr_quiet |= c.quiet;
    return GR_OK;
}

/* ---- the plan: what each frame evaluates, in order, and the raw columns each item reads, so that a raw
 * column is freed after the last item that needs it (the raw and evaluated columns are never all held) */
enum { IT_SPLIT, IT_Y, IT_X, IT_FE, IT_CL, IT_W };
typedef struct {
    int kind, j;
    int nnames;
    const char *names[64];  /* borrowed from the spec's expressions */
} item;
typedef struct {
    int n;
    item *it;
} plan;

static void item_add_expr(item *t, const gr_expr *e)
{
    for (int q = 0; q < gr_expr_ncolumns(e) && t->nnames < 64; q++) t->names[t->nnames++] = gr_expr_column(e, q);
}

static void plan_build(const gr_spec *s, plan *pl)
{
    const gr_formula *f = &s->f;
    pl->it = gr_calloc((size_t)(f->ny + f->nx + f->nfe + s->ncl + 2), sizeof *pl->it);
    pl->n = 0;
    item *t;
    if (s->split_expr) { t = &pl->it[pl->n++]; t->kind = IT_SPLIT; item_add_expr(t, s->split_expr); }
    for (int j = 0; j < f->ny; j++) { t = &pl->it[pl->n++]; t->kind = IT_Y; t->j = j; item_add_expr(t, f->y[j]); }
    for (int j = 0; j < f->nx; j++) {
        t = &pl->it[pl->n++]; t->kind = IT_X; t->j = j;
        for (int r = 0; r < f->x[j].nfactors; r++) item_add_expr(t, f->x[j].factors[r]);
    }
    for (int k = 0; k < f->nfe; k++) {
        t = &pl->it[pl->n++]; t->kind = IT_FE; t->j = k;
        for (int q = 0; q < f->fe[k].nvars && t->nnames < 64; q++) t->names[t->nnames++] = f->fe[k].vars[q];
    }
    for (int c = 0; c < s->ncl; c++) { t = &pl->it[pl->n++]; t->kind = IT_CL; t->j = c; t->names[t->nnames++] = s->clnames[c]; }
    if (s->weights) { t = &pl->it[pl->n++]; t->kind = IT_W; item_add_expr(t, s->weights); }
}

static const char *const item_context[] = {"--split", "formula", "formula", "formula", "--cluster", "--weights"};

/* Collective. Every column the spec names exists in the panel (before anything is read). */
static int plan_check(const plan *pl, const gr_spec *s, gr_panel *p)
{
    int rc = GR_OK;
    for (int i = 0; i < pl->n && !rc; i++)
        for (int q = 0; q < pl->it[i].nnames && !rc; q++)
            if (!gr_panel_has_column(p, pl->it[i].names[q]))
                rc = gr_fail(GR_EINPUT, item_context[pl->it[i].kind], "unknown column '%s' in %s", pl->it[i].names[q], p->path);
    for (int q = 0; s->where && q < gr_expr_ncolumns(s->where) && !rc; q++)
        if (!gr_panel_has_column(p, gr_expr_column(s->where, q)))
            rc = gr_fail(GR_EINPUT, "--where", "unknown column '%s' in %s", gr_expr_column(s->where, q), p->path);
    return gr_agree(p->comm, rc);
}

/* 1 if an item after `after` (or any, with after = -1) reads raw column `name`. */
static int used_after(const plan *pl, int after, const char *name)
{
    for (int i = after + 1; i < pl->n; i++)
        for (int q = 0; q < pl->it[i].nnames; q++)
            if (!strcmp(pl->it[i].names[q], name)) return 1;
    return 0;
}

/* Free the raw columns that item i read for the last time (root frame). */
static void plan_drop_after(const plan *pl, int i, gr_frame *root)
{
    for (int q = 0; q < pl->it[i].nnames; q++)
        if (!used_after(pl, i, pl->it[i].names[q])) gr_frame_drop_raw(root, pl->it[i].names[q]);
}

/* The model's columns on frame fr, item by item (new blocks for outcomes and regressors, codes, weights),
 * freeing raw columns of the root frame after their last use. *t_read: seconds in panel reads. */
static int frame_data(gr_frame *fr, gr_frame *root, const gr_spec *s, const plan *pl, gr_model_data *d,
                      double *t_read, double *t_eval)
{
    const gr_formula *f = &s->f;
    int64_t n = fr->n;
    size_t nn = (size_t)(n ? n : 1);
    double *yb = gr_malloc(nn * (size_t)f->ny, sizeof *yb), *xb = gr_malloc(nn * (size_t)(f->nx ? f->nx : 1), sizeof *xb);
    for (int j = 0; j < f->ny; j++) d->y[j] = yb + (size_t)j * n;
    for (int j = 0; j < f->nx; j++) d->x[j] = xb + (size_t)j * n;
    if (f->nx == 0) free(xb);
    int rc = GR_OK;
    for (int i = 0; i < pl->n && !rc; i++) {
        const item *t = &pl->it[i];
        double ta = gr_now(), read_before = root->p->t_read;
        switch (t->kind) {
        case IT_Y: rc = gr_frame_eval(fr, f->y[t->j], "formula", d->y[t->j]); break;
        case IT_X: rc = gr_frame_term(fr, &f->x[t->j], d->x[t->j]); break;
        case IT_FE:
            d->fecode[t->j] = gr_malloc(nn, sizeof(int32_t));
            rc = gr_frame_codes(fr, f->fe[t->j].nvars, f->fe[t->j].vars, d->fecode[t->j], &d->fencode[t->j]);
            break;
        case IT_CL: {
            char *var[1] = {(char *)s->clnames[t->j]};
            d->clcode[t->j] = gr_malloc(nn, sizeof(int32_t));
            rc = gr_frame_codes(fr, 1, var, d->clcode[t->j], &d->clncode[t->j]);
            break;
        }
        case IT_W:
            d->w = gr_malloc(nn, sizeof *d->w);
            rc = gr_frame_eval(fr, s->weights, "--weights", d->w);
            break;
        default: break;  /* the split column: evaluated once on the root frame */
        }  /* every frame call above agrees on its status across ranks: no second agreement here */
        plan_drop_after(pl, i, root);
        *t_read += root->p->t_read - read_before;
        *t_eval += gr_now() - ta - (root->p->t_read - read_before);
    }
    return rc;
}

/* The pointer arrays of d for spec s on n rows (the columns come from frame_data). */
static void data_init(gr_model_data *d, const gr_spec *s, gr_frame *fr)
{
    const gr_formula *f = &s->f;
    memset(d, 0, sizeof *d);
    d->n = fr->n;
    d->ny = f->ny; d->nx = f->nx; d->nfe = f->nfe; d->ncl = s->ncl;
    d->intercept = f->intercept;
    d->y = gr_calloc((size_t)f->ny, sizeof *d->y);
    d->ylabel = f->ylabel;
    d->x = gr_calloc((size_t)(f->nx ? f->nx : 1), sizeof *d->x);
    d->xlabel = gr_calloc((size_t)(f->nx ? f->nx : 1), sizeof *d->xlabel);
    for (int j = 0; j < f->nx; j++) d->xlabel[j] = f->x[j].label;
    d->fecode = gr_calloc((size_t)(f->nfe ? f->nfe : 1), sizeof *d->fecode);
    d->fencode = gr_calloc((size_t)(f->nfe ? f->nfe : 1), sizeof *d->fencode);
    d->fename = gr_calloc((size_t)(f->nfe ? f->nfe : 1), sizeof *d->fename);
    for (int k = 0; k < f->nfe; k++) d->fename[k] = f->fe[k].label;
    d->clcode = gr_calloc(2, sizeof *d->clcode);
    d->clncode = gr_calloc(2, sizeof *d->clncode);
    d->clname = gr_calloc(2, sizeof *d->clname);
    for (int c = 0; c < s->ncl; c++) d->clname[c] = (char *)s->clnames[c];
    d->wname = s->weights_text;
    d->label = fr->label;
}

static void data_free(gr_model_data *d)
{
    if (d->ny > 0) free(d->y[0]);  /* NULL once the model took it */
    if (d->nx > 0) free(d->x[0]);
    for (int k = 0; k < d->nfe; k++) free(d->fecode[k]);
    for (int c = 0; c < d->ncl; c++) free(d->clcode[c]);
    free(d->w);
    free(d->y); free(d->x); free(d->xlabel); free(d->fecode); free(d->fencode); free(d->fename);
    free(d->clcode); free(d->clncode); free(d->clname);
}

/* Collective. Fit every outcome on frame fr; res gets s->f.ny results. */
static int fit_frame(gr_frame *fr, gr_frame *root, const gr_spec *s, const plan *pl, gr_result *res)
{
    gr_model_data d;
    data_init(&d, s, fr);
    double t_read = 0, t_eval = 0;
    int rc = frame_data(fr, root, s, pl, &d, &t_read, &t_eval);
    gr_result *r = NULL;
    if (!rc) rc = gr_model_fit(fr->comm, &d, 1, &s->model, &r);
    data_free(&d);
    if (rc) return rc;
    for (int j = 0; j < s->f.ny; j++) { r[j].t_read = t_read; r[j].t_prepare = t_eval; res[j] = r[j]; }
    free(r);
    return GR_OK;
}

/* Label of split value `val` of column `col`: its label when the column has a label table; then the
 * --where filter, if any ("East to west; where: control_type != 2"), as the table's Sample row shows it. */
static void split_label(gr_panel *p, const char *col, double val, const char *where, char *buf, size_t len)
{
    int nlab = 0, used;
    char **labs = gr_panel_labels(p, col, &nlab);
    if (labs && val >= 0 && val < nlab && val == floor(val)) used = snprintf(buf, len, "%s", labs[(int)val]);
    else used = snprintf(buf, len, "%s = %g", col, val);
    if (where && used >= 0 && (size_t)used < len) snprintf(buf + used, len - (size_t)used, "; where: %s", where);
}

/* Collective. The table on rank 0 and the JSON (results, memory figures, provenance). */
static int write_output(MPI_Comm comm, const est_cmd *o, gr_panel *p, gr_result *all, int nres, double rss_at_start)
{
    const gr_spec *s = &o->spec;
    int rank, rc = GR_OK;
    MPI_Comm_rank(comm, &rank);
    /* memory: peak resident set above the start of the command, against the bytes of the columns and
     * indices the model holds per row: outcomes and regressors (doubles); the pair index, the level ids of
     * each fixed effect and the cluster ids (int32); apart, the replicated cities and pairs tables */
    double mem_peak = proc_status_bytes("VmHWM:") - rss_at_start,
           mem_data = (double)p->nrows * (8.0 * (s->f.ny + s->f.nx + (s->weights ? 1 : 0)) + 4.0 * (1 + s->f.nfe + s->ncl)),
           mem_tables = 8.0 * ((double)p->cities.nrows * p->cities.ncols + (double)p->pairs.nrows * p->pairs.ncols);
    MPI_Allreduce(MPI_IN_PLACE, &mem_peak, 1, MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, &mem_data, 1, MPI_DOUBLE, MPI_MAX, comm);
    if (rank != 0) return GR_OK;
    int json_stdout = o->json && !strcmp(o->json, "-");  /* stdout then carries the JSON alone: no table */
    if (!gr_quiet && !json_stdout) gr_print_table(stdout, all, nres, o->title);
    if (!o->json) return GR_OK;
    cJSON *root;
    if (nres == 1) root = gr_result_json(&all[0]);
    else {
        root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "results");
        for (int r = 0; r < nres; r++) cJSON_AddItemToArray(arr, gr_result_json(&all[r]));
    }
    cJSON *mem = cJSON_AddObjectToObject(root, "memory");
    cJSON_AddNumberToObject(mem, "peak_rss_above_start_bytes_max_rank", mem_peak);
    cJSON_AddNumberToObject(mem, "data_bytes_max_rank", mem_data);
    cJSON_AddNumberToObject(mem, "replicated_table_bytes", mem_tables);
    cJSON_AddStringToObject(root, "formula", s->formula_text);
    cJSON_AddStringToObject(root, "data", s->data);
    cJSON_AddItemToObject(root, "provenance", gr_opts_provenance(&o->opts, comm));
    rc = gr_write_json(o->json, root);
    cJSON_Delete(root);
    return rc;
}

/* Collective. The split values of the root frame (sorted), or none without --split. */
static int split_values(gr_frame *root, const gr_spec *s, const plan *pl, double **splitcol, double **vals, int *nvals)
{
    *splitcol = NULL;
    *vals = NULL;
    *nvals = 0;
    if (!s->split_expr) return GR_OK;
    *splitcol = gr_malloc((size_t)(root->n ? root->n : 1), sizeof **splitcol);
    GR_CALL(gr_frame_eval(root, s->split_expr, "--split", *splitcol));
    plan_drop_after(pl, 0, root);
    GR_CALL(distinct_values(root->comm, root->n, *splitcol, vals, nvals));
    if (*nvals == 0) return gr_fail(GR_EINPUT, s->split, "split column has no values");
    return GR_OK;
}

/* Collective. Fit sample `sidx` (0 = the full sample under --fsplit, else split value) into res. */
static int fit_sample(gr_frame *root, const gr_spec *s, const plan *pl, const double *splitcol, double val, int full,
                      gr_result *res)
{
    if (full) return fit_frame(root, root, s, pl, res);
    char label[4400];
    split_label(root->p, s->split, val, s->where_text, label, sizeof label);
    unsigned char *mask = gr_malloc((size_t)(root->n ? root->n : 1), 1);
    for (int64_t i = 0; i < root->n; i++) mask[i] = splitcol[i] == val;
    gr_frame sub;
    int rc = gr_frame_sub(root, mask, label, &sub);
    free(mask);
    if (!rc) rc = fit_frame(&sub, root, s, pl, res);
    gr_frame_free(&sub);
    return rc;
}

static int run(MPI_Comm comm, est_cmd *o)
{
    double rss_at_start = proc_status_bytes("VmRSS:");
    gr_spec *s = &o->spec;
    GR_CALL(gr_spec_resolve(s));
    o->cli.vcov = s->model.vcov;  /* the echo and the provenance show the variance in effect */
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (o->opts.echo && rank == 0) gr_opts_echo(&o->opts, stderr);
    gr_panel p;
    GR_CALL(gr_panel_open(comm, s->data, &p));
    plan pl;
    plan_build(s, &pl);
    gr_frame root;
    memset(&root, 0, sizeof root);
    double *splitcol = NULL, *vals = NULL;
    int nvals = 0, ny = s->f.ny, nres = 0;
    int rc = plan_check(&pl, s, &p);
    char *root_label = gr_malloc(strlen(s->where_text ? s->where_text : "") + 16, 1);  /* the Sample row */
    if (s->where_text) sprintf(root_label, "where: %s", s->where_text);  /* sized above */
    else strcpy(root_label, "Full sample");
    if (!rc) rc = gr_frame_open(comm, &p, s->where, root_label, &root);
    free(root_label);
    rc = gr_agree(comm, rc);
    for (int q = 0; s->where && q < gr_expr_ncolumns(s->where); q++)
        if (!used_after(&pl, -1, gr_expr_column(s->where, q))) gr_frame_drop_raw(&root, gr_expr_column(s->where, q));
    root.caching = s->split != NULL;  /* the split's frames share what the root evaluates */
    if (!rc) rc = gr_agree(comm, split_values(&root, s, &pl, &splitcol, &vals, &nvals));
    int nsamples = s->split ? nvals + (s->fsplit ? 1 : 0) : 1;
    gr_result *all = gr_calloc((size_t)nsamples * (size_t)ny + 1, sizeof *all);
    gr_result *res = gr_calloc((size_t)ny, sizeof *res);
    for (int sidx = 0; sidx < nsamples && !rc; sidx++) {
        int full = !s->split || (s->fsplit && sidx == 0);
        rc = fit_sample(&root, s, &pl, splitcol, full ? 0 : vals[sidx - (s->fsplit ? 1 : 0)], full, res);
        /* outcome-major order, as in the study's tables: y1 by sample, then y2 by sample */
        for (int j = 0; j < ny && !rc; j++) { all[j * nsamples + sidx] = res[j]; nres++; }
    }
    rc = gr_agree(comm, rc);
    if (!rc) rc = gr_agree(comm, write_output(comm, o, &p, all, nres, rss_at_start));
    for (int r = 0; r < nsamples * ny; r++) gr_result_free(&all[r]);
    free(all); free(res); free(vals); free(splitcol); free(pl.it);
    gr_frame_free(&root);
    gr_panel_close(&p);
    return rc;
}

int cmd_estimate(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    est_cmd o;
    int rc = parse_options(argc, argv, &o, rank);
    if (rc == GR_OPTS_EXIT) { gr_opts_free(&o.opts); return 0; }
    if (!rc) rc = run(comm, &o);
    rc = gr_agree(comm, rc);  /* one message, from the lowest failing rank */
    gr_spec_free(&o.spec);
    gr_opts_free(&o.opts);
    return gr_report(gr_stdout_agree(comm, rc));
}
