"""Pooling as autograd functions: max / average / adaptive pooling 1D and 2D, global average
pooling (1D, 2D, 3D), max unpooling; 3-D max / average / adaptive pooling are in _pool3d.py.

x is (N, C, L), (N, C, H, W) or (N, C, D, H, W). ``stride`` defaults to the kernel size;
``padding`` is an int, a tuple, 'valid' or 'same' (TensorFlow/Keras split). Max pooling ignores
padding (it never wins) and keeps int32 argmax indices for the backward; average pooling divides
by the full window size (``count_include_pad=True``, PyTorch's default) or by the number of
input elements in the window (``False``, what Keras' 'same' pooling does).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ..._relu_handoff import hand_down_masked, relu_source
from ...autograd import Context, Function, is_grad_enabled
from ...tensor import Tensor

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "global_avg_pool1d",
    "global_avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "global_avg_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]

IntOrTuple = Union[int, tuple[int, ...]]
Padding = Union[int, tuple[int, ...], str]
_LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}

_MAX = {
    1: (_C.max_pool1d_forward, _C.max_pool1d_backward),
    2: (_C.max_pool2d_forward, _C.max_pool2d_backward),
}
_AVG = {
    1: (_C.avg_pool1d_forward, _C.avg_pool1d_backward),
    2: (_C.avg_pool2d_forward, _C.avg_pool2d_backward),
}


class MaxPoolNd(Function):
    """y (and, when ``with_indices``, the int32 plane-local argmax as a second output). Over a
    ReLU output it applies the ReLU's mask to its output gradient, by (y > 0), and hands the
    routed gradient down masked ([Note: ReLU masks handed down] in _relu_handoff.py)."""

    @staticmethod
    def forward(
        ctx: Context,
        x: Any,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        ceil_mode: bool,
        with_indices: bool,
        nsp: int,
        dilation: Any = 1,
    ) -> Any:
        x = np.ascontiguousarray(x)
        fwd = _MAX[nsp][0]
        kw = dict(ceil_mode=ceil_mode, dilation=dilation)
        if not with_indices and not (ctx.needs_input_grad[0] and is_grad_enabled()):
            # inference: no indices
            return fwd(x, kernel_size, stride, padding, return_indices=False, **kw)
        y, idx = fwd(x, kernel_size, stride, padding, return_indices=True, **kw)
        # the pooled values give the mask of a ReLU input at the argmax positions
        ctx.save_for_backward(idx, y if relu_source(ctx) is not None else None)
        ctx.window = (kernel_size, stride, padding, kw)
        ctx.in_shape = x.shape
        ctx.nsp = nsp
        return (y, idx) if with_indices else y

    @staticmethod
    def backward(ctx: Context, gy: Any, gidx: Any = None) -> tuple:
        idx, y = ctx.saved
        k, st, pad, kw = ctx.window
        src = relu_source(ctx) if y is not None else None
        mask = y if src is not None else None  # routes dy only where y > 0, in the same pass
        gx = _MAX[ctx.nsp][1](
            np.ascontiguousarray(gy), idx, ctx.in_shape, None, k, st, pad, mask=mask, **kw
        )
        if src is not None:
            hand_down_masked(src, gx)
        return gx, None, None, None, None, None, None, None


class AvgPoolNd(Function):
    @staticmethod
    def forward(
        ctx: Context,
        x: Any,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        ceil_mode: bool,
        count_include_pad: bool,
        nsp: int,
    ) -> Any:
        x = np.ascontiguousarray(x)
        ctx.args = (kernel_size, stride, padding, count_include_pad)
        ctx.ceil_mode = ceil_mode
        ctx.in_shape = x.shape
        ctx.nsp = nsp
        return _AVG[nsp][0](x, kernel_size, stride, padding, count_include_pad, ceil_mode=ceil_mode)

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        gx = _AVG[ctx.nsp][1](
            np.ascontiguousarray(gy), ctx.in_shape, *ctx.args, ceil_mode=ctx.ceil_mode
        )
        return gx, None, None, None, None, None, None


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


def _max_pool(
    fn: str, x: Tensor, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nsp
) -> Any:  # noqa: ANN001
    out = MaxPoolNd.apply(
        x, kernel_size, stride, padding, bool(ceil_mode), bool(return_indices), nsp, dilation
    )
    return _with_indices(out, return_indices)


def _with_indices(out: Any, return_indices: bool) -> Any:
    """A max pool's output, with its indices as PyTorch's (int64, flat within each plane or
    volume) when ``return_indices``."""
    if not return_indices:
        return out
    y, idx = out
    return y, Tensor._wrap(idx.data.astype(np.int64))


def max_pool2d(
    x: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling: (N, C, H, W) -> (N, C, P, Q). ``ceil_mode`` rounds the output size up
    (PyTorch's rule); ``return_indices`` also returns the int64 flat index within each plane of
    every maximum; ``dilation`` spaces the window's taps (PyTorch's)."""
    return _max_pool(
        "max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2
    )


