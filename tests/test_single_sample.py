"""predict's single-sample shortcut (Ops.one_sample_path): taken only for a vector the kernel
takes as is, giving what the general path gives; everything else goes the general way."""

import numpy as np
import pytest

import mlpkit
from conftest import backend_or_skip


@pytest.fixture
def model(dtype):
    backend_or_skip("numba")
    return mlpkit.MLP([20, 7, 3], backend="numba", dtype=dtype, seed=0)


def test_the_shortcut_gives_what_the_general_path_gives(model, dtype, rng):
    x = rng.random(20).astype(dtype)
    run = model._store.one_sample
    assert run is not None
    y = run(x, True)
    np.testing.assert_array_equal(y, model.predict(x[None, :])[0])
    np.testing.assert_array_equal(model.predict(x), y)
    assert y.dtype == np.dtype(dtype) and y.shape == (3,)


def test_after_its_first_call_the_shortcut_calls_the_compiled_kernel_itself(model, dtype, rng):
    """The entry point for exactly the types the shortcut admits (no second typing of the arrays)."""
    from mlpkit.backends.numba_backend import _compiled_for

    x = rng.random(20).astype(dtype)
    run = model._store.one_sample
    first = run(x, True)
    net = model._store.net
    entry = _compiled_for(net.one_kernel, (x, net.panels, net.panel_meta, first))
    assert entry is not None and entry is not net.one_kernel
    assert dict(zip(run.__code__.co_freevars, run.__closure__))["call"].cell_contents is entry
    np.testing.assert_array_equal(run(x, True), first)


def test_inputs_the_kernel_does_not_take_as_is_go_the_general_way(model, dtype, rng):
    x = rng.random(20).astype(np.float32).astype(dtype)  # exact in either dtype
    expected = model.predict(x)
    other = "float64" if dtype == "float32" else "float32"
    read_only = x.copy()
    read_only.flags.writeable = False
    unaligned = np.frombuffer(bytearray(x.nbytes + 1), dtype=x.dtype, count=len(x), offset=1)
    unaligned[:] = x
    assert not unaligned.flags.aligned and unaligned.flags.writeable
    cases = [x.astype(other), np.repeat(x, 2)[::2], read_only, unaligned, x.astype(x.dtype.newbyteorder()), list(x), x[None, :]]
    run = model._store.one_sample
    for case in cases:
        assert run(case, True) is None
        got = model.predict(case)
        np.testing.assert_allclose(np.reshape(got, -1), expected, rtol=1e-6 if dtype == "float32" else 1e-12)


def test_non_finite_inputs_raise_as_before_unless_unchecked(model, dtype, rng):
    x = rng.random(20).astype(dtype)
    x[4] = np.nan
    assert model._store.one_sample(x, True) is None  # the general path then says where
    with pytest.raises(ValueError, match=r"NaN or Inf \(first at index \(4,\)\)"):
        model.predict(x)
    assert model.predict(x, check_finite=False).shape == (3,)


def test_the_shortcut_follows_new_weights(model, dtype, rng):
    """Training refreshes the packed network; the shortcut is rebuilt with it."""
    x = rng.random((64, 20)).astype(dtype)
    before = model.predict(x[0])
    model.fit(x, rng.integers(0, 3, 64), epochs=1, verbose=False)
    after = model.predict(x[0])
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, model.predict(x[:1])[0])


@pytest.mark.parametrize("length", [0, 1, 19, 21, 784])
def test_a_vector_of_the_wrong_length_is_refused_by_the_kernel_and_explained(model, dtype, length):
    """The shortcut leaves the length to the kernel, which refuses it without writing; predict
    then says what it expected, for checked and unchecked calls alike."""
    from mlpkit.kernels import numba_cpu as K

    x = np.ones(length, dtype=dtype)
    net = model._store.net
    out = np.full(3, 7.0, dtype=dtype)
    assert net.one_kernel(x, net.panels, net.panel_meta, out) == K.ONE_WRONG_LENGTH
    np.testing.assert_array_equal(out, 7.0)
    for check in (True, False):
        assert model._store.one_sample(x, check) is None
        with pytest.raises(ValueError, match=rf"input has {length} features but the model expects 20: expected shape \(20,\)"):
            model.predict(x, check_finite=check)


