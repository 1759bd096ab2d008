"""NumPy backend: the shared array code of :class:`~mlpkit.backends.array_ops.ArrayOps` with
``xp = numpy``, BLAS for the matrix products, plus what is NumPy's own: a faster finite
check, and the finite probe on the first layer's pre-activations.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .array_ops import ArrayOps, LayerNet


class NumpyOps(ArrayOps):
    """Reference backend: plain vectorised NumPy, BLAS for the matrix products."""

    name = "numpy"
    xp = np

    def all_finite(self, x: Any) -> bool:
        # v.v is finite iff every v_i is, unless large finite values overflow: then check exactly.
        # One BLAS dot and math.isfinite: 0.8 us for 784 floats vs 2.1 us for isfinite(x).all().
        # (x . 0 would never overflow, but Inf * 0 raises NumPy's "invalid value" warning.)
        v = x if x.ndim == 1 else x.reshape(-1)
        return math.isfinite(v.dot(v)) or bool(np.isfinite(v).all())

    forward_one = ArrayOps.forward  # NumPy's ufuncs handle (in,) as they do (n, in)

    def forward_finite(self, x: Any, net: LayerNet) -> tuple[np.ndarray, bool]:
        """The probe scans the first layer's pre-activations: n_out instead of n_in values per row.
        No RuntimeWarning on the way: non-finite values are reported by the probe instead."""
        (W, b, act), rest = net.steps[0], net.steps[1:]
        with np.errstate(over="ignore", invalid="ignore"):
            z = self.affine(x, W, b)
            finite = self.all_finite(z)
            return self.through(act(np, z), rest), finite  # under this errstate: no second one (~0.9 us)
