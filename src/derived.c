/* derived.c: the derived spatial-RD columns of derived.h (segment_<d>, segpair_<d>, ntreated_<d>,
 * same_<attr>_<d>), computed from the replicated cities and pairs tables. This is the one place they
 * are computed: panel.c adds them to its tables on demand, segments.c and design.c report on them and
 * write them to a copy of the panel when asked. Built on spatial.h (segments) and design.h (treated
 * pairs per segment pair, same-attribute flags). Local, no MPI. */
#include "derived.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "design.h"
#include "spatial.h"

/* ---------------- names ---------------- */

static const struct { const char *prefix; gr_derived_kind kind; } prefixes[] = {
    {"segment_", GR_DERIVED_SEGMENT}, {"segpair_", GR_DERIVED_SEGPAIR},
    {"ntreated_", GR_DERIVED_NTREATED}, {"same_", GR_DERIVED_SAME}};

/* The kind named by the prefix of `name` (GR_DERIVED_NONE if none) and the text after the prefix. */
static gr_derived_kind prefix_kind(const char *name, const char **rest)
{
    for (size_t k = 0; k < sizeof prefixes / sizeof *prefixes; k++) {
        size_t len = strlen(prefixes[k].prefix);
        if (!strncmp(name, prefixes[k].prefix, len)) {
            *rest = name + len;
            return prefixes[k].kind;
        }
    }
    return GR_DERIVED_NONE;
}

/* gr_derived_parse, its messages naming the column `label` (the name as written, e.g. exp_segment_100). */
static int parse_as(const char *name, const char *label, gr_derived_name *out)
{
    memset(out, 0, sizeof *out);
    const char *rest = NULL, *d;
    gr_derived_kind kind = prefix_kind(name, &rest);
    if (kind == GR_DERIVED_NONE) return GR_OK;
    d = rest;
    if (kind == GR_DERIVED_SAME) {
        const char *us = strrchr(rest, '_');
        if (!us || us == rest || (size_t)(us - rest) >= sizeof out->attr)
            return gr_fail(GR_EINPUT, label, "unknown column (a derived same_<attr>_<d> names a cities column "
                           "attr and a bandwidth d in km, e.g. same_dialect_100)");
        memcpy(out->attr, rest, (size_t)(us - rest));
        d = us + 1;
    }
    double v;
    char back[32];
    if (gr_parse_double(d, &v) != 0 || !(v > 0))
        return gr_fail(GR_EINPUT, label, "unknown column (a derived column needs a bandwidth in km > 0 after the "
                       "last '_', got '%s')", d);
    snprintf(back, sizeof back, "%g", v);
    if (strcmp(back, d))
        return gr_fail(GR_EINPUT, label, "unknown column (the bandwidth of a derived column is spelled as %%g "
                       "prints it: '%s', not '%s')", back, d);
    out->kind = kind;
    out->bw = v;
    snprintf(out->bwname, sizeof out->bwname, "%s", back);
    return GR_OK;
}

int gr_derived_parse(const char *name, gr_derived_name *out)
{
    return parse_as(name, name, out);
}

int gr_derived_all_finite(int64_t n, const double *v)
{
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(v[k])) return 0;
    return 1;
}

/* ---------------- inputs ---------------- */

static int need_column(const gr_table *t, const char *group, const char *name, const char *where)
{
    int c = gr_table_find(t, name);
    if (c < 0) gr_fail(GR_EINPUT, where, "/%s has no column '%s'", group, name);
    return c;
}

int gr_derived_pair_cities(const gr_table *pairs, int64_t ncities, const char *where, int **exp, int **imp)
{
    int64_t m = pairs->nrows > 0 ? pairs->nrows : 0;
    int *e = gr_malloc((size_t)m + 1, sizeof *e), *im = gr_malloc((size_t)m + 1, sizeof *im);
    *exp = e;
    *imp = im;
    if (m == 0) return GR_OK;
    int ce = need_column(pairs, "pairs", "exporter", where), ci = need_column(pairs, "pairs", "importer", where);
    if (ce < 0 || ci < 0) return GR_EINPUT;
    for (int64_t k = 0; k < m; k++)
        for (int side = 0; side < 2; side++) {
            double v = pairs->cols[side ? ci : ce][k];
            int *dst = side ? im : e;
            if (isnan(v)) { dst[k] = -1; continue; }
            if (v != floor(v) || v < 0 || v >= (double)ncities)
                return gr_fail(GR_EINPUT, where, "/pairs/%s row %lld: expected a city id in [0, %lld), got %g",
                               side ? "importer" : "exporter", (long long)k, (long long)ncities, v);
            dst[k] = (int)v;
        }
    return GR_OK;
}

