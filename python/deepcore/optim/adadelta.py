"""Adadelta (Zeiler, 2012)."""

from __future__ import annotations

from typing import Any

from ._args import LearningRate, check_range
from .optimizer import Optimizer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta: ``v = rho*v + (1-rho)*g²; d = sqrt(u + eps)/sqrt(v + eps) * g;
    u = rho*u + (1-rho)*d²; p -= lr*d`` (the same rule in Keras and PyTorch).

    Defaults are Keras's: ``learning_rate=0.001, rho=0.95, epsilon=1e-7``. PyTorch's are
    ``lr=1.0, rho=0.9, eps=1e-6`` (the paper uses lr = 1).
    """

    kind = "adadelta"
    keras_name = "adadelta"

    def __init__(
        self,
        params: Any = None,
        lr: LearningRate | None = None,
        rho: float = 0.95,
        eps: float | None = None,
        weight_decay: float = 0.0,
        *,
        learning_rate: LearningRate | None = None,
        epsilon: float | None = None,
        decoupled_weight_decay: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        self._init_from_args(locals())

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_range("rho", group["rho"], 0.0, 1.0)
        check_range("eps (epsilon)", group["eps"], 0.0)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["square_avg", "acc_delta"]

    def _native_hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        return {k: group[k] for k in ("rho", "eps", "weight_decay", "decoupled_weight_decay")}
