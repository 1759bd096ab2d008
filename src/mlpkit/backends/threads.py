"""Thread counts for the libraries the backends run on: BLAS (through threadpoolctl) and Numba.

``MLPKIT_NUM_THREADS`` is applied once, when the first backend is loaded; after that
:func:`set_num_threads` and the :func:`num_threads` context manager change it. Limits apply to
every BLAS/OpenMP pool threadpoolctl finds in the process (NumPy's OpenBLAS, SciPy's, ...).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")

ENV_VAR = "MLPKIT_NUM_THREADS"

_env_applied = False
_lock = threading.Lock()
_limit: int | None = None  # the limit in force, applied to Numba if it loads later
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, pool) for run_parallel


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError as exc:
        raise ImportError(f"thread control needs threadpoolctl ({exc}); pip install threadpoolctl") from exc
    return threadpoolctl


def _check(n: object, source: str = "number of threads") -> int:
    if isinstance(n, str):
        n = n.strip()
    try:
        value = int(n)  # type: ignore[arg-type]
        ok = value >= 1 and str(value) == str(n).strip()
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{source} must be a positive integer; received {n!r}")
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
    _threadpoolctl().threadpool_limits(limits=n)
    _limit = n
    _set_numba(n)


def get_num_threads() -> dict[str, int]:
    """Current thread counts: one entry per BLAS/OpenMP library found, plus ``numba`` if loaded."""
    out = {}
    for info in _threadpoolctl().threadpool_info():
        out[f"{info['internal_api']} ({os.path.basename(info['filepath'])})"] = info["num_threads"]
    numba = sys.modules.get("numba")
    if numba is not None:
        out["numba"] = numba.get_num_threads()
    return out


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Within the block, BLAS and Numba use at most ``n`` threads; the previous limits return after."""
    global _limit
    n = _check(n)
    numba = sys.modules.get("numba")
    before, before_numba = _limit, (numba.get_num_threads() if numba is not None else None)
    with _threadpoolctl().threadpool_limits(limits=n):
        _limit = n
        _set_numba(n)
        try:
            yield
        finally:
            _limit = before
            numba = sys.modules.get("numba")
            if numba is not None:
                numba.set_num_threads(before_numba or before or numba.config.NUMBA_NUM_THREADS)


def apply_env_once() -> None:
    """Apply ``MLPKIT_NUM_THREADS`` the first time a backend loads (empty or unset: no limit)."""
    global _env_applied
    with _lock:
        if _env_applied:
            return
        _env_applied = True
    raw = os.environ.get(ENV_VAR, "")
    if raw.strip():
        set_num_threads(_check(raw, ENV_VAR))


def compute_threads() -> int:
    """Threads a backend's own kernels may use now: Numba's count for the calling thread (which
    :func:`set_num_threads` and :func:`num_threads` set), else the limit in force or the CPUs."""
    numba = sys.modules.get("numba")
    if numba is not None:
        return int(numba.get_num_threads())
    return _limit or os.cpu_count() or 1


def split_rows(n: int, min_rows: int) -> list[tuple[int, int]]:
    """[start, stop) ranges cutting n rows into at most :func:`compute_threads` parts of at
    least ``min_rows`` rows each (one part when n < 2 * min_rows)."""
    parts = max(1, min(compute_threads(), n // max(1, min_rows)))
    bounds = [n * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def run_parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run the callables at once, the first in the calling thread and the rest on a shared pool,
    and return their results in order. For kernels that release the GIL (Numba ``nogil``)."""
    global _pool
    if len(calls) == 1:
        return [calls[0]()]
    with _lock:
        if _pool is None or _pool[0] != os.getpid():  # a forked child has no pool threads
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="mlpkit"))
        pool = _pool[1]
    futures = [pool.submit(call) for call in calls[1:]]
    first = calls[0]()
    return [first] + [f.result() for f in futures]
