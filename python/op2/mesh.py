"""op2's mesh input from Python: OP2 HDF5 mesh files read in parallel into Sets, Maps and Dats.

``read_h5(path, ...)`` reads a file in OP2's HDF5 layout (``new_grid.h5``; ``op2 mesh convert
... -o grid.h5`` writes one) with op2's Rust reader: every rank reads its own block, the mesh
is partitioned (RCB by default) and distributed with halos exactly as ``airfoil --mesh-h5``
does, and the result is the package's own ``Set``, ``Map`` and ``Dat`` objects, by name, for
PyOP2-style code over them. ``AIRFOIL`` is the layout of OP2 Airfoil's file. This module owns
the layouts and the ``Mesh`` record; the reading is op2's (``op2._op2.read_h5``). Collective:
every rank calls ``read_h5`` with the same arguments.
"""

import numpy as np

from op2 import _op2

__all__ = ["AIRFOIL", "Mesh", "read_h5", "read_airfoil_h5", "write_naca0012_h5"]

# OP2 Airfoil's new_grid.h5: its sets, its maps (name, from, to, arity), the coordinates RCB
# partitions by, the dats the solver reads (name, set, dim, dtype) and its flow constants.
AIRFOIL = dict(
    sets=["nodes", "edges", "bedges", "cells"],
    maps=[
        ("pedge", "edges", "nodes", 2),
        ("pecell", "edges", "cells", 2),
        ("pbedge", "bedges", "nodes", 2),
        ("pbecell", "bedges", "cells", 1),
        ("pcell", "cells", "nodes", 4),
    ],
    coordinates=("p_x", "nodes"),
    dats=[
        ("p_x", "nodes", 2, np.float64),
        ("p_bound", "bedges", 1, np.int32),
        ("p_q", "cells", 4, np.float64),
    ],
    constants=["gam", "gm1", "cfl", "eps", "qinf"],
)


class Mesh:
    """A distributed mesh: ``sets``, ``maps``, ``dats`` (name -> object) and ``constants``
    (name -> float64 array, the same on every rank)."""

    def __init__(self, sets, maps, dats, constants):
        self.sets, self.maps, self.dats = sets, maps, dats
        self.constants = {k: np.array(v, dtype=np.float64) for k, v in constants}

    def __repr__(self):
        return (f"Mesh(sets={sorted(self.sets)}, maps={sorted(self.maps)}, "
                f"dats={sorted(self.dats)})")


def read_h5(path, sets, maps, dats=(), constants=(), coordinates=None, partitioner="rcb",
            comm=None):
    """Collective: read the mesh of OP2 HDF5 file ``path``.

    ``sets``: set names (each a one-integer dataset, its size); ``maps``: ``(name, from_set,
    to_set, arity)`` (OP2's files do not say which sets a map joins); ``dats``: ``(name, set,
    dim, dtype)``, the stored type; ``constants``: names of float64 global constants;
    ``coordinates``: ``(dat, set)`` of doubles for RCB (needed by ``rcb``); ``partitioner``:
    ``rcb``, ``parallel-rcb``, ``block`` or ``metis``. A missing dataset, a wrong shape or
    type fails every rank with the file and dataset named.
    """
    d = _op2.read_h5(str(path), list(sets), [tuple(m) for m in maps],
                     [(n, s, int(dim), np.dtype(t)) for n, s, dim, t in dats],
                     list(constants), coordinates, partitioner, comm)
    return Mesh(d["sets"], d["maps"], d["dats"], d["constants"])


def read_airfoil_h5(path, partitioner="rcb", comm=None):
    """Collective: OP2 Airfoil's mesh (``AIRFOIL``) from ``path``."""
    return read_h5(path, partitioner=partitioner, comm=comm, **AIRFOIL)


def write_naca0012_h5(path, i, j):
    """Write op2's generated NACA0012 mesh of ``i`` x ``j`` cells (OP2's standard: 400 x 600)
    to ``path`` in OP2's HDF5 layout, as ``op2 mesh convert --naca I J -o path``. Not
    collective: call it on one rank, then let the others wait (``comm.Barrier()``)."""
    _op2.write_naca0012_h5(str(path), int(i), int(j))
