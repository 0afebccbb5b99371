/* panel.c: the panel file (format in docs/format.md): replicated tables, the exporter index,
 * the exporter-partitioned parallel reader, the collective writer and the copy of a panel with added
 * table columns. The reader never writes to the file: a derived column (derived.h: segment_<d>,
 * segpair_<d>, ntreated_<d>, same_<attr>_<d>) that a name refers to and the file does not store is
 * computed by derived.c and added to the in-memory cities / pairs tables (derive_missing). */
#define _GNU_SOURCE /* fallocate (FALLOC_FL_KEEP_SIZE), truncate */
#include "panel.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cleanup.h"
#include "derived.h"
#include "h5chunk.h"

#define CHUNK_ROWS 65536

/* ---------------- tables ---------------- */

int gr_table_find(const gr_table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->names[c], name)) return c;
    return -1;
}

static void free_labels(char **labels, int n)
{
    if (!labels) return;
    for (int k = 0; k < n; k++) free(labels[k]);
    free(labels);
}

int gr_table_add(gr_table *t, const char *name, double *values, int is_int, char **labels, int nlabels)
{
    int c = gr_table_find(t, name);
    if (c >= 0) {
        free(t->cols[c]);
        free_labels(t->labels[c], t->nlabels[c]);
    } else {
        c = t->ncols++;
        t->names = gr_realloc(t->names, t->ncols, sizeof *t->names);
        t->cols = gr_realloc(t->cols, t->ncols, sizeof *t->cols);
        t->is_int = gr_realloc(t->is_int, t->ncols, sizeof *t->is_int);
        t->labels = gr_realloc(t->labels, t->ncols, sizeof *t->labels);
        t->nlabels = gr_realloc(t->nlabels, t->ncols, sizeof *t->nlabels);
        t->names[c] = gr_strdup(name);
    }
    t->cols[c] = values;
    t->is_int[c] = is_int;
    t->labels[c] = labels;
    t->nlabels[c] = labels ? nlabels : 0;
    return c;
}

void gr_table_free(gr_table *t)
{
    for (int c = 0; c < t->ncols; c++) {
        free(t->names[c]);
        free(t->cols[c]);
        free_labels(t->labels[c], t->nlabels[c]);
    }
    free(t->names); free(t->cols); free(t->is_int); free(t->labels); free(t->nlabels);
    memset(t, 0, sizeof *t);
}

/* ---------------- HDF5 helpers ---------------- */

/* 1 if `file` is open through MPI-IO (its transfers are collective: every rank must call H5Dread). */
static int collective_file(hid_t file)
{
    hid_t fapl = H5Fget_access_plist(file);
    int mpio = fapl >= 0 && H5Pget_driver(fapl) == H5FD_MPIO;
    if (fapl >= 0) H5Pclose(fapl);
    return mpio;
}

/* Transfer properties for a read or write of `file`: collective where the file is open through MPI-IO
 * (every rank takes part), HDF5's defaults where it is open with the POSIX driver (panel_open on 1 rank). */
static hid_t collective_dxpl(hid_t file)
{
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (dxpl >= 0 && collective_file(file)) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    return dxpl;
}

static int link_exists(hid_t loc, const char *path)
{
    /* check each component so that a missing parent group is not an error */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; ; s++) {
        if (*s == '/' || *s == 0) {
            char save = *s;
            *s = 0;
            if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
            *s = save;
            if (!save) break;
        }
    }
    return 1;
}

/* Length of a 1-D dataset, -1 if it is not one. */
static int64_t dataset_length(hid_t d)
{
    hid_t s = H5Dget_space(d);
    if (s < 0) return -1;
    int nd = H5Sget_simple_extent_ndims(s);
    hsize_t dim = 0;
    if (nd == 1) H5Sget_simple_extent_dims(s, &dim, NULL);
    H5Sclose(s);
    return nd == 1 ? (int64_t)dim : -1;
}

/* Select rows [off, off+n) of the file space fs and return the matching memory space. A rank with
 * no rows selects nothing on both, as collective transfers require it to take part anyway. */
static hid_t select_block(hid_t fs, int64_t off, int64_t n)
{
    hsize_t start = (hsize_t)off, count = (hsize_t)(n > 0 ? n : 1);
    hid_t ms = H5Screate_simple(1, &count, NULL);
    if (n > 0) {
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    } else {
        H5Sselect_none(fs);
        H5Sselect_none(ms);
    }
    return ms;
}

/* Select this rank's rows (its blocks, in file order) of the file space fs and return the matching
 * memory space; nothing on both when it has none. */
static hid_t select_rows(hid_t fs, const gr_panel *p)
{
    if (p->nblocks == 0) return select_block(fs, 0, 0);
    for (int b = 0; b < p->nblocks; b++) {
        hsize_t start = (hsize_t)p->blk_begin[b], count = (hsize_t)p->blk_rows[b];
        if (H5Sselect_hyperslab(fs, b ? H5S_SELECT_OR : H5S_SELECT_SET, &start, NULL, &count, NULL) < 0) return -1;
    }
    hsize_t n = (hsize_t)p->nrows;
    return H5Screate_simple(1, &n, NULL);
}

/* Local. Read this rank's rows (its blocks, in file order) of dataset d into buf straight from the
 * chunks (h5chunk.h); 0 when H5Dread must do it. The file is open with the POSIX driver on every rank
 * (panel_open), so no rank waits for another. */
static int direct_rows(const gr_panel *p, hid_t d, hid_t memtype, void *buf)
{
    if (collective_file(p->file)) return 0;
    gr_h5chunk *r = gr_h5chunk_open(d, memtype);
    size_t size = H5Tget_size(memtype);
    int64_t at = 0;
    int ok = r != NULL;
    for (int b = 0; b < p->nblocks && ok; b++) {
        ok = gr_h5chunk_get(r, p->blk_begin[b], p->blk_rows[b], (char *)buf + at * (int64_t)size);
        at += p->blk_rows[b];
    }
    gr_h5chunk_close(r);
    return ok;
}

/* Collective. Read this rank's rows of the 1-D /panel dataset `path` into buf as memtype. */
static int read_rows(const gr_panel *p, const char *path, hid_t memtype, void *buf)
{
    int rc = GR_OK;
    hid_t d = H5Dopen2(p->file, path, H5P_DEFAULT);
    if (d < 0) return gr_fail(GR_EFORMAT, p->path, "cannot open dataset %s", path);
    if (direct_rows(p, d, memtype, buf)) {
        H5Dclose(d);
        return GR_OK;
    }
    hid_t fs = H5Dget_space(d), dxpl = collective_dxpl(p->file);
    hid_t ms = select_rows(fs, p);
    if (ms < 0 || H5Dread(d, memtype, ms, fs, dxpl, buf) < 0)
        rc = gr_fail(GR_EFORMAT, p->path, "cannot read dataset %s (wrong type?)", path);
    if (ms >= 0) H5Sclose(ms);
    H5Sclose(fs); H5Pclose(dxpl); H5Dclose(d);
    return rc;
}

/* Collective. Read rows [off, off+n) of 1-D dataset `path` into buf as memtype. */
static int read_block(hid_t file, const char *fname, const char *path, hid_t memtype, int64_t off, int64_t n,
                      void *buf)
{
    int rc = GR_OK;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return gr_fail(GR_EFORMAT, fname, "cannot open dataset %s", path);
    if (!collective_file(file) && gr_h5chunk_read(d, memtype, off, n, buf)) {
        H5Dclose(d);
        return GR_OK;
    }
    hid_t fs = H5Dget_space(d), dxpl = collective_dxpl(file);
    hid_t ms = select_block(fs, off, n);
    if (H5Dread(d, memtype, ms, fs, dxpl, buf) < 0)
        rc = gr_fail(GR_EFORMAT, fname, "cannot read dataset %s (wrong type?)", path);
    H5Sclose(ms); H5Sclose(fs); H5Pclose(dxpl); H5Dclose(d);
    return rc;
}

typedef struct { int n; char **names; } name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g; (void)info;
    name_list *l = data;
    l->names = gr_realloc(l->names, l->n + 1, sizeof *l->names);
    l->names[l->n++] = gr_strdup(name);
    return 0;
}

/* Names of the links in group `path` in creation order where tracked, else by name. */
static int list_group(hid_t file, const char *path, name_list *out)
{
    memset(out, 0, sizeof *out);
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    if (g < 0) return -1;
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_name, out) < 0) {
        for (int i = 0; i < out->n; i++) free(out->names[i]);
        free(out->names);
        memset(out, 0, sizeof *out);
        idx = 0;
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, out);
    }
    H5Gclose(g);
    return 0;
}

