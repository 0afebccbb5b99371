/* test_expr.c: the row-expression engine (src/expr.c): precedence, canonical text, columns, NaN
 * propagation, `in` lists, label binding, IEEE edge cases, block evaluation against a scalar reference,
 * and syntax errors with their positions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "expr.h"
#include "gr.h"

/* Evaluate `text` on n rows of columns named a, b, c, x, region (whichever it references). */
typedef struct {
    int64_t n;
    const char *names[8];
    double *vals[8];
    int ncols;
} dataset;

static double *lookup(const dataset *d, const char *name)
{
    for (int i = 0; i < d->ncols; i++)
        if (strcmp(d->names[i], name) == 0) return d->vals[i];
    fail_msg("column %s not in test data", name);
    return NULL;
}

static void eval_on(const char *text, const dataset *d, double *out)
{
    gr_expr *e = NULL;
    gr_clear_error();
    int st = gr_expr_parse(text, "--where", &e);
    if (st != GR_OK) fail_msg("parse '%s': %s", text, gr_errmsg());
    double *cols[8];
    for (int k = 0; k < gr_expr_ncolumns(e); k++) cols[k] = lookup(d, gr_expr_column(e, k));
    assert_int_equal(gr_expr_eval(e, d->n, cols, out), GR_OK);
    gr_expr_free(e);
}

static double eval_const(const char *text)
{
    dataset d = {1, {NULL}, {NULL}, 0};
    double out = -12345;
    eval_on(text, &d, &out);
    return out;
}

static void assert_text(const char *in, const char *canon)
{
    gr_expr *e = NULL;
    gr_clear_error();
    if (gr_expr_parse(in, "t", &e) != GR_OK) fail_msg("parse '%s': %s", in, gr_errmsg());
    if (strcmp(gr_expr_text(e), canon) != 0) fail_msg("'%s' printed as '%s', expected '%s'", in, gr_expr_text(e), canon);
    /* the canonical text parses back to itself */
    gr_expr *e2 = NULL;
    assert_int_equal(gr_expr_parse(gr_expr_text(e), "t", &e2), GR_OK);
    assert_string_equal(gr_expr_text(e2), canon);
    gr_expr_free(e2);
    gr_expr_free(e);
}

/* Parse must fail with GR_EINPUT and a message naming `what`, the position and containing `frag`. */
static void assert_parse_error(const char *text, int position, const char *frag)
{
    gr_expr *e = (gr_expr *)1;
    gr_clear_error();
    int st = gr_expr_parse(text, "--where", &e);
    if (st != GR_EINPUT) fail_msg("'%s': status %d, expected GR_EINPUT", text, st);
    assert_null(e);
    char pos[64];
    snprintf(pos, sizeof pos, "--where: at character %d:", position);
    if (!strstr(gr_errmsg(), pos)) fail_msg("'%s': message '%s' lacks '%s'", text, gr_errmsg(), pos);
    if (!strstr(gr_errmsg(), frag)) fail_msg("'%s': message '%s' lacks '%s'", text, gr_errmsg(), frag);
    if (strchr(gr_errmsg(), '\n')) fail_msg("'%s': message is not one line", text);
}

/* ---------------------------------------------------------------- tests */

static void test_precedence(void **state)
{
    (void)state;
    assert_true(eval_const("1 + 2*3") == 7);
    assert_true(eval_const("(1 + 2)*3") == 9);
    assert_true(eval_const("1 - 2 - 3") == -4);     /* left-associative */
    assert_true(eval_const("8/4/2") == 1);
    assert_true(eval_const("2^3^2") == 512);        /* right-associative */
    assert_true(eval_const("-2^2") == -4);          /* ^ binds tighter than unary minus */
    assert_true(eval_const("(-2)^2") == 4);
    assert_true(eval_const("2^-1") == 0.5);
    assert_true(eval_const("2*-3") == -6);
    assert_true(eval_const("- -3") == 3);
    assert_true(eval_const("!0 + 1") == 2);         /* unary before + */
    assert_true(eval_const("1 + 2 == 3") == 1);     /* + before comparison */
    assert_true(eval_const("1 || 0 && 0") == 1);    /* && before || */
    assert_true(eval_const("(1 || 0) && 0") == 0);
    assert_true(eval_const("0 && 1 || 1") == 1);
    assert_true(eval_const("3 > 2 && 2 >= 2 && 1 <= 1 && 1 < 2 && 1 != 2 && 2 == 2") == 1);
    assert_true(eval_const("3 < 2") == 0);
    assert_true(eval_const("1e-3*1000") == 1);
    assert_true(eval_const(".5*4") == 2);
    assert_true(eval_const("2.5E+1") == 25);
    assert_true(eval_const("!(1 < 2)") == 0);
    assert_true(eval_const("!2") == 0);
    assert_true(eval_const("5 in (1, 5, 7)") == 1);
    assert_true(eval_const("-5 in (1, 5, 7)") == 0);
    assert_true(eval_const("-5 in (-5)") == 1);
    assert_true(fabs(eval_const("log(exp(2)) + sqrt(16) + abs(-3) + log1p(0)") - 9) < 1e-15);
    /* with columns: a = 2, b = 3 */
    double a = 2, b = 3, out;
    dataset d = {1, {"a", "b"}, {&a, &b}, 2};
    eval_on("a + b*a^2", &d, &out);
    assert_true(out == 14);
    eval_on("-a^2 + b", &d, &out);
    assert_true(out == -1);
    eval_on("a*b/a - b", &d, &out);
    assert_true(out == 0);
    eval_on("(a < b) == 1", &d, &out);
    assert_true(out == 1);
}

