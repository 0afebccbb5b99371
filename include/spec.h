/* spec.h: one specification: data, formula, sample (--where, --split), weights, clusters, variance and
 * tolerances, as one struct. `gravrd estimate` fills it from its options; a grid configuration produces the
 * same struct for each of its specifications. Resolving parses the texts and applies fixest's defaults. */
#ifndef GR_SPEC_H
#define GR_SPEC_H
#include "formula.h"
#include "model.h"
#include "ppml.h"

typedef struct gr_spec {
    /* as given (borrowed strings) */
    const char *data;           /* panel file */
    const char *formula_text;
    const char *where_text;     /* NULL: every row */
    const char *split;          /* column: one model per value (NULL: none) */
    int fsplit;                 /* 1: the full sample too, first */
    const char *cluster_text;   /* "a" or "a,b" (NULL: none) */
    const char *weights_text;   /* expression giving observation weights (NULL: unweighted) */
    const char *offset_text;    /* expression giving an offset with coefficient 1 (NULL: none): OLS of y - offset
                                 * (fixest's feols), or in the Poisson linear predictor (fepois, glm) */
    const char *offset_name;    /* messages name the offset as this option (NULL: "--offset") ... */
    const char *offset_shown;   /* ... and quote this text (NULL: offset_text): mediate's offset stands for
                                 * --mediator and its terms (mediation.h) */
    int vcov_set;               /* model.vcov was given (else fixest's default, set by gr_spec_resolve) */
    gr_model_opts model;        /* tolerances, singletons, solver, collinearity, variance */
    int family;                 /* GR_FAMILY_GAUSSIAN (least squares, default) or GR_FAMILY_POISSON (ppml.h) */
    gr_ppml_opts ppml;          /* IRLS and separation settings of the Poisson family */
    struct gr_scores *scores;   /* NULL, or the mediation sink handed to the model (mediation.h); not a setting */
    /* resolved by gr_spec_resolve (owned) */
    gr_formula f;
    gr_expr *where, *weights, *split_expr, *offset;
    int ncl;
    char clnames[2][GR_NAME_MAX];
} gr_spec;

/* Local. fixest's defaults: fe tolerance 1e-6, 10000 iterations, conjugate gradient, no singleton
 * removal, Cholesky, collinearity tolerance 1e-10. */
void gr_spec_defaults(gr_spec *s);
/* Local. Parse the formula, --where, --weights, --offset and --split expressions and the --cluster list, and
 * settle the variance: without one given, clustered by --cluster if any, else by the first fixed effect, else iid.
 * GR_EUSAGE or GR_EINPUT (one line) on a bad text. */
int gr_spec_resolve(gr_spec *s);

/* How messages name the offset: the option ("--offset" unless offset_name is set) and the text quoted. */
static inline const char *gr_spec_offset_name(const gr_spec *s) { return s->offset_name ? s->offset_name : "--offset"; }
static inline const char *gr_spec_offset_shown(const gr_spec *s) { return s->offset_shown ? s->offset_shown : s->offset_text; }
void gr_spec_free(gr_spec *s);
#endif
