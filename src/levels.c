/* levels.c: fixed-effect and cluster codes from panel columns, and dense level ids (see levels.h).
 *
 * Two ways to number values: a code range [lo, hi] of integer values coded as value - lo (a presence
 * bitmap over the range, combined with one MPI_BOR, turns codes into dense ids), and, for values that
 * are not small integers, a sort of the distinct values gathered from all ranks. */
#include "levels.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest code range numbered with a presence bitmap (bytes) and a map (int32 per code). */
#define BITMAP_MAX ((int64_t)1 << 26)

static int64_t sum64(MPI_Comm comm, int64_t v)
{
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT64_T, MPI_SUM, comm);
    return v;
}

/* A range this wide is coded directly: at most the bitmap limit, and not much sparser than the rows. */
static int range_is_direct(int64_t range, int64_t nrows_total)
{
    return range <= BITMAP_MAX && range <= 16 * nrows_total + 65536;
}

/* An int64 with the order of the finite double v (-0 and +0 alike); INT64_MIN never results. */
static int64_t order_key(double v)
{
    v += 0.0;
    int64_t b;
    memcpy(&b, &v, sizeof b);
    return b ^ ((b >> 63) & INT64_MAX);
}
#define MISSING_KEY INT64_MIN

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t sort_unique(int64_t *v, int64_t n)
{
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    int64_t m = 1;
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[m - 1]) v[m++] = v[i];
    return m;
}

/* Dense ids of int64 keys (MISSING_KEY -> -1) in key order: the distinct keys of every rank are
 * gathered, sorted, and each row finds its key by binary search. */
static int dense_by_sort(MPI_Comm comm, int64_t n, const int64_t *key, int32_t *id, int64_t *nlevels)
{
    int nranks;
    MPI_Comm_size(comm, &nranks);
    int64_t *loc = gr_malloc((size_t)(n ? n : 1), sizeof *loc), m = 0;
    for (int64_t i = 0; i < n; i++)
        if (key[i] != MISSING_KEY) loc[m++] = key[i];
    m = sort_unique(loc, m);
    int64_t *all = loc, total = m;
    /* agreed: a rank with more than INT_MAX distinct values means more than 2^31 in all (the message below) */
    int too_many = m > INT_MAX;
    MPI_Allreduce(MPI_IN_PLACE, &too_many, 1, MPI_INT, MPI_MAX, comm);
    if (!too_many && nranks > 1) {
        int *counts = gr_malloc((size_t)nranks, sizeof *counts), *displs = gr_malloc((size_t)nranks, sizeof *displs);
        int mi = (int)m;  /* m <= INT_MAX on every rank: too_many is 0 */
        MPI_Allgather(&mi, 1, MPI_INT, counts, 1, MPI_INT, comm);
        total = 0;
        for (int r = 0; r < nranks; r++) total += counts[r];
        too_many = total > INT_MAX;  /* the same on every rank: total is summed from the gathered counts */
        if (!too_many) {  /* then every displacement fits an int too */
            for (int r = 0, at = 0; r < nranks; r++) { displs[r] = at; at += counts[r]; }
            all = gr_malloc((size_t)(total ? total : 1), sizeof *all);
            MPI_Allgatherv(loc, mi, MPI_INT64_T, all, counts, displs, MPI_INT64_T, comm);
            free(loc);
            total = sort_unique(all, total);
        }
        free(counts); free(displs);
    }
    if (too_many || total > INT32_MAX) {
        free(all);
        return gr_fail(GR_EINPUT, "fixed effects", "more than 2^31 distinct values in one variable");
    }
    for (int64_t i = 0; i < n; i++) {
        if (key[i] == MISSING_KEY) { id[i] = -1; continue; }
        int64_t lo = 0, hi = total - 1;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (all[mid] < key[i]) lo = mid + 1; else hi = mid;
        }
        id[i] = (int32_t)lo;
    }
    free(all);
    *nlevels = total;
    return GR_OK;
}

