"""Batch inference through local Dask workers (mlpkit.dask) against a local predict, as
``mlpkit bench --dask`` measures it; skipped where dask/distributed are not installed."""

import importlib.util


class DaskPredict:
    """Samples/s of M1 float32 over 200,000 rows of a .npy file: a local predict at 1 and 2
    threads, and mlpkit.dask.predict on LocalClusters of 1 and 2 one-thread workers."""

    rows = 200_000
    timeout = 600
    number, repeat = 1, 1

    def setup(self, results):
        if not results:
            raise NotImplementedError("dask/distributed are not installed (pip install 'mlpkit[dask]')")

    def setup_cache(self):
        if importlib.util.find_spec("distributed") is None:
            return {}
        from mlpkit import bench_dask

        return {(r.name, r.cores): r.samples_per_s
                for r in bench_dask.run("M1", "float32", rows=self.rows, workers=(1, 2), repeats=3, chunk_rows=20_000)}

    def track_local_1_thread(self, results):
        return results[("local predict", 1)]

    def track_local_2_threads(self, results):
        return results[("local predict", 2)]

    def track_dask_1_worker(self, results):
        return results[("dask, 1 worker", 1)]

    def track_dask_2_workers(self, results):
        return results[("dask, 2 workers", 2)]

    def track_ratio_2_workers_to_1(self, results):
        return results[("dask, 2 workers", 2)] / results[("dask, 1 worker", 1)]

    def track_ratio_dask_to_local_at_2_cores(self, results):
        return results[("dask, 2 workers", 2)] / results[("local predict", 2)]


for _name in ("track_local_1_thread", "track_local_2_threads", "track_dask_1_worker", "track_dask_2_workers"):
    getattr(DaskPredict, _name).unit = "samples/s"
DaskPredict.track_ratio_2_workers_to_1.unit = "x"
DaskPredict.track_ratio_dask_to_local_at_2_cores.unit = "x"
