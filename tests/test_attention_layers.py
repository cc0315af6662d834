"""Attention layers (deepcore.nn): MultiHeadAttention against PyTorch's nn.MultiheadAttention
with copied weights, TransformerEncoder / TransformerDecoder against nn.TransformerEncoderLayer
/ nn.TransformerDecoderLayer (post-norm and pre-norm), Attention / AdditiveAttention and the
position layers against NumPy, Keras masks, float64 finite differences, the layer-test
pattern of tests/test_layers.py, bad inputs."""

from __future__ import annotations

import json

import deepcore as dc
import deepcore.nn as nn
import numpy as np
import pytest
from deepcore.testing import gradcheck
from helpers import np_softmax, requires_torch


def _rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _np(t):
    return np.asarray(t.detach().numpy() if isinstance(t, dc.Tensor) else t)


def _set(p, a):
    p.data[...] = np.asarray(a, p.data.dtype)


def _params(layer):
    return [p for _, p in layer.named_parameters()]


def _round_trip(layer):
    cfg = json.loads(json.dumps(nn.serialize(layer)))
    clone = nn.deserialize(cfg)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    return clone


# ------------------------------------------------------------------------------ NumPy reference
def _np_mha(layer, q, v, k, mask=None, causal=False):
    """Multi-head attention written out in NumPy from the layer's weights; mask (B, T, S)."""

    def proj(d, x, n):
        y = x @ _np(d.kernel) + (0 if d.bias is None else _np(d.bias))
        return y.reshape(x.shape[0], x.shape[1], layer.num_heads, n).transpose(0, 2, 1, 3)

    qh = proj(layer.query_dense, q, layer.key_dim)
    kh = proj(layer.key_dense, k, layer.key_dim)
    vh = proj(layer.value_dense, v, layer.value_dim)
    s = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(layer.key_dim)
    keep = np.ones(s.shape, bool)
    if mask is not None:
        keep &= mask[:, None]
    if causal:
        keep &= np.tril(np.ones(s.shape[-2:], bool))
    s = np.where(keep, s, -np.inf)
    live = keep.any(-1, keepdims=True)
    p = np.where(live, np_softmax(np.where(live, s, 0.0)), 0.0)
    o = (p @ vh).transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], -1)
    d = layer.output_dense
    return o @ _np(d.kernel) + (0 if d.bias is None else _np(d.bias)), p


# ------------------------------------------------------------------------------ MHA
def test_mha_shapes_params_config_and_training_step():
    dc.manual_seed(0)
    mha = nn.MultiHeadAttention(num_heads=2, key_dim=3)
    q, v = (
        dc.tensor(_rand(4, 5, 6, dtype=np.float32)),
        dc.tensor(_rand(4, 7, 8, seed=1, dtype=np.float32)),
    )
    y = mha(q, v)
    assert y.shape == (4, 5, 6) and y.dtype == np.float32
    # Keras's count: q (6*6+6), k (8*6+6), v (8*6+6), output (6*6+6)
    assert mha.count_params() == 42 + 54 + 54 + 42
    clone = _round_trip(mha)
    clone(q, v)
    clone.load_state_dict(mha.state_dict())
    np.testing.assert_allclose(_np(clone(q, v)), _np(y), rtol=1e-6)
    target = dc.tensor(_rand(4, 5, 6, seed=3, dtype=np.float32))

    def loss():
        d = mha(q, v) - target
        return (d * d).mean()

    l0 = loss()
    l0.backward()
    assert all(p.grad is not None for p in _params(mha))
    with dc.no_grad():
        for p in _params(mha):
            p.data -= 0.05 * p.grad.data
    assert loss().item() < l0.item()
    # value_dim and output_shape
    m2 = nn.MultiHeadAttention(3, 2, value_dim=5, output_shape=4, use_bias=False)
    out, scores = m2(q, v, return_attention_scores=True)
    assert out.shape == (4, 5, 4) and scores.shape == (4, 3, 5, 7)
    assert m2.count_params() == 6 * 6 + 8 * 6 + 8 * 15 + 15 * 4


