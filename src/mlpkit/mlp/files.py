"""Models to and from files: the model-level side of :mod:`mlpkit.io` (whose formats deal in
plain arrays). ``mlpkit.save``, ``mlpkit.load`` and the CLI's ``load_any`` live here."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..io import native
from ..io.any_model import read_any
from ..io.arrays import check_metadata
from .model import MLP


def save(model: MLP, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``model`` to ``path`` (``.npz``, :mod:`mlpkit.io.native`) with ``metadata`` if given,
    else ``model.metadata``; metadata is checked exactly as :func:`load` checks it, before
    anything is written (ValueError saying what is wrong)."""
    arrays = model.to_model_arrays()
    if metadata is not None:
        arrays.metadata = check_metadata(metadata)
    native.write(path, arrays)


def load(path: str | os.PathLike, backend: Any = None, dtype: Any = None) -> MLP:
    """The model saved at ``path``, on ``backend`` (default: the current choice), in its saved
    dtype unless ``dtype`` is given. Its metadata is in ``model.metadata``; any problem with the
    file raises :class:`~mlpkit.io.native.ModelFormatError`."""
    return MLP.from_model_arrays(native.read(path), backend=backend, dtype=dtype)


def load_any(path: str | os.PathLike, activations: Sequence[str] | None = None, backend: Any = None,
             dtype: Any = None) -> MLP:
    """A model from any file :func:`mlpkit.io.any_model.read_any` reads (native ``.npz``,
    ``.onnx``, classic ``.pkl`` or bare ``.npz`` weights; the last two need ``activations``)."""
    return MLP.from_model_arrays(read_any(path, activations), backend=backend, dtype=dtype)
