"""PyTorch-named learning-rate schedulers (``sched = StepLR(opt, 30); sched.step()``).

Each is a :class:`deepcore.optim.schedules.LearningRateSchedule` built with an optimizer, so it
writes ``group["lr"]`` on ``step()`` and exposes ``get_last_lr()``, ``state_dict()``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .._checks import positive_int
from .optimizer import Optimizer
from .schedules import ExponentialDecay, LambdaDecay, LearningRateSchedule, StepDecay, _nonneg

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR"]

LRScheduler = LearningRateSchedule


def _need_optimizer(opt: Any) -> Optimizer:
    if not isinstance(opt, Optimizer):
        raise TypeError(f"optimizer must be a deepcore Optimizer, got {type(opt).__name__}")
    return opt


class StepLR(StepDecay):
    """``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(_need_optimizer(optimizer), step_size, gamma)


class ExponentialLR(ExponentialDecay):
    """``lr = base_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(_need_optimizer(optimizer), 1, gamma)


class CosineAnnealingLR(LearningRateSchedule):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`` (PyTorch's
    closed form, which keeps oscillating past ``T_max``)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(_need_optimizer(optimizer))
        self.T_max = positive_int("T_max", T_max)
        self.eta_min = _nonneg("eta_min", eta_min)
        self._config.update(T_max=self.T_max, eta_min=self.eta_min)
        self._attach()

    def value(self, step: float, initial_lr: float) -> float:
        cos = 0.5 * (1.0 + math.cos(math.pi * step / self.T_max))
        return self.eta_min + (initial_lr - self.eta_min) * cos


class LambdaLR(LambdaDecay):
    """``lr = base_lr * lr_lambda(epoch)``."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        super().__init__(_need_optimizer(optimizer), lr_lambda)
