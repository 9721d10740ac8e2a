"""PyOP2's ``pyop2.caching``: op2's caches are in Rust (object caches on Sets, the class cache
of generated code, the disk cache); PyOP2's Python cache decorators are not offered.
``_KNOWN_CACHES`` and ``get_comm_caches`` show op2's class cache of generated code, so that
code reading PyOP2's cache counts runs."""

from op2 import _op2

class _CacheInfo:
    """PyOP2's record of a cache: the function it caches, its index, its communicator."""

    def __init__(self, func_name, cidx, comm):
        self.func_name, self.cidx, self.comm = func_name, cidx, comm


class ClassCacheView:
    """op2's class cache of generated code, seen as PyOP2's cache of ``compile_global_kernel``:
    ``len()`` is the number of loop classes loaded on this process; ``clear()`` empties it
    (every rank must clear at the same point, as every rank runs the same loops)."""

    def __len__(self):
        return _op2.class_cache_len()

    def clear(self):
        _op2.clear_class_cache()


def _world():
    from op2.pyop2.mpi import COMM_WORLD
    return COMM_WORLD


_CLASS_CACHE = ClassCacheView()
_KNOWN_CACHES = [_CacheInfo("compile_global_kernel", 0, _world())]


def get_comm_caches(comm):
    """The caches PyOP2 keeps per communicator: op2's class cache (index 0)."""
    return {0: _CLASS_CACHE}


def cache_counters():
    """op2's cache counters on this process: name -> (entries, hits, misses, compiles)."""
    return _op2.cache_counters()


def _missing(name):
    def f(*args, **kwargs):
        raise NotImplementedError(f"pyop2.caching.{name}: PyOP2's Python cache decorators are not part of op2")
    f.__name__ = name
    return f


memory_cache = _missing("memory_cache")
disk_only_cache = _missing("disk_only_cache")
memory_and_disk_cache = _missing("memory_and_disk_cache")
clear_memory_cache = _missing("clear_memory_cache")
DEFAULT_CACHE = dict
