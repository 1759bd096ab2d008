"""Thread control: set_num_threads, num_threads(), MLPKIT_NUM_THREADS (BLAS via threadpoolctl)."""

import json
import os
import subprocess
import sys

import pytest

import mlpkit
from test_selection import PACKAGE_PARENT

threadpoolctl = pytest.importorskip("threadpoolctl", reason="thread control needs threadpoolctl")


def blas_threads():
    return {i["internal_api"]: i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def test_context_manager_limits_and_restores():
    before = blas_threads()
    with mlpkit.num_threads(1):
        assert set(blas_threads().values()) == {1}
        mlpkit.MLP([3, 2], backend="numpy").predict([1, 2, 3])
    assert blas_threads() == before


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", None])
def test_bad_thread_counts(bad):
    with pytest.raises(ValueError, match="must be a positive integer"):
        mlpkit.set_num_threads(bad)
    with pytest.raises(ValueError, match="must be a positive integer"):
        with mlpkit.num_threads(bad):
            pass


def test_env_var_applied_at_first_backend_use():
    code = (
        "import json, threadpoolctl, mlpkit\n"
        "blas = lambda: sorted({i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'})\n"
        "import numpy\n"
        "before = blas(); mlpkit.get_backend('numpy'); print(json.dumps([before, blas()]))"
    )
    env = dict(os.environ, MLPKIT_NUM_THREADS=" 1 ", PYTHONPATH=PACKAGE_PARENT)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    before, after = json.loads(done.stdout)
    assert after == [1], (before, after)


def test_bad_env_var():
    env = dict(os.environ, MLPKIT_NUM_THREADS="lots", PYTHONPATH=PACKAGE_PARENT)
    done = subprocess.run([sys.executable, "-c", "import mlpkit; mlpkit.get_backend('numpy')"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0 and "MLPKIT_NUM_THREADS must be a positive integer; received 'lots'" in done.stderr


def test_numba_follows_the_limit():
    if mlpkit.available_backends()["numba"] is not None:
        pytest.skip(mlpkit.available_backends()["numba"])
    mlpkit.get_backend("numba")
    with mlpkit.num_threads(1):
        assert mlpkit.get_num_threads()["numba"] == 1


def test_thread_counts_above_the_cpus_are_capped_with_a_warning():
    from mlpkit.backends import threads

    cpus = threads.usable_cpus()
    with pytest.warns(RuntimeWarning, match=f"number of threads 1000 is more than the {cpus} CPUs this process may use; using {cpus}"):
        with mlpkit.num_threads(1000):
            assert set(blas_threads().values()) == {cpus}
            assert threads.compute_threads() <= cpus


def test_env_var_above_the_cpus_is_capped():
    code = (
        "import json, warnings, threadpoolctl, mlpkit\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    mlpkit.MLP([3, 2], backend='numpy')\n"
        "print(json.dumps([sorted({i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'}),"
        " [str(x.message) for x in w]]))\n"
    )
    env = dict(os.environ, MLPKIT_NUM_THREADS="1000", PYTHONPATH=str(PACKAGE_PARENT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    counts, messages = json.loads(out.stdout)
    from mlpkit.backends import threads

    assert counts == [threads.usable_cpus()]
    assert any("MLPKIT_NUM_THREADS 1000 is more than" in m for m in messages)


def test_the_process_limit_holds_in_threads_that_never_set_one():
    """Numba's thread count is per thread: a server's worker thread would see every CPU."""
    import threading

    from mlpkit.backends import row_scheduler, threads

    reason = mlpkit.available_backends()["numba"]
    if reason is not None:
        pytest.skip(reason)
    mlpkit.get_backend("numba")  # Numba loaded: its per-thread count is what the limit must override
    seen = []
    with mlpkit.num_threads(1):
        worker = threading.Thread(target=lambda: seen.append((threads.compute_threads(), len(row_scheduler.row_parts(100_000, 1e6)))))
        worker.start()
        worker.join()
    assert seen == [(1, 1)]


def test_an_invalid_env_value_raises_at_every_use_not_once():
    code = (
        "import mlpkit\n"
        "for _ in range(3):\n"
        "    try:\n"
        "        mlpkit.MLP([3, 2], backend='numpy')\n"
        "    except ValueError as exc:\n"
        "        print('raised', exc)\n"
    )
    env = dict(os.environ, MLPKIT_NUM_THREADS="lots", PYTHONPATH=str(PACKAGE_PARENT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.count("raised MLPKIT_NUM_THREADS must be a positive integer; received 'lots'") == 3


FORK = r"""
import os, sys, threading, time
import mlpkit
from mlpkit.backends import registry
held = threading.Event()
def hold():  # another thread in the middle of loading a backend, holding the registry lock
    with registry._lock:
        held.set()
        time.sleep(3)
threading.Thread(target=hold, daemon=True).start()
held.wait()
pid = os.fork()
if pid == 0:
    mlpkit.MLP([3, 2], backend="numpy").predict([1.0, 2.0, 3.0])
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_another_thread_loads_a_backend_does_not_deadlock_the_child():
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_PARENT))
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", FORK], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "child exit 0" in out.stdout
