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

/* The sample's rows as pairs: balanced and stored pair by pair, local pair q holds rows [qT, qT + T). */
struct gr_pairpanel {
    MPI_Comm comm;
    int64_t n, npair;
    const int32_t *pair;    /* borrowed */
    int ok;                 /* balanced, pairs contiguous and on one rank each (the same on every rank) */
    int64_t T, np;          /* months; local pairs */
    int32_t *dm;            /* dense month of every row */
    int nd;                 /* dimensions analysed so far (a cache: the bandwidths of a sample share two) */
    struct { int32_t *ids, *cp; int64_t L; int kind; } d[8];
};

struct gr_pairshort {
    MPI_Comm comm;
    int64_t n, T, np, npair;
    const int32_t *pair;
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
    int32_t **ids;          /* copies of the month-level dimensions' level ids */
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
    if (s->has_pfe) gr_fe_free(&s->pfe);
    free(s);
}

void gr_pairpanel_free(gr_pairpanel *pp)
{
    if (!pp) return;
    free(pp->dm);
    for (int k = 0; k < pp->nd; k++) { free(pp->d[k].ids); free(pp->d[k].cp); }
    free(pp);
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

/* Local. 1 if the rows are blocks of T rows, one block per pair (no pair in two blocks), each block holding
 * every month once. */
static int blocks_balanced(const gr_pairpanel *pp)
{
    const int64_t T = pp->T, n = pp->n;
    if (T <= 0 || n % T) return 0;
    unsigned char *seen = gr_calloc((size_t)pp->npair, 1);
    int64_t *stamp = gr_calloc((size_t)T, sizeof *stamp);
    int ok = 1;
    for (int64_t b = 0; b < n / T && ok; b++) {
        const int32_t *pr = pp->pair + b * T, *m = pp->dm + b * T;
        ok = !seen[pr[0]];
        seen[pr[0]] = 1;
        for (int64_t t = 0; t < T && ok; t++) {
            ok = pr[t] == pr[0] && stamp[m[t]] != b + 1;
            stamp[m[t]] = b + 1;
        }
    }
    free(seen);
    free(stamp);
    return ok;
}

gr_pairpanel *gr_pairpanel_new(MPI_Comm comm, int64_t n, const int32_t *pair, int64_t npair, const int32_t *month,
                               int64_t nmonth)
{
    gr_pairpanel *pp = gr_calloc(1, sizeof *pp);
    pp->comm = comm;
    pp->n = n;
    pp->pair = pair;
    pp->npair = npair;
    pp->ok = all(comm, npair > 0 && nmonth > 0 && nmonth < INT_MAX && npair < INT_MAX) &&
             gr_ids_local_only(comm, n, pair, npair);  /* a pair on two ranks: no */
    if (!pp->ok) return pp;
    pp->dm = gr_malloc((size_t)(n ? n : 1), sizeof *pp->dm);
    pp->T = dense_months(comm, n, month, nmonth, pp->dm);
    pp->ok = all(comm, blocks_balanced(pp));
    pp->np = pp->T > 0 ? n / pp->T : 0;
    return pp;
}

/* Local. 1 if the level id is the same on every row of each pair; cp[q] the level of pair q. */
static int pair_level(const gr_pairpanel *pp, const int32_t *id, int32_t *cp)
{
    const int64_t T = pp->T;
    int ok = 1;
    for (int64_t q = 0; q < pp->np && ok; q++) {
        const int32_t *v = id + q * T;
        cp[q] = v[0];
        for (int64_t t = 1; t < T; t++) ok &= v[t] == v[0];
    }
    return ok;
}

/* Collective. 1 if dimension `id` (L levels) is a pair-level partition crossed with the month: every level
 * lies in one month and holds, in that month, the pairs of one class of the partition given by the level
 * in the first month (cp[q], per local pair), and there are (classes) x T levels. */
static int month_level(const gr_pairpanel *pp, const int32_t *id, int64_t L, int32_t *cp)
{
    MPI_Comm comm = pp->comm;
    const int64_t T = pp->T;
    if (L > INT_MAX / 2) return 0;  /* L is the same on every rank */
    for (int64_t q = 0; q < pp->np; q++)
        for (int64_t t = 0; t < T; t++)
            if (pp->dm[q * T + t] == 0) cp[q] = id[q * T + t];
    /* per level: min and max of its month and of its pairs' class, over all ranks */
    int32_t *lo = gr_malloc((size_t)(4 * L + 1), sizeof *lo), *hi = lo + 2 * L;
    for (int64_t l = 0; l < 2 * L; l++) { lo[l] = INT32_MAX; hi[l] = -1; }
    for (int64_t i = 0; i < pp->n; i++) {
        int64_t l = id[i];
        int32_t t = pp->dm[i], c = cp[i / T];
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
    for (int64_t q = 0; q < pp->np; q++) cls[cp[q]] = 1;
    MPI_Allreduce(MPI_IN_PLACE, cls, (int)L, MPI_UNSIGNED_CHAR, MPI_BOR, comm);
    int64_t C = 0;
    for (int64_t l = 0; l < L; l++) C += cls[l];
    free(cls);
    return C * T == L;
}

/* Collective. The kind of a dimension (0 pair-level, 1 month-level, -1 neither) and its pair-level codes
 * cp[np]; remembered by its level ids, so that the bandwidths of a sample analyse their shared dimensions once. */
static int dim_kind(gr_pairpanel *pp, const int32_t *id, int64_t L, int32_t *cp)
{
    int hit = -1;
    for (int k = 0; k < pp->nd && hit < 0; k++)
        if (pp->d[k].L == L && !memcmp(pp->d[k].ids, id, (size_t)pp->n * sizeof *id)) hit = k;
    int lo;
    MPI_Allreduce(&hit, &lo, 1, MPI_INT, MPI_MIN, pp->comm);
    MPI_Allreduce(MPI_IN_PLACE, &hit, 1, MPI_INT, MPI_MAX, pp->comm);
    if (hit >= 0 && lo == hit) {
        memcpy(cp, pp->d[hit].cp, (size_t)pp->np * sizeof *cp);
        return pp->d[hit].kind;
    }
    int kind = all(pp->comm, pair_level(pp, id, cp)) ? 0 : month_level(pp, id, L, cp) ? 1 : -1;
    if (pp->nd < 8) {
        int k = pp->nd++;
        pp->d[k].ids = gr_malloc((size_t)(pp->n ? pp->n : 1), sizeof *id);
        memcpy(pp->d[k].ids, id, (size_t)pp->n * sizeof *id);
        pp->d[k].cp = gr_malloc((size_t)(pp->np ? pp->np : 1), sizeof *cp);
        memcpy(pp->d[k].cp, cp, (size_t)pp->np * sizeof *cp);
        pp->d[k].L = L;
        pp->d[k].kind = kind;
    }
    return kind;
}

gr_pairshort *gr_pairshort_new(const gr_absorber *ab, gr_pairpanel *pp)
{
    MPI_Comm comm = ab->comm;
    const gr_fe *fe = &ab->fe;
    if (!all(comm, pp && pp->ok && !ab->w && !ab->kept && ab->n == pp->n && fe->nfe >= 1 && fe->nfe <= 15)) return NULL;
    gr_pairshort *s = gr_calloc(1, sizeof *s);
    s->comm = comm;
    s->n = pp->n;
    s->T = pp->T;
    s->np = pp->np;
    s->pair = pp->pair;
    s->npair = pp->npair;
    int32_t *pcodes[16] = {0};
    int64_t pncodes[16];
    int ok = 1;
    for (int k = 0; k < fe->nfe && ok; k++) {
        pcodes[k] = gr_malloc((size_t)(s->np ? s->np : 1), sizeof(int32_t));
        pncodes[k] = fe->nlevels[k];
        int kind = dim_kind(pp, fe->id[k], fe->nlevels[k], pcodes[k]);
        ok = kind >= 0;
        if (kind == 1) s->md[s->nmd++] = k;
    }
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
    if (!w || w->n != s->n || w->nd != s->nmd) return 0;  /* the pair codes are the pool's: the same */
    for (int m = 0; m < s->nmd; m++)
        if (memcmp(w->ids[m], ab->fe.id[s->md[m]], (size_t)s->n * sizeof(int32_t))) return 0;
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
    w->nd = s->nmd;
    w->ids = gr_calloc((size_t)(w->nd ? w->nd : 1), sizeof *w->ids);
    int32_t *codes[16];
    int64_t ncodes[16];
    char *names[16];
    codes[0] = dup_ids(s->pair, s->n);
    ncodes[0] = s->npair;
    names[0] = "pair";
    for (int q = 0; q < s->nmd; q++) {
        int k = s->md[q];
        w->ids[q] = dup_ids(ab->fe.id[k], s->n);
        codes[1 + q] = dup_ids(ab->fe.id[k], s->n);
        ncodes[1 + q] = ab->fe.nlevels[k];
        names[1 + q] = ab->fe.names[k];
    }
    gr_absorb_opts o = ab->o;
    o.rm_singletons = 0;
    o.method = GR_FE_CG;
    return gr_absorber_init(s->comm, s->n, 1 + s->nmd, codes, ncodes, names, NULL, &o, &w->ab);
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
        for (int j = 0; j < ncols && !rc; j++) {
            if (!fresh[j]) continue;
            for (int64_t q = 0; q < s->np; q++) {
                double *v = w->cols[from[j]].out + q * s->T, sum = 0;
                for (int64_t t = 0; t < s->T; t++) sum += v[t];
                for (int64_t t = 0; t < s->T; t++) v[t] -= sum / (double)s->T;
            }
        }
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
    const int64_t np = s->np;
    /* pair means (a pair-level column's value itself, bit for bit) and which columns vary within a pair */
    double *pb = gr_calloc((size_t)(np ? np : 1) * (size_t)ncols, sizeof *pb);
    double **pc = gr_malloc((size_t)ncols, sizeof *pc), **wp = gr_calloc((size_t)ncols, sizeof *wp);
    int *vary = gr_calloc((size_t)ncols, sizeof *vary);
    const int64_t T = s->T;
    for (int j = 0; j < ncols; j++) {
        double *m = pc[j] = pb + (size_t)j * np;
        for (int64_t q = 0; q < np; q++) {
            const double *v = cols[j] + q * T;
            double sum = 0;
            int same = 1;
            for (int64_t t = 0; t < T; t++) { sum += v[t]; same &= v[t] == v[0]; }
            m[q] = same ? v[0] : sum / (double)T;
            vary[j] |= !same;
        }
    }
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
        for (int64_t q = 0; q < np; q++)
            if (w) for (int64_t t = 0; t < T; t++) v[q * T + t] = m[q] + w[q * T + t];
            else for (int64_t t = 0; t < T; t++) v[q * T + t] = m[q];
    }
    free(pb); free(pc); free(wp); free(vary);
    if (rc) return rc;
    process_columns += ncols;
    *done += ncols;
    ab->t_demean += gr_now() - t0;
    return GR_OK;
}
