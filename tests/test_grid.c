/* test_grid.c: grid configurations (grid.h, docs/grid.md): expansion counts and order, crossing and
 * zipping, placeholders (nested, numbers in canonical spelling), ids stable under reordered keys and
 * changed by a changed setting, and every bad-config case: one error naming the file, the line and the
 * problem. In-process on one rank (run directly); configs are written to a temporary directory, and a
 * small simulated panel there serves the column checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "grid.h"
#include "simulate.h"

static char dir[64], panel[128];

/* Write `text` to <dir>/<name>; the path in a static buffer. */
static const char *write_cfg(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Load config `text` (as file `name`) against the test panel; with check = 1 also check its columns. */
static int load(const char *name, const char *text, int check, gr_grid *g)
{
    gr_clear_error();
    int rc = gr_grid_load(MPI_COMM_WORLD, write_cfg(name, text), panel, g);
    if (!rc && check) rc = gr_grid_check_columns(MPI_COMM_WORLD, g);
    return rc;
}

static const char *label(const gr_grid *g, int i) { return g->specs[i].label; }

/* ---- expansion ---- */

static const char *table3 =
    "data: x.h5\n"
    "title: Table 3\n"
    "base:\n"
    "  formula: \"{y} ~ partner + log(distance_km) | exporter^month + importer^month + segpair_{bw}\"\n"
    "  cluster: pair\n"
    "axes:\n"
    "  y: [log(trade), log(deals)]\n"
    "  bw: [50, 100]\n"
    "  direction:\n"
    "    - {label: both}\n"
    "    - {label: east to west, where: 'dir == \"East to west\"'}\n"
    "    - {label: west to east, where: 'dir == \"West to east\"'}\n";

static void test_cross_count_and_order(void **state)
{
    (void)state;
    gr_grid g;
    assert_int_equal(load("t3.yaml", table3, 1, &g), GR_OK);
    assert_int_equal(g.nspecs, 12);
    assert_int_equal(g.naxes, 3);
    /* the first axis varies slowest, the last fastest */
    assert_string_equal(label(&g, 0), "y=log(trade), bw=50, direction=both");
    assert_string_equal(label(&g, 1), "y=log(trade), bw=50, direction=east to west");
    assert_string_equal(label(&g, 3), "y=log(trade), bw=100, direction=both");
    assert_string_equal(label(&g, 11), "y=log(deals), bw=100, direction=west to east");
    const gr_grid_spec *s = &g.specs[5];
    assert_string_equal(s->spec.formula_text,
                        "log(trade) ~ partner + log(distance_km) | exporter^month + importer^month + segpair_100");
    assert_string_equal(s->spec.where_text, "dir == \"West to east\"");
    assert_string_equal(s->spec.cluster_text, "pair");
    assert_string_equal(s->spec.data, panel);  /* the override */
    assert_int_equal(s->spec.f.nfe, 3);
    assert_int_equal(s->spec.model.vcov, GR_VCOV_CLUSTER);
    assert_null(g.specs[0].spec.where_text);
    assert_int_equal(s->line[GR_GRID_FORMULA], 4);
    assert_int_equal(s->where_line[0], 12);
    assert_int_equal(s->index, 5);
    gr_grid_free(&g);
}

static void test_cross_order_given(void **state)
{
    (void)state;
    gr_grid g;
    char text[2048];
    snprintf(text, sizeof text, "%scross: [direction, y, bw]\n", table3);
    assert_int_equal(load("t3c.yaml", text, 0, &g), GR_OK);
    assert_int_equal(g.nspecs, 12);
    assert_string_equal(label(&g, 0), "y=log(trade), bw=50, direction=both");
    assert_string_equal(label(&g, 1), "y=log(trade), bw=100, direction=both");  /* bw fastest */
    assert_string_equal(label(&g, 4), "y=log(trade), bw=50, direction=east to west");
    gr_grid_free(&g);
}

static void test_zip(void **state)
{
    (void)state;
    gr_grid g;
    const char *text =
        "data: x.h5\n"
        "base: {formula: \"{y} ~ partner | exporter^month + {fe}\", cluster: \"{cl}\"}\n"
        "axes:\n"
        "  y: [log(trade), log(deals)]\n"
        "  bw: [50, 75, 100]\n"
        "  fe: [\"segpair_{bw}\", \"segpair_{bw}^month\"]\n"
        "  cl: [pair, \"segpair_{bw}\"]\n"
        "zip: [[fe, cl]]\n";
    assert_int_equal(load("zip.yaml", text, 1, &g), GR_OK);
    assert_int_equal(g.nspecs, 2 * 3 * 2);  /* fe and cl move together */
    assert_string_equal(label(&g, 0), "y=log(trade), bw=50, fe=segpair_50, cl=pair");
    assert_string_equal(label(&g, 1), "y=log(trade), bw=50, fe=segpair_50^month, cl=segpair_50");
    assert_string_equal(g.specs[3].spec.formula_text, "log(trade) ~ partner | exporter^month + segpair_75^month");
    assert_string_equal(g.specs[3].spec.cluster_text, "segpair_75");
    gr_grid_free(&g);
}

/* a match or mediate specification takes the base's vcov without using it: no error for its cluster (once refused) */
static void test_vcov_unused_by_commands(void **state)
{
    (void)state;
    gr_grid g;
    const char *text =
        "data: x.h5\n"
        "base:\n"
        "  formula: \"log(trade) ~ partner | exporter^month + importer^month\"\n"
        "  vcov: hc1\n"
        "axes:\n"
        "  c:\n"
        "    - {label: est}\n"
        "    - {label: med, command: mediate, cluster: pair, options: {mediator: migration}}\n"
        "    - {label: mat, command: match, cluster: pair, options: {bandwidth: 100}}\n";
    assert_int_equal(load("vcov_commands.yaml", text, 0, &g), GR_OK);
    assert_int_equal(g.nspecs, 3);
    gr_grid_free(&g);
}

static void test_values_and_settings(void **state)
{
    (void)state;
    gr_grid g;
    const char *text =
        "data: x.h5\n"
        "base:\n"
        "  formula: \"log(trade) ~ partner | exporter^month + importer^month + segpair_{bw}\"\n"
        "  cluster: [exporter, importer]\n"
        "  where: control_type != 4\n"
        "axes:\n"
        "  bw: [1e2, 62.5]\n"
        "  variance:\n"
        "    - {label: two-way}\n"
        "    - {label: hc1, vcov: hc1, cluster: ~}\n"
        "    - {label: tight, fe-tol: 1e-9, fe-maxiter: 500, fe-method: irons-tuck, solver: qr, fixef-rm: singleton}\n";
    assert_int_equal(load("vals.yaml", text, 1, &g), GR_OK);
    assert_int_equal(g.nspecs, 6);
    assert_string_equal(label(&g, 0), "bw=1e2, variance=two-way");  /* labels as written */
    assert_string_equal(g.specs[0].spec.formula_text,
                        "log(trade) ~ partner | exporter^month + importer^month + segpair_100");  /* %g spelling */
    assert_string_equal(g.specs[0].spec.cluster_text, "exporter,importer");
    assert_int_equal(g.specs[0].spec.ncl, 2);
    assert_null(g.specs[1].spec.cluster_text);  /* null unsets the base's cluster */
    assert_int_equal(g.specs[1].spec.model.vcov, GR_VCOV_HC1);
    const gr_model_opts *m = &g.specs[2].spec.model;
    assert_true(m->absorb.tol == 1e-9);
    assert_int_equal(m->absorb.maxiter, 500);
    assert_int_equal(m->absorb.method, GR_FE_IRONS_TUCK);
    assert_int_equal(m->absorb.rm_singletons, 1);
    assert_int_equal(m->fit.solver, GR_SOLVER_QR);
    assert_string_equal(g.specs[3].spec.where_text, "control_type != 4");
    char canon[4096];
    gr_grid_canonical(&g.specs[0], canon, sizeof canon);
    assert_non_null(strstr(canon, "cluster=exporter,importer\n"));
    assert_non_null(strstr(canon, "fe-tol=1e-06\n"));
    assert_non_null(strstr(canon, "where=control_type != 4\n"));
    gr_grid_free(&g);
}

/* ---- ids ---- */

static int cmp_id(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* The sorted ids of a loaded grid into ids[][17]; returns their number. */
static int sorted_ids(const gr_grid *g, char (*ids)[GR_GRID_ID_LEN + 1])
{
    for (int i = 0; i < g->nspecs; i++) memcpy(ids[i], g->specs[i].id, GR_GRID_ID_LEN + 1);
    qsort(ids, (size_t)g->nspecs, sizeof ids[0], cmp_id);
    return g->nspecs;
}

/* table3 with every mapping's keys in another order, the axes in another order, other spacing */
static const char *table3_reordered =
    "axes:\n"
    "  direction:\n"
    "    - {where: 'dir == \"West to east\"', label: west to east}\n"
    "    - {label: both}\n"
    "    - {where: 'dir==\"East to west\"', label: east to west}\n"
    "  bw: [100, 50]\n"
    "  y: [log(deals), log( trade )]\n"
    "base:\n"
    "  cluster: pair\n"
    "  formula: \"{y}~partner+log(distance_km)|exporter^month+importer^month+segpair_{bw}\"\n"
    "title: Table 3, reordered\n"
    "data: y.h5\n";

static void test_ids_stable_under_reordering(void **state)
{
    (void)state;
    gr_grid a, b;
    char ia[12][GR_GRID_ID_LEN + 1], ib[12][GR_GRID_ID_LEN + 1];
    assert_int_equal(load("ida.yaml", table3, 0, &a), GR_OK);
    assert_int_equal(load("idb.yaml", table3_reordered, 0, &b), GR_OK);
    assert_int_equal(sorted_ids(&a, ia), 12);
    assert_int_equal(sorted_ids(&b, ib), 12);
    for (int i = 0; i < 12; i++) assert_string_equal(ia[i], ib[i]);
    /* loading twice gives the same ids in the same order; an id is 16 lower-case hex digits */
    gr_grid c;
    assert_int_equal(load("ida.yaml", table3, 0, &c), GR_OK);
    for (int i = 0; i < 12; i++) {
        assert_string_equal(a.specs[i].id, c.specs[i].id);
        assert_int_equal(strspn(a.specs[i].id, "0123456789abcdef"), GR_GRID_ID_LEN);
        assert_int_equal(gr_grid_find(&a, a.specs[i].id), i);
    }
    /* where clauses from two axes: same id whichever axis comes first */
    const char *w1 = "data: x.h5\nbase: {formula: log(trade) ~ partner}\naxes:\n"
                     "  a: [{label: p, where: control_type != 1}]\n  b: [{label: q, where: dir == 1}]\n";
    const char *w2 = "data: x.h5\nbase: {formula: log(trade) ~ partner}\naxes:\n"
                     "  b: [{label: q, where: dir == 1}]\n  a: [{label: p, where: control_type != 1}]\n";
    gr_grid d, e;
    assert_int_equal(load("w1.yaml", w1, 0, &d), GR_OK);
    assert_int_equal(load("w2.yaml", w2, 0, &e), GR_OK);
    assert_string_equal(d.specs[0].id, e.specs[0].id);
    assert_string_equal(d.specs[0].spec.where_text, e.specs[0].spec.where_text);
    gr_grid_free(&a); gr_grid_free(&b); gr_grid_free(&c); gr_grid_free(&d); gr_grid_free(&e);
}

static void test_ids_change_with_settings(void **state)
{
    (void)state;
    gr_grid a, b, c;
    char text[2048];
    assert_int_equal(load("ch0.yaml", table3, 0, &a), GR_OK);
    /* a setting every specification shares: every id changes */
    snprintf(text, sizeof text, "%s", table3);
    char *at = strstr(text, "  cluster: pair\n");
    memcpy(at, "  cluster: dir \n", 16);  /* same length; YAML drops the trailing space */
    assert_int_equal(load("ch1.yaml", text, 0, &b), GR_OK);
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 12; j++) assert_string_not_equal(a.specs[i].id, b.specs[j].id);
    /* one axis value changed: only the specifications that take it change */
    snprintf(text, sizeof text, "%s", table3);
    at = strstr(text, "bw: [50, 100]");
    memcpy(at, "bw: [50, 125]", 13);
    assert_int_equal(load("ch2.yaml", text, 0, &c), GR_OK);
    for (int i = 0; i < 12; i++) {
        int bw100 = a.specs[i].pick[1] == 1;
        if (bw100) assert_string_not_equal(a.specs[i].id, c.specs[i].id);
        else assert_string_equal(a.specs[i].id, c.specs[i].id);
    }
    /* the data file is not part of the id (the id names the model; docs/grid.md) */
    gr_grid d;
    gr_clear_error();
    assert_int_equal(gr_grid_load(MPI_COMM_WORLD, write_cfg("ch3.yaml", table3), "other.h5", &d), GR_OK);
    assert_string_equal(a.specs[0].id, d.specs[0].id);
    gr_grid_free(&a); gr_grid_free(&b); gr_grid_free(&c); gr_grid_free(&d);
}

/* ---- bad configs: one line naming the file, the line and the problem ---- */

typedef struct {
    const char *name;     /* test name and file name */
    const char *text;
    int line;             /* expected line (0: the file alone) */
    const char *problem;  /* a substring of the message */
    int check;            /* 1: the error comes from the column check (needs the panel) */
} bad_case;

#define F "  formula: \"log(trade) ~ partner\"\n"
static const bad_case bad[] = {
    {"yaml syntax error", "data: x\nbase:\n  formula: \"a ~ b\n  cluster: pair\n", 5,
     "YAML syntax error: found unexpected end of stream while scanning a quoted scalar (from line 3)", 0},
    {"yaml bad indentation", "data: x\nbase:\n" F " cluster: pair\n", 4, "YAML syntax error", 0},
    {"unknown top-level key", "data: x\nbase:\n" F "axis:\n  y: [a]\n", 4,
     "unknown key 'axis' in the top level (expected data, title, base, axes, cross, zip, group-size, table, plot)", 0},
    {"group-size not a number", "data: x\nbase:\n" F "group-size: two\n", 4,
     "group-size: expected a whole number of ranks from 1 to 4096, got 'two'", 0},
    {"group-size zero", "data: x\nbase:\n" F "group-size: 0\n", 4,
     "group-size: expected a whole number of ranks from 1 to 4096, got '0'", 0},
    {"unknown command", "data: x\nbase:\n" F "  command: balance\n", 4,
     "command: expected one of estimate, match, rdgrid, summary, mediate, got 'balance'", 0},
    {"options with estimate", "data: x\nbase:\n" F "  options: {bandwidth: 100}\n", 4,
     "options: only for command: match, rdgrid, summary or mediate", 0},
    {"options not a mapping", "data: x\nbase:\n" F "  command: match\n  options: [100]\n", 5,
     "options: expected a mapping of option names to values, got a list", 0},
    {"options sets data", "data: x\nbase:\n" F "  command: match\n  options: {data: y.h5}\n", 5,
     "options: 'data' is not an option name a grid may give", 0},
    {"rdgrid with a formula", "data: x\nbase:\n" F "  command: rdgrid\n  options: {y: trade, bandwidth: 100}\n", 3,
     "formula: not a setting of command rdgrid", 0},
    {"rdgrid without y", "data: x\nbase:\n  command: rdgrid\n  options: {bandwidth: 100}\n", 3,
     "command rdgrid needs options: y: and bandwidth:", 0},
    {"table not a mapping", "data: x\nbase:\n" F "table: [direction]\n", 4, "table: expected a mapping, got a list", 0},
    {"vcov hc1 with a cluster", "data: x\nbase:\n" F "  cluster: pair\naxes:\n  v:\n    - {label: a, vcov: cluster}\n"
     "    - {label: b, vcov: hc1}\n", 8, "vcov: hc1 with cluster: pair (line 4), which it would not use: give cluster: ~ "
     "with it, or vcov: cluster (specification 2: v=b)", 0},
    {"unknown key in base", "data: x\nbase:\n" F "  fe_tol: 1e-8\n", 4,
     "unknown key 'fe_tol' in base (expected formula, where,", 0},
    {"unknown key suggests", "data: x\nbase:\n" F "  fe_tol: 1e-8\n", 4, "did you mean 'fe-tol'?", 0},
    {"unknown key in an axis value", "data: x\nbase:\n" F "axes:\n  d:\n    - {label: a, wehre: dir == 1}\n", 6,
     "unknown key 'wehre' in a value of axis 'd'", 0},
    {"wrong type: formula a list", "data: x\nbase:\n  formula: [a, b]\n", 3, "base: formula: expected a text, got a list", 0},
    {"wrong type: axes a list", "data: x\nbase:\n" F "axes: [y, bw]\n", 4,
     "axes: expected a mapping of axis names to lists of values, got a list", 0},
    {"wrong type: axis a text", "data: x\nbase:\n" F "axes:\n  bw: 100\n", 5, "axis 'bw': expected a list of values, got a text", 0},
    {"wrong type: zip flat", "data: x\nbase:\n  formula: \"{a} ~ {b}\"\naxes:\n  a: [x]\n  b: [z]\nzip: [a, b]\n", 7,
     "zip: expected a list of lists of axis names", 0},
    {"duplicate key", "data: x\nbase:\n" F "  formula: \"log(deals) ~ partner\"\n", 4,
     "base: key 'formula' given twice (first at line 3)", 0},
    {"missing data", "base:\n" F, 1, "no data: (the panel file) given", -1},
    {"empty config", "# nothing\n", 1, "the config is empty", 0},
    {"empty axis", "data: x\nbase:\n  formula: \"log(trade) ~ partner | segpair_{bw}\"\naxes:\n  bw: []\n", 5,
     "axis 'bw' is empty", 0},
    {"empty axis (null)", "data: x\nbase:\n  formula: \"log(trade) ~ partner | segpair_{bw}\"\naxes:\n  bw:\n", 5,
     "axis 'bw' is empty", 0},
    {"placeholder without axis", "data: x\nbase:\n  formula: \"{y} ~ partner | segpair_{bw}\"\naxes:\n  y: [log(trade)]\n", 3,
     "placeholder {bw} but no axis 'bw' under axes:", 0},
    {"unclosed placeholder", "data: x\nbase:\n  formula: \"{y ~ partner\"\naxes:\n  y: [a]\n", 3,
     "'{' must start a placeholder {axis}", 0},
    {"axis never used", "data: x\nbase:\n" F "axes:\n  y: [log(trade), log(deals)]\n", 5,
     "axis 'y' is never used: no {y} placeholder, and its values set nothing", 0},
    {"bandwidth not a number", "data: x\nbase:\n  formula: \"log(trade) ~ partner | segpair_{bw}\"\naxes:\n  bw:\n    - 50\n    - 7x5\n",
     7, "axis 'bw': bandwidth '7x5' is not a positive number of km (it fills segpair_{bw} at line 3)", 0},
    {"bandwidth not in %g spelling", "data: x\nbase:\n  where: \"ntreated_{bw} <= 1\"\n" F "axes:\n  bw: [100.00000001]\n", 6,
     "bandwidth '100.00000001' is not exactly representable in 6 significant digits (the column would be named ntreated_100)", 0},
    {"numeric setting not a number", "data: x\nbase:\n" F "  fe-tol: abc\n", 4, "fe-tol: expected a positive number, got 'abc'", 0},
    {"integer setting not an integer", "data: x\nbase:\n" F "axes:\n  it:\n    - {label: a, fe-maxiter: 2.5}\n", 6,
     "fe-maxiter: expected an integer from 1 to 100000000, got '2.5'", 0},
    {"numeric setting through a placeholder", "data: x\nbase:\n" F "  collin-tol: \"{t}\"\naxes:\n  t: [1e-10, tiny]\n", 4,
     "collin-tol: expected a positive number, got 'tiny' (specification 2: t=tiny)", 0},
    {"unknown choice", "data: x\nbase:\n" F "  vcov: robust\n", 4, "vcov: expected one of iid, hc1, cluster, cr2, cr3, got 'robust'", 0},
    {"zip lengths differ", "data: x\nbase:\n  formula: \"{y} ~ partner | segpair_{bw}\"\naxes:\n  y: [log(trade), log(deals)]\n"
     "  bw: [50, 100, 150]\nzip:\n  - [y, bw]\n", 8, "zip: axis 'bw' has 3 values but 'y' has 2", 0},
    {"duplicate id (numbers)", "data: x\nbase:\n  formula: \"log(trade) ~ partner | segpair_{bw}\"\naxes:\n  bw:\n    - 100\n    - 1e2\n", 7,
     "specifications 1 (bw=100) and 2 (bw=1e2) resolve to the same settings", 0},
    {"duplicate id (spelling)", "data: x\nbase:\n" F "axes:\n  d:\n    - {label: a, where: dir == 1}\n    - {label: b, where: dir==1}\n", 7,
     "specifications 1 (d=a) and 2 (d=b) resolve to the same settings", 0},
    {"duplicate label", "data: x\nbase:\n" F "axes:\n  d:\n    - {label: a, where: dir == 1}\n    - {label: a, where: dir == 0}\n", 7,
     "axis 'd': label 'a' given twice (first at line 6)", 0},
    {"unparsable formula", "data: x\nbase:\n  formula: \"log(trade) ~ partner +\"\n", 3,
     "formula: at character 23: expected a term after '+'", 0},
    {"unparsable formula of a value", "data: x\nbase:\n  formula: \"{y} ~ partner\"\naxes:\n  y: [log(trade), \"log(deals\"]\n", 3,
     "formula: at character", 0},
    {"unparsable where", "data: x\nbase:\n" F "axes:\n  s:\n    - {label: all}\n    - {label: a, where: control_type !=}\n", 7,
     "where: at character 16: expected a number, column name", 0},
    {"unknown column in formula", "data: x\nbase:\n  formula: \"log(tarde) ~ partner\"\n", 3,
     "unknown column 'tarde' in ", 1},
    {"unknown column in where", "data: x\nbase:\n" F "axes:\n  d:\n    - {label: a, where: dir == 1}\n    - {label: b, where: dirr == 1}\n", 7,
     "unknown column 'dirr' in ", 1},
    {"unknown column in cluster", "data: x\nbase:\n" F "  cluster: [exporter, importr]\n", 4, "unknown column 'importr'", 1},
    {"unknown derived column", "data: x\nbase:\n  formula: \"log(trade) ~ partner | segpair_{bw}\"\n  where: same_dialekt_{bw} == 1\n"
     "axes:\n  bw: [100]\n", 4, "same_dialekt_100", 1},
    {"unknown text label", "data: x\nbase:\n" F "  where: 'dir == \"North to south\"'\n", 4,
     "column 'dir' has no label \"North to south\"", 1},
    {"two axes set one setting", "data: x\nbase:\n" F "axes:\n  a: [{label: x, cluster: pair}]\n  b: [{label: y, cluster: exporter}]\n", 6,
     "axes 'a' and 'b' both set cluster (line 5 and this one)", 0},
    {"axis missing from cross", "data: x\nbase:\n  formula: \"{y} ~ partner\"\naxes:\n  y: [log(trade)]\n  d: [{label: a, where: dir == 1}]\n"
     "cross: [y]\n", 7, "axis 'd' is in neither cross nor zip", 0},
    {"cross names no axis", "data: x\nbase:\n  formula: \"{y} ~ partner\"\naxes:\n  y: [log(trade)]\ncross: [y, bw]\n", 6,
     "cross: no axis 'bw' under axes:", 0},
    {"placeholder cycle", "data: x\nbase:\n  formula: \"{a} ~ partner\"\naxes:\n  a: [{label: x, value: \"{b}\"}]\n  b: [{label: y, value: \"{a}\"}]\n",
     5, "placeholders refer to each other in a cycle", 0},
    {"placeholder needs a value", "data: x\nbase:\n" F "  where: \"{d}\"\naxes:\n  d: [{label: a}]\n", 6,
     "axis 'd': value 'a' has no value: to fill {d}", 0},
    {"split and fsplit", "data: x\nbase:\n" F "  split: dir\n  fsplit: dir\n", 5, "split and fsplit exclude each other", 0},
    {"second document", "data: x\nbase:\n" F "---\ndata: y\n", 5, "a second YAML document", 0},
    {"no formula", "data: x\nbase:\n  cluster: pair\n", 2, "no formula: give base: formula:", 0},
};
#undef F

static void test_bad(void **state)
{
    const bad_case *c = *state;
    char file[96];
    snprintf(file, sizeof file, "bad%d.yaml", (int)(c - bad));
    gr_grid g;
    gr_clear_error();
    const char *path = write_cfg(file, c->text);
    char want[320];
    snprintf(want, sizeof want, "%s:%d: ", path, c->line);
    /* check = -1: without a data override (the config's own data: is what is missing) */
    int rc = gr_grid_load(MPI_COMM_WORLD, path, c->check < 0 ? NULL : panel, &g);
    if (c->check > 0) {
        assert_int_equal(rc, GR_OK);  /* the config itself is fine; the panel lacks something */
        rc = gr_grid_check_columns(MPI_COMM_WORLD, &g);
        gr_grid_free(&g);
    }
    assert_int_not_equal(rc, GR_OK);
    const char *msg = gr_errmsg();
    if (strncmp(msg, want, strlen(want)) || !strstr(msg, c->problem))
        fail_msg("message '%s'\n  wanted it to start with '%s' and contain '%s'", msg, want, c->problem);
    assert_null(strchr(msg, '\n'));  /* one line */
    assert_int_equal(g.nspecs, 0);   /* nothing left after a failure */
}

/* ---- other failures ---- */

static void test_missing_file(void **state)
{
    (void)state;
    gr_grid g;
    gr_clear_error();
    assert_int_equal(gr_grid_load(MPI_COMM_WORLD, "/nonexistent/grid.yaml", NULL, &g), GR_EIO);
    assert_non_null(strstr(gr_errmsg(), "/nonexistent/grid.yaml: cannot open the config"));
}

static void test_missing_panel(void **state)
{
    (void)state;
    gr_grid g;
    gr_clear_error();
    assert_int_equal(gr_grid_load(MPI_COMM_WORLD, write_cfg("nopanel.yaml", "data: /nonexistent.h5\nbase: {formula: y ~ x}\n"),
                                  NULL, &g), GR_OK);
    assert_int_not_equal(gr_grid_check_columns(MPI_COMM_WORLD, &g), GR_OK);
    char want[256];
    snprintf(want, sizeof want, "%s/nopanel.yaml:1: /nonexistent.h5", dir);
    assert_non_null(strstr(gr_errmsg(), want));
    gr_grid_free(&g);
}

static int write_panel(void)
{
    gr_sim_config cfg = {.seed = 3, .n_east = 8, .n_west = 10, .n_months = 2};
    gr_sim_world w;
    if (gr_sim_world_build(&cfg, &w)) return 1;
    int rc = gr_sim_write(MPI_COMM_WORLD, &w, panel, "synthetic", "3");
    gr_sim_world_free(&w);
    return rc;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    snprintf(dir, sizeof dir, "/tmp/gravrd-test-grid.XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(panel, sizeof panel, "%s/panel.h5", dir);
    if (write_panel()) { fprintf(stderr, "cannot write the test panel: %s\n", gr_errmsg()); return 1; }
    enum { NBAD = (int)(sizeof bad / sizeof bad[0]) };
    struct CMUnitTest tests[NBAD + 9] = {
        cmocka_unit_test(test_cross_count_and_order),
        cmocka_unit_test(test_cross_order_given),
        cmocka_unit_test(test_zip),
        cmocka_unit_test(test_values_and_settings),
        cmocka_unit_test(test_vcov_unused_by_commands),
        cmocka_unit_test(test_ids_stable_under_reordering),
        cmocka_unit_test(test_ids_change_with_settings),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_missing_panel),
    };
    int n = 8;
    char names[NBAD][96];
    for (int i = 0; i < NBAD; i++) {
        snprintf(names[i], sizeof names[i], "bad config: %s", bad[i].name);
        tests[n++] = (struct CMUnitTest){names[i], test_bad, NULL, NULL, (void *)&bad[i]};
    }
    int failed = _cmocka_run_group_tests("test_grid", tests, (size_t)n, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    MPI_Finalize();
    return failed;
}
