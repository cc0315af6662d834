"""Property-based fuzzing of adaptive pooling and ceil-mode pooling (see [Note: fuzz budget]
in conftest.py): input sizes that the output divides, does not divide, or is larger than (the
overlapping windows of adaptive pooling), size-1 axes; ceil-mode windows that start in the
last input column and reach past the padding. Forward and backward against the float64 NumPy
references of test_adaptive_pool.py / test_pool_options.py."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
import deepcore as dc  # noqa: E402
import deepcore.nn.functional as F  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_adaptive_pool import np_adaptive, np_adaptive_vjp  # noqa: E402
from test_pool_options import ceil_out, np_ceil_pool  # noqa: E402


@given(
    st.integers(1, 2),
    st.lists(st.integers(1, 12), min_size=2, max_size=2),
    st.lists(st.integers(1, 12), min_size=2, max_size=2),
    st.sampled_from(["avg", "max"]),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_adaptive(nsp, ins, outs, reduce, seed):
    rng = np.random.default_rng(seed)
    shape = (2, 3, *ins[:nsp])
    out = tuple(outs[:nsp])
    x = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01  # no ties
    t = dc.tensor(x, requires_grad=True)
    y = getattr(F, f"adaptive_{reduce}_pool{nsp}d")(t, out)
    np.testing.assert_allclose(
        y.detach().numpy(), np_adaptive(x, out, reduce)[0], rtol=1e-12, atol=1e-14
    )
    g = rng.standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose(
        t.grad.detach().numpy(), np_adaptive_vjp(x, out, reduce, g), rtol=1e-12, atol=1e-13
    )


@st.composite
def ceil_problems(draw):
    k = [draw(st.integers(1, 4)) for _ in range(2)]
    s = [draw(st.integers(1, 4)) for _ in range(2)]
    p = [draw(st.integers(0, kk // 2)) for kk in k]
    ins = [max(draw(st.integers(1, 11)), kk - 2 * pp) for kk, pp in zip(k, p)]
    return ins, k, s, p


@given(ceil_problems(), st.sampled_from(["max", "avg"]), st.integers(0, 2**32 - 1))
def test_fuzz_ceil_mode(prob, mode, seed):
    ins, k, s, p = prob
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * ins[0] * ins[1]).reshape(1, 2, *ins) * 0.01
    t = dc.tensor(x, requires_grad=True)
    if mode == "max":
        y = F.max_pool2d(t, k, s, p, ceil_mode=True)
    else:
        y = F.avg_pool2d(t, k, s, p, ceil_mode=True, count_include_pad=False)
    assert y.shape[2:] == tuple(ceil_out(n, kk, ss, pp) for n, kk, ss, pp in zip(ins, k, s, p))
    want = np_ceil_pool(x, k, s, p, mode, False)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12, atol=1e-14)
    y.backward(np.ones(y.shape))
    assert np.isfinite(t.grad.detach().numpy()).all()
    if mode == "max":  # every window's gradient lands on one input
        assert t.grad.detach().numpy().sum() == y.size
