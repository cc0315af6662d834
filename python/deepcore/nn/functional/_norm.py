"""Layer normalisation and batch normalisation over fused native kernels (csrc/norm.h).

Both save the per-group mean and rstd = 1/sqrt(var + eps) in the forward pass, so backward is
one fused pass (plus the weight/bias reductions) with no second statistics pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from ... import _C
from ..._array import contiguous_or_none as _contig
from ...autograd import Function
from ...tensor import Tensor

__all__ = ["layer_norm", "batch_norm"]

ArrayOrTensor = Union[Tensor, np.ndarray]


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


class _LayerNorm(Function):
    @staticmethod
    def forward(
        ctx: Any, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, n: int, eps: float
    ) -> np.ndarray:
        x, w, b = _contig(x), _contig(w), _contig(b)
        y, mean, rstd = _C.layer_norm_forward(x, w, b, n, eps)
        ctx.save_for_backward(x, w, mean, rstd)
        ctx.n, ctx.w_shape, ctx.b_shape = n, getattr(w, "shape", None), getattr(b, "shape", None)
        return y

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple:
        x, w, mean, rstd = ctx.saved
        need_w = ctx.needs_input_grad[1]
        need_b = ctx.needs_input_grad[2]
        gx, gw, gb = _C.layer_norm_backward(_contig(gy), x, w, mean, rstd, ctx.n, need_w, need_b)
        if gw is not None:
            gw = gw.reshape(ctx.w_shape)
        if gb is not None:
            gb = gb.reshape(ctx.b_shape)
        return gx, gw, gb


def layer_norm(
    x: ArrayOrTensor,
    normalized_shape: int | Sequence[int],
    weight: ArrayOrTensor | None = None,
    bias: ArrayOrTensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes of x to zero mean and unit
    (biased) variance, then scale by ``weight`` and shift by ``bias`` (each of shape
    normalized_shape, or None)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    xd = _data(x)
    k = len(shape)
    if k == 0 or xd.ndim < k or tuple(xd.shape[xd.ndim - k :]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must match the trailing axes of x, which has "
            f"shape {xd.shape}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(_data(p).shape) != shape:
            raise ValueError(
                f"layer_norm: {name} must have shape {shape}, got {tuple(_data(p).shape)}"
            )
    n = int(np.prod(shape))
    if n == 0:
        raise ValueError(f"layer_norm: normalized_shape {shape} has no elements")
    return _LayerNorm.apply(x, weight, bias, n, float(eps))


class _BatchNorm(Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: np.ndarray,
        w: np.ndarray | None,
        b: np.ndarray | None,
        running_mean: np.ndarray | None,
        running_var: np.ndarray | None,
        training: bool,
        momentum: float,
        eps: float,
        axis: int,
        unbiased: bool,
    ) -> np.ndarray:
        x, w, b = _contig(x), _contig(w), _contig(b)
        # running statistics are updated in place by the kernel (training mode)
        y, mean, rstd = _C.batch_norm_forward(
            x, w, b, running_mean, running_var, training, momentum, eps, axis, unbiased
        )
        ctx.save_for_backward(x, w, mean, rstd)
        ctx.training, ctx.axis = training, axis
        return y

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple:
        x, w, mean, rstd = ctx.saved
        need_w, need_b = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        gx, gw, gb = _C.batch_norm_backward(
            _contig(gy), x, w, mean, rstd, ctx.training, ctx.axis, need_w, need_b
        )
        return gx, gw, gb


def batch_norm(
    x: ArrayOrTensor,
    running_mean: ArrayOrTensor | None,
    running_var: ArrayOrTensor | None,
    weight: ArrayOrTensor | None = None,
    bias: ArrayOrTensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    axis: int = 1,
    unbiased_running_var: bool = True,
) -> Tensor:
    """Batch normalisation with one mean/variance per channel along ``axis`` (1 for NCHW,
    -1 for channels-last), over the batch and every other axis.

    training=True normalises with the batch statistics and, when given, updates
    ``running_mean`` / ``running_var`` in place: r = (1 - momentum) r + momentum * stat, with the
    unbiased batch variance (PyTorch's convention), or the biased one with
    unbiased_running_var=False (Keras' convention; Keras' momentum m is PyTorch's 1 - m).
    training=False normalises with the running statistics. weight/bias: (C,) or None.
    """
    for name, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is not None and isinstance(r, Tensor) and r.requires_grad:
            raise ValueError(f"batch_norm: {name} must not require grad (it is updated in place)")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum}")
    rm = _data(running_mean)
    rv = _data(running_var)
    for name, r in (("running_mean", rm), ("running_var", rv)):
        is_array = isinstance(r, np.ndarray) or hasattr(r, "__cuda_array_interface__")
        if r is not None and not (is_array and r.flags.c_contiguous):
            raise ValueError(f"batch_norm: {name} must be a C-contiguous array (updated in place)")
    return _BatchNorm.apply(
        x,
        weight,
        bias,
        rm,
        rv,
        bool(training),
        float(momentum),
        float(eps),
        int(axis),
        bool(unbiased_running_var),
    )
