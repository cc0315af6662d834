"""Keras's loss *functions* (``deepcore.losses.mean_squared_error(y_true, y_pred)`` ...) return
the per-sample losses, reduced over the last axis only, as ``keras.losses.*`` do (keras.io:
"Returns: values with shape = [batch_size, d0, .. dN-1]"). Each is checked against its Keras
formula written in NumPy (float64) on 1-D, 2-D and 3-D inputs, and the Loss classes and
``compile(loss=...)`` are checked to keep their reductions."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import losses, optim
from deepcore.models import Sequential
from deepcore.testing import gradcheck
from helpers import requires_torch

EPS = 1e-7


def _clip(x, lo=EPS, hi=1 - EPS):
    return np.clip(x, lo, hi)


def _pm1(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def _l2n(x, axis=-1):
    return x / np.sqrt(np.maximum((x * x).sum(axis, keepdims=True), 1e-12))


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _bce(t, p):
    p = _clip(p)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


# name -> (function, kwargs, NumPy reference of the per-sample values, target kind)
REFERENCES = {
    "mean_squared_error": (lambda t, p: ((t - p) ** 2).mean(-1), "real"),
    "mean_absolute_error": (lambda t, p: np.abs(t - p).mean(-1), "real"),
    "mean_absolute_percentage_error": (
        lambda t, p: 100 * (np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(-1),
        "real",
    ),
    "mean_squared_logarithmic_error": (
        lambda t, p: ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(
            -1
        ),
        "prob",
    ),
    "cosine_similarity": (lambda t, p: -(_l2n(t) * _l2n(p)).sum(-1), "real"),
    "huber": (
        lambda t, p: np.where(np.abs(p - t) <= 1.0, 0.5 * (p - t) ** 2, np.abs(p - t) - 0.5).mean(
            -1
        ),
        "real",
    ),
    "log_cosh": (lambda t, p: np.log(np.cosh(p - t)).mean(-1), "real"),
    "hinge": (lambda t, p: np.maximum(1 - _pm1(t) * p, 0).mean(-1), "binary"),
    "squared_hinge": (lambda t, p: (np.maximum(1 - _pm1(t) * p, 0) ** 2).mean(-1), "binary"),
    "categorical_hinge": (
        lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0),
        "onehot",
    ),
    "kl_divergence": (
        lambda t, p: (_clip(t, EPS, 1) * np.log(_clip(t, EPS, 1) / _clip(p, EPS, 1))).sum(-1),
        "onehot",
    ),
    "poisson": (lambda t, p: (p - t * np.log(p + EPS)).mean(-1), "prob"),
    "binary_crossentropy": (lambda t, p: _bce(t, p).mean(-1), "binary"),
    "categorical_crossentropy": (
        lambda t, p: -(t * np.log(_clip(p / p.sum(-1, keepdims=True)))).sum(-1),
        "onehot",
    ),
    "binary_focal_crossentropy": (
        lambda t, p: ((1 - (t * p + (1 - t) * (1 - p))) ** 2 * _bce(t, p)).mean(-1),
        "binary",
    ),
    "categorical_focal_crossentropy": (
        lambda t, p: (
            -0.25
            * (1 - _clip(p / p.sum(-1, keepdims=True))) ** 2
            * t
            * np.log(_clip(p / p.sum(-1, keepdims=True)))
        ).sum(-1),
        "onehot",
    ),
}

SHAPES = [(5, 3), (2, 4, 3), (1, 1), (7, 1)]


def _data(kind, shape, rng):
    if kind == "real":
        t = rng.standard_normal(shape) + 0.5
        p = rng.standard_normal(shape)
    elif kind == "binary":
        t = (rng.uniform(size=shape) > 0.5).astype(np.float64)
        p = rng.uniform(0.05, 0.95, shape)
    elif kind == "onehot":
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        p = rng.uniform(0.05, 1.0, shape)
    else:
        t = rng.uniform(0.0, 2.0, shape)
        p = rng.uniform(0.1, 2.0, shape)
    return t, p


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_function_returns_keras_per_sample_values(name, shape):
    ref, kind = REFERENCES[name]
    t, p = _data(kind, shape, np.random.default_rng(len(shape) * 10 + shape[-1]))
    got = getattr(losses, name)(t, dc.tensor(p))
    assert got.shape == shape[:-1]
    np.testing.assert_allclose(got.numpy(), ref(t, p), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_function_on_one_sample_reduces_the_last_axis(name):
    """1-D input is one sample: Keras's functions give a scalar (the last axis reduced)."""
    ref, kind = REFERENCES[name]
    t, p = _data(kind, (4,), np.random.default_rng(1))
    got = getattr(losses, name)(t, dc.tensor(p))
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), ref(t, p), rtol=1e-9, atol=1e-12)


