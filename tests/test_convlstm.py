"""F.conv_lstm (csrc/conv_lstm.h): a float64 NumPy reference (one time step per iteration, the
convolutions written out) over 1-, 2- and 3-D shapes, strides, dilation, padding, masks and
reverse; float64 finite differences for x, the initial states and every weight; PyTorch's
conv composed per step as a second reference; bad inputs.

The Keras layers ConvLSTM1D/2D/3D are tested in tests/test_convlstm_layers.py."""

from __future__ import annotations

import itertools

import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore import _C
from helpers import gradcheck, requires_torch


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _pads(size, k, stride, dil, padding):
    """(lo, hi, out) along one axis, Keras/TensorFlow's rule for 'same'."""
    ext = (k - 1) * dil + 1
    if padding == "valid":
        return 0, 0, (size - ext) // stride + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + ext - size, 0)
    return total // 2, total - total // 2, out


def np_conv(x, w, strides, padding, dil):
    """y (N, K, *P) = cross-correlation of x (N, C, *S) with w (K, C, *k), float64."""
    nsp = x.ndim - 2
    geo = [_pads(x.shape[2 + i], w.shape[2 + i], strides[i], dil[i], padding) for i in range(nsp)]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(lo, hi) for lo, hi, _ in geo])
    out = [o for _, _, o in geo]
    y = np.zeros((x.shape[0], w.shape[0], *out))
    for idx in itertools.product(*[range(k) for k in w.shape[2:]]):
        sl = tuple(
            slice(idx[i] * dil[i], idx[i] * dil[i] + (out[i] - 1) * strides[i] + 1, strides[i])
            for i in range(nsp)
        )
        patch = xp[(slice(None), slice(None), *sl)]
        y += np.einsum("nc...,kc->nk...", patch, w[(slice(None), slice(None), *idx)])
    return y


def np_conv_lstm(
    x, h0, c0, w_x, w_h, b, strides, padding, dil, mask=None, zero_output=False, reverse=False,
    h_mask=None, act=np.tanh,
):  # fmt: skip
    """The convolutional LSTM written out, one step per iteration (float64); ``act`` is the
    activation of g and of c_t (tanh by default)."""
    B, T = x.shape[:2]
    nsp = x.ndim - 3
    Fn = w_h.shape[1]
    ones = (1,) * nsp
    gx = np_conv(x.reshape(B * T, *x.shape[2:]), w_x, strides, padding, dil)
    gx = gx.reshape(B, T, *gx.shape[1:])
    if b is not None:
        gx = gx + b.reshape(1, 1, -1, *ones)
    sp = gx.shape[3:]
    h = np.zeros((B, Fn, *sp)) if h0 is None else h0.copy()
    c = np.zeros((B, Fn, *sp)) if c0 is None else c0.copy()
    out = np.zeros((B, T, Fn, *sp))
    prev = np.zeros_like(h)
    for t in range(T - 1, -1, -1) if reverse else range(T):
        hm = h if h_mask is None else h * h_mask
        a = gx[:, t] + np_conv(hm, w_h, (1,) * nsp, "same", (1,) * nsp)
        i, f, g, o = np.split(a, 4, axis=1)
        i, f, g, o = _sigmoid(i), _sigmoid(f), act(g), _sigmoid(o)
        cn = f * c + i * g
        hn = o * act(cn)
        m = np.ones(B, bool) if mask is None else mask[:, t].astype(bool)
        m = m.reshape(B, 1, *ones)
        h, c = np.where(m, hn, h), np.where(m, cn, c)
        y = np.where(m, hn, 0.0 if zero_output else prev)
        out[:, t] = y
        prev = y
    return out, h, c


def _case(rng, B, T, C, S, Fn, k, kh=None, bias=True, states=True):
    """Random float64 inputs: x (B, T, C, *S), weights for kernel k (input) and kh (recurrent)."""
    nsp = len(S)
    k = (k,) * nsp if isinstance(k, int) else k
    kh = k if kh is None else ((kh,) * nsp if isinstance(kh, int) else kh)
    x = rng.standard_normal((B, T, C, *S))
    w_x = rng.standard_normal((4 * Fn, C, *k)) * 0.4
    w_h = rng.standard_normal((4 * Fn, Fn, *kh)) * 0.3
    b = rng.standard_normal(4 * Fn) * 0.3 if bias else None
    return x, w_x, w_h, b


