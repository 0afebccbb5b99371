/* opts.c: one option table per command: parsing, --help, the echo of the effective options and the
 * command line for provenance (see opts.h for the syntax and the wording of every usage error). */
#include "opts.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HELP_WIDTH 100  /* wrap the option descriptions here */
#define HELP_COL_MAX 30 /* the description column, at most */

/* ---------------- the table ---------------- */

static void *field(const gr_opts *s, const gr_opt *o) { return (char *)s->base + o->at; }

static const char *cmd_name(const gr_opts *s) { return s->cmd->name; }

/* "(see 'gravrd rd --help')" */
static const char *see_help(const gr_opts *s)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "(see 'gravrd%s%s --help')", cmd_name(s) ? " " : "", cmd_name(s) ? cmd_name(s) : "");
    return buf;
}

static int is_builtin(const char *name)
{
    return !strcmp(name, "help") || !strcmp(name, "version") || !strcmp(name, "echo");
}

/* The field size each kind needs; 0: any of int / int64 (GR_OPT_INT). */
static int size_ok(const gr_opt *o)
{
    switch (o->kind) {
    case GR_OPT_FLAG: case GR_OPT_CHOICE: return o->size == sizeof(int);
    case GR_OPT_STRING: case GR_OPT_ARG: return o->size == sizeof(const char *);
    case GR_OPT_INT: return o->size == sizeof(int) || o->size == sizeof(int64_t);
    case GR_OPT_DOUBLE: return o->size == sizeof(double);
    case GR_OPT_LIST:
        return o->size == sizeof(gr_opt_list) &&
               (o->elem == GR_OPT_STRING || o->elem == GR_OPT_INT || o->elem == GR_OPT_DOUBLE);
    default: return 0;
    }
}

/* A table mistake is a programming error; reported like a usage error so that a test sees it. */
static int check_table(gr_opts *s)
{
    const gr_opt *t = s->cmd->opts;
    int n = 0;
    for (; t[n].name; n++) {
        const gr_opt *o = &t[n];
        const char *bad = n >= GR_OPTS_MAX ? "too many options" : !size_ok(o) ? "field does not fit the kind"
                          : is_builtin(o->name) ? "name taken by a built-in" : o->short_name == 'h' ? "-h is --help"
                          : o->kind == GR_OPT_CHOICE && !o->words ? "choice without words" : NULL;
        for (int k = 0; k < n && !bad; k++)
            if (!strcmp(t[k].name, o->name) || (o->short_name && t[k].short_name == o->short_name)) bad = "given twice";
        if (bad) return gr_fail(GR_EUSAGE, cmd_name(s), "internal error: option table: '%s': %s", o->name, bad);
    }
    s->nopts = n;
    return GR_OK;
}

