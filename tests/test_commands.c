/* test_commands.c: gravrd's subcommands (include/commands.h) run in-process on sub-communicators, many
 * cases in one launch: the bad-input matrices and rank sweeps of the integration scripts, without an
 * mpirun (and its start-up, and its 2 s wait after a failed rank) per case.
 *
 *   test_commands            the built-in cases below (tests/run.sh runs it like every build/tests/test_*)
 *   test_commands CASES      the cases of the file CASES, in order (tests/lib.sh: case_add, cases_run)
 *
 * A line of CASES is tab-separated: SIZES EXPECT NAME COMMAND ARG...
 *   SIZES   the sub-communicator sizes to run the case on, in turn, e.g. "1,3": the first P ranks of the
 *           launch (a size above the launch's is a failed check, not a skip)
 *   EXPECT  "ok": every rank returns 0; "fail:ERE": every rank returns non-zero and the output of all
 *           ranks (stdout and stderr, captured) matches the POSIX extended regular expression, line by
 *           line as grep -E does; "fail1:ERE": as "fail:", and the output holds exactly one line that
 *           starts "gravrd: error:", which matches ERE; "out:FILE": as "ok", and rank 0's stdout goes to
 *           FILE. A leading '!' (not with out:) inverts the verdict: "ok - NAME (why)" when the check
 *           fails, a self-test of the judge
 *   NAME, COMMAND and each ARG: "{P}" stands for the size
 * Rank 0 prints one TAP line per case and size: "ok - NAME" or "not ok - NAME: why". Between cases
 * the error record and --quiet are reset and the command line of the provenance is set to
 * "gravrd COMMAND ARG...", as bin/gravrd would have it. Exits 0 (run.sh counts the TAP lines); 2 when
 * CASES cannot be read. */
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "commands.h"
#include "gr.h"
#include "opts.h"

enum { MAX_ARGS = 96, MAX_OUT = 1 << 16, MAX_LINE = 1 << 15 };

typedef int (*cmd_fn)(int, char **, MPI_Comm);
static const struct { const char *name; cmd_fn fn; } commands[] = {
    {"simulate", cmd_simulate}, {"import", cmd_import}, {"check", cmd_check}, {"dump", cmd_dump},
    {"estimate", cmd_estimate}, {"segments", cmd_segments}, {"design", cmd_design}, {"balance", cmd_balance},
    {"match", cmd_match}, {"rdgrid", cmd_rdgrid}, {"rd", cmd_rd}, {"grid", cmd_grid}, {"mediate", cmd_mediate}, {NULL, NULL}};

static int rank, nranks;
static char capture_path[64];

/* Local: the command named `name`, NULL if none. */
static cmd_fn lookup(const char *name)
{
    for (int i = 0; commands[i].name; i++)
        if (strcmp(commands[i].name, name) == 0) return commands[i].fn;
    return NULL;
}

/* Local: a copy of s with every "{P}" replaced by p (caller frees). */
static char *subst(const char *s, int p)
{
    char num[16];
    snprintf(num, sizeof num, "%d", p);
    size_t n = strlen(s) + 1, k = 0;
    for (const char *q = s; (q = strstr(q, "{P}")); q += 3) n += strlen(num);
    char *out = gr_malloc(n, 1);
    while (*s) {
        if (strncmp(s, "{P}", 3) == 0) { k += (size_t)sprintf(out + k, "%s", num); s += 3; }
        else out[k++] = *s++;
    }
    out[k] = '\0';
    return out;
}

/* Local: open (truncated) this rank's capture file for stream k (0 stdout, 1 stderr), or path if not NULL. */
static int capture_open(int k, const char *path)
{
    char own[80];
    snprintf(own, sizeof own, "%s.%d", capture_path, k);
    return open(path ? path : own, O_RDWR | O_CREAT | O_TRUNC, 0600);
}

/* Local: run fn on comm with stdout (to stdout_path if not NULL, else a capture file) and stderr sent to
 * files. out gets the start of stdout followed by stderr (at most MAX_OUT - 1 bytes in all). Returns the
 * command's status. */
