"""F.linear and F.bias_add: NumPy references, float64 gradient checks, PyTorch parity, bad
inputs."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import check_op, gradcheck, requires_torch


def _rand(*shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


LINEAR_SHAPES = [((5,), 3), ((1, 1), 1), ((7, 13), 9), ((2, 3, 17), 4), ((0, 6), 5),
                 ((64, 257), 33), ((4, 0), 3)]  # fmt: skip


def _linear_ref(x, w, b=None):
    return x @ w.T + (0 if b is None else b)


def _linear_vjp(x, w, *rest):
    *b, g = rest
    rows, out = g.size // w.shape[0], w.shape[0]
    g2 = g.reshape(rows, out)
    gw = g2.T @ x.reshape(rows, x.shape[-1])
    return (g @ w, gw, g2.sum(0)) if b else (g @ w, gw)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_numpy(bias):
    cases = [(x, (o, x[-1]), (o,)) if bias else (x, (o, x[-1])) for x, o in LINEAR_SHAPES]
    check_op(F.linear, _linear_ref, cases, np_vjp=_linear_vjp, grad=False, low=-1.0, high=1.0)


def test_linear_gradcheck():
    x, w, b = _rand(3, 4), _rand(5, 4, seed=1), _rand(5, seed=2)
    gradcheck(F.linear, [x, w, b])
    gradcheck(lambda u, v: F.linear(u, v), [_rand(2, 3, 4), w])


def test_linear_only_needed_gradients():
    x = dc.tensor(_rand(3, 4))
    w = dc.tensor(_rand(5, 4, seed=1), requires_grad=True)
    F.linear(x, w).sum().backward()
    assert x.grad is None and w.grad is not None


def test_linear_non_contiguous_input():
    x = _rand(4, 6)[:, ::2]  # (4, 3) strided view
    w = _rand(2, 3, seed=1)
    np.testing.assert_allclose(F.linear(x, w).data, x @ w.T, rtol=1e-12)


def test_linear_bad_inputs():
    x, w = np.zeros((2, 3), np.float32), np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="expects 3 input features"):
        F.linear(np.zeros((2, 5), np.float32), w)
    with pytest.raises(ValueError, match="w must be 2-D"):
        F.linear(x, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="w has dtype float64 but x has float32"):
        F.linear(x, w.astype(np.float64))
    with pytest.raises(ValueError, match=r"b must have shape \(4,\)"):
        F.linear(x, w, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        F.linear(x.astype(np.int32), w.astype(np.int32))


@requires_torch
def test_linear_torch_parity():
    import torch

    x, w, b = (
        _rand(8, 3, 20, dtype=np.float32),
        _rand(7, 20, dtype=np.float32, seed=1),
        _rand(7, dtype=np.float32, seed=2),
    )
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    torch.nn.functional.linear(*ts).sum().backward()
    ds = [dc.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.linear(*ds)
    y.backward(np.ones(y.shape, np.float32))
    np.testing.assert_allclose(
        y.data, torch.nn.functional.linear(*ts).detach().numpy(), rtol=1e-5, atol=1e-5
    )
    for d, t in zip(ds, ts):
        np.testing.assert_allclose(d.grad.data, t.grad.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "shape,axis",
    [
        ((2, 3, 4, 5), 1),
        ((2, 4, 5, 3), -1),
        ((7,), 0),
        ((64, 33), -1),
        ((64, 32, 13, 13), 1),
        ((0, 3), 1),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_add(shape, axis, dtype):
    x = _rand(*shape, dtype=dtype)
    b = _rand(shape[axis], dtype=dtype, seed=1)
    xt, bt = dc.tensor(x, requires_grad=True), dc.tensor(b, requires_grad=True)
    y = F.bias_add(xt, bt, axis=axis)
    bshape = [1] * x.ndim
    bshape[axis] = -1
    np.testing.assert_allclose(y.data, x + b.reshape(bshape), rtol=1e-6)
    g = _rand(*shape, dtype=dtype, seed=2)
    y.backward(g)
    np.testing.assert_array_equal(xt.grad.data, g)
    other = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    np.testing.assert_allclose(
        bt.grad.data, g.astype(np.float64).sum(axis=other), rtol=1e-5, atol=1e-5
    )


def test_bias_add_gradcheck_and_errors():
    gradcheck(lambda u, v: F.bias_add(u, v, axis=1), [_rand(2, 3, 4), _rand(3, seed=1)])
    with pytest.raises(ValueError, match="bias has 2 entries but x has 3 along axis 1"):
        F.bias_add(np.zeros((2, 3), np.float32), np.zeros(2, np.float32), axis=1)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        F.bias_add(np.zeros((2, 3), np.float32), np.zeros(3, np.float32), axis=2)
