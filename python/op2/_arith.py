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


def _blocks(x):
    """The Dats of a Dat or MixedDat."""
    return (x,) if isinstance(x, _op2.Dat) else tuple(x)


def axpy(y, alpha, x):
    """PyOP2's ``y.axpy(alpha, x)``: ``y += alpha * x`` on the owned values."""
    if not np.isscalar(alpha):
        raise TypeError("alpha must be a scalar")
    ys, xs = _blocks(y), _blocks(x)
    if len(ys) != len(xs) or any(a.data_ro.shape != b.data_ro.shape for a, b in zip(ys, xs)):
        raise ValueError(f"axpy: {x!r} does not have the shape of {y!r}")
    for a, b in zip(ys, xs):
        a.data[...] += alpha * b.data_ro


def maxpy(y, scalars, xs):
    """PyOP2's ``y.maxpy(scalars, xs)``: one axpy per pair."""
    if len(scalars) != len(xs):
        raise ValueError("maxpy: as many scalars as Dats are needed")
    for alpha, x in zip(scalars, xs):
        axpy(y, alpha, x)


def save(x, filename):
    """PyOP2's ``save``: the owned values in NumPy's format (``np.save``)."""
    np.save(filename, x.data_ro)


def load(x, filename):
    """PyOP2's ``load``: values written by ``save`` (``.npy`` added as ``np.save`` does)."""
    if not filename.endswith(".npy"):
        filename += ".npy"
    values = np.load(filename)
    if isinstance(x, _op2.Dat):
        x.data[...] = values
    else:
        for d, v in zip(x, values):
            d.data[...] = v