static const gr_opt *find_long(const gr_opts *s, const char *name, size_t len)
{
    for (int i = 0; i < s->nopts; i++) {
        const gr_opt *o = &s->cmd->opts[i];
        if (o->kind != GR_OPT_ARG && strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    }
    return NULL;
}

static const gr_opt *find_short(const gr_opts *s, char c)
{
    for (int i = 0; i < s->nopts; i++)
        if (s->cmd->opts[i].kind != GR_OPT_ARG && s->cmd->opts[i].short_name == c) return &s->cmd->opts[i];
    return NULL;
}

/* ---------------- values ---------------- */

static void int_bounds(const gr_opt *o, long *lo, long *hi)
{
    *lo = o->size == sizeof(int) ? INT_MIN : LONG_MIN;
    *hi = o->size == sizeof(int) ? INT_MAX : LONG_MAX;
    if (!(o->flags & GR_OPT_RANGE)) return;
    if (o->lo > (double)*lo) *lo = (long)ceil(o->lo);
    if (o->hi < (double)*hi) *hi = (long)floor(o->hi);
}

/* The first word of a choice with its value is the canonical one; later ones are aliases. */
static int is_canon(const gr_opt *o, const gr_opt_word *w)
{
    for (const gr_opt_word *v = o->words; v < w; v++)
        if (v->value == w->value) return 0;
    return 1;
}

/* What a value of kind `kind` must be, as in "expected <this>, got 'x'". */
static void expected(const gr_opt *o, gr_opt_kind kind, char *buf, size_t len)
{
    if (kind == GR_OPT_INT) {
        long lo, hi, tmax = o->size == sizeof(int) ? INT_MAX : LONG_MAX;
        int_bounds(o, &lo, &hi);
        if (!(o->flags & GR_OPT_RANGE)) snprintf(buf, len, "an integer");
        else if (hi == tmax && lo <= 1 && lo >= 0) snprintf(buf, len, "a %s integer", lo ? "positive" : "non-negative");
        else if (hi == tmax) snprintf(buf, len, "an integer >= %ld", lo);
        else snprintf(buf, len, "an integer from %ld to %ld", lo, hi);
    } else if (kind == GR_OPT_DOUBLE) {
        if (o->flags & GR_OPT_POSITIVE) snprintf(buf, len, "a positive number");
        else if (!(o->flags & GR_OPT_RANGE)) snprintf(buf, len, "a number");
        else if (isinf(o->hi)) snprintf(buf, len, o->lo == 0 ? "a non-negative number" : "a number >= %g", o->lo);
        else snprintf(buf, len, "a number from %g to %g", o->lo, o->hi);
    } else if (kind == GR_OPT_CHOICE) {
        size_t n = 0;
        int left = 0;
        for (const gr_opt_word *w = o->words; w->word; w++) left += is_canon(o, w);
        buf[0] = 0;
        for (const gr_opt_word *w = o->words; w->word && n < len; w++)
            if (is_canon(o, w)) {
                left--;
                n += (size_t)snprintf(buf + n, len - n, "%s%s", n == 0 ? "" : left == 0 ? " or " : ", ", w->word);
            }
    } else {
        snprintf(buf, len, "%s", o->metavar ? o->metavar : "a value");
    }
}

static int bad_value(const gr_opt *o, gr_opt_kind kind, const char *v)
{
    char want[256];
    expected(o, kind, want, sizeof want);
    return gr_fail(GR_EUSAGE, NULL, "--%s: expected %s, got '%s'", o->name, want, v);
}

/* One scalar value of kind `kind` into *out (as double) and, for choices, *word_value. */
static int scalar(const gr_opt *o, gr_opt_kind kind, const char *v, double *num, int *word_value)
{
    if (kind == GR_OPT_INT) {
        long lo, hi, x;
        int_bounds(o, &lo, &hi);
        if (gr_parse_long(v, lo, hi, &x)) return bad_value(o, kind, v);
        *num = (double)x;
        return GR_OK;
    }
    if (kind == GR_OPT_DOUBLE) {
        double x;
        if (gr_parse_double(v, &x) || ((o->flags & GR_OPT_POSITIVE) && !(x > 0)) ||
            ((o->flags & GR_OPT_RANGE) && !(x >= o->lo && x <= o->hi)))
            return bad_value(o, kind, v);
        *num = x;
        return GR_OK;
    }
    if (kind == GR_OPT_CHOICE) {
        for (const gr_opt_word *w = o->words; w->word; w++)
            if (!strcasecmp(w->word, v)) { *word_value = w->value; return GR_OK; }
        return bad_value(o, kind, v);
    }
    return GR_OK;
}

static void list_clear(gr_opt_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->str[i]);
    free(l->str);
    free(l->num);
    memset(l, 0, sizeof *l);
}

