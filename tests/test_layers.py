"""deepcore.nn layers: a Keras-run_layer_test-like helper over every layer, plus per-layer
numerics against NumPy float64 references, train/eval behaviour, the channels-last plan and
bad inputs."""

from __future__ import annotations

import json

import deepcore as dc
import deepcore.nn as nn
import numpy as np
import pytest
from deepcore.nn import functional as F


def as_np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy() if isinstance(t, dc.Tensor) else t)


def build_chain(layers, input_shape):
    """Build layers in sequence from a (None, ...) shape; returns the output shapes."""
    shape = (None, *input_shape)
    shapes = []
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
        shapes.append(shape)
    return shapes


def config_round_trip(layer):
    cfg = json.loads(json.dumps(nn.serialize(layer)))
    clone = nn.deserialize(cfg)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    return clone


def run_layer_test(layer_cls, kwargs, input_shape, expected_output_shape, expected_params,
                   dtype=np.float32, call=True, train=True, seed=0):  # fmt: skip
    """Keras run_layer_test: params, config round trip, forward shape = compute_output_shape,
    state_dict round trip through a clone, and one SGD step that reduces a loss."""
    dc.manual_seed(seed)
    layer = layer_cls(**kwargs)
    batch_shape = (None, *input_shape[1:])
    layer.build(batch_shape)
    assert layer.built
    assert layer.count_params() == expected_params
    assert tuple(layer.compute_output_shape(batch_shape)) == tuple(expected_output_shape)
    clone = config_round_trip(layer)
    if not call:
        return layer
    rng = np.random.default_rng(seed)
    x = dc.tensor(rng.standard_normal(input_shape).astype(dtype))
    y = layer(x)
    assert y.shape == (input_shape[0], *expected_output_shape[1:])
    assert np.all(np.isfinite(as_np(y)))
    # the clone, given the same weights, computes the same
    clone.build(batch_shape)
    clone.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(as_np(clone(x)), as_np(y), rtol=1e-6, atol=1e-6)
    params = list(layer.parameters())
    if train and params:
        target = dc.tensor(rng.standard_normal(y.shape).astype(dtype))

        def loss_fn():
            d = layer(x) - target
            return (d * d).mean()

        loss0 = loss_fn()
        loss0.backward()
        assert all(p.grad is not None and p.grad.shape == p.shape for p in params)
        with dc.no_grad():
            for p in params:
                p.data -= 1e-2 * p.grad.data
        layer.zero_grad()
        assert loss_fn().item() < loss0.item()
    return layer


# ---------------------------------------------------------------------- parameter counts


def test_seed_convnet_parameter_counts():
    """SPEC: the seed Keras convnet reports 93,322 parameters, its conv part 55,744."""
    layers = [
        nn.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        nn.MaxPooling2D((2, 2)),
        nn.Conv2D(64, (3, 3), activation="relu"),
        nn.MaxPooling2D((2, 2)),
        nn.Conv2D(64, (3, 3), activation="relu"),
        nn.Flatten(),
        nn.Dense(64, activation="relu"),
        nn.Dense(10, activation="softmax"),
    ]
    shapes = build_chain(layers, layers[0].input_shape_arg)
    assert shapes == [
        (None, 26, 26, 32),
        (None, 13, 13, 32),
        (None, 11, 11, 64),
        (None, 5, 5, 64),
        (None, 3, 3, 64),
        (None, 576),
        (None, 64),
        (None, 10),
    ]
    counts = [layer.count_params() for layer in layers]
    assert counts == [320, 0, 18496, 0, 36928, 0, 36928, 650]
    assert sum(counts) == 93322 and sum(counts[:5]) == 55744


