"""Keras 3's ``keras.ops.nn`` family in ``deepcore.ops`` (ops/_nn.py): every op against a
float64 NumPy reference written from Keras's documented formulas, over shapes with size-1,
empty and odd axes, by gradcheck, and on bad input."""

from __future__ import annotations

import math

import deepcore as dc
import numpy as np
import pytest
from conv_reference import ref_pads
from deepcore import ops
from deepcore.testing import gradcheck
from helpers import UNARY_SHAPES, check_op

np_erf = np.vectorize(math.erf, otypes=[float])
SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


# name -> (call, float64 NumPy reference)
ELEMENTWISE = {
    "relu": (ops.relu, lambda x: np.maximum(x, 0)),
    "relu6": (ops.relu6, lambda x: np.clip(x, 0, 6)),
    "sigmoid": (ops.sigmoid, _sig),
    "tanh": (ops.tanh, np.tanh),
    "softplus": (ops.softplus, lambda x: np.logaddexp(0.0, x)),
    "softsign": (ops.softsign, lambda x: x / (1 + np.abs(x))),
    "silu": (ops.silu, lambda x: x * _sig(x)),
    "swish": (ops.swish, lambda x: x * _sig(x)),
    "log_sigmoid": (ops.log_sigmoid, lambda x: -np.logaddexp(0.0, -x)),
    "leaky_relu": (ops.leaky_relu, lambda x: np.where(x >= 0, x, 0.2 * x)),
    "leaky_relu(0.01)": (
        lambda x: ops.leaky_relu(x, negative_slope=0.01),
        lambda x: np.where(x >= 0, x, 0.01 * x),
    ),
    "hard_sigmoid": (ops.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "hard_silu": (ops.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "hard_swish": (ops.hard_swish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "sparse_sigmoid": (ops.sparse_sigmoid, lambda x: np.clip((x + 1) / 2, 0, 1)),
    "elu": (ops.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "elu(0.5)": (lambda x: ops.elu(x, alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    "selu": (ops.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x))),
    "gelu": (ops.gelu, _gelu_tanh),
    "gelu(exact)": (
        lambda x: ops.gelu(x, approximate=False),
        lambda x: 0.5 * x * (1 + np_erf(x / math.sqrt(2))),
    ),
    "celu": (
        lambda x: ops.celu(x, alpha=2.0),
        lambda x: np.maximum(x, 0) + np.minimum(0, 2.0 * np.expm1(x / 2.0)),
    ),
    "hard_tanh": (ops.hard_tanh, lambda x: np.clip(x, -1, 1)),
    "soft_shrink": (
        ops.soft_shrink,
        lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)),
    ),
    "hard_shrink": (
        lambda x: ops.hard_shrink(x, threshold=0.3),
        lambda x: np.where(np.abs(x) > 0.3, x, 0.0),
    ),
    "tanh_shrink": (ops.tanh_shrink, lambda x: x - np.tanh(x)),
    "squareplus": (ops.squareplus, lambda x: (x + np.sqrt(x * x + 4)) / 2),
    "squareplus(b=1)": (lambda x: ops.squareplus(x, b=1), lambda x: (x + np.sqrt(x * x + 1)) / 2),
    "sparse_plus": (
        ops.sparse_plus,
        lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    ),
    "threshold": (lambda x: ops.threshold(x, 0.25, -3.0), lambda x: np.where(x > 0.25, x, -3.0)),
}

# kinks: the finite differences straddle them only if an input lands within eps of one; inputs
# are drawn away from them
KINKS = {
    "relu": [0],
    "relu6": [0, 6],
    "leaky_relu": [0],
    "leaky_relu(0.01)": [0],
    "hard_sigmoid": [-3, 3],
    "hard_silu": [-3, 3],
    "hard_swish": [-3, 3],
    "sparse_sigmoid": [-1, 1],
    "elu": [0],
    "elu(0.5)": [0],
    "selu": [0],
    "celu": [0],
    "hard_tanh": [-1, 1],
    "soft_shrink": [-0.5, 0.5],
    "hard_shrink": [-0.3, 0.3],
    "sparse_plus": [-1, 1],
    "threshold": [0.25],
}


def _away_from(kinks):
    def make(shapes, rng):
        out = []
        for s in shapes:
            x = rng.uniform(-4, 4, size=s)
            for k in kinks:
                x = np.where(np.abs(x - k) < 1e-3, k + 0.01, x)
            out.append(x)
        return out

    return make


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_activation(name):
    fn, ref = ELEMENTWISE[name]
    check_op(fn, ref, UNARY_SHAPES, make_inputs=_away_from(KINKS.get(name, [])))


def test_keras_defaults_and_values():
    x = np.array([-1.0, 0.0, 1.0])
    # the values Keras's documentation prints
    np.testing.assert_allclose(ops.gelu(x).numpy(), [-0.15880796, 0.0, 0.841192], atol=1e-6)
    np.testing.assert_allclose(
        ops.gelu(x, approximate=False).numpy(), [-0.15865525, 0.0, 0.84134475], atol=1e-7
    )
    np.testing.assert_allclose(ops.soft_shrink(x).numpy(), [-0.5, 0.0, 0.5])
    np.testing.assert_allclose(ops.hard_shrink(np.array([-0.5, 0.0, 1.0])).numpy(), [0, 0, 1])
    np.testing.assert_allclose(ops.leaky_relu(np.array([-1.0])).numpy(), [-0.2])
    # softplus has no linear cut-off: exact far out
    assert ops.softplus(np.array([30.0])).numpy()[0] == np.logaddexp(0, 30.0)
    # integers are computed in float32, lists accepted
    y = ops.relu([-1, 2])
    assert y.dtype == np.float32 and y.numpy().tolist() == [0.0, 2.0]


@pytest.mark.parametrize("axis", [-1, 0, 1, None])
def test_softmax_and_log_softmax(axis):
    def ref(x):
        if axis is None:
            e = np.exp(x - x.max())
            return e / e.sum()
        e = np.exp(x - x.max(axis, keepdims=True))
        return e / e.sum(axis, keepdims=True)

    shapes = [(1, 1), (3, 5), (2, 7), (4, 1)] if axis is not None else [(1,), (3, 5), (2, 3, 4)]
    check_op(lambda x: ops.softmax(x, axis=axis), ref, shapes)
    check_op(lambda x: ops.log_softmax(x, axis=axis), lambda x: np.log(ref(x)), shapes)


def test_glu():
    def ref(x, axis):
        a, b = np.split(x, 2, axis)
        return a * _sig(b)

    check_op(ops.glu, lambda x: ref(x, -1), [(2,), (3, 4), (2, 3, 6), (0, 2)])
    check_op(lambda x: ops.glu(x, axis=0), lambda x: ref(x, 0), [(4, 3), (2, 1)])
    with pytest.raises(ValueError, match="odd"):
        ops.glu(np.ones((2, 3)))


# ---------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    "shape,axes", [((5,), [0]), ((3, 4), [0]), ((3, 4), [1]), ((2, 3, 5), [0, 2]), ((1, 7), [1])]
)
def test_moments(shape, axes):
    for keep in (False, True):
        check_op(
            lambda x, keep=keep: ops.moments(x, axes, keepdims=keep),
            lambda x, keep=keep: (
                x.mean(tuple(axes), keepdims=keep),
                x.var(tuple(axes), keepdims=keep),
            ),
            [shape],
        )


def test_normalize():
    for order in (2, 1):

        def ref(x, axis=-1, order=order):
            n = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
            return x / np.maximum(n, 1e-7)

        check_op(lambda x, o=order: ops.normalize(x, order=o), ref, [(1,), (7,), (3, 5), (2, 3, 4)])
        check_op(
            lambda x, o=order: ops.normalize(x, axis=0, order=o),
            lambda x: ref(x, 0),
            [(4, 3), (1, 2)],
        )
    # a zero row stays zero (the norm is bounded below by epsilon)
    assert np.all(ops.normalize(np.zeros((2, 3))).numpy() == 0)


def test_batch_normalization():
    def ref(x, m, v, o, s, axis):
        shp = [1] * x.ndim
        shp[axis] = -1
        r = lambda a: a.reshape(shp)  # noqa: E731
        return (x - r(m)) / np.sqrt(r(v) + 1e-3) * r(s) + r(o)

    def make(shapes, rng):
        x, m, v, o, s = (rng.uniform(-2, 2, size=sh) for sh in shapes)
        return [x, m, np.abs(v) + 0.1, o, s]

    for shape, axis in (((4, 3), -1), ((2, 3, 5), 1), ((1, 1), 0), ((0, 3), 1)):
        c = shape[axis]
        check_op(
            lambda x, m, v, o, s, a=axis: ops.batch_normalization(x, m, v, a, offset=o, scale=s),
            lambda x, m, v, o, s, a=axis: ref(x, m, v, o, s, a),
            [(shape, (c,), (c,), (c,), (c,))],
            make_inputs=make,
        )
    # no offset / scale
    x = np.arange(6.0).reshape(2, 3)
    got = ops.batch_normalization(x, np.ones(3), np.full(3, 4.0), axis=1, epsilon=0.0)
    np.testing.assert_allclose(got.numpy(), (x - 1) / 2)


@pytest.mark.parametrize("axis", [-1, 0, [1, 2]])
def test_layer_normalization(axis):
    shape = (2, 3, 5)
    ax = tuple(np.atleast_1d(axis) % 3)
    c = shape[ax[-1]]

    def ref(x, g, b):
        m = x.mean(ax, keepdims=True)
        v = x.var(ax, keepdims=True)
        shp = [1] * 3
        shp[ax[-1]] = c
        return (x - m) / np.sqrt(v + 1e-7) * g.reshape(shp) + b.reshape(shp)

    check_op(
        lambda x, g, b: ops.layer_normalization(x, g, b, axis=axis),
        ref,
        [(shape, (c,), (c,))],
    )
    check_op(
        lambda x: ops.layer_normalization(x, axis=axis, epsilon=1e-3),
        lambda x: (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + 1e-3),
        [shape],
    )


def test_layer_normalization_last_axis_shapes():
    ref = lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-7)  # noqa: E731
    check_op(ops.layer_normalization, ref, [(1,), (7,), (3, 5), (0, 4), (2, 1, 9)])


