"""PyOP2's set operations on Sets and Subsets (``a.union(b)``, ``intersection``, ``difference``,
``symmetric_difference``), as PyOP2 defines them: a result that is all of the root set is that
set, an intersection with the root set is the other operand, anything else is a new Subset of
the root set. Numpy only; the native ``Set`` methods forward here. Never runs a loop."""

import numpy as np

from op2 import _op2


def _root(s):
    return s.superset if isinstance(s, _op2.Subset) else s


def _elements(s):
    if isinstance(s, _op2.Subset):
        return np.asarray(s.indices)
    return np.arange(s.total_size, dtype=np.int32)


def _check(a, b):
    if not isinstance(b, _op2.Set):
        raise TypeError(f"set operation of {a!r} with {b!r}: not a Set")
    root = _root(a)
    if _root(b) is not root:
        raise TypeError(f"set operation of {a!r} with {b!r}: not subsets of the same Set")
    return root


def union(a, b):
    root = _check(a, b)
    if not isinstance(a, _op2.Subset) or not isinstance(b, _op2.Subset):
        return root
    return _op2.Subset(root, np.union1d(a.indices, b.indices))


def intersection(a, b):
    _check(a, b)
    if not isinstance(a, _op2.Subset):
        return b
    if not isinstance(b, _op2.Subset):
        return a
    return _op2.Subset(_root(a), np.intersect1d(a.indices, b.indices))


def difference(a, b):
    root = _check(a, b)
    return _op2.Subset(root, np.setdiff1d(_elements(a), _elements(b)))


def symmetric_difference(a, b):
    root = _check(a, b)
    return _op2.Subset(root, np.setxor1d(_elements(a), _elements(b)))
