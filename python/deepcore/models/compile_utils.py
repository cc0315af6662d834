"""What ``compile()``'s arguments become (Keras's compile_utils): per model output, the loss, its
weight, the metrics and weighted metrics with their log names, and whether the output's softmax
is fused with its loss ([Note: fused softmax cross-entropy] in deepcore.losses). A training or
test step asks a :class:`Compiled` for the loss terms and updates its metrics; :class:`Totals`
turns a run's sums into Keras's logs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .._array import to_host
from ..tensor import Tensor
from .data_adapter import combine_weights

__all__ = ["Compiled", "Totals", "log_value", "per_output", "resolve"]


def per_output(value: Any, names: Sequence[str], what: str) -> list[Any]:
    """One entry per output from a single value (for every output), a list, or a dict by
    output name."""
    n = len(names)
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(
                f"{what} has keys {unknown} that are not outputs of the model "
                f"(outputs: {list(names)})"
            )
        return [value.get(k) for k in names]
    if isinstance(value, (list, tuple)) and what not in ("metrics", "weighted_metrics"):
        if len(value) != n:
            raise ValueError(f"{what} has {len(value)} entries but the model has {n} outputs")
        return list(value)
    return [value] * n


def _softmax_np(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Compiled:
    """What compile() resolved, per output: the loss, its weight, the metrics, the fusion."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.losses: list[losses_mod.Loss | None] = []
        self.weights: list[float] = []
        self.metrics: list[list[metrics_mod.Metric]] = []
        self.wmetrics: list[list[metrics_mod.Metric]] = []  # weighted_metrics
        self.keys: list[list[str]] = []  # log names of metrics, per output
        self.wkeys: list[list[str]] = []  # log names of weighted_metrics, per output
        self.fused: list[bool] = []
        self.probs_needed: list[bool] = []

    @property
    def needs_targets(self) -> bool:
        """Does a step need y (a compiled loss or metric)? A model whose losses all come from
        ``add_loss`` trains on x alone."""
        return any(lf is not None for lf in self.losses) or any(self.metrics + self.wmetrics)

    # ------------------------------------------------------------------ a step
    def loss_terms(
        self,
        ys: list[np.ndarray],
        outs: list[Tensor],
        sws: list | None = None,
        masks: list | None = None,
    ) -> tuple[Tensor, list[Tensor | None]]:
        """(the weighted total loss, each output's loss) for targets ``ys`` and outputs
        ``outs`` (logits where fused), with sample weights and output masks; (None, ...)
        without targets or compiled losses."""
        total = None
        per: list[Tensor | None] = []
        if ys is None:
            return None, [None] * len(self.losses)
        for i, lf in enumerate(self.losses):
            if lf is None:
                per.append(None)
                continue
            sw = None if sws is None else sws[i]
            mk = None if masks is None else masks[i]
            if sw is None and mk is None:  # the lean path
                fused = self.fused[i]
                li = lf.fused_softmax_call(ys[i], outs[i]) if fused else lf(ys[i], outs[i])
            elif self.fused[i]:
                li = lf.fused_softmax_call(ys[i], outs[i], sample_weight=sw, mask=mk)
            else:
                li = lf(ys[i], outs[i], sample_weight=sw, mask=mk)
            per.append(li)
            term = li if self.weights[i] == 1.0 else li * self.weights[i]
            total = term if total is None else total + term
        return total, per

    def update_metrics(
        self,
        ys: list[np.ndarray],
        outs: list[Tensor],
        sws: list | None = None,
        masks: list | None = None,
    ) -> None:
        """Fold a batch into every metric. Metrics get Tensors (no graph), as Keras hands
        them tensors: a user's ``update_state`` may use deepcore.ops on them."""
        if ys is None:
            return
        for i, ms in enumerate(self.metrics):
            wms = self.wmetrics[i]
            if not ms and not wms:
                continue
            pred = to_host(outs[i].data)  # metrics on the host ([Note: modules on a device])
            probs = _softmax_np(pred) if self.probs_needed[i] else pred
            y, tp = Tensor._wrap(ys[i]), Tensor._wrap(pred)
            tq = tp if probs is pred else Tensor._wrap(probs)
            mk = None if masks is None or masks[i] is None else np.asarray(masks[i])
            w = None if mk is None else mk.astype(np.float64)
            for m in ms:
                if w is None:
                    m.update_state(y, tp if m.argmax_only else tq)
                else:
                    m.update_state(y, tp if m.argmax_only else tq, sample_weight=w)
            if wms:
                w = combine_weights(None if sws is None else sws[i], mk)
                for m in wms:
                    if w is None:
                        m.update_state(y, tp if m.argmax_only else tq)
                    else:
                        m.update_state(y, tp if m.argmax_only else tq, sample_weight=w)

    def reset_metrics(self) -> None:
        for ms in self.metrics + self.wmetrics:
            for m in ms:
                m.reset_state()

    def metric_keys(self) -> list[str]:
        """The log names after "loss": per-output losses (several outputs), then metrics."""
        keys = []
        if len(self.names) > 1:
            keys += [f"{nm}_loss" for nm, lf in zip(self.names, self.losses) if lf is not None]
        for ks in self.keys + self.wkeys:
            keys += ks
        return keys


def _value(v: Tensor | float) -> float:
    return v.item() if isinstance(v, Tensor) else float(v)


