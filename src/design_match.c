/* design_match.c: the two alternative spatial-RD implementations of the study (section 5.2.2):
 * `gravrd match` (spatial matching: treated pairs and the nearby control pairs, stacked, estimated by
 * fixed-effects OLS) and `gravrd rdgrid` (regular RD with the signed i-k distance as running variable,
 * over a grid of bandwidths). Rows stay on their exporter's rank; the stacking is local because the
 * pairs table is replicated (docs/design.md). */
#include "cleanup.h"
#include "commands.h"
#include "columns.h"
#include "design.h"
#include "expr.h"
#include "formula.h"
#include "levels.h"
#include "model.h"
#include "opts.h"
#include "rd.h"
#include "report.h"
#include "svg.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BW 64
#define MAX_FE 8

/* ---------------- the pairs side, replicated ---------------- */

typedef struct {
    int64_t m, nc;
    int *exp, *imp;
    unsigned char *treated, *has;   /* has[p]: pair p has a row in the sample (on some rank) */
    const double *lat, *lon, *prov;
    gr_design_comp comp;
} pairside;

static void pairside_free(pairside *s)
{
    free(s->exp); free(s->imp); free(s->treated); free(s->has);
    gr_design_comp_free(&s->comp);
}

/* Collective: pairs, city coordinates, which pairs have kept rows, and the comparisons at bandwidth bw.
 * Errors: missing columns, no treated pair left, no comparison. Status agreed. */
static int pairside_build(MPI_Comm comm, gr_panel *p, const double *keep, double bw, const char *bwname,
                          const char *where_text, pairside *s)
{
    memset(s, 0, sizeof *s);
    s->m = p->pairs.nrows;
    s->nc = p->cities.nrows;
    int rc = gr_design_pairs(&p->pairs, s->nc, p->path, &s->exp, &s->imp, &s->treated);
    if (!rc) {
        const char *need[3] = {"lat", "lon", "province"};
        const double *c[3];
        for (int k = 0; k < 3 && !rc; k++) {
            int ci = gr_table_find(&p->cities, need[k]);
            if (ci < 0) rc = gr_fail(GR_EINPUT, p->path, "cities table lacks column '%s'", need[k]);
            else c[k] = p->cities.cols[ci];
        }
        if (!rc) { s->lat = c[0]; s->lon = c[1]; s->prov = c[2]; }
    }
    if (!rc && !p->pair) rc = gr_fail(GR_EINPUT, p->path, "panel rows carry no pair ids");
    int m_count = 0;  /* the pair count as MPI's int (the same on every rank: the pairs table is replicated) */
    if (!rc) rc = gr_int_count(s->m, "pairs in the pairs table", &m_count);
    rc = gr_agree(comm, rc);
    if (rc) return rc;
    s->has = gr_calloc((size_t)(s->m ? s->m : 1), 1);
    for (int64_t i = 0; i < p->nrows; i++)
        if (keep[i] != 0) s->has[p->pair[i]] = 1;
    MPI_Allreduce(MPI_IN_PLACE, s->has, m_count, MPI_UNSIGNED_CHAR, MPI_MAX, comm);
    int64_t ntr = 0;
    for (int64_t k = 0; k < s->m; k++) ntr += s->treated[k] && s->has[k];
    if (ntr == 0)
        rc = gr_fail(GR_EINPUT, where_text ? "--where" : p->path, "no treated pair (partner != 0) left in the sample%s%s%s",
                     where_text ? " after --where '" : "", where_text ? where_text : "", where_text ? "'" : "");
    if (!rc) rc = gr_design_comparisons(s->nc, s->lat, s->lon, s->prov, s->m, s->exp, s->imp, s->treated, s->has, bw, &s->comp);
    if (!rc && s->comp.n == 0)
        rc = gr_fail(GR_EINPUT, p->path, "no treated pair has a control pair within %s km in its province", bwname);
    return gr_agree(comm, rc);
}

static int64_t count_distinct(int64_t n, const int32_t *v, int64_t m)
{
    unsigned char *seen = gr_calloc((size_t)(m ? m : 1), 1);
    int64_t c = 0;
    for (int64_t q = 0; q < n; q++) if (!seen[v[q]]) { seen[v[q]] = 1; c++; }
    free(seen);
    return c;
}

/* ================= gravrd match ================= */

typedef struct {
    const char *data, *formula, *cluster, *where, *json, *title, *bw_text;
    double bw;
    char bwname[32];
    double fe_tol;
    int quiet;
    cJSON *prov;  /* provenance of the JSON result, made once the options are known */
} match_opts;

static const gr_opt match_table[] = {
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(match_opts, data), .metavar = "FILE.h5",
     .help = "panel file (gravrd format)", .flags = GR_OPT_REQUIRED},
    {.name = "bandwidth", .kind = GR_OPT_STRING, GR_OPT_AT(match_opts, bw_text), .metavar = "KM",
     .help = "matching distance, > 0", .flags = GR_OPT_REQUIRED},
    {.name = "formula", .kind = GR_OPT_STRING, GR_OPT_AT(match_opts, formula), .metavar = "TEXT",
     .help = "model formula (fixest syntax, as in estimate)", .flags = GR_OPT_REQUIRED},
    {.name = "cluster", .kind = GR_OPT_STRING, GR_OPT_AT(match_opts, cluster), .metavar = "A[,B]",
     .help = "cluster variable(s)", .def = "pair"},
    {.name = "where", .kind = GR_OPT_STRING, GR_OPT_AT(match_opts, where), .metavar = "EXPR",
     .help = "keep rows where EXPR is true before matching (e.g. 'dir == 1')"},
    {.name = "fe-tol", .kind = GR_OPT_DOUBLE, GR_OPT_AT(match_opts, fe_tol), .metavar = "X",
     .help = "demeaning tolerance", .def = "1e-8", .flags = GR_OPT_POSITIVE},
    {.name = "json", .kind = GR_OPT_STRING, GR_OPT_AT(match_opts, json), .metavar = "FILE|-",
     .help = "write the result and the matched-sample summary as JSON ('-': stdout, then no table)"},
    {.name = "title", .kind = GR_OPT_STRING, GR_OPT_AT(match_opts, title), .metavar = "TEXT",
     .help = "title above the table"},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(match_opts, quiet), .help = "no table, no warnings"},
    {0}};

static const gr_opts_cmd match_cmd = {
    "match",
    "Spatial matching (docs/design.md): for each partner pair ij, the control pairs kj with k != i in the\n"
    "province of i, within KM km of i (haversine), kj not a partner pair and with rows in the sample. The\n"
    "stacked sample holds each matched partner pair's rows once and each control pair's rows once per\n"
    "partner pair it is matched to. Estimated by fixed-effects OLS with the formula's fixed effects,\n"
    "standard errors clustered by --cluster.\n\n"
    "example: gravrd match --data FILE.h5 --bandwidth 100 --formula 'log(trade) ~ partner | exporter^month + importer^month'",
    match_table, NULL, 0};

