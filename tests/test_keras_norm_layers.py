"""GroupNormalization, UnitNormalization, GaussianDropout and AlphaDropout (Keras's): float64
NumPy references over shapes and axes, gradients, statistics of the noise, inference
behaviour, save/load and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import models
from deepcore import nn as layers
from deepcore.testing import gradcheck


def _group_norm_ref(x, groups, axis, eps, gamma, beta):
    xc = np.moveaxis(x, axis, 1)
    n, c = xc.shape[:2]
    r = xc.reshape(n, groups, -1)
    y = (r - r.mean(-1, keepdims=True)) / np.sqrt(r.var(-1, keepdims=True) + eps)
    y = y.reshape(xc.shape) * gamma.reshape(1, c, *[1] * (xc.ndim - 2))
    y = y + beta.reshape(1, c, *[1] * (xc.ndim - 2))
    return np.moveaxis(y, 1, axis)


@pytest.mark.parametrize(
    "shape, groups, axis",
    [
        ((2, 5, 4, 6), 3, -1),
        ((2, 6, 5, 4), 2, 1),
        ((3, 7, 4), 4, -1),
        ((1, 1, 1, 8), 8, -1),  # instance norm on a single pixel: all zeros + beta
        ((2, 3, 9), 1, -1),  # one group: layer norm over everything but the batch
        ((2, 0, 4), 2, -1),  # no positions
    ],
)
def test_group_norm_matches_numpy(shape, groups, axis):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape) * 3 + 1
    layer = layers.GroupNormalization(groups, axis=axis, epsilon=1e-3, dtype="float64")
    layer(x)
    c = shape[axis]
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    layer.set_weights([gamma, beta])
    got = layer(x).detach().numpy()
    if x.size:
        np.testing.assert_allclose(got, _group_norm_ref(x, groups, axis, 1e-3, gamma, beta),
                                   rtol=1e-10, atol=1e-12)  # fmt: skip
    assert got.shape == x.shape


def test_group_norm_gradients_and_constant_groups():
    x = np.random.default_rng(1).normal(size=(2, 3, 4))
    layer = layers.GroupNormalization(2, dtype="float64", gamma_initializer="random_normal")
    layer(x)
    gradcheck(lambda a: layer(a), [x])
    const = np.full((2, 3, 4), 3.3, np.float32)  # a constant group normalises to exactly 0
    y = layers.GroupNormalization(2, center=False, scale=False)(const).detach().numpy()
    assert (y == 0).all()


def test_unit_normalization():
    x = np.random.default_rng(2).normal(size=(3, 4, 5))
    for axis in (-1, 1, [1, 2]):
        y = layers.UnitNormalization(axis=axis, dtype="float64")(x).detach().numpy()
        ax = tuple(axis) if isinstance(axis, list) else axis
        np.testing.assert_allclose(y, x / np.sqrt((x * x).sum(axis=ax, keepdims=True)), 1e-12)
    z = layers.UnitNormalization(dtype="float64")(np.zeros((2, 3))).detach().numpy()
    assert (z == 0).all()  # no division by zero
    gradcheck(lambda a: layers.UnitNormalization(dtype="float64")(a), [x[0]])


def test_gaussian_dropout_statistics():
    x = np.ones((400, 500), np.float32)
    layer = layers.GaussianDropout(0.2)
    y = layer(x, training=True).detach().numpy()
    assert abs(y.mean() - 1) < 0.01 and abs(y.std() - (0.2 / 0.8) ** 0.5) < 0.01
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)


def test_alpha_dropout_keeps_selu_statistics():
    x = np.random.default_rng(3).normal(size=(400, 500))
    layer = layers.AlphaDropout(0.25, dtype="float64")
    y = layer(x, training=True).detach().numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    # the dropped units hold one value; the kept ones are an affine map of x
    p, alpha_p = 0.25, -1.6732632423543772 * 1.0507009873554805
    a = ((1 - p) * (1 + p * alpha_p**2)) ** -0.5
    b = -a * alpha_p * p
    dropped = np.isclose(y, a * alpha_p + b)
    assert abs(dropped.mean() - 0.25) < 0.01
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-12)
    shared = layers.AlphaDropout(0.5, noise_shape=(None, 1))(np.ones((50, 7)), training=True)
    v = shared.detach().numpy()
    assert (v == v[:, :1]).all()


def test_new_layers_in_a_saved_model(tmp_path):
    model = models.Sequential(
        [
            layers.Input(shape=(6, 6, 4)),
            layers.GroupNormalization(2),
            layers.GaussianDropout(0.1),
            layers.Flatten(),
            layers.AlphaDropout(0.1),
            layers.UnitNormalization(),
            layers.Dense(2),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    x = np.random.rand(8, 6, 6, 4).astype("float32")
    model.fit(x, np.random.rand(8, 2).astype("float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.deepcore")
    back = models.load_model(tmp_path / "m.deepcore")
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), 1e-6)


@pytest.mark.parametrize(
    "make, call, exc, match",
    [
        (lambda: layers.GroupNormalization(0), None, ValueError, "groups"),
        (lambda: layers.GroupNormalization(4), np.zeros((2, 3, 6)), ValueError, "multiple"),
        (lambda: layers.GroupNormalization(2, axis=5), np.zeros((2, 3, 4)), ValueError, "axis"),
        (lambda: layers.GroupNormalization(2, epsilon=0), None, ValueError, "epsilon"),
        (lambda: layers.UnitNormalization(axis="x"), None, TypeError, "axis"),
        (lambda: layers.UnitNormalization(axis=3), np.zeros((2, 3)), ValueError, "axis"),
        (lambda: layers.GaussianDropout(1.0), None, ValueError, "rate"),
        (lambda: layers.AlphaDropout(-0.1), None, ValueError, "rate"),
    ],
)
def test_bad_input(make, call, exc, match):
    with pytest.raises(exc, match=match):
        layer = make()
        layer(call)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_3d_drops_whole_volumes(data_format):
    x = np.ones((64, 3, 4, 5, 6), np.float32)
    layer = layers.SpatialDropout3D(0.5, data_format=data_format)
    y = layer(x, training=True).detach().numpy()
    ch = y.reshape(64, -1, 6) if data_format == "channels_last" else np.moveaxis(y, 1, -1)
    vol = ch.reshape(64, -1, ch.shape[-1])
    assert (vol == vol[:, :1]).all()  # one draw per (sample, channel)
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.35 < (y == 0).mean() < 0.65
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    with pytest.raises(ValueError):
        layer(np.ones((2, 3, 4, 5), np.float32), training=True)
