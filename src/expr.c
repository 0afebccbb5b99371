/* expr.c: parse row expressions into a syntax tree, fold constants, print the canonical text, and
 * compile to a postfix program evaluated column-at-a-time over blocks of rows. */
#include "expr.h"
#include "gr.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLK 1024
#define MAX_NEST 200      /* bounds the parser's recursion (parentheses, calls, unary operators, '^' chains) */
#define MAX_TEXT 20000    /* bounds the tree depth (left-deep chains) for the recursive passes; applies to the
                           * input and to its canonical text, so that every canonical text parses again */

/* operators (tree node ops and program opcodes share these values) */
enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_AND, OP_OR,
    OP_NEG, OP_NOT, OP_LOG, OP_LOG1P, OP_EXP, OP_SQRT, OP_ABS,
    OP_COL, OP_CONST, OP_IN
};
static const char *const fun_names[] = {"log", "log1p", "exp", "sqrt", "abs"};
#define NFUN 5

/* ---------------------------------------------------------------- scalar semantics */

static inline double bin1(int op, double x, double y)
{
    switch (op) {  /* IEEE arithmetic propagates NaN by itself */
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_DIV: return x / y;
    }
    if (x != x || y != y) return NAN;  /* missing propagates also through pow, comparisons, && and || */
    switch (op) {
    case OP_POW: return y == 2.0 ? x * x : pow(x, y);
    case OP_EQ: return x == y;
    case OP_NE: return x != y;
    case OP_LT: return x < y;
    case OP_LE: return x <= y;
    case OP_GT: return x > y;
    case OP_GE: return x >= y;
    case OP_AND: return (x != 0) && (y != 0);
    case OP_OR: return (x != 0) || (y != 0);
    }
    return NAN;
}

static inline double un1(int op, double x)
{
    switch (op) {
    case OP_NEG: return -x;
    case OP_NOT: return x != x ? NAN : (double)(x == 0);
    case OP_LOG: return log(x);
    case OP_LOG1P: return log1p(x);
    case OP_EXP: return exp(x);
    case OP_SQRT: return sqrt(x);
    case OP_ABS: return fabs(x);
    }
    return NAN;
}

static inline double in1(double x, int n, const double *v)
{
    if (x != x) return NAN;
    for (int j = 0; j < n; j++)
        if (x == v[j]) return 1.0;
    return 0.0;
}

/* ---------------------------------------------------------------- syntax tree */

enum { N_NUM, N_COL, N_STR, N_UN, N_BIN, N_IN };

typedef struct node {
    int kind, op, col, pos;
    int var;                    /* subtree references a column or string (set by mark_vars) */     /* col: index into the column list (N_COL, N_STR, N_IN with strings) */
    double v;
    char *str;                  /* N_STR label; N_NUM source spelling */
    struct node *a, *b;
    int nlist;                  /* N_IN: list values; lstr[j] != NULL for string elements */
    double *list;
    char **lstr;
} node;

typedef struct {
    const char *s;  /* text being parsed */
    size_t len;
    int offset;     /* 0-based position of s[0] in the text the user wrote */
    const char *what;
    size_t pos;     /* scanner position */
    /* current token */
    int tok;
    size_t tstart, tlen;
    double tnum;
    /* arena */
    node **nodes;
    int nnodes, capnodes;
    int nest;       /* current nesting of parentheses, calls and unary operators */
    /* columns */
    char **cols;
    int ncols, capcols;
    int err;
} parser;

enum {
    T_END, T_NUM, T_ID, T_STR, T_LP, T_RP, T_COMMA, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_CARET, T_NOT,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_AND, T_OR, T_BAD
};

static node *node_new(parser *P, int kind, int pos)
{
    if (P->nnodes == P->capnodes) {
        P->capnodes = P->capnodes ? 2 * P->capnodes : 16;
        P->nodes = gr_realloc(P->nodes, (size_t)P->capnodes, sizeof *P->nodes);
    }
    node *n = gr_calloc(1, sizeof *n);
    n->kind = kind;
    n->pos = pos;
    P->nodes[P->nnodes++] = n;
    return n;
}

static void parser_free(parser *P)
{
    for (int i = 0; i < P->nnodes; i++) {
        node *n = P->nodes[i];
        free(n->str);
        free(n->list);
        if (n->lstr)
            for (int j = 0; j < n->nlist; j++) free(n->lstr[j]);
        free(n->lstr);
        free(n);
    }
    free(P->nodes);
    for (int i = 0; i < P->ncols; i++) free(P->cols[i]);
    free(P->cols);
}

