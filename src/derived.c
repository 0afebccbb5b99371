/* derived.c: the derived columns of derived.h: the spatial-RD ones (segment_<d>, segpair_<d>, ntreated_<d>,
 * same_<attr>_<d>) and the median splits (hi_/lo_<attr>_<set>), computed from the replicated cities and pairs
 * tables, and the month indicators (december, cny_month, post_covid) from /panel/month. This is the one place
 * they are computed: panel.c adds them to its tables on demand, segments.c and design.c report on them and
 * write them to a copy of the panel when asked. Built on spatial.h (segments) and design.h (treated pairs per
 * segment pair, same-attribute flags). Local, no MPI. */
#include "derived.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

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

/* ---------------- median splits ---------------- */

static const char *const SPLIT_SETS[] = {"west", "east", "all"};

int gr_derived_split_parse(const char *name, const char *label, gr_derived_split *out, int *is_split)
{
    memset(out, 0, sizeof *out);
    *is_split = 0;
    int hi = !strncmp(name, "hi_", 3);
    if (!hi && strncmp(name, "lo_", 3)) return GR_OK;
    const char *rest = name + 3, *us = strrchr(rest, '_');
    int known = 0;
    for (size_t k = 0; us && k < sizeof SPLIT_SETS / sizeof *SPLIT_SETS; k++)
        if (!strcmp(us + 1, SPLIT_SETS[k])) known = 1;
    if (!us || us == rest || !known || (size_t)(us - rest) >= sizeof out->attr)
        return gr_fail(GR_EINPUT, label, "unknown column (a derived median split is %s_<attr>_<set>: attr a cities "
                       "column and set west, east or all (exp_/imp_ pick the side), or attr a pairs column and set "
                       "all, e.g. exp_hi_minority_share_west)", hi ? "hi" : "lo");
    out->hi = hi;
    memcpy(out->attr, rest, (size_t)(us - rest));
    snprintf(out->set, sizeof out->set, "%s", us + 1);
    *is_split = 1;
    return GR_OK;
}

int gr_derived_median_split(int64_t n, const double *v, const unsigned char *in, int hi, const char *where,
                            double *median, double *out)
{
    double *x = gr_malloc((size_t)(n > 0 ? n : 1), sizeof *x);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (in[i] && isfinite(v[i])) x[m++] = v[i];
    if (m == 0) {
        free(x);
        return gr_fail(GR_EINPUT, where, "the set has no city or pair with a finite value: no median");
    }
    qsort(x, (size_t)m, sizeof *x, cmp_double);
    double med = m % 2 ? x[m / 2] : 0.5 * (x[m / 2 - 1] + x[m / 2]);
    free(x);
    if (median) *median = med;
    for (int64_t i = 0; i < n; i++) {
        if (!in[i]) out[i] = 0;
        else if (!isfinite(v[i])) out[i] = NAN;
        else out[i] = hi ? v[i] > med : v[i] < med;
    }
    return GR_OK;
}

/* Membership of the cities in `set` (region codes: labels "west"/"east" when the column has labels,
 * else 1 = west, 0 = east); in[] freshly allocated. */
static int city_set(const gr_table *cities, const char *set, const char *where, unsigned char **in)
{
    int64_t n = cities->nrows;
    unsigned char *m = gr_calloc((size_t)(n > 0 ? n : 1), 1);
    *in = m;
    if (!strcmp(set, "all")) {
        memset(m, 1, (size_t)n);
        return GR_OK;
    }
    int c = need_column(cities, "cities", "region", where);
    if (c < 0) return GR_EINPUT;
    double code = !strcmp(set, "west");
    if (cities->labels[c]) {
        code = -1;
        for (int l = 0; l < cities->nlabels[c]; l++)
            if (cities->labels[c][l] && !strcasecmp(cities->labels[c][l], set)) code = l;
        if (code < 0) return gr_fail(GR_EINPUT, where, "/cities/region has no label '%s'", set);
    }
    for (int64_t i = 0; i < n; i++) m[i] = cities->cols[c][i] == code;
    return GR_OK;
}

