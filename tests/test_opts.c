/* test_opts.c: option tables (opts.h): every kind, ranges, duplicates, unknown options, missing values,
 * stray arguments, -h / --help / --version, lists, the generated help, the echo (text and JSON) and the
 * recorded command line. In-process; parsing is local, so one rank is enough (run directly). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "mpi_cmocka.h"
#include "opts.h"

typedef struct {
    const char *in, *out, *name;
    int quiet, verbose, count, kernel;
    int64_t seed;
    double tol, share;
    gr_opt_list bw, cols;
} cfg;

enum { TRI, UNI, EPA };
static const gr_opt_word kernels[] = {{"triangular", TRI}, {"uniform", UNI}, {"epanechnikov", EPA},
                                      {"tri", TRI},        {"uni", UNI},     {NULL, 0}};

static const gr_opt table[] = {
    {.name = "in", .kind = GR_OPT_ARG, GR_OPT_AT(cfg, in), .metavar = "IN.csv", .help = "input",
     .flags = GR_OPT_REQUIRED},
    {.name = "out", .kind = GR_OPT_ARG, GR_OPT_AT(cfg, out), .metavar = "OUT.h5", .help = "output"},
    {.name = "name", .short_name = 'n', .kind = GR_OPT_STRING, GR_OPT_AT(cfg, name), .metavar = "TEXT",
     .help = "a name", .flags = GR_OPT_REQUIRED},
    {.name = "quiet", .short_name = 'q', .kind = GR_OPT_FLAG, GR_OPT_AT(cfg, quiet), .help = "be quiet"},
    {.name = "verbose", .short_name = 'v', .kind = GR_OPT_FLAG, GR_OPT_AT(cfg, verbose), .help = "be loud"},
    {.name = "count", .short_name = 'c', .kind = GR_OPT_INT, GR_OPT_AT(cfg, count), .metavar = "N",
     .help = "how many", .def = "10", .flags = GR_OPT_RANGE, .lo = 1, .hi = 100},
    {.name = "seed", .kind = GR_OPT_INT, GR_OPT_AT(cfg, seed), .metavar = "N", .help = "seed",
     .flags = GR_OPT_RANGE, .lo = 0, .hi = HUGE_VAL},
    {.name = "fe-tol", .kind = GR_OPT_DOUBLE, GR_OPT_AT(cfg, tol), .metavar = "X", .help = "tolerance",
     .def = "1e-8", .flags = GR_OPT_POSITIVE},
    {.name = "share", .kind = GR_OPT_DOUBLE, GR_OPT_AT(cfg, share), .metavar = "S", .help = "a share",
     .def = "0.5", .flags = GR_OPT_RANGE, .lo = 0, .hi = 1},
    {.name = "kernel", .kind = GR_OPT_CHOICE, GR_OPT_AT(cfg, kernel), .metavar = "K", .help = "kernel",
     .def = "triangular", .words = kernels},
    {.name = "bandwidth", .short_name = 'b', .kind = GR_OPT_LIST, .elem = GR_OPT_DOUBLE, GR_OPT_AT(cfg, bw),
     .metavar = "H", .help = "bandwidths", .flags = GR_OPT_REPEAT | GR_OPT_POSITIVE | GR_OPT_UNIQUE, .max = 3},
    {.name = "columns", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(cfg, cols), .metavar = "COL",
     .help = "columns", .def = "a,b", .flags = GR_OPT_COMMA},
    {0}};

static const gr_opts_cmd cmd = {"demo", "A command to test the option tables.", table, "Notes at the end.", 0};

/* Parse the NULL-terminated words after "demo" as rank 1 (prints nothing). Returns the status; the
 * parse is left in *s and *c (caller frees). */
static int run(gr_opts *s, cfg *c, ...)
{
    char *argv[32] = {"demo"};
    int argc = 1;
    va_list ap;
    va_start(ap, c);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;) argv[argc++] = a;
    va_end(ap);
    gr_clear_error();
    return gr_opts_parse(s, &cmd, c, argc, argv, 1);
}

