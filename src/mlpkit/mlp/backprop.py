"""Loss and gradients of a layer stack through the ops interface (backend-agnostic).

Shapes: x (n, in), targets t (n, n_out) one-hot or dense, in the model dtype. Gradients are
written into views of a flat array laid out like the parameters (W1, b1, W2, b2, ...).

The loss of a softmax output with cross-entropy is computed from the logits (stable, and
exactly the function whose gradient is the classic dL/dz = (y - t) / n). Any other output
activation chains ``loss_grad`` through ``activation_grad``; cross-entropy on outputs that are
not a softmax uses the from-scratch form on probabilities, -sum t log(y + 1e-7) / n.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..backends import Layer, Ops


def forward_logits(ops: Ops, layers: Sequence[Layer], x: Any) -> tuple[list[Any], Any]:
    """Activations of the hidden layers [a_1 .. a_{L-1}] and the last layer's logits z_L."""
    acts = []
    for layer in layers[:-1]:
        x = ops.dense(x, layer.W, layer.b, layer.activation)
        acts.append(x)
    return acts, ops.affine(x, layers[-1].W, layers[-1].b)


def output_step(ops: Ops, activation: str, z: Any, t: Any, loss: str, metric: str = "accuracy") -> tuple[float, Any, float]:
    """(loss value, dL/dz_L, the batch's metric sum) from the last logits z: for "accuracy" the
    rows whose output argmax matches t's, for "mae" the sum over rows of each row's mean |y - t|."""
    if loss == "cross_entropy" and activation == "softmax" and metric == "accuracy":
        return ops.softmax_cross_entropy(z, t)
    y = ops.activation(activation, z)
    if metric == "accuracy":
        score = int((ops.to_numpy(y).argmax(axis=1) == ops.to_numpy(t).argmax(axis=1)).sum())
    else:
        score = float(abs(ops.to_numpy(y).astype("float64") - ops.to_numpy(t)).mean(axis=1).sum())
    return ops.loss(loss, y, t), ops.activation_grad(activation, y, ops.loss_grad(loss, y, t)), score


def backward(ops: Ops, layers: Sequence[Layer], x: Any, acts: Sequence[Any], delta: Any, grads: Sequence[Any]) -> None:
    """Fill ``grads`` ([dW1, db1, dW2, db2, ...] views) given delta = dL/dz_L and the hidden
    activations ``acts`` from :func:`forward_logits`."""
    for i in range(len(layers) - 1, -1, -1):
        a_prev = acts[i - 1] if i else x
        upstream = ops.affine_backward(a_prev, layers[i].W, delta, grads[2 * i], grads[2 * i + 1], need_dx=i > 0)
        if i:
            delta = ops.activation_grad(layers[i - 1].activation, acts[i - 1], upstream)


def add_weight_decay(layers: Sequence[Layer], grads: Sequence[Any], weight_decay: float) -> float:
    """dW += wd W for every weight (not the biases); returns the penalty 0.5 wd sum(W^2)."""
    penalty = 0.0
    for layer, dW in zip(layers, grads[0::2]):
        dW += weight_decay * layer.W
        penalty += 0.5 * weight_decay * float((layer.W * layer.W).sum())
    return penalty
