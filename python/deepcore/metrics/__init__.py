"""Keras metrics: streaming objects whose state lives in variables (``deepcore.metrics``, Keras's
``keras.metrics``).

A metric is Keras's ``Metric`` subclass pattern: state is created in ``__init__`` (after
``super().__init__()``) with ``add_variable(shape, initializer, dtype, name)``; ``update_state(
y_true, y_pred, sample_weight=None)`` folds one batch in (``variable.assign_add(...)``);
``result()`` gives the value (a Tensor) from the state; ``reset_state()`` zeroes every variable.
``metric(y_true, y_pred)`` is ``update_state`` then ``result`` (it accumulates, as in Keras).
The same objects serve ``Model.compile(metrics=[...])`` and custom training loops.

``compile(metrics=[...])`` takes every Keras name (``"accuracy"`` / ``"acc"``, ``"mse"``,
``"mape"``, ``"auc"``, ``"precision"``, ``"AUC"``, ``"TopKCategoricalAccuracy"``, ...: one
:data:`METRICS` registry, [Note: one registry per concept] in deepcore/_registry.py), Metric
objects and classes, or callables ``fn(y_true, y_pred) -> per-sample values``. A metric given by
name is logged under that name, as in Keras.

'accuracy' (and 'crossentropy' / 'ce') are resolved as Keras resolves them: from the loss when it
says (binary, categorical or sparse cross-entropy), else from the shapes of the first batch: a
single output unit is binary, targets shaped like the output are one-hot (categorical), anything
else is integer labels. The *class* ``Accuracy`` is Keras's: how often ``y_pred == y_true``.

Built-in metrics compute on the NumPy arrays behind their arguments (lists, arrays or Tensors);
``fit`` hands every metric Tensors, so a user's ``update_state`` may use ``deepcore.ops`` on
them. Per-sample values are Keras's: one per sample, or one per sample and time step for
sequence outputs (the last axis is reduced); the regression and probabilistic metrics reuse the
loss functions of deepcore.losses for those values (one formula for a loss and its metric).

[Note: weighted metrics] With ``sample_weight`` (shape (batch,), or the shape of the values;
broadcast along trailing axes) a metric is the weighted mean ``sum(w * v) / sum(w)`` over
everything seen, as Keras's ``Mean``. ``Model.compile(weighted_metrics=[...])`` metrics get the
fit/evaluate sample weights (and class weights); ``metrics=[...]`` ones do not. A model output's
mask (``Embedding(mask_zero=True)``) reaches both kinds as a 0/1 weight on its time steps.

[Note: confusion counts] The threshold metrics (TruePositives ... AUC, PrecisionAtRecall, ...)
count weighted true/false positives/negatives at a sorted set of thresholds (``pred >
threshold`` is positive) in one pass: each prediction's bucket (how many thresholds lie below
it, ``searchsorted``), one weighted ``bincount`` per class of target, and a reverse cumulative
sum gives every threshold's counts: no loop over samples or thresholds.

The package: _base.py (Variable, Metric, Mean, Sum, MeanMetricWrapper, the weighting helpers),
_mean.py (the per-sample metrics: accuracies, regression and probabilistic ones, R2Score),
_confusion.py (the threshold metrics), _iou.py (the IoU family); the registry and ``get`` /
``serialize`` / ``deserialize`` here.
"""

from __future__ import annotations

from typing import Any

from .. import losses as losses_mod
from .._registry import Registry
from ._base import (
    EPSILON,  # noqa: F401
    Mean,
    MeanMetricWrapper,
    Metric,
    Sum,
    Variable,
    weighted_totals,
)
from ._confusion import (
    AUC,
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
    confusion_counts,  # noqa: F401
)
from ._iou import (
    BinaryIoU,
    IoU,
    MeanIoU,
    OneHotIoU,
    OneHotMeanIoU,
)
from ._mean import (
    _ACCURACY_KINDS,
    _CROSSENTROPY_KINDS,
    Accuracy,
    BinaryAccuracy,
    BinaryCrossentropy,
    CategoricalAccuracy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    R2Score,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    SparseCategoricalCrossentropy,
    SparseTopKCategoricalAccuracy,
    SquaredHinge,
    TopKCategoricalAccuracy,
    _AutoMetric,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)

