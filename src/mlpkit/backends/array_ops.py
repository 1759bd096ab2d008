"""Array code shared by every backend, written against an explicit array namespace ``self.xp``.

:class:`ArrayOps` implements :class:`~mlpkit.backends.base.Ops` with the namespace's functions and
the arrays' own methods and operators only (``xp.exp``, ``x.dot``, ``z += b``), never a NumPy
function on a backend array: the NumPy backend runs it with ``xp = numpy``, the CuPy backend with
``xp = cupy``, the Numba backend with ``xp = numpy`` under its loop kernels. Backends derive from
it as siblings and override only what is their own (transfers, fused kernels, faster checks).
``tests/test_cupy_logic_on_numpy.py`` runs this code through a namespace that holds only what
CuPy has, and ``tests/test_array_seam.py`` fails on any ``np.`` call in this file.

Dtype-preserving: every constant is a Python scalar, which the array library casts to the
array's dtype, so float32 work stays float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ..kernels.constants import CROSS_ENTROPY_EPS, LEAKY_SLOPE
from .base import Layer, Net, Ops

_NO_CONTEXT = contextlib.nullcontext()
_DTYPES = {name: np.dtype(name) for name in ("float32", "float64")}  # NumPy's dtype singletons (also CuPy's dtypes)


# -- formulas: f(xp, z) -> array; the forward pass's in-place forms overwrite z ---------------------
def sigmoid(xp, z):
    """Logistic function without overflow: exp is only taken of -|z| <= 0."""
    e = xp.exp(-abs(z))
    r = 1 / (1 + e)
    return xp.where(z >= 0, r, e * r)


def sigmoid_inplace(xp, z):
    """z <- 1 / (1 + exp(-z)) in 4 in-place calls. exp(-z) overflows to inf for very negative z,
    giving the correct 0; the forward pass runs it under ``errstate(over="ignore")``."""
    xp.negative(z, out=z)
    xp.exp(z, out=z)
    z += 1
    return xp.reciprocal(z, out=z)


def softmax(xp, z):
    """Softmax over the last axis of z (k,) or (n, k), max-subtracted so exp never overflows."""
    e = xp.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def softmax_inplace(xp, z):
    """z <- softmax(z) over the last axis, reusing z's memory."""
    z -= z.max(axis=-1, keepdims=True)
    xp.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def log_softmax(xp, z):
    """Row-wise log(softmax(z)) computed as z - logsumexp(z)."""
    m = z.max(axis=1, keepdims=True)
    return z - (m + xp.log(xp.exp(z - m).sum(axis=1, keepdims=True)))


ACTIVATIONS: dict[str, Callable] = {
    "identity": lambda xp, z: z,
    "step": lambda xp, z: (z > 0).astype(z.dtype),
    "sigmoid": sigmoid,
    "tanh": lambda xp, z: xp.tanh(z),
    "relu": lambda xp, z: xp.maximum(z, 0),
    "leaky_relu": lambda xp, z: xp.where(z > 0, z, z * LEAKY_SLOPE),
    "softmax": softmax,
}

#: In-place forms where one pays (the forward pass owns each layer's output); the rest use ACTIVATIONS.
ACTIVATIONS_INPLACE: dict[str, Callable] = {
    "identity": lambda xp, z: z,
    "sigmoid": sigmoid_inplace,
    "tanh": lambda xp, z: xp.tanh(z, out=z),
    "relu": lambda xp, z: xp.maximum(z, 0, out=z),
    "softmax": softmax_inplace,
}

def activation_inplace(name: str) -> Callable:
    """The form f(xp, z) of activation ``name`` that may overwrite z."""
    return ACTIVATIONS_INPLACE.get(name) or ACTIVATIONS[name]


#: dL/dz from the output a and upstream g = dL/da; step's derivative is 0 wherever it exists.
ACTIVATION_GRADS: dict[str, Callable] = {
    "identity": lambda xp, a, g: g,
    "step": lambda xp, a, g: xp.zeros_like(g),
    "sigmoid": lambda xp, a, g: g * a * (1 - a),
    "tanh": lambda xp, a, g: g * (1 - a * a),
    "relu": lambda xp, a, g: xp.where(a > 0, g, 0),
    "leaky_relu": lambda xp, a, g: xp.where(a > 0, g, g * LEAKY_SLOPE),
    "softmax": lambda xp, a, g: a * (g - (g * a).sum(axis=1, keepdims=True)),
}


def _sum64(xp, a) -> float:
    """sum(a) accumulated in float64, as a Python float (one scalar back from a device)."""
    return float(a.sum(dtype=xp.float64))


def _mse(xp, y, t):
    d = y - t
    return 0.5 * _sum64(xp, d * d) / len(y)


#: The loss formulas, mean over the batch (see Ops.loss); names from backends.base.LOSSES.
LOSSES: dict[str, Callable] = {
    "mse": _mse,
    "cross_entropy": lambda xp, y, t: -_sum64(xp, t * xp.log(y + CROSS_ENTROPY_EPS)) / len(y),
    "cross_entropy_logits": lambda xp, y, t: -_sum64(xp, t * log_softmax(xp, y)) / len(y),
}

