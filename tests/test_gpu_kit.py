"""The GPU validation kit (tools/gpu-check) in its no-GPU modes: the one-line refusal where CuPy
cannot run, the whole pipeline on a CPU backend, a step that runs out of its time, the parsers."""

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mlpkit
from conftest import backend_or_skip

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "tools" / "gpu-check"


def _kit_module():
    loader = importlib.machinery.SourceFileLoader("gpu_check", str(KIT))
    spec = importlib.util.spec_from_loader("gpu_check", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_without_a_usable_gpu_it_says_why_in_one_line_and_exits_non_zero(tmp_path):
    reason = mlpkit.available_backends()["cupy"]
    if reason is None:
        pytest.skip("a usable CUDA device is here: the kit runs for real (tools/gpu-check)")
    done = subprocess.run([sys.executable, str(KIT), str(tmp_path / "report")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu-check: no usable cupy backend here: ") and reason in lines[0]


def test_the_whole_kit_runs_on_a_cpu_backend_and_writes_its_report(tmp_path):
    backend_or_skip("numba")
    report = tmp_path / "report"
    done = subprocess.run([sys.executable, str(KIT), str(report), "--backend", "numba", "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((report / "report.json").read_text())
    assert [s["name"] for s in data["steps"]] == ["probe", "pytest", "selftest", "bench"]
    assert all(s["status"] == "pass" for s in data["steps"]) and data["verdict"] == "all steps passed"
    assert "passed" in data["steps"][1]["summary"] and data["steps"][2]["summary"].endswith("checks passed")
    summary = (report / "summary.md").read_text()
    assert summary.startswith("# GPU check: all steps passed") and "| selftest | pass |" in summary
    assert "off/on" in summary and "implementation" in summary  # thresholds and the timing table
    assert done.stdout.strip().splitlines()[-1].startswith("| bench | pass |")  # the table comes last
    assert len(list(report.iterdir())) <= 8  # what the device tool can bring back


def test_a_step_that_outlasts_its_limit_is_reported_and_fails_the_run(tmp_path):
    kit = _kit_module().Kit(tmp_path, budget=60, env=None, echo=lambda msg: None)
    step = kit.run("sleeper", [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"], 5.5,
                   lambda out: {"summary": out.strip()})
    assert step["status"] == "timeout" and step["seconds"] < 20 and "started" in (tmp_path / "1-sleeper.log").read_text()
    assert kit.run("late", [sys.executable, "-c", "pass"], 0.5, lambda out: {})["status"] == "skipped"


def test_parsers_read_failures():
    kit = _kit_module()
    out = "....F\nFAILED tests/test_ops.py::test_affine[cupy-float32] - AssertionError: x\n=== 1 failed, 4 passed in 2.0s ===\n"
    parsed = kit.parse_pytest(out)
    assert parsed["summary"] == "1 failed, 4 passed in 2.0s"
    assert parsed["failed_tests"] == ["tests/test_ops.py::test_affine[cupy-float32] - AssertionError: x"]
    checks = kit.parse_selftest("PASS  a: ok\nFAIL  b: max error 3.00 x tolerance\n1 check(s) failed\n")
    assert checks["summary"] == "1/2 checks passed; FAIL  b: max error 3.00 x tolerance"
