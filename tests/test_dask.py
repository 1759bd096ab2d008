"""mlpkit.dask: batch inference on Dask arrays, .npy files and Zarr arrays, on the threaded
scheduler and on a 2-process LocalCluster (started once for the module)."""

import os
import pickle

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="dask is not installed (pip install 'mlpkit[dask]')")
da = pytest.importorskip("dask.array", reason="dask[array] is not installed (pip install 'mlpkit[dask]')")
distributed = pytest.importorskip("distributed", reason="distributed is not installed (pip install 'mlpkit[dask]')")

import mlpkit  # noqa: E402
import mlpkit.dask as md  # noqa: E402
from conftest import BACKENDS, backend_or_skip  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).random((3000, 784), dtype=np.float32)


def _inputs(x, tmp_path, kind):
    if kind == "dask":
        return da.from_array(x, chunks=(700, 784))
    if kind == "npy":
        np.save(tmp_path / "x.npy", x)
        return str(tmp_path / "x.npy")
    zarr = pytest.importorskip("zarr", reason="zarr is not installed (pip install 'mlpkit[dask]')")
    z = zarr.open_array(str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(500, 784), dtype=x.dtype)
    z[:] = x
    return str(tmp_path / "x.zarr")


def _local(model, x, rows=None):
    """Local predict (and classes) of x, at one thread as each block runs. The Numba kernels
    compute a row the same way in any batch, so one local call is the reference; OpenBLAS picks
    its kernels by the matrix size (a row at the edge of a block is summed in another order,
    ~1e-7 relative in float32), so for the NumPy backend the reference predicts the same blocks
    of ``rows`` rows."""
    with mlpkit.num_threads(1):
        if model.backend == "numpy" and rows:
            parts = [x[i : i + rows] for i in range(0, len(x), rows)]
            return np.concatenate([model.predict(p) for p in parts]), np.concatenate([model.predict_classes(p) for p in parts])
        return model.predict(x), model.predict_classes(x)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "cupy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["dask", "npy", "zarr"])
def test_threaded_scheduler_is_bit_identical_to_local_predict(backend, dtype, kind, data, tmp_path):
    backend_or_skip(backend)
    model = mlpkit.MLP([784, 50, 100, 10], activation="sigmoid", backend=backend, dtype=dtype, seed=0)
    y = md.predict(model, _inputs(data, tmp_path, kind))
    assert y.dtype == np.dtype(dtype) and y.shape == (3000, 10) and y.chunks[1] == (10,)
    assert type(y._meta) is np.ndarray and y._meta.dtype == np.dtype(dtype) and y._meta.ndim == 2
    rows = {"dask": 700, "npy": md.DEFAULT_CHUNK_ROWS, "zarr": 500}[kind]
    assert y.chunks[0][0] == min(rows, 3000)
    want, classes = _local(model, data, rows)
    # BLAS thread limits are process-wide: blocks running side by side on the threaded scheduler
    # would change each other's, so the process runs at one thread (each block asks for one)
    with mlpkit.num_threads(1):
        np.testing.assert_array_equal(y.compute(scheduler="threads"), want)
        np.testing.assert_array_equal(md.predict_classes(model, _inputs(data, tmp_path, kind)).compute(scheduler="threads"), classes)


@pytest.mark.parametrize("kind", ["dask", "npy", "zarr"])
def test_distributed_cluster_is_bit_identical(client, kind, data, tmp_path):
    model = mlpkit.load_pretrained()
    y = client.compute(md.predict(model, _inputs(data, tmp_path, kind))).result()
    np.testing.assert_array_equal(y, _local(model, data)[0])


def test_the_model_enters_the_graph_once(data, tmp_path):
    np.save(tmp_path / "x.npy", data)
    model = mlpkit.load_pretrained()
    sizes = {}
    for rows in (1000, 30):
        graph = dict(md.predict(model, str(tmp_path / "x.npy"), chunk_rows=rows).__dask_graph__())
        sizes[rows] = len(pickle.dumps(graph))
    model_bytes = len(pickle.dumps(model))
    assert sizes[1000] < 1.5 * model_bytes and sizes[30] < 1.5 * model_bytes  # 3 chunks or 100: the model once


