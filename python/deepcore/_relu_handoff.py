"""Autograd-level fusion of a ReLU's backward mask into the node that consumes its output
([Note: ReLU masks handed down]): used by the Functions that produce a ReLU output (ConvNd with
its fused ReLU, the relu activation) and by max pooling."""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import Context

__all__ = ["relu_source", "hand_down_masked", "premasked"]

_F16 = np.dtype(np.float16)


# [Note: ReLU masks handed down] A node whose output is relu(z) (ConvNd with its fused ReLU,
# the "relu" activation) sets ``ctx.relu_output = True`` and in backward masks the incoming
# gradient, gy * (y > 0): a pass that reads gy and y and writes a new array as large as y. A
# consumer that can apply that mask more cheaply does it instead: max pooling's input gradient
# is zero except at each window's argmax, where y equals the pooled output, so the mask is
# (pooled output > 0) on the output gradient (a quarter of the size for 2x2 windows), applied
# by the pool's backward kernel as it routes it (its ``mask`` argument: no pass of its own).
# The consumer then marks its gradient as masked on the producer
# (``hand_down_masked``), and the producer skips its pass when the gradient it receives *is*
# that array (``premasked``): true only when that consumer was its only contributor and no
# cast happened (a sum with another consumer's gradient, a float16 upcast, is a new array, which
# gets masked as usual). The mask only selects (y > 0 ? g : 0), so the result is bitwise the
# same. Not done for an output that keeps its ``.grad`` (retain_grad), which must show the
# gradient before the mask, nor for float16 storage. Used by any graph, eager or a model's.
def relu_source(ctx: Context, k: int = 0) -> Context | None:
    """The node that computed forward input ``k`` of ``ctx`` as a ReLU output whose gradient
    may be handed down masked, else None ([Note: ReLU masks handed down])."""
    p = ctx.parents[k] if k < len(ctx.parents) else None
    # (float16 storage: the consumer sees the rounded output, whose zeros the mask differs on)
    if p is None or p._retain_grad or p.data.dtype is _F16:
        return None
    src = p._ctx
    if src is None or src.n_outputs != 1 or not src.__dict__.get("relu_output", False):
        return None
    return src


def hand_down_masked(src: Context, g: Any) -> None:
    """Tell the ReLU node ``src`` that ``g`` (the gradient for its output) is already masked."""
    src.masked_grad = g


def premasked(ctx: Context, g: Any) -> bool:
    """``g`` is the gradient a consumer already masked by this ReLU node's (y > 0) (asked once
    per backward: the mark is dropped)."""
    return ctx.__dict__.pop("masked_grad", None) is g
