/* test_spatial.c: haversine distances and complete-linkage segments (src/spatial.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "test_rng.h"
#include "spatial.h"

#define R_KM 6371.0088
#define PI 3.14159265358979323846

/* ---- haversine ---- */

static void test_haversine_known(void **state)
{
    (void)state;
    /* One degree of longitude on the equator is 2 pi R / 360; pole to pole is pi R. */
    assert_true(fabs(gr_haversine_km(0, 0, 0, 1) - 2 * PI * R_KM / 360) < 1e-9);
    assert_true(fabs(gr_haversine_km(90, 0, -90, 0) - PI * R_KM) < 1e-6);
    assert_true(fabs(gr_haversine_km(0, 0, 1, 0) - 2 * PI * R_KM / 360) < 1e-9);
    /* across the antimeridian: 179.5E to 179.5W is one degree */
    assert_true(fabs(gr_haversine_km(0, 179.5, 0, -179.5) - 2 * PI * R_KM / 360) < 1e-9);
    /* Beijing (39.904211N 116.407394E) - Shanghai (31.230372N 121.473662E), Amap centres.
     * By hand from the formula (Python math): 1067.314344514903 km; commonly quoted ~1067 km. */
    double bs = gr_haversine_km(39.904211, 116.407394, 31.230372, 121.473662);
    assert_true(fabs(bs - 1067.0) < 1.0);
    assert_true(fabs(bs - 1067.314344514903) < 1e-6);
    /* 60 degrees of latitude along a meridian = R * pi / 3 */
    assert_true(fabs(gr_haversine_km(10, 20, 70, 20) - R_KM * PI / 3) < 1e-6);
    /* at latitude 60 a 1-degree longitude step: 2 R asin(cos 60 sin 0.5deg) */
    double ref = 2 * R_KM * asin(0.5 * sin(0.5 * PI / 180));
    assert_true(fabs(gr_haversine_km(60, 10, 60, 11) - ref) < 1e-9);
}

static void test_haversine_symmetry_zero(void **state)
{
    (void)state;
    srand(7);
    for (int k = 0; k < 1000; k++) {
        double a = -90 + 180.0 * rand() / RAND_MAX, b = -180 + 360.0 * rand() / RAND_MAX;
        double c = -90 + 180.0 * rand() / RAND_MAX, d = -180 + 360.0 * rand() / RAND_MAX;
        double x = gr_haversine_km(a, b, c, d);
        assert_true(x == gr_haversine_km(c, d, a, b));
        assert_true(x >= 0 && x <= PI * R_KM + 1e-9);
        assert_true(gr_haversine_km(a, b, a, b) == 0.0);
    }
    assert_true(isnan(gr_haversine_km(NAN, 0, 0, 0)));
}

/* ---- an independent reference: greedy complete linkage recomputed from scratch ---- */

/* Cluster label of each city = smallest city id of its cluster. O(n^4) but obviously right. */
static void reference_segments(int n, const double *lat, const double *lon, const int *prov, double d,
                               int *segment, int *nseg)
{
    int *lab = malloc((size_t)n * sizeof *lab);
    for (int i = 0; i < n; i++) lab[i] = i;
    for (;;) {
        double best = INFINITY;
        int ba = -1, bb = -1;
        for (int a = 0; a < n; a++) {
            if (lab[a] != a) continue;
            for (int b = a + 1; b < n; b++) {
                if (lab[b] != b || prov[a] != prov[b]) continue;
                double dm = 0;  /* complete linkage distance: largest member distance */
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                        if (lab[i] == a && lab[j] == b) {
                            double x = gr_haversine_km(lat[i], lon[i], lat[j], lon[j]);
                            if (x > dm) dm = x;
                        }
                /* a < b and both are min ids, so (a, b) in loop order is the tie-break order */
                if (dm < best) { best = dm; ba = a; bb = b; }
            }
        }
        if (ba < 0 || !(best <= d)) break;
        for (int i = 0; i < n; i++) if (lab[i] == bb) lab[i] = ba;
    }
    int next = 0, *map = malloc((size_t)n * sizeof *map);
    for (int i = 0; i < n; i++) map[i] = -1;
    for (int i = 0; i < n; i++) {
        if (map[lab[i]] < 0) map[lab[i]] = next++;
        segment[i] = map[lab[i]];
    }
    *nseg = next;
    free(lab); free(map);
}

