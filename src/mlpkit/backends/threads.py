"""Thread counts for the libraries the backends run on: BLAS (through threadpoolctl) and Numba,
and the grain of work worth a thread.

``MLPKIT_NUM_THREADS`` is applied once, when the first backend is loaded; after that
:func:`set_num_threads` and the :func:`num_threads` context manager change it. Limits apply to
every BLAS/OpenMP pool threadpoolctl finds in the process (NumPy's OpenBLAS, SciPy's, ...).

Work is split by grain size, as PyTorch's ``parallel_for`` and ONNX Runtime do: a part must
hold at least :data:`GRAIN_FLOPS` of work and smaller calls stay on the calling thread
(:mod:`mlpkit.backends.row_scheduler`: the Numba kernels' rows, and the NumPy backend's with
BLAS held at one thread; :func:`for_work` keeps BLAS on one thread through a ``fit`` whose
products are small). Parts are taken from a shared counter as workers finish, so a worker
whose core is busy with another process does fewer of them instead of holding the others up:
a static split, or OpenBLAS's own threads on tiny products, waits for the slowest core
(measured on 2 cores with one busy: default threads 0.54-0.74x the 1-thread speed). BLAS
counts are set through :mod:`mlpkit.backends.blas_pools`, from any thread.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import sys
import threading
from typing import Iterator

from . import blas_pools

ENV_VAR = "MLPKIT_NUM_THREADS"
#: Least work (FLOPs) worth a thread of its own: ~0.2-0.3 ms at 100 GFLOP/s. Chosen for a
#: machine that may be shared, not an idle one: on an AMD EPYC Zen 2 with 2 cores, parts of 1e7
#: ran Numba's 256- and 512-row M1 predicts 1.43x and 1.58x at 2 threads when idle, and 0.85x
#: and 0.89x with one core busy (a part waiting on the busy core holds the whole call); at 3e7
#: those stay on one thread. (Zen 3, older kernels: 256 rows 0.92x, 512 1.26x, 1024 1.82x.)
GRAIN_FLOPS = 3e7

_env_applied = False
_lock = threading.Lock()
_limit: int | None = None  # the limit in force, applied to Numba if it loads later


def _require_threadpoolctl() -> None:
    """Raise a clear ImportError where threadpoolctl (which finds the BLAS pools) is missing:
    without it :mod:`~mlpkit.backends.blas_pools` sees no pool and a limit would do nothing."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"thread control needs threadpoolctl ({exc}); pip install threadpoolctl") from exc


def _after_fork_in_child() -> None:
    """A fork while another thread held a lock would leave it held forever in the child."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow), else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on every platform
        return os.cpu_count() or 1


def _check(n: object, source: str = "number of threads") -> int:
    """A positive integer, capped at :func:`usable_cpus` with a warning: more threads than CPUs
    only wait on each other (MLPKIT_NUM_THREADS=1000 on 2 cores gave OpenBLAS 64 threads and
    took a 60k-row predict from 0.10 s to 32.8 s)."""
    if isinstance(n, str):
        n = n.strip()
    try:
        value = int(n)  # type: ignore[arg-type]
        ok = value >= 1 and str(value) == str(n).strip()
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{source} must be a positive integer; received {n!r}")
    cpus = usable_cpus()
    if value > cpus:
        warnings.warn(f"{source} {value} is more than the {cpus} CPUs this process may use; using {cpus}",
                      RuntimeWarning, stacklevel=3)
        value = cpus
    return value


def _set_numba(n: int | None) -> None:
    numba = sys.modules.get("numba")  # only if a backend already loaded it: never import it here
    if numba is not None and n is not None:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def sync_numba() -> None:
    """Apply the limit in force to Numba (the Numba backend calls this when it loads)."""
    _set_numba(_limit)


def set_num_threads(n: int) -> None:
    """Limit BLAS and Numba to ``n`` threads for the rest of the process."""
    global _limit
    n = _check(n)
    _require_threadpoolctl()
    blas_pools.set_counts(n)
    _limit = n
    _set_numba(n)


def get_num_threads() -> dict[str, int]:
    """Current thread counts: one entry per BLAS/OpenMP library found, plus ``numba`` if loaded."""
    _require_threadpoolctl()
    out = {f"{internal} ({os.path.basename(path)})": n for path, (_, internal, n) in blas_pools.counts().items()}
    numba = sys.modules.get("numba")
    if numba is not None:
        out["numba"] = numba.get_num_threads()
    return out


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Within the block, BLAS and Numba use at most ``n`` threads; the previous limits return after.
    The BLAS count is the process's (as for :func:`set_num_threads`), set from whichever thread
    enters the block."""
    global _limit
    n = _check(n)
    _require_threadpoolctl()
    numba = sys.modules.get("numba")
    before, before_numba = _limit, (numba.get_num_threads() if numba is not None else None)
    before_pools = blas_pools.set_counts(n)
    _limit = n
    _set_numba(n)
    try:
        yield
    finally:
        _limit = before
        blas_pools.set_counts(before_pools)
        numba = sys.modules.get("numba")
        if numba is not None:
            numba.set_num_threads(before_numba or before or numba.config.NUMBA_NUM_THREADS)


def apply_env_once() -> None:
    """Apply ``MLPKIT_NUM_THREADS`` the first time a backend loads (empty or unset: no limit)."""
    global _env_applied
    with _lock:
        if _env_applied:
            return
        raw = os.environ.get(ENV_VAR, "")
        n = _check(raw, ENV_VAR) if raw.strip() else None  # an invalid value raises at every load, not once
        _env_applied = True
    if n is not None:
        set_num_threads(n)


def process_limit() -> int | None:
    """The limit set through mlpkit (:func:`set_num_threads`, :func:`num_threads`,
    ``MLPKIT_NUM_THREADS``), which BLAS was set to as well; None if none is in force."""
    return _limit


def compute_threads() -> int:
    """Threads a backend's own kernels may use now: the process-wide limit in force
    (:func:`set_num_threads`, :func:`num_threads`, ``MLPKIT_NUM_THREADS``), and no more than
    Numba's count for the calling thread. Numba's setting is per thread, so a thread that never
    set it (a server's worker) would otherwise see all CPUs whatever the process limit."""
    limit = _limit or usable_cpus()
    numba = sys.modules.get("numba")
    return min(limit, int(numba.get_num_threads())) if numba is not None else limit


def for_work(flops: float) -> contextlib.AbstractContextManager:
    """Within the block BLAS runs on one thread if ``flops`` (the work of one of its calls) is
    below two grains; else nothing changes. For a whole ``fit``: one hold, ~5 us
    (:func:`mlpkit.backends.blas_pools.single_thread_blas`)."""
    if flops >= 2 * GRAIN_FLOPS:
        return contextlib.nullcontext()
    return blas_pools.single_thread_blas()
