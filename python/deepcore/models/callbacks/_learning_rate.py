"""The learning-rate callbacks (LearningRateScheduler, ReduceLROnPlateau) and how they read and
set an optimizer's rate."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ._base import Callback, monitor_op


def get_learning_rate(optimizer: Any) -> float:
    """The optimizer's current learning rate (``learning_rate``, ``lr`` or param groups)."""
    for attr in ("learning_rate", "lr"):
        v = getattr(optimizer, attr, None)
        if isinstance(v, (int, float, np.floating)):
            return float(v)
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0]["lr"])
    raise AttributeError(f"cannot find the learning rate of {type(optimizer).__name__}")


def set_learning_rate(optimizer: Any, lr: float) -> None:
    lr = float(lr)
    if not math.isfinite(lr):
        raise ValueError(f"learning rate must be a finite number, got {lr}")
    done = False
    for attr in ("learning_rate", "lr"):
        v = getattr(optimizer, attr, None)
        if isinstance(v, (int, float, np.floating)):
            try:
                setattr(optimizer, attr, lr)
                done = True
            except AttributeError:  # a read-only property backed by param_groups
                pass
    for g in getattr(optimizer, "param_groups", None) or ():
        g["lr"] = lr
        done = True
    if not done:
        raise AttributeError(f"cannot set the learning rate of {type(optimizer).__name__}")


class LearningRateScheduler(Callback):
    """At the start of each epoch set the learning rate to ``schedule(epoch, lr)`` (or
    ``schedule(epoch)``); the rate used is logged as ``learning_rate``."""

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        opt = self.model.optimizer
        lr = get_learning_rate(opt)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:  # a one-argument schedule
            new = self.schedule(epoch)
        if not isinstance(new, (int, float, np.floating)):
            raise ValueError(
                f"the schedule must return a float learning rate, got {type(new).__name__}"
            )
        set_learning_rate(opt, float(new))
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(self.model.optimizer)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience``
    epochs (never below ``min_lr``)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau needs factor < 1, got {factor}")
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.verbose, self.min_delta, self.cooldown, self.min_lr = (
            verbose,
            min_delta,
            cooldown,
            min_lr,
        )
        self.monitor_op = monitor_op(mode, monitor)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best = np.inf if self.monitor_op is np.less else -np.inf
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        current = logs.get(self.monitor)
        logs["learning_rate"] = get_learning_rate(self.model.optimizer)
        if current is None:
            return
        delta = self.min_delta if self.monitor_op is np.greater else -self.min_delta
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current - delta, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = get_learning_rate(self.model.optimizer)
                new = max(old * self.factor, self.min_lr)
                if new < old:
                    set_learning_rate(self.model.optimizer, new)
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                            f"to {new}."
                        )
                self.cooldown_counter = self.cooldown
                self.wait = 0


# ---------------------------------------------------------------------- loggers
