"""Optimizers and learning-rate schedules (Keras-compatible defaults).

An optimizer holds hyper-parameters and its state arrays; the arithmetic of each update is the
backend's (``Ops.*_update``), applied to the model's flat parameter and gradient arrays.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union


from ..backends import Ops

Schedule = Callable[[int], float]  # step (0-based) -> multiplier of the base learning rate


# -- schedules --------------------------------------------------------------------------------
def constant() -> Schedule:
    return lambda step: 1.0


def step_decay(every: int, factor: float = 0.5) -> Schedule:
    """Multiply the rate by ``factor`` every ``every`` steps."""
    return lambda step: factor ** (step // max(1, every))


def exponential_decay(every: int, rate: float = 0.96) -> Schedule:
    """Smoothly multiply the rate by ``rate`` per ``every`` steps."""
    return lambda step: rate ** (step / max(1, every))


def cosine_decay(total: int, alpha: float = 0.0) -> Schedule:
    """Half a cosine from 1 down to ``alpha`` over ``total`` steps (then flat)."""
    return lambda step: alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))


SCHEDULES = ("constant", "step", "exponential", "cosine")


def make_schedule(schedule: Union[str, Schedule, None], total_steps: int) -> Schedule:
    """A schedule from a name (spread over ``total_steps``) or a callable step -> multiplier."""
    if schedule is None:
        return constant()
    if callable(schedule):
        return schedule
    key = schedule.strip().lower() if isinstance(schedule, str) else None
    if key == "constant":
        return constant()
    if key == "step":
        return step_decay(every=max(1, total_steps // 4))  # halve three times
    if key == "exponential":
        return exponential_decay(every=max(1, total_steps), rate=0.05)  # to 5% at the end
    if key == "cosine":
        return cosine_decay(total_steps)
    raise ValueError(f"schedule must be one of {list(SCHEDULES)} or a callable; received {schedule!r}")


# -- optimizers -------------------------------------------------------------------------------
class Optimizer:
    """Base class: ``lr`` is the base rate, multiplied by the schedule at each step."""

    name = "optimizer"
    default_lr = 0.001
    n_slots = 0  # state arrays shaped like the parameters

    def __init__(self, lr: float | None = None, schedule: Union[str, Schedule, None] = None) -> None:
        self.lr = float(self.default_lr if lr is None else lr)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number; received {lr!r}")
        self.schedule = schedule
        self._multiplier: Schedule = constant()
        self.slots: list[Any] = []
        self.iterations = 0

    def start(self, ops: Ops, params: Any, dtype: str, total_steps: int) -> None:
        """Allocate state for a flat parameter array; resolve a named schedule."""
        self._multiplier = make_schedule(self.schedule, total_steps)
        if len(self.slots) != self.n_slots or (self.slots and self.slots[0].shape != params.shape):
            self.slots = [ops.zeros(params.shape, dtype) for _ in range(self.n_slots)]

    def current_lr(self) -> float:
        return self.lr * self._multiplier(self.iterations)

    def step(self, ops: Ops, params: Any, grads: Any) -> None:
        self._apply(ops, params, grads, self.current_lr())
        self.iterations += 1

    def _apply(self, ops: Ops, params: Any, grads: Any, lr: float) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    name, default_lr = "sgd", 0.01

    def _apply(self, ops, params, grads, lr):
        ops.sgd_update(params, grads, lr)


class Momentum(Optimizer):
    name, default_lr, n_slots = "momentum", 0.01, 1
    nesterov = False

    def __init__(self, lr=None, schedule=None, momentum: float = 0.9) -> None:
        super().__init__(lr, schedule)
        self.momentum = momentum

    def _apply(self, ops, params, grads, lr):
        ops.momentum_update(params, grads, self.slots[0], lr, self.momentum, self.nesterov)


class Nesterov(Momentum):
    name = "nesterov"
    nesterov = True


class AdaGrad(Optimizer):
    name, default_lr, n_slots = "adagrad", 0.001, 1

    def __init__(self, lr=None, schedule=None, eps: float = 1e-7, initial_accumulator: float = 0.1) -> None:
        super().__init__(lr, schedule)
        self.eps, self.initial_accumulator = eps, initial_accumulator

    def start(self, ops, params, dtype, total_steps):
        fresh = not self.slots
        super().start(ops, params, dtype, total_steps)
        if fresh:  # Keras starts the accumulator at 0.1
            self.slots[0] += self.initial_accumulator

    def _apply(self, ops, params, grads, lr):
        ops.adagrad_update(params, grads, self.slots[0], lr, self.eps)


class RMSprop(Optimizer):
    name, default_lr, n_slots = "rmsprop", 0.001, 1

    def __init__(self, lr=None, schedule=None, rho: float = 0.9, eps: float = 1e-7) -> None:
        super().__init__(lr, schedule)
        self.rho, self.eps = rho, eps

    def _apply(self, ops, params, grads, lr):
        ops.rmsprop_update(params, grads, self.slots[0], lr, self.rho, self.eps)


class Adam(Optimizer):
    name, default_lr, n_slots = "adam", 0.001, 2

    def __init__(self, lr=None, schedule=None, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7) -> None:
        super().__init__(lr, schedule)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def _apply(self, ops, params, grads, lr):
        t = self.iterations + 1
        lr_t = lr * math.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        ops.adam_update(params, grads, self.slots[0], self.slots[1], lr_t, self.beta1, self.beta2, self.eps)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)}


def get_optimizer(optimizer: Union[str, Optimizer], lr: float | None = None, schedule=None) -> Optimizer:
    """An Optimizer from a name (``lr``/``schedule`` passed on) or an instance (used as is)."""
    if isinstance(optimizer, Optimizer):
        if lr is not None or schedule is not None:
            raise ValueError("pass lr and schedule to the optimizer instance itself, not to fit()")
        return optimizer
    key = optimizer.strip().lower() if isinstance(optimizer, str) else None
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer; received {optimizer!r}")
    return OPTIMIZERS[key](lr=lr, schedule=schedule)
