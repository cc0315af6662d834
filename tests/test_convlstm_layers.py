"""keras.layers.ConvLSTM1D/2D/3D: Keras's semantics against the NumPy reference of
test_convlstm.py driven by the Keras-layout weights from get_weights (channels_last and
channels_first, 1-3 spatial axes), return_sequences / return_state / go_backwards, stateful
runs, masks, initial_state, dropout masks drawn once per sequence, weights and initialisers,
config and save/load round trips, bad arguments, a Keras-doc model and a tiny fit."""

from __future__ import annotations

import deepcore as dc
import deepcore.keras as keras
import numpy as np
import pytest
from deepcore.keras import layers
from helpers import gradcheck
from test_convlstm import np_conv_lstm

LAYERS = {1: layers.ConvLSTM1D, 2: layers.ConvLSTM2D, 3: layers.ConvLSTM3D}


def _ref(layer, x, mask=None, initial=None, h_mask=None, x_mask=None, act=np.tanh):
    """The layer's output computed by the NumPy reference from its Keras-layout weights."""
    n = layer._rank
    last = layer.data_format == "channels_last"
    ws = layer.get_weights()
    # Keras (*k, C, 4F) -> the reference's (4F, C, *k)
    perm = (n + 1, n, *range(n))
    w_x, w_h = ws[0].transpose(perm).astype(np.float64), ws[1].transpose(perm).astype(np.float64)
    b = ws[2].astype(np.float64) if layer.use_bias else None
    xf = np.moveaxis(x, -1, 2) if last else x
    xf = xf.astype(np.float64)
    if x_mask is not None:
        xf = xf * x_mask
    h0 = c0 = None
    if initial is not None:
        h0, c0 = (np.moveaxis(s, -1, 1) if last else s for s in initial)
    out, h, c = np_conv_lstm(
        xf, h0, c0, w_x, w_h, b, layer.strides, layer.padding, layer.dilation_rate,
        mask=mask, reverse=layer.go_backwards, h_mask=h_mask, act=act,
    )  # fmt: skip
    if layer.return_sequences:
        y = out[:, ::-1] if layer.go_backwards else out
        y = np.moveaxis(y, 2, -1) if last else y
    else:
        y = out[:, 0] if layer.go_backwards and mask is not None else out[:, -1]
        y = h if mask is None else y
        y = np.moveaxis(y, 1, -1) if last else y
    states = [np.moveaxis(s, 1, -1) if last else s for s in (h, c)]
    return y, states


CASES = [
    (2, dict(padding="same"), (5, 6, 2)),
    (2, dict(strides=2, return_sequences=True), (7, 8, 3)),
    (2, dict(dilation_rate=2, go_backwards=True, return_sequences=True), (7, 7, 1)),
    (2, dict(data_format="channels_first", padding="same", go_backwards=True), (2, 5, 4)),
    (1, dict(kernel_size=1, return_sequences=True), (6, 3)),
    (1, dict(padding="same", use_bias=False, activation="relu"), (7, 2)),
    (3, dict(padding="same", return_sequences=True), (3, 4, 5, 2)),
]


@pytest.mark.parametrize("rank,kw,frame", CASES)
def test_matches_reference_from_keras_weights(rank, kw, frame):
    kw = dict(kw)
    kw.setdefault("kernel_size", 3)
    layer = LAYERS[rank](3, dtype="float64", bias_initializer="random_normal", **kw)
    x = np.random.default_rng(rank).standard_normal((2, 4, *frame))
    y = layer(x)
    act = (lambda z: np.maximum(z, 0.0)) if kw.get("activation") == "relu" else np.tanh
    want, _ = _ref(layer, x, act=act)
    assert y.shape == want.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-10, atol=1e-10)


def test_return_state_and_initial_state():
    layer = layers.ConvLSTM2D(2, 3, padding="same", return_state=True, dtype="float64")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 5, 2))
    h0, c0 = rng.standard_normal((2, 2, 5, 5, 2)) * 0.5
    y, h, c = layer(x, initial_state=[h0, c0])
    want, (wh, wc) = _ref(layer, x, initial=(h0, c0))
    for got, ref in ((y, want), (h, wh), (c, wc)):
        np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(y.detach().numpy(), h.detach().numpy())
    shapes = layer.compute_output_shape((2, 3, 5, 5, 2))
    assert shapes == [(2, 5, 5, 2)] * 3
    with pytest.raises(ValueError, match="initial state of shape"):
        layer(x, initial_state=[h0[:, :4], c0])


