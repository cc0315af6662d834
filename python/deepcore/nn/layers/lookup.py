"""Keras's categorical and text preprocessing layers: CategoryEncoding, Discretization,
IntegerLookup, StringLookup and TextVectorization.

They turn raw values (integers, strings, text) into the integer ids or count vectors a model
takes, and run eagerly on NumPy arrays, lists or Tensors, as preprocessing before the model,
or inside it behind ``Input(dtype="string")`` ([Note: string inputs] in symbolic.py: text
travels as a NumPy array, since Tensors hold numbers). The work is
vectorised: a lookup maps each *distinct* value once (``np.unique`` with its inverse) and
scatters the ids back, an encoding is one ``bincount`` over offset ids; only text
standardisation and splitting go string by string, as str methods.

[Note: lookup indices] As Keras: with ``mask_token`` set, id 0 is the mask; then
``num_oov_indices`` ids for out-of-vocabulary values (one by default: "[UNK]" / -1), then the
vocabulary in order. ``adapt`` orders the vocabulary by decreasing frequency, ties by the
tokens' sort order from high to low (Keras's rule), and keeps the ``max_tokens`` minus
reserved ids most frequent. The vocabulary is
part of the config (``get_config``), so a saved model keeps it.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..._checks import is_int, positive_int
from ...symbolic import is_symbolic
from ...tensor import Tensor
from ..module import Module

__all__ = [
    "CategoryEncoding",
    "Discretization",
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
]

_ENCODINGS = ("one_hot", "multi_hot", "count", "tf_idf")


def _values(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.numpy()
    return np.asarray(x)


class _Preprocessing(Module):
    """These layers take raw values (lists, string arrays) that the generic call path would
    convert to the layer's float dtype: they run ``call`` directly (no weights, no training
    mode); on a symbolic input they record a graph node as any layer."""

    _invert_dtype = "int64"  # what invert=True gives (StringLookup: strings)

    @property
    def _output_dtype(self) -> str:
        """The dtype of what ``call`` gives, which a placeholder output records: integer ids
        ("int" mode), float32 vectors (the encodings), or the inverted vocabulary's values."""
        if getattr(self, "invert", False):
            return self._invert_dtype
        return "int64" if getattr(self, "output_mode", None) == "int" else "float32"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("training", None)
        if (args and is_symbolic(args[0])) or any(is_symbolic(v) for v in kwargs.values()):
            return super().__call__(*args, **kwargs)
        return self.call(*args, **kwargs)


def encode(ids: Any, depth: int, mode: str, weights: np.ndarray | None = None) -> Tensor:
    """Integer ids to float32 vectors of ``depth``, Keras's rules: "one_hot" encodes every
    element (a trailing axis of size 1 is replaced, otherwise one is appended); "multi_hot",
    "count" and "tf_idf" (count times the per-id ``weights``) treat the last axis as the
    sample, (..., n) -> (..., depth). Ids < 0 (padding) are skipped. One comparison or one
    bincount over row-offset ids: no loop."""
    ids = np.asarray(ids, dtype=np.int64)
    if mode == "one_hot":
        if ids.ndim and ids.shape[-1] == 1:
            ids = ids[..., 0]
        return Tensor((ids[..., None] == np.arange(depth)).astype(np.float32))
    lead = ids.shape[:-1] if ids.ndim else ()
    n = int(np.prod(lead, dtype=np.int64))
    rows = ids.reshape(n, ids.shape[-1] if ids.ndim else 1)
    keep = rows >= 0
    flat = (rows + np.arange(n)[:, None] * depth)[keep]
    counts = np.bincount(flat, minlength=n * depth).reshape(*lead, depth).astype(np.float32)
    if mode == "multi_hot":
        counts = np.minimum(counts, 1.0)
    elif mode == "tf_idf":
        counts = counts * weights.astype(np.float32)
    return Tensor(counts)


