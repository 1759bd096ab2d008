"""Validation of model definitions and of inputs, with messages that say expected vs received."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..backends import activation_name, dtype_name

NUMERIC_KINDS = "fiu"  # float, signed and unsigned integer (uint8 images included)


def layer_sizes(sizes: Any) -> tuple[int, ...]:
    """Check ``(n_in, hidden..., n_out)``: at least two positive integers."""
    try:
        out = tuple(int(s) for s in sizes)
        ok = len(out) >= 2 and all(o == s and o > 0 for o, s in zip(out, sizes))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            "layer_sizes must be a sequence of at least two positive integers such as (784, 50, 10); "
            f"received {sizes!r}"
        )
    return out


def _host_array(a: Any, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(f"{what} must be a real numeric array; received dtype {arr.dtype}")
    return arr


def network_arrays(
    weights: Sequence[Any], biases: Sequence[Any], activations: Sequence[str], dtype: Any
) -> tuple[list[np.ndarray], list[np.ndarray], list[str], str]:
    """Check a layer list (W_i (in, out), b_i (out,), one activation per layer) and cast it.

    ``dtype=None`` keeps the weights' own float32/float64 (float64 if they mix). Returns host
    copies, C-contiguous, in the chosen dtype.
    """
    if isinstance(activations, str):
        raise TypeError(f"activations must be a sequence with one name per layer; received the string {activations!r}")
    weights, biases, activations = list(weights), list(biases), list(activations)
    if not weights or not (len(weights) == len(biases) == len(activations)):
        raise ValueError(
            "weights, biases and activations must be non-empty and of equal length (one per layer); "
            f"received {len(weights)}, {len(biases)} and {len(activations)}"
        )
    Ws = [_host_array(W, f"weights[{i}]") for i, W in enumerate(weights)]
    bs = [_host_array(b, f"biases[{i}]") for i, b in enumerate(biases)]
    acts = [activation_name(a) for a in activations]
    for i, (W, b) in enumerate(zip(Ws, bs)):
        if W.ndim != 2 or W.shape[0] == 0 or W.shape[1] == 0:
            raise ValueError(f"weights[{i}] must be a non-empty 2-D array of shape (in, out); received shape {W.shape}")
        if b.shape != (W.shape[1],):
            raise ValueError(
                f"biases[{i}] must have shape ({W.shape[1]},) to match weights[{i}] of shape {W.shape}; "
                f"received shape {b.shape}"
            )
        if i and W.shape[0] != Ws[i - 1].shape[1]:
            raise ValueError(
                f"weights[{i}] must have {Ws[i - 1].shape[1]} rows, the output width of weights[{i - 1}] "
                f"{Ws[i - 1].shape}; received shape {W.shape}"
            )
    if dtype is None:
        found = np.result_type(*Ws, *bs)
        if found.name not in ("float32", "float64"):
            raise ValueError(f"cannot infer the model dtype from arrays of dtype {found}; pass dtype='float32' or 'float64'")
        dtype = found.name
    dtype = dtype_name(dtype)
    Ws = [np.array(W, dtype=dtype, order="C") for W in Ws]  # copies: the caller's arrays stay theirs
    bs = [np.array(b, dtype=dtype, order="C") for b in bs]
    for name, arrays in (("weights", Ws), ("biases", bs)):
        for i, a in enumerate(arrays):
            if not np.isfinite(a).all():
                raise ValueError(f"{name}[{i}] contains NaN or Inf (in {dtype}); all parameters must be finite")
    return Ws, bs, acts, dtype


def input_array(x: Any, n_features: int) -> Any:
    """Check a predict input: 1-D (n_features,) or 2-D (batch >= 1, n_features), real numeric.

    Returns ``x`` itself when it already has ``shape``/``dtype`` (NumPy or a backend array),
    else ``np.asarray(x)``; casting to the model dtype is the backend's job.
    """
    if type(x) is np.ndarray and x.dtype.kind in NUMERIC_KINDS:  # the common case, in ~0.1 us
        shape = x.shape
        if (len(shape) == 1 and shape[0] == n_features) or (len(shape) == 2 and shape[1] == n_features and shape[0]):
            return x
    if isinstance(x, np.ma.MaskedArray):
        if np.ma.is_masked(x):
            raise ValueError("input is a masked array with masked values, which predict cannot honour: "
                             "fill them (x.filled(value)) or drop those rows")
        x = x.data
    # an array of the backend (NumPy dtype) passes as is; anything else (pandas nullable columns,
    # tensors of other libraries, lists) goes through np.asarray, so its real dtype is checked
    arr = x if isinstance(getattr(x, "dtype", None), np.dtype) and hasattr(x, "shape") else np.asarray(x)
    if arr.dtype.kind not in NUMERIC_KINDS:
        hint = " (missing values, e.g. pandas NA, give object arrays: fill or drop them)" if arr.dtype.kind == "O" else ""
        raise TypeError(f"input must be a real numeric array (float or integer); received dtype {arr.dtype}{hint}")
    shape = arr.shape
    if len(shape) not in (1, 2):
        raise ValueError(
            f"input must be 1-D ({n_features},) or 2-D (batch, {n_features}); received {len(shape)}-D shape {shape}"
        )
    if shape[-1] != n_features:
        raise ValueError(
            f"input has {shape[-1]} features but the model expects {n_features}: expected shape "
            f"({n_features},) or (batch, {n_features}); received shape {shape}"
        )
    if len(shape) == 2 and shape[0] == 0:
        raise ValueError(f"input is an empty batch: expected at least one row of {n_features} features; received shape {shape}")
    return arr


def positive_int(value: Any, name: str, or_none: bool = False) -> int:
    """``value`` as an int if it is a positive integer (not a bool); else ValueError naming ``name``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise ValueError(f"{name} must be a positive integer{' or None' if or_none else ''}; received {value!r}")


def batch_size(value: Any, default: int) -> int:
    """A chunk length for batched prediction: a positive integer, or None for ``default``."""
    return default if value is None else positive_int(value, "batch_size", or_none=True)


def first_non_finite(x: np.ndarray) -> tuple[int, ...]:
    """Index of the first NaN/Inf in x (only called once a check has failed)."""
    return tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])


def input_divisor(value: Any, what: str = "input_divisor") -> float:
    """A finite number > 0 (what integer inputs are divided by), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 < value < np.inf:
        raise ValueError(f"{what} must be a finite number > 0 (e.g. 255 for raw pixels) or None; received {value!r}")
    return float(value)
