/* grid_out.c: the output directory of `gravrd grid` (grid_out.h, docs/results.md). */
#include "grid_out.h"
#include "results_file.h"
#include "cleanup.h"
#include "report.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------- opening, and what --resume finds ---------------- */

/* mkdir -p for one level below an existing parent (the usual case) or several. */
static int make_dir(const char *dir)
{
    char tmp[4096];
    if (strlen(dir) >= sizeof tmp) return gr_fail(GR_EUSAGE, "--out", "directory name too long");
    strcpy(tmp, dir);
    for (char *c = tmp + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(tmp, 0777) && errno != EEXIST) return gr_fail(GR_EIO, tmp, "cannot create directory: %s", strerror(errno));
        *c = '/';
    }
    if (mkdir(tmp, 0777) && errno != EEXIST) return gr_fail(GR_EIO, dir, "cannot create directory: %s", strerror(errno));
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) return gr_fail(GR_EUSAGE, dir, "--out: not a directory");
    return GR_OK;
}

/* A 16-hex-digit string member of a record, or NULL. */
static const char *hex_member(const cJSON *rec, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);
    return cJSON_IsString(v) && strlen(v->valuestring) == 16 ? v->valuestring : NULL;
}

/* The ids and hashes of the whole lines of text (len bytes). GR_EINPUT naming the first line that is not a
 * record (a damaged file: resuming past it would keep it in results.jsonl for every later reader). */
static int read_done(gr_grid_out *o, char *text, size_t len)
{
    int cap = 0;
    for (size_t i = 0; i < len; i++) cap += text[i] == '\n';
    o->done_id = gr_calloc((size_t)cap + 1, sizeof *o->done_id);
    o->done_hash = gr_calloc((size_t)cap + 1, sizeof *o->done_hash);
    o->done_failed = gr_calloc((size_t)cap + 1, 1);
    int lineno = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = 0;
        lineno++;
        if (!line[strspn(line, " \t\r")]) continue;  /* a blank line (one emptied by hand), as gravrd table skips it */
        cJSON *rec = cJSON_Parse(line);
        const char *id = hex_member(rec, "spec_id"), *hash = hex_member(rec, "spec_hash");
        if (!id || !hash) {
            cJSON_Delete(rec);
            return gr_fail(GR_EINPUT, o->path, "line %d is not a record of gravrd grid (a damaged file?): repair or "
                           "remove that line, then --resume", lineno);
        }
        memcpy(o->done_id[o->ndone], id, 17);
        memcpy(o->done_hash[o->ndone], hash, 17);
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "status"));
        o->done_failed[o->ndone] = st && !strcmp(st, "failed");
        o->ndone++;
        cJSON_Delete(rec);
    }
    return GR_OK;
}

int gr_grid_out_open(gr_grid_out *o, const char *dir, int resume)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->dir = gr_strdup(dir);
    GR_CALL(make_dir(dir));
    if ((size_t)snprintf(o->path, sizeof o->path, "%s/results.jsonl", dir) >= sizeof o->path)
        return gr_fail(GR_EUSAGE, "--out", "directory name too long");
    char *text;
    size_t len;
    GR_CALL(gr_read_text(o->path, 1, &text, &len));
    if (len && !resume) {
        free(text);
        return gr_fail(GR_EUSAGE, o->path, "results of an earlier run are here: use --resume to finish them, or "
                       "another --out");
    }
    size_t whole = len;
    while (whole > 0 && text[whole - 1] != '\n') whole--;  /* a partial last line, left by a killed writer */
    int rc = read_done(o, text, whole);
    free(text);
    if (rc) return rc;
    if (whole < len && truncate(o->path, (off_t)whole))
        return gr_fail(GR_EIO, o->path, "cannot cut the partial last line: %s", strerror(errno));
    o->fd = open(o->path, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (o->fd < 0) return gr_fail(GR_EIO, o->path, "cannot open for appending: %s", strerror(errno));
    o->t_sync = gr_now();
    return GR_OK;
}

