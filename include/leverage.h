/* leverage.h: the fixed effects' leverage in clustered inference, computed on the distributed absorber
 * (no dense dummies): the clustering diagnostic of clustered fits (--cluster-diag auto/on/off; nesting, clusters
 * per level, the expected ratio E[CR]/Var) and the CR2 / CR3 variances (clubSandwich's conventions).
 * H = P_D + X~ B X~' is the hat matrix of the full model; P_D, the projection on the fixed effects, is
 * applied as v - demean(v). Formulas, sources and limits: docs/vcov.md, "Fixed-effect leverage". */
#ifndef GR_LEVERAGE_H
#define GR_LEVERAGE_H
#include <cjson/cJSON.h>
#include "absorber.h"
#include "fit.h"
#include "vcov.h"

#define GR_LEV_EXACT_MAX_ROWS 20000          /* CR2/CR3 (exact): one demeaned column per row */
#define GR_LEV_EXACT_MAX_BLOCK ((int64_t)1 << 25)  /* sum_g n_g^2: the H_gg blocks held on every rank */
#define GR_LEV_DIAG_EXACT_ROWS 64            /* the diagnostic is exact up to this many rows (n columns, at most
                                              * 4 times the probes), else probes; exact n columns on 1,996 rows
                                              * took 2 min on 4 loaded ranks */
#define GR_LEV_PROBES 16                     /* at most this many Rademacher probes (s.e. 0.004 on Table 3 by pair) */
#define GR_LEV_PROBE_BATCH 4                 /* probes are added in batches of 4 while the warning decision is not
                                              * clear (docs/vcov.md, "Sequential probes") */
#define GR_LEV_PROBE_ALPHA 0.001             /* stop once R is on one side of the threshold at this one-sided
                                              * level: |R - threshold| >= t_{P-1, 1 - alpha} s.e. */
#define GR_LEV_RATIO_WARN 0.85               /* warn below: 95% intervals cover about 93% or less */
#define GR_LEV_FEW_CLUSTERS 5                /* a level with at most this many clusters is "few" */
#define GR_LEV_AUTO_CPL 10.0                 /* auto: the ratio only if a fixed effect not nested in the cluster
                                              * has fewer clusters per level on average (docs/vcov.md) */

/* --cluster-diag / grid cluster-diag: auto (the cheap part always, the ratio where it can be material),
 * on (always the ratio), off (no diagnostic). */
typedef enum { GR_LEV_DIAG_AUTO = 0, GR_LEV_DIAG_ON, GR_LEV_DIAG_OFF } gr_lev_policy;

typedef enum { GR_LEV_AUTO = 0, GR_LEV_EXACT, GR_LEV_PROBE } gr_lev_method;

/* The exact blocks P_D,gg of one fit's clusters (replicated on every rank), as the diagnostic made them,
 * passed on to CR2/CR3 so that the n unit vectors are demeaned once. */
typedef struct gr_lev_blocks gr_lev_blocks;
/* Local. Free blocks (NULL allowed). */
void gr_lev_blocks_free(gr_lev_blocks *b);

/* One fixed effect against the cluster variable. */
typedef struct gr_lev_fe {
    char *name;
    int nested;                 /* every level in one cluster */
    int64_t levels, pairs;      /* levels; distinct (level, cluster) pairs */
    double share_few;           /* share of sum w_i^2 in levels with <= GR_LEV_FEW_CLUSTERS clusters */
} gr_lev_fe;

/* The diagnostic of one fit against one cluster variable. */
typedef struct gr_lev_diag {
    char *cluster, *term;       /* cluster variable; the coefficient of interest */
    const char *method;         /* "exact", "probes", "nested" (every fixed effect nested: exact, no probes),
                                 * "skipped" (auto, ratio not computed: see reason) */
    const char *reason;         /* why the ratio was not computed (static text), or NULL */
    int probes;                 /* probes used (0 unless method is "probes") */
    int probes_max;             /* the most it could use (GR_LEV_PROBES, or the test switch's count) */
    const char *probes_stop;    /* why it stopped (static text): "clear", "max" or "fixed"; NULL unless probes */
    double probes_z;            /* |R - threshold| / ratio_se at the stop (probes only) */
    double probes_z_needed;     /* t_{probes-1, 1 - GR_LEV_PROBE_ALPHA}: the distance that counts as clear */
    double threshold;           /* the warning threshold (GR_LEV_RATIO_WARN unless the test switch sets it) */
    double ratio, ratio_se;     /* R = 1 - sum_g w_g' H_gg w_g / w'w; Monte Carlo s.e. (0 when exact); NaN
                                 * when not computed */
    double ratio_cr1;           /* R times fixest's CR1 factor G/(G-1) (n-1)/(n-K) */
    double h_fe, h_x, wtw;      /* sum_g w_g' P_D,gg w_g, sum_g w_g' X~_g B X~_g' w_g, w'w */
    int64_t columns;            /* columns demeaned for it */
    int converged;              /* its demeaning converged */
    double seconds;
    int nfe;
    gr_lev_fe *fe;
} gr_lev_diag;

