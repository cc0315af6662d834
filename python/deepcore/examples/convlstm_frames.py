"""Next-frame prediction with convolutional LSTMs, the keras.io example ("Next-frame video
prediction with Convolutional LSTMs") with only its imports changed, on moving squares instead
of Moving MNIST (no download):

    python -m deepcore.examples.convlstm_frames [--sequences 160] [--epochs 6]

Each sequence is ``--frames`` frames of a ``--size`` x ``--size`` image in which one or two
squares move in straight lines (bouncing off the edges). The model reads frames 0..T-2 and
predicts frames 1..T-1: ConvLSTM2D -> BatchNormalization -> ConvLSTM2D -> Conv3D(sigmoid),
trained with binary cross-entropy and keras.io's callbacks, then keras.io's rollout (predict
the second half of a sequence from its first half, one frame at a time). The report compares
the held-out per-pixel error of the prediction with the naive forecast "the next frame equals
this one".
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import deepcore
import deepcore.keras as keras
from deepcore.keras import layers


def moving_squares(n: int, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, frames, size, size, 1) float32 videos of 1-2 bouncing 3x3 squares."""
    out = np.zeros((n, frames, size, size, 1), np.float32)
    for i in range(n):
        for _ in range(int(rng.integers(1, 3))):
            pos = rng.integers(0, size - 3, 2).astype(np.int64)
            vel = rng.choice([-1, 1], 2) * rng.integers(1, 3, 2)
            for t in range(frames):
                r, c = pos
                out[i, t, r : r + 3, c : c + 3, 0] = 1.0
                nxt = pos + vel
                for a in range(2):  # bounce off the edges
                    if nxt[a] < 0 or nxt[a] > size - 3:
                        vel[a] = -vel[a]
                pos = np.clip(pos + vel, 0, size - 3)
    return out


def build_model(size: int, filters: int) -> keras.Model:
    inp = layers.Input(shape=(None, size, size, 1))
    x = layers.ConvLSTM2D(
        filters, (5, 5), padding="same", return_sequences=True, activation="relu"
    )(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(
        filters, (3, 3), padding="same", return_sequences=True, activation="relu"
    )(x)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(
        filters, (1, 1), padding="same", return_sequences=True, activation="relu"
    )(x)
    out = layers.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")(x)
    return keras.models.Model(inp, out)


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Next-frame prediction with ConvLSTM2D.")
    ap.add_argument("--sequences", type=int, default=160)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--filters", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=1)
    args = ap.parse_args(argv)

    deepcore.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = moving_squares(args.sequences, args.frames, args.size, rng)
    n_val = max(1, args.sequences // 10)
    train, val = data[n_val:], data[:n_val]
    x, y = train[:, :-1], train[:, 1:]
    xv, yv = val[:, :-1], val[:, 1:]

    model = build_model(args.size, args.filters)
    model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam(1e-3))
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10)
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=5)
    history = model.fit(
        x, y, batch_size=args.batch_size, epochs=args.epochs, validation_data=(xv, yv),
        callbacks=[early_stopping, reduce_lr], verbose=args.verbose,
    )  # fmt: skip
    pred = model.predict(xv, verbose=0)
    err = float(np.mean(np.abs((pred > 0.5) - yv)))
    naive = float(np.mean(np.abs(xv - yv)))  # "the next frame equals this one"

    # keras.io's rollout: from the first half of a sequence, predict the rest frame by frame
    frames = val[0, : args.frames // 2]
    for _ in range(args.frames - len(frames)):
        new_prediction = model.predict(np.expand_dims(frames, axis=0), verbose=0)
        new_prediction = np.squeeze(new_prediction, axis=0)
        predicted_frame = np.expand_dims(new_prediction[-1, ...], axis=0)
        frames = np.concatenate((frames, predicted_frame), axis=0)
    rollout = float(
        np.mean(np.abs((frames[args.frames // 2 :] > 0.5) - val[0, args.frames // 2 :]))
    )
    print(
        f"next-frame prediction: held-out pixel error {err:.4f} (copying the current frame: "
        f"{naive:.4f}) after {args.epochs} epochs on {len(x)} sequences; rollout of "
        f"{args.frames - args.frames // 2} frames: pixel error {rollout:.4f}"
    )
    return {
        "history": history.history,
        "pixel_error": err,
        "copy_error": naive,
        "rollout_error": rollout,
        "rollout_shape": frames.shape,
    }


if __name__ == "__main__":
    main()
