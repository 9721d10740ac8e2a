"""PyOP2's column maps (a Map between ExtrudedSets, no offset) and ComposedMap(extruded map with
offset, column map) on variable layers, each compared with a numpy loop over the columns and
layers, on any number of ranks (each rank's sets are its own, of a rank-dependent size)."""

import numpy as np
import pytest
from mpi4py import MPI

import op2

rank = MPI.COMM_WORLD.rank
L = 5  # most cells in a column
OFF = 3  # nodes per cell layer


def columns(n, seed):
    """Variable layers [start, stop] (stop - start - 1 cells, 1..L) of n columns."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 3, n)
    ncells = rng.integers(1, L + 1, n)
    return np.stack([start, start + ncells + 1], axis=1).astype(np.int32), ncells


def test_composed_map_through_a_column_map_reads_the_target_columns():
    nA, nC = 9 + rank, 6 + 2 * rank
    layersA, _ = columns(nA, 10 + rank)
    layersC, cellsC = columns(nC, 20 + rank)
    setA, setC = op2.ExtrudedSet(op2.Set(nA), layersA), op2.ExtrudedSet(op2.Set(nC), layersC)
    nodesA, nodesC = op2.Set(OFF * L * nA), op2.Set(OFF * L * nC)
    datA = op2.Dat(op2.DataSet(nodesA, 1), dtype=np.float64)
    datA.data[:] = np.arange(OFF * L * nA) * 0.5 + 1
    datC = op2.Dat(op2.DataSet(nodesC, 1), dtype=np.float64)
    cell = np.arange(OFF)
    mapA0 = op2.Map(setA, nodesA, OFF, [OFF * L * a + cell for a in range(nA)], offset=OFF)
    mapC = op2.Map(setC, nodesC, OFF, [OFF * L * c + cell for c in range(nC)], offset=OFF)
    col = np.random.default_rng(30 + rank).integers(0, nA, nC).astype(np.int32)
    mapA1 = op2.Map(setC, setA, 1, col)
    assert mapA1.iterset is setC and mapA1.toset is setA and isinstance(mapA1, op2.Map)
    mapA = op2.ComposedMap(mapA0, mapA1)
    assert mapA.iterset is setC and mapA.toset is nodesA and isinstance(mapA, op2.Map)
    assert (mapA.offset == OFF).all()
    assert (mapA.values == mapA0.values[col]).all()
    k = op2.Kernel("""
    void copy(double *to, const double * restrict from) {
        for (int i = 0; i < 3; ++i) { to[i] = from[i]; }
    }""", "copy")
    op2.par_loop(k, setC, datC(op2.WRITE, mapC), datA(op2.READ, mapA))
    expected = np.zeros(OFF * L * nC)
    for c in range(nC):
        for j in range(cellsC[c]):
            expected[OFF * (L * c + j) + cell] = datA.data_ro[OFF * (L * col[c] + j) + cell]
    assert (datC.data_ro == expected).all()


def test_column_maps_refuse_offsets_and_plain_itersets():
    setA, setC = op2.ExtrudedSet(op2.Set(3), 3), op2.ExtrudedSet(op2.Set(2), 3)
    with pytest.raises(NotImplementedError, match="column map"):
        op2.Map(setC, setA, 1, [0, 1], offset=1)
    with pytest.raises(NotImplementedError, match="from an ExtrudedSet only"):
        op2.Map(op2.Set(2), setA, 1, [0, 1])
    nodes = op2.Set(30)
    inner = op2.Map(setA, nodes, 1, [0, 1, 2], offset=2)
    outer = op2.Map(nodes, op2.Set(4), 1, np.zeros(30, dtype=np.int32))
    with pytest.raises(NotImplementedError, match="inner Map"):
        op2.ComposedMap(outer, inner)
