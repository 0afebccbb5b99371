/* cleanup.c: output safety (cleanup.h): temporaries named per process and host, their registry emptied
 * by the signal handler, the sweep of stale temporaries, the input files no output may overwrite, and
 * checked text output streams. */
#define _GNU_SOURCE /* realpath; syscall, for the thread ids of the signal handler */
#include "cleanup.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* ---------------- the registry and the signal handler ---------------- */

/* A slot's path is written only while its flag is 0 and read by the handler only while it is 1; the
 * flags are lock-free atomics, so the handler (async-signal-safe: atomic loads, unlink, write, _exit)
 * never sees a half-written path. */
static char reg_path[GR_CLEANUP_MAX][GR_TMP_PATH_MAX];
static atomic_int reg_used[GR_CLEANUP_MAX];
static int cleanup_rank;
static atomic_int cleanup_quiet;
static atomic_int soft_mode;     /* 1: the first signal only records itself (gr_cleanup_soft) */
static atomic_int soft_signal;   /* the signal recorded in soft mode, 0 if none */
static atomic_long soft_ms;      /* when it came (CLOCK_MONOTONIC, milliseconds) */

static long now_ms(void)  /* async-signal-safe */
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int gr_cleanup_add(const char *path)
{
    if (strlen(path) >= GR_TMP_PATH_MAX) return gr_fail(GR_EIO, path, "temporary path too long");
    for (int i = 0; i < GR_CLEANUP_MAX; i++) {
        if (atomic_load(&reg_used[i])) continue;
        memcpy(reg_path[i], path, strlen(path) + 1);
        atomic_store(&reg_used[i], 1);
        return GR_OK;
    }
    return gr_fail(GR_EIO, path, "more than %d temporary files at once", GR_CLEANUP_MAX);
}

void gr_cleanup_remove(const char *path)
{
    for (int i = 0; i < GR_CLEANUP_MAX; i++)
        if (atomic_load(&reg_used[i]) && !strcmp(reg_path[i], path)) atomic_store(&reg_used[i], 0);
}

/* Append s to buf[*n] (at most cap bytes in all); async-signal-safe. */
static void put_safe(char *buf, size_t *n, size_t cap, const char *s)
{
    while (*s && *n + 1 < cap) buf[(*n)++] = *s++;
}

#if defined(__linux__) && defined(SYS_gettid) && defined(SYS_tgkill)
/* The thread that called gr_cleanup_init (the command's own). A signal sent to the process may be taken by any
 * thread that does not block it (Open MPI and OpenBLAS start their own); the handler then ran beside the
 * command's thread, which could create a temporary between the handler's unlink and its _exit, leaving it
 * behind (seen once in tests/it_io.sh: exit 130, "temporary files removed", a temporary left). So another
 * thread passes the signal on to the command's thread, which the handler then interrupts. */
static atomic_long main_tid;
static int forward_to_main(int sig)  /* async-signal-safe: two system calls */
{
    long me = (long)syscall(SYS_gettid), cmd = atomic_load(&main_tid);
    if (cmd <= 0 || me == cmd) return 0;
    return syscall(SYS_tgkill, (long)getpid(), cmd, sig) == 0;
}
static void remember_main_thread(void) { atomic_store(&main_tid, (long)syscall(SYS_gettid)); }
#else
static int forward_to_main(int sig) { (void)sig; return 0; }
static void remember_main_thread(void) {}
#endif

static void on_signal(int sig)
{
    if (forward_to_main(sig)) return;
    if (atomic_load(&soft_mode)) {
        if (atomic_load(&soft_signal) == 0) {  /* the command stops at its next check */
            atomic_store(&soft_ms, now_ms());
            atomic_store(&soft_signal, sig);
            return;
        }
        /* the same signal again within a second is the same request (Slurm's time limit sends SIGTERM to a
         * step's tasks twice, tens of milliseconds apart); any other second signal ends the process now */
        if (sig == atomic_load(&soft_signal) && now_ms() - atomic_load(&soft_ms) < 1000) return;
    }
    int removed = 0;  /* registered temporaries: gone after this, whichever rank unlinked each */
    for (int i = 0; i < GR_CLEANUP_MAX; i++)
        if (atomic_load(&reg_used[i])) {
            unlink(reg_path[i]);
            removed++;
        }
    if (cleanup_rank == 0 && !atomic_load(&cleanup_quiet)) {
        const char *name = sig == SIGTERM  ? "SIGTERM"
                           : sig == SIGINT ? "SIGINT"
                           : sig == SIGHUP ? "SIGHUP"
                                           : "a signal";
        char msg[160];
        size_t n = 0;
        put_safe(msg, &n, sizeof msg, "gravrd: error: interrupted by ");
        put_safe(msg, &n, sizeof msg, name);
        put_safe(msg, &n, sizeof msg, removed ? " (temporary files removed)\n" : "\n");
        ssize_t w = write(STDERR_FILENO, msg, n);
        (void)w;  /* nothing to do about a failed write on the way out */
    }
    _exit(128 + sig);
}

