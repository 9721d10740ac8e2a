"""PermutedMap, ComposedMap, MIN/MAX on Dats, Sets with halo sizes, C++ and loopy kernels, and
PyOP2's packing of MixedDat arguments: each checked against a plain numpy loop (on every rank,
over that rank's own sets)."""

import numpy as np
import pytest

import op2
from op2.pyop2 import exceptions as ex

RNG = np.random.default_rng(7)


def _copy_kernel(n, name):
    return op2.Kernel(f"static void {name}(double *to, const double *from) "
                      f"{{ for (int i = 0; i < {n}; i++) to[i] = from[i]; }}", name)


def test_permuted_map_is_the_maps_columns_reordered():
    cells, nodes = op2.Set(5), op2.Set(9)
    vals = RNG.integers(0, 9, size=(5, 3)).astype(np.int32)
    m = op2.Map(cells, nodes, 3, vals)
    pm = op2.PermutedMap(m, [2, 0, 1])
    assert isinstance(pm, op2.Map) and pm.map_ is m and list(pm.permutation) == [2, 0, 1]
    assert (pm.values == vals[:, [2, 0, 1]]).all() and pm.iterset is cells and pm.toset is nodes
    x = op2.Dat(nodes, RNG.random(9))
    out = op2.Dat(cells ** 3)
    op2.par_loop(_copy_kernel(3, "cp3"), cells, out(op2.WRITE), x(op2.READ, pm))
    assert (out.data_ro == x.data_ro[vals[:, [2, 0, 1]]]).all()
    with pytest.raises(ValueError):
        op2.PermutedMap(m, [0, 0, 1])


def test_map_arange():
    """PyOP2's ``Map.arange`` is (0, arity) (writable ``values``: test_map_values.py)."""
    cells, nodes = op2.Set(4), op2.Set(6)
    m = op2.Map(cells, nodes, 3, RNG.integers(0, 6, size=(4, 3)).astype(np.int32))
    assert m.arange == (0, 3) and op2.MixedMap([m, m]).arange == (0, 3, 6)


def test_composed_map_composes_values_and_checks_the_chain():
    a, b, c, nodes = op2.Set(6), op2.Set(4), op2.Set(3), op2.Set(10)
    m0 = op2.Map(a, nodes, 2, RNG.integers(0, 10, size=(6, 2)).astype(np.int32))
    m1 = op2.Map(b, a, 1, [5, 0, 3, 3])
    m2 = op2.Map(c, b, 1, [2, 1, 0])
    cm = op2.ComposedMap(op2.PermutedMap(m0, [1, 0]), m1, m2)
    expect = m0.values[m1.values[m2.values[:, 0], 0]][:, [1, 0]]
    assert cm.iterset is c and cm.toset is nodes and cm.arity == 2 and len(cm.maps_) == 3
    x = op2.Dat(nodes, RNG.random(10))
    out = op2.Dat(c ** 2)
    op2.par_loop(_copy_kernel(2, "cp2"), c, out(op2.WRITE), x(op2.READ, cm))
    assert (out.data_ro == x.data_ro[expect]).all()
    # Over a Subset of the iteration set, as PyOP2.
    out2 = op2.Dat(c ** 2)
    op2.par_loop(_copy_kernel(2, "cp2"), op2.Subset(c, [1]), out2(op2.WRITE), x(op2.READ, cm))
    assert (out2.data_ro[1] == x.data_ro[expect[1]]).all() and (out2.data_ro[[0, 2]] == 0).all()
    with pytest.raises(ex.MapTypeError):
        op2.ComposedMap(m0, m2)  # m0's iterset is not m2's toset
    with pytest.raises(ex.MapTypeError):
        op2.ComposedMap(m1, op2.Map(c, b, 2, [0, 1, 1, 2, 2, 3]))  # inner arity 2
    with pytest.raises(NotImplementedError):
        op2.PermutedMap(cm, [1, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.int32])
