/* grid_out.h: the output directory of `gravrd grid` (docs/results.md): results.jsonl, appended one whole
 * line per finished specification by one writer (world rank 0); what --resume finds there; results.csv
 * (tidy, one row per specification, sample and term) and manifest.json written at the end. */
#ifndef GR_GRID_OUT_H
#define GR_GRID_OUT_H
#include "grid.h"
#include "result.h"
#include <cjson/cJSON.h>

typedef struct gr_grid_out {
    char *dir;
    char path[4200];        /* <dir>/results.jsonl */
    int fd;                 /* open for appending, -1 when closed */
    int ndone;              /* records found by --resume */
    char (*done_id)[17], (*done_hash)[17];
    unsigned char *done_failed;  /* the record's status is "failed" */
    double t_sync;          /* when the file was last synced */
} gr_grid_out;

/* Local (rank 0). Create dir if missing and open <dir>/results.jsonl for appending. Without resume, an
 * existing non-empty results.jsonl is an error (GR_EUSAGE: "use --resume or another --out"); with resume,
 * its records are read (id and spec_hash of each whole line; a last line without its newline, left by a
 * killed run, is cut off the file) into o->done_*. GR_EIO naming the path and the reason otherwise. */
int gr_grid_out_open(gr_grid_out *o, const char *dir, int resume);

/* Local. 1 if --resume found a record of spec `id` with this spec hash (2 if that record is a failure). */
int gr_grid_out_is_done(const gr_grid_out *o, const char *id, const char *hash);

/* Local. The record of specification s (one line of JSON, no newline; malloc'd): ok with its results (a
 * cJSON array of result objects, taken; NULL: empty), or failed with `reason`. */
char *gr_grid_record(const gr_grid *g, const gr_grid_spec *s, const char *hash, cJSON *results, const char *reason);

/* Local. The result objects of res[0..nres) (report.h gr_result_json) as a new cJSON array. */
cJSON *gr_grid_results_json(const gr_result *res, int nres);

/* Local (rank 0). Append line and a newline with one write (retried on a short write); the data is synced
 * at most once a second (gr_grid_out_sync at the end). GR_EIO naming the file and the reason. */
int gr_grid_out_append(gr_grid_out *o, const char *line);
int gr_grid_out_sync(gr_grid_out *o);

/* Local (rank 0). Read every record of results.jsonl (the last one per spec_id; an unparsable last line
 * is ignored) and write <dir>/results.csv sorted by spec id (temporary file, then rename). *nok and
 * *nfailed count the records by status. */
int gr_grid_out_csv(gr_grid_out *o, const gr_grid *g, int *nok, int *nfailed);

/* Local (rank 0). Write <dir>/manifest.json (temporary file, then rename); takes `m`. */
int gr_grid_out_manifest(gr_grid_out *o, cJSON *m);

void gr_grid_out_close(gr_grid_out *o);
#endif
