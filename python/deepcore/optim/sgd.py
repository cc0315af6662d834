"""Stochastic gradient descent, with momentum and Nesterov momentum."""

from __future__ import annotations

from typing import Any

from ._args import LearningRate, check_range
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD: ``p -= lr * g``; with momentum ``b = momentum*b + (1-dampening)*g`` (the buffer
    starts as the first gradient) and ``p -= lr*b``, or ``p -= lr*(g + momentum*b)`` with
    ``nesterov=True`` (PyTorch's formulation; for a constant learning rate it equals Keras's
    ``v = momentum*v - lr*g; p += v``, and after a learning-rate change the new rate applies to
    the whole step at once). Full-batch, mini-batch or per-sample SGD is a matter of what the
    gradient was computed on.

    ``weight_decay`` adds ``weight_decay * p`` to the gradient (L2, PyTorch);
    ``decoupled_weight_decay=True`` instead shrinks ``p *= 1 - lr*weight_decay`` (Keras 3).
    ``lr`` / ``learning_rate`` defaults to 0.01 (Keras). Parameters may be given now
    (``SGD(model.parameters(), lr=0.1)``) or later via ``build(params)``.
    """

    kind = "sgd"
    keras_name = "sgd"
    aliases = {"lr": ("learning_rate", 0.01)}

    def __init__(
        self,
        params: Any = None,
        lr: LearningRate | None = None,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        learning_rate: LearningRate | None = None,
        decoupled_weight_decay: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        self._init_from_args(locals())

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        mom = check_range("momentum", group["momentum"], 0.0)
        damp = check_range("dampening", group["dampening"], 0.0, 1.0)
        if group["nesterov"] and (mom <= 0 or damp != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0")

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["momentum_buffer"] if group["momentum"] != 0 else []

    def _native_hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        return {
            k: group[k]
            for k in ("momentum", "dampening", "weight_decay", "nesterov", "decoupled_weight_decay")
        }
