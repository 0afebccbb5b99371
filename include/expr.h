/* expr.h: row expressions over columns, used by `--where` filters and by every formula term.
 *
 * Grammar (lowest precedence first): a || b; a && b; comparisons == != < <= > >= and `x in (1, 2)` /
 * `col in ("a", "b")` (not chained); + -; * /; unary - !; ^ (right-associative, binds tighter than
 * unary minus: -2^2 = -4). Primaries: numbers (1, 2.5, 1e-3, .5), column names [A-Za-z_][A-Za-z0-9_.]*,
 * (expr), functions log log1p exp sqrt abs. A string literal "..." may only appear as the right side of
 * == / != whose left side is a column, or in an `in (...)` list whose left side is a column; it stands for
 * that column's numeric label code, resolved by gr_expr_bind_labels.
 *
 * Values are doubles; NaN is "missing". Any NaN operand makes the result NaN, for arithmetic, functions,
 * comparisons, `in`, ! && || alike (no short-circuit), so a row with a missing input is dropped by callers.
 * Comparisons and logic yield 0/1 (a value is "true" when non-zero). IEEE rules otherwise: log(0) = -inf,
 * x/0 = +-inf, sqrt(-1) = NaN; callers that need finite values check them. */
#ifndef GR_EXPR_H
#define GR_EXPR_H
#include <stddef.h>
#include <stdint.h>

typedef struct gr_expr gr_expr;

/* Parse `text`. `what` ("--where", "formula", ...) is the `where` of error messages, which read
 * "at character N: expected X near 'tok'" (N counts from 1). Returns GR_OK and a new expression in *out
 * (free with gr_expr_free), or GR_EINPUT via gr_fail with *out = NULL. */
int gr_expr_parse(const char *text, const char *what, gr_expr **out);

/* As gr_expr_parse, for the `len` characters at `text` that start at 0-based character `offset` of a
 * larger string (a formula): error positions are reported relative to that larger string. */
int gr_expr_parse_span(const char *text, size_t len, int offset, const char *what, gr_expr **out);

/* Distinct column names referenced, in order of first appearance; k in [0, gr_expr_ncolumns).
 * The strings belong to the expression. */
int gr_expr_ncolumns(const gr_expr *e);
const char *gr_expr_column(const gr_expr *e, int k);

/* Resolve string literals. For each literal compared with column `column`, calls fn(ctx, column, label,
 * &code); fn returns GR_OK with the code, or a status after calling gr_fail (unknown label). Returns
 * GR_OK or the first failing status. May be called again (re-binds). Expressions without literals need
 * no binding. */
typedef int (*gr_label_fn)(void *ctx, const char *column, const char *label, double *code);
int gr_expr_bind_labels(gr_expr *e, gr_label_fn fn, void *ctx);

/* Evaluate on n rows: cols[k] holds the n values of column k (order of gr_expr_column; cols may be NULL
 * when there are none); writes out[i]. out may be one of cols[k]. Evaluates column-at-a-time in blocks of
 * 1024 rows (no per-row tree walk); const on e, so one expression may be evaluated concurrently.
 * For a filter, keep row i when out[i] is neither 0 nor NaN. Returns GR_OK, or GR_EINPUT if string
 * literals are present and not bound. */
int gr_expr_eval(const gr_expr *e, int64_t n, double *const *cols, double *out);

/* Canonical text, e.g. "log(distance_km)", "a + b*c", "x in (1, 2)"; same for equivalent spellings
 * (spacing, redundant parentheses). Belongs to the expression. */
const char *gr_expr_text(const gr_expr *e);

/* 1 if the expression is a bare column name, else 0. */
int gr_expr_is_column(const gr_expr *e);

/* 1 if the expression references no column (e.g. "2*3"); then *value holds its value. */
int gr_expr_is_constant(const gr_expr *e, double *value);

void gr_expr_free(gr_expr *e);  /* NULL is fine */
#endif
