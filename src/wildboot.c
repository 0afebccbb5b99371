/* wildboot.c: the wild cluster restricted bootstrap (see wildboot.h, docs/bootstrap.md).
 *
 * For H0: beta_j = b, with delta = beta^_j - b, A = (X'X)^-1, a = A e_j and c = a / A_jj:
 *   restricted coefficients  beta_r = beta^ - delta c,   restricted residuals u_r = e + delta X c
 *   bootstrap outcome        y* = X beta_r + v_g u_r      (v_g: one weight per cluster)
 *   beta* - beta_r = A sum_g v_g X_g'u_r,  X_g'u_r = s_g + delta H_g c   (s_g = X_g'e, H_g = X_g'X_g)
 *   score of j in cluster g  z_g = v_g a'X_g'u_r - (H_g a)'(beta* - beta_r) = alpha_g + delta beta_g
 *   t*(delta) = (beta*_j - b) / sqrt(f sum_g z_g^2),  f = G/(G-1) (N-1)/(N-K)
 * so each draw keeps five numbers (the numerator's two coefficients and the three sums of squares of the
 * quadratic in delta) and p(b) costs O(1) per draw: the interval's root finding never touches the rows. */
#include "wildboot.h"
#include "formula.h"
#include "simulate.h"
#include "cleanup.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOOT_STREAM 0xB0075EEDULL   /* hash stream of the bootstrap weights (simulate.h's counter hash) */
#define TIE_FUZZ 1e-10              /* |t*| >= |t| (1 - TIE_FUZZ) counts as at least as extreme */
#define CI_TOL 1e-10                /* bisection stops when the bracket is below CI_TOL x the standard error */
#define CI_MAX_DOUBLINGS 60

static const double webb_values[6] = {-1.224744871391589, -1.0, -0.7071067811865476,
                                      0.7071067811865476, 1.0, 1.224744871391589};

const char *gr_boot_weights_name(int weights) { return weights == GR_BOOT_WEBB ? "webb" : "rademacher"; }

/* The draws of one bootstrap: how many, and whether they enumerate every weight vector. */
typedef struct {
    int64_t D, G;
    int enumerated, weights;
    uint64_t seed;
} draw_plan;

/* Full enumeration when every vector fits in B draws: 2^G Rademacher (boottest's rule), 6^G Webb. */
static draw_plan plan_draws(const gr_boot_opts *o, int64_t G)
{
    draw_plan p = {.D = o->B, .G = G, .weights = o->weights, .seed = (uint64_t)o->seed};
    int64_t base = o->weights == GR_BOOT_WEBB ? 6 : 2, all = 1;
    for (int64_t g = 0; g < G && all <= o->B; g++) all *= base;  /* stops before overflowing */
    if (all <= o->B) { p.D = all; p.enumerated = 1; }
    return p;
}

/* The weights v[0..G) of draw d. Enumerated: digit g of d in base 2 (bit set: -1) or 6 (Webb's values in
 * increasing order); otherwise a hash of (seed, d, g). */
static void draw_weights(const draw_plan *p, int64_t d, double *v)
{
    uint64_t rest = (uint64_t)d;
    for (int64_t g = 0; g < p->G; g++) {
        if (p->enumerated && p->weights == GR_BOOT_RADEMACHER) { v[g] = (rest & 1) ? -1.0 : 1.0; rest >>= 1; continue; }
        if (p->enumerated) { v[g] = webb_values[rest % 6]; rest /= 6; continue; }
        uint64_t h = gr_sim_hash(p->seed, BOOT_STREAM, (uint64_t)d, (uint64_t)g);
        if (p->weights == GR_BOOT_RADEMACHER) v[g] = (h >> 63) ? -1.0 : 1.0;
        else v[g] = webb_values[(int)((double)(h >> 11) * 0x1.0p-53 * 6.0)];
    }
}

/* Collective. Per cluster g: s_g = X_g'e (k) then H_g = X_g'X_g (k x k), stride k + k*k, summed over the
 * ranks (a cluster may span ranks). */
