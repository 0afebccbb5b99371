/* spatial.h: great-circle distances and the spatial-RD segments of the study (section 4): cities
 * clustered by complete linkage inside each province so that no two cities of a segment are more
 * than a bandwidth d apart. Pure functions, no MPI. */
#ifndef GR_SPATIAL_H
#define GR_SPATIAL_H
#include "gr.h"

#define GR_EARTH_RADIUS_KM 6371.0088  /* IUGG mean earth radius */

/* Haversine great-circle distance in km between two points in decimal degrees.
 * No validation: NaN in, NaN out. Symmetric and exactly 0 for identical points. */
double gr_haversine_km(double lat1, double lon1, double lat2, double lon2);

/* Segments at bandwidth `bandwidth_km`: within each province (cities with equal `province`),
 * complete-linkage agglomerative clustering cut at height d: repeatedly merge the two clusters
 * whose largest pairwise distance is smallest, while it is <= d; ties go to the smallest
 * (min city id of one cluster, min city id of the other). Every segment's diameter is <= d and no
 * segment crosses a province. Writes segment[i] for the n cities (ids numbered 0.. in order of each
 * segment's smallest city id) and *nseg. Caller owns all arrays. Returns GR_OK, or GR_EINPUT
 * (bad bandwidth, NaN or out-of-range coordinate: the message names the city id). */
int gr_segments(int n, const double *lat, const double *lon, const int *province, double bandwidth_km,
                int *segment, int *nseg);

/* Diameter (largest pairwise haversine distance, 0 for one city) of each of the nseg segments
 * given by segment[0..n) (values in [0, nseg)); writes diam[nseg]. Returns GR_OK, or GR_EINPUT
 * if a segment id is out of range. */
int gr_segment_diameters(int n, const double *lat, const double *lon, const int *segment, int nseg,
                         double *diam);

/* Dense ids for combinations of (exporter segment, importer segment) over m directed pairs:
 * out[k] = rank of (seg[exp[k]], seg[imp[k]]) among the distinct combinations present, in
 * lexicographic order; *ncomb receives their count. exp/imp are city ids in [0, n); a negative id
 * marks a pair with a missing city, whose out[k] is -1. Returns GR_OK or GR_EINPUT (id >= n). */
int gr_segment_pairs(int n, const int *segment, int64_t m, const int *exp, const int *imp,
                     int *out, int *ncomb);
#endif