/* Append one item of a list option (checked, unique, within .max). */
static int list_item(const gr_opt *o, gr_opt_list *l, const char *item, size_t len)
{
    char *text = gr_malloc(len + 1, 1);
    memcpy(text, item, len);
    text[len] = 0;
    double num = 0;
    int rc = o->elem == GR_OPT_STRING ? GR_OK : scalar(o, o->elem, text, &num, NULL);
    for (int i = 0; i < l->n && !rc && (o->flags & GR_OPT_UNIQUE); i++)
        if (o->elem == GR_OPT_STRING ? !strcmp(l->str[i], text) : l->num[i] == num)
            rc = gr_fail(GR_EUSAGE, NULL, "--%s: %s given twice", o->name, text);
    if (!rc && o->max > 0 && l->n >= o->max) rc = gr_fail(GR_EUSAGE, NULL, "--%s: at most %d values", o->name, o->max);
    if (rc) { free(text); return rc; }
    l->str = gr_realloc(l->str, (size_t)l->n + 1, sizeof *l->str);
    l->num = gr_realloc(l->num, (size_t)l->n + 1, sizeof *l->num);
    l->str[l->n] = text;
    l->num[l->n++] = num;
    return GR_OK;
}

static int list_value(const gr_opt *o, gr_opt_list *l, const char *v)
{
    if (!(o->flags & GR_OPT_COMMA)) return list_item(o, l, v, strlen(v));
    for (const char *p = v;;) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            return gr_fail(GR_EUSAGE, NULL, "--%s: expected a comma-separated list of %s, got '%s'", o->name,
                           o->metavar ? o->metavar : "values", v);
        int rc = list_item(o, l, p, len);
        if (rc) return rc;
        if (!p[len]) return GR_OK;
        p += len + 1;
    }
}

/* Store value v (NULL for a flag) of option o into the command's struct. */
static int set_value(gr_opts *s, const gr_opt *o, const char *v)
{
    void *f = field(s, o);
    double num = 0;
    int word = 0, rc;
    switch (o->kind) {
    case GR_OPT_FLAG: *(int *)f = 1; return GR_OK;
    case GR_OPT_STRING: case GR_OPT_ARG: *(const char **)f = v; return GR_OK;
    case GR_OPT_LIST: return list_value(o, f, v);
    case GR_OPT_CHOICE:
        if ((rc = scalar(o, o->kind, v, &num, &word))) return rc;
        *(int *)f = word;
        return GR_OK;
    case GR_OPT_INT: {
        long lo, hi, x;
        int_bounds(o, &lo, &hi);
        if (gr_parse_long(v, lo, hi, &x)) return bad_value(o, o->kind, v);
        if (o->size == sizeof(int)) *(int *)f = (int)x;
        else *(int64_t *)f = (int64_t)x;
        return GR_OK;
    }
    case GR_OPT_DOUBLE:
        if ((rc = scalar(o, o->kind, v, &num, &word))) return rc;
        *(double *)f = num;
        return GR_OK;
    default: return gr_fail(GR_EUSAGE, NULL, "--%s: internal error: unknown kind", o->name);
    }
}

/* ---------------- parsing ---------------- */

/* A value for option o given on the command line: counted, duplicates refused, defaults of a list replaced. */
static int given_value(gr_opts *s, const gr_opt *o, const char *v)
{
    int i = (int)(o - s->cmd->opts);
    int repeat = o->kind == GR_OPT_LIST && (o->flags & GR_OPT_REPEAT);
    if (s->given[i] > 0 && !repeat) return gr_fail(GR_EUSAGE, NULL, "--%s: given twice", o->name);
    if (s->given[i] == 0 && o->kind == GR_OPT_LIST) list_clear(field(s, o));
    s->given[i]++;
    return set_value(s, o, v);
}

/* Builtins: 1 = help, 2 = version, 3 = echo, 0 = none. */
#define WANT_HELP (-2)    /* from long_option / short_options: print and exit 0 */
#define WANT_VERSION (-3)
static int builtin(const char *name, size_t len)
{
    static const char *const names[] = {"help", "version", "echo"};
    for (int k = 0; k < 3; k++)
        if (strlen(names[k]) == len && !strncmp(names[k], name, len)) return k + 1;
    return 0;
}

