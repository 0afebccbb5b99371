/* grid_run.c: running a grid (grid_run.h): tasks and units, task groups, the hand-out counter, the
 * specifications run through specrun.h on each group's caching frame, records to the one writer, the
 * progress line, the summary and the manifest. */
#include "grid_run.h"
#include "absorber.h"
#include "cleanup.h"
#include "commands.h"
#include "frame.h"
#include "grid_out.h"
#include "panel.h"
#include "pairshort.h"
#include "pool.h"
#include "specrun.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { TAG_MSG = 7301 };

/* Specifications estimated as one model: they differ only in their outcomes. */
typedef struct { int nspec; int *spec; double cost; } task;
/* Tasks on the same sample (where clause): handed out together to one group, in sequence. */
typedef struct { int ntask; task *t; double cost; int first; int pool; } unit;  /* pool: share absorbers (pool.h) */

/* The work one group has done (sent to world rank 0 at the end). */
typedef struct { double ok, failed, setups, columns, scratch, reused, shortcut; } work;

typedef struct {
    MPI_Comm world, comm;       /* the world and this rank's task group */
    int wrank, wsize, grank, ngroups;
    gr_grid *g;
    const gr_grid_run_opts *o;
    char (*hash)[17];           /* spec hash of every specification */
    gr_panel p;
    gr_frame base;              /* every row of the panel, caching what the specifications evaluate */
    MPI_Win win;                /* the hand-out counter, on world rank 0 */
    int64_t *counter;
    int nunits, ntasks;
    unit *units;
    long long id[3];            /* the panel's size, modification time and rows */
    work w;                     /* this group's (meaningful on its leader) */
    int fatal;                  /* a status that stops the run */
    /* leader: records in flight to rank 0 */
    int nsend, capsend;
    MPI_Request *req;
    char **sendbuf;
    /* rank 0: the writer and the progress line */
    gr_grid_out out;
    int write_rc, appended, ntodo, groups_done;
    work total;
    double t_start, t_progress;
    int quiet;                  /* --quiet: no progress line, no summary */
} runner;

/* ---------------- specification hashes ---------------- */

/* Local. The panel's identity: size and modification time (rank 0 stats it; broadcast), rows. */
static void data_identity(runner *R, long long id[3])
{
    id[0] = id[1] = 0;
    struct stat st;
    if (R->wrank == 0 && stat(R->g->data, &st) == 0) { id[0] = (long long)st.st_size; id[1] = (long long)st.st_mtime; }
    MPI_Bcast(id, 2, MPI_LONG_LONG, 0, R->world);
    id[2] = (long long)R->p.nrows_total;
}

/* Local. The spec hash: FNV-1a of the id's canonical text, then the data file and its identity. */
static void spec_hashes(runner *R)
{
    long long *id = R->id;
    data_identity(R, id);
    R->hash = gr_calloc((size_t)(R->g->nspecs ? R->g->nspecs : 1), sizeof *R->hash);
    char *buf = gr_malloc(16384, 1);
    for (int i = 0; i < R->g->nspecs; i++) {
        gr_grid_canonical(&R->g->specs[i], buf, 12288);
        size_t n = strlen(buf);
        snprintf(buf + n, 16384 - n, "data=%s\nsize=%lld\nmtime=%lld\nrows=%lld\n", R->g->data, id[0], id[1], id[2]);
        snprintf(R->hash[i], 17, "%016llx", (unsigned long long)gr_grid_hash(buf));
    }
    free(buf);
}

/* ---------------- tasks and units ---------------- */

/* The settings of s other than its outcomes, as one text: specifications with equal keys are one model. */
static char *model_key(const gr_grid_spec *s)
{
    if (s->command != GR_GRID_CMD_ESTIMATE) {  /* a command runs whole: a task of its own */
        char *key = gr_malloc(48, 1);
        snprintf(key, 48, "command %d", s->index);
        return key;
    }
    size_t len = 64;
    for (int k = 0; k < GR_GRID_NKEYS; k++) len += (s->text[k] ? strlen(s->text[k]) : 0) + 2;
    char *key = gr_malloc(len, 1);
    size_t n = 0;
    for (int k = 0; k < GR_GRID_NKEYS; k++) {
        const char *t = s->text[k] ? s->text[k] : "";
        if (k == GR_GRID_FORMULA && strstr(t, " ~ ")) t = strstr(t, " ~ ");  /* the canonical "y ~ rhs" */
        n += (size_t)snprintf(key + n, len - n, "%s\x1f", t);
    }
    return key;
}

static int shares_outcome(const gr_grid *g, const task *t, const gr_grid_spec *s)
{
    for (int i = 0; i < t->nspec; i++) {
        const gr_formula *f = &g->specs[t->spec[i]].spec.f;
        for (int a = 0; a < f->ny; a++)
            for (int b = 0; b < s->spec.f.ny; b++)
                if (!strcmp(f->ylabel[a], s->spec.f.ylabel[b])) return 1;
    }
    return 0;
}

/* Relative cost, for the largest-first order: columns demeaned, times the samples of a split, over the
 * where clauses that narrow the sample (a heuristic: the rows are not known before the groups read them). */
static double spec_cost(const gr_grid_spec *s)
{
    double cols = s->spec.f.ny + s->spec.f.nx, samples = s->spec.split ? (s->spec.fsplit ? 3 : 2) : 1;
    return cols * samples / (1.0 + s->nwhere);
}

