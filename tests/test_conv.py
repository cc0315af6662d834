"""conv1d / conv2d: native kernels (direct, im2col, implicit, reference) against a float64 NumPy
reference, gradients by finite differences, PyTorch parity, textbook examples, bad inputs."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from conv_reference import TOL, check_conv, conv_data, np_conv, ref_pads
from deepcore.autograd import backward
from helpers import assert_close_rel, gradcheck, requires_torch

K = dc.kernels
ALGOS = ["direct", "im2col", "implicit"]


# ---- random configurations ---------------------------------------------------------------------


def random_configs(n, seed):
    """(N, C, spatial, K, kernel, stride, padding, dilation, groups), valid by construction:
    odd sizes, stride > kernel, padding > 0, dilation, groups (depthwise too), batch 1, one
    channel, 1x1 kernels, 'same'/'valid'/'full'."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        groups = int(rng.choice([1, 1, 1, 2, 3]))
        C = groups * int(rng.choice([1, 1, 2, 3, 5]))
        depthwise = rng.random() < 0.15
        if depthwise:
            groups = C
        Kc = groups * int(rng.choice([1, 2, 3, 4, 7]))
        R, S = int(rng.choice([1, 2, 3, 5])), int(rng.choice([1, 3, 4]))
        st = (int(rng.choice([1, 1, 2, 3])), int(rng.choice([1, 2, 4])))
        dl = (int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 3])))
        pad = rng.choice(["int", "pair", "same", "valid", "full"])
        padding = {
            "int": int(rng.integers(0, 3)),
            "pair": (int(rng.integers(0, 3)), int(rng.integers(0, 4))),
            "same": "same",
            "valid": "valid",
            "full": "full",
        }[pad]
        H, W = int(rng.integers(1, 12)), int(rng.integers(1, 23))
        pads = ref_pads((H, W), (R, S), st, dl, padding)
        if any(
            d * (k - 1) + 1 > n + lo + hi for d, k, n, (lo, hi) in zip(dl, (R, S), (H, W), pads)
        ):
            continue
        N = int(rng.choice([1, 2, 3]))
        out.append((N, C, (H, W), Kc, (R, S), st, padding, dl, groups))
    return out


CONFIGS = random_configs(60, seed=1)


