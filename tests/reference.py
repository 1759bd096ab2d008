"""Float64 NumPy oracle, written independently of the code under test (never import mlpkit here)."""

import numpy as np

LEAKY_SLOPE = 0.01
EPS = 1e-7


def f64(a):
    return np.asarray(a, dtype=np.float64)


def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -f64(z)))


def softmax(z):
    z = f64(z)
    return np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))


ACTIVATIONS = {
    "identity": lambda z: f64(z),
    "step": lambda z: np.heaviside(f64(z), 0.0),
    "sigmoid": sigmoid,
    "tanh": lambda z: np.tanh(f64(z)),
    "relu": lambda z: np.where(f64(z) > 0, f64(z), 0.0),
    "leaky_relu": lambda z: np.where(f64(z) > 0, f64(z), LEAKY_SLOPE * f64(z)),
    "softmax": softmax,
}


def activation_grad(name, z, g):
    """dL/dz from z and upstream g via the explicit Jacobian."""
    z, g = f64(z), f64(g)
    with np.errstate(over="ignore"):  # cosh(1e4) = inf, so tanh' = 0 exactly
        sech2 = 1 / np.cosh(z) ** 2
    if name == "softmax":
        a = softmax(z)
        jac = np.einsum("nj,jk->njk", a, np.eye(z.shape[1])) - np.einsum("nj,nk->njk", a, a)
        return np.einsum("njk,nj->nk", jac, g)
    derivative = {
        "identity": np.ones_like(z),
        "step": np.zeros_like(z),
        "sigmoid": sigmoid(z) * (1 - sigmoid(z)),
        "tanh": sech2,
        "relu": (z > 0).astype(float),
        "leaky_relu": np.where(z > 0, 1.0, LEAKY_SLOPE),
    }[name]
    return g * derivative


def loss(name, y, t):
    y, t = f64(y), f64(t)
    n = y.shape[0]
    if name == "mse":
        return 0.5 * np.sum((y - t) ** 2) / n
    if name == "cross_entropy":
        return -np.sum(t * np.log(y + EPS)) / n
    if name == "cross_entropy_logits":
        return -np.sum(t * (y - np.logaddexp.reduce(y, axis=1, keepdims=True))) / n
    raise KeyError(name)


def loss_grad(name, y, t):
    """Analytic dL/dy of ``loss`` (checked against ``numerical_loss_grad`` in the tests)."""
    y, t = f64(y), f64(t)
    n = y.shape[0]
    if name == "mse":
        return (y - t) / n
    if name == "cross_entropy":
        return -t / (y + EPS) / n
    if name == "cross_entropy_logits":
        return (softmax(y) * t.sum(axis=1, keepdims=True) - t) / n
    raise KeyError(name)


def numerical_loss_grad(name, y, t, h=1e-6):
    """Central-difference gradient of ``loss`` in float64."""
    y, t = f64(y), f64(t)
    g = np.zeros_like(y)
    for idx in np.ndindex(*y.shape):
        up, down = y.copy(), y.copy()
        up[idx] += h
        down[idx] -= h
        g[idx] = (loss(name, up, t) - loss(name, down, t)) / (2 * h)
    return g


def forward(x, weights, biases, activations):
    a = f64(x)
    for W, b, act in zip(weights, biases, activations):
        a = ACTIVATIONS[act](a @ f64(W) + f64(b))
    return a


# Tolerances per dtype: relative to the magnitude of the quantity (see ``assert_close``).
RTOL = {"float32": 2e-5, "float64": 1e-11}


def assert_close(got, ref, dtype, scale=1.0):
    """|got - ref| <= RTOL[dtype] * (|ref| + scale) elementwise; ``scale`` is the size of the
    terms that were summed (for affine: sum |x_i W_ij| + |b_j|), so cancellation is allowed for."""
    got = np.asarray(got)
    assert got.dtype == np.dtype(dtype), f"dtype {got.dtype}, expected {dtype}"
    assert got.shape == np.shape(ref), f"shape {got.shape}, expected {np.shape(ref)}"
    err = np.abs(f64(got) - ref)
    bound = RTOL[dtype] * (np.abs(ref) + scale)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else ()
    assert np.all(err <= bound), f"max excess at {worst}: got {got[worst]}, ref {ref[worst]}, bound {bound[worst]}"
