"""Data parallelism: Keras 3's ``DataParallel`` distribution for ``fit`` and Horovod's
``DistributedOptimizer`` for custom loops, over one mechanism, the :class:`Replica`.

[Note: data-parallel step] Under ``DataParallel`` every rank runs the unchanged ``fit`` on the
whole data set and ``batch_size`` is the GLOBAL batch. What a step does as one replica:
- the data: every rank draws the same permutation (rank 0's, broadcast each epoch), and rank r
  takes rows ``[r*b, (r+1)*b)`` of each global batch, ``b = ceil(batch_size / world_size)``
  (a ragged last batch leaves the last ranks fewer rows, possibly none);
- the loss: each rank's loss terms (means over its rows) are scaled by ``n_r / n`` (``n`` the
  global batch), so the sum over ranks is the sum of per-sample losses over the GLOBAL count,
  as one process computes it; a rank without rows contributes 0 (its forward and backward
  still run, so collectives inside them, batch norm's, stay matched). Weight regularisers,
  identical on every rank, are scaled by ``1 / world_size``: the sum over ranks counts them
  once. Losses added by layers during the call (``add_loss``) are per-batch quantities and are
  scaled like the data loss. (An output with a Keras mask averages over each shard's unmasked
  entries before that scaling: equal to one process only when the shards are masked alike);
- the gradients: summed over ranks in fused buckets ([Note: gradient buckets]), started
  during backward ([Note: overlapped buckets]) and waited for before the optimizer step, so
  clipping (clipnorm, global_clipnorm) and the update see the global gradient and run once per
  rank on identical values;
- batch normalisation: in training, the layers' batch statistics are all-reduced (forward and
  backward: SyncBatchNorm semantics) while a data-parallel ``fit`` runs (see ``sync_active``);
- the logs: the step's losses and every metric's state change travel in the same float64
  all-reduce as the gradient flags, so the progress bar, History and callbacks see global
  values on every rank (and take identical decisions: EarlyStopping, schedules);
- start: weights (trainable and not) and optimizer state are broadcast from rank 0 when
  ``fit`` starts (a resumed job continues from rank 0's state on any number of ranks);
- output: only rank 0 shows the progress bar and runs the callbacks that write files
  (``chief_only``: ModelCheckpoint, CSVLogger, JSONLogger); ``evaluate`` / ``predict`` and
  validation split the rows instead ([Note: sharded inference]).

[Note: sharded inference] Under ``DataParallel``, ``evaluate``, ``predict`` and fit's
validation on in-memory arrays split the rows: rank r takes the contiguous rows
``[lo_r, hi_r)`` of ``n`` (the first ``n % world_size`` ranks one row more, a rank may get
none), in batches of ``batch_size`` each. ``evaluate``'s loss sums, sample count and metric
states are then summed over the ranks (one float64 all-reduce), so every rank returns the
global loss and metrics; ``predict`` gathers every rank's outputs in rank order
(``MPI_Allgatherv``), so every rank returns all ``n`` rows in order. Against one process the
loss and metric sums are added in another order (float rounding); each output row is the same
computation on the same weights (every rank must hold the same weights, as after ``fit``:
inference broadcasts nothing). A source of batches (generator, PyDataset, DataLoader), a
``steps`` cap, a custom ``test_step`` / ``predict_step`` run on every rank in full, as without
a distribution.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..optim import Optimizer
from ..tensor import Tensor
from ._reduce import (
    BUCKET_BYTES,
    GradientReducer,
    broadcast_optimizer_state,
    broadcast_parameters,
)
from ._world import allreduce, broadcast, gather_rows, guard, world

__all__ = [
    "DataParallel",
    "list_devices",
    "set_distribution",
    "distribution",
    "Replica",
    "replica_for",
    "sync_active",
    "DistributedOptimizer",
]

_current: DataParallel | None = None
_sync_depth = 0


class DataParallel:
    """Keras 3's ``keras.distribution.DataParallel``: the model replicated on every rank of the
    MPI job, each global batch split across them (see [Note: data-parallel step]).

    ``devices`` / ``device_mesh`` are accepted for Keras compatibility: the replicas are the
    job's ranks (``mpirun -n N``). ``bucket_bytes``: the gradient bucket size; ``overlap``:
    start each bucket's all-reduce during backward ([Note: overlapped buckets]; False reduces
    them all after backward, with bitwise the same result).
    ``set_distribution(DataParallel())`` makes it the default of every ``fit``; ``with
    DataParallel().scope():`` for a block; ``model.distribution = ...`` for one model."""

    def __init__(
        self,
        devices: Any = None,
        device_mesh: Any = None,
        auto_shard_dataset: bool = True,
        bucket_bytes: int = BUCKET_BYTES,
        overlap: bool = True,
    ) -> None:
        w = world()
        if devices is not None and not isinstance(devices, (list, tuple)):
            raise TypeError(f"devices must be a list of device names, got {devices!r}")
        if devices is not None and len(devices) not in (0, w.size):
            raise ValueError(
                f"DataParallel: {len(devices)} devices given but the MPI job has {w.size} ranks "
                "(one replica per rank: start the job with mpirun -n <replicas>)"
            )
        self.device_mesh = device_mesh
        self.auto_shard_dataset = bool(auto_shard_dataset)
        self.bucket_bytes = bucket_bytes
        self.overlap = bool(overlap)
        self._reducer = GradientReducer(bucket_bytes)

    @property
    def num_replicas(self) -> int:
        return world().size

    @property
    def replica_id(self) -> int:
        return world().rank

    def shard_size(self, global_batch_size: int) -> int:
        """Rows per rank of a full global batch: ``ceil(batch / world_size)``."""
        return max(1, math.ceil(global_batch_size / world().size))

    @contextlib.contextmanager
    def scope(self) -> Iterator[DataParallel]:
        """Make this the distribution inside the block (Keras ``distribution.scope()``)."""
        global _current
        prev, _current = _current, self
        try:
            yield self
        finally:
            _current = prev

    def __repr__(self) -> str:
        w = world()
        return f"DataParallel(replicas={w.size}, rank={w.rank})"


def list_devices(device_type: str | None = None) -> list[str]:
    """Keras 3's ``keras.distribution.list_devices``: one device per rank of the job
    (``"cpu:<rank>"``)."""
    if device_type not in (None, "cpu", "CPU"):
        raise ValueError(f"list_devices: only 'cpu' devices take part, got {device_type!r}")
    return [f"cpu:{r}" for r in range(world().size)]


def set_distribution(value: DataParallel | None) -> None:
    """Set (or with None clear) the distribution every ``fit`` uses (Keras 3's
    ``keras.distribution.set_distribution``)."""
    global _current
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution: expected a DataParallel or None, got {value!r}")
    _current = value


def distribution() -> DataParallel | None:
    """The distribution set by ``set_distribution`` / ``scope`` (Keras 3's
    ``keras.distribution.distribution()``), or None."""
    return _current


def sync_active() -> bool:
    """Is a data-parallel training step running in this process (batch normalisation all-reduces
    its statistics, DistributedOptimizer leaves the already reduced gradients alone)?"""
    return _sync_depth > 0


class _MetricSync:
    """Metric states made global: each variable with ``aggregation="sum"`` (Keras's default:
    totals, counts) gets the sum over the ranks of what the step added to it, one with
    "mean" the mean of the ranks' values; others ("only_first_replica", "none") stay local."""

    def __init__(self, metrics: Sequence[Any], size: int) -> None:
        self.metrics = list(metrics)
        self.size = size

    def _variables(self) -> list:
        return [v for m in self.metrics for v in m.variables if v.aggregation in ("sum", "mean")]

    def snapshot(self) -> dict[int, np.ndarray]:
        # copies: metric variables are updated in place, so a view of a float64 state would
        # follow the step's update and the step's delta would read as 0
        return {id(v): np.array(v.data, np.float64, copy=True) for v in self._variables()}

    def local(self, before: dict[int, np.ndarray]) -> np.ndarray:
        parts = [np.zeros(0)]
        for v in self._variables():
            now = np.asarray(v.data, np.float64)
            if v.aggregation == "sum":
                parts.append((now - before.get(id(v), 0.0)).ravel())
            else:
                parts.append(now.ravel() / self.size)
        return np.concatenate(parts)

    def apply(self, before: dict[int, np.ndarray], reduced: np.ndarray) -> None:
        k = 0
        for v in self._variables():
            size = int(np.prod(v.data.shape))
            part = reduced[k : k + size].reshape(v.data.shape)
            k += size
            v.assign(before.get(id(v), 0.0) + part if v.aggregation == "sum" else part)


