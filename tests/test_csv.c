/* test_csv.c: the CSV reader: quoting, delimiters, missing values, ragged rows, type inference, and
 * errors that name the line and column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "csv.h"
#include "gr.h"

static int parse(const char *text, char delim, char **force, int nforce, gr_csv *c)
{
    gr_clear_error();
    return gr_csv_parse(text, strlen(text), "t.csv", delim, force, nforce, c);
}

static void assert_error(const char *text, char delim, const char *needle)
{
    gr_csv c;
    int st = parse(text, delim, NULL, 0, &c);
    assert_int_not_equal(st, GR_OK);
    if (!strstr(gr_errmsg(), needle))
        fail_msg("message '%s' lacks '%s'", gr_errmsg(), needle);
    assert_int_equal(c.ncols, 0); /* nothing left allocated */
}

static void test_quoting(void **state)
{
    (void)state;
    gr_csv c;
    assert_int_equal(parse("name,v\n\"a,b\",1\n\"say \"\"hi\"\"\",2\n\"two\nlines\",3\nplain,\"4\"\n", ',', NULL, 0, &c),
                     GR_OK);
    assert_int_equal(c.ncols, 2);
    assert_int_equal(c.nrows, 4);
    assert_true(c.is_string[0]);
    assert_false(c.is_string[1]);
    assert_string_equal(c.str[0][0], "a,b");
    assert_string_equal(c.str[0][1], "say \"hi\"");
    assert_string_equal(c.str[0][2], "two\nlines");
    assert_string_equal(c.str[0][3], "plain");
    assert_true(c.num[1][3] == 4.0); /* a quoted number is still a number */
    assert_int_equal(c.line[2], 4);  /* the record starting on line 4 spans two lines */
    assert_int_equal(c.line[3], 6);
    gr_csv_free(&c);
}

static void test_delimiters_crlf(void **state)
{
    (void)state;
    gr_csv c;
    assert_int_equal(parse("a;b\r\n1,5;x\r\n2;\"y;z\"\r\n", ';', NULL, 0, &c), GR_OK);
    assert_int_equal(c.nrows, 2);
    assert_true(c.is_string[0]); /* "1,5" is not a number with ';' as delimiter */
    assert_string_equal(c.str[0][0], "1,5");
    assert_string_equal(c.str[1][0], "x"); /* no stray \r */
    assert_string_equal(c.str[1][1], "y;z");
    gr_csv_free(&c);
    assert_int_equal(parse("a\tb\n1\t2\n3\t4", '\t', NULL, 0, &c), GR_OK); /* no final newline */
    assert_int_equal(c.nrows, 2);
    assert_true(c.num[1][1] == 4.0);
    gr_csv_free(&c);
}

static void test_missing(void **state)
{
    (void)state;
    gr_csv c;
    assert_int_equal(parse("x,s,y\nNA,,1\n2.5,NA,\nNaN,b,nan\n,c,3\n", ',', NULL, 0, &c), GR_OK);
    assert_false(c.is_string[0]);
    assert_true(isnan(c.num[0][0]));
    assert_true(c.num[0][1] == 2.5);
    assert_true(isnan(c.num[0][2]));
    assert_true(isnan(c.num[0][3]));
    assert_true(c.is_string[1]);
    assert_null(c.str[1][0]);
    assert_null(c.str[1][1]);
    assert_string_equal(c.str[1][2], "b");
    assert_true(isnan(c.num[2][1]) && isnan(c.num[2][2]) && c.num[2][3] == 3.0);
    gr_csv_free(&c);
    /* an all-missing column is numeric */
    assert_int_equal(parse("x,y\n,1\nNA,2\n", ',', NULL, 0, &c), GR_OK);
    assert_false(c.is_string[0]);
    assert_true(isnan(c.num[0][1]));
    gr_csv_free(&c);
    /* a trailing empty field after the last delimiter */
    assert_int_equal(parse("x,y\n1,", ',', NULL, 0, &c), GR_OK);
    assert_int_equal(c.nrows, 1);
    assert_true(isnan(c.num[1][0]));
    gr_csv_free(&c);
}

