"""Keras's depthwise / separable convolutions and image augmentation layers: values against
float64 NumPy references (conv_reference.np_conv; direct formulas for the warps), Keras's
weight layouts, gradients, save/load, inference behaviour and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from augment_reference import warp_reference
from conv_reference import np_conv
from deepcore import models
from deepcore import nn as layers
from deepcore.testing import gradcheck

# ---------------------------------------------------------------- depthwise / separable

DW_CASES = [
    # (rank, spatial, channels, kernel, strides, padding, dilation, depth_multiplier)
    (2, (7, 6), 3, 3, 1, "valid", 1, 1),
    (2, (9, 8), 4, (3, 2), 2, "same", 1, 2),
    (2, (5, 5), 1, 1, 1, "valid", 1, 3),
    (2, (8, 7), 2, 3, 1, "same", 2, 1),
    (1, (11,), 3, 3, 1, "causal", 1, 2),
    (1, (10,), 5, 4, 3, "valid", 1, 1),
    (1, (1,), 2, 1, 1, "same", 1, 2),
]


def _nchw(x, rank):
    return np.moveaxis(x, -1, 1)


def _nhwc(y):
    return np.moveaxis(y, 1, -1)


def _depthwise_ref(x, k_keras, b, strides, padding, dilation, rank):
    """float64: the grouped conv from Keras's (*k, C, dm) kernel."""
    c, dm = k_keras.shape[-2:]
    w = np.moveaxis(k_keras.reshape(*k_keras.shape[:-2], c * dm), -1, 0)[:, None]
    xc = _nchw(x, rank)
    if padding == "causal":
        left = (k_keras.shape[0] - 1) * dilation
        xc = np.pad(xc, [(0, 0), (0, 0), (left, 0)])
        padding = "valid"
    y, _ = np_conv(xc, w, b, strides, padding, dilation, c)
    return _nhwc(y)


@pytest.mark.parametrize("case", DW_CASES)
def test_depthwise_matches_the_grouped_conv_reference(case):
    rank, spatial, c, k, s, pad, dil, dm = case
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *spatial, c))
    cls = layers.DepthwiseConv2D if rank == 2 else layers.DepthwiseConv1D
    layer = cls(k, strides=s, padding=pad, dilation_rate=dil, depth_multiplier=dm, dtype="float64")
    y = layer(x)
    kk, b = layer.get_weights()
    ks = (k,) * rank if isinstance(k, int) else k
    assert kk.shape == (*ks, c, dm) and b.shape == (c * dm,)  # Keras's layout
    b = rng.normal(size=b.shape)
    layer.set_weights([kk, b])
    want = _depthwise_ref(x, kk, b, s, pad, dil, rank)
    np.testing.assert_allclose(layer(x).detach().numpy(), want, rtol=1e-10, atol=1e-12)
    assert y.shape == layer.compute_output_shape(x.shape)


@pytest.mark.parametrize("case", DW_CASES)
def test_separable_is_depthwise_then_pointwise(case):
    rank, spatial, c, k, s, pad, dil, dm = case
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, *spatial, c))
    cls = layers.SeparableConv2D if rank == 2 else layers.SeparableConv1D
    layer = cls(5, k, strides=s, padding=pad, dilation_rate=dil, depth_multiplier=dm,
                activation="relu", dtype="float64")  # fmt: skip
    layer(x)
    dk, pk, b = layer.get_weights()
    assert pk.shape == (1,) * rank + (c * dm, 5) and b.shape == (5,)
    b = rng.normal(size=5)
    layer.set_weights([dk, pk, b])
    h = _depthwise_ref(x, dk, np.zeros(c * dm), s, pad, dil, rank)
    want = np.maximum(h @ pk.reshape(c * dm, 5) + b, 0)
    np.testing.assert_allclose(layer(x).detach().numpy(), want, rtol=1e-10, atol=1e-12)


def test_depthwise_and_separable_gradients():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 4, 3))
    for layer in (
        layers.DepthwiseConv2D(2, depth_multiplier=2, padding="same", dtype="float64"),
        layers.SeparableConv2D(2, 3, strides=2, dtype="float64"),
        layers.SeparableConv1D(3, 2, dtype="float64"),
    ):
        xi = x if layer._rank == 2 else x[:, :, 0]
        layer(xi)
        gradcheck(lambda xx, layer=layer: layer(xx), [xi])


