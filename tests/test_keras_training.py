"""Keras's training API over every kind of data (NumPy arrays, Python generators, PyDataset,
PyTorch DataLoader), compile() with add_loss and no loss, jit_compile / steps_per_execution,
and the callbacks ModelCheckpoint(save_freq=...), BackupAndRestore and TensorBoard; written
from the Keras guides' usage."""

from __future__ import annotations

import math
import os
import sys
import types

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import callbacks, losses, optim, utils
from deepcore.models import Model, Sequential


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def _model(seed=0, lr=0.2):
    dc.manual_seed(seed)
    m = Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(2)])
    m.compile(
        optimizer=optim.SGD(learning_rate=lr),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return m


# ---------------------------------------------------------------------- data sources
class Batches(utils.PyDataset):
    """keras.io's PyDataset example (a CIFAR-style sequence of batches)."""

    def __init__(self, x_set, y_set, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x_set, y_set
        self.batch_size = batch_size
        self.epochs_ended = 0

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, idx):
        low = idx * self.batch_size
        high = min(low + self.batch_size, len(self.x))
        return self.x[low:high], self.y[low:high]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_pydataset_trains_like_the_same_arrays():
    x, y = _data()
    a, b = _model(), _model()
    ha = a.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    ds = Batches(x, y, 16, workers=2)
    hb = b.fit(ds, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)
    assert ds.epochs_ended == 3  # on_epoch_end after every epoch
    assert b.evaluate(ds, verbose=0) == pytest.approx(a.evaluate(x, y, verbose=0))
    np.testing.assert_allclose(b.predict(ds, verbose=0), a.predict(x, verbose=0), rtol=1e-6)


def test_pydataset_shuffles_batch_order_and_needs_len():
    x, y = _data(48)
    seen = []

    class Recording(Batches):
        def __getitem__(self, idx):
            seen.append(idx)
            return super().__getitem__(idx)

    _model().fit(Recording(x, y, 8), epochs=2, verbose=0)  # shuffle=True: order permuted
    assert sorted(seen[:6]) == list(range(6)) and sorted(seen[6:]) == list(range(6))
    assert seen != list(range(6)) * 2

    class NoLength(utils.PyDataset):
        def __getitem__(self, idx):
            return x[:8], y[:8]

    with pytest.raises(NotImplementedError, match="__len__ or the num_batches"):
        _model().fit(NoLength(), epochs=1, verbose=0)


def test_pydataset_workers_prefetch_in_threads_in_order():
    """workers=3: batches are read by other threads, at most max_queue_size ahead of the step,
    handed out in the epoch's order; training equals the single-threaded run; an exception in
    __getitem__ reaches fit."""
    import threading
    import time

    x, y = _data(96)
    main = threading.get_ident()
    readers, ahead = set(), []

    class Slow(Batches):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.requested = self.taken = 0

        def __getitem__(self, idx):
            self.requested += 1
            ahead.append(self.requested - self.taken)
            readers.add(threading.get_ident())
            time.sleep(0.002)  # an I/O-bound read
            return super().__getitem__(idx)

    class Counting(callbacks.Callback):
        def __init__(self, ds):
            super().__init__()
            self.ds = ds

        def on_train_batch_begin(self, batch, logs=None):
            self.ds.taken += 1

    a, b = _model(), _model()
    ha = a.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ds = Slow(x, y, 8, workers=3, max_queue_size=4)
    hb = b.fit(ds, epochs=2, shuffle=False, verbose=0, callbacks=[Counting(ds)])
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)
    assert main not in readers and len(readers) >= 2
    assert max(ahead) <= 4 + 1  # the queue bound (+ the batch the step is taking)
    assert ds.epochs_ended == 2

    class Broken(Batches):
        def __getitem__(self, idx):
            if idx == 3:
                raise RuntimeError("bad record 3")
            return super().__getitem__(idx)

    with pytest.raises(RuntimeError, match="bad record 3"):
        _model().fit(Broken(x, y, 8, workers=2), epochs=1, shuffle=False, verbose=0)


