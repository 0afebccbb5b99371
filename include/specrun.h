/* specrun.h: one specification (spec.h) estimated on its sample: the plan of what it evaluates (outcomes,
 * regressor terms, fixed-effect and cluster codes, weights, the split column), one model (model.h) per
 * split value on a sub-frame, the results in outcome-major order. Shared by `gravrd estimate` (one spec;
 * its sample a root frame on --where; raw panel columns freed after their last use) and `gravrd grid`
 * (many specs; each sample a sub-frame of one caching frame on all rows, so columns are evaluated once). */
#ifndef GR_SPECRUN_H
#define GR_SPECRUN_H
#include "frame.h"
#include "result.h"
#include "spec.h"

/* Collective. Every column that s names (formula, --where, --cluster, --weights, --split) is in the panel:
 * GR_EINPUT "unknown column 'x' in <file>" (agreed) on the first that is not. */
int gr_specrun_check(const gr_spec *s, gr_panel *p);

/* Local. The Sample row of s's full sample: "where: <where text>", or "Full sample". */
void gr_specrun_label(const gr_spec *s, char *buf, size_t len);

/* Collective over sample->comm. Estimate s on the rows of `sample` (s's --where already applied there):
 * every outcome, on the full sample or, with --split / --fsplit, per split value (the full sample first
 * under fsplit). *res gets *nres results (outcome-major: outcome 1 by sample, then outcome 2...; free each
 * with gr_result_free, then the array). root: a root frame whose raw panel columns may be freed after
 * their last use by s (estimate's low-memory path), or NULL to keep them. Sets sample->caching when s
 * splits (the split's frames share what the sample evaluates). Errors are agreed; *res is then NULL. */
int gr_specrun(gr_frame *sample, gr_frame *root, const gr_spec *s, gr_result **res, int *nres);
#endif
