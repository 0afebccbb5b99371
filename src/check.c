/* check.c: `gravrd check`: validate a panel file collectively (docs/format.md, "Validity").
 * gr_panel_open does the structural checks (format name/version, table lengths, offsets shape, pair ids in
 * range, exporter within the rank's block); check adds dataset types, required datasets, id and label-code
 * ranges, exact exporter/offset agreement row by row and row-key uniqueness, each rank on its own block.
 * HDF5 metadata calls are made identically on every rank (the file is opened with collective metadata). */
#include "cleanup.h"
#include "commands.h"
#include "gr.h"
#include "opts.h"
#include "panel.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY 8

typedef struct {
    const char *type; /* "int32", "float64", ... */
    int nlabels;      /* -1: no label table */
    int64_t missing;
} colinfo;

typedef struct {
    const char *path;
    int quiet;
} check_opts;

static const gr_opt check_table[] = {
    {.name = "file", .kind = GR_OPT_ARG, GR_OPT_AT(check_opts, path), .metavar = "FILE.h5",
     .help = "the panel file", .flags = GR_OPT_REQUIRED},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(check_opts, quiet), .help = "no warnings"},
    {0}};

static const gr_opts_cmd check_cmd = {
    "check",
    "Validate a gravrd panel file; print a summary (format, cities, pairs, rows, columns with type and\n"
    "missing count) or the first problem found as one error line and exit non-zero.",
    check_table, NULL, 0};

/* Same on every rank: type name of dataset `path`, and its length (-1 if not 1-D). */
static const char *dataset_type(hid_t file, const char *path, int64_t *len)
{
    *len = -1;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return NULL;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    const char *name = "unsupported type";
    if (cls == H5T_INTEGER)
        name = H5Tget_sign(t) == H5T_SGN_NONE ? (size == 4 ? "uint32" : "unsigned integer")
               : size == 4                    ? "int32"
               : size == 8                    ? "int64"
                                              : "integer of another size";
    else if (cls == H5T_FLOAT)
        name = size == 8 ? "float64" : size == 4 ? "float32" : "float of another size";
    else if (cls == H5T_STRING)
        name = "string";
    if (H5Sget_simple_extent_ndims(s) == 1) {
        hsize_t dim;
        H5Sget_simple_extent_dims(s, &dim, NULL);
        *len = (int64_t)dim;
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return name;
}

static int exists(hid_t file, const char *path)
{
    char buf[700];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1;; s++)
        if (*s == '/' || *s == 0) {
            char save = *s;
            *s = 0;
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0)
                return 0;
            *s = save;
            if (!save)
                return 1;
        }
}

/* Codes of a labelled column: -1 (missing) or an integer in [0, nl). */
static int bad_code(double v, int nl)
{
    return !(v == -1 || (v >= 0 && v < nl && v == floor(v)));
}

/* Same on every rank: the type of each /panel column and of its labels into info[p->ncols]. */
static int check_panel_types(gr_panel *p, colinfo *info)
{
    const char *f = p->path;
    char path[700];
    for (int c = 0; c < p->ncols; c++) {
        int64_t len;
        snprintf(path, sizeof path, "/panel/%s", p->colnames[c]);
        info[c].type = dataset_type(p->file, path, &len);
        info[c].nlabels = -1;
        if (!info[c].type)
            return gr_fail(GR_EFORMAT, f, "%s: cannot open dataset", path);
        int is_int = !strcmp(info[c].type, "int32");
        if (!is_int && strcmp(info[c].type, "float64"))
            return gr_fail(GR_EFORMAT, f, "%s: wrong type %s; expected int32 or float64", path, info[c].type);
        if (!strcmp(p->colnames[c], "pair") && !is_int && (p->pairs.nrows > 0 || p->pairs.ncols > 0))
            return gr_fail(GR_EFORMAT, f, "%s: wrong type %s; pair ids must be int32", path, info[c].type);
        snprintf(path, sizeof path, "/labels/panel/%s", p->colnames[c]);
        if (exists(p->file, path)) {
            int64_t nl;
            const char *lt = dataset_type(p->file, path, &nl);
            if (!lt || strcmp(lt, "string") || nl < 0)
                return gr_fail(GR_EFORMAT, f, "%s: expected a 1-D string dataset of labels", path);
            if (!is_int)
                return gr_fail(GR_EFORMAT, f, "%s: labels for /panel/%s, which is %s; expected an int32 column",
                               path, p->colnames[c], info[c].type);
            info[c].nlabels = (int)nl;
        }
    }
    return GR_OK;
}