int gr_grid_out_is_done(const gr_grid_out *o, const char *id, const char *hash)
{
    int found = 0;  /* the last record of the id counts */
    for (int i = 0; i < o->ndone; i++)
        if (!strcmp(o->done_id[i], id)) found = !strcmp(o->done_hash[i], hash) ? 1 + o->done_failed[i] : 0;
    return found;
}

/* ---------------- records ---------------- */

cJSON *gr_grid_results_json(const gr_result *res, int nres)
{
    cJSON *arr = cJSON_CreateArray();
    for (int j = 0; j < nres; j++) cJSON_AddItemToArray(arr, gr_result_json(&res[j]));
    return arr;
}

char *gr_grid_record(const gr_grid *g, const gr_grid_spec *s, const char *hash, cJSON *results, const char *reason)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "spec_id", s->id);
    cJSON_AddStringToObject(r, "spec_hash", hash);
    cJSON_AddNumberToObject(r, "index", s->index);
    cJSON_AddStringToObject(r, "label", s->label);
    cJSON *axes = cJSON_AddObjectToObject(r, "axes");
    for (int a = 0; a < g->naxes; a++) cJSON_AddStringToObject(axes, g->axes[a].name, s->axis_label[a]);
    cJSON_AddStringToObject(r, "status", reason ? "failed" : "ok");
    if (reason) cJSON_AddStringToObject(r, "reason", reason);
    cJSON *set = cJSON_AddObjectToObject(r, "settings");
    for (int k = 0; k < GR_GRID_NKEYS; k++)
        if (s->text[k]) cJSON_AddStringToObject(set, gr_grid_key_name((gr_grid_key)k), s->text[k]);
    if (!s->text[GR_GRID_VCOV] && s->command == GR_GRID_CMD_ESTIMATE)  /* the variance in effect (spec.h) */
        cJSON_AddStringToObject(set, "vcov", gr_vcov_word(s->spec.model.vcov));
    if (results && !reason) cJSON_AddItemToObject(r, "results", results);
    else {
        cJSON_Delete(results);
        cJSON_AddArrayToObject(r, "results");
    }
    char *text = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    if (!text) { fprintf(stderr, "gravrd: error: out of memory rendering a record\n"); abort(); }
    return text;
}

int gr_grid_out_sync(gr_grid_out *o)
{
    if (o->fd >= 0 && fdatasync(o->fd)) return gr_fail(GR_EIO, o->path, "sync failed: %s", strerror(errno));
    o->t_sync = gr_now();
    return GR_OK;
}

int gr_grid_out_append(gr_grid_out *o, const char *line)
{
    size_t len = strlen(line);
    char *buf = gr_malloc(len + 2, 1);
    memcpy(buf, line, len);
    buf[len++] = '\n';
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(o->fd, buf + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            free(buf);
            return gr_fail(GR_EIO, o->path, "write of a record failed: %s", w < 0 ? strerror(e) : "no progress");
        }
        off += (size_t)w;
    }
    free(buf);
    return gr_now() - o->t_sync >= 1.0 ? gr_grid_out_sync(o) : GR_OK;
}

/* ---------------- results.csv ---------------- */

typedef struct { const char *id; cJSON *rec; } rec_ref;

static int cmp_ref(const void *a, const void *b) { return strcmp(((const rec_ref *)a)->id, ((const rec_ref *)b)->id); }

