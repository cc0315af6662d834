"""Keras layers EinsumDense, GroupQueryAttention and Hashing (issue 13), each tested from the
Keras documentation's own examples (keras.io/api/layers), against NumPy references written
from Keras's definitions, with Keras's weight names and shapes, config round trips, a
save/load round trip, gradients and bad input."""

from __future__ import annotations

import json

import deepcore as dc
import deepcore.keras as keras
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import kernels, models
from deepcore.testing import gradcheck


def _np(t):
    return t.detach().numpy() if isinstance(t, dc.Tensor) else np.asarray(t)


def round_trip(layer):
    clone = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    return clone


# ---------------------------------------------------------------------- EinsumDense
DOC_EXAMPLES = [
    # keras.io: (equation, output_shape, bias_axes, input shape, output shape, kernel, bias)
    ("ab,bc->ac", 64, "c", (32,), (None, 64), (32, 64), (64,)),
    ("abc,cd->abd", (None, 64), "d", (32, 128), (None, 32, 64), (128, 64), (64,)),
    ("...b,bc->...c", 64, "c", (32, 128), (None, 32, 64), (128, 64), (64,)),
]


@pytest.mark.parametrize("case", DOC_EXAMPLES)
def test_einsum_dense_keras_examples(case):
    eq, out_shape, bias_axes, in_shape, want_shape, kshape, bshape = case
    layer = keras.layers.EinsumDense(eq, output_shape=out_shape, bias_axes=bias_axes)
    inputs = keras.Input(shape=in_shape)
    outputs = layer(inputs)
    assert tuple(outputs.shape) == want_shape
    assert tuple(layer.kernel.shape) == kshape and tuple(layer.bias.shape) == bshape
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel", "bias"]
    x = np.random.default_rng(0).normal(size=(2, *in_shape)).astype(np.float32)
    y = layer(x)
    want = np.einsum(eq, x.astype(np.float64), _np(layer.kernel)) + _np(layer.bias)
    np.testing.assert_allclose(_np(y), want, rtol=1e-5, atol=1e-5)


MORE_CASES = [
    # (equation, output_shape, bias_axes, input shape without batch, kernel, bias)
    ("abc,cde->abde", (None, 4, 8), "de", (5, 6), (6, 4, 8), (4, 8)),  # MHA's query projection
    ("abcd,cde->abe", (None, 3), "e", (5, 4, 2), (4, 2, 3), (3,)),  # MHA's output projection
    ("ab...,bc->ac...", (7,), "c", (3, 5, 2), (3, 7), (7, 1, 1)),  # right-elided
    ("abc,cd->abd", (None, 5), "bd", (4, 3), (3, 5), (4, 5)),
    ("abc,cd->abd", (None, 5), None, (4, 3), (3, 5), None),
    ("...ab,bc->...ac", (4, 6), "c", (2, 4, 3), (3, 6), (6,)),  # left-elided, two axes
]


@pytest.mark.parametrize("case", MORE_CASES)
def test_einsum_dense_shapes_values_and_gradients(case):
    eq, out_shape, bias_axes, in_shape, kshape, bshape = case
    layer = layers.EinsumDense(eq, output_shape=out_shape, bias_axes=bias_axes, dtype="float64")
    x = np.random.default_rng(1).normal(size=(2, *in_shape))
    y = layer(x)
    assert tuple(layer.kernel.shape) == kshape
    assert (layer.bias is None and bshape is None) or tuple(layer.bias.shape) == bshape
    want = np.einsum(eq, x, _np(layer.kernel))
    if layer.bias is not None:
        layer.bias.data[...] = np.random.default_rng(2).normal(size=bshape)
        y = layer(x)
        want = want + _np(layer.bias)
    np.testing.assert_allclose(_np(y), want, atol=1e-12)
    assert layer.compute_output_shape((None, *in_shape)) == (None, *want.shape[1:])
    gradcheck(lambda inp: (layer(inp) ** 2).sum(), [x])
    layer.kernel.grad = None  # gradcheck's backward passes accumulated into it
    y = layer(dc.tensor(x))
    (y**2).sum().backward()
    ins, rest = eq.split(",")
    ker, outs = rest.split("->")
    ell = "..." if "..." in ins else ""  # NumPy keeps elided axes: sum them afterwards
    gk = np.einsum(f"{ins},{outs}->{ker}{ell}", x, 2 * _np(y))  # d sum(y^2) / d kernel
    gk = gk.reshape(*gk.shape[: len(ker)], -1).sum(-1)
    np.testing.assert_allclose(_np(layer.kernel.grad), gk, atol=1e-10)


