/* estimate.c: `gravrd estimate`: load the columns a model needs from the panel (rows stay where the
 * exporter partition put them), build each estimation sample (--where, --split/--fsplit), fit it
 * (ols.c) and print the table / write JSON (report.c). */
#include "columns.h"
#include "commands.h"
#include "expr.h"
#include "formula.h"
#include "ols.h"
#include "panel.h"
#include "report.h"
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: gravrd estimate --data FILE.h5 --formula 'y ~ x1 + log(x2) | fe1 + fe2^fe3' [options]\n"
    "\n"
    "Fixed-effects OLS (fixest conventions). Outcomes: y or c(y1, y2, ...), estimated with one shared\n"
    "demeaning pass. Regressors: columns, log(x), log1p(x), x:z, I(expr). Fixed effects after '|', a^b\n"
    "for combinations. Without --vcov: clustered by --cluster if given, else by the first fixed effect\n"
    "(fixest's default), else iid.\n"
    "\n"
    "options:\n"
    "  --data FILE          panel file (gravrd format)\n"
    "  --formula TEXT       model formula\n"
    "  --cluster A[,B]      cluster variable(s): one- or two-way\n"
    "  --vcov TYPE          iid | hc1 (alias hetero) | cluster\n"
    "  --where EXPR         keep rows where EXPR is true (e.g. 'dir == 1 && control_type != 2')\n"
    "  --split COL          one model per value of COL\n"
    "  --fsplit COL         the full sample, then one model per value of COL\n"
    "  --fixef-rm singleton remove singleton groups iteratively (default: none, like fixest <= 0.12)\n"
    "  --drop-singletons    the same as --fixef-rm singleton (reghdfe's default)\n"
    "  --fe-tol X           demeaning tolerance (default 1e-6)\n"
    "  --fe-maxiter N       demeaning iteration cap (default 10000)\n"
    "  --fe-method M        cg (default: conjugate gradient on the normal equations) | irons-tuck\n"
    "                       (Gauss-Seidel sweeps with Irons-Tuck acceleration, fixest's scheme)\n"
    "  --solver S           cholesky (default: distributed Cholesky of X'X) | qr (distributed QR of X)\n"
    "  --collin-tol X       collinearity tolerance (default 1e-10)\n"
    "  --json FILE|-        write the results as JSON\n"
    "  --title TEXT         title printed above the table\n"
    "  --quiet              no table, no warnings (errors still printed)\n"
    "  --help\n";

/* A memory figure of this process from /proc/self/status ("VmHWM:" peak, "VmRSS:" now), bytes;
 * 0 if unknown. */
static double proc_status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    size_t len = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, len)) kb = atof(line + len);
    fclose(f);
    return kb * 1024.0;
}

static int split_csv(const char *s, char out[][GR_NAME_MAX], int max)
{
    int n = 0;
    const char *p = s;
    while (*p && n < max) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 0 || len >= GR_NAME_MAX) return -1;
        memcpy(out[n], p, len);
        out[n++][len] = 0;
        if (!q) break;
        p = q + 1;
    }
    return (*p && !strchr(p, ',')) || n > 0 ? n : -1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Collective: sorted distinct finite values of v over all ranks. */
static int distinct_values(MPI_Comm comm, int64_t n, const double *v, double **out)
{
    int P;
    MPI_Comm_size(comm, &P);
    double *loc = gr_malloc((size_t)(n ? n : 1), sizeof *loc);
    int m = 0;
    for (int64_t i = 0; i < n; i++) if (isfinite(v[i])) loc[m++] = v[i];
    qsort(loc, (size_t)m, sizeof *loc, cmp_d);
    int u = 0;
    for (int i = 0; i < m; i++) if (u == 0 || loc[i] != loc[u - 1]) loc[u++] = loc[i];
    int *cnt = gr_malloc((size_t)P, sizeof *cnt), *dis = gr_malloc((size_t)P, sizeof *dis);
    MPI_Allgather(&u, 1, MPI_INT, cnt, 1, MPI_INT, comm);
    int tot = 0;
    for (int r = 0; r < P; r++) { dis[r] = tot; tot += cnt[r]; }
    double *all = gr_malloc((size_t)(tot ? tot : 1), sizeof *all);
    MPI_Allgatherv(loc, u, MPI_DOUBLE, all, cnt, dis, MPI_DOUBLE, comm);
    qsort(all, (size_t)tot, sizeof *all, cmp_d);
    int k = 0;
    for (int i = 0; i < tot; i++) if (k == 0 || all[i] != all[k - 1]) all[k++] = all[i];
    free(loc); free(cnt); free(dis);
    *out = all;
    return k;
}

