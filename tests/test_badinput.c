/* test_badinput.c: bad input to every command, in process. Each case calls a command entry point
 * (commands.h) on an MPI sub-communicator of 1 rank, and again of 3 ranks, both made with MPI_Comm_split
 * inside one launch: `mpirun -n 3 build/tests/test_badinput` runs both; run directly (1 rank) it runs the
 * 1-rank cases and prints a notice that the 3-rank ones need mpirun -n 3. For every case it asserts
 *   - the exit status the command returns (1, or 2 for usage errors) on every rank of the sub-communicator,
 *   - exactly one `gravrd: error:` line over the stderr of all ranks (fd 2 captured with dup/dup2), and
 *     that it matches the case's pattern (the file, line, option or column and what is wrong),
 *   - no HDF5 diagnostic dump on stderr,
 *   - no output or temporary file left and no input changed: the case's directory (its inputs are fresh
 *     copies of the fixtures it names) is listed, with a hash of every file, before and after the call.
 * Read-only directories and unreadable files are made with chmod; as root the call runs with
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped from the effective set, so the modes apply. A
 * "/dev/full" file target is a private copy of the device (mknod c 1 7 in the case directory): a writer
 * that renames its temporary file over the target must never be pointed at the real /dev/full. Standard
 * output on /dev/full is the real device, opened for writing (writes fail with ENOSPC, nothing is renamed).
 * Cases that cannot pass today are skipped with "# KNOWN BUG: ..." (GRAVRD_BADINPUT_KNOWN=1 runs them).
 * Every rank gathers every rank's result and asserts the same things, so all ranks pass or fail alike.
 * Signals mid-write and a full disk need their own processes and mounts: tests/it_io.sh. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/capability.h>
#include <cmocka.h>
#include <hdf5.h>
#include "commands.h"
#include "gr.h"

typedef int (*cmd_fn)(int, char **, MPI_Comm);

enum {
    F_STDOUT_FULL = 1 << 0,  /* the command's standard output is /dev/full */
    F_SHARED = 1 << 1        /* needs ../shared/data (skipped with a notice when absent) */
};

#define MAXARG 20
typedef struct {
    const char *name;           /* "command: what is wrong" (the TAP name, with the rank count added) */
    cmd_fn fn;
    const char *argv[MAXARG];   /* argv[0] = the command name; @NAME = a generated argument (gen_arg) */
    int status;                 /* expected exit status */
    const char *re;             /* extended regex (case-insensitive) the error line must match */
    unsigned flags;
    const char *bug;            /* KNOWN BUG: what is wrong today (the case is skipped), NULL otherwise */
} bad_case;

static int wrank, wsize;
static MPI_Comm comm1 = MPI_COMM_NULL, comm3 = MPI_COMM_NULL;
static char scratch[512];        /* the run's scratch root (same path on every rank) */
static char shared_cities[4096]; /* ../shared/data/china_prefecture_cities_2016.csv, absolute, or "" */
static int tap_fd = -1;          /* where the TAP lines go: stdout on rank 0, /dev/null elsewhere */
static int can_mknod, run_known;
static const char *current_case = "";

/* ------------------------------------------------------------------ small file helpers (rank 0) */

static void die(const char *what)
{
    fprintf(stderr, "test_badinput: setup failed: %s: %s\n", what, strerror(errno));
    MPI_Abort(MPI_COMM_WORLD, 3);
}

static void write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) die(path);
}
#define WRITE_TEXT(path, lit) write_file(path, lit, sizeof lit - 1)

static void copy_file(const char *from, const char *to, long limit)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out) die(to);
    char buf[1 << 15];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0 && (limit < 0 || total < limit)) {
        if (limit >= 0 && total + (long)n > limit) n = (size_t)(limit - total);
        if (fwrite(buf, 1, n, out) != n) die(to);
        total += (long)n;
    }
    fclose(in);
    if (fclose(out) != 0) die(to);
}

static void overwrite_at(const char *path, long off, int byte, size_t n)
{
    FILE *f = fopen(path, "r+b");
    if (!f || fseek(f, off, SEEK_SET) != 0) die(path);
    for (size_t i = 0; i < n; i++) fputc(byte, f);
    if (fclose(f) != 0) die(path);
}

/* Remove a tree (best effort; makes read-only directories writable first). */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0755);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ------------------------------------------------------------------ fixtures (W/fix) */

/* HDF5 edits of a copy of the good panel, serial, on rank 0. */
static void h5_edit(const char *path, const char *what)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) die(path);
    if (!strcmp(what, "version2")) {
        double v = 2;
        hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
        if (a < 0 || H5Awrite(a, H5T_NATIVE_DOUBLE, &v) < 0) die("format_version");
        H5Aclose(a);
    } else if (H5Ldelete(f, what, H5P_DEFAULT) < 0) {
        die(what);
    }
    H5Fclose(f);
}

static void make_csv_fixtures(const char *fx)
{
    char p[1024];
#define CSV(name, lit) (snprintf(p, sizeof p, "%s/%s", fx, name), WRITE_TEXT(p, lit))
    CSV("good.csv", "origin,dest,year,value\nA,B,2001,1.5\nA,B,2002,2.5\nA,C,2001,3.5\nB,A,2001,4.5\nC,A,2002,5.5\n");
    CSV("ragged.csv", "origin,dest,year,value\nA,B,2001,1\nA,B,2002,2,3\n");
    CSV("badnum.csv", "origin,dest,year,value\nA,B,2001,1\nA,B,2002,n/a\n");
    CSV("inf.csv", "origin,dest,year,value\nA,B,2001,1\nA,B,2002,inf\n");
    CSV("huge.csv", "origin,dest,year,value\nA,B,2001,1\nA,B,2002,1e999\n");
    CSV("badyear.csv", "origin,dest,year,value\nA,B,2001,1\nA,B,x2002,2\n");
    CSV("duphdr.csv", "origin,dest,year,value,value\nA,B,2001,1,2\nA,B,2002,2,3\n");
    CSV("dupkey.csv", "origin,dest,year,value\nA,B,2001,1\nA,C,2001,2\nA,B,2001,3\n");
    CSV("utf16.csv", "\xff\xfeo\0r\0i\0g\0i\0n\0\n\0A\0\n\0");
    CSV("nul.csv", "origin,dest,year,value\nA,B,2001,1\nA\0,B,2002,2\n");
    CSV("empty.csv", "");
    CSV("hdronly.csv", "origin,dest,year,value\n");
    CSV("blank.csv", "\n\n\n");
    CSV("unclosed.csv", "origin,dest,year,value\nA,B,2001,\"1\n");
    CSV("emptyhdr.csv", "origin,,year,value\nA,B,2001,1\n");
    CSV("noexp.csv", "origin,dest,year,value\nA,B,2001,1\n,B,2002,2\n");
    CSV("rd.csv", "x,y,g\n1,2,a\n2,3,b\n-1,0,a\n-2,1,b\n");
    CSV("nolon.csv", "adcode,name,province,latitude\n1,a,p,30\n");
    CSV("text.h5", "hello, I am not HDF5\n");
    CSV("zero.h5", "");
#undef CSV
    snprintf(p, sizeof p, "%s/adir", fx);
    if (mkdir(p, 0755) != 0) die(p);
}

