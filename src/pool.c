/* pool.c: absorbers kept across the models of one sample (pool.h). */
#include "pool.h"
#include "levels.h"
#include "pairshort.h"
#include <stdlib.h>
#include <string.h>

static void *dup_bytes(const void *src, size_t bytes)
{
    void *d = gr_malloc(bytes ? bytes : 1, 1);
    if (bytes) memcpy(d, src, bytes);
    return d;
}

/* A column demeaned on a pooled absorber: its input (ab->n_in values) and output (ab->n values). */
typedef struct {
    char *label;
    double *in, *out, tss;
} pooled_col;

typedef struct {
    gr_absorber *ab;
    int64_t n;
    int nfe;
    int32_t **codes;        /* copies of the codes it was set up on */
    double *w;              /* copy of the weights, or NULL */
    gr_absorb_opts o;
    int ncols, capcols;
    pooled_col *cols;
    gr_pairshort *ps;       /* the pair-level shortcut for this absorber (pairshort.h), or NULL */
} entry;

/* The row cache: what models on the same rows share (keys: addresses of the frame's arrays). */
typedef struct { const void *src; double tss; } tss_entry;
typedef struct { const void *src; gr_fe_levels dim; } fe_entry;
typedef struct {
    int64_t n;
    unsigned char *keep;    /* the rows (n flags), NULL: none yet */
    int ntss, nfe;
    tss_entry tss[64];
    fe_entry fe[16];
} row_cache;

static void rows_clear(row_cache *c)
{
    for (int i = 0; i < c->nfe; i++) { free(c->fe[i].dim.id); free(c->fe[i].dim.count); }
    free(c->keep);
    memset(c, 0, sizeof *c);
}

struct gr_pool {
    row_cache rows;
    int max, n;
    int share;              /* 0: absorbers and columns are never reused (only the shortcut is taken) */
    entry *e;               /* oldest first */
    int64_t reused;
    /* the sample's pair and month codes (gr_pool_set_panel; owned), for the pair-level shortcut */
    int64_t nrows, npair, nmonth;
    int32_t *pair, *month;
    gr_pairpanel *pp;       /* the sample's pairs (pairshort.h), made with the first absorber on its rows */
    gr_pairwithin *within;  /* within parts shared by the absorbers of the sample (pairshort.h) */
    int64_t shortcut;
};

gr_pool *gr_pool_new(int max_absorbers, int share)
{
    gr_pool *p = gr_calloc(1, sizeof *p);
    p->share = share;
    p->max = max_absorbers < 1 || !share ? 1 : max_absorbers;
    p->e = gr_calloc((size_t)p->max, sizeof *p->e);
    return p;
}

static void entry_free(entry *e)
{
    gr_absorber_free(e->ab);
    free(e->ab);
    for (int k = 0; k < e->nfe; k++) free(e->codes[k]);
    free(e->codes);
    free(e->w);
    for (int j = 0; j < e->ncols; j++) { free(e->cols[j].label); free(e->cols[j].in); free(e->cols[j].out); }
    free(e->cols);
    gr_pairshort_free(e->ps);
    memset(e, 0, sizeof *e);
}

void gr_pool_free(gr_pool *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) entry_free(&p->e[i]);
    free(p->e);
    free(p->pair);
    free(p->month);
    gr_pairwithin_free(p->within);
    gr_pairpanel_free(p->pp);
    rows_clear(&p->rows);
    free(p);
}

void gr_pool_rows(gr_pool *p, MPI_Comm comm, int64_t n, const unsigned char *keep)
{
    row_cache *c = &p->rows;
    int same = c->keep && c->n == n && !memcmp(c->keep, keep, (size_t)n);
    MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, comm);
    if (same) return;
    rows_clear(c);
    c->n = n;
    c->keep = dup_bytes(keep, (size_t)n);
}

int gr_pool_tss_get(const gr_pool *p, const void *src, double *tss)
{
    for (int i = 0; p && src && i < p->rows.ntss; i++)
        if (p->rows.tss[i].src == src) { *tss = p->rows.tss[i].tss; return 1; }
    return 0;
}

void gr_pool_tss_put(gr_pool *p, const void *src, double tss)
{
    row_cache *c = &p->rows;
    if (!src || !c->keep || c->ntss == (int)(sizeof c->tss / sizeof c->tss[0])) return;
    c->tss[c->ntss++] = (tss_entry){src, tss};
}

const gr_fe_levels *gr_pool_fe_get(const gr_pool *p, const void *src)
{
    for (int i = 0; p && !p->share && src && i < p->rows.nfe; i++)  /* sharing compares every code: none here */
        if (p->rows.fe[i].src == src) return &p->rows.fe[i].dim;
    return NULL;
}