@pytest.mark.parametrize("causal", [False, True])
def test_mha_matches_numpy_with_masks(causal):
    B, T, S, E = 2, 6, 6, 8
    mha = nn.MultiHeadAttention(2, 4, dtype="float64")
    q, v, k = _rand(B, T, E), _rand(B, S, E, seed=1), _rand(B, S, E, seed=2)
    rng = np.random.default_rng(4)
    am = rng.random((B, T, S)) > 0.3
    qm = rng.random((B, T)) > 0.2
    vm = rng.random((B, S)) > 0.2
    vm[:, 0] = True
    out, scores = mha(q, v, k, query_mask=qm, value_mask=vm, attention_mask=am,
                      use_causal_mask=causal, return_attention_scores=True)  # fmt: skip
    fused = mha(q, v, k, query_mask=qm, value_mask=vm, attention_mask=am, use_causal_mask=causal)
    ref, p = _np_mha(mha, q, v, k, am & qm[:, :, None] & vm[:, None, :], causal)
    np.testing.assert_allclose(_np(out), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(fused), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(scores), p, rtol=1e-10, atol=1e-12)


def _torch_mha(mha, E, kdim, vdim, H):
    import torch

    t = torch.nn.MultiheadAttention(
        E, H, batch_first=True, kdim=kdim, vdim=vdim, dtype=torch.float64
    )
    ws = (
        [t.q_proj_weight, t.k_proj_weight, t.v_proj_weight]
        if not t._qkv_same_embed_dim
        else list(t.in_proj_weight.detach().split(E))
    )
    with torch.no_grad():
        for d, w, b in zip(
            (mha.query_dense, mha.key_dense, mha.value_dense), ws, t.in_proj_bias.split(E)
        ):
            _set(d.kernel, w.detach().numpy().T)
            _set(d.bias, b.numpy())
        _set(mha.output_dense.kernel, t.out_proj.weight.detach().numpy().T)
        _set(mha.output_dense.bias, t.out_proj.bias.detach().numpy())
    return t


@requires_torch
@pytest.mark.parametrize("cross", [False, True])
def test_mha_matches_torch_multihead_attention(cross):
    import torch

    B, T, S, E, H = 2, 7, 5 if cross else 7, 12, 3
    kdim, vdim = (10, 6) if cross else (E, E)
    mha = nn.MultiHeadAttention(H, E // H, dtype="float64")
    q, k, v = _rand(B, T, E), _rand(B, S, kdim, seed=1), _rand(B, S, vdim, seed=2)
    mha(q, v, k)  # build
    t = _torch_mha(mha, E, kdim, vdim, H)
    pad = np.ones((B, S), bool)
    pad[1, -2:] = False  # batch 1: the last two keys are padding
    causal = not cross
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tmask = torch.ones(T, S, dtype=torch.bool).triu(1) if causal else None  # True = masked
    tout, tw = t(tq, tk, tv, key_padding_mask=torch.tensor(~pad), attn_mask=tmask,
                 average_attn_weights=False)  # fmt: skip
    dq, dk, dv = (dc.tensor(a, requires_grad=True) for a in (q, k, v))
    out = mha(dq, dv, dk, value_mask=pad, use_causal_mask=causal)
    _, scores = mha(q, v, k, value_mask=pad, use_causal_mask=causal, return_attention_scores=True)
    np.testing.assert_allclose(_np(out), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(scores), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    go = _rand(*out.shape, seed=9)
    (out * dc.tensor(go)).sum().backward()
    tout.backward(torch.tensor(go))
    for name, a, b in (("q", dq, tq), ("k", dk, tk), ("v", dv, tv)):
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)
    np.testing.assert_allclose(
        _np(mha.output_dense.kernel.grad).T, t.out_proj.weight.grad.numpy(), rtol=1e-9, atol=1e-11
    )


def test_mha_gradcheck():
    mha = nn.MultiHeadAttention(2, 2, value_dim=3, dtype="float64")
    q, v = _rand(2, 3, 4), _rand(2, 4, 5, seed=1)
    mha(q, v)
    names = [
        (d, w) for d in ("query_dense", "value_dense", "output_dense") for w in ("kernel", "bias")
    ]
    ws = [getattr(getattr(mha, d), w) for d, w in names]
    vm = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool)

    def fn(qq, vv, *ts):
        for (d, w), t in zip(names, ts):
            object.__setattr__(getattr(mha, d), w, t)
        return mha(qq, vv, value_mask=vm, use_causal_mask=True)

    try:
        gradcheck(fn, [q, v, *ws])
    finally:
        for (d, w), t in zip(names, ws):
            object.__setattr__(getattr(mha, d), w, t)


