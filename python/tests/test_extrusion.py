"""Extruded loops from Python as PyOP2 writes them (Dats on plain sets of `columns * layers`
entries, `Map(extruded_set, toset, arity, values, offset=)`), each compared with a plain numpy
loop over the columns and layers, on any number of ranks (each rank's sets are its own, of a
size that depends on the rank; Globals reduce over every rank)."""

import numpy as np
import pytest
from mpi4py import MPI

import op2
from op2.pyop2 import exceptions

comm = MPI.COMM_WORLD
rank = comm.rank
LAYERS = 7  # vertex layers: 6 cells per column


def strip(column_major):
    """A strip of triangles (cell i on nodes i, i+1, i+2) extruded into prisms; node n at
    layer j is n * LAYERS + j (column-major, PyOP2's numbering) or j * 100 + n."""
    ncells = 40 + 7 * rank
    nnodes = ncells + 2
    cells = op2.Set(ncells, "cells")
    xset = op2.ExtrudedSet(cells, LAYERS)
    # Offsets are part of the generated code, so every rank gives the same (as in PyOP2's
    # uses): a layer-major stride larger than any rank's node count.
    stride = 100
    nodes = op2.Set((nnodes if column_major else stride) * LAYERS, "nodes")
    if column_major:
        def at(n, j):
            return n * LAYERS + j
        offset = 1
    else:
        def at(n, j):
            return j * stride + n
        offset = stride
    values = np.array([[at(n, j) for n in (i, i + 1, i + 2) for j in (0, 1)]
                       for i in range(ncells)], dtype=np.int32)
    prism = op2.Map(xset, nodes, 6, values, "prism", np.full(6, offset, dtype=np.int32))
    wedges = op2.Set(ncells * (LAYERS - 1), "wedges")
    wmap = op2.Map(xset, wedges, 1, np.arange(ncells, dtype=np.int32) * (LAYERS - 1), "w", [1])
    field = op2.Dat(wedges ** 1, np.linspace(0, 1, ncells * (LAYERS - 1)), np.float64, "field")
    return xset, nodes, prism, values, offset, field, wmap


REGIONS = {  # (first layer, past the last layer, facets per layer)
    "ALL": (0, LAYERS - 1, 1),
    "ON_BOTTOM": (0, 1, 1),
    "ON_TOP": (LAYERS - 2, LAYERS - 1, 1),
    "ON_INTERIOR_FACETS": (0, LAYERS - 2, 2),
}


@pytest.mark.parametrize("column_major", [True, False])
@pytest.mark.parametrize("region", list(REGIONS))
def test_prism_increments_match_a_numpy_loop_over_the_columns(column_major, region):
    xset, nodes, prism, values, offset, field, wmap = strip(column_major)
    lo, hi, facets = REGIONS[region]
    n = 6 * facets
    y = op2.Dat(nodes ** 1, dtype=np.float64, name="y")
    total = op2.Global(1, 0.0, np.float64, "total")
    k = op2.Kernel(f"""
static void inc(double *y, const double *x, double *t, int layer) {{
    for (int e = 0; e < {n}; e++) y[e] += x[0] * (e + 1) + layer;
    t[0] += x[0];
}}""", "inc")
    op2.par_loop(k, xset, y(op2.INC, prism), field(op2.READ, wmap), total(op2.INC),
                 iteration_region=getattr(op2, region), pass_layer_arg=True)
    want, t = np.zeros(nodes.size), 0.0
    x = field.data_ro
    for c in range(xset.size):
        for layer in range(lo, hi):
            xv = x[c * (LAYERS - 1) + layer]
            t += xv
            for f in range(facets):
                for e in range(6):
                    want[values[c, e] + (layer + f) * offset] += xv * (f * 6 + e + 1) + layer
    assert np.allclose(y.data_ro, want, rtol=1e-14, atol=1e-12)
    assert np.isclose(total.data_ro[0], comm.allreduce(t))


