#!/usr/bin/env python3
"""The Python layer's own work in one Airfoil iteration, without the loops themselves.

Builds every par_loop argument of one iteration of python/examples/airfoil.py exactly as it
does (``p_x(op2.READ, pcell[0])``, ...), makes the ``rms`` Global twice and reads it twice, and
reports the thread CPU time per iteration (best of 7 x 2000). The ``par_loop`` calls
themselves add the binding's dispatch cost on top (python/bench_parloop.py: under 1 us a
call, 9 calls an iteration). Compare with the seconds per iteration of bench/python_airfoil.py.

    python3 bench/python_airfoil_overhead.py [grid.h5]     # default: a generated 40 x 24 mesh
"""

import os
import sys
import tempfile
import time

import numpy as np

import op2
import op2.mesh


def main():
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        path = os.path.join(tempfile.mkdtemp(prefix="op2-airfoil-overhead-"), "small.h5")
        op2.mesh.write_naca0012_h5(path, 40, 24)
    m = op2.mesh.read_airfoil_h5(path)
    cells = m.sets["cells"]
    pcell, pedge, pecell, pbedge, pbecell = (
        m.maps[n] for n in ("pcell", "pedge", "pecell", "pbedge", "pbecell"))
    p_x, p_q, p_bound = (m.dats[n] for n in ("p_x", "p_q", "p_bound"))
    p_adt = op2.Dat(cells ** 1, dtype=np.float64)
    p_res, p_qold = op2.Dat(cells ** 4, dtype=np.float64), op2.Dat(cells ** 4, dtype=np.float64)
    R, W, RW, INC = op2.READ, op2.WRITE, op2.RW, op2.INC

    def iteration():
        keep = [(p_q(R), p_qold(W))]
        for _ in range(2):
            keep.append((p_x(R, pcell[0]), p_x(R, pcell[1]), p_x(R, pcell[2]), p_x(R, pcell[3]),
                         p_q(R), p_adt(W)))
            keep.append((p_x(R, pedge[0]), p_x(R, pedge[1]), p_q(R, pecell[0]),
                         p_q(R, pecell[1]), p_adt(R, pecell[0]), p_adt(R, pecell[1]),
                         p_res(INC, pecell[0]), p_res(INC, pecell[1])))
            keep.append((p_x(R, pbedge[0]), p_x(R, pbedge[1]), p_q(R, pbecell[0]),
                         p_adt(R, pbecell[0]), p_res(INC, pbecell[0]), p_bound(R)))
            g = op2.Global(1, 0.0, np.float64, "rms")
            keep.append((p_qold(R), p_q(W), p_res(RW), p_adt(R), g(INC)))
            keep.append(g.data_ro[0])
        return keep

    best = float("inf")
    for _ in range(7):
        t = time.thread_time()
        for _ in range(2000):
            iteration()
        best = min(best, (time.thread_time() - t) / 2000)
    if op2.rank == 0:
        print(f"python_airfoil_overhead: {best * 1e6:.1f} us thread CPU per iteration "
              "(52 arguments, 2 Globals made and read), par_loop calls excluded")


if __name__ == "__main__":
    main()
