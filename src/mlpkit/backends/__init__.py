"""The ops interface and its implementations; see :mod:`mlpkit.backends.base`.

Importing this package imports no optional library: backends load on first use via
:mod:`mlpkit.backends.registry`.
"""

from .base import (
    ACTIVATION_ALIASES,
    ACTIVATIONS,
    LOSSES,
    BackendUnavailable,
    Layer,
    Ops,
    activation_name,
    dtype_name,
    loss_name,
)
from .registry import BACKENDS, available_backends, get_backend, set_backend, use_backend
from .threads import get_num_threads, num_threads, set_num_threads

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_ALIASES",
    "BACKENDS",
    "LOSSES",
    "BackendUnavailable",
    "Layer",
    "Ops",
    "activation_name",
    "available_backends",
    "dtype_name",
    "get_backend",
    "get_num_threads",
    "num_threads",
    "loss_name",
    "set_backend",
    "set_num_threads",
    "use_backend",
]
