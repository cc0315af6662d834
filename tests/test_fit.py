"""compile / fit / evaluate / predict, losses and metrics, the progress bar."""

from __future__ import annotations

import io
import re

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import losses, metrics, optim
from deepcore.models import Input, Model, Sequential
from deepcore.models.callbacks import Progbar


@pytest.fixture(autouse=True)
def _fresh():
    layers.reset_name_counters()
    dc.manual_seed(0)


def blobs(n=240, classes=3, dim=4, seed=0):
    """Well separated Gaussian blobs: a problem a small MLP solves in a few epochs."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, dim)) * 3.0
    labels = rng.integers(0, classes, n)
    x = (centers[labels] + 0.5 * rng.standard_normal((n, dim))).astype(np.float32)
    return x, labels, np.eye(classes, dtype=np.float32)[labels]


def mlp(classes=3, dim=4, activation="softmax"):
    return Sequential(
        [
            layers.Dense(16, activation="relu", input_shape=(dim,)),
            layers.Dense(classes, activation=activation),
        ]
    )


def test_fit_reduces_loss_and_reaches_high_accuracy():
    x, _, y = blobs()
    model = mlp()
    model.compile(
        optimizer=optim.Adam(learning_rate=0.02),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    hist = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    h = hist.history
    assert list(h) == ["accuracy", "loss"]
    assert len(h["loss"]) == 8
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["accuracy"][-1] > 0.95
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.95 and loss < h["loss"][0]
    p = model.predict(x, verbose=0)
    assert p.shape == (240, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(p.argmax(1) == y.argmax(1)) == pytest.approx(acc)


def test_sparse_labels_and_string_optimizer():
    x, labels, _ = blobs()
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, labels, batch_size=4, epochs=8, verbose=0).history
    assert h["loss"][-1] < h["loss"][0]
    assert isinstance(model.metrics_names, list) and model.metrics_names == ["loss", "accuracy"]
    assert model.evaluate(x, labels, verbose=0)[1] > 0.8


def test_evaluate_returns_scalar_without_metrics_and_dict_on_request():
    x, _, y = blobs(n=40)
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    v = model.evaluate(x, y, verbose=0)
    assert isinstance(v, float)
    ref = np.mean((model.predict(x, verbose=0) - y) ** 2)
    assert v == pytest.approx(ref, rel=1e-5)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"loss": pytest.approx(v)}


def test_validation_data_and_split_are_logged():
    x, _, y = blobs(n=120)
    model = mlp()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_data=(x[:30], y[:30]))
    assert sorted(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # the validation figures are evaluate() on the validation set after each epoch
    assert h.history["val_loss"][-1] == pytest.approx(
        model.evaluate(x[:30], y[:30], verbose=0)[0], rel=1e-5
    )
    h2 = model.fit(x, y, epochs=1, batch_size=32, verbose=0, validation_split=0.25)
    assert "val_accuracy" in h2.history
    assert h2.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[90:], y[90:], verbose=0)[0], rel=1e-5
    )
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)


def test_fused_softmax_cross_entropy_equals_unfused_math():
    x, labels, y = blobs(n=50)
    for loss_name, target in (
        ("categorical_crossentropy", y),
        ("sparse_categorical_crossentropy", labels),
    ):
        fused = mlp()
        fused.compile(optimizer="sgd", loss=loss_name)
        plain = mlp()
        plain.set_weights(fused.get_weights())
        plain.compile(optimizer="sgd", loss=loss_name, fuse_softmax_cross_entropy=False)
        assert fused._resolve_compile().fused == [True]
        assert plain._resolve_compile().fused == [False]
        # loss values
        p = plain.predict(x, verbose=0).astype(np.float64)
        ref = -np.mean(np.log(np.clip(p[np.arange(50), labels], 1e-7, 1 - 1e-7)))
        assert fused.evaluate(x, target, verbose=0) == pytest.approx(ref, rel=1e-5)
        assert plain.evaluate(x, target, verbose=0) == pytest.approx(ref, rel=1e-5)
        # gradients: one SGD step each leaves the same weights
        fused.train_on_batch(x, target)
        plain.train_on_batch(x, target)
        for a, b in zip(fused.get_weights(), plain.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fused_cross_entropy_is_stable_for_huge_logits():
    """Logits of ±1e4: the fused loss is the exact -log softmax; unfused, the probability
    clipping at 1e-7 caps each wrong sample's loss at -log(1e-7) = 16.1."""
    model = Sequential([layers.Dense(2, activation="softmax", use_bias=False, input_shape=(1,))])
    model.layers[0].kernel.data[...] = np.array([[1e4, -1e4]], np.float32)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.array([[1.0], [-1.0]], np.float32)
    labels = np.array([1, 1])  # the first sample is wrong by a margin of 2e4
    got = model.evaluate(x, labels, verbose=0)
    assert got == pytest.approx(2e4 / 2, rel=1e-6)
    plain = Sequential([layers.Dense(2, activation="softmax", use_bias=False, input_shape=(1,))])
    plain.set_weights(model.get_weights())
    plain.compile(
        optimizer="sgd", loss="sparse_categorical_crossentropy", fuse_softmax_cross_entropy=False
    )
    assert plain.evaluate(x, labels, verbose=0) == pytest.approx(-np.log(1e-7) / 2, rel=1e-4)


