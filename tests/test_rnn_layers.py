"""Keras recurrent layers (deepcore.nn SimpleRNN, LSTM, GRU, cells, RNN(cell), Bidirectional,
RepeatVector): Keras weights and parameter counts, the layer-test helper, the fused kernel path
against the cell-by-cell path, PyTorch parity through the state-dict converters (stacked,
bidirectional, packed sequences), masks from Embedding, states, dropout, custom cells, fit on
boolean inputs, a functional encoder-decoder, and gradient clipping on an exploding RNN."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as nn
import numpy as np
import pytest
from deepcore import models
from helpers import requires_torch
from test_layers import run_layer_test


def _x(B=3, T=5, I=4, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((B, T, I)).astype(dtype)


def _arr(t):
    return np.asarray(t.data if isinstance(t, dc.Tensor) else t)


# ------------------------------------------------------------------------------ shapes, weights
@pytest.mark.parametrize(
    "cls,kwargs,shapes,params",
    [
        (nn.SimpleRNN, {}, [(4, 6), (6, 6), (6,)], 6 * (4 + 6 + 1)),
        (nn.LSTM, {}, [(4, 24), (6, 24), (24,)], 4 * 6 * (4 + 6 + 1)),
        (nn.GRU, {}, [(4, 18), (6, 18), (2, 18)], 3 * 6 * (4 + 6 + 2)),
        (nn.GRU, {"reset_after": False}, [(4, 18), (6, 18), (18,)], 3 * 6 * (4 + 6 + 1)),
        (nn.LSTM, {"use_bias": False}, [(4, 24), (6, 24)], 4 * 6 * (4 + 6)),
    ],
)
def test_keras_weights_and_layer_test(cls, kwargs, shapes, params):
    for seq in (False, True):
        out = (None, 5, 6) if seq else (None, 6)
        layer = run_layer_test(cls, dict(units=6, return_sequences=seq, **kwargs), (3, 5, 4), out,
                               params)  # fmt: skip
        assert [w.shape for w in layer.get_weights()] == shapes
        names = [w.name.split("/")[-1] for w in layer.weights]
        assert names == ["kernel", "recurrent_kernel", "bias"][: len(shapes)]


def test_unit_forget_bias_and_orthogonal_recurrent_kernel():
    layer = nn.LSTM(5)
    layer.build((None, 3, 2))
    b = _arr(layer.cell.bias)
    np.testing.assert_array_equal(b[5:10], 1.0)
    np.testing.assert_array_equal(np.r_[b[:5], b[10:]], 0.0)
    u = _arr(layer.cell.recurrent_kernel)  # (5, 20): orthonormal rows
    np.testing.assert_allclose(u @ u.T, np.eye(5), atol=1e-5)
    assert u.flags.c_contiguous  # optimizers update weights in place (regression: was F-order)
    assert nn.LSTM(5, unit_forget_bias=False).get_config()["unit_forget_bias"] is False


def test_config_round_trip_is_flat_like_keras():
    layer = nn.GRU(7, activation="relu", dropout=0.25, go_backwards=True, reset_after=False)
    cfg = layer.get_config()
    assert cfg["units"] == 7 and cfg["activation"] == "relu" and cfg["reset_after"] is False
    assert cfg["go_backwards"] is True and "cell" not in cfg
    again = nn.GRU.from_config(cfg)
    assert again.get_config() == cfg
    rnn = nn.RNN(nn.LSTMCell(3), return_sequences=True)
    again = nn.RNN.from_config(rnn.get_config())
    assert isinstance(again.cell, nn.LSTMCell) and again.return_sequences


def test_return_state_and_output_shapes():
    x = _x()
    out, h, c = nn.LSTM(6, return_sequences=True, return_state=True)(x)
    assert out.shape == (3, 5, 6) and h.shape == c.shape == (3, 6)
    np.testing.assert_array_equal(_arr(out)[:, -1], _arr(h))
    layer = nn.GRU(6, return_state=True)
    assert layer.compute_output_shape((None, 5, 4)) == [(None, 6), (None, 6)]
    y, h = layer(x)
    np.testing.assert_array_equal(_arr(y), _arr(h))


# ------------------------------------------------------------------------------ fused vs cells
CASES = [
    (nn.SimpleRNN, {}),
    (nn.SimpleRNN, {"activation": "relu"}),
    (nn.LSTM, {}),
    (nn.LSTM, {"recurrent_activation": "hard_sigmoid", "activation": "relu"}),
    (nn.GRU, {}),
    (nn.GRU, {"reset_after": False}),
    (nn.GRU, {"activation": None, "use_bias": False}),
]


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("cls,kwargs", CASES)
def test_fused_path_matches_the_cell_loop(cls, kwargs, backwards):
    """The native whole-sequence call computes what Keras's step-by-step cell does: outputs,
    final states and every weight gradient, with and without masks, in both directions."""
    rng = np.random.default_rng(1)
    x = dc.tensor(_x(seed=2, dtype=np.float64))
    mask = dc.tensor(rng.random((3, 5)) > 0.3)
    for m in (None, mask):
        for zero in (False, True):
            layer = cls(4, return_sequences=True, return_state=True, go_backwards=backwards,
                        zero_output_for_mask=zero, dtype="float64", **kwargs)  # fmt: skip
            layer.build((None, 5, 4))
            states = layer._initial_states(3, None)
            results = []
            for path in (layer._fused, layer._loop):
                layer.zero_grad()
                seq, last, new = path(x, m, states, False)
                total = (seq * dc.tensor(np.arange(seq.size).reshape(seq.shape) % 7)).sum()
                total = total + (last * 3).sum() + sum((s * 2).sum() for s in new)
                total.backward()
                results.append([_arr(seq), _arr(last), *[_arr(s) for s in new]]
                               + [w.grad.numpy().copy() for w in layer.weights])  # fmt: skip
            for a, b in zip(*results):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls,kwargs", [c for c in CASES if "use_bias" not in c[1]])
def test_dropout_and_recurrent_dropout_fused_match_the_cells(cls, kwargs):
    """Training with dropout and recurrent_dropout: the fused call (the masks as multipliers of
    x and of h_{t-1} where it meets the recurrent kernel) equals the cells stepped in Python with
    the same masks (the same random draws), outputs and gradients."""
    x = dc.tensor(_x(seed=4, dtype=np.float64))
    layer = cls(4, return_sequences=True, dropout=0.3, recurrent_dropout=0.4, dtype="float64",
                **kwargs)  # fmt: skip
    layer.build((None, 5, 4))
    states = layer._initial_states(3, None)
    results = []
    for path in (layer._fused, layer._loop):
        layer.zero_grad()
        dc.manual_seed(7)
        seq, last, new = path(x, None, states, True)
        (seq * dc.tensor(np.cos(np.arange(seq.size)).reshape(seq.shape))).sum().backward()
        results.append([_arr(seq)] + [w.grad.numpy().copy() for w in layer.weights])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    dc.manual_seed(7)
    y_train = _arr(layer(x, training=True))
    y_infer = _arr(layer(x, training=False))
    assert not np.allclose(y_train, y_infer)
    np.testing.assert_array_equal(_arr(layer(x, training=False)), y_infer)


def test_unsupported_activation_takes_the_cell_path():
    layer = nn.LSTM(3, activation="elu")
    layer.build((None, 4, 2))
    assert not layer.cell._fusable()
    y = layer(_x(2, 4, 2))
    assert y.shape == (2, 3)


def test_dropout_one_mask_per_sequence():
    """dropout drops the same input features at every step (one mask per sequence): a layer
    with input dropout equals the same layer without it on the masked input."""
    x = np.abs(_x(2, 6, 5)) + 1
    layer = nn.SimpleRNN(4, dropout=0.5, return_sequences=True, activation=None, use_bias=False)
    layer.build((None, 6, 5))
    layer.cell.recurrent_kernel.data[...] = 0  # each output depends on its step's input only
    dc.manual_seed(3)
    y = _arr(layer(x, training=True))
    k = _arr(layer.cell.kernel)
    np.testing.assert_allclose(_arr(layer(x, training=False)), x @ k, rtol=1e-5)
    dc.manual_seed(3)
    keep = (dc.get_rng().random((2, 1, 5)) >= 0.5) * 2.0  # the same draw: (batch, 1, features)
    np.testing.assert_allclose(y, (x * keep) @ k, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ PyTorch
def _torch_module(kind, I, H, **kw):
    import torch

    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    torch.manual_seed(0)
    return cls(I, H, batch_first=True, dtype=torch.float64, **kw)


@requires_torch
@pytest.mark.parametrize("kind,cls", [("lstm", nn.LSTM), ("gru", nn.GRU), ("rnn", nn.SimpleRNN)])
def test_torch_weights_load_and_match(kind, cls):
    import torch

    tm = _torch_module(kind, 4, 6)
    layer = cls(6, return_sequences=True, return_state=True, dtype="float64")
    layer.load_torch_state_dict(tm.state_dict())
    x = _x(dtype=np.float64)
    ours = layer(x)
    theirs, hx = tm(torch.tensor(x))
    np.testing.assert_allclose(_arr(ours[0]), theirs.detach().numpy(), rtol=1e-11, atol=1e-12)
    hx = hx if kind != "lstm" else hx[0]
    np.testing.assert_allclose(_arr(ours[1]), hx[0].detach().numpy(), rtol=1e-11, atol=1e-12)
    # and back: PyTorch loads what we export (an LSTM's biases come back summed in bias_ih)
    sd = layer.torch_state_dict()
    tm2 = _torch_module(kind, 4, 6)
    tm2.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    np.testing.assert_allclose(tm2(torch.tensor(x))[0].detach().numpy(), _arr(ours[0]),
                               rtol=1e-11, atol=1e-12)  # fmt: skip


@requires_torch
def test_torch_stacked_bidirectional_and_packed_sequences():
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    tm = _torch_module("lstm", 4, 5, num_layers=2, bidirectional=True)
    sd = tm.state_dict()
    l0 = nn.Bidirectional(nn.LSTM(5, return_sequences=True, zero_output_for_mask=True,
                                  dtype="float64"), dtype="float64")  # fmt: skip
    l1 = nn.Bidirectional(nn.LSTM(5, return_sequences=True, zero_output_for_mask=True,
                                  dtype="float64"), dtype="float64")  # fmt: skip
    l0.load_torch_state_dict(sd, layer=0)
    l1.load_torch_state_dict(sd, layer=1)
    x = _x(4, 6, 4, dtype=np.float64)
    lengths = np.array([6, 2, 5, 1])
    mask = np.arange(6)[None] < lengths[:, None]
    ours = l1(l0(x, mask=mask), mask=mask)
    packed = pack_padded_sequence(torch.tensor(x), lengths, batch_first=True,
                                  enforce_sorted=False)  # fmt: skip
    theirs, _ = pad_packed_sequence(tm(packed)[0], batch_first=True, total_length=6)
    np.testing.assert_allclose(_arr(ours), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    # unpadded: plain bidirectional against PyTorch's
    np.testing.assert_allclose(_arr(l1(l0(x))), tm(torch.tensor(x))[0].detach().numpy(),
                               rtol=1e-10, atol=1e-12)  # fmt: skip


def test_torch_conversion_errors():
    with pytest.raises(ValueError, match="reset_after=True"):
        nn.GRU(3, reset_after=False).torch_state_dict()
    layer = nn.LSTM(3)
    with pytest.raises(ValueError, match="weight_hh_l0 has shape"):
        layer.load_torch_state_dict(
            {"weight_ih_l0": np.zeros((8, 2)), "weight_hh_l0": np.zeros((8, 2))}
        )
    with pytest.raises(KeyError, match="weight_ih_l1"):
        layer.load_torch_state_dict({}, layer=1)


# ------------------------------------------------------------------------------ masks, states
def test_embedding_mask_matches_unpadded_sequences():
    """Embedding(mask_zero=True) -> LSTM: each padded sample gives what the sample alone gives."""
    dc.manual_seed(0)
    model = models.Sequential([nn.Embedding(10, 4, mask_zero=True), nn.LSTM(5)])
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2], [5, 0, 0, 0, 0]])
    out = _arr(model(ids))
    for b, n in enumerate([3, 5, 1]):
        alone = _arr(model(ids[b : b + 1, :n]))
        np.testing.assert_allclose(out[b], alone[0], rtol=1e-5, atol=1e-6)
    seq = models.Sequential([nn.Embedding(10, 4, mask_zero=True), nn.GRU(3, return_sequences=True)])
    _, mask = seq(ids, return_masks=True)
    np.testing.assert_array_equal(_arr(mask), ids != 0)  # return_sequences passes the mask on
    assert nn.GRU(3).compute_mask(ids, dc.tensor(ids != 0)) is None


def test_stateful_layer_continues_across_batches():
    x = _x(2, 6, 3)
    full = nn.GRU(4, return_sequences=True, stateful=True)
    ref = _arr(full(x))
    full.reset_states()
    a = _arr(full(x[:, :3]))
    b = _arr(full(x[:, 3:]))
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), ref, rtol=1e-5, atol=1e-6)
    full.reset_states()
    np.testing.assert_allclose(_arr(full(x)), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="batch of 2"):
        full(x[:1])
    with pytest.raises(AttributeError, match="not stateful"):
        nn.GRU(4).reset_states()


def test_initial_state_and_go_backwards_order():
    x = _x()
    layer = nn.LSTM(3, return_sequences=True)
    h0 = np.ones((3, 3), np.float32)
    y1 = _arr(layer(x, initial_state=[h0, h0]))
    y2 = _arr(layer([x, h0, h0]))
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(y1, _arr(layer(x)))
    back = nn.LSTM(3, return_sequences=True, go_backwards=True)
    back.build((None, 5, 4))
    back.set_weights(layer.get_weights())
    # Keras: go_backwards reads x reversed and returns the outputs in that order
    np.testing.assert_allclose(_arr(back(x)), _arr(layer(x[:, ::-1].copy())), rtol=1e-6)


# ------------------------------------------------------------------------------ other layers
@pytest.mark.parametrize("mode", ["concat", "sum", "ave", "mul", None])
def test_bidirectional_merge_modes(mode):
    x = _x()
    bi = nn.Bidirectional(nn.LSTM(3, return_sequences=True), merge_mode=mode)
    y = bi(x)
    f = _arr(bi.forward_layer(x))
    b = _arr(bi.backward_layer(x))[:, ::-1]
    want = {"concat": np.concatenate([f, b], -1), "sum": f + b, "ave": (f + b) / 2,
            "mul": f * b, None: [f, b]}[mode]  # fmt: skip
    if mode is None:
        for a, w in zip(y, want):
            np.testing.assert_allclose(_arr(a), w, rtol=1e-6)
    else:
        np.testing.assert_allclose(_arr(y), want, rtol=1e-6)
        assert bi.compute_output_shape((None, 5, 4)) == (None, 5, want.shape[-1])
    assert bi.count_params() == 2 * 4 * 3 * (4 + 3 + 1)
    cfg = bi.get_config()
    again = nn.Bidirectional.from_config(cfg)
    assert again.merge_mode == mode


def test_bidirectional_states_and_sequential_summary():
    y, hf, cf, hb, cb = nn.Bidirectional(nn.LSTM(3, return_state=True))(_x())
    assert y.shape == (3, 6) and hf.shape == hb.shape == (3, 3)
    first = nn.Bidirectional(nn.GRU(4, return_sequences=True), input_shape=(5, 2))
    model = models.Sequential([first, nn.Bidirectional(nn.GRU(4)), nn.Dense(1)])
    assert model.count_params() == 2 * 3 * 4 * (2 + 4 + 2) + 2 * 3 * 4 * (8 + 4 + 2) + 9


def test_repeat_vector_and_time_distributed():
    layer = nn.RepeatVector(3)
    x = dc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    y = layer(x)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(_arr(y)[:, 1], _arr(x))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 3.0)
    with pytest.raises(ValueError, match="positive integer"):
        nn.RepeatVector(0)
    model = models.Sequential([nn.LSTM(8, input_shape=(4, 3)), nn.RepeatVector(5),
                               nn.LSTM(8, return_sequences=True),
                               nn.TimeDistributed(nn.Dense(2, activation="softmax"))])  # fmt: skip
    assert model(_x(2, 4, 3)).shape == (2, 5, 2)
    emb = nn.Embedding(20, 4, input_length=7)
    assert models.Sequential([emb, nn.SimpleRNN(3)]).compute_output_shape((None, 7)) == (None, 3)


class MinimalRNNCell(nn.Layer):
    """The Keras documentation's custom cell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units))

    def call(self, inputs, states, training=None):
        h = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return h, [h]


