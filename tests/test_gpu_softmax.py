"""CUDA kernels of csrc/cuda/softmax.cu through the deepcore._C bindings on CuPy arrays: softmax
and log-softmax along each axis (rows and the strided-column path), forward and backward, and
the fused softmax cross-entropy with class or probability targets. Oracle: the CPU kernels in
float64 ([Note: GPU test oracle] in gpu_helpers.py); outputs NaN-poisoned. Marked `gpu`."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import _C
from gpu_helpers import DTYPES, close, cupy_fixture, f64, nan_like, poison_pool  # noqa: F401 (fixture)

pytestmark = pytest.mark.gpu

# rows (last axis: one warp per row, rows shorter and longer than a warp), other axes (one
# thread per column), a single element, a huge row
SOFTMAX_CASES = [
    ((1, 1), -1),
    ((37, 1000), -1),
    ((5, 31), -1),
    ((3, 33), 1),
    ((4, 33, 6), 1),
    ((5, 2, 3), 0),
    ((2, 7, 300), 1),
    ((2, 100000), -1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape, axis", SOFTMAX_CASES)
def test_softmax_forward_backward(cp, shape, axis, log, dtype):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    y64 = _C.softmax_forward(f64(x), axis, log)
    out = nan_like(cp, shape, dtype)
    _C.softmax_forward(cp.asarray(x), axis, log, out=out)
    close(out, y64, dtype)
    gout = nan_like(cp, shape, dtype)
    _C.softmax_backward(out, cp.asarray(gy), axis, log, out=gout)  # from the GPU's own y
    close(gout, _C.softmax_backward(y64, f64(gy), axis, log), dtype, factor=3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_for_huge_logits(cp, dtype):
    x = np.array([[1e4, 1e4 - 1, -1e4], [-1e30, 0.0, 1e30]], dtype)
    for log in (False, True):
        out = nan_like(cp, x.shape, dtype)
        _C.softmax_forward(cp.asarray(x), -1, log, out=out)
        assert np.isfinite(out.get()).all()
        close(out, _C.softmax_forward(f64(x), -1, log), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, C", [(1, 1), (5, 3), (64, 1000), (3, 40000), (1000, 10)])
@pytest.mark.parametrize("probs", [False, True])
@pytest.mark.parametrize("per_row_g", [False, True])
def test_cross_entropy_forward_backward(cp, N, C, probs, per_row_g, dtype):
    rng = np.random.default_rng(N * C)
    x = (rng.standard_normal((N, C)) * 3).astype(dtype)
    if probs:
        t = rng.random((N, C)).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
        t_cpu = f64(t)
    else:
        t = rng.integers(0, C, N).astype(np.int64)
        t_cpu = t
    loss64, stats64 = _C.cross_entropy_forward(f64(x), t_cpu)
    g = rng.standard_normal(N if per_row_g else 1).astype(dtype)
    gx64 = _C.cross_entropy_backward(f64(x), t_cpu, stats64, f64(g), 0.5)
    poison_pool(cp, ((N,), dtype), ((N, 2), dtype))
    loss, stats = _C.cross_entropy_forward(cp.asarray(x), cp.asarray(t))
    close(loss, loss64, dtype)
    close(stats, stats64, dtype)
    gout = nan_like(cp, (N, C), dtype)
    _C.cross_entropy_backward(cp.asarray(x), cp.asarray(t), stats, cp.asarray(g), 0.5, out=gout)
    close(gout, gx64, dtype, factor=3)


def test_cross_entropy_out_of_range_label_is_nan_not_a_wild_read(cp):
    # labels of device arrays are not checked on the host (that would synchronise): the row
    # gets a NaN loss and NaN gradients, the other rows are unaffected
    x = cp.asarray(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    t = cp.asarray(np.array([1, 7, -1], np.int64))
    loss, stats = _C.cross_entropy_forward(x, t)
    got = loss.get()
    assert np.isfinite(got[0]) and np.isnan(got[1]) and np.isnan(got[2])
    gx = _C.cross_entropy_backward(x, t, stats, cp.ones(1, cp.float32), 1.0).get()
    assert np.isfinite(gx[0]).all() and np.isnan(gx[1:]).all()
