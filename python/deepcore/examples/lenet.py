"""Train LeNet-5 on MNIST (the same data rules as deepcore.examples.mnist).

    python -m deepcore.examples.lenet [--epochs 10] [--activation relu] [--pooling max]

LeNet-5 as built by deepcore.models.zoo.lenet5 (61,706 parameters): C1 6@5×5 – S2 – C3 16@5×5
– S4 – Dense 120 – 84 – 10, tanh and average pooling by default (the paper's choices), trained
with Adam, batch 128.

Measured on the 8,000 / 2,000 split of the MNIST test set (DEEPCORE_DATA=shared/data/mnist),
10 epochs, seed 0: test accuracy 0.9605 (tanh, average pooling) and 0.9755 (``--activation
relu --pooling max``); full MNIST (60k training images) was not available to check the ≈0.985
usually quoted for LeNet-5.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import deepcore
from deepcore.examples.mnist import parse_args, train_and_evaluate
from deepcore.models import zoo


def _lenet_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--activation", default="tanh", choices=["tanh", "relu"])
    ap.add_argument("--pooling", default="average", choices=["average", "max"])


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv, "Train LeNet-5 on MNIST.", 10, 128, _lenet_arguments)
    deepcore.manual_seed(args.seed)
    model = zoo.lenet5(activation=args.activation, pooling=args.pooling)
    return train_and_evaluate(model, args, "LeNet-5", optimizer="adam")


if __name__ == "__main__":
    main()
