"""Gradient all-reduction in large fused buckets, the differentiable all-reduce that
synchronised batch normalisation uses, and broadcasting a model's and an optimizer's state.

[Note: gradient buckets] Per-tensor all-reduces cost one latency each (a convnet has a dozen
tensors, a ResNet hundreds), so gradients travel in a few large flat buffers, as DDP and
Horovod fuse them: the parameters, in reverse order (backward produces the last layer's
gradients first), are packed into buckets of at most ``bucket_bytes`` (25 MiB) per dtype. Each
bucket is copied in and its reduction started with a non-blocking ``MPI_Iallreduce`` on
``MPI_IN_PLACE`` before the next bucket is packed; the reduced gradients are then views into
the buckets (no copy back). A parameter without a gradient on a rank contributes zeros; one
without a gradient on every rank keeps ``grad = None`` (one flag per parameter travels in a
small float64 all-reduce beside the buckets, with whatever the caller adds to it: the step's
losses and metric states), so a parameter no rank used is left alone, as in one process.

Reduction order: MPI sums each element over the ranks in an order fixed by the library and the
world size (for a given run, the same on every rank and every step), so every rank ends with
bitwise identical gradients and weights. Against one process trained on the combined batch the
result differs only by float32 rounding: the per-rank partial sums over its rows are added
across ranks instead of in one sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._world import _buffer, allreduce, broadcast, world

__all__ = [
    "GradientReducer",
    "all_reduce_sum",
    "broadcast_parameters",
    "broadcast_optimizer_state",
]

BUCKET_BYTES = 25 * 2**20


class _Bucket:
    __slots__ = ("flat", "slots")

    def __init__(self, dtype: np.dtype, slots: list[tuple[int, int, int, tuple]]) -> None:
        # slots: (index of the parameter, offset, size, shape)
        self.slots = slots
        self.flat = np.empty(sum(s[2] for s in slots), dtype)


class GradientReducer:
    """All-reduces a list of gradients through fused buckets ([Note: gradient buckets])."""

    def __init__(self, bucket_bytes: int = BUCKET_BYTES) -> None:
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes < 1:
            raise ValueError(f"bucket_bytes must be a positive integer, got {bucket_bytes!r}")
        self.bucket_bytes = bucket_bytes
        self._key: tuple | None = None
        self._buckets: list[_Bucket] = []

    def _plan(self, params: Sequence[Tensor]) -> list[_Bucket]:
        key = tuple((id(p), p.data.shape, p.data.dtype.str) for p in params)
        if key == self._key:
            return self._buckets
        buckets: list[_Bucket] = []
        open_: dict[str, tuple[list, int]] = {}
        for i in reversed(range(len(params))):
            a = params[i].data
            slots, used = open_.get(a.dtype.str, ([], 0))
            if slots and used + a.nbytes > self.bucket_bytes:
                buckets.append(_Bucket(a.dtype, slots))
                slots, used = [], 0
            off = sum(s[2] for s in slots)
            slots.append((i, off, a.size, a.shape))
            open_[a.dtype.str] = (slots, used + a.nbytes)
        for dt, (slots, _) in open_.items():
            if slots:
                buckets.append(_Bucket(np.dtype(dt), slots))
        self._key, self._buckets = key, buckets
        return buckets

    def reduce(
        self,
        params: Sequence[Tensor],
        grads: Sequence[np.ndarray | None],
        op: str = "sum",
        extra: np.ndarray | None = None,
    ) -> tuple[list[np.ndarray | None], np.ndarray | None]:
        """(the gradients summed — or averaged with ``op="average"`` — over every rank, the
        float64 vector ``extra`` summed over every rank). A world of one rank returns them as
        they are."""
        if op not in ("sum", "average"):
            raise ValueError(f"op must be 'sum' or 'average', got {op!r}")
        w = world()
        if w.size == 1:
            return list(grads), extra
        MPI = w.MPI
        n_extra = 0 if extra is None else len(extra)
        side = np.empty(n_extra + len(params), np.float64)
        if extra is not None:
            side[:n_extra] = extra
        side[n_extra:] = [g is not None for g in grads]
        requests = []
        for b in self._plan(params):
            for i, off, size, _ in b.slots:
                g = grads[i]
                if g is None:
                    b.flat[off : off + size] = 0
                else:
                    b.flat[off : off + size] = g.reshape(-1)
            requests.append(w.comm.Iallreduce(MPI.IN_PLACE, b.flat, op=MPI.SUM))
        w.comm.Allreduce(MPI.IN_PLACE, side, op=MPI.SUM)
        MPI.Request.Waitall(requests)
        out: list[np.ndarray | None] = [None] * len(params)
        scale = 1.0 / w.size
        for b in self._buckets:
            if op == "average":
                b.flat *= b.flat.dtype.type(scale)
            for i, off, size, shape in b.slots:
                if side[n_extra + i] > 0:
                    out[i] = b.flat[off : off + size].reshape(shape)
        return out, (side[:n_extra] if extra is not None else None)

    def reduce_grads(
        self, params: Sequence[Tensor], op: str = "sum", extra: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Reduce the ``.grad`` of ``params`` in place of them (each becomes a view into its
        bucket); returns the reduced ``extra``."""
        grads = [None if p.grad is None else p.grad.data for p in params]
        out, extra = self.reduce(params, grads, op, extra)
        if world().size > 1:
            for p, g in zip(params, out):
                p.grad = None if g is None else Tensor(g)
        return extra


