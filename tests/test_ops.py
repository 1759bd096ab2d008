"""Every op of every backend, in float32 and float64, against the float64 oracle."""

import numpy as np
import pytest

import reference as ref
from mlpkit.backends import ACTIVATIONS, LOSSES

EXTREME = np.array([[-1e4, -100.0, -20.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 20.0, 100.0, 1e4]])


def as_backend(ops, a, dtype):
    return ops.asarray(np.asarray(a), dtype)


def test_affine(backend, dtype, rng):
    for n in (1, 3, 7, 40):  # both the loop-kernel and the BLAS path of the numba backend
        x, W, b = rng.normal(size=(n, 17)), rng.normal(size=(17, 5)), rng.normal(size=5)
        got = backend.to_numpy(backend.affine(*(as_backend(backend, a, dtype) for a in (x, W, b))))
        expect = ref.f64(x.astype(dtype)) @ ref.f64(W.astype(dtype)) + ref.f64(b.astype(dtype))
        ref.assert_close(got, expect, dtype, scale=np.abs(x) @ np.abs(W) + np.abs(b))


def test_affine_extreme_inputs(backend, dtype):
    x = np.tile(EXTREME, (2, 1))
    W = np.linspace(-1, 1, 11 * 3).reshape(11, 3)
    b = np.array([0.5, -0.5, 0.0])
    got = backend.to_numpy(backend.affine(*(as_backend(backend, a, dtype) for a in (x, W, b))))
    expect = ref.f64(x.astype(dtype)) @ ref.f64(W.astype(dtype)) + ref.f64(b.astype(dtype))
    ref.assert_close(got, expect, dtype, scale=np.abs(x) @ np.abs(W) + np.abs(b))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation(backend, dtype, name, rng):
    z = np.concatenate([rng.normal(scale=3, size=(4, 11)), EXTREME, np.full((1, 11), 7.25)])
    zb = as_backend(backend, z, dtype)
    got = backend.to_numpy(backend.activation(name, zb))
    ref.assert_close(got, ref.ACTIVATIONS[name](z.astype(dtype)), dtype)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_grad(backend, dtype, name, rng):
    z = np.concatenate([rng.normal(scale=3, size=(4, 6)), [[-1e4, -50.0, -0.5, 0.5, 50.0, 1e4]]])
    z = np.where(np.abs(z) < 1e-3, 0.5, z)  # keep away from the kinks of relu/step
    g = rng.normal(size=z.shape)
    zb, gb = as_backend(backend, z, dtype), as_backend(backend, g, dtype)
    a = backend.activation(name, zb)
    got = backend.to_numpy(backend.activation_grad(name, a, gb))
    ref.assert_close(got, ref.activation_grad(name, z.astype(dtype), g.astype(dtype)), dtype, scale=np.abs(g))


def test_softmax_seed_vector_and_stability(backend, dtype):
    got = backend.to_numpy(backend.activation("softmax", as_backend(backend, [[0.0, 1.0, 2.0]], dtype)))
    np.testing.assert_allclose(got[0], [0.09003057, 0.24472847, 0.66524096], rtol=1e-6)
    big = backend.to_numpy(backend.activation("softmax", as_backend(backend, [[1000.0, 0.0], [5.0, 5.0]], dtype)))
    np.testing.assert_array_equal(big, np.array([[1.0, 0.0], [0.5, 0.5]], dtype=dtype))


