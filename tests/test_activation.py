"""Activations, softmax / log_softmax and dropout: NumPy float64 references over many shapes,
every CPU kernel variant, float64 gradient checks, PyTorch parity, stability, bad inputs."""

from __future__ import annotations

import math

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore import _C
from helpers import check_op, gradcheck, requires_torch, supported_capabilities

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sig(x):
    e = np.exp(-np.abs(x))  # never overflows; accurate in both tails
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _phi(x):
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _softplus(x, beta=1.0, threshold=20.0):
    z = beta * x
    return np.where(z > threshold, x, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)


# name -> (deepcore function, float64 NumPy reference, analytic derivative, torch function)
ACTS = {
    "sigmoid": (F.sigmoid, _sig, lambda x: _sig(x) * (1 - _sig(x)), "sigmoid"),
    "tanh": (F.tanh, np.tanh, lambda x: 1 - np.tanh(x) ** 2, "tanh"),
    "relu": (F.relu, lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float), "relu"),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
        lambda x: np.where(x > 0, 1.0, 0.2),
        lambda t, x: t.nn.functional.leaky_relu(x, 0.2),
    ),
    "elu": (
        lambda x: F.elu(x, 1.5),
        lambda x: np.where(x > 0, x, 1.5 * np.expm1(np.minimum(x, 0))),
        lambda x: np.where(x > 0, 1.0, 1.5 * np.exp(np.minimum(x, 0))),
        lambda t, x: t.nn.functional.elu(x, 1.5),
    ),
    "selu": (
        F.selu,
        lambda x: (
            1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))
        ),
        lambda x: (
            1.0507009873554805 * np.where(x > 0, 1.0, 1.6732632423543772 * np.exp(np.minimum(x, 0)))
        ),
        lambda t, x: t.nn.functional.selu(x),
    ),
    "softplus": (
        F.softplus,
        _softplus,
        lambda x: np.where(x > 20, 1.0, _sig(x)),
        lambda t, x: t.nn.functional.softplus(x),
    ),
    "softplus_beta": (
        lambda x: F.softplus(x, beta=2.0, threshold=5.0),
        lambda x: _softplus(x, 2.0, 5.0),
        lambda x: np.where(2 * x > 5, 1.0, _sig(2 * x)),
        lambda t, x: t.nn.functional.softplus(x, beta=2.0, threshold=5.0),
    ),
    "swish": (
        lambda x: F.swish(x, 1.5),
        lambda x: x * _sig(1.5 * x),
        lambda x: _sig(1.5 * x) + 1.5 * x * _sig(1.5 * x) * (1 - _sig(1.5 * x)),
        lambda t, x: x * t.sigmoid(1.5 * x),
    ),
    "silu": (
        F.silu,
        lambda x: x * _sig(x),
        lambda x: _sig(x) * (1 + x * (1 - _sig(x))),
        lambda t, x: t.nn.functional.silu(x),
    ),
    "gelu": (
        F.gelu,
        lambda x: x * _phi(x),
        lambda x: _phi(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
        lambda t, x: t.nn.functional.gelu(x),
    ),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        _gelu_tanh,
        None,
        lambda t, x: t.nn.functional.gelu(x, approximate="tanh"),
    ),
    "gelu_sigmoid": (
        lambda x: F.gelu(x, approximate="sigmoid"),
        lambda x: x * _sig(1.702 * x),
        None,
        lambda t, x: x * t.sigmoid(1.702 * x),
    ),
    "hard_sigmoid": (  # Keras 3's default, relu6(x + 3) / 6, is PyTorch's hardsigmoid
        F.hard_sigmoid,
        lambda x: np.clip(x / 6 + 0.5, 0, 1),
        lambda x: np.where(np.abs(x) < 3, 1 / 6, 0.0),
        lambda t, x: t.nn.functional.hardsigmoid(x),
    ),
    "hard_swish": (
        F.hard_swish,
        lambda x: x * np.clip(x + 3, 0, 6) / 6,
        lambda x: np.where(x < -3, 0.0, np.where(x > 3, 1.0, (2 * x + 3) / 6)),
        lambda t, x: t.nn.functional.hardswish(x),
    ),
    "hard_sigmoid_keras2": (
        lambda x: F.hard_sigmoid(x, slope=0.2, offset=0.5),
        lambda x: np.clip(0.2 * x + 0.5, 0, 1),
        lambda x: np.where(np.abs(x) < 2.5, 0.2, 0.0),
        None,
    ),
}
NAMES = list(ACTS)
SHAPES = [(0,), (1,), (7,), (3, 5), (2, 3, 97), (257, 33), (40003,)]


