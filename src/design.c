/* design.c: the design helpers of design.h and `gravrd design`: for one bandwidth, a report on the
 * derived pair columns ntreated_<d> (treated pairs in the pair's segment pair) and same_<attr>_<d>
 * (control pairs sharing an attribute with a treated pair of their segment pair), computed by derived.c
 * from segpair_<d> (stored, or derived too) as estimate computes them on the fly (docs/design.md).
 * The panel is only read; --out writes a copy of it with the columns stored. */
#include "cleanup.h"
#include "commands.h"
#include "derived.h"
#include "design.h"
#include "opts.h"
#include "spatial.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- pure helpers ---------------- */

int gr_design_bandwidth_arg(const char *opt, const char *arg, double *bw, char name[32])
{
    double v, back;
    if (gr_parse_double(arg, &v) != 0 || !isfinite(v) || !(v > 0))
        return gr_fail(GR_EUSAGE, opt, "expected a positive number of km, got '%s'", arg);
    snprintf(name, 32, "%g", v);
    if (gr_parse_double(name, &back) != 0 || back != v)
        return gr_fail(GR_EUSAGE, opt, "'%s' is not exactly representable in 6 significant digits", arg);
    *bw = v;
    return GR_OK;
}

int gr_design_pairs(const gr_table *pairs, int64_t ncities, const char *where, int **exp, int **imp,
                    unsigned char **treated)
{
    *exp = NULL; *imp = NULL; *treated = NULL;
    int ce = gr_table_find(pairs, "exporter"), ci = gr_table_find(pairs, "importer"), cp = gr_table_find(pairs, "partner");
    if (pairs->nrows == 0) return gr_fail(GR_EINPUT, where, "the file has no pairs table");
    if (ce < 0 || ci < 0 || cp < 0)
        return gr_fail(GR_EINPUT, where, "pairs table lacks column '%s'", ce < 0 ? "exporter" : ci < 0 ? "importer" : "partner");
    int64_t m = pairs->nrows;
    int *e = gr_malloc((size_t)m, sizeof *e), *im = gr_malloc((size_t)m, sizeof *im);
    unsigned char *t = gr_malloc((size_t)m, 1);
    for (int64_t k = 0; k < m; k++) {
        double a = pairs->cols[ce][k], b = pairs->cols[ci][k], c = pairs->cols[cp][k];
        if (!(a >= 0 && a < ncities && a == floor(a)) || !(b >= 0 && b < ncities && b == floor(b)) || !isfinite(c)) {
            free(e); free(im); free(t);
            return gr_fail(GR_EINPUT, where, "pairs row %lld: exporter, importer must be city ids in [0, %lld) and "
                           "partner must be present", (long long)k, (long long)ncities);
        }
        e[k] = (int)a; im[k] = (int)b; t[k] = c != 0;
    }
    *exp = e; *imp = im; *treated = t;
    return GR_OK;
}

/* dense segment-pair index: segpair values are small non-negative integers (segments.c) */
static int64_t segpair_max(int64_t m, const double *segpair)
{
    int64_t mx = -1;
    for (int64_t k = 0; k < m; k++)
        if (segpair[k] >= 0 && (int64_t)segpair[k] > mx) mx = (int64_t)segpair[k];
    return mx;
}

void gr_design_ntreated(int64_t m, const double *segpair, const unsigned char *treated, double *ntreated)
{
    int64_t L = segpair_max(m, segpair) + 1;
    double *cnt = gr_calloc((size_t)(L ? L : 1), sizeof *cnt);
    for (int64_t k = 0; k < m; k++)
        if (segpair[k] >= 0 && treated[k]) cnt[(int64_t)segpair[k]] += 1;
    for (int64_t k = 0; k < m; k++) ntreated[k] = segpair[k] >= 0 ? cnt[(int64_t)segpair[k]] : NAN;
    free(cnt);
}

