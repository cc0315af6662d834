"""Pooling as autograd functions: max / average pooling 1D and 2D, global average pooling.

x is (N, C, L) or (N, C, H, W). ``stride`` defaults to the kernel size; ``padding`` is an int,
a tuple, 'valid' or 'same' (TensorFlow/Keras split). Max pooling ignores padding (it never
wins) and keeps int32 argmax indices for the backward; average pooling divides by the full
window size (``count_include_pad=True``, PyTorch's default) or by the number of input elements
in the window (``False``, what Keras' 'same' pooling does).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ...autograd import Context, Function, is_grad_enabled
from ...tensor import Tensor

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "global_avg_pool1d",
    "global_avg_pool2d",
]

IntOrTuple = Union[int, tuple[int, ...]]
Padding = Union[int, tuple[int, ...], str]

_MAX = {
    1: (_C.max_pool1d_forward, _C.max_pool1d_backward),
    2: (_C.max_pool2d_forward, _C.max_pool2d_backward),
}
_AVG = {
    1: (_C.avg_pool1d_forward, _C.avg_pool1d_backward),
    2: (_C.avg_pool2d_forward, _C.avg_pool2d_backward),
}


class MaxPoolNd(Function):
    @staticmethod
    def forward(ctx: Context, x: Any, kernel_size: Any, stride: Any, padding: Any, nsp: int) -> Any:
        x = np.ascontiguousarray(x)
        fwd = _MAX[nsp][0]
        if not (ctx.needs_input_grad[0] and is_grad_enabled()):  # inference: no indices
            return fwd(x, kernel_size, stride, padding, return_indices=False)
        y, idx = fwd(x, kernel_size, stride, padding, return_indices=True)
        ctx.save_for_backward(idx)
        ctx.window = (kernel_size, stride, padding)
        ctx.in_shape = x.shape
        ctx.nsp = nsp
        return y

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        (idx,) = ctx.saved
        k, st, pad = ctx.window
        gx = _MAX[ctx.nsp][1](np.ascontiguousarray(gy), idx, ctx.in_shape, None, k, st, pad)
        return gx, None, None, None, None


class AvgPoolNd(Function):
    @staticmethod
    def forward(
        ctx: Context,
        x: Any,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        count_include_pad: bool,
        nsp: int,
    ) -> Any:
        x = np.ascontiguousarray(x)
        ctx.args = (kernel_size, stride, padding, count_include_pad)
        ctx.in_shape = x.shape
        ctx.nsp = nsp
        return _AVG[nsp][0](x, kernel_size, stride, padding, count_include_pad)

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        gx = _AVG[ctx.nsp][1](np.ascontiguousarray(gy), ctx.in_shape, *ctx.args)
        return gx, None, None, None, None, None


class GlobalAvgPool(Function):
    @staticmethod
    def forward(ctx: Context, x: Any, keepdims: bool) -> Any:
        x = np.ascontiguousarray(x)
        ctx.in_shape = x.shape
        y = _C.global_avg_pool_forward(x)
        return y.reshape(y.shape + (1,) * (x.ndim - 2)) if keepdims else y

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        gy = np.ascontiguousarray(gy).reshape(ctx.in_shape[:2])
        return _C.global_avg_pool_backward(gy, ctx.in_shape), None


def max_pool2d(
    x: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: Padding = 0
) -> Tensor:
    """2-D max pooling: (N, C, H, W) -> (N, C, P, Q)."""
    return MaxPoolNd.apply(x, kernel_size, stride, padding, 2)


def max_pool1d(
    x: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: Padding = 0
) -> Tensor:
    """1-D max pooling: (N, C, L) -> (N, C, L_out)."""
    return MaxPoolNd.apply(x, kernel_size, stride, padding, 1)


def avg_pool2d(
    x: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: Padding = 0,
    count_include_pad: bool = True,
) -> Tensor:
    """2-D average pooling: (N, C, H, W) -> (N, C, P, Q)."""
    return AvgPoolNd.apply(x, kernel_size, stride, padding, bool(count_include_pad), 2)


def avg_pool1d(
    x: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: Padding = 0,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling: (N, C, L) -> (N, C, L_out)."""
    return AvgPoolNd.apply(x, kernel_size, stride, padding, bool(count_include_pad), 1)


def _global(x: Tensor, keepdims: bool, nsp: int) -> Tensor:
    if getattr(x, "ndim", None) != 2 + nsp:
        layout = "(N, C, H, W)" if nsp == 2 else "(N, C, L)"
        raise ValueError(
            f"x must be {2 + nsp}-dimensional {layout}, got shape {getattr(x, 'shape', None)}"
        )
    return GlobalAvgPool.apply(x, bool(keepdims))


def global_avg_pool2d(x: Tensor, keepdims: bool = False) -> Tensor:
    """Mean over H and W: (N, C, H, W) -> (N, C) (or (N, C, 1, 1) with keepdims), as Keras'
    GlobalAveragePooling2D on channels-first data."""
    return _global(x, keepdims, 2)


def global_avg_pool1d(x: Tensor, keepdims: bool = False) -> Tensor:
    """Mean over L: (N, C, L) -> (N, C) (or (N, C, 1) with keepdims)."""
    return _global(x, keepdims, 1)
