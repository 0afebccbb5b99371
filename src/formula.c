/* formula.c: parse fixest-style model formulas into outcomes, regressor terms and fixed effects.
 * The formula level (~ | + - * : ^ c() I()) is scanned here; every outcome and factor is handed to the
 * expression parser with its offset so that positions in messages refer to the whole formula. */
#include "formula.h"
#include "gr.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE "formula"
#define MAX_CROSS 10  /* a*b*...: at most 2^10 - 1 terms */
#define MAX_FORMULA (1 << 20)  /* characters: positions in messages and expression offsets are ints */

typedef struct {
    const char *s;
    size_t n;
} fctx;

/* A position in the formula as an int: at most MAX_FORMULA (checked in gr_formula_parse). */
static int posi(size_t p) { return (int)p; }

static int ferr(const fctx *F, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int ferr(const fctx *F, size_t pos, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pos >= F->n)
        return gr_fail(GR_EINPUT, WHERE, "at character %d: %s (at end of formula)", posi(pos) + 1, msg);
    size_t l = F->n - pos;
    if (l > 20) l = 20;
    return gr_fail(GR_EINPUT, WHERE, "at character %d: %s near '%.*s'", posi(pos) + 1, msg, posi(l), F->s + pos);
}

static int is_id0(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static int is_id(int c) { return is_id0(c) || (c >= '0' && c <= '9') || c == '.'; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_dig(int c) { return c >= '0' && c <= '9'; }

static size_t skip_ws(const fctx *F, size_t p, size_t end)
{
    while (p < end && is_ws((unsigned char)F->s[p])) p++;
    return p;
}

/* Check parentheses and quotes over the whole formula. */
static int check_balance(const fctx *F)
{
    size_t *open = gr_malloc(F->n + 1, sizeof *open);
    size_t depth = 0;
    int st = GR_OK;
    for (size_t i = 0; i < F->n && st == GR_OK; i++) {
        char c = F->s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < F->n && F->s[j] != '"') j++;
            if (j >= F->n) st = ferr(F, i, "unterminated string");
            i = j;
        } else if (c == '(') {
            open[depth++] = i;
        } else if (c == ')') {
            if (depth == 0) st = ferr(F, i, "unbalanced parentheses: ')' without '('");
            else depth--;
        }
    }
    if (st == GR_OK && depth > 0) st = ferr(F, open[depth - 1], "unbalanced parentheses: '(' is never closed");
    free(open);
    return st;
}

/* First position in [from, to) holding character c at parenthesis depth 0 outside strings, or `to`.
 * A '|' that is half of the expression operator "||" (an outcome "a || b ~ x") is not a '|'.
 * Assumes [from, to) starts at depth 0 (balance checked). */
static size_t find_top(const fctx *F, size_t from, size_t to, char c)
{
    int depth = 0;
    for (size_t i = from; i < to; i++) {
        char d = F->s[i];
        if (d == '"') {
            i++;
            while (i < to && F->s[i] != '"') i++;
        } else if (d == '|' && i + 1 < to && F->s[i + 1] == '|') {
            i++;
        } else if (d == c && depth == 0) return i;
        else if (d == '(') depth++;
        else if (d == ')') depth--;
    }
    return to;
}

static size_t match_paren(const fctx *F, size_t open, size_t to) { return find_top(F, open + 1, to, ')'); }

static void trim(const fctx *F, size_t *a, size_t *b)
{
    while (*a < *b && is_ws((unsigned char)F->s[*a])) (*a)++;
    while (*b > *a && is_ws((unsigned char)F->s[*b - 1])) (*b)--;
}

/* ---------------------------------------------------------------- outcomes */

