/* test_errors.c: the error record (gr.h): checked int counts, GR_CALL / GR_TRY locations and their
 * GRAVRD_DEBUG trace, gr_clear_error, gr_agree on a sub-communicator, and the checked allocation's
 * faulting-in of fresh large blocks. Runs on any number of ranks:
 * directly (1 rank) and under mpirun -n 3 (tests/it_check.sh). Every test calls the same collectives on
 * every rank before it asserts anything, so a failed check cannot leave the other ranks waiting. */
#define _DEFAULT_SOURCE /* mincore, MADV_POPULATE_WRITE */
#include <limits.h>
#include <sys/mman.h>
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
#include "expr.h"
#include "formula.h"
#include "gr.h"
#include "linalg.h"
#include "vcov.h"

static int rank, nranks;

static int setup(void **state)
{
    (void)state;
    gr_clear_error();
    return 0;
}

/* ---- gr_int_count ---- */

static void test_int_count(void **state)
{
    (void)state;
    int out = -7;
    assert_int_equal(gr_int_count(INT_MAX, "rows on this rank", &out), GR_OK);
    assert_int_equal(out, INT_MAX);
    assert_int_equal(gr_int_count(0, "rows on this rank", &out), GR_OK);
    assert_int_equal(out, 0);
    assert_string_equal(gr_errmsg(), "");

    out = -7;
    assert_int_equal(gr_int_count((int64_t)INT_MAX + 1, "rows on this rank", &out), GR_EINPUT);
    assert_int_equal(out, -7);  /* untouched on failure */
    assert_int_equal(gr_errcode(), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "rows on this rank"));
    assert_non_null(strstr(gr_errmsg(), "2147483648"));

    gr_clear_error();
    assert_int_equal(gr_int_count(-1, "levels x columns", &out), GR_EINPUT);
    assert_int_equal(out, -7);
    assert_non_null(strstr(gr_errmsg(), "levels x columns"));
    assert_non_null(strstr(gr_errmsg(), "-1"));
    gr_clear_error();
    assert_int_equal(gr_int_count(INT64_MIN, "bytes", &out), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "bytes"));
}

/* ---- GR_CALL / GR_TRY ---- */

static int call_line, try_line;  /* lines of the GR_CALL and GR_TRY below */

static int leaf(int code)
{
    return code ? gr_fail(code, "leaf", "failed with %d", code) : GR_OK;
}

static int mid(int code)
{
    call_line = __LINE__; GR_CALL(leaf(code));
    return GR_OK;
}

/* a function that must free what it holds: GR_TRY jumps to fail: */
static int top(int code, int *freed)
{
    int rc = GR_OK;
    char *held = malloc(16);
    *freed = 0;
    try_line = __LINE__; GR_TRY(mid(code));
    rc = 42;  /* only reached on success: shows that GR_TRY did not jump */
fail:
    free(held);
    *freed = 1;
    return rc;
}

static void expect_trace(int i, int line, const char *expr)
{
    char want[200];
    snprintf(want, sizeof want, "%s:%d: %s", __FILE__, line, expr);
    assert_non_null(gr_trace_at(i));
    assert_string_equal(gr_trace_at(i), want);
}

static void test_call_try(void **state)
{
    (void)state;
    int freed = -1;
    assert_int_equal(top(0, &freed), 42);
    assert_int_equal(freed, 1);
    assert_int_equal(gr_trace_count(), 0);

    assert_int_equal(top(GR_ENUM, &freed), GR_ENUM);
    assert_int_equal(freed, 1);
    assert_int_equal(gr_errcode(), GR_ENUM);
    assert_string_equal(gr_errmsg(), "leaf: failed with 5");
    assert_int_equal(gr_trace_count(), 2);  /* innermost first */
    expect_trace(0, call_line, "leaf(code)");
    expect_trace(1, try_line, "mid(code)");
    assert_null(gr_trace_at(2));
    assert_null(gr_trace_at(-1));

    gr_clear_error();
    assert_int_equal(gr_trace_count(), 0);
    assert_null(gr_trace_at(0));
    assert_int_equal(gr_errcode(), GR_OK);
    assert_string_equal(gr_errmsg(), "");
    /* after clearing, the next failure is recorded afresh */
    assert_int_equal(mid(GR_EIO), GR_EIO);
    assert_string_equal(gr_errmsg(), "leaf: failed with 2");
    assert_int_equal(gr_trace_count(), 1);
    expect_trace(0, call_line, "leaf(code)");

    /* the list holds 8 locations; more do not overflow it */
    for (int i = 0; i < 20; i++) gr_trace(GR_EIO, "x.c", i, "f()");
    assert_int_equal(gr_trace_count(), 8);
}

