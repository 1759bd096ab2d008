"""The reference training results, as runnable recipes (``mlpkit reproduce``).

Each recipe trains a fresh seeded model with mlpkit and returns its score:
- ``keras-reference``: 784-50-10 sigmoid/softmax, Keras defaults (Glorot-uniform weights, zero
  biases, Adam lr 1e-3), batch 32, 10 epochs. Keras reached 0.9707; the target is >= 0.967.
- ``mlpkit-best``: the same net and epochs, Adam lr 5e-3 with cosine decay. Target >= 0.972.
- ``two-layer-net``: the from-scratch TwoLayerNet: weights 0.01 * randn, SGD lr 0.1, batch 100,
  17 epochs = 10,200 iterations (the original: 10,000 random batches). ~0.947; target >= 0.945.
- ``larger``: 784-256-128-10 relu, Adam lr 1e-3, batch 64, 15 epochs. Target >= 0.980.
- ``regression``: hours of study and sleep -> test score, 2-3-1 sigmoid/sigmoid, MSE, full batch.
  Target: loss (0.5 * sum of squares / n) below 0.003.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .mlp import MLP


@dataclass(frozen=True)
class Recipe:
    name: str
    target: float
    higher_is_better: bool
    run: Callable[..., float]  # run(backend, mnist, quick) -> score


def _mnist_subset(mnist, quick: bool):
    (x, t), test = mnist
    return ((x[:10000], t[:10000]) if quick else (x, t)), test


def _keras_reference(backend, mnist, quick):
    (x, t), (xt, tt) = _mnist_subset(mnist, quick)
    model = MLP([784, 50, 10], "sigmoid", "softmax", backend=backend, seed=0)
    model.fit(x, t, epochs=2 if quick else 10, batch_size=32, optimizer="adam", lr=1e-3, seed=0, verbose=False)
    return model.evaluate(xt, tt)[1]


def _mlpkit_best(backend, mnist, quick):
    (x, t), (xt, tt) = _mnist_subset(mnist, quick)
    model = MLP([784, 50, 10], "sigmoid", "softmax", backend=backend, seed=0)
    model.fit(x, t, epochs=2 if quick else 10, batch_size=32, optimizer="adam", lr=5e-3, schedule="cosine", seed=0, verbose=False)
    return model.evaluate(xt, tt)[1]


def _two_layer_net(backend, mnist, quick):
    (x, t), (xt, tt) = _mnist_subset(mnist, quick)
    rng = np.random.default_rng(0)
    model = MLP.from_arrays([0.01 * rng.standard_normal((784, 50)), 0.01 * rng.standard_normal((50, 10))],
                            [np.zeros(50), np.zeros(10)], ["sigmoid", "softmax"], backend=backend, dtype="float32")
    model.fit(x, t, epochs=10 if quick else 17, batch_size=100, optimizer="sgd", lr=0.1, seed=0, verbose=False)
    return model.evaluate(xt, tt)[1]


def _larger(backend, mnist, quick):
    (x, t), (xt, tt) = _mnist_subset(mnist, quick)
    model = MLP([784, 256, 128, 10], "relu", "softmax", backend=backend, seed=0)
    model.fit(x, t, epochs=2 if quick else 15, batch_size=64, optimizer="adam", lr=1e-3, seed=0, verbose=False)
    return model.evaluate(xt, tt)[1]


REGRESSION_X = [[3.0, 5.0], [5.0, 1.0], [10.0, 2.0]]
REGRESSION_T = [[0.75], [0.82], [0.93]]


def _regression(backend, mnist, quick):
    model = MLP([2, 3, 1], "sigmoid", "sigmoid", backend=backend, dtype="float64", seed=0)
    model.fit(REGRESSION_X, REGRESSION_T, epochs=3000, batch_size=3, optimizer="adam", lr=0.01, loss="mse",
              shuffle=False, verbose=False)
    return model.loss(REGRESSION_X, REGRESSION_T, loss="mse")


#: Targets sit 0.3-0.4 points (30-40 test images) below the lowest score measured on NumPy and
#: Numba (docs/guide/training.md), so another BLAS, thread count or CPU does not flip a result.
RECIPES = {
    r.name: r
    for r in (
        Recipe("keras-reference", 0.964, True, _keras_reference),
        Recipe("mlpkit-best", 0.968, True, _mlpkit_best),
        Recipe("two-layer-net", 0.942, True, _two_layer_net),
        Recipe("larger", 0.976, True, _larger),
        Recipe("regression", 0.003, False, _regression),
    )
}


def run(name: str, backend: Any = None, mnist: Any = None, quick: bool = False) -> tuple[float, float]:
    """(score, seconds) of recipe ``name``: test accuracy, or the final loss for regression."""
    recipe = RECIPES[name]
    start = time.perf_counter()
    score = recipe.run(backend, mnist, quick)
    return score, time.perf_counter() - start
