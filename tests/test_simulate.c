/* test_simulate.c: the simulator's generator, world and row blocks (src/sim_world.c, src/simulate.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "simulate.h"

/* ---- generator ---- */

static void test_hash_reference(void **state)
{
    (void)state;
    /* values from an independent Python implementation of the documented hash */
    assert_true(gr_sim_hash(1, 2, 3, 4) == 0xd7bbc49b894b4d17ULL);
    assert_true(gr_sim_hash(42, 7, 0, 0) == 0xf04fa2bcdd22e8efULL);
    assert_true(fabs(gr_sim_uniform(1, 2, 3, 4) - 0.8427088622786816) < 1e-15);
    assert_true(fabs(gr_sim_normal(42, 7, 0, 0) - 0.16262760990848787) < 1e-14);
    /* every argument matters */
    uint64_t h = gr_sim_hash(1, 2, 3, 4);
    assert_true(h != gr_sim_hash(2, 2, 3, 4) && h != gr_sim_hash(1, 3, 3, 4));
    assert_true(h != gr_sim_hash(1, 2, 4, 4) && h != gr_sim_hash(1, 2, 3, 5) && h != gr_sim_hash(1, 2, 4, 3));
}

static void test_uniform_normal_moments(void **state)
{
    (void)state;
    const int n = 400000;
    double su = 0, sn = 0, sn2 = 0, mn = 1, mx = 0;
    int tail = 0;
    for (int i = 0; i < n; i++) {
        double u = gr_sim_uniform(5, 9, (uint64_t)i, 17);
        su += u; if (u < mn) mn = u; if (u > mx) mx = u;
        double z = gr_sim_normal(5, 10, 17, (uint64_t)i);
        sn += z; sn2 += z * z; tail += fabs(z) > 1.959964;
    }
    assert_true(mn > 0 && mx < 1);
    assert_true(fabs(su / n - 0.5) < 0.003);         /* sd of the mean 0.00046 */
    assert_true(fabs(sn / n) < 0.008);               /* sd 0.0016 */
    assert_true(fabs(sn2 / n - 1) < 0.012);          /* sd 0.0022 */
    assert_true(fabs((double)tail / n - 0.05) < 0.003);
}

/* ---- world ---- */

static double col(const gr_table *t, const char *name, int64_t r)
{
    int c = gr_table_find(t, name);
    assert_true(c >= 0);
    return t->cols[c][r];
}

static void check_world(const gr_sim_world *w, int E, int W, int PE, int PW, int K)
{
    assert_int_equal(w->n_east, E);
    assert_int_equal(w->n_west, W);
    assert_int_equal(w->n_prog_east, PE);
    assert_int_equal(w->n_prog_west, PW);
    assert_int_equal(w->n_partners, K);
    assert_true(w->n_pairs == 2LL * E * W);
    int64_t want[5] = {2LL * K, 2LL * (E - PE) * (W - PW), 2LL * PE * (W - PW), 2LL * (E - PE) * PW,
                       2LL * PE * PW - 2LL * K};
    for (int k = 0; k < 5; k++) assert_true(w->control_count[k] == want[k]);
    int *deg = calloc((size_t)(E + W), sizeof(int));
    for (int64_t k = 0; k < w->n_pairs; k++) {
        int ex = (int)col(&w->pairs, "exporter", k), im = (int)col(&w->pairs, "importer", k);
        assert_true((ex < E) != (im < E));
        assert_true(col(&w->pairs, "dir", k) == (ex >= E));
        if (col(&w->pairs, "partner", k) > 0) {
            deg[ex]++;
            assert_true(col(&w->cities, "in_program", ex) == 1 && col(&w->cities, "in_program", im) == 1);
            assert_true(col(&w->pairs, "control_type", k) == 0);
        }
    }
    int prog = 0;
    for (int i = 0; i < E + W; i++) {
        assert_true(col(&w->cities, "region", i) == (i >= E));
        if (col(&w->cities, "in_program", i) > 0) { prog++; assert_true(deg[i] >= 1); }
        else assert_int_equal(deg[i], 0);
    }
    assert_int_equal(prog, PE + PW);
    free(deg);
    assert_true(w->exporter_offsets[E + W] == 2LL * E * W * w->n_months);
}

static void test_world_default(void **state)
{
    (void)state;
    gr_sim_config cfg = {1, GR_SIM_EAST, GR_SIM_WEST, GR_SIM_MONTHS, NULL};
    gr_sim_world w, w2;
    assert_int_equal(gr_sim_world_build(&cfg, &w), GR_OK);
    check_world(&w, 87, 110, 56, 81, 128);
    /* deterministic */
    assert_int_equal(gr_sim_world_build(&cfg, &w2), GR_OK);
    for (int c = 0; c < w.pairs.ncols; c++)
        assert_memory_equal(w.pairs.cols[c], w2.pairs.cols[c], (size_t)w.n_pairs * sizeof(double));
    for (int c = 0; c < w.cities.ncols; c++)
        assert_memory_equal(w.cities.cols[c], w2.cities.cols[c], (size_t)w.n_cities * sizeof(double));
    gr_sim_world_free(&w2);
    /* selection: partners have a higher latent affinity and are farther apart */
    double ap = 0, an = 0, dp = 0, dn = 0;
    int np = 0;
    for (int64_t k = 0; k < w.n_pairs; k++) {
        int p = col(&w.pairs, "partner", k) > 0;
        double a = col(&w.pairs, "latent_affinity", k), d = col(&w.pairs, "distance_km", k);
        if (p) { ap += a; dp += d; np++; } else { an += a; dn += d; }
    }
    ap /= np; dp /= np; an /= (double)(w.n_pairs - np); dn /= (double)(w.n_pairs - np);
    assert_true(ap > an + 0.5);
    assert_true(dp > dn);
    gr_sim_world_free(&w);
}

