"""Thread counts of the BLAS and OpenMP pools in this process, changed from any Python thread,
and the hold that keeps BLAS on one thread while mlpkit splits a batch's rows itself.

threadpoolctl (3.8) lets one "controlling" Python thread change a pthreads OpenBLAS and ignores
the others without a word: after ``set_num_threads(2)`` in the main thread,
``num_threads(1)`` in a worker thread left OpenBLAS at 2, and 297 of 800 set-then-get pairs
made one at a time from 4 threads read the old count. OpenBLAS itself takes the change from any
thread (800 of 800 through ctypes). So mlpkit finds the pools with threadpoolctl but sets a
pthreads OpenBLAS through its own functions (0.2-0.6 us a call where threadpoolctl took 3 us),
other libraries through threadpoolctl after handing its control to the calling thread; every
change is made under one lock and read back.

Most pools have one process-wide count (pthreads OpenBLAS, MKL, BLIS); an OpenMP pool's count
belongs to the thread that sets it. :func:`single_thread_blas` sets the process-wide ones to one
thread while any caller holds it (the holds are counted) and returns them to their count
outside the holds when the last one ends; a limit set in the meantime becomes that outside
count. Per-thread pools are set for the calling thread alone. Other code calling BLAS during a
hold runs it on one thread too: the count is the process's.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class _Pool:
    """One thread pool: its library, whether its count is per thread (OpenMP), and how to read
    and set that count."""

    path: str
    user_api: str
    internal_api: str
    per_thread: bool
    get: Callable[[], int]
    set: Callable[[int], Any]


_lock = threading.Lock()
_pools: list[_Pool] | None = None  # found once, and again at each limit change
_blas_shared: tuple[_Pool, ...] = ()  # the BLAS pools with one process-wide count
_blas_local: tuple[_Pool, ...] = ()  # the BLAS pools with per-thread counts (OpenMP)
_holds = 0  # callers inside single_thread_blas
_outside: dict[str, int] = {}  # path -> count to return to when the last hold ends (while _holds > 0)
_restore_in_child: dict[str, int] = {}  # a fork during a hold: the child's counts to restore
_checked: dict[str, bool] = {}  # path -> whether the pool took a count of 1 when a hold first set it


def _after_fork_in_child() -> None:
    """The child has the parent's counts but none of its holding threads."""
    global _lock, _holds, _outside, _restore_in_child
    _lock = threading.Lock()
    if _holds:
        _restore_in_child, _outside, _holds = dict(_outside), {}, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _openblas_functions(path: str) -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """OpenBLAS's own get/set of its thread count, under any of the names its builds export
    (scipy-openblas: ``scipy_openblas_get_num_threads64_``), or None."""
    try:
        dll = ctypes.PyDLL(path)  # already loaded: the same handle; calls keep the GIL (they are short)
    except OSError:
        return None
    for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
        get = getattr(dll, f"{prefix}openblas_get_num_threads{suffix}", None)
        put = getattr(dll, f"{prefix}openblas_set_num_threads{suffix}", None)
        if get is not None and put is not None:
            get.argtypes, get.restype = [], ctypes.c_int
            put.argtypes, put.restype = [ctypes.c_int], None
            return get, put
    return None


def _pool(lib: Any, threadpoolctl: Any) -> _Pool:
    per_thread = lib.user_api == "openmp" or getattr(lib, "threading_layer", None) == "openmp"
    own = _openblas_functions(lib.filepath) if lib.internal_api == "openblas" and not per_thread else None
    if own is not None:
        get, put = own
    else:
        clear = getattr(getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None)

        def put(n: int, lib: Any = lib) -> None:
            if clear is not None:
                clear(force=True)  # the set from this thread takes threadpoolctl's control
            lib.set_num_threads(n)

        get = lib.get_num_threads
    return _Pool(lib.filepath, lib.user_api, lib.internal_api, per_thread, get, put)


