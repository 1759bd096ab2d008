"""model.metadata survives every copy and file format, and save refuses what load would refuse."""

import numpy as np
import pytest

import mlpkit

META = {"classes": ["cat", "dog", "eel"], "input_scale": 0.00392156862745098, "nested": {"a": [1, 2.5, None, True]}}


@pytest.fixture
def model():
    m = mlpkit.MLP([6, 5, 3], backend="numpy", seed=0)
    m.metadata = {k: (dict(v) if isinstance(v, dict) else v) for k, v in META.items()}
    return m


def test_copies_keep_a_deep_copy_of_the_metadata(model):
    for copy in (model.astype("float64"), model.to_backend("numpy")):
        assert copy.metadata == META
        copy.metadata["nested"]["a"].append("changed")
        assert model.metadata == META  # not shared with the original


def test_save_writes_the_models_own_metadata_unless_given(model, tmp_path):
    mlpkit.save(model, tmp_path / "m.npz")
    assert mlpkit.load(tmp_path / "m.npz").metadata == META
    mlpkit.save(model, tmp_path / "n.npz", metadata={"other": 1})
    assert mlpkit.load(tmp_path / "n.npz").metadata == {"other": 1}
    mlpkit.save(model.astype("float32").to_backend("numpy"), tmp_path / "c.npz")
    assert mlpkit.load(tmp_path / "c.npz").metadata == META


@pytest.mark.parametrize("bad, message", [
    ([1, 2], "metadata must be a JSON object"),
    (3.5, "metadata must be a JSON object"),
    ({"x": float("nan")}, "no NaN or Inf"),
    ({"x": object()}, "JSON-serialisable"),
    ({1: "integer key"}, "survive JSON unchanged"),
    ({"t": (1, 2)}, "survive JSON unchanged"),
])
def test_save_refuses_metadata_that_load_would_refuse(model, tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        mlpkit.save(model, tmp_path / "bad.npz", metadata=bad)
    assert not (tmp_path / "bad.npz").exists()  # refused before the file is opened


def test_onnx_round_trip_keeps_the_metadata(model, tmp_path):
    pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install 'mlpkit[onnx]')")
    from mlpkit import onnx as mlpkit_onnx

    mlpkit_onnx.export(model, tmp_path / "m.onnx")
    back = mlpkit_onnx.load(tmp_path / "m.onnx")
    assert back.metadata == META
    x = np.random.default_rng(0).random((4, 6))
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=1e-6)
    plain = mlpkit.MLP([6, 3], backend="numpy", seed=0)
    mlpkit_onnx.export(plain, tmp_path / "p.onnx")
    assert mlpkit_onnx.load(tmp_path / "p.onnx").metadata == {}


def test_sklearn_labels_survive_conversion_copy_and_save(tmp_path):
    sklearn = pytest.importorskip("sklearn.neural_network", reason="needs scikit-learn")
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 4)), np.array(["a", "b", "c"])[rng.integers(0, 3, 60)]
    est = sklearn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(x, y)
    model = mlpkit.MLP.from_sklearn(est)
    labels = model.metadata
    assert labels  # the class labels are in it
    mlpkit.save(model.astype("float32"), tmp_path / "s.npz")
    assert mlpkit.load(tmp_path / "s.npz").metadata == labels
