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

[Note: overlapped buckets] In a data-parallel ``fit`` (``DataParallel(overlap=True)``, the
default) the buckets are started during backward: a post-accumulate-grad hook on each parameter
(see [Note: post-accumulate hooks] in autograd.py) marks its gradient final, and every bucket
whose gradients are all final is packed and its ``MPI_Iallreduce`` started -- in bucket order,
so every rank starts the same collectives in the same order whatever order its backward
finalised them in; a bucket with a parameter that got no gradient starts after backward. While
later gradients are computed, each hook call lets the started reductions progress
(``MPI_Testall``). The buckets travel on a communicator of their own (``grad_comm``), so that
the collectives other ops run during backward (synchronised batch norm's) need no ordering
against them. The buckets hold the same values, reduced by the same calls in the same order as
without overlap, so the result is bitwise the same.

Reduction order: MPI sums each element over the ranks in an order fixed by the library and the
world size (for a given run, the same on every rank and every step), so every rank ends with
bitwise identical gradients and weights. Against one process trained on the combined batch the
result differs only by float32 rounding: the per-rank partial sums over its rows are added
across ranks instead of in one sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._world import _buffer, _check, allreduce, broadcast, wait, world

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

    def pack(self, grads: Sequence[np.ndarray | None]) -> None:
        for i, off, size, _ in self.slots:
            g = grads[i]
            if g is None:
                self.flat[off : off + size] = 0
            else:
                self.flat[off : off + size] = g.reshape(-1)


def _grad_array(p: Tensor) -> np.ndarray | None:
    return None if p.grad is None else p.grad.data


class _LazyGrads:
    """``grads[i]``: parameter i's gradient as it is now (the overlapped path packs a bucket
    when its gradients are final)."""

    __slots__ = ("params",)

    def __init__(self, params: Sequence[Tensor]) -> None:
        self.params = params

    def __getitem__(self, i: int) -> np.ndarray | None:
        return _grad_array(self.params[i])


class GradientReducer:
    """All-reduces a list of gradients through fused buckets ([Note: gradient buckets]), at
    once (:meth:`reduce`) or started during backward (:meth:`attach`, [Note: overlapped
    buckets])."""

    def __init__(
        self,
        bucket_bytes: int = BUCKET_BYTES,
        passes: int = 1,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        """``passes``: the backward passes that accumulate one step's gradients (a gradient is
        final after that many); ``gate``: the hooks do nothing while it returns False."""
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes < 1:
            raise ValueError(f"bucket_bytes must be a positive integer, got {bucket_bytes!r}")
        if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
            raise ValueError(f"backward_passes_per_step must be a positive integer, got {passes!r}")
        self.bucket_bytes = bucket_bytes
        self._passes = passes
        self._gate = gate
        self._key: tuple | None = None
        self._buckets: list[_Bucket] = []
        self._bucket_of: list[int] = []  # parameter index -> its bucket
        # the overlapped path (attach / begin / finish)
        self._params: list[Tensor] | None = None
        self._handles: list[Any] = []
        self._armed = False
        self._left: list[int] = []  # per bucket: its gradients not final yet
        self._count: list[int] = []  # per parameter: its accumulations in this step
        self._next = 0  # the next bucket to start
        self._requests: list[Any] = []
        self._hooked: list[bool] = []  # per parameter: it has a hook (it requires grad)
        self.started_early = 0  # buckets started during backward so far (tests, benchmarks)

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
        self._bucket_of = [0] * len(params)
        for k, b in enumerate(buckets):
            for slot in b.slots:
                self._bucket_of[slot[0]] = k
        self._key, self._buckets = key, buckets
        return buckets

    def _start(self, b: _Bucket, grads: Any) -> Any:
        w = world()
        _check(w)
        b.pack(grads)
        return w.grad_comm.Iallreduce(w.MPI.IN_PLACE, b.flat, op=w.MPI.SUM)

    def _complete(
        self, requests: list, present: list[bool], op: str, extra: np.ndarray | None
    ) -> tuple[list[np.ndarray | None], np.ndarray | None]:
        """The side vector (``extra`` and the has-a-gradient flags) reduced after the buckets
        were started, then every bucket waited for and unpacked."""
        w = world()
        MPI = w.MPI
        n_extra = 0 if extra is None else len(extra)
        side = np.empty(n_extra + len(present), np.float64)
        if extra is not None:
            side[:n_extra] = extra
        side[n_extra:] = present
        _check(w)
        requests.append(w.grad_comm.Iallreduce(MPI.IN_PLACE, side, op=MPI.SUM))
        wait(requests, "the gradient all-reduce")
        out: list[np.ndarray | None] = [None] * len(present)
        scale = 1.0 / w.size
        for b in self._buckets:
            if op == "average":
                b.flat *= b.flat.dtype.type(scale)
            for i, off, size, shape in b.slots:
                if side[n_extra + i] > 0:
                    out[i] = b.flat[off : off + size].reshape(shape)
        return out, (side[:n_extra] if extra is not None else None)

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
        if world().size == 1:
            return list(grads), extra
        requests = [self._start(b, grads) for b in self._plan(params)]
        return self._complete(requests, [g is not None for g in grads], op, extra)

    def reduce_grads(
        self, params: Sequence[Tensor], op: str = "sum", extra: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Reduce the ``.grad`` of ``params`` in place of them (each becomes a view into its
        bucket); returns the reduced ``extra``. After :meth:`begin` and a backward, the buckets
        that backward started are finished instead ([Note: overlapped buckets])."""
        if op not in ("sum", "average"):
            raise ValueError(f"op must be 'sum' or 'average', got {op!r}")
        if world().size == 1:
            return extra
        params = list(params)
        if self.armed_for(params):
            self._armed = False
            self.started_early += self._next
            buckets = self._buckets
            lazy = _LazyGrads(params)
            requests = self._requests
            requests += [self._start(b, lazy) for b in buckets[self._next :]]
            self._requests = []
            out, extra = self._complete(requests, [p.grad is not None for p in params], op, extra)
        else:
            out, extra = self.reduce(params, [_grad_array(p) for p in params], op, extra)
        for p, g in zip(params, out):
            p.grad = None if g is None else Tensor(g)
        return extra

    # ------------------------------------------------------------------ overlapped path
    def attach(self, params: Sequence[Tensor]) -> None:
        """Register a post-accumulate-grad hook on each of ``params`` (leaves that require
        grad), so that after :meth:`begin` each bucket starts as soon as its gradients are
        final during backward; :meth:`detach` removes them."""
        self.detach()
        if world().size == 1:
            return
        self._params = list(params)
        self._hooked = [p.requires_grad and p._ctx is None for p in self._params]
        for i, p in enumerate(self._params):
            if self._hooked[i]:
                self._handles.append(p.register_post_accumulate_grad_hook(self._hook(i)))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles, self._params, self._armed = [], None, False
        self._requests = []

    def begin(self) -> None:
        """The next backward is a step's: start its buckets as their gradients become final
        (the attached parameters' gradients must be None or unchanged until then)."""
        if self._params is None:
            return
        buckets = self._plan(self._params)
        self._left = [sum(self._hooked[slot[0]] for slot in b.slots) for b in buckets]
        self._count = [0] * len(self._params)
        self._next, self._requests, self._armed = 0, [], True

    def armed_for(self, params: Sequence[Tensor]) -> bool:
        """:meth:`begin` was called for exactly these parameters (same objects, same order)."""
        mine = self._params
        return (
            self._armed
            and mine is not None
            and len(params) == len(mine)
            and all(a is b for a, b in zip(params, mine))
        )

    def touched(self) -> bool:
        """A backward accumulated a gradient into a hooked parameter since :meth:`begin`."""
        return self._armed and any(self._count)

    def drain(self) -> None:
        """Disarm; if a backward ran since :meth:`begin`, start the buckets it did not start
        and wait for all of them, discarding the results (every rank that ran the same
        backward starts the same collectives, so none is left waiting for this one)."""
        if self.touched() and world().size > 1:
            lazy = _LazyGrads(self._params)
            self._requests += [self._start(b, lazy) for b in self._buckets[self._next :]]
            wait(self._requests, "the gradient all-reduce")
        self._armed, self._requests = False, []

    def _hook(self, i: int) -> Any:
        def final(p: Tensor) -> None:
            if not self._armed or (self._gate is not None and not self._gate()):
                return
            k = self._bucket_of[i]
            self._count[i] += 1
            if self._count[i] != self._passes:
                if self._count[i] > self._passes and k < self._next:
                    raise RuntimeError(
                        "deepcore.distributed: a gradient changed after its bucket's all-reduce "
                        f"started (more than backward_passes_per_step={self._passes} backward "
                        "passes in one data-parallel step)"
                    )
                return
            self._left[k] -= 1
            started = self._next
            lazy = _LazyGrads(self._params)
            # in bucket order on every rank: MPI needs the same collectives in the same order
            while self._next < len(self._buckets) and self._left[self._next] == 0:
                self._requests.append(self._start(self._buckets[self._next], lazy))
                self._next += 1
            if self._next == started and self._requests:
                # let the started reductions progress (MPI moves them along inside its calls)
                world().MPI.Request.Testall(self._requests)

        return final


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
    """Overwrite an optimizer's state (slot arrays, step counts, iterations; a
    LossScaleOptimizer's scale and its wrapped optimizer's state) with rank ``root``'s, in
    place, so that a resumed job continues identically on every rank."""
    if world().size == 1:
        return
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:  # a LossScaleOptimizer: the wrapped optimizer's state, then the scale
        broadcast_optimizer_state(inner, root)
        scale = np.array([optimizer.dynamic_scale, optimizer.step_counter], np.float64)
        broadcast(scale, root)
        optimizer.__dict__["dynamic_scale"] = float(scale[0])
        optimizer.__dict__["step_counter"] = int(scale[1])
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