class _AllReduceSum(Function):
    """y = the sum of x over every rank; its backward is the same sum of the output gradients
    (every rank's loss depends on y, so dL/dx on a rank is the sum over ranks of dL_r/dy)."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        y = np.array(x, order="C", copy=True)
        return allreduce(y, "sum")

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> np.ndarray:
        gx = np.array(g, order="C", copy=True)
        return allreduce(gx, "sum")


def all_reduce_sum(x: Tensor) -> Tensor:
    """The differentiable sum of ``x`` over every rank (forward and backward all-reduced)."""
    return _AllReduceSum.apply(x)


def _arrays(params: Any) -> list[np.ndarray]:
    if isinstance(params, dict):
        items: Iterable = params.values()
    elif hasattr(params, "_named_weights"):  # a Module: every weight, trainable or not
        items = [w for _, w, _, _ in params._named_weights()]
    elif isinstance(params, (Tensor, np.ndarray)):
        raise TypeError("params must be an iterable of Tensors or arrays, a dict or a Module")
    else:
        items = params
    out = []
    for i, p in enumerate(items):
        out.append(_buffer(p, f"broadcast_parameters: parameter {i}"))
    return out


def broadcast_parameters(params: Any, root: int = 0) -> None:
    """Overwrite every parameter with rank ``root``'s values, in place: ``params`` is an
    iterable of Tensors or arrays, a dict of them, or a Module (all its weights, trainable or
    not). Every rank must pass the same structure."""
    arrays = _arrays(params)
    if world().size == 1:
        return
    for a in arrays:
        broadcast(a, root)


def broadcast_optimizer_state(optimizer: Any, root: int = 0) -> None:
    """Overwrite an optimizer's state (slot arrays, step counts, iterations) with rank
    ``root``'s, in place, so that a resumed job continues identically on every rank."""
    if world().size == 1:
        return
    for gi, group in enumerate(optimizer.param_groups):
        broadcast(optimizer._steps[gi], root)
        broadcast(optimizer._mu[gi], root)
        for p in group["params"]:
            for name in sorted(optimizer.state[p]):
                broadcast(optimizer.state[p][name], root)
    it = np.array([optimizer.iterations], np.int64)
    broadcast(it, root)
    optimizer.iterations = int(it[0])
