"""The op2 runtime of this Python process.

Owns the order of start and end: mpi4py starts MPI (so mpi4py users keep their MPI), then op2
attaches to it; at exit op2 finalizes (collective: every rank) before mpi4py finalizes MPI.
Never starts a second runtime.
"""

import atexit

from mpi4py import MPI  # noqa: F401  (MPI_Init_thread happens here)

from op2 import _op2

_rt = _op2.init()
rank = _rt.rank
size = _rt.size


def finalize():
    """Collective: end op2 (its cache report); MPI itself is ended by mpi4py."""
    _rt.finalize()


atexit.register(finalize)