class CategoryEncoding(_Preprocessing):
    """Integer ids in [0, num_tokens) to vectors: "one_hot" (one id per sample), "multi_hot"
    (1 where an id occurs) or "count" (how often). Ids outside the range raise ValueError."""

    def __init__(self, num_tokens: int, output_mode: str = "multi_hot", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_tokens = positive_int("CategoryEncoding: num_tokens", num_tokens)
        if output_mode not in ("one_hot", "multi_hot", "count"):
            raise ValueError(
                "CategoryEncoding: output_mode must be 'one_hot', 'multi_hot' or 'count', got "
                f"{output_mode!r}"
            )
        self.output_mode = output_mode

    def call(self, x: Any, count_weights: Any = None) -> Tensor:
        ids = _values(x)
        if ids.dtype.kind not in "iu":
            if ids.dtype.kind == "f" and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)):
                ids = ids.astype(np.int64)
            else:
                raise TypeError(f"CategoryEncoding '{self.name}': inputs must be integer ids")
        if ids.ndim > 2:
            raise ValueError(
                f"CategoryEncoding '{self.name}': inputs of rank <= 2, got {ids.shape}"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_tokens):
            raise ValueError(
                f"CategoryEncoding '{self.name}': ids must be in [0, {self.num_tokens}), got "
                f"values in [{ids.min()}, {ids.max()}]"
            )
        if count_weights is None or self.output_mode != "count":
            return encode(ids, self.num_tokens, self.output_mode)
        w = _values(count_weights).astype(np.float64)  # Keras: weights summed per id
        if w.shape != ids.shape:
            raise ValueError(
                f"CategoryEncoding '{self.name}': count_weights has shape {w.shape}, inputs "
                f"{ids.shape}"
            )
        rows = ids.reshape(-1, ids.shape[-1]) if ids.ndim else ids.reshape(1, 1)
        n = rows.shape[0]
        flat = (rows + np.arange(n)[:, None] * self.num_tokens).ravel()
        s = np.bincount(flat, weights=w.ravel(), minlength=n * self.num_tokens)
        return Tensor(s.reshape(*ids.shape[:-1], self.num_tokens).astype(np.float32))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.num_tokens)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_tokens": self.num_tokens,
            "output_mode": self.output_mode,
        }


