"""gather / scatter along an axis with PyTorch's semantics, on the native kernels of
csrc/scatter.h: ``gather``, ``scatter`` (src tensor or a scalar value), ``scatter_add`` and
``scatter_reduce`` ('sum', 'prod', 'mean', 'amax', 'amin', with ``include_self``).

``index`` is an integer tensor (or array) with the input's rank, no larger than the input along
the other axes (and than ``src`` along every axis); an index value outside the axis is an
IndexError. Gradients follow PyTorch's rules: scatter's overwritten input positions get none,
'mean' divides by the count, 'amax'/'amin' share the gradient evenly among ties, 'prod' is
exact with zeros. With duplicate indices, 'assign' keeps the last write (sequential order,
whatever the thread count).
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

__all__ = ["gather", "scatter", "scatter_add", "scatter_reduce"]

_REDUCE = ("sum", "prod", "mean", "amax", "amin")


def _pad_to(g: Array, shape: tuple) -> Array:
    """g (index's shape) placed at the start of zeros of ``shape`` (src may be larger)."""
    if g.shape == shape:
        return g
    out = array_module(g).zeros(shape, g.dtype)
    out[tuple(slice(0, n) for n in g.shape)] = g
    return out


def _head(a: Array, shape: tuple) -> Array:
    """The leading ``shape`` block of a (src restricted to index's shape)."""
    return a if a.shape == shape else _contig(a[tuple(slice(0, n) for n in shape)])


class Gather(Function):
    fresh_grads = True  # gather_backward's new array ([Note: fresh gradients])

    @staticmethod
    def forward(ctx: Context, x: Array, dim: int, index: Array) -> Array:
        ctx.save_for_backward(index)
        ctx.dim, ctx.shape = dim, x.shape
        return _C.gather(_contig(x), dim, index)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        (index,) = ctx.saved
        return _C.gather_backward(_contig(g), ctx.dim, index, ctx.shape), None, None


class Scatter(Function):
    """out = x with src scattered in along ``dim`` at ``index``, combined by ``reduce``
    ('assign' or one of scatter_reduce's)."""

    # src's gradient is always a new array; x's may be the incoming one ([Note: fresh gradients])
    fresh_grads = (False, False, False, True, False, False)

    @staticmethod
    def forward(
        ctx: Context, x: Array, dim: int, index: Array, src: Array, reduce: str, include_self: bool
    ) -> Array:
        x, src = _contig(x), _contig(src)
        xp = array_module(x)
        if reduce == "mean":
            s = _C.scatter(x, dim, index, src, "sum", include_self)
            base = xp.ones(x.shape, x.dtype) if include_self else xp.zeros(x.shape, x.dtype)
            n = _C.scatter(base, dim, index, xp.ones((), x.dtype), "sum")
            safe = xp.where(n == 0, 1, n).astype(x.dtype)
            out = s / safe if x.dtype.kind == "f" else s // safe
            out = xp.where(n == 0, x, out).astype(x.dtype)
            ctx.count = safe
        else:
            out = _C.scatter(x, dim, index, src, reduce, include_self)
        ctx.save_for_backward(x, index, src, out)
        ctx.dim, ctx.reduce, ctx.include_self = dim, reduce, include_self
        return out

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, index, src, out = ctx.saved
        dim, reduce, include_self = ctx.dim, ctx.reduce, ctx.include_self
        need_x, need_src = ctx.needs_input_grad[0], ctx.needs_input_grad[3]
        xp = array_module(g)
        g = _contig(g)
        zero = xp.zeros((), g.dtype)

        def gather(a: Array) -> Array:
            return _C.gather(_contig(a), dim, index)

        def unwritten(a: Array) -> Array:  # a with the scattered-to positions zeroed
            return _C.scatter(_contig(a), dim, index, zero, "assign")

        gx = gs = None
        if reduce in ("assign", "sum"):
            gx = g if reduce == "sum" and include_self else unwritten(g)
            gs = gather(g)
        elif reduce == "mean":
            gx = g / ctx.count
            gs = gather(gx)
            if not include_self:
                gx = unwritten(gx)
        elif reduce == "prod":
            masked_x = xp.where(x == 0, 1, x).astype(x.dtype)
            masked_x_out = _C.scatter(masked_x, dim, index, src, "prod", include_self)
            gx = g * masked_x_out / masked_x
            if not include_self:
                gx = unwritten(gx)
            if need_src:  # a zero of src alone at its destination: the product of the others
                sh = _head(src, index.shape)
                src_zero = sh == 0
                zeros_at = _C.scatter(
                    xp.zeros(x.shape, x.dtype), dim, index, _contig(src_zero.astype(x.dtype)), "sum"
                )
                single = src_zero & (gather(zeros_at) == 1)
                masked_src = src.copy()  # src with those zeros (in the index block) set to 1
                masked_src[tuple(slice(0, n) for n in index.shape)] = xp.where(single, 1, sh)
                masked_src_out = _C.scatter(x, dim, index, masked_src, "prod", include_self)
                gs = xp.where(
                    single,
                    gather(g * masked_src_out),
                    gather(g * out) / xp.where(src_zero, 1, sh).astype(x.dtype),
                )
        else:  # amax / amin: shared evenly among the elements equal to the result
            sh = _head(src, index.shape)
            value = gather(out)
            x_is = (x == out).astype(g.dtype)
            src_is = (sh == value).astype(g.dtype)
            n = _C.scatter(_contig(x_is), dim, index, _contig(src_is), "sum")
            with np.errstate(divide="ignore", invalid="ignore"):  # n = 0 only where out is NaN
                shared = g / n
            gx = x_is * shared
            gs = src_is * gather(shared)
            if not include_self:
                gx = unwritten(gx)
        return (
            gx if need_x else None,
            None,
            None,
            _pad_to(gs, src.shape) if need_src else None,
            None,
            None,
        )


def _data(a: Any) -> Any:
    return a.data if isinstance(a, Tensor) else a


def _args(fn: str, x: Tensor, dim: Any, index: Any) -> tuple[Tensor, int, Array]:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: input must be a deepcore Tensor, got {type(x).__name__}")
    idx = _data(index)
    if not hasattr(idx, "dtype") or not hasattr(idx, "shape"):
        raise TypeError(
            f"{fn}: index must be an integer Tensor or array, got {type(index).__name__}"
        )
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: index must have an integer dtype, got {idx.dtype}")
    if x.ndim == 0:
        if idx.ndim != 0:
            raise ValueError(f"{fn}: index must be 0-d for a 0-d input, got shape {idx.shape}")
        _norm_axis(dim, 1)
        return x.reshape(1), 0, _contig(idx.reshape(1).astype(np.int64))
    return x, _norm_axis(dim, x.ndim), _contig(idx.astype(np.int64, copy=False))


def gather(input: Tensor, dim: int, index: Any) -> Tensor:  # noqa: A002  (PyTorch's names)
    """out[..., i, ...] = input[..., index[..., i, ...], ...] along ``dim``; out has index's
    shape (PyTorch's ``torch.gather``)."""
    x, d, idx = _args("gather", input, dim, index)
    y = Gather.apply(x, d, idx)
    return y.reshape(()) if input.ndim == 0 else y


def _src(fn: str, x: Tensor, src: Any, value: Any) -> Any:
    if (src is None) == (value is None):
        raise TypeError(f"{fn}: give exactly one of src and value")
    if value is not None:
        if isinstance(value, Tensor) or not isinstance(
            value, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{fn}: value must be a Python number, got {type(value).__name__}")
        return array_module(x.data).asarray(value, dtype=x.data.dtype)
    if not isinstance(src, (Tensor, np.ndarray)):
        raise TypeError(f"{fn}: src must be a Tensor or array, got {type(src).__name__}")
    sd = _data(src)
    if sd.dtype != x.data.dtype:
        raise TypeError(f"{fn}: src has dtype {sd.dtype} but input has {x.data.dtype}")
    return src.reshape(1) if sd.ndim == 0 and x.ndim == 0 else src


def _scatter(fn, input, dim, index, src, value, reduce, include_self):  # noqa: ANN001, ANN202
    x, d, idx = _args(fn, input, dim, index)
    s = _src(fn, x, src, value)
    out = Scatter.apply(x, d, idx, s, reduce, bool(include_self))
    return out.reshape(()) if input.ndim == 0 else out


def scatter(
    input: Tensor,  # noqa: A002
    dim: int,
    index: Any,
    src: Any = None,
    *,
    value: Any = None,
    reduce: str | None = None,
) -> Tensor:
    """A copy of ``input`` with ``src`` (or the scalar ``value``) written along ``dim`` at
    ``index`` (PyTorch's ``torch.scatter``; ``reduce='add'``/``'multiply'`` as PyTorch's)."""
    mode = {None: "assign", "add": "sum", "multiply": "prod"}.get(reduce)
    if mode is None:
        raise ValueError(f"scatter: reduce must be None, 'add' or 'multiply', got {reduce!r}")
    return _scatter("scatter", input, dim, index, src, value, mode, True)


def scatter_add(input: Tensor, dim: int, index: Any, src: Any) -> Tensor:  # noqa: A002
    """``input`` plus ``src`` summed in along ``dim`` at ``index`` (duplicates accumulate)."""
    return _scatter("scatter_add", input, dim, index, src, None, "sum", True)


def scatter_reduce(
    input: Tensor,  # noqa: A002
    dim: int,
    index: Any,
    src: Any,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """``input`` with ``src`` reduced in along ``dim`` at ``index`` by ``reduce`` ('sum',
    'prod', 'mean', 'amax', 'amin'); ``include_self=False`` reduces over the scattered values
    only where any arrive (PyTorch's ``torch.scatter_reduce``)."""
    if reduce not in _REDUCE:
        raise ValueError(
            f"scatter_reduce: reduce must be one of {', '.join(map(repr, _REDUCE))}, got {reduce!r}"
        )
    return _scatter("scatter_reduce", input, dim, index, src, None, reduce, include_self)
