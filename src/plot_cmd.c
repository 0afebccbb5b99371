/* plot_cmd.c: `gravrd plot RESULTS --config CONFIG --kind bandwidth|curve --out FILE.svg`: SVG pictures of a
 * grid's results (docs/plot.md). RESULTS is a `gravrd grid` output directory or its results.jsonl
 * (docs/results.md); CONFIG the grid config that made it (ids, axes, and its `plot:` section).
 *   bandwidth  the coefficient of --term by segment-pair bandwidth with 95% intervals, one series per value
 *              of an axis, and under it the treated pairs that identify it at each bandwidth (from the panel)
 *   curve      a specification curve (as R's specr draws it): the sorted estimates on top, the choices of
 *              each specification below
 * Every rank loads the config and opens the panel (collective); rank 0 reads the results, checks and draws.
 * Marks carry <title> tooltips with their numbers ("point: ...", "curve: ...", "treated: ...") so that
 * a reader, or a test, can match every mark to its record. */
#include "formula.h"
#include "cleanup.h"
#include "commands.h"
#include "derived.h"
#include "grid.h"
#include "opts.h"
#include "panel.h"
#include "results_file.h"
#include "svg.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cfg.h"

enum { KIND_BANDWIDTH = 0, KIND_CURVE = 1 };
#define PLOT_PI 3.14159265358979323846

typedef struct {
    const char *results, *config, *out, *term, *highlight, *data;
    int kind;
} plot_cli;

static const gr_opt_word kinds[] = {{"bandwidth", KIND_BANDWIDTH}, {"curve", KIND_CURVE}, {NULL, 0}};

static const gr_opt plot_table[] = {
    {.name = "results", .kind = GR_OPT_ARG, GR_OPT_AT(plot_cli, results), .metavar = "RESULTS",
     .help = "a grid output directory or its results.jsonl", .flags = GR_OPT_REQUIRED},
    {.name = "config", .kind = GR_OPT_STRING, GR_OPT_AT(plot_cli, config), .metavar = "CONFIG.yaml",
     .help = "the grid config the results come from (axes, ids, its plot: section)", .flags = GR_OPT_REQUIRED},
    {.name = "kind", .kind = GR_OPT_CHOICE, GR_OPT_AT(plot_cli, kind), .metavar = "K",
     .help = "the picture", .words = kinds, .flags = GR_OPT_REQUIRED},
    {.name = "out", .kind = GR_OPT_STRING, GR_OPT_AT(plot_cli, out), .metavar = "FILE.svg",
     .help = "the SVG file to write", .flags = GR_OPT_REQUIRED},
    {.name = "term", .kind = GR_OPT_STRING, GR_OPT_AT(plot_cli, term), .metavar = "TERM",
     .help = "the coefficient plotted (default: plot: term, else the first term of the first result)"},
    {.name = "highlight", .kind = GR_OPT_STRING, GR_OPT_AT(plot_cli, highlight), .metavar = "ID",
     .help = "curve: the main specification (default: plot: main in the config)"},
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(plot_cli, data), .metavar = "FILE.h5",
     .help = "bandwidth: the panel for the treated-pair counts (default: manifest.json's data, else the config's)"},
    {0}};

static const gr_opts_cmd plot_cmd_def = {
    "plot",
    "SVG pictures of a grid's results. --kind bandwidth: the coefficient of --term against the segment-pair\n"
    "bandwidth with 95% intervals, one series per value of an axis (the config's plot: section), and the\n"
    "treated pairs that identify it at each bandwidth. --kind curve: a specification curve, every estimate\n"
    "sorted, significant ones filled, and under it the choice each specification made on each axis.",
    plot_table,
    "Format and the plot: section of a config: docs/plot.md. Results: docs/results.md.", 0};

/* ---------------- the plot: section of the config ---------------- */

typedef struct {
    char *term;                                /* NULL: not given */
    int term_line;
    int bw_axis, series_axis;                  /* -1: not given */
    int bw_line, series_line, line;            /* line of the plot: key (0: no section) */
    unsigned char *keep[GR_GRID_MAX_AXES];     /* filter: keep[a][v]; NULL: every value of axis a */
    int main_pick[GR_GRID_MAX_AXES];           /* main: value index per axis, -1: not given */
    int main_line;                             /* 0: no main */
} plot_conf;

static void conf_free(plot_conf *c)
{
    free(c->term);
    for (int a = 0; a < GR_GRID_MAX_AXES; a++) free(c->keep[a]);
}

static const char *ytext(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* Index of the axis named by scalar node n, else an error naming the axes. */
static int axis_of(const gr_grid *g, const yaml_node_t *n, const char *what, int *out)
{
    if (n->type != YAML_SCALAR_NODE)
        return gr_cfg_fail(g->path, gr_yline(n), "plot: %s: expected an axis name, got %s", what, gr_ykind(n));
    for (int a = 0; a < g->naxes; a++)
        if (!strcmp(g->axes[a].name, ytext(n))) { *out = a; return GR_OK; }
    char names[600] = "";
    size_t k = 0;
    for (int a = 0; a < g->naxes && k < sizeof names; a++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", a ? ", " : "", g->axes[a].name);
    return gr_cfg_fail(g->path, gr_yline(n), "plot: %s: no axis '%s' under axes: (axes: %s)", what, ytext(n),
                 g->naxes ? names : "none");
}

/* Index of the value of axis a whose label is the scalar node n, else an error naming the labels. */
static int value_of(const gr_grid *g, int a, const yaml_node_t *n, const char *what, int *out)
{
    const gr_grid_axis *A = &g->axes[a];
    if (n->type != YAML_SCALAR_NODE)
        return gr_cfg_fail(g->path, gr_yline(n), "plot: %s: axis '%s': expected a value's label, got %s", what, A->name, gr_ykind(n));
    for (int v = 0; v < A->nvalues; v++)
        if (!strcmp(A->value_label[v], ytext(n))) { *out = v; return GR_OK; }
    char labels[800] = "";
    size_t k = 0;
    for (int v = 0; v < A->nvalues && k < sizeof labels; v++)
        k += (size_t)snprintf(labels + k, sizeof labels - k, "%s'%s'", v ? ", " : "", A->value_label[v]);
    return gr_cfg_fail(g->path, gr_yline(n), "plot: %s: axis '%s' has no value '%s' (its values: %s)", what, A->name, ytext(n),
                 labels);
}

/* filter: {axis: label or [labels], ...} */
static int parse_filter(const gr_grid *g, yaml_document_t *d, const yaml_node_t *m, plot_conf *c)
{
    if (m->type != YAML_MAPPING_NODE)
        return gr_cfg_fail(g->path, gr_yline(m), "plot: filter: expected a mapping of axis names to labels, got %s", gr_ykind(m));
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(d, p->key), *v = yaml_document_get_node(d, p->value);
        int a, val;
        GR_CALL(axis_of(g, k, "filter", &a));
        if (c->keep[a]) return gr_cfg_fail(g->path, gr_yline(k), "plot: filter: axis '%s' given twice", g->axes[a].name);
        c->keep[a] = gr_calloc((size_t)g->axes[a].nvalues, 1);
        if (v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                GR_CALL(value_of(g, a, yaml_document_get_node(d, *it), "filter", &val));
                c->keep[a][val] = 1;
            }
            if (v->data.sequence.items.top == v->data.sequence.items.start)
                return gr_cfg_fail(g->path, gr_yline(v), "plot: filter: axis '%s': an empty list keeps nothing", g->axes[a].name);
        } else {
            GR_CALL(value_of(g, a, v, "filter", &val));
            c->keep[a][val] = 1;
        }
    }
    return GR_OK;
}

