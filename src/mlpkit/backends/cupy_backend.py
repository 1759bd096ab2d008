"""CuPy GPU backend: weights on the device, cuBLAS products, fused CUDA elementwise kernels.

Arrays are ``xp.ndarray`` (``xp`` = cupy). The vectorised code of :class:`NumpyOps` runs on them
unchanged - NumPy functions dispatch to CuPy through ``__array_ufunc__``/``__array_function__`` -
so this class only adds what differs on a device:

- transfers: host input is uploaded once per call (``asarray``), results downloaded once
  (``to_numpy``); device input stays on the device and the result follows it;
- the finite check and row gathers on the device;
- fused kernels from :mod:`mlpkit.kernels.cupy_gpu`: bias + activation after each cuBLAS
  product, activation derivatives, and the Adam update in one launch each.

A model's parameters are uploaded once, when it is built on this backend (one flat device
buffer; W and b are views). ``transfers`` counts host<->device copies.

``CupyOps(xp=..., device_array=...)`` lets tests run this class's host-side logic with NumPy
standing in for CuPy (an ndarray subclass marks "device" arrays); the fused kernels exist only
with real CuPy, and such runs say nothing about GPU correctness.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..kernels.constants import ACTIVATION_CODES
from .base import BackendUnavailable, Ops
from .numpy_backend import NumpyOps, softmax_inplace

_FIX = "pip install 'mlpkit[cuda12]' (or 'mlpkit[cuda13]') on a machine with an NVIDIA GPU and driver"


def probe():
    """Import CuPy and make a real CUDA call; the cupy module, or BackendUnavailable saying why."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken install raising anything else
        raise BackendUnavailable(f"backend 'cupy' cannot be used: CuPy is not installed ({exc}). To fix: {_FIX}") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, no device
        raise BackendUnavailable(f"backend 'cupy' cannot be used: no usable CUDA device or driver ({exc}). To fix: {_FIX}") from exc
    if count < 1:
        raise BackendUnavailable(f"backend 'cupy' cannot be used: CuPy sees no CUDA device. To fix: {_FIX}")
    return cupy


class CupyOps(NumpyOps):
    """Ops on CUDA devices through CuPy (see the module docstring)."""

    name = "cupy"

    def __init__(self, xp: Any = None, device_array: type | None = None) -> None:
        self.xp = probe() if xp is None else xp
        self.device_array = device_array or self.xp.ndarray
        self.kernels = None
        if hasattr(self.xp, "ElementwiseKernel"):  # real CuPy (a NumPy stand-in has none)
            from ..kernels import cupy_gpu

            self.kernels = cupy_gpu.build(self.xp)
        self.transfers = {"to_device": 0, "to_host": 0}

    # -- arrays and transfers ---------------------------------------------------------------
    def is_native(self, x: Any) -> bool:
        return isinstance(x, self.device_array)

    def asarray(self, x: Any, dtype: str) -> Any:
        if not self.is_native(x):
            self.transfers["to_device"] += 1
            x = self.xp.asarray(np.ascontiguousarray(x, dtype=dtype))
        return self.xp.ascontiguousarray(x, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        if not self.is_native(x):
            return np.asarray(x)
        self.transfers["to_host"] += 1
        return self.xp.asnumpy(x) if hasattr(self.xp, "asnumpy") else np.asarray(x).view(np.ndarray)

    def all_finite(self, x: Any) -> bool:
        return bool(self.xp.isfinite(x).all())  # one device reduction, one scalar back

    def concat(self, arrays: Sequence[Any]) -> Any:
        return self.xp.concatenate(arrays)

    def take_rows(self, x: Any, idx: np.ndarray) -> Any:
        return x[self.xp.asarray(idx)]

    # -- fused kernels (real CuPy only; otherwise the inherited array code) ------------------
    def dense(self, x: Any, W: Any, b: Any, activation: str) -> Any:
        if self.kernels is None:
            return super().dense(x, W, b, activation)
        z = x.dot(W)  # cuBLAS
        if activation == "softmax":
            z += b
            return softmax_inplace(z)
        k = z.shape[-1]
        return self.kernels["bias_activate"](z, b, k, ACTIVATION_CODES[activation], z)

    # The generic layer-by-layer forward over self.dense (one cuBLAS call and one fused launch
    # per layer; softmax: 4), instead of the NumPy backend's prepared host steps. It handles
    # (in,) as well as (n, in).
    prepare = Ops.prepare
    forward = Ops.forward
    forward_finite = Ops.forward_finite  # one device reduction over x
    forward_one = Ops.forward

    def activation_grad(self, name: str, a: Any, upstream: Any) -> Any:
        if self.kernels is None or name == "softmax":
            return super().activation_grad(name, a, upstream)
        return self.kernels["activation_grad"](a, upstream, ACTIVATION_CODES[name])

    def adam_update(self, p, g, m, v, lr_t, beta1, beta2, eps) -> None:
        if self.kernels is None:
            return super().adam_update(p, g, m, v, lr_t, beta1, beta2, eps)
        self.kernels["adam"](g, lr_t, beta1, beta2, eps, p, m, v)
