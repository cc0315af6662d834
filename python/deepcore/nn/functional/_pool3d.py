"""3-D max / average / adaptive pooling, run by the native 2-D pooling kernels ([Note: 3-D
pooling by the 2-D kernels]). x is (N, C, D, H, W); the options are those of the 2-D ops in
_pool.py, where global_avg_pool3d and max_unpool3d also live.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _C
from ...autograd import Context, Function, is_grad_enabled
from ...tensor import Tensor
from ._pool import IntOrTuple, Padding, _output_size, _with_indices

__all__ = ["max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d"]

# [Note: 3-D pooling by the 2-D kernels]
# A 3-D pooling window is a box, so max, average (either divisor: the count of real inputs
# in a box is the product of the per-axis counts) and adaptive pooling are separable: pool
# every (H, W) plane with the (R, S) window, then pool the (D, P*Q) matrix of each channel with
# an (KD, 1) window. Both stages are the native 2-D kernels on views of the same memory
# ((N, C*D, H, W) and (N, C, D, P*Q)), so 3-D pooling has no kernel and no index math of its
# own, and costs the 2-D pass over the input plus a pass over the D/stride-times smaller
# intermediate. Max pooling's 3-D argmax (d*H*W + h*W + w within the channel's volume, as
# PyTorch's return_indices) is the stage-2 argmax (d*P*Q + j) combined with the stage-1
# argmax at (d, j). Ties and NaNs agree with a one-pass scan in (d, h, w) order: stage 1 keeps
# the first maximum (the last NaN) of its plane, stage 2 the first plane holding the maximum
# (the last holding a NaN). The backward of max pooling is the 2-D kernel's index scatter on
# (N, C, 1, D*H*W) views; of average pooling, the two 2-D backward passes in reverse order.


def _check5(fn: str, x: Any) -> tuple:
    shape = getattr(x, "shape", ())
    if len(shape) != 5:
        raise ValueError(f"{fn}: x must be 5-dimensional (N, C, D, H, W), got shape {shape}")
    return tuple(shape)


def _split3(kernel_size: Any, stride: Any, padding: Any, dilation: Any = None) -> tuple:
    """The 2-D kernels' arguments of the plane stage and the depth stage (with max pooling's
    ``dilation``, which splits the same way)."""
    k = _C.spatial_ints(kernel_size, 3, "kernel_size", 1)
    st = k if stride is None else _C.spatial_ints(stride, 3, "stride", 1)
    if isinstance(padding, str):
        pplane = pdepth = padding
    else:
        p = _C.spatial_ints(padding, 3, "padding", 0)
        pplane, pdepth = (p[1], p[2]), (p[0], 0)
    plane = dict(kernel_size=(k[1], k[2]), stride=(st[1], st[2]), padding=pplane)
    depth = dict(kernel_size=(k[0], 1), stride=(st[0], 1), padding=pdepth)
    if dilation is not None:
        d = _C.spatial_ints(dilation, 3, "dilation", 1)
        plane["dilation"], depth["dilation"] = (d[1], d[2]), (d[0], 1)
    return plane, depth


def _argmax3(i1: np.ndarray, i2: np.ndarray, shape: tuple) -> np.ndarray:
    """The 3-D plane-local argmax from the stage-1 argmax i1 (N, C*D, P, Q) and the stage-2
    argmax i2 (N, C, O, P*Q), as int32 (N, C, O, P, Q)."""
    N, C, D, H, W = shape
    P, Q = i1.shape[2:]
    O, PQ = i2.shape[2], P * Q
    i2 = i2.reshape(N, C, O * PQ)
    inner = np.take_along_axis(i1.reshape(N, C, D * PQ), i2, axis=2)
    idx = (i2 // max(PQ, 1)).astype(np.int64) * (H * W) + inner
    return idx.astype(np.int32).reshape(N, C, O, P, Q)


def _check_volume_index(fn: str, shape: tuple) -> None:
    if shape[2] * shape[3] * shape[4] > np.iinfo(np.int32).max:
        raise ValueError(
            f"{fn}: volumes of {shape[2]} x {shape[3]} x {shape[4]} elements are too large for "
            "max pooling's int32 argmax indices (at most 2**31 - 1 per volume)"
        )


class MaxPool3d(Function):
    """Separable 3-D max pooling ([Note: 3-D pooling by the 2-D kernels]). ``stages`` holds
    (first-stage kernel, its arguments, second-stage kernel, its arguments): the windowed
    kernels or the adaptive ones."""

    @staticmethod
    def forward(ctx: Context, x: Any, fn: str, stages: tuple, with_indices: bool) -> Any:
        f1, a1, f2, a2 = stages
        N, C, D, H, W = x.shape
        x4 = np.ascontiguousarray(x).reshape(N, C * D, H, W)
        need = with_indices or (ctx.needs_input_grad[0] and is_grad_enabled())
        if not need:
            y1 = f1(x4, **a1, return_indices=False)
            P, Q = y1.shape[2:]
            y = f2(y1.reshape(N, C, D, P * Q), **a2, return_indices=False)
            return y.reshape(N, C, y.shape[2], P, Q)
        _check_volume_index(fn, x.shape)
        y1, i1 = f1(x4, **a1, return_indices=True)
        P, Q = y1.shape[2:]
        y, i2 = f2(y1.reshape(N, C, D, P * Q), **a2, return_indices=True)
        idx = _argmax3(i1, i2, x.shape)
        ctx.save_for_backward(idx)
        ctx.in_shape = x.shape
        y = y.reshape(idx.shape)
        return (y, idx) if with_indices else y

    @staticmethod
    def backward(ctx: Context, gy: Any, gidx: Any = None) -> tuple:
        (idx,) = ctx.saved
        N, C, D, H, W = ctx.in_shape
        flat = (N, C, 1, int(np.prod(idx.shape[2:])))
        gx = _C.max_pool2d_backward(
            np.ascontiguousarray(gy).reshape(flat), idx.reshape(flat), (N, C, 1, D * H * W)
        )
        return gx.reshape(ctx.in_shape), None, None, None


class AvgPool3d(Function):
    """Separable 3-D average pooling: two 2-D passes forward, two backward."""

    @staticmethod
    def forward(ctx: Context, x: Any, plane: dict, depth: dict, kw: dict) -> Any:
        N, C, D, H, W = x.shape
        y1 = _C.avg_pool2d_forward(np.ascontiguousarray(x).reshape(N, C * D, H, W), **plane, **kw)
        P, Q = y1.shape[2:]
        y = _C.avg_pool2d_forward(y1.reshape(N, C, D, P * Q), **depth, **kw)
        ctx.args = (plane, depth, kw, x.shape, (P, Q))
        return y.reshape(N, C, y.shape[2], P, Q)

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        plane, depth, kw, (N, C, D, H, W), (P, Q) = ctx.args
        gy = np.ascontiguousarray(gy).reshape(N, C, gy.shape[2], P * Q)
        g1 = _C.avg_pool2d_backward(gy, (N, C, D, P * Q), **depth, **kw)
        gx = _C.avg_pool2d_backward(g1.reshape(N, C * D, P, Q), (N, C * D, H, W), **plane, **kw)
        return gx.reshape(N, C, D, H, W), None, None, None


class AdaptiveAvgPool3d(Function):
    @staticmethod
    def forward(ctx: Context, x: Any, output_size: tuple) -> Any:
        N, C, D, H, W = x.shape
        O, P, Q = output_size
        y1 = _C.adaptive_avg_pool2d_forward(np.ascontiguousarray(x).reshape(N, C * D, H, W), (P, Q))
        y = _C.adaptive_avg_pool2d_forward(y1.reshape(N, C, D, P * Q), (O, P * Q))
        ctx.in_shape, ctx.out = x.shape, output_size
        return y.reshape(N, C, O, P, Q)

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        N, C, D, H, W = ctx.in_shape
        O, P, Q = ctx.out
        gy = np.ascontiguousarray(gy).reshape(N, C, O, P * Q)
        g1 = _C.adaptive_avg_pool2d_backward(gy, (N, C, D, P * Q))
        gx = _C.adaptive_avg_pool2d_backward(g1.reshape(N, C * D, P, Q), (N, C * D, H, W))
        return gx.reshape(ctx.in_shape), None


def max_pool3d(
    x: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """3-D max pooling: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out) (options as max_pool2d;
    the indices are flat within each (D, H, W) volume, as PyTorch's)."""
    _check5("max_pool3d", x)
    plane, depth = _split3(kernel_size, stride, padding, dilation)
    ceil = dict(ceil_mode=bool(ceil_mode))
    stages = (
        _C.max_pool2d_forward, {**plane, **ceil}, _C.max_pool2d_forward, {**depth, **ceil}
    )  # fmt: skip
    return _with_indices(MaxPool3d.apply(x, "max_pool3d", stages, bool(return_indices)),
                        return_indices)  # fmt: skip


def avg_pool3d(
    x: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """3-D average pooling: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out) (options as
    avg_pool2d)."""
    _check5("avg_pool3d", x)
    plane, depth = _split3(kernel_size, stride, padding)
    kw = dict(count_include_pad=bool(count_include_pad), ceil_mode=bool(ceil_mode))
    return AvgPool3d.apply(x, plane, depth, kw)


def adaptive_avg_pool3d(x: Tensor, output_size: Any) -> Tensor:
    """Average pooling of (N, C, D, H, W) to ``output_size`` (O, P, Q) (PyTorch's windows;
    None entries keep the input's size)."""
    return AdaptiveAvgPool3d.apply(x, _output_size("adaptive_avg_pool3d", x, output_size, 3))


def adaptive_max_pool3d(x: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, D, H, W) to ``output_size`` (PyTorch's windows); with
    ``return_indices`` also the int64 flat index within each volume of every maximum."""
    O, P, Q = _output_size("adaptive_max_pool3d", x, output_size, 3)
    stages = (
        _C.adaptive_max_pool2d_forward, dict(output_size=(P, Q)),
        _C.adaptive_max_pool2d_forward, dict(output_size=(O, P * Q)),
    )  # fmt: skip
    return _with_indices(
        MaxPool3d.apply(x, "adaptive_max_pool3d", stages, bool(return_indices)), return_indices
    )
