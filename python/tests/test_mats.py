"""Mat assembly from Python, plain and mixed, against a dense numpy assembly of the same
element matrices over the whole mesh. Every rank builds its own mesh (its size depends on the
rank) and checks it; the ranks then agree that every one passed."""

import numpy as np
import pytest
from mpi4py import MPI

import op2
from op2.pyop2 import exceptions

RANK = MPI.COMM_WORLD.rank


def mesh(nelem, nnodes, arity, seed):
    """Elements with `arity` distinct random nodes each."""
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(nnodes, arity, replace=False) for _ in range(nelem)], dtype=np.int32)


def element_matrix(w, nr, nc):
    """The element matrix the kernels below compute: A[r][c] = w * (r + 1) * (c + 2) + r - c."""
    r, c = np.meshgrid(np.arange(nr), np.arange(nc), indexing="ij")
    return w * (r + 1) * (c + 2) + r - c


KERNEL = """
static void elem(double *A, const double *w) {{
  for (int r = 0; r < {nr}; r++)
    for (int c = 0; c < {nc}; c++)
      A[r * {nc} + c] += w[0] * (r + 1) * (c + 2) + r - c;
}}"""


def scalar_rows(nodes, dim, offset=0):
    """The scalar rows of an element's nodes (node-major, component-minor)."""
    return np.array([offset + n * dim + d for n in nodes for d in range(dim)])


def all_ranks_agree(ok):
    assert MPI.COMM_WORLD.allreduce(int(ok), op=MPI.MIN) == 1


@pytest.mark.parametrize("dim", [1, 2])
def test_mat_assembly_matches_dense_numpy(dim):
    nelem, nnodes, arity = 7 + RANK, 9 + 2 * RANK, 3
    cells, nodes = op2.Set(nelem), op2.Set(nnodes)
    vals = mesh(nelem, nnodes, arity, seed=RANK)
    c2n = op2.Map(cells, nodes, arity, vals)
    w = np.linspace(1.0, 2.0, nelem)
    wd = op2.Dat(cells ** 1, w, np.float64)
    sp = op2.Sparsity((nodes ** dim, nodes ** dim), [(c2n, c2n, None)])
    assert sp is op2.Sparsity((nodes ** dim, nodes ** dim), [(c2n, c2n, (op2.ALL,))])
    with pytest.raises(NotImplementedError):
        op2.Sparsity((nodes ** dim, nodes ** dim), [(c2n, c2n, (op2.ON_TOP,))])
    mat = op2.Mat(sp)
    n = arity * dim
    op2.par_loop(op2.Kernel(KERNEL.format(nr=n, nc=n), "elem"), cells,
                 mat(op2.INC, (c2n, c2n)), wd(op2.READ))
    dense = np.zeros((nnodes * dim, nnodes * dim))
    for e in range(nelem):
        rows = scalar_rows(vals[e], dim)
        dense[np.ix_(rows, rows)] += element_matrix(w[e], n, n)
    assert mat.values.shape == dense.shape
    np.testing.assert_allclose(mat.values, dense, rtol=1e-13)
    # zero_rows of a Subset: the rows are zero but for the diagonal.
    mat.zero_rows(op2.Subset(nodes, [1, 4]), 7.0)
    for node in (1, 4):
        for r in scalar_rows([node], dim):
            dense[r, :] = 0.0
            dense[r, r] = 7.0
    np.testing.assert_allclose(mat.values, dense, rtol=1e-13)
    all_ranks_agree(True)


