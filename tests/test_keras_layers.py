"""Keras layers added for issue 13, each tested from the Keras documentation's own example
usage (keras.io/api/layers), plus a config round trip and a save/load round trip of a model
holding it."""

from __future__ import annotations

import json

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import models, optim


def as_np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy() if isinstance(t, dc.Tensor) else t)


def round_trip_config(layer):
    clone = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    return clone


def save_load_same(model, x, tmp_path, custom_objects=None):
    """The model saved and reloaded predicts what it predicted before."""
    before = model.predict(x, verbose=0)
    path = tmp_path / "m.deepcore"
    model.save(path)
    loaded = models.load_model(path, custom_objects=custom_objects)
    after = loaded.predict(x, verbose=0)
    pairs = zip(after, before) if isinstance(before, list) else [(after, before)]
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    return loaded


# ---------------------------------------------------------------------- Lambda / Identity


def squared_plus_one(x):
    return x**2 + 1


def test_lambda_keras_example_and_saving(tmp_path):
    # keras.io: model.add(Lambda(lambda x: x ** 2))
    model = models.Sequential([layers.Input(shape=(3,)), layers.Lambda(lambda x: x**2)])
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x**2)
    # an anonymous lambda's code is not saved: loading says how to supply it
    path = tmp_path / "anon.deepcore"
    model.add(layers.Dense(2))
    model.save(path)
    with pytest.raises(ValueError, match="anonymous lambda"):
        models.load_model(path)
    # a named function comes back through custom_objects
    named = models.Sequential(
        [layers.Input(shape=(3,)), layers.Lambda(squared_plus_one), layers.Dense(2)]
    )
    save_load_same(named, x, tmp_path, custom_objects={"squared_plus_one": squared_plus_one})
    with pytest.raises(ValueError, match="custom_objects"):
        named.save(tmp_path / "n.deepcore")
        models.load_model(tmp_path / "n.deepcore")


def test_lambda_arguments_output_shape_and_deepcore_functions():
    lam = layers.Lambda(dc.ops.sum, arguments={"axis": -1, "keepdims": True}, output_shape=(1,))
    assert lam.compute_output_shape((None, 5)) == (None, 1)
    y = lam(dc.tensor(np.ones((2, 5), np.float32)))
    np.testing.assert_allclose(as_np(y), [[5.0], [5.0]])
    clone = round_trip_config(lam)  # a deepcore.ops function rebuilds by name
    assert clone.function is dc.ops.sum


def test_identity():
    layer = layers.Identity()
    x = dc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert layer(x) is x
    round_trip_config(layer)


# ---------------------------------------------------------------------- Rescaling / Normalization


def test_rescaling_keras_examples(tmp_path):
    x = np.array([[0.0, 127.5, 255.0]], np.float32)
    np.testing.assert_allclose(as_np(layers.Rescaling(1.0 / 255)(x)), [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(
        as_np(layers.Rescaling(1.0 / 127.5, offset=-1)(x)), [[-1.0, 0.0, 1.0]], atol=1e-6
    )
    per_channel = layers.Rescaling([1.0, 2.0, 3.0], offset=[0.0, 1.0, 0.0])
    np.testing.assert_allclose(as_np(per_channel(np.ones((1, 3), np.float32))), [[1, 3, 3]])
    round_trip_config(per_channel)
    # uint8 pixels become floats
    img = np.full((1, 2, 2, 1), 255, np.uint8)
    assert as_np(layers.Rescaling(1.0 / 255)(img)).dtype == np.float32
    with pytest.raises(ValueError, match="scale"):
        layers.Rescaling("big")
    model = models.Sequential([layers.Input(shape=(3,)), layers.Rescaling(0.5, offset=1.0)])
    save_load_same(model, x, tmp_path)


def test_normalization_keras_examples(tmp_path):
    # global mean and variance
    layer = layers.Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32))
    out = as_np(layer(np.array([1.0, 2.0, 3.0], np.float32)))
    np.testing.assert_allclose(out, [-1.4142135, -0.70710677, 0.0], rtol=1e-6)
    # one mean and variance per index of the last axis
    adapt_data = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]])
    layer = layers.Normalization(axis=-1)
    layer.adapt(adapt_data.astype(np.float32))
    np.testing.assert_allclose(
        as_np(layer(np.array([[0.0, 7.0, 4.0]], np.float32))), [[-1, -1, -1]]
    )
    assert [w.shape for w in layer.get_weights()] == [(3,), (3,)]
    assert layer.trainable_weights == []
    # mean and variance given directly
    given = layers.Normalization(mean=3.0, variance=2.0)
    out = as_np(given(np.array([[1.0], [2.0], [3.0]], np.float32)))
    np.testing.assert_allclose(out, [[-1.4142135], [-0.70710677], [0.0]], rtol=1e-6)
    round_trip_config(given)
    # invert: de-normalise
    inv = layers.Normalization(axis=-1, invert=True)
    inv.adapt(adapt_data.astype(np.float32))
    np.testing.assert_allclose(as_np(inv(np.array([[1.0, 2.0, 3.0]], np.float32))), [[2, 10, 8]])
    # adapted statistics are saved with the model
    model = models.Sequential([layers.Input(shape=(3,)), layer, layers.Dense(2)])
    save_load_same(model, adapt_data.astype(np.float32), tmp_path)


