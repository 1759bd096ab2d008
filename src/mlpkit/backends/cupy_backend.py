"""CuPy GPU backend: weights on the device, one fused launch for small batches, cuBLAS for large ones.

Arrays are ``xp.ndarray`` (``xp`` = cupy). The shared array code of
:class:`~mlpkit.backends.array_ops.ArrayOps` runs on them with ``xp = cupy`` (it calls only the
namespace's functions and the arrays' methods), so this class only adds what differs on a device:

- transfers: host input is uploaded once per call (``asarray``), results downloaded once
  (``to_numpy``); small copies go through page-locked buffers, asynchronously, on the backend's
  own stream (:mod:`.cupy_staging`); device input stays on the device and the result follows it;
- inference: batches of up to :attr:`CupyOps.fused_max_rows` rows run the whole network in one
  launch (``forward_rows`` of :mod:`mlpkit.kernels.cupy_gpu`); larger ones layer by layer, a
  cuBLAS product and one fused bias + activation (or bias + softmax) launch each;
- training: the fused activation-derivative and Adam kernels; the finite check is one reduction.

A model's parameters are uploaded once, when it is built on this backend (one flat device
buffer; W and b are views); ``prepare`` packs a copy for the fused forward on the device and
uploads its small layer table. ``transfers`` counts host<->device copies.

``CupyOps(xp=..., device_array=..., kernels=...)`` lets tests run this class's host-side logic with
NumPy standing in for CuPy (an ndarray subclass marks "device" arrays; the stand-in namespace holds
only functions CuPy has), optionally with the CUDA
kernel sources compiled for the host (tests/cuda_on_host.py). Such runs say nothing about how a
GPU compiles, runs or times them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..kernels.constants import ACTIVATION_CODES
from ..kernels.cupy_gpu import BLOCK_THREADS, SHARED_BYTES_MAX, WARP, forward_rows_cap
from ..kernels.packed_rows import pack_rows
from .array_ops import ArrayOps
from .base import BackendUnavailable, Layer, Net
from .cupy_staging import Staging

_FIX = "pip install 'mlpkit[cuda12]' (or 'mlpkit[cuda13]') on a machine with an NVIDIA GPU and driver"


def _device_error(exc: Exception) -> str:
    """What a failed getDeviceCount() means, in words (the CUDA error name is kept in the message)."""
    text = str(exc)
    if "InsufficientDriver" in text:  # also what the runtime says when there is no driver at all
        return "the NVIDIA driver is missing or too old for this CuPy's CUDA runtime"
    if "NoDevice" in text:
        return "no CUDA device"
    return "no usable CUDA device or driver"


def probe():
    """Import CuPy and make a real CUDA call; the cupy module, or BackendUnavailable saying why."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken install raising anything else
        raise BackendUnavailable(f"backend 'cupy' cannot be used: CuPy is not installed ({exc}). To fix: {_FIX}") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, no device
        raise BackendUnavailable(f"backend 'cupy' cannot be used: {_device_error(exc)} ({exc}). To fix: {_FIX}") from exc
    if count < 1:
        raise BackendUnavailable(f"backend 'cupy' cannot be used: CuPy sees no CUDA device. To fix: {_FIX}")
    return cupy


@dataclass(frozen=True)
class DeviceNet(Net):
    """A network prepared on the device: its layers (views of the flat parameters: the layer-by-layer
    path), and the fused forward's packed copy."""

    kernel: Any  # forward_rows for the model dtype, or None (no kernels, or too wide for shared memory)
    buf: Any = None  # packed_rows layout on the device
    meta: Any = None  # (n_layers, 5) int64 on the device
    cap: int = 0  # widest layer input or output: each of the 2 shared-memory buffers
    shared_bytes: int = 0
    n_out: int = 0