/* What decides a model's absorber besides its rows: the fixed effects, weights, split and demeaning options
 * of the task's first specification (the formula's part after '|'). */
static char *absorber_key(const gr_grid_spec *s)
{
    const char *f = s->text[GR_GRID_FORMULA] ? s->text[GR_GRID_FORMULA] : "", *bar = strstr(f, " | ");
    static const int k[] = {GR_GRID_WEIGHTS, GR_GRID_SPLIT, GR_GRID_FSPLIT, GR_GRID_FIXEF_RM, GR_GRID_FE_TOL,
                            GR_GRID_FE_MAXITER, GR_GRID_FE_METHOD};
    size_t len = strlen(bar ? bar : "") + 16;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) len += (s->text[k[i]] ? strlen(s->text[k[i]]) : 0) + 1;
    char *key = gr_malloc(len, 1);
    size_t n = (size_t)snprintf(key, len, "%s", bar ? bar : "");
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        n += (size_t)snprintf(key + n, len - n, "\x1f%s", s->text[k[i]] ? s->text[k[i]] : "");
    return key;
}

static const gr_grid *sort_grid;  /* qsort has no context argument */
static int cmp_task(const void *a, const void *b)
{
    const task *x = a, *y = b;
    char *kx = absorber_key(&sort_grid->specs[x->spec[0]]), *ky = absorber_key(&sort_grid->specs[y->spec[0]]);
    int c = strcmp(kx, ky);
    free(kx);
    free(ky);
    return c ? c : (x->spec[0] > y->spec[0]) - (x->spec[0] < y->spec[0]);
}

/* Sort the unit's tasks so that those with one absorber follow each other; 1 if two of them share one. */
static int unit_shares_absorbers(const gr_grid *g, unit *u)
{
    sort_grid = g;
    qsort(u->t, (size_t)u->ntask, sizeof *u->t, cmp_task);
    int shared = 0;
    for (int t = 1; t < u->ntask && !shared; t++) {
        char *a = absorber_key(&g->specs[u->t[t - 1].spec[0]]), *b = absorber_key(&g->specs[u->t[t].spec[0]]);
        shared = !strcmp(a, b);
        free(a);
        free(b);
    }
    return shared;
}

static int cmp_unit(const void *a, const void *b)
{
    const unit *x = a, *y = b;
    if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
    return (x->first > y->first) - (x->first < y->first);
}

/* Local (the same on every rank). The specifications marked in todo, as tasks (merged when o->merge),
 * grouped into units by where clause, sorted largest first. */
static void build_units(runner *R, const unsigned char *todo)
{
    const gr_grid *g = R->g;
    task *tasks = gr_calloc((size_t)g->nspecs + 1, sizeof *tasks);
    char **tkey = gr_calloc((size_t)g->nspecs + 1, sizeof *tkey);
    int ntasks = 0;
    for (int i = 0; i < g->nspecs; i++) {
        if (!todo[i]) continue;
        char *key = model_key(&g->specs[i]);
        int t = 0;
        while (R->o->merge && t < ntasks && (strcmp(tkey[t], key) || shares_outcome(g, &tasks[t], &g->specs[i]))) t++;
        if (!R->o->merge || t == ntasks) { t = ntasks++; tkey[t] = key; tasks[t].spec = gr_calloc((size_t)g->nspecs, sizeof(int)); }
        else free(key);
        tasks[t].spec[tasks[t].nspec++] = i;
        tasks[t].cost += spec_cost(&g->specs[i]);
    }
    R->units = gr_calloc((size_t)ntasks + 1, sizeof *R->units);
    R->nunits = 0;
    for (int t = 0; t < ntasks; t++) {
        const char *w = g->specs[tasks[t].spec[0]].text[GR_GRID_WHERE];
        int u = g->specs[tasks[t].spec[0]].command != GR_GRID_CMD_ESTIMATE ? R->nunits : 0;
        while (u < R->nunits) {
            const char *wu = g->specs[R->units[u].t[0].spec[0]].text[GR_GRID_WHERE];
            if ((!w && !wu) || (w && wu && !strcmp(w, wu))) break;
            u++;
        }
        if (u == R->nunits) { R->nunits++; R->units[u].t = gr_calloc((size_t)ntasks, sizeof(task)); R->units[u].first = tasks[t].spec[0]; }
        R->units[u].t[R->units[u].ntask++] = tasks[t];
        R->ntasks++;
        R->units[u].cost += tasks[t].cost;
    }
    qsort(R->units, (size_t)R->nunits, sizeof *R->units, cmp_unit);
    for (int u = 0; u < R->nunits; u++) R->units[u].pool = R->o->merge && unit_shares_absorbers(g, &R->units[u]);
    for (int t = 0; t < ntasks; t++) free(tkey[t]);
    free(tkey);
    free(tasks);
}

static void free_units(runner *R)
{
    for (int u = 0; u < R->nunits; u++) {
        for (int t = 0; t < R->units[u].ntask; t++) free(R->units[u].t[t].spec);
        free(R->units[u].t);
    }
    free(R->units);
}

/* ---------------- the writer (world rank 0) and the progress line ---------------- */