def test_normalization_adapt_over_batches_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(5.0, 3.0, size=(1000, 4, 3)).astype(np.float32)
    whole = layers.Normalization(axis=-1)
    whole.adapt(data)
    batched = layers.Normalization(axis=-1)
    batched.adapt(iter([data[:123], data[123:700], data[700:]]))  # a generator of batches
    for lyr in (whole, batched):
        np.testing.assert_allclose(lyr.mean.numpy(), data.mean((0, 1)), rtol=1e-5)
        np.testing.assert_allclose(lyr.variance.numpy(), data.var((0, 1)), rtol=1e-4)
    per_step = layers.Normalization(axis=(1, 2))
    per_step.adapt(data)
    assert per_step.mean.shape == (4, 3)
    with pytest.raises(ValueError, match="both mean and variance"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="adapt"):
        layers.Normalization(mean=1.0, variance=1.0).adapt(data)
    with pytest.raises(ValueError, match="batch axis"):
        layers.Normalization(axis=0).adapt(data)


# ---------------------------------------------------------------------- regularization


@pytest.mark.parametrize(
    "cls,shape,channel_axis",
    [
        (layers.SpatialDropout1D, (4, 7, 5), 2),
        (layers.SpatialDropout2D, (4, 6, 6, 5), 3),
    ],
)
def test_spatial_dropout_drops_whole_channels(cls, shape, channel_axis):
    dc.manual_seed(0)
    layer = cls(0.5)
    x = np.ones(shape, np.float32)
    y = as_np(layer(x, training=True))
    axes = tuple(a for a in range(1, len(shape)) if a != channel_axis)
    per_channel = y.min(axis=axes), y.max(axis=axes)
    np.testing.assert_array_equal(per_channel[0], per_channel[1])  # constant per (n, c)
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).mean() < 1
    np.testing.assert_array_equal(as_np(layer(x, training=False)), x)
    clone = round_trip_config(layer)
    assert clone.rate == 0.5


def test_spatial_dropout_2d_channels_first():
    dc.manual_seed(1)
    y = as_np(layers.SpatialDropout2D(0.5, data_format="channels_first")(
        np.ones((3, 4, 5, 5), np.float32), training=True))  # fmt: skip
    assert np.all(y.min(axis=(2, 3)) == y.max(axis=(2, 3)))


def test_gaussian_noise():
    dc.manual_seed(2)
    layer = layers.GaussianNoise(0.5)
    x = np.zeros((200, 100), np.float32)
    noisy = as_np(layer(x, training=True))
    assert noisy.std() == pytest.approx(0.5, rel=0.03) and abs(noisy.mean()) < 0.01
    np.testing.assert_array_equal(as_np(layer(x, training=False)), x)
    assert round_trip_config(layer).stddev == 0.5
    with pytest.raises(ValueError, match="stddev"):
        layers.GaussianNoise(-1.0)


