"""The Numba kernels' in-place activations at the edges of their inputs: NaN, signed zeros,
infinities, in the whole-vector loops and in their scalar tails (lengths 1 to 40)."""

import numpy as np
import pytest

from conftest import backend_or_skip

EDGES = [np.nan, -0.0, 0.0, -1.5, 2.5, np.inf, -np.inf, 1e-40]


@pytest.fixture(autouse=True)
def numba_kernels():
    backend_or_skip("numba")
    from mlpkit.kernels import numba_cpu as K

    return K


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
@pytest.mark.parametrize("n", [1, 7, 8, 33, 40])
def test_relu_family_in_place_keeps_its_semantics(numba_kernels, name, n, dtype):
    """relu: v where v > 0, else +0.0 (NaN -> 0, -0 -> +0); leaky relu: v where v > 0, else
    v * slope (NaN stays NaN). Bit for bit, whatever the length (vector body or scalar tail)."""
    K = numba_kernels
    from mlpkit.kernels.constants import LEAKY_SLOPE

    t = np.dtype(dtype).type
    z = np.resize(np.array(EDGES, dtype=t), n)
    with np.errstate(invalid="ignore"):
        if name == "relu":
            expect = np.where(z > 0, z, t(0.0))
        else:
            expect = np.where(z > 0, z, z * t(LEAKY_SLOPE))
    got = K.activation(z.reshape(1, n), K.ACTIVATION_CODES[name]).ravel()  # activate_block on a copy
    kind = np.int32 if t is np.float32 else np.int64
    np.testing.assert_array_equal(got.view(kind), expect.astype(t).view(kind))
