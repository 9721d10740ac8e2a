"""Airfoil from Python: OP2's benchmark (2D inviscid Euler, NACA0012) written as PyOP2 code.

The five kernels are C strings (the C of src/bin/airfoil/kernels.c), the mesh comes from an
OP2 HDF5 file read in parallel (``op2.mesh.read_airfoil_h5``: every rank reads its block,
partitioned and distributed as ``airfoil --mesh-h5`` does), and the loops are
``op2.par_loop`` calls. Output follows the Rust ``airfoil``: the rms residual every 100
iterations, the final rms, the loop time per iteration and, on OP2's standard mesh after 1000
iterations, ``This test is considered PASSED`` when the rms matches OP2's published value.

    op2 mesh convert --naca 400 600 -o new_grid.h5      # OP2's standard mesh
    mpiexec -n 2 python3 python/examples/airfoil.py --mesh-h5 new_grid.h5 [--iters 1000]
"""

import argparse
import sys
import time
from math import sqrt

import numpy as np
from mpi4py import MPI

import op2
import op2.mesh

# OP2's final rms on the standard mesh after 1000 iterations.
OP2_REFERENCE_RMS = 0.0001060114637578

# OP2's flow constants: airfoil.cpp assigns float literals to double constants.
GAM = float(np.float32(1.4))
GM1 = GAM - 1.0
CFL = float(np.float32(0.9))
EPS = float(np.float32(0.05))
MACH = float(np.float32(0.4))
_U = sqrt(GAM * 1.0 / 1.0) * MACH
QINF = [1.0, _U, 0.0, 1.0 / GM1 + 0.5 * _U * _U]

# Every kernel sees the constants and the pressure helper (repr: the exact double in C).
COMMON = f"""
#include <math.h>
static const double gam = {GAM!r};
static const double gm1 = {GM1!r};
static const double cfl = {CFL!r};
static const double eps = {EPS!r};
static const double qinf[4] = {{{", ".join(repr(v) for v in QINF)}}};

static double airfoil_pressure(const double *q, double ri)
{{
    return gm1 * (q[3] - 0.5 * ri * (q[1] * q[1] + q[2] * q[2]));
}}
"""

SAVE_SOLN = """
void save_soln(const double *q, double *qold)
{
    for (int n = 0; n < 4; n++)
        qold[n] = q[n];
}
"""

ADT_CALC = """
void adt_calc(const double *x1, const double *x2, const double *x3, const double *x4,
              const double *q, double *adt)
{
    const double *corner[5] = {x1, x2, x3, x4, x1};
    double ri = 1.0 / q[0];
    double u = ri * q[1];
    double v = ri * q[2];
    double c = sqrt(gam * gm1 * (ri * q[3] - 0.5 * (u * u + v * v)));
    double sum = 0.0;

    for (int s = 0; s < 4; s++) {
        double dx = corner[s + 1][0] - corner[s][0];
        double dy = corner[s + 1][1] - corner[s][1];
        sum += fabs(u * dy - v * dx) + c * sqrt(dx * dx + dy * dy);
    }
    *adt = sum / cfl;
}
"""

RES_CALC = """
void res_calc(const double *x1, const double *x2, const double *q1, const double *q2,
              const double *adt1, const double *adt2, double *res1, double *res2)
{
    double dx = x1[0] - x2[0];
    double dy = x1[1] - x2[1];

    double ri1 = 1.0 / q1[0];
    double p1 = airfoil_pressure(q1, ri1);
    double vol1 = ri1 * (q1[1] * dy - q1[2] * dx);

    double ri2 = 1.0 / q2[0];
    double p2 = airfoil_pressure(q2, ri2);
    double vol2 = ri2 * (q2[1] * dy - q2[2] * dx);

    double mu = 0.5 * ((*adt1) + (*adt2)) * eps;
    double f[4];

    f[0] = 0.5 * (vol1 * q1[0] + vol2 * q2[0]) + mu * (q1[0] - q2[0]);
    f[1] = 0.5 * (vol1 * q1[1] + p1 * dy + vol2 * q2[1] + p2 * dy) + mu * (q1[1] - q2[1]);
    f[2] = 0.5 * (vol1 * q1[2] - p1 * dx + vol2 * q2[2] - p2 * dx) + mu * (q1[2] - q2[2]);
    f[3] = 0.5 * (vol1 * (q1[3] + p1) + vol2 * (q2[3] + p2)) + mu * (q1[3] - q2[3]);
    for (int n = 0; n < 4; n++) {
        res1[n] += f[n];
        res2[n] -= f[n];
    }
}
"""

