"""Callback, the base of every callback, and CallbackList, which calls them (see
[Note: lean batch hooks] in __init__.py); ``monitor_op`` picks min or max for a monitored
quantity."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

import numpy as np


class Callback:
    """Base class: override the hooks you need."""

    #: a callback that writes files or prints: in a data-parallel job only rank 0 runs it
    chief_only = False

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


def _overrides(cb: Callback, *names: str) -> bool:
    # a hook counts when a subclass defines it or an instance sets it (LambdaCallback)
    return any(getattr(type(cb), n) is not getattr(Callback, n) or n in vars(cb) for n in names)


class CallbackList:
    """Calls every callback's hook in order (see [Note: lean batch hooks])."""

    def __init__(
        self, callbacks: Iterable[Callback] = (), model: Any = None, params: dict | None = None
    ) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback objects, got {type(cb).__name__}")
            if model is not None:
                cb.set_model(model)
            cb.set_params(params or {})
        self._batch_begin = [
            cb for cb in self.callbacks if _overrides(cb, "on_train_batch_begin", "on_batch_begin")
        ]
        self._batch_end = [
            cb for cb in self.callbacks if _overrides(cb, "on_train_batch_end", "on_batch_end")
        ]
        # callbacks that say per batch whether they want it (the progress bar redraws at most
        # every 50 ms): the others want every batch
        self._polled = [cb for cb in self._batch_end if hasattr(cb, "batch_end_due")]
        self._every_batch = [cb for cb in self._batch_end if not hasattr(cb, "batch_end_due")]
        self._test_batch_begin = [
            cb for cb in self.callbacks if _overrides(cb, "on_test_batch_begin")
        ]
        self._test_batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_test_batch_end")]
        self._predict_batch_begin = [
            cb for cb in self.callbacks if _overrides(cb, "on_predict_batch_begin")
        ]
        self._predict_batch_end = [
            cb for cb in self.callbacks if _overrides(cb, "on_predict_batch_end")
        ]

    @property
    def wants_batch_end(self) -> bool:
        return bool(self._batch_end)

    def batch_end_due(self) -> bool:
        """Does any callback want ``on_train_batch_end`` (and so the batch's logs) now?"""
        return bool(self._every_batch) or any(cb.batch_end_due() for cb in self._polled)

    @property
    def wants_batch_begin(self) -> bool:
        return bool(self._batch_begin)

    def append(self, cb: Callback) -> None:
        self.callbacks.append(cb)

    def on_train_begin(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(_logs(logs))

    def on_train_end(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(_logs(logs))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, _logs(logs))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, _logs(logs))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._batch_begin:
            cb.on_train_batch_begin(batch, _logs(logs))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, _logs(logs))

    def on_test_begin(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_test_begin(_logs(logs))

    def on_test_end(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_test_end(_logs(logs))

    @property
    def wants_test_batches(self) -> bool:
        return bool(self._test_batch_begin or self._test_batch_end)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._test_batch_begin:
            cb.on_test_batch_begin(batch, _logs(logs))

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._test_batch_end:
            cb.on_test_batch_end(batch, _logs(logs))

    def on_predict_begin(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_predict_begin(_logs(logs))

    def on_predict_end(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_predict_end(_logs(logs))

    @property
    def wants_predict_batches(self) -> bool:
        return bool(self._predict_batch_begin or self._predict_batch_end)

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._predict_batch_begin:
            cb.on_predict_batch_begin(batch, _logs(logs))

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._predict_batch_end:
            cb.on_predict_batch_end(batch, _logs(logs))


def _logs(logs: dict | None) -> dict:
    """Keras hands every hook a dict (empty at the start of a run), never None."""
    return {} if logs is None else logs


def monitor_op(mode: str, monitor: str) -> Callable[[float, float], bool]:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        maximise = any(s in monitor for s in ("acc", "auc", "precision", "recall", "f1"))
        mode = "max" if maximise else "min"
    return np.greater if mode == "max" else np.less