def test_stateful_continues_and_resets():
    layer = layers.ConvLSTM1D(3, 3, padding="same", stateful=True, dtype="float64")
    x = np.random.default_rng(5).standard_normal((2, 6, 7, 2))
    full = layers.ConvLSTM1D(3, 3, padding="same", dtype="float64")
    full(x[:, :1])
    layer(x[:, :1])
    full.set_weights(layer.get_weights())
    layer.reset_states()
    layer(x[:, :3])
    second = layer(x[:, 3:]).detach().numpy()
    np.testing.assert_allclose(second, full(x).detach().numpy(), rtol=1e-10, atol=1e-10)
    assert layer.states[0].shape == (2, 7, 3)
    layer.reset_states()
    np.testing.assert_allclose(
        layer(x[:, 3:]).detach().numpy(), full(x[:, 3:]).detach().numpy(), rtol=1e-12
    )
    with pytest.raises(AttributeError, match="not stateful"):
        full.reset_states()


def test_masks_are_honoured():
    layer = layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, dtype="float64")
    x = np.random.default_rng(6).standard_normal((3, 4, 5, 5, 1))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 0]], bool)
    y = layer(x, mask=mask)
    want, _ = _ref(layer, x, mask=mask)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-10, atol=1e-10)
    assert layer.compute_mask(x, mask) is mask
    last = layers.ConvLSTM2D(2, 3, padding="same", go_backwards=True, dtype="float64")
    last(x)
    last.set_weights(layer.get_weights())
    want, _ = _ref(last, x, mask=mask)
    np.testing.assert_allclose(last(x, mask=mask).detach().numpy(), want, rtol=1e-10, atol=1e-10)
    assert last.compute_mask(x, mask) is None


def test_dropout_masks_drawn_once_per_sequence():
    kw = dict(padding="same", return_sequences=True, dropout=0.3, recurrent_dropout=0.4)
    layer = layers.ConvLSTM2D(2, 3, seed=123, dtype="float64", **kw)
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 5, 2))
    y = layer(x, training=True).detach().numpy()
    rng = np.random.default_rng(123)  # the layer's draws, in its order
    xm = (rng.random((2, 1, 2, 4, 5)) >= 0.3) / 0.7
    hm = (rng.random((2, 2, 4, 5)) >= 0.4) / 0.6
    want, _ = _ref(layer, x, x_mask=xm, h_mask=hm)
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)
    plain, _ = _ref(layer, x)
    inference = layer(x, training=False).detach().numpy()
    np.testing.assert_allclose(inference, plain, rtol=1e-10, atol=1e-10)