def _input(shape, dtype, seed=0, scale=4.0):
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    return x.astype(dtype)


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def _normal(case, rng):
    return [rng.standard_normal(s) * 4.0 for s in case]


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_match_numpy(name, cpu_capability):
    fn, ref, dref, _ = ACTS[name]
    vjp = None if dref is None else (lambda x, g: (g * dref(x),))
    check_op(fn, ref, SHAPES, grad=False, make_inputs=_normal, np_vjp=vjp)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name):
    fn = ACTS[name][0]
    x = _input((3, 7), np.float64, seed=2, scale=2.0)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from relu-type kinks
    gradcheck(fn, [x])


def test_gradcheck_hard_sigmoid_away_from_kinks():
    x = np.linspace(-2.4, 2.4, 15).reshape(3, 5)
    gradcheck(F.hard_sigmoid, [x])


def test_backward_reads_output_where_cheaper():
    reads = {k: _C.activation_reads_output(k) for k in _C.activation_kinds()}
    assert {k for k, v in reads.items() if v} == {"sigmoid", "tanh", "relu"}
    # relu differentiates from y: the saved output decides the mask
    y = np.array([0.0, 2.0, 0.0], np.float32)
    gx = _C.activation_backward("relu", np.ones(3, np.float32), y=y)
    np.testing.assert_array_equal(gx, [0, 1, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_inputs_stay_finite(dtype, cpu_capability):
    x = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype)
    s = F.sigmoid(x).data
    np.testing.assert_allclose(s, _sig(x.astype(np.float64)), rtol=1e-6, atol=1e-30)
    np.testing.assert_array_equal(F.tanh(x).data[[0, -1]], [-1, 1])
    np.testing.assert_allclose(  # float32 exp flushes subnormal results to 0
        F.softplus(x).data, _softplus(x.astype(np.float64)), rtol=1e-6, atol=1e-30
    )
    g = F.gelu(x).data
    assert np.all(np.isfinite(g)) and g[0] == 0 and g[-1] == x[-1]
    e = F.elu(x).data
    assert e[0] == -1.0 and e[-1] == x[-1]
    for fn in (F.sigmoid, F.tanh, F.softplus, F.gelu, F.swish, F.elu):
        xt = dc.tensor(x, requires_grad=True)
        fn(xt).backward(np.ones_like(x))
        assert np.all(np.isfinite(xt.grad.data)), fn.__name__


def test_swish_learnable_beta_gradcheck():
    x = _input((4, 5), np.float64, seed=3, scale=2.0)
    beta = np.array([0.7])
    gradcheck(lambda a, b: F.swish(a, b), [x, beta])
    gradcheck(lambda a, b: F.swish(a, b), [x, np.array(1.3)])


def test_swish_learnable_beta_matches_fixed():
    x = _input((64, 33), np.float32, seed=4)
    b = dc.tensor(np.array([1.25], np.float32), requires_grad=True)
    np.testing.assert_allclose(F.swish(x, b).data, F.swish(x, 1.25).data, rtol=1e-6)


def _prelu_ref(x, a, axis):
    shape = [1] * x.ndim
    shape[axis] = -1
    return np.where(x > 0, x, a.reshape(shape) * x)


@pytest.mark.parametrize(
    "shape,axis",
    [((2, 3, 4, 5), 1), ((2, 4, 5, 3), -1), ((7, 3), 1), ((5, 3), -1), ((4, 1, 9), 1), ((0, 3), 1)],
)
def test_prelu_matches_numpy(shape, axis):
    ax = axis % len(shape)
    chan = (1,) * ax + (-1,) + (1,) * (len(shape) - ax - 1)

    def inputs(case, rng):
        return [rng.standard_normal(shape) * 4.0, np.linspace(0.05, 0.5, shape[axis])]

    def vjp(x, a, g):  # the slope's gradient is summed over every axis but the channel's
        other = tuple(i for i in range(x.ndim) if i != ax)
        return np.where(x > 0, g, a.reshape(chan) * g), np.where(x > 0, 0, g * x).sum(other)

    check_op(
        lambda x, a: F.prelu(x, a, axis=axis),
        lambda x, a: _prelu_ref(x, a, axis),
        [(shape, (shape[axis],))],
        make_inputs=inputs,
        np_vjp=vjp,
        grad=False,
    )


def test_prelu_large_channels_last_parallel_path():
    x = _input((64, 13, 13, 32), np.float32)
    a = np.linspace(0.0, 0.3, 32).astype(np.float32)
    at = dc.tensor(a, requires_grad=True)
    F.prelu(x, at, axis=-1).backward(np.ones_like(x))
    ga = np.where(x > 0, 0, x).astype(np.float64).sum(axis=(0, 1, 2))
    np.testing.assert_allclose(at.grad.data, ga, rtol=1e-5)


@pytest.mark.parametrize("axis", [1, -1])
def test_prelu_gradcheck(axis):
    x = _input((2, 3, 4), np.float64, seed=6)
    a = np.array([0.1, 0.2, 0.3] if axis == 1 else [0.1, 0.2, 0.3, 0.4])
    gradcheck(lambda u, w: F.prelu(u, w, axis=axis), [x, a])
    gradcheck(lambda u, w: F.prelu(u, w, axis=axis), [x, np.array([0.25])])  # shared slope


def test_get_activation():
    assert F.get_activation("relu") is F.relu
    assert F.get_activation(None) is F.identity
    assert F.get_activation("linear")(dc.tensor([1.0, -2.0])).data.tolist() == [1.0, -2.0]
    f = F.sigmoid
    assert F.get_activation(f) is f
    with pytest.raises(ValueError, match="unknown activation 'rleu'"):
        F.get_activation("rleu")


def test_bad_inputs():
    with pytest.raises(TypeError, match="float32 or float64"):
        F.relu(dc.tensor(np.arange(3)))
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(dc.tensor([1.0]), approximate="erf")
    with pytest.raises(ValueError, match="weight has 2 entries but x has 3 channels"):
        F.prelu(dc.tensor(np.ones((2, 3), np.float32)), dc.tensor(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        F.prelu(dc.tensor(np.ones((2, 3), np.float32)), dc.tensor(np.ones(3, np.float32)), axis=2)
    with pytest.raises(TypeError, match="weight must have dtype float32"):
        F.prelu(dc.tensor(np.ones((2, 3), np.float32)), dc.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="beta must have exactly one element"):
        F.swish(dc.tensor([1.0]), dc.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="beta must be > 0"):
        F.softplus(dc.tensor([1.0]), beta=0.0)
    with pytest.raises(ValueError, match="unknown activation kind"):
        _C.activation_forward(np.ones(2, np.float32), "rlu")
    with pytest.raises(ValueError, match="needs y"):
        _C.activation_backward("sigmoid", np.ones(2, np.float32), x=np.ones(2, np.float32))


def _torch_run(torch, tfn, x, g):
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch, tfn)(tx) if isinstance(tfn, str) else tfn(torch, tx)
    ty.backward(torch.tensor(g))
    return ty.detach().numpy().astype(np.float64), tx.grad.numpy().astype(np.float64)


def assert_as_good_as_peer(ours, peer, truth, rtol=1e-5, atol=2e-6, what="result"):
    """ours must be within 2x the peer's own float32 error of the float64 truth (plus a small
    tolerance), element-wise (flash-attention's criterion)."""
    err, peer_err = np.abs(ours - truth), np.abs(peer - truth)
    bad = err > 2 * peer_err + rtol * np.abs(truth) + atol
    assert not bad.any(), (
        f"{what}: {bad.sum()} elements worse than the peer, worst err {err.max():.3e} "
        f"(peer {peer_err.max():.3e})"
    )


@requires_torch
@pytest.mark.parametrize("name", [n for n in NAMES if ACTS[n][3] is not None])
def test_torch_parity(name):
    import torch

    fn, _, _, tfn = ACTS[name]
    x = _input((64, 257), np.float32, seed=7)
    g = _input((64, 257), np.float32, seed=8, scale=1.0)
    xt = dc.tensor(x, requires_grad=True)
    y = fn(xt)
    y.backward(g)
    y32, g32 = _torch_run(torch, tfn, x, g)  # the peer in float32
    y64, g64 = _torch_run(torch, tfn, x.astype(np.float64), g.astype(np.float64))  # truth
    assert_as_good_as_peer(y.data, y32, y64, what="forward")
    assert_as_good_as_peer(xt.grad.data, g32, g64, what="backward")


# ------------------------------------------------------------------------------ softmax
def _softmax_ref(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax_ref(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


SOFTMAX_CASES = [
    ((1,), -1),
    ((7,), 0),
    ((3, 5), -1),
    ((3, 5), 0),
    ((2, 3, 4), 1),
    ((4, 1000), -1),
    ((2, 7, 300), 1),
    ((2, 5, 3, 3), 1),
    ((64, 10), -1),
    ((3, 0), -1),
    ((0, 4), 1),
    ((5, 1), -1),
    ((33, 3, 257), 0),
]


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES)
def test_softmax_matches_numpy(shape, axis, dtype, log, cpu_capability):
    x = _input(shape, dtype, scale=3.0)
    xt = dc.tensor(x, requires_grad=True)
    y = (F.log_softmax if log else F.softmax)(xt, axis=axis)
    x64 = x.astype(np.float64)
    ref = (_log_softmax_ref if log else _softmax_ref)(x64, axis) if x.size else x64
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y.data, ref, **tol)
    if x.size:
        g = _input(shape, dtype, seed=9, scale=1.0)
        y.backward(g)
        p = _softmax_ref(x64, axis)
        if log:
            want = g - p * g.sum(axis=axis, keepdims=True)
        else:
            want = p * (g - (g * p).sum(axis=axis, keepdims=True))
        np.testing.assert_allclose(xt.grad.data, want, **tol)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape,axis", [((3, 4), -1), ((3, 4), 0), ((2, 3, 2), 1)])
def test_softmax_gradcheck(shape, axis, log):
    x = _input(shape, np.float64, seed=10, scale=2.0)
    gradcheck(lambda u: (F.log_softmax if log else F.softmax)(u, axis=axis), [x])


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_huge_logits_stable(axis, cpu_capability):
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1, 5.0], [-1e4, -1e4, -1e4]], np.float32)
    x = x if axis == -1 else np.ascontiguousarray(x.T)
    y = F.softmax(x, axis=axis).data
    ly = F.log_softmax(x, axis=axis).data
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, _softmax_ref(x64, axis), rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(ly, _log_softmax_ref(x64, axis), rtol=1e-6)
    assert np.all(np.isfinite(ly))


