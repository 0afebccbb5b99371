/* table_cmd.c: `gravrd table RESULTS --config CONFIG [--format md|tex|csv] [--out FILE]`: the study's
 * regression tables from a grid's results (docs/results.md), laid out as the config's `table:` section says
 * (docs/table.md): columns and stacked panels made of axis values, one column per estimated sample,
 * coefficients with stars and standard errors, fixed-effect Yes/No rows, fit statistics, notes on
 * specifications that failed or are not in the results yet. Rank 0 does the work after the collective load
 * of the config (grid.h); the status is agreed. */
#include "cleanup.h"
#include "commands.h"
#include "grid.h"
#include "mediation.h"
#include "opts.h"
#include "results_file.h"
#include "summary.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg.h"

/* ---------------- command line ---------------- */

enum { FMT_MD = 0, FMT_TEX, FMT_CSV };

typedef struct {
    const char *results, *config, *out;
    int format;
} table_cli;

static const gr_opt_word formats[] = {{"md", FMT_MD}, {"tex", FMT_TEX}, {"csv", FMT_CSV}, {NULL, 0}};

static const gr_opt table_opts[] = {
    {.name = "results", .kind = GR_OPT_ARG, GR_OPT_AT(table_cli, results), .metavar = "RESULTS",
     .help = "the grid's output directory, or its results.jsonl", .flags = GR_OPT_REQUIRED},
    {.name = "config", .kind = GR_OPT_STRING, GR_OPT_AT(table_cli, config), .metavar = "CONFIG.yaml",
     .help = "the grid's config; its table: section lays the table out (docs/table.md)", .flags = GR_OPT_REQUIRED},
    {.name = "format", .kind = GR_OPT_CHOICE, GR_OPT_AT(table_cli, format), .metavar = "F", .words = formats,
     .def = "md", .help = "md (GitHub markdown), tex (LaTeX, booktabs) or csv"},
    {.name = "out", .kind = GR_OPT_STRING, GR_OPT_AT(table_cli, out), .metavar = "FILE", .def = "-",
     .help = "output file (written whole or not at all); - is standard output"},
    {0}};

static const gr_opts_cmd table_cmd_def = {
    "table",
    "Regression tables from a grid's results: coefficients with significance stars (* p<0.1, ** p<0.05,\n"
    "*** p<0.01), standard errors in parentheses, fixed-effect Yes/No rows, adjusted R2, observations;\n"
    "columns and panels made of the config's axes as its table: section says.",
    table_opts, "Layout keys and defaults: docs/table.md. Results format: docs/results.md.", 0};

/* ---------------- the layout (the table: section) ---------------- */

typedef struct {           /* a set of values of every axis: allow[a][v] */
    unsigned char *allow[GR_GRID_MAX_AXES];
} valset;

typedef struct {
    char *label;           /* NULL: no panel title (a single panel) */
    int line;              /* config line that defined it (0: default) */
    int lettered;          /* one of an axis product: titled "Panel A: label" by its place among the kept ones */
    valset vs;
} panel_def;

typedef struct {           /* a mapping of names to display labels */
    int n;
    char **key, **val;
    int *line;
} labelmap;

enum { ST_ADJ_R2 = 0, ST_R2, ST_WITHIN_R2, ST_NOBS, ST_NCLUSTERS, NSTATS };
static const char *const stat_names[NSTATS] = {"adj_r2", "r2", "within_r2", "nobs", "n_clusters"};
static const char *const stat_labels[NSTATS] = {"Adjusted R2", "R2", "Within R2", "Observations", "Clusters"};

typedef struct {
    const char *cfg;       /* the config's path (for messages) */
    int line;              /* line of `table:` (1 when absent) */
    char *title;           /* NULL: the grid's title */
    int ncols, col[GR_GRID_MAX_AXES];
    int npanels;
    panel_def *panels;
    valset select;
    int nterms, terms_given;
    char **terms;
    int *term_line;
    labelmap term_labels, fe_labels;
    int nstats, stat[NSTATS];
    int digits;
} layout;

static const char *ystr(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static void valset_init(valset *s, const gr_grid *g, int all)
{
    for (int a = 0; a < g->naxes; a++) {
        s->allow[a] = gr_malloc((size_t)g->axes[a].nvalues, 1);
        memset(s->allow[a], all, (size_t)g->axes[a].nvalues);
    }
}

static void valset_free(valset *s, const gr_grid *g)
{
    for (int a = 0; a < g->naxes; a++) { free(s->allow[a]); s->allow[a] = NULL; }
}

static int axis_index(const gr_grid *g, const char *name)
{
    for (int a = 0; a < g->naxes; a++) if (!strcmp(g->axes[a].name, name)) return a;
    return -1;
}

/* "y, direction" */
static void axis_list(const gr_grid *g, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int a = 0; a < g->naxes && n < len; a++) n += (size_t)snprintf(buf + n, len - n, "%s%s", a ? ", " : "", g->axes[a].name);
    if (!g->naxes) snprintf(buf, len, "none");
}

/* The axis a YAML scalar names, or an error at its line. */
static int yaxis(const layout *L, const gr_grid *g, const yaml_node_t *n, const char *in, int *a)
{
    char list[512];
    if (n->type != YAML_SCALAR_NODE) return gr_cfg_fail(L->cfg, gr_yline(n), "table: %s: expected an axis name, got %s", in, gr_ykind(n));
    *a = axis_index(g, ystr(n));
    axis_list(g, list, sizeof list);
    if (*a < 0) return gr_cfg_fail(L->cfg, gr_yline(n), "table: %s: no axis '%s' in the config (axes: %s)", in, ystr(n), list);
    return GR_OK;
}

/* The value of axis a labelled as scalar n says, or an error. */
static int yvalue(const layout *L, const gr_grid *g, int a, const yaml_node_t *n, const char *in, int *v)
{
    if (n->type != YAML_SCALAR_NODE) return gr_cfg_fail(L->cfg, gr_yline(n), "table: %s: expected a value label, got %s", in, gr_ykind(n));
    const gr_grid_axis *ax = &g->axes[a];
    for (*v = 0; *v < ax->nvalues; (*v)++) if (!strcmp(ax->value_label[*v], ystr(n))) return GR_OK;
    char list[512] = "";
    size_t k = 0;
    for (int i = 0; i < ax->nvalues && k < sizeof list; i++) k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", ax->value_label[i]);
    return gr_cfg_fail(L->cfg, gr_yline(n), "table: %s: axis '%s' has no value '%s' (values: %s)", in, ax->name, ystr(n), list);
}

/* A list of axis names (columns: or panels: as names) into idx[] (*n of them); no axis twice. */
static int parse_axis_list(const layout *L, const gr_grid *g, yaml_document_t *d, const yaml_node_t *n, const char *in,
                           int *idx, int *cnt)
{
    if (n->type != YAML_SEQUENCE_NODE) return gr_cfg_fail(L->cfg, gr_yline(n), "table: %s: expected a list of axis names, got %s", in, gr_ykind(n));
    *cnt = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(d, *it);
        int a;
        GR_CALL(yaxis(L, g, e, in, &a));
        for (int j = 0; j < *cnt; j++)
            if (idx[j] == a) return gr_cfg_fail(L->cfg, gr_yline(e), "table: %s: axis '%s' given twice", in, ystr(e));
        idx[(*cnt)++] = a;
    }
    return GR_OK;
}

/* `axis: label` or `axis: [labels]` restricting vs to those values (the mapping's other keys skipped when
 * `skip` names one). */
static int parse_values_map(const layout *L, const gr_grid *g, yaml_document_t *d, const yaml_node_t *m, const char *in,
                            const char *skip, valset *vs)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(d, p->key), *v = yaml_document_get_node(d, p->value);
        if (k->type == YAML_SCALAR_NODE && skip && !strcmp(ystr(k), skip)) continue;
        int a, x;
        GR_CALL(yaxis(L, g, k, in, &a));
        memset(vs->allow[a], 0, (size_t)g->axes[a].nvalues);
        if (v->type == YAML_SEQUENCE_NODE) {
            if (v->data.sequence.items.start == v->data.sequence.items.top)
                return gr_cfg_fail(L->cfg, gr_yline(v), "table: %s: axis '%s': an empty list keeps nothing", in, ystr(k));
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                GR_CALL(yvalue(L, g, a, yaml_document_get_node(d, *it), in, &x));
                vs->allow[a][x] = 1;
            }
        } else {
            GR_CALL(yvalue(L, g, a, v, in, &x));
            vs->allow[a][x] = 1;
        }
    }
    return GR_OK;
}

