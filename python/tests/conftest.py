"""Own tests of the op2 Python package. Run on 1, 2 and 3 ranks:
``mpiexec -n 3 python3 -m pytest -q python/tests`` (scripts/test-python.sh). Every rank runs
every test; tests that communicate compare results across ranks with mpi4py."""

import os
import tempfile

# A cache directory of this run, shared by the ranks (rank 0 names it, the others read it).
if "OP2_CACHE_DIR" not in os.environ:
    from mpi4py import MPI
    d = tempfile.mkdtemp(prefix="op2-pytest-") if MPI.COMM_WORLD.rank == 0 else None
    os.environ["OP2_CACHE_DIR"] = MPI.COMM_WORLD.bcast(d, root=0)


import faulthandler  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def deadline():
    """A hang fails the job (every thread's traceback, then exit) instead of waiting forever:
    for tests of errors on one rank, where a bug would leave the other ranks waiting."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
