"""scikit-learn and PyTorch models in: parity with the source library's own predictions."""

import warnings

import numpy as np
import pytest

import mlpkit

sklearn_nn = pytest.importorskip("sklearn.neural_network", reason="scikit-learn is a test dependency (pip install scikit-learn)")


def fitted(kind, activation, n_classes=3, n_out=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few iterations are enough here
        if kind == "classifier":
            y = rng.integers(0, n_classes, 120)
            est = sklearn_nn.MLPClassifier(hidden_layer_sizes=(7, 4), activation=activation, max_iter=30, random_state=seed).fit(x, y)
        elif kind == "multilabel":
            y = rng.integers(0, 2, (120, 3))
            est = sklearn_nn.MLPClassifier(hidden_layer_sizes=(6,), activation=activation, max_iter=30, random_state=seed).fit(x, y)
        else:
            y = rng.normal(size=(120, n_out)) if n_out > 1 else rng.normal(size=120)
            est = sklearn_nn.MLPRegressor(hidden_layer_sizes=(6,), activation=activation, max_iter=30, random_state=seed).fit(x, y)
    return est, rng.normal(size=(40, 5))


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("case", ["multiclass", "binary", "multilabel", "regressor", "regressor-2d"])
def test_sklearn_parity(backend, activation, case):
    kind = {"multiclass": "classifier", "binary": "classifier"}.get(case, case.split("-")[0])
    est, x = fitted(kind, activation, n_classes=2 if case == "binary" else 3, n_out=2 if case == "regressor-2d" else 1)
    model = mlpkit.MLP.from_sklearn(est, backend=backend)
    assert model.dtype == "float64"
    if kind == "regressor":
        expect = est.predict(x).reshape(len(x), -1)
    else:
        expect = est.predict_proba(x)
    got = model.predict(x)
    np.testing.assert_allclose(got, expect, rtol=1e-10, atol=1e-14)
    if case in ("multiclass", "binary"):
        np.testing.assert_array_equal(np.asarray(model.metadata["classes"])[model.predict_classes(x)], est.predict(x))


def test_sklearn_errors():
    with pytest.raises(TypeError, match="expected a fitted sklearn MLPClassifier or MLPRegressor; received LinearRegression"):
        from sklearn.linear_model import LinearRegression

        mlpkit.MLP.from_sklearn(LinearRegression())
    with pytest.raises(ValueError, match="not fitted"):
        mlpkit.MLP.from_sklearn(sklearn_nn.MLPClassifier())


torch = pytest.importorskip("torch", reason="PyTorch is an optional test dependency (pip install torch==2.13.0)")


@pytest.mark.parametrize("act", [torch.nn.ReLU, torch.nn.Sigmoid, torch.nn.Tanh, lambda: torch.nn.LeakyReLU(0.01)])
def test_torch_parity(backend, dtype, act):
    torch.manual_seed(0)
    tdtype = torch.float32 if dtype == "float32" else torch.float64
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 8), act(), torch.nn.Dropout(0.5),
                              torch.nn.Linear(8, 3), torch.nn.Softmax(dim=-1)).to(tdtype).eval()
    model = mlpkit.MLP.from_torch(net, backend=backend)
    assert model.dtype == dtype and model.layer_sizes == (6, 8, 3)
    x = np.random.default_rng(1).normal(size=(10, 6)).astype(dtype)
    with torch.no_grad():
        expect = net(torch.from_numpy(x)).numpy()
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(model.predict(x), expect, rtol=tol, atol=tol)


def test_torch_state_dict_and_errors():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).double()
    model = mlpkit.MLP.from_torch(net.state_dict(), ["relu", "identity"], backend="numpy")
    x = np.random.default_rng(0).normal(size=(5, 4))
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(x), net(torch.from_numpy(x)).numpy(), rtol=1e-12)
    assert mlpkit.MLP.from_torch(net, backend="numpy").activations == ("relu", "identity")
    with pytest.raises(ValueError, match=r"module 1 \(Conv1d\) is not supported"):
        mlpkit.MLP.from_torch(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Conv1d(1, 1, 1)))
    with pytest.raises(ValueError, match="LeakyReLU\\(negative_slope=0.2\\) is not supported"):
        mlpkit.MLP.from_torch(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LeakyReLU(0.2)))
