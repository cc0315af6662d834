"""Matrix products through deepcore's GEMM (csrc/gemm.cpp): ``matmul`` with NumPy's rules;
``einsum`` (NumPy's subscripts, through the array library's einsum with contraction-order
optimisation) whose gradient for each operand is another einsum of the output gradient with
the other operands ([Note: einsum gradient])."""

from __future__ import annotations

import math
import string
from collections import Counter
from typing import Any

import numpy as np

from .. import kernels
from .._array import array_module
from ..autograd import Context, Function
from ..tensor import Tensor, tensor
from ._common import Array, _sum_to

__all__ = ["matmul", "einsum"]


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
        # explicit row count: reshape(-1, 0) of an empty a is ambiguous and raises
        out = _kmatmul(a.reshape(math.prod(a.shape[:-1]), a.shape[-1]), b, False, trans_b)
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
                rows = math.prod(a2.shape[:-1])  # explicit: reshape(-1, 0) of an empty array raises
                gb = _gemm(a2.reshape(rows, k), g.reshape(rows, n), trans_a=True)
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


# [Note: einsum gradient] With every operand written out in explicit letters (an ellipsis
# expanded into letters of its own), the gradient of operand i is
# einsum("out,others->letters_i") of the output gradient with the other operands, over the
# letters that occur in the output or another operand; a letter only operand i has (summed
# away in the forward) gets the gradient broadcast along it, a repeated letter (a diagonal,
# "ii->i") gets it written onto that diagonal, and an axis of size 1 broadcast against a larger
# one is summed back.
def _einsum_parse(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    s = subscripts.replace(" ", "")
    if s.count("->") > 1:
        raise ValueError(f"einsum: subscripts {subscripts!r} have more than one '->'")
    ins, out = s.split("->") if "->" in s else (s, None)
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(shapes)} operands")
    used = {c for c in s if c.isalpha()}
    free = [c for c in string.ascii_letters if c not in used]
    ell_nd = 0
    for t, shape in zip(terms, shapes):
        if "..." in t:
            ell_nd = max(ell_nd, len(shape) - (len(t) - 3))
    ell = "".join(free[:ell_nd])
    full = []
    for i, (t, shape) in enumerate(zip(terms, shapes)):
        if "..." in t:
            k = len(shape) - (len(t) - 3)
            if k < 0:
                raise ValueError(f"einsum: operand {i} has fewer axes than its subscripts {t!r}")
            t = t.replace("...", ell[ell_nd - k :])
        if not all(c in string.ascii_letters for c in t) or len(t) != len(shape):
            raise ValueError(
                f"einsum: subscripts {t!r} do not fit operand {i} of shape {shape} (letters, "
                "one per axis, and at most one '...')"
            )
        full.append(t)
    if out is None:
        counts = Counter("".join(full))
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
        if not all(c in "".join(full) for c in out) or len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts {out!r} are invalid for the inputs")
    return full, out


class Einsum(Function):
    @staticmethod
    def forward(ctx: Context, *ops: Array, terms: list[str], out: str) -> Array:
        xp = array_module(ops[0])
        size: dict[str, int] = {}
        for t, o in zip(terms, ops):
            for c, n in zip(t, o.shape):
                m = size.get(c)
                if m is None or m == 1:
                    size[c] = n
                elif n not in (1, m):
                    raise ValueError(
                        f"einsum: letter {c!r} has sizes {m} and {n} in different operands"
                    )
        full = [
            o
            if all(size[c] == n for c, n in zip(t, o.shape))
            else xp.broadcast_to(o, tuple(size[c] for c in t))
            for t, o in zip(terms, ops)
        ]
        ctx.saved = (full, [o.shape for o in ops], terms, out, size)
        return xp.asarray(xp.einsum(",".join(terms) + "->" + out, *full, optimize=True))

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        full, shapes, terms, out, size = ctx.saved
        xp = array_module(g)
        grads = []
        for i, (t, p) in enumerate(zip(terms, ctx.parents)):
            if p is None:
                grads.append(None)
                continue
            others = [out] + [u for j, u in enumerate(terms) if j != i]
            arrays = [g] + [o for j, o in enumerate(full) if j != i]
            avail = set("".join(others))
            uniq = "".join(dict.fromkeys(t))
            target = "".join(c for c in uniq if c in avail)
            gi = xp.einsum(",".join(others) + "->" + target, *arrays, optimize=True)
            gi = gi.reshape(tuple(size[c] if c in avail else 1 for c in uniq))
            gi = xp.broadcast_to(gi, tuple(size[c] for c in uniq))
            if uniq != t:  # a repeated letter: the gradient lies on that diagonal
                dense = xp.zeros(tuple(size[c] for c in t), g.dtype)
                nd = len(uniq)
                pick = tuple(
                    xp.arange(size[c]).reshape(
                        (1,) * uniq.index(c) + (-1,) + (1,) * (nd - uniq.index(c) - 1)
                    )
                    for c in t
                )
                dense[pick] = gi
                gi = dense
            grads.append(_sum_to(xp.ascontiguousarray(gi), shapes[i]))
        return tuple(grads)


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """NumPy's ``einsum`` (implicit or explicit output, ``...``, repeated letters), float
    operands, differentiable in every operand ([Note: einsum gradient])."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a str, got {type(subscripts).__name__}")
    if not operands:
        raise ValueError("einsum: at least one operand is needed")
    ts = [o if isinstance(o, Tensor) else tensor(o) for o in operands]
    dts = [t.dtype for t in ts]
    if any(d.kind != "f" for d in dts):
        raise TypeError(f"einsum supports float32 and float64 tensors, got {[str(d) for d in dts]}")
    dt = np.result_type(*dts)
    ts = [t if t.dtype == dt else t.astype(dt) for t in ts]
    terms, out = _einsum_parse(subscripts, [t.shape for t in ts])
    return Einsum.apply(*ts, terms=terms, out=out)
