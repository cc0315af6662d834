"""The ReLU mask handed down from max pooling to the node that computed its input ([Note: ReLU
masks handed down] in _relu_handoff.py): gradients bitwise equal to the unfused backward (the
producer masking its own gradient) for every producer (conv with the fused ReLU, the relu
activation) and pooling geometry, a float64 reference and gradient check, and the corner
cases where the hand-off must not happen (another consumer, retain_grad, float16)."""

from __future__ import annotations

import contextlib

import deepcore as dc
import deepcore.nn.functional._pool as _pool
import numpy as np
import pytest
from deepcore import _C
from deepcore.models import zoo
from deepcore.nn import functional as F
from deepcore.testing import gradcheck
from helpers import supported_capabilities

ON = _pool.relu_source


@contextlib.contextmanager
def unfused():
    """The pool never hands its gradient down: every producer masks its own."""
    _pool.relu_source = lambda ctx, k=0: None
    try:
        yield
    finally:
        _pool.relu_source = ON


@contextlib.contextmanager
def relu_backward_shapes():
    """The shapes of every ReLU backward pass run inside (the producers' and the pool's)."""
    shapes: list[tuple] = []
    orig = _C.activation_backward

    def spy(kind, gy, *a, **k):
        if kind == "relu":
            shapes.append(gy.shape)
        return orig(kind, gy, *a, **k)

    _C.activation_backward = spy
    try:
        yield shapes
    finally:
        _C.activation_backward = orig


