/* estimate.c: `gravrd estimate`: the options become a specification (spec.h); its sample is a frame on
 * the panel (frame.h: --where, then one sub-frame per --split value); each frame's evaluated columns go
 * to the model (model.h: absorber, then fit); report.c prints the table and writes the JSON. */
#include "cleanup.h"
#include "commands.h"
#include "frame.h"
#include "leverage.h"
#include "model.h"
#include "opts.h"
#include "panel.h"
#include "report.h"
#include "spec.h"
#include "specrun.h"
#include "wildboot.h"
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

/* The command line as given (opts.h); gr_spec is built from it. */
typedef struct {
    const char *data, *formula, *cluster, *where, *split, *fsplit, *weights, *offset, *json, *title;
    int vcov, fixef_rm, drop_singletons, fe_method, solver, quiet;
    int64_t fe_maxiter;
    double fe_tol, collin_tol;
    int family, separation;     /* --family, --separation (ppml.h) */
    int cluster_diag;           /* --cluster-diag (leverage.h) */
    int64_t ppml_maxiter;
    double ppml_tol;
    int64_t boot, boot_seed;    /* --boot, --boot-seed (wildboot.h) */
    int boot_weights;
    double boot_level;
    const char *boot_term;
} est_cli;

static const gr_opt_word vcovs[] = {{"iid", GR_VCOV_IID}, {"hc1", GR_VCOV_HC1}, {"cluster", GR_VCOV_CLUSTER},
                                     {"cr2", GR_VCOV_CR2}, {"cr3", GR_VCOV_CR3},
                                    {"hetero", GR_VCOV_HC1}, {NULL, 0}};
static const gr_opt_word fixef_rms[] = {{"none", 0}, {"singleton", 1}, {NULL, 0}};
static const gr_opt_word fe_methods[] = {{"cg", GR_FE_CG}, {"irons-tuck", GR_FE_IRONS_TUCK}, {"it", GR_FE_IRONS_TUCK},
                                         {NULL, 0}};
static const gr_opt_word cluster_diags[] = {{"auto", GR_LEV_DIAG_AUTO}, {"on", GR_LEV_DIAG_ON}, {"off", GR_LEV_DIAG_OFF},
                                           {NULL, 0}};
static const gr_opt_word families[] = {{"gaussian", GR_FAMILY_GAUSSIAN}, {"poisson", GR_FAMILY_POISSON}, {NULL, 0}};
static const gr_opt_word separations[] = {{"fe-relu", 1}, {"none", 0}, {NULL, 0}};
static const gr_opt_word boot_weights[] = {{"rademacher", GR_BOOT_RADEMACHER}, {"webb", GR_BOOT_WEBB}, {NULL, 0}};
static const gr_opt_word solvers[] = {{"cholesky", GR_SOLVER_CHOL}, {"qr", GR_SOLVER_QR}, {"chol", GR_SOLVER_CHOL},
                                      {NULL, 0}};