class Replica:
    """What a training step does as one replica: a world of one (this base class: nothing) or
    a data-parallel job (:class:`_DataParallelReplica`); see [Note: data-parallel step]."""

    size = 1
    rank = 0
    is_chief = True

    def shard(self) -> tuple[int, int] | None:
        """(rank, world size) for splitting each global batch, None for the whole batch."""
        return None

    @contextlib.contextmanager
    def running(self, model: Any, optimizer: Any, metrics: Sequence[Any]) -> Iterator[None]:
        yield

    def same_everywhere(self, perm: np.ndarray) -> np.ndarray:
        return perm

    def loss_terms(self, c: Any, ys: list, outs: list, sws: Any, masks: Any, n: int) -> tuple:
        return c.loss_terms(ys, outs, sws, masks)

    def scale_penalty(self, term: Tensor) -> Tensor:
        return term

    def scale_batch_term(self, term: Tensor, n_local: int, n: int) -> Tensor:
        return term

    def reduce_step(self, optimizer: Any, total: Tensor, per: list, update: Any) -> tuple:
        """After backward: the metrics updated (``update()``) and, in a job of several ranks,
        the gradients of the optimizer's parameters, the losses and the metric states reduced;
        returns (total loss, per-output losses) of the step."""
        update()
        return total, per

    # evaluate / predict ([Note: sharded inference])
    def eval_rows(self, n: int) -> tuple[int, int] | None:
        """The rows ``[lo, hi)`` of ``n`` this rank evaluates or predicts, None for all."""
        return None

    @contextlib.contextmanager
    def evaluating(self, totals: Any, metrics: Sequence[Any]) -> Iterator[None]:
        """Around an evaluation of this rank's rows: afterwards ``totals`` (the loss sums and
        sample count) and the ``metrics``' states are the sums over every rank's rows."""
        yield

    def gather_rows(self, arrays: list[np.ndarray], n: int) -> list[np.ndarray]:
        """Every rank's rows of each array (this rank's: ``arrays``), in rank order."""
        return arrays

    def guard(self) -> contextlib.AbstractContextManager:
        """Around work every rank does together ([Note: no hang on failure])."""
        return contextlib.nullcontext()


