"""deepcore.utils as keras.utils: pad_sequences, to_categorical, normalize, split_dataset,
plot_model and PyDataset, from the Keras documentation's examples plus references and bad
input."""

from __future__ import annotations

import shutil

import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import utils
from deepcore.models import Input, Model, Sequential


# ---------------------------------------------------------------------- pad_sequences
def test_pad_sequences_documentation_examples():
    seqs = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(utils.pad_sequences(seqs), [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    )
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    )
    np.testing.assert_array_equal(utils.pad_sequences(seqs, maxlen=2), [[0, 1], [2, 3], [5, 6]])
    assert utils.pad_sequences(seqs).dtype == np.int32


def _reference(seqs, maxlen, padding, truncating, value, dtype):
    """The definition, one row at a time."""
    tail = next((np.asarray(s).shape[1:] for s in seqs if len(s)), ())
    out = np.full((len(seqs), maxlen) + tail, value, dtype)
    for i, s in enumerate(seqs):
        s = np.asarray(s)
        if not len(s) or not maxlen:
            continue
        s = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, : len(s)] = s
        else:
            out[i, maxlen - len(s) :] = s
    return out


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 0, 1, 3, 7])
def test_pad_sequences_matches_the_definition(padding, truncating, maxlen):
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, 50, rng.integers(0, 9))) for _ in range(23)] + [[]]
    got = utils.pad_sequences(seqs, maxlen, padding=padding, truncating=truncating, value=-2)
    ml = max(len(s) for s in seqs) if maxlen is None else maxlen
    np.testing.assert_array_equal(got, _reference(seqs, ml, padding, truncating, -2, np.int32))
    vec = [rng.standard_normal((int(k), 2)) for k in rng.integers(0, 6, 9)]  # vector entries
    got = utils.pad_sequences(vec, maxlen, dtype="float32", padding=padding, truncating=truncating)
    ml = max(len(s) for s in vec) if maxlen is None else maxlen
    ref = _reference(vec, ml, padding, truncating, 0.0, np.float32)
    np.testing.assert_array_equal(got, ref)


def test_pad_sequences_bad_input():
    assert utils.pad_sequences([]).shape == (0, 0)
    with pytest.raises(ValueError, match="padding"):
        utils.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        utils.pad_sequences([[1]], truncating="both")
    with pytest.raises(ValueError, match="maxlen"):
        utils.pad_sequences([[1]], maxlen=-1)
    with pytest.raises(ValueError, match="maxlen"):
        utils.pad_sequences([[1]] * 10, maxlen=10**12)  # no huge allocation
    with pytest.raises(ValueError, match="list of iterables"):
        utils.pad_sequences(5)
    with pytest.raises(ValueError, match="list of iterables"):
        utils.pad_sequences([1, 2, 3])
    with pytest.raises(ValueError, match="different shapes"):
        utils.pad_sequences([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="dtype"):
        utils.pad_sequences([[1]], value="x")


# ---------------------------------------------------------------------- others
def test_to_categorical_and_normalize_documentation_examples():
    a = utils.to_categorical([0, 1, 2, 3], num_classes=4)
    np.testing.assert_array_equal(a, np.eye(4))
    assert a.dtype == np.float32
    np.testing.assert_array_equal(utils.to_categorical([[1], [0]]), [[0, 1], [1, 0]])
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])


def test_split_dataset_documentation_example():
    data = np.random.default_rng(0).random((1000, 4))
    left, right = utils.split_dataset(data, left_size=0.8)
    assert len(left) == 800 and len(right) == 200
    np.testing.assert_array_equal(np.concatenate([left, right]), data)
    x, y = data, np.arange(1000)
    (xl, yl), (xr, yr) = utils.split_dataset((x, y), right_size=100, shuffle=True, seed=1)
    assert len(xl) == 900 and len(xr) == 100
    np.testing.assert_array_equal(x[yl], xl)  # rows stay paired with their targets
    assert sorted(np.concatenate([yl, yr])) == list(range(1000))
    d = utils.split_dataset({"a": x, "b": y}, left_size=10, right_size=20)
    assert len(d[0]["a"]) == 10 and len(d[1]["b"]) == 20
    with pytest.raises(ValueError, match="left_size or right_size"):
        utils.split_dataset(data)
    with pytest.raises(ValueError, match="exceed"):
        utils.split_dataset(data, left_size=800, right_size=300)
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        utils.split_dataset(data, left_size=1.5)
    with pytest.raises(ValueError, match="empty side"):
        utils.split_dataset(data[:3], left_size=0.1)
    with pytest.raises(ValueError, match="differ in length"):
        utils.split_dataset((x, y[:5]), left_size=0.5)
    with pytest.raises(TypeError, match="dataset must be"):
        utils.split_dataset("abc", left_size=1)


def _functional():
    a = Input(shape=(4,), name="a")
    b = Input(shape=(3,), name="b")
    h = layers.Dense(5, activation="relu", name="hidden")(a)
    out = layers.Dense(2, name="out")(layers.Concatenate(name="merge")([h, b]))
    return Model(inputs=[a, b], outputs=out)


def test_plot_model_writes_dot_and_needs_graphviz_for_images(tmp_path):
    model = _functional()
    utils.plot_model(model, to_file=str(tmp_path / "m.dot"), show_shapes=True)
    dot = (tmp_path / "m.dot").read_text()
    assert dot.startswith("digraph")
    assert "Dense" in dot and "hidden" not in dot  # show_layer_names=False by default
    named = utils.model_to_dot_source(model, show_layer_names=True)
    for name in ("hidden", "merge", "out"):
        assert name in named
    assert dot.count("->") == 4  # a -> hidden, hidden -> merge, b -> merge, merge -> out
    assert "(None, 2)" in dot
    seq = Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    src = utils.model_to_dot_source(seq, show_layer_names=True)
    assert src.count("->") == 1
    if shutil.which("dot") is None:
        try:
            import pydot  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match="Graphviz"):
                utils.plot_model(model, to_file=str(tmp_path / "m.png"))
    with pytest.raises(ValueError, match="to_file"):
        utils.plot_model(model, to_file=str(tmp_path / "m.xyz"))
    with pytest.raises(ValueError, match="rankdir"):
        utils.plot_model(model, to_file=str(tmp_path / "m.dot"), rankdir="UP")


def test_pydataset_base_class():
    class Two(utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.full((3, 1), i), np.zeros(3)

    ds = Two(workers=4, use_multiprocessing=True, max_queue_size=5)
    assert ds.num_batches == 2 and ds.workers == 4 and ds.max_queue_size == 5
    assert utils.Sequence is utils.PyDataset
    with pytest.raises(ValueError, match="workers"):
        Two(workers=0)