def test_activity_regularization_adds_a_batch_mean_loss():
    layer = layers.ActivityRegularization(l1=0.1, l2=0.01)
    x = np.array([[1.0, -2.0], [3.0, 0.0]], np.float32)
    y = layer(x)
    np.testing.assert_array_equal(as_np(y), x)
    (loss,) = layer.losses
    assert loss.item() == pytest.approx((0.1 * 6 + 0.01 * 14) / 2)
    round_trip_config(layer)
    # fit adds it to the training loss (a step at learning rate 0 logs the loss it computed)
    model = models.Sequential(
        [layers.Input(shape=(2,)), layers.Dense(2), layers.ActivityRegularization(l2=0.5)]
    )
    model.compile(optimizer=optim.SGD(learning_rate=0.0), loss="mse")
    target = np.ones((2, 2), np.float32)
    pred = model.predict(x, verbose=0).astype(np.float64)
    hist = model.fit(x, target, batch_size=2, epochs=1, shuffle=False, verbose=0)
    want = ((pred - target) ** 2).mean() + 0.5 * (pred**2).sum() / 2
    assert hist.history["loss"][0] == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------------- Masking


def test_masking_keras_example_skips_masked_steps():
    samples, timesteps, features = 4, 10, 8
    rng = np.random.default_rng(0)
    inputs = rng.random((samples, timesteps, features)).astype(np.float32)
    inputs[:, 3, :] = 0.0
    inputs[:, 5, :] = 0.0
    dc.manual_seed(0)
    model = models.Sequential([layers.Masking(mask_value=0.0), layers.LSTM(6)])
    output = model(inputs)
    # the time steps 3 and 5 are skipped by the LSTM: the same as a run without them
    lstm = model.layers[1]
    kept = np.delete(inputs, [3, 5], axis=1)
    np.testing.assert_allclose(as_np(output), as_np(lstm(kept)), rtol=1e-5, atol=1e-6)
    mask = model.layers[0].compute_mask(dc.tensor(inputs))
    assert mask.shape == (samples, timesteps) and not as_np(mask)[:, [3, 5]].any()
    round_trip_config(model.layers[0])


# ---------------------------------------------------------------------- Cropping


def test_cropping1d_keras_example():
    x = np.arange(12).reshape(2, 3, 2)
    y = as_np(layers.Cropping1D(cropping=1)(x))
    np.testing.assert_array_equal(y, [[[2, 3]], [[8, 9]]])
    layer = layers.Cropping1D((1, 0))
    assert layer.compute_output_shape((None, 3, 2)) == (None, 2, 2)
    assert round_trip_config(layer).cropping == ((1, 0),)


def test_cropping2d_keras_example_and_gradient(tmp_path):
    x = np.arange(2 * 28 * 28 * 3, dtype=np.float32).reshape(2, 28, 28, 3)
    layer = layers.Cropping2D(cropping=((2, 2), (4, 4)))
    y = layer(x)
    assert y.shape == (2, 24, 20, 3) == (2, *layer.compute_output_shape((None, 28, 28, 3))[1:])
    np.testing.assert_array_equal(as_np(y), x[:, 2:26, 4:24])
    xt = dc.tensor(x, requires_grad=True)
    layer(xt).sum().backward()
    g = np.zeros_like(x)
    g[:, 2:26, 4:24] = 1
    np.testing.assert_array_equal(as_np(xt.grad), g)
    cf = layers.Cropping2D(1, data_format="channels_first")
    assert cf(np.zeros((1, 3, 5, 6), np.float32)).shape == (1, 3, 3, 4)
    with pytest.raises(ValueError, match="removes more"):
        layers.Cropping2D(((10, 10), (0, 0))).compute_output_shape((None, 8, 8, 1))
    # inside a planned channels-last conv stack
    model = models.Sequential([
        layers.Input(shape=(9, 9, 2)), layers.Conv2D(3, 3), layers.Cropping2D(((1, 0), (0, 2))),
        layers.Conv2D(2, 1), layers.Flatten(),
    ])  # fmt: skip
    ref = x[:1, :9, :9, :2] / 1000
    out = model.predict(ref, verbose=0)
    assert model.layers[1]._nchw_in  # planned: it crops NCHW data between the convs
    # standalone copies of the convs (planned layers are run by their model only)
    c0, c1 = layers.Conv2D(3, 3), layers.Conv2D(2, 1)
    c0.build((None, 9, 9, 2))
    c1.build((None, 8, 5, 3))
    c0.set_weights(model.layers[0].get_weights())
    c1.set_weights(model.layers[2].get_weights())
    h = as_np(c0(ref))[:, 1:, :5]
    np.testing.assert_allclose(out, as_np(c1(h)).reshape(1, -1), rtol=1e-5, atol=1e-6)
    save_load_same(model, ref, tmp_path)


