"""``pad_sequences``: Keras's padding of variable-length sequences into one array."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import is_int

__all__ = ["pad_sequences"]

#: more entries than this in the padded array is a mistake (a huge ``maxlen``), not a dataset
_MAX_ENTRIES = 1 << 33


def pad_sequences(
    sequences: Any,
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (or truncate) each sequence to ``maxlen`` (default: the longest) and stack them:
    shape ``(len(sequences), maxlen) + sample_shape``. ``padding`` / ``truncating`` 'pre'
    (default) or 'post' says on which side values are added / removed.

    The copy is vectorised: the sequences are concatenated once and scattered into the output
    with index arithmetic, not copied row by row."""
    if padding not in ("pre", "post"):
        raise ValueError(f"padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"truncating must be 'pre' or 'post', got {truncating!r}")
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(
            f"sequences must be a list of iterables (one per sample), got "
            f"{type(sequences).__name__}"
        )
    try:
        rows = [np.asarray(s) for s in sequences]
    except (TypeError, ValueError) as e:
        raise ValueError(f"sequences must be a list of iterables: {e}") from None
    if any(r.ndim == 0 for r in rows):
        raise ValueError("sequences must be a list of iterables; found a scalar entry")
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    nonempty = [r for r in rows if len(r)]
    sample_shape = nonempty[0].shape[1:] if nonempty else ()
    if any(r.shape[1:] != sample_shape for r in nonempty):
        raise ValueError(
            f"sequences have entries of different shapes: {sample_shape} and "
            f"{next(r.shape[1:] for r in nonempty if r.shape[1:] != sample_shape)}"
        )
    if maxlen is None:
        maxlen = int(lengths.max()) if len(lengths) else 0
    elif not is_int(maxlen) or maxlen < 0:
        raise ValueError(f"maxlen must be a non-negative integer or None, got {maxlen!r}")
    maxlen = int(maxlen)
    n = len(rows)
    if n * maxlen * int(np.prod(sample_shape, dtype=np.int64)) > _MAX_ENTRIES:
        raise ValueError(
            f"maxlen={maxlen} for {n} sequences gives more than {_MAX_ENTRIES} entries"
        )
    dt = np.dtype(dtype)
    is_str = isinstance(value, str)
    if is_str and dt.kind not in "USO":
        raise ValueError(
            f"dtype {dt} is not compatible with the padding value {value!r}: use a string "
            "dtype (dtype=object) for string padding"
        )
    out = np.full((n, maxlen) + sample_shape, value, dtype=dt)
    kept = np.minimum(lengths, maxlen)
    total = int(kept.sum())
    if total == 0:
        return out
    flat = np.concatenate(nonempty, axis=0)
    row_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # each row's offset in flat
    src_start = row_start + (lengths - kept if truncating == "pre" else 0)
    dst_start = maxlen - kept if padding == "pre" else np.zeros(n, np.int64)
    first = np.cumsum(kept) - kept  # each row's first entry among the kept ones
    pos = np.arange(total) - np.repeat(first, kept)  # position within the row's kept part
    rows_idx = np.repeat(np.arange(n), kept)
    out[rows_idx, np.repeat(dst_start, kept) + pos] = flat[np.repeat(src_start, kept) + pos]
    return out
