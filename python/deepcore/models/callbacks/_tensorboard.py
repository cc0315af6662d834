"""TensorBoard: epoch (and batch) logs and weight histograms as TensorBoard event files.

Writing event files needs a writer library: ``tensorboardX``, or PyTorch's
``torch.utils.tensorboard`` (which needs the ``tensorboard`` package). Both are optional: without
one, the callback warns once, when it is made, and logs nothing (training is unaffected;
CSVLogger and JSONLogger need nothing)."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ._base import Callback


def _summary_writer_class() -> Any:
    """A SummaryWriter class from tensorboardX or torch.utils.tensorboard, or None."""
    try:
        from tensorboardX import SummaryWriter  # noqa: PLC0415  (optional)

        return SummaryWriter
    except ImportError:
        pass
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415  (optional)

        return SummaryWriter
    except ImportError:  # no torch, or torch without the tensorboard package
        return None


class TensorBoard(Callback):
    """Keras's TensorBoard callback: scalars ``epoch_<metric>`` under ``log_dir/train`` and
    ``log_dir/validation`` every epoch, ``batch_<metric>`` every ``update_freq`` batches when
    it is 'batch' or an int, and weight histograms every ``histogram_freq`` epochs. Arguments
    Keras has for TensorFlow's profiler, graphs, images and embeddings are accepted and do
    nothing here."""

    def __init__(
        self,
        log_dir: str | os.PathLike = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: Any = "epoch",
        profile_batch: Any = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: Any = None,
    ) -> None:
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        if (
            isinstance(histogram_freq, bool)
            or not isinstance(histogram_freq, int)
            or histogram_freq < 0
        ):
            raise ValueError(f"histogram_freq must be a non-negative int, got {histogram_freq!r}")
        self.histogram_freq = histogram_freq
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (
            isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1
        ):
            raise ValueError(
                f"update_freq must be 'epoch', 'batch' or a positive int, got {update_freq!r}"
            )
        self.update_freq = update_freq
        self._writer_class = _summary_writer_class()
        self._writers: dict[str, Any] = {}
        self._step = 0
        if self._writer_class is None:
            warnings.warn(
                "TensorBoard: no event-file writer is installed (pip install tensorboardX, or "
                "tensorboard for torch.utils.tensorboard); this callback will log nothing. "
                "CSVLogger / JSONLogger record the same logs without extra packages.",
                UserWarning,
                stacklevel=2,
            )
        elif update_freq != "epoch":
            self.on_train_batch_end = self._on_batch  # a batch hook only when it writes

    @property
    def enabled(self) -> bool:
        return self._writer_class is not None

    def _writer(self, kind: str) -> Any:
        if kind not in self._writers:
            self._writers[kind] = self._writer_class(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._step = 0

    def _on_batch(self, batch: int, logs: dict | None = None) -> None:
        self._step += 1
        if self._step % self.update_freq == 0:
            w = self._writer("train")
            for k, v in (logs or {}).items():
                if np.ndim(v) == 0:
                    w.add_scalar(f"batch_{k}", float(v), self._step)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.enabled:
            return
        for k, v in (logs or {}).items():
            if np.ndim(v):
                continue
            kind, name = ("validation", k[4:]) if k.startswith("val_") else ("train", k)
            self._writer(kind).add_scalar(f"epoch_{name}", float(v), epoch)
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0:
            w = self._writer("train")
            for name, value in self.model.state_dict().items():
                w.add_histogram(name, np.asarray(value), epoch)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}
