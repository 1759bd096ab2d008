"""ONNX export: checked by onnx.checker and run by ONNX Runtime against model.predict."""

import numpy as np
import pytest

import mlpkit
import mlpkit.onnx
from mlpkit.backends import ACTIVATIONS
from mlpkit.onnx import export

onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install 'mlpkit[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the parity check needs onnxruntime (pip install 'mlpkit[peers]')")


@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_export_runs_in_onnxruntime(tmp_path, dtype, hidden, rng):
    model = mlpkit.MLP([6, 5, 4, 3], activation=hidden, seed=1, backend="numpy", dtype=dtype)
    path = tmp_path / "m.onnx"
    export(model, path)
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 17):  # dynamic batch dimension
        x = rng.normal(size=(n, 6)).astype(dtype)
        got = session.run(["y"], {"x": x})[0]
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, model.predict(x), rtol=tol, atol=tol)


@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_round_trip_is_exact(tmp_path, dtype, hidden):
    model = mlpkit.MLP([6, 5, 4, 3], activation=hidden, seed=1, backend="numpy", dtype=dtype)
    export(model, tmp_path / "m.onnx")
    back = mlpkit.onnx.load(tmp_path / "m.onnx", backend="numpy")
    assert back.activations == model.activations and back.dtype == dtype
    for key, value in model.params.items():
        assert back.params[key].tobytes() == value.tobytes(), key


def gemm_graph(nodes, inits, n_in, n_out, opset=13):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", n_out])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_import_pytorch_style_gemm(rng):
    """PyTorch exports Linear as Gemm(x, W (out, in), b, transB=1)."""
    from onnx import helper

    W1, b1, W2, b2 = rng.normal(size=(5, 4)), rng.normal(size=5), rng.normal(size=(3, 5)), rng.normal(size=3)
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "W1", "b1"], ["g1"], transB=1, alpha=1.0, beta=1.0),
        helper.make_node("Relu", ["g1"], ["r1"]),
        helper.make_node("Gemm", ["r1", "W2", "b2"], ["g2"], transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Softmax", ["g2"], ["output"], axis=-1),
    ]
    proto = gemm_graph(nodes, {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, 4, 3)
    model = mlpkit.onnx.load(proto, backend="numpy")
    assert model.activations == ("relu", "softmax") and model.layer_sizes == (4, 5, 3)
    x = rng.normal(size=(9, 4)).astype(np.float32)
    ref = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(model.predict(x), ref, rtol=1e-5, atol=1e-6)


def test_import_keras_style_matmul_add(rng):
    from onnx import helper

    W, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    nodes = [helper.make_node("MatMul", ["input", "W"], ["m"]), helper.make_node("Add", ["b", "m"], ["a"]),
             helper.make_node("LeakyRelu", ["a"], ["output"], alpha=0.01)]
    model = mlpkit.onnx.load(gemm_graph(nodes, {"W": W, "b": b}, 4, 3), backend="numpy")
    assert model.activations == ("leaky_relu",)
    np.testing.assert_array_equal(model.params["W1"], W.astype(np.float32))


@pytest.mark.parametrize(
    "node, match",
    [
        (("Conv", ["input", "W"], ["output"], {}), r"node 'bad' \(op Conv\) is not supported"),
        (("LeakyRelu", ["m"], ["output"], {"alpha": 0.2}), r"op LeakyRelu\) is not supported: alpha 0.2"),
        (("Softmax", ["m"], ["output"], {"axis": 0}), "softmax over axis 0"),
        (("Elu", ["m"], ["output"], {}), r"\(op Elu\) is not supported"),
    ],
)
def test_unsupported_nodes_are_named(rng, node, match):
    from onnx import helper

    op, ins, outs, attrs = node
    nodes = [helper.make_node("MatMul", ["input", "W"], ["m"])] if ins[0] == "m" else []
    nodes.append(helper.make_node(op, ins, outs, name="bad", **attrs))
    with pytest.raises(mlpkit.onnx.OnnxImportError, match=match):
        mlpkit.onnx.load(gemm_graph(nodes, {"W": rng.normal(size=(4, 3))}, 4, 3), backend="numpy")


def test_import_from_torch_onnx_export(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test dependency (pip install torch==2.13.0)")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3), torch.nn.Softmax(dim=1)).eval()
    try:
        torch.onnx.export(net, (torch.randn(2, 6),), str(tmp_path / "t.onnx"), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)
    except Exception as exc:  # the exporter's own dependencies may be missing
        pytest.skip(f"torch.onnx.export is not usable here: {exc}")
    model = mlpkit.onnx.load(tmp_path / "t.onnx", backend="numpy")
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), ref, rtol=1e-5, atol=1e-6)
