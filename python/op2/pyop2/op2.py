"""PyOP2's ``pyop2.op2`` namespace: op2's classes (``op2.api``)."""

from op2.api import *  # noqa: F401,F403
from op2.api import __all__  # noqa: F401
