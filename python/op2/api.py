"""The ``op2`` namespace: PyOP2's classes and functions on op2's runtime.

The classes are the native ones of ``op2._op2`` (so ``s ** 2`` is an ``op2.DataSet``); their
arithmetic is in ``op2._arith``. This module owns the placeholders for what op2's core does not have yet
(Globals as DataSets, PETSc arguments: each raises NotImplementedError naming the feature). Nothing
here touches MPI or compiles code.
"""

import numpy as np

from op2 import _op2
from op2.pyop2.exceptions import IndexValueError, KernelTypeError
from op2._op2 import (  # noqa: F401
    READ, WRITE, RW, INC, MIN, MAX, Access, Arg, Kernel, par_loop,
)

__all__ = [
    "READ", "WRITE", "RW", "INC", "MIN", "MAX", "ALL", "ON_BOTTOM", "ON_TOP", "ON_INTERIOR_FACETS",
    "Access", "Arg", "Set", "DataSet", "Map", "Dat", "Global", "Constant", "Kernel", "par_loop",
    "parloop", "ParLoop", "Sparsity", "Mat", "Subset", "MixedSet", "MixedDataSet", "MixedMap", "MixedDat",
    "ExtrudedSet", "PermutedMap", "ComposedMap", "GlobalDataSet", "DatView",
    "PassthroughArg", "OpaqueType", "init", "exit", "configuration",
]

parloop = par_loop


class ParLoop:
    """PyOP2's ParLoop: a loop built now and run by ``compute()`` (or ``__call__``)."""

    def __init__(self, kernel, iterset, *args, **kwargs):
        if not isinstance(kernel, Kernel):
            raise KernelTypeError(f"ParLoop runs a Kernel, not {kernel!r}")
        _op2.check_args(iterset, *args)  # PyOP2 checks the sets when the loop is built
        self.kernel, self.iterset, self.args, self.kwargs = kernel, iterset, args, kwargs

    def compute(self):
        par_loop(self.kernel, self.iterset, *self.args, **self.kwargs)

    __call__ = compute


class _Region:
    """An iteration region of an extruded set (PyOP2's ALL, ON_BOTTOM, ...)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


ALL = _Region("ALL")
ON_BOTTOM = _Region("ON_BOTTOM")
ON_TOP = _Region("ON_TOP")
ON_INTERIOR_FACETS = _Region("ON_INTERIOR_FACETS")


Set = _op2.Set
DataSet = _op2.DataSet
from op2._maps import Map  # noqa: E402 (op2 Map, or a column map between ExtrudedSets)
Dat = _op2.Dat
Global = _op2.Global
Constant = _op2.Global
from op2._mixedmat import Sparsity, Mat  # noqa: E402 (plain or mixed, op2/_mixedmat.py)
Subset = _op2.Subset
ExtrudedSet = _op2.ExtrudedSet
from op2._mixed import MixedSet, MixedDataSet, MixedMap, MixedDat  # noqa: E402
from op2._maps import PermutedMap, ComposedMap  # noqa: E402


class DatView:
    """One component of a Dat of dim > 1, as a Dat of dim 1 (PyOP2's ``DatView(dat, index)``).

    ``index`` is an int (the flat component) or a tuple indexing the Dat's dim. Its ``data``
    arrays are numpy views of the Dat's own arrays (no copy: writing them writes the Dat and
    marks its halo copies stale), and ``view(access, map)`` is a par_loop argument through
    op2's ``DatView`` (the kernel sees one value per element or map entry).
    """

    def __init__(self, dat, index):
        dim = tuple(dat.dim)
        idx = index if isinstance(index, tuple) else (index,)
        if len(idx) == 1 and len(dim) > 1:
            idx = tuple(int(i) for i in np.unravel_index(idx[0], dim))
        if len(idx) != len(dim) or any(not 0 <= i < d for i, d in zip(idx, dim)):
            raise IndexValueError(f"Can't create DatView with index {index} for Dat with shape {dim}")
        self._parent, self.index = dat, index
        self._component = int(np.ravel_multi_index(idx, dim))
        self.name = f"{dat.name}_view"

    def _of(self, a):
        return a.reshape(a.shape[0], -1)[:, self._component]

    data = property(lambda self: self._of(self._parent.data))
    data_ro = property(lambda self: self._of(self._parent.data_ro))
    data_with_halos = property(lambda self: self._of(self._parent.data_with_halos))
    data_ro_with_halos = property(lambda self: self._of(self._parent.data_ro_with_halos))
    dat_version = property(lambda self: self._parent.dat_version)
    dtype = property(lambda self: self._parent.dtype)
    dataset = property(lambda self: self._parent.dataset.set ** 1)
    cdim = 1
    dim = (1,)

    halo_valid = property(lambda self: self._parent.halo_valid,
                          lambda self, v: setattr(self._parent, "halo_valid", v))

    def zero(self, subset=None):
        """Zero the component, halo copies included (so, as PyOP2, the halos are valid)."""
        if subset is not None:
            raise NotImplementedError("DatView.zero(subset=...)")
        self._of(self._parent.data_with_halos)[:] = 0
        self._parent.halo_valid = True

    def __call__(self, access, path=None):
        return self._parent._view_arg(self._component, access, path)

    def __repr__(self):
        return f"DatView({self._parent!r}, {self.index!r})"


def _missing(feature, needs):
    class Missing:
        __doc__ = f"Placeholder: {feature} needs {needs} (not yet in op2's core)."

        def __init__(self, *args, **kwargs):
            raise NotImplementedError(f"op2.{feature}: needs {needs}, which op2's core does not have yet")

    Missing.__name__ = Missing.__qualname__ = feature
    return Missing


GlobalDataSet = _missing("GlobalDataSet", "Globals as DataSets")
PassthroughArg = _missing("PassthroughArg", "opaque (PETSc) par_loop arguments")
OpaqueType = _missing("OpaqueType", "opaque (PETSc) par_loop arguments")

configuration = {"compiler": "cc (op2's configured C compiler)", "debug": False}


def init(**kwargs):
    """PyOP2's ``op2.init``: op2 starts at import; accepted and ignored."""


def exit():
    """PyOP2's ``op2.exit``: op2 ends at interpreter exit; accepted and ignored."""