def test_keras_documentation_example_shape():
    """keras.io's example: y_true (2, 3) integers, y_pred (2, 3) floats -> loss shape (2,)."""
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, size=(2, 3))
    y_pred = rng.random(size=(2, 3))
    loss = losses.mean_squared_error(y_true, y_pred)
    assert loss.shape == (2,) and loss.dtype == np.float64  # a float64 array stays float64
    np.testing.assert_allclose(loss.numpy(), np.mean(np.square(y_true - y_pred), axis=-1))
    assert losses.mean_squared_error([[1.0, 2.0]], [[1.0, 1.0]]).dtype == np.float32


def test_sparse_categorical_crossentropy_per_sample_and_ignore_class():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.05, 1.0, (6, 4))
    labels = rng.integers(0, 4, 6)
    pn = _clip(p / p.sum(-1, keepdims=True))
    ref = -np.log(pn[np.arange(6), labels])
    got = losses.sparse_categorical_crossentropy(labels, dc.tensor(p))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)
    got = losses.sparse_categorical_crossentropy(labels[:, None], dc.tensor(p))  # (N, 1) labels
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)
    z = rng.standard_normal((6, 4))
    got = losses.sparse_categorical_crossentropy(labels, dc.tensor(z), from_logits=True)
    np.testing.assert_allclose(got.numpy(), -_log_softmax(z)[np.arange(6), labels], rtol=1e-9)
    # ignore_class: those samples' losses are 0 (the function), masked out (the class)
    keep = labels != labels[0]
    got = losses.sparse_categorical_crossentropy(labels, dc.tensor(p), ignore_class=labels[0])
    np.testing.assert_allclose(got.numpy(), np.where(keep, ref, 0.0), rtol=1e-9)
    cls = losses.SparseCategoricalCrossentropy(ignore_class=int(labels[0]))
    assert float(cls(labels, dc.tensor(p))) == pytest.approx(ref[keep].mean(), rel=1e-6)


