"""PyOP2's ``pyop2.caching``: cache decorators kept per communicator, on op2's rules.

The public names are PyOP2's (``parallel_cache``, ``memory_cache``, ``disk_only_cache``,
``memory_and_disk_cache``, ``serial_cache``, ``cached``, ``clear_memory_cache``,
``get_comm_caches``, ``DEFAULT_CACHE``, ``DictLikeDiskAccess``, ``_KNOWN_CACHES``...), and a
decorated function caches as in PyOP2: one cache per decorator and communicator, kept on the
communicator (freed with it), keyed by ``hashkey(*args, **kwargs)``. Where op2's rules differ
from PyOP2's, op2's hold, and they are exactly the two open Firedrake bugs op2 does not have:

* **Every rank agrees on hit or miss before any collective** (firedrake #4039, ranks
  disagreeing and deadlocking). A disk lookup is decided by rank 0 alone: it reads the entry
  and broadcasts it, so every rank hits or every rank misses, whatever other processes write
  meanwhile, with or without ``bcast``. A memory cache holds what every rank computed in the
  same calls, so its hits agree without communicating (as op2's class cache of generated
  code); ``configuration["spmd_strict"]`` checks that they do (one allgather per lookup).
* **Rank 0 alone writes the disk cache** (firedrake #4000, every rank writing the same
  entry): by a temporary file renamed into place, so a reader never sees half an entry.
* **A failure on one rank fails every rank**: on a miss the ranks agree on the outcome of the
  cached function (one allgather, or the broadcast of ``bcast=True``) before the value is
  stored, so no rank waits in a later collective for a rank that raised.

Index 0 of every communicator's caches is op2's class cache of generated code (a par_loop's
compiled and loaded kernels, kept in Rust per runtime), recorded in ``_KNOWN_CACHES`` as
PyOP2's ``compile_global_kernel``: ``len()`` counts its loop classes and ``clear()`` empties
it, so code counting PyOP2's compiled kernels runs. op2's own counters are
``cache_counters()``.
"""

import hashlib
import itertools
import os
import pickle
import tempfile
import warnings
from collections.abc import MutableMapping
from functools import wraps
from pathlib import Path

from op2 import _comms, _op2
from op2.pyop2.configuration import configuration
from op2.pyop2.exceptions import CachingError, HashError  # noqa: F401
from op2.pyop2.mpi import COMM_WORLD, MPI, agreed, comm_cache_keyval

_CLASS_CACHE_CIDX = 0
_CACHE_CIDX = itertools.count(_CLASS_CACHE_CIDX + 1)
_KNOWN_CACHES = []


class _CacheMiss:
    def __repr__(self):
        return "CACHE_MISS"


CACHE_MISS = _CacheMiss()


class ClassCacheView:
    """op2's class cache of generated code on one communicator's runtime, seen as PyOP2's
    cache of ``compile_global_kernel``. ``len()``: loop classes loaded on this process;
    ``clear()``: empty it (every rank of the communicator at the same point, since every
    rank runs the same loops)."""

    def __init__(self, comm):
        self.comm = comm

    def _rt(self):
        return _comms.existing_runtime(self.comm) if self.comm != MPI.COMM_NULL else None

    def __len__(self):
        rt = self._rt()
        return rt.class_cache_len() if rt is not None else 0

    def clear(self):
        rt = self._rt()
        if rt is not None:
            rt.clear_class_cache()

    def __repr__(self):
        return f"ClassCacheView({len(self)} loop classes)"


class _CacheRecord:
    """PyOP2's record of a cache: its index, communicator, function and the cache."""

    def __init__(self, cidx, comm, func, cache):
        self.cidx, self.comm, self.cache = cidx, comm, cache
        self.comm_name = comm.name
        self.func = func
        self.func_module = getattr(func, "__module__", "op2")
        self.func_name = func if isinstance(func, str) else func.__qualname__
        self.cache_name = type(cache).__qualname__
        self.cache_loc = getattr(cache, "cachedir", "Memory")

    def get_stats(self):
        """(hit, miss, size, maxsize); -1 where not counted."""
        hit = getattr(self.cache, "hit", -1)
        miss = getattr(self.cache, "miss", -1)
        try:
            size = len(self.cache)
        except (NotImplementedError, TypeError):
            size = -1
        return hit, miss, size, -1