def test_rms_normalization():
    def ref(x, s=1.0, axis=-1):
        return x / np.sqrt((x * x).mean(axis, keepdims=True) + 1e-7) * s

    check_op(ops.rms_normalization, ref, [(1,), (7,), (3, 5), (0, 4), (2, 1, 9)])
    check_op(lambda x, s: ops.rms_normalization(x, scale=s), ref, [((3, 5), (5,)), ((1, 1), (1,))])
    check_op(
        lambda x: ops.rms_normalization(x, axis=0, epsilon=1e-3),
        lambda x: x / np.sqrt((x * x).mean(0, keepdims=True) + 1e-3),
        [(4, 3)],
    )


# ---------------------------------------------------------------------------- cross-entropy
EPS = 1e-7


def _probs(shapes, rng):
    p = rng.uniform(0.05, 1.0, size=shapes[1])
    t = rng.uniform(0.0, 1.0, size=shapes[0])
    return [t, p]


@pytest.mark.parametrize("axis", [-1, 0])
def test_categorical_crossentropy(axis):
    def ref(t, p):
        q = np.clip(p / p.sum(axis, keepdims=True), EPS, 1 - EPS)
        return -(t * np.log(q)).sum(axis)

    shapes = [((4, 3), (4, 3)), ((1, 1), (1, 1)), ((2, 3, 5), (2, 3, 5)), ((3,), (3,))]
    if axis == -1:
        shapes.append(((0, 3), (0, 3)))
    check_op(
        lambda t, p: ops.categorical_crossentropy(t, p, axis=axis), ref, shapes, make_inputs=_probs
    )

    def ref_logits(t, z):
        zs = z - z.max(axis, keepdims=True)
        return -(t * (zs - np.log(np.exp(zs).sum(axis, keepdims=True)))).sum(axis)

    check_op(
        lambda t, z: ops.categorical_crossentropy(t, z, from_logits=True, axis=axis),
        ref_logits,
        shapes,
    )