static void test_chained_comparison_rejected(void **state)
{
    (void)state;
    /* comparisons do not chain (a < b < c would silently mean (a < b) < c) */
    gr_expr *e;
    gr_clear_error();
    int st = gr_expr_parse("a < b < c", "--where", &e);
    assert_int_equal(st, GR_EINPUT);
}

static void test_canonical_text(void **state)
{
    (void)state;
    assert_text("log( distance_km )", "log(distance_km)");
    assert_text("((a))+(b*c)", "a + b*c");
    assert_text("(a+b)*c", "(a + b)*c");
    assert_text("a-(b-c)", "a - (b - c)");
    assert_text("(a-b)-c", "a - b - c");
    assert_text("-x^2", "-x^2");
    assert_text("(-x)^2", "(-x)^2");
    assert_text("(2^3)^4", "(2^3)^4");
    assert_text("2^(3^4)", "2^3^4");
    assert_text("2^-1", "2^-1");
    assert_text("x in(1,2,  3.5)", "x in (1, 2, 3.5)");
    assert_text("region==\"east\"", "region == \"east\"");
    assert_text("region in (\"a\",\"b\")", "region in (\"a\", \"b\")");
    assert_text("a&&b||!c", "a && b || !c");
    assert_text("a&&(b||c)", "a && (b || c)");
    assert_text("1e-3", "0.001");
    assert_text("0.1", "0.1");
    assert_text("exp(a/b)*sqrt(abs(c))", "exp(a/b)*sqrt(abs(c))");
    assert_text("(a < b) == (c > 1)", "(a < b) == (c > 1)");
    assert_text("x.y_2 + 1", "x.y_2 + 1");
    /* numbers as written where %g's 6 digits spell them exactly (not 1e+02 for 100), else the shortest exact */
    assert_text("x/100", "x/100");
    assert_text("month <= 10 && exporter <= 2e1", "month <= 10 && exporter <= 20");
    assert_text("x - 300000", "x - 300000");
    assert_text("x*1e6", "x*1e+06");
    assert_text("x*1234567", "x*1234567");
    assert_text("x + 0.30000000000000004", "x + 0.30000000000000004");
}

static void test_columns(void **state)
{
    (void)state;
    gr_expr *e;
    assert_int_equal(gr_expr_parse("b + a*b + log(c.d) - a", "t", &e), GR_OK);
    assert_int_equal(gr_expr_ncolumns(e), 3);
    assert_string_equal(gr_expr_column(e, 0), "b");
    assert_string_equal(gr_expr_column(e, 1), "a");
    assert_string_equal(gr_expr_column(e, 2), "c.d");
    assert_null(gr_expr_column(e, 3));
    assert_int_equal(gr_expr_is_column(e), 0);
    gr_expr_free(e);

    const char *cols[] = {"x", "(x)", " x "};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gr_expr_parse(cols[i], "t", &e), GR_OK);
        assert_int_equal(gr_expr_is_column(e), 1);
        assert_string_equal(gr_expr_text(e), "x");
        gr_expr_free(e);
    }
    const char *notcols[] = {"x + 0", "log(x)", "-x", "1"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(gr_expr_parse(notcols[i], "t", &e), GR_OK);
        assert_int_equal(gr_expr_is_column(e), 0);
        gr_expr_free(e);
    }
    double v = 0;
    assert_int_equal(gr_expr_parse("2*3 + 1", "t", &e), GR_OK);
    assert_int_equal(gr_expr_ncolumns(e), 0);
    assert_int_equal(gr_expr_is_constant(e, &v), 1);
    assert_true(v == 7);
    gr_expr_free(e);
    gr_expr_free(NULL);
}

