"""Peers timed beside mlpkit in ``mlpkit bench --peers``: the same network in other software.

Each factory takes an :class:`~mlpkit.MLP` (for its parameters) and returns ``predict(x)`` for
x (n, n_features) or (n_features,), or raises :class:`PeerUnavailable` with the reason.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .kernels.activations import TABLE as ACTIVATION_TABLE

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


def _torch_net(model: Any, torch: Any, with_output: bool = True) -> Any:
    """nn.Sequential of Linear layers (W transposed to (out, in)) and the model's activations;
    without the last activation if not ``with_output`` (logits for CrossEntropyLoss)."""
    acts = {a.name: (lambda a=a: getattr(torch.nn, a.torch)(**dict(a.torch_kwargs))) for a in ACTIVATION_TABLE if a.torch}
    p, mods = model.params, []
    for i, act in enumerate(model.activations, start=1):
        if act not in acts:
            raise PeerUnavailable(f"no PyTorch module for activation {act!r}")
        W = torch.from_numpy(np.array(p[f"W{i}"]))  # a writable copy
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=W.dtype)
        with torch.no_grad():
            lin.weight.copy_(W.T)
            lin.bias.copy_(torch.from_numpy(np.array(p[f"b{i}"])))
        mods.append(lin)
        if with_output or i < len(model.activations):
            mods.append(acts[act]())
    return torch.nn.Sequential(*mods)


def pytorch(model: Any, threads: int) -> Predict:
    """PyTorch CPU, eager ``nn.Sequential`` under ``torch.inference_mode()``."""
    try:
        import torch
    except ImportError as exc:
        raise PeerUnavailable(f"PyTorch peer needs torch ({exc}); pip install torch") from exc
    torch.set_num_threads(threads)
    net = _torch_net(model, torch).eval()

    def predict(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    return predict


PEERS: dict[str, Callable[[Any, int], Predict]] = {
    "from-scratch numpy": from_scratch_numpy,
    "onnxruntime": onnx_runtime,
    "pytorch": pytorch,
}


# -- training peers: train_epoch(x (n, in) float32, labels (n,) int) for one epoch at batch_size ----
TrainEpoch = Callable[[np.ndarray, np.ndarray], Any]


def numpy_training_loop(model: Any, threads: int, batch_size: int) -> TrainEpoch:
    """The plain from-scratch loop: np.dot forward, softmax + cross-entropy, backprop, Adam
    (Keras defaults) on each parameter array. Sigmoid or relu hidden layers, softmax output."""
    p = model.params
    params = [np.array(p[f"{k}{i}"]) for i in range(1, len(model.activations) + 1) for k in "Wb"]
    hidden = model.activations[0]
    if model.activations[-1] != "softmax" or any(a != hidden for a in model.activations[:-1]) or hidden not in ("sigmoid", "relu"):
        raise PeerUnavailable("the plain NumPy loop trains sigmoid or relu hidden layers with a softmax output")
    ms, vs = [np.zeros_like(q) for q in params], [np.zeros_like(q) for q in params]
    state = {"t": 0}
    n_out = model.layer_sizes[-1]

    def train_epoch(x, labels):
        order = np.random.default_rng(0).permutation(len(x))
        for s in range(0, len(x), batch_size):
            idx = order[s : s + batch_size]
            xb, tb = x[idx], np.eye(n_out, dtype=x.dtype)[labels[idx]]
            acts = [xb]
            for i in range(0, len(params) - 2, 2):
                a = np.dot(acts[-1], params[i]) + params[i + 1]
                acts.append(1 / (1 + np.exp(-a)) if hidden == "sigmoid" else np.maximum(0, a))
            z = np.dot(acts[-1], params[-2]) + params[-1]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
            delta = (y - tb) / len(xb)
            grads = [None] * len(params)
            for i in range(len(params) - 2, -1, -2):
                grads[i], grads[i + 1] = np.dot(acts[i // 2].T, delta), delta.sum(axis=0)
                if i:
                    da = np.dot(delta, params[i].T)
                    a = acts[i // 2]
                    delta = da * a * (1 - a) if hidden == "sigmoid" else da * (a > 0)
            state["t"] += 1
            lr_t = 0.001 * np.sqrt(1 - 0.999 ** state["t"]) / (1 - 0.9 ** state["t"])
            for q, g, m, v in zip(params, grads, ms, vs):
                m += (1 - 0.9) * (g - m)
                v += (1 - 0.999) * (g * g - v)
                q -= lr_t * m / (np.sqrt(v) + 1e-7)

    return train_epoch


def pytorch_training(model: Any, threads: int, batch_size: int) -> TrainEpoch:
    """PyTorch CPU eager: the same network, CrossEntropyLoss on logits, torch.optim.Adam."""
    try:
        import torch
    except ImportError as exc:
        raise PeerUnavailable(f"PyTorch peer needs torch ({exc}); pip install torch") from exc
    if model.activations[-1] != "softmax":
        raise PeerUnavailable("the PyTorch training peer needs a softmax output")
    net = _torch_net(model, torch, with_output=False)
    opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7)
    lossf = torch.nn.CrossEntropyLoss()
    torch.set_num_threads(threads)

    def train_epoch(x, labels):
        xt, lt = torch.from_numpy(x), torch.from_numpy(labels)
        order = torch.from_numpy(np.random.default_rng(0).permutation(len(x)))
        for s in range(0, len(x), batch_size):
            idx = order[s : s + batch_size]
            opt.zero_grad()
            lossf(net(xt[idx]), lt[idx]).backward()
            opt.step()

    return train_epoch


TRAIN_PEERS: dict[str, Callable[[Any, int, int], TrainEpoch]] = {
    "plain numpy loop": numpy_training_loop,
    "pytorch": pytorch_training,
}


#: the modules each peer imports, and how to install them
_REQUIRES = {"onnxruntime": (("onnx", "onnxruntime"), "pip install 'mlpkit[peers]'"), "pytorch": (("torch",), "pip install torch")}


def missing(name: str) -> str | None:
    """Why peer ``name`` cannot run here (a module it needs is not installed), or None; checked
    without importing anything, so a bench header lists only the peers it will time."""
    import importlib.util

    modules, fix = _REQUIRES.get(name, ((), ""))
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    return f"needs {', '.join(absent)}, not installed; {fix}" if absent else None
