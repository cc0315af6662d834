"""Naive reference of the preprocessing encodings (deepcore.nn.layers.lookup.encode), with
loops: one_hot encodes every element (a trailing axis of size 1 replaced), the other modes
count over the last axis; ids < 0 are padding."""

from __future__ import annotations

import numpy as np


def encode_reference(ids: np.ndarray, depth: int, mode: str) -> np.ndarray:
    if mode == "one_hot":
        base = ids[..., 0] if ids.ndim and ids.shape[-1] == 1 else ids
        want = np.zeros(base.shape + (depth,))
        for idx in np.ndindex(*base.shape):
            if base[idx] >= 0:
                want[idx + (base[idx],)] = 1
        return want
    want = np.zeros(ids.shape[:-1] + (depth,))
    for idx in np.ndindex(*ids.shape[:-1]):
        for j in ids[idx]:
            if j >= 0:
                want[idx + (j,)] += 1
    return np.minimum(want, 1) if mode == "multi_hot" else want
