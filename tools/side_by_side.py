"""The Numba backend and ONNX Runtime on the same batch, interleaved in one process: the ratio
that a bench run's separate timings blur on a noisy machine (see benchmarks/NOTES.md).

Run as ``python tools/side_by_side.py [--model M1|M2] [--threads N] [--repeats 21] [--settle S]
[--warmup S]``; needs numba and onnxruntime (``pip install '.[bench]'``). Each repeat times two
calls of each implementation after ``--settle`` seconds of sleep and ``--warmup`` seconds of
untimed calls (at least one); ``mlpkit bench`` does the same with more than one thread, with
``--settle 0.15 --warmup 0.05``. Medians are printed with the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import mlpkit
from mlpkit import bench, peers
from mlpkit.cli.cmd_info import cpu_description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["M1", "M2"], default="M1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--settle", type=float, default=0.0)
    parser.add_argument("--warmup", type=float, default=0.0)
    args = parser.parse_args()
    if args.model == "M1":
        model = mlpkit.load_pretrained("mnist-m1", backend="numba")
    else:
        model = mlpkit.MLP([784, 512, 512, 10], activation="relu", seed=0, backend="numba", dtype="float32")
    x = np.random.default_rng(0).random((args.rows, 784), dtype=np.float32)
    with mlpkit.num_threads(args.threads):
        ort = peers.onnx_runtime(model, args.threads)
        calls = {"numba": lambda: model.predict(x), "onnxruntime": lambda: ort(x)}
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, call in calls.items():
                time.sleep(args.settle)
                bench.keep_calling(call, max(args.warmup, 1e-9))  # one untimed call at least
                start = time.perf_counter()
                call()
                call()
                times[name].append((time.perf_counter() - start) / 2)
    median = {name: statistics.median(t) for name, t in times.items()}
    rate = {name: args.rows / t for name, t in median.items()}
    print(f"{args.model} float32, batch {args.rows}, {args.threads} thread(s), {args.repeats} interleaved repeats; "
          f"CPU: {cpu_description()}")
    print(f"numba {rate['numba']:,.0f} samples/s, onnxruntime {rate['onnxruntime']:,.0f} samples/s: "
          f"numba / onnxruntime {median['onnxruntime'] / median['numba']:.2f}x")


if __name__ == "__main__":
    main()
