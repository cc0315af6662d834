"""The argument checks every optimizer shares: a learning rate given Keras-style as the first
positional argument, one setting under its PyTorch or its Keras name, ranges of hyperparameters,
parameters that can be updated in place, and the counts of a loaded state."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, Callable, Union

import numpy as np

from .._checks import is_int
from ..tensor import Tensor

LearningRate = Union[float, Callable[..., float]]


def _is_lr_like(x: Any) -> bool:
    """A learning rate passed positionally Keras-style (``Adam(1e-3)``), not parameters."""
    if isinstance(x, bool):
        return False
    if isinstance(x, numbers.Real):
        return True
    return callable(x) and not isinstance(x, (Tensor, Iterable))


def keras_positional(params: Any, learning_rate: Any) -> tuple[Any, Any]:
    """Keras passes the learning rate first (``Adam(1e-3)``); PyTorch the parameters."""
    if params is not None and _is_lr_like(params):
        if learning_rate is not None:
            raise ValueError("learning rate given both positionally and as learning_rate=")
        return None, params
    return params, learning_rate


def pick(torch_name: str, torch_val: Any, keras_name: str, keras_val: Any, default: Any) -> Any:
    """One hyperparameter given under its PyTorch or its Keras name (not both)."""
    if torch_val is not None and keras_val is not None:
        raise ValueError(f"pass either {torch_name}= or {keras_name}= (the same setting), not both")
    if torch_val is not None:
        return torch_val
    return default if keras_val is None else keras_val


def check_range(
    name: str,
    value: Any,
    lo: float,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Validate a finite float hyperparameter against [lo, hi] (open ends as asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok or not math.isfinite(v):
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ValueError(f"{name} must be in {lb}{lo}, {hi}{rb}, got {value}")
    return v


def _check_lr(lr: Any) -> LearningRate:
    if callable(lr) and not isinstance(lr, numbers.Real):
        return lr
    return check_range("lr (learning_rate)", lr, 0.0)


def _count(name: str, value: Any) -> int:
    """A step / iteration count or an index: a non-negative int that fits an int64 step."""
    if isinstance(value, str) and value.isdigit():  # JSON object keys are strings
        value = int(value)
    if not is_int(value):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r}")
    if not 0 <= value < 2**62:
        raise ValueError(f"{name} must be a non-negative integer below 2**62, got {value}")
    return int(value)


def _check_param(p: Any, i: int) -> None:
    if not isinstance(p, Tensor):
        raise TypeError(f"parameter {i} must be a deepcore Tensor, got {type(p).__name__}")
    if p.data.dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(
            f"parameter {i} must be float16, float32 or float64 to be optimized, got {p.data.dtype}"
        )
    # (CuPy's flags have no `writeable`: device arrays always are)
    if not p.data.flags.c_contiguous or not getattr(p.data.flags, "writeable", True):
        raise ValueError(
            f"parameter {i} must be a C-contiguous, writeable array (it is updated "
            f"in place); got shape {p.data.shape} with strides {p.data.strides}"
        )
