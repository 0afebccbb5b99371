/* spatial.c: haversine distances and complete-linkage segments within provinces.
 *
 * The clustering keeps, per province, the condensed matrix of cluster distances and for every
 * active cluster its best partner (smallest (distance, key)). A cluster always lives in the slot of
 * its smallest city (slots are the province's cities in id order), so a merge key is simply
 * (smaller slot, larger slot). Under complete linkage a merge never makes a cluster a better partner
 * of a third cluster than it was before, so only the merged cluster and clusters whose partner was
 * one of the two merged ones need a rescan: about O(m^2) per province, O(m^3) at worst. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spatial.h"

#define DEG2RAD (3.14159265358979323846 / 180.0)

double gr_haversine_km(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double sp = sin((p2 - p1) / 2), sl = sin((lon2 - lon1) * DEG2RAD / 2);
    double a = sp * sp + cos(p1) * cos(p2) * sl * sl;
    if (a > 1) a = 1;
    return 2 * GR_EARTH_RADIUS_KM * asin(sqrt(a));
}

/* Condensed index of slots i < j among m. */
static size_t cidx(size_t m, size_t i, size_t j)
{
    return i * (2 * m - i - 1) / 2 + (j - i - 1);
}

static double cdist(const double *D, size_t m, int i, int j)
{
    return i < j ? D[cidx(m, (size_t)i, (size_t)j)] : D[cidx(m, (size_t)j, (size_t)i)];
}

/* 1 if candidate (d1, merge of slots i1,j1) comes strictly before (d2, i2,j2). */
static int better(double d1, int i1, int j1, double d2, int i2, int j2)
{
    int lo1 = i1 < j1 ? i1 : j1, hi1 = i1 < j1 ? j1 : i1;
    int lo2 = i2 < j2 ? i2 : j2, hi2 = i2 < j2 ? j2 : i2;
    if (d1 != d2) return d1 < d2;
    if (lo1 != lo2) return lo1 < lo2;
    return hi1 < hi2;
}

static void rescan(const double *D, int m, const char *active, int i, int *nn, double *nnd)
{
    nn[i] = -1;
    nnd[i] = INFINITY;
    for (int k = 0; k < m; k++) {
        if (k == i || !active[k]) continue;
        double dk = cdist(D, (size_t)m, i, k);
        if (nn[i] < 0 || better(dk, i, k, nnd[i], i, nn[i])) { nn[i] = k; nnd[i] = dk; }
    }
}

/* Cluster the m cities ids[0..m) (ascending) of one province; root[ids[s]] = smallest city id of
 * the segment of slot s. */
static void cluster_province(int m, const int *ids, const double *lat, const double *lon, double d,
                             int *root)
{
    if (m == 1) { root[ids[0]] = ids[0]; return; }
    size_t mm = (size_t)m;
    double *D = gr_malloc(mm * (mm - 1) / 2, sizeof *D);
    for (int i = 0; i < m; i++)
        for (int j = i + 1; j < m; j++)
            D[cidx(mm, (size_t)i, (size_t)j)] =
                gr_haversine_km(lat[ids[i]], lon[ids[i]], lat[ids[j]], lon[ids[j]]);
    char *active = gr_malloc(mm, 1);
    int *nn = gr_malloc(mm, sizeof *nn), *parent = gr_malloc(mm, sizeof *parent);
    double *nnd = gr_malloc(mm, sizeof *nnd);
    for (int i = 0; i < m; i++) { parent[i] = i; active[i] = 1; }
    for (int i = 0; i < m; i++) rescan(D, m, active, i, nn, nnd);

    for (int left = m; left > 1; left--) {
        int best = -1;
        for (int i = 0; i < m; i++) {
            if (!active[i] || nn[i] < 0) continue;
            if (best < 0 || better(nnd[i], i, nn[i], nnd[best], best, nn[best])) best = i;
        }
        if (best < 0 || !(nnd[best] <= d)) break;
        int a = best < nn[best] ? best : nn[best], b = best < nn[best] ? nn[best] : best;
        for (int k = 0; k < m; k++) {
            if (!active[k] || k == a || k == b) continue;
            double dak = cdist(D, mm, a, k), dbk = cdist(D, mm, b, k);
            if (dbk > dak) D[a < k ? cidx(mm, (size_t)a, (size_t)k) : cidx(mm, (size_t)k, (size_t)a)] = dbk;
        }
        active[b] = 0;
        parent[b] = a;
        for (int k = 0; k < m; k++)
            if (active[k] && (k == a || nn[k] == a || nn[k] == b)) rescan(D, m, active, k, nn, nnd);
    }
    for (int i = 0; i < m; i++) {
        int r = i;
        while (parent[r] != r) r = parent[r];
        root[ids[i]] = ids[r];
    }
    free(D); free(active); free(nn); free(parent); free(nnd);
}

typedef struct { int prov, id; } prov_id;