def test_sigmoid_does_not_overflow(backend, dtype):
    z = as_backend(backend, [[-1e4, -1000.0, -89.0, 1e4]], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # a warning becomes an error
        got = backend.to_numpy(backend.activation("sigmoid", z))
    assert np.isfinite(got).all() and got[0, 0] == 0.0 and got[0, 3] == 1.0


def random_targets(rng, n, k, kind):
    if kind == "one_hot":
        return np.eye(k)[rng.integers(0, k, n)]
    return rng.normal(size=(n, k))


@pytest.mark.parametrize("name", LOSSES)
def test_loss_and_grad(backend, dtype, name, rng):
    n, k = 5, 4
    if name == "cross_entropy":
        y = ref.softmax(rng.normal(size=(n, k)))
    else:
        y = rng.normal(scale=2, size=(n, k))
    t = random_targets(rng, n, k, "one_hot" if name != "mse" else "dense")
    yb, tb = as_backend(backend, y, dtype), as_backend(backend, t, dtype)
    y_r, t_r = y.astype(dtype), t.astype(dtype)
    got = backend.loss(name, yb, tb)
    assert isinstance(got, float)
    assert got == pytest.approx(ref.loss(name, y_r, t_r), rel=ref.RTOL[dtype] * 10)
    grad = backend.to_numpy(backend.loss_grad(name, yb, tb))
    ref.assert_close(grad, ref.loss_grad(name, y_r, t_r), dtype, scale=np.abs(ref.loss_grad(name, y_r, t_r)).max() + 1e-3)


@pytest.mark.parametrize("name", LOSSES)
def test_reference_loss_grad_matches_finite_differences(name, rng):
    """The oracle's analytic loss gradients agree with central differences."""
    y = ref.softmax(rng.normal(size=(3, 4))) if name == "cross_entropy" else rng.normal(size=(3, 4))
    t = np.eye(4)[[0, 2, 3]]
    np.testing.assert_allclose(ref.loss_grad(name, y, t), ref.numerical_loss_grad(name, y, t), rtol=1e-6, atol=1e-8)


def test_cross_entropy_from_logits_is_stable(backend, dtype):
    z = as_backend(backend, [[1e4, 0.0, -1e4]], dtype)
    t = as_backend(backend, [[0.0, 0.0, 1.0]], dtype)
    assert backend.loss("cross_entropy_logits", z, t) == pytest.approx(2e4, rel=1e-6)
    grad = backend.to_numpy(backend.loss_grad("cross_entropy_logits", z, t))
    np.testing.assert_allclose(grad, [[1.0, 0.0, -1.0]], atol=1e-6)


@pytest.mark.parametrize("name", [a for a in ACTIVATIONS if a != "step"])  # step: a last-bit flip at 0
def test_dense_is_affine_then_activation(backend, dtype, name, rng):
    for n in (2, 40):  # the fused loop kernel and the BLAS path of the numba backend
        x, W, b = rng.normal(size=(n, 9)), rng.normal(size=(9, 6)), rng.normal(size=6)
        got = backend.to_numpy(backend.dense(*(as_backend(backend, a, dtype) for a in (x, W, b)), name))
        z = ref.f64(x.astype(dtype)) @ ref.f64(W.astype(dtype)) + b.astype(dtype)
        ref.assert_close(got, ref.ACTIVATIONS[name](z), dtype, scale=np.abs(x) @ np.abs(W) + np.abs(b))


def test_affine_backward(backend, dtype, rng):
    x, W, d = rng.normal(size=(7, 5)), rng.normal(size=(5, 3)), rng.normal(size=(7, 3))
    xb, Wb, db_ = (as_backend(backend, a, dtype) for a in (x, W, d))
    dW, dbias = as_backend(backend, np.zeros((5, 3)), dtype), as_backend(backend, np.zeros(3), dtype)
    dx = backend.affine_backward(xb, Wb, db_, dW, dbias)
    xs, Ws, ds = (ref.f64(a.astype(dtype)) for a in (x, W, d))
    ref.assert_close(backend.to_numpy(dW), xs.T @ ds, dtype, scale=np.abs(xs).T @ np.abs(ds))
    ref.assert_close(backend.to_numpy(dbias), ds.sum(0), dtype, scale=np.abs(ds).sum(0))
    ref.assert_close(backend.to_numpy(dx), ds @ Ws.T, dtype, scale=np.abs(ds) @ np.abs(Ws).T)
    assert backend.affine_backward(xb, Wb, db_, dW, dbias, need_dx=False) is None


def reference_update(rule, p, g, state, hyper):
    """Float64 oracle of one optimizer step (Keras' formulas)."""
    p, g = p.copy(), g.copy()
    if rule == "sgd":
        return p - hyper["lr"] * g
    if rule == "adam":
        m, v = state
        m = hyper["beta1"] * m + (1 - hyper["beta1"]) * g
        v = hyper["beta2"] * v + (1 - hyper["beta2"]) * g * g
        return p - hyper["lr_t"] * m / (np.sqrt(v) + hyper["eps"])
    if rule == "momentum":
        (vel,) = state
        vel = hyper["mu"] * vel - hyper["lr"] * g
        return p + (hyper["mu"] * vel - hyper["lr"] * g if hyper["nesterov"] else vel)
    if rule == "adagrad":
        (acc,) = state
        acc = acc + g * g
        return p - hyper["lr"] * g / (np.sqrt(acc) + hyper["eps"])
    if rule == "rmsprop":
        (acc,) = state
        acc = hyper["rho"] * acc + (1 - hyper["rho"]) * g * g
        return p - hyper["lr"] * g / (np.sqrt(acc) + hyper["eps"])
    raise KeyError(rule)


@pytest.mark.parametrize(
    "rule, hyper",
    [
        ("sgd", {"lr": 0.1}),
        ("adam", {"lr_t": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7}),
        ("momentum", {"lr": 0.1, "mu": 0.9, "nesterov": False}),
        ("momentum", {"lr": 0.1, "mu": 0.9, "nesterov": True}),
        ("adagrad", {"lr": 0.1, "eps": 1e-7}),
        ("rmsprop", {"lr": 0.01, "rho": 0.9, "eps": 1e-7}),
    ],
)
def test_optimizer_updates(backend, dtype, rule, hyper, rng):
    p0, g = rng.normal(size=50), rng.normal(size=50)
    state0 = [np.abs(rng.normal(size=50)) for _ in range(2 if rule == "adam" else 1 if rule != "sgd" else 0)]
    p = as_backend(backend, p0.copy(), dtype)  # updated in place: never the oracle's input
    state = [as_backend(backend, s.copy(), dtype) for s in state0]
    method = getattr(backend, f"{rule}_update")
    method(p, as_backend(backend, g, dtype), *state, *hyper.values())
    expect = reference_update(rule, p0.astype(dtype).astype(float), g.astype(dtype).astype(float),
                              [s.astype(dtype).astype(float) for s in state0], hyper)
    ref.assert_close(backend.to_numpy(p), expect, dtype, scale=1.0)


def test_all_finite(backend, dtype):
    good = as_backend(backend, np.ones((3, 4)), dtype)
    assert backend.all_finite(good) is True
    for bad in (np.nan, np.inf, -np.inf):
        a = np.ones((3, 4))
        a[2, 1] = bad
        assert backend.all_finite(as_backend(backend, a, dtype)) is False


def test_dtype_is_preserved(backend, dtype, rng):
    """No float64 constant sneaks into float32 work: every op returns the input dtype."""
    z = as_backend(backend, rng.normal(size=(3, 4)), dtype)
    for name in ACTIVATIONS:
        a = backend.activation(name, z)
        assert a.dtype == np.dtype(dtype), name
        assert backend.activation_grad(name, a, z).dtype == np.dtype(dtype), name
        W, b = as_backend(backend, np.ones((4, 2)), dtype), as_backend(backend, np.zeros(2), dtype)
        assert backend.dense(z, W, b, name).dtype == np.dtype(dtype), name
    for name in LOSSES:
        assert backend.loss_grad(name, backend.activation("softmax", z), z).dtype == np.dtype(dtype), name
