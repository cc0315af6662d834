"""The intersection-over-union metrics (IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU)
from a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor
from ._base import Metric, _divide_no_nan, _np, _weights_like


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
