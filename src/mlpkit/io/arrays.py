"""The one record every model format reads into and writes from: plain arrays, no model object.

Keeping the formats to arrays keeps the layering one way: ``mlp`` builds an MLP from a
:class:`ModelArrays` and hands one to a writer; no format module imports ``mlp``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ModelArrays:
    """A dense network as a file holds it: ``weights[l]`` (in, out), ``biases[l]`` (out,), one
    activation name per layer, the metadata (a JSON object), and the dtype name to build it in
    (None: the arrays' own float32/float64)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activations: list[str]
    metadata: dict = field(default_factory=dict)
    dtype: str | None = None


def check_metadata(metadata: Any) -> dict:
    """``metadata`` if it is what a model file can hold - a JSON object (a dict with string keys)
    of JSON values without NaN or Inf - else ValueError saying what is wrong. Every writer and
    reader uses it, so a file that saves also loads."""
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a JSON object (a dict with string keys); received {type(metadata).__name__}")
    try:
        text = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be JSON-serialisable (no NaN or Inf); {exc}") from exc
    if json.loads(text) != metadata:  # e.g. integer or tuple keys, tuples: JSON would change them
        raise ValueError("metadata must survive JSON unchanged: string keys, lists rather than tuples")
    return metadata


def layer_arrays(arrays: dict, source: str) -> tuple[list, list]:
    """W1, b1, W2, b2, ... in order from a dict of arrays (native and classic weight files)."""
    n = 1
    while f"W{n}" in arrays:
        n += 1
    expected = {f"{k}{i}" for i in range(1, n) for k in "Wb"}
    if n == 1 or set(arrays) != expected:
        raise ValueError(f"{source}: expected arrays W1, b1, W2, b2, ...; found {sorted(arrays)}")
    return [arrays[f"W{i}"] for i in range(1, n)], [arrays[f"b{i}"] for i in range(1, n)]
