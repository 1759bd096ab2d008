"""Which reader a model file needs, from its name and its first bytes: the one dispatch the CLI
(and ``mlpkit.mlp.files.load_any``) uses."""

from __future__ import annotations

import os
from typing import Sequence

from . import native
from .arrays import ModelArrays, layer_arrays



def read_any(path: str | os.PathLike, activations: Sequence[str] | None = None) -> ModelArrays:
    """The network in a native ``.npz``, an ``.onnx`` file, a classic ``.pkl`` weight dict or a
    classic ``.npz`` of W1, b1, ... (the last two hold no activations: give ``activations``, one
    name per layer). Anything else raises ValueError naming the suffixes read."""
    path = os.fspath(path)
    if path.endswith(".onnx"):
        from . import onnx

        return onnx.read(path)
    if path.endswith((".pkl", ".pickle")):
        from .classic_pickle import load_weights

        arrays = load_weights(path)
    elif path.endswith(".npz"):
        if native.is_model_file(path) or not os.path.isfile(path):
            return native.read(path)  # the native reader says what is wrong
        arrays = native.read_bare_arrays(path)
    else:
        raise ValueError(f"{path}: expected a .npz, .onnx or .pkl model file")
    if not activations:
        raise ValueError(f"{path} holds bare weights: give --activations, one per layer (e.g. sigmoid,sigmoid,softmax)")
    weights, biases = layer_arrays(arrays, path)
    return ModelArrays(weights, biases, list(activations))
