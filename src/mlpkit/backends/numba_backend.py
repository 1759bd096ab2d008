"""Numba backend: the loop kernels of :mod:`mlpkit.kernels.numba_cpu` behind :class:`Ops`.

Arrays are plain NumPy arrays, so conversion and the losses are inherited from
:class:`NumpyOps`; layers, activations and whole-network forwards run compiled loop kernels.

Inference: up to :attr:`NumbaOps.fused_max_rows` rows go through the fused whole-network
row-at-a-time kernel; larger batches through the register-tiled panel kernel
(:mod:`mlpkit.kernels.numba_gemm`), all layers per block of rows, the rows split across
threads. Training's layer by layer ``dense`` multiplies with BLAS (``x @ W``) and finishes with
the fused bias+activation kernel. The crossovers were measured (see README, "Numba backend: how
batches run").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..kernels import numba_cpu as K
from ..kernels import numba_gemm as G
from ..kernels.numba_isa import VARIANTS, Isa
from ..kernels.packed_rows import pack_rows
from . import threads
from .base import Layer, Ops
from .numpy_backend import NumpyOps


ISA_ENV_VAR = "MLPKIT_NUMBA_ISA"


def cpu_features() -> set[str]:
    """The features Numba compiles for: NUMBA_CPU_FEATURES if set (``+avx2,+fma,...``), else the host's."""
    import llvmlite.binding as llvm
    from numba import config

    if config.CPU_FEATURES:
        return {f[1:] for f in config.CPU_FEATURES.split(",") if f.startswith("+")}
    return {name for name, on in llvm.get_host_cpu_features().items() if on}


def host_isa() -> Isa:
    """The micro-kernel variant for this CPU: AVX-512F -> avx512, AVX2 + FMA -> avx2, else portable."""
    features = cpu_features()
    if "avx512f" in features:
        return VARIANTS["avx512"]
    if {"avx2", "fma"} <= features:
        return VARIANTS["avx2"]
    return VARIANTS["portable"]


def select_isa() -> Isa:
    """``MLPKIT_NUMBA_ISA`` (avx512, avx2, portable; empty or ``auto``: :func:`host_isa`).

    Any variant runs correctly on any CPU (LLVM splits wide vectors), so a forced variant is
    always honoured; only its speed depends on the hardware."""
    raw = os.environ.get(ISA_ENV_VAR, "").strip().lower()
    if raw in ("", "auto"):
        return host_isa()
    if raw not in VARIANTS:
        raise ValueError(f"{ISA_ENV_VAR} must be one of {['auto', *VARIANTS]}; received {os.environ[ISA_ENV_VAR]!r}")
    return VARIANTS[raw]


def describe_isa() -> str:
    """One line for ``mlpkit info`` and the bench header: the variant new networks get, and why."""
    isa = select_isa()
    why = f"forced by {ISA_ENV_VAR}" if os.environ.get(ISA_ENV_VAR, "").strip().lower() not in ("", "auto") else "from the CPU features"
    return (f"micro-kernel {isa.name} ({isa.tile_rows} rows x {isa.panel_vectors} vectors of {isa.vector_bytes} bytes, "
            f"{why}; {ISA_ENV_VAR}=avx512|avx2|portable overrides)")


@dataclass(frozen=True)
class PackedNet:
    """A network laid out for the fused kernels (see :mod:`mlpkit.kernels.numba_cpu`)."""

    buf: np.ndarray  # the row-kernel layout of mlpkit.kernels.packed_rows
    meta: np.ndarray  # (n_layers, 5) int64: w_offset, b_offset, n_in, n_out, code
    width: int  # widest layer output, the scratch size
    panels: np.ndarray  # every layer as panels (numba_gemm.pack_panels), end to end
    panel_meta: np.ndarray  # (n_layers, 8) int64: see numba_cpu.dense_panels
    flops_per_row: int  # 2 * sum of n_in * n_out: the products' work per sample
    isa: Isa  # the micro-kernel variant the panels are laid out for


