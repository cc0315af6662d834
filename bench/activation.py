"""Activation / softmax cross-entropy benchmark: deepcore vs PyTorch CPU, same run.

    python3 bench/activation.py [--pairs 15] [--threads 2] [--capability avx512]

Cases: relu, gelu (exact), sigmoid (and hard_swish, autograd level) forward+backward and
softmax cross-entropy forward+backward on (64, 4096) and (64, 32, 26, 26) float32 (CE on
(64, 4096) logits and on the NCHW tensor viewed as (64*26*26, 32) rows... see below).
Two levels are timed:

  kernel    the raw kernels: ours deepcore._C.activation_forward/backward (and
            cross_entropy_forward/backward) vs torch's aten ops (relu + threshold_backward,
            gelu + gelu_backward, sigmoid + sigmoid_backward, _log_softmax + nll_loss and their
            backwards), no autograd on either side;
  autograd  what a user runs: F.relu(x) then y.backward(g) vs torch.relu(x) then
            y.backward(g), leaf gradients included.

Bandwidth model (bytes the op must move, float32): activation forward reads x and writes y,
backward reads gy and the saved x or y and writes gx: 5 * 4 bytes per element for fwd+bwd.
Cross-entropy: forward reads the logits, backward reads them again and writes the gradient:
3 * 4 bytes per logit. GB/s = bytes / median time.

Each case is validated against the peer first, both are warmed up, then timed alternately in
blocks (A B A B ...) with a pause between blocks so the other library's spinning OpenMP workers
sleep (bench/harness.py, [Note: bench protocol]); the ratios are the medians of the per-pair
ratios ours/torch of wall time and of process CPU time (< 1 means ours is faster), reported with
both wall medians. With --threads 1 the CPU-time ratio is the one to trust on a shared machine.
"""

from __future__ import annotations

import argparse

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
from deepcore import _C
from harness import banner, check_close, paired
from peer import Peer, add_peer_argument

SHAPES = [(64, 4096), (64, 32, 26, 26)]


def activation_cases(torch, shape):
    aten = torch.ops.aten
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
    n = x.size
    cases = []

    def relu_ours():
        y = _C.activation_forward(x, "relu")
        return _C.activation_backward("relu", g, y=y)

    def relu_torch():
        y = torch.relu(tx)
        return aten.threshold_backward(tg, y, 0)

    def gelu_ours():
        _C.activation_forward(x, "gelu")
        return _C.activation_backward("gelu", g, x=x)

    def gelu_torch():
        aten.gelu(tx)
        return aten.gelu_backward(tg, tx)

    def sig_ours():
        y = _C.activation_forward(x, "sigmoid")
        return _C.activation_backward("sigmoid", g, y=y)

    def sig_torch():
        y = torch.sigmoid(tx)
        return aten.sigmoid_backward(tg, y)

    for name, ours, peer in [("relu", relu_ours, relu_torch), ("gelu", gelu_ours, gelu_torch),
                             ("sigmoid", sig_ours, sig_torch)]:  # fmt: skip
        cases.append(("kernel", name, shape, 20 * n, ours, peer))

    fns = {"relu": (F.relu, torch.relu), "gelu": (F.gelu, torch.nn.functional.gelu),
           "sigmoid": (F.sigmoid, torch.sigmoid),
           "hard_swish": (F.hard_swish, torch.nn.functional.hardswish)}  # fmt: skip
    for name, (f_ours, f_torch) in fns.items():

        def ours(f=f_ours):
            xt = dc.from_numpy(x).requires_grad_()  # no copy, as torch.from_numpy
            f(xt).backward(g)
            return xt.grad.data

        def peer(f=f_torch):
            xt = torch.from_numpy(x).requires_grad_(True)
            f(xt).backward(tg)
            return xt.grad

        cases.append(("autograd", name, shape, 20 * n, ours, peer))
    return cases


def ce_cases(torch, shape):
    """Softmax cross-entropy over rows of C classes: (64, 4096) is 64 rows of 4096 classes;
    (64, 32, 26, 26) is taken channels-last as 64*26*26 rows of 32 classes (the class axis
    last, as our kernel and a per-pixel classifier over 32 classes would lay it out)."""
    aten = torch.ops.aten
    rng = np.random.default_rng(1)
    C = shape[-1] if len(shape) == 2 else shape[1]
    rows = int(np.prod(shape)) // C
    x = (rng.standard_normal((rows, C)) * 3).astype(np.float32)
    t = rng.integers(0, C, rows)
    tx, tt = torch.from_numpy(x), torch.from_numpy(t)
    one = np.ones(1, np.float32)
    tone = torch.tensor(1.0)

    def ours():
        _, stats = _C.cross_entropy_forward(x, t)
        return _C.cross_entropy_backward(x, t, stats, one, 1.0 / rows)

    def peer():
        lp = aten._log_softmax(tx, 1, False)
        loss, tw = aten.nll_loss_forward(lp, tt, None, 1, -100)
        glp = aten.nll_loss_backward(tone, lp, tt, None, 1, -100, tw)
        return aten._log_softmax_backward_data(glp, lp, 1, torch.float32)

    def ours_ag():
        xt = dc.from_numpy(x).requires_grad_()
        F.cross_entropy(xt, t).backward()
        return xt.grad.data

    def peer_ag():
        xt = torch.from_numpy(x).requires_grad_(True)
        torch.nn.functional.cross_entropy(xt, tt).backward()
        return xt.grad

    label = f"({rows}, {C})"
    return [("kernel", "softmax-CE", label, 12 * x.size, ours, peer),
            ("autograd", "softmax-CE", label, 12 * x.size, ours_ag, peer_ag)]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None, help="default: deepcore's OpenMP count")
    ap.add_argument("--capability", default=None, help="generic | avx2 | avx512")
    ap.add_argument("--gap", type=float, default=0.02, help="pause (s) between timed blocks")
    add_peer_argument(ap)
    args = ap.parse_args()

    import torch

    if args.capability:
        dc.kernels.set_cpu_capability(args.capability)
    threads = args.threads or dc.kernels.get_num_threads()
    dc.kernels.set_num_threads(threads)
    peer_process = Peer(threads, args.peer_in_process)
    banner(peer_process.describe())

    cases = []
    for shape in SHAPES:
        cases += activation_cases(torch, shape)
    for shape in SHAPES:
        cases += ce_cases(torch, shape)

    hdr = f"{'level':9} {'op':11} {'shape':18} {'ours ms':>9} {'torch ms':>9} {'ours GB/s':>10}"
    print(hdr + f" {'torch GB/s':>10} {'ours/torch wall':>16} {'ours/torch cpu':>15}")
    for level, name, shape, nbytes, ours, peer in cases:
        peer = peer_process.fn(peer)
        check_close(np.asarray(ours()), np.asarray(peer()), 1e-4, f"{level} {name} {shape}")
        r = paired(ours, peer, pairs=args.pairs, gap=args.gap)
        to, tp = r.ours_median, r.peer_median
        print(f"{level:9} {name:11} {str(shape):18} {to * 1e3:9.3f} {tp * 1e3:9.3f} "
              f"{nbytes / to / 1e9:10.1f} {nbytes / tp / 1e9:10.1f} {r.ratio:16.2f} "
              f"{r.cpu_ratio:15.2f}")  # fmt: skip
    peer_process.close()


if __name__ == "__main__":
    main()
