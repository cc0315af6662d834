"""A subclass of ``Model`` called with ``(inputs, outputs)`` is a functional model with the
subclass's methods, as in Keras ([Note: functional subclass] in models/training.py). The
models are the ones of keras.io's "Customizing what happens in fit()" guide (PyTorch backend),
imports changed."""

from __future__ import annotations

import deepcore as dc
import deepcore.keras as keras
import numpy as np
import pytest


class CustomModel(keras.Model):
    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = list(self.trainable_weights)
        gradients = [v.value.grad for v in trainable_weights]
        with dc.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class TrackedModel(keras.Model):
    """The guide's lower-level variant: its own __init__, trackers and test_step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.loss_fn(y, y_pred)
        loss.backward()
        weights = list(self.trainable_weights)
        with dc.no_grad():
            self.optimizer.apply([v.value.grad for v in weights], weights)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(self.loss_fn(y, y_pred))
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((256, 32)).astype(np.float32)
    w = rng.standard_normal((32, 1)).astype(np.float32)
    return x, x @ w * 0.3


def _graph():
    inputs = keras.Input(shape=(32,))
    return inputs, keras.layers.Dense(1)(inputs)


def test_subclass_with_inputs_and_outputs_is_a_functional_model_with_its_train_step():
    dc.manual_seed(0)
    model = CustomModel(*_graph())
    assert isinstance(model, CustomModel) and isinstance(model, keras.Model)
    assert type(model).__name__ == "CustomModel"
    assert [type(la).__name__ for la in model.layers] == ["InputLayer", "Dense"]
    assert model.inputs[0].shape == (None, 32) and model.outputs[0].shape == (None, 1)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x, y = _data()
    before = model.evaluate(x, y, verbose=0)
    hist = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    assert set(hist.history) == {"loss", "mae"}
    after = model.evaluate(x, y, verbose=0)
    assert after[0] < 0.5 * before[0]
    # the keyword form builds the same kind of model
    m2 = CustomModel(inputs=model.inputs, outputs=model.outputs)
    assert type(m2) is type(model)


def test_subclass_with_its_own_init_and_metrics_evaluates_to_its_metrics_in_order():
    dc.manual_seed(0)
    model = TrackedModel(*_graph(), name="tracked")
    assert model.name == "tracked"
    model.compile(optimizer="adam")
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    values = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    # Keras: a list of the test_step's values, not the loss alone
    assert isinstance(values, list) and values == [logs["loss"], logs["mae"]]
    pred = model.predict(x, verbose=0)
    assert values[0] == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-5)


def test_subclass_called_with_other_arguments_stays_a_plain_subclass():
    class Wrapper(keras.Model):
        def __init__(self, inner, scale):
            super().__init__()
            self.inner = inner
            self.scale = scale

        def call(self, x):
            return self.inner(x) * self.scale

    inner = keras.Model(*_graph())
    m = Wrapper(inner, 2.0)
    assert type(m) is Wrapper
    x, _ = _data()
    np.testing.assert_allclose(m.predict(x[:4], verbose=0), 2 * inner.predict(x[:4], verbose=0))


def test_functional_subclass_config_round_trip_and_save_load(tmp_path):
    dc.manual_seed(0)
    model = CustomModel(*_graph())
    model.compile(optimizer="adam", loss="mse")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    again = CustomModel.from_config(model.get_config())
    assert type(again) is type(model)
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    path = tmp_path / "custom.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"CustomModel": CustomModel})
    assert isinstance(loaded, CustomModel)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
