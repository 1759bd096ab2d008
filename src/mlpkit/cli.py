"""Command line: ``mlpkit bench`` and ``mlpkit info`` (also ``python -m mlpkit ...``)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Sequence

from . import __version__, bench
from .backends import available_backends
from .backends.registry import BACKENDS, normalize


def _backend_list(text: str) -> list[str]:
    names = [normalize(part) for part in text.split(",") if part.strip()]
    if "auto" in names:
        raise argparse.ArgumentTypeError("name backends explicitly (numpy, numba, cupy)")
    return names


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers; received {text!r}")
    return values


def cmd_bench(args: argparse.Namespace) -> int:
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
    repeats, target = (3, 0.005) if args.quick else (args.repeats, 0.1)
    peers = list(bench.PEERS) if args.peers else []
    sizes = bench.MODELS[args.model][0]
    print(f"mlpkit {__version__} bench: {args.model} {'-'.join(map(str, sizes))} {args.dtype}; "
          f"backends {', '.join(names)}; peers {', '.join(peers) or 'none (--peers)'}; threads {threads}; "
          f"{repeats} interleaved repeats, median", file=sys.stderr)
    rows = bench.run(args.model, args.dtype, names, peers, threads, args.batches, repeats, target, _progress)
    _progress("")
    print(bench.format_table(rows))
    if peers:
        print()
        print(bench.format_ratios(rows))
    if args.json:
        with open(args.json, "w") as f:
            meta = {"mlpkit": __version__, "python": platform.python_version(), "model": args.model, "dtype": args.dtype}
            json.dump({**meta, "rows": bench.to_json(rows)}, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        bench.plot(rows, args.plot, f"mlpkit {__version__}: {args.model} {args.dtype}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _progress(message: str) -> None:
    """One updating line on a terminal; plain lines for a log (only the messages that matter)."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[K{message}")
        sys.stderr.flush()
    elif message and ("repeat 1/" in message or "skipped" in message or "ceiling" in message):
        print(message, file=sys.stderr)


_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile", "asimd", "sve")


def _cpu_description() -> str:
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


def cmd_info(args: argparse.Namespace) -> int:
    import numpy

    reasons = available_backends()
    print(f"mlpkit {__version__}, Python {platform.python_version()}, NumPy {numpy.__version__}")
    print(f"CPU: {_cpu_description()}, {os.cpu_count()} logical cores")
    print("backends:")
    for name, reason in reasons.items():
        print(f"  {name:6} {'available' if reason is None else 'unavailable: ' + reason}")
    if reasons["numba"] is None:
        import llvmlite.binding as llvm
        import numba

        print(f"numba {numba.__version__}, LLVM target CPU {llvm.get_host_cpu_name()}, "
              f"threading layer config {numba.config.THREADING_LAYER!r} (mlpkit kernels are serial and nogil)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlpkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlpkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("bench", help="time single-sample latency and batch throughput per backend")
    p.add_argument("--backends", type=_backend_list, help="comma-separated (default: every available one)")
    p.add_argument("--model", choices=sorted(bench.MODELS), default="M1", help="M1 = 784-50-100-10 sigmoid (default), M2 = 784-512-512-10 relu")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--batches", type=_int_list, default=[32, 256, 4096], help="comma-separated batch sizes (default 32,256,4096)")
    p.add_argument("--threads", type=_int_list, help="comma-separated thread counts (default: 1 and all cores)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats; the median is reported")
    p.add_argument("--peers", action="store_true", help="also time from-scratch NumPy, ONNX Runtime and PyTorch if installed")
    p.add_argument("--quick", action="store_true", help="a few seconds: 3 short repeats (numbers are rough)")
    p.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="also draw bar charts (needs matplotlib)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("info", help="versions and which backends can be used here")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"mlpkit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
