/* pairshort.c: the exact pair-level shortcut of the demeaning (pairshort.h; docs/grid.md). */
#include "pairshort.h"
#include "levels.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int64_t process_columns, process_within;

void gr_pairshort_work(int64_t *columns, int64_t *within)
{
    *columns = process_columns;
    *within = process_within;
}

struct gr_pairshort {
    MPI_Comm comm;
    int64_t n;              /* rows (= the absorber's) */
    int64_t T;              /* months, the same for every pair */
    int64_t np;             /* local pairs */
    int32_t *rowp;          /* row -> local pair (0..np) */
    const int32_t *pair;    /* row -> pair code (borrowed) */
    int64_t npair;
    int nmd;                /* month-level dimensions */
    int md[16];             /* their indices in the absorber */
    gr_fe pfe;              /* pair-level fixed effects on the local pairs (the space A) */
    int has_pfe;
};

typedef struct {
    char *label;
    double *in, *out;       /* n values each: the column, its within part (zero mean in every pair) */
} within_col;

struct gr_pairwithin {
    int64_t n;
    int nd;
    int32_t **ids;          /* copies: the pair codes, then the month-level dimensions' level ids */
    gr_absorber ab;         /* on the pair and the month-level dimensions */
    int ncols, capcols;
    within_col *cols;
};

void gr_pairwithin_free(gr_pairwithin *w)
{
    if (!w) return;
    for (int k = 0; k < w->nd; k++) free(w->ids[k]);
    free(w->ids);
    gr_absorber_free(&w->ab);
    for (int j = 0; j < w->ncols; j++) { free(w->cols[j].label); free(w->cols[j].in); free(w->cols[j].out); }
    free(w->cols);
    free(w);
}

void gr_pairshort_free(gr_pairshort *s)
{
    if (!s) return;
    free(s->rowp);
    if (s->has_pfe) gr_fe_free(&s->pfe);
    free(s);
}

/* Collective. 1 on every rank if ok is 1 on every rank. */
static int all(MPI_Comm comm, int ok)
{
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
    return ok;
}

/* Collective. Months present over all ranks: dense month of every row into dm[n]; returns their number. */
static int64_t dense_months(MPI_Comm comm, int64_t n, const int32_t *month, int64_t nmonth, int32_t *dm)
{
    unsigned char *have = gr_calloc((size_t)(nmonth ? nmonth : 1), 1);
    for (int64_t i = 0; i < n; i++) have[month[i]] = 1;
    MPI_Allreduce(MPI_IN_PLACE, have, (int)nmonth, MPI_UNSIGNED_CHAR, MPI_BOR, comm);
    int32_t *map = gr_malloc((size_t)(nmonth ? nmonth : 1), sizeof *map);
    int64_t T = 0;
    for (int64_t m = 0; m < nmonth; m++) map[m] = have[m] ? (int32_t)T++ : -1;
    for (int64_t i = 0; i < n; i++) dm[i] = map[month[i]];
    free(have);
    free(map);
    return T;
}

/* Local. Local pairs numbered in order of first row (rowp), and whether every one has each of the T
 * months exactly once. */
static int local_pairs_balanced(gr_pairshort *s, const int32_t *dm)
{
    int32_t *loc = gr_malloc((size_t)(s->npair ? s->npair : 1), sizeof *loc);
    for (int64_t c = 0; c < s->npair; c++) loc[c] = -1;
    s->np = 0;
    for (int64_t i = 0; i < s->n; i++) {
        int32_t c = s->pair[i];
        if (loc[c] < 0) loc[c] = (int32_t)s->np++;
        s->rowp[i] = loc[c];
    }
    free(loc);
    int64_t cells = s->np * s->T;
    if (cells > ((int64_t)1 << 31)) return 0;
    unsigned char *seen = gr_calloc((size_t)(cells > 0 ? cells : 1), 1);
    int ok = s->n == s->np * s->T;
    for (int64_t i = 0; i < s->n && ok; i++) {
        unsigned char *b = &seen[(int64_t)s->rowp[i] * s->T + dm[i]];
        ok = !*b;
        *b = 1;
    }
    free(seen);
    return ok;
}

/* Local. 1 if the level id of dimension `id` is the same on every row of each pair; *cp the pair's level. */
static int pair_level(const gr_pairshort *s, const int32_t *id, int32_t *cp)
{
    for (int64_t q = 0; q < s->np; q++) cp[q] = -1;
    for (int64_t i = 0; i < s->n; i++) {
        int32_t *c = &cp[s->rowp[i]];
        if (*c < 0) *c = id[i];
        else if (*c != id[i]) return 0;
    }
    return 1;
}

