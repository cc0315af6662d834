"""Max / average / global average pooling: native kernels against a float64 NumPy reference,
gradients by finite differences, PyTorch parity, bad inputs."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore.autograd import backward
from helpers import assert_close_rel, requires_torch
from test_conv import _gradcheck

K = dc.kernels


def _pair(v, n=2):
    return (v,) * n if isinstance(v, int) else tuple(v)


def ref_pads(in_sizes, k, stride, padding):
    pads = []
    for i, n in enumerate(in_sizes):
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "same":
            out = -(-n // stride[i])
            total = max((out - 1) * stride[i] + k[i] - n, 0)
            pads.append((total // 2, total - total // 2))
        else:
            p = _pair(padding, len(in_sizes))[i]
            pads.append((p, p))
    return pads


def np_pool2d(x, k, stride, padding, mode, count_include_pad=True):
    """(y, dx_fn): windows gathered with one strided view per tap; float64."""
    x = np.asarray(x, np.float64)
    k = _pair(k)
    st = k if stride is None else _pair(stride)
    N, C, H, W = x.shape
    (pt, pb), (pl, pr) = ref_pads((H, W), k, st, padding)
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    inside = np.pad(np.ones((H, W)), ((pt, pb), (pl, pr)))
    P = (H + pt + pb - k[0]) // st[0] + 1
    Q = (W + pl + pr - k[1]) // st[1] + 1

    def tap(a, r, s):
        return a[..., r : r + st[0] * (P - 1) + 1 : st[0], s : s + st[1] * (Q - 1) + 1 : st[1]]

    taps = np.stack([tap(xp, r, s) for r in range(k[0]) for s in range(k[1])])  # (RS,N,C,P,Q)
    cnt = sum(tap(inside, r, s) for r in range(k[0]) for s in range(k[1]))  # (P,Q)
    if mode == "max":
        y = taps.max(axis=0)
        arg = taps.argmax(axis=0)
    else:
        div = k[0] * k[1] if count_include_pad else cnt
        y = taps.sum(axis=0) / div

    def grad(dy):
        dy = np.asarray(dy, np.float64)
        dxp = np.zeros_like(xp)
        for i, (r, s) in enumerate((r, s) for r in range(k[0]) for s in range(k[1])):
            g = dy * (arg == i) if mode == "max" else dy / div
            tap(dxp, r, s)[...] += g
        return dxp[:, :, pt : pt + H, pl : pl + W]

    return y, grad


def random_configs(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        stride = rng.choice(["none", "int", "pair"])
        st = {
            "none": None,
            "int": int(rng.integers(1, 4)),
            "pair": (int(rng.integers(1, 4)), int(rng.integers(1, 6))),
        }[stride]
        pad = rng.choice(["zero", "int", "pair", "same", "valid"])
        padding = {
            "zero": 0,
            "int": int(rng.integers(0, 2)),
            "pair": (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1))),
            "same": "same",
            "valid": "valid",
        }[pad]
        if isinstance(padding, int) and padding > min(k) // 2:
            continue
        H, W = int(rng.integers(1, 12)), int(rng.integers(1, 60))
        stv = k if st is None else _pair(st)
        pads = ref_pads((H, W), k, stv, padding)
        if any(kk > n + lo + hi for kk, n, (lo, hi) in zip(k, (H, W), pads)):
            continue
        out.append(((int(rng.integers(1, 4)), int(rng.integers(1, 4)), H, W), k, st, padding))
    return out


CONFIGS = random_configs(60, seed=2)


def _case(cfg, dtype, mode, nsp=2, count_include_pad=True, reference=False):
    shape, k, st, padding = cfg
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    if nsp == 1:
        x = np.ascontiguousarray(x[:, :, 0])
        k = k[1]
        st = None if st is None else _pair(st)[1]
        padding = padding if isinstance(padding, str) else _pair(padding)[1]
        y_ref, grad = np_pool2d(
            x[:, :, None],
            (1, k),
            None if st is None else (1, st),
            padding if isinstance(padding, str) else (0, padding),
            mode,
            count_include_pad,
        )
        y_ref = y_ref[:, :, 0]
    else:
        y_ref, grad = np_pool2d(x, k, st, padding, mode, count_include_pad)
    d = f"{nsp}d"
    dy = np.random.default_rng(1).standard_normal(y_ref.shape).astype(dtype)
    if nsp == 1:
        dx_ref = grad(dy[:, :, None])[:, :, 0]
    else:
        dx_ref = grad(dy)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    if mode == "max":
        y, idx = getattr(K, f"max_pool{d}_forward")(x, k, st, padding, reference=reference)
        y2 = getattr(K, f"max_pool{d}_forward")(x, k, st, padding, return_indices=False)
        np.testing.assert_array_equal(y2, y)
        assert idx.dtype == np.int32
        dx = getattr(K, f"max_pool{d}_backward")(dy, idx, x.shape)
        dxw = getattr(K, f"max_pool{d}_backward")(dy, idx, x.shape, None, k, st, padding)
        np.testing.assert_array_equal(dxw, dx)  # write-once path (windows tiling) or general
    else:
        y = getattr(K, f"avg_pool{d}_forward")(
            x, k, st, padding, count_include_pad, reference=reference
        )
        dx = getattr(K, f"avg_pool{d}_backward")(
            dy, x.shape, k, st, padding, count_include_pad, reference=reference
        )
    assert y.dtype == dtype and dx.dtype == dtype
    assert_close_rel(y, y_ref, tol, f"{mode} y {cfg}")
    assert_close_rel(dx, dx_ref, tol, f"{mode} dx {cfg}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode,inc", [("max", True), ("avg", True), ("avg", False)])
@pytest.mark.parametrize("reference", [False, True])
def test_pool2d_random_configs(dtype, mode, inc, reference):
    for cfg in CONFIGS:
        _case(cfg, dtype, mode, count_include_pad=inc, reference=reference)


@pytest.mark.parametrize("mode,inc", [("max", True), ("avg", True), ("avg", False)])
def test_pool1d_random_configs(mode, inc):
    for cfg in CONFIGS[:30]:
        _case(cfg, np.float32, mode, nsp=1, count_include_pad=inc)
        _case(cfg, np.float64, mode, nsp=1, count_include_pad=inc)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_every_cpu_capability(cpu_capability, mode):
    for cfg in CONFIGS[:30] + [((2, 3, 56, 56), (2, 2), None, 0), ((1, 2, 37, 71), (3, 3), 2, 1)]:
        _case(cfg, np.float32, mode)
        _case(cfg, np.float64, mode, count_include_pad=False)


def test_max_pool_indices_and_nan():
    x = np.array([[[[1, 5, 2, 0], [3, 4, 9, 8]]]], np.float32)
    y, idx = K.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(y, [[[[5, 9]]]])
    np.testing.assert_array_equal(idx, [[[[1, 6]]]])  # plane-local h*W + w
    x = np.zeros((1, 1, 2, 40), np.float32)
    x[0, 0, 1, 33] = np.nan
    y, idx = K.max_pool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 16]) and idx[0, 0, 0, 16] == 40 + 33
    assert np.isfinite(np.delete(y, 16)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_narrow_planes_match_reference(cpu_capability, dtype):
    # Planes with fewer interior outputs per row than a vector (26x26 -> 13x13, 11 -> 5 ...)
    # take the buffered vector path (see [Note: narrow planes]); values, argmax on ties and
    # NaN must equal the reference kernel's exactly.
    rng = np.random.default_rng(7)
    for h, w, k, st, pad in [
        (26, 26, 2, 2, 0),
        (11, 11, 2, 2, 0),
        (7, 30, 3, 2, 1),
        (5, 9, 3, 1, 1),
        (4, 3, 2, 1, 0),
        (9, 17, 3, 3, 0),
    ]:
        x = rng.integers(-2, 3, size=(2, 3, h, w)).astype(dtype)  # many ties
        x[0, 1, h // 2, w // 2] = np.nan
        y, idx = K.max_pool2d_forward(x, k, st, pad)
        y_ref, idx_ref = K.max_pool2d_forward(x, k, st, pad, reference=True)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(idx, idx_ref)


def _scatter_ref(dy, idx, in_shape):
    """dx[n, c].flat[idx] += dy, float64 (np.add.at accumulates repeated indices)."""
    N, C = in_shape[:2]
    dx = np.zeros((N * C, int(np.prod(in_shape[2:]))))
    rows = np.repeat(np.arange(N * C), idx[0, 0].size)
    np.add.at(dx, (rows, idx.reshape(-1)), dy.reshape(-1).astype(np.float64))
    return dx.reshape(in_shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_backward_paths(cpu_capability, dtype):
    # Width-2 / column-stride-2 windows that do not overlap take the write-once kernel ([Note:
    # write-once max pooling backward]): narrow rows (Q < 16, buffered), wide rows with a
    # partial last block, odd sizes (uncovered last row / column), row gaps (sh > R). The rest
    # (overlapping windows, padding, other widths) take the zero-fill + scatter path. Both must
    # equal a float64 scatter of dy to the indices, with and without the window given.
    rng = np.random.default_rng(11)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    for h, w, k, st, pad in [
        (26, 26, 2, 2, 0),  # 13x13: the seed convnet's first pool
        (11, 11, 2, 2, 0),  # 5x5, odd: row and column 10 uncovered
        (56, 56, 2, 2, 0),  # Q = 28: one full block, one overlapping
        (7, 73, 2, 2, 0),  # Q = 36, odd width
        (9, 40, (3, 2), (4, 2), 0),  # R = 3, sh = 4: gap rows, tail rows
        (6, 34, (1, 2), (1, 2), 0),  # R = 1
        (8, 8, 2, 1, 0),  # overlapping: general path
        (9, 17, 3, 2, 1),  # overlapping with padding
        (8, 18, 2, 2, 1),  # padded 2x2/2: general path
        (7, 5, 2, 2, "same"),  # bottom / right padding only: general path
        (7, 37, 2, 2, "same"),
        (5, 9, (3, 2), (3, 2), "same"),
        (7, 20, 3, 3, 0),  # width 3, not overlapping: general path
        (5, 20, (2, 2), (2, 3), 0),  # column gaps: general path
    ]:
        x = rng.integers(-2, 3, size=(2, 3, h, w)).astype(dtype)  # ties
        x[1, 2, h // 2, w // 2] = np.nan
        y, idx = K.max_pool2d_forward(x, k, st, pad)
        dy = rng.standard_normal(y.shape).astype(dtype)
        ref = _scatter_ref(dy, idx, x.shape)
        dx = K.max_pool2d_backward(dy, idx, x.shape, None, k, st, pad)
        assert dx.dtype == dtype
        assert_close_rel(dx, ref, tol, f"{(h, w, k, st, pad)}")  # (overlaps accumulate)
        np.testing.assert_array_equal(K.max_pool2d_backward(dy, idx, x.shape), dx)
        # every element must be assigned, and nothing past the end
        guarded = np.full(x.size + 64, 7.0, dtype)
        out = guarded[: x.size].reshape(x.shape)
        K.max_pool2d_backward(dy, idx, x.shape, out, k, st, pad)
        np.testing.assert_array_equal(out, dx)
        assert (guarded[x.size :] == 7.0).all(), "wrote past the end of dx"
        # an index elsewhere in the plane (not in its window) is still honoured: the
        # write-once kernel notices and the scatter redoes the planes
        idx2 = idx.copy()
        idx2[1, 1, -1, -1] = 0
        idx2[0, 0, 0, 0] = h * w - 1  # (two dy may now add up in one element)
        dx2 = K.max_pool2d_backward(dy, idx2, x.shape, None, k, st, pad)
        assert_close_rel(dx2, _scatter_ref(dy, idx2, x.shape), tol, "moved index")
        for bad in (-1, h * w):
            idx3 = idx.copy()
            idx3[1, 2, -1, -1] = bad
            with pytest.raises(ValueError, match="outside the input plane"):
                K.max_pool2d_backward(dy, idx3, x.shape, None, k, st, pad)
    # 1-D: 2/2 windows take the write-once kernel too (H = R = 1)
    x = rng.standard_normal((3, 4, 45)).astype(dtype)
    y, idx = K.max_pool1d_forward(x, 2)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = K.max_pool1d_backward(dy, idx, x.shape, None, 2)
    ref = _scatter_ref(dy[:, :, None], idx[:, :, None], x.shape[:2] + (1, 45))[:, :, 0]
    assert_close_rel(dx, ref, 1e-15, "1d")


@pytest.mark.parametrize("shape", [(64, 32, 26, 26), (64, 64, 11, 11)])
def test_max_pool_backward_threaded_matches_serial(shape):
    # the seed convnet's pools: big enough to split over threads
    rng = np.random.default_rng(12)
    x = rng.standard_normal(shape).astype(np.float32)
    y, idx = K.max_pool2d_forward(x, 2)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = K.max_pool2d_backward(dy, idx, x.shape, None, 2)
    np.testing.assert_array_equal(dx, _scatter_ref(dy, idx, x.shape).astype(np.float32))


def test_global_avg_pool():
    rng = np.random.default_rng(3)
    for shape in [(2, 3, 5, 7), (1, 1, 1, 1), (3, 4, 64, 64)]:
        x = rng.standard_normal(shape)
        y = F.global_avg_pool2d(dc.tensor(x)).numpy()
        assert_close_rel(y, x.mean(axis=(2, 3)), 1e-13)
        yk = F.global_avg_pool2d(dc.tensor(x.astype(np.float32)), keepdims=True).numpy()
        assert yk.shape == shape[:2] + (1, 1) and yk.dtype == np.float32
        assert_close_rel(yk, x.mean(axis=(2, 3), keepdims=True), 1e-6)
    x = rng.standard_normal((2, 3, 9))
    assert_close_rel(F.global_avg_pool1d(dc.tensor(x)).numpy(), x.mean(axis=2), 1e-13)


# ---- autograd ---------------------------------------------------------------------------------


def test_pool_gradcheck():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 7, 6))  # continuous values: no ties in max windows
    _gradcheck(lambda x: F.max_pool2d(x, 2), [x])
    _gradcheck(lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [x])
    _gradcheck(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), [x])
    _gradcheck(lambda x: F.avg_pool2d(x, (2, 3), padding="same", count_include_pad=False), [x])
    _gradcheck(lambda x: F.global_avg_pool2d(x), [x])
    x1 = rng.standard_normal((2, 3, 9))
    _gradcheck(lambda x: F.max_pool1d(x, 3, 2, 1), [x1])
    _gradcheck(lambda x: F.avg_pool1d(x, 2), [x1])
    _gradcheck(lambda x: F.global_avg_pool1d(x, keepdims=True), [x1])


def test_max_pool_no_indices_without_grad():
    x = dc.tensor(np.ones((1, 1, 4, 4), np.float32))
    y = F.max_pool2d(x, 2)
    assert y.grad_fn is None and y.shape == (1, 1, 2, 2)


# ---- PyTorch parity ----------------------------------------------------------------------------


@requires_torch
@pytest.mark.parametrize(
    "shape,k,st,pad",
    [
        ((4, 8, 56, 56), 2, None, 0),
        ((2, 3, 13, 17), 3, 2, 1),
        ((2, 3, 9, 10), (2, 3), (1, 2), (1, 1)),
    ],
)
@pytest.mark.parametrize("op", ["max", "avg", "avg_exclude"])
def test_pool2d_torch_parity(shape, k, st, pad, op):
    import torch

    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ours = dc.tensor(x, requires_grad=True)
    if op == "max":
        ty = torch.nn.functional.max_pool2d(tx, k, st, pad)
        y = F.max_pool2d(ours, k, st, pad)
    else:
        inc = op == "avg"
        ty = torch.nn.functional.avg_pool2d(tx, k, st, pad, count_include_pad=inc)
        y = F.avg_pool2d(ours, k, st, pad, count_include_pad=inc)
    dy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(dy))
    backward([y], [dy])
    assert_close_rel(y.detach().numpy(), ty.detach().numpy(), 1e-6, "y")
    assert_close_rel(ours.grad.numpy(), tx.grad.numpy(), 1e-6, "dx")


@requires_torch
def test_pool1d_torch_parity():
    import torch

    x = np.random.default_rng(6).standard_normal((2, 3, 20))
    tx = torch.tensor(x)
    assert_close_rel(
        F.max_pool1d(dc.tensor(x), 3, 2, 1).numpy(),
        torch.nn.functional.max_pool1d(tx, 3, 2, 1).numpy(),
        1e-15,
    )
    assert_close_rel(
        F.avg_pool1d(dc.tensor(x), 4, 3, 2).numpy(),
        torch.nn.functional.avg_pool1d(tx, 4, 3, 2).numpy(),
        1e-14,
    )


# ---- bad inputs --------------------------------------------------------------------------------


def _x(*s, dtype=np.float32):
    return np.zeros(s, dtype)


@pytest.mark.parametrize(
    "fn,args,kw,exc,match",
    [
        ("max_pool2d_forward", (_x(1, 1, 4, 4), 2), dict(padding=2), ValueError, "at most half"),
        ("avg_pool2d_forward", (_x(1, 1, 4, 4), 3), dict(padding=2), ValueError, "at most half"),
        ("max_pool2d_forward", (_x(1, 1, 2, 4), 3), {}, ValueError, "larger than the padded"),
        ("max_pool2d_forward", (_x(1, 1, 4, 4), 2), dict(stride=0), ValueError, "stride must be"),
        ("avg_pool2d_forward", (_x(1, 1, 4, 4), 0), {}, ValueError, "kernel_size must be"),
        ("max_pool2d_forward", (_x(1, 4, 4), 2), {}, ValueError, "4-dimensional"),
        ("max_pool1d_forward", (_x(1, 1, 4, 4), 2), {}, ValueError, "3-dimensional"),
        ("max_pool2d_forward", (_x(1, 1, 4, 4, dtype=np.int64), 2), {}, TypeError, "float32"),
        (
            "avg_pool2d_forward",
            (_x(1, 1, 4, 4), 2),
            dict(padding="full"),
            ValueError,
            "'valid' or 'same'",
        ),
        (
            "avg_pool2d_backward",
            (_x(1, 1, 3, 3), (1, 1, 4, 4), 2),
            {},
            ValueError,
            "dy must have the output's shape",
        ),
        (
            "max_pool2d_backward",
            (_x(1, 1, 2, 2), _x(1, 1, 2, 2), (1, 1, 4, 4)),
            {},
            TypeError,
            "idx must have dtype int32",
        ),
        (
            "max_pool2d_backward",
            (_x(1, 1, 2, 2), np.full((1, 1, 2, 2), 16, np.int32), (1, 1, 4, 4)),
            {},
            ValueError,
            "outside the input plane",
        ),
        ("global_avg_pool_forward", (_x(3, 4),), {}, ValueError, "at least 3 dimensions"),
    ],
)
def test_pool_bad_inputs(fn, args, kw, exc, match):
    with pytest.raises(exc, match=match):
        getattr(K, fn)(*args, **kw)


def test_global_pool_rank_check():
    with pytest.raises(ValueError, match="4-dimensional"):
        F.global_avg_pool2d(dc.tensor(_x(2, 3, 4)))


def test_max_pool_refuses_planes_past_int32_indices():
    # argmax indices are int32 within a plane: a plane of 2^31 + 2^20 elements returned a
    # negative index silently; now it is refused wherever indices are made or read
    n = 2**31 + 2**20
    dy, idx = np.zeros((1, 1, 1), np.float32), np.zeros((1, 1, 1), np.int32)
    with pytest.raises(ValueError, match="int32 argmax indices"):
        K.max_pool1d_backward(dy, idx, (1, 1, n))
    with pytest.raises(ValueError, match="int32 argmax indices"):
        K.max_pool2d_backward(dy[..., None], idx[..., None], (1, 1, 2**11 + 1, 2**20))
    # H*W overflows int64: refused by the shape's byte-size check or the index-range check
    with pytest.raises(ValueError, match="int32 argmax indices|too large"):
        K.max_pool2d_backward(dy[..., None], idx[..., None], (1, 1, 2**62, 2**62))
    try:
        x = np.zeros((1, 1, n), np.float32)  # 8 GiB of address space, never touched
    except MemoryError:
        pytest.skip("no 8 GiB of address space for the input")
    with pytest.raises(ValueError, match="int32 argmax indices"):
        K.max_pool1d_forward(x, n)
    with pytest.raises(ValueError, match="int32 argmax indices"):
        K.max_pool2d_forward(x.reshape(1, 1, 2**11 + 1, 2**20), (2**11 + 1, 2**20))
    with pytest.raises(ValueError, match="int32 argmax indices"):
        F.max_pool1d(dc.Tensor(x, requires_grad=True), n)  # (wraps x, no copy)


@pytest.mark.parametrize("inc", [True, False])
@pytest.mark.parametrize("shape", [(3, 2, 61), (2, 1, 5, 61), (1, 2, 7, 9), (1, 1, 1, 1)])
def test_avg_pool_backward_same_padding_of_odd_sizes_stays_inside_dx(shape, inc, cpu_capability):
    # 2x2/2 (or 2/2) windows with 'same' padding of an odd width: the last window is half in the
    # right padding. The write-once backward wrote its second tap one past each row (past the
    # plane on the last row: a segfault under the fuzz suite's longer runs)
    nsp = len(shape) - 2
    d, k = f"{nsp}d", (2,) * nsp
    x = np.random.default_rng(0).standard_normal(shape)
    y = getattr(K, f"avg_pool{d}_forward")(x, k, k, "same", inc)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    guard, n = 16, x.size
    buf = np.full(n + 2 * guard, 7.5)
    out = buf[guard : guard + n].reshape(shape)
    getattr(K, f"avg_pool{d}_backward")(dy, shape, k, k, "same", inc, out=out)
    assert (buf[:guard] == 7.5).all() and (buf[-guard:] == 7.5).all(), "wrote outside dx"
    ref = getattr(K, f"avg_pool{d}_backward")(dy, shape, k, k, "same", inc, reference=True)
    np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
