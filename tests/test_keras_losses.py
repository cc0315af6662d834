"""Keras losses: each class checked on the standalone-usage example of its Keras documentation
(default reduction, sample_weight, 'sum' and 'none'), every Keras name, the Loss subclass
pattern, reductions, gradients and bad input."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import losses, optim
from deepcore.models import Sequential
from deepcore.testing import gradcheck

A = [[0.0, 1.0], [0.0, 0.0]]
P_PROB = [[0.6, 0.4], [0.4, 0.6]]
P_ONE = [[1.0, 1.0], [1.0, 0.0]]
P_ONE0 = [[1.0, 1.0], [0.0, 0.0]]
CCE_T = [[0, 1, 0], [0, 0, 1]]
CCE_P = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
LOGITS_T = [[0, 1], [0, 0]]
LOGITS_P = [[-18.6, 0.51], [2.94, -12.8]]

# (loss class and kwargs, y_true, y_pred, sample_weight, default, weighted, sum, none)
DOC_EXAMPLES = [
    (losses.MeanSquaredError, {}, A, P_ONE, [0.7, 0.3], 0.5, 0.25, 1.0, [0.5, 0.5]),
    (losses.MeanAbsoluteError, {}, A, P_ONE, [0.7, 0.3], 0.5, 0.25, 1.0, [0.5, 0.5]),
    (
        losses.MeanAbsolutePercentageError,
        {},
        [[2.0, 1.0], [2.0, 3.0]],
        P_ONE,
        [0.7, 0.3],
        50.0,
        20.0,
        100.0,
        [25.0, 75.0],
    ),
    (
        losses.MeanSquaredLogarithmicError,
        {},
        A,
        P_ONE,
        [0.7, 0.3],
        0.240,
        0.120,
        0.480,
        [0.240, 0.240],
    ),
    (
        losses.CosineSimilarity,
        {"axis": 1},
        [[0.0, 1.0], [1.0, 1.0]],
        [[1.0, 0.0], [1.0, 1.0]],
        [0.8, 0.2],
        -0.5,
        -0.0999,
        -0.999,
        [-0.0, -0.999],
    ),
    (losses.Huber, {}, A, P_PROB, [1, 0], 0.155, 0.09, 0.31, [0.18, 0.13]),
    (losses.LogCosh, {}, A, P_ONE0, [0.8, 0.2], 0.108, 0.087, 0.217, [0.217, 0.0]),
    (losses.Hinge, {}, A, P_PROB, [1, 0], 1.3, 0.55, 2.6, [1.1, 1.5]),
    (losses.SquaredHinge, {}, A, P_PROB, [1, 0], 1.86, 0.73, 3.72, [1.46, 2.26]),
    (losses.CategoricalHinge, {}, A, P_PROB, [1, 0], 1.4, 0.6, 2.8, [1.2, 1.6]),
    (losses.KLDivergence, {}, A, P_PROB, [0.8, 0.2], 0.458, 0.366, 0.916, [0.916, 0.0]),
    (losses.Poisson, {}, A, P_ONE0, [0.8, 0.2], 0.5, 0.4, 0.999, [0.999, 0.0]),
    (
        losses.BinaryCrossentropy,
        {"from_logits": True},
        LOGITS_T,
        LOGITS_P,
        [0.8, 0.2],
        0.865,
        0.243,
        1.730,
        [0.235, 1.496],
    ),
    (
        losses.CategoricalCrossentropy,
        {},
        CCE_T,
        CCE_P,
        [0.3, 0.7],
        1.177,
        0.814,
        2.354,
        [0.0513, 2.303],
    ),
    (
        losses.SparseCategoricalCrossentropy,
        {},
        [1, 2],
        CCE_P,
        [0.3, 0.7],
        1.177,
        0.814,
        2.354,
        [0.0513, 2.303],
    ),
    (
        losses.CategoricalFocalCrossentropy,
        {},
        CCE_T,
        CCE_P,
        [0.3, 0.7],
        0.23315276,
        0.1632,
        0.46631,
        [3.2058331e-05, 4.6627346e-01],
    ),
]


@pytest.mark.parametrize("cls, kw, t, p, sw, default, weighted, total, none", DOC_EXAMPLES)
def test_keras_documentation_examples(cls, kw, t, p, sw, default, weighted, total, none):
    y_pred = dc.tensor(np.array(p, np.float32))
    assert float(cls(**kw)(t, y_pred)) == pytest.approx(default, abs=2e-3, rel=2e-3)
    assert float(cls(**kw)(t, y_pred, sample_weight=sw)) == pytest.approx(
        weighted, abs=2e-3, rel=2e-3
    )
    assert float(cls(reduction="sum", **kw)(t, y_pred)) == pytest.approx(total, abs=2e-3, rel=2e-3)
    out = cls(reduction=None, **kw)(t, y_pred)
    np.testing.assert_allclose(out.numpy(), none, atol=2e-3, rtol=2e-3)


def test_binary_focal_crossentropy_documentation_example():
    t, p = [0, 1, 0, 0], dc.tensor([-18.6, 0.51, 2.94, -12.8])
    assert float(losses.BinaryFocalCrossentropy(gamma=2, from_logits=True)(t, p)) == pytest.approx(
        0.691, abs=1e-3
    )
    balanced = losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2, from_logits=True)
    assert float(balanced(t, p)) == pytest.approx(0.51, abs=1e-2)


def test_binary_crossentropy_documentation_example_1d():
    loss = losses.BinaryCrossentropy(from_logits=True)
    assert float(loss([0, 1, 0, 0], dc.tensor([-18.6, 0.51, 2.94, -12.8]))) == pytest.approx(
        0.865, abs=1e-3
    )


def test_label_smoothing_moves_targets_towards_uniform():
    t = np.array([[0.0, 1.0, 0.0]])
    p = dc.tensor(np.array([[0.2, 0.7, 0.1]]))
    got = float(losses.CategoricalCrossentropy(label_smoothing=0.3)(t, p))
    smooth = t * 0.7 + 0.1
    assert got == pytest.approx(-(smooth * np.log([0.2, 0.7, 0.1])).sum(), rel=1e-5)
    z = dc.tensor(np.log(np.array([[0.2, 0.7, 0.1]])))  # the fused path from logits agrees
    fused = losses.CategoricalCrossentropy(label_smoothing=0.3)._from_logits(t, z, "mean")
    assert float(fused) == pytest.approx(got, rel=1e-5)


def test_dice_and_tversky():
    t = np.array([[1.0, 0.0, 1.0, 1.0]])
    p = dc.tensor(np.array([[0.9, 0.2, 0.6, 0.1]]))
    inter = (t * p.numpy()).sum()
    assert float(losses.Dice()(t, p)) == pytest.approx(
        1 - 2 * inter / (t.sum() + p.numpy().sum()), rel=1e-5
    )
    fp = ((1 - t) * p.numpy()).sum()
    fn = (t * (1 - p.numpy())).sum()
    got = float(losses.Tversky(alpha=0.3, beta=0.7)(t, p))
    assert got == pytest.approx(1 - inter / (inter + 0.3 * fp + 0.7 * fn), rel=1e-5)


@pytest.mark.parametrize(
    "fn",
    [
        losses.mean_absolute_percentage_error,
        losses.mean_squared_logarithmic_error,
        losses.cosine_similarity,
        losses.huber,
        losses.log_cosh,
        losses.squared_hinge,
        losses.categorical_hinge,
        losses.kl_divergence,
        losses.poisson,
        losses.binary_focal_crossentropy,
        losses.categorical_focal_crossentropy,
        losses.dice,
        losses.tversky,
    ],
)
def test_new_losses_have_correct_gradients(fn):
    rng = np.random.default_rng(0)
    t = rng.uniform(0.1, 0.9, (3, 4))
    p = rng.uniform(0.15, 0.85, (3, 4))
    gradcheck(lambda a: fn(t, a), [p])


# ---------------------------------------------------------------------- names
KERAS_LOSS_NAMES = {
    "mse": losses.MeanSquaredError,
    "MSE": losses.MeanSquaredError,
    "mean_squared_error": losses.MeanSquaredError,
    "MeanSquaredError": losses.MeanSquaredError,
    "mae": losses.MeanAbsoluteError,
    "mape": losses.MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
    "MeanAbsolutePercentageError": losses.MeanAbsolutePercentageError,
    "msle": losses.MeanSquaredLogarithmicError,
    "cosine_similarity": losses.CosineSimilarity,
    "huber": losses.Huber,
    "Huber": losses.Huber,
    "log_cosh": losses.LogCosh,
    "hinge": losses.Hinge,
    "squared_hinge": losses.SquaredHinge,
    "categorical_hinge": losses.CategoricalHinge,
    "kld": losses.KLDivergence,
    "kl_divergence": losses.KLDivergence,
    "KLDivergence": losses.KLDivergence,
    "poisson": losses.Poisson,
    "bce": losses.BinaryCrossentropy,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "binary_focal_crossentropy": losses.BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": losses.CategoricalFocalCrossentropy,
    "dice": losses.Dice,
    "tversky": losses.Tversky,
}


@pytest.mark.parametrize("name", sorted(KERAS_LOSS_NAMES))
def test_every_keras_loss_name(name):
    assert type(losses.get(name)) is KERAS_LOSS_NAMES[name]


@pytest.mark.parametrize("cls", sorted(set(KERAS_LOSS_NAMES.values()), key=lambda c: c.__name__))
def test_loss_configs_round_trip(cls):
    loss = cls(reduction="sum")
    back = losses.deserialize(losses.serialize(loss))
    assert type(back) is cls and back.get_config() == loss.get_config()


def test_keras_positional_arguments():
    assert losses.CategoricalCrossentropy(True).from_logits  # from_logits first, as in Keras
    assert losses.MeanSquaredError("sum").reduction == "sum"  # reduction first
    assert losses.Huber(2.0).delta == 2.0


# ---------------------------------------------------------------------- subclassing
class CustomMSE(losses.Loss):
    """keras.io's "Custom losses" example, with deepcore ops for keras.ops."""

    def __init__(self, regularization_factor=0.1, name="custom_mse"):
        super().__init__(name=name)
        self.regularization_factor = regularization_factor

    def call(self, y_true, y_pred):
        mse = dc.mean((y_true - y_pred) ** 2, axis=-1)
        reg = dc.mean((0.5 - y_pred) ** 2, axis=-1)
        return mse + reg * self.regularization_factor