def test_softmax_bad_inputs():
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        F.softmax(dc.tensor(np.ones((2, 3), np.float32)), axis=2)
    with pytest.raises(ValueError, match="axis -3 is out of range"):
        F.log_softmax(dc.tensor(np.ones((2, 3), np.float32)), axis=-3)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.softmax(dc.tensor(np.ones((2, 3), np.int32)))
    with pytest.raises(ValueError, match="at least one dimension"):
        F.softmax(dc.tensor(np.float32(1.0)))


@requires_torch
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape,axis", [((64, 1000), -1), ((8, 32, 5, 5), 1), ((3, 7, 9), 0)])
def test_softmax_torch_parity(shape, axis, log):
    import torch

    x = _input(shape, np.float32, seed=11)
    g = _input(shape, np.float32, seed=12, scale=1.0)
    xt = dc.tensor(x, requires_grad=True)
    y = (F.log_softmax if log else F.softmax)(xt, axis=axis)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = (torch.log_softmax if log else torch.softmax)(tx, dim=axis)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    # gx = g - p * sum(g): over 1000 classes sum(g) is ~30 in float32, so elements near zero
    # carry ~1e-6 absolute cancellation error, in either library (seen with the generic kernels)
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ dropout
def test_dropout_inverted_scaling_and_new_masks():
    dc.manual_seed(0)
    x = np.ones((200, 500), np.float32)
    a = F.dropout(x, 0.3).data
    b = F.dropout(x, 0.3).data
    kept = a != 0
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs(kept.mean() - 0.7) < 0.01
    assert abs(a.mean() - 1.0) < 0.02  # expectation preserved
    assert (kept != (b != 0)).any()  # a new mask each call
    dc.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(x, 0.3).data, a)  # reproducible from the seed


