"""Data adapters (Keras's name): what ``fit`` / ``evaluate`` / ``predict`` do to the user's data
before a step sees it. Coercion (arrays, lists, dicts by output name, Tensors -> NumPy arrays in
the model's dtype, once per call), sample and class weights ([Note: sample weights] in
training.py), the validation split, and the mini-batches of an epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import losses as losses_mod
from ..tensor import Tensor

__all__ = [
    "to_array",
    "as_list",
    "cast_floats",
    "n_samples",
    "check_verbose",
    "check_batch_size",
    "weight_array",
    "sample_weights",
    "class_weight_array",
    "combine_weights",
    "split_validation",
    "batches",
]


def to_array(v: Any, what: str) -> np.ndarray:
    if isinstance(v, Tensor):
        return v.data
    if isinstance(v, np.ndarray):
        return v
    try:
        arr = np.asarray(v)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{what} must be an array (NumPy or Tensor), got {type(v).__name__}: {e}"
        ) from None
    if arr.dtype == object:
        raise TypeError(f"{what} must be a numeric array, got {type(v).__name__}")
    return arr


def as_list(data: Any, names: Sequence[str], what: str) -> list[np.ndarray] | None:
    """Normalise x or y (array, list/tuple of arrays, or dict by name) to a list of arrays."""
    if data is None:
        return None
    if isinstance(data, Mapping):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"{what} is a dict but lacks {missing} (expected keys: {list(names)})")
        return [to_array(data[n], f"{what}[{n!r}]") for n in names]
    if (
        isinstance(data, (list, tuple))
        and len(data)
        and not np.isscalar(data[0])
        and (isinstance(data[0], (np.ndarray, Tensor)) or len(names) > 1)
    ):
        return [to_array(v, f"{what}[{i}]") for i, v in enumerate(data)]
    return [to_array(data, what)]


def cast_floats(arrays: list[np.ndarray], dtype: np.dtype) -> list[np.ndarray]:
    """Float data in the model's dtype, C-contiguous, once per fit (not per batch)."""
    out = []
    for a in arrays:
        if a.dtype.kind == "f" and a.dtype != dtype:
            a = a.astype(dtype)
        elif a.dtype.kind in "biu" and a.dtype != np.int64 and a.ndim >= 2 and a.shape[-1] > 1:
            a = a.astype(dtype)  # integer one-hot / multi-hot targets act as floats
        out.append(np.ascontiguousarray(a))
    return out


def n_samples(arrays: list[np.ndarray], what: str, fn: str | None = None) -> int:
    """The common number of samples; with ``fn``, zero samples is an error (fit / evaluate
    have no loss to report for nothing; predict returns an empty array, as Keras)."""
    ns = {len(a) if a.ndim else 0 for a in arrays}
    if len(ns) != 1:
        raise ValueError(
            f"all arrays in {what} must have the same number of samples, got "
            f"{[len(a) for a in arrays]}"
        )
    n = ns.pop()
    if n == 0 and fn is not None:
        raise ValueError(f"{fn}() got 0 samples in {what}: there is nothing to compute a loss on")
    return n


def check_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def check_batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return 32
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or (batch_size < 1)
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def weight_array(v: Any, n: int, what: str) -> np.ndarray:
    w = to_array(v, what)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a numeric array, got dtype {w.dtype}")
    if w.ndim == 0 or len(w) != n:
        raise ValueError(
            f"{what} must hold one weight per sample: expected shape ({n},) (or ({n}, ...) "
            f"for sequence outputs), got {tuple(w.shape)}"
        )
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{what} holds non-finite values (NaN or inf)")
    return w


