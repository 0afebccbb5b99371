/* fuzz_formula.c: libFuzzer target for model formulas (src/formula.c). The input is the formula text.
 * Properties checked on every input:
 *   - it parses, or fails with GR_EINPUT, *f zeroed, and a message "formula: at character N: ..."
 *     (1 <= N <= len + 1);
 *   - a parsed formula has an outcome, and a regressor, intercept or fixed effect; no intercept with
 *     fixed effects; labels and expressions are all set, each outcome label is its expression's text;
 *   - gr_formula_columns lists distinct non-empty names that include every column of every outcome,
 *     factor and fixed effect;
 *   - the formula rebuilt from its labels ("c(y1, y2) ~ t1 + t2 - 1 | fe1 + fe2") parses to the same
 *     outcomes, terms, intercept and fixed effects (round trip). */
#include "fuzz_util.h"
#include "formula.h"
#include "gr.h"
#include <stdint.h>

typedef struct { char *s; size_t n, cap; } sbuf;

static void sb_add(sbuf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) {
        b->cap = 2 * (b->n + l + 1);
        b->s = realloc(b->s, b->cap);
        if (!b->s) abort();
    }
    memcpy(b->s + b->n, s, l + 1);
    b->n += l;
}

static int has_name(char **names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return 1;
    return 0;
}

static void check_columns(const gr_formula *f)
{
    char **names;
    int n;
    FUZZ_CHECK(gr_formula_columns(f, &names, &n) == GR_OK, "columns");
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(names[i][0] != 0, "empty column name");
        for (int j = 0; j < i; j++) FUZZ_CHECK(strcmp(names[i], names[j]) != 0, "'%.200s' listed twice", names[i]);
    }
    for (int i = 0; i < f->ny; i++)
        for (int k = 0; k < gr_expr_ncolumns(f->y[i]); k++)
            FUZZ_CHECK(has_name(names, n, gr_expr_column(f->y[i], k)), "outcome column missing");
    for (int i = 0; i < f->nx; i++)
        for (int j = 0; j < f->x[i].nfactors; j++)
            for (int k = 0; k < gr_expr_ncolumns(f->x[i].factors[j]); k++)
                FUZZ_CHECK(has_name(names, n, gr_expr_column(f->x[i].factors[j], k)), "regressor column missing");
    for (int i = 0; i < f->nfe; i++)
        for (int j = 0; j < f->fe[i].nvars; j++)
            FUZZ_CHECK(has_name(names, n, f->fe[i].vars[j]), "fixed-effect column missing");
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static void check_shape(const gr_formula *f)
{
    FUZZ_CHECK(f->ny >= 1, "no outcome");
    FUZZ_CHECK(f->nx > 0 || f->intercept || f->nfe > 0, "empty model accepted");
    FUZZ_CHECK(!(f->intercept && f->nfe > 0), "intercept with fixed effects");
    for (int i = 0; i < f->ny; i++)
        FUZZ_CHECK(f->y[i] && f->ylabel[i] && strcmp(f->ylabel[i], gr_expr_text(f->y[i])) == 0, "outcome %d", i);
    for (int i = 0; i < f->nx; i++) {
        FUZZ_CHECK(f->x[i].nfactors >= 1 && f->x[i].label && f->x[i].label[0], "term %d", i);
        for (int j = 0; j < f->x[i].nfactors; j++) FUZZ_CHECK(f->x[i].factors[j] != NULL, "factor");
    }
    for (int i = 0; i < f->nfe; i++) FUZZ_CHECK(f->fe[i].nvars >= 1 && f->fe[i].label, "fixed effect %d", i);
}

/* "c(y1, y2) ~ t1 + t2 [+ 1 | - 1 | 0] | fe1 + fe2" from the parsed labels. */
static char *rebuild(const gr_formula *f)
{
    sbuf b = {0};
    sb_add(&b, f->ny > 1 ? "c(" : "");
    for (int i = 0; i < f->ny; i++) {
        if (i) sb_add(&b, ", ");
        sb_add(&b, f->ylabel[i]);
    }
    sb_add(&b, f->ny > 1 ? ") ~ " : " ~ ");
    for (int i = 0; i < f->nx; i++) {
        if (i) sb_add(&b, " + ");
        sb_add(&b, f->x[i].label);
    }
    if (f->nx == 0) sb_add(&b, f->intercept ? "1" : "0");
    else if (!f->intercept && f->nfe == 0) sb_add(&b, " - 1");
    for (int i = 0; i < f->nfe; i++) {
        sb_add(&b, i ? " + " : " | ");
        sb_add(&b, f->fe[i].label);
    }
    return b.s;
}

static void check_same(const gr_formula *a, const gr_formula *b, const char *text)
{
    FUZZ_CHECK(a->ny == b->ny && a->nx == b->nx && a->nfe == b->nfe && a->intercept == b->intercept,
               "'%.200s': shape differs (ny %d/%d nx %d/%d nfe %d/%d intercept %d/%d)", text, a->ny, b->ny, a->nx, b->nx,
               a->nfe, b->nfe, a->intercept, b->intercept);
    for (int i = 0; i < a->ny; i++) FUZZ_CHECK(strcmp(a->ylabel[i], b->ylabel[i]) == 0, "'%.200s': outcome %d", text, i);
    for (int i = 0; i < a->nx; i++) {
        FUZZ_CHECK(strcmp(a->x[i].label, b->x[i].label) == 0, "'%.200s': term %d '%.200s' vs '%.200s'", text, i, a->x[i].label,
                   b->x[i].label);
        FUZZ_CHECK(a->x[i].nfactors == b->x[i].nfactors, "'%.200s': factors of term %d", text, i);
    }
    for (int i = 0; i < a->nfe; i++) FUZZ_CHECK(strcmp(a->fe[i].label, b->fe[i].label) == 0, "'%.200s': fe %d", text, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
    char *text = fuzz_cstr(buf, size);
    size_t len = strlen(text);
    gr_formula f;
    gr_clear_error();
    int st = gr_formula_parse(text, &f);
    if (st != GR_OK) {
        FUZZ_CHECK(st == GR_EINPUT, "status %d", st);
        FUZZ_CHECK(f.ny == 0 && f.nx == 0 && f.nfe == 0 && !f.y && !f.x && !f.fe, "not zeroed on failure");
        const char *msg = gr_errmsg();
        if (!strstr(msg, "longer than")) {
            int pos = fuzz_err_pos(msg, "formula");
            FUZZ_CHECK(pos >= 1 && pos <= (int)len + 1, "bad position in '%.200s' (len %zu)", msg, len);
        }
        gr_formula_free(&f); /* safe on a zeroed formula */
        free(text);
        return 0;
    }
    check_shape(&f);
    check_columns(&f);
    char *again = rebuild(&f);
    gr_formula g;
    gr_clear_error();
    st = gr_formula_parse(again, &g);
    FUZZ_CHECK(st == GR_OK, "'%.200s' rebuilt as '%.200s' does not parse: %s", text, again, gr_errmsg());
    check_same(&f, &g, again);
    gr_formula_free(&g);
    free(again);
    gr_formula_free(&f);
    FUZZ_CHECK(f.ny == 0 && f.y == NULL, "not zeroed by free");
    free(text);
    return 0;
}
