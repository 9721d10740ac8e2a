"""PyOP2's ``pyop2.caching``: op2's caches are in Rust (object caches on Sets, the class cache
of generated code, the disk cache); PyOP2's Python cache decorators are not offered.
``get_comm_caches``/``_KNOWN_CACHES`` are absent: op2 reports its counters at finalize
(``OP2_PRINT_CACHE_SIZE=1``)."""


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
