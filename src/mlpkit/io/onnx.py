"""The ONNX format <-> :class:`~mlpkit.io.arrays.ModelArrays` (needs the ``onnx`` package:
``pip install 'mlpkit[onnx]'``; ``mlpkit.onnx`` is the model-level API over this module).

Export: each layer becomes ``MatMul`` + ``Add`` and its activation node; the batch dimension is
dynamic. ``step`` is written as ``Cast(Greater(z, 0))``; ``leaky_relu`` as ``LeakyRelu`` in
float32 graphs and as ``Max(z, 0.01 z)`` in float64 ones (an attribute is a float32).

Import (:func:`read`): the dense chains PyTorch, Keras (tf2onnx) and scikit-learn (skl2onnx)
export - ``Gemm`` (any transA=0/transB/alpha/beta) or ``MatMul`` + ``Add``, then ``Relu``,
``Sigmoid``, ``Tanh``, ``LeakyRelu`` (alpha 0.01), ``Softmax`` (last axis) or ``Identity``;
``Flatten``/``Reshape`` of the input; mlpkit's own patterns above. Anything else raises
:class:`OnnxImportError` naming the node and its op type.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..kernels.activations import TABLE as ACTIVATION_TABLE
from ..kernels.constants import LEAKY_SLOPE
from .arrays import ModelArrays, check_metadata

DEFAULT_OPSET = 17
#: The ``metadata_props`` key holding ``model.metadata`` as JSON in an exported file.
METADATA_KEY = "mlpkit.metadata"


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"ONNX export needs the onnx package ({exc}); pip install 'mlpkit[onnx]'") from exc
    return onnx


def to_model_proto(model: ModelArrays, opset: int = DEFAULT_OPSET) -> Any:
    """The network as an ``onnx.ModelProto``: input ``x`` (batch, n_features), output ``y``."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    dtype = model.dtype or np.dtype(model.weights[0].dtype).name
    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    nodes, inits, cur = [], [], "x"
    for i, (W, b, act) in enumerate(zip(model.weights, model.biases, model.activations), start=1):
        inits += [numpy_helper.from_array(np.asarray(W, dtype), f"W{i}"), numpy_helper.from_array(np.asarray(b, dtype), f"b{i}")]
        nodes += [helper.make_node("MatMul", [cur, f"W{i}"], [f"xw{i}"]), helper.make_node("Add", [f"xw{i}", f"b{i}"], [f"z{i}"])]
        out = f"a{i}"
        if act == "identity":
            nodes.append(helper.make_node("Identity", [f"z{i}"], [out]))
        elif act == "step":
            zero = numpy_helper.from_array(np.zeros((), dtype=dtype), f"zero{i}")
            inits.append(zero)
            nodes += [helper.make_node("Greater", [f"z{i}", f"zero{i}"], [f"g{i}"]), helper.make_node("Cast", [f"g{i}"], [out], to=elem)]
        elif act == "leaky_relu" and dtype == "float32":
            nodes.append(helper.make_node("LeakyRelu", [f"z{i}"], [out], alpha=LEAKY_SLOPE))
        elif act == "leaky_relu":
            # Max(z, slope*z) with slope in the model dtype: LeakyRelu's alpha attribute is a
            # float32, which would make a float64 graph use 0.0099999998 instead of 0.01
            inits.append(numpy_helper.from_array(np.asarray(LEAKY_SLOPE, dtype=dtype), f"slope{i}"))
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
        [helper.make_tensor_value_info("x", elem, ["batch", int(model.weights[0].shape[0])])],
        [helper.make_tensor_value_info("y", elem, ["batch", int(model.weights[-1].shape[1])])],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="mlpkit")
    if model.metadata:  # as JSON under one key; read() gives it back
        helper.set_model_props(proto, {METADATA_KEY: json.dumps(check_metadata(model.metadata), allow_nan=False)})
    onnx.checker.check_model(proto)
    return proto


def write(path: str | os.PathLike, model: ModelArrays, opset: int = DEFAULT_OPSET) -> None:
    """Write ``model`` to ``path`` as an ONNX file (checked with ``onnx.checker``)."""
    _onnx().save(to_model_proto(model, opset), os.fspath(path))


class OnnxImportError(ValueError):
    """The ONNX graph is not a dense MLP mlpkit can represent (the message names the node)."""


_ACTIVATION_OPS = {a.onnx: a.name for a in ACTIVATION_TABLE if a.onnx}  # the activations that are one ONNX op
_SHAPE_OPS = ("Flatten", "Reshape")


def read(path_or_proto: Any) -> ModelArrays:
    """The dense MLP in an ONNX file (or ``ModelProto``), in the arrays' own dtype.

    Every defect of the file or graph raises :class:`OnnxImportError` (a ValueError) naming it:
    an unreadable or non-protobuf file, a malformed graph (missing attributes, tensors of the
    wrong rank, a bias that is not an initializer, duplicated initializer names, ...)."""
    onnx = _onnx()
    try:
        proto = path_or_proto if hasattr(path_or_proto, "graph") else onnx.load(os.fspath(path_or_proto))
        weights, biases, acts, metadata = _dense_chain(proto)
    except OnnxImportError:
        raise
    except Exception as exc:  # protobuf DecodeError, IndexError/KeyError/TypeError of a malformed graph, ...
        raise OnnxImportError(f"{path_or_proto if isinstance(path_or_proto, (str, os.PathLike)) else 'the model'}: "
                              f"not a readable dense-MLP ONNX model ({type(exc).__name__}: {str(exc)[:300]})") from exc
    return ModelArrays(weights, biases, acts, metadata)


