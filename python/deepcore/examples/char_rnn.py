"""A character-level language model: read 10 characters, predict the next one, generate text.

    python -m deepcore.examples.char_rnn [--model simple|lstm] [--epochs 5] [--text PATH]

The seed's Keras script, with only its imports changed: windows of SEQLEN = 10 characters of a
lower-cased book (Alice in Wonderland, from ../shared/data/text or --text) as one-hot boolean
arrays, the character that follows each window as the target.

- ``--model simple`` (the seed's first model): SimpleRNN(128) -> Dense(V) -> softmax, RMSprop,
  categorical cross-entropy.
- ``--model lstm`` (its second): LSTM -> Dropout(0.5) -> LSTM -> Dropout(0.5) ->
  TimeDistributed(Dense(V, softmax)), trained on the window shifted by one (a target at every
  step). The seed used 2 x LSTM(500); ``--hidden`` picks the size (default 128 here, so an epoch
  takes seconds rather than minutes on two cores).

After each epoch it prints text generated from a random seed window, one character at a time,
sampled from the predicted distribution sharpened by ``--temperature`` (0: the most likely
character, as the seed did).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import deepcore
import deepcore.nn as layers
from deepcore import models
from deepcore.datasets import text as textdata

SEQLEN = 10


def find_text(path: str | None) -> Path:
    """--text, else $DEEPCORE_DATA/text/alice-11-0.txt, else ../shared/data/text/ up the tree."""
    if path:
        return Path(path)
    name = Path("text") / "alice-11-0.txt"
    candidates = []
    if os.environ.get("DEEPCORE_DATA"):
        candidates.append(Path(os.environ["DEEPCORE_DATA"]) / name)
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "data" / name for p in here.parents]
    candidates.append(Path.cwd() / ".." / "shared" / "data" / name)
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        "no text found: pass --text PATH (any plain-text book; the seed used Alice in Wonderland, "
        "alice-11-0.txt from Project Gutenberg) or set DEEPCORE_DATA to a folder with text/"
    )


def build(kind: str, vocab: int, hidden: int) -> models.Sequential:
    model = models.Sequential()
    if kind == "simple":
        model.add(layers.SimpleRNN(hidden, return_sequences=False, input_shape=(SEQLEN, vocab),
                                   unroll=True))  # fmt: skip
        model.add(layers.Dense(vocab))
        model.add(layers.Activation("softmax"))
    else:
        model.add(layers.LSTM(hidden, return_sequences=True, input_shape=(SEQLEN, vocab)))
        model.add(layers.Dropout(0.5))
        model.add(layers.LSTM(hidden, return_sequences=True))
        model.add(layers.Dropout(0.5))
        model.add(layers.TimeDistributed(layers.Dense(vocab, activation="softmax")))
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return model


def sample(p: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """An index drawn from p**(1/temperature) (renormalised); the argmax at temperature 0."""
    if temperature <= 0:
        return int(np.argmax(p))
    logits = np.log(np.maximum(p.astype(np.float64), 1e-12)) / temperature
    q = np.exp(logits - logits.max())
    return int(rng.choice(len(q), p=q / q.sum()))


def generate(model, vocab, seed: str, n: int, temperature: float, rng, sequence_model: bool):
    eye = np.eye(len(vocab), dtype=bool)
    window = vocab.encode(seed)
    out = []
    with deepcore.no_grad():
        for _ in range(n):
            p = np.asarray(model(eye[window][None], training=False).data)[0]
            nxt = sample(p[-1] if sequence_model else p, temperature, rng)
            out.append(nxt)
            window = np.append(window[1:], nxt)
    return vocab.decode(np.array(out))


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Character-level RNN language model.")
    ap.add_argument("--model", choices=["simple", "lstm"], default="simple")
    ap.add_argument("--text", default=None, help="a plain-text file (default: Alice)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--step", type=int, default=1, help="characters between windows")
    ap.add_argument("--max-chars", type=int, default=None, help="use only the text's start")
    ap.add_argument("--generate", type=int, default=100, help="characters per sample")
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=0)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    seq = args.model == "lstm"
    data = textdata.load_char_windows(find_text(args.text), seqlen=SEQLEN, step=args.step,
                                      sequence_targets=seq, lower=True,
                                      max_chars=args.max_chars)  # fmt: skip
    V = len(data.vocab)
    eye = np.eye(V, dtype=bool)
    x, y = eye[data.x], eye[data.y]  # the seed's np.bool one-hot arrays
    model = build(args.model, V, args.hidden)
    print(f"char-rnn ({args.model}): {len(x)} windows of {SEQLEN} characters, vocabulary {V}, "
          f"{model.count_params():,} parameters")  # fmt: skip
    t0 = time.perf_counter()
    losses, text = [], ""
    for epoch in range(1, args.epochs + 1):
        h = model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=args.verbose)
        losses.append(h.history["loss"][-1])
        start = int(rng.integers(len(data.x)))
        seed_text = data.vocab.decode(data.x[start])
        text = generate(model, data.vocab, seed_text, args.generate, args.temperature, rng, seq)
        print(f"epoch {epoch}  loss {losses[-1]:.4f}  ({time.perf_counter() - t0:.0f} s)")
        print(f"  [{seed_text}]{text}".replace("\n", " "), flush=True)
    return {"losses": losses, "sample": text, "vocab": V, "windows": len(x)}


if __name__ == "__main__":
    main()
