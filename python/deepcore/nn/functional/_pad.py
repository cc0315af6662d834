"""``F.pad`` with PyTorch's arguments, on the one padding implementation (``deepcore.pad``).

PyTorch's ``pad`` lists (before, after) pairs from the LAST axis backwards: ``(left, right)``
pads the last axis, ``(left, right, top, bottom)`` the last two, and so on; a negative width
crops. Modes map onto ``deepcore.pad``'s NumPy names: 'constant' (``value``, default 0),
'reflect' (mirror without repeating the edge), 'replicate' ('edge') and 'circular' ('wrap').
As PyTorch, 'reflect' needs each width below the axis size and 'circular' at most the size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ops._shape import pad as _pad
from ...tensor import Tensor

__all__ = ["pad"]

_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """PyTorch's ``F.pad``: ``pad`` = (before, after) widths of the last axis, then of the one
    before it, ... (an even number of ints, at most two per axis; negative crops)."""
    if not isinstance(input, Tensor):
        input = Tensor(input)  # noqa: A001  (an ndarray: the argument check allows it)
    if mode not in _MODES:
        raise ValueError(f"pad: mode must be one of {tuple(_MODES)}, got {mode!r}")
    if not isinstance(pad, (tuple, list)) or not all(
        isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad
    ):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(
            f"pad: pad must have an even length of at most 2 * {input.ndim} (two per axis, "
            f"last axis first), got {len(pad)}"
        )
    if value is not None and mode != "constant":
        raise ValueError(f"pad: value is only for mode='constant', not {mode!r}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    for ax, ((b, a), n) in enumerate(zip(widths, input.shape)):
        if n + b + a < 0:
            raise ValueError(
                f"pad: widths ({b}, {a}) would give axis {ax} of size {n} a negative size"
            )
    crop = tuple(
        slice(-b if b < 0 else 0, n + a if a < 0 else n) for (b, a), n in zip(widths, input.shape)
    )
    x = input[crop] if any(b < 0 or a < 0 for b, a in widths) else input
    widths = [(max(b, 0), max(a, 0)) for b, a in widths]
    for ax, ((b, a), n) in enumerate(zip(widths, x.shape)):
        if (b or a) and n == 0 and mode != "constant":
            raise ValueError(f"pad: mode {mode!r} cannot pad the empty axis {ax}")
        if mode == "reflect" and max(b, a) >= n and (b or a):
            raise ValueError(
                f"pad: 'reflect' widths must be smaller than the axis size, got ({b}, {a}) for "
                f"axis {ax} of size {n}"
            )
        if mode == "circular" and max(b, a) > n:
            raise ValueError(
                f"pad: 'circular' widths must be at most the axis size, got ({b}, {a}) for "
                f"axis {ax} of size {n}"
            )
    size = np.dtype(x.dtype).itemsize
    for (b, a), n in zip(widths, x.shape):
        size *= n + b + a
    if size >= 2**63:
        raise ValueError(f"pad: the padded tensor would be too large (widths {tuple(pad)})")
    if mode == "constant":
        return _pad(x, widths, "constant", 0.0 if value is None else value)
    return _pad(x, widths, _MODES[mode])