@pytest.mark.parametrize("algo", ALGOS + ["auto", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_random_configs(algo, dtype):
    for cfg in CONFIGS:
        check_conv(cfg, dtype, [algo])


@pytest.mark.parametrize("algo", ALGOS)
def test_conv1d_random_configs(algo):
    for cfg in CONFIGS[:30]:
        check_conv(cfg, np.float64, [algo], nsp=1)
        check_conv(cfg, np.float32, [algo], nsp=1)


@pytest.mark.parametrize("algo", ALGOS)
def test_conv2d_every_cpu_capability(cpu_capability, algo):
    for cfg in CONFIGS[:20]:
        check_conv(cfg, np.float32, [algo])
    check_conv(CONFIGS[0], np.float64, [algo])


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "cfg",
    [
        (5, 1, (28, 28), 6, (5, 5), (1, 1), 0, (1, 1), 1),  # LeNet's first layer
        (3, 6, (12, 12), 16, (5, 5), (1, 1), 0, (1, 1), 1),  # LeNet's second layer
        (2, 16, (9, 9), 24, (3, 3), (1, 1), 1, (1, 1), 1),  # im2col territory, several tiles
        (2, 8, (13, 13), 16, (1, 1), (1, 1), 0, (1, 1), 1),  # pointwise: GEMM on x itself
        (2, 8, (13, 13), 16, (1, 1), (2, 2), 0, (1, 1), 1),  # strided 1x1
        (2, 12, (11, 11), 12, (3, 3), (2, 2), "same", (1, 1), 12),  # depthwise
        (1, 3, (37, 41), 8, (11, 11), (4, 4), 2, (1, 1), 1),  # AlexNet-like first layer
        (4, 4, (6, 7), 8, (3, 3), (1, 1), 1, (1, 1), 2),  # batch >= threads, groups
        (13, 6, (12, 12), 16, (5, 5), (1, 1), 0, (1, 1), 1),  # several images per GEMM
        (11, 4, (5, 6), 6, (3, 3), (2, 1), 1, (1, 1), 2),  # same, uneven last chunk, groups
        # [Note: im2col tiles]: batched chunks of several images (uneven last chunk), and a
        # chunk of one image (its column block alone exceeds the budget)
        (7, 16, (20, 20), 3, (5, 5), (1, 1), 1, (1, 1), 1),
        (3, 64, (46, 46), 2, (5, 5), (1, 1), 0, (1, 1), 1),
        # large images (P*Q >= 2048): tasks of row bands, several bands per image
        (2, 64, (50, 45), 3, (3, 3), (1, 1), 1, (1, 1), 1),
        (2, 64, (52, 50), 3, (3, 3), (1, 1), 0, (1, 1), 1),  # bands read in place (no padding)
        (1, 8, (60, 60), 4, (3, 3), (1, 1), 2, (2, 2), 1),  # padded bands with dilation
        (1, 3, (101, 130), 4, (5, 5), (2, 3), 2, (1, 1), 1),  # strided large image
        (1, 64, (60, 60), 2, (3, 3), (1, 1), 1, (1, 1), 1),  # dX by bands (column block > 8 MiB)
        (2, 8, (48, 48), 16, (1, 1), (1, 1), 0, (1, 1), 1),  # large pointwise
    ],
)
def test_conv2d_named_shapes(algo, cfg):
    check_conv(cfg, np.float32, [algo])
    check_conv(cfg, np.float64, [algo])


# The implicit GEMM on unit-depth shapes ([Note: implicit GEMM convolution] in csrc/conv.cpp):
# each tile kind (rows, flat planes, channel vectors) and the corners of its window and tap
# ranges; backward_input with a stride falls back to im2col.
IMPLICIT_SHAPES = [
    (3, 5, (7, 9), 11, (3, 2), (1, 1), 1, (1, 1), 1),  # odd sizes, partial tiles everywhere
    (2, 3, (1, 1), 4, (1, 1), (1, 1), 0, (1, 1), 1),  # size 1
    (2, 4, (1, 13), 6, (1, 3), (1, 1), 1, (1, 1), 1),  # a single row
    (2, 4, (11, 12), 5, (2, 3), (4, 5), 1, (1, 1), 1),  # stride > kernel
    (2, 4, (9, 8), 7, (3, 3), (1, 1), (4, 5), (1, 1), 1),  # padding wider than the kernel
    (2, 3, (10, 11), 4, (3, 3), (2, 3), (5, 6), (1, 1), 1),  # same, strided
    (2, 6, (13, 14), 8, (3, 3), (1, 1), 2, (2, 3), 1),  # dilation
    (2, 6, (9, 10), 9, (3, 2), (2, 1), 1, (1, 1), 3),  # groups
    (2, 8, (8, 8), 8, (3, 3), (1, 1), 1, (1, 1), 8),  # depthwise
    (2, 20, (12, 12), 40, (3, 3), (1, 1), 1, (1, 1), 1),  # K > NR, C > MR: several panels
    (2, 16, (16, 16), 64, (3, 3), (1, 1), 1, (1, 1), 1),  # channel-vector tiles
    (2, 9, (8, 8), 33, (3, 3), (1, 1), 1, (1, 1), 1),  # flat tiles, K = NR + 1
    (2, 3, (34, 35), 4, (3, 3), (1, 1), 1, (1, 1), 1),  # rows of more than one tile
    (2, 8, (30, 31), 16, (5, 5), (2, 3), "same", (1, 1), 1),  # strided rows in phases
    (3, 4, (9, 9), 4, (3, 3), (3, 3), 1, (1, 1), 2),  # padded extent equals the input
    (1, 3, (5, 6), 2, (5, 6), (1, 1), "valid", (1, 1), 1),  # one output: the whole input
    (1, 3, (5, 6), 2, (3, 3), (1, 1), "full", (2, 2), 1),  # 'full' with dilation
]


@pytest.mark.parametrize("cfg", IMPLICIT_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_implicit_named_shapes(cfg, dtype):
    check_conv(cfg, dtype, ["implicit"], relu=True)
    check_conv(cfg, dtype, ["implicit"], nsp=1)


def test_implicit_is_a_conv3d_synonym_of_direct():
    x, w, b = conv_data((2, 4, (5, 6), 3, (3, 3), (1, 1), 1, (1, 1), 1), np.float64)
    x5, w5 = x[:, :, None], w[:, :, None]
    pad = (0, 1, 1)
    want = K.conv3d_forward(x5, w5, b, 1, pad, 1, 1, "direct")
    np.testing.assert_array_equal(K.conv3d_forward(x5, w5, b, 1, pad, 1, 1, "implicit"), want)
    # the same kernels on the same shape: the same bits
    np.testing.assert_array_equal(K.conv2d_forward(x, w, b, 1, 1, 1, 1, "implicit"), want[:, :, 0])
    for p in ("forward", "backward_input", "backward_weight"):
        assert K.conv3d_algorithm(x5.shape, w5.shape, 1, pad, pass_=p, algo="implicit") == "direct"
    with pytest.raises(ValueError, match="'implicit'"):
        K.conv2d_forward(x, w, b, 1, 1, 1, 1, "implicitt")


@pytest.mark.parametrize(
    "xs,ws,stride,padding,opad",
    [
        ((4, 32, 16, 16), (32, 16, 3, 3), 2, 1, 1),  # bench/ops.py's case, scaled down
        ((4, 24, 9, 17), (24, 16, 3, 2), (2, 3), (1, 0), (1, 2)),
        ((2, 32, 12, 16), (32, 16, 3, 3), 1, 1, 0),  # unit stride: the forward on implicit too
    ],
)
def test_conv_transpose2d_on_the_implicit_gemm(xs, ws, stride, padding, opad):
    """conv_transpose2d's passes against the float64 reference where 'auto' runs its gradient
    passes on the implicit GEMM ([Note: transposed convolution by the conv kernels]); two
    threads (batches of 2 and 4 images divide evenly: [Note: conv algorithm choice])."""
    prev = K.get_num_threads()
    K.set_num_threads(2)
    try:
        _check_conv_transpose2d(xs, ws, stride, padding, opad)
    finally:
        K.set_num_threads(prev)


def _check_conv_transpose2d(xs, ws, stride, padding, opad):
    from interp_reference import conv_transpose_ref

    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1])
    st, pd, op = (v if isinstance(v, tuple) else (v, v) for v in (stride, padding, opad))
    y = F.conv_transpose2d(dc.tensor(x), dc.tensor(w), dc.tensor(b), st, pd, op)
    cshape = (xs[0], ws[1]) + y.shape[2:]  # the input of the convolution it is the adjoint of
    for p in ("forward", "backward_weight"):  # its dx and dw
        assert K.conv2d_algorithm(cshape, ws, st, pd, pass_=p) == "implicit", p
    for dtype in (np.float64, np.float32):
        tx, tw, tb = (dc.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b))
        y = F.conv_transpose2d(tx, tw, tb, st, pd, op)
        g = rng.standard_normal(y.shape)
        backward(y, dc.tensor(g.astype(dtype)))
        tol = 1e-12 if dtype == np.float64 else 2e-5
        geo = (st, pd, op, 1, (1, 1))
        assert_close_rel(y.detach().numpy(), conv_transpose_ref(x, w, b, *geo), tol)
        # gradients: the adjoint identities of the reference (linear in x and in w)
        dx = tx.grad.numpy().astype(np.float64)
        dw = tw.grad.numpy().astype(np.float64)
        for _ in range(2):
            u, v = rng.standard_normal(xs), rng.standard_normal(ws)
            lhs = (conv_transpose_ref(u, w, None, *geo) * g).sum()
            assert abs(lhs - (dx * u).sum()) <= tol * 10 * np.abs(dx * u).sum() + 1e-9
            lhs = (conv_transpose_ref(x, v, None, *geo) * g).sum()
            assert abs(lhs - (dw * v).sum()) <= tol * 10 * np.abs(dw * v).sum() + 1e-9
        assert_close_rel(tb.grad.numpy(), g.sum(axis=(0, 2, 3)), tol)


