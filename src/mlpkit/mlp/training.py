"""The training loop behind ``MLP.fit``: data checks, mini-batches, History, progress, stopping."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..backends import loss_name, threads
from . import backprop, checks
from .parameters import Parameters

FIT_LOSSES = ("cross_entropy", "mse")


@dataclass
class History:
    """Per-epoch training record (lists indexed by epoch), plus the loss of every iteration."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)  # class targets
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    mae: list[float] = field(default_factory=list)  # real-valued targets: mean absolute error
    val_mae: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)  # seconds per epoch
    batch_loss: list[float] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.loss)

    @property
    def history(self) -> dict[str, list[float]]:
        """The per-epoch lists that were recorded, by name, as Keras' ``History.history``: loss,
        accuracy (class targets) or mae (real-valued targets), their val_ forms (with validation
        data), lr."""
        keys = ("loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae", "lr")
        return {k: getattr(self, k) for k in keys if getattr(self, k)}

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def fit_loss(loss: Any) -> str:
    name = loss_name(loss)
    if name not in FIT_LOSSES:
        raise ValueError(f"loss must be one of {list(FIT_LOSSES)}; received {loss!r}")
    return name


#: output activations whose values are probabilities, as cross-entropy needs
PROBABILITY_OUTPUTS = ("softmax", "sigmoid")


def check_loss_output(loss: str, output: str) -> None:
    """Cross-entropy needs probabilities: refuse it on any other output before training starts."""
    if loss == "cross_entropy" and output not in PROBABILITY_OUTPUTS:
        raise ValueError(f"loss 'cross_entropy' needs probabilities from the output layer ({' or '.join(PROBABILITY_OUTPUTS)}); "
                         f"this model's output activation is {output!r}: use loss='mse' for regression, or build the "
                         f"model with output='softmax' for classification")


def metric_for(T: np.ndarray) -> str:
    """"accuracy" if every row of the float64 targets T (n, k) is one-hot (class targets, k > 1),
    else "mae" (real-valued targets)."""
    if T.shape[1] > 1 and np.isin(T, (0.0, 1.0)).all() and (T.sum(axis=1) == 1).all():
        return "accuracy"
    return "mae"


def targets(t: Any, n_rows: int, n_out: int, what: str = "t", loss: str | None = None) -> np.ndarray:
    """Integer labels (n,) in [0, n_out) -> one-hot float64; dense targets (n, n_out) checked; with
    ``loss="mse"`` and one output, 1-D real values (n,) are targets of shape (n, 1) (regression)."""
    arr = np.asarray(t)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{what} must hold integer labels or numeric targets; received dtype {arr.dtype}")
    if arr.ndim == 1 and n_out == 1 and loss == "mse" and arr.dtype.kind != "b":
        return targets(arr.reshape(-1, 1), n_rows, n_out, what)
    if arr.ndim == 1:
        if len(arr) != n_rows:
            raise ValueError(f"{what} has {len(arr)} labels but x has {n_rows} rows")
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise ValueError(f"{what}: 1-D targets must be integer class labels; received non-integer values. "
                                 f"For regression, give targets of shape ({n_rows}, {n_out}), or 1-D values with loss='mse' "
                                 f"and a model with one output")
            arr = arr.astype(np.int64)
        elif arr.dtype.kind == "b":  # False/True are classes 0/1 (indexing with them would be a row mask)
            arr = arr.astype(np.int64)
        bad = (arr < 0) | (arr >= n_out)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{what}[{i}] = {arr[i]} is not a class label: expected 0 <= label < {n_out}")
        return np.eye(n_out)[arr]
    if arr.shape != (n_rows, n_out):
        raise ValueError(f"{what} must be labels of shape ({n_rows},) or targets of shape ({n_rows}, {n_out}); received shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or Inf (first at index {checks.first_non_finite(arr)})")
    return arr


