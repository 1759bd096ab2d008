"""The native model file: bit-exact round trip, metadata, and one clear error for every defect."""

import io
import json
import zipfile

import numpy as np
import pytest

import mlpkit
from mlpkit.io.native import read_header


def test_round_trip_is_bit_exact(tmp_path, backend, dtype):
    model = mlpkit.MLP([7, 5, 3], activation="leaky_relu", seed=1, backend=backend, dtype=dtype)
    path = tmp_path / "m.npz"
    mlpkit.save(model, path, metadata={"classes": ["a", "b", "c"], "scale": 1 / 255})
    loaded = mlpkit.load(path, backend=backend)
    assert loaded.dtype == dtype and loaded.activations == model.activations and loaded.backend == backend.name
    assert loaded.metadata == {"classes": ["a", "b", "c"], "scale": 1 / 255}
    for key, value in model.params.items():
        assert loaded.params[key].tobytes() == value.tobytes(), key
    x = np.random.default_rng(0).random((4, 7))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_load_in_another_dtype(tmp_path):
    model = mlpkit.MLP([4, 2], seed=0, backend="numpy", dtype="float64")
    mlpkit.save(model, tmp_path / "m.npz")
    assert mlpkit.load(tmp_path / "m.npz", dtype="float32").dtype == "float32"


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(ValueError, match="JSON-serialisable"):
        mlpkit.save(mlpkit.MLP([2, 2], backend="numpy"), tmp_path / "m.npz", metadata={"x": object()})


def write(path, header, arrays):
    blob = json.dumps(header).encode() if not isinstance(header, bytes) else header
    with open(path, "wb") as f:
        np.savez(f, header=np.frombuffer(blob, np.uint8), **arrays)


GOOD = {"format": "mlpkit-mlp", "version": 1, "layer_sizes": [3, 2], "activations": ["relu"], "dtype": "float32",
        "mlpkit_version": "0", "metadata": {}}
ARRAYS = {"W1": np.ones((3, 2), np.float32), "b1": np.zeros(2, np.float32)}


@pytest.mark.parametrize(
    "header, arrays, match",
    [
        ({**GOOD, "format": "keras"}, ARRAYS, "header format must be 'mlpkit-mlp'"),
        ({**GOOD, "version": 7}, ARRAYS, "format version 7 is not supported"),
        ({**GOOD, "activations": ["swish"]}, ARRAYS, "unknown activation 'swish'"),
        ({**GOOD, "activations": ["relu", "relu"]}, ARRAYS, "activations must be a list of 1 names"),
        ({**GOOD, "layer_sizes": [3]}, ARRAYS, "layer_sizes must be a list of at least two"),
        ({**GOOD, "dtype": "int8"}, ARRAYS, "dtype must be 'float32' or 'float64'"),
        (GOOD, {"W1": ARRAYS["W1"]}, r"missing \['b1'\]"),
        (GOOD, {**ARRAYS, "W9": ARRAYS["W1"]}, r"unexpected \['W9'\]"),
        (GOOD, {**ARRAYS, "W1": np.ones((2, 3), np.float32)}, r"W1 has shape \(2, 3\); layer_sizes \[3, 2\] require \(3, 2\)"),
        (GOOD, {**ARRAYS, "b1": np.zeros(2)}, "b1 has dtype float64; the header says float32"),
        (GOOD, {**ARRAYS, "W1": np.full((3, 2), np.nan, np.float32)}, "W1 contains NaN or Inf"),
        (b"{not json", ARRAYS, "not valid UTF-8 JSON"),
    ],
)
def test_defects_raise_model_format_error(tmp_path, header, arrays, match):
    path = tmp_path / "bad.npz"
    write(path, header, arrays)
    with pytest.raises(mlpkit.ModelFormatError, match=match):
        mlpkit.load(path)


def test_not_a_model_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"hello")
    with pytest.raises(mlpkit.ModelFormatError, match="not a readable .npz"):
        mlpkit.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", W1=np.ones((2, 2)))
    with pytest.raises(mlpkit.ModelFormatError, match="no 'header' entry"):
        mlpkit.load(tmp_path / "plain.npz")


def test_pickled_content_is_refused(tmp_path):
    path = tmp_path / "pickle.npz"
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("header.npy", buf.getvalue())
    with pytest.raises(mlpkit.ModelFormatError, match="only pickle could load; refused"):
        read_header(path)


def test_pretrained_model_scores_on_mnist(backend, mnist_test):
    model = mlpkit.load_pretrained("mnist-m1", backend=backend)
    assert model.layer_sizes == (784, 50, 100, 10) and model.activations == ("sigmoid", "sigmoid", "softmax")
    assert model.metadata["trained_with"] == "mlpkit train"
    x, t = mnist_test
    assert np.mean(model.predict_classes(x) == t) >= 0.975


def test_unknown_pretrained_name():
    with pytest.raises(ValueError, match=r"pretrained model must be one of \['mnist-m1'\]; received 'mnist-m9'"):
        mlpkit.load_pretrained("mnist-m9")


def test_fortran_order_members_are_read_in_their_order(tmp_path):
    """The classic sample_weight.npz stores its weights in Fortran order."""
    from mlpkit.io.native import read_bare_arrays

    W = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    np.savez(tmp_path / "w.npz", W1=W, b1=np.zeros(4, np.float32))
    arrays = read_bare_arrays(tmp_path / "w.npz")
    np.testing.assert_array_equal(arrays["W1"], W)
    assert arrays["W1"].flags.c_contiguous
