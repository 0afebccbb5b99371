/* simulate.h: the synthetic study (`gravrd simulate`, docs/simulator.md). A world (cities, their
 * program status, the directed east-west pairs and the partnerships) is built identically on every
 * rank from the seed; panel rows are generated per exporter from a counter-based generator keyed by
 * (seed, stream, pair, month), so any set of ranks produces the same values for the same rows. */
#ifndef GR_SIMULATE_H
#define GR_SIMULATE_H
#include <stdint.h>
#include "gr.h"
#include "panel.h"

/* Study defaults (section 3.1). */
#define GR_SIM_EAST 87
#define GR_SIM_WEST 110
#define GR_SIM_MONTHS 60
#define GR_SIM_PROG_EAST 56
#define GR_SIM_PROG_WEST 81
#define GR_SIM_PARTNERS 128          /* undirected partner pairs */
#define GR_SIM_NCAT 6

/* Planted truth (log points unless stated); written as root attributes truth_*. */
#define GR_SIM_PARTNER_W2E 0.10      /* total effect of partnership on west-to-east log trade */
#define GR_SIM_PARTNER_E2W 0.0
#define GR_SIM_DISTANCE (-0.33)
#define GR_SIM_AFFINITY_TRADE 0.05   /* lambda: log trade per SD of the latent pair affinity */
#define GR_SIM_SELECTION 1.0         /* weight of the affinity in the partner-choice score */
#define GR_SIM_MIGRATION_TRADE 0.04  /* w2e log trade per unit of the migration ratio */
#define GR_SIM_PARTNER_MIGRATION 0.5 /* additive shift of the migration ratios of partners */
#define GR_SIM_PARTNER_PRICE_W2E 0.04 /* log unit price of partners' w2e deals: deals effect 0.06 */
#define GR_SIM_PARTNER_SEARCH 0.12   /* log search index, both directions */
/* Heterogeneity (Table 5): the direct w2e effect of a partner pair is larger by GR_SIM_HTE_MINORITY when
 * its western city is a high-minority western city (minority_share above the median over the western
 * cities, exactly the derived column hi_minority_share_west), centred so that the mean over the partner
 * pairs stays GR_SIM_PARTNER_W2E (docs/simulator.md). */
#define GR_SIM_HTE_MINORITY 0.15
#define GR_SIM_PARTNER_MIGRATION_E2W 0.1 /* additive shift of partners' east-to-west migration ratio */
#define GR_SIM_MIGRATION_CAP 16.0    /* soft cap of the migration ratios: K tanh(x / K) */

/* Random streams: one per kind of draw, so adding a draw never shifts another. */
enum {
    GR_SIM_S_GEO = 1, GR_SIM_S_CITY, GR_SIM_S_DIALECT, GR_SIM_S_PROGRAM, GR_SIM_S_SELECT,
    GR_SIM_S_AFFINITY, GR_SIM_S_MIGRATION, GR_SIM_S_OFFLINE, GR_SIM_S_CITYMONTH, GR_SIM_S_PAIR,
    GR_SIM_S_CELL, GR_SIM_S_ZERO, GR_SIM_S_PRICE, GR_SIM_S_CR, GR_SIM_S_CAT, GR_SIM_S_SEARCH,
    GR_SIM_S_CITY2, GR_SIM_S_FLIGHTS,
    GR_SIM_S_NOISEKEY, GR_SIM_S_SHOCK_SEG, GR_SIM_S_SHOCK_PROV  /* the noise (gr_sim_noise) */
};

/* Counter-based generator: a splitmix64-finalizer hash of (seed, stream, a, b). gr_sim_uniform is
 * in (0,1) exclusive; gr_sim_normal is N(0,1) by Box-Muller on two hashed uniforms. `slot`
 * distinguishes several draws that share (a, b). Pure functions. */
uint64_t gr_sim_hash(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b);
double gr_sim_uniform(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b);
double gr_sim_normal(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b);

typedef struct gr_sim_config {
    uint64_t seed;
    int n_east, n_west, n_months;  /* n_east/n_west are ignored when cities_csv is set */
    const char *cities_csv;        /* NULL: synthetic geography */
} gr_sim_config;

/* The noise of the panel rows, redrawn apart from the world (docs/simulator.md, "Noise, noise seeds and
 * shared shocks"). A world without one (gr_sim_world.noise NULL) has today's draws: noise from the world's
 * seed, no shocks, no extra draws. Noise = the streams GR_SIM_S_PAIR, _CELL, _PRICE, _CR, _CAT, _SEARCH and
 * the shocks; the world (cities, partners, pair attributes, city-month effects) and the zero-trade cells
 * (_ZERO) stay with --seed. */