BRES_CALC = """
void bres_calc(const double *x1, const double *x2, const double *q1, const double *adt1,
               double *res1, const int *bound)
{
    double dx = x1[0] - x2[0];
    double dy = x1[1] - x2[1];
    double ri1 = 1.0 / q1[0];
    double p1 = airfoil_pressure(q1, ri1);

    if (*bound == 1) {
        res1[1] += p1 * dy;
        res1[2] += -p1 * dx;
        return;
    }

    double vol1 = ri1 * (q1[1] * dy - q1[2] * dx);
    double ri2 = 1.0 / qinf[0];
    double p2 = airfoil_pressure(qinf, ri2);
    double vol2 = ri2 * (qinf[1] * dy - qinf[2] * dx);
    double mu = (*adt1) * eps;

    res1[0] += 0.5 * (vol1 * q1[0] + vol2 * qinf[0]) + mu * (q1[0] - qinf[0]);
    res1[1] += 0.5 * (vol1 * q1[1] + p1 * dy + vol2 * qinf[1] + p2 * dy) + mu * (q1[1] - qinf[1]);
    res1[2] += 0.5 * (vol1 * q1[2] - p1 * dx + vol2 * qinf[2] - p2 * dx) + mu * (q1[2] - qinf[2]);
    res1[3] += 0.5 * (vol1 * (q1[3] + p1) + vol2 * (qinf[3] + p2)) + mu * (q1[3] - qinf[3]);
}
"""

UPDATE = """
void update(const double *qold, double *q, double *res, const double *adt, double *rms)
{
    double adti = 1.0 / (*adt);

    for (int n = 0; n < 4; n++) {
        double del = adti * res[n];
        q[n] = qold[n] - del;
        res[n] = 0.0;
        *rms += del * del;
    }
}
"""


def check_constants(mesh, path):
    """The file's flow constants must be the kernels' (as the Rust airfoil checks)."""
    want = {"gam": [GAM], "gm1": [GM1], "cfl": [CFL], "eps": [EPS], "qinf": QINF}
    for name, value in want.items():
        if list(mesh.constants[name]) != value:
            raise ValueError(f"airfoil.py --mesh-h5 {path}: constant `{name}` is "
                             f"{list(mesh.constants[name])} in the file but {value} in the kernels")