/* main: {axis: label, ...} */
static int parse_main(const gr_grid *g, yaml_document_t *d, const yaml_node_t *m, plot_conf *c)
{
    if (m->type != YAML_MAPPING_NODE)
        return gr_cfg_fail(g->path, gr_yline(m), "plot: main: expected a mapping of axis names to labels, got %s", gr_ykind(m));
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(d, p->key), *v = yaml_document_get_node(d, p->value);
        int a;
        GR_CALL(axis_of(g, k, "main", &a));
        if (c->main_pick[a] >= 0) return gr_cfg_fail(g->path, gr_yline(k), "plot: main: axis '%s' given twice", g->axes[a].name);
        GR_CALL(value_of(g, a, v, "main", &c->main_pick[a]));
    }
    c->main_line = gr_yline(m);
    return GR_OK;
}

/* The keys of the plot: mapping. */
static int parse_plot_map(const gr_grid *g, yaml_document_t *d, const yaml_node_t *m, plot_conf *c)
{
    static const char *const keys[] = {"term", "bandwidth", "series", "filter", "main"};
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(d, p->key), *v = yaml_document_get_node(d, p->value);
        const char *key = k->type == YAML_SCALAR_NODE ? ytext(k) : "";
        int i = 0;
        while (i < 5 && strcmp(key, keys[i])) i++;
        if (i == 5) return gr_cfg_fail(g->path, gr_yline(k), "plot: unknown key '%s' (expected term, bandwidth, series, filter, main)", key);
        if (i == 0) {
            if (v->type != YAML_SCALAR_NODE || !v->data.scalar.length)
                return gr_cfg_fail(g->path, gr_yline(v), "plot: term: expected a term of the formula, got %s",
                             v->type == YAML_SCALAR_NODE ? "nothing" : gr_ykind(v));
            free(c->term);
            c->term = gr_strdup(ytext(v));
            c->term_line = gr_yline(v);
        } else if (i == 1) {
            GR_CALL(axis_of(g, v, "bandwidth", &c->bw_axis));
            c->bw_line = gr_yline(v);
        } else if (i == 2) {
            GR_CALL(axis_of(g, v, "series", &c->series_axis));
            c->series_line = gr_yline(v);
        } else if (i == 3) {
            GR_CALL(parse_filter(g, d, v, c));
        } else {
            GR_CALL(parse_main(g, d, v, c));
        }
    }
    if (c->bw_axis >= 0 && c->bw_axis == c->series_axis)
        return gr_cfg_fail(g->path, c->series_line, "plot: series: axis '%s' is the bandwidth axis", g->axes[c->bw_axis].name);
    return GR_OK;
}

/* Local (rank 0). Read the plot: section of the config g->path (already checked by gr_grid_load: YAML
 * syntax, and plot: a mapping when present) into *c (zeroed and initialized here; conf_free it). */
static int conf_read(const gr_grid *g, plot_conf *c)
{
    memset(c, 0, sizeof *c);
    c->bw_axis = c->series_axis = -1;
    for (int a = 0; a < GR_GRID_MAX_AXES; a++) c->main_pick[a] = -1;
    FILE *f = fopen(g->path, "rb");
    if (!f) return gr_fail(GR_EIO, g->path, "cannot open the config: %s", strerror(errno));
    yaml_parser_t ps;
    yaml_document_t d;
    yaml_parser_initialize(&ps);
    yaml_parser_set_input_file(&ps, f);
    int ok = yaml_parser_load(&ps, &d), rc = GR_OK;
    yaml_parser_delete(&ps);
    fclose(f);
    if (!ok) return gr_fail(GR_EINPUT, g->path, "cannot parse the config again (changed since it was loaded?)");
    const yaml_node_t *root = yaml_document_get_root_node(&d);
    if (root && root->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && !rc; p++) {
            const yaml_node_t *k = yaml_document_get_node(&d, p->key), *v = yaml_document_get_node(&d, p->value);
            if (k->type != YAML_SCALAR_NODE || strcmp(ytext(k), "plot")) continue;
            c->line = gr_yline(k);
            if (v->type != YAML_MAPPING_NODE) rc = gr_cfg_fail(g->path, gr_yline(v), "plot: expected a mapping, got %s", gr_ykind(v));
            else rc = parse_plot_map(g, &d, v, c);
        }
    yaml_document_delete(&d);
    return rc;
}

/* ---------------- the results ---------------- */

/* One plotted estimate: a specification's coefficient of the term in one of its samples. */
typedef struct {
    int spec;            /* index in g->specs */
    const char *sample;  /* the sample's name (points into the record) */
    int nsamples;        /* samples of the specification */
    double est, lo, hi, p;
} point;

typedef struct {
    char path[4096], manifest[4200];
    cJSON **rec;         /* rec[i]: the last record of g->specs[i], NULL: none */
    int nrec, nfailed, nno_term, ncollinear, nnonfinite, nmissing, ignored_last;
    char *term;
    point *pt;
    int npt;
} results;

static void results_free(results *r, int nspecs)
{
    for (int i = 0; r->rec && i < nspecs; i++) cJSON_Delete(r->rec[i]);
    free(r->rec);
    free(r->term);
    free(r->pt);
}

/* RESULTS: a directory (its results.jsonl) or the file itself; manifest.json beside it. */
static void results_paths(const char *arg, results *r)
{
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(r->path, sizeof r->path, "%s/results.jsonl", arg);
        snprintf(r->manifest, sizeof r->manifest, "%s/manifest.json", arg);
        return;
    }
    size_t len = strlen(arg);  /* memcpy: snprintf "%s" draws a false null-argument warning at -O1 */
    if (len >= sizeof r->path) len = sizeof r->path - 1;
    memcpy(r->path, arg, len);
    r->path[len] = 0;
    const char *slash = strrchr(arg, '/');
    if (slash) snprintf(r->manifest, sizeof r->manifest, "%.*s/manifest.json", (int)(slash - arg), arg);
    else snprintf(r->manifest, sizeof r->manifest, "manifest.json");
}

/* Local (rank 0). Read results.jsonl (results_file.h: the last record of each specification; an unfinished
 * last line ignored); a record of a specification the config does not have is an error. */
static int results_read(const gr_grid *g, results *r)
{
    gr_results_file f;
    int rc = gr_results_file_read(r->path, g, NULL, &f);
    free(f.line);
    r->rec = f.rec;
    r->nrec = f.nrec;
    r->ignored_last = f.ignored_last;
    if (!rc && f.unknown && r->nrec == 0)  /* none of them: the wrong config */
        rc = gr_fail(GR_EINPUT, NULL, "%s:%d: spec_id %s is no specification of %s (results of another config, or of "
                     "an older version of it?)", r->path, f.unknown_line, f.unknown_id, g->path);
    else if (!rc && f.unknown)  /* some: a directory resumed with another config (docs/grid.md), as gravrd table */
        gr_warn("%s: %d record%s of specifications that %s does not have (another config, or a changed one?); ignored",
                r->path, f.unknown, f.unknown > 1 ? "s" : "", g->path);
    if (!rc && r->nrec == 0) rc = gr_fail(GR_EINPUT, r->path, "no result records");
    return rc;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const cJSON *results_of(const cJSON *rec, int *ok)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(rec, "status");
    *ok = cJSON_IsString(st) && !strcmp(st->valuestring, "ok");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(rec, "results");
    return cJSON_IsArray(res) ? res : NULL;
}

/* The first term of the first ok record in expansion order (NULL: none). */
static const char *first_term(const gr_grid *g, const results *r)
{
    for (int i = 0; i < g->nspecs; i++) {
        int ok;
        const cJSON *res = r->rec[i] ? results_of(r->rec[i], &ok) : NULL;
        if (!res || !ok) continue;
        const cJSON *co = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, 0), "coefficients");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(co, 0), "term");
        if (cJSON_IsString(t)) return t->valuestring;
    }
    return NULL;
}

/* The label the records give the term named `name` (as the user spelled it: formula.h gr_formula_term_is), or name
 * itself when no record has it. */