/* Same on every rank: the types of the /cities and /pairs columns and the codes of their labelled ones. */
static int check_table_types(gr_panel *p)
{
    const char *f = p->path;
    char path[700];
    for (int g = 0; g < 2; g++) {
        const gr_table *t = g ? &p->pairs : &p->cities;
        const char *group = g ? "pairs" : "cities";
        for (int c = 0; c < t->ncols; c++) {
            int64_t len;
            snprintf(path, sizeof path, "/%s/%s", group, t->names[c]);
            const char *type = dataset_type(p->file, path, &len);
            if (!type || (strcmp(type, "int32") && strcmp(type, "float64")))
                return gr_fail(GR_EFORMAT, f, "%s: wrong type %s; expected int32 or float64", path,
                               type ? type : "(unreadable)");
            if (t->labels[c]) {
                if (!t->is_int[c])
                    return gr_fail(GR_EFORMAT, f, "/labels/%s/%s: labels for a float64 column", group, t->names[c]);
                for (int64_t i = 0; i < t->nrows; i++)
                    if (bad_code(t->cols[c][i], t->nlabels[c]))
                        return gr_fail(GR_EFORMAT, f, "%s row %lld: label code %.17g out of range [0, %d)", path,
                                       (long long)i, t->cols[c][i], t->nlabels[c]);
            }
        }
    }
    return GR_OK;
}

/* Same on every rank: a /pairs table has rows, exporter and importer city ids in range, pair ids equal to
 * the row numbers, and the /cities table, exporter index and /panel/pair that go with it. */
static int check_pairs_table(gr_panel *p, int has_index)
{
    const char *f = p->path;
    if (p->pairs.nrows == 0)
        return gr_fail(GR_EFORMAT, f, "/pairs has no rows");
    const char *need[2] = {"exporter", "importer"};
    for (int k = 0; k < 2; k++) {
        int c = gr_table_find(&p->pairs, need[k]);
        if (c < 0)
            return gr_fail(GR_EFORMAT, f, "missing dataset /pairs/%s", need[k]);
        if (!p->pairs.is_int[c])
            return gr_fail(GR_EFORMAT, f, "/pairs/%s: wrong type float64; expected int32 city ids", need[k]);
        for (int64_t i = 0; i < p->pairs.nrows; i++) {
            double v = p->pairs.cols[c][i];
            if (!(v >= 0 && v < p->cities.nrows))
                return gr_fail(GR_EFORMAT, f, "/pairs/%s row %lld: city id %.17g out of range [0, %lld)", need[k],
                               (long long)i, v, (long long)p->cities.nrows);
        }
    }
    int c = gr_table_find(&p->pairs, "pair");
    if (c >= 0)
        for (int64_t i = 0; i < p->pairs.nrows; i++)
            if (p->pairs.cols[c][i] != (double)i)
                return gr_fail(GR_EFORMAT, f, "/pairs/pair row %lld: id %.17g; expected the row number", (long long)i,
                               p->pairs.cols[c][i]);
    if (p->cities.nrows == 0)
        return gr_fail(GR_EFORMAT, f, "file has a /pairs table but no /cities table");
    if (!has_index)
        return gr_fail(GR_EFORMAT, f, "missing dataset /index/exporter_offsets (required with /pairs)");
    if (!p->pair)
        return gr_fail(GR_EFORMAT, f, "missing dataset /panel/pair (required with /pairs)");
    return GR_OK;
}

/* Same on every rank: checks on metadata and the replicated tables. */
static int check_meta(gr_panel *p, colinfo *info)
{
    const char *f = p->path;
    GR_CALL(check_panel_types(p, info));
    GR_CALL(check_table_types(p));
    int has_index = exists(p->file, "/index/exporter_offsets");
    if (p->pairs.nrows > 0 || p->pairs.ncols > 0) {
        GR_CALL(check_pairs_table(p, has_index));
    } else if (has_index) {
        return gr_fail(GR_EFORMAT, f, "file has /index/exporter_offsets but no /pairs table");
    } else if (exists(p->file, "/cities") && exists(p->file, "/panel/pair")) {  /* a structured file that lost it */
        return gr_fail(GR_EFORMAT, f, "file has /cities and /panel/pair but no /pairs table");
    }  /* else, without /pairs, a /panel/pair column is an ordinary column (docs/format.md) */
    if (has_index && p->n_exporters != p->cities.nrows)
        return gr_fail(GR_EFORMAT, f, "/index/exporter_offsets has %d exporters, /cities has %lld rows",
                       p->n_exporters, (long long)p->cities.nrows);
    return GR_OK;
}

typedef struct {
    int32_t pair;
    double k[MAX_KEY];
    int64_t row;
} keyrow;