/* ---- gr_report and GRAVRD_DEBUG ---- */

/* Run gr_report(status) with stderr sent to a temporary file; its text into buf. */
static int report_captured(int status, char *buf, size_t len)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    int ret = gr_report(status);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, len - 1, tmp);
    buf[n] = 0;
    fclose(tmp);
    return ret;
}

static void test_report_trace(void **state)
{
    (void)state;
    int freed;
    char out[2048], want[2048];
    assert_int_equal(top(GR_EINPUT, &freed), GR_EINPUT);

    setenv("GRAVRD_DEBUG", "1", 1);
    assert_int_equal(report_captured(GR_EINPUT, out, sizeof out), 1);
    snprintf(want, sizeof want,
             "gravrd: error: leaf: failed with 4\n"
             "gravrd: trace: %s:%d: leaf(code)\n"
             "gravrd: trace: %s:%d: mid(code)\n",
             __FILE__, call_line, __FILE__, try_line);
    assert_string_equal(out, want);

    unsetenv("GRAVRD_DEBUG");
    assert_int_equal(report_captured(GR_EINPUT, out, sizeof out), 1);
    assert_string_equal(out, "gravrd: error: leaf: failed with 4\n");
    setenv("GRAVRD_DEBUG", "0", 1);
    assert_int_equal(report_captured(GR_EINPUT, out, sizeof out), 1);
    assert_string_equal(out, "gravrd: error: leaf: failed with 4\n");

    /* usage errors exit 2; a rank without a message prints nothing */
    setenv("GRAVRD_DEBUG", "1", 1);
    gr_clear_error();
    assert_int_equal(report_captured(GR_EUSAGE, out, sizeof out), 2);
    assert_string_equal(out, "");
    assert_int_equal(report_captured(GR_OK, out, sizeof out), 0);
    unsetenv("GRAVRD_DEBUG");
}

/* ---- gr_agree ---- */

/* Over comm: how many ranks hold a message, and the lowest rank of comm holding one (-1 if none). */
static void holders(MPI_Comm comm, int *count, int *lowest)
{
    int r, has = gr_errmsg()[0] != 0, at;
    MPI_Comm_rank(comm, &r);
    at = has ? r : INT_MAX;
    MPI_Allreduce(&has, count, 1, MPI_INT, MPI_SUM, comm);
    MPI_Allreduce(&at, lowest, 1, MPI_INT, MPI_MIN, comm);
    if (*lowest == INT_MAX) *lowest = -1;
}

/* One rank of a sub-communicator fails: every rank of it gets the failure, the failing rank alone keeps
 * the message; agreeing again, and then over MPI_COMM_WORLD, keeps it there and the real code. */
static void test_agree_sub(void **state)
{
    (void)state;
    /* sub: ranks 1..P-1 (rank 0 alone in another), or the single rank when run directly */
    int in_sub = nranks == 1 || rank > 0;
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, in_sub, rank, &sub);
    int srank, ssize;
    MPI_Comm_rank(sub, &srank);
    MPI_Comm_size(sub, &ssize);
    int failing = in_sub && srank == ssize - 1;  /* the highest rank of sub: not the lowest when P >= 3 */
    int st = failing ? gr_fail(GR_EIO, "part.h5", "read of rank %d's rows failed", rank) : GR_OK;

    int st1 = gr_agree(sub, st), n1, low1, code1 = gr_errcode();
    holders(sub, &n1, &low1);
    char msg1[256];
    snprintf(msg1, sizeof msg1, "%s", gr_errmsg());
    int st2 = gr_agree(sub, st1), n2, low2;  /* agreed again, as nested calls do */
    holders(sub, &n2, &low2);
    int stw = gr_agree(MPI_COMM_WORLD, st2), nw, loww;
    holders(MPI_COMM_WORLD, &nw, &loww);
    MPI_Comm_free(&sub);

    if (in_sub) {
        assert_int_equal(st1, GR_EIO);
        assert_int_equal(st2, GR_EIO);
        assert_int_equal(n1, 1);
        assert_int_equal(low1, ssize - 1);
        assert_int_equal(n2, 1);
        assert_int_equal(low2, ssize - 1);
        assert_int_equal(code1, failing ? GR_EIO : GR_EREMOTE);
        if (failing) {
            char want[256];
            snprintf(want, sizeof want, "part.h5: read of rank %d's rows failed", rank);
            assert_string_equal(msg1, want);
        } else {
            assert_string_equal(msg1, "");
        }
    } else {
        assert_int_equal(st1, GR_OK);
        assert_int_equal(st2, GR_OK);
    }
    assert_int_equal(stw, GR_EIO);  /* the real code on every rank, not GR_EREMOTE */
    assert_int_equal(nw, 1);
    assert_int_equal(loww, nranks - 1);
    assert_int_equal(gr_errcode(), rank == nranks - 1 ? GR_EIO : GR_EREMOTE);
}

