"""Learning-rate schedules, usable two ways.

Keras style: a schedule is a callable ``schedule(step) -> lr`` passed as the learning rate; the
optimizer evaluates it at ``optimizer.iterations`` (the number of updates done so far) on every
step::

    opt = optim.SGD(learning_rate=optim.schedules.ExponentialDecay(0.1, 1000, 0.96))

PyTorch style: give the optimizer instead of the initial learning rate; the schedule then
scales each parameter group's initial rate and writes it into ``group["lr"]`` on every
``sched.step()`` (once per epoch, or per batch, as the loop decides)::

    sched = optim.schedules.StepDecay(opt, step_size=30, gamma=0.1)
    for epoch in range(100): train(...); sched.step()

The PyTorch names (``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``, ``LambdaLR``) are in
:mod:`deepcore.optim.lr_scheduler` with PyTorch's arguments.
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar

from .._checks import is_int, is_real, positive_int

__all__ = [
    "LearningRateSchedule",
    "StepDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "InverseSqrtDecay",
    "CosineDecay",
    "PiecewiseConstantDecay",
    "serialize",
    "deserialize",
]


def _nonneg(name: str, v: Any) -> float:
    if not is_real(v) or not (v >= 0) or math.isinf(v):
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return float(v)


class LearningRateSchedule:
    """Base class: subclasses implement ``value(step, initial_lr)`` and record their
    constructor arguments in ``self._config`` (for ``get_config``)."""

    registry: ClassVar[dict[str, type[LearningRateSchedule]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        LearningRateSchedule.registry[cls.__name__] = cls

    def __init__(self, initial_learning_rate: Any) -> None:
        self.optimizer: Any = None  # a deepcore.optim.Optimizer in PyTorch style
        self.last_epoch = 0
        if hasattr(initial_learning_rate, "param_groups"):  # an Optimizer (optimizer.py)
            opt = initial_learning_rate
            if not opt.param_groups:
                raise ValueError("a PyTorch-style schedule needs an optimizer with parameters")
            self.optimizer = opt
            for g in opt.param_groups:
                g.setdefault("initial_lr", opt._resolve_lr(g["lr"]))
            self.base_lrs = [float(g["initial_lr"]) for g in opt.param_groups]
            self.initial_learning_rate = self.base_lrs[0]
        else:
            self.initial_learning_rate = _nonneg("initial_learning_rate", initial_learning_rate)
            self.base_lrs = [self.initial_learning_rate]
        self._config: dict[str, Any] = {"initial_learning_rate": self.initial_learning_rate}

    def _attach(self) -> None:
        """PyTorch style: write the step-0 rates (subclasses call this at the end of __init__)."""
        if self.optimizer is not None:
            self._write()

    def value(self, step: float, initial_lr: float) -> float:
        raise NotImplementedError

    def __call__(self, step: Any) -> float:
        return float(self.value(float(step), self.initial_learning_rate))

    # PyTorch-style use
    def step(self) -> None:
        """Advance one epoch (or batch) and write the new rates into the optimizer's groups."""
        if self.optimizer is None:
            raise RuntimeError(
                "step() needs the schedule to be built with an optimizer (PyTorch style); a "
                "Keras-style schedule is evaluated by the optimizer it is the learning_rate of"
            )
        self.last_epoch += 1
        self._write()

    def _write(self) -> None:
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = float(self.value(float(self.last_epoch), base))

    def get_last_lr(self) -> list[float]:
        if self.optimizer is None:
            return [self(self.last_epoch)]
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        if self.optimizer is not None:
            self._write()

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"


