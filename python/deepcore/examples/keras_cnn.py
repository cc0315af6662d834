"""A Keras-style convnet, written as keras.io's "simple MNIST convnet" with only the imports
changed: Input, Rescaling inside the model, Conv2D / MaxPooling2D, Dropout, validation_split.

    python -m deepcore.examples.keras_cnn [--train 4000] [--epochs 3]

Data: deepcore's procedurally drawn digits (deepcore.datasets.synthetic: MNIST's format, drawn
here, no download), as uint8 pixels: the model's own Rescaling(1/255) layer scales them, so the
saved model takes raw images. After training it saves the model, reloads it and checks the
reloaded model predicts the same.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence

import numpy as np

import deepcore
from deepcore import models
from deepcore import nn as layers
from deepcore.datasets import synthetic
from deepcore.utils import to_categorical


def build_model(num_classes: int = 10) -> models.Sequential:
    return models.Sequential(
        [
            models.Input(shape=(28, 28, 1)),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Keras-style convnet on synthetic digits.")
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=1)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = synthetic.load_digits(args.train, args.test, args.seed)
    x_train, x_test = x_train[..., None], x_test[..., None]  # (n, 28, 28, 1) uint8
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

    model = build_model()
    model.summary()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
        validation_split=0.1, verbose=args.verbose,
    )  # fmt: skip
    score = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {score[0]:.4f}  Test accuracy: {score[1]:.4f} (synthetic digits)")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "convnet.deepcore")
        model.save(path)
        reloaded = models.load_model(path)
    same = np.allclose(
        model.predict(x_test[:64], verbose=0), reloaded.predict(x_test[:64], verbose=0), atol=1e-6
    )
    print(f"reloaded model predicts the same: {same}")
    return {
        "test_loss": float(score[0]),
        "test_accuracy": float(score[1]),
        "history": history.history,
        "reload_same": bool(same),
    }


if __name__ == "__main__":
    main()
