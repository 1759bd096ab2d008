"""Classic pickled weight dicts (``sample_weight.pkl`` and friends), read without running code.

The unpickler resolves only the globals a pickled dict of NumPy arrays needs (ndarray, dtype,
the array/scalar reconstructors, OrderedDict, and codecs.encode, a pure data transform that
protocol-2 pickles use for bytes); dicts, lists, tuples, strings and numbers need
none. Any other global - ``os.system``, ``builtins.eval``, a user class - is refused by name
before it is looked up, so nothing in the file is ever executed.
"""

from __future__ import annotations

import importlib
import pickle
from typing import Any

import numpy as np

ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # protocol-2 pickles carry array bytes as codecs.encode(text, "latin1")
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name}: only NumPy arrays and plain containers are allowed in weight pickles"
            )
        if module.startswith("numpy.core"):  # NumPy 2 moved numpy.core to numpy._core
            module = "numpy._core" + module[len("numpy.core"):]
        return getattr(importlib.import_module(module), name)


def load_weights(path: str) -> dict[str, np.ndarray]:
    """The dict of arrays in a classic weight pickle (keys W1, b1, W2, b2, ...)."""
    with open(path, "rb") as f:
        try:
            data = RestrictedUnpickler(f).load()
        except pickle.UnpicklingError:
            raise
        except Exception as exc:  # truncated or not a pickle
            raise pickle.UnpicklingError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, np.ndarray) for v in data.values()):
        raise pickle.UnpicklingError(f"{path}: expected a dict of NumPy arrays; received {type(data).__name__}")
    return {str(k): v for k, v in data.items()}
