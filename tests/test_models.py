"""deepcore.models: Sequential, the functional API, summary()."""

from __future__ import annotations

import re

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import models
from deepcore.models import Input, Model, Sequential


@pytest.fixture(autouse=True)
def _fresh_names():
    layers.reset_name_counters()
    dc.manual_seed(0)


def seed_convnet() -> Sequential:
    model = Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    return model


# ---------------------------------------------------------------------- Sequential
def test_seed_convnet_parameter_counts_and_summary():
    model = seed_convnet()
    assert model.built
    assert model.count_params() == 93_322
    conv_part = sum(lyr.count_params() for lyr in model.layers[:5])
    assert conv_part == 55_744
    lines: list[str] = []
    text = model.summary(print_fn=lines.append)
    assert "\n".join(lines) == text
    assert lines[0] == 'Model: "sequential"'
    assert re.search(r"Layer \(type\)\s+Output Shape\s+Param #", text)
    expected = [
        ("conv2d (Conv2D)", "(None, 26, 26, 32)", "320"),
        ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
        ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"),
        ("max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"),
        ("conv2d_2 (Conv2D)", "(None, 3, 3, 64)", "36,928"),
        ("flatten (Flatten)", "(None, 576)", "0"),
        ("dense (Dense)", "(None, 64)", "36,928"),
        ("dense_1 (Dense)", "(None, 10)", "650"),
    ]
    for name, shape, params in expected:
        assert re.search(
            re.escape(name) + r"\s+" + re.escape(shape) + r"\s+" + params + r"$", text, re.M
        ), name
    assert "Total params: 93,322 (364.54 KB)" in text
    assert "Trainable params: 93,322 (364.54 KB)" in text
    assert "Non-trainable params: 0 (0.00 B)" in text


def test_summary_prints_to_stdout(capsys):
    model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    model.summary()
    out = capsys.readouterr().out
    assert "Total params: 26" in out and "dense_1 (Dense)" in out


def test_non_trainable_params_in_summary():
    model = Sequential(
        [layers.Dense(8, input_shape=(4,)), layers.BatchNormalization(), layers.Dense(1)]
    )
    text = model.summary(print_fn=lambda s: None)
    # BatchNormalization: gamma, beta trainable (16); moving mean/var not (16)
    assert "Total params: 81" in text
    assert "Trainable params: 65" in text
    assert "Non-trainable params: 16" in text


def test_sequential_builds_lazily_and_matches_manual_forward():
    model = Sequential([layers.Dense(5, activation="relu"), layers.Dense(3)])
    assert not model.built
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert model.built and y.shape == (7, 3)
    d0, d1 = model.layers
    h = np.maximum(x @ d0.kernel.data + d0.bias.data, 0)
    np.testing.assert_allclose(y, h @ d1.kernel.data + d1.bias.data, rtol=1e-5, atol=1e-6)
    # calling the model is the same forward, and model.parameters() has all four weights
    np.testing.assert_allclose(model(dc.tensor(x)).detach().numpy(), y, rtol=1e-6)
    assert len(list(model.parameters())) == 4


def test_sequential_add_errors():
    model = Sequential([layers.Dense(2, input_shape=(3,), name="a")])
    with pytest.raises(ValueError, match="unique names"):
        model.add(layers.Dense(2, name="a"))
    with pytest.raises(TypeError, match="expects a layer"):
        model.add("dense")
    with pytest.raises(ValueError, match="cannot take input"):
        Sequential([layers.Conv2D(2, 3, input_shape=(5,))])


def test_sequential_with_input_and_pop():
    model = Sequential()
    model.add(Input(shape=(6,)))
    model.add(layers.Dense(3))
    assert model.built and model.output_shape == (None, 3)
    model.add(layers.Dense(2))
    assert model.output_shape == (None, 2)
    model.pop()
    assert model.output_shape == (None, 3)


def test_channels_last_convnet_matches_torch_layout():
    """The planned channels-last stack equals the same convolution done by hand in NCHW."""
    model = Sequential(
        [
            layers.Conv2D(3, (3, 3), input_shape=(6, 6, 2)),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
        ]
    )
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 2)).astype(np.float32)
    got = model.predict(x, verbose=0)
    conv = model.layers[0]
    xt = dc.tensor(x.transpose(0, 3, 1, 2))
    ref = dc.nn.functional.conv2d(xt, conv.kernel, conv.bias)
    ref = dc.nn.functional.max_pool2d(ref, 2).detach().numpy().transpose(0, 2, 3, 1)  # to NHWC
    np.testing.assert_allclose(got, ref.reshape(2, -1), rtol=1e-5, atol=1e-5)