/* split "a,b" into at most 2 names; returns count or -1 */
static int split_cluster(const char *s, char out[2][GR_NAME_MAX])
{
    const char *comma = strchr(s, ',');
    size_t l1 = comma ? (size_t)(comma - s) : strlen(s);
    if (l1 == 0 || l1 >= GR_NAME_MAX) return -1;
    memcpy(out[0], s, l1); out[0][l1] = 0;
    if (!comma) return 1;
    const char *b = comma + 1;
    if (!*b || strchr(b, ',') || strlen(b) >= GR_NAME_MAX) return -1;
    strcpy(out[1], b);
    return 2;
}

/* What match estimates: the formula, --where and the cluster variables. */
typedef struct {
    gr_formula f;
    gr_expr *where;
    char cl[2][GR_NAME_MAX];
    int ncl;
} match_spec;

static void match_spec_free(match_spec *ms)
{
    gr_formula_free(&ms->f);
    gr_expr_free(ms->where);
}

/* Local (the same on every rank). --cluster, --formula and --where into ms (zeroed by the caller;
 * match_spec_free it, also on failure). */
static int match_spec_parse(const match_opts *o, match_spec *ms)
{
    ms->ncl = split_cluster(o->cluster, ms->cl);
    if (ms->ncl < 0) return gr_fail(GR_EUSAGE, "--cluster", "expected one or two column names separated by a comma");
    GR_CALL(gr_formula_parse(o->formula, &ms->f));
    if (o->where) GR_CALL(gr_expr_parse(o->where, "--where", &ms->where));
    return GR_OK;
}

/* Collective (agreed). Load the columns of the formula, the clusters and --where into cs, and the --where
 * flags into keep[p->nrows] (1: kept). */
static int match_sample(MPI_Comm comm, match_spec *ms, gr_columns *cs, double *keep)
{
    int64_t n = cs->p->nrows;
    char **need;
    int nneed, rc = gr_formula_columns(&ms->f, &need, &nneed);
    for (int i = 0; i < nneed && !rc; i++) rc = gr_columns_load(cs, need[i], "formula");
    for (int i = 0; i < nneed; i++) free(need[i]);
    free(need);
    for (int c = 0; c < ms->ncl && !rc; c++) rc = gr_columns_load(cs, ms->cl[c], "--cluster");
    if (!rc && ms->where) rc = gr_columns_load_expr(cs, ms->where, "--where");
    rc = gr_agree(comm, rc);
    for (int64_t i = 0; i < n; i++) keep[i] = 1;
    if (!rc && ms->where) {
        rc = gr_columns_eval(cs, ms->where, keep);
        for (int64_t i = 0; i < n; i++) keep[i] = isfinite(keep[i]) && keep[i] != 0;
    }
    return gr_agree(comm, rc);
}

/* Collective (agreed). The model's columns on the local rows into base[nb] (allocated here, p->nrows
 * each): outcomes, regressors (the product of their factors), fixed-effect keys, cluster values
 * (non-finite ones NaN). */
static int match_base_columns(MPI_Comm comm, match_spec *ms, gr_columns *cs, double **base, int nb)
{
    const gr_formula *f = &ms->f;
    int64_t n = cs->p->nrows;
    int rc = GR_OK;
    for (int b = 0; b < nb; b++) base[b] = gr_malloc((size_t)(n ? n : 1), sizeof(double));
    double *tmp = gr_malloc((size_t)(n ? n : 1), sizeof *tmp);
    for (int j = 0; j < f->ny && !rc; j++) rc = gr_columns_eval(cs, f->y[j], base[j]);
    for (int j = 0; j < f->nx && !rc; j++)
        for (int q = 0; q < f->x[j].nfactors && !rc; q++) {
            rc = gr_columns_eval(cs, f->x[j].factors[q], q == 0 ? base[f->ny + j] : tmp);
            if (q > 0) for (int64_t i = 0; i < n; i++) base[f->ny + j][i] *= tmp[i];
        }
    free(tmp);
    rc = gr_agree(comm, rc);
    for (int k = 0; k < f->nfe && !rc; k++)
        rc = gr_columns_fe_key(comm, cs, f->fe[k].nvars, f->fe[k].vars, base[f->ny + f->nx + k]);
    for (int c = 0; c < ms->ncl && !rc; c++) {
        double *dst = base[f->ny + f->nx + f->nfe + c];
        memcpy(dst, gr_columns_get(cs, ms->cl[c]), (size_t)n * sizeof *dst);
        for (int64_t i = 0; i < n; i++) if (!isfinite(dst[i])) dst[i] = NAN;
    }
    return gr_agree(comm, rc);
}

/* Local. The stacked sample: each kept row once per use of its pair (gr_design_multiplicity), for the nb
 * base columns into stack[nb] (allocated here). Returns the local stacked row count. */
static int64_t match_stack(const pairside *ps, const gr_panel *p, const double *keep, double **base, int nb,
                           double **stack)
{
    int64_t n = p->nrows, N = 0;
    int32_t *mult = gr_malloc((size_t)ps->m, sizeof *mult);
    gr_design_multiplicity(&ps->comp, ps->m, mult);
    for (int64_t i = 0; i < n; i++) if (keep[i] != 0) N += mult[p->pair[i]];
    for (int b = 0; b < nb; b++) {
        stack[b] = gr_malloc((size_t)(N ? N : 1), sizeof(double));
        int64_t q = 0;
        for (int64_t i = 0; i < n; i++)
            if (keep[i] != 0)
                for (int32_t r = 0; r < mult[p->pair[i]]; r++) stack[b][q++] = base[b][i];
    }
    free(mult);
    return N;
}

/* Collective. The formula's model on the N stacked rows (stack: outcomes, regressors, fixed-effect keys,
 * clusters), standard errors clustered by ms->cl, into *res (ms->f.ny results). */
