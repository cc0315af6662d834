"""Keras masks: Embedding(mask_zero=True), propagation through Sequential and functional models,
consumers (GlobalAveragePooling1D, BatchNormalization, losses and metrics in fit/evaluate);
checked against NumPy float64 masked means and PyTorch."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as nn
import numpy as np
import pytest
from deepcore import optim
from deepcore.models import Input, Model, Sequential
from helpers import np_softmax, requires_torch


@pytest.fixture(autouse=True)
def _fresh():
    nn.reset_name_counters()
    dc.manual_seed(0)


# ---------------------------------------------------------------------- Embedding
def test_embedding_mask_zero():
    e = nn.Embedding(6, 3, mask_zero=True)
    idx = np.array([[4, 1, 0, 0], [0, 5, 2, 0]])
    out = e(dc.tensor(idx))
    m = e.compute_mask(idx)
    assert isinstance(m, dc.Tensor) and m.dtype == np.bool_
    np.testing.assert_array_equal(m.numpy(), idx != 0)
    np.testing.assert_array_equal(e.compute_mask(dc.tensor(idx)).numpy(), idx != 0)
    # index 0 is still a row of the table (input_dim = vocabulary + 1, as Keras)
    np.testing.assert_array_equal(out.detach().numpy(), e.embeddings.detach().numpy()[idx])
    assert e.supports_masking and e.get_config()["mask_zero"] is True
    again = nn.Embedding.from_config(e.get_config())
    assert again.mask_zero and again.compute_mask(idx) is not None
    plain = nn.Embedding(6, 3)
    assert plain.compute_mask(idx) is None and not plain.supports_masking
    with pytest.raises(IndexError, match=r"index out of range \[0, 6\)"):
        e(dc.tensor(np.array([[6, 0]])))
    with pytest.raises(IndexError, match="out of range"):
        e(dc.tensor(np.array([[-1, 2]])))
    with pytest.raises(TypeError, match="mask_zero must be True or False"):
        nn.Embedding(6, 3, mask_zero="yes")


# ---------------------------------------------------------------------- GlobalAveragePooling1D
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_1d_mask(data_format, keepdims):
    rng = np.random.default_rng(0)
    xl = rng.standard_normal((3, 5, 4))  # (batch, steps, features)
    mask = rng.random((3, 5)) > 0.4
    mask[0, :] = False  # a fully masked sequence averages to zeros
    mask[1, 2] = True
    ref = (xl * mask[..., None]).sum(1) / np.maximum(mask.sum(1), 1)[:, None]
    x = xl if data_format == "channels_last" else xl.transpose(0, 2, 1)
    layer = nn.GlobalAveragePooling1D(data_format=data_format, keepdims=keepdims, dtype="float64")
    xt = dc.tensor(x, dtype="float64", requires_grad=True)
    out = layer(xt, mask=dc.tensor(mask))
    got = out.detach().numpy()
    if keepdims:
        got = got[:, 0, :] if data_format == "channels_last" else got[:, :, 0]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    assert layer.compute_mask(x, mask) is None
    g = rng.standard_normal(out.shape)
    (out * dc.tensor(g)).sum().backward()
    g2 = g.reshape(3, 4)
    ref_grad = mask[..., None] * (g2 / np.maximum(mask.sum(1), 1)[:, None])[:, None, :]
    if data_format == "channels_first":
        ref_grad = ref_grad.transpose(0, 2, 1)
    np.testing.assert_allclose(xt.grad.numpy(), ref_grad, rtol=1e-12, atol=1e-15)
    # without a mask: the plain mean
    np.testing.assert_allclose(
        layer(dc.tensor(x)).detach().numpy().reshape(3, 4), xl.mean(1), rtol=1e-6
    )
    with pytest.raises(ValueError, match="mask of shape"):
        layer(dc.tensor(x), mask=np.ones((3, 4), bool))


def _bag_of_words(vocab=12, dim=5):
    return Sequential(
        [
            nn.Embedding(vocab, dim, mask_zero=True, input_shape=(6,)),
            nn.Dropout(0.0),
            nn.Activation("tanh"),
            nn.GlobalAveragePooling1D(),
            nn.Dense(3, activation="softmax"),
        ]
    )


def test_padding_does_not_change_outputs_or_gradients():
    rng = np.random.default_rng(1)
    x = np.array([[3, 7, 1, 0, 0, 0], [5, 0, 0, 0, 0, 0], [2, 9, 4, 8, 11, 6]])
    labels = np.array([0, 2, 1])
    model = _bag_of_words()
    p = model.predict(x, verbose=0)
    # the same sequences without their padding give the same outputs
    np.testing.assert_allclose(model.predict(x[:1, :3], verbose=0), p[:1], rtol=1e-6)
    np.testing.assert_allclose(model.predict(x[1:2, :1], verbose=0), p[1:2], rtol=1e-6)
    # NumPy reference of the whole model
    table = model.layers[0].embeddings.numpy().astype(np.float64)
    kernel, bias = (w.astype(np.float64) for w in model.layers[-1].get_weights())
    h = np.tanh(table[x])
    m = x != 0
    pooled = (h * m[..., None]).sum(1) / m.sum(1, keepdims=True)
    np.testing.assert_allclose(p, np_softmax(pooled @ kernel + bias), rtol=1e-5)

    def grads(model):
        model.zero_grad()
        out = model(x, training=True)
        loss = -(dc.ops.log(out)[np.arange(3), labels]).mean()
        loss.backward()
        return [w.grad.numpy().copy() for w in model.trainable_weights]

    before = grads(model)
    assert np.all(before[0][0] == 0)  # the padding row gets no gradient
    model.layers[0].embeddings.data[0] = rng.standard_normal(5) * 100  # whatever it holds
    np.testing.assert_array_equal(model.predict(x, verbose=0), p)
    for a, b in zip(before, grads(model)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_sequence_loss_and_metrics_are_masked():
    rng = np.random.default_rng(2)
    vocab, classes = 9, 4
    x = np.array([[1, 4, 2, 0, 0], [3, 3, 8, 7, 0], [5, 0, 0, 0, 0]])
    labels = rng.integers(0, classes, x.shape)
    labels[x == 0] = 3  # whatever the padded targets are, they must not count
    inp = Input(shape=(5,), dtype="int64")
    h = nn.Embedding(vocab, 6, mask_zero=True)(inp)
    h = nn.LayerNormalization()(h)
    out = nn.Dense(classes, activation="softmax")(h)
    model = Model(inp, out)
    np.testing.assert_array_equal(model.compute_mask(x), x != 0)
    model.compile(
        optimizer=optim.SGD(learning_rate=0.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy"],
    )
    p = model.predict(x, verbose=0).astype(np.float64)
    per = -np.log(np.take_along_axis(p, labels[..., None], -1)[..., 0])
    m = x != 0
    hit = p.argmax(-1) == labels
    ev = model.evaluate(x, labels, verbose=0, return_dict=True)
    assert ev["loss"] == pytest.approx((per * m).sum() / m.sum(), rel=1e-5)
    assert ev["accuracy"] == pytest.approx(hit[m].mean())
    # sample weights and the mask together
    w = np.array([2.0, 0.5, 1.0])
    ev = model.evaluate(x, labels, sample_weight=w, verbose=0, return_dict=True)
    assert ev["loss"] == pytest.approx((per * m * w[:, None]).sum() / m.sum(), rel=1e-5)
    assert ev["accuracy"] == pytest.approx(hit[m].mean())  # metrics ignore the weights
    wm = m * w[:, None]
    assert ev["weighted_accuracy"] == pytest.approx((hit * wm).sum() / wm.sum())
    h = model.fit(x, labels, batch_size=3, epochs=1, verbose=0).history
    assert h["loss"][0] == pytest.approx((per * m).sum() / m.sum(), rel=1e-5)


@requires_torch
def test_masked_sgd_step_matches_torch():
    import torch

    rng = np.random.default_rng(3)
    vocab, dim, classes = 7, 4, 3
    x = np.array([[1, 2, 0, 0], [6, 5, 4, 0], [3, 0, 0, 0], [2, 2, 2, 2]])
    labels = rng.integers(0, classes, x.shape)
    model = Sequential(
        [
            nn.Embedding(vocab, dim, mask_zero=True, input_shape=(4,)),
            nn.Dense(classes, activation="softmax"),
        ]
    )
    table, (kernel, bias) = model.layers[0].get_weights()[0], model.layers[1].get_weights()
    lr = 0.7
    model.compile(optimizer=optim.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy")
    model.fit(x, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)

    te = torch.tensor(table.astype(np.float64), requires_grad=True)
    tk = torch.tensor(kernel.astype(np.float64), requires_grad=True)
    tb = torch.tensor(bias.astype(np.float64), requires_grad=True)
    logits = te[torch.tensor(x)] @ tk + tb
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, classes), torch.tensor(labels).reshape(-1), reduction="none"
    )
    mask = torch.tensor(x != 0, dtype=torch.float64).reshape(-1)
    ((ce * mask).sum() / (mask.sum() + 1e-7)).backward()  # Keras: over the unmasked steps
    with torch.no_grad():
        ref = [te - lr * te.grad, tk - lr * tk.grad, tb - lr * tb.grad]
    got = [model.layers[0].get_weights()[0], *model.layers[1].get_weights()]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[0][0], table[0])  # the padding row never moves


def test_mask_propagation_rules():
    x = np.array([[2, 3, 0], [1, 0, 0]])
    mask = x != 0
    emb = nn.Embedding(5, 4, mask_zero=True, input_shape=(3,))
    passing = [
        nn.Dense(4),
        nn.Dropout(0.5),
        nn.Activation("relu"),
        nn.ReLU(),
        nn.LeakyReLU(),
        nn.ELU(),
        nn.Softmax(),
        nn.PReLU(),
        nn.LayerNormalization(),
        nn.BatchNormalization(),
        nn.TimeDistributed(nn.Dense(2)),
    ]
    for layer in passing:
        nn.reset_name_counters()
        model = Sequential([nn.Embedding(5, 4, mask_zero=True, input_shape=(3,)), layer])
        np.testing.assert_array_equal(model.compute_mask(x), mask, err_msg=type(layer).__name__)
    for layer in (nn.Flatten(), nn.Reshape((12,)), nn.GlobalMaxPooling1D()):
        model = Sequential([nn.Embedding(5, 4, mask_zero=True, input_shape=(3,)), layer])
        with pytest.warns(UserWarning, match="does not support masking"):
            assert model.compute_mask(x) is None
    assert Sequential([emb, nn.GlobalAveragePooling1D()]).compute_mask(x) is None
    # a layer whose call takes no mask refuses one given explicitly (as Keras)
    with pytest.raises(TypeError, match="mask"):
        nn.Flatten()(dc.tensor(np.ones((2, 3, 4))), mask=mask)


def test_functional_merges_and_nested_models():
    a_idx = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    b_idx = np.array([[1, 0, 4, 0], [3, 3, 3, 0]])
    ia, ib = Input(shape=(4,), dtype="int64"), Input(shape=(4,), dtype="int64")
    ea = nn.Embedding(5, 3, mask_zero=True)(ia)
    eb = nn.Embedding(5, 3, mask_zero=True)(ib)
    plain = nn.Embedding(5, 3)(ib)  # no mask
    added = nn.Add()([ea, eb])
    cat = nn.Concatenate()([ea, plain])
    cat2 = nn.Concatenate()([ea, eb])
    inner = Sequential([nn.Dense(3, input_shape=(4, 3)), nn.Activation("tanh")])
    nested = inner(added)
    model = Model([ia, ib], [added, cat, cat2, nested])
    m_add, m_cat, m_cat2, m_nested = model.compute_mask([a_idx, b_idx])
    np.testing.assert_array_equal(m_add, (a_idx != 0) & (b_idx != 0))
    np.testing.assert_array_equal(m_cat, np.ones((2, 4), bool))  # an unmasked input: all valid
    np.testing.assert_array_equal(m_cat2, (a_idx != 0) | (b_idx != 0))
    np.testing.assert_array_equal(m_nested, (a_idx != 0) & (b_idx != 0))
    # a pooled nested model consumes the mask inside
    pool = Sequential([nn.GlobalAveragePooling1D(input_shape=(4, 3))])
    pm = Model([ia, ib], pool(ea))
    out = pm.predict([a_idx, b_idx], verbose=0)
    table = pm.layers[1].embeddings.numpy()  # layers[0] is the InputLayer, as in Keras
    m = a_idx != 0
    ref = (table[a_idx] * m[..., None]).sum(1) / m.sum(1, keepdims=True)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@requires_torch
def test_batch_norm_masked_moments():
    import torch

    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 2)) * 3 + 1
    mask = rng.random((3, 5)) > 0.3
    bn = nn.BatchNormalization(momentum=0.9, dtype="float64")
    xt = dc.tensor(x, dtype="float64", requires_grad=True)
    y = bn(xt, training=True, mask=dc.tensor(mask))
    sel = x[mask]  # (valid, channels)
    mean, var = sel.mean(0), sel.var(0)
    np.testing.assert_allclose(y.detach().numpy(), (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-10)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-10)
    # gradients equal PyTorch's batch norm on the valid rows (masked rows: their own path)
    g = rng.standard_normal(x.shape) * mask[..., None]
    (y * dc.tensor(g)).sum().backward()
    ts = torch.tensor(sel, requires_grad=True)
    ty = torch.nn.functional.batch_norm(ts, None, None, training=True, eps=1e-3)
    (ty * torch.tensor(g[mask])).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy()[mask], ts.grad.numpy(), rtol=1e-8, atol=1e-12)
    # inference ignores the mask (moving statistics)
    yi = bn(dc.tensor(x, dtype="float64"), training=False, mask=dc.tensor(mask))
    ref = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(yi.detach().numpy(), ref, rtol=1e-10)
