/* fuzz_expr.c: libFuzzer target for `--where` expressions (src/expr.c). The input is the expression text.
 * Properties checked on every input:
 *   - it parses, or fails with GR_EINPUT and a message "--where: at character N: ..." (1 <= N <= len + 1);
 *   - gr_expr_parse_span on the raw bytes (stopping at a NUL) agrees with gr_expr_parse, and with an
 *     offset shifts the error position by exactly that offset;
 *   - the canonical text re-parses to the same canonical text, the same columns in the same order, and
 *     the same values on every row (round trip);
 *   - labels bind through gr_expr_bind_labels (a label starting with '?' is unknown and must fail);
 *     before a successful binding, evaluation refuses with GR_EINPUT;
 *   - evaluation on 1030 rows of made-up columns (NaN, +-inf, 0, -0, huge, tiny, label codes) never
 *     crashes, gives the same values row by row (n = 1 at a time) as in blocks, the same when the output
 *     aliases an input column, and the constant's value when gr_expr_is_constant says so. */
#include "fuzz_util.h"
#include "expr.h"
#include "gr.h"
#include <stdint.h>

#define NROWS 1030 /* crosses the 1024-row evaluation block */
#define MAXCOLS 64

static const double pool[] = {0.0, 1.0, -1.0, 2.0, 0.5, NAN, INFINITY, -INFINITY, 1e308, -0.0, 3.0, 4.0,
                              1e-310, 2.5, 10.0, -1e300};
#define NPOOL (sizeof pool / sizeof *pool)

static double data[MAXCOLS][NROWS];

/* Label codes: '?'-prefixed labels are unknown (an error through gr_fail), others map to 0..4. */
static int bind_fn(void *ctx, const char *column, const char *label, double *code)
{
    (void)ctx;
    if (label[0] == '?') return gr_fail(GR_EINPUT, column, "unknown label \"%s\"", label);
    unsigned h = 0;
    for (const char *p = label; *p; p++) h = h * 31 + (unsigned char)*p;
    *code = (double)(h % 5);
    return GR_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (int k = 0; k < MAXCOLS; k++)
        for (int i = 0; i < NROWS; i++) data[k][i] = pool[((size_t)i * (size_t)(k + 3) + (size_t)k) % NPOOL];
    return 0;
}

static void check_error(int st, const char *what, size_t len, int offset)
{
    FUZZ_CHECK(st == GR_EINPUT, "status %d", st);
    const char *msg = gr_errmsg();
    FUZZ_CHECK(msg[0] != 0, "failure without a message");
    if (strstr(msg, "longer than")) return;
    int pos = fuzz_err_pos(msg, what);
    FUZZ_CHECK(pos >= 1 + offset && pos <= (int)len + 1 + offset, "bad position in '%.200s' (len %zu, offset %d)", msg,
               len, offset);
}

/* Evaluate e on every row and the cross-checks that need only e. out has NROWS values. */
static void eval_checks(gr_expr *e, double *out)
{
    int nc = gr_expr_ncolumns(e);
    double *cols[MAXCOLS];
    for (int k = 0; k < nc; k++) cols[k] = data[k];
    FUZZ_CHECK(gr_expr_eval(e, NROWS, nc ? cols : NULL, out) == GR_OK, "%s", gr_errmsg());
    FUZZ_CHECK(gr_expr_eval(e, 0, nc ? cols : NULL, NULL) == GR_OK, "n = 0");
    static const int rows[] = {0, 1, 2, 3, 4, 5, 1023, 1024, 1029};
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        double *c1[MAXCOLS], v = -12345;
        for (int k = 0; k < nc; k++) c1[k] = data[k] + rows[r];
        FUZZ_CHECK(gr_expr_eval(e, 1, nc ? c1 : NULL, &v) == GR_OK, "one row");
        FUZZ_CHECK(fuzz_same(v, out[rows[r]]), "'%.200s' row %d: %.17g alone, %.17g in a block", gr_expr_text(e),
                   rows[r], v, out[rows[r]]);
    }
    if (nc > 0) { /* out aliasing the first column */
        static double alias[NROWS];
        memcpy(alias, data[0], sizeof alias);
        cols[0] = alias;
        FUZZ_CHECK(gr_expr_eval(e, NROWS, cols, alias) == GR_OK, "aliased");
        for (int i = 0; i < NROWS; i++)
            FUZZ_CHECK(fuzz_same(alias[i], out[i]), "'%.200s' row %d: %.17g aliased, %.17g not", gr_expr_text(e), i,
                       alias[i], out[i]);
    }
    double cv;
    if (gr_expr_is_constant(e, &cv)) {
        FUZZ_CHECK(nc == 0, "constant with %d columns", nc);
        for (int i = 0; i < NROWS; i++) FUZZ_CHECK(fuzz_same(out[i], cv), "'%.200s' is not constant", gr_expr_text(e));
    }
}