/* Keys of mapping m: scalars, none twice. */
static int check_map_keys(const layout *L, yaml_document_t *d, const yaml_node_t *m, const char *in)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k->type != YAML_SCALAR_NODE) return gr_cfg_fail(L->cfg, gr_yline(k), "table: %s: expected a key name, got %s", in, gr_ykind(k));
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *kq = yaml_document_get_node(d, q->key);
            if (kq->type == YAML_SCALAR_NODE && !strcmp(ystr(kq), ystr(k)))
                return gr_cfg_fail(L->cfg, gr_yline(k), "table: %s: key '%s' given twice (first at line %d)", in, ystr(k), gr_yline(kq));
        }
    }
    return GR_OK;
}

/* panels: as a list of mappings {label: ..., axis: value(s), ...}: one panel each. */
static int parse_panel_maps(layout *L, const gr_grid *g, yaml_document_t *d, const yaml_node_t *n)
{
    int cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    L->panels = gr_calloc((size_t)cnt, sizeof *L->panels);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *m = yaml_document_get_node(d, *it);
        if (m->type != YAML_MAPPING_NODE)
            return gr_cfg_fail(L->cfg, gr_yline(m), "table: panels: expected every item to be a mapping {label: ..., <axis>: <value>} "
                         "like the first, got %s", gr_ykind(m));
        GR_CALL(check_map_keys(L, d, m, "panels"));
        panel_def *p = &L->panels[L->npanels++];
        p->line = gr_yline(m);
        valset_init(&p->vs, g, 1);
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < m->data.mapping.pairs.top; q++) {
            const yaml_node_t *k = yaml_document_get_node(d, q->key), *v = yaml_document_get_node(d, q->value);
            if (strcmp(ystr(k), "label")) continue;
            if (v->type != YAML_SCALAR_NODE) return gr_cfg_fail(L->cfg, gr_yline(v), "table: panels: label: expected a text, got %s", gr_ykind(v));
            p->label = gr_strdup(ystr(v));
        }
        if (!p->label) return gr_cfg_fail(L->cfg, p->line, "table: panels: a panel given as a mapping needs a label:");
        GR_CALL(parse_values_map(L, g, d, m, "panels", "label", &p->vs));
    }
    return GR_OK;
}

/* One panel per combination of the values of axes pidx[0..np-1] (the first varying slowest). */
static void panels_from_axes(layout *L, const gr_grid *g, const int *pidx, int np)
{
    int total = 1;
    for (int j = 0; j < np; j++) total *= g->axes[pidx[j]].nvalues;
    L->panels = gr_calloc((size_t)total, sizeof *L->panels);
    for (int c = 0; c < total; c++) {
        panel_def *p = &L->panels[L->npanels++];
        valset_init(&p->vs, g, 1);
        char label[1024] = "";
        size_t n = 0;
        for (int j = np - 1, r = c; j >= 0; j--) {
            int a = pidx[j], v = r % g->axes[a].nvalues;
            r /= g->axes[a].nvalues;
            memset(p->vs.allow[a], 0, (size_t)g->axes[a].nvalues);
            p->vs.allow[a][v] = 1;
        }
        for (int j = 0; j < np && n < sizeof label; j++) {
            int a = pidx[j], v = 0;
            while (!p->vs.allow[a][v]) v++;
            n += (size_t)snprintf(label + n, sizeof label - n, "%s%s", j ? ", " : "", g->axes[a].value_label[v]);
        }
        p->label = np ? gr_strdup(label) : NULL;
        p->lettered = np > 0;
    }
}

static int parse_panels(layout *L, const gr_grid *g, yaml_document_t *d, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return gr_cfg_fail(L->cfg, gr_yline(n), "table: panels: expected a list of axis names or of mappings, got %s", gr_ykind(n));
    const yaml_node_t *first = n->data.sequence.items.start < n->data.sequence.items.top
                                   ? yaml_document_get_node(d, *n->data.sequence.items.start) : NULL;
    if (first && first->type == YAML_MAPPING_NODE) return parse_panel_maps(L, g, d, n);
    int pidx[GR_GRID_MAX_AXES], np;
    GR_CALL(parse_axis_list(L, g, d, n, "panels", pidx, &np));
    for (int j = 0; j < np; j++)
        for (int c = 0; c < L->ncols; c++)
            if (L->col[c] == pidx[j])
                return gr_cfg_fail(L->cfg, gr_yline(n), "table: axis '%s' is in both columns and panels", g->axes[pidx[j]].name);
    panels_from_axes(L, g, pidx, np);
    return GR_OK;
}

static int parse_labelmap(const layout *L, yaml_document_t *d, const yaml_node_t *n, const char *in, labelmap *m)
{
    if (n->type != YAML_MAPPING_NODE) return gr_cfg_fail(L->cfg, gr_yline(n), "table: %s: expected a mapping of names to labels, got %s", in, gr_ykind(n));
    GR_CALL(check_map_keys(L, d, n, in));
    int cnt = (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    m->key = gr_calloc((size_t)cnt + 1, sizeof *m->key);
    m->val = gr_calloc((size_t)cnt + 1, sizeof *m->val);
    m->line = gr_calloc((size_t)cnt + 1, sizeof *m->line);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(d, p->key), *v = yaml_document_get_node(d, p->value);
        if (v->type != YAML_SCALAR_NODE) return gr_cfg_fail(L->cfg, gr_yline(v), "table: %s: %s: expected a text, got %s", in, ystr(k), gr_ykind(v));
        m->key[m->n] = gr_strdup(ystr(k));
        m->val[m->n] = gr_strdup(ystr(v));
        m->line[m->n++] = gr_yline(k);
    }
    return GR_OK;
}

static int parse_terms(layout *L, yaml_document_t *d, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) return gr_cfg_fail(L->cfg, gr_yline(n), "table: terms: expected a list of terms, got %s", gr_ykind(n));
    int cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt == 0) return gr_cfg_fail(L->cfg, gr_yline(n), "table: terms: an empty list shows no coefficient (leave terms: out for every term)");
    L->terms = gr_calloc((size_t)cnt, sizeof *L->terms);
    L->term_line = gr_calloc((size_t)cnt, sizeof *L->term_line);
    L->terms_given = 1;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(d, *it);
        if (e->type != YAML_SCALAR_NODE) return gr_cfg_fail(L->cfg, gr_yline(e), "table: terms: expected a term, got %s", gr_ykind(e));
        for (int j = 0; j < L->nterms; j++)
            if (!strcmp(L->terms[j], ystr(e))) return gr_cfg_fail(L->cfg, gr_yline(e), "table: terms: '%s' given twice", ystr(e));
        L->term_line[L->nterms] = gr_yline(e);
        L->terms[L->nterms++] = gr_strdup(ystr(e));
    }
    return GR_OK;
}

static int parse_stats(layout *L, yaml_document_t *d, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) return gr_cfg_fail(L->cfg, gr_yline(n), "table: stats: expected a list, got %s", gr_ykind(n));
    L->nstats = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *e = yaml_document_get_node(d, *it);
        int s = 0;
        while (e->type == YAML_SCALAR_NODE && s < NSTATS && strcmp(ystr(e), stat_names[s])) s++;
        if (e->type != YAML_SCALAR_NODE || s == NSTATS)
            return gr_cfg_fail(L->cfg, gr_yline(e), "table: stats: expected one of adj_r2, r2, within_r2, nobs, n_clusters, got %s%s%s",
                         e->type == YAML_SCALAR_NODE ? "'" : "", e->type == YAML_SCALAR_NODE ? ystr(e) : gr_ykind(e),
                         e->type == YAML_SCALAR_NODE ? "'" : "");
        for (int j = 0; j < L->nstats; j++)
            if (L->stat[j] == s) return gr_cfg_fail(L->cfg, gr_yline(e), "table: stats: '%s' given twice", ystr(e));
        L->stat[L->nstats++] = s;
    }
    return GR_OK;
}

static int parse_digits(layout *L, const yaml_node_t *n)
{
    long v;
    if (n->type != YAML_SCALAR_NODE || gr_parse_long(ystr(n), 0, 8, &v))
        return gr_cfg_fail(L->cfg, gr_yline(n), "table: digits: expected a whole number from 0 to 8, got '%s'",
                     n->type == YAML_SCALAR_NODE ? ystr(n) : gr_ykind(n));
    L->digits = (int)v;
    return GR_OK;
}

