"""The ops interface: the only thing the backend-agnostic MLP calls.

Conventions for every method below:
- ``x`` is a batch of shape ``(n, in)``; a weight ``W`` has shape ``(in, out)`` and a bias
  ``b`` shape ``(out,)``, as in the classic from-scratch code (``x @ W + b``).
- Arrays are backend arrays of one float dtype (float32 or float64); results keep that dtype.
- Names (activations, losses) reach a backend already validated by :func:`activation_name`
  and :func:`loss_name`; backends never see an alias.
"""

from __future__ import annotations

import abc
import contextlib
import functools
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ..kernels import activations as _table
from ..kernels.constants import CROSS_ENTROPY_EPS, LEAKY_SLOPE  # noqa: F401  (re-exported)

ACTIVATIONS: tuple[str, ...] = _table.NAMES  # from the one activation table (kernels/activations.py)
ACTIVATION_ALIASES: dict[str, str] = dict(_table.ALIASES)
LOSSES: tuple[str, ...] = ("mse", "cross_entropy", "cross_entropy_logits")
LOSS_ALIASES: dict[str, str] = {"mean_squared_error": "mse"}
DTYPES: tuple[str, ...] = ("float32", "float64")
_NO_SCOPE = contextlib.nullcontext()


class BackendUnavailable(ImportError):
    """A backend that was asked for by name cannot be used here (the message says why and how to fix it)."""


def _canonical(kind: str, name: object, valid: Sequence[str], aliases: dict[str, str]) -> str:
    if isinstance(name, str):
        key = name.strip().lower()
        key = aliases.get(key, key)
        if key in valid:
            return key
    choices = sorted(valid) + sorted(aliases)
    raise ValueError(f"{kind} must be one of {choices}; received {name!r}")


def activation_name(name: object) -> str:
    """Validate an activation name (aliases resolved) and return its canonical form."""
    return _canonical("activation", name, ACTIVATIONS, ACTIVATION_ALIASES)


def loss_name(name: object) -> str:
    """Validate a loss name (aliases resolved) and return its canonical form."""
    return _canonical("loss", name, LOSSES, LOSS_ALIASES)


def dtype_name(dtype: object) -> str:
    """Validate a model dtype (``"float32"``, ``np.float64``, ...) and return its name."""
    try:
        name = np.dtype(dtype).name  # type: ignore[arg-type]
    except TypeError:
        name = None
    if name in DTYPES:
        return name
    raise ValueError(f"dtype must be one of {list(DTYPES)}; received {dtype!r}")


@dataclass(frozen=True)
class Layer:
    """One dense layer on a backend: ``activation(x @ W + b)``; W (in, out), b (out,)."""

    W: Any
    b: Any
    activation: str


@dataclass(frozen=True)
class Net:
    """A network as :meth:`Ops.prepare` returns it: its layers (views of the model's parameters);
    each backend's subclass adds its packed form (``ArrayOps``' LayerNet, Numba's PackedNet, ...)."""

    layers: tuple[Layer, ...]

    @functools.cached_property
    def flops_per_row(self) -> float:
        """Multiply-add FLOPs of one row through every layer (2 sum of in x out): the work the
        row scheduler splits by."""
        return 2.0 * sum(int(layer.W.size) for layer in self.layers)


