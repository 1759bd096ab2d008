"""MLP inference: seed vectors, batch vs single-sample paths, cross-backend agreement, MNIST."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlpkit
import reference as ref
from conftest import BACKENDS, DTYPES, backend_or_skip
from mlpkit.backends import ACTIVATIONS

SEED_W = [
    [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]],
    [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]],
    [[0.1, 0.3], [0.2, 0.4]],
]
SEED_B = [[0.1, 0.2, 0.3], [0.1, 0.2], [0.1, 0.2]]


def random_model(rng, sizes, activations, backend, dtype):
    Ws = [rng.normal(scale=1 / np.sqrt(i), size=(i, o)) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(scale=0.1, size=o) for o in sizes[1:]]
    return mlpkit.MLP.from_arrays(Ws, bs, activations, backend=backend, dtype=dtype), Ws, bs


def test_seed_vector(backend, dtype):
    model = mlpkit.MLP.from_arrays(SEED_W, SEED_B, ["sigmoid", "sigmoid", "identity"], backend=backend, dtype=dtype)
    y = model.predict(np.array([1.0, 0.5]))
    assert y.dtype == np.dtype(dtype) and y.shape == (2,)
    np.testing.assert_allclose(y, [0.31682708, 0.69627909], rtol=1e-6)
    np.testing.assert_allclose(model.predict([[1.0, 0.5]]), [[0.31682708, 0.69627909]], rtol=1e-6)


@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_predict_matches_reference(backend, dtype, hidden, rng):
    sizes = (13, 9, 7, 4)
    acts = [hidden, hidden, "softmax"]
    model, Ws, bs = random_model(rng, sizes, acts, backend, dtype)
    x = rng.normal(size=(37, 13))
    cast = [[a.astype(dtype) for a in group] for group in (Ws, bs)]
    ref.assert_close(model.predict(x), ref.forward(x.astype(dtype), *cast, acts), dtype, scale=1.0)


@pytest.mark.parametrize("n", [1, 2, 4, 5, 33, 300])
def test_batch_and_single_sample_agree(backend, dtype, n, rng):
    model, _, _ = random_model(rng, (31, 20, 11, 5), ["relu", "tanh", "softmax"], backend, dtype)
    X = rng.normal(size=(n, 31)).astype(dtype)
    batch = model.predict(X)
    single = np.stack([model.predict(X[i]) for i in range(n)])
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(batch, single, rtol=tol, atol=tol)


# step is discontinuous (a last-bit difference at 0 flips it): it is covered by the seeded tests above
CONTINUOUS = [a for a in ACTIVATIONS if a != "step"]


@settings(max_examples=20, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=2, max_size=5),
    hidden=st.sampled_from(CONTINUOUS),
    output=st.sampled_from(CONTINUOUS),
    n=st.integers(1, 70),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_backends_agree_on_random_networks(sizes, hidden, output, n, dtype, seed):
    rng = np.random.default_rng(seed)
    acts = [hidden] * (len(sizes) - 2) + [output]
    Ws = [rng.normal(scale=1 / np.sqrt(i), size=(i, o)) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(scale=0.1, size=o) for o in sizes[1:]]
    x = rng.normal(size=(n, sizes[0]))
    expect = ref.forward(x.astype(dtype), [W.astype(dtype) for W in Ws], [b.astype(dtype) for b in bs], acts)
    usable = [name for name, reason in mlpkit.available_backends().items() if reason is None]
    for name in usable:
        got = mlpkit.MLP.from_arrays(Ws, bs, acts, backend=name, dtype=dtype).predict(x)
        ref.assert_close(got, expect, dtype, scale=1.0 + np.abs(expect))


@pytest.mark.parametrize("name", BACKENDS)
def test_sample_weights_score_09352(name, mnist_test, sample_weights):
    backend_or_skip(name)
    x, t = mnist_test
    w = sample_weights
    model = mlpkit.MLP.from_arrays(
        [w["W1"], w["W2"], w["W3"]], [w["b1"], w["b2"], w["b3"]], ["sigmoid", "sigmoid", "softmax"], backend=name
    )
    assert model.dtype == "float32"
    assert np.mean(model.predict_classes(x) == t) == 0.9352
    one_at_a_time = np.array([model.predict_classes(xi) for xi in x])
    assert np.mean(one_at_a_time == t) == 0.9352


def test_predict_classes_shapes(backend):
    model = mlpkit.MLP([4, 3], seed=0, backend=backend)
    assert np.ndim(model.predict_classes(np.ones(4))) == 0
    assert model.predict_classes(np.ones((6, 4))).shape == (6,)


@pytest.mark.parametrize("batch_size", [1, 7, 30, 31, None])
def test_chunked_prediction_matches_one_pass(backend, dtype, batch_size, rng):
    model, _, _ = random_model(rng, (12, 8, 3), ["sigmoid", "softmax"], backend, dtype)
    X = rng.normal(size=(30, 12))
    whole = model.predict(X, batch_size=10**6)
    tol = 1e-6 if dtype == "float32" else 1e-13  # small chunks may take another kernel (summation order)
    np.testing.assert_allclose(model.predict(X, batch_size=batch_size), whole, rtol=tol, atol=tol)


def test_a_model_carries_its_input_normalisation_for_integer_inputs(rng, tmp_path):
    model = mlpkit.MLP([6, 4, 3], backend="numpy", dtype="float32", seed=0)
    raw = rng.integers(0, 256, (5, 6)).astype(np.uint8)
    scaled = raw.astype(np.float32) / np.float32(255)
    assert model.input_divisor is None
    model.input_divisor = 255
    np.testing.assert_array_equal(model.predict(raw), model.predict(scaled))  # integers divided, exactly as x / 255
    np.testing.assert_array_equal(model.predict(raw[0]), model.predict(scaled[0]))
    assert not np.array_equal(model.predict(scaled * 255), model.predict(scaled))  # floats are used as given
    for copy in (model.astype("float64"), model.to_backend("numpy")):
        assert copy.input_divisor == 255
    mlpkit.save(model, tmp_path / "m.npz")
    assert mlpkit.load(tmp_path / "m.npz").input_divisor == 255
    t = rng.integers(0, 3, 5)
    assert model.evaluate(raw, t) == model.evaluate(scaled, t) and model.loss(raw, t) == model.loss(scaled, t)
    a = model.astype("float32").fit(raw, t, epochs=2, batch_size=2, seed=0, verbose=False).batch_loss
    b = model.astype("float32").fit(scaled, t, epochs=2, batch_size=2, seed=0, verbose=False).batch_loss
    assert a == b
    for bad in (0, -1, float("inf"), "255", True):
        with pytest.raises(ValueError, match="input_divisor must be a finite number > 0"):
            model.input_divisor = bad
    model.input_divisor = None
    assert "input_divisor" not in model.metadata


def test_the_built_in_model_takes_raw_pixels(mnist_test):
    x, t = mnist_test
    raw = np.rint(x * 255).astype(np.uint8)
    model = mlpkit.load_pretrained(backend="numpy")
    assert model.input_divisor == 255
    assert (model.predict_classes(raw) == t).mean() == (model.predict_classes(x) == t).mean() == 0.9758