class Pids(Batches):
    """Batches whose labels are replaced by nothing: the x block carries the reading process's
    pid in its last column (checked by the test, not trained on)."""

    def __getitem__(self, idx):
        import os

        if idx == getattr(self, "fail_at", -1):
            raise ValueError(f"bad record {idx}")
        x, y = super().__getitem__(idx)
        return np.concatenate([x, np.full((len(x), 1), os.getpid(), x.dtype)], 1), y


def test_pydataset_use_multiprocessing_reads_in_processes_in_order():
    """Keras's use_multiprocessing=True: batches come from worker processes (another pid),
    in the epoch's order, a fresh pool per epoch sees on_epoch_end's changes, an error in a
    worker reaches fit with its message, and a worker that dies is an error, not a hang."""
    import os

    from deepcore.models.data_adapter import PyDatasetAdapter

    x, y = _data(40)
    x = x.astype(np.float64)
    ds = Pids(x, y, 8, workers=2, use_multiprocessing=True, max_queue_size=3)
    for _epoch in range(2):
        got = list(PyDatasetAdapter(ds, lambda b: b, None, False)._raw())
        assert len(got) == 5
        np.testing.assert_array_equal(np.concatenate([g[0][:, :-1] for g in got]), x)
        np.testing.assert_array_equal(np.concatenate([g[1] for g in got]), y)
        pids = {int(g[0][0, -1]) for g in got}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        x = x + 1.0  # the next epoch's pool must see this
        ds.x = x

    # training through processes equals training on the arrays
    xs, ys = _data(48)
    a, b = _model(), _model()
    ha = a.fit(xs, ys, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(Batches(xs, ys, 8, workers=2, use_multiprocessing=True), epochs=2,
               shuffle=False, verbose=0)  # fmt: skip
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)

    broken = Pids(x, y, 8, workers=2, use_multiprocessing=True)
    broken.fail_at = 2
    with pytest.raises(ValueError, match="bad record 2"):
        list(PyDatasetAdapter(broken, lambda b: b, None, False)._raw())

    class Dies(Batches):
        def __getitem__(self, idx):
            if idx == 1:
                os._exit(3)
            return super().__getitem__(idx)

    with pytest.raises(RuntimeError, match="worker process died"):
        list(PyDatasetAdapter(Dies(x, y, 8, workers=2, use_multiprocessing=True), lambda b: b,
                              None, False)._raw())  # fmt: skip


def test_generator_with_steps_per_epoch():
    """An endless generator (the Keras guides' pattern) needs steps_per_epoch; each epoch takes
    that many batches from the same generator."""
    x, y = _data(64)
    drawn = []

    def batches():
        i = 0
        while True:
            lo = (i % 4) * 16
            drawn.append(i)
            yield x[lo : lo + 16], y[lo : lo + 16]
            i += 1

    ref = _model()
    ref.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    m = _model()
    hist = m.fit(
        batches(),
        steps_per_epoch=4,
        epochs=2,
        verbose=0,
        validation_data=batches(),
        validation_steps=2,
    )
    assert len(hist.history["loss"]) == 2 and "val_loss" in hist.history
    for wa, wb in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


def test_finite_generator_runs_out_with_a_warning():
    x, y = _data(32)
    gen = ((x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8))
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        hist = m.fit(gen, epochs=3, verbose=0)
    assert len(hist.history["loss"]) == 1  # the first epoch used all four batches


def test_generator_of_x_y_sample_weight_and_predict_on_x_only():
    x, y = _data(32)
    w = np.linspace(0.5, 1.5, 32).astype(np.float32)
    a, b = _model(), _model()
    a.fit(x, y, sample_weight=w, batch_size=8, epochs=1, shuffle=False, verbose=0)
    b.fit(((x[i : i + 8], y[i : i + 8], w[i : i + 8]) for i in range(0, 32, 8)), verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)
    p = b.predict((x[i : i + 8] for i in range(0, 32, 8)), verbose=0)
    np.testing.assert_allclose(p, b.predict(x, verbose=0), rtol=1e-6)