def test_read_and_write_through_extruded_maps():
    xset, nodes, prism, values, offset, field, wmap = strip(True)
    coords = op2.Dat(nodes ** 2, dtype=np.float64, name="coords")
    coords.data[:, 0] = np.arange(nodes.size)
    coords.data[:, 1] = -1.0
    out = op2.Dat(field.dataset, dtype=np.float64, name="out")
    k = op2.Kernel("""
static void wtf(double *y, const double x[6][2]) {
    double s = 0.0;
    for (int i = 0; i < 6; i++) s += x[i][0] + x[i][1];
    y[0] = s;
}""", "wtf")
    op2.par_loop(k, xset, out(op2.WRITE, wmap), coords(op2.READ, prism))
    want = np.array([sum(values[c] + layer) - 6.0
                     for c in range(xset.size) for layer in range(LAYERS - 1)])
    assert np.array_equal(out.data_ro, want)
    # RW: every node entry reached (bottoms and tops of every column) set once.
    rw = op2.Kernel("""
static void rw(double y[12]) {
    for (int i = 0; i < 6; i++) if (y[2*i+1] < 0) { y[2*i+1] = 1.0; }
}""", "rw")
    op2.par_loop(rw, xset, coords(op2.RW, prism))
    assert (coords.data_ro[:, 1] == 1.0).all()


def test_variable_layers_count_from_each_columns_start():
    # PyOP2's test_indirect_loop layout: column 0 spans layers [1, 3), column 1 [0, 3).
    xset = op2.ExtrudedSet(op2.Set(2), [[1, 3], [0, 3]])
    nodes = op2.Set(8)
    values = np.array([[5, 6, 7], [0, 1, 2]], dtype=np.int32)
    m = op2.Map(xset, nodes, 3, values, offset=[2, 2, 2])
    y = op2.Dat(nodes ** 1, dtype=np.float64)
    k = op2.Kernel("static void w(double *y, int layer) { for (int i = 0; i < 3; i++) y[i] += 10 * layer + i + 1; }", "w")
    op2.par_loop(k, xset, y(op2.INC, m), pass_layer_arg=True)
    want = np.zeros(8)
    for c, (start, stop) in enumerate([[1, 3], [0, 3]]):
        for layer in range(start, stop - 1):
            for i in range(3):
                want[values[c, i] + (layer - start) * 2] += 10 * layer + i + 1
    assert np.array_equal(y.data_ro, want)


def test_extruded_map_attributes_dats_on_the_extruded_set_and_refusals():
    xset, nodes, prism, values, offset, field, wmap = strip(True)
    assert prism.iterset is xset and prism.toset is nodes
    assert list(prism.offset) == [1] * 6 and op2.Map(xset.parent, nodes, 1).offset is None
    assert np.array_equal(prism.values, values)
    # A Dat on the extruded set holds one value per column (the base set's DataSet).
    assert xset ** 2 is xset.parent ** 2
    d = op2.Dat(xset ** 1, dtype=np.float64)
    op2.par_loop(op2.Kernel("static void k(double *x) { x[0] += 1.0; }", "k"), xset, d(op2.INC))
    assert (d.data_ro == LAYERS - 1).all()
    # Past the target set on the top layer.
    with pytest.raises(exceptions.MapValueError):
        op2.Map(xset, nodes, 6, values + 1, "bad", [1] * 6)
    with pytest.raises(NotImplementedError):
        op2.Map(xset, nodes, 6, values, "q", [1] * 6, offset_quotient=[0] * 6)
    y = op2.Dat(nodes ** 1, dtype=np.float64)
    k = op2.Kernel("static void k6(double *y) { }", "k6")
    with pytest.raises(exceptions.MapValueError):  # an extruded map in a loop over the base set
        op2.par_loop(k, xset.parent, y(op2.INC, prism))
    with pytest.raises(NotImplementedError):
        y(op2.INC, prism[0])
    # A Dat written through an extruded map and another map in one loop.
    flat = op2.Map(xset.parent, nodes, 6, values)
    with pytest.raises(op2.pyop2.exceptions.MapValueError):
        op2.par_loop(op2.Kernel("static void k2(double *a, double *b) { }", "k2"), xset,
                     y(op2.INC, prism), y(op2.INC, flat))
