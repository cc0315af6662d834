"""Data helpers with Keras names (``keras.utils``): one-hot labels, scaling, padding,
splitting, batches from Python (``PyDataset``), model plots, image layouts.

from deepcore.utils import to_categorical, scale_to_unit, pad_sequences
y = to_categorical(labels, 10)            # (n,) ints -> (n, 10) float32
x = scale_to_unit(images)                 # uint8 0..255 -> float32 0..1
x = pad_sequences(token_lists, maxlen=80) # ragged lists -> (n, 80) int32
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..tensor import get_rng
from ._dataset import PyDataset, Sequence, split_dataset
from ._plot import model_to_dot, model_to_dot_source, plot_model
from ._sequence import pad_sequences

__all__ = [
    "PyDataset",
    "Sequence",
    "iterate_minibatches",
    "model_to_dot",
    "model_to_dot_source",
    "normalize",
    "pad_sequences",
    "plot_model",
    "split_dataset",
    "scale_to_unit",
    "set_random_seed",
    "to_categorical",
    "to_channels_first",
    "to_channels_last",
]


def set_random_seed(seed: int) -> None:
    """Seed every generator a training script draws from: Python's ``random``, NumPy's
    global generator and deepcore's (initialisers, dropout, shuffling), as Keras's
    ``keras.utils.set_random_seed``."""
    import operator
    import random

    from ..tensor import manual_seed

    try:
        s = operator.index(seed)
    except TypeError:
        raise TypeError(f"set_random_seed: seed must be an int, got {seed!r}") from None
    if not 0 <= s < 2**32:
        raise ValueError(f"set_random_seed: seed must be in [0, 2**32), got {s}")
    random.seed(s)
    np.random.seed(s)
    manual_seed(s)


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """One-hot encode integer class labels: shape ``y.shape + (num_classes,)``.

    A trailing axis of size 1 is dropped first, as in Keras (``(n, 1)`` -> ``(n, num_classes)``).
    ``num_classes`` defaults to ``max(y) + 1``.
    """
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("to_categorical: y must hold integer class indices")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: y must be integer class indices, got dtype {y.dtype}")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if num_classes < 0:
        raise ValueError(f"to_categorical: num_classes must be >= 0, got {num_classes}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"to_categorical: labels must be in 0..{num_classes - 1}, "
            f"got range {int(y.min())}..{int(y.max())}"
        )
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    # put_along_axis writes the ones in one vectorised pass (no loop over samples).
    np.put_along_axis(out, y[..., None].astype(np.intp), 1, axis=-1)
    return out


def scale_to_unit(
    x, low: float | None = None, high: float | None = None, dtype="float32"
) -> np.ndarray:
    """Map values linearly from [low, high] to [0, 1] (normalisation to [0, 1]).

    Defaults: for unsigned/signed integer arrays the dtype's range (uint8: 0..255), otherwise the
    array's own min and max. A constant array maps to zeros.
    """
    x = np.asarray(x)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        low = info.min if low is None else low
        high = info.max if high is None else high
    elif x.dtype.kind == "f":
        if x.size == 0:
            return x.astype(dtype)
        low = float(x.min()) if low is None else low
        high = float(x.max()) if high is None else high
    else:
        raise TypeError(f"scale_to_unit: x must be numeric, got dtype {x.dtype}")
    span = float(high) - float(low)
    out = x.astype(dtype)
    if low != 0:
        out -= np.asarray(low, dtype)
    if span > 0:
        out *= np.asarray(1.0 / span, dtype)
    else:
        out[...] = 0
    return out


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """Keras ``utils.normalize``: divide by the L-``order`` norm along ``axis`` (0 norms stay 0)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def iterate_minibatches(
    *arrays: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield aligned mini-batches of the arrays (first axis), in a fresh random order per call.

    ``rng`` defaults to ``deepcore.get_rng()`` so ``deepcore.manual_seed`` makes it repeatable.
    """
    if not arrays:
        raise ValueError("iterate_minibatches: give at least one array")
    if batch_size < 1:
        raise ValueError(f"iterate_minibatches: batch_size must be >= 1, got {batch_size}")
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            raise ValueError(f"iterate_minibatches: arrays differ in length ({n} vs {len(a)})")
    if shuffle:
        order = (rng if rng is not None else get_rng()).permutation(n)
    else:
        order = None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield tuple(a[start : start + batch_size] for a in arrays)
        else:
            idx = order[start : start + batch_size]
            yield tuple(a[idx] for a in arrays)


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C, H, W) (also (N, L, C) -> (N, C, L)), as a contiguous copy."""
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(
            f"to_channels_first: expected a batch of images (ndim >= 3), got {x.shape}"
        )
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C) (also (N, C, L) -> (N, L, C)), as a contiguous copy."""
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"to_channels_last: expected a batch of images (ndim >= 3), got {x.shape}")
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))