static int cluster_sums(MPI_Comm comm, int64_t n, int k, const double *X, const double *e, const int32_t *cl,
                        int64_t G, double **out)
{
    int64_t stride = k + (int64_t)k * k;
    double *S = gr_calloc((size_t)(G * stride), sizeof *S);
    for (int64_t i = 0; i < n; i++) {
        double *s = S + cl[i] * stride, *H = s + k;
        for (int a = 0; a < k; a++) {
            double xa = X[i + (size_t)a * n];
            s[a] += xa * e[i];
            for (int b = 0; b <= a; b++) H[a + b * k] += xa * X[i + (size_t)b * n];
        }
    }
    for (int64_t off = 0, len = G * stride; off < len; off += INT_MAX) {
        int m = (int)(len - off < INT_MAX ? len - off : INT_MAX);  /* at most INT_MAX by the test */
        MPI_Allreduce(MPI_IN_PLACE, S + off, m, MPI_DOUBLE, MPI_SUM, comm);
    }
    for (int64_t g = 0; g < G; g++) {
        double *H = S + g * stride + k;
        for (int a = 0; a < k; a++)
            for (int b = a + 1; b < k; b++) H[a + b * k] = H[b + a * k];
    }
    *out = S;
    return GR_OK;
}

/* What the draws of one tested coefficient need per cluster: pe_g = a's_g, ph_g = (H_g a)'c, q_g = H_g a,
 * hc_g = H_g c. */
typedef struct {
    int k, j;
    int64_t G;
    const double *A;            /* (X'X)^-1 */
    double *pe, *ph, *q, *hc;   /* G, G, G x k, G x k */
    double se_raw;              /* sqrt(sum_g pe_g^2): the unscaled CR1 standard error of beta_j */
} term_sums;

static void term_prepare(const double *S, int k, int64_t G, const double *A, int j, term_sums *t)
{
    int64_t stride = k + (int64_t)k * k;
    const double *a = A + (size_t)j * k;
    double Ajj = a[j], ss = 0;
    t->k = k; t->j = j; t->G = G; t->A = A;
    t->pe = gr_malloc((size_t)G, sizeof *t->pe);
    t->ph = gr_malloc((size_t)G, sizeof *t->ph);
    t->q = gr_malloc((size_t)(G * k), sizeof *t->q);
    t->hc = gr_malloc((size_t)(G * k), sizeof *t->hc);
    for (int64_t g = 0; g < G; g++) {
        const double *s = S + g * stride, *H = s + k;
        double pe = 0, ph = 0;
        for (int r = 0; r < k; r++) {
            double q = 0;
            for (int l = 0; l < k; l++) q += H[r + l * k] * a[l];
            t->q[g * k + r] = q;
            t->hc[g * k + r] = q / Ajj;
            pe += a[r] * s[r];
            ph += q * a[r] / Ajj;
        }
        t->pe[g] = pe;
        t->ph[g] = ph;
        ss += pe * pe;
    }
    t->se_raw = sqrt(ss);
}

static void term_free(term_sums *t) { free(t->pe); free(t->ph); free(t->q); free(t->hc); }

/* The five numbers of draw v: nE, nF (t*'s numerator nE + delta nF), Saa, Sab, Sbb. The draw is taken as
 * m 1 + (v - m 1), m = v_0: the constant part's terms are worked out rather than summed, since their sums
 * vanish or simplify in exact arithmetic (X'e = 0: A sum_g s_g = 0; A sum_g hc_g = A X'X c = c, with c_j = 1,
 * and q_g'c = ph_g, so its share of be_g is 0). A draw of equal weights (all 1, all -1: it reproduces the
 * sample) then gets nE = 0, nF = m, Sab = Sbb = 0 exactly, so t* = t however far delta goes; summed, the
 * rounding of those cancellations (about eps times the condition number of X'X) bent t* away from t far from
 * the estimate, made an unbounded interval look bounded, and moved ties in and out of the p-value with the
 * number of ranks. */
