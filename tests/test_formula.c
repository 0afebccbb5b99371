/* test_formula.c: fixest-style formula parsing (src/formula.c): every accepted form, term expansion,
 * the columns a formula needs, and every rejected form with its character position. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "formula.h"
#include "gr.h"

static void parse_ok(const char *text, gr_formula *f)
{
    gr_clear_error();
    int st = gr_formula_parse(text, f);
    if (st != GR_OK) fail_msg("'%s': %s", text, gr_errmsg());
}

/* Term labels joined by ", " must equal `want`. */
static void assert_terms(const gr_formula *f, const char *want)
{
    char buf[1024] = "";
    for (int i = 0; i < f->nx; i++) {
        if (i) strcat(buf, ", ");
        strcat(buf, f->x[i].label);
    }
    if (strcmp(buf, want) != 0) fail_msg("terms '%s', expected '%s'", buf, want);
}

static void assert_fes(const gr_formula *f, const char *want)
{
    char buf[1024] = "";
    for (int i = 0; i < f->nfe; i++) {
        if (i) strcat(buf, ", ");
        strcat(buf, f->fe[i].label);
    }
    if (strcmp(buf, want) != 0) fail_msg("fixed effects '%s', expected '%s'", buf, want);
}

static void test_full_form(void **state)
{
    (void)state;
    gr_formula f;
    parse_ok("y ~ x1 + log(x2) + x1:x3 | fe1 + fe2^fe3 + fe4", &f);
    assert_int_equal(f.ny, 1);
    assert_string_equal(f.ylabel[0], "y");
    assert_int_equal(gr_expr_is_column(f.y[0]), 1);
    assert_int_equal(f.nx, 3);
    assert_terms(&f, "x1, log(x2), x1:x3");
    assert_int_equal(f.x[0].nfactors, 1);
    assert_int_equal(f.x[1].nfactors, 1);
    assert_string_equal(gr_expr_text(f.x[1].factors[0]), "log(x2)");
    assert_int_equal(f.x[2].nfactors, 2);
    assert_string_equal(gr_expr_text(f.x[2].factors[0]), "x1");
    assert_string_equal(gr_expr_text(f.x[2].factors[1]), "x3");
    assert_int_equal(f.intercept, 0);  /* absorbed by the fixed effects */
    assert_int_equal(f.nfe, 3);
    assert_fes(&f, "fe1, fe2^fe3, fe4");
    assert_int_equal(f.fe[1].nvars, 2);
    assert_string_equal(f.fe[1].vars[0], "fe2");
    assert_string_equal(f.fe[1].vars[1], "fe3");

    char **names;
    int n;
    assert_int_equal(gr_formula_columns(&f, &names, &n), GR_OK);
    const char *want[] = {"y", "x1", "x2", "x3", "fe1", "fe2", "fe3", "fe4"};
    assert_int_equal(n, 8);
    for (int i = 0; i < n; i++) {
        assert_string_equal(names[i], want[i]);
        free(names[i]);
    }
    free(names);
    gr_formula_free(&f);
    assert_int_equal(f.nx, 0);
    assert_null(f.x);
    gr_formula_free(&f);  /* again: harmless */
}

static void test_paper_model(void **state)
{
    (void)state;
    /* the study's main specification, spelled with newlines and tabs */
    gr_formula f;
    parse_ok("log(trade)~partnership_pair+\n\tlog(distance_km)|exporter^month+importer^month+seg_i^seg_j", &f);
    assert_string_equal(f.ylabel[0], "log(trade)");
    assert_terms(&f, "partnership_pair, log(distance_km)");
    assert_fes(&f, "exporter^month, importer^month, seg_i^seg_j");
    char **names;
    int n;
    gr_formula_columns(&f, &names, &n);
    const char *want[] = {"trade", "partnership_pair", "distance_km", "exporter", "month", "importer",
                          "seg_i", "seg_j"};
    assert_int_equal(n, 8);  /* "month" appears twice, listed once */
    for (int i = 0; i < n; i++) {
        assert_string_equal(names[i], want[i]);
        free(names[i]);
    }
    free(names);
    gr_formula_free(&f);
}