# (B, T, C, spatial, F, kernel, strides, padding, dilation)
CASES = [
    (2, 3, 2, (7,), 3, 3, 1, "same", 1),
    (1, 1, 1, (5,), 1, 1, 1, "valid", 1),
    (2, 4, 3, (9,), 2, 3, 2, "valid", 1),
    (2, 3, 2, (5, 6), 2, 3, 1, "same", 1),
    (1, 2, 3, (7, 5), 3, 3, 2, "same", 1),
    (3, 2, 1, (8, 7), 2, (3, 2), (2, 1), "valid", (1, 2)),
    (2, 3, 2, (6, 6), 1, 1, 1, "valid", 1),
    (1, 3, 2, (9, 9), 2, 3, 1, "valid", 2),
    (2, 2, 2, (3, 4, 5), 2, 3, 1, "same", 1),
    (1, 2, 1, (5, 4, 3), 2, (3, 1, 2), (2, 1, 1), "valid", 1),
]


def _tuple(v, n):
    return tuple(v) if isinstance(v, tuple) else (v,) * n


@pytest.mark.parametrize("case", CASES, ids=[f"{len(c[3])}d-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_and_backward_match_reference(case, dtype):
    B, T, C, S, Fn, k, st, pad, dil = case
    nsp = len(S)
    rng = np.random.default_rng(len(S) * 100 + B * 10 + T)
    x, w_x, w_h, b = _case(rng, B, T, C, S, Fn, k)
    st, dil = _tuple(st, nsp), _tuple(dil, nsp)
    ref_out, ref_h, ref_c = np_conv_lstm(x, None, None, w_x, w_h, b, st, pad, dil)
    args = [a.astype(dtype) for a in (x, w_x, w_h, b)]
    out, (h, c) = F.conv_lstm(
        args[0], None, args[1], args[2], args[3], strides=st, padding=pad, dilation=dil
    )
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert out.dtype == dtype
    for got, want in ((out, ref_out), (h, ref_h), (c, ref_c)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.data, want, rtol=tol * 10, atol=tol * 10)


GRAD_CASES = [CASES[0], CASES[2], CASES[4], CASES[5], (1, 2, 2, (3, 3, 4), 2, 3, 1, "same", 1)]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[f"{len(c[3])}d" for c in GRAD_CASES])
def test_gradcheck_every_input(case):
    B, T, C, S, Fn, k, st, pad, dil = case
    B, T = min(B, 2), min(T, 3)
    rng = np.random.default_rng(7)
    x, w_x, w_h, b = _case(rng, B, T, C, S, Fn, k)
    nsp = len(S)
    st, dil = _tuple(st, nsp), _tuple(dil, nsp)
    out0, _, _ = np_conv_lstm(x, None, None, w_x, w_h, b, st, pad, dil)
    h0 = rng.standard_normal(out0.shape[:1] + out0.shape[2:]) * 0.5
    c0 = rng.standard_normal(h0.shape) * 0.5

    def fn(x, h0, c0, w_x, w_h, b):
        out, (h, c) = F.conv_lstm(x, (h0, c0), w_x, w_h, b, strides=st, padding=pad, dilation=dil)
        return out, h, c

    gradcheck(fn, [x, h0, c0, w_x, w_h, b])


@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_mask_reverse_and_recurrent_dropout(zero_output, reverse):
    rng = np.random.default_rng(3)
    B, T, C, S, Fn = 3, 5, 2, (5, 4), 2
    x, w_x, w_h, b = _case(rng, B, T, C, S, Fn, 3)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 1, 0], [0, 1, 1, 0, 0]], bool)
    h0 = rng.standard_normal((B, Fn, *S)) * 0.5
    c0 = rng.standard_normal((B, Fn, *S)) * 0.5
    h_mask = (rng.random((B, Fn, *S)) > 0.3) / 0.7
    kw = dict(mask=mask, zero_output=zero_output, reverse=reverse, h_mask=h_mask)
    want = np_conv_lstm(x, h0, c0, w_x, w_h, b, (1, 1), "same", (1, 1), **kw)
    out, (h, c) = F.conv_lstm(x, (h0, c0), w_x, w_h, b, padding="same", **kw)
    for got, ref in zip((out, h, c), want):
        np.testing.assert_allclose(got.data, ref, rtol=1e-11, atol=1e-11)

    small = dict(kw, h_mask=h_mask[..., :3, :3])

    def fn(x, h0, c0, w_x, w_h, b):
        out, (h, c) = F.conv_lstm(x, (h0, c0), w_x, w_h, b, padding="same", **small)
        return out, h, c

    gradcheck(fn, [x[:, :, :, :3, :3], h0[..., :3, :3], c0[..., :3, :3], w_x, w_h, b])


