"""Two cars on a road: are they farther apart than 1? A 2-layer network learns it.

Two cars stand at positions x1, x2 drawn uniformly from [0, 4]; the label is
y = sign(|x1 - x2| - 1), stored as 1 (farther apart than 1) or 0 (closer). A network
2 -> hidden (ReLU) -> 1 (logit) is trained with deepcore's autograd and hand-written momentum
SGD on the binary cross-entropy, using only tensors and ops (no nn layers):

    python -m deepcore.examples.two_car --epochs 60 --seed 0

Prints the loss per epoch and the final test accuracy (> 0.95 with the defaults).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

import deepcore as dc


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n samples: x (n, 2) float32 positions in [0, 4], y (n, 1) float32 labels in {0, 1}."""
    x = rng.uniform(0.0, 4.0, size=(n, 2)).astype(np.float32)
    y = (np.abs(x[:, 0] - x[:, 1]) > 1.0).astype(np.float32)[:, None]
    return x, y


def normalise(x: np.ndarray) -> np.ndarray:
    return (x - 2.0) / 2.0  # [0, 4] -> [-1, 1]


def forward(x: dc.Tensor, params: list[dc.Tensor]) -> dc.Tensor:
    """The logit of P(y = 1): relu(x W1 + b1) W2 + b2."""
    w1, b1, w2, b2 = params
    h = dc.maximum(x @ w1 + b1, 0.0)
    return h @ w2 + b2


def bce_with_logits(z: dc.Tensor, y: dc.Tensor) -> dc.Tensor:
    """Mean binary cross-entropy of sigmoid(z) against y, in the stable form
    max(z, 0) - z*y + log(1 + exp(-|z|))."""
    return (dc.maximum(z, 0.0) - z * y + dc.log(1.0 + dc.exp(-dc.abs(z)))).mean()


def accuracy(x: np.ndarray, y: np.ndarray, params: list[dc.Tensor]) -> float:
    with dc.no_grad():
        z = forward(dc.tensor(normalise(x)), params)
    return float(np.mean((z.numpy() > 0) == (y > 0.5)))


def train(
    epochs: int = 60,
    seed: int = 0,
    hidden: int = 32,
    lr: float = 0.1,
    momentum: float = 0.9,
    batch_size: int = 32,
    n_train: int = 4000,
    n_test: int = 2000,
    verbose: bool = True,
) -> dict:
    dc.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train = make_data(n_train, rng)
    x_test, y_test = make_data(n_test, rng)
    xn = normalise(x_train)

    # He initialisation for the ReLU layer, Glorot-like for the output
    params = [
        (dc.randn(2, hidden) * np.sqrt(2.0 / 2)).requires_grad_(),
        dc.zeros(hidden, requires_grad=True),
        (dc.randn(hidden, 1) * np.sqrt(1.0 / hidden)).requires_grad_(),
        dc.zeros(1, requires_grad=True),
    ]
    velocity = [np.zeros_like(p.data) for p in params]

    history = []
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = dc.get_rng().permutation(n_train)
        total = 0.0
        for start in range(0, n_train, batch_size):
            idx = order[start : start + batch_size]
            xb, yb = dc.tensor(xn[idx]), dc.tensor(y_train[idx])
            loss = bce_with_logits(forward(xb, params), yb)
            for p in params:
                p.grad = None
            loss.backward()
            with dc.no_grad():  # momentum SGD: v = mu v - lr g; p += v
                for p, v in zip(params, velocity):
                    v *= momentum
                    v -= lr * p.grad.data
                    p += v
            total += loss.item() * len(idx)
        history.append(total / n_train)
        if verbose:
            print(f"epoch {epoch:3d}/{epochs}  loss {history[-1]:.4f}")
    elapsed = time.perf_counter() - t0
    train_acc = accuracy(x_train, y_train, params)
    test_acc = accuracy(x_test, y_test, params)
    if verbose:
        print(
            f"train accuracy {train_acc:.4f}  test accuracy {test_acc:.4f}  "
            f"({elapsed:.2f} s, {epochs * -(-n_train // batch_size) / elapsed:.0f} steps/s)"
        )
    return {
        "loss": history,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "seconds": elapsed,
    }


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--quiet", action="store_true", help="print only the final accuracy")
    a = ap.parse_args(argv)
    res = train(
        epochs=a.epochs,
        seed=a.seed,
        hidden=a.hidden,
        lr=a.lr,
        batch_size=a.batch_size,
        verbose=not a.quiet,
    )
    if a.quiet:
        print(f"test accuracy {res['test_accuracy']:.4f}")
    return res


if __name__ == "__main__":
    main()
