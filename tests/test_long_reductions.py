"""Reductions over long rows stay accurate in float32 ([Note: blocked sums] in
csrc/cpu/activation_math.h): a float accumulator saturates (the mean of 2^28 ones was 0.5) and,
long before that, every add rounds. Each case sums 2^20 copies of 0.1, where a lane-wise float
sum was off by ~1e-3 (4 MiB arrays: small, but long enough to show the error); the blocked sums
must match the float64 truth to TOL, the bound of a 256-term float sum (a constant is the
adversarial case for it)."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest

K = dc.kernels
N = 2**20
TENTH = np.float32(0.1)
TOL = 2e-5  # ~ kLaneTerms * 2^-24 (+ the final rounding to float32)


def _rel(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(a - ref)) / max(float(np.max(np.abs(ref))), 1e-300))


def test_global_avg_pool(cpu_capability):
    x = np.full((1, 2, 1024, 512), TENTH)  # planes of 2^19
    assert _rel(K.global_avg_pool_forward(x), np.float64(TENTH)) < TOL
    assert _rel(K.global_avg_pool_forward(x.reshape(2, 1, -1)), np.float64(TENTH)) < TOL


def test_avg_pool_big_windows(cpu_capability):
    # 16 outputs per row: the vector path, each lane summing a window of 2^16 elements
    x = np.full((1, 1, 2**16 + 15), TENTH)
    y = K.avg_pool1d_forward(x, 2**16, 1)
    assert y.shape == (1, 1, 16) and _rel(y, np.float64(TENTH)) < TOL
    x2 = np.full((1, 1, 2**12, 19), TENTH)
    y2 = K.avg_pool2d_forward(x2, (2**12, 4), 1)
    assert y2.shape == (1, 1, 1, 16) and _rel(y2, np.float64(TENTH)) < TOL
    # one window covering the whole plane: the scalar path
    y3 = K.avg_pool2d_forward(np.full((1, 1, 1024, 1024), TENTH), 1024)
    assert _rel(y3, np.float64(TENTH)) < TOL


def test_layer_norm_forward_of_a_constant_row(cpu_capability):
    y, mean, rstd = K.layer_norm_forward(np.full((1, N), TENTH), None, None, N)
    assert _rel(mean, np.float64(TENTH)) < TOL
    assert np.max(np.abs(y)) < 1e-4  # x - mean is ~0 everywhere (was up to 0.08)


def _ln_backward_ref(gy, x, n):
    x, gy = x.astype(np.float64).reshape(-1, n), gy.astype(np.float64).reshape(-1, n)
    m = x.mean(1, keepdims=True)
    rs = 1 / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    xh = (x - m) * rs
    gx = rs * (gy - gy.mean(1, keepdims=True) - xh * (gy * xh).mean(1, keepdims=True))
    return gx, (gy * xh).sum(0), gy.sum(0)


def test_layer_norm_backward_long_rows(cpu_capability):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1, N)).astype(np.float32)
    gy = rng.uniform(0, 1, (1, N)).astype(np.float32)
    _, mean, rstd = K.layer_norm_forward(x, None, None, N)
    gx, _, _ = K.layer_norm_backward(gy, x, None, mean, rstd, N, False, False)
    assert _rel(gx, _ln_backward_ref(gy, x, N)[0]) < TOL


def test_layer_norm_weight_gradient_over_many_rows(cpu_capability):
    # the per-column partials of gweight / gbias run over 2^19 rows
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (N // 2, 2)).astype(np.float32)
    gy = np.full(x.shape, TENTH)
    w = np.ones(2, np.float32)
    _, mean, rstd = K.layer_norm_forward(x, w, None, 2)
    _, gw, gb = K.layer_norm_backward(gy, x, w, mean, rstd, 2)
    _, gw_ref, gb_ref = _ln_backward_ref(gy, x, 2)
    assert _rel(gb, gb_ref) < TOL
    assert _rel(gw, gw_ref) < TOL


def _softmax_input(shape, axis):
    """0 everywhere but one log(10) per softmax slice: every other probability is ~0.1/10."""
    x = np.zeros(shape, np.float32)
    idx = [slice(None)] * len(shape)
    idx[axis] = 0
    x[tuple(idx)] = np.log(10.0)
    return x


def _softmax_ref(x, axis, log):
    x = x.astype(np.float64)
    z = x - x.max(axis, keepdims=True)
    ls = np.log(np.exp(z).sum(axis, keepdims=True))
    return z - ls if log else np.exp(z - ls)


@pytest.mark.parametrize("shape,axis", [((1, N), 1), ((N // 4, 4), 0)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_long_axis(cpu_capability, shape, axis, log):
    x = _softmax_input(shape, axis)
    y = K.softmax_forward(x, axis, log)
    assert _rel(y, _softmax_ref(x, axis, log)) < TOL
    gy = np.full(shape, TENTH)
    gx = K.softmax_backward(y, gy, axis, log)
    y64, gy64 = _softmax_ref(x, axis, log), gy.astype(np.float64)
    if log:
        gx_ref = gy64 - np.exp(y64) * gy64.sum(axis, keepdims=True)
    else:
        gx_ref = y64 * (gy64 - (gy64 * y64).sum(axis, keepdims=True))
    # (softmax's gx is y * (0.1 - 0.1): compare on the scale of y * gy)
    scale = np.max(np.abs(gx_ref)) if log else np.max(y64 * gy64)
    assert np.max(np.abs(gx - gx_ref)) / scale < TOL


def test_cross_entropy_with_probabilities_over_many_classes(cpu_capability):
    x = np.zeros((1, N), np.float32)
    tp = np.full((1, N), TENTH)
    loss, stats = K.cross_entropy_forward(x, tp)
    want = np.log(N) * np.float64(TENTH) * N
    assert _rel(loss, want) < TOL
    gx = K.cross_entropy_backward(x, tp, stats, np.ones(1, np.float32))
    # gx = softmax * sum(tp) - tp = 2^-20 * 0.1 * 2^20 - 0.1 = 0
    assert np.max(np.abs(gx)) < TOL


def test_channel_sums_already_in_double(cpu_capability):
    # batch-norm statistics and bias gradients accumulate in double (channel_sums): kept so
    gy = np.full((N, 1), TENTH)
    assert _rel(K.bias_grad(gy, 1), np.float64(TENTH) * N) < TOL
    assert _rel(K.bias_grad(gy.reshape(1, 1, N), 1), np.float64(TENTH) * N) < TOL
    _, mean, _ = K.batch_norm_forward(gy.reshape(N, 1), None, None, None, None, True)
    assert _rel(mean, np.float64(TENTH)) < TOL