def test_zero_row_chunks_and_bad_inputs(data):
    model = mlpkit.load_pretrained(backend="numpy")
    x = da.from_array(data[:100], chunks=((0, 60, 0, 40), 784))
    np.testing.assert_array_equal(md.predict(model, x).compute(scheduler="sync"), _local(model, data[:100])[0])
    assert md.predict_classes(model, x).compute(scheduler="sync").shape == (100,)
    with pytest.raises(ValueError, match="X has 5 features; the model takes 784"):
        md.predict(model, da.zeros((10, 5)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        md.predict(model, da.zeros(10))
    with pytest.raises(TypeError, match="model must be an mlpkit.MLP"):
        md.predict("m.npz", da.zeros((10, 784)))


def test_a_worker_killed_during_the_computation_is_recovered(client, data):
    model = mlpkit.load_pretrained()
    x = np.concatenate([data] * 8)
    future = client.compute(md.predict(model, da.from_array(x, chunks=(100, 784))))
    victim = sorted(client.scheduler_info()["workers"])[0]

    async def die():
        os._exit(1)  # the worker process ends at once, tasks in hand; its nanny starts a new one

    client.run(die, workers=[victim], wait=False)
    np.testing.assert_array_equal(future.result(timeout=120), _local(model, x)[0])
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.scheduler_info()["workers"], "the worker was replaced (it did die)"


def test_warm_up_plugin_compiles_on_every_worker(client):
    if mlpkit.available_backends()["numba"] is not None:
        pytest.skip(mlpkit.available_backends()["numba"])
    md.warm_up_workers(client, ["float32"])

    def compiled():
        from mlpkit.backends import numba_backend

        return numba_backend._entry_points.cache_info().currsize

    assert all(n >= 1 for n in client.run(compiled).values())


def test_dask_ml_parallel_post_fit_wraps_the_estimator(data):
    dask_ml = pytest.importorskip("dask_ml.wrappers", reason="dask-ml is not installed (optional)")
    sk = pytest.importorskip("mlpkit.sklearn", reason="scikit-learn is not installed")
    labels = (data[:, 0] > 0.5).astype(int)
    est = dask_ml.ParallelPostFit(sk.MLPClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0, backend="numpy"))
    est.fit(data[:500], labels[:500])
    got = est.predict(da.from_array(data, chunks=(1000, 784))).compute(scheduler="sync")
    np.testing.assert_array_equal(got, est.estimator.predict(data))


def test_cli_predict_on_a_local_cluster_writes_npy_and_zarr(data, tmp_path, capsys):
    zarr = pytest.importorskip("zarr", reason="zarr is not installed (pip install 'mlpkit[dask]')")
    from mlpkit import cli

    np.save(tmp_path / "x.npy", data)
    model_path = str(tmp_path / "m.npz")
    mlpkit.save(mlpkit.load_pretrained(), model_path)
    model = mlpkit.load(model_path)
    argv = ["predict", model_path, str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.zarr"), "--dask", "local:2",
            "--batch-size", "700", "--quiet"]
    assert cli.main(argv) == 0
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "y.zarr"), mode="r")[:], _local(model, data)[0])
    assert cli.main(["predict", model_path, str(tmp_path / "x.npy"), "-o", str(tmp_path / "c.npy"), "--dask", "local:1",
                     "--classes", "--quiet"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), _local(model, data)[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy", "m.npz", "x.npy", "y.zarr"]  # no temporary left
    capsys.readouterr()
    assert cli.main(["predict", model_path, str(tmp_path / "x.npy"), "-o", str(tmp_path / "z.npy"), "--dask", "local:0"]) == 2
    assert "--dask local:N needs a number of workers N >= 1" in capsys.readouterr().err
    assert cli.main(["predict", model_path, str(tmp_path / "x.npy"), "-o", str(tmp_path / "z.csv"), "--dask", "local:1"]) == 2
    assert "with --dask the output must be .npy or .zarr" in capsys.readouterr().err


def test_bench_dask_runs_and_reports_the_ratios(tmp_path):
    from mlpkit import bench_dask

    rows = bench_dask.run("M1", "float32", rows=4000, workers=(1, 2), repeats=1, chunk_rows=1000, folder=str(tmp_path))
    assert [(r.name, r.cores) for r in rows] == [("local predict", 1), ("local predict", 2), ("dask, 1 worker", 1),
                                                 ("dask, 2 workers", 2)]
    assert all(r.samples_per_s > 0 for r in rows)
    text = bench_dask.format_rows(rows)
    assert "2 workers / 1 worker:" in text and "(target >= 0.7x)" in text
    assert list(tmp_path.iterdir()) == []  # the rows file is removed