#define S(f, m, h) .kind = GR_OPT_STRING, GR_OPT_AT(est_cli, f), .metavar = m, .help = h
static const gr_opt est_table[] = {
    {.name = "data", S(data, "FILE.h5", "panel file (gravrd format); read only"), .flags = GR_OPT_REQUIRED},
    {.name = "formula", S(formula, "TEXT", "model formula, e.g. 'y ~ x1 + log(x2) | fe1 + fe2^fe3'"), .flags = GR_OPT_REQUIRED},
    {.name = "cluster", S(cluster, "A[,B]", "cluster variable(s): one- or two-way")},
    {.name = "vcov", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, vcov), .metavar = "TYPE", .words = vcovs,
     .help = "variance (default: clustered by --cluster, else by the first fixed effect, else iid)"},
    {.name = "cluster-diag", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, cluster_diag), .metavar = "M",
     .words = cluster_diags, .def = "auto", .help = "clustering diagnostic (docs/vcov.md): auto = nesting and clusters "
     "per level always, the ratio E[CR]/Var only where a fixed effect not nested in the cluster has few (< 10) "
     "clusters per level; on = always the ratio; off = none"},
    {.name = "weights", S(weights, "EXPR", "observation weights (weighted least squares); 0 drops a row")},
    {.name = "offset", S(offset, "EXPR", "offset with coefficient 1: OLS of y - EXPR, or in the Poisson linear "
                         "predictor (fixest's offset = ~EXPR); rows where it is not finite are dropped")},
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
    {.name = "family", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, family), .metavar = "F", .words = families,
     .def = "gaussian", .help = "gaussian: least squares; poisson: Poisson PML (fixest's fepois, docs/ppml.md)"},
    {.name = "ppml-tol", .kind = GR_OPT_DOUBLE, GR_OPT_AT(est_cli, ppml_tol), .metavar = "X", .def = "1e-8",
     .flags = GR_OPT_POSITIVE, .help = "poisson: IRLS stops when |dev - dev_prev| / (0.1 + |dev|) < X"},
    {.name = "ppml-maxiter", .kind = GR_OPT_INT, GR_OPT_AT(est_cli, ppml_maxiter), .metavar = "N", .def = "100",
     .flags = GR_OPT_RANGE, .lo = 1, .hi = 100000, .help = "poisson: IRLS iteration cap (reaching it is an error)"},
    {.name = "separation", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, separation), .metavar = "M", .words = separations,
     .def = "fe-relu", .help = "poisson: drop all-zero fixed-effect groups and run the ReLU check, or none"},
    {.name = "boot", .kind = GR_OPT_INT, GR_OPT_AT(est_cli, boot), .metavar = "B", .def = "0", .flags = GR_OPT_RANGE,
     .lo = 0, .hi = 1000000, .help = "wild cluster restricted bootstrap with B draws (one-way clustering; 0: off; "
     "every sign vector when 2^G <= B, docs/bootstrap.md)"},
    {.name = "boot-weights", .kind = GR_OPT_CHOICE, GR_OPT_AT(est_cli, boot_weights), .metavar = "W",
     .words = boot_weights, .def = "rademacher", .help = "bootstrap weights per cluster"},
    {.name = "boot-seed", .kind = GR_OPT_INT, GR_OPT_AT(est_cli, boot_seed), .metavar = "S", .def = "1",
     .flags = GR_OPT_RANGE, .lo = 0, .hi = 9007199254740991.0, .help = "seed of the bootstrap weights"},
    {.name = "boot-level", .kind = GR_OPT_DOUBLE, GR_OPT_AT(est_cli, boot_level), .metavar = "X", .def = "0.95",
     .flags = GR_OPT_RANGE, .lo = 0, .hi = 1, .help = "level of the bootstrap interval (test inversion)"},
    {.name = "boot-term", S(boot_term, "NAME", "bootstrap only this regressor (default: every regressor)")},
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
    s->offset_text = c.offset;
    s->split = c.split ? c.split : c.fsplit;
    s->fsplit = c.fsplit != NULL;
    s->vcov_set = gr_opts_given(&o->opts, "vcov") > 0;
    gr_model_opts *m = &s->model;
    m->vcov = (gr_vcov_type)c.vcov;
    m->absorb = (gr_absorb_opts){.tol = c.fe_tol, .maxiter = (int)c.fe_maxiter,  /* <= 1e8: fits */
                                 .method = (gr_fe_method)c.fe_method, .rm_singletons = c.fixef_rm || c.drop_singletons};
    m->fit = (gr_fit_opts){.solver = (gr_solver)c.solver, .collin_tol = c.collin_tol};
    m->cluster_diag = c.cluster_diag;
    s->family = c.family;
    s->ppml.tol = c.ppml_tol;
    s->ppml.maxiter = (int)c.ppml_maxiter;  /* <= 1e5: fits */
    s->ppml.separation = c.separation;
    m->boot = (gr_boot_opts){.B = c.boot, .weights = c.boot_weights, .seed = c.boot_seed, .level = c.boot_level,
                             .term = c.boot_term};
    static const char *const boot_only[] = {"boot-weights", "boot-seed", "boot-level", "boot-term"};
    for (int i = 0; i < 4 && c.boot == 0; i++)
        if (gr_opts_given(&o->opts, boot_only[i]) > 0)
            return gr_fail(GR_EUSAGE, "estimate", "--%s needs --boot B (B > 0)", boot_only[i]);
    o->json = c.json;
    o->title = c.title;
    gr_quiet |= c.quiet;
    return GR_OK;
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
           mem_data = (double)p->nrows * (8.0 * (s->f.ny + s->f.nx + (s->weights ? 1 : 0) + (s->offset ? 1 : 0))
                                          + 4.0 * (1 + s->f.nfe + s->ncl)),
           mem_tables = 8.0 * ((double)p->cities.nrows * p->cities.ncols + (double)p->pairs.nrows * p->pairs.ncols);
    MPI_Allreduce(MPI_IN_PLACE, &mem_peak, 1, MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, &mem_data, 1, MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, &mem_tables, 1, MPI_DOUBLE, MPI_MAX, comm);
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
    cJSON_AddNumberToObject(mem, "table_bytes_max_rank", mem_tables);  /* cities + this rank's pairs */
    cJSON_AddStringToObject(root, "formula", s->formula_text);
    if (s->offset_text) cJSON_AddStringToObject(root, "offset", s->offset_text);  /* as given, like the weights */
    cJSON_AddStringToObject(root, "data", s->data);
    cJSON_AddItemToObject(root, "provenance", gr_opts_provenance(&o->opts, comm));
    rc = gr_write_json(o->json, root);
    cJSON_Delete(root);
    return rc;
}

static int run(MPI_Comm comm, est_cmd *o)
{
    double rss_at_start = proc_status_bytes("VmRSS:");
    gr_spec *s = &o->spec;
    GR_CALL(gr_spec_resolve(s));
    if (!gr_vcov_clustered(s->model.vcov) && s->ncl > 0)  /* not dropped in silence */
        return gr_fail(GR_EUSAGE, "--cluster", "'%s' has no effect with --vcov %s: give --vcov cluster, or leave "
                       "--cluster out", s->cluster_text, gr_vcov_word(s->model.vcov));
    o->cli.vcov = s->model.vcov;  /* the echo and the provenance show the variance in effect */
    GR_CALL(gr_boot_check(&s->model.boot, "--boot", s->model.vcov, s->ncl, s->model.cluster_on_fe,
                          s->family == GR_FAMILY_POISSON));
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (o->opts.echo && rank == 0) gr_opts_echo(&o->opts, stderr);
    gr_panel p;
    GR_CALL(gr_panel_open_local(comm, s->data, &p));  /* rows dealt by region, each rank its own pairs (panel.h) */
    gr_frame root;
    memset(&root, 0, sizeof root);
    gr_result *all = NULL;
    int nres = 0;
    char label[4400];
    gr_specrun_label(s, label, sizeof label);
    int rc = gr_specrun_check(s, &p);
    if (!rc) rc = gr_agree(comm, gr_frame_open(comm, &p, s->where, label, &root));
    if (!rc) rc = gr_specrun(&root, &root, s, &all, &nres);
    if (!rc) rc = gr_agree(comm, write_output(comm, o, &p, all, nres, rss_at_start));
    for (int r = 0; r < nres; r++) gr_result_free(&all[r]);
    free(all);
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