/* Parse expecting a usage error with exactly this message. */
#define FAILS(msg, ...)                                                  \
    do {                                                                 \
        gr_opts s_;                                                      \
        cfg c_;                                                          \
        assert_int_equal(run(&s_, &c_, __VA_ARGS__, NULL), GR_EUSAGE);   \
        assert_string_equal(gr_errmsg(), msg);                           \
        gr_opts_free(&s_);                                               \
        gr_clear_error();                                                \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    gr_opts s;
    cfg c;
    assert_int_equal(run(&s, &c, "x.csv", "--name", "n1", NULL), GR_OK);
    assert_string_equal(c.in, "x.csv");
    assert_null(c.out);
    assert_string_equal(c.name, "n1");
    assert_int_equal(c.quiet, 0);
    assert_int_equal(c.count, 10);
    assert_true(c.tol == 1e-8 && c.share == 0.5);
    assert_int_equal(c.kernel, TRI);
    assert_int_equal(c.bw.n, 0);
    assert_int_equal(c.cols.n, 2);
    assert_string_equal(c.cols.str[1], "b");
    assert_int_equal(gr_opts_given(&s, "count"), 0);
    assert_int_equal(gr_opts_given(&s, "name"), 1);
    assert_int_equal(gr_opts_given(&s, "nosuch"), -1);
    gr_opts_free(&s);
    assert_int_equal(c.cols.n, 0);
    gr_opts_free(&s); /* twice is safe */
}

static void test_every_kind(void **state)
{
    (void)state;
    gr_opts s;
    cfg c;
    assert_int_equal(run(&s, &c, "--name=a b", "-q", "--count", "100", "--seed", "9223372036854775807",
                         "--fe-tol", "2.5e-3", "--share=1", "--kernel", "UNI", "-b", "10", "-b20.5",
                         "--bandwidth=30", "--columns", "x,y,z", "in.csv", "out.h5", NULL),
                     GR_OK);
    assert_string_equal(c.name, "a b");
    assert_int_equal(c.quiet, 1);
    assert_int_equal(c.count, 100);
    assert_true(c.seed == INT64_MAX);
    assert_true(c.tol == 2.5e-3 && c.share == 1);
    assert_int_equal(c.kernel, UNI);
    assert_int_equal(c.bw.n, 3);
    assert_true(c.bw.num[0] == 10 && c.bw.num[1] == 20.5 && c.bw.num[2] == 30);
    assert_string_equal(c.bw.str[1], "20.5");
    assert_int_equal(c.cols.n, 3); /* the default list is replaced, not extended */
    assert_string_equal(c.cols.str[0], "x");
    assert_string_equal(c.in, "in.csv");
    assert_string_equal(c.out, "out.h5");
    assert_int_equal(gr_opts_given(&s, "bandwidth"), 3);
    gr_opts_free(&s);
    /* bundled short flags, a value attached to the last; a lone "-" and everything after "--" are positional */
    assert_int_equal(run(&s, &c, "-qvn", "nm", "-c7", "-", "--", "--count", NULL), GR_OK);
    assert_true(c.quiet && c.verbose && c.count == 7);
    assert_string_equal(c.name, "nm");
    assert_string_equal(c.in, "-");
    assert_string_equal(c.out, "--count");
    gr_opts_free(&s);
    /* a value is the next argument even if it starts with '-' */
    assert_int_equal(run(&s, &c, "i", "--name", "--quiet", NULL), GR_OK);
    assert_string_equal(c.name, "--quiet");
    assert_int_equal(c.quiet, 0);
    gr_opts_free(&s);
}

static void test_bad_values(void **state)
{
    (void)state;
    FAILS("--count: expected an integer from 1 to 100, got '0'", "i", "--name", "n", "--count", "0");
    FAILS("--count: expected an integer from 1 to 100, got '101'", "i", "--name", "n", "-c", "101");
    FAILS("--count: expected an integer from 1 to 100, got '5x'", "i", "--name", "n", "--count=5x");
    FAILS("--seed: expected a non-negative integer, got '-1'", "i", "--name", "n", "--seed", "-1");
    FAILS("--seed: expected a non-negative integer, got '9223372036854775808'", "i", "--name", "n", "--seed",
          "9223372036854775808");
    FAILS("--fe-tol: expected a positive number, got 'x'", "i", "--name", "n", "--fe-tol", "x");
    FAILS("--fe-tol: expected a positive number, got '0'", "i", "--name", "n", "--fe-tol", "0");
    FAILS("--fe-tol: expected a positive number, got 'inf'", "i", "--name", "n", "--fe-tol", "inf");
    FAILS("--share: expected a number from 0 to 1, got '1.5'", "i", "--name", "n", "--share", "1.5");
    FAILS("--share: expected a number from 0 to 1, got 'nan'", "i", "--name", "n", "--share", "nan");
    FAILS("--kernel: expected triangular, uniform or epanechnikov, got 'gauss'", "i", "--name", "n", "--kernel",
          "gauss");
    FAILS("--quiet: takes no value, got '1'", "i", "--name", "n", "--quiet=1");
    FAILS("--bandwidth: expected a positive number, got '-5'", "i", "--name", "n", "-b", "-5");
}

