/* jcmp: compare a gravrd --json result with an expected-value file, one TAP line per check.
 *
 * Usage: jcmp RESULT.json EXPECTED
 * EXPECTED lines ('#' starts a comment; "# case: NAME" names the case, default: file basename):
 *   <path> <value> <tol>        numeric: |got - value| <= tol * |value|  (tol 0: exact equality;
 *                                value 0: |got| <= tol)
 *   <path> <value> <tol> abs    numeric, absolute tolerance: |got - value| <= tol
 *   <path> <string>             string equality (the JSON value must be a string)
 * <path>: members joined by '.', each optionally followed by [N] (array index) or [key=value]
 * (the element of an array of objects whose member "key" is the string value, e.g.
 * coefficients[term=log(dist_km)].std_error, results[1].r2, fixef_sizes.exporter^month).
 * Prints "ok - <case> <path>" or "not ok - <case> <path>: why"; exits 0 if every check passed,
 * 1 if any failed, 2 if a file cannot be read or parsed (also printed as a "not ok" line). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: jcmp RESULT.json EXPECTED\n");
        return 2;
    }
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
