"""Keras-level metrics: streaming objects over NumPy batches (no autograd, no graph).

``Model.compile(metrics=[...])`` accepts names ('accuracy' / 'acc', 'categorical_accuracy',
'sparse_categorical_accuracy', 'binary_accuracy', 'top_k_categorical_accuracy', 'mse', 'mae'),
:class:`Metric` objects, or callables ``fn(y_true, y_pred) -> per-sample values``.

'accuracy' is resolved as Keras resolves it: from the loss when it says (binary, categorical or
sparse cross-entropy), else from the shapes of the first batch: a single output unit is binary,
targets shaped like the output are one-hot (categorical), anything else is integer labels.
A metric's ``update_state(y_true, y_pred, sample_weight=None)`` is called once per batch with
the batch's targets and outputs as arrays, and ``result()`` is the mean over every sample seen
since ``reset_state()``. Per-sample values are Keras's: one per sample, or one per sample and
time step for sequence outputs (the last axis is reduced).

[Note: weighted metrics] With ``sample_weight`` (shape (batch,), or the shape of the values;
broadcast along trailing axes) a metric is the weighted mean ``sum(w * v) / sum(w)`` over
everything seen, as Keras's ``Mean``. ``Model.compile(weighted_metrics=[...])`` metrics get the
fit/evaluate sample weights (and class weights); ``metrics=[...]`` ones do not. A model output's
mask (``Embedding(mask_zero=True)``) reaches both kinds as a 0/1 weight on its time steps.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "Accuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "BinaryAccuracy",
    "TopKCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "binary_accuracy",
    "top_k_categorical_accuracy",
    "weighted_totals",
    "get",
    "serialize",
    "deserialize",
]


# ---------------------------------------------------------------------- per-sample functions
def categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def _sparse_labels(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    t = np.asarray(y_true)
    if t.ndim == y_pred.ndim and t.shape[-1] == 1:
        t = t.reshape(t.shape[:-1])
    return t


def sparse_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    t = _sparse_labels(y_true, y_pred)
    return (t.astype(np.int64, copy=False) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def _last_axis_mean(v: np.ndarray) -> np.ndarray:
    """Keras's per-sample value of an element-wise metric: the mean over the last axis."""
    return v.mean(axis=-1) if v.ndim > 1 else v.astype(np.float32, copy=False)


def binary_accuracy(y_true: np.ndarray, y_pred: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    t = np.asarray(y_true).reshape(y_pred.shape)
    return _last_axis_mean((y_pred > threshold) == (t > 0.5))


def top_k_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray, k: int = 5) -> np.ndarray:
    t = (
        np.argmax(y_true, axis=-1)
        if y_true.shape == y_pred.shape
        else _sparse_labels(y_true, y_pred)
    )
    k = min(k, y_pred.shape[-1])
    top = np.argpartition(-y_pred, k - 1, axis=-1)[..., :k]
    return (top == t[..., None]).any(axis=-1).astype(np.float32)


def _mse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return _last_axis_mean((y_pred - np.asarray(y_true).reshape(y_pred.shape)) ** 2)


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return _last_axis_mean(np.abs(y_pred - np.asarray(y_true).reshape(y_pred.shape)))


def weighted_totals(values: Any, sample_weight: Any = None) -> tuple[float, float]:
    """(sum of weighted values, sum of weights) for one batch (see [Note: weighted metrics])."""
    v = np.asarray(values, dtype=np.float64)
    if sample_weight is None:
        return float(v.sum()), float(v.size)
    w = np.asarray(sample_weight, dtype=np.float64)
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


