"""Every Keras callback hook with its logs, as keras.io's "Writing your own callbacks" guide
prints them (imports changed): fit (with validation), evaluate and predict take callbacks;
every hook gets a dict, never None."""

from __future__ import annotations

import deepcore.keras as keras
import numpy as np

HOOKS = [
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_begin",
    "on_predict_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
]


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []


def _hook(name):
    def hook(self, *args):
        logs = args[-1]
        assert isinstance(logs, dict), (name, logs)
        self.calls.append((name, *args[:-1], sorted(logs)))

    return hook


for _name in HOOKS:
    setattr(Recorder, _name, _hook(_name))


def _model():
    m = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1), loss="mse", metrics=["mae"])
    return m


def _data(n=40):
    rng = np.random.default_rng(0)
    return rng.random((n, 8)).astype(np.float32), rng.random(n).astype(np.float32)


def test_fit_with_validation_calls_every_training_and_test_hook_in_order():
    x, y = _data()
    cb = Recorder()
    _model().fit(x, y, batch_size=16, epochs=1, verbose=0, validation_split=0.5, callbacks=[cb])
    keys = ["loss", "mae"]
    assert cb.calls == [
        ("on_train_begin", []),
        ("on_epoch_begin", 0, []),
        ("on_train_batch_begin", 0, []),
        ("on_train_batch_end", 0, keys),
        ("on_train_batch_begin", 1, []),
        ("on_train_batch_end", 1, keys),
        ("on_test_begin", []),
        ("on_test_batch_begin", 0, []),
        ("on_test_batch_end", 0, keys),
        ("on_test_batch_begin", 1, []),
        ("on_test_batch_end", 1, keys),
        ("on_test_end", keys),
        ("on_epoch_end", 0, ["loss", "mae", "val_loss", "val_mae"]),
        ("on_train_end", ["loss", "mae", "val_loss", "val_mae"]),
    ]


def test_evaluate_and_predict_take_callbacks():
    x, y = _data(20)
    m = _model()
    cb = Recorder()
    logs = m.evaluate(x, y, batch_size=16, verbose=0, callbacks=[cb], return_dict=True)
    assert [c[0] for c in cb.calls] == [
        "on_test_begin",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_test_end",
    ]

    class Final(keras.callbacks.Callback):
        def on_test_end(self, logs=None):
            self.logs = dict(logs)

    final = Final()
    m.evaluate(x, y, batch_size=16, verbose=0, callbacks=[final])
    assert final.logs == logs

    class Outputs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.parts, self.events = [], []

        def on_predict_begin(self, logs=None):
            self.events.append(("begin", dict(logs)))

        def on_predict_batch_end(self, batch, logs=None):
            self.parts.append(np.array(logs["outputs"]))

        def on_predict_end(self, logs=None):
            self.events.append(("end", dict(logs)))

    out = Outputs()
    pred = m.predict(x, batch_size=16, verbose=0, callbacks=[out])
    assert out.events == [("begin", {}), ("end", {})]
    np.testing.assert_array_equal(np.concatenate(out.parts), pred)


def test_the_guides_learning_rate_scheduler_and_early_stopping_run():
    x, y = _data()

    class Schedule(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate = 0.1 / (epoch + 1)
            self.seen = float(np.array(self.model.optimizer.learning_rate))

    class StopAtOnce(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    s = Schedule()
    hist = _model().fit(x, y, epochs=5, verbose=0, callbacks=[s, StopAtOnce()])
    assert len(hist.history["loss"]) == 2 and s.seen == 0.05
