"""BackupAndRestore: resume a fit that was interrupted (killed, crashed) where it stopped."""

from __future__ import annotations

import json
import os
from typing import Any

from ...distributed._distribution import replica_for
from ...io import safetensors as st
from ...optim import flatten_state_dict, unflatten_state_dict
from ._base import Callback
from ._checkpoint import check_save_freq


class BackupAndRestore(Callback):
    """Keras's BackupAndRestore: at the end of every epoch (or every ``save_freq`` batches) the
    model's weights, the optimizer's state and the epoch reached go to one file in
    ``backup_dir``; a later ``fit`` with the same callback restores them in
    ``on_train_begin`` and continues from the epoch after the last one saved (an epoch cut
    short by a batch-level backup runs again from its start). After a ``fit`` that ends
    normally the backup is deleted (``delete_checkpoint``). With ``double_checkpoint`` the
    previous backup is kept too and used when the latest cannot be read. In a data-parallel
    job every rank restores (so all resume at the same epoch) and only rank 0 writes and
    deletes the files (the ranks would race on the same paths)."""

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: Any = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore needs a backup_dir (a directory path)")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = check_save_freq(save_freq)
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._file = os.path.join(self.backup_dir, "latest.deepcore")
        self._previous = self._file + ".bkp"
        self._current_epoch = 0
        self._batches = 0
        if self.save_freq != "epoch":
            self.on_train_batch_end = self._on_batch  # a batch hook only when it saves per batch

    # ------------------------------------------------------------------ files
    def _writes(self) -> bool:
        return replica_for(self.model).is_chief

    def _save(self, next_epoch: int) -> None:
        model = self.model
        if not self._writes():
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        tensors = {"model." + k: v for k, v in model.state_dict().items()}
        meta = {"format": "deepcore-backup", "epoch": str(int(next_epoch))}
        opt = model.optimizer
        if opt is not None and getattr(opt, "built", False):
            opt_meta, arrays = flatten_state_dict(opt.state_dict())
            meta["optimizer_state"] = json.dumps(opt_meta)
            tensors.update({"optimizer." + k: v for k, v in arrays.items()})
        if self.double_checkpoint and os.path.exists(self._file):
            os.replace(self._file, self._previous)
        st.save_file(tensors, self._file, metadata=meta)  # atomic: never half a backup

    def _restore(self, path: str) -> int:
        """Load ``path`` into the model and its optimizer; returns the epoch to resume at."""
        with st.safe_open(path) as f:
            tensors, meta = f.read(), f.metadata()
        if meta.get("format") != "deepcore-backup":
            raise ValueError(f"{path}: not a BackupAndRestore backup")
        epoch = int(meta["epoch"])
        model = self.model
        model.load_state_dict(
            {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        )
        if "optimizer_state" in meta and model.optimizer is not None:
            arrays = {
                k[len("optimizer.") :]: v for k, v in tensors.items() if k.startswith("optimizer.")
            }
            opt_meta = json.loads(meta["optimizer_state"])
            model.optimizer.load_state_dict(unflatten_state_dict(opt_meta, arrays))
        return epoch

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        candidates = [self._file] + ([self._previous] if self.double_checkpoint else [])
        errors = []
        for path in candidates:
            if not os.path.exists(path):
                continue
            try:
                epoch = self._restore(path)
            except (OSError, ValueError, KeyError, TypeError) as e:
                errors.append(f"{path}: {e}")
                continue
            object.__setattr__(self.model, "_initial_epoch", epoch)
            return
        if errors:
            raise ValueError("BackupAndRestore could not restore a backup: " + "; ".join(errors))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch + 1)

    def _on_batch(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._current_epoch)  # the epoch is not complete: run it again

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self.delete_checkpoint or not self._writes():
            return
        for path in (self._file, self._previous):
            if os.path.exists(path):
                os.remove(path)
        try:
            os.rmdir(self.backup_dir)  # only when nothing else is in it
        except OSError:
            pass
