/* derived.h: the spatial-RD columns a panel does not need to store, computed from its replicated
 * cities and pairs tables (docs/format.md, "Derived columns"):
 *   cities  segment_<d>      segment of each city at bandwidth d km (spatial.h: complete linkage
 *                            within provinces)
 *   pairs   segpair_<d>      dense id of the pair's (exporter segment, importer segment) combination
 *   pairs   ntreated_<d>     partner pairs in the pair's segment pair (design.h)
 *   pairs   same_<attr>_<d>  1 for a partner pair, for a control pair 1 if it shares the cities
 *                            attribute <attr> with a partner pair of its segment pair (design.h)
 * <d> is the bandwidth in km exactly as %g prints it (100, 62.5). Each column is built from its inputs
 * as found in the tables, so a stored column wins over a derived one of the same name and is what the
 * columns built on it use (a stored segpair_100 feeds ntreated_100). The panel reader (panel.c) adds
 * them to its tables when a formula, --where, --cluster or --split names one; `gravrd segments` and
 * `gravrd design` print reports on them and can write them to a copy of the panel (--out).
 * Also here: median splits of a city or pair attribute (hi_<attr>_<set>, lo_<attr>_<set>) and the month
 * indicators december, cny_month, post_covid (declared at the end).
 * Everything here is Local (no MPI) and deterministic: every rank computes the same values. */
#ifndef GR_DERIVED_H
#define GR_DERIVED_H
#include <stdint.h>
#include "gr.h"
#include "panel.h"

typedef enum {
    GR_DERIVED_NONE = 0,
    GR_DERIVED_SEGMENT,   /* cities segment_<d> */
    GR_DERIVED_SEGPAIR,   /* pairs segpair_<d> */
    GR_DERIVED_NTREATED,  /* pairs ntreated_<d> */
    GR_DERIVED_SAME       /* pairs same_<attr>_<d> */
} gr_derived_kind;

/* A parsed derived-column name. */
typedef struct {
    gr_derived_kind kind;
    double bw;                /* bandwidth in km */
    char bwname[32];          /* its %g spelling, as in the name */
    char attr[GR_NAME_MAX];   /* GR_DERIVED_SAME: the cities column */
} gr_derived_name;

/* Local, pure. Classify column `name`: kind GR_DERIVED_NONE (and GR_OK) when it starts with none of
 * segment_, segpair_, ntreated_, same_. Otherwise GR_OK with the bandwidth (and attribute), or
 * GR_EINPUT naming the column when the text after the last '_' is not a positive number of km
 * (gr_parse_double) spelled exactly as %g prints it, or same_ has no attribute. */
int gr_derived_parse(const char *name, gr_derived_name *out);

/* Local. Exporter and importer city ids of the pairs (pairs->nrows each; a missing id (NaN) is -1),
 * checked to be integers in [0, ncities), else GR_EINPUT naming `where` and the row. *exp, *imp are
 * freshly allocated (also when there are no pairs); the caller frees them. */
int gr_derived_pair_cities(const gr_table *pairs, int64_t ncities, const char *where, int **exp, int **imp);

/* Local. Segments at bandwidth bw km of the cities table (columns lat, lon, province: every latitude
 * in [-90, 90], longitude in [-180, 180], province an integer code, else GR_EINPUT naming `where`, the
 * dataset and the row), numbered 0..*nseg-1 as gr_segments does. seg[cities->nrows] is the caller's. */
int gr_derived_segments(const gr_table *cities, double bw, const char *where, int *seg, int *nseg);

/* Local. Segment-pair ids from a segment per city (citysegment[ncities]; NaN or negative = missing,
 * other values must be integers): segpair[k] = dense id of (segment of exporter, segment of importer)
 * in lexicographic order, NaN where a city or its segment is missing; *nsegpair = ids in use.
 * segpair[pairs->nrows] is the caller's. GR_EINPUT naming `where` on bad city ids or segment values. */
int gr_derived_segpairs(const gr_table *pairs, int64_t ncities, const double *citysegment, const char *where,
                        double *segpair, int *nsegpair);

