"""Matrix products through deepcore's GEMM (csrc/gemm.cpp): ``matmul`` with NumPy's rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from .._array import array_module
from ..autograd import Context, Function
from ..tensor import Tensor, tensor
from ._common import Array, _sum_to

__all__ = ["matmul"]


def _gemm_operand(x: Array, trans: bool) -> tuple[Array, bool]:
    """An operand GEMM can read without copying: its matrices must have unit-stride rows. A
    transposed view (x.T, x.swapaxes(-1, -2)) is passed as the original with the flag flipped;
    anything else irregular is copied."""
    if x.flags.c_contiguous:
        return x, trans
    it = x.itemsize
    st = x.strides
    r, c = x.shape[-2], x.shape[-1]
    if (c <= 1 or st[-1] == it) and (r <= 1 or (st[-2] >= c * it and st[-2] % it == 0)):
        return x, trans
    if (r <= 1 or st[-2] == it) and (c <= 1 or (st[-1] >= r * it and st[-1] % it == 0)):
        return x.swapaxes(-1, -2), not trans
    return array_module(x).ascontiguousarray(x), trans


_kmatmul = kernels.matmul  # csrc/bindings/gemm.cpp: batched, broadcast op(a) @ op(b)


def _gemm(a: Array, b: Array, trans_a: bool = False, trans_b: bool = False) -> Array:
    """op(a) @ op(b) over the last two axes (batch axes broadcast) through our GEMM."""
    a, trans_a = _gemm_operand(a, trans_a)
    b, trans_b = _gemm_operand(b, trans_b)
    if b.ndim == 2 and a.ndim > 2 and not trans_a and a.flags.c_contiguous:
        # (..., m, k) @ (k, n): one GEMM over all rows instead of a batch of small ones
        out = _kmatmul(a.reshape(-1, a.shape[-1]), b, False, trans_b)
        return out.reshape(a.shape[:-1] + (out.shape[-1],))
    return _kmatmul(a, b, trans_a, trans_b)


class MatMul(Function):
    """NumPy's matmul: 1-D operands are promoted to a row (a) / column (b) and the added axis
    removed from the result. The backward is two matmuls (trans flags, no transposed copies)."""

    @staticmethod
    def forward(ctx: Context, a: Array, b: Array) -> Array:
        ctx.saved = (a, b)
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        out = _gemm(a2, b2)
        if a.ndim == 1:
            out = out.reshape(out.shape[:-2] + out.shape[-1:])
        if b.ndim == 1:
            out = out.reshape(out.shape[:-1])
        return out

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        a, b = ctx.saved
        pa, pb = ctx.parents
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        if b.ndim == 1:  # restore the axes the forward removed (b's first: g may be 0-d)
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if pa is not None:  # dA = dC @ B^T, summed over the batch axes A was broadcast along
            ga = _sum_to(_gemm(g, b2, trans_b=True), a2.shape).reshape(a.shape)
        if pb is not None:  # dB = A^T @ dC
            if b2.ndim == 2 and a2.ndim > 2:
                # all batch rows at once: (rows, k)^T @ (rows, n), no per-batch products to sum
                k, n = a2.shape[-1], g.shape[-1]
                gb = _gemm(a2.reshape(-1, k), g.reshape(-1, n), trans_a=True)
            else:
                gb = _sum_to(_gemm(a2, g, trans_a=True), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b`` with NumPy's rules (batched, broadcast batch axes, 1-D operands), float32 or
    float64, through deepcore's GEMM."""
    a = a if isinstance(a, Tensor) else tensor(a)
    b = b if isinstance(b, Tensor) else tensor(b)
    da, db = a.data.dtype, b.data.dtype
    if da.kind != "f" or db.kind != "f":
        raise TypeError(f"matmul supports float32 and float64 tensors, got {da} and {db}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}"
        )
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not match: the last axis of a ({ka}) "
            f"must equal the {'second-to-last' if b.ndim > 1 else 'only'} axis of b ({kb})"
        )
    if a.ndim > 2 and b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(
                f"matmul: batch axes of shapes {a.shape} and {b.shape} cannot be broadcast"
            ) from None
    if da != db:
        dt = np.result_type(da, db)
        a = a if da == dt else a.astype(dt)
        b = b if db == dt else b.astype(dt)
    return MatMul.apply(a, b)