/* What the estimate command evaluates on the rows, in this order. */
enum { IT_Y, IT_X, IT_FE, IT_CL, IT_WHERE, IT_SPLIT };

/* The column names item (kind, j) reads; a new array of *n borrowed strings (caller frees the array). */
static const char **item_names(const gr_formula *f, const gr_expr *where, char clnames[][GR_NAME_MAX],
                               const char *split, int kind, int j, int *n)
{
    int cap = 8, m = 0;
    const char **out = gr_malloc((size_t)cap, sizeof *out);
#define PUSH(s) do { if (m == cap) out = gr_realloc(out, (size_t)(cap *= 2), sizeof *out); out[m++] = (s); } while (0)
    switch (kind) {
    case IT_Y:
        for (int q = 0; q < gr_expr_ncolumns(f->y[j]); q++) PUSH(gr_expr_column(f->y[j], q));
        break;
    case IT_X:
        for (int r = 0; r < f->x[j].nfactors; r++)
            for (int q = 0; q < gr_expr_ncolumns(f->x[j].factors[r]); q++) PUSH(gr_expr_column(f->x[j].factors[r], q));
        break;
    case IT_FE:
        for (int q = 0; q < f->fe[j].nvars; q++) PUSH(f->fe[j].vars[q]);
        break;
    case IT_CL: PUSH(clnames[j]); break;
    case IT_WHERE:
        for (int q = 0; q < gr_expr_ncolumns(where); q++) PUSH(gr_expr_column(where, q));
        break;
    default: PUSH(split); break;
    }
#undef PUSH
    *n = m;
    return out;
}

typedef struct {
    const char *data, *formula, *cluster, *where, *split, *json, *title;
    int fsplit;
    gr_fit_opts fit;
    int vcov_set;
} est_opts;

