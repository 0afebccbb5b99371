/* grid.h: a grid of specifications from one YAML config (docs/grid.md): the panel file, base settings
 * (the options of `gravrd estimate`), axes whose values fill {axis} placeholders or carry settings, which
 * axes are crossed and which zipped. Loading parses the file (libyaml), expands the cross product in a
 * documented order, resolves every specification to a gr_spec (spec.h) and gives it a stable id: the first
 * 16 hex digits of the 64-bit FNV-1a hash of a canonical text of its resolved settings (keys sorted,
 * where clauses sorted), so the ids do not depend on the order of keys in the file. Every problem is one
 * line "<file>:<line>: <what>" (gr_fail, GR_EINPUT) before any work starts. */
#ifndef GR_GRID_H
#define GR_GRID_H
#include "spec.h"

#define GR_GRID_ID_LEN 16          /* hex digits of an id */
#define GR_GRID_MAX_SPECS 100000   /* most specifications one config may expand to */
#define GR_GRID_MAX_AXES 32

/* The settings a config may give (base: or an axis value), in the order docs/grid.md lists them. */
typedef enum {
    GR_GRID_FORMULA = 0, GR_GRID_WHERE, GR_GRID_CLUSTER, GR_GRID_VCOV, GR_GRID_WEIGHTS, GR_GRID_SPLIT,
    GR_GRID_FSPLIT, GR_GRID_FIXEF_RM, GR_GRID_FE_TOL, GR_GRID_FE_MAXITER, GR_GRID_FE_METHOD, GR_GRID_SOLVER,
    GR_GRID_COLLIN_TOL, GR_GRID_COMMAND, GR_GRID_OPTIONS, GR_GRID_FAMILY /* gaussian | poisson (ppml.h) */,
    GR_GRID_OFFSET /* expression: offset with coefficient 1 (spec.h) */,
    GR_GRID_BOOT, GR_GRID_BOOT_WEIGHTS, GR_GRID_BOOT_SEED /* wild cluster bootstrap (wildboot.h) */,
    GR_GRID_CLUSTER_DIAG /* auto | on | off: the clustering diagnostic (leverage.h) */, GR_GRID_NKEYS
} gr_grid_key;

/* What a specification runs: `gravrd estimate` (the default), or another command of the study's design
 * run as a whole with its own options (command: match / rdgrid / summary, options: {bandwidth: 100, ...}). */
typedef enum { GR_GRID_CMD_ESTIMATE = 0, GR_GRID_CMD_MATCH, GR_GRID_CMD_RDGRID, GR_GRID_CMD_SUMMARY,
               GR_GRID_CMD_MEDIATE /* gravrd mediate (mediation.h) */ } gr_grid_command;

/* The key's name in a config ("fe-tol"). */
const char *gr_grid_key_name(gr_grid_key k);

/* One specification of the grid. */
typedef struct gr_grid_spec {
    gr_spec spec;                   /* resolved (gr_spec_resolve); its strings point into the fields below
                                     * and into gr_grid.data */
    char id[GR_GRID_ID_LEN + 1];
    int index;                      /* 0-based position in the expansion order */
    char *label;                    /* "y=log(trade), bw=50, direction=west to east" (axis order) */
    int *pick;                      /* pick[a] = index of the value taken from axis a */
    char **axis_label;              /* axis_label[a] = the label of that value, placeholders filled */
    int naxis_label;
    char *text[GR_GRID_NKEYS];      /* the resolved setting texts (placeholders filled), NULL when unset;
                                     * text[GR_GRID_WHERE] is the canonical and-ed where */
    int line[GR_GRID_NKEYS];        /* config line each setting came from (0: default) */
    gr_grid_command command;        /* text[GR_GRID_OPTIONS]: the command's options, "--name value" lines,
                                     * sorted by name (placeholders filled) */
    int nwhere;                     /* the where clauses and-ed (canonical texts, sorted) and their lines */
    char **where_part;
    int *where_line;
} gr_grid_spec;

/* One axis, as written. */
typedef struct gr_grid_axis {
    char *name;
    int line;
    int nvalues;
    char **value_label;             /* the labels as written (placeholders not filled) */
    int *value_line;
} gr_grid_axis;

typedef struct gr_grid {
    char *path;                     /* the config file, as named */
    char *data;                     /* the panel file (the config's data:, or the override) */
    int data_line;                  /* 0 when overridden */
    char *title;                    /* NULL: none */
    int group_size;                 /* ranks per task group (group-size:); 0 when not given */
    int naxes;
    gr_grid_axis *axes;             /* in the order of the file */
    int nspecs;
    gr_grid_spec *specs;            /* in expansion order */
} gr_grid;

/* Local (no MPI). Parse the config text (len bytes) of file `path`, expand and resolve it into *g (owned;
 * gr_grid_free). data_override: panel file replacing the config's data: (NULL: none). Checks everything
 * that does not need the panel: YAML syntax, keys, types, empty axes, placeholders, unused axes,
 * bandwidths and numeric settings, zip lengths, formulas and where clauses, duplicate ids. GR_EINPUT with
 * one line "<path>:<line>: ..." on the first problem; *g is then empty. */
int gr_grid_parse(const char *path, const char *text, size_t len, const char *data_override, gr_grid *g);

/* Collective. Rank 0 reads file `path` (GR_EIO if it cannot), every rank parses the same bytes
 * (gr_grid_parse); the status is agreed (one rank keeps the message). */
int gr_grid_load(MPI_Comm comm, const char *path, const char *data_override, gr_grid *g);

/* Collective. Open g->data and check every column the specifications name (formula, where, cluster,
 * weights, split; derived spatial columns resolve there) and every text label a where clause compares
 * with: GR_EINPUT "<path>:<line>: unknown column ..." on the first missing one. Agreed over comm. */
int gr_grid_check_columns(MPI_Comm comm, gr_grid *g);

/* Local. Index of the specification with this id, or -1. */
int gr_grid_find(const gr_grid *g, const char *id);

/* Local. The canonical text an id hashes (keys sorted, one "key=value" line each), into buf (len bytes,
 * truncated); for docs and tests. */
void gr_grid_canonical(const gr_grid_spec *s, char *buf, size_t len);

/* Local. The 64-bit FNV-1a hash of text (what ids are made of). */
uint64_t gr_grid_hash(const char *text);

/* Release everything g owns and zero it. Safe on a zeroed grid. */
void gr_grid_free(gr_grid *g);
#endif