def test_functional_channels_last_chains_are_planned():
    """A functional convnet keeps NCHW inside its conv/pool chains and equals the Sequential."""

    def stack():
        return [
            layers.Conv2D(3, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(),
            layers.Conv2D(4, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(2),
        ]

    inp = Input(shape=(8, 8, 2))
    branch = stack()
    h = inp
    for lyr in branch:
        h = lyr(h)
    side = layers.Flatten()(layers.Conv2D(1, 1)(inp))  # a second consumer of the input
    model = Model(inp, [h, layers.Dense(2)(side)])
    assert branch[0]._nchw_out and branch[1]._nchw_in and branch[2]._nchw_in
    seq = Sequential(
        [
            layers.Conv2D(3, 3, activation="relu", padding="same", input_shape=(8, 8, 2)),
            *stack()[1:],
        ]
    )
    seq.set_weights([w for lyr in branch for w in lyr.get_weights()])
    x = np.random.default_rng(3).standard_normal((3, 8, 8, 2)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(x, verbose=0)[0], seq.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def test_nested_sequential():
    inner = Sequential([layers.Dense(4, activation="relu")], name="block")
    model = Sequential([layers.Dense(4, input_shape=(3,)), inner, layers.Dense(1)])
    assert model.count_params() == 16 + 20 + 5
    assert "block (Sequential)" in model.summary(print_fn=lambda s: None)


# ---------------------------------------------------------------------- functional
def test_functional_residual_and_shared_layers():
    x = Input(shape=(8,))
    h = layers.Dense(8, activation="relu")(x)
    shared = layers.Dense(8, name="shared")
    a = shared(h)
    b = shared(layers.Dense(8)(x))  # the same weights applied twice
    y = layers.Dense(2)(layers.Add()([a, b, h]))
    model = Model(inputs=x, outputs=y)
    assert isinstance(model, models.Functional)
    assert model.output_shape == (None, 2)
    names = [lyr.name for lyr in model.layers]
    assert names.count("shared") == 1
    assert model.count_params() == 72 + 72 + 72 + 18
    xv = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    out = model.predict(xv, verbose=0)
    lyr = {layer.name: layer for layer in model.layers}

    def dense(name, v, relu=False):
        d = lyr[name]
        r = v @ d.kernel.data + d.bias.data
        return np.maximum(r, 0) if relu else r

    hv = dense("dense", xv, relu=True)
    ref = dense("dense_2", dense("shared", hv) + dense("shared", dense("dense_1", xv)) + hv)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    text = model.summary(print_fn=lambda s: None)
    assert "Connected to" in text and "InputLayer" in text


def test_functional_multi_input_multi_output_and_concat():
    a = Input(shape=(3,), name="a")
    b = Input(shape=(5,), name="b")
    h = layers.Concatenate()([a, b])
    o1 = layers.Dense(2, name="o1")(h)
    o2 = layers.Dense(1, name="o2")(h)
    model = Model([a, b], [o1, o2])
    assert model.input_names == ["a", "b"] and model.output_names == ["o1", "o2"]
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((4, 3)), rng.standard_normal((4, 5))
    p1, p2 = model.predict([xa, xb], verbose=0)
    assert p1.shape == (4, 2) and p2.shape == (4, 1)
    q1, q2 = model.predict({"a": xa, "b": xb}, verbose=0)
    np.testing.assert_array_equal(p1, q1)


def test_functional_graph_errors():
    x = Input(shape=(3,))
    other = Input(shape=(3,))
    y = layers.Add()([layers.Dense(3)(x), other])
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(inputs=x, outputs=y)
    with pytest.raises(TypeError, match="placeholders"):
        Model(inputs=x, outputs=np.zeros(3))
    with pytest.raises(TypeError, match="no values"):
        np.asarray(x)


def test_functional_config_round_trip():
    x = Input(shape=(4,))
    h = layers.Dense(6, activation="tanh")(x)
    y = layers.Dense(3)(layers.Add()([h, layers.Dense(6)(x)]))
    model = Model(x, y, name="res")
    clone = models.Functional.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    xv = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        clone.predict(xv, verbose=0), model.predict(xv, verbose=0), rtol=1e-6
    )
    assert [type(lyr).__name__ for lyr in clone.layers] == [
        type(lyr).__name__ for lyr in model.layers
    ]


def test_subclassed_model_trains_pytorch_style():
    from deepcore import optim

    class MLP(Model):
        def __init__(self):
            super().__init__()
            self.fc1 = layers.Dense(16, activation="relu")
            self.fc2 = layers.Dense(1)

        def call(self, x):
            return self.fc2(self.fc1(x))

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (x[:, :1] * 2 - x[:, 1:]).astype(np.float32)
    model = MLP()
    model(dc.tensor(x))
    opt = optim.SGD(model.parameters(), lr=0.1)
    first = None
    for _ in range(60):
        loss = dc.nn.functional.mse_loss(model(dc.tensor(x)), dc.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.1 * first


def test_placeholders_take_the_layer_dtype_after_integer_inputs():
    # an Embedding of int64 ids computes in float32 eagerly, so its placeholder is float32 too
    # (it was int64, and the next layer's dry run multiplied float32 weights by int64 dummies)
    ids = Input((7,), dtype="int64")
    emb = layers.Embedding(11, 4, mask_zero=True)(ids)
    seq, h, _ = layers.LSTM(5, return_sequences=True, return_state=True)(emb)
    assert ids.dtype == "int64" and emb.dtype == seq.dtype == h.dtype == "float32"
    query = Input((3, 5))
    model = Model([ids, query], layers.Attention()([query, seq]))
    x = np.array([[1, 2, 0, 0, 0, 0, 0]] * 2)
    assert model.predict([x, np.ones((2, 3, 5), np.float32)], verbose=0).shape == (2, 3, 5)