/* RFC 4180 field. */
static void csv_field(FILE *f, const char *s, int last)
{
    if (s && strpbrk(s, ",\"\n\r")) {
        fputc('"', f);
        for (const char *c = s; *c; c++) { if (*c == '"') fputc('"', f); fputc(*c, f); }
        fputc('"', f);
    } else if (s) {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

static void csv_num(FILE *f, const cJSON *v, int last)
{
    char buf[40] = "";
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
    csv_field(f, buf, last);
}

/* 1 if a specification of g runs the wild cluster bootstrap: results.csv then has its three columns. */
static int grid_has_boot(const gr_grid *g)
{
    for (int i = 0; i < g->nspecs; i++)
        if (g->specs[i].spec.model.boot.B > 0) return 1;
    return 0;
}

static const char *const boot_cols[] = {"boot_p_value", "boot_conf_low", "boot_conf_high"};

static void csv_header(FILE *f, const gr_grid *g)
{
    fputs("spec_id,index,", f);
    for (int a = 0; a < g->naxes; a++) csv_field(f, g->axes[a].name, 0);
    fputs("sample,dependent,term,estimate,std_error,t_value,p_value,conf_low,conf_high,", f);
    if (grid_has_boot(g)) fputs("boot_p_value,boot_conf_low,boot_conf_high,", f);  /* only with a bootstrap */
    fputs("nobs,r2,adj_r2,within_r2,n_clusters,iterations,status,reason\n", f);
}

/* The rows of one record. */
static void csv_record(FILE *f, const gr_grid *g, const cJSON *rec, int boot)
{
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(rec, "axes"), *res = cJSON_GetObjectItemCaseSensitive(rec, "results");
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "status"));
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "reason"));
    int nrows = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, res) {
        const cJSON *c, *coefs = cJSON_GetObjectItemCaseSensitive(r, "coefficients");
        cJSON_ArrayForEach(c, coefs) {
            csv_field(f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "spec_id")), 0);
            csv_num(f, cJSON_GetObjectItemCaseSensitive(rec, "index"), 0);
            for (int a = 0; a < g->naxes; a++)
                csv_field(f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(axes, g->axes[a].name)), 0);
            csv_field(f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "sample")), 0);
            csv_field(f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "dependent")), 0);
            csv_field(f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "term")), 0);
            static const char *const ck[] = {"estimate", "std_error", "t_value", "p_value", "conf_low", "conf_high"};
            for (int k = 0; k < 6; k++) csv_num(f, cJSON_GetObjectItemCaseSensitive(c, ck[k]), 0);
            for (int k = 0; k < 3 && boot; k++) csv_num(f, cJSON_GetObjectItemCaseSensitive(c, boot_cols[k]), 0);
            static const char *const rk[] = {"nobs", "r2", "adj_r2", "within_r2"};
            for (int k = 0; k < 4; k++) csv_num(f, cJSON_GetObjectItemCaseSensitive(r, rk[k]), 0);
            csv_num(f, cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "n_clusters"), 0), 0);
            csv_num(f, cJSON_GetObjectItemCaseSensitive(r, "iterations"), 0);
            csv_field(f, status, 0);
            csv_field(f, "", 1);
            nrows++;
        }
    }
    if (nrows) return;
    csv_field(f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "spec_id")), 0);
    csv_num(f, cJSON_GetObjectItemCaseSensitive(rec, "index"), 0);
    for (int a = 0; a < g->naxes; a++)
        csv_field(f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(axes, g->axes[a].name)), 0);
    for (int k = 0; k < 15 + 3 * boot; k++) csv_field(f, "", 0);
    csv_field(f, status, 0);
    csv_field(f, reason ? reason : "", 1);
}

/* 1 if a record holds summary statistics (command: summary) rather than coefficients. */
static int is_summary(const cJSON *rec)
{
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "results"), 0);
    return first && cJSON_GetObjectItemCaseSensitive(first, "variable") && !cJSON_GetObjectItemCaseSensitive(first, "coefficients");
}