static int cmp_d(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

static int cmp_key(const void *x, const void *y)
{
    const keyrow *a = x, *b = y;
    if (a->pair != b->pair)
        return a->pair < b->pair ? -1 : 1;
    for (int j = 0; j < MAX_KEY; j++) {
        int c = cmp_d(a->k[j], b->k[j]);
        if (c)
            return c;
    }
    return (a->row > b->row) - (a->row < b->row);
}

/* Collective: the row key (columns that with pair identify a row): root attribute row_key (comma-separated,
 * may be empty), else time_column, else the first of month, time, year stored in /panel. */
static int row_key(gr_panel *p, char names[MAX_KEY][GR_NAME_MAX], int *nk, char *shown, size_t len)
{
    char buf[1024];
    *nk = 0;
    int st = gr_panel_attr(p, "row_key", buf, sizeof buf);
    if (st) {
        gr_clear_error();
        st = gr_panel_attr(p, "time_column", buf, sizeof buf);
        if (st) {
            gr_clear_error();
            buf[0] = 0;
            const char *guess[] = {"month", "time", "year"};
            for (int g = 0; g < 3 && !buf[0]; g++)
                for (int c = 0; c < p->ncols; c++)
                    if (!strcmp(p->colnames[c], guess[g]))
                        snprintf(buf, sizeof buf, "%s", guess[g]);
        }
    }
    snprintf(shown, len, "%s", buf);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*nk == MAX_KEY)
            return gr_fail(GR_EFORMAT, p->path, "row_key: more than %d columns", MAX_KEY);
        int found = 0;
        for (int c = 0; c < p->ncols; c++)
            found |= !strcmp(p->colnames[c], t);
        if (!found)
            return gr_fail(GR_EFORMAT, p->path, "row key column '%s' is not a /panel dataset", t);
        snprintf(names[(*nk)++], GR_NAME_MAX, "%s", t);
    }
    return GR_OK;
}

/* Collective (gr_panel_column): read every column of this rank's block, count its missing values into
 * missing[c], copy the key columns into kr[].k (when kr), and check label codes (the first bad one into *st).
 * Returns a failed read (agreed inside gr_panel_column). */
static int scan_columns(gr_panel *p, const colinfo *info, char keys[MAX_KEY][GR_NAME_MAX], int nk, keyrow *kr,
                        int64_t *missing, int *st)
{
    int64_t n = p->nrows;
    for (int c = 0; c < p->ncols; c++) {
        double *v = NULL;
        GR_CALL(gr_panel_column(p, p->colnames[c], &v)); /* agreed inside */
        int coded = info[c].nlabels >= 0;
        for (int64_t i = 0; i < n; i++) {
            if (isnan(v[i]) || (coded && v[i] == -1))
                missing[c]++;
            else if (coded && bad_code(v[i], info[c].nlabels) && *st == GR_OK)
                *st = gr_fail(GR_EFORMAT, p->path, "/panel/%s row %lld: label code %.17g out of range [0, %d)",
                              p->colnames[c], (long long)(p->row_begin + i), v[i], info[c].nlabels);
        }
        for (int k = 0; k < nk && kr; k++)
            if (!strcmp(keys[k], p->colnames[c]))
                for (int64_t i = 0; i < n; i++)
                    kr[i].k[k] = v[i];
        free(v);
    }
    return GR_OK;
}

/* Local: every row lies in the offsets range of its exporter (when the file has pairs and the index). */
static int check_exporter_order(gr_panel *p)
{
    int ie = gr_table_find(&p->pairs, "exporter");
    if (!p->pair || ie < 0 || p->n_exporters <= 0)
        return GR_OK;
    for (int64_t i = 0; i < p->nrows; i++) {
        int64_t g = p->row_begin + i;
        int e = (int)p->pairs.cols[ie][p->pair[i]];
        if (g < p->exporter_offsets[e] || g >= p->exporter_offsets[e + 1]) {
            int ic = gr_table_find(&p->cities, "name");
            int nl = ic >= 0 ? p->cities.nlabels[ic] : 0;
            const char *nm = ic >= 0 && p->cities.labels[ic] && e < nl ? p->cities.labels[ic][e] : "?";
            return gr_fail(GR_EFORMAT, p->path,
                           "/panel row %lld: exporter %d (%s) but /index/exporter_offsets gives it rows [%lld, %lld) "
                           "(rows not sorted by exporter, or offsets inconsistent with the rows)",
                           (long long)g, e, nm, (long long)p->exporter_offsets[e],
                           (long long)p->exporter_offsets[e + 1]);
        }
    }
    return GR_OK;
}

/* Local: no two rows share pair and key (a pair's rows all belong to one exporter, so to one rank). Sorts
 * kr[p->nrows] (key values filled by scan_columns); names the duplicate with the lowest row number. */