def test_custom_cell_in_generic_rnn_with_mask():
    layer = nn.RNN(MinimalRNNCell(3), return_sequences=True)
    x = _x()
    mask = np.array([[1, 1, 0, 1, 0]] * 3, bool)
    y = _arr(layer(x, mask=dc.tensor(mask)))
    k, u = _arr(layer.cell.kernel), _arr(layer.cell.recurrent_kernel)
    h = np.zeros((3, 3), np.float32)
    for t in range(5):
        if mask[0, t]:
            h = x[:, t] @ k + h @ u
        np.testing.assert_allclose(y[:, t], h, rtol=1e-5, atol=1e-6)


def test_cells_step_by_step():
    cell = nn.LSTMCell(4)
    x = _x(2, 3, 5)
    cell.build((None, 5))
    states = cell.get_initial_state(2)
    layer = nn.RNN(cell, return_sequences=True)
    y = _arr(layer(x))
    for t in range(3):
        out, states = cell(dc.tensor(x[:, t]), states)
        np.testing.assert_allclose(_arr(out), y[:, t], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ training
def test_fit_accepts_boolean_one_hot_windows():
    """The seed char-RNN feeds np.bool one-hot windows (x) and targets (y)."""
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 6, (64, 8))
    x = np.eye(6, dtype=bool)[idx]
    y = np.eye(6, dtype=bool)[idx[:, -1]]
    dc.manual_seed(0)
    model = models.Sequential(
        [nn.SimpleRNN(16, input_shape=(8, 6)), nn.Dense(6, activation="softmax")]
    )
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    ints = models.Sequential([nn.LSTM(4, input_shape=(8, 6)), nn.Dense(6)])
    assert ints(idx[..., None].repeat(6, -1).astype(np.int64)).shape == (64, 6)


