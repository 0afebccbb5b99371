/* csv.c: RFC 4180 CSV reader with per-column type inference (see csv.h). */
#include "csv.h"
#include "gr.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int gr_csv_is_missing(const char *f)
{
    return f[0] == 0 || strcmp(f, "NA") == 0 || strcasecmp(f, "nan") == 0;
}

int gr_csv_number(const char *f, double *out)
{
    if (!f[0])
        return -1;
    char *end;
    errno = 0;
    double v = strtod(f, &end);
    if (end == f || *end != 0 || !isfinite(v))
        return -1;
    if (errno == ERANGE && fabs(v) > 1.0) /* overflow; underflow to a tiny value is accepted */
        return -1;
    *out = v;
    return 0;
}

int gr_csv_find(const gr_csv *c, const char *name)
{
    for (int j = 0; j < c->ncols; j++)
        if (strcmp(c->names[j], name) == 0)
            return j;
    return -1;
}

void gr_csv_free(gr_csv *c)
{
    if (!c)
        return;
    for (int j = 0; j < c->ncols; j++) {
        if (c->num)
            free(c->num[j]);
        if (c->str)
            free(c->str[j]);
        if (c->names)
            free(c->names[j]);
    }
    free(c->names);
    free(c->is_string);
    free(c->num);
    free(c->str);
    free(c->line);
    free(c->buf);
    memset(c, 0, sizeof *c);
}

/* The tokenizer state: reads from buf[r], writes unquoted text to buf[w] (w <= r always). */
typedef struct {
    char *buf;
    size_t len, r;
    int64_t line;      /* current physical line */
    char delim;
    const char *where;
} tok;

static void shorten(const char *s, char *out, size_t n)
{
    size_t k = strlen(s);
    if (k < n) {
        memcpy(out, s, k + 1);
        return;
    }
    memcpy(out, s, n - 4);
    strcpy(out + n - 4, "...");
}

/* Skip blank lines (LF or CRLF) at t->r. Returns 0 at the end of the input, else 1. */
static int skip_blank_lines(tok *t)
{
    char *b = t->buf;
    for (;;) {
        if (t->r >= t->len)
            return 0;
        if (b[t->r] == '\n') {
            t->r++;
            t->line++;
        } else if (b[t->r] == '\r' && (t->r + 1 >= t->len || b[t->r + 1] == '\n')) {
            t->r += 2;
            t->line++;
        } else
            return 1;
    }
}

/* The quoted field (field number `field`, 1-based) whose opening quote is at t->r: its text unquoted to
 * buf[*w...], t->r after the closing quote (and a CR before a line end). Returns GR_OK, or GR_EINPUT via
 * gr_fail when the quote is not closed or is followed by anything but a delimiter or a line end. */
static int read_quoted(tok *t, size_t *w, int field, int64_t rec_line)
{
    char *b = t->buf, where[4200];
    t->r++;
    for (;;) {
        if (t->r >= t->len) {
            snprintf(where, sizeof where, "%s:%lld", t->where, (long long)rec_line);
            return gr_fail(GR_EINPUT, where, "field %d: quoted field is not closed before the end of the file", field);
        }
        char c = b[t->r];
        if (c == '"') {
            if (t->r + 1 < t->len && b[t->r + 1] == '"') {
                b[(*w)++] = '"';
                t->r += 2;
                continue;
            }
            t->r++;
            break;
        }
        if (c == '\n')
            t->line++;
        b[(*w)++] = c;
        t->r++;
    }
    /* after the closing quote: delimiter, end of line or end of input */
    if (t->r < t->len && b[t->r] == '\r' && (t->r + 1 >= t->len || b[t->r + 1] == '\n'))
        t->r++;
    if (t->r < t->len && b[t->r] != t->delim && b[t->r] != '\n') {
        snprintf(where, sizeof where, "%s:%lld", t->where, (long long)t->line);
        return gr_fail(GR_EINPUT, where, "field %d: unexpected character '%c' after a closing quote", field, b[t->r]);
    }
    return GR_OK;
}

/* Append field start f to (*fields)[*nf], growing the array (always room for one more after it). Returns
 * GR_OK, or GR_EINPUT when the count would no longer fit an int. */
static int push_field(const tok *t, char ***fields, size_t *cap, int *nf, char *f, int64_t rec_line)
{
    if (*nf >= INT_MAX - 2) { /* the field count is an int (ncols): never let it wrap */
        char where[4200];
        snprintf(where, sizeof where, "%s:%lld", t->where, (long long)rec_line);
        return gr_fail(GR_EINPUT, where, "more than %d fields in one record", INT_MAX - 2);
    }
    if ((size_t)*nf + 2 > *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *fields = gr_realloc(*fields, *cap, sizeof **fields);
    }
    (*fields)[(*nf)++] = f;
    return GR_OK;
}

