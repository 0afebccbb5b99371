/* specrun.c: one specification on its sample (specrun.h): the plan of the columns it evaluates, in an
 * order that lets a raw panel column be freed after the last item that reads it; the split values; one
 * model per sample (model.h). `gravrd estimate` runs one; `gravrd grid` runs many on one caching frame. */
#include "specrun.h"
#include "model.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The sorted distinct finite values of v[0..n) into a fresh *out, their number returned, when there are at
 * most FEW_MAX of them (a split's usual case: two directions, a handful of categories): one pass with a
 * binary search in the short list, instead of sorting every row. -1 (nothing allocated) when there are more. */
enum { FEW_MAX = 64 };
static int64_t few_distinct(int64_t n, const double *v, double **out)
{
    double d[FEW_MAX], last = NAN;
    int u = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = v[i];
        if (x == last || !isfinite(x)) continue;  /* runs of one value are the rule in a panel's order */
        int lo = 0, hi = u;
        while (lo < hi) { int mid = (lo + hi) / 2; if (d[mid] < x) lo = mid + 1; else hi = mid; }
        if (lo == u || d[lo] != x) {
            if (u == FEW_MAX) return -1;
            memmove(d + lo + 1, d + lo, (size_t)(u - lo) * sizeof *d);
            d[lo] = x;
            u++;
        }
        last = x;
    }
    *out = gr_malloc((size_t)(u ? u : 1), sizeof **out);
    memcpy(*out, d, (size_t)u * sizeof *d);
    return u;
}

/* Collective: the sorted distinct finite values of v over all ranks into *out (*nout of them). */
static int distinct_values(MPI_Comm comm, int64_t n, const double *v, double **out, int *nout)
{
    int P;
    MPI_Comm_size(comm, &P);
    double *loc = NULL;
    int64_t u = few_distinct(n, v, &loc);
    if (u < 0) {  /* many values: sort them all */
        loc = gr_malloc((size_t)(n ? n : 1), sizeof *loc);
        int64_t m = 0;
        u = 0;
        for (int64_t i = 0; i < n; i++) if (isfinite(v[i])) loc[m++] = v[i];
        qsort(loc, (size_t)m, sizeof *loc, cmp_d);
        for (int64_t i = 0; i < m; i++) if (u == 0 || loc[i] != loc[u - 1]) loc[u++] = loc[i];
    }
    int ui = 0, toti = 0, rc = gr_agree(comm, gr_int_count(u, "--split: distinct values on a rank", &ui));
    int *cnt = gr_malloc((size_t)P, sizeof *cnt), *dis = gr_malloc((size_t)P, sizeof *dis);
    if (!rc) MPI_Allgather(&ui, 1, MPI_INT, cnt, 1, MPI_INT, comm);
    int64_t tot = 0;
    for (int r = 0; r < P && !rc; r++) { dis[r] = (int)tot; tot += cnt[r]; }  /* checked below before use */
    if (!rc) rc = gr_agree(comm, gr_int_count(tot, "--split: distinct values", &toti));
    double *all = gr_malloc((size_t)(tot ? tot : 1), sizeof *all);
    if (!rc) MPI_Allgatherv(loc, ui, MPI_DOUBLE, all, cnt, dis, MPI_DOUBLE, comm);
    qsort(all, (size_t)tot, sizeof *all, cmp_d);
    int64_t k = 0;
    for (int64_t i = 0; i < tot && !rc; i++) if (k == 0 || all[i] != all[k - 1]) all[k++] = all[i];
    free(loc); free(cnt); free(dis);
    *out = all;
    *nout = (int)k;  /* k <= tot, checked to fit */
    return rc;
}

/* ---- the plan: what each frame evaluates, in order, and the raw columns each item reads, so that a raw
 * column is freed after the last item that needs it (the raw and evaluated columns are never all held) */
