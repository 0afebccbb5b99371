/* csv.c: RFC 4180 CSV reader with per-column type inference (see csv.h). */
#include "csv.h"
#include "gr.h"
#include "xchg.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
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

/* The header's nf fields as c->ncols and c->names (non-empty, short, no '/', not . or .., distinct);
 * `lw` names the header's line in messages. */
static int set_header(gr_csv *c, char **rec, int nf, const char *lw)
{
    c->ncols = nf;
    c->names = gr_calloc(nf, sizeof *c->names);
    for (int j = 0; j < nf; j++) {
        const char *n = rec[j];
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

/* The header record: c->ncols and c->names (set_header). */
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
    snprintf(lw, sizeof lw, "%s:%lld", t->where, (long long)rline);
    return set_header(c, *rec, nf, lw);
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
static int convert_column(gr_csv *c, char **all, int j, const char *where, int64_t *bad)
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
            *bad = i;
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
        int64_t bad;
        GR_CALL(convert_column(c, all, j, where, &bad));
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
    c.nrows_all = c.nrows;
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

/* ---- the parallel reader (gr_csv_read_part) ---- */

/* Where records start, without tokenizing: the tokenizer's state between two bytes. S at a record start
 * (after a line end), F after a delimiter, U in an unquoted field, Q in a quoted one, QQ after a quote in
 * one (closing, or the first of a doubled quote), C after a closing quote and a CR, E after a syntax
 * error (the tokenizer reports it). A record starts where a line end leads to S. After an error the scan
 * resumes at the next line end: the ranks after it then parse records that may be wrong, but the rank
 * with the error reports it first (errors are agreed in file order), and it needs no more text than to
 * that line end. */
enum { ST_S, ST_F, ST_U, ST_Q, ST_QQ, ST_C, ST_E, NST };
enum { CL_OTHER, CL_DELIM, CL_QUOTE, CL_LF, CL_CR, NCL };
static const unsigned char dfa_next[NST][NCL] = {
    {ST_U, ST_F, ST_Q, ST_S, ST_U},  /* S */
    {ST_U, ST_F, ST_Q, ST_S, ST_U},  /* F */
    {ST_U, ST_F, ST_U, ST_S, ST_U},  /* U */
    {ST_Q, ST_Q, ST_QQ, ST_Q, ST_Q}, /* Q */
    {ST_E, ST_F, ST_Q, ST_S, ST_C},  /* QQ */
    {ST_E, ST_E, ST_E, ST_S, ST_E},  /* C */
    {ST_E, ST_E, ST_E, ST_S, ST_E},  /* E: resumes at the next line end (see above) */
};

/* The automaton's effect over a byte range, for every start state at once: a map state -> state packed
 * three bits a state. Built lazily as an automaton over maps (few are reachable), one lookup a byte. */
typedef struct {
    unsigned char cls[256];
    uint32_t *map;
    int32_t *next; /* next[id * NCL + class], -1 not built yet */
    int n, cap;
} mapdfa;

static int map_state(uint32_t m, int s)
{
    return (int)((m >> (3 * s)) & 7);
}

static int mapdfa_id(mapdfa *d, uint32_t m)
{
    for (int i = 0; i < d->n; i++)
        if (d->map[i] == m)
            return i;
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 32;
        d->map = gr_realloc(d->map, (size_t)d->cap, sizeof *d->map);
        d->next = gr_realloc(d->next, (size_t)d->cap * NCL, sizeof *d->next);
    }
    d->map[d->n] = m;
    for (int c = 0; c < NCL; c++)
        d->next[d->n * NCL + c] = -1;
    return d->n++;
}

static int mapdfa_step(mapdfa *d, int id, int c)
{
    uint32_t m = d->map[id], r = 0;
    for (int s = 0; s < NST; s++)
        r |= (uint32_t)dfa_next[map_state(m, s)][c] << (3 * s);
    int k = mapdfa_id(d, r);
    d->next[id * NCL + c] = k;
    return k;
}

static void mapdfa_init(mapdfa *d, char delim)
{
    memset(d, 0, sizeof *d);
    d->cls[(unsigned char)delim] = CL_DELIM;
    d->cls['"'] = CL_QUOTE;
    d->cls['\n'] = CL_LF;
    d->cls['\r'] = CL_CR;
    uint32_t id = 0;
    for (int s = 0; s < NST; s++)
        id |= (uint32_t)s << (3 * s);
    mapdfa_id(d, id);
}

#define SCAN_BLOCK (4 << 20)

/* pread exactly len bytes at off into buf; GR_EIO naming path otherwise */
static int read_at(int fd, const char *path, char *buf, int64_t off, int64_t len)
{
    while (len > 0) {
        ssize_t k = pread(fd, buf, (size_t)(len < SCAN_BLOCK ? len : SCAN_BLOCK), (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return gr_fail(GR_EIO, path, "read error at byte %lld: %s", (long long)off,
                           k < 0 ? strerror(errno) : "the file became shorter");
        buf += k;
        off += k;
        len -= k;
    }
    return GR_OK;
}

/* Bytes [a, b) of the file: the automaton's map over them (*map), their line ends (*nl) and whether one
 * is a NUL (*nul). */
static int scan_range(int fd, const char *path, int64_t a, int64_t b, mapdfa *d, uint32_t *map, int64_t *nl, int *nul)
{
    char *blk = gr_malloc(SCAN_BLOCK, 1);
    int id = 0, st = GR_OK;
    *nl = 0;
    *nul = 0;
    for (int64_t off = a; off < b && !st; off += SCAN_BLOCK) {
        int64_t len = b - off < SCAN_BLOCK ? b - off : SCAN_BLOCK, lines = 0;
        if ((st = read_at(fd, path, blk, off, len)))
            break;
        *nul |= memchr(blk, 0, (size_t)len) != NULL;
        for (int64_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)blk[i];
            int c = d->cls[ch];
            if (c == CL_OTHER) { /* a run of other bytes acts as one: skip it without the table */
                while (i + 1 < len && d->cls[(unsigned char)blk[i + 1]] == CL_OTHER)
                    i++;
            }
            lines += ch == '\n';
            int k = d->next[id * NCL + c];
            id = k >= 0 ? k : mapdfa_step(d, id, c);
        }
        *nl += lines;
    }
    free(blk);
    *map = d->map[id];
    return st;
}

/* The first record start in [a, b) given state s at a: *pos (-1 if none) and the line ends in [a, *pos). */
static int first_start(int fd, const char *path, int64_t a, int64_t b, int s, const mapdfa *d, int64_t *pos, int64_t *nl)
{
    *pos = -1;
    *nl = 0;
    if (s == ST_S) {
        *pos = a < b ? a : -1;
        return GR_OK;
    }
    char *blk = gr_malloc(SCAN_BLOCK, 1);
    int st = GR_OK;
    for (int64_t off = a; off < b && *pos < 0; off += SCAN_BLOCK) {
        int64_t len = b - off < SCAN_BLOCK ? b - off : SCAN_BLOCK;
        if ((st = read_at(fd, path, blk, off, len)))
            break;
        for (int64_t i = 0; i < len; i++) {
            s = dfa_next[s][d->cls[(unsigned char)blk[i]]];
            if (blk[i] != '\n')
                continue;
            ++*nl;
            if (s == ST_S) {
                *pos = off + i + 1 < b ? off + i + 1 : -1;
                break;
            }
        }
    }
    free(blk);
    return st;
}

/* This rank's text: the records that start in its byte range. Fills *text (len + 2 bytes, owned), *tlen
 * and *line0, the line of its first byte. */
typedef struct {
    int fd;
    const char *path;
    int64_t len, start; /* file size; first byte after a UTF-8 byte-order mark */
    int rank, nranks;
    MPI_Comm comm;
} part_ctx;

static int locate_text(const part_ctx *x, char delim, char **text, int64_t *tlen, int64_t *line0)
{
    int64_t span = x->len - x->start, n = x->nranks;
    int64_t a = x->start + span / n * x->rank + span % n * x->rank / n;
    int64_t b = x->start + span / n * (x->rank + 1) + span % n * (x->rank + 1) / n;
    mapdfa d;
    mapdfa_init(&d, delim);
    uint32_t map;
    int64_t nl, fb = -1, fbnl = 0;
    int nul, st = scan_range(x->fd, x->path, a, b, &d, &map, &nl, &nul);
    if (!st && nul)
        st = gr_fail(GR_EFORMAT, x->path, "contains NUL bytes; expected a text CSV file");
    if ((st = gr_agree(x->comm, st))) {
        free(d.map);
        free(d.next);
        return st;
    }
    uint32_t *maps = gr_malloc((size_t)n, sizeof *maps);
    int64_t *nls = gr_malloc((size_t)n, sizeof *nls), *fbs = gr_malloc((size_t)n + 1, sizeof *fbs);
    int64_t *lines = gr_malloc((size_t)n, sizeof *lines);
    MPI_Allgather(&map, 1, MPI_UINT32_T, maps, 1, MPI_UINT32_T, x->comm);
    MPI_Allgather(&nl, 1, MPI_INT64_T, nls, 1, MPI_INT64_T, x->comm);
    int s = ST_S;
    int64_t line = 1;
    for (int k = 0; k < x->rank; k++) {
        s = map_state(maps[k], s);
        line += nls[k];
    }
    st = gr_agree(x->comm, first_start(x->fd, x->path, a, b, s, &d, &fb, &fbnl));
    free(d.map);
    free(d.next);
    if (!st) {
        int64_t fline = line + fbnl;
        MPI_Allgather(&fb, 1, MPI_INT64_T, fbs, 1, MPI_INT64_T, x->comm);
        MPI_Allgather(&fline, 1, MPI_INT64_T, lines, 1, MPI_INT64_T, x->comm);
        fbs[n] = x->len;
        for (int64_t k = n - 1; k >= 0; k--)
            if (fbs[k] < 0)
                fbs[k] = fbs[k + 1];
        *tlen = fbs[x->rank + 1] - fbs[x->rank];
        *line0 = lines[x->rank];
        *text = gr_malloc((size_t)*tlen + 2, 1);
        st = gr_agree(x->comm, read_at(x->fd, x->path, *text, fbs[x->rank], *tlen));
        (*text)[*tlen] = (*text)[*tlen + 1] = 0;
    }
    free(maps);
    free(nls);
    free(fbs);
    free(lines);
    return st;
}

/* The records of one rank's text: field starts flat in f, record k's fields f[start[k] .. start[k+1]),
 * its line line[k]; st: the tokenizer's error after the last record, if any. */
typedef struct {
    char **f;
    int64_t *start, *line, nrec;
    size_t fcap, rcap;
    int st;          /* the tokenizer's error, held back (its message in msg, not recorded) */
    char msg[1024];
} recs;

/* Record the tokenizer's held-back error again (an error earlier in the file, found after it, came first):
 * the message is "<path>:<line>: <what>". */
static int release_error(const recs *r, const char *path)
{
    size_t k = strlen(path);
    const char *sep = strlen(r->msg) > k ? strstr(r->msg + k, ": ") : NULL;
    if (!sep)
        return gr_fail(r->st, NULL, "%s", r->msg);
    char where[1024];
    snprintf(where, sizeof where, "%.*s", (int)(sep - r->msg), r->msg);
    return gr_fail(r->st, where, "%s", sep + 2);
}

static void tokenize(tok *t, recs *r)
{
    char **rec = NULL;
    size_t cap = 0;
    int64_t nf_all = 0;
    for (;;) {
        int nf;
        int64_t rline;
        int got = next_record(t, &rec, &cap, &nf, &rline);
        if (got <= 0) {
            r->st = -got;
            break;
        }
        if ((size_t)r->nrec + 2 > r->rcap) {
            r->rcap = r->rcap ? 2 * r->rcap : 1024;
            r->start = gr_realloc(r->start, r->rcap, sizeof *r->start);
            r->line = gr_realloc(r->line, r->rcap, sizeof *r->line);
        }
        if ((size_t)(nf_all + nf) > r->fcap) {
            r->fcap = r->fcap ? 2 * r->fcap + (size_t)nf : (size_t)1024 + (size_t)nf;
            r->f = gr_realloc(r->f, r->fcap, sizeof *r->f);
        }
        memcpy(r->f + nf_all, rec, (size_t)nf * sizeof *rec);
        r->start[r->nrec] = nf_all;
        r->line[r->nrec++] = rline;
        nf_all += nf;
    }
    if (r->st) { /* held back: a header or field-count error before it in the file is reported first */
        snprintf(r->msg, sizeof r->msg, "%s", gr_errmsg());
        gr_clear_error();
    }
    if (!r->start)
        r->start = gr_malloc(1, sizeof *r->start);
    r->start[r->nrec] = nf_all;
    free(rec);
}

static void recs_free(recs *r)
{
    free(r->f);
    free(r->start);
    free(r->line);
    memset(r, 0, sizeof *r);
}

/* The header: the first record of the file (on the lowest rank with a record, or the tokenizer's error
 * before it, or the empty-file error), broadcast and checked on every rank. *hr: the rank that held it. */
static int part_header(const part_ctx *x, recs *r, gr_csv *c, int *hr)
{
    int ev = r->nrec > 0 ? 1 : r->st ? 2 : 0, *evs = gr_malloc((size_t)x->nranks, sizeof *evs), h = -1;
    MPI_Allgather(&ev, 1, MPI_INT, evs, 1, MPI_INT, x->comm);
    for (int k = x->nranks - 1; k >= 0; k--)
        if (evs[k])
            h = k;
    *hr = h;
    int hev = h >= 0 ? evs[h] : 0;
    free(evs);
    if (h < 0)
        return gr_agree(x->comm, gr_fail(GR_EINPUT, x->path, "empty file; expected a header line of column names"));
    if (hev == 2)
        return gr_agree(x->comm, x->rank == h ? release_error(r, x->path) : GR_OK);
    int64_t hdr[2] = {0, 0}, pos = 0; /* field count, line */
    char *bytes = NULL;
    if (x->rank == h) {
        hdr[0] = r->start[1] - r->start[0];
        hdr[1] = r->line[0];
        for (int64_t j = 0; j < hdr[0]; j++)
            pos += (int64_t)strlen(r->f[j]) + 1;
    }
    MPI_Bcast(hdr, 2, MPI_INT64_T, h, x->comm);
    char *mine = NULL;
    if (x->rank == h) {
        mine = gr_malloc((size_t)pos + 1, 1);
        pos = 0;
        for (int64_t j = 0; j < hdr[0]; j++) {
            size_t l = strlen(r->f[j]) + 1;
            memcpy(mine + pos, r->f[j], l);
            pos += (int64_t)l;
        }
    }
    int64_t total;
    gr_xchg_allgather_bytes(mine, x->rank == h ? pos : 0, &bytes, &total, x->comm);
    free(mine);
    char **names = gr_malloc((size_t)hdr[0] + 1, sizeof *names), lw[4200];
    for (int64_t j = 0, p = 0; j < hdr[0]; j++, p += (int64_t)strlen(bytes + p) + 1)
        names[j] = bytes + p;
    snprintf(lw, sizeof lw, "%s:%lld", x->path, (long long)hdr[1]);
    int st = set_header(c, names, (int)hdr[0], lw);
    free(names);
    free(bytes);
    return gr_agree(x->comm, st);
}

/* Every data record has the header's field count, and the tokenizer stopped at no error: the first
 * failure in file order (the lowest failing rank's) is agreed. *first: this rank's first data record. */
static int part_records(const part_ctx *x, const recs *r, const gr_csv *c, int hr, int64_t *first)
{
    *first = x->rank == hr ? 1 : 0;
    int st = GR_OK;
    for (int64_t k = *first; k < r->nrec && !st; k++) {
        int64_t nf = r->start[k + 1] - r->start[k];
        if (nf != c->ncols) {
            char lw[4200];
            snprintf(lw, sizeof lw, "%s:%lld", x->path, (long long)r->line[k]);
            st = gr_fail(GR_EINPUT, lw, "expected %d fields as in the header, found %lld", c->ncols, (long long)nf);
        }
    }
    if (!st && r->st)
        st = release_error(r, x->path);
    return gr_agree(x->comm, st);
}

/* Types of the columns as gr_csv_parse decides them on the whole file (a column is numeric when its
 * first non-missing field in the file is a number), then the values; the conversion error gr_csv_parse
 * would report (lowest column, then first row) is agreed. */
static int part_types(const part_ctx *x, gr_csv *c, char **all, char **force, int nforce)
{
    int nc = c->ncols, st = GR_OK;
    c->is_string = gr_calloc(nc, sizeof *c->is_string);
    c->num = gr_calloc(nc, sizeof *c->num);
    c->str = gr_calloc(nc, sizeof *c->str);
    for (int f = 0; f < nforce; f++) {
        int j = gr_csv_find(c, force[f]);
        if (j < 0)
            return gr_agree(x->comm, gr_fail(GR_EINPUT, x->path, "column '%s' is not in the header", force[f]));
        c->is_string[j] = 1;
    }
    int *kind = gr_calloc((size_t)nc, sizeof *kind), *kinds = gr_malloc((size_t)nc * x->nranks, sizeof *kinds);
    for (int j = 0; j < nc; j++) /* 0: no non-missing field here; 1: the first is a number; 2: it is not */
        for (int64_t i = 0; i < c->nrows && !c->is_string[j]; i++) {
            double v;
            if (!gr_csv_is_missing(all[i * nc + j])) {
                kind[j] = gr_csv_number(all[i * nc + j], &v) ? 2 : 1;
                break;
            }
        }
    MPI_Allgather(kind, nc, MPI_INT, kinds, nc, MPI_INT, x->comm);
    for (int j = 0; j < nc; j++)
        for (int k = 0; k < x->nranks; k++)
            if (kinds[(size_t)k * nc + j]) {
                c->is_string[j] |= kinds[(size_t)k * nc + j] == 2;
                break;
            }
    free(kind);
    free(kinds);
    int64_t bad = -1, ej = nc, row = INT64_MAX, minj, minrow;
    for (int j = 0; j < nc && !st; j++)
        if ((st = convert_column(c, all, j, x->path, &bad)))
            ej = j, row = c->row0 + bad;
    MPI_Allreduce(&ej, &minj, 1, MPI_INT64_T, MPI_MIN, x->comm);
    if (ej != minj)
        row = INT64_MAX;
    MPI_Allreduce(&row, &minrow, 1, MPI_INT64_T, MPI_MIN, x->comm);
    return gr_agree(x->comm, st && ej == minj && row == minrow ? st : GR_OK);
}

/* Open the file on every rank: fd, size and the start after a byte-order mark. */
static int part_open(part_ctx *x)
{
    struct stat sb;
    int st = GR_OK;
    x->fd = open(x->path, O_RDONLY);
    if (x->fd < 0)
        st = gr_fail(GR_EIO, x->path, "cannot open for reading: %s", strerror(errno));
    else if (fstat(x->fd, &sb) != 0 || S_ISDIR(sb.st_mode))
        st = gr_fail(GR_EIO, x->path, "read error (is it a directory?)");
    if (!st) {
        unsigned char bom[3];
        x->len = (int64_t)sb.st_size;
        x->start = 0;
        if (x->len >= 3 && pread(x->fd, bom, 3, 0) == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF)
            x->start = 3;
    }
    return gr_agree(x->comm, st);
}

int gr_csv_read_part(const char *path, char delim, char **force, int nforce, MPI_Comm comm, gr_csv *out)
{
    memset(out, 0, sizeof *out);
    if (delim == '"' || delim == '\n' || delim == '\r' || delim == 0)
        return gr_fail(GR_EUSAGE, "--delimiter", "the delimiter cannot be a quote, NUL or a line end");
    part_ctx x = {.fd = -1, .path = path, .comm = comm};
    MPI_Comm_rank(comm, &x.rank);
    MPI_Comm_size(comm, &x.nranks);
    gr_csv c;
    memset(&c, 0, sizeof c);
    recs r;
    memset(&r, 0, sizeof r);
    char *text = NULL;
    int64_t tlen = 0, line0 = 1, first = 0, ntot = 0;
    int hr = -1, rc = part_open(&x);
    if (!rc)
        rc = locate_text(&x, delim, &text, &tlen, &line0);
    if (!rc) {
        tok t = {text, (size_t)tlen, 0, line0, delim, path};
        tokenize(&t, &r);
        rc = part_header(&x, &r, &c, &hr);
    }
    if (!rc)
        rc = part_records(&x, &r, &c, hr, &first);
    if (!rc) {
        c.nrows = r.nrec - first;
        MPI_Allreduce(&c.nrows, &ntot, 1, MPI_INT64_T, MPI_SUM, comm);
        MPI_Exscan(&c.nrows, &c.row0, 1, MPI_INT64_T, MPI_SUM, comm);
        if (x.rank == 0)
            c.row0 = 0;
        c.nrows_all = ntot;
        if (ntot == 0)
            rc = gr_agree(comm, gr_fail(GR_EINPUT, path, "no data rows after the header line"));
    }
    if (!rc) {
        c.line = gr_malloc((size_t)(c.nrows ? c.nrows : 1), sizeof *c.line);
        if (c.nrows)  /* a rank may hold no record: then r.line and r.start may be NULL */
            memcpy(c.line, r.line + first, (size_t)c.nrows * sizeof *c.line);
        rc = part_types(&x, &c, c.nrows ? r.f + r.start[first] : NULL, force, nforce);
    }
    recs_free(&r);
    if (x.fd >= 0)
        close(x.fd);
    if (rc) {
        free(text);
        gr_csv_free(&c);
        return rc;
    }
    c.buf = text;
    *out = c;
    return GR_OK;
}