# Regression (issue 9, High 1): a padded conv whose padded extent equals (H, W) exactly
# (stride > 2p and H - kernel extent divisible by the stride) was read in place, without its
# zeros, by the im2col path: forward, dx and dw all wrong.
PADDED_EXTENT_EQUALS_INPUT = [
    (2, 16, (30, 30), 32, (3, 3), (3, 3), 1, (1, 1), 1),  # the F.conv2d case
    (2, 3, (8, 8), 16, (3, 3), (5, 5), 2, (1, 1), 1),  # Conv2D(16, 3, strides=5, "full")
    (1, 2, (7, 10), 3, (3, 2), (4, 7), (1, 1), (1, 2), 1),  # dilation
    (3, 4, (9, 9), 4, (3, 3), (3, 3), 1, (1, 1), 2),  # groups; batched chunks of images
    (1, 2, (138, 138), 2, (3, 3), (3, 3), 1, (1, 1), 1),  # large image (P*Q >= 2048)
]


@pytest.mark.parametrize("algo", ALGOS + ["auto"])
@pytest.mark.parametrize("cfg", PADDED_EXTENT_EQUALS_INPUT)
def test_padding_kept_when_padded_extent_equals_input(algo, cfg):
    check_conv(cfg, np.float64, [algo])
    check_conv(cfg, np.float32, [algo])
    check_conv(cfg, np.float64, [algo], nsp=1)


@requires_torch
def test_padding_kept_when_padded_extent_equals_input_torch():
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 30, 30)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=3, padding=1)
    for algo in ALGOS + ["auto"]:
        y = F.conv2d(dc.tensor(x), dc.tensor(w), stride=3, padding=1, algo=algo).numpy()
        assert_close_rel(y, want.numpy(), 1e-5, algo)


def test_keras_full_padding_strided_layer():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    layer = dc.nn.Conv2D(16, 3, strides=5, padding="full")
    y = layer(dc.tensor(x)).detach().numpy()
    w, b = layer.kernel.detach().numpy(), layer.bias.detach().numpy()
    y_ref, _ = np_conv(x.transpose(0, 3, 1, 2), w, b, 5, "full", 1, 1)
    assert_close_rel(y, y_ref.transpose(0, 2, 3, 1), 1e-5)


# Regression (issue 9, High 2): a huge stride overflowed the direct kernel's padded extent
# (segfault at 2**61, zeros at 2**62, a 32 GiB buffer at 2**31 for a 1x1 output). Along an
# axis with one output position the stride is never taken ([Note: conv geometry at the
# boundary]): every algorithm gives the stride-1 window.
HUGE = [2**31, 2**61, 2**62, 2**63 - 1]


@pytest.mark.parametrize("algo", ALGOS + ["auto", "reference"])
@pytest.mark.parametrize("stride", HUGE)
def test_huge_stride(algo, stride):
    check_conv((2, 3, (6, 7), 4, (3, 3), (stride, stride), 0, (1, 1), 1), np.float64, [algo])
    check_conv((2, 3, (6, 7), 4, (3, 2), (2, stride), 1, (1, 1), 1), np.float32, [algo])
    check_conv((1, 2, (5, 9), 3, (1, 3), (stride, stride), 0, (1, 1), 1), np.float64, [algo], 1)


def test_huge_stride_through_F_and_layers():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = F.conv2d(dc.tensor(x), dc.tensor(w), stride=2**61).numpy()
    y_ref, _ = np_conv(x, w, None, 1, 0, 1, 1)
    assert_close_rel(y, y_ref[:, :, :1, :1], 1e-5)
    layer = dc.nn.Conv2D(4, 3, strides=(2**61, 2**61))
    xl = dc.tensor(x.transpose(0, 2, 3, 1).copy())
    assert layer(xl).shape == (2, 1, 1, 4)
    # a saved configuration edited to huge strides loads and predicts
    cfg = dc.nn.Conv2D(4, 3).get_config()
    cfg["strides"] = [2**61, 2**61]
    edited = dc.nn.Conv2D.from_config(cfg)
    out = edited(xl)
    k = edited.kernel.detach().numpy()
    want, _ = np_conv(x, k, edited.bias.detach().numpy(), 1, 0, 1, 1)
    assert_close_rel(out.detach().numpy(), want[:, :, :1, :1].transpose(0, 2, 3, 1), 1e-5)
    backward(out.sum())
    assert np.isfinite(edited.kernel.grad.numpy()).all()


# Regression (issue 9, High 3): dilation*(k-1)+1 overflowed (segfault at 2**61+1 with a
# 9-wide kernel, a wrong value at 2**62+1, NumPy's "negative dimensions" at 2**62).
@pytest.mark.parametrize("dilation", [2**61 + 1, 2**62 + 1, 2**62, 2**63 - 1])
def test_overflowing_dilation(dilation):
    x, w = _x(1, 2, 20), _x(3, 2, 9)
    msg = f"dilation {dilation} with kernel size 9"
    with pytest.raises(ValueError, match=msg):
        K.conv1d_forward(x, w, None, 1, 0, dilation)
    with pytest.raises(ValueError, match=msg):
        K.conv2d_forward(_x(1, 2, 3, 20), _x(3, 2, 1, 9), None, 1, 0, dilation)
    with pytest.raises(ValueError, match=msg):
        K.conv2d_backward_input(_x(1, 3, 3, 12), _x(3, 2, 1, 9), (1, 2, 3, 20), 1, 0, dilation)
    with pytest.raises(ValueError, match=msg):
        K.conv2d_backward_weight(_x(1, 2, 3, 20), _x(1, 3, 3, 12), (3, 2, 1, 9), 1, 0, dilation)
    with pytest.raises(ValueError, match=msg):
        K.conv1d_forward(x, w, None, 1, "same", dilation)
    with pytest.raises(ValueError, match=msg):
        dc.nn.Conv1D(3, 9, dilation_rate=dilation)(dc.tensor(_x(1, 20, 2)))
    with pytest.raises(ValueError, match=msg):
        dc.nn.Conv2D(3, (1, 9), dilation_rate=(1, dilation))(dc.tensor(_x(1, 3, 20, 2)))


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(stride=2**63), "stride is out of range.*9223372036854775808"),
        (dict(stride=(1, -(2**63) - 1)), r"stride\[1\] is out of range"),
        (dict(padding=2**63), "padding is out of range"),
        (dict(padding=2**62), "padding 4611686018427387904 is too large"),
        (dict(padding=(0, 2**61)), "padding .*is too large: the output would have shape"),
        (dict(dilation=2**64), "dilation is out of range"),
        (dict(groups=2**63), "groups is out of range"),
        (dict(groups=-(2**63)), "groups must be positive"),
    ],
)
def test_out_of_range_integers(kw, match):
    with pytest.raises(ValueError, match=match):
        K.conv2d_forward(_x(1, 2, 5, 5), _x(2, 2, 3, 3), **kw)


