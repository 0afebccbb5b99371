/* segments.c: `gravrd segments`: the spatial-RD segments per bandwidth, i.e. the derived columns
 * cities/segment_<d> and pairs/segpair_<d> as derived.c computes them, reported as the segment-size
 * table (the study's Online Appendix Table A.4), optional JSON and an SVG map. The panel is only read;
 * --out writes a copy of it with the columns stored. Every rank computes (the tables are replicated);
 * rank 0 prints and renders. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>
#include "commands.h"
#include "derived.h"
#include "opts.h"
#include "panel.h"
#include "spatial.h"
#include "svg.h"

#define MAX_BW 64

typedef struct {
    const char *data, *svg, *json, *out;
    gr_opt_list bwl;         /* --bandwidth as given; bw and bwname from it */
    int quiet;
    int nbw;
    double bw[MAX_BW];
    char bwname[MAX_BW][32];
    const gr_opts *parsed;   /* the parse, for the provenance of the JSON */
} seg_opts;

static const gr_opt seg_table[] = {
    {.name = "data", .short_name = 'd', .kind = GR_OPT_STRING, GR_OPT_AT(seg_opts, data), .metavar = "FILE.h5",
     .help = "panel file (read only)", .flags = GR_OPT_REQUIRED},
    {.name = "bandwidth", .short_name = 'b', .kind = GR_OPT_LIST, .elem = GR_OPT_DOUBLE, GR_OPT_AT(seg_opts, bwl),
     .metavar = "KM", .help = "bandwidth in km; its %g spelling names the columns (segment_<KM>)",
     .flags = GR_OPT_REQUIRED | GR_OPT_REPEAT | GR_OPT_POSITIVE | GR_OPT_UNIQUE, .max = MAX_BW},
    {.name = "svg", .kind = GR_OPT_STRING, GR_OPT_AT(seg_opts, svg), .metavar = "MAP.svg",
     .help = "map of the segments at the first bandwidth and of the partner pairs"},
    {.name = "json", .kind = GR_OPT_STRING, GR_OPT_AT(seg_opts, json), .metavar = "FILE|-",
     .help = "the size distribution and every segment as JSON ('-': stdout, no table)"},
    {.name = "out", .kind = GR_OPT_STRING, GR_OPT_AT(seg_opts, out), .metavar = "COPY.h5",
     .help = "also write a copy of FILE with the columns stored (must not be FILE)"},
    {.name = "quiet", .short_name = 'q', .kind = GR_OPT_FLAG, GR_OPT_AT(seg_opts, quiet), .help = "no warnings"},
    {0}};

static const gr_opts_cmd seg_cmd = {
    "segments",
    "Cluster the cities of the panel into spatial-RD segments: complete linkage inside each province,\n"
    "cut at the bandwidth, so that no two cities of a segment are more than KM apart, and print the\n"
    "segment-size table. For each bandwidth d these are the columns cities/segment_<d> (segment id per\n"
    "city) and pairs/segpair_<d> (dense id of the exporter-segment x importer-segment combination); <d> is\n"
    "the bandwidth printed with %g (100, 62.5). Formulas, --where, --cluster and --split of estimate can\n"
    "name segpair_<d>, exp_segment_<d>, imp_segment_<d> for any d: they are computed on the fly, the same\n"
    "way, when the file does not store them. FILE is never modified.",
    seg_table,
    "Needs cities columns lat, lon, province (region and name are used when present) and pairs\n"
    "columns exporter, importer (partner for the map). See docs/segments.md.",
    0};

/* One bandwidth's result (every rank computes the same). */
typedef struct {
    int nseg, nsegpair;
    int *seg;        /* n cities */
    double *diam;    /* nseg */
    double *segpair; /* m pairs, NaN = missing */
    double max_diam;
} seg_result;

/* What the report and the map read from the panel. */
typedef struct {
    int n;
    int64_t m;
    const double *lat, *lon;
    int *prov;
    char **prov_labels;
    int nprov_labels;
    const double *region;       /* NULL without a region column */
    char **region_labels;
    int nregion_labels;
    char **names;               /* city names or NULL */
    const double *name_codes;
    int nnames;
    int *exp, *imp;
    const double *partner;      /* NULL without a partner column */
} seg_input;

/* Parse and check the options; identical on every rank, not collective. bw and bwname from the
 * --bandwidth list: each value's %g spelling (the column names) must read back as the value.
 * GR_OK, GR_EUSAGE via gr_fail, or GR_OPTS_EXIT after --help / --version. */
static int parse_segments(int argc, char **argv, seg_opts *o, gr_opts *s, int rank)
{
    int rc = gr_opts_parse(s, &seg_cmd, o, argc, argv, rank);
    if (rc) return rc;
    gr_quiet |= o->quiet;
    o->parsed = s;
    for (int b = 0; b < o->bwl.n; b++) {
        double v = o->bwl.num[b], back;
        snprintf(o->bwname[b], sizeof o->bwname[b], "%g", v);
        if (gr_parse_double(o->bwname[b], &back) != 0 || back != v)
            return gr_fail(GR_EUSAGE, "--bandwidth", "'%s' is not exactly representable in 6 significant digits "
                           "(the column name would be segment_%s)", o->bwl.str[b], o->bwname[b]);
        o->bw[b] = v;
    }
    o->nbw = o->bwl.n;
    return GR_OK;
}

