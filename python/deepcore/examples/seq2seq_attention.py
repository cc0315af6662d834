"""An encoder-decoder with attention that rewrites dates written by people as ISO dates
("3 may 1998", "may 3, 1998", "03/05/1998", "1998.5.3" -> "1998-05-03").

    python -m deepcore.examples.seq2seq_attention [--epochs 30] [--hidden 64] [--plot out.png]

An encoder LSTM reads the date one character at a time and keeps its whole output sequence; a
decoder LSTM, started from the encoder's final states, writes the ten characters of the ISO
date. At every output step a dot-product (Luong) ``Attention`` layer compares the decoder's
output with every encoder output and mixes the encoder outputs by the softmax of those scores;
the mixture and the decoder output go through a tanh layer to the next-character softmax.
Padding is masked (``Embedding(mask_zero=True)``): the encoder skips it and the attention never
looks at it. Training uses teacher forcing (the true answer shifted by one step, a start symbol
first) with Keras's functional API and ``fit``; inference is greedy, one step at a time, calling
the trained layers directly, the attention also returning its weights. The weights of one input are
printed as a table (which input characters each output character read) and, with ``--plot`` and
matplotlib installed, drawn as a picture. Reported: the exact-match accuracy on held-out dates
(every character right); the run stops once it passes ``--target``.
"""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Sequence

import numpy as np

import deepcore
import deepcore.nn as layers
from deepcore import models

MONTHS = [datetime.date(2000, m, 1).strftime("%B").lower() for m in range(1, 13)]
IN_CHARS = " 0123456789abcdefghijklmnopqrstuvwxyz,./"  # ' ' pads
OUT_CHARS = "0123456789-"
IN_LEN, OUT_LEN = 20, 10
START = len(OUT_CHARS)  # the decoder's start symbol: one more one-hot position
OUT_VOCAB = len(OUT_CHARS) + 1
FORMATS = (
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
)


def make_dates(n: int, rng: np.random.Generator, exclude: set | None = None):
    """n distinct (human-readable, ISO) pairs of dates between 1950 and 2049, none whose
    human-readable form is in ``exclude``."""
    first = datetime.date(1950, 1, 1).toordinal()
    span = datetime.date(2049, 12, 31).toordinal() - first + 1
    seen = set() if exclude is None else set(exclude)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        days = rng.integers(0, span, size=2 * n)
        fmts = rng.integers(0, len(FORMATS), size=2 * n)
        for day, f in zip(days.tolist(), fmts.tolist()):
            d = datetime.date.fromordinal(first + day)
            text = FORMATS[f](d)
            if text not in seen:
                seen.add(text)
                out.append((text, d.isoformat()))
                if len(out) == n:
                    break
    return out