int gr_codes_from_keys(MPI_Comm comm, int64_t n, const double *key, int32_t *code, int64_t *ncodes)
{
    /* min, -max over finite values; any non-integer; finite count */
    double mn[2] = {INFINITY, INFINITY}, nonint = 0;
    int64_t nfin = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = key[i];
        if (!isfinite(v)) continue;
        nfin++;
        if (v < mn[0]) mn[0] = v;
        if (-v < mn[1]) mn[1] = -v;
        if (v != floor(v) || fabs(v) > 1e15) nonint = 1;
    }
    MPI_Allreduce(MPI_IN_PLACE, mn, 2, MPI_DOUBLE, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, &nonint, 1, MPI_DOUBLE, MPI_MAX, comm);
    int64_t total = sum64(comm, n), finite = sum64(comm, nfin);
    if (finite == 0) {
        for (int64_t i = 0; i < n; i++) code[i] = -1;
        *ncodes = 0;
        return GR_OK;
    }
    if (!nonint) {
        double range = -mn[1] - mn[0] + 1;
        if (range <= (double)BITMAP_MAX && range_is_direct((int64_t)range, total)) {
            for (int64_t i = 0; i < n; i++) code[i] = isfinite(key[i]) ? (int32_t)(key[i] - mn[0]) : -1;
            *ncodes = (int64_t)range;
            return GR_OK;
        }
    }
    int64_t *k64 = gr_malloc((size_t)(n ? n : 1), sizeof *k64);
    for (int64_t i = 0; i < n; i++) k64[i] = isfinite(key[i]) ? order_key(key[i]) : MISSING_KEY;
    int rc = dense_by_sort(comm, n, k64, code, ncodes);
    free(k64);
    return rc;
}

int gr_codes_dense(MPI_Comm comm, int64_t n, const int32_t *code, int64_t ncodes, int32_t *id, int64_t *nlevels)
{
    if (ncodes > BITMAP_MAX) {
        int64_t *k64 = gr_malloc((size_t)(n ? n : 1), sizeof *k64);
        for (int64_t i = 0; i < n; i++) k64[i] = code[i] < 0 ? MISSING_KEY : code[i];
        int rc = dense_by_sort(comm, n, k64, id, nlevels);
        free(k64);
        return rc;
    }
    unsigned char *present = gr_calloc((size_t)(ncodes ? ncodes : 1), 1);
    for (int64_t i = 0; i < n; i++)
        if (code[i] >= 0) present[code[i]] = 1;
    for (int64_t off = 0; off < ncodes; off += 1 << 30) {
        int len = (int)(ncodes - off < (1 << 30) ? ncodes - off : (1 << 30));  /* at most 2^30 by the test */
        MPI_Allreduce(MPI_IN_PLACE, present + off, len, MPI_UNSIGNED_CHAR, MPI_BOR, comm);
    }
    int32_t *map = gr_malloc((size_t)(ncodes ? ncodes : 1), sizeof *map);
    int64_t L = 0;
    for (int64_t c = 0; c < ncodes; c++) map[c] = present[c] ? (int32_t)L++ : -1;
    free(present);
    if (L == ncodes) {  /* every code occurs: the codes are the ids */
        if (id != code) memcpy(id, code, (size_t)n * sizeof *id);
    } else {
        for (int64_t i = 0; i < n; i++) id[i] = code[i] < 0 ? -1 : map[code[i]];
    }
    free(map);
    *nlevels = L;
    return GR_OK;
}

/* Collective. acc := acc x part through the 64-bit combinations, sorted and numbered (dense_by_sort). */
static int combine_by_sort(MPI_Comm comm, int64_t n, int32_t *acc, int64_t *nacc, const int32_t *part,
                           int64_t npart)
{
    int64_t *k64 = gr_malloc((size_t)(n ? n : 1), sizeof *k64);
    for (int64_t i = 0; i < n; i++)
        k64[i] = (acc[i] < 0 || part[i] < 0) ? MISSING_KEY : (int64_t)acc[i] * npart + part[i];
    int rc = dense_by_sort(comm, n, k64, acc, nacc);
    free(k64);
    return rc;
}

