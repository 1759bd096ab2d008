"""The parameter store of an MLP: one flat backend array, every W and b a view of it.

An optimizer step is then one pass over all parameters (``flat``), and any other flat array laid
out the same way (a gradient, an optimizer slot) is sliced into per-layer views by
:meth:`Parameters.views`. The backend's packed network (``net``) is rebuilt by
:meth:`Parameters.refresh` after the values change.

Copies (``pickle``, ``copy.deepcopy``, joblib, multiprocessing, Dask) carry the backend's name,
the dtype, the layout and the values, and rebuild the views on the receiving side: a default
copy would copy ``flat`` and each view separately, and the copied layers would no longer be
views of the copied ``flat``, so an optimizer step on it would change nothing they compute.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..backends import Layer, Ops, get_backend
from ..backends.registry import BACKENDS


class Parameters:
    """W_i (in, out) and b_i (out,) of every layer as views of ``flat`` (n_params,), on ``ops``,
    in ``dtype``; ``layers`` the backend's :class:`Layer` views, ``net`` its packed network."""

    def __init__(self, ops: Ops, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray],
                 activations: Sequence[str], dtype: str) -> None:
        self.ops, self.dtype = ops, dtype
        self.shapes = tuple(shape for W in weights for shape in (W.shape, W.shape[1:]))
        host = np.concatenate([a.ravel() for pair in zip(weights, biases) for a in pair])
        self._build(host, tuple(activations))

    def _build(self, host: np.ndarray, activations: tuple[str, ...]) -> None:
        with self.ops.scope():  # the upload and the backend's packing are ordered with later calls
            self.flat = self.ops.asarray(host, self.dtype)
            views = self.views(self.flat)
            self.layers = tuple(Layer(W, b, a) for W, b, a in zip(views[0::2], views[1::2], activations))
            self.refresh()

    def views(self, flat: Any) -> list[Any]:
        """W1, b1, W2, b2, ... as views of ``flat``, any array laid out like :attr:`flat`."""
        out, offset = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            out.append(flat[offset : offset + size].reshape(shape))
            offset += size
        return out

    def zeros(self) -> tuple[Any, list[Any]]:
        """A new zero array laid out like :attr:`flat` (a gradient buffer) and its views."""
        flat = self.ops.zeros(self.flat.shape, self.dtype)
        return flat, self.views(flat)

    def refresh(self) -> None:
        """Rebuild the backend's packed network after the values of :attr:`flat` changed."""
        self.net = self.ops.prepare(self.layers)
        self.one_sample = self.ops.one_sample_path(self.net)  # None, or predict's shortcut

    def snapshot(self) -> np.ndarray:
        """A host copy of every parameter (the layout of :attr:`flat`)."""
        return np.array(self.ops.to_numpy(self.flat), copy=True)

    def restore(self, host: np.ndarray) -> None:
        """Write a :meth:`snapshot` back and refresh the packed network."""
        self.flat[...] = self.ops.asarray(host, self.dtype)
        self.refresh()

    @property
    def activations(self) -> tuple[str, ...]:
        return tuple(layer.activation for layer in self.layers)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (int(self.layers[0].W.shape[0]),) + tuple(int(layer.W.shape[1]) for layer in self.layers)

    @property
    def n_params(self) -> int:
        return int(self.flat.shape[0])

    # -- copies ------------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        ops = self.ops.name if self.ops.name in BACKENDS else self.ops  # a registered backend by name
        return {"ops": ops, "dtype": self.dtype, "shapes": self.shapes, "activations": self.activations,
                "values": self.snapshot()}

    def __setstate__(self, state: dict) -> None:
        ops = state["ops"]
        self.ops = get_backend(ops) if isinstance(ops, str) else ops
        self.dtype, self.shapes = state["dtype"], tuple(tuple(s) for s in state["shapes"])
        self._build(np.asarray(state["values"]), tuple(state["activations"]))