# ---------------------------------------------------------------------- merge helpers


def test_merge_helpers_keras_examples(tmp_path):
    # keras.io: added = keras.layers.add([x1, x2]) between two Dense branches
    input1 = models.Input(shape=(16,))
    x1 = layers.Dense(8, activation="relu")(input1)
    input2 = models.Input(shape=(32,))
    x2 = layers.Dense(8, activation="relu")(input2)
    outs = {
        "add": layers.add([x1, x2]),
        "subtract": layers.subtract([x1, x2]),
        "multiply": layers.multiply([x1, x2]),
        "average": layers.average([x1, x2]),
        "maximum": layers.maximum([x1, x2]),
        "minimum": layers.minimum([x1, x2]),
        "concatenate": layers.concatenate([x1, x2]),
        "dot": layers.dot([x1, x2], axes=1),
    }
    model = models.Model(inputs=[input1, input2], outputs=list(outs.values()))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 16)).astype(np.float32)
    b = rng.standard_normal((3, 32)).astype(np.float32)
    got = model.predict([a, b], verbose=0)
    h1, h2 = as_np(x1.node.layer(a)), as_np(x2.node.layer(b))
    want = [h1 + h2, h1 - h2, h1 * h2, (h1 + h2) / 2, np.maximum(h1, h2), np.minimum(h1, h2),
            np.concatenate([h1, h2], 1), (h1 * h2).sum(1, keepdims=True)]  # fmt: skip
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    save_load_same(model, [a, b], tmp_path)


def test_concatenate_and_dot_keras_examples():
    x = np.arange(20, dtype=np.float32).reshape(2, 2, 5)
    y = np.arange(20, 30, dtype=np.float32).reshape(2, 1, 5)
    out = as_np(layers.Concatenate(axis=1)([x, y]))
    np.testing.assert_array_equal(out, np.concatenate([x, y], axis=1))
    # keras.io: Dot(axes=(1, 2)) of x (1, 5, 2) and y (1, 2, 5)
    x = np.arange(10, dtype=np.float32).reshape(1, 5, 2)
    y = np.arange(10, 20, dtype=np.float32).reshape(1, 2, 5)
    out = as_np(layers.Dot(axes=(1, 2))([x, y]))
    np.testing.assert_array_equal(out, [[[260, 360], [320, 445]]])
    # normalize=True: cosine similarity
    a = np.array([[3.0, 4.0]], np.float32)
    cos = as_np(layers.dot([a, np.array([[4.0, 3.0]], np.float32)], axes=1, normalize=True))
    np.testing.assert_allclose(cos, [[24.0 / 25.0]], rtol=1e-6)
    layer = layers.Dot(axes=[2, 2], normalize=True)
    assert layer.compute_output_shape([(None, 4, 3), (None, 6, 3)]) == (None, 4, 6)
    round_trip_config(layer)
    with pytest.raises(ValueError, match="differ in size"):
        layers.Dot(axes=1).compute_output_shape([(None, 4), (None, 5)])


# ---------------------------------------------------------------------- UpSampling


def test_upsampling1d_keras_example():
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    y = as_np(layers.UpSampling1D(size=2)(x))
    np.testing.assert_array_equal(y, np.repeat(x, 2, axis=1))
    np.testing.assert_array_equal(y[0], [[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]])
    layer = layers.UpSampling1D(3)
    assert layer.compute_output_shape((None, 4, 2)) == (None, 12, 2)
    round_trip_config(layer)


