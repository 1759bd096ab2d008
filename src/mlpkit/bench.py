"""``mlpkit bench``: single-sample latency and batch throughput per backend, peers side by side.

Every implementation (an mlpkit backend through the public ``MLP.predict``, or a peer from
:mod:`mlpkit.peers`) is a ``predict`` callable measured the same way: implementations are
interleaved round-robin within each repeat so machine noise hits them alike, the median of the
repeats is reported, and each thread count is measured under :func:`num_threads`. The first
call of each backend (for Numba: JIT compile or cache load) is timed separately and never mixed
into the steady-state numbers. The ``sgemm ceiling`` row is the throughput if the model's
matrix products were all it did (NumPy's BLAS on the same batch): a physical upper bound.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .backends import available_backends, num_threads
from .mlp import MLP
from .peers import PEERS, TRAIN_PEERS, PeerUnavailable

#: Reference models: name -> (layer sizes, hidden activation, output activation). M1 runs the
#: built-in pretrained weights (mlpkit.load_pretrained("mnist-m1")); the others seeded random ones.
MODELS = {
    "M1": ((784, 50, 100, 10), "sigmoid", "softmax"),
    "M2": ((784, 512, 512, 10), "relu", "softmax"),
    "T1": ((784, 50, 10), "sigmoid", "softmax"),  # the Keras / TwoLayerNet MNIST net
}


@dataclass
class Row:
    name: str  # backend name, peer name, or "sgemm ceiling"
    kind: str  # "backend", "peer" or "ceiling"
    threads: int | None  # None: the libraries' default thread counts
    first_call_ms: float | None = None
    single_us: float | None = None  # median microseconds per one-sample predict
    batch_samples_per_s: dict[int, float] = field(default_factory=dict)


SETTLE_S = 0.15  # idle time before each multi-threaded timing (see run)
WARMUP_S = 0.05  # untimed calls after that idle time, before the timing (see run)


def seconds_per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def keep_calling(fn: Callable[[], object], seconds: float) -> int:
    """Call ``fn()`` until ``seconds`` have passed, at least once if ``seconds`` > 0; the calls made."""
    if seconds <= 0:
        return 0
    calls, end = 0, time.perf_counter() + seconds
    while True:
        fn()
        calls += 1
        if time.perf_counter() >= end:
            return calls


def build(model_name: str, backend: str, dtype: str) -> MLP:
    """The reference model ``model_name`` on ``backend``."""
    if model_name == "M1":
        from .pretrained import load_pretrained

        return load_pretrained("mnist-m1", backend=backend, dtype=dtype)
    sizes, hidden, output = MODELS[model_name]
    return MLP(sizes, hidden, output, backend=backend, dtype=dtype, seed=0)


def _sgemm_ceiling(model: MLP, x: np.ndarray, repeats: int, target_s: float) -> float:
    """Samples/s if only the model's matrix products ran (BLAS into preallocated outputs)."""
    Ws = [np.asarray(model.params[f"W{i}"]) for i in range(1, len(model.activations) + 1)]
    acts = [x] + [np.ones((len(x), W.shape[1]), dtype=x.dtype) for W in Ws]

    def products():
        for a, W, out in zip(acts, Ws, acts[1:]):
            np.matmul(a, W, out=out)

    calls = max(1, int(target_s / max(seconds_per_call(products, 2), 1e-9)))
    # the median, like every implementation it is compared with (a min would flatter the ceiling)
    return len(x) / statistics.median(seconds_per_call(products, calls) for _ in range(repeats))


@dataclass
class Peak:
    """This machine's measured peak for one dtype, per thread."""

    gflops: float
    source: str  # what reached it


def flops_per_row(model_name: str) -> int:
    """Useful FLOPs of one sample's forward: 2 * sum of n_in * n_out over the layers."""
    sizes = MODELS[model_name][0]
    return 2 * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))


def measure_peak(dtype: str = "float32", repeats: int = 5, n: int = 1024) -> Peak:
    """Per-thread peak: the faster of NumPy's BLAS on an n^3 product and mlpkit's Numba
    micro-kernel on operands that stay in cache (where Numba is usable), both at one thread,
    best of ``repeats``. Either can be the faster: a BLAS built or configured for an older
    instruction set (e.g. OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU) stays below the FMA units'
    peak, which the cached micro-kernel then shows."""
    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    out = np.empty_like(a)
    with num_threads(1):
        best = min(seconds_per_call(lambda: np.matmul(a, a, out=out), 1) for _ in range(repeats))
        peak = Peak(2 * n**3 / best / 1e9, f"NumPy's BLAS, {n}^3 {dtype} product")
        if available_backends().get("numba") is None:
            from .backends.numba_backend import kernel_peak_gflops

            gflops, what = kernel_peak_gflops(dtype, repeats)
            if gflops > peak.gflops:
                peak = Peak(gflops, what)
    return peak