def test_out_of_range_shape_arguments():
    w, dy = _x(2, 2, 3, 3), _x(1, 2, 3, 3)
    with pytest.raises(ValueError, match=r"input_shape\[2\] is out of range"):
        K.conv2d_backward_input(dy, w, (1, 2, 2**63, 5))
    with pytest.raises(ValueError, match="input_shape .* is too large"):
        K.conv2d_backward_input(dy, w, (1, 2, 2**40, 2**40), stride=2**40)
    with pytest.raises(ValueError, match=r"weight_shape\[3\] is out of range"):
        K.conv2d_backward_weight(_x(1, 2, 5, 5), dy, (2, 2, 3, 2**64))
    with pytest.raises(TypeError, match=r"input_shape\[1\] must be an int, got float"):
        K.conv2d_backward_input(dy, w, (1, 2.0, 5, 5))


def test_padding_and_dilation_far_beyond_the_input():
    # Windows 2**40 apart on a 5-wide input: only the middle tap ever reads the input. The
    # padded copy the fast kernels need would be ~2**41 wide: the call runs the reference.
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 5)), rng.standard_normal((3, 4, 3)), rng.standard_normal(3)
    want = np.einsum("kc,ncq->nkq", w[:, :, 1], x) + b[:, None]
    for algo in ALGOS + ["auto"]:
        y = K.conv1d_forward(x, w, b, 1, 2**40, 2**40, 1, algo)
        assert_close_rel(y, want, 1e-12, algo)
        assert K.conv1d_algorithm(x.shape, w.shape, 1, 2**40, 2**40, algo=algo) == "reference"
        dx = K.conv1d_backward_input(y, w, x.shape, 1, 2**40, 2**40, 1, algo)
        assert_close_rel(dx, np.einsum("kc,nkq->ncq", w[:, :, 1], y), 1e-12, algo)


