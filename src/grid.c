/* grid.c: grid configurations (grid.h, docs/grid.md): the YAML file through libyaml's document API,
 * the axes and their crossing and zipping, {axis} placeholders, one resolved gr_spec per specification,
 * stable ids, and the checks that come before any work. Everything here is Local except gr_grid_load and
 * gr_grid_check_columns. */
#include "grid.h"
#include "leverage.h"
#include "panel.h"
#include "wildboot.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cfg.h"

#define CONFIG_MAX_BYTES (16 << 20)

static const char *const key_names[GR_GRID_NKEYS] = {
    "formula", "where", "cluster", "vcov", "weights", "split", "fsplit", "fixef-rm", "fe-tol", "fe-maxiter",
    "fe-method", "solver", "collin-tol", "command", "options", "family", "offset", "boot", "boot-weights", "boot-seed",
    "cluster-diag"};

const char *gr_grid_key_name(gr_grid_key k) { return k >= 0 && k < GR_GRID_NKEYS ? key_names[k] : "?"; }

/* The words of the choice settings; the first word of each value is its canonical name. */
typedef struct { const char *word; int value; } choice_word;
static const choice_word vcov_words[] = {{"iid", GR_VCOV_IID}, {"hc1", GR_VCOV_HC1}, {"cluster", GR_VCOV_CLUSTER},
                                  {"cr2", GR_VCOV_CR2}, {"cr3", GR_VCOV_CR3},
                                  {"hetero", GR_VCOV_HC1}, {NULL, 0}};
static const choice_word fixef_words[] = {{"none", 0}, {"singleton", 1}, {NULL, 0}};
static const choice_word method_words[] = {{"cg", GR_FE_CG}, {"irons-tuck", GR_FE_IRONS_TUCK}, {"it", GR_FE_IRONS_TUCK},
                                    {NULL, 0}};
static const choice_word solver_words[] = {{"cholesky", GR_SOLVER_CHOL}, {"qr", GR_SOLVER_QR}, {"chol", GR_SOLVER_CHOL},
                                    {NULL, 0}};
static const choice_word cluster_diag_words[] = {{"auto", GR_LEV_DIAG_AUTO}, {"on", GR_LEV_DIAG_ON},
                                                 {"off", GR_LEV_DIAG_OFF}, {NULL, 0}};
static const choice_word family_words[] = {{"gaussian", GR_FAMILY_GAUSSIAN}, {"poisson", GR_FAMILY_POISSON}, {NULL, 0}};
static const choice_word boot_words[] = {{"rademacher", GR_BOOT_RADEMACHER}, {"webb", GR_BOOT_WEBB}, {NULL, 0}};
static const choice_word command_words[] = {{"estimate", GR_GRID_CMD_ESTIMATE}, {"match", GR_GRID_CMD_MATCH},
                                            {"rdgrid", GR_GRID_CMD_RDGRID}, {"summary", GR_GRID_CMD_SUMMARY},
                                            {"mediate", GR_GRID_CMD_MEDIATE}, {NULL, 0}};

/* ---------------- parse state ---------------- */

typedef struct {
    int set;      /* given (possibly as null: unset) */
    char *text;   /* NULL: null */
    int line;
} raw;

typedef struct {
    char *label;  /* as written */
    int line;
    char *value;  /* text filling {axis} (numbers in canonical spelling); NULL: none */
    int value_line;
    int is_number;
    double number;
    raw set[GR_GRID_NKEYS];
    int nset;
} aval;

typedef struct {
    char *name;
    int line;
    int n;
    aval *v;
    int filled;         /* some {name} placeholder exists */
    int bw_line;        /* > 0: a placeholder at this line fills a derived column's bandwidth */
    char bw_prefix[GR_NAME_MAX];
    int zip;            /* zip group, -1: none */
    int unit;           /* crossing unit */
} axis;

typedef struct {
    const char *path;
    raw base[GR_GRID_NKEYS];
    int base_line;
    int naxes;
    axis ax[GR_GRID_MAX_AXES];
    int axes_line;
    int nzip;
    int zip_line[GR_GRID_MAX_AXES];
    int cross_given, cross_line, ncross;
    int cross[GR_GRID_MAX_AXES];
    int nunits;
    int unit_len[GR_GRID_MAX_AXES];
} pctx;

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *t, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->s = gr_realloc(b->s, b->cap, 1);
    }
    memcpy(b->s + b->n, t, len);
    b->n += len;
    b->s[b->n] = 0;
}
static void sb_str(sbuf *b, const char *t) { sb_add(b, t, strlen(t)); }

/* ---------------- errors ---------------- */

/* Turn the error just recorded by another module ("formula: at character 6: ...", "--cluster: ...") into
 * one at <path>:<line>, with `context` appended; its leading "--" dropped (a config has no options). */
static int relocate(const char *path, int line, const char *context)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", gr_errmsg());
    gr_clear_error();
    const char *m = strncmp(msg, "--", 2) ? msg : msg + 2;
    return gr_cfg_fail(path, line, "%s%s", m, context);
}

/* ---------------- numbers ---------------- */

/* The shortest spelling of v that reads back exactly, %g's when it does (100, 62.5, 1e-06). */
static void num_text(double v, char *buf, size_t len)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        double back;
        if (gr_parse_double(buf, &back) == 0 && back == v) return;
    }
}

/* 1 if text is a finite decimal number (digits, sign, point, exponent; not inf, nan or hex). */
static int decimal_number(const char *text, double *v)
{
    if (!*text) return 0;
    for (const char *c = text; *c; c++)
        if (!isdigit((unsigned char)*c) && !strchr("+-.eE", *c)) return 0;
    return gr_parse_double(text, v) == 0 && isfinite(*v);
}

/* ---------------- YAML nodes ---------------- */

static yaml_node_t *ynode(yaml_document_t *d, int i) { return yaml_document_get_node(d, i); }


static char *ytext(const yaml_node_t *n)
{
    size_t len = n->data.scalar.length;
    char *s = gr_malloc(len + 1, 1);
    memcpy(s, n->data.scalar.value, len);
    s[len] = 0;
    return s;
}

static int ynull(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *t = (const char *)n->data.scalar.value;
    return !strcmp(t, "") || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static int yplain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* The keys of a mapping are texts, each given once. `in` names the mapping in messages. */
static int check_keys(const pctx *P, yaml_document_t *d, const yaml_node_t *map, const char *in)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        const yaml_node_t *k = ynode(d, a->key);
        if (k->type != YAML_SCALAR_NODE)
            return gr_cfg_fail(P->path, gr_yline(k), "%s: expected a key name, got %s", in, gr_ykind(k));
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            const yaml_node_t *kb = ynode(d, b->key);
            if (kb->type == YAML_SCALAR_NODE && !strcmp((char *)kb->data.scalar.value, (char *)k->data.scalar.value))
                return gr_cfg_fail(P->path, gr_yline(k), "%s: key '%s' given twice (first at line %d)", in,
                             (char *)k->data.scalar.value, gr_yline(kb));
        }
    }
    return GR_OK;
}

/* "unknown key 'x' in <in> (expected a, b, c)", with a suggestion when only '_' for '-' or case differ. */
static int unknown_key(const pctx *P, int line, const char *key, const char *in, const char *const *allowed,
                       int nallowed)
{
    char list[512] = "", hint[128] = "";
    size_t n = 0;
    for (int i = 0; i < nallowed && n < sizeof list; i++) {
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
        size_t len = strlen(allowed[i]);
        int near = strlen(key) == len;
        for (size_t c = 0; near && c < len; c++)
            near = tolower((unsigned char)key[c]) == allowed[i][c] || (key[c] == '_' && allowed[i][c] == '-');
        if (near) snprintf(hint, sizeof hint, "; did you mean '%s'?", allowed[i]);
    }
    return gr_cfg_fail(P->path, line, "unknown key '%s' in %s (expected %s%s)", key, in, list, hint);
}

static int setting_index(const char *key)
{
    for (int k = 0; k < GR_GRID_NKEYS; k++)
        if (!strcmp(key, key_names[k])) return k;
    return -1;
}

