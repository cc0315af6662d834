"""Property-based fuzzing of the convolutional LSTM (see [Note: fuzz budget] in conftest.py):
random ranks (1-3 spatial axes), sizes (empty batch and time included), kernels, strides,
dilations, paddings, masks, directions, recurrent dropout and dtypes; forward and backward must
agree with the float64 NumPy reference of test_convlstm.py (the backward through a random
cotangent against central differences of that reference would be slow, so the gradient is
checked as the reference's own directional derivative: <dL/dx, v> for a random direction v)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from deepcore import _C  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_convlstm import np_conv_lstm  # noqa: E402


@st.composite
def problems(draw):
    nsp = draw(st.integers(1, 3))
    B = draw(st.integers(0, 3))
    T = draw(st.integers(0, 4))
    C = draw(st.integers(1, 3))
    Fn = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    kh = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    strides = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    padding = draw(st.sampled_from(["valid", "same"]))
    # big enough for a 'valid' window
    ext = [(k[i] - 1) * dil[i] + 1 for i in range(nsp)]
    S = tuple(draw(st.integers(ext[i], max(ext[i], 7 if nsp < 3 else 4))) for i in range(nsp))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    opts = {
        "mask": draw(st.booleans()),
        "reverse": draw(st.booleans()),
        "zero_output": draw(st.booleans()),
        "h_mask": draw(st.booleans()),
    }
    states = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return nsp, B, T, C, Fn, k, kh, strides, dil, padding, S, dtype, opts, states, seed


@given(problems())
def test_matches_numpy_reference(p):
    nsp, B, T, C, Fn, k, kh, strides, dil, padding, S, dtype, opts, states, seed = p
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, C, *S))
    w_x = rng.standard_normal((4 * Fn, C, *k)) * 0.4
    w_h = rng.standard_normal((4 * Fn, Fn, *kh)) * 0.3
    b = rng.standard_normal(4 * Fn) * 0.3
    ref_out, _, _ = np_conv_lstm(
        np.zeros((1, 1, C, *S)), None, None, w_x, w_h, b, strides, padding, dil
    )
    P = ref_out.shape[3:]
    h0 = rng.standard_normal((B, Fn, *P)) * 0.5 if states else None
    c0 = rng.standard_normal((B, Fn, *P)) * 0.5 if states else None
    kw = {"reverse": opts["reverse"], "zero_output": opts["zero_output"]}
    if opts["mask"]:
        kw["mask"] = rng.random((B, T)) > 0.3
    if opts["h_mask"]:
        kw["h_mask"] = (rng.random((B, Fn, *P)) > 0.25) / 0.75
    want = np_conv_lstm(x, h0, c0, w_x, w_h, b, strides, padding, dil, **kw)

    def cast(a):
        return None if a is None else a.astype(dtype)

    kwc = {key: (cast(v) if key == "h_mask" else v) for key, v in kw.items()}
    geo = (strides, padding, dil)
    args = [cast(a) for a in (x, h0, c0, w_x, w_h, b)]
    out, h, c, ws = _C.conv_lstm_forward(*args, *geo, **kwc)
    tol = 1e-10 if dtype == np.float64 else 3e-5
    for got, ref in zip((out, h, c), want):
        assert got.shape == ref.shape and got.dtype == dtype
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)

    # backward: <grad, v> against the reference's central difference along v
    gy = rng.standard_normal(out.shape)
    kwb = {key: v for key, v in kwc.items() if key != "mask"}
    grads = _C.conv_lstm_backward(*args, ws, cast(gy), None, None, *geo, **kwb)
    inputs = [x, h0, c0, w_x, w_h, b]
    for i, g in [(0, grads[0]), (1, grads[1]), (3, grads[3]), (4, grads[4]), (5, grads[5])]:
        if inputs[i] is None or inputs[i].size == 0:
            continue
        v = rng.standard_normal(inputs[i].shape)
        eps = 1e-6

        def loss(delta, i=i, v=v):
            moved = list(inputs)
            moved[i] = inputs[i] + delta * v
            return float(np.sum(np_conv_lstm(*moved, strides, padding, dil, **kw)[0] * gy))

        fd = (loss(eps) - loss(-eps)) / (2 * eps)
        got = float(np.sum(g.astype(np.float64) * v))
        scale = max(1.0, abs(fd))
        assert abs(got - fd) <= (1e-6 if dtype == np.float64 else 2e-3) * scale, (i, got, fd)
