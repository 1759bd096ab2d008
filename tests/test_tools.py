"""The measuring scripts in tools/ run and print what the notes quote (smoke tests, not timings)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

import mlpkit
from test_selection import PACKAGE_PARENT

TOOLS = pathlib.Path(__file__).resolve().parent.parent / "tools"
ENV = dict(os.environ, PYTHONPATH=str(PACKAGE_PARENT))


def run_tool(name, *args):
    out = subprocess.run([sys.executable, str(TOOLS / name), *args], env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_side_by_side_prints_both_rates_and_their_ratio():
    reason = mlpkit.available_backends()["numba"]
    if reason is not None:
        pytest.skip(reason)
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("needs onnxruntime (pip install '.[bench]')")
    out = run_tool("side_by_side.py", "--repeats", "1", "--rows", "64")
    assert "M1 float32, batch 64, 1 thread(s)" in out and "CPU: " in out
    assert "numba / onnxruntime" in out


def test_under_load_ratios_prints_a_ratio_per_call():
    out = run_tool("under_load_ratios.py", "--repeats", "1", "--backend", "numpy")
    assert "one core busy" in out
    assert "numpy  predict 4096" in out and "numpy  fit batch 32" in out
    assert out.count("default / 1 thread") == 2