def test_torch_dataloader():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    x, y = _data(64)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=16)
    ref, m = _model(), _model()
    ref.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    hist = m.fit(loader, epochs=2, verbose=0, validation_data=loader)
    assert len(hist.history["val_loss"]) == 2
    for wa, wb in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5)
    assert m.evaluate(loader, verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        m.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]
    )
    np.testing.assert_allclose(m.predict(loader, verbose=0), m.predict(x, verbose=0), rtol=1e-6)
    m.fit(loader, epochs=1, steps_per_epoch=2, verbose=0)  # a capped epoch
    with pytest.raises(TypeError, match="DataLoader"):
        m.fit(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), verbose=0)


def test_data_source_errors():
    x, y = _data(16)
    m = _model()
    with pytest.raises(ValueError, match="gives its targets"):
        m.fit(Batches(x, y, 8), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs in-memory arrays"):
        m.fit(Batches(x, y, 8), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        m.fit(iter([(x, y)]), steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match="a batch must be"):
        m.fit(iter([(x, y, None, None)]), verbose=0)
    with pytest.raises(ValueError, match="without targets"):
        m.fit(iter([x]), verbose=0)
    with pytest.raises(ValueError, match="gives no batches"):
        m.fit(iter([]), verbose=0)
    with pytest.raises(TypeError, match="must be arrays"):
        m.fit(object(), verbose=0)


# ---------------------------------------------------------------------- compile
class AutoEncoder(Model):
    """A model that adds its own loss in call (the add_loss pattern of the Keras guides)."""

    def __init__(self):
        super().__init__()
        self.enc = layers.Dense(2, activation="tanh")
        self.dec = layers.Dense(4)

    def call(self, x):
        out = self.dec(self.enc(x))
        self.add_loss(dc.mean((out - x) ** 2))
        return out


def test_compile_without_loss_trains_on_add_loss():
    x, _ = _data(64)
    dc.manual_seed(0)
    model = AutoEncoder()
    model.compile(optimizer=optim.Adam(learning_rate=0.05))  # no loss argument
    hist = model.fit(x, epochs=8, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 0.8 * hist.history["loss"][0]
    recon = model.predict(x, verbose=0)
    assert model.evaluate(x, verbose=0) == pytest.approx(float(((recon - x) ** 2).mean()), rel=1e-4)
    assert len(model.losses) == 1


def test_activity_regularization_layer_adds_to_the_compiled_loss():
    class ActivityRegularizationLayer(layers.Layer):  # the guide's name (not the built-in's)
        def call(self, inputs):
            self.add_loss(0.1 * dc.sum(inputs))
            return inputs

    x, y = _data(8)
    dc.manual_seed(0)
    model = Sequential([layers.Dense(2, input_shape=(4,)), ActivityRegularizationLayer()])
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    out = model.predict(x, verbose=0)
    ce = float(losses.SparseCategoricalCrossentropy(from_logits=True)(y, dc.tensor(out)))
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(
        ce + 0.1 * out.sum(), rel=1e-5
    )


def test_no_loss_at_all_is_a_clear_error():
    x, y = _data(8)
    model = Sequential([layers.Dense(2, input_shape=(4,))])
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="no loss to compute"):
        model.fit(x, epochs=1, verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="needs y"):
        model.fit(x, epochs=1, verbose=0)


def test_jit_compile_and_steps_per_execution_are_accepted():
    x, y = _data(32)
    a = _model()
    b = _model()
    b.compile(
        optimizer=optim.SGD(learning_rate=0.2),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=True,
        steps_per_execution=8,
        run_eagerly=False,
    )
    assert b.steps_per_execution == 8
    ha = a.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert ha.history == hb.history  # documented as changing nothing
    with pytest.raises(ValueError, match="steps_per_execution"):
        b.compile(optimizer="sgd", loss="mse", steps_per_execution=0)
    with pytest.raises(ValueError, match="jit_compile"):
        b.compile(optimizer="sgd", loss="mse", jit_compile="xla")


# ---------------------------------------------------------------------- callbacks
def test_model_checkpoint_save_freq_in_batches(tmp_path):
    x, y = _data(64)  # 4 batches of 16 per epoch, 3 epochs: 12 batches
    m = _model()
    ck = callbacks.ModelCheckpoint(
        str(tmp_path / "ck-{epoch}-{batch}.weights"), save_weights_only=True, save_freq=5
    )
    m.fit(x, y, batch_size=16, epochs=3, callbacks=[ck], verbose=0)
    # saves after batches 5 and 10 overall: epoch 2 batch 1, epoch 3 batch 2
    assert sorted(os.listdir(tmp_path)) == ["ck-2-1.weights", "ck-3-2.weights"]
    every_epoch = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.deepcore"))
    m.fit(x, y, batch_size=16, epochs=2, callbacks=[every_epoch], verbose=0)
    assert {"e1.deepcore", "e2.deepcore"} <= set(os.listdir(tmp_path))
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint(str(tmp_path / "x"), save_freq="batch")


class Interrupt(callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path):
    """keras.io's example: a fit interrupted at epoch 4 and started again continues at epoch
    4 (weights and optimizer state restored) and ends where an uninterrupted fit ends."""
    x, y = _data(64)
    ref = _model(lr=0.1)
    ref.compile(
        optimizer=optim.SGD(learning_rate=0.1, momentum=0.9),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    ref.fit(x, y, batch_size=16, epochs=6, shuffle=False, verbose=0)

    def fresh():
        m = _model(lr=0.1)
        m.compile(
            optimizer=optim.SGD(learning_rate=0.1, momentum=0.9),
            loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return m

    backup = callbacks.BackupAndRestore(backup_dir=str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        fresh().fit(x, y, batch_size=16, epochs=6, shuffle=False, verbose=0,
                    callbacks=[backup, Interrupt(4)])  # fmt: skip
    assert os.listdir(tmp_path / "backup")
    m = fresh()
    hist = m.fit(x, y, batch_size=16, epochs=6, shuffle=False, verbose=0, callbacks=[backup])
    assert len(hist.history["loss"]) == 2  # epochs 5 and 6 only
    for wa, wb in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-7)
    assert not (tmp_path / "backup").exists()  # deleted after a fit that ended normally


def test_backup_and_restore_every_n_batches(tmp_path):
    x, y = _data(64)
    backup = callbacks.BackupAndRestore(str(tmp_path / "b"), save_freq=3, delete_checkpoint=False)
    with pytest.raises(RuntimeError):
        _model().fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[backup, Interrupt(2)])
    hist = _model().fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[backup])
    # the last backup was written during epoch 2 (batch 6 overall): it runs again
    assert len(hist.history["loss"]) == 3
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.BackupAndRestore(str(tmp_path / "c"), save_freq=0)


def test_tensorboard_without_a_writer_warns_and_logs_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.warns(UserWarning, match="no event-file writer"):
        tb = callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    x, y = _data(32)
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[tb])
    assert not (tmp_path / "logs").exists()


def test_tensorboard_writes_epoch_and_batch_scalars(tmp_path, monkeypatch):
    written = []

    class FakeWriter:
        def __init__(self, logdir):
            self.logdir = logdir

        def add_scalar(self, tag, value, step):
            written.append((os.path.basename(self.logdir), tag, step, value))

        def add_histogram(self, tag, values, step):
            written.append((os.path.basename(self.logdir), "hist:" + tag, step, None))

        def flush(self):
            pass

        def close(self):
            pass

    monkeypatch.setitem(
        sys.modules, "tensorboardX", types.SimpleNamespace(SummaryWriter=FakeWriter)
    )
    tb = callbacks.TensorBoard(log_dir=str(tmp_path), update_freq=2, histogram_freq=1)
    x, y = _data(32)
    hist = _model().fit(
        x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x, y), callbacks=[tb]
    )
    epoch_loss = [(s, v) for d, t, s, v in written if d == "train" and t == "epoch_loss"]
    assert epoch_loss == list(enumerate(hist.history["loss"]))
    val_acc = [v for d, t, s, v in written if d == "validation" and t == "epoch_accuracy"]
    assert val_acc == hist.history["val_accuracy"]
    assert [s for d, t, s, v in written if t == "batch_loss"] == [2, 4, 6, 8]
    assert any(t.startswith("hist:") for _, t, _, _ in written)