enum { IT_SPLIT, IT_Y, IT_X, IT_FE, IT_CL, IT_W, IT_OFF };
typedef struct {
    int kind, j;
    int nnames;
    const char *names[64];  /* borrowed from the spec's expressions */
} item;
typedef struct {
    int n;
    item *it;
} plan;

static void item_add_expr(item *t, const gr_expr *e)
{
    for (int q = 0; q < gr_expr_ncolumns(e) && t->nnames < 64; q++) t->names[t->nnames++] = gr_expr_column(e, q);
}

static void plan_build(const gr_spec *s, plan *pl)
{
    const gr_formula *f = &s->f;
    pl->it = gr_calloc((size_t)(f->ny + f->nx + f->nfe + s->ncl + 3), sizeof *pl->it);
    pl->n = 0;
    item *t;
    if (s->split_expr) { t = &pl->it[pl->n++]; t->kind = IT_SPLIT; item_add_expr(t, s->split_expr); }
    for (int j = 0; j < f->ny; j++) { t = &pl->it[pl->n++]; t->kind = IT_Y; t->j = j; item_add_expr(t, f->y[j]); }
    for (int j = 0; j < f->nx; j++) {
        t = &pl->it[pl->n++]; t->kind = IT_X; t->j = j;
        for (int r = 0; r < f->x[j].nfactors; r++) item_add_expr(t, f->x[j].factors[r]);
    }
    for (int k = 0; k < f->nfe; k++) {
        t = &pl->it[pl->n++]; t->kind = IT_FE; t->j = k;
        for (int q = 0; q < f->fe[k].nvars && t->nnames < 64; q++) t->names[t->nnames++] = f->fe[k].vars[q];
    }
    for (int c = 0; c < s->ncl; c++) { t = &pl->it[pl->n++]; t->kind = IT_CL; t->j = c; t->names[t->nnames++] = s->clnames[c]; }
    if (s->weights) { t = &pl->it[pl->n++]; t->kind = IT_W; item_add_expr(t, s->weights); }
    if (s->offset) { t = &pl->it[pl->n++]; t->kind = IT_OFF; item_add_expr(t, s->offset); }
}

static const char *const item_context[] = {"--split", "formula", "formula", "formula", "--cluster", "--weights",
                                           "--offset"};

/* Collective. Every column the spec names exists in the panel (before anything is read). */
static int plan_check(const plan *pl, const gr_spec *s, gr_panel *p)
{
    int rc = GR_OK;
    for (int i = 0; i < pl->n && !rc; i++)
        for (int q = 0; q < pl->it[i].nnames && !rc; q++)
            if (!gr_panel_has_column(p, pl->it[i].names[q]))
                rc = gr_fail(GR_EINPUT, pl->it[i].kind == IT_OFF ? gr_spec_offset_name(s) : item_context[pl->it[i].kind],
                             "unknown column '%s' in %s", pl->it[i].names[q], p->path);
    for (int q = 0; s->where && q < gr_expr_ncolumns(s->where) && !rc; q++)
        if (!gr_panel_has_column(p, gr_expr_column(s->where, q)))
            rc = gr_fail(GR_EINPUT, "--where", "unknown column '%s' in %s", gr_expr_column(s->where, q), p->path);
    return gr_agree(p->comm, rc);
}

/* 1 if an item after `after` (or any, with after = -1) reads raw column `name`. */
static int used_after(const plan *pl, int after, const char *name)
{
    for (int i = after + 1; i < pl->n; i++)
        for (int q = 0; q < pl->it[i].nnames; q++)
            if (!strcmp(pl->it[i].names[q], name)) return 1;
    return 0;
}

/* Free the raw columns that item i read for the last time (root frame). */
static void plan_drop_after(const plan *pl, int i, gr_frame *root)
{
    if (!root) return;
    for (int q = 0; q < pl->it[i].nnames; q++)
        if (!used_after(pl, i, pl->it[i].names[q])) gr_frame_drop_raw(root, pl->it[i].names[q]);
}