static int check_duplicates(gr_panel *p, keyrow *kr, char keys[MAX_KEY][GR_NAME_MAX], int nk)
{
    int64_t n = p->nrows;
    for (int64_t i = 0; i < n; i++) {
        kr[i].pair = p->pair[i];
        kr[i].row = p->row_begin + i;
    }
    qsort(kr, (size_t)n, sizeof *kr, cmp_key);
    int64_t first = -1, other = -1;
    for (int64_t i = 1; i < n; i++) {
        int same = kr[i].pair == kr[i - 1].pair;
        for (int k = 0; k < nk && same; k++)
            same = cmp_d(kr[i].k[k], kr[i - 1].k[k]) == 0;
        if (same && (first < 0 || kr[i].row < first)) {
            first = kr[i].row;
            other = kr[i - 1].row;
        }
    }
    if (first < 0)
        return GR_OK;
    char desc[512] = "";
    for (int64_t i = 0; i < n; i++)
        if (kr[i].row == first) {
            int pos = snprintf(desc, sizeof desc, "pair %d", kr[i].pair);
            for (int k = 0; k < nk && pos > 0 && pos < 400; k++)
                pos += snprintf(desc + pos, 100, ", %.60s %.17g", keys[k], kr[i].k[k]);
        }
    return gr_fail(GR_EFORMAT, p->path, "/panel rows %lld and %lld are duplicates (%s)", (long long)other,
                   (long long)first, desc);
}

/* Collective: read every column of this rank's block; count missing values; check codes, exporter order
 * and key uniqueness locally; agree. */
static int check_rows(gr_panel *p, colinfo *info, char keys[MAX_KEY][GR_NAME_MAX], int nk)
{
    int st = GR_OK;
    keyrow *kr = nk > 0 && p->pair ? gr_calloc((size_t)(p->nrows ? p->nrows : 1), sizeof *kr) : NULL;
    int64_t *missing = gr_calloc((size_t)p->ncols + 1, sizeof *missing);
    int rc = scan_columns(p, info, keys, nk, kr, missing, &st);
    if (rc) {
        free(kr);
        free(missing);
        return rc;
    }
    if (st == GR_OK)
        st = check_exporter_order(p);
    if (kr && st == GR_OK)
        st = check_duplicates(p, kr, keys, nk);
    free(kr);
    int64_t *sum = gr_calloc((size_t)p->ncols + 1, sizeof *sum);
    MPI_Allreduce(missing, sum, p->ncols, MPI_INT64_T, MPI_SUM, p->comm);
    for (int c = 0; c < p->ncols; c++)
        info[c].missing = sum[c];
    free(sum);
    free(missing);
    return gr_agree(p->comm, st);
}

int cmd_check(int argc, char **argv, MPI_Comm comm)
{
    int rank, st;
    MPI_Comm_rank(comm, &rank);
    check_opts o;
    gr_opts s;
    st = gr_opts_parse(&s, &check_cmd, &o, argc, argv, rank);
    if (!st && s.echo && rank == 0)
        gr_opts_echo(&s, stderr);
    gr_opts_free(&s); /* no lists: o.path points into argv */
    if (st == GR_OPTS_EXIT)
        return 0;
    gr_quiet |= o.quiet;
    st = gr_agree(comm, st);
    if (st)
        return gr_report(st);
    const char *path = o.path;
    gr_panel p;
    st = gr_panel_open(comm, path, &p);
    if (st)
        return gr_report(st);
    colinfo *info = gr_calloc((size_t)p.ncols + 1, sizeof *info);
    char keys[MAX_KEY][GR_NAME_MAX], shown[1024] = "", version[64] = "?";
    int nk = 0;
    st = gr_agree(comm, check_meta(&p, info));
    if (!st)
        st = gr_agree(comm, row_key(&p, keys, &nk, shown, sizeof shown));
    if (!st)
        st = check_rows(&p, info, keys, nk);
    if (!st && gr_panel_attr(&p, "format_version", version, sizeof version) != GR_OK)
        gr_clear_error();
    if (!st && rank == 0) {
        printf("%s: ok\n", path);
        printf("format: %s version %s\n", GR_FORMAT_NAME, version);
        printf("cities: %lld  pairs: %lld  rows: %lld  exporter index: %s  ranks: %d\n", (long long)p.cities.nrows,
               (long long)p.pairs.nrows, (long long)p.nrows_total, p.n_exporters ? "yes" : "no", p.nranks);
        if (p.pair)
            printf("row key: %s%s%s\n", nk ? "pair," : "none recorded", shown, nk ? " (unique)" : "");
        printf("columns: %d\n", p.ncols);
        for (int k = 0; k < p.ncols; k++) {
            char type[64];
            if (info[k].nlabels >= 0)
                snprintf(type, sizeof type, "%s, %d labels", info[k].type, info[k].nlabels);
            else
                snprintf(type, sizeof type, "%s", info[k].type);
            printf("  %-24s %-22s missing %lld\n", p.colnames[k], type, (long long)info[k].missing);
        }
        fflush(stdout);
    }
    free(info);
    gr_panel_close(&p);
    return gr_report(gr_stdout_agree(comm, st));
}
