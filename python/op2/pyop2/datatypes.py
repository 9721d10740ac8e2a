"""PyOP2's ``pyop2.datatypes``: the index and scalar types and their C names."""

import numpy

IntType = numpy.dtype(numpy.int32)
ScalarType = numpy.dtype(numpy.float64)
RealType = numpy.dtype(numpy.float64)

_C = {"float64": "double", "float32": "float", "int32": "int32_t", "int64": "int64_t",
      "uint32": "uint32_t", "uint64": "uint64_t"}


def as_cstr(dtype):
    """The C type of a numpy dtype."""
    return _C[numpy.dtype(dtype).name]


def as_ctypes(dtype):
    import ctypes
    return {"float64": ctypes.c_double, "float32": ctypes.c_float, "int32": ctypes.c_int32,
            "int64": ctypes.c_int64, "uint32": ctypes.c_uint32,
            "uint64": ctypes.c_uint64}[numpy.dtype(dtype).name]
