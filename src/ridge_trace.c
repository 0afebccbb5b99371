/* ridge_trace.c: the ridge-trace plot (ridge_trace.h). */
#include "ridge_trace.h"
#include "gr.h"
#include "svg.h"
#include <math.h>
#include <stdlib.h>

typedef struct { double x0, x1, y0, y1, L, R, T, B, W, H; } plot_frame;
static double fx(const plot_frame *f, double x) { return f->L + (x - f->x0) / (f->x1 - f->x0) * (f->W - f->L - f->R); }
static double fy(const plot_frame *f, double y) { return f->H - f->B - (y - f->y0) / (f->y1 - f->y0) * (f->H - f->T - f->B); }

static double nice_step(double range, int target)
{
    double raw = range / target, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

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

static void draw_axes(gr_svg *s, const plot_frame *f, const char *title)
{
    gr_svg_rect(s, f->L, f->T, f->W - f->L - f->R, f->H - f->T - f->B, "none", "#444444", 1);
    double sx = nice_step(f->x1 - f->x0, 8), sy = nice_step(f->y1 - f->y0, 6);
    for (double v = ceil(f->x0 / sx) * sx; v <= f->x1 + 1e-9 * sx; v += sx) {
        double X = fx(f, v);
        gr_svg_line(s, X, f->T, X, f->H - f->B, "#e5e5e5", 1, 1, NULL);
        gr_svg_text(s, X, f->H - f->B + 18, 12, "middle", "#333333", "%g", fabs(v) < 1e-12 * sx ? 0.0 : v);
    }
    for (double v = ceil(f->y0 / sy) * sy; v <= f->y1 + 1e-9 * sy; v += sy) {
        double Y = fy(f, v);
        gr_svg_line(s, f->L, Y, f->W - f->R, Y, "#e5e5e5", 1, 1, NULL);
        gr_svg_text(s, f->L - 6, Y + 4, 12, "end", "#333333", "%g", fabs(v) < 1e-12 * sy ? 0.0 : v);
    }
    gr_svg_line(s, f->L, fy(f, 0), f->W - f->R, fy(f, 0), "#888888", 1.2, 1, "5 4");
    gr_svg_text(s, (f->L + f->W - f->R) / 2, 26, 16, "middle", "#000000", "%s", title);
    gr_svg_text(s, (f->L + f->W - f->R) / 2, f->H - 14, 13, "middle", "#000000", "ridge parameter k");
    gr_svg_text(s, f->L, f->T - 8, 13, "start", "#000000", "standardized coefficient b*(k)");
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
        gr_svg_line(&s, fx(&f, mark_k), f.T, fx(&f, mark_k), f.H - f.B, "#444444", 1.2, 1, "2 3");
    double *px = gr_malloc((size_t)nk, sizeof *px), *py = gr_malloc((size_t)nk, sizeof *py);
    for (int j = 0; j < p; j++) {
        for (int i = 0; i < nk; i++) { px[i] = fx(&f, k[i]); py[i] = fy(&f, beta[i * p + j]); }
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