/* Collective. 1 if dimension `id` (L levels) is a pair-level partition crossed with the month: every level
 * lies in one month and holds, in that month, the pairs of one class of the partition given by the level
 * in the first month (*cp, per local pair), and there are (classes) x T levels. */
static int month_level(gr_pairshort *s, const int32_t *id, int64_t L, const int32_t *dm, int32_t *cp)
{
    MPI_Comm comm = s->comm;
    if (L > INT_MAX / 2) return all(comm, 0);
    for (int64_t q = 0; q < s->np; q++) cp[q] = -1;
    for (int64_t i = 0; i < s->n; i++)
        if (dm[i] == 0) cp[s->rowp[i]] = id[i];
    /* per level: min and max of its month and of its pairs' class, over all ranks */
    int32_t *lo = gr_malloc((size_t)(4 * L + 1), sizeof *lo), *hi = lo + 2 * L;
    for (int64_t l = 0; l < 2 * L; l++) { lo[l] = INT32_MAX; hi[l] = -1; }
    for (int64_t i = 0; i < s->n; i++) {
        int64_t l = id[i];
        int32_t t = dm[i], c = cp[s->rowp[i]];
        if (t < lo[2 * l]) lo[2 * l] = t;
        if (t > hi[2 * l]) hi[2 * l] = t;
        if (c < lo[2 * l + 1]) lo[2 * l + 1] = c;
        if (c > hi[2 * l + 1]) hi[2 * l + 1] = c;
    }
    MPI_Allreduce(MPI_IN_PLACE, lo, (int)(2 * L), MPI_INT32_T, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, hi, (int)(2 * L), MPI_INT32_T, MPI_MAX, comm);
    int ok = 1;
    for (int64_t l = 0; l < 2 * L && ok; l++) ok = lo[l] == hi[l];
    free(lo);
    if (!all(comm, ok)) return 0;
    unsigned char *cls = gr_calloc((size_t)(L ? L : 1), 1);
    for (int64_t q = 0; q < s->np; q++) cls[cp[q]] = 1;
    MPI_Allreduce(MPI_IN_PLACE, cls, (int)L, MPI_UNSIGNED_CHAR, MPI_BOR, comm);
    int64_t C = 0;
    for (int64_t l = 0; l < L; l++) C += cls[l];
    free(cls);
    return C * s->T == L;
}

gr_pairshort *gr_pairshort_new(const gr_absorber *ab, const int32_t *pair, int64_t npair, const int32_t *month,
                               int64_t nmonth)
{
    MPI_Comm comm = ab->comm;
    const gr_fe *fe = &ab->fe;
    int ok = pair && month && !ab->w && !ab->kept && ab->n == ab->n_in && fe->nfe >= 1 && fe->nfe <= 15 &&
             npair > 0 && nmonth > 0 && nmonth < INT_MAX && npair < INT_MAX;
    if (!all(comm, ok)) return NULL;
    if (!gr_ids_local_only(comm, ab->n, pair, npair)) return NULL;  /* a pair on two ranks */
    gr_pairshort *s = gr_calloc(1, sizeof *s);
    s->comm = comm;
    s->n = ab->n;
    s->pair = pair;
    s->npair = npair;
    s->rowp = gr_malloc((size_t)(s->n ? s->n : 1), sizeof *s->rowp);
    int32_t *dm = gr_malloc((size_t)(s->n ? s->n : 1), sizeof *dm);
    s->T = dense_months(comm, s->n, month, nmonth, dm);
    ok = all(comm, local_pairs_balanced(s, dm));
    int32_t *pcodes[16] = {0};
    int64_t pncodes[16];
    for (int k = 0; k < fe->nfe && ok; k++) {
        pcodes[k] = gr_malloc((size_t)(s->np ? s->np : 1), sizeof(int32_t));
        pncodes[k] = fe->nlevels[k];
        if (all(comm, pair_level(s, fe->id[k], pcodes[k]))) continue;
        ok = month_level(s, fe->id[k], fe->nlevels[k], dm, pcodes[k]);
        if (ok) s->md[s->nmd++] = k;
    }
    free(dm);
    if (ok) {
        ok = !gr_agree(comm, gr_fe_from_codes(comm, fe->nfe, s->np, pcodes, pncodes, fe->names, 1, &s->pfe));
        s->has_pfe = 1;
    }
    for (int k = 0; k < fe->nfe; k++) free(pcodes[k]);  /* NULL once taken */
    if (!ok) {
        gr_clear_error();
        gr_pairshort_free(s);
        return NULL;
    }
    return s;
}

