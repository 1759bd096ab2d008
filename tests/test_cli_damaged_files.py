"""Damaged model files through the CLI: one line on stderr, exit status 2, never a traceback."""

import numpy as np
import pytest

import mlpkit
from mlpkit import cli


def _variants(blob, rng, n):
    for _ in range(n):
        data = bytearray(blob)
        if rng.random() < 0.5:
            for i in rng.integers(0, len(data), int(rng.integers(1, 30))):
                data[i] ^= int(rng.integers(1, 256))
            yield bytes(data)
        else:
            yield bytes(data[: int(rng.integers(0, len(data)))])


@pytest.mark.parametrize("suffix", [".npz", ".onnx"])
def test_damaged_model_files_fail_in_one_line(tmp_path, capsys, suffix):
    model = mlpkit.MLP([6, 5, 3], seed=0, backend="numpy")
    good = tmp_path / f"good{suffix}"
    if suffix == ".onnx":
        pytest.importorskip("onnx", reason="needs onnx")
        from mlpkit import onnx as mlpkit_onnx

        mlpkit_onnx.export(model, good)
    else:
        mlpkit.save(model, good)
    rng = np.random.default_rng(7)
    failures = 0
    for k, blob in enumerate(_variants(good.read_bytes(), rng, 60)):
        path = tmp_path / f"bad{k}{suffix}"
        path.write_bytes(blob)
        code = cli.main(["info", str(path)])
        captured = capsys.readouterr()
        if code != 0:
            failures += 1
            lines = captured.err.strip().splitlines()
            assert code == 2 and len(lines) == 1 and lines[0].startswith("mlpkit: "), captured.err
            assert "Traceback" not in captured.err
    assert failures >= 30