def test_loss_subclass_reductions_and_fit():
    t = np.array([[0.0, 1.0], [1.0, 1.0]], np.float32)
    p = dc.tensor([[0.5, 0.5], [0.0, 1.0]])
    per = ((t - p.numpy()) ** 2).mean(-1) + 0.1 * ((0.5 - p.numpy()) ** 2).mean(-1)
    assert float(CustomMSE()(t, p)) == pytest.approx(per.mean(), rel=1e-6)
    assert float(CustomMSE()(t, p, sample_weight=[1.0, 0.0])) == pytest.approx(per[0] / 2)
    loss = CustomMSE()
    loss.reduction = "mean_with_sample_weight"
    assert float(loss(t, p, sample_weight=[2.0, 0.0])) == pytest.approx(per[0], rel=1e-6)
    assert CustomMSE().name == "custom_mse"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = np.tanh(x[:, :2])
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer=optim.Adam(learning_rate=0.05), loss=CustomMSE())
    hist = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_bad_loss_arguments():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(TypeError, match="MeanSquaredError"):
        losses.MeanSquaredError(bogus=1)
    with pytest.raises(ValueError, match="delta"):
        losses.huber([1.0], dc.tensor([0.0]), delta=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=2.0)([[0.0, 1.0]], dc.tensor([[0.5, 0.5]]))
    with pytest.raises(NotImplementedError, match="call"):
        losses.Loss()([1.0], dc.tensor([1.0]))