static const char *record_term(const gr_grid *g, const results *r, const char *name)
{
    for (int i = 0; i < g->nspecs; i++) {
        int ok;
        const cJSON *res = r->rec[i] ? results_of(r->rec[i], &ok) : NULL, *m, *c;
        if (!res || !ok) continue;
        cJSON_ArrayForEach(m, res) cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(m, "coefficients")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "term");
            if (cJSON_IsString(t) && gr_formula_term_is(name, t->valuestring)) return t->valuestring;
        }
    }
    return name;
}

/* The terms of the first ok record, "partner, log(distance_km)", for an error message. */
static void terms_list(const gr_grid *g, const results *r, char *buf, size_t len)
{
    buf[0] = 0;
    for (int i = 0; i < g->nspecs; i++) {
        int ok;
        const cJSON *res = r->rec[i] ? results_of(r->rec[i], &ok) : NULL;
        if (!res || !ok) continue;
        size_t k = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, 0), "coefficients")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "term");
            if (cJSON_IsString(t) && k < len) k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? ", " : "", t->valuestring);
        }
        return;
    }
}

/* One specification's estimates of the term (one per sample) appended to r->pt; sel: plotted at all. */
static void spec_points(results *r, int i, const char *term)
{
    int ok, nres, found = 0;
    const cJSON *res = results_of(r->rec[i], &ok);
    if (!ok || !res) { r->nfailed++; return; }
    nres = cJSON_GetArraySize(res);
    for (int k = 0; k < nres; k++) {
        const cJSON *m = cJSON_GetArrayItem(res, k), *c, *smp = cJSON_GetObjectItemCaseSensitive(m, "sample");
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(m, "coefficients")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "term");
            if (!cJSON_IsString(t) || strcmp(t->valuestring, term)) continue;
            found = 1;
            point p = {i, cJSON_IsString(smp) ? smp->valuestring : "", nres, num(c, "estimate"), num(c, "conf_low"),
                       num(c, "conf_high"), num(c, "p_value")};
            if (!isfinite(p.est) || !isfinite(p.lo) || !isfinite(p.hi) || !isfinite(p.p)) r->nnonfinite++;
            else r->pt[r->npt++] = p;
        }
    }
    if (found) return;
    int collinear = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, 0), "dropped"), "collinear"))
        collinear |= cJSON_IsString(c) && !strcmp(c->valuestring, term);
    if (collinear) r->ncollinear++;
    else r->nno_term++;
}

/* Local (rank 0). The points of term (--term, plot: term, or the first term) of the selected
 * specifications (sel[i]; NULL: all) that have a record. When no ok record has the term: GR_EUSAGE at
 * term_where "--term", else GR_EINPUT there (the config's plot: term). */
static int results_points(const gr_grid *g, results *r, const char *term, const unsigned char *sel, const char *term_where)
{
    int cap = 0;
    for (int i = 0; i < g->nspecs; i++)
        if (r->rec[i] && (!sel || sel[i])) {
            int ok;
            const cJSON *res = results_of(r->rec[i], &ok);
            cap += res ? cJSON_GetArraySize(res) : 0;
        }
    term = term ? record_term(g, r, term) : first_term(g, r);
    if (!term) return gr_fail(GR_EINPUT, r->path, "no specification finished ok: nothing to plot");
    r->term = gr_strdup(term);
    r->pt = gr_malloc((size_t)(cap ? cap : 1), sizeof *r->pt);
    for (int i = 0; i < g->nspecs; i++) {
        if (sel && !sel[i]) continue;
        if (r->rec[i]) spec_points(r, i, r->term);
        else r->nmissing++;
    }
    if (r->npt) return GR_OK;
    char terms[600];
    terms_list(g, r, terms, sizeof terms);
    if (!terms[0]) return gr_fail(GR_EINPUT, r->path, "no specification plotted finished ok: nothing to plot");
    if (r->nnonfinite) return gr_fail(GR_EINPUT, r->path, "no finite estimate of '%s' to plot", r->term);
    return gr_fail(strcmp(term_where, "--term") ? GR_EINPUT : GR_EUSAGE, term_where, "no result in %s has the term '%s' "
                   "(terms: %s)", r->path, r->term, terms);
}

/* ---------------- bandwidths ---------------- */

/* Local. The bandwidth of a specification: the one <d> of the derived columns (segpair_<d>, segment_<d>,
 * ntreated_<d>, same_<attr>_<d>, also as exp_/imp_ city columns) that its resolved settings name. *bw =
 * -1 when none; GR_EINPUT when two different ones. name[32] gets its %g spelling. */
static int spec_bandwidth(const gr_grid *g, const gr_grid_spec *s, double *bw, char *name)
{
    *bw = -1;
    name[0] = 0;
    for (int k = 0; k < GR_GRID_NKEYS; k++) {
        const char *t = s->text[k];
        for (const char *c = t; c && *c;) {
            if (!(isalpha((unsigned char)*c) || *c == '_')) { c++; continue; }
            const char *e = c;
            while (isalnum((unsigned char)*e) || *e == '_' || *e == '.') e++;
            char word[GR_NAME_MAX * 2];
            snprintf(word, sizeof word, "%.*s", (int)(e - c), c);
            c = e;
            const char *w = (!strncmp(word, "exp_", 4) || !strncmp(word, "imp_", 4)) ? word + 4 : word;
            gr_derived_name dn;
            if (gr_derived_parse(w, &dn) != GR_OK) { gr_clear_error(); continue; }  /* segment_type: not one */
            if (dn.kind == GR_DERIVED_NONE) continue;
            if (*bw >= 0 && dn.bw != *bw)
                return gr_cfg_fail(g->path, s->line[k], "specification %d (%s) names the bandwidths %s and %s: kind bandwidth "
                             "needs one per specification", s->index + 1, s->label, name, dn.bwname);
            *bw = dn.bw;
            snprintf(name, 32, "%s", dn.bwname);
        }
    }
    return GR_OK;
}

/* 1 if axis a determines the bandwidth of the selected specifications (each of its values one bandwidth). */
static int axis_sets_bandwidth(const gr_grid *g, int a, const unsigned char *sel, const double *bw, int *spec_a,
                               int *spec_b)
{
    int nv = g->axes[a].nvalues, ok = 1;
    int *first = gr_malloc((size_t)nv, sizeof *first);
    for (int v = 0; v < nv; v++) first[v] = -1;
    for (int i = 0; i < g->nspecs && ok; i++) {
        if (!sel[i]) continue;
        int v = g->specs[i].pick[a];
        if (first[v] < 0) first[v] = i;
        else if (bw[i] != bw[first[v]]) { ok = 0; *spec_a = first[v]; *spec_b = i; }
    }
    free(first);
    return ok;
}

/* Local (rank 0). The bandwidth of every selected specification into bw[] (none: an error) and the
 * bandwidth axis: plot: bandwidth (checked to set it) or the first axis with the most values among those
 * that set it. names[i][32]: the %g spelling. */
static int bandwidths(const gr_grid *g, const plot_conf *c, const unsigned char *sel, double *bw, char (*names)[32],
                      int *axis)
{
    for (int i = 0; i < g->nspecs; i++) {
        bw[i] = -1;
        names[i][0] = 0;
        if (!sel[i]) continue;
        GR_CALL(spec_bandwidth(g, &g->specs[i], &bw[i], names[i]));
        if (bw[i] < 0)
            return gr_cfg_fail(g->path, g->specs[i].line[GR_GRID_FORMULA], "specification %d (%s) names no segpair_<d> column: "
                         "kind bandwidth plots specifications of the spatial RD (filter the others out in plot: filter)",
                         g->specs[i].index + 1, g->specs[i].label);
    }
    int sa = 0, sb = 0;
    if (c->bw_axis >= 0) {
        if (!axis_sets_bandwidth(g, c->bw_axis, sel, bw, &sa, &sb))
            return gr_cfg_fail(g->path, c->bw_line, "plot: bandwidth: axis '%s' does not set the bandwidth: specifications %d "
                         "and %d take the same value but use segpair_%s and segpair_%s", g->axes[c->bw_axis].name,
                         sa + 1, sb + 1, names[sa], names[sb]);
        *axis = c->bw_axis;
        return GR_OK;
    }
    *axis = -1;
    for (int a = 0; a < g->naxes; a++)
        if (axis_sets_bandwidth(g, a, sel, bw, &sa, &sb) && (*axis < 0 || g->axes[a].nvalues > g->axes[*axis].nvalues))
            *axis = a;
    return GR_OK;
}

