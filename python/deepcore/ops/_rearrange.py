"""Ops that move or repeat elements within a tensor: flip, roll, tile, repeat /
repeat_interleave, and the matrix structure ops diag, tril / triu. Each is an autograd Function
over the array module's routine, its backward the adjoint rearrangement."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..autograd import Context, Function
from ..tensor import Tensor
from ._common import Array, _norm_axes, _norm_axis, _shape_args
from ._indexing import GetItem, _int_index
from ._shape import reshape

__all__ = [
    "flip",
    "roll",
    "tile",
    "repeat",
    "repeat_interleave",
    "diag",
    "tril",
    "triu",
]

# [Note: repeat vs tile] NumPy's and Keras's ``repeat(x, repeats, axis)`` repeats each element
# (PyTorch's ``repeat_interleave``); PyTorch's ``Tensor.repeat(*sizes)`` tiles the whole
# tensor (NumPy's ``tile``). ``deepcore.repeat`` / ``deepcore.ops.repeat`` are NumPy's,
# ``x.repeat(*sizes)`` is PyTorch's (``tile``), ``repeat_interleave`` both names say.


class Flip(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple[int, ...]) -> Array:
        ctx.saved = (axes,)
        return array_module(x).flip(x, axes)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        return array_module(g).flip(g, ctx.saved[0]), None


def flip(x: Tensor, axis: Any = None, *, dims: Any = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (an int, a tuple, or None for all axes;
    PyTorch's ``dims=``)."""
    if dims is not None:
        axis = dims
    axes = _norm_axes(axis, x.ndim)
    axes = tuple(range(x.ndim)) if axes is None else axes
    return Flip.apply(x, axes) if axes else x


class Roll(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, shift: Any, axis: Any) -> Array:
        ctx.saved = (shift, axis)
        return array_module(x).roll(x, shift, axis)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shift, axis = ctx.saved
        back = tuple(-s for s in shift) if isinstance(shift, tuple) else -shift
        return array_module(g).roll(g, back, axis), None, None


def roll(
    x: Tensor, shift: Any = None, axis: Any = None, *, shifts: Any = None, dims: Any = None
) -> Tensor:
    """Shift elements cyclically by ``shift`` along ``axis`` (the flattened tensor when None);
    tuples roll several axes (NumPy's / Keras's ``roll``, PyTorch's ``shifts=`` / ``dims=``)."""
    if shifts is not None:
        shift = shifts
    if dims is not None:
        axis = dims
    if shift is None:
        raise TypeError("roll: missing the shift")
    sh = tuple(int(s) for s in shift) if isinstance(shift, (tuple, list)) else int(shift)
    if axis is None:
        if isinstance(sh, tuple):
            raise ValueError("roll: several shifts need as many axes")
        return Roll.apply(x, sh, None)
    ax = (
        tuple(_norm_axis(a, x.ndim) for a in axis)
        if isinstance(axis, (tuple, list))
        else (_norm_axis(axis, x.ndim))
    )
    if isinstance(ax, tuple) != isinstance(sh, tuple) or (
        isinstance(ax, tuple) and len(ax) != len(sh)
    ):
        raise ValueError(
            f"roll: shift {shift} and axis {axis} must be alike (ints or equal tuples)"
        )
    return Roll.apply(x, sh, ax)


class Tile(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, reps: tuple[int, ...]) -> Array:
        ctx.saved = (x.shape, reps)
        return array_module(x).tile(x.reshape((1,) * (len(reps) - x.ndim) + x.shape), reps)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shape, reps = ctx.saved
        full = (1,) * (len(reps) - len(shape)) + shape
        inter = tuple(v for r, n in zip(reps, full) for v in (r, n))
        gx = g.reshape(inter).sum(axis=tuple(range(0, 2 * len(reps), 2)))
        return gx.reshape(shape), None


def tile(x: Tensor, repeats: Any) -> Tensor:
    """Repeat the whole tensor ``repeats[i]`` times along axis i (NumPy's ``tile``; fewer
    repeats than axes apply to the last axes, more add leading axes)."""
    reps = _shape_args((repeats,) if isinstance(repeats, (int, np.integer)) else (repeats,))
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repeats must be non-negative, got {reps}")
    reps = (1,) * (x.ndim - len(reps)) + reps
    return Tile.apply(x, reps)