/* Collective over MPI_COMM_WORLD: the good panels (made by the commands themselves) and the bad files. */
static void make_fixtures(void)
{
    char fx[600], p[1024], q[1024];
    snprintf(fx, sizeof fx, "%s/fix", scratch);
    if (wrank == 0) {
        if (mkdir(fx, 0755) != 0) die(fx);
        make_csv_fixtures(fx);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(p, sizeof p, "%s/panel.h5", fx);
    char *sim[] = {"simulate", "--out", p, "--east", "30", "--west", "40", "--months", "2", "--seed", "3", NULL};
    gr_quiet = 1;
    int fd = dup(1), nul = open("/dev/null", O_WRONLY);
    dup2(nul, 1);
    int rc = cmd_simulate(11, sim, MPI_COMM_WORLD);
    snprintf(q, sizeof q, "%s/rd.csv", fx);
    char nc[1024];
    snprintf(nc, sizeof nc, "%s/nocity.h5", fx);
    char *imp[] = {"import", q, nc, "--quiet", NULL};
    if (!rc) rc = cmd_import(4, imp, MPI_COMM_WORLD);
    fflush(stdout);
    dup2(fd, 1);
    close(fd);
    close(nul);
    gr_quiet = 0;
    if (rc) { fprintf(stderr, "test_badinput: cannot make the fixture panels: %s\n", gr_errmsg()); MPI_Abort(MPI_COMM_WORLD, 3); }
    if (wrank == 0) {
        static const struct { const char *name, *edit; } edits[] = {
            {"v2.h5", "version2"}, {"nopanel.h5", "/panel"}, {"nocities.h5", "/cities"}};
        for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
            snprintf(q, sizeof q, "%s/%s", fx, edits[i].name);
            copy_file(p, q, -1);
            h5_edit(q, edits[i].edit);
        }
        struct stat st;
        if (stat(p, &st) != 0) die(p);
        snprintf(q, sizeof q, "%s/trunc.h5", fx);
        copy_file(p, q, (long)st.st_size / 3);
        snprintf(q, sizeof q, "%s/corrupt.h5", fx);
        copy_file(p, q, -1);
        overwrite_at(q, 8, 'X', 40);  /* the superblock after its signature */
        snprintf(q, sizeof q, "%s/unreadable.h5", fx);
        copy_file(p, q, -1);
        snprintf(q, sizeof q, "%s/unreadable.csv", fx);
        snprintf(p, sizeof p, "%s/good.csv", fx);
        copy_file(p, q, -1);
        if (shared_cities[0]) {  /* a real city table, for the case that writes over it */
            snprintf(q, sizeof q, "%s/cities.csv", fx);
            copy_file(shared_cities, q, -1);
        }
        snprintf(q, sizeof q, "%s/notpanel.h5", fx);
        hid_t f = H5Fcreate(q, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f < 0) die(q);
        H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* ------------------------------------------------------------------ the case directory (rank 0) */

/* Arguments too long or deep to write in the table. Caller frees. */
static char *gen_arg(const char *tag)
{
    size_t cap = (1u << 20) + 4096, n = 0;
    char *s = malloc(cap);
    if (!s) die("malloc");
    s[0] = 0;
#define ADD(...) (n += (size_t)snprintf(s + n, cap - n, __VA_ARGS__))
    if (!strcmp(tag, "@DEEP_WHERE") || !strcmp(tag, "@DEEP_FORMULA")) {
        int d = 5000;
        for (int i = 0; i < d; i++) ADD("(");
        ADD("%s", tag[6] == 'W' ? "month" : "log(trade)");
        for (int i = 0; i < d; i++) ADD(")");
        ADD("%s", tag[6] == 'W' ? " > 0" : " ~ partner");
    } else if (!strcmp(tag, "@LONG_WHERE")) {
        ADD("month > 0");
        while (n < 25000) ADD(" && month > 0");
    } else if (!strcmp(tag, "@LONG_VARS")) {
        ADD("distance_km");
        while (n < 25000) ADD(" + distance_km");
    } else if (!strcmp(tag, "@LONG_FORMULA")) {  /* over 1 MiB of distinct terms */
        ADD("log(trade) ~ partner");
        for (int i = 1; n < (1u << 20) + 100; i++) ADD(" + I(distance_km * %d)", i);
    } else {
        ADD("%s", tag);
    }
#undef ADD
    return s;
}

/* The fixture an argument names: its first path component, if W/fix has it. */
static int names_fixture(const char *arg, char *name, size_t len)
{
    if (arg[0] == '-' || arg[0] == '@' || strlen(arg) >= len) return 0;
    snprintf(name, len, "%s", arg);
    char *slash = strchr(name, '/');
    if (slash) *slash = 0;
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/fix/%s", scratch, name);
    return name[0] && stat(path, &st) == 0;
}

/* Make the case directory: fresh copies of the fixtures the arguments name; "ro" a read-only directory;
 * "full" a private /dev/full; "link.h5" a symbolic link to panel.h5; "unreadable.*" mode 000.
 * Returns 0, or 1 when the case needs what this machine cannot give (printed as a notice). */
static int setup_case_dir(const bad_case *c, const char *dir)
{
    if (mkdir(dir, 0755) != 0) die(dir);
    for (int i = 1; i < MAXARG && c->argv[i]; i++) {
        const char *a = c->argv[i];
        char name[256], from[1024], to[1024];
        snprintf(to, sizeof to, "%s/%s", dir, a);
        if (!strncmp(a, "ro/", 3) || !strcmp(a, "ro")) {
            snprintf(to, sizeof to, "%s/ro", dir);
            if (mkdir(to, 0555) != 0 && errno != EEXIST) die(to);
        } else if (!strcmp(a, "full")) {
            if (!can_mknod) return 1;
            if (mknod(to, S_IFCHR | 0666, makedev(1, 7)) != 0 && errno != EEXIST) die(to);
        } else if (!strcmp(a, "link.h5")) {
            if (symlink("panel.h5", to) != 0 && errno != EEXIST) die(to);
        } else if (names_fixture(a, name, sizeof name)) {
            snprintf(from, sizeof from, "%s/fix/%s", scratch, name);
            snprintf(to, sizeof to, "%s/%s", dir, name);
            struct stat st;
            if (lstat(to, &st) == 0) continue;
            if (stat(from, &st) == 0 && S_ISDIR(st.st_mode)) {
                if (mkdir(to, 0755) != 0) die(to);
            } else {
                copy_file(from, to, -1);
                if (!strncmp(name, "unreadable", 10) && chmod(to, 0) != 0) die(to);
            }
        }
    }
    return 0;
}

/* The directory as text: one line per entry (recursive), "path type mode size hash". */
static void snapshot(const char *dir, const char *rel, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char *names[256];
    int n = 0;
    while ((e = readdir(d)) && n < 256)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)  /* sorted, so that the listing does not depend on readdir's order */
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) { char *t = names[i]; names[i] = names[j]; names[j] = t; }
    for (int i = 0; i < n; i++) {
        char path[1024], r[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(r, sizeof r, "%s%s", rel, names[i]);
        struct stat st;
        uint64_t h = 1469598103934665603ULL;
        char type = '?';
        if (lstat(path, &st) == 0) {
            type = S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' : S_ISCHR(st.st_mode) ? 'c' : S_ISLNK(st.st_mode) ? 'l' : '?';
            FILE *f = type == 'f' ? fopen(path, "rb") : NULL;
            int ch;
            while (f && (ch = fgetc(f)) != EOF) h = (h ^ (uint64_t)ch) * 1099511628211ULL;
            if (f) fclose(f);
        }
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s %c %o %lld %016llx\n", r, type, (unsigned)(st.st_mode & 07777),
                 (long long)st.st_size, (unsigned long long)h);
        if (type == 'd') {
            char sub[600];
            snprintf(sub, sizeof sub, "%s/", r);
            snapshot(path, sub, out, cap);
        }
        free(names[i]);
    }
}

