"""Character-level text data for next-character prediction (char-RNN language models).

    from deepcore.datasets import text
    data = text.load_char_windows("alice-11-0.txt", seqlen=10, step=1)
    data.x          # (n, 10) int64 character indices of each window
    data.y          # (n,)    int64 index of the character that follows each window
    data.vocab.decode(data.x[0])

Everything is vectorised: the text becomes an array of code points once (UTF-32), indices come
from a binary search into the sorted vocabulary, and windows are strided views of that array.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..utils import to_categorical

__all__ = ["CharDataset", "Vocabulary", "load_char_windows", "load_text", "windows"]

SEQLEN = 10
STEP = 1


def load_text(path: str | os.PathLike, lower: bool = False, encoding: str = "utf-8") -> str:
    """Read a text file (a leading byte-order mark is dropped); optionally lower-case it."""
    with open(path, encoding=encoding) as f:
        s = f.read()
    s = s.removeprefix("\ufeff")
    return s.lower() if lower else s


def _codepoints(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-32-le"), dtype="<u4")


class Vocabulary:
    """The sorted set of characters of a text: ``char_to_index`` and ``index_to_char``."""

    def __init__(self, chars: str) -> None:
        self._codes = np.unique(_codepoints(chars))  # sorted, for searchsorted in encode()
        self.index_to_char: list[str] = [chr(c) for c in self._codes]
        self.char_to_index: dict[str, int] = {c: i for i, c in enumerate(self.index_to_char)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls(text)

    def __len__(self) -> int:
        return len(self.index_to_char)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} chars)"

    def encode(self, text: str, dtype=np.int64) -> np.ndarray:
        """Characters -> indices (ValueError on a character not in the vocabulary)."""
        codes = _codepoints(text)
        if codes.size and not len(self._codes):
            raise ValueError("encode: the vocabulary is empty")
        idx = np.searchsorted(self._codes, codes)
        bad = self._codes[np.minimum(idx, len(self._codes) - 1)] != codes
        if np.any(bad):
            raise ValueError(f"encode: character {chr(codes[np.argmax(bad)])!r} not in vocabulary")
        return idx.astype(dtype)

    def decode(self, indices) -> str:
        """Indices -> text."""
        indices = np.asarray(indices)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise ValueError(f"decode: indices must be in 0..{len(self) - 1}")
        return self._codes[indices.ravel()].astype("<u4").tobytes().decode("utf-32-le")


def windows(
    ids: np.ndarray, seqlen: int = SEQLEN, step: int = STEP, sequence_targets: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``ids`` into inputs of ``seqlen`` items every ``step`` items, each with its target.

    Window ``i`` is ``ids[i*step : i*step+seqlen]``. Its target is the next item
    ``ids[i*step+seqlen]`` (shape ``(n,)``), or with ``sequence_targets`` the window shifted by
    one, ``ids[i*step+1 : i*step+seqlen+1]`` (shape ``(n, seqlen)``, for TimeDistributed
    outputs). Returns contiguous copies.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"windows: ids must be 1-D, got shape {ids.shape}")
    if seqlen < 1 or step < 1:
        raise ValueError(f"windows: seqlen and step must be >= 1, got {seqlen}, {step}")
    if len(ids) <= seqlen:
        raise ValueError(f"windows: need more than seqlen={seqlen} items, got {len(ids)}")
    n = (len(ids) - seqlen - 1) // step + 1
    # one strided view of all (seqlen+1)-long windows, then every step-th one
    view = np.lib.stride_tricks.sliding_window_view(ids, seqlen + 1)[: (n - 1) * step + 1 : step]
    x = np.ascontiguousarray(view[:, :seqlen])
    y = np.ascontiguousarray(view[:, 1:] if sequence_targets else view[:, seqlen])
    return x, y


@dataclass
class CharDataset:
    """Windows of a text: ``x`` inputs, ``y`` targets, the ``vocab`` that maps them to chars."""

    x: np.ndarray
    y: np.ndarray
    vocab: Vocabulary
    text: str


def load_char_windows(
    path: str | os.PathLike,
    seqlen: int = SEQLEN,
    step: int = STEP,
    one_hot: bool = False,
    sequence_targets: bool = False,
    lower: bool = False,
    max_chars: int | None = None,
) -> CharDataset:
    """Load a text file and cut it into next-character windows.

    With ``one_hot`` the arrays are float32 one-hot encodings (x: ``(n, seqlen, V)``,
    y: ``(n, V)`` or ``(n, seqlen, V)``) — mind the memory: n·seqlen·V·4 bytes.
    ``max_chars`` keeps only the start of the text.
    """
    text = load_text(path, lower=lower)
    if max_chars is not None:
        text = text[:max_chars]
    vocab = Vocabulary.from_text(text)
    x, y = windows(vocab.encode(text), seqlen, step, sequence_targets)
    if one_hot:
        x, y = to_categorical(x, len(vocab)), to_categorical(y, len(vocab))
    return CharDataset(x, y, vocab, text)
