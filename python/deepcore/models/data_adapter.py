"""Data adapters (Keras's name): what ``fit`` / ``evaluate`` / ``predict`` do to the user's data
before a step sees it. Coercion (arrays, lists, dicts by output name, Tensors -> NumPy arrays in
the model's dtype, once per call), sample and class weights ([Note: sample weights] in
model_data.py), the validation split, and the mini-batches of an epoch.

[Note: data adapters] Every kind of input is one :class:`DataAdapter` that gives an epoch's
mini-batches as ``(batch size, (xs, ys, sws))`` (lists of arrays, ready for a step), so the
training, test and predict loops never ask what the data was:

* :class:`ArrayDataAdapter`: NumPy arrays / Tensors / lists or dicts of them, sliced (or
  gathered through the epoch's permutation) per batch; ``steps`` caps an epoch.
* :class:`GeneratorDataAdapter`: a Python generator or other iterator of batches, consumed
  across epochs as Keras does (each epoch takes ``steps_per_epoch`` batches, or runs the
  iterator dry); running out before an epoch has any batch ends training with a warning.
* :class:`IterableDataAdapter`: a re-iterable of batches (a PyTorch ``DataLoader``, a list
  of batches): a fresh pass per epoch, ``len()`` batches when it has a length.
* :class:`PyDatasetAdapter`: a ``deepcore.utils.PyDataset`` / ``keras.utils.Sequence``-style
  object (``__getitem__(i)`` gives batch i, ``__len__`` or ``num_batches`` their number,
  ``on_epoch_end()`` called after every epoch); with ``shuffle`` the batch order is permuted.
  With ``workers > 1`` its batches are read by that many threads, up to ``max_queue_size``
  batches ahead of the step, and handed out in order ([Note: PyDataset workers]).

A batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a list counts as a tuple,
as PyTorch's collate gives it); its leaves may be NumPy arrays, Tensors, PyTorch tensors or
anything with ``.numpy()``, and are turned into arrays in the model's dtype by the model's
``prepare`` function, which also builds the model on the first batch (``peek``).
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import losses as losses_mod
from .._checks import is_int, positive_int
from ..tensor import Tensor, get_rng
from ._prefetch import prefetched

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
    "DataAdapter",
    "ArrayDataAdapter",
    "GeneratorDataAdapter",
    "IterableDataAdapter",
    "PyDatasetAdapter",
    "is_array_data",
    "stream_adapter",
    "unpack_batch",
    "to_numpy_tree",
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
    return positive_int("batch_size", batch_size)


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
        if not is_int(k) or k < 0:
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
    arrays: Sequence[list | None],
    n: int,
    batch_size: int,
    steps: int,
    perm: np.ndarray | None,
    shard: tuple[int, int] | None = None,
) -> Iterator[tuple[int, list]]:
    """``(batch size, [batch of each list in arrays])`` for ``steps`` mini-batches of ``n``
    samples: consecutive slices (views), or the samples ``perm`` picks (one gather per array).
    An entry of ``arrays`` may be None (no sample weights), and an array in a list None.

    ``shard=(r, world)``: the batch size stays the global one, and the arrays hold rank r's
    rows ``[r*b, (r+1)*b)`` of it, ``b = ceil(batch_size / world)`` (see [Note: data-parallel
    step] in deepcore.distributed)."""

    def cut(group: list | None, sel: Any) -> list | None:
        if group is None:
            return None
        if isinstance(sel, slice):
            return [None if a is None else a[sel] for a in group]
        return [None if a is None else a.take(sel, axis=0) for a in group]

    b = batch_size if shard is None else -(-batch_size // shard[1])
    for step in range(steps):
        lo = step * batch_size
        hi = min(lo + batch_size, n)
        count = hi - lo
        if shard is not None:
            lo, hi = min(lo + shard[0] * b, hi), min(lo + (shard[0] + 1) * b, hi)
        sel = slice(lo, hi) if perm is None else perm[lo:hi]
        yield count, [cut(g, sel) for g in arrays]


def shard_batch(batch: Batch, shard: tuple[int, int]) -> Batch:
    """Rank r's rows of one global batch (as ``batches`` cuts them); the size stays global."""
    bs, group = batch
    _, cut = next(batches(group, bs, bs, 1, None, shard))
    return bs, tuple(cut)


# ---------------------------------------------------------------------- adapters
Batch = tuple[int, tuple]  # (batch size, (xs, ys, sws))


