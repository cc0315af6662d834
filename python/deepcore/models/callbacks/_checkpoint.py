"""ModelCheckpoint: save the model (or its weights) every epoch or when it improves."""

from __future__ import annotations

import os

import numpy as np

from ._base import Callback, monitor_op


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
        self.monitor_op = monitor_op(mode, monitor)
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
