"""Property-based fuzzing of the cumulative scans (see [Note: fuzz budget] in conftest.py):
random ranks, shapes (size-1, empty and long axes, inner widths around the 64-column block),
axes and values (zeros for cumprod, ties and NaN for cummax / cummin, huge magnitudes for
logcumsumexp), forward and backward against float64 NumPy references and the naive kernels."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
import deepcore as dc  # noqa: E402
from deepcore import _C  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def problems(draw):
    nd = draw(st.integers(1, 3))
    shape = [draw(st.sampled_from([0, 1, 2, 3, 7, 33])) for _ in range(nd)]
    axis = draw(st.integers(-nd, nd - 1))
    if nd > 1 and draw(st.booleans()):  # inner width around one block of columns
        shape[-1] = draw(st.sampled_from([63, 64, 65, 130]))
        axis = draw(st.integers(0, nd - 2))
    return dict(
        shape=tuple(shape),
        axis=axis,
        op=draw(st.sampled_from(["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"])),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        values=draw(st.sampled_from(["normal", "zeros", "ties", "nan", "huge"])),
    )


def _ref(op, x, axis):
    if op == "cumsum":
        return np.cumsum(x, axis)
    if op == "cumprod":
        return np.cumprod(x, axis)
    if op == "logcumsumexp":
        return np.logaddexp.accumulate(x, axis)
    acc = np.maximum if op == "cummax" else np.minimum
    return acc.accumulate(x, axis)  # (maximum / minimum propagate NaN, as the op)


@given(problems(), st.integers(0, 2**32 - 1))
def test_fuzz_scan(p, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(p["shape"])
    if p["values"] == "zeros":
        x[rng.random(x.shape) < 0.3] = 0.0
    elif p["values"] == "ties":
        x = rng.integers(-2, 3, x.shape).astype(np.float64)
    elif p["values"] == "nan" and p["op"] in ("cummax", "cummin") and x.size:
        x.flat[rng.integers(0, x.size)] = np.nan
    elif p["values"] == "huge" and p["op"] == "logcumsumexp":
        x = x * 500
    x = x.astype(p["dtype"])
    axis, op = p["axis"], p["op"]
    t = dc.tensor(x, requires_grad=True)
    out = getattr(dc, op)(t, axis)
    y = out[0] if isinstance(out, tuple) else out
    with np.errstate(all="ignore"):
        want = _ref(op, x.astype(np.float64), axis)
    tol = dict(rtol=3e-6, atol=1e-6) if p["dtype"] == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.detach().numpy(), want, **tol)
    if isinstance(out, tuple):  # indices: where each value came from
        idx = out[1].detach().numpy()
        taken = np.take_along_axis(x.astype(np.float64), idx, axis)
        np.testing.assert_array_equal(np.isnan(taken), np.isnan(want))
        np.testing.assert_array_equal(taken[~np.isnan(taken)], want[~np.isnan(want)])
    ref = _C.scan_forward(
        x,
        axis,
        {
            "cumsum": "sum",
            "cumprod": "prod",
            "logcumsumexp": "logsumexp",
            "cummax": "max",
            "cummin": "min",
        }[op],
        reference=True,
    )
    np.testing.assert_allclose(y.detach().numpy(), ref[0] if isinstance(ref, tuple) else ref, **tol)
    if x.size and not np.isnan(x).any():
        g = rng.standard_normal(x.shape).astype(p["dtype"])
        y.backward(g)
        assert t.grad.shape == x.shape and t.grad.dtype == x.dtype
        if op == "cumsum":
            want_g = np.flip(np.cumsum(np.flip(g.astype(np.float64), axis), axis), axis)
            np.testing.assert_allclose(t.grad.detach().numpy(), want_g, **tol)
        if op in ("cummax", "cummin"):  # every dy lands once: the totals agree
            np.testing.assert_allclose(
                t.grad.detach().numpy().sum(), g.astype(np.float64).sum(), rtol=1e-5, atol=1e-4
            )