/* Local. ntreated[k] = partner pairs (pairs column partner != 0) with pair k's segment pair, NaN where
 * segpair[k] is missing (gr_design_ntreated). Needs pairs exporter, importer, partner (gr_design_pairs,
 * errors name `where`). ntreated[pairs->nrows] is the caller's. */
int gr_derived_ntreated(const gr_table *pairs, int64_t ncities, const double *segpair, const char *where,
                        double *ntreated);

/* Local. same[k] for the cities column attr (gr_design_same; attr not a cities column: GR_EINPUT naming
 * `where`). same[pairs->nrows] is the caller's. */
int gr_derived_same(const gr_table *pairs, const gr_table *cities, const char *attr, const double *segpair,
                    const char *where, double *same);

/* Local. Make column `name` of the table `group` ("cities" or "pairs") present: nothing when that table
 * already has it or when `name` is no derived column of that group (segment_<d> is a cities column, the
 * others pairs columns); otherwise it is computed, with the derived columns it is built on when those
 * are missing too, and added with gr_table_add (the tables own the values; is_int set as a writer
 * would store them). Errors are GR_EINPUT; their message names `path` and the column as the user wrote
 * it, `asked` (e.g. exp_segment_100 for the city column segment_100; NULL: `name`). */
int gr_derived_add(gr_table *cities, gr_table *pairs, const char *group, const char *name, const char *asked,
                   const char *path);

/* Local. 1 if every value is finite (a derived column is then stored as int32, else as float64). */
int gr_derived_all_finite(int64_t n, const double *v);

/* ---- Median splits (docs/format.md, "Derived columns"): cities hi_<attr>_<set> / lo_<attr>_<set>, set
 * west | east | all (by the cities column region), used as exp_hi_<attr>_<set> / imp_...; pairs
 * hi_<attr>_all / lo_<attr>_all for a pairs column attr. ---- */

/* A parsed median-split name. */
typedef struct {
    int hi;                   /* 1: hi_ (attr above the median), 0: lo_ (below) */
    char attr[GR_NAME_MAX];   /* the column split */
    char set[8];              /* west, east or all */
} gr_derived_split;

/* Local, pure. *is_split = 0 (and GR_OK) when `name` does not start with hi_ or lo_; *is_split = 1 with
 * *out filled when it is hi_|lo_<attr>_<set>, the set being the last '_' part (west, east, all) and attr
 * non-empty; GR_EINPUT naming `label` (the name as the user wrote it) when it starts with hi_/lo_ but is
 * not of that form. */
int gr_derived_split_parse(const char *name, const char *label, gr_derived_split *out, int *is_split);

/* Local, pure. The median split of v[n] over the members of a set (in[i] != 0): the median is taken over
 * the finite values of the members (the middle one, or the mean of the two middle ones); out[i] = 1 when
 * i is a member and v[i] is above (hi = 1) / below (hi = 0) the median, 0 for a member at the median or
 * on the other side and for every non-member, NaN for a member whose value is not finite. *median (may
 * be NULL) gets the median. GR_EINPUT naming `where` when no member has a finite value (empty set). */
int gr_derived_median_split(int64_t n, const double *v, const unsigned char *in, int hi, const char *where,
                            double *median, double *out);

/* ---- Month indicators (panel columns december, cny_month, post_covid) from the /panel column month
 * (1 = the file's root attribute first_month, "YYYY-MM"). ---- */

/* Local, pure. 1 if `name` is one of december, cny_month, post_covid, else 0. */
int gr_derived_is_time(const char *name);

/* Local, pure. Turn the month indices v[n] (1 = first_month) into the indicator `name` in place:
 * december 1 in December; cny_month 1 in the calendar month of the Chinese New Year (Spring Festival)
 * day of its year (table in derived.c, 2010-2026); post_covid 1 from January 2020 on. A NaN month stays
 * NaN. GR_EINPUT naming `where`: first_month not "YYYY-MM", a month that is not an integer >= 1, a year
 * outside the table of New Year dates (cny_month). */
int gr_derived_time(const char *name, const char *first_month, const char *where, int64_t n, double *v);

/* Local, pure. The month (1-12) of the Chinese New Year in `year`, or 0 outside the table. */
int gr_derived_cny_month(int year);
#endif