def format_peak_shares(rows: Sequence[Row], peak: Peak, flops: int) -> str:
    """Each row's largest-batch throughput as GFLOP/s and as a share of threads x the peak."""
    lines = [f"measured peak: {peak.gflops:.0f} GFLOP/s per thread ({peak.source})"]
    above = False
    for r in rows:
        if not r.batch_samples_per_s:
            continue
        n = max(r.batch_samples_per_s)
        gflops = r.batch_samples_per_s[n] * flops / 1e9
        threads = r.threads or 1
        share = gflops / (threads * peak.gflops)
        above = above or share > 1
        lines.append(f"  {r.name} at {r.threads or 'default'} thread(s), batch {n}: {gflops:.0f} GFLOP/s = "
                     f"{share:.0%} of {threads} x peak")
    if above:
        lines.append("  (a share above 100% means the machine ran slower while its peak was measured than while "
                     "that row was: a shared or throttled CPU; run again for a trustworthy peak)")
    return "\n".join(lines)


def run(
    model_name: str = "M1",
    dtype: str = "float32",
    backends: Sequence[str] | None = None,
    peers: Sequence[str] = (),
    thread_counts: Sequence[int] = (1,),
    batches: Sequence[int] = (32, 256, 4096),
    repeats: int = 7,
    target_s: float = 0.05,
    progress: Callable[[str], None] = lambda s: None,
    settle_s: float = SETTLE_S,
    warmup_s: float = WARMUP_S,
) -> list[Row]:
    """Measure the reference model on each backend (all usable ones if None) and each peer.

    With more than one thread, each timing waits ``settle_s`` first: OpenBLAS's idle workers
    spin for ~0.1 s after a call (seen as their CPU time in /proc), and a spinning worker on the
    second core halves whatever runs its own threads next (Numba backend at 2 threads, M1, batch
    4096: 695k samples/s right after from-scratch NumPy, 1135k without it in the rotation).
    Then the implementation runs untimed for ``warmup_s``, so that the timing starts from the
    steady state it claims to measure, not from the idle machine: on a 2-vCPU KVM guest (AMD
    EPYC Zen 2) the first ~50 ms of 2-thread work after that pause ran slower. With 50 ms
    timings, Numba at 2 threads, M1 batch 4096, ran 0.94-1.03M samples/s without the warm-up
    and 1.38-1.50M after 0.03-0.1 s of it; ONNX Runtime 0.87-1.08M and 1.15-1.28M. With the
    CLI's 0.1 s timings both gained 8-15%, their ratio within the noise."""
    names = list(backends) if backends else [n for n, r in available_backends().items() if r is None]
    sizes, hidden, output = MODELS[model_name]
    rng = np.random.default_rng(0)
    x_single = rng.random(sizes[0]).astype(dtype)
    x_batch = {n: rng.random((n, sizes[0])).astype(dtype) for n in batches}
    reference = build(model_name, "numpy", dtype)

    rows: list[Row] = []
    for threads in thread_counts:  # None: the libraries' own defaults (no threadpoolctl)
        with num_threads(threads) if threads is not None else contextlib.nullcontext():
            impls: dict[str, Callable[[np.ndarray], Any]] = {}
            for name in names:
                model = build(model_name, name, dtype)
                start = time.perf_counter()
                model.predict(x_single)
                for x in x_batch.values():
                    model.predict(x)  # every code path compiled before timing starts
                rows.append(Row(name, "backend", threads, first_call_ms=(time.perf_counter() - start) * 1e3))
                impls[name] = model.predict
            for peer in peers:
                try:
                    impls[peer] = PEERS[peer](reference, threads)
                except PeerUnavailable as exc:
                    progress(f"skipped peer {peer}: {exc}")
                    continue
                rows.append(Row(peer, "peer", threads))
            by_name = {r.name: r for r in rows if r.threads == threads}
            for n in [None, *batches]:
                x = x_single if n is None else x_batch[n]
                calls = {k: max(1, int(target_s / max(seconds_per_call(lambda f=f: f(x), 3), 1e-9))) for k, f in impls.items()}
                samples: dict[str, list[float]] = {k: [] for k in impls}
                for r in range(repeats):
                    progress(f"{threads} thread(s), {'single sample' if n is None else f'batch {n}'}: repeat {r + 1}/{repeats}")
                    for k, f in impls.items():
                        if threads != 1:
                            time.sleep(settle_s)  # let the previous implementation's workers stop spinning
                            keep_calling(lambda f=f: f(x), warmup_s)  # and this one's reach their steady state
                        samples[k].append(seconds_per_call(lambda f=f: f(x), calls[k]))
                for k, times in samples.items():
                    med = statistics.median(times)
                    if n is None:
                        by_name[k].single_us = med * 1e6
                    else:
                        by_name[k].batch_samples_per_s[n] = n / med
            if batches:
                progress(f"{threads} thread(s): sgemm ceiling")
                ceiling = Row("sgemm ceiling", "ceiling", threads)
                ceiling.batch_samples_per_s[max(batches)] = _sgemm_ceiling(reference, x_batch[max(batches)], repeats, target_s)
                rows.append(ceiling)
    return rows


