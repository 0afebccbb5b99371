/* ridge_trace.c: the ridge-trace plot (ridge_trace.h). */
#include "ridge_trace.h"
#include "gr.h"
#include "svg.h"
#include <math.h>
#include <stdlib.h>

typedef gr_svg_frame plot_frame;


/* The data range (0 always inside the y range) with a margin; room on the right for the legend. */
static void fit_frame(plot_frame *f, int nk, const double *k, int p, const double *beta)
{
    double y0 = 0, y1 = 0;
    for (int i = 0; i < nk * p; i++) { y0 = fmin(y0, beta[i]); y1 = fmax(y1, beta[i]); }
    if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
    double x0 = k[0], x1 = k[nk - 1];
    if (!(x1 > x0)) { x0 -= 0.5; x1 += 0.5; }
    double py = (y1 - y0) * 0.06;
    *f = (plot_frame){x0, x1, y0 - py, y1 + py, 80, 200, 56, 58, 860, 480};
}

/* The axes, the zero line dashed, the labels. */
static void draw_axes(gr_svg *s, const plot_frame *f, const char *title)
{
    gr_svg_axes(s, f, title, "ridge parameter k", "standardized coefficient b*(k)");
    gr_svg_line(s, f->L, gr_svg_fy(f, 0), f->W - f->R, gr_svg_fy(f, 0), "#888888", 1.2, 1, "5 4");
}

int gr_ridge_trace_svg(const char *path, const char *title, int nk, const double *k, int p,
                       const char *const *names, const double *beta, double mark_k)
{
    plot_frame f;
    fit_frame(&f, nk, k, p, beta);
    gr_svg s;
    GR_CALL(gr_svg_open(&s, path, f.W, f.H, title));
    draw_axes(&s, &f, title);
    if (mark_k >= f.x0 && mark_k <= f.x1)
        gr_svg_line(&s, gr_svg_fx(&f, mark_k), f.T, gr_svg_fx(&f, mark_k), f.H - f.B, "#444444", 1.2, 1, "2 3");
    double *px = gr_malloc((size_t)nk, sizeof *px), *py = gr_malloc((size_t)nk, sizeof *py);
    for (int j = 0; j < p; j++) {
        for (int i = 0; i < nk; i++) { px[i] = gr_svg_fx(&f, k[i]); py[i] = gr_svg_fy(&f, beta[i * p + j]); }
        gr_svg_group_begin(&s, names[j]);
        if (nk > 1) gr_svg_polyline(&s, nk, px, py, gr_svg_color(j), 2);
        else gr_svg_circle(&s, px[0], py[0], 4, gr_svg_color(j), "none", 0, NULL);
        gr_svg_group_end(&s);
        double ly = f.T + 16 + 20 * j;  /* legend */
        gr_svg_line(&s, f.W - f.R + 12, ly - 4, f.W - f.R + 36, ly - 4, gr_svg_color(j), 3, 1, NULL);
        gr_svg_text(&s, f.W - f.R + 42, ly, 12, "start", "#000000", "%s", names[j]);
    }
    free(px);
    free(py);
    return gr_svg_close(&s, 1);
}