/* ---------------- input ---------------- */

/* What the report and the map need; call after compute() succeeded (it validates the coordinates,
 * provinces and city ids). Pointers alias the panel's tables. */
static int read_input(const gr_panel *p, seg_input *in)
{
    const gr_table *ct = &p->cities, *pt = &p->pairs;
    memset(in, 0, sizeof *in);
    in->n = (int)ct->nrows;
    int cprov = gr_table_find(ct, "province");
    in->lat = ct->cols[gr_table_find(ct, "lat")];
    in->lon = ct->cols[gr_table_find(ct, "lon")];
    in->prov = gr_malloc((size_t)in->n, sizeof *in->prov);
    for (int i = 0; i < in->n; i++) in->prov[i] = (int)ct->cols[cprov][i];
    in->prov_labels = ct->labels[cprov];
    in->nprov_labels = ct->nlabels[cprov];
    int creg = gr_table_find(ct, "region");
    if (creg >= 0) {
        in->region = ct->cols[creg];
        in->region_labels = ct->labels[creg];
        in->nregion_labels = ct->nlabels[creg];
    }
    int cname = gr_table_find(ct, "name");
    if (cname >= 0 && ct->labels[cname]) {
        in->names = ct->labels[cname];
        in->nnames = ct->nlabels[cname];
        in->name_codes = ct->cols[cname];
    }
    in->m = pt->nrows > 0 ? pt->nrows : 0;
    int cp = gr_table_find(pt, "partner");
    if (in->m > 0 && cp >= 0) in->partner = pt->cols[cp];
    return gr_derived_pair_cities(pt, in->n, p->path, &in->exp, &in->imp);
}

static void free_input(seg_input *in)
{
    free(in->prov); free(in->exp); free(in->imp);
    memset(in, 0, sizeof *in);
}

static const char *city_name(const seg_input *in, int i, char *buf, size_t len)
{
    if (in->names) {
        double c = in->name_codes[i];
        if (c >= 0 && c < in->nnames) return in->names[(int)c];
    }
    snprintf(buf, len, "city %d", i);
    return buf;
}

/* Region index of city i: label code, or -1 when unknown. */
static int region_of(const seg_input *in, int i)
{
    if (!in->region || isnan(in->region[i])) return -1;
    return (int)in->region[i];
}

static int nregions(const seg_input *in)
{
    if (!in->region) return 0;
    if (in->region_labels) return in->nregion_labels;
    int mx = -1;
    for (int i = 0; i < in->n; i++) if (region_of(in, i) > mx) mx = region_of(in, i);
    return mx + 1;
}

static void region_name(const seg_input *in, int r, char *buf, size_t len)
{
    if (in->region_labels && r >= 0 && r < in->nregion_labels) snprintf(buf, len, "%s", in->region_labels[r]);
    else snprintf(buf, len, "region %d", r);
}

/* ---------------- compute ---------------- */

/* The columns of one bandwidth (derived.c, as estimate derives them) and the diameters. */
static int compute(const gr_panel *p, double bw, seg_result *r)
{
    int64_t n = p->cities.nrows > 0 ? p->cities.nrows : 0, m = p->pairs.nrows > 0 ? p->pairs.nrows : 0;
    memset(r, 0, sizeof *r);
    r->seg = gr_malloc((size_t)n + 1, sizeof *r->seg);
    r->segpair = gr_malloc((size_t)m + 1, sizeof *r->segpair);
    int rc = gr_derived_segments(&p->cities, bw, p->path, r->seg, &r->nseg);
    if (rc) return rc;
    const gr_table *ct = &p->cities;
    const double *lat = ct->cols[gr_table_find(ct, "lat")], *lon = ct->cols[gr_table_find(ct, "lon")];
    r->diam = gr_malloc((size_t)r->nseg + 1, sizeof *r->diam);
    rc = gr_segment_diameters((int)n, lat, lon, r->seg, r->nseg, r->diam);
    if (rc) return rc;
    for (int s = 0; s < r->nseg; s++) if (r->diam[s] > r->max_diam) r->max_diam = r->diam[s];
    if (m == 0) return GR_OK;
    double *cityseg = gr_malloc((size_t)n + 1, sizeof *cityseg);
    for (int64_t i = 0; i < n; i++) cityseg[i] = r->seg[i];
    rc = gr_derived_segpairs(&p->pairs, n, cityseg, p->path, r->segpair, &r->nsegpair);
    free(cityseg);
    return rc;
}

static void free_result(seg_result *r)
{
    free(r->seg); free(r->diam); free(r->segpair);
    memset(r, 0, sizeof *r);
}

