/* fuzz_csv.c: libFuzzer target for the CSV reader (src/csv.c) and for what `gravrd import` builds from a
 * parsed CSV before any MPI or HDF5 call (build_plan in src/import.c: string labels and codes, cities,
 * pairs, row order, keys, exporter offsets). The input is the CSV text; the delimiter is the most
 * frequent of , ; TAB | on the first line.
 * Properties checked on every input:
 *   - gr_csv_parse succeeds, or fails with GR_EINPUT / GR_EFORMAT, a message naming the source, and
 *     *out left empty;
 *   - a parsed table is consistent: distinct valid names, one of num/str per column by is_string,
 *     numbers finite or NaN, strings inside the owned buffer and not "missing", record lines increasing;
 *   - forcing the first column to strings still parses the same rows;
 *   - the table written back as CSV (every field quoted, numbers as %.17g, missing as NA) parses to
 *     the same names, types and values (round trip);
 *   - gr_csv_read_part (the parallel reader, on one rank) on the same bytes as a file (/proc/self/fd of a
 *     memfd) gives the same status, message (but for the source's name) and table as gr_csv_parse;
 *   - build_plan on that file (on MPI_COMM_SELF), with options picked from a hash of the input (plain;
 *     --string; --exporter/--importer with --time, --key, --pair), returns GR_OK / GR_EINPUT / GR_EUSAGE
 *     without sanitizer reports or leaks, and a consistent plan.
 * import.c is compiled into this target (#include) because build_plan is static there. MPI is started
 * once (a singleton) in LLVMFuzzerInitialize. */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../../src/import.c"
#include "fuzz_util.h"

/* build_plan's "duplicate row" error path once leaked pair_of (found by this target; fixed when
 * build_plan was split and its state freed in one place). Leak checking is on for every variant;
 * -DFUZZ_IMPORT_KEY_LEAK=1 turns it off around the --key variants (4 and 6) should it come back. */
#ifndef FUZZ_IMPORT_KEY_LEAK
#define FUZZ_IMPORT_KEY_LEAK 0
#endif
#include <sanitizer/lsan_interface.h>
#if FUZZ_IMPORT_KEY_LEAK
#define LEAKS_OFF(c) do { if (c) __lsan_disable(); } while (0)
#define LEAKS_ON(c) do { if (c) __lsan_enable(); } while (0)
#else
#define LEAKS_OFF(c) ((void)(c))
#define LEAKS_ON(c) ((void)(c))
#endif

#define WHERE "fuzz.csv"

static int memfd = -1;
static char mempath[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gr_quiet = 1; /* build_plan warns about duplicate keys */
    memfd = memfd_create("fuzz_csv", 0);
    if (memfd < 0) { perror("memfd_create"); abort(); }
    snprintf(mempath, sizeof mempath, "/proc/self/fd/%d", memfd);
    /* build_plan and gr_csv_read_part are collective (on MPI_COMM_SELF here). Open MPI never frees what
     * MPI_Init and a communicator's first collectives allocate: started with leak checking off, and
     * warmed up with one import, so that only gravrd's own allocations are checked per input. */
    __lsan_disable();
    MPI_Init(NULL, NULL);
    static const char warm[] = "e,i,t,v\nA,B,1,2\nB,A,1,3\n";
    if (pwrite(memfd, warm, sizeof warm - 1, 0) != (ssize_t)(sizeof warm - 1)) { perror("pwrite"); abort(); }
    import_opts o = {.in = mempath, .out = "unused.h5", .exp_col = "e", .imp_col = "i", .time_col = "t", .delim = ','};
    plan p;
    memset(&p, 0, sizeof p);
    build_plan(&o, &p, MPI_COMM_SELF);
    plan_free(&p);
    gr_clear_error();
    __lsan_enable();
    return 0;
}

static char sniff(const uint8_t *d, size_t n)
{
    static const char cand[] = {',', ';', '\t', '|'};
    size_t count[4] = {0};
    for (size_t i = 0; i < n && d[i] != '\n'; i++)
        for (int k = 0; k < 4; k++) count[k] += d[i] == (uint8_t)cand[k];
    int best = 0;
    for (int k = 1; k < 4; k++)
        if (count[k] > count[best]) best = k;
    return cand[best];
}