def sample_weights(sw: Any, names: Sequence[str], n: int, what: str) -> list | None:
    """``sample_weight`` as one array (or None) per output, validated against ``n`` samples."""
    if sw is None:
        return None
    if isinstance(sw, Mapping):
        unknown = [k for k in sw if k not in names]
        if unknown:
            raise ValueError(f"{what} has keys {unknown} that are not outputs of the model")
        per = [sw.get(k) for k in names]
    elif (
        isinstance(sw, (list, tuple))
        and len(names) > 1
        and len(sw) == len(names)
        and all(v is None or isinstance(v, (np.ndarray, Tensor, list, tuple)) for v in sw)
    ):
        per = list(sw)
    else:
        per = [sw] * len(names)  # Keras: one array weights every output
    out = [
        None if v is None else weight_array(v, n, what if len(names) == 1 else f"{what}[{i}]")
        for i, v in enumerate(per)
    ]
    return None if all(v is None for v in out) else out


def class_weight_array(
    class_weight: Mapping[Any, float], y: np.ndarray, sparse: bool, out_ndim: int | None
) -> np.ndarray:
    """Keras 3's class_weight_to_sample_weights: each sample weighs its class's weight (1 for
    classes not listed); labels are the targets themselves (sparse / binary) or their arg-max
    (one-hot). Sparse sequence targets give one weight per time step."""
    if not isinstance(class_weight, Mapping):
        raise TypeError(
            f"class_weight must be a dict {{class: weight}}, got {type(class_weight).__name__}"
        )
    keys, vals = [], []
    for k, v in class_weight.items():
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"class_weight keys must be non-negative class ids, got {k!r}")
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"class_weight[{k}] must be a number, got {v!r}") from None
        if not np.isfinite(fv):
            raise ValueError(f"class_weight[{k}] must be finite, got {v!r}")
        keys.append(int(k))
        vals.append(fv)
    if sparse:
        labels = y.reshape(y.shape[:-1]) if y.ndim > 1 and y.ndim == out_ndim else y
    elif y.ndim > 1 and y.shape[-1] != 1:
        labels = np.argmax(y, axis=-1)
    else:
        labels = y.reshape(y.shape[:-1]) if y.ndim > 1 else y
    labels = np.round(labels).astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"class_weight needs non-negative class labels, got {labels.min()}")
    size = max(int(labels.max()) + 1 if labels.size else 0, max(keys, default=-1) + 1)
    table = np.ones(size, np.float64)
    table[keys] = vals
    return table[labels]


def combine_weights(sw: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray | None:
    """Per-entry weights for a metric: the sample weights times the output mask."""
    if mask is None:
        return sw
    m = mask.astype(np.float64)
    if sw is None:
        return m
    return losses_mod.expand_weights(sw, m.shape, "sample_weight") * m


def split_validation(
    xs: list[np.ndarray], ys: list[np.ndarray], sws: list | None, fraction: float
) -> tuple[tuple, tuple]:
    """Keras's ``validation_split``: the last ``fraction`` of the samples, taken before any
    shuffling; returns ((xs, ys, sws) to train on, (xs, ys, sws) to validate on)."""
    n = len(xs[0])
    split = int(n * (1.0 - float(fraction)))
    if split == 0 or split == n:
        raise ValueError(
            f"validation_split={fraction} leaves an empty training or validation set for "
            f"{n} samples"
        )

    def part(sl: slice) -> tuple:
        ws = None if sws is None else [None if w is None else w[sl] for w in sws]
        return [a[sl] for a in xs], [a[sl] for a in ys], ws

    return part(slice(None, split)), part(slice(split, None))


def batches(
    arrays: Sequence[list | None], n: int, batch_size: int, steps: int, perm: np.ndarray | None
) -> Iterator[tuple[int, list]]:
    """``(batch size, [batch of each list in arrays])`` for ``steps`` mini-batches of ``n``
    samples: consecutive slices (views), or the samples ``perm`` picks (one gather per array).
    An entry of ``arrays`` may be None (no sample weights), and an array in a list None."""

    def cut(group: list | None, sel: Any) -> list | None:
        if group is None:
            return None
        if isinstance(sel, slice):
            return [None if a is None else a[sel] for a in group]
        return [None if a is None else a.take(sel, axis=0) for a in group]

    for step in range(steps):
        lo = step * batch_size
        hi = min(lo + batch_size, n)
        sel = slice(lo, hi) if perm is None else perm[lo:hi]
        yield hi - lo, [cut(g, sel) for g in arrays]