static void test_duplicates_and_lists(void **state)
{
    (void)state;
    FAILS("--name: given twice", "i", "--name", "a", "--name", "a");
    FAILS("--name: given twice", "i", "-n", "a", "--name=b");
    FAILS("--quiet: given twice", "i", "--name", "a", "-qq");
    FAILS("--kernel: given twice", "i", "--name", "a", "--kernel", "tri", "--kernel", "tri");
    FAILS("--columns: given twice", "i", "--name", "a", "--columns", "a", "--columns", "b"); /* not repeatable */
    FAILS("--bandwidth: 10.0 given twice", "i", "--name", "a", "-b", "10", "-b", "10.0");
    FAILS("--bandwidth: at most 3 values", "i", "--name", "a", "-b", "1", "-b", "2", "-b", "3", "-b", "4");
    FAILS("--columns: expected a comma-separated list of COL, got 'a,,b'", "i", "--name", "a", "--columns", "a,,b");
    FAILS("--columns: expected a comma-separated list of COL, got 'a,'", "i", "--name", "a", "--columns", "a,");
}

static void test_unknown_missing_stray(void **state)
{
    (void)state;
    FAILS("demo: unknown option '--foo' (see 'gravrd demo --help')", "i", "--name", "a", "--foo");
    FAILS("demo: unknown option '--foo' (see 'gravrd demo --help')", "i", "--name", "a", "--foo=3");
    FAILS("demo: unknown option '--nam' (see 'gravrd demo --help')", "i", "--nam", "a"); /* no abbreviations */
    FAILS("demo: unknown option '-x' (see 'gravrd demo --help')", "i", "--name", "a", "-x");
    FAILS("--name: needs a value (TEXT)", "i", "--name");
    FAILS("--count: needs a value (N)", "i", "--name", "a", "-c");
    FAILS("demo: unexpected argument 'three' (see 'gravrd demo --help')", "i", "o", "three", "--name", "a");
    FAILS("demo: --name TEXT is required (see 'gravrd demo --help')", "i");
    FAILS("demo: IN.csv is required (see 'gravrd demo --help')", "--name", "a");
    /* the first error is the one reported */
    FAILS("--count: expected an integer from 1 to 100, got '0'", "--count", "0", "--foo");
}

/* Run a parse as rank 0 with stdout captured into buf. */
static int run_captured(char *buf, size_t len, int argc, char **argv)
{
    fflush(stdout);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(1);
    dup2(fileno(tmp), 1);
    gr_opts s;
    cfg c;
    gr_clear_error();
    int rc = gr_opts_parse(&s, &cmd, &c, argc, argv, 0);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    gr_opts_free(&s);
    rewind(tmp);
    size_t n = fread(buf, 1, len - 1, tmp);
    buf[n] = 0;
    fclose(tmp);
    return rc;
}

