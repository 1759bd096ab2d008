"""BLAS thread counts changed from any thread, and the counted hold at one thread
(mlpkit.backends.blas_pools), read back through threadpoolctl."""

import os
import subprocess
import sys
import threading

import pytest

import mlpkit
from mlpkit.backends import blas_pools, threads
from conftest import find_blas_pools_again
from test_selection import PACKAGE_PARENT

threadpoolctl = pytest.importorskip("threadpoolctl", reason="thread control needs threadpoolctl")
BLAS = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
pytestmark = pytest.mark.skipif(not BLAS, reason="threadpoolctl finds no BLAS library in this process")
PROCESS_WIDE = bool(BLAS) and all(i.get("threading_layer") != "openmp" for i in BLAS)


def blas_counts():
    return sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})


@pytest.fixture
def two_threads(monkeypatch):
    """BLAS at 2 threads (the CI machine's cores) for the test, the process's limits back after."""
    if threads.usable_cpus() < 2:
        pytest.skip(f"needs 2 usable CPUs to tell 1 thread from the default; this process may use {threads.usable_cpus()}")
    monkeypatch.setattr(threads, "_limit", threads._limit)
    before = blas_pools.set_counts(2)
    yield
    blas_pools.set_counts(before)


@pytest.mark.parametrize("through", ["the library's own functions", "threadpoolctl"])
def test_a_limit_set_in_a_worker_thread_holds_after_the_main_thread_set_one(two_threads, through, monkeypatch):
    """threadpoolctl alone ignores every thread but the one that set a count first; mlpkit sets
    OpenBLAS itself, and other libraries through threadpoolctl after handing it control."""
    if through == "threadpoolctl":
        monkeypatch.setattr(blas_pools, "_openblas_functions", lambda path: None)
        find_blas_pools_again(monkeypatch)
    mlpkit.set_num_threads(2)  # the main thread takes threadpoolctl's control
    seen = []

    def worker():
        with mlpkit.num_threads(1):
            seen.append(blas_counts())
        seen.append(blas_counts())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [[1], [2]]


@pytest.mark.skipif(not PROCESS_WIDE, reason="the hold covers other threads only where BLAS has one process-wide count")
def test_holds_from_several_threads_keep_blas_at_one_until_the_last_ends(two_threads):
    inside, go, done = [], threading.Barrier(4), threading.Barrier(4)

    def worker():
        with blas_pools.single_thread_blas() as hold:
            go.wait()  # all four inside at once
            inside.append((hold.held, hold.threads, blas_counts()))
            done.wait()

    ts = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert inside == [(True, 2, [1])] * 4  # held, and 2 threads outside the holds
    assert blas_counts() == [2]
    assert blas_pools._holds == 0


@pytest.mark.skipif(not PROCESS_WIDE, reason="the hold covers other threads only where BLAS has one process-wide count")
def test_a_limit_set_during_a_hold_applies_when_the_hold_ends(two_threads):
    with blas_pools.single_thread_blas():
        with mlpkit.num_threads(2):
            assert blas_counts() == [1]  # still held
            assert set(v for k, v in mlpkit.get_num_threads().items() if k != "numba") == {2}  # the count outside the hold
        mlpkit.set_num_threads(1)
        with blas_pools.single_thread_blas() as inner:
            assert inner.threads == 1  # the count outside the holds, now 1
    assert blas_counts() == [1]
    mlpkit.set_num_threads(2)
    assert blas_counts() == [2]


FORK = r"""
import os, threading
import threadpoolctl
from mlpkit.backends import blas_pools
blas = lambda: sorted({i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'})
blas_pools.set_counts(2)
inside, release = threading.Event(), threading.Event()
def hold():
    with blas_pools.single_thread_blas():
        inside.set()
        release.wait()
t = threading.Thread(target=hold)
t.start()
inside.wait()
pid = os.fork()
if pid == 0:
    before = blas()
    with blas_pools.single_thread_blas():  # the child's first use
        pass
    print("child", before, blas(), blas_pools._holds, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
release.set()
t.join()
print("parent", blas())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.skipif(not PROCESS_WIDE, reason="the hold covers other threads only where BLAS has one process-wide count")
def test_a_fork_during_a_hold_gives_the_child_its_counts_back():
    if threads.usable_cpus() < 2:
        pytest.skip(f"needs 2 usable CPUs; this process may use {threads.usable_cpus()}")
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_PARENT))
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", FORK], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "child [1] [2] 0" in out.stdout
    assert "parent [2]" in out.stdout


def test_without_a_blas_the_hold_changes_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # not installed
    find_blas_pools_again(monkeypatch)
    with blas_pools.single_thread_blas() as hold:
        assert (hold.held, hold.threads) == (False, 1)
    assert blas_pools._pools == []