static int match_fit(MPI_Comm comm, const match_opts *o, match_spec *ms, double **stack, int64_t N, gr_result **res)
{
    const gr_formula *f = &ms->f;
    char label[96];
    snprintf(label, sizeof label, "Matched %s km", o->bwname);
    char **xl = gr_malloc((size_t)(f->nx ? f->nx : 1), sizeof *xl), **fl = gr_malloc((size_t)(f->nfe ? f->nfe : 1), sizeof *fl);
    char *cn[2] = {ms->cl[0], ms->cl[1]};
    for (int j = 0; j < f->nx; j++) xl[j] = f->x[j].label;
    for (int k = 0; k < f->nfe; k++) fl[k] = f->fe[k].label;
    int32_t *fc[16] = {0}, *cc[2] = {0};
    int64_t nfc[16], ncc[2];
    gr_model_data md = {.n = N, .ny = f->ny, .y = stack, .ylabel = f->ylabel, .nx = f->nx, .x = stack + f->ny,
                        .xlabel = xl, .intercept = f->intercept, .nfe = f->nfe, .fecode = fc, .fencode = nfc,
                        .fename = fl, .ncl = ms->ncl, .clcode = cc, .clncode = ncc, .clname = cn, .label = label};
    gr_model_opts mo = {.absorb = {.tol = o->fe_tol, .maxiter = 10000, .method = GR_FE_CG},
                        .fit = {.solver = GR_SOLVER_CHOL, .collin_tol = 1e-10}, .vcov = GR_VCOV_CLUSTER};
    int rc = GR_OK;
    if (f->nfe > 16) rc = gr_fail(GR_EINPUT, "formula", "at most 16 fixed-effect dimensions");
    if (!rc) rc = gr_model_codes_from_keys(comm, N, f->nfe, stack + f->ny + f->nx, fc, nfc);
    if (!rc) rc = gr_model_codes_from_keys(comm, N, ms->ncl, stack + f->ny + f->nx + f->nfe, cc, ncc);
    if (!rc) rc = gr_model_fit(comm, &md, 0, &mo, res);
    for (int k = 0; k < f->nfe && k < 16; k++) free(fc[k]);
    for (int c = 0; c < ms->ncl; c++) free(cc[c]);
    free(xl); free(fl);
    return rc;
}

/* The matched sample in numbers: partner pairs in the sample, those with a match, control pairs used,
 * stacked rows over all ranks. */
typedef struct { int64_t treated, matched, controls, rows; } match_counts;

/* Rank 0: results and matched-sample summary as JSON to --json's file (or stdout with '-'). */
static int write_match_json(const match_opts *o, const match_spec *ms, const pairside *ps, const gr_result *res,
                            const match_counts *mc)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (int j = 0; j < ms->f.ny; j++) cJSON_AddItemToArray(arr, gr_result_json(&res[j]));
    cJSON *m = cJSON_AddObjectToObject(root, "matched_sample");
    cJSON_AddNumberToObject(m, "bandwidth_km", o->bw);
    cJSON_AddNumberToObject(m, "treated_pairs", (double)mc->treated);
    cJSON_AddNumberToObject(m, "treated_pairs_matched", (double)mc->matched);
    cJSON_AddNumberToObject(m, "control_pairs", (double)mc->controls);
    cJSON_AddNumberToObject(m, "matches", (double)ps->comp.n);
    cJSON_AddNumberToObject(m, "stacked_rows", (double)mc->rows);
    cJSON_AddStringToObject(root, "formula", o->formula);
    cJSON_AddStringToObject(root, "data", o->data);
    if (o->where) cJSON_AddStringToObject(root, "where", o->where);
    cJSON_AddItemToObject(root, "provenance", cJSON_Duplicate(o->prov, 1));
    int rc = gr_write_json(o->json, root);
    cJSON_Delete(root);
    return rc;
}

/* Collective (agreed). The table and the matched-sample line (rank 0, unless quiet), and the JSON. */
static int match_report(MPI_Comm comm, const match_opts *o, const match_spec *ms, const pairside *ps,
                        const gr_result *res, int64_t N, int rank)
{
    match_counts mc = {.rows = N};
    MPI_Allreduce(MPI_IN_PLACE, &mc.rows, 1, MPI_INT64_T, MPI_SUM, comm);
    for (int64_t k = 0; k < ps->m; k++) mc.treated += ps->treated[k] && ps->has[k];
    mc.matched = count_distinct(ps->comp.n, ps->comp.treated, ps->m);
    mc.controls = count_distinct(ps->comp.n, ps->comp.control, ps->m);
    int rc = GR_OK;
    if (rank == 0) {
        if (!gr_quiet && !(o->json && !strcmp(o->json, "-"))) {  /* with --json -, stdout holds the JSON alone */
            char title[256];
            snprintf(title, sizeof title, "%s", o->title ? o->title : "Spatial matching");
            gr_print_table(stdout, res, ms->f.ny, title);
            printf("Matched sample (d = %s km): %lld of %lld directed partner pairs with >= 1 match, %lld control "
                   "pairs, %lld matches, %lld stacked rows\n", o->bwname, (long long)mc.matched, (long long)mc.treated,
                   (long long)mc.controls, (long long)ps->comp.n, (long long)mc.rows);
        }
        if (o->json) rc = write_match_json(o, ms, ps, res, &mc);
    }
    return gr_agree(comm, rc);
}

static int run_match(MPI_Comm comm, const match_opts *o, int rank)
{
    match_spec ms;
    memset(&ms, 0, sizeof ms);
    int rc = match_spec_parse(o, &ms);
    gr_panel p;
    if (rc || (rc = gr_panel_open(comm, o->data, &p))) { match_spec_free(&ms); return rc; }
    gr_columns cs = {.p = &p};
    double *keep = gr_malloc((size_t)(p.nrows ? p.nrows : 1), sizeof *keep);
    pairside ps;
    memset(&ps, 0, sizeof ps);
    int nb = ms.f.ny + ms.f.nx + ms.f.nfe + ms.ncl;
    double **base = gr_calloc((size_t)nb, sizeof *base), **stack = gr_calloc((size_t)nb, sizeof *stack);
    int64_t N = 0;
    gr_result *res = NULL;
    rc = match_sample(comm, &ms, &cs, keep);
    if (!rc) rc = pairside_build(comm, &p, keep, o->bw, o->bwname, o->where, &ps);
    if (!rc) rc = match_base_columns(comm, &ms, &cs, base, nb);
    if (!rc) {
        N = match_stack(&ps, &p, keep, base, nb, stack);
        rc = match_fit(comm, o, &ms, stack, N, &res);
    }
    if (!rc) rc = match_report(comm, o, &ms, &ps, res, N, rank);
    if (res) { for (int j = 0; j < ms.f.ny; j++) gr_result_free(&res[j]); free(res); }
    for (int b = 0; b < nb; b++) { free(base[b]); free(stack[b]); }
    free(base); free(stack); free(keep);
    pairside_free(&ps);
    gr_columns_free(&cs);
    gr_panel_close(&p);
    match_spec_free(&ms);
    return rc;
}

int cmd_match(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    match_opts o;
    gr_opts s;
    memset(&o, 0, sizeof o);
    int rc = gr_opts_parse(&s, &match_cmd, &o, argc, argv, rank);
    if (rc == GR_OPTS_EXIT) return 0;
    if (!rc) rc = gr_design_bandwidth_arg("--bandwidth", o.bw_text, &o.bw, o.bwname);
    gr_quiet |= o.quiet;
    if (!rc && s.echo && rank == 0) gr_opts_echo(&s, stderr);
    if (!rc) o.prov = gr_opts_provenance(&s, comm);
    if (!(rc = gr_agree(comm, rc))) rc = gr_agree(comm, run_match(comm, &o, rank));
    cJSON_Delete(o.prov);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, rc)); /* the table reached standard output */
}