def test_mha_dropout_only_in_training():
    mha = nn.MultiHeadAttention(2, 4, dropout=0.5)
    q = dc.tensor(_rand(2, 9, 8, dtype=np.float32))
    a, b = mha(q, q, training=False), mha(q, q, training=False)
    np.testing.assert_array_equal(_np(a), _np(b))
    dc.manual_seed(1)
    c = mha(q, q, training=True)
    dc.manual_seed(1)
    d = mha(q, q, training=True)
    np.testing.assert_array_equal(_np(c), _np(d))
    assert not np.allclose(_np(c), _np(a))


def test_mha_takes_the_query_mask_from_embedding_in_functional_models():
    from deepcore import models

    tokens = np.array([[3, 1, 2, 0, 0], [1, 1, 1, 1, 2]])
    inp = models.Input((5,))
    emb = nn.Embedding(4, 6, mask_zero=True)
    h = emb(inp)
    mha = nn.MultiHeadAttention(2, 3)
    out = mha(h, h)
    model = models.Model(inp, out)
    y = _np(model(tokens))
    e = _np(emb(tokens))
    real = tokens != 0  # Keras: the query's mask on rows, the value's on columns
    ref, _ = _np_mha(mha, e, e, e, real[:, :, None] & real[:, None, :])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_mha_bad_inputs():
    mha = nn.MultiHeadAttention(2, 3)
    q = dc.tensor(_rand(2, 5, 6, dtype=np.float32))
    with pytest.raises(ValueError, match="num_heads"):
        nn.MultiHeadAttention(0, 3)
    with pytest.raises(ValueError, match="dropout"):
        nn.MultiHeadAttention(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match="attention_axes"):
        nn.MultiHeadAttention(2, 3, attention_axes=(1, 2))
    with pytest.raises(ValueError, match="query must be"):
        mha(dc.tensor(_rand(2, 6, dtype=np.float32)), q)
    mha(q, q)
    with pytest.raises(ValueError, match="batch size"):
        mha(q, q[:1])
    with pytest.raises(ValueError, match="features"):
        mha(q, dc.tensor(_rand(2, 5, 7, dtype=np.float32)))
    with pytest.raises(ValueError, match="attention_mask must broadcast"):
        mha(q, q, attention_mask=np.ones((2, 5, 4), bool))
    with pytest.raises(ValueError, match="value_mask must have shape"):
        mha(q, q, value_mask=np.ones((2, 4), bool))


# ------------------------------------------------------------------------------ Transformer blocks
def _copy_from_torch_layer(block, t, cross=False):
    """Weights of nn.TransformerEncoderLayer / DecoderLayer into our block."""
    E = block.self_attention._query_features

    def mha(ours, theirs):
        for d, w, b in zip(
            (ours.query_dense, ours.key_dense, ours.value_dense),
            theirs.in_proj_weight.detach().split(E),
            theirs.in_proj_bias.detach().split(E),
        ):
            _set(d.kernel, w.numpy().T)
            _set(d.bias, b.numpy())
        _set(ours.output_dense.kernel, theirs.out_proj.weight.detach().numpy().T)
        _set(ours.output_dense.bias, theirs.out_proj.bias.detach().numpy())

    def ln(ours, theirs):
        _set(ours.gamma, theirs.weight.detach().numpy())
        _set(ours.beta, theirs.bias.detach().numpy())

    mha(block.self_attention, t.self_attn)
    ln(block.self_attention_layer_norm, t.norm1)
    if cross:
        mha(block.cross_attention, t.multihead_attn)
        ln(block.cross_attention_layer_norm, t.norm2)
    _set(block.feedforward_intermediate_dense.kernel, t.linear1.weight.detach().numpy().T)
    _set(block.feedforward_intermediate_dense.bias, t.linear1.bias.detach().numpy())
    _set(block.feedforward_output_dense.kernel, t.linear2.weight.detach().numpy().T)
    _set(block.feedforward_output_dense.bias, t.linear2.bias.detach().numpy())
    ln(block.feedforward_layer_norm, t.norm3 if cross else t.norm2)