/* Guarantees of complete linkage checked without any reference implementation. */
static void check_guarantees(int n, const double *lat, const double *lon, const int *prov, double d,
                             const int *seg, int nseg)
{
    /* ids dense and numbered in order of each segment's smallest city */
    int seen = -1;
    for (int i = 0; i < n; i++) {
        assert_true(seg[i] >= 0 && seg[i] < nseg);
        assert_true(seg[i] <= seen + 1);
        if (seg[i] == seen + 1) seen++;
    }
    assert_int_equal(seen + 1, nseg);
    double *cross = malloc((size_t)nseg * nseg * sizeof *cross);
    int *sprov = malloc((size_t)nseg * sizeof *sprov);
    for (int k = 0; k < nseg * nseg; k++) cross[k] = 0;
    double *diam = malloc((size_t)nseg * sizeof *diam);
    for (int i = 0; i < n; i++) sprov[seg[i]] = prov[i];
    for (int i = 0; i < n; i++) {
        assert_int_equal(sprov[seg[i]], prov[i]);  /* never crosses a province */
        for (int j = 0; j < n; j++) {
            double x = gr_haversine_km(lat[i], lon[i], lat[j], lon[j]);
            double *c = &cross[seg[i] * nseg + seg[j]];
            if (x > *c) *c = x;
        }
    }
    assert_int_equal(gr_segment_diameters(n, lat, lon, seg, nseg, diam), GR_OK);
    for (int s = 0; s < nseg; s++) {
        assert_true(cross[s * nseg + s] <= d);              /* diameter within bandwidth */
        assert_true(diam[s] == cross[s * nseg + s]);
        for (int t = s + 1; t < nseg; t++)                  /* the algorithm stopped: no two */
            if (sprov[s] == sprov[t]) assert_true(cross[s * nseg + t] > d);  /* could still merge */
    }
    free(cross); free(sprov); free(diam);
}

static uint64_t rng_state;
static double urand(void) { return gr_test_lcg(&rng_state); }

static void test_random_against_reference(void **state)
{
    (void)state;
    const double ds[] = {50, 75, 100, 150, 300};
    for (int seed = 1; seed <= 6; seed++) {
        rng_state = (uint64_t)seed * 0x9E3779B97F4A7C15ULL;
        int n = 30 + seed * 5, nprov = 1 + seed % 4;
        double *lat = malloc((size_t)n * sizeof *lat), *lon = malloc((size_t)n * sizeof *lon);
        int *prov = malloc((size_t)n * sizeof *prov), *seg = malloc((size_t)n * sizeof *seg);
        int *ref = malloc((size_t)n * sizeof *ref);
        for (int i = 0; i < n; i++) {
            lat[i] = 28 + 4 * urand();
            lon[i] = 110 + 5 * urand();
            prov[i] = 100 + (int)(urand() * nprov);   /* provinces interleave in space */
        }
        for (size_t k = 0; k < sizeof ds / sizeof *ds; k++) {
            int nseg = -1, nref = -1;
            assert_int_equal(gr_segments(n, lat, lon, prov, ds[k], seg, &nseg), GR_OK);
            check_guarantees(n, lat, lon, prov, ds[k], seg, nseg);
            reference_segments(n, lat, lon, prov, ds[k], ref, &nref);
            assert_int_equal(nseg, nref);
            assert_memory_equal(seg, ref, (size_t)n * sizeof *seg);
        }
        free(lat); free(lon); free(prov); free(seg); free(ref);
    }
}

/* Cities on a lattice on the equator: many exactly equal distances, so the tie rule decides. */
static void test_lattice_ties_against_reference(void **state)
{
    (void)state;
    for (int seed = 1; seed <= 4; seed++) {
        rng_state = (uint64_t)seed * 12345u + 1;
        int n = 36;
        double lat[36], lon[36];
        int prov[36], seg[36], ref[36], nseg, nref;
        for (int i = 0; i < n; i++) {
            lat[i] = 0.25 * (int)(urand() * 6);
            lon[i] = 100 + 0.25 * (int)(urand() * 8);
            prov[i] = seed == 1 ? 0 : (int)(urand() * 2);
        }
        const double ds[] = {28, 40, 56, 80, 112};  /* 0.25 deg ~ 27.8 km */
        for (int k = 0; k < 5; k++) {
            assert_int_equal(gr_segments(n, lat, lon, prov, ds[k], seg, &nseg), GR_OK);
            check_guarantees(n, lat, lon, prov, ds[k], seg, nseg);
            reference_segments(n, lat, lon, prov, ds[k], ref, &nref);
            assert_int_equal(nseg, nref);
            assert_memory_equal(seg, ref, sizeof seg);
        }
    }
}