static void free_names(name_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
}

/* Collective. Read a fixed-length string dataset whole on every rank. */
static int read_strings(hid_t file, const char *fname, const char *path, char ***out, int *nout)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return gr_fail(GR_EFORMAT, fname, "cannot open %s", path);
    int64_t n = dataset_length(d);
    hid_t ft = H5Dget_type(d);
    int rc = GR_OK;
    if (n < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0) {
        rc = gr_fail(GR_EFORMAT, fname, "%s: expected a 1-D fixed-length string dataset", path);
    } else {
        size_t w = H5Tget_size(ft);
        char *buf = gr_calloc((size_t)n * w + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, w);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        H5Tset_cset(mt, H5Tget_cset(ft));
        hid_t dxpl = collective_dxpl(file);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, dxpl, buf) < 0) {
            rc = gr_fail(GR_EFORMAT, fname, "cannot read %s", path);
        } else {
            char **labels = gr_malloc((size_t)n, sizeof *labels);
            for (int64_t k = 0; k < n; k++) {
                labels[k] = gr_calloc(w + 1, 1);
                memcpy(labels[k], buf + k * w, w);
            }
            *out = labels;
            *nout = (int)n;
        }
        H5Pclose(dxpl); H5Tclose(mt); free(buf);
    }
    H5Tclose(ft); H5Dclose(d);
    return rc;
}

/* Local. values[k] = row ids[k] of the 1-D dataset d as doubles, for k < n: the ids are read in windows of
 * at most CHUNK_ROWS rows of the file, each from the first id not yet read to the last one within the window
 * (ids in increasing order, as local_pair_slots makes them, read each window once). */
static int read_at(hid_t d, const int32_t *ids, int64_t n, double *values)
{
    double *buf = gr_malloc(CHUNK_ROWS, sizeof *buf);
    hid_t fs = H5Dget_space(d);
    int rc = fs < 0 ? -1 : 0;
    for (int64_t k = 0; k < n && !rc;) {
        int64_t j = k + 1, top = ids[k];
        for (; j < n && ids[j] >= ids[k] && ids[j] - ids[k] < CHUNK_ROWS; j++)
            if (ids[j] > top) top = ids[j];
        hid_t ms = select_block(fs, ids[k], top - ids[k] + 1);
        if (ms < 0 || H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, buf) < 0) rc = -1;
        for (int64_t q = k; q < j && !rc; q++) values[q] = buf[ids[q] - ids[k]];
        if (ms >= 0) H5Sclose(ms);
        k = j;
    }
    if (fs >= 0) H5Sclose(fs);
    free(buf);
    return rc;
}

/* Read group /<group> as a table (missing group: empty table): every row, or with ids (local pairs) only
 * rows ids[0..nids) in that order; *file_rows (may be NULL) gets the rows the file's datasets have. */
static int read_table(hid_t file, const char *fname, const char *group, const int32_t *ids, int64_t nids,
                      gr_table *t, int64_t *file_rows)
{
    memset(t, 0, sizeof *t);
    if (file_rows) *file_rows = 0;
    char path[512];
    snprintf(path, sizeof path, "/%s", group);
    if (!link_exists(file, path)) return GR_OK;
    name_list names;
    if (list_group(file, path, &names) < 0) return gr_fail(GR_EFORMAT, fname, "cannot list group %s", path);
    int rc = GR_OK;
    int64_t len = 0;
    for (int c = 0; c < names.n && rc == GR_OK; c++) {
        snprintf(path, sizeof path, "/%s/%s", group, names.names[c]);
        hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
        if (d < 0) { rc = gr_fail(GR_EFORMAT, fname, "%s is not a dataset", path); break; }
        int64_t n = dataset_length(d);
        hid_t ft = H5Dget_type(d);
        H5T_class_t cls = H5Tget_class(ft);
        H5Tclose(ft);
        if (n < 0) rc = gr_fail(GR_EFORMAT, fname, "%s: expected a 1-D dataset", path);
        else if (cls != H5T_INTEGER && cls != H5T_FLOAT)
            rc = gr_fail(GR_EFORMAT, fname, "%s: expected a numeric dataset", path);
        else if (c > 0 && n != len)
            rc = gr_fail(GR_EFORMAT, fname, "%s has %lld rows, expected %lld like /%s/%s", path, (long long)n,
                         (long long)len, group, names.names[0]);
        len = n;
        int64_t m = ids ? nids : n;
        double *v = rc ? NULL : gr_malloc((size_t)(m > 0 ? m : 1), sizeof *v);
        if (!rc && ids) {
            for (int64_t k = 0; k < m && !rc; k++)
                if (ids[k] >= n) rc = gr_fail(GR_EFORMAT, fname, "%s: pair id %d out of range [0, %lld)", path, ids[k],
                                              (long long)n);
            if (!rc && read_at(d, ids, m, v) < 0)
                rc = gr_fail(GR_EFORMAT, fname, "cannot read dataset %s (wrong type?)", path);
        } else if (!rc) {
            rc = read_block(file, fname, path, H5T_NATIVE_DOUBLE, 0, n, v);
        }
        H5Dclose(d);
        if (rc) { free(v); break; }
        t->nrows = m;
        char **labels = NULL;
        int nl = 0;
        char lpath[600];
        snprintf(lpath, sizeof lpath, "/labels/%s/%s", group, names.names[c]);
        if (link_exists(file, lpath) && (rc = read_strings(file, fname, lpath, &labels, &nl)) != GR_OK) {
            free(v);
            break;
        }
        if (labels) /* string-coded column: code -1 stands for a missing value */
            for (int64_t i = 0; i < m; i++) if (v[i] < 0) v[i] = NAN;
        gr_table_add(t, names.names[c], v, cls == H5T_INTEGER, labels, nl);
    }
    free_names(&names);
    if (file_rows) *file_rows = len;
    return rc;
}

void gr_partition_exporters(int n_exporters, const int64_t *offsets, int rank, int nranks, int *begin, int *end)
{
    int64_t total = offsets[n_exporters];
    int b[2];
    for (int k = 0; k < 2; k++) {
        int r = rank + k;
        if (r == 0) { b[k] = 0; continue; }
        if (r >= nranks) { b[k] = n_exporters; continue; }
        int64_t target = (total * r + nranks - 1) / nranks;
        int e = 0;
        while (e < n_exporters && offsets[e] < target) e++;
        b[k] = e;
    }
    *begin = b[0];
    *end = b[1];
}

/* ascending, NaN last */
static int cmp_group(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x > y) - (x < y);
}

