"""Large-batch prediction allocates about the output plus one chunk of activations, not the input.

Measured with tracemalloc (NumPy reports its buffers to it): bytes, not seconds, so it is exact.
"""

import tracemalloc

import numpy as np

import mlpkit


def peak_bytes_of_predict(model, x, **kwargs):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        y = model.predict(x, **kwargs)
        return tracemalloc.get_traced_memory()[1] - start, y
    finally:
        tracemalloc.stop()


def test_peak_memory_is_flat_in_the_number_of_rows(backend):
    model = mlpkit.MLP([784, 512, 512, 10], seed=0, backend=backend)
    chunk = backend.chunk_rows  # predict's default chunk on this backend
    widest = max(model.layer_sizes[1:])
    model.predict(np.ones((chunk + 1, 784)))  # compile every path first: the JIT allocates too
    # two live activation buffers of one chunk, the float32 cast of one input chunk, outputs twice
    for rows in (8 * chunk, 32 * chunk):
        x = np.random.default_rng(0).random((rows, 784))  # float64: a cast of the whole would be 4x larger
        peak, y = peak_bytes_of_predict(model, x)
        output = y.nbytes
        budget = 2 * output + chunk * (2 * widest + 784) * 4 + (1 << 20)
        assert peak <= budget, f"{rows} rows: predict allocated {peak:,} bytes, budget {budget:,}"
        assert peak < x.nbytes / 4, "the input must never be copied whole"