def run_train(
    model_name: str = "T1",
    backends: Sequence[str] | None = None,
    peers: Sequence[str] = (),
    batches: Sequence[int] = (32, 128),
    samples: int = 15000,
    threads: int = 1,
    repeats: int = 3,
    progress: Callable[[str], None] = lambda s: None,
) -> list[Row]:
    """Training throughput (samples/s over one epoch of ``samples`` rows, Adam, float32) per
    backend and training peer, interleaved, median of ``repeats``. The data are uniform random
    MNIST-shaped rows and labels: the speed of these kernels does not depend on the values."""
    names = list(backends) if backends else [n for n, r in available_backends().items() if r is None]
    sizes, hidden, output = MODELS[model_name]
    rng = np.random.default_rng(0)
    x = rng.random((samples, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], samples)
    rows = []
    with num_threads(threads) if threads is not None else contextlib.nullcontext():
        for batch in batches:
            epochs: dict[str, Callable[[], Any]] = {}
            for name in names:
                model = MLP(sizes, hidden, output, backend=name, seed=0)
                model.fit(x[: 4 * batch], labels[: 4 * batch], epochs=1, batch_size=batch, verbose=False)  # compile
                epochs[name] = lambda m=model: m.fit(x, labels, epochs=1, batch_size=batch, verbose=False, seed=0)
            for peer in peers:
                try:
                    train = TRAIN_PEERS[peer](MLP(sizes, hidden, output, backend="numpy", seed=0), threads, batch)
                except PeerUnavailable as exc:
                    progress(f"skipped peer {peer}: {exc}")
                    continue
                epochs[peer] = lambda f=train: f(x, labels)
            times: dict[str, list[float]] = {k: [] for k in epochs}
            for r in range(repeats):
                progress(f"training, batch {batch}: repeat {r + 1}/{repeats}")
                for k, epoch in epochs.items():
                    times[k].append(seconds_per_call(epoch, 1))
            for k, ts in times.items():
                row = next((r for r in rows if r.name == k), None)
                if row is None:
                    row = Row(k, "backend" if k in names else "peer", threads)
                    rows.append(row)
                row.batch_samples_per_s[batch] = samples / statistics.median(ts)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(rows: Sequence[Row]) -> str:
    """One line per implementation and thread count."""
    batches = sorted({n for r in rows for n in r.batch_samples_per_s})
    head = ["implementation", "threads", "first call ms", "single us/call"] + [f"batch {n}/s" for n in batches]
    body = [
        [r.name, "default" if r.threads is None else str(r.threads), _fmt(r.first_call_ms, ".0f"), _fmt(r.single_us, ".1f")]
        + [_fmt(r.batch_samples_per_s.get(n), ",.0f") for n in batches]
        for r in rows
    ]
    return _align(head, body)