/* sizes[s] = cities in segment s; regs[s] = region of its smallest city (the segment's region). */
static int segment_sizes(const seg_input *in, const seg_result *r, int *sizes, int *regs)
{
    int maxsize = 0;
    for (int s = 0; s < r->nseg; s++) { sizes[s] = 0; regs[s] = -2; }
    for (int i = 0; i < in->n; i++) {
        int s = r->seg[i];
        if (regs[s] == -2) regs[s] = region_of(in, i);
        if (++sizes[s] > maxsize) maxsize = sizes[s];
    }
    return maxsize;
}

/* count[size][region] (region nreg = total); returns maxsize. Caller frees *out. */
static int size_table(const seg_input *in, const seg_result *r, int nreg, int **out)
{
    int *sizes = gr_malloc((size_t)r->nseg + 1, sizeof *sizes), *regs = gr_malloc((size_t)r->nseg + 1, sizeof *regs);
    int maxsize = segment_sizes(in, r, sizes, regs);
    int *cnt = gr_calloc((size_t)(maxsize + 1) * (size_t)(nreg + 1), sizeof *cnt);
    for (int s = 0; s < r->nseg; s++) {
        if (regs[s] >= 0 && regs[s] < nreg) cnt[sizes[s] * (nreg + 1) + regs[s]]++;
        cnt[sizes[s] * (nreg + 1) + nreg]++;
    }
    free(sizes); free(regs);
    *out = cnt;
    return maxsize;
}

/* ---------------- text table ---------------- */

static void print_table(const seg_opts *o, const seg_input *in, seg_result *res)
{
    int nreg = nregions(in), w = 7, ncol = nreg + 1, bw = w * ncol < 14 ? 14 : w * ncol;
    int pad = bw - w * ncol;  /* block of one bandwidth: `pad` blanks, then ncol columns of width w */
    int *cnt[MAX_BW], maxs[MAX_BW], maxsize = 0;
    for (int b = 0; b < o->nbw; b++) {
        maxs[b] = size_table(in, &res[b], nreg, &cnt[b]);
        if (maxs[b] > maxsize) maxsize = maxs[b];
    }
    printf("Segment size distribution: number of segments by cities per segment (complete linkage within "
           "provinces)\n");
    printf("%-18s", "");
    for (int b = 0; b < o->nbw; b++) {
        char h[48];
        snprintf(h, sizeof h, "d = %s km", o->bwname[b]);
        printf("  %*s", bw, h);
    }
    printf("\n%-18s", "size");
    for (int b = 0; b < o->nbw; b++) {
        printf("  %*s", pad, "");
        for (int r = 0; r < nreg; r++) {
            char nm[64];
            region_name(in, r, nm, sizeof nm);
            printf("%*.*s", w, w - 1, nm);
        }
        printf("%*s", w, "total");
    }
    printf("\n");
    for (int s = 1; s <= maxsize + 2; s++) {
        const char *label = s == maxsize + 1 ? "segments" : s == maxsize + 2 ? "cities" : NULL;
        if (label) printf("%-18s", label); else printf("%-18d", s);
        for (int b = 0; b < o->nbw; b++) {
            printf("  %*s", pad, "");
            for (int r = 0; r <= nreg; r++) {
                int v = 0;
                if (!label) v = s <= maxs[b] ? cnt[b][s * (nreg + 1) + r] : 0;
                else
                    for (int z = 1; z <= maxs[b]; z++) v += (s == maxsize + 1 ? 1 : z) * cnt[b][z * (nreg + 1) + r];
                printf("%*d", w, v);
            }
        }
        printf("\n");
    }
    printf("%-18s", "max diameter (km)");
    for (int b = 0; b < o->nbw; b++) printf("  %*.1f", bw, res[b].max_diam);
    printf("\n%-18s", "segment pairs");
    for (int b = 0; b < o->nbw; b++) printf("  %*d", bw, res[b].nsegpair);
    printf("\n");
    for (int b = 0; b < o->nbw; b++) free(cnt[b]);
}

/* ---------------- JSON ---------------- */

