"""PyOP2's ``pyop2.configuration``: a dict of settings. op2 reads its own settings from
``OP2_*`` variables at start (README's table); the keys here are PyOP2's, accepted so that
code setting them runs, and reported back. ``target`` is op2's code target (C)."""

import os

from op2.pyop2.exceptions import ConfigurationError


class Configuration(dict):
    """PyOP2's configuration keys with their defaults; ``PYOP2_<KEY>`` overrides at start."""

    DEFAULTS = {
        "cc": "cc", "cxx": "c++", "cflags": "", "ldflags": "", "simd_width": 4,
        "debug": False, "compute_kernel_flops": False, "type_check": True,
        "check_src_hashes": True, "log_level": "WARNING", "cache_dir": os.environ.get("OP2_CACHE_DIR", ""),
        "node_local_compilation": True, "no_fork_available": False, "print_cache_info": False,
        "matnest": True, "block_sparsity": True, "spmd_strict": False,
    }

    def __init__(self):
        super().__init__(self.DEFAULTS)
        for key, default in self.DEFAULTS.items():
            env = os.environ.get(f"PYOP2_{key.upper()}")
            if env is not None:
                try:
                    self[key] = type(default)(env) if not isinstance(default, bool) else env.lower() in ("1", "true", "yes")
                except ValueError as e:
                    raise ConfigurationError(f"PYOP2_{key.upper()}={env!r}: {e}") from None

    def reset(self):
        self.clear()
        self.update(self.DEFAULTS)

    def reconfigure(self, **kwargs):
        for k, v in kwargs.items():
            self[k] = v

    def unsafe_reconfigure(self, **kwargs):
        self.reconfigure(**kwargs)

    def __setitem__(self, key, value):
        if key in self.DEFAULTS and not isinstance(value, type(self.DEFAULTS[key])) and \
                not (isinstance(self.DEFAULTS[key], (int, float)) and isinstance(value, (int, float))):
            raise ConfigurationError(f"configuration[{key!r}] takes a {type(self.DEFAULTS[key]).__name__}, not {value!r}")
        super().__setitem__(key, value)


configuration = Configuration()
target = "c"
