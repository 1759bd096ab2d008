"""``mlpkit warmup``: compile (or load from the cache) the Numba kernels ahead of the first call."""

from __future__ import annotations

import argparse
import time

from .options import name_list

NAME = "warmup"
SUMMARY = "compile the Numba kernels for this CPU ahead of the first prediction (cached per user)"
EPILOG = ("example (e.g. in a Dockerfile or a cluster's worker start-up):\n  mlpkit warmup\n"
          "  mlpkit warmup --dtype float32 --training")
COMPILES = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", type=name_list, default=None, help="comma-separated: float32, float64 (default: both)")
    p.add_argument("--training", action="store_true", help="also compile the training kernels (a tiny fit per dtype)")


def run(args: argparse.Namespace) -> int:
    from ..backends import dtype_name, get_backend

    dtypes = [dtype_name(d) for d in (args.dtype or ["float32", "float64"])]
    get_backend("numba")  # fails with the reason and the fix where Numba cannot be used
    from ..backends.numba_backend import cache_dir, describe_isa, warmup

    print(f"numba kernels: {describe_isa()}")
    total = 0.0
    for what, seconds in warmup(dtypes):
        print(f"  {what:24} {seconds:7.2f} s")
        total += seconds
    if args.training:
        import numpy as np

        from ..mlp import MLP

        for dtype in dtypes:
            start = time.perf_counter()
            rng = np.random.default_rng(0)
            x, t = rng.random((16, 4)), rng.integers(0, 2, 16)
            for sizes, act in [((4, 3, 2), "sigmoid"), ((4, 3, 2), "relu")]:
                MLP(sizes, act, backend="numba", dtype=dtype, seed=0).fit(x, t, epochs=1, batch_size=6, verbose=False)  # 6, 6, 4 rows: BLAS and loop layers
            seconds = time.perf_counter() - start
            print(f"  {dtype + ' training':24} {seconds:7.2f} s")
            total += seconds
    print(f"done in {total:.1f} s; kernels cached in {cache_dir()}")
    return 0
