/* frame.c: one estimation sample's rows and the columns evaluated on them (see frame.h). A root frame
 * evaluates from the panel (columns.c; codes from levels.c), on all its rows and then keeps those in the
 * frame; a sub-frame selects its rows from what its parent evaluated (and cached) once. */
#include "frame.h"
#include "levels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static gr_frame_entry *find(gr_frame *f, const char *key)
{
    for (int i = 0; i < f->nentries; i++)
        if (!strcmp(f->entries[i].key, key)) return &f->entries[i];
    return NULL;
}

/* Keep v (or code), f->n values, under key: the frame takes the array. */
static gr_frame_entry *store_take(gr_frame *f, const char *key, double *v, int32_t *code, int64_t ncode)
{
    if (f->nentries == f->capentries)
        f->entries = gr_realloc(f->entries, (size_t)(f->capentries = f->capentries ? 2 * f->capentries : 8),
                                sizeof *f->entries);
    gr_frame_entry *e = &f->entries[f->nentries++];
    memset(e, 0, sizeof *e);
    e->key = gr_strdup(key);
    e->v = v;
    e->code = code;
    e->ncode = ncode;
    return e;
}

static void *dup_array(const void *src, int64_t n, size_t size)
{
    void *d = gr_malloc((size_t)(n ? n : 1), size);
    if (n) memcpy(d, src, (size_t)n * size);
    return d;
}

/* Keep a copy of v (or of code) under key. */
static void store(gr_frame *f, const char *key, const double *v, const int32_t *code, int64_t ncode)
{
    store_take(f, key, v ? dup_array(v, f->n, sizeof *v) : NULL, code ? dup_array(code, f->n, sizeof *code) : NULL,
               ncode);
}

/* The entry's row flags (frame.h), made on first use. */
static const unsigned char *entry_flags(const gr_frame *f, gr_frame_entry *e)
{
    if (e->flagged) return e->bad;
    unsigned char *b = gr_malloc((size_t)(f->n ? f->n : 1), 1), any = 0;
    if (e->v)
        for (int64_t i = 0; i < f->n; i++) any |= b[i] = (unsigned char)gr_value_flags(e->v[i]);
    else
        for (int64_t i = 0; i < f->n; i++) any |= b[i] = (unsigned char)(e->code[i] < 0);
    if (!any) { free(b); b = NULL; }  /* no row flagged (the usual case): nothing to or */
    e->flagged = 1;
    return e->bad = b;
}

static int64_t count_rows(MPI_Comm comm, int64_t n, const unsigned char *mask, int64_t *nobs)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) m += mask[i] != 0;
    *nobs = m;
    MPI_Allreduce(MPI_IN_PLACE, nobs, 1, MPI_INT64_T, MPI_SUM, comm);
    return m;
}

int gr_frame_open(MPI_Comm comm, gr_panel *p, gr_expr *where, const char *label, gr_frame *f)
{
    memset(f, 0, sizeof *f);
    f->comm = comm;
    f->p = p;
    f->cs.p = p;
    f->label = gr_strdup(label ? label : "Full sample");
    f->n = p->nrows;
    f->nobs = p->nrows_total;
    if (!where) return GR_OK;
    int64_t n = p->nrows;
    double *w = gr_malloc((size_t)(n ? n : 1), sizeof *w);
    int rc = gr_agree(comm, gr_columns_load_expr(&f->cs, where, "--where"));
    if (!rc) rc = gr_agree(comm, gr_columns_eval(&f->cs, where, w));
    if (rc) { free(w); return rc; }
    f->mask = gr_malloc((size_t)(n ? n : 1), 1);
    for (int64_t i = 0; i < n; i++) f->mask[i] = isfinite(w[i]) && w[i] != 0;
    free(w);
    f->n = count_rows(comm, n, f->mask, &f->nobs);
    if (f->nobs == 0) return gr_fail(GR_EINPUT, "--where", "no rows satisfy '%s'", gr_expr_text(where));
    if (f->nobs == p->nrows_total) { free(f->mask); f->mask = NULL; }  /* every row: no selection needed */
    else gr_rowsel_init(&f->sel, n, f->mask);
    return GR_OK;
}