static void test_nan_propagation(void **state)
{
    (void)state;
    double x[4] = {NAN, 1, 0, 2}, out[4];
    dataset d = {4, {"x"}, {x}, 1};
    const char *exprs[] = {"x + 1", "x*0", "0*x", "x^0", "1^x", "x == x", "x != 1", "x < 1", "x >= 0",
                           "!x", "x && 0", "0 && x", "x || 1", "1 || x", "x in (1, 2)", "log(x)",
                           "log1p(x)", "exp(x)", "sqrt(x)", "abs(x)", "-x", "x/0", "(x > 0) + 1"};
    for (size_t k = 0; k < sizeof exprs / sizeof *exprs; k++) {
        eval_on(exprs[k], &d, out);
        if (!isnan(out[0])) fail_msg("'%s' with x missing gave %g, expected NaN", exprs[k], out[0]);
        for (int i = 2; i < 4; i++)
            if (isnan(out[i]) && strcmp(exprs[k], "x/0") != 0)
                fail_msg("'%s' row %d gave NaN with x = %g", exprs[k], i, x[i]);
    }
    /* comparisons and logic are 0/1 on present rows */
    eval_on("x || 0", &d, out);
    assert_true(out[1] == 1 && out[2] == 0 && out[3] == 1);
    eval_on("!x", &d, out);
    assert_true(out[1] == 0 && out[2] == 1 && out[3] == 0);
    eval_on("x && 5", &d, out);
    assert_true(out[1] == 1 && out[2] == 0 && out[3] == 1);
    /* constant subexpressions are folded with the same rules */
    assert_true(isnan(eval_const("!(0/0)")));
    assert_true(isnan(eval_const("(0/0) || 1")));
    assert_true(isnan(eval_const("(0/0)^0")));
    assert_true(isnan(eval_const("(0/0) in (1)")));
    assert_true(isnan(eval_const("(0/0) == (0/0)")));
}

static void test_ieee_edges(void **state)
{
    (void)state;
    double x[3] = {0, -1, 1}, out[3];
    dataset d = {3, {"x"}, {x}, 1};
    eval_on("log(x)", &d, out);
    assert_true(isinf(out[0]) && out[0] < 0);  /* log(0) = -inf */
    assert_true(isnan(out[1]));
    assert_true(out[2] == 0);
    eval_on("1/x", &d, out);
    assert_true(isinf(out[0]) && out[0] > 0);
    eval_on("log1p(x)", &d, out);
    assert_true(out[0] == 0 && isinf(out[1]) && out[1] < 0);
    eval_on("sqrt(x)", &d, out);
    assert_true(out[0] == 0 && isnan(out[1]) && out[2] == 1);
    eval_on("exp(x) + abs(x)", &d, out);
    assert_true(out[0] == 1 && fabs(out[1] - (exp(-1) + 1)) < 1e-15);
    /* infinities are values, not missing */
    double inf[1] = {INFINITY};
    dataset di = {1, {"x"}, {inf}, 1};
    eval_on("x > 1", &di, out);
    assert_true(out[0] == 1);
}

/* label table for binding: column "region" has labels east=0, west=1, central=2 */
static int label_fn(void *ctx, const char *column, const char *label, double *code)
{
    int *calls = ctx;
    (*calls)++;
    static const char *labels[] = {"east", "west", "central"};
    if (strcmp(column, "region") != 0) return gr_fail(GR_EINPUT, column, "column has no labels");
    for (int i = 0; i < 3; i++)
        if (strcmp(labels[i], label) == 0) { *code = i; return GR_OK; }
    return gr_fail(GR_EINPUT, column, "unknown label \"%s\"", label);
}