static void progress(runner *R, int last)
{
    if (R->quiet || R->wrank != 0) return;
    double now = gr_now(), el = now - R->t_start;
    int tty = isatty(STDERR_FILENO);
    if (!last && now - R->t_progress < (tty ? 0.2 : R->o->progress_seconds)) return;
    if (last && !tty && R->t_progress == R->t_start) return;  /* short runs: the summary says it all */
    R->t_progress = now;
    double rate = el > 0 ? R->appended / el : 0, left = rate > 0 ? (R->ntodo - R->appended) / rate : 0;
    fprintf(stderr, "%sgrid: %d/%d done, %.1f/s, %.1f s elapsed, about %.0f s left%s", tty ? "\r" : "",
            R->appended, R->ntodo, rate, el, left, tty && !last ? "" : "\n");
    fflush(stderr);
}

/* Rank 0: append a record (a write failure stops the hand-out: it is fatal). */
static void write_record(runner *R, const char *text)
{
    if (!R->write_rc) R->write_rc = gr_grid_out_append(&R->out, text);
    R->appended++;
    progress(R, 0);
}

/* Rank 0: one message from a group leader: 'R' + record, or 'D' + the group's work. */
static void handle(runner *R, const char *msg)
{
    if (msg[0] == 'R') { write_record(R, msg + 1); return; }
    work w;
    if (sscanf(msg + 1, "%lf %lf %lf %lf %lf %lf %lf", &w.ok, &w.failed, &w.setups, &w.columns, &w.scratch, &w.reused,
               &w.shortcut) == 7) {
        R->total.ok += w.ok; R->total.failed += w.failed; R->total.setups += w.setups;
        R->total.columns += w.columns; R->total.scratch += w.scratch; R->total.reused += w.reused;
        R->total.shortcut += w.shortcut;
    }
    R->groups_done++;
}

/* Rank 0: receive what has arrived (block: until every other group has said it is done). */
static void drain(runner *R, int block)
{
    for (;;) {
        int flag = 1, len;
        MPI_Status st;
        if (block && R->groups_done >= R->ngroups) return;  /* its own group's included */
        if (block) MPI_Probe(MPI_ANY_SOURCE, TAG_MSG, R->world, &st);
        else MPI_Iprobe(MPI_ANY_SOURCE, TAG_MSG, R->world, &flag, &st);
        if (!flag) return;
        MPI_Get_count(&st, MPI_CHAR, &len);
        char *msg = gr_malloc((size_t)len + 1, 1);
        MPI_Recv(msg, len, MPI_CHAR, st.MPI_SOURCE, TAG_MSG, R->world, MPI_STATUS_IGNORE);
        msg[len] = 0;
        handle(R, msg);
        free(msg);
    }
}

/* Group leader: hand a message to rank 0 (kept until sent; rank 0 receives between its own tasks). */
static void send_msg(runner *R, char kind, const char *text)
{
    size_t len = strlen(text) + 2;
    char *buf = gr_malloc(len, 1);
    buf[0] = kind;
    memcpy(buf + 1, text, len - 1);
    if (R->wrank == 0) { handle(R, buf); free(buf); return; }
    if (R->nsend == R->capsend) {
        R->capsend = R->capsend ? 2 * R->capsend : 64;
        R->req = gr_realloc(R->req, (size_t)R->capsend, sizeof *R->req);
        R->sendbuf = gr_realloc(R->sendbuf, (size_t)R->capsend, sizeof *R->sendbuf);
    }
    R->sendbuf[R->nsend] = buf;
    MPI_Isend(buf, (int)(len - 1), MPI_CHAR, 0, TAG_MSG, R->world, &R->req[R->nsend++]);  /* a record < 2 GB */
}

/* ---------------- running tasks on a group ---------------- */

/* Collective over the group. The message of the failing rank (gr_agree left it on one rank) into buf on
 * every rank; the error is then cleared. */
static void group_reason(runner *R, char *buf, size_t len)
{
    int mine = gr_errcode() != GR_OK && gr_errcode() != GR_EREMOTE && gr_errmsg()[0] ? R->grank : 1 << 30, holder;
    MPI_Allreduce(&mine, &holder, 1, MPI_INT, MPI_MIN, R->comm);
    buf[0] = 0;
    if (holder < (1 << 30)) {
        if (R->grank == holder) snprintf(buf, len, "%s", gr_errmsg());
        MPI_Bcast(buf, (int)len, MPI_CHAR, holder, R->comm);
    }
    gr_clear_error();
}

/* A specification failed in a way that is its own (no rows, collinear, no convergence) and not the run's. */
static int task_failure(int rc) { return rc == GR_EINPUT || rc == GR_ENUM || rc == GR_EUSAGE; }

/* Leader: the records of the specifications of a task: each gets its outcomes' results, or the reason. */
static void emit(runner *R, const task *t, const gr_result *res, int nres, const char *reason)
{
    int ny = 0;
    for (int i = 0; i < t->nspec; i++) ny += R->g->specs[t->spec[i]].spec.f.ny;
    int ns = ny ? nres / ny : 0, off = 0;
    for (int i = 0; i < t->nspec; i++) {
        const gr_grid_spec *s = &R->g->specs[t->spec[i]];
        char *rec = gr_grid_record(R->g, s, R->hash[t->spec[i]],
                                   reason ? NULL : gr_grid_results_json(res + (size_t)off * ns, s->spec.f.ny * ns), reason);
        send_msg(R, 'R', rec);
        free(rec);
        off += s->spec.f.ny;
        if (reason) R->w.failed++; else R->w.ok++;
        if (!reason && s->spec.f.nfe > 0) R->w.scratch += (double)ns * (s->spec.f.ny + s->spec.f.nx);
    }
}

