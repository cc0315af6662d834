"""F.rnn, F.lstm, F.gru: PyTorch parity in float64 (outputs, final states and every gradient),
the variants PyTorch lacks against a NumPy reference and float64 finite differences, masked
sequences against each sequence run alone at its own length, float32, and bad inputs.

Kernel-level checks (every CPU variant against csrc/ref) are in tests/test_rnn_kernels.py."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import gradcheck, requires_torch

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_reference(
    cell,
    x,
    h0,
    c0,
    w_ih,
    w_hh,
    b_ih,
    b_hh,
    *,
    act=np.tanh,
    variant="standard",
    peep=None,
    reset_after=True,
    z_keeps=True,
    mask=None,
    zero_output=False,
    reverse=False,
):
    """The cells written out in NumPy, one time step per iteration (float64)."""
    B, T, _ = x.shape
    H = w_hh.shape[1]
    h = np.zeros((B, H)) if h0 is None else h0.copy()
    c = np.zeros((B, H)) if c0 is None else c0.copy()
    b_ih = np.zeros(w_hh.shape[0]) if b_ih is None else b_ih
    b_hh = np.zeros(w_hh.shape[0]) if b_hh is None else b_hh
    out = np.zeros((B, T, H))
    prev = np.zeros((B, H))
    for t in range(T - 1, -1, -1) if reverse else range(T):
        m = np.ones((B, 1), bool) if mask is None else mask[:, t : t + 1].astype(bool)
        gx = x[:, t] @ w_ih.T + b_ih
        cn = c
        if cell == "rnn":
            hn = act(gx + h @ w_hh.T + b_hh)
        elif cell == "lstm":
            a = gx + h @ w_hh.T + b_hh
            blocks = np.split(a, a.shape[1] // H, axis=1)
            p = np.zeros((3, H)) if peep is None else peep.reshape(-1, H)
            if variant == "standard":
                ai, af, ag, ao = blocks
                i = _sigmoid(ai + p[0] * c)
                f = _sigmoid(af + p[1] * c)
                po = p[2]
            elif variant == "no_forget":
                ai, ag, ao = blocks
                i, f, po = _sigmoid(ai + p[0] * c), 1.0, p[1]
            else:  # coupled
                af, ag, ao = blocks
                f = _sigmoid(af + p[0] * c)
                i, po = 1 - f, p[1]
            cn = f * c + i * np.tanh(ag)
            hn = _sigmoid(ao + po * cn) * np.tanh(cn)
        else:
            ar, az, an = np.split(gx, 3, axis=1)
            hr, hz, _ = np.split(h @ w_hh.T + b_hh, 3, axis=1)
            r, z = _sigmoid(ar + hr), _sigmoid(az + hz)
            U_n, b_hn = w_hh[2 * H :], b_hh[2 * H :]
            if reset_after:
                n = np.tanh(an + r * (h @ U_n.T + b_hn))
            else:
                n = np.tanh(an + (r * h) @ U_n.T + b_hn)
            hn = z * h + (1 - z) * n if z_keeps else (1 - z) * h + z * n
        h = np.where(m, hn, h)
        c = np.where(m, cn, c)
        y = np.where(m, hn, 0.0 if zero_output else prev)
        out[:, t] = y
        prev = y
    return out, h, c


def _weights(cell, I, H, rng, gates=None, bias=True):
    G = gates or GATES[cell]
    s = 1.0 / np.sqrt(H)
    w = [rng.uniform(-s, s, (G * H, I)), rng.uniform(-s, s, (G * H, H))]
    w += [rng.uniform(-s, s, G * H), rng.uniform(-s, s, G * H)] if bias else [None, None]
    return w


def _call(cell, x, h0, c0, w, **kw):
    """Our op with (h0, c0) placed as the cell's API wants; a flat tuple of outputs."""
    if cell == "lstm":
        out, (h, c) = F.lstm(x, (h0, c0), *w, **kw)
        return out, h, c
    fn = F.gru if cell == "gru" else F.rnn
    return fn(x, h0, *w, **kw)


# ------------------------------------------------------------------------------ PyTorch parity
SIZES = [(1, 1, 1, 1), (2, 3, 5, 7), (3, 7, 2, 11), (5, 2, 13, 3), (1, 11, 3, 2)]


