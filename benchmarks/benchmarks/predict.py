"""Inference throughput per backend: batch predict vs one-sample predict (asv suite)."""

import numpy as np

import mlpkit

MODELS = {
    "M1": ((784, 50, 100, 10), "sigmoid", "softmax"),
    "M2": ((784, 512, 512, 10), "relu", "softmax"),
}


def _model(backend, name, dtype):
    reason = mlpkit.available_backends()[backend]
    if reason is not None:
        raise NotImplementedError(reason)  # asv: skip this parameter combination
    sizes, hidden, output = MODELS[name]
    return mlpkit.MLP(sizes, hidden, output, backend=backend, dtype=dtype, seed=0)


class Predict:
    """Batch predict; ``batch=1`` is a (1, 784) batch, not the single-sample path."""

    params = (["numpy", "numba", "cupy"], ["M1", "M2"], [1, 32, 256, 4096], ["float32", "float64"])
    param_names = ["backend", "model", "batch", "dtype"]

    def setup(self, backend, model, batch, dtype):
        self.model = _model(backend, model, dtype)
        self.x = np.random.default_rng(0).random((batch, self.model.layer_sizes[0])).astype(dtype)
        self.model.predict(self.x)  # warm the JIT

    def time_predict(self, backend, model, batch, dtype):
        self.model.predict(self.x)

    def track_samples_per_second(self, backend, model, batch, dtype):
        import timeit

        calls = max(1, 20000 // batch)
        seconds = min(timeit.repeat(lambda: self.model.predict(self.x), number=calls, repeat=3))
        return batch * calls / seconds

    track_samples_per_second.unit = "samples/s"


class SingleSample:
    """N one-sample predict calls in a loop vs one N-row predict call."""

    params = (["numpy", "numba", "cupy"], ["M1", "M2"], ["float32"])
    param_names = ["backend", "model", "dtype"]
    n = 256

    def setup(self, backend, model, dtype):
        self.model = _model(backend, model, dtype)
        self.x = np.random.default_rng(0).random((self.n, self.model.layer_sizes[0])).astype(dtype)
        self.model.predict(self.x[0])
        self.model.predict(self.x)

    def time_loop_of_single_predicts(self, backend, model, dtype):
        for row in self.x:
            self.model.predict(row)

    def time_one_batch_predict(self, backend, model, dtype):
        self.model.predict(self.x)


class PeakMemory:
    """Peak RSS of predicting N x 784 float32 rows through M2. The input itself (N x 3136 bytes)
    is part of the peak; predict adds the output and one chunk of activations, so the peak grows
    by about the input's size alone between the two N."""

    params = (["numpy", "numba", "cupy"], [15000, 60000])
    param_names = ["backend", "rows"]

    def setup(self, backend, rows):
        self.model = _model(backend, "M2", "float32")
        self.x = np.random.default_rng(0).random((rows, 784), dtype=np.float32)
        self.model.predict(self.x[:8])

    def peakmem_predict(self, backend, rows):
        self.model.predict(self.x)


def timeraw_numba_first_call():
    """Cold start in a fresh interpreter: import, JIT compile (or cache load), first predict."""
    return """
import mlpkit
model = mlpkit.MLP([784, 50, 100, 10], "sigmoid", backend="numba", seed=0)
model.predict([0.5] * 784)
"""


class TrainEpoch:
    """One epoch of Adam on 6,000 MNIST-shaped rows (the speed does not depend on the values)."""

    params = (["numpy", "numba", "cupy"], ["T1", "M2"], [32, 128])
    param_names = ["backend", "model", "batch"]
    rows = 6000
    timeout = 300

    def setup(self, backend, model, batch):
        reason = mlpkit.available_backends()[backend]
        if reason is not None:
            raise NotImplementedError(reason)
        sizes = {"T1": (784, 50, 10), "M2": (784, 512, 512, 10)}[model]
        hidden = {"T1": "sigmoid", "M2": "relu"}[model]
        self.model = mlpkit.MLP(sizes, hidden, backend=backend, seed=0)
        rng = np.random.default_rng(0)
        self.x = rng.random((self.rows, 784), dtype=np.float32)
        self.t = rng.integers(0, 10, self.rows)
        self.model.fit(self.x[: 4 * batch], self.t[: 4 * batch], batch_size=batch, epochs=1, verbose=False)

    def time_epoch(self, backend, model, batch):
        """One epoch; asv repeats it and reports the median and spread like every time_ benchmark."""
        self.model.fit(self.x, self.t, epochs=1, batch_size=batch, verbose=False, seed=0)

    def track_training_samples_per_second(self, backend, model, batch):
        """Rows per second of the fastest of 3 epochs (a track_ value is one number per run, so
        it is made from several epochs rather than one: one epoch varied 15k-195k samples/s)."""
        import time

        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            self.model.fit(self.x, self.t, epochs=1, batch_size=batch, verbose=False, seed=0)
            best = min(best, time.perf_counter() - start)
        return self.rows / best

    track_training_samples_per_second.unit = "samples/s"


def timeraw_numba_cold_start_empty_cache():
    """A fresh interpreter with an empty kernel cache: import, compile, first M1 batch predict."""
    return """
import os, tempfile
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp()
import numpy as np
import mlpkit
model = mlpkit.load_pretrained("mnist-m1", backend="numba")
model.predict(np.random.default_rng(0).random((256, 784)).astype(np.float32))
"""


timeraw_numba_cold_start_empty_cache.timeout = 300
