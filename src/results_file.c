/* results_file.c: a grid's results.jsonl read back (include/results_file.h, docs/results.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "gr.h"
#include "results_file.h"

int gr_read_text(const char *path, int absent_ok, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st)) {
        if (absent_ok && errno == ENOENT) { *text = gr_strdup(""); return GR_OK; }
        return gr_fail(GR_EIO, path, "cannot open: %s", strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) return gr_fail(GR_EIO, path, "not a regular file");
    FILE *f = fopen(path, "rb");
    if (!f) return gr_fail(GR_EIO, path, "cannot open: %s", strerror(errno));
    size_t cap = (size_t)st.st_size + 1, n = 0, got;  /* the file may grow while it is read */
    char *buf = gr_malloc(cap + 1, 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = gr_realloc(buf, (cap *= 2) + 1, 1);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return gr_fail(GR_EIO, path, "read failed"); }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return GR_OK;
}

/* One line (NUL-terminated; `whole`: it ended with a newline) into R. */
static int take_line(const gr_grid *g, int (*check)(const cJSON *, const char *), gr_results_file *R, const char *line,
                     int lineno, int whole)
{
    const char *c = line;
    while (*c == ' ' || *c == '\t' || *c == '\r') c++;
    if (!*c) return GR_OK;  /* a blank line */
    char where[4300];
    snprintf(where, sizeof where, "%s:%d", R->path, lineno);
    cJSON *r = cJSON_Parse(line);
    if (!cJSON_IsObject(r) && !whole) { cJSON_Delete(r); R->ignored_last = lineno; return GR_OK; }
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        return gr_fail(GR_EFORMAT, where, "not a JSON record (expected one JSON object per line, docs/results.md)");
    }
    int rc = check ? check(r, where) : GR_OK;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "spec_id");
    if (!rc && !cJSON_IsString(id))
        rc = gr_fail(GR_EFORMAT, where, "a record without a \"spec_id\" text (docs/results.md)");
    if (rc) { cJSON_Delete(r); return rc; }
    int i = gr_grid_find(g, id->valuestring);
    if (i < 0) {
        if (R->unknown++ == 0) {
            R->unknown_line = lineno;
            snprintf(R->unknown_id, sizeof R->unknown_id, "%s", id->valuestring);
        }
        cJSON_Delete(r);
        return GR_OK;
    }
    if (R->rec[i]) cJSON_Delete(R->rec[i]);
    else R->nrec++;
    R->rec[i] = r;
    R->line[i] = lineno;
    return GR_OK;
}

int gr_results_file_read(const char *results, const gr_grid *g, int (*check)(const cJSON *rec, const char *where),
                         gr_results_file *R)
{
    memset(R, 0, sizeof *R);
    struct stat st;
    if (!stat(results, &st) && S_ISDIR(st.st_mode)) snprintf(R->path, sizeof R->path, "%s/results.jsonl", results);
    else snprintf(R->path, sizeof R->path, "%s", results);
    R->rec = gr_calloc((size_t)g->nspecs + 1, sizeof *R->rec);
    R->line = gr_calloc((size_t)g->nspecs + 1, sizeof *R->line);
    char *text;
    size_t len;
    GR_CALL(gr_read_text(R->path, 0, &text, &len));
    if (memchr(text, 0, len)) { free(text); return gr_fail(GR_EFORMAT, R->path, "not a text file (a NUL byte)"); }
    int rc = GR_OK, lineno = 0;
    for (char *s = text; rc == GR_OK && s < text + len;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = 0;
        rc = take_line(g, check, R, s, ++lineno, nl != NULL);
        s = nl ? nl + 1 : text + len;
    }
    free(text);
    return rc;
}

void gr_results_file_free(gr_results_file *R, int nspecs)
{
    for (int i = 0; R->rec && i < nspecs; i++) cJSON_Delete(R->rec[i]);
    free(R->rec);
    free(R->line);
    R->rec = NULL;
    R->line = NULL;
}