/* ================= gravrd rdgrid ================= */

typedef struct {
    const char *data, *y, *where, *svg, *binned, *json, *resid;
    int nh, bins;
    double h[MAX_BW];
    char hname[MAX_BW][32];
    gr_rd_kernel kernel;
    gr_opt_list bw;  /* --bandwidth as given; h and hname from it */
    int quiet;
    cJSON *prov;     /* provenance of the JSON result, made once the options are known */
} rdg_opts;

static const gr_opt_word rdg_kernels[] = {
    {"triangular", GR_RD_TRIANGULAR}, {"uniform", GR_RD_UNIFORM}, {"epanechnikov", GR_RD_EPANECHNIKOV},
    {"tri", GR_RD_TRIANGULAR},        {"uni", GR_RD_UNIFORM},     {"epa", GR_RD_EPANECHNIKOV}, {NULL, 0}};

static const gr_opt rdgrid_table[] = {
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(rdg_opts, data), .metavar = "FILE.h5", .help = "panel file",
     .flags = GR_OPT_REQUIRED},
    {.name = "y", .kind = GR_OPT_STRING, GR_OPT_AT(rdg_opts, y), .metavar = "EXPR",
     .help = "outcome expression (rows where it is not finite are dropped)", .flags = GR_OPT_REQUIRED},
    {.name = "bandwidth", .kind = GR_OPT_LIST, .elem = GR_OPT_DOUBLE, GR_OPT_AT(rdg_opts, bw), .metavar = "KM",
     .help = "bandwidth; one estimate each",
     .flags = GR_OPT_REQUIRED | GR_OPT_REPEAT | GR_OPT_POSITIVE | GR_OPT_UNIQUE, .max = MAX_BW},
    {.name = "kernel", .kind = GR_OPT_CHOICE, GR_OPT_AT(rdg_opts, kernel), .metavar = "K", .help = "kernel",
     .def = "triangular", .words = rdg_kernels},
    {.name = "residualize", .kind = GR_OPT_STRING, GR_OPT_AT(rdg_opts, resid), .metavar = "FE|none",
     .help = "fixed effects to project the outcome on first; 'none' uses the raw outcome",
     .def = "exporter^month + importer^month"},
    {.name = "where", .kind = GR_OPT_STRING, GR_OPT_AT(rdg_opts, where), .metavar = "EXPR",
     .help = "keep rows where EXPR is true (e.g. 'dir == 1')"},
    {.name = "bins", .kind = GR_OPT_INT, GR_OPT_AT(rdg_opts, bins), .metavar = "N",
     .help = "bins per side in the binned plot", .def = "10", .flags = GR_OPT_RANGE, .lo = 2, .hi = 1000},
    {.name = "svg", .kind = GR_OPT_STRING, GR_OPT_AT(rdg_opts, svg), .metavar = "FILE",
     .help = "estimate and 95% interval by bandwidth"},
    {.name = "binned-svg", .kind = GR_OPT_STRING, GR_OPT_AT(rdg_opts, binned), .metavar = "FILE",
     .help = "binned RD plot at the first bandwidth"},
    {.name = "json", .kind = GR_OPT_STRING, GR_OPT_AT(rdg_opts, json), .metavar = "FILE|-",
     .help = "results as JSON ('-': stdout, then no table)"},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(rdg_opts, quiet), .help = "no table, no warnings (errors still printed)"},
    {0}};

static const gr_opts_cmd rdgrid_cmd = {
    "rdgrid",
    "Regular RD on city pairs (docs/design.md): for each partner pair ij and each city k != i of i's province\n"
    "within the largest bandwidth of i, with kj a non-partner pair in the sample, the rows of kj enter with\n"
    "running variable -dist(i,k) and the rows of ij with +dist(i,k) (stacked: a row appears once per\n"
    "comparison). Local linear regression at cutoff 0 for each bandwidth, standard errors clustered by pair.\n"
    "By default the outcome is first residualized on exporter^month + importer^month fixed effects over\n"
    "all sample rows, so that the RD compares pairs net of the export size of i and k.",
    rdgrid_table, NULL, 0};

/* Parse and check the options (identical on every rank): h and hname from the --bandwidth list. */
static int parse_rdgrid(int argc, char **argv, rdg_opts *o, gr_opts *s, int rank)
{
    int rc = gr_opts_parse(s, &rdgrid_cmd, o, argc, argv, rank);
    for (int b = 0; b < o->bw.n && !rc; b++) rc = gr_design_bandwidth_arg("--bandwidth", o->bw.str[b], &o->h[b], o->hname[b]);
    if (!rc) o->nh = o->bw.n;
    gr_quiet |= o->quiet;
    return rc;
}

/* Parse "a^b + c" into dimensions of variable names. Returns GR_OK or GR_EUSAGE. Frees nothing on error
 * beyond what it allocated (all owned by dims/vars, released by resid_free). */
typedef struct { int ndim; int nvars[MAX_FE]; char *vars[MAX_FE][MAX_FE]; char label[MAX_FE][256]; } resid_spec;

static void resid_free(resid_spec *r)
{
    for (int d = 0; d < r->ndim; d++)
        for (int v = 0; v < r->nvars[d]; v++) free(r->vars[d][v]);
    r->ndim = 0;
}

static int resid_parse(const char *text, resid_spec *r)
{
    memset(r, 0, sizeof *r);
    const char *s = text;
    for (;;) {
        if (r->ndim == MAX_FE) { resid_free(r); return gr_fail(GR_EUSAGE, "--residualize", "at most %d fixed effects", MAX_FE); }
        int d = r->ndim++;
        for (;;) {
            while (*s == ' ') s++;
            const char *b = s;
            while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.') s++;
            if (s == b || (b[0] >= '0' && b[0] <= '9') || s - b >= GR_NAME_MAX || r->nvars[d] == MAX_FE) {
                int pos = (int)(b - text) + 1;
                resid_free(r);
                return gr_fail(GR_EUSAGE, "--residualize", "at character %d: expected a column name "
                               "(fixed effects like 'exporter^month + importer^month', or none)", pos);
            }
            r->vars[d][r->nvars[d]] = gr_malloc((size_t)(s - b) + 1, 1);
            memcpy(r->vars[d][r->nvars[d]], b, (size_t)(s - b));
            r->vars[d][r->nvars[d]][s - b] = 0;
            size_t l = strlen(r->label[d]);
            snprintf(r->label[d] + l, sizeof r->label[d] - l, "%s%s", r->nvars[d] ? "^" : "", r->vars[d][r->nvars[d]]);
            r->nvars[d]++;
            while (*s == ' ') s++;
            if (*s == '^') { s++; continue; }
            break;
        }
        if (*s == '+') { s++; continue; }
        if (*s == 0) return GR_OK;
        int pos = (int)(s - text) + 1;
        resid_free(r);
        return gr_fail(GR_EUSAGE, "--residualize", "at character %d: expected '^', '+' or the end", pos);
    }
}