/* The first line of `after` that differs from `before`, as a reason. */
static void snapshot_diff(const char *before, const char *after, char *why, size_t len)
{
    why[0] = 0;
    if (!strcmp(before, after)) return;
    const char *a = before, *b = after;
    while (*a && *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        if (ea - a != eb - b || strncmp(a, b, (size_t)(ea - a))) break;
        a = ea + 1;
        b = eb + 1;
    }
    snprintf(why, len, "case directory changed: before '%.*s', after '%.*s'", (int)strcspn(a, "\n"), a,
             (int)strcspn(b, "\n"), b);
}

/* ------------------------------------------------------------------ running one case */

/* As root, switch CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH off or back on in the effective set, so that
 * file modes apply to the command (Local, this thread). A no-op for other users. */
static void dac_caps(int on)
{
    if (geteuid() != 0) return;
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) die("capget");
    unsigned m = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);
    d[0].effective = on ? d[0].effective | (m & d[0].permitted) : d[0].effective & ~m;
    if (syscall(SYS_capset, &h, d) != 0) die("capset");
}

typedef struct {
    int in, status, nerr, hdf5_diag;
    char line[1000];   /* the first "gravrd: error:" line of this rank */
} rank_result;

static void on_alarm(int sig)
{
    (void)sig;
    char msg[600];
    int n = snprintf(msg, sizeof msg, "not ok - %s: no result after 120 s (hang?)\n", current_case);
    if (write(tap_fd, msg, (size_t)n) < 0) _exit(4);
    _exit(4);
}

/* Scan this rank's captured stderr. */
static void scan_stderr(const char *path, rank_result *r)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    while (f && fgets(buf, sizeof buf, f)) {
        if (strstr(buf, "HDF5-DIAG")) r->hdf5_diag = 1;
        if (!strstr(buf, "gravrd: error:")) continue;
        if (r->nerr++ == 0) {
            buf[strcspn(buf, "\n")] = 0;
            snprintf(r->line, sizeof r->line, "%.999s", buf);
        }
    }
    if (f) fclose(f);
}

/* Run the command on `comm` (this rank is in it) with fds 1 and 2 captured; the result in *r. */
static void call_command(const bad_case *c, MPI_Comm comm, const char *dir, char **argv, int argc, rank_result *r)
{
    char outp[600], errp[600];
    snprintf(outp, sizeof outp, "%s/cap.%d.out", scratch, wrank);
    snprintf(errp, sizeof errp, "%s/cap.%d.err", scratch, wrank);
    int fo = (c->flags & F_STDOUT_FULL) ? open("/dev/full", O_WRONLY) : open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fo < 0 || fe < 0) die("capture files");
    fflush(stdout);
    fflush(stderr);
    clearerr(stdout);
    int so = dup(1), se = dup(2);
    dup2(fo, 1);
    dup2(fe, 2);
    if (chdir(dir) != 0) die(dir);
    gr_clear_error();
    gr_quiet = 0;
    dac_caps(0);
    r->status = c->fn(argc, argv, comm);
    dac_caps(1);
    fflush(stdout);
    fflush(stderr);
    clearerr(stdout);
    if (chdir(scratch) != 0) die(scratch);
    dup2(so, 1);
    dup2(se, 2);
    close(so); close(se); close(fo); close(fe);
    gr_clear_error();
    gr_quiet = 0;
    r->in = 1;
    scan_stderr(errp, r);
}

/* Collective over MPI_COMM_WORLD. Run case c on `comm` (MPI_COMM_NULL on ranks outside it) and check it;
 * every rank reaches the same verdict. */