/* Leader: the record of a command specification. */
static void emit_command(runner *R, const task *t, cJSON *results, const char *reason)
{
    char *rec = gr_grid_record(R->g, &R->g->specs[t->spec[0]], R->hash[t->spec[0]], results, reason);
    send_msg(R, 'R', rec);
    free(rec);
    if (reason) R->w.failed++; else R->w.ok++;
}

/* The model of task t: its one specification, or a copy whose formula has every outcome of the task. */
static int task_spec(const gr_grid *g, const task *t, gr_spec *m, char **formula)
{
    const gr_spec *s0 = &g->specs[t->spec[0]].spec;
    *m = *s0;
    m->f = (gr_formula){0};
    m->where = m->weights = m->split_expr = NULL;
    size_t len = 16;
    for (int i = 0; i < t->nspec; i++)
        for (int j = 0; j < g->specs[t->spec[i]].spec.f.ny; j++) len += strlen(g->specs[t->spec[i]].spec.f.ylabel[j]) + 2;
    const char *rhs = strstr(g->specs[t->spec[0]].text[GR_GRID_FORMULA], " ~ ");
    len += strlen(rhs);
    *formula = gr_malloc(len, 1);
    size_t n = (size_t)snprintf(*formula, len, "c(");
    for (int i = 0; i < t->nspec; i++)
        for (int j = 0; j < g->specs[t->spec[i]].spec.f.ny; j++)
            n += (size_t)snprintf(*formula + n, len - n, "%s%s", n > 2 ? ", " : "", g->specs[t->spec[i]].spec.f.ylabel[j]);
    snprintf(*formula + n, len - n, ")%s", rhs);
    m->formula_text = *formula;
    return gr_spec_resolve(m);
}

/* Collective over the group. Run task t on the unit's sample; a model that fails with several outcomes is
 * run again one specification at a time, so each gets its own status. */
static void run_task(runner *R, gr_frame *sample, const task *t)
{
    gr_spec merged, *sp = &R->g->specs[t->spec[0]].spec;
    char *formula = NULL;
    int rc = GR_OK, own = t->nspec > 1;
    if (own) { rc = gr_agree(R->comm, task_spec(R->g, t, &merged, &formula)); sp = &merged; }
    gr_result *res = NULL;
    int nres = 0;
    if (!rc) rc = gr_specrun(sample, NULL, sp, &res, &nres);
    if (own) gr_spec_free(&merged);
    free(formula);
    char reason[1024];
    if (rc && t->nspec > 1 && task_failure(rc)) {
        gr_clear_error();
        for (int i = 0; i < t->nspec; i++) run_task(R, sample, &(task){1, &t->spec[i], 0});
        return;
    }
    if (rc && !task_failure(rc)) { R->fatal = rc; return; }  /* the message stays for the end */
    if (rc) group_reason(R, reason, sizeof reason);
    if (R->grank == 0) emit(R, t, res, nres, rc ? reason : NULL);
    for (int r = 0; r < nres; r++) gr_result_free(&res[r]);
    free(res);
}

/* Collective over the group. 1 if the leader has seen a stop signal (the group stops together). */
static int stop_now(runner *R)
{
    int stop = R->grank == 0 && gr_cleanup_stop_signal() != 0;
    MPI_Bcast(&stop, 1, MPI_INT, 0, R->comm);
    return stop;
}

/* ---------------- specifications that run another command (match, rdgrid) ---------------- */

/* The options text ("--name value" lines) appended to argv. */
static void add_options(char *text, char **argv, int *argc, int max)
{
    for (char *line = text, *nl; line && *line && *argc + 2 <= max; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *sp = strchr(line, ' ');
        if (sp) *sp = 0;
        argv[(*argc)++] = line;
        if (sp) argv[(*argc)++] = sp + 1;
    }
}

