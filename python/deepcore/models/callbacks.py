"""Callbacks for ``Model.fit`` (Keras's names and semantics) and the progress bar.

A callback receives ``set_model``/``set_params`` once, then ``on_train_begin``,
``on_epoch_begin(epoch)``, ``on_train_batch_begin/end(batch, logs)`` (``on_batch_begin/end``
are the same hooks), ``on_epoch_end(epoch, logs)`` with the epoch's logs (loss, metrics and
their ``val_`` versions), and ``on_train_end``. Setting ``model.stop_training = True`` ends
``fit`` after the current epoch.

[Note: lean batch hooks] ``fit`` only calls the per-batch hooks of callbacks that override
them, and builds per-batch ``logs`` only when one wants them now (``batch_end_due``; the
progress bar, ``ProgbarLogger``, asks only when a redraw is due): a training step should spend
its time in the kernels, not in Python calls that do nothing.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "Progbar",
    "EarlyStopping",
    "ModelCheckpoint",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "JSONLogger",
    "TerminateOnNaN",
    "LambdaCallback",
    "get_learning_rate",
    "set_learning_rate",
]


class Callback:
    """Base class: override the hooks you need."""

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
        self._test_batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_test_batch_end")]

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
            cb.on_train_begin(logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._batch_begin:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        for cb in self.callbacks:
            cb.on_test_end(logs)


# ---------------------------------------------------------------------- learning rate access
def get_learning_rate(optimizer: Any) -> float:
    """The optimizer's current learning rate (``learning_rate``, ``lr`` or param groups)."""
    for attr in ("learning_rate", "lr"):
        v = getattr(optimizer, attr, None)
        if isinstance(v, (int, float, np.floating)):
            return float(v)
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0]["lr"])
    raise AttributeError(f"cannot find the learning rate of {type(optimizer).__name__}")


def set_learning_rate(optimizer: Any, lr: float) -> None:
    lr = float(lr)
    if not math.isfinite(lr):
        raise ValueError(f"learning rate must be a finite number, got {lr}")
    done = False
    for attr in ("learning_rate", "lr"):
        v = getattr(optimizer, attr, None)
        if isinstance(v, (int, float, np.floating)):
            try:
                setattr(optimizer, attr, lr)
                done = True
            except AttributeError:  # a read-only property backed by param_groups
                pass
    for g in getattr(optimizer, "param_groups", None) or ():
        g["lr"] = lr
        done = True
    if not done:
        raise AttributeError(f"cannot set the learning rate of {type(optimizer).__name__}")


# ---------------------------------------------------------------------- History
class History(Callback):
    """Records every epoch's logs: ``history.history = {"loss": [...], "val_loss": [...]}``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def plot(self, keys: Iterable[str] | None = None, ax: Any = None, show: bool = False) -> Any:
        """Plot the curves (training and validation of each quantity side by side) with
        matplotlib, which is optional: ``pip install matplotlib``. Returns the figure."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "History.plot() needs matplotlib, which is not installed: "
                "pip install matplotlib (or pip install deepcore[plot])"
            ) from None
        keys = (
            list(keys)
            if keys is not None
            else [k for k in self.history if not k.startswith("val_")]
        )
        if ax is None:
            fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
            axes = list(axes[0])
        else:
            axes = [ax] * len(keys)
            fig = ax.figure
        epochs = [e + 1 for e in self.epoch]
        for a, k in zip(axes, keys):
            a.plot(epochs, self.history[k], "o-", label=f"training {k}")
            if "val_" + k in self.history:
                a.plot(epochs, self.history["val_" + k], "s--", label=f"validation {k}")
            a.set_xlabel("epoch")
            a.set_ylabel(k)
            a.legend()
        if show:
            plt.show()
        return fig


# ---------------------------------------------------------------------- progress bar
def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _fmt_value(v: Any) -> str:
    v = float(v)
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.4e}"


def _fmt_time(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    if s >= 60:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s}s"


