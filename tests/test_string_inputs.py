"""Text inside a model ([Note: string inputs] in deepcore/symbolic.py): Input(dtype="string")
feeding TextVectorization / StringLookup, as in Keras's docstrings and end-to-end text models."""

from __future__ import annotations

import deepcore.keras as keras
import numpy as np
import pytest
from deepcore.keras import layers


def test_textvectorization_docstring_example_adapt():
    """keras.layers.TextVectorization's docstring: adapt on three words, predict on text. The
    docstring prints [[4, 1, 3, 0], [1, 2, 0, 0]], the TF-era tie order; Keras 3's adapt
    (index_lookup.finalize_state) breaks count ties by ``np.lexsort((tokens, counts))[::-1]``,
    i.e. in descending token order: foo 2, baz 3, bar 4, as here."""
    vectorize_layer = layers.TextVectorization(
        max_tokens=5000, output_mode="int", output_sequence_length=4
    )
    vectorize_layer.adapt(["foo", "bar", "baz"])
    model = keras.models.Sequential()
    model.add(keras.Input(shape=(1,), dtype="string"))
    model.add(vectorize_layer)
    input_data = [["foo qux bar"], ["qux baz"]]
    np.testing.assert_array_equal(
        model.predict(input_data, verbose=0), [[2, 1, 4, 0], [1, 3, 0, 0]]
    )


def test_textvectorization_docstring_example_vocabulary():
    vocab_data = ["earth", "wind", "and", "fire"]
    vectorize_layer = layers.TextVectorization(
        max_tokens=5000, output_mode="int", output_sequence_length=4, vocabulary=vocab_data
    )
    model = keras.models.Sequential()
    model.add(keras.Input(shape=(1,), dtype="string"))
    model.add(vectorize_layer)
    input_data = [["earth wind and also fire"], ["fire and earth michigan"]]
    np.testing.assert_array_equal(
        model.predict(input_data, verbose=0), [[2, 3, 4, 1], [5, 4, 2, 1]]
    )


def test_end_to_end_text_model_trains_saves_and_loads(tmp_path):
    """The keras.io text-classification pattern: raw strings in, a probability out."""
    texts = np.array(["the movie was great", "terrible film", "great great acting",
                      "bad plot and bad acting", "great fun", "terrible, bad"])  # fmt: skip
    labels = np.array([1, 0, 1, 0, 1, 0], np.float32)
    vectorize = layers.TextVectorization(max_tokens=30, output_sequence_length=5)
    vectorize.adapt(texts)
    text_input = keras.Input(shape=(1,), dtype="string")
    assert text_input.dtype == "string"
    ids = vectorize(text_input)
    assert ids.shape == (None, 5) and ids.dtype == "int64"
    x = layers.Embedding(31, 8)(ids)
    x = layers.GlobalAveragePooling1D()(x)
    model = keras.Model(text_input, layers.Dense(1, activation="sigmoid")(x))
    assert model.layers[0].dtype == "string"
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    h = model.fit(texts[:, None], labels, epochs=3, batch_size=2, verbose=0,
                  validation_split=0.33)  # fmt: skip
    assert len(h.history["loss"]) == 3 and np.isfinite(h.history["val_loss"]).all()
    p = model.predict(texts[:, None], verbose=0)
    assert p.shape == (6, 1)
    # the same predictions from the ids computed outside the model
    out = vectorize(texts[:, None])
    for layer in model.layers[2:]:
        out = layer(out)
    np.testing.assert_allclose(out.detach().numpy(), p, rtol=1e-6)
    model.save(tmp_path / "text.keras")
    again = keras.models.load_model(tmp_path / "text.keras")
    assert again.layers[0].dtype == "string"
    np.testing.assert_allclose(again.predict(texts[:, None], verbose=0), p, rtol=1e-6)


def test_string_lookup_in_a_model_and_inverted():
    inp = keras.Input(shape=(), dtype="string")
    ids = layers.StringLookup(vocabulary=["a", "b", "c"])(inp)
    model = keras.Model(inp, ids)
    np.testing.assert_array_equal(model.predict(np.array(["a", "c", "zz"]), verbose=0), [1, 3, 0])
    back = layers.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    inv_in = keras.Input(shape=(2,), dtype="int64")
    out = back(inv_in)
    assert out.dtype == "string"


def test_strings_into_a_numeric_layer_are_refused_by_dtype():
    inp = keras.Input(shape=(3,), dtype="string")
    model = keras.Model(inp, layers.Dense(2)(inp))
    with pytest.raises(TypeError, match="float32 or float64, got <U1"):
        model.predict(np.array([["a", "b", "c"]]), verbose=0)