void gr_design_same(int64_t m, const double *segpair, const unsigned char *treated, const int *exp,
                    const int *imp, const double *attr, double *same)
{
    int64_t L = segpair_max(m, segpair) + 1;
    /* treated pairs grouped by segment pair (CSR) */
    int64_t *start = gr_calloc((size_t)L + 1, sizeof *start);
    for (int64_t k = 0; k < m; k++)
        if (segpair[k] >= 0 && treated[k]) start[(int64_t)segpair[k] + 1]++;
    for (int64_t g = 0; g < L; g++) start[g + 1] += start[g];
    int64_t *fill = gr_malloc((size_t)(L ? L : 1), sizeof *fill), *list = gr_malloc((size_t)(start[L] ? start[L] : 1), sizeof *list);
    for (int64_t g = 0; g < L; g++) fill[g] = start[g];
    for (int64_t k = 0; k < m; k++)
        if (segpair[k] >= 0 && treated[k]) list[fill[(int64_t)segpair[k]]++] = k;
    for (int64_t k = 0; k < m; k++) {
        if (!(segpair[k] >= 0)) { same[k] = NAN; continue; }
        if (treated[k]) { same[k] = 1; continue; }
        int64_t g = (int64_t)segpair[k];
        double ak = attr[exp[k]], aj = attr[imp[k]];
        int hit = 0;
        for (int64_t q = start[g]; q < start[g + 1] && !hit; q++) {
            int64_t t = list[q];
            int exp_ok = isfinite(ak) && attr[exp[t]] == ak;
            int imp_ok = imp[t] == imp[k] || (isfinite(aj) && attr[imp[t]] == aj);
            hit = exp_ok && imp_ok;
        }
        same[k] = hit;
    }
    free(start); free(fill); free(list);
}

int gr_design_comparisons(int64_t ncities, const double *lat, const double *lon, const double *province,
                          int64_t m, const int *exp, const int *imp, const unsigned char *treated,
                          const unsigned char *usable, double bw, gr_design_comp *out)
{
    memset(out, 0, sizeof *out);
    if (!(bw > 0) || !isfinite(bw)) return gr_fail(GR_EINPUT, "bandwidth", "expected a positive number of km, got %g", bw);
    int64_t *pidx = gr_malloc((size_t)(ncities > 0 ? ncities * ncities : 1), sizeof *pidx);
    for (int64_t q = 0; q < ncities * ncities; q++) pidx[q] = -1;
    for (int64_t k = 0; k < m; k++) pidx[(int64_t)exp[k] * ncities + imp[k]] = k;
    int64_t cap = 64, n = 0;
    int32_t *tr = gr_malloc((size_t)cap, sizeof *tr), *co = gr_malloc((size_t)cap, sizeof *co);
    double *di = gr_malloc((size_t)cap, sizeof *di);
    int rc = GR_OK;
    for (int64_t t = 0; t < m && !rc; t++) {
        if (!treated[t] || !usable[t]) continue;
        int i = exp[t], j = imp[t];
        if (!isfinite(lat[i]) || !isfinite(lon[i]) || !isfinite(province[i])) {
            rc = gr_fail(GR_EINPUT, "cities", "city %d (exporter of a treated pair) lacks lat, lon or province", i);
            break;
        }
        for (int64_t k = 0; k < ncities; k++) {
            if (k == i || province[k] != province[i]) continue;
            int64_t c = pidx[k * ncities + j];
            if (c < 0 || treated[c] || !usable[c]) continue;
            double d = gr_haversine_km(lat[i], lon[i], lat[k], lon[k]);
            if (!(d > 0) || d > bw) continue;  /* NaN coordinates of k never match */
            if (n == cap) {
                cap *= 2;
                tr = gr_realloc(tr, (size_t)cap, sizeof *tr); co = gr_realloc(co, (size_t)cap, sizeof *co);
                di = gr_realloc(di, (size_t)cap, sizeof *di);
            }
            tr[n] = (int32_t)t; co[n] = (int32_t)c; di[n] = d; n++;
        }
    }
    free(pidx);
    if (rc) { free(tr); free(co); free(di); return rc; }
    out->n = n; out->treated = tr; out->control = co; out->dist_km = di;
    return GR_OK;
}

void gr_design_comp_free(gr_design_comp *c)
{
    free(c->treated); free(c->control); free(c->dist_km);
    memset(c, 0, sizeof *c);
}

void gr_design_multiplicity(const gr_design_comp *c, int64_t m, int32_t *mult)
{
    memset(mult, 0, (size_t)m * sizeof *mult);
    for (int64_t q = 0; q < c->n; q++) mult[c->control[q]]++;
    for (int64_t q = 0; q < c->n; q++) mult[c->treated[q]] = 1;  /* treated pairs are never controls */
}

/* ---------------- gravrd design ---------------- */

#define MAX_SAME 16

typedef struct {
    const char *data, *out, *bw_text;
    gr_opt_list same;  /* --same, as given */
    int quiet;
    double bw;         /* from bw_text */
    char bwname[32];
} design_opts;

static const gr_opt design_table[] = {
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(design_opts, data), .metavar = "FILE.h5",
     .help = "panel file (read only; segpair_<KM> is used if stored, else derived)", .flags = GR_OPT_REQUIRED},
    {.name = "bandwidth", .kind = GR_OPT_STRING, GR_OPT_AT(design_opts, bw_text), .metavar = "KM",
     .help = "segment bandwidth in km, > 0 (one; run design once per bandwidth)", .flags = GR_OPT_REQUIRED},
    {.name = "same", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(design_opts, same), .metavar = "ATTR",
     .help = "a cities column (dialect, province, ...): adds same_<ATTR>_<KM>", .flags = GR_OPT_REPEAT,
     .max = MAX_SAME},
    {.name = "out", .kind = GR_OPT_STRING, GR_OPT_AT(design_opts, out), .metavar = "COPY.h5",
     .help = "also write a copy of FILE with these columns stored (and segment_<KM>, segpair_<KM> when FILE "
             "does not store them); must not be FILE"},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(design_opts, quiet), .help = "print nothing but errors"},
    {0}};

static const gr_opts_cmd design_cmd = {
    "design",
    "Spatial-RD design columns for the segments of one bandwidth d (pairs columns, docs/design.md):\n"
    "  ntreated_<d>       number of partner pairs in the pair's segment pair (segpair_<d>)\n"
    "  same_<ATTR>_<d>    1 for a partner pair; for a control pair kj, 1 if a partner pair ab of the same\n"
    "                     segment pair has ATTR(a) == ATTR(k) and (b == j or ATTR(b) == ATTR(j)), else 0\n"
    "Prints the segment pairs by number of partner pairs, the control pairs by control_type inside\n"
    "segment pairs with a partner pair, and the ones of each same_ column. estimate computes these\n"
    "columns on the fly (for any d and ATTR) when the file does not store them, so the study's\n"
    "restrictions are plain --where filters:\n"
    "  --where 'ntreated_100 <= 1'   --where 'control_type != 2'   --where 'same_dialect_100 == 1'\n"
    "FILE is never modified.",
    design_table, NULL, 0};

/* Parse and check the options; identical on every rank, not collective. bw and bwname from
 * --bandwidth (gr_design_bandwidth_arg); each --same a non-empty name that leaves room for the
 * column name. GR_OK, GR_EUSAGE via gr_fail, or GR_OPTS_EXIT after --help / --version. */
static int parse_design(int argc, char **argv, design_opts *o, gr_opts *s, int rank)
{
    int rc = gr_opts_parse(s, &design_cmd, o, argc, argv, rank);
    if (rc) return rc;
    gr_quiet |= o->quiet;
    GR_CALL(gr_design_bandwidth_arg("--bandwidth", o->bw_text, &o->bw, o->bwname));
    for (int k = 0; k < o->same.n; k++)
        if (!o->same.str[k][0] || strlen(o->same.str[k]) >= GR_NAME_MAX - 16)
            return gr_fail(GR_EUSAGE, "--same", "expected a cities column name of 1 to %d characters, got '%s'",
                           GR_NAME_MAX - 17, o->same.str[k]);
    return GR_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The number of distinct unordered city pairs {i, j} among the rows of the pairs table that pass `sel`
 * (the pairs table holds directed pairs: ij and ji are two rows). */
static int64_t undirected_count(const gr_table *pairs, int64_t m, const unsigned char *sel)
{
    int ce = gr_table_find(pairs, "exporter"), ci = gr_table_find(pairs, "importer");
    if (ce < 0 || ci < 0) return -1;  /* checked by gr_design_pairs before */
    int64_t *key = gr_malloc((size_t)(m ? m : 1), sizeof *key), nk = 0, u = 0;
    for (int64_t k = 0; k < m; k++) {
        if (sel && !sel[k]) continue;
        int64_t a = (int64_t)pairs->cols[ce][k], b = (int64_t)pairs->cols[ci][k];
        key[nk++] = (a < b ? a : b) * ((int64_t)1 << 31) + (a < b ? b : a);  /* city ids are int32 */
    }
    qsort(key, (size_t)nk, sizeof *key, cmp_i64);
    for (int64_t k = 0; k < nk; k++) u += k == 0 || key[k] != key[k - 1];
    free(key);
    return u;
}

static void print_counts(const design_opts *o, const gr_table *pairs, int64_t m, const double *segpair,
                         const unsigned char *treated, const double *ntreated, int ncol, char names[][GR_NAME_MAX],
                         double **cols)
{
    int64_t L = segpair_max(m, segpair) + 1, ntr = 0;
    int64_t *cnt = gr_calloc((size_t)(L ? L : 1), sizeof *cnt);
    unsigned char *present = gr_calloc((size_t)(L ? L : 1), 1);
    for (int64_t k = 0; k < m; k++)
        if (segpair[k] >= 0) { present[(int64_t)segpair[k]] = 1; cnt[(int64_t)segpair[k]] += treated[k]; }
    int64_t by[3] = {0, 0, 0}, nsp = 0;
    for (int64_t g = 0; g < L; g++)
        if (present[g]) { nsp++; by[cnt[g] >= 2 ? 2 : cnt[g]]++; }
    for (int64_t k = 0; k < m; k++) ntr += treated[k];
    int ct = gr_table_find(pairs, "control_type");
    int64_t ctl[6] = {0}, ctl_multi = 0, tr_multi = 0;  /* ctl[1..4] by type, ctl[5] other/missing, ctl[0] total */
    for (int64_t k = 0; k < m; k++) {
        if (!(ntreated[k] >= 1)) continue;
        if (treated[k]) { tr_multi += ntreated[k] >= 2; continue; }
        ctl[0]++;
        ctl_multi += ntreated[k] >= 2;
        double v = ct >= 0 ? pairs->cols[ct][k] : NAN;
        if (v >= 1 && v <= 4 && v == floor(v)) ctl[(int)v]++; else ctl[5]++;
    }
    printf("design: %s, d = %s km: %lld directed pairs (%lld undirected), %lld directed partner pairs (%lld "
           "undirected), %lld segment pairs\n", o->data, o->bwname, (long long)m, (long long)undirected_count(pairs, m, NULL),
           (long long)ntr, (long long)undirected_count(pairs, m, treated), (long long)nsp);
    printf("(below, as in match, rdgrid and balance, pairs are directed: ij and ji count apart)\n");
    printf("segment pairs by partner pairs inside:  0: %lld   1: %lld   2+: %lld\n", (long long)by[0], (long long)by[1],
           (long long)by[2]);
    printf("partner pairs in segment pairs with 2+ partner pairs: %lld\n", (long long)tr_multi);
    printf("control pairs in segment pairs with a partner pair: %lld (in segment pairs with 2+: %lld)\n",
           (long long)ctl[0], (long long)ctl_multi);
    if (ct >= 0) {
        static const char *what[5] = {"", "neither city in the program", "only the eastern city in the program",
                                      "only the western city in the program", "both in the program, not partners"};
        for (int t = 1; t <= 4; t++) printf("  control_type %d (%s): %lld\n", t, what[t], (long long)ctl[t]);
        if (ctl[5]) printf("  control_type missing or other: %lld\n", (long long)ctl[5]);
    }
    for (int c = 0; c < ncol; c++) {
        int64_t ones = 0, ctl1 = 0;
        for (int64_t k = 0; k < m; k++)
            if (cols[c][k] == 1) { ones++; ctl1 += !treated[k]; }
        printf("%s: %lld pairs = 1 (%lld control pairs)\n", names[c], (long long)ones, (long long)ctl1);
    }
    free(cnt); free(present);
}

/* The design's columns: [0] ntreated_<d>, [1 + s] same_<o->same.str[s]>_<d>. */
typedef struct {
    int ncol;
    char names[1 + MAX_SAME][GR_NAME_MAX];
    double *cols[1 + MAX_SAME];
    int is_int[1 + MAX_SAME];
    int segment_stored, segpair_stored;  /* in the file, before anything was derived */
} design_cols;

/* Local. Check the inputs and compute the columns (derived.c) on the replicated tables. */
static int compute_design(const design_opts *o, gr_panel *p, design_cols *dc, const double **segpair,
                          unsigned char **treated)
{
    char spname[GR_NAME_MAX], segname[GR_NAME_MAX];
    snprintf(spname, sizeof spname, "segpair_%s", o->bwname);
    snprintf(segname, sizeof segname, "segment_%s", o->bwname);
    dc->segpair_stored = gr_table_find(&p->pairs, spname) >= 0;
    dc->segment_stored = gr_table_find(&p->cities, segname) >= 0;
    int64_t m = p->pairs.nrows;
    int *exp = NULL, *imp = NULL;
    int rc = gr_design_pairs(&p->pairs, p->cities.nrows, o->data, &exp, &imp, treated);
    free(exp); free(imp);
    for (int s = 0; s < o->same.n && !rc; s++)
        if (gr_table_find(&p->cities, o->same.str[s]) < 0)
            rc = gr_fail(GR_EINPUT, "--same", "unknown attribute '%s': not a cities column of %s", o->same.str[s], o->data);
    if (!rc) {
        int64_t ntr = 0;
        for (int64_t k = 0; k < m; k++) ntr += (*treated)[k];
        if (ntr == 0) rc = gr_fail(GR_EINPUT, o->data, "no treated pair: pairs column 'partner' is 0 everywhere");
    }
    /* segpair_<d> as estimate resolves it: the stored column, else derived (with segment_<d>) */
    if (!rc && (!gr_panel_has_column(p, spname) || gr_table_find(&p->pairs, spname) < 0))
        rc = gr_fail(GR_EINPUT, o->data, "no pairs column '%s'", spname);  /* e.g. a /panel dataset of that name */
    if (rc) return rc;
    *segpair = p->pairs.cols[gr_table_find(&p->pairs, spname)];
    dc->ncol = 1 + o->same.n;
    for (int c = 0; c < dc->ncol && !rc; c++) {
        if (c == 0) snprintf(dc->names[c], GR_NAME_MAX, "ntreated_%s", o->bwname);
        else snprintf(dc->names[c], GR_NAME_MAX, "same_%s_%s", o->same.str[c - 1], o->bwname);
        dc->cols[c] = gr_malloc((size_t)m + 1, sizeof(double));
        if (c == 0) rc = gr_derived_ntreated(&p->pairs, p->cities.nrows, *segpair, o->data, dc->cols[c]);
        else rc = gr_derived_same(&p->pairs, &p->cities, o->same.str[c - 1], *segpair, o->data, dc->cols[c]);
        if (!rc) dc->is_int[c] = gr_derived_all_finite(m, dc->cols[c]);
    }
    return rc;
}

/* Collective. Write --out: a copy of the panel with the design's columns (and the segment columns
 * the file does not store). */
static int write_copy(MPI_Comm comm, const design_opts *o, gr_panel *p, const design_cols *dc, char *list,
                      size_t len)
{
    const char *groups[3 + MAX_SAME], *names[3 + MAX_SAME];
    const double *vals[3 + MAX_SAME];
    int64_t lens[3 + MAX_SAME];
    int is_int[3 + MAX_SAME], n = 0;
    char segname[GR_NAME_MAX], spname[GR_NAME_MAX];
    snprintf(segname, sizeof segname, "segment_%s", o->bwname);
    snprintf(spname, sizeof spname, "segpair_%s", o->bwname);
    if (!dc->segment_stored && !dc->segpair_stored && gr_table_find(&p->cities, segname) >= 0) {
        groups[n] = "cities"; names[n] = segname; lens[n] = p->cities.nrows; is_int[n] = 1;
        vals[n++] = p->cities.cols[gr_table_find(&p->cities, segname)];
    }
    if (!dc->segpair_stored) {
        groups[n] = "pairs"; names[n] = spname; lens[n] = p->pairs.nrows; is_int[n] = 1;
        vals[n++] = p->pairs.cols[gr_table_find(&p->pairs, spname)];
    }
    for (int c = 0; c < dc->ncol; c++) {
        groups[n] = "pairs"; names[n] = dc->names[c]; lens[n] = p->pairs.nrows; is_int[n] = dc->is_int[c];
        vals[n++] = dc->cols[c];
    }
    size_t used = 0;
    list[0] = 0;
    for (int c = 0; c < n && used < len; c++) used += (size_t)snprintf(list + used, len - used, " %s", names[c]);
    return gr_file_copy_with_columns(comm, o->data, o->out, n, groups, names, lens, vals, is_int);
}

/* `gravrd design` (commands.h): parse on every rank (usage errors exit 2, --help / --version exit 0
 * without communication), compute on the replicated tables, print on rank 0, write --out collectively. */
int cmd_design(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    design_opts o;
    gr_opts s;
    int rc = parse_design(argc, argv, &o, &s, rank);
    if (rc == GR_OPTS_EXIT) {
        gr_opts_free(&s);
        return 0;
    }
    if (!rc && s.echo && rank == 0) gr_opts_echo(&s, stderr);
    if ((rc = gr_agree(comm, rc))) {
        gr_opts_free(&s);
        return gr_report(rc);
    }
    gr_panel p;
    if ((rc = gr_panel_open(comm, o.data, &p))) {
        gr_opts_free(&s);
        return gr_report(rc);
    }
    /* everything below works on the replicated tables: every rank computes the same values */
    design_cols dc;
    memset(&dc, 0, sizeof dc);
    const double *segpair = NULL;
    unsigned char *treated = NULL;
    rc = compute_design(&o, &p, &dc, &segpair, &treated);
    if (!rc && rank == 0 && !gr_quiet)
        print_counts(&o, &p.pairs, p.pairs.nrows, segpair, treated, dc.cols[0], dc.ncol, dc.names, dc.cols);
    rc = gr_agree(comm, rc);
    char list[(3 + MAX_SAME) * (GR_NAME_MAX + 1) + 1];
    if (!rc && o.out) rc = write_copy(comm, &o, &p, &dc, list, sizeof list);
    if (!rc && o.out && rank == 0 && !gr_quiet) printf("wrote %s: a copy of %s with the columns%s stored\n", o.out, o.data, list);
    for (int c = 0; c < dc.ncol; c++) free(dc.cols[c]);
    free(treated);
    gr_panel_close(&p);
    gr_opts_free(&s);
    return gr_report(gr_stdout_agree(comm, rc)); /* the report reached standard output */
}
