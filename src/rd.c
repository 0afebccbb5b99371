/* rd.c: local linear sharp RD at a fixed bandwidth from sufficient statistics (see rd.h, docs/rd.md).
 *
 * Two passes over the rows. Pass 1 sums, per side, the kernel-weighted moments of 1, v, v^2, y, v*y
 * with v = (x - c)/h (scaling by h only conditions the 2x2 system; intercepts are unchanged). After
 * the fits are known, pass 2 sums the sandwich "meat": w^2 e^2 (1, v, v^2) per side for hc0/hc1, or per
 * (cluster, side) the score sums w e and w e v for the cluster-robust variance. Each pass ends in one
 * reduction, so the numbers do not depend on how rows are spread over ranks. */
#include "rd.h"
#include "levels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A reduction of a buffer of doubles over the ranks of comm (or nothing when comm is MPI_COMM_NULL).
 * Reduce to rank 0 and broadcast so every rank holds bitwise the same sums and takes the same branch. */
static int reduce_sum(MPI_Comm comm, double *buf, int64_t n)
{
    if (comm == MPI_COMM_NULL || n == 0) return GR_OK;
    int rank;
    MPI_Comm_rank(comm, &rank);
    const int64_t chunk = 1 << 26;
    for (int64_t off = 0; off < n; off += chunk) {
        int m = (int)(n - off < chunk ? n - off : chunk);  /* at most 2^26 by the test */
        if (MPI_Reduce(rank == 0 ? MPI_IN_PLACE : buf + off, buf + off, m, MPI_DOUBLE, MPI_SUM, 0, comm) != MPI_SUCCESS ||
            MPI_Bcast(buf + off, m, MPI_DOUBLE, 0, comm) != MPI_SUCCESS)
            return gr_fail(GR_EMPI, "rd", "reduction of %d sums failed", m);
    }
    return GR_OK;
}

static int reduce_min(MPI_Comm comm, double *buf, int n)
{
    if (comm == MPI_COMM_NULL) return GR_OK;
    if (MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_MIN, comm) != MPI_SUCCESS)
        return gr_fail(GR_EMPI, "rd", "reduction of the running-variable range failed");
    return GR_OK;
}

/* status agreement: collective when comm is a communicator */
static int agree(MPI_Comm comm, int st)
{
    return comm == MPI_COMM_NULL ? st : gr_agree(comm, st);
}

int gr_rd_kernel_parse(const char *s, gr_rd_kernel *k)
{
    if (!strcasecmp(s, "triangular") || !strcasecmp(s, "tri")) *k = GR_RD_TRIANGULAR;
    else if (!strcasecmp(s, "uniform") || !strcasecmp(s, "uni")) *k = GR_RD_UNIFORM;
    else if (!strcasecmp(s, "epanechnikov") || !strcasecmp(s, "epa")) *k = GR_RD_EPANECHNIKOV;
    else return -1;
    return 0;
}

int gr_rd_vcov_parse(const char *s, gr_rd_vcov *v)
{
    if (!strcasecmp(s, "hc0")) *v = GR_RD_HC0;
    else if (!strcasecmp(s, "hc1")) *v = GR_RD_HC1;
    else if (!strcasecmp(s, "cluster")) *v = GR_RD_CLUSTER;
    else return -1;
    return 0;
}

const char *gr_rd_kernel_name(gr_rd_kernel k)
{
    return k == GR_RD_UNIFORM ? "uniform" : k == GR_RD_EPANECHNIKOV ? "epanechnikov" : "triangular";
}

const char *gr_rd_vcov_name(gr_rd_vcov v)
{
    return v == GR_RD_HC1 ? "hc1" : v == GR_RD_CLUSTER ? "cluster" : "hc0";
}

double gr_rd_kernel_weight(gr_rd_kernel k, double u)
{
    double a = fabs(u);
    if (!(a <= 1.0)) return 0.0;
    switch (k) {
    case GR_RD_UNIFORM: return 0.5;
    case GR_RD_EPANECHNIKOV: return 0.75 * (1.0 - u * u);
    default: return 1.0 - a;
    }
}