static int run_captured(cmd_fn fn, int argc, char **argv, MPI_Comm comm, const char *stdout_path, char *out)
{
    fflush(stdout);
    fflush(stderr);
    int fd[2] = {capture_open(0, stdout_path), capture_open(1, NULL)}, saved[2] = {dup(1), dup(2)};
    if (fd[0] < 0 || fd[1] < 0 || saved[0] < 0 || saved[1] < 0) {
        perror("test_commands: capture");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    dup2(fd[0], 1);
    dup2(fd[1], 2);
    int status = fn(argc, argv, comm);
    fflush(stdout);
    fflush(stderr);
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        dup2(saved[k], k + 1);
        close(saved[k]);
        ssize_t got = pread(fd[k], out + n, (k == 0 ? MAX_OUT / 2 : MAX_OUT - 1) - n, 0);
        n += got > 0 ? (size_t)got : 0;
        close(fd[k]);
    }
    out[n] = '\0';
    return status;
}

/* Local: does any line of text match the extended regular expression pat? -1 if pat does not compile. */
static int matches(const char *pat, const char *text)
{
    regex_t re;
    if (regcomp(&re, pat, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) != 0) return -1;
    int hit = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return hit;
}

/* Local (rank 0): one line of text for a failure message: newlines as spaces, at most 300 bytes. */
static const char *flat(const char *text)
{
    static char buf[304];
    size_t n = strlen(text), from = n > 300 ? n - 300 : 0, k = 0;
    for (size_t i = from; i < n; i++) buf[k++] = text[i] == '\n' ? ' ' : text[i];
    buf[k] = '\0';
    return buf;
}

/* Local: the number of lines of text that start "gravrd: error:"; a copy of the first in *first (caller
 * frees; NULL if none). */
static int error_lines(const char *text, char **first)
{
    int n = 0;
    *first = NULL;
    for (const char *q = text; *q; q += strcspn(q, "\n") + (q[strcspn(q, "\n")] == '\n')) {
        if (strncmp(q, "gravrd: error:", 14) != 0 || n++ > 0) continue;
        size_t len = strcspn(q, "\n");
        *first = gr_malloc(len + 1, 1);
        memcpy(*first, q, len);
        (*first)[len] = '\0';
    }
    return n;
}

/* Rank 0: judge one run from every rank's status (size p, -1 for ranks outside) and gathered output; a
 * leading '!' in expect inverts the verdict (the built-in cases check that the judge can say no). */
static void judge(const char *name, const char *expect, int p, const int *st, const char *all)
{
    char why[512] = "";
    int nonzero = 0, negate = expect[0] == '!';
    expect += negate;
    for (int r = 0; r < p; r++) nonzero += st[r] != 0;
    int one = strncmp(expect, "fail1:", 6) == 0;
    if (one || strncmp(expect, "fail:", 5) == 0) {
        const char *pat = expect + (one ? 6 : 5), *hay = all;
        char *line = NULL;
        int lines = error_lines(all, &line);
        if (one && line) hay = line;
        int hit = matches(pat, hay);
        if (nonzero == 0) snprintf(why, sizeof why, "exited 0");
        else if (nonzero < p) snprintf(why, sizeof why, "%d of %d ranks exited 0", p - nonzero, p);
        else if (one && lines != 1) snprintf(why, sizeof why, "%d error lines: %s", lines, flat(all));
        else if (hit < 0) snprintf(why, sizeof why, "bad pattern /%s/", pat);
        else if (!hit) snprintf(why, sizeof why, "message lacks /%s/: %s", pat, flat(all));
        free(line);
    } else if (nonzero) {
        int r = 0;
        while (st[r] == 0) r++;
        snprintf(why, sizeof why, "rank %d exited %d: %s", r, st[r], flat(all));
    }
    if (negate && *why) printf("ok - %s (%s)\n", name, why);
    else if (negate) printf("not ok - %s: the check passed\n", name);
    else if (*why) printf("not ok - %s: %s\n", name, why);
    else printf("ok - %s\n", name);
    fflush(stdout);
}

/* Collective over MPI_COMM_WORLD: wait for every rank, sleeping instead of spinning: the ranks outside a
 * case would otherwise take turns on the cores with the ones running it. */
static void sleepy_barrier(void)
{
    MPI_Request req;
    int done = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    for (MPI_Test(&req, &done, MPI_STATUS_IGNORE); !done; MPI_Test(&req, &done, MPI_STATUS_IGNORE))
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 1000000}, NULL);
}