enum { K_TITLE = 0, K_COLUMNS, K_PANELS, K_SELECT, K_TERMS, K_TERM_LABELS, K_FE_LABELS, K_STATS, K_DIGITS, NKEYS };
static const char *const table_keys[NKEYS] = {"title", "columns", "panels", "select", "terms", "term-labels",
                                              "fe-labels", "stats", "digits"};

/* The table: mapping's nodes by key (node[K_...], NULL when absent); an unknown key is an error. */
static int table_nodes(layout *L, yaml_document_t *d, const yaml_node_t *t, const yaml_node_t **node)
{
    GR_CALL(check_map_keys(L, d, t, "table"));
    for (yaml_node_pair_t *p = t->data.mapping.pairs.start; p < t->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(d, p->key);
        int i = 0;
        while (i < NKEYS && strcmp(ystr(k), table_keys[i])) i++;
        if (i == NKEYS)
            return gr_cfg_fail(L->cfg, gr_yline(k), "table: unknown key '%s' (expected title, columns, panels, select, terms, "
                         "term-labels, fe-labels, stats, digits)", ystr(k));
        node[i] = yaml_document_get_node(d, p->value);
    }
    return GR_OK;
}

/* The defaults: the last axis makes the columns, the others the panels; adjusted R2 and observations. */
static void layout_defaults(layout *L, const gr_grid *g)
{
    L->digits = 3;
    L->nstats = 2;
    L->stat[0] = ST_ADJ_R2;
    L->stat[1] = ST_NOBS;
    valset_init(&L->select, g, 1);
    L->ncols = g->naxes ? 1 : 0;
    if (g->naxes) L->col[0] = g->naxes - 1;
}

/* The layout from the table: mapping t (NULL: none, the defaults). */
static int parse_layout(layout *L, const gr_grid *g, yaml_document_t *d, const yaml_node_t *t)
{
    const yaml_node_t *node[NKEYS] = {NULL};
    layout_defaults(L, g);
    if (t) GR_CALL(table_nodes(L, d, t, node));
    if (node[K_TITLE]) {
        if (node[K_TITLE]->type != YAML_SCALAR_NODE)
            return gr_cfg_fail(L->cfg, gr_yline(node[K_TITLE]), "table: title: expected a text, got %s", gr_ykind(node[K_TITLE]));
        L->title = gr_strdup(ystr(node[K_TITLE]));
    }
    if (node[K_COLUMNS]) GR_CALL(parse_axis_list(L, g, d, node[K_COLUMNS], "columns", L->col, &L->ncols));
    if (node[K_PANELS]) GR_CALL(parse_panels(L, g, d, node[K_PANELS]));
    else if (!node[K_COLUMNS]) {
        int pidx[GR_GRID_MAX_AXES];
        for (int a = 0; a + 1 < g->naxes; a++) pidx[a] = a;
        panels_from_axes(L, g, pidx, g->naxes ? g->naxes - 1 : 0);
    } else panels_from_axes(L, g, NULL, 0);
    if (node[K_SELECT]) {
        if (node[K_SELECT]->type != YAML_MAPPING_NODE)
            return gr_cfg_fail(L->cfg, gr_yline(node[K_SELECT]), "table: select: expected a mapping of axes to values, got %s", gr_ykind(node[K_SELECT]));
        GR_CALL(check_map_keys(L, d, node[K_SELECT], "select"));
        GR_CALL(parse_values_map(L, g, d, node[K_SELECT], "select", NULL, &L->select));
    }
    if (node[K_TERMS]) GR_CALL(parse_terms(L, d, node[K_TERMS]));
    if (node[K_TERM_LABELS]) GR_CALL(parse_labelmap(L, d, node[K_TERM_LABELS], "term-labels", &L->term_labels));
    if (node[K_FE_LABELS]) GR_CALL(parse_labelmap(L, d, node[K_FE_LABELS], "fe-labels", &L->fe_labels));
    if (node[K_STATS]) GR_CALL(parse_stats(L, d, node[K_STATS]));
    if (node[K_DIGITS]) GR_CALL(parse_digits(L, node[K_DIGITS]));
    return GR_OK;
}

static void labelmap_free(labelmap *m)
{
    for (int i = 0; i < m->n; i++) { free(m->key[i]); free(m->val[i]); }
    free(m->key); free(m->val); free(m->line);
}

static void layout_free(layout *L, const gr_grid *g)
{
    free(L->title);
    for (int p = 0; p < L->npanels; p++) { free(L->panels[p].label); valset_free(&L->panels[p].vs, g); }
    free(L->panels);
    valset_free(&L->select, g);
    for (int i = 0; i < L->nterms; i++) free(L->terms[i]);
    free(L->terms); free(L->term_line);
    labelmap_free(&L->term_labels);
    labelmap_free(&L->fe_labels);
}

/* Rank 0: the config's top-level table: section, parsed into *L. */
static int load_layout(const gr_grid *g, layout *L)
{
    char *text;
    size_t len;
    L->cfg = g->path;
    L->line = 1;
    GR_CALL(gr_read_text(g->path, 0, &text, &len));
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) { free(text); return gr_fail(GR_ENOMEM, g->path, "cannot start the YAML parser"); }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&parser, &doc);
    yaml_parser_delete(&parser);
    if (!ok) { free(text); return gr_cfg_fail(g->path, 1, "YAML syntax error (the file changed since it was loaded?)"); }
    const yaml_node_t *root = yaml_document_get_root_node(&doc), *t = NULL;
    for (yaml_node_pair_t *p = root && root->type == YAML_MAPPING_NODE ? root->data.mapping.pairs.start : NULL;
         p && p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(ystr(k), "table")) {
            t = yaml_document_get_node(&doc, p->value);
            L->line = gr_yline(k);
        }
    }
    int rc = parse_layout(L, g, &doc, t);
    yaml_document_delete(&doc);
    free(text);
    return rc;
}

/* ---------------- the results ---------------- */

/* rec[i]: the last record of specification i (NULL: not in the results); results_file.h. */
typedef gr_results_file results;

/* The record's shape: spec_id, status ok with results [{coefficients: [...]}, ...], or failed. */
static int check_record(const cJSON *r, const char *where)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "spec_id"), *st = cJSON_GetObjectItemCaseSensitive(r, "status");
    if (!cJSON_IsObject(r) || !cJSON_IsString(id) || !cJSON_IsString(st))
        return gr_fail(GR_EFORMAT, where, "not a grid record (expected an object with spec_id and status, docs/results.md)");
    if (!strcmp(st->valuestring, "failed")) return GR_OK;
    if (strcmp(st->valuestring, "ok"))
        return gr_fail(GR_EFORMAT, where, "status: expected \"ok\" or \"failed\", got \"%s\"", st->valuestring);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r, "results"), *m;
    if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) == 0)
        return gr_fail(GR_EFORMAT, where, "a record with status ok needs a non-empty results list");
    cJSON_ArrayForEach(m, res)
        if (!cJSON_IsObject(m) || (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(m, "coefficients")) &&
                                   !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "variable"))))
            return gr_fail(GR_EFORMAT, where, "results: expected objects with a coefficients list (gravrd estimate --json) "
                           "or summary objects with a variable (gravrd summary --json)");
    return GR_OK;
}

/* RESULTS (a directory: its results.jsonl) into R: the last record of each specification; a warning for what
 * was not kept. */
static int load_results(const gr_grid *g, const char *arg, results *R)
{
    GR_CALL(gr_results_file_read(arg, g, check_record, R));
    if (R->ignored_last)
        gr_warn("%s:%d: the last line is not a whole record (a run stopped while writing it?); ignored", R->path,
                R->ignored_last);
    if (R->unknown)
        gr_warn("%s: %d record%s of specifications that %s does not have (another config, or a changed one?); ignored",
                R->path, R->unknown, R->unknown > 1 ? "s" : "", g->path);
    return GR_OK;
}

/* ---------------- the table's cells ---------------- */

typedef enum { ROW_NUMBERS, ROW_PANEL, ROW_HEAD, ROW_COEF, ROW_SE, ROW_FE, ROW_STAT } row_kind;

typedef struct {
    row_kind kind;
    char *label;
    char **cell;           /* ncols cells (owned; "" when empty) */
    int *stars;            /* ROW_COEF: 0-3 per cell */
    int rule;              /* tex: \midrule before this row */
} trow;

