/* mediation.c: the mediation test of the study's footnote 15 (mediation.h, docs/mediation.md) and the
 * `gravrd mediate` command: the main model without and with the mediators on the same rows, each fitted by
 * the estimate code (specrun.h) with a sink for the partnership coefficient's influence function, then
 * delta = b_without - b_with with its clustered standard error from the stacked scores. */
#include "cleanup.h"
#include "commands.h"
#include "frame.h"
#include "mediation.h"
#include "opts.h"
#include "panel.h"
#include "report.h"
#include "spec.h"
#include "specrun.h"
#include <gsl/gsl_cdf.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- the sink: per-cluster influence of one coefficient ---------------- */

/* The position of `term` among the kept regressors of fd, or -1. */
static int kept_index(const gr_fit *fd, const char *term)
{
    for (int j = 0, a = 0; j < fd->kx; j++) {
        if (!fd->keepx[j]) continue;
        if (!strcmp(fd->xlabel[j], term)) return a;
        a++;
    }
    return -1;
}

/* Local. z = (X'X)^-1 u_a: row a of the inverse (X'X is symmetric positive definite: the fit solved it). */
static int inverse_row(const gr_fit *fd, int a, double *z)
{
    int k = fd->nkept;
    double *A = gr_malloc((size_t)k * k, sizeof *A);
    memcpy(A, fd->XtXk, (size_t)k * k * sizeof *A);
    for (int j = 0; j < k; j++) z[j] = j == a;
    lapack_int info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', k, 1, A, k, z, k);
    free(A);
    if (info != 0)
        return gr_fail(GR_ENUM, "mediation", "X'X of the kept regressors is not positive definite (LAPACK dposv info %d)",
                       (int)info);
    return GR_OK;
}

int gr_scores_collect(gr_scores *sc, const gr_fit *fd, const double *e, const gr_vcov_spec *vs, int64_t K)
{
    gr_scores_free(sc);
    if (vs->type != GR_VCOV_CLUSTER || vs->ncluster != 1)
        return gr_fail(GR_EINPUT, "mediation", "the test needs standard errors clustered by one variable (give --cluster COL)");
    int a = kept_index(fd, sc->term), Gi;
    if (a < 0) return GR_OK;  /* not estimated: the caller says so */
    GR_CALL(gr_int_count(vs->G[0], "clusters (mediation scores)", &Gi));
    double *z = gr_malloc((size_t)fd->nkept, sizeof *z);
    int rc = inverse_row(fd, a, z);
    if (rc) { free(z); return rc; }
    sc->found = 1;
    sc->nobs = fd->nobs;
    sc->G = vs->G[0];
    sc->K = K;
    sc->S = gr_calloc((size_t)(Gi ? Gi : 1), sizeof *sc->S);
    sc->rows = gr_calloc((size_t)(Gi ? Gi : 1), sizeof *sc->rows);
    const int32_t *cl = vs->cl[0];
    for (int64_t i = 0; i < fd->n; i++) {
        double h = 0;
        for (int j = 0; j < fd->nkept; j++) h += z[j] * fd->Xk[i + (size_t)j * fd->n];
        sc->S[cl[i]] += h * e[i];
        sc->rows[cl[i]]++;
    }
    free(z);
    /* clusters with rows on one rank get zeros from the others: the sums are exact whatever the ranks */
    MPI_Allreduce(MPI_IN_PLACE, sc->S, Gi, MPI_DOUBLE, MPI_SUM, fd->comm);
    MPI_Allreduce(MPI_IN_PLACE, sc->rows, Gi, MPI_INT64_T, MPI_SUM, fd->comm);
    return GR_OK;
}

void gr_scores_free(gr_scores *sc)
{
    free(sc->S);
    free(sc->rows);
    sc->S = NULL;
    sc->rows = NULL;
    sc->found = 0;
    sc->nobs = sc->G = sc->K = 0;
}

