/*
 * Plain C reference for OP2's Airfoil benchmark, with no runtime: the five kernels of
 * src/bin/airfoil/kernels.c run in OP2's exact loop order over a mesh in OP2's ASCII format.
 * It proves a mesh file (op2's generated new_grid.dat) against OP2's published residual
 * history, and gives the serial baseline time.
 *
 *   cc -O3 -o airfoil_ref bench/airfoil_ref.c -lm
 *   ./airfoil_ref new_grid.dat [iterations, default 1000]
 *
 * Per iteration: save_soln over cells; then two stages of adt_calc over cells, res_calc over
 * interior edges, bres_calc over boundary edges and update over cells (rms reset before each
 * update, so the printed rms is the second stage's). Every 100 iterations it prints
 * " iter  rms " with rms = sqrt(rms / ncell). For the standard mesh (720000 cells) run for 1000
 * iterations it compares with OP2's final value and prints PASSED or FAILED (exit status 1).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/bin/airfoil/kernels.c"

/* OP2's final rms of the standard mesh after 1000 iterations, and its tolerance in percent. */
static const double REF_RMS_1000 = 0.0001060114637578;
static const double REF_TOL_PERCENT = 1e-5;

static void die(const char *path, const char *what, long item)
{
    if (item >= 0)
        fprintf(stderr, "airfoil_ref: %s: %s %ld\n", path, what, item);
    else
        fprintf(stderr, "airfoil_ref: %s: %s\n", path, what);
    exit(2);
}

static void *alloc(size_t count, size_t size, const char *path)
{
    void *p = calloc(count ? count : 1, size);
    if (!p)
        die(path, "out of memory for a mesh of this size", -1);
    return p;
}

