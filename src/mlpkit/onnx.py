"""ONNX export of an :class:`~mlpkit.MLP` (needs the ``onnx`` package: ``pip install 'mlpkit[onnx]'``).

Each layer becomes ``MatMul`` + ``Add`` followed by its activation node; the batch dimension is
dynamic. ``step`` is exported as ``Cast(Greater(z, 0))`` and ``leaky_relu`` as ``Max(z, 0.01 z)``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .kernels.constants import LEAKY_SLOPE

DEFAULT_OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"ONNX export needs the onnx package ({exc}); pip install 'mlpkit[onnx]'") from exc
    return onnx


def to_model_proto(model: Any, opset: int = DEFAULT_OPSET) -> Any:
    """The model as an ``onnx.ModelProto``: input ``x`` (batch, n_features), output ``y``."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if model.dtype == "float32" else TensorProto.DOUBLE
    p = model.params
    nodes, inits, cur = [], [], "x"
    for i, act in enumerate(model.activations, start=1):
        inits += [numpy_helper.from_array(np.asarray(p[f"W{i}"]), f"W{i}"), numpy_helper.from_array(np.asarray(p[f"b{i}"]), f"b{i}")]
        nodes += [helper.make_node("MatMul", [cur, f"W{i}"], [f"xw{i}"]), helper.make_node("Add", [f"xw{i}", f"b{i}"], [f"z{i}"])]
        out = f"a{i}"
        if act == "identity":
            nodes.append(helper.make_node("Identity", [f"z{i}"], [out]))
        elif act == "step":
            zero = numpy_helper.from_array(np.zeros((), dtype=model.dtype), f"zero{i}")
            inits.append(zero)
            nodes += [helper.make_node("Greater", [f"z{i}", f"zero{i}"], [f"g{i}"]), helper.make_node("Cast", [f"g{i}"], [out], to=elem)]
        elif act == "leaky_relu":
            # Max(z, slope*z) with slope in the model dtype: LeakyRelu's alpha attribute is a
            # float32, which would make a float64 graph use 0.0099999998 instead of 0.01
            inits.append(numpy_helper.from_array(np.asarray(LEAKY_SLOPE, dtype=model.dtype), f"slope{i}"))
            nodes += [helper.make_node("Mul", [f"z{i}", f"slope{i}"], [f"sz{i}"]), helper.make_node("Max", [f"z{i}", f"sz{i}"], [out])]
        elif act == "softmax":
            nodes.append(helper.make_node("Softmax", [f"z{i}"], [out], axis=-1))
        else:
            op = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}[act]
            nodes.append(helper.make_node(op, [f"z{i}"], [out]))
        cur = out
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(
        nodes,
        "mlpkit_mlp",
        [helper.make_tensor_value_info("x", elem, ["batch", model.layer_sizes[0]])],
        [helper.make_tensor_value_info("y", elem, ["batch", model.layer_sizes[-1]])],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="mlpkit")
    onnx.checker.check_model(proto)
    return proto


def export(model: Any, path: str | os.PathLike, opset: int = DEFAULT_OPSET) -> None:
    """Write ``model`` to ``path`` as an ONNX file (checked with ``onnx.checker``)."""
    _onnx().save(to_model_proto(model, opset), os.fspath(path))
