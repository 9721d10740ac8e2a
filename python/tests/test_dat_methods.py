"""PyOP2's Dat methods beyond loops: halo_valid, axpy/maxpy, save/load, eval-able reprs."""

import numpy as np
from mpi4py import MPI

import op2

RANK = MPI.COMM_WORLD.rank


def test_halo_valid_follows_writable_views():
    d = op2.Dat(op2.Set(4) ** 2, np.arange(8.0), np.float64)
    assert d.halo_valid
    d.data_ro
    assert d.halo_valid
    d.data[0, 0] = 1.0
    assert not d.halo_valid
    d.data_ro_with_halos
    assert d.halo_valid
    d.halo_valid = False
    assert not d.halo_valid
    d.zero()
    assert d.halo_valid and not d.data_ro.any()
    view = op2.DatView(d, 1)
    view.data_with_halos
    assert not d.halo_valid and not view.halo_valid
    md = op2.MixedDat([d, op2.Dat(op2.Set(2))])
    md.halo_valid = True
    assert md.halo_valid and d.halo_valid
    md[1].data
    assert not md.halo_valid and d.halo_valid


def test_axpy_maxpy_save_load(tmp_path):
    s = op2.Set(5 + RANK)
    x, y = op2.Dat(s, np.arange(5.0 + RANK)), op2.Dat(s, np.ones(5 + RANK))
    y.axpy(2.0, x)
    np.testing.assert_array_equal(y.data_ro, 1 + 2 * np.arange(5.0 + RANK))
    w = op2.Dat(s, np.ones(5 + RANK))
    y.maxpy((1.0, -2.0), (x, w))
    np.testing.assert_array_equal(y.data_ro, 3 * np.arange(5.0 + RANK) - 1)
    path = str(tmp_path / f"dat{RANK}")
    x.save(path)
    z = op2.Dat(s)
    z.load(path)
    np.testing.assert_array_equal(z.data_ro, x.data_ro)
    md = op2.MixedDat([x, y])
    md.save(path)
    back = op2.MixedDat([op2.Dat(s), op2.Dat(s)])
    back.load(path)
    assert all((a.data_ro == b.data_ro).all() for a, b in zip(back, md))


def test_reprs_eval_to_objects_of_the_same_shape():
    from op2 import Set, DataSet, Dat, Map  # noqa: F401 (eval)
    from numpy import dtype  # noqa: F401 (eval)
    s, t = op2.Set(3, "s"), op2.Set(2, "t")
    d = op2.Dat(s ** (2, 2), dtype=np.int32, name="d")
    e = eval(repr(d))
    assert isinstance(e, op2.Dat) and e.dim == d.dim and e.dtype == d.dtype and e.name == "d"
    m = op2.Map(s, t, 2, [0, 1, 1, 0, 0, 1], "m")
    assert repr(m) == "Map(Set(3, 's'), Set(2, 't'), 2, None, 'm', None, None)"
    assert str(m) == f"OP2 Map: m from ({s}) to ({t}) with arity 2"


def test_map_without_values_is_refused_only_when_it_has_elements():
    from op2.pyop2 import exceptions
    empty, nodes = op2.Set(0), op2.Set(4)
    d = op2.Dat(nodes ** 1, np.arange(4.0))
    k = op2.Kernel("static void k(const double *x) {}", "k")
    op2.par_loop(k, empty, d(op2.READ, op2.Map(empty, nodes, 3)))
    cells = op2.Set(2)
    try:
        d(op2.READ, op2.Map(cells, nodes, 3))
    except exceptions.MapValueError:
        pass
    else:
        raise AssertionError("a Map with elements but no values must be refused")


def test_dim_zero_dataset_holds_no_values_and_loops_pass_it():
    """PyOP2 allows ``set ** 0``: a Dat on it holds no values; a loop may still pass it,
    directly or through a map, and the other arguments are computed as usual."""
    import pytest
    from op2.pyop2 import exceptions as ex
    cells, nodes = op2.Set(3), op2.Set(4)
    ds = nodes ** 0
    assert ds.dim == (0,) and ds.cdim == 0 and ds is nodes ** 0
    d = op2.Dat(ds)
    assert d.shape == (nodes.total_size, 0) and d.data_ro.shape == (nodes.size, 0)
    assert d.data_with_halos.size == 0
    m = op2.Map(cells, nodes, 2, [0, 1, 1, 2, 2, 3])
    out = op2.Dat(cells, np.zeros(3))
    k = op2.Kernel("static void k0(double *o, const double *e, const double *c)"
                   " { o[0] += 1.0; }", "k0")
    op2.par_loop(k, cells, out(op2.INC), d(op2.READ, m), op2.Dat(cells ** 0)(op2.READ))
    assert (out.data_ro == 1.0).all()
    with pytest.raises(ex.DimTypeError):
        nodes ** -1
    with pytest.raises(ex.DimTypeError):
        op2.Global(0, dtype=np.float64)
