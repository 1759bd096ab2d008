"""The backend-agnostic multi-layer perceptron.

``MLP`` holds its layers as backend arrays and does all numerical work through an
:class:`~mlpkit.backends.Ops` object; it never asks which backend that is.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Callable, Sequence

import numpy as np

from ..backends import Ops, activation_name, dtype_name, get_backend
from ..io import sklearn as sklearn_format
from ..io import torch as torch_format
from ..io.arrays import ModelArrays
from . import backprop, checks, training
from .init import init_weight
from .optimizers import Optimizer, get_optimizer
from .parameters import Parameters
from .training import History

#: The metadata key of :attr:`MLP.input_divisor`.
INPUT_DIVISOR = "input_divisor"


def _in_backend_scope(method: Callable) -> Callable:
    """Run a public method inside its backend's :meth:`~mlpkit.backends.Ops.scope`."""

    @functools.wraps(method)
    def wrapper(self: "MLP", *args: Any, **kwargs: Any) -> Any:
        with self._ops.scope():
            return method(self, *args, **kwargs)

    return wrapper


class MLP:
    """Dense feed-forward network: ``a_{l} = activation_l(a_{l-1} @ W_l + b_l)``.

    ``W_l`` has shape (in, out) and ``b_l`` (out,), as in the classic from-scratch code.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        output: str = "softmax",
        *,
        backend: str | Ops | None = None,
        dtype: Any = "float32",
        seed: int | None = None,
    ) -> None:
        """Random network: He-normal weights before relu-family activations, Glorot-uniform
        otherwise, zero biases; the same ``seed`` gives the same weights."""
        sizes = checks.layer_sizes(layer_sizes)
        hidden, out = activation_name(activation), activation_name(output)
        activations = [hidden] * (len(sizes) - 2) + [out]
        rng = np.random.default_rng(seed)
        weights = [init_weight(rng, i, o, a) for i, o, a in zip(sizes[:-1], sizes[1:], activations)]
        biases = [np.zeros(o) for o in sizes[1:]]
        self._build(weights, biases, activations, backend, dtype_name(dtype))

    @classmethod
    def from_arrays(
        cls,
        weights: Sequence[Any],
        biases: Sequence[Any],
        activations: Sequence[str],
        *,
        backend: str | Ops | None = None,
        dtype: Any = None,
    ) -> "MLP":
        """Network from given parameters: ``weights[i]`` (in, out), ``biases[i]`` (out,), one
        activation name per layer. ``dtype=None`` keeps the arrays' float32/float64."""
        model = cls.__new__(cls)
        model._build(weights, biases, activations, backend, dtype)
        return model

    @classmethod
    def from_sklearn(cls, estimator: Any, *, backend: str | Ops | None = None, dtype: Any = "float64") -> "MLP":
        """From a fitted scikit-learn MLPClassifier/MLPRegressor; ``predict`` then equals its
        ``predict_proba`` (classifiers, binary included) or ``predict`` (regressors)."""
        return cls.from_model_arrays(sklearn_format.read(estimator), backend=backend, dtype=dtype)

    @classmethod
    def from_torch(cls, module: Any, activations: Sequence[str] | None = None, *,
                   backend: str | Ops | None = None, dtype: Any = None) -> "MLP":
        """From a PyTorch ``nn.Sequential`` of Linear + activations, or a state_dict plus one
        activation name per layer (Linear weights (out, in) are transposed)."""
        return cls.from_model_arrays(torch_format.read(module, activations), backend=backend, dtype=dtype)

    @classmethod
    def from_model_arrays(cls, arrays: ModelArrays, *, backend: str | Ops | None = None, dtype: Any = None) -> "MLP":
        """A model from the record every format reader returns (:mod:`mlpkit.io`): its arrays,
        activations and a deep copy of its metadata, in ``dtype`` (default: the record's, else
        the arrays' own)."""
        model = cls.from_arrays(arrays.weights, arrays.biases, arrays.activations, backend=backend,
                                dtype=dtype or arrays.dtype)
        model.metadata = copy.deepcopy(arrays.metadata)
        if INPUT_DIVISOR in model.metadata:
            checks.input_divisor(model.metadata[INPUT_DIVISOR], "metadata['input_divisor']")
        return model

    def _build(self, weights, biases, activations, backend, dtype) -> None:
        Ws, bs, acts, dtype = checks.network_arrays(weights, biases, activations, dtype)
        # every W and b a view of one flat buffer (see mlp/parameters.py); copies keep that
        self._store = Parameters(get_backend(backend), Ws, bs, acts, dtype)
        self._n_in = Ws[0].shape[0]
        self.metadata: dict = {}  # free-form, saved with the model (class labels, normalisation...)

    # shorthands for the store's parts, read by the methods below
    _ops = property(lambda self: self._store.ops)
    _dtype = property(lambda self: self._store.dtype)
    _layers = property(lambda self: self._store.layers)
    _net = property(lambda self: self._store.net)
    _flat = property(lambda self: self._store.flat)

    # -- inference ---------------------------------------------------------------------------
    #: Batches longer than this are predicted in chunks of this many rows; None: the backend's
    #: measured ``chunk_rows`` (4096 on NumPy and Numba, which split a chunk into row parts).
    default_batch_size: int | None = None

    def predict(self, x: Any, *, check_finite: bool = True, batch_size: int | None = None) -> Any:
        """Network output for one sample x (n_features,) -> (n_outputs,) or a batch
        (batch, n_features) -> (batch, n_outputs).

        Accepts lists and any float or integer dtype (cast to the model dtype; integer images are
        not rescaled). Returns a NumPy array unless x is a non-NumPy array of the model's backend.
        NaN or Inf in x raises ValueError; ``check_finite=False`` skips that scan, and then the
        outputs for non-finite inputs are unspecified. Batches are processed ``batch_size`` rows
        at a time (default :attr:`default_batch_size`, else the backend's ``chunk_rows``), so
        peak memory does not grow with the input beyond the output itself.
        """
        store = self._store  # plain attributes from here: this is the single-sample hot path
        if store.one_sample is not None:  # the backend's shortcut for a vector it takes as is
            y = store.one_sample(x, check_finite)
            if y is not None:
                return y
        ops = store.ops
        arr = self._from_integers(checks.input_array(x, self._n_in))
        native = type(arr) is not np.ndarray and ops.is_native(arr)  # a NumPy input is never native
        check = check_finite and arr.dtype.kind == "f"
        with ops.scope():  # the backend issues this call's work (CuPy: on its own stream)
            if arr.ndim == 1:
                xb = ops.asarray(arr, store.dtype)
                if not check:
                    y = ops.forward_one(xb, store.net)
                else:
                    y, finite = ops.forward_one_finite(xb, store.net)
                    if not finite:  # raises unless finite inputs overflowed in the first layer
                        self._check_finite(xb, source=arr)
            else:
                y = self._forward_chunks(arr, check, checks.batch_size(batch_size, self.default_batch_size or ops.chunk_rows))
            return y if native or type(y) is np.ndarray else ops.to_numpy(y)

    def _forward_chunks(self, arr: Any, check: bool, step: int) -> Any:
        """:meth:`_forward` of the batch ``arr`` ``step`` rows at a time, the outputs end to end.
        Its own method: a comprehension in :meth:`predict` would make predict's locals closure
        cells, created on every call (0.12-0.15 us of a single-sample predict, AMD EPYC Zen 2)."""
        if len(arr) <= step:
            return self._forward(arr, check)
        return self._ops.concat([self._forward(arr[i : i + step], check, offset=i) for i in range(0, len(arr), step)])

    def _forward(self, arr: Any, check: bool, offset: int = 0) -> Any:
        """Forward of the batch ``arr`` (rows ``offset``... of the caller's input) cast to the model
        dtype; with ``check``, NaN/Inf in it raises ValueError."""
        ops = self._ops
        xb = ops.asarray(arr, self._dtype)
        if not check:
            return ops.forward(xb, self._net)
        y, finite = ops.forward_finite(xb, self._net)
        if finite:
            return y
        self._check_finite(xb, offset, source=arr)  # raises unless finite inputs overflowed in the first layer
        return y

    def _check_finite(self, xb: Any, offset: int = 0, source: Any = None) -> None:
        """Raise ValueError naming the first NaN/Inf of xb (its row shifted by ``offset``); where
        the caller's ``source`` value there was finite, say that the cast to the model dtype
        overflowed instead (1e300 in float32)."""
        if not self._ops.all_finite(xb):
            local = checks.first_non_finite(self._ops.to_numpy(xb))
            where = (local[0] + offset,) + local[1:] if xb.ndim == 2 else local
            original = np.asarray(self._ops.to_numpy(source)[local]) if source is not None else None
            if original is not None and np.isfinite(original):
                raise ValueError(f"input value {original.item()!r} at index {where} overflows {self._dtype} "
                                 f"(largest {np.finfo(self._dtype).max:.3g}): scale the input or use dtype='float64'")
            raise ValueError(f"input contains NaN or Inf (first at index {where}); all inputs must be finite")

    @property
    def input_divisor(self) -> float | None:
        """Integer inputs (raw 0-255 pixels) are divided by this before anything else in
        ``predict``, ``fit``, ``evaluate`` and ``loss``; float inputs are used as given. None: no
        scaling. Kept in ``metadata["input_divisor"]``, so it is saved with the model; the
        built-in MNIST model carries 255."""
        return self.metadata.get(INPUT_DIVISOR)

    @input_divisor.setter
    def input_divisor(self, value: float | None) -> None:
        if value is None:
            self.metadata.pop(INPUT_DIVISOR, None)
        else:
            self.metadata[INPUT_DIVISOR] = checks.input_divisor(value)

    def _from_integers(self, arr: Any) -> Any:
        """A checked input ``arr`` itself, or - integer-typed with an :attr:`input_divisor` - divided
        by it in the model dtype (as ``x.astype(dtype) / divisor``, the classic normalisation).
        The dtype test comes first: a float input (the hot path) costs one attribute read."""
        if arr.dtype.kind not in "iu" or not self.metadata.get(INPUT_DIVISOR):
            return arr
        dtype = np.dtype(self._dtype)
        return np.asarray(arr).astype(dtype) / dtype.type(self.metadata[INPUT_DIVISOR])

    def _scaled(self, x: Any) -> Any:
        """A training or evaluation input, integer rows divided by :attr:`input_divisor`."""
        return self._from_integers(checks.input_array(x, self._n_in)) if self.metadata.get(INPUT_DIVISOR) else x

    def predict_classes(self, x: Any, **kwargs: Any) -> Any:
        """Index of the largest output: an integer for one sample, (batch,) for a batch."""
        return self.predict(x, **kwargs).argmax(axis=-1)

    # -- training --------------------------------------------------------------------------------
    @_in_backend_scope
    def loss(self, x: Any, t: Any, *, loss: str = "cross_entropy") -> float:
        """Mean loss over the rows of x (n, n_features) against labels (n,) or targets (n, n_out)."""
        xb, tb, name = self._training_batch(x, t, loss)
        _, z = backprop.forward_logits(self._ops, self._layers, xb)
        return backprop.output_step(self._ops, self._layers[-1].activation, z, tb, name)[0]

    @_in_backend_scope
    def gradients(self, x: Any, t: Any, *, loss: str = "cross_entropy") -> dict[str, np.ndarray]:
        """dLoss/dparam for every parameter, named like :attr:`params` (NumPy arrays)."""
        xb, tb, name = self._training_batch(x, t, loss)
        ops = self._ops
        acts, z = backprop.forward_logits(ops, self._layers, xb)
        _, delta, _ = backprop.output_step(ops, self._layers[-1].activation, z, tb, name)
        _, views = self._store.zeros()
        backprop.backward(ops, self._layers, xb, acts, delta, views)
        return {key: ops.to_numpy(v) for key, v in zip(self.params, views)}

    def _training_batch(self, x: Any, t: Any, loss: str):
        name = training.fit_loss(loss)
        X = training.inputs(self._scaled(x), self._n_in)
        T = training.targets(t, len(X), self.layer_sizes[-1], loss=name)
        return self._ops.asarray(X, self._dtype), self._ops.asarray(T, self._dtype), name

    @_in_backend_scope
    def fit(
        self,
        x: Any,
        t: Any,
        epochs: int = 10,
        batch_size: int = 32,
        optimizer: str | Optimizer = "adam",
        lr: float | None = None,
        loss: str = "cross_entropy",
        validation_data: tuple[Any, Any] | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        verbose: bool = True,
        callbacks: Sequence[Callable[[int, dict], Any]] | None = None,
        *,
        schedule: str | Callable[[int], float] | None = None,
        weight_decay: float = 0.0,
        early_stopping: int | None = None,
        validation_split: float = 0.0,
    ) -> History:
        """Train with mini-batch backprop; returns the per-epoch :class:`History`.

        x (n, n_features); t integer labels (n,) or one-hot/dense targets (n, n_out).
        ``optimizer``: sgd, momentum, nesterov, adagrad, rmsprop, adam, or an Optimizer.
        ``schedule``: constant, step, exponential, cosine (over all steps) or step -> multiplier.
        ``weight_decay``: L2 on the weights (not the biases). ``early_stopping=k``: stop after k
        epochs without a lower validation loss and keep the best weights. A callback
        ``cb(epoch, logs)`` returning True stops training. Everything is checked before the
        first step (data, callbacks, early_stopping, weight_decay, the schedule's rates);
        ``seed`` makes the shuffling reproducible. If ``fit`` raises half-way (a diverging
        loss, a callback's exception, KeyboardInterrupt), the model keeps the parameters of the
        last completed epoch (those before ``fit`` if none completed), and ``predict``,
        ``params`` and ``save`` all see them. ``validation_split=f`` (0 < f < 1) holds out the
        last f of the rows (before any shuffling, as Keras does) as ``validation_data``.
        """
        if validation_split:
            x, t, validation_data = _split_off(x, t, validation_split, validation_data)
        x = self._scaled(x)
        if validation_data is not None and len(validation_data) == 2:
            validation_data = (self._scaled(validation_data[0]), validation_data[1])
        opt = get_optimizer(optimizer, lr, schedule)
        return training.run(
            self._store, x, t, epochs=epochs, batch_size=batch_size, optimizer=opt, loss=training.fit_loss(loss),
            validation_data=validation_data, shuffle=shuffle, seed=seed, verbose=verbose,
            callbacks=list(callbacks or ()), weight_decay=weight_decay, early_stopping=early_stopping,
        )

    @_in_backend_scope
    def evaluate(self, x: Any, t: Any, *, loss: str = "cross_entropy") -> tuple[float, float]:
        """(mean loss, accuracy) on x with class labels or one-hot targets t; (mean loss, mean
        absolute error) with real-valued targets (regression, e.g. ``loss="mse"``)."""
        name = training.fit_loss(loss)
        training.check_loss_output(name, self.activations[-1])
        X = training.inputs(self._scaled(x), self._n_in)
        T = training.targets(t, len(X), self.layer_sizes[-1], loss=name)
        return training.evaluate(self._store, X, T, name, training.metric_for(T))

    # -- description ---------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """Name of the backend this model runs on."""
        return self._ops.name

    @property
    def dtype(self) -> str:
        """``"float32"`` or ``"float64"``."""
        return self._dtype

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(n_features, hidden..., n_outputs)."""
        return (self._n_in,) + tuple(int(layer.W.shape[1]) for layer in self._layers)

    @property
    def activations(self) -> tuple[str, ...]:
        """One canonical activation name per layer."""
        return tuple(layer.activation for layer in self._layers)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Read-only NumPy arrays ``W1, b1, W2, b2, ...``: W_i (in, out), b_i (out,)."""
        out = {}
        for i, layer in enumerate(self._layers, start=1):
            for key, arr in ((f"W{i}", layer.W), (f"b{i}", layer.b)):
                view = self._ops.to_numpy(arr).view()
                view.flags.writeable = False
                out[key] = view
        return out

    def count_params(self) -> int:
        """Number of trainable parameters: sum of in * out + out over the layers (Keras' name)."""
        return self._store.n_params

    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """A table of the layers (sizes, activation, parameters), the totals, the FLOPs per sample
        and the metadata keys, as Keras' ``summary()``; printed through ``print_fn`` (None: not
        printed) and returned."""
        sizes = self.layer_sizes
        rows = [("layer", "in -> out", "activation", "params")]
        for k, (i, o, a) in enumerate(zip(sizes[:-1], sizes[1:], self.activations), start=1):
            rows.append((f"dense_{k}", f"{i} -> {o}", a, f"{i * o + o:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        line = lambda r: "  ".join(f"{v:<{w}}" if c < 3 else f"{v:>{w}}" for c, (v, w) in enumerate(zip(r, widths)))  # noqa: E731
        rule = "-" * len(line(rows[0]))
        flops = 2 * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))
        text = "\n".join([repr(self), rule, line(rows[0]), rule, *map(line, rows[1:]), rule,
                          f"layers: {len(sizes) - 1}, parameters: {self.count_params():,} ({self._dtype}), "
                          f"FLOPs per sample (2 x multiply-adds): {flops:,}"]
                         + ([f"metadata keys: {', '.join(sorted(self.metadata))}"] if self.metadata else []))
        if print_fn is not None:
            print_fn(text)
        return text

    def astype(self, dtype: Any) -> "MLP":
        """A copy of this model in another dtype (same backend)."""
        return self._copy(self._ops, dtype)

    def to_backend(self, backend: str | Ops) -> "MLP":
        """A copy of this model on another backend (same dtype and parameters)."""
        return self._copy(backend, self._dtype)

    def to_model_arrays(self) -> ModelArrays:
        """This model as the record every format writer takes (:mod:`mlpkit.io`): read-only host
        views of W_i, b_i, the activations, :attr:`metadata` (not copied) and the dtype."""
        p = self.params
        n = len(self._layers)
        return ModelArrays([p[f"W{i}"] for i in range(1, n + 1)], [p[f"b{i}"] for i in range(1, n + 1)],
                           list(self.activations), self.metadata, self._dtype)

    def _copy(self, backend: str | Ops, dtype: Any) -> "MLP":
        """A new model with these parameters and a deep copy of :attr:`metadata`."""
        return MLP.from_model_arrays(self.to_model_arrays(), backend=backend, dtype=dtype)

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return (
            f"MLP({sizes}, activations=[{', '.join(self.activations)}], "
            f"dtype={self._dtype}, backend={self.backend})"
        )


def _split_off(x: Any, t: Any, fraction: Any, validation_data: Any) -> tuple[Any, Any, tuple[Any, Any]]:
    """(x, t) without their last ``fraction`` of rows, and those rows as validation data."""
    if validation_data is not None:
        raise ValueError("give validation_data or validation_split, not both")
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
        raise ValueError(f"validation_split must be a number between 0 and 1 (exclusive); received {fraction!r}")
    n = len(x)
    cut = int(n * (1 - fraction))
    if cut < 1 or cut >= n:
        raise ValueError(f"validation_split={fraction} of {n} rows leaves {cut} for training and {n - cut} for "
                         "validation; both need at least one")

    def rows(a, start, stop):
        return a.iloc[start:stop] if hasattr(a, "iloc") else np.asarray(a)[start:stop]

    return rows(x, 0, cut), rows(t, 0, cut), (rows(x, cut, n), rows(t, cut, n))