static void test_in_lists_and_labels(void **state)
{
    (void)state;
    double x[6] = {1, 2, 3, -2, NAN, 3.5}, out[6];
    dataset d = {6, {"x"}, {x}, 1};
    eval_on("x in (1, 3, -2)", &d, out);
    double want[6] = {1, 0, 1, 1, NAN, 0};
    for (int i = 0; i < 6; i++) assert_true(i == 4 ? isnan(out[i]) : out[i] == want[i]);
    eval_on("!(x in (3.5)) && x > 0", &d, out);
    double want2[6] = {1, 1, 1, 0, NAN, 0};
    for (int i = 0; i < 6; i++) assert_true(i == 4 ? isnan(out[i]) : out[i] == want2[i]);
    eval_on("abs(x) in (2)", &d, out);
    assert_true(out[1] == 1 && out[3] == 1 && out[0] == 0);

    /* strings: region codes 0 east, 1 west, 2 central */
    double region[5] = {0, 1, 2, NAN, 1}, y[5] = {10, 20, 30, 40, 50};
    double *cols[2];
    gr_expr *e;
    int calls = 0;
    assert_int_equal(gr_expr_parse("region in (\"west\", \"central\") && y > 15", "--where", &e), GR_OK);
    assert_int_equal(gr_expr_ncolumns(e), 2);
    cols[0] = region;
    cols[1] = y;
    gr_clear_error();
    assert_int_equal(gr_expr_eval(e, 5, cols, out), GR_EINPUT);  /* not bound yet */
    assert_non_null(strstr(gr_errmsg(), "west"));
    assert_int_equal(gr_expr_bind_labels(e, label_fn, &calls), GR_OK);
    assert_int_equal(calls, 2);
    assert_int_equal(gr_expr_eval(e, 5, cols, out), GR_OK);
    double w3[5] = {0, 1, 1, NAN, 1};
    for (int i = 0; i < 5; i++) assert_true(i == 3 ? isnan(out[i]) : out[i] == w3[i]);
    gr_expr_free(e);

    assert_int_equal(gr_expr_parse("region == \"west\" || region != \"east\"", "--where", &e), GR_OK);
    assert_int_equal(gr_expr_bind_labels(e, label_fn, &calls), GR_OK);
    assert_int_equal(gr_expr_eval(e, 5, cols, out), GR_OK);
    double w4[5] = {0, 1, 1, NAN, 1};
    for (int i = 0; i < 5; i++) assert_true(i == 3 ? isnan(out[i]) : out[i] == w4[i]);
    gr_expr_free(e);

    /* unknown label: the callback's status and message come back */
    assert_int_equal(gr_expr_parse("region == \"north\"", "--where", &e), GR_OK);
    gr_clear_error();
    assert_int_equal(gr_expr_bind_labels(e, label_fn, &calls), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "unknown label \"north\""));
    assert_int_equal(gr_expr_eval(e, 5, cols, out), GR_EINPUT);
    gr_expr_free(e);

    /* string literals are only allowed against a column */
    assert_parse_error("\"east\" == region", 1, "string literal");
    assert_parse_error("region + 1 == \"east\"", 15, "string literal");
    assert_parse_error("region < \"east\"", 10, "string literal");
    assert_parse_error("region + \"east\"", 10, "string literal");
    assert_parse_error("(region + 1) in (\"a\", 2)", 18, "string literal");
    assert_parse_error("log(\"a\")", 5, "string literal");
}

/* reference for the block test, computed row by row with the same IEEE operations */
static double ref_row(double a, double b, double c)
{
    if (isnan(a) || isnan(b) || isnan(c)) return NAN;
    double t1 = log1p(fabs(a)) * b;
    double t2 = exp(-(c * c)) / (1 + a * a);
    double lhs = (a > b) && (c <= 0.5);
    double inb = (b == 1 || b == 2 || b == 3);
    double t3 = (lhs != 0) || !inb;
    double t4 = pow(sqrt(fabs(b)), 3);
    return t1 - t2 + t3 + t4;
}