/* <dir>/summary.csv: one row per summary specification, sample and variable (only when there are any). */
static int summary_csv(gr_grid_out *o, const gr_grid *g, const rec_ref *refs, int n)
{
    int any = 0;
    for (int j = 0; j < n && !any; j++) any = is_summary(refs[j].rec);
    if (!any) return GR_OK;
    char path[4300];
    snprintf(path, sizeof path, "%s/summary.csv", o->dir);
    gr_outfile out;
    GR_CALL(gr_outfile_open(&out, path));
    static const char *const num[] = {"nobs", "missing", "mean", "sd", "min", "p25", "p50", "p75", "max"};
    fputs("spec_id,index,", out.f);
    for (int a = 0; a < g->naxes; a++) csv_field(out.f, g->axes[a].name, 0);
    fputs("sample,variable,level,nobs,missing,mean,sd,min,p25,p50,p75,max\n", out.f);
    for (int j = 0; j < n; j++) {
        if (!is_summary(refs[j].rec)) continue;
        const cJSON *rec = refs[j].rec, *axes = cJSON_GetObjectItemCaseSensitive(rec, "axes"), *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(rec, "results")) {
            csv_field(out.f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "spec_id")), 0);
            csv_num(out.f, cJSON_GetObjectItemCaseSensitive(rec, "index"), 0);
            for (int a = 0; a < g->naxes; a++)
                csv_field(out.f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(axes, g->axes[a].name)), 0);
            static const char *const txt[] = {"sample", "variable", "level"};
            for (int k = 0; k < 3; k++) csv_field(out.f, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, txt[k])), 0);
            for (int k = 0; k < 9; k++) csv_num(out.f, cJSON_GetObjectItemCaseSensitive(r, num[k]), k == 8);
        }
    }
    return gr_outfile_close(&out, 1);
}

int gr_grid_out_csv(gr_grid_out *o, const gr_grid *g, int *nok, int *nfailed)
{
    *nok = *nfailed = 0;
    char *text;
    size_t len;
    GR_CALL(gr_read_text(o->path, 1, &text, &len));
    int cap = 1;
    for (size_t i = 0; i < len; i++) cap += text[i] == '\n';
    rec_ref *refs = gr_calloc((size_t)cap, sizeof *refs);
    int n = 0, stale = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = 0;
        cJSON *rec = cJSON_Parse(line);
        const char *id = hex_member(rec, "spec_id");
        if (!id) { cJSON_Delete(rec); continue; }
        if (gr_grid_find(g, id) < 0) { cJSON_Delete(rec); stale++; continue; }  /* a record of another config */
        int j = 0;
        while (j < n && strcmp(refs[j].id, id)) j++;  /* the last record of an id wins */
        if (j < n) cJSON_Delete(refs[j].rec);
        else n++;
        refs[j] = (rec_ref){id, rec};
    }
    qsort(refs, (size_t)n, sizeof *refs, cmp_ref);
    if (stale)
        gr_warn("%s: %d record(s) of specifications that are not in %s (an earlier config, resumed): kept in "
                "results.jsonl, left out of results.csv", o->path, stale, g->path);
    int rc = summary_csv(o, g, refs, n);
    char path[4300];
    snprintf(path, sizeof path, "%s/results.csv", o->dir);
    gr_outfile out;
    if (!rc) rc = gr_outfile_open(&out, path);
    if (!rc) {
        csv_header(out.f, g);
        int boot = grid_has_boot(g);
        for (int j = 0; j < n; j++) {
            csv_record(out.f, g, refs[j].rec, boot);
            const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(refs[j].rec, "status"));
            *nok += st && !strcmp(st, "ok");
            *nfailed += st && !strcmp(st, "failed");
        }
        rc = gr_outfile_close(&out, 1);
    }
    for (int j = 0; j < n; j++) cJSON_Delete(refs[j].rec);
    free(refs);
    free(text);
    return rc;
}

int gr_grid_out_manifest(gr_grid_out *o, cJSON *m)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/manifest.json", o->dir);
    int rc = gr_write_json(path, m);
    cJSON_Delete(m);
    return rc;
}

void gr_grid_out_close(gr_grid_out *o)
{
    if (o->fd >= 0) close(o->fd);
    free(o->dir); free(o->done_id); free(o->done_hash); free(o->done_failed);
    memset(o, 0, sizeof *o);
    o->fd = -1;
}