def _fmt_per_step(seconds: float, unit: str = "step") -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """Keras 3's progress bar.

    On a terminal (verbose=1) one line is redrawn in place, at most every ``interval`` seconds::

        120/375 ━━━━━━━━━━━━━━━━━━━━ 2s 8ms/step - accuracy: 0.8812 - loss: 0.3964

    (the time is the ETA while running and the elapsed time at the end). When the stream is not
    a terminal, verbose=1 prints only the final line of each bar, and verbose=2 prints
    ``375/375 - 3s - 8ms/step - accuracy: 0.9 - loss: 0.3``.
    """

    width = 20

    def __init__(
        self,
        target: int | None,
        verbose: int = 1,
        interval: float = 0.05,
        stream: Any = None,
        unit_name: str = "step",
    ) -> None:
        self.target = target
        self.verbose = verbose
        self.interval = interval
        self.stream = stream if stream is not None else sys.stdout
        self.unit_name = unit_name
        self.dynamic = _is_tty(self.stream) and verbose == 1
        self._start = time.perf_counter()
        self._last_update = 0.0
        self._last_len = 0
        self.current = 0

    def due(self) -> bool:
        """Whether an in-place redraw is due now (only terminals redraw during an epoch)."""
        return self.dynamic and time.perf_counter() - self._last_update >= self.interval

    def update(self, current: int, values: dict | None = None, finalize: bool = False) -> None:
        self.current = current
        if self.verbose == 0:
            return
        now = time.perf_counter()
        if not finalize and (not self.dynamic or now - self._last_update < self.interval):
            return
        self._last_update = now
        line = self._line(current, values or {}, now, finalize)
        if self.dynamic:
            pad = max(0, self._last_len - len(line))
            self.stream.write("\r" + line + " " * pad + ("\n" if finalize else ""))
            self._last_len = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _line(self, current: int, values: dict, now: float, finalize: bool) -> str:
        elapsed = now - self._start
        per_step = elapsed / current if current else 0.0
        metrics = "".join(f" - {k}: {_fmt_value(v)}" for k, v in values.items())
        if self.target is None:
            head = f"{current}"
        else:
            digits = len(str(self.target))
            head = f"{current:>{digits}d}/{self.target}"
        if self.verbose == 2:
            return f"{head} - {int(elapsed)}s - {_fmt_per_step(per_step, self.unit_name)}{metrics}"
        bar = ""
        if self.target:
            done = min(self.width, int(self.width * current / self.target))
            if self.dynamic:
                bar = (
                    "\x1b[32m"
                    + "━" * done
                    + "\x1b[0m\x1b[37m"
                    + "━" * (self.width - done)
                    + "\x1b[0m"
                )
            else:
                bar = "━" * done + " " * (self.width - done) if done < self.width else "━" * done
            bar = " " + bar
        if finalize or self.target is None or not current:
            t = f"{int(elapsed)}s"  # Keras: elapsed in whole seconds; the ETA as h:mm:ss
        else:
            t = _fmt_time(per_step * (self.target - current))
        return f"{head}{bar} {t} {_fmt_per_step(per_step, self.unit_name)}{metrics}"


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a :class:`Progbar` per epoch (``fit(verbose=...)``)."""

    def __init__(self, verbose: int = 1, stream: Any = None) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.bar: Progbar | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.verbose:
            out = self.stream or sys.stdout
            out.write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")
            out.flush()
        self.bar = Progbar(self.params.get("steps"), verbose=self.verbose, stream=self.stream)

    def batch_end_due(self) -> bool:
        """A redraw is due (see CallbackList.batch_end_due): only then does fit build logs."""
        return self.bar is not None and self.bar.due()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is not None and self.bar.dynamic:
            self.bar.update(batch + 1, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.update(
                self.bar.current if self.bar.target is None else self.bar.target,
                logs,
                finalize=True,
            )


# ---------------------------------------------------------------------- monitoring helpers
def _monitor_op(mode: str, monitor: str) -> Callable[[float, float], bool]:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        maximise = any(s in monitor for s in ("acc", "auc", "precision", "recall", "f1"))
        mode = "max" if maximise else "min"
    return np.greater if mode == "max" else np.less


def _copy_weights(model: Any) -> list[np.ndarray]:
    return [np.array(w, copy=True) for w in model.get_weights()]


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights`` the model gets back the weights of its best epoch."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op = _monitor_op(mode, monitor)
        self.min_delta = abs(min_delta) if self.monitor_op is np.greater else -abs(min_delta)
        self.stopped_epoch = 0
        self.best_epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf if self.monitor_op is np.less else -np.inf
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0

    def _improved(self, current: float, reference: float) -> bool:
        return bool(self.monitor_op(current - self.min_delta, reference))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            raise KeyError(
                f"EarlyStopping monitors {self.monitor!r}, which is not in the logs "
                f"(available: {', '.join(logs or {})}); pass validation data for val_ metrics"
            )
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_weights(self.model)  # the first epoch is the best so far
        self.wait += 1
        if self._improved(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _copy_weights(self.model)
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                if self.verbose > 0:
                    print(
                        f"Restoring model weights from the end of the best epoch: "
                        f"{self.best_epoch + 1}."
                    )
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) after every epoch to ``filepath``, which may hold
    ``str.format`` fields filled from ``epoch`` (1-based) and the logs:
    ``"ckpt-{epoch:02d}-{val_loss:.2f}.deepcore"``. With ``save_best_only`` only epochs that
    improve ``monitor`` are written."""

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.monitor_op = _monitor_op(mode, monitor)
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = np.inf if self.monitor_op is np.less else -np.inf

    def _path(self, epoch: int, logs: dict) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f"ModelCheckpoint filepath {self.filepath!r} uses {e}, which is not in the "
                f"logs (available: epoch, {', '.join(logs)})"
            ) from None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        path = self._path(epoch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                raise KeyError(
                    f"ModelCheckpoint monitors {self.monitor!r}, which is not in the logs "
                    f"(available: {', '.join(logs)})"
                )
            if not self.monitor_op(current, self.best):
                return
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """At the start of each epoch set the learning rate to ``schedule(epoch, lr)`` (or
    ``schedule(epoch)``); the rate used is logged as ``learning_rate``."""

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        opt = self.model.optimizer
        lr = get_learning_rate(opt)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:  # a one-argument schedule
            new = self.schedule(epoch)
        if not isinstance(new, (int, float, np.floating)):
            raise ValueError(
                f"the schedule must return a float learning rate, got {type(new).__name__}"
            )
        set_learning_rate(opt, float(new))
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(self.model.optimizer)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience``
    epochs (never below ``min_lr``)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau needs factor < 1, got {factor}")
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.verbose, self.min_delta, self.cooldown, self.min_lr = (
            verbose,
            min_delta,
            cooldown,
            min_lr,
        )
        self.monitor_op = _monitor_op(mode, monitor)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best = np.inf if self.monitor_op is np.less else -np.inf
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        current = logs.get(self.monitor)
        logs["learning_rate"] = get_learning_rate(self.model.optimizer)
        if current is None:
            return
        delta = self.min_delta if self.monitor_op is np.greater else -self.min_delta
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current - delta, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = get_learning_rate(self.model.optimizer)
                new = max(old * self.factor, self.min_lr)
                if new < old:
                    set_learning_rate(self.model.optimizer, new)
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                            f"to {new}."
                        )
                self.cooldown_counter = self.cooldown
                self.wait = 0