def test_sparse_categorical_crossentropy():
    rng = np.random.default_rng(0)
    for shape in ((4, 3), (1, 1), (2, 3, 5), (0, 4)):
        p = rng.uniform(0.05, 1.0, size=shape)
        t = rng.integers(0, shape[-1], size=shape[:-1])
        q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
        want = -np.log(np.take_along_axis(q, t[..., None], -1))[..., 0]
        got = ops.sparse_categorical_crossentropy(t, p)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
        z = rng.standard_normal(shape)
        lsm = z - z.max(-1, keepdims=True)
        lsm = lsm - np.log(np.exp(lsm).sum(-1, keepdims=True))
        want = -np.take_along_axis(lsm, t[..., None], -1)[..., 0]
        got = ops.sparse_categorical_crossentropy(t, z, from_logits=True)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
        if 0 < p.size <= 30:
            gradcheck(lambda pp, t=t: ops.sparse_categorical_crossentropy(t, pp), [p])
            gradcheck(lambda zz, t=t: ops.sparse_categorical_crossentropy(t, zz, True), [z])
    # a trailing size-1 label axis is dropped (Keras); the class axis may be elsewhere
    p = rng.uniform(0.1, 1, size=(5, 3))
    t = np.array([0, 2, 1, 1, 0])
    np.testing.assert_allclose(
        ops.sparse_categorical_crossentropy(t[:, None], p).numpy(),
        ops.sparse_categorical_crossentropy(t, p).numpy(),
    )
    np.testing.assert_allclose(
        ops.sparse_categorical_crossentropy(t, p.T.copy(), axis=0).numpy(),
        ops.sparse_categorical_crossentropy(t, p).numpy(),
    )