/* pass-1 layout: per side s, P1(s, j) for j in the enum below; then globals */
enum { S_N, S_NEFF, S_W, S_WV, S_WVV, S_WY, S_WVY, S_WYY, S_NSTAT };
#define P1(s, j) ((s) * S_NSTAT + (j))
enum { G_USED = 2 * S_NSTAT, G_DROPPED, P1_LEN };
/* pass-1 minima (reduced with MPI_MIN): min x, min -x over usable rows; per side the distance to the
 * cutoff of the nearest row with positive weight */
enum { R_MINX, R_MINNEGX, R_NEAR_LEFT, R_NEAR_RIGHT, R_LEN };
/* pass-2 layout (hc): per side M00, M01, M11 */
enum { M_00, M_01, M_11, M_NSTAT };

/* Outcomes whose residuals are at most this share of their sum of squares on both sides are an exact
 * linear function of the running variable (docs/rd.md, "Degenerate cases"). */
#define RD_EXACT_TSS 1e-10  /* of the centred sum of squares (as estimate's --collin-tol) */
#define RD_EXACT_RAW 1e-24  /* of the raw sum of squares: residuals at rounding level (1e-12 of the values) */
/* A bandwidth above this multiple of the farthest distance to the cutoff makes (x - c)/h underflow. */
#define RD_H_MAX_RATIO 1e100

static int row_usable(double y, double x, const int64_t *cluster, int64_t i, int clustered)
{
    if (!isfinite(y) || !isfinite(x)) return 0;
    if (clustered && cluster[i] < 0) return 0;
    return 1;
}

/* One estimation: the rows and the settings (what gr_rd_estimate_mpi was given). */
typedef struct {
    MPI_Comm comm;
    int64_t n;
    const double *y, *x;
    const int64_t *cluster;
    int64_t n_clusters;
    double c, h;
    gr_rd_kernel kernel;
    gr_rd_vcov vcov;
    int clustered;
    const char *where;
} rd_job;

static const char *const side_name[2] = {"left of", "at or right of"};

/* Checks on arguments every rank shares: all ranks fail together, before any reduction. */
static int check_args(const rd_job *J)
{
    int st = GR_OK;
    if (!(J->h > 0) || !isfinite(J->h))
        st = gr_fail(GR_EINPUT, J->where, "bandwidth must be a positive finite number, got %g", J->h);
    else if (!isfinite(J->c))
        st = gr_fail(GR_EINPUT, J->where, "cutoff must be a finite number, got %g", J->c);
    else if (J->clustered && J->n_clusters < 0)
        st = gr_fail(GR_EINPUT, J->where, "negative number of clusters");
    else if (J->clustered && !J->cluster && J->n > 0)
        st = gr_fail(GR_EINPUT, J->where, "cluster variance needs cluster ids");
    else
        for (int64_t i = 0; J->clustered && i < J->n; i++)
            if (J->cluster[i] >= J->n_clusters) {
                st = gr_fail(GR_EINPUT, J->where, "cluster id %lld out of range [0, %lld)", (long long)J->cluster[i],
                             (long long)J->n_clusters);
                break;
            }
    return agree(J->comm, st);
}