int gr_codes_combine(MPI_Comm comm, int64_t n, int32_t *acc, int64_t *nacc, const int32_t *part, int64_t npart)
{
    int rc = GR_OK;
    int32_t *dpart = NULL;
    if (*nacc * npart > INT32_MAX) {  /* number only the codes that occur, then try again */
        GR_TRY(gr_codes_dense(comm, n, acc, *nacc, acc, nacc));
        if (*nacc * npart > INT32_MAX) {
            dpart = gr_malloc((size_t)(n ? n : 1), sizeof *dpart);
            GR_TRY(gr_codes_dense(comm, n, part, npart, dpart, &npart));
            part = dpart;
        }
    }
    if (*nacc * npart > INT32_MAX) {  /* still too wide: sort the 64-bit combinations */
        GR_TRY(combine_by_sort(comm, n, acc, nacc, part, npart));
    } else {
        /* npart fits: *nacc * npart <= INT32_MAX, or *nacc == 0 and every acc[i] is -1 (m unused) */
        const int32_t m = (int32_t)npart;
        for (int64_t i = 0; i < n; i++) acc[i] = (acc[i] < 0 || part[i] < 0) ? -1 : acc[i] * m + part[i];
        *nacc *= npart;
    }
fail:
    free(dpart);
    return rc;
}

/* An integer /panel column as int32 with its global range [*lo, *hi] over the values that are not
 * missing (*lo > *hi: none); *iv = NULL if the column is loaded as doubles in cs or not stored as
 * integers. */
static int int_part(MPI_Comm comm, gr_columns *cs, const char *name, int32_t **iv, int64_t *lo, int64_t *hi,
                    int *labelled)
{
    gr_panel *p = cs->p;
    *iv = NULL;
    if (gr_columns_get(cs, name)) return GR_OK;
    int rc = gr_panel_column_int(p, name, iv);
    if (rc || !*iv) return rc;
    int nlab = 0;
    *labelled = gr_panel_labels(p, name, &nlab) != NULL;  /* then code -1 means missing */
    int64_t l = INT64_MAX, h = INT64_MIN;
    for (int64_t i = 0; i < p->nrows; i++) {
        if (*labelled && (*iv)[i] < 0) continue;
        if ((*iv)[i] < l) l = (*iv)[i];
        if ((*iv)[i] > h) h = (*iv)[i];
    }
    MPI_Allreduce(MPI_IN_PLACE, &l, 1, MPI_INT64_T, MPI_MIN, comm);
    MPI_Allreduce(MPI_IN_PLACE, &h, 1, MPI_INT64_T, MPI_MAX, comm);
    *lo = l;
    *hi = h;
    return GR_OK;
}

/* Codes of one row-level part: a loaded column, an integer dataset read as integers, or a column read
 * as doubles. With iv given (from int_part), codes those values and frees them. */
static int row_part_codes(MPI_Comm comm, gr_columns *cs, const char *name, int32_t *iv, int64_t lo, int64_t hi,
                          int labelled, int32_t *code, int64_t *ncodes)
{
    gr_panel *p = cs->p;
    int64_t n = p->nrows;
    int rc = GR_OK;
    if (!iv) {
        const double *loaded = gr_columns_get(cs, name);
        if (loaded) return gr_codes_from_keys(comm, n, loaded, code, ncodes);
        double *v = NULL;
        rc = gr_agree(comm, gr_panel_column(p, name, &v));
        if (!rc) rc = gr_codes_from_keys(comm, n, v, code, ncodes);
        free(v);
        return rc;
    }
    int64_t total = sum64(comm, n);
    if (lo > hi) {  /* nothing but missing values */
        for (int64_t i = 0; i < n; i++) code[i] = -1;
        *ncodes = 0;
    } else if (range_is_direct(hi - lo + 1, total)) {
        for (int64_t i = 0; i < n; i++) code[i] = (labelled && iv[i] < 0) ? -1 : (int32_t)(iv[i] - lo);
        *ncodes = hi - lo + 1;
    } else {
        int64_t *k64 = gr_malloc((size_t)(n ? n : 1), sizeof *k64);
        for (int64_t i = 0; i < n; i++) k64[i] = (labelled && iv[i] < 0) ? MISSING_KEY : iv[i];
        rc = dense_by_sort(comm, n, k64, code, ncodes);
        free(k64);
    }
    free(iv);
    return rc;
}

/* Collective. Codes of the pair-level parts of vars combined into out[p->nrows], *have = 1; *have stays 0 when
 * there are none. Each rank's pairs table may hold only the pairs of its rows (gr_panel_open_local), so the codes
 * are numbered over all ranks' pairs (the same key gets the same code on every rank). */