@requires_torch
@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_matches_torch_encoder_layer(normalize_first):
    import torch

    B, L, E, H, ff = 2, 7, 12, 3, 20
    enc = nn.TransformerEncoder(ff, H, layer_norm_epsilon=1e-5, normalize_first=normalize_first,
                                dtype="float64")  # fmt: skip
    x = _rand(B, L, E)
    enc(x)
    t = torch.nn.TransformerEncoderLayer(
        E, H, ff, dropout=0.0, batch_first=True, norm_first=normalize_first, dtype=torch.float64
    )
    t.train()  # the training path: the inference fast path zeroes padded positions
    _copy_from_torch_layer(enc, t)
    pad = np.ones((B, L), bool)
    pad[0, -3:] = False
    tx = torch.tensor(x, requires_grad=True)
    tout = t(tx, src_key_padding_mask=torch.tensor(~pad))
    dx = dc.tensor(x, requires_grad=True)
    out = enc(dx, padding_mask=pad)
    np.testing.assert_allclose(_np(out), tout.detach().numpy(), rtol=1e-10, atol=1e-11)
    go = _rand(B, L, E, seed=5)
    (out * dc.tensor(go)).sum().backward()
    tout.backward(torch.tensor(go))
    np.testing.assert_allclose(_np(dx.grad), tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(
        _np(enc.feedforward_intermediate_dense.kernel.grad).T, t.linear1.weight.grad.numpy(),
        rtol=1e-9, atol=1e-10,
    )  # fmt: skip


@requires_torch
@pytest.mark.parametrize("normalize_first", [False, True])
def test_decoder_matches_torch_decoder_layer(normalize_first):
    import torch

    B, T, S, E, H, ff = 2, 6, 5, 8, 2, 16
    dec = nn.TransformerDecoder(ff, H, normalize_first=normalize_first, dtype="float64")
    x, mem = _rand(B, T, E), _rand(B, S, E, seed=1)
    dec(x, mem)
    t = torch.nn.TransformerDecoderLayer(
        E, H, ff, dropout=0.0, batch_first=True, norm_first=normalize_first, dtype=torch.float64
    )
    _copy_from_torch_layer(dec, t, cross=True)
    pad = np.ones((B, S), bool)
    pad[1, -2:] = False
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    tout = t(torch.tensor(x), torch.tensor(mem), tgt_mask=causal, tgt_is_causal=True,
             memory_key_padding_mask=torch.tensor(~pad))  # fmt: skip
    out = dec(x, mem, encoder_padding_mask=pad)
    np.testing.assert_allclose(_np(out), tout.detach().numpy(), rtol=1e-10, atol=1e-11)


def test_encoder_layer_test_and_gradcheck():
    dc.manual_seed(0)
    enc = nn.TransformerEncoder(16, 2)
    x = dc.tensor(_rand(3, 5, 8, dtype=np.float32))
    y = enc(x)
    assert y.shape == (3, 5, 8)
    # keras-hub's count: attention 4 * (8*8+8), two layer norms 2 * 16, FFN 8*16+16 + 16*8+8
    assert enc.count_params() == 288 + 32 + 280
    assert enc.compute_output_shape((None, 5, 8)) == (None, 5, 8)
    clone = _round_trip(enc)
    clone(x)
    clone.load_state_dict(enc.state_dict())
    np.testing.assert_allclose(_np(clone(x)), _np(y), rtol=1e-6, atol=1e-6)
    small = nn.TransformerEncoder(3, 2, normalize_first=True, dtype="float64")
    x64 = _rand(1, 3, 4)
    small(x64)
    params = _params(small)
    names = [n for n, _ in small.named_parameters()]

    def fn(xx, *ts):
        saved = [_lookup(small, n) for n in names]
        for n, t in zip(names, ts):
            _assign(small, n, t)
        try:
            return small(xx, padding_mask=np.array([[1, 1, 0]], bool))
        finally:
            for n, t in zip(names, saved):
                _assign(small, n, t)

    gradcheck(fn, [x64, *[p.detach().numpy().copy() for p in params]])


def _lookup(layer, dotted):
    *path, last = dotted.split(".")
    for p in path:
        layer = getattr(layer, p)
    return getattr(layer, last)


def _assign(layer, dotted, t):
    *path, last = dotted.split(".")
    for p in path:
        layer = getattr(layer, p)
    object.__setattr__(layer, last, t)


def test_encoder_padding_keys_do_not_leak_and_the_mask_passes_on():
    from deepcore import models

    dc.manual_seed(0)
    model = models.Sequential(
        [nn.Embedding(10, 8, mask_zero=True), nn.PositionalEncoding(), nn.TransformerEncoder(16, 2),
         nn.GlobalAveragePooling1D(), nn.Dense(2)]
    )  # fmt: skip
    a = np.array([[4, 5, 6, 0, 0]])
    b = np.array([[4, 5, 6, 0, 0, 0, 0]])  # more padding
    np.testing.assert_allclose(_np(model(a)), _np(model(b)), rtol=1e-5, atol=1e-6)
    c = np.array([[4, 5, 6, 7, 0]])
    assert not np.allclose(_np(model(a)), _np(model(c)))


def test_decoder_is_causal_and_builds_cross_attention_lazily():
    dc.manual_seed(0)
    dec = nn.TransformerDecoder(16, 2)
    x = _rand(2, 6, 8, dtype=np.float32)
    y = _np(dec(x))  # decoder-only: no cross-attention
    assert not hasattr(dec, "cross_attention")
    x2 = x.copy()
    x2[:, 4:] += 1.0  # the future does not change the past
    np.testing.assert_allclose(_np(dec(x2))[:, :4], y[:, :4], rtol=1e-5, atol=1e-6)
    dec2 = nn.TransformerDecoder(16, 2)
    mem = _rand(2, 3, 8, seed=2, dtype=np.float32)
    assert dec2(x, mem).shape == (2, 6, 8) and hasattr(dec2, "cross_attention")


def test_transformer_bad_arguments():
    with pytest.raises(ValueError, match="intermediate_dim"):
        nn.TransformerEncoder(0, 2)
    with pytest.raises(ValueError, match="heads"):
        nn.TransformerEncoder(4, 8)(dc.tensor(_rand(1, 3, 4, dtype=np.float32)))
    with pytest.raises(ValueError, match="layer_norm_epsilon"):
        nn.TransformerDecoder(4, 2, layer_norm_epsilon=0)


# ------------------------------------------------------------------------------ Luong / Bahdanau
def _np_dense_attention(scores, v, q_mask, v_mask, causal):
    keep = np.ones(scores.shape, bool)
    if v_mask is not None:
        keep &= v_mask[:, None, :]
    if causal:
        keep &= np.tril(np.ones(scores.shape[-2:], bool))
    live = keep.any(-1, keepdims=True)
    w = np.where(live, np_softmax(np.where(keep, scores, -1e300)), 0.0)
    out = w @ v
    if q_mask is not None:
        out = out * q_mask[:, :, None]
    return out, w


@pytest.mark.parametrize("kind", ["dot", "dot_scaled", "concat", "additive", "additive_noscale"])
@pytest.mark.parametrize("causal", [False, True])
def test_dense_attention_matches_numpy(kind, causal):
    B, Tq, Tv, D = 2, 4, 5, 3
    q, v, k = _rand(B, Tq, D), _rand(B, Tv, D, seed=1), _rand(B, Tv, D, seed=2)
    if kind.startswith("additive"):
        layer = nn.AdditiveAttention(use_scale=kind == "additive", dtype="float64")
    else:
        mode = "concat" if kind == "concat" else "dot"
        layer = nn.Attention(use_scale=kind == "dot_scaled", score_mode=mode, dtype="float64")
    layer([q, v, k])
    if getattr(layer, "scale", None) is not None and kind != "additive":
        _set(layer.scale, 1.7)
    qm = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool)
    vm = np.array([[1, 0, 1, 1, 1], [0, 1, 1, 1, 0]], bool)
    if kind.startswith("dot"):
        scores = q @ k.transpose(0, 2, 1) * (1.7 if kind == "dot_scaled" else 1.0)
    elif kind == "concat":
        scores = np.tanh(q[:, :, None] + k[:, None]).sum(-1)
    else:
        t = np.tanh(q[:, :, None] + k[:, None])
        scores = t @ _np(layer.scale) if kind == "additive" else t.sum(-1)
    ref, w = _np_dense_attention(scores, v, qm, vm, causal)
    out, weights = layer([q, v, k], mask=[qm, vm], use_causal_mask=causal,
                         return_attention_scores=True)  # fmt: skip
    np.testing.assert_allclose(_np(out), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(weights), w, rtol=1e-10, atol=1e-12)
    fast = layer([q, v, k], mask=[qm, vm], use_causal_mask=causal)
    np.testing.assert_allclose(_np(fast), ref, rtol=1e-10, atol=1e-12)
    if causal:
        return
    # gradients (through the learnable scale too) by finite differences, on a smaller problem
    q, v, k = q[:1, :3, :2].copy(), v[:1, :4, :2].copy(), k[:1, :4, :2].copy()
    qm, vm = qm[:1, :3], vm[:1, :4]
    layer = type(layer).from_config(layer.get_config())
    layer([q, v, k])
    scale = getattr(layer, "scale", None)

    def fn(qq, vv, kk, *ts):
        for t in ts:
            object.__setattr__(layer, "scale", t)
        return layer([qq, vv, kk], mask=[qm, vm])

    try:
        gradcheck(fn, [q, v, k] + ([] if scale is None else [_np(scale).copy()]))
    finally:
        object.__setattr__(layer, "scale", scale)