static void test_help_and_version(void **state)
{
    (void)state;
    static char buf[16384];
    char *h1[] = {"demo", "--help"}, *h2[] = {"demo", "-h"}, *v[] = {"demo", "--version"};
    char *late[] = {"demo", "--foo", "--count", "0", "--help"}, *bundled[] = {"demo", "-qh"};
    char *as_value[] = {"demo", "i", "--name", "--help"};
    assert_int_equal(run_captured(buf, sizeof buf, 2, h1), GR_OPTS_EXIT);
    assert_non_null(strstr(buf, "usage: gravrd demo IN.csv [OUT.h5] --name TEXT [options]\n"));
    char h1text[sizeof buf];
    strcpy(h1text, buf);
    assert_int_equal(run_captured(buf, sizeof buf, 2, h2), GR_OPTS_EXIT);
    assert_string_equal(buf, h1text);
    assert_int_equal(run_captured(buf, sizeof buf, 2, v), GR_OPTS_EXIT);
    assert_string_equal(buf, "gravrd " GR_VERSION " (" GR_GIT_HASH ")\n");
    assert_int_equal(run_captured(buf, sizeof buf, 5, late), GR_OPTS_EXIT); /* --help wins over errors */
    assert_string_equal(buf, h1text);
    assert_string_equal(gr_errmsg(), "");
    assert_int_equal(run_captured(buf, sizeof buf, 2, bundled), GR_OPTS_EXIT);
    assert_int_equal(run_captured(buf, sizeof buf, 4, as_value), GR_OK); /* a value, not the option */
    assert_string_equal(buf, "");
    /* other ranks print nothing */
    gr_opts s;
    cfg c;
    assert_int_equal(run(&s, &c, "--help", NULL), GR_OPTS_EXIT);
    gr_opts_free(&s);
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    gr_opts_help(&cmd, f);
    fclose(f);
    for (const gr_opt *o = table; o->name; o++) {
        char want[64];
        if (o->kind == GR_OPT_ARG) snprintf(want, sizeof want, "\n  %s ", o->metavar);
        else snprintf(want, sizeof want, "--%s", o->name);
        assert_non_null(strstr(text, want));
        assert_non_null(strstr(text, o->help));
    }
    const char *must[] = {"A command to test the option tables.", "Notes at the end.", "-h, --help", "--version",
                          "--echo", "-q, --quiet", "[1 to 100; default: 10]", "[> 0; default: 1e-8]",
                          "[0 to 1; default: 0.5]", "[>= 0]", "one of triangular (or tri), uniform (or uni), epanechnikov",
                          "[> 0; repeatable]", "[comma-separated; default: a,b]", "[required]"};
    for (size_t k = 0; k < sizeof must / sizeof must[0]; k++) {
        if (!strstr(text, must[k])) fprintf(stderr, "# help lacks '%s':\n%s", must[k], text);
        assert_non_null(strstr(text, must[k]));
    }
    for (char *line = text; *line;) { /* wrapped at 100 columns */
        size_t n = strcspn(line, "\n");
        assert_true(n <= 100);
        line += n + (line[n] != 0);
    }
    free(text);
}

static void test_echo(void **state)
{
    (void)state;
    gr_opts s;
    cfg c;
    assert_int_equal(run(&s, &c, "in.csv", "--name", "nm", "--echo", "-b", "5", "-b", "7.25", "--kernel", "tri",
                         NULL), GR_OK);
    assert_int_equal(s.echo, 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    gr_opts_echo(&s, f);
    fclose(f);
    assert_non_null(strstr(text, "gravrd demo: effective options\n"));
    const char *want[][2] = {{"in", "in.csv"}, {"out", "(unset)  (default)"}, {"--name", "nm"},
                             {"--quiet", "no  (default)"}, {"--count", "10  (default)"},
                             {"--seed", "(unset)  (default)"}, {"--fe-tol", "1e-08  (default)"},
                             {"--share", "0.5  (default)"}, {"--kernel", "triangular"}, {"--bandwidth", "5,7.25"},
                             {"--columns", "a,b  (default)"}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        char line[256];
        snprintf(line, sizeof line, "\n  %-11s  %s\n", want[k][0], want[k][1]);
        if (!strstr(text, line)) fprintf(stderr, "# echo lacks '%s':\n%s", line + 1, text);
        assert_non_null(strstr(text, line));
    }
    free(text);

    cJSON *j = gr_opts_json(&s);
    cJSON *given = cJSON_GetObjectItem(j, "given"), *def = cJSON_GetObjectItem(j, "default");
    assert_non_null(given);
    assert_non_null(def);
    assert_int_equal(cJSON_GetArraySize(given) + cJSON_GetArraySize(def), 12);
    assert_string_equal(cJSON_GetObjectItem(given, "in")->valuestring, "in.csv");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(def, "out")));
    assert_string_equal(cJSON_GetObjectItem(given, "--kernel")->valuestring, "triangular");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(def, "--quiet")));
    assert_true(cJSON_GetObjectItem(def, "--count")->valuedouble == 10);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(def, "--seed")));
    cJSON *bw = cJSON_GetObjectItem(given, "--bandwidth");
    assert_int_equal(cJSON_GetArraySize(bw), 2);
    assert_true(cJSON_GetArrayItem(bw, 1)->valuedouble == 7.25);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(def, "--columns"), 0)->valuestring, "a");
    cJSON_Delete(j);

    cJSON *p = gr_opts_provenance(&s, MPI_COMM_WORLD);
    assert_non_null(strstr(cJSON_GetObjectItem(p, "created_by")->valuestring, "command_line="));
    assert_non_null(cJSON_GetObjectItem(p, "command_line"));
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "options"), "given"));
    cJSON_Delete(p);
    gr_opts_free(&s);
}