typedef struct {
    int spec;              /* specification index */
    int sample;            /* index in its record's results (-1: none: missing or failed) */
} tcol;

typedef struct {
    int ncols;             /* physical columns (the widest panel) */
    int nrows, cap;
    trow *rows;
    int nnotes;
    char **notes;
    int dash;              /* a "-" (not computable) was printed */
    int extrapolated;      /* an RD estimate extrapolated across an empty region was shown (no stars) */
} table;

static trow *add_row(table *T, row_kind kind, const char *label)
{
    if (T->nrows == T->cap) { T->cap = T->cap ? 2 * T->cap : 32; T->rows = gr_realloc(T->rows, (size_t)T->cap, sizeof *T->rows); }
    trow *r = &T->rows[T->nrows++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->label = gr_strdup(label);
    r->cell = gr_calloc((size_t)T->ncols + 1, sizeof *r->cell);
    r->stars = gr_calloc((size_t)T->ncols + 1, sizeof *r->stars);
    for (int c = 0; c < T->ncols; c++) r->cell[c] = gr_strdup("");
    return r;
}

static void set_cell(trow *r, int c, const char *text)
{
    free(r->cell[c]);
    r->cell[c] = gr_strdup(text);
}

static void add_note(table *T, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(table *T, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    T->notes = gr_realloc(T->notes, (size_t)T->nnotes + 1, sizeof *T->notes);
    T->notes[T->nnotes++] = gr_strdup(buf);
}

static void table_free(table *T)
{
    for (int r = 0; r < T->nrows; r++) {
        for (int c = 0; c < T->ncols; c++) free(T->rows[r].cell[c]);
        free(T->rows[r].cell); free(T->rows[r].stars); free(T->rows[r].label);
    }
    for (int i = 0; i < T->nnotes; i++) free(T->notes[i]);
    free(T->rows); free(T->notes);
}

/* A number with `dec` decimals (scientific when its magnitude is below 10^-dec or from 1e6 on); "-" when
 * not finite (a null in the record). */
static void fmt_num(char *buf, size_t len, double v, int dec)
{
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, len, "-");
    else if (v == 0 || (a >= pow(10, -dec) && a < 1e6)) snprintf(buf, len, "%.*f", dec, v);
    else snprintf(buf, len, "%.*e", dec > 1 ? dec - 1 : 1, v);
}

/* 1,148,400 */
static void fmt_count(char *buf, size_t len, double v)
{
    char raw[64];
    snprintf(raw, sizeof raw, "%.0f", v);
    int n = (int)strlen(raw), o = 0;  /* at most 64 characters */
    for (int i = 0; i < n && (size_t)o + 2 < len; i++) {
        buf[o++] = raw[i];
        if ((n - i - 1) % 3 == 0 && i < n - 1 && raw[i] != '-') buf[o++] = ',';
    }
    buf[o] = 0;
}

/* Field `key` of object o as a number; NaN when absent or null. */
static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int stars_of(double p) { return !isfinite(p) ? 0 : p < 0.01 ? 3 : p < 0.05 ? 2 : p < 0.1 ? 1 : 0; }

/* The result object of column c (NULL for a missing or failed specification). */
static const cJSON *col_result(const results *R, const tcol *c)
{
    if (c->sample < 0) return NULL;
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(R->rec[c->spec], "results"), c->sample);
}

/* The coefficient object of `term` in result m, or NULL. */
static const cJSON *find_coef(const cJSON *m, const char *term)
{
    const cJSON *e, *found = NULL;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(m, "coefficients"))
        if (!strcmp(jstr(e, "term"), term)) found = e;
    return found;
}

/* ---------------- building the table ---------------- */

/* 1 if specification s is in panel p and kept by select:. */
static int in_panel(const gr_grid *g, const layout *L, const panel_def *p, const gr_grid_spec *s)
{
    for (int a = 0; a < g->naxes; a++)
        if (!p->vs.allow[a][s->pick[a]] || !L->select.allow[a][s->pick[a]]) return 0;
    return 1;
}

static const layout *cmp_layout;
static const gr_grid *cmp_grid;
/* Order of specifications in a panel: by the column axes' values, the first varying slowest. */
static int cmp_spec(const void *x, const void *y)
{
    const gr_grid_spec *a = &cmp_grid->specs[*(const int *)x], *b = &cmp_grid->specs[*(const int *)y];
    for (int j = 0; j < cmp_layout->ncols; j++) {
        int ax = cmp_layout->col[j];
        if (a->pick[ax] != b->pick[ax]) return a->pick[ax] - b->pick[ax];
    }
    return a->index - b->index;
}

/* The axes on which two specifications differ, "bw, s". */
static void differing_axes(const gr_grid *g, const gr_grid_spec *a, const gr_grid_spec *b, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int x = 0; x < g->naxes && n < len; x++)
        if (a->pick[x] != b->pick[x]) n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", g->axes[x].name);
}

/* The specifications of panel p in column order (*n; caller frees); two in one column is an error. */
static int panel_specs(const gr_grid *g, const layout *L, const panel_def *p, int **out, int *n)
{
    int *s = gr_malloc((size_t)g->nspecs + 1, sizeof *s);
    *n = 0;
    for (int i = 0; i < g->nspecs; i++) if (in_panel(g, L, p, &g->specs[i])) s[(*n)++] = i;
    cmp_layout = L;
    cmp_grid = g;
    qsort(s, (size_t)*n, sizeof *s, cmp_spec);
    for (int k = 1; k < *n; k++) {
        const gr_grid_spec *a = &g->specs[s[k - 1]], *b = &g->specs[s[k]];
        int same = 1;
        for (int j = 0; j < L->ncols; j++) same &= a->pick[L->col[j]] == b->pick[L->col[j]];
        if (!same) continue;
        char ax[512];
        differing_axes(g, a, b, ax, sizeof ax);
        free(s);
        return gr_cfg_fail(L->cfg, p->line ? p->line : L->line, "table: specifications %d (%s) and %d (%s) fall in one column%s%s%s: "
                     "axis %s varies but is in neither columns nor panels (add it to one, or keep one value with select:)",
                     a->index + 1, a->label, b->index + 1, b->label, p->label ? " of panel '" : "", p->label ? p->label : "",
                     p->label ? "'" : "", ax);
    }
    *out = s;
    return GR_OK;
}

/* The physical columns of a panel: one per estimated sample of each specification (one when missing). */
static tcol *panel_columns(const results *R, const int *s, int n, int *ncol)
{
    int total = 0;
    for (int k = 0; k < n; k++) {
        const cJSON *r = R->rec[s[k]];
        int ok = r && !strcmp(jstr(r, "status"), "ok");
        total += ok ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "results")) : 1;
    }
    tcol *c = gr_malloc((size_t)total + 1, sizeof *c);
    *ncol = 0;
    for (int k = 0; k < n; k++) {
        const cJSON *r = R->rec[s[k]];
        int ok = r && !strcmp(jstr(r, "status"), "ok");
        int m = ok ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "results")) : 1;
        for (int j = 0; j < m; j++) c[(*ncol)++] = (tcol){s[k], ok ? j : -1};
    }
    return c;
}

typedef struct {           /* one panel, resolved */
    const panel_def *def;
    char *title;           /* its title, or NULL */
    int nspecs, ncols;
    int *specs;
    tcol *cols;
} tpanel;

/* The terms shown: terms: as given (each a term of some specification shown), else the union of the
 * formulas' terms in order of first appearance. */
