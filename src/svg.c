/* svg.c: the tiny SVG writer (svg.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "svg.h"

static void put_escaped(FILE *f, const char *t)
{
    for (; *t; t++) {
        switch (*t) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*t, f);
        }
    }
}

int gr_svg_open(gr_svg *s, const char *path, double width, double height, const char *title)
{
    memset(s, 0, sizeof *s);
    GR_CALL(gr_outfile_open(&s->out, path));
    s->f = s->out.f;
    s->width = width;
    s->height = height;
    fprintf(s->f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
            width, height, width, height);
    if (title) {
        fputs("<title>", s->f);
        put_escaped(s->f, title);
        fputs("</title>\n", s->f);
    }
    fprintf(s->f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", width, height);
    return GR_OK;
}

int gr_svg_close(gr_svg *s, int commit)
{
    if (!s->f) return commit ? gr_fail(GR_EIO, s->out.path[0] ? s->out.path : "SVG", "SVG file was not open") : GR_OK;
    if (commit) fputs("</svg>\n", s->f);
    s->f = NULL;
    return gr_outfile_close(&s->out, commit);
}

static void stroke_attrs(FILE *f, const char *stroke, double width)
{
    if (stroke && width > 0) fprintf(f, " stroke=\"%s\" stroke-width=\"%.3g\"", stroke, width);
}

void gr_svg_rect(gr_svg *s, double x, double y, double w, double h, const char *fill, const char *stroke,
                 double stroke_width)
{
    fprintf(s->f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"", x, y, w, h,
            fill ? fill : "none");
    stroke_attrs(s->f, stroke, stroke_width);
    fputs("/>\n", s->f);
}

void gr_svg_line(gr_svg *s, double x1, double y1, double x2, double y2, const char *stroke, double width,
                 double opacity, const char *dash)
{
    fprintf(s->f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", x1, y1, x2, y2);
    stroke_attrs(s->f, stroke, width);
    if (opacity < 1) fprintf(s->f, " stroke-opacity=\"%.3g\"", opacity);
    if (dash) fprintf(s->f, " stroke-dasharray=\"%s\"", dash);
    fputs(" stroke-linecap=\"round\"/>\n", s->f);
}

void gr_svg_circle(gr_svg *s, double cx, double cy, double r, const char *fill, const char *stroke,
                   double stroke_width, const char *title)
{
    fprintf(s->f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.3g\" fill=\"%s\"", cx, cy, r, fill ? fill : "none");
    stroke_attrs(s->f, stroke, stroke_width);
    if (title) {
        fputs("><title>", s->f);
        put_escaped(s->f, title);
        fputs("</title></circle>\n", s->f);
    } else {
        fputs("/>\n", s->f);
    }
}

static void points(FILE *f, int n, const double *x, const double *y)
{
    fputs(" points=\"", f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%.2f,%.2f", i ? " " : "", x[i], y[i]);
    fputc('"', f);
}

void gr_svg_polygon(gr_svg *s, int n, const double *x, const double *y, const char *fill, double opacity,
                    const char *stroke, double stroke_width)
{
    fputs("<polygon", s->f);
    points(s->f, n, x, y);
    fprintf(s->f, " fill=\"%s\"", fill ? fill : "none");
    if (opacity < 1) fprintf(s->f, " opacity=\"%.3g\"", opacity);
    stroke_attrs(s->f, stroke, stroke_width);
    fputs(" stroke-linejoin=\"round\"/>\n", s->f);
}

void gr_svg_polyline(gr_svg *s, int n, const double *x, const double *y, const char *stroke, double width)
{
    fputs("<polyline", s->f);
    points(s->f, n, x, y);
    fputs(" fill=\"none\"", s->f);
    stroke_attrs(s->f, stroke, width);
    fputs(" stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n", s->f);
}

void gr_svg_group_begin(gr_svg *s, const char *title)
{
    fputs("<g>", s->f);
    if (title) {
        fputs("<title>", s->f);
        put_escaped(s->f, title);
        fputs("</title>", s->f);
    }
    fputc('\n', s->f);
}

void gr_svg_group_end(gr_svg *s) { fputs("</g>\n", s->f); }

void gr_svg_text(gr_svg *s, double x, double y, double size, const char *anchor, const char *fill,
                 const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(s->f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.3g\" text-anchor=\"%s\" fill=\"%s\">", x, y, size,
            anchor ? anchor : "start", fill ? fill : "black");
    put_escaped(s->f, buf);
    fputs("</text>\n", s->f);
}

const char *gr_svg_color(int k)
{
    /* Tableau 10 followed by darker / lighter variants: distinct on white, readable as dots. */
    static const char *pal[20] = {
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd",
        "#e6550d", "#31a354", "#756bb1", "#636363"};
    if (k < 0) k = -k;
    return pal[k % 20];
}

double gr_svg_fx(const gr_svg_frame *f, double x) { return f->L + (x - f->x0) / (f->x1 - f->x0) * (f->W - f->L - f->R); }

double gr_svg_fy(const gr_svg_frame *f, double y)
{
    return f->H - f->B - (y - f->y0) / (f->y1 - f->y0) * (f->H - f->T - f->B);
}

double gr_svg_nice_step(double range, int target)
{
    double raw = range / target, mag = pow(10, floor(log10(raw))), q = raw / mag;
    return (q < 1.5 ? 1 : q < 3 ? 2 : q < 7 ? 5 : 10) * mag;
}

void gr_svg_axes(gr_svg *s, const gr_svg_frame *f, const char *title, const char *xlab, const char *ylab)
{
    gr_svg_rect(s, f->L, f->T, f->W - f->L - f->R, f->H - f->T - f->B, "none", "#444444", 1);
    double sx = gr_svg_nice_step(f->x1 - f->x0, 8), sy = gr_svg_nice_step(f->y1 - f->y0, 6);
    for (double v = ceil(f->x0 / sx) * sx; v <= f->x1 + 1e-9 * sx; v += sx) {
        double X = gr_svg_fx(f, v);
        gr_svg_line(s, X, f->T, X, f->H - f->B, "#e5e5e5", 1, 1, NULL);
        gr_svg_text(s, X, f->H - f->B + 18, 12, "middle", "#333333", "%g", fabs(v) < 1e-12 * sx ? 0.0 : v);
    }
    for (double v = ceil(f->y0 / sy) * sy; v <= f->y1 + 1e-9 * sy; v += sy) {
        double Y = gr_svg_fy(f, v);
        gr_svg_line(s, f->L, Y, f->W - f->R, Y, "#e5e5e5", 1, 1, NULL);
        gr_svg_text(s, f->L - 6, Y + 4, 12, "end", "#333333", "%g", fabs(v) < 1e-12 * sy ? 0.0 : v);
    }
    gr_svg_text(s, (f->L + f->W - f->R) / 2, 26, 16, "middle", "#000000", "%s", title);
    gr_svg_text(s, (f->L + f->W - f->R) / 2, f->H - 14, 13, "middle", "#000000", "%s", xlab);
    gr_svg_text(s, f->L, f->T - 8, 13, "start", "#000000", "%s", ylab);
}