def test_losses_match_numpy():
    rng = np.random.default_rng(0)
    p = dc.tensor(rng.dirichlet(np.ones(4), size=6).astype(np.float64))
    t = np.eye(4)[rng.integers(0, 4, 6)]
    ref = -np.mean(np.sum(t * np.log(p.numpy()), axis=1))
    assert losses.get("categorical_crossentropy")(t, p).item() == pytest.approx(ref)
    z = dc.tensor(rng.standard_normal((6, 4)))
    lsm = z.numpy() - np.log(np.exp(z.numpy()).sum(1, keepdims=True))
    assert losses.CategoricalCrossentropy(from_logits=True)(t, z).item() == pytest.approx(
        -np.mean(np.sum(t * lsm, 1))
    )
    assert losses.get("mse")(t, p).item() == pytest.approx(np.mean((t - p.numpy()) ** 2))
    b = dc.tensor(rng.uniform(0.05, 0.95, (6, 1)))
    tb = rng.integers(0, 2, (6, 1)).astype(np.float64)
    bce = -np.mean(tb * np.log(b.numpy()) + (1 - tb) * np.log(1 - b.numpy()))
    assert losses.get("binary_crossentropy")(tb, b).item() == pytest.approx(bce)
    zb = dc.tensor(rng.standard_normal((6, 1)) * 20)  # large logits stay finite
    sig = 1 / (1 + np.exp(-zb.numpy()))
    ref_logit = -np.mean(tb * np.log(sig + 1e-300) + (1 - tb) * np.log(1 - sig + 1e-300))
    got = losses.BinaryCrossentropy(from_logits=True)(tb, zb).item()
    assert np.isfinite(got) and got == pytest.approx(ref_logit, rel=1e-6)
    s = dc.tensor(rng.standard_normal((6, 1)))
    assert losses.get("hinge")(tb, s).item() == pytest.approx(
        np.mean(np.maximum(0, 1 - (2 * tb - 1) * s.numpy()))
    )
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get("nope")


def test_accuracy_resolution():
    y_cat = np.eye(3)[[0, 1, 2, 1]]
    pred = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    assert metrics.get("accuracy")(y_cat, pred) == pytest.approx(0.5)  # categorical
    assert metrics.get("accuracy")(np.array([0, 1, 2, 1]), pred) == pytest.approx(0.5)  # sparse
    yb = np.array([[1], [0], [1], [0]])
    pb = np.array([[0.9], [0.2], [0.4], [0.6]])
    assert metrics.get("accuracy")(yb, pb) == pytest.approx(0.5)  # binary
    sparse_loss = losses.get("sparse_categorical_crossentropy")
    acc = metrics.get("acc", loss=sparse_loss)  # the loss says the targets are class ids
    acc.update_state(np.array([0, 1, 2, 1]), pred)
    assert float(acc.result()) == pytest.approx(0.5) and acc.argmax_only
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("nope")