int gr_mediation_test(const gr_scores *s1, const gr_scores *s2, double b1, double b2, gr_mediation *m)
{
    memset(m, 0, sizeof *m);
    if (s1->nobs != s2->nobs || s1->G != s2->G)
        return gr_fail(GR_EINPUT, "mediation", "the two models use different samples (%lld rows in %lld clusters "
                       "against %lld in %lld): the test needs the same rows", (long long)s1->nobs, (long long)s1->G,
                       (long long)s2->nobs, (long long)s2->G);
    for (int64_t g = 0; g < s1->G; g++)
        if (s1->rows[g] != s2->rows[g])
            return gr_fail(GR_EINPUT, "mediation", "the two models number their clusters differently (cluster %lld has "
                           "%lld rows against %lld): the test needs the same rows", (long long)g,
                           (long long)s1->rows[g], (long long)s2->rows[g]);
    double N = (double)s1->nobs, G = (double)s1->G, K2 = (double)(s2->K > s1->K ? s2->K : s1->K);
    if (!(G > 1) || !(N > K2))
        return gr_fail(GR_EINPUT, "mediation", "%lld clusters and %lld rows for %lld parameters: no degrees of "
                       "freedom for the test", (long long)s1->G, (long long)s1->nobs, (long long)K2);
    double v = 0, v1 = 0, v2 = 0, c12 = 0;
    for (int64_t g = 0; g < s1->G; g++) {
        double d = s1->S[g] - s2->S[g];
        v += d * d;
        v1 += s1->S[g] * s1->S[g];
        v2 += s2->S[g] * s2->S[g];
        c12 += s1->S[g] * s2->S[g];
    }
    m->c = G / (G - 1) * (N - 1) / (N - K2);
    m->b1 = b1;
    m->b2 = b2;
    m->delta = b1 - b2;
    m->se = sqrt(m->c * v);
    m->se1 = sqrt(m->c * v1);
    m->se2 = sqrt(m->c * v2);
    m->cov12 = m->c * c12;
    m->nobs = s1->nobs;
    m->G = s1->G;
    m->K1 = s1->K;
    m->K2 = s2->K;
    m->df = G - 1;
    if (!(isfinite(m->se) && m->se > 0))
        return gr_fail(GR_EINPUT, "mediation", "the standard error of the change is %g (the mediator changes nothing "
                       "or the scores are not finite): no test", m->se);
    m->t = m->delta / m->se;
    m->p = 2.0 * gsl_cdf_tdist_Q(fabs(m->t), m->df);
    double q = gsl_cdf_tdist_Qinv(0.025, m->df);
    m->conf_low = m->delta - q * m->se;
    m->conf_high = m->delta + q * m->se;
    return GR_OK;
}

/* ---------------- gravrd mediate ---------------- */

typedef struct {
    const char *data, *formula, *mediator, *term, *cluster, *where, *json;
    int fixef_rm, fe_method, solver, quiet;
    int64_t fe_maxiter;
    double fe_tol, collin_tol;
} med_cli;

static const gr_opt_word fixef_rms[] = {{"none", 0}, {"singleton", 1}, {NULL, 0}};
static const gr_opt_word fe_methods[] = {{"cg", GR_FE_CG}, {"irons-tuck", GR_FE_IRONS_TUCK}, {"it", GR_FE_IRONS_TUCK},
                                         {NULL, 0}};
static const gr_opt_word solvers[] = {{"cholesky", GR_SOLVER_CHOL}, {"qr", GR_SOLVER_QR}, {"chol", GR_SOLVER_CHOL},
                                      {NULL, 0}};