/* 1 if the model of s on fr can read the frame's own arrays (a frame that keeps what it evaluates, a model
 * that leaves its data as it is: least squares without an offset, fitted with release = 0). */
static int borrows(const gr_frame *fr, const gr_spec *s)
{
    return fr->caching && s->family != GR_FAMILY_POISSON && !s->offset;
}

/* The model's columns on a caching frame: pointers to the frame's arrays and their row flags, no copies.
 * d->y and d->x are then not blocks; d's arrays are the frame's (data_free frees none of them). */
static int frame_refs(gr_frame *fr, const gr_spec *s, const plan *pl, gr_model_data *d, double *t_read, double *t_eval)
{
    const gr_formula *f = &s->f;
    int rc = GR_OK;
    for (int i = 0; i < pl->n && !rc; i++) {
        const item *t = &pl->it[i];
        double ta = gr_now(), read_before = fr->p->t_read;
        const double *v = NULL;
        const int32_t *c = NULL;
        switch (t->kind) {
        case IT_Y: rc = gr_frame_eval_ref(fr, f->y[t->j], "formula", &v, &d->yflag[t->j]); d->y[t->j] = (double *)v; break;
        case IT_X: rc = gr_frame_term_ref(fr, &f->x[t->j], &v, &d->xflag[t->j]); d->x[t->j] = (double *)v; break;
        case IT_FE:
            rc = gr_frame_codes_ref(fr, f->fe[t->j].nvars, f->fe[t->j].vars, &c, &d->fencode[t->j], &d->feflag[t->j]);
            d->fecode[t->j] = (int32_t *)c;
            break;
        case IT_CL: {
            char *var[1] = {(char *)s->clnames[t->j]};
            rc = gr_frame_codes_ref(fr, 1, var, &c, &d->clncode[t->j], &d->clflag[t->j]);
            d->clcode[t->j] = (int32_t *)c;
            break;
        }
        case IT_W: rc = gr_frame_eval_ref(fr, s->weights, "--weights", &v, NULL); d->w = (double *)v; break;
        default: break;  /* the split column: evaluated once on the root frame; no offset here (borrows) */
        }
        *t_read += fr->p->t_read - read_before;
        *t_eval += gr_now() - ta - (fr->p->t_read - read_before);
    }
    return rc;
}

/* The model's columns on frame fr, item by item (new blocks for outcomes and regressors, codes, weights; the
 * offset into *off, fr->n values, when s has one), freeing raw columns of the root frame after their last use.
 * *t_read: seconds in panel reads. */
static int frame_data(gr_frame *fr, gr_frame *root, const gr_spec *s, const plan *pl, gr_model_data *d, double **off,
                      double *t_read, double *t_eval)
{
    if (borrows(fr, s)) return frame_refs(fr, s, pl, d, t_read, t_eval);
    const gr_formula *f = &s->f;
    int64_t n = fr->n;
    size_t nn = (size_t)(n ? n : 1);
    double *yb = gr_malloc(nn * (size_t)f->ny, sizeof *yb), *xb = gr_malloc(nn * (size_t)(f->nx ? f->nx : 1), sizeof *xb);
    for (int j = 0; j < f->ny; j++) d->y[j] = yb + (size_t)j * n;
    for (int j = 0; j < f->nx; j++) d->x[j] = xb + (size_t)j * n;
    if (f->nx == 0) free(xb);
    int rc = GR_OK;
    for (int i = 0; i < pl->n && !rc; i++) {
        const item *t = &pl->it[i];
        double ta = gr_now(), read_before = fr->p->t_read;
        switch (t->kind) {
        case IT_Y: rc = gr_frame_eval(fr, f->y[t->j], "formula", d->y[t->j]); break;
        case IT_X: rc = gr_frame_term(fr, &f->x[t->j], d->x[t->j]); break;
        case IT_FE:
            d->fecode[t->j] = gr_malloc(nn, sizeof(int32_t));
            rc = gr_frame_codes(fr, f->fe[t->j].nvars, f->fe[t->j].vars, d->fecode[t->j], &d->fencode[t->j]);
            break;
        case IT_CL: {
            char *var[1] = {(char *)s->clnames[t->j]};
            d->clcode[t->j] = gr_malloc(nn, sizeof(int32_t));
            rc = gr_frame_codes(fr, 1, var, d->clcode[t->j], &d->clncode[t->j]);
            break;
        }
        case IT_W:
            d->w = gr_malloc(nn, sizeof *d->w);
            rc = gr_frame_eval(fr, s->weights, "--weights", d->w);
            break;
        case IT_OFF:
            *off = gr_malloc(nn, sizeof **off);
            rc = gr_frame_eval(fr, s->offset, gr_spec_offset_name(s), *off);
            break;
        default: break;  /* the split column: evaluated once on the root frame */
        }  /* every frame call above agrees on its status across ranks: no second agreement here */
        plan_drop_after(pl, i, root);
        *t_read += fr->p->t_read - read_before;
        *t_eval += gr_now() - ta - (fr->p->t_read - read_before);
    }
    gr_panel_drop_cache(fr->p);  /* its integer column (one per row) is not needed by the fit: peak memory */
    return rc;
}

