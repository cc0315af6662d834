"""Keras 3's masks on tensors (keras.io's "Understanding masking & padding" guide, imports
changed): ``_keras_mask`` on a layer's eager output and on placeholders, a subclassed model's
layers picking up their input's mask, and shape inference through unknown sequence lengths
([Note: masks on tensors] in nn/masking.py, [Note: dry runs] in symbolic.py)."""

from __future__ import annotations

import deepcore as dc
import deepcore.keras as keras
import numpy as np
import pytest
from deepcore.keras import layers, ops

RAW = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]


def test_embedding_and_masking_outputs_carry_their_mask():
    padded = keras.utils.pad_sequences(RAW, padding="post")
    out = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(padded)
    np.testing.assert_array_equal(np.asarray(out._keras_mask.numpy()), padded != 0)
    x = ops.cast(ops.tile(ops.expand_dims(padded, axis=-1), [1, 1, 10]), dtype="float32")
    masked = layers.Masking()(x)
    np.testing.assert_array_equal(np.asarray(masked._keras_mask.numpy()), padded != 0)
    # a layer that supports masking passes it on; one that does not drops it
    assert layers.Dense(3)(out)._keras_mask is out._keras_mask
    assert not hasattr(layers.Flatten()(out), "_keras_mask")
    assert not hasattr(layers.Dense(3)(dc.tensor(np.ones((2, 3)))), "_keras_mask")


def test_a_layer_taking_mask_gets_its_inputs_mask():
    padded = keras.utils.pad_sequences(RAW, padding="post")
    emb = layers.Embedding(input_dim=5000, output_dim=4, mask_zero=True)
    x = emb(padded)
    lstm = layers.LSTM(3)
    auto = lstm(x)  # the mask travels on x
    explicit = lstm(x, mask=emb.compute_mask(padded))
    unmasked = lstm(dc.tensor(x.detach().numpy()))
    np.testing.assert_array_equal(auto.detach().numpy(), explicit.detach().numpy())
    assert not np.allclose(auto.detach().numpy(), unmasked.detach().numpy())


def test_temporal_split_computes_a_mask_per_output():
    class TemporalSplit(keras.layers.Layer):
        def call(self, inputs):
            return ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            return ops.split(mask, 2, axis=1)

    padded = keras.utils.pad_sequences(RAW, padding="post")
    masked = layers.Masking()(dc.tensor(padded[..., None].astype(np.float32)))
    first, second = TemporalSplit()(masked)
    np.testing.assert_array_equal(np.asarray(first._keras_mask.numpy()), padded[:, :3] != 0)
    np.testing.assert_array_equal(np.asarray(second._keras_mask.numpy()), padded[:, 3:] != 0)


def test_placeholders_report_their_mask():
    class MyActivation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs):
            return keras.activations.relu(inputs)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    assert x._keras_mask.shape == (None, None) and x._keras_mask.dtype == "bool"
    x = MyActivation()(x)  # a custom layer over an unknown length: shape by two dry runs
    assert x.shape == (None, None, 16)
    assert x._keras_mask.shape == (None, None)
    assert layers.LSTM(32)(x)._keras_mask is None
    assert inputs._keras_mask is None
    fixed = keras.Input(shape=(7,), dtype="int32")
    assert layers.Embedding(9, 2, mask_zero=True)(fixed)._keras_mask.shape == (None, 7)


def test_custom_layer_reading_the_mask_in_a_functional_model():
    class TemporalSoftmax(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            m = ops.expand_dims(ops.cast(mask, "float32"), -1)
            e = ops.exp(inputs) * m
            return e / (ops.sum(e, axis=1, keepdims=True) + 1e-9)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=4, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)
    assert outputs.shape == (None, None, 1)
    model = keras.Model(inputs, outputs)
    ids = np.array([[3, 4, 0, 0], [1, 2, 5, 0]])
    y = model(ids).detach().numpy()
    np.testing.assert_allclose(y.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(y[ids == 0], 0.0)


def test_unknown_sizes_that_change_the_output_rank_raise():
    class Weird(keras.layers.Layer):
        def call(self, x):
            return ops.reshape(x, (1,) * (x.shape[1] % 3 + 1))

    with pytest.raises(ValueError, match="unknown"):
        Weird()(keras.Input(shape=(None,)))


def test_dry_run_keeps_fixed_sizes_and_marks_moving_ones_unknown():
    class Pairs(keras.layers.Layer):
        def call(self, x):  # (B, T, F) -> (B, T // 2, 2 * F)
            b, t, f = x.shape
            return ops.reshape(x[:, : t // 2 * 2], (b, t // 2, 2 * f))

    assert Pairs()(keras.Input(shape=(None, 3))).shape == (None, None, 6)
    assert Pairs()(keras.Input(shape=(8, 3))).shape == (None, 4, 6)
