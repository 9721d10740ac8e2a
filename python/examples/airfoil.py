"""Airfoil from Python: OP2's benchmark (2D inviscid Euler, NACA0012) written as PyOP2 code.

The five kernels are C strings (the text of src/bin/airfoil/kernels.c, as the Rust airfoil
compiles it: both programs run the same generated loops from the same cache entries), the mesh
comes from an OP2 HDF5 file read in parallel (``op2.mesh.read_airfoil_h5``: every rank reads
its block, partitioned and distributed as ``airfoil --mesh-h5`` does), and the loops are
``op2.par_loop`` calls with the Rust airfoil's arguments in its order. Output follows the Rust ``airfoil``: the rms residual every 100
iterations, the final rms, the loop time per iteration and, on OP2's standard mesh after 1000
iterations, ``This test is considered PASSED`` when the rms matches OP2's published value.

    op2 mesh convert --naca 400 600 -o new_grid.h5      # OP2's standard mesh
    mpiexec -n 2 python3 python/examples/airfoil.py --mesh-h5 new_grid.h5 [--iters 1000]
"""

import argparse
import re
import sys
import time
from math import sqrt
from pathlib import Path

import numpy as np
from mpi4py import MPI

import op2
import op2.mesh

# OP2's final rms on the standard mesh after 1000 iterations.
OP2_REFERENCE_RMS = 0.0001060114637578

# The five kernels: the C of the Rust airfoil, read from the repository (src/bin/airfoil/
# kernels.c), one string for all five as the Rust binary passes it. The same text with the same
# arguments generates the same loop code, so both programs compile, cache and run the same
# entries (bench/python_airfoil.py checks it). Flow constants (OP2's airfoil.cpp assigns float
# literals to double constants) are defined in that C, bit for bit.
KERNELS_C = Path(__file__).resolve().parents[2] / "src" / "bin" / "airfoil" / "kernels.c"
KERNEL_NAMES = ("save_soln", "adt_calc", "res_calc", "bres_calc", "update")


def read_kernels(path=KERNELS_C):
    """The kernels' C text; an error naming the file if it is not there."""
    try:
        return path.read_text()
    except OSError as e:
        raise FileNotFoundError(f"airfoil.py: cannot read the Airfoil kernels {path}: {e} "
                                "(the example runs from op2's repository)") from e


def kernel_constant(code, name):
    """The values of `static const double NAME = ...;` in the kernels' C (as the Rust airfoil
    reads them: the file's constants must equal these)."""
    m = re.search(rf"static const double {name}\b[^=]*=([^;]*);", code)
    if m is None:
        raise ValueError(f"airfoil.py: {KERNELS_C} defines no constant `{name}`")
    return [float(v) for v in m.group(1).strip().strip("{}").split(",")]


def check_constants(mesh, path, code):
    """The file's flow constants must be the kernels' (as the Rust airfoil checks)."""
    for name in ("gam", "gm1", "cfl", "eps", "qinf"):
        value = kernel_constant(code, name)
        if list(mesh.constants[name]) != value:
            raise ValueError(f"airfoil.py --mesh-h5 {path}: constant `{name}` is "
                             f"{list(mesh.constants[name])} in the file but {value} in the kernels")


def solve(mesh_h5, iters=1000, partitioner="rcb"):
    """Collective: run Airfoil on the mesh of ``mesh_h5``; returns (final rms, passed)."""
    comm = MPI.COMM_WORLD
    root = comm.rank == 0
    t_setup = time.perf_counter()
    code = read_kernels()
    mesh = op2.mesh.read_airfoil_h5(mesh_h5, partitioner=partitioner)
    check_constants(mesh, mesh_h5, code)
    nodes, edges, bedges, cells = (mesh.sets[n] for n in ("nodes", "edges", "bedges", "cells"))
    pedge, pecell, pbedge, pbecell, pcell = (
        mesh.maps[n] for n in ("pedge", "pecell", "pbedge", "pbecell", "pcell"))
    p_x, p_bound, p_q = (mesh.dats[n] for n in ("p_x", "p_bound", "p_q"))
    p_qold = op2.Dat(cells ** 4, dtype=np.float64, name="p_qold")
    p_res = op2.Dat(cells ** 4, dtype=np.float64, name="p_res")
    p_adt = op2.Dat(cells ** 1, dtype=np.float64, name="p_adt")

    save_soln, adt_calc, res_calc, bres_calc, update = (
        op2.Kernel(code, name) for name in KERNEL_NAMES)

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