@requires_torch
@pytest.mark.parametrize("with_init", [True, False])
@pytest.mark.parametrize("cell", ["rnn", "rnn_relu", "lstm", "gru"])
def test_torch_parity(cell, with_init):
    import torch

    nonlin = "relu" if cell == "rnn_relu" else "tanh"
    cell = "rnn" if cell == "rnn_relu" else cell
    rng = np.random.default_rng(1)
    for B, T, I, H in SIZES:
        x = rng.standard_normal((B, T, I))
        h0 = rng.standard_normal((B, H)) if with_init else None
        c0 = rng.standard_normal((B, H)) if with_init and cell == "lstm" else None
        w = _weights(cell, I, H, rng)
        if cell == "lstm":
            tm = torch.nn.LSTM(I, H, batch_first=True, dtype=torch.float64)
        elif cell == "gru":
            tm = torch.nn.GRU(I, H, batch_first=True, dtype=torch.float64)
        else:
            tm = torch.nn.RNN(I, H, nonlinearity=nonlin, batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            for name, a in zip(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"], w):
                getattr(tm, name).copy_(torch.tensor(a))
        # ours
        ts = [dc.tensor(a, requires_grad=True) if a is not None else None for a in [x, h0, c0]]
        ws = [dc.tensor(a, requires_grad=True) for a in w]
        kw = {"nonlinearity": nonlin} if cell == "rnn" else {}
        outs = _call(cell, ts[0], ts[1], ts[2], ws, **kw)
        cots = [rng.standard_normal(o.shape) for o in outs]
        sum((o * dc.tensor(r)).sum() for o, r in zip(outs, cots)).backward()
        # PyTorch
        pt = [torch.tensor(a, requires_grad=True) if a is not None else None for a in [x, h0, c0]]
        if cell == "lstm":
            hx = (pt[1][None], pt[2][None]) if with_init else None
            po, (ph, pc) = tm(pt[0], hx)
            pouts = [po, ph[0], pc[0]]
        else:
            po, ph = tm(pt[0], pt[1][None] if with_init else None)
            pouts = [po, ph[0]]
        sum((o * torch.tensor(r)).sum() for o, r in zip(pouts, cots)).backward()
        what = f"{cell} {nonlin} {(B, T, I, H)} init={with_init}"
        for k, (o, p) in enumerate(zip(outs, pouts)):
            np.testing.assert_allclose(o.data, p.detach().data, 1e-12, 1e-13, what + f" out{k}")
        for name, t, p in zip(["x", "h0", "c0"], ts, pt):
            if t is not None:
                np.testing.assert_allclose(
                    t.grad.numpy(), p.grad.numpy(), 1e-11, 1e-12, what + name
                )
        for name, t in zip(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"], ws):
            pg = getattr(tm, name).grad.numpy()
            np.testing.assert_allclose(t.grad.numpy(), pg, 1e-11, 1e-12, what + name)


# ------------------------------------------------------------------------------ variants
VARIANTS = [
    ("lstm", {"variant": "no_forget"}, {"variant": "no_forget"}),
    ("lstm", {"variant": "coupled"}, {"variant": "coupled"}),
    ("lstm", {"peephole": 3}, {}),
    ("lstm", {"variant": "coupled", "peephole": 2}, {"variant": "coupled"}),
    ("lstm", {"variant": "no_forget", "peephole": 2}, {"variant": "no_forget"}),
    ("gru", {"reset_after": False}, {"reset_after": False}),
    ("gru", {"z_keeps_state": False}, {"z_keeps": False}),
    (
        "gru",
        {"reset_after": False, "z_keeps_state": False},
        {"reset_after": False, "z_keeps": False},
    ),
    ("gru", {"reverse": True}, {"reverse": True}),
    ("lstm", {"reverse": True, "zero_output": True}, {"reverse": True, "zero_output": True}),
]


def _variant_inputs(cell, ours, B, T, I, H, rng):
    gates = GATES[cell] - (1 if ours.get("variant", "standard") != "standard" else 0)
    x = rng.standard_normal((B, T, I))
    h0 = rng.standard_normal((B, H))
    c0 = rng.standard_normal((B, H)) if cell == "lstm" else None
    w = _weights(cell, I, H, rng, gates)
    peep = rng.uniform(-0.5, 0.5, ours["peephole"] * H) if "peephole" in ours else None
    return x, h0, c0, w, peep


def _run_variant(cell, ours, x, h0, c0, w, peep, mask=None):
    kw = {k: v for k, v in ours.items() if k != "peephole"}
    if peep is not None:
        kw["w_peephole"] = peep
    if mask is not None:
        kw["mask"] = mask
    return _call(cell, x, h0, c0, w, **kw)


@pytest.mark.parametrize("cell,ours,ref", VARIANTS)
def test_variants_match_numpy_and_finite_differences(cell, ours, ref):
    rng = np.random.default_rng(2)
    for B, T, I, H in [(2, 4, 3, 5), (1, 1, 1, 1), (3, 3, 2, 4)]:
        x, h0, c0, w, peep = _variant_inputs(cell, ours, B, T, I, H, rng)
        mask = rng.random((B, T)) > 0.3
        for m in (None, mask):
            outs = _run_variant(cell, ours, x, h0, c0, w, peep, m)
            want = np_reference(cell, x, h0, c0, *w, peep=peep, mask=m, **ref)
            for o, r in zip(outs, want):
                np.testing.assert_allclose(o.data, r, rtol=1e-12, atol=1e-13)
        # float64 finite differences of every input: x, h0, c0, weights, biases, peepholes
        inputs = [x, h0, c0, *w, peep, mask]

        def fn(x, h0, c0, wi, wh, bi, bh, p, m):
            return _run_variant(cell, ours, x, h0, c0, [wi, wh, bi, bh], p, m)

        gradcheck(fn, inputs)


def test_activation_variants_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 2))
    h0 = rng.standard_normal((2, 4))
    for cell, kw in [
        ("rnn", {"nonlinearity": "sigmoid"}),
        ("lstm", {"recurrent_activation": "hard_sigmoid", "activation": "relu"}),
        ("gru", {"recurrent_activation": "hard_sigmoid", "hard_sigmoid": (1 / 6, 0.5)}),
        ("gru", {"activation": None}),
    ]:
        w = _weights(cell, 2, 4, rng)
        c0 = h0 * 0.5 if cell == "lstm" else None

        def fn(x, h0, wi, wh, bi, bh, cell=cell, kw=kw, c0=c0):
            return _call(cell, x, h0, c0, [wi, wh, bi, bh], **kw)

        gradcheck(fn, [x, h0, *w])


# ------------------------------------------------------------------------------ masks
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_lengths_match_each_sequence_alone(cell, reverse):
    """A right-padded batch with lengths gives, for every sequence, the outputs, final state
    and gradients of that sequence run alone at its own length (padded outputs zero)."""
    rng = np.random.default_rng(4)
    B, T, I, H = 5, 7, 3, 6
    lengths = np.array([7, 1, 4, 0, 6])
    x = rng.standard_normal((B, T, I))
    h0 = rng.standard_normal((B, H))
    c0 = rng.standard_normal((B, H)) if cell == "lstm" else None
    w = _weights(cell, I, H, rng)
    cot = rng.standard_normal((B, T, H))
    cot_h = rng.standard_normal((B, H))
    xt, ht = dc.tensor(x, requires_grad=True), dc.tensor(h0, requires_grad=True)
    ct = dc.tensor(c0, requires_grad=True) if c0 is not None else None
    wt = [dc.tensor(a, requires_grad=True) for a in w]
    outs = _call(cell, xt, ht, ct, wt, lengths=lengths, zero_output=True, reverse=reverse)
    ((outs[0] * dc.tensor(cot)).sum() + (outs[1] * dc.tensor(cot_h)).sum()).backward()
    wsum = [np.zeros_like(a) for a in w]
    for b, n in enumerate(lengths):
        xb = dc.tensor(x[b : b + 1, :n], requires_grad=True)
        hb = dc.tensor(h0[b : b + 1], requires_grad=True)
        cb = dc.tensor(c0[b : b + 1], requires_grad=True) if c0 is not None else None
        wb = [dc.tensor(a, requires_grad=True) for a in w]
        alone = _call(cell, xb, hb, cb, wb, reverse=reverse)
        np.testing.assert_allclose(outs[0].data[b, :n], alone[0].data[0], 1e-12, 1e-13)
        np.testing.assert_array_equal(outs[0].data[b, n:], 0)
        np.testing.assert_allclose(outs[1].data[b], alone[1].data[0], 1e-12, 1e-13)
        loss = (alone[1] * dc.tensor(cot_h[b : b + 1])).sum()
        if n:
            loss = loss + (alone[0] * dc.tensor(cot[b : b + 1, :n])).sum()
        loss.backward()
        if n:
            np.testing.assert_allclose(xt.grad.numpy()[b, :n], xb.grad.numpy()[0], 1e-11, 1e-12)
        np.testing.assert_array_equal(xt.grad.numpy()[b, n:], 0)
        np.testing.assert_allclose(ht.grad.numpy()[b], hb.grad.numpy()[0], 1e-11, 1e-12)
        for acc, t in zip(wsum, wb):
            acc += t.grad.numpy()
    for acc, t in zip(wsum, wt):
        np.testing.assert_allclose(t.grad.numpy(), acc, 1e-11, 1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_mask_carry_mode_finite_differences(cell):
    """Keras's default for masked steps (output = last real output) is differentiated right."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 2))
    h0 = rng.standard_normal((3, 3))
    c0 = rng.standard_normal((3, 3)) if cell == "lstm" else None
    w = _weights(cell, 2, 3, rng)
    mask = np.array([[0, 1, 0, 1, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], bool)
    want = np_reference(cell, x, h0, c0, *w, mask=mask)
    got = _call(cell, x, h0, c0, w, mask=mask)
    for o, r in zip(got, want):
        np.testing.assert_allclose(o.data, r, rtol=1e-12, atol=1e-13)

    def fn(x, h0, c0, wi, wh, bi, bh):
        return _call(cell, x, h0, c0, [wi, wh, bi, bh], mask=mask)

    gradcheck(fn, [x, h0, c0, *w])


def test_mask_forms_agree():
    """lengths, a bool mask, an int mask and a Tensor mask are the same mask."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 2))
    w = _weights("gru", 2, 3, rng)
    lengths = np.array([4, 2, 0])
    mask = np.arange(4)[None] < lengths[:, None]
    ref = F.gru(x, None, *w, lengths=lengths)[0].data
    for m in (mask, mask.astype(np.int64), dc.tensor(mask.astype(np.float32))):
        np.testing.assert_array_equal(F.gru(x, None, *w, mask=m)[0].data, ref)


# ------------------------------------------------------------------------------ float32, inputs
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_close_to_float64(cell):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 6, 5))
    w = _weights(cell, 5, 8, rng)
    o64 = _call(cell, x, None, None, w)
    o32 = _call(cell, x.astype(np.float32), None, None, [a.astype(np.float32) for a in w])
    for a, b in zip(o32, o64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-5)