/* Collective over MPI_COMM_WORLD: statuses and captured outputs of all ranks to rank 0 (st, all). */
static void gather(int status, const char *out, int *st, char **all)
{
    int len = (int)strlen(out), *lens = NULL, *offs = NULL, total = 0;
    MPI_Gather(&status, 1, MPI_INT, st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) lens = gr_malloc((size_t)nranks, sizeof *lens), offs = gr_malloc((size_t)nranks, sizeof *offs);
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0)
        for (int r = 0; r < nranks; r++) offs[r] = total, total += lens[r];
    if (rank == 0) *all = gr_malloc((size_t)total + 1, 1);
    MPI_Gatherv(out, len, MPI_CHAR, rank == 0 ? *all : NULL, lens, offs, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0) (*all)[total] = '\0';
    free(lens);
    free(offs);
}

/* Collective over MPI_COMM_WORLD: run one case (argv[0] the command) on the first p ranks and judge it. */
static void run_case(const char *name, const char *expect, int p, int argc, char **argv)
{
    cmd_fn fn = lookup(argv[0]);
    if (p < 1 || p > nranks || !fn) {
        if (rank == 0) printf("not ok - %s: %s\n", name, !fn ? "unknown command" : "more ranks than the launch has");
        return;
    }
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, rank < p ? 0 : MPI_UNDEFINED, rank, &sub);
    char *out = gr_malloc(MAX_OUT, 1);
    out[0] = '\0';
    int status = -1;
    const char *stdout_path = rank == 0 && strncmp(expect, "out:", 4) == 0 ? expect + 4 : NULL;  /* no '!' with out: */
    if (sub != MPI_COMM_NULL) {
        char *full[MAX_ARGS + 2] = {"gravrd"};
        for (int i = 0; i < argc; i++) full[i + 1] = argv[i];
        gr_clear_error();
        gr_quiet = 0;
        gr_opts_set_command_line(argc + 1, full);
        status = run_captured(fn, argc, argv, sub, stdout_path, out);
        gr_clear_error();
        MPI_Comm_free(&sub);
    }
    int *st = rank == 0 ? gr_malloc((size_t)nranks, sizeof *st) : NULL;
    char *all = NULL;
    sleepy_barrier();
    gather(status, out, st, &all);
    if (rank == 0) judge(name, expect, p, st, all);
    free(st);
    free(all);
    free(out);
}

/* Local: split line at tabs into f (at most max fields); returns the count, -1 if there are more. */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *s = line;; ) {
        if (n == max) return -1;
        f[n++] = s;
        char *t = strchr(s, '\t');
        if (!t) break;
        *t = '\0';
        s = t + 1;
    }
    return n;
}

/* Collective over MPI_COMM_WORLD: run the cases of one line of a CASES file on each of its sizes. */
static void run_line(char *line, int lineno)
{
    char *f[MAX_ARGS + 3];
    int nf = split_tabs(line, f, MAX_ARGS + 3);
    if (nf < 4) {
        if (rank == 0) printf("not ok - cases line %d: expected SIZES, EXPECT, NAME, COMMAND and at most %d ARGs\n", lineno, MAX_ARGS);
        return;
    }
    for (char *sz = f[0]; *sz; ) {
        char *end;
        long p = strtol(sz, &end, 10);
        if (end == sz || (*end && *end != ',')) {
            if (rank == 0) printf("not ok - cases line %d: bad sizes '%s'\n", lineno, f[0]);
            return;
        }
        sz = *end ? end + 1 : end;
        char *name = subst(f[2], (int)p), *expect = subst(f[1], (int)p), *argv[MAX_ARGS + 1];
        int argc = nf - 3;
        for (int i = 0; i < argc; i++) argv[i] = subst(f[3 + i], (int)p);
        argv[argc] = NULL;
        run_case(name, expect, (int)p, argc, argv);
        for (int i = 0; i < argc; i++) free(argv[i]);
        free(name);
        free(expect);
    }
}

/* Collective over MPI_COMM_WORLD: run every case of the file path; 0, or 2 if it cannot be read. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "r");
    int ok = f != NULL, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        if (rank == 0) printf("not ok - test_commands: cannot read %s\n", path);
        if (f) fclose(f);
        return 2;
    }
    char *line = gr_malloc(MAX_LINE, 1);
    for (int lineno = 1; fgets(line, MAX_LINE, f); lineno++)
        if (line[0] != '#' && line[0] != '\n') run_line(line, lineno);
    free(line);
    fclose(f);
    return 0;
}

/* Local (rank 0): the built-in cases, on sizes 1 .. the launch's, in dir: a tiny panel written and
 * checked, and failures that must give the same one-line message every time they are run in-process
 * (the error record, --quiet and the options are reset between cases). */