/* plotting helpers (rank 0) */
typedef gr_svg_frame frame;

static void frame_fit(frame *f, double x0, double x1, double y0, double y1)
{
    if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
    if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
    double py = (y1 - y0) * 0.06;
    f->x0 = x0; f->x1 = x1; f->y0 = y0 - py; f->y1 = y1 + py;
    f->W = 720; f->H = 460; f->L = 80; f->R = 24; f->T = 56; f->B = 58;
}

static int plot_coef(const rdg_opts *o, const gr_rd_result *r)
{
    double lo = 0, hi = 0, hmin = o->h[0], hmax = o->h[0];
    for (int b = 0; b < o->nh; b++) {
        lo = fmin(lo, r[b].ci_low); hi = fmax(hi, r[b].ci_high);
        hmin = fmin(hmin, o->h[b]); hmax = fmax(hmax, o->h[b]);
    }
    double pad = o->nh > 1 ? (hmax - hmin) * 0.08 : 5;
    frame f;
    frame_fit(&f, hmin - pad, hmax + pad, lo, hi);
    gr_svg s;
    int rc = gr_svg_open(&s, o->svg, f.W, f.H, "Regular RD estimate by bandwidth");
    if (rc) return rc;
    gr_svg_axes(&s, &f, "Regular RD: partnership effect by bandwidth (95% interval, clustered by pair)",
              "bandwidth (km)", o->resid ? "effect on residualized outcome" : "effect on outcome");
    gr_svg_line(&s, f.L, gr_svg_fy(&f, 0), f.W - f.R, gr_svg_fy(&f, 0), "#888888", 1.2, 1, "5 4");
    double *px = gr_malloc((size_t)o->nh, sizeof *px), *py = gr_malloc((size_t)o->nh, sizeof *py);
    int *ord = gr_malloc((size_t)o->nh, sizeof *ord);
    for (int b = 0; b < o->nh; b++) ord[b] = b;
    int marked = 0;
    for (int a = 1; a < o->nh; a++)  /* insertion sort by bandwidth */
        for (int b = a; b > 0 && o->h[ord[b]] < o->h[ord[b - 1]]; b--) { int t = ord[b]; ord[b] = ord[b - 1]; ord[b - 1] = t; }
    for (int q = 0; q < o->nh; q++) {
        int b = ord[q];
        double X = gr_svg_fx(&f, o->h[b]);
        const char *col = r[b].extrapolated ? "#aaaaaa" : "#1f77b4";  /* extrapolated: grey, hollow marker */
        gr_svg_line(&s, X, gr_svg_fy(&f, r[b].ci_low), X, gr_svg_fy(&f, r[b].ci_high), col, 2.5, 1,
                    r[b].extrapolated ? "4 3" : NULL);
        gr_svg_line(&s, X - 6, gr_svg_fy(&f, r[b].ci_low), X + 6, gr_svg_fy(&f, r[b].ci_low), col, 2, 1, NULL);
        gr_svg_line(&s, X - 6, gr_svg_fy(&f, r[b].ci_high), X + 6, gr_svg_fy(&f, r[b].ci_high), col, 2, 1, NULL);
        px[q] = X; py[q] = gr_svg_fy(&f, r[b].estimate);
    }
    if (o->nh > 1) gr_svg_polyline(&s, o->nh, px, py, "#1f77b4", 1);
    for (int q = 0; q < o->nh; q++) {
        int b = ord[q];
        char tip[160];
        snprintf(tip, sizeof tip, "d = %s km: %.4f (%.4f)%s", o->hname[b], r[b].estimate, r[b].std_error,
                 r[b].extrapolated ? ", extrapolated: no rows near the cutoff" : "");
        gr_svg_circle(&s, px[q], py[q], 5, r[b].extrapolated ? "white" : "#d62728",
                      r[b].extrapolated ? "#d62728" : "white", r[b].extrapolated ? 2 : 1, tip);
        marked |= r[b].extrapolated;
    }
    if (marked)
        gr_svg_text(&s, f.W - f.R - 8, f.T + 18, 12, "end", "#b00000", "hollow, grey: extrapolated (no rows within d/2 "
                    "of the cutoff on a side)");
    free(px); free(py); free(ord);
    return gr_svg_close(&s, 1);
}

/* The fitted line of each side, solid over the span of its rows with positive weight (from the nearest
 * row to the bandwidth); extended to the cutoff (dashed, the intercept) only when the estimate is not
 * extrapolated: no line is drawn across a region without rows. */
static void draw_fits(gr_svg *s, const frame *f, const gr_rd_result *r, double h)
{
    for (int side = 0; side < 2; side++) {
        double sg = side ? 1 : -1, a = sg * r->nearest[side], b = sg * h;
        const char *col = side ? "#d62728" : "#1f77b4";
        gr_svg_line(s, gr_svg_fx(f, a), gr_svg_fy(f, r->intercept[side] + r->slope[side] * a), gr_svg_fx(f, b),
                    gr_svg_fy(f, r->intercept[side] + r->slope[side] * b), col, 2.5, 1, NULL);
        if (!r->extrapolated)
            gr_svg_line(s, gr_svg_fx(f, 0), gr_svg_fy(f, r->intercept[side]), gr_svg_fx(f, a),
                        gr_svg_fy(f, r->intercept[side] + r->slope[side] * a), col, 1.5, 1, "4 3");
    }
}

