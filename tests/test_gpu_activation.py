"""CUDA kernels of csrc/cuda/activation.cu through the deepcore._C bindings on CuPy arrays:
every activation kind forward and backward, PReLU, bias add and its gradient, dropout. Oracle:
the CPU kernels in float64 ([Note: GPU test oracle] in gpu_helpers.py); outputs NaN-poisoned.
Marked `gpu` ([Note: gpu marker] in conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import _C
from gpu_helpers import DTYPES, close, cupy_fixture, f64, nan_like, poison_pool  # noqa: F401 (fixture)

pytestmark = pytest.mark.gpu

PARAMS = {  # kind: (p0, p1), non-default values where the kind has parameters
    "sigmoid": (0, 0),
    "tanh": (0, 0),
    "relu": (0, 0),
    "leaky_relu": (0.1, 0),
    "elu": (1.3, 0),
    "softplus": (1.5, 20),
    "swish": (1.702, 0),
    "gelu": (0, 0),
    "gelu_tanh": (0, 0),
    "hard_sigmoid": (0.2, 0.5),
    "selu": (1.6732632423543772, 1.0507009873554805),
    "hard_swish": (0, 0),
}


def test_every_native_kind_is_covered():
    assert sorted(PARAMS) == sorted(_C.activation_kinds())


def _inputs(n, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 4
    # the kinks and saturation regions of the piecewise kinds
    x[: min(n, 8)] = [-3.0, 3.0, 0.0, -2.4, 2.4, 30.0, -30.0, 1e-3][: min(n, 8)]
    return x.astype(dtype), rng.standard_normal(n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(PARAMS))
@pytest.mark.parametrize("n", [1, 33, 4099, 300001])
def test_activation_forward_backward(cp, kind, dtype, n):
    p0, p1 = PARAMS[kind]
    x, gy = _inputs(n, dtype, n)
    x64, gy64 = x.astype(np.float64), gy.astype(np.float64)
    y64 = _C.activation_forward(x64, kind, p0, p1)
    reads_y = _C.activation_reads_output(kind)
    gx64 = _C.activation_backward(
        kind, gy64, **({"y": y64} if reads_y else {"x": x64}), p0=p0, p1=p1
    )
    out = nan_like(cp, n, dtype)
    assert _C.activation_forward(cp.asarray(x), kind, p0, p1, out=out) is out
    close(out, y64, dtype)
    # backward from the GPU's own saved tensor, as autograd does
    saved = {"y": out} if reads_y else {"x": cp.asarray(x)}
    gout = nan_like(cp, n, dtype)
    _C.activation_backward(kind, cp.asarray(gy), p0=p0, p1=p1, out=gout, **saved)
    close(gout, gx64, dtype, factor=3)
    # in place (out is x / gy), and an allocated output
    xd = cp.asarray(x)
    _C.activation_forward(xd, kind, p0, p1, out=xd)
    close(xd, y64, dtype)
    new = _C.activation_forward(cp.asarray(x), kind, p0, p1)
    assert isinstance(new, cp.ndarray)
    close(new, y64, dtype)


def test_activation_empty_and_shapes(cp):
    for shape in [(0,), (3, 0), (2, 3, 5)]:
        x = np.linspace(-2, 2, int(np.prod(shape))).reshape(shape).astype(np.float32)
        got = _C.activation_forward(cp.asarray(x), "gelu")
        assert got.shape == shape
        close(got, _C.activation_forward(x.astype(np.float64), "gelu"), np.float32)


def test_swish_beta_gradient_has_no_cuda_kernel(cp):
    x = cp.ones(4, cp.float32)
    with pytest.raises(NotImplementedError, match="want_dp0"):
        _C.activation_backward("swish", x, x=x, p0=1.0, want_dp0=True)


# (shape, axis): NCHW-like (inner > 1), channels last (inner == 1), one channel, more channels
# than a 32-channel block, long channels
CHANNEL_CASES = [
    ((7,), 0),
    ((1, 1), 1),
    ((300, 130), -1),
    ((5, 3, 9, 4), 1),
    ((2, 70, 1), 1),
    ((9, 1), 0),
    ((4, 33, 5, 5), -1),
    ((2, 3, 4096), 1),
    ((3000, 17), 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", CHANNEL_CASES)
def test_bias_add_and_grad(cp, shape, axis, dtype):
    rng = np.random.default_rng(len(shape) + shape[0])
    x = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[axis]).astype(dtype)
    out = nan_like(cp, shape, dtype)
    _C.bias_add(cp.asarray(x), cp.asarray(b), axis, out=out)
    close(out, _C.bias_add(f64(x), f64(b), axis), dtype)
    got = _C.bias_grad(cp.asarray(x), axis)  # zeros, then accumulated by the kernel
    close(got, _C.bias_grad(f64(x), axis), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", CHANNEL_CASES)
@pytest.mark.parametrize("shared", [False, True])
def test_prelu_forward_backward(cp, shape, axis, shared, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.05, 0.5, 1 if shared else shape[axis]).astype(dtype)
    poison_pool(cp, (shape, dtype))
    y = _C.prelu_forward(cp.asarray(x), cp.asarray(w), axis)
    close(y, _C.prelu_forward(f64(x), f64(w), axis), dtype)
    poison_pool(cp, (shape, dtype))
    gx, gw = _C.prelu_backward(cp.asarray(x), cp.asarray(w), cp.asarray(gy), axis)
    rgx, rgw = _C.prelu_backward(f64(x), f64(w), f64(gy), axis)
    close(gx, rgx, dtype)
    close(gw, rgw, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 4097, 1 << 20])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_dropout_same_mask_as_cpu(cp, n, p, dtype):
    # the counter-based RNG is one function on both devices: the same seed, the same mask
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(dtype)
    gy = rng.standard_normal(n).astype(dtype)
    seed = 0x9E3779B97F4A7C15 + n
    y_cpu, m_cpu = _C.dropout_forward(f64(x), p, seed)
    poison_pool(cp, ((n,), dtype), ((n,), np.uint8))
    y, m = _C.dropout_forward(cp.asarray(x), p, seed)
    assert m.dtype == np.uint8
    np.testing.assert_array_equal(m.get(), m_cpu)
    close(y, y_cpu, dtype)
    poison_pool(cp, ((n,), dtype))
    gx = _C.dropout_backward(cp.asarray(gy), m, p)
    close(gx, _C.dropout_backward(f64(gy), m_cpu, p), dtype)


def test_dropout_seeds_give_different_masks(cp):
    x = cp.ones(4096, cp.float32)
    _, m1 = _C.dropout_forward(x, 0.5, 1)
    _, m2 = _C.dropout_forward(x, 0.5, 2)
    assert (m1 != m2).any()
    assert 0.4 < float(m1.mean()) < 0.6