static char *build_json(const seg_opts *o, const seg_input *in, seg_result *res, MPI_Comm comm)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "segments");
    cJSON_AddItemToObject(root, "provenance", gr_opts_provenance(o->parsed, comm));
    cJSON_AddStringToObject(root, "data", o->data);
    cJSON_AddNumberToObject(root, "cities", in->n);
    cJSON_AddNumberToObject(root, "pairs", (double)in->m);
    int nreg = nregions(in);
    cJSON *regions = cJSON_AddArrayToObject(root, "regions");
    for (int r = 0; r < nreg; r++) {
        char nm[64];
        region_name(in, r, nm, sizeof nm);
        cJSON_AddItemToArray(regions, cJSON_CreateString(nm));
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "bandwidths");
    for (int b = 0; b < o->nbw; b++) {
        seg_result *r = &res[b];
        cJSON *jb = cJSON_CreateObject();
        char col[64];
        cJSON_AddNumberToObject(jb, "bandwidth_km", o->bw[b]);
        snprintf(col, sizeof col, "segment_%s", o->bwname[b]);
        cJSON_AddStringToObject(jb, "city_column", col);
        snprintf(col, sizeof col, "segpair_%s", o->bwname[b]);
        cJSON_AddStringToObject(jb, "pair_column", in->m > 0 ? col : "");
        cJSON_AddNumberToObject(jb, "n_segments", r->nseg);
        cJSON_AddNumberToObject(jb, "n_segment_pairs", r->nsegpair);
        cJSON_AddNumberToObject(jb, "max_diameter_km", r->max_diam);
        int *cnt, maxsize = size_table(in, r, nreg, &cnt);
        cJSON *dist = cJSON_AddArrayToObject(jb, "size_distribution");
        for (int s = 1; s <= maxsize; s++) {
            cJSON *row = cJSON_CreateObject();
            cJSON_AddNumberToObject(row, "size", s);
            for (int g = 0; g < nreg; g++) {
                char nm[64];
                region_name(in, g, nm, sizeof nm);
                cJSON_AddNumberToObject(row, nm, cnt[s * (nreg + 1) + g]);
            }
            cJSON_AddNumberToObject(row, "total", cnt[s * (nreg + 1) + nreg]);
            cJSON_AddItemToArray(dist, row);
        }
        free(cnt);
        /* every segment with its cities */
        cJSON **members = gr_calloc((size_t)r->nseg + 1, sizeof *members);
        cJSON *segs = cJSON_AddArrayToObject(jb, "segments");
        for (int s = 0; s < r->nseg; s++) {
            cJSON *js = cJSON_CreateObject();
            cJSON_AddNumberToObject(js, "id", s);
            cJSON_AddNumberToObject(js, "diameter_km", r->diam[s]);
            cJSON_AddItemToArray(segs, js);
            members[s] = js;
        }
        for (int i = 0; i < in->n; i++) {
            cJSON *js = members[r->seg[i]];
            cJSON *cities = cJSON_GetObjectItem(js, "cities");
            if (!cities) {
                int pv = in->prov[i];
                if (in->prov_labels && pv >= 0 && pv < in->nprov_labels)
                    cJSON_AddStringToObject(js, "province", in->prov_labels[pv]);
                else
                    cJSON_AddNumberToObject(js, "province", pv);
                if (in->region) {
                    char nm[64];
                    region_name(in, region_of(in, i), nm, sizeof nm);
                    cJSON_AddStringToObject(js, "region", nm);
                }
                cities = cJSON_AddArrayToObject(js, "cities");
            }
            cJSON_AddItemToArray(cities, cJSON_CreateNumber(i));
        }
        for (int s = 0; s < r->nseg; s++)
            cJSON_AddNumberToObject(members[s], "size", cJSON_GetArraySize(cJSON_GetObjectItem(members[s], "cities")));
        free(members);
        cJSON_AddItemToArray(arr, jb);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* ---------------- SVG map ---------------- */

typedef struct { double x, y; } pt2;

static int cmp_pt(const void *a, const void *b)
{
    const pt2 *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return (p->y > q->y) - (p->y < q->y);
}

static double cross3(pt2 o, pt2 a, pt2 b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); }

/* Convex hull (Andrew's monotone chain) of p[0..n) in place order; returns hull size, hull in h[]. */
static int convex_hull(pt2 *p, int n, pt2 *h)
{
    qsort(p, (size_t)n, sizeof *p, cmp_pt);
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross3(h[k - 2], h[k - 1], p[i]) <= 0) k--;
        h[k++] = p[i];
    }
    for (int i = n - 2, t = k + 1; i >= 0; i--) {
        while (k >= t && cross3(h[k - 2], h[k - 1], p[i]) <= 0) k--;
        h[k++] = p[i];
    }
    return k > 1 ? k - 1 : k;
}

typedef struct {
    double lon0, lat1, kx, scale, left, top;
} proj;

static double px(const proj *pr, double lon) { return pr->left + (lon - pr->lon0) * pr->kx * pr->scale; }
static double py(const proj *pr, double lat) { return pr->top + (pr->lat1 - lat) * pr->scale; }

static double nice_step(double range)
{
    const double steps[] = {0.5, 1, 2, 5, 10, 20, 30, 45};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++)
        if (range / steps[k] <= 8) return steps[k];
    return 90;
}

/* Colours: smallest palette index not used by an already-coloured segment whose centroid is near. */
static void colour_segments(const seg_input *in, const seg_result *r, double bw, int *colour)
{
    double *cx = gr_calloc((size_t)r->nseg + 1, sizeof *cx), *cy = gr_calloc((size_t)r->nseg + 1, sizeof *cy);
    int *cnt = gr_calloc((size_t)r->nseg + 1, sizeof *cnt);
    for (int i = 0; i < in->n; i++) { cx[r->seg[i]] += in->lat[i]; cy[r->seg[i]] += in->lon[i]; cnt[r->seg[i]]++; }
    for (int s = 0; s < r->nseg; s++) { cx[s] /= cnt[s]; cy[s] /= cnt[s]; }
    double near = 3 * bw > 150 ? 3 * bw : 150;
    for (int s = 0; s < r->nseg; s++) {
        int used[20] = {0};
        for (int t = 0; t < s; t++)
            if (gr_haversine_km(cx[s], cy[s], cx[t], cy[t]) < near) used[colour[t] % 20] = 1;
        int c = 0;
        while (c < 20 && used[(c + s) % 20]) c++;
        colour[s] = c < 20 ? (c + s) % 20 : s % 20;
    }
    free(cx); free(cy); free(cnt);
}

