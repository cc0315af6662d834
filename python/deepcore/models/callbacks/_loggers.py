"""CSVLogger and JSONLogger: one row / line of logs per epoch."""

from __future__ import annotations

import csv
import json
import os
from typing import Any

from ._base import Callback


def _log_keys(logs: dict) -> list[str]:
    return sorted(k for k in logs if not k.startswith("val_")) + sorted(
        k for k in logs if k.startswith("val_")
    )


class CSVLogger(Callback):
    """One row per epoch: ``epoch,<logs...>`` (header first; ``append`` continues a file)."""

    chief_only = True  # in a data-parallel job only rank 0 writes the file

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

    chief_only = True  # in a data-parallel job only rank 0 writes the file

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
