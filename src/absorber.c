/* absorber.c: the fixed-effect structure of one set of rows, set up once, demeaning columns on demand
 * (see absorber.h). Set-up: codes -> level ids (levels.c), iterative singleton removal, level weight
 * sums; demeaning: the kernels of fe.c; before demeaning, each column's centred sum of squares (for R2
 * and the check that a regressor is absorbed), combined across ranks. */
#include "absorber.h"
#include "levels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* what this process demeaned, over every absorber (gr_absorber_work) */
static int64_t process_setups, process_columns;

void gr_absorber_work(int64_t *setups, int64_t *columns)
{
    *setups = process_setups;
    *columns = process_columns;
}

void gr_absorber_compact(const gr_absorber *ab, double *v)
{
    if (ab->kept) gr_rowsel_apply(&ab->sel, v, v, sizeof *v);
}

void gr_absorber_compact_i32(const gr_absorber *ab, int32_t *v)
{
    if (ab->kept) gr_rowsel_apply(&ab->sel, v, v, sizeof *v);
}

/* One round of singleton removal on the current structure: marks the rows to drop in keep (n rows of
 * the structure), compacts the level ids and weights to the rows kept and rebuilds the structure from
 * them. *removed gets the rows removed over all ranks (0: nothing changed). */
static int drop_singletons_once(gr_absorber *ab, unsigned char *keep, int64_t *removed)
{
    gr_fe *fe = &ab->fe;
    int64_t n = fe->n;
    memset(keep, 1, (size_t)n);
    GR_CALL(gr_fe_singletons(fe, keep, removed));
    if (*removed == 0) return GR_OK;
    int nfe = fe->nfe;
    gr_rowsel sel;
    gr_rowsel_init(&sel, n, keep);
    int32_t *ids[16];
    int64_t nl[16];
    char *names[16];
    for (int k = 0; k < nfe; k++) {
        ids[k] = fe->id[k];
        fe->id[k] = NULL;  /* the compacted ids become the codes of the rebuilt structure */
        nl[k] = fe->nlevels[k];
        names[k] = gr_strdup(fe->names[k]);
        gr_rowsel_apply(&sel, ids[k], ids[k], sizeof(int32_t));
    }
    if (ab->w) gr_rowsel_apply(&sel, ab->w, ab->w, sizeof *ab->w);
    int64_t m = sel.m;
    gr_rowsel_free(&sel);
    gr_fe_free(fe);
    int rc = gr_fe_from_codes(ab->comm, nfe, m, ids, nl, names, 1, fe);
    for (int k = 0; k < nfe; k++) { free(ids[k]); free(names[k]); }  /* ids[k] is NULL once taken */
    return rc;
}

/* Remove singletons until none is left, recording in ab->kept which input rows survive. */
static int remove_singletons(gr_absorber *ab)
{
    unsigned char *keep = gr_malloc((size_t)(ab->n_in ? ab->n_in : 1), 1);
    int rc = GR_OK;
    for (;;) {
        int64_t removed = 0;
        rc = gr_agree(ab->comm, drop_singletons_once(ab, keep, &removed));
        if (rc || removed == 0) break;
        ab->n_singletons += removed;
        if (!ab->kept) {
            ab->kept = gr_malloc((size_t)(ab->n_in ? ab->n_in : 1), 1);
            memcpy(ab->kept, keep, (size_t)ab->n_in);
        } else {  /* keep[] is over the rows kept so far: fold it into the input rows' flags */
            int64_t q = 0;
            for (int64_t i = 0; i < ab->n_in; i++)
                if (ab->kept[i]) ab->kept[i] = keep[q++];
        }
    }
    free(keep);
    if (ab->kept) gr_rowsel_init(&ab->sel, ab->n_in, ab->kept);  /* how later columns drop the same rows */
    return rc;
}

int gr_absorber_init(MPI_Comm comm, int64_t n, int nfe, int32_t **codes, const int64_t *ncodes,
                     char *const *names, double **w, const gr_absorb_opts *o, gr_absorber *ab)
{
    return gr_absorber_init_pre(comm, n, nfe, codes, ncodes, names, w, o, NULL, ab);
}