static int resolve_terms(const gr_grid *g, layout *L, const tpanel *P, int np)
{
    int cap = 16, n = 0, capx = 0, nextra = 0;
    char **all = gr_malloc((size_t)cap, sizeof *all), **extra = NULL;
    for (int p = 0; p < np; p++)
        for (int k = 0; k < P[p].nspecs; k++) {
            const gr_formula *f = &g->specs[P[p].specs[k]].spec.f;
            int rd = g->specs[P[p].specs[k]].command == GR_GRID_CMD_RDGRID;  /* its one term (grid_run.c) */
            const gr_grid_spec *gs = &g->specs[P[p].specs[k]];
            char **med = NULL;  /* command: mediate: the mediators and delta(term) too (mediation.h) */
            int nmed = 0;
            if (gs->command == GR_GRID_CMD_MEDIATE)
                if (gr_mediation_terms(gs->text[GR_GRID_FORMULA], gs->text[GR_GRID_OPTIONS], &med, &nmed))
                    gr_clear_error();  /* a bad mediator fails its specification when run; the record says why */
            for (int j = 0; j < nmed; j++) {
                if (nextra == capx) { capx = capx ? 2 * capx : 8; extra = gr_realloc(extra, (size_t)capx, sizeof *extra); }
                extra[nextra++] = med[j];
            }
            free(med);
            for (int j = -1; j < (rd ? 0 : f->nx + nmed); j++) {
                const char *t = rd ? "RD estimate" : j < 0 ? (f->intercept ? GR_INTERCEPT_LABEL : NULL)
                              : j < f->nx ? f->x[j].label : extra[nextra - nmed + (j - f->nx)];
                int seen = !t;
                for (int i = 0; i < n && !seen; i++) seen = !strcmp(all[i], t);
                if (seen) continue;
                if (n == cap) { cap *= 2; all = gr_realloc(all, (size_t)cap, sizeof *all); }
                all[n++] = (char *)t;
            }
        }
    int rc = GR_OK;
    for (int i = 0; rc == GR_OK && i < L->nterms; i++) {
        int found = 0;
        for (int j = 0; j < n && !found; j++)
            if ((found = gr_formula_term_is(L->terms[i], all[j])) && strcmp(L->terms[i], all[j])) {
                free(L->terms[i]);  /* the formula's spelling, which the records use */
                L->terms[i] = gr_strdup(all[j]);
            }
        if (!found) {
            char list[1024] = "";
            size_t k = 0;
            for (int j = 0; j < n && k < sizeof list; j++) k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", j ? ", " : "", all[j]);
            rc = gr_cfg_fail(L->cfg, L->term_line[i], "table: terms: '%s' is no term of the specifications shown (terms: %s)", L->terms[i], list);
        }
        for (int q = 0; q < i && !rc; q++)  /* two spellings of one term */
            if (!strcmp(L->terms[q], L->terms[i]))
                rc = gr_cfg_fail(L->cfg, L->term_line[i], "table: terms: '%s' given twice (also at line %d)", L->terms[i], L->term_line[q]);
    }
    if (!rc && !L->terms_given) {
        L->terms = gr_malloc((size_t)n + 1, sizeof *L->terms);
        for (int j = 0; j < n; j++) L->terms[j] = gr_strdup(all[j]);
        L->nterms = n;
    }
    free(all);
    for (int j = 0; j < nextra; j++) free(extra[j]);
    free(extra);
    return rc;
}

/* The fixed effects of the specifications shown (labels, first appearance; pointers into the grid). */
static const char **fe_union(const gr_grid *g, const tpanel *P, int np, int *n)
{
    int cap = 8;
    const char **fe = gr_malloc((size_t)cap, sizeof *fe);
    *n = 0;
    for (int p = 0; p < np; p++)
        for (int k = 0; k < P[p].nspecs; k++) {
            const gr_formula *f = &g->specs[P[p].specs[k]].spec.f;
            for (int j = 0; j < f->nfe; j++) {
                int seen = 0;
                for (int i = 0; i < *n && !seen; i++) seen = !strcmp(fe[i], f->fe[j].label);
                if (seen) continue;
                if (*n == cap) { cap *= 2; fe = gr_realloc(fe, (size_t)cap, sizeof *fe); }
                fe[(*n)++] = f->fe[j].label;
            }
        }
    return fe;
}

/* Every key of a labels mapping must name one of the n names shown (what: "term", "variable"...). With terms = 1
 * (formula terms) a key in another spelling of a term is taken for it and becomes the formula's label. */
static int check_labels(const layout *L, labelmap *m, const char *in, const char *what, int terms, const char *const *names,
                        int n)
{
    for (int i = 0; i < m->n; i++) {
        int found = 0;
        for (int j = 0; j < n && !found; j++)
            if ((found = terms ? gr_formula_term_is(m->key[i], names[j]) : !strcmp(names[j], m->key[i])) &&
                strcmp(names[j], m->key[i])) {
                free(m->key[i]);
                m->key[i] = gr_strdup(names[j]);
            }
        if (!found) return gr_cfg_fail(L->cfg, m->line[i], "table: %s: '%s' is no %s of the specifications shown", in, m->key[i], what);
    }
    return GR_OK;
}

static const char *relabel(const labelmap *m, const char *name)
{
    for (int i = 0; i < m->n; i++) if (!strcmp(m->key[i], name)) return m->val[i];
    return name;
}

/* How specification s's standard errors are computed: "clustered by pair", "CR2 (Bell-McCaffrey) clustered
 * by pair", "CR3 (jackknife) clustered by pair", "heteroskedasticity-robust (HC1)", "iid". */
static void se_text(const gr_grid_spec *s, char *buf, size_t len)
{
    gr_vcov_type t = s->spec.model.vcov;
    const char *cl = s->spec.ncl > 0 ? s->spec.clnames[0] : s->spec.f.nfe > 0 ? s->spec.f.fe[0].label : "";
    if (t == GR_VCOV_CLUSTER)
        snprintf(buf, len, "clustered by %s%s%s", cl, s->spec.ncl > 1 ? " and " : "",
                 s->spec.ncl > 1 ? s->spec.clnames[1] : "");
    else if (t == GR_VCOV_CR2 || t == GR_VCOV_CR3)
        snprintf(buf, len, "%s clustered by %s", t == GR_VCOV_CR2 ? "CR2 (Bell-McCaffrey)" : "CR3 (jackknife)", cl);
    else snprintf(buf, len, "%s", t == GR_VCOV_HC1 ? "heteroskedasticity-robust (HC1)" : "iid");
}

/* The header rows of one panel (column axes' value labels, then the samples when a specification has
 * several) into rows of T. */
static void head_rows(table *T, const gr_grid *g, const layout *L, const results *R, const tpanel *P)
{
    for (int j = 0; j < L->ncols; j++) {
        int a = L->col[j];
        trow *r = add_row(T, ROW_HEAD, "");
        for (int c = 0; c < P->ncols; c++) set_cell(r, c, g->axes[a].value_label[g->specs[P->cols[c].spec].pick[a]]);
    }
    int several = 0;
    for (int c = 1; c < P->ncols; c++) several |= P->cols[c].spec == P->cols[c - 1].spec;
    if (!several) return;
    trow *r = add_row(T, ROW_HEAD, "Sample");
    for (int c = 0; c < P->ncols; c++) {
        const cJSON *m = col_result(R, &P->cols[c]);
        int alone = (c == 0 || P->cols[c - 1].spec != P->cols[c].spec) &&
                    (c + 1 == P->ncols || P->cols[c + 1].spec != P->cols[c].spec);
        if (m && !alone) set_cell(r, c, jstr(m, "sample"));  /* only the specifications with several samples */
    }
}

/* 1 if rows [a, a+n) and [b, b+n) of T hold the same cells. */
static int same_rows(const table *T, int a, int b, int n)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(T->rows[a + i].label, T->rows[b + i].label)) return 0;
        for (int c = 0; c < T->ncols; c++) if (strcmp(T->rows[a + i].cell[c], T->rows[b + i].cell[c])) return 0;
    }
    return 1;
}

static void coef_rows(table *T, const layout *L, const results *R, const tpanel *P)
{
    for (int t = 0; t < L->nterms; t++) {
        trow *rc = add_row(T, ROW_COEF, relabel(&L->term_labels, L->terms[t]));
        trow *rs = add_row(T, ROW_SE, "");
        for (int c = 0; c < P->ncols; c++) {
            const cJSON *m = col_result(R, &P->cols[c]), *e = m ? find_coef(m, L->terms[t]) : NULL;
            if (!e) continue;
            char v[64], s[72];
            double est = jnum(e, "estimate"), se = jnum(e, "std_error");
            fmt_num(v, sizeof v, est, L->digits);
            fmt_num(s + 1, sizeof s - 2, se, L->digits);
            s[0] = '(';
            strcat(s, ")");
            set_cell(rc, c, v);
            set_cell(rs, c, s);
            const cJSON *rd = cJSON_GetObjectItemCaseSensitive(m, "rd");
            int extrap = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rd, "extrapolated"));
            rc->stars[c] = isfinite(est) && !extrap ? stars_of(jnum(e, "p_value")) : 0;
            if (extrap) { strcat(v, "+"); set_cell(rc, c, v); }
            T->extrapolated |= extrap;
            T->dash |= !isfinite(est) || !isfinite(se);
        }
    }
}

