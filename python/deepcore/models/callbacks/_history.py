"""History: every epoch's logs, and a plot of them (matplotlib, optional)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._base import Callback


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