static int cmp_option_line(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* options: a mapping of a command's option names to a scalar or a list of scalars (a repeated option), into
 * one text of "--name value" lines sorted by name (so the order of the keys does not matter). */
static int parse_options_map(const pctx *P, yaml_document_t *d, const yaml_node_t *v, const char *in, raw *r)
{
    if (v->type != YAML_MAPPING_NODE)
        return gr_cfg_fail(P->path, gr_yline(v), "%s: options: expected a mapping of option names to values, got %s", in, gr_ykind(v));
    GR_CALL(check_keys(P, d, v, "options"));
    int n = 0, cap = 0;
    char **line = NULL;
    int rc = GR_OK;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top && !rc; p++) {
        const yaml_node_t *k = ynode(d, p->key), *val = ynode(d, p->value);
        const char *name = (const char *)k->data.scalar.value;
        int ok = name[0] != 0 && name[0] != '-';
        for (const char *c = name; *c && ok; c++) ok = islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-';
        if (!ok || !strcmp(name, "data") || !strcmp(name, "json")) {
            rc = gr_cfg_fail(P->path, gr_yline(k), "options: '%s' is not an option name a grid may give (lower-case letters, "
                       "digits, '-'; not data or json, which the grid sets)", name);
            break;
        }
        const yaml_node_t *one[1] = {val};
        int nv = val->type == YAML_SEQUENCE_NODE ? (int)(val->data.sequence.items.top - val->data.sequence.items.start) : 1;
        for (int i = 0; i < nv && !rc; i++) {
            const yaml_node_t *e = val->type == YAML_SEQUENCE_NODE ? ynode(d, val->data.sequence.items.start[i]) : one[0];
            if (e->type != YAML_SCALAR_NODE || ynull(e)) {
                rc = gr_cfg_fail(P->path, gr_yline(e), "options: %s: expected a text or a number, got %s", name,
                           ynull(e) ? "nothing" : gr_ykind(e));
                break;
            }
            if (n == cap) line = gr_realloc(line, (size_t)(cap = cap ? 2 * cap : 8), sizeof *line);
            char *t = ytext(e);
            line[n] = gr_malloc(strlen(name) + strlen(t) + 4, 1);
            sprintf(line[n++], "--%s %s", name, t);  /* sized above */
            free(t);
        }
    }
    if (!rc) {
        qsort(line, (size_t)n, sizeof *line, cmp_option_line);
        sbuf b = {0};
        for (int i = 0; i < n; i++) { if (i) sb_str(&b, "\n"); sb_str(&b, line[i]); }
        r->text = b.s ? b.s : gr_strdup("");
    }
    for (int i = 0; i < n; i++) free(line[i]);
    free(line);
    return rc;
}

/* One setting's value node into *r: a text (cluster: also a list of one or two names), or null. */
static int parse_setting(const pctx *P, yaml_document_t *d, int k, const yaml_node_t *v, const char *in, raw *r)
{
    r->set = 1;
    r->line = gr_yline(v);
    if (ynull(v)) return GR_OK;
    if (v->type == YAML_SCALAR_NODE) {
        r->text = ytext(v);
        return GR_OK;
    }
    if (k == GR_GRID_CLUSTER && v->type == YAML_SEQUENCE_NODE) {
        sbuf b = {0};
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            const yaml_node_t *e = ynode(d, *it);
            if (e->type != YAML_SCALAR_NODE) {
                free(b.s);
                return gr_cfg_fail(P->path, gr_yline(e), "%s: cluster: expected column names, got %s", in, gr_ykind(e));
            }
            if (b.n) sb_str(&b, ",");
            sb_add(&b, (const char *)e->data.scalar.value, e->data.scalar.length);
        }
        r->text = b.s ? b.s : gr_strdup("");
        return GR_OK;
    }
    if (k == GR_GRID_OPTIONS) return parse_options_map(P, d, v, in, r);
    return gr_cfg_fail(P->path, gr_yline(v), "%s: %s: expected a text, got %s", in, key_names[k], gr_ykind(v));
}

/* A mapping of settings (base:) into set[]. */
static int parse_settings_map(pctx *P, yaml_document_t *d, const yaml_node_t *map, const char *in, raw *set)
{
    if (map->type != YAML_MAPPING_NODE)
        return gr_cfg_fail(P->path, gr_yline(map), "%s: expected a mapping of settings (formula: ..., cluster: ...), got %s",
                     in, gr_ykind(map));
    GR_CALL(check_keys(P, d, map, in));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ynode(d, p->key), *v = ynode(d, p->value);
        const char *key = (const char *)k->data.scalar.value;
        int idx = setting_index(key);
        if (idx < 0) return unknown_key(P, gr_yline(k), key, in, key_names, GR_GRID_NKEYS);
        GR_CALL(parse_setting(P, d, idx, v, in, &set[idx]));
    }
    return GR_OK;
}

/* A scalar's text as it fills a placeholder: a plain decimal number in its canonical spelling. */
static void scalar_value(const yaml_node_t *n, aval *v, int line)
{
    char *t = ytext(n);
    v->value_line = line;
    v->is_number = yplain(n) && decimal_number(t, &v->number);
    if (v->is_number) {
        char buf[64];
        num_text(v->number, buf, sizeof buf);
        v->value = gr_strdup(buf);
        free(t);
    } else {
        v->value = t;
    }
}

/* A value of an axis written as a mapping: label, value and settings. */
static int parse_axis_map(pctx *P, yaml_document_t *d, axis *A, const yaml_node_t *map, aval *v)
{
    char in[GR_NAME_MAX + 32];
    snprintf(in, sizeof in, "a value of axis '%s'", A->name);
    GR_CALL(check_keys(P, d, map, in));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ynode(d, p->key), *n = ynode(d, p->value);
        const char *key = (const char *)k->data.scalar.value;
        int idx = setting_index(key);
        if (idx >= 0) {
            GR_CALL(parse_setting(P, d, idx, n, in, &v->set[idx]));
            v->nset++;
        } else if (!strcmp(key, "label") || !strcmp(key, "value")) {
            if (n->type != YAML_SCALAR_NODE || ynull(n))
                return gr_cfg_fail(P->path, gr_yline(n), "%s: %s: expected a text, got %s", in, key,
                             ynull(n) ? "nothing" : gr_ykind(n));
            if (key[0] == 'l') v->label = ytext(n);
            else scalar_value(n, v, gr_yline(n));
        } else {
            static const char *const allowed[] = {"label", "value", "formula", "where", "cluster", "vcov",
                                                  "weights", "split", "fsplit", "fixef-rm", "fe-tol",
                                                  "fe-maxiter", "fe-method", "solver", "collin-tol", "family",
                                                  "offset", "boot", "boot-weights", "boot-seed", "cluster-diag"};
            return unknown_key(P, gr_yline(k), key, in, allowed, (int)(sizeof allowed / sizeof allowed[0]));
        }
    }
    if (!v->label && v->value) v->label = gr_strdup(v->value);
    if (!v->label) return gr_cfg_fail(P->path, v->line, "%s: needs a label (or a value)", in);
    return GR_OK;
}

/* Axis names are placeholder names: letters, digits and '_', not starting with a digit. */
static int is_name(const char *s, size_t len)
{
    if (len == 0 || len >= GR_NAME_MAX || isdigit((unsigned char)s[0])) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return 0;
    return 1;
}

/* One axis: its name and its list of values. */
static int parse_axis(pctx *P, yaml_document_t *d, const yaml_node_t *k, const yaml_node_t *list, axis *A)
{
    A->name = ytext(k);
    A->line = gr_yline(k);
    A->zip = -1;
    if (!is_name(A->name, strlen(A->name)))
        return gr_cfg_fail(P->path, A->line, "axis name '%s': expected letters, digits and '_' (it is written {%s})",
                     A->name, A->name);
    if (ynull(list) || (list->type == YAML_SEQUENCE_NODE && list->data.sequence.items.top == list->data.sequence.items.start))
        return gr_cfg_fail(P->path, gr_yline(list), "axis '%s' is empty (give it at least one value)", A->name);
    if (list->type != YAML_SEQUENCE_NODE)
        return gr_cfg_fail(P->path, gr_yline(list), "axis '%s': expected a list of values, got %s", A->name, gr_ykind(list));
    A->n = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    A->v = gr_calloc((size_t)A->n, sizeof *A->v);
    for (int i = 0; i < A->n; i++) {
        const yaml_node_t *e = ynode(d, list->data.sequence.items.start[i]);
        aval *v = &A->v[i];
        v->line = gr_yline(e);
        if (e->type == YAML_SCALAR_NODE && !ynull(e)) {
            v->label = ytext(e);
            scalar_value(e, v, v->line);
        } else if (e->type == YAML_MAPPING_NODE) {
            GR_CALL(parse_axis_map(P, d, A, e, v));
        } else {
            return gr_cfg_fail(P->path, v->line, "axis '%s': a value must be a text, a number or a mapping (label, value, "
                         "settings), got %s", A->name, ynull(e) ? "nothing" : gr_ykind(e));
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(A->v[j].label, v->label))
                return gr_cfg_fail(P->path, v->line, "axis '%s': label '%s' given twice (first at line %d)", A->name, v->label,
                             A->v[j].line);
    }
    return GR_OK;
}