/* An rdgrid result (one bandwidth) as a result object of the record schema: one coefficient, "RD estimate". */
static cJSON *rd_result(const cJSON *doc, const cJSON *r)
{
    cJSON *o = cJSON_CreateObject(), *coefs = cJSON_AddArrayToObject(o, "coefficients"), *c = cJSON_CreateObject();
    const char *y = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "y"));
    double bw = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "bandwidth_km"));
    double est = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "estimate"));
    double se = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "std_error"));
    char sample[64];
    snprintf(sample, sizeof sample, "bandwidth %g km", bw);
    cJSON_AddStringToObject(o, "dependent", y ? y : "");
    cJSON_AddStringToObject(o, "sample", sample);
    cJSON_AddNumberToObject(o, "nobs", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "n_left")) +
                                       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "n_right")));
    cJSON_AddStringToObject(c, "term", "RD estimate");
    static const char *const from[] = {"estimate", "std_error", NULL, "p_value", "ci_low", "ci_high"};
    static const char *const to[] = {"estimate", "std_error", "t_value", "p_value", "conf_low", "conf_high"};
    for (int k = 0; k < 6; k++) {
        cJSON *v = from[k] ? cJSON_GetObjectItemCaseSensitive(r, from[k]) : NULL;
        if (v) cJSON_AddItemToObject(c, to[k], cJSON_Duplicate(v, 0));
        else cJSON_AddItemToObject(c, to[k], se > 0 && isfinite(est / se) ? cJSON_CreateNumber(est / se) : cJSON_CreateNull());
    }
    cJSON_AddItemToArray(coefs, c);
    cJSON *ncl = cJSON_AddArrayToObject(o, "n_clusters");
    cJSON_AddItemToArray(ncl, cJSON_CreateNumber(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "clusters_left")) +
                                                 cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "clusters_right"))));
    cJSON *cv = cJSON_AddArrayToObject(o, "cluster_vars");
    cJSON_AddItemToArray(cv, cJSON_CreateString("pair"));
    cJSON_AddStringToObject(o, "vcov", "cluster");
    cJSON_AddObjectToObject(o, "fixef_sizes");
    static const char *const keep[] = {"n_left", "n_right", "clusters_left", "clusters_right", "nearest_left_km",
                                       "nearest_right_km", "extrapolated"};
    cJSON *rd = cJSON_AddObjectToObject(o, "rd");
    for (int k = 0; k < 7; k++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(r, keep[k]);
        if (v) cJSON_AddItemToObject(rd, keep[k], cJSON_Duplicate(v, 1));
    }
    return o;
}

/* The record's result objects from the command's JSON document: match's "results" as they are (the
 * estimate schema), rdgrid's one per bandwidth (rd_result), summary's as they are (one per sample and
 * variable). */
static cJSON *command_results(gr_grid_command cmd, const cJSON *doc)
{
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "results"), *r;
    if (cmd == GR_GRID_CMD_SUMMARY) return cJSON_Duplicate(res, 1);  /* summary objects (docs/summary.md) */
    if (cmd == GR_GRID_CMD_MEDIATE) return cJSON_Duplicate(res, 1);  /* the estimate schema, with its mediation */
    if (cmd == GR_GRID_CMD_MATCH) {
        cJSON *arr = cJSON_Duplicate(res, 1);
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(doc, "matched_sample");
        cJSON_ArrayForEach(r, arr) if (ms) cJSON_AddItemToObject((cJSON *)r, "matched_sample", cJSON_Duplicate(ms, 1));
        return arr;
    }
    cJSON *arr = cJSON_CreateArray();
    cJSON_ArrayForEach(r, res) cJSON_AddItemToArray(arr, rd_result(doc, r));
    return arr;
}

typedef int cmd_fn_t(int, char **, MPI_Comm);

/* Collective over the group. Run a match / rdgrid / summary specification as the command itself (on the group's
 * communicator, its JSON into a file of the output directory, read back by the leader). */
static void run_command(runner *R, const task *t)
{
    const gr_grid_spec *s = &R->g->specs[t->spec[0]];
    char json[4400], *opts = gr_strdup(s->text[GR_GRID_OPTIONS] ? s->text[GR_GRID_OPTIONS] : "");
    snprintf(json, sizeof json, "%s/.%s.g%d.json", R->o->out, s->id, R->wrank);
    char *argv[80];
    int argc = 0;
    static const char *const name[] = {[GR_GRID_CMD_MATCH] = "match", [GR_GRID_CMD_RDGRID] = "rdgrid",
                                       [GR_GRID_CMD_SUMMARY] = "summary", [GR_GRID_CMD_MEDIATE] = "mediate"};
    static cmd_fn_t *const fn[] = {[GR_GRID_CMD_MATCH] = cmd_match, [GR_GRID_CMD_RDGRID] = cmd_rdgrid,
                                   [GR_GRID_CMD_SUMMARY] = cmd_summary, [GR_GRID_CMD_MEDIATE] = cmd_mediate};
    argv[argc++] = (char *)name[s->command];
    argv[argc++] = "--data"; argv[argc++] = R->g->data;
    if (s->text[GR_GRID_FORMULA]) { argv[argc++] = "--formula"; argv[argc++] = s->text[GR_GRID_FORMULA]; }
    if (s->text[GR_GRID_WHERE]) { argv[argc++] = "--where"; argv[argc++] = s->text[GR_GRID_WHERE]; }
    if (s->text[GR_GRID_CLUSTER]) { argv[argc++] = "--cluster"; argv[argc++] = s->text[GR_GRID_CLUSTER]; }
    add_options(opts, argv, &argc, 74);
    argv[argc++] = "--json"; argv[argc++] = json;
    argv[argc++] = "--quiet";
    argv[argc] = NULL;
    int64_t s0, c0, s1, c1;
    gr_absorber_work(&s0, &c0);
    gr_report_silent = 1;  /* the reason goes into the record */
    int st = fn[s->command](argc, argv, R->comm);
    gr_report_silent = 0;
    gr_absorber_work(&s1, &c1);
    R->w.scratch += (double)(c1 - c0);  /* a command shares nothing: what it demeaned is what it alone would */
    free(opts);
    st = gr_agree(R->comm, st ? GR_EINPUT : GR_OK);
    char reason[1024] = "";
    if (st) group_reason(R, reason, sizeof reason);
    if (R->grank != 0) return;
    cJSON *doc = NULL;
    if (!st) {
        FILE *f = fopen(json, "rb");
        char *text = NULL;
        size_t len = 0;
        if (f) { FILE *m = open_memstream(&text, &len); int c; while (m && (c = fgetc(f)) != EOF) fputc(c, m); if (m) fclose(m); fclose(f); }
        doc = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (!doc) snprintf(reason, sizeof reason, "%.900s: the command's JSON could not be read back", json);
    }
    unlink(json);
    emit_command(R, t, doc ? command_results(s->command, doc) : NULL, doc ? NULL : reason);
    cJSON_Delete(doc);
}