def test_predict_makes_no_closure_cells():
    """predict is the single-sample hot path: a comprehension or closure in it would turn its
    locals into cells, created on every call (0.12-0.15 us, AMD EPYC Zen 2)."""
    assert mlpkit.MLP.predict.__code__.co_cellvars == ()


@pytest.mark.parametrize("width", [104, 1024, 1025])
def test_the_one_row_scratch_on_the_stack_and_on_the_heap(dtype, width, rng):
    """The one-row forward takes two rows of the widest layer from its stack frame up to
    numba_stack.STACK_SCRATCH_BYTES (float32: 1024 columns) and from the heap past that; both
    give the reference's outputs and the batch's bits."""
    backend_or_skip("numba")
    from mlpkit.kernels.numba_stack import STACK_SCRATCH_BYTES

    import reference as ref

    model = mlpkit.MLP([30, width, 6], "sigmoid", backend="numba", dtype=dtype, seed=2)
    itemsize = np.dtype(dtype).itemsize
    widest = model._store.net.panel_meta[:, 4].max()
    assert (2 * widest * itemsize <= STACK_SCRATCH_BYTES) == (2 * width * itemsize <= STACK_SCRATCH_BYTES)
    x = rng.standard_normal((5, 30)).astype(dtype)
    alone = np.stack([model.predict(row) for row in x])
    np.testing.assert_array_equal(alone, model.predict(x))
    Ws, bs = zip(*((layer.W, layer.b) for layer in model._store.layers))
    ref.assert_close(alone, ref.forward(x, Ws, bs, ["sigmoid", "softmax"]), dtype, scale=1.0)


def test_the_one_row_scratch_comes_from_the_heap_only_when_wide_and_is_freed(rng):
    """NRT's counts over 10 single-sample predictions: a wide model's scratch is one NRT block
    a call more than a narrow model's (whose scratch is on the stack), and every block is freed."""
    backend_or_skip("numba")
    from numba.core.runtime import _nrt_python, rtsys

    per_call = {}
    for width in (104, 2049):  # float32: 2 x 104 columns fit the stack, 2 x 2049 do not
        model = mlpkit.MLP([30, width, 6], "sigmoid", backend="numba", dtype="float32", seed=2)
        x = rng.standard_normal(30).astype("float32")
        model.predict(x)  # compiled before counting
        _nrt_python.memsys_enable_stats()
        try:
            before = rtsys.get_allocation_stats()
            for _ in range(10):
                model.predict(x)
            after = rtsys.get_allocation_stats()
        finally:
            _nrt_python.memsys_disable_stats()
        assert after.alloc - before.alloc == after.free - before.free  # nothing left allocated
        per_call[width] = (after.alloc - before.alloc) / 10
    assert per_call[2049] == per_call[104] + 1


def test_a_single_sample_on_a_thread_with_a_small_stack(rng):
    """The stack scratch (up to numba_stack.STACK_SCRATCH_BYTES) leaves room on a 64 KiB thread
    stack: M2-sized float64 rows, whose scratch is the most the stack takes."""
    import threading

    backend_or_skip("numba")
    model = mlpkit.MLP([784, 512, 512, 10], backend="numba", dtype="float64", seed=0)
    x = rng.random(784)
    expect = model.predict(x)  # compiled on the main thread
    got = {}
    old = threading.stack_size(64 * 1024)
    try:
        worker = threading.Thread(target=lambda: got.setdefault("y", model.predict(x)))
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old)
    np.testing.assert_array_equal(got["y"], expect)