/* Local (rank 0). The specifications kept by plot: filter. */
static void filter_specs(const gr_grid *g, const plot_conf *c, unsigned char *sel)
{
    for (int i = 0; i < g->nspecs; i++) {
        sel[i] = 1;
        for (int a = 0; a < g->naxes; a++)
            if (c->keep[a] && !c->keep[a][g->specs[i].pick[a]]) sel[i] = 0;
    }
}

/* Local (rank 0). No two points at one (bandwidth, series value); a specification with several samples
 * is refused (one point per specification). */
static int check_points(const gr_grid *g, const plot_conf *c, const results *r, const double *bw)
{
    const char *where = c->line ? "plot: " : "";
    for (int q = 0; q < r->npt; q++) {
        const point *p = &r->pt[q];
        if (p->nsamples > 1)
            return gr_cfg_fail(g->path, c->line, "%sspecification %d (%s) has %d samples (split): kind bandwidth plots one "
                         "estimate per specification", where, g->specs[p->spec].index + 1, g->specs[p->spec].label,
                         p->nsamples);
        for (int j = 0; j < q; j++) {
            const point *o = &r->pt[j];
            if (bw[o->spec] != bw[p->spec]) continue;
            if (c->series_axis >= 0 && g->specs[o->spec].pick[c->series_axis] != g->specs[p->spec].pick[c->series_axis])
                continue;
            return gr_cfg_fail(g->path, c->line, "%stwo specifications at one point of the plot: %d (%s) and %d (%s) both "
                         "have bandwidth %g%s%s; keep one with plot: filter, or draw them apart with plot: series",
                         where, g->specs[o->spec].index + 1, g->specs[o->spec].label, g->specs[p->spec].index + 1,
                         g->specs[p->spec].label, bw[p->spec], c->series_axis >= 0 ? " in series " : "",
                         c->series_axis >= 0 ? g->axes[c->series_axis].value_label[g->specs[p->spec].pick[c->series_axis]] : "");
        }
    }
    return GR_OK;
}

/* Local. Treated pairs at a bandwidth: partner pairs (partner != 0) whose segment pair segpair_<name> also
 * holds a pair that is not a partner pair (partner == 0), i.e. the pairs that identify the coefficient
 * given segment-pair fixed effects. Derives segpair_<name> in p's tables when the file lacks it. */
static int treated_pairs(gr_panel *p, const char *name, long *count)
{
    char col[GR_NAME_MAX];
    snprintf(col, sizeof col, "segpair_%s", name);
    double *sp = NULL, *pt = NULL;
    int rc = GR_OK;
    GR_TRY(gr_panel_pair_values(p, col, &sp));
    GR_TRY(gr_panel_pair_values(p, "partner", &pt));
    int64_t n = p->pairs.nrows;
    double top = -1;
    for (int64_t k = 0; k < n; k++) if (isfinite(sp[k]) && sp[k] > top) top = sp[k];
    unsigned char *has_control = gr_calloc((size_t)(top + 1 > 0 ? top + 1 : 1), 1);
    for (int64_t k = 0; k < n; k++)
        if (isfinite(sp[k]) && sp[k] >= 0 && pt[k] == 0) has_control[(int64_t)sp[k]] = 1;
    *count = 0;
    for (int64_t k = 0; k < n; k++)
        if (isfinite(sp[k]) && sp[k] >= 0 && isfinite(pt[k]) && pt[k] != 0 && has_control[(int64_t)sp[k]]) (*count)++;
    free(has_control);
fail:
    free(sp);
    free(pt);
    return rc;
}

/* ---------------- drawing helpers ---------------- */

/* A linear map from data to SVG units: v0 -> p0, v1 -> p1. */
typedef struct { double v0, v1, p0, p1; } scale;
static double at(const scale *s, double v) { return s->p0 + (v - s->v0) / (s->v1 - s->v0) * (s->p1 - s->p0); }

/* Value range [lo, hi] widened to hold 0 and padded by 6% (a flat range gets +-1). */
static void value_range(double *lo, double *hi)
{
    *lo = fmin(*lo, 0);
    *hi = fmax(*hi, 0);
    if (!(*hi > *lo)) { *lo -= 1; *hi += 1; }
    double pad = (*hi - *lo) * 0.06;
    *lo -= pad;
    *hi += pad;
}

/* Horizontal grid lines and tick values of a vertical value scale y over x in [x0, x1]; a dashed zero line. */
static void value_ticks(gr_svg *s, const scale *y, double x0, double x1)
{
    double lo = fmin(y->v0, y->v1), hi = fmax(y->v0, y->v1), step = gr_svg_nice_step(hi - lo, 6);
    for (double v = ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) {
        double Y = at(y, v), w = fabs(v) < 1e-9 * step ? 0.0 : v;
        gr_svg_line(s, x0, Y, x1, Y, "#e0e0e0", 0.8, 1, NULL);
        gr_svg_line(s, x0 - 4, Y, x0, Y, "#000000", 1, 1, NULL);
        gr_svg_text(s, x0 - 7, Y + 4, 11, "end", "#000000", "%g", w);
    }
    gr_svg_line(s, x0, at(y, 0), x1, at(y, 0), "#000000", 1, 1, "5 4");
}

/* Series styles: shape, filled or hollow, dash of the connecting line, colour. Shape, fill and dash tell
 * the series apart in black and white; the colour only repeats them. */
enum { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_DIAMOND, SHAPE_TRIANGLE_DOWN };
typedef struct { int shape, filled; const char *dash, *colour, *name; } style;
static const style styles[] = {
    {SHAPE_CIRCLE, 1, NULL, "#000000", "filled circle"},
    {SHAPE_SQUARE, 0, "7 3", "#1f4e99", "hollow square"},
    {SHAPE_TRIANGLE, 1, "2 3", "#a61c1c", "filled triangle"},
    {SHAPE_DIAMOND, 0, "9 3 2 3", "#2e6b2e", "hollow diamond"},
    {SHAPE_TRIANGLE_DOWN, 0, "4 2", "#5e3c99", "hollow triangle"},
    {SHAPE_SQUARE, 1, "1 3", "#7f4a0a", "filled square"},
    {SHAPE_CIRCLE, 0, "12 4", "#4d4d4d", "hollow circle"},
    {SHAPE_DIAMOND, 1, "6 2 1 2 1 2", "#b3367a", "filled diamond"}};
#define NSTYLES (int)(sizeof styles / sizeof styles[0])

/* A marker of radius r centred at (x, y): the mean of a polygon's corners is the centre, so a reader can
 * recover the point from the corners. */
static void marker(gr_svg *s, int shape, int filled, const char *colour, double x, double y, double r, double sw)
{
    const char *fill = filled ? colour : "#ffffff";
    if (shape == SHAPE_CIRCLE) { gr_svg_circle(s, x, y, r, fill, colour, sw, NULL); return; }
    double px[4], py[4];
    int n = 4;
    if (shape == SHAPE_SQUARE) {
        double h = r * 0.85;
        double sx[4] = {-h, h, h, -h}, sy[4] = {-h, -h, h, h};
        for (int k = 0; k < 4; k++) px[k] = x + sx[k], py[k] = y + sy[k];
    } else if (shape == SHAPE_DIAMOND) {
        double sx[4] = {0, r * 1.1, 0, -r * 1.1}, sy[4] = {-r * 1.1, 0, r * 1.1, 0};
        for (int k = 0; k < 4; k++) px[k] = x + sx[k], py[k] = y + sy[k];
    } else {  /* triangles: corners at 120 degrees around the centre */
        double R = r * 1.25, sg = shape == SHAPE_TRIANGLE ? -1 : 1;
        n = 3;
        for (int k = 0; k < 3; k++) {
            double ang = PLOT_PI / 2 + 2 * PLOT_PI * k / 3;
            px[k] = x + R * cos(ang);
            py[k] = y + sg * R * sin(ang);
        }
    }
    gr_svg_polygon(s, n, px, py, fill, 1, colour, sw);
}

