/* simulate.c: the panel rows of `gravrd simulate` (trade, deals, concentration ratios, categories,
 * search index) generated per exporter from the replicated world, the parallel file writer and the
 * command. The data-generating process is documented in docs/simulator.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "simulate.h"
#include "cleanup.h"
#include "derived.h"
#include "commands.h"
#include "opts.h"

/* Noise and level parameters of the panel (written as attributes). */
#define SIGMA_PAIR 0.28   /* pair effect in log trade */
#define SIGMA_CELL 0.30   /* pair-month noise in log trade, AR(1) over months */
#define RHO_CELL 0.5
#define ZERO_CENTER 7.0   /* zero-trade probability logistic((ZERO_CENTER - x) / ZERO_SCALE) */
#define ZERO_SCALE 0.5

const char *const gr_sim_panel_columns[] = {
    "pair", "month", "trade", "deals", "seller_cr", "buyer_cr", "cat_clothing", "cat_food",
    "cat_household", "cat_electronics", "cat_healthcare", "cat_others", "search_index"};
const int gr_sim_n_panel_columns = (int)(sizeof gr_sim_panel_columns / sizeof gr_sim_panel_columns[0]);

static const double CAT_SHARE[GR_SIM_NCAT] = {0.24, 0.18, 0.28, 0.14, 0.10, 0.06};
static const int CAT_TREATED[GR_SIM_NCAT] = {1, 1, 1, 0, 0, 0};
#define CAT_TREATED_SHARE 0.70

/* Log-share shift of the three treated categories in partners' w2e trade such that the total
 * effect stays GR_SIM_PARTNER_W2E and the untreated categories get none (to first order). */
static double cat_gamma(void) { return log((exp(GR_SIM_PARTNER_W2E) - 1) / CAT_TREATED_SHARE + 1); }

/* Direct effect of partnership on w2e log trade: the total less the part through migration. */
static double direct_w2e(void) { return GR_SIM_PARTNER_W2E - GR_SIM_MIGRATION_TRADE * GR_SIM_PARTNER_MIGRATION; }

/* Column pointers of the world's tables. */
typedef struct {
    const double *ex, *im, *dir, *part, *dist, *mig, *aff, *pop, *gdp;
    const double *effect; /* tables hook: the planted direct partner effect of each pair (sim_world.c) */
} view_t;

static void view(const gr_sim_world *w, view_t *v)
{
    const gr_table *p = &w->pairs, *c = &w->cities;
    v->ex = p->cols[gr_table_find(p, "exporter")];
    v->im = p->cols[gr_table_find(p, "importer")];
    v->dir = p->cols[gr_table_find(p, "dir")];
    v->part = p->cols[gr_table_find(p, "partner")];
    v->dist = p->cols[gr_table_find(p, "distance_km")];
    v->mig = p->cols[gr_table_find(p, "migration")];
    v->aff = p->cols[gr_table_find(p, "latent_affinity")];
    v->pop = c->cols[gr_table_find(c, "population")];
    v->gdp = c->cols[gr_table_find(c, "gdp")];
    v->effect = p->cols[gr_table_find(p, "truth_partner_effect")];
}

/* Directed pair id of exporter c's t-th importer. */
static int64_t pair_of(const gr_sim_world *w, int c, int t)
{
    if (c < w->n_east) return (int64_t)c * w->n_west + t;
    return (int64_t)w->n_east * w->n_west + (int64_t)(c - w->n_east) * w->n_east + t;
}

static int n_importers(const gr_sim_world *w, int c) { return c < w->n_east ? w->n_west : w->n_east; }