/* Two ranks fail with different codes: all get the worst code, the lowest failing rank keeps its message. */
static void test_agree_worst(void **state)
{
    (void)state;
    int st = GR_OK;
    if (rank == 0) st = gr_fail(GR_EIO, "a", "first");
    if (rank == nranks - 1 && nranks > 1) st = gr_fail(GR_EINPUT, "b", "second");
    int got = gr_agree(MPI_COMM_WORLD, st), n, low;
    holders(MPI_COMM_WORLD, &n, &low);
    int ok = gr_agree(MPI_COMM_WORLD, GR_OK);  /* all succeeded: nothing changes */
    int n2, low2;
    holders(MPI_COMM_WORLD, &n2, &low2);
    assert_int_equal(got, nranks > 1 ? GR_EINPUT : GR_EIO);
    assert_int_equal(n, 1);
    assert_int_equal(low, 0);
    if (rank == 0) assert_string_equal(gr_errmsg(), "a: first");
    assert_int_equal(ok, GR_OK);
    assert_int_equal(n2, 1);
    assert_int_equal(low2, 0);
}

/* ---- counts that do not fit, in collective functions ---- */

/* The last rank claims more rows than an int holds (its X is never read: NULL would crash BLAS): every
 * rank gets GR_EINPUT from the agreement instead of waiting in the reduction, one rank keeps the message. */
static void test_crossprod_count(void **state)
{
    (void)state;
    const double X[2] = {1, 2};
    double XtX = -1;
    int st = gr_crossprod(MPI_COMM_WORLD, 2, 1, X, NULL, &XtX, NULL, NULL), n0, low0;
    holders(MPI_COMM_WORLD, &n0, &low0);
    int big = rank == nranks - 1;
    int st1 = gr_crossprod(MPI_COMM_WORLD, big ? (int64_t)INT_MAX + 1 : 2, 1, big ? NULL : X, NULL, &XtX, NULL, NULL);
    int n1, low1;
    holders(MPI_COMM_WORLD, &n1, &low1);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", gr_errmsg());
    assert_int_equal(st, GR_OK);
    assert_int_equal(n0, 0);
    assert_int_equal(st1, GR_EINPUT);
    assert_int_equal(n1, 1);
    assert_int_equal(low1, nranks - 1);
    if (big) {
        assert_non_null(strstr(msg, "rows on this rank"));
        assert_non_null(strstr(msg, "2147483648"));
    }
}

/* The same for the HC1 meat, and for a cluster count (the same on every rank) that does not fit. */
static void test_vcov_count(void **state)
{
    (void)state;
    const double X[2] = {1, 2}, e[2] = {0.5, -0.5}, B = 1;
    double V = 0, df = 0;
    int big = rank == nranks - 1;
    gr_vcov_spec hc1 = {.type = GR_VCOV_HC1};
    int st = gr_vcov_compute(MPI_COMM_WORLD, &hc1, big ? (int64_t)INT_MAX + 1 : 2, 100, 1, big ? NULL : X,
                             big ? NULL : e, &B, 1.0, 1, &V, &df);
    int n1, low1;
    holders(MPI_COMM_WORLD, &n1, &low1);
    gr_clear_error();
    gr_vcov_spec cl = {.type = GR_VCOV_CLUSTER, .ncluster = 1, .G = {(int64_t)INT_MAX + 1}};
    int st2 = gr_vcov_compute(MPI_COMM_WORLD, &cl, 2, 100, 1, X, e, &B, 1.0, 1, &V, &df);
    assert_int_equal(st, GR_EINPUT);
    assert_int_equal(n1, 1);
    assert_int_equal(low1, nranks - 1);
    assert_int_equal(st2, GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "clusters"));
}

