"""Direct and indirect loops, reductions and data views of the op2 Python package, on any
number of ranks (each rank's sets are its own; Globals reduce over every rank)."""

import numpy as np
import pytest
from mpi4py import MPI

import op2

comm = MPI.COMM_WORLD
rank, nranks = comm.rank, comm.size


def test_direct_loop_writes_through_numpy_view():
    n = 10 + rank
    s = op2.Set(n, "cells")
    x = op2.Dat(s ** 1, np.arange(n, dtype=np.float64), name="x")
    y = op2.Dat(s ** 2, dtype=np.float64, name="y")
    k = op2.Kernel("static void k(const double *x, double *y) { y[0] = 2*x[0]; y[1] = x[0]*x[0]; }", "k")
    op2.par_loop(k, s, x(op2.READ), y(op2.WRITE))
    assert y.data_ro.shape == (n, 2)
    assert np.array_equal(y.data_ro[:, 0], 2 * np.arange(n))
    assert np.array_equal(y.data_ro[:, 1], np.arange(n) ** 2)
    # Writing through the view changes what the next loop reads: no copy in between.
    x.data[:] = 7.0
    op2.par_loop(k, s, x(op2.READ), y(op2.WRITE))
    assert (y.data_ro[:, 0] == 14.0).all()


def test_views_share_memory_and_read_only_is_read_only():
    s = op2.Set(4)
    d = op2.Dat(s, [1, 2, 3, 4], np.int32)
    a, b = d.data, d.data_ro
    a[2] = 42
    assert b[2] == 42
    assert np.shares_memory(a, b)
    with pytest.raises(ValueError):
        b[0] = 1
    assert d.data_with_halos.shape == (4,)
    assert d.data_ro_with_halos[2] == 42


def test_indirect_increment_matches_numpy():
    rng = np.random.default_rng(7 + rank)
    nodes, edges = op2.Set(20, "nodes"), op2.Set(50, "edges")
    conn = rng.integers(0, 20, size=(50, 2)).astype(np.int32)
    e2n = op2.Map(edges, nodes, 2, conn, "e2n")
    w = op2.Dat(edges ** 1, rng.random(50))
    acc = op2.Dat(nodes ** 1, dtype=np.float64)
    k = op2.Kernel("static void inc(const double *w, double *a, double *b) { a[0] += w[0]; b[0] += 2*w[0]; }", "inc")
    op2.par_loop(k, edges, w(op2.READ), acc(op2.INC, e2n[0]), acc(op2.INC, e2n[1]))
    want = np.zeros(20)
    np.add.at(want, conn[:, 0], w.data_ro)
    np.add.at(want, conn[:, 1], 2 * w.data_ro)
    assert np.allclose(acc.data_ro, want)
    # Vector map form: all targets at once.
    acc2 = op2.Dat(nodes ** 1, dtype=np.float64)
    kv = op2.Kernel("static void incv(const double *w, double *a) { a[0] += w[0]; a[1] += 2*w[0]; }", "incv")
    op2.par_loop(kv, edges, w(op2.READ), acc2(op2.INC, e2n))
    assert np.allclose(acc2.data_ro, want)


def test_global_reductions_over_every_rank():
    n = 5 + rank
    s = op2.Set(n)
    x = op2.Dat(s, np.arange(n, dtype=np.float64) + 100 * rank)
    total = op2.Global(1, 0.0, np.float64, "total", comm=comm)
    lo = op2.Global(1, 1e300, np.float64, "lo")
    hi = op2.Global(1, -1e300, np.float64, "hi")
    k = op2.Kernel("""static void r(const double *x, double *t, double *lo, double *hi) {
        t[0] += x[0]; if (x[0] < lo[0]) lo[0] = x[0]; if (x[0] > hi[0]) hi[0] = x[0]; }""", "r")
    op2.par_loop(k, s, x(op2.READ), total(op2.INC), lo(op2.MIN), hi(op2.MAX))
    everything = np.concatenate(comm.allgather(x.data_ro.copy()))
    assert total.data_ro[0] == everything.sum()
    assert lo.data_ro[0] == everything.min()
    assert hi.data_ro[0] == everything.max()


def test_global_arithmetic_and_versions():
    g1 = op2.Global(1, data=2.0)
    g2 = op2.Global(1, data=5.0)
    assert (g1 + g2).data_ro[0] == 7.0
    assert (g2 - g1).data_ro[0] == 3.0
    assert (-g2).data_ro[0] == -5.0
    g1 *= g2
    assert g1.data_ro[0] == 10.0
    v = g1.dat_version
    g1.data
    assert g1.dat_version == v + 1