@pytest.mark.parametrize(
    "layer,input_shape,out_shape,params",
    [
        (lambda: nn.Dense(64), (None, 576), (None, 64), 36928),
        (lambda: nn.Dense(3, use_bias=False), (None, 5, 7), (None, 5, 3), 21),
        (lambda: nn.Conv2D(8, 3, padding="same"), (None, 9, 9, 3), (None, 9, 9, 8), 224),
        (lambda: nn.Conv2D(8, 3, strides=2, padding="same"), (None, 9, 8, 2), (None, 5, 4, 8), 152),
        (lambda: nn.Conv2D(8, (3, 5), padding="full"), (None, 4, 4, 2), (None, 6, 8, 8), 248),
        (
            lambda: nn.Conv2D(6, 3, groups=3, data_format="channels_first"),
            (None, 3, 7, 7),
            (None, 6, 5, 5),
            60,
        ),
        (lambda: nn.Conv2D(4, 3, dilation_rate=2), (None, 9, 9, 1), (None, 5, 5, 4), 40),
        (lambda: nn.Conv1D(5, 3), (None, 10, 4), (None, 8, 5), 65),
        (lambda: nn.Conv1D(5, 3, padding="causal"), (None, 10, 4), (None, 10, 5), 65),
        (lambda: nn.Conv1D(5, 4, strides=3, padding="same"), (None, 10, 4), (None, 4, 5), 85),
        (lambda: nn.MaxPooling2D(), (None, 7, 7, 3), (None, 3, 3, 3), 0),
        (lambda: nn.MaxPooling2D(padding="same"), (None, 7, 7, 3), (None, 4, 4, 3), 0),
        (
            lambda: nn.AveragePooling2D(3, 2, data_format="channels_first"),
            (None, 2, 9, 9),
            (None, 2, 4, 4),
            0,
        ),
        (lambda: nn.MaxPooling1D(3), (None, 10, 2), (None, 3, 2), 0),
        (lambda: nn.AveragePooling1D(2, padding="same"), (None, 5, 2), (None, 3, 2), 0),
        (lambda: nn.GlobalAveragePooling2D(), (None, 5, 5, 7), (None, 7), 0),
        (lambda: nn.GlobalAveragePooling2D(keepdims=True), (None, 5, 5, 7), (None, 1, 1, 7), 0),
        (
            lambda: nn.GlobalMaxPooling2D(data_format="channels_first"),
            (None, 7, 5, 5),
            (None, 7),
            0,
        ),
        (lambda: nn.GlobalAveragePooling1D(), (None, 5, 7), (None, 7), 0),
        (lambda: nn.Flatten(), (None, 3, 3, 64), (None, 576), 0),
        (lambda: nn.Reshape((-1, 4)), (None, 3, 8), (None, 6, 4), 0),
        (lambda: nn.Permute((2, 1)), (None, 3, 8), (None, 8, 3), 0),
        (lambda: nn.Dropout(0.5), (None, 3, 8), (None, 3, 8), 0),
        (lambda: nn.Activation("tanh"), (None, 3), (None, 3), 0),
        (lambda: nn.BatchNormalization(), (None, 5, 5, 16), (None, 5, 5, 16), 64),
        (lambda: nn.BatchNormalization(axis=1), (None, 16, 5, 5), (None, 16, 5, 5), 64),
        (lambda: nn.LayerNormalization(), (None, 6, 10), (None, 6, 10), 20),
        (lambda: nn.Embedding(100, 8), (None, 12), (None, 12, 8), 800),
        (lambda: nn.PReLU(), (None, 4, 4, 3), (None, 4, 4, 3), 48),
        (lambda: nn.PReLU(shared_axes=[1, 2]), (None, 4, 4, 3), (None, 4, 4, 3), 3),
        (lambda: nn.Maxout(5, 3), (None, 7), (None, 5), 120),
        (lambda: nn.ZeroPadding2D(((1, 2), (0, 3))), (None, 4, 4, 3), (None, 7, 7, 3), 0),
        (
            lambda: nn.ZeroPadding2D(1, data_format="channels_first"),
            (None, 3, 4, 4),
            (None, 3, 6, 6),
            0,
        ),
    ],
)
def test_shapes_params_config(layer, input_shape, out_shape, params):
    lay = layer()
    lay.build(input_shape)
    assert lay.count_params() == params
    assert tuple(lay.compute_output_shape(input_shape)) == out_shape
    config_round_trip(lay)


def test_merge_shapes():
    assert nn.Add().compute_output_shape([(None, 4, 4, 3), (None, 4, 4, 3)]) == (None, 4, 4, 3)
    assert nn.Concatenate().compute_output_shape([(None, 4, 4, 3), (None, 4, 4, 5)]) == (
        None, 4, 4, 8)  # fmt: skip
    assert nn.Concatenate(axis=1).compute_output_shape([(None, 2, 3), (None, 4, 3)]) == (
        None, 6, 3)  # fmt: skip
    with pytest.raises(ValueError, match="Concatenate .* match except"):
        nn.Concatenate().compute_output_shape([(None, 4, 3), (None, 5, 3)])
    with pytest.raises(ValueError, match="incompatible shapes"):
        nn.Add().compute_output_shape([(None, 4), (None, 5)])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        nn.Add().compute_output_shape([(None, 4)])


