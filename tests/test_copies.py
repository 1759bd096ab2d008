"""Every way of copying a model gives one that predicts and trains like the original: the copied
layers stay views of the copied flat parameters (mlp/parameters.py)."""

import copy
import pickle
from concurrent.futures import ProcessPoolExecutor

import multiprocessing as mp
import numpy as np
import pytest

import mlpkit
from conftest import backend_or_skip

CPU = ["numpy", "numba"]
HIDDEN = ["relu", "tanh", "identity", "sigmoid", "leaky_relu"]


def _data(n=400, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    return x, (x[:, 0] * k).astype(int).clip(0, k - 1)


def _fit_losses(model, x, t):
    return model.fit(x, t, epochs=3, batch_size=32, seed=1, verbose=False).loss


def _joblib_copy(model):
    joblib = pytest.importorskip("joblib", reason="joblib comes with scikit-learn (the test extra)")
    import io

    buf = io.BytesIO()
    joblib.dump(model, buf)
    buf.seek(0)
    return joblib.load(buf)


def _cloudpickle_copy(model):
    """Dask ships tasks and their arguments with cloudpickle."""
    try:
        import cloudpickle
    except ImportError:
        cloudpickle = pytest.importorskip("joblib.externals.cloudpickle", reason="needs cloudpickle (Dask's serializer)")
    return cloudpickle.loads(cloudpickle.dumps(model))


def _sklearn_clone(model):
    base = pytest.importorskip("sklearn.base", reason="needs scikit-learn")
    return base.clone(model, safe=False)  # not an estimator: clone deep-copies it


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "joblib", "cloudpickle", "sklearn.clone"])
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("name", CPU)
def test_a_copy_predicts_and_trains_like_the_original(name, hidden, how):
    backend_or_skip(name)
    x, t = _data()
    original = mlpkit.MLP([12, 8, 3], hidden, backend=name, seed=0, dtype="float64")
    original.metadata = {"note": ["kept"]}
    clone = {"pickle": lambda m: pickle.loads(pickle.dumps(m)), "deepcopy": copy.deepcopy, "joblib": _joblib_copy,
             "cloudpickle": _cloudpickle_copy, "sklearn.clone": _sklearn_clone}[how](original)
    np.testing.assert_array_equal(clone.predict(x), original.predict(x))
    assert clone.metadata == original.metadata and clone.backend == original.backend
    before = clone.predict(x)
    losses_clone = _fit_losses(clone, x, t)
    losses_original = _fit_losses(original, x, t)
    np.testing.assert_allclose(losses_clone, losses_original, rtol=1e-12)
    assert losses_clone[-1] < losses_clone[0]  # it trained
    assert not np.array_equal(clone.predict(x), before)  # and its predictions follow its weights
    np.testing.assert_array_equal(clone.predict(x), original.predict(x))


def _train_remote(payload):
    model, x, t = pickle.loads(payload)
    losses = _fit_losses(model, x, t)
    return losses, model.predict(x)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_model_trains_in_a_process_pool_like_at_home(method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"the {method!r} start method does not exist on this platform")
    x, t = _data(n=200)
    model = mlpkit.MLP([12, 8, 3], "relu", backend="numpy", seed=0, dtype="float64")
    with ProcessPoolExecutor(1, mp_context=mp.get_context(method)) as pool:
        remote_losses, remote_pred = pool.submit(_train_remote, pickle.dumps((model, x, t))).result(timeout=240)
    local_losses = _fit_losses(model, x, t)
    np.testing.assert_allclose(remote_losses, local_losses, rtol=1e-12)
    np.testing.assert_allclose(remote_pred, model.predict(x), rtol=1e-12)


def test_a_copy_does_not_share_parameters_with_the_original():
    x, t = _data()
    original = mlpkit.MLP([12, 8, 3], backend="numpy", seed=0)
    clone = copy.deepcopy(original)
    before = original.predict(x)
    _fit_losses(clone, x, t)
    np.testing.assert_array_equal(original.predict(x), before)