/* One "--name[=value]" at argv[*i]. Returns a status, or WANT_HELP / WANT_VERSION. */
static int long_option(gr_opts *s, int argc, char **argv, int *i)
{
    const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int b = builtin(arg, len);
    if (b == 3 && s->cmd->head) b = 0;
    if (b && eq) return gr_fail(GR_EUSAGE, NULL, "--%.*s: takes no value, got '%s'", (int)len, arg, eq + 1);
    if (b == 1 || b == 2) return b == 1 ? WANT_HELP : WANT_VERSION;
    if (b == 3) {
        s->echo = 1;
        return GR_OK;
    }
    const gr_opt *o = find_long(s, arg, len);
    if (!o) {
        if (eq) return gr_fail(GR_EUSAGE, cmd_name(s), "unknown option '--%.*s' %s", (int)len, arg, see_help(s));
        return gr_fail(GR_EUSAGE, cmd_name(s), "unknown option '%s' %s", argv[*i], see_help(s));
    }
    if (o->kind == GR_OPT_FLAG) {
        if (eq) return gr_fail(GR_EUSAGE, NULL, "--%s: takes no value, got '%s'", o->name, eq + 1);
        return given_value(s, o, NULL);
    }
    if (eq) return given_value(s, o, eq + 1);
    if (*i + 1 >= argc)
        return gr_fail(GR_EUSAGE, NULL, "--%s: needs a value%s%s%s", o->name, o->metavar ? " (" : "",
                       o->metavar ? o->metavar : "", o->metavar ? ")" : "");
    return given_value(s, o, argv[++*i]);
}

/* One "-xyz" at argv[*i]: bundled flags, the last may take a value (attached or the next argument). */
static int short_options(gr_opts *s, int argc, char **argv, int *i)
{
    for (const char *p = argv[*i] + 1; *p; p++) {
        if (*p == 'h') return WANT_HELP;
        const gr_opt *o = find_short(s, *p);
        if (!o) return gr_fail(GR_EUSAGE, cmd_name(s), "unknown option '-%c' %s", *p, see_help(s));
        if (o->kind == GR_OPT_FLAG) {
            int rc = given_value(s, o, NULL);
            if (rc) return rc;
            continue;
        }
        if (p[1]) return given_value(s, o, p + 1);
        if (*i + 1 >= argc)
            return gr_fail(GR_EUSAGE, NULL, "--%s: needs a value%s%s%s", o->name, o->metavar ? " (" : "",
                           o->metavar ? o->metavar : "", o->metavar ? ")" : "");
        return given_value(s, o, argv[++*i]);
    }
    return GR_OK;
}

/* Zero the table's fields, apply defaults. */
static int start(gr_opts *s, const gr_opts_cmd *cmd, void *base)
{
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->base = base;
    int rc = check_table(s);
    for (int i = 0; i < s->nopts && !rc; i++) {
        const gr_opt *o = &cmd->opts[i];
        memset(field(s, o), 0, o->size);
        if (o->def) rc = set_value(s, o, o->def);
    }
    return rc;
}

/* After the arguments: positionals into GR_OPT_ARG fields in order, then required options. */
static int finish(gr_opts *s, char **pos, int npos, int head)
{
    int k = 0;
    for (int i = 0; i < s->nopts; i++) {
        const gr_opt *o = &s->cmd->opts[i];
        if (o->kind != GR_OPT_ARG) continue;
        if (k < npos) { s->given[i] = 1; set_value(s, o, pos[k++]); }
        else if ((o->flags & GR_OPT_REQUIRED) && !head)
            return gr_fail(GR_EUSAGE, cmd_name(s), "%s is required %s", o->metavar ? o->metavar : o->name, see_help(s));
    }
    if (k < npos && !head) return gr_fail(GR_EUSAGE, cmd_name(s), "unexpected argument '%s' %s", pos[k], see_help(s));
    for (int i = 0; i < s->nopts; i++) {
        const gr_opt *o = &s->cmd->opts[i];
        if (o->kind != GR_OPT_ARG && (o->flags & GR_OPT_REQUIRED) && !s->given[i])
            return gr_fail(GR_EUSAGE, cmd_name(s), "--%s%s%s is required %s", o->name, o->metavar ? " " : "",
                           o->metavar ? o->metavar : "", see_help(s));
    }
    return GR_OK;
}

