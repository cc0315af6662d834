"""Train the seed Keras convnet on MNIST, written as the Keras script with only its imports changed.

    python -m deepcore.examples.mnist                      # 5 epochs, rmsprop, batch 64
    python -m deepcore.examples.mnist --data DIR --epochs 1 --limit 2000
    mpirun -n 2 python -m deepcore.examples.mnist --distributed   # data-parallel, 2 ranks

``--distributed`` trains under ``deepcore.distributed.DataParallel``: every rank of the MPI job
holds a replica, ``--batch-size`` is the global batch (each rank takes its share), and only
rank 0 prints (needs ``pip install "deepcore[distributed]"``; without mpirun it is one rank).

Data: MNIST from ``--data DIR``, ``$DEEPCORE_DATA``, the cache (~/.cache/deepcore/mnist) or a
download (see deepcore.datasets.mnist). If only the 10k test set is found (e.g.
``DEEPCORE_DATA=shared/data/mnist``) its first 8,000 images train and the last 2,000 test. With
no MNIST and no network, it trains on procedurally drawn digits (deepcore.datasets.synthetic)
and says so: those accuracies are not MNIST accuracies.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Callable

import numpy as np

import deepcore
import deepcore.distributed as dist
import deepcore.nn as layers
from deepcore import models
from deepcore.datasets import mnist, synthetic
from deepcore.utils import to_categorical

Data = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_images(data_dir: str | None, limit: int | None, download: bool = True) -> tuple[Data, str]:
    """MNIST (or the synthetic stand-in) as float32 (n, 28, 28, 1) in [0, 1] and one-hot labels,
    plus a sentence saying what was loaded. ``limit`` keeps the first N train and test images."""
    try:
        ((x_train, y_train), (x_test, y_test)), source = mnist.load(
            data_dir, n_train=8000, download=download, timeout=15.0
        )
    except mnist.MnistNotFoundError as e:
        print(f"MNIST is not available here:\n{e}\n")
        (x_train, y_train), (x_test, y_test) = synthetic.load_digits(8000, 2000)
        source = (
            "built-in SYNTHETIC digits (procedurally drawn, 8000 train / 2000 test), NOT MNIST: "
            "accuracies are not comparable to MNIST results"
        )
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_test, y_test = x_test[:limit], y_test[:limit]

    # as in the Keras script: reshape to (n, 28, 28, 1), scale to [0, 1], one-hot labels
    x_train = x_train.reshape((len(x_train), 28, 28, 1)).astype("float32") / 255
    x_test = x_test.reshape((len(x_test), 28, 28, 1)).astype("float32") / 255
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)
    return ((x_train, y_train), (x_test, y_test)), source


def build_model() -> models.Sequential:
    """The seed convnet (93,322 parameters; the same as deepcore.models.zoo.seed_convnet)."""
    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def parse_args(
    argv: Sequence[str] | None,
    description: str,
    epochs: int,
    batch_size: int,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The examples' shared command line; ``add_arguments`` adds a script's own options."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--batch-size", type=int, default=batch_size)
    ap.add_argument(
        "--data", help="directory with the MNIST IDX files (else $DEEPCORE_DATA, cache)"
    )
    ap.add_argument("--limit", type=int, help="use only the first N train and test images")
    ap.add_argument("--no-download", action="store_true", help="never try to download MNIST")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=1, help="fit's verbosity (0, 1, 2)")
    if add_arguments is not None:
        add_arguments(ap)
    return ap.parse_args(argv)


def train_and_evaluate(model, args, description: str, optimizer="rmsprop") -> dict:
    """Load data, compile, fit, evaluate; print and return the results."""
    data, source = load_images(args.data, args.limit, download=not args.no_download)
    (x_train, y_train), (x_test, y_test) = data
    chief = dist.is_chief()  # in an MPI job only rank 0 prints
    say = print if chief else (lambda *a, **k: None)
    say(
        f"Training on {source}"
        + (f", {dist.world_size()} ranks." if dist.world_size() > 1 else ".")
    )
    if chief:
        model.summary()
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(
        x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose
    )
    seconds = time.perf_counter() - start
    test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
    say(
        f"{description}: test accuracy {test_acc:.4f} (loss {test_loss:.4f}) on "
        f"{len(x_test)} test images after {args.epochs} epoch(s), "
        f"{len(x_train) * args.epochs / seconds:.0f} training images/s. Data: {source}."
    )
    return {
        "test_loss": float(test_loss),
        "test_accuracy": float(test_acc),
        "source": source,
        "train_images": len(x_train),
        "test_images": len(x_test),
        "seconds": seconds,
    }


def main(argv: Sequence[str] | None = None) -> dict:
    def distributed_flag(ap: argparse.ArgumentParser) -> None:
        ap.add_argument(
            "--distributed",
            action="store_true",
            help="data-parallel over the ranks of an MPI job (mpirun -n N ...)",
        )

    args = parse_args(
        argv, "Train the seed Keras convnet on MNIST.", 5, 64, add_arguments=distributed_flag
    )
    deepcore.manual_seed(args.seed)
    if not args.distributed:
        return train_and_evaluate(build_model(), args, "Seed convnet")
    with dist.DataParallel().scope():
        return train_and_evaluate(build_model(), args, "Seed convnet, data-parallel")


if __name__ == "__main__":
    main()
