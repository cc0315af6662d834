"""Property-based fuzzing of the preprocessing lookups (see [Note: fuzz budget] in
conftest.py): random id arrays (padding, empty and size-1 axes) through every encoding, and
random vocabularies, masks and OOV counts through StringLookup / IntegerLookup, against
naive Python references."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from deepcore import nn as layers  # noqa: E402
from deepcore.nn.layers.lookup import encode  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from lookup_reference import encode_reference  # noqa: E402


@given(
    shape=st.lists(st.integers(0, 4), min_size=1, max_size=3),
    depth=st.integers(1, 7),
    mode=st.sampled_from(["one_hot", "multi_hot", "count"]),
    seed=st.integers(0, 2**16),
)
def test_fuzz_encode(shape, depth, mode, seed):
    ids = np.random.default_rng(seed).integers(-1, depth, size=shape)
    got = encode(ids, depth, mode).numpy()
    want = encode_reference(ids, depth, mode)
    np.testing.assert_array_equal(got, want)


@given(
    vocab=st.lists(st.integers(1, 30), unique=True, max_size=8),
    data=st.lists(st.integers(0, 35), max_size=12),
    masked=st.booleans(),
    oov=st.integers(1, 3),
    strings=st.booleans(),
)
def test_fuzz_lookup(vocab, data, masked, oov, strings):
    conv = str if strings else int
    cls = layers.StringLookup if strings else layers.IntegerLookup
    mask = conv(0) if masked else None
    layer = cls(vocabulary=[conv(v) for v in vocab], mask_token=mask, num_oov_indices=oov)
    x = np.array([conv(v) for v in data]) if data else np.array([], dtype=str if strings else int)
    got = layer(x).numpy().tolist()
    reserved = int(masked) + oov
    for v, g in zip(data, got):
        if masked and v == 0:
            assert g == 0
        elif v in vocab:
            assert g == reserved + vocab.index(v)
        else:
            assert int(masked) <= g < reserved  # one of the OOV ids
    back = cls(vocabulary=[conv(v) for v in vocab], mask_token=mask, num_oov_indices=oov,
               invert=True)(np.array(got, dtype=np.int64))  # fmt: skip
    vals = np.asarray(back.numpy() if hasattr(back, "numpy") else back).tolist()
    for v, r in zip(data, vals):
        if v in vocab:
            assert r == conv(v)
