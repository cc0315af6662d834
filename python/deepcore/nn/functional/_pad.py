"""``F.pad`` with PyTorch's arguments, on the one padding implementation (``deepcore.pad``).

PyTorch's ``pad`` lists (before, after) pairs from the LAST axis backwards: ``(left, right)``
pads the last axis, ``(left, right, top, bottom)`` the last two, and so on; a negative width
crops. Modes map onto ``deepcore.pad``'s NumPy names: 'constant' (``value``, default 0),
'reflect' (mirror without repeating the edge), 'replicate' ('edge') and 'circular' ('wrap').
As PyTorch, 'reflect' needs each width below the axis size and 'circular' at most the size.
"""

from __future__ import annotations

from typing import Any

from ..._checks import is_int
from ...ops._shape import Pad, _fill_of
from ...tensor import Tensor

__all__ = ["pad"]

_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """PyTorch's ``F.pad``: ``pad`` = (before, after) widths of the last axis, then of the one
    before it, ... (an even number of ints, at most two per axis; negative crops)."""
    if not isinstance(input, Tensor):
        input = Tensor(input)  # noqa: A001  (an ndarray: the argument check allows it)
    np_mode = _MODES.get(mode) if isinstance(mode, str) else None
    if np_mode is None:
        raise ValueError(f"pad: mode must be one of {tuple(_MODES)}, got {mode!r}")
    if type(pad) is not tuple or not _all_int(pad):
        if not isinstance(pad, (tuple, list)) or not all(is_int(p) for p in pad):
            raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
        pad = tuple([int(p) for p in pad])
    nd, shape, k = input.ndim, input.shape, len(pad) // 2
    if len(pad) % 2 or k > nd:
        raise ValueError(
            f"pad: pad must have an even length of at most 2 * {nd} (two per axis, "
            f"last axis first), got {len(pad)}"
        )
    if value is not None and mode != "constant":
        raise ValueError(f"pad: value is only for mode='constant', not {mode!r}")
    # (before, after) per axis, first axis first, negative crops: ops._shape.Pad's form
    widths = [0] * (2 * (nd - k))
    bounded = np_mode == "reflect" or np_mode == "wrap"  # PyTorch's width rule (below)
    for i in range(k - 1, -1, -1):
        b, a = pad[2 * i], pad[2 * i + 1]
        widths += (b, a)
        if bounded and (b < 0 or a < 0 or b >= shape[nd - 1 - i] or a >= shape[nd - 1 - i]):
            _check_bounded_widths(mode, np_mode, b, a, nd - 1 - i, shape[nd - 1 - i])
    fill = None if value is None or mode != "constant" else _fill_of(value, input.dtype)
    return Pad.apply(input, tuple(widths), np_mode, fill)


def _all_int(pad: tuple) -> bool:
    for p in pad:
        if type(p) is not int:
            return False
    return True


def _check_bounded_widths(mode: str, np_mode: str, b: int, a: int, d: int, size: int) -> None:
    """PyTorch's rule for a 'reflect' / 'circular' axis d: each width below (reflect) or at
    most (circular) the axis size after its crops (the kernel checks the cropped size)."""
    n = size + min(b, 0) + min(a, 0)
    w = max(b, a)
    if n > 0 and (w >= n if np_mode == "reflect" else w > n):
        what = "smaller than" if np_mode == "reflect" else "at most"
        raise ValueError(
            f"pad: '{mode}' widths must be {what} the axis size, got "
            f"({max(b, 0)}, {max(a, 0)}) for axis {d} of size {n}"
        )
