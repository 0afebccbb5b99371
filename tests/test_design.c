/* test_design.c: the pure design helpers (design.h) on a hand-checkable world:
 * east cities 0 (30N 120E), 1 (30N 120.5E, ~48 km from 0), 2 (30N 122E, ~193 km from 0, ~144 km
 * from 1) in province 0; west cities 3 (30N 100E), 4 (30N 100.3E) in province 1.
 * Pairs (rows): 0 = 0->3, 1 = 0->4, 2 = 1->3, 3 = 1->4, 4 = 2->3, 5 = 2->4; partner pairs: 0 and 3.
 * Segments {0,1} {2} {3,4}: segment pairs rows 0-3 -> 0, rows 4-5 -> 1. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "design.h"
#include "spatial.h"

static const double lat[5] = {30, 30, 30, 30, 30}, lon[5] = {120, 120.5, 122, 100, 100.3};
static const double prov[5] = {0, 0, 0, 1, 1};
static const int ex[6] = {0, 0, 1, 1, 2, 2}, im[6] = {3, 4, 3, 4, 3, 4};
static const unsigned char tr[6] = {1, 0, 0, 1, 0, 0};
static const unsigned char all[6] = {1, 1, 1, 1, 1, 1};
static const double segpair[6] = {0, 0, 0, 0, 1, 1};

static void test_ntreated(void **state)
{
    (void)state;
    double nt[6];
    gr_design_ntreated(6, segpair, tr, nt);
    double want[6] = {2, 2, 2, 2, 0, 0};
    for (int k = 0; k < 6; k++) assert_true(nt[k] == want[k]);
    double sp2[6] = {0, 0, 0, NAN, 1, -1};
    gr_design_ntreated(6, sp2, tr, nt);
    assert_true(nt[0] == 1 && nt[2] == 1 && nt[4] == 0);
    assert_true(isnan(nt[3]) && isnan(nt[5]));
}

static void test_same(void **state)
{
    (void)state;
    double same[6];
    /* row 1 (0->4): partner 1->4 has attr[1] == attr[0] and the same importer -> 1
     * row 2 (1->3): partner 0->3 has attr[0] == attr[1] and the same importer -> 1
     * rows 4, 5: no partner pair in their segment pair -> 0 */
    double attr[5] = {1, 1, 2, 5, 6};
    gr_design_same(6, segpair, tr, ex, im, attr, same);
    double want[6] = {1, 1, 1, 1, 0, 0};
    for (int k = 0; k < 6; k++) assert_true(same[k] == want[k]);
    /* attr of city 1 differs: row 1 needs 1->4 (attr 3 != 1) or 0->3 (importer 3 vs 4: 5 != 6) -> 0;
     * row 2 (exporter 1, attr 3) matches neither partner exporter -> 0 */
    double attr2[5] = {1, 3, 2, 5, 6};
    gr_design_same(6, segpair, tr, ex, im, attr2, same);
    double want2[6] = {1, 0, 0, 1, 0, 0};
    for (int k = 0; k < 6; k++) assert_true(same[k] == want2[k]);
    /* importers sharing the attribute count: attr[3] == attr[4] -> row 1 via 0->3, row 2 via 1->4 */
    double attr3[5] = {1, 3, 2, 5, 5};
    gr_design_same(6, segpair, tr, ex, im, attr3, same);
    assert_true(same[1] == 1 && same[2] == 1 && same[4] == 0);
    /* a missing attribute never matches */
    double attr4[5] = {NAN, 1, 2, 5, 6};
    gr_design_same(6, segpair, tr, ex, im, attr4, same);
    assert_true(same[0] == 1 && same[1] == 0 && same[2] == 0);
}

