/* vcov.h: the variance formula: iid, heteroskedasticity-robust (HC1) and one- or two-way
 * clustered sandwich estimators with fixest's small-sample conventions, and one-way CR2/CR3 with the
 * fixed effects' leverage (clubSandwich's conventions; leverage.h) (docs/vcov.md). */
#ifndef GR_VCOV_H
#define GR_VCOV_H
#include "gr.h"

typedef enum { GR_VCOV_IID = 0, GR_VCOV_HC1, GR_VCOV_CLUSTER, GR_VCOV_CR2, GR_VCOV_CR3 } gr_vcov_type;

/* 1 for the clustered types (CR1 one- or two-way, CR2, CR3). */
static inline int gr_vcov_clustered(gr_vcov_type t)
{
    return t == GR_VCOV_CLUSTER || t == GR_VCOV_CR2 || t == GR_VCOV_CR3;
}

/* The canonical word of a variance type ("iid", "hc1", "cluster", "cr2", "cr3"): grid settings, records. */
static inline const char *gr_vcov_word(gr_vcov_type t)
{
    return t == GR_VCOV_IID ? "iid" : t == GR_VCOV_HC1 ? "hc1" : t == GR_VCOV_CR2 ? "cr2" : t == GR_VCOV_CR3 ? "cr3"
                                                                                                  : "cluster";
}

struct gr_absorber;

typedef struct gr_vcov_spec {
    gr_vcov_type type;
    int ncluster;            /* 1 or 2 clustering variables */
    const int32_t *cl[3];    /* dense global cluster ids per row: first, second, and their intersection */
    int64_t G[3];            /* clusters of each */
    int local_only[3];       /* 1 if no cluster has rows on two ranks (meat reduces as k*k only) */
    int min_cluster_df;      /* 1: fixest cluster.df="min" (G_min/(G_min-1) on every term); 0: each term its own */
    struct gr_absorber *absorber;  /* CR2/CR3: the fixed effects of the fit's rows (leverage.h); else NULL */
    const struct gr_lev_blocks *lev_blocks;  /* CR2/CR3: the diagnostic's exact blocks for cl[0], or NULL */
} gr_vcov_spec;

/* Collective. With spec->cl[0..ncluster) dense global ids of spec->G[] clusters on the absorber's rows: for
 * two-way clustering their intersection as cl[2] (allocated here, freed with the others), local_only for each,
 * and nested[k] |= 1 for each of the absorber's nfe fixed effects nested in a clustering (fixest's rule for
 * the fixed effects' degrees of freedom, docs/vcov.md). */
int gr_vcov_clusters_finish(MPI_Comm comm, const struct gr_absorber *ab, int nfe, gr_vcov_spec *spec, int *nested);

/* Collective. V (k*k) for demeaned regressors X (n*k local rows, column-major), residuals e (n),
 * B = (X'X)^-1 (replicated), nobs observations in all, K estimated parameters for the (n-1)/(n-K)
 * adjustment (the caller applies fixest's nested rule). *df_t gets the degrees of freedom of the t
 * distribution (n-K, or G_min-1 when clustered); *rss must be the global residual sum of squares. */
int gr_vcov_compute(MPI_Comm comm, const gr_vcov_spec *spec, int64_t n, int64_t nobs, int k, const double *X,
                    const double *e, const double *B, double rss, int64_t K, double *V, double *df_t);

/* Local. S[c + j*G] += sum of e_i x_ij over the rows i < n of cluster c (X column-major, leading dimension
 * ldx): the cluster scores, added to, so that they can be made block by block of rows. */
void gr_vcov_scores_add(int64_t n, int k, const double *X, int64_t ldx, const double *e, const int32_t *cl, int64_t G,
                        double *S);
/* Collective. meat = sum_g s_g s_g' (k x k, replicated) from this rank's scores S (G x k, summed over the
 * ranks in place unless local_only). */
int gr_vcov_meat_from_scores(MPI_Comm comm, int k, int64_t G, int local_only, double *S, double *meat);
/* Collective. meat = sum_g s_g s_g' (k x k, replicated), s_g = sum_{i in g} e_i x_i over the rows of
 * cluster g (cl: n dense global ids of G clusters); local_only = 1 if no cluster has rows on two ranks. */
int gr_vcov_cluster_meat(MPI_Comm comm, int64_t n, int k, const double *X, const double *e, const int32_t *cl,
                         int64_t G, int local_only, double *meat);
#endif
