/* gr.h: what every gravrd module shares: status codes, the error record, checked allocation,
 * checked number parsing, timers, rank-aware logging. */
#ifndef GR_H
#define GR_H
#include <stddef.h>
#include <stdint.h>
#include <mpi.h>

/* Status codes. 0 is success; every fallible function returns one of these. */
typedef enum {
    GR_OK = 0,
    GR_EUSAGE,   /* bad command line or option */
    GR_EIO,      /* file cannot be opened, read, written or renamed */
    GR_EFORMAT,  /* file exists but is not what was expected */
    GR_EINPUT,   /* data or model is invalid (unknown column, bad formula, empty sample...) */
    GR_ENUM,     /* numerical failure (singular matrix, no convergence where fatal) */
    GR_EMPI,     /* an MPI or ScaLAPACK call failed */
    GR_ENOMEM,
    GR_EREMOTE   /* another rank failed; its message is printed there */
} gr_status;

/* Record an error (first one wins until gr_clear_error) and return `code`.
 * `where` names the file, dataset, CSV line or option; the message says what was expected.
 * Usage: return gr_fail(GR_EINPUT, path, "column '%s' not found", name); */
int gr_fail(int code, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *gr_errmsg(void);  /* the recorded one-line message, "" if none */
int gr_errcode(void);
void gr_clear_error(void);

/* Collective over comm: agree on a status. Returns the largest status of any rank (GR_OK if all
 * succeeded), GR_EREMOTE ranking below every other failure code: it is returned only when no rank of
 * comm has a code of its own. Every rank but one is left without a message (gr_errcode GR_EREMOTE);
 * the one keeping it is the lowest failing rank that holds a message, so exactly one line is printed,
 * also when the status is agreed again or on a larger communicator. */
int gr_agree(MPI_Comm comm, int status);

/* Print the recorded error as one line "gravrd: error: <where>: <what>" on stderr if this rank
 * holds a message. Returns exit status 1 (or 2 for usage errors). */
int gr_report(int status);
extern int gr_report_silent;  /* 1: gr_report prints nothing (a grid records a command's error instead) */

/* Where an error came from. GR_CALL(expr) evaluates a call returning a status and, if it failed, returns
 * that status from the enclosing function; GR_TRY(expr) stores it in the enclosing `rc` and jumps to the
 * enclosing `fail:` label (for functions that must free what they hold). Either way the location is
 * recorded: with GRAVRD_DEBUG=1 in the environment, gr_report prints the chain of file:line (innermost
 * first) under the error line. */
int gr_trace(int code, const char *file, int line, const char *expr);
/* The recorded locations: gr_trace_count() of them (at most 8), gr_trace_at(i) = "<file>:<line>: <expr>"
 * with i = 0 the innermost, NULL out of range. gr_clear_error empties the list. */
int gr_trace_count(void);
const char *gr_trace_at(int i);
#define GR_CALL(expr) do { int gr_call_rc_ = (expr); \
        if (gr_call_rc_) return gr_trace(gr_call_rc_, __FILE__, __LINE__, #expr); } while (0)
#define GR_TRY(expr) do { if ((rc = (expr)) != GR_OK) { gr_trace(rc, __FILE__, __LINE__, #expr); goto fail; } } while (0)

/* Checked narrowing of a count (rows, levels x columns, bytes) to the int that BLAS, LAPACK, ScaLAPACK
 * and MPI take: *out = v, or GR_EINPUT naming `what` ("rows on this rank", ...) when v < 0 or v > INT_MAX.
 * Not collective: agree on the status (gr_agree) before the next collective. */
int gr_int_count(int64_t v, const char *what, int *out);

/* Warnings: printed once on rank 0 of comm (caller ensures rank 0 calls it), prefixed "gravrd: warning: ". */
void gr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int gr_quiet;  /* set by --quiet: suppresses warnings and progress lines */

/* Checked allocation: abort with a one-line message on overflow or out-of-memory. */
void *gr_malloc(size_t n, size_t size);
/* Local. gr_malloc for a buffer sized as an upper bound (only part of it will be written): its pages are
 * not faulted in ahead, as gr_malloc's and gr_calloc's of 1 MiB or more are (err.c, populate). */
void *gr_malloc_bound(size_t n, size_t size);
void *gr_calloc(size_t n, size_t size);
void *gr_realloc(void *p, size_t n, size_t size);
char *gr_strdup(const char *s);

/* Checked number parsing: whole string must parse, in range. Return 0 on success, -1 otherwise. */
int gr_parse_long(const char *s, long lo, long hi, long *out);
int gr_parse_double(const char *s, double *out);

/* Wall clock in seconds (MPI_Wtime). */
double gr_now(void);

/* "gravrd <version> (<git hash>)", as `gravrd --version` prints it (err.c is rebuilt when the checkout
 * changes, so the hash is current). */
const char *gr_version_line(void);

/* Provenance string: "gravrd <version> (<git>) ranks=<P> host=<h> date=<UTC>[ slurm_job=<id>]
 * command_line=<gr_command_line>" (the command line last: it has spaces). Static buffer. */
const char *gr_provenance(MPI_Comm comm);

/* The command line as one string (set once by main through gr_opts_set_command_line, opts.h). */
extern char gr_command_line[4096];

#define GR_NAME_MAX 64
#endif