/* The pointer arrays of d for spec s on n rows (the columns come from frame_data). */
static void data_init(gr_model_data *d, const gr_spec *s, gr_frame *fr)
{
    const gr_formula *f = &s->f;
    memset(d, 0, sizeof *d);
    d->n = fr->n;
    d->ny = f->ny; d->nx = f->nx; d->nfe = f->nfe; d->ncl = s->ncl;
    d->intercept = f->intercept;
    d->y = gr_calloc((size_t)f->ny, sizeof *d->y);
    d->ylabel = f->ylabel;
    d->x = gr_calloc((size_t)(f->nx ? f->nx : 1), sizeof *d->x);
    d->xlabel = gr_calloc((size_t)(f->nx ? f->nx : 1), sizeof *d->xlabel);
    for (int j = 0; j < f->nx; j++) d->xlabel[j] = f->x[j].label;
    d->fecode = gr_calloc((size_t)(f->nfe ? f->nfe : 1), sizeof *d->fecode);
    d->fencode = gr_calloc((size_t)(f->nfe ? f->nfe : 1), sizeof *d->fencode);
    d->fename = gr_calloc((size_t)(f->nfe ? f->nfe : 1), sizeof *d->fename);
    for (int k = 0; k < f->nfe; k++) d->fename[k] = f->fe[k].label;
    d->clcode = gr_calloc(2, sizeof *d->clcode);
    d->clncode = gr_calloc(2, sizeof *d->clncode);
    d->clname = gr_calloc(2, sizeof *d->clname);
    for (int c = 0; c < s->ncl; c++) d->clname[c] = (char *)s->clnames[c];
    d->wname = s->weights_text;
    d->label = fr->label;
    d->pool = fr->pool ? fr->pool : fr->parent ? fr->parent->pool : NULL;
    if (borrows(fr, s)) {  /* frame_refs: the frame's arrays and their row flags */
        d->yflag = gr_calloc((size_t)f->ny, sizeof *d->yflag);
        d->xflag = gr_calloc((size_t)(f->nx ? f->nx : 1), sizeof *d->xflag);
        d->feflag = gr_calloc((size_t)(f->nfe ? f->nfe : 1), sizeof *d->feflag);
        d->clflag = gr_calloc(2, sizeof *d->clflag);
        d->stable = 1;
    }
    d->scores = s->scores;  /* gravrd mediate (mediation.h); NULL otherwise */
}