static int is_id0(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static int is_id(int c) { return is_id0(c) || (c >= '0' && c <= '9') || c == '.'; }
static int is_dig(int c) { return c >= '0' && c <= '9'; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* A position or length in the text as an int: at most MAX_TEXT (checked in gr_expr_parse_span before
 * any scanning), so the conversion cannot wrap. */
static int posi(size_t p) { return (int)p; }

/* Character number (1-based) of scanner position p in the user's text. */
static int charno(const parser *P, size_t p) { return P->offset + posi(p) + 1; }

/* Record a syntax error at the current token. */
static int perr_at(parser *P, size_t p, size_t plen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int perr_at(parser *P, size_t p, size_t plen, const char *fmt, ...)
{
    if (P->err) return P->err;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p >= P->len || plen == 0)
        P->err = gr_fail(GR_EINPUT, P->what, "at character %d: %s at end of expression", charno(P, p), msg);
    else
        P->err = gr_fail(GR_EINPUT, P->what, "at character %d: %s near '%.*s'", charno(P, p), msg,
                         posi(plen > 24 ? 24 : plen), P->s + p);
    return P->err;
}

static int expected(parser *P, const char *what)
{
    return perr_at(P, P->tstart, P->tok == T_END ? 0 : P->tlen, "expected %s", what);
}

static void next(parser *P)
{
    const char *s = P->s;
    size_t n = P->len, p = P->pos;
    while (p < n && is_ws((unsigned char)s[p])) p++;
    P->tstart = p;
    if (p >= n) { P->tok = T_END; P->tlen = 0; P->pos = p; return; }
    int c = (unsigned char)s[p];
    size_t q = p + 1;
    int t = T_BAD;
    if (is_dig(c) || (c == '.' && p + 1 < n && is_dig((unsigned char)s[p + 1]))) {
        q = p;
        while (q < n && is_dig((unsigned char)s[q])) q++;
        if (q < n && s[q] == '.') { q++; while (q < n && is_dig((unsigned char)s[q])) q++; }
        if (q < n && (s[q] == 'e' || s[q] == 'E')) {
            size_t r = q + 1;
            if (r < n && (s[r] == '+' || s[r] == '-')) r++;
            if (r < n && is_dig((unsigned char)s[r])) {
                while (r < n && is_dig((unsigned char)s[r])) r++;
                q = r;
            }
        }
        /* the whole literal (a long one on the heap: cutting it would change its value) */
        char sbuf[64], *buf = q - p < sizeof sbuf ? sbuf : gr_malloc(q - p + 1, 1);
        memcpy(buf, s + p, q - p);
        buf[q - p] = 0;
        errno = 0;
        P->tnum = strtod(buf, NULL);  /* the scan above admits only what strtod reads whole */
        int overflow = errno == ERANGE && fabs(P->tnum) > 1.0;  /* underflow to tiny or 0 is accepted */
        if (buf != sbuf) free(buf);
        t = T_NUM;
        if (q < n && is_id((unsigned char)s[q])) {  /* "2x", "1.5.3": glue the rest in for the message */
            while (q < n && is_id((unsigned char)s[q])) q++;
            t = T_BAD;
        } else if (overflow) {
            perr_at(P, p, q - p, "number out of range");
        }
    } else if (is_id0(c)) {
        while (q < n && is_id((unsigned char)s[q])) q++;
        t = T_ID;
    } else if (c == '"') {
        while (q < n && s[q] != '"') q++;
        if (q < n) { q++; t = T_STR; }
        else t = T_BAD;  /* unterminated: token runs to the end */
    } else {
        int d = p + 1 < n ? (unsigned char)s[p + 1] : 0;
        switch (c) {
        case '(': t = T_LP; break;
        case ')': t = T_RP; break;
        case ',': t = T_COMMA; break;
        case '+': t = T_PLUS; break;
        case '-': t = T_MINUS; break;
        case '*': t = T_STAR; break;
        case '/': t = T_SLASH; break;
        case '^': t = T_CARET; break;
        case '!': if (d == '=') { t = T_NE; q++; } else t = T_NOT; break;
        case '=': if (d == '=') { t = T_EQ; q++; } break;
        case '<': if (d == '=') { t = T_LE; q++; } else t = T_LT; break;
        case '>': if (d == '=') { t = T_GE; q++; } else t = T_GT; break;
        case '&': if (d == '&') { t = T_AND; q++; } break;
        case '|': if (d == '|') { t = T_OR; q++; } break;
        }
    }
    P->tok = t;
    P->tlen = q - p;
    P->pos = q;
}

static int tok_is(const parser *P, const char *word)
{
    return P->tok == T_ID && P->tlen == strlen(word) && memcmp(P->s + P->tstart, word, P->tlen) == 0;
}

static int col_index(parser *P, const char *name, size_t len)
{
    for (int i = 0; i < P->ncols; i++)
        if (strlen(P->cols[i]) == len && memcmp(P->cols[i], name, len) == 0) return i;
    if (P->ncols == P->capcols) {
        P->capcols = P->capcols ? 2 * P->capcols : 8;
        P->cols = gr_realloc(P->cols, (size_t)P->capcols, sizeof *P->cols);
    }
    char *c = gr_malloc(len + 1, 1);
    memcpy(c, name, len);
    c[len] = 0;
    P->cols[P->ncols] = c;
    return P->ncols++;
}

static char *tok_string(const parser *P)  /* contents of the current T_STR token, without quotes */
{
    size_t l = P->tlen - 2;
    char *r = gr_malloc(l + 1, 1);
    memcpy(r, P->s + P->tstart + 1, l);
    r[l] = 0;
    return r;
}

static node *p_or(parser *P);

static const char *string_rule = "string literals are only allowed after == or != following a column name, "
                                 "or in 'column in (...)'";

static node *p_primary(parser *P)
{
    size_t start = P->tstart;
    if (P->tok == T_NUM) {
        node *n = node_new(P, N_NUM, posi(start));
        n->v = P->tnum;
        n->str = gr_malloc(P->tlen + 1, 1);
        memcpy(n->str, P->s + start, P->tlen);
        n->str[P->tlen] = 0;
        next(P);
        return n;
    }
    if (P->tok == T_ID && !tok_is(P, "in")) {
        size_t l = P->tlen;
        next(P);
        if (P->tok == T_LP) {
            int f = -1;
            for (int k = 0; k < NFUN; k++)
                if (strlen(fun_names[k]) == l && memcmp(fun_names[k], P->s + start, l) == 0) f = k;
            if (f < 0) {
                perr_at(P, start, l, "unknown function '%.*s' (known: log, log1p, exp, sqrt, abs)", posi(l),
                        P->s + start);
                return NULL;
            }
            next(P);
            node *a = p_or(P);
            if (!a) return NULL;
            if (P->tok != T_RP) { expected(P, "')' closing the function call"); return NULL; }
            next(P);
            node *n = node_new(P, N_UN, posi(start));
            n->op = OP_LOG + f;
            n->a = a;
            return n;
        }
        node *n = node_new(P, N_COL, posi(start));
        n->col = col_index(P, P->s + start, l);
        return n;
    }
    if (P->tok == T_LP) {
        next(P);
        node *a = p_or(P);
        if (!a) return NULL;
        if (P->tok != T_RP) { expected(P, "')'"); return NULL; }
        next(P);
        return a;
    }
    if (P->tok == T_STR) { perr_at(P, start, P->tlen, "%s", string_rule); return NULL; }
    if (P->tok == T_BAD && P->s[start] == '"') { perr_at(P, start, P->tlen, "unterminated string"); return NULL; }
    expected(P, "a number, column name, function call or '('");
    return NULL;
}

static node *p_unary(parser *P);

static node *p_power(parser *P)
{
    node *a = p_primary(P);
    if (!a) return NULL;
    if (P->tok == T_CARET) {
        int pos = posi(P->tstart);
        /* right-associative: a chain x^x^...^x recurses once per '^', so it counts as nesting (it would
         * otherwise bound neither the recursion nor the evaluation stack, one 1024-row block per level) */
        if (++P->nest > MAX_NEST) {
            perr_at(P, P->tstart, P->tlen, "expression nested more than %d levels deep", MAX_NEST);
            return NULL;
        }
        next(P);
        node *b = p_unary(P);  /* allows 2^-1 */
        P->nest--;
        if (!b) return NULL;
        node *n = node_new(P, N_BIN, pos);
        n->op = OP_POW;
        n->a = a;
        n->b = b;
        return n;
    }
    return a;
}

static node *p_unary(parser *P)
{
    if (P->tok == T_MINUS || P->tok == T_NOT || P->tok == T_PLUS) {
        int t = P->tok, pos = posi(P->tstart);
        if (++P->nest > MAX_NEST) {
            perr_at(P, P->tstart, P->tlen, "expression nested more than %d levels deep", MAX_NEST);
            return NULL;
        }
        next(P);
        node *a = p_unary(P);
        P->nest--;
        if (!a) return NULL;
        if (t == T_PLUS) return a;
        node *n = node_new(P, N_UN, pos);
        n->op = t == T_MINUS ? OP_NEG : OP_NOT;
        n->a = a;
        return n;
    }
    return p_power(P);
}

static node *p_binary_left(parser *P, node *(*sub)(parser *), const int *toks, const int *ops, int nt)
{
    node *a = sub(P);
    while (a) {
        int k = -1;
        for (int i = 0; i < nt; i++)
            if (P->tok == toks[i]) k = i;
        if (k < 0) break;
        int pos = posi(P->tstart);
        next(P);
        node *b = sub(P);
        if (!b) return NULL;
        node *n = node_new(P, N_BIN, pos);
        n->op = ops[k];
        n->a = a;
        n->b = b;
        a = n;
    }
    return a;
}

static node *p_mul(parser *P)
{
    static const int t[] = {T_STAR, T_SLASH}, o[] = {OP_MUL, OP_DIV};
    return p_binary_left(P, p_unary, t, o, 2);
}

static node *p_add(parser *P)
{
    static const int t[] = {T_PLUS, T_MINUS}, o[] = {OP_ADD, OP_SUB};
    return p_binary_left(P, p_mul, t, o, 2);
}

static node *p_in_list(parser *P, node *a, int pos)
{
    /* current token is '(' */
    node *n = node_new(P, N_IN, pos);
    n->a = a;
    int cap = 0, any_str = 0;
    size_t first_str = 0;
    next(P);
    for (;;) {
        double v = 0;
        char *str = NULL;
        if (P->tok == T_STR) {
            if (!any_str) first_str = P->tstart;
            any_str = 1;
            str = tok_string(P);
            next(P);
        } else {
            double sign = 1;
            while (P->tok == T_MINUS || P->tok == T_PLUS) {
                if (P->tok == T_MINUS) sign = -sign;
                next(P);
            }
            if (P->tok != T_NUM) { expected(P, "a number or \"label\" in the 'in' list"); return NULL; }
            v = sign * P->tnum;
            next(P);
        }
        if (n->nlist == cap) {
            cap = cap ? 2 * cap : 8;
            n->list = gr_realloc(n->list, (size_t)cap, sizeof *n->list);
            n->lstr = gr_realloc(n->lstr, (size_t)cap, sizeof *n->lstr);
        }
        n->list[n->nlist] = v;
        n->lstr[n->nlist] = str;
        n->nlist++;
        if (P->tok == T_COMMA) { next(P); continue; }
        if (P->tok == T_RP) { next(P); break; }
        expected(P, "',' or ')' in the 'in' list");
        return NULL;
    }
    if (any_str) {
        if (a->kind != N_COL) {
            perr_at(P, first_str, 1, "%s", string_rule);
            return NULL;
        }
        n->col = a->col;
    }
    return n;
}

static int is_cmp_tok(int t) { return t >= T_EQ && t <= T_GE; }

static node *p_cmp(parser *P)
{
    node *a = p_add(P);
    if (!a) return NULL;
    if (tok_is(P, "in")) {
        int pos = posi(P->tstart);
        next(P);
        if (P->tok != T_LP) { expected(P, "'(' after 'in'"); return NULL; }
        a = p_in_list(P, a, pos);
    } else if (is_cmp_tok(P->tok)) {
        int t = P->tok, pos = posi(P->tstart);
        next(P);
        node *b;
        if (P->tok == T_STR) {
            if ((t != T_EQ && t != T_NE) || a->kind != N_COL) {
                perr_at(P, P->tstart, P->tlen, "%s", string_rule);
                return NULL;
            }
            b = node_new(P, N_STR, posi(P->tstart));
            b->str = tok_string(P);
            b->col = a->col;
            next(P);
        } else {
            b = p_add(P);
            if (!b) return NULL;
        }
        node *n = node_new(P, N_BIN, pos);
        n->op = OP_EQ + (t - T_EQ);
        n->a = a;
        n->b = b;
        a = n;
    }
    if (a && (is_cmp_tok(P->tok) || tok_is(P, "in"))) {
        expected(P, "'&&' or '||' (comparisons do not chain; use parentheses)");
        return NULL;
    }
    return a;
}

static node *p_and(parser *P)
{
    static const int t[] = {T_AND}, o[] = {OP_AND};
    return p_binary_left(P, p_cmp, t, o, 1);
}

static node *p_or(parser *P)
{
    static const int t[] = {T_OR}, o[] = {OP_OR};
    if (++P->nest > MAX_NEST) {
        perr_at(P, P->tstart, P->tlen, "expression nested more than %d levels deep", MAX_NEST);
        return NULL;
    }
    node *n = p_binary_left(P, p_and, t, o, 1);
    P->nest--;
    return n;
}

/* ---------------------------------------------------------------- canonical text */

typedef struct { char *s; size_t n, cap; } sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->s && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        b->cap = (b->n + (size_t)k + 1) * 2;
        b->s = gr_realloc(b->s, b->cap, 1);
    }
}

