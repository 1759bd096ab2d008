"""Model files and foreign models, as plain arrays: every format reads into and writes from one
record, :class:`~mlpkit.io.arrays.ModelArrays` (weights, biases, activations, metadata, dtype).

- :mod:`.native`: mlpkit's ``.npz`` (no pickle, bounded reader);
- :mod:`.onnx`: ONNX export and import of dense chains;
- :mod:`.sklearn`, :mod:`.torch`: fitted scikit-learn MLPs, PyTorch Sequentials and state_dicts;
- :mod:`.classic_pickle`: the classic from-scratch ``.pkl`` weight dicts, without running pickle code;
- :mod:`.any_model`: which of these a file needs.

Nothing here imports :mod:`mlpkit.mlp`: the model builds itself from a ModelArrays
(``mlpkit.mlp.files``: ``save``, ``load``, ``load_any``; ``MLP.from_sklearn``/``from_torch``).
"""

from .arrays import ModelArrays, check_metadata
from .native import ModelFormatError

__all__ = ["ModelArrays", "ModelFormatError", "check_metadata"]
