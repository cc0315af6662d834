"""F.dropout: inverted dropout with a new mask on every call."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd import Function
from ...tensor import Tensor, get_rng

__all__ = ["dropout"]


class _Dropout(Function):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray, p: float) -> np.ndarray:
        # Keep each element with probability 1 - p and scale the kept ones by 1/(1 - p), so the
        # expected activation is unchanged and inference needs no rescaling (inverted dropout).
        # Uniforms are drawn in x's dtype (float32: half the random bits of float64).
        keep = get_rng().random(x.shape, dtype=x.dtype) >= x.dtype.type(p)
        mask = keep * x.dtype.type(1.0 / (1.0 - p))
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> np.ndarray:
        (mask,) = ctx.saved
        return gy * mask


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
