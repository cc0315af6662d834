"""Adam (Kingma & Ba, 2015), AdamW (Loshchilov & Hutter, 2019) and Nadam (Dozat, 2016)."""

from __future__ import annotations

from typing import Any

from ._args import LearningRate, check_range
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW", "Nadam", "NAdam"]


def _betas(betas: Any, beta_1: float | None, beta_2: float | None) -> tuple[float, float]:
    if betas is not None and (beta_1 is not None or beta_2 is not None):
        raise ValueError("pass either betas= or beta_1=/beta_2=, not both")
    if betas is not None:
        b = tuple(betas)
        if len(b) != 2:
            raise ValueError(f"betas must be a pair (beta_1, beta_2), got {betas!r}")
        return float(b[0]), float(b[1])
    return (0.9 if beta_1 is None else beta_1), (0.999 if beta_2 is None else beta_2)


class _AdamBase(Optimizer):
    def _keras_spellings(self) -> set[str]:
        return super()._keras_spellings() | {"beta_1", "beta_2"}

    def _hyper_value(self, name: str, args: dict[str, Any]) -> Any:
        if name == "betas":
            return _betas(args["betas"], args["beta_1"], args["beta_2"])
        return super()._hyper_value(name, args)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        b1, b2 = group["betas"]
        check_range("beta_1 (betas[0])", b1, 0.0, 1.0, hi_open=True)
        check_range("beta_2 (betas[1])", b2, 0.0, 1.0, hi_open=True)
        check_range("eps (epsilon)", group["eps"], 0.0)

    def _native_hyper(self, group: dict[str, Any]) -> dict[str, Any]:
        h = {k: group[k] for k in ("eps", "weight_decay", "decoupled_weight_decay")}
        h["beta_1"], h["beta_2"] = group["betas"]
        h["amsgrad"] = group.get("amsgrad", False)
        h["momentum_decay"] = group.get("momentum_decay", 4e-3)
        return h


class Adam(_AdamBase):
    """Adam, Algorithm 1 of the paper (as PyTorch): ``m = b1*m + (1-b1)*g``,
    ``v = b2*v + (1-b2)*g²``, ``p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``;
    ``amsgrad`` uses the running maximum of ``v``.

    Defaults: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7`` (Keras's values;
    PyTorch's eps is 1e-8). Keras adds its epsilon to ``sqrt(v)`` before the bias correction
    ("epsilon hat"), which equals this rule with ``eps * sqrt(1-b2^t)``: the two agree once
    ``t`` is more than a few thousand, and differ by at most that rescaling of eps before.
    ``weight_decay`` is L2 added to the gradient (PyTorch Adam) unless
    ``decoupled_weight_decay=True`` (AdamW: ``p *= 1 - lr*weight_decay``).
    """

    kind = "adam"
    keras_name = "adam"

    def __init__(
        self,
        params: Any = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] | None = None,
        eps: float | None = None,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = False,
        learning_rate: LearningRate | None = None,
        beta_1: float | None = None,
        beta_2: float | None = None,
        epsilon: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        self._init_from_args(locals())

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        names = ["exp_avg", "exp_avg_sq"]
        if group["amsgrad"]:
            names.append("max_exp_avg_sq")
        return names


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr*weight_decay`` before the Adam step.
    ``weight_decay`` defaults to Keras's 0.004 (PyTorch's AdamW: 0.01)."""

    keras_name = "adamw"

    def __init__(
        self,
        params: Any = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] | None = None,
        eps: float | None = None,
        weight_decay: float = 0.004,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = True,
        learning_rate: LearningRate | None = None,
        beta_1: float | None = None,
        beta_2: float | None = None,
        epsilon: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        if not decoupled_weight_decay:
            raise ValueError("AdamW always decouples weight decay; use Adam for L2 decay")
        self._init_from_args(locals())


class Nadam(_AdamBase):
    """Nadam (Adam with Nesterov momentum, Dozat 2016; the rule of PyTorch NAdam and Keras):
    with ``mu_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay))`` and ``P_t = mu_1 ... mu_t``,
    ``p -= lr * ((1-mu_t)/(1-P_t) * g + mu_{t+1}/(1-P_t mu_{t+1}) * m) / (sqrt(v/(1-b2^t)) +
    eps)``. Defaults: Keras's ``learning_rate=0.001, epsilon=1e-7`` (PyTorch: 2e-3, 1e-8).
    """

    kind = "nadam"
    keras_name = "nadam"

    def __init__(
        self,
        params: Any = None,
        lr: LearningRate | None = None,
        betas: tuple[float, float] | None = None,
        eps: float | None = None,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        *,
        decoupled_weight_decay: bool = False,
        learning_rate: LearningRate | None = None,
        beta_1: float | None = None,
        beta_2: float | None = None,
        epsilon: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        self._init_from_args(locals())

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_range("momentum_decay", group["momentum_decay"], 0.0)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["exp_avg", "exp_avg_sq"]


NAdam = Nadam