void gr_pool_fe_put(gr_pool *p, const void *src, const gr_fe *fe, int k)
{
    row_cache *c = &p->rows;
    if (p->share || !src || !c->keep || c->nfe == (int)(sizeof c->fe / sizeof c->fe[0]) || gr_pool_fe_get(p, src)) return;
    gr_fe_levels *d = &c->fe[c->nfe].dim;
    c->fe[c->nfe++].src = src;
    d->id = dup_bytes(fe->id[k], (size_t)fe->n * sizeof *d->id);
    d->count = dup_bytes(fe->count[k], (size_t)fe->nlevels[k] * sizeof *d->count);
    d->nlevels = fe->nlevels[k];
    d->local_only = fe->local_only[k];
}

int64_t gr_pool_reused(const gr_pool *p) { return p ? p->reused : 0; }
int64_t gr_pool_shortcut(const gr_pool *p) { return p ? p->shortcut : 0; }

void gr_pool_set_panel(gr_pool *p, int64_t n, int32_t *pair, int64_t npair, int32_t *month, int64_t nmonth)
{
    free(p->pair);
    free(p->month);
    gr_pairpanel_free(p->pp);
    p->pp = NULL;
    p->nrows = n;
    p->pair = pair;
    p->npair = npair;
    p->month = month;
    p->nmonth = nmonth;
}

static int same_opts(const gr_absorb_opts *a, const gr_absorb_opts *b)
{
    return a->tol == b->tol && a->maxiter == b->maxiter && a->method == b->method && a->rm_singletons == b->rm_singletons;
}

/* Local. 1 if entry e was set up on these rows. */
static int matches(const entry *e, int64_t n, int nfe, int32_t *const *codes, const double *w, const gr_absorb_opts *o)
{
    if (e->n != n || e->nfe != nfe || !same_opts(&e->o, o) || (e->w == NULL) != (w == NULL)) return 0;
    for (int k = 0; k < nfe; k++)
        if (memcmp(e->codes[k], codes[k], (size_t)n * sizeof(int32_t))) return 0;
    return !w || !memcmp(e->w, w, (size_t)n * sizeof *w);
}


int gr_pool_absorber(gr_pool *p, MPI_Comm comm, int64_t n, int nfe, int32_t **codes, const int64_t *ncodes,
                     char *const *names, double **w, const gr_absorb_opts *o, const gr_fe_levels *pre,
                     gr_absorber *local, gr_absorber **ab)
{
    if (!p) {
        *ab = local;
        return gr_absorber_init_pre(comm, n, nfe, codes, ncodes, names, w, o, pre, local);
    }
    if (p->share) pre = NULL;  /* sharing compares the codes: every one is there */
    int found = -1;
    for (int i = p->n - 1; i >= 0 && p->share; i--) {
        int m = matches(&p->e[i], n, nfe, codes, *w, o);
        MPI_Allreduce(MPI_IN_PLACE, &m, 1, MPI_INT, MPI_MIN, comm);
        if (m) { found = i; break; }
    }
    if (found >= 0) {
        for (int k = 0; k < nfe; k++) { free(codes[k]); codes[k] = NULL; }
        free(*w);
        *w = NULL;
        *ab = p->e[found].ab;
        return GR_OK;
    }
    int rows = p->pair && n == p->nrows;  /* the sample's rows, all of them: the pair-level codes apply */
    MPI_Allreduce(MPI_IN_PLACE, &rows, 1, MPI_INT, MPI_MIN, comm);
    if (!p->share && !rows) {  /* nothing to keep it for */
        *ab = local;
        return gr_absorber_init_pre(comm, n, nfe, codes, ncodes, names, w, o, pre, local);
    }
    entry e = {.n = n, .nfe = p->share ? nfe : 0, .o = *o};  /* without sharing nothing is compared: no copies */
    e.codes = gr_calloc((size_t)(nfe ? nfe : 1), sizeof *e.codes);
    for (int k = 0; k < e.nfe; k++) e.codes[k] = dup_bytes(codes[k], (size_t)n * sizeof(int32_t));
    e.w = *w && p->share ? dup_bytes(*w, (size_t)n * sizeof **w) : NULL;
    e.ab = gr_calloc(1, sizeof *e.ab);
    int rc = gr_absorber_init_pre(comm, n, nfe, codes, ncodes, names, w, o, pre, e.ab);
    if (rc) {  /* not pooled: the caller frees it as a local one */
        *local = *e.ab;
        *ab = local;
        free(e.ab);
        e.ab = gr_calloc(1, sizeof *e.ab);
        entry_free(&e);
        return rc;
    }
    if (p->n == p->max) {  /* drop the oldest */
        entry_free(&p->e[0]);
        memmove(p->e, p->e + 1, (size_t)(p->n - 1) * sizeof *p->e);
        p->n--;
    }
    if (rows && !p->pp) p->pp = gr_pairpanel_new(comm, n, p->pair, p->npair, p->month, p->nmonth);
    if (rows) e.ps = gr_pairshort_new(e.ab, p->pp);
    p->e[p->n++] = e;
    *ab = e.ab;
    return GR_OK;
}