int gr_opts_parse(gr_opts *s, const gr_opts_cmd *cmd, void *base, int argc, char **argv, int rank)
{
    int head = cmd->head;
    int rc = start(s, cmd, base), exit_with = 0, npos = 0, only_pos = 0;
    if (rc) return rc;
    char **pos = gr_malloc((size_t)(argc > 0 ? argc : 1), sizeof *pos);
    s->next = argc;
    for (int i = 1; i < argc && !exit_with; i++) {
        const char *a = argv[i];
        int r = GR_OK;
        if (only_pos || a[0] != '-' || !a[1]) {
            if (head) { s->next = i; break; }
            pos[npos++] = argv[i];
        } else if (!strcmp(a, "--")) {
            only_pos = 1;
        } else if (a[1] == '-') {
            r = long_option(s, argc, argv, &i);
        } else {
            r = short_options(s, argc, argv, &i);
        }
        if (r == WANT_HELP || r == WANT_VERSION) exit_with = r;  /* they win over an earlier error */
        else if (r && !rc) rc = r;
    }
    if (!rc && !exit_with) rc = finish(s, pos, npos, head);
    free(pos);
    if (!exit_with) return rc;
    gr_clear_error();
    if (rank == 0) {
        if (exit_with == WANT_HELP) gr_opts_help(cmd, stdout);
        else printf("%s\n", gr_version_line());
        fflush(stdout);
    }
    return GR_OPTS_EXIT;
}

int gr_opts_given(const gr_opts *s, const char *name)
{
    for (int i = 0; i < s->nopts; i++)
        if (!strcmp(s->cmd->opts[i].name, name)) return s->given[i];
    return -1;
}

void gr_opts_free(gr_opts *s)
{
    if (!s->cmd || !s->base) return;
    for (int i = 0; i < s->nopts; i++)
        if (s->cmd->opts[i].kind == GR_OPT_LIST) list_clear(field(s, &s->cmd->opts[i]));
}


/* ---------------- help ---------------- */

/* Print text from the current column `at`, wrapped at HELP_WIDTH, continuation lines indented to col. */
static void wrapped(FILE *f, int at, int col, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " ");
        if (at > col && at + 1 + (int)w > HELP_WIDTH) {
            fprintf(f, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', f);
            at++;
        }
        fprintf(f, "%.*s", (int)w, p);
        at += (int)w;
        p += w;
        while (*p == ' ') p++;
    }
    fputc('\n', f);
}

static void range_text(const gr_opt *o, gr_opt_kind kind, char *buf, size_t len)
{
    buf[0] = 0;
    if (kind == GR_OPT_INT && (o->flags & GR_OPT_RANGE)) {
        long lo, hi;
        int_bounds(o, &lo, &hi);
        if (hi == (o->size == sizeof(int) ? INT_MAX : LONG_MAX)) snprintf(buf, len, ">= %ld", lo);
        else snprintf(buf, len, "%ld to %ld", lo, hi);
    } else if (kind == GR_OPT_DOUBLE && (o->flags & GR_OPT_POSITIVE)) {
        snprintf(buf, len, "> 0");
    } else if (kind == GR_OPT_DOUBLE && (o->flags & GR_OPT_RANGE)) {
        if (isinf(o->hi)) snprintf(buf, len, ">= %g", o->lo);
        else snprintf(buf, len, "%g to %g", o->lo, o->hi);
    }
}

/* "one of a (or x), b, c" */
static void words_text(const gr_opt *o, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "one of");
    for (const gr_opt_word *w = o->words; w->word && n < len; w++) {
        if (!is_canon(o, w)) continue;
        n += (size_t)snprintf(buf + n, len - n, "%s %s", w == o->words ? "" : ",", w->word);
        int na = 0;
        for (const gr_opt_word *a = w + 1; a->word && n < len; a++)
            if (a->value == w->value) n += (size_t)snprintf(buf + n, len - n, "%s%s", na++ ? ", " : " (or ", a->word);
        if (na && n < len) n += (size_t)snprintf(buf + n, len - n, ")");
    }
}

