"""The CuPy backend's host-side logic, run with NumPy standing in for CuPy (tests/cuda_on_host.py).

The stand-in records copies, pinned allocations and stream calls. Tests named ``..._with_host_kernels``
also run the CUDA kernel sources, compiled for the host, through the backend's fused paths. None
of this is GPU coverage: no CUDA code runs on a device here (see tests marked gpu and
``mlpkit selftest --backend cupy``).
"""

import threading

import numpy as np
import pytest

import mlpkit
from cuda_on_host import DeviceArray, Stream, emulated_kernels, stand_in
from mlpkit.kernels import cupy_gpu


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


def _copies(log):
    return [entry for entry in log if entry[0] in ("h2d", "d2h")]


def test_cupy_logic_on_numpy_small_copies_are_async_through_reused_pinned_buffers(rng):
    ops = stand_in()
    model = mlpkit.MLP([8, 6, 3], seed=0, backend=ops)
    backend_stream = ops._staging().stream.name
    for i in range(3):
        ops.xp.calls.clear()
        model.predict(rng.random(8))
        log = ops.xp.calls
        assert _copies(log) == [("h2d", "pinned", backend_stream), ("d2h", "pinned", backend_stream)]
        assert [e for e in log if e[0] == "sync"] == [("sync", backend_stream)]  # one wait per predict
        # before refilling the input buffer, the previous upload (the weights', then the last input's) has left it
        assert log.index(("event_sync", backend_stream)) < log.index(("h2d", "pinned", backend_stream))
        assert [e[0] for e in log if e[0] == "alloc_pinned"] == (["alloc_pinned"] if i == 0 else [])  # "out", once
        assert not [e for e in log if e[0] == "wait"]  # a legacy-stream caller needs no handshake


def test_cupy_logic_on_numpy_large_copies_are_pageable(rng):
    ops = stand_in()
    model = mlpkit.MLP([8, 3], seed=0, backend=ops)
    ops.pinned_max_bytes = 50  # float32: input 5 x 8 = 160 bytes, output 5 x 3 = 60
    x = rng.random((5, 8))
    ops.xp.calls.clear()
    y = model.predict(x)
    backend_stream = ops._staging().stream.name
    assert _copies(ops.xp.calls) == [("h2d", "pageable", backend_stream), ("d2h", "pageable", backend_stream)]
    np.testing.assert_array_equal(y, model.to_backend("numpy").predict(x))


def test_cupy_logic_on_numpy_a_callers_stream_is_ordered_both_ways(rng):
    ops = stand_in()
    model = mlpkit.MLP([8, 3], seed=0, backend=ops)
    ours = ops._staging().stream.name
    user = Stream(name="user")
    x = rng.random((4, 8)).view(DeviceArray)
    with user:
        ops.xp.calls.clear()
        y = model.predict(x)
    handshake = [e for e in ops.xp.calls if e[0] in ("record", "wait")]
    assert handshake == [("record", "user"), ("wait", ours, "user"), ("record", ours), ("wait", "user", ours)]
    assert isinstance(y, DeviceArray) and not [e for e in ops.xp.calls if e[0] == "sync"]  # no host wait


def test_cupy_logic_on_numpy_each_thread_has_its_own_stream_and_buffers(rng):
    ops = stand_in()
    model = mlpkit.MLP([8, 3], seed=0, backend=ops)
    streams = {}

    def work(i):
        model.predict(rng.random(8))
        streams[i] = ops._staging().stream.name

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(streams.values())) == 3 and ops._staging().stream.name not in streams.values()


@pytest.fixture
def host_kernels(cuda_host_lib):
    launches = []
    return emulated_kernels(cuda_host_lib, launches), launches


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_logic_on_numpy_fused_and_layer_paths_with_host_kernels(dtype, host_kernels, rng):
    kernels, launches = host_kernels
    ops = stand_in(kernels)
    ops.fused_max_rows = 4
    for act in mlpkit.ACTIVATIONS:
        ref = mlpkit.MLP([33, 17, 40, 5], activation=act, seed=2, backend="numpy", dtype=dtype)
        model = ref.to_backend(ops)
        for x in (rng.normal(size=33), rng.normal(size=(4, 33)), rng.normal(size=(9, 33))):
            launches.clear()
            y = model.predict(x)
            assert y.dtype == np.dtype(dtype) and y.shape == ref.predict(x).shape
            np.testing.assert_allclose(y, ref.predict(x), rtol=2e-5 if dtype == "float32" else 1e-12, atol=1e-6 if dtype == "float32" else 1e-14)
            rows = 1 if x.ndim == 1 else len(x)
            if rows <= ops.fused_max_rows:
                expect = [(f"forward_rows_{dtype}", (rows,), (cupy_gpu.BLOCK_THREADS,), 2 * 40 * np.dtype(dtype).itemsize)]
            else:  # layer by layer: a bias + softmax launch (8 rows per block) for each softmax layer
                softmax = (f"bias_softmax_rows_{dtype}", ((rows + 7) // 8,), (cupy_gpu.BLOCK_THREADS,), 0)
                expect = [softmax] * sum(a == "softmax" for a in model.activations)
            assert launches == expect


def test_cupy_logic_on_numpy_too_wide_for_shared_memory_runs_layer_by_layer(host_kernels, rng):
    kernels, launches = host_kernels
    ops = stand_in(kernels)
    width = cupy_gpu.SHARED_BYTES_MAX // 16 + 1  # 2 float64 buffers of this width exceed the limit
    model = mlpkit.MLP([width, 3], seed=0, backend=ops, dtype="float64")
    x = rng.random(width)
    np.testing.assert_allclose(model.predict(x), model.to_backend("numpy").predict(x), rtol=1e-12)
    assert [launch[0] for launch in launches] == ["bias_softmax_rows_float64"] and model._net.kernel is None


def test_cupy_logic_on_numpy_training_with_host_kernels_matches_numpy(host_kernels, rng):
    kernels, _ = host_kernels
    x, t = rng.random((40, 5)), rng.integers(0, 3, 40)
    for act in ("sigmoid", "relu", "tanh"):
        ref = mlpkit.MLP([5, 4, 3], activation=act, seed=0, backend="numpy", dtype="float64")
        dev = ref.to_backend(stand_in(kernels))
        a = ref.fit(x, t, epochs=2, batch_size=8, seed=1, verbose=False).batch_loss
        b = dev.fit(x, t, epochs=2, batch_size=8, seed=1, verbose=False).batch_loss
        np.testing.assert_allclose(b, a, rtol=1e-10)
        np.testing.assert_allclose(dev.predict(x), ref.predict(x), rtol=1e-10)