static int plot_binned(const rdg_opts *o, const gr_rd_result *r, int nb, const double *sum, const double *cnt)
{
    double h = o->h[0], w = h / nb, lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < 2 * nb; k++)
        if (cnt[k] > 0) { lo = fmin(lo, sum[k] / cnt[k]); hi = fmax(hi, sum[k] / cnt[k]); }
    for (int side = 0; side < 2; side++)
        for (int e = 0; e < 2; e++) {
            double inner = r->extrapolated ? r->nearest[side] : 0;  /* what draw_fits draws */
            double u = side ? (e ? h : inner) : (e ? -inner : -h);
            double v = r->intercept[side] + r->slope[side] * u;
            lo = fmin(lo, v); hi = fmax(hi, v);
        }
    frame f;
    frame_fit(&f, -h, h, lo, hi);
    gr_svg s;
    int rc = gr_svg_open(&s, o->binned, f.W, f.H, "Regular RD plot");
    if (rc) return rc;
    char title[200];
    snprintf(title, sizeof title, "Regular RD, d = %s km: bin means and local linear fits (%s kernel)", o->hname[0],
             gr_rd_kernel_name(o->kernel));
    char ylab[200];
    snprintf(ylab, sizeof ylab, "%s%s", o->y, o->resid ? " (residualized)" : "");
    gr_svg_axes(&s, &f, title, "signed distance between i and k (km): control pair kj < 0 < partner pair ij", ylab);
    gr_svg_line(&s, gr_svg_fx(&f, 0), f.T, gr_svg_fx(&f, 0), f.H - f.B, "#888888", 1.2, 1, "5 4");
    for (int k = 0; k < 2 * nb; k++) {
        if (!(cnt[k] > 0)) continue;
        double xc = -h + (k + 0.5) * w;
        char tip[96];
        snprintf(tip, sizeof tip, "bin [%.1f, %.1f): mean %.4f, %.0f rows", -h + k * w, -h + (k + 1) * w, sum[k] / cnt[k], cnt[k]);
        gr_svg_circle(&s, gr_svg_fx(&f, xc), gr_svg_fy(&f, sum[k] / cnt[k]), 4.5, k < nb ? "#1f77b4" : "#d62728", "white", 1,
                      tip);
    }
    draw_fits(&s, &f, r, h);
    gr_svg_text(&s, f.W - f.R - 8, f.T + 18, 12, "end", "#333333", "estimate %.4f (SE %.4f)%s", r->estimate,
                r->std_error, r->extrapolated ? ", extrapolated" : "");
    if (r->extrapolated)
        gr_svg_text(&s, f.W - f.R - 8, f.T + 36, 12, "end", "#b00000", "no rows within %.1f km (left) / %.1f km (right) "
                    "of the cutoff: lines not drawn across the gap", r->nearest[0], r->nearest[1]);
    return gr_svg_close(&s, 1);
}

/* What rdgrid estimates: the fixed effects of --residualize, the outcome and --where. */
typedef struct {
    resid_spec rs;
    gr_expr *ye, *where;
} rdg_spec;

static void rdg_spec_free(rdg_spec *sp)
{
    resid_free(&sp->rs);
    gr_expr_free(sp->ye);
    gr_expr_free(sp->where);
}

/* Local (the same on every rank). --residualize ('none': o->resid = NULL), --y and --where into sp (zeroed
 * by the caller; rdg_spec_free it, also on failure). */
static int rdg_spec_parse(rdg_opts *o, rdg_spec *sp)
{
    if (!strcmp(o->resid, "none")) o->resid = NULL;
    else GR_CALL(resid_parse(o->resid, &sp->rs));
    GR_CALL(gr_expr_parse(o->y, "--y", &sp->ye));
    if (o->where) GR_CALL(gr_expr_parse(o->where, "--where", &sp->where));
    return GR_OK;
}

/* Collective (agreed). Load the columns of the outcome, --where and the fixed effects into cs; the outcome
 * into y and the kept rows (--where true, outcome finite) into keep (p->nrows each). */
static int rdg_sample(MPI_Comm comm, rdg_spec *sp, gr_columns *cs, double *y, double *keep)
{
    int64_t n = cs->p->nrows;
    int rc = gr_columns_load_expr(cs, sp->ye, "--y");
    if (!rc && sp->where) rc = gr_columns_load_expr(cs, sp->where, "--where");
    for (int d = 0; d < sp->rs.ndim && !rc; d++)
        for (int v = 0; v < sp->rs.nvars[d] && !rc; v++) rc = gr_columns_load(cs, sp->rs.vars[d][v], "--residualize");
    rc = gr_agree(comm, rc);
    for (int64_t i = 0; i < n; i++) keep[i] = 1;
    if (!rc) rc = gr_columns_eval(cs, sp->ye, y);
    if (!rc && sp->where) rc = gr_columns_eval(cs, sp->where, keep);
    for (int64_t i = 0; i < n; i++) keep[i] = isfinite(keep[i]) && keep[i] != 0 && isfinite(y[i]);
    return gr_agree(comm, rc);
}

/* Collective (agreed). The codes of each --residualize dimension on the local rows into codes[d]
 * (allocated here; the caller frees them, also on failure); rows with a missing code are no longer kept. */
static int rdg_fe_codes(MPI_Comm comm, const resid_spec *rs, gr_columns *cs, double *keep, int32_t **codes,
                        int64_t *ncodes)
{
    int64_t n = cs->p->nrows;
    int rc = GR_OK;
    for (int d = 0; d < rs->ndim && !rc; d++) {
        codes[d] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
        rc = gr_columns_codes(comm, cs, rs->nvars[d], (char *const *)rs->vars[d], codes[d], &ncodes[d]);
        for (int64_t i = 0; i < n && !rc; i++) if (codes[d][i] < 0) keep[i] = 0;
    }
    return gr_agree(comm, rc);
}

/* Collective. Replace the outcome y of the kept rows (of n) by its residual on the fixed effects of rs
 * (codes from rdg_fe_codes), demeaned over all kept rows; warns on rank 0 when that does not converge. */
static int rdg_residualize(MPI_Comm comm, const rdg_opts *o, resid_spec *rs, int32_t **codes, const int64_t *ncodes,
                           int64_t n, double *y, const double *keep, int rank)
{
    int64_t nk = 0;
    for (int64_t i = 0; i < n; i++) nk += keep[i] != 0;
    int32_t *kk[MAX_FE];
    double *yc = gr_malloc((size_t)(nk ? nk : 1), sizeof *yc);
    char *names[MAX_FE];
    for (int d = 0; d < rs->ndim; d++) {
        kk[d] = gr_malloc((size_t)(nk ? nk : 1), sizeof(int32_t));
        names[d] = rs->label[d];
    }
    int64_t q = 0;
    for (int64_t i = 0; i < n; i++)
        if (keep[i] != 0) {
            for (int d = 0; d < rs->ndim; d++) kk[d][q] = codes[d][i];
            yc[q++] = y[i];
        }
    gr_absorber ab;
    const gr_absorb_opts ao = {.tol = 1e-9, .maxiter = 100000, .method = GR_FE_CG, .rm_singletons = 0};
    int rc = gr_absorber_init(comm, nk, rs->ndim, kk, ncodes, names, NULL, &ao, &ab);
    if (!rc) rc = gr_absorber_demean(&ab, 1, &yc, NULL, NULL);
    if (!rc) {
        q = 0;
        for (int64_t i = 0; i < n; i++) if (keep[i] != 0) y[i] = yc[q++];
        if (!ab.converged && rank == 0)
            gr_warn("residualizing on %s did not converge in %d iterations", o->resid, ab.iterations);
    }
    gr_absorber_free(&ab);
    for (int d = 0; d < rs->ndim; d++) free(kk[d]);  /* NULL once the absorber took them */
    free(yc);
    return rc;
}

