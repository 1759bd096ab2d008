"""Fuzzing the model loader: every damaged file raises ModelFormatError; nothing crashes,
hangs or runs code. A seeded loop so CI sees the same few hundred cases every time."""

import io
import os
import json
import zipfile

import numpy as np
import pytest

import fuzzing
import mlpkit

# MLPKIT_FUZZ_CASES=N runs a larger seeded campaign (README, "Guarantees")
CASES = int(os.environ.get("MLPKIT_FUZZ_CASES") or 300)


def good_file(tmp_path):
    model = mlpkit.MLP([6, 5, 3], activation="tanh", seed=0, backend="numpy")
    path = tmp_path / "good.npz"
    mlpkit.save(model, path)
    return path.read_bytes()


def rewrite(blob: bytes, edit) -> bytes:
    """Apply ``edit(arrays, header)`` to the npz in ``blob`` and serialise it again."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    header = json.loads(arrays.pop("header").tobytes())
    edit(arrays, header)
    out = io.BytesIO()
    np.savez(out, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    return out.getvalue()


def structural_mutations(blob):
    yield rewrite(blob, lambda a, h: a.pop("b2"))
    yield rewrite(blob, lambda a, h: a.update(W2=np.ones((4, 3), np.float32)))
    yield rewrite(blob, lambda a, h: a.update(W1=np.full((6, 5), np.nan, np.float32)))
    yield rewrite(blob, lambda a, h: h.update(layer_sizes=[6, 5, 3, 2]))
    yield rewrite(blob, lambda a, h: h.update(layer_sizes=[6, 10**12, 3]))  # a huge declared shape
    yield rewrite(blob, lambda a, h: h.update(activations=["tanh", "__import__('os')"]))
    yield rewrite(blob, lambda a, h: h.update(dtype="object"))
    yield rewrite(blob, lambda a, h: h.update(version=None))
    yield rewrite(blob, lambda a, h: h.clear())
    obj = io.BytesIO()
    with zipfile.ZipFile(obj, "w") as z:
        buf = io.BytesIO()
        np.save(buf, np.array([print], dtype=object), allow_pickle=True)
        z.writestr("header.npy", buf.getvalue())
    yield obj.getvalue()


def random_mutations(blob, rng):
    for _ in range(CASES):
        kind = rng.integers(4)
        data = bytearray(blob)
        if kind == 0:  # truncate
            yield bytes(data[: rng.integers(0, len(data))])
        elif kind == 1:  # flip bytes
            for i in rng.integers(0, len(data), rng.integers(1, 20)):
                data[i] ^= int(rng.integers(1, 256))
            yield bytes(data)
        elif kind == 2:  # overwrite a run with noise
            i = int(rng.integers(0, len(data) - 64))
            data[i : i + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
            yield bytes(data)
        else:  # random bytes with a zip signature
            yield b"PK\x03\x04" + rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes()


def test_fuzzed_model_files(tmp_path):
    blob = good_file(tmp_path)
    rng = np.random.default_rng(20261123)
    cases = list(structural_mutations(blob)) + list(random_mutations(blob, rng))
    outcomes = fuzzing.outcomes(tmp_path, cases, ".npz", lambda p: mlpkit.load(p, backend="numpy"), mlpkit.ModelFormatError, np.ones(6))
    assert sum(outcomes.values()) == len(cases) >= CASES
    assert outcomes["rejected"] >= 0.9 * len(cases), outcomes
