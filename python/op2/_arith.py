"""Arithmetic on Dats and Globals (``g1 + g2``, ``d *= 2``, ``-g``), called by the native
classes' operators. Owns nothing else: results are new native objects, in-place forms write
through the writable views (which mark halo copies stale, as PyOP2)."""

import numpy as np

from op2 import _op2

_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide}


def _value(x):
    return x.data_ro if isinstance(x, (_op2.Dat, _op2.Global)) else x


def _empty_like(x):
    if isinstance(x, _op2.Global):
        return _op2.Global(x.dim, None, x.dtype, x.name)
    return _op2.Dat(x.dataset, None, x.dtype, x.name)


def binary(x, other, op, reflected=False):
    """``x op other`` (``other op x`` when reflected) as a new Dat or Global."""
    a, b = x.data_ro, _value(other)
    if reflected:
        a, b = b, a
    out = _empty_like(x)
    out.data[...] = _OPS[op](a, b)
    return out


def inplace(x, other, op):
    """``x op= other``: writes x's values."""
    d = x.data
    d[...] = _OPS[op](d, _value(other))
    return x


def neg(x):
    out = _empty_like(x)
    out.data[...] = -x.data_ro
    return out
