"""The Keras training loops over a model (the ``Trainer`` half of ``Model``, as in Keras):
``fit`` / ``evaluate`` / ``predict``, ``train_on_batch`` / ``test_on_batch`` /
``predict_on_batch``, and the overridable ``train_step`` / ``test_step`` / ``predict_step``.

A loop takes its batches from a data adapter (model_data.py, [Note: data adapters] in
data_adapter.py), runs one step per batch through a "steps" object ([Note: custom steps]:
the model's compiled step, ``Model._train_step`` / ``_test_step`` in training.py, or its own
``train_step``) and reports to the callbacks, the progress bar among them
(models/callbacks/). ``Trainer`` is a mixin of ``Model``: it uses the model's forward,
compile() and build methods, defined in training.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from .._array import to_host
from ..autograd import no_grad
from ..distributed._distribution import Replica, replica_for
from ..nn.module import Module
from ..tensor import Tensor
from . import callbacks as cbks
from . import data_adapter as da
from . import model_data as md
from .compile_utils import Compiled, Totals, log_value

__all__ = ["Trainer"]

_ONE = Replica()  # a world of one process: the step as it always was


def _rank_callbacks(callbacks: Any, replica: Replica) -> list:
    """The user's callbacks this rank runs: all on the chief (rank 0), the others without the
    ones that write files or print (``chief_only``)."""
    callbacks = list(callbacks or [])
    if replica.is_chief:
        return callbacks
    return [cb for cb in callbacks if not getattr(cb, "chief_only", False)]


def _log_values(logs: dict, c: Any) -> Any:
    """``evaluate``'s and the on-batch calls' list (a float when it holds one value), in
    Keras 3's order: "loss" and the compiled metrics' names as ``metrics_names`` lists them,
    then whatever else the logs hold (a custom ``test_step``'s or ``train_step``'s own names)
    sorted by name."""
    names = [k for k in ("loss", *c.metric_keys()) if k in logs]
    values = [logs[k] for k in names] + [logs[k] for k in sorted(logs) if k not in names]
    return values[0] if len(values) == 1 else values


class Trainer:
    """``Model``'s loops (a mixin: ``class Model(Trainer, Module)``)."""

    def _steps(self, c: Compiled, mods: list[Module], train: bool, replica: Replica = _ONE) -> Any:
        """The runner of fit's (``train``) or evaluate's steps: the compiled fast path (as one
        ``replica`` of a data-parallel job when training), or the model's own ``train_step``
        / ``test_step`` (see [Note: custom steps])."""
        own = type(self).train_step if train else type(self).test_step
        if own is not (Trainer.train_step if train else Trainer.test_step):
            return _CustomSteps(self, self.train_step if train else self.test_step)
        return _CompiledSteps(self, c, mods, train, replica)

    def train_step(self, data: Any) -> dict[str, Any]:
        """One optimizer step on ``data`` (``x``, ``(x, y)`` or ``(x, y, sample_weight)``);
        returns the logs. ``fit`` runs its compiled fast path unless a subclass overrides
        this (Keras's "customizing what happens in fit")."""
        c, xs, ys, sws = md.prepare_step_data(self, data)
        total, _ = self._train_step(c, xs, ys, sws, list(self.modules()))
        self.metrics[0].update_state(total.item())
        return self.get_metrics_result()

    def test_step(self, data: Any) -> dict[str, Any]:
        """The loss and metrics of one batch in inference mode; returns the logs."""
        c, xs, ys, sws = md.prepare_step_data(self, data)
        with no_grad():
            total, _ = self._test_step(c, xs, ys, sws, list(self.modules()))
        self.metrics[0].update_state(total.item())
        return self.get_metrics_result()

    def predict_step(self, data: Any) -> Any:
        """The model's outputs for one batch ``data`` (its x; targets are ignored)."""
        x, _, _ = da.unpack_batch(data)
        return self(x, training=False)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Sequence[cbks.Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> cbks.History:
        """Train for ``epochs`` epochs of mini-batches; returns History.

        ``x`` may be arrays (with ``y``; reshuffled every epoch), a Python generator of
        batches, a ``deepcore.utils.PyDataset`` or an iterable of batches such as a PyTorch
        ``DataLoader`` (batches ``(x, y[, sample_weight])``; see [Note: data adapters]).
        ``steps_per_epoch`` caps an epoch (a generator needs it to span several epochs).
        ``sample_weight`` / ``class_weight`` weight each sample's loss, and the
        ``weighted_metrics``; ``validation_data`` may be ``(x, y)``, ``(x, y, sample_weight)``
        or a source of batches (``validation_steps`` caps it); see [Note: sample weights] in
        model_data.py."""
        batch_size = da.check_batch_size(batch_size)
        verbose = da.check_verbose(verbose)
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        data = md.adapter(
            self, x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch, "fit"
        )
        val: da.DataAdapter | None = None
        if validation_data is not None:
            val = md.validation_adapter(
                self, validation_data, validation_batch_size or batch_size, validation_steps
            )
        elif validation_split:
            if not isinstance(data, da.ArrayDataAdapter):
                raise ValueError(
                    "validation_split needs in-memory arrays; give validation_data for a "
                    "generator, PyDataset or DataLoader"
                )
            xs, ys, sws = data.arrays
            (xs, ys, sws), (vx, vy, vsw) = da.split_validation(xs, ys, sws, validation_split)
            data = da.ArrayDataAdapter(xs, ys, sws, batch_size, shuffle, steps_per_epoch)
            val = da.ArrayDataAdapter(
                vx, vy, vsw, validation_batch_size or batch_size, False, validation_steps
            )
        c = self._resolve_compile()

        self._attach_optimizer()
        n = data.n if isinstance(data, da.ArrayDataAdapter) else None
        replica = replica_for(self)
        data.distribute(replica.shard(), replica.same_everywhere)
        callbacks = _rank_callbacks(callbacks, replica)
        if not replica.is_chief:  # only rank 0 prints and writes files
            verbose = 0
        history = cbks.History()
        cb_list = cbks.CallbackList(
            # History after the user's callbacks (it sees what they add to the logs), the
            # progress bar last (its final line shows the epoch's complete logs), as Keras
            [*(callbacks or []), history, *([cbks.ProgbarLogger(verbose)] if verbose else [])],
            model=self,
            params={
                "epochs": epochs,
                "steps": data.steps,
                "verbose": verbose,
                "batch_size": batch_size,
                "samples": n,
            },
        )
        self.history = history
        self.stop_training = False
        mods = list(self.modules())
        metrics = [m for ms in c.metrics + c.wmetrics for m in ms]
        steps = self._steps(c, mods, train=True, replica=replica)

        with replica.running(self, self.optimizer, metrics):
            cb_list.on_train_begin()
            # a callback may say where to resume (BackupAndRestore sets _initial_epoch, as Keras)
            start = getattr(self, "_initial_epoch", None)
            start = initial_epoch if start is None else start
            object.__setattr__(self, "_initial_epoch", None)
            self.train()
            logs: dict = {}  # the last epoch's, for on_train_end (Keras)
            for epoch in range(start, epochs):
                cb_list.on_epoch_begin(epoch)
                steps.reset()
                for step, (bs, (xb, yb, swb)) in enumerate(data.batches()):
                    if cb_list.wants_batch_begin:
                        cb_list.on_train_batch_begin(step)
                    steps.run(bs, xb, yb, swb)
                    if cb_list.batch_end_due():  # builds logs only for a hook that reads them
                        cb_list.on_train_batch_end(step, steps.logs())
                    if self.stop_training:
                        break
                if getattr(data, "exhausted", False) and not steps.seen:
                    break  # a generator ran dry (warned): Keras ends training
                logs = steps.logs()
                if val is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                    vlogs = self._evaluate_adapter(val, replica=replica, cbs=cb_list)
                    logs.update({"val_" + k: v for k, v in vlogs.items()})
                data.on_epoch_end()
                cb_list.on_epoch_end(epoch, logs)
                if self.stop_training or getattr(data, "exhausted", False):
                    break
            cb_list.on_train_end(logs)
        return history

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_adapter(
        self,
        data: da.DataAdapter,
        bar: cbks.Progbar | None = None,
        replica: Replica = _ONE,
        cbs: cbks.CallbackList | None = None,
    ) -> dict[str, float]:
        """The logs of ``data`` in inference mode; as one ``replica`` of a data-parallel job,
        of this rank's share of the rows, reduced over the ranks ([Note: sharded inference]
        in deepcore.distributed). ``cbs`` get Keras's test hooks (begin, per batch, end)."""
        c = self._resolve_compile()
        steps = self._steps(c, list(self.modules()), train=False)
        data, replica = _shard_rows(data, replica, isinstance(steps, _CompiledSteps))
        if bar is not None and replica is not _ONE:
            bar.target = data.steps  # this rank's batches
        steps.reset()
        metrics = [m for ms in c.metrics + c.wmetrics for m in ms]
        was = self.training
        per_batch = cbs is not None and cbs.wants_test_batches
        if cbs is not None:
            cbs.on_test_begin()
        self.eval()
        try:
            with no_grad(), replica.evaluating(getattr(steps, "totals", None), metrics):
                for step, (bs, (xb, yb, swb)) in enumerate(data.batches()):
                    if per_batch:
                        cbs.on_test_batch_begin(step)
                    steps.run(bs, xb, yb, swb)
                    if per_batch:
                        cbs.on_test_batch_end(step, steps.logs())
                    if bar is not None and bar.due():
                        bar.update(step + 1, steps.logs())
        finally:
            self.train(was)
        logs = steps.logs()
        if cbs is not None:
            cbs.on_test_end(logs)
        return logs

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics over (x, y): ``[loss, metric...]`` (a float when there are no
        metrics), or a dict with ``return_dict=True``. ``x`` may be arrays or a source of
        batches (see fit); ``sample_weight`` weights the loss and the weighted_metrics (see
        [Note: sample weights] in model_data.py)."""
        batch_size = da.check_batch_size(batch_size)
        verbose = da.check_verbose(verbose)
        replica = replica_for(self)
        if not replica.is_chief:
            verbose = 0  # a data-parallel job prints on rank 0 only
        data = md.adapter(self, x, y, sample_weight, None, batch_size, False, steps, "evaluate")
        c = self._resolve_compile()
        bar = cbks.Progbar(data.steps, verbose=verbose)
        logs = self._evaluate_adapter(data, bar, replica, self._callback_list(callbacks, replica))
        bar.update(bar.target if bar.target is not None else bar.current, logs, finalize=True)
        if return_dict:
            return logs
        return _log_values(logs, c)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Any = None,
    ) -> Any:
        """Outputs for ``x`` (arrays or a source of batches, whose targets are ignored) in
        inference mode, batch by batch: an array (a list of arrays for several outputs)."""
        batch_size = da.check_batch_size(batch_size)
        verbose = da.check_verbose(verbose)
        replica = replica_for(self)
        if not replica.is_chief:
            verbose = 0  # a data-parallel job prints on rank 0 only
        data = md.adapter(self, x, None, None, None, batch_size, False, steps, "predict")
        custom_predict = type(self).predict_step is not Trainer.predict_step
        n_all = getattr(data, "n", 0)
        data, replica = _shard_rows(data, replica, not custom_predict)
        bar = cbks.Progbar(data.steps, verbose=verbose)
        cbs = self._callback_list(callbacks, replica)
        per_batch = cbs is not None and cbs.wants_predict_batches
        if cbs is not None:
            cbs.on_predict_begin()
        with replica.guard():  # an error on one rank reaches the others
            chunks: list[list[np.ndarray]] = []
            was = self.training
            self.eval()
            step = 0
            try:
                with no_grad():
                    for step, (_, (xb, _, _)) in enumerate(data.batches(), 1):
                        if per_batch:
                            cbs.on_predict_batch_begin(step - 1)
                        if custom_predict:
                            out = self.predict_step(_step_data(xb, None, None))
                            outs = list(out) if isinstance(out, (list, tuple)) else [out]
                        else:
                            outs = self._forward([md.feed(a) for a in self._on_device(xb)], False)
                        chunks.append([to_host(getattr(o, "data", o)) for o in outs])
                        if per_batch:
                            got = chunks[-1]
                            cbs.on_predict_batch_end(
                                step - 1, {"outputs": got[0] if len(got) == 1 else got}
                            )
                        if bar.due():
                            bar.update(step)
            finally:
                self.train(was)
            bar.update(step, finalize=True)
            if not chunks:
                if not isinstance(data, da.ArrayDataAdapter):
                    raise ValueError("predict() got x that gives no batches")
                with no_grad():
                    self.eval()
                    try:
                        xs0 = self._on_device([a[:0] for a in data.arrays[0]])
                        outs = self._forward([Tensor(a) for a in xs0], False)
                    finally:
                        self.train(was)
                chunks = [[to_host(o.data) for o in outs]]
            result = [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
            result = replica.gather_rows(result, n_all)  # every rank's rows, in order
        if cbs is not None:
            cbs.on_predict_end()
        return result[0] if len(result) == 1 else result

    def _callback_list(self, callbacks: Any, replica: Replica) -> cbks.CallbackList | None:
        """evaluate's / predict's ``callbacks=`` as a CallbackList (None when there are none;
        on the chief only, for callbacks that write or print, as in fit)."""
        callbacks = _rank_callbacks(callbacks, replica)
        return (
            cbks.CallbackList(callbacks, model=self, params={"verbose": 0}) if callbacks else None
        )

    def predict_on_batch(self, x: Any) -> Any:
        return self.predict(
            x, batch_size=max(1, len(da.as_list(x, self.input_names, "x")[0])), verbose=0
        )

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on this batch; returns its loss (and metrics)."""
        c, xs, ys = md.prepare(self, x, y)
        n = da.n_samples(xs + (ys or []), "x and y", "train_on_batch")
        sws = None
        if ys is not None:
            sws = md.per_sample_weights(
                self, c, ys, n, sample_weight, class_weight, "train_on_batch"
            )
        self._attach_optimizer()
        c.reset_metrics()
        self.train()
        replica = replica_for(self)  # under DataParallel: this rank's rows of the batch
        _, (xs, ys, sws) = next(da.batches((xs, ys, sws), n, n, 1, None, replica.shard()))
        metrics = [m for ms in c.metrics + c.wmetrics for m in ms]
        with replica.running(self, self.optimizer, metrics):
            total, per = self._train_step(c, xs, ys, sws, list(self.modules()), replica, n)
        totals = Totals(c)
        totals.add(total, per, n)
        logs = totals.logs()
        if return_dict:
            return logs
        return _log_values(logs, c)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        n = len(da.as_list(x, self.input_names, "x")[0])
        return self.evaluate(
            x,
            y,
            batch_size=max(1, n),
            verbose=0,
            sample_weight=sample_weight,
            return_dict=return_dict,
        )


# [Note: custom steps] Keras lets a Model subclass override ``train_step(data)`` (and
# ``test_step``, ``predict_step``): ``fit`` then calls it once per batch with the batch as
# Tensors (``x``, or ``(x, y)`` / ``(x, y, sample_weight)``), logs what it returns (a dict of
# results; nested dicts are flattened) and resets ``model.metrics`` at every epoch. Without
# an override fit runs the compiled fast path (see [Note: lean training step] in training.py).
# Both are a "steps" object with reset / run / logs / seen, so the loops do not branch on which.
def _step_data(xs: list, ys: list | None, sws: list | None) -> Any:
    """A batch as a custom step receives it: Tensors, a single one where there is one."""

    def one(arrays: list) -> Any:
        ts = [Tensor._wrap(a) for a in arrays]
        return ts[0] if len(ts) == 1 else ts

    if ys is None:
        return one(xs)
    if sws is None:
        return one(xs), one(ys)
    return one(xs), one(ys), one(sws)


def _flat_logs(out: Any) -> dict[str, Any]:
    logs: dict[str, Any] = {}
    if out is None:
        return logs
    if not isinstance(out, Mapping):
        raise TypeError(
            f"train_step / test_step must return a dict of results, got {type(out).__name__}"
        )
    for k, v in out.items():
        if isinstance(v, Mapping):
            logs.update(_flat_logs(v))
        else:
            logs[k] = log_value(v)
    return logs


def _shard_rows(
    data: da.DataAdapter, replica: Replica, shardable: bool
) -> tuple[da.DataAdapter, Replica]:
    """(this rank's contiguous rows of in-memory ``data``, the replica that reduces or gathers
    the results) under a data-parallel distribution; anything else -- a source of batches, a
    ``steps`` cap, a custom step (not ``shardable``) -- (``data``, a world of one) ([Note:
    sharded inference] in deepcore.distributed)."""
    if not shardable or not isinstance(data, da.ArrayDataAdapter):
        return data, _ONE
    if data.steps < -(-data.n // data.batch_size):  # a steps cap: the first batches only
        return data, _ONE
    rows = replica.eval_rows(data.n)
    if rows is None:
        return data, _ONE
    lo, hi = rows

    def cut(arrays: list | None) -> list | None:
        return None if arrays is None else [None if a is None else a[lo:hi] for a in arrays]

    xs, ys, sws = data.arrays
    return da.ArrayDataAdapter(cut(xs), cut(ys), cut(sws), data.batch_size), replica


class _CompiledSteps:
    """fit / evaluate steps through compile()'s losses and metrics (the fast path)."""

    def __init__(
        self, model: Trainer, c: Compiled, mods: list[Module], train: bool, replica: Replica
    ) -> None:
        self.model, self.train, self.replica = model, train, replica
        self.c, self.mods = c, mods
        self.totals = Totals(c)

    @property
    def seen(self) -> int:
        return self.totals.seen

    def reset(self) -> None:
        self.c.reset_metrics()
        self.totals = Totals(self.c)

    def run(self, bs: int, xb: list, yb: list | None, swb: list | None) -> None:
        if self.train:
            step = self.model._train_step(self.c, xb, yb, swb, self.mods, self.replica, bs)
        else:
            step = self.model._test_step(self.c, xb, yb, swb, self.mods)
        self.totals.add(*step, bs)

    def logs(self) -> dict[str, Any]:
        return self.totals.logs()


class _CustomSteps:
    """fit / evaluate steps through the model's own train_step / test_step."""

    def __init__(self, model: Trainer, step: Callable[[Any], Any]) -> None:
        self.model, self.step = model, step
        self.last: dict[str, Any] = {}
        self.seen = 0

    def reset(self) -> None:
        for m in self.model.metrics:
            m.reset_state()
        self.last, self.seen = {}, 0

    def run(self, bs: int, xb: list, yb: list | None, swb: list | None) -> None:
        self.last = _flat_logs(self.step(_step_data(xb, yb, swb)))
        self.seen += bs

    def logs(self) -> dict[str, Any]:
        return dict(self.last)
