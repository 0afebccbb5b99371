/* report.h: rendering of estimation results: the regression table in the style of the study's
 * tables, and the machine-readable JSON record. Local (call on rank 0). */
#ifndef GR_REPORT_H
#define GR_REPORT_H
#include <stdio.h>
#include <cjson/cJSON.h>
#include "result.h"

/* Print results side by side (one column per model): coefficients with standard errors in
 * parentheses and stars (*** p<0.01, ** p<0.05, * p<0.1), fixed effects, fit statistics. */
void gr_print_table(FILE *f, const gr_result *res, int nres, const char *title);

/* JSON object of one result (caller owns it). */
cJSON *gr_result_json(const gr_result *r);

/* Write `root` to `path` ("-" = stdout) through a gr_outfile (cleanup.h): a temporary renamed into place
 * when every write, flush and close succeeded; GR_EIO with the reason otherwise (nothing left at `path`),
 * GR_EUSAGE when `path` is an input file of this run (e.g. the panel). */
int gr_write_json(const char *path, const cJSON *root);
#endif