static void run_case(const bad_case *c, MPI_Comm comm, int nr, int id)
{
    char dir[700], why[2400] = "", *before = NULL;
    snprintf(dir, sizeof dir, "%s/case%03d-%d", scratch, id, nr);
    int skip_it = 0;
    if (wrank == 0) {
        skip_it = setup_case_dir(c, dir);
        before = calloc(1, 1 << 16);
        snapshot(dir, "", before, 1 << 16);
    }
    MPI_Bcast(&skip_it, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (skip_it) {
        if (wrank == 0) { printf("# no private /dev/full (mknod failed): skipping %s\n", c->name); remove_tree(dir); free(before); }
        skip();
    }
    char *argv[MAXARG + 1];
    int argc = 0;
    for (; argc < MAXARG && c->argv[argc]; argc++) argv[argc] = gen_arg(c->argv[argc]);
    argv[argc] = NULL;
    rank_result mine;
    memset(&mine, 0, sizeof mine);
    alarm(120);
    if (comm != MPI_COMM_NULL) call_command(c, comm, dir, argv, argc, &mine);
    MPI_Barrier(MPI_COMM_WORLD);
    alarm(0);
    for (int i = 0; i < argc; i++) free(argv[i]);
    if (wrank == 0) {
        char *after = calloc(1, 1 << 16);
        snapshot(dir, "", after, 1 << 16);
        snapshot_diff(before, after, why, sizeof why);
        free(before);
        free(after);
        if (!getenv("GRAVRD_BADINPUT_KEEP")) remove_tree(dir);
    }
    MPI_Bcast(why, sizeof why, MPI_CHAR, 0, MPI_COMM_WORLD);
    rank_result *all = calloc((size_t)wsize, sizeof *all);
    MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all, sizeof mine, MPI_BYTE, MPI_COMM_WORLD);
    int nerr = 0;
    const char *line = NULL;
    for (int r = 0; r < wsize; r++) {
        if (!all[r].in) continue;
        if (all[r].status != c->status && !why[0])
            snprintf(why, sizeof why, "rank %d returned %d, expected %d", r, all[r].status, c->status);
        if (all[r].hdf5_diag && !why[0]) snprintf(why, sizeof why, "rank %d printed an HDF5 diagnostic", r);
        nerr += all[r].nerr;
        if (all[r].nerr && !line) line = all[r].line;
    }
    if (!why[0] && nerr != 1) snprintf(why, sizeof why, "%d 'gravrd: error:' lines, expected 1%s%s", nerr, line ? ": " : "", line ? line : "");
    if (!why[0]) {
        regex_t re;
        if (regcomp(&re, c->re, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) snprintf(why, sizeof why, "bad regex %s", c->re);
        else {
            if (regexec(&re, line, 0, NULL, 0) != 0) snprintf(why, sizeof why, "error line '%s' lacks /%s/", line, c->re);
            regfree(&re);
        }
    }
    free(all);
    if (why[0]) {
        if (wrank == 0) printf("# %s (%d rank%s): %s\n", c->name, nr, nr > 1 ? "s" : "", why);
        fail_msg("%s", why);
    }
}

/* ------------------------------------------------------------------ the cases */

#define P "panel.h5"
#define FORMULA "log(trade) ~ partner"
/* Each case: {name, command, argv, status, pattern of the error line, flags, known bug}. */
static const bad_case cases[] = {
    /* ---- files ---- */
    /* check: a file that does not exist is named as missing */
    {"check: missing file", cmd_check, {"check", "missing.h5"}, 1, "^gravrd: error: missing\\.h5: no such file$", 0, NULL},
    /* dump: a directory given as the panel */
    {"dump: a directory as the panel", cmd_dump, {"dump", "adir"}, 1, "adir: not a regular file", 0, NULL},
    /* estimate: a panel file without read permission is reported as unreadable (not as some other problem) */
    {"estimate: unreadable panel", cmd_estimate, {"estimate", "--data", "unreadable.h5", "--formula", FORMULA}, 1,
     "unreadable\\.h5: .*(permission denied|cannot (open|read))", 0,
     NULL},
    /* segments: a zero-byte file */
    {"segments: empty file", cmd_segments, {"segments", "--data", "zero.h5", "-b", "100"}, 1, "zero\\.h5: empty file", 0, NULL},
    /* design: an HDF5 panel cut to a third of its bytes */
    {"design: truncated panel", cmd_design, {"design", "--data", "trunc.h5", "--bandwidth", "100"}, 1,
     "trunc\\.h5: (cannot open as HDF5|.*truncated)", 0, NULL},
    /* balance: a panel whose superblock is overwritten */
    {"balance: corrupted panel", cmd_balance, {"balance", "--data", "corrupt.h5", "--bandwidth", "100"}, 1,
     "corrupt\\.h5: (cannot open as HDF5|not an HDF5 file)", 0, NULL},
    /* match: an HDF5 file that is not a gravrd panel */
    {"match: HDF5 file that is not a panel", cmd_match, {"match", "--data", "notpanel.h5", "--bandwidth", "100", "--formula", FORMULA}, 1,
     "notpanel\\.h5: not a gravrd panel", 0, NULL},
    /* rdgrid: a panel of format version 2 */
    {"rdgrid: wrong format version", cmd_rdgrid, {"rdgrid", "--data", "v2.h5", "--y", "log(trade)", "--bandwidth", "100"}, 1,
     "v2\\.h5: format_version '2' not supported", 0, NULL},
    /* rd: a text file given as the panel */
    {"rd: text file as the panel", cmd_rd, {"rd", "--data", "text.h5", "--y", "trade", "--running", "distance_km", "--bandwidth", "100"}, 1,
     "text\\.h5: not an HDF5 file", 0, NULL},
    /* estimate: a panel without its /panel group */
    {"estimate: panel without /panel", cmd_estimate, {"estimate", "--data", "nopanel.h5", "--formula", FORMULA}, 1,
     "nopanel\\.h5: missing group /panel", 0, NULL},
    /* dump: a truncated panel */
    {"dump: truncated panel", cmd_dump, {"dump", "trunc.h5"}, 1, "trunc\\.h5: (cannot open as HDF5|.*truncated)", 0, NULL},
    /* check: a corrupted superblock */
    {"check: corrupted panel", cmd_check, {"check", "corrupt.h5"}, 1, "corrupt\\.h5: (cannot open as HDF5|not an HDF5 file)", 0, NULL},
    /* segments: a panel without a cities table (imported from a CSV without --exporter/--importer) */
    {"segments: panel without cities", cmd_segments, {"segments", "--data", "nocity.h5", "-b", "100"}, 1,
     "nocity\\.h5: the panel has no /cities table", 0, NULL},
    /* balance: a panel without a pairs table */
    {"balance: panel without pairs", cmd_balance, {"balance", "--data", "nocity.h5", "--bandwidth", "100"}, 1,
     "nocity\\.h5: the file has no pairs table", 0, NULL},
    /* rd: a missing panel */
    {"rd: missing file", cmd_rd, {"rd", "--data", "missing.h5", "--y", "trade", "--running", "x", "--bandwidth", "1"}, 1,
     "missing\\.h5: no such file", 0, NULL},
    /* import: a missing CSV */
    {"import: missing CSV", cmd_import, {"import", "missing.csv", "out.h5"}, 1, "missing\\.csv: cannot open for reading: no such file", 0, NULL},
    /* import: a directory as the CSV */
    {"import: a directory as the CSV", cmd_import, {"import", "adir", "out.h5"}, 1, "adir: .*directory", 0, NULL},
    /* import: a CSV without read permission */
    {"import: unreadable CSV", cmd_import, {"import", "unreadable.csv", "out.h5"}, 1, "unreadable\\.csv: cannot open for reading: permission denied", 0, NULL},
    /* simulate: --cities names a missing file */
    {"simulate: missing --cities file", cmd_simulate, {"simulate", "--out", "out.h5", "--cities", "missing.csv"}, 1,
     "missing\\.csv: cannot open for reading", 0, NULL},
    /* simulate: --cities names a directory */
    {"simulate: --cities is a directory", cmd_simulate, {"simulate", "--out", "out.h5", "--cities", "adir"}, 1, "adir: .*directory", 0, NULL},

    /* ---- CSV ---- */
    /* import: a row with more fields than the header, named by line */
    {"import: ragged row", cmd_import, {"import", "ragged.csv", "out.h5"}, 1, "ragged\\.csv:3: expected 4 fields as in the header, found 5", 0, NULL},
    /* import: text in a numeric column */
    {"import: text in a numeric column", cmd_import, {"import", "badnum.csv", "out.h5"}, 1, "badnum\\.csv:3: column 'value': expected a number.*'n/a'", 0, NULL},
    /* import: an infinite value */
    {"import: non-finite value", cmd_import, {"import", "inf.csv", "out.h5"}, 1, "inf\\.csv:3: column 'value': .*'inf'", 0, NULL},
    /* import: a number out of the double range */
    {"import: number out of range", cmd_import, {"import", "huge.csv", "out.h5"}, 1, "huge\\.csv:3: column 'value': .*'1e999'", 0, NULL},
    /* import: a non-numeric value in the --time column */
    {"import: text in the time column", cmd_import, {"import", "badyear.csv", "out.h5", "--exporter", "origin", "--importer", "dest", "--time", "year"}, 1,
     "badyear\\.csv:3: column 'year': .*'x2002'", 0, NULL},
    /* import: --time orders the rows of a pair: without pairs it would go unused */
    {"import: --time without pairs", cmd_import, {"import", "badyear.csv", "out.h5", "--time", "year"}, 2,
     "^gravrd: error: --time: needs --exporter and --importer$", 0, NULL},
    /* import: a column name twice in the header */
    {"import: duplicate header name", cmd_import, {"import", "duphdr.csv", "out.h5"}, 1, "duphdr\\.csv:1: column name 'value' appears twice", 0, NULL},
    /* import: two rows with the same pair and key */
    {"import: duplicate key", cmd_import, {"import", "dupkey.csv", "out.h5", "--exporter", "origin", "--importer", "dest", "--key", "year"}, 1,
     "dupkey\\.csv:4: duplicate row: same pair and key columns as line 2", 0, NULL},
    /* import: a UTF-16 file */
    {"import: UTF-16 encoding", cmd_import, {"import", "utf16.csv", "out.h5"}, 1, "utf16\\.csv: contains NUL bytes", 0, NULL},
    /* import: a NUL byte inside a field */
    {"import: NUL byte in a field", cmd_import, {"import", "nul.csv", "out.h5"}, 1, "nul\\.csv: contains NUL bytes", 0, NULL},
    /* import: a zero-byte CSV */
    {"import: empty CSV", cmd_import, {"import", "empty.csv", "out.h5"}, 1, "empty\\.csv: empty file", 0, NULL},
    /* import: a header and no rows */
    {"import: header only", cmd_import, {"import", "hdronly.csv", "out.h5"}, 1, "hdronly\\.csv: no data rows", 0, NULL},
    /* import: only blank lines */
    {"import: blank lines only", cmd_import, {"import", "blank.csv", "out.h5"}, 1, "blank\\.csv: empty file", 0, NULL},
    /* import: a quote never closed */
    {"import: unclosed quote", cmd_import, {"import", "unclosed.csv", "out.h5"}, 1, "unclosed\\.csv:2: field 4: quoted field is not closed", 0, NULL},
    /* import: an empty header field */
    {"import: empty column name", cmd_import, {"import", "emptyhdr.csv", "out.h5"}, 1, "emptyhdr\\.csv:1: header field 2 is empty", 0, NULL},
    /* import: an empty exporter cell */
    {"import: missing exporter value", cmd_import, {"import", "noexp.csv", "out.h5", "--exporter", "origin", "--importer", "dest"}, 1,
     "noexp\\.csv:3: column 'origin': missing exporter", 0, NULL},
    /* import: --exporter names no column of the header */
    {"import: unknown exporter column", cmd_import, {"import", "good.csv", "out.h5", "--exporter", "nope", "--importer", "dest"}, 1,
     "good\\.csv: column 'nope' is not in the header", 0, NULL},
    /* import: --key names no column */
    {"import: unknown --key column", cmd_import, {"import", "good.csv", "out.h5", "--exporter", "origin", "--importer", "dest", "--key", "nope"}, 1,
     "--key: column 'nope' is not in the header", 0, NULL},
    /* simulate: a city table without a longitude column */
    {"simulate: city table lacks longitude", cmd_simulate, {"simulate", "--out", "out.h5", "--cities", "nolon.csv"}, 1,
     "nolon\\.csv: missing column 'longitude'", 0, NULL},
    /* simulate: a ragged city table */
    {"simulate: ragged city table", cmd_simulate, {"simulate", "--out", "out.h5", "--cities", "ragged.csv"}, 1,
     "ragged\\.csv(:3: expected 4 fields|: missing column)", 0, NULL},

    /* ---- formulas and filters ---- */
    /* estimate: an unclosed parenthesis, with its position */
    {"estimate: unbalanced parentheses", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade ~ partner"}, 1,
     "formula: at character 4: unbalanced parentheses", 0, NULL},
    /* estimate: no '~' */
    {"estimate: formula without ~", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade)"}, 1, "formula: .*missing '~'", 0, NULL},
    /* estimate: nothing after '~' */
    {"estimate: no regressors", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade) ~ "}, 1, "formula: .*expected regressors after '~'", 0, NULL},
    /* estimate: a regressor that is no column */
    {"estimate: unknown regressor", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade) ~ nosuch"}, 1,
     "formula: unknown column 'nosuch'", 0, NULL},
    /* estimate: an unknown function */
    {"estimate: unknown function", cmd_estimate, {"estimate", "--data", P, "--formula", "foo(trade) ~ partner"}, 1,
     "formula: .*unknown function 'foo'", 0, NULL},
    /* estimate: an unknown fixed effect */
    {"estimate: unknown fixed effect", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade) ~ partner | nosuch^month"}, 1,
     "formula: unknown column 'nosuch'", 0, NULL},
    /* estimate: 5000 nested parentheses stop at the depth limit (no stack overflow) */
    {"estimate: formula nested too deep", cmd_estimate, {"estimate", "--data", P, "--formula", "@DEEP_FORMULA"}, 1,
     "formula: .*nested more than [0-9]+ levels", 0, NULL},
    /* estimate: a formula over 1 MiB */
    {"estimate: formula too long", cmd_estimate, {"estimate", "--data", P, "--formula", "@LONG_FORMULA"}, 1,
     "formula longer than [0-9]+ characters", 0, NULL},
    /* estimate: more than 10 products joined by '*' */
    {"estimate: too many interacted terms", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade) ~ a*b*c*d*e*f*g*h*i*j*k"}, 1,
     "formula: .*more than 10 products", 0, NULL},
    /* estimate: a --where that ends early */
    {"estimate: --where syntax", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--where", "dir == "}, 1,
     "--where: at character 8: expected", 0, NULL},
    /* estimate: --where names no column */
    {"estimate: --where unknown column", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--where", "nosuch > 1"}, 1,
     "--where: unknown column 'nosuch'", 0, NULL},
    /* estimate: --where nested 5000 deep */
    {"estimate: --where nested too deep", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--where", "@DEEP_WHERE"}, 1,
     "--where: .*nested more than [0-9]+ levels", 0, NULL},
    /* estimate: --where over 20000 characters */
    {"estimate: --where too long", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--where", "@LONG_WHERE"}, 1,
     "--where: expression longer than [0-9]+ characters", 0, NULL},
    /* estimate: --where compares a text column with a label it does not have */
    {"estimate: --where unknown label", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--where", "dir == \"North\""}, 1,
     "column 'dir' has no label \"North\"", 0, NULL},
    /* estimate: --weights names no column */
    {"estimate: unknown weights", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--weights", "nosuch"}, 1,
     "--weights: unknown column 'nosuch'", 0, NULL},
    /* estimate: --cluster names no column */
    {"estimate: unknown cluster", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--cluster", "nosuch"}, 1,
     "--cluster: unknown column 'nosuch'", 0, NULL},
    /* estimate: --split names no column */
    {"estimate: unknown split", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--split", "nosuch"}, 1,
     "--split: unknown column 'nosuch'", 0, NULL},
    /* match: a formula without regressors */
    {"match: formula syntax", cmd_match, {"match", "--data", P, "--bandwidth", "200", "--formula", "log(trade) ~ | exporter"}, 1,
     "formula: .*expected regressors after '~'", 0, NULL},
    /* rdgrid: an unclosed call in --y */
    {"rdgrid: --y syntax", cmd_rdgrid, {"rdgrid", "--data", P, "--y", "log(trade", "--bandwidth", "200"}, 1, "--y: .*expected '\\)'", 0, NULL},
    /* rdgrid: --residualize names no column */
    {"rdgrid: unknown --residualize", cmd_rdgrid, {"rdgrid", "--data", P, "--y", "log(trade)", "--bandwidth", "200", "--residualize", "nosuch"}, 1,
     "--residualize: unknown column 'nosuch'", 0, NULL},
    /* balance: an unclosed call in --vars */
    {"balance: --vars syntax", cmd_balance, {"balance", "--data", P, "--bandwidth", "100", "--vars", "log(distance_km"}, 1, "--vars: .*expected '\\)'", 0, NULL},
    /* balance: --vars names a panel column (balance works on pairs) */
    {"balance: --vars not a pair column", cmd_balance, {"balance", "--data", P, "--bandwidth", "100", "--vars", "trade"}, 1,
     "--vars: unknown column 'trade'", 0, NULL},
    /* balance: --vars over 20000 characters */
    {"balance: --vars too long", cmd_balance, {"balance", "--data", P, "--bandwidth", "100", "--vars", "@LONG_VARS"}, 1,
     "--vars: expression longer than [0-9]+ characters", 0, NULL},
    /* rd: --y names no column */
    {"rd: unknown --y", cmd_rd, {"rd", "--data", P, "--y", "nosuch", "--running", "distance_km", "--bandwidth", "400"}, 1, "--y: unknown column 'nosuch'", 0, NULL},
    /* rd: an unknown function in --where */
    {"rd: --where unknown function", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "distance_km", "--bandwidth", "400", "--where", "foo(dir) == 1"}, 1,
     "--where: .*unknown function 'foo'", 0, NULL},
    /* dump: --columns names no column */
    {"dump: unknown column", cmd_dump, {"dump", P, "--columns", "nosuch"}, 1, "panel\\.h5: unknown column 'nosuch'", 0, NULL},
    /* design: --same names no cities column */
    {"design: unknown --same attribute", cmd_design, {"design", "--data", P, "--bandwidth", "100", "--same", "nosuch"}, 1,
     "--same: unknown attribute 'nosuch'", 0, NULL},

    /* ---- models ---- */
    /* estimate: every regressor absorbed by the fixed effects */
    {"estimate: regressors absorbed", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade) ~ partner + log(distance_km) | pair"}, 1,
     "formula: every regressor", 0, NULL},
    /* estimate: --where keeps no row */
    {"estimate: empty sample", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--where", "month > 1000"}, 1, "--where: no rows satisfy", 0, NULL},
    /* estimate: an outcome that is nowhere finite */
    {"estimate: outcome never finite", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade - trade) ~ partner"}, 1,
     "no observations left to estimate", 0, NULL},
    /* estimate: one cluster */
    {"estimate: one-level cluster", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade) ~ distance_km", "--cluster", "dir", "--where", "dir == 1"}, 1,
     "--cluster: 'dir' has a single cluster", 0, NULL},
    /* estimate: singleton removal leaves nothing */
    {"estimate: only singletons", cmd_estimate, {"estimate", "--data", P, "--formula", "log(trade) ~ distance_km | pair^month", "--fixef-rm", "singleton"}, 1,
     "no observations left .*singletons", 0, NULL},
    /* estimate: negative weights */
    {"estimate: negative weights", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--weights", "month - 2"}, 1,
     "weights must be positive", 0, NULL},
    /* estimate: a constant outcome is degenerate (no R2, no F) */
    {"estimate: constant outcome", cmd_estimate, {"estimate", "--data", P, "--formula", "month ~ partner", "--where", "month == 2"}, 1,
     "month.*constant", 0, NULL},
    /* match: every regressor absorbed */
    {"match: regressors absorbed", cmd_match, {"match", "--data", P, "--bandwidth", "200", "--formula", "log(trade) ~ partner | pair"}, 1,
     "formula: every regressor", 0, NULL},
    /* match: no partner pair left */
    {"match: no treated pairs", cmd_match, {"match", "--data", P, "--bandwidth", "200", "--formula", FORMULA, "--where", "partner == 0"}, 1,
     "--where: no treated pair", 0, NULL},
    /* match: no control within the bandwidth */
    {"match: no matches", cmd_match, {"match", "--data", P, "--bandwidth", "0.01", "--formula", FORMULA}, 1,
     "no treated pair has a control pair within 0\\.01 km", 0, NULL},
    /* rdgrid: no comparison within the bandwidth */
    {"rdgrid: no comparisons", cmd_rdgrid, {"rdgrid", "--data", P, "--y", "log(trade)", "--bandwidth", "0.001"}, 1,
     "no treated pair has a control pair within 0\\.001 km", 0, NULL},
    /* rd: the cutoff outside the running variable's range */
    {"rd: cutoff out of range", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "month", "--cutoff", "10", "--bandwidth", "2"}, 1,
     "cutoff 10 is outside the range", 0, NULL},
    /* rd: one value of the running variable on a side */
    {"rd: one running value on a side", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "month", "--cutoff", "2", "--bandwidth", "5"}, 1,
     "single value left of the cutoff", 0, NULL},
    /* rd: one cluster on a side */
    {"rd: one-level cluster", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "distance_km", "--cutoff", "500", "--bandwidth", "400", "--cluster", "dir", "--where", "dir == 1"}, 1,
     "1 cluster\\(s\\) left of the cutoff", 0, NULL},
    /* balance: --where keeps no pair */
    {"balance: empty sample", cmd_balance, {"balance", "--data", P, "--bandwidth", "100", "--where", "dir == 7"}, 1,
     "--where: no (pairs|rows)", 0, NULL},

    /* ---- options ---- */
    /* simulate: --months out of range */
    {"simulate: --months 0", cmd_simulate, {"simulate", "--out", "out.h5", "--months", "0"}, 2, "^gravrd: error: --months: expected an integer from 1 to 1200, got '0'$", 0, NULL},
    /* simulate: --seed negative */
    {"simulate: negative --seed", cmd_simulate, {"simulate", "--out", "out.h5", "--seed", "-1"}, 2, "--seed: expected a non-negative integer, got '-1'", 0, NULL},
    /* simulate: --cities with --east */
    {"simulate: --cities with --east", cmd_simulate, {"simulate", "--out", "out.h5", "--cities", "good.csv", "--east", "3"}, 2,
     "simulate: --cities fixes the cities", 0, NULL},
    /* simulate: no --out */
    {"simulate: --out missing", cmd_simulate, {"simulate", "--months", "2"}, 2, "simulate: --out FILE\\.h5 is required", 0, NULL},
    /* estimate: a clustering the variance would not use (not dropped in silence) */
    {"estimate: --cluster with --vcov iid", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--vcov", "iid", "--cluster", "pair"}, 2,
     "^gravrd: error: --cluster: 'pair' has no effect with --vcov iid: give --vcov cluster, or leave --cluster out$", 0, NULL},
    {"estimate: --cluster with --vcov hc1", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--vcov", "hc1", "--cluster", "pair"}, 2,
     "--cluster: 'pair' has no effect with --vcov hc1", 0, NULL},
    /* estimate: negative --fe-tol */
    {"estimate: --fe-tol -1", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--fe-tol", "-1"}, 2, "--fe-tol: expected a positive number, got '-1'", 0, NULL},
    /* estimate: --fe-tol nan */
    {"estimate: --fe-tol nan", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--fe-tol", "nan"}, 2, "--fe-tol: expected a positive number, got 'nan'", 0, NULL},
    /* estimate: --fe-maxiter 0 */
    {"estimate: --fe-maxiter 0", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--fe-maxiter", "0"}, 2, "--fe-maxiter: expected an integer from 1", 0, NULL},
    /* estimate: an unknown --vcov word */
    {"estimate: unknown --vcov", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--vcov", "robust"}, 2, "--vcov: expected iid, hc1, cluster, cr2 or cr3, got 'robust'", 0, NULL},
    /* estimate: --data twice */
    {"estimate: --data twice", cmd_estimate, {"estimate", "--data", P, "--data", P, "--formula", FORMULA}, 2, "^gravrd: error: --data: given twice$", 0, NULL},
    /* estimate: --split and --fsplit together */
    {"estimate: --split with --fsplit", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--split", "dir", "--fsplit", "dir"}, 2,
     "--split and --fsplit exclude each other", 0, NULL},
    /* estimate: --vcov cluster with nothing to cluster on */
    {"estimate: --vcov cluster without clusters", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--vcov", "cluster"}, 2,
     "--vcov: cluster needs --cluster", 0, NULL},
    /* estimate: an unknown option */
    {"estimate: unknown option", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--bogus"}, 2,
     "estimate: unknown option '--bogus' \\(see 'gravrd estimate --help'\\)", 0, NULL},
    /* estimate: three cluster variables */
    {"estimate: three-way cluster", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--cluster", "pair,month,dir"}, 2,
     "--cluster: expected one or two column names", 0, NULL},
    /* rd: --bandwidth 0 */
    {"rd: --bandwidth 0", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "month", "--bandwidth", "0"}, 2, "--bandwidth: expected a positive number, got '0'", 0, NULL},
    /* rd: --bandwidth inf */
    {"rd: --bandwidth inf", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "month", "--bandwidth", "inf"}, 2, "--bandwidth: expected a positive number, got 'inf'", 0, NULL},
    /* rd: --cutoff nan */
    {"rd: --cutoff nan", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "month", "--bandwidth", "1", "--cutoff", "nan"}, 2, "--cutoff: expected a number, got 'nan'", 0, NULL},
    /* rd: --vcov cluster without --cluster */
    {"rd: --vcov cluster without --cluster", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "month", "--bandwidth", "1", "--vcov", "cluster"}, 2,
     "--vcov: cluster needs --cluster", 0, NULL},
    /* rdgrid: --bins below its range */
    {"rdgrid: --bins 1", cmd_rdgrid, {"rdgrid", "--data", P, "--y", "trade", "--bandwidth", "100", "--bins", "1"}, 2, "--bins: expected an integer from 2 to 1000, got '1'", 0, NULL},
    /* rdgrid: an unknown kernel */
    {"rdgrid: unknown kernel", cmd_rdgrid, {"rdgrid", "--data", P, "--y", "trade", "--bandwidth", "100", "--kernel", "gauss"}, 2,
     "--kernel: expected triangular, uniform or epanechnikov, got 'gauss'", 0, NULL},
    /* balance: the same bandwidth twice */
    {"balance: repeated bandwidth", cmd_balance, {"balance", "--data", P, "--bandwidth", "50", "--bandwidth", "50"}, 2, "--bandwidth: 50 given twice", 0, NULL},
    /* segments: the same bandwidth twice, spelled differently */
    {"segments: repeated bandwidth", cmd_segments, {"segments", "--data", P, "-b", "50", "-b", "50.0"}, 2, "--bandwidth: 50\\.0 given twice", 0, NULL},
    /* segments: a bandwidth its column name cannot spell */
    {"segments: unrepresentable bandwidth", cmd_segments, {"segments", "--data", P, "--bandwidth", "100.00000001"}, 2,
     "--bandwidth: '100\\.00000001' is not exactly representable", 0, NULL},
    /* design: a negative bandwidth */
    {"design: negative bandwidth", cmd_design, {"design", "--data", P, "--bandwidth", "-1"}, 2, "--bandwidth: expected a positive number.*'-1'", 0, NULL},
    /* design: two bandwidths (it takes one) */
    {"design: bandwidth twice", cmd_design, {"design", "--data", P, "--bandwidth", "50", "--bandwidth", "100"}, 2, "--bandwidth: given twice", 0, NULL},
    /* dump: an unknown table */
    {"dump: unknown --table", cmd_dump, {"dump", P, "--table", "foo"}, 2, "--table: expected panel, cities or pairs, got 'foo'", 0, NULL},
    /* dump: a negative --limit */
    {"dump: negative --limit", cmd_dump, {"dump", P, "--limit", "-1"}, 2, "--limit: expected a non-negative integer, got '-1'", 0, NULL},
    /* dump: an empty --columns list */
    {"dump: empty --columns", cmd_dump, {"dump", P, "--columns", ""}, 2, "--columns: expected a comma-separated list", 0, NULL},
    /* check: two files */
    {"check: extra argument", cmd_check, {"check", P, P}, 2, "check: unexpected argument 'panel\\.h5'", 0, NULL},
    /* import: a two-character delimiter */
    {"import: bad --delimiter", cmd_import, {"import", "good.csv", "out.h5", "--delimiter", "ab"}, 2, "--delimiter: expected one character", 0, NULL},
    /* import: --pair without --exporter/--importer */
    {"import: --pair alone", cmd_import, {"import", "good.csv", "out.h5", "--pair", "origin"}, 2, "--pair: needs --exporter and --importer", 0, NULL},
    /* match: no --formula */
    {"match: --formula missing", cmd_match, {"match", "--data", P, "--bandwidth", "100"}, 2, "match: --formula TEXT is required", 0, NULL},

    /* ---- outputs ---- */
    /* simulate: --out in a read-only directory */
    {"simulate: read-only output directory", cmd_simulate, {"simulate", "--out", "ro/out.h5", "--east", "2", "--west", "2", "--months", "2"}, 1,
     "ro/out\\.h5: cannot create", 0, NULL},
    /* import: output in a read-only directory */
    {"import: read-only output directory", cmd_import, {"import", "good.csv", "ro/out.h5"}, 1, "ro/out\\.h5: cannot create", 0, NULL},
    /* estimate: --json in a read-only directory */
    {"estimate: --json in a read-only directory", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--json", "ro/r.json"}, 1,
     "ro/r\\.json: cannot create", 0, NULL},
    /* segments: --svg in a read-only directory */
    {"segments: --svg in a read-only directory", cmd_segments, {"segments", "--data", P, "-b", "100", "--svg", "ro/m.svg"}, 1,
     "ro/m\\.svg: cannot create", 0, NULL},
    /* segments: --out in a read-only directory */
    {"segments: --out in a read-only directory", cmd_segments, {"segments", "--data", P, "-b", "100", "--out", "ro/c.h5"}, 1,
     "ro/c\\.h5.*cannot create", 0, NULL},
    /* segments: --json in a read-only directory */
    {"segments: --json in a read-only directory", cmd_segments, {"segments", "--data", P, "-b", "100", "--json", "ro/s.json"}, 1,
     "ro/s\\.json: cannot create", 0, NULL},
    /* design: --out in a read-only directory */
    {"design: --out in a read-only directory", cmd_design, {"design", "--data", P, "--bandwidth", "100", "--out", "ro/c.h5"}, 1,
     "ro/c\\.h5.*cannot create", 0, NULL},
    /* balance: --json in a read-only directory */
    {"balance: --json in a read-only directory", cmd_balance, {"balance", "--data", P, "--bandwidth", "100", "--json", "ro/b.json"}, 1,
     "ro/b\\.json: cannot create", 0, NULL},
    /* match: --json in a read-only directory */
    {"match: --json in a read-only directory", cmd_match, {"match", "--data", P, "--bandwidth", "200", "--formula", FORMULA, "--json", "ro/m.json"}, 1,
     "ro/m\\.json: cannot create", 0, NULL},
    /* rdgrid: --svg in a read-only directory */
    {"rdgrid: --svg in a read-only directory", cmd_rdgrid, {"rdgrid", "--data", P, "--y", "log(trade)", "--bandwidth", "200", "--svg", "ro/c.svg"}, 1,
     "ro/c\\.svg: cannot create", 0, NULL},
    /* rdgrid: --binned-svg in a read-only directory */
    {"rdgrid: --binned-svg in a read-only directory", cmd_rdgrid, {"rdgrid", "--data", P, "--y", "log(trade)", "--bandwidth", "200", "--binned-svg", "ro/b.svg"}, 1,
     "ro/b\\.svg: cannot create", 0, NULL},
    /* rd: --json in a read-only directory */
    {"rd: --json in a read-only directory", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "distance_km", "--cutoff", "500", "--bandwidth", "400", "--json", "ro/r.json"}, 1,
     "ro/r\\.json: cannot create", 0, NULL},
    /* estimate: --json in a directory that does not exist */
    {"estimate: --json in a missing directory", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--json", "nodir/r.json"}, 1,
     "nodir/r\\.json: cannot create", 0, NULL},
    /* simulate: --out names a directory */
    {"simulate: --out is a directory", cmd_simulate, {"simulate", "--out", "adir", "--east", "2", "--west", "2", "--months", "2"}, 1, "adir: (cannot rename|.*directory)", 0, NULL},
    /* estimate: --json - on a full standard output */
    {"estimate: --json - on /dev/full", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--json", "-"}, 1,
     "standard output: write of the JSON record failed", F_STDOUT_FULL, NULL},
    /* dump: CSV on a full standard output */
    {"dump: stdout on /dev/full", cmd_dump, {"dump", P}, 1, "standard output|write", F_STDOUT_FULL,
     NULL},
    /* estimate: the table on a full standard output */
    {"estimate: table on /dev/full", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA}, 1, "standard output|write", F_STDOUT_FULL,
     NULL},
    /* check: the summary on a full standard output */
    {"check: summary on /dev/full", cmd_check, {"check", P}, 1, "standard output|write", F_STDOUT_FULL,
     NULL},
    /* segments: the table on a full standard output */
    {"segments: table on /dev/full", cmd_segments, {"segments", "--data", P, "-b", "100"}, 1, "standard output|write", F_STDOUT_FULL,
     NULL},
    /* rd: the table on a full standard output */
    {"rd: table on /dev/full", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "distance_km", "--cutoff", "500", "--bandwidth", "400"}, 1,
     "standard output|write", F_STDOUT_FULL, NULL},
    /* simulate: --out a character device (a private /dev/full) must fail and leave the device alone */
    {"simulate: --out /dev/full", cmd_simulate, {"simulate", "--out", "full", "--east", "2", "--west", "2", "--months", "2"}, 1, "full: ", 0,
     NULL},
    /* estimate: --json to a character device */
    {"estimate: --json /dev/full", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--json", "full"}, 1, "full: ", 0,
     NULL},
    /* segments: --out the input panel is refused */
    {"segments: --out is the input", cmd_segments, {"segments", "--data", P, "-b", "100", "--out", P}, 2, "--out must not be the input panel", 0, NULL},
    /* segments: --out the input under another spelling */
    {"segments: --out ./input", cmd_segments, {"segments", "--data", P, "-b", "100", "--out", "./panel.h5"}, 2, "--out must not be the input panel", 0, NULL},
    /* design: --out a symbolic link to the input */
    {"design: --out a link to the input", cmd_design, {"design", "--data", P, "--bandwidth", "100", "--out", "link.h5"}, 2,
     "link\\.h5: --out must not be the input panel", 0, NULL},
    /* import: the output is the input CSV */
    {"import: output is the input", cmd_import, {"import", "good.csv", "good.csv"}, 2, "good\\.csv: .*input", 0,
     NULL},
    /* estimate: --json is the --data panel */
    {"estimate: --json is the input", cmd_estimate, {"estimate", "--data", P, "--formula", FORMULA, "--json", P}, 2, "panel\\.h5: .*input", 0,
     NULL},
    /* rd: --json is the --data panel */
    {"rd: --json is the input", cmd_rd, {"rd", "--data", P, "--y", "trade", "--running", "distance_km", "--cutoff", "500", "--bandwidth", "400", "--json", P}, 2,
     "panel\\.h5: .*input", 0, NULL},
    /* rdgrid: --svg is the --data panel */
    {"rdgrid: --svg is the input", cmd_rdgrid, {"rdgrid", "--data", P, "--y", "log(trade)", "--bandwidth", "200", "--svg", P}, 2, "panel\\.h5: .*input", 0,
     NULL},
    /* segments: --svg is the --data panel */
    {"segments: --svg is the input", cmd_segments, {"segments", "--data", P, "-b", "100", "--svg", P}, 2, "panel\\.h5: .*input", 0,
     NULL},
    /* balance: --json is the --data panel */
    {"balance: --json is the input", cmd_balance, {"balance", "--data", P, "--bandwidth", "100", "--json", P}, 2, "panel\\.h5: .*input", 0,
     NULL},
    /* match: --json is the --data panel */
    {"match: --json is the input", cmd_match, {"match", "--data", P, "--bandwidth", "200", "--formula", FORMULA, "--json", P}, 2, "panel\\.h5: .*input", 0,
     NULL},
    /* simulate: --out is the --cities table */
    {"simulate: --out is the --cities table", cmd_simulate, {"simulate", "--out", "cities.csv", "--cities", "cities.csv"}, 2, "cities\\.csv: .*input", F_SHARED,
     NULL},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* ------------------------------------------------------------------ cmocka glue */

