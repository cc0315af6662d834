"""Keras mixed precision: dtype policies (keras.mixed_precision / keras.DTypePolicy), layers
computing in float16 with float32 weights, LossScaleOptimizer (dynamic loss scaling) against a
reference written here from Keras 3's rules, model.fit / save / load under "mixed_float16",
and the Keras guide's example. float16 parameters in the plain optimizers (a float32 master
copy) are tested in tests/test_optim_float16.py."""

import deepcore as dc
import deepcore.keras as keras
import numpy as np
import pytest
from deepcore.keras import layers, mixed_precision

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)


@pytest.fixture
def mixed():
    """The global policy "mixed_float16" for one test (always put back)."""
    mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        mixed_precision.set_global_policy("float32")


# ------------------------------------------------------------------------------ policies
def test_global_policy_as_the_keras_docs_show(mixed):
    """keras.mixed_precision.set_global_policy's docstring, line by line."""
    assert repr(mixed_precision.global_policy()) == '<DTypePolicy "mixed_float16">'
    assert layers.Dense(10).dtype_policy == mixed_precision.Policy("mixed_float16")
    # a policy passed to the constructor wins over the global one
    assert repr(layers.Dense(10, dtype="float64").dtype_policy) == '<DTypePolicy "float64">'
    mixed_precision.set_global_policy("float32")
    assert mixed_precision.global_policy().name == "float32"
    assert layers.Dense(10).dtype_policy.name == "float32"


def test_policy_dtypes_and_aliases():
    p = keras.DTypePolicy("mixed_float16")
    assert (p.name, p.compute_dtype, p.variable_dtype) == ("mixed_float16", "float16", "float32")
    q = mixed_precision.DTypePolicy("float64")
    assert (q.compute_dtype, q.variable_dtype) == ("float64", "float64")
    assert mixed_precision.Policy is mixed_precision.DTypePolicy is keras.DTypePolicy
    assert mixed_precision.set_dtype_policy is mixed_precision.set_global_policy
    assert mixed_precision.dtype_policy is mixed_precision.global_policy
    assert keras.DTypePolicy.from_config(p.get_config()) == p
    assert keras.DTypePolicy().name == "float32"  # no name: the global policy's


def test_layer_dtype_attributes_under_mixed_float16(mixed):
    """Keras 3: layer.dtype is the variable dtype; inputs and outputs in the compute dtype."""
    dense = layers.Dense(3)
    assert (dense.dtype, dense.compute_dtype, dense.variable_dtype) == (
        "float32",
        "float16",
        "float32",
    )
    y = dense(np.ones((2, 4), np.float32))
    assert y.dtype == F16
    assert dense.kernel.dtype == F32 and dense.bias.dtype == F32
    dense.dtype_policy = "float32"  # settable, as in Keras
    assert dense(np.ones((2, 4), np.float32)).dtype == F32


def test_bad_policies_are_clear_errors():
    with pytest.raises(ValueError, match="no bfloat16.*'mixed_bfloat16'"):
        mixed_precision.set_global_policy("mixed_bfloat16")
    with pytest.raises(ValueError, match="bfloat16"):
        layers.Dense(2, dtype="bfloat16")
    with pytest.raises(ValueError, match="cannot convert 'mixed_float8'"):
        keras.DTypePolicy("mixed_float8")
    with pytest.raises(TypeError, match="must be a string"):
        keras.DTypePolicy(16)
    with pytest.raises(ValueError, match="expects the name of a policy"):
        mixed_precision.set_global_policy(3.0)
    with pytest.raises(TypeError, match="dtype must be a dtype policy"):
        layers.Dense(2, dtype=object())
    assert mixed_precision.global_policy().name == "float32"  # nothing changed


# ------------------------------------------------------------------------------ numerics
def _round(a):
    return np.asarray(a, np.float64).astype(np.float16).astype(np.float64)


