"""The op2 runtime of this Python process.

Owns the order of start and end: mpi4py starts MPI (so mpi4py users keep their MPI), then op2
attaches to it; at exit op2 finalizes (collective: every rank) before mpi4py finalizes MPI.
Never starts a second runtime.

Also owns what happens to an exception no one catches on a job of several ranks: as in PyOP2
(``pyop2/mpi.py``), the traceback is printed and the job is aborted (``MPI_Abort``), so the
other ranks, which may be waiting in a collective this rank will never join, end with it
instead of waiting (an uncaught exception would otherwise run the collective finalize below on
this rank alone).
"""

import atexit
import sys
import time

from mpi4py import MPI  # noqa: F401  (MPI_Init_thread happens here)

from op2 import _op2

_rt = _op2.init()
rank = _rt.rank
size = _rt.size


def finalize():
    """Collective: end op2 (its cache report); MPI itself is ended by mpi4py."""
    _rt.finalize()


atexit.register(finalize)


def _abort_on_uncaught(typ, value, tb, _previous=sys.excepthook):
    """sys.excepthook on several ranks: print as usual, say so, abort the whole job."""
    _previous(typ, value, tb)
    sys.stderr.write(f"op2: rank {rank}: uncaught {typ.__name__}: aborting the job "
                     f"(MPI_Abort on COMM_WORLD), so no rank waits for this one\n")
    sys.stderr.flush()
    time.sleep(0.5)  # the launcher forwards the message before the abort tears the job down
    MPI.COMM_WORLD.Abort(1)


if MPI.COMM_WORLD.size > 1:
    sys.excepthook = _abort_on_uncaught