def test_functional_encoder_decoder_with_initial_state():
    enc_in = models.Input((4, 3))
    _, h, c = nn.LSTM(5, return_state=True)(enc_in)
    dec_in = models.Input((6, 2))
    dec = nn.LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
    out = nn.TimeDistributed(nn.Dense(2))(dec)
    model = models.Model([enc_in, dec_in], out)
    xe, xd = _x(3, 4, 3), _x(3, 6, 2)
    y = model([xe, xd])
    assert y.shape == (3, 6, 2)
    model.compile(optimizer="adam", loss="mse")
    model.fit([xe, xd], np.zeros((3, 6, 2), np.float32), epochs=1, verbose=0)
    again = type(model).from_config(model.get_config())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(_arr(again([xe, xd])), _arr(model([xe, xd])), rtol=1e-6)


def test_gradient_clipping_on_an_exploding_rnn():
    """A linear RNN with recurrent weight 3 has gradients that grow like 3^T; clipping by value
    and by global norm bounds the update."""
    from deepcore import optim

    layer = nn.SimpleRNN(4, activation=None, use_bias=False)
    layer.build((None, 30, 2))
    layer.cell.recurrent_kernel.data[...] = 3 * np.eye(4, dtype=np.float32)
    x = dc.tensor(_x(2, 30, 2))
    layer(x).sum().backward()
    grads = [w.grad.numpy() for w in layer.weights]
    assert max(np.abs(g).max() for g in grads) > 1e10
    total = optim.clip_grad_norm_(layer.parameters(), 1.0)
    assert float(total) > 1e10
    assert (
        np.sqrt(sum((w.grad.numpy().astype(np.float64) ** 2).sum() for w in layer.weights))
        <= 1.0 + 1e-5
    )
    layer.zero_grad()
    layer(x).sum().backward()
    optim.clip_grad_value_(layer.parameters(), 0.5)
    assert max(np.abs(w.grad.numpy()).max() for w in layer.weights) <= 0.5
    opt = optim.SGD(layer.parameters(), lr=0.1, global_clipnorm=1.0)
    before = [w.numpy().copy() for w in layer.weights]
    layer.zero_grad()
    layer(x).sum().backward()
    opt.step()
    step = np.sqrt(sum(((w.numpy() - b) ** 2).sum() for w, b in zip(layer.weights, before)))
    assert 0 < step <= 0.1 + 1e-4  # lr * the clipped global norm