/* Hand-worked: equator points at 0, 0.625, 1.125, 1.75 degrees, d = 130 km (1 deg = 111.195 km).
 * Step 1: {1,2} at 0.5 deg. Step 2: {0}-{1,2} and {1,2}-{3} both 1.125 deg = 125.09 km (exact tie);
 * the tie goes to the smaller min ids (0,1): {0,1,2}. Step 3: {0,1,2}-{3} = 1.75 deg > d: stop.
 * Numbering the same points in reverse order moves the tie the other way. */
static void test_hand_tie(void **state)
{
    (void)state;
    double lat[4] = {0, 0, 0, 0}, lon[4] = {0, 0.625, 1.125, 1.75}, rlon[4] = {1.75, 1.125, 0.625, 0};
    int prov[4] = {1, 1, 1, 1}, seg[4], nseg;
    assert_int_equal(gr_segments(4, lat, lon, prov, 130, seg, &nseg), GR_OK);
    assert_int_equal(nseg, 2);
    int want[4] = {0, 0, 0, 1};
    assert_memory_equal(seg, want, sizeof want);
    assert_int_equal(gr_segments(4, lat, rlon, prov, 130, seg, &nseg), GR_OK);
    assert_int_equal(nseg, 2);
    assert_memory_equal(seg, want, sizeof want);   /* now {1.75,1.125,0.625} and {0} */
    /* below the tie height only {1,2} forms */
    assert_int_equal(gr_segments(4, lat, lon, prov, 120, seg, &nseg), GR_OK);
    int want2[4] = {0, 1, 1, 2};
    assert_int_equal(nseg, 3);
    assert_memory_equal(seg, want2, sizeof want2);
    /* exactly at a merge height: merged (<= d) */
    double d05 = gr_haversine_km(0, 0.625, 0, 1.125);
    assert_int_equal(gr_segments(4, lat, lon, prov, d05, seg, &nseg), GR_OK);
    assert_int_equal(nseg, 3);
    assert_int_equal(gr_segments(4, lat, lon, prov, nextafter(d05, 0), seg, &nseg), GR_OK);
    assert_int_equal(nseg, 4);
}

/* Complete linkage is not the partition with the fewest segments: equator points at 0, 1, 1.875,
 * 2.875 degrees with d = 112 km (1 deg = 111.195 km). The closest pair {1, 1.875} merges first and
 * then nothing else fits, giving 3 segments although {0,1},{1.875,2.875} has only 2. */
static void test_hand_not_minimal(void **state)
{
    (void)state;
    double lat[4] = {0, 0, 0, 0}, lon[4] = {0, 1, 1.875, 2.875};
    int prov[4] = {5, 5, 5, 5}, seg[4], nseg;
    assert_int_equal(gr_segments(4, lat, lon, prov, 112, seg, &nseg), GR_OK);
    int want[4] = {0, 1, 1, 2};
    assert_int_equal(nseg, 3);
    assert_memory_equal(seg, want, sizeof want);
}

static void test_provinces(void **state)
{
    (void)state;
    /* Same spot, different provinces: never merged. Ids are numbered by smallest city. */
    double lat[6] = {30, 30, 30.1, 40, 30, 30.05}, lon[6] = {110, 110, 110, 100, 110, 110};
    int prov[6] = {7, 3, 7, 9, 3, 7}, seg[6], nseg;
    assert_int_equal(gr_segments(6, lat, lon, prov, 50, seg, &nseg), GR_OK);
    int want[6] = {0, 1, 0, 2, 1, 0};
    assert_int_equal(nseg, 3);
    assert_memory_equal(seg, want, sizeof want);
    /* a single-city province is one segment even with a tiny bandwidth */
    assert_int_equal(gr_segments(6, lat, lon, prov, 1e-9, seg, &nseg), GR_OK);
    int want_tiny[6] = {0, 1, 2, 3, 1, 4};  /* only the 0-km pair {1,4} merges */
    assert_int_equal(nseg, 5);
    assert_memory_equal(seg, want_tiny, sizeof want_tiny);
    int one = 3, sg = -1, ns = -1;
    double la = 12, lo = 34;
    assert_int_equal(gr_segments(1, &la, &lo, &one, 100, &sg, &ns), GR_OK);
    assert_int_equal(sg, 0);
    assert_int_equal(ns, 1);
    ns = -1;
    assert_int_equal(gr_segments(0, NULL, NULL, NULL, 100, NULL, &ns), GR_OK);
    assert_int_equal(ns, 0);
}