#define GR_SIM_SHOCK_BW 100.0        /* default bandwidth (km) of the segments of the segment-pair shock */
#define GR_SIM_MAX_DRAWS 1000        /* most extra trade columns (--noise-draws) */
typedef struct gr_sim_noise {
    int has_seed;                  /* 0: noise drawn from the world's seed (today's panels) */
    uint64_t seed;                 /* --noise-seed */
    double sd_segpair, sd_provpair;/* SD of the shared shocks in log trade (0: none) */
    double bandwidth;              /* km: segments of the segment-pair shock */
    int monthly;                   /* 1: a shock per group and month; 0: one per group */
    int draws;                     /* extra columns trade_noise1..draws (noise seeds 1..draws) */
    int trade_only;                /* write only pair, month, trade (and the draws): Monte Carlo panels */
    int *segment, *province;       /* per city, set by gr_sim_noise_prepare; owned */
} gr_sim_noise;

/* Everything replicated on every rank. Tables are in the file's layout (docs/simulator.md). */
typedef struct gr_sim_world {
    uint64_t seed;
    int n_east, n_west, n_cities, n_months;
    int n_prog_east, n_prog_west, n_partners; /* n_partners: undirected partner pairs */
    int64_t n_pairs;                         /* directed pairs, 2 * n_east * n_west */
    int64_t control_count[5];                /* directed pairs by control_type 0..4 */
    gr_table cities, pairs;
    int64_t *exporter_offsets;               /* n_cities + 1 panel row offsets */
    double *exp_fx, *imp_fx;                 /* [city * n_months + m]: exporter / importer-month effects */
    double *city_fx;                         /* [city * GR_SIM_NCITYFX + k]: other city effects */
    double hte_share;                        /* share of the directed w2e partner pairs whose western city
                                              * is high-minority (the centring of GR_SIM_HTE_MINORITY) */
    const gr_sim_noise *noise;               /* NULL: today's draws (the caller's; not freed) */
} gr_sim_world;
#define GR_SIM_NCITYFX 6

/* Build the world for `cfg` (local, deterministic: same inputs give bit-identical worlds). Reads
 * cfg->cities_csv when set and checks it holds the study's 87 eastern and 110 western cities.
 * Returns GR_OK, or GR_EIO / GR_EFORMAT / GR_EINPUT via gr_fail; *w is then empty. Free with
 * gr_sim_world_free. */
int gr_sim_world_build(const gr_sim_config *cfg, gr_sim_world *w);
void gr_sim_world_free(gr_sim_world *w);

/* Local. Check n's shocks (finite SDs >= 0, a bandwidth > 0 when the segment-pair shock is on) and set its
 * per-city segment (at n->bandwidth, as `segment_<bw>` is derived: gr_derived_segments) and province ids
 * from w's cities table. GR_OK or GR_EINPUT via gr_fail; free with gr_sim_noise_free. */
int gr_sim_noise_prepare(const gr_sim_world *w, gr_sim_noise *n);
void gr_sim_noise_free(gr_sim_noise *n);

/* Local, pure. The key the noise of draw `noise_seed` is hashed with: the world's seed when noise_seed
 * equals it (so --noise-seed S = --seed S gives today's panel), else a hash of both (worlds sharing a
 * noise seed get independent noise). */
uint64_t gr_sim_noise_key(uint64_t world_seed, uint64_t noise_seed);

/* Panel columns in the order they are written ("pair" and "month" are int32, the rest double). */
extern const char *const gr_sim_panel_columns[];
extern const int gr_sim_n_panel_columns;

/* The rows of exporters [exp_begin, exp_end): rows exporter_offsets[exp_begin] ..
 * exporter_offsets[exp_end], with their trade values (generated by gr_sim_block_init) and the
 * category-share denominators, so that every other column can be generated one at a time. */
typedef struct gr_sim_block {
    const gr_sim_world *w;
    int exp_begin, exp_end;
    int64_t row_begin, nrows;
    uint64_t key;                /* noise key (gr_sim_noise_key) */
    double *trade, *cat_denom;   /* nrows each, owned */
} gr_sim_block;

/* Local and deterministic: generate trade and the category denominators for the block's rows
 * (16 bytes per row held until gr_sim_block_free). */
void gr_sim_block_init(const gr_sim_world *w, int exp_begin, int exp_end, gr_sim_block *b);
void gr_sim_block_free(gr_sim_block *b);
/* Local. Fill out[nrows] with the trade column of the block's rows under noise key `key` (the zero cells
 * and the world are the block's; used for the extra draws trade_noise<k>). */
void gr_sim_block_trade(const gr_sim_block *b, uint64_t key, double *out);
/* Fill out[nrows] with panel column `name` (one of gr_sim_panel_columns; integer columns as
 * doubles). Returns GR_OK or GR_EINPUT for an unknown name. Local. */
int gr_sim_block_column(const gr_sim_block *b, const char *name, double *out);

/* Collective. Write the world and its panel to `out_path` through gr_writer: each rank generates and
 * writes only the rows of its exporters (gr_partition_exporters). `geography` and `seed_text` are
 * recorded as attributes; w->noise, when set, as the attributes noise_seed and sim_shock_* (only those
 * that differ from today's panels, which stay byte-identical) and the columns trade_noise1..draws. Returns an agreed status; on failure no file is left at `out_path`. */
int gr_sim_write(MPI_Comm comm, const gr_sim_world *w, const char *out_path, const char *geography,
                 const char *seed_text);
#endif
