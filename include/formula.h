/* formula.h: model formulas in fixest syntax.
 *
 *   y ~ x1 + log(x2) + x1:x3 | fe1 + fe2^fe3 + fe4
 *   c(y1, log(y2)) ~ x | fe          several outcomes, each an expression (expr.h)
 *   y ~ x                            no fixed effects: an "(Intercept)" term is included ...
 *   y ~ x - 1,  y ~ 0 + x            ... unless removed; "+ 1" asks for it explicitly
 *   y ~ a*b                          expands to a + b + a:b (a*b*c: all non-empty products, by degree)
 *
 * A regressor term is a product of factors joined by ':'. A factor is a column name, a function call
 * (log(x), log1p(x), exp, sqrt, abs) or I(expr) embedding any expression (I(x^2), I(a/b), I(t >= 3)).
 * At the term level '+', '-', '*', ':' and '^' are formula operators: '^' between regressors is an error
 * (write I(x^2)). After '|', each fixed-effect dimension is column names joined by '^' (their
 * interaction), dimensions separated by '+'. With fixed effects there is no intercept.
 * Errors are GR_EINPUT via gr_fail with where "formula" and "at character N: ..." (N counts from 1).
 * Outcomes and factors are ordinary gr_expr: evaluate them with gr_expr_eval on the columns each one
 * lists; one holding a string literal (I(region == "west")) needs gr_expr_bind_labels first. */
#ifndef GR_FORMULA_H
#define GR_FORMULA_H
#include "expr.h"

#define GR_INTERCEPT_LABEL "(Intercept)"

typedef struct {
    int nfactors;
    gr_expr **factors;  /* the term's value is the product of the factors */
    char *label;        /* "x1:x3", "log(x2)", "I(x^2)" */
} gr_term;

typedef struct {
    int nvars;
    char **vars;        /* column names whose combination defines the groups */
    char *label;        /* "fe2^fe3" */
} gr_fe_dim;

typedef struct {
    int ny;
    gr_expr **y;        /* outcomes */
    char **ylabel;      /* canonical text of each outcome */
    int nx;
    gr_term *x;         /* regressors in formula order (without the intercept) */
    int intercept;      /* 1: the model has a constant (only without fixed effects), named GR_INTERCEPT_LABEL */
    int nfe;
    gr_fe_dim *fe;
} gr_formula;

/* Parse `text` into *f (owned by f; release with gr_formula_free). Returns GR_OK, or GR_EINPUT with a
 * one-line message giving the character position, and *f zeroed. Rejects: empty outcome, missing '~',
 * dangling '+' / '^' / ':' / '*', unbalanced parentheses, duplicate terms, outcomes or fixed effects,
 * empty fixed effect, unknown function, a model with no regressor, intercept or fixed effect. */
int gr_formula_parse(const char *text, gr_formula *f);

/* Release everything f owns and zero it. Safe on a zeroed formula. */
void gr_formula_free(gr_formula *f);

/* 1 if `name`, as a user wrote it (an option such as --boot-term, a table's terms), names the regressor term
 * labelled `label`: the same text, or the same term once parsed ("I(x/100)" and "I(x / 1e2)" both name the
 * term labelled "I(x/100)"; "x - 1" or "x | fe" name no term). Local; leaves no error of its own behind. */
int gr_formula_term_is(const char *name, const char *label);

/* All distinct column names the formula needs (outcomes, then regressors, then fixed effects), in order
 * of first appearance. *names is a new array of *n new strings; the caller frees each and the array.
 * Returns GR_OK. */
int gr_formula_columns(const gr_formula *f, char ***names, int *n);
#endif
