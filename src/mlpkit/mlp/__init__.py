"""Backend-agnostic models: they talk only to an :class:`~mlpkit.backends.Ops` object."""

from .gradcheck import gradient_check, numerical_gradient
from .model import MLP
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop
from .training import History

__all__ = [
    "MLP",
    "SGD",
    "AdaGrad",
    "Adam",
    "History",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "gradient_check",
    "numerical_gradient",
]