static void check_range(const int *v, int n, int limit, const char *path, const char *what,
                        long item)
{
    for (int k = 0; k < n; k++)
        if (v[k] < 0 || v[k] >= limit)
            die(path, what, item);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MESH_FILE [ITERATIONS]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    long niter = 1000;
    if (argc == 3) {
        char *end;
        niter = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || niter < 0) {
            fprintf(stderr, "airfoil_ref: iterations must be a non-negative integer, got '%s'\n",
                    argv[2]);
            return 2;
        }
    }

    /* The hard-coded qinf of kernels.c must be OP2's formulas, to the last bit. */
    {
        double g = 1.4f, gm = g - 1.0f, mach = 0.4f, p = 1.0f, r = 1.0f;
        double u = sqrt(g * p / r) * mach, e = p / (r * gm) + 0.5f * u * u;
        double want[4] = {r, r * u, 0.0f, r * e};
        if (g != gam || gm != gm1 || (double)0.9f != cfl || (double)0.05f != eps ||
            memcmp(want, qinf, sizeof want) != 0) {
            fprintf(stderr, "airfoil_ref: the constants of kernels.c differ from OP2's\n");
            return 2;
        }
    }

    FILE *fp = fopen(path, "r");
    if (!fp) {
        perror(path);
        return 2;
    }
    int nnode, ncell, nedge, nbedge;
    if (fscanf(fp, "%d %d %d %d", &nnode, &ncell, &nedge, &nbedge) != 4)
        die(path, "cannot read the header `nnode ncell nedge nbedge`", -1);
    if (nnode < 0 || ncell < 1 || nedge < 0 || nbedge < 0)
        die(path, "negative or zero counts in the header", -1);

    double *x = alloc(2 * (size_t)nnode, sizeof *x, path);
    int *cell = alloc(4 * (size_t)ncell, sizeof *cell, path);
    int *edge = alloc(2 * (size_t)nedge, sizeof *edge, path);
    int *ecell = alloc(2 * (size_t)nedge, sizeof *ecell, path);
    int *bedge = alloc(2 * (size_t)nbedge, sizeof *bedge, path);
    int *becell = alloc((size_t)nbedge, sizeof *becell, path);
    int *bound = alloc((size_t)nbedge, sizeof *bound, path);
    double *q = alloc(4 * (size_t)ncell, sizeof *q, path);
    double *qold = alloc(4 * (size_t)ncell, sizeof *qold, path);
    double *res = alloc(4 * (size_t)ncell, sizeof *res, path);
    double *adt = alloc((size_t)ncell, sizeof *adt, path);

    for (long n = 0; n < nnode; n++)
        if (fscanf(fp, "%lf %lf", &x[2 * n], &x[2 * n + 1]) != 2)
            die(path, "cannot read the coordinates of node", n);
    for (long n = 0; n < ncell; n++) {
        int *c = &cell[4 * n];
        if (fscanf(fp, "%d %d %d %d", &c[0], &c[1], &c[2], &c[3]) != 4)
            die(path, "cannot read cell", n);
        check_range(c, 4, nnode, path, "node index out of range in cell", n);
    }
    for (long n = 0; n < nedge; n++) {
        int *e = &edge[2 * n], *c = &ecell[2 * n];
        if (fscanf(fp, "%d %d %d %d", &e[0], &e[1], &c[0], &c[1]) != 4)
            die(path, "cannot read interior edge", n);
        check_range(e, 2, nnode, path, "node index out of range in interior edge", n);
        check_range(c, 2, ncell, path, "cell index out of range in interior edge", n);
    }
    for (long n = 0; n < nbedge; n++) {
        int *e = &bedge[2 * n];
        if (fscanf(fp, "%d %d %d %d", &e[0], &e[1], &becell[n], &bound[n]) != 4)
            die(path, "cannot read boundary edge", n);
        check_range(e, 2, nnode, path, "node index out of range in boundary edge", n);
        check_range(&becell[n], 1, ncell, path, "cell index out of range in boundary edge", n);
    }
    fclose(fp);
    printf("mesh %s: %d nodes, %d cells, %d edges, %d boundary edges\n", path, nnode, ncell,
           nedge, nbedge);

    for (long n = 0; n < ncell; n++)
        for (int m = 0; m < 4; m++)
            q[4 * n + m] = qinf[m]; /* res and adt start at zero (calloc) */

    double rms = 0.0;
    double t0 = now();
    for (long iter = 1; iter <= niter; iter++) {
        for (long n = 0; n < ncell; n++)
            save_soln(&q[4 * n], &qold[4 * n]);

        for (int stage = 0; stage < 2; stage++) {
            for (long n = 0; n < ncell; n++) {
                const int *c = &cell[4 * n];
                adt_calc(&x[2 * c[0]], &x[2 * c[1]], &x[2 * c[2]], &x[2 * c[3]], &q[4 * n],
                         &adt[n]);
            }
            for (long n = 0; n < nedge; n++) {
                const int *e = &edge[2 * n], *c = &ecell[2 * n];
                res_calc(&x[2 * e[0]], &x[2 * e[1]], &q[4 * c[0]], &q[4 * c[1]], &adt[c[0]],
                         &adt[c[1]], &res[4 * c[0]], &res[4 * c[1]]);
            }
            for (long n = 0; n < nbedge; n++) {
                const int *e = &bedge[2 * n];
                bres_calc(&x[2 * e[0]], &x[2 * e[1]], &q[4 * becell[n]], &adt[becell[n]],
                          &res[4 * becell[n]], &bound[n]);
            }
            rms = 0.0;
            for (long n = 0; n < ncell; n++)
                update(&qold[4 * n], &q[4 * n], &res[4 * n], &adt[n], &rms);
        }
        rms = sqrt(rms / (double)ncell);
        if (iter % 100 == 0)
            printf(" %ld  %10.5e \n", iter, rms);
    }
    double elapsed = now() - t0;

    printf("time: %.3f s for %ld iterations, %.6f s per iteration\n", elapsed, niter,
           niter ? elapsed / (double)niter : 0.0);

    int status = 0;
    if (ncell == 720000 && niter == 1000) {
        double diff = fabs(100.0 * (rms / REF_RMS_1000) - 100.0);
        printf("final rms %.16e, OP2's %.16e: %.3e %% apart\n", rms, REF_RMS_1000, diff);
        if (diff < REF_TOL_PERCENT) {
            printf("PASSED\n");
        } else {
            printf("FAILED\n");
            status = 1;
        }
    } else {
        printf("no reference value for this mesh and iteration count (OP2's: 720000 cells, "
               "1000 iterations)\n");
    }

    free(x);
    free(cell);
    free(edge);
    free(ecell);
    free(bedge);
    free(becell);
    free(bound);
    free(q);
    free(qold);
    free(res);
    free(adt);
    return status;
}
