"""The NumPy backend's large batches in row parts on mlpkit's pool, BLAS held at one thread:
results that do not depend on the thread count, errors that name the right row, and BLAS's
count back as it was."""

import sys
import threading

import numpy as np
import pytest

import mlpkit
from conftest import find_blas_pools_again
from mlpkit.backends import blas_pools, row_scheduler, threads

M1 = [784, 50, 100, 10]
FLOPS_M1 = 2.0 * (784 * 50 + 50 * 100 + 100 * 10)


@pytest.mark.parametrize("n", [1, 331, 332, 700, 1024, 1500, 4096, 5000])
def test_fixed_row_parts_cover_the_rows_by_work_and_never_by_threads(n):
    parts = row_scheduler.fixed_row_parts(n, FLOPS_M1, 1024)
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    grain_rows = threads.GRAIN_FLOPS / FLOPS_M1
    if len(parts) > 1:
        assert min(b - a for a, b in parts) >= grain_rows  # no part smaller than a grain
        assert max(b - a for a, b in parts) <= max(1024, n // 2 + 1)
    assert (len(parts) >= 2) == (n >= 2 * grain_rows)


def blas_counts():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="reading BLAS's thread count needs threadpoolctl")
    return sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_batch_gives_the_same_bits_at_one_thread_and_at_the_default(dtype, rng):
    """Every chunk in parts (a tail chunk under two grains would be one BLAS call, whose bits
    depend on BLAS's own thread count)."""
    model = mlpkit.MLP(M1, activation="sigmoid", seed=0, backend="numpy", dtype=dtype)
    x = rng.random((4096 + 1000, 784))
    before = blas_counts()
    y = model.predict(x)
    assert blas_counts() == before  # the hold ended
    with mlpkit.num_threads(1):
        y1 = model.predict(x)
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_allclose(y, mlpkit.MLP(M1, activation="sigmoid", seed=0, backend="numpy", dtype="float64").predict(x),
                               rtol=2e-5 if dtype == "float32" else 1e-12, atol=1e-6 if dtype == "float32" else 1e-15)


@pytest.mark.parametrize("rows", [2, 64, 300, 2048])
def test_a_batch_gets_the_same_bits_while_another_thread_holds_blas_at_one_thread(rows, rng):
    """Another thread's large predict holds BLAS's process-wide count at one thread; a batch of
    any size must not round differently meanwhile (OpenBLAS's 2-thread sgemm differs from its
    1-thread one in the last bits from 32 rows up)."""
    model = mlpkit.MLP(M1, activation="sigmoid", seed=0, backend="numpy", dtype="float32")
    x = rng.random((rows, 784))
    alone = model.predict(x)
    with blas_pools.single_thread_blas():
        np.testing.assert_array_equal(model.predict(x), alone)


def test_where_blas_cannot_be_held_the_parts_run_one_after_another(rng, monkeypatch):
    model = mlpkit.MLP(M1, activation="sigmoid", seed=0, backend="numpy")
    x = rng.random((3000, 784))
    expected = model.predict(x)
    ran_in = set()
    run_parts = row_scheduler.run_parts

    def spy(parts, fn, workers):
        ran_in.add(workers)
        return run_parts(parts, fn, workers)

    monkeypatch.setattr(row_scheduler, "run_parts", spy)
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # not installed: no BLAS to hold
    find_blas_pools_again(monkeypatch)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-7)  # float32; BLAS on its own threads: other roundings
    assert ran_in == {1}


def test_a_nan_in_a_later_part_is_reported_at_its_row(rng):
    model = mlpkit.MLP(M1, activation="sigmoid", seed=0, backend="numpy")
    x = rng.random((4096, 784))
    x[3001, 5] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(3001, 5\)"):
        model.predict(x)
    assert np.isfinite(model.predict(x, check_finite=False)[:3000]).all()


def test_concurrent_large_batches_agree_and_leave_blas_as_it_was(rng):
    model = mlpkit.MLP(M1, activation="sigmoid", seed=0, backend="numpy", dtype="float32")
    inputs = [rng.random((n, 784)) for n in (64, 700, 2048, 4096)]
    expected = [model.predict(x) for x in inputs]
    before = blas_counts()
    bad = []

    def worker(k):
        for i in range(12):
            j = (i + k) % len(inputs)
            if not np.array_equal(model.predict(inputs[j]), expected[j]):
                bad.append((k, i))

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert bad == []
    assert blas_counts() == before
    assert blas_pools._holds == 0


def test_under_mlpkits_limit_of_one_a_small_batch_skips_the_hold(rng, monkeypatch):
    """mlpkit already set BLAS to one thread: the hold would only cost time (~6 us a call)."""
    model = mlpkit.MLP(M1, activation="sigmoid", seed=0, backend="numpy")
    x = rng.random((32, 784))
    holds = []
    real = blas_pools.single_thread_blas
    monkeypatch.setattr(blas_pools, "single_thread_blas", lambda: holds.append(1) or real())
    model.predict(x)
    assert holds == [1]
    with mlpkit.num_threads(1):
        model.predict(x)
    assert holds == [1]
