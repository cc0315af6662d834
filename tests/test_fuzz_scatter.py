"""Property-based fuzzing of gather / scatter / scatter_reduce (see [Note: fuzz budget] in
conftest.py): random ranks, axes, index shapes no larger than the input on the other axes
(and src larger than the index), duplicate and edge index values (0, len - 1), every
reduction with and without include_self, every element type, against the sequential NumPy
reference and the naive kernels; and out-of-range indices anywhere in the index are an
IndexError, never a write."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
import deepcore as dc  # noqa: E402
from deepcore import _C  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scatter_reference import np_gather, np_scatter  # noqa: E402


@st.composite
def problems(draw):
    nd = draw(st.integers(1, 3))
    xs = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    axis = draw(st.integers(0, nd - 1))
    ishape = tuple(
        draw(st.integers(0, 7)) if d == axis else draw(st.integers(0, xs[d])) for d in range(nd)
    )
    sshape = tuple(n + draw(st.integers(0, 2)) for n in ishape)
    edge = draw(st.sampled_from(["random", "first", "last"]))
    return dict(
        xs=xs,
        axis=axis,
        ishape=ishape,
        sshape=sshape,
        edge=edge,
        dtype=draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64])),
        reduce=draw(st.sampled_from(["assign", "sum", "prod", "mean", "amax", "amin"])),
        include_self=draw(st.booleans()),
    )


@given(problems(), st.integers(0, 2**32 - 1))
def test_fuzz_gather_scatter(p, seed):
    rng = np.random.default_rng(seed)
    ints = np.dtype(p["dtype"]).kind == "i"

    def draw(shape):
        return (rng.integers(-3, 4, shape) if ints else rng.standard_normal(shape)).astype(
            p["dtype"]
        )

    x, src = draw(p["xs"]), draw(p["sshape"])
    n = p["xs"][p["axis"]]
    idx = rng.integers(0, n, p["ishape"])
    if p["edge"] != "random" and idx.size:
        idx.flat[rng.integers(0, idx.size)] = 0 if p["edge"] == "first" else n - 1
    axis = p["axis"]
    np.testing.assert_array_equal(
        dc.gather(dc.tensor(x), axis, idx).detach().numpy(), np_gather(x, axis, idx)
    )
    sub = src[tuple(slice(0, k) for k in p["ishape"])]
    t, s = dc.tensor(x), dc.tensor(src)
    if p["reduce"] == "assign":
        got = dc.scatter(t, axis, idx, s).detach().numpy()
    else:
        got = (
            dc.scatter_reduce(t, axis, idx, s, p["reduce"], include_self=p["include_self"])
            .detach()
            .numpy()
        )
    want = np_scatter(x, axis, idx, sub, p["reduce"], p["include_self"])
    tol = dict(rtol=1e-5, atol=1e-5) if p["dtype"] == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want, **tol)
    if p["reduce"] != "mean":
        np.testing.assert_array_equal(
            _C.scatter(x, axis, idx, src, p["reduce"], p["include_self"]),
            _C.scatter(x, axis, idx, src, p["reduce"], p["include_self"], reference=True),
        )
    if idx.size:  # one bad index anywhere: IndexError, x untouched
        bad = idx.copy()
        bad.flat[rng.integers(0, idx.size)] = rng.choice([-1, n, n + 5, -(2**40)])
        keep = x.copy()
        with pytest.raises(IndexError, match="out of bounds"):
            dc.gather(dc.tensor(x), axis, bad)
        with pytest.raises(IndexError, match="out of bounds"):
            dc.scatter_add(dc.tensor(x), axis, bad, dc.tensor(src))
        np.testing.assert_array_equal(x, keep)