/* Read one record. Fields are NUL-terminated in place; their starts are appended to *fields.
 * Returns 1 if a record was read, 0 at end of input, or a negative gr_status on error. */
static int next_record(tok *t, char ***fields, size_t *cap, int *nf, int64_t *rec_line)
{
    char *b = t->buf;
    if (!skip_blank_lines(t))
        return 0;
    *rec_line = t->line;
    *nf = 0;
    size_t w = t->r;
    for (;;) {
        size_t start = w;
        int quoted = t->r < t->len && b[t->r] == '"', st;
        if (quoted && (st = read_quoted(t, &w, *nf + 1, *rec_line)) != GR_OK)
            return -st;
        if (!quoted)
            while (t->r < t->len && b[t->r] != t->delim && b[t->r] != '\n')
                b[w++] = b[t->r++];
        int at_newline = t->r < t->len && b[t->r] == '\n';
        int end_of_record = at_newline || t->r >= t->len;
        if (!quoted && end_of_record && w > start && b[w - 1] == '\r')
            w--;
        if (t->r < t->len)
            t->r++; /* consume the delimiter or the newline */
        if (at_newline)
            t->line++;
        b[w++] = 0; /* w <= r here, or w == len (buf has len+2 bytes) */
        if ((st = push_field(t, fields, cap, nf, b + start, *rec_line)) != GR_OK)
            return -st;
        if (end_of_record)
            return 1;
        if (t->r >= t->len) { /* the input ends right after a delimiter: one more, empty field */
            (*fields)[(*nf)++] = b + w - 1; /* points at the NUL just written */
            return 1;
        }
    }
}