/* The stacked RD sample: running variable, outcome, pair (as a double) and dense cluster id of each of
 * the N local stacked rows; G clusters over all ranks. */
typedef struct {
    double *sx, *sy, *scl;
    int64_t *cid, N, G;
} rdg_stack;

static void rdg_stack_free(rdg_stack *st) { free(st->sx); free(st->sy); free(st->scl); free(st->cid); }

/* Collective (agreed). Each kept row once per comparison its pair is in, with running variable -dist(i,k)
 * for the control pair kj and +dist(i,k) for the partner pair ij, into st (allocated here). */
static int rdg_stack_rows(MPI_Comm comm, const pairside *ps, const gr_panel *p, const double *keep, const double *y,
                          rdg_stack *st)
{
    /* running-variable values of each pair (CSR) */
    int64_t m = ps->m, n = p->nrows, N = 0, *start = gr_calloc((size_t)m + 1, sizeof *start);
    for (int64_t c = 0; c < ps->comp.n; c++) { start[ps->comp.control[c] + 1]++; start[ps->comp.treated[c] + 1]++; }
    for (int64_t k = 0; k < m; k++) start[k + 1] += start[k];
    int64_t *fill = gr_malloc((size_t)m, sizeof *fill);
    double *xv = gr_malloc((size_t)(start[m] ? start[m] : 1), sizeof *xv);
    memcpy(fill, start, (size_t)m * sizeof *fill);
    for (int64_t c = 0; c < ps->comp.n; c++) {
        xv[fill[ps->comp.control[c]]++] = -ps->comp.dist_km[c];
        xv[fill[ps->comp.treated[c]]++] = ps->comp.dist_km[c];
    }
    for (int64_t i = 0; i < n; i++) if (keep[i] != 0) N += start[p->pair[i] + 1] - start[p->pair[i]];
    st->N = N;
    st->sx = gr_malloc((size_t)(N ? N : 1), sizeof *st->sx); st->sy = gr_malloc((size_t)(N ? N : 1), sizeof *st->sy);
    st->scl = gr_malloc((size_t)(N ? N : 1), sizeof *st->scl); st->cid = gr_malloc((size_t)(N ? N : 1), sizeof *st->cid);
    int64_t q = 0;
    for (int64_t i = 0; i < n; i++) {
        if (keep[i] == 0) continue;
        int32_t pr = p->pair[i];
        for (int64_t r = start[pr]; r < start[pr + 1]; r++) { st->sx[q] = xv[r]; st->sy[q] = y[i]; st->scl[q] = pr; q++; }
    }
    free(start); free(fill); free(xv);
    return gr_agree(comm, gr_rd_dense_ids(comm, N, st->scl, st->cid, &st->G));
}

/* Collective. Binned outcome sums bs[0 .. 2 * o->bins) and counts bs[2 * o->bins ..) over all ranks, of
 * the stacked rows within the first bandwidth (bs: 4 * o->bins zeros). */
static void rdg_bins(MPI_Comm comm, const rdg_opts *o, const rdg_stack *st, double *bs)
{
    int nb = o->bins;
    double *bc = bs + 2 * nb, h = o->h[0], w = h / nb;
    const double *sx = st->sx, *sy = st->sy;
    for (int64_t q = 0; q < st->N; q++) {
        if (!(fabs(sx[q]) <= h)) continue;
        int k = sx[q] < 0 ? (int)floor((sx[q] + h) / w) : nb + (int)floor(sx[q] / w);
        if (sx[q] < 0 && k > nb - 1) k = nb - 1;
        if (k < 0) k = 0;
        if (k > 2 * nb - 1) k = 2 * nb - 1;
        bs[k] += sy[q]; bc[k] += 1;
    }
    MPI_Allreduce(MPI_IN_PLACE, bs, 4 * nb, MPI_DOUBLE, MPI_SUM, comm);
}

/* Rank 0: the table of estimates by bandwidth on stdout. An estimate extrapolated across an empty region
 * (rd.h: no stacked row within RD_GAP_SHARE of the bandwidth on a side) gets no stars and a mark. */
static void print_rdgrid(const rdg_opts *o, const pairside *ps, const gr_rd_result *res, int64_t ntr, int64_t Ntot,
                         const char *hmaxname)
{
    printf("Regular RD on city pairs: %s, %s kernel, SE clustered by pair, outcome %s%s%s%s\n", o->y,
           gr_rd_kernel_name(o->kernel), o->resid ? "residualized on " : "raw", o->resid ? o->resid : "",
           o->where ? ", where " : "", o->where ? o->where : "");
    printf("%lld directed partner pairs in the sample; %lld with a neighbour within %s km; %lld comparisons; "
           "%lld stacked rows\n", (long long)ntr, (long long)count_distinct(ps->comp.n, ps->comp.treated, ps->m),
           hmaxname, (long long)ps->comp.n, (long long)Ntot);
    printf("%10s %10s %10s %10s %10s %8s %9s %9s %9s %8s\n", "d (km)", "estimate", "std.err", "ci_low", "ci_high", "p",
           "N left", "N right", "clusters", "matches");
    int marked = 0;
    for (int b = 0; b < o->nh; b++) {
        int64_t nm = 0;
        for (int64_t c = 0; c < ps->comp.n; c++) nm += ps->comp.dist_km[c] <= o->h[b];
        double p = res[b].p_value;
        const char *st = res[b].extrapolated ? "extrapolated" : p < 0.01 ? "***" : p < 0.05 ? "**" : p < 0.1 ? "*" : "";
        printf("%10s %10.4f %10.4f %10.4f %10.4f %8.4f %9lld %9lld %9lld %8lld %s\n", o->hname[b], res[b].estimate,
               res[b].std_error, res[b].ci_low, res[b].ci_high, p, (long long)res[b].n_eff[0],
               (long long)res[b].n_eff[1], (long long)(res[b].n_clusters[0] + res[b].n_clusters[1]), (long long)nm, st);
        marked |= res[b].extrapolated;
    }
    printf("95%% intervals: normal approximation; N left/right: stacked rows with positive kernel weight.\n");
    if (marked)
        printf("extrapolated: no stacked row within d/2 km of the cutoff on a side, so the fitted lines are extended "
               "across an empty region to 0 km; no stars (docs/rd.md).\n");
}

/* Rank 0: a warning for each bandwidth whose estimate is extrapolated across an empty region. */
static void warn_rdgrid(const rdg_opts *o, const gr_rd_result *res)
{
    for (int b = 0; b < o->nh; b++)
        if (res[b].extrapolated)
            gr_warn("--bandwidth %s: no stacked row within %g km of the cutoff on a side (nearest: %.1f km left, %.1f km "
                    "right): the estimate is extrapolated across the empty region (marked in the table and JSON)",
                    o->hname[b], RD_GAP_SHARE * o->h[b], res[b].nearest[0], res[b].nearest[1]);
}