def test_min_max_on_dats_equal_a_serial_loop(dtype):
    edges, nodes = op2.Set(40), op2.Set(15)
    e2n = RNG.integers(0, 15, size=(40, 2)).astype(np.int32)
    m = op2.Map(edges, nodes, 2, e2n)
    w = (RNG.random(40) * 100).astype(dtype)
    we = op2.Dat(edges, w, dtype)
    lo = op2.Dat(nodes, np.full(15, 50, dtype), dtype)
    hi = op2.Dat(nodes, np.full(15, 50, dtype), dtype)
    own = op2.Dat(edges, np.full(40, 30, dtype), dtype)
    ct = "double" if dtype == np.float64 else "int32_t"
    # PyOP2's MIN/MAX: the kernel sees a copy; each entry keeps the smaller/larger value.
    # The kernel writes its candidate without comparing, so only the fold can be right.
    k = op2.Kernel(f"static void mm(const {ct} *w, {ct} *lo, {ct} *hi, {ct} *own) "
                   f"{{ lo[0] = w[0]; lo[1] = w[0]; hi[0] = w[0]; hi[1] = w[0]; own[0] = w[0]; }}",
                   "mm")
    op2.par_loop(k, edges, we(op2.READ), lo(op2.MIN, m), hi(op2.MAX, m), own(op2.MAX))
    elo, ehi = np.full(15, 50, dtype), np.full(15, 50, dtype)
    for e in range(40):
        for n in e2n[e]:
            elo[n], ehi[n] = min(elo[n], w[e]), max(ehi[n], w[e])
    assert (lo.data_ro == elo).all() and (hi.data_ro == ehi).all()
    assert (own.data_ro == np.maximum(30, w)).all()
    # Through one map entry (m[1]) as well.
    lo1 = op2.Dat(nodes, np.full(15, 50, dtype), dtype)
    k1 = op2.Kernel(f"static void m1(const {ct} *w, {ct} *lo) {{ lo[0] = w[0]; }}", "m1")
    op2.par_loop(k1, edges, we(op2.READ), lo1(op2.MIN, m[1]))
    e1 = np.full(15, 50, dtype)
    np.minimum.at(e1, e2n[:, 1], w)
    assert (lo1.data_ro == e1).all()


def test_set_with_halo_sizes_runs_the_owned_elements():
    s = op2.Set((0, 6, 10), "s")
    assert s.sizes == (0, 6, 10) and (s.core_size, s.size, s.total_size) == (0, 6, 10)
    x = op2.Dat(s, np.arange(10, dtype=np.float64))
    assert x.data_ro.shape == (6,) and x.data_ro_with_halos.shape == (10,)
    op2.par_loop(op2.Kernel("static void inc(double *x) { x[0] += 1; }", "inc"), s, x(op2.RW))
    assert (x.data_ro_with_halos == np.r_[np.arange(1, 7), np.arange(6, 10)]).all()
    with pytest.raises(ex.SizeTypeError):
        op2.Set((4, 3, 10))


def test_cpp_kernel_is_compiled_as_cpp():
    s = op2.Set(5)
    y = op2.Dat(s, -np.arange(5, dtype=np.float64) - 0.5)
    k = op2.Kernel("#include <cmath>\n#include <algorithm>\n"
                   "static void k(double *y) { *y = std::max(std::abs(*y), 2.0); }", "k", cpp=True)
    op2.par_loop(k, s, y(op2.RW))
    assert (y.data_ro == np.maximum(np.arange(5) + 0.5, 2.0)).all()
    # The same code as C is another kernel (the language is part of the key): it fails.
    with pytest.raises(ex.CompilationError):
        op2.par_loop(op2.Kernel(k.code, "k"), s, y(op2.RW))


def test_mixed_dat_with_a_plain_dat_packs_blocks():
    cells, p, q = op2.Set(4), op2.Set(5), op2.Set(1)
    c2p = RNG.integers(0, 5, size=(4, 2)).astype(np.int32)
    mm = op2.MixedMap([op2.Map(cells, p, 2, c2p), op2.Map(cells, q, 1, np.zeros(4, np.int32))])
    md = op2.MixedDat([op2.Dat(p ** 1), op2.Dat(q ** 1)])
    w = op2.Dat(cells, RNG.random(4))
    k = op2.Kernel("static void k(double *d, const double *w) { for (int i = 0; i < 3; i++) d[i] += w[0] * (i + 1); }", "k")
    op2.par_loop(k, cells, md(op2.INC, mm), w(op2.READ))
    e0, e1 = np.zeros(5), np.zeros(1)
    for c in range(4):
        e0[c2p[c, 0]] += w.data_ro[c]
        e0[c2p[c, 1]] += 2 * w.data_ro[c]
        e1[0] += 3 * w.data_ro[c]
    assert np.allclose(md[0].data_ro, e0) and np.allclose(md[1].data_ro, e1)


def test_loopy_kernel_runs_through_generated_c():
    lp = pytest.importorskip("loopy", reason="needs the optional `loopy` package")
    s = op2.Set(6)
    x = op2.Dat(s ** 2, RNG.random((6, 2)))
    y = op2.Dat(s ** 2, RNG.random((6, 2)))
    y0 = y.data_ro.copy()
    knl = lp.make_kernel("{[i]: 0 <= i < 2}", "y[i] = 2*x[i] + y[i]",
                         [lp.GlobalArg("x", np.float64, shape=(2,)),
                          lp.GlobalArg("y", np.float64, shape=(2,))],
                         name="axpy", target=lp.CTarget(), lang_version=(2018, 2))
    op2.par_loop(op2.Kernel(knl, "axpy"), s, x(op2.READ), y(op2.RW))
    assert np.allclose(y.data_ro, 2 * x.data_ro + y0)
    with pytest.raises(ex.NameTypeError):
        op2.Kernel(knl, "not_axpy")


def test_kernel_code_of_another_type_names_loopy():
    with pytest.raises(NotImplementedError, match="loopy"):
        op2.Kernel(42, "k")
