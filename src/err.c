/* err.c: the error record, collective agreement on failures, checked allocation and parsing,
 * timers and provenance (see gr.h). */
#define _DEFAULT_SOURCE /* madvise's MADV_POPULATE_WRITE */
#include "gr.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/mman.h>

static char err_msg[1024];
static int err_code;
static char err_trace[8][160];  /* GR_CALL / GR_TRY locations, innermost first */
static int err_ntrace;
int gr_quiet;
char gr_command_line[4096];

int gr_fail(int code, const char *where, const char *fmt, ...)
{
    if (err_code == GR_OK) {
        char what[800];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        if (where && *where)
            snprintf(err_msg, sizeof err_msg, "%s: %s", where, what);
        else
            snprintf(err_msg, sizeof err_msg, "%s", what);
        err_code = code;
    }
    return code;
}

const char *gr_errmsg(void) { return err_msg; }
int gr_errcode(void) { return err_code; }
void gr_clear_error(void) { err_msg[0] = 0; err_code = GR_OK; err_ntrace = 0; }

int gr_trace(int code, const char *file, int line, const char *expr)
{
    if (err_ntrace < 8) snprintf(err_trace[err_ntrace++], sizeof err_trace[0], "%s:%d: %.100s", file, line, expr);
    return code;
}

int gr_trace_count(void) { return err_ntrace; }
const char *gr_trace_at(int i) { return i >= 0 && i < err_ntrace ? err_trace[i] : NULL; }

int gr_int_count(int64_t v, const char *what, int *out)
{
    if (v < 0 || v > INT_MAX)
        return gr_fail(GR_EINPUT, what, "count %lld does not fit the 32-bit int that BLAS/MPI take "
                       "(split the data over more ranks)", (long long)v);
    *out = (int)v;
    return GR_OK;
}

/* Order of statuses for the agreement: GR_OK < GR_EREMOTE < any real code. A rank that only learnt of a
 * failure from an earlier agreement (GR_EREMOTE, no message) must not hide the real code of the rank
 * that holds the message. */
static int agree_rank_of(int status) { return status == GR_OK ? 0 : status == GR_EREMOTE ? 1 : status + 1; }
static int agree_status_of(int r) { return r == 0 ? GR_OK : r == 1 ? GR_EREMOTE : r - 1; }

int gr_agree(MPI_Comm comm, int status)
{
    int rank, mine = agree_rank_of(status), worst = mine;
    MPI_Comm_rank(comm, &rank);
    MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, comm);
    if (worst == 0)
        return GR_OK;
    /* The lowest failing rank that holds a message keeps it; the others drop theirs so one line is
     * printed. Agreeing again (or on a larger communicator) keeps the same holder: a rank whose message
     * was dropped no longer holds one. */
    int holder = status != GR_OK && err_msg[0] ? rank : INT_MAX, first = INT_MAX;
    MPI_Allreduce(&holder, &first, 1, MPI_INT, MPI_MIN, comm);
    /* when no rank of comm holds one (it is held outside comm), the failing ranks stay as they are */
    int keep = rank == first || (first == INT_MAX && status != GR_OK);
    if (!keep) {
        err_msg[0] = 0;
        err_code = GR_EREMOTE;
    }
    return agree_status_of(worst);
}

int gr_report_silent;

int gr_report(int status)
{
    if (status == GR_OK)
        return 0;
    if (err_msg[0] && !gr_report_silent) {
        fprintf(stderr, "gravrd: error: %s\n", err_msg);
        const char *dbg = getenv("GRAVRD_DEBUG");
        for (int i = 0; dbg && *dbg && strcmp(dbg, "0") && i < err_ntrace; i++)
            fprintf(stderr, "gravrd: trace: %s\n", err_trace[i]);
    }
    fflush(stderr);
    return status == GR_EUSAGE ? 2 : 1;
}

void gr_warn(const char *fmt, ...)
{
    if (gr_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("gravrd: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void oom(size_t n, size_t size)
{
    fprintf(stderr, "gravrd: error: out of memory allocating %zu x %zu bytes\n", n, size);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

/* Fault in the whole pages of a fresh block of at least 1 MiB in one call (MADV_POPULATE_WRITE, Linux
 * 5.14) instead of one page fault per 4 KiB page at first touch. A block whose last page is already
 * backed (memory the allocator reused) is left alone: walking its present pages costs more than it saves
 * (8.6% of the 150-specification grid when every block was populated). Best effort: an older kernel
 * refuses it and the pages fault in as before. */
static void populate(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    if (bytes < ((size_t)1 << 20) || getenv("GRAVRD_NO_POPULATE")) return;
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, e = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
    unsigned char resident = 0;
    if (e <= a || (mincore((void *)(e - 4096), 4096, &resident) == 0 && (resident & 1))) return;
    (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
    (void)p; (void)bytes;
#endif
}

void *gr_malloc_bound(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) oom(n, size);
    size_t bytes = n * size;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) oom(n, size);
    return p;
}

void *gr_malloc(size_t n, size_t size)
{
    void *p = gr_malloc_bound(n, size);
    populate(p, n * size);  /* no overflow: gr_malloc_bound checked it */
    return p;
}

void *gr_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n, size);
    populate(p, n * size);
    return p;
}

void *gr_realloc(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) oom(n, size);
    size_t bytes = n * size;
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) oom(n, size);
    return q;
}

char *gr_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = gr_malloc(n, 1);
    memcpy(d, s, n);
    return d;
}

int gr_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int gr_parse_double(const char *s, double *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

double gr_now(void) { return MPI_Wtime(); }

const char *gr_version_line(void) { return "gravrd " GR_VERSION " (" GR_GIT_HASH ")"; }

const char *gr_provenance(MPI_Comm comm)
{
    static char buf[512 + sizeof gr_command_line];
    char host[128] = "?";
    int n;
    MPI_Comm_size(comm, &n);
    gethostname(host, sizeof host - 1);
    const char *job = getenv("SLURM_JOB_ID");
    time_t t = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    snprintf(buf, sizeof buf, "%s ranks=%d host=%s date=%s%s%s command_line=%s", gr_version_line(), n, host, date,
             job ? " slurm_job=" : "", job ? job : "", gr_command_line);
    return buf;
}
