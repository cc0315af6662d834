"""Keras's ``LossScaleOptimizer``: dynamic loss scaling for mixed-precision (float16) training.

    opt = optim.LossScaleOptimizer(optim.Adam(1e-3))   # model.compile does this itself under
    loss = loss_fn(y, model(x))                        # the "mixed_float16" policy
    opt.scale_loss(loss).backward()                    # gradients of loss * scale
    opt.step()                                         # or opt.apply(grads, variables)

The loss is multiplied by ``dynamic_scale`` before differentiation, so small float16
gradients do not underflow. A step then checks every gradient: if all are finite it applies
the wrapped optimizer to gradients divided by the scale (the division is folded into the fused
native update as a gradient factor, so it costs no pass of its own), and doubles the scale after
``dynamic_growth_steps`` such steps in a row; if any is inf or NaN it skips the update (the
wrapped optimizer's ``iterations`` stay put) and halves the scale. These are Keras 3's rules
(keras.optimizers.LossScaleOptimizer); its custom-loop API is ``scale_loss`` plus ``apply`` /
``apply_gradients`` (which unscale), not tf.keras 2's ``get_scaled_loss`` /
``get_unscaled_gradients``.

Everything else (parameter groups, state, learning rate, iterations, clipping) is the wrapped
optimizer's, read through this one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _C
from .._checks import is_int
from ..autograd import Context, Function
from ._args import _count, check_range
from ._half import _grad_array
from .optimizer import OPTIMIZERS, Optimizer

__all__ = ["LossScaleOptimizer"]

# Keras's base-optimizer keywords a LossScaleOptimizer refuses (they belong on the inner one),
# with the values that mean "not set".
_INNER_ONLY = {
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


class _ScaleLoss(Function):
    """y = x * scale, and dx = dy * scale: the loss scaling's product. An overflow to inf here
    is the event the scaling detects (the step is skipped, the scale halved), not an error, so
    NumPy is told not to warn about it (under ``-W error`` its warning would end training)."""

    @staticmethod
    def forward(ctx: Context, x: Any, scale: float) -> Any:
        ctx.scale = scale
        with np.errstate(over="ignore", invalid="ignore"):  # (CuPy does not warn)
            return x * scale

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        with np.errstate(over="ignore", invalid="ignore"):
            return g * ctx.scale, None


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around ``inner_optimizer`` (see the module docstring).

    ``initial_scale`` (2**15) is the first scale; after ``dynamic_growth_steps`` (2000) steps
    with finite gradients it doubles; a step with an inf / NaN gradient is skipped and halves
    it. ``dynamic_scale`` is the current scale (a float) and ``step_counter`` the finite steps
    since it last changed. ``step()`` (PyTorch style, on the parameters' ``.grad``) and
    ``apply`` / ``apply_gradients`` (Keras) both unscale, check and step as described."""

    keras_name = "loss_scale_optimizer"

    def __init__(
        self,
        inner_optimizer: Optimizer,
        initial_scale: float = 2.0**15,
        dynamic_growth_steps: int = 2000,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(inner_optimizer, Optimizer):
            raise TypeError(
                "LossScaleOptimizer: inner_optimizer must be a deepcore optimizer, got "
                f"{type(inner_optimizer).__name__}"
            )
        if isinstance(inner_optimizer, LossScaleOptimizer):
            raise ValueError(
                "LossScaleOptimizer: inner_optimizer is already a LossScaleOptimizer (the loss "
                "would be scaled twice)"
            )
        if not kwargs.pop("dynamic", True):
            raise ValueError(
                "LossScaleOptimizer: dynamic=False is not supported (as in Keras 3): the loss "
                "scale is always dynamic"
            )
        for k, default in _INNER_ONLY.items():
            if k in kwargs and kwargs.pop(k) != default:
                raise ValueError(
                    f"LossScaleOptimizer does not take {k}=: set it on the inner optimizer"
                )
        if kwargs:
            raise ValueError(f"LossScaleOptimizer: unexpected argument(s) {sorted(kwargs)}")
        scale = check_range("initial_scale", initial_scale, 0.0, lo_open=True)
        if not is_int(dynamic_growth_steps):
            raise TypeError(
                f"dynamic_growth_steps must be a positive integer, got {dynamic_growth_steps!r}"
            )
        if dynamic_growth_steps < 1:
            raise ValueError(
                f"dynamic_growth_steps must be a positive integer, got {dynamic_growth_steps}"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        d = self.__dict__
        d["inner_optimizer"] = inner_optimizer
        d["initial_scale"] = scale
        d["dynamic_growth_steps"] = int(dynamic_growth_steps)
        d["name"] = name or "loss_scale_optimizer"
        d["dynamic_scale"] = scale
        d["step_counter"] = 0

    def __getattr__(self, name: str) -> Any:
        # everything not defined here is the wrapped optimizer's (defaults, clipnorm, ...)
        inner = self.__dict__.get("inner_optimizer")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    # the wrapped optimizer's state, read through this one
    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.inner_optimizer.param_groups

    @property
    def state(self) -> Any:  # type: ignore[override]
        return self.inner_optimizer.state

    @property
    def iterations(self) -> int:  # type: ignore[override]
        """The wrapped optimizer's step count (skipped steps do not count, as in Keras)."""
        return self.inner_optimizer.iterations

    def build(self, params: Any) -> LossScaleOptimizer:
        self.inner_optimizer.build(params)
        return self

    add_params = build

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self.inner_optimizer.add_param_group(param_group)

    def _follow_params(self) -> None:
        self.inner_optimizer._follow_params()

    # ------------------------------------------------------------------ scaling
    def scale_loss(self, loss: Any) -> Any:
        """``loss`` times the current scale: differentiate this one."""
        return _ScaleLoss.apply(loss, float(self.dynamic_scale))

    def check_finite(self, grads: Any) -> bool:
        """True when every gradient in ``grads`` (None ignored) is free of inf and NaN: one
        native sum of squares per tensor, computed in double, which is finite exactly when
        every element of a float32 gradient is."""
        arrays = [_grad_array(g) for g in grads if g is not None]
        if not arrays:
            return True
        return bool(np.isfinite(_C.grad_norms(arrays, 2.0)).all())

    def _apply(self, groups_pairs: list[list[tuple[Any, Any]]], grad_scale: float = 1.0) -> None:
        grads = [g for pairs in groups_pairs for _, g in pairs]
        d = self.__dict__
        if not self.check_finite(grads):
            d["dynamic_scale"] = self.dynamic_scale / 2.0
            d["step_counter"] = 0
            return
        self.inner_optimizer._apply(groups_pairs, grad_scale / self.dynamic_scale)
        if self.step_counter == self.dynamic_growth_steps - 1:
            d["step_counter"] = 0
            d["dynamic_scale"] = self.dynamic_scale * 2.0
        else:
            d["step_counter"] = self.step_counter + 1

    # ------------------------------------------------------------------ (de)serialisation
    def get_config(self) -> dict[str, Any]:
        inner = self.inner_optimizer
        return {
            "name": self.name,
            "inner_optimizer": {"class_name": type(inner).__name__, "config": inner.get_config()},
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LossScaleOptimizer:
        inner = config.get("inner_optimizer") if isinstance(config, dict) else None
        if not isinstance(inner, dict):
            raise ValueError(
                "LossScaleOptimizer.from_config: config must be a dict with an "
                "'inner_optimizer' object"
            )
        cfg = {k: v for k, v in config.items() if k != "inner_optimizer"}
        inner_cls = OPTIMIZERS.get(str(inner.get("class_name", "")))
        return cls(inner_cls.from_config(inner.get("config", {})), **cfg)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's state dict plus ``loss_scale``: the current scale and step
        counter (so a reloaded run continues with the scale it had)."""
        sd = self.inner_optimizer.state_dict()
        sd["class_name"] = type(self).__name__
        sd["config"] = self.get_config()
        sd["loss_scale"] = {"dynamic_scale": self.dynamic_scale, "step_counter": self.step_counter}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        ls = state_dict.get("loss_scale", {})
        if not isinstance(ls, dict):
            raise ValueError(f"loss_scale must be an object, got {ls!r}")
        scale = check_range(
            "dynamic_scale", ls.get("dynamic_scale", self.dynamic_scale), 0.0, lo_open=True
        )
        counter = _count("step_counter", ls.get("step_counter", self.step_counter))
        if not math.isfinite(scale):
            raise ValueError(f"dynamic_scale must be finite, got {scale}")
        self.inner_optimizer.load_state_dict(state_dict)
        self.__dict__["dynamic_scale"] = scale
        self.__dict__["step_counter"] = counter

    def __repr__(self) -> str:
        return (
            f"LossScaleOptimizer({self.inner_optimizer!r}; dynamic_scale={self.dynamic_scale}, "
            f"step_counter={self.step_counter})"
        )