/* lat, lon (in range) and province (integer codes) of the cities: pointers into the table, *prov
 * freshly allocated (caller frees, also after a failure). */
static int city_coords(const gr_table *cities, const char *where, const double **lat, const double **lon,
                       int **prov)
{
    *prov = NULL;
    if (cities->nrows <= 0) return gr_fail(GR_EINPUT, where, "the panel has no /cities table");
    if (cities->nrows > INT32_MAX / 2) return gr_fail(GR_EINPUT, where, "too many cities");
    int n = (int)cities->nrows;
    int clat = need_column(cities, "cities", "lat", where), clon = need_column(cities, "cities", "lon", where);
    int cprov = need_column(cities, "cities", "province", where);
    if (clat < 0 || clon < 0 || cprov < 0) return GR_EINPUT;
    *lat = cities->cols[clat];
    *lon = cities->cols[clon];
    for (int i = 0; i < n; i++) {
        double la = (*lat)[i], lo = (*lon)[i];
        if (!(la >= -90 && la <= 90))
            return gr_fail(GR_EINPUT, where, "/cities/lat row %d: expected a latitude in [-90, 90], got %g", i, la);
        if (!(lo >= -180 && lo <= 180))
            return gr_fail(GR_EINPUT, where, "/cities/lon row %d: expected a longitude in [-180, 180], got %g", i,
                           lo);
    }
    *prov = gr_malloc((size_t)n, sizeof **prov);
    for (int i = 0; i < n; i++) {
        double v = cities->cols[cprov][i];
        if (!isfinite(v) || v != floor(v) || fabs(v) > INT32_MAX)
            return gr_fail(GR_EINPUT, where, "/cities/province row %d: expected an integer province code, got %g",
                           i, v);
        (*prov)[i] = (int)v;
    }
    return GR_OK;
}

/* ---------------- the columns ---------------- */

int gr_derived_segments(const gr_table *cities, double bw, const char *where, int *seg, int *nseg)
{
    const double *lat = NULL, *lon = NULL;
    int *prov = NULL;
    int rc = city_coords(cities, where, &lat, &lon, &prov);
    if (!rc) rc = gr_segments((int)cities->nrows, lat, lon, prov, bw, seg, nseg);
    free(prov);
    return rc;
}

int gr_derived_segpairs(const gr_table *pairs, int64_t ncities, const double *citysegment, const char *where,
                        double *segpair, int *nsegpair)
{
    int64_t m = pairs->nrows > 0 ? pairs->nrows : 0;
    if (ncities > INT32_MAX / 2) return gr_fail(GR_EINPUT, where, "too many cities");
    int *exp = NULL, *imp = NULL;
    int rc = gr_derived_pair_cities(pairs, ncities, where, &exp, &imp);
    int *seg = gr_malloc((size_t)ncities + 1, sizeof *seg), *ids = gr_malloc((size_t)m + 1, sizeof *ids);
    for (int64_t i = 0; i < ncities && !rc; i++) {
        double s = citysegment[i];
        seg[i] = 0;  /* a city without a segment: its pairs are marked missing below */
        if (isnan(s) || s < 0) continue;
        if (s != floor(s) || s > INT32_MAX)
            rc = gr_fail(GR_EINPUT, where, "city %lld: expected an integer segment id, got %g", (long long)i, s);
        else
            seg[i] = (int)s;
    }
    for (int64_t k = 0; k < m && !rc; k++) {
        if (exp[k] >= 0 && !(citysegment[exp[k]] >= 0)) exp[k] = -1;
        if (imp[k] >= 0 && !(citysegment[imp[k]] >= 0)) imp[k] = -1;
    }
    if (!rc) rc = gr_segment_pairs((int)ncities, seg, m, exp, imp, ids, nsegpair);
    for (int64_t k = 0; k < m && !rc; k++) segpair[k] = ids[k] < 0 ? NAN : ids[k];
    free(exp); free(imp); free(seg); free(ids);
    return rc;
}

int gr_derived_ntreated(const gr_table *pairs, int64_t ncities, const double *segpair, const char *where,
                        double *ntreated)
{
    int *exp = NULL, *imp = NULL;
    unsigned char *treated = NULL;
    int rc = gr_design_pairs(pairs, ncities, where, &exp, &imp, &treated);
    if (!rc) gr_design_ntreated(pairs->nrows, segpair, treated, ntreated);
    free(exp); free(imp); free(treated);
    return rc;
}