static void expect_fail(int n, double *lat, double *lon, int *prov, double d, const char *needle)
{
    int seg[8], nseg;
    gr_clear_error();
    assert_int_equal(gr_segments(n, lat, lon, prov, d, seg, &nseg), GR_EINPUT);
    if (!strstr(gr_errmsg(), needle)) fail_msg("message '%s' lacks '%s'", gr_errmsg(), needle);
    gr_clear_error();
}

static void test_bad_inputs(void **state)
{
    (void)state;
    double lat[4] = {30, 31, 32, 33}, lon[4] = {110, 111, 112, 113};
    int prov[4] = {1, 1, 1, 1};
    expect_fail(4, lat, lon, prov, 0, "bandwidth");
    expect_fail(4, lat, lon, prov, -5, "bandwidth");
    expect_fail(4, lat, lon, prov, NAN, "bandwidth");
    expect_fail(4, lat, lon, prov, INFINITY, "bandwidth");
    lat[2] = 90.5;  expect_fail(4, lat, lon, prov, 100, "city 2"); lat[2] = 32;
    lat[1] = -91;   expect_fail(4, lat, lon, prov, 100, "city 1"); lat[1] = 31;
    lon[3] = 180.1; expect_fail(4, lat, lon, prov, 100, "city 3"); lon[3] = 113;
    lon[0] = -181;  expect_fail(4, lat, lon, prov, 100, "city 0"); lon[0] = 110;
    lat[3] = NAN;   expect_fail(4, lat, lon, prov, 100, "city 3"); lat[3] = 33;
    lon[1] = NAN;   expect_fail(4, lat, lon, prov, 100, "missing"); lon[1] = 111;
    /* boundaries are valid */
    double blat[2] = {-90, 90}, blon[2] = {-180, 180};
    int bp[2] = {0, 0}, seg[2], nseg;
    assert_int_equal(gr_segments(2, blat, blon, bp, 1, seg, &nseg), GR_OK);
    assert_int_equal(nseg, 2);
    int bad[2] = {0, 5};
    assert_int_equal(gr_segment_diameters(2, blat, blon, bad, 2, (double[2]){0}), GR_EINPUT);
    gr_clear_error();
}

static void test_segment_pairs(void **state)
{
    (void)state;
    int seg[4] = {0, 1, 1, 2};
    int exp[6] = {0, 1, 2, 3, 1, 0}, imp[6] = {1, 3, 3, 0, 2, -1}, out[6], nc;
    /* combinations: (0,1) (1,2) (1,2) (2,0) (1,1) missing -> sorted (0,1)(1,1)(1,2)(2,0) */
    assert_int_equal(gr_segment_pairs(4, seg, 6, exp, imp, out, &nc), GR_OK);
    int want[6] = {0, 2, 2, 3, 1, -1};
    assert_int_equal(nc, 4);
    assert_memory_equal(out, want, sizeof want);
    exp[2] = 4;
    assert_int_equal(gr_segment_pairs(4, seg, 6, exp, imp, out, &nc), GR_EINPUT);
    gr_clear_error();
}

/* A few thousand cities in one province finish quickly and keep the guarantees on diameters. */
static void test_large_province(void **state)
{
    (void)state;
    int n = 3000;
    double *lat = malloc((size_t)n * sizeof *lat), *lon = malloc((size_t)n * sizeof *lon);
    int *prov = calloc((size_t)n, sizeof *prov), *seg = malloc((size_t)n * sizeof *seg), nseg;
    rng_state = 99;
    for (int i = 0; i < n; i++) { lat[i] = 25 + 10 * urand(); lon[i] = 105 + 12 * urand(); }
    assert_int_equal(gr_segments(n, lat, lon, prov, 100, seg, &nseg), GR_OK);
    double *diam = malloc((size_t)nseg * sizeof *diam);
    assert_int_equal(gr_segment_diameters(n, lat, lon, seg, nseg, diam), GR_OK);
    for (int s = 0; s < nseg; s++) assert_true(diam[s] <= 100);
    assert_true(nseg > 1 && nseg < n);
    free(lat); free(lon); free(prov); free(seg); free(diam);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_haversine_known),
        cmocka_unit_test(test_haversine_symmetry_zero),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_lattice_ties_against_reference),
        cmocka_unit_test(test_hand_tie),
        cmocka_unit_test(test_hand_not_minimal),
        cmocka_unit_test(test_provinces),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_segment_pairs),
        cmocka_unit_test(test_large_province),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
