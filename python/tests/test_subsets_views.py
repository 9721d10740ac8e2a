"""Subsets (`op2.Subset`, `set(indices)`, set operations) and DatViews (`op2.DatView`) of the
op2 Python package, on any number of ranks (each rank's sets are its own)."""

import numpy as np
import pytest
from mpi4py import MPI

import op2
from op2.pyop2 import exceptions

rank = MPI.COMM_WORLD.rank


def test_subset_sorts_dedups_and_loops_over_chosen_elements():
    n = 10 + rank
    s = op2.Set(n, "nodes")
    ss = op2.Subset(s, [6, 0, 2, 2, 4])
    assert isinstance(ss, op2.Set) and isinstance(ss, op2.Subset)
    assert ss.superset is s
    assert list(ss.indices) == [0, 2, 4, 6] and ss.size == 4
    d = op2.Dat(s ** 1, dtype=np.uint32)
    k = op2.Kernel("static void inc(unsigned int *v) { *v += 1; }", "inc")
    op2.par_loop(k, ss, d(op2.RW))
    assert list(np.where(d.data_ro)[0]) == [0, 2, 4, 6]
    # A subset of a subset chooses from the root set; `set(indices)` is the same thing.
    sss = ss([1, 3])
    assert sss.superset is s and list(sss.indices) == [2, 6]
    op2.par_loop(k, sss, d(op2.RW))
    assert list(d.data_ro[:7]) == [1, 0, 2, 0, 1, 0, 2]
    # An empty subset runs no element.
    op2.par_loop(k, op2.Subset(s, []), d(op2.RW))
    assert d.data_ro.sum() == 6


def test_indirect_loop_over_subset_uses_superset_maps():
    cells, nodes = op2.Set(3), op2.Set(4)
    c2n = op2.Map(cells, nodes, 2, [[0, 1], [1, 2], [2, 3]])
    acc = op2.Dat(nodes ** 1, dtype=np.float64)
    k = op2.Kernel("static void k(double *a) { a[0] += 1.0; a[1] += 10.0; }", "k")
    op2.par_loop(k, op2.Subset(cells, [0, 2]), acc(op2.INC, c2n))
    assert list(acc.data_ro) == [1.0, 10.0, 1.0, 10.0]


def test_subset_index_out_of_range_is_refused():
    s = op2.Set(5)
    with pytest.raises(exceptions.SubsetIndexOutOfBounds):
        op2.Subset(s, [1, 5])
    with pytest.raises(exceptions.SubsetIndexOutOfBounds):
        op2.Subset(s, [-1, 2])


def test_set_operations():
    a = op2.Set(10)
    b = op2.Subset(a, [2, 3, 5, 7])
    c = op2.Subset(a, [2, 4, 6, 8])
    assert a.union(b) is a and a.intersection(b) is b and b.intersection(a) is b
    assert list(a.difference(b).indices) == [0, 1, 4, 6, 8, 9]
    assert list(b.union(c).indices) == [2, 3, 4, 5, 6, 7, 8]
    assert list(b.intersection(c).indices) == [2]
    assert list(b.symmetric_difference(c).indices) == [3, 4, 5, 6, 7, 8]
    with pytest.raises(TypeError):
        b.union(op2.Set(10))


def test_datview_shares_memory_and_loops_through_one_component():
    cells, nodes = op2.Set(2), op2.Set(3)
    c2n = op2.Map(cells, nodes, 2, [[0, 1], [1, 2]])
    v = op2.Dat(nodes ** 2, np.zeros((3, 2)), np.float64, "v")
    v.data[:, 0] = 3.0
    comp = op2.DatView(v, 1)
    comp.data[:] = 7.0
    assert np.shares_memory(comp.data_ro, v.data_ro)
    assert list(v.data_ro[:, 0]) == [3.0, 3.0, 3.0] and list(v.data_ro[:, 1]) == [7.0] * 3
    k = op2.Kernel("static void k(double *a) { a[0] += 1.0; a[1] += 2.0; }", "k")
    op2.par_loop(k, cells, comp(op2.INC, c2n))
    assert list(v.data_ro[:, 1]) == [8.0, 10.0, 9.0]
    assert list(v.data_ro[:, 0]) == [3.0, 3.0, 3.0]
    d = op2.Kernel("static void d(double *a) { a[0] = -1.0; }", "d")
    op2.par_loop(d, nodes, op2.DatView(v, 0)(op2.WRITE))
    assert list(v.data_ro[:, 0]) == [-1.0] * 3 and list(v.data_ro[:, 1]) == [8.0, 10.0, 9.0]
    comp.zero()
    assert (v.data_ro[:, 1] == 0).all() and (v.data_ro[:, 0] == -1).all()
    with pytest.raises(exceptions.IndexValueError):
        op2.DatView(v, 2)