/* What the table says beyond .help, shown in brackets after it: range, choices, list form, default,
 * required. */
static void suffix(const gr_opt *o, char *buf, size_t len)
{
    char part[6][512];
    int np = 0;
    gr_opt_kind k = o->kind == GR_OPT_LIST ? o->elem : o->kind;
    range_text(o, k, part[np], sizeof part[0]);
    if (part[np][0]) np++;
    if (o->kind == GR_OPT_CHOICE) words_text(o, part[np++], sizeof part[0]);
    if (o->kind == GR_OPT_LIST && (o->flags & GR_OPT_COMMA)) snprintf(part[np++], sizeof part[0], "comma-separated");
    if (o->kind == GR_OPT_LIST && (o->flags & GR_OPT_REPEAT)) snprintf(part[np++], sizeof part[0], "repeatable");
    if (o->def) snprintf(part[np++], sizeof part[0], "default: %s", o->def);
    if (o->flags & GR_OPT_REQUIRED) snprintf(part[np++], sizeof part[0], "required");
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < np && n < len; i++) n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "; " : "", part[i]);
}

static void left_text(const gr_opt *o, char *buf, size_t len)
{
    if (o->kind == GR_OPT_ARG) { snprintf(buf, len, "  %s", o->metavar ? o->metavar : o->name); return; }
    char sh[8] = "    ";
    if (o->short_name) snprintf(sh, sizeof sh, "-%c, ", o->short_name);
    snprintf(buf, len, "  %s--%s%s%s", sh, o->name, o->kind == GR_OPT_FLAG || !o->metavar ? "" : " ",
             o->kind == GR_OPT_FLAG || !o->metavar ? "" : o->metavar);
}

static void option_line(FILE *f, const char *left, int col, const char *help, const char *sfx)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s%s%s", help ? help : "", sfx[0] ? (help && help[0] ? " [" : "[") : "", sfx,
             sfx[0] ? "]" : "");
    int at = fprintf(f, "%s", left);
    if (at + 2 > col) { fputc('\n', f); at = 0; }
    fprintf(f, "%*s", col - at, "");
    wrapped(f, col, col, text);
}

static void usage_line(const gr_opts_cmd *cmd, int n, FILE *f)
{
    char tok[GR_OPTS_MAX + 1][256];
    int nt = 0;
    for (int i = 0; i < n; i++) {
        const gr_opt *o = &cmd->opts[i];
        const char *m = o->metavar ? o->metavar : o->name;
        if (o->kind == GR_OPT_ARG)
            snprintf(tok[nt++], sizeof tok[0], (o->flags & GR_OPT_REQUIRED) ? "%s" : "[%s]", m);
    }
    for (int i = 0; i < n; i++) {
        const gr_opt *o = &cmd->opts[i];
        if (o->kind == GR_OPT_ARG || !(o->flags & GR_OPT_REQUIRED)) continue;
        const char *m = o->metavar ? o->metavar : "";
        if (o->kind == GR_OPT_LIST && (o->flags & GR_OPT_REPEAT))
            snprintf(tok[nt++], sizeof tok[0], "--%s %s [--%s %s ...]", o->name, m, o->name, m);
        else snprintf(tok[nt++], sizeof tok[0], "--%s%s%s", o->name, *m ? " " : "", m);
    }
    snprintf(tok[nt++], sizeof tok[0], "[options]");
    int col = fprintf(f, "usage: gravrd%s%s", cmd->name ? " " : "", cmd->name ? cmd->name : ""), at = col;
    for (int t = 0; t < nt; t++) {
        int w = (int)strlen(tok[t]);
        if (at > col && at + 1 + w > HELP_WIDTH) at = fprintf(f, "\n%*s", col, "") - 1;
        at += fprintf(f, " %s", tok[t]);
    }
    fputc('\n', f);
}

