"""ONNX export: checked by onnx.checker and run by ONNX Runtime against model.predict."""

import numpy as np
import pytest

import mlpkit
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
