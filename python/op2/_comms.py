"""One op2 runtime per mpi4py communicator: what ``comm=`` means.

Owns the table from an mpi4py communicator to op2's runtime on it. ``COMM_WORLD`` (and
``None``) is the default runtime started at import; any other intra-communicator gets, on
first use, a runtime on a duplicate of it (collective over it, as PyOP2 makes its internal
communicator), kept as an MPI attribute of the user's communicator. When the user frees the
communicator (``comm.Free()``, collective), MPI calls the attribute's delete callback on every
rank, which finalizes the runtime and frees op2's duplicate; the runtimes still alive at exit
are finalized in reverse order of creation, before the default one. So no runtime leaks and
none is finalized twice (``finalize`` is idempotent). Never frees the user's communicator.
"""

import atexit
import sys

from mpi4py import MPI

from op2 import _op2
from op2 import _runtime

# The runtimes made here, by op2 communicator id: (the user's mpi4py communicator, runtime),
# in creation order (dicts keep it).
_LIVE = {}


def _on_free(comm, keyval, rt):
    """MPI's delete callback (inside ``MPI_Comm_free`` of the user's communicator, on every
    rank of it): finalize the runtime (collective over op2's duplicate) and forget it."""
    try:
        _LIVE.pop(rt.comm_id, None)
        rt.finalize()
    except BaseException as e:  # an exception here would abort inside MPI: say it instead
        print(f"op2: finalizing the runtime of a freed communicator: {e}", file=sys.stderr)


_KEYVAL = MPI.Comm.Create_keyval(delete_fn=_on_free)


def _handle(comm):
    """The communicator's MPICH handle: ``py2f()`` (MPICH's Fortran handle is its C ``int``
    handle; mpi4py's ``handle`` shows it unsigned)."""
    return comm.py2f()


def _check(comm):
    if not isinstance(comm, MPI.Comm):
        raise TypeError(f"comm= takes an mpi4py communicator, not {comm!r}")
    if comm == MPI.COMM_NULL:
        raise ValueError("comm= is MPI.COMM_NULL (a freed communicator?)")
    if comm.Is_inter():
        raise ValueError("comm= takes an intra-communicator, not an intercommunicator")


def is_world(comm):
    return comm is MPI.COMM_WORLD or _handle(comm) == _handle(MPI.COMM_WORLD)


def runtime_for(comm):
    """The op2 runtime of ``comm`` (``None``: the default one). Collective over ``comm`` the
    first time it is seen (the runtime agrees its configuration), local afterwards."""
    if comm is None:
        return _runtime._rt
    _check(comm)
    if is_world(comm):
        return _runtime._rt
    rt = comm.Get_attr(_KEYVAL)
    if rt is None:
        rt = _op2.runtime_on(_handle(comm))
        comm.Set_attr(_KEYVAL, rt)
        _LIVE[rt.comm_id] = (comm, rt)
    return rt


def existing_runtime(comm):
    """The runtime of ``comm`` if one was made (never collective), else ``None``."""
    _check(comm)
    if is_world(comm):
        return _runtime._rt
    return comm.Get_attr(_KEYVAL)


def mpi4py_comm(comm_id):
    """The user's mpi4py communicator of op2 communicator ``comm_id`` (a Set's ``comm``)."""
    if comm_id == 1:
        return MPI.COMM_WORLD
    if comm_id == 0:
        return MPI.COMM_SELF
    entry = _LIVE.get(comm_id)
    return entry[0] if entry is not None else MPI.COMM_NULL


def live_runtimes():
    """How many runtimes on communicators other than the world are alive (tests)."""
    return len(_LIVE)


def finalize_all():
    """Collective at exit: finalize the runtimes still alive, newest first (each is
    collective over its own communicator; every rank made them in the same order)."""
    for comm_id in reversed(list(_LIVE)):
        comm, rt = _LIVE.pop(comm_id)
        rt.finalize()
        if comm != MPI.COMM_NULL and not MPI.Is_finalized():
            comm.Delete_attr(_KEYVAL)  # the callback finds it finalized: nothing more


# Registered after op2._runtime's: runs before the default runtime's finalize.
atexit.register(finalize_all)
