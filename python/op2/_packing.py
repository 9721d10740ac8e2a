"""PyOP2's packing of a MixedDat argument: the kernel gets one array holding every block.

op2's loops pass a MixedDat argument ``mdat(access, mmap)`` as one argument per block (op2's
``MixedDat::arg_vec``: block ``i`` through ``mmap.split[i]``, ``arity_i * dim_i`` values).
PyOP2's kernels take the blocks packed, in order, into one array. :func:`packed_kernel` makes
the kernel that bridges the two: a C function (the *packing shim*, appended to the user's
code, with the kernel's own flags, so it shares op2's class and disk caches like any kernel)
taking op2's per-block pointers, copying the blocks into one local array, calling the user's
kernel with it, and, unless the access is READ, copying the array back into the blocks (op2
then adds, stores or reduces them as for any argument). Plain arguments pass through with the
types the user's kernel declares. ``par_loop`` (``python/src/loops.rs``) calls it only when a
MixedDat argument is present; shims are kept per kernel object and layout. Never compiles
anything itself nor touches MPI.
"""

import re

import numpy as np

from op2 import _op2

_C_TYPES = {np.dtype(np.float64): "double", np.dtype(np.float32): "float",
            np.dtype(np.int32): "int32_t", np.dtype(np.int64): "int64_t",
            np.dtype(np.uint32): "uint32_t", np.dtype(np.uint64): "uint64_t"}

# (id(kernel), layout) -> (kernel, shim kernel); the kernel is kept so that its id is not reused.
_SHIMS = {}
_MAX_SHIMS = 256


class MixedArg:
    """``mdat(access, mmap)``: the per-block op2 arguments ``par_loop`` passes in order
    (``_args``) and the layout PyOP2's packing needs: the blocks' C type, their sizes (values
    per loop element) and whether the access is READ."""

    def __init__(self, args, dtype, sizes, access):
        self._args = tuple(args)
        self._layout = (_C_TYPES[np.dtype(dtype)], tuple(int(n) for n in sizes), access is _op2.READ)


def packed_kernel(kernel, args):
    """The kernel a loop runs for ``args``: ``kernel`` itself when no argument is a MixedDat's,
    else its packing shim (cached)."""
    layout = []
    for a in args:
        if isinstance(a, MixedArg):
            layout.append(a._layout)
        elif isinstance(a, _op2.Arg):
            layout.append(None)
        else:
            return kernel  # par_loop reports the bad argument
    if not isinstance(kernel, _op2.Kernel) or all(x is None for x in layout):
        return kernel
    key = (id(kernel), tuple(layout))
    hit = _SHIMS.get(key)
    if hit is not None and hit[0] is kernel:
        return hit[1]
    name = f"{kernel.name}_op2_packed"
    shim = kernel._with_code(_shim(kernel, name, layout), name)
    if len(_SHIMS) >= _MAX_SHIMS:
        _SHIMS.pop(next(iter(_SHIMS)))
    _SHIMS[key] = (kernel, shim)
    return shim


def _params(code, name):
    """The parameter declarations of function ``name`` in ``code`` (comments removed), or
    None when they cannot be read."""
    code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", code, flags=re.S)
    for m in re.finditer(r"\b%s\s*\(" % re.escape(name), code):
        depth, i = 1, m.end()
        while i < len(code) and depth:
            depth += {"(": 1, ")": -1}.get(code[i], 0)
            i += 1
        if code[i:].lstrip().startswith("{"):
            inner = code[m.end():i - 1]
            parts, depth, cur = [], 0, ""
            for ch in inner:
                if ch == "," and depth == 0:
                    parts.append(cur)
                    cur = ""
                    continue
                depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(ch, 0)
                cur += ch
            parts.append(cur)
            return [p.strip() for p in parts if p.strip() and p.strip() != "void"]
    return None


def _renamed(decl, new):
    """Declaration ``decl`` (``const double *restrict x``, ``double A[3][3]``) naming ``new``."""
    m = re.search(r"([A-Za-z_]\w*)(\s*(\[[^\]]*\]\s*)*)$", decl)
    return decl[:m.start(1)] + new + m.group(2) if m else None


def _shim(kernel, name, layout):
    declared = _params(kernel.code, kernel.name)
    if declared is not None and len(declared) != len(layout):
        declared = None  # the call's typed check reports the count
    params, before, call, after = [], [], [], []
    for i, entry in enumerate(layout):
        if entry is None:
            decl = declared and _renamed(declared[i], f"a{i}")
            params.append(decl or f"void *a{i}")
            call.append(f"a{i}")
            continue
        ctype, sizes, read = entry
        const = "const " if read else ""
        offset = 0
        before.append(f"  {ctype} p{i}[{sum(sizes)}];")
        for j, n in enumerate(sizes):
            params.append(f"{const}{ctype} *a{i}_{j}")
            before.append(f"  for (int k = 0; k < {n}; k++) p{i}[{offset} + k] = a{i}_{j}[k];")
            if not read:
                after.append(f"  for (int k = 0; k < {n}; k++) a{i}_{j}[k] = p{i}[{offset} + k];")
            offset += n
        call.append(f"p{i}")
    return "\n".join([f"static void {name}({', '.join(params)})", "{", *before,
                      f"  {kernel.name}({', '.join(call)});", *after, "}", ""])