static int add_outcome(const fctx *F, gr_formula *f, size_t a, size_t b, size_t errpos)
{
    trim(F, &a, &b);
    if (a == b) return ferr(F, errpos, "empty outcome");
    gr_expr *e;
    GR_CALL(gr_expr_parse_span(F->s + a, b - a, posi(a), WHERE, &e));
    for (int k = 0; k < f->ny; k++)
        if (strcmp(f->ylabel[k], gr_expr_text(e)) == 0) {
            int st = ferr(F, a, "duplicate outcome '%s'", gr_expr_text(e));
            gr_expr_free(e);
            return st;
        }
    f->y = gr_realloc(f->y, (size_t)f->ny + 1, sizeof *f->y);
    f->ylabel = gr_realloc(f->ylabel, (size_t)f->ny + 1, sizeof *f->ylabel);
    f->y[f->ny] = e;
    f->ylabel[f->ny] = gr_strdup(gr_expr_text(e));
    f->ny++;
    return GR_OK;
}

static int parse_lhs(const fctx *F, gr_formula *f, size_t a, size_t b, size_t tilde)
{
    trim(F, &a, &b);
    if (a == b) return ferr(F, tilde, "empty outcome before '~'");
    size_t p = a;
    if (F->s[p] == 'c') {
        size_t q = skip_ws(F, p + 1, b);
        if (q < b && F->s[q] == '(' && match_paren(F, q, b) == b - 1) {
            size_t from = q + 1, close = b - 1;
            if (skip_ws(F, from, close) == close) return ferr(F, q, "empty outcome list c()");
            for (;;) {
                size_t comma = find_top(F, from, close, ',');
                GR_CALL(add_outcome(F, f, from, comma, comma < close ? comma : from));
                if (comma >= close) break;
                from = comma + 1;
                if (skip_ws(F, from, close) == close) return ferr(F, comma, "empty outcome after ','");
            }
            return GR_OK;
        }
    }
    return add_outcome(F, f, a, b, a);
}

/* ---------------------------------------------------------------- regressors */

typedef struct {
    size_t start, len;  /* span given to the expression parser */
    size_t pos;         /* where the factor starts, for messages */
    char *label;
} factor;

typedef struct {
    int n;
    factor *f;
} product;

static void product_free(product *p)
{
    for (int i = 0; i < p->n; i++) free(p->f[i].label);
    free(p->f);
    p->n = 0;
    p->f = NULL;
}

static int parse_factor(const fctx *F, size_t *pp, size_t end, char prevop, factor *out)
{
    size_t p = skip_ws(F, *pp, end);
    memset(out, 0, sizeof *out);
    out->pos = p;
    if (p >= end || strchr("+-*:^|~)", F->s[p])) {
        if (prevop == '~') return ferr(F, p, "expected regressors after '~'");
        return ferr(F, p, "expected a term after '%c'", prevop);
    }
    int c = (unsigned char)F->s[p];
    if (is_dig(c) || c == '.')
        return ferr(F, p, "a number can only stand alone as a term (0 or 1 for the intercept)");
    if (c == '(')
        return ferr(F, p, "parentheses around regressors are not supported; use I(...) for arithmetic");
    if (!is_id0(c)) return ferr(F, p, "expected a column name, function call or I(...)");
    size_t q = p;
    while (q < end && is_id((unsigned char)F->s[q])) q++;
    size_t idlen = q - p;
    size_t r = skip_ws(F, q, end);
    int isI = 0;
    gr_expr *e = NULL;
    if (r < end && F->s[r] == '(') {
        size_t close = match_paren(F, r, end);
        if (close >= end) return ferr(F, r, "unbalanced parentheses: '(' is never closed");
        if (idlen == 1 && F->s[p] == 'I') {
            isI = 1;
            if (skip_ws(F, r + 1, close) == close) return ferr(F, r, "empty I()");
            out->start = r + 1;
            out->len = close - r - 1;
        } else {
            out->start = p;
            out->len = close + 1 - p;
        }
        q = close + 1;
    } else {
        out->start = p;
        out->len = idlen;
    }
    GR_CALL(gr_expr_parse_span(F->s + out->start, out->len, posi(out->start), WHERE, &e));
    if (isI) {
        size_t l = strlen(gr_expr_text(e)) + 4;
        out->label = gr_malloc(l, 1);
        snprintf(out->label, l, "I(%s)", gr_expr_text(e));
    } else {
        out->label = gr_strdup(gr_expr_text(e));
    }
    gr_expr_free(e);
    *pp = q;
    return GR_OK;
}

