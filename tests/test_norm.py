"""layer_norm and batch_norm: NumPy float64 references over many shapes, every CPU kernel
variant, float64 gradient checks (input, weight, bias), running statistics, PyTorch parity,
bad inputs."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import check_op, gradcheck, requires_torch


def _rand(*shape, dtype=np.float64, seed=0, scale=1.0, shift=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(dtype)


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------ layer norm
def _ln_ref(x, k, w, b, eps):
    axes = tuple(range(x.ndim - k, x.ndim))
    m = x.mean(axis=axes, keepdims=True)
    v = ((x - m) ** 2).mean(axis=axes, keepdims=True)
    xh = (x - m) / np.sqrt(v + eps)
    return xh * (1 if w is None else w) + (0 if b is None else b), xh, v


def _ln_grad_ref(x, k, w, g, eps):
    axes = tuple(range(x.ndim - k, x.ndim))
    n = np.prod(x.shape[x.ndim - k :])
    _, xh, v = _ln_ref(x, k, None, None, eps)
    dn = g * (1 if w is None else w)
    gx = dn - dn.mean(axis=axes, keepdims=True) - xh * (dn * xh).mean(axis=axes, keepdims=True)
    gx = gx / np.sqrt(v + eps)
    lead = tuple(range(x.ndim - k))
    assert n > 0
    return gx, (g * xh).sum(axis=lead), g.sum(axis=lead)


LN_CASES = [
    ((1, 1), (1,)),
    ((3, 7), (7,)),
    ((2, 3, 5), (5,)),
    ((2, 3, 5), (3, 5)),
    ((4, 257), (257,)),
    ((0, 8), (8,)),
    ((130, 64), (64,)),
    ((7,), (7,)),
]


NORM_TOLS = {np.float32: dict(rtol=1e-4, atol=1e-5)}  # float32 statistics over long rows


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("xshape,nshape", LN_CASES)
def test_layer_norm_matches_numpy(xshape, nshape, affine, cpu_capability):
    k = len(nshape)

    def inputs(case, rng):
        x = rng.standard_normal(xshape) * 2.0 + 3.0
        return [x, rng.standard_normal(nshape), rng.standard_normal(nshape)][: 3 if affine else 1]

    def ref(x, w=None, b=None):
        return _ln_ref(x, k, w, b, 1e-5)[0]

    def vjp(x, *rest):
        *wb, g = rest
        gx, gw, gb = _ln_grad_ref(x, k, wb[0] if wb else None, g, 1e-5)
        return (gx, gw, gb) if wb else (gx,)

    shapes = [(xshape, nshape, nshape) if affine else (xshape,)]
    check_op(
        lambda x, w=None, b=None: F.layer_norm(x, nshape, w, b, eps=1e-5),
        ref, shapes, make_inputs=inputs, np_vjp=vjp, grad=False, tols=NORM_TOLS,
    )  # fmt: skip


def test_layer_norm_empty_batch_gives_zero_weight_grads():
    w = dc.tensor(np.ones(8), requires_grad=True)
    b = dc.tensor(np.zeros(8), requires_grad=True)
    F.layer_norm(np.zeros((0, 8)), 8, w, b).backward(np.zeros((0, 8)))
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(8))
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros(8))


def test_layer_norm_gradcheck():
    x = _rand(3, 5, seed=4)
    w, b = _rand(5, seed=5), _rand(5, seed=6)
    gradcheck(lambda u, v, c: F.layer_norm(u, 5, v, c), [x, w, b])
    gradcheck(lambda u: F.layer_norm(u, (2, 3)), [_rand(2, 2, 3, seed=7)])


def test_layer_norm_large_mean_is_accurate():
    # two-pass statistics: a mean of 1e4 with unit spread still normalises exactly
    x = _rand(8, 512, dtype=np.float32, seed=8, shift=1e4)
    y = F.layer_norm(x, 512).data
    ref, _, _ = _ln_ref(x.astype(np.float64), 1, None, None, 1e-5)
    np.testing.assert_allclose(y, ref, atol=2e-3)


@pytest.mark.parametrize("n", [1, 7, 16, 1023, 1024, 1025, 4099])
@pytest.mark.parametrize("value", [3.33, -0.1, 1e4])
def test_layer_norm_of_a_constant_row_is_exactly_zero(n, value, cpu_capability):
    # the float32 first-pass mean is off by a few ulps; the corrected second pass removes it
    # (PyTorch gives exactly 0; before the correction y was -5.3e-4 for 3.33 at every n >= 16)
    x = np.full((3, n), value, np.float32)
    y, mean, _ = dc.kernels.layer_norm_forward(x, None, None, n)
    assert np.all(np.asarray(y) == 0)
    assert np.all(np.asarray(mean) == np.float32(value))


def test_layer_norm_bad_inputs():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="must match the trailing axes"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.layer_norm(x, 3, np.ones(4, np.float32))
    with pytest.raises(TypeError, match="weight must have dtype float32"):
        F.layer_norm(x, 3, np.ones(3))
    with pytest.raises(TypeError, match="float32 or float64"):
        F.layer_norm(x.astype(np.int64), 3)


@requires_torch
def test_layer_norm_torch_parity():
    import torch

    x = _rand(16, 10, 64, dtype=np.float32, seed=9)
    w, b = _rand(64, dtype=np.float32, seed=10), _rand(64, dtype=np.float32, seed=11)
    g = _rand(16, 10, 64, dtype=np.float32, seed=12)
    ds = [dc.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.layer_norm(ds[0], 64, ds[1], ds[2])
    y.backward(g)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.nn.functional.layer_norm(ts[0], (64,), ts[1], ts[2])
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    for d, t in zip(ds, ts):
        np.testing.assert_allclose(d.grad.data, t.grad.numpy(), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ batch norm
def _bn_axes(ndim, axis):
    return tuple(i for i in range(ndim) if i != axis % ndim)


def _bcast(v, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


BN_CASES = [
    ((4, 3), 1),
    ((2, 3, 5, 5), 1),
    ((2, 5, 5, 3), -1),
    ((8, 1, 7), 1),
    ((3, 4, 6), -1),
    ((64, 32, 6, 6), 1),
    ((32, 6, 6, 16), -1),
]


def _bn_train_ref(x, w, b, axis):
    axes, nd = _bn_axes(x.ndim, axis), x.ndim
    m, v = x.mean(axis=axes), x.var(axis=axes)
    xh = (x - _bcast(m, nd, axis)) / np.sqrt(_bcast(v, nd, axis) + 1e-5)
    return xh * _bcast(w, nd, axis) + _bcast(b, nd, axis), xh, v


@pytest.mark.parametrize("shape,axis", BN_CASES)
def test_batch_norm_training_matches_numpy(shape, axis):
    C, axes, nd = shape[axis], _bn_axes(len(shape), axis), len(shape)

    def inputs(case, rng):
        return [rng.standard_normal(shape) * 2.0 + 1.5, rng.standard_normal(C),
                rng.standard_normal(C)]  # fmt: skip

    def op(x, w, b):  # fresh running statistics per call (they are updated in place)
        rm, rv = np.zeros(C, x.dtype), np.ones(C, x.dtype)
        return F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5, axis=axis)

    def vjp(x, w, b, g):
        _, xh, v = _bn_train_ref(x, w, b, axis)
        dn = g * _bcast(w, nd, axis)
        gx = dn - _bcast(dn.mean(axis=axes), nd, axis)
        gx = gx - xh * _bcast((dn * xh).mean(axis=axes), nd, axis)
        return gx / np.sqrt(_bcast(v, nd, axis) + 1e-5), (g * xh).sum(axis=axes), g.sum(axes)

    check_op(
        op, lambda x, w, b: _bn_train_ref(x, w, b, axis)[0], [(shape, (C,), (C,))],
        make_inputs=inputs, np_vjp=vjp, grad=False, tols=NORM_TOLS,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", BN_CASES)
def test_batch_norm_training_updates_running_stats(shape, axis, dtype):
    C = shape[axis]
    x = _rand(*shape, dtype=dtype, scale=2.0, shift=1.5)
    rm, rv = np.zeros(C, dtype), np.ones(C, dtype)
    F.batch_norm(x, rm, rv, None, None, training=True, momentum=0.1, eps=1e-5, axis=axis)
    axes, x64 = _bn_axes(x.ndim, axis), x.astype(np.float64)
    cnt = x.size // C
    np.testing.assert_allclose(rm, 0.1 * x64.mean(axis=axes), **_tol(dtype))
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x64.var(axis=axes) * cnt / (cnt - 1), **_tol(dtype))


@pytest.mark.parametrize("shape,axis", [((4, 3), 1), ((2, 3, 4, 4), 1), ((2, 4, 4, 3), -1)])
def test_batch_norm_eval_uses_running_stats(shape, axis):
    C = shape[axis]
    x = _rand(*shape, seed=4)
    rm, rv = _rand(C, seed=5), np.abs(_rand(C, seed=6)) + 0.5
    w, b = _rand(C, seed=7), _rand(C, seed=8)
    rm0, rv0 = rm.copy(), rv.copy()
    xt, wt = dc.tensor(x, requires_grad=True), dc.tensor(w, requires_grad=True)
    y = F.batch_norm(xt, rm, rv, wt, b, training=False, axis=axis)
    nd = x.ndim
    xh = (x - _bcast(rm, nd, axis)) / np.sqrt(_bcast(rv, nd, axis) + 1e-5)
    np.testing.assert_allclose(y.data, xh * _bcast(w, nd, axis) + _bcast(b, nd, axis), rtol=1e-12)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    g = _rand(*shape, seed=9)
    y.backward(g)
    np.testing.assert_allclose(
        xt.grad.data, g * _bcast(w / np.sqrt(rv + 1e-5), nd, axis), rtol=1e-12
    )
    np.testing.assert_allclose(wt.grad.data, (g * xh).sum(axis=_bn_axes(nd, axis)), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("axis", [1, -1])
def test_batch_norm_gradcheck(training, axis):
    x = _rand(3, 2, 4, seed=10)
    C = x.shape[axis]
    w, b = _rand(C, seed=11), _rand(C, seed=12)
    rm, rv = np.zeros(C), np.ones(C)
    gradcheck(
        lambda u, v, c: F.batch_norm(
            u,
            None if training else rm,
            None if training else rv,
            v,
            c,
            training=training,
            axis=axis,
        ),
        [x, w, b],
    )


def test_batch_norm_tensor_running_stats_and_no_affine():
    x = _rand(16, 4, dtype=np.float32, seed=13, shift=2.0)
    rm = dc.tensor(np.zeros(4, np.float32))
    rv = dc.tensor(np.ones(4, np.float32))
    for _ in range(3):
        y = F.batch_norm(x, rm, rv, training=True, momentum=0.5)
    np.testing.assert_allclose(rm.data, (1 - 0.5**3) * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(y.data.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.data.var(0), 1, rtol=1e-3)


def test_batch_norm_bad_inputs():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="running_mean must have 3 elements"):
        F.batch_norm(x, np.zeros(2, np.float32), np.ones(3, np.float32), training=True)
    with pytest.raises(TypeError, match="running_var must have dtype float32"):
        F.batch_norm(x, np.zeros(3, np.float32), np.ones(3), training=True)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        F.batch_norm(x, None, None, training=True, axis=2)
    with pytest.raises(ValueError, match="more than one value per channel"):
        F.batch_norm(np.zeros((1, 3), np.float32), None, None, training=True)
    with pytest.raises(ValueError, match="momentum"):
        F.batch_norm(x, None, None, training=True, momentum=1.5)


@requires_torch
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_torch_parity(training):
    import torch

    x = _rand(8, 16, 5, 5, dtype=np.float32, seed=14, scale=2.0, shift=1.0)
    w, b = _rand(16, dtype=np.float32, seed=15), _rand(16, dtype=np.float32, seed=16)
    g = _rand(8, 16, 5, 5, dtype=np.float32, seed=17)
    rm, rv = np.full(16, 0.2, np.float32), np.full(16, 1.5, np.float32)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    ds = [dc.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.batch_norm(ds[0], rm, rv, ds[1], ds[2], training=training, momentum=0.1)
    y.backward(g)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.nn.functional.batch_norm(ts[0], trm, trv, ts[1], ts[2], training, 0.1, 1e-5)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-5)
    for d, t in zip(ds, ts):
        np.testing.assert_allclose(d.grad.data, t.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_batch_norm_keras_biased_running_var():
    x = _rand(6, 4, seed=18)
    rv = np.ones(4)
    F.batch_norm(x, None, rv, training=True, momentum=0.1, unbiased_running_var=False)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(0), rtol=1e-12)


def test_layer_norm_kernel_matches_reference_kernel(cpu_capability):
    from deepcore import _C

    x = _rand(37, 129, dtype=np.float32, seed=19, scale=3.0, shift=2.0)
    w, b = _rand(129, dtype=np.float32, seed=20), _rand(129, dtype=np.float32, seed=21)
    y, _, _ = _C.layer_norm_forward(x, w, b, 129, 1e-5)
    ref = _C.layer_norm_forward_ref(x.astype(np.float64), w.astype(np.float64),
                                    b.astype(np.float64), 129, 1e-5)  # fmt: skip
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_norms_with_weight_or_bias_only():
    x = _rand(3, 4, seed=22)
    w, b = _rand(4, seed=23), _rand(4, seed=24)
    gradcheck(lambda u, v: F.layer_norm(u, 4, v, None), [x, w])
    gradcheck(lambda u, c: F.layer_norm(u, 4, None, c), [x, b])
    ref, _, _ = _ln_ref(x, 1, w, None, 1e-5)
    np.testing.assert_allclose(F.layer_norm(x, 4, w).data, ref, rtol=1e-12)
    xb = _rand(5, 4, 3, seed=25)
    wb, bb = _rand(4, seed=26), _rand(4, seed=27)
    gradcheck(lambda u, v: F.batch_norm(u, None, None, v, None, training=True), [xb, wb])
    gradcheck(lambda u, c: F.batch_norm(u, None, None, None, c, training=True), [xb, bb])
