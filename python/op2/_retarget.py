"""A MixedDat's block through a Map whose target Set is not the block's Set.

PyOP2 does not check the target sets of a MixedDat's maps (``MixedDat([d3, d4])(op2.WRITE,
op2.MixedMap([m, m]))`` with ``m`` to another Set of ``d3``'s size runs there); op2 checks
every Map argument's target Set. :func:`block_map` accepts such a Map only when it is safe: the
two Sets have the same sizes (core, owned, total) on every rank and no halo (total == owned)
on any rank, decided once per pair of Sets by every rank together (an allreduce, cached on
the pair). Then the block goes through a Map to the block's own Set with the same values, built
once per (Map, Set) and rebuilt only when the Map's values were written (``Map._core_id``), so
repeated loops hit op2's class cache. Otherwise the Map is passed unchanged and op2's
MapValueError ("To Set of Map ... does not match Set of Dat ...") stands. A plain Dat is never
retargeted (PyOP2 refuses that too). Owns the two caches; never runs a loop.
"""

from mpi4py import MPI

from op2 import _op2

# (id(a), id(b)) -> (a, b, whether every rank found a and b interchangeable)
_PAIRS = {}
# (id(map), id(set)) -> (map, set, the map's core id, the Map to set with its values)
_MAPS = {}
_MAX = 256


def block_map(m, s):
    """The Map a MixedDat block on Set ``s`` goes through for its MixedMap part ``m``."""
    if m.toset is s or not isinstance(s, _op2.Set) or m.offset is not None:
        return m
    if type(m.toset) is not _op2.Set or type(s) is not _op2.Set:
        return m  # Subsets, ExtrudedSets: op2's check stands
    key = (id(m), id(s))
    core = m._core_id
    hit = _MAPS.get(key)
    if hit is not None and hit[0] is m and hit[1] is s and hit[2] == core:
        return hit[3]
    if not _interchangeable(m.toset, s):
        return m
    new = _op2.Map(m.iterset, s, m.arity, m._core_values, m.name)
    _remember(_MAPS, key, (m, s, core, new))
    return new


def _interchangeable(a, b):
    """Collective on first sight of the pair: whether Sets ``a`` and ``b`` have the same sizes
    and no halo on every rank."""
    key = (id(a), id(b))
    hit = _PAIRS.get(key)
    if hit is not None and hit[0] is a and hit[1] is b:
        return hit[2]
    ca, cb = a.comm, b.comm
    if ca is not cb:
        ok = False  # different communicators: nothing to agree on together
    else:
        local = tuple(a.sizes) == tuple(b.sizes) and a.total_size == a.size
        ok = bool(ca.allreduce(local, op=MPI.LAND))
    _remember(_PAIRS, key, (a, b, ok))
    return ok


def _remember(cache, key, entry):
    if len(cache) >= _MAX:
        cache.pop(next(iter(cache)))
    cache[key] = entry