/* Where the map goes on the canvas: the projection, the padded bounds, the map's size and the canvas's. */
typedef struct {
    proj pr;
    double lonmin, lonmax, latmin, latmax;
    double mw, mh, W, H;
    double top, legend_w;
} map_layout;

/* The bounds of the cities, padded, and an equirectangular projection that keeps the aspect ratio
 * inside maxw x maxh; the canvas fits around the map. */
static void map_layout_fit(const seg_input *in, map_layout *L)
{
    const double left = 70, legend_w = 240, top = 74, bottom = 40, maxw = 900, maxh = 760;
    double lonmin = 180, lonmax = -180, latmin = 90, latmax = -90;
    for (int i = 0; i < in->n; i++) {
        if (in->lon[i] < lonmin) lonmin = in->lon[i];
        if (in->lon[i] > lonmax) lonmax = in->lon[i];
        if (in->lat[i] < latmin) latmin = in->lat[i];
        if (in->lat[i] > latmax) latmax = in->lat[i];
    }
    double pad = 0.03 * ((lonmax - lonmin) > (latmax - latmin) ? lonmax - lonmin : latmax - latmin) + 0.2;
    lonmin -= pad; lonmax += pad; latmin -= pad; latmax += pad;
    if (latmin < -90) latmin = -90;
    if (latmax > 90) latmax = 90;
    proj *pr = &L->pr;
    pr->lon0 = lonmin;
    pr->lat1 = latmax;
    pr->kx = cos(0.5 * (latmin + latmax) * 3.14159265358979323846 / 180);
    if (pr->kx < 0.1) pr->kx = 0.1;
    /* the map keeps its aspect ratio inside maxw x maxh; the canvas fits around it */
    double sx = maxw / ((lonmax - lonmin) * pr->kx), sy = maxh / (latmax - latmin);
    pr->scale = sx < sy ? sx : sy;
    L->mw = (lonmax - lonmin) * pr->kx * pr->scale;
    L->mh = (latmax - latmin) * pr->scale;
    pr->left = left;
    pr->top = top;
    L->W = left + L->mw + 30 + legend_w;
    L->H = top + L->mh + bottom;
    if (L->H < 420) L->H = 420;
    L->lonmin = lonmin; L->lonmax = lonmax; L->latmin = latmin; L->latmax = latmax;
    L->top = top;
    L->legend_w = legend_w;
}

/* The map's frame and its graticule with degree labels. */
static void draw_graticule(gr_svg *svg, const map_layout *L)
{
    const proj *pr = &L->pr;
    double lonmin = L->lonmin, lonmax = L->lonmax, latmin = L->latmin, latmax = L->latmax, mw = L->mw, mh = L->mh;
    gr_svg_rect(svg, pr->left, pr->top, mw, mh, "#f7f9fc", "#888", 1);
    double step = nice_step(lonmax - lonmin > latmax - latmin ? lonmax - lonmin : latmax - latmin);
    for (double g = ceil(lonmin / step) * step; g <= lonmax; g += step) {
        gr_svg_line(svg, px(pr, g), pr->top, px(pr, g), pr->top + mh, "#d0d6e0", 0.7, 1, "3 3");
        gr_svg_text(svg, px(pr, g), pr->top + mh + 16, 11, "middle", "#555", "%g\u00b0%s", fabs(g),
                    g >= 0 ? "E" : "W");
    }
    for (double g = ceil(latmin / step) * step; g <= latmax; g += step) {
        gr_svg_line(svg, pr->left, py(pr, g), pr->left + mw, py(pr, g), "#d0d6e0", 0.7, 1, "3 3");
        gr_svg_text(svg, pr->left - 6, py(pr, g) + 4, 11, "end", "#555", "%g\u00b0%s", fabs(g), g >= 0 ? "N" : "S");
    }
}

/* The cities of each segment: members memb[start[s] .. start[s + 1]) (arrays owned by the caller). */
static void segment_members(const seg_input *in, const seg_result *r, int **start_out, int **memb_out)
{
    int *start = gr_calloc((size_t)r->nseg + 2, sizeof *start), *memb = gr_malloc((size_t)in->n, sizeof *memb);
    int *fill = gr_malloc((size_t)r->nseg + 1, sizeof *fill);
    for (int i = 0; i < in->n; i++) start[r->seg[i] + 1]++;
    for (int s = 0; s < r->nseg; s++) start[s + 1] += start[s];
    memcpy(fill, start, (size_t)r->nseg * sizeof *fill);
    for (int i = 0; i < in->n; i++) memb[fill[r->seg[i]]++] = i;
    free(fill);
    *start_out = start;
    *memb_out = memb;
}