def test_conv2d_threads_give_the_same_result():
    cfg = (6, 16, (10, 10), 24, (3, 3), (1, 1), 1, (1, 1), 1)
    x, w, b = conv_data(cfg, np.float64)
    prev = K.get_num_threads()
    try:
        outs = []
        for nt in (1, 2, 3):
            K.set_num_threads(nt)
            for algo in ALGOS:
                y = K.conv2d_forward(x, w, b, 1, 1, 1, 1, algo)
                dw, db = K.conv2d_backward_weight(x, y, w.shape, 1, 1, 1, 1, algo)
                outs.append((y, dw, db))
    finally:
        K.set_num_threads(prev)
    for y, dw, db in outs[1:]:
        np.testing.assert_allclose(y, outs[0][0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dw, outs[0][1], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(db, outs[0][2], rtol=1e-12, atol=1e-12)


# Regression (issue 9, item 17): the weight gradient's sum over images went through per-thread
# partials filled in scheduling order, so repeated calls differed in the last bits. It is now
# summed in an order fixed by the thread count ([Note: deterministic weight gradients]).
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "cfg",
    [
        (16, 8, (12, 12), 16, (3, 3), (1, 1), 1, (1, 1), 1),  # batched chunks of images
        (8, 3, (20, 20), 16, (3, 3), (1, 1), 1, (1, 1), 1),  # few input channels (direct)
        (3, 4, (9, 9), 8, (3, 3), (2, 2), 1, (1, 1), 2),  # groups
        (3, 4, (50, 50), 8, (3, 3), (1, 1), 1, (1, 1), 1),  # large images: row bands
        (1, 6, (30, 30), 8, (3, 3), (1, 1), 1, (1, 1), 1),  # batch 1: fewer tasks than threads
    ],
)
def test_backward_weight_is_deterministic(threads, cfg):
    x, _, _ = conv_data(cfg, np.float32)
    N, C, sp, Kc, k, st, padding, dl, groups = cfg
    ws = (Kc, C // groups) + k
    dy = np.random.default_rng(1).standard_normal(
        K.conv2d_output_shape(x.shape, ws, st, padding, dl, groups)
    )
    dy = dy.astype(np.float32)
    prev = K.get_num_threads()
    K.set_num_threads(threads)
    try:
        for algo in ALGOS + ["auto"]:
            first = K.conv2d_backward_weight(x, dy, ws, st, padding, dl, groups, algo)
            for _ in range(12):
                dw, db = K.conv2d_backward_weight(x, dy, ws, st, padding, dl, groups, algo)
                assert np.array_equal(dw, first[0]) and np.array_equal(db, first[1]), algo
    finally:
        K.set_num_threads(prev)


def test_auto_algorithm_choice():
    # see [Note: conv algorithm choice] in csrc/conv.cpp (one thread: the implicit kernels'
    # balance over threads is tested below)
    algo = K.conv2d_algorithm
    prev = K.get_num_threads()
    K.set_num_threads(1)
    try:
        lenet1 = ((64, 1, 28, 28), (6, 1, 5, 5))
        assert algo(*lenet1) == "implicit"  # K/G = 6 fills 6 of 8 tile rows
        assert algo(*lenet1, pass_="backward_input") == "im2col"
        assert algo(*lenet1, pass_="backward_weight") == "direct"
        seed1 = ((64, 1, 28, 28), (32, 1, 3, 3))  # few input channels but 32 output channels
        assert algo(*seed1, pass_="backward_weight") == "direct"
        lenet2 = ((64, 6, 12, 12), (16, 6, 5, 5))
        assert algo(*lenet2, pass_="backward_input") == "im2col"  # C/G = 6 < 16
        assert algo(*lenet2, pass_="backward_weight") == "im2col"  # K/G = 16: half the lanes
        big = ((32, 64, 56, 56), (64, 64, 3, 3), 1, 1)
        for p in ("forward", "backward_input", "backward_weight"):
            assert algo(*big, pass_=p) == "implicit"
        # float64 tiles hold half the lanes: 64 channels are 512 bytes of a row of dy
        assert algo(*big, dtype="float64") == "implicit"
        assert algo(*big, pass_="backward_weight", dtype="float64") == "im2col"
        half = ((32, 32, 56, 56), (32, 32, 3, 3), 1, 1)
        assert algo(*half, pass_="backward_weight", dtype="float64") == "implicit"
        # strided: the implicit dX does not cover it; the strided forward and dW do
        convt = ((16, 32, 56, 56), (64, 32, 3, 3), 2, 1)
        assert algo(*convt) == "implicit"
        assert algo(*convt, pass_="backward_input") == "im2col"
        assert algo(*convt, pass_="backward_weight") == "implicit"

        # each side of the weight gradient's rule: K/G at most 256 bytes, rows of >= 16 outputs
        def dw_algo(xs, ws):
            return algo(xs, ws, 1, 1, pass_="backward_weight")

        assert dw_algo((16, 128, 28, 28), (64, 128, 3, 3)) == "implicit"
        assert dw_algo((16, 128, 28, 28), (128, 128, 3, 3)) == "im2col"
        assert dw_algo((16, 64, 28, 28), (64, 64, 3, 3)) == "implicit"
        assert dw_algo((16, 64, 14, 14), (64, 64, 3, 3)) == "im2col"
        assert dw_algo((16, 64, 28, 28), (16, 64, 3, 3)) == "im2col"  # K/G = 16: half the lanes
        # dX: C/G >= 16 and at least half the kernel's extent padded ('same', not 'valid')
        assert algo((16, 16, 32, 32), (8, 16, 3, 3), 1, 1, pass_="backward_input") == "implicit"
        assert algo((16, 8, 32, 32), (8, 8, 3, 3), 1, 1, pass_="backward_input") == "im2col"
        assert algo((16, 64, 30, 30), (64, 64, 3, 3), 1, 0, pass_="backward_input") == "im2col"
        # forward: channel-vector tiles on a short reduction at unit stride stay on im2col
        assert algo((16, 32, 56, 56), (64, 32, 3, 3), 1, 1) == "im2col"
        assert algo((16, 32, 56, 56), (64, 32, 3, 3), 2, 1) == "implicit"
        assert algo((16, 64, 56, 56), (64, 64, 3, 3), 1, 1) == "implicit"
        depthwise = ((8, 32, 14, 14), (32, 1, 3, 3), 1, 1, 1, 32)
        assert algo(*depthwise) == "direct"
        assert algo(*depthwise, pass_="backward_input") == "direct"
        assert algo(*depthwise, pass_="backward_weight") == "direct"
        assert algo((8, 32, 28, 28), (2, 32, 3, 3), 1, 1) == "direct"  # K/G = 2
        for p in ("forward", "backward_input", "backward_weight"):  # pointwise: GEMM on x
            assert algo((8, 64, 28, 28), (64, 64, 1, 1), pass_=p) == "im2col"
            assert algo((2, 3, 9, 9), (4, 3, 3, 3), pass_=p, algo="direct") == "direct"
            assert algo((2, 3, 9, 9), (4, 3, 3, 3), pass_=p, algo="implicit") == "implicit"
        # forced implicit on a pass it does not cover: im2col
        assert algo((2, 3, 9, 9), (4, 3, 3, 3), 2, pass_="backward_input", algo="implicit") == (
            "im2col"
        )
        assert K.conv1d_algorithm((32, 64, 512), (64, 64, 4), 2, 1, pass_="backward_weight") == (
            "implicit"
        )
    finally:
        K.set_num_threads(prev)


def test_auto_algorithm_choice_balances_threads():
    # a 2-D conv's implicit tasks are its (image, group) pairs: with 2 threads, 3 images
    # would leave one thread idle a third of the time, so 'auto' keeps im2col's row bands
    prev = K.get_num_threads()
    K.set_num_threads(2)
    try:
        for n, want in [(1, "im2col"), (2, "implicit"), (3, "im2col"), (4, "implicit")]:
            assert K.conv2d_algorithm((n, 64, 56, 56), (64, 64, 3, 3), 1, 1) == want, n
        # groups count as tasks too
        grouped = ((1, 64, 56, 56), (64, 32, 3, 3), 1, 1, 1, 2)
        assert K.conv2d_algorithm(*grouped, pass_="backward_weight") == "implicit"
    finally:
        K.set_num_threads(prev)


def test_algorithm_query_bad_dtype():
    with pytest.raises(ValueError, match="dtype"):
        K.conv2d_algorithm((2, 3, 9, 9), (4, 3, 3, 3), dtype="float16")


def test_output_shapes_and_padding_modes():
    assert K.conv2d_output_shape((2, 3, 10, 11), (4, 3, 3, 3), 1, "same") == (2, 4, 10, 11)
    assert K.conv2d_output_shape((2, 3, 10, 11), (4, 3, 3, 3), 2, "same") == (2, 4, 5, 6)
    assert K.conv2d_output_shape((2, 3, 10, 11), (4, 3, 4, 2), 3, "same") == (2, 4, 4, 4)
    assert K.conv2d_output_shape((2, 3, 10, 11), (4, 3, 3, 3), 1, "valid") == (2, 4, 8, 9)
    assert K.conv2d_output_shape((2, 3, 10, 11), (4, 3, 3, 3), 1, "full") == (2, 4, 12, 13)
    assert K.conv2d_output_shape((2, 3, 10, 11), (4, 3, 3, 3), 1, "full", 2) == (2, 4, 14, 15)
    assert K.conv1d_output_shape((2, 3, 10), (4, 3, 4), 1, "same") == (2, 4, 10)
    # 'same' with an even kernel pads one more after (TensorFlow/Keras): out[0] sees x[-1]=0
    x = np.arange(1, 6, dtype=np.float64)[None, None]
    w = np.ones((1, 1, 2))
    np.testing.assert_array_equal(K.conv1d_forward(x, w, None, 1, "same")[0, 0], [3, 5, 7, 9, 5])


def test_empty_batch():
    x = np.zeros((0, 3, 5, 5), np.float32)
    w = np.ones((2, 3, 3, 3), np.float32)
    for algo in ALGOS:
        assert K.conv2d_forward(x, w, None, 1, 0, 1, 1, algo).shape == (0, 2, 3, 3)
        dy = np.zeros((0, 2, 3, 3), np.float32)
        assert K.conv2d_backward_input(dy, w, x.shape, algo=algo).shape == x.shape
        dw, db = K.conv2d_backward_weight(x, dy, w.shape, algo=algo)
        np.testing.assert_array_equal(dw, 0)
        np.testing.assert_array_equal(db, 0)


# ---- textbook worked examples --------------------------------------------------------------


@pytest.mark.parametrize("algo", ALGOS)
def test_textbook_binary_image(algo):
    img = np.array(
        [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
        np.float32,
    )[None, None]
    f = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)[None, None]
    y1 = F.conv2d(dc.tensor(img), dc.tensor(f), algo=algo).numpy()
    np.testing.assert_array_equal(y1[0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    y2 = F.conv2d(dc.tensor(img), dc.tensor(f), stride=2, algo=algo).numpy()
    np.testing.assert_array_equal(y2[0, 0], [[4, 4], [2, 4]])


@pytest.mark.parametrize("algo", ALGOS)
def test_textbook_true_convolution_flips_the_kernel(algo):
    img = np.array(
        [[1, 1, 1, 1, 1], [-1, 0, -3, 0, 1], [2, 1, 1, -1, 0], [0, -1, 1, 2, 1], [1, 2, 1, 1, 1]],
        np.float64,
    )[None, None]
    k = np.array([[1, 0, 0], [0, 0, 0], [0, 0, -1]], np.float64)
    flipped = np.ascontiguousarray(k[::-1, ::-1])[None, None]
    y = F.conv2d(dc.tensor(img), dc.tensor(flipped), algo=algo).numpy()
    np.testing.assert_array_equal(y[0, 0], [[0, -2, -1], [2, 2, 4], [-1, 0, 0]])


@pytest.mark.parametrize("algo", ALGOS)
def test_textbook_1d_edge_filter(algo):
    x = np.array([[[0, 0, 1, 1, 1, 3, 3, 0]]], np.float32)
    w = np.array([[[-1, 0, 1]]], np.float32)
    y = F.conv1d(dc.tensor(x), dc.tensor(w), algo=algo).numpy()
    np.testing.assert_array_equal(y[0, 0], [1, 1, 0, 2, 2, -3])  # x[i+2] - x[i]


# ---- autograd ------------------------------------------------------------------------------


def _gradcheck(fn, inputs):
    """Finite-difference check in float64 (deepcore.testing.gradcheck) of every input."""
    gradcheck(fn, inputs)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=1, padding=0),
        dict(stride=2, padding=1),
        dict(stride=(1, 2), padding="same", dilation=(2, 1)),
        dict(stride=1, padding="full", groups=2),
    ],
)
def test_conv2d_gradcheck(algo, kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 4 // kw.get("groups", 1), 3, 2))
    b = rng.standard_normal(4)
    _gradcheck(lambda x, w, b: F.conv2d(x, w, b, algo=algo, **kw), [x, w, b])


@pytest.mark.parametrize("algo", ALGOS)
def test_conv1d_gradcheck(algo):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3)), rng.standard_normal(4)
    _gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding="same", algo=algo), [x, w, b])