int gr_absorber_init_pre(MPI_Comm comm, int64_t n, int nfe, int32_t **codes, const int64_t *ncodes,
                         char *const *names, double **w, const gr_absorb_opts *o, const gr_fe_levels *pre,
                         gr_absorber *ab)
{
    memset(ab, 0, sizeof *ab);
    double t0 = gr_now();
    ab->comm = comm;
    ab->n_in = n;
    ab->o = *o;
    ab->w = w ? *w : NULL;
    if (w) *w = NULL;
    ab->setups = 1;
    process_setups++;
    ab->converged = 1;
    if (nfe > 16) return gr_fail(GR_EINPUT, "formula", "at most 16 fixed-effect dimensions, got %d", nfe);
    int rc = gr_agree(comm, gr_fe_from_codes_pre(comm, nfe, n, codes, ncodes, names, 1, pre, &ab->fe));
    ab->fe.method = o->method;
    if (!rc && o->rm_singletons && nfe > 0) rc = remove_singletons(ab);
    ab->fe.method = o->method;
    ab->n = ab->fe.n;
    if (!rc && ab->w) rc = gr_agree(comm, gr_fe_set_weights(&ab->fe, ab->w));
    ab->nobs = ab->n;
    MPI_Allreduce(MPI_IN_PLACE, &ab->nobs, 1, MPI_INT64_T, MPI_SUM, comm);
    ab->t_setup = gr_now() - t0;
    return rc;
}

/* Local (weighted) count, mean and sum of squares about the mean of v[0..n). Unweighted: one pass about
 * a shift K (the mean of the first values, so no cancellation to speak of), four running sums so the
 * loop is not one chain of dependent additions. Weighted: two passes. */
static void local_moments(int64_t n, const double *v, const double *w, double out[3])
{
    out[0] = out[1] = out[2] = 0;
    if (n == 0) return;
    if (w) {
        double sw = 0, swv = 0, m2 = 0;
        for (int64_t i = 0; i < n; i++) { sw += w[i]; swv += w[i] * v[i]; }
        double mean = swv / sw;
        for (int64_t i = 0; i < n; i++) m2 += w[i] * (v[i] - mean) * (v[i] - mean);
        out[0] = sw; out[1] = mean; out[2] = m2;
        return;
    }
    int64_t h = n < 64 ? n : 64;
    double K = 0;
    for (int64_t i = 0; i < h; i++) K += v[i];
    K /= (double)h;
    double s1[4] = {0, 0, 0, 0}, s2[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int q = 0; q < 4; q++) {
            double d = v[i + q] - K;
            s1[q] += d;
            s2[q] += d * d;
        }
    for (; i < n; i++) { double d = v[i] - K; s1[0] += d; s2[0] += d * d; }
    double S1 = (s1[0] + s1[1]) + (s1[2] + s1[3]), S2 = (s2[0] + s2[1]) + (s2[2] + s2[3]);
    out[0] = (double)n;
    out[1] = K + S1 / (double)n;
    out[2] = S2 - S1 * S1 / (double)n;
    if (out[2] < 0) out[2] = 0;
}

/* Collective. tss[j]: centred (weighted) sum of squares of cols[j] over all ranks, each rank's
 * (weight, mean, sum of squares) combined as Chan, Golub & LeVeque do; columns with have[j] are skipped
 * (have may be NULL). */
static int column_tss(const gr_absorber *ab, int ncols, double *const *cols, double *tss, const unsigned char *have)
{
    if (have) {  /* only the columns still to do, in their order */
        double **c = gr_malloc((size_t)(ncols ? ncols : 1), sizeof *c), *t = gr_malloc((size_t)(ncols ? ncols : 1), sizeof *t);
        int m = 0;
        for (int j = 0; j < ncols; j++) if (!have[j]) c[m++] = cols[j];
        int rc = m ? column_tss(ab, m, c, t, NULL) : GR_OK;
        for (int j = 0, q = 0; j < ncols && !rc; j++) if (!have[j]) tss[j] = t[q++];
        free(c);
        free(t);
        return rc;
    }
    int P, cnt;
    MPI_Comm_size(ab->comm, &P);
    GR_CALL(gr_int_count(3 * (int64_t)ncols, "column moments", &cnt));
    double *loc = gr_malloc((size_t)cnt, sizeof *loc), *all = gr_malloc((size_t)cnt * (size_t)P, sizeof *all);
    for (int j = 0; j < ncols; j++) local_moments(ab->n, cols[j], ab->w, loc + 3 * j);
    MPI_Allgather(loc, cnt, MPI_DOUBLE, all, cnt, MPI_DOUBLE, ab->comm);
    for (int j = 0; j < ncols; j++) {
        double sw = 0, sum = 0, m2 = 0;
        for (int r = 0; r < P; r++) {
            const double *q = all + (size_t)r * cnt + 3 * j;
            sw += q[0];
            sum += q[0] * q[1];
        }
        double mean = ab->w ? sum / sw : sum / (double)ab->nobs;
        for (int r = 0; r < P; r++) {
            const double *q = all + (size_t)r * cnt + 3 * j;
            m2 += q[2] + q[0] * (q[1] - mean) * (q[1] - mean);
        }
        tss[j] = m2;
    }
    free(loc); free(all);
    return GR_OK;
}

static int demean(gr_absorber *ab, int ncols, double **cols, double *tss, const unsigned char *have, double **alpha);