def test_separable_model_saves_and_loads(tmp_path):
    model = models.Sequential(
        [
            layers.Input(shape=(8, 8, 3)),
            layers.SeparableConv2D(4, 3, depth_multiplier=2, padding="same", activation="relu"),
            layers.DepthwiseConv2D(3),
            layers.GlobalAveragePooling2D(),
            layers.Dense(2),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    x = np.random.rand(6, 8, 8, 3).astype("float32")
    model.fit(x, np.random.rand(6, 2).astype("float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.deepcore")
    back = models.load_model(tmp_path / "m.deepcore")
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), 1e-6)
    cfg = back.layers[0].get_config()
    assert cfg["depth_multiplier"] == 2 and "depthwise_initializer" in cfg


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
        (lambda: layers.SeparableConv2D(4, 3, depth_multiplier=1.5), "depth_multiplier"),
        (lambda: layers.SeparableConv2D(0, 3), "filters"),
        (lambda: layers.DepthwiseConv1D(3, padding="bogus"), "padding"),
    ],
)
def test_depthwise_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_depthwise_bad_input_rank():
    with pytest.raises(ValueError, match="rank 4"):
        layers.DepthwiseConv2D(3)(np.zeros((2, 5, 5), np.float32))


# ---------------------------------------------------------------- augmentation


def _img(n=2, h=5, w=6, c=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(n, h, w, c)).astype(np.float32)


AUGMENTERS = [
    lambda: layers.RandomFlip(seed=1),
    lambda: layers.RandomRotation(0.2, seed=1),
    lambda: layers.RandomTranslation(0.2, 0.3, seed=1),
    lambda: layers.RandomZoom(0.3, seed=1),
    lambda: layers.RandomContrast(0.4, seed=1),
    lambda: layers.RandomBrightness(0.3, seed=1),
]


@pytest.mark.parametrize("make", AUGMENTERS)
def test_augmentation_is_the_identity_at_inference(make):
    x = _img()
    np.testing.assert_array_equal(make()(x, training=False).numpy(), x)
    layer = make()
    layer.eval()  # deepcore's modules start in training mode, as PyTorch's
    np.testing.assert_array_equal(layer(x).numpy(), x)
    y = make()(x, training=True).numpy()
    assert y.shape == x.shape and not np.array_equal(y, x)


def test_flip_each_image_independently():
    x = _img(n=64)
    y = layers.RandomFlip("horizontal", seed=3)(x, training=True).numpy()
    flipped = np.all(y == x[:, :, ::-1], axis=(1, 2, 3))
    same = np.all(y == x, axis=(1, 2, 3))
    assert (flipped | same).all() and 10 < flipped.sum() < 54
    y = layers.RandomFlip("vertical", seed=3)(x, training=True).numpy()
    assert (np.all(y == x[:, ::-1], axis=(1, 2, 3)) | np.all(y == x, axis=(1, 2, 3))).all()


@pytest.mark.parametrize("mode", ["reflect", "wrap", "nearest", "constant"])
@pytest.mark.parametrize("shape", [(3, 7, 5, 2), (1, 1, 1, 1), (2, 4, 9, 3)])
def test_rotation_matches_the_pointwise_formula(mode, shape):
    x = _img(*shape)
    layer = layers.RandomRotation((-0.3, 0.3), fill_mode=mode, fill_value=7.0, seed=5)
    y = layer(x, training=True).numpy()
    angles = np.random.default_rng(5).uniform(-0.3, 0.3, shape[0]) * 2 * math.pi
    _, h, w, _ = shape
    c, s = np.cos(angles), np.sin(angles)
    xo = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2
    yo = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2
    rows = np.stack([c, -s, xo, s, c, yo], axis=1)
    want = warp_reference(x.astype(np.float64), rows, "bilinear", mode, 7.0)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-3)


def test_quarter_turn_nearest_is_rot90():
    x = np.arange(12.0).reshape(1, 3, 4, 1)[:, :, :3]  # 3x3
    y = layers.RandomRotation((0.25, 0.25), interpolation="nearest")(x, training=True)
    np.testing.assert_array_equal(y.numpy()[0, :, :, 0], np.rot90(x[0, :, :, 0]))


def test_translation_and_zoom_geometry():
    x = np.arange(30.0).reshape(1, 5, 6, 1)
    t = layers.RandomTranslation((0.2, 0.2), (0, 0), fill_mode="constant", fill_value=-1,
                                 interpolation="nearest")(x, training=True).numpy()  # fmt: skip
    np.testing.assert_array_equal(t[0, 0, :, 0], -1)  # one row down
    np.testing.assert_array_equal(t[0, 1:, :, 0], x[0, :-1, :, 0])
    z = layers.RandomZoom((-0.5, -0.5), interpolation="nearest")(
        np.arange(16.0).reshape(1, 4, 4, 1), training=True
    )  # zoom in x2 about the centre: the middle 2x2 block fills the image
    assert set(np.unique(z.numpy())) <= {5.0, 6.0, 9.0, 10.0}


