/* jcmp: the one JSON comparator of the test suite. Two modes:
 *
 * 1. jcmp RESULT.json EXPECTED: compare a gravrd --json result with an expected-value file, one TAP
 *    line per check. EXPECTED lines ('#' starts a comment; "# case: NAME" names the case, default: the
 *    file's basename):
 *      <path> <value> <tol>        numeric: |got - value| <= tol * |value|  (tol 0: exact equality;
 *                                   value 0: |got| <= tol)
 *      <path> <value> <tol> abs    numeric, absolute tolerance: |got - value| <= tol
 *      <path> <string>             string equality (the JSON value must be a string)
 *    <path>: members joined by '.', each optionally followed by [N] (array index) or [key=value]
 *    (the element of an array of objects whose member "key" is the string value, e.g.
 *    coefficients[term=log(dist_km)].std_error, results[1].r2, fixef_sizes.exporter^month, [0].estimate
 *    when the document is an array). Prints "ok - <case> <path>" or "not ok - <case> <path>: why";
 *    exits 0 if every check passed, 1 if any failed, 2 if a file cannot be read or parsed (also printed
 *    as a "not ok" line).
 *
 * 2. jcmp --close TOL [--abs ATOL] [--ignore KEY]... A.json B.json: two JSON documents agree. Same
 *    structure (object members both ways, array lengths, value types); strings, booleans and nulls
 *    equal; numbers a, b agree when |a - b| <= TOL * max(|a|, |b|) or |a - b| <= ATOL (default 0; TOL 0
 *    is exact equality). --ignore KEY skips every member named KEY at any depth; a KEY ending in '*'
 *    skips every member whose name starts with the rest (t_*). Prints nothing when they agree, else one
 *    line per difference "PATH: what" (at most 8, then a count); exits 0 if they agree, 1 if not, 2 on
 *    bad usage or a file that cannot be read or parsed. tests/lib.sh's json_close wraps it with the
 *    usual ignores (timings, provenance, memory figures). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    if (buf && ferror(f)) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

/* Resolve a path; on failure returns NULL and writes the reason into why. */
static const cJSON *resolve(const cJSON *root, const char *path, char *why, size_t whylen)
{
    const cJSON *cur = root;
    const char *p = path;
    while (*p) {
        if (*p == '.') { p++; continue; }
        if (*p != '[') {                                   /* member name */
            const char *s = p;
            while (*p && *p != '.' && *p != '[') p++;
            char name[256];
            size_t n = (size_t)(p - s);
            if (n == 0 || n >= sizeof name) { snprintf(why, whylen, "bad path segment"); return NULL; }
            memcpy(name, s, n); name[n] = '\0';
            if (!cJSON_IsObject(cur)) { snprintf(why, whylen, "'%s': parent is not an object", name); return NULL; }
            cur = cJSON_GetObjectItemCaseSensitive(cur, name);
            if (!cur) { snprintf(why, whylen, "member '%s' not found", name); return NULL; }
            continue;
        }
        const char *s = ++p;                               /* [...] selector, up to the matching ']' */
        int depth = 0;
        while (*p && !(*p == ']' && depth == 0)) {
            if (*p == '[') depth++;
            else if (*p == ']') depth--;
            p++;
        }
        if (*p != ']') { snprintf(why, whylen, "unterminated '['"); return NULL; }
        char sel[512];
        size_t n = (size_t)(p - s);
        p++;
        if (n == 0 || n >= sizeof sel) { snprintf(why, whylen, "bad selector"); return NULL; }
        memcpy(sel, s, n); sel[n] = '\0';
        if (!cJSON_IsArray(cur)) { snprintf(why, whylen, "[%s]: not an array", sel); return NULL; }
        char *eq = strchr(sel, '=');
        if (!eq) {
            char *end;
            errno = 0;
            long idx = strtol(sel, &end, 10);
            if (*end || errno || idx < 0) { snprintf(why, whylen, "bad index [%s]", sel); return NULL; }
            if (idx >= cJSON_GetArraySize(cur)) { snprintf(why, whylen, "index [%ld] out of range (size %d)", idx, cJSON_GetArraySize(cur)); return NULL; }
            cur = cJSON_GetArrayItem(cur, (int)idx);
        } else {
            *eq = '\0';
            const char *key = sel, *val = eq + 1;
            const cJSON *hit = NULL, *el;
            cJSON_ArrayForEach(el, cur) {
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(el, key);
                if (cJSON_IsString(k) && strcmp(k->valuestring, val) == 0) { hit = el; break; }
            }
            if (!hit) { snprintf(why, whylen, "no element with %s=%s", key, val); return NULL; }
            cur = hit;
        }
    }
    return cur;
}

