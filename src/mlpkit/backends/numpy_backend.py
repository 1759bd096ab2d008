"""Vectorised NumPy implementation of :class:`~mlpkit.backends.base.Ops`.

Dtype-preserving: every constant is a Python scalar, which NumPy casts to the array's dtype,
so float32 work stays float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels.constants import CROSS_ENTROPY_EPS, LEAKY_SLOPE
from .base import Ops


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow: exp is only taken of -|z| <= 0."""
    e = np.exp(-np.abs(z))
    r = 1 / (1 + e)
    return np.where(z >= 0, r, e * r)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of z (n, k), max-subtracted so exp never overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log(softmax(z)) computed as z - logsumexp(z)."""
    m = z.max(axis=1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))


_ACTIVATIONS = {
    "identity": lambda z: z,
    "step": lambda z: (z > 0).astype(z.dtype),
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, z * LEAKY_SLOPE),
    "softmax": softmax,
}

# dL/dz from (z, a, upstream = dL/da); the step function's derivative is 0 wherever it exists.
_ACTIVATION_GRADS = {
    "identity": lambda z, a, g: g,
    "step": lambda z, a, g: np.zeros_like(g),
    "sigmoid": lambda z, a, g: g * a * (1 - a),
    "tanh": lambda z, a, g: g * (1 - a * a),
    "relu": lambda z, a, g: np.where(z > 0, g, 0),
    "leaky_relu": lambda z, a, g: np.where(z > 0, g, g * LEAKY_SLOPE),
    "softmax": lambda z, a, g: a * (g - (g * a).sum(axis=1, keepdims=True)),
}


def _mse(y, t):
    d = y - t
    return 0.5 * float(np.sum(d * d, dtype=np.float64)) / len(y)


def _cross_entropy(y, t):
    return -float(np.sum(t * np.log(y + CROSS_ENTROPY_EPS), dtype=np.float64)) / len(y)


def _cross_entropy_logits(y, t):
    return -float(np.sum(t * log_softmax(y), dtype=np.float64)) / len(y)


_LOSSES = {"mse": _mse, "cross_entropy": _cross_entropy, "cross_entropy_logits": _cross_entropy_logits}

_LOSS_GRADS = {
    "mse": lambda y, t: (y - t) / len(y),
    "cross_entropy": lambda y, t: -t / (y + CROSS_ENTROPY_EPS) / len(y),
    # d/dz sum_k t_k (logsumexp(z) - z_k) = sum(t) softmax(z) - t; sum(t) = 1 for one-hot rows.
    "cross_entropy_logits": lambda y, t: (softmax(y) * t.sum(axis=1, keepdims=True) - t) / len(y),
}


class NumpyOps(Ops):
    """Reference backend: plain vectorised NumPy, BLAS for the matrix products."""

    name = "numpy"

    def asarray(self, x: Any, dtype: str) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def all_finite(self, x: Any) -> bool:
        return bool(np.isfinite(x).all())

    def affine(self, x: Any, W: Any, b: Any) -> np.ndarray:
        z = x @ W
        z += b
        return z

    def activation(self, name: str, z: Any) -> np.ndarray:
        return _ACTIVATIONS[name](z)

    def activation_grad(self, name: str, z: Any, a: Any, upstream: Any) -> np.ndarray:
        return _ACTIVATION_GRADS[name](z, a, upstream)

    def loss(self, name: str, y: Any, t: Any) -> float:
        return _LOSSES[name](y, t)

    def loss_grad(self, name: str, y: Any, t: Any) -> np.ndarray:
        return _LOSS_GRADS[name](y, t)
