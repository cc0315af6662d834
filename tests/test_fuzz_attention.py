"""Property-based fuzzing of the fused attention kernel against the materialised reference:
random shapes (lengths across block edges, Lq != Lk, Dv != D), strided (heads-inner) operands,
every mask kind with random broadcast axes, causal, dropout. Examples and seed are fixed in CI
([Note: fuzz budget] in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import _C

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
given = hypothesis.given


@st.composite
def problems(draw):
    B, H = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    Lq, Lk = draw(st.integers(1, 90)), draw(st.integers(1, 300))
    D, Dv = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    kind = draw(st.sampled_from([None, "bool", "float"]))
    # which of (B, H, Lq, Lk) the mask spans (the others broadcast), and how many leading axes
    # it has at all
    spans = draw(st.lists(st.booleans(), min_size=4, max_size=4))
    ndim = draw(st.integers(2, 4))
    causal = draw(st.booleans())
    p = draw(st.sampled_from([0.0, 0.0, 0.25]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    heads_inner = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return B, H, Lq, Lk, D, Dv, kind, spans, ndim, causal, p, dtype, heads_inner, seed


@given(problems())
def test_fused_matches_reference(prob):
    B, H, Lq, Lk, D, Dv, kind, spans, ndim, causal, p, dtype, heads_inner, seed = prob
    rng = np.random.default_rng(seed)

    def operand(L, d):
        if heads_inner:  # a head view of a (B, L, H, d) array
            return rng.standard_normal((B, L, H, d)).astype(dtype).transpose(0, 2, 1, 3)
        return rng.standard_normal((B, H, L, d)).astype(dtype)

    q, k, v = operand(Lq, D), operand(Lk, D), operand(Lk, Dv)
    mask = None
    if kind is not None:
        full = (B, H, Lq, Lk)
        shape = tuple(n if s else 1 for n, s in zip(full, spans))[4 - ndim :]
        if kind == "bool":
            mask = rng.random(shape) > 0.3  # some rows may be fully masked: zeros expected
        else:
            mask = (rng.standard_normal(shape) * 2).astype(dtype)
    go = rng.standard_normal((B, H, Lq, Dv)).astype(dtype)
    args = (mask, causal, None, p, seed)
    o, lse = _C.attention_forward(q, k, v, *args)
    qc, kc, vc = (np.ascontiguousarray(a) for a in (q, k, v))
    tol = dict(rtol=2e-4, atol=3e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(o, _C.attention_forward_ref(qc, kc, vc, *args), **tol)
    got = _C.attention_backward(go, q, k, v, o, lse, *args)
    want = _C.attention_backward_ref(go, qc, kc, vc, *args)
    for name, a, b in zip("qkv", got, want):
        assert np.all(np.isfinite(a)), f"d{name} not finite"
        np.testing.assert_allclose(a, b, err_msg=f"d{name}", **tol)