#define S(f, m, h) .kind = GR_OPT_STRING, GR_OPT_AT(med_cli, f), .metavar = m, .help = h
static const gr_opt med_table[] = {
    {.name = "data", S(data, "FILE.h5", "panel file (gravrd format); read only"), .flags = GR_OPT_REQUIRED},
    {.name = "formula", S(formula, "TEXT", "the main model, without the mediators: 'y ~ partner + x | fe1 + fe2'"),
     .flags = GR_OPT_REQUIRED},
    {.name = "mediator", S(mediator, "TERMS", "mediators added to the main model: columns or expressions joined by "
                           "'+', e.g. 'migration + log(search_index)'"), .flags = GR_OPT_REQUIRED},
    {.name = "term", S(term, "TERM", "the coefficient whose change is tested"), .def = "partner"},
    {.name = "cluster", S(cluster, "COL", "cluster variable of both models and of the stacked scores"),
     .flags = GR_OPT_REQUIRED},
    {.name = "where", S(where, "EXPR", "keep rows where EXPR is true, e.g. 'dir == \"West to east\"'")},
    {.name = "fixef-rm", .kind = GR_OPT_CHOICE, GR_OPT_AT(med_cli, fixef_rm), .metavar = "M", .words = fixef_rms,
     .def = "none", .help = "singleton removal (as estimate)"},
    {.name = "fe-tol", .kind = GR_OPT_DOUBLE, GR_OPT_AT(med_cli, fe_tol), .metavar = "X", .def = "1e-6",
     .flags = GR_OPT_POSITIVE, .help = "demeaning tolerance"},
    {.name = "fe-maxiter", .kind = GR_OPT_INT, GR_OPT_AT(med_cli, fe_maxiter), .metavar = "N", .def = "10000",
     .flags = GR_OPT_RANGE, .lo = 1, .hi = 100000000, .help = "demeaning iteration cap"},
    {.name = "fe-method", .kind = GR_OPT_CHOICE, GR_OPT_AT(med_cli, fe_method), .metavar = "M", .words = fe_methods,
     .def = "cg", .help = "conjugate gradient or Irons-Tuck sweeps (as estimate)"},
    {.name = "solver", .kind = GR_OPT_CHOICE, GR_OPT_AT(med_cli, solver), .metavar = "S", .words = solvers,
     .def = "cholesky", .help = "distributed Cholesky or QR (as estimate)"},
    {.name = "collin-tol", .kind = GR_OPT_DOUBLE, GR_OPT_AT(med_cli, collin_tol), .metavar = "X", .def = "1e-10",
     .flags = GR_OPT_POSITIVE, .help = "collinearity tolerance"},
    {.name = "json", S(json, "FILE|-", "write the results as JSON ('-': stdout, which then holds only the JSON)")},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(med_cli, quiet), .help = "no table, no warnings"},
    {0}};
#undef S

static const gr_opts_cmd med_cmd_def = {
    "mediate",
    "The study's mediation test (footnote 15): the main model without and with the mediators, on the same\n"
    "rows (those where every mediator is finite), and the change of one coefficient, delta = b_without - b_with,\n"
    "with a standard error from the two models' joint covariance (stacked influence functions clustered by\n"
    "--cluster; docs/mediation.md). Least squares only; one outcome; no weights, splits or offsets.",
    med_table, NULL, 0};

typedef struct {
    med_cli cli;
    gr_opts opts;
    char *formula_with, *offset;      /* built from --formula and --mediator (owned) */
    gr_spec without, with;
    gr_scores sc1, sc2;
} med_cmd;

/* Local. The mediator terms of text split at '+' outside parentheses into *parts (owned, trimmed). */
static int split_terms(const char *text, char ***parts, int *n)
{
    *parts = NULL;
    *n = 0;
    size_t len = strlen(text);
    char **p = gr_calloc(len + 1, sizeof *p);
    int depth = 0, k = 0;
    const char *start = text;
    for (const char *c = text;; c++) {
        if (*c == '(') depth++;
        if (*c == ')') depth--;
        if (*c && (*c != '+' || depth != 0)) continue;
        const char *a = start, *b = c;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (a == b) {
            for (int j = 0; j < k; j++) free(p[j]);
            free(p);
            return gr_fail(GR_EUSAGE, "--mediator", "'%s': expected terms joined by '+' (an empty term)", text);
        }
        p[k] = gr_malloc((size_t)(b - a) + 1, 1);
        memcpy(p[k], a, (size_t)(b - a));
        p[k++][b - a] = 0;
        if (!*c) break;
        start = c + 1;
    }
    *parts = p;
    *n = k;
    return GR_OK;
}

/* Local. The formula with the mediators and the offset 0*(m1) + 0*(m2) + ... that gives the model without
 * them the same rows (a row where a mediator is not finite has a non-finite offset and is dropped). */
static int with_texts(const char *f, const char *mediator, char **with, char **offset)
{
    char **m;
    int nm;
    GR_CALL(split_terms(mediator, &m, &nm));
    const char *bar = strchr(f, '|');
    size_t lhs = bar ? (size_t)(bar - f) : strlen(f), need = strlen(f) + 4 * strlen(mediator) + 16 * (size_t)nm + 8;
    *with = gr_malloc(need, 1);
    *offset = gr_malloc(need, 1);
    while (lhs > 0 && f[lhs - 1] == ' ') lhs--;
    int w = snprintf(*with, need, "%.*s", (int)lhs, f), u = 0;
    **offset = 0;
    for (int j = 0; j < nm; j++) {
        w += snprintf(*with + w, need - (size_t)w, " + %s", m[j]);
        u += snprintf(*offset + u, need - (size_t)u, "%s0 * (%s)", j ? " + " : "", m[j]);
    }
    if (bar) snprintf(*with + w, need - (size_t)w, " %s", bar);
    for (int j = 0; j < nm; j++) free(m[j]);
    free(m);
    return GR_OK;
}