static int pair_parts_codes(MPI_Comm comm, gr_panel *p, int nvars, char *const *vars, int32_t *out, int64_t *ncodes,
                            int *have)
{
    int64_t np = p->pairs.nrows, npc = 1;
    int32_t *pc = NULL, *tmp = NULL;
    double *v = NULL;
    int rc = GR_OK;
    for (int q = 0; q < nvars; q++) {
        if (!gr_panel_pair_level(p, vars[q])) continue;
        GR_TRY(gr_agree(comm, gr_panel_pair_values(p, vars[q], &v)));
        if (!pc) {
            pc = gr_malloc((size_t)(np ? np : 1), sizeof *pc);
            tmp = gr_malloc((size_t)(np ? np : 1), sizeof *tmp);
            for (int64_t g = 0; g < np; g++) pc[g] = 0;
        }
        int64_t nq = 0;
        GR_TRY(gr_codes_from_keys(comm, np, v, tmp, &nq));
        GR_TRY(gr_codes_combine(comm, np, pc, &npc, tmp, nq));
        free(v);
        v = NULL;
    }
    if (pc) {
        GR_TRY(gr_codes_dense(comm, np, pc, npc, pc, &npc));
        for (int64_t i = 0; i < p->nrows; i++) out[i] = pc[p->pair[i]];
        *ncodes = npc;
        *have = 1;
    }
fail:
    free(v);
    free(pc);
    free(tmp);
    return rc;
}

/* Collective. Fold the row-level part vars[q] into out (codes so far, if *have) or start them. */
static int row_part_fold(MPI_Comm comm, gr_columns *cs, const char *var, int32_t *out, int64_t *ncodes, int *have,
                         int32_t **part)
{
    int64_t n = cs->p->nrows;
    int32_t *iv = NULL;
    int64_t lo = 0, hi = -1;
    int labelled = 0;
    GR_CALL(int_part(comm, cs, var, &iv, &lo, &hi, &labelled));
    if (!*have) {
        *have = 1;
        return row_part_codes(comm, cs, var, iv, lo, hi, labelled, out, ncodes);
    }
    int64_t R = hi - lo + 1;
    /* iv, lo and hi are the same kind on every rank (lo, hi reduced), so all ranks take the same branch
     * and sum64 is called by all or none */
    if (iv && lo <= hi && range_is_direct(R, sum64(comm, n)) && *ncodes * R <= INT32_MAX) {
        /* integers in a small range fold straight into the codes, in one pass */
        const int32_t m = (int32_t)R, l = (int32_t)lo;
        for (int64_t i = 0; i < n; i++)
            out[i] = (out[i] < 0 || (labelled && iv[i] < 0)) ? -1 : out[i] * m + (iv[i] - l);
        *ncodes *= R;
        free(iv);
        return GR_OK;
    }
    if (!*part) *part = gr_malloc((size_t)(n ? n : 1), sizeof **part);
    int64_t nq = 0;
    GR_CALL(row_part_codes(comm, cs, var, iv, lo, hi, labelled, *part, &nq));
    return gr_codes_combine(comm, n, out, ncodes, *part, nq);
}

int gr_columns_codes(MPI_Comm comm, gr_columns *cs, int nvars, char *const *vars, int32_t *out, int64_t *ncodes)
{
    gr_panel *p = cs->p;
    int have = 0;
    int32_t *part = NULL;
    /* the pair-level parts, combined on the pairs table (each rank's pairs; codes numbered over all ranks) */
    int rc = gr_agree(comm, pair_parts_codes(comm, p, nvars, vars, out, ncodes, &have));
    /* the row-level parts, folded in one at a time; each step's collectives agree on their status */
    for (int q = 0; q < nvars && !rc; q++)
        if (!gr_panel_pair_level(p, vars[q])) rc = row_part_fold(comm, cs, vars[q], out, ncodes, &have, &part);
    free(part);
    if (!rc && *ncodes > BITMAP_MAX) rc = gr_codes_dense(comm, p->nrows, out, *ncodes, out, ncodes);
    return gr_agree(comm, rc);
}

int gr_fe_from_codes(MPI_Comm comm, int nfe, int64_t n, int32_t **codes, const int64_t *ncodes, char *const *names,
                     int take, gr_fe *fe)
{
    return gr_fe_from_codes_pre(comm, nfe, n, codes, ncodes, names, take, NULL, fe);
}

static void *dup_n(const void *src, int64_t n, size_t size)
{
    void *d = gr_malloc((size_t)(n ? n : 1), size);
    if (n) memcpy(d, src, (size_t)n * size);
    return d;
}