/* Text shortened to at most n characters ("..." at the end). */
static const char *clip(const char *t, size_t n, char *buf, size_t len)
{
    if (strlen(t) <= n || n < 4) return t;
    snprintf(buf, len, "%.*s...", (int)(n - 3), t);
    return buf;
}

/* "y = log(trade), controls = all controls": the filter of plot: (empty: none). */
static void filter_text(const gr_grid *g, const plot_conf *c, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    for (int a = 0; a < g->naxes && k < len; a++) {
        if (!c->keep[a]) continue;
        k += (size_t)snprintf(buf + k, len - k, "%s%s = ", k ? "; " : "", g->axes[a].name);
        for (int v = 0, m = 0; v < g->axes[a].nvalues && k < len; v++)
            if (c->keep[a][v]) k += (size_t)snprintf(buf + k, len - k, "%s%s", m++ ? " or " : "", g->axes[a].value_label[v]);
    }
}

/* The note under a picture: what was left out. */
static void left_out_note(const results *r, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "left out:");
    size_t k0 = k;
    if (r->nmissing && k < len) k += (size_t)snprintf(buf + k, len - k, " %d not in the results (not run)", r->nmissing);
    if (r->nfailed && k < len) k += (size_t)snprintf(buf + k, len - k, "%s %d failed", k > k0 ? "," : "", r->nfailed);
    if (r->ncollinear && k < len) k += (size_t)snprintf(buf + k, len - k, "%s %d where %s was dropped as collinear", k > k0 ? "," : "", r->ncollinear, r->term);
    if (r->nno_term && k < len) k += (size_t)snprintf(buf + k, len - k, "%s %d without the term %s", k > k0 ? "," : "", r->nno_term, r->term);
    if (r->nnonfinite && k < len) k += (size_t)snprintf(buf + k, len - k, "%s %d with no finite estimate or interval", k > k0 ? "," : "", r->nnonfinite);
    if (k == k0) buf[0] = 0;
}

/* ---------------- kind bandwidth ---------------- */

typedef struct {
    int nd;            /* distinct bandwidths of the points, ascending */
    double *d;
    char (*dname)[32];
    long *treated;     /* treated pairs at each */
    int ns;            /* series: values of the series axis among the points, in axis order (1 without) */
    int *svalue;       /* svalue[k]: the value index (-1: no series axis) */
} bw_layout;

static void bw_layout_free(bw_layout *b)
{
    free(b->d);
    free(b->dname);
    free(b->treated);
    free(b->svalue);
}

/* Local (rank 0). The distinct bandwidths and the series of the points. */
static void bw_layout_make(const gr_grid *g, const plot_conf *c, const results *r, const double *bw,
                           char (*names)[32], bw_layout *b)
{
    memset(b, 0, sizeof *b);
    b->d = gr_malloc((size_t)r->npt, sizeof *b->d);
    b->dname = gr_malloc((size_t)r->npt, sizeof *b->dname);
    b->treated = gr_calloc((size_t)r->npt, sizeof *b->treated);
    for (int q = 0; q < r->npt; q++) {
        int i = r->pt[q].spec, j = 0;
        while (j < b->nd && b->d[j] != bw[i]) j++;
        if (j < b->nd) continue;
        while (j > 0 && b->d[j - 1] > bw[i]) { b->d[j] = b->d[j - 1]; memcpy(b->dname[j], b->dname[j - 1], 32); j--; }
        b->d[j] = bw[i];
        memcpy(b->dname[j], names[i], 32);
        b->nd++;
    }
    int sa = c->series_axis, nv = sa >= 0 ? g->axes[sa].nvalues : 1;
    b->svalue = gr_malloc((size_t)nv, sizeof *b->svalue);
    if (sa < 0) { b->ns = 1; b->svalue[0] = -1; return; }
    for (int v = 0; v < nv; v++) {
        int used = 0;
        for (int q = 0; q < r->npt && !used; q++) used = g->specs[r->pt[q].spec].pick[sa] == v;
        if (used) b->svalue[b->ns++] = v;
    }
}

static int series_of(const gr_grid *g, const plot_conf *c, const bw_layout *b, int spec)
{
    for (int k = 0; c->series_axis >= 0 && k < b->ns; k++)
        if (b->svalue[k] == g->specs[spec].pick[c->series_axis]) return k;
    return 0;
}

/* The legend: one entry per series (marker, a stretch of its line, the label), at (x, y) downward. */
static void bw_legend(gr_svg *s, const gr_grid *g, const plot_conf *c, const bw_layout *b, double x, double y)
{
    if (c->series_axis < 0) return;
    gr_svg_text(s, x, y, 12, "start", "#000000", "%s", g->axes[c->series_axis].name);
    char cb[64];
    for (int k = 0; k < b->ns; k++) {
        const style *st = &styles[k % NSTYLES];
        double Y = y + 20 + 20 * k;
        gr_svg_line(s, x, Y - 4, x + 34, Y - 4, st->colour, 1.4, 1, st->dash);
        marker(s, st->shape, st->filled, st->colour, x + 17, Y - 4, 4.5, 1.4);
        gr_svg_text(s, x + 42, Y, 11, "start", "#000000", "%s",
                    clip(g->axes[c->series_axis].value_label[b->svalue[k]], 24, cb, sizeof cb));
    }
}

/* The treated-pair panel: one bar per bandwidth, its count above it, in [top, top + h]. */
static void bw_bars(gr_svg *s, const bw_layout *b, const scale *x, double top, double h, double x0, double x1)
{
    long most = 1;
    for (int j = 0; j < b->nd; j++) if (b->treated[j] > most) most = b->treated[j];
    scale y = {0, (double)most * 1.25, top + h, top};
    gr_svg_rect(s, x0, top, x1 - x0, h, "none", "#000000", 1);
    for (int j = 0; j < b->nd; j++) {
        char tip[128];
        snprintf(tip, sizeof tip, "treated: bandwidth=%s; count=%ld", b->dname[j], b->treated[j]);
        double X = at(x, b->d[j]), Y = at(&y, (double)b->treated[j]);
        gr_svg_group_begin(s, tip);
        gr_svg_rect(s, X - 9, Y, 18, top + h - Y, "#b0b0b0", "#000000", 0.8);
        gr_svg_text(s, X, Y - 4, 10, "middle", "#000000", "%ld", b->treated[j]);
        gr_svg_group_end(s);
    }
    gr_svg_text(s, x0 - 7, top + 12, 10, "end", "#000000", "treated");
    gr_svg_text(s, x0 - 7, top + 24, 10, "end", "#000000", "pairs*");
}

/* One point: its interval (with caps) and marker, in a group whose title carries the numbers. */
static void bw_point(gr_svg *s, const gr_grid *g, const point *p, const style *st, double X, const scale *y, double bw,
                     const char *series)
{
    char tip[512];
    snprintf(tip, sizeof tip, "point: spec=%s; bandwidth=%g; series=%s; estimate=%.17g; conf_low=%.17g; conf_high=%.17g",
             g->specs[p->spec].id, bw, series, p->est, p->lo, p->hi);
    gr_svg_group_begin(s, tip);
    gr_svg_line(s, X, at(y, p->lo), X, at(y, p->hi), st->colour, 1.4, 1, NULL);
    gr_svg_line(s, X - 4, at(y, p->lo), X + 4, at(y, p->lo), st->colour, 1.4, 1, NULL);
    gr_svg_line(s, X - 4, at(y, p->hi), X + 4, at(y, p->hi), st->colour, 1.4, 1, NULL);
    marker(s, st->shape, st->filled, st->colour, X, at(y, p->est), 4.5, 1.4);
    gr_svg_group_end(s);
}

