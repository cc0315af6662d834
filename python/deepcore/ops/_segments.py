"""Keras's slice and segment ops: ``slice`` / ``slice_update`` (a static window of a tensor),
``segment_sum`` / ``segment_max`` (reductions over ids, differentiable) and ``in_top_k``.
Split from _numpy_extra.py (the 600-line rule of tests/test_structure.py)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..autograd import Function
from ..tensor import Tensor
from ._elementwise import where
from ._indexing import getitem
from ._numpy_extra import _const, _float, _t
from ._shape import pad

__all__ = ["slice", "slice_update", "segment_sum", "segment_max", "in_top_k"]

#: in ``deepcore.ops`` only, not ``deepcore.slice`` (it would shadow the builtin)
NOT_TOP_LEVEL = ("slice",)


# ------------------------------------------------------------------------ slices, segments
def _start_shape(fn: str, x: Tensor, start_indices: Any, shape: Sequence[int]) -> tuple:
    starts = [
        int(s)
        for s in (start_indices.numpy() if isinstance(start_indices, Tensor) else start_indices)
    ]
    if len(starts) != x.ndim or len(shape) != x.ndim:
        raise ValueError(
            f"{fn}: start_indices and the slice shape need one entry per axis of x ({x.ndim}), "
            f"got {len(starts)} and {len(shape)}"
        )
    for a, (s, n, d) in enumerate(zip(starts, shape, x.shape)):
        if s < 0 or n < 0 or s + n > d:
            raise ValueError(
                f"{fn}: the slice [{s}, {s + n}) of axis {a} is out of range for size {d}"
            )
    return tuple(builtins.slice(s, s + n) for s, n in zip(starts, shape))


def slice(inputs: Any, start_indices: Any, shape: Any) -> Tensor:  # noqa: A001
    """inputs[start : start + shape] on every axis (differentiable)."""
    x = _t(inputs, "slice", "inputs")
    shp = [int(n) for n in shape]
    return getitem(x, _start_shape("slice", x, start_indices, shp))


def slice_update(inputs: Any, start_indices: Any, updates: Any) -> Tensor:
    """A copy of ``inputs`` with the block at ``start_indices`` replaced by ``updates``
    (differentiable in both: the block is padded to the input's shape and selected by a
    mask)."""
    x = _t(inputs, "slice_update", "inputs")
    u = _t(updates, "slice_update", "updates")
    if u.ndim != x.ndim:
        raise ValueError(
            f"slice_update: updates must have the rank of inputs ({x.ndim}), got shape {u.shape}"
        )
    idx = _start_shape("slice_update", x, start_indices, list(u.shape))
    widths = tuple((s.start, d - s.stop) for s, d in zip(idx, x.shape))
    xp = array_module(x.data)
    inside = xp.zeros(x.shape, dtype=bool)
    inside[idx] = True
    return where(_const(inside), pad(u if u.dtype == x.dtype else u.astype(x.dtype), widths), x)


def _segments(fn: str, data: Any, segment_ids: Any, num_segments: Any) -> tuple:
    d = _t(data, fn, "data")
    ids = _t(segment_ids, fn, "segment_ids")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{fn}: segment_ids must be integers, got {ids.dtype}")
    if ids.ndim != 1 or d.ndim == 0 or ids.shape[0] != d.shape[0]:
        raise ValueError(
            f"{fn}: segment_ids must be 1-D with one id per row of data, got {ids.shape} for "
            f"data of shape {d.shape}"
        )
    idv = ids.data.astype(np.int64)
    if num_segments is None:
        num_segments = int(idv.max()) + 1 if idv.size else 0
    if not is_int(num_segments):
        raise TypeError(f"{fn}: num_segments must be an int, got {num_segments!r}")
    if idv.size and (int(idv.min()) < 0 or int(idv.max()) >= num_segments):
        raise ValueError(
            f"{fn}: segment_ids must be in [0, {num_segments}), got ids from {int(idv.min())} "
            f"to {int(idv.max())}"
        )
    return d, idv, int(num_segments)


class _SegmentSum(Function):
    @staticmethod
    def forward(ctx: Any, d: Any, ids: Any, n: int) -> Any:
        xp = array_module(d)
        out = xp.zeros((n,) + d.shape[1:], dtype=d.dtype)
        xp.add.at(out, ids, d)
        ctx.ids = ids
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        return g[ctx.ids], None, None


class _SegmentMax(Function):
    """max over each segment; an empty segment is -inf (the lowest value of an integer
    dtype); the gradient is shared equally among the elements that attain the max."""

    @staticmethod
    def forward(ctx: Any, d: Any, ids: Any, n: int) -> Any:
        xp = array_module(d)
        low = -xp.inf if d.dtype.kind == "f" else xp.iinfo(d.dtype).min
        out = xp.full((n,) + d.shape[1:], low, dtype=d.dtype)
        xp.maximum.at(out, ids, d)
        ctx.save_for_backward(d, out)
        ctx.ids = ids
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        d, out = ctx.saved
        xp = array_module(d)
        hit = (d == out[ctx.ids]).astype(g.dtype)
        count = xp.zeros(out.shape, dtype=g.dtype)
        xp.add.at(count, ctx.ids, hit)
        return hit * (g / xp.maximum(count, 1))[ctx.ids], None, None


def segment_sum(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> Tensor:  # noqa: A002
    """out[s] = the sum of the rows of data whose id is s (ids in [0, num_segments);
    ``num_segments`` defaults to max id + 1); differentiable in data."""
    d, ids, n = _segments("segment_sum", data, segment_ids, num_segments)
    return _SegmentSum.apply(d, ids, n)


def segment_max(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> Tensor:  # noqa: A002
    """out[s] = the maximum of the rows of data whose id is s (an empty segment gives -inf);
    differentiable in data."""
    d, ids, n = _segments("segment_max", data, segment_ids, num_segments)
    return _SegmentMax.apply(d, ids, n)


def in_top_k(targets: Any, predictions: Any, k: int) -> Tensor:
    """For each row, whether predictions[row, targets[row]] is among the k largest of the row
    (ties at the boundary count as in, as TensorFlow's); a bool (batch,) tensor."""
    fn = "in_top_k"
    t = _t(targets, fn, "targets")
    p = _float(predictions, fn, "predictions")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: targets must be integer class indices, got {t.dtype}")
    if p.ndim != 2 or t.shape != (p.shape[0],):
        raise ValueError(
            f"{fn}: predictions must be (batch, classes) and targets (batch,), got {p.shape} "
            f"and {t.shape}"
        )
    if not is_int(k):
        raise TypeError(f"{fn}: k must be an int, got {k!r}")
    pd, td = p.data, t.data.astype(np.int64)
    if td.size and (int(td.min()) < 0 or int(td.max()) >= pd.shape[1]):
        raise ValueError(f"{fn}: targets must be in [0, {pd.shape[1]})")
    xp = array_module(pd)
    own = xp.take_along_axis(pd, td[:, None], axis=1)
    better = (pd > own).sum(axis=1)
    return _const((better < int(k)) & xp.isfinite(own[:, 0]))