int gr_frame_sub(gr_frame *parent, const unsigned char *mask, const char *label, gr_frame *f)
{
    memset(f, 0, sizeof *f);
    f->comm = parent->comm;
    f->p = parent->p;
    f->parent = parent;
    f->label = gr_strdup(label);
    f->mask = gr_malloc((size_t)(parent->n ? parent->n : 1), 1);
    memcpy(f->mask, mask, (size_t)parent->n);
    f->n = count_rows(f->comm, parent->n, f->mask, &f->nobs);
    gr_rowsel_init(&f->sel, parent->n, f->mask);
    return GR_OK;
}

/* The parent's values of e: its cached column (*owned = 0) or a new one (*owned = 1). */
static int parent_values(gr_frame *parent, gr_expr *e, const char *context, double **v, int *owned)
{
    gr_frame_entry *c = find(parent, gr_expr_text(e));
    if (c && c->v) { *v = c->v; *owned = 0; return GR_OK; }
    *v = gr_malloc((size_t)(parent->n ? parent->n : 1), sizeof **v);
    *owned = 1;
    int rc = gr_frame_eval(parent, e, context, *v);
    if (!rc && (c = find(parent, gr_expr_text(e))) && c->v) { free(*v); *v = c->v; *owned = 0; }
    return rc;
}

int gr_frame_eval(gr_frame *f, gr_expr *e, const char *context, double *out)
{
    const char *key = gr_expr_text(e);
    gr_frame_entry *c = find(f, key);
    if (c && c->v) { memcpy(out, c->v, (size_t)f->n * sizeof *out); return GR_OK; }
    int rc;
    if (f->parent) {
        double *pv;
        int owned;
        rc = parent_values(f->parent, e, context, &pv, &owned);
        if (!rc) gr_rowsel_apply(&f->sel, pv, out, sizeof *out);
        if (owned) free(pv);
    } else if (!f->mask) {
        rc = gr_columns_eval_rows(&f->cs, e, out, context);
    } else {
        double *all = gr_malloc((size_t)(f->p->nrows ? f->p->nrows : 1), sizeof *all);
        rc = gr_columns_eval_rows(&f->cs, e, all, context);
        if (!rc) gr_rowsel_apply(&f->sel, all, out, sizeof *out);
        free(all);
    }
    rc = gr_agree(f->comm, rc);
    if (!rc && f->caching) store(f, key, out, NULL, 0);
    return rc;
}

int gr_frame_term(gr_frame *f, const gr_term *t, double *out)
{
    gr_frame_entry *c = find(f, t->label);
    if (c && c->v) { memcpy(out, c->v, (size_t)f->n * sizeof *out); return GR_OK; }
    GR_CALL(gr_frame_eval(f, t->factors[0], "formula", out));
    if (t->nfactors == 1) return GR_OK;
    double *tmp = gr_malloc((size_t)(f->n ? f->n : 1), sizeof *tmp);
    int rc = GR_OK;
    for (int q = 1; q < t->nfactors && !rc; q++) {
        rc = gr_frame_eval(f, t->factors[q], "formula", tmp);
        for (int64_t i = 0; i < f->n && !rc; i++) out[i] *= tmp[i];
    }
    free(tmp);
    if (!rc && f->caching) store(f, t->label, out, NULL, 0);
    return rc;
}

/* "codes:a^b^c" */
static void codes_key(int nvars, char *const *vars, char *key, size_t len)
{
    size_t at = (size_t)snprintf(key, len, "codes:");
    for (int q = 0; q < nvars && at < len; q++) at += (size_t)snprintf(key + at, len - at, "%s%s", q ? "^" : "", vars[q]);
}

