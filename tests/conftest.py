"""Backend x dtype fixtures: ids like ``test_x[numba-float32]``; unavailable backends skip with
the probe's reason unless listed in MLPKIT_REQUIRE_BACKENDS (then they fail)."""

import os
from pathlib import Path

import numpy as np
import pytest

import mlpkit
from mlpkit.backends.registry import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
# The shared data folder: MLPKIT_SHARED_DIR if set (the GPU kit points it at a copy inside the
# repository), else ../shared beside the repository.
SHARED = Path(os.environ.get("MLPKIT_SHARED_DIR") or ROOT.parent / "shared")
MNIST_DIR = SHARED / "data" / "mnist"
SAMPLE_WEIGHTS = SHARED / "data" / "sample_weight.npz"
DTYPES = ("float32", "float64")


def required_backends():
    raw = os.environ.get("MLPKIT_REQUIRE_BACKENDS", "")
    return {name.strip().lower() for name in raw.split(",") if name.strip()}


def backend_or_skip(name):
    """The Ops for ``name``; skip with the reason if unusable, fail if it is required."""
    reason = mlpkit.available_backends()[name]
    if reason is None:
        return mlpkit.get_backend(name)
    if name in required_backends():
        pytest.fail(f"backend {name!r} is listed in MLPKIT_REQUIRE_BACKENDS but cannot be used: {reason}")
    pytest.skip(reason)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return backend_or_skip(request.param)


@pytest.fixture(params=DTYPES)
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def mnist_test():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST files not found at {MNIST_DIR} (the shared data folder beside the repository)")
    from mlpkit.datasets import load_mnist

    return load_mnist(MNIST_DIR)[1]


@pytest.fixture(scope="session")
def sample_weights():
    if not SAMPLE_WEIGHTS.is_file():
        pytest.skip(f"{SAMPLE_WEIGHTS} not found (the shared data folder beside the repository)")
    with np.load(SAMPLE_WEIGHTS, allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


@pytest.fixture(autouse=True)
def _clean_backend_choice(monkeypatch):
    """No test leaks a set_backend() choice or an MLPKIT_BACKEND value into another."""
    monkeypatch.delenv("MLPKIT_BACKEND", raising=False)
    yield
    mlpkit.set_backend(None)


@pytest.fixture(scope="session")
def mnist_train_test():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST files not found at {MNIST_DIR} (the shared data folder beside the repository)")
    from mlpkit.datasets import load_mnist

    return load_mnist(MNIST_DIR)


def pytest_collection_modifyitems(items):
    """Every test parametrised with the cupy backend carries the ``gpu`` marker, so on a GPU
    machine ``pytest -m gpu`` runs the whole agreement suite on CuPy (here they skip with the
    probe's reason)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("backend") == "cupy" or params.get("name") == "cupy":
            item.add_marker(pytest.mark.gpu)


@pytest.fixture(scope="session")
def cuda_host_lib(tmp_path_factory):
    """The CUDA kernel sources compiled for the host (tests/cuda_on_host.py); NOT GPU coverage."""
    import cuda_on_host

    if cuda_on_host.host_compiler() is None:
        pytest.skip("no host C++ compiler (g++ or c++) on PATH to run the CUDA kernel sources on the host")
    return cuda_on_host.build_host_library(tmp_path_factory.mktemp("cuda_on_host"))


def find_blas_pools_again(monkeypatch):
    """Make mlpkit find the BLAS pools again at its next use (after the test patched how), and
    put what it had found back when the test ends."""
    from mlpkit.backends import blas_pools

    for name in ("_pools", "_blas_shared", "_blas_local"):
        monkeypatch.setattr(blas_pools, name, getattr(blas_pools, name))
    blas_pools._pools = None