def encode(pairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input character indices (n, IN_LEN), 0 padding; one-hot boolean decoder inputs and
    targets (n, OUT_LEN, OUT_VOCAB)."""
    iidx = {c: i for i, c in enumerate(IN_CHARS)}
    oidx = {c: i for i, c in enumerate(OUT_CHARS)}
    x = np.array([[iidx[c] for c in text.ljust(IN_LEN)] for text, _ in pairs])
    y = np.array([[oidx[c] for c in iso] for _, iso in pairs])
    dec_in = np.concatenate([np.full((len(pairs), 1), START), y[:, :-1]], axis=1)
    eye = np.eye(OUT_VOCAB, dtype=bool)
    return x, eye[dec_in], eye[y]


class DateTranslator:
    """The layers, the training model over them, and greedy decoding with the same layers
    called directly (eagerly), which hands the encoder's padding mask to the attention at
    inference as the functional model does in training."""

    def __init__(self, hidden: int) -> None:
        self.embed = layers.Embedding(len(IN_CHARS), 32, mask_zero=True)  # ' ' (0) pads
        self.encoder = layers.LSTM(hidden, return_sequences=True, return_state=True)
        self.decoder = layers.LSTM(hidden, return_sequences=True, return_state=True)
        self.attention = layers.Attention()
        self.merge = layers.Concatenate()
        self.attentional = layers.Dense(hidden, activation="tanh")
        self.out = layers.Dense(OUT_VOCAB, activation="softmax")
        enc_in = models.Input((IN_LEN,), dtype="int64")
        dec_in = models.Input((OUT_LEN, OUT_VOCAB))
        enc_seq, h, c = self.encoder(self.embed(enc_in))  # the mask travels with enc_seq
        seq, _, _ = self.decoder(dec_in, initial_state=[h, c])
        context = self.attention([seq, enc_seq])  # padded input steps get no attention
        self.model = models.Model([enc_in, dec_in], self._head(seq, context))

    def _head(self, seq, context):
        return self.out(self.attentional(self.merge([seq, context])))

    def greedy_decode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Character indices (n, OUT_LEN), each step fed the previous step's most likely one,
        and the attention weights (n, OUT_LEN, IN_LEN) of every step."""
        with deepcore.no_grad():
            mask = self.embed.compute_mask(x)
            enc_seq, h, c = self.encoder(self.embed(x), mask=mask, training=False)
            tok = np.full(len(x), START)
            eye = np.eye(OUT_VOCAB, dtype=np.float32)
            toks, attn = [], []
            for _ in range(OUT_LEN):
                seq, h, c = self.decoder(eye[tok][:, None], initial_state=[h, c], training=False)
                context, w = self.attention(
                    [seq, enc_seq], mask=[None, mask], return_attention_scores=True
                )
                tok = np.asarray(self._head(seq, context).data)[:, 0].argmax(-1)
                toks.append(tok)
                attn.append(np.asarray(w.data)[:, 0])
        return np.stack(toks, axis=1), np.stack(attn, axis=1)


def show_attention(text: str, iso: str, weights: np.ndarray, plot: str | None) -> None:
    """The weights of one input as a table (rows: output characters; columns: the input
    characters) and, with ``plot`` and matplotlib, as a picture saved there."""
    cols = list(text)
    print("  attention (rows: output, columns: input; weights x 10, '.' below 0.05):")
    print("       " + " ".join(f"{c:>2}" for c in cols))
    for ch, row in zip(iso, weights[:, : len(cols)]):
        cells = " ".join(" ." if w < 0.05 else f"{min(int(w * 10), 9):2d}" for w in row)
        print(f"    {ch}  {cells}")
    if not plot:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (--plot needs matplotlib: pip install 'deepcore[plot]')")
        return
    fig, ax = plt.subplots(figsize=(0.4 * len(cols) + 1.5, 0.4 * len(iso) + 1.5))
    ax.imshow(weights[:, : len(cols)], cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(iso)), list(iso))
    ax.set_xlabel("input")
    ax.set_ylabel("output")
    fig.tight_layout()
    fig.savefig(plot)
    print(f"  attention picture written to {plot}")


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="seq2seq with attention: dates to ISO dates.")
    ap.add_argument("--train", type=int, default=20000, help="training dates")
    ap.add_argument("--test", type=int, default=1000, help="held-out dates")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--target", type=float, default=0.98, help="stop once held-out exact match >=")
    ap.add_argument("--plot", default=None, help="write the attention picture to this file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_pairs = make_dates(args.train, rng)
    test_pairs = make_dates(args.test, rng, exclude={t for t, _ in train_pairs})
    x, d_in, d_out = encode(train_pairs)
    tx, _, t_out = encode(test_pairs)

    net = DateTranslator(args.hidden)
    model = net.model
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    n_params = model.count_params()
    print(f"seq2seq with attention: {args.train} training dates, {args.test} held out; "
          f"LSTM({args.hidden}) encoder and decoder, {n_params:,} parameters")  # fmt: skip
    t0 = time.perf_counter()
    acc, epochs = 0.0, 0
    for epoch in range(1, args.epochs + 1):
        h = model.fit([x, d_in], d_out, batch_size=args.batch_size, epochs=1, verbose=0)
        pred, weights = net.greedy_decode(tx)
        acc, epochs = float((pred == t_out.argmax(-1)).all(axis=1).mean()), epoch
        print(f"epoch {epoch:2d}  loss {h.history['loss'][-1]:.4f}  held-out exact match "
              f"{acc:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        if acc >= args.target:
            break
    for (text, iso), p in list(zip(test_pairs, pred))[:5]:
        guess = "".join(OUT_CHARS[i] for i in p)
        print(f"  {text!r:24} -> {guess}  {'ok' if guess == iso else 'WRONG (' + iso + ')'}")
    show_attention(test_pairs[0][0], test_pairs[0][1], weights[0], args.plot)
    return {"exact_match": acc, "epochs": epochs, "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    main()