def test_no_bias_and_even_recurrent_kernel():
    rng = np.random.default_rng(5)
    x, w_x, w_h, b = _case(rng, 2, 3, 2, (6, 5), 2, (2, 3), kh=(2, 2), bias=False)
    want = np_conv_lstm(x, None, None, w_x, w_h, None, (1, 1), "same", (1, 1))
    out, (h, c) = F.conv_lstm(x, None, w_x, w_h, padding="same")
    for got, ref in zip((out, h, c), want):
        np.testing.assert_allclose(got.data, ref, rtol=1e-11, atol=1e-11)
    gradcheck(
        lambda x, w_x, w_h: F.conv_lstm(x, None, w_x, w_h, padding="same")[0],
        [x[:, :2, :, :4, :4], w_x, w_h],
    )


def test_empty_time_and_batch():
    rng = np.random.default_rng(1)
    x, w_x, w_h, b = _case(rng, 2, 3, 2, (5, 5), 2, 3)
    h0 = rng.standard_normal((2, 2, 5, 5))
    c0 = rng.standard_normal((2, 2, 5, 5))
    out, (h, c) = F.conv_lstm(x[:, :0], (h0, c0), w_x, w_h, b, padding="same")
    assert out.shape == (2, 0, 2, 5, 5)
    np.testing.assert_array_equal(h.data, h0)
    np.testing.assert_array_equal(c.data, c0)
    out, (h, c) = F.conv_lstm(x[:0], None, w_x, w_h, b, padding="same")
    assert out.shape == (0, 3, 2, 5, 5) and h.shape == (0, 2, 5, 5)


