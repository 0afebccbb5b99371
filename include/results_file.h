/* results_file.h: reading a grid's results.jsonl (docs/results.md) for `gravrd table` and `gravrd plot`: the
 * last record of each specification of the config; and reading a whole text file. Local (rank 0). */
#ifndef GR_RESULTS_FILE_H
#define GR_RESULTS_FILE_H
#include <stddef.h>
#include <cjson/cJSON.h>
#include "grid.h"

/* The whole of regular file `path` as NUL-terminated text (*len bytes, malloc'd). An absent file is GR_EIO
 * ("cannot open: No such file..."), unless absent_ok: then empty text. GR_EIO naming the file and why. */
int gr_read_text(const char *path, int absent_ok, char **text, size_t *len);

typedef struct gr_results_file {
    char path[4200];   /* RESULTS/results.jsonl, or RESULTS itself */
    cJSON **rec;       /* [nspecs]: the last record of each specification of the grid, NULL: none */
    int *line;         /* [nspecs]: the line of that record */
    int nrec;          /* specifications with a record */
    int unknown;       /* records whose spec_id is no specification of the grid (not kept) */
    int unknown_line;  /* the line of the first of them, 0: none */
    char unknown_id[40];
    int ignored_last;  /* an unparsable last line without its newline (a run stopped while writing it): its
                        * number, not kept; 0: none */
} gr_results_file;

/* Read RESULTS (a `gravrd grid` output directory, or its results.jsonl) against grid g into R: one JSON object
 * per line with a "spec_id" text; blank lines skipped; the last record of an id wins. check (may be NULL)
 * validates each parsed record first (where: "path:line"). Errors (GR_EFORMAT naming path:line): a NUL byte,
 * a line that is not a JSON object with a spec_id text (except an unfinished last line, see ignored_last), and
 * what check returns; GR_EIO for the file. R is filled as far as it got; free it with gr_results_file_free. */
int gr_results_file_read(const char *results, const gr_grid *g, int (*check)(const cJSON *rec, const char *where),
                         gr_results_file *R);

void gr_results_file_free(gr_results_file *R, int nspecs);
#endif