def inputs(x: Any, n_features: int, what: str = "x") -> np.ndarray:
    """A 2-D finite numeric training input of n_features columns."""
    arr = checks.input_array(x, n_features)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n_samples, {n_features}); received shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or Inf (first at index {checks.first_non_finite(arr)})")
    return arr


class Progress:
    """What ``fit(verbose=True)`` shows: a tqdm bar per epoch (``tqdm.auto``: a widget in notebooks,
    a live line on a terminal, a line every 10 s in a log) with the running mean loss and accuracy
    of the epoch so far and its ETA, then one summary line per epoch. Nothing when not verbose."""

    def __init__(self, verbose: bool, epochs: int, steps: int, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.epochs, self.steps = epochs, steps
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.interval = 0.1 if tty else 10.0
        self.bar = None
        self._last = 0.0

    def start(self, epoch: int) -> None:
        if self.verbose:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.steps, desc=f"epoch {epoch}/{self.epochs}", unit="step", file=self.stream,
                            leave=False, mininterval=self.interval, delay=0 if self.interval < 1 else self.interval,
                            dynamic_ncols=True)
            self._last = time.perf_counter()

    def batch(self, loss: float, metric: str, value: float) -> None:
        """One step done; ``loss`` and ``value`` (of ``metric``: accuracy or mae) are the epoch's
        running means so far."""
        if self.bar is not None:
            now = time.perf_counter()
            if now - self._last >= self.interval:
                self._last = now
                self.bar.set_postfix_str(f"loss {loss:.4f}, {metric} {value:.4f}", refresh=False)
            self.bar.update(1)

    def epoch(self, epoch: int, logs: dict[str, float]) -> None:
        self.close()
        if self.verbose:
            parts = [f"{k} {v:.4f}" for k, v in logs.items() if k not in ("time", "lr")]
            print(f"epoch {epoch}/{self.epochs}  " + "  ".join(parts) + f"  lr {logs['lr']:.2e}  {logs['time']:.1f}s", file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


Callback = Callable[[int, dict], Any]


def run(store: Parameters, x, t, *, epochs, batch_size, optimizer, loss, validation_data, shuffle, seed, verbose,
        callbacks: Sequence[Callback], weight_decay: float, early_stopping: int | None) -> History:
    """Train the parameters of ``store`` (an MLP's, see :mod:`mlpkit.mlp.parameters`) in place;
    see ``MLP.fit``."""
    ops, dtype = store.ops, store.dtype
    n_out = store.layer_sizes[-1]
    check_loss_output(loss, store.activations[-1])
    X = inputs(x, store.layer_sizes[0])
    T = targets(t, len(X), n_out, loss=loss)
    metric = metric_for(T)
    val = None
    if validation_data is not None:
        if len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (x_val, t_val)")
        xv = inputs(validation_data[0], store.layer_sizes[0], "validation x")
        val = (xv, targets(validation_data[1], len(xv), n_out, "validation t", loss=loss))
    if early_stopping is not None:
        checks.positive_int(early_stopping, "early_stopping", or_none=True)
        if val is None:
            raise ValueError("early_stopping needs validation_data to monitor")
    epochs, batch_size = checks.positive_int(epochs, "epochs"), checks.positive_int(batch_size, "batch_size")
    if not (isinstance(weight_decay, (int, float, np.floating)) and 0 <= weight_decay < np.inf):
        raise ValueError(f"weight_decay must be a finite number >= 0; received {weight_decay!r}")
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"callbacks[{i}] must be callable as cb(epoch, logs); received {type(cb).__name__}")

    Xb, Tb = ops.asarray(X, dtype), ops.asarray(T, dtype)
    steps = -(-len(X) // batch_size)
    grads_flat, grads = store.zeros()
    optimizer.start(ops, store.flat, dtype, epochs * steps)
    for step in sorted({0, epochs * steps - 1}):  # a schedule is checked before the first step, not at its failure
        lr = optimizer.lr * optimizer._multiplier(step)
        if not (isinstance(lr, (int, float, np.floating)) and 0 < lr < np.inf):
            raise ValueError(f"the learning-rate schedule must give a finite rate > 0; at step {step} it gives {lr!r}")
    rng = np.random.default_rng(seed)
    history, progress = History(), Progress(verbose, epochs, steps)
    best = (np.inf, None, 0)  # (val loss, parameters, epochs since it improved)
    # one step's products (a forward and two backward per weight): BLAS stays on one thread when
    # they are too small to split (784-50-10, batch 32, one core busy: 0.56x -> ~1x the 1-thread speed)
    step_flops = 6 * min(batch_size, len(X)) * sum(layer.W.size for layer in store.layers)
    # a fit that fails half-way (a diverging loss, a callback's exception, Ctrl-C) leaves the
    # parameters of the last completed epoch (before fit if none completed), packed for predict
    good = store.snapshot()
    try:
        with threads.for_work(step_flops):
            for epoch in range(1, epochs + 1):
                start = time.perf_counter()
                order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
                total, correct, seen = 0.0, 0, 0
                progress.start(epoch)
                for step in range(steps):
                    idx = order[step * batch_size : (step + 1) * batch_size]
                    xb, tb = ops.take_rows(Xb, idx), ops.take_rows(Tb, idx)
                    acts, z = backprop.forward_logits(ops, store.layers, xb)
                    value, delta, hits = backprop.output_step(ops, store.layers[-1].activation, z, tb, loss, metric)
                    backprop.backward(ops, store.layers, xb, acts, delta, grads)
                    if weight_decay:
                        value += backprop.add_weight_decay(store.layers, grads, weight_decay)
                    optimizer.step(ops, store.flat, grads_flat)
                    if not np.isfinite(value):
                        raise FloatingPointError(f"loss became {value} at epoch {epoch}, step {step + 1}: lower the learning rate")
                    history.batch_loss.append(value)
                    total += value * len(idx)
                    correct += hits
                    seen += len(idx)
                    progress.batch(total / seen, metric, correct / seen)
                store.refresh()
                good = store.snapshot()
                logs = {"loss": total / len(X), metric: correct / len(X)}
                if val is not None:
                    logs["val_loss"], logs[f"val_{metric}"] = evaluate(store, val[0], val[1], loss, metric)
                logs["lr"] = optimizer.current_lr()
                logs["time"] = time.perf_counter() - start
                for key, value in logs.items():
                    getattr(history, key).append(value)
                progress.epoch(epoch, logs)
                stop = any(cb(epoch, dict(logs)) is True for cb in callbacks)
                if early_stopping is not None:
                    if logs["val_loss"] < best[0]:
                        best = (logs["val_loss"], store.snapshot(), 0)
                    else:
                        best = (best[0], best[1], best[2] + 1)
                        if best[2] >= early_stopping:
                            stop = True
                if stop:
                    history.stopped_early = True
                    break
    except BaseException:
        progress.close()
        store.restore(good)
        raise
    if early_stopping is not None and best[1] is not None:
        store.restore(best[1])  # the best epoch's weights
    return history


def evaluate(store: Parameters, x, t, loss: str, metric: str = "accuracy", batch_size: int = 4096) -> tuple[float, float]:
    """(mean loss, ``metric``) of the network in ``store`` on checked x and one-hot/dense t, in
    chunks; metric "accuracy" (share of rows whose argmax matches) or "mae" (mean absolute error)."""
    ops = store.ops
    total, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb = ops.asarray(x[i : i + batch_size], store.dtype)
        tb = ops.asarray(t[i : i + batch_size], store.dtype)
        _, z = backprop.forward_logits(ops, store.layers, xb)
        value, _, hits = backprop.output_step(ops, store.layers[-1].activation, z, tb, loss, metric)
        total += value * len(xb)
        correct += hits
    return total / len(x), correct / len(x)
