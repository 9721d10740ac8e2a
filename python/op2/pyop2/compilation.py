"""PyOP2's ``pyop2.compilation``: op2 compiles every kernel through its own class and disk
caches (rank 0 compiles, every rank loads); PyOP2's direct ``load`` of C source is not offered."""


def load(*args, **kwargs):
    raise NotImplementedError(
        "pyop2.compilation.load: op2 compiles kernels only through par_loop (its class and disk caches)")


def clear_compiler_disk_cache(prompt=False):
    raise NotImplementedError("use `op2 cache clear` (op2's cache tool)")
