"""scikit-learn ``MLPClassifier`` / ``MLPRegressor`` -> ModelArrays (coefs_ are already (in, out)).

Binary classifiers have one logistic output unit, p = P(classes_[1]), and ``predict_proba``
returns [1 - p, p]. The converted model ends instead in an exactly equivalent 2-unit softmax
over [0, z] (softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]), so ``model.predict(x)`` equals
``predict_proba(x)`` in every case and ``predict_classes`` indexes ``classes_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels.activations import TABLE
from .arrays import ModelArrays

_ACTIVATIONS = {a.sklearn: a.name for a in TABLE if a.sklearn}  # scikit-learn's name -> mlpkit's


def read(estimator: Any) -> ModelArrays:
    """The network of a fitted estimator in float64, its class labels in the metadata."""
    kind = type(estimator).__name__
    if kind not in ("MLPClassifier", "MLPRegressor"):
        raise TypeError(f"expected a fitted sklearn MLPClassifier or MLPRegressor; received {kind}")
    if not hasattr(estimator, "coefs_"):
        raise ValueError(f"the {kind} is not fitted (no coefs_): call fit first")
    hidden = _ACTIVATIONS.get(estimator.activation)
    out = _ACTIVATIONS.get(estimator.out_activation_)
    if hidden is None or out is None:
        raise ValueError(f"unsupported activations: hidden {estimator.activation!r}, output {estimator.out_activation_!r}")
    weights = [np.asarray(W, dtype=np.float64) for W in estimator.coefs_]
    biases = [np.asarray(b, dtype=np.float64) for b in estimator.intercepts_]
    acts = [hidden] * (len(weights) - 1) + [out]
    metadata: dict = {"source": f"sklearn.{kind}"}
    if kind == "MLPClassifier":
        metadata["classes"] = np.asarray(estimator.classes_).tolist()
        if out == "sigmoid" and weights[-1].shape[1] == 1 and len(estimator.classes_) == 2:
            weights[-1] = np.hstack([np.zeros_like(weights[-1]), weights[-1]])
            biases[-1] = np.concatenate([[0.0], biases[-1]])
            acts[-1] = "softmax"
            metadata["binary_output"] = "softmax over [0, z]: columns are predict_proba's [P(classes_[0]), P(classes_[1])]"
    return ModelArrays(weights, biases, acts, metadata, "float64")
