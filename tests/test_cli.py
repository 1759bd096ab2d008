"""The command line and the asv suite run (smoke level: numbers are not checked here)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlpkit
from mlpkit import cli

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "--quick", "--backends", "numpy", "--batches", "4,64", "--threads", "1,2", "--json", str(out)]
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "single us/call" in table and "batch 64/s" in table and "sgemm ceiling" in table
    rows = json.loads(out.read_text())["rows"]
    assert [(r["name"], r["threads"]) for r in rows] == [("numpy", 1), ("sgemm ceiling", 1), ("numpy", 2), ("sgemm ceiling", 2)]
    assert rows[0]["single_us"] > 0 and set(rows[0]["batch_samples_per_s"]) == {"4", "64"}


def test_bench_prints_each_rows_share_of_the_measured_peak(tmp_path, capsys):
    import re

    from mlpkit import bench

    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--backends", "numpy", "--batches", "64", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    peak = float(re.search(r"measured peak: (\d+) GFLOP/s per thread \((.+)\)", text).group(1))
    assert peak > 0 and json.loads(out.read_text())["peak_gflops_per_thread"] > 0
    rows = json.loads(out.read_text())["rows"]
    numpy_rate = rows[0]["batch_samples_per_s"]["64"]
    share = re.search(r"numpy at 1 thread\(s\), batch 64: (\d+) GFLOP/s = (\d+)% of 1 x peak", text)
    assert share, text
    assert abs(float(share.group(1)) - numpy_rate * bench.flops_per_row("M1") / 1e9) <= 1  # the row's own rate


def test_keep_calling_runs_for_the_time_given():
    import time

    from mlpkit import bench

    calls = []
    start = time.perf_counter()
    made = bench.keep_calling(lambda: calls.append(1), 0.02)
    assert time.perf_counter() - start >= 0.02 and made == len(calls) >= 1
    assert bench.keep_calling(lambda: calls.append(1), 0.0) == 0
    assert bench.keep_calling(lambda: calls.append(1), 1e-12) == 1  # any time at all: one call


def test_multithreaded_timings_start_after_a_settle_and_a_warm_up(monkeypatch):
    """Every multi-threaded timing (each implementation, size and repeat) is preceded by untimed
    calls of that implementation on the timed input; single-threaded ones are not."""
    import warnings

    from mlpkit import bench

    state = {"warming": False, "threads": None}
    warm_inputs: list[tuple] = []  # (threads, rows) of each call made while warming up
    warm_ups: list = []

    class Recorded:
        def __init__(self, model):
            self.model = model

        def __getattr__(self, name):  # params, activations: the model's
            return getattr(self.model, name)

        def predict(self, x):
            if state["warming"]:
                warm_inputs.append((state["threads"], len(x) if np.ndim(x) == 2 else 1))
            return self.model.predict(x)

    real_build, real_keep_calling, real_num_threads = bench.build, bench.keep_calling, bench.num_threads

    def keep_calling(fn, seconds):
        assert seconds == 0.001
        state["warming"], before = True, len(warm_inputs)
        made = real_keep_calling(fn, seconds)
        state["warming"] = False
        assert made >= 1 and len(warm_inputs) - before == made and len(set(warm_inputs[before:])) == 1
        warm_ups.append(warm_inputs[-1])
        return made

    def num_threads(n):
        state["threads"] = n
        return real_num_threads(n)

    monkeypatch.setattr(bench, "build", lambda *a: Recorded(real_build(*a)))
    monkeypatch.setattr(bench, "keep_calling", keep_calling)
    monkeypatch.setattr(bench, "num_threads", num_threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 2 threads on a 1-CPU machine: capped, timed alike
        bench.run("T1", backends=["numpy"], thread_counts=(1, 2), batches=(3, 5), repeats=2, target_s=0.001,
                  settle_s=0.0, warmup_s=0.001)
    assert sorted(warm_ups) == sorted((2, n) for n in (1, 3, 5) for _ in range(2))


def test_measured_peak_is_the_faster_of_blas_and_the_cached_micro_kernel():
    from mlpkit import bench

    peak = bench.measure_peak("float32", repeats=1, n=256)
    assert peak.gflops > 0
    assert "BLAS" in peak.source or "micro-kernel" in peak.source


def test_peak_shares_say_when_a_row_beat_the_measured_peak():
    """A share above 100% can only mean the peak was measured in a slower minute: it says so."""
    from mlpkit import bench

    flops = bench.flops_per_row("M1")
    row = bench.Row("numba", "backend", 1)
    row.batch_samples_per_s[4096] = 50e9 / flops  # 50 GFLOP/s
    fits = bench.format_peak_shares([row], bench.Peak(100.0, "test"), flops)
    assert "50 GFLOP/s = 50% of 1 x peak" in fits and "above 100%" not in fits
    beats = bench.format_peak_shares([row], bench.Peak(40.0, "test"), flops)
    assert "125% of 1 x peak" in beats and "a share above 100% means the machine ran slower" in beats


def test_bench_peers_ratios_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (pip install 'mlpkit[peers]')")
    png = tmp_path / "bench.png"
    argv = ["bench", "--quick", "--peers", "--backends", "numpy", "--batches", "16", "--threads", "1", "--plot", str(png)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "from-scratch numpy" in out  # always available: it needs NumPy only
    assert "x from-scratch numpy" in out or "x onnxruntime" in out or "x pytorch" in out  # a ratio line
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_refuses_an_unavailable_backend(capsys):
    import mlpkit

    reason = mlpkit.available_backends()["cupy"]
    if reason is None:
        pytest.skip("cupy is usable here")
    assert cli.main(["bench", "--quick", "--backends", "cupy"]) == 2
    assert "cupy" in capsys.readouterr().err


def test_bad_backend_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--backends", "tensorflow"])
    assert exc.value.code == 2


def test_module_entry_point_info():
    done = subprocess.run([sys.executable, "-m", "mlpkit", "info"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "numpy  available" in done.stdout


@pytest.mark.skipif(shutil.which("asv") is None and not (Path(sys.executable).parent / "asv").exists(),
                    reason="asv is not installed (pip install 'mlpkit[bench]')")
def test_asv_suite_runs_in_quick_mode(tmp_path):
    asv = shutil.which("asv") or str(Path(sys.executable).parent / "asv")
    env = dict(os.environ, MLPKIT_BACKEND="", HOME=str(tmp_path))  # asv keeps its machine file in HOME
    if mlpkit.available_backends()["numba"] is None:  # keep using this user's compiled kernels
        from mlpkit.kernels.numba_jit import cache_dir

        env["NUMBA_CACHE_DIR"] = str(cache_dir())
    subprocess.run([asv, "machine", "--yes", "--machine", "ci"], cwd=ROOT / "benchmarks", env=env,
                   capture_output=True, timeout=120, check=True)
    done = subprocess.run(
        [asv, "run", "--python=same", "--quick", "--dry-run", "--show-stderr", "--bench", "SingleSample|PeakMemory|timeraw|TrainEpoch|UnderLoad"],
        cwd=ROOT / "benchmarks", capture_output=True, text=True, timeout=600, env=env,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "failed" not in output.lower(), output


def test_train_on_npz_saves_model_and_curves(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    import numpy as np

    import mlpkit

    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3, size=(3, 4))
    labels = rng.integers(0, 3, 200)
    np.savez(tmp_path / "d.npz", x=centers[labels] + rng.normal(size=(200, 4)), t=labels,
             x_val=centers[labels[:50]], t_val=labels[:50])
    out, png = tmp_path / "m.npz", tmp_path / "curves.png"
    argv = ["train", "--data", str(tmp_path / "d.npz"), "--arch", "4,8,3", "--activation", "tanh", "--epochs", "5",
            "--lr", "0.01", "--backend", "numpy", "--out", str(out), "--plot", str(png)]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("epoch ") == 5 and "val_accuracy" in err
    model = mlpkit.load(out)
    assert model.metadata["recipe"]["epochs"] == 5 and model.metadata["final"]["val_accuracy"] > 0.9
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_train_on_csv(tmp_path, capsys):
    import numpy as np

    rows = np.column_stack([np.arange(40) % 2, np.arange(40) % 2 + np.random.default_rng(0).normal(scale=0.1, size=40)])
    np.savetxt(tmp_path / "d.csv", rows, delimiter=",", header="label,x", comments="")
    argv = ["train", "--data", str(tmp_path / "d.csv"), "--skip-rows", "1", "--arch", "1,4,2", "--epochs", "2",
            "--backend", "numpy"]
    assert cli.main(argv) == 0


def test_train_errors_are_reported(tmp_path, capsys):
    assert cli.main(["train", "--data", str(tmp_path / "nope.txt")]) == 2
    assert "--data must be 'mnist', a .npz or a .csv" in capsys.readouterr().err


def test_selftest_passes_a_correct_backend_and_fails_a_broken_one(monkeypatch, capsys):
    from conftest import MNIST_DIR

    assert cli.main(["selftest", "--backend", "numpy", "--quick", "--mnist", str(MNIST_DIR)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "all checks passed" in out and "batch 256/s" in out

    from conftest import backend_or_skip
    from mlpkit.backends.numba_backend import NumbaOps

    backend_or_skip("numba")
    original = NumbaOps.forward_finite

    def biased(self, x, net):  # a plausible bias bug in the batch kernel
        y, finite = original(self, x, net)
        return y + 1e-3, finite

    monkeypatch.setattr(NumbaOps, "forward_finite", biased)
    assert cli.main(["selftest", "--backend", "numba", "--quick"]) == 1
    assert "FAIL  every activation vs float64 reference" in capsys.readouterr().out


def test_selftest_times_each_threshold_on_and_off_and_restores_it():
    from conftest import backend_or_skip
    from mlpkit import selftest

    ops = backend_or_skip("numba")
    lines = selftest.threshold_timings("numba", (1, 3), repeats=1, target_s=0.001)
    assert lines[0] == f"fused_max_rows = {type(ops).fused_max_rows}: {selftest.THRESHOLDS['fused_max_rows']}"
    assert len(lines) == 3 and "the current setting uses on" in lines[1] and "the current setting uses off" in lines[2]
    assert "fused_max_rows" not in vars(ops)  # the class's value again, not a copy on the instance
    ops.fused_max_rows = 3
    try:
        assert "uses on" in selftest.threshold_timings("numba", (3,), repeats=1, target_s=0.001)[1] and ops.fused_max_rows == 3
    finally:
        del ops.fused_max_rows


def test_selftest_unavailable_backend_reports_why(capsys):
    import mlpkit

    if mlpkit.available_backends()["cupy"] is None:
        pytest.skip("cupy is usable here")
    assert cli.main(["selftest", "--backend", "cupy"]) == 2
    assert "backend 'cupy' cannot be used" in capsys.readouterr().err


def test_bench_without_threadpoolctl_uses_default_threads(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "threadpoolctl" else real(name, *a))
    assert cli.main(["bench", "--quick", "--backends", "numpy", "--batches", "8"]) == 0
    captured = capsys.readouterr()
    assert "default thread counts only" in captured.err and "numpy" in captured.out


def test_an_explicit_batches_list_is_kept_with_train(monkeypatch):
    """Defaults are None until given: --batches 32,256,4096 --train is no longer replaced by 32,128."""
    from mlpkit import bench

    seen = {}

    def fake_run_train(model, names, peers, batches, *args, **kwargs):
        seen["batches"] = list(batches)
        return []

    monkeypatch.setattr(bench, "run_train", fake_run_train)
    from mlpkit.cli import cmd_bench

    monkeypatch.setattr(cmd_bench, "report", lambda *a, **k: None)
    assert cli.main(["bench", "--train", "--backends", "numpy", "--batches", "32,256,4096", "--threads", "1"]) == 0
    assert seen["batches"] == [32, 256, 4096]
    assert cli.main(["bench", "--train", "--backends", "numpy", "--threads", "1"]) == 0
    assert seen["batches"] == [32, 128]


def test_data_dir_is_the_one_name_for_the_mnist_folder():
    parser = cli.build_parser()
    for command in (["eval", "m.npz"], ["selftest", "--backend", "numpy"], ["train"], ["reproduce"]):
        assert parser.parse_args(command + ["--data-dir", "/x"]).data_dir == "/x"
    assert parser.parse_args(["eval", "m.npz", "--mnist", "/y"]).data_dir == "/y"  # the old name still works


def test_help_lists_every_command_with_its_summary_and_every_option_has_help(capsys):
    import argparse
    import importlib

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in cli.COMMANDS:
        module = importlib.import_module(f"mlpkit.cli.cmd_{name}")
        assert module.NAME == name and " ".join(module.SUMMARY.split()) in text
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [(name, action.dest) for name, parser in sub.choices.items() for action in parser._actions
               if not isinstance(action, argparse._HelpAction) and not action.help]
    assert missing == [], f"options without help text: {missing}"


def test_a_failed_predict_leaves_no_partial_output_and_keeps_an_old_one(tmp_path, capsys):
    model = mlpkit.MLP([3, 2], seed=0, backend="numpy")
    mlpkit.save(model, tmp_path / "m.npz")
    x = np.ones((20, 3))
    x[15, 1] = np.nan  # the second chunk fails
    np.save(tmp_path / "x.npy", x)
    for name in ("y.npy", "y.csv"):
        assert cli.main(["predict", str(tmp_path / "m.npz"), str(tmp_path / "x.npy"), "-o", str(tmp_path / name),
                         "--batch-size", "10"]) == 2
        assert "NaN or Inf" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "x.npy"], "no output, no temporary file"
    (tmp_path / "y.npy").write_bytes(b"old")
    assert cli.main(["predict", str(tmp_path / "m.npz"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")]) == 2
    assert (tmp_path / "y.npy").read_bytes() == b"old"
    np.save(tmp_path / "x.npy", np.ones((20, 3)))
    assert cli.main(["predict", str(tmp_path / "m.npz"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                     "--backend", "numpy"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), model.predict(np.ones((20, 3))))


def test_an_unknown_backend_lists_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--backends", "numbaa"])
    assert exit_info.value.code == 2
    assert "expected comma-separated backend names from ['numpy', 'numba', 'cupy']; received 'numbaa'" in capsys.readouterr().err


def test_data_command_verifies_the_files_and_refuses_a_typo(tmp_path, capsys):
    from conftest import MNIST_DIR

    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST files not found at {MNIST_DIR}")
    assert cli.main(["data", "--data-dir", str(MNIST_DIR), "--no-download"]) == 0
    out = capsys.readouterr().out
    assert f"MNIST folder: {MNIST_DIR} (named)" in out and out.count(" ok (sha256 ") == 4
    assert cli.main(["data", "--data-dir", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err
    assert "typo (path) is not a folder. To fix: put the four MNIST files" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "typo").exists()


def test_reproduce_exits_1_on_a_missed_target_and_0_for_a_quick_smoke_run(monkeypatch, capsys):
    import dataclasses

    from mlpkit import recipes

    argv = ["reproduce", "--recipes", "regression", "--backends", "numpy"]
    assert cli.main(argv) == 0
    assert "regression       numpy" in capsys.readouterr().out
    impossible = dataclasses.replace(recipes.RECIPES["regression"], target=0.0)  # loss < 0: never met
    monkeypatch.setitem(recipes.RECIPES, "regression", impossible)
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert "MISSED" in captured.out and "1 result(s) missed the target" in captured.err
    assert cli.main(argv + ["--quick"]) == 0
    captured = capsys.readouterr()
    assert "below target (expected with --quick)" in captured.out and "MISSED" not in captured.out


def test_every_option_shows_its_default_and_train_defaults_are_the_librarys(capsys):
    import argparse
    import inspect

    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert "default" in " ".join(parser._get_formatter()._get_help_string(action).split()), (name, action.dest)
        assert text
    args = cli.build_parser().parse_args(["train"])
    init = inspect.signature(mlpkit.MLP).parameters
    fit = inspect.signature(mlpkit.MLP.fit).parameters
    assert args.activation == init["activation"].default and args.output_activation == init["output"].default
    assert args.dtype == init["dtype"].default
    for key in ("epochs", "batch_size", "optimizer", "loss", "weight_decay"):
        assert getattr(args, key) == fit[key].default, key


def test_a_progress_bar_shown_in_a_log_ends_its_line(capsys):
    """Not a terminal: the last state of a bar that was shown stays, ending its line, so the
    output that follows (the bench's table, on stdout, merged into the same log) starts a line."""
    import time

    from mlpkit.cli.options import progress_bar

    bar = progress_bar(3, "repeat", "bench")
    bar.mininterval = bar.delay = 0.0  # a log's bar shows every 10 s; here at once
    for _ in range(3):
        time.sleep(0.01)
        bar.update(1)
    bar.close()
    err = capsys.readouterr().err
    assert "bench" in err and err.endswith("\n"), repr(err)