static int build_texts(med_cmd *o) { return with_texts(o->cli.formula, o->cli.mediator, &o->formula_with, &o->offset); }

/* The value of option `name` in a grid's options text ("--name value" lines), or NULL; *len its length. */
static const char *option_value(const char *text, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, "--", 2) && !strncmp(line + 2, name, nl) && line[2 + nl] == ' ') {
            const char *v = line + 3 + nl, *end = strchr(v, '\n');
            *len = end ? (size_t)(end - v) : strlen(v);
            return v;
        }
    return NULL;
}

int gr_mediation_terms(const char *formula, const char *options, char ***terms, int *n)
{
    *terms = NULL;
    *n = 0;
    size_t lm = 0, lt = 0;
    const char *mv = options ? option_value(options, "mediator", &lm) : NULL, *tv = options ? option_value(options, "term", &lt) : NULL;
    if (!mv || !formula) return GR_OK;
    char *med = gr_malloc(lm + 1, 1), *with = NULL, *off = NULL;
    memcpy(med, mv, lm);
    med[lm] = 0;
    gr_formula f0, f1;
    memset(&f0, 0, sizeof f0);
    memset(&f1, 0, sizeof f1);
    int rc = with_texts(formula, med, &with, &off);
    if (!rc) rc = gr_formula_parse(formula, &f0);
    if (!rc) rc = gr_formula_parse(with, &f1);
    if (!rc) {
        *terms = gr_calloc((size_t)(f1.nx - f0.nx > 0 ? f1.nx - f0.nx : 0) + 1, sizeof **terms);
        for (int j = f0.nx; j < f1.nx; j++) (*terms)[(*n)++] = gr_strdup(f1.x[j].label);
        char d[GR_NAME_MAX + 16], given[GR_NAME_MAX];
        snprintf(given, sizeof given, "%.*s", tv ? (int)lt : 7, tv ? tv : "partner");
        const char *label = given;  /* as the formula labels it, which the records' delta row uses */
        for (int j = 0; j < f0.nx; j++) if (gr_formula_term_is(given, f0.x[j].label)) { label = f0.x[j].label; break; }
        snprintf(d, sizeof d, "delta(%s)", label);
        (*terms)[(*n)++] = gr_strdup(d);
    }
    gr_formula_free(&f0);
    gr_formula_free(&f1);
    free(med); free(with); free(off);
    return rc;
}

static void spec_from_cli(const med_cli *c, const char *formula, const char *offset, gr_spec *s)
{
    gr_spec_defaults(s);
    s->data = c->data;
    s->formula_text = formula;
    s->offset_text = offset;
    if (offset) { s->offset_name = "--mediator"; s->offset_shown = c->mediator; }  /* what the user gave */
    s->cluster_text = c->cluster;
    s->where_text = c->where;
    s->model.vcov = GR_VCOV_CLUSTER;
    s->vcov_set = 1;
    s->model.absorb = (gr_absorb_opts){.tol = c->fe_tol, .maxiter = (int)c->fe_maxiter,  /* <= 1e8: fits */
                                       .method = (gr_fe_method)c->fe_method, .rm_singletons = c->fixef_rm};
    s->model.fit = (gr_fit_opts){.solver = (gr_solver)c->solver, .collin_tol = c->collin_tol};
}

