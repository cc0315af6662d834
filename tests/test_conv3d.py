"""conv3d / conv_transpose3d and the Conv3D / Conv3DTranspose layers: the vol2col + GEMM
kernels ([Note: vol2col from im2col] in csrc/conv.cpp) against the float64 NumPy reference of
tests/conv_reference.py over many shapes (odd sizes, size 1, every padding mode, strides,
dilations, groups, bands of output rows that split planes and span plane boundaries,
pointwise), finite differences, PyTorch parity and bad input."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from conv_reference import check_conv, np_conv
from deepcore.autograd import backward
from deepcore.nn import layers
from helpers import assert_close_rel, gradcheck, requires_torch

K = dc.kernels
ALGOS = ["auto", "direct", "im2col", "reference"]

# (N, C, (D, H, W), K, (KD, R, S), stride, padding, dilation, groups)
CONFIGS = [
    (2, 3, (5, 6, 7), 4, (3, 3, 3), (1, 1, 1), 0, (1, 1, 1), 1),
    (1, 2, (4, 5, 6), 3, (2, 3, 2), (2, 1, 3), 1, (1, 1, 1), 1),
    (2, 4, (7, 5, 9), 6, (3, 2, 3), (2, 2, 1), "same", (1, 1, 1), 2),
    (1, 3, (6, 7, 5), 2, (2, 2, 3), (1, 3, 2), "full", (2, 1, 1), 1),
    (2, 2, (9, 8, 7), 4, (3, 3, 2), (3, 2, 2), (2, 1, 0), (2, 3, 1), 2),
    (3, 4, (1, 1, 1), 4, (1, 1, 1), (1, 1, 1), 0, (1, 1, 1), 4),  # depthwise 1x1x1
    (1, 1, (1, 5, 1), 1, (1, 3, 1), (1, 1, 1), "same", (1, 1, 1), 1),  # unit axes
    (2, 3, (1, 1, 1), 2, (3, 3, 3), (1, 1, 1), 1, (1, 1, 1), 1),  # all padding but the middle
    (2, 6, (3, 4, 5), 5, (1, 1, 1), (1, 1, 1), 0, (1, 1, 1), 1),  # pointwise: no copy
    (1, 2, (3, 4, 5), 2, (1, 1, 1), (2, 1, 1), 0, (1, 1, 1), 2),  # 1x1x1, strided depth
    (2, 3, (4, 4, 4), 3, (4, 4, 4), (5, 5, 5), 0, (1, 1, 1), 1),  # one output
    # column blocks over the 1 MiB band budget: bands that split planes and cross them
    (1, 16, (6, 5, 40), 3, (3, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1), 1),
    (2, 8, (3, 33, 37), 4, (3, 3, 3), (1, 1, 1), 1, (1, 1, 1), 1),
    # implicit GEMM ([Note: implicit GEMM convolution]): rows of 31-33 outputs (a whole tile, one
    # short, one over), 9 and 33 channels (a panel or tile plus one), dilation, padding wider
    # than the kernel (the flipped backward's window starts inside dy), D/H strides with unit W
    (1, 9, (3, 4, 33), 33, (2, 3, 3), (1, 1, 1), 1, (1, 1, 1), 1),
    (2, 6, (4, 3, 31), 18, (3, 2, 3), (1, 1, 1), (3, 2, 4), (2, 1, 2), 2),
    (1, 3, (5, 6, 32), 9, (3, 3, 1), (2, 3, 1), (1, 0, 0), (1, 2, 1), 1),
    (2, 4, (2, 2, 30), 8, (2, 2, 5), (1, 1, 2), "same", (1, 1, 1), 1),
    # W strides 2 and 3 (the forward's window in phase rows), with W dilation
    (1, 3, (2, 5, 65), 5, (1, 2, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), 1),
    (2, 2, (3, 3, 20), 4, (2, 1, 4), (2, 1, 3), (1, 0, 2), (1, 1, 2), 2),
    # taps in the D/H padding left out ([Note: taps in the padding]): planes reading kd {1, 2},
    # {1}, {0, 1} (dilated), rows reading one tap of four or two (strided): several segments
    # per row; a band of the weight gradient crossing planes; a last tile one column wide
    (2, 5, (3, 7, 33), 9, (3, 4, 3), (1, 2, 1), (2, 3, 1), (2, 1, 1), 1),
    # flat windows ([Note: flat windows]): short rows, tiles of a plane's P*Q outputs across row
    # ends; H stride 2 with H dilation 3 (rows in phases, taps in either phase), W stride 2 and
    # W padding wider than the kernel (copies with columns all padding)
    (2, 3, (4, 11, 9), 5, (2, 3, 2), (1, 2, 2), (1, 2, 3), (1, 3, 1), 1),
    (2, 4, (3, 6, 5), 6, (3, 2, 3), (1, 1, 1), (1, 1, 2), (1, 2, 1), 2),  # and dX, groups
    # ... and rows that fill their tiles keep the one padded copy (Q = 32 in three W phases)
    (1, 2, (2, 3, 95), 3, (1, 2, 3), (1, 1, 3), (0, 1, 1), (1, 1, 1), 1),
]
# channel-vector tiles ([Note: channel-vector tiles]): K/G fills the vector lanes (30-48 of 32
# under AVX-512: tiles of fewer channels), output positions classed by the taps they read;
# odd sizes, a stride past the kernel, padding wider than the kernel's reach with dilation and
# groups, a depth of 1, a D/W stride with H dilation, and C/G large with K small (the unit-stride
# dX, the forward on dy, through them: its window starts inside dy)
CHANNEL_CONFIGS = [
    (2, 3, (5, 6, 7), 32, (3, 3, 3), (1, 1, 1), 1, (1, 1, 1), 1),
    (1, 2, (7, 9, 11), 40, (2, 2, 2), (3, 3, 3), 1, (1, 1, 1), 1),
    (2, 4, (5, 4, 6), 48, (2, 3, 2), (1, 1, 1), (3, 4, 3), (2, 1, 2), 2),
    (2, 3, (1, 9, 6), 31, (1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1), 1),
    (2, 5, (6, 7, 9), 27, (3, 3, 3), (2, 1, 2), 1, (1, 2, 1), 1),
    (1, 34, (4, 5, 6), 6, (3, 3, 3), (1, 1, 1), (3, 2, 1), (1, 2, 1), 2),
    (1, 40, (3, 4, 3), 3, (2, 3, 3), (1, 1, 1), 2, (1, 1, 1), 1),
]
CONFIGS += CHANNEL_CONFIGS


@pytest.mark.parametrize("cfg", CONFIGS, ids=range(len(CONFIGS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv3d_against_numpy(cfg, dtype):
    check_conv(cfg, dtype, ALGOS, nsp=3, relu=True)


def test_conv3d_empty_batch_and_no_channels():
    y = K.conv3d_forward(np.zeros((0, 3, 4, 4, 4)), np.ones((2, 3, 2, 2, 2)))
    assert y.shape == (0, 2, 3, 3, 3)
    dx = K.conv3d_backward_input(np.zeros((0, 2, 3, 3, 3)), np.ones((2, 3, 2, 2, 2)),
                                 (0, 3, 4, 4, 4))  # fmt: skip
    assert dx.shape == (0, 3, 4, 4, 4)
    dw, db = K.conv3d_backward_weight(np.zeros((0, 3, 4, 4, 4)), np.zeros((0, 2, 3, 3, 3)),
                                      (2, 3, 2, 2, 2))  # fmt: skip
    assert not dw.any() and not db.any()
    b = np.array([1.0, -2.0, 3.0])
    y = K.conv3d_forward(np.ones((2, 0, 4, 4, 4)), np.ones((3, 0, 2, 2, 2)), b, relu=True)
    np.testing.assert_array_equal(y, np.broadcast_to(np.maximum(b, 0)[None, :, None, None, None],
                                                     (2, 3, 3, 3, 3)))  # fmt: skip
    dy = np.ones((2, 3, 3, 3, 3))
    dw, db = K.conv3d_backward_weight(np.ones((2, 0, 4, 4, 4)), dy, (3, 0, 2, 2, 2))
    assert dw.shape == (3, 0, 2, 2, 2)
    np.testing.assert_array_equal(db, [54.0] * 3)


def test_conv3d_every_cpu_capability(cpu_capability):
    # the tile width differs per ISA (32 / 16 / 8 floats), and with it the rows / flat choice
    check_conv(CONFIGS[2], np.float32, ["auto", "direct"], nsp=3)
    check_conv(CONFIGS[4], np.float64, ["auto", "direct"], nsp=3)
    for cfg in CONFIGS[-14], CONFIGS[-11], CONFIGS[-9]:  # W = 30, taps in the padding, flat
        check_conv(cfg, np.float32, ["auto", "direct"], nsp=3)
    for cfg in CHANNEL_CONFIGS:
        check_conv(cfg, np.float32, ["direct"], nsp=3)


def _tiles(cfg, pass_, dtype):
    N, C, sp, Kc, k, st, padding, dl, groups = cfg
    return K.conv3d_direct_tiles((N, C) + sp, (Kc, C // groups) + k, st, padding, dl, groups,
                                 pass_, dtype)  # fmt: skip


def test_conv3d_channel_tiles_routing(cpu_capability):
    # every CHANNEL_CONFIGS entry runs them for some pass and type on every tile width (so the
    # reference test above covers them), and the short-row shapes of bench/conv.py do, forward
    # and unit-stride dX: 8^3 outputs of a 3x3x3 kernel with padding 1 read zeros with 23 % of
    # their multiply-adds, the position tiles skip 8 % ([Note: channel-vector tiles])
    for cfg in CHANNEL_CONFIGS:
        runs = {_tiles(cfg, p, d) for p in ("forward", "backward_input")
                for d in ("float32", "float64")}  # fmt: skip
        assert "channels" in runs, cfg
    short = (4, 64, (8, 8, 8), 64, (3, 3, 3), 1, 1, 1, 1)
    assert _tiles(short, "forward", "float32") == "channels"
    assert _tiles(short, "backward_input", "float32") == "channels"
    assert _tiles(short, "backward_weight", "float32") == "rows"
    strided = (8, 16, (16, 16, 16), 32, (3, 3, 3), 2, 1, 1, 1)
    assert _tiles(strided, "backward_input", "float32") == "none"  # vol2col's col2vol
    if cpu_capability == "avx512":
        assert _tiles(strided, "forward", "float32") == "channels"
        # 16 output channels fill half the 32 lanes; rows of 32 fill the position tiles
        wide = (8, 3, (32, 32, 32), 16, (3, 3, 3), 1, 1, 1, 1)
        assert _tiles(wide, "forward", "float32") == "rows"
    with pytest.raises(ValueError, match="dtype"):
        _tiles(short, "forward", "float16")
    with pytest.raises(ValueError, match="pass_"):
        _tiles(short, "sideways", "float32")


def test_conv3d_output_shape_and_algorithm():
    assert K.conv3d_output_shape((2, 3, 9, 8, 7), (4, 3, 3, 3, 2), 2, "same") == (2, 4, 5, 4, 4)
    assert K.conv3d_output_shape((2, 3, 9, 8, 7), (4, 3, 3, 3, 2), (1, 2, 3), 1) == (
        2, 4, 9, 4, 3,
    )  # fmt: skip
    assert K.conv3d_algorithm((2, 3, 9, 8, 7), (4, 3, 3, 3, 2)) == "im2col"
    # the implicit GEMM where its tiles are full, for the passes it covers
    shape = ((4, 16, 16, 32, 32), (32, 16, 3, 3, 3), 1, 1)
    for pass_ in ("forward", "backward_input", "backward_weight"):
        assert K.conv3d_algorithm(*shape, pass_=pass_) == "direct"
    # short rows: tiles of whole planes ([Note: flat windows]; P*Q = 64 fills any tile width)
    for short in [((4, 64, 8, 8, 8), (64, 64, 3, 3, 3), 1, 1),
                  ((8, 32, 16, 16, 16), (32, 32, 3, 3, 3), 1, 1)]:  # fmt: skip
        for pass_ in ("forward", "backward_input", "backward_weight"):
            assert K.conv3d_algorithm(*short, pass_=pass_) == "direct"
    strided = ((8, 16, 16, 16, 16), (32, 16, 3, 3, 3), 2, 1)  # 8 x 8 outputs a plane
    assert K.conv3d_algorithm(*strided, pass_="forward") == "direct"
    assert K.conv3d_algorithm(*strided, pass_="backward_input") == "im2col"  # not covered
    strided = ((4, 16, 16, 32, 32), (32, 16, 3, 3, 3), 2, 1)
    assert K.conv3d_algorithm(*strided, pass_="forward", algo="direct") == "direct"
    assert K.conv3d_algorithm(*strided, pass_="backward_input", algo="direct") == "im2col"
    assert K.conv3d_algorithm(*strided, pass_="backward_weight", algo="direct") == "direct"
    assert K.conv3d_algorithm(*shape, algo="im2col") == "im2col"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "D,KD,sd,pd",
    [(26, 3, 1, 0), (21, 3, 2, 1), (20, 2, 2, 0), (17, 3, 3, 2), (12, 3, 1, 1)],
)
def test_conv3d_stacked_planes_runs_and_bands(D, KD, sd, pd, dtype):
    """[Note: stacked planes]: 64 channels x 3x3 over 40 columns make a 2-D block of a few
    output rows big enough that a volume splits into runs of output planes (their shared input
    planes lowered by both runs) and each plane into bands of rows (the last one short); depth
    strides up to KD, depth padding at both ends. Forward, dx and dw against the naive kernel."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 64, D, 9, 42)).astype(dtype)
    w = rng.standard_normal((3, 64, KD, 3, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    conv = ((sd, 1, 1), (pd, 0, 1), 1, 1)
    y = K.conv3d_forward(x, w, b, *conv, "auto")
    want = K.conv3d_forward(x, w, b, *conv, "reference")
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-10)
    np.testing.assert_allclose(y, want, **tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(K.conv3d_backward_input(dy, w, x.shape, *conv, "auto"),
                               K.conv3d_backward_input(dy, w, x.shape, *conv, "reference"),
                               **tol)  # fmt: skip
    for got, ref in zip(K.conv3d_backward_weight(x, dy, w.shape, *conv, "auto"),
                        K.conv3d_backward_weight(x, dy, w.shape, *conv, "reference")):  # fmt: skip
        np.testing.assert_allclose(got, ref, **tol)


def test_conv3d_weight_gradient_is_deterministic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 6, 7, 8)).astype(np.float32)
    dy = rng.standard_normal((8, 4, 4, 5, 6)).astype(np.float32)
    runs = [K.conv3d_backward_weight(x, dy, (4, 3, 3, 3, 3))[0] for _ in range(3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=1, padding=0),
        dict(stride=(2, 1, 2), padding=1, dilation=(1, 2, 1)),
        dict(stride=1, padding="same", groups=2),
    ],
)
def test_conv3d_gradcheck(kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 4, 5, 3))
    w = rng.standard_normal((2, 2 // kw.get("groups", 1), 2, 3, 2))
    b = rng.standard_normal(2)
    gradcheck(lambda x, w, b: F.conv3d(x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("kw", [dict(stride=2, output_padding=1), dict(padding=1, dilation=2)])
def test_conv_transpose3d_gradcheck(kw):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((1, 2, 3, 2, 3)), rng.standard_normal((2, 2, 2, 3, 2)), None
    gradcheck(lambda x, w: F.conv_transpose3d(x, w, b, **kw), [x, w])


def test_conv3d_fused_relu_and_partial_grads():
    rng = np.random.default_rng(5)
    x = dc.tensor(rng.standard_normal((2, 3, 4, 5, 6)))
    w = dc.tensor(rng.standard_normal((4, 3, 3, 3, 3)), requires_grad=True)
    y = F.conv3d(x, w, padding=1, activation="relu")
    y_ref, grads = np_conv(x.detach().numpy(), w.detach().numpy(), None, 1, 1, 1, 1)
    assert_close_rel(y.detach().numpy(), np.maximum(y_ref, 0), 1e-12)
    dy = rng.standard_normal(y.shape)
    backward([y], [dy])
    assert x.grad is None
    assert_close_rel(w.grad.numpy(), grads(dy * (y_ref > 0))[1], 1e-12)


@requires_torch
@pytest.mark.parametrize(
    "xs,ws,kw",
    [
        ((2, 4, 7, 6, 5), (6, 2, 3, 2, 3), dict(stride=2, padding=1, dilation=1, groups=2)),
        ((1, 3, 5, 9, 8), (4, 3, 3, 2, 3), dict(padding="same", dilation=(1, 2, 1))),
        ((2, 3, 6, 6, 6), (3, 1, 3, 3, 3), dict(padding=2, dilation=2, groups=3)),
        ((2, 2, 4, 5, 6), (3, 2, 2, 2, 2), dict(padding="valid")),
    ],
)
def test_conv3d_torch_parity(xs, ws, kw):
    import torch

    rng = np.random.default_rng(6)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in (xs, ws, (ws[0],)))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv3d(tx, tw, tb, **kw)
    dy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(dy))
    ox, ow, ob = (dc.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv3d(ox, ow, ob, **kw)
    backward([y], [dy])
    for ours, theirs, name in [(y, ty, "y"), (ox.grad, tx.grad, "dx"), (ow.grad, tw.grad, "dw"),
                               (ob.grad, tb.grad, "db")]:  # fmt: skip
        assert_close_rel(ours.detach().numpy(), theirs.detach().numpy(), 1e-5, name)


@requires_torch
@pytest.mark.parametrize(
    "xs,ws,kw",
    [
        ((2, 4, 3, 4, 5), (4, 3, 3, 2, 3), dict(stride=2, padding=1, output_padding=1)),
        ((1, 4, 2, 3, 2), (4, 1, 2, 3, 3), dict(stride=(1, 2, 3), groups=2, dilation=(2, 1, 1))),
        ((1, 2, 3, 3, 3), (2, 3, 3, 3, 3), dict(stride=2, output_padding=(1, 0, 1), padding=2)),
    ],
)
def test_conv_transpose3d_torch_parity(xs, ws, kw):
    import torch

    rng = np.random.default_rng(7)
    g = kw.get("groups", 1)
    x, w, b = (rng.standard_normal(s) for s in (xs, ws, (ws[1] * g,)))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv_transpose3d(tx, tw, tb, **kw)
    dy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(dy))
    ox, ow, ob = (dc.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv_transpose3d(ox, ow, ob, **kw)
    backward([y], [dy])
    for ours, theirs, name in [(y, ty, "y"), (ox.grad, tx.grad, "dx"), (ow.grad, tw.grad, "dw"),
                               (ob.grad, tb.grad, "db")]:  # fmt: skip
        assert_close_rel(ours.detach().numpy(), theirs.detach().numpy(), 1e-12, name)


def _x(*s, dtype=np.float32):
    return np.zeros(s, dtype)


X5, W5 = _x(1, 3, 5, 5, 5), _x(2, 3, 3, 3, 3)


@pytest.mark.parametrize(
    "args,kw,exc,match",
    [
        ((_x(1, 3, 5, 5), W5), {}, ValueError, r"x must be 5-dimensional \(N, C, D, H, W\)"),
        ((X5, _x(2, 3, 3, 3)), {}, ValueError, "w must be 5-dimensional"),
        ((X5, _x(2, 4, 3, 3, 3)), {}, ValueError, "channel mismatch"),
        ((X5, _x(2, 3, 7, 3, 3)), {}, ValueError, "larger than the padded input"),
        ((X5, W5), dict(stride=(1, 2)), ValueError, "tuple of 3"),
        ((X5, W5), dict(stride=0), ValueError, "stride must be positive"),
        ((X5, W5), dict(padding=-1), ValueError, "padding must be non"),
        ((X5, W5), dict(algo="winograd"), ValueError, "algo must be"),
        ((X5.astype(np.int64), W5), {}, TypeError, "float32 or float64"),
        ((X5, W5.astype(np.float64)), {}, TypeError, "w must have dtype"),
        ((X5, W5), dict(groups=2), ValueError, "must divide the input"),
        ((X5, W5), dict(dilation=2**62), ValueError, "dilation"),
        ((X5, W5), dict(padding=2**62), ValueError, "too large"),
        ((X5, W5), dict(padding=(0, 2**40, 2**40)), ValueError, "too large"),
    ],
)
def test_conv3d_bad_inputs(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        K.conv3d_forward(*args, **kw)


def test_conv3d_huge_stride_and_padding_run_without_huge_buffers():
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((1, 2, 3, 4, 5)), rng.standard_normal((2, 2, 2, 2, 2))
    y = K.conv3d_forward(x, w, None, 2**62, 0)
    assert_close_rel(y, np_conv(x, w, None, 2**62, 0, 1, 1)[0], 1e-12)
    # padding far beyond the input along W: only output column 4 reads x (columns 0 and 1)
    y = K.conv3d_forward(x, w, None, (1, 1, 2**20), (0, 0, 2**22))
    assert y.shape == (1, 2, 2, 3, 9)
    want = np.zeros(y.shape)
    want[..., 4:5] = np_conv(x[..., :2], w, None, 1, 0, 1, 1)[0]
    assert_close_rel(y, want, 1e-12)


def test_conv3d_bad_inputs_through_F_and_backward_entries():
    with pytest.raises(ValueError, match="x must be 5-dimensional"):
        F.conv3d(dc.tensor(_x(1, 3, 5, 5)), dc.tensor(W5))
    with pytest.raises(ValueError, match="dy must have the output's shape"):
        K.conv3d_backward_input(_x(1, 2, 2, 2, 2), W5, (1, 3, 5, 5, 5))
    with pytest.raises(ValueError, match="input must be 5-dimensional"):
        F.conv_transpose3d(dc.tensor(_x(1, 3, 5, 5)), dc.tensor(W5))
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        F.conv_transpose3d(dc.tensor(X5), dc.tensor(_x(3, 2, 3, 3, 3)), stride=1, output_padding=1)


# ---- layers -------------------------------------------------------------------------------


def test_conv3d_layer_channels_last_matches_reference():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 5, 6, 7, 3))
    layer = layers.Conv3D(4, (3, 2, 3), strides=(1, 2, 1), padding="same", activation="relu")
    y = layer(dc.tensor(x))
    assert layer.kernel.shape == (4, 3, 3, 2, 3)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 2, 3, 3, 4)  # Keras's (*kernel_size, in, out)
    ref, _ = np_conv(x.transpose(0, 4, 1, 2, 3), kernel.transpose(4, 3, 0, 1, 2), bias,
                     (1, 2, 1), "same", 1, 1)  # fmt: skip
    assert_close_rel(y.detach().numpy(), np.maximum(ref, 0).transpose(0, 2, 3, 4, 1), 1e-5)
    assert layer.compute_output_shape((None, 5, 6, 7, 3)) == (None, 5, 3, 7, 4)
    assert y.shape == (2, 5, 3, 7, 4)


def test_conv3d_layer_channels_first_groups_dilation():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((1, 4, 7, 6, 5))
    layer = layers.Conv3D(6, 2, dilation_rate=(2, 1, 1), groups=2, data_format="channels_first")
    y = layer(dc.tensor(x))
    ref, _ = np_conv(
        x, layer.kernel.detach().numpy(), layer.bias.detach().numpy(), 1, 0, (2, 1, 1), 2
    )
    assert_close_rel(y.detach().numpy(), ref, 1e-5)  # (float32 weights)
    assert layer.compute_output_shape((None, 4, 7, 6, 5)) == (None, 6, 5, 5, 4)


def test_conv3d_transpose_layer_keras_sizes():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 4, 2, 5))
    for kw, out in [
        (dict(strides=2, padding="same"), (2, 6, 8, 4, 4)),
        (dict(strides=(1, 2, 3), padding="valid"), (2, 5, 9, 6, 4)),
        (dict(strides=2, padding="valid", output_padding=1), (2, 8, 10, 6, 4)),
    ]:
        layer = layers.Conv3DTranspose(4, 3, **kw)
        y = layer(dc.tensor(x))
        assert y.shape == out, kw
        assert layer.compute_output_shape((None, 3, 4, 2, 5)) == (None, *out[1:])
