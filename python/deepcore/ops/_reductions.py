"""Reductions: sum, mean, max, min, var, std, prod, logsumexp, norm over axes (with
``keepdims``), argmax, argmin. Ties in max/min (and in the inf-norm) split the gradient
([Note: ties in max/min] in _elementwise.py).

``prod``'s gradient is the product of the other elements, computed from exclusive prefix and
suffix products (exact when some elements are 0, where prod / x is not). ``norm`` follows
NumPy/Keras (``norm(x, ord=None, axis=None, keepdims=False)``: vector norms over one axis or
all of them, matrix norms over two) with PyTorch's keywords ``p=`` / ``dim=`` / ``keepdim=``
meaning a vector norm over the given axes; the gradient of a 2-norm at 0 is 0, as PyTorch's."""

from __future__ import annotations

import builtins as _bi
import math
from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_real
from ..autograd import Context, Function
from ..tensor import Tensor
from ._common import Array, _const, _expand_to, _kept_shape, _norm_axes, _norm_axis
from ._elementwise import abs as _abs
from ._elementwise import sqrt

__all__ = [
    "sum",
    "mean",
    "max",
    "min",
    "var",
    "std",
    "prod",
    "logsumexp",
    "norm",
    "argmax",
    "argmin",
]


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


class Prod(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple | None, keepdims: bool) -> Array:
        ctx.saved = (x, axes)
        return x.prod(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, axes = ctx.saved
        xp = array_module(x)
        red = tuple(range(x.ndim)) if axes is None else axes
        n = _count(x.shape, red)
        if n == 0 or x.size == 0:
            return xp.zeros_like(x), None, None
        rest = [i for i in range(x.ndim) if i not in red]
        perm = rest + list(red)
        lead = tuple(x.shape[i] for i in rest)
        flat = x.transpose(perm).reshape(lead + (n,))
        ones = xp.ones(lead + (1,), x.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        rev = xp.cumprod(xp.concatenate([ones, flat[..., ::-1][..., :-1]], axis=-1), axis=-1)
        others = left * rev[..., ::-1]  # the product of every element but this one
        gl = g.reshape(_kept_shape(x.shape, red)).transpose(perm).reshape(lead + (1,))
        gx = (others * gl).reshape(tuple(x.shape[i] for i in perm))
        inv = [0] * x.ndim
        for i, a in enumerate(perm):
            inv[a] = i
        return gx.transpose(inv), None, None


def prod(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``; the gradient is exact where elements are 0."""
    return Prod.apply(x, _norm_axes(axis, x.ndim), bool(keepdims))


class LogSumExp(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple | None, keepdims: bool) -> Array:
        xp = array_module(x)
        kept = _kept_shape(x.shape, axes)
        if _count(x.shape, axes) == 0:  # log of an empty sum: -inf, as PyTorch
            out = xp.full(kept, -math.inf, x.dtype)
        else:
            m = x.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
            with np.errstate(divide="ignore"):
                out = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
        ctx.saved = (x, out)
        return out if keepdims else out.reshape(_reduced_shape(x.shape, axes))

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, out = ctx.saved
        with np.errstate(invalid="ignore"):
            return g.reshape(out.shape) * array_module(x).exp(x - out), None, None


def _reduced_shape(shape: tuple[int, ...], axes: tuple | None) -> tuple[int, ...]:
    return () if axes is None else tuple(n for i, n in enumerate(shape) if i not in axes)


def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis`` without overflow; its gradient is the softmax."""
    return LogSumExp.apply(_float_for_reduce(x), _norm_axes(axis, x.ndim), bool(keepdims))


class VectorNorm(Function):
    """(sum |x|^p)^(1/p) over axes, p in (0, inf] or -inf (min |x|) or 0 (count of nonzeros)."""

    @staticmethod
    def forward(ctx: Context, x: Array, p: float, axes: tuple | None, keepdims: bool) -> Array:
        xp = array_module(x)
        a = xp.abs(x)
        if p == math.inf:
            y = (
                a.max(axis=axes, keepdims=True)
                if x.size
                else xp.zeros(_kept_shape(x.shape, axes), x.dtype)
            )
        elif p == -math.inf:
            y = a.min(axis=axes, keepdims=True)
        elif p == 0:
            y = (a != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        elif p == 1:
            y = a.sum(axis=axes, keepdims=True)
        elif p == 2:
            y = xp.sqrt((x * x).sum(axis=axes, keepdims=True))
        else:
            y = ((a**p).sum(axis=axes, keepdims=True)) ** (1.0 / p)
        ctx.saved = (x, y, p, axes)
        return y if keepdims else y.reshape(_reduced_shape(x.shape, axes))

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, y, p, axes = ctx.saved
        xp = array_module(x)
        g = g.reshape(y.shape)
        if p == 0:
            gx = xp.zeros_like(x)
        elif p == 1:
            gx = g * xp.sign(x)
        elif p in (math.inf, -math.inf):
            mask = xp.abs(x) == y
            count = mask.sum(axis=axes, keepdims=True)
            gx = xp.where(mask, g * xp.sign(x) / xp.maximum(count, 1), 0)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                r = x * xp.abs(x) ** (p - 2) / y ** (p - 1) if p != 2 else x / y
            gx = xp.where(y == 0, 0, g * r)
        return gx.astype(x.dtype, copy=False), None, None, None


def _order(o: Any, name: str) -> Any:
    if isinstance(o, str):
        if o not in ("fro", "nuc"):
            raise ValueError(f"norm: {name} must be a number, 'fro' or 'nuc', got {o!r}")
        return o
    if not is_real(o):
        raise TypeError(f"norm: {name} must be a number, 'fro' or 'nuc', got {type(o).__name__}")
    o = float(o)
    if o < 0 and o != -math.inf:
        raise ValueError(f"norm: negative {name} {o} is not a norm (only -inf is supported)")
    return o


def norm(
    x: Tensor,
    ord: Any = None,  # noqa: A002
    axis: Any = None,
    keepdims: bool = False,
    *,
    p: Any = None,
    dim: Any = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Vector or matrix norm (NumPy's / Keras's ``norm``; PyTorch's keywords give vector norms).

    ``ord=None``: the 2-norm of the flattened axes (Frobenius for a matrix). ``axis`` an int
    (or ``dim=`` / ``p=`` given): the vector ``ord``-norm. ``axis`` two axes (or None on a 2-D
    tensor) with ``ord`` 1, inf, -inf or "fro": the matrix norm ("nuc" and 2 need singular
    values: NotImplementedError)."""
    if dim is not None:
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    x = _float_for_reduce(x)
    vector = p is not None
    o = _order(p if vector else ("fro" if ord is None else ord), "p" if vector else "ord")
    axes = _norm_axes(axis, x.ndim)
    matrix = (
        not vector
        and ord is not None
        and ((axes is not None and len(axes) == 2) or (axes is None and x.ndim == 2))
    )
    if o == "fro" or (not vector and ord is None):
        o = 2.0
    if not matrix:
        if o == "nuc":
            raise ValueError("norm: 'nuc' is a matrix norm (give two axes)")
        return VectorNorm.apply(x, o, axes, bool(keepdims))
    rows, cols = axes if axes is not None else (0, 1)
    if o == 2.0 and ord in ("fro",):
        return VectorNorm.apply(x, 2.0, (rows, cols), bool(keepdims))
    if o not in (1.0, math.inf, -math.inf):
        raise NotImplementedError(
            f"norm: the matrix norm ord={ord!r} needs singular values; supported: 1, inf, -inf, "
            "'fro'"
        )
    sum_axis, ext_axis = (rows, cols) if o == 1.0 else (cols, rows)
    s = sum(_abs(x), axis=sum_axis, keepdims=True)
    out = (min if o == -math.inf else max)(s, axis=ext_axis, keepdims=True)
    if keepdims:
        return out
    return out.reshape(_reduced_shape(x.shape, (rows, cols)))
