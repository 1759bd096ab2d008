"""Backend names -> lazily imported :class:`Ops` instances, and how the default one is chosen.

Precedence when no backend is named in the call: :func:`use_backend` context > :func:`set_backend`
> the ``MLPKIT_BACKEND`` environment variable (read whenever a default is resolved, never at
import) > ``auto`` (numba if it can be used, else numpy). An explicitly named backend that cannot
be used raises :class:`BackendUnavailable`; it never falls back silently.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import threading
from typing import Iterator, Union

from . import threads
from .base import BackendUnavailable, Ops

ENV_VAR = "MLPKIT_BACKEND"

# name -> (import path "module:Class", how to make it usable)
_SPECS: dict[str, tuple[str, str]] = {
    "numpy": ("mlpkit.backends.numpy_backend:NumpyOps", "reinstall numpy"),
    "numba": ("mlpkit.backends.numba_backend:NumbaOps", "pip install 'mlpkit[numba]'"),
    "cupy": (
        "mlpkit.backends.cupy_backend:CupyOps",
        "pip install 'mlpkit[cuda12]' (or 'mlpkit[cuda13]') on a machine with an NVIDIA GPU",
    ),
}
BACKENDS: tuple[str, ...] = tuple(_SPECS)
CHOICES: tuple[str, ...] = BACKENDS + ("auto",)
AUTO_ORDER: tuple[str, ...] = ("numba", "numpy")

BackendLike = Union[str, Ops, None]

_lock = threading.Lock()
_loaded: dict[str, Union[Ops, BackendUnavailable]] = {}
_global_choice: str | None = None
_context_choice: contextvars.ContextVar[str | None] = contextvars.ContextVar("mlpkit_backend", default=None)


def _after_fork_in_child() -> None:
    """A fork while another thread was loading a backend (holding the lock) deadlocked the child
    at its first backend use (5 of 9 runs): the child gets a fresh lock."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def normalize(name: object, source: str = "backend") -> str:
    """Strip and lower-case a backend name and check it; raise ValueError listing the valid ones."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in CHOICES:
        raise ValueError(f"{source} must be one of {list(CHOICES)}; received {name!r}")
    return key


def _env_choice() -> str | None:
    raw = os.environ.get(ENV_VAR, "")
    return normalize(raw, ENV_VAR) if raw.strip() else None


def _load(name: str) -> Union[Ops, BackendUnavailable]:
    """Import and instantiate backend ``name`` once; remember the instance or why it failed."""
    with _lock:
        if name not in _loaded:
            target, fix = _SPECS[name]
            module, cls = target.split(":")
            try:
                _loaded[name] = getattr(importlib.import_module(module), cls)()
            except BackendUnavailable as exc:
                _loaded[name] = exc
            except ImportError as exc:
                err = BackendUnavailable(f"backend {name!r} cannot be used: {exc}. To fix: {fix}")
                err.__cause__ = exc
                _loaded[name] = err
        loaded = _loaded[name]
    if not isinstance(loaded, BackendUnavailable):
        threads.apply_env_once()  # returns at once once applied; an invalid value raises at every use
    return loaded


def _explicit(name: str) -> Ops:
    found = _load(name)
    if isinstance(found, BackendUnavailable):
        raise found
    return found


def get_backend(name: BackendLike = None) -> Ops:
    """The :class:`Ops` for ``name`` (an Ops instance passes through); the default if None."""
    if isinstance(name, Ops):
        return name
    if name is None:
        choice = _context_choice.get() or _global_choice or _env_choice() or "auto"
    else:
        choice = normalize(name)
    if choice != "auto":
        return _explicit(choice)
    for candidate in AUTO_ORDER:
        found = _load(candidate)
        if isinstance(found, Ops):
            return found
    raise BackendUnavailable(f"no backend can be used: {available_backends()}")


def available_backends() -> dict[str, str | None]:
    """Every backend name -> None if it can be used here, else the reason it cannot."""
    return {name: (str(found) if isinstance(found := _load(name), Exception) else None) for name in BACKENDS}


def set_backend(name: str | None) -> None:
    """Make ``name`` the process-wide default (None clears it). Fails now if it cannot be used."""
    global _global_choice
    if name is not None:
        name = normalize(name)
        get_backend(name)
    _global_choice = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Ops]:
    """Within the block (this thread / async task), models created without ``backend=`` use ``name``."""
    ops = get_backend(normalize(name))
    token = _context_choice.set(normalize(name))
    try:
        yield ops
    finally:
        _context_choice.reset(token)
