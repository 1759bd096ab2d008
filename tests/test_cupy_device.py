"""The CuPy backend on a real device: each inference path and transfer mode against the reference.

Every test here is marked ``gpu`` and skips with the probe's reason where CuPy or a CUDA device is
missing (``pytest -rs`` prints it). The agreement suite parametrised over all backends covers the
rest of the ops interface on CuPy.
"""

import numpy as np
import pytest

import mlpkit
from conftest import backend_or_skip

pytestmark = pytest.mark.gpu


@pytest.fixture
def ops():
    ops = backend_or_skip("cupy")
    yield ops
    for knob in ("fused_max_rows", "pinned_max_bytes"):
        vars(ops).pop(knob, None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_fused_and_layer_paths_agree_with_numpy_around_the_threshold(ops, dtype, rng):
    tol = {"float32": 2e-5, "float64": 1e-11}[dtype]
    for act in mlpkit.ACTIVATIONS:
        ref = mlpkit.MLP([784, 50, 100, 10], activation=act, seed=4, backend="numpy", dtype="float64")
        model = ref.to_backend(ops).astype(dtype)
        for n in (1, ops.fused_max_rows, ops.fused_max_rows + 1, 1000):
            x = rng.normal(size=(n, 784))
            expect = ref.astype(dtype).astype("float64").predict(x.astype(dtype).astype(np.float64))
            np.testing.assert_allclose(model.predict(x), expect, rtol=tol, atol=tol)
        assert model._net.kernel is not None  # M1 fits one block's shared memory


def test_cupy_pinned_and_pageable_copies_give_the_same_result(ops, rng):
    model = mlpkit.MLP([784, 50, 10], seed=0, backend=ops)
    x = rng.random((64, 784))
    pinned = model.predict(x)
    ops.pinned_max_bytes = 0
    np.testing.assert_array_equal(model.predict(x), pinned)


def test_cupy_device_input_on_a_user_stream_returns_a_device_result(ops, rng):
    import cupy

    model = mlpkit.MLP([784, 50, 10], seed=0, backend=ops)
    x = rng.random((300, 784)).astype(np.float32)
    expect = model.predict(x)
    with cupy.cuda.Stream(non_blocking=True) as user:
        xd = cupy.asarray(x) * 1  # produced on the user's stream
        y = model.predict(xd)
        assert isinstance(y, cupy.ndarray)
        back = cupy.asnumpy(y, stream=user)
    np.testing.assert_array_equal(back, expect)


def test_cupy_host_batch_costs_one_copy_each_way(ops, rng):
    model = mlpkit.MLP([784, 50, 10], seed=0, backend=ops)
    for n in (1, 64, 3000):
        ops.transfers.update(to_device=0, to_host=0)
        model.predict(rng.random((n, 784)) if n > 1 else rng.random(784), batch_size=4096)
        assert ops.transfers == {"to_device": 1, "to_host": 1}