static void fe_rows(table *T, const gr_grid *g, const layout *L, const results *R, const tpanel *P, const char **fe, int nfe)
{
    for (int k = 0; k < nfe; k++) {
        char label[512];
        const char *l = relabel(&L->fe_labels, fe[k]);
        snprintf(label, sizeof label, "%s%s", l, l == fe[k] ? " FE" : "");
        trow *r = add_row(T, ROW_FE, label);
        for (int c = 0; c < P->ncols; c++) {
            if (!col_result(R, &P->cols[c])) continue;
            const gr_formula *f = &g->specs[P->cols[c].spec].spec.f;
            int has = 0;
            for (int j = 0; j < f->nfe; j++) has |= !strcmp(f->fe[j].label, fe[k]);
            set_cell(r, c, has ? "Yes" : "No");
        }
    }
}

static void stat_cell(table *T, int st, const cJSON *m, int digits, char *buf, size_t len)
{
    double v;
    if (st == ST_NOBS) { v = jnum(m, "nobs"); if (isfinite(v)) fmt_count(buf, len, v); else snprintf(buf, len, "-"); }
    else if (st == ST_NCLUSTERS) {
        const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "n_clusters"), 0);
        if (cJSON_IsNumber(a)) fmt_count(buf, len, a->valuedouble); else snprintf(buf, len, " ");
        return;
    } else {
        v = jnum(m, st == ST_ADJ_R2 ? "adj_r2" : st == ST_R2 ? "r2" : "within_r2");
        fmt_num(buf, len, v, digits);
    }
    T->dash |= !strcmp(buf, "-");
}

static void stat_rows(table *T, const layout *L, const results *R, const tpanel *P, int se_row, const gr_grid *g)
{
    if (se_row) {
        trow *r = add_row(T, ROW_STAT, "Standard errors");
        for (int c = 0; c < P->ncols; c++) {
            char s[256];
            se_text(&g->specs[P->cols[c].spec], s, sizeof s);
            set_cell(r, c, s);
        }
    }
    for (int i = 0; i < L->nstats; i++) {
        trow *r = add_row(T, ROW_STAT, stat_labels[L->stat[i]]);
        for (int c = 0; c < P->ncols; c++) {
            const cJSON *m = col_result(R, &P->cols[c]);
            char buf[64];
            if (!m) continue;
            stat_cell(T, L->stat[i], m, L->digits, buf, sizeof buf);
            if (strcmp(buf, " ")) set_cell(r, c, buf);
        }
    }
}

/* Columns of a failed or missing specification: "failed" in the first body row, a note each. */
static void mark_columns(table *T, const gr_grid *g, const results *R, const tpanel *P, int first_body)
{
    const char *pl = P->title;
    for (int c = 0; c < P->ncols; c++) {
        const gr_grid_spec *s = &g->specs[P->cols[c].spec];
        const cJSON *r = R->rec[P->cols[c].spec];
        if (P->cols[c].sample >= 0) continue;
        if (r && first_body < T->nrows) set_cell(&T->rows[first_body], c, "failed");
        if (r)
            add_note(T, "Column (%d)%s%s: failed: %s (specification %s, %s).", c + 1, pl ? " of " : "", pl ? pl : "",
                     jstr(r, "reason"), s->id, s->label);
        else
            add_note(T, "Column (%d)%s%s: not in the results yet (specification %s, %s).", c + 1, pl ? " of " : "",
                     pl ? pl : "", s->id, s->label);
    }
}

/* One panel's rows; its header rows (when the panels' headers differ) after its title. */
static void panel_rows(table *T, const gr_grid *g, const layout *L, const results *R, const tpanel *P, int own_head,
                       const char **fe, int nfe, int se_row)
{
    if (P->title) add_row(T, ROW_PANEL, P->title)->rule = 1;
    if (own_head) head_rows(T, g, L, R, P);
    int first = T->nrows;
    coef_rows(T, L, R, P);
    if (first < T->nrows) T->rows[first].rule = own_head || !P->title;
    fe_rows(T, g, L, R, P, fe, nfe);
    stat_rows(T, L, R, P, se_row, g);
    mark_columns(T, g, R, P, first);
}

/* 1 if every panel has the same header rows (then printed once, under the column numbers). */
static int shared_head(const gr_grid *g, const layout *L, const results *R, const tpanel *P, int np, int ncols)
{
    table t = {.ncols = ncols};
    int n0 = -1, same = 1;
    for (int p = 0; p < np && same; p++) {
        int start = t.nrows;
        head_rows(&t, g, L, R, &P[p]);
        if (n0 < 0) n0 = t.nrows;
        else same = t.nrows - start == n0 && same_rows(&t, 0, start, n0);
    }
    table_free(&t);
    return same;
}

/* The standard errors: one note when all specifications shown agree, else a row. */
static int se_uniform(const gr_grid *g, const tpanel *P, int np, char *buf, size_t len)
{
    char s[256];
    buf[0] = 0;
    for (int p = 0; p < np; p++)
        for (int k = 0; k < P[p].nspecs; k++) {
            se_text(&g->specs[P[p].specs[k]], s, sizeof s);
            if (!buf[0]) snprintf(buf, len, "%s", s);
            else if (strcmp(buf, s)) return 0;
        }
    return 1;
}

static void resolved_free(tpanel *P, int np)
{
    for (int p = 0; p < np; p++) { free(P[p].specs); free(P[p].cols); free(P[p].title); }
    free(P);
}

/* The panels with their specifications and columns (*np; empty ones of an axis product dropped). */
static int resolve_panels(const gr_grid *g, const layout *L, const results *R, tpanel **out, int *np)
{
    tpanel *P = gr_calloc((size_t)L->npanels + 1, sizeof *P);
    *np = 0;
    for (int p = 0; p < L->npanels; p++) {
        tpanel *t = &P[*np];
        t->def = &L->panels[p];
        int rc = panel_specs(g, L, t->def, &t->specs, &t->nspecs);
        if (rc) { resolved_free(P, *np); return rc; }
        if (t->nspecs == 0) {
            free(t->specs);
            const panel_def *d = t->def;
            if (!d->line) continue;
            resolved_free(P, *np);
            return gr_cfg_fail(L->cfg, d->line, "table: panels: panel '%s' has no specification (with select:)", d->label);
        }
        t->cols = panel_columns(R, t->specs, t->nspecs, &t->ncols);
        if (t->def->lettered) {  /* lettered among the panels kept, so that select: leaves no gap */
            char title[1100];
            if (*np < 26) snprintf(title, sizeof title, "Panel %c: %s", 'A' + *np, t->def->label);
            else snprintf(title, sizeof title, "Panel %d: %s", *np + 1, t->def->label);
            t->title = gr_strdup(title);
        } else if (t->def->label) t->title = gr_strdup(t->def->label);
        (*np)++;
    }
    if (*np == 0) { resolved_free(P, 0); return gr_cfg_fail(L->cfg, L->line, "table: select: keeps no specification"); }
    *out = P;
    return GR_OK;
}

static int summary_layout(const gr_grid *g, const layout *L, const tpanel *P, int np, int *yes);
static int summary_table(table *T, const gr_grid *g, layout *L, const results *R, const tpanel *P, int np);

/* The whole table: column numbers, shared header, panels, notes. */
static int build_table(table *T, const gr_grid *g, layout *L, const results *R)
{
    tpanel *P = NULL;
    int np = 0, nfe, rc, summary = 0;
    GR_CALL(resolve_panels(g, L, R, &P, &np));
    rc = summary_layout(g, L, P, np, &summary);
    if (rc || summary) {  /* command: summary: variables as rows, statistics as columns */
        if (!rc) rc = summary_table(T, g, L, R, P, np);
        resolved_free(P, np);
        return rc;
    }
    const char **fe = fe_union(g, P, np, &nfe);
    GR_TRY(resolve_terms(g, L, P, np));
    GR_TRY(check_labels(L, &L->term_labels, "term-labels", "term", 1, (const char *const *)L->terms, L->nterms));
    GR_TRY(check_labels(L, &L->fe_labels, "fe-labels", "fixed effect", 0, fe, nfe));
    for (int p = 0; p < np; p++) if (P[p].ncols > T->ncols) T->ncols = P[p].ncols;
    trow *num = add_row(T, ROW_NUMBERS, "");
    for (int c = 0; c < T->ncols; c++) { char b[16]; snprintf(b, sizeof b, "(%d)", c + 1); set_cell(num, c, b); }
    int shared = shared_head(g, L, R, P, np, T->ncols);
    if (shared) head_rows(T, g, L, R, &P[0]);
    char se[256];
    int uniform = se_uniform(g, P, np, se, sizeof se);
    add_note(T, "Standard errors%s%s in parentheses. *** p<0.01, ** p<0.05, * p<0.1.", uniform ? " " : "", uniform ? se : "");
    for (int p = 0; p < np; p++) panel_rows(T, g, L, R, &P[p], !shared, fe, nfe, !uniform);
    if (T->dash) add_note(T, "-: not computable (null in the results).");
    if (T->extrapolated)
        add_note(T, "+: RD estimate extrapolated across an empty region around the cutoff (no row within half the "
                    "bandwidth on a side); no stars (docs/rd.md).");
fail:
    free(fe);
    resolved_free(P, np);
    return rc;
}