/* Mode 1: check RESULT.json (argv[1]) against the expected-value file argv[2]; exit status as above. */
static int expected_main(char **argv)
{
    char casename[256];
    const char *base = strrchr(argv[2], '/');
    snprintf(casename, sizeof casename, "%s", base ? base + 1 : argv[2]);
    char *dot = strstr(casename, ".expected");
    if (dot) *dot = '\0';

    FILE *ef = fopen(argv[2], "r");
    if (!ef) { printf("not ok - %s: cannot read expected file %s\n", casename, argv[2]); return 2; }
    char *text = slurp(argv[1]);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!root) {
        printf("not ok - %s: cannot read or parse JSON result %s\n", casename, argv[1]);
        fclose(ef);
        return 2;
    }

    char line[4096];
    int nfail = 0, nchecks = 0, lineno = 0, bad_input = 0;
    while (fgets(line, sizeof line, ef)) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        if (*s == '\0') continue;
        if (*s == '#') {
            char nm[256];
            if (sscanf(s, "# case: %255s", nm) == 1) snprintf(casename, sizeof casename, "%s", nm);
            continue;
        }
        char path[1024], val[1024], tol[64], flag[16];
        int nf = sscanf(s, "%1023s %1023s %63s %15s", path, val, tol, flag);
        nchecks++;
        if (nf < 2 || (nf == 4 && strcmp(flag, "abs") != 0)) {
            printf("not ok - %s line %d: malformed expected line\n", casename, lineno);
            nfail++; bad_input = 1;
            continue;
        }
        char why[600];
        const cJSON *item = resolve(root, path, why, sizeof why);
        if (!item) { printf("not ok - %s %s: %s\n", casename, path, why); nfail++; continue; }
        if (nf == 2) {                                     /* string comparison */
            if (!cJSON_IsString(item)) { printf("not ok - %s %s: expected string \"%s\", got a non-string\n", casename, path, val); nfail++; }
            else if (strcmp(item->valuestring, val) != 0) { printf("not ok - %s %s: got \"%s\" expected \"%s\"\n", casename, path, item->valuestring, val); nfail++; }
            else printf("ok - %s %s\n", casename, path);
            continue;
        }
        char *e1, *e2;
        double want = strtod(val, &e1), t = strtod(tol, &e2);
        if (*e1 || *e2 || !isfinite(want) || !(t >= 0)) {
            printf("not ok - %s line %d: malformed value or tolerance\n", casename, lineno);
            nfail++; bad_input = 1;
            continue;
        }
        if (!cJSON_IsNumber(item)) { printf("not ok - %s %s: expected number %.17g, got a non-number\n", casename, path, want); nfail++; continue; }
        double got = item->valuedouble, diff = fabs(got - want);
        int is_abs = (nf == 4);
        double err = (is_abs || want == 0) ? diff : diff / fabs(want);
        int pass = isfinite(got) && (t == 0 ? got == want : err <= t);
        if (pass) printf("ok - %s %s\n", casename, path);
        else {
            printf("not ok - %s %s: got %.17g expected %.17g %s err %.3g (tol %g)\n", casename, path, got, want,
                   (is_abs || want == 0) ? "abs" : "rel", err, t);
            nfail++;
        }
    }
    fclose(ef);
    cJSON_Delete(root);
    if (nchecks == 0) { printf("not ok - %s: no checks in %s\n", casename, argv[2]); return 2; }
    return bad_input ? 2 : (nfail ? 1 : 0);
}

/* ---- mode 2: --close ---- */

typedef struct {
    double tol, atol;
    const char **ignore;
    int nignore;
    int ndiff;
} close_ctx;

enum { PATH_MAX_LEN = 2048, MAX_SHOWN = 8 };

static int ignored(const close_ctx *c, const char *name)
{
    for (int i = 0; i < c->nignore; i++) {
        const char *k = c->ignore[i];
        size_t n = strlen(k);
        if (n > 0 && k[n - 1] == '*' ? strncmp(name, k, n - 1) == 0 : strcmp(name, k) == 0) return 1;
    }
    return 0;
}