/* Rank 0: the estimates as JSON to --json's file (or stdout with '-'). */
static int write_rdgrid_json(const rdg_opts *o, const pairside *ps, const gr_rd_result *res, int64_t ntr,
                             int64_t Ntot)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "y", o->y);
    cJSON_AddStringToObject(root, "residualize", o->resid ? o->resid : "none");
    cJSON_AddStringToObject(root, "kernel", gr_rd_kernel_name(o->kernel));
    if (o->where) cJSON_AddStringToObject(root, "where", o->where);
    cJSON_AddNumberToObject(root, "treated_pairs", (double)ntr);
    cJSON_AddNumberToObject(root, "comparisons", (double)ps->comp.n);
    cJSON_AddNumberToObject(root, "stacked_rows", (double)Ntot);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (int b = 0; b < o->nh; b++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "bandwidth_km", o->h[b]);
        cJSON_AddNumberToObject(r, "estimate", res[b].estimate);
        cJSON_AddNumberToObject(r, "std_error", res[b].std_error);
        cJSON_AddNumberToObject(r, "ci_low", res[b].ci_low);
        cJSON_AddNumberToObject(r, "ci_high", res[b].ci_high);
        cJSON_AddNumberToObject(r, "p_value", res[b].p_value);
        cJSON_AddNumberToObject(r, "n_left", (double)res[b].n_eff[0]);
        cJSON_AddNumberToObject(r, "n_right", (double)res[b].n_eff[1]);
        cJSON_AddNumberToObject(r, "clusters_left", (double)res[b].n_clusters[0]);
        cJSON_AddNumberToObject(r, "clusters_right", (double)res[b].n_clusters[1]);
        cJSON_AddNumberToObject(r, "nearest_left_km", res[b].nearest[0]);
        cJSON_AddNumberToObject(r, "nearest_right_km", res[b].nearest[1]);
        cJSON_AddBoolToObject(r, "extrapolated", res[b].extrapolated);
        cJSON_AddItemToArray(arr, r);
    }
    cJSON_AddStringToObject(root, "data", o->data);
    cJSON_AddItemToObject(root, "provenance", cJSON_Duplicate(o->prov, 1));
    int rc = gr_write_json(o->json, root);
    cJSON_Delete(root);
    return rc;
}

/* Collective (agreed). Binned means at the first bandwidth, then on rank 0 the table (unless quiet), the
 * plots and the JSON. */
static int rdg_report(MPI_Comm comm, const rdg_opts *o, const pairside *ps, const rdg_stack *st,
                      const gr_rd_result *res, const char *hmaxname, int rank)
{
    int nb = o->bins, rc = GR_OK;
    double *bs = gr_calloc((size_t)(4 * nb), sizeof *bs);
    rdg_bins(comm, o, st, bs);
    int64_t Ntot = st->N;
    MPI_Allreduce(MPI_IN_PLACE, &Ntot, 1, MPI_INT64_T, MPI_SUM, comm);
    if (rank == 0) {
        int64_t ntr = 0;
        for (int64_t k = 0; k < ps->m; k++) ntr += ps->treated[k] && ps->has[k];
        warn_rdgrid(o, res);
        if (!gr_quiet && !(o->json && !strcmp(o->json, "-"))) print_rdgrid(o, ps, res, ntr, Ntot, hmaxname);
        if (o->svg) rc = plot_coef(o, res);
        if (!rc && o->binned) rc = plot_binned(o, &res[0], nb, bs, bs + 2 * nb);
        if (!rc && o->json) rc = write_rdgrid_json(o, ps, res, ntr, Ntot);
    }
    free(bs);
    return gr_agree(comm, rc);
}

static int run_rdgrid(MPI_Comm comm, rdg_opts *o, int rank)
{
    rdg_spec sp;
    memset(&sp, 0, sizeof sp);
    int rc = rdg_spec_parse(o, &sp);
    double hmax = 0;
    for (int b = 0; b < o->nh; b++) hmax = fmax(hmax, o->h[b]);
    char hmaxname[32];
    snprintf(hmaxname, sizeof hmaxname, "%g", hmax);
    gr_panel p;
    if (rc || (rc = gr_panel_open(comm, o->data, &p))) { rdg_spec_free(&sp); return rc; }
    gr_columns cs = {.p = &p};
    int64_t n = p.nrows;
    double *y = gr_malloc((size_t)(n ? n : 1), sizeof *y), *keep = gr_malloc((size_t)(n ? n : 1), sizeof *keep);
    int32_t *codes[MAX_FE] = {0};
    int64_t ncodes[MAX_FE] = {0};
    pairside ps;
    memset(&ps, 0, sizeof ps);
    rdg_stack st;
    memset(&st, 0, sizeof st);
    gr_rd_result *res = gr_calloc((size_t)o->nh, sizeof *res);
    rc = rdg_sample(comm, &sp, &cs, y, keep);
    if (!rc) rc = rdg_fe_codes(comm, &sp.rs, &cs, keep, codes, ncodes);
    if (!rc && sp.rs.ndim > 0) rc = rdg_residualize(comm, o, &sp.rs, codes, ncodes, n, y, keep, rank);
    if (!rc) rc = pairside_build(comm, &p, keep, hmax, hmaxname, o->where, &ps);
    if (!rc) rc = rdg_stack_rows(comm, &ps, &p, keep, y, &st);
    for (int b = 0; b < o->nh && !rc; b++) {
        char where_b[64];
        snprintf(where_b, sizeof where_b, "--bandwidth %s", o->hname[b]);
        rc = gr_rd_estimate_mpi(comm, st.N, st.sy, st.sx, st.cid, st.G, 0.0, o->h[b], o->kernel, GR_RD_CLUSTER, where_b,
                                &res[b]);
    }
    if (!rc) rc = rdg_report(comm, o, &ps, &st, res, hmaxname, rank);
    for (int d = 0; d < sp.rs.ndim; d++) free(codes[d]);
    free(res); free(y); free(keep);
    rdg_stack_free(&st);
    pairside_free(&ps);
    gr_columns_free(&cs);
    gr_panel_close(&p);
    rdg_spec_free(&sp);
    return rc;
}

int cmd_rdgrid(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    rdg_opts o;
    gr_opts s;
    memset(&o, 0, sizeof o);
    int rc = parse_rdgrid(argc, argv, &o, &s, rank);
    if (rc == GR_OPTS_EXIT) { gr_opts_free(&s); return 0; }
    if (!rc && s.echo && rank == 0) gr_opts_echo(&s, stderr);
    if (!rc) o.prov = gr_opts_provenance(&s, comm);
    if (!(rc = gr_agree(comm, rc))) rc = gr_agree(comm, run_rdgrid(comm, &o, rank));
    cJSON_Delete(o.prov);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, rc)); /* the table reached standard output */
}
