/* panel.h: the gravrd panel file (HDF5, format version 1; see docs/format.md) and its
 * exporter-partitioned parallel reader and writer.
 *
 * Layout: /cities/<col> and /pairs/<col> are tables (one row per city / directed pair), held whole on
 * every rank except the pairs under gr_panel_open_local; /panel/<col> has one row per observation, rows sorted by exporter; /index/exporter_offsets
 * (int64, n_cities+1) gives rows [off[e], off[e+1]) of exporter city e. String columns are stored
 * as int32 codes with their labels in /labels/<group>/<col>. Missing values are NaN.
 * A panel is read-only input: the reader adds the derived columns of derived.h to its in-memory tables
 * when they are named and not stored; only gr_writer_* and gr_file_copy_with_columns create files. */
#ifndef GR_PANEL_H
#define GR_PANEL_H
#include <hdf5.h>
#include "cleanup.h" /* GR_TMP_PATH_MAX */
#include "gr.h"

#define GR_FORMAT_NAME "gravrd-panel"
#define GR_FORMAT_VERSION 1

/* A column-oriented table (cities, pairs, or a small panel), the same on every rank unless said otherwise. */
typedef struct gr_table {
    int64_t nrows;
    int ncols;
    char **names;     /* column names */
    double **cols;    /* values; NaN = missing */
    int *is_int;      /* stored as int32 on disk */
    char ***labels;   /* labels[c] = NULL for numeric columns, else label of code k is labels[c][k] */
    int *nlabels;
} gr_table;

/* Index of column `name`, or -1. */
int gr_table_find(const gr_table *t, const char *name);
/* Append a column; the table takes ownership of `values` (nrows doubles) and of `labels`
 * (nlabels strings, may be NULL). Replaces a column of the same name. Returns its index. */
int gr_table_add(gr_table *t, const char *name, double *values, int is_int, char **labels, int nlabels);
void gr_table_free(gr_table *t);

/* One rank's view of a panel file. */
typedef struct gr_panel {
    MPI_Comm comm;
    int rank, nranks;
    char path[4096];
    hid_t file;                 /* open read-only through MPI-IO; closed by gr_panel_close */
    gr_table cities, pairs;     /* whole on every rank (pairs: see pair_ids); nrows == 0 when the file has none */
    int n_exporters;            /* n entries of exporter_offsets - 1; 0 if the file has no index */
    int64_t *exporter_offsets;  /* replicated, indexed by exporter city id */
    int64_t nrows_total;        /* observations in /panel */
    int64_t nrows;              /* rows held by this rank */
    int64_t row_begin;          /* gr_panel_open: first global row of this rank's contiguous block;
                                 * -1 under gr_panel_open_balanced (rows not contiguous: gr_panel_row) */
    int exp_begin, exp_end;     /* gr_panel_open: exporters owned [exp_begin, exp_end) (0,0 without an
                                 * index); 0,0 under gr_panel_open_balanced (gr_panel_owns_exporter) */
    int *exp_owner;             /* balanced: the rank of each exporter (n_exporters); NULL otherwise */
    int nblocks;                /* this rank's rows: nblocks ranges of global rows, in file order, */
    int64_t *blk_begin, *blk_rows; /* local rows concatenated in that order */
    int32_t *pair;              /* local rows' pair: its row of p->pairs; NULL if the file has no pairs table */
    int64_t pairs_total;        /* rows of /pairs in the file (0 without the table) */
    int32_t *pair_ids;          /* gr_panel_open_balanced: the file's pair id of each row of p->pairs, which then
                                 * holds only the pairs of this rank's rows (npairs_local); NULL under
                                 * gr_panel_open, where p->pairs is the whole table and p->pair the file's ids */
    int64_t npairs_local;
    int32_t *icache;            /* the last integer /panel column read by gr_panel_column_int (or /panel/pair), */
    int icache_col;             /* kept for the next request of it; -1: none */
    int ncols;                  /* datasets stored in /panel */
    char **colnames;
    char ***collabels;          /* label table of each /panel column (NULL for numeric ones) */
    int *ncollabels;
    double t_read;              /* seconds spent reading /panel datasets so far (gr_panel_column*) */
    int is_input;               /* path registered as an input (cleanup.h) until gr_panel_close */
} gr_panel;

/* Collective. Open `path`, check format name and version, read the replicated tables and the
 * exporter index, and assign this rank a contiguous block of whole exporters balanced by row
 * count (rows split evenly when the file has no index). Ranks may get no rows. A file that cannot be
 * read is named in the system's words ("no such file", "permission denied", "not a regular file (it is a
 * directory)") before HDF5 sees it. Until gr_panel_close, `path` is an input that no output may overwrite
 * (gr_input_add, cleanup.h). */