def test_binary_crossentropy():
    def ref(t, p):
        pc = np.clip(p, EPS, 1 - EPS)
        return -(t * np.log(pc) + (1 - t) * np.log(1 - pc))

    def make(shapes, rng):
        return [rng.uniform(0, 1, size=shapes[0]), rng.uniform(0.05, 0.95, size=shapes[1])]

    shapes = [((), ()), ((1,), (1,)), ((7,), (7,)), ((3, 5), (3, 5)), ((0, 2), (0, 2))]
    check_op(ops.binary_crossentropy, ref, shapes, make_inputs=make)
    check_op(
        lambda t, z: ops.binary_crossentropy(t, z, from_logits=True),
        lambda t, z: ref(t, _sig(z)),
        shapes,
        make_inputs=lambda s, rng: [rng.uniform(0, 1, size=s[0]), rng.uniform(-3, 3, size=s[1])],
    )


def test_multi_hot():
    x = np.array([[0, 3, 3], [1, 1, 1], [4, 0, 2]])
    want = np.zeros((3, 5), np.float32)
    want[[0, 0, 1, 2, 2, 2], [0, 3, 1, 4, 0, 2]] = 1
    got = ops.multi_hot(x, num_classes=5)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(ops.multi_hot(np.array([2, 0]), 4).numpy(), [1, 0, 1, 0])
    assert ops.multi_hot(np.zeros((0, 2), np.int64), 3).shape == (0, 3)
    np.testing.assert_array_equal(ops.multi_hot(np.zeros((2, 0), np.int64), 3).numpy(), 0)
    np.testing.assert_array_equal(ops.multi_hot(x, num_tokens=5, dtype="int32").numpy(), want)


# -------------------------------------------------------------------------- conv and pooling
def ref_conv(x, k, strides, padding, dilation, groups):
    """Channels-last convolution in float64 with a Keras kernel (*k, in/groups, out): one
    einsum per kernel tap (1-D is 2-D with a height of 1)."""
    if x.ndim == 3:
        return ref_conv(x[:, None], k[None], (1, strides), padding, (1, dilation), groups)[:, 0]
    st = (strides,) * 2 if isinstance(strides, int) else strides
    dl = (dilation,) * 2 if isinstance(dilation, int) else dilation
    N, H, W, C = x.shape
    R, S, Cg, O = k.shape
    pads = ref_pads((H, W), (R, S), st, dl, padding)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    P = (xp.shape[1] - dl[0] * (R - 1) - 1) // st[0] + 1
    Q = (xp.shape[2] - dl[1] * (S - 1) - 1) // st[1] + 1
    y = np.zeros((N, P, Q, O))
    Og = O // groups
    for g in range(groups):
        for r in range(R):
            for s in range(S):
                win = xp[
                    :,
                    r * dl[0] : r * dl[0] + st[0] * (P - 1) + 1 : st[0],
                    s * dl[1] : s * dl[1] + st[1] * (Q - 1) + 1 : st[1],
                    g * Cg : (g + 1) * Cg,
                ]
                y[..., g * Og : (g + 1) * Og] += np.einsum(
                    "npqc,co->npqo", win, k[r, s, :, g * Og : (g + 1) * Og]
                )
    return y


