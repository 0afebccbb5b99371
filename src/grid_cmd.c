/* grid_cmd.c: `gravrd grid CONFIG [--out DIR] [--resume] [--dry-run] [--only IDS] [--shard K/N] [--data FILE.h5]`:
 * load and check a grid configuration (grid.h, docs/grid.md), select its specifications (--only, --shard),
 * and list them (--dry-run) or run them (grid_run.c). */
#include "commands.h"
#include "cleanup.h"
#include "grid.h"
#include "grid_run.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include "opts.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *config, *data, *shard, *out;
    int dry_run, resume, no_merge, quiet;
    int64_t group_size;
    double progress;
    gr_opt_list only;
} grid_cli;

static const gr_opt grid_table[] = {
    {.name = "config", .kind = GR_OPT_ARG, GR_OPT_AT(grid_cli, config), .metavar = "CONFIG.yaml",
     .help = "the grid configuration (docs/grid.md)", .flags = GR_OPT_REQUIRED},
    {.name = "dry-run", .kind = GR_OPT_FLAG, GR_OPT_AT(grid_cli, dry_run),
     .help = "check the config and the panel's columns, list the specifications; estimate nothing"},
    {.name = "only", .kind = GR_OPT_LIST, .elem = GR_OPT_STRING, GR_OPT_AT(grid_cli, only), .metavar = "ID",
     .help = "only the specifications with these ids (comma-separated, may be repeated)",
     .flags = GR_OPT_COMMA | GR_OPT_REPEAT | GR_OPT_UNIQUE},
    {.name = "shard", .kind = GR_OPT_STRING, GR_OPT_AT(grid_cli, shard), .metavar = "K/N",
     .help = "every N-th specification of the expansion, starting with the K-th (1 <= K <= N)"},
    {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(grid_cli, data), .metavar = "FILE.h5",
     .help = "panel file, instead of the config's data:"},
    {.name = "out", .kind = GR_OPT_STRING, GR_OPT_AT(grid_cli, out), .metavar = "DIR", .def = "grid-out",
     .help = "output directory: results.jsonl, results.csv, manifest.json (docs/results.md)"},
    {.name = "resume", .kind = GR_OPT_FLAG, GR_OPT_AT(grid_cli, resume),
     .help = "keep the results DIR/results.jsonl holds (same id and spec hash) and run the rest"},
    {.name = "group-size", .kind = GR_OPT_INT, GR_OPT_AT(grid_cli, group_size), .metavar = "N",
     .flags = GR_OPT_RANGE, .lo = 1, .hi = 4096,
     .help = "ranks per task group (default: the config's group-size, else 1)"},
    {.name = "no-merge", .kind = GR_OPT_FLAG, GR_OPT_AT(grid_cli, no_merge),
     .help = "one model per specification, even when specifications differ only in the outcome (benchmarks)"},
    {.name = "quiet", .kind = GR_OPT_FLAG, GR_OPT_AT(grid_cli, quiet),
     .help = "no progress lines and no summary (errors still printed)"},
    {.name = "progress", .kind = GR_OPT_DOUBLE, GR_OPT_AT(grid_cli, progress), .metavar = "SECONDS", .def = "5",
     .flags = GR_OPT_POSITIVE, .help = "seconds between progress lines when stderr is not a terminal"},
    {0}};

static const gr_opts_cmd grid_cmd_def = {
    "grid",
    "A grid of fixed-effects specifications from one YAML config: base settings (the options of\n"
    "'gravrd estimate'), axes whose values fill {axis} placeholders or carry settings, crossed or zipped.\n"
    "Every specification gets a stable id (a hash of its resolved settings). --dry-run checks the config\n"
    "(keys, types, placeholders, formulas, where clauses, the panel's columns) and prints one line per\n"
    "specification: id, label, formula, where, other settings (tab-separated), then the count.",
    grid_table,
    "Without --dry-run the specifications are estimated on task groups of ranks; each finished one is\n"
    "appended to DIR/results.jsonl. Exit status: 0 all done, 4 some failed (recorded), 1 error, 2 usage,\n"
    "143/130 stopped by SIGTERM/SIGINT (--resume finishes). Formats: docs/grid.md, docs/results.md.", 0};

/* "K/N" with 1 <= K <= N <= GR_GRID_MAX_SPECS. */
static int parse_shard(const char *t, long *k, long *n)
{
    const char *slash = strchr(t, '/');
    char a[32] = "";
    if (slash && (size_t)(slash - t) < sizeof a) memcpy(a, t, (size_t)(slash - t));
    if (!slash || gr_parse_long(a, 1, GR_GRID_MAX_SPECS, k) || gr_parse_long(slash + 1, 1, GR_GRID_MAX_SPECS, n) || *k > *n)
        return gr_fail(GR_EUSAGE, "--shard", "expected K/N with 1 <= K <= N (e.g. 2/8), got '%s'", t);
    return GR_OK;
}

/* Each --only item is an id: 16 hex digits. */
static int check_ids(const gr_opt_list *only)
{
    for (int i = 0; i < only->n; i++) {
        const char *s = only->str[i];
        int ok = strlen(s) == GR_GRID_ID_LEN;
        for (int c = 0; ok && c < GR_GRID_ID_LEN; c++) ok = isxdigit((unsigned char)s[c]) && !isupper((unsigned char)s[c]);
        if (!ok) return gr_fail(GR_EUSAGE, "--only", "expected ids of %d lower-case hex digits, got '%s'", GR_GRID_ID_LEN, s);
    }
    return GR_OK;
}

