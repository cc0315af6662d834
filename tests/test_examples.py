"""The runnable examples: each main() on a tiny subset for one epoch."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from data_helpers import MNIST_DIR, requires_shared_data
from deepcore.examples import lenet, two_car_keras
from deepcore.examples import mnist as mnist_example


@pytest.fixture(autouse=True)
def no_user_data(monkeypatch, tmp_path):
    """Never read the user's data or cache, never reach the internet."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.delenv("DEEPCORE_DATA", raising=False)
    monkeypatch.setenv("DEEPCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPCORE_MNIST_MIRRORS", f"http://127.0.0.1:{port}/")


@requires_shared_data
def test_mnist_example_on_test_split(capsys):
    r = mnist_example.main(
        ["--data", str(MNIST_DIR), "--epochs", "1", "--limit", "512", "--verbose", "0"]
    )
    out = capsys.readouterr().out
    assert "test set only" in r["source"] and "8000" in r["source"]
    assert r["train_images"] == 512 and r["test_images"] == 512
    assert "93,322" in out and "test accuracy" in out
    # one epoch on 512 MNIST images is well above chance (0.1)
    assert 0.3 < r["test_accuracy"] <= 1.0


@requires_shared_data
def test_mnist_example_finds_deepcore_data(monkeypatch):
    monkeypatch.setenv("DEEPCORE_DATA", str(MNIST_DIR))
    r = mnist_example.main(["--epochs", "1", "--limit", "128", "--verbose", "0"])
    assert "MNIST" in r["source"] and "SYNTHETIC" not in r["source"]


def test_mnist_example_falls_back_to_synthetic(capsys):
    r = mnist_example.main(["--epochs", "1", "--limit", "512", "--verbose", "0"])
    out = capsys.readouterr().out
    assert "MNIST is not available" in out and "DEEPCORE_DATA" in out
    assert "SYNTHETIC" in r["source"] and "NOT MNIST" in out
    assert 0.0 <= r["test_accuracy"] <= 1.0


@requires_shared_data
def test_lenet_example():
    r = lenet.main(
        ["--data", str(MNIST_DIR), "--epochs", "1", "--limit", "512", "--verbose", "0",
         "--activation", "relu", "--pooling", "max"]
    )  # fmt: skip
    assert r["train_images"] == 512 and 0.2 < r["test_accuracy"] <= 1.0


def test_two_car_keras_learns():
    r = two_car_keras.main([])  # the defaults: 2,000 pairs, 60 epochs (about a second)
    assert r["losses"][-1] < 0.5 * r["losses"][0]
    assert r["test_accuracy"] > 0.95


def test_transformer_classifier_tiny():
    from deepcore.examples import transformer_classifier

    r = transformer_classifier.main(
        ["--train", "256", "--test", "128", "--epochs", "1", "--layers", "1", "--dim", "16",
         "--ff", "16", "--heads", "2", "--verbose", "0", "--no-baseline"]
    )  # fmt: skip
    assert 0.0 <= r["test_accuracy"] <= 1.0 and r["baseline_accuracy"] is None
    x, y = transformer_classifier.make_data(300, 1)
    a, b = (x == transformer_classifier.A).argmax(1), (x == transformer_classifier.B).argmax(1)
    assert ((x == 1).sum(1) == 1).all() and ((x == 2).sum(1) == 1).all()
    np.testing.assert_array_equal(y, a < b)
    assert 0.4 < y.mean() < 0.6


