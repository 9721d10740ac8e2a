"""PyOP2's ``pyop2.caching``: op2's caches are in Rust (object caches on Sets, the class cache
of generated code, the disk cache); PyOP2's Python cache decorators are not offered.
``_KNOWN_CACHES`` lists no Python cache and ``get_comm_caches`` returns none: op2's counters
are reported at finalize (``OP2_PRINT_CACHE_SIZE=1``)."""

_KNOWN_CACHES = []


def get_comm_caches(comm):
    """PyOP2's per-communicator Python caches: op2 has none (its caches are in Rust)."""
    return {}


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
