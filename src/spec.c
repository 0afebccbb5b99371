/* spec.c: one specification (see spec.h): defaults, parsing of its texts, fixest's default variance. */
#include "spec.h"
#include <stdlib.h>
#include <string.h>

void gr_spec_defaults(gr_spec *s)
{
    memset(s, 0, sizeof *s);
    s->model.absorb = (gr_absorb_opts){.tol = 1e-6, .maxiter = 10000, .method = GR_FE_CG, .rm_singletons = 0};
    s->model.fit = (gr_fit_opts){.solver = GR_SOLVER_CHOL, .collin_tol = 1e-10};
    s->model.vcov = GR_VCOV_IID;
    s->family = GR_FAMILY_GAUSSIAN;
    gr_ppml_defaults(&s->ppml);
}

/* "a" or "a,b" into s->clnames. */
static int parse_clusters(gr_spec *s)
{
    const char *p = s->cluster_text;
    s->ncl = 0;
    for (;;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 0 || len >= GR_NAME_MAX || s->ncl == 2)
            return gr_fail(GR_EUSAGE, "--cluster", "expected one or two column names separated by a comma, got '%s'",
                           s->cluster_text);
        memcpy(s->clnames[s->ncl], p, len);
        s->clnames[s->ncl++][len] = 0;
        if (!q) return GR_OK;
        p = q + 1;
    }
}

int gr_spec_resolve(gr_spec *s)
{
    GR_CALL(gr_formula_parse(s->formula_text, &s->f));
    if (s->where_text) GR_CALL(gr_expr_parse(s->where_text, "--where", &s->where));
    if (s->weights_text) GR_CALL(gr_expr_parse(s->weights_text, "--weights", &s->weights));
    if (s->offset_text) GR_CALL(gr_expr_parse(s->offset_text, gr_spec_offset_name(s), &s->offset));
    if (s->split) GR_CALL(gr_expr_parse(s->split, "--split", &s->split_expr));
    if (s->split && !gr_expr_is_column(s->split_expr))
        return gr_fail(GR_EUSAGE, "--split", "expected a column name, got '%s'", s->split);
    if (s->cluster_text) GR_CALL(parse_clusters(s));
    gr_model_opts *m = &s->model;
    if (!s->vcov_set) {
        m->vcov = s->ncl > 0 || s->f.nfe > 0 ? GR_VCOV_CLUSTER : GR_VCOV_IID;
        m->cluster_on_fe = s->ncl == 0 && s->f.nfe > 0;
    } else if (gr_vcov_clustered(m->vcov) && s->ncl == 0) {
        if (s->f.nfe == 0) return gr_fail(GR_EUSAGE, "--vcov", "cluster needs --cluster (or a fixed effect)");
        m->cluster_on_fe = 1;
    }
    return GR_OK;
}

void gr_spec_free(gr_spec *s)
{
    gr_formula_free(&s->f);
    gr_expr_free(s->where);
    gr_expr_free(s->weights);
    gr_expr_free(s->split_expr);
    gr_expr_free(s->offset);
    s->where = s->weights = s->split_expr = s->offset = NULL;
}
