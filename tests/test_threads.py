"""Many Python threads calling predict on one model at once: no crash, identical results."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import mlpkit

THREADS, CALLS = 8, 200


def test_concurrent_predict_is_safe(backend, dtype, rng):
    model = mlpkit.MLP([784, 50, 100, 10], activation="sigmoid", seed=0, backend=backend, dtype=dtype)
    inputs = [rng.random((n, 784)) for n in (1, 3, 4, 5, 64, 600)] + [rng.random(784)]
    expected = [model.predict(x) for x in inputs]

    def worker(k):
        mismatches = 0
        for i in range(CALLS):
            j = (i + k) % len(inputs)
            mismatches += not np.array_equal(model.predict(inputs[j]), expected[j])
        return mismatches

    with ThreadPoolExecutor(THREADS) as pool:
        assert list(pool.map(worker, range(THREADS))) == [0] * THREADS
