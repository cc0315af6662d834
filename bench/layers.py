"""Layer-system overheads: what deepcore.nn.Module adds on top of the F op it calls, next to
what torch.nn.Module adds on top of torch.nn.functional; and the channels-last plan.

    python bench/layers.py [--peer-in-process]     (PYTHONPATH=python for an in-place build)

1. Per-call overhead of a layer: time(layer(x)) - time(F.op(x, w, b)) on a tiny input (so the
   kernel is negligible), ours and PyTorch's, measured alternately (A B A B), medians
   (bench/harness.py, [Note: bench protocol]); PyTorch in its own process (bench/peer.py).
2. The channels-last plan ([Note: channels-last]): a training step of a channels-last stack,
   standalone layers vs planned, alternately; outputs are checked equal first.
"""

from __future__ import annotations

import sys

import deepcore as dc
import deepcore.nn as nn
import numpy as np
from deepcore.nn import functional as F
from harness import alternate, banner, check_close, paired
from peer import Peer


def call_overhead(pairs: int = 9, n: int = 10000, in_process: bool = False) -> None:
    """Layer call and bare F call timed in turn (ours, torch, ours, torch, ...); the overhead is
    median(layer) - median(F)."""
    x = dc.tensor(np.ones((4, 8), np.float32))
    d = nn.Dense(8)
    d(x)
    check_close(d(x).detach().numpy(), F.dense(x, d.kernel, d.bias).detach().numpy(), 0.0,
                "Dense(8) == F.dense")  # fmt: skip
    try:
        import torch
    except ImportError:
        torch = None
    cases = {"ours layer": lambda: d(x), "ours F": lambda: F.dense(x, d.kernel, d.bias)}
    if torch is not None:
        xt = torch.ones(4, 8)
        lin = torch.nn.Linear(8, 8)
        peer = Peer(1, in_process)  # one thread as this process: small calls
        cases["torch layer"], cases["torch F"] = peer.fns(
            lambda: lin(xt), lambda: torch.nn.functional.linear(xt, lin.weight, lin.bias)
        )
    r = alternate(*cases.values(), rounds=pairs, reps=n, warmup=0)
    if torch is not None:
        peer.close()
    med = {k: r.median(i) * 1e6 for i, k in enumerate(cases)}
    o = med["ours layer"] - med["ours F"]
    line = (
        f"Dense(8) call on (4, 8): {med['ours layer']:.1f} us, F.dense {med['ours F']:.1f} us "
        f"-> layer overhead {o:.1f} us"
    )
    if torch is not None:
        t = med["torch layer"] - med["torch F"]
        line += (
            f"; torch.nn.Linear {med['torch layer']:.1f} us, F.linear {med['torch F']:.1f} us "
            f"-> overhead {t:.1f} us"
        )
    print(line)


def _stack(bn: bool) -> list:
    def block(filters):
        if bn:
            return [nn.Conv2D(filters, 3), nn.BatchNormalization(), nn.Activation("relu")]
        return [nn.Conv2D(filters, 3, activation="relu")]

    return [*block(32), nn.MaxPooling2D(), *block(64), nn.MaxPooling2D(), *block(64),
            nn.Flatten(), nn.Dense(64, activation="relu"), nn.Dense(10)]  # fmt: skip


def plan_effect(bn: bool, pairs: int = 9) -> None:
    dc.manual_seed(0)
    a, b = _stack(bn), _stack(bn)
    for layers in (a, b):
        s = (None, 28, 28, 1)
        for layer in layers:
            layer.build(s)
            s = layer.compute_output_shape(s)
    for la, lb in zip(a, b):
        lb.set_weights(la.get_weights())
    nn.plan_channels_last(b)
    x = dc.tensor(np.random.default_rng(0).random((64, 28, 28, 1), np.float32))
    y = dc.tensor(np.random.default_rng(1).integers(0, 10, 64))

    def step(layers):
        h = x
        for layer in layers:
            h = layer(h, training=True)
        F.cross_entropy(h, y).backward()
        for layer in layers:
            layer.zero_grad()
        return h.detach().numpy()

    check_close(step(a), step(b), 1e-4, "planned vs standalone output")  # validate first
    r = paired(lambda: step(a), lambda: step(b), pairs, reps=1)
    name = "conv-BN-relu convnet" if bn else "seed convnet"
    print(
        f"{name}, batch 64 train step: standalone {64 / r.ours_median:.0f} img/s, "
        f"planned {64 / r.peer_median:.0f} img/s, median speedup {r.ratio:.2f}x"
    )


if __name__ == "__main__":
    banner()
    call_overhead(in_process="--peer-in-process" in sys.argv[1:])
    plan_effect(bn=False)
    plan_effect(bn=True)