def _found(refresh: bool = False) -> list[_Pool]:
    """Every pool in the process ([] without threadpoolctl). Under _lock. Finding them takes
    ~0.5 ms, so holds reuse the list; limit changes find them again (a library loaded later
    joins then)."""
    global _pools, _blas_shared, _blas_local, _restore_in_child
    if _pools is None or refresh:
        try:
            import threadpoolctl
        except ImportError:
            _pools = []
        else:
            _pools = [_pool(lib, threadpoolctl) for lib in threadpoolctl.ThreadpoolController().lib_controllers]
        _blas_shared = tuple(p for p in _pools if p.user_api == "blas" and not p.per_thread)
        _blas_local = tuple(p for p in _pools if p.user_api == "blas" and p.per_thread)
    if _restore_in_child:
        pending, _restore_in_child = _restore_in_child, {}
        _set({pool.path: pending[pool.path] for pool in _pools if pool.path in pending})
    return _pools


def _set(counts: dict[str, int]) -> list[str]:
    """Set pools (path -> count) and read them back; the ones that kept another count."""
    refused = []
    for pool in _pools or ():
        n = counts.get(pool.path)
        if n is not None:
            pool.set(n)
            got = pool.get()
            if got != n:
                refused.append(f"{pool.internal_api} ({os.path.basename(pool.path)}) kept {got} threads when asked for {n}")
    return refused


def _put(counts: dict[str, int]) -> None:
    """Set pools (path -> count) without reading them back: counts they took before."""
    for pool in _pools or ():
        n = counts.get(pool.path)
        if n is not None:
            pool.set(n)


def counts() -> dict[str, tuple[str, str, int]]:
    """path -> (user_api, internal_api, thread count) of each pool; a held BLAS shows its count
    outside the holds."""
    with _lock:
        return {p.path: (p.user_api, p.internal_api, _outside.get(p.path) or p.get()) for p in _found(refresh=True)}


def set_counts(wanted: dict[str, int] | int) -> dict[str, int]:
    """Set every pool to ``wanted`` threads (or path -> count) and return the counts before,
    for :func:`set_counts` to restore. A held pool takes the count when its holds end. A library
    that keeps another count raises a RuntimeWarning (the user asked for this count)."""
    with _lock:
        pools = _found(refresh=True)
        if isinstance(wanted, int):
            wanted = {p.path: wanted for p in pools}
        before = {p.path: _outside.get(p.path) or p.get() for p in pools}
        now = {}
        for path, n in wanted.items():
            if path in _outside:
                _outside[path] = n
            else:
                now[path] = n
        refused = _set(now)
    for message in refused:
        warnings.warn(f"thread limit not applied: {message}", RuntimeWarning, stacklevel=3)
    return before


def single_thread_blas() -> contextlib.AbstractContextManager["_Hold"]:
    """Within the block BLAS runs on one thread. Entering gives the hold: ``held`` says whether
    that covers every thread (False: no BLAS found, a per-thread pool, or a library that refused,
    and then nothing process-wide changed), ``threads`` how many threads BLAS may use outside
    the holds (1 where not held). About 5 us when no other hold is active (OpenBLAS's two sets:
    1.2 us)."""
    return _Hold()


class _Hold:
    """One caller's hold (see :func:`single_thread_blas`); a class, not a generator: half the cost."""

    __slots__ = ("counted", "mine", "held", "threads")

    def __enter__(self) -> "_Hold":
        global _holds
        with _lock:
            if _pools is None or _restore_in_child:
                _found()
            shared = _blas_shared
            if shared and _holds == 0:
                refused = False
                for p in shared:
                    _outside[p.path] = p.get()
                    p.set(1)
                    if not _checked.get(p.path):  # a library that takes a count takes it every time
                        _checked[p.path] = p.get() == 1
                        refused = refused or not _checked[p.path]
                if refused:  # put every count back
                    _put(_outside)
                    _outside.clear()
                    shared = ()
            if shared:
                _holds += 1
            self.counted = bool(shared)
            self.held = self.counted and not _blas_local
            self.threads = max(_outside[p.path] for p in shared) if self.held else 1
            self.mine = [(p, p.get()) for p in _blas_local]  # this thread's counts to restore
            for p, _ in self.mine:
                p.set(1)
        return self

    def __exit__(self, *exc: object) -> None:
        global _holds
        with _lock:
            for p, n in self.mine:
                p.set(n)
            if self.counted and _holds > 0:  # 0: a forked child, whose counts are restored at its next use
                _holds -= 1
                if _holds == 0:
                    _put(_outside)
                    _outside.clear()