def test_errors_have_pyop2_names():
    from op2.pyop2 import exceptions as ex
    s, t = op2.Set(3), op2.Set(2)
    with pytest.raises(ex.MapValueError, match="outside the target set"):
        op2.Map(s, t, 1, [0, 1, 2])
    with pytest.raises(ex.SetTypeError):
        op2.DataSet("not a set", 1)
    with pytest.raises(ex.DimTypeError):
        op2.DataSet(s, -1)  # dim 0 is allowed, as PyOP2 (test_dat_methods)
    x = op2.Dat(s)
    k = op2.Kernel("static void w(double *x) { x[0] = 1; }", "w")
    with pytest.raises(ex.MapValueError, match="not the iteration set"):
        op2.par_loop(k, t, x(op2.WRITE))
    with pytest.raises(TypeError, match="Map instances"):
        op2.ComposedMap(s, 3)


def test_compile_error_is_raised_on_every_rank():
    from op2.pyop2 import exceptions as ex
    s = op2.Set(3)
    x = op2.Dat(s)
    k = op2.Kernel("static void bad(double *x) { x[0] = ; }", "bad")
    with pytest.raises(ex.CompilationError, match="bad"):
        op2.par_loop(k, s, x(op2.WRITE))


@pytest.mark.skipif(nranks < 2, reason="needs 2 ranks or more")
def test_error_on_one_rank_fails_every_rank_without_hang():
    s, other = op2.Set(4), op2.Set(4)
    x = op2.Dat(s)
    g = op2.Global(1, 0.0)
    k = op2.Kernel("static void one_rank(double *x, double *g) { g[0] += x[0]; }", "one_rank")
    # Rank 1 alone iterates over the wrong set, on this kernel's first loop.
    iterset = other if rank == 1 else s
    with pytest.raises(Exception) as err:
        op2.par_loop(k, iterset, x(op2.READ), g(op2.INC))
    assert "not the iteration set" in str(err.value)
    # Every rank is still in step: a collective loop afterwards works.
    op2.par_loop(k, s, x(op2.READ), g(op2.INC))


def test_cached_objects_are_the_same_python_objects():
    s = op2.Set(3)
    a, b = s ** 2, op2.DataSet(s, 2)
    assert a is b and a == b
    assert a is not s ** 1
    assert a in s and op2.Dat(a) in a
    m = op2.Map(s, s, 1, [0, 1, 2])
    sp = op2.Sparsity((a, a), [(m, m, None)])
    assert sp is op2.Sparsity((a, a), [(m, m, None)])
    assert sp is not op2.Sparsity((a, a), [(op2.Map(s, s, 1, [0, 1, 2]), m, None)])


def test_mat_assembly_matches_dense_sum():
    nodes, elems = op2.Set(4), op2.Set(3)
    e2n = op2.Map(elems, nodes, 2, [[0, 1], [1, 2], [2, 3]])
    ds = nodes ** 1
    mat = op2.Mat(op2.Sparsity((ds, ds), [(e2n, e2n, None)]))
    k = op2.Kernel("static void lap(double A[2][2]) { A[0][0] += 1; A[0][1] -= 1; A[1][0] -= 1; A[1][1] += 1; }", "lap")
    op2.par_loop(k, elems, mat(op2.INC, (e2n, e2n)))
    want = np.array([[1, -1, 0, 0], [-1, 2, -1, 0], [0, -1, 2, -1], [0, 0, -1, 1]], dtype=float)
    assert np.array_equal(mat.values, want)


def test_class_cache_clear_and_count():
    from op2.pyop2.caching import get_comm_caches
    cache = get_comm_caches(comm)[0]
    s = op2.Set(2)
    x = op2.Dat(s, [1.0, 2.0])
    k = op2.Kernel("static void twice(double *x) { x[0] *= 2; }", "twice")
    op2.par_loop(k, s, x(op2.RW))
    cache.clear()
    assert len(cache) == 0
    op2.par_loop(k, s, x(op2.RW))          # a miss again: reloaded from the disk cache
    assert len(cache) == 1
    op2.par_loop(k, s, x(op2.RW))          # a hit
    assert len(cache) == 1
    assert np.array_equal(x.data_ro, [8.0, 16.0])


def test_comm_world_and_other_communicators_are_accepted():
    assert op2.Set(2, comm=MPI.COMM_WORLD).comm is MPI.COMM_WORLD
    op2.Global(1, 0.0, comm=comm)
    assert op2.Set(2, comm=MPI.COMM_SELF).global_size == 2    # test_comms.py: the rest