def _rows(n: int, size: int, r: int) -> tuple[int, int]:
    """Rank r's contiguous rows ``[lo, hi)`` of ``n``: the first ``n % size`` ranks one more."""
    q, extra = divmod(n, size)
    lo = r * q + min(r, extra)
    return lo, lo + q + (r < extra)


class _DataParallelReplica(Replica):
    def __init__(self, dist: DataParallel) -> None:
        w = world()
        self.dist = dist
        self.rank, self.size = w.rank, w.size
        self.is_chief = w.rank == 0
        self._metrics = _MetricSync((), self.size)

    def shard(self) -> tuple[int, int]:
        return self.rank, self.size

    @contextlib.contextmanager
    def running(self, model: Any, optimizer: Any, metrics: Sequence[Any]) -> Iterator[None]:
        global _sync_depth
        self._metrics = _MetricSync(metrics, self.size)
        reducer = self.dist._reducer
        with guard():  # an error here reaches every rank ([Note: no hang on failure])
            broadcast_parameters(model, 0)
            broadcast_optimizer_state(optimizer, 0)
            if self.dist.overlap:
                reducer.attach(optimizer.parameters())
            _sync_depth += 1
            try:
                yield
            finally:
                _sync_depth -= 1
                reducer.detach()

    def same_everywhere(self, perm: np.ndarray) -> np.ndarray:
        perm = np.ascontiguousarray(perm, np.int64)
        return broadcast(perm, 0)

    def loss_terms(self, c: Any, ys: list, outs: list, sws: Any, masks: Any, n: int) -> tuple:
        # a step's backward follows: its buckets start as their gradients become final
        self.dist._reducer.begin()
        n_local = len(outs[0].data) if outs else 0
        if n_local == 0:
            # no rows here: a zero loss that still reaches every output, so backward (and the
            # collectives inside it) runs as on the other ranks
            zero = None
            for o in outs:
                z = o.sum() * 0.0
                zero = z if zero is None else zero + z
            return zero, [None if lf is None else zero for lf in c.losses]
        total, per = c.loss_terms(ys, outs, sws, masks)
        s = n_local / n
        return None if total is None else total * s, [None if p is None else p * s for p in per]

    def scale_penalty(self, term: Tensor) -> Tensor:
        return term * (1.0 / self.size)

    def scale_batch_term(self, term: Tensor, n_local: int, n: int) -> Tensor:
        return term * (n_local / n)

    def reduce_step(self, optimizer: Any, total: Tensor, per: list, update: Any) -> tuple:
        before = self._metrics.snapshot()
        update()
        values = [total.item()] + [0.0 if p is None else p.item() for p in per]
        extra = np.concatenate([np.asarray(values, np.float64), self._metrics.local(before)])
        extra = self.dist._reducer.reduce_grads(optimizer.parameters(), "sum", extra)
        k = len(values)
        self._metrics.apply(before, extra[k:])
        return float(extra[0]), [None if p is None else float(v) for p, v in zip(per, extra[1:k])]

    def eval_rows(self, n: int) -> tuple[int, int]:
        return _rows(n, self.size, self.rank)

    @contextlib.contextmanager
    def evaluating(self, totals: Any, metrics: Sequence[Any]) -> Iterator[None]:
        sync = _MetricSync(metrics, self.size)
        with guard():
            before = sync.snapshot()
            yield
            k = len(totals.out_sums)
            local = [totals.loss_sum, totals.seen, *totals.out_sums]
            v = np.concatenate([np.asarray(local, np.float64), sync.local(before)])
            allreduce(v, "sum")
            totals.loss_sum, totals.seen = float(v[0]), int(round(v[1]))
            totals.out_sums = [float(x) for x in v[2 : 2 + k]]
            sync.apply(before, v[2 + k :])

    def gather_rows(self, arrays: list[np.ndarray], n: int) -> list[np.ndarray]:
        counts = [hi - lo for lo, hi in (_rows(n, self.size, r) for r in range(self.size))]
        return [gather_rows(np.ascontiguousarray(a), counts) for a in arrays]

    def guard(self) -> contextlib.AbstractContextManager:
        return guard()


