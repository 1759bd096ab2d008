"""``mlpkit info``: this machine's backends, versions, BLAS and CPU; or a model file's architecture."""

from __future__ import annotations

import argparse
import json
import os
import platform

from .. import __version__
from ..backends import available_backends
from .options import add_model_file

NAME = "info"
SUMMARY = "backends, versions, BLAS and CPU here; or, given MODEL, its architecture"
EPILOG = "example:\n  mlpkit info\n  mlpkit info m1.npz"
COMPILES = False

_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile", "asimd", "sve")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="a model file: print layers, parameter count and FLOPs per sample")
    add_model_file(p, backend=False)


def cpu_description() -> str:
    """Model name and the SIMD flags that matter for these kernels (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    name = fields.get("model name") or fields.get("CPU part") or platform.machine()
    return f"{name}; SIMD: {' '.join(f for f in _CPU_FLAGS if f in flags) or 'none found'}"


def model_summary(model) -> str:
    """``model.summary()`` and the metadata itself (500 characters of its JSON at most)."""
    text = model.summary(print_fn=None)
    return text + (f"\nmetadata: {json.dumps(model.metadata)[:500]}" if model.metadata else "")


def run(args: argparse.Namespace) -> int:
    if args.model:
        from ..mlp.files import load_any

        print(model_summary(load_any(args.model, args.activations, backend="numpy")))
        return 0
    import numpy

    reasons = available_backends()
    print(f"mlpkit {__version__}, Python {platform.python_version()}, NumPy {numpy.__version__}")
    print(f"CPU: {cpu_description()}, {os.cpu_count()} logical cores")
    print("backends:")
    for name, reason in reasons.items():
        print(f"  {name:6} {'available' if reason is None else 'unavailable: ' + reason}")
    if reasons["numba"] is None:
        import llvmlite.binding as llvm
        import numba

        from ..backends.numba_backend import describe_isa
        from ..kernels.numba_jit import cache_dir

        print(f"numba {numba.__version__}, LLVM target CPU {llvm.get_host_cpu_name()}, "
              f"threading layer config {numba.config.THREADING_LAYER!r} (mlpkit kernels are serial and nogil)")
        print(f"numba kernels: {describe_isa()}")
        print(f"numba kernel cache: {cache_dir()} (NUMBA_CACHE_DIR overrides; 'mlpkit warmup' fills it)")
    print(f"GPU: {'CuPy backend usable' if reasons['cupy'] is None else reasons['cupy']}")
    try:
        import threadpoolctl
    except ImportError:
        print("BLAS: threadpoolctl not installed (pip install threadpoolctl) - cannot list BLAS libraries or limit threads")
        return 0
    for info in threadpoolctl.threadpool_info():
        extra = f", {info['architecture']} kernels" if info.get("architecture") else ""
        print(f"{info['user_api']}: {info['internal_api']} {info.get('version') or ''} "
              f"({os.path.basename(info['filepath'])}), {info['num_threads']} threads{extra}")
    return 0