class Ops(abc.ABC):
    """Numerical operations an MLP needs, implemented once per array library.

    This class is the interface and the defaults that need nothing but other Ops methods;
    :class:`~mlpkit.backends.array_ops.ArrayOps` implements it in array code over a namespace
    ``xp``, and every backend derives from that."""

    name: ClassVar[str]
    #: Rows per :meth:`forward` call when ``MLP.predict`` cuts a large batch into chunks: large
    #: enough to amortise per-call costs, small enough that one chunk's activations (and input
    #: cast) stay in cache and peak memory does not grow with the input. Measured per backend.
    chunk_rows: ClassVar[int] = 1024

    def scope(self) -> contextlib.AbstractContextManager:
        """Context in which one public model call (predict, fit, ...) issues all of its work.
        The default does nothing; the CuPy backend runs the work on its own stream."""
        return _NO_SCOPE

    # -- arrays --------------------------------------------------------------------------
    @abc.abstractmethod
    def asarray(self, x: Any, dtype: str) -> Any:
        """Host array-like -> C-contiguous backend array of ``dtype`` (a copy only if needed)."""

    @abc.abstractmethod
    def zeros(self, shape: tuple[int, ...], dtype: str) -> Any:
        """A new backend array of zeros (gradient and optimizer-state buffers)."""

    @abc.abstractmethod
    def to_numpy(self, x: Any) -> np.ndarray:
        """Backend array -> ``numpy.ndarray`` (no copy where the backend already holds NumPy)."""

    def is_native(self, x: Any) -> bool:
        """True if ``x`` is a backend array that is not a NumPy array (so results stay on the backend)."""
        return False

    @abc.abstractmethod
    def all_finite(self, x: Any) -> bool:
        """True if no element of ``x`` is NaN or +-Inf."""

    @abc.abstractmethod
    def concat(self, arrays: Sequence[Any]) -> Any:
        """Stack (n_i, k) arrays along the first axis -> (sum n_i, k)."""

    @abc.abstractmethod
    def take_rows(self, x: Any, idx: np.ndarray) -> Any:
        """Rows ``idx`` (a host integer array) of x (n, k) -> (len(idx), k), a new array."""

    # -- layers --------------------------------------------------------------------------
    @abc.abstractmethod
    def affine(self, x: Any, W: Any, b: Any) -> Any:
        """(n, in) @ (in, out) + (out,) -> (n, out)."""

    @abc.abstractmethod
    def activation(self, name: str, z: Any) -> Any:
        """Elementwise activation of z (n, k); ``softmax`` is row-wise and max-subtracted."""

    @abc.abstractmethod
    def activation_grad(self, name: str, a: Any, upstream: Any) -> Any:
        """dL/dz (n, k) given the output a = activation(z) and dL/da ``upstream``.

        Every built-in activation's derivative is a function of its output (relu: a > 0 iff
        z > 0; sigmoid: a (1 - a); tanh: 1 - a^2; softmax: a * (g - sum(g a))), so training
        keeps only the activations."""

    def dense(self, x: Any, W: Any, b: Any, activation: str) -> Any:
        """One layer, activation(x @ W + b): (n, in) -> (n, out); backends may fuse it."""
        return self.activation(activation, self.affine(x, W, b))

    def softmax_cross_entropy(self, z: Any, t: Any) -> tuple[float, Any, int]:
        """Output layer of a classifier, from logits z (n, k) and one-hot/dense targets t:
        (mean cross-entropy from logits, dL/dz = (softmax(z) sum(t) - t) / n, number of rows
        whose argmax matches t's). Backends may fuse it into one pass."""
        y = self.activation("softmax", z)
        correct = int((y.argmax(axis=1) == t.argmax(axis=1)).sum())
        return self.loss("cross_entropy_logits", z, t), self.loss_grad("cross_entropy_logits", z, t), correct

    @abc.abstractmethod
    def affine_backward(self, x: Any, W: Any, delta: Any, dW: Any, db: Any, need_dx: bool = True) -> Any:
        """Backward of x @ W + b given delta = dL/dz (n, out): writes dW (in, out) = x.T @ delta
        and db (out,) = delta summed over rows into the given arrays; returns dL/dx (n, in)
        = delta @ W.T, or None if not ``need_dx``."""

    # -- optimizer updates, in place on flat parameter/gradient/state arrays ---------------
    @abc.abstractmethod
    def sgd_update(self, p: Any, g: Any, lr: float) -> None:
        """p -= lr g."""

    @abc.abstractmethod
    def momentum_update(self, p: Any, g: Any, vel: Any, lr: float, mu: float, nesterov: bool) -> None:
        """vel = mu vel - lr g; p += vel (Nesterov: p += mu vel - lr g), as Keras' SGD."""

    @abc.abstractmethod
    def adagrad_update(self, p: Any, g: Any, acc: Any, lr: float, eps: float) -> None:
        """acc += g^2; p -= lr g / (sqrt(acc) + eps)."""

    @abc.abstractmethod
    def rmsprop_update(self, p: Any, g: Any, acc: Any, lr: float, rho: float, eps: float) -> None:
        """acc = rho acc + (1 - rho) g^2; p -= lr g / (sqrt(acc) + eps)."""

    @abc.abstractmethod
    def adam_update(self, p: Any, g: Any, m: Any, v: Any, lr_t: float, beta1: float, beta2: float, eps: float) -> None:
        """m, v moving averages of g, g^2; p -= lr_t m / (sqrt(v) + eps). ``lr_t`` carries the
        bias correction lr sqrt(1 - beta2^t) / (1 - beta1^t) (Keras' form)."""

    # -- losses (mean over the batch) ----------------------------------------------------
    @abc.abstractmethod
    def loss(self, name: str, y: Any, t: Any) -> float:
        """Scalar loss of outputs y (n, k) against targets t (n, k), averaged over the n rows.

        ``mse``: 0.5 * sum((y - t)**2) / n.  ``cross_entropy``: -sum(t * log(y + eps)) / n on
        probabilities y.  ``cross_entropy_logits``: the same on softmax(y), computed stably from logits y.
        """

    @abc.abstractmethod
    def loss_grad(self, name: str, y: Any, t: Any) -> Any:
        """dL/dy (n, k) of :meth:`loss` (for ``cross_entropy_logits``: (softmax(y) - t) / n)."""

    # -- whole network -------------------------------------------------------------------
    def prepare(self, layers: Sequence[Layer]) -> Net:
        """Pack a network for :meth:`forward`; called once per set of weights, never per call.
        Backends return a subclass of :class:`Net` holding their packed form."""
        return Net(tuple(layers))

    def forward(self, x: Any, net: Net) -> Any:
        """Whole-network forward of x (n, in) -> (n, out); ``net`` comes from :meth:`prepare`.
        The default runs :meth:`dense` layer by layer; backends may fuse the whole network."""
        for layer in net.layers:
            x = self.dense(x, layer.W, layer.b, layer.activation)
        return x

    def forward_finite(self, x: Any, net: Net) -> tuple[Any, bool]:
        """:meth:`forward` and whether x is all finite; when it is not, the output is None or
        unspecified. Backends may decide from the first layer's pre-activations instead of x
        (fewer values, already in cache): for finite weights a NaN or Inf input makes its whole
        row of pre-activations NaN or Inf. Then False may also mean that a finite input
        overflowed, and the output is the forward's result: callers check x itself before
        reporting it."""
        if not self.all_finite(x):
            return None, False
        return self.forward(x, net), True

    def forward_one(self, x: Any, net: Net) -> Any:
        """Single-sample forward of x (in,) -> (out,); backends may replace it with a fused kernel."""
        return self.forward(x[None, :], net)[0]

    def forward_one_finite(self, x: Any, net: Net) -> tuple[Any, bool]:
        """:meth:`forward_one` and a finite flag, with the contract of :meth:`forward_finite`
        (a fused kernel may decide from the first layer's pre-activations)."""
        if not self.all_finite(x):
            return None, False
        return self.forward_one(x, net), True

    def one_sample_path(self, net: Net) -> Callable[[Any, bool], Any] | None:
        """An optional shortcut for single-sample ``predict`` with ``net``, made once per set of
        weights: ``run(x, check_finite)`` returns the output (out,) when x is exactly what the
        backend's kernel takes (its array type, dtype, shape (in,), layout) and the forward is
        done - finite, or not checked - and None otherwise, for the general path to convert,
        check and say what is wrong. None (the default): no shortcut."""
        return None

    def __repr__(self) -> str:
        return f"<mlpkit {self.name} backend>"