static void test_multiple_outcomes(void **state)
{
    (void)state;
    gr_formula f;
    parse_ok("c(y1, log(y2)) ~ x | fe", &f);
    assert_int_equal(f.ny, 2);
    assert_string_equal(f.ylabel[0], "y1");
    assert_string_equal(f.ylabel[1], "log(y2)");
    assert_int_equal(gr_expr_is_column(f.y[0]), 1);
    assert_int_equal(gr_expr_is_column(f.y[1]), 0);
    assert_terms(&f, "x");
    assert_fes(&f, "fe");
    gr_formula_free(&f);
    parse_ok(" c ( a , log1p( b ) , I_c ) ~ x", &f);
    assert_int_equal(f.ny, 3);
    assert_string_equal(f.ylabel[2], "I_c");
    gr_formula_free(&f);
    /* a single outcome can be any expression */
    parse_ok("log(y + 1) ~ x", &f);
    assert_int_equal(f.ny, 1);
    assert_string_equal(f.ylabel[0], "log(y + 1)");
    gr_formula_free(&f);
    /* an outcome that merely starts with c */
    parse_ok("cc ~ x", &f);
    assert_string_equal(f.ylabel[0], "cc");
    gr_formula_free(&f);
}

static void test_intercept(void **state)
{
    (void)state;
    static const struct { const char *text; int intercept; const char *terms; } cases[] = {
        {"y ~ x", 1, "x"},
        {"y ~ x - 1", 0, "x"},
        {"y ~ 0 + x", 0, "x"},
        {"y ~ -1 + x", 0, "x"},
        {"y ~ x + 0", 0, "x"},
        {"y ~ x + 1", 1, "x"},
        {"y ~ 1 + x", 1, "x"},
        {"y ~ x - 1 + 1", 1, "x"},
        {"y ~ 1", 1, ""},
        {"y ~ x + z - 1", 0, "x, z"},
        {"y ~ x | fe", 0, "x"},
        {"y ~ x + 1 | fe", 0, "x"},
        {"y ~ 1 | fe", 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gr_formula f;
        parse_ok(cases[i].text, &f);
        if (f.intercept != cases[i].intercept)
            fail_msg("'%s': intercept %d, expected %d", cases[i].text, f.intercept, cases[i].intercept);
        assert_terms(&f, cases[i].terms);
        gr_formula_free(&f);
    }
}

static void test_star_expansion(void **state)
{
    (void)state;
    gr_formula f;
    parse_ok("y ~ a*b", &f);
    assert_terms(&f, "a, b, a:b");
    assert_int_equal(f.x[2].nfactors, 2);
    gr_formula_free(&f);
    parse_ok("y ~ a*b*c", &f);  /* R's order: by degree */
    assert_terms(&f, "a, b, c, a:b, a:c, b:c, a:b:c");
    gr_formula_free(&f);
    parse_ok("y ~ a*b*c*d", &f);
    assert_terms(&f, "a, b, c, d, a:b, a:c, b:c, a:d, b:d, c:d, a:b:c, a:b:d, a:c:d, b:c:d, a:b:c:d");
    gr_formula_free(&f);
    parse_ok("y ~ a:b*c + d", &f);
    assert_terms(&f, "a:b, c, a:b:c, d");
    gr_formula_free(&f);
    parse_ok("y ~ log(x)*treat | fe", &f);
    assert_terms(&f, "log(x), treat, log(x):treat");
    gr_formula_free(&f);
    parse_ok("y ~ x*x:z", &f);  /* repeated products within one expansion collapse */
    assert_terms(&f, "x, x:z");
    gr_formula_free(&f);
}

static void test_I_and_functions(void **state)
{
    (void)state;
    gr_formula f;
    parse_ok("y ~ I(x^2) + I( a * b ):z + sqrt(w) + I(t >= 3) + exp(-v) + abs(u):I(s/2)", &f);
    assert_terms(&f, "I(x^2), I(a*b):z, sqrt(w), I(t >= 3), exp(-v), abs(u):I(s/2)");
    assert_string_equal(gr_expr_text(f.x[0].factors[0]), "x^2");
    assert_int_equal(f.x[1].nfactors, 2);
    /* factors evaluate as expressions */
    double x[3] = {1, -2, NAN}, out[3];
    double *cols[1] = {x};
    assert_int_equal(gr_expr_ncolumns(f.x[0].factors[0]), 1);
    assert_int_equal(gr_expr_eval(f.x[0].factors[0], 3, cols, out), GR_OK);
    assert_true(out[0] == 1 && out[1] == 4 && isnan(out[2]));
    char **names;
    int n;
    gr_formula_columns(&f, &names, &n);
    const char *want[] = {"y", "x", "a", "b", "z", "w", "t", "v", "u", "s"};
    assert_int_equal(n, 10);
    for (int i = 0; i < n; i++) {
        assert_string_equal(names[i], want[i]);
        free(names[i]);
    }
    free(names);
    gr_formula_free(&f);
    /* I() may hold anything the expression grammar accepts, including parentheses and '|' */
    parse_ok("y ~ I((a + b)*(c - 1)) + I(a > 1 || b < 0) | fe", &f);
    assert_terms(&f, "I((a + b)*(c - 1)), I(a > 1 || b < 0)");
    assert_fes(&f, "fe");
    gr_formula_free(&f);
    /* a column called I is still a column */
    parse_ok("y ~ I + x", &f);
    assert_terms(&f, "I, x");
    gr_formula_free(&f);
}

/* Parse must fail with GR_EINPUT, a one-line message naming the position and containing frag,
 * and leave the formula zeroed. */
static void assert_fails(const char *text, int position, const char *frag)
{
    gr_formula f;
    gr_clear_error();
    int st = gr_formula_parse(text, &f);
    if (st != GR_EINPUT) fail_msg("'%s': status %d, expected GR_EINPUT", text, st);
    char pos[64];
    snprintf(pos, sizeof pos, "formula: at character %d:", position);
    if (!strstr(gr_errmsg(), pos)) fail_msg("'%s': message '%s' lacks '%s'", text, gr_errmsg(), pos);
    if (!strstr(gr_errmsg(), frag)) fail_msg("'%s': message '%s' lacks '%s'", text, gr_errmsg(), frag);
    if (strchr(gr_errmsg(), '\n')) fail_msg("'%s': message is not one line", text);
    assert_int_equal(f.ny + f.nx + f.nfe, 0);
    assert_null(f.y);
    assert_null(f.x);
    assert_null(f.fe);
    gr_formula_free(&f);
}

static void test_errors(void **state)
{
    (void)state;
    /* empty outcome */
    assert_fails("~ x", 1, "empty outcome");
    assert_fails("   ~ x", 4, "empty outcome");
    assert_fails("c(y1, ) ~ x", 5, "empty outcome");
    assert_fails("c(, y1) ~ x", 3, "empty outcome");
    assert_fails("c() ~ x", 2, "empty outcome");
    assert_fails("c(y, y) ~ x", 6, "duplicate outcome");
    /* missing ~ */
    assert_fails("y x1 + x2", 10, "missing '~'");
    assert_fails("", 1, "missing '~'");
    assert_fails("y ~ x ~ z", 7, "only one '~'");
    /* dangling operators */
    assert_fails("y ~ x +", 8, "expected a term after '+'");
    assert_fails("y ~ x + | fe", 9, "expected a term after '+'");
    assert_fails("y ~ x + + z", 9, "expected a term after '+'");
    assert_fails("y ~ x:", 7, "expected a term after ':'");
    assert_fails("y ~ x* | fe", 8, "expected a term after '*'");
    assert_fails("y ~ x -", 8, "expected a term after '-'");
    assert_fails("y ~ x | fe1^", 13, "expected a column name after '^'");
    assert_fails("y ~ x | fe1 + fe2^ + fe3", 20, "expected a column name after '^'");
    assert_fails("y ~ x | ^fe", 9, "empty fixed effect");
    assert_fails("y ~", 4, "expected regressors after '~'");
    assert_fails("y ~ | fe", 5, "expected regressors after '~'");
    /* unbalanced parentheses */
    assert_fails("y ~ log(x", 8, "unbalanced parentheses");
    assert_fails("y ~ x)", 6, "unbalanced parentheses");
    assert_fails("c(y1, y2 ~ x", 2, "unbalanced parentheses");
    assert_fails("y ~ I((x)", 6, "unbalanced parentheses");
    assert_fails("y ~ (a + b):c", 5, "parentheses around regressors");
    /* duplicate terms */
    assert_fails("y ~ x + x", 9, "duplicate term 'x'");
    assert_fails("y ~ x:z + z:x", 11, "duplicate term");
    assert_fails("y ~ a*b + a", 11, "duplicate term 'a'");
    assert_fails("y ~ log( x ) + log(x)", 16, "duplicate term 'log(x)'");
    assert_fails("y ~ x:x", 7, "repeated");
    /* empty / bad fixed effects */
    assert_fails("y ~ x |", 7, "empty fixed effect");
    assert_fails("y ~ x |   ", 7, "empty fixed effect");
    assert_fails("y ~ x | fe1 + + fe2", 15, "empty fixed effect");
    assert_fails("y ~ x | fe1 +", 14, "empty fixed effect");
    assert_fails("y ~ x | fe1 + fe1", 15, "duplicate fixed effect 'fe1'");
    assert_fails("y ~ x | a^b + b^a", 15, "duplicate fixed effect 'a^b'");
    assert_fails("y ~ x | a^a", 11, "repeated");
    assert_fails("y ~ x | log(fe)", 9, "column names");
    assert_fails("y ~ x | fe1 fe2", 13, "expected '+' or '^'");
    assert_fails("y ~ x | 1", 9, "column names");
    assert_fails("y ~ x | a | b", 11, "only one '|'");
    /* unknown function, inside the expression parser, with positions in the whole formula */
    assert_fails("y ~ foo(x)", 5, "unknown function 'foo'");
    assert_fails("y ~ x + z:Log(w)", 11, "unknown function 'Log'");
    assert_fails("bar(y) ~ x", 1, "unknown function 'bar'");
    assert_fails("c(y, lg(z)) ~ x", 6, "unknown function 'lg'");
    assert_fails("y ~ x + c(a, b)", 9, "unknown function 'c'");
    assert_fails("y ~ I(x + )", 11, "expected");
    assert_fails("y ~ log(x, z)", 10, "')' closing");
    assert_fails("y ~ I()", 6, "empty I()");
    /* other misuse */
    assert_fails("y ~ x^2", 6, "I(x^2)");
    assert_fails("y ~ x - z", 9, "only '- 1'");
    assert_fails("y ~ 2 + x", 5, "0 or 1");
    assert_fails("y ~ 1:x", 6, "0 or 1");
    assert_fails("y ~ x:2", 7, "0 or 1");
    assert_fails("y ~ 0", 5, "no regressors");
    assert_fails("y ~ x - 1 - x", 13, "only '- 1'");
    assert_fails("y | fe ~ x", 3, "'|' must follow");
    assert_fails("y ~ x & z", 7, "expected '+', '-', ':' or '*'");
    assert_fails("y ~ x \"a\"", 7, "expected '+', '-', ':' or '*'");
    assert_fails("y ~ x + \"a", 9, "unterminated string");
    gr_clear_error();
}


/* Random token soup: every input parses or fails with GR_EINPUT, a positioned one-line message and a
 * zeroed formula; accepted formulas have consistent terms and columns. */
static void test_random_garbage(void **state)
{
    (void)state;
    static const char *const toks[] = {"y", "x", "z", "fe", "~", "|", "+", "-", "*", ":", "^", "(", ")", "log(",
                                       "I(", "c(", ",", "0", "1", " ", " + ", " ~ ", " | ", "^2", "\""};
    unsigned rs = 99;
    char buf[256];
    int ok = 0, bad = 0;
    for (int it = 0; it < 30000; it++) {
        strcpy(buf, it % 2 ? "y ~ " : "");  /* half of them get past the outcome */
        int len = 2 + (int)((rs = rs * 1103515245u + 12345u) >> 8) % 10;
        for (int j = 0; j < len; j++) {
            rs = rs * 1103515245u + 12345u;
            strcat(buf, toks[(rs >> 8) % (sizeof toks / sizeof *toks)]);
        }
        gr_formula f;
        gr_clear_error();
        int st = gr_formula_parse(buf, &f);
        if (st == GR_OK) {
            ok++;
            assert_true(f.ny >= 1);
            assert_true(f.nx + f.intercept + f.nfe >= 1);
            char **names;
            int n;
            gr_formula_columns(&f, &names, &n);
            for (int i = 0; i < n; i++) free(names[i]);
            free(names);
            gr_formula_free(&f);
            continue;
        }
        bad++;
        if (st != GR_EINPUT) fail_msg("'%s': status %d", buf, st);
        int pos = -1;
        if (sscanf(gr_errmsg(), "formula: at character %d:", &pos) != 1 || pos < 1 || pos > (int)strlen(buf) + 1)
            fail_msg("'%s': message '%s' lacks a valid position", buf, gr_errmsg());
        assert_null(f.y);
        assert_null(f.x);
        assert_null(f.fe);
    }
    printf("# random formulas: %d parsed, %d rejected\n", ok, bad);
    assert_true(ok > 50 && bad > 1000);
    gr_clear_error();
}

/* Found by fuzzing (tests/fuzz/) and review: an outcome holding the expression operator "||" is the same
 * outcome with or without c(...) (the '|' of "||" is not the fixed-effect bar); a "1" or "0" term keeps
 * all its digits (a long "000...01" was cut to 31 zeros and read as 0). */
static void test_fuzz_regressions(void **state)
{
    (void)state;
    gr_formula f;
    parse_ok("a || b ~ x", &f);
    assert_int_equal(f.ny, 1);
    assert_string_equal(f.ylabel[0], "a || b");
    assert_int_equal(f.intercept, 1);
    gr_formula_free(&f);
    parse_ok("c( 1 ||1615)~ yccc", &f);
    assert_string_equal(f.ylabel[0], "1 || 1615");
    gr_formula_free(&f);
    parse_ok("1 || 1615 ~ yccc", &f);  /* what the fuzzer rebuilt from the line above */
    assert_string_equal(f.ylabel[0], "1 || 1615");
    gr_formula_free(&f);
    parse_ok("x > 0 || y > 0 ~ z | fe", &f);
    assert_string_equal(f.ylabel[0], "x > 0 || y > 0");
    assert_fes(&f, "fe");
    gr_formula_free(&f);
    assert_fails("y ~ x || z", 7, "between regressors");
    assert_fails("y ~ x | fe || g", 12, "between fixed effects");

    parse_ok("y ~ 000000000000000000000000000000000001 + x", &f);
    assert_int_equal(f.intercept, 1);
    assert_terms(&f, "x");
    gr_formula_free(&f);
    parse_ok("y ~ x - 0000000000000000000000000000000000001", &f);
    assert_int_equal(f.intercept, 0);
    gr_formula_free(&f);
}

/* gr_formula_term_is: a term named as a user wrote it matches the label the parser gives it, and nothing else;
 * a name that is no term leaves no error behind */
static void test_term_is(void **state)
{
    (void)state;
    assert_true(gr_formula_term_is("partner", "partner"));
    assert_true(gr_formula_term_is("I(distance_km/100)", "I(distance_km/100)"));
    assert_true(gr_formula_term_is("I( distance_km / 1e2 )", "I(distance_km/100)"));
    assert_true(gr_formula_term_is("I(x-300)", "I(x - 300)"));
    assert_true(gr_formula_term_is("log( x )", "log(x)"));
    assert_true(gr_formula_term_is("a : b", "a:b"));
    assert_true(gr_formula_term_is(GR_INTERCEPT_LABEL, GR_INTERCEPT_LABEL));
    assert_false(gr_formula_term_is("partnr", "partner"));
    assert_false(gr_formula_term_is("I(distance_km/10)", "I(distance_km/100)"));
    assert_false(gr_formula_term_is("b:a", "a:b"));  /* term order is part of the label */
    assert_false(gr_formula_term_is("a + b", "a"));  /* two terms name none */
    assert_false(gr_formula_term_is("log(", "log(x)"));
    assert_int_equal(gr_errcode(), GR_OK);
    assert_string_equal(gr_errmsg(), "");
    /* what parses to the one term x but is no name of it: intercept toggles, fixed effects */
    const char *not_x[] = {"x - 1", "-1 + x", "x + 0", "0 + x", "1 + x", "x + 1", "x | exporter", "x | a^b", "y ~ x"};
    for (size_t i = 0; i < sizeof not_x / sizeof *not_x; i++)
        if (gr_formula_term_is(not_x[i], "x")) fail_msg("'%s' was taken for the term x", not_x[i]);
    assert_true(gr_formula_term_is("I(x - 1)", "I(x - 1)"));
    assert_true(gr_formula_term_is("I(x-1)", "I(x - 1)"));
    /* an error the caller recorded before stays */
    gr_fail(GR_EINPUT, "t", "earlier");
    assert_false(gr_formula_term_is("log(", "log(x)"));
    assert_int_equal(gr_errcode(), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "earlier"));
    gr_clear_error();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_form),
        cmocka_unit_test(test_paper_model),
        cmocka_unit_test(test_multiple_outcomes),
        cmocka_unit_test(test_intercept),
        cmocka_unit_test(test_star_expansion),
        cmocka_unit_test(test_I_and_functions),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_fuzz_regressions),
        cmocka_unit_test(test_term_is),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