/* axes: a mapping of axis names to lists of values (null: no axes). */
static int parse_axes(pctx *P, yaml_document_t *d, const yaml_node_t *map)
{
    if (ynull(map)) return GR_OK;
    if (map->type != YAML_MAPPING_NODE)
        return gr_cfg_fail(P->path, gr_yline(map), "axes: expected a mapping of axis names to lists of values, got %s", gr_ykind(map));
    GR_CALL(check_keys(P, d, map, "axes"));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        if (P->naxes == GR_GRID_MAX_AXES)
            return gr_cfg_fail(P->path, gr_yline(ynode(d, p->key)), "axes: at most %d axes", GR_GRID_MAX_AXES);
        GR_CALL(parse_axis(P, d, ynode(d, p->key), ynode(d, p->value), &P->ax[P->naxes++]));
    }
    return GR_OK;
}

static int axis_find(const pctx *P, const char *name, size_t len)
{
    for (int a = 0; a < P->naxes; a++)
        if (strlen(P->ax[a].name) == len && !strncmp(P->ax[a].name, name, len)) return a;
    return -1;
}

/* An axis name in cross: or zip: (a text naming an axis). */
static int axis_ref(const pctx *P, const yaml_node_t *n, const char *in, int *a)
{
    if (n->type != YAML_SCALAR_NODE) return gr_cfg_fail(P->path, gr_yline(n), "%s: expected axis names, got %s", in, gr_ykind(n));
    const char *name = (const char *)n->data.scalar.value;
    *a = axis_find(P, name, strlen(name));
    if (*a < 0) return gr_cfg_fail(P->path, gr_yline(n), "%s: no axis '%s' under axes:", in, name);
    return GR_OK;
}

static int parse_cross(pctx *P, yaml_document_t *d, const yaml_node_t *list)
{
    P->cross_given = 1;
    P->cross_line = gr_yline(list);
    if (list->type != YAML_SEQUENCE_NODE)
        return gr_cfg_fail(P->path, gr_yline(list), "cross: expected a list of axis names, got %s", gr_ykind(list));
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        int a;
        GR_CALL(axis_ref(P, ynode(d, *it), "cross", &a));
        for (int j = 0; j < P->ncross; j++)
            if (P->cross[j] == a) return gr_cfg_fail(P->path, gr_yline(ynode(d, *it)), "cross: axis '%s' listed twice", P->ax[a].name);
        P->cross[P->ncross++] = a;
    }
    return GR_OK;
}

static int parse_zip(pctx *P, yaml_document_t *d, const yaml_node_t *list)
{
    const char *shape = "zip: expected a list of lists of axis names, e.g. [[bw, cl]], got %s";
    if (list->type != YAML_SEQUENCE_NODE) return gr_cfg_fail(P->path, gr_yline(list), shape, gr_ykind(list));
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        const yaml_node_t *g = ynode(d, *it);
        if (g->type != YAML_SEQUENCE_NODE) return gr_cfg_fail(P->path, gr_yline(g), shape, gr_ykind(g));
        int n = (int)(g->data.sequence.items.top - g->data.sequence.items.start), first = -1;
        if (n < 2) return gr_cfg_fail(P->path, gr_yline(g), "zip: a group pairs two or more axes, got %d", n);
        P->zip_line[P->nzip] = gr_yline(g);
        for (int i = 0; i < n; i++) {
            const yaml_node_t *e = ynode(d, g->data.sequence.items.start[i]);
            int a;
            GR_CALL(axis_ref(P, e, "zip", &a));
            if (P->ax[a].zip >= 0) return gr_cfg_fail(P->path, gr_yline(e), "zip: axis '%s' is in two groups (or twice)", P->ax[a].name);
            P->ax[a].zip = P->nzip;
            if (first < 0) first = a;
            else if (P->ax[a].n != P->ax[first].n)
                return gr_cfg_fail(P->path, gr_yline(e), "zip: axis '%s' has %d values but '%s' has %d (zipped axes pair their "
                             "values one to one)", P->ax[a].name, P->ax[a].n, P->ax[first].name, P->ax[first].n);
        }
        P->nzip++;
    }
    return GR_OK;
}

/* The top-level mapping: data, title, base, axes, cross, zip (the last two after axes, whatever the order),
 * group-size, and the layout sections table and plot (mappings read by `gravrd table` / `gravrd plot`). */
static int parse_top(pctx *P, yaml_document_t *d, const yaml_node_t *root, gr_grid *g)
{
    enum { NTOP = 9 };
    static const char *const top[NTOP] = {"data", "title", "base", "axes", "cross", "zip", "group-size", "table", "plot"};
    if (root->type != YAML_MAPPING_NODE)
        return gr_cfg_fail(P->path, gr_yline(root), "expected a mapping with the keys data, title, base, axes, cross, zip; got %s",
                     gr_ykind(root));
    GR_CALL(check_keys(P, d, root, "the top level"));
    const yaml_node_t *node[NTOP] = {NULL};
    int kline[NTOP] = {0};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ynode(d, p->key);
        int i = 0;
        while (i < NTOP && strcmp((const char *)k->data.scalar.value, top[i])) i++;
        if (i == NTOP) return unknown_key(P, gr_yline(k), (const char *)k->data.scalar.value, "the top level", top, NTOP);
        node[i] = ynode(d, p->value);
        kline[i] = gr_yline(k);
    }
    for (int i = 0; i < 2; i++)
        if (node[i] && (node[i]->type != YAML_SCALAR_NODE || ynull(node[i])))
            return gr_cfg_fail(P->path, gr_yline(node[i]), "%s: expected a text, got %s", top[i],
                         ynull(node[i]) ? "nothing" : gr_ykind(node[i]));
    for (int i = 7; i < 9; i++)
        if (node[i] && node[i]->type != YAML_MAPPING_NODE)
            return gr_cfg_fail(P->path, gr_yline(node[i]), "%s: expected a mapping, got %s", top[i], gr_ykind(node[i]));
    if (node[6]) {
        long gs = 0;
        if (node[6]->type != YAML_SCALAR_NODE || gr_parse_long((const char *)node[6]->data.scalar.value, 1, 4096, &gs))
            return gr_cfg_fail(P->path, gr_yline(node[6]), "group-size: expected a whole number of ranks from 1 to 4096, got '%s'",
                         node[6]->type == YAML_SCALAR_NODE ? (const char *)node[6]->data.scalar.value : gr_ykind(node[6]));
        g->group_size = (int)gs;
    }
    if (node[0] && !g->data) { g->data = ytext(node[0]); g->data_line = gr_yline(node[0]); }
    if (!g->data) return gr_cfg_fail(P->path, 1, "no data: (the panel file) given");
    if (node[1]) g->title = ytext(node[1]);
    if (node[2]) { P->base_line = kline[2]; GR_CALL(parse_settings_map(P, d, node[2], "base", P->base)); }
    if (node[3]) { P->axes_line = kline[3]; GR_CALL(parse_axes(P, d, node[3])); }
    if (node[4]) GR_CALL(parse_cross(P, d, node[4]));
    if (node[5]) GR_CALL(parse_zip(P, d, node[5]));
    return GR_OK;
}

