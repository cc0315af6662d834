"""One training step under the "mixed_float16" dtype policy against the same step in float32.

    python3 bench/mixed_precision.py [--units 1024] [--batch 256] [--pairs 7]

The model is the Keras mixed precision guide's (784 -> Dense(units, relu) x 2 -> Dense(10) ->
float32 softmax), built twice with the same initial weights: once under "float32", once under
"mixed_float16" (float32 weights, float16 compute, a LossScaleOptimizer around RMSprop). It
first validates: one train_on_batch of each from the same weights gives losses within float16
rounding of each other (and finite). Then it times ``train_on_batch`` of both alternately
(bench/harness.py's [Note: bench protocol]) and prints the median step times and the median of
the per-pair ratios mixed / float32 (> 1: mixed precision is slower).

deepcore's float16 is storage: each op converts its float16 operands to float32, computes in
float32 and rounds its result ([Note: float16 storage] in autograd.py), and a mixed layer casts
its weights to float16 on every call ([Note: mixed precision] in nn/dtype_policy.py). So the
mixed step does the float32 step's arithmetic plus conversions: it is expected to be slower,
and the policy is there for Keras compatibility and float16 activations, not for speed.
"""

from __future__ import annotations

import argparse

import deepcore.keras as keras
import numpy as np
from deepcore.keras import layers, mixed_precision
from harness import banner, check_close, paired


def build(policy: str, units: int, weights: list | None) -> keras.Model:
    mixed_precision.set_global_policy(policy)
    try:
        inputs = keras.Input(shape=(784,))
        x = layers.Dense(units, activation="relu")(inputs)
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dense(10)(x)
        outputs = layers.Activation("softmax", dtype="float32")(x)
        model = keras.Model(inputs, outputs)
        model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.RMSprop())
    finally:
        mixed_precision.set_global_policy("float32")
    if weights is not None:
        model.set_weights(weights)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=7)
    args = ap.parse_args()
    banner(f"Dense {args.units} x2, batch {args.batch}, train_on_batch")
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.batch)
    f32 = build("float32", args.units, None)
    mixed = build("mixed_float16", args.units, f32.get_weights())
    assert type(mixed.optimizer).__name__ == "LossScaleOptimizer"
    l32 = float(f32.train_on_batch(x, y))
    l16 = float(mixed.train_on_batch(x, y))
    err = check_close([l16], [l32], 1e-2, "mixed_float16 loss vs float32 loss")
    print(f"validation: first-step loss float32 {l32:.5f}, mixed_float16 {l16:.5f} (rel {err:.1e})")
    r = paired(lambda: mixed.train_on_batch(x, y), lambda: f32.train_on_batch(x, y), args.pairs)
    print(
        f"train step: mixed_float16 {r.ours_median * 1e3:.1f} ms, float32 "
        f"{r.peer_median * 1e3:.1f} ms; mixed / float32 = {r.ratio:.2f} (wall), "
        f"{r.cpu_ratio:.2f} (process CPU)"
    )


if __name__ == "__main__":
    main()