def test_dense_computes_in_float16_with_float32_weights(mixed):
    """The output is float16 of (x, kernel, bias rounded to float16) computed in float32, the
    kernel's gradient float32 and equal to the float16-rounded reference gradient."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    dense = layers.Dense(3, activation="tanh")
    xt = dc.tensor(x)
    y = dense(xt)
    assert y.dtype == F16
    k, b = _round(dense.kernel.data), _round(dense.bias.data)
    ref = np.tanh(_round(_round(x) @ k + b))
    np.testing.assert_allclose(y.data.astype(np.float64), ref, rtol=2e-3, atol=2e-3)
    y.sum().backward()
    assert dense.kernel.grad.dtype == F32 and dense.bias.grad.dtype == F32
    dz = _round(1.0 - _round(ref) ** 2)
    np.testing.assert_allclose(dense.kernel.grad.data, _round(x).T @ dz, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(dense.bias.grad.data, dz.sum(0), rtol=1e-2, atol=1e-2)


def test_weights_in_custom_layer_calls_are_read_in_float16(mixed):
    """A custom layer's own arithmetic on its weights (Keras's AutocastScope)."""

    class AutocastProbe(keras.Layer):
        def build(self, input_shape):
            self.w = self.add_weight((input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w + self.w

    layer = AutocastProbe()
    out = layer(np.full((2, 3), 0.5, np.float32))
    assert out.dtype == F16 and layer.w.dtype == F32
    out.sum().backward()
    assert layer.w.grad.dtype == F32
    np.testing.assert_array_equal(out.data, np.full((2, 3), 1.5, np.float16))
    np.testing.assert_array_equal(layer.w.grad.data, np.full(3, 3.0))


def test_a_float32_layer_overrides_the_global_policy(mixed):
    """The guide: Activation('softmax', dtype='float32') gives float32 from float16 input."""
    act = layers.Activation("softmax", dtype="float32")
    assert act.dtype_policy.name == "float32"
    x16 = dc.tensor(np.array([[1.0, 2.0, 3.0]], np.float16))
    out = act(x16)
    assert out.dtype == F32
    e = np.exp(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(out.data[0], e / e.sum(), rtol=1e-6)


def test_losses_score_float16_predictions_in_float32(mixed):
    y = dc.tensor(np.array([[0.2, 0.8]], np.float16), requires_grad=True)
    loss = keras.losses.CategoricalCrossentropy()(np.array([[0.0, 1.0]]), y)
    assert loss.dtype == F32
    p = np.float64(np.float16(0.8)) / (np.float64(np.float16(0.2)) + np.float64(np.float16(0.8)))
    np.testing.assert_allclose(loss.item(), -np.log(p), rtol=1e-6)  # Keras normalises y_pred


def test_loss_scaling_recovers_gradients_that_underflow_in_float16(mixed):
    """Why LossScaleOptimizer exists: a loss whose float16 gradients are below float16's
    smallest subnormal (6e-8) trains only when the loss is scaled."""
    dense = layers.Dense(1, use_bias=False, kernel_initializer="ones")
    x = np.ones((1, 4), np.float32)
    (dense(x) * 1e-8).sum().backward()
    assert not dense.kernel.grad.data.any()  # underflowed to zero
    dense.kernel.grad = None
    opt = mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(1.0))
    opt.scale_loss((dense(x) * 1e-8).sum()).backward()
    g = dense.kernel.grad.data / opt.dynamic_scale
    np.testing.assert_allclose(g, np.full((4, 1), 1e-8), rtol=1e-3)


# ------------------------------------------------------------------------------ LossScaleOptimizer
def _lso_reference(initial, growth, finite_flags):
    """Keras 3's rule: a finite step counts (doubling at growth - 1), a non-finite one halves
    the scale and resets the counter. Returns (scale, counter) after each step."""
    scale, counter, out = initial, 0, []
    for ok in finite_flags:
        if ok:
            if counter == growth - 1:
                counter, scale = 0, scale * 2.0
            else:
                counter += 1
        else:
            counter, scale = 0, scale / 2.0
        out.append((scale, counter))
    return out


def test_loss_scale_optimizer_follows_keras_rules():
    rng = np.random.default_rng(1)
    p = dc.nn.Parameter(rng.standard_normal(6).astype(np.float32))
    q = dc.nn.Parameter(p.data.copy())
    opt = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(0.1, momentum=0.9), initial_scale=8.0, dynamic_growth_steps=3
    )
    plain = keras.optimizers.SGD(0.1, momentum=0.9)
    flags = [True, True, False, True, True, True, True, False, False, True]
    expected = _lso_reference(8.0, 3, flags)
    for ok, (scale, counter) in zip(flags, expected):
        g = rng.standard_normal(6).astype(np.float32)
        scaled = g * np.float32(opt.dynamic_scale)
        if not ok:
            scaled[rng.integers(6)] = [np.inf, np.nan][rng.integers(2)]
        before = p.data.copy()
        opt.apply([scaled], [p])
        if ok:
            plain.apply([g], [q])  # the same step on the unscaled gradient
            np.testing.assert_array_equal(p.data, q.data)
        else:
            np.testing.assert_array_equal(p.data, before)  # skipped
        assert (opt.dynamic_scale, opt.step_counter) == (scale, counter)
    assert opt.iterations == plain.iterations == sum(flags)


def test_loss_scale_optimizer_docstring_example():
    """var = 1, loss = var ** 2, SGD(0.25): one step gives 0.5 (tf.keras's docstring example,
    in Keras 3's API: scale_loss, then apply unscales)."""
    opt = mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(0.25))
    var = dc.nn.Parameter(np.array(1.0, np.float32))
    opt.scale_loss(var**2).backward()
    np.testing.assert_array_equal(var.grad.data, 2.0 * 2.0**15)
    opt.apply([var.grad], [var])
    assert var.item() == 0.5