def replica_for(model: Any) -> Replica:
    """The replica a ``fit`` of ``model`` runs as: the model's ``distribution`` attribute, else
    the one set globally, else a world of one."""
    dist = getattr(model, "distribution", None) or _current
    if dist is None or world().size == 1:
        return Replica()
    return _DataParallelReplica(dist)


# ---------------------------------------------------------------------- PyTorch / Horovod style
class _DistributedMixin:
    """Reduces the gradients over every rank before the wrapped optimizer's update; with
    overlap, the buckets start during backward ([Note: overlapped buckets] in _reduce.py)."""

    def _dist_arm(self) -> None:
        """Hook the parameters (once known; again if they changed) and arm the next backward."""
        r = self._dist_reducer
        params = self.parameters()
        if not self._dist_overlap or not params or world().size == 1:
            return
        if (
            r._params is None
            or len(r._params) != len(params)
            or any(a is not b for a, b in zip(r._params, params))
        ):
            r.attach(params)
        r.begin()

    def zero_grad(self, set_to_none: bool = True) -> None:
        # a backward that no step consumed started buckets: finish them on every rank first
        if self._dist_reducer.touched():
            self._dist_reducer.drain()
            self._dist_arm()
        super().zero_grad(set_to_none)  # type: ignore[misc]

    def _apply(self, groups_pairs: list) -> None:
        if not sync_active():  # inside a data-parallel fit the step has reduced them already
            flat = [(p, g) for pairs in groups_pairs for p, g in pairs]
            params = [p for p, _ in flat]
            r = self._dist_reducer
            if r.armed_for(params) and all(g is p.grad for p, g in flat):
                # the gradients backward accumulated: finish the buckets it started
                r.reduce_grads(params, self._dist_op)
                groups_pairs = [[(p, p.grad) for p, _ in pairs] for pairs in groups_pairs]
            else:
                r.drain()
                grads = [
                    None if g is None else (g.data if isinstance(g, Tensor) else g) for _, g in flat
                ]
                grads = [None if g is None else np.ascontiguousarray(g) for g in grads]
                reduced, _ = r.reduce(params, grads, self._dist_op)
                it = iter(reduced)
                groups_pairs = [[(p, next(it)) for p, _ in pairs] for pairs in groups_pairs]
        super()._apply(groups_pairs)  # type: ignore[misc]
        self._dist_arm()


