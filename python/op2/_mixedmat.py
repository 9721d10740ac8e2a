"""PyOP2's ``Sparsity`` and ``Mat`` on mixed (block) spaces, over op2's MixedSparsity and
MixedMat (``op2._op2._MixedSparsity``, ``_MixedMat``).

``op2.Sparsity(dsets, maps_and_regions, ...)`` is the native single-block Sparsity when both
DataSets are plain, and a ``MixedSparsity`` when either is a ``MixedDataSet``; ``op2.Mat``
likewise. ``isinstance(x, op2.Sparsity)`` holds for both kinds. Block (i, j) of a mixed
Sparsity is the ordinary Sparsity of its DataSets and map pairs (the same object), block (i, j)
of a mixed Mat an ordinary Mat sharing op2's storage with the mixed one. A square mixed Sparsity
(one MixedDataSet) has every diagonal block, with its diagonal reserved even where no map pair
reaches it (PyOP2's convention); such a block without map pairs is not assembled by a loop. A loop argument
``mat(op2.INC, (rmmap, cmmap))`` is one argument per present block, row-major (op2's
``MixedMat::arg``): the kernel receives one element matrix per block. Owns PyOP2's API around
the native objects (indexing, iteration, str/repr, the object cache); never runs a loop.
"""

import weakref

import numpy as np

from op2 import _op2
from op2._mixed import MixedDataSet, MixedMap
from op2._packing import MixedMatArg
from op2.pyop2 import exceptions as ex


class _Either(type):
    """The metaclass of ``op2.Sparsity`` and ``op2.Mat``: calling the class builds the native
    single-block object or the mixed one; ``isinstance`` accepts either."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls._kinds)

    def __subclasscheck__(cls, sub):
        return isinstance(sub, type) and issubclass(sub, cls._kinds)


def _components(ds, which):
    if isinstance(ds, MixedDataSet):
        return tuple(ds)
    if isinstance(ds, _op2.DataSet):
        return (ds,)
    raise ex.DataSetTypeError(f"Sparsity {which} DataSet {ds!r} is not a DataSet")


def _maps(m):
    """The component Maps of a Map or MixedMap."""
    if isinstance(m, MixedMap):
        return list(m)
    if isinstance(m, _op2.Map):
        return [m]
    raise ex.MapTypeError(f"a Mat argument takes a pair of Maps or MixedMaps, not {m!r}")


class _Grid:
    """Blocks in a grid: ``x[i, j]`` is block (i, j), ``x[i]`` row i; iteration is row-major."""

    def __getitem__(self, idx):
        if isinstance(idx, tuple):
            i, j = idx
            return self._blocks[i][j]
        return self._blocks[idx]

    def __iter__(self):
        for row in self._blocks:
            yield from row


class Sparsity(metaclass=_Either):
    """PyOP2's ``Sparsity(dsets, maps_and_regions, name=None, nest=None, block_sparse=None,
    diagonal_block=True)``."""

    def __new__(cls, dsets, maps_and_regions, name=None, nest=None, block_sparse=None,
                diagonal_block=True):
        if isinstance(dsets, tuple) and any(isinstance(d, MixedDataSet) for d in dsets):
            return MixedSparsity._make(dsets, maps_and_regions, name, nest)
        return _op2.Sparsity(dsets, maps_and_regions, name, nest, block_sparse, diagonal_block)


class MixedSparsity(_Grid):
    """A Sparsity between MixedDataSets (or a MixedDataSet and a DataSet): a grid of block
    Sparsities, cached as PyOP2's (the same DataSets and block pairs give the same object)."""

    _cache = weakref.WeakValueDictionary()

    @classmethod
    def _make(cls, dsets, maps_and_regions, name, nest):
        if len(dsets) != 2:
            raise RuntimeError(f"dsets must be a tuple of two DataSets: got {dsets}")
        if name is not None and not isinstance(name, str):
            raise ex.NameTypeError(f"Sparsity name must be a string, not {name!r}")
        rows, cols = _components(dsets[0], "row"), _components(dsets[1], "column")
        if not isinstance(maps_and_regions, dict):
            maps_and_regions = {(0, 0): maps_and_regions}
        blocks = {}
        for (i, j), val in maps_and_regions.items():
            val = list(val)
            for p in val:
                if not isinstance(p, tuple) or len(p) < 2:
                    raise ex.MapTypeError(f"Sparsity map pair {p!r} is not (rmap, cmap, region)")
            blocks[(i, j)] = val
        native = _op2._MixedSparsity(list(rows), list(cols), blocks)
        key = (id(dsets[0]), id(dsets[1]), native.id)
        obj = cls._cache.get(key)
        if obj is None:
            obj = object.__new__(cls)
            obj._native, obj._dsets = native, tuple(dsets)
            obj._shape = (len(rows), len(cols))
            obj._name = name or "sparsity_#x%x" % id(obj)
            obj._nested = True if nest is None else bool(nest)
            obj._blocks = [[native.block(i, j) for j in range(len(cols))] for i in range(len(rows))]
            cls._cache[key] = obj
        return obj

    dsets = property(lambda self: self._dsets)
    shape = property(lambda self: self._shape)
    name = property(lambda self: self._name)
    nested = property(lambda self: self._nested)
    _block_sparse = True
    _diagonal_block = property(lambda self: self._dsets[0] is self._dsets[1])

    @property
    def dims(self):
        rows, cols = (_components(d, "") for d in self._dsets)
        return tuple(tuple((r.cdim, c.cdim) for c in cols) for r in rows)

    @property
    def rcmaps(self):
        return {(i, j): (b.rcmaps[(0, 0)] if b is not None else [])
                for i, row in enumerate(self._blocks) for j, b in enumerate(row)}

    @property
    def _maps_and_regions(self):
        return {k: [(r, c, None) for r, c in v] for k, v in self.rcmaps.items() if v}

    nnz = property(lambda self: tuple(b.nnz if b is not None else None for b in self))
    onnz = property(lambda self: tuple(b.onnz if b is not None else None for b in self))

    def __repr__(self):
        return "Sparsity(%r, %r, name=%r, nested=%r, block_sparse=%r, diagonal_block=%r)" % (
            self.dsets, self._maps_and_regions, self.name, self._nested, self._block_sparse,
            self._diagonal_block)

    def __str__(self):
        return ("OP2 Sparsity: dsets %s, maps_and_regions %s, name %s, nested %s, block_sparse %s, "
                "diagonal_block %s" % (self.dsets, self._maps_and_regions, self.name, self._nested,
                                       self._block_sparse, self._diagonal_block))


