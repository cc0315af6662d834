"""The recurrent examples (deepcore.examples.char_rnn, seq2seq_addition) on tiny configurations."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import ALICE, requires_shared_data
from deepcore.examples import char_rnn, seq2seq_addition


@pytest.mark.parametrize("model", ["simple", "lstm"])
def test_char_rnn_on_a_small_text(tmp_path, model, capsys):
    path = tmp_path / "t.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 8)
    r = char_rnn.main(["--text", str(path), "--model", model, "--epochs", "2", "--hidden", "8",
                       "--generate", "12", "--batch-size", "32"])  # fmt: skip
    out = capsys.readouterr().out
    assert r["windows"] == len(path.read_text()) - 10 and r["vocab"] == 28
    assert len(r["sample"]) == 12 and set(r["sample"]) <= set(path.read_text())
    assert "epoch 2" in out and all(np.isfinite(r["losses"]))


@requires_shared_data
def test_char_rnn_finds_alice(monkeypatch):
    monkeypatch.delenv("DEEPCORE_DATA", raising=False)
    assert char_rnn.find_text(None) == ALICE or char_rnn.find_text(None).name == ALICE.name
    r = char_rnn.main(["--max-chars", "400", "--epochs", "1", "--hidden", "8", "--generate", "5",
                       "--temperature", "0"])  # fmt: skip
    assert r["windows"] == 390


def test_char_rnn_sampling():
    rng = np.random.default_rng(0)
    p = np.array([0.1, 0.6, 0.3])
    assert char_rnn.sample(p, 0.0, rng) == 1
    draws = [char_rnn.sample(p, 0.01, rng) for _ in range(20)]
    assert set(draws) == {1}  # a low temperature is nearly greedy
    assert {char_rnn.sample(p, 5.0, rng) for _ in range(200)} == {0, 1, 2}


def test_seq2seq_data_and_a_tiny_run(capsys):
    rng = np.random.default_rng(0)
    pairs = seq2seq_addition.make_questions(50, 2, rng)
    assert len(set(pairs)) == 50
    held = seq2seq_addition.make_questions(20, 2, rng, exclude=set(pairs))
    assert not set(held) & set(pairs)
    q, d_in, d_out = seq2seq_addition.encode([(12, 7), (99, 99)], 2)
    chars = seq2seq_addition.CHARS
    assert "".join(chars[i] for i in q[0].argmax(-1)) == "12+7 "[::-1]
    assert "".join(chars[i] for i in d_out[1].argmax(-1)) == "198"
    assert d_in[0, 0].argmax() == seq2seq_addition.START and (d_in[:, 1:] == d_out[:, :-1]).all()
    r = seq2seq_addition.main(["--digits", "2", "--train", "200", "--test", "20", "--epochs", "1",
                               "--hidden", "8", "--batch-size", "50"])  # fmt: skip
    assert 0.0 <= r["exact_match"] <= 1.0 and r["epochs"] == 1
    assert "held-out exact match" in capsys.readouterr().out
