"""Convolutional LSTM: deepcore's F.conv_lstm (one native call per sequence) vs PyTorch CPU
composing conv2d + the LSTM gate math per time step in Python (PyTorch has no ConvLSTM), float32.

    python3 bench/convlstm.py [--threads 1] [--pairs 7] [--only 0]

Cases (B, T, C, H, W, F, k): the keras.io next-frame model's first layer at a reduced size
(8, 10, 1, 40, 40, 16, 3) and a wider one (4, 8, 16, 32, 32, 32, 3), 'same' padding.

For each: validate ours against the PyTorch composition (outputs and every gradient), then time
the forward and the forward+backward of each alternately (A B A B ..., bench/harness.py
[Note: bench protocol]) and report the medians, our GFLOP/s (2·B·T·4F·P·(C + F)·k² for the
forward's two convolutions, three times that for forward+backward) and the median of per-pair
ratios torch/ours (> 1: ours faster). PyTorch runs in its own process ([Note: peer process] in
bench/peer.py). With --threads 1 the times are the processes' CPU time (robust on a busy
machine).
"""

from __future__ import annotations

import argparse

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import torch
from harness import banner, check_close, fwd_fb
from peer import Peer, add_peer_argument

CASES = [  # (name, B, T, C, H, W, F, k)
    ("next-frame B8 T10 1->16 40x40", 8, 10, 1, 40, 40, 16, 3),
    ("B4 T8 16->32 32x32", 4, 8, 16, 32, 32, 32, 3),
]


def torch_conv_lstm(x, w_x, w_h, b, pad):
    """The PyTorch peer: conv2d over all frames at once (as ours does), then per step the
    recurrent conv2d and the gate math."""
    B, T = x.shape[:2]
    gx = torch.nn.functional.conv2d(x.flatten(0, 1), w_x, b, padding=pad)
    gx = gx.unflatten(0, (B, T))
    h = torch.zeros(B, w_h.shape[1], *gx.shape[3:], dtype=x.dtype)
    c = torch.zeros_like(h)
    outs = []
    for t in range(T):
        a = gx[:, t] + torch.nn.functional.conv2d(h, w_h, padding=pad)
        i, f, g, o = a.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1)


def run(case: tuple, args, peer: Peer) -> dict:
    name, B, T, C, H, W, Fn, k = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, C, H, W)).astype(np.float32)
    w_x = (rng.standard_normal((4 * Fn, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
    w_h = (rng.standard_normal((4 * Fn, Fn, k, k)) / np.sqrt(Fn * k * k)).astype(np.float32)
    b = (rng.standard_normal(4 * Fn) * 0.1).astype(np.float32)
    gy = rng.standard_normal((B, T, Fn, H, W)).astype(np.float32)

    ts = [dc.tensor(a, requires_grad=True) for a in (x, w_x, w_h, b)]
    gyt = dc.tensor(gy)

    def ours_fwd():
        with dc.no_grad():
            return F.conv_lstm(ts[0], None, *ts[1:], padding="same")

    def ours_fb():
        out = F.conv_lstm(ts[0], None, *ts[1:], padding="same")[0]
        out.backward(gyt)
        grads = [t.grad for t in ts]
        for t in ts:
            t.grad = None
        return out, grads

    tt = [torch.tensor(a, requires_grad=True) for a in (x, w_x, w_h, b)]
    tgy = torch.tensor(gy)
    pad = k // 2

    def torch_fwd():
        with torch.no_grad():
            return torch_conv_lstm(*tt, pad)

    def torch_fb():
        out = torch_conv_lstm(*tt, pad)
        return out, torch.autograd.grad(out, tt, tgy)

    torch_fwd, torch_fb = peer.fns(torch_fwd, torch_fb)  # PyTorch in its own process
    out, grads = ours_fb()
    tout, tgrads = torch_fb()
    check_close([out.data] + [g.data for g in grads], [tout, *tgrads], 2e-4,
                f"conv_lstm {name} outputs and gradients vs torch")  # fmt: skip

    flops = 2.0 * B * T * 4 * Fn * H * W * (C + Fn) * k * k
    return fwd_fb(ours_fwd, ours_fb, torch_fwd, torch_fb, flops, args.threads, args.pairs,
                  gap=args.gap, target=args.target)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("--target", type=float, default=0.3, help="seconds per timed block")
    ap.add_argument("--only", type=int, nargs="*", help="indices into CASES")
    add_peer_argument(ap)
    args = ap.parse_args()
    dc.kernels.set_num_threads(args.threads)
    peer = Peer(args.threads, args.peer_in_process)
    banner(peer.describe(), f"pairs={args.pairs}")
    print(
        "| case | fwd ours ms | GFLOP/s | torch ms | torch/ours | fwd+bwd ours ms | GFLOP/s "
        "| torch ms | torch/ours |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = CASES if not args.only else [CASES[i] for i in args.only]
    for case in cases:
        (fo, ft, fs, ff), (bo, bt, bs, bf) = (r := run(case, args, peer))["fwd"], r["fb"]
        print(
            f"| {case[0]} | {fo * 1e3:.2f} | {ff / fo / 1e9:.1f} | {ft * 1e3:.2f} | {fs:.2f} | "
            f"{bo * 1e3:.2f} | {bf / bo / 1e9:.1f} | {bt * 1e3:.2f} | {bs:.2f} |",
            flush=True,
        )
    peer.close()


if __name__ == "__main__":
    main()
