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
enum { S_N, S_NEFF, S_W, S_WV, S_WVV, S_WY, S_WVY, S_NSTAT };
#define P1(s, j) ((s) * S_NSTAT + (j))
enum { G_USED = 2 * S_NSTAT, G_DROPPED, P1_LEN };
/* pass-2 layout (hc): per side M00, M01, M11 */
enum { M_00, M_01, M_11, M_NSTAT };

static int row_usable(double y, double x, const int64_t *cluster, int64_t i, int clustered)
{
    if (!isfinite(y) || !isfinite(x)) return 0;
    if (clustered && cluster[i] < 0) return 0;
    return 1;
}

static int estimate(MPI_Comm comm, int64_t n, const double *y, const double *x, const int64_t *cluster,
                    int64_t n_clusters, double c, double h, gr_rd_kernel kernel, gr_rd_vcov vcov,
                    const char *where, gr_rd_result *out)
{
    memset(out, 0, sizeof *out);
    out->cutoff = c;
    out->h = h;
    out->kernel = kernel;
    out->vcov = vcov;
    const int clustered = vcov == GR_RD_CLUSTER;
    if (!where) where = "rd";

    /* checks on arguments every rank shares: all ranks fail together, before any reduction */
    int st = GR_OK;
    if (!(h > 0) || !isfinite(h))
        st = gr_fail(GR_EINPUT, where, "bandwidth must be a positive finite number, got %g", h);
    else if (!isfinite(c))
        st = gr_fail(GR_EINPUT, where, "cutoff must be a finite number, got %g", c);
    else if (clustered && n_clusters < 0)
        st = gr_fail(GR_EINPUT, where, "negative number of clusters");
    else if (clustered && !cluster && n > 0)
        st = gr_fail(GR_EINPUT, where, "cluster variance needs cluster ids");
    else
        for (int64_t i = 0; clustered && i < n; i++)
            if (cluster[i] >= n_clusters) {
                st = gr_fail(GR_EINPUT, where, "cluster id %lld out of range [0, %lld)", (long long)cluster[i],
                             (long long)n_clusters);
                break;
            }
    GR_CALL(agree(comm, st));

    /* pass 1 */
    double s1[P1_LEN] = {0};
    double range[2] = {INFINITY, INFINITY}; /* min x, min -x */
    for (int64_t i = 0; i < n; i++) {
        if (!row_usable(y[i], x[i], cluster, i, clustered)) {
            s1[G_DROPPED] += 1;
            continue;
        }
        s1[G_USED] += 1;
        if (x[i] < range[0]) range[0] = x[i];
        if (-x[i] < range[1]) range[1] = -x[i];
        int s = x[i] >= c;
        s1[P1(s, S_N)] += 1;
        double v = (x[i] - c) / h, w = gr_rd_kernel_weight(kernel, v);
        if (!(w > 0)) continue;
        s1[P1(s, S_NEFF)] += 1;
        s1[P1(s, S_W)] += w;
        s1[P1(s, S_WV)] += w * v;
        s1[P1(s, S_WVV)] += w * v * v;
        s1[P1(s, S_WY)] += w * y[i];
        s1[P1(s, S_WVY)] += w * v * y[i];
    }
    /* an MPI failure is global (or fatal under the default error handler): no agreement between the two */
    if ((st = reduce_sum(comm, s1, P1_LEN)) == GR_OK) st = reduce_min(comm, range, 2);
    GR_CALL(agree(comm, st));

    out->n_used = (int64_t)s1[G_USED];
    out->n_dropped = (int64_t)s1[G_DROPPED];
    static const char *side_name[2] = {"left of", "at or right of"};
    /* From here on every decision depends only on reduced (identical) sums: ranks agree by construction. */
    if (out->n_used == 0)
        return agree(comm, gr_fail(GR_EINPUT, where, "no observations with both outcome and running variable present"
                                                     " (%lld dropped as missing)", (long long)out->n_dropped));
    if (!(range[0] < c) || !(-range[1] >= c))
        return agree(comm, gr_fail(GR_EINPUT, where, "cutoff %g is outside the range of the running variable [%g, %g]",
                                   c, range[0], -range[1]));
    double Ginv0[2][2]; /* first row of the inverse Gram matrix of each side */
    for (int s = 0; s < 2; s++) {
        out->n_side[s] = (int64_t)s1[P1(s, S_N)];
        out->n_eff[s] = (int64_t)s1[P1(s, S_NEFF)];
        if (out->n_eff[s] < 3)
            return agree(comm, gr_fail(GR_EINPUT, where,
                                       "%lld observation(s) %s the cutoff within bandwidth %g; need at least 3",
                                       (long long)out->n_eff[s], side_name[s], h));
        double a = s1[P1(s, S_W)], b = s1[P1(s, S_WV)], d = s1[P1(s, S_WVV)];
        double det = a * d - b * b;
        if (!(det > 1e-12 * a * d))
            return agree(comm, gr_fail(GR_EINPUT, where,
                                       "the running variable takes a single value %s the cutoff within bandwidth %g",
                                       side_name[s], h));
        double ry = s1[P1(s, S_WY)], rvy = s1[P1(s, S_WVY)];
        out->intercept[s] = (d * ry - b * rvy) / det;
        out->slope[s] = (a * rvy - b * ry) / det / h; /* per unit of x */
        Ginv0[s][0] = d / det;
        Ginv0[s][1] = -b / det;
    }
    out->estimate = out->intercept[1] - out->intercept[0];

    /* pass 2: meat */
    int64_t len2 = clustered ? n_clusters * 2 * 3 : 2 * M_NSTAT;
    double *s2 = gr_calloc((size_t)(len2 > 0 ? len2 : 1), sizeof *s2);
    for (int64_t i = 0; i < n; i++) {
        if (!row_usable(y[i], x[i], cluster, i, clustered)) continue;
        int s = x[i] >= c;
        double v = (x[i] - c) / h, w = gr_rd_kernel_weight(kernel, v);
        if (!(w > 0)) continue;
        double e = y[i] - out->intercept[s] - out->slope[s] * (x[i] - c);
        if (clustered) {
            double *g = s2 + (cluster[i] * 2 + s) * 3;
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
    st = agree(comm, reduce_sum(comm, s2, len2));
    if (st != GR_OK) {
        free(s2);
        return st;
    }
    double M[2][3] = {{0}};
    if (clustered) {
        for (int64_t g = 0; g < n_clusters; g++)
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
    free(s2);
    double var = 0;
    for (int s = 0; s < 2; s++) {
        double ns = (double)out->n_eff[s], factor = 1.0;
        if (vcov == GR_RD_HC1) factor = ns / (ns - 2.0);
        if (clustered) {
            double g = (double)out->n_clusters[s];
            if (g < 2)
                return agree(comm, gr_fail(GR_EINPUT, where,
                                           "%lld cluster(s) %s the cutoff within bandwidth %g; cluster variance needs at least 2",
                                           (long long)out->n_clusters[s], side_name[s], h));
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

int gr_rd_estimate(int64_t n, const double *y, const double *x, const int64_t *cluster, int64_t n_clusters,
                   double cutoff, double h, gr_rd_kernel kernel, gr_rd_vcov vcov, const char *where,
                   gr_rd_result *out)
{
    return estimate(MPI_COMM_NULL, n, y, x, cluster, n_clusters, cutoff, h, kernel, vcov, where, out);
}

int gr_rd_estimate_mpi(MPI_Comm comm, int64_t n, const double *y, const double *x, const int64_t *cluster,
                       int64_t n_clusters, double cutoff, double h, gr_rd_kernel kernel, gr_rd_vcov vcov,
                       const char *where, gr_rd_result *out)
{
    return estimate(comm, n, y, x, cluster, n_clusters, cutoff, h, kernel, vcov, where, out);
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
