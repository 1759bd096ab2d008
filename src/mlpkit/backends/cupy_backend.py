"""CuPy GPU backend: only the device probe exists in this version.

Importing this module (the registry does, on first use of ``cupy``) runs the probe - a real CUDA
call, since ``import cupy`` succeeds on machines without a GPU - and then raises
:class:`BackendUnavailable` with the reason. Selecting ``cupy`` therefore always fails loudly;
it is never silently replaced by another backend.
"""

from __future__ import annotations

from .base import BackendUnavailable


def probe() -> None:
    """Raise BackendUnavailable unless CuPy imports and sees at least one CUDA device."""
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailable(
            f"backend 'cupy' cannot be used: CuPy is not installed ({exc}). "
            "To fix: pip install 'mlpkit[cuda12]' (or 'mlpkit[cuda13]') on a machine with an NVIDIA GPU"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError, missing driver, ...
        raise BackendUnavailable(f"backend 'cupy' cannot be used: no usable CUDA device ({exc})") from exc
    if count < 1:
        raise BackendUnavailable("backend 'cupy' cannot be used: CuPy sees no CUDA device")


probe()
raise BackendUnavailable(
    "backend 'cupy' cannot be used: a CUDA device was found, but the CuPy backend is not implemented "
    "in this version of mlpkit; use 'numba' or 'numpy'"
)
