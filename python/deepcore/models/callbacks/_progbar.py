"""Keras's progress bar (Progbar) and the callback that draws one per epoch in fit
(ProgbarLogger)."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from ._base import Callback


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _fmt_value(v: Any) -> str:
    if np.ndim(v):  # a vector-valued metric (F1Score per class, Precision at thresholds)
        return "[" + ", ".join(_fmt_value(e) for e in np.ravel(v)) + "]"
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