static int cmp_prov_id(const void *x, const void *y)
{
    const prov_id *a = x, *b = y;
    if (a->prov != b->prov) return a->prov < b->prov ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

int gr_segments(int n, const double *lat, const double *lon, const int *province, double bandwidth_km,
                int *segment, int *nseg)
{
    if (!isfinite(bandwidth_km) || !(bandwidth_km > 0))
        return gr_fail(GR_EINPUT, "bandwidth", "expected a positive finite distance in km, got %g", bandwidth_km);
    if (n < 0) return gr_fail(GR_EINPUT, "segments", "negative number of cities (%d)", n);
    for (int i = 0; i < n; i++) {
        char where[48];
        snprintf(where, sizeof where, "city %d", i);
        if (isnan(lat[i]) || isnan(lon[i]))
            return gr_fail(GR_EINPUT, where, "latitude/longitude is missing (NaN)");
        if (!(lat[i] >= -90 && lat[i] <= 90))
            return gr_fail(GR_EINPUT, where, "latitude %g outside [-90, 90]", lat[i]);
        if (!(lon[i] >= -180 && lon[i] <= 180))
            return gr_fail(GR_EINPUT, where, "longitude %g outside [-180, 180]", lon[i]);
    }
    *nseg = 0;
    if (n == 0) return GR_OK;
    prov_id *order = gr_malloc((size_t)n, sizeof *order);
    int *ids = gr_malloc((size_t)n, sizeof *ids), *root = gr_malloc((size_t)n, sizeof *root);
    for (int i = 0; i < n; i++) { order[i].prov = province[i]; order[i].id = i; }
    qsort(order, (size_t)n, sizeof *order, cmp_prov_id);
    for (int s = 0; s < n;) {
        int e = s;
        while (e < n && order[e].prov == order[s].prov) { ids[e - s] = order[e].id; e++; }
        cluster_province(e - s, ids, lat, lon, bandwidth_km, root);
        s = e;
    }
    /* root[i] <= i is the segment's smallest city: number segments when first met in id order. */
    int *segof = ids;
    int next = 0;
    for (int i = 0; i < n; i++) segof[i] = -1;
    for (int i = 0; i < n; i++) {
        if (segof[root[i]] < 0) segof[root[i]] = next++;
        segment[i] = segof[root[i]];
    }
    *nseg = next;
    free(order); free(ids); free(root);
    return GR_OK;
}

int gr_segment_diameters(int n, const double *lat, const double *lon, const int *segment, int nseg,
                         double *diam)
{
    for (int i = 0; i < n; i++)
        if (segment[i] < 0 || segment[i] >= nseg)
            return gr_fail(GR_EINPUT, "segments", "city %d has segment id %d outside [0, %d)", i, segment[i], nseg);
    /* Counting sort of cities by segment, then all pairs inside each segment. */
    int *start = gr_calloc((size_t)nseg + 1, sizeof *start), *members = gr_malloc((size_t)n + 1, sizeof *members);
    int *fill = gr_malloc((size_t)nseg + 1, sizeof *fill);
    for (int i = 0; i < n; i++) start[segment[i] + 1]++;
    for (int s = 0; s < nseg; s++) start[s + 1] += start[s];
    memcpy(fill, start, (size_t)nseg * sizeof *fill);
    for (int i = 0; i < n; i++) members[fill[segment[i]]++] = i;
    for (int s = 0; s < nseg; s++) {
        double dmax = 0;
        for (int x = start[s]; x < start[s + 1]; x++)
            for (int y = x + 1; y < start[s + 1]; y++) {
                int i = members[x], j = members[y];
                double dij = gr_haversine_km(lat[i], lon[i], lat[j], lon[j]);
                if (dij > dmax) dmax = dij;
            }
        diam[s] = dmax;
    }
    free(start); free(members); free(fill);
    return GR_OK;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

int gr_segment_pairs(int n, const int *segment, int64_t m, const int *exp, const int *imp,
                     int *out, int *ncomb)
{
    int64_t span = 1;
    for (int i = 0; i < n; i++) {
        if (segment[i] < 0)
            return gr_fail(GR_EINPUT, "segments", "city %d has negative segment id %d", i, segment[i]);
        if (segment[i] + (int64_t)1 > span) span = segment[i] + (int64_t)1;
    }
    for (int64_t k = 0; k < m; k++)
        if (exp[k] >= n || imp[k] >= n)
            return gr_fail(GR_EINPUT, "pairs", "pair %lld names city %d, but there are %d cities",
                           (long long)k, exp[k] >= n ? exp[k] : imp[k], n);
    int64_t *keys = gr_malloc((size_t)m + 1, sizeof *keys), nk = 0;
    for (int64_t k = 0; k < m; k++)
        if (exp[k] >= 0 && imp[k] >= 0) keys[nk++] = segment[exp[k]] * span + segment[imp[k]];
    qsort(keys, (size_t)nk, sizeof *keys, cmp_i64);
    int64_t nu = 0;
    for (int64_t k = 0; k < nk; k++)
        if (nu == 0 || keys[k] != keys[nu - 1]) keys[nu++] = keys[k];
    if (nu > INT32_MAX) { free(keys); return gr_fail(GR_EINPUT, "pairs", "too many segment pairs"); }
    for (int64_t k = 0; k < m; k++) {
        if (exp[k] < 0 || imp[k] < 0) { out[k] = -1; continue; }
        int64_t key = segment[exp[k]] * span + segment[imp[k]], lo = 0, hi = nu - 1;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (keys[mid] < key) lo = mid + 1; else hi = mid;
        }
        out[k] = (int)lo;
    }
    *ncomb = (int)nu;
    free(keys);
    return GR_OK;
}
