"""Keras metrics: each class checked on the standalone-usage example of its Keras documentation
(inputs and expected values as keras.io gives them), the Metric subclass pattern in compile()
and in a custom training loop, every Keras name, configs and bad input."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import losses, metrics, optim
from deepcore.models import Sequential


def value(m) -> np.ndarray:
    return np.asarray(m.result())


# (metric, y_true, y_pred, sample_weight, expected) from the Keras docs' standalone usage
DOC_EXAMPLES = [
    (lambda: metrics.Mean(), None, [1, 3, 5, 7], None, 4.0),
    (lambda: metrics.Mean(), None, [1, 3, 5, 7], [1, 1, 0, 0], 2.0),
    (lambda: metrics.Sum(), None, [1, 3, 5, 7], None, 16.0),
    (lambda: metrics.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], None, 0.75),
    (
        lambda: metrics.Accuracy(),
        [[1], [2], [3], [4]],
        [[0], [2], [3], [4]],
        [1, 1, 0, 0],
        0.5,
    ),
    (
        lambda: metrics.BinaryAccuracy(),
        [[1], [1], [0], [0]],
        [[0.98], [1], [0], [0.6]],
        None,
        0.75,
    ),
    (
        lambda: metrics.BinaryAccuracy(),
        [[1], [1], [0], [0]],
        [[0.98], [1], [0], [0.6]],
        [1, 0, 0, 1],
        0.5,
    ),
    (
        lambda: metrics.CategoricalAccuracy(),
        [[0, 0, 1], [0, 1, 0]],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        None,
        0.5,
    ),
    (
        lambda: metrics.CategoricalAccuracy(),
        [[0, 0, 1], [0, 1, 0]],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        [0.7, 0.3],
        0.3,
    ),
    (
        lambda: metrics.SparseCategoricalAccuracy(),
        [[2], [1]],
        [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
        None,
        0.5,
    ),
    (
        lambda: metrics.TopKCategoricalAccuracy(k=1),
        [[0, 0, 1], [0, 1, 0]],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        None,
        0.5,
    ),
    (
        lambda: metrics.TopKCategoricalAccuracy(k=1),
        [[0, 0, 1], [0, 1, 0]],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        [0.7, 0.3],
        0.3,
    ),
    (
        lambda: metrics.SparseTopKCategoricalAccuracy(k=1),
        [2, 1],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        None,
        0.5,
    ),
    (
        lambda: metrics.MeanSquaredError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        None,
        0.25,
    ),
    (
        lambda: metrics.MeanSquaredError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        [1, 0],
        0.5,
    ),
    (
        lambda: metrics.RootMeanSquaredError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        None,
        0.5,
    ),
    (
        lambda: metrics.RootMeanSquaredError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        [1, 0],
        0.70710677,
    ),
    (
        lambda: metrics.MeanAbsoluteError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        None,
        0.25,
    ),
    (
        lambda: metrics.MeanAbsolutePercentageError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        None,
        250000000.0,
    ),
    (
        lambda: metrics.MeanAbsolutePercentageError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        [1, 0],
        500000000.0,
    ),
    (
        lambda: metrics.MeanSquaredLogarithmicError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        None,
        0.12011322,
    ),
    (
        lambda: metrics.CosineSimilarity(axis=1),
        [[0.0, 1.0], [1.0, 1.0]],
        [[1.0, 0.0], [1.0, 1.0]],
        None,
        0.5,
    ),
    (
        lambda: metrics.CosineSimilarity(axis=1),
        [[0.0, 1.0], [1.0, 1.0]],
        [[1.0, 0.0], [1.0, 1.0]],
        [0.3, 0.7],
        0.7,
    ),
    (
        lambda: metrics.LogCoshError(),
        [[0, 1], [0, 0]],
        [[1, 1], [0, 0]],
        None,
        0.10844523,
    ),
    (
        lambda: metrics.BinaryCrossentropy(),
        [[0, 1], [0, 0]],
        [[0.6, 0.4], [0.4, 0.6]],
        None,
        0.81492424,
    ),
    (
        lambda: metrics.CategoricalCrossentropy(),
        [[0, 1, 0], [0, 0, 1]],
        [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
        None,
        1.1769392,
    ),
    (
        lambda: metrics.SparseCategoricalCrossentropy(),
        [1, 2],
        [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
        None,
        1.1769392,
    ),
    (
        lambda: metrics.KLDivergence(),
        [[0, 1], [0, 0]],
        [[0.6, 0.4], [0.4, 0.6]],
        None,
        0.45814306,
    ),
    (lambda: metrics.Poisson(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], None, 0.49999997),
    (lambda: metrics.Hinge(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], None, 1.3),
    (lambda: metrics.SquaredHinge(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], None, 1.86),
    (lambda: metrics.CategoricalHinge(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], None, 1.4),
    (lambda: metrics.TruePositives(), [0, 1, 1, 1], [1, 0, 1, 1], None, 2.0),
    (lambda: metrics.TruePositives(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.FalsePositives(), [0, 1, 0, 0], [0, 0, 1, 1], None, 2.0),
    (lambda: metrics.FalsePositives(), [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.TrueNegatives(), [0, 1, 0, 0], [1, 1, 0, 0], None, 2.0),
    (lambda: metrics.FalseNegatives(), [0, 1, 1, 1], [0, 1, 0, 0], None, 2.0),
    (lambda: metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1], None, 2 / 3),
    (lambda: metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.Precision(top_k=2), [0, 0, 1, 1], [1, 1, 1, 1], None, 0.0),
    (lambda: metrics.Precision(top_k=4), [0, 0, 1, 1], [1, 1, 1, 1], None, 0.5),
    (lambda: metrics.Recall(), [0, 1, 1, 1], [1, 0, 1, 1], None, 2 / 3),
    (lambda: metrics.Recall(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], None, 0.75),
    (
        lambda: metrics.PrecisionAtRecall(0.5),
        [0, 0, 0, 1, 1],
        [0, 0.3, 0.8, 0.3, 0.8],
        None,
        0.5,
    ),
    (
        lambda: metrics.PrecisionAtRecall(0.5),
        [0, 0, 0, 1, 1],
        [0, 0.3, 0.8, 0.3, 0.8],
        [2, 2, 2, 1, 1],
        0.33333333,
    ),
    (
        lambda: metrics.RecallAtPrecision(0.8),
        [0, 0, 1, 1],
        [0, 0.5, 0.3, 0.9],
        None,
        0.5,
    ),
    (
        lambda: metrics.SensitivityAtSpecificity(0.5),
        [0, 0, 0, 1, 1],
        [0, 0.3, 0.8, 0.3, 0.8],
        None,
        0.5,
    ),
    (
        lambda: metrics.SpecificityAtSensitivity(0.5),
        [0, 0, 0, 1, 1],
        [0, 0.3, 0.8, 0.3, 0.8],
        None,
        0.66666667,
    ),
    (
        lambda: metrics.F1Score(threshold=0.5),
        [[1, 1, 1], [1, 0, 0], [1, 1, 0]],
        [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]],
        None,
        [0.5, 0.8, 0.6666667],
    ),
    (
        lambda: metrics.FBetaScore(beta=2.0, threshold=0.5),
        [[1, 1, 1], [1, 0, 0], [1, 1, 0]],
        [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]],
        None,
        [0.3846154, 0.90909094, 0.8333334],
    ),
    (
        lambda: metrics.IoU(num_classes=2, target_class_ids=[0]),
        [0, 0, 1, 1],
        [0, 1, 0, 1],
        None,
        0.33333334,
    ),
    (lambda: metrics.MeanIoU(num_classes=2), [0, 0, 1, 1], [0, 1, 0, 1], None, 0.33333334),
    (
        lambda: metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3),
        [0, 1, 0, 1],
        [0.1, 0.2, 0.4, 0.7],
        None,
        0.33333334,
    ),
    (
        lambda: metrics.R2Score(),
        [[1], [4], [3]],
        [[2], [4], [4]],
        None,
        0.57142854,
    ),
]


@pytest.mark.parametrize("make, y_true, y_pred, sw, expected", DOC_EXAMPLES)
def test_keras_documentation_examples(make, y_true, y_pred, sw, expected):
    m = make()
    kwargs = {} if sw is None else {"sample_weight": sw}
    if y_true is None:
        m.update_state(y_pred, **kwargs)
    else:
        m.update_state(y_true, y_pred, **kwargs)
    np.testing.assert_allclose(value(m), expected, rtol=1e-5, atol=1e-7)
    m.reset_state()  # state back to zero: the next result is that of the next batch alone
    if y_true is None:
        m.update_state(y_pred, **kwargs)
    else:
        m.update_state(y_true, y_pred, **kwargs)
    np.testing.assert_allclose(value(m), expected, rtol=1e-5, atol=1e-7)


def test_metrics_accumulate_over_batches_and_call_is_update_then_result():
    m = metrics.Mean()
    assert float(m([1.0, 3.0])) == 2.0
    assert float(m([5.0, 7.0])) == 4.0  # __call__ accumulates, as in Keras
    auc, ref = metrics.AUC(), metrics.AUC()
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 2, 100), rng.random(100)
    auc.update_state(t[:40], p[:40])
    auc.update_state(t[40:], p[40:])
    ref.update_state(t, p)
    assert float(auc.result()) == pytest.approx(float(ref.result()), rel=1e-12)


def test_auc_matches_exact_roc_auc_on_many_thresholds():
    """With predictions on the threshold grid, the trapezoidal ROC AUC is the exact
    Mann-Whitney statistic (ties count one half)."""
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, 400)
    p = np.round(np.clip(rng.normal(0.35 + 0.3 * t, 0.2), 0, 1) * 199) / 199
    m = metrics.AUC(num_thresholds=200)
    m.update_state(t, p)
    pos, neg = p[t == 1], p[t == 0]
    exact = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert float(m.result()) == pytest.approx(exact, abs=1e-6)
    pr = metrics.AUC(curve="PR")  # PR AUC is bounded by the precision range
    pr.update_state(t, p)
    assert 0.5 < float(pr.result()) <= 1.0


def test_auc_multi_label_averages_per_label_auc():
    rng = np.random.default_rng(2)
    t = rng.integers(0, 2, (50, 3))
    p = rng.random((50, 3))
    multi = metrics.AUC(multi_label=True)
    multi.update_state(t, p)
    per = []
    for j in range(3):
        m = metrics.AUC()
        m.update_state(t[:, j], p[:, j])
        per.append(float(m.result()))
    assert float(multi.result()) == pytest.approx(np.mean(per), rel=1e-6)


def test_precision_recall_with_several_thresholds_and_class_id():
    p = metrics.Precision(thresholds=[0.7, 0.3])
    p.update_state([0, 1, 1, 1], [0.5, 0.2, 0.8, 0.4])
    # > 0.7: one positive, correct; > 0.3: three positives, two correct
    np.testing.assert_allclose(value(p), [1.0, 2 / 3])
    r = metrics.Recall(class_id=1)
    r.update_state([[0, 1], [1, 0], [0, 1]], [[0.2, 0.8], [0.9, 0.1], [0.7, 0.3]])
    assert float(r.result()) == pytest.approx(0.5)


# ---------------------------------------------------------------------- the subclass pattern
class CategoricalTruePositives(metrics.Metric):
    """keras.io's "Writing your own metrics" example, with deepcore.ops for keras.ops."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = dc.reshape(dc.argmax(y_pred, axis=1), (-1, 1))
        values = dc.cast(y_true, "int64") == dc.cast(y_pred, "int64")
        values = dc.cast(values, "float32")
        if sample_weight is not None:
            values = values * dc.cast(dc.tensor(np.asarray(sample_weight)), "float32")
        self.true_positives.assign_add(dc.sum(values))

    def result(self):
        return self.true_positives.value

    def reset_state(self):
        self.true_positives.assign(0.0)


