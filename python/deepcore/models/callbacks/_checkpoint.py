"""ModelCheckpoint: save the model (or its weights) every epoch, every N batches, or when it
improves."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..._checks import is_int
from ._base import Callback, monitor_op


def check_save_freq(save_freq: Any) -> Any:
    """Keras's ``save_freq``: 'epoch' or a positive number of batches."""
    if save_freq == "epoch":
        return save_freq
    if not is_int(save_freq) or save_freq < 1:
        raise ValueError(f"save_freq must be 'epoch' or a positive integer, got {save_freq!r}")
    return int(save_freq)


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) to ``filepath`` after every epoch
    (``save_freq="epoch"``) or every ``save_freq`` batches (counted across epochs, as Keras).
    ``filepath`` may hold ``str.format`` fields filled from ``epoch`` (1-based), ``batch``
    (1-based, batch-level saves) and the logs: ``"ckpt-{epoch:02d}-{val_loss:.2f}.deepcore"``.
    With ``save_best_only`` only saves that improve ``monitor`` are written (batch-level saves
    see the running training logs, so monitor e.g. 'loss' there)."""

    chief_only = True  # in a data-parallel job only rank 0 writes the file

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: Any = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = check_save_freq(save_freq)
        self.monitor_op = monitor_op(mode, monitor)
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = np.inf if self.monitor_op is np.less else -np.inf
        self._current_epoch = 0
        self._batches = 0
        if self.save_freq != "epoch":
            # a batch hook only when saving per batch (see [Note: lean batch hooks])
            self.on_train_batch_end = self._on_batch

    def _path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = {"epoch": epoch + 1, **logs}
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(
                f"ModelCheckpoint filepath {self.filepath!r} uses {e}, which is not in the "
                f"logs (available: {', '.join(fields)})"
            ) from None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _on_batch(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._current_epoch, batch, logs or {})

    def _save(self, epoch: int, batch: int | None, logs: dict) -> None:
        path = self._path(epoch, batch, logs)
        where = f"Epoch {epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
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
                    f"\n{where}: {self.monitor} improved from {self.best:.5f} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
        elif self.verbose > 0:
            print(f"\n{where}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
