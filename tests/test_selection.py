"""Choosing a backend: names, MLPKIT_BACKEND, set_backend, use_backend, per-model argument."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mlpkit
from conftest import backend_or_skip
from mlpkit.backends import registry

PACKAGE_PARENT = str(Path(mlpkit.__file__).resolve().parents[1])


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter that imports this mlpkit; return its stdout."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLPKIT_BACKEND"}
    full_env.update(env, PYTHONPATH=PACKAGE_PARENT)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_loads_neither_numba_nor_cupy():
    out = run_python(
        "import sys, mlpkit, mlpkit.datasets, mlpkit.backends;"
        "print(sorted(m for m in ('numba', 'cupy', 'llvmlite') if m in sys.modules))",
        MLPKIT_BACKEND="numba",  # an env var is only read when a backend is resolved
    )
    assert out == "[]"


def test_env_var_is_read_at_first_use_not_at_import():
    backend_or_skip("numba")
    out = run_python(
        "import os, mlpkit; os.environ['MLPKIT_BACKEND'] = ' NumPy '; print(mlpkit.MLP([2, 2]).backend)",
        MLPKIT_BACKEND="numba",
    )
    assert out == "numpy"


@pytest.mark.parametrize("raw, expected", [("numpy", "numpy"), ("  NUMPY\n", "numpy"), ("", None), ("   ", None)])
def test_env_var_normalised(monkeypatch, raw, expected):
    monkeypatch.setenv("MLPKIT_BACKEND", raw)
    auto = registry.get_backend("auto").name
    assert mlpkit.get_backend().name == (expected or auto)


def test_env_var_unknown_name(monkeypatch):
    monkeypatch.setenv("MLPKIT_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match=r"MLPKIT_BACKEND must be one of \['numpy', 'numba', 'cupy', 'auto'\]; received 'tensorflow'"):
        mlpkit.MLP([2, 2])


def test_auto_prefers_numba_when_usable():
    expected = "numba" if mlpkit.available_backends()["numba"] is None else "numpy"
    assert mlpkit.get_backend("auto").name == expected
    assert mlpkit.get_backend().name == expected


def test_auto_falls_back_to_numpy_without_numba():
    out = run_python(
        "import sys; sys.modules['numba'] = None\n"  # make `import numba` fail
        "import mlpkit\n"
        "print(mlpkit.get_backend().name, mlpkit.available_backends()['numba'] is not None)"
    )
    assert out == "numpy True"


def test_explicit_unavailable_backend_raises_with_fix():
    out = run_python(
        "import sys; sys.modules['numba'] = None\n"
        "import mlpkit\n"
        "try:\n    mlpkit.MLP([2, 2], backend='numba')\n"
        "except mlpkit.BackendUnavailable as e:\n    print(isinstance(e, ImportError), '|', e)"
    )
    assert out.startswith("True | backend 'numba' cannot be used")
    assert "pip install 'mlpkit[numba]'" in out


def test_cupy_without_gpu_is_unavailable_with_reason():
    reason = mlpkit.available_backends()["cupy"]
    if reason is None:
        pytest.skip("a CUDA device is usable here")
    assert reason.startswith("backend 'cupy' cannot be used")
    with pytest.raises(mlpkit.BackendUnavailable, match="cupy"):
        mlpkit.get_backend("cupy")
    with pytest.raises(mlpkit.BackendUnavailable):
        mlpkit.set_backend("cupy")  # fails at once, and leaves the previous choice in place
    assert mlpkit.get_backend().name != "cupy"


@pytest.mark.parametrize("outcome, says", [
    (RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version"),
     "the NVIDIA driver is missing or too old for this CuPy's CUDA runtime (cudaErrorInsufficientDriver"),
    (RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected"), "no CUDA device (cudaErrorNoDevice"),
    (OSError("libcuda.so: cannot open shared object file"), "no usable CUDA device or driver (libcuda.so"),
    (0, "CuPy sees no CUDA device"),
])
def test_cupy_probe_says_why_for_each_failure(monkeypatch, outcome, says):
    """A stand-in cupy module whose getDeviceCount() fails or finds nothing (no GPU code runs)."""
    import sys
    import types

    from mlpkit.backends.cupy_backend import probe

    def count():
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=count)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(mlpkit.BackendUnavailable) as err:
        probe()
    assert says in str(err.value) and "To fix: pip install 'mlpkit[cuda12]'" in str(err.value)


def test_available_backends_lists_every_name():
    found = mlpkit.available_backends()
    assert list(found) == ["numpy", "numba", "cupy"]
    assert found["numpy"] is None
    assert all(v is None or isinstance(v, str) for v in found.values())


def test_precedence_argument_context_set_env(monkeypatch):
    backend_or_skip("numba")
    monkeypatch.setenv("MLPKIT_BACKEND", "numba")
    assert mlpkit.MLP([2, 2]).backend == "numba"  # env var
    mlpkit.set_backend("numpy")
    assert mlpkit.MLP([2, 2]).backend == "numpy"  # set_backend beats env var
    with mlpkit.use_backend("numba") as ops:
        assert ops.name == "numba"
        assert mlpkit.MLP([2, 2]).backend == "numba"  # context beats set_backend
        assert mlpkit.MLP([2, 2], backend="numpy").backend == "numpy"  # argument beats context
        with mlpkit.use_backend("numpy"):
            assert mlpkit.get_backend().name == "numpy"  # innermost context wins
        assert mlpkit.get_backend().name == "numba"
    assert mlpkit.MLP([2, 2]).backend == "numpy"  # context restored
    mlpkit.set_backend(None)
    assert mlpkit.MLP([2, 2]).backend == "numba"  # back to the env var


def test_model_keeps_its_backend_after_the_context_ends():
    backend_or_skip("numba")
    with mlpkit.use_backend("numba"):
        model = mlpkit.MLP([3, 2])
    with mlpkit.use_backend("numpy"):
        assert model.backend == "numba"
        assert model.predict([1, 2, 3]).shape == (2,)


def test_use_backend_validates_on_entry():
    with pytest.raises(ValueError, match="received 'nunpy'"):
        with mlpkit.use_backend("nunpy"):
            pass


def test_ops_instance_can_be_passed():
    ops = mlpkit.get_backend("numpy")
    assert mlpkit.MLP([2, 2], backend=ops).backend == "numpy"