def test_upsampling2d_keras_example_gradient_and_layouts(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 1, 3)
    y = as_np(layers.UpSampling2D(size=(1, 2))(x))
    want = [[[[0, 1, 2], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]],
            [[[6, 7, 8], [6, 7, 8]], [[9, 10, 11], [9, 10, 11]]]]  # fmt: skip
    np.testing.assert_array_equal(y, want)
    xt = dc.tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 2)), requires_grad=True)
    up = layers.UpSampling2D((2, 3))
    up.to(np.float64)
    g = np.random.default_rng(1).standard_normal((2, 6, 12, 2))
    (up(xt) * dc.tensor(g)).sum().backward()
    np.testing.assert_allclose(as_np(xt.grad), g.reshape(2, 3, 2, 4, 3, 2).sum((2, 4)))
    cf = layers.UpSampling2D(2, data_format="channels_first")
    assert cf(np.zeros((1, 3, 4, 5), np.float32)).shape == (1, 3, 8, 10)
    assert cf.compute_output_shape((None, 3, 4, None)) == (None, 3, 8, None)
    round_trip_config(cf)
    with pytest.raises(ValueError, match="interpolation"):
        layers.UpSampling2D(interpolation="cubic")
    # planned between convolutions of a channels-last model
    model = models.Sequential([
        layers.Input(shape=(5, 5, 2)), layers.Conv2D(3, 3, padding="same"),
        layers.UpSampling2D(2), layers.Conv2D(1, 3),
    ])  # fmt: skip
    assert model.layers[1]._nchw_in and model.output_shape == (None, 8, 8, 1)
    c0, c1 = layers.Conv2D(3, 3, padding="same"), layers.Conv2D(1, 3)
    c0.build((None, 5, 5, 2))
    c1.build((None, 10, 10, 3))
    c0.set_weights(model.layers[0].get_weights())
    c1.set_weights(model.layers[2].get_weights())
    v = np.random.default_rng(2).standard_normal((2, 5, 5, 2)).astype(np.float32)
    ref = as_np(c1(np.repeat(np.repeat(as_np(c0(v)), 2, 1), 2, 2)))
    np.testing.assert_allclose(model.predict(v, verbose=0), ref, rtol=1e-5, atol=1e-5)
    save_load_same(model, v, tmp_path)


# ---------------------------------------------------------------------- every layer's config