def test_conv2d_without_bias_and_partial_grads():
    rng = np.random.default_rng(5)
    x = dc.tensor(rng.standard_normal((2, 3, 6, 6)))
    w = dc.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    dy = rng.standard_normal(y.shape)
    backward([y], [dy])
    assert x.grad is None
    _, grads = np_conv(x.numpy(), w.numpy(), None, 1, 1, 1, 1)
    assert_close_rel(w.grad.numpy(), grads(dy)[1], 1e-12)


# ---- PyTorch parity --------------------------------------------------------------------------


@requires_torch
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "cfg",
    [
        ((4, 6, 11, 13), (8, 3, 3, 3), dict(stride=2, padding=1, dilation=1, groups=2)),
        ((2, 1, 28, 28), (6, 1, 5, 5), dict(stride=1, padding=0, dilation=1, groups=1)),
        ((3, 8, 9, 9), (8, 1, 3, 3), dict(stride=1, padding=2, dilation=2, groups=8)),
        ((2, 4, 7, 7), (5, 4, 3, 3), dict(stride=1, padding="same", dilation=1, groups=1)),
    ],
)
def test_conv2d_torch_parity(algo, cfg):
    import torch

    xs, ws, kw = cfg
    rng = np.random.default_rng(6)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in (xs, ws, (ws[0],)))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    dy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(dy))
    dx_, dw_, db_ = (dc.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(dx_, dw_, db_, algo=algo, **kw)
    backward([y], [dy])
    for ours, theirs, name in [
        (y, ty, "y"),
        (dx_.grad, tx.grad, "dx"),
        (dw_.grad, tw.grad, "dw"),
        (db_.grad, tb.grad, "db"),
    ]:
        assert_close_rel(ours.detach().numpy(), theirs.detach().numpy(), 1e-5, name)


@requires_torch
def test_conv1d_torch_parity():
    import torch

    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((3, 4, 17)), rng.standard_normal((6, 2, 4))
    ty = torch.nn.functional.conv1d(
        torch.tensor(x), torch.tensor(w), stride=3, padding=2, dilation=2, groups=2
    )
    y = F.conv1d(dc.tensor(x), dc.tensor(w), stride=3, padding=2, dilation=2, groups=2)
    assert_close_rel(y.numpy(), ty.numpy(), 1e-12)


# ---- bad inputs --------------------------------------------------------------------------------


def _x(*s, dtype=np.float32):
    return np.zeros(s, dtype)


@pytest.mark.parametrize(
    "args,kw,exc,match",
    [
        ((_x(1, 3, 5, 5), _x(2, 4, 3, 3)), {}, ValueError, "channel mismatch"),
        ((_x(1, 3, 5, 5), _x(2, 3, 7, 3)), {}, ValueError, "larger than the padded input"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(dilation=3), ValueError, "larger than the padded"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(stride=0), ValueError, "stride must be positive"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(stride=-1), ValueError, "stride must be positive"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(padding=-1), ValueError, "padding must be non"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(padding="wide"), ValueError, "padding must be"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(stride=(1, 2, 3)), ValueError, "tuple of 2"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(dilation=0), ValueError, "dilation must be"),
        ((_x(3, 5, 5), _x(2, 3, 3, 3)), {}, ValueError, "x must be 4-dimensional"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3)), {}, ValueError, "w must be 4-dimensional"),
        ((_x(1, 3, 5, 5, dtype=np.int32), _x(2, 3, 3, 3)), {}, TypeError, "float32 or float64"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3, dtype=np.float64)), {}, TypeError, "w must have dtype"),
        ((_x(1, 4, 5, 5), _x(3, 2, 3, 3)), dict(groups=2), ValueError, "must divide the output"),
        ((_x(1, 3, 5, 5), _x(2, 1, 3, 3)), dict(groups=2), ValueError, "must divide the input"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(groups=0), ValueError, "groups must be positive"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3), _x(3)), {}, ValueError, "b must have shape"),
        ((_x(1, 3, 5, 5), _x(2, 3, 3, 3)), dict(algo="fft"), ValueError, "algo must be"),
        (([[1.0]], _x(2, 3, 3, 3)), {}, TypeError, "x must be a numpy array"),
    ],
)
def test_conv2d_bad_inputs(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        K.conv2d_forward(*args, **kw)


def test_conv_bad_inputs_through_F_and_backward_entries():
    with pytest.raises(ValueError, match="channel mismatch"):
        F.conv2d(dc.tensor(_x(1, 2, 5, 5)), dc.tensor(_x(2, 3, 3, 3)))
    with pytest.raises(ValueError, match="x must be 3-dimensional"):
        F.conv1d(dc.tensor(_x(1, 2, 5, 5)), dc.tensor(_x(2, 2, 3)))
    with pytest.raises(ValueError, match="dy must have the output's shape"):
        K.conv2d_backward_input(_x(1, 2, 4, 4), _x(2, 3, 3, 3), (1, 3, 5, 5))
    with pytest.raises(ValueError, match="dy must have the output's shape"):
        K.conv2d_backward_weight(_x(1, 3, 5, 5), _x(1, 2, 4, 4), (2, 3, 3, 3))
    with pytest.raises(ValueError, match="must be C-contiguous"):
        K.conv2d_forward(_x(1, 3, 5, 10)[..., ::2], _x(2, 3, 3, 3))


# Regression (issue 9, item 13): Conv2D(4, (3, 2.5)) was a (3, 2) kernel and (3, True) a
# (3, 1); likewise strides, dilation_rate and the pooling layers' pool_size / strides. Layers
# and F apply one rule (the binding's spatial_ints).
LAYER_ARGS = [
    (dc.nn.Conv2D, "kernel_size", dict(filters=4)),
    (dc.nn.Conv2D, "strides", dict(filters=4, kernel_size=3)),
    (dc.nn.Conv2D, "dilation_rate", dict(filters=4, kernel_size=3)),
    (dc.nn.MaxPooling2D, "pool_size", {}),
    (dc.nn.AveragePooling2D, "strides", dict(pool_size=2)),
]


@pytest.mark.parametrize("cls,arg,kw", LAYER_ARGS)
@pytest.mark.parametrize("bad", [(3, 2.5), (3, True), 2.0, True, np.bool_(True), "3", (3, "2")])
def test_layer_spatial_arguments_refuse_non_integers(cls, arg, kw, bad):
    with pytest.raises(TypeError, match=f"{cls.__name__}: {arg}"):
        cls(**kw, **{arg: bad})


@pytest.mark.parametrize("cls,arg,kw", LAYER_ARGS)
def test_layer_spatial_arguments_values(cls, arg, kw):
    layer = cls(**kw, **{arg: (np.int64(3), np.int32(2))})  # NumPy integers are integers
    assert getattr(layer, arg) == (3, 2) and all(type(e) is int for e in getattr(layer, arg))
    assert getattr(cls(**kw, **{arg: 3}), arg) == (3, 3)
    for bad in [0, (3, -1), 2**63, (3, 2, 1)]:
        with pytest.raises(ValueError, match=f"{cls.__name__}: {arg}"):
            cls(**kw, **{arg: bad})


def test_layer_1d_spatial_arguments():
    with pytest.raises(TypeError, match="Conv1D: kernel_size must be an int .*got float"):
        dc.nn.Conv1D(4, 2.5)
    with pytest.raises(TypeError, match="MaxPooling1D: pool_size must be an int .*got float"):
        dc.nn.MaxPooling1D(2.5)
    assert dc.nn.Conv1D(4, (np.int64(3),)).kernel_size == (3,)


def test_F_spatial_arguments_refuse_non_integers():
    x, w = dc.tensor(_x(1, 2, 6, 6)), dc.tensor(_x(3, 2, 3, 3))
    for kw in [
        dict(stride=(1, 2.5)),
        dict(stride=True),
        dict(dilation=(True, 1)),
        dict(padding=1.0),
    ]:
        with pytest.raises(TypeError, match=f"{next(iter(kw))}.* must be an int"):
            F.conv2d(x, w, **kw)
    assert F.conv2d(x, w, stride=np.int64(2), padding=(np.int32(1), 1)).shape == (1, 3, 3, 3)
    with pytest.raises(TypeError, match=r"kernel_size\[1\] must be an int, got float"):
        F.max_pool2d(x, (2, 2.5))


# ---- fused ReLU (Conv2D(activation="relu")) ---------------------------------------------------


@pytest.mark.parametrize("algo", ALGOS + ["auto", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_relu_forward_matches_conv_then_relu(algo, dtype):
    for cfg in CONFIGS[:25] + [(13, 6, (12, 12), 16, (5, 5), (1, 1), 0, (1, 1), 1)]:
        N, C, sp, Kc, k, st, padding, dl, groups = cfg
        x, w, b = conv_data(cfg, dtype)
        y_ref, _ = np_conv(x, w, b, st, padding, dl, groups)
        y = K.conv2d_forward(x, w, b, st, padding, dl, groups, algo, relu=True)
        assert_close_rel(y, np.maximum(y_ref, 0), TOL[dtype] * np.sqrt(w[0].size), f"{cfg}")
        assert (y >= 0).all()
        yn = K.conv2d_forward(x, w, None, st, padding, dl, groups, algo, relu=True)
        y_ref_nb, _ = np_conv(x, w, np.zeros_like(b), st, padding, dl, groups)
        assert_close_rel(yn, np.maximum(y_ref_nb, 0), TOL[dtype] * np.sqrt(w[0].size), f"{cfg}")


def test_fused_relu_every_cpu_capability(cpu_capability):
    cfg = (5, 3, (9, 11), 8, (3, 3), (1, 1), 1, (1, 1), 1)
    x, w, b = conv_data(cfg, np.float32)
    y_ref, _ = np_conv(x, w, b, 1, 1, (1, 1), 1)
    for algo in ALGOS:
        y = K.conv2d_forward(x, w, b, 1, 1, 1, 1, algo, relu=True)
        assert_close_rel(y, np.maximum(y_ref, 0), 1e-5, algo)


def test_fused_relu_keeps_nan():
    x = np.ones((1, 1, 3, 3), np.float32)
    x[0, 0, 1, 1] = np.nan
    y = K.conv2d_forward(x, np.ones((1, 1, 1, 1), np.float32), None, relu=True)
    assert np.isnan(y[0, 0, 1, 1]) and np.isfinite(np.delete(y.ravel(), 4)).all()


@pytest.mark.parametrize("algo", ALGOS)
def test_fused_relu_gradcheck(algo):
    rng = np.random.default_rng(5)
    x, w, b = (
        rng.standard_normal((2, 3, 6, 5)),
        rng.standard_normal((4, 3, 3, 2)),
        rng.standard_normal(4),
    )
    _gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, padding=1, algo=algo, activation="relu"), [x, w, b]
    )
    x1, w1 = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3))
    _gradcheck(lambda x, w: F.conv1d(x, w, activation="relu", algo=algo), [x1, w1])