_KNOWN_CACHES.append(_CacheRecord(_CLASS_CACHE_CIDX, COMM_WORLD, "compile_global_kernel",
                                  ClassCacheView(COMM_WORLD)))


def get_comm_caches(comm):
    """The caches kept on ``comm`` (a dict: decorator index -> cache), made on first use;
    index 0 is op2's class cache of generated code on ``comm``'s runtime."""
    caches = comm.Get_attr(comm_cache_keyval)
    if caches is None:
        caches = {_CLASS_CACHE_CIDX: ClassCacheView(comm)}
        comm.Set_attr(comm_cache_keyval, caches)
    return caches


def clear_memory_cache(comm):
    """Drop every cache kept on ``comm``, op2's class cache of generated code included.
    Every rank of ``comm`` must call it at the same point (hits must stay equal on every
    rank). Disk caches keep their entries (op2's are cleared with ``op2 cache clear``)."""
    ClassCacheView(comm).clear()
    if comm.Get_attr(comm_cache_keyval) is not None:
        comm.Set_attr(comm_cache_keyval, {_CLASS_CACHE_CIDX: ClassCacheView(comm)})


def cache_filter(comm=None, comm_name=None, alive=True, function=None, cache_type=None):
    """The records of ``_KNOWN_CACHES`` on a communicator, of a function, of a cache type."""
    out = []
    for c in _KNOWN_CACHES:
        if comm is not None and c.comm is not comm:
            continue
        if comm_name is not None and c.comm_name != comm_name:
            continue
        if alive and c.comm == MPI.COMM_NULL:
            continue
        if function is not None and not (function in c.func_name if isinstance(function, str)
                                         else c.func is function):
            continue
        if cache_type is not None and not (cache_type in c.cache_name if isinstance(cache_type, str)
                                           else c.cache_name == type(cache_type).__qualname__):
            continue
        out.append(c)
    return out


def print_cache_stats(*args, **kwargs):
    """Print hit/miss/size of the caches :func:`cache_filter` selects."""
    for c in cache_filter(*args, **kwargs):
        hit, miss, size, _ = c.get_stats()
        print(f"{c.comm_name:30} {c.cache_name:20} id={c.cidx} {c.func_module}.{c.func_name}: "
              f"hit {hit} miss {miss} size {size}")


def cache_counters():
    """op2's cache counters on this process: name -> (entries, hits, misses, compiles)."""
    return _op2.cache_counters()


def as_hexdigest(*args):
    """``args`` as an md5 hex string (the disk key); communicators cannot be hashed."""
    h = hashlib.md5()
    for a in args:
        if isinstance(a, MPI.Comm):
            raise HashError("Communicators cannot be hashed, caching will be broken!")
        h.update(str(a).encode())
    return h.hexdigest()


def _hashkey(*args, **kwargs):
    """cachetools' ``hashkey``: the arguments, then the keyword arguments sorted by name."""
    return args + ((_KW,) + tuple(sorted(kwargs.items())) if kwargs else ())


class _Kw:
    def __repr__(self):
        return "<kw>"


_KW = _Kw()


def default_get_comm(*args, **kwargs):
    """The first communicator among the arguments (PyOP2's default)."""
    for a in args + tuple(kwargs.values()):
        if isinstance(a, MPI.Comm):
            return a
    raise TypeError("No comms found in args or kwargs")


def default_parallel_hashkey(*args, **kwargs):
    """The arguments without the communicators (so every communicator shares disk entries)."""
    return _hashkey(*(a for a in args if not isinstance(a, MPI.Comm)),
                    **{k: v for k, v in kwargs.items() if not isinstance(v, MPI.Comm)})


