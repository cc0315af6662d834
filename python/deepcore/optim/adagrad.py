"""Adagrad (Duchi et al., 2011)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import array_module
from ..tensor import Tensor
from ._args import LearningRate, check_range
from .optimizer import Optimizer, _state_dtype

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad: ``s += g²; p -= lr_t * g / sqrt(s + eps)`` with ``lr_t = lr / (1 + (t-1)
    lr_decay)``.

    Defaults follow Keras: ``learning_rate=0.001``, ``initial_accumulator_value=0.1``,
    ``epsilon=1e-7`` inside the square root (``eps_inside_sqrt=True``). PyTorch's Adagrad is
    ``lr=0.01, initial_accumulator_value=0, eps=1e-10`` with ``eps`` added *after* the square
    root: pass ``eps_inside_sqrt=False`` (and those values) to reproduce it exactly.
    """

    kind = "adagrad"
    keras_name = "adagrad"

    def __init__(
        self,
        params: Any = None,
        lr: LearningRate | None = None,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.1,
        eps: float | None = None,
        *,
        eps_inside_sqrt: bool = True,
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
        check_range("lr_decay", group["lr_decay"], 0.0)
        check_range("initial_accumulator_value", group["initial_accumulator_value"], 0.0)
        check_range("eps (epsilon)", group["eps"], 0.0)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["sum"]

    def _init_state(self, name: str, p: Tensor, group: dict[str, Any]) -> np.ndarray:
        return array_module(p.data).full_like(
            p.data, group["initial_accumulator_value"], dtype=_state_dtype(p.data)
        )

    def _native_hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        return {
            k: group[k]
            for k in (
                "lr_decay",
                "weight_decay",
                "eps",
                "eps_inside_sqrt",
                "decoupled_weight_decay",
            )
        }
