"""Weight regularisers (Keras names): ``Dense(64, kernel_regularizer=regularizers.l2(1e-4))``.

A regulariser maps a weight Tensor to a scalar Tensor penalty; layers collect the penalties of
their weights in ``layer.losses`` and ``layer.regularization_loss()``, which the training loop
adds to the data loss.

[Note: L2 convention] deepcore follows its spec (the textbook weight-decay form): ``L2(l2)``
contributes ``l2 / 2 · ‖W‖²_F``, whose gradient is ``l2 · W`` — so ``l2`` is exactly the
weight-decay coefficient of SGD's update ``W -= lr · (g + l2 · W)``. Keras's ``L2(l2)``
contributes ``l2 · ‖W‖²`` (gradient ``2 · l2 · W``): to reproduce a Keras model's numbers, pass
twice the Keras coefficient. L1 is the same in both: ``l1 · Σ|W|``.
"""

from __future__ import annotations

from typing import Any, Callable, Union

from ..tensor import Tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize"]


class Regularizer:
    """Base class: ``__call__(weight) -> scalar Tensor``."""

    def __call__(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _coef(name: str, v: Any) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {v!r}") from None
    if not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


class L1L2(Regularizer):
    """``l1 · Σ|W| + l2 / 2 · ‖W‖²`` (see [Note: L2 convention])."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _coef("l1", l1)
        self.l2 = _coef("l2", l2)

    def __call__(self, w: Tensor) -> Tensor:
        penalty: Tensor | None = None
        if self.l1:
            penalty = w.abs().sum() * self.l1
        if self.l2:
            sq = (w * w).sum() * (0.5 * self.l2)
            penalty = sq if penalty is None else penalty + sq
        if penalty is None:  # both zero: still a Tensor, so callers can always add it
            penalty = (w * 0.0).sum()
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:  # noqa: E741 — Keras's function name
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    return L1L2(l1=l1, l2=l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": L1L2}

RegularizerLike = Union[str, dict, Regularizer, Callable[[Tensor], Tensor], None]


def get(identifier: RegularizerLike) -> Callable[[Tensor], Tensor] | None:
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _CLASSES:
            raise ValueError(f"unknown regularizer {identifier!r}; known: l1, l2, l1_l2")
        return _CLASSES[identifier]()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in _CLASSES:
            raise ValueError(f"unknown regularizer class {name!r}")
        return _CLASSES[name].from_config(dict(identifier.get("config", {})))
    if callable(identifier):
        return identifier
    raise TypeError(f"could not interpret regularizer {identifier!r}")


def serialize(reg: Any) -> dict | None:
    if reg is None:
        return None
    if isinstance(reg, Regularizer) and type(reg) in (L1, L2, L1L2):
        return {"class_name": type(reg).__name__, "config": reg.get_config()}
    raise ValueError(
        f"cannot serialise regularizer {reg!r}: use deepcore.nn.regularizers.L1/L2/L1L2"
    )