# ---------------------------------------------------------------------- objects
class Metric:
    """Base class of streaming metrics."""

    #: the metric only needs the arg-max of the output, so logits serve as well as
    #: probabilities (see [Note: fused softmax cross-entropy] in deepcore.losses)
    argmax_only = False

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self) -> None:
        raise NotImplementedError

    def update_state(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        """Stateless use: the metric of this one batch."""
        self.reset_state()
        if sample_weight is None:
            self.update_state(np.asarray(y_true), np.asarray(y_pred))
        else:
            self.update_state(np.asarray(y_true), np.asarray(y_pred), sample_weight=sample_weight)
        out = self.result()
        self.reset_state()
        return out

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Mean(Metric):
    """The running (sample-weighted) mean of the values given to ``update_state(values)``."""

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(  # type: ignore[override]
        self, values: Any, sample_weight: Any = None, count: int | None = None
    ) -> None:
        if count is not None:  # a batch mean of ``count`` samples
            self.total += float(np.asarray(values, dtype=np.float64)) * count
            self.count += count
            return
        total, n = weighted_totals(values, sample_weight)
        self.total += total
        self.count += n

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The mean over samples of a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn: Callable, name: str | None = None, **kwargs: Any) -> None:
        self.fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(  # type: ignore[override]
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> None:
        total, n = weighted_totals(self.fn(y_true, y_pred, **self._fn_kwargs), sample_weight)
        self.total += total
        self.count += n


class CategoricalAccuracy(MeanMetricWrapper):
    argmax_only = True

    def __init__(self, name: str = "categorical_accuracy") -> None:
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    argmax_only = True

    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        super().__init__(sparse_categorical_accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5) -> None:
        super().__init__(binary_accuracy, name, threshold=threshold)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy") -> None:
        super().__init__(top_k_categorical_accuracy, name, k=k)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(_mse, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(_mae, name)


class Accuracy(Mean):
    """Keras's 'accuracy': binary, categorical or sparse, decided by the loss or the shapes."""

    def __init__(self, name: str = "accuracy", loss: Any = None) -> None:
        super().__init__(name)
        self._fn: Callable | None = None
        self._threshold = 0.5
        if loss is not None:
            kind = type(loss).__name__
            if kind == "BinaryCrossentropy":
                self._fn = binary_accuracy
                if getattr(loss, "from_logits", False):
                    self._threshold = 0.0  # sigmoid(z) > 0.5  <=>  z > 0
            elif getattr(loss, "sparse_targets", False):
                self._fn = sparse_categorical_accuracy
            elif kind == "CategoricalCrossentropy":
                self._fn = categorical_accuracy

    @property
    def argmax_only(self) -> bool:  # type: ignore[override]
        return self._fn is not binary_accuracy

    def _resolve(self, y_true: np.ndarray, y_pred: np.ndarray) -> Callable:
        if y_pred.ndim <= 1 or y_pred.shape[-1] == 1:
            return binary_accuracy
        if np.shape(y_true) == y_pred.shape:
            return categorical_accuracy
        return sparse_categorical_accuracy

    def update_state(  # type: ignore[override]
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None
    ) -> None:
        fn = self._fn
        if fn is None:
            fn = self._fn = self._resolve(y_true, y_pred)
        v = fn(y_true, y_pred, self._threshold) if fn is binary_accuracy else fn(y_true, y_pred)
        total, n = weighted_totals(v, sample_weight)
        self.total += total
        self.count += n


_ALIASES: dict[str, Callable[[], Metric]] = {
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "mse": lambda: MeanSquaredError("mse"),
    "mean_squared_error": MeanSquaredError,
    "mae": lambda: MeanAbsoluteError("mae"),
    "mean_absolute_error": MeanAbsoluteError,
}


def get(identifier: Any, loss: Any = None) -> Metric:
    """A fresh :class:`Metric` from a name, a Metric (used as is) or a callable. ``loss`` (a
    deepcore.losses.Loss) decides what 'accuracy' means."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return Accuracy(identifier, loss=loss)
        if key in _ALIASES:
            return _ALIASES[key]()
        raise ValueError(
            f"unknown metric {identifier!r}; known: accuracy, acc, {', '.join(sorted(_ALIASES))} "
            "(or pass a Metric object or a callable fn(y_true, y_pred))"
        )
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
    if isinstance(metric, Metric) and type(metric).__name__ in _CLASSES:
        config = metric.get_config()
        if isinstance(metric, MeanMetricWrapper):
            config.update(metric._fn_kwargs)
        return {"class_name": type(metric).__name__, "config": config}
    raise ValueError(
        f"cannot save the custom metric {metric!r}: pass custom_objects to load_model(), or "
        "compile again after loading"
    )


def deserialize(config: Any, custom_objects: dict | None = None) -> Any:
    if isinstance(config, str):
        return config
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown metric class {name!r} in the saved configuration")
    return cls(**config.get("config", {}))


_CLASSES: dict[str, type[Metric]] = {
    c.__name__: c
    for c in (
        Accuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        BinaryAccuracy,
        TopKCategoricalAccuracy,
        MeanSquaredError,
        MeanAbsoluteError,
    )
}
