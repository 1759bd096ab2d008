"""Thread counts of the BLAS and OpenMP pools in this process, changed from any Python thread,
and the hold that keeps BLAS on one thread while mlpkit splits a batch's rows itself.

threadpoolctl (3.8) lets one "controlling" Python thread change a pthreads OpenBLAS and ignores
the others without a word: after ``set_num_threads(2)`` in the main thread,
``num_threads(1)`` in a worker thread left OpenBLAS at 2, and 297 of 800 set-then-get pairs
made one at a time from 4 threads read the old count. OpenBLAS itself takes the change from any
thread (800 of 800 through ctypes). So every change here is made under one lock, after handing
threadpoolctl's control to the calling thread, and is read back.

Most pools have one process-wide count (pthreads OpenBLAS, MKL, BLIS); an OpenMP pool's count
belongs to the thread that sets it. :func:`single_thread_blas` sets the process-wide ones to one
thread while any caller holds it (the holds are counted) and returns them to their count
outside the holds when the last one ends; a limit set in the meantime becomes that outside
count. Per-thread pools are set for the calling thread alone. Other code calling BLAS during a
hold runs it on one thread too: the count is the process's.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from typing import Any, Callable, Iterator

_lock = threading.Lock()
_libs: list[Any] | None = None  # threadpoolctl's controllers, found once and again at each limit change
_clear: Callable[..., None] | None = None  # threadpoolctl's hand-over of control (3.8 has one)
_holds = 0  # callers inside single_thread_blas
_outside: dict[str, int] = {}  # filepath -> count to return to when the last hold ends (while _holds > 0)
_restore_in_child: dict[str, int] = {}  # a fork during a hold: the child's counts to restore


def _after_fork_in_child() -> None:
    """The child has the parent's counts but none of its holding threads."""
    global _lock, _holds, _outside, _restore_in_child
    _lock = threading.Lock()
    if _holds:
        _restore_in_child, _outside, _holds = dict(_outside), {}, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _per_thread(lib: Any) -> bool:
    """An OpenMP pool: its count is the setting thread's own."""
    return lib.user_api == "openmp" or getattr(lib, "threading_layer", None) == "openmp"


def _controllers(refresh: bool = False) -> list[Any]:
    """threadpoolctl's controller of every pool in the process ([] without threadpoolctl). Under
    _lock. Finding them takes ~0.5 ms, so holds reuse the list; limit changes find them again
    (a library loaded later joins then)."""
    global _libs, _clear, _restore_in_child
    if _libs is None or refresh:
        try:
            import threadpoolctl
        except ImportError:
            _libs = []
        else:
            _libs = list(threadpoolctl.ThreadpoolController().lib_controllers)
            _clear = getattr(getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None)
    if _restore_in_child:
        pending, _restore_in_child = _restore_in_child, {}
        _set({lib.filepath: pending[lib.filepath] for lib in _libs if lib.filepath in pending})
    return _libs


def _set(counts: dict[str, int]) -> list[str]:
    """Set pools (filepath -> count) and read them back; the ones that kept another count."""
    if not counts:
        return []
    if _clear is not None:
        _clear(force=True)  # the next set from this thread takes threadpoolctl's control
    refused = []
    for lib in _libs or ():
        n = counts.get(lib.filepath)
        if n is not None:
            lib.set_num_threads(n)
            if lib.get_num_threads() != n:
                refused.append(f"{lib.internal_api} ({os.path.basename(lib.filepath)}) kept "
                               f"{lib.get_num_threads()} threads when asked for {n}")
    return refused


def counts() -> dict[str, tuple[str, str, int]]:
    """filepath -> (user_api, internal_api, thread count) of each pool; a held BLAS shows its
    count outside the holds."""
    with _lock:
        libs = _controllers(refresh=True)
        return {lib.filepath: (lib.user_api, lib.internal_api, _outside.get(lib.filepath) or lib.get_num_threads())
                for lib in libs}


def set_counts(wanted: dict[str, int] | int) -> dict[str, int]:
    """Set every pool to ``wanted`` threads (or filepath -> count) and return the counts before,
    for :func:`set_counts` to restore. A held pool takes the count when its holds end. A library
    that keeps another count raises a RuntimeWarning (the user asked for this count)."""
    with _lock:
        libs = _controllers(refresh=True)
        if isinstance(wanted, int):
            wanted = {lib.filepath: wanted for lib in libs}
        before = {lib.filepath: _outside.get(lib.filepath) or lib.get_num_threads() for lib in libs}
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


def blas_threads() -> int | None:
    """The most threads any BLAS may use outside the holds; None if no BLAS is found (or no
    threadpoolctl) or one has per-thread counts, so that a hold cannot cover other threads."""
    with _lock:
        blas = [lib for lib in _controllers() if lib.user_api == "blas"]
        if not blas or any(_per_thread(lib) for lib in blas):
            return None
        return max(_outside.get(lib.filepath) or lib.get_num_threads() for lib in blas)


@contextlib.contextmanager
def single_thread_blas() -> Iterator[bool]:
    """Within the block BLAS runs on one thread; yields whether that holds for every thread
    (False: no BLAS found, a per-thread pool, or a library that refused, and then nothing
    changed). ~3 us when no other hold is active."""
    global _holds
    mine: dict[str, int] = {}  # per-thread pools: this thread's counts to restore
    with _lock:
        blas = [lib for lib in _controllers() if lib.user_api == "blas"]
        shared = [lib for lib in blas if not _per_thread(lib)]
        held = bool(blas) and len(shared) == len(blas)
        if _holds == 0 and shared:
            _outside.update({lib.filepath: lib.get_num_threads() for lib in shared})
            if _set({lib.filepath: 1 for lib in shared}):
                _set(dict(_outside))
                _outside.clear()
                shared, held = [], False
        if shared:
            _holds += 1
        mine = {lib.filepath: lib.get_num_threads() for lib in blas if _per_thread(lib)}
        _set({path: 1 for path in mine})
    try:
        yield held
    finally:
        with _lock:
            _set(mine)
            if shared and _holds > 0:  # 0: a forked child, whose counts are restored at its next use
                _holds -= 1
                if _holds == 0:
                    _set(dict(_outside))
                    _outside.clear()
