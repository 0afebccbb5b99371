/* rowsel.h: a selection of rows (the ones a mask keeps), applied to any number of arrays: each array
 * closes its gaps one run of kept rows at a time (a memmove per run, not a test per element). Used by the
 * frame (rows of a sample), the model (usable rows) and the absorber (rows left after singletons). */
#ifndef GR_ROWSEL_H
#define GR_ROWSEL_H
#include "gr.h"

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
