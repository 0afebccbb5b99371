/* csv.h: a reader for long CSV files (RFC 4180): a header line of column names, then one record per
 * observation. Fields may be quoted ("a,b", "say ""hi"""), quoted fields may span lines, CRLF or LF line
 * ends, blank lines are skipped. Every record must have as many fields as the header.
 *
 * Types: a column is numeric if its first non-missing field parses as a finite number (strtod, whole
 * field), otherwise it is a string column; forced string columns are always strings. Missing fields
 * are "", "NA" and "NaN" (any case): NaN in numeric columns, NULL in string columns. A later field of a
 * numeric column that is neither missing nor a number is an error naming file, line and column. */
#ifndef GR_CSV_H
#define GR_CSV_H
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_csv {
    int ncols;
    int64_t nrows;
    char **names;      /* header names, ncols */
    int *is_string;    /* 1 for string columns */
    double **num;      /* num[c][row] for numeric columns (NULL for string columns); NaN = missing */
    char ***str;       /* str[c][row] for string columns (NULL for numeric ones); NULL = missing;
                        * the strings point into `buf` */
    int64_t *line;     /* line[row]: 1-based line number where the record starts (for messages) */
    char *buf;         /* owned copy of the text, unquoted in place */
    int64_t row0;      /* gr_csv_read_part: global index (CSV order) of this rank's first row; else 0 */
    int64_t nrows_all; /* gr_csv_read_part: rows of the whole file; else nrows */
} gr_csv;

/* Parse `len` bytes of CSV text. `where` names the source in messages ("file.csv" gives
 * "file.csv:12: column 'x': ..."). `delim` is the field separator (',' ';' '\t' ...). Columns named in
 * force_string (nforce names; each must exist) are string columns. Returns GR_OK and fills *out (free
 * with gr_csv_free), or GR_EINPUT/GR_EFORMAT via gr_fail, leaving *out empty. Empty input (no header)
 * and a header without records are errors. */
int gr_csv_parse(const char *text, size_t len, const char *where, char delim, char **force_string,
                 int nforce, gr_csv *out);

/* Read the file at `path` and parse it as gr_csv_parse does (GR_EIO if it cannot be read). */
int gr_csv_read(const char *path, char delim, char **force_string, int nforce, gr_csv *out);

/* Collective over comm: read the file at `path` in parallel, with the types, missing values and messages
 * of gr_csv_read whatever the number of ranks. Each rank reads a byte range and keeps the records that
 * start in it (record starts are found with a quote-aware scan, so quoted fields may span lines and
 * ranges); *out holds this rank's rows only: rows row0 .. row0 + nrows - 1 of the file's nrows_all, in
 * file order, with names and is_string equal on every rank. Errors are agreed: the one gr_csv_read would
 * report is held by one rank, the others return GR_EREMOTE; *out is then empty on every rank. No rank
 * holds more than its range of the text (plus the records that straddle its end). */
int gr_csv_read_part(const char *path, char delim, char **force_string, int nforce, MPI_Comm comm, gr_csv *out);

void gr_csv_free(gr_csv *c);

/* Index of column `name`, or -1. */
int gr_csv_find(const gr_csv *c, const char *name);

/* 1 if a field text counts as missing ("", "NA", "NaN" in any case). */
int gr_csv_is_missing(const char *field);

/* Parse a whole field as a finite number: 0 on success, -1 otherwise. */
int gr_csv_number(const char *field, double *out);
#endif
