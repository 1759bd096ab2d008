"""The model's descriptive API: params, properties, repr, to_backend, init, dtype inference."""

import numpy as np
import pytest

import mlpkit
from conftest import BACKENDS, backend_or_skip


def test_properties_and_repr(backend, dtype):
    model = mlpkit.MLP([784, 50, 100, 10], activation="sigmoid", backend=backend, dtype=dtype, seed=1)
    assert model.layer_sizes == (784, 50, 100, 10)
    assert model.activations == ("sigmoid", "sigmoid", "softmax")
    assert model.dtype == dtype and model.backend == backend.name
    assert repr(model) == (
        f"MLP(784-50-100-10, activations=[sigmoid, sigmoid, softmax], dtype={dtype}, backend={backend.name})"
    )
    p = model.params
    assert list(p) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert p["W2"].shape == (50, 100) and p["b3"].shape == (10,)
    assert all(isinstance(a, np.ndarray) and a.dtype == np.dtype(dtype) for a in p.values())
    with pytest.raises(ValueError):
        p["W1"][0, 0] = 1.0  # read-only: weights change through the model, never behind its back


def test_seeded_init_is_reproducible_and_scaled():
    a = mlpkit.MLP([400, 300, 10], activation="relu", seed=7, backend="numpy").params
    b = mlpkit.MLP([400, 300, 10], activation="relu", seed=7, backend="numpy").params
    c = mlpkit.MLP([400, 300, 10], activation="relu", seed=8, backend="numpy").params
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W1"], c["W1"])
    assert np.std(a["W1"]) == pytest.approx(np.sqrt(2 / 400), rel=0.02)  # He normal before relu
    limit = np.sqrt(6 / (300 + 10))  # Glorot uniform before softmax
    assert np.abs(a["W2"]).max() <= limit and np.abs(a["W2"]).max() > 0.95 * limit
    assert not any(a[k].any() for k in ("b1", "b2"))


def test_seed_gives_same_weights_in_every_dtype():
    w32 = mlpkit.MLP([20, 5], seed=3, backend="numpy", dtype="float32").params["W1"]
    w64 = mlpkit.MLP([20, 5], seed=3, backend="numpy", dtype="float64").params["W1"]
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


@pytest.mark.parametrize("target", BACKENDS)
def test_to_backend_copies(backend, target, rng):
    backend_or_skip(target)
    model = mlpkit.MLP([6, 5, 3], activation="leaky_relu", seed=0, backend=backend, dtype="float64")
    other = model.to_backend(target)
    assert other.backend == target and other.dtype == "float64" and other is not model
    x = rng.normal(size=(4, 6))
    np.testing.assert_allclose(other.predict(x), model.predict(x), rtol=1e-12)


def test_from_arrays_infers_dtype():
    f32 = [np.ones((2, 2), np.float32)], [np.zeros(2, np.float32)], ["relu"]
    assert mlpkit.MLP.from_arrays(*f32, backend="numpy").dtype == "float32"
    mixed = [np.ones((2, 2), np.float32)], [np.zeros(2)], ["relu"]
    assert mlpkit.MLP.from_arrays(*mixed, backend="numpy").dtype == "float64"


def test_from_arrays_copies_its_inputs():
    W = np.ones((2, 2))
    model = mlpkit.MLP.from_arrays([W], [np.zeros(2)], ["identity"], backend="numpy")
    W[:] = 5
    np.testing.assert_array_equal(model.predict([1.0, 1.0]), [2.0, 2.0])