def test_clipping_on_the_inner_optimizer_sees_the_unscaled_gradients():
    g = np.array([3.0, 4.0], np.float32)  # norm 5
    for clip in ({"clipnorm": 1.0}, {"global_clipnorm": 1.0}, {"clipvalue": 0.5}):
        p = dc.nn.Parameter(np.zeros(2, np.float32))
        q = dc.nn.Parameter(np.zeros(2, np.float32))
        lso = mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(1.0, **clip))
        lso.apply([g * np.float32(lso.dynamic_scale)], [p])
        keras.optimizers.SGD(1.0, **clip).apply([g], [q])
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6, err_msg=str(clip))


def test_loss_scale_optimizer_reads_through_to_the_inner_one():
    inner = keras.optimizers.Adam(learning_rate=0.01)
    opt = keras.optimizers.LossScaleOptimizer(inner)
    assert opt.learning_rate == pytest.approx(0.01)
    opt.learning_rate = 0.5
    assert inner.learning_rate == 0.5
    p = dc.nn.Parameter(np.ones(3, np.float32))
    opt.build([p])
    assert opt.built and opt.param_groups is inner.param_groups and opt.iterations == 0
    cfg = opt.get_config()
    assert cfg["inner_optimizer"]["class_name"] == "Adam"
    back = keras.optimizers.LossScaleOptimizer.from_config(cfg)
    assert isinstance(back.inner_optimizer, keras.optimizers.Adam)
    assert (back.initial_scale, back.dynamic_growth_steps) == (2.0**15, 2000)