static void test_command_line(void **state)
{
    (void)state;
    char *argv[] = {"gravrd", "estimate", "--formula", "log(y) ~ x | a^b", "--where", "name == \"it's\"", "--out=a.h5",
                    ""};
    gr_opts_set_command_line(8, argv);
    assert_string_equal(gr_command_line, "gravrd estimate --formula 'log(y) ~ x | a^b' --where 'name == \"it'\\''s\"' "
                                         "--out=a.h5 ''");
    assert_non_null(strstr(gr_provenance(MPI_COMM_WORLD), " command_line=gravrd estimate --formula 'log(y)"));
    static char big[6000];
    memset(big, 'x', sizeof big - 1);
    char *argv2[] = {"gravrd", big};
    gr_opts_set_command_line(2, argv2);
    size_t n = strlen(gr_command_line);
    assert_true(n < sizeof gr_command_line);
    assert_string_equal(gr_command_line + n - 3, "...");
    gr_command_line[0] = 0;
}

typedef struct { const char *command; } top_cfg;

static void test_head_and_bad_tables(void **state)
{
    (void)state;
    static const gr_opt top[] = {{.name = "command", .kind = GR_OPT_ARG, GR_OPT_AT(top_cfg, command),
                                  .metavar = "<command>", .help = "command", .flags = GR_OPT_REQUIRED}, {0}};
    static const gr_opts_cmd topcmd = {NULL, NULL, top, NULL, 1};
    char *argv[] = {"gravrd", "rd", "--data", "x", "--foo"}, *bad[] = {"gravrd", "--data"};
    char *echo[] = {"gravrd", "--echo", "rd"};
    gr_opts s;
    top_cfg t;
    gr_clear_error();
    assert_int_equal(gr_opts_parse(&s, &topcmd, &t, 5, argv, 1), GR_OK);
    assert_int_equal(s.next, 1);
    assert_int_equal(gr_opts_parse(&s, &topcmd, &t, 2, bad, 1), GR_EUSAGE);
    assert_string_equal(gr_errmsg(), "unknown option '--data' (see 'gravrd --help')");
    gr_clear_error();
    assert_int_equal(gr_opts_parse(&s, &topcmd, &t, 3, echo, 1), GR_EUSAGE); /* no --echo at the top */
    gr_clear_error();

    typedef struct { int a; double d; } small;
    static const gr_opt dup[] = {{.name = "a", .kind = GR_OPT_FLAG, GR_OPT_AT(small, a)},
                                 {.name = "a", .kind = GR_OPT_FLAG, GR_OPT_AT(small, a)}, {0}};
    static const gr_opt size[] = {{.name = "d", .kind = GR_OPT_FLAG, GR_OPT_AT(small, d)}, {0}}; /* int flag, double field */
    static const gr_opt help[] = {{.name = "x", .short_name = 'h', .kind = GR_OPT_FLAG, GR_OPT_AT(small, a)}, {0}};
    const gr_opt *tables[] = {dup, size, help};
    char *none[] = {"t"};
    for (int k = 0; k < 3; k++) {
        gr_opts_cmd tc = {"t", NULL, tables[k], NULL, 0};
        small sm;
        assert_int_equal(gr_opts_parse(&s, &tc, &sm, 1, none, 1), GR_EUSAGE);
        assert_non_null(strstr(gr_errmsg(), "internal error: option table"));
        gr_clear_error();
    }
}

int main(int argc, char **argv)
{
    gr_test_mpi_init(&argc, &argv, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_duplicates_and_lists),
        cmocka_unit_test(test_unknown_missing_stray),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_help_lists_every_option),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_command_line),
        cmocka_unit_test(test_head_and_bad_tables),
    };
    return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
