"""F.dropout: inverted dropout with a new mask on every call."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _C
from ..._array import contiguous
from ..._checks import is_real
from ...autograd import Function
from ...tensor import Tensor, get_rng

__all__ = ["dropout"]


class _Dropout(Function):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray, p: float, rng: Any) -> np.ndarray:
        # Keep each element with probability 1 - p and scale the kept ones by 1/(1 - p), so the
        # expected activation is unchanged and inference needs no rescaling (inverted dropout).
        # One native pass: a counter-based RNG keyed by a seed drawn from the generator (a new
        # one per call), the mask kept as bytes for backward. See [Note: dropout RNG].
        seed = int(rng.integers(0, 2**64, dtype=np.uint64))
        y, mask = _C.dropout_forward(contiguous(x), p, seed)
        ctx.save_for_backward(mask)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> np.ndarray:
        (mask,) = ctx.saved
        return _C.dropout_backward(contiguous(gy), mask, ctx.p)


def dropout_mask(
    shape: tuple, p: float, dtype: Any, rng: np.random.Generator | None = None
) -> Tensor:
    """The inverted-dropout multiplier of ``shape``: 1/(1-p) where a uniform draw from ``rng``
    (default ``deepcore.get_rng()``) is >= p (probability 1 - p), else 0. The one place a
    broadcast mask is drawn: ``dropout(noise_shape=...)``, Dropout's ``noise_shape``,
    SpatialDropout's per-channel draws and ``keras.random.dropout`` use it."""
    keep = (get_rng() if rng is None else rng).random(shape) >= p
    return Tensor((keep / (1.0 - p)).astype(dtype))


def dropout(
    x: Tensor | np.ndarray,
    p: float = 0.5,
    training: bool = True,
    noise_shape: Any = None,
    rng: np.random.Generator | None = None,
) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training);
    the identity at inference (training=False) or p == 0. Masks come from ``rng`` (default
    deepcore.get_rng(), seeded by deepcore.manual_seed), a new one every call.
    ``noise_shape`` (Keras's; broadcastable to x's shape) shares one draw along the axes
    where it is 1, e.g. (batch, 1, features) drops whole features for every time step."""
    if not is_real(p):
        raise TypeError(f"dropout: p must be a float in [0, 1), got {type(p).__name__}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    p = float(p)
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"dropout: x must be float16, float32 or float64, got {data.dtype}")
    if not training or p == 0.0:
        return x if isinstance(x, Tensor) else Tensor(data)
    rng = get_rng() if rng is None else rng
    if noise_shape is None or tuple(noise_shape) == data.shape:
        return _Dropout.apply(x, float(p), rng)
    shape = tuple(int(s) for s in noise_shape)
    try:
        ok = np.broadcast_shapes(shape, data.shape) == data.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"dropout: noise_shape {shape} does not broadcast to {data.shape}")
    t = x if isinstance(x, Tensor) else Tensor(data)
    return t * dropout_mask(shape, float(p), data.dtype, rng)
