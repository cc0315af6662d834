"""The threshold metrics from confusion counts (see [Note: confusion counts] in
deepcore/metrics/__init__.py): TruePositives ... FalseNegatives, Precision, Recall, the
*AtRecall / *AtPrecision / *AtSpecificity / *AtSensitivity family, AUC, FBetaScore, F1Score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor
from ._base import EPSILON, Metric, _divide_no_nan, _np, _same_rank, _weights_like


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
