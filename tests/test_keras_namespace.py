"""deepcore.keras: Keras 3's top-level namespace (import deepcore.keras as keras), its
activations / random / saving modules and keras.utils.set_random_seed."""

from __future__ import annotations

import subprocess
import sys

import deepcore as dc
import deepcore.keras as keras
import numpy as np
import pytest
from deepcore import nn
from deepcore.keras import activations, layers, ops
from deepcore.keras import random as krandom
from deepcore.testing import gradcheck

# ---------------------------------------------------------------- the namespace


def test_submodules_are_deepcores_own():
    assert layers is nn and ops is dc.ops
    assert keras.optimizers is dc.optim and keras.models is dc.models
    assert keras.losses is dc.losses and keras.metrics is dc.metrics
    assert keras.callbacks is dc.callbacks and keras.utils is dc.utils
    assert keras.Sequential is dc.models.Sequential and keras.Model is dc.models.Model
    assert keras.Input is dc.models.Input and keras.Layer is nn.Layer
    assert keras.initializers is nn.initializers and keras.regularizers is nn.regularizers


def test_dotted_imports_work_as_with_keras():
    code = (
        "from deepcore.keras.layers import Dense, Conv2D\n"
        "import deepcore.keras.ops as o\n"
        "from deepcore.keras.optimizers import Adam\n"
        "from deepcore.keras.optimizers.schedules import ExponentialDecay\n"
        "from deepcore.keras.saving import register_keras_serializable\n"
        "import deepcore, deepcore.nn, deepcore.optim.schedules as s\n"
        "assert Dense is deepcore.nn.Dense and o is deepcore.ops\n"
        "assert ExponentialDecay is s.ExponentialDecay\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_keras_io_style_script_runs(tmp_path):
    """keras.io's functional-API shape, written against keras.* names only."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(6,))
    x = layers.Dense(8, activation="relu")(inputs)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(96, 6)).astype("float32")
    ys = (xs[:, 0] > 0).astype("int64") + (xs[:, 1] > 0)
    hist = model.fit(xs, ys, epochs=3, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    path = tmp_path / "m.keras"
    model.save(path)
    back = keras.saving.load_model(path)
    np.testing.assert_allclose(back.predict(xs, verbose=0), model.predict(xs, verbose=0), 1e-6)


# ---------------------------------------------------------------- activations


def test_activations_are_the_registry():
    names = dc.nn.functional.ACTIVATIONS.names(aliases=True)
    for name in names:
        assert getattr(activations, name) is activations.get(name)
    for name in ("relu", "sigmoid", "softmax", "gelu", "silu", "swish", "hard_silu", "elu"):
        assert name in activations.__all__


def test_activation_values_and_round_trip():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(activations.relu(x).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(activations.sigmoid(x).numpy(), 1 / (1 + np.exp(-x)), 1e-12)
    # Keras's leaky_relu function default (0.2)
    np.testing.assert_allclose(activations.leaky_relu(x).numpy(), np.where(x > 0, x, 0.2 * x))
    assert activations.serialize(activations.silu) == "swish"
    assert activations.deserialize("silu") is activations.swish
    assert activations.deserialize("mine", custom_objects={"mine": abs}) is abs
    assert activations.get(None) is activations.linear
    with pytest.raises(ValueError, match="relux"):
        activations.get("relux")


# ---------------------------------------------------------------- random


def test_random_seeding_rules():
    a = krandom.normal((3, 4), seed=7).numpy()
    b = krandom.normal((3, 4), seed=7).numpy()
    np.testing.assert_array_equal(a, b)  # an int seed is a fixed draw
    gen = krandom.SeedGenerator(7)
    c = krandom.normal((3, 4), seed=gen).numpy()
    d = krandom.normal((3, 4), seed=gen).numpy()
    assert not np.array_equal(c, d)  # a SeedGenerator advances
    g2 = krandom.SeedGenerator(7)
    np.testing.assert_array_equal(krandom.normal((3, 4), seed=g2).numpy(), c)
    dc.manual_seed(5)
    e = krandom.uniform((5,)).numpy()
    dc.manual_seed(5)
    np.testing.assert_array_equal(krandom.uniform((5,)).numpy(), e)  # None: the global one
    assert a.dtype == np.float32
    assert krandom.normal((2,), dtype="float64").dtype == np.float64


def test_random_distributions():
    n = 200_000
    z = krandom.normal((n,), mean=2.0, stddev=3.0, seed=1).numpy().astype(np.float64)
    assert abs(z.mean() - 2.0) < 0.05 and abs(z.std() - 3.0) < 0.05
    u = krandom.uniform((n,), minval=-1.0, maxval=3.0, seed=2).numpy()
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.02
    t = krandom.truncated_normal((n,), mean=1.0, stddev=0.5, seed=3).numpy()
    assert t.min() >= 0.0 and t.max() <= 2.0  # within two standard deviations
    assert abs(t.std() - 0.5 * 0.8796) < 0.01  # the std of N(0,1) truncated at +-2
    r = krandom.randint((n,), 3, 9, seed=4).numpy()
    assert r.dtype == np.int32 and r.min() == 3 and r.max() == 8
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0 + 1e-300]]))
    s = krandom.categorical(logits, 20_000, seed=5).numpy()
    assert s.shape == (2, 20_000)
    freq = np.stack([(s == k).mean(axis=1) for k in range(3)], axis=1)
    np.testing.assert_allclose(freq, [[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]], atol=0.015)


def test_random_dropout_and_shuffle():
    x = dc.tensor(np.ones((400, 50)), requires_grad=True)
    y = krandom.dropout(x, 0.25, seed=3)
    v = y.detach().numpy()
    assert set(np.unique(v)) <= {0.0, 1 / 0.75}
    assert abs((v == 0).mean() - 0.25) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), v)  # d/dx of x*mask is the mask
    shared = krandom.dropout(np.ones((4, 6)), 0.5, noise_shape=(1, 6), seed=1).numpy()
    assert (shared == shared[0]).all()  # one draw per column
    gradcheck(lambda a: krandom.dropout(a, 0.3, seed=9), [np.random.rand(5, 4)])
    s = krandom.shuffle(np.arange(10) * 1.0, seed=2).numpy()
    assert sorted(s) == list(range(10)) and list(s) != list(range(10))
    m = krandom.shuffle(np.arange(12).reshape(3, 4), axis=1, seed=2).numpy()
    assert (np.sort(m, axis=1) == np.arange(12).reshape(3, 4)).all()
    assert (m - m[:, :1] == m[0] - m[0, 0]).all()  # the same permutation for every row


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: krandom.normal((2, -1)), ValueError, "negative"),
        (lambda: krandom.normal("abc"), TypeError, "shape"),
        (lambda: krandom.normal((2,), seed=1.5), TypeError, "seed"),
        (lambda: krandom.normal((2,), seed=-1), ValueError, "seed"),
        (lambda: krandom.normal((2,), dtype="int32"), TypeError, "dtype"),
        (lambda: krandom.uniform((2,), 1.0, 1.0), ValueError, "maxval"),
        (lambda: krandom.randint((2,), 5, 5), ValueError, "maxval"),
        (lambda: krandom.randint((2,), 0, 2**40, dtype="int32"), ValueError, "int32"),
        (lambda: krandom.randint((2,), 0, 4, dtype="float32"), TypeError, "integer"),
        (lambda: krandom.categorical(np.zeros(3), 2), ValueError, "logits"),
        (lambda: krandom.dropout(np.ones(3), 1.0), ValueError, "rate"),
        (lambda: krandom.dropout(np.ones((2, 3)), 0.5, noise_shape=(4,)), ValueError, "noise"),
        (lambda: krandom.shuffle(np.ones(3), axis=2), ValueError, "axis"),
    ],
)
def test_random_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------- saving and seeds


@pytest.fixture
def clean_registry():
    """Registration is global: undo this test's, so other tests' classes keep their names."""
    saved = dict(keras.saving.get_custom_objects())
    yield
    keras.saving.get_custom_objects().clear()
    keras.saving.get_custom_objects().update(saved)


def test_registered_objects_load_without_custom_objects(tmp_path, clean_registry):
    ns: dict = {}
    exec(  # a fresh class and function each run (registration is global)
        "import deepcore.keras as keras\n"
        "from deepcore.keras import layers, ops\n"
        "@keras.saving.register_keras_serializable(package='T')\n"
        "class NsScale(layers.Layer):\n"
        "    def __init__(self, factor=2.0, **kw):\n"
        "        super().__init__(**kw); self.factor = factor\n"
        "    def call(self, x):\n"
        "        return x * self.factor\n"
        "    def get_config(self):\n"
        "        return {**super().get_config(), 'factor': self.factor}\n"
        "@keras.saving.register_keras_serializable()\n"
        "def ns_half_mse(y_true, y_pred):\n"
        "    return 0.5 * ops.mean(ops.square(y_true - y_pred), axis=-1)\n",
        ns,
    )
    inputs = keras.Input(shape=(3,))
    out = layers.Dense(1)(ns["NsScale"](3.0)(inputs))
    model = keras.Model(inputs, out)
    model.compile(optimizer="sgd", loss=ns["ns_half_mse"])
    x = np.random.rand(8, 3).astype("float32")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras")
    assert type(back.layers[1]).__name__ == "NsScale" and back.layers[1].factor == 3.0
    assert back.evaluate(x, x[:, :1], verbose=0) == pytest.approx(
        model.evaluate(x, x[:, :1], verbose=0), rel=1e-6
    )
    assert keras.saving.get_registered_name(ns["NsScale"]) == "T>NsScale"
    assert keras.saving.get_registered_object("T>NsScale") is ns["NsScale"]
    assert keras.saving.get_registered_object("nope") is None


def test_unregistered_custom_loss_still_needs_custom_objects(tmp_path):
    def private_loss(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)

    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=private_loss)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="private_loss"):
        keras.saving.load_model(tmp_path / "m.keras")
    back = keras.saving.load_model(
        tmp_path / "m.keras", custom_objects={"private_loss": private_loss}
    )
    x = np.ones((4, 2), "float32")
    assert back.evaluate(x, x[:, :1], verbose=0) == pytest.approx(
        model.evaluate(x, x[:, :1], verbose=0), rel=1e-6
    )


def test_register_bad_input(clean_registry):
    with pytest.raises(ValueError, match="package"):
        keras.saving.register_keras_serializable(package="a>b")
    with pytest.raises(ValueError, match="name"):
        keras.saving.register_keras_serializable()(object())


def test_set_random_seed_reproduces_a_model():
    def build():
        keras.utils.set_random_seed(42)
        m = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(4), layers.Dense(2)])
        return [w.copy() for w in m.get_weights()], np.random.rand(), __import__("random").random()

    w1, n1, p1 = build()
    w2, n2, p2 = build()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert n1 == n2 and p1 == p2
    with pytest.raises(TypeError, match="seed"):
        keras.utils.set_random_seed(1.5)
    with pytest.raises(ValueError, match="seed"):
        keras.utils.set_random_seed(-1)


def test_keras_only_ops_on_placeholders_build_a_saved_graph(tmp_path):
    """ops.relu / ops.softmax (keras.ops's nn family, not top-level deepcore names) record
    graph nodes like every other op, and the graph saves and reloads."""
    x = keras.Input((4,))
    y = ops.softmax(ops.relu(x) * 2.0)
    model = keras.Model(x, y)
    v = np.array([[1.0, -2.0, 3.0, 0.0]], np.float32)
    r = np.maximum(v, 0) * 2
    want = np.exp(r) / np.exp(r).sum()
    np.testing.assert_allclose(model.predict(v, verbose=0), want, rtol=1e-6)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(
        keras.saving.load_model(tmp_path / "m.keras").predict(v, verbose=0), want, rtol=1e-6
    )
    with pytest.raises(ValueError, match="multi_hot"):
        ops.multi_hot(keras.Input((3,), dtype="int64"), 5)  # sizes from arguments: refused


def test_shape_queries_on_placeholders_answer_instead_of_recording():
    x = keras.Input((3, 4))
    assert ops.ndim(x) == 3 and ops.shape(x) == (None, 3, 4)
    assert str(ops.dtype(x)) == "float32"
    y = ops.conv(x, np.ones((2, 4, 5), np.float32), padding="same")  # a keras.ops-only name
    out = keras.Model(x, y).predict(np.ones((1, 3, 4), np.float32), verbose=0)
    np.testing.assert_allclose(out[0, 1], np.full(5, 8.0))  # two taps x four channels of ones