def test_returns_and_no_grad():
    rng = np.random.default_rng(8)
    x = dc.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    w = [dc.tensor(a.astype(np.float32), requires_grad=True) for a in _weights("lstm", 4, 5, rng)]
    out, (h, c) = F.lstm(x, None, *w)
    assert out.shape == (2, 3, 5) and h.shape == (2, 5) and c.shape == (2, 5)
    np.testing.assert_array_equal(out.data[:, -1], h.data)
    h.sum().backward()  # only the final state used: dout arrives as zeros
    assert x.grad.shape == x.shape and w[1].grad.shape == (20, 5)
    with dc.no_grad():
        out, (h, c) = F.lstm(x, None, *w)
    assert not out.requires_grad


def test_bad_inputs():
    rng = np.random.default_rng(9)
    w = _weights("lstm", 4, 5, rng)
    x = rng.standard_normal((2, 3, 4))
    with pytest.raises(ValueError, match="x must be 3-dimensional"):
        F.lstm(x[0], None, *w)
    with pytest.raises(TypeError, match="w_ih has dtype float32 but x has float64"):
        F.lstm(x, None, w[0].astype(np.float32), *w[1:])
    with pytest.raises(ValueError, match="w_hh must have shape"):
        F.gru(x, None, *w)  # LSTM weights into a GRU: 4H rows
    with pytest.raises(ValueError, match="x has 4 features"):
        F.rnn(x, None, *_weights("rnn", 3, 5, rng))
    with pytest.raises(ValueError, match=r"lengths\[0\] = 9"):
        F.lstm(x, None, *w, lengths=np.array([9, 1]))
    with pytest.raises(TypeError, match="mask must be boolean or numeric"):
        F.lstm(x, None, *w, mask=np.array([["a"] * 3] * 2))
    with pytest.raises(ValueError, match="nonlinearity|activation must be one of"):
        F.rnn(x, None, *_weights("rnn", 4, 5, rng), nonlinearity="gelu")
