"""Classic weight pickles: NumPy's own pickles of every protocol load exactly; arrays the pickle
never fills, data that does not match its shape, and non-numeric dtypes are refused before any
array of the declared size is allocated."""

import pickle
import tracemalloc

import numpy as np
import pytest

from mlpkit.io.classic_pickle import load_weights

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import _reconstruct


def _write(tmp_path, obj, protocol=pickle.HIGHEST_PROTOCOL):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return str(path)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_numpys_own_pickles_load_exactly(tmp_path, protocol):
    rng = np.random.default_rng(0)
    weights = {"W1": rng.random((4, 3)).astype(np.float32), "b1": rng.random(3), "W2": np.asfortranarray(rng.random((3, 2))),
               "n": np.arange(5, dtype=np.int64)}
    got = load_weights(_write(tmp_path, weights, protocol))
    assert set(got) == set(weights)
    for key, value in weights.items():
        np.testing.assert_array_equal(got[key], value)
        assert got[key].dtype == value.dtype


class _Unfilled:  # _reconstruct(ndarray, huge shape) with no BUILD: the real one hands back heap memory
    def __reduce__(self):
        return (_reconstruct, (np.ndarray, (300_000_000,), b"b"))


class _Mismatch:
    def __reduce__(self):
        return (_reconstruct, (np.ndarray, (0,), b"b"), (1, (100_000_000,), np.dtype("f4"), False, b"\0" * 16))


class _Fields:
    def __reduce__(self):
        dt = np.dtype([("a", "f4"), ("b", "i4")])
        return (_reconstruct, (np.ndarray, (0,), b"b"), (1, (2,), dt, False, b"\0" * 16))


class _Objects:
    def __reduce__(self):
        return (_reconstruct, (np.ndarray, (0,), b"b"), (1, (2,), np.dtype(object), False, [1, 2]))


@pytest.mark.parametrize("payload, match", [
    (_Unfilled(), "was never filled"),
    (_Mismatch(), r"needs 400,000,000 bytes; the pickle holds 16"),
    (_Fields(), "only plain numeric arrays"),
    (_Objects(), "only plain numeric arrays"),
])
def test_hostile_arrays_are_refused_without_allocating(tmp_path, payload, match):
    path = _write(tmp_path, {"W1": payload})
    tracemalloc.start()
    try:
        with pytest.raises(pickle.UnpicklingError, match=match):
            load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20