# ---------------------------------------------------------------------- 1-D inputs (issue 13)
def test_loss_classes_treat_1d_inputs_as_one_sample_as_keras():
    """Keras reduces a loss over the last axis, so 1-D y_true / y_pred are ONE sample: its
    loss is a scalar, and a sample_weight of shape (n,) multiplies that scalar before the
    reduction (Keras's reduce_weighted_values): sum_over_batch_size gives loss * mean(w),
    'none' the n products, 'mean_with_sample_weight' the loss itself. Before the fix every
    element counted as a sample and got its own weight."""
    import deepcore.keras as keras

    y_true = np.array([0.0, 1.0, 1.0, 0.0])
    y_pred = np.array([0.5, 0.5, 1.0, 0.0])
    sw = np.array([1.0, 0.0, 2.0, 0.0])
    mse = float(np.mean((y_true - y_pred) ** 2))  # 0.125, the one sample's loss
    loss = keras.losses.MeanSquaredError()
    assert float(loss(y_true, y_pred).numpy()) == pytest.approx(mse)
    assert float(loss(y_true, y_pred, sample_weight=sw).numpy()) == pytest.approx(mse * sw.mean())
    none = keras.losses.MeanSquaredError(reduction="none")
    np.testing.assert_allclose(none(y_true, y_pred).numpy(), mse)
    np.testing.assert_allclose(none(y_true, y_pred, sample_weight=sw).numpy(), mse * sw)
    total = keras.losses.MeanSquaredError(reduction="sum")
    assert float(total(y_true, y_pred, sample_weight=sw).numpy()) == pytest.approx(mse * sw.sum())
    mean_w = keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")
    assert float(mean_w(y_true, y_pred, sample_weight=sw).numpy()) == pytest.approx(mse)
    mae = keras.losses.MeanAbsoluteError()
    got = float(mae(y_true, y_pred, sample_weight=sw).numpy())
    assert got == pytest.approx(np.mean(np.abs(y_true - y_pred)) * sw.mean())
    bce = keras.losses.BinaryCrossentropy()
    p = np.clip(y_pred, 1e-7, 1 - 1e-7)
    one = -np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
    assert float(bce(y_true, y_pred, sample_weight=sw).numpy()) == pytest.approx(
        one * sw.mean(), rel=1e-5
    )
    # (n, 1) inputs are n samples: each weight goes with its own sample
    got = float(loss(y_true[:, None], y_pred[:, None], sample_weight=sw).numpy())
    assert got == pytest.approx(np.mean(sw * (y_true - y_pred) ** 2))