def test_einsum_dense_keras_fans_and_config():
    dc.manual_seed(0)
    layer = layers.EinsumDense("abc,cde->abde", output_shape=(None, 32, 8), bias_axes="de")
    layer.build((None, 5, 16))
    # Keras's fans of a (16, 32, 8) kernel: fan_in 16 * 32, fan_out 16 * 8
    limit = np.sqrt(6.0 / (16 * 32 + 16 * 8))
    k = _np(layer.kernel)
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.95 * limit
    clone = round_trip(layer)
    assert clone.get_config()["output_shape"] == [None, 32, 8]


def test_einsum_dense_in_a_model_trains_and_saves(tmp_path):
    model = models.Sequential(
        [
            layers.Input(shape=(4, 3)),
            layers.EinsumDense(
                "abc,cd->abd", output_shape=(None, 5), bias_axes="d", activation="relu"
            ),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(3).normal(size=(8, 4, 3)).astype(np.float32)
    before = _np(model.layers[0].kernel).copy()
    model.fit(x, np.ones((8, 1), np.float32), epochs=1, verbose=0)
    assert not np.allclose(before, _np(model.layers[0].kernel))
    path = tmp_path / "m.deepcore"
    model.save(path)
    loaded = models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_einsum_dense_bad_input():
    with pytest.raises(ValueError, match="invalid einsum equation"):
        layers.EinsumDense("ab->b", output_shape=3)
    with pytest.raises(ValueError, match="invalid einsum equation"):
        layers.EinsumDense("ab,bc,cd->ad", output_shape=3)
    with pytest.raises(TypeError, match="equation"):
        layers.EinsumDense(3, output_shape=3)
    with pytest.raises(ValueError, match="output_shape"):
        layers.EinsumDense("ab,bc->ac", output_shape=0)
    with pytest.raises(ValueError, match="bias axis 'x'"):
        layers.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="x")(np.ones((2, 4)))
    with pytest.raises(ValueError, match="rank"):
        layers.EinsumDense("abc,cd->abd", output_shape=(None, 3))(np.ones((2, 4)))
    with pytest.raises(ValueError, match="but the input has"):
        layers.EinsumDense("abc,cd->abd", output_shape=(7, 3))(np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match="neither"):
        layers.EinsumDense("ab,bc->ad", output_shape=3)(np.ones((2, 4)))


# ---------------------------------------------------------------------- GroupQueryAttention
def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _gqa_reference(layer, q, v, k=None, mask=None, causal=False):
    """Grouped-query attention from Keras's definition, in float64 NumPy, with the layer's
    weights: query head u reads key/value head u // (U / V)."""
    k = v if k is None else k

    def dense(d, x, eq):
        y = np.einsum(eq, x, _np(d.kernel).astype(np.float64))
        return y + _np(d.bias) if d.bias is not None else y

    Q = dense(layer.query_dense, q, "bqm,muh->bquh")
    K = dense(layer.key_dense, k, "bkm,mvh->bkvh")
    V = dense(layer.value_dense, v, "bkm,mvh->bkvh")
    r = layer.num_query_heads // layer.num_key_value_heads
    K, V = np.repeat(K, r, axis=2), np.repeat(V, r, axis=2)
    s = np.einsum("bquh,bkuh->buqk", Q, K) / np.sqrt(layer.head_dim)
    T, S = q.shape[1], v.shape[1]
    allowed = np.ones((q.shape[0], T, S), bool)
    if mask is not None:
        allowed &= mask
    if causal:
        allowed &= np.tril(np.ones((T, S), bool))
    s = np.where(allowed[:, None], s, -np.inf)
    p = np.nan_to_num(_softmax(s))
    o = np.einsum("buqk,bkuh->bquh", p, V)
    return dense(layer.output_dense, o, "bquh,uhm->bqm"), p


@pytest.mark.parametrize("heads", [(4, 2), (4, 1), (3, 3), (6, 2)])
def test_gqa_matches_reference_and_keras_weights(heads):
    U, V = heads
    layer = keras.layers.GroupQueryAttention(head_dim=5, num_query_heads=U, num_key_value_heads=V)
    rng = np.random.default_rng(U * 10 + V)
    q = rng.normal(size=(2, 4, 7)).astype(np.float32)
    v = rng.normal(size=(2, 6, 3)).astype(np.float32)
    out = layer(q, v)
    assert tuple(out.shape) == (2, 4, 7)
    # Keras's weights: four EinsumDense layers with (features, heads, head_dim) kernels
    assert tuple(layer.query_dense.kernel.shape) == (7, U, 5)
    assert tuple(layer.query_dense.bias.shape) == (U, 5)
    assert tuple(layer.key_dense.kernel.shape) == (3, V, 5)
    assert tuple(layer.value_dense.kernel.shape) == (3, V, 5)
    assert tuple(layer.output_dense.kernel.shape) == (U, 5, 7)
    assert tuple(layer.output_dense.bias.shape) == (7,)
    for d in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense):
        d.bias.data[...] = rng.normal(size=d.bias.shape)
    want, probs = _gqa_reference(layer, q.astype(np.float64), v.astype(np.float64))
    np.testing.assert_allclose(_np(layer(q, v)), want, rtol=1e-4, atol=1e-4)
    out, scores = layer(q, v, return_attention_scores=True)
    assert tuple(scores.shape) == (2, U, 4, 6)
    np.testing.assert_allclose(_np(scores), probs, rtol=1e-4, atol=1e-5)


