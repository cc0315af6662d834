"""An encoder-decoder that learns to add two numbers given as strings ("345+78" -> "423").

    python -m deepcore.examples.seq2seq_addition [--digits 3] [--epochs 40] [--hidden 128]

The question is read one character at a time (reversed, which shortens the paths between the
digits that must meet) by an encoder LSTM; its final states (h, c) start a decoder LSTM that
writes the answer one character at a time. Training uses teacher forcing: the decoder reads the
true answer shifted by one step (a start symbol first) and learns the next character at every
step, with Keras's functional API (``decoder(inputs, initial_state=encoder_states)``) and
``fit``. Inference is greedy: the encoder's states and the start symbol go into a one-step
decoder model, whose most likely character is fed back in, ``digits + 1`` times. Reported:
the exact-match accuracy (every character right) on held-out questions none of which was seen
in training; with the defaults it passes 95% after about 22 epochs (1.5-2 minutes of CPU time
on one core of the dev VM) and stops there (--target).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

import deepcore
import deepcore.nn as layers
from deepcore import models

CHARS = "0123456789+ "  # ' ' pads questions and answers
START = len(CHARS)  # the decoder's start symbol: one more one-hot position
VOCAB = len(CHARS) + 1


def make_questions(n: int, digits: int, rng: np.random.Generator, exclude: set | None = None):
    """n distinct (a, b) pairs of numbers with up to ``digits`` digits (none in ``exclude``)."""
    top = 10**digits
    seen = set() if exclude is None else set(exclude)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < n:
        a, b = rng.integers(0, top, size=(2, 2 * n))
        for p in zip(a.tolist(), b.tolist()):
            if p not in seen:
                seen.add(p)
                pairs.append(p)
                if len(pairs) == n:
                    break
    return pairs


def encode(pairs, digits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-hot boolean arrays: questions (n, 2*digits+1, VOCAB) reversed, decoder inputs and
    targets (n, digits+1, VOCAB)."""
    qlen, alen = 2 * digits + 1, digits + 1
    idx = {c: i for i, c in enumerate(CHARS)}
    q = np.array([[idx[c] for c in f"{a}+{b}".ljust(qlen)[::-1]] for a, b in pairs])
    ans = np.array([[idx[c] for c in str(a + b).ljust(alen)] for a, b in pairs])
    dec_in = np.concatenate([np.full((len(pairs), 1), START), ans[:, :-1]], axis=1)
    eye = np.eye(VOCAB, dtype=bool)
    return eye[q], eye[dec_in], eye[ans]


def build(digits: int, hidden: int):
    """The training model and the two inference models sharing its layers."""
    enc_in = models.Input((2 * digits + 1, VOCAB))
    _, h, c = layers.LSTM(hidden, return_state=True)(enc_in)
    dec_lstm = layers.LSTM(hidden, return_sequences=True, return_state=True)
    dense = layers.Dense(VOCAB, activation="softmax")
    dec_in = models.Input((digits + 1, VOCAB))
    seq, _, _ = dec_lstm(dec_in, initial_state=[h, c])
    train = models.Model([enc_in, dec_in], dense(seq))
    encoder = models.Model(enc_in, [h, c])
    step_in, h_in, c_in = models.Input((1, VOCAB)), models.Input((hidden,)), models.Input((hidden,))
    out, h2, c2 = dec_lstm(step_in, initial_state=[h_in, c_in])
    decoder = models.Model([step_in, h_in, c_in], [dense(out), h2, c2])
    return train, encoder, decoder


def greedy_decode(encoder, decoder, q: np.ndarray, steps: int) -> np.ndarray:
    """Character indices (n, steps), each step fed the previous step's most likely one."""
    with deepcore.no_grad():
        h, c = encoder(q, training=False)
        tok = np.full(len(q), START)
        eye = np.eye(VOCAB, dtype=np.float32)
        out = []
        for _ in range(steps):
            p, h, c = decoder([eye[tok][:, None], h, c], training=False)
            tok = np.asarray(p.data)[:, 0].argmax(-1)
            out.append(tok)
    return np.stack(out, axis=1)


def exact_match(pred: np.ndarray, target_onehot: np.ndarray) -> float:
    return float((pred == target_onehot.argmax(-1)).all(axis=1).mean())


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="seq2seq addition (encoder-decoder LSTM).")
    ap.add_argument("--digits", type=int, default=3)
    ap.add_argument("--train", type=int, default=40000, help="training questions")
    ap.add_argument("--test", type=int, default=2000, help="held-out questions")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--target", type=float, default=0.95, help="stop once held-out exact match >=")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=0)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_pairs = make_questions(args.train, args.digits, rng)
    test_pairs = make_questions(args.test, args.digits, rng, exclude=set(train_pairs))
    q, d_in, d_out = encode(train_pairs, args.digits)
    tq, _, t_out = encode(test_pairs, args.digits)

    model, encoder, decoder = build(args.digits, args.hidden)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    print(f"seq2seq addition: {args.train} training questions of up to {args.digits}-digit "
          f"numbers, {args.test} held out; LSTM({args.hidden}) encoder and decoder, "
          f"{model.count_params():,} parameters")  # fmt: skip
    t0 = time.perf_counter()
    acc, epochs = 0.0, 0
    for epoch in range(1, args.epochs + 1):
        h = model.fit([q, d_in], d_out, batch_size=args.batch_size, epochs=1, verbose=args.verbose)
        pred = greedy_decode(encoder, decoder, tq, args.digits + 1)
        acc, epochs = exact_match(pred, t_out), epoch
        print(f"epoch {epoch:2d}  loss {h.history['loss'][-1]:.4f}  held-out exact match "
              f"{acc:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        if acc >= args.target:
            break
    for (a, b), p in list(zip(test_pairs, pred))[:5]:
        guess = "".join(CHARS[i] for i in p).strip()
        print(
            f"  {a}+{b} = {guess}  {'ok' if guess == str(a + b) else 'WRONG (' + str(a + b) + ')'}"
        )
    return {"exact_match": acc, "epochs": epochs, "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    main()