static entry *entry_of(gr_pool *p, const gr_absorber *ab)
{
    for (int i = 0; p && i < p->n; i++)
        if (p->e[i].ab == ab) return &p->e[i];
    return NULL;
}

/* Collective. from[j] = the pooled column equal to cols[j] on every rank, or -1. */
static void find_columns(MPI_Comm comm, const entry *e, int ncols, double *const *cols, const char *const *labels,
                         int64_t n_in, int *from)
{
    for (int j = 0; j < ncols; j++) {
        from[j] = -1;
        for (int c = 0; c < e->ncols && from[j] < 0; c++)
            if (!strcmp(e->cols[c].label, labels[j]) && !memcmp(e->cols[c].in, cols[j], (size_t)n_in * sizeof(double)))
                from[j] = c;
    }
    /* agreed: a column is taken only if every rank found the same pooled one */
    int *lo = gr_malloc((size_t)ncols, sizeof *lo), *hi = gr_malloc((size_t)ncols, sizeof *hi);
    MPI_Allreduce(from, lo, ncols, MPI_INT, MPI_MIN, comm);
    MPI_Allreduce(from, hi, ncols, MPI_INT, MPI_MAX, comm);
    for (int j = 0; j < ncols; j++) from[j] = lo[j] == hi[j] ? lo[j] : -1;
    free(lo);
    free(hi);
}

int gr_pool_demean(gr_pool *p, gr_absorber *ab, int ncols, double **cols, const char *const *labels, double *tss,
                   const unsigned char *have)
{
    entry *e = entry_of(p, ab);
    if (!e || ncols == 0 || (!p->share && !e->ps)) return gr_absorber_demean_have(ab, ncols, cols, tss, have);
    if (!p->share) return gr_pairshort_demean(e->ps, ab, &p->within, ncols, cols, labels, tss, &p->shortcut);
    int *from = gr_malloc((size_t)ncols, sizeof *from), nnew = 0;
    find_columns(ab->comm, e, ncols, cols, labels, ab->n_in, from);
    double **todo = gr_malloc((size_t)ncols, sizeof *todo), *tss_new = gr_calloc((size_t)ncols, sizeof *tss_new);
    int *idx = gr_malloc((size_t)ncols, sizeof *idx);
    for (int j = 0; j < ncols; j++) {
        if (from[j] >= 0) {
            memcpy(cols[j], e->cols[from[j]].out, (size_t)ab->n * sizeof(double));
            if (tss) tss[j] = e->cols[from[j]].tss;
            p->reused++;
            continue;
        }
        if (e->ncols == e->capcols)
            e->cols = gr_realloc(e->cols, (size_t)(e->capcols = e->capcols ? 2 * e->capcols : 8), sizeof *e->cols);
        e->cols[e->ncols] = (pooled_col){gr_strdup(labels[j]), dup_bytes(cols[j], (size_t)ab->n_in * sizeof(double)), NULL, 0};
        idx[nnew] = e->ncols++;
        todo[nnew++] = cols[j];
    }
    int rc = GR_OK;
    if (nnew && e->ps) {
        const char **lab = gr_malloc((size_t)nnew, sizeof *lab);
        for (int q = 0; q < nnew; q++) lab[q] = e->cols[idx[q]].label;
        rc = gr_pairshort_demean(e->ps, ab, &p->within, nnew, todo, lab, tss_new, &p->shortcut);
        free(lab);
    } else if (nnew) {
        rc = gr_absorber_demean(ab, nnew, todo, tss_new, NULL);
    }
    for (int q = 0, j = 0; j < ncols; j++) {
        if (from[j] >= 0) continue;
        pooled_col *c = &e->cols[idx[q]];
        if (rc) { free(c->in); c->in = NULL; }  /* a failed demeaning is not kept */
        else {
            c->out = dup_bytes(cols[j], (size_t)ab->n * sizeof(double));
            c->tss = tss_new[q];
        }
        if (tss) tss[j] = tss_new[q];
        q++;
    }
    if (rc) {  /* drop the columns that were not demeaned */
        int keep = 0;
        for (int c = 0; c < e->ncols; c++) {
            if (e->cols[c].in && e->cols[c].out) e->cols[keep++] = e->cols[c];
            else { free(e->cols[c].label); free(e->cols[c].in); free(e->cols[c].out); }
        }
        e->ncols = keep;
    }
    free(from); free(todo); free(tss_new); free(idx);
    return rc;
}
