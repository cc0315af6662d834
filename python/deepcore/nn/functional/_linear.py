"""F.linear: y = x @ w.T + b over our GEMM, with the fused native bias add; F.dense: the same
with Keras's kernel layout, y = x @ kernel + b.

One autograd node for the whole layer: forward is one GEMM (x as (M, in) rows against w
(out, in) transposed, or against kernel (in, out) as it is; no copy of the weight either way)
plus one in-place bias pass; backward is two GEMMs and the bias-gradient reduction kernel, each
computed only when that input needs a gradient.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ..._array import array_module, contiguous
from ...autograd import Function
from ...tensor import Tensor

__all__ = ["linear", "dense", "bias_add"]

ArrayOrTensor = Union[Tensor, np.ndarray]

_GEMM = {np.dtype(np.float32): _C.sgemm, np.dtype(np.float64): _C.dgemm}


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class _Linear(Function):
    """y = x @ op(w) + b; ``in_out`` says w is (in, out) (Keras) rather than (out, in)."""

    @staticmethod
    def forward(
        ctx: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, in_out: bool
    ) -> np.ndarray:
        gemm = _GEMM[x.dtype]
        xp = array_module(x)  # NumPy, or CuPy on "cuda" (our CUDA GEMM): [Note: array module]
        m = int(np.prod(x.shape[:-1], dtype=np.int64))  # not -1: in_features may be 0
        x2 = xp.ascontiguousarray(x).reshape(m, x.shape[-1])  # (M, in)
        w = xp.ascontiguousarray(w)
        y = gemm(x2, w, trans_b=not in_out)  # (M, out)
        if b is not None:
            _C.bias_add(y, xp.ascontiguousarray(b), -1, out=y)
        ctx.save_for_backward(x2, w)
        ctx.x_shape, ctx.has_b, ctx.in_out = x.shape, b is not None, in_out
        return y.reshape(*x.shape[:-1], y.shape[1])

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple:
        x2, w = ctx.saved
        gemm = _GEMM[x2.dtype]
        in_out = ctx.in_out
        n_out = w.shape[1] if in_out else w.shape[0]
        gy2 = array_module(gy).ascontiguousarray(gy).reshape(x2.shape[0], n_out)  # (M, out)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = None
        if need_x:  # (M, out) @ op(w)^T -> (M, in)
            gx = gemm(gy2, w, trans_b=in_out).reshape(ctx.x_shape)
        if need_w:  # (in, M) @ (M, out) or (out, M) @ (M, in)
            gw = gemm(x2, gy2, trans_a=True) if in_out else gemm(gy2, x2, trans_a=True)
        gb = _C.bias_grad(gy2, -1) if (ctx.has_b and need_b) else None
        return gx, gw, gb, None


def _check_linear(
    op: str, xd: np.ndarray, wd: np.ndarray, b: Any, wname: str, in_out: bool
) -> None:
    if xd.dtype not in _GEMM and xd.dtype != np.float16:  # ([Note: float16 storage])
        raise TypeError(f"{op}: x must be float16, float32 or float64, got {xd.dtype}")
    if wd.dtype != xd.dtype:
        raise TypeError(f"{op}: {wname} has dtype {wd.dtype} but x has {xd.dtype}")
    layout = "(in_features, out_features)" if in_out else "(out_features, in_features)"
    if wd.ndim != 2:
        raise ValueError(f"{op}: {wname} must be 2-D {layout}, got {wd.shape}")
    n_in, n_out = (wd.shape[0], wd.shape[1]) if in_out else (wd.shape[1], wd.shape[0])
    if xd.ndim < 1 or xd.shape[-1] != n_in:
        raise ValueError(
            f"{op}: x has shape {xd.shape} but {wname} {wd.shape} expects {n_in} input "
            "features on the last axis"
        )
    if b is not None:
        bd = _data(b)
        if bd.dtype != xd.dtype:
            raise TypeError(f"{op}: b has dtype {bd.dtype} but x has {xd.dtype}")
        if bd.shape != (n_out,):
            raise ValueError(f"{op}: b must have shape ({n_out},), got {bd.shape}")


def linear(x: ArrayOrTensor, w: ArrayOrTensor, b: ArrayOrTensor | None = None) -> Tensor:
    """y = x @ w.T + b with x (..., in), w (out, in) (PyTorch's layout), b (out,) or None."""
    xd, wd = _data(x), _data(w)
    _check_linear("linear", xd, wd, b, "w", in_out=False)
    return _Linear.apply(x, w, b, False)


def dense(x: ArrayOrTensor, kernel: ArrayOrTensor, b: ArrayOrTensor | None = None) -> Tensor:
    """y = x @ kernel + b with x (..., in), kernel (in, out) (Keras's layout), b (out,) or None:
    the GEMM reads the kernel as it is stored, so neither layout costs a copy."""
    xd, wd = _data(x), _data(kernel)
    _check_linear("dense", xd, wd, b, "kernel", in_out=True)
    return _Linear.apply(x, kernel, b, True)


class _BiasAdd(Function):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
        ctx.axis, ctx.x_shape = axis, x.shape
        return _C.bias_add(contiguous(x), contiguous(b), axis)

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple:
        gy = contiguous(gy)
        gb = _C.bias_grad(gy, ctx.axis) if ctx.needs_input_grad[1] else None
        return gy, gb


def bias_add(x: ArrayOrTensor, b: ArrayOrTensor, axis: int = -1) -> Tensor:
    """x + b with b (C,) broadcast along ``axis`` of x (1 for NCHW, -1 for channels-last):
    one fused native pass forward, the per-channel reduction kernel backward."""
    return _BiasAdd.apply(x, b, int(axis))
