"""Property-based fuzzing of keras.random (see [Note: fuzz budget] in conftest.py): random
shapes (empty and size-1 axes included), dtypes, bounds and seeds. Every draw has the shape
and dtype asked for and stays in range; an int seed gives the same values every call, a
SeedGenerator a new draw each call; dropout's output is 0 or x / (1 - rate) everywhere,
shared along the axes where noise_shape is 1, and its gradient is the same mask."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
import deepcore as dc  # noqa: E402
from deepcore.keras import random as krandom  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

shapes = st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple)
seeds = st.integers(0, 2**32 - 1)
float_dtypes = st.sampled_from(["float32", "float64"])


@given(
    shape=shapes, seed=seeds, dtype=float_dtypes, lo=st.floats(-10, 10), width=st.floats(1e-3, 10)
)
def test_uniform_normal_truncated(shape, seed, dtype, lo, width):
    u = krandom.uniform(shape, lo, lo + width, dtype=dtype, seed=seed)
    assert u.shape == shape and u.dtype == np.dtype(dtype)
    a = u.numpy()
    assert np.all(a >= np.asarray(lo, dtype)) and np.all(a <= np.asarray(lo + width, dtype))
    np.testing.assert_array_equal(
        a, krandom.uniform(shape, lo, lo + width, dtype=dtype, seed=seed).numpy()
    )
    n = krandom.normal(shape, lo, width, dtype=dtype, seed=seed)
    assert n.shape == shape and np.all(np.isfinite(n.numpy()))
    t = krandom.truncated_normal(shape, lo, width, dtype=dtype, seed=seed).numpy()
    assert np.all(np.abs(t.astype(np.float64) - lo) <= 2 * width * (1 + 1e-6) + 1e-6)


@given(shape=shapes, seed=seeds, lo=st.integers(-1000, 1000), span=st.integers(1, 1000),
       dtype=st.sampled_from(["int32", "int64", "int16"]))  # fmt: skip
def test_randint(shape, seed, lo, span, dtype):
    if np.iinfo(dtype).max < lo + span - 1 or np.iinfo(dtype).min > lo:
        with pytest.raises(ValueError):
            krandom.randint(shape, lo, lo + span, dtype=dtype, seed=seed)
        return
    r = krandom.randint(shape, lo, lo + span, dtype=dtype, seed=seed).numpy()
    assert r.shape == shape and r.dtype == np.dtype(dtype)
    assert np.all((r >= lo) & (r < lo + span))


@given(rows=st.integers(0, 4), classes=st.integers(1, 6), n=st.integers(0, 5), seed=seeds)
def test_categorical_and_shuffle(rows, classes, n, seed):
    logits = np.random.default_rng(seed).normal(size=(rows, classes))
    c = krandom.categorical(logits, n, seed=seed).numpy()
    assert c.shape == (rows, n) and np.all((c >= 0) & (c < classes))
    x = np.arange(rows * classes, dtype=np.float64).reshape(rows, classes)
    if rows:
        s = krandom.shuffle(x, axis=0, seed=seed).numpy()
        np.testing.assert_array_equal(np.sort(s, axis=0), x)


@st.composite
def dropout_cases(draw):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple))
    noise = draw(st.sampled_from(["none", "full", "shared"]))
    if noise == "none":
        noise_shape = None
    elif noise == "full":
        noise_shape = shape
    else:
        noise_shape = tuple(d if draw(st.booleans()) else 1 for d in shape)
    return dict(
        shape=shape,
        noise_shape=noise_shape,
        rate=draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.999])),
        seed=draw(st.one_of(st.none(), seeds, st.just("generator"))),
        dtype=draw(float_dtypes),
    )


@given(case=dropout_cases())
def test_dropout_mask_properties(case):
    shape, rate, dtype = case["shape"], case["rate"], case["dtype"]
    x = np.random.default_rng(0).uniform(0.5, 2.0, size=shape).astype(dtype)  # no zeros
    seed = case["seed"]
    if seed == "generator":
        seed = krandom.SeedGenerator(7)
    xt = dc.tensor(x, requires_grad=True)
    y = krandom.dropout(xt, rate, noise_shape=case["noise_shape"], seed=seed)
    assert y.shape == shape and y.dtype == np.dtype(dtype)
    out = y.detach().numpy()
    scaled = (x / (1.0 - rate)).astype(dtype)
    kept = out != 0
    np.testing.assert_allclose(out[kept], scaled[kept], rtol=1e-6)
    ratio = np.where(kept, 1.0, 0.0)
    if case["noise_shape"] is not None:  # one draw shared along the axes where it is 1
        for ax, d in enumerate(case["noise_shape"]):
            if d == 1:
                assert np.all(ratio == np.take(ratio, [0], axis=ax))
    y.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), ratio / (1.0 - rate), rtol=1e-6)
    if isinstance(case["seed"], int):  # a fixed seed: the same mask every call
        again = krandom.dropout(x, rate, noise_shape=case["noise_shape"], seed=case["seed"])
        np.testing.assert_array_equal(again.numpy(), out)


@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple),
       rate=st.one_of(st.floats(-1, -1e-9), st.floats(1.0, 5.0)))  # fmt: skip
def test_dropout_bad_rate(shape, rate):
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        krandom.dropout(np.ones(shape, np.float32), rate)
