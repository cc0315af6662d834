"""Two cars on a road, Keras style: a 2-layer net learns y = sign(|x1 - x2| - 1).

    python -m deepcore.examples.two_car_keras [--epochs 60] [--hidden 16]

Two cars stand at positions x1, x2 drawn uniformly from [0, 4]; the label says whether they are
farther apart than 1 (y = +1) or not (y = -1), stored as 1 / 0 for a sigmoid output. Two ReLU
units suffice in principle (relu(x1 - x2 - 1) + relu(x2 - x1 - 1) > 0); the model is
Dense(hidden, relu) -> Dense(1, sigmoid), trained with binary cross-entropy and Adam through
Sequential / compile / fit / evaluate. (deepcore.examples.two_car solves the same problem with
raw tensors and autograd.)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import deepcore
import deepcore.nn as layers
from deepcore import models


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x: (n, 2) positions in [0, 4] scaled to [-1, 1]; y: (n, 1) 1.0 if |x1 - x2| > 1 else 0."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0.0, 4.0, size=(n, 2))
    y = (np.abs(pos[:, 0] - pos[:, 1]) > 1.0).astype(np.float32)[:, None]
    return ((pos - 2.0) / 2.0).astype(np.float32), y


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Two-car distance toy problem (Keras-style API).")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--train", type=int, default=2000, help="training samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=0)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    x_train, y_train = make_data(args.train, args.seed)
    x_test, y_test = make_data(1000, args.seed + 1)

    model = models.Sequential()
    model.add(layers.Dense(args.hidden, activation="relu", input_shape=(2,)))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose
    )
    test_loss = model.evaluate(x_test, y_test, verbose=0)[0]
    # accuracy of sign(|x1 - x2| - 1), computed here from the predicted probabilities
    test_acc = float(
        ((np.asarray(model.predict(x_test, verbose=0)) > 0.5) == (y_test > 0.5)).mean()
    )
    losses = history.history["loss"]
    print(
        f"two cars: train loss {losses[0]:.3f} -> {losses[-1]:.3f} over {args.epochs} epochs; "
        f"test accuracy {test_acc:.3f} (loss {test_loss:.3f}) on {len(x_test)} new pairs"
    )
    return {"test_accuracy": test_acc, "test_loss": float(test_loss), "losses": losses}


if __name__ == "__main__":
    main()
