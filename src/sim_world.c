/* sim_world.c: the replicated part of `gravrd simulate`: the counter-based generator, the city
 * geography (synthetic or read from a city table), city attributes, program cities, the selection
 * of partner pairs on a smooth latent pair affinity, the pairs table and the city-month effects.
 * Everything here is a deterministic function of the configuration (docs/simulator.md). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "simulate.h"
#include "csv.h"
#include "spatial.h"
#include "derived.h"

/* ---------------- counter-based generator ---------------- */

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t gr_sim_hash(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
{
    uint64_t h = mix64(seed ^ 0x6A09E667F3BCC909ULL);
    h = mix64(h ^ stream);
    h = mix64(h ^ a);
    return mix64(h ^ b);
}

static double to_unit(uint64_t h) { return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

double gr_sim_uniform(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
{
    return to_unit(gr_sim_hash(seed, stream, a, b));
}

double gr_sim_normal(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
{
    uint64_t h = gr_sim_hash(seed, stream, a, b);
    double u1 = to_unit(h), u2 = to_unit(mix64(h ^ 0xD1B54A32D192ED03ULL));
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---------------- provinces ---------------- */

/* One template per province of the study, in province-code order within each region: the Chinese
 * name (as in the city table), a polyline (up to 3 points, lon/lat) along which synthetic cities are
 * spread with `spread_km` scatter, the real number of units, and attribute medians: GDP per capita
 * (10,000 yuan, 2018), population per city (millions), minority share. Rough public magnitudes. */
typedef struct {
    const char *zh;
    int region, muni, npts;
    double pts[3][2];
    double spread_km;
    int n;
    double gdppc, pop, minority;
} prov_t;

static const prov_t PROV[] = {
    {"北京市", 0, 1, 1, {{116.41, 39.90}}, 15, 1, 14.0, 21.5, 0.045},
    {"天津市", 0, 1, 1, {{117.20, 39.08}}, 15, 1, 12.0, 15.6, 0.027},
    {"辽宁省", 0, 0, 2, {{120.0, 41.0}, {124.5, 41.6}}, 90, 14, 5.8, 3.1, 0.16},
    {"上海市", 0, 1, 1, {{121.47, 31.23}}, 15, 1, 13.5, 24.2, 0.012},
    {"江苏省", 0, 0, 2, {{117.8, 34.3}, {120.6, 31.6}}, 70, 13, 11.5, 6.2, 0.005},
    {"浙江省", 0, 0, 2, {{119.6, 30.5}, {120.7, 28.0}}, 70, 11, 9.8, 5.2, 0.012},
    {"福建省", 0, 0, 2, {{119.3, 26.5}, {117.6, 24.5}}, 70, 9, 9.1, 4.4, 0.021},
    {"山东省", 0, 0, 2, {{116.0, 36.4}, {121.0, 37.0}}, 80, 16, 7.6, 6.2, 0.007},
    {"广东省", 0, 0, 2, {{110.8, 21.6}, {116.5, 23.6}}, 80, 21, 8.6, 5.4, 0.02},
    {"内蒙古自治区", 1, 0, 3, {{105.7, 39.0}, {112.0, 41.0}, {120.5, 45.8}}, 90, 12, 6.8, 2.1, 0.21},
    {"广西壮族自治区", 1, 0, 2, {{106.0, 23.5}, {110.4, 23.6}}, 90, 14, 4.2, 3.5, 0.37},
    {"重庆市", 1, 1, 1, {{106.55, 29.56}}, 25, 1, 6.6, 31.0, 0.067},
    {"四川省", 1, 0, 2, {{102.0, 30.4}, {106.5, 30.6}}, 110, 21, 4.9, 3.9, 0.06},
    {"贵州省", 1, 0, 2, {{104.8, 26.6}, {108.3, 27.2}}, 70, 9, 4.1, 4.0, 0.36},
    {"云南省", 1, 0, 2, {{99.0, 25.0}, {103.8, 25.0}}, 120, 16, 3.7, 3.0, 0.33},
    {"陕西省", 1, 0, 2, {{108.9, 38.0}, {108.9, 33.0}}, 60, 10, 6.3, 3.9, 0.005},
    {"甘肃省", 1, 0, 2, {{95.0, 40.0}, {106.0, 35.4}}, 70, 14, 3.2, 1.9, 0.09},
    {"青海省", 1, 0, 2, {{95.0, 36.5}, {102.0, 36.0}}, 120, 8, 4.8, 0.75, 0.47},
    {"宁夏回族自治区", 1, 0, 2, {{106.2, 38.5}, {106.2, 36.0}}, 40, 5, 5.4, 1.4, 0.36},
};
#define NPROV ((int)(sizeof PROV / sizeof PROV[0]))  /* 19 */
#define EXCLUDED_CITY "莱芜市" /* merged into Jinan in 2019; not in the study */

typedef struct {
    int region, prov;   /* prov: index into PROV */
    long adcode;
    char *name;
    double lat, lon;
    int alloc;          /* number of cities of its province in this world */
} city_t;

static int city_cmp(const void *a, const void *b)
{
    const city_t *x = a, *y = b;
    if (x->region != y->region) return x->region - y->region;
    if (x->prov != y->prov) return x->prov - y->prov;
    if (x->adcode != y->adcode) return x->adcode < y->adcode ? -1 : 1;
    return strcmp(x->name, y->name);
}

#define KM_PER_DEG 111.195
#define SIM_PI 3.14159265358979323846

/* Largest-remainder allocation of n cities over the region's templates, by their real counts. */
static void allocate(int region, int n, int *alloc)
{
    int total = 0, given = 0;
    double rem[NPROV];
    for (int p = 0; p < NPROV; p++)
        if (PROV[p].region == region) total += PROV[p].n;
    for (int p = 0; p < NPROV; p++) {
        alloc[p] = 0; rem[p] = -1;
        if (PROV[p].region != region) continue;
        double q = (double)n * PROV[p].n / total;
        alloc[p] = (int)floor(q);  /* 0 <= q <= n */
        rem[p] = q - alloc[p];
        given += alloc[p];
    }
    while (given < n) {
        int best = -1;
        for (int p = 0; p < NPROV; p++)
            if (PROV[p].region == region && (best < 0 || rem[p] > rem[best] + 1e-12)) best = p;
        alloc[best]++; rem[best] = -1; given++;
    }
}

/* Synthetic cities: scattered along each province's polyline, at least a minimum distance apart
 * where possible. */
static void synthetic_cities(uint64_t seed, int n_east, int n_west, city_t *cities)
{
    int alloc[NPROV], tmp[NPROV], k = 0;
    allocate(0, n_east, alloc);
    allocate(1, n_west, tmp);
    for (int p = 0; p < NPROV; p++)
        if (PROV[p].region == 1) alloc[p] = tmp[p];
    for (int p = 0; p < NPROV; p++) {
        const prov_t *P = &PROV[p];
        double seglen[2] = {0, 0}, total = 0;
        for (int s = 0; s + 1 < P->npts; s++) {
            double c = cos(0.5 * (P->pts[s][1] + P->pts[s + 1][1]) * SIM_PI / 180);
            double dx = (P->pts[s + 1][0] - P->pts[s][0]) * c, dy = P->pts[s + 1][1] - P->pts[s][1];
            seglen[s] = sqrt(dx * dx + dy * dy) * KM_PER_DEG;
            total += seglen[s];
        }
        /* minimum spacing: about 45 km at the study's density, closer when denser */
        double min_km = 45.0 * sqrt((double)P->n / (alloc[p] > 0 ? alloc[p] : 1));
        if (P->muni) min_km = alloc[p] > 1 ? 15.0 / sqrt(alloc[p]) : 0;
        int first = k;
        for (int c = 0; c < alloc[p]; c++) {
            uint64_t id = (uint64_t)p * 1000003u + (uint64_t)c;
            double lat = 0, lon = 0;
            for (int t = 0; t < 30; t++) {
                uint64_t b = (uint64_t)t * 4;
                double u = gr_sim_uniform(seed, GR_SIM_S_GEO, id, b);
                double along = u * total, x = P->pts[0][0], y = P->pts[0][1];
                for (int s = 0; s + 1 < P->npts; s++) {
                    double f = seglen[s] > 0 ? along / seglen[s] : 0;
                    if (f <= 1.0 || s + 2 == P->npts) {
                        if (f > 1) f = 1;
                        x = P->pts[s][0] + f * (P->pts[s + 1][0] - P->pts[s][0]);
                        y = P->pts[s][1] + f * (P->pts[s + 1][1] - P->pts[s][1]);
                        break;
                    }
                    along -= seglen[s];
                }
                double spread = alloc[p] == 1 && P->muni ? 0 : P->spread_km;
                lat = y + spread * gr_sim_normal(seed, GR_SIM_S_GEO, id, b + 1) / KM_PER_DEG;
                lon = x + spread * gr_sim_normal(seed, GR_SIM_S_GEO, id, b + 2) /
                              (KM_PER_DEG * cos(y * SIM_PI / 180));
                int okpos = 1;
                for (int q = first; q < k && okpos; q++)
                    if (gr_haversine_km(lat, lon, cities[q].lat, cities[q].lon) < min_km) okpos = 0;
                if (okpos) break;
            }
            city_t *C = &cities[k++];
            C->region = P->region; C->prov = p; C->lat = lat; C->lon = lon; C->alloc = alloc[p];
            C->adcode = (long)(p + 1) * 100000 + c + 1;
            char buf[64];
            snprintf(buf, sizeof buf, "%s-%d-%03d", P->region ? "west" : "east",
                     P->region ? p - 8 : p + 1, c + 1);
            C->name = gr_strdup(buf);
        }
    }
}

static int find_prov(const char *zh)
{
    for (int p = 0; p < NPROV; p++)
        if (!strcmp(PROV[p].zh, zh)) return p;
    return -1;
}

/* The study's cities from a city table (README of the shared data): every unit of the 19
 * provinces, less Laiwu. */
static int csv_cities(const char *path, city_t **out, int *n_east, int *n_west)
{
    char *force[] = {"name", "province"};
    gr_csv csv;
    GR_CALL(gr_csv_read(path, ',', force, 2, &csv));
    const char *need[] = {"adcode", "name", "province", "longitude", "latitude"};
    int col[5];
    for (int k = 0; k < 5; k++) {
        col[k] = gr_csv_find(&csv, need[k]);
        if (col[k] < 0) {
            gr_csv_free(&csv);
            return gr_fail(GR_EFORMAT, path, "missing column '%s' (expected adcode,name,province,...,"
                           "longitude,latitude)", need[k]);
        }
    }
    for (int k = 0; k < 5; k++) {
        int want_string = k == 1 || k == 2;
        if (csv.is_string[col[k]] != want_string) {
            gr_csv_free(&csv);
            return gr_fail(GR_EFORMAT, path, "column '%s' should be %s", need[k],
                           want_string ? "text" : "numeric");
        }
    }
    city_t *c = gr_calloc((size_t)csv.nrows + 1, sizeof *c);
    /* counted over any number of rows (no int to wrap); checked against the study's counts below */
    int64_t n = 0, ne = 0, nw = 0, seen[NPROV] = {0};
    for (int64_t r = 0; r < csv.nrows; r++) {
        const char *prov = csv.str[col[2]][r], *name = csv.str[col[1]][r];
        int p = prov ? find_prov(prov) : -1;
        if (p < 0) continue;
        if (name && !strcmp(name, EXCLUDED_CITY)) continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%lld", path, (long long)csv.line[r]);
        double ad = csv.num[col[0]][r], lon = csv.num[col[3]][r], lat = csv.num[col[4]][r];
        const char *bad = NULL;
        if (!name || !*name) bad = "name: expected a city name";
        else if (!(ad >= 1 && ad <= 999999 && ad == floor(ad))) bad = "adcode: expected a 6-digit code";
        else if (!(lon >= 73 && lon <= 136)) bad = "longitude: expected degrees east within China (73..136)";
        else if (!(lat >= 3 && lat <= 54)) bad = "latitude: expected degrees north within China (3..54)";
        if (bad) {
            for (int64_t q = 0; q < n; q++) free(c[q].name);
            free(c);
            gr_csv_free(&csv);
            return gr_fail(GR_EFORMAT, where, "column %s", bad);
        }
        c[n].region = PROV[p].region; c[n].prov = p; c[n].adcode = (long)ad;
        c[n].lat = lat; c[n].lon = lon; c[n].name = gr_strdup(name);
        seen[p]++;
        if (PROV[p].region) nw++; else ne++;
        n++;
    }
    gr_csv_free(&csv);
    const char *missing = NULL;
    for (int p = 0; p < NPROV; p++)
        if (!seen[p] && !missing) missing = PROV[p].zh;
    if (ne != GR_SIM_EAST || nw != GR_SIM_WEST || missing) {
        for (int64_t q = 0; q < n; q++) free(c[q].name);
        free(c);
        if (missing)
            return gr_fail(GR_EINPUT, path, "no city of province %s; the study needs all units of 9 eastern "
                           "and 10 western provinces", missing);
        return gr_fail(GR_EINPUT, path, "found %lld eastern and %lld western study cities, expected %d and %d "
                       "(9 eastern provinces less Laiwu; 10 western provinces)", (long long)ne, (long long)nw,
                       GR_SIM_EAST, GR_SIM_WEST);
    }
    for (int64_t q = 0; q < n; q++) c[q].alloc = (int)seen[c[q].prov];  /* <= ne + nw = 197 here */
    *out = c; *n_east = GR_SIM_EAST; *n_west = GR_SIM_WEST;  /* = ne, nw (checked above) */
    return GR_OK;
}

/* ---------------- helpers ---------------- */

static double *dvec(int64_t n) { return gr_calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

static void zscore(double *v, int64_t n)
{
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; i++) m += v[i];
    m /= (double)(n > 0 ? n : 1);
    for (int64_t i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    s = n > 1 ? sqrt(s / (double)n) : 0;
    for (int64_t i = 0; i < n; i++) v[i] = s > 1e-12 ? (v[i] - m) / s : 0;
}

/* Remove row and column means of an E x W matrix (row-major). */
static void double_center(double *a, int E, int W)
{
    double *rm = dvec(E), *cm = dvec(W), g = 0;
    for (int e = 0; e < E; e++)
        for (int w = 0; w < W; w++) { rm[e] += a[(int64_t)e * W + w]; cm[w] += a[(int64_t)e * W + w]; }
    for (int e = 0; e < E; e++) { g += rm[e]; rm[e] /= W; }
    for (int w = 0; w < W; w++) cm[w] /= E;
    g /= (double)E * W;
    for (int e = 0; e < E; e++)
        for (int w = 0; w < W; w++) a[(int64_t)e * W + w] -= rm[e] + cm[w] - g;
    free(rm); free(cm);
}

static double logistic(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Poisson draw by inversion of a uniform; normal approximation (z) for large means. */
static double poisson(double mean, double u, double z)
{
    if (mean > 100) return fmax(0, floor(mean + sqrt(mean) * z + 0.5));
    double p = exp(-mean), c = p;
    int k = 0;
    while (u > c && k < 1000) { k++; p *= mean / k; c += p; }
    return k;
}

/* Labels array of n strings (owned by the caller / table). */
static char **labels_new(int n) { return gr_calloc((size_t)(n > 0 ? n : 1), sizeof(char *)); }

typedef struct { double score; int e, w; } edge_t;

static int edge_cmp(const void *a, const void *b)
{
    const edge_t *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->e != y->e) return x->e - y->e;
    return x->w - y->w;
}

typedef struct { double key; int id; } rank_t;

static int rank_cmp(const void *a, const void *b)
{
    const rank_t *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->id - y->id;
}

/* Choose `k` cities with the largest propensity among ids [first, first + n). */
static void choose_top(const double *prop, int first, int n, int k, double *in_program)
{
    rank_t *r = gr_malloc((size_t)(n > 0 ? n : 1), sizeof *r);
    for (int i = 0; i < n; i++) { r[i].key = prop[first + i]; r[i].id = first + i; }
    qsort(r, (size_t)n, sizeof *r, rank_cmp);
    for (int i = 0; i < k && i < n; i++) in_program[r[i].id] = 1;
    free(r);
}

/* Partner pairs among program cities: a greedy cover in which every program city has a partner
 * (a maximal matching on descending score, then each still-uncovered city's best edge), filled up
 * to `K` pairs by the next best scores. Sets part[e * W + w] = 1. */
static void choose_partners(const double *score, const double *in_program, int E, int W, int K,
                            unsigned char *part)
{
    int64_t ne = 0;
    int pe = 0, pw = 0;
    for (int e = 0; e < E; e++) pe += in_program[e] > 0;
    for (int w = 0; w < W; w++) pw += in_program[E + w] > 0;
    edge_t *ed = gr_malloc((size_t)pe * (size_t)pw + 1, sizeof *ed);
    for (int e = 0; e < E; e++) {
        if (!(in_program[e] > 0)) continue;
        for (int w = 0; w < W; w++)
            if (in_program[E + w] > 0) {
                ed[ne].score = score[(int64_t)e * W + w]; ed[ne].e = e; ed[ne].w = w; ne++;
            }
    }
    qsort(ed, (size_t)ne, sizeof *ed, edge_cmp);
    unsigned char *ce = gr_calloc((size_t)E, 1), *cw = gr_calloc((size_t)W, 1);
    int chosen = 0, small = pe < pw ? pe : pw, matched = 0;
    for (int64_t k = 0; k < ne && matched < small; k++)
        if (!ce[ed[k].e] && !cw[ed[k].w]) {
            ce[ed[k].e] = cw[ed[k].w] = 1; part[(int64_t)ed[k].e * W + ed[k].w] = 1; matched++; chosen++;
        }
    for (int64_t k = 0; k < ne; k++)
        if (!ce[ed[k].e] || !cw[ed[k].w]) {
            ce[ed[k].e] = cw[ed[k].w] = 1; part[(int64_t)ed[k].e * W + ed[k].w] = 1; chosen++;
        }
    for (int64_t k = 0; k < ne && chosen < K; k++)
        if (!part[(int64_t)ed[k].e * W + ed[k].w]) { part[(int64_t)ed[k].e * W + ed[k].w] = 1; chosen++; }
    free(ce); free(cw); free(ed);
}

static void add_col(gr_table *t, const char *name, double *v, int is_int)
{
    gr_table_add(t, name, v, is_int, NULL, 0);
}

void gr_sim_world_free(gr_sim_world *w)
{
    gr_table_free(&w->cities);
    gr_table_free(&w->pairs);
    free(w->exporter_offsets); free(w->exp_fx); free(w->imp_fx); free(w->city_fx);
    memset(w, 0, sizeof *w);
}

/* The city attributes while the world is built: N values each (labels: N names, nprov provinces, 2
 * regions), handed to the cities table by cities_table. */
typedef struct {
    int N, nprov;
    double *id, *name, *prov, *region, *lat, *lon, *adcode, *gdp, *gdppc, *pop, *minority;
    double *gi, *ef18, *ef21, *road, *inet, *dialect, *in_program;
    double *ef17, *efc17, *hsr, *fwy, *mobile; /* lagged firms (new, cumulative), rail start, freeways, mobiles */
    char **name_lab, **prov_lab, **reg_lab;
} city_cols;

/* The cities, sorted by city_cmp: read from cfg->cities_csv or synthetic; *E eastern and *W western.
 * Checks the sizes; *cs (E + W entries, the caller frees it) is NULL on failure. */
static int world_cities(const gr_sim_config *cfg, city_t **cs, int *E, int *W)
{
    *cs = NULL;
    if (cfg->cities_csv) {
        GR_CALL(csv_cities(cfg->cities_csv, cs, E, W));
    } else {
        *E = cfg->n_east; *W = cfg->n_west;
        if (*E < 1 || *W < 1 || cfg->n_months < 1)
            return gr_fail(GR_EINPUT, "simulate", "sizes must be positive");
        /* city ids, and counts of cities and partners below them, are ints */
        if ((int64_t)*E + *W > INT_MAX)
            return gr_fail(GR_EINPUT, "simulate", "%d + %d cities do not fit an int", *E, *W);
        *cs = gr_calloc((size_t)(*E + *W), sizeof **cs);
        synthetic_cities(cfg->seed, *E, *W, *cs);
    }
    if (cfg->n_months < 1) {
        for (int i = 0; i < *E + *W; i++) free((*cs)[i].name);
        free(*cs);
        *cs = NULL;
        return gr_fail(GR_EINPUT, "simulate", "months must be positive");
    }
    qsort(*cs, (size_t)(*E + *W), sizeof **cs, city_cmp);
    return GR_OK;
}

/* Allocate cc's columns for N cities (zeros; no labels yet). */
static void city_cols_alloc(city_cols *cc, int N)
{
    memset(cc, 0, sizeof *cc);
    cc->N = N;
    cc->id = dvec(N); cc->name = dvec(N); cc->prov = dvec(N); cc->region = dvec(N); cc->lat = dvec(N);
    cc->lon = dvec(N); cc->adcode = dvec(N); cc->gdp = dvec(N); cc->gdppc = dvec(N); cc->pop = dvec(N);
    cc->minority = dvec(N); cc->gi = dvec(N); cc->ef18 = dvec(N); cc->ef21 = dvec(N); cc->road = dvec(N);
    cc->inet = dvec(N); cc->dialect = dvec(N); cc->in_program = dvec(N);
    cc->ef17 = dvec(N); cc->efc17 = dvec(N); cc->hsr = dvec(N); cc->fwy = dvec(N); cc->mobile = dvec(N);
    cc->name_lab = labels_new(N); cc->prov_lab = labels_new(NPROV); cc->reg_lab = labels_new(2);
}

/* The attributes added for the heterogeneity analyses (their own stream, so the others keep their draws):
 * e-commerce firms of 2017 (the lag of ecommerce_firms_2018) and cumulative to 2017 (the lag of
 * ecommerce_firms_2021), the year high-speed rail service started,
 * freeway density and mobile phones per 100 residents, all tied to GDP per capita (docs/simulator.md). */
static void more_attributes(uint64_t seed, int i, int west, city_cols *cc)
{
    double z[5], lpc = log(cc->gdppc[i] / 6.0);
    for (int k = 0; k < 5; k++) z[k] = gr_sim_normal(seed, GR_SIM_S_CITY2, (uint64_t)i, (uint64_t)k);
    cc->ef17[i] = floor(cc->ef18[i] * exp(-0.25 + 0.3 * z[0]) + 0.5);
    /* cumulative to 2017: at least the 2017 entrants, at most the 2021 total less the 2018 entrants */
    cc->efc17[i] = fmax(cc->ef17[i], fmin(cc->ef21[i] - cc->ef18[i], floor(0.4 * cc->ef21[i] * exp(0.2 * z[4]) + 0.5)));
    cc->hsr[i] = fmin(2025, fmax(2008, floor(2013.5 + (west ? 2.5 : -1.5) - 2.5 * lpc + 2.0 * z[1] + 0.5)));
    cc->fwy[i] = (west ? 1.6 : 3.6) * exp(0.5 * lpc + 0.35 * z[2]);
    cc->mobile[i] = fmin(160, fmax(55, 100 + 18 * lpc + 8 * z[3]));
}

/* Geography, province codes (in order of first appearance) and the drawn attributes of each city: GDP,
 * population, minority share, GI products, e-commerce firms, roads, internet users. The city names move
 * into cc->name_lab. */
static void city_attributes(const gr_sim_config *cfg, const city_t *cs, city_cols *cc)
{
    uint64_t seed = cfg->seed;
    int prov_code[NPROV];
    for (int p = 0; p < NPROV; p++) prov_code[p] = -1;
    for (int i = 0; i < cc->N; i++) {
        const city_t *C = &cs[i];
        const prov_t *P = &PROV[C->prov];
        if (prov_code[C->prov] < 0) {
            prov_code[C->prov] = cc->nprov;
            char buf[64];
            if (cfg->cities_csv) snprintf(buf, sizeof buf, "%s", P->zh);
            else snprintf(buf, sizeof buf, "%s-%d", P->region ? "west" : "east",
                          P->region ? C->prov - 8 : C->prov + 1);
            cc->prov_lab[cc->nprov++] = gr_strdup(buf);
        }
        cc->id[i] = i; cc->name[i] = i; cc->name_lab[i] = C->name;
        cc->prov[i] = prov_code[C->prov]; cc->region[i] = C->region; cc->lat[i] = C->lat; cc->lon[i] = C->lon;
        cc->adcode[i] = (double)C->adcode;
        double z[10];
        for (int k = 0; k < 10; k++) z[k] = gr_sim_normal(seed, GR_SIM_S_CITY, (uint64_t)i, (uint64_t)k);
        int single = P->muni && C->alloc == 1;
        double *gdppc = cc->gdppc, *pop = cc->pop, *minority = cc->minority;
        gdppc[i] = P->gdppc * exp(single ? 0 : 0.35 * z[0]);
        pop[i] = P->pop * P->n / (double)C->alloc * exp(single ? 0 : 0.45 * z[1]);
        cc->gdp[i] = pop[i] * gdppc[i] * 10.0; /* millions x 10,000 yuan = 10 billion yuan */
        minority[i] = logistic(log(P->minority / (1 - P->minority)) + 0.9 * z[2]);
        double gmean = (C->region ? 6.0 : 4.0) * exp(1.5 * (minority[i] - 0.15) + 0.4 * z[3]);
        cc->gi[i] = poisson(gmean, gr_sim_uniform(seed, GR_SIM_S_CITY, (uint64_t)i, 100), z[4]);
        cc->ef18[i] = floor(40.0 * pop[i] * pow(gdppc[i] / 6.0, 1.5) * exp(0.5 * z[5]) + 0.5);
        cc->ef21[i] = cc->ef18[i] + floor(cc->ef18[i] * 2.0 * exp(0.25 * z[6]) + 0.5);
        cc->road[i] = (C->region ? 0.55 : 0.95) * pow(gdppc[i] / 6.0, 0.4) * exp(0.3 * z[7]);
        cc->inet[i] = fmin(98, fmax(15, 60 + 12 * log(gdppc[i] / 6.0) + 6 * z[8]));
        more_attributes(seed, i, C->region, cc);
    }
    cc->reg_lab[0] = gr_strdup("east"); cc->reg_lab[1] = gr_strdup("west");
}

/* Dialect districts: about one per 4 cities of a province, cities joining the nearest of randomly chosen
 * seed cities; numbered across provinces into cc->dialect. */
static void dialect_districts(uint64_t seed, city_cols *cc)
{
    int N = cc->N, next = 0, *members = gr_malloc((size_t)N, sizeof(int));
    const double *lat = cc->lat, *lon = cc->lon;
    for (int pc = 0; pc < cc->nprov; pc++) {
        int m = 0;
        for (int i = 0; i < N; i++)
            if ((int)cc->prov[i] == pc) members[m++] = i;  /* a province code < NPROV */
        int k = (int)lround(m / 4.0);  /* m <= N */
        if (k < 1) k = 1;
        rank_t *r = gr_malloc((size_t)m, sizeof *r);
        for (int q = 0; q < m; q++) {
            r[q].key = gr_sim_uniform(seed, GR_SIM_S_DIALECT, (uint64_t)members[q], 0);
            r[q].id = members[q];
        }
        qsort(r, (size_t)m, sizeof *r, rank_cmp);
        for (int q = 0; q < m; q++) {
            int i = members[q], best = 0;
            double bd = INFINITY;
            for (int s = 0; s < k; s++) {
                double d = gr_haversine_km(lat[i], lon[i], lat[r[s].id], lon[r[s].id]);
                if (d < bd) { bd = d; best = s; }
            }
            cc->dialect[i] = next + best;
        }
        next += k;
        free(r);
    }
    free(members);
}

/* Program cities: PE of the E eastern and PW of the W western cities (scaled from the study's counts),
 * chosen on size (east) or poverty and minority share (west) plus noise into cc->in_program; and the
 * number of undirected partner pairs into w->n_partners. */
static void program_cities(uint64_t seed, int E, int W, city_cols *cc, gr_sim_world *w)
{
    int N = cc->N;
    /* below E and W (the factors are < 1): fit an int */
    int PE = (int)lround((double)GR_SIM_PROG_EAST * E / GR_SIM_EAST);
    int PW = (int)lround((double)GR_SIM_PROG_WEST * W / GR_SIM_WEST);
    if (PE < 1) PE = 1;
    if (PW < 1) PW = 1;
    if (PE > E) PE = E;
    if (PW > W) PW = W;
    int64_t K = llround((double)GR_SIM_PARTNERS * (PE + PW) / (GR_SIM_PROG_EAST + GR_SIM_PROG_WEST));
    if (K < (PE > PW ? PE : PW)) K = PE > PW ? PE : PW;
    if (K > (int64_t)PE * PW) K = (int64_t)PE * PW;
    double *lg = dvec(N), *lpc = dvec(N), *mn = dvec(N), *prop = dvec(N);
    for (int i = 0; i < N; i++) { lg[i] = log(cc->gdp[i]); lpc[i] = log(cc->gdppc[i]); mn[i] = cc->minority[i]; }
    zscore(lg, E); zscore(lpc + E, W); zscore(mn + E, W);
    for (int i = 0; i < N; i++) {
        double u = gr_sim_normal(seed, GR_SIM_S_PROGRAM, (uint64_t)i, 0);
        prop[i] = i < E ? 0.8 * lg[i] + u : -0.8 * lpc[i] + 0.4 * mn[i] + u;
    }
    choose_top(prop, 0, E, PE, cc->in_program);
    choose_top(prop, E, W, PW, cc->in_program);
    free(lg); free(lpc); free(mn); free(prop);
    /* K <= max(PE, PW, 128/137 (PE + PW)) <= E + W <= INT_MAX (checked in world_cities) */
    w->n_prog_east = PE; w->n_prog_west = PW; w->n_partners = (int)K;
}

/* The undirected pair quantities (E x W, row-major; allocated here): distance, its log (floored at 1 km),
 * the log GDP gap, and the latent affinity (latent_affinity). */
typedef struct { int E, W; double *dist, *ld, *gd, *aff; } pair_geo;

static void pair_geo_free(pair_geo *g) { free(g->dist); free(g->ld); free(g->gd); free(g->aff); }

/* The latent affinity: a few long waves in (x_e, y_e, x_w, y_w), interaction part only, orthogonal to log
 * distance, unit variance. */
static void latent_affinity(uint64_t seed, const city_cols *cc, pair_geo *g)
{
    enum { NW = 4 };
    int E = g->E, W = g->W;
    int64_t EW = (int64_t)E * W;
    const double *lat = cc->lat, *lon = cc->lon;
    double om[NW][4], ph[NW], *aff = g->aff;
    for (int k = 0; k < NW; k++) {
        double nrm = 0;
        for (int d = 0; d < 4; d++) {
            om[k][d] = gr_sim_normal(seed, GR_SIM_S_AFFINITY, (uint64_t)k, (uint64_t)d);
            nrm += om[k][d] * om[k][d];
        }
        double L = 1800.0 + 1700.0 * gr_sim_uniform(seed, GR_SIM_S_AFFINITY, (uint64_t)k, 10);
        for (int d = 0; d < 4; d++) om[k][d] *= 2 * SIM_PI / (L * sqrt(nrm));
        ph[k] = 2 * SIM_PI * gr_sim_uniform(seed, GR_SIM_S_AFFINITY, (uint64_t)k, 11);
    }
    const double cx = KM_PER_DEG * cos(33.0 * SIM_PI / 180), cy = KM_PER_DEG;
    for (int e = 0; e < E; e++)
        for (int v = 0; v < W; v++) {
            double x[4] = {lon[e] * cx, lat[e] * cy, lon[E + v] * cx, lat[E + v] * cy}, f = 0;
            for (int k = 0; k < NW; k++)
                f += sin(om[k][0] * x[0] + om[k][1] * x[1] + om[k][2] * x[2] + om[k][3] * x[3] + ph[k]);
            aff[(int64_t)e * W + v] = f;
        }
    double_center(aff, E, W);
    double *ldc = dvec(EW);
    memcpy(ldc, g->ld, (size_t)EW * sizeof(double));
    double_center(ldc, E, W);
    double sxy = 0, sxx = 0;
    for (int64_t q = 0; q < EW; q++) { sxy += aff[q] * ldc[q]; sxx += ldc[q] * ldc[q]; }
    double b = sxx > 1e-12 ? sxy / sxx : 0, ss = 0;
    for (int64_t q = 0; q < EW; q++) { aff[q] -= b * ldc[q]; ss += aff[q] * aff[q]; }
    double sd = sqrt(ss / (double)EW);
    for (int64_t q = 0; q < EW; q++) aff[q] = sd > 1e-9 ? aff[q] / sd : 0;
    free(ldc);
}

/* The pair quantities of g (allocated here) for E eastern and W western cities. */
static void pair_geometry(uint64_t seed, int E, int W, const city_cols *cc, pair_geo *g)
{
    int64_t EW = (int64_t)E * W;
    g->E = E; g->W = W;
    g->dist = dvec(EW); g->ld = dvec(EW); g->aff = dvec(EW); g->gd = dvec(EW);
    for (int e = 0; e < E; e++)
        for (int v = 0; v < W; v++) {
            int64_t q = (int64_t)e * W + v;
            g->dist[q] = gr_haversine_km(cc->lat[e], cc->lon[e], cc->lat[E + v], cc->lon[E + v]);
            g->ld[q] = log(fmax(g->dist[q], 1.0));
            g->gd[q] = log(cc->gdp[e]) - log(cc->gdp[E + v]);
        }
    latent_affinity(seed, cc, g);
}

/* Partner pairs (part[E * W], allocated here): a choice score of affinity (the confounder), distance and
 * GDP gap (observables) and noise, then choose_partners among the program cities. */
static unsigned char *partner_pairs(uint64_t seed, const pair_geo *g, const city_cols *cc, int K)
{
    int64_t EW = (int64_t)g->E * g->W;
    unsigned char *part = gr_calloc((size_t)EW, 1);
    double *zl = dvec(EW), *zg = dvec(EW), *score = dvec(EW);
    memcpy(zl, g->ld, (size_t)EW * sizeof(double));
    memcpy(zg, g->gd, (size_t)EW * sizeof(double));
    zscore(zl, EW); zscore(zg, EW);
    for (int64_t q = 0; q < EW; q++)
        score[q] = GR_SIM_SELECTION * g->aff[q] + 0.5 * zl[q] + 0.4 * zg[q] +
                   gr_sim_normal(seed, GR_SIM_S_SELECT, (uint64_t)q, 0);
    choose_partners(score, cc->in_program, g->E, g->W, K, part);
    free(zl); free(zg); free(score);
    return part;
}

/* The pair columns added for the mechanism and heterogeneity tables (docs/simulator.md): migration ratios
 * by year (2019-2021, pre- and post-CNY) whose means are migration / migration_post, the east-to-west
 * migration ratio, direct flights, and the planted direct w2e partner effect of each pair. */
typedef struct {
    double *mig[2][4];   /* [pre, post][2019, 2020, 2021, mean] */
    double *mig_e2w, *flights, *effect;
    double *hi_west;     /* per city: hi_minority_share_west (derived.h), 0 for eastern cities */
    double lgdp_mean[2]; /* mean log GDP, east and west */
    double hte_share;    /* = w->hte_share */
} pair_extra;

static const char *const MIG_NAMES[2][4] = {
    {"migration_2019", "migration_2020", "migration_2021", "migration"},
    {"migration_post_2019", "migration_post_2020", "migration_post_2021", "migration_post"}};

/* Soft cap of a migration ratio: about x below a few units, never above GR_SIM_MIGRATION_CAP (the study's
 * Table 1 maximum is 15.7, its SD 0.66). */
static double mig_cap(double x) { return GR_SIM_MIGRATION_CAP * tanh(x / GR_SIM_MIGRATION_CAP); }

/* Allocate x for the world's pairs, mark the high-minority western cities and centre the planted
 * heterogeneity: w->hte_share = share of the partner pairs whose western city is one of them. */
static void pair_extra_init(const pair_geo *g, const unsigned char *part, const city_cols *cc, gr_sim_world *w,
                            pair_extra *x)
{
    int E = g->E, W = g->W, N = E + W;
    int64_t NP = 2 * (int64_t)E * W;
    memset(x, 0, sizeof *x);
    for (int a = 0; a < 2; a++)
        for (int y = 0; y < 4; y++) x->mig[a][y] = dvec(NP);
    x->mig_e2w = dvec(NP); x->flights = dvec(NP); x->effect = dvec(NP); x->hi_west = dvec(N);
    unsigned char *west = gr_calloc((size_t)N, 1);
    for (int i = E; i < N; i++) west[i] = 1;
    /* cannot fail: every western city has a finite minority share */
    gr_derived_median_split(N, cc->minority, west, 1, "simulate", NULL, x->hi_west);
    free(west);
    double np = 0, nhi = 0;
    for (int e = 0; e < E; e++)
        for (int v = 0; v < W; v++)
            if (part[(int64_t)e * W + v]) { np++; nhi += x->hi_west[E + v]; }
    w->hte_share = x->hte_share = np > 0 ? nhi / np : 0;
    for (int i = 0; i < N; i++) x->lgdp_mean[i >= E] += log(cc->gdp[i]) / (i < E ? E : W);
}

/* The migration ratios of undirected pair q (eastern city e with population pop_e, western city of
 * population pop_w) into row k of x: per year the common base times year noise, soft-capped, plus the
 * partner shift; the mean over the three years; and the east-to-west ratio. */
static void migration(uint64_t seed, int64_t q, double d, double pop_w, double gdppc_e, double pop_e,
                      int partner, pair_extra *x, int64_t k)
{
    uint64_t uq = (uint64_t)q;
    double lb = -4.4 - 1.3 * log(d / 1500.0) + 0.5 * log(pop_w / 3.0) + 0.4 * log(gdppc_e / 9.0) +
                2.2 * gr_sim_normal(seed, GR_SIM_S_MIGRATION, uq, 0);
    double base[2] = {lb, lb - 0.15 + 0.3 * gr_sim_normal(seed, GR_SIM_S_MIGRATION, uq, 1)};
    double shift[2] = {GR_SIM_PARTNER_MIGRATION, 0.9 * GR_SIM_PARTNER_MIGRATION};
    for (int a = 0; a < 2; a++) {
        double sum = 0;
        for (int y = 0; y < 3; y++) {
            double s = a ? 0.2 : 0.3, zy = gr_sim_normal(seed, GR_SIM_S_MIGRATION, uq, (uint64_t)(2 + 3 * a + y));
            double m = mig_cap(exp(base[a] + s * zy - 0.5 * s * s)) + shift[a] * partner;
            x->mig[a][y][k] = m;
            sum += m;
        }
        x->mig[a][3][k] = sum / 3.0;
    }
    double le = -6.0 - 1.0 * log(d / 1500.0) + 0.5 * log(pop_e / 5.0) +
                1.8 * gr_sim_normal(seed, GR_SIM_S_MIGRATION, uq, 8);
    x->mig_e2w[k] = mig_cap(exp(le)) + GR_SIM_PARTNER_MIGRATION_E2W * partner;
}

/* Direct flights (a week, 2019; the same in both directions; no partnership effect) and the planted direct
 * partner effect of directed pair k (exporter ex, importer im, dir 1 = w2e). */
static void pair_extra_fill(uint64_t seed, int64_t q, int dir, int ex, int im, double d, const double *gdp,
                            pair_extra *x, int64_t k)
{
    uint64_t uq = (uint64_t)q;
    int e = dir ? im : ex, v = dir ? ex : im;
    double mu = exp(-0.3 + 0.9 * (log(gdp[e]) - x->lgdp_mean[0]) + 0.8 * (log(gdp[v]) - x->lgdp_mean[1]) +
                    0.5 * log(d / 1500.0) + 0.6 * gr_sim_normal(seed, GR_SIM_S_FLIGHTS, uq, 0));
    x->flights[k] = poisson(mu, gr_sim_uniform(seed, GR_SIM_S_FLIGHTS, uq, 1),
                            gr_sim_normal(seed, GR_SIM_S_FLIGHTS, uq, 2));
    x->effect[k] = dir ? GR_SIM_PARTNER_W2E - GR_SIM_MIGRATION_TRADE * GR_SIM_PARTNER_MIGRATION +
                             GR_SIM_HTE_MINORITY * (x->hi_west[v] - x->hte_share)
                       : GR_SIM_PARTNER_E2W;
}

/* Hand x's columns to the pairs table (x->hi_west is freed). */
static void pair_extra_add(pair_extra *x, gr_table *pt)
{
    for (int a = 0; a < 2; a++)
        for (int y = 0; y < 3; y++) add_col(pt, MIG_NAMES[a][y], x->mig[a][y], 0);
    add_col(pt, "migration_e2w", x->mig_e2w, 0); add_col(pt, "direct_flights", x->flights, 1);
    add_col(pt, "truth_partner_effect", x->effect, 0);
    free(x->hi_west);
    memset(x, 0, sizeof *x);
}

/* The pairs table: directed pairs, exporter-major, east exporters first; partner flag, control type
 * (counted into w->control_count), distance, GDP gap, migration and offline trade, latent affinity. */
static void pairs_table(uint64_t seed, const pair_geo *g, const unsigned char *part, const city_cols *cc,
                        gr_sim_world *w)
{
    int E = g->E, W = g->W;
    int64_t EW = (int64_t)E * W, NP = 2 * EW;
    const double *gdp = cc->gdp, *gdppc = cc->gdppc, *pop = cc->pop, *dist = g->dist;
    w->n_pairs = NP;
    gr_table *pt = &w->pairs;
    pt->nrows = NP;
    double *pid = dvec(NP), *pex = dvec(NP), *pim = dvec(NP), *pdir = dvec(NP), *ppart = dvec(NP);
    double *pdist = dvec(NP), *pctl = dvec(NP), *pgd = dvec(NP);
    double *poff12 = dvec(NP), *poff17 = dvec(NP), *paff = dvec(NP);
    pair_extra x;
    pair_extra_init(g, part, cc, w, &x);
    double *pmig = x.mig[0][3], *pmigp = x.mig[1][3]; /* the means: migration, migration_post */
    for (int64_t k = 0; k < NP; k++) {
        int e, v, dir;
        /* city indices: below E and W */
        if (k < EW) { dir = 0; e = (int)(k / W); v = (int)(k % W); }
        else { dir = 1; v = (int)((k - EW) / E); e = (int)((k - EW) % E); }
        int64_t q = (int64_t)e * W + v;
        int ex = dir ? E + v : e, im = dir ? e : E + v;
        pid[k] = (double)k; pex[k] = ex; pim[k] = im; pdir[k] = dir;
        ppart[k] = part[q]; pdist[k] = dist[q]; pgd[k] = g->gd[q]; paff[k] = g->aff[q];
        int ie = cc->in_program[e] > 0, iw = cc->in_program[E + v] > 0;
        int ctl = part[q] ? 0 : ie && iw ? 4 : ie ? 2 : iw ? 3 : 1;
        pctl[k] = ctl;
        w->control_count[ctl]++;
        /* migration ratios (west-to-east migrants, pair level: the same for both directions) */
        migration(seed, q, dist[q], pop[E + v], gdppc[e], pop[e], part[q], &x, k);
        pair_extra_fill(seed, q, dir, ex, im, dist[q], gdp, &x, k);
        /* offline trade (million yuan): gravity plus the same latent affinity, no partnership */
        double lo = -3.0 + 1.0 * log(gdp[ex]) + 0.9 * log(gdp[im]) - 1.0 * log(dist[q] / 1000.0) +
                    GR_SIM_AFFINITY_TRADE * g->aff[q] + 0.8 * gr_sim_normal(seed, GR_SIM_S_OFFLINE, (uint64_t)k, 0);
        poff12[k] = exp(lo);
        poff17[k] = exp(lo + 0.35 + 0.15 * gr_sim_normal(seed, GR_SIM_S_OFFLINE, (uint64_t)k, 1));
    }
    add_col(pt, "pair", pid, 1); add_col(pt, "exporter", pex, 1); add_col(pt, "importer", pim, 1);
    char **dir_lab = gr_malloc(2, sizeof *dir_lab);
    dir_lab[0] = gr_strdup("East to west");
    dir_lab[1] = gr_strdup("West to east");
    gr_table_add(pt, "dir", pdir, 1, dir_lab, 2);
    add_col(pt, "partner", ppart, 1); add_col(pt, "distance_km", pdist, 0);
    add_col(pt, "control_type", pctl, 1); add_col(pt, "gdp_diff", pgd, 0); add_col(pt, "migration", pmig, 0);
    add_col(pt, "migration_post", pmigp, 0); add_col(pt, "offline_trade_2012", poff12, 0);
    add_col(pt, "offline_trade_2017", poff17, 0); add_col(pt, "latent_affinity", paff, 0);
    pair_extra_add(&x, pt);
}

/* The city effects used by the panel (w->city_fx) and the city-month effects absorbed by the exporter-
 * and importer-month fixed effects (w->exp_fx, w->imp_fx): size, trend, season. */
static void city_effects(uint64_t seed, const city_cols *cc, gr_sim_world *w)
{
    static const double season[12] = {0.00, -0.30, 0.02, 0.00, 0.00, 0.12, 0.00, 0.00, 0.00, 0.05, 0.35, 0.10};
    int N = cc->N, E = w->n_east, W = w->n_west, M = w->n_months;
    const double *gdp = cc->gdp;
    w->city_fx = dvec((int64_t)N * GR_SIM_NCITYFX);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < GR_SIM_NCITYFX; k++)
            w->city_fx[(int64_t)i * GR_SIM_NCITYFX + k] =
                gr_sim_normal(seed, GR_SIM_S_CITY, (uint64_t)i, (uint64_t)(20 + k));
    double mlg[2] = {0, 0};
    for (int i = 0; i < N; i++) mlg[i >= E] += log(gdp[i]) / (i < E ? E : W);
    w->exp_fx = dvec((int64_t)N * M);
    w->imp_fx = dvec((int64_t)N * M);
    for (int i = 0; i < N; i++) {
        const double *fx = w->city_fx + (int64_t)i * GR_SIM_NCITYFX;
        int r = i >= E;
        double size = log(gdp[i]) - mlg[r], trend = (r ? 0.20 : 0.15) + 0.08 * fx[2];
        for (int m = 0; m < M; m++) {
            double s = season[m % 12] + (m == 37 ? -0.25 : m == 38 ? -0.10 : 0);
            w->exp_fx[(int64_t)i * M + m] = (r ? 11.3 : 13.6) + 1.2 * size + 1.0 * fx[0] + trend * m / 12.0 + s +
                0.08 * gr_sim_normal(seed, GR_SIM_S_CITYMONTH, (uint64_t)i, (uint64_t)m * 4);
            w->imp_fx[(int64_t)i * M + m] = 1.0 * size + 0.6 * fx[1] + 0.05 * m / 12.0 + 0.5 * s +
                0.06 * gr_sim_normal(seed, GR_SIM_S_CITYMONTH, (uint64_t)i, (uint64_t)m * 4 + 1);
        }
    }
}

/* The cities table from cc (which it takes: its columns and labels are the table's now). */
static void cities_table(city_cols *cc, gr_table *ct)
{
    ct->nrows = cc->N;
    gr_table_add(ct, "city", cc->id, 1, NULL, 0);
    gr_table_add(ct, "name", cc->name, 1, cc->name_lab, cc->N);
    gr_table_add(ct, "province", cc->prov, 1, cc->prov_lab, cc->nprov);
    gr_table_add(ct, "region", cc->region, 1, cc->reg_lab, 2);
    add_col(ct, "adcode", cc->adcode, 1); add_col(ct, "lat", cc->lat, 0); add_col(ct, "lon", cc->lon, 0);
    add_col(ct, "in_program", cc->in_program, 1); add_col(ct, "gdp", cc->gdp, 0);
    add_col(ct, "gdp_per_capita", cc->gdppc, 0); add_col(ct, "population", cc->pop, 0);
    add_col(ct, "minority_share", cc->minority, 0); add_col(ct, "gi_products", cc->gi, 1);
    add_col(ct, "ecommerce_firms_2018", cc->ef18, 1); add_col(ct, "ecommerce_firms_2021", cc->ef21, 1);
    add_col(ct, "road_density", cc->road, 0); add_col(ct, "internet_users", cc->inet, 0);
    add_col(ct, "dialect", cc->dialect, 1);
    add_col(ct, "ecommerce_firms_2017", cc->ef17, 1); add_col(ct, "ecommerce_firms_cum_2017", cc->efc17, 1);
    add_col(ct, "hsr_start_year", cc->hsr, 1);
    add_col(ct, "freeway_density", cc->fwy, 0); add_col(ct, "mobile_penetration", cc->mobile, 0);
    memset(cc, 0, sizeof *cc);
}

int gr_sim_world_build(const gr_sim_config *cfg, gr_sim_world *w)
{
    memset(w, 0, sizeof *w);
    uint64_t seed = cfg->seed;
    city_t *cs;
    int E, W;
    GR_CALL(world_cities(cfg, &cs, &E, &W));
    const int N = E + W, M = cfg->n_months;
    w->seed = seed; w->n_east = E; w->n_west = W; w->n_cities = N; w->n_months = M;
    city_cols cc;
    city_cols_alloc(&cc, N);
    city_attributes(cfg, cs, &cc);
    free(cs);
    dialect_districts(seed, &cc);
    program_cities(seed, E, W, &cc, w);
    pair_geo g;
    pair_geometry(seed, E, W, &cc, &g);
    unsigned char *part = partner_pairs(seed, &g, &cc, w->n_partners);
    pairs_table(seed, &g, part, &cc, w);
    pair_geo_free(&g);
    free(part);
    city_effects(seed, &cc, w);
    cities_table(&cc, &w->cities);
    /* panel offsets: exporter c's rows are its pairs x months */
    w->exporter_offsets = gr_malloc((size_t)N + 1, sizeof(int64_t));
    w->exporter_offsets[0] = 0;
    for (int i = 0; i < N; i++) w->exporter_offsets[i + 1] = w->exporter_offsets[i] + (int64_t)(i < E ? W : E) * M;
    return GR_OK;
}
