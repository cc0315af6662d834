"""Sorting: ``sort``, ``argsort``, ``topk`` / ``top_k``, all stable.

[Note: stable descending sort] Every sort here is stable: equal elements keep their order,
ascending or descending (PyTorch's ``stable=True``; its default sort promises no order among
ties). A descending stable sort is the ascending stable sort of the reversed axis, reversed:
ties come out in their original order, and NaN, which sorts last ascending (NumPy, PyTorch),
sorts first descending, as in PyTorch. The values are ``take_along_axis(x, indices)``, so the
gradient goes back to where each value came from.

[Note: sort's two signatures] PyTorch's ``torch.sort`` returns (values, indices); NumPy's and
Keras's ``sort`` return the values. ``deepcore.sort`` and ``x.sort()`` are PyTorch's (where
PyTorch users look), ``deepcore.ops.sort`` is Keras's (``keras.ops`` users); ``argsort``,
``topk`` and ``top_k`` mean the same in all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..tensor import Tensor
from ._common import Array, _as_tensor, _norm_axis
from ._indexing import take_along_axis

__all__ = ["sort", "argsort", "topk", "top_k"]


def _sorted_indices(x: Array, axis: int, descending: bool) -> Array:
    xp = array_module(x)
    if not descending:
        return xp.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
    n = x.shape[axis]
    i = xp.argsort(xp.flip(x, axis), axis=axis, kind="stable")
    return (n - 1 - xp.flip(i, axis)).astype(np.int64)


def _axis(x: Tensor, axis: Any, dim: Any) -> int:
    return _norm_axis(dim if dim is not None else axis, x.ndim)


def argsort(
    x: Tensor, axis: int = -1, descending: bool = False, stable: bool = True, *, dim: Any = None
) -> Tensor:
    """Indices that sort ``x`` along ``axis`` (int64, stable: [Note: stable descending sort])."""
    x = _as_tensor(x, "argsort")
    if x.ndim == 0:
        return Tensor._wrap(array_module(x.data).zeros((), np.int64))
    return Tensor._wrap(_sorted_indices(x.data, _axis(x, axis, dim), bool(descending)))


def sort(
    x: Tensor, axis: int = -1, descending: bool = False, stable: bool = True, *, dim: Any = None
) -> tuple[Tensor, Tensor]:
    """PyTorch's ``sort``: (values, indices) along ``axis``, stable; the values are
    differentiable ([Note: sort's two signatures])."""
    x = _as_tensor(x, "sort")
    if x.ndim == 0:
        return x, Tensor._wrap(array_module(x.data).zeros((), np.int64))
    ax = _axis(x, axis, dim)
    idx = Tensor._wrap(_sorted_indices(x.data, ax, bool(descending)))
    return take_along_axis(x, idx, ax), idx


def sort_values(x: Tensor, axis: int = -1) -> Tensor:
    """NumPy's / Keras's ``sort``: the sorted values along ``axis`` (``deepcore.ops.sort``)."""
    return sort(x, axis)[0]


def topk(
    x: Tensor,
    k: int,
    axis: int = -1,
    largest: bool = True,
    sorted: bool = True,  # noqa: A002
    *,
    dim: Any = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` largest (or smallest) entries along ``axis``: (values, int64 indices), in
    sorted order, ties in index order; the values are differentiable."""
    x = _as_tensor(x, "topk")
    if not is_int(k):
        raise TypeError(f"topk: k must be an int, got {type(k).__name__}")
    if x.ndim == 0:
        if k not in (0, 1):
            raise ValueError(f"topk: k={k} is out of range for a 0-d tensor")
        x = x.reshape(1)
        v, i = topk(x, k, 0, largest)
        return (v.reshape(()), i.reshape(())) if k == 1 else (v, i)
    ax = _axis(x, axis, dim)
    n = x.shape[ax]
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for axis {ax} of size {n}")
    idx = _sorted_indices(x.data, ax, bool(largest))
    idx = Tensor._wrap(
        array_module(idx).ascontiguousarray(idx[(slice(None),) * ax + (slice(0, k),)])
    )
    return take_along_axis(x, idx, ax), idx


def top_k(x: Tensor, k: int, sorted: bool = True) -> tuple[Tensor, Tensor]:  # noqa: A002
    """Keras's ``top_k``: the k largest entries along the last axis, (values, indices)."""
    return topk(x, k, -1, True, sorted)
