"""Callbacks: History, EarlyStopping, ModelCheckpoint, LearningRateScheduler, CSV/JSON loggers."""

from __future__ import annotations

import csv
import json
import os

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import callbacks, models, optim
from deepcore.models import Sequential


@pytest.fixture(autouse=True)
def _fresh():
    layers.reset_name_counters()
    dc.manual_seed(0)


def data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    return x, y


def regressor(lr=0.05):
    m = Sequential([layers.Dense(8, activation="tanh", input_shape=(3,)), layers.Dense(1)])
    m.compile(optimizer=optim.SGD(lr=lr), loss="mse")
    return m


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs=None):
        self.events.append(f"batch_end {batch} {sorted(logs)}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_hooks_order_and_logs():
    x, y = data(20)
    rec = Recorder()
    m = regressor()
    hist = m.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[rec], validation_data=(x, y))
    assert rec.events == [
        "train_begin",
        "epoch_begin 0",
        "batch_end 0 ['loss']",
        "batch_end 1 ['loss']",
        "epoch_end 0 ['loss', 'val_loss']",
        "epoch_begin 1",
        "batch_end 0 ['loss']",
        "batch_end 1 ['loss']",
        "epoch_end 1 ['loss', 'val_loss']",
        "train_end",
    ]
    assert m.history is hist and hist.epoch == [0, 1]
    assert rec.model is m and rec.params["epochs"] == 2 and rec.params["steps"] == 2


def test_stop_training_from_a_callback():
    x, y = data(20)
    m = regressor()
    stopper = callbacks.LambdaCallback(
        on_batch_end=lambda b, logs: setattr(m, "stop_training", True)
    )
    h = m.fit(x, y, batch_size=5, epochs=5, verbose=0, callbacks=[stopper])
    assert len(h.history["loss"]) == 1


def test_initial_epoch():
    x, y = data(20)
    h = regressor().fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert h.epoch == [3, 4]


class ScriptedLoss(callbacks.Callback):
    """Overwrites val_loss with a scripted sequence (so the test controls improvement)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def test_early_stopping_stops_and_restores_best_weights():
    x, y = data()
    m = regressor()
    snapshots = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(m.get_weights()))
    # best at epoch 1; patience 2 -> stops at the end of epoch 3
    script = ScriptedLoss([1.0, 0.5, 0.7, 0.6, 0.1, 0.1])
    es = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = m.fit(x, y, epochs=6, verbose=0, validation_data=(x, y), callbacks=[keep, script, es])
    assert len(h.history["loss"]) == 4
    assert es.stopped_epoch == 3 and es.best_epoch == 1 and es.best == 0.5
    for a, b in zip(m.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_min_delta_mode_and_missing_key():
    x, y = data()
    m = regressor()
    es = callbacks.EarlyStopping(monitor="val_loss", min_delta=0.2, patience=1)
    h = m.fit(
        x,
        y,
        epochs=6,
        verbose=0,
        validation_data=(x, y),
        callbacks=[ScriptedLoss([1.0, 0.9, 0.85, 0.5, 0.4, 0.3]), es],
    )
    assert len(h.history["loss"]) == 2  # 0.9 is not 0.2 better than 1.0
    es = callbacks.EarlyStopping(monitor="val_accuracy")
    assert es.monitor_op is np.greater  # mode 'auto' maximises accuracies
    with pytest.raises(KeyError, match="val_loss"):
        regressor().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_model_checkpoint_writes_files(tmp_path):
    x, y = data()
    m = regressor()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.deepcore")
    m.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        validation_data=(x, y),
        callbacks=[ScriptedLoss([0.5, 0.7, 0.25]), callbacks.ModelCheckpoint(pattern)],
    )
    assert sorted(os.listdir(tmp_path)) == [
        "ckpt-01-0.50.deepcore",
        "ckpt-02-0.70.deepcore",
        "ckpt-03-0.25.deepcore",
    ]
    loaded = models.load_model(tmp_path / "ckpt-03-0.25.deepcore")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)


def test_model_checkpoint_best_only_weights_only(tmp_path):
    x, y = data()
    m = regressor()
    path = tmp_path / "best.weights"
    snaps = []
    ck = callbacks.ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    record = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snaps.append(m.get_weights()))
    m.fit(
        x,
        y,
        epochs=4,
        verbose=0,
        validation_data=(x, y),
        callbacks=[ScriptedLoss([0.5, 0.6, 0.4, 0.9]), ck, record],
    )
    assert ck.best == 0.4
    other = regressor()
    other.load_weights(path)  # the weights of epoch 3 (index 2), the best one
    for a, b in zip(other.get_weights(), snaps[2]):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_scheduler_changes_lr():
    x, y = data(20)
    m = regressor(lr=0.1)
    seen = []
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    probe = callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(m.optimizer.lr))
    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[sched, probe])
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    one_arg = callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))
    m.fit(x, y, epochs=2, verbose=0, callbacks=[one_arg])
    assert m.optimizer.lr == pytest.approx(0.02)


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger(tmp_path):
    x, y = data(20)
    m = regressor()
    path = tmp_path / "log.csv"
    m.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[callbacks.CSVLogger(path)])
    rows = _read_csv(path)
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    hist = m.history.history
    assert float(rows[2][1]) == pytest.approx(hist["loss"][1])
    assert float(rows[2][2]) == pytest.approx(hist["val_loss"][1])
    m.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        validation_data=(x, y),
        callbacks=[callbacks.CSVLogger(path, append=True)],
    )
    rows = _read_csv(path)
    assert len(rows) == 4 and rows[0] == ["epoch", "loss", "val_loss"]


def test_json_logger(tmp_path):
    x, y = data(20)
    m = regressor()
    path = tmp_path / "log.jsonl"
    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.JSONLogger(path)])
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [0, 1, 2]
    assert [r["loss"] for r in recs] == pytest.approx(h.history["loss"])


def test_terminate_on_nan_and_reduce_lr():
    x, y = data(20)
    y[3] = np.nan
    m = regressor()
    h = m.fit(x, y, epochs=3, batch_size=20, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert len(h.history["loss"]) == 1
    x, y = data(20)
    m = regressor(lr=0.1)
    r = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
    m.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        validation_data=(x, y),
        callbacks=[ScriptedLoss([1.0, 1.0, 1.0]), r],
    )
    assert m.optimizer.lr == pytest.approx(0.025)


def test_history_plot(tmp_path):
    x, y = data(20)
    h = regressor().fit(x, y, epochs=2, verbose=0, validation_data=(x, y))
    try:
        import matplotlib
    except ImportError:
        with pytest.raises(ImportError, match="pip install matplotlib"):
            h.plot()
        return
    matplotlib.use("Agg")
    fig = h.plot()
    fig.savefig(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0


def test_callback_type_check():
    x, y = data(10)
    with pytest.raises(TypeError, match="Callback"):
        regressor().fit(x, y, verbose=0, callbacks=[lambda: None])
