"""A generator-fed fit, Keras style: batches made on the fly by a Python generator (here with
random shifts as data augmentation), ``steps_per_epoch`` / ``validation_steps``, and a
``Sequential`` MLP-on-pixels model, with only the imports changed from Keras.

    python -m deepcore.examples.keras_generator_fit [--steps 40] [--epochs 3]

The generator loops forever over the synthetic digits (deepcore.datasets.synthetic), so
``steps_per_epoch`` says where an epoch ends, as in Keras. Validation reads a second
generator for ``validation_steps`` batches.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence

import numpy as np

import deepcore
from deepcore import models
from deepcore import nn as layers
from deepcore.datasets import synthetic


def batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (images, labels) batches, reshuffled every pass; with ``augment`` each image is
    shifted by up to 2 pixels in each direction."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            xb = x[idx]
            if augment:
                dy, dx = rng.integers(-2, 3, size=2)
                xb = np.roll(xb, (int(dy), int(dx)), axis=(1, 2))
            yield xb.astype("float32") / 255.0, y[idx].astype("int64")


def build_model() -> models.Sequential:
    return models.Sequential(
        [
            models.Input(shape=(28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="fit() fed by a Python generator.")
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=40, help="steps_per_epoch")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=1)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    (x, y), (xt, yt) = synthetic.load_digits(args.train, args.test, args.seed)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        batches(x, y, args.batch_size, args.seed, augment=True),
        steps_per_epoch=args.steps,
        epochs=args.epochs,
        validation_data=batches(xt, yt, args.batch_size, args.seed + 1, augment=False),
        validation_steps=max(1, args.test // args.batch_size),
        verbose=args.verbose,
    )
    loss, acc = model.evaluate(xt.astype("float32") / 255.0, yt.astype("int64"), verbose=0)
    print(
        f"generator-fed fit: {args.epochs} epochs x {args.steps} steps; held-out accuracy "
        f"{acc:.3f} (loss {loss:.3f}) on {len(xt)} synthetic digits"
    )
    return {"test_accuracy": float(acc), "test_loss": float(loss), "history": history.history}


if __name__ == "__main__":
    main()