typedef struct { const bad_case *c; int id, nranks; } test_state;

static void test_case(void **state)
{
    const test_state *t = *state;
    current_case = t->c->name;
    if (t->c->bug && !run_known) {
        if (wrank == 0 && t->nranks == 1) printf("# KNOWN BUG: %s: %s\n", t->c->name, t->c->bug);
        skip();
    }
    if ((t->c->flags & F_SHARED) && !shared_cities[0]) {
        if (wrank == 0) printf("# SKIP: ../shared/data absent, skipping %s\n", t->c->name);
        skip();
    }
    run_case(t->c, t->nranks == 1 ? comm1 : comm3, t->nranks, t->id);
}

static void find_shared(void)
{
    const char *rel = "../shared/data/china_prefecture_cities_2016.csv";
    char buf[4096];
    if (realpath(rel, buf)) snprintf(shared_cities, sizeof shared_cities, "%s", buf);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
    MPI_Comm_size(MPI_COMM_WORLD, &wsize);
    MPI_Comm_split(MPI_COMM_WORLD, wrank == 0 ? 0 : MPI_UNDEFINED, 0, &comm1);
    MPI_Comm_split(MPI_COMM_WORLD, wsize >= 3 && wrank < 3 ? 0 : MPI_UNDEFINED, 0, &comm3);
    run_known = getenv("GRAVRD_BADINPUT_KNOWN") && strcmp(getenv("GRAVRD_BADINPUT_KNOWN"), "0");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    find_shared();
    if (wrank == 0) {
        snprintf(scratch, sizeof scratch, "/tmp/gravrd-badinput.XXXXXX");
        if (!mkdtemp(scratch)) die("mkdtemp");
        chmod(scratch, 0755);
        can_mknod = geteuid() == 0;
    }
    MPI_Bcast(scratch, sizeof scratch, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (chdir(scratch) != 0) die(scratch);
    if (wrank != 0) {
        setenv("CMOCKA_MESSAGE_OUTPUT", "SUBUNIT", 1);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        close(nul);
    }
    tap_fd = dup(1);
    signal(SIGALRM, on_alarm);
    make_fixtures();
    if (wrank == 0 && wsize < 3)
        printf("# %d rank(s): the %d cases run on 1 rank only; under 'mpirun -n 3' each also runs on 3 ranks\n", wsize, NCASES);
    int per = wsize >= 3 ? 2 : 1, ntests = per * NCASES;  /* each case on 1 rank, then on 3 */
    struct CMUnitTest *tests = calloc((size_t)ntests, sizeof *tests);
    test_state *st = calloc((size_t)ntests, sizeof *st);
    for (int i = 0; i < ntests; i++) {
        st[i] = (test_state){&cases[i / per], i / per, i % per ? 3 : 1};
        char *name = malloc(300);
        snprintf(name, 300, "%s (%d rank%s)", cases[i / per].name, st[i].nranks, st[i].nranks > 1 ? "s" : "");
        tests[i] = (struct CMUnitTest){.name = name, .test_func = test_case, .initial_state = &st[i]};
    }
    int failed = _cmocka_run_group_tests("bad input", tests, (size_t)ntests, NULL, NULL);
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (wrank == 0 && !getenv("GRAVRD_BADINPUT_KEEP")) remove_tree(scratch);
    for (int i = 0; i < ntests; i++) free((char *)tests[i].name);
    free(tests);
    free(st);
    if (comm1 != MPI_COMM_NULL) MPI_Comm_free(&comm1);
    if (comm3 != MPI_COMM_NULL) MPI_Comm_free(&comm3);
    MPI_Finalize();
    return failed ? 1 : 0;
}
