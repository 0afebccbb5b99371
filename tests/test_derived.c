/* test_derived.c: the median splits hi_/lo_<attr>_<set> and the month indicators december, cny_month,
 * post_covid (src/derived.c), against values worked out by hand in the comments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "derived.h"

static double *dup(const double *v, int n)
{
    double *d = malloc((size_t)n * sizeof *d);
    memcpy(d, v, (size_t)n * sizeof *d);
    return d;
}

static void expect(const double *got, const double *want, int n)
{
    for (int i = 0; i < n; i++) {
        if (isnan(want[i])) assert_true(isnan(got[i]));
        else assert_true(got[i] == want[i]);
    }
}

/* ---- median split ---- */

static void test_median_split_hand(void **state)
{
    (void)state;
    /* members 1, 2, 3, 5 (values 7, 1, 9, 3; city 4 is NaN): sorted 1 3 7 9, median (3 + 7) / 2 = 5.
     * hi: 7 > 5 and 9 > 5 -> 1; lo: 1 < 5 and 3 < 5 -> 1. Non-members (0, 6) are 0, city 4 NaN. */
    double v[7] = {100, 7, 1, 9, NAN, 3, -100};
    unsigned char in[7] = {0, 1, 1, 1, 1, 1, 0};
    double out[7], med = 0;
    assert_int_equal(gr_derived_median_split(7, v, in, 1, "t", &med, out), GR_OK);
    assert_true(med == 5);
    expect(out, (double[]){0, 1, 0, 1, NAN, 0, 0}, 7);
    assert_int_equal(gr_derived_median_split(7, v, in, 0, "t", &med, out), GR_OK);
    expect(out, (double[]){0, 0, 1, 0, NAN, 1, 0}, 7);
    /* odd count with ties at the median: 2 2 2 4 1 -> sorted 1 2 2 2 4, median 2: only 4 is high, only 1
     * is low; the three cities at the median are neither */
    double t[5] = {2, 2, 2, 4, 1};
    unsigned char all[5] = {1, 1, 1, 1, 1};
    assert_int_equal(gr_derived_median_split(5, t, all, 1, "t", &med, out), GR_OK);
    assert_true(med == 2);
    expect(out, (double[]){0, 0, 0, 1, 0}, 5);
    assert_int_equal(gr_derived_median_split(5, t, all, 0, "t", NULL, out), GR_OK);
    expect(out, (double[]){0, 0, 0, 0, 1}, 5);
}

static void test_median_split_empty(void **state)
{
    (void)state;
    double v[3] = {1, NAN, 3}, out[3];
    unsigned char none[3] = {0, 0, 0}, nanonly[3] = {0, 1, 0};
    gr_clear_error();
    assert_int_equal(gr_derived_median_split(3, v, none, 1, "F.h5: derived column 'x'", NULL, out), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "F.h5: derived column 'x'"));
    assert_non_null(strstr(gr_errmsg(), "no median"));
    assert_null(strchr(gr_errmsg(), '\n'));
    gr_clear_error();
    assert_int_equal(gr_derived_median_split(3, v, nanonly, 1, "w", NULL, out), GR_EINPUT);
    gr_clear_error();
}

static void test_split_parse(void **state)
{
    (void)state;
    gr_derived_split sp;
    int is = -1;
    assert_int_equal(gr_derived_split_parse("minority_share", "x", &sp, &is), GR_OK);
    assert_int_equal(is, 0);
    assert_int_equal(gr_derived_split_parse("hi_minority_share_west", "x", &sp, &is), GR_OK);
    assert_int_equal(is, 1);
    assert_int_equal(sp.hi, 1);
    assert_string_equal(sp.attr, "minority_share");
    assert_string_equal(sp.set, "west");
    assert_int_equal(gr_derived_split_parse("lo_gdp_diff_all", "x", &sp, &is), GR_OK);
    assert_int_equal(sp.hi, 0);
    assert_string_equal(sp.attr, "gdp_diff");
    assert_string_equal(sp.set, "all");
    const char *bad[] = {"hi_minority_share", "hi_west", "lo__east", "hi_x_wets", "hi_"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        gr_clear_error();
        assert_int_equal(gr_derived_split_parse(bad[k], "exp_asked", &sp, &is), GR_EINPUT);
        assert_non_null(strstr(gr_errmsg(), "exp_asked"));
        assert_non_null(strstr(gr_errmsg(), "west, east or all"));
    }
    gr_clear_error();
}

