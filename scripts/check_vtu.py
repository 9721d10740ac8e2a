#!/usr/bin/env python3
"""Open a VTU written by `airfoil --vtu` with meshio (an independent VTK reader) and check it.

usage: check_vtu.py FILE NCELLS NNODES
Prints one summary line; exits non-zero if the file does not parse or is inconsistent.
"""
import math
import sys

import meshio

path, ncells, nnodes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = meshio.read(path)
quads = [c for c in m.cells if c.type == "quad"]
assert quads, "no quad cells"
nq = sum(len(c.data) for c in quads)
assert nq == ncells, f"{nq} cells, expected {ncells}"
assert len(m.points) == nnodes, f"{len(m.points)} points, expected {nnodes}"
for name in ("density", "pressure", "mach"):
    vals = [v for block in m.cell_data[name] for v in block]
    assert len(vals) == ncells, f"{name}: {len(vals)} values"
    assert all(math.isfinite(v) for v in vals), f"{name}: non-finite values"
    assert min(vals) > 0, f"{name}: non-positive value {min(vals)}"
mach = [v for block in m.cell_data["mach"] for v in block]
print(f"vtu ok: {nq} quads, {len(m.points)} points, mach {min(mach):.3f}..{max(mach):.3f}")