def test_dense_attention_config_and_bad_inputs():
    for layer in (nn.Attention(use_scale=True, score_mode="concat", dropout=0.1),
                  nn.AdditiveAttention(use_scale=False)):  # fmt: skip
        _round_trip(layer)
    with pytest.raises(ValueError, match="score_mode"):
        nn.Attention(score_mode="general")
    with pytest.raises(ValueError, match="list"):
        nn.Attention()(dc.tensor(_rand(2, 3, 4, dtype=np.float32)))
    q = dc.tensor(_rand(2, 3, 4, dtype=np.float32))
    with pytest.raises(ValueError, match="features"):
        nn.Attention()([q, dc.tensor(_rand(2, 3, 5, dtype=np.float32))])
    # Luong attention over an encoder's states: the shape Keras gives
    assert nn.Attention().compute_output_shape([(None, 3, 4), (None, 6, 4)]) == (None, 3, 4)


# ------------------------------------------------------------------------------ positions
def test_positional_encoding_is_the_papers_sinusoid():
    pe = nn.PositionalEncoding()
    x = np.zeros((2, 50, 7), np.float32)
    y = _np(pe(x))
    pos, i = np.arange(50)[:, None], np.arange(7)[None, :]
    angle = pos / 10000 ** ((2 * (i // 2)) / 7)
    ref = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
    np.testing.assert_allclose(y[0], ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y[1], y[0])
    assert pe.count_params() == 0 and pe.supports_masking
    # added to the input, gradient passes straight through
    x = dc.tensor(_rand(1, 3, 4), requires_grad=True)
    pe(x).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), np.ones((1, 3, 4)))
    _round_trip(nn.PositionalEncoding(max_wavelength=500.0))


def test_position_embedding():
    dc.manual_seed(0)
    pe = nn.PositionEmbedding(sequence_length=10)
    x = dc.tensor(_rand(3, 6, 4, dtype=np.float32))
    y = pe(x)
    assert y.shape == (3, 6, 4) and pe.count_params() == 40
    np.testing.assert_array_equal(_np(y)[0], _np(pe.position_embeddings)[:6])
    np.testing.assert_array_equal(_np(pe(x, start_index=2))[1], _np(pe.position_embeddings)[2:8])
    (y * dc.tensor(np.ones((3, 6, 4), np.float32))).sum().backward()
    g = _np(pe.position_embeddings.grad)
    np.testing.assert_array_equal(g[:6], 3.0)
    np.testing.assert_array_equal(g[6:], 0.0)
    with pytest.raises(ValueError, match="sequence_length"):
        pe(dc.tensor(_rand(1, 11, 4, dtype=np.float32)))
    _round_trip(pe)
