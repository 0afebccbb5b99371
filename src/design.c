/* design.c: the design helpers of design.h and `gravrd design`: for one bandwidth, the pair columns
 * ntreated_<d> (treated pairs in the pair's segment pair) and same_<attr>_<d> (control pairs sharing
 * an attribute with a treated pair of their segment pair), written into the file (docs/design.md). */
#include "commands.h"
#include "design.h"
#include "spatial.h"
#include <getopt.h>
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

static const char usage_text[] =
    "usage: gravrd design --data FILE.h5 --bandwidth KM [--same ATTR ...] [--quiet]\n"
    "\n"
    "Spatial-RD design columns for the segments of one bandwidth (run 'gravrd segments' first). Adds to\n"
    "the pairs table of FILE (in place, safely):\n"
    "  ntreated_<d>       number of partner pairs in the pair's segment pair (segpair_<d>)\n"
    "  same_<ATTR>_<d>    1 for a partner pair; for a control pair kj, 1 if a partner pair ab of the same\n"
    "                     segment pair has ATTR(a) == ATTR(k) and (b == j or ATTR(b) == ATTR(j)), else 0\n"
    "and prints the segment pairs by number of partner pairs and the control pairs by control_type inside\n"
    "segment pairs with a partner pair. The study's restrictions are then --where filters of estimate:\n"
    "  --where 'ntreated_100 <= 1'   --where 'control_type != 2'   --where 'same_dialect_100 == 1'\n"
    "\n"
    "  --data FILE         panel file (updated in place: temporary copy + rename)\n"
    "  --bandwidth KM      segment bandwidth (segpair_<KM> must exist)\n"
    "  --same ATTR         a cities column (dialect, province, ...); repeat for several\n"
    "  --quiet             print nothing but errors\n"
    "  --help              this text\n";

typedef struct {
    const char *data;
    double bw;
    char bwname[32];
    int nsame;
    const char *same[MAX_SAME];
} design_opts;

static int parse_design(int argc, char **argv, design_opts *o)
{
    static const struct option longs[] = {
        {"data", required_argument, 0, 'd'}, {"bandwidth", required_argument, 0, 'b'},
        {"same", required_argument, 0, 's'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
        switch (c) {
        case 'd': o->data = optarg; break;
        case 'b':
            if (o->bw > 0) return gr_fail(GR_EUSAGE, "--bandwidth", "give one bandwidth (run design once per bandwidth)");
            if ((rc = gr_design_bandwidth_arg("--bandwidth", optarg, &o->bw, o->bwname))) return rc;
            break;
        case 's':
            if (o->nsame == MAX_SAME) return gr_fail(GR_EUSAGE, "--same", "at most %d attributes", MAX_SAME);
            if (!*optarg || strlen(optarg) >= GR_NAME_MAX - 16) return gr_fail(GR_EUSAGE, "--same", "expected a cities column name");
            o->same[o->nsame++] = optarg;
            break;
        case 'q': gr_quiet = 1; break;
        case 'h': return -1;
        case ':': return gr_fail(GR_EUSAGE, argv[optind - 1], "option needs a value (see 'gravrd design --help')");
        default: return gr_fail(GR_EUSAGE, "design", "unknown option '%s' (see 'gravrd design --help')", argv[optind - 1]);
        }
    }
    if (optind < argc) return gr_fail(GR_EUSAGE, "design", "unexpected argument '%s'", argv[optind]);
    if (!o->data) return gr_fail(GR_EUSAGE, "design", "--data FILE is required");
    if (!(o->bw > 0)) return gr_fail(GR_EUSAGE, "design", "--bandwidth KM is required");
    return GR_OK;
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
    printf("design: %s, d = %s km: %lld pairs, %lld partner pairs, %lld segment pairs\n", o->data, o->bwname,
           (long long)m, (long long)ntr, (long long)nsp);
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

int cmd_design(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    design_opts o;
    int rc = parse_design(argc, argv, &o);
    if (rc == -1) { if (rank == 0) fputs(usage_text, stdout); return 0; }
    if ((rc = gr_agree(comm, rc))) return gr_report(rc);
    gr_panel p;
    if ((rc = gr_panel_open(comm, o.data, &p))) return gr_report(rc);
    /* everything below works on the replicated tables: every rank computes the same values */
    int ncol = 1 + o.nsame;
    char names[1 + MAX_SAME][GR_NAME_MAX];
    double *cols[1 + MAX_SAME] = {0};
    int *exp = NULL, *imp = NULL;
    unsigned char *treated = NULL;
    char spname[GR_NAME_MAX];
    snprintf(spname, sizeof spname, "segpair_%s", o.bwname);
    int csp = gr_table_find(&p.pairs, spname);
    int64_t m = p.pairs.nrows;
    rc = gr_design_pairs(&p.pairs, p.cities.nrows, o.data, &exp, &imp, &treated);
    if (!rc && csp < 0)
        rc = gr_fail(GR_EINPUT, o.data, "pairs column '%s' not found: run 'gravrd segments --data %s --bandwidth %s' first",
                     spname, o.data, o.bwname);
    for (int s = 0; s < o.nsame && !rc; s++)
        if (gr_table_find(&p.cities, o.same[s]) < 0)
            rc = gr_fail(GR_EINPUT, "--same", "unknown attribute '%s': not a cities column of %s", o.same[s], o.data);
    if (!rc) {
        int64_t ntr = 0;
        for (int64_t k = 0; k < m; k++) ntr += treated[k];
        if (ntr == 0) rc = gr_fail(GR_EINPUT, o.data, "no treated pair: pairs column 'partner' is 0 everywhere");
    }
    if (!rc) {
        const double *sp = p.pairs.cols[csp];
        snprintf(names[0], GR_NAME_MAX, "ntreated_%s", o.bwname);
        cols[0] = gr_malloc((size_t)m, sizeof(double));
        gr_design_ntreated(m, sp, treated, cols[0]);
        for (int s = 0; s < o.nsame; s++) {
            snprintf(names[1 + s], GR_NAME_MAX, "same_%s_%s", o.same[s], o.bwname);
            cols[1 + s] = gr_malloc((size_t)m, sizeof(double));
            gr_design_same(m, sp, treated, exp, imp, p.cities.cols[gr_table_find(&p.cities, o.same[s])], cols[1 + s]);
        }
        if (rank == 0 && !gr_quiet) print_counts(&o, &p.pairs, m, sp, treated, cols[0], ncol, names, cols);
    }
    rc = gr_agree(comm, rc);
    gr_panel_close(&p);
    for (int c = 0; c < ncol && !rc; c++) {
        int is_int = 1;
        for (int64_t k = 0; k < m; k++) is_int &= isfinite(cols[c][k]) != 0;
        rc = gr_file_set_table_column(comm, o.data, "pairs", names[c], m, cols[c], is_int);
        rc = gr_agree(comm, rc);
    }
    if (!rc && rank == 0 && !gr_quiet) {
        printf("wrote pairs columns");
        for (int c = 0; c < ncol; c++) printf(" %s", names[c]);
        printf(" to %s\n", o.data);
    }
    for (int c = 0; c < ncol; c++) free(cols[c]);
    free(exp); free(imp); free(treated);
    return gr_report(rc);
}
