"""Cumulative scans along an axis: cumsum, cumprod, cummax, cummin (values and int64 indices),
logcumsumexp, on the native kernels of csrc/scan.h (forward and backward; float32 sums and
products accumulate in double, as PyTorch's CPU scans).

``axis`` (PyTorch's ``dim`` is accepted as a keyword alias) is required for cummax / cummin;
for the others ``axis=None`` scans the flattened tensor, as NumPy does. Integer and bool
tensors are summed / multiplied in int64 (PyTorch's promotion), without a gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _C
from .._array import array_module
from .._array import contiguous as _contig
from ..autograd import Context, Function
from ..tensor import Tensor
from ._common import Array, _norm_axis

__all__ = ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"]


class Scan(Function):
    """y = scan(x) along ``axis`` for op 'sum', 'prod' or 'logsumexp'."""

    fresh_grads = True  # scan_backward's new array ([Note: fresh gradients])

    @staticmethod
    def forward(ctx: Context, x: Array, axis: int, op: str) -> Array:
        x = _contig(x)
        y = _C.scan_forward(x, axis, op)
        ctx.axis, ctx.op = axis, op
        if op != "sum":  # (cumsum's backward reads only dy)
            ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, y = ctx.saved if ctx.op != "sum" else (None, None)
        return _C.scan_backward(ctx.op, _contig(g), ctx.axis, x=x, y=y), None, None


class ScanExtreme(Function):
    """(values, indices) = cummax / cummin of x along ``axis``; the gradient of each value goes
    to the element it came from."""

    fresh_grads = True

    @staticmethod
    def forward(ctx: Context, x: Array, axis: int, op: str) -> tuple:
        y, idx = _C.scan_forward(_contig(x), axis, op)
        ctx.save_for_backward(idx)
        ctx.axis, ctx.op = axis, op
        return y, idx

    @staticmethod
    def backward(ctx: Context, gy: Array, gidx: Any) -> tuple:
        (idx,) = ctx.saved
        return _C.scan_backward(ctx.op, _contig(gy), ctx.axis, idx=idx), None, None


def _axis(fn: str, x: Tensor, axis: Any, dim: Any, required: bool) -> Any:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: x must be a deepcore Tensor, got {type(x).__name__}")
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{fn}: give axis or dim, not both")
        axis = dim
    if axis is None and required:
        raise TypeError(f"{fn}: axis (dim) is required")
    if axis is None:
        return None
    if x.ndim == 0:  # a scalar scans as one element along axis 0 / -1, as PyTorch
        _norm_axis(axis, 1)
        return 0
    return _norm_axis(axis, x.ndim)


def _scan(fn: str, op: str, x: Tensor, axis: Any, dim: Any) -> Tensor:
    a = _axis(fn, x, axis, dim, required=False)
    if a is None:
        x = x.reshape(-1)
        a = 0
    shape = x.shape
    if x.ndim == 0:
        x = x.reshape(1)
    if x.data.dtype.kind != "f":
        if op == "logsumexp":
            raise TypeError(f"{fn}: x must be float16, float32 or float64, got {x.data.dtype}")
        xp = array_module(x.data)
        acc = xp.cumsum if op == "sum" else xp.cumprod
        return Tensor._wrap(acc(x.data, axis=a, dtype=np.int64).reshape(shape))
    y = Scan.apply(x, a, op)
    return y.reshape(shape) if y.shape != shape else y


def _extreme(fn: str, op: str, x: Tensor, axis: Any, dim: Any) -> tuple[Tensor, Tensor]:
    a = _axis(fn, x, axis, dim, required=True)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{fn}: x must be float16, float32 or float64, got {x.data.dtype}")
    shape = x.shape
    values, indices = ScanExtreme.apply(x.reshape(1) if x.ndim == 0 else x, a, op)
    if values.shape != shape:
        values, indices = values.reshape(shape), indices.reshape(shape)
    return values, indices.detach()


def cumsum(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Cumulative sum along ``axis`` (None: of the flattened tensor)."""
    return _scan("cumsum", "sum", x, axis, dim)


def cumprod(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Cumulative product along ``axis``; the gradient is exact with zeros in the input."""
    return _scan("cumprod", "prod", x, axis, dim)


def logcumsumexp(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """log(cumsum(exp(x))) along ``axis``, computed without overflow."""
    return _scan("logcumsumexp", "logsumexp", x, axis, dim)


def cummax(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> tuple[Tensor, Tensor]:
    """(values, indices): the running maximum along ``axis`` and where it was taken (int64;
    ties take the later index and a NaN propagates, as in PyTorch)."""
    return _extreme("cummax", "max", x, axis, dim)


def cummin(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> tuple[Tensor, Tensor]:
    """(values, indices): the running minimum along ``axis`` and where it was taken."""
    return _extreme("cummin", "min", x, axis, dim)
