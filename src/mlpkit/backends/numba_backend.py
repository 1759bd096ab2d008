"""Numba backend: the loop kernels of :mod:`mlpkit.kernels.numba_cpu` behind :class:`Ops`.

Arrays are plain NumPy arrays, so conversion and the losses are inherited from
:class:`NumpyOps`; layers, activations and whole-network forwards run compiled loop kernels.

Batches: up to :attr:`NumbaOps.fused_max_rows` rows go through the fused whole-network loop
kernel (one compiled call for all layers); larger batches multiply with BLAS (``x @ W``, which
also brings BLAS threads) and finish each layer with the fused bias+activation loop kernel.
The crossover was measured (see README, "Numba backend: how batches run").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..kernels import numba_cpu as K
from . import threads
from .base import Layer, Ops
from .numpy_backend import NumpyOps


@dataclass(frozen=True)
class PackedNet:
    """A network laid out for the fused kernels (see :mod:`mlpkit.kernels.numba_cpu`)."""

    layers: tuple[Layer, ...]
    buf: np.ndarray  # every W.T (out, in) row-major and b, end to end, model dtype
    meta: np.ndarray  # (n_layers, 5) int64: w_offset, b_offset, n_in, n_out, code
    width: int  # widest layer output, the scratch size


def pack(layers: Sequence[Layer]) -> PackedNet:
    """Copy W.T and b of every layer into one contiguous buffer and describe them in ``meta``."""
    parts, rows, offset = [], [], 0
    for layer in layers:
        n_in, n_out = layer.W.shape
        parts += [np.ravel(layer.W.T, order="C"), layer.b]
        rows.append((offset, offset + n_in * n_out, n_in, n_out, K.ACTIVATION_CODES[layer.activation]))
        offset += n_in * n_out + n_out
    meta = np.array(rows, dtype=np.int64).reshape(-1, K.META_COLUMNS)
    return PackedNet(
        layers=tuple(layers),
        buf=np.ascontiguousarray(np.concatenate(parts)),
        meta=meta,
        width=int(meta[:, 3].max()),
    )


class NumbaOps(NumpyOps):
    """Compiled loop kernels (Numba ``@njit``), serial and ``nogil``; BLAS for large products."""

    name = "numba"
    #: Batches of at most this many rows run the fused whole-network loop kernel.
    fused_max_rows = 4

    def __init__(self) -> None:
        threads.sync_numba()

    def all_finite(self, x: Any) -> bool:
        return bool(K.all_finite(x.reshape(-1)))

    def affine(self, x: Any, W: Any, b: Any) -> np.ndarray:
        if x.shape[0] <= self.fused_max_rows:
            return K.affine_act(x, W, b, K.IDENTITY)
        return super().affine(x, W, b)

    def activation(self, name: str, z: Any) -> np.ndarray:
        return K.activation(z, K.ACTIVATION_CODES[name])

    def activation_grad(self, name: str, a: Any, upstream: Any) -> np.ndarray:
        return K.activation_grad(a, upstream, K.ACTIVATION_CODES[name])

    def dense(self, x: Any, W: Any, b: Any, activation: str) -> np.ndarray:
        code = K.ACTIVATION_CODES[activation]
        if x.shape[0] <= self.fused_max_rows:
            return K.affine_act(x, W, b, code)
        z = x.dot(W)
        K.bias_act_inplace(z, b, code)
        return z

    def softmax_cross_entropy(self, z, t):
        loss, delta, correct = K.softmax_cross_entropy(z, t)
        return float(loss), delta, int(correct)

    def adam_update(self, p, g, m, v, lr_t, beta1, beta2, eps) -> None:
        K.adam_update(p, g, m, v, lr_t, beta1, beta2, eps)

    def sgd_update(self, p, g, lr) -> None:
        K.sgd_update(p, g, lr)

    def prepare(self, layers: Sequence[Layer]) -> PackedNet:
        return pack(layers)

    def forward(self, x: Any, net: PackedNet) -> np.ndarray:
        if x.shape[0] <= self.fused_max_rows:
            return K.forward_packed(x, net.buf, net.meta, net.width)
        return Ops.forward(self, x, net.layers)  # BLAS + fused epilogue per layer (self.dense)

    def forward_one(self, x: Any, net: PackedNet) -> np.ndarray:
        return K.forward_packed_one(x, net.buf, net.meta, net.width)