_WRAPPED: dict[type, type] = {}


def DistributedOptimizer(  # noqa: N802  (Horovod's name for a factory)
    optimizer: Optimizer,
    op: str = "average",
    bucket_bytes: int = BUCKET_BYTES,
    backward_passes_per_step: int = 1,
    overlap: bool = True,
) -> Optimizer:
    """Horovod's ``DistributedOptimizer``: the same optimizer (same class name, state and
    hyperparameters, saved and loaded like it) whose ``step()`` / ``apply_gradients`` first
    all-reduce the gradients over every rank in fused buckets. ``op="average"`` (each rank's
    loss a mean over its own batch, as in Horovod and DDP) or ``"sum"``. Start a custom loop
    with ``broadcast_parameters(model)`` so every replica starts from rank 0's weights.

    With ``overlap`` (the default) each bucket's all-reduce starts during ``loss.backward()``
    as soon as its gradients are final, as Horovod's and DDP's hooks do; ``step()`` finishes
    them. A gradient is final after ``backward_passes_per_step`` backward passes (gradient
    accumulation); one more raises. Gradients passed to ``apply_gradients`` that are not the
    parameters' ``.grad`` are reduced after the fact instead."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"DistributedOptimizer: expected a deepcore.optim.Optimizer, got "
            f"{type(optimizer).__name__}"
        )
    if op not in ("sum", "average"):
        raise ValueError(f"DistributedOptimizer: op must be 'sum' or 'average', got {op!r}")
    if not isinstance(overlap, bool):
        raise TypeError(f"DistributedOptimizer: overlap must be a bool, got {overlap!r}")
    base = type(optimizer)
    if isinstance(optimizer, _DistributedMixin):
        optimizer._dist_reducer.drain()  # the new wrapper's hooks replace the old one's
        optimizer._dist_reducer.detach()
        new = object.__new__(base)
    else:
        cls = _WRAPPED.get(base)
        if cls is None:
            cls = type(base.__name__, (_DistributedMixin, base), {"__module__": base.__module__})
            _WRAPPED[base] = cls
        new = object.__new__(cls)
    new.__dict__.update(optimizer.__dict__)
    new._dist_reducer = GradientReducer(
        bucket_bytes, backward_passes_per_step, gate=lambda: not sync_active()
    )
    new._dist_op = op
    new._dist_overlap = overlap
    new._dist_arm()
    return new