/* ---------------- the summary layout (command: summary; docs/summary.md) ---------------- */

static const char *const sum_keys[] = {"nobs", "mean", "sd", "min", "p25", "p50", "p75", "max"};
static const char *const sum_heads[] = {"Observations", "Mean", "SD", "Min", "P25", "P50", "P75", "Max"};
#define NSUM 8

/* *yes = 1 if the specifications shown run command: summary; a table mixing them with others is an error. */
static int summary_layout(const gr_grid *g, const layout *L, const tpanel *P, int np, int *yes)
{
    int nsum = 0, nother = 0;
    for (int p = 0; p < np; p++)
        for (int k = 0; k < P[p].nspecs; k++) *(g->specs[P[p].specs[k]].command == GR_GRID_CMD_SUMMARY ? &nsum : &nother) += 1;
    *yes = nsum > 0;
    if (nsum && nother)
        return gr_cfg_fail(L->cfg, L->line, "table: %d specifications shown run command: summary and %d do not: a table shows "
                     "summary statistics or regressions (keep one kind with select:)", nsum, nother);
    return GR_OK;
}

/* 6,710,610.75: `dec` decimals, thousands separated; "-" when not finite. */
static void fmt_fixed(char *buf, size_t len, double v, int dec)
{
    if (!isfinite(v)) { snprintf(buf, len, "-"); return; }
    char raw[400], *dot;
    snprintf(raw, sizeof raw, "%.*f", dec, v);
    dot = strchr(raw, '.');
    double ip = 0;
    char *end = dot ? dot : raw + strlen(raw);
    *end = 0;
    ip = atof(raw);
    fmt_count(buf, len, ip);
    if (raw[0] == '-' && buf[0] != '-') { memmove(buf + 1, buf, strlen(buf) + 1); buf[0] = '-'; }  /* -0.5 */
    if (dot) { size_t n = strlen(buf); snprintf(buf + n, len - n, ".%s", dot + 1); }
}

/* The variables of a summary specification (canonical texts, its options' --vars), into names[] (*n). */
static void summary_vars(const gr_grid_spec *s, char **names, int *n)
{
    const char *o = s->text[GR_GRID_OPTIONS] ? strstr(s->text[GR_GRID_OPTIONS], "--vars ") : NULL;
    *n = 0;
    if (!o) return;
    char *line = gr_strdup(o + 7), *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    gr_expr *e[GR_SUMMARY_MAX_VARS];
    int ne = 0;
    if (gr_summary_vars(line, "vars", GR_SUMMARY_MAX_VARS, e, &ne)) gr_clear_error();  /* the run records it */
    for (int j = 0; j < ne; j++) { names[(*n)++] = gr_strdup(gr_expr_text(e[j])); gr_expr_free(e[j]); }
    free(line);
}

/* terms: (the variables shown, in order) and term-labels: name variables of the specifications shown. */
static int summary_check(const gr_grid *g, layout *L, const tpanel *P, int np)
{
    int cap = 64, n = 0, rc = GR_OK;
    char **all = gr_malloc((size_t)cap, sizeof *all);
    for (int p = 0; p < np; p++)
        for (int k = 0; k < P[p].nspecs; k++) {
            char *v[GR_SUMMARY_MAX_VARS];
            int nv;
            summary_vars(&g->specs[P[p].specs[k]], v, &nv);
            for (int j = 0; j < nv; j++) {
                int seen = 0;
                for (int i = 0; i < n && !seen; i++) seen = !strcmp(all[i], v[j]);
                if (seen) { free(v[j]); continue; }
                if (n == cap) { cap *= 2; all = gr_realloc(all, (size_t)cap, sizeof *all); }
                all[n++] = v[j];
            }
        }
    for (int i = 0; rc == GR_OK && i < L->nterms; i++) {
        int found = 0;
        for (int j = 0; j < n && !found; j++) found = !strcmp(all[j], L->terms[i]);
        if (!found) rc = gr_cfg_fail(L->cfg, L->term_line[i], "table: terms: '%s' is no variable of the specifications shown", L->terms[i]);
    }
    if (!rc) rc = check_labels(L, &L->term_labels, "term-labels", "variable", 0, (const char *const *)all, n);
    for (int i = 0; i < n; i++) free(all[i]);
    free(all);
    return rc;
}

/* One row: the variable's label and its statistics. */
static void summary_row(table *T, const layout *L, const cJSON *x, int *pair_level)
{
    trow *r = add_row(T, ROW_STAT, relabel(&L->term_labels, jstr(x, "variable")));
    for (int c = 0; c < NSUM; c++) {
        char b[128];
        if (c == 0) fmt_count(b, sizeof b, jnum(x, "nobs"));
        else fmt_fixed(b, sizeof b, jnum(x, sum_keys[c]), L->digits);
        set_cell(r, c, b);
        T->dash |= !strcmp(b, "-");
    }
    *pair_level |= !strcmp(jstr(x, "level"), "pair");
}

/* The rows of one record: per sample (a sub-heading when there are several: --by), its variables in the
 * order of terms: when given, else as computed. The results are sample-major (summary_cmd.c). */
static void summary_rows(table *T, const layout *L, const cJSON *rec, int *pair_level)
{
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(rec, "results"), *m, *y;
    int several = 0;
    cJSON_ArrayForEach(m, res) several |= strcmp(jstr(m, "sample"), jstr(res->child, "sample")) != 0;
    const char *cur = NULL;
    cJSON_ArrayForEach(m, res) {
        const char *smp = jstr(m, "sample");
        if (cur && !strcmp(cur, smp)) continue;  /* each sample once, at its first result */
        cur = smp;
        if (several) add_row(T, ROW_HEAD, smp);
        for (int t = 0; t < L->nterms && L->terms_given; t++)
            for (y = m; y; y = y->next)
                if (!strcmp(jstr(y, "sample"), smp) && !strcmp(jstr(y, "variable"), L->terms[t])) { summary_row(T, L, y, pair_level); break; }
        for (y = m; !L->terms_given && y && !strcmp(jstr(y, "sample"), smp); y = y->next) summary_row(T, L, y, pair_level);
    }
}

/* The summary table: a header row of the statistics, per panel its title, per specification (a sub-heading
 * with its column axes' labels when a panel has several) its variables; notes. */
static int summary_table(table *T, const gr_grid *g, layout *L, const results *R, const tpanel *P, int np)
{
    GR_CALL(summary_check(g, L, P, np));
    T->ncols = NSUM;
    trow *head = add_row(T, ROW_NUMBERS, "Variable");
    for (int c = 0; c < NSUM; c++) set_cell(head, c, sum_heads[c]);
    int pair_level = 0;
    for (int p = 0; p < np; p++) {
        const char *pl = P[p].title;
        if (pl) add_row(T, ROW_PANEL, pl)->rule = 1;
        for (int k = 0; k < P[p].nspecs; k++) {
            const gr_grid_spec *s = &g->specs[P[p].specs[k]];
            const cJSON *rec = R->rec[P[p].specs[k]];
            char sub[1024] = "";
            for (int j = 0, n = 0; j < L->ncols && n < (int)sizeof sub; j++)  /* n < sizeof sub: fits an int */
                n += snprintf(sub + n, sizeof sub - (size_t)n, "%s%s", j ? ", " : "", g->axes[L->col[j]].value_label[s->pick[L->col[j]]]);
            if (P[p].nspecs > 1 && sub[0]) add_row(T, ROW_HEAD, sub);
            if (rec && !strcmp(jstr(rec, "status"), "ok")) { summary_rows(T, L, rec, &pair_level); continue; }
            set_cell(add_row(T, ROW_STAT, sub[0] ? sub : s->label), 0, rec ? "failed" : "");
            if (rec) add_note(T, "%s%s%s: failed: %s (specification %s, %s).", pl ? pl : "", pl ? ", " : "", sub[0] ? sub : "statistics",
                              jstr(rec, "reason"), s->id, s->label);
            else add_note(T, "%s%s%s: not in the results yet (specification %s, %s).", pl ? pl : "", pl ? ", " : "",
                          sub[0] ? sub : "statistics", s->id, s->label);
        }
    }
    add_note(T, "Statistics on the observations where each variable is finite: SD with n - 1; P25, P50, P75 as R's "
                "quantile(type = 7), exact over all ranks.");
    if (pair_level) add_note(T, "Pair-level variables (level: pair) count each pair once.");
    if (T->dash) add_note(T, "-: not computable (null in the results).");
    return GR_OK;
}

