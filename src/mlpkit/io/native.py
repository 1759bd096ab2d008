"""The native model file: a ``.npz`` read and written without pickle.

Arrays ``W1, b1, ..., WL, bL`` plus ``header``: the UTF-8 bytes of a JSON object (as a uint8
array) with ``format`` ("mlpkit-mlp"), ``version`` (1), ``layer_sizes``, ``activations``,
``dtype``, ``mlpkit_version`` and ``metadata`` (any JSON: class labels, input normalisation...).
Loading never runs code and checks everything; any problem raises :class:`ModelFormatError`.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from .._version import __version__
from ..backends import ACTIVATION_ALIASES, ACTIVATIONS
from .arrays import ModelArrays, check_metadata

FORMAT, VERSION = "mlpkit-mlp", 1


class ModelFormatError(ValueError):
    """A model file is unreadable, incomplete or inconsistent (the message says what)."""


def write(path: str | os.PathLike, model: ModelArrays) -> None:
    """Write ``model`` (its arrays, activations, dtype and metadata, checked by
    :func:`~mlpkit.io.arrays.check_metadata` before anything is written) to ``path`` (``.npz``)."""
    metadata = check_metadata(model.metadata)
    dtype = model.dtype or np.dtype(model.weights[0].dtype).name
    header = {
        "format": FORMAT,
        "version": VERSION,
        "layer_sizes": [int(model.weights[0].shape[0])] + [int(W.shape[1]) for W in model.weights],
        "activations": list(model.activations),
        "dtype": dtype,
        "mlpkit_version": __version__,
        "metadata": metadata,
    }
    blob = json.dumps(header, allow_nan=False).encode()
    params = {f"{k}{i}": a for i, pair in enumerate(zip(model.weights, model.biases), start=1) for k, a in zip("Wb", pair)}
    with open(path, "wb") as f:  # an open file: np.savez would otherwise append ".npz"
        np.savez(f, header=np.frombuffer(blob, dtype=np.uint8), **params)


#: The header is a small JSON object: a larger header member is refused before it is read.
MAX_HEADER_BYTES = 1 << 20
#: Deflate cannot expand more than ~1032:1; a member declaring more is refused unread.
MAX_DEFLATE_RATIO = 1100
_READ_CHUNK = 1 << 22


def read_header(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """The checked header and arrays of a model file (no model is built).

    Memory is bounded by what the header's layer sizes require: the header member is read first
    (at most :data:`MAX_HEADER_BYTES`) and checked; then only the members it names are read,
    each after its ``.npy`` header and its size in the zip directory match the shape and dtype
    the model header requires, and no member declaring more than deflate can produce from its
    compressed bytes. Members the header does not name are refused unread."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot be read ({exc})") from exc
    if magic != b"PK\x03\x04":  # np.load would take anything else for a pickle
        raise ModelFormatError(f"{path}: not a readable .npz model file (no zip signature)")
    try:
        with zipfile.ZipFile(path) as zf:
            return _read_members(path, zf)
    except ModelFormatError:
        raise
    except Exception as exc:  # damaged zips raise BadZipFile, NotImplementedError, zlib.error, EOFError... (found by fuzzing)
        raise ModelFormatError(f"{path}: not a readable .npz model file ({type(exc).__name__}: {exc})") from exc


def is_model_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a zip holding an mlpkit header (else a bare-weights .npz or not a zip)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "header.npy" in zf.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def read_bare_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``W1, b1, W2, ...`` of a ``.npz`` of bare weights (no header: the classic from-scratch
    files), read with the model loader's bounds: only members named W<i>/b<i>, each a 1-D or 2-D
    real-number array whose zip size matches its .npy header before anything is allocated."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            bad = [n for n in names if not (n.endswith(".npy") and n[:1] in "Wb" and n[1:-4].isdigit())]
            if bad or not names:
                raise ModelFormatError(f"{path}: a bare-weights .npz holds only W1, b1, W2, ...; found {sorted(names)[:20]}")
            return {i.filename[:-4]: _read_npy(path, zf, i, None, None, None, "") for i in infos}
    except ModelFormatError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, OSError, ...
        raise ModelFormatError(f"{path}: not a readable .npz of weights ({type(exc).__name__}: {exc})") from exc


def _read_members(path, zf: zipfile.ZipFile) -> tuple[dict, dict[str, np.ndarray]]:
    def fail(message: str):
        raise ModelFormatError(f"{path}: {message}")

    infos = {info.filename: info for info in zf.infolist()}
    if len(infos) != len(zf.infolist()):
        fail("the zip holds two members of the same name")
    if "header.npy" not in infos:
        fail(f"no 'header' entry; not an mlpkit model file (members: {sorted(infos)[:20]})")
    raw = _read_npy(path, zf, infos["header.npy"], None, np.dtype(np.uint8), MAX_HEADER_BYTES, "")
    try:
        header = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, or an int too long to parse
        fail(f"the header is not valid UTF-8 JSON ({type(exc).__name__}: {str(exc)[:200]})")
    sizes, dtype = _check_header_fields(path, header)
    expected = {f"{k}{i}.npy": (shape, np.dtype(dtype)) for i in range(1, len(sizes))
                for k, shape in (("W", (sizes[i - 1], sizes[i])), ("b", (sizes[i],)))}
    names = set(infos) - {"header.npy"}
    if names != set(expected):
        strip = lambda names: sorted(n[:-4] if n.endswith(".npy") else n for n in names)  # noqa: E731
        fail(f"arrays must be exactly {strip(expected)}; missing {strip(set(expected) - names)}, "
             f"unexpected {strip(names - set(expected))[:20]}")
    arrays = {}
    for name, (shape, dt) in expected.items():
        a = _read_npy(path, zf, infos[name], shape, dt, None, f"layer_sizes {sizes} require", header["dtype"])
        if not np.isfinite(a).all():
            fail(f"{name[:-4]} contains NaN or Inf")
        arrays[name[:-4]] = a
    return header, arrays


