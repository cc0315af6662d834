"""RMSprop (Hinton, 2012), optionally centered and with momentum."""

from __future__ import annotations

from typing import Any

from ._args import LearningRate, check_range
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop: ``v = rho*v + (1-rho)*g²`` and ``p -= lr * g / sqrt(v + eps)``; ``centered``
    also tracks ``a = rho*a + (1-rho)*g`` and uses ``v - a²``; ``momentum`` keeps
    ``b = momentum*b + g/sqrt(...)`` and steps ``p -= lr*b``.

    Defaults are Keras's (models compile with 'rmsprop' as in Keras): ``learning_rate=0.001``,
    ``rho=0.9``, ``epsilon=1e-7`` added *inside* the square root. PyTorch's RMSprop uses
    ``alpha=0.99, eps=1e-8`` added *after* the square root, ``sqrt(v) + eps``: pass
    ``eps_inside_sqrt=False`` (and those values) to reproduce it exactly. ``alpha`` is accepted as
    PyTorch's name for ``rho``.
    """

    kind = "rmsprop"
    keras_name = "rmsprop"
    aliases = {**Optimizer.aliases, "alpha": ("rho", 0.9)}

    def __init__(
        self,
        params: Any = None,
        lr: LearningRate | None = None,
        alpha: float | None = None,
        eps: float | None = None,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        eps_inside_sqrt: bool = True,
        learning_rate: LearningRate | None = None,
        rho: float | None = None,
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
        check_range("alpha (rho)", group["alpha"], 0.0, 1.0)
        check_range("eps (epsilon)", group["eps"], 0.0)
        check_range("momentum", group["momentum"], 0.0)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        names = ["square_avg"]
        if group["momentum"] != 0:
            names.append("momentum_buffer")
        if group["centered"]:
            names.append("grad_avg")
        return names

    def _native_hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        h = {
            k: group[k]
            for k in (
                "eps",
                "weight_decay",
                "momentum",
                "centered",
                "eps_inside_sqrt",
                "decoupled_weight_decay",
            )
        }
        h["rho"] = group["alpha"]
        return h