static void data_free(gr_model_data *d)
{
    if (!d->yflag) {  /* d's own arrays (frame_data), not a frame's (frame_refs) */
        if (d->ny > 0) free(d->y[0]);  /* NULL once the model took it */
        if (d->nx > 0) free(d->x[0]);
        for (int k = 0; k < d->nfe; k++) free(d->fecode[k]);
        for (int c = 0; c < d->ncl; c++) free(d->clcode[c]);
        free(d->w);
    }
    free(d->yflag); free(d->xflag); free(d->feflag); free(d->clflag);
    free(d->y); free(d->x); free(d->xlabel); free(d->fecode); free(d->fencode); free(d->fename);
    free(d->clcode); free(d->clncode); free(d->clname);
}

/* Collective. Refuse an offset that is not finite on any row of the frame (every row would be dropped). */
static int offset_check(const gr_frame *fr, const gr_spec *s, const double *off)
{
    int64_t m = 0;
    for (int64_t i = 0; i < fr->n; i++) m += isfinite(off[i]) != 0;
    MPI_Allreduce(MPI_IN_PLACE, &m, 1, MPI_INT64_T, MPI_SUM, fr->comm);
    if (m > 0) return GR_OK;
    return gr_fail(GR_EINPUT, gr_spec_offset_name(s), "'%s' is not finite on any of the %lld rows of %s (NA, or e.g. "
                   "log of 0): nothing to estimate", gr_spec_offset_shown(s), (long long)fr->nobs,
                   fr->label ? fr->label : "the sample");
}

/* Local. Least squares with an offset is least squares of y - offset (fixest's feols): every outcome column of
 * d minus off, in place. A row whose offset is not finite gets a non-finite outcome, so the model drops it and
 * counts it as the outcome's own (NaN: missing; +-inf: non-finite; inf - inf is kept infinite). */
static void offset_subtract(gr_model_data *d, const double *off)
{
    for (int j = 0; j < d->ny; j++) {
        double *y = d->y[j];
        for (int64_t i = 0; i < d->n; i++) {
            double v = y[i] - off[i];
            y[i] = isnan(v) && isinf(y[i]) && isinf(off[i]) ? INFINITY : v;
        }
    }
}

/* Collective. Fit every outcome on frame fr; res gets s->f.ny results. */
static int fit_frame(gr_frame *fr, gr_frame *root, const gr_spec *s, const plan *pl, gr_result *res)
{
    gr_model_data d;
    data_init(&d, s, fr);
    double t_read = 0, t_eval = 0, *off = NULL;
    int rc = frame_data(fr, root, s, pl, &d, &off, &t_read, &t_eval);
    if (!rc && off) rc = offset_check(fr, s, off);
    if (!rc && off && s->family != GR_FAMILY_POISSON) offset_subtract(&d, off);
    gr_result *r = NULL;
    if (!rc && s->family == GR_FAMILY_POISSON) rc = gr_ppml_fit(fr->comm, &d, off, &s->model, &s->ppml, &r);
    else if (!rc) rc = gr_model_fit(fr->comm, &d, d.yflag == NULL, &s->model, &r);  /* borrowed: left as it is */
    free(off);
    data_free(&d);
    if (rc) return rc;
    for (int j = 0; j < s->f.ny; j++) { r[j].t_read = t_read; r[j].t_prepare = t_eval; res[j] = r[j]; }
    free(r);
    return GR_OK;
}

/* Label of split value `val` of column `col`: its label when the column has a label table; then the
 * --where filter, if any ("East to west; where: control_type != 2"), as the table's Sample row shows it. */
static void split_label(gr_panel *p, const char *col, double val, const char *where, char *buf, size_t len)
{
    int nlab = 0, used;
    char **labs = gr_panel_labels(p, col, &nlab);
    if (labs && val >= 0 && val < nlab && val == floor(val)) used = snprintf(buf, len, "%s", labs[(int)val]);
    else used = snprintf(buf, len, "%s = %g", col, val);
    if (where && used >= 0 && (size_t)used < len) snprintf(buf + used, len - (size_t)used, "; where: %s", where);
}