enum { PR_OR = 1, PR_AND, PR_CMP, PR_ADD, PR_MUL, PR_UN, PR_POW, PR_PRIM };

static int prec(const node *n)
{
    switch (n->kind) {
    case N_BIN:
        switch (n->op) {
        case OP_OR: return PR_OR;
        case OP_AND: return PR_AND;
        case OP_ADD: case OP_SUB: return PR_ADD;
        case OP_MUL: case OP_DIV: return PR_MUL;
        case OP_POW: return PR_POW;
        default: return PR_CMP;
        }
    case N_IN: return PR_CMP;
    case N_UN: return n->op == OP_NEG || n->op == OP_NOT ? PR_UN : PR_PRIM;
    default: return PR_PRIM;
    }
}

/* The shortest %g spelling of v from 6 digits on that reads back exactly (100, 62.5, 1e-06, 1234567), as the
 * grid's settings spell numbers: %.1g would write 100 as 1e+02. */
static void fmt_num(sbuf *b, double v)
{
    char buf[40];
    for (int p = 6; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    sb_add(b, "%s", buf);
}

static void print_node(sbuf *b, const parser *P, const node *n, int minprec)
{
    int pr = prec(n), paren = pr < minprec;
    if (paren) sb_add(b, "(");
    switch (n->kind) {
    case N_NUM: fmt_num(b, n->v); break;
    case N_COL: sb_add(b, "%s", P->cols[n->col]); break;
    case N_STR: sb_add(b, "\"%s\"", n->str); break;
    case N_UN:
        if (pr == PR_PRIM) {
            sb_add(b, "%s(", fun_names[n->op - OP_LOG]);
            print_node(b, P, n->a, PR_OR);
            sb_add(b, ")");
        } else {
            sb_add(b, "%s", n->op == OP_NEG ? "-" : "!");
            print_node(b, P, n->a, PR_UN);
        }
        break;
    case N_BIN: {
        static const char *const sym[] = {" + ", " - ", "*", "/", "^", " == ", " != ", " < ", " <= ", " > ",
                                          " >= ", " && ", " || "};
        int lmin = pr, rmin = pr + 1;
        if (n->op == OP_POW) { lmin = PR_PRIM; rmin = PR_UN; }
        if (pr == PR_CMP) lmin = PR_CMP + 1;
        print_node(b, P, n->a, lmin);
        sb_add(b, "%s", sym[n->op]);
        print_node(b, P, n->b, rmin);
        break;
    }
    case N_IN:
        print_node(b, P, n->a, PR_CMP + 1);
        sb_add(b, " in (");
        for (int j = 0; j < n->nlist; j++) {
            if (j) sb_add(b, ", ");
            if (n->lstr[j]) sb_add(b, "\"%s\"", n->lstr[j]);
            else fmt_num(b, n->list[j]);
        }
        sb_add(b, ")");
        break;
    }
    if (paren) sb_add(b, ")");
}

/* ---------------------------------------------------------------- program */

typedef struct { int op, arg; double v; } ins;
typedef struct { int n; double *v; char **lstr; int col; } inlist;
typedef struct { int col; char *label; int ins, list, elem; } strref;  /* list < 0: literal in ins */

struct gr_expr {
    char *text;
    int ncols;
    char **cols;
    int nins, cap, depth, maxdepth;
    ins *prog;
    int nlists;
    inlist *lists;
    int nstr;
    strref *strs;
    int bound;
};

static int mark_vars(node *n)
{
    if (!n) return 0;
    int a = mark_vars(n->a), b = mark_vars(n->b);
    n->var = n->kind == N_COL || n->kind == N_STR || a || b;
    return n->var;
}

static double fold(const node *n)  /* value of a column-free subtree */
{
    switch (n->kind) {
    case N_NUM: return n->v;
    case N_UN: return un1(n->op, fold(n->a));
    case N_BIN: return bin1(n->op, fold(n->a), fold(n->b));
    case N_IN: return in1(fold(n->a), n->nlist, n->list);
    }
    return NAN;
}

static void emit(gr_expr *e, int op, int arg, double v, int dd)
{
    if (e->nins == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 16;
        e->prog = gr_realloc(e->prog, (size_t)e->cap, sizeof *e->prog);
    }
    e->prog[e->nins++] = (ins){op, arg, v};
    e->depth += dd;
    if (e->depth > e->maxdepth) e->maxdepth = e->depth;
}

static void add_strref(gr_expr *e, int col, const char *label, int insn, int list, int elem)
{
    e->strs = gr_realloc(e->strs, (size_t)e->nstr + 1, sizeof *e->strs);
    e->strs[e->nstr++] = (strref){col, gr_strdup(label), insn, list, elem};
}

static void compile(gr_expr *e, const node *n)
{
    if (n->kind != N_NUM && !n->var) { emit(e, OP_CONST, 0, fold(n), 1); return; }
    switch (n->kind) {
    case N_NUM: emit(e, OP_CONST, 0, n->v, 1); break;
    case N_COL: emit(e, OP_COL, n->col, 0, 1); break;
    case N_STR:
        add_strref(e, n->col, n->str, e->nins, -1, 0);
        emit(e, OP_CONST, 0, NAN, 1);
        break;
    case N_UN: compile(e, n->a); emit(e, n->op, 0, 0, 0); break;
    case N_BIN: compile(e, n->a); compile(e, n->b); emit(e, n->op, 0, 0, -1); break;
    case N_IN: {
        compile(e, n->a);
        e->lists = gr_realloc(e->lists, (size_t)e->nlists + 1, sizeof *e->lists);
        inlist *L = &e->lists[e->nlists];
        L->n = n->nlist;
        L->v = gr_malloc((size_t)n->nlist, sizeof *L->v);
        memcpy(L->v, n->list, (size_t)n->nlist * sizeof *L->v);
        L->col = n->col;
        for (int j = 0; j < n->nlist; j++)
            if (n->lstr[j]) { add_strref(e, n->col, n->lstr[j], -1, e->nlists, j); L->v[j] = NAN; }
        emit(e, OP_IN, e->nlists, 0, 0);
        e->nlists++;
        break;
    }
    }
}

int gr_expr_parse_span(const char *text, size_t len, int offset, const char *what, gr_expr **out)
{
    *out = NULL;
    parser P;
    memset(&P, 0, sizeof P);
    P.s = text;
    P.len = len;
    P.offset = offset;
    P.what = what ? what : "expression";
    for (size_t i = 0; i < len; i++)
        if (text[i] == 0) { P.len = i; break; }
    if (P.len > MAX_TEXT) {
        int st = gr_fail(GR_EINPUT, P.what, "expression longer than %d characters", MAX_TEXT);
        parser_free(&P);
        return st;
    }
    next(&P);
    if (P.tok == T_END) {
        perr_at(&P, P.tstart, 0, "expected an expression");
        parser_free(&P);
        return GR_EINPUT;
    }
    node *root = p_or(&P);
    if (P.err) root = NULL;  /* an error recorded on the way (a number out of range) */
    if (root && P.tok != T_END) {
        if (P.tok == T_RP) perr_at(&P, P.tstart, P.tlen, "unmatched ')'");
        else if (P.tok == T_BAD && P.s[P.tstart] == '"') perr_at(&P, P.tstart, P.tlen, "unterminated string");
        else if (P.tok == T_BAD && P.tlen == 1 && (P.s[P.tstart] == '=' || P.s[P.tstart] == '&' || P.s[P.tstart] == '|'))
            perr_at(&P, P.tstart, P.tlen, "expected '==', '&&' or '||' (single '%c' is not an operator)",
                    P.s[P.tstart]);
        else expected(&P, "an operator or end of expression");
        root = NULL;
    }
    if (!root) {
        int st = P.err ? P.err : GR_EINPUT;
        parser_free(&P);
        return st;
    }
    sbuf b = {0};
    print_node(&b, &P, root, PR_OR);
    if (b.n > MAX_TEXT) {  /* spacing ("a<b" -> "a < b") and number spelling can lengthen the text */
        int st = gr_fail(GR_EINPUT, P.what, "expression longer than %d characters in canonical form (%zu)",
                         MAX_TEXT, b.n);
        free(b.s);
        parser_free(&P);
        return st;
    }
    gr_expr *e = gr_calloc(1, sizeof *e);
    e->text = b.s;
    mark_vars(root);
    compile(e, root);
    e->ncols = P.ncols;
    e->cols = P.cols;
    P.cols = NULL;
    P.ncols = 0;
    e->bound = e->nstr == 0;
    parser_free(&P);
    *out = e;
    return GR_OK;
}

int gr_expr_parse(const char *text, const char *what, gr_expr **out)
{
    if (!text) {
        *out = NULL;
        return gr_fail(GR_EINPUT, what ? what : "expression", "no expression given");
    }
    return gr_expr_parse_span(text, strlen(text), 0, what, out);
}

int gr_expr_ncolumns(const gr_expr *e) { return e->ncols; }
const char *gr_expr_column(const gr_expr *e, int k) { return k >= 0 && k < e->ncols ? e->cols[k] : NULL; }
const char *gr_expr_text(const gr_expr *e) { return e->text; }
int gr_expr_is_column(const gr_expr *e) { return e->nins == 1 && e->prog[0].op == OP_COL; }

int gr_expr_is_constant(const gr_expr *e, double *value)
{
    if (e->nins != 1 || e->prog[0].op != OP_CONST || e->nstr) return 0;
    if (value) *value = e->prog[0].v;
    return 1;
}

int gr_expr_bind_labels(gr_expr *e, gr_label_fn fn, void *ctx)
{
    for (int i = 0; i < e->nstr; i++) {
        strref *r = &e->strs[i];
        double code = NAN;
        int st = fn(ctx, e->cols[r->col], r->label, &code);
        if (st != GR_OK) { e->bound = 0; return st; }
        if (r->list < 0) e->prog[r->ins].v = code;
        else e->lists[r->list].v[r->elem] = code;
    }
    e->bound = 1;
    return GR_OK;
}

void gr_expr_free(gr_expr *e)
{
    if (!e) return;
    free(e->text);
    for (int i = 0; i < e->ncols; i++) free(e->cols[i]);
    free(e->cols);
    free(e->prog);
    for (int i = 0; i < e->nlists; i++) free(e->lists[i].v);
    free(e->lists);
    for (int i = 0; i < e->nstr; i++) free(e->strs[i].label);
    free(e->strs);
    free(e);
}

/* ---------------------------------------------------------------- block evaluation */

typedef struct {
    const double *p;  /* vector operand (m values), unless scalar */
    double s;
    int scalar;
    double *buf;      /* this slot's own block buffer */
} slot;

/* Loops specialised per operator with the switch hoisted out; bin1/un1 inline to straight code. */
#define BIN_CASE(OPC)                                                                                   \
    case OPC:                                                                                           \
        if (!a->scalar && !b->scalar)                                                                   \
            for (int i = 0; i < m; i++) r[i] = bin1(OPC, ap[i], bp[i]);                                 \
        else if (a->scalar)                                                                             \
            for (int i = 0; i < m; i++) r[i] = bin1(OPC, as, bp[i]);                                    \
        else                                                                                            \
            for (int i = 0; i < m; i++) r[i] = bin1(OPC, ap[i], bs);                                    \
        break;

static void bin_block(int op, slot *a, const slot *b, int m)
{
    if (a->scalar && b->scalar) { a->s = bin1(op, a->s, b->s); return; }
    double *r = a->buf;
    const double *ap = a->p, *bp = b->p;
    double as = a->s, bs = b->s;
    switch (op) {
        BIN_CASE(OP_ADD) BIN_CASE(OP_SUB) BIN_CASE(OP_MUL) BIN_CASE(OP_DIV) BIN_CASE(OP_EQ)
        BIN_CASE(OP_NE) BIN_CASE(OP_LT) BIN_CASE(OP_LE) BIN_CASE(OP_GT) BIN_CASE(OP_GE) BIN_CASE(OP_AND)
        BIN_CASE(OP_OR)
    case OP_POW:
        if (b->scalar && bs == 2.0)
            for (int i = 0; i < m; i++) r[i] = ap[i] * ap[i];
        else if (!a->scalar && !b->scalar)
            for (int i = 0; i < m; i++) r[i] = bin1(OP_POW, ap[i], bp[i]);
        else if (a->scalar)
            for (int i = 0; i < m; i++) r[i] = bin1(OP_POW, as, bp[i]);
        else
            for (int i = 0; i < m; i++) r[i] = bin1(OP_POW, ap[i], bs);
        break;
    }
    a->p = r;
    a->scalar = 0;
}

#define UN_CASE(OPC, EXPR)                                  \
    case OPC:                                               \
        for (int i = 0; i < m; i++) { double x = ap[i]; r[i] = (EXPR); } \
        break;

static void un_block(int op, slot *a, int m)
{
    if (a->scalar) { a->s = un1(op, a->s); return; }
    double *r = a->buf;
    const double *ap = a->p;
    switch (op) {
        UN_CASE(OP_NEG, -x)
        UN_CASE(OP_NOT, x != x ? NAN : (double)(x == 0))
        UN_CASE(OP_LOG, log(x))
        UN_CASE(OP_LOG1P, log1p(x))
        UN_CASE(OP_EXP, exp(x))
        UN_CASE(OP_SQRT, sqrt(x))
        UN_CASE(OP_ABS, fabs(x))
    }
    a->p = r;
}

int gr_expr_eval(const gr_expr *e, int64_t n, double *const *cols, double *out)
{
    if (!e->bound)
        return gr_fail(GR_EINPUT, e->text, "label \"%s\" of column '%s' has not been resolved to a code",
                       e->strs[0].label, e->cols[e->strs[0].col]);
    if (n <= 0) return GR_OK;
    int D = e->maxdepth > 0 ? e->maxdepth : 1;
    slot *st = gr_calloc((size_t)D, sizeof *st);
    double *mem = gr_malloc((size_t)(D + 1) * BLK, sizeof *mem);
    for (int k = 0; k < D; k++) st[k].buf = mem + (size_t)k * BLK;
    double *scratch = mem + (size_t)D * BLK;
    for (int64_t off = 0; off < n; off += BLK) {
        int m = n - off < BLK ? (int)(n - off) : BLK;  /* below BLK by the test */
        int sp = 0;
        for (int pc = 0; pc < e->nins; pc++) {
            const ins *I = &e->prog[pc];
            switch (I->op) {
            case OP_COL: st[sp].p = cols[I->arg] + off; st[sp].scalar = 0; sp++; break;
            case OP_CONST: st[sp].s = I->v; st[sp].scalar = 1; sp++; break;
            case OP_IN: {
                slot *a = &st[sp - 1];
                const inlist *L = &e->lists[I->arg];
                if (a->scalar) { a->s = in1(a->s, L->n, L->v); break; }
                /* one pass per list value (branch-free, vectorisable); scratch because a->p may be a->buf */
                const double *ap = a->p;
                for (int i = 0; i < m; i++) scratch[i] = 0;
                for (int j = 0; j < L->n; j++) {
                    double v = L->v[j];
                    for (int i = 0; i < m; i++) scratch[i] = ap[i] == v ? 1.0 : scratch[i];
                }
                for (int i = 0; i < m; i++) a->buf[i] = ap[i] != ap[i] ? NAN : scratch[i];
                a->p = a->buf;
                break;
            }
            case OP_NEG: case OP_NOT: case OP_LOG: case OP_LOG1P: case OP_EXP: case OP_SQRT: case OP_ABS:
                un_block(I->op, &st[sp - 1], m);
                break;
            default:
                bin_block(I->op, &st[sp - 2], &st[sp - 1], m);
                sp--;
                break;
            }
        }
        if (st[0].scalar)
            for (int i = 0; i < m; i++) out[off + i] = st[0].s;
        else
            memmove(out + off, st[0].p, (size_t)m * sizeof *out);
    }
    free(mem);
    free(st);
    return GR_OK;
}