/* Local (the same on every rank). 1 if a model of unit u could take the pair-level shortcut (pairshort.h;
 * whether it does is decided on the data): least squares, unweighted, with fixed effects, no split (the
 * shortcut needs the sample's own rows), merged models (--no-merge runs everything from scratch), and a
 * panel with pair and month columns. */
static int unit_may_shortcut(runner *R, const unit *u)
{
    if (!R->o->merge || !gr_panel_has_column(&R->p, "pair") || !gr_panel_has_column(&R->p, "month")) return 0;
    for (int t = 0; t < u->ntask; t++) {
        const gr_spec *s = &R->g->specs[u->t[t].spec[0]].spec;
        if (s->family != GR_FAMILY_POISSON && !s->weights && s->f.nfe > 0 && !s->split && !s->offset) return 1;
    }
    return 0;
}

/* Collective over the group. The pair and month codes of the sample's rows into the pool. */
static int pool_panel_codes(gr_frame *sample, gr_pool *pool)
{
    size_t nn = (size_t)(sample->n ? sample->n : 1);
    int32_t *pair = gr_malloc(nn, sizeof *pair), *month = gr_malloc(nn, sizeof *month);
    int64_t npair = 0, nmonth = 0;
    char *pv[1] = {"pair"}, *mv[1] = {"month"};
    int rc = gr_frame_codes(sample, 1, pv, pair, &npair);
    if (!rc) rc = gr_frame_codes(sample, 1, mv, month, &nmonth);
    int64_t miss = 0;  /* a missing code (-1) anywhere: no shortcut */
    for (int64_t i = 0; i < sample->n && !rc; i++) miss += pair[i] < 0 || month[i] < 0;
    if (!rc) MPI_Allreduce(MPI_IN_PLACE, &miss, 1, MPI_INT64_T, MPI_SUM, sample->comm);
    if (!rc && !miss) {
        gr_pool_set_panel(pool, sample->n, pair, npair, month, nmonth);
        return GR_OK;
    }
    free(pair);
    free(month);
    return rc;
}

/* Collective over the group. The unit's sample (a sub-frame of the base frame on its where clause) and
 * its tasks in sequence; the sample's evaluated columns are shared by its tasks. */
static void run_unit(runner *R, const unit *u)
{
    if (R->g->specs[u->t[0].spec[0]].command != GR_GRID_CMD_ESTIMATE) { run_command(R, &u->t[0]); return; }
    const gr_spec *s = &R->g->specs[u->t[0].spec[0]].spec;
    gr_frame sub, *sample = &R->base;
    memset(&sub, 0, sizeof sub);
    int rc = GR_OK;
    if (s->where) {
        int64_t n = R->base.n;
        double *w = gr_malloc((size_t)(n ? n : 1), sizeof *w);
        unsigned char *mask = gr_malloc((size_t)(n ? n : 1), 1);
        rc = gr_frame_eval(&R->base, s->where, "where", w);
        for (int64_t i = 0; i < n && !rc; i++) mask[i] = isfinite(w[i]) && w[i] != 0;
        char label[4400];
        gr_specrun_label(s, label, sizeof label);
        if (!rc) rc = gr_frame_sub(&R->base, mask, label, &sub);
        if (!rc && sub.nobs == 0) rc = gr_fail(GR_EINPUT, "where", "no rows satisfy '%s'", s->where_text);
        rc = gr_agree(R->comm, rc);
        sub.caching = 1;
        sample = &sub;
        free(w);
        free(mask);
    }
    int shortcut = !rc && unit_may_shortcut(R, u);
    gr_pool *pool = !rc ? gr_pool_new(2, u->pool) : NULL;  /* also what models on the same rows share (pool.h) */
    if (pool && shortcut) rc = pool_panel_codes(sample, pool);
    sample->pool = pool;
    if (rc && task_failure(rc)) {
        char reason[1024];
        group_reason(R, reason, sizeof reason);
        for (int t = 0; t < u->ntask && R->grank == 0; t++) emit(R, &u->t[t], NULL, 0, reason);
    } else if (rc) {
        R->fatal = rc;
    }
    for (int t = 0; t < u->ntask && !rc && !R->fatal && !stop_now(R); t++) {
        run_task(R, sample, &u->t[t]);
        if (R->wrank == 0) drain(R, 0);
    }
    R->w.reused += (double)gr_pool_reused(pool);
    R->w.shortcut += (double)gr_pool_shortcut(pool);
    sample->pool = NULL;
    gr_pool_free(pool);
    gr_frame_free(&sub);
}