def test_config_contents():
    d = nn.Dense(3, activation="relu", kernel_initializer="he_normal",
                 kernel_regularizer=nn.regularizers.L2(1e-4), name="fc")  # fmt: skip
    cfg = d.get_config()
    assert cfg["activation"] == "relu" and cfg["kernel_initializer"] == "he_normal"
    assert cfg["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 1e-4}}
    c = nn.Conv2D(4, 3, strides=(2, 1), padding="same", data_format="channels_first")
    cfg = c.get_config()
    assert cfg["kernel_size"] == [3, 3] and cfg["strides"] == [2, 1]
    assert cfg["data_format"] == "channels_first"
    with pytest.raises(ValueError, match="cannot serialise activation"):
        nn.Dense(3, activation=lambda x: x).get_config()


# ---------------------------------------------------------------------- bad arguments / inputs


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="units"):
        nn.Dense(0)
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2D(3, 3, padding="sane")
    with pytest.raises(ValueError, match="data_format"):
        nn.Conv2D(3, 3, data_format="nhwc")
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2D(3, (3, 3, 3))
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match="causal"):
        nn.Conv2D(3, 3, padding="causal")
    with pytest.raises(ValueError, match="rate"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        nn.Dense(3, activation="relux")
    with pytest.raises(ValueError, match="unknown initializer"):
        nn.Dense(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="trailing"):
        nn.LayerNormalization(axis=1).build((None, 3, 4))


def test_bad_build_shapes_name_the_layer():
    with pytest.raises(ValueError, match=r"Conv2D 'c1' expects inputs of rank 4"):
        nn.Conv2D(3, 3, name="c1").build((None, 28, 28))
    with pytest.raises(ValueError, match=r"Conv2D 'c2'.*divisible by groups"):
        nn.Conv2D(4, 3, groups=2, name="c2").build((None, 8, 8, 3))
    with pytest.raises(ValueError, match=r"Dense 'd1'"):
        nn.Dense(3, name="d1").build((None,))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn'.*axis 3"):
        nn.BatchNormalization(axis=3, name="bn").build((None, 4, 5))


def test_wrong_channels_after_build_names_the_layer():
    c = nn.Conv2D(3, 3, name="conv_a")
    c.build((None, 8, 8, 2))
    with pytest.raises(ValueError, match=r"layer 'conv_a' \(Conv2D\).*axis -1 of size 2, found 5"):
        c(dc.tensor(np.zeros((1, 8, 8, 5), np.float32)))
    with pytest.raises(ValueError, match=r"layer 'conv_a'.*expected ndim=4, found ndim=3"):
        c(dc.tensor(np.zeros((1, 8, 8), np.float32)))
    d = nn.Dense(3, name="dense_a")
    d.build((None, 6))
    with pytest.raises(ValueError, match=r"layer 'dense_a'.*axis -1 of size 6, found 7"):
        d(dc.tensor(np.zeros((2, 7), np.float32)))


# ---------------------------------------------------------------------- NumPy references


def ref_conv_nchw(x, w, b, stride, pads, dilation=(1, 1), groups=1):
    """Cross-correlation in float64; pads = ((top, bottom), (left, right))."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), *pads))
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    dh, dw = dilation
    sh, sw = stride
    p = (h - (r - 1) * dh - 1) // sh + 1
    q = (wd - (s - 1) * dw - 1) // sw + 1
    y = np.zeros((n, k, p, q))
    kg = k // groups
    for g in range(groups):
        xs = x[:, g * cg : (g + 1) * cg]
        for i in range(r):
            for j in range(s):
                patch = xs[:, :, i * dh : i * dh + sh * p : sh, j * dw : j * dw + sw * q : sw]
                y[:, g * kg : (g + 1) * kg] += np.einsum(
                    "nchw,kc->nkhw", patch, w[g * kg : (g + 1) * kg, :, i, j]
                )
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def tf_same(n, k, s, d=1):
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def ref_pool_nchw(x, k, s, pads, kind):
    """Max / average pooling; padded cells never win a max and are not counted in a mean."""
    x = x.astype(np.float64)
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=np.nan)
    p = (xp.shape[2] - k[0]) // s[0] + 1
    q = (xp.shape[3] - k[1]) // s[1] + 1
    y = np.zeros((n, c, p, q))
    for i in range(p):
        for j in range(q):
            win = xp[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
            y[:, :, i, j] = np.nanmax(win, axis=(2, 3)) if kind == "max" else np.nanmean(
                win, axis=(2, 3))  # fmt: skip
    return y


def nhwc(a):
    return np.moveaxis(a, 1, -1)


def nchw(a):
    return np.moveaxis(a, -1, 1)


def tensor64(shape, seed=0, low=-1.0, high=1.0):
    return dc.tensor(np.random.default_rng(seed).uniform(low, high, shape))


def _swap_weights(layer, names, tensors):
    """Make layer use ``tensors`` (gradcheck's copies) for the named weights."""
    for n, t in zip(names, tensors):
        object.__setattr__(layer, n, t)


def gradcheck_layer(layer, x, names, **kw):
    """Finite-difference check of d(layer(x))/d(x, weights) in float64."""
    layer.double()
    ws = [getattr(layer, n) for n in names]

    def fn(xx, *ts):
        _swap_weights(layer, names, ts)
        return layer(xx)

    try:
        gradcheck(fn, [x, *ws], **kw)
    finally:
        _swap_weights(layer, names, ws)


from deepcore.testing import gradcheck  # noqa: E402

# ---------------------------------------------------------------------- Dense / Maxout


def test_dense_numerics_and_layer_test():
    d = run_layer_test(nn.Dense, {"units": 4, "activation": "relu"}, (5, 3), (None, 4), 16)
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    ref = np.maximum(x @ d.kernel.numpy() + d.bias.numpy(), 0)
    np.testing.assert_allclose(as_np(d(dc.tensor(x))), ref, rtol=1e-5, atol=1e-6)
    # rank-3 input: applied to the last axis
    x3 = np.random.default_rng(2).standard_normal((2, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        as_np(d(dc.tensor(x3))), np.maximum(x3 @ d.kernel.numpy() + d.bias.numpy(), 0),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def test_dense_gradcheck():
    d = nn.Dense(3, activation="tanh")
    d.build((None, 4))
    gradcheck_layer(d, tensor64((2, 4)), ["kernel", "bias"])


def test_maxout_numerics():
    m = run_layer_test(nn.Maxout, {"units": 3, "pieces": 2}, (4, 5), (None, 3), 36)
    x = np.random.default_rng(3).standard_normal((4, 5))
    z = x @ m.kernel.numpy().astype(np.float64) + m.bias.numpy()
    ref = z.reshape(4, 3, 2).max(axis=-1)
    np.testing.assert_allclose(as_np(m(dc.tensor(x.astype(np.float32)))), ref, rtol=1e-5, atol=1e-5)
    m2 = nn.Maxout(2, 3)
    m2.build((None, 3))
    gradcheck_layer(m2, tensor64((2, 3)), ["kernel", "bias"])


# ---------------------------------------------------------------------- convolution


_CONV_CASES = [
    # kwargs, input NHWC shape
    ({"filters": 4, "kernel_size": 3}, (2, 7, 6, 3)),
    ({"filters": 4, "kernel_size": 3, "padding": "same"}, (2, 7, 6, 3)),
    ({"filters": 4, "kernel_size": (2, 3), "strides": 2, "padding": "same"}, (2, 7, 8, 2)),
    ({"filters": 3, "kernel_size": 2, "padding": "full"}, (1, 4, 5, 2)),
    ({"filters": 4, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (1, 8, 7, 2)),
    ({"filters": 4, "kernel_size": 3, "groups": 2}, (2, 6, 6, 4)),
    ({"filters": 2, "kernel_size": 1, "use_bias": False}, (3, 1, 1, 5)),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kwargs,shape", _CONV_CASES)
def test_conv2d_numerics(kwargs, shape, data_format):
    dc.manual_seed(5)
    layer = nn.Conv2D(data_format=data_format, **kwargs)
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    xin = x if data_format == "channels_last" else nchw(x)
    y = as_np(layer(dc.tensor(np.ascontiguousarray(xin))))
    k, s, d = layer.kernel_size, layer.strides, layer.dilation_rate
    pad = layer.padding
    if pad == "same":
        pads = [tf_same(n, kk, ss, dd) for n, kk, ss, dd in zip(shape[1:3], k, s, d)]
    elif pad == "full":
        pads = [((kk - 1) * dd,) * 2 for kk, dd in zip(k, d)]
    else:
        pads = [(0, 0), (0, 0)]
    b = None if layer.bias is None else layer.bias.numpy()
    ref = ref_conv_nchw(nchw(x), layer.kernel.numpy(), b, s, pads, d, layer.groups)
    if data_format == "channels_last":
        ref = nhwc(ref)
    assert y.shape == tuple(layer.compute_output_shape((shape[0], *xin.shape[1:])))
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_conv2d_layer_test_and_gradcheck():
    run_layer_test(nn.Conv2D, {"filters": 3, "kernel_size": 3, "activation": "relu"},
                   (2, 6, 6, 2), (None, 4, 4, 3), 57)  # fmt: skip
    c = nn.Conv2D(2, 3, strides=2, padding="same")
    c.build((None, 5, 4, 2))
    gradcheck_layer(c, tensor64((1, 5, 4, 2)), ["kernel", "bias"])


@pytest.mark.parametrize("padding", ["valid", "same", "causal", "full"])
def test_conv1d_numerics(padding):
    dc.manual_seed(7)
    layer = nn.Conv1D(3, 3, padding=padding, dilation_rate=2 if padding == "causal" else 1)
    x = np.random.default_rng(8).standard_normal((2, 9, 2)).astype(np.float32)
    y = as_np(layer(dc.tensor(x)))
    k, d = 3, layer.dilation_rate[0]
    pads = {"valid": (0, 0), "same": tf_same(9, k, 1, d), "causal": ((k - 1) * d, 0),
            "full": ((k - 1) * d, (k - 1) * d)}[padding]  # fmt: skip
    ref = ref_conv_nchw(
        nchw(x)[:, :, None, :], layer.kernel.numpy()[:, :, None, :], layer.bias.numpy(),
        (1, 1), [(0, 0), pads], (1, d),
    )[:, :, 0, :]  # fmt: skip
    np.testing.assert_allclose(y, nhwc(ref), rtol=1e-4, atol=1e-5)
    assert y.shape == layer.compute_output_shape((2, 9, 2))
    if padding == "causal":  # output t depends on inputs <= t only
        x2 = x.copy()
        x2[:, 5:] += 10.0
        np.testing.assert_allclose(as_np(layer(dc.tensor(x2)))[:, :5], y[:, :5], rtol=1e-5)


# ---------------------------------------------------------------------- pooling


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    "pool,strides,padding,shape",
    [
        (2, None, "valid", (2, 7, 7, 3)),
        (2, None, "same", (2, 7, 5, 3)),
        (3, 2, "same", (1, 8, 9, 2)),
        ((3, 2), (1, 2), "valid", (2, 5, 6, 1)),
        (3, 1, "same", (1, 4, 4, 2)),
    ],
)
def test_pool2d_numerics(kind, pool, strides, padding, shape):
    cls = nn.MaxPooling2D if kind == "max" else nn.AveragePooling2D
    layer = cls(pool, strides, padding)
    x = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    y = as_np(layer(dc.tensor(x)))
    k, s = layer.pool_size, layer.strides
    pads = (
        [tf_same(n, kk, ss) for n, kk, ss in zip(shape[1:3], k, s)]
        if padding == "same" else [(0, 0), (0, 0)]
    )  # fmt: skip
    ref = nhwc(ref_pool_nchw(nchw(x), k, s, pads, kind))
    assert y.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    gradcheck_layer(cls(pool, strides, padding), tensor64((1, *shape[1:3], 1), seed=3), [])


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pool1d_numerics(kind, padding):
    cls = nn.MaxPooling1D if kind == "max" else nn.AveragePooling1D
    layer = cls(3, 2, padding)
    x = np.random.default_rng(10).standard_normal((2, 8, 3)).astype(np.float32)
    y = as_np(layer(dc.tensor(x)))
    pads = tf_same(8, 3, 2) if padding == "same" else (0, 0)
    ref = ref_pool_nchw(nchw(x)[:, :, None, :], (1, 3), (1, 2), [(0, 0), pads], kind)[:, :, 0]
    np.testing.assert_allclose(y, nhwc(ref), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling(data_format):
    x = np.random.default_rng(11).standard_normal((2, 3, 4, 5)).astype(np.float32)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    for cls, fn in [(nn.GlobalAveragePooling2D, np.mean), (nn.GlobalMaxPooling2D, np.max)]:
        y = as_np(cls(data_format=data_format)(dc.tensor(x)))
        np.testing.assert_allclose(y, fn(x, axis=axes), rtol=1e-5, atol=1e-6)
        yk = as_np(cls(data_format=data_format, keepdims=True)(dc.tensor(x)))
        np.testing.assert_allclose(yk, fn(x, axis=axes, keepdims=True), rtol=1e-5, atol=1e-6)
    x1 = x[:, 0]
    np.testing.assert_allclose(
        as_np(nn.GlobalAveragePooling1D()(dc.tensor(x1))), x1.mean(axis=1), rtol=1e-6
    )
    gradcheck_layer(nn.GlobalAveragePooling2D(data_format=data_format), tensor64((2, 3, 2, 2)), [])


# ---------------------------------------------------------------------- reshaping / merge


def test_reshaping_layers():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(as_np(nn.Flatten()(dc.tensor(x))), x.reshape(2, -1))
    # channels_first Flatten flattens in channels-last order (Keras)
    np.testing.assert_array_equal(
        as_np(nn.Flatten(data_format="channels_first")(dc.tensor(x))),
        np.moveaxis(x, 1, -1).reshape(2, -1),
    )
    np.testing.assert_array_equal(as_np(nn.Reshape((4, -1))(dc.tensor(x))), x.reshape(2, 4, 15))
    np.testing.assert_array_equal(
        as_np(nn.Permute((3, 1, 2))(dc.tensor(x))), x.transpose(0, 3, 1, 2)
    )
    zp = as_np(nn.ZeroPadding2D(((1, 0), (2, 1)))(dc.tensor(x)))
    np.testing.assert_array_equal(zp, np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0))))
    zp1 = as_np(nn.ZeroPadding1D((2, 1))(dc.tensor(x[0])))
    np.testing.assert_array_equal(zp1, np.pad(x[0], ((0, 0), (2, 1), (0, 0))))
    with pytest.raises(ValueError, match=r"Reshape 'r1'.*60 values.*\(7, -1\)|Reshape 'r1'"):
        nn.Reshape((7, -1), name="r1")(dc.tensor(x))
    gradcheck_layer(nn.ZeroPadding2D(1), tensor64((1, 2, 2, 1)), [])
    gradcheck_layer(nn.Flatten(data_format="channels_first"), tensor64((2, 2, 1, 3)), [])


def test_merge_layers():
    rng = np.random.default_rng(12)
    a, b, c = (rng.standard_normal((2, 3, 4)).astype(np.float32) for _ in range(3))
    ta, tb, tc = dc.tensor(a), dc.tensor(b), dc.tensor(c)
    np.testing.assert_allclose(as_np(nn.Add()([ta, tb, tc])), a + b + c, rtol=1e-6)
    np.testing.assert_allclose(as_np(nn.Subtract()([ta, tb])), a - b, rtol=1e-6)
    np.testing.assert_allclose(as_np(nn.Multiply()([ta, tb])), a * b, rtol=1e-6)
    np.testing.assert_allclose(as_np(nn.Average()([ta, tb])), (a + b) / 2, rtol=1e-6)
    np.testing.assert_allclose(as_np(nn.Maximum()([ta, tb])), np.maximum(a, b), rtol=1e-6)
    np.testing.assert_allclose(as_np(nn.Minimum()([ta, tb])), np.minimum(a, b), rtol=1e-6)
    np.testing.assert_array_equal(
        as_np(nn.Concatenate()([ta, tb[:, :, :2]])), np.concatenate([a, b[:, :, :2]], -1)
    )
    np.testing.assert_array_equal(
        as_np(nn.Concatenate(axis=1)([ta, tb])), np.concatenate([a, b], 1)
    )
    with pytest.raises(ValueError, match=r"Add 'add_x'.*incompatible"):
        nn.Add(name="add_x")([ta, dc.tensor(np.zeros((2, 3, 5), np.float32))])
    with pytest.raises(ValueError, match="list of tensors"):
        nn.Add()(ta)
    x, y = tensor64((2, 3)), tensor64((2, 3), seed=1)
    gradcheck(lambda p, q: nn.Concatenate(dtype="float64")([p, q]), [x, y])
    gradcheck(lambda p, q: nn.Add(dtype="float64")([p, q]), [x, y])


# ---------------------------------------------------------------------- Embedding / PReLU


def test_embedding():
    e = nn.Embedding(10, 4)
    idx = np.array([[1, 2, 1], [9, 0, 1]])
    y = e(dc.tensor(idx))
    assert y.shape == (2, 3, 4) == e.compute_output_shape((2, 3)) and e.count_params() == 40
    np.testing.assert_array_equal(as_np(y), e.embeddings.numpy()[idx])
    (y * 1.0).sum().backward()
    counts = np.bincount(idx.ravel(), minlength=10)[:, None] * np.ones((1, 4))
    np.testing.assert_array_equal(e.embeddings.grad.numpy(), counts)  # repeats accumulate
    with pytest.raises(IndexError, match=r"Embedding 'embedding.*out of range"):
        e(dc.tensor(np.array([[10]])))
    with pytest.raises(TypeError, match="integer indices"):
        e(dc.tensor(np.array([[0.5]])))
    assert e.embeddings.numpy().std() < 0.05  # Keras default: uniform(-0.05, 0.05)
    assert e.compute_mask(idx) is None  # masks: tests/test_masking.py


def test_prelu():
    p = nn.PReLU(alpha_initializer=nn.initializers.Constant(0.25), shared_axes=[1, 2])
    x = np.random.default_rng(13).standard_normal((2, 3, 3, 4)).astype(np.float32)
    y = as_np(p(dc.tensor(x)))
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.25 * x), rtol=1e-6)
    assert p.alpha.shape == (1, 1, 4)
    full = nn.PReLU(alpha_initializer="random_uniform")
    full.build((None, 3))
    xx = tensor64((2, 3))
    a = full.alpha.numpy().astype(np.float64)
    np.testing.assert_allclose(as_np(full.double()(xx)), np.where(xx.numpy() > 0, xx.numpy(),
                               a * xx.numpy()), rtol=1e-12)  # fmt: skip
    gradcheck_layer(full, xx, ["alpha"])
    run_layer_test(nn.PReLU, {"shared_axes": 1}, (3, 5, 2), (None, 5, 2), 2)


# ---------------------------------------------------------------------- activations


_ACT_REFS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": lambda x: (
        np.exp(x - x.max(-1, keepdims=True))
        / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)
    ),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
}