static void check_table(const gr_csv *c, size_t len)
{
    FUZZ_CHECK(c->ncols >= 1 && c->nrows >= 1, "%d columns, %lld rows", c->ncols, (long long)c->nrows);
    for (int j = 0; j < c->ncols; j++) {
        const char *n = c->names[j];
        FUZZ_CHECK(n[0] && strlen(n) < GR_NAME_MAX && !strchr(n, '/'), "bad name '%.200s'", n);
        for (int k = 0; k < j; k++) FUZZ_CHECK(strcmp(n, c->names[k]) != 0, "name '%.200s' twice", n);
        FUZZ_CHECK(c->is_string[j] ? c->str[j] && !c->num[j] : c->num[j] && !c->str[j], "column %d storage", j);
        for (int64_t i = 0; i < c->nrows; i++) {
            if (!c->is_string[j]) {
                FUZZ_CHECK(isfinite(c->num[j][i]) || isnan(c->num[j][i]), "infinite value");
                continue;
            }
            const char *s = c->str[j][i];
            if (!s) continue;
            FUZZ_CHECK(s >= c->buf && s < c->buf + len + 2 && s + strlen(s) < c->buf + len + 2, "string outside buf");
            FUZZ_CHECK(!gr_csv_is_missing(s), "missing field kept as a string");
        }
    }
    for (int64_t i = 0; i < c->nrows; i++)
        FUZZ_CHECK(c->line[i] >= 1 && (i == 0 || c->line[i] > c->line[i - 1]), "record lines not increasing");
}

static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Write c back as CSV, every field quoted, and parse it again with its string columns forced. */
static void check_round_trip(const gr_csv *c, char delim)
{
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    FUZZ_CHECK(f != NULL, "open_memstream");
    for (int j = 0; j < c->ncols; j++) {
        if (j) fputc(delim, f);
        put_quoted(f, c->names[j]);
    }
    fputc('\n', f);
    for (int64_t i = 0; i < c->nrows; i++) {
        for (int j = 0; j < c->ncols; j++) {
            if (j) fputc(delim, f);
            if (c->is_string[j]) put_quoted(f, c->str[j][i] ? c->str[j][i] : "NA");
            else if (isnan(c->num[j][i])) fputs("NA", f);
            else fprintf(f, "%.17g", c->num[j][i]);
        }
        fputc('\n', f);
    }
    FUZZ_CHECK(fclose(f) == 0, "fclose");
    char **force = malloc(((size_t)c->ncols + 1) * sizeof *force);
    int nforce = 0;
    for (int j = 0; j < c->ncols; j++)
        if (c->is_string[j]) force[nforce++] = c->names[j];
    gr_csv d;
    gr_clear_error();
    int st = gr_csv_parse(text, tlen, WHERE, delim, force, nforce, &d);
    FUZZ_CHECK(st == GR_OK, "written back, does not parse: %s", gr_errmsg());
    FUZZ_CHECK(d.ncols == c->ncols && d.nrows == c->nrows, "shape differs after the round trip");
    for (int j = 0; j < c->ncols; j++) {
        FUZZ_CHECK(strcmp(d.names[j], c->names[j]) == 0 && d.is_string[j] == c->is_string[j], "column %d", j);
        for (int64_t i = 0; i < c->nrows; i++) {
            if (!c->is_string[j]) {
                FUZZ_CHECK(fuzz_same(d.num[j][i], c->num[j][i]), "value %d,%lld", j, (long long)i);
                continue;
            }
            const char *a = c->str[j][i], *b = d.str[j][i];
            FUZZ_CHECK((!a && !b) || (a && b && strcmp(a, b) == 0), "string %d,%lld", j, (long long)i);
        }
    }
    gr_csv_free(&d);
    free(force);
    free(text);
}

/* gr_csv_read_part on the memfd (already written) against gr_csv_parse's status, message and table c */
static void check_read_part(int st, const char *msg, const gr_csv *c, char delim)
{
    gr_csv r;
    gr_clear_error();
    int rst = gr_csv_read_part(mempath, delim, NULL, 0, MPI_COMM_SELF, &r);
    FUZZ_CHECK(rst == st, "gr_csv_read_part status %d, gr_csv_parse %d (%.200s)", rst, st, gr_errmsg());
    if (st != GR_OK) {
        const char *m = gr_errmsg();
        FUZZ_CHECK(strncmp(m, mempath, strlen(mempath)) == 0 && strcmp(m + strlen(mempath), msg + strlen(WHERE)) == 0,
                   "gr_csv_read_part says '%.200s', gr_csv_parse '%.200s'", m, msg);
        FUZZ_CHECK(r.ncols == 0 && r.buf == NULL, "gr_csv_read_part: *out not empty on failure");
        return;
    }
    FUZZ_CHECK(r.ncols == c->ncols && r.nrows == c->nrows && r.nrows_all == c->nrows && r.row0 == 0, "part shape");
    for (int j = 0; j < c->ncols; j++) {
        FUZZ_CHECK(strcmp(r.names[j], c->names[j]) == 0 && r.is_string[j] == c->is_string[j], "part column %d", j);
        for (int64_t i = 0; i < c->nrows; i++) {
            if (!c->is_string[j]) {
                FUZZ_CHECK(fuzz_same(r.num[j][i], c->num[j][i]), "part value %d,%lld", j, (long long)i);
                continue;
            }
            const char *a = c->str[j][i], *b = r.str[j][i];
            FUZZ_CHECK((!a && !b) || (a && b && strcmp(a, b) == 0), "part string %d,%lld", j, (long long)i);
        }
    }
    for (int64_t i = 0; i < c->nrows; i++)
        FUZZ_CHECK(r.line[i] == c->line[i], "part line of row %lld", (long long)i);
    gr_csv_free(&r);
}

