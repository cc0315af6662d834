"""Keras's rank rule for targets: (n,) labels against (n, 1) predictions (a Dense(1) output)
gain the trailing axis; (n, 1) targets against (n,) predictions lose it. Before the rule, the
losses built from broadcasting ops paired every label with every prediction ((4,) - (4, 1)
is (4, 4)) and returned a wrong number silently."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import losses, metrics, models
from deepcore import nn as layers

EPS = 1e-7
Y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
P = np.array([0.2, 0.8, 0.4, 0.1, 0.97])

# float64 references per sample, on matching shapes (Keras's definitions)
REFERENCE = {
    "mean_squared_error": lambda y, p: (p - y) ** 2,
    "mean_absolute_error": lambda y, p: np.abs(p - y),
    "mean_absolute_percentage_error": lambda y, p: 100 * np.abs(y - p) / np.maximum(np.abs(y), EPS),
    "mean_squared_logarithmic_error": lambda y, p: (
        (np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(y, EPS))) ** 2
    ),
    "binary_crossentropy": lambda y, p: (
        -(y * np.log(np.clip(p, EPS, 1 - EPS)) + (1 - y) * np.log(1 - np.clip(p, EPS, 1 - EPS)))
    ),
    "hinge": lambda y, p: np.maximum(1 - (2 * y - 1) * p, 0),
    "squared_hinge": lambda y, p: np.maximum(1 - (2 * y - 1) * p, 0) ** 2,
    "huber": lambda y, p: np.where(np.abs(p - y) <= 1, 0.5 * (p - y) ** 2, np.abs(p - y) - 0.5),
    "log_cosh": lambda y, p: np.log(np.cosh(p - y)),
    "poisson": lambda y, p: p - y * np.log(p + EPS),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("layout", ["labels (n,), predictions (n, 1)", "both (n, 1)"])
def test_rank_one_labels_against_a_column_of_predictions(name, layout):
    fn = losses.get(name)
    y = Y if layout.startswith("labels") else Y[:, None]
    want = REFERENCE[name](Y, P).mean()
    got = fn(y, P[:, None])
    assert float(got.numpy()) == pytest.approx(want, rel=1e-9)
    # and the other way round: (n, 1) targets against (n,) predictions
    assert float(fn(Y[:, None], P).numpy()) == pytest.approx(want, rel=1e-9)


def test_mae_regression_value():
    # (4,) - (4, 1) broadcast to (4, 4) gave 0.5; Keras's value is 0.275
    got = losses.get("mae")(np.array([0, 1, 1, 0]), np.array([[0.2], [0.8], [0.4], [0.1]]))
    assert float(got.numpy()) == pytest.approx(0.275)


@pytest.mark.parametrize(
    "metric, want",
    [
        (metrics.MeanAbsoluteError(), np.abs(P - Y).mean()),
        (metrics.MeanSquaredError(), ((P - Y) ** 2).mean()),
        (metrics.BinaryAccuracy(), ((P > 0.5) == Y).mean()),
    ],
)
def test_metrics_follow_the_same_rule(metric, want):
    metric.update_state(Y, P[:, None])
    assert float(np.asarray(metric.result().numpy())) == pytest.approx(want, rel=1e-6)


def test_fit_on_rank_one_labels_with_a_dense_1_output():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")  # shape (64,), as most binary datasets come
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    loss, _ = model.evaluate(x, y, verbose=0)
    p = np.clip(model.predict(x, verbose=0)[:, 0].astype(np.float64), EPS, 1 - EPS)
    want = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    assert loss == pytest.approx(want, rel=1e-5)
    hist = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert len(hist.history["loss"]) == 2


@pytest.mark.parametrize(
    "y_shape, p_shape",
    [((3,), (4, 1)), ((4, 2), (4, 1)), ((4, 3), (4,)), ((2, 4, 1), (4, 1))],
)
def test_targets_that_would_enlarge_the_predictions_are_refused(y_shape, p_shape):
    for name in ("mae", "mse", "binary_crossentropy", "hinge", "huber"):
        with pytest.raises(ValueError, match="shape"):
            losses.get(name)(np.zeros(y_shape), np.full(p_shape, 0.5))