class DEFAULT_CACHE(dict):
    """The memory cache of :func:`memory_cache` (a dict)."""


class DictLikeDiskAccess(MutableMapping):
    """A disk cache as a mapping: entry ``key`` is the pickle at
    ``cachedir/<md5[:2]>/<md5[2:]>.pickle``. Written by a temporary file renamed into place.
    In a decorated function only rank 0 reads and writes it (see the module's doc)."""

    def __init__(self, cachedir, extension=".pickle"):
        self.cachedir = None if cachedir is None else os.fspath(cachedir)
        self.extension = extension

    def _path(self, key):
        k = as_hexdigest(key)
        return Path(self.cachedir, k[:2], k[2:]).with_suffix(self.extension)

    def read_bytes(self, key):
        """The stored bytes of ``key``, or None. Read through op2's trust rule for cache files
        (no link followed, no FIFO read, owner and mode checked): a refused file is an OSError
        naming it, never unpickled."""
        return _op2.read_cache_entry(str(self._path(key)))

    def decode(self, key, data):
        """The value stored as ``data`` for ``key``; KeyError when the file holds another key's
        value (an entry is the pickle of ``(hex key, value)``: a renamed or planted file is a
        miss, not another computation's result)."""
        stored = pickle.loads(data)
        if not (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == as_hexdigest(key)):
            raise KeyError("the file holds another key's entry: a cache miss")
        return stored[1]

    def write_bytes(self, key, data):
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".tmp", prefix=path.stem, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def __getitem__(self, key):
        data = self.read_bytes(key)
        if data is None:
            raise KeyError("File not on disk, cache miss")
        return self.decode(key, data)

    def __setitem__(self, key, value):
        self.write_bytes(key, pickle.dumps((as_hexdigest(key), value)))

    def __delitem__(self, key):
        raise NotImplementedError(f"Cannot remove items from {type(self).__name__}")

    def __iter__(self):
        raise NotImplementedError(f"Cannot iterate over keys in {type(self).__name__}")

    def __len__(self):
        raise NotImplementedError(f"Cannot query length of {type(self).__name__}")

    def __eq__(self, other):
        return isinstance(other, DictLikeDiskAccess) and \
            (self.cachedir, self.extension) == (other.cachedir, other.extension)

    __hash__ = None

    def __repr__(self):
        return f"{type(self).__name__}(cachedir={self.cachedir}, extension={self.extension})"


def instrument(cls):
    """Class decorator counting a mapping's hits and misses (``hit``, ``miss``)."""
    class _Instrumented(cls):
        instrument__ = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.hit = self.miss = 0

        def get(self, key, default=None):
            value = super().get(key, default)
            if value is default:
                self.miss += 1
            else:
                self.hit += 1
            return value

    _Instrumented.__name__ = _Instrumented.__qualname__ = cls.__name__
    return _Instrumented


def _default_cachedir(comm):
    """PyOP2's ``cache_dir`` setting, else ``python`` under op2's disk cache (OP2_CACHE_DIR)."""
    if configuration["cache_dir"]:
        return configuration["cache_dir"]
    rt = _comms.runtime_for(comm)
    return os.path.join(rt.cache_dir, "python")


def _make(comm, func, args, kwargs, bcast):
    """A miss: the value, computed on rank 0 and broadcast (``bcast``) or on every rank;
    every rank raises if it failed anywhere."""
    if not bcast:
        return agreed(comm, func, *args, **kwargs)
    from op2.pyop2.mpi import safe_noncollective
    return safe_noncollective(comm, func, *args, **kwargs)


def _spmd_check(comm, key, hit):
    """``configuration["spmd_strict"]``: the ranks looked up the same key and agree on hit."""
    keys = comm.allgather((str(key), hit))
    if len(set(k for k, _ in keys)) > 1:
        raise ValueError(f"Cache keys differ between ranks. On rank {comm.rank} got:\n{key}")
    if len(set(h for _, h in keys)) > 1:
        raise ValueError("Cache hit on some ranks but missed on others")


