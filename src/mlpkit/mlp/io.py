"""The native model file: a ``.npz`` read and written without pickle.

Arrays ``W1, b1, ..., WL, bL`` plus ``header``: the UTF-8 bytes of a JSON object (as a uint8
array) with ``format`` ("mlpkit-mlp"), ``version`` (1), ``layer_sizes``, ``activations``,
``dtype``, ``mlpkit_version`` and ``metadata`` (any JSON: class labels, input normalisation...).
Loading never runs code and checks everything; any problem raises :class:`ModelFormatError`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .._version import __version__
from ..backends import ACTIVATION_ALIASES, ACTIVATIONS
from .model import MLP

FORMAT, VERSION = "mlpkit-mlp", 1


class ModelFormatError(ValueError):
    """A model file is unreadable, incomplete or inconsistent (the message says what)."""


def check_metadata(metadata: Any) -> dict:
    """``metadata`` if it is what a model file can hold - a JSON object (a dict with string keys)
    of JSON values without NaN or Inf - else ValueError saying what is wrong. ``save`` and
    ``load`` both use it, so a file that saves also loads."""
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a JSON object (a dict with string keys); received {type(metadata).__name__}")
    try:
        text = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be JSON-serialisable (no NaN or Inf); {exc}") from exc
    if json.loads(text) != metadata:  # e.g. integer or tuple keys, tuples: JSON would change them
        raise ValueError("metadata must survive JSON unchanged: string keys, lists rather than tuples")
    return metadata


def save(model: MLP, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``model`` and its metadata to ``path`` (``.npz``): ``metadata`` if given, else
    ``model.metadata`` (checked by :func:`check_metadata`)."""
    metadata = check_metadata(model.metadata if metadata is None else metadata)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "layer_sizes": list(model.layer_sizes),
        "activations": list(model.activations),
        "dtype": model.dtype,
        "mlpkit_version": __version__,
        "metadata": metadata,
    }
    blob = json.dumps(header, allow_nan=False).encode()
    with open(path, "wb") as f:  # an open file: np.savez would otherwise append ".npz"
        np.savez(f, header=np.frombuffer(blob, dtype=np.uint8), **model.params)


def read_header(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """The checked header and arrays of a model file (no model is built)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot be read ({exc})") from exc
    if magic != b"PK\x03\x04":  # np.load would take anything else for a pickle
        raise ModelFormatError(f"{path}: not a readable .npz model file (no zip signature)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):  # object arrays would need pickle
            raise ModelFormatError(f"{path}: holds data that only pickle could load; refused ({exc})") from exc
        raise ModelFormatError(f"{path}: not a readable .npz model file ({exc})") from exc
    except Exception as exc:  # damaged zips raise BadZipFile, NotImplementedError, zlib.error, ... (found by fuzzing)
        raise ModelFormatError(f"{path}: not a readable .npz model file ({type(exc).__name__}: {exc})") from exc
    if "header" not in arrays:
        raise ModelFormatError(f"{path}: no 'header' entry; not an mlpkit model file (keys: {sorted(arrays)})")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: the header is not valid UTF-8 JSON ({exc})") from exc
    _check_header(path, header, arrays)
    return header, arrays


def _check_header(path, header: Any, arrays: dict[str, np.ndarray]) -> None:
    def fail(message: str):
        raise ModelFormatError(f"{path}: {message}")

    if not isinstance(header, dict) or header.get("format") != FORMAT:
        fail(f"header format must be {FORMAT!r}; received {header.get('format') if isinstance(header, dict) else header!r}")
    if header.get("version") != VERSION:
        fail(f"format version {header.get('version')!r} is not supported (this mlpkit reads version {VERSION})")
    sizes, acts, dtype = header.get("layer_sizes"), header.get("activations"), header.get("dtype")
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(isinstance(s, int) and s > 0 for s in sizes)):
        fail(f"layer_sizes must be a list of at least two positive integers; received {sizes!r}")
    if not (isinstance(acts, list) and len(acts) == len(sizes) - 1):
        fail(f"activations must be a list of {len(sizes) - 1} names; received {acts!r}")
    known = set(ACTIVATIONS) | set(ACTIVATION_ALIASES)
    for a in acts:
        if a not in known:
            fail(f"unknown activation {a!r}; expected one of {sorted(known)}")
    if dtype not in ("float32", "float64"):
        fail(f"dtype must be 'float32' or 'float64'; received {dtype!r}")
    expected = {f"{k}{i}" for i in range(1, len(sizes)) for k in "Wb"}
    if set(arrays) != expected:
        fail(f"arrays must be exactly {sorted(expected)}; missing {sorted(expected - set(arrays))}, "
             f"unexpected {sorted(set(arrays) - expected)}")
    for i in range(1, len(sizes)):
        for key, shape in ((f"W{i}", (sizes[i - 1], sizes[i])), (f"b{i}", (sizes[i],))):
            a = arrays[key]
            if a.shape != shape:
                fail(f"{key} has shape {a.shape}; layer_sizes {sizes} require {shape}")
            if a.dtype != np.dtype(dtype):
                fail(f"{key} has dtype {a.dtype}; the header says {dtype}")
            if not np.isfinite(a).all():
                fail(f"{key} contains NaN or Inf")
    try:
        check_metadata(header.get("metadata", {}))
    except ValueError as exc:
        fail(str(exc))


def load(path: str | os.PathLike, backend: Any = None, dtype: Any = None) -> MLP:
    """The model saved at ``path``, on ``backend`` (default: the current choice), in its saved
    dtype unless ``dtype`` is given. Its metadata is in ``model.metadata``."""
    header, arrays = read_header(path)
    n = len(header["activations"])
    model = MLP.from_arrays(
        [arrays[f"W{i}"] for i in range(1, n + 1)],
        [arrays[f"b{i}"] for i in range(1, n + 1)],
        header["activations"],
        backend=backend,
        dtype=dtype or header["dtype"],
    )
    model.metadata = header.get("metadata", {})
    return model
