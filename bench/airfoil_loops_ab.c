/*
 * Before/after of op2's generated Airfoil loops, call by call in one process: the libraries
 * two op2 builds compiled for the five kernels (two disk caches) run on the same mesh arrays,
 * alternating every iteration (odd iterations library set A, even B), so both see the same
 * load on a shared machine. Both sets compute the same sequence (equal generated semantics),
 * so the data evolve as in airfoil.
 *
 *   cc -O2 -o airfoil_loops_ab bench/airfoil_loops_ab.c -ldl -lm
 *   ./airfoil_loops_ab new_grid.dat CACHE_DIR_A CACHE_DIR_B [iterations, default 20]
 *
 * Prints, per loop and library set, the best and the median wall-clock milliseconds per call,
 * the best CPU milliseconds of the calling thread (less disturbed by other jobs on a shared
 * machine) and the ratio B/A of the best CPU times. Each cache directory must hold one entry per kernel (a fresh cache
 * warmed by one short airfoil run, as bench/airfoil.rs does). Loading a library runs its
 * code: use only cache directories you made.
 */
#define _XOPEN_SOURCE 700
#include <dlfcn.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*loop_fn)(int, int, void **, const int **);

static const char *KERNELS[5] = {"save_soln", "adt_calc", "res_calc", "bres_calc", "update"};
static char found[5][4096];

static int visit(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)f;
    size_t len = strlen(path);
    if (type != FTW_F || len < 5 || strcmp(path + len - 5, ".meta") != 0)
        return 0;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    for (int k = 0; k < 5; k++) {
        char want[64];
        snprintf(want, sizeof want, "\"kernel\": \"%s\"", KERNELS[k]);
        if (strstr(buf, want) && len < sizeof found[k]) {
            memcpy(found[k], path, len - 5);
            strcpy(found[k] + len - 5, ".so");
        }
    }
    return 0;
}

/* The __op2_loop of each kernel's library in cache directory `dir`. */
static void load(const char *dir, loop_fn out[5])
{
    memset(found, 0, sizeof found);
    if (nftw(dir, visit, 16, FTW_PHYS) != 0) {
        perror(dir);
        exit(2);
    }
    for (int k = 0; k < 5; k++) {
        if (!found[k][0]) {
            fprintf(stderr, "%s: no cache entry for kernel %s\n", dir, KERNELS[k]);
            exit(2);
        }
        void *h = dlopen(found[k], RTLD_NOW | RTLD_LOCAL);
        if (!h || !(out[k] = (loop_fn)dlsym(h, "__op2_loop"))) {
            fprintf(stderr, "%s: %s\n", found[k], dlerror());
            exit(2);
        }
    }
}

/* Wall-clock seconds, or (cpu) this thread's CPU seconds: on a machine shared with other
 * jobs the thread's CPU time leaves out the time it waited for a core. */
