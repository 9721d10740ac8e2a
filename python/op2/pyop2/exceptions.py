"""PyOP2's exception classes. op2's errors are raised as these (``op2._op2`` maps them), with
op2's message unchanged. ``Op2Error``, ``Op2ValueError`` and ``Op2MpiError`` are op2's for
errors PyOP2 has no name for."""


class DataTypeError(TypeError):
    """Invalid type for data."""


class DimTypeError(TypeError):
    """Invalid type for dimension."""


class ArityTypeError(TypeError):
    """Invalid type for arity."""


class IndexTypeError(TypeError):
    """Invalid type for index."""


class NameTypeError(TypeError):
    """Invalid type for name."""


class SetTypeError(TypeError):
    """Invalid type for :class:`pyop2.op2.Set`."""


class SizeTypeError(TypeError):
    """Invalid type for size."""


class SubsetIndexOutOfBounds(TypeError):
    """Out of bound index."""


class SparsityTypeError(TypeError):
    """Invalid type for :class:`pyop2.op2.Sparsity`."""


class MapTypeError(TypeError):
    """Invalid type for :class:`pyop2.op2.Map`."""


class DataSetTypeError(TypeError):
    """Invalid type for :class:`pyop2.op2.DataSet`."""


class MatTypeError(TypeError):
    """Invalid type for :class:`pyop2.op2.Mat`."""


class DatTypeError(TypeError):
    """Invalid type for :class:`pyop2.op2.Dat`."""


class KernelTypeError(TypeError):
    """Invalid type for :class:`pyop2.op2.Kernel`."""


class DataValueError(ValueError):
    """Illegal value for data."""


class IndexValueError(ValueError):
    """Illegal value for index."""


class ModeValueError(ValueError):
    """Illegal value for mode."""


class IterateValueError(ValueError):
    """Illegal value for iterate."""


class SetValueError(ValueError):
    """Illegal value for :class:`pyop2.op2.Set`."""


class MapValueError(ValueError):
    """Illegal value for :class:`pyop2.op2.Map`."""


class ConfigurationError(RuntimeError):
    """Illegal configuration value or type."""


class CompilationError(RuntimeError):
    """Error during JIT compilation."""


class SparsityFormatError(ValueError):
    """Unable to produce a sparsity for this matrix format."""


class Op2Error(RuntimeError):
    """An op2 error PyOP2 has no name for (I/O, cache, load)."""


class Op2ValueError(ValueError):
    """An invalid argument PyOP2 has no name for."""


class Op2MpiError(RuntimeError):
    """Ranks disagreed, another rank failed, or MPI failed: every rank raises it together."""


class CachingError(ValueError):
    """A problem with a cache (PyOP2's name)."""


class HashError(CachingError):
    """Something that cannot be hashed into a cache key (a communicator)."""