class StepDecay(LearningRateSchedule):
    """``lr0 * gamma ** floor(step / step_size)`` (PyTorch StepLR)."""

    def __init__(self, initial_learning_rate: Any, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(initial_learning_rate)
        self.step_size = positive_int("step_size", step_size)
        self.gamma = _nonneg("gamma", gamma)
        self._config.update(step_size=self.step_size, gamma=self.gamma)
        self._attach()

    def value(self, step: float, initial_lr: float) -> float:
        return initial_lr * self.gamma ** math.floor(step / self.step_size)


class _RateDecay(LearningRateSchedule):
    """Shared arguments of the Keras decays: ``decay_steps``, ``decay_rate``, ``staircase``;
    ``_progress(step)`` is ``step / decay_steps``, floored when ``staircase``."""

    def __init__(
        self,
        initial_learning_rate: Any,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
    ) -> None:
        super().__init__(initial_learning_rate)
        self.decay_steps = positive_int("decay_steps", decay_steps)
        self.decay_rate = _nonneg("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self._config.update(
            decay_steps=self.decay_steps, decay_rate=self.decay_rate, staircase=self.staircase
        )
        self._attach()

    def _progress(self, step: float) -> float:
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p


class ExponentialDecay(_RateDecay):
    """``lr0 * decay_rate ** (step / decay_steps)`` (floored exponent when ``staircase``)
    (Keras ExponentialDecay; PyTorch ExponentialLR is decay_steps=1)."""

    def value(self, step: float, initial_lr: float) -> float:
        return initial_lr * self.decay_rate ** self._progress(step)


class InverseTimeDecay(_RateDecay):
    """``lr0 / (1 + decay_rate * step / decay_steps)`` (Keras InverseTimeDecay)."""

    def value(self, step: float, initial_lr: float) -> float:
        return initial_lr / (1.0 + self.decay_rate * self._progress(step))


class InverseSqrtDecay(LearningRateSchedule):
    """The "1/t" decay of the SPEC: ``lr0 / sqrt(step / decay_steps + 1)``; with the default
    ``decay_steps=1`` this is ``eta_t = eta / sqrt(t + 1)``."""

    def __init__(self, initial_learning_rate: Any, decay_steps: int = 1) -> None:
        super().__init__(initial_learning_rate)
        self.decay_steps = positive_int("decay_steps", decay_steps)
        self._config.update(decay_steps=self.decay_steps)
        self._attach()

    def value(self, step: float, initial_lr: float) -> float:
        return initial_lr / math.sqrt(step / self.decay_steps + 1.0)


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup (Keras 3 CosineDecay).

    Without ``warmup_target``: ``lr0 * ((1-alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) /
    decay_steps)) + alpha)``. With it: a linear ramp from ``lr0`` to ``warmup_target`` over
    ``warmup_steps``, then the same cosine from ``warmup_target`` over ``decay_steps``. After the
    decay the rate stays at ``alpha`` times the peak. (PyTorch's CosineAnnealingLR, which keeps
    oscillating after ``T_max``, is in lr_scheduler.)"""

    def __init__(
        self,
        initial_learning_rate: Any,
        decay_steps: int,
        alpha: float = 0.0,
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__(initial_learning_rate)
        self.decay_steps = positive_int("decay_steps", decay_steps)
        self.alpha = _nonneg("alpha", alpha)
        if self.alpha > 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.warmup_target = (
            None if warmup_target is None else _nonneg("warmup_target", warmup_target)
        )
        if not is_int(warmup_steps) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)
        self._config.update(
            decay_steps=self.decay_steps,
            alpha=self.alpha,
            warmup_target=self.warmup_target,
            warmup_steps=self.warmup_steps,
        )
        self._attach()

    def _cosine(self, step: float, peak: float) -> float:
        frac = min(step, self.decay_steps) / self.decay_steps
        return peak * ((1.0 - self.alpha) * 0.5 * (1.0 + math.cos(math.pi * frac)) + self.alpha)

    def value(self, step: float, initial_lr: float) -> float:
        if self.warmup_target is None:
            return self._cosine(step, initial_lr)
        if step < self.warmup_steps:
            return initial_lr + (self.warmup_target - initial_lr) * step / self.warmup_steps
        return self._cosine(step - self.warmup_steps, self.warmup_target)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]`` (Keras)."""

    def __init__(self, boundaries: list[float], values: list[float]) -> None:
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"values must have len(boundaries) + 1 = {len(boundaries) + 1} "
                f"entries, got {len(values)}"
            )
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError("boundaries must be strictly increasing")
        super().__init__(values[0])
        self.boundaries = [float(b) for b in boundaries]
        self.values = [_nonneg("values[i]", v) for v in values]
        self._config = {"boundaries": self.boundaries, "values": self.values}

    def value(self, step: float, initial_lr: float) -> float:
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]


class LambdaDecay(LearningRateSchedule):
    """``lr0 * fn(step)`` for any Python function (not serialisable; PyTorch LambdaLR)."""

    def __init__(self, initial_learning_rate: Any, lr_lambda: Callable[[int], float]) -> None:
        super().__init__(initial_learning_rate)
        if not callable(lr_lambda):
            raise TypeError("lr_lambda must be callable")
        self.lr_lambda = lr_lambda
        self._attach()

    def value(self, step: float, initial_lr: float) -> float:
        return initial_lr * float(self.lr_lambda(int(step)))

    def get_config(self) -> dict[str, Any]:
        raise ValueError("a LambdaDecay schedule holds a Python function and cannot be serialised")


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """JSON-able {"class_name": ..., "config": ...}."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    name = config.get("class_name")
    cls = LearningRateSchedule.registry.get(name)
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule {name!r}")
    return cls.from_config(config["config"])