static int same_group(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

void gr_deal_exporters(int n_exporters, const int64_t *offsets, const double *group, int nranks, int *owner)
{
    size_t n = (size_t)(n_exporters ? n_exporters : 1);
    double *g = gr_malloc(n, sizeof *g);
    int *ids = gr_malloc(n, sizeof *ids);
    int64_t *co = gr_malloc(n + 1, sizeof *co);
    for (int e = 0; e < n_exporters; e++) g[e] = group ? group[e] : 0.0;
    qsort(g, (size_t)n_exporters, sizeof *g, cmp_group);
    for (int k = 0; k < n_exporters; k++) {
        if (k > 0 && same_group(g[k], g[k - 1])) continue;
        int m = 0;  /* the group's exporters in id order, and their cumulative rows */
        co[0] = 0;
        for (int e = 0; e < n_exporters; e++)
            if (same_group(group ? group[e] : 0.0, g[k])) {
                ids[m] = e;
                co[m + 1] = co[m] + (offsets[e + 1] - offsets[e]);
                m++;
            }
        for (int r = 0; r < nranks; r++) {  /* the contiguous rule within the group */
            int b, end;
            gr_partition_exporters(m, co, r, nranks, &b, &end);
            for (int i = b; i < end; i++) owner[ids[i]] = r;
        }
    }
    free(g); free(ids); free(co);
}

int64_t gr_panel_row(const gr_panel *p, int64_t i)
{
    for (int b = 0; b < p->nblocks; b++) {
        if (i < p->blk_rows[b]) return p->blk_begin[b] + i;
        i -= p->blk_rows[b];
    }
    return -1;
}

int gr_panel_owns_exporter(const gr_panel *p, int e)
{
    if (e < 0 || e >= p->n_exporters) return 0;
    return p->exp_owner ? p->exp_owner[e] == p->rank : (e >= p->exp_begin && e < p->exp_end);
}

/* Local. Append global rows [begin, begin + n) to this rank's blocks (merged with the last when adjacent). */
static void add_block(gr_panel *p, int64_t begin, int64_t n)
{
    if (n <= 0) return;
    if (p->nblocks > 0 && p->blk_begin[p->nblocks - 1] + p->blk_rows[p->nblocks - 1] == begin) {
        p->blk_rows[p->nblocks - 1] += n;
    } else {
        p->blk_begin = gr_realloc(p->blk_begin, (size_t)p->nblocks + 1, sizeof *p->blk_begin);
        p->blk_rows = gr_realloc(p->blk_rows, (size_t)p->nblocks + 1, sizeof *p->blk_rows);
        p->blk_begin[p->nblocks] = begin;
        p->blk_rows[p->nblocks++] = n;
    }
    p->nrows += n;
}

/* ---------------- reader ---------------- */

static int read_root_attr_string(hid_t file, const char *name, char *buf, size_t len)
{
    if (H5Aexists(file, name) <= 0) return -1;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int rc = -1;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0) {
        size_t w = H5Tget_size(t);
        char *tmp = gr_calloc(w + 2, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, w + 1);  /* room for a terminator when the file's string has none */
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (H5Aread(a, mt, tmp) >= 0) { snprintf(buf, len, "%s", tmp); rc = 0; }
        H5Tclose(mt);
        free(tmp);
    } else if (H5Tget_class(t) == H5T_INTEGER || H5Tget_class(t) == H5T_FLOAT) {
        double v;
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0) { snprintf(buf, len, "%.17g", v); rc = 0; }
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int gr_panel_attr(gr_panel *p, const char *name, char *buf, size_t len)
{
    if (read_root_attr_string(p->file, name, buf, len) < 0)
        return gr_fail(GR_EINPUT, p->path, "no attribute '%s'", name);
    return GR_OK;
}

/* The root attributes format and format_version. */
static int check_format(gr_panel *p)
{
    char fmt[128] = "", ver[64] = "";
    if (read_root_attr_string(p->file, "format", fmt, sizeof fmt) < 0 || strcmp(fmt, GR_FORMAT_NAME))
        return gr_fail(GR_EFORMAT, p->path, "not a gravrd panel (root attribute format='%s', expected '%s')", fmt,
                       GR_FORMAT_NAME);
    if (read_root_attr_string(p->file, "format_version", ver, sizeof ver) < 0 || atof(ver) != GR_FORMAT_VERSION)
        return gr_fail(GR_EFORMAT, p->path, "format_version '%s' not supported (expected %d)", ver,
                       GR_FORMAT_VERSION);
    return GR_OK;
}

/* The names of the /panel datasets (at least one) and the labels of those that have them. */
static int read_column_names(gr_panel *p)
{
    const char *fname = p->path;
    if (!link_exists(p->file, "/panel")) return gr_fail(GR_EFORMAT, fname, "missing group /panel");
    name_list names;
    list_group(p->file, "/panel", &names);
    p->ncols = names.n;
    p->colnames = names.names;
    if (p->ncols == 0) return gr_fail(GR_EFORMAT, fname, "/panel has no datasets");
    p->collabels = gr_calloc((size_t)p->ncols, sizeof *p->collabels);
    p->ncollabels = gr_calloc((size_t)p->ncols, sizeof *p->ncollabels);
    for (int c = 0; c < p->ncols; c++) {
        char lpath[600];
        snprintf(lpath, sizeof lpath, "/labels/panel/%s", p->colnames[c]);
        if (link_exists(p->file, lpath))
            GR_CALL(read_strings(p->file, fname, lpath, &p->collabels[c], &p->ncollabels[c]));
    }
    return GR_OK;
}

/* Every /panel column is a numeric 1-D dataset, all of one length: p->nrows_total (not 0). */
static int check_column_lengths(gr_panel *p)
{
    const char *fname = p->path;
    for (int c = 0; c < p->ncols; c++) {
        char path[512];
        snprintf(path, sizeof path, "/panel/%s", p->colnames[c]);
        hid_t d = H5Dopen2(p->file, path, H5P_DEFAULT);
        if (d < 0) return gr_fail(GR_EFORMAT, fname, "%s is not a dataset", path);
        int64_t n = dataset_length(d);
        hid_t ft = H5Dget_type(d);
        H5T_class_t cls = H5Tget_class(ft);
        H5Tclose(ft);
        H5Dclose(d);
        if (n < 0) return gr_fail(GR_EFORMAT, fname, "%s: expected a 1-D dataset", path);
        if (cls != H5T_INTEGER && cls != H5T_FLOAT)
            return gr_fail(GR_EFORMAT, fname, "%s: expected a numeric dataset", path);
        if (c == 0) p->nrows_total = n;
        else if (n != p->nrows_total)
            return gr_fail(GR_EFORMAT, fname, "%s has %lld rows, expected %lld", path, (long long)n,
                           (long long)p->nrows_total);
    }
    if (p->nrows_total == 0) return gr_fail(GR_EFORMAT, fname, "/panel has no rows");
    return GR_OK;
}

/* This rank's rows: whole exporters by /index/exporter_offsets (checked: from 0 to nrows_total, not
 * decreasing, one per city) when the file has it, else an even block. */
static int partition_rows(gr_panel *p, int balanced)
{
    const char *fname = p->path;
    if (!link_exists(p->file, "/index/exporter_offsets")) {
        p->row_begin = p->nrows_total * p->rank / p->nranks;
        add_block(p, p->row_begin, p->nrows_total * (p->rank + 1) / p->nranks - p->row_begin);
        return GR_OK;
    }
    hid_t d = H5Dopen2(p->file, "/index/exporter_offsets", H5P_DEFAULT);
    int64_t n = d >= 0 ? dataset_length(d) : -1;
    if (d >= 0) H5Dclose(d);
    if (n < 2) return gr_fail(GR_EFORMAT, fname, "/index/exporter_offsets: expected at least 2 entries");
    p->n_exporters = (int)(n - 1);
    p->exporter_offsets = gr_malloc((size_t)n, sizeof(int64_t));
    GR_CALL(read_block(p->file, fname, "/index/exporter_offsets", H5T_NATIVE_INT64, 0, n, p->exporter_offsets));
    if (p->exporter_offsets[0] != 0 || p->exporter_offsets[n - 1] != p->nrows_total)
        return gr_fail(GR_EFORMAT, fname, "/index/exporter_offsets must run from 0 to %lld rows",
                       (long long)p->nrows_total);
    for (int64_t e = 0; e + 1 < n; e++)
        if (p->exporter_offsets[e + 1] < p->exporter_offsets[e])
            return gr_fail(GR_EFORMAT, fname, "/index/exporter_offsets decreases at exporter %lld", (long long)e);
    if (p->cities.nrows > 0 && p->n_exporters != p->cities.nrows)
        return gr_fail(GR_EFORMAT, fname, "/index/exporter_offsets has %d exporters but /cities has %lld rows",
                       p->n_exporters, (long long)p->cities.nrows);
    if (balanced) {
        int rc = gr_table_find(&p->cities, "region");
        p->exp_owner = gr_malloc((size_t)p->n_exporters, sizeof *p->exp_owner);
        gr_deal_exporters(p->n_exporters, p->exporter_offsets, rc >= 0 ? p->cities.cols[rc] : NULL, p->nranks,
                          p->exp_owner);
        p->row_begin = -1;
        for (int e = 0; e < p->n_exporters; e++)
            if (p->exp_owner[e] == p->rank)
                add_block(p, p->exporter_offsets[e], p->exporter_offsets[e + 1] - p->exporter_offsets[e]);
        return GR_OK;
    }
    gr_partition_exporters(p->n_exporters, p->exporter_offsets, p->rank, p->nranks, &p->exp_begin, &p->exp_end);
    p->row_begin = p->exporter_offsets[p->exp_begin];
    add_block(p, p->row_begin, p->exporter_offsets[p->exp_end] - p->row_begin);
    return GR_OK;
}

/* Rows of the table /<group>: the length of its first dataset (0 without the group or a dataset). */
static int64_t table_rows(hid_t file, const char *group)
{
    char path[512];
    snprintf(path, sizeof path, "/%s", group);
    name_list names;
    if (!link_exists(file, path) || list_group(file, path, &names) < 0) return 0;
    int64_t n = 0;
    if (names.n > 0) {
        snprintf(path, sizeof path, "/%s/%s", group, names.names[0]);
        hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
        if (d >= 0) { n = dataset_length(d); H5Dclose(d); }
    }
    free_names(&names);
    return n > 0 ? n : 0;
}

/* Local. Turn the global pair ids of the local rows into local slots: p->pair_ids[s] is the global id of
 * slot s (increasing within each block of rows), p->pair[i] the slot of row i. Each block's ids are
 * marked in an array spanning that block's smallest to largest id (a block is whole exporters, so with
 * pairs stored by exporter about its own pairs), freed before the next block. */
static void local_pair_slots(gr_panel *p)
{
    int64_t first = 0, nslots = 0;
    p->pair_ids = gr_malloc_bound((size_t)(p->nrows > 0 ? p->nrows : 1), sizeof *p->pair_ids);  /* shrunk below */
    for (int b = 0; b < p->nblocks; first += p->blk_rows[b++]) {
        int32_t *id = p->pair + first, lo = INT32_MAX, hi = -1;
        int64_t n = p->blk_rows[b];
        for (int64_t i = 0; i < n; i++) {
            if (id[i] < lo) lo = id[i];
            if (id[i] > hi) hi = id[i];
        }
        if (n == 0) continue;
        int32_t *slot = gr_malloc((size_t)(hi - lo) + 1, sizeof *slot);
        for (int64_t g = 0; g <= (int64_t)hi - lo; g++) slot[g] = -1;
        for (int64_t i = 0; i < n; i++) slot[id[i] - lo] = 0;
        for (int64_t g = 0; g <= (int64_t)hi - lo; g++)
            if (slot[g] == 0) { p->pair_ids[nslots] = (int32_t)(lo + g); slot[g] = (int32_t)nslots++; }
        for (int64_t i = 0; i < n; i++) id[i] = slot[id[i] - lo];
        free(slot);
    }
    p->pair_ids = gr_realloc(p->pair_ids, (size_t)(nslots > 0 ? nslots : 1), sizeof *p->pair_ids);
    p->npairs_local = nslots;
}

/* The global pair id of local row i's pair. */
static int32_t global_pair(const gr_panel *p, int64_t i)
{
    return p->pair_ids ? p->pair_ids[p->pair[i]] : p->pair[i];
}

/* The pair ids of the local rows (a file with /pairs): in range, and of exporters this rank owns. With
 * `local` (gr_panel_open_balanced) p->pairs then holds only the pairs of the local rows (local_pair_slots),
 * else the whole table. */
static int read_local_pairs(gr_panel *p, int local)
{
    const char *fname = p->path;
    int pc = -1;
    for (int c = 0; c < p->ncols; c++)
        if (!strcmp(p->colnames[c], "pair")) pc = c;
    if (pc < 0) return gr_fail(GR_EFORMAT, fname, "file has a /pairs table but no /panel/pair");
    p->pair = gr_malloc((size_t)(p->nrows > 0 ? p->nrows : 1), sizeof *p->pair);
    GR_CALL(read_rows(p, "/panel/pair", H5T_NATIVE_INT32, p->pair));
    for (int64_t i = 0; i < p->nrows; i++)
        if (p->pair[i] < 0 || p->pair[i] >= p->pairs_total)
            return gr_fail(GR_EFORMAT, fname, "/panel/pair row %lld: id %d out of range [0, %lld)",
                           (long long)gr_panel_row(p, i), p->pair[i], (long long)p->pairs_total);
    if (local) {
        local_pair_slots(p);
        GR_CALL(read_table(p->file, fname, "pairs", p->pair_ids, p->npairs_local, &p->pairs, NULL));
    }
    int ie = gr_table_find(&p->pairs, "exporter");
    if (ie < 0 || p->n_exporters <= 0) return GR_OK;
    for (int64_t i = 0; i < p->nrows; i++) {
        if (i > 0 && p->pair[i] == p->pair[i - 1]) continue;  /* a pair's rows follow each other: checked */
        double ex = p->pairs.cols[ie][p->pair[i]];
        if ((ex >= 0 && ex < p->n_exporters) && gr_panel_owns_exporter(p, (int)ex)) continue;
        if (p->exp_owner)
            return gr_fail(GR_EFORMAT, fname,
                           "/panel row %lld: exporter %g is not one whose rows the index gives this rank "
                           "(rows not sorted by exporter?)",
                           (long long)gr_panel_row(p, i), ex);
        return gr_fail(GR_EFORMAT, fname,
                       "/panel row %lld: exporter %g outside the index range [%d, %d) (rows not sorted "
                       "by exporter?)",
                       (long long)gr_panel_row(p, i), ex, p->exp_begin, p->exp_end);
    }
    return GR_OK;
}

/* balanced: gr_deal_exporters' rule (else the contiguous one); local: only the pairs of the local rows. */
static int open_body(gr_panel *p, int balanced, int local)
{
    GR_CALL(check_format(p));
    GR_CALL(read_table(p->file, p->path, "cities", NULL, 0, &p->cities, NULL));
    if (!local) GR_CALL(read_table(p->file, p->path, "pairs", NULL, 0, &p->pairs, &p->pairs_total));
    else p->pairs_total = table_rows(p->file, "pairs");
    GR_CALL(read_column_names(p));
    GR_CALL(check_column_lengths(p));
    GR_CALL(partition_rows(p, balanced));
    if (p->pairs_total > 0) GR_CALL(read_local_pairs(p, local));
    return GR_OK;
}

/* Local (rank 0). The file at `path` exists, is a regular file this process may read, is not empty and
 * is HDF5: else the reason in the system's words ("no such file", "permission denied", "is a
 * directory"), so that HDF5's "not an HDF5 file" is said only of a readable file that is not one. */
static int check_panel_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return gr_fail(GR_EIO, path, "no such file");
        if (errno == EACCES) return gr_fail(GR_EIO, path, "permission denied");
        return gr_fail(GR_EIO, path, "cannot open: %s", strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) return gr_fail(GR_EIO, path, "not a regular file (it is a directory)");
    if (!S_ISREG(st.st_mode)) return gr_fail(GR_EIO, path, "not a regular file");
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == EACCES || errno == EPERM) return gr_fail(GR_EIO, path, "permission denied");
        return gr_fail(GR_EIO, path, "cannot open: %s", strerror(errno));
    }
    close(fd);
    if (st.st_size == 0) return gr_fail(GR_EFORMAT, path, "empty file (expected an HDF5 panel)");
    if (H5Fis_hdf5(path) <= 0) return gr_fail(GR_EFORMAT, path, "not an HDF5 file");
    return GR_OK;
}

