/* rd.h: sharp regression discontinuity by local linear regression at a fixed bandwidth, the
 * "Conventional" estimate of rdrobust (Calonico, Cattaneo and Titiunik) with p = 1 (docs/rd.md).
 *
 * Rows with x >= c are the right (treated) side, x < c the left. Within |x - c| <= h and kernel
 * weight w = K((x - c)/h) > 0, a weighted line is fitted on each side; the effect is
 * intercept_right - intercept_left. Variance: sandwich per side, summed (hc0, hc1, cluster = CR1).
 * Everything is computed from sums over rows, so rows may be spread over ranks in any way. */
#ifndef GR_RD_H
#define GR_RD_H
#include <stdint.h>
#include "gr.h"

typedef enum { GR_RD_TRIANGULAR = 0, GR_RD_UNIFORM, GR_RD_EPANECHNIKOV } gr_rd_kernel;
typedef enum { GR_RD_HC0 = 0, GR_RD_HC1, GR_RD_CLUSTER } gr_rd_vcov;

/* Parse "triangular"/"tri", "uniform"/"uni", "epanechnikov"/"epa"; "hc0", "hc1", "cluster".
 * Return 0 on success, -1 for an unknown name. Names: canonical long spelling (static strings). */
int gr_rd_kernel_parse(const char *s, gr_rd_kernel *k);
int gr_rd_vcov_parse(const char *s, gr_rd_vcov *v);
const char *gr_rd_kernel_name(gr_rd_kernel k);
const char *gr_rd_vcov_name(gr_rd_vcov v);

/* Kernel weight K(u) without the 1/h factor (it cancels in estimate and variance). 0 for |u| > 1. */
double gr_rd_kernel_weight(gr_rd_kernel k, double u);

/* Index 0 = left of the cutoff (x < c), 1 = right (x >= c). */
typedef struct gr_rd_result {
    double cutoff, h;
    gr_rd_kernel kernel;
    gr_rd_vcov vcov;
    double estimate, std_error, z, p_value, ci_low, ci_high;  /* z and p: standard normal */
    double intercept[2], slope[2];  /* fitted lines in (x - c) on each side */
    double var_side[2];             /* variance of each intercept (small-sample factor applied) */
    int64_t n_eff[2];               /* rows with weight > 0 on each side */
    int64_t n_side[2];              /* all usable rows on each side (any distance) */
    int64_t n_clusters[2];          /* clusters with a row of weight > 0 (cluster vcov), else 0 */
    int64_t n_used;                 /* usable rows (finite y and x, and cluster id if clustered) */
    int64_t n_dropped;              /* rows dropped for a missing y, x or cluster id */
    double nearest[2];              /* |x - c| of the nearest row with weight > 0 on each side */
    int extrapolated;               /* 1 if a side has no such row within RD_GAP_SHARE * h of the cutoff */
} gr_rd_result;

/* A side whose nearest weighted row lies farther than this share of the bandwidth from the cutoff
 * leaves its intercept an extrapolation over an empty region: the result is marked `extrapolated`
 * (docs/rd.md, "Degenerate cases"). */
#define RD_GAP_SHARE 0.5

/* Local: estimate from the n rows given (one process). y, x: n values, NaN = missing (row dropped and
 * counted). cluster: dense ids in [0, n_clusters) or -1 = missing; required (non-NULL) iff vcov is
 * GR_RD_CLUSTER, ignored otherwise. Returns GR_OK and fills *out, or GR_EINPUT (h <= 0 or not finite,
 * cutoff outside the range of x, a side with fewer than 3 weighted rows, 2 distinct x values or,
 * clustered, 2 clusters, h more than 1e100 times the farthest |x - c|, an outcome that is an exact line of
 * x on both sides: *out then still holds the estimate, intercepts, slopes and counts, not the variance)
 * via gr_fail naming `where`. */
int gr_rd_estimate(int64_t n, const double *y, const double *x, const int64_t *cluster,
                   int64_t n_clusters, double cutoff, double h, gr_rd_kernel kernel, gr_rd_vcov vcov,
                   const char *where, gr_rd_result *out);

/* Collective over comm: the same estimate when the rows are spread over the ranks of comm (each
 * rank passes its own rows; n may be 0). Cluster ids must be global dense ids (see gr_rd_dense_ids),
 * n_clusters the same on all ranks. Sums are reduced with MPI_Allreduce; every rank gets the result and
 * the same status (agreed with gr_agree, the lowest failing rank keeps the message). */
int gr_rd_estimate_mpi(MPI_Comm comm, int64_t n, const double *y, const double *x, const int64_t *cluster,
                       int64_t n_clusters, double cutoff, double h, gr_rd_kernel kernel, gr_rd_vcov vcov,
                       const char *where, gr_rd_result *out);

/* Collective: map the cluster values of this rank's n rows (any doubles, NaN = missing) to dense ids
 * 0..G-1 in increasing order of value, the same numbering on every rank; missing -> -1. ids: n entries
 * owned by the caller. *n_clusters = G (global). Returns GR_OK (or GR_EMPI). */
int gr_rd_dense_ids(MPI_Comm comm, int64_t n, const double *values, int64_t *ids, int64_t *n_clusters);
#endif