static void draw_stats(const term_sums *t, const double *S, const double *v, double *work, double *out)
{
    int k = t->k;
    int64_t G = t->G, stride = k + (int64_t)k * k;
    double *E = work, *F = work + k, *dE = work + 2 * k, *dF = work + 3 * k, m = G > 0 ? v[0] : 0;
    for (int r = 0; r < 2 * k; r++) E[r] = 0;
    for (int64_t g = 0; g < G; g++) {
        double u = v[g] - m;
        if (u == 0) continue;
        for (int r = 0; r < k; r++) {
            E[r] += u * S[g * stride + r];
            F[r] += u * t->hc[g * k + r];
        }
    }
    for (int r = 0; r < k; r++) {
        double x = 0, y = 0;
        for (int l = 0; l < k; l++) { x += t->A[r + l * k] * E[l]; y += t->A[r + l * k] * F[l]; }
        dE[r] = x; dF[r] = y;
    }
    double saa = 0, sab = 0, sbb = 0;
    for (int64_t g = 0; g < G; g++) {
        double qe = 0, qf = 0;
        for (int r = 0; r < k; r++) { qe += t->q[g * k + r] * dE[r]; qf += t->q[g * k + r] * dF[r]; }
        double al = v[g] * t->pe[g] - qe, be = (v[g] - m) * t->ph[g] - qf;
        saa += al * al; sab += al * be; sbb += be * be;
    }
    out[0] = dE[t->j]; out[1] = dF[t->j] + m; out[2] = saa; out[3] = sab; out[4] = sbb;
}

/* t*(delta) of a draw's five numbers, with the CR1 factor f; a zero denominator gives 0 or +-inf. */
static double tstar(const double *s, double delta, double f)
{
    double num = s[0] + delta * s[1], den2 = f * (s[2] + delta * (2 * s[3] + delta * s[4]));
    if (!(den2 > 0)) return num == 0 ? 0 : num > 0 ? INFINITY : -INFINITY;
    return num / sqrt(den2);
}

/* The bootstrap of one coefficient: D draws of five numbers, replicated; t = delta / se. */
typedef struct {
    int64_t D;
    double *st;     /* D x 5 */
    double f, se;
} term_boot;

/* Symmetric p-value of H0 at delta = beta^_j - b: share of draws with |t*| >= |t| (ties by TIE_FUZZ);
 * *p_et (if not NULL) the equal-tail p-value 2 min(share t* <= t, share t* >= t), at most 1. */
static double pvalue(const term_boot *tb, double delta, double *p_et)
{
    double t = delta / tb->se, at = fabs(t) * (1 - TIE_FUZZ), fz = TIE_FUZZ * fabs(t);
    int64_t sym = 0, lo = 0, hi = 0;
    for (int64_t d = 0; d < tb->D; d++) {
        double ts = tstar(tb->st + 5 * d, delta, tb->f);
        sym += fabs(ts) >= at;
        lo += ts <= t + fz;
        hi += ts >= t - fz;
    }
    if (p_et) {
        double m = 2.0 * (double)(lo < hi ? lo : hi) / (double)tb->D;
        *p_et = m < 1 ? m : 1;
    }
    return (double)sym / (double)tb->D;
}

/* The p-value's limit as |delta| grows: the share of draws whose |t*| keeps up with |t| = |delta| / se, those
 * whose variance does not move with delta (Sab = Sbb = 0) and whose |t*| / |t| tends to at least 1 - TIE_FUZZ
 * (se |nF| against sqrt(f Saa); Saa = 0: infinite). Above alpha, that end of the interval is unbounded. */
static double p_at_infinity(const term_boot *tb)
{
    int64_t c = 0;
    for (int64_t d = 0; d < tb->D; d++) {
        const double *s = tb->st + 5 * d;
        if (s[3] != 0 || s[4] != 0 || s[1] == 0) continue;
        c += !(s[2] > 0) || tb->se * fabs(s[1]) >= sqrt(tb->f * s[2]) * (1 - TIE_FUZZ);
    }
    return (double)c / (double)tb->D;
}

/* One end of the interval by test inversion: delta from 0 (p = 1) in direction dir (+1: lower bound of b,
 * -1: upper), doubling a step of one standard error until p <= alpha, then bisection to CI_TOL x se.
 * Returns the delta of the crossing, or NaN when p stays above alpha (an unbounded interval). */
