"""Fuzzing the contents of model files, re-zipped with valid CRCs (raw byte flips mostly trip the
zip CRC and test little): header JSON edits, array contents, shapes and dtypes, extra and
missing members, and size bombs under a real memory limit. Every case gives ModelFormatError or
a model that predicts finite values."""

import io
import os
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import fuzzing
import mlpkit

# MLPKIT_FUZZ_CASES=N runs a larger seeded campaign (README, "Guarantees")
CASES = int(os.environ.get("MLPKIT_FUZZ_CASES") or 250)


def _members(model):
    out = {f"{k}.npy": v for k, v in model.params.items()}
    return out


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data if isinstance(data, bytes) else _npy(data))
    return buf.getvalue()


def _header(model) -> dict:
    return {"format": "mlpkit-mlp", "version": 1, "layer_sizes": list(model.layer_sizes),
            "activations": list(model.activations), "dtype": model.dtype, "mlpkit_version": "0", "metadata": {}}


JSON_VALUES = [None, True, -1, 0, 2**70, 1e308, "x", "float16", [], [3], [6, 5, 3], {}, {"a": [1]}, "relu", ["relu"] * 3]


def _case(rng, model):
    header, arrays = _header(model), {k: np.array(v) for k, v in _members(model).items()}
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(8))
        numeric = [k for k, v in arrays.items() if isinstance(v, np.ndarray)]
        if kind in (2, 3, 4, 5, 7) and not numeric:
            continue
        if kind == 0:  # a header field gets another JSON value
            header[str(rng.choice(list(header)))] = JSON_VALUES[int(rng.integers(len(JSON_VALUES)))]
        elif kind == 1:  # a header field is removed, or an unknown one added
            header.pop(str(rng.choice(list(header))), None) if rng.random() < 0.5 else header.update(extra=[1, 2])
        elif kind == 2:  # array contents: NaN, Inf, huge values
            key = str(rng.choice(numeric))
            flat = arrays[key].reshape(-1)
            flat[int(rng.integers(flat.size))] = rng.choice([np.nan, np.inf, -np.inf, 3e38, 0.0])
        elif kind == 3:  # shape
            key = str(rng.choice(numeric))
            arrays[key] = arrays[key].reshape(-1) if arrays[key].ndim == 2 else arrays[key][None, :]
        elif kind == 4:  # dtype
            key = str(rng.choice(numeric))
            arrays[key] = arrays[key].astype(rng.choice(["float64", "float16", "int32", "complex64", "bool"]))
        elif kind == 5:  # a member removed
            arrays.pop(str(rng.choice(list(arrays))))
        elif kind == 6:  # an extra member
            arrays[str(rng.choice(["W9.npy", "x.npy", "header2.npy", "../evil.npy"]))] = np.zeros(3, np.float32)
        else:  # a member's bytes are not .npy
            arrays[str(rng.choice(numeric))] = bytes(rng.integers(0, 256, 40, dtype=np.uint8))
    members = {"header.npy": np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays}
    return _zip(members)


def test_fuzzed_member_contents(tmp_path):
    model = mlpkit.MLP([6, 5, 3], seed=0, backend="numpy", dtype="float32")
    rng = np.random.default_rng(20261201)
    blobs = [_case(rng, model) for _ in range(CASES)]
    outcomes = fuzzing.outcomes(tmp_path, blobs, ".npz", lambda p: mlpkit.load(p, backend="numpy"), mlpkit.ModelFormatError, np.ones(6))
    assert sum(outcomes.values()) == CASES and outcomes["rejected"] >= 0.8 * CASES, outcomes


BOMB = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
import mlpkit
try:
    mlpkit.load(sys.argv[1])
except mlpkit.ModelFormatError as exc:
    print("ModelFormatError", str(exc)[-80:])
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced this way on Linux")
def test_size_bombs_under_a_memory_limit(tmp_path):
    """Members that declare gigabytes, in a process that may not allocate them: refused, not MemoryError."""
    model = mlpkit.MLP([6, 5, 3], seed=0, backend="numpy", dtype="float32")
    header = np.frombuffer(json.dumps(_header(model)).encode(), np.uint8)
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(huge, {"descr": "<f4", "fortran_order": False, "shape": (6, 600_000_000)})
    bombs = {
        "extra": {**_members(model), "header.npy": header, "x.npy": huge.getvalue() + bytes(1 << 20)},
        "expected": {**_members(model), "header.npy": header, "W1.npy": huge.getvalue() + bytes(1 << 20)},
    }
    limit = str(1 << 30)  # 1 GiB of address space: far below the 14 GB declared
    for name, members in bombs.items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(_zip(members))
        out = subprocess.run([sys.executable, "-c", BOMB, str(path), limit], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.startswith("ModelFormatError"), out.stdout + out.stderr
