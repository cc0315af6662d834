"""F.scaled_dot_product_attention: the fused flash-style kernel of csrc/attention.h.

Forward keeps only the output and one log-sum-exp per query row; backward recomputes the
probabilities tile by tile, so memory grows with L, never with L x L (see [Note: online
softmax] in csrc/attention.h).
"""

from __future__ import annotations

import math
from typing import Any, Union

import numpy as np

from ... import _C
from ..._checks import is_real
from ...autograd import Function
from ...ops._elementwise import where
from ...tensor import Tensor, get_rng
from ._activation import softmax
from ._dropout import dropout

__all__ = ["scaled_dot_product_attention"]

ArrayOrTensor = Union[Tensor, np.ndarray]


def _last_axis_contiguous(a: np.ndarray) -> np.ndarray:
    """The kernel reads any (B, H, L, D) strides with a contiguous last axis (a head split out
    of a (B, L, H, D) projection is read in place); copy only when the last axis is strided."""
    if a.shape[-1] <= 1 or a.strides[-1] == a.itemsize:
        return a
    return np.ascontiguousarray(a)


def _output_like(q: np.ndarray, dv: int) -> np.ndarray:
    """(B, H, Lq, Dv) output laid out like q: heads-inner (B, Lq, H, Dv) memory when q is a
    head view of a (B, L, H, D) array, so the caller's merge of the heads is free."""
    B, H, Lq, _ = q.shape
    if H > 1 and Lq > 1 and abs(q.strides[1]) < abs(q.strides[2]):
        return np.empty((B, Lq, H, dv), q.dtype).transpose(0, 2, 1, 3)
    return np.empty((B, H, Lq, dv), q.dtype)


class _SDPA(Function):
    @staticmethod
    def forward(
        ctx: Any,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        mask: np.ndarray | None,
        causal: bool,
        scale: float,
        p: float,
        seed: int,
    ) -> np.ndarray:
        q, k, v = _last_axis_contiguous(q), _last_axis_contiguous(k), _last_axis_contiguous(v)
        o, lse = _C.attention_forward(
            q, k, v, mask, causal, scale, p, seed, out=_output_like(q, v.shape[-1])
        )
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.args = (mask, causal, scale, p, seed)
        return o

    @staticmethod
    def backward(ctx: Any, go: np.ndarray) -> tuple:
        q, k, v, o, lse = ctx.saved
        gq, gk, gv = _C.attention_backward(
            _last_axis_contiguous(go),
            q,
            k,
            v,
            o,
            lse,
            *ctx.args,
            gq=np.empty_like(q),
            gk=np.empty_like(k),
            gv=np.empty_like(v),
        )
        return gq, gk, gv, None, None, None, None, None


def _array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(
        f"scaled_dot_product_attention: {name} must be a Tensor or numpy array, got "
        f"{type(x).__name__}"
    )