def test_gqa_masks_causal_key_and_gradients():
    layer = layers.GroupQueryAttention(4, 4, 2, dtype="float64")
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(2, 5, 6)), rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 6))
    layer(q, v, key=k)  # builds the projections
    want, _ = _gqa_reference(layer, q, v, k, causal=True)
    np.testing.assert_allclose(_np(layer(q, v, key=k, use_causal_mask=True)), want, atol=1e-10)
    am = rng.uniform(size=(2, 5, 5)) > 0.3
    am[:, :, 0] = True
    want, _ = _gqa_reference(layer, q, v, k, mask=am)
    np.testing.assert_allclose(_np(layer(q, v, key=k, attention_mask=am)), want, atol=1e-10)
    vm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    want, _ = _gqa_reference(layer, q, v, k, mask=np.broadcast_to(vm[:, None], (2, 5, 5)))
    np.testing.assert_allclose(_np(layer(q, v, key=k, value_mask=vm)), want, atol=1e-10)
    gradcheck(
        lambda a, b, c: (layer(a, b, key=c, use_causal_mask=True) ** 2).sum(),
        [q[:1, :3], v[:1, :4], k[:1, :4]],
    )
    x = dc.tensor(q, requires_grad=True)
    (layer(x, v, key=k) ** 2).sum().backward()
    assert layer.key_dense.kernel.grad is not None and layer.output_dense.bias.grad is not None


def test_gqa_functional_model_config_and_save(tmp_path):
    inp = keras.Input(shape=(6, 8))
    x = layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)(inp, inp)
    model = models.Model(inp, layers.GlobalAveragePooling1D()(x))
    data = np.random.default_rng(6).normal(size=(3, 6, 8)).astype(np.float32)
    path = tmp_path / "gqa.deepcore"
    model.save(path)
    loaded = models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-5, atol=1e-6
    )
    layer = layers.GroupQueryAttention(8, 6, 3, dropout=0.1, use_bias=False, seed=3)
    clone = round_trip(layer)
    assert clone.num_key_value_heads == 3 and clone.use_bias is False
    layer(np.zeros((1, 2, 5), np.float32), np.zeros((1, 3, 5), np.float32))
    assert layer.query_dense.bias is None and len(layer.weights) == 4


