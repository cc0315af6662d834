"""The functional API guide's multi-input, multi-output model with only the imports changed:
ranking support tickets by priority and routing them to a department.

    python -m deepcore.examples.keras_multi_input [--samples 1280] [--epochs 3]

Inputs: the ticket's title and body (word indices, embedded and read by LSTMs) and its tags
(a binary vector). Outputs: a priority score (sigmoid, binary cross-entropy) and a department
(softmax over 4, categorical cross-entropy), with loss weights 1.0 / 0.2, losses and targets
given by output name. The data are synthetic: the department is carried by a marker word in
the body and the priority by the tags, so a model that reads its inputs does better than
chance on held-out tickets (25% department accuracy, about 50% priority accuracy).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import deepcore
from deepcore import models
from deepcore import nn as layers

NUM_TAGS = 12
NUM_WORDS = 100
NUM_DEPARTMENTS = 4


def make_data(n: int, seed: int) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    title = rng.integers(1, NUM_WORDS, size=(n, 10))
    body = rng.integers(1, NUM_WORDS, size=(n, 20))
    tags = rng.integers(0, 2, size=(n, NUM_TAGS)).astype("float32")
    dept = rng.integers(0, NUM_DEPARTMENTS, size=n)
    body[np.arange(n), rng.integers(0, 20, size=n)] = NUM_WORDS - 1 - dept  # the marker word
    priority = (tags[:, :3].sum(1) >= 2).astype("float32")[:, None]
    return [title, body, tags], {
        "priority": priority,
        "department": np.eye(NUM_DEPARTMENTS, dtype="float32")[dept],
    }


def build_model() -> models.Model:
    title_input = models.Input(shape=(None,), name="title")
    body_input = models.Input(shape=(None,), name="body")
    tags_input = models.Input(shape=(NUM_TAGS,), name="tags")
    title_features = layers.Embedding(NUM_WORDS, 16)(title_input)
    body_features = layers.Embedding(NUM_WORDS, 16)(body_input)
    title_features = layers.LSTM(32)(title_features)
    body_features = layers.LSTM(16)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, activation="sigmoid", name="priority")(x)
    department_pred = layers.Dense(NUM_DEPARTMENTS, activation="softmax", name="department")(x)
    return models.Model(
        inputs=[title_input, body_input, tags_input],
        outputs={"priority": priority_pred, "department": department_pred},
    )


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Multi-input, multi-output functional model.")
    ap.add_argument("--samples", type=int, default=1280)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=1)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    x, y = make_data(args.samples, args.seed)
    x_test, y_test = make_data(512, args.seed + 1)
    model = build_model()
    model.summary()
    model.compile(
        optimizer="rmsprop",
        loss={"priority": "binary_crossentropy", "department": "categorical_crossentropy"},
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"priority": ["accuracy"], "department": ["accuracy"]},
    )
    history = model.fit(
        {"title": x[0], "body": x[1], "tags": x[2]}, y,
        epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose,
    )  # fmt: skip
    pred = model.predict(x_test, verbose=0)
    if isinstance(pred, dict):
        p_priority, p_department = pred["priority"], pred["department"]
    else:
        p_priority, p_department = pred
    priority_acc = float(((p_priority > 0.5) == (y_test["priority"] > 0.5)).mean())
    department_acc = float((p_department.argmax(1) == y_test["department"].argmax(1)).mean())
    print(
        f"held-out: priority accuracy {priority_acc:.3f}, department accuracy "
        f"{department_acc:.3f} (chance 0.25) on {len(x_test[0])} tickets"
    )
    return {
        "priority_accuracy": priority_acc,
        "department_accuracy": department_acc,
        "history": history.history,
    }


if __name__ == "__main__":
    main()