/* Local (rank 0). Draw the coefficient by bandwidth and the treated pairs into o->out. */
static int draw_bandwidth(const plot_cli *o, const gr_grid *g, const plot_conf *c, const results *r, const double *bw,
                          int bw_axis, const bw_layout *b)
{
    const double L = 84, PW = 560, T = 84, PH = 320, gap = 46, BH = 80;
    double RW = c->series_axis >= 0 ? 210 : 30, W = L + PW + RW, H = T + PH + gap + BH + 76;
    double lo = INFINITY, hi = -INFINITY;
    for (int q = 0; q < r->npt; q++) lo = fmin(lo, r->pt[q].lo), hi = fmax(hi, r->pt[q].hi);
    value_range(&lo, &hi);
    double span = b->d[b->nd - 1] - b->d[0], pad = b->nd > 1 ? span * 0.08 : 10;
    scale x = {b->d[0] - pad, b->d[b->nd - 1] + pad, L, L + PW}, y = {lo, hi, T + PH, T};
    double mingap = PW;  /* the series of one bandwidth are drawn side by side */
    for (int j = 1; j < b->nd; j++) mingap = fmin(mingap, at(&x, b->d[j]) - at(&x, b->d[j - 1]));
    double dodge = b->ns > 1 ? fmin(12, 0.7 * mingap / b->ns) : 0;
    char title[600], sub[900], filt[600], cb[200];
    snprintf(title, sizeof title, "%s: coefficient on %s by bandwidth", g->title ? g->title : g->path, r->term);
    gr_svg s;
    GR_CALL(gr_svg_open(&s, o->out, W, H, title));
    gr_svg_text(&s, W / 2, 28, 15, "middle", "#000000", "%s", clip(title, 110, cb, sizeof cb));
    filter_text(g, c, filt, sizeof filt);
    snprintf(sub, sizeof sub, "estimates with 95%% intervals%s%s", filt[0] ? "; " : "", filt);
    gr_svg_text(&s, W / 2, 48, 12, "middle", "#000000", "%s", clip(sub, 130, cb, sizeof cb));
    gr_svg_rect(&s, L, T, PW, PH, "none", "#000000", 1);
    value_ticks(&s, &y, L, L + PW);
    gr_svg_text(&s, L, T - 10, 12, "start", "#000000", "coefficient on %s", r->term);
    for (int j = 0; j < b->nd; j++) {  /* bandwidth ticks at the bandwidths */
        double X = at(&x, b->d[j]);
        gr_svg_line(&s, X, T + PH, X, T + PH + 4, "#000000", 1, 1, NULL);
        gr_svg_text(&s, X, T + PH + 17, 11, "middle", "#000000", "%s", b->dname[j]);
    }
    for (int k = 0; k < b->ns; k++) {
        const style *st = &styles[k % NSTYLES];
        double *px = gr_malloc((size_t)b->nd, sizeof *px), *py = gr_malloc((size_t)b->nd, sizeof *py);
        int n = 0;
        for (int j = 0; j < b->nd; j++)
            for (int q = 0; q < r->npt; q++) {
                const point *p = &r->pt[q];
                if (bw[p->spec] != b->d[j] || series_of(g, c, b, p->spec) != k) continue;
                px[n] = at(&x, b->d[j]) + (k - (b->ns - 1) / 2.0) * dodge;
                py[n] = at(&y, p->est);
                n++;
            }
        for (int m = 1; m < n; m++)  /* the connecting line in the series' dash, thin, under the points */
            gr_svg_line(&s, px[m - 1], py[m - 1], px[m], py[m], st->colour, 1, 1, st->dash);
        free(px);
        free(py);
        for (int q = 0; q < r->npt; q++) {
            const point *p = &r->pt[q];
            if (series_of(g, c, b, p->spec) != k) continue;
            double X = at(&x, bw[p->spec]) + (k - (b->ns - 1) / 2.0) * dodge;
            bw_point(&s, g, p, st, X, &y, bw[p->spec],
                     c->series_axis >= 0 ? g->axes[c->series_axis].value_label[b->svalue[k]] : "all");
        }
    }
    bw_legend(&s, g, c, b, L + PW + 22, T + 10);
    bw_bars(&s, b, &x, T + PH + gap, BH, L, L + PW);
    double yb = T + PH + gap + BH;
    gr_svg_text(&s, L + PW / 2, yb + 20, 12, "middle", "#000000", "segment-pair bandwidth (km)%s%s%s",
                bw_axis >= 0 ? ", axis '" : "", bw_axis >= 0 ? g->axes[bw_axis].name : "", bw_axis >= 0 ? "'" : "");
    gr_svg_text(&s, L, yb + 42, 10, "start", "#000000", "* treated pairs: partner pairs whose segment pair also holds "
                "a control pair (they identify the coefficient); whole panel, before any where clause");
    char note[400];
    left_out_note(r, note, sizeof note);
    if (note[0]) gr_svg_text(&s, L, yb + 58, 10, "start", "#000000", "%s", note);
    return gr_svg_close(&s, 1);
}

/* ---------------- kind curve ---------------- */

static int by_estimate(const void *a, const void *b)
{
    const point *p = a, *q = b;
    if (p->est != q->est) return p->est < q->est ? -1 : 1;
    if (p->spec != q->spec) return p->spec < q->spec ? -1 : 1;
    return strcmp(p->sample, q->sample);
}

/* Local (rank 0). The point of the main specification after sorting (-1: none): --highlight ID, else
 * the config's plot: main. An id that is not in the grid, or has no point, is an error; a plot: main
 * whose specification has no point is a warning (the curve is drawn without it). */
static int main_point(const plot_cli *o, const gr_grid *g, const plot_conf *c, const results *r, int *mp)
{
    *mp = -1;
    int spec = -1;
    if (o->highlight) {
        spec = gr_grid_find(g, o->highlight);
        if (spec < 0) return gr_fail(GR_EUSAGE, "--highlight", "no specification of %s has the id '%s'", g->path, o->highlight);
    } else if (c->main_line) {
        int n = 0, open = -1;
        for (int i = 0; i < g->nspecs; i++) {
            int match = 1;
            for (int a = 0; a < g->naxes; a++) match &= c->main_pick[a] < 0 || g->specs[i].pick[a] == c->main_pick[a];
            if (match && n++ == 0) spec = i;
        }
        for (int a = 0; a < g->naxes && open < 0; a++) if (c->main_pick[a] < 0 && g->axes[a].nvalues > 1) open = a;
        if (n != 1)
            return gr_cfg_fail(g->path, c->main_line, "plot: main: %d specifications take these values%s%s%s", n,
                         open >= 0 && n > 1 ? "; name a value of axis '" : "", open >= 0 && n > 1 ? g->axes[open].name : "",
                         open >= 0 && n > 1 ? "' too" : "");
    } else {
        return GR_OK;
    }
    for (int q = 0; q < r->npt && *mp < 0; q++) if (r->pt[q].spec == spec) *mp = q;
    if (*mp >= 0) return GR_OK;
    if (o->highlight)
        return gr_fail(GR_EINPUT, "--highlight", "specification %s (%s) has no estimate of %s in %s (failed, not run, or "
                       "not finite)", g->specs[spec].id, g->specs[spec].label, r->term, r->path);
    gr_warn("%s:%d: plot: main: specification %s (%s) has no estimate of %s in %s: the curve is drawn without it\n",
            g->path, c->main_line, g->specs[spec].id, g->specs[spec].label, r->term, r->path);
    return GR_OK;
}

/* The rows of the choice panel: for each axis with more than one value, its name, then one row per value;
 * a "sample" group when some specification has several samples. */
typedef struct {
    int nrows;
    int axis[GR_GRID_MAX_AXES + 1];   /* the groups: axis index, or -1 for the samples */
    int ngroups;
    const char **sample;              /* distinct sample names, in order of first appearance */
    int nsample;
} choice_rows;

