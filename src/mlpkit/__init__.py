"""mlpkit: multi-layer perceptrons on interchangeable numerical backends.

>>> import mlpkit
>>> model = mlpkit.MLP([784, 50, 100, 10], activation="sigmoid", seed=0)
>>> model.predict(x)            # x (784,) -> (10,), or (batch, 784) -> (batch, 10)

``import mlpkit`` imports NumPy only; Numba and CuPy load when a backend that needs them is used.
"""

from ._version import __version__
from .backends import (
    ACTIVATIONS,
    LOSSES,
    BackendUnavailable,
    Ops,
    available_backends,
    get_backend,
    get_num_threads,
    num_threads,
    set_backend,
    set_num_threads,
    use_backend,
)
from .mlp import *  # noqa: F403  (the model API: MLP, optimizers, History, gradient checks)
from .mlp import __all__ as _MODEL_API
from . import onnx  # noqa: F401  (mlpkit.onnx.export / load; imports the onnx package only when called)
from .io import ModelFormatError
from .mlp.files import load, save
from .mlp.plotting import plot_history
from .pretrained import load_pretrained

__all__ = [
    *_MODEL_API,
    "ACTIVATIONS",
    "LOSSES",
    "ModelFormatError",
    "load",
    "load_pretrained",
    "plot_history",
    "save",
    "BackendUnavailable",
    "Ops",
    "__version__",
    "available_backends",
    "get_backend",
    "get_num_threads",
    "num_threads",
    "set_backend",
    "set_num_threads",
    "use_backend",
]
