"""Indexing: ``x[idx]`` (basic, integer-array and boolean-mask indexing with NumPy's rules; the
gradient is scattered back) and ``x[idx] = v`` outside the graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import array_module
from ..autograd import Context, Function, _state
from ..tensor import Tensor
from ._common import Array

__all__ = ["getitem", "setitem"]


def _is_basic_index(idx: Any) -> bool:
    """True when no element can be selected twice (no integer-array index), so the backward
    can assign instead of scatter-adding."""
    items = idx if type(idx) is tuple else (idx,)
    for it in items:
        if isinstance(it, np.ndarray):
            if it.dtype != np.bool_:
                return False
        elif not (it is None or it is Ellipsis or isinstance(it, (int, slice, np.integer))):
            return False
    return True


class GetItem(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, idx: Any) -> Array:
        ctx.saved = (x.shape, x.dtype, idx)
        return x[idx]

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shape, dtype, idx = ctx.saved
        xp = array_module(g)
        grad = xp.zeros(shape, dtype=g.dtype)
        if _is_basic_index(idx):
            grad[idx] = g
        else:  # integer arrays may pick an element several times: scatter-add
            xp.add.at(grad, idx, g)
        return grad, None


def _index_item(it: Any) -> Any:
    if isinstance(it, Tensor):
        it = it.data
    elif isinstance(it, list):
        it = np.asarray(it)
        if it.size == 0:
            it = it.astype(np.intp)
    if isinstance(it, np.ndarray) and it.dtype.kind not in "iub":
        raise IndexError(f"tensors used as indices must be integer or bool, got dtype {it.dtype}")
    return it


def _index(idx: Any) -> Any:
    t = type(idx)
    if t is int or t is slice:
        return idx
    if t is tuple:
        return tuple(_index_item(i) for i in idx)
    return _index_item(idx)


def getitem(x: Tensor, idx: Any) -> Tensor:
    """``x[idx]``: basic (ints, slices with steps, None, Ellipsis), integer-array and boolean
    mask indexing with NumPy's rules; the gradient is scattered back (summing repeats)."""
    return GetItem.apply(x, _index(idx))


def setitem(x: Tensor, idx: Any, value: Any) -> None:
    """``x[idx] = value`` in place, for tensors outside the graph (or under no_grad)."""
    if _state.enabled:
        if x.requires_grad:
            raise RuntimeError(
                "in-place assignment to a tensor that requires grad; do it under "
                "`with deepcore.no_grad():` or build the result with where()/concat()"
            )
        if isinstance(value, Tensor) and value.requires_grad:
            raise RuntimeError(
                "assigning a tensor that requires grad into one that does not would drop its "
                "gradient; build the result with where()/concat() instead"
            )
    x.data[_index(idx)] = value.data if isinstance(value, Tensor) else value