def test_fused_relu_equals_unfused_in_a_layer():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 10, 10, 2)).astype(np.float32)
    fused = dc.nn.Conv2D(5, 3, activation="relu")
    plain = dc.nn.Conv2D(5, 3)
    y1 = fused(dc.tensor(x))
    plain.build(x.shape)
    plain.load_state_dict(fused.state_dict())
    xt = dc.tensor(x, requires_grad=True)
    y2 = F.relu(plain(xt))
    np.testing.assert_allclose(y1.detach().numpy(), y2.detach().numpy(), rtol=1e-6, atol=1e-6)
    xf = dc.tensor(x, requires_grad=True)
    backward((fused(xf) * dc.tensor(y2.detach().numpy() + 1.0)).sum())
    backward((y2 * dc.tensor(y2.detach().numpy() + 1.0)).sum())
    np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        fused.kernel.grad.numpy(), plain.kernel.grad.numpy(), rtol=1e-5, atol=1e-5
    )


def test_fused_activation_bad_input():
    x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError, match="fused activation"):
        F.conv2d(dc.tensor(x), dc.tensor(w), activation="tanh")


@pytest.mark.parametrize(
    "fn,xs,ws",
    [
        (F.conv2d, (2, 3, 6, 6), (4, 3, 3, 3)),
        (F.conv2d, (2, 3, 5, 5), (4, 3, 1, 1)),  # pointwise: the input is the column matrix
        (F.conv3d, (1, 2, 4, 5, 5), (3, 2, 3, 3, 3)),
        (F.conv_transpose2d, (2, 3, 4, 4), (3, 2, 3, 3)),
        (F.conv_transpose1d, (2, 3, 5), (3, 2, 3)),
    ],
)
def test_conv_leaf_gradients_own_their_buffers(fn, xs, ws):
    """The convolutions hand their kernels' new arrays to the leaves without a copy
    ([Note: fresh gradients]): every .grad is writeable, shares memory with no other gradient
    nor the incoming one, and a second backward adds to it."""
    rng = np.random.default_rng(0)
    x = dc.tensor(rng.standard_normal(xs), requires_grad=True)
    w = dc.tensor(rng.standard_normal(ws), requires_grad=True)
    n_out = ws[1] if fn in (F.conv_transpose2d, F.conv_transpose1d) else ws[0]
    b = dc.tensor(rng.standard_normal(n_out), requires_grad=True)
    y = fn(x, w, b)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    first = [t.grad.numpy().copy() for t in (x, w, b)]
    grads = [t.grad.numpy() for t in (x, w, b)] + [g]
    for i, a in enumerate(grads[:3]):
        assert a.flags.writeable
        assert not any(np.shares_memory(a, o) for o in grads[i + 1 :])
    fn(x, w, b).backward(g)
    for t, f in zip((x, w, b), first):
        np.testing.assert_allclose(t.grad.numpy(), 2 * f, rtol=1e-12)