def test_binary_classifier_and_hinge():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    y = (np.abs(x[:, 0] - x[:, 1]) > 1).astype(np.float32)[:, None]  # the two-car problem
    model = Sequential(
        [
            layers.Dense(16, activation="tanh", input_shape=(2,)),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=optim.Adam(learning_rate=0.03), loss="binary_crossentropy", metrics=["accuracy"]
    )
    h = model.fit(x, y, epochs=30, batch_size=20, verbose=0).history
    assert h["accuracy"][-1] > 0.9
    lin = Sequential([layers.Dense(1, input_shape=(2,))])
    lin.compile(optimizer="sgd", loss="hinge")
    h = lin.fit(x, (x[:, :1] > 0).astype(np.float32), epochs=5, verbose=0).history
    assert h["loss"][-1] < h["loss"][0]


def test_multi_output_with_loss_weights():
    x, labels, y = blobs(n=120)
    inp = Input(shape=(4,))
    h = layers.Dense(16, activation="relu")(inp)
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    model = Model(inp, [cls, reg])
    target = x.sum(axis=1, keepdims=True)
    model.compile(
        optimizer=optim.Adam(learning_rate=0.01),
        loss={"cls": "categorical_crossentropy", "reg": "mse"},
        loss_weights={"cls": 1.0, "reg": 0.3},
        metrics={"cls": ["accuracy"]},
    )
    hist = model.fit(x, [y, target], epochs=4, batch_size=16, verbose=0).history
    assert sorted(hist) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]
    for e in range(4):  # the total is the weighted sum of the per-output losses
        assert hist["loss"][e] == pytest.approx(
            hist["cls_loss"][e] + 0.3 * hist["reg_loss"][e], rel=1e-4
        )
    total, cls_loss, reg_loss, acc = model.evaluate(x, [y, target], verbose=0)
    assert total == pytest.approx(cls_loss + 0.3 * reg_loss, rel=1e-5)
    p_cls, p_reg = model.predict(x, verbose=0)
    assert acc == pytest.approx(np.mean(p_cls.argmax(1) == labels))
    assert reg_loss == pytest.approx(np.mean((p_reg - target) ** 2), rel=1e-4)


def test_functional_residual_convnet_trains():
    rng = np.random.default_rng(0)
    n = 64
    labels = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 8, 8, 1)).astype(np.float32) * 0.3
    x[labels == 1, 2:6, 2:6, 0] += 1.0  # class 1 has a bright square
    inp = Input(shape=(8, 8, 1))
    h = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    r = layers.Conv2D(4, 3, padding="same")(h)
    h = layers.Activation("relu")(layers.Add()([h, r]))
    out = layers.Dense(2, activation="softmax")(layers.Flatten()(layers.MaxPooling2D()(h)))
    model = Model(inp, out)
    model.compile(
        optimizer=optim.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    h = model.fit(x, labels, epochs=6, batch_size=16, verbose=0).history
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["accuracy"][-1] > 0.9


def test_shuffle_uses_deepcore_rng_and_is_reproducible():
    x, _, y = blobs(n=64)

    def run():
        dc.manual_seed(3)
        layers.reset_name_counters()
        m = mlp()
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
        return m.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"]

    assert run() == run()


def test_train_on_batch_and_class_weight():
    x, labels, y = blobs(n=60)
    model = mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    before = model.test_on_batch(x, y)
    # class_weight: a weighted loss equals the hand-weighted mean of per-sample losses
    w = {0: 2.0, 1: 0.5, 2: 1.0}
    m2 = mlp()
    m2.set_weights(model.get_weights())
    m2.compile(optimizer=optim.SGD(lr=0.0), loss="categorical_crossentropy")
    p = model.predict(x, verbose=0).astype(np.float64)
    per = -np.log(p[np.arange(60), labels])
    ref = np.mean(per * np.array([w[k] for k in labels]))
    got = m2.fit(x, y, batch_size=60, epochs=1, class_weight=w, verbose=0, shuffle=False)
    assert got.history["loss"][0] == pytest.approx(ref, rel=1e-5)
    assert before[0] == pytest.approx(np.mean(per), rel=1e-5)


def test_fit_argument_errors():
    x, _, y = blobs(n=20)
    model = mlp()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y, verbose=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:10], verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=5)
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile(optimizer="sgd", loss="bogus")
        model.fit(x, y, verbose=0)