CONV_CASES = [  # x shape (channels last), kernel shape, strides, padding, dilation
    ((2, 7, 3), (3, 3, 4), 1, "valid", 1),
    ((1, 8, 2), (2, 2, 3), 2, "same", 1),
    ((2, 9, 4), (3, 2, 2), 1, "same", 2),  # groups 2
    ((1, 5, 6, 3), (3, 2, 3, 5), 1, "valid", 1),
    ((2, 6, 5, 2), (3, 3, 2, 4), 2, "same", 1),
    ((1, 7, 7, 4), (3, 3, 1, 4), (1, 2), "same", (2, 1)),  # depthwise-like groups 4
    ((1, 1, 1, 1), (1, 1, 1, 1), 1, "valid", 1),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv(case):
    xs, ks, st, pad, dil = case
    groups = xs[-1] // ks[-2]
    check_op(
        lambda x, k: ops.conv(x, k, strides=st, padding=pad, dilation_rate=dil),
        lambda x, k: ref_conv(x, k, st, pad, dil, groups),
        [(xs, ks)],
        grad_max_size=200,
    )


def test_conv_channels_first():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 5))
    k = rng.standard_normal((3, 2, 3, 4))
    got = ops.conv(x, k, padding="same", data_format="channels_first")
    want = ref_conv(x.transpose(0, 2, 3, 1), k, 1, "same", 1, 1).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xs,ks", [((2, 7, 3), (3, 3, 2)), ((1, 5, 6, 2), (2, 3, 2, 3))])
def test_depthwise_and_separable_conv(xs, ks):
    nsp = len(xs) - 2
    C, M = ks[-2], ks[-1]

    def ref_dw(x, k):  # channel c, multiplier m -> output channel c * M + m
        return ref_conv(x, k.reshape(*k.shape[:nsp], 1, C * M), 1, "same", 1, C)

    check_op(
        lambda x, k: ops.depthwise_conv(x, k, padding="same"), ref_dw, [(xs, ks)], grad_max_size=200
    )
    ps = (1,) * nsp + (C * M, 4)
    check_op(
        lambda x, k, p: ops.separable_conv(x, k, p, padding="same"),
        lambda x, k, p: ref_conv(ref_dw(x, k), p, 1, "valid", 1, 1),
        [(xs, ks, ps)],
        grad_max_size=200,
    )


def ref_pool(x, size, strides, padding, kind):
    """Channels-last max / average pooling; 'same' windows count only input elements."""
    if x.ndim == 3:
        return ref_pool(x[:, None], (1, size), (1, strides), padding, kind)[:, 0]
    sz = (size,) * 2 if isinstance(size, int) else size
    st = (strides,) * 2 if isinstance(strides, int) else strides
    pads = ref_pads(x.shape[1:3], sz, st, (1, 1), padding)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=np.nan)
    P = (xp.shape[1] - sz[0]) // st[0] + 1
    Q = (xp.shape[2] - sz[1]) // st[1] + 1
    taps = [
        xp[:, r : r + st[0] * (P - 1) + 1 : st[0], s : s + st[1] * (Q - 1) + 1 : st[1]]
        for r in range(sz[0])
        for s in range(sz[1])
    ]
    return (np.nanmax if kind == "max" else np.nanmean)(np.stack(taps), axis=0)