static int panel_open(MPI_Comm comm, const char *path, gr_panel *p, int balanced, int local)
{
    memset(p, 0, sizeof *p);
    p->comm = comm;
    p->file = -1;
    p->icache_col = -1;
    MPI_Comm_rank(comm, &p->rank);
    MPI_Comm_size(comm, &p->nranks);
    snprintf(p->path, sizeof p->path, "%s", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    gr_input_add(path);  /* no output may overwrite it until gr_panel_close */
    p->is_input = 1;
    /* check on rank 0 first so that every rank takes the same path */
    int rc = gr_agree(comm, p->rank == 0 ? check_panel_file(path) : GR_OK);
    if (rc) {
        gr_panel_close(p);
        return rc;
    }
    /* every rank opens the file on its own (POSIX driver) and reads its rows and pairs independently:
     * ranks read different numbers of pieces (local pairs), and MPI-IO's start (its components, a lock
     * test file beside the input) buys nothing for reads (docs/scale.md, "Reading") */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_sec2(fapl) >= 0 && H5Pset_file_locking(fapl, 1, 1) >= 0)
        p->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (p->file < 0) rc = gr_fail(GR_EIO, path, "cannot open as HDF5");
    rc = gr_agree(comm, rc);
    if (!rc) rc = gr_agree(comm, open_body(p, balanced, local));
    if (rc) gr_panel_close(p);
    return rc;
}

int gr_panel_open(MPI_Comm comm, const char *path, gr_panel *p)
{
    return panel_open(comm, path, p, 0, 0);
}

int gr_panel_open_balanced(MPI_Comm comm, const char *path, gr_panel *p)
{
    return panel_open(comm, path, p, 1, 0);
}

int gr_panel_open_local(MPI_Comm comm, const char *path, gr_panel *p)
{
    return panel_open(comm, path, p, 1, 1);
}

void gr_panel_close(gr_panel *p)
{
    if (p->file >= 0) H5Fclose(p->file);
    if (p->is_input) gr_input_remove(p->path);
    p->is_input = 0;
    p->file = -1;
    gr_table_free(&p->cities);
    gr_table_free(&p->pairs);
    free(p->exporter_offsets);
    free(p->exp_owner); free(p->blk_begin); free(p->blk_rows);
    p->exp_owner = NULL; p->blk_begin = p->blk_rows = NULL; p->nblocks = 0;
    free(p->pair);
    free(p->pair_ids);
    p->pair_ids = NULL;
    free(p->icache);
    p->icache = NULL;
    p->icache_col = -1;
    for (int c = 0; c < p->ncols; c++) {
        free(p->colnames[c]);
        if (p->collabels) free_labels(p->collabels[c], p->ncollabels[c]);
    }
    free(p->colnames);
    free(p->collabels);
    free(p->ncollabels);
    p->collabels = NULL;
    p->ncollabels = NULL;
    p->exporter_offsets = NULL; p->pair = NULL; p->colnames = NULL; p->ncols = 0;
}