def test_metric_subclass_standalone():
    m = CategoricalTruePositives()
    assert m.name == "categorical_true_positives"
    assert [v.name for v in m.variables] == ["ctp"]
    m.update_state(
        dc.tensor(np.array([[1], [0], [2]])), dc.tensor([[0.1, 0.9, 0], [0.8, 0.1, 0.1], [0, 1, 0]])
    )
    assert float(m.result()) == 2.0
    m.update_state(dc.tensor(np.array([[1]])), dc.tensor([[0.0, 1.0, 0.0]]))
    assert float(m.result()) == 3.0
    m.reset_state()
    assert float(m.result()) == 0.0


def _classification(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y.reshape(-1, 1)


def test_metric_subclass_in_compile_and_fit():
    x, y = _classification()
    dc.manual_seed(0)
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(
        optimizer=optim.SGD(learning_rate=0.5),
        loss="sparse_categorical_crossentropy",
        metrics=[CategoricalTruePositives(), "acc"],
    )
    hist = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert set(hist.history) == {"loss", "acc", "categorical_true_positives"}
    # the subclass counts correct predictions over the epoch; 'acc' is their mean
    for ctp, acc in zip(hist.history["categorical_true_positives"], hist.history["acc"]):
        assert ctp == pytest.approx(acc * len(x), abs=1e-3)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert logs["categorical_true_positives"] == float((pred.argmax(1) == y[:, 0]).sum())


def test_metric_in_a_custom_training_loop():
    """keras.io's custom training loop: update_state per batch, result and reset per epoch."""
    x, _ = _classification(64, seed=3)
    y = x[:, :3].argmax(1).reshape(-1, 1)  # linearly separable: a linear model learns it
    dc.manual_seed(1)
    model = Sequential([layers.Dense(3, input_shape=(4,))])
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = optim.SGD(model.parameters(), lr=0.5)
    acc = metrics.SparseCategoricalAccuracy()
    per_epoch = []
    for _ in range(12):
        for i in range(0, 64, 16):
            logits = model(dc.tensor(x[i : i + 16]))
            loss = loss_fn(y[i : i + 16], logits)
            opt.zero_grad()
            loss.backward()
            opt.step()
            acc.update_state(y[i : i + 16], logits)
        per_epoch.append(float(acc.result()))
        acc.reset_state()
    assert per_epoch[-1] > per_epoch[0]
    final = (model(dc.tensor(x)).detach().numpy().argmax(1) == y[:, 0]).mean()
    assert final > 0.7


def test_add_variable_before_super_init_is_a_clear_error():
    class Broken(metrics.Metric):
        def __init__(self):
            self.v = self.add_variable(shape=())

    with pytest.raises(RuntimeError, match="super\\(\\).__init__"):
        Broken()


def test_variables_assign_keep_shape_and_dtype():
    m = metrics.Metric(name="m")
    v = m.add_variable(shape=(2,), initializer="ones", name="v")
    v.assign_add([1.0, 2.0])
    v.assign_sub(dc.tensor([0.5, 0.5]))
    np.testing.assert_allclose(v.numpy(), [1.5, 2.5])
    assert v.dtype == np.float32 and v.shape == (2,)
    with pytest.raises(ValueError, match="shape"):
        v.assign(np.zeros(3))
    m.reset_state()
    np.testing.assert_array_equal(v.numpy(), [0.0, 0.0])


# ---------------------------------------------------------------------- names and configs
KERAS_METRIC_NAMES = {
    "binary_accuracy": metrics.BinaryAccuracy,
    "categorical_accuracy": metrics.CategoricalAccuracy,
    "sparse_categorical_accuracy": metrics.SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": metrics.TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": metrics.SparseTopKCategoricalAccuracy,
    "mse": metrics.MeanSquaredError,
    "MSE": metrics.MeanSquaredError,
    "mean_squared_error": metrics.MeanSquaredError,
    "mae": metrics.MeanAbsoluteError,
    "mape": metrics.MeanAbsolutePercentageError,
    "MeanAbsolutePercentageError": metrics.MeanAbsolutePercentageError,
    "msle": metrics.MeanSquaredLogarithmicError,
    "root_mean_squared_error": metrics.RootMeanSquaredError,
    "cosine_similarity": metrics.CosineSimilarity,
    "logcosh": metrics.LogCoshError,
    "r2_score": metrics.R2Score,
    "bce": metrics.BinaryCrossentropy,
    "binary_crossentropy": metrics.BinaryCrossentropy,
    "categorical_crossentropy": metrics.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": metrics.SparseCategoricalCrossentropy,
    "kl_divergence": metrics.KLDivergence,
    "poisson": metrics.Poisson,
    "hinge": metrics.Hinge,
    "squared_hinge": metrics.SquaredHinge,
    "categorical_hinge": metrics.CategoricalHinge,
    "auc": metrics.AUC,
    "AUC": metrics.AUC,
    "precision": metrics.Precision,
    "Precision": metrics.Precision,
    "recall": metrics.Recall,
    "Recall": metrics.Recall,
    "true_positives": metrics.TruePositives,
    "false_negatives": metrics.FalseNegatives,
    "TopKCategoricalAccuracy": metrics.TopKCategoricalAccuracy,
    "f1_score": metrics.F1Score,
}


@pytest.mark.parametrize("name", sorted(KERAS_METRIC_NAMES))
def test_every_keras_metric_name(name):
    m = metrics.get(name)
    assert type(m) is KERAS_METRIC_NAMES[name]
    assert m.name == name  # Keras logs a metric given by name under that name


def test_metric_names_in_compile_are_the_log_keys():
    x, y = _classification(48)
    y1 = (y[:, 0] == 1).astype(np.float32)[:, None]
    model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(4,))])
    names = ["AUC", "precision", "Recall", "mse", "mape", "bce", "acc", metrics.AUC(name="a2")]
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=names)
    hist = model.fit(x, y1, batch_size=16, epochs=1, verbose=0)
    expected = {"loss", "AUC", "precision", "Recall", "mse", "mape", "bce", "acc", "a2"}
    assert set(hist.history) == expected
    assert hist.history["AUC"] == hist.history["a2"]


