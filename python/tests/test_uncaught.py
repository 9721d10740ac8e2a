"""An exception no one catches on one rank of a job ends the whole job with a message (the
excepthook of op2/_runtime.py: MPI_Abort), even when another rank is waiting in a collective
that rank will never join. Rank 0 of this test launches that job as a separate MPI job."""

import os
import subprocess
import sys
import tempfile
import textwrap
import time

from mpi4py import MPI

from op2.pyop2.mpi import safe_noncollective
from _jobs import env_outside_this_job

SCRIPT = textwrap.dedent("""
    import numpy as np
    import op2
    from mpi4py import MPI
    s = op2.Set(4)
    d = op2.Dat(s ** 1, np.zeros(4))
    if MPI.COMM_WORLD.rank == 1:
        raise ValueError("raised on rank 1 only")
    # Rank 0: a new kernel's first loop is collective; rank 1 never comes.
    k = op2.Kernel("void one(double *x) { x[0] = 1.0; }", "one")
    op2.par_loop(k, s, d(op2.WRITE))
    print("rank 0 was not stopped", flush=True)
""")


def _run_job():
    work = tempfile.mkdtemp(prefix="op2-uncaught-")
    script = os.path.join(work, "script.py")
    with open(script, "w") as fh:
        fh.write(SCRIPT)
    env = env_outside_this_job(OP2_CACHE_DIR=os.path.join(work, "cache"))
    t0 = time.monotonic()
    try:
        p = subprocess.run(["mpiexec", "-n", "2", sys.executable, script], env=env, cwd=work,
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "the job hung (killed after 120 s)", 120.0
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def test_an_uncaught_exception_on_one_rank_ends_the_job():
    code, out, seconds = safe_noncollective(MPI.COMM_WORLD, _run_job)
    assert code is not None, out
    assert code != 0, out
    assert "raised on rank 1 only" in out, out
    assert "rank 1: uncaught ValueError: aborting the job" in out, out
    assert "rank 0 was not stopped" not in out, out
    assert seconds < 100, f"the job took {seconds:.0f} s to end"