/* Collective. The diagnostic for the fit fd (regressors X~ = fd->Xk, sqrt(w)-scaled) clustered by cl
 * (fd->n dense global ids of G clusters, named clname), on the absorber ab of fd's rows. The coefficient
 * of interest is the first kept regressor other than the intercept. K is the parameter count of the
 * (n-1)/(n-K) factor. method GR_LEV_AUTO: exact up to GR_LEV_DIAG_EXACT_ROWS rows, else at most `probes`
 * (0: GR_LEV_PROBES) Rademacher probes constant within a cluster (seeded by cluster id and probe number: the
 * same on any number of ranks), added GR_LEV_PROBE_BATCH at a time until R is clearly on one side of the
 * warning threshold, and demeaned at the probes' own tolerance (docs/vcov.md). The environment's
 * GRAVRD_LEVERAGE (the test suite's switch, docs/vcov.md) can force the method, the probe count, all probes,
 * the threshold and the probes' tolerance; a malformed value fails (GR_EUSAGE). policy GR_LEV_DIAG_AUTO: the ratio's fixed-effect term (the probes) only when some fixed
 * effect not nested in the cluster has on average fewer than GR_LEV_AUTO_CPL clusters per level, else
 * method "skipped" and d->reason; GR_LEV_DIAG_ON: always (the caller skips the call for _OFF). keep
 * (NULL: not wanted; CR2/CR3 next): the diagnostic is then exact up to GR_LEV_EXACT_MAX_ROWS rows and *keep
 * gets its blocks (or stays NULL), owned by the caller. The absorber's counters and tolerance are left as
 * they were. */
int gr_lev_diagnose(MPI_Comm comm, gr_absorber *ab, const gr_fit *fd, const int32_t *cl, int64_t G,
                    const char *clname, int64_t K, gr_lev_policy policy, gr_lev_method method, int probes,
                    gr_lev_blocks **keep, gr_lev_diag *d);

/* Local. P(T <= t) for Student's t with df >= 1 degrees of freedom (integer df: Abramowitz & Stegun 26.7.3-4),
 * and its quantile (bisection): the sequential probes' stopping rule. */
double gr_lev_t_cdf(double t, int df);
double gr_lev_t_quantile(double p, int df);

/* Collective. CR2 (A_g = (I - H_gg)^(-1/2), symmetric, eigenvalues <= 1e-12 dropped) or CR3
 * (A_g = (I - H_gg)^(-1), by LU, refused where R's solve() refuses) one-way clustered V = B (sum_g X_g' A_g e_g e_g' A_g X_g) B, without a
 * small-sample factor (clubSandwich::vcovCR on lm with the fixed effects as dummies). X (n x k), e (n)
 * the demeaned regressors and residuals, B = (X'X)^-1. Refuses weights, more than GR_LEV_EXACT_MAX_ROWS
 * rows, and (CR3) a singular I - H_gg. pre: the diagnostic's blocks for the same cl (used when they match),
 * or NULL. */
int gr_lev_vcov(MPI_Comm comm, struct gr_absorber *ab, gr_vcov_type type, int64_t n, int k, const double *X,
                const double *e, const double *B, const int32_t *cl, int64_t G, const gr_lev_blocks *pre, double *V);

/* Local. One warning line on rank 0 (the caller's) when d->ratio < GR_LEV_RATIO_WARN and the variance in use,
 * vcov, is CR1: CR2 and CR3 correct the leverage the ratio measures, so under them there is nothing to warn of
 * (the diagnostic is still in the record). */
void gr_lev_warn(const gr_lev_diag *d, const char *sample, gr_vcov_type vcov);
/* Local. The JSON object of d. */
cJSON *gr_lev_json(const gr_lev_diag *d);
/* Local. A deep copy of d into out. */
void gr_lev_copy(const gr_lev_diag *d, gr_lev_diag *out);
void gr_lev_free(gr_lev_diag *d);
#endif