@pytest.mark.parametrize("name", sorted(_ACT_REFS))
def test_activation_layer(name):
    x = np.random.default_rng(14).uniform(-4, 4, (3, 5))
    layer = nn.Activation(name, dtype="float64")
    np.testing.assert_allclose(as_np(layer(dc.tensor(x))), _ACT_REFS[name](x), rtol=1e-6,
                               atol=1e-7)  # fmt: skip
    assert nn.deserialize(nn.serialize(layer)).get_config()["activation"] == name
    if name not in ("relu", "leaky_relu", "hard_sigmoid"):  # kinks: finite differences lie
        gradcheck(layer, [tensor64((2, 3), seed=4)])


# ---------------------------------------------------------------------- Dropout


def test_dropout_train_and_inference():
    dc.manual_seed(20)
    layer = nn.Dropout(0.3)
    x = dc.tensor(np.ones((100, 100), np.float32))
    y1, y2 = as_np(layer(x, training=True)), as_np(layer(x, training=True))
    for y in (y1, y2):
        zero = y == 0
        assert abs(zero.mean() - 0.3) < 0.03
        np.testing.assert_allclose(y[~zero], 1 / 0.7, rtol=1e-6)  # inverted scaling
    assert not np.array_equal(y1 == 0, y2 == 0)  # a new mask every batch
    np.testing.assert_array_equal(as_np(layer(x, training=False)), x.numpy())
    layer.eval()
    np.testing.assert_array_equal(as_np(layer(x)), x.numpy())
    layer.train()
    assert (as_np(layer(x)) == 0).any()  # Module default mode is training (PyTorch)
    # the gradient flows only through the kept units, scaled
    xg = dc.tensor(np.ones((50, 50), np.float32), requires_grad=True)
    out = layer(xg, training=True)
    out.sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), as_np(out), rtol=1e-6)