/* Local. Both specifications from the options; the checks that need only the texts. */
static int parse_options(int argc, char **argv, med_cmd *o, int rank)
{
    memset(o, 0, sizeof *o);
    GR_CALL(gr_opts_parse(&o->opts, &med_cmd_def, &o->cli, argc, argv, rank));
    if (strchr(o->cli.cluster, ','))
        return gr_fail(GR_EUSAGE, "--cluster", "'%s': the test clusters by one variable", o->cli.cluster);
    GR_CALL(build_texts(o));
    spec_from_cli(&o->cli, o->cli.formula, o->offset, &o->without);
    spec_from_cli(&o->cli, o->formula_with, NULL, &o->with);
    char why[512];
    if (gr_spec_resolve(&o->without)) {
        if (strncmp(gr_errmsg(), "--mediator: ", 12)) return gr_errcode();  /* the offset standing for them */
        const char *m = gr_errmsg(), *at = strstr(m, ": at character ");  /* positions in the offset mean nothing */
        const char *colon = at ? strchr(at + 15, ':') : NULL;
        snprintf(why, sizeof why, "%s", colon ? colon + 2 : m + 12);
        gr_clear_error();
        return gr_fail(GR_EUSAGE, "--mediator", "'%s': each mediator must be a column or an expression such as "
                       "log(x) (%s)", o->cli.mediator, why);
    }
    if (gr_spec_resolve(&o->with)) {
        if (!strstr(gr_errmsg(), "duplicate term")) return gr_errcode();
        snprintf(why, sizeof why, "%s", gr_errmsg());
        gr_clear_error();
        return gr_fail(GR_EUSAGE, "--mediator", "'%s' is already a regressor of the main model, or given twice (%s)",
                       o->cli.mediator, why);
    }
    if (o->with.f.ny != 1)
        return gr_fail(GR_EUSAGE, "--formula", "'%s': the test takes one outcome", o->cli.formula);
    if (o->with.f.nx <= o->without.f.nx)
        return gr_fail(GR_EUSAGE, "--mediator", "'%s' adds no term to the formula", o->cli.mediator);
    for (int j = o->without.f.nx; j < o->with.f.nx; j++)
        for (int q = 0; q < o->without.f.nx; q++)
            if (!strcmp(o->with.f.x[j].label, o->without.f.x[q].label))
                return gr_fail(GR_EUSAGE, "--mediator", "'%s' is already a regressor of the main model, or given twice",
                               o->with.f.x[j].label);
    const char *term = NULL;  /* the formula's label of the term given */
    for (int q = 0; q < o->without.f.nx && !term; q++)
        if (gr_formula_term_is(o->cli.term, o->without.f.x[q].label)) term = o->without.f.x[q].label;
    if (!term)
        return gr_fail(GR_EUSAGE, "--term", "'%s' is no term of the formula '%s'", o->cli.term, o->cli.formula);
    o->sc1.term = o->sc2.term = o->cli.term = term;  /* the formula's spelling from here on (records, output) */
    o->without.scores = &o->sc1;
    o->with.scores = &o->sc2;
    return GR_OK;
}

/* Local. The coefficient of term in r, or NaN. */
static double coef_of(const gr_result *r, const char *term)
{
    for (int j = 0; j < r->k; j++) if (!strcmp(r->terms[j], term)) return r->coef[j];
    return NAN;
}

/* Collective. Fit one of the models on the sample frame (one result). */
static int fit_one(gr_frame *sample, const gr_spec *s, const char *which, gr_result *out)
{
    gr_result *res = NULL;
    int n = 0;
    GR_CALL(gr_specrun(sample, NULL, s, &res, &n));
    *out = res[0];
    for (int j = 1; j < n; j++) gr_result_free(&res[j]);
    free(res);
    if (!s->scores->found)
        return gr_fail(GR_EINPUT, which, "'%s' was dropped (collinear or absorbed): nothing to test", s->scores->term);
    return GR_OK;
}

static cJSON *jnum(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

/* The test as a JSON object (docs/mediation.md). */
static cJSON *mediation_json(const med_cmd *o, const gr_mediation *m)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "term", o->cli.term);
    cJSON_AddStringToObject(j, "mediator", o->cli.mediator);
    cJSON_AddStringToObject(j, "cluster", o->cli.cluster);
    static const char *const key[] = {"estimate_without", "estimate_with", "delta", "std_error", "t_value", "p_value",
                                      "conf_low", "conf_high", "df", "small_sample_factor", "std_error_without",
                                      "std_error_with", "cov_without_with"};
    const double val[] = {m->b1, m->b2, m->delta, m->se, m->t, m->p, m->conf_low, m->conf_high, m->df, m->c, m->se1,
                          m->se2, m->cov12};
    for (int k = 0; k < 13; k++) cJSON_AddItemToObject(j, key[k], jnum(val[k]));
    cJSON_AddNumberToObject(j, "nobs", (double)m->nobs);
    cJSON_AddNumberToObject(j, "n_clusters", (double)m->G);
    cJSON_AddNumberToObject(j, "k_without", (double)m->K1);
    cJSON_AddNumberToObject(j, "k_with", (double)m->K2);
    return j;
}

/* The model with the mediators as a result object, with the test as one more coefficient row
 * "delta(<term>)" (what `gravrd table` prints as a row; docs/mediation.md). */
