"""Property-based fuzzing of the CTC loss (see [Note: fuzz budget] in conftest.py): random
time steps (0 included), batch, classes, blank, target lengths (0, repeats, longer than the
input allows) and input lengths; the native forward against the definition (every path
enumerated) and forward and backward against the reference loops of csrc/ref/ctc_ref.cpp."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from ctc_reference import brute_force_nll  # noqa: E402
from deepcore import _C  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def problems(draw):
    T = draw(st.integers(0, 5))
    N = draw(st.integers(1, 3))
    C = draw(st.integers(2, 3))
    S = draw(st.integers(0, 4))
    blank = draw(st.integers(0, C - 1))
    labels = [c for c in range(C) if c != blank]
    tg = [[draw(st.sampled_from(labels)) for _ in range(S)] for _ in range(N)]
    tl = [draw(st.integers(0, S)) for _ in range(N)]
    il = [draw(st.integers(0, T)) for _ in range(N)]
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return T, N, C, S, blank, np.array(tg, np.int64).reshape(N, S), tl, il, dtype


@given(problems(), st.integers(0, 2**32 - 1))
def test_fuzz_ctc(problem, seed):
    T, N, C, S, blank, tg, tl, il, dtype = problem
    lp = np.random.default_rng(seed).standard_normal((T, N, C)).astype(dtype)
    il, tl = np.array(il, np.int64), np.array(tl, np.int64)
    nll = _C.ctc_loss_forward(lp, tg, il, tl, blank)
    ref = _C.ctc_loss_forward(lp, tg, il, tl, blank, reference=True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for n in range(N):
        want = brute_force_nll(lp[: il[n], n].astype(np.float64), tg[n, : tl[n]], blank)
        for got in (nll[n], ref[n]):
            if np.isinf(want):
                assert got == np.inf
            else:
                np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    g = np.random.default_rng(seed + 1).standard_normal(N).astype(dtype)
    for zi in (False, True):
        got = _C.ctc_loss_backward(g, lp, tg, il, tl, nll, blank, zi)
        want = _C.ctc_loss_backward(g, lp, tg, il, tl, nll, blank, zi, reference=True)
        np.testing.assert_allclose(got, want, rtol=10 * tol, atol=10 * tol)
