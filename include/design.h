/* design.h: the spatial-RD designs of the study built on the pairs table (docs/design.md): treated
 * pairs per segment pair, same-attribute control flags, and the treated/control comparisons of
 * spatial matching and regular RD. The functions here are pure (no MPI, no file): the commands
 * design / balance / match / rdgrid (src/design*.c) call them on the replicated tables, and derived.c
 * builds the derived pair columns ntreated_<d> and same_<attr>_<d> (include/derived.h) on them. */
#ifndef GR_DESIGN_H
#define GR_DESIGN_H
#include <stdint.h>
#include "gr.h"
#include "panel.h"

/* Parse a bandwidth option value: a positive finite number of km whose %g spelling reads back
 * exactly (that spelling names the columns: segpair_<name>, ntreated_<name>). Writes *bw and name.
 * Returns GR_OK or GR_EUSAGE via gr_fail naming `opt`. */
int gr_design_bandwidth_arg(const char *opt, const char *arg, double *bw, char name[32]);

/* The pair columns every design needs, from a pairs table: exporter and importer city ids (validated
 * against ncities: integral, in range, else GR_EINPUT naming the pair row) and treated[m] = 1 where
 * partner is non-zero (missing partner: GR_EINPUT). Arrays freshly allocated, caller frees.
 * `where` names the file in messages. */
int gr_design_pairs(const gr_table *pairs, int64_t ncities, const char *where, int **exp, int **imp,
                    unsigned char **treated);

/* Treated pairs per segment pair: ntreated[k] = number of treated pairs whose segpair equals pair k's
 * segpair (k itself included), NaN where segpair[k] is missing (NaN or negative). segpair: m values. */
void gr_design_ntreated(int64_t m, const double *segpair, const unsigned char *treated, double *ntreated);

/* Same-attribute flag (docs/design.md): same[k] = 1 for a treated pair; for a control pair kj, 1 if some
 * treated pair ab of the same segment pair has attr[a] == attr[k] (exporters share the attribute)
 * and b == j or attr[b] == attr[j] (importers too), else 0; NaN where segpair is missing. A missing
 * (NaN) attribute never matches. attr: one value per city (ncities), exp/imp: city ids. */
void gr_design_same(int64_t m, const double *segpair, const unsigned char *treated, const int *exp,
                    const int *imp, const double *attr, double *same);

/* Comparisons of spatial matching and regular RD: for each treated pair ij (treated[t], usable[t]) and
 * each city k != i in the same province as i with haversine(i, k) in (0, bw], the pair kj if it exists,
 * is not treated and is usable. Sorted by treated pair row, then k. Caller frees with gr_design_comp_free. */
typedef struct gr_design_comp {
    int64_t n;
    int32_t *treated;   /* pair row of ij */
    int32_t *control;   /* pair row of kj */
    double *dist_km;    /* distance between i and k */
} gr_design_comp;

/* Needs lat, lon, province (finite) for the ncities cities; exp/imp/treated/usable for the m pairs.
 * Returns GR_OK or GR_EINPUT (bw not positive, a missing coordinate or province of a city that
 * matters: the message names the city id). */
int gr_design_comparisons(int64_t ncities, const double *lat, const double *lon, const double *province,
                          int64_t m, const int *exp, const int *imp, const unsigned char *treated,
                          const unsigned char *usable, double bw, gr_design_comp *out);
void gr_design_comp_free(gr_design_comp *c);

/* Stacking multiplicity of matching: mult[p] = number of comparisons whose control is p, plus 1 if p is
 * the treated pair of at least one comparison. mult: m entries, written. */
void gr_design_multiplicity(const gr_design_comp *c, int64_t m, int32_t *mult);
#endif
