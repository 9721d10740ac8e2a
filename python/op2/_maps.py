"""PyOP2's PermutedMap and ComposedMap, computed into plain op2 Maps.

op2's core Maps are immutable tables of values, so both are exact as a plain ``op2.Map`` whose
values are computed once, here, at construction, from the maps' current values; a use after a
map they were computed from had its values written (``Map.values``) is a MapValueError
(``python/src/mapvals.rs``), where PyOP2 would follow the writes:

* ``PermutedMap(m, perm)``: ``values[e, i] = m.values[e, perm[i]]`` (PyOP2's
  ``local[i] = global[map[permutation[i]]]``);
* ``ComposedMap(m0, m1, ..., mk)``: ``values[e] = m0.values[m1.values[...mk.values[e, 0]..., 0]]``
  (PyOP2's ``global[maps_[0][maps_[1][...[i]]]]``), from ``mk.iterset`` to ``m0.toset``. Over
  an ExtrudedSet it is an extruded Map with ``m0``'s offset (PyOP2's ``_offset =
  maps_[0]._offset``): each layer of a column reads ``m0``'s column advanced by the layer.

``Map`` is op2's Map constructor plus PyOP2's column maps: ``Map(xset, xset2, arity, values)``
between ExtrudedSets (no offset) is a ``ColumnMap``, the same element of ``xset2``'s base set on
every layer, whose ``toset`` is ``xset2`` (for ComposedMap's checks).

Both are ``op2.Map`` subclasses (usable wherever a Map is: par_loop arguments, Sparsities). What
is not exact as a plain table is refused: a composition through a halo element of an
intermediate set (op2 keeps a Map's owned rows only). Negative values ("no entry", PyOP2's -1)
pass through: a composed entry through one is -1, a permuted one stays negative. This module
never compiles code nor touches MPI.
"""

import numpy as np

from op2 import _op2
from op2.pyop2.exceptions import MapTypeError


class _MapType(type):
    """Every op2 Map (made here or by op2) is an instance of ``Map``."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, _op2.Map)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, _op2.Map)


class Map(_op2.Map, metaclass=_MapType):
    """PyOP2's ``Map``: op2's Map, or a ColumnMap when ``toset`` is an ExtrudedSet."""

    def __new__(cls, iterset, toset, arity, values=None, name=None, offset=None,
                offset_quotient=None):
        args = (iterset, toset, arity, values, name, offset, offset_quotient)
        if cls is not Map:
            return super().__new__(cls, *args)
        if isinstance(toset, _op2.ExtrudedSet):
            return ColumnMap(*args)
        return _op2.Map(*args)


def _toset(self):
    return self._xtoset


class ColumnMap(_op2.Map):
    """A Map between ExtrudedSets without offset: each column to columns of ``toset``.

    op2 holds it as an extruded Map (offset 0) to ``toset``'s base set; ``toset`` answers the
    ExtrudedSet itself, as PyOP2's does."""

    toset = property(_toset)

    def __new__(cls, iterset, toset, arity, values=None, name=None, offset=None,
                offset_quotient=None):
        if not isinstance(iterset, _op2.ExtrudedSet):
            raise NotImplementedError(
                f"Map from {iterset} to the ExtrudedSet {toset}: a map to an ExtrudedSet is "
                "bound from an ExtrudedSet only (a column map)")
        if offset is not None and np.any(np.asarray(offset) != 0) or offset_quotient is not None:
            raise NotImplementedError(
                f"Map {name}: a map between ExtrudedSets is a column map; offsets are not bound")
        self = super().__new__(cls, iterset, toset.parent, arity, values, name)
        self._xtoset = toset
        return self

    def __init__(self, *args, **kwargs):
        pass


class PermutedMap(_op2.Map):
    """A Map whose entries are another Map's, reordered by a constant permutation."""

    def __new__(cls, map_, permutation):
        if not isinstance(map_, _op2.Map):
            raise TypeError("map_ must be a Map instance")
        if isinstance(map_, ComposedMap):
            raise NotImplementedError("PermutedMap of ComposedMap not implemented: simply permute before composing")
        perm = np.asarray(permutation, dtype=np.int32)
        if perm.shape != (map_.arity,) or not (np.sort(perm) == np.arange(map_.arity)).all():
            raise ValueError(f"permutation {list(perm)} is not a permutation of range({map_.arity})")
        values = np.ascontiguousarray(map_._core_values[:, perm])
        self = super().__new__(cls, map_.iterset, map_.toset, map_.arity, values, map_.name)
        self._derived_from([map_])  # a use after map_'s values are written raises
        self.map_, self.permutation = map_, perm
        return self

    def __init__(self, *args, **kwargs):
        pass


class ComposedMap(_op2.Map):
    """The composition of Maps (the last one's iterset to the first one's toset)."""

    def __new__(cls, *maps_, name=None):
        if not maps_ or not all(isinstance(m, _op2.Map) for m in maps_):
            raise TypeError("All maps must be Map instances")
        for tomap, frommap in zip(maps_[:-1], maps_[1:]):
            if tomap.iterset is not frommap.toset:
                raise MapTypeError("tomap.iterset must match frommap.toset")
            if frommap.arity != 1:
                raise MapTypeError("frommap.arity must be 1")
        iterset, toset = maps_[-1].iterset, maps_[0].toset
        offset = _composed_offset(maps_)
        rows = np.arange(iterset.size, dtype=np.int64)
        for m in reversed(maps_[1:]):
            rows = _rows_of(m, rows)[:, 0]
        values = np.ascontiguousarray(_rows_of(maps_[0], rows))
        base_to = toset.parent if isinstance(toset, _op2.ExtrudedSet) else toset
        self = super().__new__(cls, iterset, base_to, maps_[0].arity, values,
                               name or "cmap_#x%x" % id(maps_), offset=offset)
        self._derived_from(list(maps_))  # a use after their values are written raises
        self.maps_ = tuple(maps_)
        self._xtoset = toset
        return self

    toset = property(_toset)

    def __init__(self, *args, **kwargs):
        pass


def _composed_offset(maps_):
    """The offset of a composition: the first map's (PyOP2); the inner maps must be columns."""
    for m in maps_[1:]:
        if m.offset is not None and np.any(m.offset != 0):
            raise NotImplementedError(
                f"ComposedMap: inner Map {m.name} has an offset (moves across layers); only "
                "the first map of a composition may")
    offset = maps_[0].offset
    if offset is not None and not isinstance(maps_[-1].iterset, _op2.ExtrudedSet):
        raise MapTypeError("ComposedMap: the first map is extruded (has an offset) but the "
                           f"composition is from {maps_[-1].iterset}, not an ExtrudedSet")
    return offset


def _rows_of(m, rows):
    """Rows ``rows`` of Map ``m``'s values; a negative row (an entry
    through a negative, "no entry", value) gives -1 throughout, as PyOP2's composition does.
    Refuses what a plain table cannot hold."""
    vals = m._core_values
    if len(rows) and rows.max(initial=0) >= vals.shape[0]:
        raise NotImplementedError(
            f"ComposedMap: a composed entry reaches halo element {int(rows.max())} of set "
            f"{m.iterset.name} (op2 keeps the owned rows of Map {m.name} only)")
    defined = rows >= 0
    out = np.full((len(rows), vals.shape[1]), -1, dtype=vals.dtype)
    out[defined] = vals[rows[defined]]
    return out
