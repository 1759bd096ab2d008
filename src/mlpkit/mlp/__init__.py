"""Backend-agnostic models: they talk only to an :class:`~mlpkit.backends.Ops` object."""

from .model import MLP

__all__ = ["MLP"]