def test_backup_and_restore_writes_only_on_rank_zero(tmp_path, monkeypatch):
    # in a data-parallel job every rank restores (all must resume at the same epoch) but only
    # rank 0 writes and deletes: the ranks would race on the same files
    from deepcore.distributed import _distribution
    from deepcore.models.callbacks import _backup

    x, y = _data(64)
    backup = callbacks.BackupAndRestore(str(tmp_path / "b"), delete_checkpoint=True)
    with pytest.raises(RuntimeError):
        _model().fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[backup, Interrupt(2)])
    saved = sorted(os.listdir(tmp_path / "b"))
    assert saved

    class NotChief(_distribution.Replica):
        is_chief = False

    monkeypatch.setattr(_backup, "replica_for", lambda model: NotChief(), raising=False)
    stamp = os.path.getmtime(tmp_path / "b" / saved[0])
    hist = _model().fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[backup])
    assert len(hist.history["loss"]) == 2  # restored: epochs 3 and 4 only
    assert sorted(os.listdir(tmp_path / "b")) == saved  # neither rewritten nor deleted
    assert os.path.getmtime(tmp_path / "b" / saved[0]) == stamp


# ---------------------------------------------------------------------- custom train_step
class CustomModel(Model):
    """keras.io's "Customizing what happens in fit() with PyTorch", deepcore for torch."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with dc.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_custom_train_step_from_the_keras_guide():
    rng = np.random.default_rng(0)
    x = rng.random((256, 8)).astype(np.float32)
    y = (x @ rng.random((8, 1)) + 0.1).astype(np.float32)
    dc.manual_seed(0)
    model = CustomModel()
    model.compile(optimizer=optim.Adam(learning_rate=0.05), loss="mse", metrics=["mae"])
    hist = model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert set(hist.history) == {"loss", "mae"}
    assert hist.history["loss"][-1] < 0.2 * hist.history["loss"][0]
    # the epoch's loss is the tracker's running mean over the epoch's batches (reset per epoch)
    assert hist.history["mae"][-1] < hist.history["mae"][0]
    ev = model.evaluate(x, y, verbose=0, return_dict=True)  # the default test step
    assert ev["loss"] == pytest.approx(
        float(((model.predict(x, verbose=0) - y) ** 2).mean()), rel=1e-4
    )


class TrackedModel(CustomModel):
    """The guide's lower-level variant: its own loss function and trackers, no compiled loss."""

    def __init__(self):
        super().__init__()
        self.loss_tracker = dc.metrics.Mean(name="loss")
        self.mae_metric = dc.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = losses.MeanSquaredError()

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.loss_fn(y, y_pred)
        loss.backward()
        with dc.no_grad():
            self.optimizer.apply(
                [v.value.grad for v in self.trainable_weights], self.trainable_weights
            )
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(self.loss_fn(y, y_pred))
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_custom_steps_with_own_trackers():
    rng = np.random.default_rng(1)
    x = rng.random((128, 8)).astype(np.float32)
    y = x[:, :1] * 2.0
    dc.manual_seed(0)
    model = TrackedModel()
    model.compile(optimizer=optim.Adam(learning_rate=0.05))
    hist = model.fit(x, y, epochs=5, batch_size=32, verbose=0, validation_data=(x, y))
    assert set(hist.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    ev = model.evaluate(x, y, verbose=0, return_dict=True)  # test_step, trackers reset first
    pred = model.predict(x, verbose=0)
    assert ev["mae"] == pytest.approx(float(np.abs(pred - y).mean()), rel=1e-4)
    assert ev["loss"] == pytest.approx(float(((pred - y) ** 2).mean()), rel=1e-4)