/* Segment shapes: hull for >= 3 cities, a thick bar for 2. */
static void draw_segments(gr_svg *svg, const map_layout *L, const seg_input *in, const seg_result *r,
                          const int *colour, const int *start, const int *memb)
{
    pt2 *pts = gr_malloc((size_t)in->n + 1, sizeof *pts), *hull = gr_malloc((size_t)in->n + 2, sizeof *hull);
    double *hx = gr_malloc((size_t)in->n + 2, sizeof *hx), *hy = gr_malloc((size_t)in->n + 2, sizeof *hy);
    for (int s = 0; s < r->nseg; s++) {
        int k = start[s + 1] - start[s];
        if (k < 2) continue;
        for (int j = 0; j < k; j++) {
            int i = memb[start[s] + j];
            pts[j].x = px(&L->pr, in->lon[i]);
            pts[j].y = py(&L->pr, in->lat[i]);
        }
        int nh = convex_hull(pts, k, hull);
        const char *c = gr_svg_color(colour[s]);
        if (nh >= 3) {
            for (int j = 0; j < nh; j++) { hx[j] = hull[j].x; hy[j] = hull[j].y; }
            gr_svg_polygon(svg, nh, hx, hy, c, 0.35, c, 14);
        } else {
            gr_svg_line(svg, hull[0].x, hull[0].y, hull[nh > 1 ? 1 : 0].x, hull[nh > 1 ? 1 : 0].y, c, 14, 0.35, NULL);
        }
    }
    free(pts); free(hull); free(hx); free(hy);
}

/* Partner pairs, each unordered pair once. */
static void draw_partners(gr_svg *svg, const map_layout *L, const seg_input *in)
{
    if (!in->partner) return;
    for (int64_t k = 0; k < in->m; k++) {
        int e = in->exp[k], i = in->imp[k];
        if (in->partner[k] != 1 || e < 0 || i < 0 || e >= i) continue;
        gr_svg_line(svg, px(&L->pr, in->lon[e]), py(&L->pr, in->lat[e]), px(&L->pr, in->lon[i]), py(&L->pr, in->lat[i]),
                    "#b2182b", 0.8, 0.4, NULL);
    }
}

/* The region ids named "east" and "west" (-1 when absent). */
static void east_west_regions(const seg_input *in, int *reg_east, int *reg_west)
{
    *reg_east = -1;
    *reg_west = -1;
    for (int g = 0; g < nregions(in); g++) {
        char nm[64];
        region_name(in, g, nm, sizeof nm);
        if (!strcmp(nm, "east")) *reg_east = g;
        if (!strcmp(nm, "west")) *reg_west = g;
    }
}

/* Cities: eastern circles, western squares, coloured by segment. */
static void draw_cities(gr_svg *svg, const map_layout *L, const seg_input *in, const seg_result *r, const int *colour,
                        const int *start, int reg_west)
{
    for (int i = 0; i < in->n; i++) {
        double x = px(&L->pr, in->lon[i]), y = py(&L->pr, in->lat[i]);
        const char *c = gr_svg_color(colour[r->seg[i]]);
        char nb[32], tip[256];
        snprintf(tip, sizeof tip, "%s: segment %d (%d cities)", city_name(in, i, nb, sizeof nb), r->seg[i],
                 start[r->seg[i] + 1] - start[r->seg[i]]);
        if (reg_west >= 0 && region_of(in, i) == reg_west) {
            gr_svg_group_begin(svg, tip);
            gr_svg_rect(svg, x - 3.6, y - 3.6, 7.2, 7.2, c, "#222", 0.7);
            gr_svg_group_end(svg);
        } else {
            gr_svg_circle(svg, x, y, 4.0, c, "#222", 0.7, tip);
        }
    }
}

/* The legend box on the right. */
static void draw_legend(gr_svg *svg, const map_layout *L, int reg_east, int reg_west, int npartner)
{
    const double right = L->legend_w;
    double lx = L->W - right + 12, ly = L->top + 20;
    gr_svg_rect(svg, lx - 12, ly - 22, right - 30, 200, "white", "#999", 0.8);
    gr_svg_text(svg, lx, ly, 13, "start", "black", "Legend");
    ly += 24;
    gr_svg_circle(svg, lx + 6, ly - 4, 4, gr_svg_color(0), "#222", 0.7, NULL);
    gr_svg_text(svg, lx + 20, ly, 12, "start", "black", reg_east >= 0 ? "eastern city" : "city");
    if (reg_west >= 0) {
        ly += 20;
        gr_svg_rect(svg, lx + 2.4, ly - 7.6, 7.2, 7.2, gr_svg_color(1), "#222", 0.7);
        gr_svg_text(svg, lx + 20, ly, 12, "start", "black", "western city");
    }
    ly += 20;
    double sx4[4] = {lx, lx + 12, lx + 12, lx}, sy4[4] = {ly - 10, ly - 10, ly, ly};
    gr_svg_polygon(svg, 4, sx4, sy4, gr_svg_color(2), 0.35, gr_svg_color(2), 6);
    gr_svg_text(svg, lx + 20, ly, 12, "start", "black", "segment (hull, >= 2 cities)");
    ly += 20;
    gr_svg_line(svg, lx, ly - 4, lx + 14, ly - 4, "#b2182b", 1.5, 0.8, NULL);
    gr_svg_text(svg, lx + 20, ly, 12, "start", "black", "partner pair (%d undirected)", npartner);
    ly += 26;
    gr_svg_text(svg, lx, ly, 11, "start", "#555", "colour = segment (neighbours");
    gr_svg_text(svg, lx, ly + 14, 11, "start", "#555", "get different colours)");
    gr_svg_text(svg, lx, ly + 34, 11, "start", "#555", "equirectangular projection,");
    gr_svg_text(svg, lx, ly + 48, 11, "start", "#555", "x scaled by cos(%.0f\u00b0)", 0.5 * (L->latmin + L->latmax));
}

