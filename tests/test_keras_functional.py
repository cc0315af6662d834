"""The functional graph as Keras users inspect and extend it (issue 13): Model.input(s) /
output(s), layer.input / layer.output, model.layers with InputLayers, feature extractors,
arithmetic on symbolic tensors, keyword tensor arguments, from_config / model_from_json with
custom_objects. Written from the Keras guides' examples (the functional API guide, the
Sequential model guide)."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import models
from deepcore.models import Input, Model, Sequential


def as_np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy() if isinstance(t, dc.Tensor) else t)


def _mnist_mlp():
    # the functional API guide's first model
    inputs = Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return Model(inputs=inputs, outputs=outputs, name="mnist_model"), inputs, outputs


def test_model_and_layer_inputs_outputs():
    model, inputs, outputs = _mnist_mlp()
    assert model.inputs == [inputs] and model.outputs == [outputs]
    assert model.input is inputs and model.output is outputs
    # model.layers lists the InputLayer first, as Keras: index access finds the same layers
    assert [type(lyr).__name__ for lyr in model.layers] == ["InputLayer", "Dense", "Dense", "Dense"]
    assert model.layers[0].output is inputs and model.layers[0].input is inputs
    assert model.layers[3].output is outputs
    assert model.layers[2].input is model.layers[1].output
    assert model.get_layer(index=1) is model.layers[1]
    # weights keep their names (files saved before InputLayers were listed still load)
    assert [n for n, _ in model.named_parameters()][:2] == ["layers.0.kernel", "layers.0.bias"]
    assert model.count_params() == 784 * 64 + 64 + 64 * 64 + 64 + 650
    with pytest.raises(AttributeError, match="never been called"):
        _ = layers.Dense(3).output


def test_sequential_inputs_and_feature_extractor():
    # the Sequential guide: feature extraction with a Sequential model
    initial_model = Sequential([
        Input(shape=(24, 24, 3)),
        layers.Conv2D(4, 5, strides=2, activation="relu"),
        layers.Conv2D(4, 3, activation="relu"),
        layers.Conv2D(4, 3, activation="relu"),
    ])  # fmt: skip
    assert len(initial_model.inputs) == 1 and initial_model.inputs[0].shape == (None, 24, 24, 3)
    assert initial_model.outputs[0].shape == (None, 6, 6, 4)
    feature_extractor = Model(
        inputs=initial_model.inputs, outputs=[layer.output for layer in initial_model.layers]
    )
    x = np.random.default_rng(0).random((2, 24, 24, 3)).astype(np.float32)
    before = initial_model.predict(x, verbose=0)
    features = feature_extractor(x)
    assert [f.shape for f in features] == [(2, 10, 10, 4), (2, 8, 8, 4), (2, 6, 6, 4)]
    np.testing.assert_allclose(as_np(features[-1]), before, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(as_np(features[0]), as_np(initial_model.layers[0](x)), rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    # both models share the layers and each still computes its own result afterwards
    np.testing.assert_allclose(initial_model.predict(x, verbose=0), before, rtol=1e-6)
    # only one layer's output
    extractor = Model(inputs=initial_model.inputs,
                      outputs=initial_model.layers[1].output)  # fmt: skip
    assert extractor(x).shape == (2, 8, 8, 4)
    with pytest.raises(ValueError, match="no defined inputs"):
        _ = Sequential([layers.Dense(2)]).inputs


def test_feature_extractor_over_a_functional_model_includes_the_input():
    model, inputs, _ = _mnist_mlp()
    features_list = [layer.output for layer in model.layers]
    extractor = Model(inputs=model.input, outputs=features_list)
    x = np.random.default_rng(1).random((3, 784)).astype(np.float32)
    feats = extractor.predict(x, verbose=0)
    assert [f.shape for f in feats] == [(3, 784), (3, 64), (3, 64), (3, 10)]
    np.testing.assert_allclose(feats[0], x)
    np.testing.assert_allclose(feats[-1], model.predict(x, verbose=0), rtol=1e-6)


def test_multi_input_layers_in_keras_order():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(2,), name="b")
    h = layers.Dense(4, name="da")(a)
    h = layers.Dense(2, name="db")(h)
    out = layers.add([h, b])
    model = Model([a, b], out)
    # Keras orders by depth from the outputs: b (depth 1) comes after the deeper branch
    assert [lyr.name for lyr in model.layers] == ["a", "da", "db", "b", out.node.layer.name]


def test_symbolic_arithmetic_and_indexing(tmp_path):
    inputs = Input(shape=(4,))
    x = layers.Dense(4)(inputs)
    y = x * 2 + inputs  # KerasTensor arithmetic with constants and tensors
    z = 1.0 - y / 4
    first = z[:, 0:1]
    out = layers.concatenate([z, first, -x, abs(x) ** 2])
    model = Model(inputs, out)
    assert out.shape == (None, 4 + 1 + 4 + 4)
    assert [type(lyr).__name__ for lyr in model.layers] == ["InputLayer", "Dense", "Concatenate"]
    v = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    h = as_np(model.layers[1](v))
    zz = 1.0 - (h * 2 + v) / 4
    want = np.concatenate([zz, zz[:, :1], -h, np.abs(h) ** 2], axis=1)
    np.testing.assert_allclose(model.predict(v, verbose=0), want, rtol=1e-5, atol=1e-5)
    # the graph saves and reloads (operations by name, constants in the config)
    path = tmp_path / "ops.deepcore"
    model.save(path)
    loaded = models.load_model(path)
    np.testing.assert_allclose(loaded.predict(v, verbose=0), want, rtol=1e-5, atol=1e-5)
    again = Model.from_config(model.get_config())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(v, verbose=0), want, rtol=1e-5, atol=1e-5)
    # gradients flow through the operations
    model.compile(optimizer="sgd", loss="mse")
    loss0 = model.evaluate(v, np.zeros_like(want), verbose=0)
    model.fit(v, np.zeros_like(want), epochs=3, verbose=0)
    assert model.evaluate(v, np.zeros_like(want), verbose=0) < loss0
    with pytest.raises(TypeError, match="not iterable"):
        list(x)
    with pytest.raises(TypeError, match="cannot be recorded"):
        x + object()


def test_keyword_tensor_arguments_seq2seq():
    # the Keras seq2seq example: decoder_lstm(decoder_inputs, initial_state=encoder_states)
    enc_in = Input(shape=(None, 5))
    _, state_h, state_c = layers.LSTM(8, return_state=True)(enc_in)
    dec_in = Input(shape=(None, 6))
    dec_lstm = layers.LSTM(8, return_sequences=True, return_state=True)
    dec_out, _, _ = dec_lstm(dec_in, initial_state=[state_h, state_c])
    out = layers.Dense(6, activation="softmax")(dec_out)
    model = Model([enc_in, dec_in], out)
    rng = np.random.default_rng(3)
    xe = rng.random((2, 4, 5)).astype(np.float32)
    xd = rng.random((2, 3, 6)).astype(np.float32)
    assert model.predict([xe, xd], verbose=0).shape == (2, 3, 6)
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([xe, xd], verbose=0),
                               model.predict([xe, xd], verbose=0), rtol=1e-5)  # fmt: skip


def test_keyword_only_tensor_arguments():
    q = Input(shape=(3, 4))
    v = Input(shape=(5, 4))
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=2)
    out = mha(query=q, value=v)
    assert out.shape == (None, 3, 4)
    model = Model([q, v], out)
    rng = np.random.default_rng(4)
    xq, xv = rng.random((2, 3, 4)).astype(np.float32), rng.random((2, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict([xq, xv], verbose=0), as_np(mha(xq, xv)),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([xq, xv], verbose=0), as_np(mha(xq, xv)),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_training_false_is_kept_by_the_graph():
    base = Sequential([Input(shape=(3,)), layers.Dense(3), layers.Dropout(0.9)])
    inputs = Input(shape=(3,))
    model = Model(inputs, base(inputs, training=False))
    x = np.ones((4, 3), np.float32)
    # even when the outer call trains, the base runs in inference mode: no dropout
    np.testing.assert_allclose(as_np(model(x, training=True)), as_np(base(x, training=False)))


class KerasGuideScale(layers.Layer):
    """A custom layer for the custom_objects tests."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_from_config_model_from_json_and_custom_objects(tmp_path):
    inputs = Input(shape=(3,))
    x = KerasGuideScale(3.0)(layers.Dense(2)(inputs))
    model = Model(inputs, x)
    v = np.ones((2, 3), np.float32)
    want = model.predict(v, verbose=0)
    config = model.get_config()
    del layers.module._registry["KerasGuideScale"]  # as in a fresh process that never defined it
    try:
        with pytest.raises(ValueError, match="custom_objects"):
            Model.from_config(config)
        clone = Model.from_config(config, custom_objects={"KerasGuideScale": KerasGuideScale})
        assert isinstance(clone.layers[-1], KerasGuideScale) and clone.layers[-1].factor == 3.0
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone.predict(v, verbose=0), want, rtol=1e-6)
        rebuilt = models.model_from_json(
            model.to_json(), custom_objects={"KerasGuideScale": KerasGuideScale}
        )
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_allclose(rebuilt.predict(v, verbose=0), want, rtol=1e-6)
        model.save(tmp_path / "c.deepcore")
        with pytest.raises(ValueError, match="custom_objects"):
            models.load_model(tmp_path / "c.deepcore")
        loaded = models.load_model(
            tmp_path / "c.deepcore", custom_objects={"KerasGuideScale": KerasGuideScale}
        )
        np.testing.assert_allclose(loaded.predict(v, verbose=0), want, rtol=1e-6)
    finally:
        layers.module._registry["KerasGuideScale"] = KerasGuideScale
    with pytest.raises(ValueError, match="not valid JSON"):
        models.model_from_json("{not json")