POOL_CASES = [
    ((2, 7, 3), 2, None, "valid"),
    ((1, 8, 2), 3, 2, "same"),
    ((1, 1, 1), 1, None, "valid"),
    ((2, 5, 6, 3), 2, None, "valid"),
    ((1, 7, 5, 2), (3, 2), (2, 1), "same"),
    ((1, 4, 4, 1), 3, 1, "same"),
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_pools(case):
    xs, size, st, pad = case
    eff = size if st is None else st

    def distinct(shapes, rng):  # well-separated values: max pooling's choice is unambiguous
        return [rng.permutation(np.prod(shapes[0])).reshape(shapes[0]) * 0.1]

    check_op(
        lambda x: ops.max_pool(x, size, strides=st, padding=pad),
        lambda x: ref_pool(x, size, eff, pad, "max"),
        [xs],
        make_inputs=distinct,
    )
    check_op(
        lambda x: ops.average_pool(x, size, strides=st, padding=pad),
        lambda x: ref_pool(x, size, eff, pad, "avg"),
        [xs],
    )


def test_pool_channels_first():
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 5))
    got = ops.max_pool(x, 2, data_format="channels_first")
    want = ref_pool(x.transpose(0, 2, 3, 1), 2, 2, "valid", "max").transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got.numpy(), want)


# ------------------------------------------------------------------------------- attention
def ref_attention(q, k, v, bias=None, mask=None, scale=None, causal=False, cap=None):
    B, T, N, H = q.shape
    G = N // k.shape[2]
    k, v = np.repeat(k, G, axis=2), np.repeat(v, G, axis=2)
    scale = 1 / np.sqrt(H) if scale is None else scale
    logits = np.einsum("btnh,bsnh->bnts", q, k) * scale
    if cap is not None:
        logits = cap * np.tanh(logits / cap)
    if bias is not None:
        logits = logits + bias
    keep = np.ones(logits.shape, bool)
    if mask is not None:
        keep &= mask
    if causal:
        keep &= np.tril(np.ones(logits.shape[-2:], bool))
    logits = np.where(keep, logits, -np.inf)
    m = np.max(logits, -1, keepdims=True)
    e = np.where(keep, np.exp(logits - np.where(np.isfinite(m), m, 0)), 0.0)
    s = e.sum(-1, keepdims=True)
    p = np.where(s > 0, e / np.where(s > 0, s, 1), 0.0)
    return np.einsum("bnts,bsnh->btnh", p, v)


@pytest.mark.parametrize(
    "T,S,N,K,H,causal",
    [(3, 3, 2, 2, 4, False), (1, 5, 4, 2, 3, True), (4, 2, 3, 1, 2, True), (2, 3, 1, 1, 1, False)],
)
def test_dot_product_attention(T, S, N, K, H, causal):
    B = 2
    shapes = [((B, T, N, H), (B, S, K, H), (B, S, K, H))]
    check_op(
        lambda q, k, v: ops.dot_product_attention(q, k, v, is_causal=causal),
        lambda q, k, v: ref_attention(q, k, v, causal=causal),
        shapes,
        grad_max_size=100,
    )
    rng = np.random.default_rng(3)
    mask = rng.uniform(size=(B, 1, T, S)) > 0.3
    bias = rng.standard_normal((1, N, T, S))
    check_op(
        lambda q, k, v: ops.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=0.7),
        lambda q, k, v: ref_attention(q, k, v, bias, mask, 0.7),
        shapes,
        grad_max_size=100,
    )
    check_op(
        lambda q, k, v: ops.dot_product_attention(
            q, k, v, mask=mask, is_causal=causal, attn_logits_soft_cap=2.0
        ),
        lambda q, k, v: ref_attention(q, k, v, mask=mask, causal=causal, cap=2.0),
        shapes,
        grad_max_size=100,
    )


def test_psnr():
    def ref(a, b):
        return 20 * np.log10(2.0) - 10 * np.log10(np.mean((a - b) ** 2))

    check_op(lambda a, b: ops.psnr(a, b, 2.0), ref, [((7,), (7,)), ((3, 5), (3, 5)), ((1,), (1,))])
    # Keras's example: identical images give +inf
    assert ops.psnr(np.ones(3), np.ones(3), 1.0).numpy() == np.inf


