"""Fuzzing the ONNX importer: graph mutations (nodes, attributes, initializers, opsets) and
damaged bytes give OnnxImportError or a model that predicts finite values; no other exception.
Seeded: CI sees the same cases every time."""

import copy
import os

import numpy as np
import pytest

import fuzzing
import mlpkit

onnx = pytest.importorskip("onnx", reason="ONNX import needs onnx (pip install 'mlpkit[onnx]')")
from mlpkit import onnx as mlpkit_onnx  # noqa: E402

# MLPKIT_FUZZ_CASES=N runs a larger seeded campaign (README, "Guarantees")
CASES = int(os.environ.get("MLPKIT_FUZZ_CASES") or 240)


def _base():
    model = mlpkit.MLP([6, 5, 4, 3], activation="leaky_relu", output="softmax", seed=0, backend="numpy", dtype="float32")
    return mlpkit_onnx.to_model_proto(model)


def _mutations(proto, rng):
    g = proto.graph
    kind = int(rng.integers(9))
    if kind == 0 and len(g.node):
        del g.node[int(rng.integers(len(g.node)))]
    elif kind == 1 and len(g.node):
        g.node[int(rng.integers(len(g.node)))].op_type = str(rng.choice(["Relu", "Gemm", "MatMul", "Add", "Softmax", "Constant", "Mul", "Foo"]))
    elif kind == 2:
        nodes = [n for n in g.node if len(n.attribute)]
        if nodes:
            n = nodes[int(rng.integers(len(nodes)))]
            del n.attribute[int(rng.integers(len(n.attribute)))]
    elif kind == 3 and len(g.initializer):
        t = g.initializer[int(rng.integers(len(g.initializer)))]
        size = int(np.prod(t.dims)) if len(t.dims) else 1
        del t.dims[:]
        t.dims.extend([size] if rng.random() < 0.5 else [1, size, 1])
    elif kind == 4 and len(g.initializer):
        g.initializer.append(copy.deepcopy(g.initializer[int(rng.integers(len(g.initializer)))]))
    elif kind == 5:
        del proto.opset_import[:]
    elif kind == 6 and len(g.initializer):
        del g.initializer[int(rng.integers(len(g.initializer)))]
    elif kind == 7 and len(g.node):
        n = g.node[int(rng.integers(len(g.node)))]
        if len(n.input):
            n.input[int(rng.integers(len(n.input)))] = str(rng.choice(["x", "nothing", n.output[0]]))
    else:
        const = onnx.helper.make_node("Constant", [], ["c0"], value_float=1.5)
        g.node.insert(0, const)
    return proto


def test_mutated_graphs_give_the_documented_error(tmp_path):
    rng = np.random.default_rng(20261201)
    x = rng.random((4, 6)).astype(np.float32)
    blobs = []
    for k in range(CASES):
        proto = _base()
        for _ in range(int(rng.integers(1, 3))):
            proto = _mutations(proto, rng)
        blob = proto.SerializeToString()
        if k % 4 == 3:  # damaged bytes too
            data = bytearray(blob)
            for i in rng.integers(0, len(data), int(rng.integers(1, 8))):
                data[i] ^= int(rng.integers(1, 256))
            blob = bytes(data) if rng.random() < 0.7 else bytes(data[: int(rng.integers(1, len(data)))])
        blobs.append(blob)
    outcomes = fuzzing.outcomes(tmp_path, blobs, ".onnx", lambda p: mlpkit_onnx.load(p, backend="numpy"),
                                mlpkit_onnx.OnnxImportError, x)
    assert sum(outcomes.values()) == CASES and outcomes["rejected"] >= CASES // 2, outcomes


def test_duplicated_initializer_names_are_refused():
    proto = _base()
    proto.graph.initializer.append(copy.deepcopy(proto.graph.initializer[0]))
    with pytest.raises(mlpkit_onnx.OnnxImportError, match="initializer names must be unique"):
        mlpkit_onnx.load(proto)


def test_not_an_onnx_file(tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"\x08\x07garbage that is not a protobuf \xff\xff\xff")
    with pytest.raises(mlpkit_onnx.OnnxImportError, match="not a readable dense-MLP ONNX model"):
        mlpkit_onnx.load(tmp_path / "x.onnx")