/* Collective. The split values of the sample (sorted), or none without --split. */
static int split_values(gr_frame *sample, gr_frame *root, const gr_spec *s, const plan *pl, double **splitcol,
                        double **vals, int *nvals)
{
    *splitcol = NULL;
    *vals = NULL;
    *nvals = 0;
    if (!s->split_expr) return GR_OK;
    *splitcol = gr_malloc((size_t)(sample->n ? sample->n : 1), sizeof **splitcol);
    GR_CALL(gr_frame_eval(sample, s->split_expr, "--split", *splitcol));
    plan_drop_after(pl, 0, root);
    GR_CALL(distinct_values(sample->comm, sample->n, *splitcol, vals, nvals));
    if (*nvals == 0) return gr_fail(GR_EINPUT, s->split, "split column has no values");
    return GR_OK;
}

/* Collective. Fit sample `sidx` (0 = the full sample under --fsplit, else split value) into res. */
static int fit_sample(gr_frame *sample, gr_frame *root, const gr_spec *s, const plan *pl, const double *splitcol,
                      double val, int full, gr_result *res)
{
    if (full) return fit_frame(sample, root, s, pl, res);
    char label[4400];
    split_label(sample->p, s->split, val, s->where_text, label, sizeof label);
    unsigned char *mask = gr_malloc((size_t)(sample->n ? sample->n : 1), 1);
    for (int64_t i = 0; i < sample->n; i++) mask[i] = splitcol[i] == val;
    gr_frame sub;
    int rc = gr_frame_sub(sample, mask, label, &sub);
    free(mask);
    if (!rc) rc = fit_frame(&sub, root, s, pl, res);
    gr_frame_free(&sub);
    return rc;
}


int gr_specrun_check(const gr_spec *s, gr_panel *p)
{
    plan pl;
    plan_build(s, &pl);
    int rc = plan_check(&pl, s, p);
    free(pl.it);
    return rc;
}

void gr_specrun_label(const gr_spec *s, char *buf, size_t len)
{
    if (s->where_text) snprintf(buf, len, "where: %s", s->where_text);
    else snprintf(buf, len, "Full sample");
}

int gr_specrun(gr_frame *sample, gr_frame *root, const gr_spec *s, gr_result **res, int *nres)
{
    MPI_Comm comm = sample->comm;
    plan pl;
    plan_build(s, &pl);
    if (root)  /* the --where columns no item reads again */
        for (int q = 0; s->where && q < gr_expr_ncolumns(s->where); q++)
            if (!used_after(&pl, -1, gr_expr_column(s->where, q))) gr_frame_drop_raw(root, gr_expr_column(s->where, q));
    if (s->split) sample->caching = 1;  /* the split's frames share what the sample evaluates */
    double *splitcol = NULL, *vals = NULL;
    int nvals = 0, ny = s->f.ny, n = 0;
    int rc = gr_agree(comm, split_values(sample, root, s, &pl, &splitcol, &vals, &nvals));
    int nsamples = s->split ? nvals + (s->fsplit ? 1 : 0) : 1;
    gr_result *all = gr_calloc((size_t)nsamples * (size_t)ny + 1, sizeof *all);
    gr_result *one = gr_calloc((size_t)ny, sizeof *one);
    for (int sidx = 0; sidx < nsamples && !rc; sidx++) {
        int full = !s->split || (s->fsplit && sidx == 0);
        rc = fit_sample(sample, root, s, &pl, splitcol, full ? 0 : vals[sidx - (s->fsplit ? 1 : 0)], full, one);
        /* outcome-major order, as in the study's tables: y1 by sample, then y2 by sample */
        for (int j = 0; j < ny && !rc; j++) { all[j * nsamples + sidx] = one[j]; n++; }
    }
    rc = gr_agree(comm, rc);
    free(one); free(vals); free(splitcol); free(pl.it);
    if (rc) {
        for (int r = 0; r < nsamples * ny; r++) gr_result_free(&all[r]);
        free(all);
        *res = NULL;
        *nres = 0;
        return rc;
    }
    *res = all;
    *nres = n;
    return GR_OK;
}