def _inputs(shape, dtype, seed=0):
    """Values with many negatives, exact zeros and a few repeated maxima (ties)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.1] = 0.0
    x = np.round(x * 8) / 8  # ties inside windows
    return x.astype(dtype)


def _grads(build, arrays, seed=1):
    """Gradients of sum(build(*tensors) * r) with respect to every array."""
    ts = [dc.tensor(a, requires_grad=True) for a in arrays]
    out = build(*ts)
    r = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    (out * dc.tensor(r)).sum().backward()
    return [t.grad.numpy() for t in ts], out.detach().numpy()


def _same_as_unfused(build, arrays):
    fused, yf = _grads(build, arrays)
    with unfused():
        ref, yr = _grads(build, arrays)
    np.testing.assert_array_equal(yf, yr)
    for a, b in zip(fused, ref):
        np.testing.assert_array_equal(a, b)  # bitwise: the mask only selects
    return fused


POOLS = [
    dict(kernel_size=2),  # 2x2/2: the write-once backward
    dict(kernel_size=3, stride=2, padding=1),  # overlapping windows, padding
    dict(kernel_size=2, stride=1),  # every element in several windows
    dict(kernel_size=3, stride=3, ceil_mode=True),  # partial last windows
    dict(kernel_size=2, dilation=2),  # dilated: the reference kernel
    dict(kernel_size=3, padding="same"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool", POOLS)
def test_conv_relu_pool_bitwise_and_pass_skipped(dtype, pool):
    x = _inputs((3, 2, 9, 7), dtype)
    w = _inputs((4, 2, 3, 3), dtype, seed=2)
    b = _inputs((4,), dtype, seed=3)

    def build(x, w, b):
        return F.max_pool2d(F.conv2d(x, w, b, padding=1, activation="relu"), **pool)

    with relu_backward_shapes() as shapes:
        _same_as_unfused(build, [x, w, b])
    # the fused run masks inside the pool's backward kernel: no ReLU pass at all; the unfused
    # run: the conv's own, on its (3, 4, 9, 7) output
    assert shapes == [(3, 4, 9, 7)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool", POOLS)
def test_relu_activation_pool_bitwise(dtype, pool):
    x = _inputs((2, 3, 8, 11), dtype)
    with relu_backward_shapes() as shapes:
        _same_as_unfused(lambda x: F.max_pool2d(F.relu(x), **pool), [x])
    assert shapes == [x.shape]  # only the unfused run has a ReLU pass


@pytest.mark.parametrize("pool", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_conv1d_relu_pool1d_bitwise(pool):
    x = _inputs((2, 3, 17), np.float32)
    w = _inputs((5, 3, 3), np.float32, seed=2)
    _same_as_unfused(lambda x, w: F.max_pool1d(F.conv1d(x, w, activation="relu"), **pool), [x, w])


def _np_relu_pool2x2(x, gy):
    """float64 reference: y = maxpool2x2(relu(x)) and dL/dx for dL/dy = gy (first maximum of
    each window, the gradient 0 where relu's input is <= 0)."""
    n, c, h, w = x.shape
    r = np.maximum(x, 0)[:, :, : h // 2 * 2, : w // 2 * 2]
    win = (
        r.reshape(n, c, h // 2, 2, w // 2, 2)
        .transpose(0, 1, 2, 4, 3, 5)
        .reshape(n, c, h // 2, w // 2, 4)
    )
    arg = win.argmax(-1)
    y = np.take_along_axis(win, arg[..., None], -1)[..., 0]
    g = np.zeros_like(win)
    np.put_along_axis(g, arg[..., None], gy[..., None], -1)
    g = g.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    gx = np.zeros_like(x)
    gx[:, :, : h // 2 * 2, : w // 2 * 2] = g.reshape(n, c, h // 2 * 2, w // 2 * 2)
    return y, gx * (x > 0)


@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (2, 3, 5, 7), (1, 2, 3, 4), (0, 2, 4, 4)])
def test_float64_reference(shape):
    x = np.random.default_rng(4).standard_normal(shape)
    t = dc.tensor(x, requires_grad=True)
    y = F.max_pool2d(F.relu(t), 2)
    gy = np.random.default_rng(5).standard_normal(y.shape)
    y.backward(dc.tensor(gy))
    y_ref, gx_ref = _np_relu_pool2x2(x, gy)
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=0, atol=0)
    np.testing.assert_allclose(t.grad.numpy(), gx_ref, rtol=0, atol=0)


def test_gradcheck():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 6, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    gradcheck(
        lambda x, w, b: F.max_pool2d(F.conv2d(x, w, b, padding=1, activation="relu"), 2),
        [x, w, b],
    )
    gradcheck(lambda x: F.max_pool2d(F.relu(x), 3, stride=2, padding=1), [x])


def test_second_consumer_still_masked():
    """The ReLU output also feeds a sum: its gradient is a new array, masked by the producer."""
    x = _inputs((2, 2, 6, 6), np.float32)

    def build(x):
        r = F.relu(x)
        return F.max_pool2d(r, 2) + r[:, :, ::2, ::2] * 0.5

    _same_as_unfused(build, [x])


def test_retain_grad_sees_the_unmasked_gradient():
    """A ReLU output that keeps its .grad gets the pool's gradient before the mask, as
    without the hand-off: the argmax of an all-negative window receives its gradient."""
    x = -np.ones((1, 1, 2, 4), np.float32)
    x[0, 0, 0, 2] = 1.0  # second window alive, first dead (every relu output 0)
    results = []
    for ctx in (contextlib.nullcontext(), unfused()):
        with ctx:
            t = dc.tensor(x, requires_grad=True)
            r = F.relu(t)
            r.retain_grad()
            F.max_pool2d(r, 2).backward(dc.tensor(np.array([[[[2.0, 3.0]]]], np.float32)))
            results.append((r.grad.numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][0][0, 0, 0, 0] == 2.0  # the dead window's argmax, unmasked
    np.testing.assert_array_equal(results[0][1], [[[[0, 0, 3, 0], [0, 0, 0, 0]]]])


def test_nan_inf_and_signed_zero():
    x = _inputs((2, 2, 6, 6), np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 2, 3] = np.inf
    x[1, 0, 4, 4] = -np.inf
    x[1, 1, :2, :2] = -0.0
    _same_as_unfused(lambda x: F.max_pool2d(F.relu(x), 2), [x])
    w = _inputs((3, 2, 3, 3), np.float32)
    _same_as_unfused(
        lambda x, w: F.max_pool2d(F.conv2d(x, w, padding=1, activation="relu"), 2), [x, w]
    )


def test_float16_storage_matches_unfused():
    """float16 storage: the conv's float32 output 2^-28 > 0 is 0 once rounded to float16, so
    the pool's mask would differ from the conv's: no hand-off."""
    x = np.full((1, 1, 2, 2), 2.0**-14, np.float16)
    w = np.full((1, 1, 1, 1), 2.0**-14, np.float16)
    (gx, gw), _ = _grads(lambda x, w: F.max_pool2d(F.conv2d(x, w, activation="relu"), 2), [x, w])
    assert gx[0, 0, 0, 0] != 0  # the argmax of the window passes its gradient (y32 > 0)
    _same_as_unfused(lambda x, w: F.max_pool2d(F.conv2d(x, w, activation="relu"), 2), [x, w])
    x = _inputs((2, 2, 6, 6), np.float16)
    _same_as_unfused(lambda x: F.max_pool2d(F.relu(x), 2), [x])


def test_return_indices_and_retain_graph():
    x = _inputs((2, 3, 6, 6), np.float32)

    def build(x):
        y, _ = F.max_pool2d(F.relu(x), 2, return_indices=True)
        return y

    _same_as_unfused(build, [x])
    grads = []
    for ctx in (contextlib.nullcontext(), unfused()):
        with ctx:
            t = dc.tensor(x, requires_grad=True)
            y = F.max_pool2d(F.relu(t), 2).sum()
            y.backward(retain_graph=True)
            y.backward()
            grads.append(t.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_seed_convnet_training_step_bitwise():
    """Three fit steps of the seed convnet (conv+ReLU -> max pool twice): identical weights."""
    rng = np.random.default_rng(0)
    x = rng.random((24, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 24)]
    weights = []
    for ctx in (contextlib.nullcontext(), unfused()):
        with ctx:
            dc.manual_seed(0)
            m = zoo.seed_convnet()
            m.compile(optimizer="sgd", loss="categorical_crossentropy")
            m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            weights.append([w.numpy() for w in m.weights])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- the kernel's mask argument
KERNEL_CASES = [  # (nsp, input spatial shape, window args)
    (2, (6, 40), (2, 2, 0)),  # write-once 2x2/2 path, vector interior
    (2, (5, 7), (2, 2, 0)),  # narrow rows (fewer outputs than a vector), odd sizes
    (2, (4, 2), (2, 2, 0)),  # one output per row
    (2, (9, 9), (3, 2, 1)),  # overlapping, padded: the scatter
    (1, (33,), (2, 2, 0)),
    (1, (10,), (3, 1, 1)),
]


@pytest.mark.parametrize("capability", supported_capabilities())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nsp, spatial, window", KERNEL_CASES)
def test_backward_mask_equals_masking_dy_first(capability, dtype, nsp, spatial, window):
    """max_pool*_backward(..., mask=m) == the unmasked backward of where(m > 0, dy, 0),
    bitwise, on every path (write-once, scatter, with and without the window), NaN and -0.0 in
    the mask counting as not > 0."""
    K = dc.kernels
    fwd = getattr(_C, f"max_pool{nsp}d_forward")
    bwd = getattr(_C, f"max_pool{nsp}d_backward")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 2, *spatial)).astype(dtype)
    y, idx = fwd(x, *window)
    dy = rng.standard_normal(y.shape).astype(dtype)
    m = y.copy()
    m.reshape(-1)[::7] = np.nan
    m.reshape(-1)[1::11] = -0.0
    m.reshape(-1)[2::13] = 0.0
    prev = K.get_cpu_capability()
    K.set_cpu_capability(capability)
    try:
        for win in ((), window):
            got = bwd(dy, idx, x.shape, None, *win, mask=m)
            want = bwd(np.where(m > 0, dy, 0).astype(dtype), idx, x.shape, None, *win)
            np.testing.assert_array_equal(got, want)
            assert np.all(got[np.signbit(got)] != 0)  # masked elements are +0.0
    finally:
        K.set_cpu_capability(prev)


def test_backward_mask_bad_input():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    y, idx = _C.max_pool2d_forward(x, 2)
    bwd = _C.max_pool2d_backward
    with pytest.raises(ValueError, match="mask"):
        bwd(y, idx, x.shape, mask=y[:, :, :2])
    with pytest.raises(TypeError, match="mask"):
        bwd(y, idx, x.shape, mask=y.astype(np.float64))
    with pytest.raises(ValueError, match="mask"):
        bwd(y, idx, x.shape, mask=np.asfortranarray(y))
    with pytest.raises(TypeError, match="mask"):
        bwd(y, idx, x.shape, mask=[1.0])
    out = np.empty(x.shape, np.float32)
    with pytest.raises(ValueError, match="mask"):
        bwd(y, idx, x.shape, out, mask=out.reshape(-1)[: y.size].reshape(y.shape))