int gr_panel_open(MPI_Comm comm, const char *path, gr_panel *p);
/* Collective. As gr_panel_open, but with the exporters dealt to ranks so that every region's rows are
 * balanced (gr_deal_exporters; the group is the /cities column `region` when the file has one): rank r
 * holds the rows of the exporters it owns, in file order, read as non-contiguous hyperslabs. For commands
 * whose results do not depend on which rank holds a row (estimate, grid): a split by a region-made variable
 * (e.g. dir) then keeps every rank busy. Without an index it is gr_panel_open. A pair's rows, and an
 * exporter's, stay on one rank. */
int gr_panel_open_balanced(MPI_Comm comm, const char *path, gr_panel *p);
/* Collective. As gr_panel_open_balanced, but p->pairs holds only the pairs of this rank's rows (p->npairs_local
 * rows, read from the file by window; p->pair_ids[k] is the file's id of row k, p->pair[i] a row of p->pairs),
 * so no table that grows with the pairs is held whole on every rank; p->cities stays whole (docs/scale.md,
 * "Local pairs"). gr_panel_pair_values, gr_panel_column and the derived columns give the values of the
 * whole-table open (a derived pairs column is computed on the whole /pairs table, read for it and freed).
 * For callers that use p->pairs only through p->pair and these functions, and make no code numbering from
 * it on MPI_COMM_SELF (levels.c's pair_parts_codes still does: docs/scale.md says what it needs). */
int gr_panel_open_local(MPI_Comm comm, const char *path, gr_panel *p);
/* Local. Global row number (0-based, in the file) of local row i (0 <= i < p->nrows). */
int64_t gr_panel_row(const gr_panel *p, int64_t i);
/* Local. 1 if this rank holds the rows of exporter e (0 <= e < p->n_exporters). */
int gr_panel_owns_exporter(const gr_panel *p, int e);
void gr_panel_close(gr_panel *p);

/* Collective. Values of column `name` on this rank's rows, freshly allocated (caller frees).
 * Resolves, in order: a /panel dataset; a pair column (e.g. partner, exporter, distance_km);
 * exp_<c> / imp_<c> for a city column c of the exporter / importer. A derived column (derived.h:
 * segment_<d>, segpair_<d>, ntreated_<d>, same_<attr>_<d>) that the file does not store is computed
 * from the replicated tables and added to p->cities / p->pairs first (the file is never written); so are the
 * median splits hi_/lo_<attr>_<set>. The month indicators december, cny_month, post_covid are computed from
 * /panel/month and the root attribute first_month when /panel does not store them.
 * Unknown name (or a derived one that cannot be computed): GR_EINPUT. */
int gr_panel_column(gr_panel *p, const char *name, double **out);
/* Collective. As gr_panel_column, into the caller's out[p->nrows]. */
int gr_panel_column_into(gr_panel *p, const char *name, double *out);
/* Collective. As gr_panel_column for a /panel dataset stored as integers: its values as int32 in *out
 * (caller frees), label code -1 (missing) kept as -1. *out = NULL (and GR_OK) when `name` is not such a
 * dataset; the caller then uses gr_panel_column. */
int gr_panel_column_int(gr_panel *p, const char *name, int32_t **out);
/* Local. Frees the integer column gr_panel_column_int keeps for the next request of it (one int32 per row);
 * a later request reads it again. */
void gr_panel_drop_cache(gr_panel *p);
/* Local. 1 if column `name` is a function of the pair: a /pairs column, exp_<c> / imp_<c>, or `pair`.
 * It first derives a missing derived column, as gr_panel_pair_values and gr_panel_has_column do (same
 * values on every rank); when that fails it returns 0 with the error recorded (the first message wins). */
int gr_panel_pair_level(gr_panel *p, const char *name);
/* Local. Values of a pair-level column for every pair of p->pairs (p->pairs.nrows values: the whole /pairs
 * table, or this rank's pairs under gr_panel_open_local; caller frees; NaN = missing): row i's value is
 * (*out)[p->pair[i]]; `pair` gives the file's pair id. GR_EINPUT if not pair-level. */
int gr_panel_pair_values(gr_panel *p, const char *name, double **out);
/* Local. 1 if gr_panel_column would find `name` (deriving it if need be). */
int gr_panel_has_column(gr_panel *p, const char *name);
/* Local. Label table of a string-coded column (same resolution as gr_panel_column), or NULL. Derived
 * columns have no labels. */
char **gr_panel_labels(const gr_panel *p, const char *name, int *nlabels);