def test_weights_layout_names_and_initialisers():
    dc.manual_seed(0)
    layer = layers.ConvLSTM2D(4, (3, 2), dtype="float64")
    layer.build((None, 3, 8, 8, 5))
    ws = layer.get_weights()
    assert [w.shape for w in ws] == [(3, 2, 5, 16), (3, 2, 4, 16), (16,)]
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert layer.name.startswith("conv_lstm2d")
    # Keras's orthogonal: the (kh*kw*F, 4F) matrix has orthonormal columns
    flat = ws[1].reshape(-1, 16)
    np.testing.assert_allclose(flat.T @ flat, np.eye(16), atol=1e-10)
    np.testing.assert_array_equal(ws[2], np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    # set_weights takes Keras's layout
    new = [np.random.default_rng(1).standard_normal(w.shape) for w in ws]
    layer.set_weights(new)
    for a, b in zip(layer.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shape"):
        layer.set_weights([new[0].transpose(3, 2, 1, 0), new[1], new[2]])


def test_config_round_trip_and_save_load(tmp_path):
    layer = layers.ConvLSTM3D(
        2, 3, strides=(1, 2, 1), padding="same", return_sequences=True, dropout=0.1,
        recurrent_activation="hard_sigmoid", kernel_regularizer="l2", seed=3,
    )  # fmt: skip
    cfg = layer.get_config()
    clone = layers.ConvLSTM3D.from_config(cfg)
    assert clone.get_config() == cfg
    assert cfg["kernel_size"] == (3, 3, 3) and cfg["kernel_constraint"] is None

    model = keras.Sequential(
        [
            keras.Input(shape=(3, 6, 6, 1)),
            layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
            layers.ConvLSTM2D(2, 1, go_backwards=True),
        ]
    )
    x = np.random.default_rng(8).standard_normal((2, 3, 6, 6, 1)).astype(np.float32)
    path = tmp_path / "m.deepcore"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_gradients_through_the_layer():
    layer = layers.ConvLSTM1D(2, 3, padding="same", return_sequences=True, dtype="float64")
    x = np.random.default_rng(9).standard_normal((2, 3, 5, 2))
    gradcheck(lambda x: layer(x), [x])
    y = layer(dc.Tensor(x))
    y.sum().backward()
    assert all(t.grad is not None and t.grad.shape == t.shape for t in layer.weights)


def test_hard_sigmoid_uses_keras3_slope():
    layer = layers.ConvLSTM1D(
        2, 1, recurrent_activation="hard_sigmoid", activation="linear", dtype="float64"
    )
    x = np.random.default_rng(10).standard_normal((1, 1, 3, 1)) * 4
    y = layer(x).detach().numpy()
    k, _, b = layer.get_weights()
    a = np.einsum("tsc,cg->tsg", x[0], k[0]) + b  # one step, h0 = c0 = 0: (1, 3, 8)
    hs = np.clip(a / 6 + 0.5, 0, 1)
    i, g, o = hs[..., :2], a[..., 4:6], hs[..., 6:]
    np.testing.assert_allclose(y[0], (o * (i * g))[0], rtol=1e-12, atol=1e-12)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="filters"):
        layers.ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        layers.ConvLSTM2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="kernel_size"):
        layers.ConvLSTM2D(2, 0)
    with pytest.raises(ValueError, match="padding"):
        layers.ConvLSTM2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="data_format"):
        layers.ConvLSTM2D(2, 3, data_format="nhwc")
    with pytest.raises(ValueError, match="activation"):
        layers.ConvLSTM2D(2, 3, activation="softmax")
    with pytest.raises(ValueError, match="kernel_constraint"):
        layers.ConvLSTM2D(2, 3, kernel_constraint="non_neg")
    with pytest.raises(ValueError, match="dropout"):
        layers.ConvLSTM2D(2, 3, dropout=1.5)
    layer = layers.ConvLSTM2D(2, 3)
    with pytest.raises(ValueError, match="rank 5"):
        layer(np.zeros((2, 3, 8, 8), np.float32))
    layer(np.zeros((2, 3, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="axis"):
        layer(np.zeros((2, 3, 8, 8, 2), np.float32))
    with pytest.raises(ValueError, match="kernel is larger"):
        layers.ConvLSTM2D(2, 5)(np.zeros((1, 2, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match="mask"):
        layers.ConvLSTM2D(2, 3)(np.zeros((1, 2, 5, 5, 1), np.float32), mask=np.ones((1, 3)))


def test_keras_doc_next_frame_model_fits():
    """keras.io "Next-frame video prediction with Convolutional LSTMs", scaled down."""
    dc.manual_seed(0)
    rng = np.random.default_rng(0)
    frames = np.zeros((8, 5, 8, 8, 1), np.float32)
    for n in range(8):  # a square moving one pixel per frame
        r, c = rng.integers(0, 3, 2)
        for t in range(5):
            frames[n, t, r + t // 2 : r + t // 2 + 3, c + t : c + t + 3, 0] = 1.0
    x, y = frames[:, :-1], frames[:, 1:]
    inp = layers.Input(shape=(None, *x.shape[2:]))
    h = layers.ConvLSTM2D(6, (3, 3), padding="same", return_sequences=True, activation="relu")(inp)
    h = layers.BatchNormalization()(h)
    h = layers.ConvLSTM2D(6, (1, 1), padding="same", return_sequences=True, activation="relu")(h)
    out = layers.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")(h)
    model = keras.models.Model(inp, out)
    model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam(0.01))
    hist = model.fit(x, y, batch_size=4, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < 0.8 * hist.history["loss"][0]
    assert model.predict(x[:1], verbose=0).shape == (1, 4, 8, 8, 1)


def test_functional_encoder_decoder_with_states():
    """return_state into another layer's initial_state in a functional graph, trained."""
    enc_in = keras.Input(shape=(4, 6, 6, 2))
    enc = layers.ConvLSTM2D(3, 3, padding="same", return_state=True)
    _, h, c = enc(enc_in)
    dec_in = keras.Input(shape=(2, 6, 6, 2))
    dec = layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True)
    out = dec(dec_in, initial_state=[h, c])
    model = keras.Model([enc_in, dec_in], out)
    assert model.output_shape == (None, 2, 6, 6, 3)
    rng = np.random.default_rng(12)
    xe, xd = rng.random((4, 4, 6, 6, 2)), rng.random((4, 2, 6, 6, 2))
    model.compile("adam", "mse")
    model.fit([xe, xd], rng.random((4, 2, 6, 6, 3)), epochs=1, verbose=0)
    # the decoder's output equals the layer run alone from the encoder's states
    _, h0, c0 = enc(xe.astype(np.float32), training=False)
    want = dec(xd.astype(np.float32), initial_state=[h0, c0], training=False)
    got = model.predict([xe, xd], verbose=0)
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)
