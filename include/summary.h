/* summary.h: what `gravrd summary` (src/summary_cmd.c) shares with its readers: the --vars list. */
#ifndef GR_SUMMARY_H
#define GR_SUMMARY_H
#include "expr.h"

#define GR_SUMMARY_MAX_VARS 64

/* Local. Split `text` at the commas outside parentheses and quotes and parse each item (gr_expr_parse,
 * `what` naming the source in errors): out[0..*n), at most `max` (the caller frees each with gr_expr_free,
 * also after a failure). GR_EUSAGE naming `what` for an empty item or too many; a parse error as
 * gr_expr_parse. A variable's name is its canonical text, gr_expr_text (the "variable" of the results). */
int gr_summary_vars(const char *text, const char *what, int max, gr_expr **out, int *n);
#endif
