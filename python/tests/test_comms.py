"""comm=: op2 runtimes on mpi4py communicators other than the world (split, COMM_SELF,
duplicates), their lifetime, and loops mixing communicators. Runs on 1, 2 and 3 ranks."""

import numpy as np
import pytest
from mpi4py import MPI

import op2
from op2 import _comms
from op2.pyop2 import exceptions as ex
from op2.pyop2.caching import get_comm_caches

world = MPI.COMM_WORLD
rank, nranks = world.rank, world.size

COUNT = "static void count(const double *x, double *g) { g[0] += x[0]; }"


def _sum_loop(s, comm=None):
    """Sum a Dat of ones over ``s`` into a Global: the loop's reduction over ``s``'s ranks."""
    x = op2.Dat(s ** 1, np.ones(s.size))
    g = op2.Global(1, 0.0, np.float64, "g", comm=comm)
    op2.par_loop(op2.Kernel(COUNT, "count"), s, x(op2.READ), g(op2.INC))
    return g.data_ro[0]


def test_split_communicator_runs_its_own_loops_in_each_half():
    color = rank % 2
    half = world.Split(color, rank)
    try:
        s = op2.Set(5 + rank, "cells", comm=half)
        assert s.comm is half
        # The reduction runs over this half only: the sizes of its ranks.
        assert _sum_loop(s, comm=half) == half.allreduce(5 + rank)
        assert s.global_size == half.allreduce(5 + rank)
        assert len(get_comm_caches(half)[0]) >= 1          # the half's own class cache
        # The world's runtime is untouched and still in step.
        assert _sum_loop(op2.Set(2)) == 2 * nranks
    finally:
        half.Free()


def test_comm_self_sets_on_each_rank():
    s = op2.Set(3 + rank, comm=MPI.COMM_SELF)
    assert s.global_size == 3 + rank                        # no other rank's elements
    assert _sum_loop(s, comm=MPI.COMM_SELF) == 3 + rank
    assert _comms.runtime_for(MPI.COMM_SELF) is _comms.runtime_for(MPI.COMM_SELF)


def test_one_runtime_per_communicator_freed_with_it(deadline):
    before = _comms.live_runtimes()
    dup = world.Dup()
    rt = _comms.runtime_for(dup)
    assert rt is _comms.runtime_for(dup)                    # cached on the communicator
    s = op2.Set(4, comm=dup)
    assert _comms.live_runtimes() == before + 1
    assert _sum_loop(s) == 4 * nranks
    dup.Free()                                              # MPI's delete callback finalizes it
    assert _comms.live_runtimes() == before
    assert not rt.alive
    # Its objects are refused with a message on every rank, no hang; the world goes on.
    x = op2.Dat(s ** 1, np.ones(4))
    g = op2.Global(1, 0.0)
    with pytest.raises(Exception, match="finalized|freed"):
        op2.par_loop(op2.Kernel(COUNT, "count"), s, x(op2.READ), g(op2.INC))
    with pytest.raises(ValueError, match="COMM_NULL"):
        op2.Set(2, comm=dup)                                # mpi4py set it to COMM_NULL
    assert _sum_loop(op2.Set(1)) == nranks


def test_objects_of_two_communicators_in_one_loop_are_refused_on_every_rank(deadline):
    dup = world.Dup()
    try:
        a = op2.Set(3, "a", comm=dup)
        b = op2.Set(3, "b")
        x = op2.Dat(b ** 1, np.ones(3), name="x_on_world")
        g = op2.Global(1, 0.0)
        with pytest.raises(ValueError, match="another runtime"):
            op2.par_loop(op2.Kernel(COUNT, "count"), a, x(op2.READ), g(op2.INC))
        ok = world.allgather(True)                          # every rank got here: no hang
        assert all(ok)
    finally:
        dup.Free()


def test_comm_must_be_a_live_intracommunicator():
    with pytest.raises(TypeError, match="mpi4py communicator"):
        op2.Set(2, comm="world")
    with pytest.raises(ValueError, match="COMM_NULL"):
        op2.Global(1, 0.0, comm=MPI.COMM_NULL)
