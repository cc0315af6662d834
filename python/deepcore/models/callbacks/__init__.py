"""Callbacks for ``Model.fit`` (Keras's names and semantics) and the progress bar, one module per
callback or small family.

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

from ._backup import BackupAndRestore
from ._base import Callback, CallbackList
from ._checkpoint import ModelCheckpoint
from ._early_stopping import EarlyStopping
from ._history import History
from ._lambda import LambdaCallback, TerminateOnNaN
from ._learning_rate import (
    LearningRateScheduler,
    ReduceLROnPlateau,
    get_learning_rate,
    set_learning_rate,
)
from ._loggers import CSVLogger, JSONLogger
from ._progbar import Progbar, ProgbarLogger
from ._tensorboard import TensorBoard

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "Progbar",
    "EarlyStopping",
    "ModelCheckpoint",
    "BackupAndRestore",
    "TensorBoard",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "JSONLogger",
    "TerminateOnNaN",
    "LambdaCallback",
    "get_learning_rate",
    "set_learning_rate",
]
