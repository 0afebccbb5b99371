/* rowsel.h: a selection of rows (the ones a mask keeps), applied to any number of arrays: each array
 * closes its gaps one run of kept rows at a time (a memmove per run, not a test per element). Used by the
 * frame (rows of a sample), the model (usable rows) and the absorber (rows left after singletons). */
#ifndef GR_ROWSEL_H
#define GR_ROWSEL_H
#include "gr.h"

/* Row flags of a value: GR_ROW_MISSING for NaN, GR_ROW_INF for +-inf, 0 when finite (x - x is NaN exactly
 * when x is not finite; no branch, so loops over it vectorise). The model drops flagged rows (model.c). */
enum { GR_ROW_MISSING = 1, GR_ROW_INF = 2 };
static inline int gr_value_flags(double x)
{
    return (x != x) | (((x - x) != (x - x)) & (x == x)) << 1;
}

typedef struct gr_rowsel {
    int64_t n, m;       /* rows before and after */
    int64_t nd;         /* rows dropped */
    int64_t *drop;      /* their indices, increasing (owned) */
} gr_rowsel;

/* Local. The rows i < n with keep[i] != 0. */
void gr_rowsel_init(gr_rowsel *s, int64_t n, const unsigned char *keep);
/* Local. dst[0..m) = the kept elements of src[0..n) (elements of `size` bytes). dst may be src (in place),
 * lie below it in the same array (the copy never overtakes what is still to be read), or be another array. */
void gr_rowsel_apply(const gr_rowsel *s, const void *src, void *dst, size_t size);
void gr_rowsel_free(gr_rowsel *s);
#endif
