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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from . import losses as losses_mod
from ._registry import Registry
from .autograd import no_grad
from .nn import initializers
from .tensor import Tensor

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

EPSILON = 1e-7  # Keras's backend epsilon


def _np(x: Any) -> np.ndarray:
    """The NumPy array behind a Tensor, array or nested list."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _same_rank(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``y_true`` reshaped like ``y_pred`` when they differ by a trailing axis of size 1."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        return y_true.reshape(y_true.shape[:-1])
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        return y_true.reshape(y_true.shape + (1,))
    return y_true


# ---------------------------------------------------------------------- per-sample functions
def accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Keras's ``Accuracy``: 1 where ``y_pred == y_true``."""
    p = _np(y_pred)
    return (_same_rank(_np(y_true), p) == p).astype(np.float32)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    return (np.argmax(_np(y_true), axis=-1) == np.argmax(_np(y_pred), axis=-1)).astype(np.float32)


def _sparse_labels(y_true: Any, y_pred: np.ndarray) -> np.ndarray:
    t = _np(y_true)
    if t.ndim == y_pred.ndim and t.shape[-1] == 1:
        t = t.reshape(t.shape[:-1])
    return t


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    p = _np(y_pred)
    t = _sparse_labels(y_true, p)
    return (t.astype(np.int64, copy=False) == np.argmax(p, axis=-1)).astype(np.float32)


def _last_axis_mean(v: np.ndarray) -> np.ndarray:
    """Keras's per-sample value of an element-wise metric: the mean over the last axis."""
    return v.mean(axis=-1) if v.ndim > 1 else v.astype(np.float32, copy=False)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    p = _np(y_pred)
    t = _np(y_true).reshape(p.shape)
    return _last_axis_mean((p > threshold) == (t > 0.5))


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    k = min(int(k), y_pred.shape[-1])
    top = np.argpartition(-y_pred, k - 1, axis=-1)[..., :k]
    return (top == labels[..., None]).any(axis=-1).astype(np.float32)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    t, p = _np(y_true), _np(y_pred)
    labels = np.argmax(t, axis=-1) if t.shape == p.shape else _sparse_labels(t, p)
    return _in_top_k(labels, p, k)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    p = _np(y_pred)
    return _in_top_k(_sparse_labels(y_true, p).astype(np.int64), p, k)


def _from_loss(fn: Callable, **fixed: Any) -> Callable:
    """A loss function of deepcore.losses as a metric's per-sample values (no graph)."""

    def values(y_true: Any, y_pred: Any, **kwargs: Any) -> np.ndarray:
        p = y_pred if isinstance(y_pred, Tensor) else Tensor(np.asarray(y_pred, np.float64))
        with no_grad():
            return fn(y_true, p, reduction="none", **fixed, **kwargs).data

    values.__name__ = fn.__name__
    return values


def _cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    return -_from_loss(losses_mod.cosine_similarity)(y_true, y_pred, axis=axis)


def weighted_totals(values: Any, sample_weight: Any = None) -> tuple[float, float]:
    """(sum of weighted values, sum of weights) for one batch (see [Note: weighted metrics])."""
    v = np.asarray(_np(values), dtype=np.float64)
    if sample_weight is None:
        return float(v.sum()), float(v.size)
    w = np.asarray(_np(sample_weight), dtype=np.float64)
    if w.ndim == v.ndim + 1 and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    elif v.ndim == w.ndim + 1 and v.shape[-1] == 1:
        v = v.reshape(v.shape[:-1])
    if w.ndim < v.ndim:
        w = w.reshape(w.shape + (1,) * (v.ndim - w.ndim))
    else:
        v = v.reshape(v.shape + (1,) * (w.ndim - v.ndim))
    try:
        v, w = np.broadcast_arrays(v, w)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {np.shape(sample_weight)} does not match the metric "
            f"values of shape {np.shape(values)}"
        ) from None
    return float((v * w).sum()), float(w.sum())


def _weights_like(sample_weight: Any, shape: tuple) -> np.ndarray:
    """Sample weights broadcast to ``shape`` along trailing axes (1 without weights)."""
    if sample_weight is None:
        return np.ones(shape, np.float64)
    w = np.asarray(_np(sample_weight), np.float64)
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    try:
        return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {w.shape} does not match the predictions of shape {shape}"
        ) from None