int gr_fe_from_codes_pre(MPI_Comm comm, int nfe, int64_t n, int32_t **codes, const int64_t *ncodes,
                         char *const *names, int take, const gr_fe_levels *pre, gr_fe *fe)
{
    memset(fe, 0, sizeof *fe);
    fe->comm = comm;
    fe->nfe = nfe;
    fe->n = n;
    fe->id = gr_calloc((size_t)(nfe ? nfe : 1), sizeof *fe->id);
    fe->nlevels = gr_calloc((size_t)(nfe ? nfe : 1), sizeof *fe->nlevels);
    fe->count = gr_calloc((size_t)(nfe ? nfe : 1), sizeof *fe->count);
    fe->local_only = gr_calloc((size_t)(nfe ? nfe : 1), sizeof *fe->local_only);
    fe->names = gr_calloc((size_t)(nfe ? nfe : 1), sizeof *fe->names);
    for (int k = 0; k < nfe; k++) fe->names[k] = gr_strdup(names[k]);
    for (int k = 0; k < nfe; k++) {
        if (pre && pre[k].id) {  /* made before on these rows: copies */
            fe->id[k] = dup_n(pre[k].id, n, sizeof *fe->id[k]);
            fe->count[k] = dup_n(pre[k].count, pre[k].nlevels, sizeof *fe->count[k]);
            fe->nlevels[k] = pre[k].nlevels;
            fe->local_only[k] = pre[k].local_only;
            continue;
        }
        int32_t *id = take ? codes[k] : gr_malloc((size_t)(n ? n : 1), sizeof *id);
        const int32_t *code = take ? id : codes[k];
        if (take) codes[k] = NULL;
        fe->id[k] = id;
        /* the counts below are global (the same on every rank): a count that does not fit fails on all
         * ranks alike, before the reduction */
        if (ncodes[k] > BITMAP_MAX) {  /* wide codes: number them by sorting, then count */
            GR_CALL(gr_codes_dense(comm, n, code, ncodes[k], id, &fe->nlevels[k]));
            int64_t L = fe->nlevels[k];
            int Li;
            GR_CALL(gr_int_count(L, names[k], &Li));
            double *cnt = fe->count[k] = gr_calloc((size_t)(L ? L : 1), sizeof *cnt);
            for (int64_t i = 0; i < n; i++) cnt[id[i]] += 1.0;
            MPI_Allreduce(MPI_IN_PLACE, cnt, Li, MPI_DOUBLE, MPI_SUM, comm);
        } else {
            /* one pass: rows per code over all ranks; the codes with rows are the levels, in code order */
            int64_t C = ncodes[k], L = 0;
            int Ci;
            GR_CALL(gr_int_count(C, names[k], &Ci));
            double *cnt = gr_calloc((size_t)(C ? C : 1), sizeof *cnt);
            /* rows of a level often come in runs: count a run, then add it (no chain of increments of
             * one count through memory) */
            int64_t run = 0;
            int32_t cur = n > 0 ? code[0] : 0;
            for (int64_t i = 0; i < n; i++) {
                if (code[i] != cur) { cnt[cur] += (double)run; cur = code[i]; run = 0; }
                run++;
            }
            if (n > 0) cnt[cur] += (double)run;
            MPI_Allreduce(MPI_IN_PLACE, cnt, Ci, MPI_DOUBLE, MPI_SUM, comm);
            for (int64_t c = 0; c < C; c++) L += cnt[c] > 0;
            if (L == C) {  /* every code occurs: the codes are the ids */
                if (id != code) memcpy(id, code, (size_t)n * sizeof *id);
            } else {
                int32_t *map = gr_malloc((size_t)(C ? C : 1), sizeof *map);
                for (int64_t c = 0, g = 0; c < C; c++) {
                    map[c] = cnt[c] > 0 ? (int32_t)g : -1;
                    if (cnt[c] > 0) cnt[g++] = cnt[c];
                }
                for (int64_t i = 0; i < n; i++) id[i] = map[code[i]];
                free(map);
            }
            fe->nlevels[k] = L;
            fe->count[k] = cnt;
        }
        fe->local_only[k] = gr_ids_local_only(comm, n, id, fe->nlevels[k]);
    }
    return GR_OK;
}
