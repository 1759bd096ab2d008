"""The row layout of a whole network for the CUDA one-launch forward (``cupy_gpu.forward_rows``).

Every layer's W transposed to (out, in), row-major, then its b (out,), laid end to end in one
1-D buffer of the model dtype; and an int64 ``meta`` array of shape (layers, 5) whose rows are
``(w_offset, b_offset, n_in, n_out, activation_code)``. One row of weights per output lets a
kernel compute an output as one contiguous dot product; three arguments instead of two per layer
keep a kernel's per-call argument cost constant.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

META_COLUMNS = 5  # w_offset, b_offset, n_in, n_out, activation_code


def pack_rows(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], codes: Sequence[int],
              xp=np) -> tuple[np.ndarray, np.ndarray]:
    """(buf, meta) for layers W_l (in, out), b_l (out,), activation codes; buf has W's dtype and is
    an array of the namespace ``xp`` the weights belong to (numpy, cupy); meta is a NumPy array."""
    parts, rows, offset = [], [], 0
    for W, b, code in zip(weights, biases, codes):
        n_in, n_out = W.shape
        parts += [W.T.ravel(), b]  # ravel of the transpose: a row-major copy
        rows.append((offset, offset + n_in * n_out, n_in, n_out, code))
        offset += n_in * n_out + n_out
    meta = np.array(rows, dtype=np.int64).reshape(-1, META_COLUMNS)
    return xp.concatenate(parts), meta