class Mat(metaclass=_Either):
    """PyOP2's ``Mat(sparsity, dtype=None, name=None)``."""

    def __new__(cls, sparsity, dtype=None, name=None):
        if isinstance(sparsity, MixedSparsity):
            return MixedMat(sparsity, dtype, name)
        return _op2.Mat(sparsity, dtype, name)


class MixedMat(_Grid):
    """A Mat on a mixed Sparsity: one op2 Mat per present block (op2's MixedMat); ``mat[i, j]``
    is block (i, j) as an ordinary Mat (``None`` where the Sparsity has no block)."""

    def __init__(self, sparsity, dtype=None, name=None):
        if name is not None and not isinstance(name, str):
            raise ex.NameTypeError(f"Mat name must be a string, not {name!r}")
        if dtype is not None and np.dtype(dtype) != np.float64:
            raise NotImplementedError(f"op2's mixed Mats hold float64 values, not {np.dtype(dtype)}")
        self._sparsity, self._name = sparsity, name or "mat_#x%x" % id(self)
        self._native = _op2._MixedMat(sparsity._native, self._name)
        n, m = sparsity.shape
        self._blocks = [[self._native.block(i, j) for j in range(m)] for i in range(n)]

    sparsity = property(lambda self: self._sparsity)
    name = property(lambda self: self._name)
    dtype = property(lambda self: np.dtype(np.float64))
    dims = property(lambda self: self._sparsity.dims)
    nbytes = property(lambda self: sum(b.nbytes for b in self if b is not None))

    def __call__(self, access, path):
        if not isinstance(path, tuple) or len(path) != 2:
            raise ex.MapTypeError("a Mat argument takes a pair of maps (rmap, cmap)")
        rmaps, cmaps = _maps(path[0]), _maps(path[1])
        args = self._native.args(access, rmaps, cmaps)
        rds, cds = (_components(d, "") for d in self._sparsity.dsets)
        rows = tuple(m.arity * d.cdim for m, d in zip(rmaps, rds))
        cols = tuple(m.arity * d.cdim for m, d in zip(cmaps, cds))
        # Absent blocks and diagonal-only ones (no map pairs) take no part in the loop.
        present = tuple(b is not None and bool(b.sparsity.rcmaps[(0, 0)]) for b in self)
        return MixedMatArg(args, rows, cols, present)

    @property
    def values(self):
        """The owned rows of every block as one dense array (zeros for absent blocks)."""
        rows, cols = (_components(d, "") for d in self._sparsity.dsets)
        shape = [[(r.set.size * r.cdim, c.set.size * c.cdim) for c in cols] for r in rows]
        return np.block([[b.values if b is not None else np.zeros(shape[i][j])
                          for j, b in enumerate(row)] for i, row in enumerate(self._blocks)])

    def zero(self):
        self._native.zero()

    def assemble(self):
        """op2 assembles inside par_loop; nothing left to do."""

    def __repr__(self):
        return "Mat(%r, %r, %r)" % (self.sparsity, self.dtype, self.name)

    def __str__(self):
        return "OP2 Mat: %s, sparsity (%s), datatype %s" % (self.name, self.sparsity, self.dtype.name)


Sparsity._kinds = (_op2.Sparsity, MixedSparsity)
Mat._kinds = (_op2.Mat, MixedMat)