/* Pass 1: the kernel-weighted moments per side into s1 and the minima into range, reduced over ranks. */
static int pass1(const rd_job *J, double s1[P1_LEN], double range[R_LEN])
{
    const double c = J->c, h = J->h;
    for (int k = 0; k < R_LEN; k++) range[k] = INFINITY;
    for (int64_t i = 0; i < J->n; i++) {
        double xi = J->x[i], yi = J->y[i];
        if (!row_usable(yi, xi, J->cluster, i, J->clustered)) {
            s1[G_DROPPED] += 1;
            continue;
        }
        s1[G_USED] += 1;
        if (xi < range[R_MINX]) range[R_MINX] = xi;
        if (-xi < range[R_MINNEGX]) range[R_MINNEGX] = -xi;
        int s = xi >= c;
        s1[P1(s, S_N)] += 1;
        double v = (xi - c) / h, w = gr_rd_kernel_weight(J->kernel, v);
        if (!(w > 0)) continue;
        double dist = s ? xi - c : c - xi;
        if (dist < range[R_NEAR_LEFT + s]) range[R_NEAR_LEFT + s] = dist;
        s1[P1(s, S_NEFF)] += 1;
        s1[P1(s, S_W)] += w;
        s1[P1(s, S_WV)] += w * v;
        s1[P1(s, S_WVV)] += w * v * v;
        s1[P1(s, S_WY)] += w * yi;
        s1[P1(s, S_WVY)] += w * v * yi;
        s1[P1(s, S_WYY)] += w * yi * yi;
    }
    /* an MPI failure is global (or fatal under the default error handler): no agreement between the two */
    int st = reduce_sum(J->comm, s1, P1_LEN);
    if (st == GR_OK) st = reduce_min(J->comm, range, R_LEN);
    return agree(J->comm, st);
}

/* The line of each side from the pass-1 sums: intercepts, slopes, the first row of each side's inverse
 * Gram matrix (Ginv0), the distance of the nearest weighted row. Every decision depends only on reduced
 * (identical) sums, so the ranks agree by construction. */
static int fit_sides(const rd_job *J, const double s1[P1_LEN], const double range[R_LEN], gr_rd_result *out,
                     double Ginv0[2][2])
{
    const double c = J->c, h = J->h;
    out->n_used = (int64_t)s1[G_USED];
    out->n_dropped = (int64_t)s1[G_DROPPED];
    if (out->n_used == 0)
        return gr_fail(GR_EINPUT, J->where, "no observations with both outcome and running variable present"
                                            " (%lld dropped as missing)", (long long)out->n_dropped);
    double xmin = range[R_MINX], xmax = -range[R_MINNEGX];
    if (!(xmin < c) || !(xmax >= c))
        return gr_fail(GR_EINPUT, J->where, "cutoff %g is outside the range of the running variable [%g, %g]", c, xmin, xmax);
    double far = fmax(c - xmin, xmax - c);
    if (h > RD_H_MAX_RATIO * far)
        return gr_fail(GR_EINPUT, J->where, "too large: more than 1e100 times the farthest distance of a row from the "
                       "cutoff (%g), so (x - c)/h underflows in double precision; the kernel weights hardly change "
                       "beyond %g (1e15 times that distance)", far, 1e15 * far);
    for (int s = 0; s < 2; s++) {
        out->n_side[s] = (int64_t)s1[P1(s, S_N)];
        out->n_eff[s] = (int64_t)s1[P1(s, S_NEFF)];
        if (out->n_eff[s] < 3)
            return gr_fail(GR_EINPUT, J->where, "%lld observation(s) %s the cutoff within bandwidth %g; need at least 3",
                           (long long)out->n_eff[s], side_name[s], h);
        double a = s1[P1(s, S_W)], b = s1[P1(s, S_WV)], d = s1[P1(s, S_WVV)];
        double det = a * d - b * b;
        if (!(det > 1e-12 * a * d))
            return gr_fail(GR_EINPUT, J->where, "the running variable takes a single value %s the cutoff within "
                           "bandwidth %g", side_name[s], h);
        double ry = s1[P1(s, S_WY)], rvy = s1[P1(s, S_WVY)];
        out->intercept[s] = (d * ry - b * rvy) / det;
        out->slope[s] = (a * rvy - b * ry) / det / h; /* per unit of x */
        Ginv0[s][0] = d / det;
        Ginv0[s][1] = -b / det;
        out->nearest[s] = range[R_NEAR_LEFT + s];
    }
    out->extrapolated = out->nearest[0] > RD_GAP_SHARE * h || out->nearest[1] > RD_GAP_SHARE * h;
    out->estimate = out->intercept[1] - out->intercept[0];
    return GR_OK;
}

