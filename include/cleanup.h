/* cleanup.h: output safety. Every file gravrd writes is made as a temporary beside its target and renamed
 * over it only when complete. This module names those temporaries ("<target>.tmp.<pid>.<host>"), keeps
 * a registry of the ones that exist so that SIGTERM, SIGINT and SIGHUP remove them before the process
 * exits, sweeps the stale ones that a killed process (SIGKILL) of this host left, refuses an output that
 * is one of the run's input files, and writes text outputs (JSON, SVG, tables) through streams whose every
 * write, flush and close is checked. docs/errors.md describes what a user sees. */
#ifndef GR_CLEANUP_H
#define GR_CLEANUP_H
#include <stddef.h>
#include <stdio.h>
#include "gr.h"

#define GR_CLEANUP_MAX 32   /* temporaries registered at once */
#define GR_TMP_PATH_MAX 4240 /* a temporary's name: a target path shorter than 4096 bytes always fits, with
                              * ".locktest.<rank>" after it (panel.c, lock_test_name: the name OMPIO's
                              * lockedfile component would use, itself limited to 255 bytes: main.c) */

/* Local. Install the handlers of SIGTERM, SIGINT and SIGHUP (a signal ignored when the program started,
 * as nohup or a background job arranges, stays ignored). On such a signal the handler unlinks every
 * registered temporary, writes "gravrd: error: interrupted by SIGTERM (temporary files removed)" on
 * stderr when `rank` is 0, and ends the process with _exit(128 + signal number). Call once, after
 * MPI_Init. */
void gr_cleanup_init(int rank);

/* Local. The command is over and its outcome reported: from here on a signal still removes what is
 * registered and ends the process with 128 + signal, but prints nothing (mpirun stops the ranks that are
 * still finalizing when one rank exits non-zero: that must not add a line to the command's own). */
void gr_cleanup_end(void);

/* Local. Soft stop (gravrd grid): with on = 1, the first SIGTERM, SIGINT or SIGHUP is only recorded, for
 * the command to notice between tasks (gr_cleanup_stop_signal) and stop in order; the same signal again
 * within a second is the same request (Slurm's time limit sends SIGTERM twice); any other second signal
 * acts as above (temporaries removed, exit 128 + signal). on = 0 restores the immediate exit. */
void gr_cleanup_soft(int on);
/* Local. The signal recorded in soft mode (SIGTERM...), or 0. */
int gr_cleanup_stop_signal(void);

/* Local. Register a temporary path (copied) for removal on a signal; GR_EIO when GR_CLEANUP_MAX are
 * registered already. gr_cleanup_remove forgets it (after the rename or the unlink); unknown paths are
 * ignored. */
int gr_cleanup_add(const char *path);
void gr_cleanup_remove(const char *path);

/* Local. The temporary of `path` for process `pid` of this host, "<path>.tmp.<pid>.<host>", into
 * buf[len] (len >= GR_TMP_PATH_MAX always suffices for a path shorter than 4096). GR_EIO if it does
 * not fit. */
int gr_tmp_name(const char *path, long pid, char *buf, size_t len);

/* Local, on the rank that creates the temporary. Remove the temporaries "<path>.tmp.<pid>.<host>" beside
 * `path` that a process of this host left behind and that no longer runs (kill(pid, 0) fails with
 * ESRCH), each named in a warning. Those of another host or of a live process are left alone. */
void gr_tmp_sweep(const char *path);

/* Local. While a command reads `path` (from gr_input_add until the matching gr_input_remove), no output may
 * be written over it. The panel reader registers its file from gr_panel_open to gr_panel_close; commands
 * register the other files they read (import's CSV, simulate --cities). A path may be added more than once;
 * each remove forgets one. */
void gr_input_add(const char *path);
void gr_input_remove(const char *path);
/* Local. 1 if a and b name the same file: the same path, the same realpath, or the same device and
 * inode (so also through a symbolic or a hard link); else 0. */
int gr_same_file(const char *a, const char *b);
/* Local. GR_EUSAGE, recorded as "<out>: output would overwrite the input file <in>", when `out` is the
 * same file as an input given to gr_input_add or as `also` (may be NULL); else GR_OK. */
int gr_refuse_input(const char *out, const char *also);

/* A text output: "-" is standard output; an existing target that is not a regular file (a device such as
 * /dev/null or /dev/full, a FIFO) is written directly; anything else is written to a registered
 * temporary beside the target, which gr_outfile_commit renames into place. */
typedef struct gr_outfile {
    FILE *f;
    int direct;                      /* 1: f is stdout or the target itself (no temporary) */
    int err;                         /* errno of the first failed write, flush or close; 0 if none */
    char path[4096], tmp[GR_TMP_PATH_MAX];
} gr_outfile;

/* Local. Open `path` for writing as above, after gr_refuse_input(path, NULL) and the sweep of stale
 * temporaries. GR_EIO / GR_EUSAGE with the error recorded; nothing is left open then. */
int gr_outfile_open(gr_outfile *o, const char *path);
/* Local. Finish the writing: check the stream's error flag, flush, fsync and close (standard output is
 * flushed, not closed). GR_EIO naming the target and the system's reason ("No space left on device")
 * on any failure; the temporary is then removed. */
int gr_outfile_finish(gr_outfile *o);
/* Local. After gr_outfile_finish: rename the temporary over the target (nothing to do when direct). */
int gr_outfile_commit(gr_outfile *o);
/* Local. Close without committing and remove the temporary; safe on a closed or zeroed gr_outfile. */
void gr_outfile_discard(gr_outfile *o);
/* Local. finish + commit when `commit`, else discard. */
int gr_outfile_close(gr_outfile *o, int commit);
/* Local. Write `text` and a newline to `path` through a gr_outfile ("-": standard output). */
int gr_write_text(const char *path, const char *text);

/* Local. Flush standard output and check its error flag: GR_EIO "standard output: write failed: <reason>"
 * when anything printed was lost (a full disk, /dev/full). main calls it on every rank after a
 * successful command; commands that print much (dump) call it as they go. */
int gr_stdout_check(void);
/* Collective over comm, at the end of a command whose status `rc` all ranks agreed on: when rc is GR_OK,
 * rank 0 (the rank that prints) checks standard output with gr_stdout_check; returns the agreed status. */
int gr_stdout_agree(MPI_Comm comm, int rc);
#endif
