"""Transfer learning, Keras style: a keras.applications-style base with include_top=False,
frozen, under a new classifier head; then fine-tuning of the whole model at a low rate.

    python -m deepcore.examples.keras_transfer [--train 512] [--epochs 2] [--weights FILE]

The pattern of Keras's transfer-learning guide with only the imports changed::

    base_model = applications.ResNet50(include_top=False, weights=..., input_shape=(32, 32, 3))
    base_model.trainable = False
    inputs = Input(shape=(32, 32, 3))
    x = base_model(inputs, training=False)      # BatchNorm stays in inference mode
    x = GlobalAveragePooling2D()(x); x = Dropout(0.2)(x); outputs = Dense(10)(x)

deepcore ships no pretrained weights: without ``--weights`` (a weights file saved from a
ResNet50(include_top=False) of this input shape) the base is randomly initialised, so its
frozen features are random projections and the accuracies printed are those of a head on
random features — the example demonstrates the mechanics (frozen base, training=False,
unfreezing, recompiling), not ImageNet transfer. Data: synthetic digits, grey levels copied to
three channels and padded to 32×32.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import deepcore
from deepcore import applications, models, optim
from deepcore import nn as layers
from deepcore.datasets import synthetic


def load(n_train: int, n_test: int, seed: int) -> tuple:
    (x, y), (xt, yt) = synthetic.load_digits(n_train, n_test, seed)

    def prep(a: np.ndarray) -> np.ndarray:
        a = np.pad(a.astype("float32") / 255.0, ((0, 0), (2, 2), (2, 2)))
        return np.repeat(a[..., None], 3, axis=-1)

    return (prep(x), y.astype("int64")), (prep(xt), yt.astype("int64"))


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Transfer learning with include_top=False.")
    ap.add_argument("--train", type=int, default=512)
    ap.add_argument("--test", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--fine-tune-epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--weights", default=None, help="weights file for the base (else random)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=1)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    (x, y), (xt, yt) = load(args.train, args.test, args.seed)

    base_model = applications.ResNet50(
        include_top=False, weights=args.weights, input_shape=(32, 32, 3)
    )
    base_model.trainable = False  # freeze the base
    inputs = models.Input(shape=(32, 32, 3))
    h = base_model(inputs, training=False)
    h = layers.GlobalAveragePooling2D()(h)
    h = layers.Dropout(0.2)(h)
    outputs = layers.Dense(10, activation="softmax")(h)
    model = models.Model(inputs, outputs)
    trainable = sum(w.size for w in model.trainable_weights)
    frozen = sum(w.size for w in model.non_trainable_weights)
    print(f"head: {trainable:,} trainable parameters over a frozen base of {frozen:,}")

    model.compile(
        optimizer=optim.Adam(learning_rate=1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    head_acc = float(model.evaluate(xt, yt, verbose=0)[1])

    base_model.trainable = True  # fine-tune everything at a low rate (recompile after)
    model.compile(
        optimizer=optim.Adam(learning_rate=1e-5),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=args.fine_tune_epochs, batch_size=args.batch_size, verbose=args.verbose)
    tuned_acc = float(model.evaluate(xt, yt, verbose=0)[1])
    source = args.weights or "random (no pretrained weights shipped)"
    print(
        f"held-out accuracy: head on the frozen base {head_acc:.3f}, after fine-tuning "
        f"{tuned_acc:.3f} (base weights: {source})"
    )
    return {
        "head_accuracy": head_acc,
        "fine_tuned_accuracy": tuned_acc,
        "trainable_head": trainable,
        "frozen_base": frozen,
    }


if __name__ == "__main__":
    main()
