"""sample_weight / class_weight in fit, evaluate and the batch methods; weighted losses and
weighted_metrics; checked against NumPy float64 references and PyTorch."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import losses, metrics, optim
from deepcore.models import Input, Model, Sequential
from helpers import np_softmax, requires_torch


@pytest.fixture(autouse=True)
def _fresh():
    layers.reset_name_counters()
    dc.manual_seed(0)


def _data(n=12, dim=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    labels = rng.integers(0, classes, n)
    w = rng.uniform(0.1, 3.0, n)
    return x, labels, np.eye(classes, dtype=np.float32)[labels], w


# ---------------------------------------------------------------------- losses
def _per_sample_refs(rng):
    """(loss object, y_true, y_pred, per-sample float64 reference) for every built-in loss."""
    n, c = 6, 4
    logits = rng.standard_normal((n, c))
    probs = np_softmax(logits)
    labels = rng.integers(0, c, n)
    onehot = np.eye(c)[labels]
    reg_p, reg_t = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    bin_p = rng.uniform(0.05, 0.95, (n, 2))
    bin_t = rng.integers(0, 2, (n, 2)).astype(np.float64)
    bce = -(bin_t * np.log(bin_p) + (1 - bin_t) * np.log(1 - bin_p))
    z = rng.standard_normal((n, 2)) * 3
    sz = 1 / (1 + np.exp(-z))
    bce_z = -(bin_t * np.log(sz) + (1 - bin_t) * np.log(1 - sz))
    pm = 2 * bin_t - 1
    return [
        (losses.MeanSquaredError(), reg_t, reg_p, ((reg_p - reg_t) ** 2).mean(-1)),
        (losses.MeanAbsoluteError(), reg_t, reg_p, np.abs(reg_p - reg_t).mean(-1)),
        (losses.CategoricalCrossentropy(), onehot, probs, -np.log(probs[np.arange(n), labels])),
        (
            losses.CategoricalCrossentropy(from_logits=True),
            onehot,
            logits,
            -np.log(probs[np.arange(n), labels]),
        ),
        (
            losses.SparseCategoricalCrossentropy(),
            labels,
            probs,
            -np.log(probs[np.arange(n), labels]),
        ),
        (
            losses.SparseCategoricalCrossentropy(from_logits=True),
            labels[:, None],
            logits,
            -np.log(probs[np.arange(n), labels]),
        ),
        (losses.BinaryCrossentropy(), bin_t, bin_p, bce.mean(-1)),
        (losses.BinaryCrossentropy(from_logits=True), bin_t, z, bce_z.mean(-1)),
        (losses.Hinge(), bin_t, z, np.maximum(0, 1 - pm * z).mean(-1)),
    ]


def test_weighted_loss_values_match_numpy():
    rng = np.random.default_rng(1)
    for loss, yt, yp, per in _per_sample_refs(rng):
        w = rng.uniform(0.0, 2.0, len(per))
        pred = dc.tensor(yp, dtype="float64")
        got = loss(yt, pred, sample_weight=w).item()
        # Keras's sum_over_batch_size: weighted sum / number of samples (not sum of weights)
        assert got == pytest.approx(np.sum(w * per) / len(per), rel=1e-9), loss
        assert loss(yt, pred).item() == pytest.approx(per.mean(), rel=1e-9), loss
        np.testing.assert_allclose(loss.per_sample(yt, pred).numpy(), per, rtol=1e-9)
        # weights of one leave the plain mean
        assert loss(yt, pred, sample_weight=np.ones(len(per))).item() == pytest.approx(
            per.mean(), rel=1e-9
        )


@requires_torch
def test_weighted_loss_gradient_matches_torch():
    import torch

    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, 5)
    w = rng.uniform(0.0, 2.0, 5)
    z = dc.tensor(logits, dtype="float64", requires_grad=True)
    losses.SparseCategoricalCrossentropy(from_logits=True)(labels, z, sample_weight=w).backward()
    tz = torch.tensor(logits, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(labels), reduction="none")
    (tl * torch.tensor(w)).sum().div(5).backward()
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_temporal_weights_and_masks():
    rng = np.random.default_rng(3)
    n, t, c = 3, 5, 4
    logits = rng.standard_normal((n, t, c))
    labels = rng.integers(0, c, (n, t))
    per = -np.log(np_softmax(logits)[np.arange(n)[:, None], np.arange(t), labels])
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    z = dc.tensor(logits, dtype="float64")
    w = rng.uniform(0.5, 2.0, n)
    assert loss(labels, z, sample_weight=w).item() == pytest.approx(
        np.sum(w[:, None] * per) / per.size, rel=1e-9
    )
    w2 = rng.uniform(0.5, 2.0, (n, t))
    assert loss(labels, z, sample_weight=w2).item() == pytest.approx(
        np.sum(w2 * per) / per.size, rel=1e-9
    )
    mask = rng.random((n, t)) > 0.4
    # a mask: the mean over the unmasked entries (Keras: sum / (valid + epsilon))
    ref = np.sum(per * mask) / (mask.sum() + 1e-7)
    assert loss(labels, z, mask=mask).item() == pytest.approx(ref, rel=1e-9)
    ref = np.sum(per * mask * w[:, None]) / (mask.sum() + 1e-7)
    assert loss(labels, z, sample_weight=w, mask=mask).item() == pytest.approx(ref, rel=1e-9)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(4,\)"):
        loss(labels, z, sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="does not match the per-sample losses"):
        loss(labels, z, sample_weight=np.ones((n, t + 1)))


def test_custom_loss_needs_per_sample_values_for_weights():
    def scalar_loss(y_true, y_pred):
        return ((y_pred - dc.tensor(y_true)) ** 2).mean()

    def per_sample_loss(y_true, y_pred):
        return ((y_pred - dc.tensor(y_true)) ** 2).mean(axis=-1)

    yp = dc.tensor(np.arange(6.0).reshape(3, 2))
    yt = np.zeros((3, 2), np.float32)
    w = np.array([1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="per-sample losses"):
        losses.get(scalar_loss)(yt, yp, sample_weight=w)
    per = (np.arange(6.0).reshape(3, 2) ** 2).mean(-1)
    lf = losses.get(per_sample_loss)
    assert lf(yt, yp).item() == pytest.approx(per.mean())  # Keras: per-sample values averaged
    assert lf(yt, yp, sample_weight=w).item() == pytest.approx(np.sum(w * per) / 3)


# ---------------------------------------------------------------------- metrics
def test_weighted_metric_values():
    rng = np.random.default_rng(4)
    p = rng.standard_normal((10, 3))
    labels = rng.integers(0, 3, 10)
    w = rng.uniform(0, 2, 10)
    hit = (p.argmax(-1) == labels).astype(np.float64)
    for m in (metrics.SparseCategoricalAccuracy(), metrics.get("accuracy")):
        m.update_state(labels[:4], p[:4], sample_weight=w[:4])
        m.update_state(labels[4:], p[4:], sample_weight=w[4:])
        assert m.result() == pytest.approx(np.sum(w * hit) / np.sum(w))
    mse = metrics.MeanSquaredError()
    yt = rng.standard_normal((10, 2))
    assert mse(yt, p[:, :2], sample_weight=w) == pytest.approx(
        np.sum(w * ((p[:, :2] - yt) ** 2).mean(-1)) / w.sum()
    )
    mean = metrics.Mean()
    mean.update_state(np.array([1.0, 2.0, 4.0]), sample_weight=np.array([1.0, 0.0, 3.0]))
    assert mean.result() == pytest.approx(13.0 / 4.0)
    with pytest.raises(ValueError, match="does not match the metric values"):
        mse(yt, p[:, :2], sample_weight=np.ones(3))


# ---------------------------------------------------------------------- fit / evaluate
def _softmax_regression(dim=4, classes=3):
    return Sequential([layers.Dense(classes, activation="softmax", input_shape=(dim,))])


def test_one_sgd_step_with_weights_matches_numpy():
    x, labels, y, w = _data()
    model = _softmax_regression()
    W0, b0 = (a.astype(np.float64) for a in model.get_weights())
    lr = 0.5
    model.compile(optimizer=optim.SGD(learning_rate=lr), loss="categorical_crossentropy")
    model.fit(x, y, sample_weight=w, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    # reference: d/dz of sum_i w_i CE_i / n is w_i (p_i - y_i) / n
    p = np_softmax(x.astype(np.float64) @ W0 + b0)
    g = (p - y) * (w / len(x))[:, None]
    W1, b1 = model.get_weights()
    np.testing.assert_allclose(W1, W0 - lr * x.T @ g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b0 - lr * g.sum(0), rtol=1e-5, atol=1e-6)


def test_fit_with_weights_equals_explicit_weighted_loss():
    """A step with sample_weight equals a step on a custom loss that applies the weights."""
    x, labels, y, w = _data(n=16)
    a, b = _softmax_regression(), _softmax_regression()
    b.set_weights(a.get_weights())
    a.compile(optimizer=optim.SGD(learning_rate=0.3), loss="sparse_categorical_crossentropy")
    a.fit(x, labels, sample_weight=w, batch_size=16, epochs=1, shuffle=False, verbose=0)
    wt = dc.tensor(w.astype(np.float32))

    def explicit(y_true, y_pred):
        per = losses.sparse_categorical_crossentropy(y_true, y_pred, reduction="none")
        return (per * wt).sum() * (1.0 / 16)

    b.compile(optimizer=optim.SGD(learning_rate=0.3), loss=explicit)
    b.fit(x, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_fit_and_evaluate_log_weighted_loss_and_metrics():
    x, labels, y, w = _data(n=30, seed=5)
    model = _softmax_regression()
    model.compile(
        optimizer=optim.SGD(learning_rate=0.0),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy", "mse"],
    )
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy", "mse"]
    p = model.predict(x, verbose=0).astype(np.float64)
    per = -np.log(p[np.arange(30), labels])
    hit = (p.argmax(-1) == labels).astype(np.float64)
    sq = ((p - y) ** 2).mean(-1)
    # several batches: the epoch loss is the batch-size weighted mean of the batch losses
    h = model.fit(x, y, sample_weight=w, batch_size=7, shuffle=False, verbose=0).history
    batches = [slice(i, i + 7) for i in range(0, 30, 7)]
    ref_loss = sum(np.sum(w[s] * per[s]) for s in batches) / 30
    assert h["loss"][0] == pytest.approx(ref_loss, rel=1e-5)
    assert h["accuracy"][0] == pytest.approx(hit.mean())
    assert h["weighted_accuracy"][0] == pytest.approx(np.sum(w * hit) / w.sum())
    assert h["mse"][0] == pytest.approx(np.sum(w * sq) / w.sum(), rel=1e-5)
    ev = model.evaluate(x, y, sample_weight=w, batch_size=30, verbose=0, return_dict=True)
    assert ev["loss"] == pytest.approx(np.sum(w * per) / 30, rel=1e-5)
    assert ev["weighted_accuracy"] == pytest.approx(np.sum(w * hit) / w.sum())
    ev = model.evaluate(x, y, verbose=0, return_dict=True)  # no weights: plain means
    assert ev["loss"] == pytest.approx(per.mean(), rel=1e-5)
    assert ev["weighted_accuracy"] == pytest.approx(hit.mean())
    tb = model.test_on_batch(x, y, sample_weight=w, return_dict=True)
    assert tb["loss"] == pytest.approx(np.sum(w * per) / 30, rel=1e-5)


def test_validation_data_with_weights_and_split():
    x, labels, y, w = _data(n=40, seed=6)
    model = _softmax_regression()
    model.compile(
        optimizer=optim.SGD(learning_rate=0.0),
        loss="categorical_crossentropy",
        weighted_metrics=["accuracy"],
    )
    p = model.predict(x, verbose=0).astype(np.float64)
    per = -np.log(p[np.arange(40), labels])
    hit = (p.argmax(-1) == labels).astype(np.float64)
    h = model.fit(
        x[:30], y[:30], validation_data=(x[30:], y[30:], w[30:]), epochs=1, verbose=0
    ).history
    assert h["val_loss"][0] == pytest.approx(np.sum(w[30:] * per[30:]) / 10, rel=1e-5)
    assert h["val_accuracy"][0] == pytest.approx(np.sum(w[30:] * hit[30:]) / w[30:].sum())
    assert h["accuracy"][0] == pytest.approx(hit[:30].mean())  # no training weights
    # validation_split takes the last samples' weights with them
    h = model.fit(x, y, sample_weight=w, validation_split=0.25, epochs=1, verbose=0).history
    assert h["val_loss"][0] == pytest.approx(np.sum(w[30:] * per[30:]) / 10, rel=1e-5)
    assert h["loss"][0] == pytest.approx(np.sum(w[:30] * per[:30]) / 30, rel=1e-5)
    with pytest.raises(ValueError, match=r"validation sample_weight must hold one weight"):
        model.fit(x[:30], y[:30], validation_data=(x[30:], y[30:], w[:5]), verbose=0)


@pytest.mark.parametrize("kind", ["sparse", "sparse_column", "onehot"])
def test_class_weight_equals_sample_weight(kind):
    x, labels, y, _ = _data(n=24, seed=7)
    cw = {0: 0.5, 2: 3.0}  # class 1 not listed: weight 1 (Keras)
    target = {"sparse": labels, "sparse_column": labels[:, None], "onehot": y}[kind]
    loss = "categorical_crossentropy" if kind == "onehot" else "sparse_categorical_crossentropy"
    a, b = _softmax_regression(), _softmax_regression()
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.compile(optimizer=optim.SGD(learning_rate=0.2), loss=loss, weighted_metrics=["acc"])
    sw = np.array([cw.get(k, 1.0) for k in labels])
    ha = a.fit(x, target, class_weight=cw, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(x, target, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert ha.history.keys() == hb.history.keys()
    for key in ha.history:  # (newer pytest.approx refuses dicts of lists)
        assert ha.history[key] == pytest.approx(hb.history[key]), key
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6)
    assert a.train_on_batch(x, target, class_weight=cw) == pytest.approx(
        b.train_on_batch(x, target, sample_weight=sw)
    )


def test_class_weight_binary_and_mse():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((20, 3)).astype(np.float32)
    t = rng.integers(0, 2, (20, 1)).astype(np.float32)
    model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile(optimizer=optim.SGD(learning_rate=0.0), loss="mse")
    p = model.predict(x, verbose=0).astype(np.float64)
    per = ((p - t) ** 2)[:, 0]
    w = np.where(t[:, 0] == 1, 4.0, 1.0)
    h = model.fit(x, t, class_weight={1: 4.0}, batch_size=20, verbose=0).history
    assert h["loss"][0] == pytest.approx(np.sum(w * per) / 20, rel=1e-5)


def test_multi_output_sample_weights():
    x, labels, y, w = _data(n=10, seed=9)
    inp = Input(shape=(4,))
    a = layers.Dense(3, activation="softmax", name="cls")(inp)
    b = layers.Dense(2, name="reg")(inp)
    model = Model(inp, [a, b])
    target = np.random.default_rng(9).standard_normal((10, 2)).astype(np.float32)
    model.compile(
        optimizer=optim.SGD(learning_rate=0.0),
        loss=["categorical_crossentropy", "mse"],
        metrics=["mae"],
        weighted_metrics=["mae"],
    )
    assert model.metrics_names == [
        "loss",
        "cls_loss",
        "reg_loss",
        "cls_mae",
        "reg_mae",
        "cls_weighted_mae",
        "reg_weighted_mae",
    ]
    pa, pb = (o.astype(np.float64) for o in model.predict(x, verbose=0))
    ce = -np.log(pa[np.arange(10), labels])
    sq = ((pb - target) ** 2).mean(-1)
    # one array weights every output
    ev = model.evaluate(x, [y, target], sample_weight=w, verbose=0, return_dict=True)
    assert ev["cls_loss"] == pytest.approx(np.sum(w * ce) / 10, rel=1e-5)
    assert ev["reg_loss"] == pytest.approx(np.sum(w * sq) / 10, rel=1e-5)
    assert ev["loss"] == pytest.approx(ev["cls_loss"] + ev["reg_loss"], rel=1e-6)
    # a dict weights each output separately (None: unweighted)
    ev = model.evaluate(x, [y, target], sample_weight={"reg": w}, verbose=0, return_dict=True)
    assert ev["cls_loss"] == pytest.approx(ce.mean(), rel=1e-5)
    assert ev["reg_loss"] == pytest.approx(np.sum(w * sq) / 10, rel=1e-5)
    mae = np.abs(pb - target).mean(-1)
    assert ev["reg_weighted_mae"] == pytest.approx(np.sum(w * mae) / w.sum(), rel=1e-5)
    assert ev["reg_mae"] == pytest.approx(mae.mean(), rel=1e-5)
    with pytest.raises(ValueError, match="single output"):
        model.fit(x, [y, target], class_weight={0: 2.0}, verbose=0)


def test_bad_weights():
    x, labels, y, w = _data(n=12)
    model = _softmax_regression()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"one weight per sample: expected shape \(12,\)"):
        model.fit(x, y, sample_weight=w[:5], verbose=0)
    with pytest.raises(ValueError, match="one weight per sample"):
        model.evaluate(x, y, sample_weight=2.0, verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        model.fit(x, y, sample_weight=np.array(["a"] * 12), verbose=0)
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(x, y, sample_weight=np.full(12, np.nan), verbose=0)
    with pytest.raises(ValueError, match="does not match the per-sample losses"):
        model.fit(x, y, sample_weight=np.ones((12, 3)), verbose=0)
    with pytest.raises(ValueError, match="both class_weight and sample_weight"):
        model.fit(x, y, sample_weight=w, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="non-negative class ids"):
        model.fit(x, y, class_weight={-1: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="non-negative class ids"):
        model.fit(x, y, class_weight={"a": 1.0}, verbose=0)
    with pytest.raises(TypeError, match="must be a number"):
        model.fit(x, y, class_weight={0: "heavy"}, verbose=0)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="validation_data must be a tuple"):
        model.fit(x, y, validation_data=(x,), verbose=0)
