"""Models, data and training runs shared by tests/test_distributed.py (the single-process
reference, in the pytest process) and tests/distributed_worker.py (the same runs as ranks of an
MPI job), so both sides train exactly the same thing."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
from deepcore import models, optim
from deepcore.models import callbacks as cbks
from deepcore.models import zoo


class Recorder(cbks.Callback):
    """Every weight (trainable or not) after every training step."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[list[np.ndarray]] = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([w.numpy().copy() for w in self.model.weights])


def convnet() -> models.Sequential:
    """The seed convnet (93,322 parameters)."""
    return zoo.seed_convnet()


def bn_mlp(*more: layers.Layer) -> models.Sequential:
    return models.Sequential(
        [
            layers.Dense(16, input_shape=(5,), kernel_regularizer="l2"),
            layers.BatchNormalization(momentum=0.9),
            layers.Activation("relu"),
            layers.Dense(3, activation="softmax"),
            *more,
        ]
    )


def image_data(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return x, y


def table_data(n: int = 21, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32) * 3 + 1
    y = rng.integers(0, 3, n)
    return x, y


def train_convnet(seed: int, wrap=None) -> tuple[Recorder, dict]:
    """Seed convnet, SGD with momentum, 20 images in global batches of 8 (8, 8, ragged 4),
    shuffled, 2 epochs; ``wrap`` wraps the optimizer (a DistributedOptimizer)."""
    dc.manual_seed(seed)
    model = convnet()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    model.compile(
        optimizer=opt if wrap is None else wrap(opt),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    rec = Recorder()
    x, y = image_data()
    h = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[rec])
    return rec, h.history


def train_bn_mlp(seed: int, checkpoint: str | None = None) -> tuple[Recorder, dict]:
    """MLP with BatchNormalization and an L2 regulariser, 21 rows in global batches of 8
    (ragged last batch of 5), shuffled, 2 epochs, global-norm clipping; optionally a
    ModelCheckpoint at every epoch end."""
    dc.manual_seed(seed)
    model = bn_mlp()
    model.compile(
        optimizer=optim.SGD(learning_rate=0.1, momentum=0.9, global_clipnorm=1.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rec = Recorder()
    cb = [rec]
    if checkpoint:
        cb.append(cbks.ModelCheckpoint(checkpoint))
    x, y = table_data()
    h = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=cb)
    return rec, h.history


def train_loss_scaled(seed: int) -> tuple[Recorder, dict, list[float]]:
    """The BN MLP under a LossScaleOptimizer whose first scale (2**131) overflows the scaled
    float32 gradients: the first steps are skipped, each halving the scale, until the
    gradients are finite. Returns the scale after each step too: every rank must skip the
    same steps (an overflow on one rank reaches all of them through the reduced gradients)."""
    dc.manual_seed(seed)
    model = bn_mlp()
    opt = optim.LossScaleOptimizer(
        optim.SGD(learning_rate=0.1, momentum=0.9), initial_scale=2.0**131
    )
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    scales: list[float] = []

    class Scales(cbks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            scales.append(float(opt.dynamic_scale))

    rec = Recorder()
    x, y = table_data()
    h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[rec, Scales()])
    return rec, h.history, scales


def resume_bn_mlp(checkpoint: str) -> tuple[Recorder, dict]:
    """Load the checkpoint and train one more epoch (unshuffled)."""
    model = models.load_model(checkpoint)
    rec = Recorder()
    x, y = table_data()
    h = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[rec], shuffle=False)
    return rec, h.history


def custom_loop(
    seed: int,
    rank: int = 0,
    size: int = 1,
    wrap=None,
    passes: int = 1,
    initial_scale: float | None = None,
    scales: list[float] | None = None,
    skip: tuple[int, ...] = (),
) -> list[list[np.ndarray]]:
    """PyTorch-style loop: each rank takes its equal share of every batch of 8 rows, the loss is
    the mean over its rows; ``wrap`` turns the optimizer into a DistributedOptimizer. With
    ``passes`` > 1 a rank's rows go through that many backward passes (gradient accumulation,
    each loss weighted by 1/passes) before the step. With ``initial_scale`` the SGD is wrapped
    in a LossScaleOptimizer first (Keras's custom-loop use: ``scale_loss(loss).backward()``)
    and the scale after each step is appended to ``scales``. The steps in ``skip`` take no
    optimizer step (what loss scaling does on an overflow)."""
    import deepcore.nn.functional as F

    dc.manual_seed(seed)
    model = models.Sequential(
        [layers.Dense(8, activation="relu", input_shape=(5,)), layers.Dense(3)]
    )
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    if initial_scale is not None:
        opt = optim.LossScaleOptimizer(opt, initial_scale=initial_scale)
    if wrap is not None:
        opt = wrap(opt, model)
    x, y = table_data(24)
    out = []
    b = 8 // size
    for step in range(3):
        lo = step * 8 + rank * b
        opt.zero_grad()
        part = b // passes
        for k in range(passes):
            rows = slice(lo + k * part, lo + (k + 1) * part)
            loss = F.cross_entropy(model(dc.tensor(x[rows])), y[rows])
            loss = loss * (1.0 / passes) if passes > 1 else loss
            (loss if initial_scale is None else opt.scale_loss(loss)).backward()
        if step not in skip:
            opt.step()
        if scales is not None:
            scales.append(float(opt.dynamic_scale))
        out.append([p.numpy().copy() for p in model.parameters()])
    return out


class RowCounter(layers.Layer):
    """Identity that counts the rows it sees in inference mode (evaluate / predict)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows = 0

    def call(self, inputs, training=None):
        if not training:
            self.rows += len(inputs.data)
        return inputs


def evaluate_and_predict(seed: int, n_eval: int) -> dict[str, np.ndarray]:
    """The BN MLP fitted one epoch (unshuffled) with validation on ``n_eval`` other rows, then
    evaluated and asked to predict on them, batches of 3: the final weights, the history, the
    evaluation, the predictions and the rows this process ran in inference mode."""
    dc.manual_seed(seed)
    counter = RowCounter()
    model = bn_mlp(counter)
    model.compile(
        optimizer=optim.SGD(learning_rate=0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    counter.rows = 0  # building the model ran one row
    x, y = table_data()
    xv, yv = table_data(n_eval, seed=5)
    h = model.fit(
        x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, validation_data=(xv, yv),
        validation_batch_size=3,
    )  # fmt: skip
    out = {f"w{j}": w.numpy().copy() for j, w in enumerate(model.weights)}
    out.update({f"h_{k}": np.asarray(v, np.float64) for k, v in h.history.items()})
    ev = model.evaluate(xv, yv, batch_size=3, verbose=0, return_dict=True)
    out.update({f"e_{k}": np.asarray(v, np.float64) for k, v in ev.items()})
    out["pred"] = model.predict(xv, batch_size=3, verbose=0)
    out["rows"] = np.asarray(counter.rows)
    return out
