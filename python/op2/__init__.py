"""op2 from Python: PyOP2's API on op2's Rust runtime.

``import op2`` starts MPI (through mpi4py), attaches op2's runtime to it with the
configuration from the environment (``OP2_*``) and finalizes op2 at exit. The names follow
PyOP2's ``op2`` module (``op2.Set``, ``op2.Dat``, ``op2.par_loop``, ``op2.READ``...);
``op2.pyop2`` is a PyOP2-compatible package (``op2.pyop2.install()`` makes it importable as
``pyop2``). See docs/PYTHON.md.
"""

from op2._runtime import rank, size  # noqa: F401  (starts the runtime first)
from op2.api import *  # noqa: F401,F403
from op2.api import __all__  # noqa: F401
from op2 import mesh  # noqa: F401,E402  (op2.mesh: OP2 HDF5 mesh files)