def _disk_lookup(comm, cache, key):
    """Rank 0 reads the entry and broadcasts it: every rank hits or every rank misses."""
    data = None
    if comm.rank == 0:
        try:
            data = cache.read_bytes(key)
        except OSError as e:  # unreadable: a miss, said once
            warnings.warn(f"op2: disk cache {cache.cachedir}: {e}; recomputing")
    data = comm.bcast(data, root=0)
    if data is None:
        return CACHE_MISS
    try:  # the same bytes on every rank: every rank decides alike
        return cache.decode(key, data)
    except KeyError:
        return CACHE_MISS


def _disk_store(comm, cache, key, value):
    """Rank 0 alone writes the entry. A failed write is a warning: the value is right."""
    if comm.rank == 0:
        try:
            cache[key] = value
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as e:
            warnings.warn(f"op2: could not store in the disk cache {cache.cachedir}: {e}")


def parallel_cache(hashkey=default_parallel_hashkey, get_comm=default_get_comm,
                   make_cache=lambda: DEFAULT_CACHE(), bcast=False):
    """Cache a function's results per communicator (``get_comm(*args, **kwargs)``) under
    ``hashkey(*args, **kwargs)``, in the mapping ``make_cache()`` makes once per communicator.
    Collective over the communicator on a miss (and on every disk lookup); see the module's
    doc for how hits, misses, writes and failures are agreed. ``bcast=True`` computes a miss
    on rank 0 alone and broadcasts it."""
    cache_id = next(_CACHE_CIDX)

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            comm = get_comm(*args, **kwargs)
            caches = get_comm_caches(comm)
            cache = caches.get(cache_id)
            if cache is None:
                cache = caches.setdefault(cache_id, make_cache())
                if isinstance(cache, DictLikeDiskAccess) and cache.cachedir is None:
                    cache.cachedir = _default_cachedir(comm)
                _KNOWN_CACHES.append(_CacheRecord(cache_id, comm, func, cache))
            key = hashkey(*args, **kwargs)
            if isinstance(cache, DictLikeDiskAccess):
                value = _disk_lookup(comm, cache, key)
                if value is CACHE_MISS:
                    value = _make(comm, func, args, kwargs, bcast)
                    _disk_store(comm, cache, key, value)
                return value
            value = cache.get(key, CACHE_MISS)
            if configuration["spmd_strict"]:
                _spmd_check(comm, key, value is not CACHE_MISS)
            if value is CACHE_MISS:
                value = _make(comm, func, args, kwargs, bcast)
            return cache.setdefault(key, value)
        return wrapper
    return decorator


memory_cache = parallel_cache


def disk_only_cache(*args, cachedir=None, **kwargs):
    """:func:`parallel_cache` on disk, under ``cachedir`` (default: PyOP2's ``cache_dir``
    setting, else ``python/`` under the OP2_CACHE_DIR of the communicator's runtime)."""
    return parallel_cache(*args, **kwargs, make_cache=lambda: DictLikeDiskAccess(cachedir))


def memory_and_disk_cache(*args, cachedir=None, **kwargs):
    """A memory cache in front of a disk cache (:func:`disk_only_cache`)."""
    def decorator(func):
        return memory_cache(*args, **kwargs)(disk_only_cache(*args, cachedir=cachedir, **kwargs)(func))
    return decorator


def serial_cache(hashkey, cache_factory=lambda: DEFAULT_CACHE()):
    """A cache on this process only (no communicator): ``cachetools.cached``."""
    return cached(cache_factory(), key=hashkey)


def cached(cache, key=_hashkey):
    """Cache a function's results in the mapping ``cache`` under ``key(*args, **kwargs)``, on
    this process only (cachetools' ``cached``)."""
    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            k = key(*args, **kwargs)
            value = cache.get(k, CACHE_MISS)
            if value is CACHE_MISS:
                value = cache.setdefault(k, func(*args, **kwargs))
            return value
        return wrapper
    return decorator