/* A cities table: region labels east/west, a minority share, and pairs between them. */
static void tables(gr_table *c, gr_table *p)
{
    memset(c, 0, sizeof *c);
    memset(p, 0, sizeof *p);
    c->nrows = 6;
    char **lab = malloc(2 * sizeof *lab);
    lab[0] = strdup("east");
    lab[1] = strdup("west");
    gr_table_add(c, "region", dup((double[]){0, 0, 1, 1, 1, 1}, 6), 1, lab, 2);
    /* western shares 0.4 0.1 0.3 0.2: median 0.25, high 0.4 and 0.3; eastern 0.9 0.01: median 0.455 */
    gr_table_add(c, "minority_share", dup((double[]){0.9, 0.01, 0.4, 0.1, 0.3, 0.2}, 6), 0, NULL, 0);
    p->nrows = 4;
    gr_table_add(p, "exporter", dup((double[]){0, 1, 2, 5}, 4), 1, NULL, 0);
    gr_table_add(p, "importer", dup((double[]){2, 5, 0, 1}, 4), 1, NULL, 0);
    /* all pairs: 5 1 3 3 -> median 3 (mean of 3 and 3): high only the 5, low only the 1 */
    gr_table_add(p, "gdp_diff", dup((double[]){5, 1, 3, 3}, 4), 0, NULL, 0);
}

static double col(const gr_table *t, const char *name, int i)
{
    int c = gr_table_find(t, name);
    assert_true(c >= 0);
    return t->cols[c][i];
}

static void test_derived_add_split(void **state)
{
    (void)state;
    gr_table c, p;
    tables(&c, &p);
    assert_int_equal(gr_derived_add(&c, &p, "cities", "hi_minority_share_west", "exp_hi_minority_share_west", "F.h5"),
                     GR_OK);
    double want_w[6] = {0, 0, 1, 0, 1, 0};
    for (int i = 0; i < 6; i++) assert_true(col(&c, "hi_minority_share_west", i) == want_w[i]);
    assert_int_equal(gr_derived_add(&c, &p, "cities", "lo_minority_share_east", NULL, "F.h5"), GR_OK);
    double want_e[6] = {0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++) assert_true(col(&c, "lo_minority_share_east", i) == want_e[i]);
    assert_int_equal(gr_derived_add(&c, &p, "cities", "hi_minority_share_all", NULL, "F.h5"), GR_OK);
    /* all six: 0.01 0.1 0.2 0.3 0.4 0.9 -> median 0.25: high 0.9 0.4 0.3 */
    double want_a[6] = {1, 0, 1, 0, 1, 0};
    for (int i = 0; i < 6; i++) assert_true(col(&c, "hi_minority_share_all", i) == want_a[i]);
    assert_int_equal(gr_derived_add(&c, &p, "pairs", "hi_gdp_diff_all", NULL, "F.h5"), GR_OK);
    assert_int_equal(gr_derived_add(&c, &p, "pairs", "lo_gdp_diff_all", NULL, "F.h5"), GR_OK);
    double want_h[4] = {1, 0, 0, 0}, want_l[4] = {0, 1, 0, 0};
    for (int i = 0; i < 4; i++) {
        assert_true(col(&p, "hi_gdp_diff_all", i) == want_h[i]);
        assert_true(col(&p, "lo_gdp_diff_all", i) == want_l[i]);
    }
    /* errors: one line each, naming the column as asked */
    struct { const char *group, *name, *asked, *msg; } bad[] = {
        {"cities", "hi_nosuch_west", "exp_hi_nosuch_west", "'nosuch' is not a /cities column"},
        {"pairs", "hi_minority_share_west", NULL, "is a cities column: split it as exp_hi_minority_share_west"},
        {"pairs", "hi_gdp_diff_west", NULL, "set 'all'"},
        {"cities", "hi_minority_share_norht", "imp_hi_minority_share_norht", "imp_hi_minority_share_norht: unknown"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        gr_clear_error();
        assert_int_equal(gr_derived_add(&c, &p, bad[k].group, bad[k].name, bad[k].asked, "F.h5"), GR_EINPUT);
        if (!strstr(gr_errmsg(), bad[k].msg)) fail_msg("%s: %s", bad[k].name, gr_errmsg());
        assert_null(strchr(gr_errmsg(), '\n'));
    }
    /* a set without any finite value: all western shares missing */
    int cm = gr_table_find(&c, "minority_share");
    for (int i = 2; i < 6; i++) c.cols[cm][i] = NAN;
    gr_clear_error();
    assert_int_equal(gr_derived_add(&c, &p, "cities", "lo_minority_share_west", NULL, "F.h5"), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "no median"));
    gr_clear_error();
    gr_table_free(&c);
    gr_table_free(&p);
}