static int parse_product(const fctx *F, size_t *pp, size_t end, char prevop, product *pr)
{
    memset(pr, 0, sizeof *pr);
    char op = prevop;
    for (;;) {
        factor fa;
        int st = parse_factor(F, pp, end, op, &fa);
        if (st) { product_free(pr); return st; }
        for (int i = 0; i < pr->n; i++)
            if (strcmp(pr->f[i].label, fa.label) == 0) {
                st = ferr(F, fa.pos, "factor '%s' repeated in a term", fa.label);
                free(fa.label);
                product_free(pr);
                return st;
            }
        pr->f = gr_realloc(pr->f, (size_t)pr->n + 1, sizeof *pr->f);
        pr->f[pr->n++] = fa;
        size_t p = skip_ws(F, *pp, end);
        if (p < end && F->s[p] == ':') { *pp = p + 1; op = ':'; continue; }
        return GR_OK;
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Order-independent identity of a term (x:z == z:x). */
static char *term_key(char **labels, int n)
{
    char **s = gr_malloc((size_t)n, sizeof *s);
    size_t len = 1;
    for (int i = 0; i < n; i++) { s[i] = labels[i]; len += strlen(labels[i]) + 1; }
    qsort(s, (size_t)n, sizeof *s, cmp_str);
    char *k = gr_malloc(len, 1);
    k[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strcat(k, ":");
        strcat(k, s[i]);
    }
    free(s);
    return k;
}

typedef struct {
    char **keys;
    int n;
} keyset;

static int keyset_has(const keyset *k, const char *key, int from)
{
    for (int i = from; i < k->n; i++)
        if (strcmp(k->keys[i], key) == 0) return 1;
    return 0;
}

/* Append the term made of the given factors (descriptors re-parsed into owned expressions). */
static void add_term(const fctx *F, gr_formula *f, factor **fs, int nf)
{
    gr_term t;
    t.nfactors = nf;
    t.factors = gr_malloc((size_t)nf, sizeof *t.factors);
    size_t len = 1;
    for (int i = 0; i < nf; i++) {
        if (gr_expr_parse_span(F->s + fs[i]->start, fs[i]->len, posi(fs[i]->start), WHERE, &t.factors[i]))
            abort();  /* parsed successfully before: cannot happen */
        len += strlen(fs[i]->label) + 1;
    }
    t.label = gr_malloc(len, 1);
    t.label[0] = 0;
    for (int i = 0; i < nf; i++) {
        if (i) strcat(t.label, ":");
        strcat(t.label, fs[i]->label);
    }
    f->x = gr_realloc(f->x, (size_t)f->nx + 1, sizeof *f->x);
    f->x[f->nx++] = t;
}

/* Expand p[0]*p[1]*...: every non-empty subset of the products, by degree then R's order. */
static int expand_cross(const fctx *F, gr_formula *f, keyset *ks, product *p, int np, size_t pos)
{
    int first_new = ks->n;
    int total = 0;
    for (int i = 0; i < np; i++) total += p[i].n;
    factor **fs = gr_malloc((size_t)total, sizeof *fs);
    char **labels = gr_malloc((size_t)total, sizeof *labels);
    int st = GR_OK;
    for (int deg = 1; deg <= np && st == GR_OK; deg++) {
        for (unsigned mask = 1; mask < (1u << np) && st == GR_OK; mask++) {
            if (__builtin_popcount(mask) != deg) continue;
            int nf = 0;
            for (int i = 0; i < np; i++) {
                if (!(mask & (1u << i))) continue;
                for (int j = 0; j < p[i].n; j++) {
                    int dup = 0;
                    for (int k = 0; k < nf; k++)
                        if (strcmp(labels[k], p[i].f[j].label) == 0) dup = 1;
                    if (dup) continue;
                    fs[nf] = &p[i].f[j];
                    labels[nf] = p[i].f[j].label;
                    nf++;
                }
            }
            char *key = term_key(labels, nf);
            if (keyset_has(ks, key, first_new)) {  /* e.g. x*x:z gives x:z twice */
                free(key);
                continue;
            }
            if (keyset_has(ks, key, 0)) {
                st = ferr(F, pos, "duplicate term '%s'", key);
                free(key);
                break;
            }
            ks->keys = gr_realloc(ks->keys, (size_t)ks->n + 1, sizeof *ks->keys);
            ks->keys[ks->n++] = key;
            add_term(F, f, fs, nf);
        }
    }
    free(fs);
    free(labels);
    return st;
}

static int parse_rhs(const fctx *F, gr_formula *f, size_t start, size_t end)
{
    keyset ks = {NULL, 0};
    int st = GR_OK, intercept = 1;
    size_t p = start;
    char prevop = '~';
    int sign = 1;
    while (st == GR_OK) {
        p = skip_ws(F, p, end);
        if (prevop == '~' && p < end && (F->s[p] == '-' || F->s[p] == '+')) {  /* y ~ -1 + x */
            sign = F->s[p] == '-' ? -1 : 1;
            prevop = F->s[p];
            p = skip_ws(F, p + 1, end);
        }
        size_t tpos = p;
        if (p < end && (is_dig((unsigned char)F->s[p]) || F->s[p] == '.')) {
            size_t q = p;
            while (q < end && (is_dig((unsigned char)F->s[q]) || F->s[q] == '.')) q++;
            char *buf = gr_malloc(q - p + 1, 1);  /* all of it: "000...01" cut short would read 0 */
            memcpy(buf, F->s + p, q - p);
            buf[q - p] = 0;
            double v;
            int bad = gr_parse_double(buf, &v) != 0;
            free(buf);
            if (bad || (v != 0 && v != 1)) {
                st = ferr(F, p, "a number can only stand alone as a term (0 or 1 for the intercept)");
                break;
            }
            size_t r = skip_ws(F, q, end);
            if (r < end && F->s[r] != '+' && F->s[r] != '-') {
                st = ferr(F, r, "a number can only stand alone as a term (0 or 1 for the intercept)");
                break;
            }
            intercept = (v == 1) == (sign > 0);  /* +1, -0: constant; 0, -1: none */
            p = q;
        } else {
            if (sign < 0) {
                if (p >= end) st = ferr(F, p, "expected a term after '-'");
                else st = ferr(F, p, "only '- 1' is supported after '-' (removing other terms is not)");
                break;
            }
            product prods[MAX_CROSS + 1];
            int np = 0;
            char op = prevop;
            for (;;) {
                if (np == MAX_CROSS) {
                    st = ferr(F, p, "more than %d products joined by '*'", MAX_CROSS);
                    break;
                }
                st = parse_product(F, &p, end, op, &prods[np]);
                if (st) break;
                np++;
                size_t r = skip_ws(F, p, end);
                if (r < end && F->s[r] == '*') { p = r + 1; op = '*'; continue; }
                break;
            }
            if (st == GR_OK) st = expand_cross(F, f, &ks, prods, np, tpos);
            for (int i = 0; i < np; i++) product_free(&prods[i]);
            if (st) break;
        }
        p = skip_ws(F, p, end);
        if (p >= end) break;
        char c = F->s[p];
        if (c == '+' || c == '-') {
            sign = c == '+' ? 1 : -1;
            prevop = c;
            p++;
            continue;
        }
        if (c == '^')
            st = ferr(F, p, "'^' between regressors is not supported; write I(x^2) for a power");
        else
            st = ferr(F, p, "expected '+', '-', ':' or '*' between regressors");
    }
    for (int i = 0; i < ks.n; i++) free(ks.keys[i]);
    free(ks.keys);
    f->intercept = intercept;
    return st;
}

/* ---------------------------------------------------------------- fixed effects */

static int parse_fe(const fctx *F, gr_formula *f, size_t bar, size_t end)
{
    size_t p = skip_ws(F, bar + 1, end);
    if (p >= end) return ferr(F, bar, "empty fixed effect after '|'");
    char prevop = '|';
    for (;;) {
        p = skip_ws(F, p, end);
        if (p >= end || F->s[p] == '+' || F->s[p] == '^')
            return ferr(F, p, "empty fixed effect: expected a column name after '%c'", prevop);
        gr_fe_dim d = {0, NULL, NULL};
        size_t dpos = p;
        int st = GR_OK;
        for (;;) {
            p = skip_ws(F, p, end);
            if (p >= end || !is_id0((unsigned char)F->s[p])) {
                if (d.nvars > 0 && (p >= end || F->s[p] == '+' || F->s[p] == '^'))
                    st = ferr(F, p, "expected a column name after '^'");
                else
                    st = ferr(F, p, "fixed effects must be column names joined by '^' and '+'");
                break;
            }
            size_t q = p;
            while (q < end && is_id((unsigned char)F->s[q])) q++;
            size_t r = skip_ws(F, q, end);
            if (r < end && F->s[r] == '(') {
                st = ferr(F, p, "fixed effects must be column names (no functions or expressions)");
                break;
            }
            char *name = gr_malloc(q - p + 1, 1);
            memcpy(name, F->s + p, q - p);
            name[q - p] = 0;
            for (int i = 0; i < d.nvars && st == GR_OK; i++)
                if (strcmp(d.vars[i], name) == 0) st = ferr(F, p, "column '%s' repeated in a fixed effect", name);
            if (st) { free(name); break; }
            d.vars = gr_realloc(d.vars, (size_t)d.nvars + 1, sizeof *d.vars);
            d.vars[d.nvars++] = name;
            p = r;
            if (p < end && F->s[p] == '^') { p++; continue; }
            break;
        }
        if (st == GR_OK) {
            d.label = term_key(d.vars, d.nvars);  /* sorted key first, for the duplicate check */
            for (int i = 0; i < f->nfe && st == GR_OK; i++) {
                char *k = term_key(f->fe[i].vars, f->fe[i].nvars);
                if (strcmp(k, d.label) == 0) st = ferr(F, dpos, "duplicate fixed effect '%s'", f->fe[i].label);
                free(k);
            }
            free(d.label);
            d.label = NULL;
        }
        if (st) {
            for (int i = 0; i < d.nvars; i++) free(d.vars[i]);
            free(d.vars);
            return st;
        }
        size_t len = 1;
        for (int i = 0; i < d.nvars; i++) len += strlen(d.vars[i]) + 1;
        d.label = gr_malloc(len, 1);
        d.label[0] = 0;
        for (int i = 0; i < d.nvars; i++) {
            if (i) strcat(d.label, "^");
            strcat(d.label, d.vars[i]);
        }
        f->fe = gr_realloc(f->fe, (size_t)f->nfe + 1, sizeof *f->fe);
        f->fe[f->nfe++] = d;
        p = skip_ws(F, p, end);
        if (p >= end) return GR_OK;
        if (F->s[p] != '+') return ferr(F, p, "expected '+' or '^' between fixed effects");
        prevop = '+';
        p++;
    }
}

/* ---------------------------------------------------------------- public */

int gr_formula_parse(const char *text, gr_formula *f)
{
    memset(f, 0, sizeof *f);
    if (!text) return gr_fail(GR_EINPUT, WHERE, "no formula given");
    fctx F = {text, strlen(text)};
    if (F.n > MAX_FORMULA) return gr_fail(GR_EINPUT, WHERE, "formula longer than %d characters", MAX_FORMULA);
    GR_CALL(check_balance(&F));
    size_t tilde = find_top(&F, 0, F.n, '~');
    if (tilde >= F.n) return ferr(&F, F.n, "missing '~' between outcome and regressors");
    size_t tilde2 = find_top(&F, tilde + 1, F.n, '~');
    if (tilde2 < F.n) return ferr(&F, tilde2, "a formula has only one '~'");
    size_t bar = find_top(&F, tilde + 1, F.n, '|');
    if (bar < F.n) {
        size_t bar2 = find_top(&F, bar + 1, F.n, '|');
        if (bar2 < F.n) return ferr(&F, bar2, "only one '|' is supported (fixed effects; no IV part)");
    }
    size_t bar0 = find_top(&F, 0, tilde, '|');
    if (bar0 < tilde) return ferr(&F, bar0, "'|' must follow the regressors");
    int rc = GR_OK;
    GR_TRY(parse_lhs(&F, f, 0, tilde, tilde));
    GR_TRY(parse_rhs(&F, f, tilde + 1, bar));
    if (bar < F.n) GR_TRY(parse_fe(&F, f, bar, F.n));
    if (f->nfe > 0) f->intercept = 0;
    if (f->nx == 0 && !f->intercept && f->nfe == 0)
        rc = ferr(&F, skip_ws(&F, tilde + 1, F.n), "the model has no regressors, intercept or fixed effects");
fail:
    if (rc) gr_formula_free(f);
    return rc;
}

void gr_formula_free(gr_formula *f)
{
    for (int i = 0; i < f->ny; i++) {
        gr_expr_free(f->y[i]);
        free(f->ylabel[i]);
    }
    free(f->y);
    free(f->ylabel);
    for (int i = 0; i < f->nx; i++) {
        for (int j = 0; j < f->x[i].nfactors; j++) gr_expr_free(f->x[i].factors[j]);
        free(f->x[i].factors);
        free(f->x[i].label);
    }
    free(f->x);
    for (int i = 0; i < f->nfe; i++) {
        for (int j = 0; j < f->fe[i].nvars; j++) free(f->fe[i].vars[j]);
        free(f->fe[i].vars);
        free(f->fe[i].label);
    }
    free(f->fe);
    memset(f, 0, sizeof *f);
}

static void add_name(char ***names, int *n, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (strcmp((*names)[i], s) == 0) return;
    *names = gr_realloc(*names, (size_t)*n + 1, sizeof **names);
    (*names)[(*n)++] = gr_strdup(s);
}

int gr_formula_columns(const gr_formula *f, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    for (int i = 0; i < f->ny; i++)
        for (int k = 0; k < gr_expr_ncolumns(f->y[i]); k++) add_name(names, n, gr_expr_column(f->y[i], k));
    for (int i = 0; i < f->nx; i++)
        for (int j = 0; j < f->x[i].nfactors; j++)
            for (int k = 0; k < gr_expr_ncolumns(f->x[i].factors[j]); k++)
                add_name(names, n, gr_expr_column(f->x[i].factors[j], k));
    for (int i = 0; i < f->nfe; i++)
        for (int j = 0; j < f->fe[i].nvars; j++) add_name(names, n, f->fe[i].vars[j]);
    return GR_OK;
}

/* 1 if text has, outside parentheses and quotes, a character that joins or removes terms ('+', '-', '|', '~'):
 * "x - 1" or "x | fe" would parse to the one term x, and is no name of it. */
static int joins_terms(const char *text)
{
    int depth = 0;
    char quote = 0;
    for (const char *c = text; *c; c++) {
        if (quote) { if (*c == quote) quote = 0; continue; }
        if (*c == '"' || *c == '\'') quote = *c;
        else if (*c == '(') depth++;
        else if (*c == ')') depth--;
        else if (depth <= 0 && strchr("+-|~", *c)) return 1;
    }
    return 0;
}

int gr_formula_term_is(const char *name, const char *label)
{
    if (!strcmp(name, label)) return 1;
    if (joins_terms(name)) return 0;
    size_t len = strlen(name) + 8;
    char *text = gr_malloc(len, 1);
    snprintf(text, len, "y ~ %s", name);
    gr_formula f;
    int same = 0, pending = gr_errcode() != GR_OK;  /* an error the caller has recorded stays */
    if (gr_formula_parse(text, &f) == GR_OK) {
        same = f.nx == 1 && f.nfe == 0 && !strcmp(f.x[0].label, label);
        gr_formula_free(&f);
    } else if (!pending) gr_clear_error();  /* not a term: simply no match */
    free(text);
    return same;
}
