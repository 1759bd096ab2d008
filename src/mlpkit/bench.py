"""``mlpkit bench``: single-sample latency and batch throughput of a reference model per backend.

Everything is timed through the public ``MLP.predict``. Backends are measured interleaved
(round-robin within each repeat) so machine noise hits them alike; the median of the repeats is
reported. The first call of each backend (for Numba: JIT compile or cache load) is timed
separately and never mixed into the steady-state numbers.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from .backends import available_backends
from .mlp import MLP

#: Reference models: name -> (layer sizes, hidden activation, output activation).
MODELS = {
    "M1": ((784, 50, 100, 10), "sigmoid", "softmax"),
    "M2": ((784, 512, 512, 10), "relu", "softmax"),
}


@dataclass
class Result:
    backend: str
    model: str
    dtype: str
    first_call_ms: float
    single_us: float  # median microseconds per one-sample predict
    batch_samples_per_s: dict[int, float] = field(default_factory=dict)


def _median_time(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``fn`` over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def run(
    backends: Sequence[str] | None = None,
    model: str = "M1",
    dtype: str = "float32",
    batches: Sequence[int] = (32, 256, 4096),
    repeats: int = 7,
    target_s: float = 0.05,
    progress: Callable[[str], None] = lambda s: None,
) -> list[Result]:
    """Measure ``model`` on each usable backend (all usable ones if ``backends`` is None)."""
    usable = [name for name, reason in available_backends().items() if reason is None]
    names = list(backends) if backends else usable
    sizes, hidden, output = MODELS[model]
    rng = np.random.default_rng(0)
    x_single = rng.random(sizes[0], dtype=np.float64).astype(dtype)
    x_batches = {n: rng.random((n, sizes[0])).astype(dtype) for n in batches}

    models, results = {}, {}
    for name in names:
        m = MLP(sizes, hidden, output, backend=name, dtype=dtype, seed=0)
        start = time.perf_counter()
        m.predict(x_single)
        m.predict(x_batches[min(batches)] if batches else x_single)  # both code paths compiled
        results[name] = Result(name, model, dtype, (time.perf_counter() - start) * 1e3, 0.0)
        models[name] = m

    def calls_for(fn):  # enough calls for ~target_s per measurement
        once = _median_time(fn, 3)
        return max(1, int(target_s / max(once, 1e-9)))

    cases = [("single", None)] + [("batch", n) for n in batches]
    for kind, n in cases:
        x = x_single if n is None else x_batches[n]
        plan = {name: calls_for(lambda m=models[name]: m.predict(x)) for name in names}
        samples: dict[str, list[float]] = {name: [] for name in names}
        for r in range(repeats):
            progress(f"{kind} {'' if n is None else n} repeat {r + 1}/{repeats}")
            for name in names:
                samples[name].append(_median_time(lambda m=models[name]: m.predict(x), plan[name]))
        for name in names:
            med = statistics.median(samples[name])
            if n is None:
                results[name].single_us = med * 1e6
            else:
                results[name].batch_samples_per_s[n] = n / med
    return [results[name] for name in names]


def format_table(results: Sequence[Result]) -> str:
    """One row per backend: first call, single-sample latency, throughput per batch size."""
    batches = sorted({n for r in results for n in r.batch_samples_per_s})
    head = ["backend", "model", "dtype", "first call ms", "single us/call"] + [f"batch {n} samples/s" for n in batches]
    rows = [
        [r.backend, r.model, r.dtype, f"{r.first_call_ms:.0f}", f"{r.single_us:.1f}"]
        + [f"{r.batch_samples_per_s[n]:,.0f}" for n in batches]
        for r in results
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(row) for row in rows])


def to_json(results: Sequence[Result]) -> list[dict]:
    return [asdict(r) for r in results]


def stderr_progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[K{message}")
        sys.stderr.flush()
