"""Numerical gradients (central differences, as the classic ``numerical_gradient``) and a check
of the analytic backprop gradients against them in float64."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: Any, h: float = 1e-5) -> np.ndarray:
    """df/dx of a scalar function of the array ``x``, which is perturbed in place and restored.

    ``x`` may be any array supporting item assignment (NumPy, or a backend array); the result
    is a float64 NumPy array of x's shape."""
    grad = np.zeros(x.shape)
    flat = x.reshape(-1)
    for i in range(flat.shape[0]):
        old = float(flat[i])
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        grad.flat[i] = (up - down) / (2 * h)
    return grad


def gradient_check(model: Any, x: Any, t: Any, loss: str = "cross_entropy", h: float = 1e-5) -> dict[str, float]:
    """Max relative error between backprop and central differences, per parameter.

    Runs on a float64 copy of ``model`` (same backend). The relative error of a parameter
    array is ||analytic - numeric|| / (||analytic|| + ||numeric||), 0 when both vanish."""
    m64 = model.astype("float64")
    analytic = m64.gradients(x, t, loss=loss)
    errors = {}
    for (name, grad), view in zip(analytic.items(), m64._store.views(m64._store.flat)):
        numeric = numerical_gradient(lambda: m64.loss(x, t, loss=loss), view, h)
        diff = np.linalg.norm(grad - numeric)
        scale = np.linalg.norm(grad) + np.linalg.norm(numeric)
        errors[name] = float(diff / scale) if scale > 0 else 0.0
    return errors