/* Partition rule shared by reader and writers: rank r of P owns exporters [b_r, b_{r+1}) where b_r
 * is the first exporter e with offsets[e] >= ceil(r * total / P) (b_0 = 0, b_P = n). */
void gr_partition_exporters(int n_exporters, const int64_t *offsets, int rank, int nranks,
                            int *begin, int *end);
/* Balanced rule (gr_panel_open_balanced): owner[e] in [0, nranks) for every exporter. Each group of
 * exporters (same group[e]; NaN one group; group NULL: all one group), in id order, is split among the
 * ranks by gr_partition_exporters' rule on the group's own row counts: every rank gets a balanced share of
 * every group's rows, as one run of consecutive exporters per group where a group's ids are consecutive
 * (few, long hyperslabs: a compressed chunk is shared by two ranks only at a run's ends). Every rank
 * computes the same owners. */
void gr_deal_exporters(int n_exporters, const int64_t *offsets, const double *group, int nranks, int *owner);

/* ---- writing ---- */
/* Disk space: before HDF5 writes anything, rank 0 reserves the blocks it will need (fallocate, the file's
 * size unchanged) for the data about to be written plus the metadata HDF5 holds, with a margin. A full
 * disk is then found by that one call, agreed on by every rank and reported as one error, instead of
 * inside a collective HDF5 call (where HDF5 1.10 leaves the other ranks waiting, or crashes later in
 * MPI_Finalize). The space the failed temporary held is released before it is closed. */
typedef struct gr_writer {
    MPI_Comm comm;
    int rank, nranks;
    hid_t file;
    int fd;              /* rank 0: the temporary, for the space reservations; -1 elsewhere */
    char path[4096], tmp_path[GR_TMP_PATH_MAX];
    int64_t nrows_total, row_begin, nrows;  /* panel layout set by gr_writer_panel_layout */
} gr_writer;

/* Collective. Create a temporary file <path>.tmp.<pid>.<host> beside `path` (after removing stale ones of
 * dead processes of this host, cleanup.h), registered for removal on SIGTERM / SIGINT / SIGHUP; nothing
 * appears at `path` until commit. GR_EUSAGE when `path` is an input of this run (cleanup.h); on any
 * failure nothing is left open or on disk. */
int gr_writer_open(MPI_Comm comm, const char *path, gr_writer *w);
/* Collective. Write a replicated table as /<group>/<col> (+ labels). All ranks pass the same table. */
int gr_writer_table(gr_writer *w, const char *group, const gr_table *t);
/* Collective. Set the panel's size and this rank's block of rows (blocks in rank order, contiguous). */
int gr_writer_panel_layout(gr_writer *w, int64_t nrows_total, int64_t row_begin, int64_t nrows);
/* Collective. Write /panel/<name> from this rank's rows (chunked, deflate-compressed). */
int gr_writer_panel_int(gr_writer *w, const char *name, const int32_t *local);
int gr_writer_panel_double(gr_writer *w, const char *name, const double *local);
/* Collective. Labels of a string-coded panel column (all ranks pass the same). */
int gr_writer_labels(gr_writer *w, const char *group, const char *name, char **labels, int n);
/* Collective. /index/exporter_offsets (n_exporters+1 values, same on all ranks). */
int gr_writer_exporter_offsets(gr_writer *w, int n_exporters, const int64_t *offsets);
/* Collective. Root attributes (same value on all ranks). */
int gr_writer_attr_string(gr_writer *w, const char *name, const char *value);
int gr_writer_attr_double(gr_writer *w, const char *name, double value);
/* Collective. Flush, close and atomically rename the temporary file to `path`. On failure (a full disk at
 * the final flush) the temporary is closed and removed; nothing is left open for MPI_Finalize. */
int gr_writer_commit(gr_writer *w);
/* Collective. Close and remove the temporary file (after any failure); every HDF5 object is closed. */
void gr_writer_abort(gr_writer *w);

/* Collective. Write a copy of the panel file `src` to `dst` with replicated-table columns added (or
 * replaced): column c goes to /<groups[c]>/<names[c]> with n[c] values (int32 where is_int[c], NaN
 * written as -1, else float64). The copy is made as <dst>.tmp.<pid>.<host>, changed there and renamed to
 * dst; src is only read. GR_EUSAGE when dst is src (same path, realpath or inode) or another input of this
 * run. All ranks pass the same. */
int gr_file_copy_with_columns(MPI_Comm comm, const char *src, const char *dst, int ncols, const char *const *groups,
                              const char *const *names, const int64_t *n, const double *const *values,
                              const int *is_int);
/* Collective. Read one root attribute of an open panel (string or number, printed as text). */
int gr_panel_attr(gr_panel *p, const char *name, char *buf, size_t len);
#endif