class DataAdapter:
    """An epoch's mini-batches for a loop (see [Note: data adapters])."""

    #: batches per epoch, or None when only running out of data ends an epoch
    steps: int | None = None

    def batches(self) -> Iterator[Batch]:
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        """Called by fit after every epoch."""

    def distribute(
        self, shard: tuple[int, int] | None, agree: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        """As one rank of a data-parallel job (``shard=(rank, world)``; None: not): yield this
        rank's rows of each global batch; ``agree(perm)`` returns the permutation every rank
        uses (rank 0's). See [Note: data-parallel step] in deepcore.distributed."""
        self.shard, self.agree = shard, agree

    shard: tuple[int, int] | None = None
    agree: Callable[[np.ndarray], np.ndarray] | None = None


class ArrayDataAdapter(DataAdapter):
    """In-memory arrays (already prepared: lists of arrays in the model's dtype), sliced per
    batch, reshuffled every epoch when ``shuffle``."""

    def __init__(
        self,
        xs: list,
        ys: list | None,
        sws: list | None,
        batch_size: int,
        shuffle: bool = False,
        steps: int | None = None,
    ) -> None:
        self.arrays = (xs, ys, sws)
        self.n = len(xs[0]) if xs else 0
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        n_steps = -(-self.n // batch_size) if self.n else 0
        self.steps = n_steps if steps is None else min(n_steps, int(steps))

    def batches(self) -> Iterator[Batch]:
        perm = get_rng().permutation(self.n) if self.shuffle else None
        if perm is not None and self.agree is not None:
            perm = self.agree(perm)
        for bs, group in batches(
            self.arrays, self.n, self.batch_size, self.steps, perm, self.shard
        ):
            yield bs, tuple(group)


def unpack_batch(batch: Any) -> tuple[Any, Any, Any]:
    """Keras's unpack_x_y_sample_weight: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) == 1:
        return batch[0], None, None
    if len(batch) == 2:
        return batch[0], batch[1], None
    if len(batch) == 3:
        return batch
    raise ValueError(
        f"a batch must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(batch)}"
    )


def to_numpy_tree(v: Any) -> Any:
    """Leaves (Tensors, PyTorch tensors, anything with ``.numpy()``) as NumPy arrays, in the
    same lists / tuples / dicts."""
    if v is None or isinstance(v, np.ndarray):
        return v
    if isinstance(v, Tensor):
        return v.data
    if isinstance(v, Mapping):
        return {k: to_numpy_tree(e) for k, e in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(to_numpy_tree(e) for e in v)
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a PyTorch tensor
        return v.detach().cpu().numpy()
    if callable(getattr(v, "numpy", None)):
        return np.asarray(v.numpy())
    return v


def is_array_data(x: Any) -> bool:
    """Is ``x`` in-memory data (arrays, Tensors, nested lists, dicts of them) rather than a
    source of batches (generator, PyDataset, DataLoader)?"""
    if isinstance(x, (np.ndarray, Tensor, Mapping, str, bytes, int, float)) or np.isscalar(x):
        return True
    if isinstance(x, (list, tuple)):
        return True
    return hasattr(x, "__array__") or hasattr(x, "__array_interface__")


def _is_pydataset(x: Any) -> bool:
    return hasattr(x, "__getitem__") and (hasattr(x, "num_batches") or hasattr(x, "__len__"))


class _StreamAdapter(DataAdapter):
    """Batches that arrive one by one, each turned into arrays by ``prepare(x, y, sw)``
    (model-specific: names, dtype, weights). ``peek()`` prepares the first batch early (fit
    builds the model from it) and hands it out again first."""

    def __init__(self, prepare: Callable[[Any, Any, Any], Batch], steps: int | None) -> None:
        self.prepare = prepare
        self.steps = None if steps is None else int(steps)
        self._peeked: Batch | None = None
        self.exhausted = False  # the last epoch ran out of data before any batch

    def _raw(self) -> Iterator[Any]:
        raise NotImplementedError

    def peek(self) -> Batch | None:
        if self._peeked is None:
            it = self._epoch_iter = self._raw()
            first = next(it, _END)
            if first is _END:
                return None
            self._peeked = self.prepare(*unpack_batch(to_numpy_tree(first)))
        return self._peeked

    def batches(self) -> Iterator[Batch]:
        count = 0
        if self._peeked is not None:
            it = self._epoch_iter
            first, self._peeked = self._peeked, None
            count = 1
            yield self._mine(first)
        else:
            it = self._raw()
        self.exhausted = False
        while self.steps is None or count < self.steps:
            raw = next(it, _END)
            if raw is _END:
                if count == 0 or self.steps is not None:
                    self.exhausted = True
                    warnings.warn(
                        f"the input ran out of data after {count} batches of an epoch "
                        f"(steps={self.steps}); training stops here: give a generator that "
                        "yields at least steps_per_epoch * epochs batches, or a re-iterable "
                        "such as a DataLoader or a PyDataset",
                        UserWarning,
                        stacklevel=4,
                    )
                return
            count += 1
            yield self._mine(self.prepare(*unpack_batch(to_numpy_tree(raw))))

    def _mine(self, batch: Batch) -> Batch:
        """This rank's rows of a global batch (every rank's source yields the same batches)."""
        return batch if self.shard is None else shard_batch(batch, self.shard)


_END = object()


class GeneratorDataAdapter(_StreamAdapter):
    """A Python generator or iterator of batches, consumed across epochs (Keras's rule)."""

    def __init__(self, it: Iterator, prepare: Callable, steps: int | None) -> None:
        super().__init__(prepare, steps)
        self.it = it

    def _raw(self) -> Iterator[Any]:
        return self.it


class IterableDataAdapter(_StreamAdapter):
    """A re-iterable of batches (a PyTorch DataLoader): one fresh pass per epoch."""

    def __init__(self, data: Iterable, prepare: Callable, steps: int | None) -> None:
        n = None
        try:
            n = len(data)  # type: ignore[arg-type]
        except TypeError:
            pass
        super().__init__(prepare, n if steps is None else (steps if n is None else min(n, steps)))
        self.data = data

    def _raw(self) -> Iterator[Any]:
        return iter(self.data)


class PyDatasetAdapter(_StreamAdapter):
    """``dataset[i]`` is batch i of ``len(dataset)`` (or ``dataset.num_batches``);
    ``on_epoch_begin()`` / ``on_epoch_end()`` around each epoch; the batch order permuted when
    ``shuffle``."""

    def __init__(self, dataset: Any, prepare: Callable, steps: int | None, shuffle: bool):
        n = getattr(dataset, "num_batches", None)
        if n is None:
            n = len(dataset)
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"a PyDataset must have a non-negative number of batches, got {n!r}")
        super().__init__(prepare, int(n) if steps is None else min(int(n), int(steps)))
        self.dataset = dataset
        self.n = int(n)
        self.shuffle = bool(shuffle)

    def _raw(self) -> Iterator[Any]:
        hook = getattr(self.dataset, "on_epoch_begin", None)
        if callable(hook):
            hook()
        order = get_rng().permutation(self.n) if self.shuffle else range(self.n)
        if self.shuffle and self.agree is not None:
            order = self.agree(order)
        if self.steps is not None:
            order = order[: self.steps]
        workers = getattr(self.dataset, "workers", 1)
        if isinstance(workers, (int, np.integer)) and workers > 1:
            depth = max(int(getattr(self.dataset, "max_queue_size", 10)), 1)
            processes = bool(getattr(self.dataset, "use_multiprocessing", False))
            return prefetched(self.dataset, order, int(workers), depth, processes)
        return (self.dataset[int(i)] for i in order)

    def on_epoch_end(self) -> None:
        hook = getattr(self.dataset, "on_epoch_end", None)
        if callable(hook):
            hook()


def stream_adapter(
    data: Any, prepare: Callable, steps: int | None, shuffle: bool, what: str
) -> _StreamAdapter:
    """The adapter for a source of batches (see [Note: data adapters])."""
    if steps is not None and (not is_int(steps) or steps < 1):
        raise ValueError(f"steps must be a positive integer or None, got {steps!r}")
    if isinstance(data, (types.GeneratorType, Iterator)):
        return GeneratorDataAdapter(data, prepare, steps)
    if _is_pydataset(data):
        if type(data).__module__.startswith("torch"):
            raise TypeError(
                f"{what} is a PyTorch Dataset, which gives single samples: wrap it in a "
                "torch.utils.data.DataLoader(dataset, batch_size=...) to give batches"
            )
        return PyDatasetAdapter(data, prepare, steps, shuffle)
    if isinstance(data, Iterable):
        return IterableDataAdapter(data, prepare, steps)
    raise TypeError(
        f"{what} must be arrays (NumPy, Tensors, lists or dicts of them), a generator, a "
        f"PyDataset or an iterable of batches (a DataLoader), got {type(data).__name__}"
    )