static void test_block_eval_matches_scalar(void **state)
{
    (void)state;
    const int64_t n = 10000;  /* 9 full blocks and a partial one */
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    double *out = malloc(n * sizeof *out);
    srand(7);
    for (int64_t i = 0; i < n; i++) {
        a[i] = (rand() / (double)RAND_MAX - 0.5) * 10;
        b[i] = (i % 7 == 0) ? (double)(i % 4) : rand() / (double)RAND_MAX * 4;
        c[i] = rand() / (double)RAND_MAX;
        if (i % 997 == 3) a[i] = NAN;
        if (i % 1013 == 5) c[i] = NAN;
    }
    dataset d = {n, {"a", "b", "c"}, {a, b, c}, 3};
    eval_on("log1p(abs(a))*b - exp(-c^2)/(1 + a^2) + (a > b && c <= 0.5 || !(b in (1, 2, 3))) + sqrt(abs(b))^3",
            &d, out);
    int64_t nnan = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = ref_row(a[i], b[i], c[i]);
        if (isnan(r)) {
            if (!isnan(out[i])) fail_msg("row %lld: expected NaN, got %g", (long long)i, out[i]);
            nnan++;
            continue;
        }
        if (!(fabs(out[i] - r) <= 1e-14 * fmax(1, fabs(r))))
            fail_msg("row %lld: %.17g vs reference %.17g", (long long)i, out[i], r);
    }
    assert_true(nnan >= 20);
    /* out may alias an input column */
    double *a2 = malloc(n * sizeof *a2);
    memcpy(a2, a, n * sizeof *a2);
    gr_expr *e;
    assert_int_equal(gr_expr_parse("a*2 + 1", "t", &e), GR_OK);
    double *cols[1] = {a2};
    assert_int_equal(gr_expr_eval(e, n, cols, a2), GR_OK);
    for (int64_t i = 0; i < n; i++) assert_true(isnan(a[i]) ? isnan(a2[i]) : a2[i] == a[i] * 2 + 1);
    gr_expr_free(e);
    /* constant and bare-column expressions fill every row, including the tail block */
    eval_on("2^10", &d, out);
    for (int64_t i = 0; i < n; i++) assert_true(out[i] == 1024);
    eval_on("(c)", &d, out);
    assert_memory_equal(out, c, n * sizeof *c);
    /* n = 0 touches nothing */
    assert_int_equal(gr_expr_parse("a + 1", "t", &e), GR_OK);
    cols[0] = a;
    assert_int_equal(gr_expr_eval(e, 0, cols, NULL), GR_OK);
    gr_expr_free(e);
    free(a); free(b); free(c); free(a2); free(out);
}

static void test_speed(void **state)
{
    (void)state;
    const int64_t n = 4000000;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *out = malloc(n * sizeof *out);
    for (int64_t i = 0; i < n; i++) { x[i] = 1 + (double)(i % 1000); y[i] = (double)(i % 13); }
    gr_expr *e;
    assert_int_equal(gr_expr_parse("log(x) + 0.5*y - x^2/1000 > 3 && y in (1, 2, 5)", "t", &e), GR_OK);
    double *cols[2] = {x, y};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(gr_expr_eval(e, n, cols, out), GR_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) kept += out[i] == 1;
    /* the same filter as a hand-written C loop, for scale */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t kept2 = 0;
    for (int64_t i = 0; i < n; i++)
        kept2 += (log(x[i]) + 0.5 * y[i] - x[i] * x[i] / 1000 > 3) && (y[i] == 1 || y[i] == 2 || y[i] == 5);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s2 = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("# expr eval: %lld rows, 9 operations, %.3f s (%.0f Mrows/s); hand-written loop %.3f s; %lld kept\n",
           (long long)n, s, n / s / 1e6, s2, (long long)kept);
    assert_true(kept == kept2);
    /* spot-check against direct computation */
    for (int64_t i = 0; i < n; i += 9973) {
        double r = (log(x[i]) + 0.5 * y[i] - x[i] * x[i] / 1000 > 3) && (y[i] == 1 || y[i] == 2 || y[i] == 5);
        assert_true(out[i] == r);
    }
    gr_expr_free(e);
    free(x); free(y); free(out);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    assert_parse_error("", 1, "expected an expression");
    assert_parse_error("   ", 4, "expected an expression");
    assert_parse_error("1 +", 4, "end of expression");
    assert_parse_error("a + * b", 5, "near '*");
    assert_parse_error("log(x", 6, "')'");
    assert_parse_error("(a + b", 7, "')'");
    assert_parse_error("a + b)", 6, "unmatched ')'");
    assert_parse_error("foo(x)", 1, "unknown function 'foo'");
    assert_parse_error("a + Log(x)", 5, "unknown function 'Log'");
    assert_parse_error("a = b", 3, "single '='");
    assert_parse_error("a & b", 3, "single '&'");
    assert_parse_error("a | b", 3, "single '|'");
    assert_parse_error("x in 1", 6, "'(' after 'in'");
    assert_parse_error("x in (1, )", 10, "in' list");
    assert_parse_error("x in (1 2)", 9, "',' or ')'");
    assert_parse_error("x in ()", 7, "in' list");
    assert_parse_error("a < b < c", 7, "do not chain");
    assert_parse_error("a == 1 == 1", 8, "do not chain");
    assert_parse_error("x == \"abc", 6, "unterminated string");
    assert_parse_error("a b", 3, "near 'b'");
    assert_parse_error("2x + 1", 1, "near '2x'");
    assert_parse_error("a + #", 5, "near '#'");
    assert_parse_error("log()", 5, "expected");
    assert_parse_error("log(a, b)", 6, "')' closing");
    assert_parse_error("in + 1", 1, "near 'in'");
    assert_parse_error("a ^", 4, "end of expression");
    assert_parse_error("!", 2, "end of expression");
    /* deep nesting and huge inputs are refused, not a stack overflow */
    static char deep[100001];
    memset(deep, '(', 1000);
    deep[1000] = '1';
    memset(deep + 1001, ')', 1000);
    deep[2001] = 0;
    assert_parse_error(deep, 201, "nested more than 200");
    memset(deep, '-', 300);
    strcpy(deep + 300, "x");
    assert_parse_error(deep, 200, "nested more than 200");
    deep[0] = 0;
    for (int i = 0; i < 3000; i++) strcat(deep, "a + ");
    strcat(deep, "a");
    gr_expr *big;
    assert_int_equal(gr_expr_parse(deep, "t", &big), GR_OK);  /* 3000 operators in a left-deep chain */
    assert_int_equal(gr_expr_ncolumns(big), 1);
    double one = 1, r;
    double *bc[1] = {&one};
    assert_int_equal(gr_expr_eval(big, 1, bc, &r), GR_OK);
    assert_true(r == 3001);
    gr_expr_free(big);
    memset(deep, 'a', 100000);
    deep[100000] = 0;
    gr_clear_error();
    assert_int_equal(gr_expr_parse(deep, "--where", &big), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "longer than"));

    /* gr_expr_parse_span reports positions in the enclosing text */
    gr_expr *e;
    const char *formula = "y ~ log(x +)";
    gr_clear_error();
    assert_int_equal(gr_expr_parse_span(formula + 4, 8, 4, "formula", &e), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "formula: at character 12:"));
    /* the span stops at its length even without a terminator there */
    assert_int_equal(gr_expr_parse_span("a + bcd", 5, 0, "t", &e), GR_OK);
    assert_string_equal(gr_expr_text(e), "a + b");
    gr_expr_free(e);
    gr_clear_error();
}


