"""The row scheduler of the Numba and NumPy backends: a batch's rows cut into parts by work and
run on a small shared pool of Python threads, each part calling code that releases the GIL (a
``nogil`` kernel, BLAS).

Parts hold at least :data:`~mlpkit.backends.threads.GRAIN_FLOPS` of work, up to two per
worker, and the workers (the calling thread plus pool threads) take the next part as they
finish one, so a worker on a core that another process keeps busy does fewer parts. The pool is
remade in a forked child (which has no pool threads).
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

from .threads import GRAIN_FLOPS, compute_threads, usable_cpus

T = TypeVar("T")

_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, pool) for run_parallel


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the pool itself is remade on first use (its pid differs)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _split(n: int, flops_per_row: float, wanted: int) -> list[tuple[int, int]]:
    """[start, stop) ranges covering n rows in ``wanted`` near-equal parts, fewer where a part
    would hold less than :data:`GRAIN_FLOPS` of work (at least one)."""
    grain_rows = int(GRAIN_FLOPS // max(flops_per_row, 1.0)) + 1
    parts = max(1, min(wanted, n // grain_rows))
    bounds = [n * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def row_parts(n: int, flops_per_row: float, workers: int | None = None) -> list[tuple[int, int]]:
    """[start, stop) ranges covering n rows: parts of at least :data:`GRAIN_FLOPS` of work, up
    to two per worker (``workers`` default :func:`compute_threads`) so that dynamic scheduling
    can even out a slow worker; one part when the work is smaller than two grains."""
    workers = compute_threads() if workers is None else workers
    return _split(n, flops_per_row, 2 * workers if workers > 1 else 1)


def fixed_row_parts(n: int, flops_per_row: float, max_rows: int) -> list[tuple[int, int]]:
    """[start, stop) ranges covering n rows that depend on n and the work alone, never on the
    thread count: ceil(n / max_rows) equal parts, at least two where the rows hold two grains
    of work, none under a grain. For kernels whose results depend on the rows they are given
    (BLAS picks its edge code by the row count), so that a row's result does not change with
    the threads."""
    return _split(n, flops_per_row, max(-(-n // max_rows), 2))


def parallel_rows(n: int, flops_per_row: float, fn: Callable[[int, int], T]) -> list[T]:
    """``fn(start, stop)`` over :func:`row_parts` on :func:`compute_threads` workers (see
    :func:`run_parts`). For kernels that release the GIL."""
    return run_parts(row_parts(n, flops_per_row), fn, compute_threads())


def run_parts(parts: Sequence[tuple[int, int]], fn: Callable[[int, int], T], workers: int) -> list[T]:
    """``fn(start, stop)`` for each part, results in the order of the parts. The calling thread
    and up to ``workers`` - 1 pool threads each take the next part when they finish one. For
    functions that release the GIL (Numba ``nogil`` kernels, BLAS)."""
    if len(parts) == 1 or workers <= 1:
        return [fn(*part) for part in parts]
    results: list = [None] * len(parts)
    counter = itertools.count()  # next() on it is atomic under the GIL

    def worker() -> None:
        i = next(counter)
        while i < len(parts):
            results[i] = fn(*parts[i])
            i = next(counter)

    run_parallel([worker] * min(workers, len(parts)))
    return results


def run_parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run the callables at once, the first in the calling thread and the rest on a shared pool,
    and return their results in order. For kernels that release the GIL (Numba ``nogil``)."""
    global _pool
    if len(calls) == 1:
        return [calls[0]()]
    with _lock:
        if _pool is None or _pool[0] != os.getpid():  # a forked child has no pool threads
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=usable_cpus(), thread_name_prefix="mlpkit"))
        pool = _pool[1]
    futures = [pool.submit(call) for call in calls[1:]]
    first = calls[0]()
    return [first] + [f.result() for f in futures]