/* ---- month indicators ---- */

static void test_time_hand(void **state)
{
    (void)state;
    assert_int_equal(gr_derived_is_time("december"), 1);
    assert_int_equal(gr_derived_is_time("cny_month"), 1);
    assert_int_equal(gr_derived_is_time("post_covid"), 1);
    assert_int_equal(gr_derived_is_time("month"), 0);
    /* Chinese New Year 2017-01-28, 2018-02-16, 2019-02-05, 2020-01-25, 2021-02-12 (Hong Kong Observatory) */
    int want_cny[5] = {1, 2, 2, 1, 2};
    for (int y = 0; y < 5; y++) assert_int_equal(gr_derived_cny_month(2017 + y), want_cny[y]);
    assert_int_equal(gr_derived_cny_month(2009), 0);
    /* from 2017-01: month 1 = 2017-01, 12 = 2017-12, 14 = 2018-02, 26 = 2019-02, 36 = 2019-12,
     * 37 = 2020-01, 50 = 2021-02, 60 = 2021-12 */
    double m[9] = {1, 12, 14, 26, 36, 37, 50, 60, NAN};
    double *v = dup(m, 9);
    assert_int_equal(gr_derived_time("december", "2017-01", "t", 9, v), GR_OK);
    expect(v, (double[]){0, 1, 0, 0, 1, 0, 0, 1, NAN}, 9);
    memcpy(v, m, sizeof m);
    assert_int_equal(gr_derived_time("cny_month", "2017-01", "t", 9, v), GR_OK);
    expect(v, (double[]){1, 0, 1, 1, 0, 1, 1, 0, NAN}, 9);
    memcpy(v, m, sizeof m);
    assert_int_equal(gr_derived_time("post_covid", "2017-01", "t", 9, v), GR_OK);
    expect(v, (double[]){0, 0, 0, 0, 0, 1, 1, 1, NAN}, 9);
    /* another origin: from 2019-11, month 2 = 2019-12 (December), 3 = 2020-01 (CNY and post-COVID) */
    double o[3] = {1, 2, 3};
    memcpy(v, o, sizeof o);
    assert_int_equal(gr_derived_time("december", "2019-11", "t", 3, v), GR_OK);
    expect(v, (double[]){0, 1, 0}, 3);
    memcpy(v, o, sizeof o);
    assert_int_equal(gr_derived_time("cny_month", "2019-11", "t", 3, v), GR_OK);
    expect(v, (double[]){0, 0, 1}, 3);
    memcpy(v, o, sizeof o);
    assert_int_equal(gr_derived_time("post_covid", "2019-11", "t", 3, v), GR_OK);
    expect(v, (double[]){0, 0, 1}, 3);
    free(v);
}

static void test_time_errors(void **state)
{
    (void)state;
    struct { const char *name, *first; double month; const char *msg; } bad[] = {
        {"december", "2017", 1, "expected YYYY-MM"},
        {"december", "2017-13", 1, "expected YYYY-MM"},
        {"december", "2017-01x", 1, "expected YYYY-MM"},
        {"post_covid", "2017-01", 0, "expected a month index >= 1"},
        {"post_covid", "2017-01", 2.5, "expected a month index >= 1"},
        {"cny_month", "2026-01", 13, "no Chinese New Year date for 2027"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        double v = bad[k].month;
        gr_clear_error();
        assert_int_equal(gr_derived_time(bad[k].name, bad[k].first, "F.h5: derived column", 1, &v), GR_EINPUT);
        if (!strstr(gr_errmsg(), bad[k].msg)) fail_msg("case %zu: %s", k, gr_errmsg());
        assert_non_null(strstr(gr_errmsg(), "F.h5: derived column"));
    }
    gr_clear_error();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_split_hand),
        cmocka_unit_test(test_median_split_empty),
        cmocka_unit_test(test_split_parse),
        cmocka_unit_test(test_derived_add_split),
        cmocka_unit_test(test_time_hand),
        cmocka_unit_test(test_time_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
