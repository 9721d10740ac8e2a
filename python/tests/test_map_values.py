"""PyOP2's writable ``Map.values`` (op2's core Maps stay immutable: the next use of a Map
adopts written values as a new core Map, ``python/src/mapvals.rs``) and MixedDat blocks through
a Map to another Set of the same sizes without halo (``op2/_retarget.py``). Every rank runs
every test on its own sets; results that must hold on every rank are agreed with mpi4py."""

import numpy as np
import pytest
from mpi4py import MPI

import op2
from op2 import _retarget
from op2.pyop2 import exceptions as ex

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.rank, COMM.size
RNG = np.random.default_rng(11 + RANK)


def every_rank(ok):
    assert COMM.allreduce(bool(ok), op=MPI.LAND)


def _gather(arity):
    body = " ".join(f"y[{i}] = x[{i}];" for i in range(arity))
    return op2.Kernel(f"static void gather{arity}(double *y, const double *x) {{ {body} }}",
                      f"gather{arity}")


def _mesh(nc=5 + RANK, nn=8 + RANK, arity=3):
    cells, nodes = op2.Set(nc), op2.Set(nn)
    vals = RNG.integers(0, nn, size=(nc, arity)).astype(np.int32)
    return cells, nodes, op2.Map(cells, nodes, arity, vals), vals


def test_written_values_are_what_the_next_loop_reads():
    cells, nodes, m, vals = _mesh()
    x = op2.Dat(nodes, RNG.random(nodes.size))
    y = op2.Dat(cells ** 3)
    k = _gather(3)
    op2.par_loop(k, cells, y(op2.WRITE), x(op2.READ, m))
    assert (y.data_ro == x.data_ro[vals]).all()
    v = m.values
    assert v.flags.writeable and v is m.values  # the same array until the next use
    v[0] = [nodes.size - 1, 0, 1]
    v[1:, 0] = (v[1:, 0] + 1) % nodes.size
    new = v.copy()
    op2.par_loop(k, cells, y(op2.WRITE), x(op2.READ, m))
    assert (y.data_ro == x.data_ro[new]).all() and (m.values == new).all()
    # The array handed out before that use is frozen: a later write raises, not lost.
    with pytest.raises(ValueError):
        v[0, 0] = 0
    assert (v == new).all()
    # The next one is a fresh writable copy; an unchanged array changes nothing.
    core = m._core_id
    w = m.values
    assert w is not v and w.flags.writeable
    op2.par_loop(k, cells, y(op2.WRITE), x(op2.READ, m))
    assert (y.data_ro == x.data_ro[new]).all() and m._core_id == core


def test_a_write_on_one_rank_only_changes_that_ranks_map(deadline):
    """Ranks whose Maps were not written keep their core Maps; the loop runs on every rank,
    each through its own values."""
    cells, nodes, m, vals = _mesh()
    x = op2.Dat(nodes, RNG.random(nodes.size))
    y = op2.Dat(cells ** 3)
    op2.par_loop(_gather(3), cells, y(op2.WRITE), x(op2.READ, m))
    if RANK == 0:
        m.values[:, 0] = (vals[:, 0] + 1) % nodes.size
    want = m.values.copy() if RANK == 0 else vals
    op2.par_loop(_gather(3), cells, y(op2.WRITE), x(op2.READ, m))
    every_rank((y.data_ro == x.data_ro[want]).all())


def test_a_map_entry_and_a_map_without_values_take_written_values():
    cells, nodes = op2.Set(4), op2.Set(6)
    m = op2.Map(cells, nodes, 2)  # no values: a loop through it is refused
    x = op2.Dat(nodes, np.arange(6, dtype=np.float64))
    y = op2.Dat(cells)
    cp = op2.Kernel("static void cp(double *y, const double *x) { y[0] = x[0]; }", "cp")
    with pytest.raises(ex.MapValueError, match="without values"):
        x(op2.READ, m[1])
    m.values[:] = 0  # the placeholder's own values, written: they are its values now
    m.values[:, 1] = [5, 4, 3, 2]
    op2.par_loop(cp, cells, y(op2.WRITE), x(op2.READ, m[1]))
    assert (y.data_ro == [5, 4, 3, 2]).all()
    op2.par_loop(cp, cells, y(op2.WRITE), x(op2.READ, m[0]))
    assert (y.data_ro == 0).all()


