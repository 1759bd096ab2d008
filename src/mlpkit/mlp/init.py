"""Random weight initialisation (host side, NumPy)."""

from __future__ import annotations

import numpy as np

from ..kernels.activations import TABLE

HE_ACTIVATIONS = tuple(a.name for a in TABLE if a.init == "he")


def init_weight(rng: np.random.Generator, n_in: int, n_out: int, activation: str) -> np.ndarray:
    """W (n_in, n_out) float64 for a layer followed by ``activation``.

    He normal (std sqrt(2 / n_in)) before relu-family activations, Glorot/Xavier uniform
    (limit sqrt(6 / (n_in + n_out)), the Keras default) otherwise. Drawn in float64 so a seed
    gives the same weights, up to rounding, in every dtype.
    """
    if activation in HE_ACTIVATIONS:
        return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out))