/* Scale bar: a round length near a sixth of the map width. */
static void draw_scale_bar(gr_svg *svg, const map_layout *L)
{
    const proj *pr = &L->pr;
    const double kmdeg = GR_EARTH_RADIUS_KM * 3.14159265358979323846 / 180;
    const double nice[] = {10, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000};
    double km = nice[0];
    for (size_t k = 0; k < sizeof nice / sizeof *nice; k++)
        if (nice[k] / kmdeg * pr->scale <= L->mw / 6) km = nice[k];
    double len = km / kmdeg * pr->scale, by = pr->top + L->mh - 14;
    gr_svg_rect(svg, pr->left + 8, by - 16, len + 70, 26, "white", "none", 0);
    gr_svg_line(svg, pr->left + 14, by, pr->left + 14 + len, by, "black", 2, 1, NULL);
    gr_svg_text(svg, pr->left + 20 + len, by + 4, 11, "start", "black", "%g km", km);
}

/* The map of the first bandwidth's segments: frame, graticule, segment shapes, partner pairs, cities,
 * legend and scale bar, in that order (later ones drawn on top). */
static int render_svg(gr_svg *svg, const char *path, const seg_opts *o, const seg_input *in, const seg_result *r)
{
    map_layout L;
    map_layout_fit(in, &L);
    char title[256];
    int npartner = 0;
    if (in->partner)
        for (int64_t k = 0; k < in->m; k++)
            if (in->partner[k] == 1 && in->exp[k] >= 0 && in->imp[k] >= 0 && in->exp[k] < in->imp[k]) npartner++;
    snprintf(title, sizeof title, "Spatial-RD segments at d = %s km", o->bwname[0]);
    int rc = gr_svg_open(svg, path, L.W, L.H, title);
    if (rc) return rc;
    gr_svg_text(svg, L.pr.left, 32, 20, "start", "black", "%s", title);
    gr_svg_text(svg, L.pr.left, 54, 13, "start", "#444",
                "%d cities, %d segments (complete linkage within provinces, diameter <= %s km; largest %.1f km)",
                in->n, r->nseg, o->bwname[0], r->max_diam);
    draw_graticule(svg, &L);
    int *colour = gr_malloc((size_t)r->nseg + 1, sizeof *colour), *start, *memb;
    colour_segments(in, r, o->bw[0], colour);
    segment_members(in, r, &start, &memb);
    draw_segments(svg, &L, in, r, colour, start, memb);
    draw_partners(svg, &L, in);
    int reg_east, reg_west;
    east_west_regions(in, &reg_east, &reg_west);
    draw_cities(svg, &L, in, r, colour, start, reg_west);
    draw_legend(svg, &L, reg_east, reg_west, npartner);
    draw_scale_bar(svg, &L);
    free(colour); free(start); free(memb);
    return GR_OK;
}

/* ---------------- staged text output (JSON file) ---------------- */

/* Rank 0: write text to a checked temporary of `path` (cleanup.h), left for finish_outputs to commit. */
static int write_text_tmp(const char *path, const char *text, gr_outfile *out)
{
    GR_CALL(gr_outfile_open(out, path));
    if (fputs(text, out->f) < 0 || fputc('\n', out->f) == EOF) out->err = errno;
    return gr_outfile_finish(out);
}

/* ---------------- command ---------------- */