/* Bind labels; returns 1 when e may be evaluated. */
static int bind(gr_expr *e)
{
    gr_clear_error();
    int st = gr_expr_bind_labels(e, bind_fn, NULL);
    if (st != GR_OK) {
        FUZZ_CHECK(st == GR_EINPUT && strstr(gr_errmsg(), "unknown label"), "bind: %d %s", st, gr_errmsg());
        double o;
        gr_clear_error();
        double *cols[MAXCOLS];
        for (int k = 0; k < gr_expr_ncolumns(e); k++) cols[k] = data[k];
        FUZZ_CHECK(gr_expr_eval(e, 1, cols, &o) == GR_EINPUT, "evaluated with an unbound label");
        return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
    char *text = fuzz_cstr(buf, size);
    size_t len = strlen(text);
    gr_expr *e = NULL, *e2 = NULL;
    gr_clear_error();
    int st = gr_expr_parse(text, "--where", &e);
    char msg1[1024];
    snprintf(msg1, sizeof msg1, "%s", gr_errmsg());
    if (st != GR_OK) {
        FUZZ_CHECK(e == NULL, "*out set on failure");
        check_error(st, "--where", len, 0);
    }
    /* the span variant on the raw bytes, at an offset: same outcome, shifted position */
    gr_clear_error();
    int st2 = gr_expr_parse_span((const char *)buf, size, 7, "--where", &e2);
    FUZZ_CHECK((st2 == GR_OK) == (st == GR_OK), "parse %d, span %d", st, st2);
    if (st2 == GR_OK) {
        FUZZ_CHECK(strcmp(gr_expr_text(e), gr_expr_text(e2)) == 0, "span text differs");
    } else {
        check_error(st2, "--where", len, 7);
        int p1 = fuzz_err_pos(msg1, "--where"), p2 = fuzz_err_pos(gr_errmsg(), "--where");
        FUZZ_CHECK(p2 == (p1 < 0 ? -1 : p1 + 7), "offset 7: '%.200s' vs '%.200s'", msg1, gr_errmsg());
    }
    gr_expr_free(e2);
    e2 = NULL;
    if (st != GR_OK) {
        free(text);
        return 0;
    }

    /* round trip of the canonical text */
    const char *canon = gr_expr_text(e);
    FUZZ_CHECK(canon && canon[0], "empty canonical text");
    gr_clear_error();
    st = gr_expr_parse(canon, "--where", &e2);
    FUZZ_CHECK(st == GR_OK, "'%.200s' -> '%.200s' does not re-parse: %s", text, canon, gr_errmsg());
    FUZZ_CHECK(strcmp(canon, gr_expr_text(e2)) == 0, "'%.200s' -> '%.200s' -> '%.200s'", text, canon, gr_expr_text(e2));
    int nc = gr_expr_ncolumns(e);
    FUZZ_CHECK(nc == gr_expr_ncolumns(e2), "'%.200s': %d columns, re-parsed %d", canon, nc, gr_expr_ncolumns(e2));
    for (int k = 0; k < nc; k++)
        FUZZ_CHECK(strcmp(gr_expr_column(e, k), gr_expr_column(e2, k)) == 0, "column %d differs", k);
    FUZZ_CHECK(gr_expr_column(e, nc) == NULL && gr_expr_column(e, -1) == NULL, "column out of range");
    FUZZ_CHECK(gr_expr_is_column(e) == gr_expr_is_column(e2), "is_column differs");
    if (nc > MAXCOLS) goto done; /* more columns than made-up data: parsing only */

    int b1 = bind(e), b2 = bind(e2);
    FUZZ_CHECK(b1 == b2, "binding differs after the round trip");
    if (b1) {
        static double out1[NROWS], out2[NROWS];
        eval_checks(e, out1);
        eval_checks(e2, out2);
        for (int i = 0; i < NROWS; i++)
            FUZZ_CHECK(fuzz_same(out1[i], out2[i]), "'%.200s' row %d: %.17g, re-parsed %.17g", canon, i, out1[i], out2[i]);
    }
done:
    gr_expr_free(e);
    gr_expr_free(e2);
    free(text);
    return 0;
}
