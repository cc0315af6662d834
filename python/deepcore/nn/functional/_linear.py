"""F.linear: y = x @ w.T + b over our GEMM, with the fused native bias add.

One autograd node for the whole layer: forward is one GEMM (x as (M, in) rows against w
(out, in) transposed, no copy of w) plus one in-place bias pass; backward is two GEMMs and
the bias-gradient reduction kernel, each computed only when that input needs a gradient.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ...autograd import Function
from ...tensor import Tensor

__all__ = ["linear", "bias_add"]

ArrayOrTensor = Union[Tensor, np.ndarray]

_GEMM = {np.dtype(np.float32): _C.sgemm, np.dtype(np.float64): _C.dgemm}


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class _Linear(Function):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        gemm = _GEMM[x.dtype]
        m = int(np.prod(x.shape[:-1], dtype=np.int64))  # not -1: in_features may be 0
        x2 = np.ascontiguousarray(x).reshape(m, x.shape[-1])  # (M, in)
        w = np.ascontiguousarray(w)
        y = gemm(x2, w, trans_b=True)  # (M, out)
        if b is not None:
            _C.bias_add(y, np.ascontiguousarray(b), -1, out=y)
        ctx.save_for_backward(x2, w)
        ctx.x_shape, ctx.has_b = x.shape, b is not None
        return y.reshape(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple:
        x2, w = ctx.saved
        gemm = _GEMM[x2.dtype]
        gy2 = np.ascontiguousarray(gy).reshape(x2.shape[0], w.shape[0])  # (M, out)
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = gemm(gy2, w).reshape(ctx.x_shape) if need_x else None  # (M, out) @ (out, in)
        gw = gemm(gy2, x2, trans_a=True) if need_w else None  # (out, M) @ (M, in)
        gb = _C.bias_grad(gy2, -1) if (ctx.has_b and need_b) else None
        return gx, gw, gb


def linear(x: ArrayOrTensor, w: ArrayOrTensor, b: ArrayOrTensor | None = None) -> Tensor:
    """y = x @ w.T + b with x (..., in), w (out, in) (PyTorch's layout), b (out,) or None."""
    xd, wd = _data(x), _data(w)
    if xd.dtype not in _GEMM:
        raise TypeError(f"linear: x must be float32 or float64, got {xd.dtype}")
    if wd.dtype != xd.dtype:
        raise TypeError(f"linear: w has dtype {wd.dtype} but x has {xd.dtype}")
    if wd.ndim != 2:
        raise ValueError(f"linear: w must be 2-D (out_features, in_features), got {wd.shape}")
    if xd.ndim < 1 or xd.shape[-1] != wd.shape[1]:
        raise ValueError(
            f"linear: x has shape {xd.shape} but w {wd.shape} expects {wd.shape[1]} input "
            "features on the last axis"
        )
    if b is not None:
        bd = _data(b)
        if bd.dtype != xd.dtype:
            raise TypeError(f"linear: b has dtype {bd.dtype} but x has {xd.dtype}")
        if bd.shape != (wd.shape[0],):
            raise ValueError(f"linear: b must have shape ({wd.shape[0]},), got {bd.shape}")
    return _Linear.apply(x, w, b)


class _BiasAdd(Function):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
        ctx.axis, ctx.x_shape = axis, x.shape
        return _C.bias_add(np.ascontiguousarray(x), np.ascontiguousarray(b), axis)

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple:
        gy = np.ascontiguousarray(gy)
        gb = _C.bias_grad(gy, ctx.axis) if ctx.needs_input_grad[1] else None
        return gy, gb


def bias_add(x: ArrayOrTensor, b: ArrayOrTensor, axis: int = -1) -> Tensor:
    """x + b with b (C,) broadcast along ``axis`` of x (1 for NCHW, -1 for channels-last):
    one fused native pass forward, the per-channel reduction kernel backward."""
    return _BiasAdd.apply(x, b, int(axis))
