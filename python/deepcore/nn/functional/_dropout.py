"""F.dropout: inverted dropout with a new mask on every call."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _C
from ..._array import contiguous
from ...autograd import Function
from ...tensor import Tensor, get_rng

__all__ = ["dropout"]


class _Dropout(Function):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray, p: float) -> np.ndarray:
        # Keep each element with probability 1 - p and scale the kept ones by 1/(1 - p), so the
        # expected activation is unchanged and inference needs no rescaling (inverted dropout).
        # One native pass: a counter-based RNG keyed by a seed drawn from deepcore.get_rng()
        # (a new one per call), the mask kept as bytes for backward. See [Note: dropout RNG].
        seed = int(get_rng().integers(0, 2**64, dtype=np.uint64))
        y, mask = _C.dropout_forward(contiguous(x), p, seed)
        ctx.save_for_backward(mask)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> np.ndarray:
        (mask,) = ctx.saved
        return _C.dropout_backward(contiguous(gy), mask, ctx.p)


def dropout(x: Tensor | np.ndarray, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training);
    the identity at inference (training=False) or p == 0. Masks come from deepcore.get_rng()
    (seeded by deepcore.manual_seed), a new one every call."""
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"dropout: p must be a float in [0, 1), got {type(p).__name__}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.dtype not in (np.float32, np.float64):
        raise TypeError(f"dropout: x must be float32 or float64, got {data.dtype}")
    if not training or p == 0.0:
        return x if isinstance(x, Tensor) else Tensor(data)
    return _Dropout.apply(x, float(p))