/* The settings other than formula and where that the specification sets, "cluster=pair vcov=hc1". */
static void other_settings(const gr_grid_spec *s, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int k = 0; k < GR_GRID_NKEYS && n < len; k++)
        if (k != GR_GRID_FORMULA && k != GR_GRID_WHERE && s->text[k]) {
            size_t at = n;
            n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", n ? " " : "", gr_grid_key_name((gr_grid_key)k), s->text[k]);
            for (size_t c = at; c < n && c < len; c++) if (buf[c] == '\n') buf[c] = ' ';  /* options: one line */
        }
    if (!buf[0]) snprintf(buf, len, "-");
}

/* Local. Mark the selected specifications (--only, then --shard on the expansion's positions). */
static int select_specs(const gr_grid *g, const grid_cli *o, long k, long n, unsigned char *sel, int *nsel)
{
    *nsel = 0;
    for (int i = 0; i < g->nspecs; i++) sel[i] = o->only.n == 0;
    for (int j = 0; j < o->only.n; j++) {
        int i = gr_grid_find(g, o->only.str[j]);
        if (i < 0) return gr_fail(GR_EUSAGE, "--only", "no specification of %s has id %s", g->path, o->only.str[j]);
        sel[i] = 1;
    }
    for (int i = 0; i < g->nspecs; i++) {
        if (i % n != k - 1) sel[i] = 0;
        *nsel += sel[i];
    }
    return GR_OK;
}

/* Rank 0: the listing. */
static void print_specs(const gr_grid *g, const grid_cli *o, const unsigned char *sel, int nsel)
{
    printf("# %s%s%s (data %s)\n", g->path, g->title ? ": " : "", g->title ? g->title : "", g->data);
    printf("# id\tlabel\tformula\twhere\tsettings\n");
    char other[2048];
    for (int i = 0; i < g->nspecs; i++) {
        if (!sel[i]) continue;
        const gr_grid_spec *s = &g->specs[i];
        other_settings(s, other, sizeof other);
        printf("%s\t%s\t%s\t%s\t%s\n", s->id, s->label[0] ? s->label : "-",
               s->text[GR_GRID_FORMULA] ? s->text[GR_GRID_FORMULA] : "-",
               s->text[GR_GRID_WHERE] ? s->text[GR_GRID_WHERE] : "-", other);
    }
    if (o->only.n || o->shard)
        printf("# %d of %d specifications selected (%s%s%s)\n", nsel, g->nspecs, o->only.n ? "--only" : "",
               o->only.n && o->shard ? ", " : "", o->shard ? "--shard" : "");
    else
        printf("# %d specifications\n", g->nspecs);
}

/* Collective. Run the selected specifications (grid_run.h), signals stopping it in order. */
static int run_grid(MPI_Comm comm, gr_grid *g, const grid_cli *o, gr_opts *s, const unsigned char *sel,
                    gr_grid_summary *sum)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    gr_grid_run_opts ro = {.out = o->out, .resume = o->resume, .selected = sel, .merge = !o->no_merge,
                           .progress_seconds = o->progress,
                           .group_size = o->group_size ? (int)o->group_size : g->group_size ? g->group_size : 1};
    ro.provenance = rank == 0 ? gr_opts_provenance(s, comm) : NULL;
    gr_cleanup_soft(1);
    int rc = gr_grid_run(comm, g, &ro, sum);
    gr_cleanup_soft(0);
    return rc;
}

int cmd_grid(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    gr_opts s;
    grid_cli o;
    int rc = gr_opts_parse(&s, &grid_cmd_def, &o, argc, argv, rank);
    if (rc == GR_OPTS_EXIT) { gr_opts_free(&s); return 0; }
    long k = 1, n = 1;
    if (!rc) gr_quiet |= o.quiet;
    if (!rc && o.shard) rc = parse_shard(o.shard, &k, &n);
    if (!rc) rc = check_ids(&o.only);
    if (!rc && s.echo && rank == 0) gr_opts_echo(&s, stderr);
    gr_grid g;
    memset(&g, 0, sizeof g);
    if (!rc) rc = gr_grid_load(comm, o.config, o.data, &g);
    if (!rc) rc = gr_grid_check_columns(comm, &g);
    unsigned char *sel = gr_malloc((size_t)(g.nspecs ? g.nspecs : 1), 1);
    int nsel = 0;
    if (!rc) rc = select_specs(&g, &o, k, n, sel, &nsel);  /* the same on every rank */
    if (!rc && rank == 0 && o.dry_run) print_specs(&g, &o, sel, nsel);
    rc = gr_agree(comm, rc);
    gr_grid_summary sum;
    memset(&sum, 0, sizeof sum);
    if (!rc && !o.dry_run) rc = run_grid(comm, &g, &o, &s, sel, &sum);
    free(sel);
    gr_grid_free(&g);
    gr_opts_free(&s);
    if (rc || !sum.stop_signal) return rc ? gr_report(rc) : sum.failed + sum.resumed_failed ? 4 : 0;
    if (rank == 0)
        fprintf(stderr, "gravrd: error: interrupted by %s: %d of %d specifications done; --resume finishes\n",
                sum.stop_signal == SIGTERM ? "SIGTERM" : sum.stop_signal == SIGINT ? "SIGINT" : "a signal",
                sum.resumed + sum.done + sum.failed, sum.selected);
    return 128 + sum.stop_signal;
}
