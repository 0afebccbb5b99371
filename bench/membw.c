/* bench/membw.c: memory bandwidth of this machine, STREAM-style (copy and triad on arrays far larger
 * than the caches), one thread, and the rate at which the kernel hands out fresh memory (first touch of a
 * new 256 MiB mapping, one write per 4 KiB page: page faults and zeroing). Prints medians in GB/s. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    const size_t n = 16u << 20; /* 16 Mi doubles = 128 MiB per array */
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) { fprintf(stderr, "membw: out of memory\n"); return 1; }
    for (size_t i = 0; i < n; i++) { a[i] = 1.0; b[i] = 2.0; c[i] = 0.0; }
    enum { REPS = 9 };
    double copy[REPS], triad[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++) c[i] = a[i];
        double t1 = now();
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
        double t2 = now();
        copy[r] = 2.0 * n * sizeof(double) / (t1 - t0) / 1e9;
        triad[r] = 3.0 * n * sizeof(double) / (t2 - t1) / 1e9;
    }
    qsort(copy, REPS, sizeof(double), cmp);
    qsort(triad, REPS, sizeof(double), cmp);
    double fresh[REPS];
    const size_t fb = (size_t)256 << 20;
    for (int r = 0; r < REPS; r++) {
        volatile char *p = mmap(NULL, fb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { fprintf(stderr, "membw: mmap failed\n"); return 1; }
        double t0 = now();
        for (size_t i = 0; i < fb; i += 4096) p[i] = 1;
        fresh[r] = fb / (now() - t0) / 1e9;
        munmap((void *)p, fb);
    }
    qsort(fresh, REPS, sizeof(double), cmp);
    printf("copy_gbs %.2f\ntriad_gbs %.2f\nfresh_gbs %.2f\ncheck %.1f\n", copy[REPS / 2], triad[REPS / 2],
           fresh[REPS / 2], a[n / 2]);
    free(a); free(b); free(c);
    return 0;
}