def test_dropout_noise_shape():
    dc.manual_seed(21)
    layer = nn.Dropout(0.5, noise_shape=(None, 1, 6))
    y = as_np(layer(dc.tensor(np.ones((4, 5, 6), np.float32)), training=True))
    assert np.all(y == y[:, :1, :])  # one mask shared along the time axis
    assert nn.deserialize(nn.serialize(layer)).noise_shape == (None, 1, 6)


# ---------------------------------------------------------------------- normalisation


def ref_bn(x, axis, gamma, beta, eps):
    axes = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    m, v = x.mean(axes), x.var(axes)
    y = (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps)
    return y * gamma.reshape(shape) + beta.reshape(shape), m, v


@pytest.mark.parametrize(
    "axis,shape", [(-1, (6, 4)), (-1, (3, 4, 5, 2)), (1, (3, 2, 4, 5)), (2, (2, 3, 4))]
)
def test_batch_normalization(axis, shape):
    bn = nn.BatchNormalization(axis=axis, momentum=0.9, epsilon=1e-3)
    x = np.random.default_rng(22).standard_normal(shape) * 3 + 1
    bn.build((None, *shape[1:]))
    bn.double()
    c = shape[axis]
    bn.gamma.data[...] = np.linspace(0.5, 1.5, c)
    bn.beta.data[...] = np.linspace(-1, 1, c)
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    ax = axis % len(shape)
    ref, m, v = ref_bn(x, ax, bn.gamma.numpy(), bn.beta.numpy(), 1e-3)
    y = as_np(bn(dc.tensor(x), training=True))
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-8)
    # Keras: moving = momentum·moving + (1 - momentum)·batch, the batch variance is biased
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * m, rtol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * v, rtol=1e-6)
    # inference uses the moving statistics and leaves them alone
    mm, mv = bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()
    shape_c = [1] * len(shape)
    shape_c[ax] = -1
    inf = (x - mm.reshape(shape_c)) / np.sqrt(mv.reshape(shape_c) + 1e-3)
    inf = inf * bn.gamma.numpy().reshape(shape_c) + bn.beta.numpy().reshape(shape_c)
    np.testing.assert_allclose(as_np(bn(dc.tensor(x), training=False)), inf, rtol=1e-6)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mm)
    # a frozen layer runs in inference mode even when training (Keras)
    bn.trainable = False
    np.testing.assert_allclose(as_np(bn(dc.tensor(x), training=True)), inf, rtol=1e-6)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mm)
    assert "moving_mean" in bn.state_dict() and "moving_variance" in bn.state_dict()


