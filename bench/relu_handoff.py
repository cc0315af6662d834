"""What handing the ReLU mask down to max pooling saves in a training step ([Note: ReLU masks
handed down] in deepcore/_relu_handoff.py): the seed convnet's ``fit`` step (Conv2D+ReLU ->
MaxPool twice) with the hand-off, against the same step with every conv masking its own
gradient (the hand-off switched off by replacing ``_pool.relu_source``).

    python bench/relu_handoff.py [--batch 64 128] [--steps 10] [--rounds 15]

Protocol (bench/harness.py, [Note: bench protocol]): validate (3 SGD steps each way: bitwise
equal weights), then alternate blocks of ``--steps`` fit steps off / on in one process, one
thread; reports the per-step process CPU time of both and the median of the per-round ratios
(on / off). Batch 64 is one rank's share of bench/distributed.py's global batch at 2 ranks.
"""

from __future__ import annotations

import argparse
import contextlib

import deepcore as dc
import deepcore.nn.functional._pool as _pool
import numpy as np
from deepcore.models import zoo
from deepcore.utils import to_categorical
from harness import alternate, banner

ON = _pool.relu_source


@contextlib.contextmanager
def handoff(on: bool):
    _pool.relu_source = ON if on else (lambda ctx, k=0: None)
    try:
        yield
    finally:
        _pool.relu_source = ON


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), to_categorical(rng.integers(0, 10, n), 10)


def model(opt: str):
    dc.manual_seed(0)
    m = zoo.seed_convnet()
    m.compile(optimizer=opt, loss="categorical_crossentropy")
    return m


def validate(batch: int) -> None:
    x, y = data(3 * batch)
    weights = []
    for on in (False, True):
        with handoff(on):
            m = model("sgd")
            m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
            weights.append([w.numpy() for w in m.weights])
    for a, b in zip(*weights):
        if not np.array_equal(a, b):
            raise SystemExit("validation failed: weights differ with the hand-off")


def bench_batch(batch: int, n_steps: int, rounds: int) -> None:
    validate(batch)
    x, y = data(n_steps * batch)
    m = model("rmsprop")

    def steps(on: bool):
        def run() -> None:
            with handoff(on):
                m.fit(x, y, batch_size=batch, epochs=1, verbose=0)

        return run

    r = alternate(steps(False), steps(True), rounds=rounds, reps=1, warmup=1)
    off, on = (r.median(i, cpu=True) / n_steps * 1e3 for i in (0, 1))
    print(
        f"batch {batch:4d}: validated (bitwise equal weights); per step CPU "
        f"{off:.2f} ms without, {on:.2f} ms with the hand-off; median of per-round "
        f"ratios with / without {r.ratio(1, 0, cpu=True):.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    dc.kernels.set_num_threads(1)
    banner("seed convnet fit steps, RMSprop, 1 thread", f"{args.steps} steps per block")
    for batch in args.batch:
        bench_batch(batch, args.steps, args.rounds)


if __name__ == "__main__":
    main()
