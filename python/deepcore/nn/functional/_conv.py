"""Convolution (cross-correlation) as autograd functions: ``F.conv1d``, ``F.conv2d``,
``F.conv3d`` and their transposes.

Layouts follow PyTorch so weights interchange: x is (N, C, L) / (N, C, H, W) / (N, C, D, H, W),
w is (K, C/groups, R) / (K, C/groups, R, S) / (K, C/groups, KD, R, S), b is (K,). ``padding`` is
an int, a tuple of ints, or 'valid' (none), 'same' (output size ceil(in / stride), split as
TensorFlow/Keras do, the odd element after) or 'full' (dilation*(k-1) on both sides). The native
kernels choose between a direct, an im2col+GEMM and an implicit-GEMM algorithm per shape
(``algo="auto"``; see [Note: conv algorithm choice] in csrc/conv.cpp); ``algo="direct"`` /
``"im2col"`` / ``"implicit"`` forces one. The implicit GEMM reads the padded input in place
([Note: implicit GEMM convolution] in csrc/conv.cpp): conv1d/conv2d run conv3d's kernels on a
unit depth. conv3d's ``"direct"`` is that implicit GEMM (``"implicit"`` is accepted as a
synonym) and its ``"im2col"`` vol2col + GEMM ([Note: vol2col from im2col]).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ..._array import contiguous_or_none as _contiguous
from ..._checks import is_int
from ..._relu_handoff import premasked
from ...autograd import Context, Function
from ...tensor import Tensor

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
]

IntOrTuple = Union[int, tuple[int, ...]]
Padding = Union[int, tuple[int, ...], str]

_KERNELS = {
    1: (_C.conv1d_forward, _C.conv1d_backward_input, _C.conv1d_backward_weight),
    2: (_C.conv2d_forward, _C.conv2d_backward_input, _C.conv2d_backward_weight),
    3: (_C.conv3d_forward, _C.conv3d_backward_input, _C.conv3d_backward_weight),
}
_LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


class ConvNd(Function):
    """y = conv(x, w) + b, optionally followed by a fused ReLU; backward: dx by the transposed
    convolution, dw and db reduced over the batch (both by the same native algorithm choice).
    With ``relu`` the forward applies max(y, 0) in the pass that adds the bias (no separate
    activation pass or autograd node), and the backward masks the incoming gradient once
    (native ReLU backward from the saved output) before both gradient kernels, unless the
    consumer already did ([Note: ReLU masks handed down] in _relu_handoff.py)."""

    fresh_grads = True  # every gradient is a new kernel output ([Note: fresh gradients])

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
        ctx.relu_output = relu
        ctx.conv = (stride, padding, dilation, groups, algo)
        ctx.nsp = nsp
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        x, w, y = ctx.saved
        _, bwd_input, bwd_weight = _KERNELS[ctx.nsp]
        masked = y is None or premasked(ctx, gy)
        gy = np.ascontiguousarray(gy, dtype=x.dtype)
        if not masked:  # fused ReLU: gy * (y > 0)
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


def conv3d(
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
    """3-D cross-correlation: x (N, C, D, H, W), w (K, C/groups, KD, R, S), b (K,) ->
    (N, K, D_out, H_out, W_out); padding an int, 3 ints, 'valid', 'same' or 'full'."""
    return _conv(x, w, b, stride, padding, dilation, groups, algo, 3, activation)


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


# --------------------------------------------------------------------------- transposed
# [Note: transposed convolution by the conv kernels]
# conv_transpose(x, w) is the adjoint of conv(., w) (the gradient of a convolution's input):
# with w (C_in, C_out/groups, k...) read as a convolution weight (K = C_in, C/G = C_out/G, k...)
# from the output space (N, C_out, out...) to the input space (N, C_in, in...),
#   y  = conv_backward_input(x, w)          (the transposed convolution itself)
#   dx = conv_forward(dy, w)                (its adjoint, the convolution)
#   dw = conv_backward_weight(dy, x)        (the convolution's input is dy, its output x)
# so it runs on the same tuned kernels, with no loops of its own, each pass on the algorithm
# 'auto' picks for that convolution ([Note: conv algorithm choice] in csrc/conv.cpp; the
# strided gradient passes mostly take the implicit GEMM). Its output size is
# (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1. PyTorch
# allows output_padding up to max(stride, dilation) - 1; when output_padding >= stride, the
# convolution from that output size has floor(output_padding / stride) more positions per
# axis than x, which x is padded with (zeros: they add nothing) and dx is cropped back from.


def _transpose_geometry(
    fn: str,
    x: Any,
    w: Any,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    nsp: int,
) -> tuple:
    """Per-axis ints and the output shape of a transposed convolution (ValueError/TypeError
    naming the argument)."""
    if x.dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"{fn}: input must be float16, float32 or float64, got {x.dtype}")
    if w.dtype != x.dtype:
        raise TypeError(f"{fn}: weight has dtype {w.dtype} but input has {x.dtype}")
    layout = _LAYOUTS[nsp]
    if x.ndim != 2 + nsp:
        raise ValueError(f"{fn}: input must be {2 + nsp}-dimensional {layout}, got {x.shape}")
    if w.ndim != 2 + nsp:
        raise ValueError(
            f"{fn}: weight must be {2 + nsp}-dimensional (C_in, C_out/groups, kernel...), "
            f"got {w.shape}"
        )
    if not is_int(groups) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"{fn}: input has {x.shape[1]} channels but weight expects {w.shape[0]} "
            f"(weight.shape[0] is C_in)"
        )
    if w.shape[0] % groups:
        raise ValueError(f"{fn}: groups={groups} must divide the input channels {w.shape[0]}")
    if any(k < 1 for k in w.shape[2:]) or w.shape[1] < 1:
        raise ValueError(f"{fn}: weight must be non-empty, got shape {w.shape}")
    if any(n < 1 for n in x.shape[2:]):
        raise ValueError(f"{fn}: input must have non-empty spatial axes, got shape {x.shape}")
    st = _C.spatial_ints(stride, nsp, "stride", 1)
    pad = _C.spatial_ints(padding, nsp, "padding", 0)
    opad = _C.spatial_ints(output_padding, nsp, "output_padding", 0)
    dil = _C.spatial_ints(dilation, nsp, "dilation", 1)
    out, extra = [], []
    for i in range(nsp):
        if opad[i] >= st[i] and opad[i] >= dil[i]:
            raise ValueError(
                f"{fn}: output_padding must be smaller than either stride or dilation, got "
                f"output_padding={opad[i]}, stride={st[i]}, dilation={dil[i]} on axis {i}"
            )
        n = (x.shape[2 + i] - 1) * st[i] - 2 * pad[i] + dil[i] * (w.shape[2 + i] - 1) + opad[i] + 1
        if n < 1:
            raise ValueError(
                f"{fn}: the output size along spatial axis {i} would be {n} (input "
                f"{x.shape[2 + i]}, stride {st[i]}, padding {pad[i]}, kernel "
                f"{w.shape[2 + i]}, dilation {dil[i]}, output_padding {opad[i]}); it must be "
                "positive"
            )
        out.append(n)
        extra.append(opad[i] // st[i])
    y_shape = (x.shape[0], w.shape[1] * groups, *out)
    return y_shape, (st, pad, dil, groups), tuple(extra)


class ConvTransposeNd(Function):
    """y = conv_transpose(x, w) + b by the convolution kernels ([Note: transposed convolution
    by the conv kernels])."""

    fresh_grads = True  # kernel outputs and a new sum ([Note: fresh gradients])

    @staticmethod
    def forward(
        ctx: Context, x: Any, w: Any, b: Any, y_shape: tuple, conv: tuple, extra: tuple, nsp: int
    ) -> Any:
        _, bwd_input, _ = _KERNELS[nsp]
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        if any(extra):
            x = _C.pad(x, (0, 0, 0, 0) + tuple(v for e in extra for v in (0, e)))  # zeros after
        y = bwd_input(x, w, y_shape, *conv, "auto")
        if b is not None:
            _C.bias_add(y, np.ascontiguousarray(b, dtype=y.dtype), axis=1, out=y)
        ctx.save_for_backward(x, w)
        ctx.conv, ctx.nsp, ctx.extra = conv, nsp, extra
        return y

    @staticmethod
    def backward(ctx: Context, gy: Any) -> tuple:
        x, w = ctx.saved
        fwd, _, bwd_weight = _KERNELS[ctx.nsp]
        gy = np.ascontiguousarray(gy, dtype=x.dtype)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x:
            gx = fwd(gy, w, None, *ctx.conv, "auto", False)
            if any(ctx.extra):
                gx = gx[
                    (slice(None), slice(None))
                    + tuple(slice(0, n - e) for n, e in zip(gx.shape[2:], ctx.extra))
                ]
        if need_w:
            gw, _ = bwd_weight(gy, x, w.shape, *ctx.conv, "auto", bias=False)
        if need_b:
            gb = _C.bias_grad(gy, 1)
        return gx, gw, gb, None, None, None, None


def _conv_transpose(
    fn: str,
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    nsp: int,
) -> Tensor:
    xd = x.data if isinstance(x, Tensor) else x
    wd = w.data if isinstance(w, Tensor) else w
    y_shape, conv, extra = _transpose_geometry(
        fn, xd, wd, stride, padding, output_padding, groups, dilation, nsp
    )
    if b is not None:
        bd = b.data if isinstance(b, Tensor) else b
        if bd.dtype != xd.dtype:
            raise TypeError(f"{fn}: bias has dtype {bd.dtype} but input has {xd.dtype}")
        if bd.shape != (y_shape[1],):
            raise ValueError(f"{fn}: bias must have shape ({y_shape[1]},), got {bd.shape}")
    return ConvTransposeNd.apply(x, w, b, y_shape, conv, extra, nsp)


def conv_transpose2d(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Tensor:
    """2-D transposed convolution (PyTorch's signature and weight layout): input (N, C_in, H,
    W), weight (C_in, C_out/groups, R, S), bias (C_out,) -> (N, C_out, H_out, W_out) with
    H_out = (H - 1) * stride - 2 * padding + dilation * (R - 1) + output_padding + 1."""
    return _conv_transpose(
        "conv_transpose2d",
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        2,
    )


def conv_transpose1d(
    input: Tensor,  # noqa: A002
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Tensor:
    """1-D transposed convolution: input (N, C_in, L), weight (C_in, C_out/groups, R), bias
    (C_out,) -> (N, C_out, L_out), L_out = (L - 1) * stride - 2 * padding + dilation * (R - 1)
    + output_padding + 1."""
    return _conv_transpose(
        "conv_transpose1d",
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        1,
    )


def conv_transpose3d(
    input: Tensor,  # noqa: A002
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Tensor:
    """3-D transposed convolution: input (N, C_in, D, H, W), weight (C_in, C_out/groups, KD, R,
    S), bias (C_out,) -> (N, C_out, D_out, H_out, W_out), each size as in conv_transpose2d."""
    return _conv_transpose(
        "conv_transpose3d",
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
        3,
    )


# ---------------------------------------------------------------------- Keras's geometry
def keras_deconv_geometry(
    spatial: Any, kernel_size: Any, padding: str, output_padding: Any, strides: Any, dilation: Any
) -> list[tuple[int, int | None]]:
    """Keras's deconv_output_length per spatial axis: (where the output starts inside the full
    transposed convolution of (n - 1) * stride + (k - 1) * dilation + 1 samples, the output
    length; None for an unknown n). With ``output_padding`` None, 'valid' gives
    n * stride + max(k - stride, 0) and 'same' n * stride (the gradient of a 'same'
    convolution, TensorFlow's split of an odd padding); else (n - 1) * stride + k - 2 * pad
    + output_padding with pad = k // 2 ('same') or 0."""
    out = []
    ops = output_padding or (None,) * len(kernel_size)
    for n, k, o, st, d in zip(spatial, kernel_size, ops, strides, dilation):
        ke = (k - 1) * d + 1
        if o is None:
            if padding == "valid":
                out.append((0, None if n is None else n * st + max(ke - st, 0)))
            else:
                out.append((max(ke - st, 0) // 2, None if n is None else n * st))
            continue
        pad = ke // 2 if padding == "same" else 0
        out.append((pad, None if n is None else (n - 1) * st + ke - 2 * pad + o))
    return out


def keras_conv_transpose(
    x: Tensor, weight: Tensor, strides: Any, padding: str, output_padding: Any, dilation: Any
) -> Tensor:
    """A transposed convolution with Keras's output sizes (``keras_deconv_geometry``, no bias)
    on channels-first x (N, C, *spatial) and a PyTorch-layout weight (C, filters, *k): one
    call of conv_transpose1d/2d/3d with the symmetric padding and output_padding that give
    Keras's window; a 'same' window with an odd total padding needs one more sample cropped
    at the end (TensorFlow puts the odd one there). Conv*DTranspose and keras.ops's
    conv_transpose share it."""
    rank = x.ndim - 2
    ksize = tuple(weight.shape[2:])
    pads, extra, crops = [], [], []
    geometry = keras_deconv_geometry(x.shape[2:], ksize, padding, output_padding, strides, dilation)
    for n, (start, length), k, st, d in zip(x.shape[2:], geometry, ksize, strides, dilation):
        full = (n - 1) * st + (k - 1) * d + 1
        op = length - (full - 2 * start)
        crops.append(length if op < 0 else None)
        pads.append(start)
        extra.append(max(op, 0))
    fn = {1: conv_transpose1d, 2: conv_transpose2d, 3: conv_transpose3d}[rank]
    y = fn(
        x, weight, None, stride=tuple(strides), padding=tuple(pads),
        output_padding=tuple(extra), dilation=tuple(dilation),
    )  # fmt: skip
    if any(c is not None for c in crops):
        y = y[(slice(None), slice(None), *(slice(0, c) for c in crops))]
    return y