# ---------------------------------------------------------------------- progress bar
BAR_LINE = re.compile(
    r"^(\d+)/(\d+) ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d+\.\d{4}"
    r"( - val_accuracy: \d\.\d{4} - val_loss: \d+\.\d{4})?$"
)


def test_progress_bar_not_a_terminal_prints_one_line_per_epoch(capsys):
    x, _, y = blobs(n=100)
    model = mlp()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=32, verbose=1, validation_data=(x[:20], y[:20]))
    lines = capsys.readouterr().out.strip().split("\n")
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    for line in (lines[1], lines[3]):
        m = BAR_LINE.match(line)
        assert m, line
        assert m.group(1) == m.group(2) == "4" and m.group(4)


def test_progress_bar_verbose_2_and_silent(capsys):
    x, _, y = blobs(n=64)
    model = mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=32, verbose=2)
    out = capsys.readouterr().out.strip().split("\n")
    assert out[0] == "Epoch 1/1"
    assert re.match(
        r"^2/2 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d+\.\d{4}$", out[1]
    ), out[1]
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_redraws_in_place():
    stream = _FakeTTY()
    bar = Progbar(10, verbose=1, stream=stream, interval=0.0)
    for i in range(1, 11):
        bar.update(i, {"loss": 1.0 / i})
    bar.update(10, {"loss": 0.1}, finalize=True)
    out = stream.getvalue()
    assert out.count("\r") == 11 and out.endswith("\n") and out.count("\n") == 1
    frames = [f for f in out.split("\r") if f]
    assert re.search(r"^ 1/10 .*━.* \d+s \d+(us|ms|s)/step - loss: 1\.0000", frames[0])
    assert "\x1b[32m" in frames[0]  # the done part is coloured on terminals
    assert re.search(r"10/10 .* - loss: 0\.1000\s*\n$", frames[-1])


# ---------------------------------------------------------------------- edge batch sizes
def test_fit_trains_through_a_last_batch_of_one_with_batch_norm():
    """Issue 9: 65 samples in batches of 64 left a last batch of one sample, and
    BatchNormalization aborted fit (the kernel refuses one value per channel, as PyTorch)."""
    x, labels, _ = blobs(n=65)
    model = Sequential(
        [
            layers.Dense(8, input_shape=(4,)),
            layers.BatchNormalization(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    hist = model.fit(x, labels, batch_size=64, epochs=2, shuffle=False, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert np.all(np.isfinite(model.predict(x[:3], verbose=0)))


def test_batch_norm_training_on_one_sample_follows_keras():
    """Keras's batch statistics of one sample: mean = the sample, variance 0; so y = beta,
    x gets no gradient, and the moving statistics move towards (x, 0)."""
    bn = layers.BatchNormalization(momentum=0.9, beta_initializer="ones")
    x = dc.tensor(np.array([[2.0, -3.0]]), dtype="float64", requires_grad=True)
    bn.to("float64")
    y = bn(x, training=True)
    np.testing.assert_allclose(y.detach().numpy(), [[1.0, 1.0]])
    (y * dc.tensor(np.array([[5.0, 7.0]]))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0]])
    np.testing.assert_allclose(bn.beta.grad.numpy(), [5.0, 7.0])
    np.testing.assert_allclose(bn.gamma.grad.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(bn.moving_mean.numpy(), [0.2, -0.3])
    np.testing.assert_allclose(bn.moving_variance.numpy(), [0.9, 0.9])


def test_fit_and_evaluate_refuse_zero_samples_and_predict_returns_empty():
    """Issue 9: fit on 0 samples returned {'loss': [nan]}."""
    x, _, y = blobs(n=10)
    model = mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"fit\(\) got 0 samples"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match=r"fit\(\) got 0 samples in validation_data"):
        model.fit(x, y, validation_data=(x[:0], y[:0]), verbose=0)
    with pytest.raises(ValueError, match=r"evaluate\(\) got 0 samples"):
        model.evaluate(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match=r"train_on_batch\(\) got 0 samples"):
        model.train_on_batch(x[:0], y[:0])
    assert model.predict(x[:0], verbose=0).shape == (0, 3)