/* Collective. Write --out: a copy of the panel with segment_<d> and segpair_<d> of every bandwidth. */
static int write_copy(MPI_Comm comm, const seg_opts *o, const gr_panel *p, seg_result *res)
{
    int64_t n = p->cities.nrows, m = p->pairs.nrows > 0 ? p->pairs.nrows : 0;
    int ncol = 0, is_int[2 * MAX_BW];
    const char *groups[2 * MAX_BW], *names[2 * MAX_BW];
    const double *vals[2 * MAX_BW];
    int64_t lens[2 * MAX_BW];
    char namebuf[2 * MAX_BW][GR_NAME_MAX + 32];
    double *cityseg[MAX_BW] = {0};
    for (int b = 0; b < o->nbw; b++) {
        cityseg[b] = gr_malloc((size_t)n + 1, sizeof *cityseg[b]);
        for (int64_t i = 0; i < n; i++) cityseg[b][i] = res[b].seg[i];
        snprintf(namebuf[ncol], sizeof namebuf[0], "segment_%s", o->bwname[b]);
        groups[ncol] = "cities"; names[ncol] = namebuf[ncol]; vals[ncol] = cityseg[b]; lens[ncol] = n; is_int[ncol++] = 1;
        if (m == 0) continue;
        snprintf(namebuf[ncol], sizeof namebuf[0], "segpair_%s", o->bwname[b]);
        groups[ncol] = "pairs"; names[ncol] = namebuf[ncol]; vals[ncol] = res[b].segpair; lens[ncol] = m; is_int[ncol++] = 1;
    }
    int rc = gr_file_copy_with_columns(comm, o->data, o->out, ncol, groups, names, lens, vals, is_int);
    for (int b = 0; b < o->nbw; b++) free(cityseg[b]);
    return rc;
}

/* Rank 0: render the SVG and the JSON to temporaries (committed by finish_outputs). */
static int stage_outputs(const seg_opts *o, const seg_input *in, seg_result *res, MPI_Comm comm, gr_svg *svg,
                         char **json, gr_outfile *json_out)
{
    int rc = GR_OK;
    if (o->svg) rc = render_svg(svg, o->svg, o, in, &res[0]);
    if (!rc && o->json) {
        *json = build_json(o, in, res, comm);
        if (strcmp(o->json, "-")) rc = write_text_tmp(o->json, *json, json_out);
    }
    return rc;
}

/* Rank 0: commit the staged outputs when rc is GR_OK, else discard them. */
static int finish_outputs(const seg_opts *o, gr_svg *svg, gr_outfile *json_out, int rc)
{
    int orc = GR_OK;
    if (o->svg) orc = gr_svg_close(svg, rc == GR_OK);
    if (rc == GR_OK && orc == GR_OK) orc = gr_outfile_commit(json_out);
    else gr_outfile_discard(json_out);
    return rc ? rc : orc;
}

/* Collective: open the panel, compute every bandwidth (on every rank), stage the outputs on rank 0,
 * write --out, commit the outputs and print the report. Returns the agreed status. */
static int run_segments(const seg_opts *o, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    double t0 = gr_now();
    gr_panel p;
    int rc = gr_agree(comm, gr_panel_open(comm, o->data, &p));
    if (rc) return rc;

    /* every rank computes the same columns from the replicated tables */
    seg_input in;
    memset(&in, 0, sizeof in);
    seg_result res[MAX_BW];
    memset(res, 0, sizeof res);
    for (int b = 0; b < o->nbw && !rc; b++) rc = compute(&p, o->bw[b], &res[b]);
    if (!rc) rc = read_input(&p, &in);
    rc = gr_agree(comm, rc);

    /* stage the outputs on rank 0 before writing the copy, so bad paths create nothing */
    gr_svg svg;
    memset(&svg, 0, sizeof svg);
    char *json = NULL;
    gr_outfile json_out;
    memset(&json_out, 0, sizeof json_out);
    if (!rc && rank == 0) rc = stage_outputs(o, &in, res, comm, &svg, &json, &json_out);
    rc = gr_agree(comm, rc);
    if (!rc && o->out) rc = write_copy(comm, o, &p, res);
    rc = gr_agree(comm, rc);
    if (rank == 0) rc = finish_outputs(o, &svg, &json_out, rc);
    rc = gr_agree(comm, rc);
    if (!rc && rank == 0) {
        if (o->json && !strcmp(o->json, "-")) {
            fputs(json, stdout);
            fputc('\n', stdout);
        } else {
            printf("gravrd segments: %s\n%s: %d cities, %lld pairs, %d bandwidth(s) in %.2f s\n",
                   gr_provenance(comm), o->data, in.n, (long long)in.m, o->nbw, gr_now() - t0);
            print_table(o, &in, res);
            if (o->out) printf("wrote %s: a copy of %s with the segment columns stored\n", o->out, o->data);
        }
        fflush(stdout);
    }
    free(json);
    for (int b = 0; b < o->nbw; b++) free_result(&res[b]);
    free_input(&in);
    gr_panel_close(&p);
    return rc;
}

/* `gravrd segments` (commands.h): parse on every rank (usage errors exit 2, --help / --version exit 0
 * without communication), then run_segments collectively. Returns the exit status after gr_report. */
int cmd_segments(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    seg_opts o;
    gr_opts s;
    int rc = parse_segments(argc, argv, &o, &s, rank);
    if (rc == GR_OPTS_EXIT) {
        gr_opts_free(&s);
        return 0;
    }
    if (!rc && s.echo && rank == 0) gr_opts_echo(&s, stderr);
    rc = gr_agree(comm, rc);
    if (!rc) rc = run_segments(&o, comm);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, rc)); /* the table reached standard output */
}