def test_mixed_mat_assembly_matches_dense_numpy():
    """A 2 x 2 block Mat on (P ** 1, Q ** 2) assembled in one loop through a MixedMap: the
    kernel fills one packed element matrix, as in PyOP2."""
    nelem, npn, nqn = 5 + RANK, 7 + RANK, 4 + RANK
    cells, p, q = op2.Set(nelem), op2.Set(npn), op2.Set(nqn)
    vp, vq = mesh(nelem, npn, 2, seed=10 + RANK), mesh(nelem, nqn, 1, seed=20 + RANK)
    mm = op2.MixedMap([op2.Map(cells, p, 2, vp), op2.Map(cells, q, 1, vq)])
    mds = op2.MixedSet([p, q]) ** (1, 2)
    sp = op2.Sparsity((mds, mds), {(i, j): [(rm, cm, None)] for i, rm in enumerate(mm)
                                   for j, cm in enumerate(mm)})
    assert isinstance(sp, op2.Sparsity) and sp.shape == (2, 2)
    assert sp[1, 0] is op2.Sparsity((q ** 2, p ** 1), [(mm[1], mm[0], None)])
    assert [b for b in sp] == [sp[0, 0], sp[0, 1], sp[1, 0], sp[1, 1]]
    mat = op2.Mat(sp)
    assert isinstance(mat, op2.Mat) and mat[0, 1].values.shape == (npn, 2 * nqn)
    w = np.linspace(1.0, 3.0, nelem)
    wd = op2.Dat(cells ** 1, w, np.float64)
    n = 2 * 1 + 1 * 2  # packed rows: block P's 2 nodes x 1, then block Q's 1 node x 2
    op2.par_loop(op2.Kernel(KERNEL.format(nr=n, nc=n), "elem"), cells,
                 mat(op2.INC, (mm, mm)), wd(op2.READ))
    size = npn + 2 * nqn
    dense = np.zeros((size, size))
    for e in range(nelem):
        rows = np.concatenate([scalar_rows(vp[e], 1), scalar_rows(vq[e], 2, offset=npn)])
        dense[np.ix_(rows, rows)] += element_matrix(w[e], n, n)
    np.testing.assert_allclose(mat.values, dense, rtol=1e-13)
    np.testing.assert_allclose(mat[1, 0].values, dense[npn:, :npn], rtol=1e-13)
    mat.zero()
    assert not mat.values.any()
    all_ranks_agree(True)


def test_mixed_dat_increment_packs_blocks_and_checks_maps():
    nelem, npn, nqn = 4 + RANK, 6, 3
    cells, p, q = op2.Set(nelem), op2.Set(npn), op2.Set(nqn)
    vp, vq = mesh(nelem, npn, 2, seed=RANK), mesh(nelem, nqn, 1, seed=RANK + 5)
    mm = op2.MixedMap([op2.Map(cells, p, 2, vp), op2.Map(cells, q, 1, vq)])
    md = op2.MixedDat(op2.MixedSet([p, q]) ** (1, 2))
    k = op2.Kernel("static void k(double *u) { for (int i = 0; i < 4; i++) u[i] += i + 1; }", "k")
    op2.par_loop(k, cells, md(op2.INC, mm))
    up, uq = np.zeros(npn), np.zeros((nqn, 2))
    for e in range(nelem):
        np.add.at(up, vp[e], [1.0, 2.0])
        uq[vq[e, 0]] += [3.0, 4.0]
    np.testing.assert_array_equal(md[0].data_ro, up)
    np.testing.assert_array_equal(md[1].data_ro, uq)
    mat = op2.Mat(op2.Sparsity((md.dataset, md.dataset), {(0, 0): [(mm[0], mm[0], None)],
                                                          (1, 1): [(mm[1], mm[1], None)]}))
    assert mat[0, 1] is None and mat.sparsity[1, 0] is None
    # The packed element matrix is 4 x 4 (P: 2 nodes x 1, Q: 1 node x 2); absent blocks are
    # scratch: only (0, 0) and (1, 1) reach the Mat.
    ones = op2.Kernel("static void ones(double *A) { for (int i = 0; i < 16; i++) A[i] += i; }", "ones")
    op2.par_loop(ones, cells, mat(op2.INC, (mm, mm)))
    p00, q11 = np.zeros((npn, npn)), np.zeros((2 * nqn, 2 * nqn))
    for e in range(nelem):
        p00[np.ix_(vp[e], vp[e])] += [[0, 1], [4, 5]]
        r = scalar_rows(vq[e], 2)
        q11[np.ix_(r, r)] += [[10, 11], [14, 15]]
    np.testing.assert_array_equal(mat[0, 0].values, p00)
    np.testing.assert_array_equal(mat[1, 1].values, q11)
    assert not mat.values[:npn, npn:].any() and not mat.values[npn:, :npn].any()
    with pytest.raises(exceptions.ModeValueError):
        mat(op2.READ, (mm, mm))
    with pytest.raises(RuntimeError):  # a row map into another Set than the row DataSet's
        op2.Sparsity((md.dataset, md.dataset), {(0, 0): [(mm[1], mm[0], None)]})
    all_ranks_agree(True)
