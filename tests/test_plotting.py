"""Plots are PNG files drawn without pyplot: the caller's matplotlib backend and figures stay."""

import subprocess
import sys

import pytest

SCRIPT = r"""
import sys
import matplotlib
matplotlib.use("svg")  # a caller's own choice (any non-Agg backend importable without a display)
import matplotlib.pyplot as plt
mine = plt.figure()
import mlpkit
from mlpkit.mlp.plotting import plot_history
history = mlpkit.MLP([4, 3, 2], backend="numpy", seed=0).fit(
    [[0.1, 0.2, 0.3, 0.4]] * 8, [0, 1] * 4, epochs=2, batch_size=4, verbose=False)
plot_history(history, sys.argv[1])
print(matplotlib.get_backend(), plt.get_fignums())
"""


def test_plot_history_keeps_the_callers_backend_and_figures(tmp_path):
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib (pip install 'mlpkit[peers]')")
    png = tmp_path / "h.png"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(png)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0].lower() == "svg" and done.stdout.strip().endswith("[1]")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
