"""Where the Numba kernels are cached and what a cold and a warm start compile (subprocesses with
their own cache directory; the times are printed, not asserted: speed targets live in the bench)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import backend_or_skip

SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import mlpkit
from numba.core import event
from mlpkit.backends.numba_backend import announce_compiles
said = []
announce_compiles(said.append)
compiles = []
class Count(event.Listener):
    def on_start(self, ev):
        if ev.data["dispatcher"].py_func.__module__.startswith("mlpkit.kernels"):
            compiles.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Count())
model = mlpkit.load_pretrained("mnist-m1", backend="numba")
x = np.random.default_rng(0).random((256, 784)).astype(np.float32)
t1 = time.perf_counter()
model.predict(x[0] if sys.argv[1] == "single" else x)
t2 = time.perf_counter()
print(json.dumps({"compiles": compiles, "said": said, "first_predict_s": t2 - t1, "from_start_s": t2 - t0}))
"""


@pytest.fixture(autouse=True)
def numba_ops():
    return backend_or_skip("numba")


def _run(kind, env):
    out = subprocess.run([sys.executable, "-c", SCRIPT, kind], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "MLPKIT_NUMBA_ISA")}
    env.update(changes)
    return env


@pytest.mark.parametrize("kind", ["single", "batch"])
def test_cold_start_compiles_once_and_a_warm_start_loads_the_cache(tmp_path, kind):
    import mlpkit

    env = _env(NUMBA_CACHE_DIR=str(tmp_path))
    cold = _run(kind, env)
    warm = _run(kind, env)
    print(f"{kind}: cold first predict {cold['first_predict_s']:.2f} s ({cold['from_start_s']:.2f} s from start), "
          f"warm {warm['first_predict_s']:.2f} s ({warm['from_start_s']:.2f} s from start)")
    assert cold["compiles"], "an empty cache must compile"
    assert len(cold["said"]) == 1 and str(tmp_path) in cold["said"][0] and "mlpkit warmup" in cold["said"][0]
    assert list(tmp_path.rglob("*.nbi")), "the compiled kernels go to NUMBA_CACHE_DIR"
    assert warm["compiles"] == [] and warm["said"] == [], "a warm cache compiles nothing and says nothing"
    assert not list(Path(mlpkit.__file__).parent.rglob("*.nbi")), "nothing is cached inside the package"


def test_default_cache_is_the_per_user_cache(tmp_path):
    _run("single", _env(XDG_CACHE_HOME=str(tmp_path)))
    assert list((tmp_path / "mlpkit" / "numba").rglob("*.nbi"))


def test_any_kernel_source_change_invalidates_the_cache(tmp_path):
    """Numba stamps a cached function with its own file only; the micro-kernels come from others."""
    from mlpkit.kernels import numba_jit

    kernels = Path(numba_jit.__file__).parent
    for src in kernels.glob("numba_*.py"):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    before = numba_jit.sources_digest(tmp_path)
    assert before == numba_jit.sources_digest(kernels)
    (tmp_path / "numba_gemm.py").write_text((tmp_path / "numba_gemm.py").read_text() + "\n# changed\n")
    assert numba_jit.sources_digest(tmp_path) != before
    from mlpkit.kernels import numba_cpu as K

    stamp = K.forward_panels._cache._impl.locator.get_source_stamp()
    assert stamp[1] == before


def test_warmup_command_compiles_every_inference_kernel(capsys):
    from mlpkit import cli

    assert cli.main(["warmup", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    for what in ("float32 single sample", "float32 small batch", "float32 batch", "kernels cached in"):
        assert what in out
    assert cli.main(["warmup", "--dtype", "float16"]) == 2
    assert "dtype must be one of ['float32', 'float64']; received 'float16'" in capsys.readouterr().err


DAMAGE = r"""
import json, warnings
import numpy as np
import mlpkit
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    y = mlpkit.MLP([20, 7, 3], backend="numba", seed=0).predict(np.ones((40, 20)))
print(json.dumps([bool(np.isfinite(y).all()), [str(x.message) for x in w]]))
"""


def test_a_damaged_cache_is_compiled_again_with_one_warning(tmp_path):
    env = _env(NUMBA_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", DAMAGE], env=env, capture_output=True, text=True, timeout=300, check=True)
    damaged = list(tmp_path.rglob("*.nbc"))
    assert damaged
    for path in damaged:
        path.write_bytes(b"\x80\x04 this is not a pickle")
    out = subprocess.run([sys.executable, "-c", DAMAGE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    finite, messages = json.loads(out.stdout.strip().splitlines()[-1])
    assert finite
    said = [m for m in messages if "could not be loaded" in m]
    assert len(said) == 1 and "compiling it again" in said[0]
    again = subprocess.run([sys.executable, "-c", DAMAGE], env=env, capture_output=True, text=True, timeout=300, check=True)
    assert not [m for m in json.loads(again.stdout.strip().splitlines()[-1])[1] if "could not be loaded" in m]  # rewritten
