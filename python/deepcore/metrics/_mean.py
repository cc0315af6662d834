"""The metrics that are the weighted mean of per-sample values: the accuracies, the
regression and probabilistic metrics over the loss functions of deepcore.losses,
RootMeanSquaredError, 'accuracy' / 'crossentropy' resolved by the loss, and R2Score."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import losses as losses_mod
from ..autograd import no_grad
from ..tensor import Tensor
from ._base import Mean, Metric, _divide_no_nan, _metric_class, _np, _same_rank, _weights_like


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
