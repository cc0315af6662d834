"""Convolution and pooling on CUDA (csrc/cuda/conv.cu, [Note: implicit GEMM convolution];
csrc/cuda/pool.cu, [Note: CUDA pooling]) through deepcore._C on CuPy arrays, against the float64
NumPy references of the CPU tests (tests/conv_reference.py's np_conv, test_pool.py's np_pool2d)
and, where no NumPy reference exists (adaptive and global pooling, 3-D), the CPU kernels run in
float64. fp32 bound: ||err|| / ||ref|| < 1e-5; fp64: 1e-12. Outputs are NaN-poisoned before the
kernel runs: through out= where the binding has one, else by gpu_helpers.poison_pool ([Note: GPU
test oracle]; test_poison_pool_hands_out_nan checks that CuPy hands the block back). Marked `gpu`:
skipped without a GPU ([Note: gpu marker] in conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conv_reference import conv_data, np_conv
from deepcore import _C
from gpu_helpers import cupy_fixture, poison_pool  # noqa: F401  (the cp fixture)
from test_pool import np_pool2d

pytestmark = pytest.mark.gpu

REL = {np.float32: 1e-5, np.float64: 1e-12}


def _rel_err(got, ref):
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert np.isfinite(got).all(), "non-finite output (an unwritten, NaN-poisoned element?)"
    den = np.linalg.norm(ref)
    return np.linalg.norm(got - ref) / (den if den > 0 else 1.0)


def test_poison_pool_hands_out_nan(cp):
    # what the poisoning of the outputs below relies on
    poison_pool(cp, ((3, 70, 9), np.float32))
    assert np.isnan(cp.empty((3, 70, 9), np.float32).get()).all()


# (N, C, (H, W), K, (R, S), stride, padding, dilation, groups): odd sizes, 1 x 1, stride,
# dilation, 'same' with an even total, groups and depthwise, tiles of 64 crossed in every GEMM
# dimension, an empty batch
CONFIGS = [
    (1, 1, (1, 1), 1, (1, 1), (1, 1), 0, (1, 1), 1),
    (2, 3, (7, 9), 4, (3, 3), (1, 1), 1, (1, 1), 1),
    (3, 5, (11, 8), 7, (3, 2), (2, 1), (1, 0), (1, 1), 1),
    (2, 4, (13, 13), 6, (3, 3), (2, 2), "same", (2, 2), 2),
    (2, 6, (9, 10), 6, (5, 5), (1, 1), 2, (1, 1), 6),
    (1, 70, (9, 9), 130, (3, 3), (1, 1), 1, (1, 1), 1),
    (5, 8, (17, 15), 16, (4, 4), (3, 3), "valid", (1, 1), 4),
    (9, 16, (14, 14), 33, (1, 1), (1, 1), 0, (1, 1), 1),
    (0, 3, (5, 5), 2, (3, 3), (1, 1), 1, (1, 1), 1),
    (2, 2, (6, 6), 3, (3, 3), (1, 1), "full", (1, 1), 1),
]


def _conv_case(cfg, dtype):
    x, w, b = conv_data(cfg, dtype)
    return x, w, b, *cfg[5:]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_conv2d_forward_and_backward(cp, cfg, dtype):
    x, w, b, st, pad, dl, groups = _conv_case(cfg, dtype)
    y_ref, grads = np_conv(x, w, b, st, pad, dl, groups)
    dy = np.random.default_rng(1).standard_normal(y_ref.shape).astype(dtype)
    dx_ref, dw_ref, db_ref = grads(dy)
    xd, wd, bd, dyd = (cp.asarray(a) for a in (x, w, b, dy))

    poison_pool(cp, (y_ref.shape, dtype))
    y = _C.conv2d_forward(xd, wd, bd, st, pad, dl, groups)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype
    assert _rel_err(y.get(), y_ref) < REL[dtype]
    poison_pool(cp, (y_ref.shape, dtype))
    yr = _C.conv2d_forward(xd, wd, bd, st, pad, dl, groups, relu=True)
    assert _rel_err(yr.get(), np.maximum(y_ref, 0)) < REL[dtype]
    poison_pool(cp, (y_ref.shape, dtype))
    y0 = _C.conv2d_forward(xd, wd, None, st, pad, dl, groups)
    assert _rel_err(y0.get(), y_ref - b.reshape(1, -1, 1, 1)) < REL[dtype]

    poison_pool(cp, (x.shape, dtype))
    dx = _C.conv2d_backward_input(dyd, wd, x.shape, st, pad, dl, groups)
    assert _rel_err(dx.get(), dx_ref) < REL[dtype]
    dw, db = _C.conv2d_backward_weight(xd, dyd, w.shape, st, pad, dl, groups)
    assert _rel_err(dw.get(), dw_ref) < REL[dtype]
    assert _rel_err(db.get(), db_ref) < REL[dtype]
    dw2, db2 = _C.conv2d_backward_weight(xd, dyd, w.shape, st, pad, dl, groups, bias=False)
    assert db2 is None and _rel_err(dw2.get(), dw_ref) < REL[dtype]


def test_conv2d_weight_gradient_split_reduction(cp):
    # a long reduction (N*P*Q = 64 * 28 * 28) over few output tiles: the split-k path with
    # atomics, and many splits per group
    x, w, b, st, pad, dl, groups = _conv_case((64, 4, (28, 28), 8, (3, 3), 1, 1, 1, 1), np.float32)
    y_ref, grads = np_conv(x, w, b, st, pad, dl, groups)
    dy = np.random.default_rng(2).standard_normal(y_ref.shape).astype(np.float32)
    _, dw_ref, db_ref = grads(dy)
    dw, db = _C.conv2d_backward_weight(cp.asarray(x), cp.asarray(dy), w.shape, st, pad, dl, groups)
    assert _rel_err(dw.get(), dw_ref) < REL[np.float32]
    assert _rel_err(db.get(), db_ref) < REL[np.float32]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_and_conv3d_against_float64_cpu(cp, dtype):
    rng = np.random.default_rng(3)
    cases = [
        ("conv1d", (3, 4, 17), (6, 2, 3), 2, 1, 2, 2),
        ("conv3d", (2, 3, 5, 6, 7), (4, 3, 2, 3, 3), (1, 2, 1), 1, (2, 1, 1), 1),
    ]
    for name, xs, ws, st, pad, dl, groups in cases:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        b = rng.standard_normal(ws[0])
        fwd = getattr(_C, f"{name}_forward")
        y_ref = fwd(x, w, b, st, pad, dl, groups)
        dy = rng.standard_normal(y_ref.shape)
        dx_ref = getattr(_C, f"{name}_backward_input")(dy, w, xs, st, pad, dl, groups)
        dw_ref, db_ref = getattr(_C, f"{name}_backward_weight")(x, dy, ws, st, pad, dl, groups)
        xd, wd, bd, dyd = (cp.asarray(a.astype(dtype)) for a in (x, w, b, dy))
        poison_pool(cp, (y_ref.shape, dtype))
        y = fwd(xd, wd, bd, st, pad, dl, groups)
        assert _rel_err(y.get(), y_ref) < REL[dtype], name
        poison_pool(cp, (xs, dtype))
        dx = getattr(_C, f"{name}_backward_input")(dyd, wd, xs, st, pad, dl, groups)
        assert _rel_err(dx.get(), dx_ref) < REL[dtype], name
        dw, db = getattr(_C, f"{name}_backward_weight")(xd, dyd, ws, st, pad, dl, groups)
        assert _rel_err(dw.get(), dw_ref) < REL[dtype], name
        assert _rel_err(db.get(), db_ref) < REL[dtype], name


# ------------------------------------------------------------------------------------- pooling
POOLS = [
    # (N, C, H, W, kernel, stride, padding)
    (1, 1, 1, 1, 1, None, 0),
    (2, 3, 7, 9, 2, None, 0),
    (2, 3, 7, 9, 3, 2, 1),
    (3, 2, 12, 11, (3, 2), (1, 2), (1, 0)),
    (1, 5, 28, 28, 2, 2, 0),
    (2, 2, 9, 9, 3, 1, "same"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOLS, ids=[str(i) for i in range(len(POOLS))])
def test_max_and_avg_pool2d(cp, case, dtype):
    N, C, H, W, k, st, pad = case
    rng = np.random.default_rng(H * W + C)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    xd = cp.asarray(x)
    for mode in ("max", "avg"):
        for inc in (True, False) if mode == "avg" else (True,):
            y_ref, grad = np_pool2d(x, k, st, pad, mode, count_include_pad=inc)
            dy = rng.standard_normal(y_ref.shape).astype(dtype)
            dyd = cp.asarray(dy)
            out = cp.full(y_ref.shape, np.nan, dtype)
            if mode == "max":
                y, idx = _C.max_pool2d_forward(xd, k, st, pad, out=out)
                cpu_y, cpu_idx = _C.max_pool2d_forward(x.astype(np.float64), k, st, pad)
                np.testing.assert_array_equal(idx.get(), cpu_idx)
                dxo = cp.full(x.shape, np.nan, dtype)
                dx = _C.max_pool2d_backward(dyd, idx, x.shape, out=dxo)
            else:
                y = _C.avg_pool2d_forward(xd, k, st, pad, count_include_pad=inc, out=out)
                dxo = cp.full(x.shape, np.nan, dtype)
                dx = _C.avg_pool2d_backward(
                    dyd, x.shape, k, st, pad, count_include_pad=inc, out=dxo
                )
            assert y is out and dx is dxo
            assert _rel_err(y.get(), y_ref) < REL[dtype], (mode, inc)
            assert _rel_err(dx.get(), grad(dy)) < REL[dtype], (mode, inc)


def test_max_pool_nan_and_dilation(cp):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 10, 11))
    x[0, 1, 2, 3] = np.nan
    for kw in ({}, {"dilation": 2}):
        y_ref, i_ref = _C.max_pool2d_forward(x, 3, 2, 1, **kw)
        y, idx = _C.max_pool2d_forward(cp.asarray(x), 3, 2, 1, **kw)
        np.testing.assert_array_equal(y.get(), y_ref)  # NaN in the same places
        np.testing.assert_array_equal(idx.get(), i_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_and_adaptive_pooling(cp, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 13, 10))
    xd = cp.asarray(x.astype(dtype))
    poison_pool(cp, ((3, 4), dtype))
    g = _C.global_avg_pool_forward(xd)
    assert _rel_err(g.get(), x.mean(axis=(2, 3))) < REL[dtype]
    dy = rng.standard_normal((3, 4))
    poison_pool(cp, (x.shape, dtype))
    gx = _C.global_avg_pool_backward(cp.asarray(dy.astype(dtype)), x.shape)
    ref = np.broadcast_to(dy[:, :, None, None] / 130.0, x.shape)
    assert _rel_err(gx.get(), ref) < REL[dtype]
    for size in [(1, 1), (4, 3), (5, 7), (13, 10), (20, 17)]:
        a_ref = _C.adaptive_avg_pool2d_forward(x, size)
        poison_pool(cp, (a_ref.shape, dtype))
        a = _C.adaptive_avg_pool2d_forward(xd, size)
        assert _rel_err(a.get(), a_ref) < REL[dtype], size
        dy = rng.standard_normal(a_ref.shape)
        da_ref = _C.adaptive_avg_pool2d_backward(dy, x.shape)
        poison_pool(cp, (x.shape, dtype))
        da = _C.adaptive_avg_pool2d_backward(cp.asarray(dy.astype(dtype)), x.shape)
        assert _rel_err(da.get(), da_ref) < REL[dtype], size
        m_ref, mi_ref = _C.adaptive_max_pool2d_forward(x, size)
        m, mi = _C.adaptive_max_pool2d_forward(xd, size)
        assert _rel_err(m.get(), m_ref) < REL[dtype], size
        np.testing.assert_array_equal(mi.get(), mi_ref)
        dm_ref = _C.max_pool2d_backward(dy, mi_ref, x.shape)
        dm = _C.max_pool2d_backward(cp.asarray(dy.astype(dtype)), mi, x.shape)
        assert _rel_err(dm.get(), dm_ref) < REL[dtype], size


def test_pool1d_through_the_2d_kernels(cp):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 19)).astype(np.float32)
    y_ref, i_ref = _C.max_pool1d_forward(x.astype(np.float64), 3, 2, 1)
    y, idx = _C.max_pool1d_forward(cp.asarray(x), 3, 2, 1)
    assert _rel_err(y.get(), y_ref) < 1e-6
    np.testing.assert_array_equal(idx.get(), i_ref)
    a_ref = _C.avg_pool1d_forward(x.astype(np.float64), 4, 3, 1, count_include_pad=False)
    a = _C.avg_pool1d_forward(cp.asarray(x), 4, 3, 1, count_include_pad=False)
    assert _rel_err(a.get(), a_ref) < 1e-5