def _dense_chain(proto: Any) -> tuple[list, list, list, dict]:
    """(weights, biases, activations, metadata) of the dense chain in ``proto``; OnnxImportError
    (or any other exception, which :func:`load` reports as one) where it is not one."""
    onnx = _onnx()
    from onnx import numpy_helper

    graph = proto.graph
    names = [t.name for t in graph.initializer]
    if len(set(names)) != len(names):  # ONNX Runtime takes the first, a dict the last: refuse
        dup = sorted({n for n in names if names.count(n) > 1})
        raise OnnxImportError(f"initializer names must be unique; {dup[:5]} appear more than once")
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxImportError(f"expected one graph input; found {inputs}")
    weights, biases, acts = [], [], []
    pending = None  # [W, b] of an affine whose activation has not come yet
    cur = inputs[0]  # the tensor the chain has reached
    side: dict[str, Any] = {}  # partial patterns: Mul(z, 0.01) -> z, Greater(z, 0) -> z

    def close(activation: str) -> None:
        nonlocal pending
        weights.append(pending[0])
        biases.append(pending[1])
        acts.append(activation)
        pending = None

    def unsupported(node, why: str = ""):
        raise OnnxImportError(f"node {node.name or '(unnamed)'!r} (op {node.op_type}) is not supported{': ' + why if why else ''}; "
                              "mlpkit imports Gemm/MatMul+Add, Relu, Sigmoid, Tanh, LeakyRelu(0.01), Softmax, Identity, Flatten/Reshape of the input")

    for node in graph.node:
        op, ins, attrs = node.op_type, list(node.input), {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if op == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        if op in _SHAPE_OPS and ins[0] == cur and not weights and pending is None:
            cur = node.output[0]
            continue
        if op == "Gemm" and ins[0] == cur and ins[1] in consts:
            if pending is not None:
                close("identity")
            if attrs.get("transA", 0):
                unsupported(node, "transA=1")
            B = consts[ins[1]]
            W = (B.T if attrs.get("transB", 0) else B) * attrs.get("alpha", 1.0)
            C = consts[ins[2]] if len(ins) > 2 and ins[2] else np.zeros(W.shape[1], W.dtype)
            pending = [W.astype(B.dtype), np.broadcast_to(C * attrs.get("beta", 1.0), (W.shape[1],)).astype(B.dtype)]
        elif op == "MatMul" and ins[0] == cur and ins[1] in consts:
            if pending is not None:
                close("identity")
            W = consts[ins[1]]
            pending = [W, np.zeros(W.shape[1], W.dtype)]
        elif op == "Add" and pending is not None and cur in ins and any(i in consts for i in ins):
            b = consts[ins[1] if ins[0] == cur else ins[0]]
            pending[1] = pending[1] + np.broadcast_to(b, pending[1].shape).astype(pending[1].dtype)
        elif op in _ACTIVATION_OPS and ins[0] == cur and pending is not None:
            if op == "Softmax" and attrs.get("axis", -1 if proto.opset_import[0].version >= 13 else 1) not in (-1, 1):
                unsupported(node, f"softmax over axis {attrs['axis']}")
            close(_ACTIVATION_OPS[op])
        elif op == "LeakyRelu" and ins[0] == cur and pending is not None:
            if abs(attrs.get("alpha", 0.01) - LEAKY_SLOPE) > 1e-7:
                unsupported(node, f"alpha {attrs.get('alpha')} (mlpkit's leaky_relu has slope {LEAKY_SLOPE})")
            close("leaky_relu")
        elif op == "Mul" and cur in ins and pending is not None and any(np.all(consts.get(i, 0) == LEAKY_SLOPE) and i in consts for i in ins):
            side[node.output[0]] = ("leaky", cur)
            continue
        elif op == "Max" and cur in ins and pending is not None and any(side.get(i) == ("leaky", cur) for i in ins):
            close("leaky_relu")
        elif op == "Greater" and ins[0] == cur and pending is not None and ins[1] in consts and np.all(consts[ins[1]] == 0):
            side[node.output[0]] = ("step", cur)
            continue
        elif op == "Cast" and side.get(ins[0], (None,))[0] == "step":
            close("step")
        else:
            unsupported(node)
        cur = node.output[0]
    if pending is not None:
        close("identity")
    outputs = [o.name for o in graph.output]
    if cur not in outputs:
        raise OnnxImportError(f"the dense chain ends at {cur!r}, which is not a graph output {outputs}")
    if not weights:
        raise OnnxImportError("the graph holds no dense layer")
    for W, b in zip(weights, biases):
        if getattr(W, "ndim", None) != 2 or getattr(b, "ndim", None) != 1 or b.shape[0] != W.shape[1]:
            raise OnnxImportError(f"a dense layer needs a 2-D weight and a matching 1-D bias; received shapes "
                                  f"{getattr(W, 'shape', None)} and {getattr(b, 'shape', None)}")
    props = {p.key: p.value for p in proto.metadata_props}
    metadata = {}
    if METADATA_KEY in props:
        try:
            metadata = check_metadata(json.loads(props[METADATA_KEY]))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise OnnxImportError(f"metadata_props[{METADATA_KEY!r}] is not mlpkit metadata: {exc}") from exc
    return weights, biases, acts, metadata