static void test_world_scaled(void **state)
{
    (void)state;
    struct { int E, W, PE, PW, K; } cases[] = {
        {10, 12, 6, 9, 14}, {1, 1, 1, 1, 1}, {2, 50, 1, 37, 37}, {200, 3, 129, 2, 129}, {30, 40, 19, 29, 45}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gr_sim_config cfg = {3, cases[i].E, cases[i].W, 3, NULL};
        gr_sim_world w;
        assert_int_equal(gr_sim_world_build(&cfg, &w), GR_OK);
        check_world(&w, cases[i].E, cases[i].W, cases[i].PE, cases[i].PW, cases[i].K);
        gr_sim_world_free(&w);
    }
}

/* the rows of any exporter split equal the rows of the whole */
static void test_blocks_partition_invariant(void **state)
{
    (void)state;
    gr_sim_config cfg = {9, 7, 9, 5, NULL};
    gr_sim_world w;
    assert_int_equal(gr_sim_world_build(&cfg, &w), GR_OK);
    int N = w.n_cities;
    int64_t total = w.exporter_offsets[N];
    gr_sim_block all;
    gr_sim_block_init(&w, 0, N, &all);
    assert_true(all.nrows == total);
    double *ref = malloc((size_t)total * sizeof(double)), *part = malloc((size_t)total * sizeof(double));
    int cuts[] = {0, 1, 5, 7, 8, 15, 16};
    for (int q = 0; q < gr_sim_n_panel_columns; q++) {
        assert_int_equal(gr_sim_block_column(&all, gr_sim_panel_columns[q], ref), GR_OK);
        for (int s = 0; s + 1 < (int)(sizeof cuts / sizeof cuts[0]); s++) {
            gr_sim_block b;
            gr_sim_block_init(&w, cuts[s], cuts[s + 1], &b);
            assert_int_equal(gr_sim_block_column(&b, gr_sim_panel_columns[q], part + b.row_begin), GR_OK);
            gr_sim_block_free(&b);
        }
        for (int64_t r = 0; r < total; r++)
            assert_true(ref[r] == part[r] || (isnan(ref[r]) && isnan(part[r])));
    }
    /* trade equals the block's trade; pair and month follow the layout */
    assert_int_equal(gr_sim_block_column(&all, "pair", ref), GR_OK);
    assert_int_equal(gr_sim_block_column(&all, "month", part), GR_OK);
    for (int64_t r = 0; r < total; r++) {
        assert_true(ref[r] == (double)(r / 5));
        assert_true(part[r] == (double)(r % 5 + 1));
    }
    assert_int_equal(gr_sim_block_column(&all, "no_such_column", ref), GR_EINPUT);
    gr_clear_error();
    free(ref); free(part);
    gr_sim_block_free(&all);
    gr_sim_world_free(&w);
}

/* ---- city tables ---- */

static int build_from(const char *text)
{
    char path[] = "/tmp/gravrd-test-sim-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    gr_sim_config cfg = {1, 0, 0, 2, path};
    gr_sim_world w;
    gr_clear_error();
    int rc = gr_sim_world_build(&cfg, &w);
    if (rc == GR_OK) gr_sim_world_free(&w);
    unlink(path);
    return rc;
}

static void test_cities_errors(void **state)
{
    (void)state;
    gr_sim_config cfg = {1, 0, 0, 2, "/nonexistent/cities.csv"};
    gr_sim_world w;
    gr_clear_error();
    assert_int_equal(gr_sim_world_build(&cfg, &w), GR_EIO);
    assert_int_equal(build_from("adcode,name,province,longitude\n110000,北京市,北京市,116.4\n"), GR_EFORMAT);
    assert_non_null(strstr(gr_errmsg(), "latitude"));
    assert_int_equal(build_from("adcode,name,province,longitude,latitude\n110000,北京市,北京市,116.4,39.9\n"),
                     GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "province"));
    assert_int_equal(build_from("adcode,name,province,longitude,latitude\n110000,北京市,北京市,116.4,99.9\n"),
                     GR_EFORMAT);
    assert_non_null(strstr(gr_errmsg(), ":2"));
    assert_non_null(strstr(gr_errmsg(), "latitude"));
    gr_clear_error();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_reference),
        cmocka_unit_test(test_uniform_normal_moments),
        cmocka_unit_test(test_world_default),
        cmocka_unit_test(test_world_scaled),
        cmocka_unit_test(test_blocks_partition_invariant),
        cmocka_unit_test(test_cities_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