/* ---------------------------------------------------------------- random expressions */

/* A random expression tree, printed fully parenthesised, with a row-by-row reference evaluator
 * (independent of the engine's block evaluator, same IEEE operations). */
typedef struct rnode {
    int kind;  /* 0 number, 1 column, 2 unary, 3 binary, 4 in */
    int op;
    double v;
    int col;
    struct rnode *a, *b;
    int nlist;
    double list[3];
} rnode;

static const char *const rbin[] = {"+", "-", "*", "/", "^", "==", "!=", "<", "<=", ">", ">=", "&&", "||"};
static const char *const run[] = {"-", "!", "log", "log1p", "exp", "sqrt", "abs"};
static const double rnum[] = {0, 1, 2, 0.5, 3, 1e-3, 2.25};

static unsigned rng_state = 12345;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

static rnode *rgen(int depth)
{
    rnode *n = calloc(1, sizeof *n);
    int k = depth <= 0 ? (int)rnd(2) : (int)rnd(10);
    if (k == 0) { n->kind = 0; n->v = rnum[rnd(7)]; }
    else if (k == 1 || k == 2) { n->kind = 1; n->col = (int)rnd(3); }
    else if (k <= 4) { n->kind = 2; n->op = (int)rnd(7); n->a = rgen(depth - 1); }
    else if (k <= 8) { n->kind = 3; n->op = (int)rnd(13); n->a = rgen(depth - 1); n->b = rgen(depth - 1); }
    else {
        n->kind = 4;
        n->a = rgen(depth - 1);
        n->nlist = 1 + (int)rnd(3);
        for (int j = 0; j < n->nlist; j++) n->list[j] = rnum[rnd(7)];
    }
    return n;
}

static void rfree(rnode *n)
{
    if (!n) return;
    rfree(n->a);
    rfree(n->b);
    free(n);
}

static void rprint(const rnode *n, char *buf, size_t cap)
{
    char t[64];
    switch (n->kind) {
    case 0: snprintf(t, sizeof t, "%.17g", n->v); strncat(buf, t, cap - strlen(buf) - 1); break;
    case 1: strncat(buf, n->col == 0 ? "a" : n->col == 1 ? "b" : "c", cap - strlen(buf) - 1); break;
    case 2:
        strncat(buf, "(", cap - strlen(buf) - 1);
        strncat(buf, run[n->op], cap - strlen(buf) - 1);
        strncat(buf, " (", cap - strlen(buf) - 1);
        rprint(n->a, buf, cap);
        strncat(buf, "))", cap - strlen(buf) - 1);
        break;
    case 3:
        strncat(buf, "(", cap - strlen(buf) - 1);
        rprint(n->a, buf, cap);
        snprintf(t, sizeof t, " %s ", rbin[n->op]);
        strncat(buf, t, cap - strlen(buf) - 1);
        rprint(n->b, buf, cap);
        strncat(buf, ")", cap - strlen(buf) - 1);
        break;
    case 4:
        strncat(buf, "((", cap - strlen(buf) - 1);
        rprint(n->a, buf, cap);
        strncat(buf, ") in (", cap - strlen(buf) - 1);
        for (int j = 0; j < n->nlist; j++) {
            snprintf(t, sizeof t, "%s%.17g", j ? ", " : "", n->list[j]);
            strncat(buf, t, cap - strlen(buf) - 1);
        }
        strncat(buf, "))", cap - strlen(buf) - 1);
        break;
    }
}

