"""CUDA-event timings on the current device, for the GPU kit (tools/gpu-check): kernel-launch
latency and host<->device copy latency and bandwidth, pageable and pinned. Prints one JSON object.

Run as ``python tools/gpu_latency.py``; needs CuPy and a CUDA device. Every timing is the median
of several CUDA-event measurements on one non-default stream (device time), beside the host's
wall-clock time per call (what a Python caller waits, launch overhead included).
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

REPEATS = 7
SIZES = (4 << 10, 1 << 20, 64 << 20)  # bytes: one sample's output, a batch, a large batch


def _timed(cp, stream, fn, calls: int) -> tuple[float, float]:
    """(device ms per call from CUDA events, host wall ms per call), medians over REPEATS."""
    device, wall = [], []
    fn()
    stream.synchronize()
    for _ in range(REPEATS):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        t0 = time.perf_counter()
        start.record(stream)
        for _ in range(calls):
            fn()
        end.record(stream)
        end.synchronize()
        wall.append((time.perf_counter() - t0) * 1e3 / calls)
        device.append(cp.cuda.get_elapsed_time(start, end) / calls)
    return statistics.median(device), statistics.median(wall)


def measure() -> dict:
    import cupy as cp
    import cupyx

    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    out = {"device": props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"]),
           "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(), "cupy": cp.__version__}
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        empty = cp.RawKernel(r'extern "C" __global__ void mlpkit_empty() {}', "mlpkit_empty")
        d, w = _timed(cp, stream, lambda: empty((1,), (1,), ()), 1000)
        out["empty_kernel_launch_us"] = {"device": d * 1e3, "host_wall": w * 1e3}

        def round_trip():  # launch and wait: what a synchronous single-sample call pays at least
            empty((1,), (1,), ())
            stream.synchronize()

        t0 = time.perf_counter()
        for _ in range(1000):
            round_trip()
        out["launch_and_sync_us"] = (time.perf_counter() - t0) * 1e3
        copies = []
        for size in SIZES:
            n = size // 4
            host = np.ones(n, np.float32)
            pinned = cupyx.empty_pinned((n,), np.float32)
            pinned[...] = 1
            dev_arr = cp.empty(n, np.float32)
            calls = 50 if size < (1 << 20) else (10 if size < (16 << 20) else 3)
            for kind, fn in [
                ("h2d pageable", lambda: dev_arr.set(host, stream=stream)),
                ("h2d pinned", lambda: dev_arr.set(pinned, stream=stream)),
                ("d2h pageable", lambda: dev_arr.get(stream=stream, out=host)),
                ("d2h pinned", lambda: dev_arr.get(stream=stream, out=pinned)),
            ]:
                d, w = _timed(cp, stream, fn, calls)
                copies.append({"copy": kind, "bytes": size, "device_us": d * 1e3, "host_wall_us": w * 1e3,
                               "gb_per_s": size / (d * 1e-3) / 1e9 if d > 0 else None})
        out["copies"] = copies
    return out


if __name__ == "__main__":
    print(json.dumps(measure()))
