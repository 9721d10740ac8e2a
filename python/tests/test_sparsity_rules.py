"""PyOP2's sparsity rules from Python: a square Sparsity reserves its diagonal (plain, and the
diagonal blocks of a mixed one), and negative Map values mean "no entry": Sparsities and Mat
assembly skip them, a ComposedMap through one gives -1, a Dat argument through one is refused.
Every rank builds its own sets (sizes depend on the rank) and checks them against numpy."""

import numpy as np
import pytest
from mpi4py import MPI

import op2
from op2.pyop2 import exceptions as ex

RANK = MPI.COMM_WORLD.rank


def test_square_sparsity_reserves_the_diagonal():
    s, d, d2 = op2.Set(1), op2.Set(4 + RANK), op2.Set(4 + RANK)
    m = op2.Map(s, d, 2, [1, 3])
    m2 = op2.Map(s, d2, 3, [1, 2, 3])
    assert list(op2.Sparsity((d ** 1, d ** 1), [(m, m, None)]).nnz) == [1, 2, 1, 2] + [1] * RANK
    assert list(op2.Sparsity((d ** 1, d2 ** 1), [(m, m2, None)]).nnz) == [0, 3, 0, 3] + [0] * RANK


def test_mat_through_negative_entries_matches_dense_and_dats_are_refused():
    n = 7 + RANK
    cells, nodes = op2.Set(n - 1), op2.Set(n)
    vals = np.array([[e, e + 1] for e in range(n - 1)], dtype=np.int32)
    rvals, cvals = vals.copy(), vals.copy()
    rvals[::3, 0] = -1
    cvals[1::2, 1] = -1
    rm, cm = op2.Map(cells, nodes, 2, rvals), op2.Map(cells, nodes, 2, cvals)
    mat = op2.Mat(op2.Sparsity((nodes ** 1, nodes ** 1), [(rm, cm, None)]))
    k = op2.Kernel("static void k(double A[2][2]) "
                   "{ A[0][0] += 1; A[0][1] += 2; A[1][0] += 3; A[1][1] += 4; }", "k")
    op2.par_loop(k, cells, mat(op2.INC, (rm, cm)))
    dense = np.zeros((n, n))
    for e in range(n - 1):
        for i in range(2):
            for j in range(2):
                if rvals[e, i] >= 0 and cvals[e, j] >= 0:
                    dense[rvals[e, i], cvals[e, j]] += 1 + 2 * i + j
    np.testing.assert_array_equal(mat.values, dense)
    assert (mat.sparsity.nnz >= 1).all()  # every diagonal reserved
    x = op2.Dat(nodes ** 1, np.arange(n, dtype=np.float64))
    g = op2.Global(1, 0.0, np.float64)
    read = op2.Kernel("static void rd(const double *x, double *g) { g[0] += x[0]; }", "rd")
    with pytest.raises(ex.MapValueError, match="negative"):
        op2.par_loop(read, cells, x(op2.READ, rm[0]), g(op2.INC))
    op2.par_loop(read, cells, x(op2.READ, rm[1]), g(op2.INC))  # entry 1 has no negative
    assert g.data_ro[0] == MPI.COMM_WORLD.allreduce(int(vals[:, 1].sum()))  # Globals reduce


def test_composed_map_through_a_negative_entry_is_negative():
    a, b, nb = op2.Set(3), op2.Set(2), op2.Set(3)
    map_b = op2.Map(b, nb, 2, [[0, 1], [1, 2]])
    map_ab = op2.Map(a, b, 1, [-1, 0, 1])
    assert op2.ComposedMap(map_b, map_ab).values.tolist() == [[-1, -1], [0, 1], [1, 2]]
    perm = op2.PermutedMap(op2.Map(a, nb, 2, [[0, -1], [1, 2], [-1, 0]]), [1, 0])
    assert perm.values.tolist() == [[-1, 0], [2, 1], [0, -1]]


def test_square_mixed_sparsity_has_diagonal_blocks_without_maps():
    ncell = 3 + RANK
    cells, p, q = op2.Set(ncell), op2.Set(ncell + 1), op2.Set(2)
    vp = np.array([[e, e + 1] for e in range(ncell)], dtype=np.int32)
    vq = np.array([e % 3 - 1 for e in range(ncell)], dtype=np.int32)  # -1, 0, 1, -1, ...
    mp, mq = op2.Map(cells, p, 2, vp), op2.Map(cells, q, 1, vq)
    mds = op2.MixedSet([p, q]) ** 1
    sp = op2.Sparsity((mds, mds), {(0, 0): [(mp, mp, None)], (0, 1): [(mp, mq, None)]})
    assert list(sp[1, 1].nnz) == [1, 1] and sp[1, 0] is None
    mat = op2.Mat(sp)
    mm = op2.MixedMap([mp, mq])
    fill = op2.Kernel("static void fill(double *A) { for (int i = 0; i < 9; i++) A[i] += 1 + i; }",
                      "fill")
    op2.par_loop(fill, cells, mat(op2.INC, (mm, mm)))  # the packed 3 x 3 element matrix
    elem = np.arange(1.0, 10.0).reshape(3, 3)
    p00, p01 = np.zeros((ncell + 1, ncell + 1)), np.zeros((ncell + 1, 2))
    for e in range(ncell):
        p00[np.ix_(vp[e], vp[e])] += elem[:2, :2]
        if vq[e] >= 0:
            p01[vp[e], vq[e]] += elem[:2, 2]
    np.testing.assert_array_equal(mat[0, 0].values, p00)
    np.testing.assert_array_equal(mat[0, 1].values, p01)
    assert not mat[1, 1].values.any()  # diagonal-only: no loop assembles it


@pytest.mark.parametrize("values", [np.array([1, 3_000_000_000], dtype=np.uint32), [1, 2**31],
                                    np.array([1, 2**33], dtype=np.int64), [1, -2**31 - 1]])
def test_a_value_past_32_bits_is_refused_not_wrapped(values):
    """A cast to int32 would turn 2^31 into a negative ("no entry") value and 2^33 into 0."""
    a, b = op2.Set(2), op2.Set(3)
    with pytest.raises(ex.MapValueError, match="does not fit a 32-bit map entry"):
        op2.Map(a, b, 1, values)