static int panel_col_index(const gr_panel *p, const char *name)
{
    for (int c = 0; c < p->ncols; c++)
        if (!strcmp(p->colnames[c], name)) return c;
    return -1;
}

/* Resolve exp_<c> / imp_<c>: side 0 exporter, 1 importer; returns city column index or -1. */
static int city_side_column(const gr_panel *p, const char *name, int *side)
{
    if (!p->pair || p->cities.nrows == 0) return -1;
    if (!strncmp(name, "exp_", 4)) *side = 0;
    else if (!strncmp(name, "imp_", 4)) *side = 1;
    else return -1;
    if (gr_table_find(&p->pairs, *side ? "importer" : "exporter") < 0) return -1;
    return gr_table_find(&p->cities, name + 4);
}

/* 1 if `name` is a derived column of the pairs table (derived.h: segpair_, ntreated_, same_, a median split
 * hi_/lo_): computed over all pairs (ntreated counts other exporters' pairs, a split takes the median of all). */
static int pair_derived(const char *name)
{
    gr_derived_name dn;
    gr_derived_split sp;
    int is_split = 0;
    if (gr_derived_parse(name, &dn) == GR_OK && dn.kind != GR_DERIVED_NONE) return dn.kind != GR_DERIVED_SEGMENT;
    return gr_derived_split_parse(name, name, &sp, &is_split) == GR_OK && is_split;
}

/* Local (local pairs). Derive pairs column `name` on the whole /pairs table, read for it and freed after,
 * and keep the values of the local pairs of every column it added (intermediate ones too, e.g. segpair_<d>
 * for ntreated_<d>): the same values as on the whole table. */
static int derive_on_all_pairs(gr_panel *p, const char *name)
{
    gr_table all;
    int rc = read_table(p->file, p->path, "pairs", NULL, 0, &all, NULL);
    if (!rc) rc = gr_derived_add(&p->cities, &all, "pairs", name, NULL, p->path);
    for (int c = 0; !rc && c < all.ncols; c++) {
        if (gr_table_find(&p->pairs, all.names[c]) >= 0) continue;
        int64_t m = p->npairs_local;
        double *v = gr_malloc((size_t)(m > 0 ? m : 1), sizeof *v);
        for (int64_t k = 0; k < m; k++) v[k] = all.cols[c][p->pair_ids[k]];
        gr_table_add(&p->pairs, all.names[c], v, all.is_int[c], all.labels[c], all.nlabels[c]);
        all.labels[c] = NULL;  /* now the local table's */
        all.nlabels[c] = 0;
    }
    gr_table_free(&all);
    return rc;
}

/* Local. When `name` (or, for exp_<c> / imp_<c>, the city column c) is a derived column that neither
 * /panel nor its table stores, compute it and add it to p->pairs / p->cities; every rank computes the
 * same values. GR_OK also for names that are not derived columns; else the error is recorded (GR_EINPUT,
 * naming the column) and the name stays unknown, so the caller's "unknown column" failure reports it. */
static int derive_missing(gr_panel *p, const char *name)
{
    if (!p->pair || p->pairs_total == 0 || p->cities.nrows == 0 || panel_col_index(p, name) >= 0) return GR_OK;
    if (gr_table_find(&p->pairs, name) >= 0) return GR_OK;
    int rc = p->pair_ids && pair_derived(name) ? derive_on_all_pairs(p, name)
                                               : gr_derived_add(&p->cities, &p->pairs, "pairs", name, NULL, p->path);
    if (!rc && (!strncmp(name, "exp_", 4) || !strncmp(name, "imp_", 4)))
        rc = gr_derived_add(&p->cities, &p->pairs, "cities", name + 4, name, p->path);
    return rc;
}

/* The month indicators of derived.h (december, cny_month, post_covid) when /panel does not store them:
 * from /panel/month and the root attribute first_month. */
static int is_time_column(const gr_panel *p, const char *name)
{
    return gr_derived_is_time(name) && panel_col_index(p, name) < 0 && panel_col_index(p, "month") >= 0;
}

static int time_column(gr_panel *p, const char *name, double *v)
{
    char first[64] = "", where[4200 + GR_NAME_MAX];
    snprintf(where, sizeof where, "%s: derived column '%s'", p->path, name);
    if (read_root_attr_string(p->file, "first_month", first, sizeof first) < 0)
        return gr_agree(p->comm, gr_fail(GR_EINPUT, where, "the file has no root attribute first_month (YYYY-MM "
                                         "of month 1)"));
    int rc = gr_panel_column_into(p, "month", v);
    if (!rc) rc = gr_agree(p->comm, gr_derived_time(name, first, where, p->nrows, v));
    return rc;
}

int gr_panel_has_column(gr_panel *p, const char *name)
{
    int side;
    derive_missing(p, name);
    return panel_col_index(p, name) >= 0 || (p->pair && gr_table_find(&p->pairs, name) >= 0) ||
           city_side_column(p, name, &side) >= 0 || is_time_column(p, name);
}

char **gr_panel_labels(const gr_panel *p, const char *name, int *nlabels)
{
    int c, side;
    *nlabels = 0;
    if ((c = panel_col_index(p, name)) >= 0) {
        *nlabels = p->collabels ? p->ncollabels[c] : 0;
        return p->collabels ? p->collabels[c] : NULL;
    }
    if (p->pair && (c = gr_table_find(&p->pairs, name)) >= 0) {
        *nlabels = p->pairs.nlabels[c];
        return p->pairs.labels[c];
    }
    if ((c = city_side_column(p, name, &side)) >= 0) {
        *nlabels = p->cities.nlabels[c];
        return p->cities.labels[c];
    }
    return NULL;
}

int gr_panel_column(gr_panel *p, const char *name, double **out)
{
    *out = NULL;
    double *v = gr_malloc((size_t)(p->nrows ? p->nrows : 1), sizeof *v);
    int rc = gr_panel_column_into(p, name, v);
    if (rc) { free(v); return rc; }
    *out = v;
    return GR_OK;
}

/* Local. An integer /panel column already in memory: /panel/pair (read at open) or the last one
 * gr_panel_column_int read; NULL otherwise. */
static const int32_t *held_int_column(gr_panel *p, int c)
{
    if (c < 0) return NULL;
    if (p->pair && !strcmp(p->colnames[c], "pair") && !(p->collabels && p->collabels[c])) {
        if (!p->icache || p->icache_col != c) {  /* global ids, kept like a column read */
            free(p->icache);
            p->icache = gr_malloc((size_t)(p->nrows > 0 ? p->nrows : 1), sizeof *p->icache);
            for (int64_t i = 0; i < p->nrows; i++) p->icache[i] = global_pair(p, i);
            p->icache_col = c;
        }
    }
    return c == p->icache_col ? p->icache : NULL;
}

int gr_panel_column_into(gr_panel *p, const char *name, double *v)
{
    int c, side;
    const int32_t *held;
    if (derive_missing(p, name)) return GR_EINPUT;
    if ((held = held_int_column(p, panel_col_index(p, name))) != NULL) {
        int labelled = p->collabels && p->collabels[panel_col_index(p, name)];
        for (int64_t i = 0; i < p->nrows; i++) v[i] = labelled && held[i] < 0 ? NAN : (double)held[i];
    } else if ((c = panel_col_index(p, name)) >= 0) {
        char path[512];
        snprintf(path, sizeof path, "/panel/%s", name);
        double t0 = gr_now();
        int rc = read_rows(p, path, H5T_NATIVE_DOUBLE, v);
        rc = gr_agree(p->comm, rc);
        p->t_read += gr_now() - t0;
        if (rc) return rc;
        if (p->collabels && p->collabels[c]) /* string-coded column: code -1 stands for a missing value */
            for (int64_t i = 0; i < p->nrows; i++) if (v[i] < 0) v[i] = NAN;
    } else if (p->pair && (c = gr_table_find(&p->pairs, name)) >= 0) {
        const double *col = p->pairs.cols[c];
        for (int64_t i = 0; i < p->nrows; i++) v[i] = col[p->pair[i]];
    } else if ((c = city_side_column(p, name, &side)) >= 0) {
        const double *who = p->pairs.cols[gr_table_find(&p->pairs, side ? "importer" : "exporter")];
        const double *col = p->cities.cols[c];
        int64_t nc = p->cities.nrows;
        for (int64_t i = 0; i < p->nrows; i++) {
            double id = who[p->pair[i]];
            v[i] = (id >= 0 && id < nc) ? col[(int64_t)id] : NAN;
        }
    } else if (is_time_column(p, name)) {
        return time_column(p, name, v);
    } else {
        return gr_fail(GR_EINPUT, p->path, "unknown column '%s'", name);
    }
    return GR_OK;
}