/* The header record: c->ncols and c->names (non-empty, short, no '/', not . or .., distinct). */
static int read_header(tok *t, char ***rec, size_t *rcap, gr_csv *c)
{
    int nf;
    int64_t rline;
    char lw[4200];
    int got = next_record(t, rec, rcap, &nf, &rline);
    if (got < 0)
        return -got;
    if (got == 0)
        return gr_fail(GR_EINPUT, t->where, "empty file; expected a header line of column names");
    c->ncols = nf;
    c->names = gr_calloc(nf, sizeof *c->names);
    for (int j = 0; j < nf; j++) {
        snprintf(lw, sizeof lw, "%s:%lld", t->where, (long long)rline);
        const char *n = (*rec)[j];
        if (!n[0])
            return gr_fail(GR_EINPUT, lw, "header field %d is empty; expected a column name", j + 1);
        if (strlen(n) >= GR_NAME_MAX || strchr(n, '/') || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            return gr_fail(GR_EINPUT, lw, "header field %d: column name '%.40s' is too long or contains '/'", j + 1, n);
        for (int k = 0; k < j; k++)
            if (strcmp(c->names[k], n) == 0)
                return gr_fail(GR_EINPUT, lw, "column name '%s' appears twice in the header", n);
        c->names[j] = gr_strdup(n);
    }
    return GR_OK;
}

/* The data records after the header: their field starts row by row into *all (nrows x c->ncols, grown
 * here), their lines into c->line, their count into c->nrows. Each must have c->ncols fields; none is an
 * error. */
static int read_records(tok *t, char ***rec, size_t *rcap, gr_csv *c, char ***all)
{
    size_t acap = 0;
    int nf;
    int64_t rline, nrows = 0, lcap = 0;
    for (;;) {
        int got = next_record(t, rec, rcap, &nf, &rline);
        if (got < 0)
            return -got;
        if (got == 0)
            break;
        if (nf != c->ncols) {
            char lw[4200];
            snprintf(lw, sizeof lw, "%s:%lld", t->where, (long long)rline);
            return gr_fail(GR_EINPUT, lw, "expected %d fields as in the header, found %d", c->ncols, nf);
        }
        if ((size_t)((nrows + 1) * c->ncols) > acap) {
            acap = acap ? 2 * acap : (size_t)64 * c->ncols;
            *all = gr_realloc(*all, acap, sizeof **all);
        }
        if (nrows + 1 > lcap) {
            lcap = lcap ? 2 * lcap : 64;
            c->line = gr_realloc(c->line, lcap, sizeof *c->line);
        }
        memcpy(*all + nrows * c->ncols, *rec, c->ncols * sizeof **rec);
        c->line[nrows++] = rline;
    }
    if (nrows == 0)
        return gr_fail(GR_EINPUT, t->where, "no data rows after the header line");
    c->nrows = nrows;
    return GR_OK;
}

/* Column j's fields (all[i * ncols + j]) into c->str[j] (a string column) or c->num[j]. Every field of a
 * numeric column must be missing or a number. */
static int convert_column(gr_csv *c, char **all, int j, const char *where)
{
    int64_t nrows = c->nrows;
    if (c->is_string[j]) {
        c->str[j] = gr_malloc(nrows, sizeof **c->str);
        for (int64_t i = 0; i < nrows; i++) {
            char *f = all[i * c->ncols + j];
            c->str[j][i] = gr_csv_is_missing(f) ? NULL : f;
        }
        return GR_OK;
    }
    c->num[j] = gr_malloc(nrows, sizeof **c->num);
    for (int64_t i = 0; i < nrows; i++) {
        const char *f = all[i * c->ncols + j];
        if (gr_csv_is_missing(f))
            c->num[j][i] = NAN;
        else if (gr_csv_number(f, &c->num[j][i]) != 0) {
            char shown[48], lw[4200];
            shorten(f, shown, sizeof shown);
            snprintf(lw, sizeof lw, "%s:%lld", where, (long long)c->line[i]);
            return gr_fail(GR_EINPUT, lw, "column '%s': expected a number (the column's first value is numeric), found '%s'",
                           c->names[j], shown);
        }
    }
    return GR_OK;
}

/* The type of every column (forced string columns; else numeric when its first non-missing field is a
 * number) and its values (convert_column). */
static int type_columns(gr_csv *c, char **all, char **force_string, int nforce, const char *where)
{
    c->is_string = gr_calloc(c->ncols, sizeof *c->is_string);
    c->num = gr_calloc(c->ncols, sizeof *c->num);
    c->str = gr_calloc(c->ncols, sizeof *c->str);
    for (int f = 0; f < nforce; f++) {
        int j = gr_csv_find(c, force_string[f]);
        if (j < 0)
            return gr_fail(GR_EINPUT, where, "column '%s' is not in the header", force_string[f]);
        c->is_string[j] = 1;
    }
    for (int j = 0; j < c->ncols; j++) {
        if (!c->is_string[j]) {
            double v;
            for (int64_t i = 0; i < c->nrows; i++) {
                const char *f = all[i * c->ncols + j];
                if (gr_csv_is_missing(f))
                    continue;
                if (gr_csv_number(f, &v) != 0)
                    c->is_string[j] = 1;
                break;
            }
        }
        GR_CALL(convert_column(c, all, j, where));
    }
    return GR_OK;
}

int gr_csv_parse(const char *text, size_t len, const char *where, char delim, char **force_string, int nforce,
                 gr_csv *out)
{
    memset(out, 0, sizeof *out);
    if (delim == '"' || delim == '\n' || delim == '\r' || delim == 0)
        return gr_fail(GR_EUSAGE, "--delimiter", "the delimiter cannot be a quote, NUL or a line end");
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF) {
        text += 3; /* UTF-8 byte-order mark */
        len -= 3;
    }
    if (memchr(text, 0, len))
        return gr_fail(GR_EFORMAT, where, "contains NUL bytes; expected a text CSV file");
    gr_csv c;
    memset(&c, 0, sizeof c);
    c.buf = gr_malloc(len + 2, 1);
    memcpy(c.buf, text, len);
    c.buf[len] = c.buf[len + 1] = 0;
    tok t = {c.buf, len, 0, 1, delim, where};
    char **rec = NULL, **all = NULL;
    size_t rcap = 0;
    int rc = GR_OK;
    GR_TRY(read_header(&t, &rec, &rcap, &c));
    GR_TRY(read_records(&t, &rec, &rcap, &c, &all));
    GR_TRY(type_columns(&c, all, force_string, nforce, where));
    free(rec);
    free(all);
    *out = c;
    return GR_OK;
fail:
    free(rec);
    free(all);
    gr_csv_free(&c);
    return rc;
}

int gr_csv_read(const char *path, char delim, char **force_string, int nforce, gr_csv *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return gr_fail(GR_EIO, path, "cannot open for reading: %s", strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *text = gr_malloc(cap, 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            text = gr_realloc(text, cap, 1);
        }
        size_t k = fread(text + len, 1, cap - len, f);
        len += k;
        if (k == 0)
            break;
    }
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        free(text);
        return gr_fail(GR_EIO, path, "read error (is it a directory?)");
    }
    int st = gr_csv_parse(text, len, path, delim, force_string, nforce, out);
    free(text);
    return st;
}