LOSS_GRADS: dict[str, Callable] = {
    "mse": lambda xp, y, t: (y - t) / len(y),
    "cross_entropy": lambda xp, y, t: -t / (y + CROSS_ENTROPY_EPS) / len(y),
    # d/dz sum_k t_k (logsumexp(z) - z_k) = sum(t) softmax(z) - t; sum(t) = 1 for one-hot rows.
    "cross_entropy_logits": lambda xp, y, t: (softmax(xp, y) * t.sum(axis=1, keepdims=True) - t) / len(y),
}


@dataclass(frozen=True)
class LayerNet(Net):
    """A network prepared for the layer-by-layer forward: per layer (W, b, its in-place activation
    f(xp, z)), and whether exp may overflow on the way (sigmoid)."""

    steps: tuple[tuple[Any, Any, Callable], ...] = ()
    quiet: bool = False


class ArrayOps(Ops):
    """:class:`Ops` in array code over the namespace :attr:`xp` (see the module docstring)."""

    #: The array namespace: ``numpy``, ``cupy``, or a stand-in with the same functions.
    xp: ClassVar[Any] = np

    def errstate(self, **kwargs) -> contextlib.AbstractContextManager:
        """The namespace's ``errstate(**kwargs)`` where it has one (NumPy: silences floating-point
        warnings); a namespace without one (CuPy) warns about nothing."""
        errstate = getattr(self.xp, "errstate", None)
        return _NO_CONTEXT if errstate is None else errstate(**kwargs)

    # -- arrays --------------------------------------------------------------------------
    def asarray(self, x: Any, dtype: str) -> Any:
        if type(x) is self.xp.ndarray and x.dtype is _DTYPES.get(dtype) and x.flags.c_contiguous:
            return x  # already what the kernels take (the single-sample hot path; dtype.name is slow)
        return self.xp.ascontiguousarray(x, dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype: str) -> Any:
        return self.xp.zeros(shape, dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Host namespaces hold NumPy arrays already; a device backend overrides this with a download."""
        return np.asarray(x)

    def all_finite(self, x: Any) -> bool:
        return bool(self.xp.isfinite(x).all())

    def concat(self, arrays: Sequence[Any]) -> Any:
        return self.xp.concatenate(arrays)

    def take_rows(self, x: Any, idx: np.ndarray) -> Any:
        return x[idx]

    # -- layers --------------------------------------------------------------------------
    def affine(self, x: Any, W: Any, b: Any) -> Any:
        z = x.dot(W)  # the method skips the @ operator's dispatch: 3.5 vs 4.3 us on (784,) x (784, 50)
        z += b
        return z

    def activation(self, name: str, z: Any) -> Any:
        return ACTIVATIONS[name](self.xp, z)

    def activation_grad(self, name: str, a: Any, upstream: Any) -> Any:
        return ACTIVATION_GRADS[name](self.xp, a, upstream)

    def dense(self, x: Any, W: Any, b: Any, activation: str) -> Any:
        z = self.affine(x, W, b)
        with self.errstate(over="ignore") if activation == "sigmoid" else _NO_CONTEXT:
            return activation_inplace(activation)(self.xp, z)

    def affine_backward(self, x: Any, W: Any, delta: Any, dW: Any, db: Any, need_dx: bool = True) -> Any:
        dW[...] = x.T.dot(delta)
        db[...] = delta.sum(axis=0)
        return delta.dot(W.T) if need_dx else None

    # -- optimizer updates: array operators only; backends may fuse them ----------------------
    def sgd_update(self, p: Any, g: Any, lr: float) -> None:
        p -= lr * g

    def momentum_update(self, p: Any, g: Any, vel: Any, lr: float, mu: float, nesterov: bool) -> None:
        vel *= mu
        vel -= lr * g
        if nesterov:
            p += mu * vel - lr * g
        else:
            p += vel

    def adagrad_update(self, p: Any, g: Any, acc: Any, lr: float, eps: float) -> None:
        acc += g * g
        p -= lr * g / (acc**0.5 + eps)

    def rmsprop_update(self, p: Any, g: Any, acc: Any, lr: float, rho: float, eps: float) -> None:
        acc *= rho
        acc += (1 - rho) * g * g
        p -= lr * g / (acc**0.5 + eps)

    def adam_update(self, p: Any, g: Any, m: Any, v: Any, lr_t: float, beta1: float, beta2: float, eps: float) -> None:
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        p -= lr_t * m / (v**0.5 + eps)

    # -- losses --------------------------------------------------------------------------
    def loss(self, name: str, y: Any, t: Any) -> float:
        return LOSSES[name](self.xp, y, t)

    def loss_grad(self, name: str, y: Any, t: Any) -> Any:
        return LOSS_GRADS[name](self.xp, y, t)

    # -- whole network -------------------------------------------------------------------
    def prepare(self, layers: Sequence[Layer]) -> LayerNet:
        layers = tuple(layers)
        steps = tuple((layer.W, layer.b, activation_inplace(layer.activation)) for layer in layers)
        return LayerNet(layers, steps, any(layer.activation == "sigmoid" for layer in layers))

    def forward(self, x: Any, net: LayerNet) -> Any:
        with self.errstate(over="ignore") if net.quiet else _NO_CONTEXT:
            return self.through(x, net.steps)

    def through(self, x: Any, steps: Sequence[tuple[Any, Any, Callable]]) -> Any:
        """x (n, in) or (in,) through the layers ``steps`` ((W, b, in-place activation), as in
        :class:`LayerNet`), under whatever error state the caller set."""
        xp = self.xp
        for W, b, act in steps:
            z = x.dot(W)
            z += b
            x = act(xp, z)
        return x