# constructor arguments for the layers that need some (the rest are built with none)
_ARGS = {
    "MultiHeadAttention": {"num_heads": 2, "key_dim": 3},
    "PositionEmbedding": {"sequence_length": 5},
    "TransformerEncoder": {"intermediate_dim": 8, "num_heads": 2},
    "TransformerDecoder": {"intermediate_dim": 8, "num_heads": 2},
    "Activation": {"activation": "tanh"},
    "Conv1D": {"filters": 2, "kernel_size": 3},
    "Conv2D": {"filters": 2, "kernel_size": 3},
    "Conv1DTranspose": {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
    "Conv2DTranspose": {"filters": 2, "kernel_size": 3, "padding": "same"},
    "Conv3D": {"filters": 2, "kernel_size": 3},
    "Conv3DTranspose": {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
    "Dense": {"units": 3},
    "Dropout": {"rate": 0.3},
    "SpatialDropout1D": {"rate": 0.3},
    "SpatialDropout2D": {"rate": 0.3},
    "SpatialDropout3D": {"rate": 0.3, "data_format": "channels_first"},
    "GaussianNoise": {"stddev": 0.1},
    "GaussianDropout": {"rate": 0.2},
    "CategoryEncoding": {"num_tokens": 5, "output_mode": "count"},
    "Discretization": {"bin_boundaries": [0.0, 1.5]},
    "StringLookup": {"vocabulary": ["a", "b"], "mask_token": ""},
    "IntegerLookup": {"vocabulary": [3, 9], "num_oov_indices": 2},
    "TextVectorization": {"vocabulary": ["x", "y"], "output_sequence_length": 4},
    "AlphaDropout": {"rate": 0.2, "noise_shape": [None, 1]},
    "GroupNormalization": {"groups": 4, "axis": 1, "center": False},
    "UnitNormalization": {"axis": [1, 2]},
    "Embedding": {"input_dim": 5, "output_dim": 2},
    "Maxout": {"units": 2},
    "TimeDistributed": {"layer": layers.Dense(2)},
    "Lambda": {"function": dc.ops.sum},
    "OpLambda": {"op": "mul", "args": [{"__tensor__": 0}, 2.0]},
    "InputLayer": {"shape": (3,)},
    "Dot": {"axes": 1},
    "Rescaling": {"scale": 0.5},
    "Resizing": {"height": 3, "width": 4},
    "CenterCrop": {"height": 3, "width": 4},
    "RandomCrop": {"height": 3, "width": 4, "seed": 1},
    "RandomRotation": {"factor": (-0.1, 0.2), "fill_mode": "constant", "fill_value": 2.0},
    "RandomTranslation": {"height_factor": 0.1, "width_factor": (0.0, 0.2)},
    "RandomZoom": {"height_factor": 0.2},
    "RandomContrast": {"factor": 0.3},
    "RandomBrightness": {"factor": 0.3, "value_range": (0.0, 1.0)},
    "DepthwiseConv1D": {"kernel_size": 3, "depth_multiplier": 2},
    "DepthwiseConv2D": {"kernel_size": 3},
    "SeparableConv1D": {"filters": 2, "kernel_size": 3},
    "SeparableConv2D": {"filters": 2, "kernel_size": 3, "depth_multiplier": 2},
    "SimpleRNNCell": {"units": 2},
    "LSTMCell": {"units": 2},
    "GRUCell": {"units": 2},
    "RNN": {"cell": layers.LSTMCell(2)},
    "SimpleRNN": {"units": 2},
    "LSTM": {"units": 2},
    "GRU": {"units": 2},
    "Bidirectional": {"layer": layers.LSTM(2)},
    "ConvLSTM1D": {"filters": 2, "kernel_size": 3},
    "ConvLSTM2D": {"filters": 2, "kernel_size": 3},
    "ConvLSTM3D": {"filters": 2, "kernel_size": 3},
    "Reshape": {"target_shape": (2, -1)},
    "Permute": {"dims": (2, 1)},
    "RepeatVector": {"n": 3},
    "EinsumDense": {"equation": "abc,cd->abd", "output_shape": (None, 3), "bias_axes": "d"},
    "GroupQueryAttention": {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2},
    "GroupedQueryAttention": {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1},
    "Hashing": {"num_bins": 3, "mask_value": "", "salt": [1, 2]},
}


def _layer_classes() -> list[str]:
    return sorted(
        name
        for name, cls in layers.module._registry.items()
        if cls.__module__.startswith("deepcore.nn.layers") and getattr(layers, name, None) is cls
    )


@pytest.mark.parametrize("name", _layer_classes())
def test_every_layer_config_round_trips(name):
    """Every exported layer: ``from_config(get_config())`` through JSON gives the same config
    (a new layer fails here until it serialises)."""
    cls = getattr(layers, name)
    layer = cls(**_ARGS.get(name, {}))
    round_trip_config(layer)


# ---------------------------------------------------------------------- transposed convolution


def _keras_conv_transpose_ref(x, kernel, bias, strides, padding, output_padding, dilation):
    """Keras's transposed convolution in float64 NumPy, channels-last: every input pixel
    scatters kernel[taps] (kernel (*k, out, in)) into the full output, which is then cropped
    to Keras's window (deconv_output_length: 'same' crops (ke - s) // 2 at the start)."""
    n, *sp, _ = x.shape
    ks = kernel.shape[:-2]
    full = [(m - 1) * s + (k - 1) * d + 1 for m, k, s, d in zip(sp, ks, strides, dilation)]
    y = np.zeros((n, *full, kernel.shape[-2]))
    for taps in np.ndindex(*ks):
        contrib = np.tensordot(x, kernel[taps], axes=([x.ndim - 1], [1]))  # (n, *sp, out)
        idx = tuple(
            slice(t * d, t * d + (m - 1) * s + 1, s)
            for t, m, s, d in zip(taps, sp, strides, dilation)
        )
        y[(slice(None), *idx)] += contrib
    out = []
    for m, k, s, d, op in zip(sp, ks, strides, dilation, output_padding):
        ke = (k - 1) * d + 1
        if op is None:
            start = 0 if padding == "valid" else max(ke - s, 0) // 2
            length = m * s + max(ke - s, 0) if padding == "valid" else m * s
        else:
            start = ke // 2 if padding == "same" else 0
            length = (m - 1) * s + ke - 2 * start + op
        out.append((start, length))
    pad = [(0, 0)] + [(0, max(0, st + ln - f)) for (st, ln), f in zip(out, full)] + [(0, 0)]
    y = np.pad(y, pad)
    y = y[(slice(None), *(slice(st, st + ln) for st, ln in out))]
    return y + bias


def test_conv_transpose_keras_examples():
    # keras.io: Conv2DTranspose(32, 2, 2, activation='relu') on (4, 10, 8, 128) -> (4, 20, 16, 32)
    x = np.random.default_rng(0).random((4, 10, 8, 16)).astype(np.float32)
    y = layers.Conv2DTranspose(32, 2, 2, activation="relu")(x)
    assert y.shape == (4, 20, 16, 32) and as_np(y).min() >= 0
    # keras.io: Conv1DTranspose(32, 3, 2, activation='relu') on (4, 10, 128) -> (4, 21, 32)
    x1 = np.random.default_rng(1).random((4, 10, 16)).astype(np.float32)
    layer = layers.Conv1DTranspose(32, 3, 2, activation="relu")
    assert layer(x1).shape == (4, 21, 32) == (4, *layer.compute_output_shape((None, 10, 16))[1:])
    assert [w.shape for w in layer.get_weights()] == [(3, 32, 16), (32,)]  # (k, out, in)
    round_trip_config(layer)


@pytest.mark.parametrize(
    "k,s,padding,op,d,sp",
    [
        (3, 1, "valid", None, 1, (5, 4)),
        (3, 2, "same", None, 1, (5, 4)),
        (4, 2, "same", None, 1, (3, 5)),  # odd total padding: one more cropped at the end
        (2, 3, "valid", None, 1, (4, 3)),  # kernel smaller than the stride: zeros appended
        (2, 3, "same", None, 1, (4, 3)),
        (3, 2, "same", 1, 1, (4, 4)),
        (3, 3, "valid", 2, 1, (2, 3)),
        (3, 1, "same", None, 2, (5, 5)),
        (1, 1, "valid", None, 1, (1, 1)),
    ],
)
def test_conv2d_transpose_matches_keras_definition(k, s, padding, op, d, sp):
    dc.manual_seed(3)
    layer = layers.Conv2DTranspose(3, k, strides=s, padding=padding, output_padding=op,
                                   dilation_rate=d)  # fmt: skip
    layer.to(np.float64)
    x = np.random.default_rng(4).standard_normal((2, *sp, 2))
    y = as_np(layer(dc.tensor(x)))
    kernel, bias = layer.get_weights()
    ops = (op, op)
    ref = _keras_conv_transpose_ref(x, kernel, bias, (s, s), padding, ops, (d, d))
    assert y.shape == ref.shape == (2, *layer.compute_output_shape((None, *sp, 2))[1:])
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    # Conv1DTranspose: the same definition on one spatial axis
    l1 = layers.Conv1DTranspose(3, k, strides=s, padding=padding, output_padding=op,
                                dilation_rate=d)  # fmt: skip
    l1.to(np.float64)
    x1 = x[:, :, 0, :]
    y1 = as_np(l1(dc.tensor(x1)))
    k1, b1 = l1.get_weights()
    ref1 = _keras_conv_transpose_ref(x1, k1, b1, (s,), padding, (op,), (d,))
    np.testing.assert_allclose(y1, ref1, rtol=1e-10, atol=1e-10)


def test_conv2d_transpose_channels_first_training_and_saving(tmp_path):
    dc.manual_seed(5)
    cl = layers.Conv2DTranspose(4, 3, strides=2, padding="same")
    cf = layers.Conv2DTranspose(4, 3, strides=2, padding="same", data_format="channels_first")
    x = np.random.default_rng(6).standard_normal((2, 5, 6, 3)).astype(np.float32)
    y = as_np(cl(x))
    cf.build((None, 3, 5, 6))
    cf.set_weights(cl.get_weights())
    np.testing.assert_allclose(as_np(cf(x.transpose(0, 3, 1, 2))), y.transpose(0, 3, 1, 2),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2DTranspose(2, 3, padding="full")
    with pytest.raises(ValueError, match="output_padding"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    # an autoencoder-style model: conv down, transposed conv up, trained a step, saved
    model = models.Sequential([
        layers.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, strides=2, padding="same"),
        layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid"),
    ])  # fmt: skip
    assert model.output_shape == (None, 8, 8, 1)
    imgs = np.random.default_rng(7).random((8, 8, 8, 1)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    hist = model.fit(imgs, imgs, epochs=3, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    save_load_same(model, imgs, tmp_path)


def test_upsampling2d_bilinear_is_keras_image_resize():
    x = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32).reshape(1, 2, 2, 1)
    y = as_np(layers.UpSampling2D(size=2, interpolation="bilinear")(x))[0, :, :, 0]
    # half-pixel centres: output pixel i samples input coordinate (i + 0.5) / 2 - 0.5, clamped
    c = np.clip((np.arange(4) + 0.5) / 2 - 0.5, 0, 1)
    ref = (1 - c)[:, None] * ((1 - c) * 0 + c * 1)[None, :] + c[:, None] * ((1 - c) * 2 + c * 3)
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)
    round_trip_config(layers.UpSampling2D(interpolation="bilinear"))


# ------------------------------------------------------------------------------ Resizing
def test_resizing_bilinear_and_nearest_match_half_pixel_references():
    from interp_reference import interp_matrices

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 7, 3))
    y = layers.Resizing(4, 9, dtype="float64")(x).numpy()
    Mh, Mw = interp_matrices((1, 1, 5, 7), (4, 9), "linear")
    ref = np.einsum("ph,nhwc,qw->npqc", Mh, x, Mw)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    # nearest with half-pixel centres: an exact 2x upscale repeats each pixel
    y = layers.Resizing(10, 14, interpolation="nearest", dtype="float64")(x).numpy()
    np.testing.assert_array_equal(y, x.repeat(2, axis=1).repeat(2, axis=2))
    # channels_first and one unbatched image
    xf = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    yf = layers.Resizing(4, 9, data_format="channels_first", dtype="float64")(xf).numpy()
    np.testing.assert_allclose(yf.transpose(0, 2, 3, 1), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layers.Resizing(4, 9, dtype="float64")(x[0]).numpy(), ref[0])


def test_resizing_crop_and_pad_to_aspect_ratio():
    x = np.arange(32.0).reshape(1, 4, 8, 1)
    # the largest centred 1:1 window of a 4 x 8 image is columns 2..5, then resized to 2 x 2
    crop = layers.Resizing(2, 2, crop_to_aspect_ratio=True, dtype="float64")(x).numpy()
    plain = layers.Resizing(2, 2, dtype="float64")(x[:, :, 2:6]).numpy()
    np.testing.assert_array_equal(crop, plain)
    # padding a 2 x 4 image to 1:1 adds one row of fill above and below, already 4 x 4
    x2 = np.arange(8.0).reshape(1, 2, 4, 1)
    pad = layers.Resizing(4, 4, pad_to_aspect_ratio=True, fill_value=-1, dtype="float64")(x2)
    expect = np.full((1, 4, 4, 1), -1.0)
    expect[:, 1:3] = x2
    np.testing.assert_array_equal(pad.numpy(), expect)


def test_resizing_gradient_config_and_bad_arguments(tmp_path):
    from deepcore.testing import gradcheck

    layer = layers.Resizing(3, 5, crop_to_aspect_ratio=True, dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, 4, 6, 2))
    gradcheck(lambda t: layer(t), [x])
    cfg = layer.get_config()
    again = layers.Resizing.from_config(cfg)
    assert again.get_config() == cfg
    model = models.Sequential([models.Input((8, 8, 3)), layers.Resizing(4, 4), layers.Flatten()])
    assert model.output_shape == (None, 48)
    model.compile(loss="mse")
    path = str(tmp_path / "r.deepcore")
    model.save(path)
    xb = np.random.default_rng(2).random((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(
        models.load_model(path).predict(xb, verbose=0), model.predict(xb, verbose=0)
    )
    for kw, match in [
        (dict(height=0, width=2), "height"),
        (dict(height=2, width=2.5), "width"),
        (dict(height=2, width=2, interpolation="bicubic"), "interpolation"),
        (dict(height=2, width=2, antialias=True), "antialias"),
        (dict(height=2, width=2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "exclude"),
    ]:
        with pytest.raises(ValueError, match=match):
            layers.Resizing(**kw)
    with pytest.raises(ValueError, match="rank 3 or 4"):
        layers.Resizing(2, 2)(np.ones((2, 3)))
