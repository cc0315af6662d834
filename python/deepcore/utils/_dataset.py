"""``PyDataset`` (Keras's base class for Python data sources that give whole batches) and
``split_dataset``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._checks import is_real, positive_int
from ..tensor import Tensor

__all__ = ["PyDataset", "Sequence", "split_dataset"]


class PyDataset:
    """Base class for a dataset of batches: implement ``__getitem__(index)`` (batch ``index``
    as ``x``, ``(x, y)`` or ``(x, y, sample_weight)``) and ``__len__`` (the number of batches,
    or override the ``num_batches`` property); ``on_epoch_begin`` / ``on_epoch_end`` run
    around every epoch of ``fit`` (reshuffle there). Pass it to ``fit`` / ``evaluate`` /
    ``predict`` as ``x``.

    ``workers > 1`` reads batches in that many threads (processes with
    ``use_multiprocessing=True``), up to ``max_queue_size`` batches ahead of the training
    step, handed out in order (Keras 3's prefetching; see [Note: PyDataset workers] in
    deepcore/models/data_adapter.py)."""

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        self._workers = positive_int("workers", workers)
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = positive_int("max_queue_size", max_queue_size)

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    @property
    def num_batches(self) -> int:
        """The number of batches (``len(self)`` by default)."""
        if type(self).__len__ is not PyDataset.__len__:
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__ or the num_batches property"
        )

    def __len__(self) -> int:
        return self.num_batches

    def on_epoch_begin(self) -> None:
        """Called at the start of every epoch."""

    def on_epoch_end(self) -> None:
        """Called at the end of every epoch."""


Sequence = PyDataset  # keras.utils.Sequence, the tf.keras 2 name


def _length(leaf: np.ndarray, what: str) -> int:
    if leaf.ndim == 0:
        raise ValueError(f"{what} holds a scalar: every array needs a samples axis")
    return len(leaf)


def _as_arrays(dataset: Any) -> tuple[Any, int]:
    """The dataset as a tree of NumPy arrays (tuple / list / dict) and its number of samples."""
    if isinstance(dataset, Tensor):
        return dataset.data, _length(dataset.data, "dataset")
    if isinstance(dataset, np.ndarray):
        return dataset, _length(dataset, "dataset")
    if isinstance(dataset, Mapping):
        items = {k: _as_arrays(v) for k, v in dataset.items()}
        tree, ns = {k: t for k, (t, _) in items.items()}, {n for _, n in items.values()}
    elif isinstance(dataset, tuple):
        items = [_as_arrays(v) for v in dataset]
        tree, ns = tuple(t for t, _ in items), {n for _, n in items}
    elif isinstance(dataset, list) and all(
        isinstance(v, (np.ndarray, Tensor, tuple, Mapping)) for v in dataset
    ):
        items = [_as_arrays(v) for v in dataset]
        tree, ns = [t for t, _ in items], {n for _, n in items}
    else:
        if not isinstance(dataset, (str, bytes)) and hasattr(dataset, "__array__"):
            arr = np.asarray(dataset)  # a PyTorch tensor, a pandas frame, ...
            if arr.dtype != object:
                return arr, _length(arr, "dataset")
        raise TypeError(
            "split_dataset: dataset must be a NumPy array, a Tensor, or a tuple / list / dict "
            f"of them, got {type(dataset).__name__}"
        )
    if len(ns) != 1:
        raise ValueError(f"split_dataset: the arrays of the dataset differ in length: {sorted(ns)}")
    return tree, ns.pop()


def _take(tree: Any, idx: np.ndarray) -> Any:
    if isinstance(tree, np.ndarray):
        return tree[idx]
    if isinstance(tree, dict):
        return {k: _take(v, idx) for k, v in tree.items()}
    return type(tree)(_take(v, idx) for v in tree)


def _size(v: Any, total: int, what: str) -> int | None:
    if v is None:
        return None
    if not is_real(v):
        raise TypeError(f"split_dataset: {what} must be an int, a float or None, got {v!r}")
    if isinstance(v, (float, np.floating)):
        if not 0.0 < v < 1.0:
            raise ValueError(f"split_dataset: a float {what} must be in (0, 1), got {v}")
        return int(np.round(v * total))
    if not 0 < v <= total:
        raise ValueError(f"split_dataset: {what}={v} must be in [1, {total}] samples")
    return int(v)


def split_dataset(
    dataset: Any,
    left_size: int | float | None = None,
    right_size: int | float | None = None,
    shuffle: bool = False,
    seed: int | None = None,
) -> tuple[Any, Any]:
    """Split a dataset (an array, a Tensor, or a tuple / list / dict of arrays sharing their
    first axis) into (left, right) of the same structure. A float size is a fraction, an int
    a number of samples, None the complement of the other side. ``shuffle`` permutes the
    samples first (``seed`` for a repeatable split)."""
    tree, total = _as_arrays(dataset)
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: give left_size or right_size (or both)")
    left = _size(left_size, total, "left_size")
    right = _size(right_size, total, "right_size")
    if left is None:
        left = total - right
    if right is None:
        right = total - left
    if left + right > total:
        raise ValueError(
            f"split_dataset: left_size + right_size = {left + right} samples exceed the "
            f"dataset's {total}"
        )
    if left == 0 or right == 0:
        raise ValueError(
            f"split_dataset: the split of {total} samples leaves an empty side "
            f"(left {left}, right {right})"
        )
    order = np.random.default_rng(seed).permutation(total) if shuffle else np.arange(total)
    return _take(tree, order[:left]), _take(tree, order[left : left + right])