static void test_comparisons(void **state)
{
    (void)state;
    gr_design_comp c;
    double d01 = gr_haversine_km(30, 120, 30, 120.5);
    assert_true(d01 > 40 && d01 < 60);
    assert_int_equal(gr_design_comparisons(5, lat, lon, prov, 6, ex, im, tr, all, 100, &c), GR_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.treated[0], 0); assert_int_equal(c.control[0], 2);
    assert_int_equal(c.treated[1], 3); assert_int_equal(c.control[1], 1);
    assert_true(fabs(c.dist_km[0] - d01) < 1e-12 && fabs(c.dist_km[1] - d01) < 1e-12);
    int32_t mult[6];
    gr_design_multiplicity(&c, 6, mult);
    int32_t wm[6] = {1, 1, 1, 1, 0, 0};
    for (int k = 0; k < 6; k++) assert_int_equal(mult[k], wm[k]);
    gr_design_comp_free(&c);
    /* 250 km: city 2 joins both */
    assert_int_equal(gr_design_comparisons(5, lat, lon, prov, 6, ex, im, tr, all, 250, &c), GR_OK);
    assert_int_equal(c.n, 4);
    int32_t wt[4] = {0, 0, 3, 3}, wc[4] = {2, 4, 1, 5};
    for (int q = 0; q < 4; q++) { assert_int_equal(c.treated[q], wt[q]); assert_int_equal(c.control[q], wc[q]); }
    gr_design_multiplicity(&c, 6, mult);
    int32_t wm2[6] = {1, 1, 1, 1, 1, 1};
    for (int k = 0; k < 6; k++) assert_int_equal(mult[k], wm2[k]);
    gr_design_comp_free(&c);
    /* unusable control pair (no rows) and another province */
    unsigned char use[6] = {1, 1, 0, 1, 1, 1};
    assert_int_equal(gr_design_comparisons(5, lat, lon, prov, 6, ex, im, tr, use, 100, &c), GR_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.control[0], 1);
    gr_design_comp_free(&c);
    double prov2[5] = {0, 7, 0, 1, 1};
    assert_int_equal(gr_design_comparisons(5, lat, lon, prov2, 6, ex, im, tr, all, 250, &c), GR_OK);
    assert_int_equal(c.n, 1);  /* 0->3 gets 2->3 (193 km); 1->4's exporter is alone in province 7 */
    assert_int_equal(c.treated[0], 0);
    assert_int_equal(c.control[0], 4);
    gr_design_comp_free(&c);
    /* a control pair that is itself treated is never used: make 1->3 treated */
    unsigned char tr2[6] = {1, 0, 1, 1, 0, 0};
    assert_int_equal(gr_design_comparisons(5, lat, lon, prov, 6, ex, im, tr2, all, 100, &c), GR_OK);
    assert_int_equal(c.n, 1);  /* 0->3 and 1->3 only have each other (both treated); 1->4 keeps 0->4 */
    assert_int_equal(c.treated[0], 3);
    gr_design_comp_free(&c);
    assert_int_equal(gr_design_comparisons(5, lat, lon, prov, 6, ex, im, tr, all, 0, &c), GR_EINPUT);
}

static void test_bandwidth_arg(void **state)
{
    (void)state;
    double bw;
    char name[32];
    assert_int_equal(gr_design_bandwidth_arg("--bandwidth", "100", &bw, name), GR_OK);
    assert_true(bw == 100);
    assert_string_equal(name, "100");
    assert_int_equal(gr_design_bandwidth_arg("--bandwidth", "62.5", &bw, name), GR_OK);
    assert_string_equal(name, "62.5");
    assert_int_equal(gr_design_bandwidth_arg("--bandwidth", "0", &bw, name), GR_EUSAGE);
    assert_int_equal(gr_design_bandwidth_arg("--bandwidth", "-5", &bw, name), GR_EUSAGE);
    assert_int_equal(gr_design_bandwidth_arg("--bandwidth", "abc", &bw, name), GR_EUSAGE);
    assert_int_equal(gr_design_bandwidth_arg("--bandwidth", "100.0000001", &bw, name), GR_EUSAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ntreated), cmocka_unit_test(test_same), cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_bandwidth_arg)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