/* ---------------- rendering ---------------- */

static const char *star_text(int n) { return n == 3 ? "***" : n == 2 ? "**" : n == 1 ? "*" : ""; }

/* md: '|' escaped (it would end the cell). */
static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

static void render_md(FILE *f, const table *T, const char *title)
{
    if (title) { fputs("**", f); md_text(f, title); fputs("**\n\n", f); }
    for (int r = 0; r < T->nrows; r++) {
        const trow *w = &T->rows[r];
        fputs("| ", f);
        if (w->kind == ROW_PANEL) { fputs("**", f); md_text(f, w->label); fputs("**", f); }
        else md_text(f, w->label);
        for (int c = 0; c < T->ncols; c++) {
            fputs(" | ", f);
            md_text(f, w->cell[c]);
            fputs(star_text(w->stars[c]), f);
        }
        fputs(" |\n", f);
        if (w->kind == ROW_NUMBERS) {
            fputs("|:---", f);
            for (int c = 0; c < T->ncols; c++) fputs("|:---:", f);
            fputs("|\n", f);
        }
    }
    for (int i = 0; i < T->nnotes; i++) { fputc('\n', f); md_text(f, T->notes[i]); fputc('\n', f); }
}

/* csv: RFC 4180 (fields with a comma, quote or line break quoted, quotes doubled). */
static void csv_field(FILE *f, const char *s, const char *stars)
{
    int q = strpbrk(s, ",\"\r\n") != NULL;
    if (q) fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputs(stars, f);
    if (q) fputc('"', f);
}

static void render_csv(FILE *f, const table *T)
{
    for (int r = 0; r < T->nrows; r++) {
        const trow *w = &T->rows[r];
        csv_field(f, w->label, "");
        for (int c = 0; c < T->ncols; c++) { fputc(',', f); csv_field(f, w->cell[c], star_text(w->stars[c])); }
        fputs("\n", f);
    }
}

/* tex: the characters LaTeX treats specially, as text. */
static void tex_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\': fputs("\\textbackslash{}", f); break;
        case '~': fputs("\\textasciitilde{}", f); break;
        case '^': fputs("\\textasciicircum{}", f); break;
        case '<': fputs("\\textless{}", f); break;
        case '>': fputs("\\textgreater{}", f); break;
        case '|': fputs("\\textbar{}", f); break;
        case '&': case '%': case '$': case '#': case '_': case '{': case '}': fputc('\\', f); fputc(*s, f); break;
        default: fputc(*s, f);
        }
    }
}

/* A header row: equal neighbours merged (\multicolumn) unless a row above in the same block splits them;
 * bnd[c] = 1 where a group starts at column c (updated), then a \cmidrule under each group of several. */
static void tex_head(FILE *f, const trow *w, int ncols, unsigned char *bnd)
{
    tex_text(f, w->label);
    for (int c = 0; c < ncols; c++) bnd[c] |= c == 0 || strcmp(w->cell[c], w->cell[c - 1]);
    for (int c = 0, e; c < ncols; c = e) {
        for (e = c + 1; e < ncols && !bnd[e]; e++) {}
        fputs(" & ", f);
        if (e - c > 1) { fprintf(f, "\\multicolumn{%d}{c}{", e - c); tex_text(f, w->cell[c]); fputc('}', f); }
        else tex_text(f, w->cell[c]);
    }
    fputs(" \\\\\n", f);
    for (int c = 0, e; c < ncols; c = e) {
        for (e = c + 1; e < ncols && !bnd[e]; e++) {}
        if (e - c > 1 && w->cell[c][0]) fprintf(f, "\\cmidrule(lr){%d-%d}\n", c + 2, e + 1);
    }
}

static void tex_row(FILE *f, const trow *w, int ncols)
{
    if (w->kind == ROW_PANEL) {
        fprintf(f, "\\multicolumn{%d}{l}{\\textit{", ncols + 1);
        tex_text(f, w->label);
        fputs("}} \\\\\n", f);
        return;
    }
    tex_text(f, w->label);
    for (int c = 0; c < ncols; c++) {
        fputs(" & ", f);
        tex_text(f, w->cell[c]);
        if (w->stars[c]) fprintf(f, "$^{%s}$", star_text(w->stars[c]));
    }
    fputs(" \\\\\n", f);
}

static void render_tex(FILE *f, const table *T, const char *title, const char *cfg, const char *res)
{
    unsigned char *bnd = gr_calloc((size_t)T->ncols + 1, 1);
    fputs("% gravrd table: ", f);
    fputs(cfg, f);
    fputs(", ", f);
    fputs(res, f);
    fputs(" (needs \\usepackage{booktabs})\n\\begin{table}[htbp]\n\\centering\n", f);
    if (title) { fputs("\\caption{", f); tex_text(f, title); fputs("}\n", f); }
    fprintf(f, "\\begin{tabular}{l*{%d}{c}}\n\\toprule\n", T->ncols);
    for (int r = 0; r < T->nrows; r++) {
        const trow *w = &T->rows[r];
        if (w->rule) fputs("\\midrule\n", f);
        if (w->kind != ROW_HEAD) memset(bnd, 0, (size_t)T->ncols);
        if (w->kind == ROW_HEAD) tex_head(f, w, T->ncols, bnd);
        else tex_row(f, w, T->ncols);
    }
    fputs("\\bottomrule\n\\end{tabular}\n\n\\smallskip\n{\\footnotesize\n", f);
    for (int i = 0; i < T->nnotes; i++) { tex_text(f, T->notes[i]); fputs("\\par\n", f); }
    fputs("}\n\\end{table}\n", f);
    free(bnd);
}

/* ---------------- the command ---------------- */

/* Rank 0: everything after the collective load of the config. */
static int make_table(const gr_grid *g, const table_cli *o)
{
    layout L;
    results R;
    table T;
    memset(&L, 0, sizeof L);
    memset(&R, 0, sizeof R);
    memset(&T, 0, sizeof T);
    gr_outfile out;
    memset(&out, 0, sizeof out);
    int rc;
    GR_TRY(load_layout(g, &L));
    GR_TRY(load_results(g, o->results, &R));
    GR_TRY(build_table(&T, g, &L, &R));
    gr_input_add(g->path);
    gr_input_add(R.path);
    rc = gr_outfile_open(&out, o->out);
    if (!rc) {
        const char *title = L.title ? L.title : g->title;
        if (o->format == FMT_MD) render_md(out.f, &T, title);
        else if (o->format == FMT_CSV) render_csv(out.f, &T);
        else render_tex(out.f, &T, title, g->path, R.path);
        rc = gr_outfile_close(&out, 1);
    }
    gr_input_remove(R.path);
    gr_input_remove(g->path);
fail:
    table_free(&T);
    gr_results_file_free(&R, g->nspecs);
    layout_free(&L, g);
    return rc;
}

int cmd_table(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    gr_opts s;
    table_cli o;
    int rc = gr_opts_parse(&s, &table_cmd_def, &o, argc, argv, rank);
    if (rc == GR_OPTS_EXIT) { gr_opts_free(&s); return 0; }
    if (!rc && s.echo && rank == 0) gr_opts_echo(&s, stderr);
    gr_grid g;
    memset(&g, 0, sizeof g);
    rc = gr_agree(comm, rc);
    if (!rc) rc = gr_grid_load(comm, o.config, NULL, &g);
    if (!rc && rank == 0) rc = make_table(&g, &o);
    rc = gr_agree(comm, rc);
    gr_grid_free(&g);
    gr_opts_free(&s);
    return gr_report(rc);
}