int gr_panel_column_int(gr_panel *p, const char *name, int32_t **out)
{
    *out = NULL;
    int c = panel_col_index(p, name);
    if (c < 0) return GR_OK;
    const int32_t *held = held_int_column(p, c);
    if (held) {
        *out = gr_malloc((size_t)(p->nrows > 0 ? p->nrows : 1), sizeof **out);
        memcpy(*out, held, (size_t)p->nrows * sizeof **out);
        return GR_OK;
    }
    char path[512];
    snprintf(path, sizeof path, "/panel/%s", name);
    hid_t d = H5Dopen2(p->file, path, H5P_DEFAULT);
    if (d < 0) return gr_agree(p->comm, gr_fail(GR_EFORMAT, p->path, "cannot open dataset %s", path));
    hid_t t = H5Dget_type(d);
    int is_int = t >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) <= 4;
    if (t >= 0) H5Tclose(t);
    H5Dclose(d);
    if (!is_int) return GR_OK;  /* the same on every rank: the file's metadata */
    int32_t *v = gr_malloc((size_t)(p->nrows ? p->nrows : 1), sizeof *v);
    double t0 = gr_now();
    int rc = gr_agree(p->comm, read_rows(p, path, H5T_NATIVE_INT32, v));
    p->t_read += gr_now() - t0;
    if (rc) { free(v); return rc; }
    *out = v;
    free(p->icache);  /* kept: two fixed effects often share a column (exporter^month + importer^month) */
    p->icache = gr_malloc((size_t)(p->nrows > 0 ? p->nrows : 1), sizeof *p->icache);
    memcpy(p->icache, v, (size_t)p->nrows * sizeof *v);
    p->icache_col = c;
    return GR_OK;
}

void gr_panel_drop_cache(gr_panel *p)
{
    free(p->icache);
    p->icache = NULL;
    p->icache_col = -1;
}

int gr_panel_pair_level(gr_panel *p, const char *name)
{
    int side;
    if (!p->pair || p->pairs_total == 0) return 0;
    derive_missing(p, name);
    return !strcmp(name, "pair") || gr_table_find(&p->pairs, name) >= 0 || city_side_column(p, name, &side) >= 0;
}

int gr_panel_pair_values(gr_panel *p, const char *name, double **out)
{
    *out = NULL;
    if (!gr_panel_pair_level(p, name))
        return gr_fail(GR_EINPUT, p->path, "column '%s' is not a pair-level column", name);
    int64_t m = p->pairs.nrows;
    double *v = gr_malloc((size_t)m, sizeof *v);
    int c, side;
    if ((c = gr_table_find(&p->pairs, name)) >= 0) {
        memcpy(v, p->pairs.cols[c], (size_t)m * sizeof *v);
    } else if ((c = city_side_column(p, name, &side)) >= 0) {
        const double *who = p->pairs.cols[gr_table_find(&p->pairs, side ? "importer" : "exporter")];
        const double *col = p->cities.cols[c];
        int64_t nc = p->cities.nrows;
        for (int64_t g = 0; g < m; g++) v[g] = (who[g] >= 0 && who[g] < nc) ? col[(int64_t)who[g]] : NAN;
    } else {  /* pair: the pair id itself */
        for (int64_t g = 0; g < m; g++) v[g] = p->pair_ids ? (double)p->pair_ids[g] : (double)g;
    }
    *out = v;
    return GR_OK;
}

/* ---------------- writer ---------------- */

/* Local. The innermost message of HDF5's current error stack (for a failed write, the MPI-IO layer's
 * reason where HDF5 passes it on) into buf (256 bytes); "" when there is none. */
static herr_t innermost_error(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
    return 0;
}

static const char *h5_reason(char *buf)
{
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_error, buf);
    const char *s = strstr(buf, "MPI error string is '");
    if (s) {  /* "MPI_File_write_at failed: MPI error string is 'X'": keep X */
        memmove(buf, s + 21, strlen(s + 21) + 1);
        char *q = strrchr(buf, '\'');
        if (q) *q = 0;
    }
    return buf;
}

#define RESERVE_MARGIN (64 << 10) /* bytes reserved beyond each estimate (metadata not yet allocated) */

/* Local, rank 0 (w->fd open). Reserve the disk blocks of the temporary's current size + `more` + (the
 * metadata HDF5 holds in memory) + RESERVE_MARGIN bytes without changing its size. GR_EIO with the
 * system's reason (ENOSPC: "No space left on device") when the disk cannot hold them; GR_OK also where
 * the file system cannot reserve (the writes then meet a full disk inside HDF5). */
static int reserve_space(gr_writer *w, int64_t more)
{
    struct stat st;
    if (w->fd < 0 || fstat(w->fd, &st) != 0) return GR_OK;
    size_t mdc = 0;
    if (w->file >= 0 && H5Fget_mdc_size(w->file, NULL, NULL, &mdc, NULL) < 0) mdc = 0;
    off_t len = st.st_size + (off_t)more + (off_t)mdc + RESERVE_MARGIN;
#ifdef FALLOC_FL_KEEP_SIZE
    if (fallocate(w->fd, FALLOC_FL_KEEP_SIZE, 0, len) != 0 && errno != EOPNOTSUPP && errno != ENOSYS)
        return gr_fail(GR_EIO, w->path, "cannot write %s: %s", w->tmp_path, strerror(errno));
#else
    (void)len;
#endif
    return GR_OK;
}

/* Collective. reserve_space on rank 0, agreed: every rank stops before HDF5 when the disk is full. */
static int writer_reserve(gr_writer *w, int64_t more)
{
    return gr_agree(w->comm, w->rank == 0 ? reserve_space(w, more) : GR_OK);
}

/* Local, rank 0. Check that the target is no input being read and not a directory, device or FIFO (the
 * rename would replace it), remove stale temporaries, create the
 * temporary (so that a missing or read-only directory is reported with the system's reason before HDF5
 * takes over) and check that the disk has room for a start (reserve_space). Keeps the file open in w->fd. */
static int writer_precreate(gr_writer *w)
{
    GR_CALL(gr_refuse_input(w->path, NULL));
    struct stat st;
    if (stat(w->path, &st) == 0 && S_ISDIR(st.st_mode)) return gr_fail(GR_EIO, w->path, "is a directory");
    if (stat(w->path, &st) == 0 && !S_ISREG(st.st_mode)) /* a device such as /dev/full, a FIFO: never replaced */
        return gr_fail(GR_EIO, w->path, "not a regular file: a panel is written to a file, renamed into place");
    gr_tmp_sweep(w->path);
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (w->fd < 0) return gr_fail(GR_EIO, w->path, "cannot create %s: %s", w->tmp_path, strerror(errno));
    return reserve_space(w, 0);
}

/* Local. The file Open MPI's MPI-IO (OMPIO's sharedfp/lockedfile component) creates and unlinks beside a
 * file it opens, on each rank: <temporary>.locktest.<rank>. main.c excludes that component unless the user
 * asks for it (OMPI_MCA_sharedfp); if it runs, a signal between the two would leave the file, so it is
 * registered for removal with the temporary (it matches <path>.tmp.*, and the stale sweep knows it too). */
static int lock_test_name(const gr_writer *w, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s.locktest.%d", w->tmp_path, w->rank);
    return n < 0 || (size_t)n >= len ? gr_fail(GR_EIO, w->path, "path too long for its temporary name") : GR_OK;
}

/* Local. Forget the temporary and its lock-test file (gr_cleanup_remove: no longer removed on a signal). */
static void writer_forget(const gr_writer *w)
{
    char lock[GR_TMP_PATH_MAX];
    if (lock_test_name(w, lock, sizeof lock) == GR_OK) gr_cleanup_remove(lock);
    gr_cleanup_remove(w->tmp_path);
}

/* Collective. Fill w for writing `path` through the temporary <path>.tmp.<pid>.<host> of rank 0, which
 * every rank registers for removal on a signal and rank 0 creates (writer_precreate). On failure nothing
 * is left. */
