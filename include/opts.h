/* opts.h: one option table per command. The table drives parsing, the `--help` text, the echo of the
 * effective configuration (text for logs, cJSON for the provenance of JSON results).
 *
 * A command declares
 *     typedef struct { const char *data; double cutoff; gr_opt_list h; int kernel; } rd_cfg;
 *     static const gr_opt_word kernels[] = {{"triangular", 0}, {"uniform", 1}, {"tri", 0}, {NULL, 0}};
 *     static const gr_opt rd_table[] = {
 *         {.name = "data", .kind = GR_OPT_STRING, GR_OPT_AT(rd_cfg, data), .metavar = "FILE.h5",
 *          .help = "panel file", .flags = GR_OPT_REQUIRED},
 *         {.name = "cutoff", .kind = GR_OPT_DOUBLE, GR_OPT_AT(rd_cfg, cutoff), .metavar = "C",
 *          .help = "cutoff", .def = "0"},
 *         {.name = "bandwidth", .kind = GR_OPT_LIST, .elem = GR_OPT_DOUBLE, GR_OPT_AT(rd_cfg, h),
 *          .metavar = "H", .help = "bandwidth", .flags = GR_OPT_REQUIRED | GR_OPT_REPEAT | GR_OPT_POSITIVE},
 *         {.name = "kernel", .kind = GR_OPT_CHOICE, GR_OPT_AT(rd_cfg, kernel), .metavar = "K",
 *          .help = "kernel", .def = "triangular", .words = kernels},
 *         {0}};
 *     static const gr_opts_cmd rd_cmd = {"rd", "Sharp RD by local linear regression ...", rd_table, NULL, 0};
 * and in cmd_rd:
 *     gr_opts s; rd_cfg o;
 *     int rc = gr_opts_parse(&s, &rd_cmd, &o, argc, argv, rank);
 *     if (rc == GR_OPTS_EXIT) return 0;              // --help / -h / --version, printed on rank 0
 *     ... command-specific checks, gr_fail(GR_EUSAGE, "--opt", "...") ...
 *     if (rc) { gr_opts_free(&s); return gr_report(gr_agree(comm, rc)); }
 *     if (s.echo && rank == 0) gr_opts_echo(&s, stderr);
 *     ... cJSON_AddItemToObject(root, "provenance", gr_opts_provenance(&s, comm)); ...
 *     gr_opts_free(&s);
 *
 * Command line syntax: `--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE`, `-xy` (short flags
 * bundled), `--` ends the options; arguments not starting with '-' (and a lone "-") are positional,
 * anywhere on the line. A value is always the next argument, even if it starts with '-'. Long names
 * must be given in full (no abbreviations). Every command also accepts the built-ins
 *     -h, --help   usage line, description, aligned option list; rank 0, stdout; exit 0
 *     --version    "gravrd <version> (<git hash>)"; rank 0, stdout; exit 0
 *     --echo       the command prints its effective options (text below) on stderr, rank 0
 * --help and --version win over any usage error on the same line.
 *
 * Usage errors (GR_EUSAGE, exit status 2 through gr_report), one wording everywhere. When the fault is a
 * known option's value, the location is the option; otherwise it is the command, and the message ends
 * with a pointer to the help:
 *     gravrd: error: rd: unknown option '--foo' (see 'gravrd rd --help')
 *     gravrd: error: rd: unexpected argument 'y' (see 'gravrd rd --help')
 *     gravrd: error: rd: --data FILE.h5 is required (see 'gravrd rd --help')
 *     gravrd: error: --data: needs a value (FILE.h5)
 *     gravrd: error: --data: given twice
 *     gravrd: error: --quiet: takes no value, got '1'
 *     gravrd: error: --fe-tol: expected a positive number, got 'x'
 *     gravrd: error: --months: expected an integer from 1 to 1200, got '0'
 *     gravrd: error: --kernel: expected triangular, uniform or epanechnikov, got 'gauss'
 *     gravrd: error: --bandwidth: 50 given twice          (GR_OPT_UNIQUE lists)
 *     gravrd: error: --bandwidth: at most 64 values
 *     gravrd: error: --key: expected a comma-separated list of COL, got 'a,,b'
 * Commands word their own checks the same way: gr_fail(GR_EUSAGE, "--opt", "expected ..., got '%s'", v)
 * for a value, gr_fail(GR_EUSAGE, "<cmd>", "...") for a combination of options.
 *
 * Echo: text (gr_opts_echo), one line per option in table order, those not given marked "(default)":
 *     gravrd rd: effective options
 *       --data       senate.h5
 *       --cutoff     0  (default)
 *       --bandwidth  10,17.754
 *       --cluster    (unset)  (default)
 * and JSON (gr_opts_json): {"given": {"--data": "senate.h5", ...}, "default": {"--cutoff": 0, ...}}, every
 * option in exactly one of the two, keyed as on the command line ("--name"; positionals by name, so that a
 * line-oriented reader of a result never takes an option for a result field such as "bandwidth");
 * strings as strings, numbers as numbers, flags as booleans, choices as their canonical word, lists as
 * arrays, null when unset. Unset: a NULL string, an empty list, an INT / DOUBLE neither given nor with a
 * .def; a CHOICE shows the word its field holds, so a default the command derives after parsing (rd's
 * --vcov) is echoed as set. Both read the struct when called: call them after the command's adjustments.
 * gr_opts_provenance wraps the JSON with the version line and the command line.
 * Parsing is the same on every rank and not collective; only printing depends on the rank. */
#ifndef GR_OPTS_H
#define GR_OPTS_H
#include "gr.h"
#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>