static double invert(const term_boot *tb, double alpha, int dir)
{
    if (p_at_infinity(tb) > alpha) return NAN;  /* no crossing however far: unbounded */
    double in = 0, out = tb->se * dir;
    int m = 0;
    while (pvalue(tb, out, NULL) > alpha) {
        if (++m > CI_MAX_DOUBLINGS) return NAN;
        in = out;
        out *= 2;
    }
    for (int it = 0; it < 400 && fabs(out - in) > CI_TOL * tb->se; it++) {
        double mid = 0.5 * (in + out);
        if (pvalue(tb, mid, NULL) > alpha) in = mid; else out = mid;
    }
    return 0.5 * (in + out);
}

/* Local (rank 0). GRAVRD_BOOT_DUMP=FILE (tests): the draws of one term at H0: beta_j = 0, one line each:
 * t* then the weights of the draw; a first comment line with the term, G, the draws and t. */
static int dump_draws(const char *path, const char *term, const draw_plan *p, const term_boot *tb, double delta)
{
    gr_outfile of;
    GR_CALL(gr_outfile_open(&of, path));
    double *v = gr_malloc((size_t)p->G, sizeof *v);
    fprintf(of.f, "# term=%s G=%lld draws=%lld t=%.17g\n", term, (long long)p->G, (long long)p->D, delta / tb->se);
    for (int64_t d = 0; d < p->D; d++) {
        draw_weights(p, d, v);
        fprintf(of.f, "%.17g", tstar(tb->st + 5 * d, delta, tb->f));
        for (int64_t g = 0; g < p->G; g++) fprintf(of.f, " %.17g", v[g]);
        fputc('\n', of.f);
    }
    free(v);
    return gr_outfile_close(&of, 1);
}

/* Collective. Run the draws of term j (this rank's share: d = rank, rank + P, ...) and share them. */
static void run_draws(MPI_Comm comm, const draw_plan *p, const term_sums *ts, const double *S, term_boot *tb)
{
    int rank, P;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &P);
    tb->D = p->D;
    tb->st = gr_calloc((size_t)(5 * p->D), sizeof *tb->st);
    double *v = gr_malloc((size_t)p->G, sizeof *v), *work = gr_malloc((size_t)(4 * ts->k), sizeof *work);
    for (int64_t d = rank; d < p->D; d += P) {
        draw_weights(p, d, v);
        draw_stats(ts, S, v, work, tb->st + 5 * d);
    }
    free(v); free(work);
    /* each draw has one owner and zeros elsewhere: the sums are exact, the same on every rank count */
    for (int64_t off = 0, len = 5 * p->D; off < len; off += INT_MAX) {
        int m = (int)(len - off < INT_MAX ? len - off : INT_MAX);  /* at most INT_MAX by the test */
        MPI_Allreduce(MPI_IN_PLACE, tb->st + off, m, MPI_DOUBLE, MPI_SUM, comm);
    }
}

/* Which terms to test: all, or the one named o->term (GR_EINPUT if it is not among r's terms). */
static int pick_terms(const gr_boot_opts *o, const gr_result *r, int *test)
{
    int found = 0;
    for (int j = 0; j < r->k; j++) {
        test[j] = !o->term || gr_formula_term_is(o->term, r->terms[j]);
        found += test[j];
    }
    if (!found)
        return gr_fail(GR_EINPUT, "--boot-term", "'%s' is not an estimated regressor of %s (dropped, or not in the "
                       "formula)", o->term, r->sample_label ? r->sample_label : "the model");
    return GR_OK;
}

int gr_boot_check(const gr_boot_opts *o, const char *where, gr_vcov_type vcov, int ncl, int cluster_on_fe, int poisson)
{
    if (o->B == 0) return GR_OK;
    if (o->B < 0) return gr_fail(GR_EUSAGE, where, "expected a number of draws >= 0, got %lld", (long long)o->B);
    if (poisson)
        return gr_fail(GR_EUSAGE, where, "the wild cluster bootstrap is for least squares only (not --family poisson)");
    if (vcov != GR_VCOV_CLUSTER || (ncl == 0 && !cluster_on_fe))
        return gr_fail(GR_EUSAGE, where, "the wild cluster bootstrap needs one-way clustered standard errors (give "
                       "--cluster COL; the variance here is %s)", vcov == GR_VCOV_IID ? "iid" : "hc1");
    if (ncl > 1)
        return gr_fail(GR_EUSAGE, where, "the wild cluster bootstrap is one-way: give one cluster variable, not %d", ncl);
    if (!(o->level > 0 && o->level < 1))
        return gr_fail(GR_EUSAGE, where, "the interval level must lie strictly between 0 and 1, got %g", o->level);
    return GR_OK;
}