void gr_opts_help(const gr_opts_cmd *cmd, FILE *f)
{
    int n = 0, col = 0, nargs = 0;
    char left[512], sfx[2048];
    while (cmd->opts[n].name) n++;
    for (int i = 0; i < n; i++) {
        left_text(&cmd->opts[i], left, sizeof left);
        int w = (int)strlen(left) + 2;
        if (w <= HELP_COL_MAX && w > col) col = w;
        nargs += cmd->opts[i].kind == GR_OPT_ARG;
    }
    if (col < 20) col = 20;
    usage_line(cmd, n, f);
    if (cmd->about) fprintf(f, "\n%s%s", cmd->about, cmd->about[strlen(cmd->about) - 1] == '\n' ? "" : "\n");
    for (int pass = nargs ? 0 : 1; pass < 2; pass++) {
        fprintf(f, "\n%s:\n", pass ? "options" : "arguments");
        for (int i = 0; i < n; i++) {
            const gr_opt *o = &cmd->opts[i];
            if ((o->kind == GR_OPT_ARG) == pass) continue;
            left_text(o, left, sizeof left);
            suffix(o, sfx, sizeof sfx);
            option_line(f, left, col, o->help, sfx);
        }
    }
    option_line(f, "  -h, --help", col, "print this help and exit", "");
    option_line(f, "      --version", col, "print the version and exit", "");
    if (!cmd->head) option_line(f, "      --echo", col, "print the effective options on stderr (rank 0) before running", "");
    if (cmd->notes) fprintf(f, "\n%s%s", cmd->notes, cmd->notes[strlen(cmd->notes) - 1] == '\n' ? "" : "\n");
}

/* ---------------- echo ---------------- */

/* Shortest %.Ng (N = 15..17) that reads back as v. */
static void fmt_double(double v, char *buf, size_t len)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static const char *choice_word(const gr_opt *o, int v)
{
    for (const gr_opt_word *w = o->words; w->word; w++)
        if (w->value == v) return w->word;
    return NULL;
}

/* Is the option without a value (an unset string or list, a number with no default and not given)? */
static int unset(const gr_opts *s, int i)
{
    const gr_opt *o = &s->cmd->opts[i];
    const void *f = field(s, o);
    switch (o->kind) {
    case GR_OPT_STRING: case GR_OPT_ARG: return *(const char *const *)f == NULL;
    case GR_OPT_LIST: return ((const gr_opt_list *)f)->n == 0;
    case GR_OPT_INT: case GR_OPT_DOUBLE: return !s->given[i] && !o->def;
    case GR_OPT_CHOICE: return !choice_word(o, *(const int *)f);
    default: return 0;
    }
}

static double int_value(const gr_opt *o, const void *f)
{
    return o->size == sizeof(int) ? (double)*(const int *)f : (double)*(const int64_t *)f;
}

/* The value as text (lists joined with commas). */
static void value_text(const gr_opts *s, int i, char *buf, size_t len)
{
    const gr_opt *o = &s->cmd->opts[i];
    const void *f = field(s, o);
    if (unset(s, i)) { snprintf(buf, len, "(unset)"); return; }
    switch (o->kind) {
    case GR_OPT_FLAG: snprintf(buf, len, "%s", *(const int *)f ? "yes" : "no"); break;
    case GR_OPT_STRING: case GR_OPT_ARG: snprintf(buf, len, "%s", *(const char *const *)f); break;
    case GR_OPT_CHOICE: snprintf(buf, len, "%s", choice_word(o, *(const int *)f)); break;
    case GR_OPT_INT:
        if (o->size == sizeof(int)) snprintf(buf, len, "%d", *(const int *)f);
        else snprintf(buf, len, "%lld", (long long)*(const int64_t *)f);
        break;
    case GR_OPT_DOUBLE: fmt_double(*(const double *)f, buf, len); break;
    case GR_OPT_LIST: {
        const gr_opt_list *l = f;
        size_t n = 0;
        buf[0] = 0;
        for (int k = 0; k < l->n && n < len; k++) n += (size_t)snprintf(buf + n, len - n, "%s%s", k ? "," : "", l->str[k]);
        break;
    }
    default: buf[0] = 0;
    }
}