def _read_npy(path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape, dtype: np.dtype, max_bytes: int | None,
              why: str, header_dtype: str = "") -> np.ndarray:
    """One ``.npy`` member (C or Fortran order) whose header must say ``dtype`` and ``shape`` (None: any 1-D
    shape of at most ``max_bytes``; ``dtype`` None too: any 1-D or 2-D float or integer array);
    its zip size must match exactly before anything is allocated. ``why`` names the requirement
    in messages."""
    name = info.filename[:-4]

    def fail(message: str):
        raise ModelFormatError(f"{path}: {name} {message}")

    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        fail(f"compressed with method {info.compress_type}; only stored or deflated members are read")
    if info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1) + 4096:
        fail(f"declares {info.file_size:,} bytes from {info.compress_size:,} compressed: more than deflate can produce")
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            got_shape, fortran, got_dtype = read(f, max_header_size=10000)
        except ValueError as exc:
            fail(f"is not a .npy array ({exc})")
        if got_dtype.hasobject:
            fail(f"holds data that only pickle could load; refused (dtype {got_dtype})")
        if dtype is None:  # bare weights: any real-number array of rank 1 or 2
            if got_dtype.kind not in "fiu" or got_dtype.fields is not None or len(got_shape) not in (1, 2):
                fail(f"is a {len(got_shape)}-D {got_dtype} array; expected a 1-D or 2-D array of numbers")
            dtype, shape, max_bytes = got_dtype, tuple(got_shape), None
        if got_dtype != dtype:
            fail(f"has dtype {got_dtype}; the header says {header_dtype}" if header_dtype else f"has dtype {got_dtype}; expected {dtype}")
        if shape is None:
            if len(got_shape) != 1 or (max_bytes is not None and got_shape[0] * dtype.itemsize > max_bytes):
                fail(f"has shape {got_shape}; expected a 1-D array of at most {max_bytes:,} bytes")
            shape = got_shape
        elif tuple(got_shape) != tuple(shape):
            fail(f"has shape {tuple(got_shape)}; {why} {tuple(shape)}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if info.file_size != f.tell() + nbytes:
            fail(f"the zip says {info.file_size:,} bytes; a .npy of shape {tuple(shape)} {dtype} is {f.tell() + nbytes:,}")
        out = np.empty(nbytes, dtype=np.uint8)
        view, done = memoryview(out), 0
        while done < nbytes:
            got = f.readinto(view[done : done + _READ_CHUNK])
            if not got:
                fail(f"ends after {done:,} of {nbytes:,} data bytes")
            done += got
        if f.read(1):
            fail("holds more bytes than its .npy header says")
    # a Fortran-order member (the classic sample_weight.npz is one) is read as such, then laid out C-contiguous
    return np.ascontiguousarray(out.view(dtype).reshape(shape, order="F" if fortran else "C"))


def _check_header_fields(path, header: Any) -> tuple[list[int], str]:
    """Check the header's own fields (before any array is read); (layer_sizes, dtype)."""
    def fail(message: str):
        raise ModelFormatError(f"{path}: {message}")

    if not isinstance(header, dict) or header.get("format") != FORMAT:
        fail(f"header format must be {FORMAT!r}; received {str(header.get('format') if isinstance(header, dict) else header)[:100]!r}")
    if header.get("version") != VERSION:
        fail(f"format version {repr(header.get('version'))[:50]} is not supported (this mlpkit reads version {VERSION})")
    sizes, acts, dtype = header.get("layer_sizes"), header.get("activations"), header.get("dtype")
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(type(s) is int and 0 < s < 1 << 31 for s in sizes)):
        fail(f"layer_sizes must be a list of at least two positive integers; received {str(sizes)[:200]}")
    if not (isinstance(acts, list) and len(acts) == len(sizes) - 1):
        fail(f"activations must be a list of {len(sizes) - 1} names; received {str(acts)[:200]}")
    known = set(ACTIVATIONS) | set(ACTIVATION_ALIASES)
    for a in acts:
        if not isinstance(a, str) or a not in known:
            fail(f"unknown activation {repr(a)[:50]}; expected one of {sorted(known)}")
    if dtype not in ("float32", "float64"):
        fail(f"dtype must be 'float32' or 'float64'; received {str(dtype)[:50]!r}")
    try:
        check_metadata(header.get("metadata", {}))
    except ValueError as exc:
        fail(str(exc)[:300])
    return sizes, dtype


def read(path: str | os.PathLike) -> ModelArrays:
    """The checked arrays, activations, dtype and metadata of the model file at ``path``."""
    header, arrays = read_header(path)
    n = len(header["activations"])
    return ModelArrays([arrays[f"W{i}"] for i in range(1, n + 1)], [arrays[f"b{i}"] for i in range(1, n + 1)],
                       list(header["activations"]), header.get("metadata", {}), header["dtype"])
