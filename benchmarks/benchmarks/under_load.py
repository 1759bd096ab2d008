"""Thread choice under load: the same call at the default thread count and at 1 thread while
another process keeps one core busy (asv suite). Compare the two ``threads`` values of one
run: the target is default >= 0.9x the 1-thread rate. Not a unit test: it measures a machine."""

import contextlib
import subprocess
import sys

import numpy as np

import mlpkit

BUSY = "import time\nt = time.time()\nwhile time.time() - t < 900:\n    pass\n"


class UnderLoad:
    params = (["numpy", "numba"], ["predict 4096", "fit batch 32"], ["default", "1"])
    param_names = ["backend", "task", "threads"]
    timeout = 300

    def setup(self, backend, task, threads):
        reason = mlpkit.available_backends()[backend]
        if reason is not None:
            raise NotImplementedError(reason)
        rng = np.random.default_rng(0)
        if task == "predict 4096":
            model = mlpkit.load_pretrained("mnist-m1", backend=backend)
            x = rng.random((4096, 784)).astype(np.float32)
            self.rows, self.call = len(x), lambda: model.predict(x)
        else:
            model = mlpkit.MLP((784, 50, 10), "sigmoid", backend=backend, seed=0)
            x, t = rng.random((3000, 784)).astype(np.float32), rng.integers(0, 10, 3000)
            self.rows, self.call = len(x), lambda: model.fit(x, t, epochs=1, batch_size=32, verbose=False, seed=0)
        self.one_thread = threads == "1"
        self.call()  # compile outside the timing
        self.busy = subprocess.Popen([sys.executable, "-c", BUSY])  # one core taken by another process

    def teardown(self, backend, task, threads):
        self.busy.kill()
        self.busy.wait()

    def track_samples_per_second_one_core_busy(self, backend, task, threads):
        import time

        # a new limit per call: num_threads' context manager is used once (asv may call again)
        with mlpkit.num_threads(1) if self.one_thread else contextlib.nullcontext():
            best = 0.0
            for _ in range(3):
                start = time.perf_counter()
                self.call()
                best = max(best, self.rows / (time.perf_counter() - start))
            return best

    track_samples_per_second_one_core_busy.unit = "samples/s"
