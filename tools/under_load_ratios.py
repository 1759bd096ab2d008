"""Default threads against 1 thread for each call of the asv suite's under-load benchmark
(benchmarks/benchmarks/under_load.py: another process keeps one core busy), interleaved in one
process, so the ratio the issue targets (default >= 0.9x the 1-thread rate) comes from one run.

Run as ``python tools/under_load_ratios.py [--repeats 7] [--backend numpy|numba]``; prints
medians (samples/s) and the ratio per call, with the CPU.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "benchmarks"))

from under_load import UnderLoad  # noqa: E402

from mlpkit.cli.cmd_info import cpu_description  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backend", choices=UnderLoad.params[0])
    args = parser.parse_args()
    print(f"one core busy with another process; default vs 1 thread, {args.repeats} interleaved repeats; "
          f"CPU: {cpu_description()}")
    for backend in [args.backend] if args.backend else UnderLoad.params[0]:
        for task in UnderLoad.params[1]:
            bench = UnderLoad()
            try:
                bench.setup(backend, task, "default")
            except NotImplementedError as exc:
                print(f"{backend} {task}: skipped ({exc})")
                continue
            rates: dict[str, list[float]] = {"default": [], "1": []}
            try:
                for _ in range(args.repeats):
                    for threads in rates:
                        bench.one_thread = threads == "1"
                        rates[threads].append(bench.track_samples_per_second_one_core_busy(backend, task, threads))
            finally:
                bench.teardown(backend, task, "default")
            default, one = statistics.median(rates["default"]), statistics.median(rates["1"])
            print(f"{backend:6s} {task:13s} default {default:10,.0f}/s  1 thread {one:10,.0f}/s  "
                  f"default / 1 thread {default / one:.2f}x", flush=True)


if __name__ == "__main__":
    main()