static void differ(close_ctx *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void differ(close_ctx *c, const char *path, const char *fmt, ...)
{
    if (c->ndiff++ >= MAX_SHOWN) return;
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", *path ? path : "(top)");
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

static const char *kind(const cJSON *x)
{
    return cJSON_IsNumber(x) ? "a number" : cJSON_IsString(x) ? "a string" : cJSON_IsBool(x) ? "a boolean"
         : cJSON_IsNull(x) ? "null" : cJSON_IsArray(x) ? "an array" : cJSON_IsObject(x) ? "an object" : "invalid";
}

static void close_walk(close_ctx *c, const cJSON *a, const cJSON *b, char *path, size_t len);

/* Objects: every member of either side but the ignored ones is on both sides and agrees. */
static void close_object(close_ctx *c, const cJSON *a, const cJSON *b, char *path, size_t len)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (ignored(c, x->string)) continue;
        snprintf(path + len, PATH_MAX_LEN - len, "%s%s", len ? "." : "", x->string);
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!y) differ(c, path, "only in the first file");
        else close_walk(c, x, y, path, strlen(path));
    }
    cJSON_ArrayForEach(x, b) {
        if (ignored(c, x->string) || cJSON_GetObjectItemCaseSensitive(a, x->string)) continue;
        snprintf(path + len, PATH_MAX_LEN - len, "%s%s", len ? "." : "", x->string);
        differ(c, path, "only in the second file");
    }
    path[len] = '\0';
}

static void close_number(close_ctx *c, double a, double b, const char *path)
{
    double d = fabs(a - b), s = fmax(fabs(a), fabs(b));
    if (a == b || d <= c->tol * s || d <= c->atol) return;
    if (isnan(d)) differ(c, path, "%.17g vs %.17g", a, b);
    else differ(c, path, "%.17g vs %.17g (relative difference %.3g, tolerance %g%s)", a, b, s > 0 ? d / s : d,
                c->tol, c->atol > 0 ? ", or absolute" : "");
}

static void close_walk(close_ctx *c, const cJSON *a, const cJSON *b, char *path, size_t len)
{
    if (strcmp(kind(a), kind(b)) != 0) { differ(c, path, "%s vs %s", kind(a), kind(b)); return; }
    if (cJSON_IsObject(a)) close_object(c, a, b, path, len);
    else if (cJSON_IsArray(a)) {
        int na = cJSON_GetArraySize(a), nb = cJSON_GetArraySize(b);
        if (na != nb) { differ(c, path, "array of %d vs %d elements", na, nb); return; }
        for (int i = 0; i < na; i++) {
            snprintf(path + len, PATH_MAX_LEN - len, "[%d]", i);
            close_walk(c, cJSON_GetArrayItem(a, i), cJSON_GetArrayItem(b, i), path, strlen(path));
        }
        path[len] = '\0';
    } else if (cJSON_IsNumber(a)) close_number(c, a->valuedouble, b->valuedouble, path);
    else if (cJSON_IsString(a) && strcmp(a->valuestring, b->valuestring) != 0)
        differ(c, path, "\"%s\" vs \"%s\"", a->valuestring, b->valuestring);
    else if (cJSON_IsBool(a) && cJSON_IsTrue(a) != cJSON_IsTrue(b))
        differ(c, path, "%s vs %s", cJSON_IsTrue(a) ? "true" : "false", cJSON_IsTrue(b) ? "true" : "false");
}

static cJSON *load(const char *path)
{
    char *text = slurp(path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!root) printf("cannot read or parse JSON %s\n", path);
    return root;
}

static int parse_tol(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return s[0] != '\0' && *end == '\0' && *out >= 0 && isfinite(*out);
}

/* Mode 2: jcmp --close TOL [--abs ATOL] [--ignore KEY]... A.json B.json (argv[0] is "--close"). */
static int close_main(int argc, char **argv)
{
    const char *usage = "usage: jcmp --close TOL [--abs ATOL] [--ignore KEY]... A.json B.json\n";
    close_ctx c = {0};
    c.ignore = calloc((size_t)argc, sizeof *c.ignore);
    if (!c.ignore) return 2;
    int i = 2, bad = argc < 4 || !parse_tol(argv[1], &c.tol);
    for (; !bad && i < argc - 2; i += 2) {
        if (strcmp(argv[i], "--ignore") == 0) c.ignore[c.nignore++] = argv[i + 1];
        else if (strcmp(argv[i], "--abs") == 0) bad = !parse_tol(argv[i + 1], &c.atol);
        else bad = 1;
    }
    if (bad || i != argc - 2) { fputs(usage, stderr); free(c.ignore); return 2; }
    cJSON *a = load(argv[argc - 2]), *b = a ? load(argv[argc - 1]) : NULL;
    int rc = 2;
    if (a && b) {
        char path[PATH_MAX_LEN] = "";
        close_walk(&c, a, b, path, 0);
        if (c.ndiff > MAX_SHOWN) printf("... %d differences in all\n", c.ndiff);
        rc = c.ndiff ? 1 : 0;
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(c.ignore);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--close") == 0) return close_main(argc - 1, argv + 1);
    if (argc != 3) {
        fprintf(stderr, "usage: jcmp RESULT.json EXPECTED\n       jcmp --close TOL [--abs ATOL] [--ignore KEY]... A.json B.json\n");
        return 2;
    }
    return expected_main(argv);
}
