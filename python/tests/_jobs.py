"""What the tests that launch a separate process or MPI job share."""

import os

# The process manager's variables of the job running the tests (MPICH's hydra and PMI, Open
# MPI's): a child that saw them would try to join this job instead of starting its own.
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "HYDRA_", "HYDI_", "MPIR_", "MPI_LOCAL", "OMPI_")


def env_outside_this_job(**extra):
    """This process's environment without its launcher's variables (a child started with it is
    a job of its own: a 1-rank world, or its own ``mpiexec``), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_PREFIXES)}
    env.update(extra)
    return env
