/* cfg.h: what the readers of a YAML config share (grid.c, table_cmd.c, plot_cmd.c): the one-line error
 * "<file>:<line>: <what>" and small helpers over libyaml's document nodes. */
#ifndef GR_CFG_H
#define GR_CFG_H
#include <yaml.h>

/* Local. Record "<path>:<line>: <what>" (line 0: the file alone) as GR_EINPUT and return GR_EINPUT. */
int gr_cfg_fail(const char *path, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The 1-based line of a node, and what kind of node it is in words ("a text", "a list", "a mapping"). */
static inline int gr_yline(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }
static inline const char *gr_ykind(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? "a text" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
}
#endif
