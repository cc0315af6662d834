"""A custom training loop with a ``Metric`` subclass, as in Keras's "writing a training loop
from scratch" and "custom metrics" guides (PyTorch backend form), with only the imports
changed.

    python -m deepcore.examples.keras_custom_loop [--epochs 3] [--train 3000]

The model is a functional MLP on synthetic digits (deepcore.datasets.synthetic). Each step is
``logits = model(x, training=True)``, a loss object, ``model.zero_grad()``,
``loss.backward()`` and ``optimizer.apply(gradients, trainable_weights)``; a built-in
``SparseCategoricalAccuracy`` and a custom ``CategoricalTruePositives`` metric (state made with
``add_variable`` after ``super().__init__()``, ``update_state`` / ``result`` /
``reset_state``) follow the training; validation runs the model with ``training=False``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import deepcore
from deepcore import losses, metrics, models, optim
from deepcore import nn as layers
from deepcore.datasets import synthetic


class CategoricalTruePositives(metrics.Metric):
    """How many samples were classified correctly (the Keras guide's custom metric)."""

    def __init__(self, name: str = "categorical_true_positives", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        pred = np.asarray(y_pred).argmax(axis=-1)
        values = (pred == np.asarray(y_true).reshape(-1)).astype("float32")
        if sample_weight is not None:
            values = values * np.asarray(sample_weight, "float32").reshape(-1)
        self.true_positives.assign_add(values.sum())

    def result(self):
        return self.true_positives.value

    def reset_state(self) -> None:
        self.true_positives.assign(0.0)


def build_model() -> models.Model:
    inputs = models.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, name="predictions")(x)
    return models.Model(inputs=inputs, outputs=outputs)


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Custom training loop with a Metric subclass.")
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--val", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    (x, y), (xv, yv) = synthetic.load_digits(args.train, args.val, args.seed)
    x = x.reshape(len(x), 784).astype("float32") / 255.0
    xv = xv.reshape(len(xv), 784).astype("float32") / 255.0
    y, yv = y.astype("int64"), yv.astype("int64")

    model = build_model()
    optimizer = optim.Adam(learning_rate=1e-3)
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    train_acc_metric = metrics.SparseCategoricalAccuracy()
    val_acc_metric = metrics.SparseCategoricalAccuracy()
    true_positives = CategoricalTruePositives()
    rng = np.random.default_rng(args.seed)
    history = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), args.batch_size):
            idx = order[start : start + args.batch_size]
            x_batch, y_batch = x[idx], y[idx]
            logits = model(x_batch, training=True)
            loss_value = loss_fn(y_batch, logits)
            model.zero_grad()
            loss_value.backward()
            trainable_weights = model.trainable_weights
            gradients = [w.grad for w in trainable_weights]
            with deepcore.no_grad():
                optimizer.apply(gradients, trainable_weights)
            train_acc_metric.update_state(y_batch, logits)
            true_positives.update_state(y_batch, logits.detach().numpy())
        train_acc = float(train_acc_metric.result())
        correct = float(true_positives.result())
        with deepcore.no_grad():
            val_logits = model(xv, training=False)
        val_acc_metric.update_state(yv, val_logits)
        val_acc = float(val_acc_metric.result())
        print(
            f"epoch {epoch + 1}: loss {float(loss_value.item()):.4f}  training accuracy "
            f"{train_acc:.4f} ({correct:.0f} of {len(x)} right)  validation accuracy {val_acc:.4f}"
        )
        history.append({"train_accuracy": train_acc, "true_positives": correct,
                        "val_accuracy": val_acc})  # fmt: skip
        for m in (train_acc_metric, val_acc_metric, true_positives):
            m.reset_state()
    return {"history": history, "val_accuracy": history[-1]["val_accuracy"]}


if __name__ == "__main__":
    main()