/* cfg.h: "<path>:<line>: <what>" (GR_EINPUT); line 0 names the file alone. */
int gr_cfg_fail(const char *path, int line, const char *fmt, ...)
{
    char where[4200], what[1200];
    if (line > 0) snprintf(where, sizeof where, "%s:%d", path, line);
    else snprintf(where, sizeof where, "%s", path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return gr_fail(GR_EINPUT, where, "%s", what);
}

/* ---------------- placeholders ---------------- */

/* The column-name prefixes whose last part is a bandwidth (derived.h). */
static int bandwidth_prefix(const char *word, size_t len)
{
    static const char *const pre[] = {"segment_", "segpair_", "ntreated_", "same_"};
    if (len == 0 || word[len - 1] != '_') return 0;
    for (int i = 0; i < 4; i++)
        if (len >= strlen(pre[i]) && !strncmp(word, pre[i], strlen(pre[i]))) return 1;
    return 0;
}

/* Check the placeholders of text (set at `line`; owner: the axis whose value it is, -1 for base): each
 * {name} names an axis other than the owner; mark the axes filled, and those filling a bandwidth. */
static int scan(pctx *P, const char *text, int line, int owner)
{
    if (!text) return GR_OK;
    for (const char *c = text; *c; c++) {
        if (*c == '}') return gr_cfg_fail(P->path, line, "'}' without '{' in '%s'", text);
        if (*c != '{') continue;
        const char *e = strchr(c + 1, '}');
        if (!e || !is_name(c + 1, (size_t)(e - c - 1)))
            return gr_cfg_fail(P->path, line, "'{' must start a placeholder {axis} (an axis name, then '}') in '%s'", text);
        int a = axis_find(P, c + 1, (size_t)(e - c - 1));
        if (a < 0) return gr_cfg_fail(P->path, line, "placeholder {%.*s} but no axis '%.*s' under axes:", (int)(e - c - 1), c + 1,
                                (int)(e - c - 1), c + 1);
        if (a == owner) return gr_cfg_fail(P->path, line, "axis '%s': a value refers to its own axis {%s}", P->ax[a].name, P->ax[a].name);
        P->ax[a].filled = 1;
        const char *w = c;
        while (w > text && (isalnum((unsigned char)w[-1]) || w[-1] == '_' || w[-1] == '.')) w--;
        if (!P->ax[a].bw_line && bandwidth_prefix(w, (size_t)(c - w))) {
            P->ax[a].bw_line = line;
            snprintf(P->ax[a].bw_prefix, sizeof P->ax[a].bw_prefix, "%.*s", (int)(c - w), w);
        }
        c = e;
    }
    return GR_OK;
}

static int scan_all(pctx *P)
{
    for (int k = 0; k < GR_GRID_NKEYS; k++) GR_CALL(scan(P, P->base[k].text, P->base[k].line, -1));
    for (int a = 0; a < P->naxes; a++)
        for (int i = 0; i < P->ax[a].n; i++) {
            aval *v = &P->ax[a].v[i];
            GR_CALL(scan(P, v->label, v->line, a));
            GR_CALL(scan(P, v->value, v->value_line, a));
            for (int k = 0; k < GR_GRID_NKEYS; k++) GR_CALL(scan(P, v->set[k].text, v->set[k].line, a));
        }
    return GR_OK;
}

/* Every axis is used: filled into a placeholder (then every value has a value) or setting something;
 * a bandwidth axis holds positive numbers spelled as derived column names are (%g). */
static int check_axes(const pctx *P)
{
    for (int a = 0; a < P->naxes; a++) {
        const axis *A = &P->ax[a];
        int sets = 0;
        for (int i = 0; i < A->n; i++) sets += A->v[i].nset;
        if (!A->filled && !sets)
            return gr_cfg_fail(P->path, A->line, "axis '%s' is never used: no {%s} placeholder, and its values set nothing",
                         A->name, A->name);
        for (int i = 0; A->filled && i < A->n; i++) {
            const aval *v = &A->v[i];
            if (!v->value)
                return gr_cfg_fail(P->path, v->line, "axis '%s': value '%s' has no value: to fill {%s}", A->name, v->label,
                             A->name);
            if (!A->bw_line) continue;
            char back[64];
            if (!(v->is_number && v->number > 0))
                return gr_cfg_fail(P->path, v->value_line, "axis '%s': bandwidth '%s' is not a positive number of km (it fills "
                             "%s{%s} at line %d)", A->name, v->value, A->bw_prefix, A->name, A->bw_line);
            snprintf(back, sizeof back, "%g", v->number);
            if (strcmp(back, v->value))
                return gr_cfg_fail(P->path, v->value_line, "axis '%s': bandwidth '%s' is not exactly representable in 6 "
                             "significant digits (the column would be named %s%s)", A->name, v->value, A->bw_prefix, back);
        }
    }
    return GR_OK;
}

/* The crossing units in order (cross:, else the axes' order), a zip group at its first member; the
 * number of specifications. */
static int build_units(pctx *P, int64_t *count)
{
    int order[GR_GRID_MAX_AXES], n = 0, placed[GR_GRID_MAX_AXES];
    for (int a = 0; a < P->naxes; a++) placed[a] = 0, P->ax[a].unit = -1;
    if (P->cross_given) {
        for (int i = 0; i < P->ncross; i++) order[n++] = P->cross[i];
        for (int a = 0; a < P->naxes; a++)
            if (P->ax[a].zip < 0 && !placed[a]) {
                int in = 0;
                for (int i = 0; i < P->ncross; i++) in |= P->cross[i] == a;
                if (!in) return gr_cfg_fail(P->path, P->cross_line, "axis '%s' is in neither cross nor zip (cross lists "
                                      "every crossed axis)", P->ax[a].name);
            }
        for (int a = 0; a < P->naxes; a++) if (P->ax[a].zip >= 0) order[n++] = a;  /* groups not listed: at the end */
    } else {
        for (int a = 0; a < P->naxes; a++) order[n++] = a;
    }
    *count = 1;
    P->nunits = 0;
    for (int i = 0; i < n; i++) {
        int a = order[i];
        if (P->ax[a].unit >= 0) continue;
        int u = P->nunits++;
        for (int b = 0; b < P->naxes; b++)
            if (b == a || (P->ax[a].zip >= 0 && P->ax[b].zip == P->ax[a].zip)) P->ax[b].unit = u;
        P->unit_len[u] = P->ax[a].n;
        *count *= P->ax[a].n;
        if (*count > GR_GRID_MAX_SPECS)
            return gr_cfg_fail(P->path, P->axes_line, "the axes expand to more than %d specifications", GR_GRID_MAX_SPECS);
    }
    return GR_OK;
}

/* Append text with its placeholders filled by the values picked (pick[a] for axis a); values may hold
 * placeholders of other axes (depth bounds a cycle). */
static int subst(const pctx *P, const int *pick, const char *text, int line, sbuf *out, int depth)
{
    if (depth > P->naxes) return gr_cfg_fail(P->path, line, "placeholders refer to each other in a cycle (in '%s')", text);
    for (const char *c = text; *c; c++) {
        if (*c != '{') { sb_add(out, c, 1); continue; }
        const char *e = strchr(c, '}');  /* checked by scan */
        int a = axis_find(P, c + 1, (size_t)(e - c - 1));
        const aval *v = &P->ax[a].v[pick[a]];
        GR_CALL(subst(P, pick, v->value, v->value_line, out, depth + 1));
        c = e;
    }
    if (!out->s) sb_add(out, "", 0);
    return GR_OK;
}

/* ---------------- resolving one specification ---------------- */

typedef struct {
    const pctx *P;
    const int *pick;
    gr_grid_spec *s;
    const raw *src[GR_GRID_NKEYS];
    const char *from_axis[GR_GRID_NKEYS];
    char spec_ctx[700];  /* " (specification 3: y=log(trade), bw=50)" */
    const char *ctx[GR_GRID_NKEYS];  /* per key: spec_ctx when its text had placeholders, else "" */
} resolver;

/* Which raw setting each key takes: the base's, replaced by an axis value's; two axes setting one key
 * conflict. The where clauses are collected apart. */
static int pick_sources(resolver *R)
{
    const pctx *P = R->P;
    for (int k = 0; k < GR_GRID_NKEYS; k++) {
        R->src[k] = P->base[k].set ? &P->base[k] : NULL;
        R->from_axis[k] = NULL;
        R->ctx[k] = "";
    }
    for (int a = 0; a < P->naxes; a++) {
        const aval *v = &P->ax[a].v[R->pick[a]];
        for (int k = 0; k < GR_GRID_NKEYS; k++) {
            if (k == GR_GRID_WHERE || !v->set[k].set) continue;
            if (R->from_axis[k])
                return gr_cfg_fail(P->path, v->set[k].line, "axes '%s' and '%s' both set %s (line %d and this one)%s",
                             R->from_axis[k], P->ax[a].name, key_names[k], R->src[k]->line, R->spec_ctx);
            R->src[k] = &v->set[k];
            R->from_axis[k] = P->ax[a].name;
        }
    }
    for (int k = 0; k < GR_GRID_NKEYS; k++)
        if (R->src[k] && R->src[k]->text && strchr(R->src[k]->text, '{')) R->ctx[k] = R->spec_ctx;
    return GR_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The where clauses: the base's and each picked value's, filled, parsed, canonical, sorted, duplicates
 * dropped; then and-ed into text[GR_GRID_WHERE]. */
static int resolve_where(resolver *R)
{
    const pctx *P = R->P;
    gr_grid_spec *s = R->s;
    const raw *w[GR_GRID_MAX_AXES + 1];
    int n = 0;
    if (P->base[GR_GRID_WHERE].text) w[n++] = &P->base[GR_GRID_WHERE];
    for (int a = 0; a < P->naxes; a++)
        if (P->ax[a].v[R->pick[a]].set[GR_GRID_WHERE].text) w[n++] = &P->ax[a].v[R->pick[a]].set[GR_GRID_WHERE];
    s->where_part = gr_calloc((size_t)n + 1, sizeof *s->where_part);
    s->where_line = gr_calloc((size_t)n + 1, sizeof *s->where_line);
    for (int i = 0; i < n; i++) {
        sbuf b = {0};
        gr_expr *e = NULL;
        int rc = subst(P, R->pick, w[i]->text, w[i]->line, &b, 0);
        if (!rc && gr_expr_parse(b.s, "where", &e)) rc = relocate(P->path, w[i]->line, strchr(w[i]->text, '{') ? R->spec_ctx : "");
        free(b.s);
        if (rc) return rc;
        char *t = gr_strdup(gr_expr_text(e));
        gr_expr_free(e);
        int dup = 0;
        for (int j = 0; j < s->nwhere && !dup; j++) dup = !strcmp(s->where_part[j], t);
        if (dup) { free(t); continue; }
        s->where_part[s->nwhere] = t;
        s->where_line[s->nwhere++] = w[i]->line;
    }
    /* sort the clauses (and their lines) by text: the id must not depend on the order of the axes */
    for (int i = 1; i < s->nwhere; i++)
        for (int j = i; j > 0 && cmp_str(&s->where_part[j - 1], &s->where_part[j]) > 0; j--) {
            char *t = s->where_part[j]; s->where_part[j] = s->where_part[j - 1]; s->where_part[j - 1] = t;
            int l = s->where_line[j]; s->where_line[j] = s->where_line[j - 1]; s->where_line[j - 1] = l;
        }
    if (s->nwhere == 0) return GR_OK;
    sbuf all = {0};
    for (int i = 0; i < s->nwhere; i++) {
        if (i) sb_str(&all, " && ");
        if (s->nwhere > 1) sb_str(&all, "(");
        sb_str(&all, s->where_part[i]);
        if (s->nwhere > 1) sb_str(&all, ")");
    }
    gr_expr *e = NULL;
    int rc = gr_expr_parse(all.s, "where", &e);
    if (rc) rc = relocate(P->path, s->where_line[0], R->spec_ctx);
    else s->text[GR_GRID_WHERE] = gr_strdup(gr_expr_text(e));
    gr_expr_free(e);
    free(all.s);
    s->line[GR_GRID_WHERE] = s->where_line[0];
    return rc;
}

/* "a, b" or [a, b] -> "a,b" (the form --cluster takes). */
static void tidy_cluster(char *t)
{
    char *o = t;
    for (char *c = t; *c; c++)
        if (!isspace((unsigned char)*c)) *o++ = *c;
    *o = 0;
}

static int choice(const resolver *R, int k, const choice_word *w, int *out)
{
    const char *t = R->s->text[k];
    for (int i = 0; w[i].word; i++)
        if (!strcasecmp(w[i].word, t)) { *out = w[i].value; return GR_OK; }
    char list[256] = "";
    size_t n = 0;
    for (int i = 0; w[i].word && n < sizeof list; i++) {
        int canonical = 1;
        for (int j = 0; j < i; j++) canonical &= w[j].value != w[i].value;
        if (canonical) n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", w[i].word);
    }
    return gr_cfg_fail(R->P->path, R->s->line[k], "%s: expected one of %s, got '%s'%s", key_names[k], list, t, R->ctx[k]);
}

static int number(const resolver *R, int k, double lo, double hi, int integer, double *out)
{
    const char *t = R->s->text[k];
    if (!decimal_number(t, out) || *out < lo || *out > hi || (integer && *out != floor(*out)) || (!integer && *out <= 0))
        return integer ? gr_cfg_fail(R->P->path, R->s->line[k], "%s: expected an integer from %.0f to %.0f, got '%s'%s",
                               key_names[k], lo, hi, t, R->ctx[k])
                       : gr_cfg_fail(R->P->path, R->s->line[k], "%s: expected a positive number, got '%s'%s", key_names[k], t,
                               R->ctx[k]);
    return GR_OK;
}

/* The typed settings into the gr_spec: texts borrowed, choices and numbers checked. */
/* command: rdgrid takes no formula (its outcome is options: y:) and, of the settings, only where. */
static int rdgrid_spec(resolver *R)
{
    gr_grid_spec *s = R->s;
    for (int k = 0; k < GR_GRID_NKEYS; k++)
        if (s->text[k] && k != GR_GRID_WHERE && k != GR_GRID_COMMAND && k != GR_GRID_OPTIONS)
            return gr_cfg_fail(R->P->path, s->line[k], "%s: not a setting of command rdgrid (it takes where: and options:, "
                         "e.g. options: {y: log(trade), bandwidth: 100})%s", key_names[k], R->spec_ctx);
    if (!s->text[GR_GRID_OPTIONS] || !strstr(s->text[GR_GRID_OPTIONS], "--y ") || !strstr(s->text[GR_GRID_OPTIONS], "--bandwidth "))
        return gr_cfg_fail(R->P->path, s->line[GR_GRID_COMMAND], "command rdgrid needs options: y: and bandwidth:%s", R->spec_ctx);
    s->spec.where_text = s->text[GR_GRID_WHERE];
    s->spec.model.vcov = GR_VCOV_CLUSTER;  /* rdgrid clusters by pair (docs/design.md) */
    s->spec.ncl = 1;
    snprintf(s->spec.clnames[0], GR_NAME_MAX, "pair");
    return GR_OK;
}

/* command: summary (gravrd summary) takes where: and options: (vars:, level:, by:); vars: is required. */
static int summary_spec(resolver *R)
{
    gr_grid_spec *s = R->s;
    for (int k = 0; k < GR_GRID_NKEYS; k++)
        if (s->text[k] && k != GR_GRID_WHERE && k != GR_GRID_COMMAND && k != GR_GRID_OPTIONS)
            return gr_cfg_fail(R->P->path, s->line[k], "%s: not a setting of command summary (it takes where: and options:, "
                         "e.g. options: {vars: \"trade,deals\", level: rows})%s", key_names[k], R->spec_ctx);
    if (!s->text[GR_GRID_OPTIONS] || !strstr(s->text[GR_GRID_OPTIONS], "--vars "))
        return gr_cfg_fail(R->P->path, s->line[GR_GRID_COMMAND], "command summary needs options: vars:%s", R->spec_ctx);
    s->spec.where_text = s->text[GR_GRID_WHERE];
    return GR_OK;
}

/* The wild cluster bootstrap keys (wildboot.h): boot (draws), boot-weights and boot-seed, which need boot. */
static int boot_settings(resolver *R)
{
    gr_grid_spec *s = R->s;
    gr_boot_opts *b = &s->spec.model.boot;
    char **t = s->text;
    double x;
    int v;
    *b = (gr_boot_opts){.B = 0, .weights = GR_BOOT_RADEMACHER, .seed = 1, .level = 0.95};
    if (t[GR_GRID_BOOT]) { GR_CALL(number(R, GR_GRID_BOOT, 0, 1e6, 1, &x)); b->B = (int64_t)x; }
    if (t[GR_GRID_BOOT_WEIGHTS]) { GR_CALL(choice(R, GR_GRID_BOOT_WEIGHTS, boot_words, &v)); b->weights = v; }
    if (t[GR_GRID_BOOT_SEED]) { GR_CALL(number(R, GR_GRID_BOOT_SEED, 0, 9007199254740991.0, 1, &x)); b->seed = (int64_t)x; }
    for (int k = GR_GRID_BOOT_WEIGHTS; k <= GR_GRID_BOOT_SEED; k++)
        if (t[k] && b->B == 0)
            return gr_cfg_fail(R->P->path, s->line[k], "%s: needs boot: B (B > 0)%s", key_names[k], R->spec_ctx);
    return GR_OK;
}

static int fill_spec(resolver *R, const char *data)
{
    gr_grid_spec *s = R->s;
    gr_spec *sp = &s->spec;
    gr_spec_defaults(sp);
    sp->data = data;
    char **t = s->text;
    int v;
    double x;
    if (t[GR_GRID_COMMAND]) { GR_CALL(choice(R, GR_GRID_COMMAND, command_words, &v)); s->command = (gr_grid_command)v; }
    if (t[GR_GRID_OPTIONS] && s->command == GR_GRID_CMD_ESTIMATE)
        return gr_cfg_fail(R->P->path, s->line[GR_GRID_OPTIONS], "options: only for command: match, rdgrid, summary or mediate (estimate's "
                     "options are settings of their own: formula:, cluster:, ...)%s", R->spec_ctx);
    if (t[GR_GRID_CLUSTER_DIAG] && s->command != GR_GRID_CMD_ESTIMATE)
        return gr_cfg_fail(R->P->path, s->line[GR_GRID_CLUSTER_DIAG], "cluster-diag: only for command: estimate%s",
                           R->spec_ctx);
    if (t[GR_GRID_FAMILY] && s->command != GR_GRID_CMD_ESTIMATE)
        return gr_cfg_fail(R->P->path, s->line[GR_GRID_FAMILY], "family: only for command: estimate%s", R->spec_ctx);
    if (t[GR_GRID_OFFSET] && s->command != GR_GRID_CMD_ESTIMATE)
        return gr_cfg_fail(R->P->path, s->line[GR_GRID_OFFSET], "offset: only for command: estimate%s", R->spec_ctx);
    for (int k = GR_GRID_BOOT; k <= GR_GRID_BOOT_SEED; k++)
        if (t[k] && s->command != GR_GRID_CMD_ESTIMATE)
            return gr_cfg_fail(R->P->path, s->line[k], "%s: only for command: estimate%s", key_names[k], R->spec_ctx);
    if (s->command == GR_GRID_CMD_RDGRID) return rdgrid_spec(R);
    if (s->command == GR_GRID_CMD_SUMMARY) return summary_spec(R);
    if (!t[GR_GRID_FORMULA])
        return gr_cfg_fail(R->P->path, R->P->base_line ? R->P->base_line : 1, "no formula: give base: formula: (or one in a value of every "
                     "specification)%s", R->spec_ctx);
    if (t[GR_GRID_SPLIT] && t[GR_GRID_FSPLIT])
        return gr_cfg_fail(R->P->path, s->line[GR_GRID_FSPLIT], "split and fsplit exclude each other%s", R->spec_ctx);
    if (t[GR_GRID_CLUSTER]) tidy_cluster(t[GR_GRID_CLUSTER]);
    sp->formula_text = t[GR_GRID_FORMULA];
    sp->where_text = t[GR_GRID_WHERE];
    sp->cluster_text = t[GR_GRID_CLUSTER] && *t[GR_GRID_CLUSTER] ? t[GR_GRID_CLUSTER] : NULL;
    sp->weights_text = t[GR_GRID_WEIGHTS];
    sp->offset_text = t[GR_GRID_OFFSET];
    sp->split = t[GR_GRID_SPLIT] ? t[GR_GRID_SPLIT] : t[GR_GRID_FSPLIT];
    sp->fsplit = t[GR_GRID_FSPLIT] != NULL;
    gr_model_opts *m = &sp->model;
    if (t[GR_GRID_VCOV]) { GR_CALL(choice(R, GR_GRID_VCOV, vcov_words, &v)); m->vcov = (gr_vcov_type)v; sp->vcov_set = 1; }
    if (t[GR_GRID_FIXEF_RM]) { GR_CALL(choice(R, GR_GRID_FIXEF_RM, fixef_words, &v)); m->absorb.rm_singletons = v; }
    if (t[GR_GRID_FE_METHOD]) { GR_CALL(choice(R, GR_GRID_FE_METHOD, method_words, &v)); m->absorb.method = (gr_fe_method)v; }
    if (t[GR_GRID_SOLVER]) { GR_CALL(choice(R, GR_GRID_SOLVER, solver_words, &v)); m->fit.solver = (gr_solver)v; }
    if (t[GR_GRID_FE_TOL]) { GR_CALL(number(R, GR_GRID_FE_TOL, 0, HUGE_VAL, 0, &x)); m->absorb.tol = x; }
    if (t[GR_GRID_COLLIN_TOL]) { GR_CALL(number(R, GR_GRID_COLLIN_TOL, 0, HUGE_VAL, 0, &x)); m->fit.collin_tol = x; }
    if (t[GR_GRID_FE_MAXITER]) { GR_CALL(number(R, GR_GRID_FE_MAXITER, 1, 1e8, 1, &x)); m->absorb.maxiter = (int)x; }
    if (t[GR_GRID_FAMILY]) { GR_CALL(choice(R, GR_GRID_FAMILY, family_words, &v)); sp->family = v; }
    if (t[GR_GRID_CLUSTER_DIAG]) { GR_CALL(choice(R, GR_GRID_CLUSTER_DIAG, cluster_diag_words, &v)); m->cluster_diag = v; }
    return boot_settings(R);
}

/* The key of the setting an error of gr_spec_resolve names ("formula: ...", "--cluster: ..."). */
static int error_key(const char *msg)
{
    static const struct { const char *prefix; int key; } map[] = {
        {"formula:", GR_GRID_FORMULA}, {"--where:", GR_GRID_WHERE}, {"--cluster:", GR_GRID_CLUSTER},
        {"--vcov:", GR_GRID_VCOV}, {"--weights:", GR_GRID_WEIGHTS}, {"--split:", GR_GRID_SPLIT},
        {"--offset:", GR_GRID_OFFSET}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strncmp(msg, map[i].prefix, strlen(map[i].prefix))) return map[i].key;
    return GR_GRID_FORMULA;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ULL; }
    return h;
}

uint64_t gr_grid_hash(const char *text) { return fnv1a(text); }

/* Resolve specification `idx` (values pick[]) into *s: label, texts with their lines, gr_spec, id. */
static int resolve_spec(const pctx *P, const int *pick, int idx, const char *data, gr_grid_spec *s)
{
    resolver R = {.P = P, .pick = pick, .s = s};
    s->index = idx;
    s->pick = gr_malloc((size_t)(P->naxes ? P->naxes : 1), sizeof *s->pick);
    memcpy(s->pick, pick, (size_t)P->naxes * sizeof *pick);
    sbuf lab = {0};
    s->axis_label = gr_calloc((size_t)(P->naxes ? P->naxes : 1), sizeof *s->axis_label);
    s->naxis_label = P->naxes;
    for (int a = 0; a < P->naxes; a++) {
        if (a) sb_str(&lab, ", ");
        sb_str(&lab, P->ax[a].name);
        sb_str(&lab, "=");
        const aval *v = &P->ax[a].v[pick[a]];
        sbuf one = {0};
        GR_CALL(subst(P, pick, v->label, v->line, &one, 1));
        s->axis_label[a] = one.s ? one.s : gr_strdup("");
        sb_str(&lab, s->axis_label[a]);
    }
    s->label = lab.s ? lab.s : gr_strdup("");
    if (P->naxes) snprintf(R.spec_ctx, sizeof R.spec_ctx, " (specification %d: %s)", idx + 1, s->label);
    GR_CALL(pick_sources(&R));
    for (int k = 0; k < GR_GRID_NKEYS; k++) {
        if (k == GR_GRID_WHERE || !R.src[k]) continue;
        s->line[k] = R.src[k]->line;
        if (!R.src[k]->text) continue;
        sbuf b = {0};
        int rc = subst(P, pick, R.src[k]->text, R.src[k]->line, &b, 0);
        s->text[k] = b.s;
        if (rc) return rc;
    }
    GR_CALL(resolve_where(&R));
    GR_CALL(fill_spec(&R, data));
    if (s->command != GR_GRID_CMD_RDGRID && s->command != GR_GRID_CMD_SUMMARY && gr_spec_resolve(&s->spec)) {
        int k = error_key(gr_errmsg());
        if (k == GR_GRID_SPLIT && !s->text[k]) k = GR_GRID_FSPLIT;
        return relocate(P->path, s->line[k] ? s->line[k] : P->base_line, R.ctx[k]);
    }
    const gr_spec *sp = &s->spec;
    if (s->command == GR_GRID_CMD_ESTIMATE && !gr_vcov_clustered(sp->model.vcov) && sp->ncl > 0)  /* not dropped */
        return gr_cfg_fail(P->path, s->line[GR_GRID_VCOV], "vcov: %s with cluster: %s (line %d), which it would not "
                           "use: give cluster: ~ with it, or vcov: cluster%s", gr_vcov_word(sp->model.vcov),
                           sp->cluster_text, s->line[GR_GRID_CLUSTER], R.spec_ctx);
    if (s->command == GR_GRID_CMD_ESTIMATE && gr_boot_check(&sp->model.boot, "boot", sp->model.vcov, sp->ncl,
                                                            sp->model.cluster_on_fe, sp->family == GR_FAMILY_POISSON))
        return relocate(P->path, s->line[GR_GRID_BOOT], R.ctx[GR_GRID_BOOT]);
    char canon[8192];
    gr_grid_canonical(s, canon, sizeof canon);
    snprintf(s->id, sizeof s->id, "%016llx", (unsigned long long)fnv1a(canon));
    return GR_OK;
}

static int cmp_spec_id(const void *a, const void *b)
{
    const gr_grid_spec *x = *(gr_grid_spec *const *)a, *y = *(gr_grid_spec *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Two specifications with one id resolve to the same settings: name both, at the line of the first axis
 * value where they differ. */
static int check_duplicates(const pctx *P, gr_grid *g)
{
    gr_grid_spec **by = gr_malloc((size_t)(g->nspecs ? g->nspecs : 1), sizeof *by);
    for (int i = 0; i < g->nspecs; i++) by[i] = &g->specs[i];
    qsort(by, (size_t)g->nspecs, sizeof *by, cmp_spec_id);
    int rc = GR_OK;
    for (int i = 1; i < g->nspecs && !rc; i++) {
        const gr_grid_spec *x = by[i - 1], *y = by[i];
        if (strcmp(x->id, y->id)) continue;
        int line = P->axes_line;
        for (int a = 0; a < P->naxes; a++)
            if (x->pick[a] != y->pick[a]) { line = P->ax[a].v[y->pick[a]].line; break; }
        rc = gr_cfg_fail(P->path, line, "duplicate id %s: specifications %d (%s) and %d (%s) resolve to the same settings",
                   x->id, x->index + 1, x->label, y->index + 1, y->label);
    }
    free(by);
    return rc;
}

/* Expand every combination (the last unit varies fastest) and resolve it. */
static int expand(const pctx *P, int64_t count, gr_grid *g)
{
    g->specs = gr_calloc((size_t)count, sizeof *g->specs);
    int digit[GR_GRID_MAX_AXES] = {0}, pick[GR_GRID_MAX_AXES];
    for (int64_t i = 0; i < count; i++) {
        for (int a = 0; a < P->naxes; a++) pick[a] = digit[P->ax[a].unit];
        g->nspecs++;
        GR_CALL(resolve_spec(P, pick, (int)i, g->data, &g->specs[i]));  /* i < GR_GRID_MAX_SPECS */
        for (int u = P->nunits - 1; u >= 0; u--) {
            if (++digit[u] < P->unit_len[u]) break;
            digit[u] = 0;
        }
    }
    return check_duplicates(P, g);
}

/* The axes as written, kept for the command (value labels and lines). */
static void keep_axes(const pctx *P, gr_grid *g)
{
    g->naxes = P->naxes;
    g->axes = gr_calloc((size_t)(P->naxes ? P->naxes : 1), sizeof *g->axes);
    for (int a = 0; a < P->naxes; a++) {
        gr_grid_axis *A = &g->axes[a];
        A->name = gr_strdup(P->ax[a].name);
        A->line = P->ax[a].line;
        A->nvalues = P->ax[a].n;
        A->value_label = gr_calloc((size_t)A->nvalues, sizeof *A->value_label);
        A->value_line = gr_calloc((size_t)A->nvalues, sizeof *A->value_line);
        for (int i = 0; i < A->nvalues; i++) {
            A->value_label[i] = gr_strdup(P->ax[a].v[i].label);
            A->value_line[i] = P->ax[a].v[i].line;
        }
    }
}

static void pctx_free(pctx *P)
{
    for (int k = 0; k < GR_GRID_NKEYS; k++) free(P->base[k].text);
    for (int a = 0; a < P->naxes; a++) {
        for (int i = 0; i < P->ax[a].n; i++) {
            aval *v = &P->ax[a].v[i];
            free(v->label);
            free(v->value);
            for (int k = 0; k < GR_GRID_NKEYS; k++) free(v->set[k].text);
        }
        free(P->ax[a].v);
        free(P->ax[a].name);
    }
}

/* The YAML document of text (one document; a syntax error names its line). */
static int load_yaml(const char *path, const char *text, size_t len, yaml_document_t *doc)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return gr_cfg_fail(path, 0, "cannot start the YAML parser (out of memory)");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = GR_OK;
    if (!yaml_parser_load(&parser, doc)) {
        int line = (int)(parser.problem_mark.line + 1);
        char ctx[160] = "";
        if (parser.context)
            snprintf(ctx, sizeof ctx, " %s (from line %d)", parser.context, (int)(parser.context_mark.line + 1));
        rc = gr_cfg_fail(path, line, "YAML syntax error: %s%s", parser.problem ? parser.problem : "unreadable", ctx);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_document_t next;
    if (yaml_document_get_root_node(doc) && yaml_parser_load(&parser, &next)) {
        yaml_node_t *r = yaml_document_get_root_node(&next);
        if (r) rc = gr_cfg_fail(path, gr_yline(r), "a second YAML document ('---'); a config is one document");
        yaml_document_delete(&next);
    }
    yaml_parser_delete(&parser);
    if (rc) yaml_document_delete(doc);
    return rc;
}

int gr_grid_parse(const char *path, const char *text, size_t len, const char *data_override, gr_grid *g)
{
    memset(g, 0, sizeof *g);
    g->path = gr_strdup(path);
    if (data_override) g->data = gr_strdup(data_override);
    yaml_document_t doc;
    if (load_yaml(path, text, len, &doc)) {
        gr_grid_free(g);
        return GR_EINPUT;
    }
    pctx *P = gr_calloc(1, sizeof *P);
    P->path = g->path;
    int rc = GR_OK;
    int64_t count = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) rc = gr_cfg_fail(path, 1, "the config is empty (expected data:, base:, axes:)");
    if (!rc) rc = parse_top(P, &doc, root, g);
    yaml_document_delete(&doc);
    if (!rc) rc = scan_all(P);
    if (!rc) rc = check_axes(P);
    if (!rc) rc = build_units(P, &count);
    if (!rc) keep_axes(P, g);
    if (!rc) rc = expand(P, count, g);
    pctx_free(P);
    free(P);
    if (rc) gr_grid_free(g);
    return rc;
}

/* Rank 0's read of the file: at most CONFIG_MAX_BYTES. */
static int read_config(const char *path, char **buf, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return gr_fail(GR_EIO, path, "cannot open the config: %s", strerror(errno));
    char *b = gr_malloc(CONFIG_MAX_BYTES + 1, 1);
    size_t n = fread(b, 1, CONFIG_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > CONFIG_MAX_BYTES) {
        free(b);
        return bad ? gr_fail(GR_EIO, path, "cannot read the config") : gr_fail(GR_EINPUT, path, "config larger than 16 MB");
    }
    b[n] = 0;
    *buf = b;
    *len = (long)n;
    return GR_OK;
}

int gr_grid_load(MPI_Comm comm, const char *path, const char *data_override, gr_grid *g)
{
    memset(g, 0, sizeof *g);
    int rank;
    MPI_Comm_rank(comm, &rank);
    char *buf = NULL;
    long len = 0;
    int rc = rank == 0 ? read_config(path, &buf, &len) : GR_OK;
    GR_CALL(gr_agree(comm, rc));
    MPI_Bcast(&len, 1, MPI_LONG, 0, comm);
    if (rank != 0) buf = gr_malloc((size_t)len + 1, 1);
    MPI_Bcast(buf, (int)len, MPI_CHAR, 0, comm);  /* len <= CONFIG_MAX_BYTES: fits */
    buf[len] = 0;
    rc = gr_grid_parse(path, buf, (size_t)len, data_override, g);
    free(buf);
    return gr_agree(comm, rc);
}

int gr_grid_find(const gr_grid *g, const char *id)
{
    for (int i = 0; i < g->nspecs; i++)
        if (!strcmp(g->specs[i].id, id)) return i;
    return -1;
}

/* The formula as one canonical text: outcomes, terms, intercept, fixed effects (spacing normalized). */
static void canonical_formula(const gr_formula *f, sbuf *b)
{
    if (f->ny > 1) sb_str(b, "c(");
    for (int j = 0; j < f->ny; j++) { if (j) sb_str(b, ", "); sb_str(b, f->ylabel[j]); }
    if (f->ny > 1) sb_str(b, ")");
    sb_str(b, " ~ ");
    if (!f->intercept && f->nfe == 0) sb_str(b, f->nx ? "0 + " : "0");
    if (f->intercept && f->nx == 0) sb_str(b, "1");
    for (int j = 0; j < f->nx; j++) { if (j) sb_str(b, " + "); sb_str(b, f->x[j].label); }
    for (int k = 0; k < f->nfe; k++) { sb_str(b, k ? " + " : " | "); sb_str(b, f->fe[k].label); }
}

static const char *word_of(const choice_word *w, int v)
{
    for (int i = 0; w[i].word; i++)
        if (w[i].value == v) return w[i].word;
    return "?";
}

void gr_grid_canonical(const gr_grid_spec *s, char *buf, size_t len)
{
    const gr_spec *sp = &s->spec;
    const gr_model_opts *m = &sp->model;
    sbuf b = {0};
    char num[64], line[128];
    char cl[2 * GR_NAME_MAX + 2] = "";
    if (sp->ncl == 1) snprintf(cl, sizeof cl, "%s", sp->clnames[0]);
    if (sp->ncl == 2) {  /* two-way clustering is symmetric */
        int o = strcmp(sp->clnames[0], sp->clnames[1]) > 0;
        snprintf(cl, sizeof cl, "%s,%s", sp->clnames[o], sp->clnames[1 - o]);
    }
    /* keys in alphabetical order; the bootstrap's only when it is on, so that other ids stay what they were */
    if (m->boot.B > 0) {
        snprintf(line, sizeof line, "boot=%lld\nboot-seed=%lld\nboot-weights=%s\n", (long long)m->boot.B,
                 (long long)m->boot.seed, word_of((const choice_word *)boot_words, m->boot.weights));
        sb_str(&b, line);
    }
    /* cluster-diag only when not auto, so that the other ids stay what they were */
    sb_str(&b, "cluster="); sb_str(&b, cl);
    if (m->cluster_diag != GR_LEV_DIAG_AUTO) {
        sb_str(&b, "\ncluster-diag="); sb_str(&b, word_of(cluster_diag_words, m->cluster_diag));
    }
    num_text(m->fit.collin_tol, num, sizeof num);
    /* family only when not the default, so that the ids of least-squares specifications stay what they were */
    snprintf(line, sizeof line, "\ncollin-tol=%s\n%sfe-maxiter=%d\nfe-method=%s\n", num,
             sp->family == GR_FAMILY_POISSON ? "family=poisson\n" : "", m->absorb.maxiter,
             word_of(method_words, m->absorb.method));
    sb_str(&b, line);
    num_text(m->absorb.tol, num, sizeof num);
    snprintf(line, sizeof line, "fe-tol=%s\nfixef-rm=%s\nformula=", num, word_of(fixef_words, m->absorb.rm_singletons));
    sb_str(&b, line);
    canonical_formula(&sp->f, &b);
    sb_str(&b, "\nfsplit="); if (sp->fsplit) sb_str(&b, sp->split);
    /* offset only when set, so that the ids of specifications without one stay what they were */
    if (sp->offset) { sb_str(&b, "\noffset="); sb_str(&b, gr_expr_text(sp->offset)); }
    sb_str(&b, "\nsolver="); sb_str(&b, word_of(solver_words, m->fit.solver));
    sb_str(&b, "\nsplit="); if (sp->split && !sp->fsplit) sb_str(&b, sp->split);
    sb_str(&b, "\nvcov="); sb_str(&b, word_of(vcov_words, m->vcov));
    sb_str(&b, "\nweights="); if (sp->weights) sb_str(&b, gr_expr_text(sp->weights));
    sb_str(&b, "\nwhere="); if (s->text[GR_GRID_WHERE]) sb_str(&b, s->text[GR_GRID_WHERE]);
    sb_str(&b, "\n");
    if (s->command != GR_GRID_CMD_ESTIMATE) {  /* only then: the ids of estimate specifications stay as they were */
        sb_str(&b, "command="); sb_str(&b, word_of(command_words, s->command));
        sb_str(&b, "\noptions="); if (s->text[GR_GRID_OPTIONS]) sb_str(&b, s->text[GR_GRID_OPTIONS]);
        sb_str(&b, "\n");
    }
    snprintf(buf, len, "%s", b.s);
    free(b.s);
}

void gr_grid_free(gr_grid *g)
{
    for (int i = 0; g->specs && i < g->nspecs; i++) {
        gr_grid_spec *s = &g->specs[i];
        gr_spec_free(&s->spec);
        free(s->label);
        free(s->pick);
        for (int a = 0; a < s->naxis_label; a++) free(s->axis_label[a]);
        free(s->axis_label);
        for (int k = 0; k < GR_GRID_NKEYS; k++) free(s->text[k]);
        for (int j = 0; j < s->nwhere; j++) free(s->where_part[j]);
        free(s->where_part);
        free(s->where_line);
    }
    for (int a = 0; g->axes && a < g->naxes; a++) {
        for (int i = 0; i < g->axes[a].nvalues; i++) free(g->axes[a].value_label[i]);
        free(g->axes[a].value_label);
        free(g->axes[a].value_line);
        free(g->axes[a].name);
    }
    free(g->specs);
    free(g->axes);
    free(g->path);
    free(g->data);
    free(g->title);
    memset(g, 0, sizeof *g);
}

/* ---------------- columns (the panel) ---------------- */

typedef struct {
    const gr_grid *g;
    gr_panel *p;
    const gr_grid_spec *s;
    int line;
    const char *what;    /* "formula", "where", ... */
    char **ok;           /* names found already */
    int nok;
} colcheck;

/* "where, specification 3: y=log(trade)" (the setting alone when the grid has no axes). */
static void context(const colcheck *C, char *buf, size_t len)
{
    if (C->g->naxes) snprintf(buf, len, "%s, specification %d: %s", C->what, C->s->index + 1, C->s->label);
    else snprintf(buf, len, "%s", C->what);
}

/* Column `name` exists in the panel (derived ones are derived here), else "unknown column" at C->line. */
static int check_name(colcheck *C, const char *name)
{
    for (int i = 0; i < C->nok; i++)
        if (!strcmp(C->ok[i], name)) return GR_OK;
    if (gr_panel_has_column(C->p, name)) {
        C->ok = gr_realloc(C->ok, (size_t)C->nok + 1, sizeof *C->ok);
        C->ok[C->nok++] = gr_strdup(name);
        return GR_OK;
    }
    char ctx[800];
    context(C, ctx, sizeof ctx);
    if (gr_errcode() != GR_OK) {  /* a derived column's own complaint (its bandwidth, its attribute) */
        char why[1024];
        snprintf(why, sizeof why, "%s", gr_errmsg());
        gr_clear_error();
        return gr_cfg_fail(C->g->path, C->line, "%s (%s)", why, ctx);
    }
    return gr_cfg_fail(C->g->path, C->line, "unknown column '%s' in %s (%s)", name, C->p->path, ctx);
}

static int label_code(void *arg, const char *column, const char *label, double *code)
{
    colcheck *C = arg;
    int n;
    char **labels = gr_panel_labels(C->p, column, &n);
    for (int k = 0; labels && k < n; k++)
        if (labels[k] && !strcmp(labels[k], label)) { *code = k; return GR_OK; }
    char ctx[800];
    context(C, ctx, sizeof ctx);
    return gr_cfg_fail(C->g->path, C->line, "column '%s' has %s \"%s\" in %s (%s)", column,
                 labels ? "no label" : "no text labels to compare with", label, C->p->path, ctx);
}

/* The columns of expression e, and the text labels it compares with. */
static int check_expr(colcheck *C, gr_expr *e)
{
    for (int q = 0; e && q < gr_expr_ncolumns(e); q++) GR_CALL(check_name(C, gr_expr_column(e, q)));
    return e ? gr_expr_bind_labels(e, label_code, C) : GR_OK;
}

static int check_spec(colcheck *C, const gr_grid_spec *s)
{
    gr_formula *f = (gr_formula *)&s->spec.f;  /* binding labels stores their codes in the expressions */
    C->s = s;
    C->what = "formula";
    C->line = s->line[GR_GRID_FORMULA];
    for (int j = 0; j < f->ny; j++) GR_CALL(check_expr(C, f->y[j]));
    for (int j = 0; j < f->nx; j++)
        for (int r = 0; r < f->x[j].nfactors; r++) GR_CALL(check_expr(C, f->x[j].factors[r]));
    for (int k = 0; k < f->nfe; k++)
        for (int q = 0; q < f->fe[k].nvars; q++) GR_CALL(check_name(C, f->fe[k].vars[q]));
    C->what = "cluster";
    C->line = s->line[GR_GRID_CLUSTER];
    for (int c = 0; c < s->spec.ncl; c++) GR_CALL(check_name(C, s->spec.clnames[c]));
    C->what = "weights";
    C->line = s->line[GR_GRID_WEIGHTS];
    GR_CALL(check_expr(C, s->spec.weights));
    C->what = "offset";
    C->line = s->line[GR_GRID_OFFSET];
    GR_CALL(check_expr(C, s->spec.offset));
    C->what = s->spec.fsplit ? "fsplit" : "split";
    C->line = s->line[s->spec.fsplit ? GR_GRID_FSPLIT : GR_GRID_SPLIT];
    GR_CALL(check_expr(C, s->spec.split_expr));
    C->what = "where";
    for (int i = 0; i < s->nwhere; i++) {  /* clause by clause, to name the line of the one at fault */
        gr_expr *e = NULL;
        GR_CALL(gr_expr_parse(s->where_part[i], "where", &e));  /* parsed before: cannot fail */
        C->line = s->where_line[i];
        int rc = check_expr(C, e);
        gr_expr_free(e);
        if (rc) return rc;
    }
    return GR_OK;
}

int gr_grid_check_columns(MPI_Comm comm, gr_grid *g)
{
    gr_panel p;
    int rc = gr_panel_open(comm, g->data, &p);
    if (rc) {
        if (gr_errmsg()[0]) rc = relocate(g->path, g->data_line, "");  /* the rank holding the message */
        return gr_agree(comm, rc);
    }
    colcheck C = {.g = g, .p = &p};
    for (int i = 0; i < g->nspecs && !rc; i++) rc = check_spec(&C, &g->specs[i]);
    for (int i = 0; i < C.nok; i++) free(C.ok[i]);
    free(C.ok);
    gr_panel_close(&p);
    return gr_agree(comm, rc);
}