int gr_wildboot(MPI_Comm comm, const gr_boot_opts *o, const gr_vcov_spec *vs, int64_t n, int64_t nobs, int k,
                const double *X, const double *e, const double *beta, const double *Binv, int64_t K, gr_result *r)
{
    double t0 = gr_now();
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (vs->type != GR_VCOV_CLUSTER || vs->ncluster != 1)
        return gr_fail(GR_EINPUT, "--boot", "the wild cluster bootstrap needs one-way clustered standard errors "
                       "(give --cluster COL, one variable; the variance here is %s)",
                       vs->type != GR_VCOV_CLUSTER ? (vs->type == GR_VCOV_IID ? "iid" : "hc1") : "two-way clustered");
    int64_t G = vs->G[0];
    if (G < 2)
        return gr_fail(GR_EINPUT, "--boot", "the wild cluster bootstrap needs at least 2 clusters (found %lld)",
                       (long long)G);
    if ((double)G * (k + (double)k * k) > 1e9)
        return gr_fail(GR_EINPUT, "--boot", "%lld clusters x %d regressors: the per-cluster sums would take more than "
                       "8 GB", (long long)G, k);
    int *test = gr_malloc((size_t)(k ? k : 1), sizeof *test);
    int rc = pick_terms(o, r, test);
    if (rc) { free(test); return rc; }
    double *S = NULL;
    GR_CALL(cluster_sums(comm, n, k, X, e, vs->cl[0], G, &S));
    draw_plan p = plan_draws(o, G);
    double N = (double)nobs, f = ((double)G / (double)(G - 1)) * (N - 1) / (N - (double)K);
    double alpha = 1 - o->level;
    r->boot_p = gr_malloc((size_t)(k ? k : 1), sizeof(double));
    r->boot_p_et = gr_malloc((size_t)(k ? k : 1), sizeof(double));
    r->boot_lo = gr_malloc((size_t)(k ? k : 1), sizeof(double));
    r->boot_hi = gr_malloc((size_t)(k ? k : 1), sizeof(double));
    const char *dump = getenv("GRAVRD_BOOT_DUMP");
    int dumped = 0;
    for (int j = 0; j < k; j++) {
        r->boot_p[j] = r->boot_p_et[j] = r->boot_lo[j] = r->boot_hi[j] = NAN;
        if (!test[j]) continue;
        term_sums ts;
        term_prepare(S, k, G, Binv, j, &ts);
        term_boot tb = {.f = f, .se = sqrt(f) * ts.se_raw};
        run_draws(comm, &p, &ts, S, &tb);
        if (tb.se > 0) {
            r->boot_p[j] = pvalue(&tb, beta[j], &r->boot_p_et[j]);
            double dlo = invert(&tb, alpha, +1), dhi = invert(&tb, alpha, -1);
            r->boot_lo[j] = beta[j] - dlo;
            r->boot_hi[j] = beta[j] - dhi;
            if ((isnan(dlo) || isnan(dhi)) && rank == 0)
                gr_warn("%s: the wild bootstrap interval of '%s' is unbounded%s (p-value above %g however far from "
                        "the estimate; few clusters)", r->sample_label ? r->sample_label : "sample", r->terms[j],
                        isnan(dlo) && isnan(dhi) ? "" : isnan(dlo) ? " below" : " above", alpha);
        }
        if (dump && !dumped && rank == 0 && tb.se > 0) rc = dump_draws(dump, r->terms[j], &p, &tb, beta[j]);
        dumped = 1;
        free(tb.st);
        term_free(&ts);
        if (rc) break;
    }
    free(S); free(test);
    r->boot_draws = p.D;
    r->boot_enumerated = p.enumerated;
    r->boot_weights = gr_boot_weights_name(p.weights);
    r->boot_seed = o->seed;
    r->boot_level = o->level;
    r->t_boot = gr_now() - t0;
    return rc;
}