/* Pass 2: the residuals' sums, reduced over ranks, into s2 (len2 doubles, zeroed): per side the meat
 * w^2 e^2 (1, v, v^2) (hc), or per (cluster, side) the scores w e, w e v and a row count; then, last, the
 * weighted residual sum of squares of each side. */
static int pass2(const rd_job *J, const gr_rd_result *out, double *s2, int64_t len2)
{
    const double c = J->c, h = J->h;
    double *rss = s2 + len2 - 2;
    for (int64_t i = 0; i < J->n; i++) {
        double xi = J->x[i], yi = J->y[i];
        if (!row_usable(yi, xi, J->cluster, i, J->clustered)) continue;
        int s = xi >= c;
        double v = (xi - c) / h, w = gr_rd_kernel_weight(J->kernel, v);
        if (!(w > 0)) continue;
        double e = yi - out->intercept[s] - out->slope[s] * (xi - c);
        rss[s] += w * e * e;
        if (J->clustered) {
            double *g = s2 + (J->cluster[i] * 2 + s) * 3;
            g[0] += w * e;
            g[1] += w * e * v;
            g[2] += 1;
        } else {
            double we2 = w * w * e * e;
            s2[s * M_NSTAT + M_00] += we2;
            s2[s * M_NSTAT + M_01] += we2 * v;
            s2[s * M_NSTAT + M_11] += we2 * v * v;
        }
    }
    return agree(J->comm, reduce_sum(J->comm, s2, len2));
}

/* 1 if side s's line fits its rows exactly: weighted residual sum of squares at most RD_EXACT_TSS of the
 * side's centred sum of squares or RD_EXACT_RAW of its raw one (rounding level). */
static int side_exact(const double s1[P1_LEN], int s, double rss)
{
    double sw = s1[P1(s, S_W)], sy = s1[P1(s, S_WY)], syy = s1[P1(s, S_WYY)];
    double tss = syy - sy * sy / sw;
    return rss <= RD_EXACT_TSS * tss || rss <= RD_EXACT_RAW * syy;
}

/* The variance from the pass-2 sums: per-side meat M, small-sample factors, then se, z, p and the
 * interval. Refuses an outcome fitted exactly on both sides (the standard error would be 0). */
static int variance(const rd_job *J, const double s1[P1_LEN], const double *s2, int64_t len2,
                    const double Ginv0[2][2], gr_rd_result *out)
{
    const double *rss = s2 + len2 - 2;
    if (!isfinite(s1[P1(0, S_WYY)]) || !isfinite(s1[P1(1, S_WYY)]) || !isfinite(rss[0]) || !isfinite(rss[1]))
        return gr_fail(GR_EINPUT, J->where, "the outcome's sums of squares within bandwidth %g are not finite (values "
                       "too large for double precision): rescale it", J->h);
    if (side_exact(s1, 0, rss[0]) && side_exact(s1, 1, rss[1]))
        return gr_fail(GR_EINPUT, J->where, "the outcome is an exact linear function of the running variable on both "
                       "sides within bandwidth %g (e.g. constant, or the running variable itself; or values too small "
                       "to square in double precision): the standard error would be 0 and there is nothing to test",
                       J->h);
    double M[2][3] = {{0}};
    if (J->clustered) {
        for (int64_t g = 0; g < J->n_clusters; g++)
            for (int s = 0; s < 2; s++) {
                const double *q = s2 + (g * 2 + s) * 3;
                if (q[2] <= 0) continue;
                out->n_clusters[s]++;
                M[s][0] += q[0] * q[0];
                M[s][1] += q[0] * q[1];
                M[s][2] += q[1] * q[1];
            }
    } else {
        for (int s = 0; s < 2; s++)
            for (int j = 0; j < 3; j++) M[s][j] = s2[s * M_NSTAT + j];
    }
    double var = 0;
    for (int s = 0; s < 2; s++) {
        double ns = (double)out->n_eff[s], factor = 1.0;
        if (J->vcov == GR_RD_HC1) factor = ns / (ns - 2.0);
        if (J->clustered) {
            double g = (double)out->n_clusters[s];
            if (g < 2)
                return gr_fail(GR_EINPUT, J->where, "%lld cluster(s) %s the cutoff within bandwidth %g; cluster "
                               "variance needs at least 2", (long long)out->n_clusters[s], side_name[s], J->h);
            factor = (ns - 1.0) / (ns - 2.0) * g / (g - 1.0);
        }
        double p = Ginv0[s][0], q = Ginv0[s][1];
        out->var_side[s] = factor * (p * p * M[s][0] + 2 * p * q * M[s][1] + q * q * M[s][2]);
        var += out->var_side[s];
    }
    out->std_error = sqrt(var);
    out->z = out->estimate / out->std_error;
    out->p_value = erfc(fabs(out->z) / sqrt(2.0));
    const double q975 = 1.959963984540054; /* standard normal 0.975 quantile */
    out->ci_low = out->estimate - q975 * out->std_error;
    out->ci_high = out->estimate + q975 * out->std_error;
    return GR_OK;
}