def test_dropout_identity_at_inference_and_gradient():
    x = dc.tensor(np.arange(1, 61, dtype=np.float64).reshape(6, 10), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    dc.manual_seed(1)
    y = F.dropout(x, 0.5)
    kept = y.data != 0
    assert 0 < kept.sum() < x.size
    np.testing.assert_array_equal(y.data, np.where(kept, 2 * x.data, 0))
    y.backward(np.ones((6, 10)))
    np.testing.assert_array_equal(x.grad.data, np.where(kept, 2.0, 0.0))


def test_dropout_bad_p():
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
            F.dropout(dc.tensor([1.0]), p)
    with pytest.raises(TypeError, match="p must be a float"):
        F.dropout(dc.tensor([1.0]), "0.5")


def test_zero_dim_input_keeps_its_shape():
    x = dc.tensor(np.float64(-0.5), requires_grad=True)
    y = F.elu(x)
    assert y.shape == ()
    y.backward()
    assert x.grad.shape == ()


# every native kind: the parameterised ones with the parameters below, the others (p0 = p1 = 0)
# as the kernel lists them, so a new parameter-free kind is covered without an edit here
_KIND_PARAMS_SET = [("leaky_relu", 0.1, 0), ("elu", 1.2, 0), ("softplus", 1.0, 20.0),
                    ("softplus", 3.0, 4.0), ("swish", 0.8, 0), ("hard_sigmoid", 0.2, 0.5),
                    ("selu", 1.6732632423543772, 1.0507009873554805)]  # fmt: skip
KIND_PARAMS = _KIND_PARAMS_SET + [
    (k, 0, 0) for k in _C.activation_kinds() if k not in {p[0] for p in _KIND_PARAMS_SET}
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind,p0,p1", KIND_PARAMS)
def test_kernels_match_reference_kernels(kind, p0, p1, dtype, cpu_capability):
    """The per-ISA kernels against the naive double loops of csrc/ref/."""
    assert {k for k, _, _ in KIND_PARAMS} == set(_C.activation_kinds())
    x = _input((3001,), dtype, seed=20, scale=5.0)
    g = _input((3001,), dtype, seed=21, scale=1.0)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    y = _C.activation_forward(x, kind, p0, p1)
    np.testing.assert_allclose(y, _C.activation_forward_ref(x64, kind, p0, p1), **_tol(dtype))
    saved = {"y": y} if _C.activation_reads_output(kind) else {"x": x}
    gx = _C.activation_backward(kind, g, p0=p0, p1=p1, **saved)
    want = _C.activation_backward_ref(kind, g64, x64, p0, p1)
    if _C.activation_reads_output(kind):  # from the rounded y: y's own rounding enters
        np.testing.assert_allclose(gx, want, rtol=1e-4 if dtype == np.float32 else 1e-9,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)  # fmt: skip
    else:
        np.testing.assert_allclose(gx, want, **_tol(dtype))


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape,axis", [((5, 300), -1), ((4, 9, 7), 1), ((300, 3), 0)])
def test_softmax_matches_reference_kernel(shape, axis, log, cpu_capability):
    x = _input(shape, np.float32, seed=22)
    y = _C.softmax_forward(x, axis, log)
    ref = _C.softmax_forward_ref(x.astype(np.float64), axis, log)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_native_rng_statistics(p, cpu_capability):
    n = 1 << 20
    x = np.ones(n, np.float32)
    y, mask = _C.dropout_forward(x, p, 12345)
    keep = mask.astype(bool)
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(keep.mean() - (1 - p)) < 5 * sigma
    np.testing.assert_array_equal(y, np.where(keep, np.float32(1 / (1 - p)), 0))
    # neighbours independent: P(keep[i] and keep[i+1]) == (1-p)^2 within noise
    both = (keep[:-1] & keep[1:]).mean()
    assert abs(both - (1 - p) ** 2) < 6 * sigma
    # a different seed gives a different, uncorrelated mask
    _, mask2 = _C.dropout_forward(x, p, 12346)
    assert abs((keep & mask2.astype(bool)).mean() - (1 - p) ** 2) < 6 * sigma


def test_dropout_mask_independent_of_threads_and_isa():
    x = np.ones(200_003, np.float32)
    prev_t, prev_c = dc.kernels.get_num_threads(), dc.kernels.get_cpu_capability()
    try:
        masks = []
        for threads in (1, 2):
            for cap in supported_capabilities():
                dc.kernels.set_num_threads(threads)
                dc.kernels.set_cpu_capability(cap)
                masks.append(_C.dropout_forward(x, 0.3, 7)[1])
    finally:
        dc.kernels.set_num_threads(prev_t)
        dc.kernels.set_cpu_capability(prev_c)
    for m in masks[1:]:
        np.testing.assert_array_equal(m, masks[0])


def test_dropout_float64_and_noncontiguous():
    dc.manual_seed(3)
    x = np.arange(1, 41, dtype=np.float64).reshape(5, 8)[:, ::2]
    y = F.dropout(x, 0.25)
    kept = y.data != 0
    np.testing.assert_allclose(y.data, np.where(kept, x / 0.75, 0))
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        _C.dropout_forward(np.ones(3, np.float32), 1.0, 0)


@pytest.mark.parametrize("kind,p0,p1", KIND_PARAMS)
def test_nan_propagates(kind, p0, p1, cpu_capability):
    """A NaN input gives a NaN output (divergence must not be silently hidden), in every lane
    position of a vector."""
    x = np.linspace(-3, 3, 37).astype(np.float32)
    x[[0, 5, 17, 36]] = np.nan
    y = _C.activation_forward(x, kind, p0, p1)
    assert np.isnan(y[[0, 5, 17, 36]]).all(), y[[0, 5, 17, 36]]
    assert np.isfinite(np.delete(y, [0, 5, 17, 36])).all()


def test_softmax_and_cross_entropy_propagate_nan(cpu_capability):
    x = _input((3, 40), np.float32, seed=23)
    x[1, 7] = np.nan
    for axis in (-1, 0):
        y = F.softmax(x, axis=axis).data
        bad = np.isnan(y)
        assert bad.any() and (bad == (np.isnan(x).any(axis=axis, keepdims=True) & True)).all()
    loss = F.cross_entropy(x, np.array([0, 1, 2]), reduction="none").data
    assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()