static int writer_init(MPI_Comm comm, const char *path, gr_writer *w)
{
    memset(w, 0, sizeof *w);
    w->comm = comm;
    w->file = -1;
    w->fd = -1;
    MPI_Comm_rank(comm, &w->rank);
    MPI_Comm_size(comm, &w->nranks);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(w->path, sizeof w->path, "%s", path);
    int rc = GR_OK;
    if (w->rank == 0) rc = gr_tmp_name(path, (long)getpid(), w->tmp_path, sizeof w->tmp_path);
    MPI_Bcast(w->tmp_path, (int)sizeof w->tmp_path, MPI_CHAR, 0, comm); /* a fixed GR_TMP_PATH_MAX bytes */
    if (!rc) rc = gr_cleanup_add(w->tmp_path);
    char lock[GR_TMP_PATH_MAX];
    if (!rc) rc = lock_test_name(w, lock, sizeof lock);
    if (!rc) rc = gr_cleanup_add(lock);
    if (!rc && w->rank == 0) rc = writer_precreate(w);
    rc = gr_agree(comm, rc);
    if (rc) {
        if (w->fd >= 0) close(w->fd);
        w->fd = -1;
        if (w->rank == 0) unlink(w->tmp_path);
        writer_forget(w);
        w->tmp_path[0] = 0;
    }
    return rc;
}

/* Collective. Close the file (if open) and remove the temporary. HDF5 1.10 frees a file whose close fails
 * (the final metadata flush, on a full disk) but keeps its id, and MPI_Finalize then crashes closing
 * that id again; truncating the doomed temporary first gives the flush room, so the close succeeds. */
static void writer_discard(gr_writer *w)
{
    int open_here = w->file >= 0, open_any = 0;
    MPI_Allreduce(&open_here, &open_any, 1, MPI_INT, MPI_MAX, w->comm);
    if (open_any) {
        if (w->rank == 0 && truncate(w->tmp_path, 0) != 0) { /* best effort: the close may still succeed */ }
        MPI_Barrier(w->comm);
        if (open_here) H5Fclose(w->file);
        w->file = -1;
        MPI_Barrier(w->comm);
    }
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    if (w->rank == 0 && w->tmp_path[0]) unlink(w->tmp_path);
    writer_forget(w);
}

int gr_writer_open(MPI_Comm comm, const char *path, gr_writer *w)
{
    GR_CALL(writer_init(comm, path, w));
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    int rc = GR_OK;
    if (fapl < 0 || fcpl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
        H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
        rc = gr_fail(GR_EIO, path, "cannot set up the HDF5 property lists");
    if (!rc) w->file = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    char why[256];
    if (!rc && w->file < 0) rc = gr_fail(GR_EIO, path, "cannot create %s: %s", w->tmp_path, h5_reason(why));
    rc = gr_agree(comm, rc);
    if (!rc) rc = writer_reserve(w, 0); /* H5Fcreate truncated the file: the first reservation is gone */
    if (!rc) rc = gr_writer_attr_string(w, "format", GR_FORMAT_NAME);
    if (!rc) rc = gr_writer_attr_double(w, "format_version", GR_FORMAT_VERSION);
    if (rc) writer_discard(w);
    return rc;
}

/* Open or create group `path` (one level below root, or /labels/<g>); -1 on failure, nothing left open. */
static hid_t ensure_group(hid_t file, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    hid_t g = -1;
    for (char *s = buf + 1; ; s++) {
        if (*s == '/' || *s == 0) {
            char save = *s;
            *s = 0;
            if (g >= 0) H5Gclose(g);
            htri_t there = H5Lexists(file, buf, H5P_DEFAULT);
            if (there > 0) {
                g = H5Gopen2(file, buf, H5P_DEFAULT);
            } else if (there == 0) {
                hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
                if (gcpl >= 0 && H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0)
                    g = H5Gcreate2(file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
                else
                    g = -1;
                if (gcpl >= 0) H5Pclose(gcpl);
            } else {
                g = -1;
            }
            if (g < 0) return -1;
            *s = save;
            if (!save) break;
        }
    }
    return g;
}

/* The dataset creation list of write_block: chunked and compressed for panel columns. -1 on failure. */
static hid_t block_dcpl(int64_t ntotal, int chunked)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0) return -1;
    int bad = 0;
    if (chunked && ntotal > 0) {
        hsize_t chunk = ntotal < CHUNK_ROWS ? (hsize_t)ntotal : CHUNK_ROWS;
        bad |= H5Pset_chunk(dcpl, 1, &chunk) < 0 || H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 1) < 0;
    }
    bad |= H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0;
    if (bad) {
        H5Pclose(dcpl);
        return -1;
    }
    return dcpl;
}

/* Collective. Create 1-D dataset `path` of ntotal rows and write [off, off+n) from buf. Every object it
 * opens is closed before it returns, on success and on failure alike. */