int gr_derived_same(const gr_table *pairs, const gr_table *cities, const char *attr, const double *segpair,
                    const char *where, double *same)
{
    int ca = gr_table_find(cities, attr);
    if (ca < 0) return gr_fail(GR_EINPUT, where, "'%s' is not a cities column", attr);
    int *exp = NULL, *imp = NULL;
    unsigned char *treated = NULL;
    int rc = gr_design_pairs(pairs, cities->nrows, where, &exp, &imp, &treated);
    if (!rc) gr_design_same(pairs->nrows, segpair, treated, exp, imp, cities->cols[ca], same);
    free(exp); free(imp); free(treated);
    return rc;
}

/* ---------------- on demand ---------------- */

/* Values of column `prefix`<bw> of `group`, made present first (stored or derived; errors name the
 * column `label` that needs it). NULL on failure. */
static const double *input_column(gr_table *cities, gr_table *pairs, const char *group, const char *prefix,
                                  const char *bwname, const char *label, const char *path)
{
    char name[GR_NAME_MAX + 40];
    snprintf(name, sizeof name, "%s%s", prefix, bwname);
    if (gr_derived_add(cities, pairs, group, name, label, path)) return NULL;
    gr_table *t = strcmp(group, "cities") ? pairs : cities;
    int c = gr_table_find(t, name);
    return c >= 0 ? t->cols[c] : NULL;
}

/* Compute the derived column dn (named `name`) into a fresh array; *is_int as a writer stores it. */
static int compute_column(gr_table *cities, gr_table *pairs, const gr_derived_name *dn, const char *label,
                          const char *path, double **out, int *is_int)
{
    char where[GR_NAME_MAX + 4200];
    snprintf(where, sizeof where, "%s: derived column '%s'", path, label);
    int64_t nc = cities->nrows, m = pairs->nrows;
    *out = NULL;
    *is_int = 1;
    if (dn->kind == GR_DERIVED_SEGMENT) {
        int *seg = gr_malloc((size_t)nc + 1, sizeof *seg), nseg = 0;
        int rc = gr_derived_segments(cities, dn->bw, where, seg, &nseg);
        double *v = gr_malloc((size_t)nc + 1, sizeof *v);
        for (int64_t i = 0; i < nc && !rc; i++) v[i] = seg[i];
        free(seg);
        if (rc) { free(v); return rc; }
        *out = v;
        return GR_OK;
    }
    const char *sp_group = dn->kind == GR_DERIVED_SEGPAIR ? "cities" : "pairs";
    const char *sp_prefix = dn->kind == GR_DERIVED_SEGPAIR ? "segment_" : "segpair_";
    const double *base = input_column(cities, pairs, sp_group, sp_prefix, dn->bwname, label, path);
    if (!base) return GR_EINPUT;
    if (dn->kind == GR_DERIVED_SAME && gr_derived_add(cities, pairs, "cities", dn->attr, label, path)) return GR_EINPUT;
    double *v = gr_malloc((size_t)m + 1, sizeof *v);
    int rc, nsp = 0;
    if (dn->kind == GR_DERIVED_SEGPAIR) rc = gr_derived_segpairs(pairs, nc, base, where, v, &nsp);
    else if (dn->kind == GR_DERIVED_NTREATED) rc = gr_derived_ntreated(pairs, nc, base, where, v);
    else rc = gr_derived_same(pairs, cities, dn->attr, base, where, v);
    if (rc) { free(v); return rc; }
    if (dn->kind != GR_DERIVED_SEGPAIR) *is_int = gr_derived_all_finite(m, v);
    *out = v;
    return GR_OK;
}

int gr_derived_add(gr_table *cities, gr_table *pairs, const char *group, const char *name, const char *asked,
                   const char *path)
{
    const char *label = asked ? asked : name;
    int is_city = !strcmp(group, "cities");
    const char *rest;
    gr_derived_kind kind = prefix_kind(name, &rest);
    if (kind == GR_DERIVED_NONE || (kind == GR_DERIVED_SEGMENT) != is_city) return GR_OK;
    gr_table *t = is_city ? cities : pairs;
    if (gr_table_find(t, name) >= 0) return GR_OK;  /* stored (or derived before): it wins */
    gr_derived_name dn;
    int rc = parse_as(name, label, &dn);
    if (rc) return rc;
    if (cities->nrows <= 0 || (!is_city && pairs->nrows <= 0))
        return gr_fail(GR_EINPUT, label, "unknown column (derived columns need the /cities and /pairs tables of %s)",
                       path);
    double *v = NULL;
    int is_int = 1;
    rc = compute_column(cities, pairs, &dn, label, path, &v, &is_int);
    if (rc) return rc;
    gr_table_add(t, name, v, is_int, NULL, 0);
    return GR_OK;
}