def scaled_dot_product_attention(
    query: ArrayOrTensor,
    key: ArrayOrTensor,
    value: ArrayOrTensor,
    attn_mask: ArrayOrTensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(query key^T * scale + mask) value on (B, H, L, D) tensors, as PyTorch's.

    query (B, H, Lq, D), key (B, H, Lk, D), value (B, H, Lk, Dv) -> (B, H, Lq, Dv).
    ``attn_mask``: bool (True = take part in attention) or a float mask of query's dtype added
    to the scores, broadcastable to (B, H, Lq, Lk); it is a constant (no gradient).
    ``is_causal``: query i attends keys j <= i (top-left aligned when Lq != Lk); unlike
    PyTorch it may be combined with ``attn_mask`` (both apply). ``scale`` defaults to
    1/sqrt(D). ``dropout_p`` drops probabilities (after the softmax, scaling the kept ones by
    1/(1 - p)) with a mask drawn from deepcore.get_rng() that backward regenerates; it applies
    whenever p > 0, as PyTorch's (pass 0.0 at inference).

    A query row with no key to attend (all masked) gives zeros and zero gradients where
    PyTorch gives NaN. float32 is the fast path; float64 for gradient checks.
    """
    if not is_real(dropout_p):
        raise TypeError(
            "scaled_dot_product_attention: dropout_p must be a float in [0, 1), got "
            f"{dropout_p!r} (the arguments after attn_mask are dropout_p, is_causal, scale, "
            "as in PyTorch)"
        )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(
            f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}"
        )
    dropout_p = float(dropout_p)
    if not isinstance(is_causal, (bool, np.bool_)):
        raise TypeError(
            f"scaled_dot_product_attention: is_causal must be a bool, got {is_causal!r}"
        )
    q = _array(query, "query")
    if q.ndim != 4:
        raise ValueError(
            "scaled_dot_product_attention: query must be 4-dimensional (batch, heads, length, "
            f"head_dim), got shape {q.shape}"
        )
    _array(key, "key"), _array(value, "value")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] > 0 else 1.0
    elif not is_real(scale):
        raise TypeError(f"scaled_dot_product_attention: scale must be a float, got {scale!r}")
    scale = float(scale)
    mask = None
    if attn_mask is not None:
        if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
            raise ValueError(
                "scaled_dot_product_attention: attn_mask requires grad, but the fused kernel "
                "treats the mask as a constant (its gradient would be the L x L matrix dS)"
            )
        mask = _array(attn_mask, "attn_mask")
    seed = int(get_rng().integers(0, 2**63)) if dropout_p > 0.0 else 0
    return _SDPA.apply(
        query, key, value, mask, bool(is_causal), float(scale), float(dropout_p), seed
    )


def _sdpa_materialized(
    query: ArrayOrTensor,
    key: ArrayOrTensor,
    value: ArrayOrTensor,
    attn_mask: ArrayOrTensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """The unfused path: the (B, H, Lq, Lk) scores and probabilities materialised through
    deepcore's matmul and softmax under autograd. Returns (output, probabilities before
    dropout). Same conventions as the fused kernel, fully masked rows included (zeros). For
    layers asked to return their attention scores, and the benchmark baseline; everything
    else takes the fused kernel."""
    q, k = (x if isinstance(x, Tensor) else Tensor(np.asarray(x)) for x in (query, key))
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    return _attend(q @ k.swapaxes(-1, -2) * scale, value, attn_mask, dropout_p, is_causal)


def _attend(
    scores: Tensor,
    value: ArrayOrTensor,
    attn_mask: ArrayOrTensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor]:
    """softmax(scores + mask) @ value on materialised (..., Lq, Lk) scores (any score
    function: dot product, Bahdanau's additive one); returns (output, probabilities before
    dropout). Masks as in scaled_dot_product_attention."""
    s = scores
    Lq, Lk = s.shape[-2], s.shape[-1]
    keep = None
    if attn_mask is not None:
        m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        if m.dtype == np.bool_:
            keep = m
        else:
            s = s + Tensor(m.astype(s.dtype, copy=False))
    if is_causal:
        tri = np.tril(np.ones((Lq, Lk), np.bool_))
        keep = tri if keep is None else keep & tri
    # masked entries (and additive -inf) become the lowest finite value, so a row with nothing
    # to attend is uniform instead of NaN; it is then zeroed (see [Note: fully masked rows])
    finite = ~np.isneginf(s.data)
    keep = finite if keep is None else np.broadcast_to(keep, s.shape) & finite
    if not keep.all():
        s = where(keep, s, np.asarray(np.finfo(s.dtype).min, s.dtype))
    p = softmax(s, axis=-1)
    live = keep.any(axis=-1, keepdims=True)
    if not live.all():
        p = p * Tensor(live.astype(p.dtype))
    pd = dropout(p, dropout_p) if dropout_p > 0.0 else p
    return pd @ value, p
