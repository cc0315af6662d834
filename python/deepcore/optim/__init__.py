"""deepcore.optim: optimizers with fused native updates, learning-rate schedules, clipping.

    opt = optim.Adam(model.parameters(), lr=1e-3)          # PyTorch style
    opt = optim.get("rmsprop"); opt.build(params)          # Keras style (compile() does this)
    loss.backward(); opt.step(); opt.zero_grad()

Keras names resolve with :func:`get`: 'sgd', 'rmsprop', 'adam', 'adamw', 'adagrad', 'adadelta',
'nadam'; ``LossScaleOptimizer`` wraps one for mixed-precision training. Defaults are Keras's
(see each class for PyTorch's and how to match it exactly).
"""

from __future__ import annotations

from typing import Any

from . import lr_scheduler, schedules
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW, NAdam, Nadam
from .clip import clip_grad_norm_, clip_grad_value_, global_norm
from .loss_scale import LossScaleOptimizer
from .optimizer import OPTIMIZERS, Optimizer
from .rmsprop import RMSprop
from .schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseSqrtDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    StepDecay,
)
from .sgd import SGD
from .state_json import flatten_state_dict, unflatten_state_dict

__all__ = [
    "OPTIMIZERS",
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adadelta",
    "Adam",
    "AdamW",
    "Nadam",
    "NAdam",
    "LossScaleOptimizer",
    "get",
    "serialize",
    "deserialize",
    "clip_grad_norm_",
    "clip_grad_value_",
    "global_norm",
    "flatten_state_dict",
    "unflatten_state_dict",
    "schedules",
    "lr_scheduler",
    "LearningRateSchedule",
    "StepDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "InverseSqrtDecay",
    "CosineDecay",
    "PiecewiseConstantDecay",
]


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """JSON-able {"class_name": ..., "config": ...} (Keras)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any], custom_objects: dict | None = None) -> Optimizer:
    """Rebuild what ``serialize`` wrote; ``custom_objects`` maps class names of optimizers
    that are not built in."""
    name = config.get("class_name", "")
    cls = (custom_objects or {}).get(name) or OPTIMIZERS.get(str(name))
    return cls.from_config(config.get("config", {}))


def get(identifier: Any) -> Optimizer:
    """An optimizer from a Keras name ('rmsprop', default hyperparameters, no parameters yet:
    call ``build(params)``), a serialized dict, or an Optimizer (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return OPTIMIZERS.get(identifier)()
    raise TypeError(f"cannot interpret {identifier!r} as an optimizer")
