"""ONNX export and import of MLPs (needs ``pip install 'mlpkit[onnx]'``): the model-level API
over the format module :mod:`mlpkit.io.onnx`, which says what is written and what is read."""

from __future__ import annotations

import os
from typing import Any

from .io.onnx import DEFAULT_OPSET, METADATA_KEY, OnnxImportError
from .io import onnx as _format
from .mlp import MLP

__all__ = ["DEFAULT_OPSET", "METADATA_KEY", "OnnxImportError", "export", "load", "to_model_proto"]


def to_model_proto(model: MLP, opset: int = DEFAULT_OPSET) -> Any:
    """``model`` as an ``onnx.ModelProto``: input ``x`` (batch, n_features), output ``y``; its
    metadata under ``metadata_props[METADATA_KEY]``."""
    return _format.to_model_proto(model.to_model_arrays(), opset)


def export(model: MLP, path: str | os.PathLike, opset: int = DEFAULT_OPSET) -> None:
    """Write ``model`` to ``path`` as an ONNX file (checked with ``onnx.checker``)."""
    _format.write(path, model.to_model_arrays(), opset)


def load(path_or_proto: Any, backend: Any = None, dtype: Any = None) -> MLP:
    """An MLP from an ONNX file (or ``ModelProto``) holding a dense chain; every defect of the file
    or graph raises :class:`OnnxImportError` naming it. Invalid ``backend``/``dtype`` raise as
    everywhere else."""
    return MLP.from_model_arrays(_format.read(path_or_proto), backend=backend, dtype=dtype)