def test_gqa_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        layers.GroupQueryAttention(4, 6, 4)
    with pytest.raises(ValueError, match="head_dim"):
        layers.GroupQueryAttention(0, 4, 2)
    with pytest.raises(ValueError, match="dropout"):
        layers.GroupQueryAttention(4, 4, 2, dropout=1.5)
    layer = layers.GroupQueryAttention(4, 4, 2)
    with pytest.raises(ValueError, match=r"\(batch, length, features\)"):
        layer(np.zeros((2, 5), np.float32), np.zeros((2, 5, 3), np.float32))
    layer = layers.GroupQueryAttention(4, 4, 2)
    with pytest.raises(ValueError, match="batch size"):
        layer(np.zeros((2, 5, 3), np.float32), np.zeros((3, 5, 3), np.float32))
    with pytest.raises(ValueError, match="attention_mask"):
        layer(np.zeros((2, 5, 3), np.float32), np.zeros((2, 4, 3), np.float32),
              attention_mask=np.ones((2, 5, 5), bool))  # fmt: skip


# ---------------------------------------------------------------------- Hashing
def test_hashing_keras_examples():
    inp = [["A"], ["B"], ["C"], ["D"], ["E"]]
    # FarmHash64
    assert _np(keras.layers.Hashing(num_bins=3)(inp)).tolist() == [[1], [0], [1], [1], [2]]
    # FarmHash64 with a mask value
    masked = [["A"], ["B"], [""], ["C"], ["D"]]
    got = keras.layers.Hashing(num_bins=3, mask_value="")(masked)
    assert _np(got).tolist() == [[1], [1], [0], [2], [2]]
    # SipHash64 with a salt pair, and with one integer (the same as [133, 133])
    got = keras.layers.Hashing(num_bins=3, salt=[133, 137])(inp)
    assert _np(got).tolist() == [[1], [2], [1], [0], [2]]
    got = keras.layers.Hashing(num_bins=3, salt=133)(inp)
    assert _np(got).tolist() == [[0], [0], [2], [1], [0]]


def test_siphash_reference_vectors():
    # SipHash-2-4's published test vectors: key 00..0f, messages 00..0e and the empty one
    k0 = int.from_bytes(bytes(range(8)), "little")
    k1 = int.from_bytes(bytes(range(8, 16)), "little")
    assert kernels.siphash24(bytes(range(15)), k0, k1) == 0xA129CA6149BE45E5
    assert kernels.siphash24(b"", k0, k1) == 0x726FDB47DD0E0E31


# Fingerprint64 of bytes((i * 37 + 11) % 256 for i in range(n)), from Google's FarmHash (the
# pyfarmhash bindings): every length class of the hash (0-16, 17-32, 33-64, 64-byte rounds)
FARMHASH_GOLDEN = [
    (0, 11160318154034397263), (1, 4787810249829893994), (2, 12576505597060068467),
    (3, 3979540680440595841), (4, 14708324829907283305), (5, 2571827612821036054),
    (7, 10810953559526984053), (8, 9029840561075318013), (9, 15774908524518198750),
    (15, 9461816582243015007), (16, 15579719139305551062), (17, 6692022265393568454),
    (24, 12041956627441848363), (31, 5954998855510709538), (32, 11543571239247179175),
    (33, 9480451918888261270), (48, 7606463386070888915), (63, 9004466194475038334),
    (64, 4226431515964725), (65, 18101669290602532278), (100, 669828348884226933),
    (127, 15496381160035339524), (128, 3742283891066476345), (129, 14054188206783653085),
    (200, 5850749971184008558), (300, 8075393831970212021),
]  # fmt: skip


def test_farmhash_fingerprint64_golden_values():
    for n, want in FARMHASH_GOLDEN:
        assert kernels.fingerprint64(bytes((i * 37 + 11) % 256 for i in range(n))) == want, n
    bins = kernels.hash_to_bins(np.array([b"A", b"BC", b""]), 1000)
    assert bins.tolist() == [kernels.fingerprint64(s) % 1000 for s in (b"A", b"BC", b"")]


