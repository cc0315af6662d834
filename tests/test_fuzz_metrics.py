"""Property-based checks of the vectorised index arithmetic behind the threshold metrics
(metrics.confusion_counts: searchsorted buckets + bincount + reverse cumsum) and
utils.pad_sequences (one scatter), each against a one-element-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest

hyp = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
given = hyp.given

from deepcore import metrics, utils  # noqa: E402

# thresholds drawn partly from the predictions' own values: the ties (pred == threshold is
# negative) are the corner of the bucket arithmetic
_vals = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, -np.inf, 0.1, 0.9])


@given(
    n=st.integers(0, 30),
    labels=st.integers(1, 3),
    thr=st.lists(_vals, min_size=1, max_size=5, unique=True),
    multi=st.booleans(),
    weighted=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_confusion_counts_match_a_loop(n, labels, thr, multi, weighted, seed):
    rng = np.random.default_rng(seed)
    p = rng.choice([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, rng.random()], size=(n, labels))
    t = rng.integers(0, 2, (n, labels))
    w = rng.uniform(0, 2, n) if weighted else None
    thresholds = np.sort(np.array(thr))
    got = metrics.confusion_counts(t, p, thresholds, w, multi_label=multi)
    shape = (len(thresholds), labels) if multi else (len(thresholds),)
    ref = {k: np.zeros(shape) for k in ("tp", "fp", "tn", "fn")}
    for j, th in enumerate(thresholds):
        for i in range(n):
            for c in range(labels):
                pos, truth = p[i, c] > th, bool(t[i, c])
                key = ("t" if pos == truth else "f") + ("p" if pos else "n")
                idx = (j, c) if multi else j
                ref[key][idx] += 1.0 if w is None else w[i]
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-12, atol=1e-12)


@given(
    lengths=st.lists(st.integers(0, 9), max_size=12),
    maxlen=st.one_of(st.none(), st.integers(0, 10)),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    width=st.sampled_from([None, 1, 3]),
)
def test_pad_sequences_matches_a_loop(lengths, maxlen, padding, truncating, width):
    rng = np.random.default_rng(len(lengths))
    tail = () if width is None else (width,)
    seqs = [rng.integers(1, 100, (k,) + tail) for k in lengths]
    got = utils.pad_sequences(seqs, maxlen, padding=padding, truncating=truncating, value=-1)
    ml = (max(lengths) if lengths else 0) if maxlen is None else maxlen
    ref = np.full((len(seqs), ml) + (tail if any(lengths) else ()), -1, np.int32)
    for i, s in enumerate(seqs):
        keep = s[len(s) - min(len(s), ml) :] if truncating == "pre" else s[:ml]
        for j in range(len(keep)):
            ref[i, (ml - len(keep) + j) if padding == "pre" else j] = keep[j]
    np.testing.assert_array_equal(got, ref)
