"""PyOP2's ``pyop2.mpi``: the communicators op2 runs on (COMM_WORLD until op2's runtime runs on
any communicator) and PyOP2's helpers over them."""

from mpi4py import MPI  # noqa: F401

import op2._runtime  # noqa: F401  (the runtime is up before any object is made)

COMM_WORLD = MPI.COMM_WORLD
COMM_SELF = MPI.COMM_SELF


def internal_comm(comm, obj=None):
    """PyOP2 duplicates user communicators; op2 runs on COMM_WORLD itself."""
    return comm


class temp_internal_comm:
    """Context manager form of :func:`internal_comm`."""

    def __init__(self, comm):
        self.comm = comm

    def __enter__(self):
        return self.comm

    def __exit__(self, *exc):
        return False


def is_pyop2_comm(comm):
    return comm is COMM_WORLD


def safe_noncollective(comm, f, *args, root=0, **kwargs):
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