static int parse_options(int argc, char **argv, est_opts *o, int rank)
{
    static const struct option longopts[] = {
        {"data", required_argument, 0, 'd'}, {"formula", required_argument, 0, 'f'},
        {"cluster", required_argument, 0, 'c'}, {"vcov", required_argument, 0, 'v'},
        {"where", required_argument, 0, 'w'}, {"split", required_argument, 0, 's'},
        {"fsplit", required_argument, 0, 'S'}, {"json", required_argument, 0, 'j'},
        {"fe-tol", required_argument, 0, 't'}, {"fe-maxiter", required_argument, 0, 'm'},
        {"fixef-rm", required_argument, 0, 'r'}, {"drop-singletons", no_argument, 0, 'D'},
        {"fe-method", required_argument, 0, 'M'}, {"solver", required_argument, 0, 'L'},
{"collin-tol", required_argument, 0, 'T'},
        {"title", required_argument, 0, 'i'}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->fit = (gr_fit_opts){.fe_tol = 1e-6, .fe_maxiter = 10000, .solver = GR_SOLVER_CHOL, .collin_tol = 1e-10};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        long lv;
        double dv;
        switch (c) {
        case 'd': o->data = optarg; break;
        case 'f': o->formula = optarg; break;
        case 'c': o->cluster = optarg; break;
        case 'w': o->where = optarg; break;
        case 's': o->split = optarg; o->fsplit = 0; break;
        case 'S': o->split = optarg; o->fsplit = 1; break;
        case 'j': o->json = optarg; break;
        case 'i': o->title = optarg; break;
        case 'q': gr_quiet = 1; break;
        case 'v':
            o->vcov_set = 1;
            if (!strcmp(optarg, "iid")) o->fit.vcov = GR_VCOV_IID;
            else if (!strcmp(optarg, "hc1") || !strcmp(optarg, "hetero")) o->fit.vcov = GR_VCOV_HC1;
            else if (!strcmp(optarg, "cluster")) o->fit.vcov = GR_VCOV_CLUSTER;
            else return gr_fail(GR_EUSAGE, "--vcov", "expected iid, hc1 or cluster, got '%s'", optarg);
            break;
        case 't':
            if (gr_parse_double(optarg, &dv) || !(dv > 0)) return gr_fail(GR_EUSAGE, "--fe-tol", "expected a positive number, got '%s'", optarg);
            o->fit.fe_tol = dv;
            break;
        case 'T':
            if (gr_parse_double(optarg, &dv) || !(dv > 0)) return gr_fail(GR_EUSAGE, "--collin-tol", "expected a positive number, got '%s'", optarg);
            o->fit.collin_tol = dv;
            break;
        case 'm':
            if (gr_parse_long(optarg, 1, 100000000, &lv)) return gr_fail(GR_EUSAGE, "--fe-maxiter", "expected a positive integer, got '%s'", optarg);
            o->fit.fe_maxiter = (int)lv;
            break;
        case 'r':
            if (!strcmp(optarg, "singleton")) o->fit.rm_singletons = 1;
            else if (!strcmp(optarg, "none")) o->fit.rm_singletons = 0;
            else return gr_fail(GR_EUSAGE, "--fixef-rm", "expected singleton or none, got '%s'", optarg);
            break;
        case 'D': o->fit.rm_singletons = 1; break;
        case 'M':
            if (!strcmp(optarg, "cg")) o->fit.fe_method = GR_FE_CG;
            else if (!strcmp(optarg, "irons-tuck") || !strcmp(optarg, "it")) o->fit.fe_method = GR_FE_IRONS_TUCK;
            else return gr_fail(GR_EUSAGE, "--fe-method", "expected cg or irons-tuck, got '%s'", optarg);
            break;
        case 'L':
            if (!strcmp(optarg, "cholesky") || !strcmp(optarg, "chol")) o->fit.solver = GR_SOLVER_CHOL;
            else if (!strcmp(optarg, "qr")) o->fit.solver = GR_SOLVER_QR;
            else return gr_fail(GR_EUSAGE, "--solver", "expected cholesky or qr, got '%s'", optarg);
            break;
        case 'h':
            if (rank == 0) fputs(usage_text, stdout);
            return -1;
        default:
            return gr_fail(GR_EUSAGE, "estimate", "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return gr_fail(GR_EUSAGE, "estimate", "unexpected argument '%s'", argv[optind]);
    if (!o->data) return gr_fail(GR_EUSAGE, "estimate", "--data FILE is required");
    if (!o->formula) return gr_fail(GR_EUSAGE, "estimate", "--formula is required");
    return GR_OK;
}

static int run(MPI_Comm comm, est_opts *o, int rank)
{
    double rss_at_start = proc_status_bytes("VmRSS:");
    gr_formula f;
    int rc = gr_formula_parse(o->formula, &f);
    if (rc) return rc;
    char clnames[2][GR_NAME_MAX];
    int ncl = 0;
    if (o->cluster) {
        ncl = split_csv(o->cluster, clnames, 2);
        if (ncl < 1 || ncl > 2 || strchr(o->cluster + strlen(clnames[0]) + (ncl > 1 ? strlen(clnames[1]) + 1 : 0), ','))
            { gr_formula_free(&f); return gr_fail(GR_EUSAGE, "--cluster", "expected one or two column names separated by a comma"); }
    }
    if (!o->vcov_set) {
        if (ncl > 0) o->fit.vcov = GR_VCOV_CLUSTER;
        else if (f.nfe > 0) { o->fit.vcov = GR_VCOV_CLUSTER; o->fit.cluster_on_fe = 1; }
        else o->fit.vcov = GR_VCOV_IID;
    } else if (o->fit.vcov == GR_VCOV_CLUSTER && ncl == 0) {
        if (f.nfe == 0) { gr_formula_free(&f); return gr_fail(GR_EUSAGE, "--vcov", "cluster needs --cluster (or a fixed effect)"); }
        o->fit.cluster_on_fe = 1;
    }
    gr_expr *where = NULL;
    if (o->where && (rc = gr_expr_parse(o->where, "--where", &where))) { gr_formula_free(&f); return rc; }
    gr_panel p;
    rc = gr_panel_open(comm, o->data, &p);
    if (rc) { gr_formula_free(&f); gr_expr_free(where); return rc; }
    gr_columns cs = {.p = &p};
    int64_t n = p.nrows;
    /* The columns are read item by item (outcomes, regressors, fixed effects, clusters, filter, split)
     * and each is freed after its last use, or handed over as it is when an item is that bare column,
     * so that the raw columns and the evaluated ones are not all held at once. */
    int nitems = f.ny + f.nx + f.nfe + ncl + 2;
    int *kind = gr_malloc((size_t)nitems, sizeof *kind), *idx = gr_malloc((size_t)nitems, sizeof *idx);
    int ni = 0;
    for (int j = 0; j < f.ny; j++) { kind[ni] = IT_Y; idx[ni++] = j; }
    for (int j = 0; j < f.nx; j++) { kind[ni] = IT_X; idx[ni++] = j; }
    for (int k = 0; k < f.nfe; k++) { kind[ni] = IT_FE; idx[ni++] = k; }
    for (int c = 0; c < ncl; c++) { kind[ni] = IT_CL; idx[ni++] = c; }
    if (where) { kind[ni] = IT_WHERE; idx[ni++] = 0; }
    if (o->split) { kind[ni] = IT_SPLIT; idx[ni++] = 0; }
    /* the column names of each item */
    int *nnm = gr_calloc((size_t)nitems, sizeof *nnm);
    const char ***nm_of = gr_calloc((size_t)nitems, sizeof *nm_of);
    for (int i = 0; i < ni; i++) nm_of[i] = item_names(&f, where, clnames, o->split, kind[i], idx[i], &nnm[i]);
    static const char *const context[] = {"formula", "formula", "formula", "--cluster", "--where", "--split"};
    /* unknown names fail before anything is read */
    for (int i = 0; i < ni && !rc; i++)
        for (int q = 0; q < nnm[i] && !rc; q++)
            if (!gr_panel_has_column(&p, nm_of[i][q]))
                rc = gr_fail(GR_EINPUT, context[kind[i]], "unknown column '%s' in %s", nm_of[i][q], p.path);
    rc = gr_agree(comm, rc);
    /* the last item that needs each column */
    int nnames = 0, maxnames = 0;
    for (int i = 0; i < ni; i++) maxnames += nnm[i];
    const char **lname = gr_malloc((size_t)(maxnames ? maxnames : 1), sizeof *lname);
    int *lastuse = gr_malloc((size_t)(maxnames ? maxnames : 1), sizeof *lastuse);
    for (int i = 0; i < ni; i++)
        for (int q = 0; q < nnm[i]; q++) {
            int at = -1;
            for (int l = 0; l < nnames; l++) if (!strcmp(lname[l], nm_of[i][q])) at = l;
            if (at < 0) { at = nnames++; lname[at] = nm_of[i][q]; }
            lastuse[at] = i;
        }
    /* evaluate everything on the local rows */
    gr_sample base = {.n = n, .ny = f.ny, .nx = f.nx, .intercept = f.intercept, .nfe = f.nfe, .ncl = ncl};
    base.y = gr_calloc((size_t)f.ny, sizeof(double *));
    base.ylabel = f.ylabel;
    base.x = gr_calloc((size_t)(f.nx ? f.nx : 1), sizeof(double *));
    base.xlabel = gr_calloc((size_t)(f.nx ? f.nx : 1), sizeof(char *));
    base.fecode = gr_calloc((size_t)(f.nfe ? f.nfe : 1), sizeof(int32_t *));
    base.fencode = gr_calloc((size_t)(f.nfe ? f.nfe : 1), sizeof(int64_t));
    base.fename = gr_calloc((size_t)(f.nfe ? f.nfe : 1), sizeof(char *));
    base.clcode = gr_calloc(2, sizeof(int32_t *));
    base.clncode = gr_calloc(2, sizeof(int64_t));
    base.clname = gr_calloc(2, sizeof(char *));
    unsigned char *keep = gr_malloc((size_t)(n ? n : 1), 1);  /* rows --where keeps */
    memset(keep, 1, (size_t)n);
    /* outcomes and regressors each in one contiguous block, so the estimator can demean them in place */
    double *yblock = gr_malloc((size_t)(n ? n : 1) * f.ny, sizeof *yblock);
    double *xblock = gr_malloc((size_t)(n ? n : 1) * (f.nx ? f.nx : 1), sizeof *xblock);
    for (int j = 0; j < f.ny; j++) base.y[j] = yblock + (size_t)j * n;
    for (int j = 0; j < f.nx; j++) base.x[j] = xblock + (size_t)j * n;
    for (int j = 0; j < f.nx; j++) base.xlabel[j] = f.x[j].label;
    for (int k = 0; k < f.nfe; k++) base.fename[k] = f.fe[k].label;
    for (int c = 0; c < ncl; c++) base.clname[c] = clnames[c];
    double *splitcol = NULL, t_eval = 0;
    double t_read = 0;  /* seconds in the panel reads of the items below */
    for (int i = 0; i < ni && !rc; i++) {
        double ta = gr_now(), read_before = p.t_read;
        /* outcomes, regressors, fixed effects and clusters read what they need themselves (pair-level
         * terms and keys are worked out once per pair, integer columns read as integers) */
        int self_reading = kind[i] == IT_Y || kind[i] == IT_X || kind[i] == IT_FE || kind[i] == IT_CL;
        for (int q = 0; q < nnm[i] && !rc && !self_reading; q++) rc = gr_columns_load(&cs, nm_of[i][q], context[kind[i]]);
        rc = gr_agree(comm, rc);
        if (rc) break;
        /* a bare column used for the last time is handed over instead of copied */
        const char *bare = kind[i] == IT_SPLIT ? o->split : NULL;
        int last = 0;
        for (int l = 0; bare && l < nnames; l++) if (!strcmp(lname[l], bare)) last = lastuse[l] == i;
        double *taken = bare && last ? gr_columns_take(&cs, bare) : NULL;
        double *out = taken;
        if (!out && kind[i] == IT_SPLIT) out = gr_malloc((size_t)(n ? n : 1), sizeof *out);
        switch (kind[i]) {
        case IT_Y:
            rc = gr_columns_eval_rows(&cs, f.y[idx[i]], base.y[idx[i]], context[kind[i]]);
            break;
        case IT_X: {
            double *dst = base.x[idx[i]];
            double *tmp = f.x[idx[i]].nfactors > 1 ? gr_malloc((size_t)(n ? n : 1), sizeof *tmp) : NULL;
            for (int q = 0; q < f.x[idx[i]].nfactors && !rc; q++) {
                rc = gr_columns_eval_rows(&cs, f.x[idx[i]].factors[q], q == 0 ? dst : tmp, context[kind[i]]);
                if (q > 0) for (int64_t r = 0; r < n; r++) dst[r] *= tmp[r];
            }
            free(tmp);
            break;
        }
        case IT_FE:
            base.fecode[idx[i]] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
            rc = gr_columns_codes(comm, &cs, f.fe[idx[i]].nvars, f.fe[idx[i]].vars, base.fecode[idx[i]],
                                  &base.fencode[idx[i]]);
            break;
        case IT_CL:
            base.clcode[idx[i]] = gr_malloc((size_t)(n ? n : 1), sizeof(int32_t));
            {
                char *clvar[1] = {clnames[idx[i]]};
                rc = gr_columns_codes(comm, &cs, 1, clvar, base.clcode[idx[i]], &base.clncode[idx[i]]);
            }
            break;
        case IT_WHERE:
            {
                double *w = gr_malloc((size_t)(n ? n : 1), sizeof *w);
                rc = gr_columns_eval(&cs, where, w);
                for (int64_t r = 0; r < n; r++) keep[r] = isfinite(w[r]) && w[r] != 0;
                free(w);
            }
            break;
        default:
            if (!taken) memcpy(out, gr_columns_get(&cs, o->split), (size_t)n * sizeof *out);
            splitcol = out;
            break;
        }
        /* free the columns no later item needs */
        for (int l = 0; l < nnames; l++) if (lastuse[l] == i) gr_columns_drop(&cs, lname[l]);
        t_read += p.t_read - read_before;
        t_eval += gr_now() - ta - (p.t_read - read_before);
    }
    for (int i = 0; i < ni; i++) free(nm_of[i]);
    free(nm_of); free(nnm); free(kind); free(idx); free(lname); free(lastuse);
    rc = gr_agree(comm, rc);
    double t_prepare = t_eval;  /* evaluating terms, keys and filters (reading apart) */
    /* samples: full (unless --split), then one per split value */
    int nvals = 0;
    double *vals = NULL;
    int ncols_loaded = cs.n;
    gr_columns_free(&cs);  /* nothing is left: every column was freed after its last use */
    if (splitcol) {
        double *kept = gr_malloc((size_t)(n ? n : 1), sizeof *kept);
        for (int64_t i = 0; i < n; i++) kept[i] = keep[i] != 0 ? splitcol[i] : NAN;
        nvals = distinct_values(comm, n, kept, &vals);
        free(kept);
    }
    if (!rc && o->split && nvals == 0) rc = gr_fail(GR_EINPUT, o->split, "split column has no values");
    int nsamples = o->split ? nvals + (o->fsplit ? 1 : 0) : 1;
    gr_result *all = gr_calloc((size_t)nsamples * f.ny + 1, sizeof *all);
    int nres = 0;
    int64_t kept_where = 0;
    for (int64_t i = 0; i < n; i++) kept_where += keep[i] != 0;
    MPI_Allreduce(MPI_IN_PLACE, &kept_where, 1, MPI_INT64_T, MPI_SUM, comm);
    if (!rc && kept_where == 0) rc = gr_fail(GR_EINPUT, "--where", "no rows satisfy '%s'", o->where);
    int nlab = 0;
    char **labs = o->split ? gr_panel_labels(&p, o->split, &nlab) : NULL;
    for (int sidx = 0; sidx < nsamples && !rc; sidx++) {
        int full = !o->split || (o->fsplit && sidx == 0);
        double val = full ? 0 : vals[sidx - (o->fsplit ? 1 : 0)];
        char label[160];
        if (full) snprintf(label, sizeof label, "Full sample");
        else if (labs && val >= 0 && val < nlab && val == floor(val)) snprintf(label, sizeof label, "%s", labs[(int)val]);
        else snprintf(label, sizeof label, "%s = %g", o->split, val);
        /* compact the rows of this sample (the evaluated columns themselves when it has every row) */
        gr_sample s = base;
        s.label = label;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) if (keep[i] != 0 && (full || splitcol[i] == val)) m++;
        s.n = m;
        int copy = m != n;
        double **bufs[2] = {NULL, NULL};
        int32_t **ibufs[2] = {NULL, NULL};
        int cnt[2] = {f.ny, f.nx}, icnt[2] = {f.nfe, ncl};
        if (copy) {
            bufs[0] = s.y = gr_malloc((size_t)f.ny, sizeof(double *));
            bufs[1] = s.x = gr_malloc((size_t)(f.nx ? f.nx : 1), sizeof(double *));
            ibufs[0] = s.fecode = gr_malloc((size_t)(f.nfe ? f.nfe : 1), sizeof(int32_t *));
            ibufs[1] = s.clcode = gr_malloc(2, sizeof(int32_t *));
            double **src[2] = {base.y, base.x};
            int32_t **isrc[2] = {base.fecode, base.clcode};
            for (int b = 0; b < 2; b++)
                for (int j = 0; j < cnt[b]; j++) {
                    bufs[b][j] = gr_malloc((size_t)(m ? m : 1), sizeof(double));
                    int64_t q = 0;
                    for (int64_t i = 0; i < n; i++)
                        if (keep[i] != 0 && (full || splitcol[i] == val)) bufs[b][j][q++] = src[b][j][i];
                }
            for (int b = 0; b < 2; b++)
                for (int j = 0; j < icnt[b]; j++) {
                    ibufs[b][j] = gr_malloc((size_t)(m ? m : 1), sizeof(int32_t));
                    int64_t q = 0;
                    for (int64_t i = 0; i < n; i++)
                        if (keep[i] != 0 && (full || splitcol[i] == val)) ibufs[b][j][q++] = isrc[b][j][i];
                }
        }
        s.consumable = !copy && nsamples == 1;  /* base is not needed after this fit */
        gr_result *res = NULL;
        rc = gr_ols_run(comm, &s, &o->fit, &res);
        for (int b = 0; b < 2 && copy; b++) {
            for (int j = 0; j < cnt[b]; j++) free(bufs[b][j]);
            for (int j = 0; j < icnt[b]; j++) free(ibufs[b][j]);  /* NULL where the estimator took them */
            free(bufs[b]); free(ibufs[b]);
        }
        if (rc) break;
        /* outcome-major order, as in the study's tables: y1 by sample, then y2 by sample */
        for (int j = 0; j < f.ny; j++) { res[j].t_read = t_read; res[j].t_prepare = t_prepare; all[j * nsamples + sidx] = res[j]; nres++; }
        free(res);
    }
    rc = gr_agree(comm, rc);
    /* memory: peak resident set above the start of the command, against the bytes of the columns
     * and indices the model holds per row: outcomes and regressors (doubles); the pair index, the
     * level ids of each fixed effect and the cluster ids (int32); apart, the replicated cities and pairs
     * tables every rank holds (doubles) */
    (void)ncols_loaded;
    double mem_peak = proc_status_bytes("VmHWM:") - rss_at_start,
           mem_data = (double)n * (8.0 * (f.ny + f.nx) + 4.0 * (1 + f.nfe + ncl)),
           mem_tables = 8.0 * ((double)p.cities.nrows * p.cities.ncols + (double)p.pairs.nrows * p.pairs.ncols);
    MPI_Allreduce(MPI_IN_PLACE, &mem_peak, 1, MPI_DOUBLE, MPI_MAX, comm);
    MPI_Allreduce(MPI_IN_PLACE, &mem_data, 1, MPI_DOUBLE, MPI_MAX, comm);
    if (!rc && rank == 0) {
        if (!gr_quiet) gr_print_table(stdout, all, nres, o->title);
        if (o->json) {
            cJSON *root;
            if (nres == 1) root = gr_result_json(&all[0]);
            else {
                root = cJSON_CreateObject();
                cJSON *arr = cJSON_AddArrayToObject(root, "results");
                for (int r = 0; r < nres; r++) cJSON_AddItemToArray(arr, gr_result_json(&all[r]));
            }
            cJSON *mem = cJSON_AddObjectToObject(root, "memory");
            cJSON_AddNumberToObject(mem, "peak_rss_above_start_bytes_max_rank", mem_peak);
            cJSON_AddNumberToObject(mem, "data_bytes_max_rank", mem_data);
            cJSON_AddNumberToObject(mem, "replicated_table_bytes", mem_tables);
            cJSON_AddStringToObject(root, "formula", o->formula);
            cJSON_AddStringToObject(root, "data", o->data);
            cJSON_AddStringToObject(root, "provenance", gr_provenance(comm));
            rc = gr_write_json(o->json, root);
            cJSON_Delete(root);
        }
    }
    if (rank != 0 && !rc && o->json) (void)0;
    rc = gr_agree(comm, rc);
    for (int r = 0; r < nres; r++) gr_result_free(&all[r]);
    free(all); free(vals); free(keep); free(splitcol);
    free(yblock);
    free(xblock);
    for (int k = 0; k < f.nfe; k++) free(base.fecode[k]);  /* NULL where the estimator took them */
    for (int c = 0; c < ncl; c++) free(base.clcode[c]);
    free(base.y); free(base.x); free(base.xlabel); free(base.fecode); free(base.fencode); free(base.fename);
    free(base.clcode); free(base.clncode); free(base.clname);
    gr_columns_free(&cs);
    gr_panel_close(&p);
    gr_formula_free(&f);
    gr_expr_free(where);
    return rc;
}

int cmd_estimate(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    est_opts o;
    int rc = parse_options(argc, argv, &o, rank);
    if (rc == -1) return 0;
    if (rc) return gr_report(gr_agree(comm, rc));
    rc = gr_agree(comm, run(comm, &o, rank)); /* one message, from the lowest failing rank */
    return gr_report(rc);
}
