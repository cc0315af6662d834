"""Gradient clipping, in place on ``.grad``, with native reductions (csrc/optim.h).

    norm = optim.clip_grad_norm_(model.parameters(), max_norm=1.0)   # global norm, rescale
    optim.clip_grad_value_(model.parameters(), 0.5)                   # clamp every element

Optimizers also take Keras's ``clipnorm`` / ``clipvalue`` / ``global_clipnorm``, applied inside
their fused step without touching ``.grad``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Union

import numpy as np

from .. import _C
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "global_norm"]

Params = Union[Tensor, Iterable[Tensor]]


def _grad_arrays(parameters: Params) -> list[np.ndarray]:
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    out = []
    for i, p in enumerate(ps):
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters[{i}] must be a deepcore Tensor, got {type(p).__name__}")
        if p.grad is not None:
            out.append(p.grad.data if isinstance(p.grad, Tensor) else p.grad)
    return out


def _norm_type(norm_type: float) -> float:
    nt = float(norm_type)
    if nt != 2.0 and not (math.isinf(nt) and nt > 0):
        raise ValueError(f"norm_type must be 2 or inf, got {norm_type!r}")
    return nt


def global_norm(arrays: list[np.ndarray], norm_type: float = 2.0) -> np.float64:
    """The norm of the concatenation of ``arrays`` (float64, native per-array reductions)."""
    nt = _norm_type(norm_type)
    norms = _C.grad_norms(arrays, nt)
    if not len(norms):
        return np.float64(0.0)
    if math.isinf(nt):
        return np.float64(norms.max())
    return np.float64(math.sqrt(float(np.dot(norms, norms))))


def clip_grad_norm_(
    parameters: Params, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> np.float64:
    """Rescale all gradients together so their global norm is at most ``max_norm``
    (``g *= max_norm / (norm + 1e-6)`` when the norm exceeds it, as PyTorch). Returns the norm
    before clipping (a float64 scalar; ``.item()`` works)."""
    if isinstance(max_norm, bool) or not (float(max_norm) > 0):
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    grads = _grad_arrays(parameters)
    total = global_norm(grads, norm_type)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise RuntimeError(
                f"the total norm of order {norm_type} of the gradients is "
                f"non-finite ({total}), so it cannot be clipped"
            )
    coef = float(max_norm) / (float(total) + 1e-6)
    if coef < 1.0:
        _C.scale_clamp_(grads, coef, 0.0)
    return total


def clip_grad_value_(parameters: Params, clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    if isinstance(clip_value, bool) or not (float(clip_value) > 0) or math.isinf(clip_value):
        raise ValueError(f"clip_value must be a finite number > 0, got {clip_value!r}")
    _C.scale_clamp_(_grad_arrays(parameters), 1.0, float(clip_value))