def format_ratios(rows: Sequence[Row]) -> str:
    """Each backend against the best peer at the same thread count (>1: mlpkit is faster)."""
    batches = sorted({n for r in rows for n in r.batch_samples_per_s})
    head = ["backend", "threads", "single"] + [f"batch {n}" for n in batches]
    body = []
    for r in rows:
        if r.kind != "backend":
            continue
        peers = [p for p in rows if p.kind == "peer" and p.threads == r.threads]
        if not peers:
            continue
        line = [r.name, str(r.threads)]
        singles = [p for p in peers if p.single_us]
        best = min(singles, key=lambda p: p.single_us, default=None)
        line.append(f"{best.single_us / r.single_us:.2f}x {best.name}" if best and r.single_us else "-")
        for n in batches:
            cands = [p for p in peers if n in p.batch_samples_per_s]
            best = max(cands, key=lambda p: p.batch_samples_per_s[n], default=None)
            ok = best and n in r.batch_samples_per_s
            line.append(f"{r.batch_samples_per_s[n] / best.batch_samples_per_s[n]:.2f}x {best.name}" if ok else "-")
        body.append(line)
    ceilings = {(c.threads, n): v for c in rows if c.kind == "ceiling" for n, v in c.batch_samples_per_s.items()}
    text = _align(head, body) if body else ""
    fractions = [
        f"{r.name} at {r.threads} thread(s), batch {n}: {r.batch_samples_per_s[n] / v:.2f}x the sgemm ceiling"
        for r in rows if r.kind == "backend"
        for (t, n), v in ceilings.items() if t == r.threads and n in r.batch_samples_per_s
    ]
    return "\n".join(filter(None, [text, *fractions]))


def format_peer_ratios(rows: Sequence[Row]) -> str:
    """Each backend's throughput divided by each peer's, per batch size (>1: mlpkit is faster)."""
    lines = []
    for r in (r for r in rows if r.kind == "backend"):
        for p in (p for p in rows if p.kind == "peer" and p.threads == r.threads):
            shared = sorted(set(r.batch_samples_per_s) & set(p.batch_samples_per_s))
            ratios = ", ".join(f"batch {n} {r.batch_samples_per_s[n] / p.batch_samples_per_s[n]:.2f}x" for n in shared)
            lines.append(f"{r.name} / {p.name}: {ratios}")
    return "\n".join(lines)


def _align(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(c) for c in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def to_json(rows: Sequence[Row]) -> list[dict]:
    return [asdict(r) for r in rows]


def plot(rows: Sequence[Row], path: str, title: str, peak_samples_per_s: float | None = None) -> None:
    """Throughput (samples/s) against batch size, log-log, one line per implementation and thread
    count (1 thread solid, more dashed), the single-sample rate (1 / latency) drawn at batch 1,
    and ``peak_samples_per_s`` (the measured per-thread peak turned into samples/s) as a
    reference line; beside it, the single-sample latency in µs as bars where there is one.
    Needs matplotlib."""
    from matplotlib.ticker import EngFormatter, NullFormatter

    from .mlp.plotting import figure

    has_single = any(r.single_us for r in rows)
    fig = figure("--plot", figsize=(12 if has_single else 8, 6))
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]}) if has_single else [fig.subplots()]
    ax = axes[0]
    names = list(dict.fromkeys(r.name for r in rows))
    palette = {name: f"C{i % 10}" for i, name in enumerate(names)}
    for r in rows:
        points = sorted(r.batch_samples_per_s.items())
        if r.single_us:
            points = [(1, 1e6 / r.single_us)] + points
        if not points:
            continue
        xs, ys = zip(*points)
        label = f"{r.name}, {r.threads or 'default'} thread{'s' if r.threads != 1 else ''}"
        ax.plot(xs, ys, marker="o" if r.kind != "ceiling" else "x", color=palette[r.name],
                linestyle="-" if r.threads == 1 else "--", label=label)
    if peak_samples_per_s:
        ax.axhline(peak_samples_per_s, color="black", linewidth=1, linestyle=":",
                   label=f"measured peak, 1 thread ({peak_samples_per_s / 1e6:.2f}M samples/s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        # 1k, 100k, 1M: no 1e6 offset; minor ticks labelled (40k, 60k) only when the data span
        # less than a decade, where there may be no major tick at all
        axis.set_major_formatter(EngFormatter(sep=""))
        axis.set_minor_formatter(EngFormatter(sep="") if high / low < 10 else NullFormatter())
    ax.set(xlabel="batch size (rows per call" + ("; 1 = single-sample predict)" if has_single else ")"), ylabel="throughput, samples/s",
           title="throughput vs batch size (higher is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    if has_single:
        single = [r for r in rows if r.single_us]
        labels = [f"{r.name}\n{r.threads or 'default'}T" for r in single]
        bars = axes[1].bar(labels, [r.single_us for r in single], color=[palette[r.name] for r in single])
        axes[1].bar_label(bars, fmt="%.1f", fontsize=7)
        axes[1].set(ylabel="µs per predict(x)", title="single sample latency (lower is better)")
        axes[1].tick_params(axis="x", labelsize=7, rotation=45)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