void gr_cleanup_end(void) { atomic_store(&cleanup_quiet, 1); }

void gr_cleanup_soft(int on) { atomic_store(&soft_mode, on); }

int gr_cleanup_stop_signal(void) { return atomic_load(&soft_signal); }

void gr_cleanup_init(int rank)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    cleanup_rank = rank;
    remember_main_thread();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) sigaddset(&sa.sa_mask, sigs[k]);
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        struct sigaction old;
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[k], &sa, NULL);
    }
}

/* ---------------- temporary names and the stale sweep ---------------- */

/* This host's name as it appears in temporary names: letters, digits, '-' and '_' kept, anything else
 * (dots of a domain name included) cut there, "localhost" when unknown. */
static void host_tag(char *buf, size_t len)
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0) h[0] = 0;
    h[sizeof h - 1] = 0;
    size_t n = 0;
    while (h[n] && n + 1 < len && n < 64 &&
           ((h[n] >= 'a' && h[n] <= 'z') || (h[n] >= 'A' && h[n] <= 'Z') || (h[n] >= '0' && h[n] <= '9') ||
            h[n] == '-' || h[n] == '_'))
        n++;
    if (n == 0) snprintf(buf, len, "localhost");
    else snprintf(buf, len, "%.*s", (int)n, h);
}

int gr_tmp_name(const char *path, long pid, char *buf, size_t len)
{
    char host[80];
    host_tag(host, sizeof host);
    int n = snprintf(buf, len, "%s.tmp.%ld.%s", path, pid, host);
    if (n < 0 || (size_t)n >= len) return gr_fail(GR_EIO, path, "path too long for its temporary name");
    return GR_OK;
}

/* The directory of `path` into dir[len] ("." when it has none) and a pointer to its last component. */
static const char *split_dir(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, len, ".");
        return path;
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    snprintf(dir, len, "%.*s", (int)n, path);
    return slash + 1;
}

/* The pid of a temporary's name "<base>.tmp.<pid>.<host>" of this host, or of the lock-test file MPI-IO
 * makes beside it ("<base>.tmp.<pid>.<host>.locktest.<rank>", panel.c), or -1 when the name is neither. */
static long stale_pid(const char *name, const char *base, const char *host)
{
    size_t bl = strlen(base), hl = strlen(host);
    if (strncmp(name, base, bl) || strncmp(name + bl, ".tmp.", 5)) return -1;
    const char *q = name + bl + 5;
    char *end;
    errno = 0;
    long pid = strtol(q, &end, 10);
    if (end == q || errno || pid <= 0 || *end != '.' || strncmp(end + 1, host, hl)) return -1;
    const char *rest = end + 1 + hl;
    if (*rest == 0) return pid;
    if (strncmp(rest, ".locktest.", 10) || !rest[10]) return -1;
    for (const char *d = rest + 10; *d; d++)
        if (*d < '0' || *d > '9') return -1;
    return pid;
}

void gr_tmp_sweep(const char *path)
{
    char dir[4096], host[80];
    const char *base = split_dir(path, dir, sizeof dir);
    if (!*base) return;
    host_tag(host, sizeof host);
    DIR *d = opendir(dir);
    if (!d) return;  /* the writer's own create reports a missing or unreadable directory */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = stale_pid(e->d_name, base, host);
        if (pid < 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;  /* alive, or not ours to judge */
        char full[8400];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        if (unlink(full) == 0)
            gr_warn("removed %s, a temporary file left by process %ld of this host, which no longer runs", full, pid);
    }
    closedir(d);
}

/* ---------------- inputs ---------------- */

static char **inputs;  /* the paths being read, as given (relative ones to the working directory) */
static int ninputs;

void gr_input_add(const char *path)
{
    inputs = gr_realloc(inputs, (size_t)ninputs + 1, sizeof *inputs);
    inputs[ninputs++] = gr_strdup(path);
}

void gr_input_remove(const char *path)
{
    for (int i = ninputs - 1; i >= 0; i--)
        if (!strcmp(inputs[i], path)) {
            free(inputs[i]);
            inputs[i] = inputs[--ninputs];
            break;
        }
    if (ninputs == 0) {
        free(inputs);
        inputs = NULL;
    }
}

int gr_same_file(const char *a, const char *b)
{
    if (!strcmp(a, b)) return 1;
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino) return 1;
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

int gr_refuse_input(const char *out, const char *also)
{
    if (also && gr_same_file(out, also))
        return gr_fail(GR_EUSAGE, out, "output would overwrite the input file %s", also);
    for (int i = 0; i < ninputs; i++)
        if (gr_same_file(out, inputs[i]))
            return gr_fail(GR_EUSAGE, out, "output would overwrite the input file %s", inputs[i]);
    return GR_OK;
}

