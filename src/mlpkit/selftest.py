"""``mlpkit selftest --backend NAME``: check one backend against a float64 NumPy reference on
this machine, then time it beside the CPU backends. Meant for machines the test suite never
ran on - above all a GPU machine for the cupy backend."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .backends import ACTIVATIONS, available_backends, get_backend
from .mlp import MLP

TOLERANCE = {"float32": 2e-5, "float64": 1e-11}  # relative to 1 + |reference|, as the test suite


def _close(got, ref, dtype) -> float:
    """Largest error in units of the tolerance (<= 1 passes)."""
    return float(np.max(np.abs(np.asarray(got, np.float64) - ref) / (TOLERANCE[dtype] * (1 + np.abs(ref)))))


def checks(backend: str, mnist_dir: str | None = None) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) for every check."""
    get_backend(backend)  # raises BackendUnavailable with the reason
    rng = np.random.default_rng(0)
    out = []
    for dtype in ("float32", "float64"):
        worst, worst_single = 0.0, 0.0
        for act in ACTIVATIONS:
            if act == "step":
                continue  # discontinuous at 0: a last-bit difference may flip it
            ref = MLP([33, 17, 9, 5], act, seed=1, backend="numpy", dtype="float64")
            model = ref.to_backend(backend).astype(dtype)
            x = rng.normal(size=(300, 33))
            expect = ref.astype(dtype).astype("float64").predict(x.astype(dtype).astype(np.float64))
            worst = max(worst, _close(model.predict(x), expect, dtype))
            single = np.stack([model.predict(row) for row in x[:20]])
            worst_single = max(worst_single, _close(single, expect[:20], dtype))
        out.append((f"every activation vs float64 reference, {dtype}", worst <= 1, f"max error {worst:.2f} x tolerance"))
        out.append((f"single-sample path vs reference, {dtype}", worst_single <= 1, f"max error {worst_single:.2f} x tolerance"))
    x, t = rng.random((64, 20)), rng.integers(0, 4, 64)
    ref_loss = MLP([20, 16, 4], "sigmoid", seed=3, backend="numpy", dtype="float64").fit(x, t, epochs=2, batch_size=8, seed=1, verbose=False).batch_loss
    got_loss = MLP([20, 16, 4], "sigmoid", seed=3, backend=backend, dtype="float64").fit(x, t, epochs=2, batch_size=8, seed=1, verbose=False).batch_loss
    err = float(np.max(np.abs(np.subtract(got_loss, ref_loss)) / np.abs(ref_loss)))
    out.append(("training trajectory vs numpy, float64, 16 steps", err < 1e-9, f"max relative difference {err:.1e}"))
    try:
        from .datasets import load_mnist_split

        xt, tt = load_mnist_split("test", mnist_dir, download=False)
    except OSError as exc:
        out.append(("built-in model on MNIST", True, f"skipped: {str(exc).splitlines()[0]}"))
    else:
        from .pretrained import load_pretrained

        accs = {b: float(np.mean(load_pretrained(backend=b).predict_classes(xt) == tt)) for b in ("numpy", backend)}
        out.append(("built-in mnist-m1 accuracy equals numpy's", accs[backend] == accs["numpy"], f"{accs[backend]:.4f} (numpy {accs['numpy']:.4f})"))
    return out


#: Thresholds a backend may have, each set from a measurement or a prediction (see the backend),
#: and what turning it off means: 0 sends every call down the other path.
THRESHOLDS = {
    "fused_max_rows": "batches of up to N rows run the fused whole-network kernel",
    "pinned_max_bytes": "copies of up to N bytes go through pinned staging buffers",
}


def threshold_timings(backend: str, batches=(1, 4, 16, 64, 256, 1024), repeats: int = 7, target_s: float = 0.02) -> list[str]:
    """Time M1 float32 ``predict`` with each of the backend's :data:`THRESHOLDS` forced on (no
    limit) and off (0), interleaved, per batch size (1: the single-sample path); one line per
    batch: both medians, their ratio and which path the current setting takes."""
    from . import bench

    ops = get_backend(backend)
    model = bench.build("M1", backend, "float32")
    n_in = model.layer_sizes[0]
    rng = np.random.default_rng(0)
    lines = []
    for knob, meaning in THRESHOLDS.items():
        if not hasattr(ops, knob):
            continue
        current, own = getattr(ops, knob), knob in vars(ops)
        lines.append(f"{knob} = {current}: {meaning}")
        try:
            for n in batches:
                x = rng.random(n_in if n == 1 else (n, n_in)).astype(np.float32)
                size = n if knob == "fused_max_rows" else x.nbytes
                times: dict[str, list[float]] = {"on": [], "off": []}
                for _ in range(repeats):
                    for setting, value in (("on", 1 << 62), ("off", 0)):
                        setattr(ops, knob, value)
                        model.predict(x)
                        calls = max(1, int(target_s / max(bench.seconds_per_call(lambda: model.predict(x), 2), 1e-9)))
                        times[setting].append(bench.seconds_per_call(lambda: model.predict(x), calls))
                on, off = (float(np.median(times[k])) * 1e6 for k in ("on", "off"))
                uses = "on" if size <= current else "off"
                lines.append(f"  batch {n:>5}: on {on:9.1f} us, off {off:9.1f} us, off/on {off / on:5.2f}x; the current setting uses {uses}")
        finally:
            if own:
                setattr(ops, knob, current)
            else:
                delattr(ops, knob)  # back to the class's value
    return lines


def run(backend: str, mnist_dir: str | None, quick: bool, echo: Callable[[str], None] = print) -> int:
    """Print the checks and a benchmark beside the CPU backends; 1 if any check failed."""
    from . import bench

    failed = 0
    for name, ok, detail in checks(backend, mnist_dir):
        failed += not ok
        echo(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    cpu = [b for b in ("numpy", "numba") if available_backends()[b] is None and b != backend]
    rows = bench.run("M1", "float32", [backend, *cpu], (), (1,), (256, 4096) if not quick else (256,),
                     3 if quick else 7, 0.01 if quick else 0.05)
    echo(bench.format_table(rows))
    for line in threshold_timings(backend, (1, 16, 256) if quick else (1, 4, 16, 64, 256, 1024), 3 if quick else 7):
        echo(line)
    echo(f"{failed} check(s) failed" if failed else "all checks passed")
    return 1 if failed else 0