static double reval(const rnode *n, const double *row)
{
    double x, y;
    switch (n->kind) {
    case 0: return n->v;
    case 1: return row[n->col];
    case 2:
        x = reval(n->a, row);
        switch (n->op) {
        case 0: return -x;
        case 1: return isnan(x) ? NAN : (double)(x == 0);
        case 2: return log(x);
        case 3: return log1p(x);
        case 4: return exp(x);
        case 5: return sqrt(x);
        default: return fabs(x);
        }
    case 3:
        x = reval(n->a, row);
        y = reval(n->b, row);
        if (isnan(x) || isnan(y)) return NAN;
        switch (n->op) {
        case 0: return x + y;
        case 1: return x - y;
        case 2: return x * y;
        case 3: return x / y;
        case 4: return y == 2 ? x * x : pow(x, y);
        case 5: return x == y;
        case 6: return x != y;
        case 7: return x < y;
        case 8: return x <= y;
        case 9: return x > y;
        case 10: return x >= y;
        case 11: return x != 0 && y != 0;
        default: return x != 0 || y != 0;
        }
    default:
        x = reval(n->a, row);
        if (isnan(x)) return NAN;
        for (int j = 0; j < n->nlist; j++)
            if (x == n->list[j]) return 1;
        return 0;
    }
}

static int same(double x, double y) { return (isnan(x) && isnan(y)) || x == y; }

static void check_eval(const char *text, const rnode *t, int64_t n, double *const *data, double *out)
{
    gr_expr *e;
    if (gr_expr_parse(text, "t", &e) != GR_OK) fail_msg("'%s': %s", text, gr_errmsg());
    double *cols[3];
    for (int k = 0; k < gr_expr_ncolumns(e); k++) {
        const char *c = gr_expr_column(e, k);
        cols[k] = data[c[0] - 'a'];
    }
    assert_int_equal(gr_expr_eval(e, n, cols, out), GR_OK);
    for (int64_t i = 0; i < n; i++) {
        double row[3] = {data[0][i], data[1][i], data[2][i]};
        double r = reval(t, row);
        if (!same(out[i], r)) fail_msg("'%s' row %lld: %.17g, reference %.17g", text, (long long)i, out[i], r);
    }
    gr_expr_free(e);
}

static void test_random_expressions(void **state)
{
    (void)state;
    const int64_t n = 2500;
    double *data[3], *out = malloc(n * sizeof *out);
    for (int k = 0; k < 3; k++) {
        data[k] = malloc(n * sizeof *data[k]);
        for (int64_t i = 0; i < n; i++) {
            unsigned u = rnd(20);
            data[k][i] = u == 0 ? NAN : u == 1 ? 0 : u == 2 ? 1 : u == 3 ? 2 : u == 4 ? -1 : (double)rnd(2000) / 100 - 5;
        }
    }
    char full[8192];
    for (int it = 0; it < 400; it++) {
        rnode *t = rgen(1 + (int)rnd(5));
        full[0] = 0;
        rprint(t, full, sizeof full);
        /* the fully parenthesised text evaluates like the reference */
        check_eval(full, t, n, data, out);
        /* its canonical text has the same meaning, and is a fixed point of parse + print */
        gr_expr *e;
        assert_int_equal(gr_expr_parse(full, "t", &e), GR_OK);
        char *canon = strdup(gr_expr_text(e));
        gr_expr_free(e);
        check_eval(canon, t, n, data, out);
        assert_int_equal(gr_expr_parse(canon, "t", &e), GR_OK);
        if (strcmp(canon, gr_expr_text(e)) != 0) fail_msg("'%s' reprints as '%s'", canon, gr_expr_text(e));
        gr_expr_free(e);
        free(canon);
        rfree(t);
    }
    for (int k = 0; k < 3; k++) free(data[k]);
    free(out);
}