static void choice_rows_make(const gr_grid *g, const results *r, choice_rows *cr)
{
    memset(cr, 0, sizeof *cr);
    for (int a = 0; a < g->naxes; a++)
        if (g->axes[a].nvalues > 1) { cr->axis[cr->ngroups++] = a; cr->nrows += 1 + g->axes[a].nvalues; }
    int multi = 0;
    for (int q = 0; q < r->npt; q++) multi |= r->pt[q].nsamples > 1;
    if (!multi) return;
    cr->sample = gr_malloc((size_t)r->npt, sizeof *cr->sample);
    for (int q = 0; q < r->npt; q++) {
        int k = 0;
        while (k < cr->nsample && strcmp(cr->sample[k], r->pt[q].sample)) k++;
        if (k == cr->nsample) cr->sample[cr->nsample++] = r->pt[q].sample;
    }
    cr->axis[cr->ngroups++] = -1;
    cr->nrows += 1 + cr->nsample;
}

/* The row (0-based, headers counted) of point p's choice in group k. */
static int choice_row(const gr_grid *g, const choice_rows *cr, int k, const point *p)
{
    int row = 0;
    for (int j = 0; j < k; j++) row += 1 + (cr->axis[j] >= 0 ? g->axes[cr->axis[j]].nvalues : cr->nsample);
    if (cr->axis[k] >= 0) return row + 1 + g->specs[p->spec].pick[cr->axis[k]];
    int s = 0;
    while (s < cr->nsample && strcmp(cr->sample[s], p->sample)) s++;
    return row + 1 + s;
}

/* The labels of the choice panel, right-aligned at x; lines between the groups up to x1. */
static void choice_labels(gr_svg *s, const gr_grid *g, const choice_rows *cr, double x, double x1, double top, double rh)
{
    char cb[64];
    int row = 0;
    for (int k = 0; k < cr->ngroups; k++) {
        int a = cr->axis[k], nv = a >= 0 ? g->axes[a].nvalues : cr->nsample;
        gr_svg_text(s, x, top + rh * (row + 0.8), 11, "end", "#000000", "%s:", a >= 0 ? g->axes[a].name : "sample");
        for (int v = 0; v < nv; v++) {
            double Y = top + rh * (row + 1 + v + 0.8);
            gr_svg_text(s, x, Y, 10, "end", "#333333", "%s", clip(a >= 0 ? g->axes[a].value_label[v] : cr->sample[v], 40, cb, sizeof cb));
        }
        row += 1 + nv;
        if (k + 1 < cr->ngroups) gr_svg_line(s, x + 4, top + rh * row, x1, top + rh * row, "#d0d0d0", 0.6, 1, NULL);
    }
}

/* The widest label of the choice panel, in characters. */
static size_t choice_label_chars(const gr_grid *g, const choice_rows *cr)
{
    size_t m = 8;
    for (int k = 0; k < cr->ngroups; k++) {
        int a = cr->axis[k], nv = a >= 0 ? g->axes[a].nvalues : cr->nsample;
        for (int v = 0; v < nv; v++) {
            size_t l = strlen(a >= 0 ? g->axes[a].value_label[v] : cr->sample[v]);
            m = l > m ? l : m;
        }
    }
    return m > 40 ? 40 : m;
}

/* The curve's legend at (x, y). */
static void curve_legend(gr_svg *s, double x, double y, const char *main_label)
{
    char cb[96];
    gr_svg_circle(s, x, y - 4, 3.5, "#000000", "#000000", 1, NULL);
    gr_svg_text(s, x + 9, y, 11, "start", "#000000", "significant at 5%% (black)");
    gr_svg_circle(s, x + 190, y - 4, 3.5, "#ffffff", "#000000", 1, NULL);
    gr_svg_text(s, x + 199, y, 11, "start", "#000000", "not significant (hollow, grey)");
    if (!main_label) return;
    gr_svg_line(s, x + 400, y - 11, x + 400, y + 3, "#000000", 1.2, 1, "3 2");
    marker(s, SHAPE_DIAMOND, 0, "#000000", x + 400, y - 4, 5, 1.6);
    gr_svg_text(s, x + 410, y, 11, "start", "#000000", "main: %s", clip(main_label, 70, cb, sizeof cb));
}

/* One specification's column of the top panel: interval and marker, in a group titled with its numbers. */
static void curve_point(gr_svg *s, const gr_grid *g, const point *p, int rank, double X, const scale *y, double colw)
{
    int sig = p->p < 0.05;
    double lw = fmin(1.5, fmax(0.35, colw * 0.5)), rad = fmin(3.5, fmax(1.1, colw * 0.35));
    char tip[600];
    snprintf(tip, sizeof tip, "curve: rank=%d; spec=%s; sample=%s; estimate=%.17g; conf_low=%.17g; conf_high=%.17g; "
             "p_value=%.17g; significant=%d", rank, g->specs[p->spec].id, p->sample, p->est, p->lo, p->hi, p->p, sig);
    gr_svg_group_begin(s, tip);
    gr_svg_line(s, X, at(y, p->lo), X, at(y, p->hi), sig ? "#000000" : "#a0a0a0", lw, 1, NULL);
    gr_svg_circle(s, X, at(y, p->est), rad, sig ? "#000000" : "#ffffff", "#000000", fmin(1, fmax(0.3, rad * 0.3)), NULL);
    gr_svg_group_end(s);
}

/* Local (rank 0). Draw the specification curve (r->pt sorted by estimate) into o->out; mp: the main point. */
static int draw_curve(const plot_cli *o, const gr_grid *g, const results *r, int mp)
{
    choice_rows cr;
    choice_rows_make(g, r, &cr);
    int n = r->npt;
    double PW = fmin(1400, fmax(480, n * 10.0)), colw = PW / n;
    double L = fmin(320, fmax(120, (double)choice_label_chars(g, &cr) * 6.2 + 30)), T = 100, PH = 280, gap = 48, RH = 13;
    double BH = RH * cr.nrows, W = L + PW + 30, H = T + PH + gap + BH + 50, Bt = T + PH + gap;
    double lo = INFINITY, hi = -INFINITY;
    for (int q = 0; q < n; q++) lo = fmin(lo, r->pt[q].lo), hi = fmax(hi, r->pt[q].hi);
    value_range(&lo, &hi);
    scale y = {lo, hi, T + PH, T};
    char title[600], cb[200];
    snprintf(title, sizeof title, "%s: specification curve of the coefficient on %s", g->title ? g->title : g->path, r->term);
    gr_svg s;
    int rc = gr_svg_open(&s, o->out, W, H, title);
    if (rc) { free(cr.sample); return rc; }
    gr_svg_text(&s, W / 2, 28, 15, "middle", "#000000", "%s", clip(title, 120, cb, sizeof cb));
    gr_svg_text(&s, W / 2, 48, 12, "middle", "#000000", "%d estimates of %d specifications, ranked; 95%% intervals", n,
                r->nrec);
    curve_legend(&s, L, 74, mp >= 0 ? g->specs[r->pt[mp].spec].label : NULL);
    gr_svg_rect(&s, L, T, PW, PH, "none", "#000000", 1);
    value_ticks(&s, &y, L, L + PW);
    gr_svg_text(&s, L, T - 8, 12, "start", "#000000", "coefficient on %s", clip(r->term, 60, cb, sizeof cb));
    double step = n > 10 ? gr_svg_nice_step(n, 8) : 1;  /* rank ticks: 1, then multiples of the step */
    for (double k = 1; k <= n; k = k == 1 && step > 1 ? step : k + step) {
        double X = L + (k - 0.5) * colw;
        gr_svg_line(&s, X, T + PH, X, T + PH + 4, "#000000", 1, 1, NULL);
        gr_svg_text(&s, X, T + PH + 16, 10, "middle", "#000000", "%g", k);
    }
    gr_svg_text(&s, L + PW / 2, T + PH + 34, 12, "middle", "#000000", "specifications ranked by estimate");
    if (mp >= 0) {  /* the main specification: a dashed line through both panels, under the marks */
        double X = L + (mp + 0.5) * colw;
        gr_svg_line(&s, X, T - 4, X, Bt + BH, "#000000", 1, 1, "4 3");
    }
    double mw = fmax(0.4, colw * 0.8);
    for (int q = 0; q < n; q++) {
        const point *p = &r->pt[q];
        double X = L + (q + 0.5) * colw;
        curve_point(&s, g, p, q + 1, X, &y, colw);
        for (int k = 0; k < cr.ngroups; k++)
            gr_svg_rect(&s, X - mw / 2, Bt + RH * (choice_row(g, &cr, k, p) + 0.15), mw, RH * 0.7,
                        p->p < 0.05 ? "#000000" : "#a0a0a0", NULL, 0);
    }
    if (mp >= 0) {
        double X = L + (mp + 0.5) * colw;
        char tip[200];
        snprintf(tip, sizeof tip, "main: spec=%s; rank=%d", g->specs[r->pt[mp].spec].id, mp + 1);
        gr_svg_group_begin(&s, tip);
        marker(&s, SHAPE_DIAMOND, 0, "#000000", X, at(&y, r->pt[mp].est), 6, 1.6);
        gr_svg_group_end(&s);
    }
    gr_svg_rect(&s, L, Bt, PW, BH, "none", "#000000", 1);
    choice_labels(&s, g, &cr, L - 6, L + PW, Bt, RH);
    char note[400];
    left_out_note(r, note, sizeof note);
    if (note[0]) gr_svg_text(&s, L, Bt + BH + 24, 10, "start", "#000000", "%s", note);
    free(cr.sample);
    return gr_svg_close(&s, 1);
}