static double logistic(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Unnormalised category weight k of a cell (deterministic, so it can be recomputed); `key` is the noise key. */
static double cat_weight(uint64_t key, int64_t k, int m, int c, double treated_w2e)
{
    double g = CAT_TREATED[c] ? treated_w2e * cat_gamma() : 0;
    return CAT_SHARE[c] * exp(g + 0.25 * gr_sim_normal(key, GR_SIM_S_CAT, (uint64_t)k, (uint64_t)c) +
                              0.20 * gr_sim_normal(key, GR_SIM_S_CAT, (uint64_t)k, (uint64_t)(m + 1) * 8 + c));
}

uint64_t gr_sim_noise_key(uint64_t world_seed, uint64_t noise_seed)
{
    return noise_seed == world_seed ? world_seed : gr_sim_hash(world_seed, GR_SIM_S_NOISEKEY, noise_seed, 0);
}

int gr_sim_noise_prepare(const gr_sim_world *w, gr_sim_noise *n)
{
    n->segment = n->province = NULL;
    if (!isfinite(n->sd_segpair) || n->sd_segpair < 0 || !isfinite(n->sd_provpair) || n->sd_provpair < 0)
        return gr_fail(GR_EINPUT, "simulate", "a shock SD must be finite and >= 0");
    int pc = gr_table_find(&w->cities, "province");
    if (pc < 0) return gr_fail(GR_EINPUT, "simulate", "the world has no cities column province");
    n->segment = gr_calloc((size_t)w->n_cities + 1, sizeof(int));
    n->province = gr_calloc((size_t)w->n_cities + 1, sizeof(int));
    for (int i = 0; i < w->n_cities; i++) n->province[i] = (int)w->cities.cols[pc][i];
    if (n->sd_segpair <= 0) return GR_OK;
    if (!(n->bandwidth > 0)) return gr_fail(GR_EINPUT, "simulate", "--shock-bandwidth must be > 0 km");
    int nseg = 0;
    int rc = gr_derived_segments(&w->cities, n->bandwidth, "simulate: segment-pair shock", n->segment, &nseg);
    if (rc) gr_sim_noise_free(n);
    return rc;
}

void gr_sim_noise_free(gr_sim_noise *n)
{
    free(n->segment); free(n->province);
    n->segment = n->province = NULL;
}

/* The shared shocks of pair k (exporter i, importer j) in month m (0-based): 0 without them. */
static double shared_shock(const gr_sim_world *w, uint64_t key, int i, int j, int m)
{
    const gr_sim_noise *n = w->noise;
    if (!n || (n->sd_segpair <= 0 && n->sd_provpair <= 0)) return 0;
    uint64_t when = n->monthly ? (uint64_t)m + 1 : 0, s = 0;
    double v = 0;
    if (n->sd_segpair > 0) {
        s = (uint64_t)n->segment[i] * (uint64_t)w->n_cities + (uint64_t)n->segment[j];
        v += n->sd_segpair * gr_sim_normal(key, GR_SIM_S_SHOCK_SEG, s, when);
    }
    if (n->sd_provpair > 0) {
        s = ((uint64_t)(uint32_t)n->province[i] << 32) | (uint32_t)n->province[j];
        v += n->sd_provpair * gr_sim_normal(key, GR_SIM_S_SHOCK_PROV, s, when);
    }
    return v;
}

/* The trade values of exporters [b->exp_begin, b->exp_end) under noise key `key` into out[b->nrows]. */
static void trade_rows(const gr_sim_block *b, uint64_t key, double *out)
{
    const gr_sim_world *w = b->w;
    view_t v;
    view(w, &v);
    const int M = w->n_months;
    const double rho2 = sqrt(1 - RHO_CELL * RHO_CELL);
    for (int c = b->exp_begin; c < b->exp_end; c++) {
        int nt = n_importers(w, c);
        for (int t = 0; t < nt; t++) {
            int64_t k = pair_of(w, c, t), row = w->exporter_offsets[c] - b->row_begin + (int64_t)t * M;
            int j = (int)v.im[k], w2e = v.dir[k] > 0;
            double grav = GR_SIM_DISTANCE * log(v.dist[k] / 1000.0);
            double pairfx = (w2e ? v.effect[k] * v.part[k] + GR_SIM_MIGRATION_TRADE * v.mig[k] : 0) +
                            GR_SIM_AFFINITY_TRADE * v.aff[k] + SIGMA_PAIR * gr_sim_normal(key, GR_SIM_S_PAIR, (uint64_t)k, 0);
            double e = 0;
            for (int m = 0; m < M; m++) {
                double z = gr_sim_normal(key, GR_SIM_S_CELL, (uint64_t)k, (uint64_t)m + 1);
                e = m == 0 ? z : RHO_CELL * e + rho2 * z;
                double x = w->exp_fx[(int64_t)c * M + m] + w->imp_fx[(int64_t)j * M + m] + grav;
                double u = gr_sim_uniform(w->seed, GR_SIM_S_ZERO, (uint64_t)k, (uint64_t)m + 1);
                double p0 = logistic((ZERO_CENTER - x) / ZERO_SCALE);
                double lt = x + pairfx + SIGMA_CELL * e;
                if (w->noise) lt += shared_shock(w, key, c, j, m);
                out[row + m] = u < p0 ? 0.0 : exp(lt);
            }
        }
    }
}

void gr_sim_block_trade(const gr_sim_block *b, uint64_t key, double *out) { trade_rows(b, key, out); }

void gr_sim_block_init(const gr_sim_world *w, int exp_begin, int exp_end, gr_sim_block *b)
{
    memset(b, 0, sizeof *b);
    b->w = w; b->exp_begin = exp_begin; b->exp_end = exp_end;
    b->row_begin = w->exporter_offsets[exp_begin];
    b->nrows = w->exporter_offsets[exp_end] - b->row_begin;
    b->key = w->noise && w->noise->has_seed ? gr_sim_noise_key(w->seed, w->noise->seed) : w->seed;
    size_t n = (size_t)(b->nrows > 0 ? b->nrows : 1);
    b->trade = gr_malloc(n, sizeof(double));
    b->cat_denom = gr_malloc(n, sizeof(double));
    trade_rows(b, b->key, b->trade);
    if (w->noise && w->noise->trade_only) { /* no category columns: their denominators are not needed */
        for (int64_t r = 0; r < b->nrows; r++) b->cat_denom[r] = NAN;
        return;
    }
    view_t v;
    view(w, &v);
    const int M = w->n_months;
    for (int c = exp_begin; c < exp_end; c++) {
        int nt = n_importers(w, c);
        for (int t = 0; t < nt; t++) {
            int64_t k = pair_of(w, c, t), row = w->exporter_offsets[c] - b->row_begin + (int64_t)t * M;
            int w2e = v.dir[k] > 0;
            for (int m = 0; m < M; m++) {
                double den = 0;
                for (int q = 0; q < GR_SIM_NCAT; q++) den += cat_weight(b->key, k, m, q, w2e * v.part[k]);
                b->cat_denom[row + m] = den;
            }
        }
    }
}

void gr_sim_block_free(gr_sim_block *b)
{
    free(b->trade); free(b->cat_denom);
    memset(b, 0, sizeof *b);
}

int gr_sim_block_column(const gr_sim_block *b, const char *name, double *out)
{
    const gr_sim_world *w = b->w;
    const int M = w->n_months;
    int col = -1;
    for (int q = 0; q < gr_sim_n_panel_columns; q++)
        if (!strcmp(gr_sim_panel_columns[q], name)) col = q;
    if (col < 0) return gr_fail(GR_EINPUT, name, "not a simulated panel column");
    int cat = col >= 6 && col < 6 + GR_SIM_NCAT ? col - 6 : -1;
    view_t v;
    view(w, &v);
    for (int c = b->exp_begin; c < b->exp_end; c++) {
        int nt = n_importers(w, c);
        for (int t = 0; t < nt; t++) {
            int64_t k = pair_of(w, c, t), row = w->exporter_offsets[c] - b->row_begin + (int64_t)t * M;
            int i = (int)v.ex[k], j = (int)v.im[k], w2e = v.dir[k] > 0;
            double P = v.part[k];
            const double *fi = w->city_fx + (int64_t)i * GR_SIM_NCITYFX, *fj = w->city_fx + (int64_t)j * GR_SIM_NCITYFX;
            double pair_a = 0, pair_b = 0;
            if (col == 3) {
                pair_a = log(w2e ? 65.0 : 70.0) + 0.3 * fi[3] + 0.25 * gr_sim_normal(b->key, GR_SIM_S_PRICE, (uint64_t)k, 0) +
                         (w2e ? GR_SIM_PARTNER_PRICE_W2E * P : 0);
            } else if (col == 4) {
                pair_a = 2.45 + 0.5 * fi[4] + 0.5 * gr_sim_normal(b->key, GR_SIM_S_CR, (uint64_t)k, 0);
            } else if (col == 5) {
                pair_a = 1.85 + 0.5 * fj[5] + 0.5 * gr_sim_normal(b->key, GR_SIM_S_CR, (uint64_t)k, 1);
            } else if (col == 12) {
                pair_a = 2.8 + 0.5 * log(v.pop[j] / 4.0) + 0.4 * log(v.gdp[i] / 300.0) - 0.6 * log(v.dist[k] / 1500.0) +
                         GR_SIM_PARTNER_SEARCH * P + GR_SIM_AFFINITY_TRADE * v.aff[k] +
                         0.9 * gr_sim_normal(b->key, GR_SIM_S_SEARCH, (uint64_t)k, 0);
                pair_b = 0.04; /* growth per year */
            }
            for (int m = 0; m < M; m++) {
                int64_t r = row + m;
                double tr = b->trade[r], val;
                uint64_t cell = (uint64_t)m + 1;
                switch (col) {
                case 0: val = (double)k; break;
                case 1: val = m + 1; break;
                case 2: val = tr; break;
                case 3: {
                    double lp = pair_a + 0.12 * gr_sim_normal(b->key, GR_SIM_S_PRICE, (uint64_t)k, cell);
                    val = tr > 0 ? fmax(1.0, floor(tr / exp(lp) + 0.5)) : 0.0;
                    break;
                }
                case 4:
                    val = tr > 0 ? 100.0 * logistic(pair_a + 0.8 * gr_sim_normal(b->key, GR_SIM_S_CR, (uint64_t)k, cell * 2))
                                 : NAN;
                    break;
                case 5:
                    val = tr > 0 ? 100.0 * logistic(pair_a + 0.8 * gr_sim_normal(b->key, GR_SIM_S_CR, (uint64_t)k, cell * 2 + 1))
                                 : NAN;
                    break;
                case 12:
                    val = exp(pair_a + pair_b * (m / 12.0) +
                              0.25 * gr_sim_normal(b->key, GR_SIM_S_SEARCH, (uint64_t)k, cell));
                    break;
                default:
                    val = tr > 0 ? tr * cat_weight(b->key, k, m, cat, w2e * P) / b->cat_denom[r] : 0.0;
                }
                out[r] = val;
            }
        }
    }
    return GR_OK;
}

/* ---------------- writing ---------------- */

typedef struct { const char *name; double value; } attr_t;

/* The noise's root attributes, written only when they differ from today's panels (which stay byte-identical). */
static int noise_attrs(gr_writer *wr, const gr_sim_noise *n)
{
    if (!n) return GR_OK;
    int rc = GR_OK;
    if (n->has_seed) {
        char t[32];
        snprintf(t, sizeof t, "%llu", (unsigned long long)n->seed);
        rc = gr_writer_attr_string(wr, "noise_seed", t);
    }
    if (!rc && (n->sd_segpair > 0 || n->sd_provpair > 0)) {
        rc = gr_writer_attr_double(wr, "sim_shock_segpair_sd", n->sd_segpair);
        if (!rc) rc = gr_writer_attr_double(wr, "sim_shock_segpair_bandwidth_km", n->sd_segpair > 0 ? n->bandwidth : 0);
        if (!rc) rc = gr_writer_attr_double(wr, "sim_shock_provpair_sd", n->sd_provpair);
        if (!rc) rc = gr_writer_attr_double(wr, "sim_shock_monthly", n->monthly);
    }
    if (!rc && n->draws > 0) rc = gr_writer_attr_double(wr, "n_noise_draws", n->draws);
    if (!rc && n->trade_only) rc = gr_writer_attr_string(wr, "columns", "trade only (--trade-only)");
    return rc;
}

/* The extra draws trade_noise1..n->draws of the block's rows (noise seeds 1..draws), into buf[nrows]. */
static int noise_draws(gr_writer *wr, const gr_sim_block *b, double *buf)
{
    const gr_sim_noise *n = b->w->noise;
    int rc = GR_OK;
    for (int d = 1; n && d <= n->draws && !rc; d++) {
        char name[32];
        snprintf(name, sizeof name, "trade_noise%d", d);
        gr_sim_block_trade(b, gr_sim_noise_key(b->w->seed, (uint64_t)d), buf);
        rc = gr_writer_panel_double(wr, name, buf);
    }
    return rc;
}

int gr_sim_write(MPI_Comm comm, const gr_sim_world *w, const char *out_path, const char *geography,
                 const char *seed_text)
{
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    gr_writer wr;
    int rc = gr_writer_open(comm, out_path, &wr);
    if (rc) return rc;
    char gen[128];
    snprintf(gen, sizeof gen, "gravrd simulate %s", GR_VERSION);
    const attr_t attrs[] = {
        {"truth_partner_w2e", GR_SIM_PARTNER_W2E},
        {"truth_partner_e2w", GR_SIM_PARTNER_E2W},
        {"truth_partner_w2e_direct", direct_w2e()},
        {"truth_distance", GR_SIM_DISTANCE},
        {"truth_affinity_trade", GR_SIM_AFFINITY_TRADE},
        {"truth_selection_strength", GR_SIM_SELECTION},
        {"truth_migration_trade_w2e", GR_SIM_MIGRATION_TRADE},
        {"truth_partner_migration", GR_SIM_PARTNER_MIGRATION},
        {"truth_partner_deals_w2e", GR_SIM_PARTNER_W2E - GR_SIM_PARTNER_PRICE_W2E},
        {"truth_partner_deals_e2w", 0.0},
        {"truth_partner_seller_cr", 0.0},
        {"truth_partner_buyer_cr", 0.0},
        {"truth_partner_cat_treated_w2e", cat_gamma()},
        {"truth_partner_cat_untreated_w2e", 0.0},
        {"truth_partner_search", GR_SIM_PARTNER_SEARCH},
        {"truth_partner_offline", 0.0},
        /* tables hook: the planted heterogeneity and the new pair columns (docs/simulator.md) */
        {"truth_partner_w2e_x_hi_minority", GR_SIM_HTE_MINORITY},
        {"truth_partner_w2e_lo_minority", GR_SIM_PARTNER_W2E - GR_SIM_HTE_MINORITY * w->hte_share},
        {"truth_partner_w2e_x_december", 0.0},
        {"truth_partner_w2e_x_cny_month", 0.0},
        {"truth_partner_w2e_x_post_covid", 0.0},
        {"truth_partner_migration_e2w", GR_SIM_PARTNER_MIGRATION_E2W},
        {"truth_partner_flights", 0.0},
        {"sim_sigma_pair", SIGMA_PAIR},
        {"sim_sigma_cell", SIGMA_CELL},
        {"sim_rho_cell", RHO_CELL},
        {"n_east", w->n_east},
        {"n_west", w->n_west},
        {"n_months", w->n_months},
        {"n_program_east", w->n_prog_east},
        {"n_program_west", w->n_prog_west},
        {"n_partner_pairs", w->n_partners},
    };
    rc = gr_writer_attr_string(&wr, "generator", gen);
    if (!rc) rc = gr_writer_attr_string(&wr, "seed", seed_text);
    if (!rc) rc = gr_writer_attr_string(&wr, "command_line", gr_command_line);
    if (!rc) rc = gr_writer_attr_string(&wr, "geography", geography);
    if (!rc) rc = gr_writer_attr_string(&wr, "first_month", "2017-01");
    for (size_t a = 0; a < sizeof attrs / sizeof attrs[0] && !rc; a++)
        rc = gr_writer_attr_double(&wr, attrs[a].name, attrs[a].value);
    if (!rc) rc = noise_attrs(&wr, w->noise);
    if (!rc) rc = gr_writer_table(&wr, "cities", &w->cities);
    if (!rc) rc = gr_writer_table(&wr, "pairs", &w->pairs);
    if (!rc) rc = gr_writer_exporter_offsets(&wr, w->n_cities, w->exporter_offsets);
    int eb = 0, ee = 0;
    gr_partition_exporters(w->n_cities, w->exporter_offsets, rank, nranks, &eb, &ee);
    gr_sim_block blk;
    gr_sim_block_init(w, eb, ee, &blk);
    if (!rc) rc = gr_writer_panel_layout(&wr, w->exporter_offsets[w->n_cities], blk.row_begin, blk.nrows);
    size_t n = (size_t)(blk.nrows > 0 ? blk.nrows : 1);
    double *buf = gr_malloc(n, sizeof(double));
    int32_t *ibuf = gr_malloc(n, sizeof(int32_t));
    int ncols = w->noise && w->noise->trade_only ? 3 : gr_sim_n_panel_columns;
    for (int q = 0; q < ncols && !rc; q++) {
        const char *name = gr_sim_panel_columns[q];
        if (q == 2) { rc = gr_writer_panel_double(&wr, name, blk.trade); continue; }
        gr_sim_block_column(&blk, name, buf); /* cannot fail for these names */
        if (q < 2) {
            for (int64_t r = 0; r < blk.nrows; r++) ibuf[r] = (int32_t)buf[r];
            rc = gr_writer_panel_int(&wr, name, ibuf);
        } else {
            rc = gr_writer_panel_double(&wr, name, buf);
        }
    }
    if (!rc) rc = noise_draws(&wr, &blk, buf);
    free(buf); free(ibuf);
    gr_sim_block_free(&blk);
    if (!rc) rc = gr_writer_commit(&wr);
    else gr_writer_abort(&wr);
    return rc;
}

/* ---------------- command ---------------- */

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct {
    const char *out, *cities;
    int64_t seed, noise_seed;
    int east, west, months, monthly, draws, trade_only;
    double sd_segpair, sd_provpair, bandwidth;
} sim_opts;

static const gr_opt sim_table[] = {
    {.name = "out", .kind = GR_OPT_STRING, GR_OPT_AT(sim_opts, out), .metavar = "FILE.h5",
     .help = "output panel (written to a temporary name, then renamed)", .flags = GR_OPT_REQUIRED},
    {.name = "seed", .kind = GR_OPT_INT, GR_OPT_AT(sim_opts, seed), .metavar = "N", .help = "random seed",
     .def = "1", .flags = GR_OPT_RANGE, .lo = 0, .hi = HUGE_VAL},
    {.name = "cities", .kind = GR_OPT_STRING, GR_OPT_AT(sim_opts, cities), .metavar = "FILE.csv",
     .help = "real city table (adcode,name,province,...,longitude,latitude); selects the study's 87 + 110 "
             "cities by province; exclusive with --east/--west"},
    {.name = "east", .kind = GR_OPT_INT, GR_OPT_AT(sim_opts, east), .metavar = "N",
     .help = "number of eastern cities (program counts scale)", .def = STR(GR_SIM_EAST), .flags = GR_OPT_RANGE,
     .lo = 1, .hi = 20000},
    {.name = "west", .kind = GR_OPT_INT, GR_OPT_AT(sim_opts, west), .metavar = "N", .help = "number of western cities",
     .def = STR(GR_SIM_WEST), .flags = GR_OPT_RANGE, .lo = 1, .hi = 20000},
    {.name = "months", .kind = GR_OPT_INT, GR_OPT_AT(sim_opts, months), .metavar = "N", .help = "number of months",
     .def = STR(GR_SIM_MONTHS), .flags = GR_OPT_RANGE, .lo = 1, .hi = 1200},
    {.name = "noise-seed", .kind = GR_OPT_INT, GR_OPT_AT(sim_opts, noise_seed), .metavar = "S",
     .help = "redraw the noise (pair effects, AR(1) pair-month noise, shocks, the other outcomes' noise) for "
             "the world of --seed; not given, or equal to --seed: today's draws", .flags = GR_OPT_RANGE,
     .lo = 0, .hi = HUGE_VAL},
    {.name = "noise-draws", .kind = GR_OPT_INT, GR_OPT_AT(sim_opts, draws), .metavar = "N",
     .help = "also write trade_noise1..N: trade under --noise-seed 1..N (Monte Carlo outcomes)", .def = "0",
     .flags = GR_OPT_RANGE, .lo = 0, .hi = GR_SIM_MAX_DRAWS},
    {.name = "trade-only", .kind = GR_OPT_FLAG, GR_OPT_AT(sim_opts, trade_only),
     .help = "write only the panel columns pair, month and trade (and --noise-draws): fast Monte Carlo panels"},
    {.name = "shock-segpair", .kind = GR_OPT_DOUBLE, GR_OPT_AT(sim_opts, sd_segpair), .metavar = "SD",
     .help = "SD of a log-trade shock shared by the pairs of one (exporter segment, importer segment)",
     .def = "0", .flags = GR_OPT_RANGE, .lo = 0, .hi = 100},
    {.name = "shock-bandwidth", .kind = GR_OPT_DOUBLE, GR_OPT_AT(sim_opts, bandwidth), .metavar = "KM",
     .help = "bandwidth of the segments of --shock-segpair (as segment_<KM>)", .def = "100",
     .flags = GR_OPT_POSITIVE},
    {.name = "shock-provpair", .kind = GR_OPT_DOUBLE, GR_OPT_AT(sim_opts, sd_provpair), .metavar = "SD",
     .help = "SD of a log-trade shock shared by the pairs of one (exporter province, importer province)",
     .def = "0", .flags = GR_OPT_RANGE, .lo = 0, .hi = 100},
    {.name = "shock-monthly", .kind = GR_OPT_FLAG, GR_OPT_AT(sim_opts, monthly),
     .help = "draw the shocks anew each month (default: one per group for all months)"},
    {0}};

static const gr_opts_cmd sim_cmd = {
    "simulate",
    "Write a synthetic panel shaped like the study's (docs/simulator.md): 87 eastern and 110 western\n"
    "cities, all directed east-west pairs, 60 months from 2017-01, 128 partner pairs with a planted\n"
    "west-to-east partnership effect of 0.10 and selection on a latent pair affinity.",
    sim_table, NULL, 0};

int cmd_simulate(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    sim_opts o;
    gr_opts s;
    int rc = gr_opts_parse(&s, &sim_cmd, &o, argc, argv, rank);
    if (rc == GR_OPTS_EXIT) return 0;
    gr_sim_config cfg = {(uint64_t)o.seed, o.east, o.west, o.months, o.cities};
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%lld", (long long)o.seed);
    if (!rc && o.cities && (gr_opts_given(&s, "east") || gr_opts_given(&s, "west")))
        rc = gr_fail(GR_EUSAGE, "simulate", "--cities fixes the cities; do not combine it with --east/--west");
    if (!rc && (int64_t)cfg.n_east * cfg.n_west * 2 > 0x7fffffffLL)
        rc = gr_fail(GR_EUSAGE, "simulate", "--east x --west too large: pair ids must fit in int32");
    if (!rc && o.monthly && !(o.sd_segpair > 0 || o.sd_provpair > 0))
        rc = gr_fail(GR_EUSAGE, "simulate", "--shock-monthly needs --shock-segpair or --shock-provpair > 0");
    if (!rc && gr_opts_given(&s, "shock-bandwidth") && !(o.sd_segpair > 0))
        rc = gr_fail(GR_EUSAGE, "simulate", "--shock-bandwidth needs --shock-segpair > 0");
    int has_noise_seed = !rc && gr_opts_given(&s, "noise-seed");
    if (!rc && s.echo && rank == 0) gr_opts_echo(&s, stderr);
    const char *cities = !rc ? o.cities : NULL;
    if (cities) gr_input_add(cities);  /* --out must not overwrite it */
    if (!rc && rank == 0) rc = gr_refuse_input(o.out, NULL);
    gr_opts_free(&s);
    rc = gr_agree(comm, rc);
    if (rc) {
        if (cities) gr_input_remove(cities);
        return gr_report(rc);
    }
    const char *out = o.out;
    gr_sim_noise noise = {.has_seed = has_noise_seed, .seed = (uint64_t)o.noise_seed,
                          .sd_segpair = o.sd_segpair, .sd_provpair = o.sd_provpair, .bandwidth = o.bandwidth,
                          .monthly = o.monthly, .draws = o.draws, .trade_only = o.trade_only};

    double t0 = gr_now();
    gr_sim_world w;
    rc = gr_agree(comm, gr_sim_world_build(&cfg, &w));
    if (!rc) {
        rc = gr_agree(comm, gr_sim_noise_prepare(&w, &noise));
        if (rc) gr_sim_world_free(&w);
    }
    if (rc) {
        if (cities) gr_input_remove(cities);
        return gr_report(rc);
    }
    w.noise = &noise;
    char geo[4200];
    snprintf(geo, sizeof geo, "%s", cfg.cities_csv ? cfg.cities_csv : "synthetic");
    rc = gr_sim_write(comm, &w, out, geo, seed_text);
    if (!rc && rank == 0 && !gr_quiet)
        printf("simulate: wrote %s: %d cities (%d east, %d west; %d + %d in program), %lld pairs "
               "(%d partner pairs), %lld rows in %.2f s\n", out, w.n_cities, w.n_east, w.n_west, w.n_prog_east,
               w.n_prog_west, (long long)w.n_pairs, w.n_partners, (long long)w.exporter_offsets[w.n_cities],
               gr_now() - t0);
    gr_sim_world_free(&w);
    gr_sim_noise_free(&noise);
    rc = gr_stdout_agree(comm, rc);  /* the summary line reached standard output */
    if (cities) gr_input_remove(cities);
    return rc ? gr_report(rc) : 0;
}