/* Random token soup: every input either parses or fails with GR_EINPUT and a positioned message. */
static void test_random_garbage(void **state)
{
    (void)state;
    static const char *const toks[] = {"a", "b", "1", "2.5", "(", ")", "+", "-", "*", "/", "^", "!", "==", "!=",
                                       "<", ">=", "&&", "||", " in ", "(1, 2)", "log(", "sqrt(", ",", "\"east\"",
                                       " ", "=", "&", "|", "1e", ".", "in", "foo("};
    char buf[256];
    int ok = 0, bad = 0;
    for (int it = 0; it < 20000; it++) {
        buf[0] = 0;
        int len = 1 + (int)rnd(10);
        for (int j = 0; j < len; j++) strcat(buf, toks[rnd(sizeof toks / sizeof *toks)]);
        gr_expr *e;
        gr_clear_error();
        int st = gr_expr_parse(buf, "--where", &e);
        if (st == GR_OK) {
            ok++;
            gr_expr *e2;
            if (gr_expr_parse(gr_expr_text(e), "t", &e2) != GR_OK)
                fail_msg("'%s' -> '%s' does not reparse: %s", buf, gr_expr_text(e), gr_errmsg());
            assert_string_equal(gr_expr_text(e2), gr_expr_text(e));
            gr_expr_free(e2);
            gr_expr_free(e);
            continue;
        }
        bad++;
        if (st != GR_EINPUT) fail_msg("'%s': status %d", buf, st);
        int pos = -1;
        if (sscanf(gr_errmsg(), "--where: at character %d:", &pos) != 1 || pos < 1 || pos > (int)strlen(buf) + 1)
            fail_msg("'%s': message '%s' lacks a valid position", buf, gr_errmsg());
    }
    printf("# random token strings: %d parsed, %d rejected\n", ok, bad);
    assert_true(ok > 100 && bad > 100);
    gr_clear_error();
}

/* Found by fuzzing (tests/fuzz/): every accepted expression's canonical text parses again, also when the
 * spacing makes it longer than the input ("a<b&&..." of 18,000 characters prints as 30,000); and a chain
 * x^x^...^x counts as nesting (it recursed once per '^' without bound, and evaluation kept one 1024-row
 * block per level). */
static void test_fuzz_regressions(void **state)
{
    (void)state;
    gr_expr *e = NULL, *e2 = NULL;
    char *text = malloc(20001);
    text[0] = 0;
    for (int i = 0; i < 3000; i++) strcat(text, "a<b&&");
    strcat(text, "a");  /* 15,001 characters; canonical "a < b && ..." 27,001 */
    gr_clear_error();
    int st = gr_expr_parse(text, "--where", &e);
    if (st == GR_OK) {
        st = gr_expr_parse(gr_expr_text(e), "--where", &e2);
        gr_expr_free(e2);
        gr_expr_free(e);
        fail_msg("accepted, but its canonical text does not parse again (%d: %s)", st, gr_errmsg());
    }
    assert_int_equal(st, GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "in canonical form"));
    text[0] = 0;
    for (int i = 0; i < 1000; i++) strcat(text, "a<b&&");  /* 5,001 -> 9,001 characters: fine */
    strcat(text, "a");
    gr_clear_error();
    assert_int_equal(gr_expr_parse(text, "--where", &e), GR_OK);
    assert_int_equal(gr_expr_parse(gr_expr_text(e), "--where", &e2), GR_OK);
    assert_string_equal(gr_expr_text(e2), gr_expr_text(e));
    gr_expr_free(e2);
    gr_expr_free(e);

    text[0] = 0;
    for (int i = 0; i < 250; i++) strcat(text, "x^");
    strcat(text, "x");
    assert_parse_error(text, 400, "nested more than 200 levels");  /* the 200th caret */
    text[0] = 0;
    for (int i = 0; i < 150; i++) strcat(text, "x^");
    strcat(text, "2");
    gr_clear_error();
    assert_int_equal(gr_expr_parse(text, "--where", &e), GR_OK);
    double x = 1, out = 0, *cols[1] = {&x};
    assert_int_equal(gr_expr_eval(e, 1, cols, &out), GR_OK);
    assert_true(out == 1);
    gr_expr_free(e);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_chained_comparison_rejected),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_nan_propagation),
        cmocka_unit_test(test_ieee_edges),
        cmocka_unit_test(test_in_lists_and_labels),
        cmocka_unit_test(test_block_eval_matches_scalar),
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_random_expressions),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_fuzz_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