def test_crossentropy_metric_follows_the_loss():
    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    m = metrics.get("crossentropy", loss=losses.get("sparse_categorical_crossentropy"))
    m.update_state(y, p)
    assert float(m.result()) == pytest.approx(-np.log(p[[0, 1, 2], y]).mean(), rel=1e-5)


def test_configs_round_trip():
    for m in (
        metrics.AUC(num_thresholds=50, curve="PR", multi_label=True, num_labels=2),
        metrics.Precision(thresholds=[0.2, 0.6], class_id=1),
        metrics.TopKCategoricalAccuracy(k=3),
        metrics.F1Score(average="macro", threshold=0.4),
        metrics.MeanIoU(num_classes=4),
        metrics.BinaryAccuracy(threshold=0.3),
        metrics.PrecisionAtRecall(recall=0.7, num_thresholds=20),
        metrics.R2Score(class_aggregation=None),
    ):
        cfg = metrics.serialize(m)
        back = metrics.deserialize(cfg)
        assert type(back) is type(m) and back.get_config() == m.get_config()


def test_bad_metric_arguments():
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("not_a_metric")
    with pytest.raises(TypeError, match="metric must be"):
        metrics.get(3)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XYZ")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="target_class_ids"):
        metrics.IoU(num_classes=2, target_class_ids=[5])
    with pytest.raises(ValueError, match="NaN"):
        metrics.Precision(thresholds=[float("nan")])
    with pytest.raises(ValueError, match="class_id"):
        metrics.Recall(class_id=4).update_state([[0, 1]], [[0.2, 0.8]])
    with pytest.raises(ValueError, match="labels must lie"):
        metrics.MeanIoU(num_classes=2).update_state([0, 3], [0, 1])
    with pytest.raises(TypeError, match="unexpected|got an unexpected"):
        metrics.TopKCategoricalAccuracy(kk=2)
    with pytest.raises(ValueError, match="does not match"):
        metrics.MeanSquaredError().update_state(
            [[0.0, 1.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]], sample_weight=[1, 2, 3]
        )
    with pytest.raises(TypeError, match="MeanIoU\\(...\\)"):
        metrics.get("mean_io_u")  # needs num_classes, as in Keras
