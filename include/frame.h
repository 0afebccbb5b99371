/* frame.h: one estimation sample (panel x --where x split value) on this rank's rows: which rows it has,
 * and the columns evaluated on them (formula terms, outcomes, weights) and the fixed-effect and cluster
 * codes, evaluated once and optionally cached by their canonical text, so that the frames of a split, or
 * the specifications of a grid, share the work. A frame on the panel reads through gr_columns (columns.h)
 * and levels.c; a sub-frame (one split value) takes its columns from its parent's cache. Nothing here
 * demeans or fits: that is absorber.h and fit.h. */
#ifndef GR_FRAME_H
#define GR_FRAME_H
#include "columns.h"
#include "formula.h"
#include "rowsel.h"

typedef struct gr_frame_entry {
    char *key;              /* canonical text; "codes:a^b" for codes */
    double *v;              /* f->n values, or NULL for codes */
    int32_t *code;          /* f->n codes (-1 = missing), or NULL for values */
    int64_t ncode;
    int flagged;            /* 1 once bad is made (on first use) */
    unsigned char *bad;     /* f->n row flags (gr_value_flags; codes: 1 where -1), or NULL: none flagged */
} gr_frame_entry;

typedef struct gr_frame {
    MPI_Comm comm;
    gr_panel *p;                /* not owned */
    gr_columns cs;              /* raw panel columns loaded for evaluation (root frames only) */
    struct gr_frame *parent;    /* NULL: a root frame, whose rows are panel rows */
    unsigned char *mask;        /* rows of the parent (root: of the panel) in this frame; NULL: all */
    gr_rowsel sel;              /* the same rows as a selection (valid when mask is not NULL) */
    int64_t n;                  /* local rows */
    int64_t nobs;               /* rows over all ranks */
    char *label;                /* "Full sample", "dir = 1", ... */
    int caching;                /* 1: keep what is evaluated (for sub-frames and later specifications) */
    struct gr_pool *pool;       /* absorbers the models on this frame share (pool.h; not owned), or NULL */
    int nentries, capentries;
    gr_frame_entry *entries;
} gr_frame;

/* Collective. A root frame on the panel's local rows where `where` (may be NULL: all rows) is true
 * (non-zero and not missing). GR_EINPUT if no row of any rank is kept. */
int gr_frame_open(MPI_Comm comm, gr_panel *p, gr_expr *where, const char *label, gr_frame *f);
/* Collective. A sub-frame of `parent` with its rows where mask[i] (parent->n flags, copied). The parent
 * should cache (caching = 1): every column the sub-frame needs is evaluated once in the parent. */
int gr_frame_sub(gr_frame *parent, const unsigned char *mask, const char *label, gr_frame *f);

/* Collective. Expression e on the frame's rows into out[f->n]. `context` ("formula", "--where", ...) names
 * the source in errors (unknown column...). */
int gr_frame_eval(gr_frame *f, gr_expr *e, const char *context, double *out);
/* Collective. A regressor term (product of its factors) into out[f->n]. */
int gr_frame_term(gr_frame *f, const gr_term *t, double *out);
/* Collective. Codes (levels.h) of the variable vars[0]^vars[1]^... on the frame's rows into out[f->n],
 * with *ncodes the code range. */
int gr_frame_codes(gr_frame *f, int nvars, char *const *vars, int32_t *out, int64_t *ncodes);

/* Collective. On a frame that keeps what it evaluates: as gr_frame_eval, gr_frame_term and gr_frame_codes,
 * but without a copy: *v (*code) points to the frame's own array of f->n values (evaluated and kept now if
 * it was not yet), read-only and valid until gr_frame_free; *bad (when bad is not NULL) to its row flags
 * (GR_ROW_MISSING / GR_ROW_INF per value; 1 per missing code), made once per array, or NULL when no local
 * row is flagged. Errors as the copying
 * calls (agreed); nothing is kept then. */
int gr_frame_eval_ref(gr_frame *f, gr_expr *e, const char *context, const double **v, const unsigned char **bad);
int gr_frame_term_ref(gr_frame *f, const gr_term *t, const double **v, const unsigned char **bad);
int gr_frame_codes_ref(gr_frame *f, int nvars, char *const *vars, const int32_t **code, int64_t *ncodes,
                       const unsigned char **bad);

/* Local. Free the raw panel column `name` if loaded (a root frame; no later evaluation needs it). */
void gr_frame_drop_raw(gr_frame *f, const char *name);
void gr_frame_free(gr_frame *f);
#endif