int gr_absorber_tss(const gr_absorber *ab, int ncols, double **cols, double *tss)
{
    for (int j = 0; j < ncols; j++) gr_absorber_compact(ab, cols[j]);
    return gr_agree(ab->comm, tss ? column_tss(ab, ncols, cols, tss, NULL) : GR_OK);
}

int gr_absorber_demean(gr_absorber *ab, int ncols, double **cols, double *tss, double **alpha)
{
    return demean(ab, ncols, cols, tss, NULL, alpha);
}

int gr_absorber_demean_have(gr_absorber *ab, int ncols, double **cols, double *tss, const unsigned char *have)
{
    return demean(ab, ncols, cols, tss, have, NULL);
}

static int demean(gr_absorber *ab, int ncols, double **cols, double *tss, const unsigned char *have, double **alpha)
{
    for (int j = 0; j < ncols; j++) gr_absorber_compact(ab, cols[j]);
    int rc = tss ? column_tss(ab, ncols, cols, tss, have) : GR_OK;
    rc = gr_agree(ab->comm, rc);
    if (rc || ab->fe.nfe == 0 || ncols == 0) return rc;
    double t0 = gr_now();
    int iters = 0, conv = 1;
    gr_fe_prepare(&ab->fe);  /* the row segments once per structure: later demeanings (probes, CR2) reuse them */
    rc = gr_fe_demean_coef(&ab->fe, ncols, cols, alpha, ab->o.tol, ab->o.maxiter, &iters, &conv);
    rc = gr_agree(ab->comm, rc);
    ab->t_demean += gr_now() - t0;
    ab->columns_demeaned += ncols;
    process_columns += ncols;
    if (iters > ab->iterations) ab->iterations = iters;
    if (!conv) ab->converged = 0;
    return rc;
}

int gr_absorber_demean_into(gr_absorber *ab, int ncols, const double *const *cols, double **outs, double tol,
                            double **alpha, int *iters)
{
    double t0 = gr_now();
    int conv = 1;
    *iters = 0;
    gr_fe_prepare(&ab->fe);
    int rc = gr_agree(ab->comm, gr_fe_demean_into(&ab->fe, ncols, cols, outs, alpha, tol, ab->o.maxiter, iters, &conv));
    ab->t_demean += gr_now() - t0;
    if (ab->fe.nfe > 0 && ncols > 0) {  /* without fixed effects: a copy, not counted (as gr_absorber_demean) */
        ab->columns_demeaned += ncols;
        process_columns += ncols;
    }
    if (*iters > ab->iterations) ab->iterations = *iters;
    if (!conv) ab->converged = 0;
    return rc;
}

void gr_absorber_store(gr_absorber *ab, const char *key, const double *v, double tss)
{
    gr_absorbed *e = NULL;
    for (int i = 0; i < ab->ncache && !e; i++)
        if (!strcmp(ab->cache[i].key, key)) e = &ab->cache[i];
    if (!e) {
        if (ab->ncache == ab->capcache)
            ab->cache = gr_realloc(ab->cache, (size_t)(ab->capcache = ab->capcache ? 2 * ab->capcache : 8),
                                   sizeof *ab->cache);
        e = &ab->cache[ab->ncache++];
        e->key = gr_strdup(key);
        e->v = gr_malloc((size_t)(ab->n ? ab->n : 1), sizeof *e->v);
    }
    memcpy(e->v, v, (size_t)ab->n * sizeof *v);
    e->tss = tss;
}

const double *gr_absorber_lookup(gr_absorber *ab, const char *key, double *tss)
{
    for (int i = 0; i < ab->ncache; i++)
        if (!strcmp(ab->cache[i].key, key)) {
            ab->cache_hits++;
            if (tss) *tss = ab->cache[i].tss;
            return ab->cache[i].v;
        }
    return NULL;
}

int gr_absorber_nested_in(const gr_absorber *ab, const int32_t *cl, int64_t G, int *nested)
{
    return gr_fe_nested_in(&ab->fe, cl, G, nested);
}

int64_t gr_absorber_dof(const gr_absorber *ab, const int *nested)
{
    if (ab->fe.nfe == 0) return 0;
    int64_t K = 0;
    int counted = 0;
    for (int k = 0; k < ab->fe.nfe; k++) {
        if (nested && nested[k]) continue;
        K += ab->fe.nlevels[k] - (counted ? 1 : 0);
        counted++;
    }
    return K > 0 ? K : 1;  /* all nested: the constant they absorb still counts */
}

void gr_absorber_free(gr_absorber *ab)
{
    gr_fe_free(&ab->fe);
    free(ab->kept);
    gr_rowsel_free(&ab->sel);
    free(ab->w);
    for (int i = 0; i < ab->ncache; i++) { free(ab->cache[i].key); free(ab->cache[i].v); }
    free(ab->cache);
    memset(ab, 0, sizeof *ab);
}
