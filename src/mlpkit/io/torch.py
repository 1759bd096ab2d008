"""PyTorch ``nn.Sequential`` of Linear layers and activations (or a state_dict) -> ModelArrays.

``Linear`` stores its weight as (out, in); mlpkit's W is (in, out), so weights are transposed.
Supported modules: Linear, ReLU, Sigmoid, Tanh, LeakyReLU(0.01), Softmax(dim=-1 or 1),
Identity, Dropout (inference: identity), and Flatten before the first Linear.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..kernels.activations import TABLE
from .arrays import ModelArrays

_PASS = ("Identity", "Dropout")
_MODULES = {a.torch: a.name for a in TABLE if a.torch and a.torch not in _PASS}  # torch.nn class -> activation


def read(module: Any, activations: Sequence[str] | None = None) -> ModelArrays:
    """From an ``nn.Sequential`` (``activations`` None), or a state_dict of Linear weights/biases
    in order plus one activation name per layer; in the tensors' own dtype."""
    if activations is not None:
        return _from_state_dict(module, activations)
    layers = list(module.children()) if hasattr(module, "children") else None
    if not layers:
        raise TypeError(f"expected an nn.Sequential (or a state_dict with activations=...); received {type(module).__name__}")
    weights, biases, acts = [], [], []
    for i, layer in enumerate(layers):
        name = type(layer).__name__
        if name == "Linear":
            if len(acts) < len(weights):
                acts.append("identity")
            weights.append(layer.weight.detach().cpu().numpy().T)
            bias = layer.bias
            biases.append(bias.detach().cpu().numpy() if bias is not None else np.zeros(layer.out_features, weights[-1].dtype))
        elif name == "Flatten" and not weights:
            continue
        elif name in _PASS:
            continue
        elif name in _MODULES and len(acts) < len(weights):
            if name == "LeakyReLU" and abs(layer.negative_slope - 0.01) > 1e-12:
                raise ValueError(f"module {i} LeakyReLU(negative_slope={layer.negative_slope}) is not supported; mlpkit's slope is 0.01")
            if name == "Softmax" and layer.dim not in (-1, 1, None):
                raise ValueError(f"module {i} Softmax(dim={layer.dim}) is not supported; softmax must run over the last axis")
            acts.append(_MODULES[name])
        else:
            raise ValueError(f"module {i} ({name}) is not supported here; expected Linear followed by one of "
                             f"{sorted(_MODULES)} (Flatten first, Identity/Dropout anywhere)")
    if not weights:
        raise ValueError("the Sequential holds no Linear layer")
    if len(acts) < len(weights):
        acts.append("identity")
    return ModelArrays(weights, biases, acts)


def _from_state_dict(state: Any, activations: Sequence[str]) -> ModelArrays:
    items = [(k, v) for k, v in state.items()]
    ws = [v for k, v in items if k.endswith("weight")]
    bs = [v for k, v in items if k.endswith("bias")]
    if len(ws) != len(bs):
        raise ValueError(f"state_dict has {len(ws)} weights but {len(bs)} biases; expected one bias per Linear")
    to_np = lambda t: t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)  # noqa: E731
    return ModelArrays([to_np(w).T for w in ws], [to_np(b) for b in bs], list(activations))