def test_class_axis_argument():
    """categorical / binary cross-entropy along another axis, as Keras's axis argument."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 1.0, (3, 4, 5))
    t = np.moveaxis(np.eye(4)[rng.integers(0, 4, (3, 5))], -1, 1)
    got = losses.categorical_crossentropy(t, dc.tensor(p), axis=1)
    ref = REFERENCES["categorical_crossentropy"][0](np.moveaxis(t, 1, -1), np.moveaxis(p, 1, -1))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)
    tb = (rng.uniform(size=(3, 4, 5)) > 0.5).astype(np.float64)
    got = losses.binary_crossentropy(tb, dc.tensor(p / 1.1), axis=1)
    np.testing.assert_allclose(got.numpy(), _bce(tb, p / 1.1).mean(1), rtol=1e-9)
    with pytest.raises(ValueError, match="axis"):
        losses.categorical_crossentropy(t, dc.tensor(p), axis=3)


def test_from_logits_and_label_smoothing_in_keras_argument_order():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((4, 3))
    t = np.eye(3)[[0, 2, 1, 1]]
    got = losses.categorical_crossentropy(t, dc.tensor(z), True, 0.2)  # positional, as Keras
    ts = t * 0.8 + 0.2 / 3
    np.testing.assert_allclose(got.numpy(), -(ts * _log_softmax(z)).sum(-1), rtol=1e-9)
    tb = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    got = losses.binary_crossentropy(tb, dc.tensor(z), True, 0.1)
    tbs = tb * 0.9 + 0.05
    ref = (np.maximum(z, 0) - z * tbs + np.log1p(np.exp(-np.abs(z)))).mean(-1)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)


def test_targets_take_the_rank_of_the_predictions():
    """(batch,) targets with (batch, 1) predictions are not broadcast to (batch, batch)
    (Keras's squeeze_or_expand_to_same_rank)."""
    t = np.array([0.0, 1.0, 2.0])
    p = dc.tensor(np.array([[0.5], [1.0], [1.0]]))
    np.testing.assert_allclose(losses.mean_squared_error(t, p).numpy(), [0.25, 0.0, 1.0])
    assert float(losses.MeanSquaredError()(t, p)) == pytest.approx(1.25 / 3)
    np.testing.assert_allclose(
        losses.hinge([1.0, 0.0], dc.tensor([[0.5], [0.5]])).numpy(), [0.5, 1.5]
    )


def test_dice_and_tversky_reduce_over_their_axis():
    rng = np.random.default_rng(5)
    t = (rng.uniform(size=(3, 6)) > 0.5).astype(np.float64)
    p = rng.uniform(size=(3, 6))
    got = losses.dice(t, dc.tensor(p))  # axis=None: one value over every entry, as Keras
    assert got.shape == ()
    assert float(got) == pytest.approx(1 - 2 * (t * p).sum() / (t.sum() + p.sum() + EPS))
    got = losses.dice(t, dc.tensor(p), axis=1)
    ref = 1 - 2 * (t * p).sum(1) / (t.sum(1) + p.sum(1) + EPS)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_classes_keep_their_reductions(name):
    """The Loss class over each function: the default reduction is the mean of the function's
    per-sample values, "sum" their sum, None the values, sample_weight weights them."""
    _, kind = REFERENCES[name]
    t, p = _data(kind, (5, 3), np.random.default_rng(6))
    per = getattr(losses, name)(t, dc.tensor(p)).numpy()
    cls = type(losses.get(name))
    assert float(cls()(t, dc.tensor(p))) == pytest.approx(per.mean(), rel=1e-6)
    assert float(cls(reduction="sum")(t, dc.tensor(p))) == pytest.approx(per.sum(), rel=1e-6)
    np.testing.assert_allclose(cls(reduction=None)(t, dc.tensor(p)).numpy(), per, rtol=1e-6)
    w = np.array([0.5, 1.0, 0.0, 2.0, 1.5])
    assert float(cls()(t, dc.tensor(p), sample_weight=w)) == pytest.approx(
        (w * per).sum() / 5, rel=1e-6
    )


def test_compile_with_functions_names_and_custom_functions_agree():
    """compile(loss=losses.mean_squared_error), loss="mse" and a user function returning
    per-sample values train the same model identically (Keras reduces each to the batch mean)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = rng.standard_normal((32, 2)).astype(np.float32)
    histories = []
    for loss in ("mse", losses.mean_squared_error, lambda t, p: dc.mean((t - p) ** 2, axis=-1)):
        dc.manual_seed(0)
        model = Sequential([layers.Dense(2, input_shape=(3,))])
        model.compile(optimizer=optim.SGD(learning_rate=0.05), loss=loss)
        histories.append(model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0))
    for h in histories[1:]:
        np.testing.assert_allclose(h.history["loss"], histories[0].history["loss"], rtol=1e-5)


@pytest.mark.parametrize("name", ["mean_squared_error", "categorical_crossentropy", "huber"])
def test_per_sample_gradients(name):
    _, kind = REFERENCES[name]
    t, p = _data(kind, (3, 4), np.random.default_rng(8))
    gradcheck(lambda a: getattr(losses, name)(t, a), [p])


def test_keras_aliases_are_the_functions():
    assert losses.mse is losses.MSE is losses.mean_squared_error
    assert losses.mae is losses.MAE is losses.mean_absolute_error
    assert losses.mape is losses.MAPE is losses.mean_absolute_percentage_error
    assert losses.msle is losses.MSLE is losses.mean_squared_logarithmic_error
    assert losses.kld is losses.KLD is losses.kl_divergence
    assert type(losses.get(losses.mse)) is losses.MeanSquaredError


def test_bad_reduction_argument():
    with pytest.raises(ValueError, match="reduction"):
        losses.mean_squared_error([[1.0]], dc.tensor([[1.0]]), reduction="sum")


@requires_torch
def test_keras_ctc_against_pytorch():
    """keras.losses.ctc / CTC: y_true padded with 0 (the blank), y_pred logits
    (batch, time, classes); every time step counts."""
    import torch

    rng = np.random.default_rng(6)
    y_pred = rng.standard_normal((3, 12, 6)).astype(np.float32)
    y_true = np.array([[1, 2, 2, 0, 0], [5, 0, 0, 0, 0], [3, 4, 1, 2, 5]])
    per = losses.ctc(y_true, dc.tensor(y_pred))
    tl = np.array([3, 1, 5])
    ref = torch.nn.functional.ctc_loss(
        torch.log_softmax(torch.tensor(y_pred), -1).transpose(0, 1),
        torch.tensor(y_true),
        torch.full((3,), 12),
        torch.tensor(tl),
        reduction="none",
    ).numpy()
    np.testing.assert_allclose(per.numpy(), ref, rtol=1e-5)
    assert float(losses.CTC()(y_true, dc.tensor(y_pred))) == pytest.approx(ref.mean(), rel=1e-5)
    assert type(losses.get("ctc")) is losses.CTC
    with pytest.raises(ValueError, match="ctc: y_true"):
        losses.ctc(np.array([1, 2]), dc.tensor(np.zeros((2, 3, 4), np.float32)))
