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


def forward_cached(ops: Ops, layers: Sequence[Layer], x: Any) -> tuple[list[Any], Any]:
    """Activations of every layer [a_1 .. a_L], and the last layer's pre-activation z_L."""
    acts = []
    for layer in layers[:-1]:
        x = ops.dense(x, layer.W, layer.b, layer.activation)
        acts.append(x)
    last = layers[-1]
    z = ops.affine(x, last.W, last.b)
    acts.append(ops.activation(last.activation, z))
    return acts, z


def loss_and_delta(ops: Ops, activation: str, y: Any, z: Any, t: Any, loss: str, need_delta: bool = True):
    """(loss value, dL/dz_L) for the output layer."""
    if loss == "cross_entropy" and activation == "softmax":
        value = ops.loss("cross_entropy_logits", z, t)
        # (y - t) / n: the MSE gradient formula is the same expression
        return value, (ops.loss_grad("mse", y, t) if need_delta else None)
    value = ops.loss(loss, y, t)
    if not need_delta:
        return value, None
    return value, ops.activation_grad(activation, y, ops.loss_grad(loss, y, t))


def backward(ops: Ops, layers: Sequence[Layer], x: Any, acts: Sequence[Any], delta: Any, grads: Sequence[Any]) -> None:
    """Fill ``grads`` ([dW1, db1, dW2, db2, ...] views) given delta = dL/dz_L."""
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