/* ---- checked number parsing in expressions and formulas ---- */

static void test_checked_parsing(void **state)
{
    (void)state;
    gr_expr *e = NULL;
    assert_int_equal(gr_expr_parse("x > 1e999", "--where", &e), GR_EINPUT);
    assert_null(e);
    assert_string_equal(gr_errmsg(), "--where: at character 5: number out of range near '1e999'");
    gr_clear_error();
    /* underflow is a value (0 or subnormal), as in CSV fields */
    assert_int_equal(gr_expr_parse("x > 1e-999", "--where", &e), GR_OK);
    gr_expr_free(e);
    /* a literal longer than 63 characters keeps all its digits */
    char text[128] = "x + 0.";
    for (int i = 0; i < 80; i++) strcat(text, "0");
    strcat(text, "5e80");  /* = 0.5 */
    assert_int_equal(gr_expr_parse(text, "t", &e), GR_OK);
    double x = 1, out = 0, *cols[1] = {&x};
    assert_int_equal(gr_expr_eval(e, 1, cols, &out), GR_OK);
    assert_true(out == 1.5);
    gr_expr_free(e);

    /* a formula too long for int positions is refused before it is scanned */
    size_t n = (1 << 20) + 8;
    char *f = malloc(n + 1);
    memset(f, ' ', n);
    memcpy(f, "y ~ x", 5);
    f[n] = 0;
    gr_formula fm;
    assert_int_equal(gr_formula_parse(f, &fm), GR_EINPUT);
    assert_non_null(strstr(gr_errmsg(), "formula longer than"));
    free(f);
}

/* Pages of [p, p + bytes) that are backed (mincore), or -1 when mincore fails. */
static long resident_pages(void *p, size_t bytes)
{
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, e = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
    size_t np = (e - a) / 4096;
    unsigned char *v = malloc(np);
    long r = mincore((void *)a, e - a, v) == 0 ? 0 : -1;
    for (size_t i = 0; r >= 0 && i < np; i++) r += v[i] & 1;
    free(v);
    return r;
}

/* gr_malloc / gr_calloc fault in a fresh block of 1 MiB or more at once (err.c: populate): every whole page
 * is backed before anything touches it, and gr_calloc's is still zero. Skipped where the kernel lacks
 * MADV_POPULATE_WRITE (Linux < 5.14). A small block is left to fault in on first touch. */
static void test_populate(void **state)
{
    (void)state;
#ifdef MADV_POPULATE_WRITE
    size_t bytes = (size_t)8 << 20;
    void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(probe != MAP_FAILED);
    int supported = madvise(probe, 4096, MADV_POPULATE_WRITE) == 0;
    munmap(probe, 4096);
    if (!supported) skip();
    unsetenv("GRAVRD_NO_POPULATE");
    char *m = gr_malloc(bytes, 1);
    double *c = gr_calloc(bytes / sizeof(double), sizeof(double));
    long pages = (long)(bytes / 4096);
    assert_true(resident_pages(m, bytes) >= pages - 1);
    assert_true(resident_pages(c, bytes) >= pages - 1);
    for (size_t i = 0; i < bytes / sizeof(double); i += 4096 / sizeof(double)) assert_true(c[i] == 0.0);
    free(m);
    free(c);
#else
    skip();
#endif
}

int main(int argc, char **argv)
{
    gr_test_mpi_init(&argc, &argv, &rank, &nranks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_int_count, setup),    cmocka_unit_test_setup(test_call_try, setup),
        cmocka_unit_test_setup(test_report_trace, setup), cmocka_unit_test_setup(test_agree_sub, setup),
        cmocka_unit_test_setup(test_agree_worst, setup), cmocka_unit_test_setup(test_crossprod_count, setup),
        cmocka_unit_test_setup(test_vcov_count, setup),   cmocka_unit_test_setup(test_checked_parsing, setup),
        cmocka_unit_test_setup(test_populate, setup),
    };
    return gr_test_mpi_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