def pack(layers: Sequence[Layer], isa: Isa) -> PackedNet:
    """Copy every layer into the row-kernel buffer (W.T, b) and the panel buffer for ``isa``, with ``meta``s."""
    codes = [K.ACTIVATION_CODES[layer.activation] for layer in layers]
    buf, meta = pack_rows([layer.W for layer in layers], [layer.b for layer in layers], codes)
    panel_parts, panel_rows, panel_offset = [], [], 0
    for layer, code in zip(layers, codes):
        n_in, n_out = layer.W.shape
        panel_parts.append(G.pack_panels(layer.W, layer.b, isa))
        dt = layer.W.dtype
        plan = G.panel_plan(n_out, dt, isa)
        panel_rows.append((panel_offset, n_in, n_out, code, G.z_width(n_out, dt, isa), *plan))
        panel_offset += panel_parts[-1].size
    return PackedNet(
        buf=buf,
        meta=meta,
        width=int(meta[:, 3].max()),
        panels=np.concatenate(panel_parts),
        panel_meta=np.array(panel_rows, dtype=np.int64).reshape(-1, K.PANEL_META_COLUMNS),
        flops_per_row=2 * sum(layer.W.size for layer in layers),
        isa=isa,
    )


class NumbaOps(NumpyOps):
    """Compiled loop kernels (Numba ``@njit``), serial and ``nogil``; BLAS only for training's layer products."""

    name = "numba"
    #: The panel kernel blocks rows itself (48 at a time), so chunks only amortise the per-call
    #: and thread hand-off costs (M1, batch 4096, 2 threads: 866k samples/s in 1024-row chunks,
    #: 1030k in one). Activations are per block: memory does not grow with the chunk.
    chunk_rows = 4096
    #: Batches of at most this many rows run the row-at-a-time kernel, larger ones the panel
    #: kernel (measured, 1 thread, M1 / M2: 2 rows 0.94x / 1.06x the panel kernel's time,
    #: 3 rows 1.30x / 1.52x).
    fused_max_rows = 2
    #: Single layers (``affine``/``dense``, training) of at most this many rows run the fused
    #: loop kernel ``affine_act``, larger ones BLAS (M1 4 rows: 26 vs 31 us; 8 rows: 50 vs 33).
    layer_max_rows = 4
    #: A batch is split across threads only in parts of at least this much work (2 threads on
    #: 2 cores: M1 256 rows 0.92x, 512 rows 1.26x, 1024 rows 1.82x the 1-thread speed).
    min_flops_per_thread = 3e7

    def __init__(self) -> None:
        threads.sync_numba()

    def all_finite(self, x: Any) -> bool:
        return bool(K.all_finite(x.reshape(-1)))

    def affine(self, x: Any, W: Any, b: Any) -> np.ndarray:
        if x.shape[0] <= self.layer_max_rows:
            return K.affine_act(x, W, b, K.IDENTITY)
        return super().affine(x, W, b)

    def activation(self, name: str, z: Any) -> np.ndarray:
        return K.activation(z, K.ACTIVATION_CODES[name])

    def activation_grad(self, name: str, a: Any, upstream: Any) -> np.ndarray:
        return K.activation_grad(a, upstream, K.ACTIVATION_CODES[name])

    def dense(self, x: Any, W: Any, b: Any, activation: str) -> np.ndarray:
        code = K.ACTIVATION_CODES[activation]
        if x.shape[0] <= self.layer_max_rows:
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
        return pack(layers, select_isa())

    def forward(self, x: Any, net: PackedNet) -> np.ndarray:
        if x.shape[0] <= self.fused_max_rows:
            return K.forward_packed(x, net.buf, net.meta, net.width)
        return self._forward_panels(x, net)[0]

    def forward_finite(self, x: Any, net: PackedNet) -> tuple[np.ndarray | None, bool]:
        if x.shape[0] <= self.fused_max_rows:
            return Ops.forward_finite(self, x, net)
        return self._forward_panels(x, net)  # checks the first layer's pre-activations

    def _forward_panels(self, x: np.ndarray, net: PackedNet) -> tuple[np.ndarray, bool]:
        """Panel-kernel forward of x (n, in), its rows split across threads; and the finite flag."""
        out = np.empty((x.shape[0], int(net.panel_meta[-1, 2])), dtype=net.panels.dtype)
        parts = threads.split_rows(x.shape[0], int(self.min_flops_per_thread // net.flops_per_row) + 1)
        finite = threads.run_parallel([
            lambda a=a, b=b: K.forward_panels(x[a:b], net.panels, net.panel_meta, out[a:b], net.isa) for a, b in parts
        ])
        return out, all(finite)

    def forward_one(self, x: Any, net: PackedNet) -> np.ndarray:
        return K.forward_packed_one(x, net.buf, net.meta, net.width)
