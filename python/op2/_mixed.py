"""PyOP2's mixed spaces: ``MixedSet``, ``MixedDataSet``, ``MixedMap``, ``MixedDat``.

Each is a tuple of op2's native objects with PyOP2's API (``split``, indexing, iteration,
sizes, equality by components, ``str``/``repr``). A MixedDat argument, ``mdat(access,
mmap)``, is one op2 argument per block (block ``i`` through ``mmap.split[i]``, op2's
``MixedDat::arg_vec`` in Rust), which ``par_loop`` expands (``_args``); the kernel receives
every block packed into one array, as in PyOP2 (``op2/_packing.py``); a block's Map to
another Set of the same sizes without halo is retargeted (``op2/_retarget.py``). Owns no
storage and never runs a loop itself.
"""

import weakref

import numpy as np

from op2 import _op2
from op2.pyop2 import exceptions as ex
from op2._packing import MixedArg
from op2._retarget import block_map


def _tuple(arg, what):
    try:
        return tuple(arg)
    except TypeError:
        raise TypeError(f"{what} takes an iterable, not {arg!r}") from None


class _Mixed:
    """Shared shape: a tuple of components, compared component by component. MixedSets,
    MixedDataSets and MixedMaps are cached on their components, as in PyOP2 (the same
    components give the same object while it lives); MixedDats are not."""

    _kind = ""
    _cached = True
    _cache = weakref.WeakValueDictionary()

    def __new__(cls, *args, **kwargs):
        parts = cls._parts_of(*args, **kwargs)
        # The object holds its parts, so their ids stay unique while the entry lives.
        key = (cls, tuple(id(p) for p in parts))
        obj = cls._cache.get(key) if cls._cached else None
        if obj is None:
            obj = super().__new__(cls)
            obj._parts = parts
            if cls._cached:
                cls._cache[key] = obj
        return obj

    split = property(lambda self: self._parts)
    name = property(lambda self: tuple(p.name for p in self._parts))

    def __getitem__(self, i):
        return self._parts[i]

    def __iter__(self):
        return iter(self._parts)

    def __len__(self):
        return len(self._parts)

    def __eq__(self, other):
        return (type(other) is type(self) and len(other) == len(self)
                and all(a == b for a, b in zip(self._parts, other._parts)))

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self).__name__,) + tuple(hash(p) for p in self._parts))

    def __repr__(self):
        return f"{type(self).__name__}({self._parts!r})"

    def __str__(self):
        return f"OP2 {type(self).__name__} composed of {self._kind}: {self._parts}"


class MixedSet(_Mixed):
    """PyOP2's ``MixedSet(sets)``."""

    _kind = "Sets"

    @staticmethod
    def _parts_of(sets):
        sets = _tuple(sets, "MixedSet")
        if any(isinstance(s, _op2.ExtrudedSet) for s in sets):
            assert len({getattr(s, "layers", None) for s in sets}) == 1, \
                "All components of a MixedSet must have the same number of layers."
            raise NotImplementedError("a MixedSet of ExtrudedSets is not bound in Python")
        if not all(isinstance(s, _op2.Set) for s in sets):
            raise ex.SetTypeError(f"MixedSet takes Sets, not {sets!r}")
        return sets

    _sets = property(lambda self: self._parts)
    core_size = property(lambda self: sum(s.core_size for s in self._parts))
    size = property(lambda self: sum(s.size for s in self._parts))
    total_size = property(lambda self: sum(s.total_size for s in self._parts))
    sizes = property(lambda self: (self.core_size, self.size, self.total_size))
    layers = property(lambda self: self._parts[0].layers)
    halo = None

    def __pow__(self, dims):
        return MixedDataSet(self, dims)


class MixedDataSet(_Mixed):
    """PyOP2's ``MixedDataSet(sets_or_dsets, dims=None)`` and ``mset ** dims``."""

    _kind = "DataSets"

    @staticmethod
    def _parts_of(arg, dims=None):
        sets = arg.split if isinstance(arg, MixedSet) else _tuple(arg, "MixedDataSet")
        if dims is not None:
            dims = (dims,) * len(sets) if isinstance(dims, int) else _tuple(dims, "MixedDataSet dims")
            if len(sets) != len(dims):
                raise ValueError(f"MixedDataSet: {len(sets)} Sets but {len(dims)} dims")
            if not all(isinstance(s, _op2.Set) for s in sets):
                raise TypeError(f"MixedDataSet with dims takes Sets, not {sets!r}")
            dsets = tuple(s ** d for s, d in zip(sets, dims))
        else:
            dsets = tuple(s ** 1 if isinstance(s, _op2.Set) else s for s in sets)
        if not all(isinstance(d, _op2.DataSet) for d in dsets):
            raise ex.DataSetTypeError(f"MixedDataSet takes Sets or DataSets, not {sets!r}")
        return dsets

    _dsets = property(lambda self: self._parts)
    dim = property(lambda self: tuple(tuple(d.dim) for d in self._parts))
    cdim = property(lambda self: sum(d.cdim for d in self._parts))
    set = property(lambda self: MixedSet(d.set for d in self._parts))

    def __contains__(self, dat):
        return isinstance(dat, MixedDat) and dat.dataset == self