/* Collective over the group. The next unit from the counter (leader), or -1: none left, or stop. */
static int64_t next_unit(runner *R)
{
    int64_t u = -1, one = 1;
    if (R->grank == 0 && !gr_cleanup_stop_signal() && !R->fatal && !(R->wrank == 0 && R->write_rc)) {
        MPI_Fetch_and_op(&one, &u, MPI_INT64_T, 0, 0, MPI_SUM, R->win);
        MPI_Win_flush(0, R->win);
    }
    MPI_Bcast(&u, 1, MPI_INT64_T, 0, R->comm);
    return u < R->nunits ? u : -1;
}

/* ---------------- set-up, the loop, the end ---------------- */

/* Collective. Task groups of o->group_size consecutive world ranks. */
static void make_groups(runner *R)
{
    int gs = R->o->group_size < 1 ? 1 : R->o->group_size;
    if (gs > R->wsize) gs = R->wsize;
    MPI_Comm_split(R->world, R->wrank / gs, R->wrank, &R->comm);
    MPI_Comm_rank(R->comm, &R->grank);
    R->ngroups = (R->wsize + gs - 1) / gs;
}

/* Collective. Rank 0 opens the output directory and decides which specifications remain; all agree. */
static int plan_todo(runner *R, unsigned char *todo, int *resumed_failed)
{
    int rc = GR_OK;
    *resumed_failed = 0;
    if (R->wrank == 0) {
        rc = gr_grid_out_open(&R->out, R->o->out, R->o->resume);
        for (int i = 0; i < R->g->nspecs && !rc; i++) {
            int done = R->o->selected[i] ? gr_grid_out_is_done(&R->out, R->g->specs[i].id, R->hash[i]) : 0;
            todo[i] = R->o->selected[i] && !done;
            *resumed_failed += done == 2;
        }
    }
    GR_CALL(gr_agree(R->world, rc));
    MPI_Bcast(todo, R->g->nspecs, MPI_UNSIGNED_CHAR, 0, R->world);
    MPI_Bcast(resumed_failed, 1, MPI_INT, 0, R->world);
    return GR_OK;
}

/* Rank 0: the manifest. */
static cJSON *manifest(runner *R, const gr_grid_summary *sum, double t_read, double t_total)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "config", R->g->path);
    if (R->g->title) cJSON_AddStringToObject(m, "title", R->g->title);
    cJSON_AddStringToObject(m, "data", R->g->data);
    const long long *id = R->id;
    cJSON *di = cJSON_AddObjectToObject(m, "data_identity");
    cJSON_AddNumberToObject(di, "size", (double)id[0]);
    cJSON_AddNumberToObject(di, "mtime", (double)id[1]);
    cJSON_AddNumberToObject(di, "rows", (double)id[2]);
    if (R->o->provenance) cJSON_AddItemToObject(m, "provenance", R->o->provenance);
    cJSON_AddNumberToObject(m, "ranks", R->wsize);
    cJSON_AddNumberToObject(m, "group_size", R->wsize / R->ngroups + (R->wsize % R->ngroups != 0));
    cJSON_AddNumberToObject(m, "groups", R->ngroups);
    cJSON *axes = cJSON_AddArrayToObject(m, "axes");
    for (int a = 0; a < R->g->naxes; a++) {
        cJSON *ax = cJSON_CreateObject(), *vals = cJSON_AddArrayToObject(ax, "values");
        cJSON_AddStringToObject(ax, "name", R->g->axes[a].name);
        for (int v = 0; v < R->g->axes[a].nvalues; v++) cJSON_AddItemToArray(vals, cJSON_CreateString(R->g->axes[a].value_label[v]));
        cJSON_AddItemToArray(axes, ax);
    }
    cJSON_AddNumberToObject(m, "specifications", R->g->nspecs);
    cJSON_AddNumberToObject(m, "selected", sum->selected);
    cJSON_AddNumberToObject(m, "done", sum->done);
    cJSON_AddNumberToObject(m, "failed", sum->failed);
    cJSON_AddNumberToObject(m, "resumed", sum->resumed);
    cJSON_AddNumberToObject(m, "not_done", sum->not_done);
    cJSON_AddBoolToObject(m, "interrupted", sum->stop_signal != 0);
    cJSON_AddNumberToObject(m, "models", R->ntasks);
    cJSON_AddNumberToObject(m, "samples", R->nunits);
    cJSON_AddNumberToObject(m, "demeaned_columns", R->total.columns);
    cJSON_AddNumberToObject(m, "demeaned_columns_from_scratch", R->total.scratch);
    cJSON_AddNumberToObject(m, "absorber_setups", R->total.setups);
    cJSON_AddNumberToObject(m, "columns_reused", R->total.reused);
    cJSON_AddNumberToObject(m, "columns_shortcut", R->total.shortcut);
    cJSON *sec = cJSON_AddObjectToObject(m, "seconds");
    cJSON_AddNumberToObject(sec, "total", t_total);
    cJSON_AddNumberToObject(sec, "read", t_read);
    return m;
}

/* Rank 0: the summary line. */
static void summary_line(runner *R, const gr_grid_summary *sum, double t_total)
{
    if (R->quiet) return;
    fprintf(stderr, "grid: %d specifications selected: %d done (%d failed), %d from an earlier run, %d not done; "
            "%.2f s on %d rank%s (%d group%s); demeaned %.0f columns (from scratch: %.0f)%s\n",
            sum->selected, sum->done + sum->failed, sum->failed, sum->resumed, sum->not_done, t_total, R->wsize,
            R->wsize > 1 ? "s" : "", R->ngroups, R->ngroups > 1 ? "s" : "", R->total.columns, R->total.scratch,
            sum->stop_signal ? "; stopped by a signal: --resume finishes" : "");
}

