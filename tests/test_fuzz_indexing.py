"""Property-based fuzz of the index-math ops (take_along_axis, take, roll, tile, repeat, pad,
flip, diag/tril/triu, sort/topk, chunk) against NumPy: shapes with size-0 and size-1 axes,
negative axes and indices, repeats of 0, pads wider than the axis (wrap), k at the ends.
Forward values and the gradient (the output gradient scattered back, checked as the
transpose: <op(x), g> == <x, op^T(g)>). Budget: [Note: fuzz budget] in conftest.py."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest

hyp = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

shapes = st.lists(st.integers(0, 4), min_size=1, max_size=4).map(tuple)
nonempty = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def _check(f, ref, x):
    """Forward against NumPy, and the gradient as the adjoint: for a linear index op,
    <f(x), g> = <x, grad>, where grad is what backward gives for cotangent g."""
    t = dc.tensor(x, requires_grad=True)
    out = f(t)
    want = ref(x)
    assert out.shape == want.shape
    np.testing.assert_array_equal(out.detach().numpy(), want)
    if out.size == 0:
        return
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(g)
    # linear in x: <f(x), g> = <x, f^T g> for every x; check it on a second, random x
    x2 = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose((ref(x2) * g).sum(), (x2 * t.grad.numpy()).sum(), rtol=1e-10,
                               atol=1e-10)  # fmt: skip


@given(st.data(), nonempty)
def test_take_along_axis_and_take(data, shape):
    ax = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[ax]
    ishape = tuple(
        data.draw(st.integers(0, 3)) if d == ax % len(shape) else data.draw(st.sampled_from([1, s]))
        for d, s in enumerate(shape)
    )
    idx = data.draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(ishape)),
                             max_size=int(np.prod(ishape))))  # fmt: skip
    idx = np.array(idx, dtype=np.int64).reshape(ishape)
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)

    def ref(v):
        return np.take_along_axis(v, idx, ax)

    _check(lambda t: dc.take_along_axis(t, idx, ax), ref, x)
    tax = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    n = int(np.prod(shape)) if tax is None else shape[tax]
    ti = np.array(data.draw(st.lists(st.integers(-n, n - 1), max_size=5)), dtype=np.int64)
    _check(lambda t: dc.take(t, ti, tax), lambda v: np.take(v, ti, tax), x)


@given(st.data(), shapes)
def test_roll_flip_tile_repeat(data, shape):
    nd = len(shape)
    ax = data.draw(st.none() | st.integers(-nd, nd - 1))
    shift = data.draw(st.integers(-9, 9))
    x = np.random.default_rng(3).standard_normal(shape)
    _check(lambda t: dc.roll(t, shift, ax), lambda v: np.roll(v, shift, ax), x)
    fl = data.draw(st.none() | st.integers(-nd, nd - 1))
    _check(lambda t: dc.flip(t, fl), lambda v: np.flip(v, fl), x)
    reps = tuple(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=5)))
    x = np.random.default_rng(4).standard_normal(shape)
    _check(lambda t: dc.tile(t, reps), lambda v: np.tile(v, reps), x)
    ax = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    n = x.size if ax is None else shape[ax]
    counts = data.draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=n, max_size=n))
    c = counts if isinstance(counts, int) else np.array(counts, dtype=np.int64)
    _check(lambda t: dc.repeat(t, c, ax), lambda v: np.repeat(v, c, ax), x)


@given(st.data(), nonempty, st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"]))
def test_pad(data, shape, mode):
    widths = tuple(
        (data.draw(st.integers(0, 2 * s + 1)), data.draw(st.integers(0, 2 * s + 1))) for s in shape
    )
    if mode == "reflect" and any(s == 1 and (b or a) for s, (b, a) in zip(shape, widths)):
        mode = "symmetric"  # NumPy reflects a single element onto itself; same as symmetric
    x = np.random.default_rng(5).standard_normal(shape)
    _check(lambda t: dc.pad(t, widths, mode), lambda v: np.pad(v, widths, mode), x)


@given(st.data(), nonempty, st.sampled_from(["constant", "reflect", "replicate", "circular"]))
def test_torch_pad(data, shape, mode):
    """F.pad: PyTorch's pair order (last axis first), negative widths (crops), the mode's
    limits (reflect below the size, circular at most the size), against NumPy."""
    import deepcore.nn.functional as F
    from test_pad_unpool import np_torch_pad

    naxes = data.draw(st.integers(0, len(shape)))
    pad = []
    for s in shape[::-1][:naxes]:
        lo = -s if mode == "constant" else -(s - 1) // 2
        hi = {"reflect": s - 1, "circular": s}.get(mode, 2 * s + 1)
        b = data.draw(st.integers(lo, hi))
        a = data.draw(st.integers(max(lo, -(s + b)) if b < 0 else lo, hi))
        if mode != "constant":  # the limits apply to what is left after cropping
            left = s - max(-b, 0) - max(-a, 0)
            cap = left - 1 if mode == "reflect" else left
            b, a = min(b, max(cap, 0)), min(a, max(cap, 0))
        pad += [b, a]
    x = np.random.default_rng(7).standard_normal(shape)
    _check(lambda t: F.pad(t, tuple(pad), mode), lambda v: np_torch_pad(v, pad, mode), x)


@given(st.data(), st.lists(st.integers(0, 4), min_size=2, max_size=3).map(tuple))
def test_triangles_and_diag(data, shape):
    k = data.draw(st.integers(-5, 5))
    x = np.random.default_rng(6).standard_normal(shape)
    _check(lambda t: dc.tril(t, k), lambda v: np.tril(v, k), x)
    _check(lambda t: dc.triu(t, k), lambda v: np.triu(v, k), x)
    if len(shape) == 2:
        _check(lambda t: dc.diag(t, k), lambda v: np.diag(v, k), x)
        if shape[0]:
            _check(lambda t: dc.diag(t[0], k), lambda v: np.diag(v[0], k), x)


@given(st.data(), nonempty)
def test_sort_topk_chunk(data, shape):
    ax = data.draw(st.integers(-len(shape), len(shape) - 1))
    # few distinct values: many ties, which a stable sort must keep in index order
    x = np.random.default_rng(7).integers(0, 3, size=shape).astype(np.float64)
    desc = data.draw(st.booleans())
    v, i = dc.sort(dc.tensor(x), ax, descending=desc)
    want_i = np.argsort(-x if desc else x, axis=ax, kind="stable")
    np.testing.assert_array_equal(i.numpy(), want_i)
    np.testing.assert_array_equal(v.numpy(), np.take_along_axis(x, want_i, ax))
    k = data.draw(st.integers(0, shape[ax]))
    tv, ti = dc.topk(dc.tensor(x), k, ax, largest=desc)
    np.testing.assert_array_equal(ti.numpy(), np.take(want_i, range(k), ax))
    c = data.draw(st.integers(1, 5))
    parts = dc.chunk(dc.tensor(x), c, ax)
    size = -(-shape[ax] // c)
    assert [p.shape[ax] for p in parts] == [
        min(size, shape[ax] - s) for s in range(0, shape[ax], size)
    ]
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in parts], ax), x)
