"""PyOP2's packing of mixed loop arguments: a MixedDat or mixed Mat argument reaches the kernel
as ONE array holding every block (PyOP2's convention), while op2's loops pass one array per
block (``MixedDat::arg_vec``, ``MixedMat::arg``).

``par_loop`` (called by the native ``par_loop`` when an argument is mixed) wraps the user's
kernel in a C function, generated once per kernel and argument layout, that takes op2's
per-block arrays, copies them into one local array per mixed argument (blocks in order; a
mixed Mat's element matrices at their row and column offsets of the packed element matrix,
absent blocks zero), calls the user's kernel and copies back every argument that is not READ.
The wrapped kernel goes through op2's class and disk caches as any kernel. Owns only the
wrapper's source; never touches data.
"""

import hashlib

import numpy as np

from op2 import _op2

_CTYPE = {np.dtype(t): c for t, c in [
    (np.float64, "double"), (np.float32, "float"), (np.int32, "int32_t"), (np.int64, "int64_t"),
    (np.uint32, "uint32_t"), (np.uint64, "uint64_t")]}

#: (kernel name, kernel code, layouts) -> the wrapped Kernel.
_wrapped = {}


def ctype(dtype):
    """The C type of a numpy dtype op2 supports."""
    try:
        return _CTYPE[np.dtype(dtype)]
    except KeyError:
        raise NotImplementedError(f"a mixed argument of dtype {dtype} is not supported") from None


def _dat(n, t, sizes, read):
    """Packing of a MixedDat argument `n`: blocks of `sizes` values of C type `t`."""
    const = "const " if read else ""
    params = [f"{const}{t} *a{n}_{k}" for k in range(len(sizes))]
    pre, post, off = [f"  {t} p{n}[{max(sum(sizes), 1)}];"], [], 0
    for k, s in enumerate(sizes):
        pre.append(f"  for (int q = 0; q < {s}; q++) p{n}[{off} + q] = a{n}_{k}[q];")
        if not read:
            post.append(f"  for (int q = 0; q < {s}; q++) a{n}_{k}[q] = p{n}[{off} + q];")
        off += s
    return params, pre, post


def _mat(n, rows, cols, present):
    """Packing of a mixed Mat argument `n`: element matrices rows[i] x cols[j] of the present
    blocks, row-major, inside one (sum rows) x (sum cols) element matrix."""
    nc = sum(cols)
    params, pre, post = [], [f"  double p{n}[{max(sum(rows) * nc, 1)}];",
                             f"  for (int q = 0; q < {sum(rows) * nc}; q++) p{n}[q] = 0.0;"], []
    ro = 0
    for i, r in enumerate(rows):
        co = 0
        for j, c in enumerate(cols):
            if present[i * len(cols) + j]:
                a = f"a{n}_{i}_{j}"
                params.append(f"double *{a}")
                at = f"p{n}[({ro} + r) * {nc} + {co} + c]"
                loop = f"  for (int r = 0; r < {r}; r++) for (int c = 0; c < {c}; c++) "
                pre.append(loop + f"{at} = {a}[r * {c} + c];")
                post.append(loop + f"{a}[r * {c} + c] = {at};")
            co += c
        ro += r
    return params, pre, post


def _wrapper(name, layouts):
    """C source of the wrapper of kernel `name` for `layouts` (None for a plain argument)."""
    params, body, post, call = [], [], [], []
    for n, lay in enumerate(layouts):
        if lay is None:
            params.append(f"const void *a{n}")
            call.append(f"(void *)a{n}")
            continue
        p, pre, out = _dat(n, *lay[1:]) if lay[0] == "dat" else _mat(n, *lay[1:])
        params += p
        body += pre
        post += out
        call.append(f"p{n}")
    digest = hashlib.sha1(repr(layouts).encode()).hexdigest()[:12]
    wname = f"{name}__op2_packed_{digest}"
    src = "\n".join([f"void {wname}({', '.join(params)})", "{", *body,
                     f"  {name}({', '.join(call)});", *post, "}", ""])
    return wname, src


def par_loop(kernel, iterset, *args, **kwargs):
    """``op2.par_loop`` with mixed arguments: the wrapped kernel over the blocks' arguments."""
    if kwargs.get("pass_layer_arg"):
        raise NotImplementedError("a loop with mixed arguments and pass_layer_arg=True is not supported")
    layouts, flat = [], []
    for a in args:
        if isinstance(a, _op2.Arg):
            layouts.append(None)
            flat.append(a)
            continue
        lay = a._pack
        layouts.append(lay)
        flat.extend(a._args)
    if not isinstance(kernel, _op2.Kernel):
        return _op2.par_loop(kernel, iterset, *flat, **kwargs)  # KernelTypeError
    key = (kernel.name, kernel.code, tuple(layouts))
    k = _wrapped.get(key)
    if k is None:
        wname, src = _wrapper(kernel.name, layouts)
        k = _wrapped[key] = _op2.Kernel(kernel.code + "\n" + src, wname)
    return _op2.par_loop(k, iterset, *flat, **kwargs)
