"""Property-based fuzzing of the recurrent kernels (see [Note: fuzz budget] in conftest.py):
random cells, variants, sizes (including empty ones and sizes that take each thread plan),
masks, directions and dtypes; the fast kernels must agree with the naive reference
(csrc/ref/rnn_ref.cpp) forward and backward, and with the NumPy reference of test_rnn.py."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from deepcore import _C  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_rnn import np_reference  # noqa: E402

CASES = [
    ("rnn", {}),
    ("rnn", {"activation": "relu"}),
    ("lstm", {}),
    ("lstm", {"lstm_variant": "no_forget"}),
    ("lstm", {"lstm_variant": "coupled"}),
    ("lstm", {"peephole": True}),
    ("gru", {}),
    ("gru", {"reset_after": False}),
    ("gru", {"z_keeps_state": False}),
]


@st.composite
def problems(draw):
    cell, opts = draw(st.sampled_from(CASES))
    opts = dict(opts)
    B = draw(st.integers(0, 5))
    T = draw(st.integers(0, 6))
    I = draw(st.integers(1, 5))
    # mostly small; sometimes large enough for the unit-split plan with B <= 5
    H = draw(st.one_of(st.integers(1, 9), st.sampled_from([33, 130])))
    if B >= 2 and draw(st.booleans()):
        B = draw(st.integers(16, 20))  # the batch-split plan
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    mask_kind = draw(st.sampled_from(["none", "lengths", "scattered"]))
    opts["reverse"] = draw(st.booleans())
    opts["zero_output"] = draw(st.booleans())
    init = draw(st.booleans())
    bias = draw(st.booleans())
    h_mask = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return cell, opts, B, T, I, H, dtype, mask_kind, init, bias, h_mask, seed


@given(problems())
def test_fast_kernels_match_references(p):
    cell, opts, B, T, I, H, dtype, mask_kind, init, bias, h_mask, seed = p
    rng = np.random.default_rng(seed)
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    G -= opts.get("lstm_variant", "standard") != "standard"
    s = 1 / np.sqrt(H)

    def r(*shape, scale=1.0):
        return (rng.uniform(-1, 1, shape) * scale).astype(dtype)

    x = r(B, T, I)
    h0 = r(B, H) if init else None
    c0 = r(B, H) if init and cell == "lstm" else None
    w = [r(G * H, I, scale=2 * s), r(G * H, H, scale=2 * s)]
    w += [r(G * H, scale=s), r(G * H, scale=s)] if bias else [None, None]
    if opts.pop("peephole", False):
        opts["w_peephole"] = r((3 if G == 4 else 2) * H)
    if h_mask:
        opts["h_mask"] = ((rng.random((B, H)) > 0.3) / 0.7).astype(dtype)
    mask = None
    if mask_kind == "lengths":
        opts["lengths"] = rng.integers(0, T + 1, B)
        mask = np.arange(T)[None, :] < opts["lengths"][:, None]
    elif mask_kind == "scattered":
        mask = opts["mask"] = rng.random((B, T)) > 0.35
    pos = (cell, x, h0, c0, *w)
    out, hn, cn, ws = _C.rnn_forward(*pos, **opts)
    rout, rhn, rcn = _C.rnn_forward_ref(*pos, **opts)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, rout, **tol)
    np.testing.assert_allclose(hn, rhn, **tol)
    if cell == "lstm":
        np.testing.assert_allclose(cn, rcn, **tol)
    if (cell != "rnn" or "activation" not in opts) and not h_mask:  # NumPy: no dropout
        f64 = [None if a is None else a.astype(np.float64) for a in (x, h0, c0, *w)]
        want = np_reference(
            cell,
            *f64,
            variant=opts.get("lstm_variant", "standard"),
            peep=None if "w_peephole" not in opts else opts["w_peephole"].astype(np.float64),
            reset_after=opts.get("reset_after", True),
            z_keeps=opts.get("z_keeps_state", True),
            mask=mask,
            zero_output=opts["zero_output"],
            reverse=opts["reverse"],
        )
        np.testing.assert_allclose(out, want[0], **tol)
    dout = r(B, T, H)
    dhn = r(B, H)
    dcn = r(B, H) if cell == "lstm" else None
    bw = {k: v for k, v in opts.items() if k not in ("mask", "lengths")}
    got = _C.rnn_backward(*pos, ws, dout, dhn, dcn, **bw)
    ref = _C.rnn_backward_ref(*pos, dout, dhn, dcn, **opts)
    for g, e in zip(got, ref):
        assert (g is None) == (e is None)
        if e is not None:
            scale = max(1.0, float(np.abs(e).max())) if e.size else 1.0
            np.testing.assert_allclose(g, e, rtol=tol["rtol"], atol=tol["atol"] * scale)