static void test_inference(void **state)
{
    (void)state;
    gr_csv c;
    char *force[] = {"code"};
    assert_int_equal(parse("code,name,v,w\n001,AT,1e3,-0.5\n002,12,2,.25\n", ',', force, 1, &c), GR_OK);
    assert_true(c.is_string[0]); /* forced: keeps leading zeros */
    assert_string_equal(c.str[0][0], "001");
    assert_true(c.is_string[1]); /* first value is text; later "12" stays a string */
    assert_string_equal(c.str[1][1], "12");
    assert_true(c.num[2][0] == 1000.0);
    assert_true(c.num[3][1] == 0.25);
    gr_csv_free(&c);
    /* "inf" and "1x" are not numbers: the column is a string column */
    assert_int_equal(parse("a,b\ninf,1x\n", ',', NULL, 0, &c), GR_OK);
    assert_true(c.is_string[0] && c.is_string[1]);
    gr_csv_free(&c);
    double v;
    assert_int_equal(gr_csv_number("0x10", &v), 0); /* strtod semantics */
    assert_true(v == 16.0);
    assert_int_equal(gr_csv_number("1 ", &v), -1);
    assert_int_equal(gr_csv_number("1e999", &v), -1);
    assert_int_equal(gr_csv_find(&c, "a"), -1); /* freed table is empty */
}

static void test_errors(void **state)
{
    (void)state;
    assert_error("x,y\n1,2\n3,oops\n", ',', "t.csv:3: column 'y': expected a number");
    assert_error("x,y\n1,2\n3\n", ',', "t.csv:3: expected 2 fields as in the header, found 1");
    assert_error("x,y\n1,2\n3,4,5\n", ',', "t.csv:3: expected 2 fields as in the header, found 3");
    assert_error("x,y\n\"a\nb\",2\n3,4,5\n", ',', "t.csv:4: expected 2 fields");
    assert_error("", ',', "t.csv: empty file");
    assert_error("\n\n", ',', "t.csv: empty file");
    assert_error("x,y\n", ',', "no data rows");
    assert_error("x,y\n\"open,2\n", ',', "t.csv:2: field 1: quoted field is not closed");
    assert_error("x,y\n\"a\"b,2\n", ',', "t.csv:2: field 1: unexpected character 'b' after a closing quote");
    assert_error("x,x\n1,2\n", ',', "column name 'x' appears twice");
    assert_error("x,,z\n1,2,3\n", ',', "header field 2 is empty");
    assert_error("a/b\n1\n", ',', "contains '/'");
    gr_csv c;
    char *force[] = {"nope"};
    assert_int_not_equal(parse("x\n1\n", ',', force, 1, &c), GR_OK);
    assert_non_null(strstr(gr_errmsg(), "t.csv: column 'nope' is not in the header"));
    gr_clear_error();
    assert_int_equal(gr_csv_read("/nonexistent/dir/f.csv", ',', NULL, 0, &c), GR_EIO);
    assert_non_null(strstr(gr_errmsg(), "/nonexistent/dir/f.csv: cannot open"));
}

static void test_blank_lines_bom(void **state)
{
    (void)state;
    gr_csv c;
    assert_int_equal(parse("\xEF\xBB\xBFx,y\n\n1,2\n\r\n3,4\n\n", ',', NULL, 0, &c), GR_OK);
    assert_string_equal(c.names[0], "x");
    assert_int_equal(c.nrows, 2);
    assert_int_equal(c.line[1], 5);
    gr_csv_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),  cmocka_unit_test(test_delimiters_crlf), cmocka_unit_test(test_missing),
        cmocka_unit_test(test_inference), cmocka_unit_test(test_errors),        cmocka_unit_test(test_blank_lines_bom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
