"""CUDA kernels of csrc/cuda/norm.cu through the deepcore._C bindings on CuPy arrays: layer norm
and batch norm forward and backward, training and inference, with and without the affine
parameters, NCHW and channels-last, running statistics updated in place. Oracle: the CPU
kernels in float64 ([Note: GPU test oracle] in gpu_helpers.py); outputs NaN-poisoned. Marked
`gpu`."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import _C
from gpu_helpers import DTYPES, close, cupy_fixture, f64, poison_pool  # noqa: F401 (fixture)

pytestmark = pytest.mark.gpu


def _dev(cp, a):
    return None if a is None else cp.asarray(a)


def _f64(a):
    return None if a is None else f64(a)


# (M, N): one element, rows shorter than a block, longer than a block, a long row, many rows
LN_CASES = [(1, 1), (3, 7), (5, 300), (2, 5000), (1000, 33), (4, 256)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M, N", LN_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_forward_backward(cp, M, N, affine, dtype):
    rng = np.random.default_rng(M * 31 + N)
    x = (rng.standard_normal((M, N)) * 3 + 5).astype(dtype)  # |mean| > std: the corrected pass
    gy = rng.standard_normal((M, N)).astype(dtype)
    w = rng.standard_normal(N).astype(dtype) if affine != "none" else None
    b = rng.standard_normal(N).astype(dtype) if affine == "both" else None
    y64, mean64, rstd64 = _C.layer_norm_forward(f64(x), _f64(w), _f64(b), N, 1e-5)
    poison_pool(cp, ((M, N), dtype), ((M,), dtype), ((M,), dtype))
    y, mean, rstd = _C.layer_norm_forward(cp.asarray(x), _dev(cp, w), _dev(cp, b), N, 1e-5)
    close(y, y64, dtype, factor=3)
    close(mean, mean64, dtype)
    close(rstd, rstd64, dtype)
    need_w, need_b = w is not None, b is not None
    gx64, gw64, gb64 = _C.layer_norm_backward(
        f64(gy), f64(x), _f64(w), mean64, rstd64, N, need_w, need_b
    )
    poison_pool(cp, ((M, N), dtype))
    gx, gw, gb = _C.layer_norm_backward(
        cp.asarray(gy), cp.asarray(x), _dev(cp, w), mean, rstd, N, need_w, need_b
    )
    close(gx, gx64, dtype, factor=10)
    if need_w:
        close(gw, gw64, dtype, factor=3)
    else:
        assert gw is None
    if need_b:
        close(gb, gb64, dtype)
    else:
        assert gb is None


# (shape, axis): NCHW, channels last, more channels than one 32-channel block, one channel,
# a batch of one, a long channel
BN_CASES = [
    ((4, 3), 1),
    ((8, 5, 7, 7), 1),
    ((8, 7, 7, 5), -1),
    ((2, 70, 3), -1),
    ((16, 1, 9), 1),
    ((1, 4, 5, 5), 1),
    ((2, 3, 100000), 1),
    ((3000, 40), 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", BN_CASES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("unbiased", [True, False])
def test_batch_norm_forward_backward(cp, shape, axis, training, affine, unbiased, dtype):
    rng = np.random.default_rng(sum(shape) + training)
    C = shape[axis]
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine else None
    rm = rng.standard_normal(C).astype(dtype)
    rv = rng.uniform(0.5, 2.0, C).astype(dtype)
    rm64, rv64 = f64(rm), f64(rv)
    args = (training, 0.1, 1e-5, axis, unbiased)
    y64, mean64, rstd64 = _C.batch_norm_forward(f64(x), _f64(w), _f64(b), rm64, rv64, *args)
    rm_d, rv_d = cp.asarray(rm), cp.asarray(rv)
    poison_pool(cp, (shape, dtype), ((C,), dtype), ((C,), dtype))
    y, mean, rstd = _C.batch_norm_forward(
        cp.asarray(x), _dev(cp, w), _dev(cp, b), rm_d, rv_d, *args
    )
    close(y, y64, dtype, factor=3)
    close(mean, mean64, dtype)
    close(rstd, rstd64, dtype)
    close(rm_d, rm64, dtype)  # updated in place in training, untouched otherwise
    close(rv_d, rv64, dtype)
    gx64, gw64, gb64 = _C.batch_norm_backward(
        f64(gy), f64(x), _f64(w), mean64, rstd64, training, axis, affine, affine
    )
    poison_pool(cp, (shape, dtype))
    gx, gw, gb = _C.batch_norm_backward(
        cp.asarray(gy), cp.asarray(x), _dev(cp, w), mean, rstd, training, axis, affine, affine
    )
    close(gx, gx64, dtype, factor=10)
    if affine:
        close(gw, gw64, dtype, factor=3)
        close(gb, gb64, dtype)


def test_batch_norm_without_running_stats_in_training(cp):
    x = np.random.default_rng(1).standard_normal((6, 4, 3)).astype(np.float32)
    y64, _, _ = _C.batch_norm_forward(f64(x), None, None, None, None, True)
    y, _, _ = _C.batch_norm_forward(cp.asarray(x), None, None, None, None, True)
    close(y, y64, np.float32)