/* Add the median split sp (named `name`) to the cities (is_city) or pairs table. */
static int add_split(gr_table *cities, gr_table *pairs, int is_city, const char *name, const char *label,
                     const char *path, const gr_derived_split *sp)
{
    char where[GR_NAME_MAX + 4200];
    snprintf(where, sizeof where, "%s: derived column '%s'", path, label);
    gr_table *t = is_city ? cities : pairs;
    if (t->nrows <= 0)
        return gr_fail(GR_EINPUT, label, "unknown column (a median split needs the /%s table of %s)",
                       is_city ? "cities" : "pairs", path);
    int ca = gr_table_find(t, sp->attr);
    if (ca < 0) {
        if (!is_city && gr_table_find(cities, sp->attr) >= 0)
            return gr_fail(GR_EINPUT, where, "'%s' is a cities column: split it as exp_%s or imp_%s", sp->attr, name,
                           name);
        return gr_fail(GR_EINPUT, where, "'%s' is not a /%s column", sp->attr, is_city ? "cities" : "pairs");
    }
    if (!is_city && strcmp(sp->set, "all"))
        return gr_fail(GR_EINPUT, where, "a pairs column is split over all pairs (set 'all'), not '%s'", sp->set);
    unsigned char *in = NULL;
    int rc;
    if (is_city) rc = city_set(cities, sp->set, where, &in);
    else {
        in = gr_malloc((size_t)(t->nrows > 0 ? t->nrows : 1), 1);
        memset(in, 1, (size_t)t->nrows);
        rc = GR_OK;
    }
    double *v = gr_malloc((size_t)t->nrows + 1, sizeof *v);
    if (!rc) rc = gr_derived_median_split(t->nrows, t->cols[ca], in, sp->hi, where, NULL, v);
    free(in);
    if (rc) { free(v); return rc; }
    gr_table_add(t, name, v, gr_derived_all_finite(t->nrows, v), NULL, 0);
    return GR_OK;
}

/* ---------------- month indicators ---------------- */

/* The day of the Chinese New Year (first day of the first lunar month), Gregorian, 2010-2026. Source: Hong
 * Kong Observatory, "Gregorian-Lunar Calendar Conversion Table" (www.hko.gov.hk/en/gts/time/conversion.htm),
 * the entry for the first day of the first lunar month of each year (docs/format.md repeats it). */
static const struct { int year, month, day; } CNY[] = {
    {2010, 2, 14}, {2011, 2, 3},  {2012, 1, 23}, {2013, 2, 10}, {2014, 1, 31}, {2015, 2, 19},
    {2016, 2, 8},  {2017, 1, 28}, {2018, 2, 16}, {2019, 2, 5},  {2020, 1, 25}, {2021, 2, 12},
    {2022, 2, 1},  {2023, 1, 22}, {2024, 2, 10}, {2025, 1, 29}, {2026, 2, 17}};

int gr_derived_cny_month(int year)
{
    for (size_t k = 0; k < sizeof CNY / sizeof *CNY; k++)
        if (CNY[k].year == year) return CNY[k].month;
    return 0;
}

static const char *const TIME_NAMES[] = {"december", "cny_month", "post_covid"};

int gr_derived_is_time(const char *name)
{
    for (size_t k = 0; k < sizeof TIME_NAMES / sizeof *TIME_NAMES; k++)
        if (!strcmp(name, TIME_NAMES[k])) return 1;
    return 0;
}

int gr_derived_time(const char *name, const char *first_month, const char *where, int64_t n, double *v)
{
    int y0 = 0, m0 = 0, len = 0;
    if (!first_month || sscanf(first_month, "%4d-%2d%n", &y0, &m0, &len) != 2 || len != 7 ||
        (int)strlen(first_month) != 7 || m0 < 1 || m0 > 12 || y0 < 1)
        return gr_fail(GR_EINPUT, where, "root attribute first_month: expected YYYY-MM, got '%s'",
                       first_month ? first_month : "");
    int kind = !strcmp(name, "december") ? 0 : !strcmp(name, "cny_month") ? 1 : 2;
    for (int64_t i = 0; i < n; i++) {
        double t = v[i];
        if (isnan(t)) continue;
        if (t != floor(t) || t < 1 || t > 1e6)
            return gr_fail(GR_EINPUT, where, "/panel/month row %lld: expected a month index >= 1 (1 = %s), got %g",
                           (long long)i, first_month, t);
        int64_t k = (int64_t)(m0 - 1) + (int64_t)t - 1; /* months since January of y0 */
        int year = y0 + (int)(k / 12), month = (int)(k % 12) + 1;
        if (kind == 0) v[i] = month == 12;
        else if (kind == 2) v[i] = year >= 2020;
        else {
            int cm = gr_derived_cny_month(year);
            if (!cm)
                return gr_fail(GR_EINPUT, where, "month %04d-%02d: no Chinese New Year date for %d in the table "
                               "(2010-2026, src/derived.c)", year, month, year);
            v[i] = month == cm;
        }
    }
    return GR_OK;
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
    int is_split = 0;
    gr_derived_split sp;
    if (gr_table_find(is_city ? cities : pairs, name) >= 0) return GR_OK;  /* stored (or derived before) */
    if (gr_derived_split_parse(name, label, &sp, &is_split)) return GR_EINPUT;
    if (is_split) return add_split(cities, pairs, is_city, name, label, path, &sp);
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