static void builtin_cases(FILE *f, const char *dir)
{
    char all[32] = "1";
    for (int p = 2; p <= nranks; p++) snprintf(all + strlen(all), sizeof all - strlen(all), ",%d", p);
    fprintf(f, "%d\tok\tsimulate a tiny panel (%d ranks)\tsimulate\t--out\t%s/tiny.h5\t--east\t2\t--west\t3"
               "\t--months\t2\t--seed\t1\n", nranks, nranks, dir);
    for (int k = 0; k < 2; k++) {
        fprintf(f, "%s\tok\tcheck the tiny panel ({P} ranks, run %d)\tcheck\t%s/tiny.h5\n", all, k + 1, dir);
        fprintf(f, "%s\tfail:^gravrd: error: %s/none.h5: no such file$\tcheck: a missing file ({P} ranks, run %d)"
                   "\tcheck\t%s/none.h5\n", all, dir, k + 1, dir);
        fprintf(f, "%s\tfail:^gravrd: error: estimate: unknown option '--bogus'\testimate: an unknown option ({P} ranks, "
                   "run %d)\testimate\t--bogus\n", all, k + 1);
        fprintf(f, "%s\tfail:unknown column 'nosuch'\testimate: an unknown column ({P} ranks, run %d)\testimate\t--data"
                   "\t%s/tiny.h5\t--formula\tlog(trade) ~ nosuch | exporter\n", all, k + 1, dir);
        fprintf(f, "%s\tout:%s/dump{P}.csv\tdump the cities table to a file ({P} ranks, run %d)\tdump\t%s/tiny.h5\t--table"
                   "\tcities\t--columns\tcity,region\n", all, dir, k + 1, dir);
    }
    /* the judge says no: to a success expected to fail, a failure expected to succeed, a message that lacks
     * the pattern, a pattern found on another line than the one error line */
    fprintf(f, "%s\t!fail:.\tjudge: a run that exits 0 is not a failure ({P} ranks)\tcheck\t%s/tiny.h5\n", all, dir);
    fprintf(f, "%s\t!ok\tjudge: a run that exits non-zero is not a success ({P} ranks)\tcheck\t%s/none.h5\n", all, dir);
    fprintf(f, "%s\t!fail:no such panel\tjudge: a message without the pattern ({P} ranks)\tcheck\t%s/none.h5\n", all, dir);
    fprintf(f, "%s\t!fail1:effective options\tjudge: the pattern on another line than the error line ({P} ranks)\tcheck\t%s/none.h5"
               "\t--echo\n", all, dir);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    const char *tmp = getenv("TMPDIR");
    snprintf(capture_path, sizeof capture_path, "%s/gravrd-cmd.%d.%d", tmp && strlen(tmp) < 32 ? tmp : "/tmp",
             (int)getpid(), rank);
    int rc = 0;
    if (argc > 2) {
        if (rank == 0) fprintf(stderr, "usage: test_commands [CASES]\n");
        rc = 2;
    } else if (argc == 2) {
        rc = run_file(argv[1]);
    } else {
        char dir[64] = "/tmp/gravrd-cmd.XXXXXX", cases[96];
        int ok = rank != 0 || mkdtemp(dir) != NULL;
        MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
        snprintf(cases, sizeof cases, "%s/cases", dir);
        if (rank == 0) {
            FILE *f = ok ? fopen(cases, "w") : NULL;
            if (f) builtin_cases(f, dir);
            if (!f || fclose(f) != 0) printf("not ok - test_commands: cannot write %s\n", cases);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        rc = run_file(cases);
        /* the dumps of the cities table agree on every size */
        if (rank == 0) {
            char cmd[320];
            snprintf(cmd, sizeof cmd, "for f in %s/dump*.csv; do [ -s $f ] && cmp -s %s/dump1.csv $f || exit 1; done", dir, dir);
            if (system(cmd) == 0) printf("ok - the dumps agree on every size\n");
            else printf("not ok - the dumps agree on every size\n");
            snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
            if (system(cmd) != 0) printf("# could not remove %s\n", dir);
        }
    }
    for (int k = 0; k < 2; k++) {
        char path[80];
        snprintf(path, sizeof path, "%s.%d", capture_path, k);
        unlink(path);
    }
    MPI_Finalize();
    return rc;
}