/* ---------------- checked text outputs ---------------- */

/* The reason of a failed write: the system's words for errno e, or a guess when it was not kept (stdio
 * reports an earlier failed write only through the stream's error flag). */
static const char *why_lost(int e)
{
    return e ? strerror(e) : "part of the output was lost (disk full?)";
}

int gr_outfile_open(gr_outfile *o, const char *path)
{
    memset(o, 0, sizeof *o);
    size_t len = strlen(path);
    if (len >= sizeof o->path) return gr_fail(GR_EIO, path, "path too long");
    memcpy(o->path, path, len + 1);  /* (snprintf here trips a false -Wformat-truncation at -O1 with ASan) */
    if (!strcmp(path, "-")) {
        o->f = stdout;
        o->direct = 1;
        return GR_OK;
    }
    GR_CALL(gr_refuse_input(path, NULL));
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return gr_fail(GR_EIO, path, "is a directory");
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {  /* a device or a FIFO: no temporary, no rename */
        o->f = fopen(path, "w");
        if (!o->f) return gr_fail(GR_EIO, path, "cannot open for writing: %s", strerror(errno));
        o->direct = 1;
        return GR_OK;
    }
    GR_CALL(gr_tmp_name(path, (long)getpid(), o->tmp, sizeof o->tmp));
    gr_tmp_sweep(path);
    GR_CALL(gr_cleanup_add(o->tmp));
    o->f = fopen(o->tmp, "w");
    if (!o->f) {
        int rc = gr_fail(GR_EIO, path, "cannot create %s: %s", o->tmp, strerror(errno));
        gr_cleanup_remove(o->tmp);
        o->tmp[0] = 0;
        return rc;
    }
    return GR_OK;
}

int gr_outfile_finish(gr_outfile *o)
{
    if (!o->f) return gr_fail(GR_EIO, o->path, "output is not open");
    FILE *f = o->f;
    o->f = NULL;
    errno = 0;
    int bad = fflush(f) != 0;  /* first: a failed flush tells the reason of an earlier failed write too */
    if (bad && !o->err) o->err = errno;
    bad |= ferror(f);
    if (f == stdout) {
        return bad ? gr_fail(GR_EIO, "standard output", "write failed: %s", why_lost(o->err)) : GR_OK;
    }
    errno = 0;
    if (!bad && !o->direct && fsync(fileno(f)) != 0 && errno != EINVAL) { bad = 1; o->err = errno; }
    errno = 0;
    if (fclose(f) != 0 && !bad) { bad = 1; o->err = errno; }
    if (!bad) return GR_OK;
    if (!o->direct) {
        unlink(o->tmp);
        gr_cleanup_remove(o->tmp);
        o->tmp[0] = 0;
    }
    return gr_fail(GR_EIO, o->path, "write failed: %s", why_lost(o->err));
}

int gr_outfile_commit(gr_outfile *o)
{
    if (o->direct || !o->tmp[0]) return GR_OK;
    int rc = GR_OK;
    if (rename(o->tmp, o->path) != 0) {
        rc = gr_fail(GR_EIO, o->path, "cannot rename %s into place: %s", o->tmp, strerror(errno));
        unlink(o->tmp);
    }
    gr_cleanup_remove(o->tmp);
    o->tmp[0] = 0;
    return rc;
}

void gr_outfile_discard(gr_outfile *o)
{
    if (o->f && o->f != stdout) fclose(o->f);
    o->f = NULL;
    if (!o->direct && o->tmp[0]) {
        unlink(o->tmp);
        gr_cleanup_remove(o->tmp);
    }
    o->tmp[0] = 0;
}

int gr_outfile_close(gr_outfile *o, int commit)
{
    if (!commit) {
        gr_outfile_discard(o);
        return GR_OK;
    }
    GR_CALL(gr_outfile_finish(o));
    return gr_outfile_commit(o);
}

int gr_write_text(const char *path, const char *text)
{
    gr_outfile o;
    GR_CALL(gr_outfile_open(&o, path));
    if (fputs(text, o.f) < 0 || fputc('\n', o.f) == EOF) o.err = errno;
    return gr_outfile_close(&o, 1);
}

int gr_stdout_check(void)
{
    errno = 0;
    int bad = fflush(stdout) != 0;
    int e = errno;
    if (!bad && !ferror(stdout)) return GR_OK;
    clearerr(stdout);
    return gr_fail(GR_EIO, "standard output", "write failed: %s", why_lost(e));
}

int gr_stdout_agree(MPI_Comm comm, int rc)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    return gr_agree(comm, rc == GR_OK && rank == 0 ? gr_stdout_check() : rc);
}
