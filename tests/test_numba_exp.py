"""The IR-emitted exp and sigmoid of the Numba kernels (mlpkit.kernels.numba_exp) against float64 NumPy."""

import numpy as np
import pytest

from conftest import backend_or_skip


@pytest.fixture(scope="module")
def run():
    backend_or_skip("numba")
    from numba import njit

    from mlpkit.kernels.numba_exp import fast_exp, fast_sigmoid

    @njit(fastmath={"contract"}, error_model="numpy")
    def apply(x, exp_out, sigmoid_out):
        for i in range(x.size):  # vectorised by LLVM, as in the kernels
            exp_out[i] = fast_exp(x[i])
        for i in range(x.size):
            sigmoid_out[i] = fast_sigmoid(x[i])

    def run(x):
        e, s = np.empty_like(x), np.empty_like(x)
        apply(x, e, s)
        return e, s

    return run


# the relative error bounds of the module doc (measured maxima, AMD EPYC Zen 5: float32 exp 7.4e-8,
# sigmoid 1.7e-7; float64 3.1e-16, 4.7e-16)
BOUNDS = {np.float32: (8e-8, 2e-7), np.float64: (4e-16, 5e-16)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_and_sigmoid_match_float64_numpy(run, dtype):
    lo = -87.0 if dtype == np.float32 else -707.0  # just above the bounds below which exp gives 0
    x = np.concatenate([np.linspace(lo, 0.0, 100_003), np.linspace(-30.0, 30.0, 100_001)]).astype(dtype)
    e, s = run(x)
    x64 = x.astype(np.float64)
    exp_bound, sigmoid_bound = BOUNDS[dtype]
    ref = np.exp(x64)
    normal = ref > np.finfo(dtype).tiny  # subnormal results carry fewer bits
    assert np.max(np.abs(e[normal] - ref[normal]) / ref[normal]) < exp_bound
    ref_s = 1.0 / (1.0 + np.exp(-x64))
    assert np.max(np.abs(s - ref_s) / ref_s) < sigmoid_bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_edges_neither_overflow_nor_leave_the_range(run, dtype):
    x = np.array([-np.inf, -1e4, -800.0, 0.0, 1e4, np.inf], dtype=dtype)
    e, s = run(x)
    assert e[0] == e[1] == e[2] == 0.0 and e[3] == 1.0
    assert np.isfinite(e[4:]).all() and e[4] > 1e37  # clamped below overflow (callers pass x <= 0)
    np.testing.assert_array_equal(s, np.array([0.0, 0.0, 0.0, 0.5, 1.0, 1.0], dtype=dtype))
    assert e.dtype == s.dtype == dtype