class MixedMap(_Mixed):
    """PyOP2's ``MixedMap(maps)``: one Map per block, all from the same iteration set."""

    _kind = "Maps"

    @staticmethod
    def _parts_of(maps):
        maps = _tuple(maps, "MixedMap")
        if not all(isinstance(m, _op2.Map) for m in maps):
            raise ex.MapTypeError(f"MixedMap takes Maps, not {maps!r}")
        if len({id(m.iterset) for m in maps}) > 1:
            raise ex.MapTypeError("All maps in a MixedMap need to share the same iterset")
        return maps

    _maps = property(lambda self: self._parts)
    iterset = property(lambda self: self._parts[0].iterset)
    toset = property(lambda self: MixedSet(m.toset for m in self._parts))
    arity = property(lambda self: sum(m.arity for m in self._parts))
    arities = property(lambda self: tuple(m.arity for m in self._parts))
    arange = property(lambda self: (0,) + tuple(np.cumsum(self.arities)))
    values = property(lambda self: tuple(m.values for m in self._parts))
    offset = property(lambda self: tuple(m.offset for m in self._parts))
    values_with_halo = property(lambda self: tuple(m.values_with_halo for m in self._parts))


class MixedDat(_Mixed):
    """PyOP2's ``MixedDat(mdset_or_dats)``: one Dat per block (made from Sets and DataSets,
    or given), one dtype."""

    _kind = "Dats"
    _cached = False

    @staticmethod
    def _parts_of(mdset_or_dats):
        def dat(x):
            if isinstance(x, _op2.Dat):
                return x
            if isinstance(x, (_op2.Set, _op2.DataSet)):
                return _op2.Dat(x)
            raise ex.DataSetTypeError(f"MixedDat takes Dats, DataSets or Sets, not {x!r}")
        if isinstance(mdset_or_dats, MixedDat):
            dats = tuple(_op2.Dat(d.dataset, d.data_ro.copy(), d.dtype) for d in mdset_or_dats)
        else:
            dats = tuple(dat(x) for x in _tuple(mdset_or_dats, "MixedDat"))
        if not all(d.dtype == dats[0].dtype for d in dats):
            raise ex.DataValueError("MixedDat with different dtypes is not supported")
        return dats

    _dats = property(lambda self: self._parts)
    dataset = property(lambda self: MixedDataSet(d.dataset for d in self._parts))
    dtype = property(lambda self: self._parts[0].dtype)
    dim = property(lambda self: tuple(tuple(d.dim) for d in self._parts))
    cdim = property(lambda self: sum(d.cdim for d in self._parts))
    data = property(lambda self: tuple(d.data for d in self._parts))
    data_ro = property(lambda self: tuple(d.data_ro for d in self._parts))
    data_with_halos = property(lambda self: tuple(d.data_with_halos for d in self._parts))
    data_ro_with_halos = property(lambda self: tuple(d.data_ro_with_halos for d in self._parts))
    nbytes = property(lambda self: sum(d.nbytes for d in self._parts))
    dat_version = property(lambda self: sum(d.dat_version for d in self._parts))

    # PyOP2's numpy methods, shared with Dat (op2/_arith.py).
    def axpy(self, alpha, other):
        from op2._arith import axpy
        axpy(self, alpha, other)

    def maxpy(self, scalars, others):
        from op2._arith import maxpy
        maxpy(self, scalars, others)

    def save(self, filename):
        from op2._arith import save
        save(self, filename)

    def load(self, filename):
        from op2._arith import load
        load(self, filename)

    @property
    def halo_valid(self):
        return all(d.halo_valid for d in self._parts)

    @halo_valid.setter
    def halo_valid(self, valid):
        for d in self._parts:
            d.halo_valid = valid

    def zero(self, subset=None):
        if subset is not None:
            raise NotImplementedError("MixedDat.zero(subset=...) is not supported")
        for d in self._parts:
            d.zero()

    def copy(self, other, subset=None):
        if subset is not None:
            raise NotImplementedError("MixedDat.copy(subset=...) is not supported")
        for s, o in zip(self._parts, other):
            s.copy(o)

    def __call__(self, access, path=None):
        if path is None:
            return MixedArg((d(access) for d in self._parts), self.dtype,
                            (d.cdim for d in self._parts), access)
        if not isinstance(path, MixedMap):
            raise ex.MapTypeError(f"a MixedDat is accessed through a MixedMap, not {path!r}")
        if len(path) != len(self):
            raise ex.MapValueError(f"MixedMap of {len(path)} Maps for a MixedDat of {len(self)} Dats")
        return MixedArg((d(access, block_map(m, d.dataset.set)) for d, m in zip(self._parts, path)), self.dtype,
                        (d.cdim * m.arity for d, m in zip(self._parts, path)), access)