def test_an_out_of_range_write_is_a_map_value_error_at_each_use_until_corrected(deadline):
    cells, nodes, m, vals = _mesh()
    x = op2.Dat(nodes, RNG.random(nodes.size))
    y = op2.Dat(cells ** 3)
    v = m.values
    v[-1, 2] = nodes.total_size  # one past the target set, on every rank
    raised = 0
    for _ in range(2):
        try:
            x(op2.READ, m)
        except ex.MapValueError as e:
            raised += "outside the target set" in str(e)
    with pytest.raises(ex.MapValueError):
        op2.Sparsity((nodes ** 1, nodes ** 1), [(m, m, None)])
    every_rank(raised == 2 and v.flags.writeable)  # still out, still writable
    v[-1, 2] = -1  # negative: "no entry", a valid value, but no Dat argument goes through it
    m.values_with_halo
    with pytest.raises(ex.MapValueError):
        op2.par_loop(_gather(3), cells, y(op2.WRITE), x(op2.READ, m))
    v = m.values
    v[-1, 2] = vals[-1, 2]
    op2.par_loop(_gather(3), cells, y(op2.WRITE), x(op2.READ, m))
    every_rank((y.data_ro == x.data_ro[vals]).all())


def test_identity_hash_and_equality_survive_a_write():
    cells, nodes, m, vals = _mesh()
    m2 = op2.Map(cells, nodes, 3, vals.copy())
    h = hash(m)
    seen = {m: 1}
    m.values[0, 0] = (vals[0, 0] + 1) % nodes.size
    op2.Dat(nodes)(op2.READ, m)
    assert hash(m) == h and seen[m] == 1 and m == m and m != m2 and not m == m2
    assert op2.MixedMap([m, m2]) is op2.MixedMap([m, m2])


def test_a_sparsity_built_before_a_write_keeps_the_old_values():
    cells, nodes = op2.Set(2), op2.Set(4)
    m = op2.Map(cells, nodes, 2, [[0, 1], [1, 2]])
    ds = nodes ** 1
    before = op2.Sparsity((ds, ds), [(m, m, None)])
    nnz_before = np.array(before.nnz).copy()
    m.values[1] = [2, 3]
    after = op2.Sparsity((ds, ds), [(m, m, None)])
    fresh = op2.Map(cells, nodes, 2, [[0, 1], [2, 3]])
    assert after is not before
    assert (np.array(before.nnz) == nnz_before).all()
    assert (np.array(after.nnz) == np.array(op2.Sparsity((ds, ds), [(fresh, fresh, None)]).nnz)).all()
    assert not (np.array(after.nnz) == nnz_before).all()
    # The same maps again: op2's cache gives the Sparsity of the new values.
    assert op2.Sparsity((ds, ds), [(m, m, None)]) is after


def test_a_mat_built_before_a_write_refuses_the_written_maps():
    """A Mat's Sparsity holds the old values: assembling through the written map is refused
    (plain and mixed), never added at entries the Sparsity does not have."""
    cells, p, q = op2.Set(2), op2.Set(4), op2.Set(3)
    mp, mq = op2.Map(cells, p, 1, [0, 1]), op2.Map(cells, q, 1, [0, 1])
    mat = op2.Mat(op2.Sparsity((p ** 1, p ** 1), [(mp, mp, None)]))
    mm = op2.MixedMap([mp, mq])
    mds = op2.MixedSet([p, q]) ** 1
    mmat = op2.Mat(op2.Sparsity((mds, mds), {(i, j): [(rm, cm, None)] for i, rm in enumerate(mm)
                                             for j, cm in enumerate(mm)}))
    mat(op2.INC, (mp, mp))
    mmat(op2.INC, (mm, mm))
    mp.values[1, 0] = 3
    with pytest.raises(ex.MapValueError, match="not a pair of its Sparsity"):
        mat(op2.INC, (mp, mp))
    with pytest.raises(ex.MapValueError, match="not one of the pairs of its sparsity"):
        mmat(op2.INC, (mm, mm))