static double now(int cpu)
{
    struct timespec t;
    clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s MESH_FILE CACHE_A CACHE_B [ITERATIONS]\n", argv[0]);
        return 2;
    }
    int niter = argc == 5 ? atoi(argv[4]) : 20;
    if (niter < 2)
        niter = 2;
    loop_fn lib[2][5];
    load(argv[2], lib[0]);
    load(argv[3], lib[1]);

    FILE *fp = fopen(argv[1], "r");
    int nnode, ncell, nedge, nbedge;
    if (!fp || fscanf(fp, "%d %d %d %d", &nnode, &ncell, &nedge, &nbedge) != 4) {
        fprintf(stderr, "%s: cannot read the mesh header\n", argv[1]);
        return 2;
    }
    double *x = malloc(sizeof(double) * 2 * nnode);
    int *cell = malloc(sizeof(int) * 4 * ncell), *edge = malloc(sizeof(int) * 2 * nedge);
    int *ecell = malloc(sizeof(int) * 2 * nedge), *bedge = malloc(sizeof(int) * 2 * nbedge);
    int *becell = malloc(sizeof(int) * nbedge), *bound = malloc(sizeof(int) * nbedge);
    double *q = malloc(sizeof(double) * 4 * ncell), *qold = calloc(4 * (size_t)ncell, 8);
    double *res = calloc(4 * (size_t)ncell, 8), *adt = calloc(ncell, 8);
    int ok = 1;
    for (int n = 0; n < nnode && ok; n++)
        ok = fscanf(fp, "%lf %lf", &x[2 * n], &x[2 * n + 1]) == 2;
    for (int n = 0; n < ncell && ok; n++)
        ok = fscanf(fp, "%d %d %d %d", &cell[4 * n], &cell[4 * n + 1], &cell[4 * n + 2],
                    &cell[4 * n + 3]) == 4;
    for (int n = 0; n < nedge && ok; n++)
        ok = fscanf(fp, "%d %d %d %d", &edge[2 * n], &edge[2 * n + 1], &ecell[2 * n],
                    &ecell[2 * n + 1]) == 4;
    for (int n = 0; n < nbedge && ok; n++)
        ok = fscanf(fp, "%d %d %d %d", &bedge[2 * n], &bedge[2 * n + 1], &becell[n],
                    &bound[n]) == 4;
    fclose(fp);
    if (!ok) {
        fprintf(stderr, "%s: truncated mesh\n", argv[1]);
        return 2;
    }
    /* Free stream, as kernels.c's qinf (airfoil starts from it). */
    const double qinf[4] = {1.0, 0.47328638567047632, 0.0, 2.6120001504421322};
    for (int n = 0; n < ncell; n++)
        memcpy(&q[4 * n], qinf, sizeof qinf);

    /* Arguments and maps in airfoil's argument order (src/bin/airfoil/main.rs). */
    double rms = 0.0;
    void *a_save[] = {q, qold};
    const int *m_save[] = {NULL, NULL};
    void *a_adt[] = {x, x, x, x, q, adt};
    const int *m_adt[] = {cell, cell, cell, cell, NULL, NULL};
    void *a_res[] = {x, x, q, q, adt, adt, res, res};
    const int *m_res[] = {edge, edge, ecell, ecell, ecell, ecell, ecell, ecell};
    void *a_bres[] = {x, x, q, adt, res, bound};
    const int *m_bres[] = {bedge, bedge, becell, becell, becell, NULL};
    void *a_upd[] = {qold, q, res, adt, &rms};
    const int *m_upd[] = {NULL, NULL, NULL, NULL, NULL};
    void **args[5] = {a_save, a_adt, a_res, a_bres, a_upd};
    const int **maps[5] = {m_save, m_adt, m_res, m_bres, m_upd};
    int size[5] = {ncell, ncell, nedge, nbedge, ncell};

    /* Per library set and loop, the time of every call. */
    int per = 2 * ((niter + 1) / 2) + 2;
    double *t[2][5], *c[2][5];
    int cnt[2][5] = {{0}};
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 5; k++) {
            t[s][k] = malloc(sizeof(double) * per);
            c[s][k] = malloc(sizeof(double) * per);
        }
    for (int iter = 0; iter < niter; iter++) {
        int s = iter % 2;
        for (int stage = -1; stage < 2; stage++) {
            for (int k = 0; k < 5; k++) {
                if ((stage < 0) != (k == 0))
                    continue; /* save_soln once per iteration, the others per stage */
                if (k == 4)
                    rms = 0.0;
                double t0 = now(0), c0 = now(1);
                lib[s][k](0, size[k], args[k], maps[k]);
                c[s][k][cnt[s][k]] = now(1) - c0;
                t[s][k][cnt[s][k]++] = now(0) - t0;
            }
        }
    }
    printf("mesh %s: %d cells, %d edges; %d iterations, library sets alternating (A odd, B "
           "even); rms %.10e\n",
           argv[1], ncell, nedge, niter, sqrt(rms / ncell));
    printf("%-10s %11s %11s %11s %11s %11s %11s %9s\n", "loop", "A best ms", "A median",
           "A best cpu", "B best ms", "B median", "B best cpu", "B/A cpu");
    for (int k = 0; k < 5; k++) {
        double best[2], med[2], cpu[2];
        for (int s = 0; s < 2; s++) {
            qsort(t[s][k], cnt[s][k], sizeof(double), cmp);
            qsort(c[s][k], cnt[s][k], sizeof(double), cmp);
            best[s] = 1e3 * t[s][k][0];
            med[s] = 1e3 * t[s][k][cnt[s][k] / 2];
            cpu[s] = 1e3 * c[s][k][0];
        }
        printf("%-10s %11.3f %11.3f %11.3f %11.3f %11.3f %11.3f %9.3f\n", KERNELS[k], best[0],
               med[0], cpu[0], best[1], med[1], cpu[1], cpu[1] / cpu[0]);
    }
    return 0;
}
