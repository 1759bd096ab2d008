"""scikit-learn estimators over :class:`mlpkit.MLP` (extra ``sklearn``: ``pip install 'mlpkit[sklearn]'``).

``MLPClassifier`` and ``MLPRegressor`` follow scikit-learn's estimator API, so Pipelines,
``clone``, ``GridSearchCV``, joblib and dask-ml's ``ParallelPostFit`` take them; they pass
scikit-learn's own estimator checks (``tests/test_sklearn.py``). Their hyper-parameters mirror
``MLP(...)`` and ``MLP.fit(...)``; ``random_state`` is the seed of both (scikit-learn's name, which
its tools set). The fitted network is ``model_`` (an :class:`mlpkit.MLP`); :meth:`to_mlp` and
``from_mlp`` convert both ways, and the class labels travel in ``model.metadata["classes"]``, so
``mlpkit.save(est.to_mlp(), path)`` then ``MLPClassifier.from_mlp(mlpkit.load(path))`` restores it.

Defaults differ from ``MLP`` where scikit-learn's conventions do: ``dtype="float64"`` (the dtype
scikit-learn computes in), ``verbose=False``, ``epochs=200`` (scikit-learn's ``max_iter``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(f"mlpkit.sklearn needs scikit-learn >= 1.6 ({exc}); pip install 'mlpkit[sklearn]'") from exc

from .mlp import MLP

__all__ = ["MLPClassifier", "MLPRegressor"]

_FLOATS = [np.float64, np.float32]


class _MLPEstimator(BaseEstimator):
    """What the classifier and the regressor share: hyper-parameters, building and training."""

    _output: str  # the output activation
    _loss: str

    def __init__(self, hidden_layer_sizes: Sequence[int] = (100,), activation: str = "relu", *, backend: Any = None,
                 dtype: str = "float64", epochs: int = 200, batch_size: int = 32, optimizer: str = "adam",
                 lr: float | None = None, schedule: str | None = None, weight_decay: float = 0.0,
                 early_stopping: int | None = None, validation_split: float = 0.1, random_state: Any = None,
                 verbose: bool = False) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.backend = backend
        self.dtype = dtype
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_split = validation_split
        self.random_state = random_state
        self.verbose = verbose

    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _new_model(self, n_in: int, n_out: int, seed: int) -> MLP:
        hidden = [self.hidden_layer_sizes] if np.isscalar(self.hidden_layer_sizes) else list(self.hidden_layer_sizes)
        return MLP([n_in, *hidden, n_out], self.activation, self._output, backend=self.backend, dtype=self.dtype, seed=seed)

    def _train(self, X: np.ndarray, T: Any, n_out: int, epochs: int, incremental: bool) -> None:
        """Train ``model_`` (a new one unless ``incremental`` and one exists) on X (n, in) and T."""
        seed = self._seed()
        if not (incremental and hasattr(self, "model_")):
            self.model_ = self._new_model(X.shape[1], n_out, seed)
        split = self.validation_split if self.early_stopping is not None and not incremental else 0.0
        self.history_ = self.model_.fit(
            X, T, epochs=epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr, loss=self._loss,
            seed=seed, verbose=self.verbose, schedule=self.schedule, weight_decay=self.weight_decay,
            early_stopping=self.early_stopping if split else None, validation_split=split)

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return np.asarray(self.model_.predict(X), dtype=np.float64)

    def to_mlp(self) -> MLP:
        """A copy of the fitted network (its metadata holds the class labels of a classifier)."""
        check_is_fitted(self, "model_")
        return self.model_.to_backend(self.model_.backend)


class MLPClassifier(ClassifierMixin, _MLPEstimator):
    """A softmax classifier: ``predict_proba`` is the network output, ``predict`` its argmax in
    ``classes_``. Hyper-parameters: see the module docstring and ``MLP`` / ``MLP.fit``."""

    _output = "softmax"
    _loss = "cross_entropy"

    def fit(self, X: Any, y: Any) -> "MLPClassifier":
        X, y = validate_data(self, X, y, dtype=_FLOATS)
        check_classification_targets(y)
        self.classes_, index = np.unique(column_or_1d(y, warn=True), return_inverse=True)
        self._train(X, index, len(self.classes_), self.epochs, incremental=False)
        self.model_.metadata["classes"] = self.classes_.tolist()
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> "MLPClassifier":
        """One epoch on (X, y); the first call needs ``classes`` (every label that will occur)."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=_FLOATS, reset=first)
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        if first:
            if classes is None:
                raise ValueError("classes must be given to the first call of partial_fit (every label that will occur)")
            self.classes_ = np.unique(np.asarray(classes))
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes {np.unique(classes).tolist()} differ from the first call's {self.classes_.tolist()}")
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise ValueError(f"y holds labels {unknown.tolist()} not in classes {self.classes_.tolist()}")
        self._train(X, np.searchsorted(self.classes_, y), len(self.classes_), 1, incremental=True)
        self.model_.metadata["classes"] = self.classes_.tolist()
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) probabilities, columns in the order of ``classes_``."""
        return self._outputs(X)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    @classmethod
    def from_mlp(cls, model: MLP, classes: Sequence[Any] | None = None, **params: Any) -> "MLPClassifier":
        """A fitted classifier around ``model`` (a softmax network); ``classes`` default to
        ``model.metadata["classes"]``, else 0 .. n_outputs - 1."""
        if model.activations[-1] != "softmax":
            raise ValueError(f"an MLPClassifier needs a softmax output; the model's is {model.activations[-1]!r}")
        labels = classes if classes is not None else model.metadata.get("classes", range(model.layer_sizes[-1]))
        est = cls(hidden_layer_sizes=tuple(model.layer_sizes[1:-1]), activation=model.activations[0], backend=model.backend,
                  dtype=model.dtype, **params)
        est.model_, est.classes_ = model, np.asarray(list(labels))
        if len(est.classes_) != model.layer_sizes[-1]:
            raise ValueError(f"{len(est.classes_)} classes for a model with {model.layer_sizes[-1]} outputs")
        est.n_features_in_ = model.layer_sizes[0]
        return est


class MLPRegressor(RegressorMixin, _MLPEstimator):
    """Least squares (``loss="mse"``) with an identity output; y (n,) or (n, n_targets)."""

    _output = "identity"
    _loss = "mse"

    def fit(self, X: Any, y: Any) -> "MLPRegressor":
        X, y = validate_data(self, X, y, dtype=_FLOATS, multi_output=True, y_numeric=True)
        self._single_target = y.ndim == 1
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self._train(X, Y, Y.shape[1], self.epochs, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any) -> "MLPRegressor":
        """One epoch on (X, y)."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=_FLOATS, multi_output=True, y_numeric=True, reset=first)
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if first:
            self._single_target = y.ndim == 1
        elif Y.shape[1] != self.model_.layer_sizes[-1]:
            raise ValueError(f"y has {Y.shape[1]} targets; the first call had {self.model_.layer_sizes[-1]}")
        self._train(X, Y, Y.shape[1], 1, incremental=True)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y (n, n_targets) trains one output per target
        return tags

    def predict(self, X: Any) -> np.ndarray:
        out = self._outputs(X)  # checks that the estimator is fitted first
        return out[:, 0] if self._single_target else out

    @classmethod
    def from_mlp(cls, model: MLP, **params: Any) -> "MLPRegressor":
        """A fitted regressor around ``model`` (its outputs are the predictions)."""
        est = cls(hidden_layer_sizes=tuple(model.layer_sizes[1:-1]), activation=model.activations[0], backend=model.backend,
                  dtype=model.dtype, **params)
        est.model_, est._single_target = model, model.layer_sizes[-1] == 1
        est.n_features_in_ = model.layer_sizes[0]
        return est
