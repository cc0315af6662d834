"""Convolution (cross-correlation) as autograd functions: ``F.conv1d`` and ``F.conv2d``.

Layouts follow PyTorch so weights interchange: x is (N, C, L) / (N, C, H, W), w is
(K, C/groups, R) / (K, C/groups, R, S), b is (K,). ``padding`` is an int, a tuple of ints, or
'valid' (none), 'same' (output size ceil(in / stride), split as TensorFlow/Keras do, the odd
element after) or 'full' (dilation*(k-1) on both sides). The native kernels choose between a
direct and an im2col+GEMM algorithm per shape (``algo="auto"``; see [Note: conv algorithm
choice] in csrc/conv.cpp); ``algo="direct"`` / ``"im2col"`` forces one.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ...autograd import Context, Function
from ...tensor import Tensor

__all__ = ["conv1d", "conv2d"]

IntOrTuple = Union[int, tuple[int, ...]]
Padding = Union[int, tuple[int, ...], str]

_KERNELS = {
    1: (_C.conv1d_forward, _C.conv1d_backward_input, _C.conv1d_backward_weight),
    2: (_C.conv2d_forward, _C.conv2d_backward_input, _C.conv2d_backward_weight),
}


def _contiguous(a: Any) -> Any:
    return a if a is None or not isinstance(a, np.ndarray) else np.ascontiguousarray(a)


class ConvNd(Function):
    """y = conv(x, w) + b, optionally followed by a fused ReLU; backward: dx by the transposed
    convolution, dw and db reduced over the batch (both by the same native algorithm choice).
    With ``relu`` the forward applies max(y, 0) in the pass that adds the bias (no separate
    activation pass or autograd node), and the backward masks the incoming gradient once
    (native ReLU backward from the saved output) before both gradient kernels."""

    @staticmethod
    def forward(
        ctx: Context,
        x: Any,
        w: Any,
        b: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        groups: int,
        algo: str,
        nsp: int,
        relu: bool,
    ) -> Any:
        fwd = _KERNELS[nsp][0]
        x, w, b = _contiguous(x), _contiguous(w), _contiguous(b)
        y = fwd(x, w, b, stride, padding, dilation, groups, algo, relu)
        ctx.save_for_backward(x, w, y if relu else None)
        ctx.conv = (stride, padding, dilation, groups, algo)
        ctx.nsp = nsp
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        x, w, y = ctx.saved
        _, bwd_input, bwd_weight = _KERNELS[ctx.nsp]
        gy = np.ascontiguousarray(gy, dtype=x.dtype)
        if y is not None:  # fused ReLU: gy * (y > 0)
            gy = _C.activation_backward("relu", gy, y=y)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = bwd_input(gy, w, x.shape, *ctx.conv) if need_x else None
        gw = gb = None
        if need_w or need_b:
            gw, gb = bwd_weight(x, gy, w.shape, *ctx.conv, bias=ctx.has_bias and need_b)
        return gx, gw if need_w else None, gb, None, None, None, None, None, None, None


def _conv(
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    stride: IntOrTuple,
    padding: Padding,
    dilation: IntOrTuple,
    groups: int,
    algo: str,
    nsp: int,
    activation: str | None,
) -> Tensor:
    if activation not in (None, "relu"):
        raise ValueError(f"conv: fused activation must be None or 'relu', got {activation!r}")
    return ConvNd.apply(x, w, b, stride, padding, dilation, groups, algo, nsp, activation == "relu")


def conv2d(
    x: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    algo: str = "auto",
    activation: str | None = None,
) -> Tensor:
    """2-D cross-correlation: x (N, C, H, W), w (K, C/groups, R, S), b (K,) -> (N, K, P, Q).
    ``activation="relu"`` fuses max(y, 0) into the kernel (what Conv2D(activation="relu")
    runs)."""
    return _conv(x, w, b, stride, padding, dilation, groups, algo, 2, activation)


def conv1d(
    x: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    algo: str = "auto",
    activation: str | None = None,
) -> Tensor:
    """1-D cross-correlation: x (N, C, L), w (K, C/groups, R), b (K,) -> (N, K, L_out).
    ``activation="relu"`` fuses max(y, 0) into the kernel."""
    return _conv(x, w, b, stride, padding, dilation, groups, algo, 1, activation)
