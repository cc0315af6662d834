"""Reductions: sum, mean, max, min, var, std over axes (with ``keepdims``), argmax, argmin.
Ties in max/min split the gradient ([Note: ties in max/min] in _elementwise.py)."""

from __future__ import annotations

import builtins as _bi
import math
from typing import Any

import numpy as np

from .._array import array_module
from ..autograd import Context, Function
from ..tensor import Tensor
from ._common import Array, _const, _expand_to, _kept_shape, _norm_axes, _norm_axis
from ._elementwise import sqrt

__all__ = ["sum", "mean", "max", "min", "var", "std", "argmax", "argmin"]


class Sum(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple | None, keepdims: bool) -> Array:
        ctx.saved = (x.shape, _kept_shape(x.shape, axes))
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shape, kept = ctx.saved
        return _expand_to(g, kept, shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple | None, keepdims: bool) -> Array:
        kept = _kept_shape(x.shape, axes)
        n = _count(x.shape, axes)
        ctx.saved = (x.shape, kept, n)
        s = x.sum(axis=axes, keepdims=keepdims)
        if n == 0:  # mean of nothing, as NumPy (no warning)
            return array_module(x).full(s.shape, np.nan, s.dtype)
        return s / n

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shape, kept, n = ctx.saved
        return _expand_to(g / _bi.max(n, 1), kept, shape), None, None


def _count(shape: tuple[int, ...], axes: tuple | None) -> int:
    return math.prod(shape) if axes is None else math.prod(shape[a] for a in axes)


class _ExtremumReduce(Function):
    """max / min over axes; the gradient is split among ties ([Note: ties in max/min])."""

    reduce = ""  # "max" or "min": the array method of that name

    @classmethod
    def forward(cls, ctx: Context, x: Array, axes: tuple | None, keepdims: bool) -> Array:
        if x.size == 0:
            raise ValueError(
                f"{cls.__name__.lower()}() of an empty tensor (shape {x.shape}) has no identity"
            )
        out = getattr(x, cls.reduce)(axis=axes, keepdims=True)
        ctx.saved = (x, out, axes)
        if keepdims:
            return out
        return out.reshape(
            () if axes is None else tuple(n for i, n in enumerate(x.shape) if i not in axes)
        )

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, out, axes = ctx.saved
        mask = x == out
        count = mask.sum(axis=axes, keepdims=True).astype(g.dtype)
        return mask * (g.reshape(out.shape) / count), None, None


class Max(_ExtremumReduce):
    reduce = "max"


class Min(_ExtremumReduce):
    reduce = "min"


class Var(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple | None, keepdims: bool, ddof: int) -> Array:
        n = _count(x.shape, axes)
        kept = _kept_shape(x.shape, axes)
        d = x - x.mean(axis=axes, keepdims=True) if n else x
        denom = n - ddof
        ctx.saved = (d, kept, denom)
        s = (d * d).sum(axis=axes, keepdims=keepdims)
        if denom <= 0:
            # the sum over max(N - ddof, 0) = 0 as NumPy and PyTorch: inf where the values
            # differ (s > 0), nan where they are all equal (0 / 0) or there are none
            return array_module(x).where(s > 0, math.inf, math.nan).astype(s.dtype)
        return s / denom

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        # d var / dx = 2 (x - mean) / (N - ddof); at N - ddof <= 0 the factor is +inf, so the
        # gradient is +-inf where x differs from the mean and nan where it does not (0 * inf),
        # as PyTorch's var/std backward over all elements
        d, kept, denom = ctx.saved
        scale = 2.0 / denom if denom > 0 else math.inf
        with np.errstate(invalid="ignore"):
            return g.reshape(kept) * d * scale, None, None, None


def _float_for_reduce(x: Tensor) -> Tensor:
    return x if x.data.dtype.kind == "f" else _const(x, np.float32)


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (int, tuple or None for all)."""
    return Sum.apply(x, _norm_axes(axis, x.ndim), bool(keepdims))


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``; integer tensors are averaged in float32."""
    return Mean.apply(_float_for_reduce(x), _norm_axes(axis, x.ndim), bool(keepdims))


def max(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis`` (the values only; ``argmax`` gives the indices)."""
    return Max.apply(x, _norm_axes(axis, x.ndim), bool(keepdims))


def min(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``."""
    return Min.apply(x, _norm_axes(axis, x.ndim), bool(keepdims))


def var(x: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis`` with NumPy's default ``ddof=0`` (PyTorch's default is 1)."""
    return Var.apply(_float_for_reduce(x), _norm_axes(axis, x.ndim), bool(keepdims), int(ddof))


def std(x: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Standard deviation over ``axis`` (sqrt of ``var``; NumPy's default ``ddof=0``)."""
    return sqrt(var(x, axis, keepdims, ddof))


def _arg_reduce(name: str, x: Tensor, axis: int | None, keepdims: bool) -> Tensor:
    if x.size == 0:
        raise ValueError(f"{name}() of an empty tensor (shape {x.shape})")
    ax = None if axis is None else _norm_axis(axis, x.ndim)
    idx = getattr(x.data, name)(axis=ax, keepdims=keepdims)
    return Tensor._wrap(array_module(x.data).asarray(idx, dtype=np.int64))


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) maximum over ``axis`` (flattened when None); int64, no gradient."""
    return _arg_reduce("argmax", x, axis, keepdims)


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) minimum over ``axis``; int64, no gradient."""
    return _arg_reduce("argmin", x, axis, keepdims)