def test_farmhash_against_pyfarmhash_random_strings():
    farmhash = pytest.importorskip("farmhash")  # pyfarmhash, when installed
    rng = np.random.default_rng(7)
    for n in [*range(0, 70), 100, 127, 128, 129, 200, 1000]:
        s = bytes(rng.integers(0, 256, size=n, dtype=np.uint8))
        assert kernels.fingerprint64(s) == farmhash.fingerprint64(s), n


def test_hashing_values_output_modes_and_config():
    layer = layers.Hashing(num_bins=7)
    ints = np.array([[1, 22], [-3, 1]])
    # integers hash as their decimal text, floats as the truncated integer (Keras)
    np.testing.assert_array_equal(
        _np(layer(ints)), _np(layer(np.array([["1", "22"], ["-3", "1"]])))
    )
    np.testing.assert_array_equal(_np(layer(np.array([1.9, 22.2]))), _np(layer(np.array([1, 22]))))
    strings = np.array(["cat", "dog", "cat", "émoji ☃"], dtype=object)
    ids = _np(layer(strings))
    assert ids.dtype == np.int64 and ids[0] == ids[2] and np.all((0 <= ids) & (ids < 7))
    want = [kernels.fingerprint64(s.encode()) % 7 for s in strings]
    assert ids.tolist() == want
    oh = layers.Hashing(num_bins=4, output_mode="one_hot")(np.array([["a"], ["b"]]))
    assert tuple(oh.shape) == (2, 4) and np.all(_np(oh).sum(-1) == 1)
    mh = layers.Hashing(num_bins=4, output_mode="multi_hot")(np.array([["a", "b", "a"]]))
    cnt = layers.Hashing(num_bins=4, output_mode="count")(np.array([["a", "b", "a"]]))
    assert _np(cnt).sum() == 3 and _np(mh).max() == 1
    layer = layers.Hashing(num_bins=5, mask_value=0, salt=(1, 2))
    got = _np(layer(np.array([0, 5, 0, 9])))
    assert got[0] == 0 and got[2] == 0 and np.all(got[[1, 3]] >= 1)
    clone = round_trip(layer)
    np.testing.assert_array_equal(_np(clone(np.array([0, 5, 0, 9]))), got)
    assert layer.compute_output_shape((None, 3)) == (None, 3)
    assert layers.Hashing(4, output_mode="multi_hot").compute_output_shape((None, 3)) == (None, 4)


def test_hashing_bad_input():
    with pytest.raises(ValueError, match="num_bins"):
        layers.Hashing(num_bins=0)
    with pytest.raises(ValueError, match="output_mode"):
        layers.Hashing(3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="salt"):
        layers.Hashing(3, salt=[1, 2, 3])
    with pytest.raises(ValueError, match="salt"):
        layers.Hashing(3, salt=-1)
    with pytest.raises(ValueError, match="sparse"):
        layers.Hashing(3, output_mode="count", sparse=True)
    with pytest.raises(TypeError, match="strings, integers or floats"):
        layers.Hashing(3)(np.array([True, False]))
    with pytest.raises(ValueError, match="finite"):
        layers.Hashing(3)(np.array([1.0, np.inf]))
    with pytest.raises(TypeError, match="bytes"):
        kernels.hash_to_bins(np.array([1, 2]), 3)
    with pytest.raises(ValueError, match="num_bins"):
        kernels.hash_to_bins(np.array([b"a"]), 0)
    with pytest.raises(ValueError, match="salt"):
        kernels.hash_to_bins(np.array([b"a"]), 3, (1,))
    with pytest.raises(ValueError, match=r"salt\[0\]"):
        kernels.hash_to_bins(np.array([b"a"]), 3, (-1, 2))


def test_gqa_keras_class_name_resolves():
    assert keras.layers.GroupedQueryAttention is keras.layers.GroupQueryAttention
    cfg = {
        "class_name": "GroupedQueryAttention",
        "config": {"head_dim": 4, "num_query_heads": 2, "num_key_value_heads": 1},
    }
    layer = layers.deserialize(cfg)
    assert isinstance(layer, layers.GroupQueryAttention) and layer.num_repeats == 2