/* Collective when J->comm is a communicator: the whole estimate (check, pass 1, the lines, pass 2, the
 * variance). Failures after pass 1 depend only on reduced sums: every rank fails alike. */
static int estimate(const rd_job *J, gr_rd_result *out)
{
    memset(out, 0, sizeof *out);
    out->cutoff = J->c;
    out->h = J->h;
    out->kernel = J->kernel;
    out->vcov = J->vcov;
    GR_CALL(check_args(J));
    double s1[P1_LEN] = {0}, range[R_LEN], Ginv0[2][2];
    GR_CALL(pass1(J, s1, range));
    GR_CALL(agree(J->comm, fit_sides(J, s1, range, out, Ginv0)));
    int64_t len2 = (J->clustered ? J->n_clusters * 2 * 3 : 2 * M_NSTAT) + 2;
    double *s2 = gr_calloc((size_t)len2, sizeof *s2);
    int st = pass2(J, out, s2, len2);
    if (st == GR_OK) st = agree(J->comm, variance(J, s1, s2, len2, Ginv0, out));
    free(s2);
    return st;
}

int gr_rd_estimate(int64_t n, const double *y, const double *x, const int64_t *cluster, int64_t n_clusters,
                   double cutoff, double h, gr_rd_kernel kernel, gr_rd_vcov vcov, const char *where,
                   gr_rd_result *out)
{
    return gr_rd_estimate_mpi(MPI_COMM_NULL, n, y, x, cluster, n_clusters, cutoff, h, kernel, vcov, where, out);
}

int gr_rd_estimate_mpi(MPI_Comm comm, int64_t n, const double *y, const double *x, const int64_t *cluster,
                       int64_t n_clusters, double cutoff, double h, gr_rd_kernel kernel, gr_rd_vcov vcov,
                       const char *where, gr_rd_result *out)
{
    const rd_job J = {.comm = comm, .n = n, .y = y, .x = x, .cluster = cluster, .n_clusters = n_clusters, .c = cutoff,
                      .h = h, .kernel = kernel, .vcov = vcov, .clustered = vcov == GR_RD_CLUSTER,
                      .where = where ? where : "rd"};
    return estimate(&J, out);
}

int gr_rd_dense_ids(MPI_Comm comm, int64_t n, const double *values, int64_t *ids, int64_t *n_clusters)
{
    /* the estimator's level codes (levels.h), numbered densely; missing values get id -1 */
    int32_t *id32 = gr_malloc((size_t)(n > 0 ? n : 1), sizeof *id32);
    int64_t nc = 0;
    int rc = GR_OK;
    GR_TRY(gr_agree(comm, gr_codes_from_keys(comm, n, values, id32, &nc)));
    GR_TRY(gr_agree(comm, gr_codes_dense(comm, n, id32, nc, id32, n_clusters)));
    for (int64_t i = 0; i < n; i++) ids[i] = id32[i];
fail:
    free(id32);
    return rc;
}