/* Local. 1 if the within object w was set up on these pair codes and month-level dimensions. */
static int within_matches(const gr_pairwithin *w, const gr_pairshort *s, const gr_absorber *ab)
{
    if (!w || w->n != s->n || w->nd != 1 + s->nmd) return 0;
    if (memcmp(w->ids[0], s->pair, (size_t)s->n * sizeof(int32_t))) return 0;
    for (int m = 0; m < s->nmd; m++)
        if (memcmp(w->ids[1 + m], ab->fe.id[s->md[m]], (size_t)s->n * sizeof(int32_t))) return 0;
    return 1;
}

static int32_t *dup_ids(const int32_t *v, int64_t n)
{
    int32_t *d = gr_malloc((size_t)(n ? n : 1), sizeof *d);
    memcpy(d, v, (size_t)n * sizeof *d);
    return d;
}

/* Collective. *within set up on the pair and the month-level dimensions of ab (kept when it matches). */
static int within_get(gr_pairshort *s, const gr_absorber *ab, gr_pairwithin **within)
{
    int m = within_matches(*within, s, ab);
    if (all(s->comm, m)) return GR_OK;
    gr_pairwithin_free(*within);
    gr_pairwithin *w = *within = gr_calloc(1, sizeof *w);
    w->n = s->n;
    w->nd = 1 + s->nmd;
    w->ids = gr_calloc((size_t)w->nd, sizeof *w->ids);
    int32_t *codes[16];
    int64_t ncodes[16];
    char *names[16];
    w->ids[0] = dup_ids(s->pair, s->n);
    codes[0] = dup_ids(s->pair, s->n);
    ncodes[0] = s->npair;
    names[0] = "pair";
    for (int q = 0; q < s->nmd; q++) {
        int k = s->md[q];
        w->ids[1 + q] = dup_ids(ab->fe.id[k], s->n);
        codes[1 + q] = dup_ids(ab->fe.id[k], s->n);
        ncodes[1 + q] = ab->fe.nlevels[k];
        names[1 + q] = ab->fe.names[k];
    }
    gr_absorb_opts o = ab->o;
    o.rm_singletons = 0;
    o.method = GR_FE_CG;
    return gr_absorber_init(s->comm, s->n, w->nd, codes, ncodes, names, NULL, &o, &w->ab);
}

/* Collective. out[j] = the within parts of the columns that vary within a pair (vary[j]; others untouched):
 * taken from w when the label and values match on every rank, else the residuals on w's absorber, then
 * centred in every pair (so that they are exactly orthogonal to pair-level columns). */
static int within_parts(gr_pairshort *s, gr_pairwithin *w, gr_absorber *ab, int ncols, double *const *cols,
                        const char *const *labels, const int *vary, double **out)
{
    int *from = gr_malloc((size_t)ncols, sizeof *from), ntodo = 0, rc = GR_OK;
    for (int j = 0; j < ncols; j++) {
        from[j] = -1;
        for (int c = 0; vary[j] && c < w->ncols && from[j] < 0; c++)
            if (!strcmp(w->cols[c].label, labels[j]) && !memcmp(w->cols[c].in, cols[j], (size_t)s->n * sizeof(double)))
                from[j] = c;
    }
    int *lo = gr_malloc((size_t)ncols, sizeof *lo);
    MPI_Allreduce(from, lo, ncols, MPI_INT, MPI_MIN, s->comm);
    MPI_Allreduce(MPI_IN_PLACE, from, ncols, MPI_INT, MPI_MAX, s->comm);
    double **todo = gr_malloc((size_t)ncols, sizeof *todo);
    int *fresh = gr_calloc((size_t)ncols, sizeof *fresh), ncols0 = w->ncols;
    for (int j = 0; j < ncols; j++) {
        if (lo[j] != from[j]) from[j] = -1;
        if (!vary[j] || from[j] >= 0) continue;
        if (w->ncols == w->capcols) w->cols = gr_realloc(w->cols, (size_t)(w->capcols = 2 * w->capcols + 4), sizeof *w->cols);
        within_col *c = &w->cols[w->ncols];
        c->label = gr_strdup(labels[j]);
        c->in = gr_malloc((size_t)(s->n ? s->n : 1), sizeof(double));
        c->out = gr_malloc((size_t)(s->n ? s->n : 1), sizeof(double));
        memcpy(c->in, cols[j], (size_t)s->n * sizeof(double));
        memcpy(c->out, cols[j], (size_t)s->n * sizeof(double));
        from[j] = w->ncols++;
        fresh[j] = 1;
        todo[ntodo++] = c->out;
    }
    if (ntodo) {
        rc = gr_absorber_demean(&w->ab, ntodo, todo, NULL, NULL);
        process_within += ntodo;
        if (w->ab.iterations > ab->iterations) ab->iterations = w->ab.iterations;
        if (!w->ab.converged) ab->converged = 0;
        double *mean = gr_malloc((size_t)(s->np ? s->np : 1), sizeof *mean);
        for (int j = 0; j < ncols && !rc; j++) {
            if (!fresh[j]) continue;
            double *v = w->cols[from[j]].out;
            memset(mean, 0, (size_t)s->np * sizeof *mean);
            for (int64_t i = 0; i < s->n; i++) mean[s->rowp[i]] += v[i];
            for (int64_t q = 0; q < s->np; q++) mean[q] /= (double)s->T;
            for (int64_t i = 0; i < s->n; i++) v[i] -= mean[s->rowp[i]];
        }
        free(mean);
    }
    if (rc) {  /* a failed demeaning is not kept */
        for (int c = ncols0; c < w->ncols; c++) { free(w->cols[c].label); free(w->cols[c].in); free(w->cols[c].out); }
        w->ncols = ncols0;
    }
    for (int j = 0; j < ncols; j++) out[j] = vary[j] && !rc ? w->cols[from[j]].out : NULL;
    free(from); free(lo); free(todo); free(fresh);
    return rc;
}

