"""conftest for Firedrake's tests/pyop2 files run against op2 (copied beside them by
run.py). Maps the module names: ``pyop2`` -> ``op2.pyop2``. Where petsc4py or pytest-mpi
are not installed, stand-ins let the files import: any use of ``PETSc`` skips the test that
uses it (reason "needs petsc4py"), and ``@pytest.mark.parallel(n)`` runs a test only when
the job has n ranks."""

import sys
import types

import pytest

import op2.pyop2

op2.pyop2.install()


class _NoPetsc:
    def __getattr__(self, name):
        if name.startswith("__"):  # pytest's and inspect's probes, at collection
            raise AttributeError(name)
        pytest.skip(f"needs petsc4py (PETSc.{name}): not installed")


try:  # pragma: no cover - depends on the machine
    import petsc4py  # noqa: F401
except ImportError:
    mod = types.ModuleType("petsc4py")
    mod.PETSc = _NoPetsc()
    mod.__op2_stand_in__ = True
    sys.modules["petsc4py"] = mod
    sys.modules["petsc4py.PETSc"] = mod.PETSc

try:  # pragma: no cover
    import pytest_mpi  # noqa: F401
except ImportError:
    from mpi4py import MPI

    mod = types.ModuleType("pytest_mpi")

    def parallel_assert(cond, msg=None):
        ok = MPI.COMM_WORLD.allreduce(bool(cond() if callable(cond) else cond), op=MPI.LAND)
        assert ok, msg or "assertion failed on some rank"

    mod.parallel_assert = parallel_assert
    sys.modules["pytest_mpi"] = mod


def pytest_configure(config):
    config.addinivalue_line("markers", "parallel(nprocs): run on nprocs ranks")


def pytest_collection_modifyitems(config, items):
    from mpi4py import MPI
    size = MPI.COMM_WORLD.size
    for item in items:
        m = item.get_closest_marker("parallel")
        if m is not None:
            n = m.args[0] if m.args else m.kwargs.get("nprocs", 3)
            if isinstance(n, (list, tuple)):
                ok = size in n
            else:
                ok = n == size
            if not ok:
                item.add_marker(pytest.mark.skip(reason=f"parallel({n}) test: run under mpiexec -n {n}"))
        elif size > 1:
            item.add_marker(pytest.mark.skip(reason="serial test (run on 1 rank)"))
