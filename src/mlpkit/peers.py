"""Peers timed beside mlpkit in ``mlpkit bench --peers``: the same network in other software.

Each factory takes an :class:`~mlpkit.MLP` (for its parameters) and returns ``predict(x)`` for
x (n, n_features) or (n_features,), or raises :class:`PeerUnavailable` with the reason.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Predict = Callable[[np.ndarray], Any]


class PeerUnavailable(RuntimeError):
    """A peer library is not installed or cannot run this network."""


def from_scratch_numpy(model: Any, threads: int) -> Predict:
    """The classic from-scratch forward: ``np.dot`` + bias, ``1 / (1 + np.exp(-x))``, softmax."""
    p = model.params
    layers = [(p[f"W{i}"], p[f"b{i}"], act) for i, act in enumerate(model.activations, start=1)]
    if any(act not in ("sigmoid", "relu", "identity", "softmax") for _, _, act in layers):
        raise PeerUnavailable("the from-scratch forward covers sigmoid, relu, identity and softmax only")

    def predict(x):
        a = x
        for W, b, act in layers:
            a = np.dot(a, W) + b
            if act == "sigmoid":
                a = 1 / (1 + np.exp(-a))
            elif act == "relu":
                a = np.maximum(0, a)
            elif act == "softmax":
                c = np.max(a, axis=-1, keepdims=True)
                e = np.exp(a - c)
                a = e / np.sum(e, axis=-1, keepdims=True)
        return a

    return predict


def onnx_runtime(model: Any, threads: int) -> Predict:
    """ONNX Runtime CPU session of the exported model, ``threads`` intra-op threads."""
    try:
        import onnxruntime as ort

        from .onnx import to_model_proto

        proto = to_model_proto(model)
    except ImportError as exc:
        raise PeerUnavailable(f"ONNX Runtime peer needs onnx and onnxruntime ({exc}); pip install 'mlpkit[peers]'") from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # idle intra-op threads otherwise spin for a while after each run, stealing the cores from
    # whatever is timed next in the interleaved benchmark
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    run = session.run

    def predict(x):
        if x.ndim == 1:
            return run(["y"], {"x": x[None, :]})[0][0]
        return run(["y"], {"x": x})[0]

    return predict


def pytorch(model: Any, threads: int) -> Predict:
    """PyTorch CPU, eager ``nn.Sequential`` under ``torch.inference_mode()``."""
    try:
        import torch
    except ImportError as exc:
        raise PeerUnavailable(f"PyTorch peer needs torch ({exc}); pip install torch") from exc
    torch.set_num_threads(threads)
    acts = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "identity": torch.nn.Identity,
            "softmax": lambda: torch.nn.Softmax(dim=-1), "leaky_relu": lambda: torch.nn.LeakyReLU(0.01)}
    p, mods = model.params, []
    for i, act in enumerate(model.activations, start=1):
        if act not in acts:
            raise PeerUnavailable(f"no PyTorch module for activation {act!r}")
        W = torch.from_numpy(np.array(p[f"W{i}"]))  # a writable copy
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=W.dtype)
        with torch.no_grad():
            lin.weight.copy_(W.T)
            lin.bias.copy_(torch.from_numpy(np.array(p[f"b{i}"])))
        mods += [lin, acts[act]()]
    net = torch.nn.Sequential(*mods).eval()

    def predict(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    return predict


PEERS: dict[str, Callable[[Any, int], Predict]] = {
    "from-scratch numpy": from_scratch_numpy,
    "onnxruntime": onnx_runtime,
    "pytorch": pytorch,
}