# ---------------------------------------------------------------------- state
class Variable(Tensor):
    """A metric's state (Keras's ``Variable`` API): a Tensor updated in place by ``assign``,
    ``assign_add`` and ``assign_sub`` (its shape and dtype never change; ``value`` is the live
    state, as a backend variable's is)."""

    __slots__ = ("aggregation",)

    def __init__(self, value: Any, name: str | None = None, aggregation: str = "sum") -> None:
        super().__init__(np.array(_np(value)))
        self.name = name
        self.aggregation = aggregation

    def _operand(self, value: Any) -> Any:
        if type(value) is float and not self.data.ndim:  # the common case: a batch's sum
            return value
        v = value.data if isinstance(value, Tensor) else value
        if np.shape(v) != self.data.shape:
            try:
                np.broadcast_to(v, self.data.shape)
            except ValueError:
                raise ValueError(
                    f"cannot assign a value of shape {np.shape(v)} to the variable "
                    f"{self.name!r} of shape {self.data.shape}"
                ) from None
        return v

    def assign(self, value: Any) -> Variable:
        np.copyto(self.data, self._operand(value), casting="unsafe")
        return self

    def assign_add(self, value: Any) -> Variable:
        np.add(self.data, self._operand(value), out=self.data, casting="unsafe")
        return self

    def assign_sub(self, value: Any) -> Variable:
        np.subtract(self.data, self._operand(value), out=self.data, casting="unsafe")
        return self

    @property
    def value(self) -> Tensor:
        return Tensor._wrap(self.data)