def max_pool1d(
    x: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """1-D max pooling: (N, C, L) -> (N, C, L_out) (options as max_pool2d)."""
    return _max_pool(
        "max_pool1d", x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1
    )


def avg_pool2d(
    x: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """2-D average pooling: (N, C, H, W) -> (N, C, P, Q) (PyTorch's argument order).
    ``ceil_mode`` with ``count_include_pad=True`` is refused when a window would reach past the
    padded input (PyTorch divides such windows by a clipped size)."""
    return AvgPoolNd.apply(
        x, kernel_size, stride, padding, bool(ceil_mode), bool(count_include_pad), 2
    )


def avg_pool1d(
    x: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: Padding = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling: (N, C, L) -> (N, C, L_out) (options as avg_pool2d)."""
    return AvgPoolNd.apply(
        x, kernel_size, stride, padding, bool(ceil_mode), bool(count_include_pad), 1
    )


def _global(x: Tensor, keepdims: bool, nsp: int) -> Tensor:
    if getattr(x, "ndim", None) != 2 + nsp:
        layout = _LAYOUTS[nsp]
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


def global_avg_pool3d(x: Tensor, keepdims: bool = False) -> Tensor:
    """Mean over D, H and W: (N, C, D, H, W) -> (N, C) (or (N, C, 1, 1, 1) with keepdims)."""
    return _global(x, keepdims, 3)


# --------------------------------------------------------------------------- adaptive
_ADAPTIVE = {
    1: (
        _C.adaptive_avg_pool1d_forward,
        _C.adaptive_avg_pool1d_backward,
        _C.adaptive_max_pool1d_forward,
        _C.max_pool1d_backward,
    ),
    2: (
        _C.adaptive_avg_pool2d_forward,
        _C.adaptive_avg_pool2d_backward,
        _C.adaptive_max_pool2d_forward,
        _C.max_pool2d_backward,
    ),
}


class AdaptiveAvgPoolNd(Function):
    @staticmethod
    def forward(ctx: Context, x: Any, output_size: tuple, nsp: int) -> Any:
        ctx.in_shape, ctx.nsp = x.shape, nsp
        return _ADAPTIVE[nsp][0](np.ascontiguousarray(x), output_size)

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        return _ADAPTIVE[ctx.nsp][1](np.ascontiguousarray(gy), ctx.in_shape), None, None


class AdaptiveMaxPoolNd(Function):
    """(y, int32 plane-local argmax indices); the gradient of y goes to its argmax."""

    @staticmethod
    def forward(ctx: Context, x: Any, output_size: tuple, nsp: int) -> Any:
        y, idx = _ADAPTIVE[nsp][2](np.ascontiguousarray(x), output_size)
        ctx.save_for_backward(idx)
        ctx.in_shape, ctx.nsp = x.shape, nsp
        return y, idx

    @staticmethod
    def backward(ctx: Context, gy: Any, gidx: Any) -> tuple:
        (idx,) = ctx.saved
        gx = _ADAPTIVE[ctx.nsp][3](np.ascontiguousarray(gy), idx, ctx.in_shape)
        return gx, None, None


def _output_size(fn: str, x: Any, output_size: Any, nsp: int) -> tuple:
    """output_size as a tuple of nsp ints; None entries keep the input's size (PyTorch)."""
    shape = getattr(x, "shape", ())
    if len(shape) != 2 + nsp:
        layout = _LAYOUTS[nsp]
        raise ValueError(f"{fn}: x must be {2 + nsp}-dimensional {layout}, got shape {shape}")
    sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size] * nsp
    if len(sizes) != nsp:
        raise ValueError(f"{fn}: output_size must be an int or {nsp} ints, got {output_size!r}")
    return tuple(shape[2 + i] if s is None else s for i, s in enumerate(sizes))


def adaptive_avg_pool2d(x: Tensor, output_size: Any) -> Tensor:
    """Average pooling to ``output_size`` (P, Q): output (p, q) averages rows
    [floor(p H / P), ceil((p + 1) H / P)) and likewise columns (PyTorch's windows)."""
    return AdaptiveAvgPoolNd.apply(x, _output_size("adaptive_avg_pool2d", x, output_size, 2), 2)


def adaptive_avg_pool1d(x: Tensor, output_size: Any) -> Tensor:
    """Average pooling of (N, C, L) to ``output_size`` positions."""
    return AdaptiveAvgPoolNd.apply(x, _output_size("adaptive_avg_pool1d", x, output_size, 1), 1)


def _adaptive_max(fn: str, x: Tensor, output_size: Any, return_indices: bool, nsp: int) -> Any:
    y, idx = AdaptiveMaxPoolNd.apply(x, _output_size(fn, x, output_size, nsp), nsp)
    if not return_indices:
        return y
    # indices as PyTorch's: int64, flat within each (H, W) plane
    return y, Tensor._wrap(idx.data.astype(np.int64))


def adaptive_max_pool2d(x: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling to ``output_size`` (PyTorch's windows); with ``return_indices`` also the
    int64 flat index within each plane of every maximum."""
    return _adaptive_max("adaptive_max_pool2d", x, output_size, return_indices, 2)


def adaptive_max_pool1d(x: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, L) to ``output_size`` positions (see adaptive_max_pool2d)."""
    return _adaptive_max("adaptive_max_pool1d", x, output_size, return_indices, 1)


# --------------------------------------------------------------------------- max unpooling
def _max_unpool(
    fn: str, x: Tensor, indices: Any, kernel_size: Any, stride: Any, padding: Any,
    output_size: Any, nsp: int,
) -> Tensor:  # fmt: skip
    """PyTorch's max_unpool: zeros of the output size with x written at the flat (per-plane)
    ``indices`` (what max pooling's ``return_indices`` gives); the native scatter (assignment)
    writes it and its backward gathers the gradient at the indices."""
    from ...ops._creation import zeros
    from ...ops._scatter import scatter

    layout = _LAYOUTS[nsp]
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 2 + nsp:
        raise ValueError(f"{fn}: input must be {2 + nsp}-dimensional {layout}, got shape {shape}")
    idx = indices.data if isinstance(indices, Tensor) else indices
    if not isinstance(idx, np.ndarray) or idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: indices must be an integer Tensor or array")
    if idx.shape != shape:
        raise ValueError(f"{fn}: indices must have the input's shape {shape}, got {idx.shape}")
    k = _C.spatial_ints(kernel_size, nsp, "kernel_size", 1)
    st = k if stride is None else _C.spatial_ints(stride, nsp, "stride", 1)
    pad = _C.spatial_ints(padding, nsp, "padding", 0)
    default = [(n - 1) * s - 2 * p + kk for n, s, p, kk in zip(shape[2:], st, pad, k)]
    if output_size is None:
        out = default
    else:
        out = [int(v) for v in _C.spatial_ints(tuple(output_size)[-nsp:], nsp, "output_size", 0)]
        for o, d, s in zip(out, default, st):
            if not d - s < o < d + s:
                raise ValueError(
                    f"{fn}: output_size {tuple(out)} must be within a stride of the default "
                    f"{tuple(default)} on every axis (stride {tuple(st)})"
                )
    if any(o < 0 for o in out):
        raise ValueError(f"{fn}: the output size {tuple(out)} would be negative")
    plane = int(np.prod(out, dtype=object))
    if shape[0] * shape[1] * plane * np.dtype(x.dtype).itemsize >= 2**63:
        raise ValueError(f"{fn}: the output {shape[:2] + tuple(out)} is too large")
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(  # [Note: index errors] in ops/_indexing.py
            f"{fn}: indices hold {bad}, outside the output plane of {plane} elements"
        )
    N, C = shape[:2]
    flat = x.reshape(N, C, int(np.prod(shape[2:])))
    y = scatter(zeros((N, C, plane), dtype=x.dtype), 2, idx.reshape(N, C, flat.shape[2]), flat)
    return y.reshape(N, C, *out)


def max_unpool1d(
    input: Tensor,  # noqa: A002
    indices: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    output_size: Any = None,
) -> Tensor:
    """The inverse of max_pool1d(return_indices=True): (N, C, L) -> (N, C, L_out) with L_out =
    (L - 1) * stride - 2 * padding + kernel_size unless ``output_size`` says otherwise."""
    return _max_unpool("max_unpool1d", input, indices, kernel_size, stride, padding,
                       output_size, 1)  # fmt: skip


def max_unpool2d(
    input: Tensor,  # noqa: A002
    indices: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    output_size: Any = None,
) -> Tensor:
    """The inverse of max_pool2d(return_indices=True): zeros of the output size with each
    input element at its index (flat within the output plane); PyTorch's sizes."""
    return _max_unpool("max_unpool2d", input, indices, kernel_size, stride, padding,
                       output_size, 2)  # fmt: skip


def max_unpool3d(
    input: Tensor,  # noqa: A002
    indices: Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    output_size: Any = None,
) -> Tensor:
    """The inverse of max_pool3d(return_indices=True) (indices flat within each volume)."""
    return _max_unpool("max_unpool3d", input, indices, kernel_size, stride, padding,
                       output_size, 3)  # fmt: skip
