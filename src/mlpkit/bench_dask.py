"""``mlpkit bench --dask``: rows of a .npy file through local Dask workers against one local
``predict`` over the same memory-mapped file (needs mlpkit[dask]).

Each configuration is timed ``repeats`` times after one untimed run (the cluster started, its
workers warmed up by the :class:`mlpkit.dask.WarmUp` plugin, the file in the page cache); the
best time is reported. Workers are processes with one thread each.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .backends import num_threads


@dataclass
class DaskRow:
    name: str  # "local predict" or "dask, N workers"
    cores: int  # cores it computes on: threads of the local call, or workers x 1 thread
    samples_per_s: float


def _write_rows(path: str, rows: int, width: int, dtype: str, block: int = 100_000) -> None:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows, width))
    rng = np.random.default_rng(0)
    for i in range(0, rows, block):
        out[i : i + block] = rng.random((min(block, rows - i), width), dtype=np.float32)
    out.flush()


def run(model_name: str = "M1", dtype: str = "float32", rows: int = 1_000_000, workers: Sequence[int] = (1, 2),
        repeats: int = 3, chunk_rows: int = 50_000, progress: Callable[[str], None] = lambda s: None,
        folder: str | None = None) -> list[DaskRow]:
    """Samples/s of a local ``predict`` over the file (at ``max(workers)`` threads) and of
    ``mlpkit.dask.predict`` on LocalClusters of each size in ``workers``."""
    from distributed import Client, LocalCluster

    from . import dask as mlpkit_dask
    from .bench import build

    model = build(model_name, "numba" if _numba() else "numpy", dtype)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, "rows.npy")
        progress(f"writing {rows:,} rows to {path}")
        _write_rows(path, rows, model.layer_sizes[0], dtype)
        x = np.load(path, mmap_mode="r")
        out: list[DaskRow] = []
        for cores in sorted({1, max(workers)}):  # the machine's own scaling from 1 to n cores, for reference
            with num_threads(cores):
                best = np.inf
                for r in range(repeats + 1):
                    progress(f"local predict, {cores} thread(s): repeat {r}/{repeats}")
                    start = time.perf_counter()
                    for i in range(0, rows, chunk_rows):
                        model.predict(np.asarray(x[i : i + chunk_rows]))
                    if r:
                        best = min(best, time.perf_counter() - start)
                out.append(DaskRow("local predict", cores, rows / best))
        for n in workers:
            progress(f"starting a LocalCluster of {n} worker(s)")
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=40) as cluster, Client(cluster) as client:
                mlpkit_dask.warm_up_workers(client, [dtype])
                best = np.inf
                for r in range(repeats + 1):
                    progress(f"dask, {n} worker(s): repeat {r}/{repeats}")
                    y = mlpkit_dask.predict(model, path, chunk_rows=chunk_rows)
                    start = time.perf_counter()
                    y.sum(axis=0).compute()  # every block computed on the workers, only a sum comes back
                    if r:
                        best = min(best, time.perf_counter() - start)
                out.append(DaskRow(f"dask, {n} worker{'s' if n > 1 else ''}", n, rows / best))
    return out


def _numba() -> bool:
    from .backends import available_backends

    return available_backends()["numba"] is None


def format_rows(rows: Sequence[DaskRow]) -> str:
    """The table and the two ratios the targets are stated in."""
    lines = [f"{'implementation':18} {'cores':>5} {'samples/s':>12}"]
    lines += [f"{r.name:18} {r.cores:>5} {r.samples_per_s:>12,.0f}" for r in rows]
    by = {(r.name, r.cores): r for r in rows}
    one, two = by.get(("dask, 1 worker", 1)), by.get(("dask, 2 workers", 2))
    local1, local2 = by.get(("local predict", 1)), by.get(("local predict", 2))
    if one and two:
        lines.append(f"2 workers / 1 worker: {two.samples_per_s / one.samples_per_s:.2f}x (target >= 1.6x)"
                     + (f"; this machine's own 2 / 1 cores, local predict: {local2.samples_per_s / local1.samples_per_s:.2f}x"
                        if local1 and local2 else ""))
    if two and local2:
        lines.append(f"dask, 2 workers / local predict at 2 threads: {two.samples_per_s / local2.samples_per_s:.2f}x (target >= 0.7x)")
    if one and local1:
        lines.append(f"dask, 1 worker / local predict at 1 thread: {one.samples_per_s / local1.samples_per_s:.2f}x")
    return "\n".join(lines)
