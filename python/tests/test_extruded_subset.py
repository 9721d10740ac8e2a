"""Extruded loops over a Subset of an ExtrudedSet's columns (PyOP2's `Subset(xset, indices)`,
`xset(indices)`), compared exactly with a numpy loop over the chosen columns and their layers,
for constant and variable layers and every iteration region, on any number of ranks (each
rank's sets are its own, of a size that depends on the rank; Globals reduce over every
rank)."""

import numpy as np
import pytest
from mpi4py import MPI

import op2
from op2.pyop2 import exceptions

comm = MPI.COMM_WORLD
rank = comm.rank
LAYERS = 6  # vertex layers of the tallest column


def columns(variable):
    """A strip of triangles (cell i on node columns i, i+1, i+2) extruded into prisms; node
    column n holds LAYERS entries (n * LAYERS + layer); cell c's layer values on `wedges`
    are c * (LAYERS - 1) + layer. Variable: column c spans [c % 2, LAYERS - (c % 3 == 0))."""
    ncells = 30 + 5 * rank
    cells = op2.Set(ncells, "cells")
    spans = [[c % 2 if variable else 0, LAYERS - (variable and c % 3 == 0)] for c in range(ncells)]
    xset = op2.ExtrudedSet(cells, spans if variable else LAYERS)
    nodes = op2.Set((ncells + 2) * LAYERS, "nodes")
    # A flat map names the entries of each column's first layer (PyOP2's numbering).
    values = np.array([[(i + k) * LAYERS + spans[i][0] + j for j in (0, 1) for k in range(3)]
                       for i in range(ncells)], dtype=np.int32)
    prism = op2.Map(xset, nodes, 6, values, "prism", [1] * 6)
    wedges = op2.Set(ncells * (LAYERS - 1), "wedges")
    wvals = np.array([c * (LAYERS - 1) + spans[c][0] for c in range(ncells)], dtype=np.int32)
    wmap = op2.Map(xset, wedges, 1, wvals, "w", [1])
    weight = op2.Dat(cells ** 1, 1.0 + (np.arange(ncells) % 8) * 0.25, np.float64, "weight")
    return xset, spans, nodes, prism, values, wedges, wmap, weight


def chosen(ncells):
    """A pseudo-random subset of the columns, unsorted and with a repeat (Subset sorts)."""
    rng = np.random.default_rng(11 + rank)
    pick = rng.choice(ncells, ncells // 3, replace=False)
    return np.concatenate([pick, pick[:1]])


def region_layers(region, start, stop):
    """The layers `region` runs on in a column of vertex layers [start, stop), facets per layer."""
    return {
        "ALL": (range(start, stop - 1), 1),
        "ON_BOTTOM": (range(start, start + 1), 1),
        "ON_TOP": (range(stop - 2, stop - 1), 1),
        "ON_INTERIOR_FACETS": (range(start, stop - 2), 2),
    }[region]


@pytest.mark.parametrize("variable", [False, True])
@pytest.mark.parametrize("region", ["ALL", "ON_BOTTOM", "ON_TOP", "ON_INTERIOR_FACETS"])
def test_subset_loops_match_a_numpy_loop_over_the_chosen_columns(variable, region):
    xset, spans, nodes, prism, values, wedges, wmap, weight = columns(variable)
    idx = chosen(xset.size)
    sub = op2.Subset(xset, idx)
    n = 12 if region == "ON_INTERIOR_FACETS" else 6
    y = op2.Dat(nodes ** 1, dtype=np.float64, name="y")
    inc = op2.Kernel(f"""
static void inc(double *y, const double *w, int layer) {{
    for (int e = 0; e < {n}; e++) y[e] += w[0] * (layer + 1) * (e + 1);
}}""", "inc")
    op2.par_loop(inc, sub, y(op2.INC, prism), weight(op2.READ),
                 iteration_region=getattr(op2, region), pass_layer_arg=True)
    want = np.zeros(nodes.size)
    lay = np.full(wedges.size, -1.0)
    total = 0.0
    w = weight.data_ro
    for c in np.unique(idx):
        layers, facets = region_layers(region, *spans[c])
        for layer in layers:
            for f in range(facets):
                for e in range(6):
                    at = values[c, e] + layer - spans[c][0] + f
                    want[at] += w[c] * (layer + 1) * (f * 6 + e + 1)
            lay[c * (LAYERS - 1) + layer] = w[c] + 0.5 * layer
            total += w[c] * (layer + 1)
    assert np.array_equal(y.data_ro, want)
    if region == "ON_INTERIOR_FACETS":
        return
    out = op2.Dat(wedges ** 1, np.full(wedges.size, -1.0), np.float64, "out")
    g = op2.Global(1, 0.0, np.float64, "g")
    write = op2.Kernel("""
static void write(double *out, double *g, const double *w, int layer) {
    out[0] = w[0] + 0.5 * layer;
    g[0] += w[0] * (layer + 1);
}""", "write")
    op2.par_loop(write, sub, out(op2.WRITE, wmap), g(op2.INC), weight(op2.READ),
                 iteration_region=getattr(op2, region), pass_layer_arg=True)
    assert np.array_equal(out.data_ro, lay)
    assert g.data_ro[0] == comm.allreduce(total)


def test_a_loop_over_a_subset_runs_every_layer_of_the_chosen_columns_only():
    # Only a Global: still an extruded loop (once per cell layer), not one per column.
    xset, spans, *_ = columns(True)
    sub = xset([3, 1, 4])  # PyOP2's shorthand; sorted
    count = op2.Global(1, 0, np.int32, "count")
    k = op2.Kernel("static void one(int *c) { c[0] += 1; }", "one")
    op2.par_loop(k, sub, count(op2.INC))
    want = sum(spans[c][1] - spans[c][0] - 1 for c in (1, 3, 4))
    assert count.data_ro[0] == comm.allreduce(want)
    # A subset of the subset chooses from the ExtrudedSet: columns 1 and 4.
    sub2 = op2.Subset(sub, [0, 2])
    count.data[:] = 0
    op2.par_loop(k, sub2, count(op2.INC))
    want = sum(spans[c][1] - spans[c][0] - 1 for c in (1, 4))
    assert count.data_ro[0] == comm.allreduce(want)


def test_subset_attributes_are_the_extruded_supersets():
    xset, *_ = columns(False)
    sub = op2.Subset(xset, [5, 2, 2])
    assert isinstance(sub, op2.Subset) and isinstance(sub, op2.Set)
    assert sub.superset is xset
    assert list(sub.indices) == [2, 5]
    assert sub.layers == LAYERS and sub.constant_layers
    assert sub.parent is xset.parent
    assert (sub.size, sub.total_size) == (2, 2)
    assert op2.Subset(op2.Set(3), [0]).layers is None
    with pytest.raises(exceptions.SubsetIndexOutOfBounds):
        op2.Subset(xset, [xset.total_size])
    with pytest.raises(exceptions.SetTypeError):
        op2.Subset(3, [0])
