"""PyOP2's ``pyop2.mpi``: the communicators op2 runs on and PyOP2's helpers over them.

Any mpi4py intra-communicator can be given as ``comm=``: op2 runs the objects made on it on a
runtime of their own, on a duplicate of the communicator (``op2._comms``), which plays the part
of PyOP2's internal communicator. So ``internal_comm`` and ``temp_internal_comm`` hand back the
user's communicator itself (caches and records are kept on it, and freed with it), and
``is_pyop2_comm`` says whether op2 has a runtime on it.
"""

from mpi4py import MPI  # noqa: F401

import op2._runtime  # noqa: F401  (the runtime is up before any object is made)
from op2 import _comms

COMM_WORLD = MPI.COMM_WORLD
COMM_SELF = MPI.COMM_SELF

# The attribute under which pyop2.caching keeps a communicator's caches (PyOP2's name).
comm_cache_keyval = MPI.Comm.Create_keyval()


def collective(fn):
    """PyOP2's marker of a collective function (documentation only)."""
    return fn


def internal_comm(comm, obj=None):
    """PyOP2 duplicates user communicators; op2 duplicates them inside its runtime
    (``op2._comms``), so the user's communicator is the one to keep things on."""
    _comms._check(comm)
    return comm


class temp_internal_comm:
    """Context manager form of :func:`internal_comm`."""

    def __init__(self, comm):
        self.comm = internal_comm(comm)

    def __enter__(self):
        return self.comm

    def __exit__(self, *exc):
        return False


def is_pyop2_comm(comm):
    """Whether op2 runs objects on ``comm`` (the world, or a communicator given as comm=)."""
    return comm != MPI.COMM_NULL and _comms.existing_runtime(comm) is not None


def safe_noncollective(comm, f, /, *args, root=0, **kwargs):
    """Run ``f`` on ``root`` only; every rank returns its result or raises its exception
    (no hang when it raises)."""
    result, error = None, None
    if comm.rank == root:
        try:
            result = f(*args, **kwargs)
        except BaseException as e:  # broadcast, then raise everywhere
            error = e
    result, error = comm.bcast((result, error), root=root)
    if error is not None:
        raise error
    return result


def agreed(comm, f, /, *args, **kwargs):
    """Run ``f`` on every rank of ``comm`` and agree on the outcome (one allgather): if it
    raised on any rank, every rank raises (its own exception where it raised, else
    ``Op2MpiError`` naming the first rank that failed and its message). So a failure on one
    rank never leaves the others waiting in the next collective."""
    from op2.pyop2.exceptions import Op2MpiError
    try:
        result, error = f(*args, **kwargs), None
    except Exception as e:
        result, error = None, e
    mine = None if error is None else f"{type(error).__name__}: {error}"
    errors = comm.allgather(mine)
    if error is not None:
        raise error
    for r, msg in enumerate(errors):
        if msg is not None:
            raise Op2MpiError(f"{getattr(f, '__qualname__', f)} failed on rank {r} "
                              f"of {comm.size}: {msg}")
    return result
