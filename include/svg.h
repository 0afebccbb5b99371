/* svg.h: a tiny SVG writer for maps and plots. Coordinates are SVG user units (y grows downward).
 * The file is written through a gr_outfile (cleanup.h): to a temporary name beside the target, removed
 * on a signal, that appears at the target only on gr_svg_close(s, 1). Drawing calls cannot fail
 * individually; write errors are reported once by gr_svg_close. Local. */
#ifndef GR_SVG_H
#define GR_SVG_H
#include <stdio.h>
#include "cleanup.h"
#include "gr.h"

typedef struct gr_svg {
    FILE *f;          /* out.f while open */
    gr_outfile out;
    double width, height;
} gr_svg;

/* Create the temporary file and write the header (white background). Returns GR_OK, GR_EIO, or
 * GR_EUSAGE when `path` is an input file of this run (nothing is created then). */
int gr_svg_open(gr_svg *s, const char *path, double width, double height, const char *title);
/* Finish the document. commit=1: flush, sync and rename to the target (GR_EIO naming the reason on any
 * write, close or rename failure, and the temporary is removed); commit=0: discard. */
int gr_svg_close(gr_svg *s, int commit);

/* Shapes. Colours are SVG colour strings ("#1f77b4", "none"); stroke width 0 draws no stroke. */
void gr_svg_rect(gr_svg *s, double x, double y, double w, double h, const char *fill, const char *stroke,
                 double stroke_width);
void gr_svg_line(gr_svg *s, double x1, double y1, double x2, double y2, const char *stroke, double width,
                 double opacity, const char *dash);  /* dash: NULL or a dasharray like "4 2" */
/* `title` (may be NULL) becomes a hover tooltip. */
void gr_svg_circle(gr_svg *s, double cx, double cy, double r, const char *fill, const char *stroke,
                   double stroke_width, const char *title);
/* opacity applies to the whole shape (fill and stroke together, no darker overlap): a wide stroke
 * of the fill colour then draws a rounded halo around the polygon. */
void gr_svg_polygon(gr_svg *s, int n, const double *x, const double *y, const char *fill, double opacity,
                    const char *stroke, double stroke_width);
void gr_svg_polyline(gr_svg *s, int n, const double *x, const double *y, const char *stroke, double width);
/* A group of shapes sharing a hover tooltip `title` (may be NULL); close with gr_svg_group_end. */
void gr_svg_group_begin(gr_svg *s, const char *title);
void gr_svg_group_end(gr_svg *s);
/* Text at (x, y) baseline; anchor "start", "middle" or "end"; printf-style, XML-escaped. */
void gr_svg_text(gr_svg *s, double x, double y, double size, const char *anchor, const char *fill,
                 const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* The k-th colour (k >= 0, cycles) of a 20-colour categorical palette, as "#rrggbb". */
const char *gr_svg_color(int k);
/* A plot area: data ranges [x0, x1] x [y0, y1] drawn in a W x H picture with margins L, R, T, B. */
typedef struct gr_svg_frame { double x0, x1, y0, y1, L, R, T, B, W, H; } gr_svg_frame;

/* SVG coordinates of data value x (left to right) and y (bottom to top) in frame f. */
double gr_svg_fx(const gr_svg_frame *f, double x);
double gr_svg_fy(const gr_svg_frame *f, double y);

/* A step of 1, 2, 5 or 10 times a power of ten near range / target (about `target` ticks over range). */
double gr_svg_nice_step(double range, int target);

/* The frame's box; light grid lines with tick labels at nice steps (about 8 on x, 6 on y); the title centred
 * over the plot area, the x label under it and the y label above the area's top-left corner. */
void gr_svg_axes(gr_svg *s, const gr_svg_frame *f, const char *title, const char *xlab, const char *ylab);

#endif