class CupyOps(ArrayOps):
    """Ops on CUDA devices through CuPy (see the module docstring)."""

    name = "cupy"
    #: Batches of up to this many rows run the one-launch fused forward, larger ones cuBLAS layer
    #: by layer. A PREDICTION, not a measurement: below about this many rows the layer path is
    #: bound by its 2 launches per layer (a few us each) while the fused kernel re-reads the weights per
    #: row from L2. ``mlpkit selftest --backend cupy`` times both paths so a GPU run can set it.
    fused_max_rows = 128
    #: Host<->device copies up to this size go through the page-locked staging buffers
    #: (:mod:`.cupy_staging`); larger ones are pageable copies. Also a prediction (selftest times both).
    pinned_max_bytes = 1 << 22

    def __init__(self, xp: Any = None, device_array: type | None = None, kernels: dict | None = None) -> None:
        self.xp = probe() if xp is None else xp
        self.device_array = device_array or self.xp.ndarray
        if kernels is None and hasattr(self.xp, "ElementwiseKernel"):  # real CuPy (a NumPy stand-in has none)
            from ..kernels import cupy_gpu

            kernels = cupy_gpu.build(self.xp)
        self.kernels = kernels or {}
        self.transfers = {"to_device": 0, "to_host": 0}
        self._local = threading.local()

    # -- streams, arrays and transfers ------------------------------------------------------
    def _staging(self) -> Staging:
        staging = getattr(self._local, "staging", None)
        if staging is None:
            staging = self._local.staging = Staging(self.xp)
        return staging

    def scope(self):
        return self._staging().scope()

    def is_native(self, x: Any) -> bool:
        return isinstance(x, self.device_array)

    def asarray(self, x: Any, dtype: str) -> Any:
        if self.is_native(x):
            return self.xp.ascontiguousarray(x, dtype=dtype)
        self.transfers["to_device"] += 1
        x = np.asarray(x)
        if x.size * np.dtype(dtype).itemsize <= self.pinned_max_bytes:
            return self._staging().upload(x, dtype)
        return self.xp.asarray(np.ascontiguousarray(x, dtype=dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        if not self.is_native(x):
            return np.asarray(x)
        self.transfers["to_host"] += 1
        if x.nbytes <= self.pinned_max_bytes and x.flags.c_contiguous:
            return self._staging().download(x)
        return self.xp.asnumpy(x)

    def all_finite(self, x: Any) -> bool:
        kernel = self.kernels.get("all_finite")
        if kernel is None:
            return super().all_finite(x)
        return bool(kernel(x))  # one reduction launch, one scalar back

    def take_rows(self, x: Any, idx: np.ndarray) -> Any:
        return x[self.xp.asarray(idx)]

    # -- fused kernels (where built; otherwise the inherited array code) --------------------
    def dense(self, x: Any, W: Any, b: Any, activation: str) -> Any:
        kernel = self.kernels.get("bias_activate")
        if kernel is None:
            return super().dense(x, W, b, activation)
        z = x.dot(W)  # cuBLAS
        n, k = z.shape
        if activation == "softmax":
            rows_per_block = BLOCK_THREADS // WARP
            grid = ((n + rows_per_block - 1) // rows_per_block,)
            self.kernels[f"bias_softmax_rows_{z.dtype.name}"](grid, (BLOCK_THREADS,), (z, b, np.int64(n), np.int32(k)))
            return z
        return kernel(z, b, k, ACTIVATION_CODES[activation], z)

    def prepare(self, layers: Sequence[Layer]) -> DeviceNet:
        layers = tuple(layers)
        dtype = np.dtype(layers[0].W.dtype)
        kernel = self.kernels.get(f"forward_rows_{dtype.name}")
        if kernel is None:
            return DeviceNet(layers, None)
        codes = [ACTIVATION_CODES[layer.activation] for layer in layers]
        buf, meta = pack_rows([layer.W for layer in layers], [layer.b for layer in layers], codes, self.xp)  # on the device
        cap = forward_rows_cap(meta)
        shared_bytes = 2 * cap * dtype.itemsize
        if shared_bytes > SHARED_BYTES_MAX:
            return DeviceNet(layers, None)  # too wide for one block's shared memory: layer by layer
        return DeviceNet(layers, kernel, buf, self.asarray(meta, "int64"), cap, shared_bytes, int(meta[-1, 3]))

    def forward(self, x: Any, net: DeviceNet) -> Any:
        n = x.shape[0]
        if net.kernel is None or n > self.fused_max_rows:
            for layer in net.layers:  # one cuBLAS call and one fused launch per layer
                x = self.dense(x, layer.W, layer.b, layer.activation)
            return x
        out = self.xp.empty((n, net.n_out), dtype=x.dtype)
        args = (x, net.buf, net.meta, np.int32(len(net.layers)), np.int32(net.cap), out)
        net.kernel((n,), (BLOCK_THREADS,), args, shared_mem=net.shared_bytes)
        return out

    # forward_one and forward_finite are the interface's: a (1, in) batch through the fused kernel;
    # one reduction launch over x, then the forward.

    def activation_grad(self, name: str, a: Any, upstream: Any) -> Any:
        kernel = self.kernels.get("activation_grad")
        if kernel is None or name == "softmax":
            return super().activation_grad(name, a, upstream)
        return kernel(a, upstream, ACTIVATION_CODES[name])

    def adam_update(self, p, g, m, v, lr_t, beta1, beta2, eps) -> None:
        kernel = self.kernels.get("adam")
        if kernel is None:
            return super().adam_update(p, g, m, v, lr_t, beta1, beta2, eps)
        kernel(g, lr_t, beta1, beta2, eps, p, m, v)