# ---------------------------------------------------------------------- loggers
def _log_keys(logs: dict) -> list[str]:
    return sorted(k for k in logs if not k.startswith("val_")) + sorted(
        k for k in logs if k.startswith("val_")
    )


class CSVLogger(Callback):
    """One row per epoch: ``epoch,<logs...>`` (header first; ``append`` continues a file)."""

    def __init__(
        self, filename: str | os.PathLike, separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file: Any = None
        self._writer: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        has_header = (
            self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        )
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.keys = None
        if has_header:
            with open(self.filename, newline="") as f:
                self.keys = next(csv.reader(f, delimiter=self.sep))[1:]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = _log_keys(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(
                self._file,
                fieldnames=["epoch", *self.keys],
                delimiter=self.sep,
                extrasaction="ignore",
            )
            if self._file.tell() == 0:
                self._writer.writeheader()
        row = {"epoch": epoch}
        for k in self.keys:
            v = logs.get(k, "NA")
            row[k] = v if isinstance(v, str) else repr(float(v))
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None


class JSONLogger(Callback):
    """One JSON object per line and epoch: ``{"epoch": 0, "loss": 0.31, ...}``."""

    def __init__(self, filename: str | os.PathLike, append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.append = append
        self._file: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._file = open(self.filename, "a" if self.append else "w")  # noqa: SIM115

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        record = {"epoch": epoch}
        for k in _log_keys(logs or {}):
            v = logs[k]
            record[k] = v if isinstance(v, str) else float(v)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, **hooks: Callable) -> None:
        super().__init__()
        for name, fn in hooks.items():
            if not hasattr(Callback, name) or not name.startswith("on_"):
                raise ValueError(f"unknown callback hook {name!r}")
            setattr(self, name, fn)
        self._hooks = set(hooks)