@pytest.mark.parametrize(
    "make, err, match",
    [
        (lambda: mixed_precision.LossScaleOptimizer("sgd"), TypeError, "inner_optimizer"),
        (
            lambda: mixed_precision.LossScaleOptimizer(
                mixed_precision.LossScaleOptimizer(keras.optimizers.SGD())
            ),
            ValueError,
            "scaled twice",
        ),
        (
            lambda: mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(), dynamic=False),
            ValueError,
            "dynamic=False",
        ),
        (
            lambda: mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(), clipnorm=1.0),
            ValueError,
            "clipnorm.*inner optimizer",
        ),
        (
            lambda: mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(), initial_scale=0),
            ValueError,
            "initial_scale",
        ),
        (
            lambda: mixed_precision.LossScaleOptimizer(
                keras.optimizers.SGD(), initial_scale=float("inf")
            ),
            ValueError,
            "initial_scale",
        ),
        (
            lambda: mixed_precision.LossScaleOptimizer(
                keras.optimizers.SGD(), dynamic_growth_steps=0
            ),
            ValueError,
            "dynamic_growth_steps",
        ),
        (
            lambda: mixed_precision.LossScaleOptimizer(
                keras.optimizers.SGD(), dynamic_growth_steps=2.5
            ),
            TypeError,
            "dynamic_growth_steps",
        ),
        (
            lambda: mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(), foo=1),
            ValueError,
            "foo",
        ),
    ],
)
def test_loss_scale_optimizer_bad_arguments(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_loss_scale_optimizer_state_round_trip_and_bad_state():
    p = dc.nn.Parameter(np.ones(3, np.float32))
    opt = mixed_precision.LossScaleOptimizer(keras.optimizers.Adam(), initial_scale=4.0)
    opt.apply([np.full(3, np.inf, np.float32)], [p])
    opt.apply([np.ones(3, np.float32)], [p])
    sd = opt.state_dict()
    assert sd["loss_scale"] == {"dynamic_scale": 2.0, "step_counter": 1}
    other = mixed_precision.LossScaleOptimizer(keras.optimizers.Adam())
    other.build([dc.nn.Parameter(np.ones(3, np.float32))])
    other.load_state_dict(sd)
    assert (other.dynamic_scale, other.step_counter, other.iterations) == (2.0, 1, 1)
    bad = dict(sd, loss_scale={"dynamic_scale": -1.0})
    with pytest.raises(ValueError, match="dynamic_scale"):
        other.load_state_dict(bad)
    with pytest.raises(TypeError, match="step_counter"):
        other.load_state_dict(dict(sd, loss_scale={"step_counter": 1.5}))
    assert other.dynamic_scale == 2.0  # unchanged by the refused loads


# ------------------------------------------------------------------------------ models
def _guide_model(units=64):
    """keras.io's mixed precision guide model, imports changed and sizes small."""
    inputs = keras.Input(shape=(784,), name="digits")
    dense1 = layers.Dense(units, activation="relu", name="dense_1")
    x = dense1(inputs)
    dense2 = layers.Dense(units, activation="relu", name="dense_2")
    x = dense2(x)
    assert repr(dense1.dtype_policy) == '<DTypePolicy "mixed_float16">'
    assert x.dtype == "float16"  # the guide prints "x.dtype: float16"
    x = layers.Dense(10, name="dense_logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
    assert outputs.dtype == "float32"  # "Outputs dtype: float32"
    return keras.Model(inputs=inputs, outputs=outputs)


def _digits(n, seed):
    """A learnable MNIST-shaped task: class c brightens pixels 78c .. 78c + 77 of noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, 784), dtype=np.float32) * 0.5
    x[np.arange(n)[:, None], y[:, None] * 78 + np.arange(78)] += 0.5
    return x, y


def test_the_guide_example_trains_under_mixed_float16(mixed):
    model = _guide_model()
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, keras.optimizers.RMSprop)
    assert model.dtype_policy.name == "mixed_float16"
    x, y = _digits(768, 0)
    history = model.fit(x, y, batch_size=128, epochs=4, validation_split=0.25, verbose=0)
    loss = history.history["loss"]
    assert all(np.isfinite(loss)) and loss[-1] < 0.6 * loss[0]
    assert history.history["val_accuracy"][-1] > 0.4  # chance is 0.1
    assert all(w.dtype == F32 for w in model.weights)
    assert model.predict(x[:4], verbose=0).dtype == F32


def test_compile_without_auto_scale_loss_keeps_the_optimizer(mixed):
    model = _guide_model(8)
    model.compile(loss="mse", optimizer="sgd", auto_scale_loss=False)
    assert type(model.optimizer).__name__ == "SGD"


def test_a_float32_model_does_not_scale(mixed):
    mixed_precision.set_global_policy("float32")
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile(loss="mse", optimizer="sgd")
    assert type(model.optimizer).__name__ == "SGD"


def test_mixed_model_saves_its_policies_and_loads_back(mixed, tmp_path):
    model = _guide_model(16)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    x, y = _digits(64, 1)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "mixed.deepcore"
    model.save(path)
    mixed_precision.set_global_policy("float32")  # loading does not depend on the global policy
    back = keras.models.load_model(path)
    assert back.dtype_policy.name == "mixed_float16"
    assert [layer.dtype_policy.name for layer in back.layers] == [
        layer.dtype_policy.name for layer in model.layers
    ]
    assert back.get_layer("predictions").dtype_policy.name == "float32"
    assert back.get_layer("dense_1").compute_dtype == "float16"
    assert isinstance(back.optimizer, keras.optimizers.LossScaleOptimizer)
    assert back.optimizer.dynamic_scale == model.optimizer.dynamic_scale
    assert back.optimizer.iterations == model.optimizer.iterations == 2
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    # and a float32 layer saved under a mixed global policy stays float32 when loaded under one
    mixed_precision.set_global_policy("mixed_float16")
    again = keras.models.load_model(path)
    assert again.get_layer("predictions").dtype_policy.name == "float32"


def test_custom_training_loop_with_scale_loss_and_apply(mixed):
    """Keras 3's custom loop: scaled = optimizer.scale_loss(loss); grads of it; apply (which
    unscales, and skips a step whose gradients are not finite)."""
    model = keras.Sequential([keras.Input((784,)), layers.Dense(32, activation="relu")])
    model.add(layers.Dense(10))
    model.add(layers.Activation("softmax", dtype="float32"))
    opt = mixed_precision.LossScaleOptimizer(keras.optimizers.Adam(1e-2))
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    x, y = _digits(256, 2)
    losses = []
    variables = model.trainable_weights
    for _epoch in range(3):
        for i in range(0, 256, 64):
            model.zero_grad()
            loss = loss_fn(y[i : i + 64], model(x[i : i + 64], training=True))
            opt.scale_loss(loss).backward()
            opt.apply([v.grad for v in variables], variables)
            losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert opt.iterations == 12 and opt.dynamic_scale == 2.0**15


def test_recurrent_layers_compute_in_float16(mixed):
    """States, dropout masks and non-float inputs are made in the compute dtype, so the
    recurrent layers give float16 like the others (and train: float32 gradients)."""
    x = np.random.default_rng(0).random((2, 3, 4, 4, 1), dtype=np.float32)
    for layer, inp in (
        (layers.ConvLSTM2D(2, 3, padding="same", dropout=0.2, return_sequences=True), x),
        (layers.LSTM(3, dropout=0.2, return_sequences=True), x.reshape(2, 3, 16)),
        (layers.GRU(3), x.reshape(2, 3, 16)),
    ):
        y = layer(inp, training=True)
        assert y.dtype == F16, type(layer).__name__
        y.sum().backward()
        assert all(w.grad.dtype == F32 for w in layer.trainable_weights)


def test_sublayers_follow_their_parent_policy(mixed):
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4, dtype="float32")
    q = np.ones((1, 3, 8), np.float32)
    assert mha(q, q).dtype == F32
    mha16 = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    assert mha16(q, q).dtype == F16
    assert all(w.dtype == F32 for w in mha16.weights)


def test_overflowing_loss_scale_skips_steps_without_warnings():
    """A scale that overflows the scaled loss and gradients to inf is the event dynamic loss
    scaling handles (skip, halve), not an error: no NumPy overflow warning (pytest turns
    warnings into errors), and the skipped steps leave the weights untouched."""
    import math

    from deepcore import optim

    dc.manual_seed(0)
    model = keras.Sequential([keras.layers.Dense(4, input_shape=(3,)), keras.layers.Dense(2)])
    opt = optim.LossScaleOptimizer(optim.SGD(learning_rate=0.1), initial_scale=2.0**131)
    model.compile(optimizer=opt, loss="mse")
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((8, 2)).astype(np.float32)
    w0 = [w.numpy().copy() for w in model.weights]
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)  # 3 steps, all overflowing
    assert math.log2(opt.dynamic_scale) == 128
    for a, b in zip(w0, model.weights):
        np.testing.assert_array_equal(a, b.numpy())
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # 2**128, then 2**127: finite
    assert math.log2(opt.dynamic_scale) == 127
    assert not np.array_equal(w0[0], model.weights[0].numpy())


def test_float16_cast_overflow_is_inf_without_warning():
    """A float32 value (or gradient) beyond float16's range casts to inf silently, as in
    PyTorch: mixed precision's overflowing gradients are what loss scaling skips."""
    x = dc.tensor(np.array([1.0, 7e4, -1e6], np.float32), requires_grad=True)
    y = x.astype("float16")
    np.testing.assert_array_equal(y.detach().numpy(), np.array([1.0, np.inf, -np.inf], np.float16))
    z = dc.tensor(np.array([1.0, 2.0], np.float16), requires_grad=True)
    w = z.astype("float32") * 1e6  # the float32 gradient 1e6 overflows float16 on the way back
    w.backward(np.ones(2, np.float32))
    assert z.grad.dtype == np.float16 and np.isinf(z.grad.numpy()).all()
