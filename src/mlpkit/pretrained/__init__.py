"""Models that ship with mlpkit, trained by mlpkit itself (native .npz files, no pickle).

``mnist-m1``: 784-50-100-10 sigmoid/sigmoid/softmax on MNIST. Regenerate it with::

    mlpkit train --data mnist --arch 784,50,100,10 --activation sigmoid --optimizer adam \\
        --lr 0.005 --schedule cosine --epochs 10 --batch-size 32 --seed 0 \\
        --out src/mlpkit/pretrained/mnist-m1.npz
"""

from __future__ import annotations

from importlib import resources
from typing import Any

PRETRAINED = ("mnist-m1",)


def load_pretrained(name: str = "mnist-m1", backend: Any = None, dtype: Any = None):
    """A model shipped with mlpkit (see :data:`PRETRAINED`); its training details are in
    ``model.metadata``. Inputs are MNIST pixels scaled to [0, 1], flattened to 784."""
    from ..mlp.files import load

    key = name.strip().lower() if isinstance(name, str) else None
    if key not in PRETRAINED:
        raise ValueError(f"pretrained model must be one of {list(PRETRAINED)}; received {name!r}")
    with resources.as_file(resources.files(__name__) / f"{key}.npz") as path:
        return load(path, backend=backend, dtype=dtype)
