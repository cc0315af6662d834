"""Property-based fuzzing (see [Note: fuzz budget] in conftest.py) of the keras.ops names and
layers added on 2026-12-06: the FFTs on (real, imag) pairs against numpy.fft over random
shapes (sizes 1 and odd lengths included), Keras's ``scatter`` against ``np.add.at`` with
duplicate and corner indices, and the Hashing layer's bin invariants (range, determinism,
the mask value, equal strings in equal bins)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from deepcore import ops  # noqa: E402
from deepcore.keras import layers  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

lengths = st.sampled_from([1, 2, 3, 5, 8, 13])
lead = st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=2).map(tuple)


def _np(t):
    return np.asarray(getattr(t, "data", t), np.float64)


@given(lead, lengths, st.integers(0, 2**32 - 1))
def test_fuzz_fft_and_rfft_match_numpy(shape, n, seed):
    rng = np.random.default_rng(seed)
    re, im = (rng.standard_normal((*shape, n)) for _ in range(2))
    got_re, got_im = ops.fft((re, im))
    want = np.fft.fft(re + 1j * im, axis=-1)
    np.testing.assert_allclose(_np(got_re), want.real, atol=1e-9)
    np.testing.assert_allclose(_np(got_im), want.imag, atol=1e-9)
    r_re, r_im = ops.rfft(re)
    want_r = np.fft.rfft(re, axis=-1)
    np.testing.assert_allclose(_np(r_re), want_r.real, atol=1e-9)
    np.testing.assert_allclose(_np(r_im), want_r.imag, atol=1e-9)
    back = ops.irfft((r_re, r_im), fft_length=n)
    np.testing.assert_allclose(_np(back), re, atol=1e-9)


@given(
    st.sampled_from([(4,), (3, 5), (2, 3, 4)]),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_keras_scatter_matches_add_at(shape, n, seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, len(shape) + 1))
    # indices drawn from the corners (0 and the last) and the middle, duplicates allowed
    idx = np.stack([rng.choice([0, s - 1, s // 2], n) for s in shape[:k]], 1).astype(np.int64)
    vals = rng.standard_normal((n, *shape[k:]))
    want = np.zeros(shape)
    np.add.at(want, tuple(idx.T), vals)
    np.testing.assert_allclose(_np(ops.scatter(idx, vals, shape)), want, atol=1e-12)


@given(
    st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=8),
    st.integers(1, 50),
    st.sampled_from([None, "", "x"]),
)
def test_fuzz_hashing_bins(words, num_bins, mask_value):
    if mask_value is not None and num_bins < 2:
        num_bins = 2
    layer = layers.Hashing(num_bins=num_bins, mask_value=mask_value)
    arr = np.array(words + words, dtype=object)[:, None]
    bins = np.asarray(layer(arr)).reshape(-1)
    assert bins.dtype.kind == "i" and bins.min() >= 0 and bins.max() < num_bins
    half = len(words)
    np.testing.assert_array_equal(bins[:half], bins[half:])  # equal strings, equal bins
    np.testing.assert_array_equal(bins, np.asarray(layer(arr)).reshape(-1))  # deterministic
    if mask_value is not None:
        is_mask = np.array([w == mask_value for w in words + words])
        assert (bins[is_mask] == 0).all() and (bins[~is_mask] >= 1).all()
