"""Keras's categorical and text preprocessing layers. The expected values of the first tests
are the outputs printed in Keras's own documentation examples; the rest check the index rules
against naive Python references, tf-idf, config round trips and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from deepcore import nn as layers
from deepcore.nn.layers.lookup import encode
from deepcore.nn.serialization import deserialize, serialize
from lookup_reference import encode_reference

# ------------------------------------------------------------- Keras's documented examples


def test_string_lookup_doc_examples():
    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    assert layers.StringLookup(vocabulary=vocab)(data).numpy().tolist() == [[1, 3, 4], [4, 0, 2]]
    layer = layers.StringLookup()
    layer.adapt(data)
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    mh = layers.StringLookup(vocabulary=vocab, output_mode="multi_hot")(data).numpy()
    assert mh.tolist() == [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]]
    inv = layers.StringLookup(vocabulary=vocab, invert=True)(np.array([[1, 3, 4], [4, 0, 2]]))
    assert inv.tolist() == [["a", "c", "d"], ["d", "[UNK]", "b"]]
    two = layers.StringLookup(vocabulary=vocab, num_oov_indices=2)(data).numpy()
    assert two[0].tolist() == [2, 4, 5] and two[1][1] in (0, 1)


def test_integer_lookup_doc_examples():
    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    assert layers.IntegerLookup(vocabulary=vocab)(data).numpy().tolist() == [[1, 3, 4], [4, 0, 2]]
    layer = layers.IntegerLookup()
    layer.adapt(data)
    assert layer.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    masked = layers.IntegerLookup(vocabulary=vocab, mask_token=0)(
        np.array([[12, 1138, 42], [42, 0, 36]])
    )
    assert masked.numpy().tolist() == [[2, 4, 5], [5, 0, 3]]


def test_category_encoding_doc_examples():
    oh = layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")([3, 2, 0, 1]).numpy()
    np.testing.assert_array_equal(oh, np.eye(4)[[3, 2, 0, 1]])
    mh = layers.CategoryEncoding(num_tokens=4, output_mode="multi_hot")(
        [[0, 1], [0, 0], [1, 2], [3, 1]]
    )
    assert mh.numpy().tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]]
    w = np.array([[0.1, 0.2], [0.1, 0.1], [0.2, 0.3], [0.4, 0.2]])
    c = layers.CategoryEncoding(num_tokens=4, output_mode="count")(
        [[0, 1], [0, 0], [1, 2], [3, 1]], count_weights=w
    )
    np.testing.assert_allclose(
        c.numpy(), [[0.1, 0.2, 0, 0], [0.2, 0, 0, 0], [0, 0.2, 0.3, 0], [0, 0.2, 0, 0.4]], 1e-6
    )


def test_discretization_doc_examples():
    x = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])
    d = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    assert d(x).numpy().tolist() == [[0, 2, 3, 1], [1, 3, 2, 1]]
    a = layers.Discretization(num_bins=4, epsilon=0.01)
    a.adapt(x)
    assert a(x).numpy().tolist() == [[0, 2, 3, 1], [1, 3, 2, 1]]


def test_text_vectorization_doc_examples():
    tv = layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    tv.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert tv([["foo qux bar"], ["qux baz"]]).numpy().tolist() == [[4, 1, 3, 0], [1, 2, 0, 0]]
    tv = layers.TextVectorization(
        max_tokens=5000, output_mode="int", output_sequence_length=4,
        vocabulary=["earth", "wind", "and", "fire"],
    )  # fmt: skip
    assert tv([["earth wind and also fire"]]).numpy().tolist() == [[2, 3, 4, 1]]
    assert tv.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]


# ------------------------------------------------------------- rules against references


def test_text_vectorization_against_a_naive_reference():
    rng = np.random.default_rng(0)
    words = ["Apple", "bANANA", "cherry!", "date,", "elder", "fig", "grape."]
    docs = [" ".join(rng.choice(words, size=rng.integers(0, 9))) for _ in range(40)]
    tv = layers.TextVectorization(max_tokens=6, output_sequence_length=5)
    tv.adapt(docs)
    clean = [[w.lower().strip("!,.") for w in d.split()] for d in docs]
    counts: dict = {}
    for d in clean:
        for w in d:
            counts[w] = counts.get(w, 0) + 1
    order = sorted(counts, key=lambda w: (-counts[w], [-ord(ch) for ch in w]))[:4]
    assert tv.get_vocabulary() == ["", "[UNK]", *order]
    index = {w: i + 2 for i, w in enumerate(order)}
    want = [([index.get(w, 1) for w in d] + [0] * 5)[:5] for d in clean]
    assert tv(docs).numpy().tolist() == want


def test_ngrams_and_modes():
    tv = layers.TextVectorization(ngrams=2, output_mode="count")
    tv.adapt(["a b a", "b c"])
    vocab = tv.get_vocabulary()
    assert vocab[0] == "[UNK]" and set(vocab[1:]) == {"a", "b", "c", "a b", "b a", "b c"}
    out = tv(["a b a b"]).numpy()[0]
    counts = {"a": 2, "b": 2, "a b": 2, "b a": 1}
    for tok, n in counts.items():
        assert out[vocab.index(tok)] == n
    tfidf = layers.TextVectorization(output_mode="tf_idf")
    tfidf.adapt(["x y", "x z", "x"])
    v = tfidf.get_vocabulary()
    o = tfidf(["x x q"]).numpy()[0]
    idf = {"x": np.log(1 + 3 / 4), "y": np.log(1 + 3 / 2), "z": np.log(1 + 3 / 2)}
    assert o[v.index("x")] == pytest.approx(2 * idf["x"], rel=1e-6)
    assert o[0] == pytest.approx(np.mean([idf[t] for t in v[1:]]), rel=1e-6)  # OOV: the mean


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_encode_against_loops(mode):
    rng = np.random.default_rng(1)
    for shape in [(5, 1), (7, 3), (1, 4), (0, 2), (6,), (2, 3, 4), (3, 0)]:
        ids = rng.integers(-1, 6, size=shape)
        got = encode(ids, 6, mode).numpy()
        want = encode_reference(ids, 6, mode)
        np.testing.assert_array_equal(got, want)


def test_configs_keep_the_vocabulary():
    for layer in (
        layers.StringLookup(vocabulary=["x", "y"], mask_token="", num_oov_indices=2),
        layers.IntegerLookup(vocabulary=[5, 7, 9], output_mode="one_hot"),
        layers.TextVectorization(vocabulary=["hello", "world"], output_sequence_length=3),
        layers.Discretization(bin_boundaries=[0.5, 2.0], output_mode="count"),
        layers.CategoryEncoding(num_tokens=3, output_mode="count"),
    ):
        back = deserialize(serialize(layer))
        x = (
            np.array([["x", "q"]]) if isinstance(layer, layers.StringLookup)
            else np.array([[5, 8]]) if isinstance(layer, (layers.IntegerLookup,))
            else np.array(["hello there world"]) if isinstance(layer, layers.TextVectorization)
            else np.array([[0, 2]])
        )  # fmt: skip
        np.testing.assert_array_equal(np.asarray(back(x).numpy()), np.asarray(layer(x).numpy()))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: layers.CategoryEncoding(3)([0, 3]), ValueError, r"\[0, 3\)"),
        (lambda: layers.CategoryEncoding(3)([0.5]), TypeError, "integer"),
        (lambda: layers.CategoryEncoding(3)(np.zeros((1, 1, 1), int)), ValueError, "rank"),
        (lambda: layers.CategoryEncoding(0), ValueError, "num_tokens"),
        (lambda: layers.CategoryEncoding(3, output_mode="tf_idf"), ValueError, "output_mode"),
        (lambda: layers.StringLookup(vocabulary=["a", "a"]), ValueError, "repeated"),
        (lambda: layers.StringLookup(vocabulary=["[UNK]"]), ValueError, "OOV"),
        (
            lambda: layers.StringLookup(vocabulary=["a"], num_oov_indices=0)(["b"]),
            ValueError,
            "not in the vocabulary",
        ),  # fmt: skip
        (lambda: layers.StringLookup(invert=True, output_mode="count"), ValueError, "invert"),
        (
            lambda: layers.StringLookup(max_tokens=2, vocabulary=["a", "b"]),
            ValueError,
            "max_tokens",
        ),  # fmt: skip
        (lambda: layers.StringLookup()(["a"]), ValueError, "vocabulary"),
        (lambda: layers.IntegerLookup(vocabulary=[1.5]), TypeError, "integers"),
        (
            lambda: layers.StringLookup(output_mode="tf_idf", vocabulary=["a"]),
            ValueError,
            "idf_weights",
        ),  # fmt: skip
        (lambda: layers.TextVectorization(standardize="upper"), ValueError, "standardize"),
        (lambda: layers.TextVectorization(split="comma"), ValueError, "split"),
        (lambda: layers.Discretization(), ValueError, "exactly one"),
        (lambda: layers.Discretization(bin_boundaries=[2.0, 1.0]), ValueError, "sorted"),
        (lambda: layers.Discretization(num_bins=3)(np.zeros(2)), ValueError, "adapt"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