def solve(mesh_h5, iters=1000, partitioner="rcb"):
    """Collective: run Airfoil on the mesh of ``mesh_h5``; returns (final rms, passed)."""
    comm = MPI.COMM_WORLD
    root = comm.rank == 0
    t_setup = time.perf_counter()
    mesh = op2.mesh.read_airfoil_h5(mesh_h5, partitioner=partitioner)
    check_constants(mesh, mesh_h5)
    nodes, edges, bedges, cells = (mesh.sets[n] for n in ("nodes", "edges", "bedges", "cells"))
    pedge, pecell, pbedge, pbecell, pcell = (
        mesh.maps[n] for n in ("pedge", "pecell", "pbedge", "pbecell", "pcell"))
    p_x, p_bound, p_q = (mesh.dats[n] for n in ("p_x", "p_bound", "p_q"))
    p_qold = op2.Dat(cells ** 4, dtype=np.float64, name="p_qold")
    p_res = op2.Dat(cells ** 4, dtype=np.float64, name="p_res")
    p_adt = op2.Dat(cells ** 1, dtype=np.float64, name="p_adt")

    save_soln = op2.Kernel(COMMON + SAVE_SOLN, "save_soln")
    adt_calc = op2.Kernel(COMMON + ADT_CALC, "adt_calc")
    res_calc = op2.Kernel(COMMON + RES_CALC, "res_calc")
    bres_calc = op2.Kernel(COMMON + BRES_CALC, "bres_calc")
    update = op2.Kernel(COMMON + UPDATE, "update")

    ncell = cells.global_size
    standard = (ncell == 720_000 and nodes.global_size == 721_801
                and edges.global_size == 1_438_600 and bedges.global_size == 2_800)
    if root:
        print(f"airfoil.py: {ncell} cells, {nodes.global_size} nodes, {edges.global_size} edges, "
              f"{bedges.global_size} boundary edges on {comm.size} rank(s); "
              f"setup {time.perf_counter() - t_setup:.2f} s", flush=True)

    t0 = time.perf_counter()
    rms = 0.0
    for it in range(1, iters + 1):
        op2.par_loop(save_soln, cells, p_q(op2.READ), p_qold(op2.WRITE))
        for _ in range(2):
            op2.par_loop(adt_calc, cells,
                         p_x(op2.READ, pcell[0]), p_x(op2.READ, pcell[1]),
                         p_x(op2.READ, pcell[2]), p_x(op2.READ, pcell[3]),
                         p_q(op2.READ), p_adt(op2.WRITE))
            op2.par_loop(res_calc, edges,
                         p_x(op2.READ, pedge[0]), p_x(op2.READ, pedge[1]),
                         p_q(op2.READ, pecell[0]), p_q(op2.READ, pecell[1]),
                         p_adt(op2.READ, pecell[0]), p_adt(op2.READ, pecell[1]),
                         p_res(op2.INC, pecell[0]), p_res(op2.INC, pecell[1]))
            op2.par_loop(bres_calc, bedges,
                         p_x(op2.READ, pbedge[0]), p_x(op2.READ, pbedge[1]),
                         p_q(op2.READ, pbecell[0]), p_adt(op2.READ, pbecell[0]),
                         p_res(op2.INC, pbecell[0]), p_bound(op2.READ))
            g_rms = op2.Global(1, 0.0, np.float64, "rms")
            op2.par_loop(update, cells,
                         p_qold(op2.READ), p_q(op2.WRITE), p_res(op2.RW),
                         p_adt(op2.READ), g_rms(op2.INC))
            rms = g_rms.data_ro[0]
        rms = sqrt(rms / ncell)
        if not np.isfinite(rms):
            # A reduction: every rank sees the same value and stops here alike.
            raise FloatingPointError(f"airfoil.py: the rms residual is {rms} at iteration {it}: "
                                     "the solution diverged; stopping")
        if root and it % 100 == 0:
            print(f" {it}  {rms:10.5e} ", flush=True)
    total = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    if root:
        print(f"airfoil.py: final rms {rms:.16e} after {iters} iterations")
        print(f"\ntiming: {total:.3f} s total, {total / max(iters, 1):.5f} s per iteration, "
              f"{comm.size} rank(s)", flush=True)

    passed = True
    if standard and iters == 1000:
        diff = abs(100.0 * (rms / OP2_REFERENCE_RMS) - 100.0)
        passed = diff < 0.00001
        if root:
            print(f"\n\nfinal rms {rms:.16e}, OP2 reference {OP2_REFERENCE_RMS:.16e}, "
                  f"relative difference {diff:.3e} %")
            print(f"This test is considered {'PASSED' if passed else 'FAILED'}", flush=True)
    return rms, passed


def main():
    p = argparse.ArgumentParser(description="OP2's Airfoil benchmark from Python on op2")
    p.add_argument("--iters", type=int, default=1000, help="iterations (OP2's benchmark: 1000)")
    p.add_argument("--mesh-h5", required=True,
                   help="OP2's HDF5 mesh file (op2 mesh convert --naca 400 600 -o new_grid.h5)")
    p.add_argument("--partitioner", default="rcb",
                   help="rcb (default), parallel-rcb, block or metis")
    args = p.parse_args()
    _, passed = solve(args.mesh_h5, args.iters, args.partitioner)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