def test_batch_normalization_gradcheck_and_step():
    bn = nn.BatchNormalization()
    bn.build((None, 3, 2, 2))
    bn.train()
    gradcheck_layer(bn, tensor64((4, 3, 2, 2)), ["gamma", "beta"])
    run_layer_test(nn.BatchNormalization, {}, (8, 5), (None, 5), 20)


@pytest.mark.parametrize("axis,shape", [(-1, (4, 6)), (-1, (2, 3, 5)), ([-2, -1], (2, 3, 4))])
def test_layer_normalization(axis, shape):
    ln = nn.LayerNormalization(axis=axis)
    x = np.random.default_rng(23).standard_normal(shape) * 2 + 0.5
    ln.build((None, *shape[1:]))
    ln.double()
    ln.gamma.data[...] = np.random.default_rng(1).uniform(0.5, 1.5, ln.gamma.shape)
    ln.beta.data[...] = np.random.default_rng(2).uniform(-1, 1, ln.beta.shape)
    nax = 1 if isinstance(axis, int) else len(axis)
    axes = tuple(range(len(shape) - nax, len(shape)))
    m, v = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    ref = (x - m) / np.sqrt(v + 1e-3) * ln.gamma.numpy() + ln.beta.numpy()
    np.testing.assert_allclose(as_np(ln(dc.tensor(x))), ref, rtol=1e-6, atol=1e-8)
    gradcheck_layer(ln, tensor64((2, *shape[1:])), ["gamma", "beta"])