static cJSON *with_json(const med_cmd *o, const gr_result *r2, const gr_mediation *m)
{
    cJSON *res = gr_result_json(r2), *c = cJSON_CreateObject();
    char term[GR_NAME_MAX + 16];
    snprintf(term, sizeof term, "delta(%s)", o->cli.term);
    cJSON_AddStringToObject(c, "term", term);
    cJSON_AddItemToObject(c, "estimate", jnum(m->delta));
    cJSON_AddItemToObject(c, "std_error", jnum(m->se));
    cJSON_AddItemToObject(c, "t_value", jnum(m->t));
    cJSON_AddItemToObject(c, "p_value", jnum(m->p));
    cJSON_AddItemToObject(c, "conf_low", jnum(m->conf_low));
    cJSON_AddItemToObject(c, "conf_high", jnum(m->conf_high));
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(res, "coefficients"), c);
    cJSON_AddItemToObject(res, "mediation", mediation_json(o, m));
    return res;
}

/* Rank 0. The two models side by side, the test line, and the JSON. */
static int write_output(const med_cmd *o, gr_result *r, const gr_mediation *m, MPI_Comm comm)
{
    int json_stdout = o->cli.json && !strcmp(o->cli.json, "-");
    if (!gr_quiet && !json_stdout) {
        gr_print_table(stdout, r, 2, "Mediation: without and with the mediators");
        printf("delta(%s) = without - with = %.6g (%.6g), t = %.4g, p = %.4g, 95%% CI [%.6g, %.6g]; clustered by %s "
               "(%lld clusters), c = %.6g\n", o->cli.term, m->delta, m->se, m->t, m->p, m->conf_low, m->conf_high,
               o->cli.cluster, (long long)m->G, m->c);
    }
    if (!o->cli.json) return GR_OK;
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "results");
    cJSON_AddItemToArray(arr, with_json(o, &r[1], m));
    cJSON_AddItemToObject(root, "without", gr_result_json(&r[0]));
    cJSON_AddItemToObject(root, "mediation", mediation_json(o, m));
    cJSON_AddStringToObject(root, "formula", o->cli.formula);
    cJSON_AddStringToObject(root, "formula_with", o->formula_with);
    cJSON_AddStringToObject(root, "data", o->cli.data);
    cJSON_AddItemToObject(root, "provenance", gr_opts_provenance(&o->opts, comm));
    int rc = gr_write_json(o->cli.json, root);
    cJSON_Delete(root);
    return rc;
}

static int run(MPI_Comm comm, med_cmd *o)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (o->opts.echo && rank == 0) gr_opts_echo(&o->opts, stderr);
    gr_panel p;
    GR_CALL(gr_panel_open(comm, o->cli.data, &p));
    gr_frame sample;
    memset(&sample, 0, sizeof sample);
    gr_result r[2];
    memset(r, 0, sizeof r);
    gr_mediation m;
    char label[4400];
    gr_specrun_label(&o->with, label, sizeof label);
    int rc = gr_specrun_check(&o->with, &p);
    if (!rc) rc = gr_agree(comm, gr_frame_open(comm, &p, o->with.where, label, &sample));
    if (!rc) rc = gr_agree(comm, fit_one(&sample, &o->without, "model without the mediators", &r[0]));
    if (!rc) rc = gr_agree(comm, fit_one(&sample, &o->with, "model with the mediators", &r[1]));
    if (!rc)
        rc = gr_agree(comm, gr_mediation_test(&o->sc1, &o->sc2, coef_of(&r[0], o->cli.term), coef_of(&r[1], o->cli.term),
                                              &m));
    if (!rc) rc = gr_agree(comm, rank == 0 ? write_output(o, r, &m, comm) : GR_OK);
    gr_result_free(&r[0]);
    gr_result_free(&r[1]);
    gr_frame_free(&sample);
    gr_panel_close(&p);
    return rc;
}

int cmd_mediate(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    med_cmd o;
    int rc = parse_options(argc, argv, &o, rank);
    if (rc == GR_OPTS_EXIT) rc = GR_OK;
    else {
        gr_quiet |= o.cli.quiet;
        if (!rc) rc = run(comm, &o);
        rc = gr_agree(comm, rc);
    }
    gr_scores_free(&o.sc1);
    gr_scores_free(&o.sc2);
    gr_spec_free(&o.without);
    gr_spec_free(&o.with);
    free(o.formula_with);
    free(o.offset);
    gr_opts_free(&o.opts);
    return gr_report(gr_stdout_agree(comm, rc));
}