/* ---------------- the command ---------------- */

/* What rank 0 works out before the picture. */
typedef struct {
    plot_conf c;
    results r;
    unsigned char *sel;      /* the specifications plotted (kind bandwidth: plot: filter) */
    double *bw;              /* kind bandwidth: each selected specification's bandwidth */
    char (*bwname)[32];
    int bw_axis;
    bw_layout b;
    int mp;                  /* kind curve: the main point, -1: none */
    char data[4096];         /* kind bandwidth: the panel */
} plot_state;

static void state_free(plot_state *st, int nspecs)
{
    conf_free(&st->c);
    results_free(&st->r, nspecs);
    free(st->sel);
    free(st->bw);
    free(st->bwname);
    bw_layout_free(&st->b);
}

/* The panel of the treated-pair counts: --data (already g->data), else manifest.json's "data" when the
 * manifest exists, else the config's data:. */
static int panel_path(const plot_cli *o, const gr_grid *g, plot_state *st)
{
    snprintf(st->data, sizeof st->data, "%s", g->data);
    struct stat sb;
    if (o->data || stat(st->r.manifest, &sb) != 0) return GR_OK;
    char *buf;
    size_t len;
    GR_CALL(gr_read_text(st->r.manifest, 0, &buf, &len));
    cJSON *m = cJSON_ParseWithLength(buf, len);
    free(buf);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "data");
    int rc = GR_OK;
    if (!cJSON_IsString(d)) rc = gr_fail(GR_EFORMAT, st->r.manifest, "not a grid manifest: no \"data\" text (docs/results.md)");
    else snprintf(st->data, sizeof st->data, "%s", d->valuestring);
    cJSON_Delete(m);
    return rc;
}

/* Local (rank 0). Everything but the panel: the plot: section, the records, the points, and for kind
 * bandwidth the bandwidths and the checks; for kind curve the sorted points and the main one. */
static int prepare(const plot_cli *o, const gr_grid *g, plot_state *st)
{
    st->mp = -1;
    GR_CALL(conf_read(g, &st->c));
    GR_CALL(results_read(g, &st->r));
    char term_where[4200] = "--term";
    if (!o->term && st->c.term) snprintf(term_where, sizeof term_where, "%s:%d: plot: term", g->path, st->c.term_line);
    const char *term = o->term ? o->term : st->c.term;
    st->sel = gr_malloc((size_t)g->nspecs, 1);
    if (o->kind == KIND_CURVE) {
        GR_CALL(results_points(g, &st->r, term, NULL, term_where));
        qsort(st->r.pt, (size_t)st->r.npt, sizeof *st->r.pt, by_estimate);
        return main_point(o, g, &st->c, &st->r, &st->mp);
    }
    filter_specs(g, &st->c, st->sel);
    st->bw = gr_malloc((size_t)g->nspecs, sizeof *st->bw);
    st->bwname = gr_malloc((size_t)g->nspecs, sizeof *st->bwname);
    GR_CALL(bandwidths(g, &st->c, st->sel, st->bw, st->bwname, &st->bw_axis));
    GR_CALL(results_points(g, &st->r, term, st->sel, term_where));
    GR_CALL(check_points(g, &st->c, &st->r, st->bw));
    bw_layout_make(g, &st->c, &st->r, st->bw, st->bwname, &st->b);
    return panel_path(o, g, st);
}

/* Collective. Open the panel (its path broadcast from rank 0) and count the treated pairs at each
 * bandwidth on rank 0. */
static int count_treated(MPI_Comm comm, int rank, plot_state *st)
{
    MPI_Bcast(st->data, (int)sizeof st->data, MPI_CHAR, 0, comm);
    gr_panel p;
    GR_CALL(gr_panel_open(comm, st->data, &p));
    int rc = GR_OK;
    for (int j = 0; rank == 0 && j < st->b.nd && !rc; j++) rc = treated_pairs(&p, st->b.dname[j], &st->b.treated[j]);
    rc = gr_agree(comm, rc);
    gr_panel_close(&p);
    return rc;
}

int cmd_plot(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    gr_opts s;
    plot_cli o;
    int rc = gr_opts_parse(&s, &plot_cmd_def, &o, argc, argv, rank);
    if (rc == GR_OPTS_EXIT) { gr_opts_free(&s); return 0; }
    if (!rc && o.highlight && o.kind != KIND_CURVE) rc = gr_fail(GR_EUSAGE, "--highlight", "only with --kind curve");
    if (!rc && o.data && o.kind != KIND_BANDWIDTH)  /* the curve reads no panel: a path here would go unread */
        rc = gr_fail(GR_EUSAGE, "--data", "only with --kind bandwidth (the panel of the treated-pair counts)");
    if (rc) { gr_opts_free(&s); return gr_report(gr_agree(comm, rc)); }
    if (s.echo && rank == 0) gr_opts_echo(&s, stderr);
    gr_grid g;
    plot_state st;
    memset(&st, 0, sizeof st);
    rc = gr_grid_load(comm, o.config, o.data, &g);
    results_paths(o.results, &st.r);
    if (rank == 0) {  /* the inputs no output may overwrite */
        gr_input_add(o.config);
        gr_input_add(st.r.path);
    }
    if (!rc && rank == 0) rc = prepare(&o, &g, &st);
    rc = gr_agree(comm, rc);
    if (!rc && o.kind == KIND_BANDWIDTH) rc = count_treated(comm, rank, &st);
    if (!rc && rank == 0) {
        if (o.kind == KIND_BANDWIDTH) gr_input_add(st.data);
        rc = o.kind == KIND_BANDWIDTH ? draw_bandwidth(&o, &g, &st.c, &st.r, st.bw, st.bw_axis, &st.b)
                                      : draw_curve(&o, &g, &st.r, st.mp);
        if (o.kind == KIND_BANDWIDTH) gr_input_remove(st.data);
    }
    if (rank == 0 && !rc && st.r.ignored_last)
        gr_warn("%s:%d: the last line is not a whole record (a run stopped while writing it?); ignored", st.r.path,
                st.r.ignored_last);
    rc = gr_agree(comm, rc);
    if (rank == 0) {
        gr_input_remove(st.r.path);
        gr_input_remove(o.config);
    }
    state_free(&st, g.nspecs);
    gr_grid_free(&g);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, rc));
}
