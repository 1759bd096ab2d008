"""How mlpkit's Numba kernels are compiled and where their machine code is cached.

:data:`JIT_OPTIONS` are the options every kernel shares; :func:`jit` is ``njit`` with them and
with an on-disk cache that

- lives in a per-user cache directory (:func:`cache_dir`: ``NUMBA_CACHE_DIR`` when set, else
  ``$XDG_CACHE_HOME/mlpkit/numba`` or ``~/.cache/mlpkit/numba``; ``~/Library/Caches`` on macOS,
  ``%LOCALAPPDATA%`` on Windows), never inside the installed package, so a read-only or shared
  install still caches and uninstalling leaves no stale code next to the sources;
- is invalidated when *any* kernel source changes: Numba stamps a cached function with its own
  file only, but the micro-kernels and exp are generated as LLVM IR by ``numba_gemm.py``,
  ``numba_isa.py`` and ``numba_exp.py``, so a change there would otherwise load stale machine code;
- is dropped (compiling in every process) where no cache directory is writable.

This changes nothing for the user's own Numba functions: only mlpkit's kernels use this locator.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from pathlib import Path

from numba import config, njit
from numba.core.caching import CompileResultCacheImpl, FunctionCache, UserProvidedCacheLocator

#: ``contract`` only lets a*b+c become one FMA (what lets the inlined exp loops vectorise: 0.83 ->
#: 0.62 ns per float32 element); no flag that assumes away NaN or Inf. ``error_model="numpy"``:
#: division follows IEEE (x/0 -> inf or nan) instead of raising ZeroDivisionError.
JIT_OPTIONS = {"nogil": True, "error_model": "numpy", "fastmath": {"contract"}}

_KERNEL_DIR = Path(__file__).resolve().parent


def user_cache_root() -> Path:
    """The platform's per-user cache directory for mlpkit (not created here)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "mlpkit" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "mlpkit"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlpkit"


def cache_dir() -> Path:
    """Where the compiled kernels are cached: ``NUMBA_CACHE_DIR`` if set, else the user cache."""
    return Path(config.CACHE_DIR) if config.CACHE_DIR else user_cache_root() / "numba"


def sources_digest(directory: Path = _KERNEL_DIR) -> str:
    """A short hash of every ``numba_*.py`` kernel source in ``directory``."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("numba_*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


_DIGEST = sources_digest()  # read once per process, at import (~0.1 ms)


class _KernelCacheLocator(UserProvidedCacheLocator):
    """Numba's user-directory locator, rooted at :func:`cache_dir`, stamped with every kernel source."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(str(cache_dir()), self.get_suitable_cache_subpath(py_file))

    def get_source_stamp(self):
        return (super().get_source_stamp(), _DIGEST)

    @classmethod
    def from_function(cls, py_func, py_file):
        # skip UserProvidedCacheLocator's "only if NUMBA_CACHE_DIR is set" check
        return super(UserProvidedCacheLocator, cls).from_function(py_func, py_file)


class _KernelCacheImpl(CompileResultCacheImpl):
    _locator_classes = [_KernelCacheLocator]


class _KernelCache(FunctionCache):
    """Numba's function cache with our locator; a cache entry that cannot be loaded (a damaged
    or foreign file: Numba raises UnpicklingError, EOFError, ... on every call until someone
    deletes it) is compiled again instead, and overwritten, with one warning per process."""

    _impl_class = _KernelCacheImpl
    _warned = False

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as exc:
            if not _KernelCache._warned:
                _KernelCache._warned = True
                warnings.warn(f"mlpkit: a cached Numba kernel in {self._cache_path} could not be loaded "
                              f"({type(exc).__name__}: {exc}); compiling it again", RuntimeWarning, stacklevel=2)
            return None


def jit(fn=None, **options):
    """``njit(**JIT_OPTIONS, **options)`` cached through :class:`_KernelCacheLocator`."""
    if fn is None:
        return lambda f: jit(f, **options)
    dispatcher = njit(**{**JIT_OPTIONS, **options})(fn)
    try:
        dispatcher._cache = _KernelCache(dispatcher.py_func)  # what njit(cache=True) sets, with our locator
    except RuntimeError:  # 'no locator available': no writable cache directory; compile per process
        pass
    return dispatcher