static void check_plan(const plan *p, const gr_csv *c)
{
    FUZZ_CHECK(p->nrows == c->nrows && p->begin == 0 && p->count == p->nrows, "plan rows");
    for (int k = 0; k < p->ncols; k++)
        FUZZ_CHECK((p->is_int[k] ? p->icol[k] != NULL : p->dcol[k] != NULL) || p->nrows == 0, "plan column %d", k);
    if (p->n_exp > 0) {
        FUZZ_CHECK(p->offsets[0] == 0 && p->offsets[p->n_exp] == p->nrows, "exporter offsets");
        for (int k = 0; k < p->n_exp; k++) FUZZ_CHECK(p->offsets[k] <= p->offsets[k + 1], "offsets decrease");
        FUZZ_CHECK(p->ncols >= 1 && strcmp(p->names[0], "pair") == 0, "pair column first");
        for (int64_t i = 0; i < p->nrows; i++)
            FUZZ_CHECK(p->icol[0][i] >= 0 && p->icol[0][i] < p->pairs.nrows, "pair code out of range");
    }
}

/* build_plan on the input as a file, with options picked by `variant`. */
static void check_import(const uint8_t *d, size_t n, const gr_csv *c, char delim, unsigned variant)
{
    (void)d;
    (void)n;
    import_opts o;
    memset(&o, 0, sizeof o);
    o.in = mempath;
    o.out = "unused.h5";
    o.delim = delim;
    char *key[2], *force[1];
    int nc = c->ncols;
    if (variant == 1) {
        force[0] = c->names[nc - 1];
        o.force.str = force;
        o.force.n = 1;
    }
    if (variant >= 2 && nc >= 2) {
        int swap = variant == 7;
        o.exp_col = c->names[swap];
        o.imp_col = c->names[!swap];
        if ((variant == 3 || variant == 4) && nc > 2) o.time_col = c->names[2];
        if (variant == 7) o.time_col = c->names[nc - 1];
        if (variant == 4 && nc > 3) { key[0] = c->names[3]; o.key.str = key; o.key.n = 1; }
        if (variant == 5 && nc > 2) o.pair_col = c->names[2];
        if (variant == 6) {
            o.pair_col = c->names[nc - 1];
            key[0] = c->names[0];
            key[1] = c->names[nc > 2 ? 2 : 1];
            o.key.str = key;
            o.key.n = 2;
        }
    }
    plan p;
    memset(&p, 0, sizeof p);
    gr_clear_error();
    int unchecked = o.key.n > 0;
    LEAKS_OFF(unchecked);
    int st = build_plan(&o, &p, MPI_COMM_SELF);
    LEAKS_ON(unchecked);
    FUZZ_CHECK(st == GR_OK || st == GR_EINPUT || st == GR_EUSAGE, "build_plan status %d: %s", st, gr_errmsg());
    FUZZ_CHECK(st == GR_OK || gr_errmsg()[0], "build_plan failed without a message");
    if (st == GR_OK) check_plan(&p, c);
    plan_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char delim = sniff(d, n);
    gr_csv c;
    gr_clear_error();
    int st = gr_csv_parse((const char *)d, n, WHERE, delim, NULL, 0, &c);
    char msg[4400];
    snprintf(msg, sizeof msg, "%s", gr_errmsg());
    FUZZ_CHECK(ftruncate(memfd, 0) == 0 && pwrite(memfd, d, n, 0) == (ssize_t)n, "memfd write");
    check_read_part(st, msg, &c, delim);
    if (st != GR_OK) {
        FUZZ_CHECK(st == GR_EINPUT || st == GR_EFORMAT, "status %d", st);
        FUZZ_CHECK(strncmp(msg, WHERE, strlen(WHERE)) == 0, "message '%.200s' does not name the source", msg);
        FUZZ_CHECK(c.ncols == 0 && c.names == NULL && c.buf == NULL, "*out not empty on failure");
        return 0;
    }
    size_t len = n >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF ? n - 3 : n;
    check_table(&c, len);

    gr_csv g;
    char *force[1] = {c.names[0]};
    gr_clear_error();
    st = gr_csv_parse((const char *)d, n, WHERE, delim, force, 1, &g);
    FUZZ_CHECK(st == GR_OK, "forcing a column to strings fails: %s", gr_errmsg());
    FUZZ_CHECK(g.is_string[0] && g.nrows == c.nrows, "forced parse differs");
    gr_csv_free(&g);

    check_round_trip(&c, delim);
    unsigned h = 0;
    for (size_t i = 0; i < n; i++) h = h * 131 + d[i];
    check_import(d, n, &c, delim, h % 8);
    gr_csv_free(&c);
    return 0;
}
