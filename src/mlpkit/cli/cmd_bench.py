"""``mlpkit bench``: single-sample latency and batch (or training) throughput per backend."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys

from .. import __version__, bench
from ..backends import available_backends
from ..backends.registry import BACKENDS
from .options import DTYPES, add_backends, add_quiet, int_list, progress_bar

NAME = "bench"
SUMMARY = "time single-sample latency and batch throughput per backend (and peers)"
EPILOG = "example:\n  mlpkit bench --peers --plot bench.png\n  mlpkit bench --train --peers"
COMPILES = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_backends(p)
    p.add_argument("--model", choices=sorted(bench.MODELS), default="M1",
                   help="M1 = 784-50-100-10 sigmoid (default), M2 = 784-512-512-10 relu, T1 = 784-50-10 sigmoid")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="default: float32")
    p.add_argument("--batches", type=int_list, default=None,
                   help="comma-separated batch sizes (default 32,256,4096; with --train 32,128)")
    p.add_argument("--threads", type=int_list, help="comma-separated thread counts (default: 1 and all cores)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats; the median is reported (default: 7)")
    p.add_argument("--peers", action="store_true", help="also time from-scratch NumPy, ONNX Runtime and PyTorch if installed")
    p.add_argument("--quick", action="store_true", help="a few seconds: 3 short repeats (numbers are rough)")
    p.add_argument("--train", action="store_true",
                   help="training throughput instead: one epoch, Adam, batch 32 and 128, model T1 = 784-50-10 sigmoid (or --model)")
    p.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="also draw throughput vs batch size and the latency (needs matplotlib)")
    p.add_argument("--dask", action="store_true",
                   help="instead: --dask-rows rows of the model through 1 and 2 local Dask workers vs one local predict")
    p.add_argument("--dask-rows", type=int, default=1_000_000, help="rows for --dask")
    add_quiet(p)


def run(args: argparse.Namespace) -> int:
    reasons = available_backends()
    names = args.backends or [name for name in BACKENDS if reasons[name] is None]
    for name in names:
        if reasons[name] is not None:  # explicitly asked for: fail, do not skip silently
            print(f"mlpkit bench: {reasons[name]}", file=sys.stderr)
            return 2
    for name in BACKENDS:
        if name not in names and reasons[name] is not None:
            print(f"skipped {name}: {reasons[name]}", file=sys.stderr)
    threads = args.threads or sorted({1, os.cpu_count() or 1})
    if args.threads is None and importlib.util.find_spec("threadpoolctl") is None:
        print("threadpoolctl is not installed (pip install threadpoolctl): measuring with the libraries' "
              "default thread counts only", file=sys.stderr)
        threads = [None]
    repeats, target = (3, 0.005) if args.quick else (args.repeats, 0.1)
    if args.dask:
        return _bench_dask(args)
    if args.train:
        return _bench_train(args, names, threads)
    peers = _available_peers(bench.PEERS) if args.peers else []
    sizes = bench.MODELS[args.model][0]
    print(f"mlpkit {__version__} bench: {args.model} {'-'.join(map(str, sizes))} {args.dtype}; "
          f"backends {', '.join(names)}; peers {', '.join(peers) or 'none (--peers)'}; threads {threads}; "
          f"{repeats} interleaved repeats, median", file=sys.stderr)
    if "numba" in names:
        from ..backends.numba_backend import describe_isa

        print(f"numba kernels: {describe_isa()}", file=sys.stderr)
    batches = args.batches or [32, 256, 4096]
    peak_repeats = 3 if args.quick else 5
    with BenchProgress(len(threads) * (1 + len(batches)) * repeats, args.quiet) as bar:
        bar("measuring this machine's peak (one thread)")
        before = bench.measure_peak(args.dtype, repeats=peak_repeats)
        rows = bench.run(args.model, args.dtype, names, peers, threads, batches, repeats, target, bar,
                         warmup_s=min(bench.WARMUP_S, target))  # --quick: a warm-up as short as its timings
        bar("measuring this machine's peak again (one thread)")
    # before and after the rows, the faster: a shared guest slowed down while measuring it only
    # lowers it (seen: 58 GFLOP/s in a slow minute, 88-94 in the runs around it)
    peak = max(before, bench.measure_peak(args.dtype, repeats=peak_repeats), key=lambda p: p.gflops)
    flops = bench.flops_per_row(args.model)
    shares = lambda rows: "\n".join(filter(None, [bench.format_ratios(rows) if peers else "",  # noqa: E731
                                                   bench.format_peak_shares(rows, peak, flops)]))
    meta = {"model": args.model, "dtype": args.dtype, "peak_gflops_per_thread": peak.gflops, "peak_source": peak.source,
            "peak_samples_per_s": peak.gflops * 1e9 / flops}
    report(args, rows, shares, meta)
    return 0


def _available_peers(table) -> list[str]:
    """The peers of ``table`` whose libraries are installed; each other one is named on stderr
    with what installs it."""
    from ..peers import missing

    found = []
    for name in table:
        reason = missing(name)
        if reason:
            print(f"skipped peer {name}: {reason}", file=sys.stderr)
        else:
            found.append(name)
    return found


class BenchProgress:
    """The bench's progress callback: a tqdm bar over every timed repeat; messages about skipped
    peers are printed above it, where they stay."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.bar = progress_bar(total, "repeat", "bench", quiet)

    def __call__(self, message: str) -> None:
        if message.startswith("skipped"):
            self.bar.write(message, file=sys.stderr)
            return
        self.bar.set_description_str(message.split(": repeat")[0], refresh=False)
        if ": repeat " in message:
            self.bar.update(1)

    def __enter__(self) -> "BenchProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def report(args: argparse.Namespace, rows, ratios, meta: dict, title: str = "") -> None:
    """Print the table (and ratios), write --json and --plot."""
    if title:
        print(title)
    print(bench.format_table(rows))
    if ratios:
        print()
        print(ratios(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mlpkit": __version__, "python": platform.python_version(), **meta, "rows": bench.to_json(rows)}, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        bench.plot(rows, args.plot, f"mlpkit {__version__}: " + " ".join(str(meta[k]) for k in ("model", "dtype", "training") if k in meta)
                   + f" - {_cpu()}", meta.get("peak_samples_per_s"))
        print(f"wrote {args.plot}", file=sys.stderr)


def _bench_dask(args: argparse.Namespace) -> int:
    from .. import bench_dask

    rows = args.dask_rows if not args.quick else min(args.dask_rows, 100_000)
    print(f"mlpkit {__version__} bench --dask: {args.model} {args.dtype}, {rows:,} rows from a .npy file; "
          f"LocalCluster workers are processes of one thread; {_cpu()}", file=sys.stderr)
    with BenchProgress(0, args.quiet) as bar:
        results = bench_dask.run(args.model, args.dtype, rows, (1, 2), repeats=1 if args.quick else 3,
                                 chunk_rows=min(50_000, max(1000, rows // 20)), progress=bar)
    print(bench_dask.format_rows(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mlpkit": __version__, "model": args.model, "dtype": args.dtype, "rows": rows,
                       "results": [vars(r) for r in results]}, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _cpu() -> str:
    from .cmd_info import cpu_description

    return cpu_description().split(";")[0]


def _bench_train(args: argparse.Namespace, names: list[str], threads: list[int]) -> int:
    model = args.model if args.model != "M1" else "T1"
    peers = _available_peers(bench.TRAIN_PEERS) if args.peers else []
    samples, repeats = (2000, 1) if args.quick else (15000, max(3, args.repeats // 2))
    batches = args.batches or [32, 128]  # None until the user gives a value: an explicit list is kept
    print(f"mlpkit {__version__} bench --train: {model} {'-'.join(map(str, bench.MODELS[model][0]))} float32, Adam, "
          f"one epoch of {samples} rows, thread(s) {threads[0]}; backends {', '.join(names)}; "
          f"peers {', '.join(peers) or 'none (--peers)'}", file=sys.stderr)
    with BenchProgress(len(batches) * repeats, args.quiet) as bar:
        rows = bench.run_train(model, names, peers, batches, samples, threads[0], repeats, bar)
    report(args, rows, bench.format_peer_ratios if peers else None, {"model": model, "training": "Adam float32"},
           title="training throughput, samples/s:")
    return 0