def repeat(x: Tensor, repeats: Any, axis: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times along ``axis`` (the flattened tensor when None):
    NumPy's and Keras's ``repeat``, PyTorch's ``repeat_interleave`` ([Note: repeat vs tile]).
    ``repeats`` an int or one count per element of the axis."""
    if axis is None:
        x, ax = reshape(x, -1), 0
    else:
        ax = _norm_axis(axis, x.ndim)
    n = x.shape[ax]
    xp = array_module(x.data)
    if is_int(repeats):
        r = int(repeats)
        if r < 0:
            raise ValueError(f"repeat: repeats must be non-negative, got {r}")
        src = xp.repeat(xp.arange(n), r)
    else:
        r = _int_index(repeats, "repeat", "repeats").reshape(-1)
        if r.size == 1:
            r = xp.full(n, int(r[0]))
        if r.size != n:
            raise ValueError(f"repeat: {r.size} repeats for an axis of size {n}")
        if r.size and int(r.min()) < 0:
            raise ValueError("repeat: repeats must be non-negative")
        src = xp.repeat(xp.arange(n), r)
    return GetItem.apply(x, (slice(None),) * ax + (src,))


def repeat_interleave(
    x: Tensor, repeats: Any, axis: int | None = None, *, dim: int | None = None
) -> Tensor:
    """PyTorch's name for NumPy's ``repeat`` ([Note: repeat vs tile])."""
    return repeat(x, repeats, dim if dim is not None else axis)


class Diag(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, k: int) -> Array:
        ctx.saved = (x.shape, k)
        out = array_module(x).diag(x, k)
        return out.copy() if x.ndim == 2 else out

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shape, k = ctx.saved
        xp = array_module(g)
        if len(shape) == 1:
            return g.diagonal(k).copy(), None
        gx = xp.zeros(shape, g.dtype)
        i = xp.arange(g.shape[0])
        gx[i + max(-k, 0), i + max(k, 0)] = g
        return gx, None


def diag(x: Tensor, k: int = 0, *, diagonal: int | None = None) -> Tensor:
    """A 1-D tensor: the square matrix with it on diagonal ``k``; a 2-D tensor: its diagonal
    ``k`` (NumPy's ``diag``; PyTorch's ``diagonal=``)."""
    if diagonal is not None:
        k = diagonal
    if x.ndim not in (1, 2):
        raise ValueError(f"diag: x must be 1-D or 2-D, got shape {x.shape}")
    return Diag.apply(x, int(k))


class _Triangle(Function):
    lower = True

    @classmethod
    def forward(cls, ctx: Context, x: Array, k: int) -> Array:
        ctx.saved = (k,)
        xp = array_module(x)
        return xp.tril(x, k) if cls.lower else xp.triu(x, k)

    @classmethod
    def backward(cls, ctx: Context, g: Array) -> tuple:
        (k,) = ctx.saved
        xp = array_module(g)
        return (xp.tril(g, k) if cls.lower else xp.triu(g, k)), None


class _Tril(_Triangle):
    lower = True


class _Triu(_Triangle):
    lower = False


def _triangle(fn: type[Function], x: Tensor, k: Any, diagonal: Any, name: str) -> Tensor:
    if diagonal is not None:
        k = diagonal
    if x.ndim < 2:
        raise ValueError(f"{name}: x must have at least 2 dimensions, got shape {x.shape}")
    if not is_int(k):
        raise TypeError(f"{name}: k must be an int, got {type(k).__name__}")
    return fn.apply(x, int(k))


def tril(x: Tensor, k: int = 0, *, diagonal: int | None = None) -> Tensor:
    """The lower triangle of the last two axes (on and below diagonal ``k``), zeros above."""
    return _triangle(_Tril, x, k, diagonal, "tril")


def triu(x: Tensor, k: int = 0, *, diagonal: int | None = None) -> Tensor:
    """The upper triangle of the last two axes (on and above diagonal ``k``), zeros below."""
    return _triangle(_Triu, x, k, diagonal, "triu")
