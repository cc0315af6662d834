"""The native recurrent kernels (_C.rnn_forward / rnn_backward, csrc/rnn.h) against the naive
reference (csrc/ref/rnn_ref.cpp) on every CPU kernel variant: every cell and variant, float32
and float64, odd sizes, sizes that take each thread plan (batch split, unit split, one thread),
masks and lengths, reverse, empty sequences, and bad inputs.

PyTorch parity and finite-difference gradient checks are in tests/test_rnn.py (through F)."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest
from deepcore import _C

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _gates(cell, opts):
    g = GATES[cell]
    return g - 1 if opts.get("lstm_variant", "standard") != "standard" else g


def _inputs(cell, B, T, I, H, dtype, opts, seed=0, init=True):
    rng = np.random.default_rng(seed)
    G = _gates(cell, opts)
    s = 1.0 / np.sqrt(H)

    def r(*shape, scale=1.0):
        return (rng.uniform(-1, 1, shape) * scale).astype(dtype)

    args = dict(
        x=r(B, T, I),
        h0=r(B, H) if init else None,
        c0=r(B, H) if init and cell == "lstm" else None,
        w_ih=r(G * H, I, scale=2 * s),
        w_hh=r(G * H, H, scale=2 * s),
        b_ih=r(G * H, scale=s),
        b_hh=r(G * H, scale=s),
    )
    if opts.get("peephole"):
        n = 3 if opts.get("lstm_variant", "standard") == "standard" else 2
        opts = dict(opts, w_peephole=r(n * H))
    opts.pop("peephole", None)
    if opts.pop("h_mask", False):  # recurrent dropout: zeros and 1/(1-p)
        opts["h_mask"] = ((rng.random((B, H)) > 0.4) / 0.6).astype(dtype)
    return args, opts, rng


def _check(cell, B, T, I, H, dtype, opts, init=True, seed=0, offset=None):
    a, opts, rng = _inputs(cell, B, T, I, H, dtype, dict(opts), seed, init)
    if offset is not None:  # the weights at a chosen distance past a cache line
        a["w_ih"], a["w_hh"] = _placed(a["w_ih"], offset), _placed(a["w_hh"], offset)
    pos = (cell, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    out, hn, cn, ws = _C.rnn_forward(*pos, **opts)
    rout, rhn, rcn = _C.rnn_forward_ref(*pos, **opts)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    assert out.dtype == dtype and out.shape == (B, T, H)
    np.testing.assert_allclose(out, rout, **tol)
    np.testing.assert_allclose(hn, rhn, **tol)
    if cell == "lstm":
        np.testing.assert_allclose(cn, rcn, **tol)
    else:
        assert cn is None
    dout = rng.standard_normal((B, T, H)).astype(dtype)
    dhn = rng.standard_normal((B, H)).astype(dtype)
    dcn = rng.standard_normal((B, H)).astype(dtype) if cell == "lstm" else None
    bw = {k: v for k, v in opts.items() if k not in ("mask", "lengths")}
    got = _C.rnn_backward(*pos, ws, dout, dhn, dcn, **bw)
    want = _C.rnn_backward_ref(*pos, dout, dhn, dcn, **opts)
    names = ["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh", "dw_peephole"]
    for name, g, w in zip(names, got, want):
        if w is None:
            assert g is None, name
            continue
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(g, w, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=name)


def _placed(a, offset):
    """A copy of a whose data starts `offset` bytes past a 64-byte boundary."""
    buf = np.empty(a.nbytes + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    view = buf[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    view[...] = a
    assert view.ctypes.data % 64 == offset
    return view


# (B, T, I, H): ones, primes, and sizes that take the batch split (B >= 16) and the unit split
# (few rows, a large enough step) of [Note: RNN plan], with the GEMV (B <= 2, [Note: RNN GEMV]:
# H = 180 and 150 end in a partial vector and a partial group of sums) and the prepacked
# ([Note: RNN step GEMM]) recurrent GEMMs
SIZES = [(1, 1, 1, 1), (3, 5, 2, 7), (2, 1, 3, 5), (17, 3, 4, 13), (1, 3, 5, 180), (4, 3, 3, 100)]
SIZES += [(2, 2, 3, 150)]
SIZES_RNN = [(1, 2, 3, 320)]  # a simple RNN needs a larger H for the unit split

CONFIGS = [
    ("rnn", {}),
    ("rnn", {"activation": "relu"}),
    ("lstm", {}),
    ("lstm", {"lstm_variant": "no_forget"}),
    ("lstm", {"lstm_variant": "coupled"}),
    ("lstm", {"peephole": True}),
    ("lstm", {"peephole": True, "lstm_variant": "coupled"}),
    ("lstm", {"peephole": True, "lstm_variant": "no_forget", "reverse": True}),
    ("gru", {}),
    ("gru", {"reset_after": False}),
    ("gru", {"z_keeps_state": False}),
    ("gru", {"reset_after": False, "z_keeps_state": False, "reverse": True}),
    ("rnn", {"h_mask": True}),
    ("lstm", {"h_mask": True, "peephole": True}),
    ("gru", {"h_mask": True}),
    ("gru", {"h_mask": True, "reset_after": False}),
    ("rnn", {"reverse": True}),
    ("gru", {"reverse": True}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,opts", CONFIGS)
def test_matches_reference(cell, opts, dtype, cpu_capability):
    for k, size in enumerate(SIZES + (SIZES_RNN if cell == "rnn" else [])):
        _check(cell, *size, dtype, opts, init=k % 2 == 0, seed=k)


# B <= 2 over at least 16 steps (kGemvCopySteps): weights that are not on 64-byte rows are
# copied once per call into aligned rows for the GEMV ([Note: RNN GEMV alignment] in
# csrc/rnn.cpp). Weights on a cache line and off it; H 40 pads the copy's rows (float32), 180
# takes the unit split at two threads; T 15 stays on the in-place read.
GEMV_COPY_SIZES = [(1, 16, 3, 40), (2, 17, 4, 180), (1, 15, 2, 180)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,opts", [c for c in CONFIGS if not c[1].get("h_mask")])
def test_gemv_copies_match_reference(cell, opts, dtype, cpu_capability):
    prev = dc.kernels.get_num_threads()
    try:
        for threads in (1, 2):
            dc.kernels.set_num_threads(threads)
            for k, size in enumerate(GEMV_COPY_SIZES):
                for offset in (0, 16, np.dtype(dtype).itemsize):
                    _check(cell, *size, dtype, opts, init=k % 2 == 0, seed=k, offset=offset)
    finally:
        dc.kernels.set_num_threads(prev)


@pytest.mark.parametrize(
    "cell,opts",
    [
        ("lstm", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
        ("gru", {"activation": "sigmoid", "recurrent_activation": "linear"}),
        ("lstm", {"activation": None, "recurrent_activation": "tanh"}),
        ("gru", {"recurrent_activation": "hard_sigmoid", "hard_sigmoid_slope": 1 / 6}),
        ("rnn", {"activation": "sigmoid"}),
    ],
)
def test_other_activations(cell, opts, cpu_capability):
    for dtype in (np.float32, np.float64):
        _check(cell, 3, 4, 3, 6, dtype, opts)
        _check(cell, 1, 3, 2, 160, dtype, opts)


# B >= 32 rows on every thread: the W_ih products run per step in the time loop ([Note: RNN
# step products] in csrc/rnn.cpp); one thread (a small step), then two threads splitting the
# batch (B 64: 32 rows each, a step large enough to split)
STEP_PRODUCT_SIZES = {"rnn": (64, 3, 5, 32), "lstm": (64, 2, 3, 16), "gru": (64, 2, 3, 19)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell,opts", [c for c in CONFIGS if not c[1].get("h_mask")])
def test_step_products_match_reference(cell, opts, dtype, cpu_capability):
    prev = dc.kernels.get_num_threads()
    try:
        _check(cell, 33, 3, 5, 7, dtype, opts, init=False)
        dc.kernels.set_num_threads(2)
        _check(cell, *STEP_PRODUCT_SIZES[cell], dtype, opts, seed=1)
    finally:
        dc.kernels.set_num_threads(prev)
    _check(cell, 40, 3, 4, 6, dtype, dict(opts, h_mask=True), seed=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_dw_hh_next_to_an_infinite_state(reverse, dtype):
    """dW_hh reads h_{t-1} from the states shifted by one row, with the gradient rows of first
    steps zeroed ([Note: RNN dW_hh from the states]); those rows then meet the neighbouring
    sequence's last state. An inf there (a linear RNN that overflows at its last step) must not
    make 0 * inf = NaN in dW_hh, whose true terms are all finite."""
    B, T, I, H = 3, 4, 2, 5
    a, opts, rng = _inputs("rnn", B, T, I, H, dtype, {"activation": None, "reverse": reverse})
    a["w_ih"] = np.abs(a["w_ih"]) + np.asarray(0.6, dtype)
    b, t = (1, 0) if reverse else (0, T - 1)  # the last step processed of sequence b
    a["x"][b, t] = np.finfo(dtype).max
    pos = ("rnn", a["x"], a["h0"], None, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    out, _, _, ws = _C.rnn_forward(*pos, **opts)
    assert np.isinf(out[b, t]).all() and np.isfinite(np.delete(out, b, axis=0)).all()
    dout = rng.standard_normal((B, T, H)).astype(dtype)
    dw_hh = _C.rnn_backward(*pos, ws, dout, None, None, **opts)[4]
    want = _C.rnn_backward_ref(*pos, dout, None, None, **opts)[4]
    assert np.isfinite(want).all()
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dw_hh, want, **tol)


@pytest.mark.parametrize("reverse", [False, True])
def test_dw_hh_first_step_terms_without_h0(reverse):
    """Without h0 the first steps' dW_hh terms (their gate gradients times h0 = 0) are skipped,
    unless those gradients are not finite: inf * 0 must still give the NaN the reference
    gives."""
    B, T, I, H = 2, 5, 3, 4
    a, opts, rng = _inputs("rnn", B, T, I, H, np.float64, {"reverse": reverse}, init=False)
    pos = ("rnn", a["x"], None, None, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    _, _, _, ws = _C.rnn_forward(*pos, **opts)
    first = T - 1 if reverse else 0
    for bad in (None, np.inf):
        dout = rng.standard_normal((B, T, H))
        if bad is not None:
            dout[1, first, 2] = bad
        dw_hh = _C.rnn_backward(*pos, ws, dout, None, None, **opts)[4]
        want = _C.rnn_backward_ref(*pos, dout, None, None, **opts)[4]
        assert np.isnan(want).any() == (bad is not None)
        np.testing.assert_allclose(dw_hh, want, rtol=1e-11, atol=1e-11)


def _masks(B, T, rng):
    lengths = rng.integers(0, T + 1, B)
    right = np.arange(T)[None, :] < lengths[:, None]
    scattered = rng.random((B, T)) > 0.4
    return lengths, right, scattered


MASK_CONFIGS = [c for c in CONFIGS if not c[1].get("reverse")]


def _check_masks(cell, opts, dtype):
    rng = np.random.default_rng(5)
    for B, T, I, H in [(4, 6, 3, 5), (18, 5, 2, 9), (2, 4, 3, 130)]:
        lengths, right, scattered = _masks(B, T, rng)
        for extra in (
            {"lengths": lengths},
            {"mask": scattered.astype(np.uint8), "zero_output": True},
            {"mask": right, "reverse": True, "zero_output": True},
            {"mask": scattered, "reverse": True},
        ):
            _check(cell, B, T, I, H, dtype, dict(opts, **extra))


@pytest.mark.parametrize("cell,opts", MASK_CONFIGS)
def test_masks_match_reference(cell, opts, cpu_capability):
    _check_masks(cell, opts, np.float32)  # the vector path of each ISA copy


@pytest.mark.parametrize("cell,opts", MASK_CONFIGS)
def test_masks_match_reference_float64(cell, opts):
    _check_masks(cell, opts, np.float64)


def test_mask_semantics():
    """A masked step carries the state; its output is the last real output (zeros before any)
    or zero with zero_output (Keras's zero_output_for_mask)."""
    a, _, _ = _inputs("gru", 1, 5, 2, 3, np.float64, {})
    mask = np.array([[0, 1, 1, 0, 0]], bool)
    pos = ("gru", a["x"], a["h0"], None, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    out, hn, _, _ = _C.rnn_forward(*pos, mask=mask)
    np.testing.assert_array_equal(out[0, 0], 0)
    np.testing.assert_array_equal(out[0, 3], out[0, 2])
    np.testing.assert_array_equal(out[0, 4], out[0, 2])
    np.testing.assert_array_equal(hn[0], out[0, 2])
    zout, zhn, _, _ = _C.rnn_forward(*pos, mask=mask, zero_output=True)
    np.testing.assert_array_equal(zout[0, 3:], 0)
    np.testing.assert_array_equal(zout[0, 1:3], out[0, 1:3])
    np.testing.assert_array_equal(zhn, hn)
    short, shn, _, _ = _C.rnn_forward(
        "gru", a["x"][:, 1:3], a["h0"], None, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"]
    )
    np.testing.assert_allclose(out[0, 1:3], short[0], rtol=1e-14)
    # all steps masked: the initial state comes out unchanged
    out, hn, _, _ = _C.rnn_forward(*pos, lengths=np.array([0]))
    np.testing.assert_array_equal(hn, a["h0"])
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_empty(cell):
    for B, T in [(0, 3), (2, 0)]:
        a, _, _ = _inputs(cell, B, T, 3, 4, np.float64, {})
        pos = (cell, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
        out, hn, cn, ws = _C.rnn_forward(*pos)
        assert out.shape == (B, T, 4)
        np.testing.assert_array_equal(hn, a["h0"])
        dhn = np.ones((B, 4))
        dcn = np.full((B, 4), 2.0) if cell == "lstm" else None
        g = _C.rnn_backward(*pos, ws, np.zeros((B, T, 4)), dhn, dcn)
        assert g[0].shape == (B, T, 3)
        np.testing.assert_array_equal(g[1], dhn)
        if cell == "lstm":
            np.testing.assert_array_equal(g[2], dcn)
        for w in g[3:7]:
            np.testing.assert_array_equal(w, 0)


# ------------------------------------------------------------------------------ bad inputs
def _good(cell="lstm", dtype=np.float32, B=2, T=3, I=4, H=5):
    a, _, _ = _inputs(cell, B, T, I, H, dtype, {})
    return a


def _call(cell="lstm", **over):
    a = _good(cell)
    opts = over.pop("opts", {})
    a.update(over)
    return _C.rnn_forward(
        cell, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], **opts
    )


@pytest.mark.parametrize(
    "over,exc,match",
    [
        (dict(x=np.zeros((2, 3), np.float32)), ValueError, "x must be 3-dimensional"),
        (dict(x=np.zeros((2, 3, 6), np.float32)), ValueError, "x has 6 features"),
        (dict(x=[[[1.0]]]), TypeError, "x must be a numpy array"),
        (dict(x=np.zeros((2, 3, 4), np.int64)), TypeError, "x must have dtype float32"),
        (dict(w_hh=np.zeros((15, 5), np.float32)), ValueError, "w_hh must have shape"),
        (dict(w_hh=np.zeros((20, 5), np.float64)), TypeError, "w_hh has dtype float64"),
        (dict(w_ih=np.zeros((16, 4), np.float32)), ValueError, "w_ih must have shape"),
        (dict(b_ih=np.zeros(19, np.float32)), ValueError, "b_ih must have shape"),
        (dict(b_hh=np.zeros(20, np.float64)), TypeError, "b_hh has dtype"),
        (dict(h0=np.zeros((3, 5), np.float32)), ValueError, "h0 must have shape"),
        (dict(c0=np.zeros((2, 4), np.float32)), ValueError, "c0 must have shape"),
        (dict(opts={"lengths": np.array([1, 4])}), ValueError, r"lengths\[1\] = 4"),
        (dict(opts={"lengths": np.array([-1, 2])}), ValueError, r"lengths\[0\] = -1"),
        (dict(opts={"lengths": np.array([1.0, 2.0])}), TypeError, "lengths must have an integer"),
        (dict(opts={"lengths": np.array([1, 2, 3])}), ValueError, "lengths must have shape"),
        (dict(opts={"mask": np.ones((2, 4), bool)}), ValueError, "mask must have shape"),
        (dict(opts={"mask": np.ones((2, 3), np.float32)}), TypeError, "mask must have dtype"),
        (
            dict(opts={"mask": np.ones((2, 3), bool), "lengths": np.array([1, 2])}),
            ValueError,
            "not both",
        ),
        (dict(opts={"activation": "gelu"}), ValueError, "activation must be one of"),
        (dict(opts={"recurrent_activation": 3}), TypeError, "recurrent_activation must be"),
        (dict(opts={"lstm_variant": "x"}), ValueError, "lstm_variant must be"),
        (dict(opts={"w_peephole": np.zeros(14, np.float32)}), ValueError, "w_peephole must have"),
        (dict(opts={"bogus": 1}), TypeError, "unexpected keyword argument 'bogus'"),
        (dict(opts={"reverse": "yes"}), TypeError, "reverse"),
    ],
)
def test_bad_inputs(over, exc, match):
    with pytest.raises(exc, match=match):
        _call(**over)


def test_bad_cell_arguments():
    a = _good("gru")
    with pytest.raises(ValueError, match="cell must be"):
        _C.rnn_forward("lstmx", a["x"], None, None, a["w_ih"], a["w_hh"], None, None)
    with pytest.raises(ValueError, match="c0 is an LSTM"):
        _C.rnn_forward("gru", a["x"], None, a["h0"], a["w_ih"], a["w_hh"], None, None)
    with pytest.raises(ValueError, match="w_peephole is for cell='lstm'"):
        _C.rnn_forward(
            "gru", a["x"], None, None, a["w_ih"], a["w_hh"], None, None, w_peephole=a["b_ih"]
        )
    with pytest.raises(ValueError, match=r"\(3\*H, \.\) for a GRU"):
        _C.rnn_forward("gru", a["x"], None, None, a["w_ih"], a["w_ih"][:, :3].copy(), None, None)
    a = _good("lstm", dtype=np.float64)
    pos = ("lstm", a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    out, hn, cn, ws = _C.rnn_forward(*pos)
    with pytest.raises(ValueError, match="dout must have shape"):
        _C.rnn_backward(*pos, ws, out[:, :1].copy(), None, None)
    with pytest.raises(ValueError, match=r"ws\[0\] \(gates\) must have shape"):
        _C.rnn_backward(*pos, (ws[0][:1], *ws[1:]), out, None, None)
    with pytest.raises(ValueError, match="ws must be the 4-tuple"):
        _C.rnn_backward(*pos, ws[:2], out, None, None)
    with pytest.raises(TypeError, match="takes the mask from ws"):
        _C.rnn_backward(*pos, ws, out, None, None, lengths=np.array([1, 2]))
