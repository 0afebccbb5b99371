/* rowsel.c: a selection of rows applied to arrays, a run of kept rows at a time (see rowsel.h). */
#include "rowsel.h"
#include <stdlib.h>
#include <string.h>

void gr_rowsel_init(gr_rowsel *s, int64_t n, const unsigned char *keep)
{
    int64_t cap = 1024;
    s->n = n;
    s->nd = 0;
    s->drop = gr_malloc((size_t)cap, sizeof *s->drop);
    for (int64_t i = 0; i < n; i++)
        if (!keep[i]) {
            if (s->nd == cap) s->drop = gr_realloc(s->drop, (size_t)(cap *= 2), sizeof *s->drop);
            s->drop[s->nd++] = i;
        }
    s->m = n - s->nd;
}

void gr_rowsel_apply(const gr_rowsel *s, const void *src, void *dst, size_t size)
{
    const char *from = src;
    char *to = dst;
    int64_t start = 0, out = 0;
    for (int64_t d = 0; d <= s->nd; d++) {
        int64_t end = d < s->nd ? s->drop[d] : s->n;
        if (end > start) {
            if (to + out * size != from + start * size)
                memmove(to + (size_t)out * size, from + (size_t)start * size, (size_t)(end - start) * size);
            out += end - start;
        }
        start = end + 1;
    }
}

void gr_rowsel_free(gr_rowsel *s)
{
    free(s->drop);
    memset(s, 0, sizeof *s);
}