# ------------------------------------------------------------------------------- bad input
BAD = [
    (lambda: ops.relu("a"), TypeError, "relu: x"),
    (lambda: ops.leaky_relu(np.ones(2), negative_slope="x"), TypeError, "negative_slope"),
    (lambda: ops.gelu(np.ones(2), approximate="tanh"), TypeError, "approximate"),
    (lambda: ops.soft_shrink(np.ones(2), threshold=-1.0), ValueError, "threshold"),
    (lambda: ops.squareplus(np.ones(2), b=-1), ValueError, "b must"),
    (lambda: ops.softmax(np.ones((2, 3)), axis=2), ValueError, "axis"),
    (lambda: ops.moments(np.ones(3), None), TypeError, "axes"),
    (lambda: ops.normalize(np.ones(3), epsilon=-1.0), ValueError, "epsilon"),
    (
        lambda: ops.batch_normalization(np.ones((2, 3)), np.ones(4), np.ones(3), 1),
        ValueError,
        "mean",
    ),
    (lambda: ops.layer_normalization(np.ones((2, 3)), gamma=np.ones(2)), ValueError, "gamma"),
    (lambda: ops.layer_normalization(np.ones((2, 3)), foo=1), TypeError, "foo"),
    (
        lambda: ops.categorical_crossentropy(np.ones((2, 3)), np.ones((2, 4))),
        ValueError,
        "target shape",
    ),
    (
        lambda: ops.sparse_categorical_crossentropy(np.zeros(3, np.int64), np.ones((2, 4))),
        ValueError,
        "target shape",
    ),
    (
        lambda: ops.sparse_categorical_crossentropy(np.array([0, 5]), np.ones((2, 4))),
        IndexError,  # [Note: index errors]
        "out of range",
    ),
    (lambda: ops.binary_crossentropy(np.ones(2), np.ones(3)), ValueError, "target shape"),
    (lambda: ops.multi_hot(np.ones(2), 3), TypeError, "integer"),
    (lambda: ops.multi_hot(np.ones(2, np.int64), None), TypeError, "num_classes"),
    (lambda: ops.conv(np.ones((1, 4, 4, 3)), np.ones((2, 2, 2, 4))), ValueError, "divide"),
    (lambda: ops.conv(np.ones((1, 4, 3)), np.ones((2, 2, 3, 4))), ValueError, "dimensions"),
    (lambda: ops.conv(np.ones((1, 2, 2, 2, 3)), np.ones((1, 1, 1, 3, 4))), ValueError, "3-D"),
    (
        lambda: ops.conv(np.ones((1, 4, 3)), np.ones((2, 3, 4)), padding="causal"),
        ValueError,
        "padding",
    ),
    (
        lambda: ops.conv(np.ones((1, 4, 3)), np.ones((2, 3, 4)), data_format="NHWC"),
        ValueError,
        "data_format",
    ),
    (
        lambda: ops.depthwise_conv(np.ones((1, 4, 3)), np.ones((2, 2, 4))),
        ValueError,
        "input channels",
    ),
    (
        lambda: ops.separable_conv(np.ones((1, 4, 3)), np.ones((2, 3, 1)), np.ones((2, 3, 4))),
        ValueError,
        "pointwise_kernel",
    ),
    (lambda: ops.max_pool(np.ones((1, 4)), 2), ValueError, "inputs must be"),
    (
        lambda: ops.dot_product_attention(
            np.ones((1, 2, 3)), np.ones((1, 2, 3)), np.ones((1, 2, 3))
        ),
        ValueError,
        "4-D",
    ),
    (
        lambda: ops.dot_product_attention(
            np.ones((1, 2, 3, 4)), np.ones((1, 2, 2, 4)), np.ones((1, 2, 2, 4))
        ),
        ValueError,
        "multiple",
    ),
    (
        lambda: ops.dot_product_attention(
            np.ones((1, 2, 2, 4)),
            np.ones((1, 2, 2, 4)),
            np.ones((1, 2, 2, 4)),
            mask=np.ones((2, 2)),
        ),
        TypeError,
        "boolean",
    ),
    (lambda: ops.psnr(np.ones(2), np.ones(3), 1.0), ValueError, "same shape"),
    (lambda: ops.psnr(np.ones(2), np.ones(2), 0.0), ValueError, "max_val"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input(i):
    call, exc, msg = BAD[i]
    with pytest.raises(exc, match=msg):
        call()


def test_nn_names_stay_out_of_the_top_level():
    # deepcore.<name> is PyTorch's namespace: Keras's nn ops (gelu's default differs from
    # PyTorch's) live in deepcore.ops only
    for name in ("relu", "gelu", "softmax", "conv", "max_pool", "moments"):
        assert not hasattr(dc, name)
        assert callable(getattr(ops, name))