# ---------------------------------------------------------------------- base classes
class Metric:
    """Base class of metrics (see the module docstring for the subclass pattern)."""

    #: the metric only needs the arg-max of the output, so logits serve as well as
    #: probabilities (see [Note: fused softmax cross-entropy] in deepcore.losses)
    argmax_only = False

    def __init__(self, dtype: Any = None, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name or losses_mod._snake(type(self).__name__)
        self._dtype = np.dtype(dtype or "float32")
        self._variables: list[Variable] = []

    @property
    def dtype(self) -> str:
        return self._dtype.name

    def add_variable(
        self,
        shape: Any = (),
        initializer: Any = "zeros",
        dtype: Any = None,
        aggregation: str = "sum",
        name: str | None = None,
    ) -> Variable:
        """A new state variable of ``shape`` (reset to zeros by ``reset_state``)."""
        if "_variables" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() in __init__ before add_variable()"
            )
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
        init = initializers.get(initializer if initializer is not None else "zeros")
        value = init(shape, np.dtype(dtype or self._dtype).name)
        v = Variable(value, name=name, aggregation=aggregation)
        self._variables.append(v)
        return v

    def add_weight(
        self, shape: Any = (), initializer: Any = None, dtype: Any = None, name: str | None = None
    ) -> Variable:
        return self.add_variable(shape, initializer, dtype, name=name)

    @property
    def variables(self) -> list[Variable]:
        return list(self._variables)

    def reset_state(self) -> None:
        """Zero every state variable (between epochs, or by hand)."""
        for v in self._variables:
            v.assign(np.zeros(v.shape, v.dtype))

    def reset_states(self) -> None:  # tf.keras 2's name
        self.reset_state()

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``update_state(...)`` then ``result()`` (accumulates, as in Keras)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def _out(self, value: Any) -> Tensor:
        """A result in the metric's dtype."""
        return Tensor(np.asarray(value, dtype=self._dtype))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The running (sample-weighted) mean of the values given to ``update_state(values)``."""

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", "float64", name="total")
        self.count = self.add_variable((), "zeros", "float64", name="count")

    def _accumulate(self, values: Any, sample_weight: Any) -> None:
        total, n = weighted_totals(values, sample_weight)
        self.total.assign_add(total)
        self.count.assign_add(n)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self._accumulate(values, sample_weight)

    def result(self) -> Tensor:
        return self._out(_divide_no_nan(self.total.data, self.count.data))


class Sum(Metric):
    """The running (sample-weighted) sum of the values."""

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", "float64", name="total")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self.total.assign_add(weighted_totals(values, sample_weight)[0])

    def result(self) -> Tensor:
        return self._out(self.total.data)


class MeanMetricWrapper(Mean):
    """The mean over samples of a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn: Callable, name: str | None = None, dtype: Any = None, **kwargs: Any):
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def update_state(  # type: ignore[override]
        self, y_true: Any, y_pred: Any, sample_weight: Any = None
    ) -> None:
        self._accumulate(self.fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


def _metric_class(
    cls_name: str,
    fn: Callable,
    name: str,
    doc: str,
    argmax: bool = False,
    first: tuple[tuple[str, Any], ...] = (),
    **params: Any,
) -> type:
    """A MeanMetricWrapper class over ``fn`` with Keras's signature ``(*first, name, dtype,
    *params)``."""
    order = [*first, ("name", name), ("dtype", None), *params.items()]
    return losses_mod.wrapper_class(
        MeanMetricWrapper,
        cls_name,
        fn,
        doc,
        order,
        ("name", "dtype"),
        module=__name__,
        argmax_only=argmax,
    )


Accuracy = _metric_class("Accuracy", accuracy, "accuracy", "How often y_pred == y_true.")
BinaryAccuracy = _metric_class(
    "BinaryAccuracy",
    binary_accuracy,
    "binary_accuracy",
    "How often (y_pred > threshold) matches the 0/1 target.",
    threshold=0.5,
)
CategoricalAccuracy = _metric_class(
    "CategoricalAccuracy",
    categorical_accuracy,
    "categorical_accuracy",
    "How often the arg-max matches the one-hot target.",
    argmax=True,
)
SparseCategoricalAccuracy = _metric_class(
    "SparseCategoricalAccuracy",
    sparse_categorical_accuracy,
    "sparse_categorical_accuracy",
    "How often the arg-max matches the integer target.",
    argmax=True,
)
TopKCategoricalAccuracy = _metric_class(
    "TopKCategoricalAccuracy",
    top_k_categorical_accuracy,
    "top_k_categorical_accuracy",
    "How often the one-hot target is among the k largest predictions.",
    first=(("k", 5),),
)
SparseTopKCategoricalAccuracy = _metric_class(
    "SparseTopKCategoricalAccuracy",
    sparse_top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy",
    "How often the integer target is among the k largest predictions.",
    first=(("k", 5),),
)
MeanSquaredError = _metric_class(
    "MeanSquaredError",
    _from_loss(losses_mod.mean_squared_error),
    "mean_squared_error",
    "mean((y_pred - y_true)²)",
)
MeanAbsoluteError = _metric_class(
    "MeanAbsoluteError",
    _from_loss(losses_mod.mean_absolute_error),
    "mean_absolute_error",
    "mean(|y_pred - y_true|)",
)
MeanAbsolutePercentageError = _metric_class(
    "MeanAbsolutePercentageError",
    _from_loss(losses_mod.mean_absolute_percentage_error),
    "mean_absolute_percentage_error",
    "100 mean(|y_true - y_pred| / max(|y_true|, eps))",
)
MeanSquaredLogarithmicError = _metric_class(
    "MeanSquaredLogarithmicError",
    _from_loss(losses_mod.mean_squared_logarithmic_error),
    "mean_squared_logarithmic_error",
    "mean((log(1 + y_pred) - log(1 + y_true))²)",
)
CosineSimilarity = _metric_class(
    "CosineSimilarity",
    _cosine_similarity,
    "cosine_similarity",
    "The cosine of y_true and y_pred along axis.",
    axis=-1,
)
LogCoshError = _metric_class(
    "LogCoshError", _from_loss(losses_mod.log_cosh), "logcosh", "mean(log(cosh(y_pred - y_true)))"
)
BinaryCrossentropy = _metric_class(
    "BinaryCrossentropy",
    _from_loss(losses_mod.binary_crossentropy),
    "binary_crossentropy",
    "Binary cross-entropy.",
    from_logits=False,
    label_smoothing=0.0,
)
CategoricalCrossentropy = _metric_class(
    "CategoricalCrossentropy",
    _from_loss(losses_mod.categorical_crossentropy),
    "categorical_crossentropy",
    "Cross-entropy with one-hot targets.",
    from_logits=False,
    label_smoothing=0.0,
)
SparseCategoricalCrossentropy = _metric_class(
    "SparseCategoricalCrossentropy",
    _from_loss(losses_mod.sparse_categorical_crossentropy),
    "sparse_categorical_crossentropy",
    "Cross-entropy with integer targets.",
    from_logits=False,
)
KLDivergence = _metric_class(
    "KLDivergence",
    _from_loss(losses_mod.kl_divergence),
    "kl_divergence",
    "sum(y_true log(y_true / y_pred))",
)
Poisson = _metric_class(
    "Poisson", _from_loss(losses_mod.poisson), "poisson", "mean(y_pred - y_true log(y_pred))"
)
Hinge = _metric_class(
    "Hinge", _from_loss(losses_mod.hinge), "hinge", "mean(max(1 - y_true y_pred, 0))"
)
SquaredHinge = _metric_class(
    "SquaredHinge",
    _from_loss(losses_mod.squared_hinge),
    "squared_hinge",
    "mean(max(1 - y_true y_pred, 0)²)",
)
CategoricalHinge = _metric_class(
    "CategoricalHinge",
    _from_loss(losses_mod.categorical_hinge),
    "categorical_hinge",
    "max(0, max((1 - y_true) y_pred) - sum(y_true y_pred) + 1)",
)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared errors over every entry."""

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)

    def update_state(  # type: ignore[override]
        self, y_true: Any, y_pred: Any, sample_weight: Any = None
    ) -> None:
        p = _np(y_pred).astype(np.float64)
        t = _same_rank(_np(y_true), p)
        self._accumulate((p - t) ** 2, sample_weight)

    def result(self) -> Tensor:
        return self._out(np.sqrt(_divide_no_nan(self.total.data, self.count.data)))


class _AutoMetric(Mean):
    """'accuracy' / 'crossentropy' by name: the binary, categorical or sparse kind, chosen by the
    loss when it says, else by the shapes of the first batch (see the module docstring)."""

    def __init__(self, kinds: dict[str, Callable], name: str, loss: Any = None) -> None:
        super().__init__(name=name)
        self._kinds = kinds
        self._fn: Callable | None = None
        self._kwargs: dict = {}
        if loss is not None:
            kind = type(loss).__name__
            if kind == "BinaryCrossentropy":
                self._fn = kinds["binary"]
                if getattr(loss, "from_logits", False):
                    self._kwargs = kinds.get("binary_logits", {})
            elif getattr(loss, "sparse_targets", False):
                self._fn = kinds["sparse"]
            elif kind == "CategoricalCrossentropy":
                self._fn = kinds["categorical"]

    @property
    def argmax_only(self) -> bool:  # type: ignore[override]
        return self._kinds.get("argmax", False) and self._fn is not self._kinds["binary"]

    def update_state(  # type: ignore[override]
        self, y_true: Any, y_pred: Any, sample_weight: Any = None
    ) -> None:
        fn = self._fn
        if fn is None:
            p = _np(y_pred)
            if p.ndim <= 1 or p.shape[-1] == 1:
                fn = self._kinds["binary"]
            elif np.shape(_np(y_true)) == p.shape:
                fn = self._kinds["categorical"]
            else:
                fn = self._kinds["sparse"]
            self._fn = fn
        self._accumulate(fn(y_true, y_pred, **self._kwargs), sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name}


_ACCURACY_KINDS = {
    "binary": binary_accuracy,
    "binary_logits": {"threshold": 0.0},  # sigmoid(z) > 0.5  <=>  z > 0
    "categorical": categorical_accuracy,
    "sparse": sparse_categorical_accuracy,
    "argmax": True,
}
_CROSSENTROPY_KINDS = {
    "binary": _from_loss(losses_mod.binary_crossentropy),
    "binary_logits": {"from_logits": True},
    "categorical": _from_loss(losses_mod.categorical_crossentropy),
    "sparse": _from_loss(losses_mod.sparse_categorical_crossentropy),
}


class R2Score(Metric):
    """The coefficient of determination 1 - SS_res / SS_tot per output, aggregated by
    ``class_aggregation`` ('uniform_average', 'variance_weighted_average' or None); with
    ``num_regressors`` the adjusted R²."""

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in ("uniform_average", "variance_weighted_average", None):
            raise ValueError(
                "class_aggregation must be 'uniform_average', 'variance_weighted_average' or "
                f"None, got {class_aggregation!r}"
            )
        if not isinstance(num_regressors, (int, np.integer)) or num_regressors < 0:
            raise ValueError(f"num_regressors must be a non-negative int, got {num_regressors!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        self.num_samples = self.add_variable((), "zeros", "float64", name="num_samples")
        self._built = False

    def _build(self, n_out: int) -> None:
        self.squared_sum = self.add_variable((n_out,), "zeros", "float64", name="squared_sum")
        self.sum = self.add_variable((n_out,), "zeros", "float64", name="sum")
        self.total_mse = self.add_variable((n_out,), "zeros", "float64", name="residual")
        self.count = self.add_variable((n_out,), "zeros", "float64", name="count")
        self._built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        p = _np(y_pred).astype(np.float64)
        t = _np(y_true).astype(np.float64)
        if p.ndim == 1:
            p = p[:, None]
        if t.ndim == 1:
            t = t[:, None]
        if p.ndim != 2 or t.shape != p.shape:
            raise ValueError(
                f"R2Score expects y_true and y_pred of the same shape (samples, outputs), got "
                f"{t.shape} and {p.shape}"
            )
        if not self._built:
            self._build(p.shape[1])
        w = _weights_like(sample_weight, p.shape)
        self.sum.assign_add((t * w).sum(0))
        self.squared_sum.assign_add((t * t * w).sum(0))
        self.total_mse.assign_add(((t - p) ** 2 * w).sum(0))
        self.count.assign_add(w.sum(0))
        self.num_samples.assign_add(p.shape[0])

    def result(self) -> Tensor:
        if not self._built:
            return self._out(0.0)
        mean = _divide_no_nan(self.sum.data, self.count.data)
        total = self.squared_sum.data - self.sum.data * mean
        raw = 1.0 - _divide_no_nan(self.total_mse.data, total)
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            r2 = (raw * _divide_no_nan(total, total.sum())).sum()
        else:
            r2 = raw
        if self.num_regressors:
            n, k = float(self.num_samples.data), self.num_regressors
            if n - k - 1 > 0:
                r2 = 1.0 - (1.0 - r2) * (n - 1.0) / (n - k - 1.0)
        return self._out(r2)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }


# ---------------------------------------------------------------------- confusion counts
def _keep_top_k(p: np.ndarray, k: int) -> np.ndarray:
    """Entries outside the top ``k`` of the last axis set to -inf (ties: the lower index
    first, as top_k)."""
    order = np.argsort(-p, axis=-1, kind="stable")[..., : int(k)]
    out = np.full(p.shape, -np.inf)
    np.put_along_axis(out, order, np.take_along_axis(p, order, axis=-1), axis=-1)
    return out


def confusion_counts(
    y_true: Any,
    y_pred: Any,
    thresholds: np.ndarray,
    sample_weight: Any = None,
    multi_label: bool = False,
    top_k: int | None = None,
    class_id: int | None = None,
) -> dict[str, np.ndarray]:
    """Weighted tp/fp/tn/fn at each of the sorted ``thresholds`` (see [Note: confusion
    counts]): arrays of shape (T,), or (T, labels) with ``multi_label``."""
    p = _np(y_pred).astype(np.float64)
    t = _same_rank(_np(y_true), p)
    if t.shape != p.shape:
        try:
            t = np.broadcast_to(t, p.shape)
        except ValueError:
            raise ValueError(
                f"y_true of shape {t.shape} does not match y_pred of shape {p.shape}"
            ) from None
    w = _weights_like(sample_weight, p.shape)
    if top_k is not None:
        p = _keep_top_k(p, top_k)
    if class_id is not None:
        if p.ndim == 0 or not 0 <= int(class_id) < p.shape[-1]:
            raise ValueError(f"class_id {class_id} is out of range for predictions {p.shape}")
        p, t, w = p[..., class_id], t[..., class_id], w[..., class_id]
    pos = t.astype(bool)
    n_thr = len(thresholds)
    bucket = np.searchsorted(thresholds, p, side="left")  # thresholds strictly below p
    if multi_label:
        n_lab = p.shape[-1] if p.ndim else 1
        bucket = bucket.reshape(-1, n_lab) + (n_thr + 1) * np.arange(n_lab)
    else:
        n_lab = 1
    size = (n_thr + 1) * n_lab
    out = {}
    for key, mask in (("p", pos), ("n", ~pos)):
        hist = np.bincount(
            bucket.ravel(), weights=(w * mask).reshape(bucket.shape).ravel(), minlength=size
        )
        hist = hist.reshape(n_lab, n_thr + 1).T  # (T + 1, labels)
        above = np.cumsum(hist[::-1], axis=0)[::-1]  # above[b]: weight in buckets >= b
        out[key] = (above[1:], above[0] - above[1:])  # (> threshold, <= threshold)
    counts = {"tp": out["p"][0], "fn": out["p"][1], "fp": out["n"][0], "tn": out["n"][1]}
    if not multi_label:
        counts = {k: v[:, 0] for k, v in counts.items()}
    return counts


def _thresholds(thresholds: Any, default: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """(sorted thresholds, the permutation back to the user's order, was one number)."""
    single = thresholds is None or np.ndim(thresholds) == 0
    thr = np.atleast_1d(np.asarray(default if thresholds is None else thresholds, np.float64))
    if thr.ndim != 1 or thr.size == 0:
        raise ValueError(f"thresholds must be a number or a list of numbers, got {thresholds!r}")
    if np.any(np.isnan(thr)):
        raise ValueError("thresholds must not be NaN")
    order = np.argsort(thr, kind="stable")
    return thr[order], np.argsort(order), single


_COUNT_NAMES = {
    "tp": "true_positives",
    "fp": "false_positives",
    "tn": "true_negatives",
    "fn": "false_negatives",
}
_ALL_COUNTS = tuple(_COUNT_NAMES)


def _count_variables(metric: Metric, shape: tuple, keys: Sequence[str] = _ALL_COUNTS) -> None:
    """The state of a confusion-count metric: one variable per count, named as in Keras."""
    for key in keys:
        name = _COUNT_NAMES[key]
        setattr(metric, name, metric.add_variable(shape, "zeros", "float64", name=name))


def _add_counts(metric: Metric, counts: dict, keys: Sequence[str] = _ALL_COUNTS) -> None:
    for key in keys:
        getattr(metric, _COUNT_NAMES[key]).assign_add(counts[key])


class _ConfusionMetric(Metric):
    """Metrics over the confusion counts at thresholds (see [Note: confusion counts])."""

    _counts: tuple[str, ...] = ()

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else -np.inf  # top-k: every kept entry is positive
        self.thresholds, self._unsort, self._single = _thresholds(thresholds, default)
        _count_variables(self, (len(self.thresholds),), self._counts)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        counts = confusion_counts(
            y_true, y_pred, self.thresholds, sample_weight, top_k=self.top_k, class_id=self.class_id
        )
        _add_counts(self, counts, self._counts)

    def _value(self, v: np.ndarray) -> Tensor:
        v = np.asarray(v)[self._unsort]
        return self._out(v[0] if self._single else v)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


def _count_metric(key: str) -> type:
    cls_name = "".join(w.capitalize() for w in _COUNT_NAMES[key].split("_"))

    def __init__(self: Any, thresholds: Any = None, name: str | None = None, dtype: Any = None):
        _ConfusionMetric.__init__(self, thresholds, name=name, dtype=dtype)

    def result(self: Any) -> Tensor:
        return self._value(getattr(self, _COUNT_NAMES[key]).data)

    def get_config(self: Any) -> dict:
        return {**Metric.get_config(self), "thresholds": self.init_thresholds}

    return type(
        cls_name,
        (_ConfusionMetric,),
        {
            "__init__": __init__,
            "result": result,
            "get_config": get_config,
            "_counts": (key,),
            "__doc__": f"The weighted number of {_COUNT_NAMES[key].replace('_', ' ')}.",
        },
    )


TruePositives = _count_metric("tp")
FalsePositives = _count_metric("fp")
TrueNegatives = _count_metric("tn")
FalseNegatives = _count_metric("fn")


class Precision(_ConfusionMetric):
    """tp / (tp + fp) at ``thresholds`` (default 0.5; with ``top_k``, the top k are positive)."""

    _counts = ("tp", "fp")

    def result(self) -> Tensor:
        tp, fp = self.true_positives.data, self.false_positives.data
        return self._value(_divide_no_nan(tp, tp + fp))


class Recall(_ConfusionMetric):
    """tp / (tp + fn) at ``thresholds`` (default 0.5; with ``top_k``, the top k are positive)."""

    _counts = ("tp", "fn")

    def result(self) -> Tensor:
        tp, fn = self.true_positives.data, self.false_negatives.data
        return self._value(_divide_no_nan(tp, tp + fn))


class _AtConstraint(Metric):
    """Best value of one rate where another reaches ``value`` (Keras's
    SensitivitySpecificityBase): counts at ``num_thresholds`` evenly spaced thresholds."""

    _constrained = ""
    _dependent = ""

    def __init__(
        self,
        value: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"the constraint value must be in [0, 1], got {value}")
        if not isinstance(num_thresholds, (int, np.integer)) or num_thresholds < 1:
            raise ValueError(f"num_thresholds must be a positive int, got {num_thresholds!r}")
        self.value = float(value)
        self.num_thresholds = int(num_thresholds)
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = np.array([0.5])
        else:
            inner = np.arange(1, num_thresholds - 1) / (num_thresholds - 1.0)
            self.thresholds = np.concatenate([[0.0], inner, [1.0]])
        _count_variables(self, (len(self.thresholds),))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        counts = confusion_counts(
            y_true, y_pred, self.thresholds, sample_weight, class_id=self.class_id
        )
        _add_counts(self, counts)

    def _rates(self) -> dict[str, np.ndarray]:
        tp, fp = self.true_positives.data, self.false_positives.data
        tn, fn = self.true_negatives.data, self.false_negatives.data
        return {
            "sensitivity": _divide_no_nan(tp, tp + fn),  # = recall
            "specificity": _divide_no_nan(tn, tn + fp),
            "precision": _divide_no_nan(tp, tp + fp),
        }

    def result(self) -> Tensor:
        r = self._rates()
        feasible = r[self._constrained] >= self.value
        best = r[self._dependent][feasible].max() if feasible.any() else 0.0
        return self._out(best)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            self._arg: self.value,
            "num_thresholds": self.num_thresholds,
            "class_id": self.class_id,
        }


def _at_constraint(cls_name: str, arg: str, constrained: str, dependent: str) -> type:
    def __init__(
        self: Any,
        value: float | None = None,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        if arg in kwargs:
            value = kwargs.pop(arg)
        if kwargs:
            raise TypeError(f"{cls_name}: unexpected keyword argument(s) {sorted(kwargs)}")
        if value is None:
            raise TypeError(f"{cls_name} needs {arg}")
        _AtConstraint.__init__(self, value, num_thresholds, class_id, name, dtype)

    return type(
        cls_name,
        (_AtConstraint,),
        {
            "__init__": __init__,
            "_constrained": constrained,
            "_dependent": dependent,
            "_arg": arg,
            "__doc__": f"The best {dependent} where {constrained} >= the given {arg}.",
        },
    )


PrecisionAtRecall = _at_constraint("PrecisionAtRecall", "recall", "sensitivity", "precision")
RecallAtPrecision = _at_constraint("RecallAtPrecision", "precision", "precision", "sensitivity")
SensitivityAtSpecificity = _at_constraint(
    "SensitivityAtSpecificity", "specificity", "specificity", "sensitivity"
)
SpecificityAtSensitivity = _at_constraint(
    "SpecificityAtSensitivity", "sensitivity", "sensitivity", "specificity"
)


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at
    ``num_thresholds`` thresholds (Keras's Riemann sums; 'interpolation' on the PR curve is
    Davis & Goadrich's). ``multi_label``: one curve per label, averaged (``label_weights``)."""

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: Any = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ) -> None:
        super().__init__(name=name or "auc", dtype=dtype)
        curve = str(curve).upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"curve must be 'ROC' or 'PR', got {curve!r}")
        summation_method = str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(
                "summation_method must be 'interpolation', 'minoring' or 'majoring', got "
                f"{summation_method!r}"
            )
        self.curve, self.summation_method = curve, summation_method
        self.multi_label, self.from_logits = bool(multi_label), bool(from_logits)
        self.label_weights = None if label_weights is None else np.asarray(label_weights, float)
        self._init_thresholds = thresholds
        if thresholds is not None:
            inner = np.sort(np.asarray(thresholds, np.float64).ravel())
            self.num_thresholds = len(inner) + 2
        else:
            if not isinstance(num_thresholds, (int, np.integer)) or num_thresholds <= 1:
                raise ValueError(f"num_thresholds must be an int > 1, got {num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = np.arange(1, self.num_thresholds - 1) / (self.num_thresholds - 1.0)
        self.thresholds = np.concatenate([[0.0 - EPSILON], inner, [1.0 + EPSILON]])
        self.num_labels = num_labels
        self._built = False
        if not self.multi_label or num_labels is not None:
            self._build(num_labels if self.multi_label else None)

    def _build(self, num_labels: int | None) -> None:
        shape = (self.num_thresholds,) if num_labels is None else (self.num_thresholds, num_labels)
        _count_variables(self, shape)
        self.num_labels = num_labels
        self._built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        p = _np(y_pred).astype(np.float64)
        if self.from_logits:
            p = 1.0 / (1.0 + np.exp(-p))
        if not self._built:
            self._build(p.shape[-1] if p.ndim else 1)
        counts = confusion_counts(y_true, p, self.thresholds, sample_weight, self.multi_label)
        _add_counts(self, counts)

    def _interpolate_pr_auc(self, tp, fp, fn) -> np.ndarray:  # noqa: ANN001
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(
                (p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0
            )
            inc = _divide_no_nan(
                slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)
            )
        return inc.sum(axis=0)

    def result(self) -> Tensor:
        if not self._built:
            return self._out(0.0)
        tp, fp = self.true_positives.data, self.false_positives.data
        tn, fn = self.true_negatives.data, self.false_negatives.data
        if self.curve == "PR" and self.summation_method == "interpolation":
            per = self._interpolate_pr_auc(tp, fp, fn)
        else:
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            else:
                x, y = recall, _divide_no_nan(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            per = ((x[:-1] - x[1:]) * heights).sum(axis=0)
        if self.multi_label:
            if self.label_weights is None:
                return self._out(per.mean())
            return self._out(
                _divide_no_nan((per * self.label_weights).sum(), self.label_weights.sum())
            )
        return self._out(per)

    def get_config(self) -> dict:
        cfg = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "from_logits": self.from_logits,
        }
        if self._init_thresholds is not None:
            cfg["thresholds"] = np.asarray(self._init_thresholds, float).tolist()
        if self.label_weights is not None:
            cfg["label_weights"] = self.label_weights.tolist()
        return cfg


class FBetaScore(Metric):
    """(1 + β²) · precision · recall / (β² · precision + recall) per class (``average``:
    None, 'micro', 'macro' or 'weighted'); predictions above ``threshold`` are positive, or the
    arg-max without a threshold."""

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                f"average must be None, 'micro', 'macro' or 'weighted', got {average!r}"
            )
        if not float(beta) > 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self._built = False

    def _build(self, n: int) -> None:
        for attr in (
            "true_positives",
            "false_positives",
            "false_negatives",
            "intermediate_weights",
        ):
            setattr(self, attr, self.add_variable((n,), "zeros", "float64", name=attr))
        self._built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        p = _np(y_pred).astype(np.float64)
        t = _np(y_true).astype(np.float64)
        if p.ndim != 2 or t.shape != p.shape:
            raise ValueError(
                f"{type(self).__name__} expects y_true and y_pred of shape (samples, classes), "
                f"got {t.shape} and {p.shape}"
            )
        if not self._built:
            self._build(p.shape[1])
        if self.threshold is None:
            pred = (p >= p.max(axis=-1, keepdims=True)).astype(np.float64)
        else:
            pred = (p > self.threshold).astype(np.float64)
        w = _weights_like(sample_weight, p.shape)
        self.true_positives.assign_add((pred * t * w).sum(0))
        self.false_positives.assign_add((pred * (1 - t) * w).sum(0))
        self.false_negatives.assign_add(((1 - pred) * t * w).sum(0))
        self.intermediate_weights.assign_add((t * w).sum(0))

    def result(self) -> Tensor:
        if not self._built:
            return self._out(0.0)
        tp, fp = self.true_positives.data, self.false_positives.data
        fn = self.false_negatives.data
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = _divide_no_nan(tp, tp + fp)
        recall = _divide_no_nan(tp, tp + fn)
        b2 = self.beta**2
        f = _divide_no_nan(precision * recall, b2 * precision + recall) * (1 + b2)
        if self.average == "weighted":
            iw = self.intermediate_weights.data
            f = (f * _divide_no_nan(iw, iw.sum())).sum()
        elif self.average is not None:
            f = np.mean(f)
        return self._out(f)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """FBetaScore with β = 1."""

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str = "f1_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["beta"]
        return cfg


class IoU(Metric):
    """Intersection over union tp / (tp + fp + fn) of ``target_class_ids``, averaged, from a
    (num_classes x num_classes) confusion matrix (rows: targets, columns: predictions)."""

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        ids = [int(i) for i in target_class_ids]
        if any(not 0 <= i < num_classes for i in ids):
            raise ValueError(f"target_class_ids {ids} must lie in [0, {num_classes})")
        self.num_classes, self.target_class_ids = int(num_classes), ids
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        self.total_cm = self.add_variable(
            (self.num_classes, self.num_classes), "zeros", "float64", name="total_confusion_matrix"
        )

    def _labels(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        t, p = _np(y_true), _np(y_pred)
        if not self.sparse_y_true:
            t = np.argmax(t, axis=self.axis)
        if not self.sparse_y_pred:
            p = np.argmax(p, axis=self.axis)
        return t, p

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        t, p = (np.asarray(a) for a in self._labels(y_true, y_pred))
        if t.shape != p.shape:
            raise ValueError(
                f"{type(self).__name__}: y_true and y_pred give labels of shapes {t.shape} and "
                f"{p.shape}"
            )
        w = _weights_like(sample_weight, t.shape).ravel()
        t, p = t.ravel(), p.ravel()
        keep = np.ones(t.shape, bool)
        if self.ignore_class is not None:
            keep &= t != self.ignore_class
        t, p, w = t[keep].astype(np.int64), p[keep].astype(np.int64), w[keep]
        k = self.num_classes
        if t.size and (t.min() < 0 or t.max() >= k or p.min() < 0 or p.max() >= k):
            raise ValueError(f"{type(self).__name__}: labels must lie in [0, {k})")
        cm = np.bincount(t * k + p, weights=w, minlength=k * k).reshape(k, k)
        self.total_cm.assign_add(cm)

    def result(self) -> Tensor:
        cm = self.total_cm.data
        tp = np.diag(cm)
        denom = cm.sum(0) + cm.sum(1) - tp
        ids = self.target_class_ids
        tp, denom = tp[ids], denom[ids]
        valid = (denom != 0).sum()
        return self._out(_divide_no_nan(_divide_no_nan(tp, denom).sum(), valid))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class MeanIoU(IoU):
    """IoU averaged over every class."""

    def __init__(self, num_classes: int, name: str | None = None, dtype: Any = None, **kwargs: Any):
        kwargs.pop("target_class_ids", None)
        super().__init__(
            num_classes, list(range(int(num_classes))), name=name, dtype=dtype, **kwargs
        )

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["target_class_ids"]
        return cfg


class BinaryIoU(IoU):
    """IoU of binary predictions: ``y_pred >= threshold`` is class 1."""

    def __init__(
        self,
        target_class_ids: Sequence[int] = (0, 1),
        threshold: float = 0.5,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = float(threshold)

    def _labels(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        return _np(y_true), (_np(y_pred) >= self.threshold).astype(np.int64)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
        }


class OneHotIoU(IoU):
    """IoU with one-hot targets and per-class scores (the arg-max is the label)."""

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ):
        kwargs.update(sparse_y_true=False, sparse_y_pred=False)
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, **kwargs)


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot targets and per-class scores."""

    def __init__(self, num_classes: int, name: str | None = None, dtype: Any = None, **kwargs: Any):
        kwargs.update(sparse_y_true=False, sparse_y_pred=False)
        super().__init__(num_classes, name=name, dtype=dtype, **kwargs)


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