@requires_torch
def test_matches_torch_conv2d_composed_per_step():
    import torch

    rng = np.random.default_rng(11)
    B, T, C, S, Fn = 2, 4, 3, (8, 7), 4
    x, w_x, w_h, b = _case(rng, B, T, C, S, Fn, 3)
    tx, twx, twh, tb = (torch.tensor(a, requires_grad=True) for a in (x, w_x, w_h, b))
    h = torch.zeros(B, Fn, 4, 4, dtype=torch.float64)
    c = torch.zeros_like(h)
    outs = []
    for t in range(T):
        a = torch.nn.functional.conv2d(tx[:, t], twx, tb, stride=2, padding=1)
        a = a + torch.nn.functional.conv2d(h, twh, padding=1)
        i, f, g, o = a.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    tout = torch.stack(outs, 1)
    gy = rng.standard_normal(tout.shape)
    (tout * torch.tensor(gy)).sum().backward()
    import deepcore as dc

    xs = [dc.Tensor(a, requires_grad=True) for a in (x, w_x, w_h, b)]
    out, _ = F.conv_lstm(xs[0], None, xs[1], xs[2], xs[3], strides=2, padding=1)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-11, atol=1e-11)
    (out * dc.Tensor(gy)).sum().backward()
    for mine, theirs in zip(xs, (tx, twx, twh, tb)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_bad_inputs():
    rng = np.random.default_rng(0)
    x, w_x, w_h, b = _case(rng, 2, 3, 2, (5, 5), 2, 3)
    with pytest.raises(ValueError, match="x must be 4-, 5- or 6-dimensional"):
        F.conv_lstm(x[0, 0], None, w_x, w_h, b)
    with pytest.raises(ValueError, match="channel mismatch"):
        F.conv_lstm(x[:, :, :1], None, w_x, w_h, b)
    with pytest.raises(ValueError, match="w_h must have shape"):
        F.conv_lstm(x, None, w_x, w_h[:7], b)
    with pytest.raises(ValueError, match="w_x must have shape"):
        F.conv_lstm(x, None, w_x[:4], w_h, b)
    with pytest.raises(ValueError, match="w_x must have shape"):
        F.conv_lstm(x, None, w_x[..., 0], w_h, b)
    with pytest.raises(ValueError, match="w_x must have a non-empty kernel"):
        F.conv_lstm(x, None, w_x[..., :0], w_h, b)
    with pytest.raises(ValueError, match="b must have shape"):
        F.conv_lstm(x, None, w_x, w_h, b[:3])
    with pytest.raises(ValueError, match="kernel is larger"):
        F.conv_lstm(x[..., :2, :2], None, w_x, w_h, b)
    with pytest.raises(ValueError, match="h0 must have shape"):
        F.conv_lstm(x, (np.zeros((2, 2, 5, 5)), None), w_x, w_h, b)
    with pytest.raises(TypeError, match="dtype"):
        F.conv_lstm(x.astype(np.float32), None, w_x, w_h, b)
    with pytest.raises(TypeError):
        F.conv_lstm(x.astype(np.int64), None, w_x, w_h, b)
    with pytest.raises(ValueError, match="stride"):
        F.conv_lstm(x, None, w_x, w_h, b, strides=0)
    with pytest.raises(ValueError, match="padding"):
        F.conv_lstm(x, None, w_x, w_h, b, padding="causal")
    with pytest.raises(ValueError, match="mask"):
        F.conv_lstm(x, None, w_x, w_h, b, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="activation"):
        F.conv_lstm(x, None, w_x, w_h, b, activation="softmax")
    with pytest.raises(TypeError, match="w_peephole"):
        _C.conv_lstm_forward(x, None, None, w_x, w_h, b, w_peephole=np.zeros(6))
    with pytest.raises(ValueError, match="ws must be"):
        _C.conv_lstm_backward(x, None, None, w_x, w_h, b, (), None, None, None)


def test_every_cpu_kernel_variant(cpu_capability):
    """The pointwise pass and the convolutions of each ISA variant: forward against the
    reference (masks, reverse, recurrent dropout on), gradients by finite differences."""
    rng = np.random.default_rng(21)
    B, T, C, S, Fn = 2, 3, 2, (5, 6), 3
    x, w_x, w_h, b = _case(rng, B, T, C, S, Fn, 3)
    mask = np.array([[1, 0, 1], [1, 1, 1]], bool)
    h_mask = (rng.random((B, Fn, *S)) > 0.3) / 0.7
    kw = dict(mask=mask, reverse=True, h_mask=h_mask)
    want = np_conv_lstm(x, None, None, w_x, w_h, b, (1, 1), "same", (1, 1), **kw)
    for dtype, tol in ((np.float64, 1e-11), (np.float32, 2e-5)):
        args = [a.astype(dtype) for a in (x, w_x, w_h, b)]
        kwd = dict(kw, h_mask=h_mask.astype(dtype))
        out, (h, c) = F.conv_lstm(args[0], None, *args[1:], padding="same", **kwd)
        for got, ref in zip((out, h, c), want):
            np.testing.assert_allclose(got.data, ref, rtol=tol, atol=tol)
    small = dict(kw, h_mask=h_mask[..., :3, :3])
    gradcheck(
        lambda x, w_x, w_h, b: F.conv_lstm(x, None, w_x, w_h, b, padding="same", **small)[0],
        [x[..., :3, :3], w_x, w_h, b],
    )