class Discretization(_Preprocessing):
    """Values to bucket ids by ``bin_boundaries`` (bucket i holds b[i-1] <= x < b[i]), or by
    ``num_bins`` quantile boundaries learned with ``adapt``; ``output_mode`` "int" or an
    encoding of the ids ("one_hot", "multi_hot", "count")."""

    def __init__(
        self,
        bin_boundaries: Any = None,
        num_bins: int | None = None,
        epsilon: float = 0.01,
        output_mode: str = "int",
        **kwargs: Any,
    ) -> None:
        kwargs.pop("sparse", None)
        super().__init__(**kwargs)
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError("Discretization: give exactly one of bin_boundaries and num_bins")
        self.num_bins = (
            None if num_bins is None else positive_int("Discretization: num_bins", num_bins)
        )
        self.bin_boundaries = None
        if bin_boundaries is not None:
            b = np.asarray(bin_boundaries, dtype=np.float64).ravel()
            if not np.all(np.isfinite(b)) or np.any(np.diff(b) < 0):
                raise ValueError("Discretization: bin_boundaries must be finite and sorted")
            self.bin_boundaries = [float(v) for v in b]
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"Discretization: unknown output_mode {output_mode!r}")
        self.output_mode, self.epsilon = output_mode, float(epsilon)

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Boundaries at the num_bins - 1 inner quantiles of ``data``."""
        v = _values(data).astype(np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            raise ValueError(f"Discretization '{self.name}': adapt() needs finite data")
        qs = np.linspace(0, 1, self.num_bins + 1)[1:-1]
        self.bin_boundaries = [float(q) for q in np.quantile(v, qs)]

    def call(self, x: Any) -> Tensor:
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization '{self.name}': call adapt() or pass bin_boundaries")
        v = _values(x).astype(np.float64)
        ids = np.digitize(v, np.asarray(self.bin_boundaries), right=False).astype(np.int64)
        if self.output_mode == "int":
            return Tensor(ids)
        return encode(ids, len(self.bin_boundaries) + 1, self.output_mode)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "bin_boundaries": self.bin_boundaries,
            "num_bins": self.num_bins if self.bin_boundaries is None else None,
            "epsilon": self.epsilon,
            "output_mode": self.output_mode,
        }


class _Lookup(_Preprocessing):
    """The shared index lookup of IntegerLookup / StringLookup (see [Note: lookup indices])."""

    _kind = "value"

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: Any = None,
        oov_token: Any = None,
        vocabulary: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        idf_weights: Any = None,
        **kwargs: Any,
    ) -> None:
        for k in ("sparse", "pad_to_max_tokens", "vocabulary_dtype", "encoding"):
            kwargs.pop(k, None)
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.max_tokens = (
            None if max_tokens is None else positive_int(f"{cls}: max_tokens", max_tokens)
        )
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, int):
            raise ValueError(f"{cls}: num_oov_indices must be an int >= 0")
        if num_oov_indices < 0:
            raise ValueError(f"{cls}: num_oov_indices must be >= 0, got {num_oov_indices}")
        if output_mode not in ("int", *_ENCODINGS):
            raise ValueError(f"{cls}: unknown output_mode {output_mode!r}")
        if invert and output_mode != "int":
            raise ValueError(f"{cls}: invert=True needs output_mode='int'")
        self.num_oov_indices, self.mask_token = int(num_oov_indices), mask_token
        self.oov_token, self.invert, self.output_mode = oov_token, bool(invert), output_mode
        self.vocabulary: list | None = None
        self.idf_weights: list | None = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- vocabulary
    def _reserved(self) -> int:
        return (self.mask_token is not None) + self.num_oov_indices

    def _clean(self, v: Any) -> Any:
        return v

    def set_vocabulary(self, vocabulary: Iterable, idf_weights: Any = None) -> None:
        vocab = [self._clean(v) for v in _values(list(vocabulary)).ravel().tolist()]
        cls = type(self).__name__
        if len(set(vocab)) != len(vocab):
            raise ValueError(f"{cls}: the vocabulary has repeated entries")
        if self.mask_token is not None and self.mask_token in vocab:
            raise ValueError(f"{cls}: the mask token {self.mask_token!r} is in the vocabulary")
        if self.oov_token in vocab:
            raise ValueError(f"{cls}: the OOV token {self.oov_token!r} is in the vocabulary")
        if self.max_tokens is not None and len(vocab) + self._reserved() > self.max_tokens:
            raise ValueError(f"{cls}: the vocabulary does not fit in max_tokens={self.max_tokens}")
        self.vocabulary = vocab
        self._index = {v: i + self._reserved() for i, v in enumerate(vocab)}
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{cls}: output_mode='tf_idf' needs idf_weights or adapt()")
            w = np.asarray(idf_weights, dtype=np.float64).ravel()
            if w.size != len(vocab):
                raise ValueError(f"{cls}: idf_weights must have one weight per vocabulary entry")
            self.idf_weights = [float(u) for u in w]

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        vocab = list(self.vocabulary or [])
        if not include_special_tokens:
            return vocab
        special = [] if self.mask_token is None else [self.mask_token]
        return special + [self.oov_token] * self.num_oov_indices + vocab

    def vocabulary_size(self) -> int:
        return len(self.get_vocabulary())

    def _tokens_of(self, data: Any) -> list:
        return [self._clean(v) for v in _values(data).ravel().tolist()]

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        docs = self._documents(data)
        counts: Counter = Counter()
        df: Counter = Counter()
        for doc in docs:  # per document (a row), never per element of a numeric array
            counts.update(doc)
            df.update(set(doc))
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
            df.pop(special, None)
        keep = None if self.max_tokens is None else max(0, self.max_tokens - self._reserved())
        items = sorted(counts.items(), key=lambda kv: kv[0], reverse=True)
        items.sort(key=lambda kv: -kv[1])  # stable: ties stay in descending token order
        vocab = [t for t, _ in items[:keep]]
        idf = None
        if self.output_mode == "tf_idf":
            n = max(len(docs), 1)
            idf = [float(np.log(1 + n / (1 + df[t]))) for t in vocab]
        self.set_vocabulary(vocab, idf)

    def _documents(self, data: Any) -> list[list]:
        arr = _values(data)
        rows = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(-1, 1)
        return [self._tokens_of(r) for r in rows]

    # -- lookup
    def _ids(self, arr: np.ndarray) -> np.ndarray:
        """ids of an array of values: each distinct value looked up once."""
        if self.vocabulary is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': no vocabulary (call adapt)")
        flat = arr.ravel()
        uniq, inverse = np.unique(flat, return_inverse=True)
        table = np.empty(len(uniq), np.int64)
        for j, v in enumerate(uniq.tolist()):  # distinct values only
            v = self._clean(v)
            if self.mask_token is not None and v == self.mask_token:
                table[j] = 0
            elif v in self._index:
                table[j] = self._index[v]
            elif self.num_oov_indices == 0:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': {v!r} is not in the vocabulary and "
                    "num_oov_indices=0"
                )
            else:
                off = self.mask_token is not None
                table[j] = off + (self._oov_bucket(v) if self.num_oov_indices > 1 else 0)
        return table[inverse].reshape(arr.shape)

    def _oov_bucket(self, v: Any) -> int:
        import zlib

        return zlib.crc32(str(v).encode()) % self.num_oov_indices

    def call(self, x: Any) -> Tensor:
        arr = _values(x)
        if self.invert:  # strings come back as a NumPy array (a Tensor holds numbers)
            vals = self._values_of(arr.astype(np.int64))
            return Tensor(vals) if vals.dtype.kind in "iuf" else vals
        ids = self._ids(arr)
        if self.output_mode == "int":
            return Tensor(ids)
        depth = self.vocabulary_size()
        if self.mask_token is not None:
            ids = np.where(ids == 0, -1, ids)  # the mask is not counted
        return encode(ids, depth, self.output_mode, self._idf_vector())

    def _idf_vector(self) -> np.ndarray | None:
        """Per-id tf-idf weights: the reserved ids (mask, OOV) get the average idf, as Keras
        (their document frequency is unknown)."""
        if self.output_mode != "tf_idf":
            return None
        w = np.asarray(self.idf_weights, dtype=np.float64)
        fill = w.mean() if w.size else 0.0
        return np.concatenate([np.full(self._reserved(), fill), w])

    def _values_of(self, ids: np.ndarray) -> np.ndarray:
        vocab = np.asarray(self.get_vocabulary())
        if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
            raise ValueError(f"{type(self).__name__} '{self.name}': ids out of range")
        return vocab[ids]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "mask_token": self.mask_token,
            "oov_token": self.oov_token,
            "vocabulary": self.vocabulary,
            "invert": self.invert,
            "output_mode": self.output_mode,
            "idf_weights": self.idf_weights,
        }


class StringLookup(_Lookup):
    """Strings to integer ids (or ids back to strings with ``invert=True``; or encoded
    vectors by ``output_mode``) through a vocabulary given or learned by ``adapt``; OOV
    strings get the id(s) after the mask (see [Note: lookup indices])."""

    _invert_dtype = "string"

    def __init__(self, *args: Any, oov_token: str = "[UNK]", **kwargs: Any) -> None:
        super().__init__(*args, oov_token=oov_token, **kwargs)

    def _clean(self, v: Any) -> Any:
        return v.decode() if isinstance(v, bytes) else str(v)


class IntegerLookup(_Lookup):
    """Integer values (e.g. raw category codes) to contiguous ids; ``oov_token`` -1, and the
    mask token, when set, usually 0."""

    def __init__(self, *args: Any, oov_token: int = -1, **kwargs: Any) -> None:
        super().__init__(*args, oov_token=oov_token, **kwargs)

    def _clean(self, v: Any) -> Any:
        if not is_int(v):
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                return int(v)
            raise TypeError(f"IntegerLookup: values must be integers, got {v!r}")
        return int(v)


_PUNCT = re.compile("[" + re.escape(string.punctuation) + "]")


class TextVectorization(_Lookup):
    """Text to token ids or vectors (Keras's): each string standardised ("lower_and_strip_
    punctuation", "lower", "strip_punctuation", None or a callable), split ("whitespace",
    "character", None or a callable), optionally joined into ``ngrams``, then looked up:
    "int" gives (batch, output_sequence_length) ids padded with 0 (or ragged lists of ids
    without a length), the other modes (batch, vocabulary size) vectors. In "int" mode index
    0 is the padding/mask token "" and 1 the OOV token "[UNK]"; the other modes have no mask
    (index 0 is "[UNK]"), as Keras."""

    _STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)
    _SPLIT = ("whitespace", "character", None)

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: Any = "lower_and_strip_punctuation",
        split: Any = "whitespace",
        ngrams: Any = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        vocabulary: Any = None,
        idf_weights: Any = None,
        **kwargs: Any,
    ) -> None:
        if not callable(standardize) and standardize not in self._STANDARDIZE:
            raise ValueError(f"TextVectorization: unknown standardize {standardize!r}")
        if not callable(split) and split not in self._SPLIT:
            raise ValueError(f"TextVectorization: unknown split {split!r}")
        if isinstance(ngrams, int) and not isinstance(ngrams, bool):
            ngrams = tuple(range(1, ngrams + 1)) if ngrams > 0 else None
        elif ngrams is not None:
            ngrams = tuple(int(n) for n in ngrams)
        self.standardize, self.split, self.ngrams = standardize, split, ngrams
        self.output_sequence_length = (
            None
            if output_sequence_length is None
            else positive_int("TextVectorization: output_sequence_length", output_sequence_length)
        )
        super().__init__(
            max_tokens=max_tokens, num_oov_indices=1,
            mask_token="" if output_mode == "int" else None, oov_token="[UNK]",
            vocabulary=vocabulary, output_mode=output_mode, idf_weights=idf_weights, **kwargs,
        )  # fmt: skip

    def _clean(self, v: Any) -> Any:
        return v.decode() if isinstance(v, bytes) else str(v)

    def _tokens(self, text: str) -> list[str]:
        s = self._clean(text)
        st = self.standardize
        if callable(st):
            s = st(s)
        elif st is not None:
            if "lower" in st:
                s = s.lower()
            if "strip_punctuation" in st:
                s = _PUNCT.sub("", s)
        sp = self.split
        toks = sp(s) if callable(sp) else s.split() if sp == "whitespace" else (
            list(s) if sp == "character" else [s])  # fmt: skip
        if self.ngrams:
            toks = [
                " ".join(toks[i : i + n]) for n in self.ngrams for i in range(len(toks) - n + 1)
            ]
        return toks

    def _documents(self, data: Any) -> list[list]:
        return [self._tokens(t) for t in _values(data).ravel().tolist()]

    def call(self, x: Any) -> Any:
        texts = _values(x).ravel().tolist()
        docs = [self._tokens(t) for t in texts]
        lengths = np.array([len(d) for d in docs], np.int64)
        flat = np.array([t for d in docs for t in d], dtype=object)
        ids = self._ids(flat) if flat.size else np.zeros(0, np.int64)
        if self.output_mode != "int":
            starts = np.repeat(np.arange(len(docs)), lengths)
            width = int(lengths.max()) if len(docs) and lengths.max() > 0 else 1
            grid = np.full((len(docs), width), -1, np.int64)
            pos = np.arange(ids.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            grid[starts, pos] = ids
            return encode(grid, self.vocabulary_size(), self.output_mode, self._idf_vector())
        if self.output_sequence_length is None:
            width = int(lengths.max()) if len(docs) and lengths.max() > 0 else 0
        else:
            width = self.output_sequence_length
        out = np.zeros((len(docs), width), np.int64)
        pos = np.arange(ids.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rows = np.repeat(np.arange(len(docs)), lengths)
        keep = pos < width  # longer texts are truncated, as Keras
        out[rows[keep], pos[keep]] = ids[keep]
        return Tensor(out)

    def get_config(self) -> dict:
        cfg = super().get_config()
        for k in ("num_oov_indices", "mask_token", "oov_token", "invert"):
            cfg.pop(k)
        if callable(self.standardize) or callable(self.split):
            raise ValueError(
                f"TextVectorization '{self.name}': a callable standardize/split cannot be saved "
                "as JSON"
            )
        cfg.update(
            standardize=self.standardize,
            split=self.split,
            ngrams=list(self.ngrams) if self.ngrams else None,
            output_sequence_length=self.output_sequence_length,
        )
        return cfg