# ---------------------------------------------------------------------- channels-last plan


def _image_stack(fmt, dropout=0.3):
    cl = fmt == "channels_last"
    return [
        nn.Conv2D(4, 3, activation="relu", data_format=fmt),
        nn.BatchNormalization(axis=-1 if cl else 1),
        nn.Activation("relu"),
        nn.MaxPooling2D(data_format=fmt),
        nn.ZeroPadding2D(1, data_format=fmt),
        nn.Conv2D(5, 3, padding="same", data_format=fmt),
        nn.AveragePooling2D(padding="same", data_format=fmt),
        nn.Dropout(dropout),
        nn.Flatten(),
        nn.Dense(3),
    ]


def _run(layers, x, training):
    for layer in layers:
        x = layer(x, training=training)
    return x


def test_channels_last_plan_matches_channels_first():
    """[Note: channels-last]: a planned channels-last stack transposes twice (input, Flatten),
    computes what the standalone stack and a channels-first stack with permuted Dense weights
    compute, forward and backward."""
    dc.manual_seed(30)
    cl, planned, cf = _image_stack("channels_last"), _image_stack("channels_last"), _image_stack(
        "channels_first")  # fmt: skip
    build_chain(cl, (11, 11, 2))
    build_chain(planned, (11, 11, 2))
    build_chain(cf, (2, 11, 11))
    for a, b, c in zip(cl, planned, cf):
        b.set_weights(a.get_weights())
        if isinstance(a, nn.Dense):  # Flatten order (H, W, C) vs (C, H, W)
            k = a.kernel.numpy()
            c.set_weights([k.reshape(3, 3, 5, 3).transpose(2, 0, 1, 3).reshape(-1, 3),
                           a.bias.numpy()])  # fmt: skip
        else:
            c.set_weights(a.get_weights())
    assert nn.plan_channels_last(planned) > 0
    assert planned[0]._nchw_out and not planned[0]._nchw_in
    assert planned[-2]._nchw_in  # Flatten takes NCHW and flattens in NHWC order

    x = np.random.default_rng(31).standard_normal((2, 11, 11, 2)).astype(np.float32)
    calls = []
    orig = dc.Tensor.permute

    def counting(self, *axes):
        calls.append(axes)
        return orig(self, *axes)

    for training in (False, True):
        for layer in cl + planned + cf:
            if isinstance(layer, nn.Dropout):
                layer.rate = 0.0 if training else 0.3
        y_cl = _run(cl, dc.tensor(x), training)
        dc.Tensor.permute = counting
        try:
            calls.clear()
            y_pl = _run(planned, dc.tensor(x), training)
            n_planned = len(calls)
        finally:
            dc.Tensor.permute = orig
        y_cf = _run(cf, dc.tensor(np.ascontiguousarray(nchw(x))), training)
        assert n_planned == 2
        np.testing.assert_allclose(as_np(y_pl), as_np(y_cl), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(as_np(y_cf), as_np(y_cl), rtol=1e-4, atol=1e-5)
    # gradients agree too
    r = dc.tensor(np.random.default_rng(32).standard_normal((2, 3)).astype(np.float32))
    for layers in (planned, cf):
        (_run(layers, dc.tensor(x if layers is planned else np.ascontiguousarray(nchw(x))),
              True) * r).sum().backward()  # fmt: skip
    np.testing.assert_allclose(planned[0].kernel.grad.numpy(), cf[0].kernel.grad.numpy(),
                               rtol=1e-3, atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(planned[1].gamma.grad.numpy(), cf[1].gamma.grad.numpy(),
                               rtol=1e-3, atol=1e-5)  # fmt: skip
    # the plan can be undone: standalone again
    nn.reset_layout(planned)
    assert not any(getattr(layer, "_nchw_in", False) for layer in planned)
    for a, b in zip(cl, planned):  # (the training runs moved BN's statistics differently)
        b.set_weights(a.get_weights())
    y_eval = as_np(_run(cl, dc.tensor(x), False))
    np.testing.assert_allclose(as_np(_run(planned, dc.tensor(x), False)), y_eval, rtol=1e-4,
                               atol=1e-5)  # fmt: skip


def test_plan_roles():
    layers = [nn.Conv2D(2, 3), nn.Dense(3), nn.Conv2D(2, 3), nn.Activation("softmax"),
              nn.MaxPooling2D(), nn.GlobalAveragePooling2D()]  # fmt: skip
    build_chain(layers[:1], (8, 8, 1))
    nn.plan_channels_last(layers)
    # a Dense (any non-layout layer) ends a run: the conv before it converts back
    assert not layers[0]._nchw_out
    # softmax over the last axis is not elementwise: it ends the run too
    assert not layers[2]._nchw_out and not layers[4]._nchw_in
    assert layers[4]._nchw_out and layers[5]._nchw_in
    assert nn.layout_role(nn.Conv2D(2, 3, data_format="channels_first")) is None
    assert nn.layout_role(nn.Dropout(0.5)) == "elementwise"
    assert nn.layout_role(nn.Dropout(0.5, noise_shape=(None, 1))) is None


# ---------------------------------------------------------------------- end to end


def test_seed_convnet_trains():
    """A few SGD steps of a small channels-last convnet lower the cross-entropy."""
    dc.manual_seed(40)
    layers = [nn.Conv2D(4, 3, activation="relu"), nn.MaxPooling2D(), nn.Flatten(),
              nn.Dense(8, activation="relu"), nn.Dense(3)]  # fmt: skip
    build_chain(layers, (8, 8, 1))
    nn.plan_channels_last(layers)
    rng = np.random.default_rng(41)
    x = dc.tensor(rng.standard_normal((16, 8, 8, 1)).astype(np.float32))
    labels = rng.integers(0, 3, 16)
    onehot = np.eye(3, dtype=np.float32)[labels]

    def loss_fn():
        p = F.softmax(_run(layers, x, True), axis=-1)
        return -(dc.tensor(onehot) * (p + 1e-7).log()).sum() * (1.0 / 16)

    params = [p for layer in layers for p in layer.parameters()]
    first = None
    for _ in range(10):
        loss = loss_fn()
        first = loss.item() if first is None else first
        loss.backward()
        with dc.no_grad():
            for p in params:
                p.data -= 0.1 * p.grad.data
                p.grad = None
    assert loss_fn().item() < 0.8 * first


def test_time_distributed():
    td = nn.TimeDistributed(nn.Dense(4))
    x = np.random.default_rng(50).standard_normal((2, 5, 3)).astype(np.float32)
    y = td(dc.tensor(x))
    assert y.shape == (2, 5, 4) == td.compute_output_shape((2, 5, 3))
    k, b = td.layer.kernel.numpy(), td.layer.bias.numpy()
    np.testing.assert_allclose(as_np(y), x @ k + b, rtol=1e-5, atol=1e-6)
    assert [n for n, _ in td.named_parameters()] == ["layer.kernel", "layer.bias"]
    clone = config_round_trip(td)
    assert isinstance(clone.layer, nn.Dense) and clone.layer.units == 4
    assert td.count_params() == 16
    with pytest.raises(ValueError, match="TimeDistributed 'td'"):
        nn.TimeDistributed(nn.Dense(2), name="td").build((None, 3))


def test_time_distributed_flatten():
    x = np.arange(2 * 5 * 3 * 4, dtype=np.float32).reshape(2, 5, 3, 4)
    td = nn.TimeDistributed(nn.Flatten())
    np.testing.assert_array_equal(as_np(td(dc.tensor(x))), x.reshape(2, 5, 12))
    assert td.compute_output_shape((None, 5, 3, 4)) == (None, 5, 12)


# ---------------------------------------------------------------------- PyTorch parity

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


@requires_torch
def test_weights_interchange_with_pytorch():
    """Weights in PyTorch's layout load into torch.nn modules unchanged: same outputs, same
    gradients (train-mode BatchNorm, channels-first so the Flatten orders agree)."""
    dc.manual_seed(60)
    ours = [
        nn.Conv2D(4, 3, padding="same", data_format="channels_first"),
        nn.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5),
        nn.Activation("relu"),
        nn.MaxPooling2D(data_format="channels_first"),
        nn.Flatten(data_format="channels_last"),  # plain reshape of NCHW, like torch.flatten
        nn.Dense(5),
        nn.LayerNormalization(epsilon=1e-5),
    ]
    build_chain(ours, (2, 6, 6))
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4, momentum=0.1, eps=1e-5),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(36, 5),
        torch.nn.LayerNorm(5, eps=1e-5),
    ).double()
    ours_t = [m for m in theirs if any(True for _ in m.parameters())]
    with torch.no_grad():
        for a, b in zip([ours[0], ours[1], ours[5], ours[6]], ours_t):
            for (_, w), p in zip(a.named_parameters(), b.parameters()):
                arr = w.numpy().T if isinstance(a, nn.Dense) and w.ndim == 2 else w.numpy()
                p.copy_(torch.from_numpy(arr.astype(np.float64)))  # Dense kernel: (in, out)
    for layer in ours:
        layer.double()
    x = np.random.default_rng(61).standard_normal((3, 2, 6, 6))
    r = np.random.default_rng(62).standard_normal((3, 5))
    y = _run(ours, dc.tensor(x), True)
    (y * dc.tensor(r)).sum().backward()
    xt = torch.from_numpy(x)
    yt = theirs.train()(xt)
    (yt * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(as_np(y), yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    for a, b in zip([ours[0], ours[1], ours[5], ours[6]], ours_t):
        for (_, w), p in zip(a.named_parameters(), b.parameters()):
            g = w.grad.numpy().T if isinstance(a, nn.Dense) and w.ndim == 2 else w.grad.numpy()
            np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-8, atol=1e-10)
    # moving mean follows PyTorch's running mean (same momentum convention after conversion)
    np.testing.assert_allclose(ours[1].moving_mean.numpy(), theirs[1].running_mean.numpy(),
                               rtol=1e-9)  # fmt: skip