static int write_block(gr_writer *w, hid_t file, const char *path, hid_t filetype, hid_t memtype, int64_t ntotal,
                       int64_t off, int64_t n, const void *buf, int chunked)
{
    char gpath[512], why[256];
    GR_CALL(writer_reserve(w, ntotal * (int64_t)H5Tget_size(filetype)));
    snprintf(gpath, sizeof gpath, "%s", path);
    char *slash = strrchr(gpath, '/');
    *slash = 0;
    hid_t g = ensure_group(file, gpath);
    if (g < 0) return gr_fail(GR_EIO, w->path, "cannot create group %s: %s", gpath, h5_reason(why));
    hsize_t dim = (hsize_t)ntotal;
    hid_t fs = H5Screate_simple(1, &dim, NULL), dcpl = block_dcpl(ntotal, chunked), d = -1;
    int rc = GR_OK;
    if (fs < 0 || dcpl < 0) rc = gr_fail(GR_EIO, w->path, "cannot set up dataset %s", path);
    if (!rc && H5Lexists(g, slash + 1, H5P_DEFAULT) > 0 && H5Ldelete(g, slash + 1, H5P_DEFAULT) < 0)
        rc = gr_fail(GR_EIO, w->path, "cannot replace dataset %s: %s", path, h5_reason(why));
    if (!rc && (d = H5Dcreate2(g, slash + 1, filetype, fs, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
        rc = gr_fail(GR_EIO, w->path, "cannot create dataset %s: %s", path, h5_reason(why));
    if (!rc) {
        hid_t dxpl = collective_dxpl(file), ms = select_block(fs, off, n);
        if (dxpl < 0 || ms < 0) rc = gr_fail(GR_EIO, w->path, "cannot set up the write of %s", path);
        else if (H5Dwrite(d, memtype, ms, fs, dxpl, buf) < 0)
            rc = gr_fail(GR_EIO, w->path, "cannot write %s: %s", path, h5_reason(why));
        if (ms >= 0) H5Sclose(ms);
        if (dxpl >= 0) H5Pclose(dxpl);
    }
    if (d >= 0 && H5Dclose(d) < 0 && !rc)
        rc = gr_fail(GR_EIO, w->path, "cannot close dataset %s: %s", path, h5_reason(why));
    if (dcpl >= 0) H5Pclose(dcpl);
    if (fs >= 0) H5Sclose(fs);
    H5Gclose(g);
    return rc;
}

static int write_strings(gr_writer *w, hid_t file, const char *path, char **labels, int n)
{
    size_t width = 1;
    for (int k = 0; k < n; k++) {
        size_t l = strlen(labels[k]);
        if (l > width) width = l;
    }
    char *buf = gr_calloc((size_t)(n ? n : 1) * width, 1);
    for (int k = 0; k < n; k++) memcpy(buf + (size_t)k * width, labels[k], strlen(labels[k]));
    hid_t st = H5Tcopy(H5T_C_S1);
    int rc;
    if (st < 0 || H5Tset_size(st, width) < 0 || H5Tset_strpad(st, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(st, H5T_CSET_UTF8) < 0)
        rc = gr_fail(GR_EIO, w->path, "cannot set up the string type of %s", path);
    else
        rc = write_block(w, file, path, st, st, n, 0, w->rank == 0 ? n : 0, buf, 0);
    if (st >= 0) H5Tclose(st);
    free(buf);
    return rc;
}

int gr_writer_labels(gr_writer *w, const char *group, const char *name, char **labels, int n)
{
    char path[512];
    snprintf(path, sizeof path, "/labels/%s/%s", group, name);
    return gr_agree(w->comm, write_strings(w, w->file, path, labels, n));
}

static int write_table_column(gr_writer *w, hid_t file, const char *group, const char *name, int64_t n,
                              const double *v, int is_int)
{
    char path[512];
    snprintf(path, sizeof path, "/%s/%s", group, name);
    int64_t mine = w->rank == 0 ? n : 0;
    if (!is_int)
        return write_block(w, file, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, 0, mine, v, 0);
    int32_t *iv = gr_malloc((size_t)(n ? n : 1), sizeof *iv);
    for (int64_t i = 0; i < n; i++) iv[i] = isnan(v[i]) ? -1 : (int32_t)v[i];
    int rc = write_block(w, file, path, H5T_STD_I32LE, H5T_NATIVE_INT32, n, 0, mine, iv, 0);
    free(iv);
    return rc;
}

int gr_writer_table(gr_writer *w, const char *group, const gr_table *t)
{
    int rc = GR_OK;
    for (int c = 0; c < t->ncols && rc == GR_OK; c++) {
        rc = write_table_column(w, w->file, group, t->names[c], t->nrows, t->cols[c], t->is_int[c]);
        if (!rc && t->labels[c]) {
            char path[512];
            snprintf(path, sizeof path, "/labels/%s/%s", group, t->names[c]);
            rc = write_strings(w, w->file, path, t->labels[c], t->nlabels[c]);
        }
        rc = gr_agree(w->comm, rc);  /* every rank writes every column collectively: stop together */
    }
    return rc;
}

int gr_writer_panel_layout(gr_writer *w, int64_t nrows_total, int64_t row_begin, int64_t nrows)
{
    w->nrows_total = nrows_total;
    w->row_begin = row_begin;
    w->nrows = nrows;
    /* blocks must tile [0, total) in rank order */
    int64_t end = row_begin + nrows, prev_end = 0;
    MPI_Exscan(&end, &prev_end, 1, MPI_INT64_T, MPI_MAX, w->comm);
    if (w->rank == 0) prev_end = 0;
    int rc = GR_OK;
    if (nrows > 0 && row_begin != prev_end)
        rc = gr_fail(GR_EINPUT, w->path, "rank %d writes rows from %lld, expected %lld", w->rank,
                     (long long)row_begin, (long long)prev_end);
    return gr_agree(w->comm, rc);
}

int gr_writer_panel_int(gr_writer *w, const char *name, const int32_t *local)
{
    char path[512];
    snprintf(path, sizeof path, "/panel/%s", name);
    return gr_agree(w->comm, write_block(w, w->file, path, H5T_STD_I32LE, H5T_NATIVE_INT32, w->nrows_total,
                                         w->row_begin, w->nrows, local, 1));
}

int gr_writer_panel_double(gr_writer *w, const char *name, const double *local)
{
    char path[512];
    snprintf(path, sizeof path, "/panel/%s", name);
    return gr_agree(w->comm, write_block(w, w->file, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, w->nrows_total,
                                         w->row_begin, w->nrows, local, 1));
}

int gr_writer_exporter_offsets(gr_writer *w, int n_exporters, const int64_t *offsets)
{
    return gr_agree(w->comm, write_block(w, w->file, "/index/exporter_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64,
                                         n_exporters + 1, 0, w->rank == 0 ? n_exporters + 1 : 0, offsets, 0));
}

static int write_attr(gr_writer *w, const char *name, hid_t type, const void *value)
{
    char why[256];
    if (H5Aexists(w->file, name) > 0 && H5Adelete(w->file, name) < 0)
        return gr_fail(GR_EIO, w->path, "cannot replace attribute %s: %s", name, h5_reason(why));
    hid_t s = H5Screate(H5S_SCALAR);
    if (s < 0) return gr_fail(GR_EIO, w->path, "cannot set up attribute %s", name);
    hid_t a = H5Acreate2(w->file, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a < 0 || H5Awrite(a, type, value) < 0)
                 ? gr_fail(GR_EIO, w->path, "cannot write attribute %s: %s", name, h5_reason(why)) : GR_OK;
    if (a >= 0 && H5Aclose(a) < 0 && !rc) rc = gr_fail(GR_EIO, w->path, "cannot close attribute %s", name);
    H5Sclose(s);
    return rc;
}

int gr_writer_attr_string(gr_writer *w, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = (t < 0 || H5Tset_size(t, strlen(value) + 1) < 0)
                 ? gr_fail(GR_EIO, w->path, "cannot set up the type of attribute %s", name)
                 : write_attr(w, name, t, value);
    if (t >= 0) H5Tclose(t);
    return gr_agree(w->comm, rc);
}

int gr_writer_attr_double(gr_writer *w, const char *name, double value)
{
    return gr_agree(w->comm, write_attr(w, name, H5T_NATIVE_DOUBLE, &value));
}

int gr_writer_commit(gr_writer *w)
{
    /* Flush first: a flush that fails (disk full) leaves the file open and whole, and the discard can
     * then close it; a close that fails could not be undone (writer_discard). */
    char why[256];
    int rc = writer_reserve(w, 0);
    if (!rc)
        rc = H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0
                 ? gr_fail(GR_EIO, w->path, "cannot write %s: %s", w->tmp_path, h5_reason(why)) : GR_OK;
    rc = gr_agree(w->comm, rc);
    if (rc) {
        writer_discard(w);
        return rc;
    }
    rc = H5Fclose(w->file) < 0 ? gr_fail(GR_EIO, w->path, "cannot close %s: %s", w->tmp_path, h5_reason(why)) : GR_OK;
    w->file = -1;
    if (w->fd >= 0) { /* give back the reserved blocks beyond the end (truncating to the same size does) */
        struct stat st;
        if (!rc && fstat(w->fd, &st) == 0 && ftruncate(w->fd, st.st_size) != 0) { /* only space is lost */ }
        close(w->fd);
        w->fd = -1;
    }
    rc = gr_agree(w->comm, rc);
    if (!rc && w->rank == 0 && rename(w->tmp_path, w->path) != 0)
        rc = gr_fail(GR_EIO, w->path, "cannot rename %s into place: %s", w->tmp_path, strerror(errno));
    rc = gr_agree(w->comm, rc);
    if (rc && w->rank == 0) unlink(w->tmp_path);
    writer_forget(w);
    return rc;
}

void gr_writer_abort(gr_writer *w)
{
    writer_discard(w);
}

/* ---------------- copy of a panel with added table columns ---------------- */

/* Local. Copy the file `from` to `to` (created), the temporary of `target`; GR_EIO naming `from` or `target`
 * with the system's reason on any failure. */
static int copy_file(const char *from, const char *to, const char *target)
{
    FILE *in = fopen(from, "rb");
    if (!in) return gr_fail(GR_EIO, from, "cannot open for copying: %s", strerror(errno));
    FILE *out = fopen(to, "wb");
    if (!out) {
        int rc = gr_fail(GR_EIO, target, "cannot create %s: %s", to, strerror(errno));
        fclose(in);
        return rc;
    }
    char buf[1 << 16];
    size_t n;
    int rc = GR_OK;
    while (rc == GR_OK && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = gr_fail(GR_EIO, target, "cannot write %s: %s", to, strerror(errno));
    if (!rc && ferror(in)) rc = gr_fail(GR_EIO, from, "read failed: %s", strerror(errno));
    fclose(in);
    if (!rc && fflush(out) != 0) rc = gr_fail(GR_EIO, target, "cannot write %s: %s", to, strerror(errno));
    if (fclose(out) != 0 && !rc) rc = gr_fail(GR_EIO, target, "cannot write %s: %s", to, strerror(errno));
    return rc;
}

int gr_file_copy_with_columns(MPI_Comm comm, const char *src, const char *dst, int ncols, const char *const *groups,
                              const char *const *names, const int64_t *n, const double *const *values,
                              const int *is_int)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    int rc = rank == 0 && gr_same_file(src, dst)
                 ? gr_fail(GR_EUSAGE, dst, "--out must not be the input panel (%s)", src) : GR_OK;
    GR_CALL(gr_agree(comm, rc));
    gr_writer w;
    GR_CALL(writer_init(comm, dst, &w));
    rc = rank == 0 ? copy_file(src, w.tmp_path, dst) : GR_OK;
    rc = gr_agree(comm, rc);
    if (!rc) {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        if (fapl >= 0 && H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) >= 0)
            w.file = H5Fopen(w.tmp_path, H5F_ACC_RDWR, fapl);
        if (fapl >= 0) H5Pclose(fapl);
        char why[256];
        rc = gr_agree(comm, w.file < 0 ? gr_fail(GR_EIO, dst, "cannot open the copy %s for writing: %s", w.tmp_path,
                                                 h5_reason(why)) : GR_OK);
    }
    for (int c = 0; c < ncols && !rc; c++)
        rc = gr_agree(comm, write_table_column(&w, w.file, groups[c], names[c], n[c], values[c], is_int[c]));
    if (rc) {
        writer_discard(&w);
        return rc;
    }
    return gr_writer_commit(&w);
}
