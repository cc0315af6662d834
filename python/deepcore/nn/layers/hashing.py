"""Keras's Hashing layer: values to a fixed number of bins by the stable hashes Keras's
(TensorFlow's) bucket ops use, FarmHash Fingerprint64 or salted SipHash-2-4 (csrc/hashing.h);
eager, on arrays, as the other categorical preprocessing layers (lookup.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._checks import is_int, positive_int
from ...kernels import hash_to_bins
from ...tensor import Tensor
from .lookup import _Preprocessing, _values, encode

__all__ = ["Hashing"]


class Hashing(_Preprocessing):
    """Keras's Hashing: values (strings, integers, floats) to bins in [0, num_bins) by a stable
    hash, the bins Keras (TensorFlow's ``to_hash_bucket_fast`` / ``_strong``) gives.

    The hash is FarmHash's Fingerprint64 of the value's bytes, or SipHash-2-4 keyed by
    ``salt`` (an int k, meaning (k, k), or a pair (k0, k1)); bin = hash % num_bins, both in
    native code (csrc/hashing.h) over the *distinct* values. Strings hash as UTF-8; integers
    as their decimal text (TensorFlow's ``as_string``); floats are first truncated to int64,
    as Keras does. With ``mask_value`` set, values equal to it go to bin 0 and the others to
    1 + hash % (num_bins - 1). ``output_mode`` "one_hot" / "multi_hot" / "count" encode the
    bins as CategoryEncoding does. Strings ending in NUL characters lose them (NumPy's bytes
    arrays pad with NULs).
    """

    def __init__(
        self,
        num_bins: int,
        mask_value: Any = None,
        salt: Any = None,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_bins = positive_int("Hashing: num_bins", num_bins)
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(
                "Hashing: output_mode must be 'int', 'one_hot', 'multi_hot' or 'count', got "
                f"{output_mode!r}"
            )
        if sparse:
            raise ValueError("Hashing: sparse outputs are not supported (deepcore is dense)")
        self.output_mode = output_mode
        self.sparse = False
        self.mask_value = mask_value
        if salt is None:
            self.salt = None
        elif is_int(salt):
            self.salt = [int(salt), int(salt)]
        elif isinstance(salt, (list, tuple)) and len(salt) == 2 and all(is_int(k) for k in salt):
            self.salt = [int(k) for k in salt]
        else:
            raise ValueError(
                f"Hashing: salt must be None, an integer or a pair of integers, got {salt!r}"
            )
        if self.salt is not None and not all(0 <= k < 2**64 for k in self.salt):
            raise ValueError(f"Hashing: salt values must be in [0, 2**64), got {salt!r}")

    def call(self, x: Any) -> Tensor:
        values = _values(x)
        if values.dtype.kind == "O":
            values = np.asarray(values.tolist())
        kind = values.dtype.kind
        if kind == "b" or kind not in "USiuf":
            raise TypeError(
                f"Hashing '{self.name}': inputs must be strings, integers or floats, got dtype "
                f"{values.dtype}"
            )
        uniq, inverse = np.unique(values, return_inverse=True)
        if kind == "f":
            if not np.all(np.isfinite(uniq)):
                raise ValueError(f"Hashing '{self.name}': inputs must be finite")
            keys = uniq.astype(np.int64).astype("S")
        elif kind in "iu":
            keys = uniq.astype("S")
        elif kind == "U":
            keys = np.char.encode(uniq, "utf-8")
        else:
            keys = uniq
        bins = self.num_bins
        masked = self.mask_value is not None and bins > 1
        ids = hash_to_bins(np.ascontiguousarray(keys), bins - 1 if masked else bins, self.salt)
        if masked:
            mask_value = self.mask_value
            if kind == "S" and isinstance(mask_value, str):
                mask_value = mask_value.encode("utf-8")
            ids = np.where(uniq == np.asarray(mask_value, dtype=uniq.dtype), 0, ids + 1)
        ids = ids[inverse.reshape(values.shape)]
        if self.output_mode == "int":
            return Tensor(ids.astype(np.int64))
        return encode(ids, self.num_bins, self.output_mode)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.output_mode == "int":
            return tuple(input_shape)
        shape = tuple(input_shape)
        if self.output_mode == "one_hot" and shape and shape[-1] == 1:
            shape = shape[:-1]
        elif self.output_mode != "one_hot":
            shape = shape[:-1]
        return (*shape, self.num_bins)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "mask_value": self.mask_value,
            "salt": self.salt,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }
