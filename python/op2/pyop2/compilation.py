"""PyOP2's ``pyop2.compilation``: ``load`` compiles C (or C++) source into a shared library
and loads it on every rank, with op2's rules: rank 0 alone looks in the disk cache and, on a
miss, compiles (op2's configured C compiler and flags, OP2_CC / OP2_CFLAGS; PyOP2's ``cxx``
setting for ``cpp``) into a temporary file renamed into place; every rank learns the outcome
from rank 0 (a compile error is raised on every rank, with the compiler's output), then loads
the library, and the ranks agree that it loaded. A repeated ``load`` of the same code on the
same communicator is the same library object (a memory cache). Par_loops do not come here:
op2 compiles their kernels through its own class and disk caches (in Rust)."""

import ctypes
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile

from op2 import _comms, _op2
from op2.pyop2.caching import default_parallel_hashkey, memory_cache
from op2.pyop2.configuration import configuration
from op2.pyop2.exceptions import CompilationError
from op2.pyop2.mpi import COMM_WORLD, agreed, safe_noncollective


def _comm_of(code, extension, cppargs=(), ldargs=(), comm=None):
    return COMM_WORLD if comm is None else comm


def load_hashkey(code, extension, cppargs=(), ldargs=(), comm=None):
    return default_parallel_hashkey(code, extension, tuple(cppargs), tuple(ldargs))


def _toolchain(extension, comm):
    """(compiler command, flags) of the runtime on ``comm``."""
    cc, cflags = _comms.runtime_for(comm).toolchain
    if extension == "cpp":
        cc = configuration["cxx"] or "c++"
    flags = shlex.split(cflags) + (["-g", "-O0"] if configuration["debug"] else [])
    return shlex.split(cc), flags + ["-fPIC", "-shared"]


def _so_dir(comm):
    return os.path.join(_comms.runtime_for(comm).cache_dir, "python", "so")


def _compile(code, extension, cppargs, ldargs, cc, flags, where):
    """On rank 0: the library of ``code`` under ``where``, compiled unless already there."""
    key = hashlib.md5(repr((code, extension, cppargs, ldargs, cc, flags)).encode()).hexdigest()
    so = os.path.join(where, key[:2], key[2:] + ".so")
    if os.path.exists(so):
        return so
    os.makedirs(os.path.dirname(so), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(so)) as tmp:
        src, out = os.path.join(tmp, f"code.{extension}"), os.path.join(tmp, "lib.so")
        with open(src, "w") as fh:
            fh.write(code)
        cmd = cc + flags + list(cppargs) + ["-o", out, src] + list(ldargs)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise CompilationError(f"compiling with `{shlex.join(cmd)}` failed "
                                   f"(status {p.returncode}):\n{p.stderr.strip()}")
        os.replace(out, so)
    return so


@memory_cache(hashkey=load_hashkey, get_comm=_comm_of)
def load(code, extension, cppargs=(), ldargs=(), comm=None):
    """Compile ``code`` (C for ``extension`` "c", C++ for "cpp") into a shared library and
    load it on every rank of ``comm`` (default COMM_WORLD); returns its ``ctypes.CDLL``.
    Collective over ``comm``: rank 0 compiles (or finds it in the disk cache), every rank
    loads; an error anywhere is raised on every rank."""
    comm = _comm_of(code, extension, comm=comm)
    cc, flags = _toolchain(extension, comm)
    where = _so_dir(comm)
    so = safe_noncollective(comm, _compile, code, extension, tuple(cppargs), tuple(ldargs),
                            cc, flags, where)
    return agreed(comm, _load_library, so)


def _load_library(so):
    """Load the library at ``so`` from bytes read through op2's trust rule (no link followed,
    owner and mode checked: a refused file raises OSError naming it), by way of an anonymous
    memory file, so the code that runs is the code that was checked. The memory file stays
    open as long as the library object (glibc knows a library by its path,
    ``/proc/self/fd/N``, which must not be reused while it is loaded)."""
    data = _op2.read_cache_entry(so)
    if data is None:
        raise OSError(f"{so}: the compiled library is missing")
    memfile = os.fdopen(os.memfd_create("op2-pyop2-load"), "w+b")
    memfile.write(data)
    memfile.flush()
    lib = ctypes.CDLL(f"/proc/self/fd/{memfile.fileno()}")
    lib._op2_memfd = memfile
    return lib


def clear_compiler_disk_cache(prompt=False, comm=None):
    """Remove the libraries ``load`` compiled (this rank's view of the cache directory)."""
    where = _so_dir(COMM_WORLD if comm is None else comm)
    if prompt and input(f"Remove {where}? [y/N] ").strip().lower() != "y":
        return
    shutil.rmtree(where, ignore_errors=True)
