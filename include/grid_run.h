/* grid_run.h: running a grid (docs/grid.md "Running"): the world is split into task groups
 * (MPI_Comm_split), each group opens the panel once and keeps one caching frame on all its rows; the
 * specifications become tasks (those differing only in the outcome are one multi-outcome model, which
 * shares one absorber); tasks with the same sample form a unit handed out whole, largest first, from an
 * atomic counter on world rank 0 (MPI one-sided Fetch_and_op), so no group idles while units remain. Each
 * finished specification is sent to world rank 0, the one writer of results.jsonl (grid_out.h). */
#ifndef GR_GRID_RUN_H
#define GR_GRID_RUN_H
#include "grid.h"

typedef struct gr_grid_run_opts {
    const char *out;                /* output directory */
    int resume;                     /* skip the specifications results.jsonl already holds */
    int group_size;                 /* ranks per task group (>= 1) */
    const unsigned char *selected;  /* selected[i]: run specification i (--only, --shard) */
    int merge;                      /* 1: specifications differing only in the outcome share one model */
    double progress_seconds;        /* a progress line this often when stderr is not a terminal */
    struct cJSON *provenance;       /* rank 0: the run's provenance for the manifest (taken), or NULL */
} gr_grid_run_opts;

/* What happened, on every rank. */
typedef struct gr_grid_summary {
    int selected, done, failed, resumed, not_done;
    int resumed_failed;             /* of the resumed, how many are failures (the exit status counts them) */
    int stop_signal;                /* the signal that stopped the run, 0 if none */
} gr_grid_summary;

/* Collective over world. Run the selected specifications of g (columns checked already), write the
 * output directory, print the summary on stderr (rank 0). Returns GR_OK also when specifications failed or
 * a signal stopped the run (see *sum); an error status for what stops the whole run (the output directory,
 * the panel, a fatal error of a task). */
int gr_grid_run(MPI_Comm world, gr_grid *g, const gr_grid_run_opts *o, gr_grid_summary *sum);
#endif