int gr_frame_codes(gr_frame *f, int nvars, char *const *vars, int32_t *out, int64_t *ncodes)
{
    char key[1024];
    codes_key(nvars, vars, key, sizeof key);
    gr_frame_entry *c = find(f, key);
    if (c && c->code) { memcpy(out, c->code, (size_t)f->n * sizeof *out); *ncodes = c->ncode; return GR_OK; }
    int rc;
    gr_frame_entry *pc = f->parent ? find(f->parent, key) : NULL;
    if (pc && pc->code) {  /* the parent's cached codes, selected without a copy of all of them */
        gr_rowsel_apply(&f->sel, pc->code, out, sizeof *out);
        *ncodes = pc->ncode;
        rc = GR_OK;
    } else if (f->parent || f->mask) {
        int64_t np = f->parent ? f->parent->n : f->p->nrows;
        int32_t *all = gr_malloc((size_t)(np ? np : 1), sizeof *all);
        rc = f->parent ? gr_frame_codes(f->parent, nvars, vars, all, ncodes)
                       : gr_columns_codes(f->comm, &f->cs, nvars, vars, all, ncodes);
        if (!rc) gr_rowsel_apply(&f->sel, all, out, sizeof *out);
        free(all);
    } else {
        rc = gr_columns_codes(f->comm, &f->cs, nvars, vars, out, ncodes);
    }
    rc = gr_agree(f->comm, rc);
    if (!rc && f->caching) store(f, key, NULL, out, *ncodes);
    return rc;
}

/* Evaluate into a new array with the frame's caching off (the caller keeps the array). */
static int eval_new(gr_frame *f, gr_expr *e, const gr_term *t, const char *context, double **out)
{
    int caching = f->caching, rc;
    *out = gr_malloc((size_t)(f->n ? f->n : 1), sizeof **out);
    f->caching = 0;
    rc = t ? gr_frame_term(f, t, *out) : gr_frame_eval(f, e, context, *out);
    f->caching = caching;
    if (rc) { free(*out); *out = NULL; }
    return rc;
}

int gr_frame_eval_ref(gr_frame *f, gr_expr *e, const char *context, const double **v, const unsigned char **bad)
{
    const char *key = gr_expr_text(e);
    gr_frame_entry *c = find(f, key);
    if (!c || !c->v) {
        double *out;
        GR_CALL(eval_new(f, e, NULL, context, &out));
        c = store_take(f, key, out, NULL, 0);
    }
    *v = c->v;
    if (bad) *bad = entry_flags(f, c);
    return GR_OK;
}

int gr_frame_term_ref(gr_frame *f, const gr_term *t, const double **v, const unsigned char **bad)
{
    if (t->nfactors == 1) return gr_frame_eval_ref(f, t->factors[0], "formula", v, bad);
    gr_frame_entry *c = find(f, t->label);
    if (!c || !c->v) {
        double *out;
        GR_CALL(eval_new(f, NULL, t, "formula", &out));
        c = store_take(f, t->label, out, NULL, 0);
    }
    *v = c->v;
    if (bad) *bad = entry_flags(f, c);
    return GR_OK;
}

int gr_frame_codes_ref(gr_frame *f, int nvars, char *const *vars, const int32_t **code, int64_t *ncodes,
                       const unsigned char **bad)
{
    char key[1024];
    codes_key(nvars, vars, key, sizeof key);
    gr_frame_entry *c = find(f, key);
    if (!c || !c->code) {
        int caching = f->caching, rc;
        int32_t *out = gr_malloc((size_t)(f->n ? f->n : 1), sizeof *out);
        int64_t nc = 0;
        f->caching = 0;
        rc = gr_frame_codes(f, nvars, vars, out, &nc);
        f->caching = caching;
        if (rc) { free(out); return rc; }
        c = store_take(f, key, NULL, out, nc);
    }
    *code = c->code;
    *ncodes = c->ncode;
    if (bad) *bad = entry_flags(f, c);
    return GR_OK;
}

void gr_frame_drop_raw(gr_frame *f, const char *name)
{
    gr_columns_drop(&f->cs, name);
}

void gr_frame_free(gr_frame *f)
{
    for (int i = 0; i < f->nentries; i++) {
        free(f->entries[i].key); free(f->entries[i].v); free(f->entries[i].code); free(f->entries[i].bad);
    }
    free(f->entries);
    free(f->mask);
    gr_rowsel_free(&f->sel);
    free(f->label);
    gr_columns_free(&f->cs);
    memset(f, 0, sizeof *f);
}
