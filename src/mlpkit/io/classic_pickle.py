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

class _PendingArray:
    """Stands in for ``numpy.core.multiarray._reconstruct(ndarray, shape, dtype)``: the real one
    allocates an array of the pickled shape, uninitialised, before the pickle's BUILD fills it,
    so a pickle could make ``load`` allocate any size (a 161-byte file: 1.3 GB) or, leaving out
    the BUILD, hand back heap contents as weights. This one allocates nothing until
    :meth:`__setstate__` brings the bytes, and checks them against shape and dtype first."""

    array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError(f"an array's pickled state must be (version, shape, dtype, fortran, data); received {type(state).__name__}")
        _, shape, dtype, fortran, data = state
        dtype = _plain_dtype(dtype)
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise pickle.UnpicklingError(f"an array's shape must be a tuple of sizes; received {shape!r}")
        if isinstance(data, str):  # protocol 0/1 strings hold the bytes as latin-1 text
            data = data.encode("latin1")
        if not isinstance(data, (bytes, bytearray)):
            raise pickle.UnpicklingError(f"an array's data must be bytes; received {type(data).__name__}")
        count = int(np.prod(shape, dtype=np.int64))
        if len(data) != count * dtype.itemsize:
            raise pickle.UnpicklingError(f"an array of shape {shape} {dtype} needs {count * dtype.itemsize:,} bytes; the pickle holds {len(data):,}")
        flat = np.frombuffer(bytes(data), dtype=dtype)
        self.array = (flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)).copy()


def _plain_dtype(dtype: Any) -> np.dtype:
    """A NumPy dtype that holds plain numbers (bool, integer, float), else UnpicklingError:
    fields, sub-arrays and objects are refused."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise pickle.UnpicklingError(f"not a NumPy dtype: {dtype!r}") from exc
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"refused dtype {dtype}: only plain numeric arrays are read from weight pickles")
    return dtype


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> _PendingArray:
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"refused to reconstruct {cls!r}: only numpy.ndarray")
    return _PendingArray()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    """numpy's protocol-5 array reconstructor, with the dtype checked and the bytes copied."""
    dtype = _plain_dtype(dtype)
    data = bytes(buf)
    count = int(np.prod(shape, dtype=np.int64)) if isinstance(shape, tuple) else -1
    if count < 0 or len(data) != count * dtype.itemsize:
        raise pickle.UnpicklingError(f"an array of shape {shape!r} {dtype} does not match its {len(data):,} bytes")
    flat = np.frombuffer(data, dtype=dtype)
    return (flat.reshape(shape[::-1]).T if order == "F" else flat.reshape(shape)).copy()


#: What each allowed global resolves to: the array constructors are mlpkit's checked stand-ins.
_SAFE = {"_reconstruct": _reconstruct, "_frombuffer": _frombuffer}

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
        if name in _SAFE:
            return _SAFE[name]
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
    if not isinstance(data, dict):
        raise pickle.UnpicklingError(f"{path}: expected a dict of NumPy arrays; received {type(data).__name__}")
    out = {}
    for key, value in data.items():
        if isinstance(value, _PendingArray):
            if value.array is None:
                raise pickle.UnpicklingError(f"{path}: array {key!r} was never filled (its pickle has no data for it)")
            value = value.array
        if not isinstance(value, np.ndarray):
            raise pickle.UnpicklingError(f"{path}: expected a dict of NumPy arrays; {key!r} is a {type(value).__name__}")
        _plain_dtype(value.dtype)
        out[str(key)] = value
    return out