typedef enum {
    GR_OPT_END = 0,  /* terminates a table ({0}) */
    GR_OPT_FLAG,     /* no value; int field set to 1 */
    GR_OPT_STRING,   /* const char * field, pointing into argv (or at .def) */
    GR_OPT_INT,      /* int, long or int64_t field (by its size); range [lo, hi] with GR_OPT_RANGE */
    GR_OPT_DOUBLE,   /* double field, finite; > 0 with GR_OPT_POSITIVE, [lo, hi] with GR_OPT_RANGE */
    GR_OPT_CHOICE,   /* int (or enum) field; one of .words, case-insensitive */
    GR_OPT_LIST,     /* gr_opt_list field: items of kind .elem (STRING, INT or DOUBLE) */
    GR_OPT_ARG       /* positional argument, const char * field, in table order */
} gr_opt_kind;

enum {
    GR_OPT_REQUIRED = 1 << 0, /* must be given (for a list: at least one item) */
    GR_OPT_POSITIVE = 1 << 1, /* DOUBLE (or list of DOUBLE): > 0 */
    GR_OPT_RANGE = 1 << 2,    /* INT / DOUBLE (or list of them): lo <= v <= hi */
    GR_OPT_REPEAT = 1 << 3,   /* LIST: may be given several times; items accumulate */
    GR_OPT_COMMA = 1 << 4,    /* LIST: each value is a comma-separated list of items */
    GR_OPT_UNIQUE = 1 << 5    /* LIST: an item given twice (numerically equal for numbers) is an error */
};

/* A word of a choice. The first word of each value is its canonical name (help, echo, error text);
 * later words with the same value are aliases. Ended by {NULL, 0}. */
typedef struct {
    const char *word;
    int value;
} gr_opt_word;

/* One option (or positional argument) of a command. */
typedef struct {
    const char *name;        /* long name without "--" ("fe-tol"); positional: key in echo/JSON */
    char short_name;         /* 'b' for -b, 0 for none ('h' is taken by --help) */
    gr_opt_kind kind;
    gr_opt_kind elem;        /* GR_OPT_LIST: kind of each item */
    size_t at, size;         /* offset and size of the field in the command's struct: GR_OPT_AT; a size
                              * that does not fit the kind fails the parse ("internal error: option table") */
    const char *metavar;     /* "FILE.h5", "KM", ...; shown in usage, help and messages */
    const char *help;        /* one line (the table adds range, choices, default, required) */
    const char *def;         /* default, parsed like a command-line value; NULL: none */
    unsigned flags;          /* GR_OPT_REQUIRED | ... */
    double lo, hi;           /* GR_OPT_RANGE bounds (hi = HUGE_VAL: no upper bound) */
    const gr_opt_word *words;/* GR_OPT_CHOICE */
    int max;                 /* GR_OPT_LIST: most items (0: no limit) */
} gr_opt;

#define GR_OPT_AT(type, field) .at = offsetof(type, field), .size = sizeof(((type *)0)->field)

/* A list option's value: the items as given (owned, freed by gr_opts_free) and, for INT / DOUBLE
 * items, their values. */
typedef struct {
    int n;
    char **str;
    double *num;
} gr_opt_list;

/* A command: name after "gravrd" (NULL for gravrd's top level), description paragraph(s) printed
 * under the usage line, the table (ended by {0}) and optional notes printed after the option list.
 * head = 1 (gravrd's top level): the first positional argument starts another command line; parsing
 * stops there and stores its index in gr_opts.next; there is no --echo. */
typedef struct {
    const char *name;
    const char *about;
    const gr_opt *opts;
    const char *notes;
    int head;
} gr_opts_cmd;

#define GR_OPTS_MAX 48
#define GR_OPTS_EXIT (-1) /* gr_opts_parse: --help / --version printed; the command returns 0 */

/* The outcome of one parse: which options were given (and how often), whether --echo was. */
typedef struct {
    const gr_opts_cmd *cmd;
    void *base;
    int nopts;
    int given[GR_OPTS_MAX];
    int echo;
    int next;  /* head commands: index in argv of the first positional argument (argc if none) */
} gr_opts;

/* Local (no communication; the same on every rank). Zero every field the table names in *base, set the
 * defaults (.def), then parse argv[1..argc-1] (argv[0] is the command name) into *base. Returns GR_OK;
 * GR_EUSAGE with the message recorded (gr_fail), see the wording above; or GR_OPTS_EXIT after printing
 * --help / --version when `rank` is 0. Call gr_opts_free(s) afterwards in every case. */
int gr_opts_parse(gr_opts *s, const gr_opts_cmd *cmd, void *base, int argc, char **argv, int rank);

/* How many times option `name` was given on the command line (0: default). Unknown name: -1. */
int gr_opts_given(const gr_opts *s, const char *name);

/* Free the lists the parse allocated in *base (their fields are zeroed). Safe to call twice. */
void gr_opts_free(gr_opts *s);

/* Print the --help text of cmd on f. */
void gr_opts_help(const gr_opts_cmd *cmd, FILE *f);

/* Print the effective options of a parse (after the command's own adjustments) on f, one per line. */
void gr_opts_echo(const gr_opts *s, FILE *f);

/* The effective options as a new cJSON object {"given": {...}, "default": {...}}; caller deletes. */
cJSON *gr_opts_json(const gr_opts *s);

/* Local. A new cJSON object for a result's "provenance": {"created_by": gr_provenance(comm) (version,
 * git hash, ranks, host, date, command line), "command_line": gr_command_line, "options": gr_opts_json}. */
cJSON *gr_opts_provenance(const gr_opts *s, MPI_Comm comm);

/* Record argv as one line in gr_command_line (for provenance): arguments joined by spaces, those a shell
 * would split or expand in single quotes, so the line can be pasted back; "..." ends a truncated line. */
void gr_opts_set_command_line(int argc, char **argv);
#endif