def test_seq2seq_attention_data_masking_and_a_tiny_run(capsys):
    import datetime

    from deepcore.examples import seq2seq_attention as s2s

    rng = np.random.default_rng(0)
    pairs = s2s.make_dates(200, rng)
    assert len({t for t, _ in pairs}) == 200
    for text, iso in pairs:
        assert len(text) <= s2s.IN_LEN
        d = datetime.date.fromisoformat(iso)
        assert str(d.year) in text and (str(d.day) in text or f"{d.day:02d}" in text)
    x, d_in, d_out = s2s.encode(pairs[:6])
    assert x.shape == (6, s2s.IN_LEN) and d_out.shape == (6, s2s.OUT_LEN, s2s.OUT_VOCAB)
    assert (d_in[:, 0].argmax(-1) == s2s.START).all() and (d_in[:, 1:] == d_out[:, :-1]).all()
    # the attention never looks at padding, at inference too: each step's weights sum to 1
    # over the input's characters and are exactly 0 on the padding after them
    net = s2s.DateTranslator(8)
    pred, w = net.greedy_decode(x)
    assert pred.shape == (6, s2s.OUT_LEN) and w.shape == (6, s2s.OUT_LEN, s2s.IN_LEN)
    for (text, _), wi in zip(pairs[:6], w):
        np.testing.assert_allclose(wi[:, : len(text)].sum(-1), 1.0, rtol=1e-5)
        assert (wi[:, len(text) :] == 0).all()
    r = s2s.main(["--train", "300", "--test", "30", "--epochs", "1", "--hidden", "16"])
    assert 0.0 <= r["exact_match"] <= 1.0 and r["epochs"] == 1
    assert "attention (rows: output" in capsys.readouterr().out


# ---------------------------------------------------------------------- Keras-style examples
# (issue 13): each on a small slice of its data, one epoch


def test_keras_cnn_example(capsys):
    from deepcore.examples import keras_cnn

    r = keras_cnn.main(["--train", "600", "--test", "200", "--epochs", "1", "--verbose", "0"])
    assert "Rescaling" in capsys.readouterr().out
    assert 0.2 < r["test_accuracy"] <= 1.0  # one epoch on 540 digits: well above chance
    assert r["reload_same"] and "val_loss" in r["history"]


def test_keras_multi_input_example():
    from deepcore.examples import keras_multi_input

    r = keras_multi_input.main(["--samples", "256", "--epochs", "1", "--verbose", "0"])
    assert 0.0 <= r["priority_accuracy"] <= 1.0 and 0.0 <= r["department_accuracy"] <= 1.0
    hist = r["history"]
    assert {"loss", "priority_loss", "department_loss"} <= set(hist)


def test_keras_transfer_example():
    from deepcore.examples import keras_transfer

    r = keras_transfer.main(
        ["--train", "64", "--test", "32", "--epochs", "1", "--fine-tune-epochs", "1",
         "--batch-size", "32", "--verbose", "0"]
    )  # fmt: skip
    assert r["trainable_head"] == 2048 * 10 + 10
    assert r["frozen_base"] > 23_000_000
    assert 0.0 <= r["fine_tuned_accuracy"] <= 1.0


def test_keras_generator_fit_example():
    from deepcore.examples import keras_generator_fit

    r = keras_generator_fit.main(
        ["--train", "600", "--test", "200", "--steps", "5", "--epochs", "2", "--verbose", "0"]
    )
    assert len(r["history"]["loss"]) == 2 and "val_accuracy" in r["history"]
    assert 0.15 < r["test_accuracy"] <= 1.0  # 10 steps of 64 digits: above chance (0.1)


def test_keras_custom_loop_example():
    from deepcore.examples import keras_custom_loop

    r = keras_custom_loop.main(["--train", "600", "--val", "200", "--epochs", "2"])
    first, last = r["history"]
    # the custom metric counts the samples the built-in accuracy calls right
    for h in r["history"]:
        assert h["true_positives"] == pytest.approx(h["train_accuracy"] * 600, abs=0.5)
    assert last["train_accuracy"] > first["train_accuracy"] and last["val_accuracy"] > 0.2


def test_convlstm_frames_example():
    from deepcore.examples import convlstm_frames

    r = convlstm_frames.main(
        ["--sequences", "24", "--frames", "5", "--size", "10", "--filters", "4", "--epochs", "3",
         "--verbose", "0"]
    )  # fmt: skip
    loss = r["history"]["loss"]
    assert len(loss) == 3 and loss[-1] < loss[0]
    assert 0.0 <= r["pixel_error"] <= 1.0 and r["copy_error"] > 0.0
    assert r["rollout_shape"] == (5, 10, 10, 1) and 0.0 <= r["rollout_error"] <= 1.0
