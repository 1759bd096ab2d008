"""Command line: ``mlpkit bench`` and ``mlpkit info`` (also ``python -m mlpkit ...``)."""

from __future__ import annotations

import argparse
import json
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
    values = [int(part) for part in text.split(",") if part.strip()]
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers; received {text!r}")
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
    repeats, target = (3, 0.01) if args.quick else (args.repeats, 0.05)
    print(f"mlpkit {__version__} bench: model {args.model} {bench.MODELS[args.model][0]}, {args.dtype}, "
          f"backends {', '.join(names)}, {repeats} interleaved repeats (median)", file=sys.stderr)
    results = bench.run(names, args.model, args.dtype, args.batches, repeats, target, bench.stderr_progress)
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
    print(bench.format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mlpkit": __version__, "python": platform.python_version(), "results": bench.to_json(results)}, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import numpy

    print(f"mlpkit {__version__}, Python {platform.python_version()}, NumPy {numpy.__version__}, {platform.machine()}")
    for name, reason in available_backends().items():
        print(f"  {name:6} {'available' if reason is None else 'unavailable: ' + reason}")
    if available_backends()["numba"] is None:
        import numba

        print(f"  numba {numba.__version__}, threading layer config {numba.config.THREADING_LAYER!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlpkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlpkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("bench", help="time single-sample latency and batch throughput per backend")
    p.add_argument("--backends", type=_backend_list, help="comma-separated (default: every available one)")
    p.add_argument("--model", choices=sorted(bench.MODELS), default="M1", help="M1 = 784-50-100-10 sigmoid (default), M2 = 784-512-512-10 relu")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--batches", type=_int_list, default=[32, 256, 4096], help="comma-separated batch sizes")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats; the median is reported")
    p.add_argument("--quick", action="store_true", help="a few seconds: 3 short repeats (numbers are rough)")
    p.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
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