class Totals:
    """A run's running sums (loss and per-output losses, weighted by batch size) and its logs
    in Keras 3's order (metrics and loss by name)."""

    def __init__(self, c: Compiled) -> None:
        self.c = c
        self.multi = len(c.names) > 1
        self.loss_sum = 0.0
        self.seen = 0
        self.out_sums = [0.0] * len(c.names)
        self.out_keys = [f"{nm}_loss" for nm in c.names]

    def add(self, total: Tensor | float, per: list, batch: int) -> None:
        """A batch's losses (Tensors, or floats already reduced over a data-parallel job)."""
        self.loss_sum += _value(total) * batch
        self.seen += batch
        if self.multi:  # one .item() (a sync on a GPU) per output only where they are logged
            for i, li in enumerate(per):
                if li is not None:
                    self.out_sums[i] += _value(li) * batch

    def logs(self) -> dict[str, float]:
        c, seen = self.c, self.seen
        logs: dict[str, float] = {"loss": self.loss_sum / seen if seen else float("nan")}
        if self.multi:
            for i, lf in enumerate(c.losses):
                if lf is not None:
                    logs[self.out_keys[i]] = self.out_sums[i] / seen if seen else float("nan")
        for ms, ks in zip(c.metrics + c.wmetrics, c.keys + c.wkeys):
            for m, k in zip(ms, ks):
                logs[k] = log_value(m.result())
        return dict(sorted(logs.items()))


def log_value(v: Any) -> Any:
    """A metric's result for the logs: a float, or an array for a vector-valued metric."""
    a = np.asarray(v.data if isinstance(v, Tensor) else v)
    return float(a) if a.ndim == 0 else a.astype(np.float64)


# ---------------------------------------------------------------------- resolving compile()
def resolve(args: dict, names: Sequence[str], softmax_outputs: Sequence[bool]) -> Compiled:
    """Turn compile()'s arguments into per-output objects for a model with outputs ``names``;
    ``softmax_outputs[i]``: output i ends in a softmax that may be fused with its loss."""
    c = Compiled()
    c.names = list(names)
    n = len(c.names)
    # no loss at all is allowed: the model's own add_loss() losses train it (Keras)
    raw_losses = per_output(args["loss"], c.names, "loss")
    c.losses = [None if v is None else losses_mod.get(v) for v in raw_losses]
    lw = args["loss_weights"]
    c.weights = (
        [1.0] * n
        if lw is None
        else [1.0 if w is None else float(w) for w in per_output(lw, c.names, "loss_weights")]
    )
    c.metrics = _resolve_metrics(args["metrics"], "metrics", c.losses, c.names)
    c.wmetrics = _resolve_metrics(
        args.get("weighted_metrics"), "weighted_metrics", c.losses, c.names
    )
    _name_metrics(c)
    soft = softmax_outputs if args["fuse"] else [False] * n
    c.fused = [
        bool(soft[i] and c.losses[i] is not None and c.losses[i].fusable_with_softmax)
        for i in range(n)
    ]
    c.probs_needed = [
        c.fused[i] and any(not mt.argmax_only for mt in c.metrics[i] + c.wmetrics[i])
        for i in range(n)
    ]
    return c


def _resolve_metrics(
    m: Any, what: str, losses: list, names: Sequence[str]
) -> list[list[metrics_mod.Metric]]:
    """compile()'s ``metrics`` or ``weighted_metrics``: a list of Metrics per output."""
    n = len(losses)
    if m is None:
        per: list[list[Any]] = [[] for _ in range(n)]
    elif isinstance(m, Mapping):
        per = [list(v) if isinstance(v, (list, tuple)) else [v] for v in per_output(m, names, what)]
        per = [[] if v == [None] else v for v in per]
    elif (
        isinstance(m, (list, tuple))
        and n > 1
        and len(m) == n
        and all(isinstance(v, (list, tuple)) for v in m)
    ):
        per = [list(v) for v in m]
    else:
        per = [list(m) if isinstance(m, (list, tuple)) else [m] for _ in range(n)]
    out = []
    for i in range(n):
        ms = []
        for ident in per[i]:
            # a Metric object given for every output must not share its state
            metric = metrics_mod.get(ident, loss=losses[i])
            if n > 1 and isinstance(ident, metrics_mod.Metric) and i > 0:
                metric = copy.deepcopy(ident)
                metric.reset_state()
            ms.append(metric)
        out.append(ms)
    return out


def _name_metrics(c: Compiled) -> None:
    """Log names, Keras 3's rules: ``<output>_<name>`` for several outputs, a repeated name
    gets ``_1``, ``_2``; a weighted metric whose name is taken becomes ``weighted_<name>``."""
    multi = len(c.names) > 1
    taken: dict[str, int] = {}

    def unique(name: str) -> str:
        if name not in taken:
            taken[name] = 1
            return name
        k = taken[name]
        taken[name] += 1
        return f"{name}_{k}"

    c.keys = [
        [unique(f"{nm}_{m.name}" if multi else m.name) for m in ms]
        for nm, ms in zip(c.names, c.metrics)
    ]
    c.wkeys = []
    for nm, ms in zip(c.names, c.wmetrics):
        keys = []
        for m in ms:
            key = f"{nm}_{m.name}" if multi else m.name
            if key in taken:
                key = f"{nm}_weighted_{m.name}" if multi else f"weighted_{m.name}"
            keys.append(unique(key))
        c.wkeys.append(keys)