/* Collective. The hand-out loop of this group, then the group's work to rank 0. */
static void work_loop(runner *R)
{
    int64_t s0, c0, s1, c1;
    gr_absorber_work(&s0, &c0);
    for (int64_t u; (u = next_unit(R)) >= 0;) {
        run_unit(R, &R->units[u]);
        if (R->fatal) break;
    }
    gr_absorber_work(&s1, &c1);
    if (getenv("GRAVRD_GRID_TRACE") && R->grank == 0)
        fprintf(stderr, "grid trace: group of world rank %d done at %.3f s\n", R->wrank, gr_now() - R->t_start);
    if (R->grank != 0) return;
    R->w.setups = (double)(s1 - s0);
    R->w.columns = (double)(c1 - c0);
    char text[256];
    snprintf(text, sizeof text, "%.0f %.0f %.0f %.0f %.0f %.0f %.0f", R->w.ok, R->w.failed, R->w.setups, R->w.columns,
             R->w.scratch, R->w.reused, R->w.shortcut);
    send_msg(R, 'D', text);
}

/* Rank 0: results.csv, the manifest, the summary. */
static int finish_outputs(runner *R, gr_grid_summary *sum, double t_read)
{
    int rc = R->write_rc, nok = 0, nfailed = 0;
    if (!rc) rc = gr_grid_out_sync(&R->out);
    if (!rc) rc = gr_grid_out_csv(&R->out, R->g, &nok, &nfailed);
    sum->done = (int)R->total.ok;
    sum->failed = (int)R->total.failed;
    sum->not_done = sum->selected - sum->resumed - sum->done - sum->failed;
    double t_total = gr_now() - R->t_start;
    progress(R, 1);
    cJSON *m = manifest(R, sum, t_read, t_total);
    if (!rc) rc = gr_grid_out_manifest(&R->out, m);
    else cJSON_Delete(m);
    summary_line(R, sum, t_total);
    return rc;
}

int gr_grid_run(MPI_Comm world, gr_grid *g, const gr_grid_run_opts *o, gr_grid_summary *sum)
{
    runner R;
    memset(&R, 0, sizeof R);
    memset(sum, 0, sizeof *sum);
    R.world = world;
    R.g = g;
    R.o = o;
    R.t_start = R.t_progress = gr_now();
    MPI_Comm_rank(world, &R.wrank);
    MPI_Comm_size(world, &R.wsize);
    make_groups(&R);
    unsigned char *todo = gr_calloc((size_t)g->nspecs + 1, 1);
    int rc = gr_agree(world, gr_panel_open_local(R.comm, g->data, &R.p));  /* balanced splits, own pairs (panel.h) */
    if (!rc) rc = gr_agree(world, gr_frame_open(R.comm, &R.p, NULL, "Full sample", &R.base));
    R.base.caching = 1;
    double t_read = gr_now() - R.t_start;
    if (!rc) { spec_hashes(&R); rc = plan_todo(&R, todo, &sum->resumed_failed); }
    for (int i = 0; i < g->nspecs && !rc; i++) { sum->selected += o->selected[i]; sum->resumed += o->selected[i] && !todo[i]; }
    if (!rc) {
        build_units(&R, todo);
        for (int i = 0; i < g->nspecs; i++) R.ntodo += todo[i];
        MPI_Win_allocate(R.wrank == 0 ? (MPI_Aint)sizeof(int64_t) : 0, sizeof(int64_t), MPI_INFO_NULL, world, &R.counter, &R.win);
        if (R.wrank == 0) *R.counter = 0;
        MPI_Barrier(world);  /* the counter is set before anyone takes from it */
        MPI_Win_lock_all(0, R.win);
        R.quiet = gr_quiet;
        gr_quiet = 1;  /* per-specification warnings (dropped rows...) would drown the progress line */
        work_loop(&R);
        gr_quiet = R.quiet;
        if (R.wrank == 0) drain(&R, 1);
        MPI_Waitall(R.nsend, R.req, MPI_STATUSES_IGNORE);
        MPI_Win_unlock_all(R.win);
        MPI_Win_free(&R.win);
        int sig = gr_cleanup_stop_signal();
        MPI_Allreduce(&sig, &sum->stop_signal, 1, MPI_INT, MPI_MAX, world);
        int wrc = R.wrank == 0 ? finish_outputs(&R, sum, t_read) : GR_OK;
        rc = gr_agree(world, R.fatal ? R.fatal : wrc);
    }
    MPI_Bcast(sum, sizeof *sum / sizeof(int), MPI_INT, 0, world);
    for (int i = 0; i < R.nsend; i++) free(R.sendbuf[i]);
    free(R.sendbuf); free(R.req); free(R.hash); free(todo);
    free_units(&R);
    gr_frame_free(&R.base);
    gr_panel_close(&R.p);
    if (R.wrank == 0) gr_grid_out_close(&R.out);
    MPI_Comm_free(&R.comm);
    return rc;
}