int gr_pairshort_demean(gr_pairshort *s, gr_absorber *ab, gr_pairwithin **within, int ncols, double **cols,
                        const char *const *labels, double *tss, int64_t *done)
{
    if (ncols == 0) return GR_OK;
    double t0 = gr_now();
    GR_CALL(gr_absorber_tss(ab, ncols, cols, tss));
    const int64_t np = s->np, n = s->n;
    /* pair means (a pair-level column's value itself, bit for bit) and which columns vary within a pair */
    double *pb = gr_calloc((size_t)(np ? np : 1) * (size_t)ncols, sizeof *pb);
    double **pc = gr_malloc((size_t)ncols, sizeof *pc), **wp = gr_calloc((size_t)ncols, sizeof *wp);
    int *vary = gr_calloc((size_t)ncols, sizeof *vary);
    unsigned char *set = gr_malloc((size_t)(np ? np : 1), 1);
    for (int j = 0; j < ncols; j++) {
        double *m = pc[j] = pb + (size_t)j * np;
        const double *v = cols[j];
        memset(set, 0, (size_t)np);
        for (int64_t i = 0; i < n && !vary[j]; i++) {
            int32_t q = s->rowp[i];
            if (!set[q]) { m[q] = v[i]; set[q] = 1; }
            else if (m[q] != v[i]) vary[j] = 1;
        }
        if (vary[j]) {
            memset(m, 0, (size_t)np * sizeof *m);
            for (int64_t i = 0; i < n; i++) m[s->rowp[i]] += v[i];
            for (int64_t q = 0; q < np; q++) m[q] /= (double)s->T;
        }
    }
    free(set);
    MPI_Allreduce(MPI_IN_PLACE, vary, ncols, MPI_INT, MPI_MAX, s->comm);
    int any = 0;
    for (int j = 0; j < ncols; j++) any |= vary[j];
    int rc = GR_OK;
    if (any) rc = gr_agree(s->comm, within_get(s, ab, within));
    if (!rc && any) rc = gr_agree(s->comm, within_parts(s, *within, ab, ncols, cols, labels, vary, wp));
    /* the pair-level part: the pair means' residuals on the pair-level fixed effects, solved tightly */
    int iters = 0, conv = 1;
    for (int j0 = 0; j0 < ncols && !rc; j0 += 64) {
        int m = ncols - j0 < 64 ? ncols - j0 : 64, it = 0, cv = 1;
        rc = gr_agree(s->comm, gr_fe_demean(&s->pfe, m, pc + j0, 1e-10, 100000, &it, &cv));
        if (it > iters) iters = it;
        conv &= cv;
    }
    if (!rc && !conv)
        rc = gr_fail(GR_ENUM, "fixed effects", "the pair-level demeaning did not converge in 100000 iterations");
    for (int j = 0; j < ncols && !rc; j++) {
        double *v = cols[j];
        const double *m = pc[j], *w = wp[j];
        if (w) for (int64_t i = 0; i < n; i++) v[i] = m[s->rowp[i]] + w[i];
        else for (int64_t i = 0; i < n; i++) v[i] = m[s->rowp[i]];
    }
    free(pb); free(pc); free(wp); free(vary);
    if (rc) return rc;
    process_columns += ncols;
    *done += ncols;
    ab->t_demean += gr_now() - t0;
    return GR_OK;
}