def test_permuted_and_composed_maps_refuse_a_use_after_their_maps_are_written():
    """op2 computes them once, at construction, from the maps' current values (unsynced
    writes included); PyOP2 would follow later writes, so a use after one raises."""
    cells, nodes, m, vals = _mesh()
    m.values[0, 0] = (vals[0, 0] + 1) % nodes.size  # written, not yet used: taken as is
    pm = op2.PermutedMap(m, [2, 0, 1])
    sub = op2.Set(2)
    pick = op2.Map(sub, cells, 1, [cells.size - 1, 0])
    cm = op2.ComposedMap(m, pick)
    now = m.values.copy()
    assert (pm.values == now[:, [2, 0, 1]]).all() and (cm.values == now[[cells.size - 1, 0]]).all()
    x = op2.Dat(nodes, RNG.random(nodes.size))
    y, z = op2.Dat(cells ** 3), op2.Dat(sub ** 3)
    op2.par_loop(_gather(3), cells, y(op2.WRITE), x(op2.READ, pm))
    op2.par_loop(_gather(3), sub, z(op2.WRITE), x(op2.READ, cm))
    assert (y.data_ro == x.data_ro[now[:, [2, 0, 1]]]).all()
    m.values[1, 1] = (now[1, 1] + 1) % nodes.size
    with pytest.raises(ex.MapValueError, match="values were written since"):
        x(op2.READ, pm)
    with pytest.raises(ex.MapValueError, match="values were written since"):
        op2.Sparsity((sub ** 1, nodes ** 1), [(pick, cm, None)])
    pick.values[0] = 1  # an inner map of the composition too
    m.values[1, 1] = now[1, 1]  # back as they were, but through another new core Map
    with pytest.raises(ex.MapValueError):
        x(op2.READ, cm)
    # Made again from the written maps, they run.
    op2.par_loop(_gather(3), sub, z(op2.WRITE), x(op2.READ, op2.ComposedMap(m, pick)))
    assert (z.data_ro == x.data_ro[m.values[[1, 0]]]).all()


def test_an_extruded_maps_values_stay_read_only():
    base, nodes = op2.Set(2), op2.Set(6)
    xset = op2.ExtrudedSet(base, 3)
    m = op2.Map(xset, nodes, 2, [[0, 1], [3, 4]], offset=[1, 1])
    with pytest.raises(ValueError):
        m.values[0, 0] = 2


# MixedDats through Maps to another Set (PyOP2's test_mixed_dat_version).

_WRITE2 = "static void w2(double *a) { a[0] = 1.0; a[1] = 2.0; }"


def test_a_mixed_dat_goes_through_maps_to_a_set_of_its_sizes(deadline):
    n = 5 + RANK
    s, t = op2.Set(n), op2.Set(n)
    d3, d4 = op2.Dat(s), op2.Dat(s)
    perm = RNG.permutation(n).astype(np.int32)
    m = op2.Map(s, t, 1, perm)
    md = op2.MixedDat([d3, d4])
    k = op2.Kernel(_WRITE2, "w2")
    op2.par_loop(k, s, md(op2.WRITE, op2.MixedMap([m, m])))
    assert (d3.data_ro == 1.0).all() and (d4.data_ro == 2.0).all()
    assert d3.dat_version == 1 and md.dat_version == 2
    # The retargeted Map is made once: repeated loops use the same one.
    r = _retarget.block_map(m, s)
    assert r is not m and r.toset is s and (r.values == perm[:, None]).all()
    assert _retarget.block_map(m, s) is r
    # A plain Dat through it is still refused, as PyOP2 refuses it.
    with pytest.raises(ex.MapValueError, match="does not match Set of Dat"):
        d3(op2.READ, m)
    # Written values reach the retargeted Map.
    m.values[0, 0] = perm[-1]
    r2 = _retarget.block_map(m, s)
    assert r2 is not r and r2.values[0, 0] == perm[-1] and _retarget.block_map(m, s) is r2
    inc = op2.Kernel("static void inc1(double *a) { a[0] += 1.0; a[1] += 1.0; }", "inc1")
    d3.data[:] = 0.0
    op2.par_loop(inc, s, md(op2.INC, op2.MixedMap([m, m])))
    want = np.zeros(n)
    np.add.at(want, m.values[:, 0], 1.0)
    every_rank((d3.data_ro == want).all())


def test_a_mixed_dat_through_a_map_to_a_set_of_other_sizes_is_refused_on_every_rank(deadline):
    n = 5
    s = op2.Set(n)
    t = op2.Set(n if RANK < SIZE - 1 else n + 1)  # the last rank's differs (the only one on 1)
    m = op2.Map(s, t, 1, np.arange(n, dtype=np.int32))
    md = op2.MixedDat([op2.Dat(s), op2.Dat(s)])
    with pytest.raises(ex.MapValueError, match="To Set of Map .* does not match Set of Dat"):
        md(op2.WRITE, op2.MixedMap([m, m]))
    # A target Set with a halo is refused too, even of the same sizes.
    h1, h2 = op2.Set((0, n, n + 2)), op2.Set((0, n, n + 2))
    dh = op2.MixedDat([op2.Dat(h1), op2.Dat(h1)])
    mh = op2.Map(s, h2, 1, np.arange(n, dtype=np.int32))
    with pytest.raises(ex.MapValueError, match="does not match Set of Dat"):
        dh(op2.WRITE, op2.MixedMap([mh, mh]))
