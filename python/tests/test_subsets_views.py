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


def test_mixed_dat_loop_packs_the_blocks_into_one_array():
    cells = op2.Set(2)
    p, q = op2.Set(3), op2.Set(2)
    ms = op2.MixedSet([p, q])
    assert ms.size == 5 and len(ms) == 2 and ms.split == (p, q) and ms == op2.MixedSet([p, q])
    mds = ms ** (1, 2)
    assert mds.dim == ((1,), (2,)) and mds.cdim == 3 and mds.set == ms
    mm = op2.MixedMap([op2.Map(cells, p, 2, [0, 1, 1, 2]), op2.Map(cells, q, 1, [0, 1])])
    assert mm.arity == 3 and mm.iterset is cells
    md = op2.MixedDat(mds)
    assert len(md) == 2 and md.dataset == mds
    w = op2.Dat(cells ** 1, [1.0, 10.0], np.float64)
    # PyOP2's packing: block 0 (arity 2 x dim 1) then block 1 (arity 1 x dim 2).
    k = op2.Kernel("static void k(double *uv, const double *w) "
                   "{ uv[0] += w[0]; uv[1] += w[0]; uv[2] += 2*w[0]; uv[3] -= w[0]; }", "k")
    op2.par_loop(k, cells, md(op2.INC, mm), w(op2.READ))
    assert list(md[0].data_ro) == [1.0, 11.0, 10.0]
    assert md[1].data_ro.tolist() == [[2.0, -1.0], [20.0, -10.0]]
    with pytest.raises(exceptions.MapValueError):
        md(op2.INC, op2.MixedMap([mm[0]]))
    with pytest.raises(TypeError):
        op2.MixedSet([p, 3])
    with pytest.raises(exceptions.DataValueError):
        op2.MixedDat([op2.Dat(p, dtype=np.float64), op2.Dat(q, dtype=np.int32)])


def test_extruded_set_loops_over_every_layer_with_base_arguments():
    base, nodes = op2.Set(3), op2.Set(4)
    b2n = op2.Map(base, nodes, 2, [[0, 1], [1, 2], [2, 3]])
    x = op2.ExtrudedSet(base, 5)  # 5 vertex layers: 4 cells per column
    assert x.layers == 5 and x.parent is base and base in x and nodes not in x
    with pytest.raises(exceptions.SizeTypeError):
        op2.ExtrudedSet(base, 1)
    with pytest.raises(TypeError):
        op2.ExtrudedSet(1, 3)
    acc = op2.Dat(nodes ** 1, dtype=np.float64)
    g = op2.Global(1, 0, np.int32)
    k = op2.Kernel("static void k(double *a, int *g) { a[0] += 1.0; a[1] += 1.0; g[0] += 1; }", "k")
    op2.par_loop(k, x, acc(op2.INC, b2n), g(op2.INC))
    assert list(acc.data_ro) == [4.0, 8.0, 8.0, 4.0]
    assert g.data_ro[0] == 12 * MPI.COMM_WORLD.size
    g.data[:] = 0
    op2.par_loop(k, x, acc(op2.INC, b2n), g(op2.INC), iteration_region=op2.ON_TOP)
    assert g.data_ro[0] == 3 * MPI.COMM_WORLD.size
    lay = op2.Kernel("static void lay(int *g, int layer) { g[0] += layer; }", "lay")
    g.data[:] = 0
    op2.par_loop(lay, x, g(op2.INC), pass_layer_arg=True)
    assert g.data_ro[0] == 3 * (0 + 1 + 2 + 3) * MPI.COMM_WORLD.size


def test_mixed_objects_are_cached_on_their_components():
    p, q = op2.Set(3), op2.Set(2)
    assert op2.MixedSet([p, q]) is op2.MixedSet((p, q))
    assert op2.MixedSet([p, q]) is not op2.MixedSet([q, p])
    assert op2.MixedDataSet([p, q]) is op2.MixedSet([p, q]) ** 1
    md = op2.MixedDat([p, q])
    copy = op2.MixedDat(md)
    assert copy is not md and copy[0] is not md[0] and copy.dataset is md.dataset


def test_dat_is_its_own_single_block():
    d = op2.Dat(op2.Set(3))
    assert d[0] is d and d.split == (d,)
    with pytest.raises(exceptions.IndexValueError):
        d[1]


def test_parloop_checks_sets_when_built():
    set1, set2 = op2.Set(2), op2.Set(3)
    dat = op2.Dat(set1 ** 1)
    m = op2.Map(set2, set1, 1, [0, 0, 0])
    k = op2.Kernel("static void k(double *x) { }", "k")
    with pytest.raises(exceptions.MapValueError):
        op2.ParLoop(k, set1, dat(op2.READ, m))
    with pytest.raises(exceptions.MapValueError):
        op2.ParLoop(k, op2.ExtrudedSet(set1, 3), dat(op2.READ, m))
    with pytest.raises(exceptions.KernelTypeError):
        op2.par_loop("k", set2, dat(op2.READ, m))
    op2.ParLoop(k, op2.Subset(set2, [1]), dat(op2.READ, m)).compute()