static void key_text(const gr_opt *o, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", o->kind == GR_OPT_ARG ? "" : "--", o->name);
}

void gr_opts_echo(const gr_opts *s, FILE *f)
{
    int w = 0;
    char key[80], val[4096];
    for (int i = 0; i < s->nopts; i++) {
        key_text(&s->cmd->opts[i], key, sizeof key);
        if ((int)strlen(key) > w) w = (int)strlen(key);
    }
    fprintf(f, "gravrd%s%s: effective options\n", s->cmd->name ? " " : "", s->cmd->name ? s->cmd->name : "");
    for (int i = 0; i < s->nopts; i++) {
        key_text(&s->cmd->opts[i], key, sizeof key);
        value_text(s, i, val, sizeof val);
        fprintf(f, "  %-*s  %s%s\n", w, key, val, s->given[i] ? "" : "  (default)");
    }
    fflush(f);
}

static cJSON *value_json(const gr_opts *s, int i)
{
    const gr_opt *o = &s->cmd->opts[i];
    const void *f = field(s, o);
    if (unset(s, i)) return cJSON_CreateNull();
    switch (o->kind) {
    case GR_OPT_FLAG: return cJSON_CreateBool(*(const int *)f);
    case GR_OPT_STRING: case GR_OPT_ARG: return cJSON_CreateString(*(const char *const *)f);
    case GR_OPT_CHOICE: return cJSON_CreateString(choice_word(o, *(const int *)f));
    case GR_OPT_INT: return cJSON_CreateNumber(int_value(o, f));
    case GR_OPT_DOUBLE: return cJSON_CreateNumber(*(const double *)f);
    case GR_OPT_LIST: {
        const gr_opt_list *l = f;
        cJSON *a = cJSON_CreateArray();
        for (int k = 0; k < l->n; k++)
            cJSON_AddItemToArray(a, o->elem == GR_OPT_STRING ? cJSON_CreateString(l->str[k]) : cJSON_CreateNumber(l->num[k]));
        return a;
    }
    default: return cJSON_CreateNull();
    }
}

cJSON *gr_opts_json(const gr_opts *s)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *given = cJSON_AddObjectToObject(j, "given"), *def = cJSON_AddObjectToObject(j, "default");
    char key[80];
    for (int i = 0; i < s->nopts; i++) {
        key_text(&s->cmd->opts[i], key, sizeof key);
        cJSON_AddItemToObject(s->given[i] ? given : def, key, value_json(s, i));
    }
    return j;
}

cJSON *gr_opts_provenance(const gr_opts *s, MPI_Comm comm)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "created_by", gr_provenance(comm));
    cJSON_AddStringToObject(j, "command_line", gr_command_line);
    cJSON_AddItemToObject(j, "options", gr_opts_json(s));
    return j;
}

/* ---------------- the command line ---------------- */

/* Characters a shell leaves alone outside quotes. */
static int shell_safe(const char *a)
{
    if (!*a) return 0;
    for (; *a; a++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./,:@%^", *a)) return 0;
    return 1;
}

void gr_opts_set_command_line(int argc, char **argv)
{
    char *out = gr_command_line;
    size_t cap = sizeof gr_command_line - 4, n = 0;  /* room for "..." */
    for (int i = 0; i < argc && n < cap; i++) {
        if (i) out[n++] = ' ';
        int q = !shell_safe(argv[i]);
        if (q && n < cap) out[n++] = '\'';
        for (const char *c = argv[i]; *c && n < cap; c++) {
            if (*c == '\'' && q) {  /* ' -> '\'' */
                if (n + 4 >= cap) { n = cap; break; }
                memcpy(out + n, "'\\''", 4);
                n += 4;
            } else out[n++] = *c;
        }
        if (q && n < cap) out[n++] = '\'';
    }
    if (n >= cap) { memcpy(out + cap, "...", 3); n = cap + 3; }
    out[n] = 0;
}
