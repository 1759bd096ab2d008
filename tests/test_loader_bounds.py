"""The native loader reads the header first and only the members it names, with every size
checked against the header before anything is allocated (no memory driven by what a file
declares), and every defect is a ModelFormatError."""

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

import mlpkit


def _good(tmp_path):
    path = tmp_path / "good.npz"
    mlpkit.save(mlpkit.MLP([6, 5, 3], seed=0, backend="numpy"), path)
    return path


def _npy_header(shape, dtype="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _with_member(src, dst, name, data, compress=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compress) as zout:
        for info in zin.infolist():
            if info.filename != name:
                zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr(name, data)
    return dst


def _peak_mb(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def test_an_extra_member_declaring_600m_floats_is_refused_unread(tmp_path):
    """The old reader decompressed every member first: 2.3 GB for a 2.3 MB file."""
    bomb = _npy_header((600_000_000,)) + bytes(1 << 20)
    path = _with_member(_good(tmp_path), tmp_path / "bomb.npz", "extra.npy", bomb)
    with pytest.raises(mlpkit.ModelFormatError, match=r"unexpected \['extra'\]"):
        mlpkit.load(path)
    assert _peak_mb(lambda: pytest.raises(mlpkit.ModelFormatError, mlpkit.load, path)) < 20


def test_an_expected_member_declaring_a_huge_shape_is_refused_before_allocation(tmp_path):
    member = _npy_header((6, 500_000_000)) + bytes(1 << 16)
    path = _with_member(_good(tmp_path), tmp_path / "w1.npz", "W1.npy", member)
    with pytest.raises(mlpkit.ModelFormatError, match=r"W1 has shape \(6, 500000000\); layer_sizes \[6, 5, 3\] require \(6, 5\)"):
        mlpkit.load(path)
    assert _peak_mb(lambda: pytest.raises(mlpkit.ModelFormatError, mlpkit.load, path)) < 20


def test_a_member_shorter_or_longer_than_its_header_says_is_refused(tmp_path):
    good = _good(tmp_path)
    short = _npy_header((6, 5)) + bytes(6 * 5 * 4 - 8)
    with pytest.raises(mlpkit.ModelFormatError, match="W1 .*the zip says"):
        mlpkit.load(_with_member(good, tmp_path / "s.npz", "W1.npy", short))
    long = _npy_header((6, 5)) + bytes(6 * 5 * 4 + 8)
    with pytest.raises(mlpkit.ModelFormatError, match="W1 .*the zip says"):
        mlpkit.load(_with_member(good, tmp_path / "l.npz", "W1.npy", long))


@pytest.mark.parametrize("member, match", [
    (b"not an npy file at all", "W1 is not a .npy array"),
    (_npy_header((6, 5), "|O"), "only pickle could load; refused"),
    (_npy_header((6, 5), "<f8") + bytes(240), "W1 has dtype float64; the header says float32"),
])
def test_members_that_are_not_the_arrays_the_header_needs(tmp_path, member, match):
    with pytest.raises(mlpkit.ModelFormatError, match=match):
        mlpkit.load(_with_member(_good(tmp_path), tmp_path / "m.npz", "W1.npy", member))


def _header_member(text: bytes) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(text, np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize("text, match", [
    (b"[" * 100_000 + b"]" * 100_000, "not valid UTF-8 JSON"),  # RecursionError in json
    (b'{"format": "mlpkit-mlp", "version": ' + b"9" * 5000 + b"}", "not valid UTF-8 JSON"),  # an int too long
    (json.dumps({"format": "mlpkit-mlp", "version": 1, "layer_sizes": [6, 5, 3], "activations": [1, "relu"],
                 "dtype": "float32"}).encode(), "unknown activation 1"),
    (json.dumps({"format": "mlpkit-mlp", "version": 1, "layer_sizes": [6, True, 3], "activations": ["relu", "relu"],
                 "dtype": "float32"}).encode(), "layer_sizes must be a list"),
    (json.dumps({"format": "mlpkit-mlp", "version": 1, "layer_sizes": [6, 5, 3], "activations": ["relu", "relu"],
                 "dtype": "float32", "metadata": [1]}).encode(), "metadata must be a JSON object"),
])
def test_header_attacks_are_model_format_errors(tmp_path, text, match):
    path = _with_member(_good(tmp_path), tmp_path / "h.npz", "header.npy", _header_member(text))
    with pytest.raises(mlpkit.ModelFormatError, match=match):
        mlpkit.load(path)


def test_an_oversized_header_member_is_refused_unread(tmp_path):
    from mlpkit.io import native as model_io

    big = _npy_header((model_io.MAX_HEADER_BYTES + 1,), "|u1") + bytes(model_io.MAX_HEADER_BYTES + 1)
    with pytest.raises(mlpkit.ModelFormatError, match="header has shape"):
        mlpkit.load(_with_member(_good(tmp_path), tmp_path / "big.npz", "header.npy", big))
