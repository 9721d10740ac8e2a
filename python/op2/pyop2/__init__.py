"""A PyOP2-compatible package on op2: the modules PyOP2's test files and users import
(``op2``, ``caching``, ``mpi``, ``compilation``, ``configuration``, ``exceptions``,
``datatypes``). ``install()`` registers it as ``pyop2`` so that ``from pyop2 import op2`` works.
Owns the name mapping only; the objects are op2's (``op2.api``)."""

import importlib
import sys

SUBMODULES = ("op2", "caching", "mpi", "compilation", "configuration", "exceptions", "datatypes")


def install():
    """Make ``import pyop2`` (and ``pyop2.<submodule>``) resolve to this package."""
    this = sys.modules[__name__]
    sys.modules["pyop2"] = this
    for name in SUBMODULES:
        mod = importlib.import_module(f"{__name__}.{name}")
        sys.modules[f"pyop2.{name}"] = mod
        setattr(this, name, mod)
    return this