def test_contrast_and_brightness_formulas():
    x = _img(n=3)
    y = layers.RandomContrast(0.5, seed=4)(x, training=True).numpy()
    f = np.random.default_rng(4).uniform(0.5, 1.5, 3).reshape(3, 1, 1, 1)
    m = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, np.clip((x - m) * f + m, 0, 255), rtol=1e-5, atol=1e-3)
    y = layers.RandomBrightness((-0.2, 0.1), value_range=(0, 1), seed=4)(x / 255, training=True)
    d = np.random.default_rng(4).uniform(-0.2, 0.1, 3).reshape(3, 1, 1, 1)
    np.testing.assert_allclose(y.numpy(), np.clip(x / 255 + d, 0, 1), rtol=1e-5, atol=1e-6)


def test_warps_are_differentiable_in_the_images():
    x = _img(n=2, h=4, w=3, c=1).astype(np.float64) / 255
    for mode in ("reflect", "constant"):
        layer = layers.RandomRotation(0.1, fill_mode=mode, fill_value=0.5, seed=2, dtype="float64")

        def f(a, layer=layer):
            layer._rng = np.random.default_rng(2)  # the same angles on every evaluation
            return layer(a, training=True)

        gradcheck(f, [x])


def test_crops():
    x = _img(n=2, h=6, w=7)
    c = layers.CenterCrop(3, 4)(x).numpy()
    np.testing.assert_array_equal(c, x[:, 1:4, 1:5])
    r = layers.RandomCrop(3, 4, seed=9)(x, training=True).numpy()
    g = np.random.default_rng(9)
    h0, w0 = int(g.integers(0, 4)), int(g.integers(0, 4))
    np.testing.assert_array_equal(r, x[:, h0 : h0 + 3, w0 : w0 + 4])
    inf = layers.RandomCrop(3, 4)(x, training=False).numpy()  # inference: resized window
    want = layers.Resizing(3, 4, crop_to_aspect_ratio=True)(x).numpy()
    np.testing.assert_array_equal(inf, want)
    assert layers.CenterCrop(9, 9)(x).shape == (2, 9, 9, 2)  # smaller: resized
    cf = layers.CenterCrop(3, 4, data_format="channels_first")(np.moveaxis(x, -1, 1)).numpy()
    np.testing.assert_array_equal(cf, np.moveaxis(x[:, 1:4, 1:5], -1, 1))
    one = layers.CenterCrop(3, 4)(x[0]).numpy()  # an unbatched image
    np.testing.assert_array_equal(one, x[0, 1:4, 1:5])


def test_augmentation_in_a_trained_model(tmp_path):
    aug = models.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    inputs = layers.Input(shape=(8, 8, 1))
    h = aug(inputs)
    h = layers.Rescaling(1 / 255)(h)
    h = layers.SeparableConv2D(4, 3, padding="same", activation="relu")(h)
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    model = models.Model(inputs, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = _img(n=16, h=8, w=8, c=1).astype("float32")
    y = np.arange(16) % 2
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    p1 = model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, model.predict(x, verbose=0))  # no augmentation
    model.save(tmp_path / "m.deepcore")
    np.testing.assert_allclose(models.load_model(tmp_path / "m.deepcore").predict(x, verbose=0),
                               p1, rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: layers.RandomFlip("diagonal"), ValueError, "mode"),
        (lambda: layers.RandomRotation("a"), TypeError, "factor"),
        (lambda: layers.RandomRotation((0.3, 0.1)), ValueError, "factor"),
        (lambda: layers.RandomRotation(float("nan")), ValueError, "factor"),
        (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), ValueError, "fill_mode"),
        (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), ValueError, "interpolation"),
        (lambda: layers.RandomZoom((-1.5, 0.2)), ValueError, "height_factor"),
        (lambda: layers.RandomContrast(1.5), ValueError, "factor"),
        (lambda: layers.RandomBrightness(2.0), ValueError, "factor"),
        (lambda: layers.RandomBrightness(0.1, value_range=(1, 0)), ValueError, "value_range"),
        (lambda: layers.RandomCrop(0, 3), ValueError, "height"),
        (lambda: layers.CenterCrop(3, 2.5), ValueError, "width"),
        (lambda: layers.RandomFlip(seed="x"), TypeError, "seed"),
    ],
)
def test_augmentation_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_augmentation_bad_input_rank():
    with pytest.raises(ValueError, match="rank 3 or 4"):
        layers.RandomFlip()(np.zeros((4, 4)), training=True)
