/* ridge_trace.h: the ridge-trace plot of `gravrd diag --trace` (SVG, svg.h): the standardized
 * coefficients b*_j(k) against k, one line per regressor, with a legend; the chosen k (if any) dashed. */
#ifndef GR_RIDGE_TRACE_H
#define GR_RIDGE_TRACE_H

/* Local (rank 0). Write the plot to `path` through a gr_outfile (temporary, then rename): nk values k[]
 * (increasing), beta[i * p + j] = b*_j(k[i]) for the p regressors names[]; mark_k >= 0 draws a dashed
 * vertical line there (NaN or < 0: none). `title` heads the plot. GR_OK or GR_EIO / GR_EUSAGE (an input
 * file as target). */
int gr_ridge_trace_svg(const char *path, const char *title, int nk, const double *k, int p,
                       const char *const *names, const double *beta, double mark_k);
#endif