__all__ = [
    "Variable",
    "Metric",
    "Mean",
    "Sum",
    "MeanMetricWrapper",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanSquaredError",
    "RootMeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "CosineSimilarity",
    "LogCoshError",
    "R2Score",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "TruePositives",
    "TrueNegatives",
    "FalsePositives",
    "FalseNegatives",
    "Precision",
    "Recall",
    "AUC",
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "FBetaScore",
    "F1Score",
    "IoU",
    "MeanIoU",
    "BinaryIoU",
    "OneHotIoU",
    "OneHotMeanIoU",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "weighted_totals",
    "METRICS",
    "get",
    "serialize",
    "deserialize",
]

# ---------------------------------------------------------------------- names
#: Keras name -> metric class; the class names and abbreviations are aliases (see [Note: one
#: registry per concept] in deepcore/_registry.py). 'accuracy'/'acc' and 'crossentropy'/'ce'
#: given as strings are resolved by the loss (``get``).
METRICS: Registry[type[Metric]] = Registry("metric")
_SHORT = {
    "MeanSquaredError": ("mse",),
    "MeanAbsoluteError": ("mae",),
    "MeanAbsolutePercentageError": ("mape",),
    "MeanSquaredLogarithmicError": ("msle",),
    "BinaryCrossentropy": ("bce",),
    "KLDivergence": ("kld", "kullback_leibler_divergence"),
    "LogCoshError": ("logcosh", "log_cosh"),
    "FBetaScore": ("fbeta_score",),
    "IoU": ("iou",),
    "MeanIoU": ("mean_iou",),
    "BinaryIoU": ("binary_iou",),
    "OneHotIoU": ("one_hot_iou",),
    "OneHotMeanIoU": ("one_hot_mean_iou",),
}
for _cls in (
    Mean,
    Sum,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanSquaredError,
    RootMeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    LogCoshError,
    R2Score,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    KLDivergence,
    Poisson,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    TruePositives,
    TrueNegatives,
    FalsePositives,
    FalseNegatives,
    Precision,
    Recall,
    AUC,
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    FBetaScore,
    F1Score,
    IoU,
    MeanIoU,
    BinaryIoU,
    OneHotIoU,
    OneHotMeanIoU,
):
    _snake_name = losses_mod._snake(_cls.__name__)
    _aliases = [a for a in (_cls.__name__, *_SHORT.get(_cls.__name__, ())) if a != _snake_name]
    METRICS.register(_snake_name, _cls, aliases=_aliases)
del _cls, _snake_name, _aliases


def get(identifier: Any, loss: Any = None) -> Metric:
    """A :class:`Metric` from a name (logged under that name), a Metric (used as is), a Metric
    class, a config dict or a callable ``fn(y_true, y_pred)``. ``loss`` (a deepcore.losses.Loss)
    decides what 'accuracy' and 'crossentropy' mean."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return _AutoMetric(_ACCURACY_KINDS, identifier, loss)
        if key in ("crossentropy", "ce"):
            return _AutoMetric(_CROSSENTROPY_KINDS, identifier, loss)
        if identifier not in METRICS:
            raise ValueError(
                f"unknown metric {identifier!r}; known: accuracy, acc, crossentropy, ce, "
                f"{', '.join(METRICS.names(aliases=True))} (or pass a Metric object or a "
                "callable fn(y_true, y_pred))"
            )
        cls = METRICS.get(identifier)
        try:
            metric = cls()
        except TypeError as e:
            raise TypeError(
                f"the metric {identifier!r} needs arguments ({e}): pass {cls.__name__}(...)"
            ) from None
        metric.name = identifier
        return metric
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"metric must be a name, a Metric or a callable, got {type(identifier).__name__}"
    )


def serialize(metric: Any) -> Any:
    """JSON for what compile() was given: names stay names, built-in objects become
    ``{"class_name", "config"}``; custom metrics (code) cannot be saved."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, Metric) and METRICS.name_of(type(metric)) is not None:
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    raise ValueError(
        f"cannot save the custom metric {metric!r}: pass custom_objects to load_model(), or "
        "compile again after loading"
    )


def deserialize(config: Any, custom_objects: dict | None = None) -> Any:
    if isinstance(config, str):
        return config
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name)
    if cls is None:
        if not isinstance(name, str) or name not in METRICS:
            raise ValueError(f"unknown metric class {name!r} in the saved configuration")
        cls = METRICS.get(name)
    return cls.from_config(config.get("config", {}))
