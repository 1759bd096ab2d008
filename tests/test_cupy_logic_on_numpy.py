"""The CuPy backend's host-side logic, run with NumPy standing in for CuPy.

An ndarray subclass plays the "device" array. These tests check transfers, placement, dtype
policy and that the inherited array code runs through the backend; they execute no CUDA code
and are NOT GPU coverage (the fused kernels exist only with real CuPy: see tests marked gpu and
``mlpkit selftest --backend cupy``).
"""

import types

import numpy as np
import pytest

import mlpkit
from mlpkit.backends.cupy_backend import CupyOps
from mlpkit.kernels import cupy_gpu


class DeviceArray(np.ndarray):
    """Marks arrays that would live on the GPU."""


def stand_in():
    xp = types.SimpleNamespace(
        ndarray=DeviceArray,
        asarray=lambda x, dtype=None: np.asarray(x, dtype=dtype).view(DeviceArray),
        ascontiguousarray=lambda x, dtype=None: np.ascontiguousarray(x, dtype=dtype).view(DeviceArray),
        asnumpy=lambda x: np.asarray(x).view(np.ndarray).copy(),
        isfinite=np.isfinite,
        concatenate=lambda arrays: np.concatenate(arrays).view(DeviceArray),
    )
    return CupyOps(xp=xp, device_array=DeviceArray)


def test_cupy_logic_on_numpy_weights_upload_once_and_each_predict_copies_twice(rng):
    ops = stand_in()
    model = mlpkit.MLP([8, 6, 3], activation="tanh", seed=0, backend=ops)
    assert ops.transfers == {"to_device": 1, "to_host": 0}  # one flat parameter buffer
    assert isinstance(model._flat, DeviceArray) and all(isinstance(layer.W, DeviceArray) for layer in model._layers)
    for x in (rng.random(8), rng.random((5, 8))):
        ops.transfers.update(to_device=0, to_host=0)
        y = model.predict(x)
        assert type(y) is np.ndarray and ops.transfers == {"to_device": 1, "to_host": 1}


def test_cupy_logic_on_numpy_device_input_stays_on_the_device(rng):
    ops = stand_in()
    model = mlpkit.MLP([8, 3], seed=0, backend=ops)
    ops.transfers.update(to_device=0, to_host=0)
    y = model.predict(rng.random((4, 8)).view(DeviceArray))
    assert isinstance(y, DeviceArray) and ops.transfers == {"to_device": 0, "to_host": 0}


def test_cupy_logic_on_numpy_chunks_upload_per_chunk_and_download_once(rng):
    ops = stand_in()
    model = mlpkit.MLP([8, 3], seed=0, backend=ops)
    ops.transfers.update(to_device=0, to_host=0)
    model.predict(rng.random((25, 8)), batch_size=10)
    assert ops.transfers == {"to_device": 3, "to_host": 1}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_logic_on_numpy_dtype_policy_and_agreement(dtype, rng):
    ops = stand_in()
    for act in mlpkit.ACTIVATIONS:
        ref = mlpkit.MLP([7, 6, 4], activation=act, seed=2, backend="numpy", dtype=dtype)
        model = ref.to_backend(ops)
        for x in (rng.random((9, 7)), rng.integers(0, 255, (3, 7), dtype=np.uint8), rng.random(7).astype(np.float32)):
            y = model.predict(x)
            assert y.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(y, ref.predict(x))


def test_cupy_logic_on_numpy_errors_and_training(rng):
    ops = stand_in()
    model = mlpkit.MLP([5, 4, 3], seed=0, backend=ops)
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.predict(np.full(5, np.nan))
    x = np.ones((6, 5))
    x[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"first at index \(4, 1\)"):
        model.predict(x)
    x, t = rng.random((40, 5)), rng.integers(0, 3, 40)
    ref = mlpkit.MLP([5, 4, 3], seed=0, backend="numpy", dtype="float64")
    dev = ref.to_backend(ops)
    a = ref.fit(x, t, epochs=2, batch_size=8, seed=1, verbose=False).batch_loss
    b = dev.fit(x, t, epochs=2, batch_size=8, seed=1, verbose=False).batch_loss
    np.testing.assert_allclose(b, a, rtol=1e-12)


def test_cupy_logic_on_numpy_kernel_sources_are_complete():
    """Only a text check: the CUDA sources are compiled and run by GPU tests alone."""
    for params, out, body, name in (cupy_gpu.BIAS_ACTIVATE, cupy_gpu.ACTIVATION_GRAD, cupy_gpu.ADAM):
        assert body.count("{") == body.count("}") and "{{" not in body and name.startswith("mlpkit_")
    assert "0.01" in cupy_gpu.BIAS_ACTIVATE[2] and "0.01" in cupy_gpu.ACTIVATION_GRAD[2]
