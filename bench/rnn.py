"""Recurrent layers: deepcore's fused LSTM / GRU / simple RNN vs PyTorch CPU, same run, float32.

    python3 bench/rnn.py [--threads 2] [--pairs 7] [--cells lstm gru rnn] [--only 0 2]

Cases (B, T, I, H): the training shape (64, 100, 128, 256), latency (1, 100, 128, 256) and a
long sequence (32, 1000, 128, 256); and a variable-length batch (B 64, T 100, lengths uniform
in [10, 100]) where ours runs with ``lengths=`` and PyTorch with packed sequences
(``pack_padded_sequence(enforce_sorted=False)``, padded back with zeros; ours uses
``zero_output=True``, the same outputs).

For each: validate ours against PyTorch (outputs and every gradient, one-layer nn.LSTM / nn.GRU
/ nn.RNN with the weights copied), then time the forward and the forward+backward of each
alternately (A B A B ..., bench/harness.py [Note: bench protocol]) and report the medians, our
GFLOP/s (2·B·T·G·H·(I+H) for the forward, three times that for forward+backward, counted on the
padded batch) next to our SGEMM's GFLOP/s at the same thread count, and the median of per-pair
ratios torch/ours (> 1: ours faster). Both sides run through their autograd: ours F.lstm / F.gru
/ F.rnn and Tensor.backward, PyTorch's modules and torch.autograd.backward, with a cotangent on
the output sequence. With --threads 1 the times are the process's CPU time (robust on a busy
machine).
"""

from __future__ import annotations

import argparse
import statistics

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import torch
from harness import banner, check_close, fwd_fb, paired
from peer import Peer, add_peer_argument

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
CASES = [  # (name, B, T, I, H, variable lengths)
    ("B64 T100", 64, 100, 128, 256, False),
    ("B1 T100", 1, 100, 128, 256, False),
    ("B32 T1000", 32, 1000, 128, 256, False),
    ("B64 T100 lengths 10..100", 64, 100, 128, 256, True),
]


def torch_module(cell: str, I: int, H: int) -> torch.nn.Module:
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    return cls(I, H, batch_first=True)


def sgemm_gflops(threads: int) -> float:
    """Our SGEMM at the training case's scale: 6400 x 384 x 1024 (B·T rows, I + H inner,
    4H columns)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6400, 384)).astype(np.float32)
    b = rng.standard_normal((1024, 384)).astype(np.float32)
    r = paired(lambda: dc.kernels.sgemm(a, b, trans_b=True), lambda: None, 5, target=0.2)
    t = statistics.median(r.ours_cpu) if threads == 1 else r.ours_median
    return 2.0 * 6400 * 1024 * 384 / t / 1e9


def run(cell: str, case: tuple, args, peer) -> dict:
    name, B, T, I, H, variable = case
    G = GATES[cell]
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    tm = torch_module(cell, I, H)
    w = [p.detach().numpy().copy() for p in tm.parameters()]  # w_ih, w_hh, b_ih, b_hh
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    gy = rng.standard_normal((B, T, H)).astype(np.float32)
    lengths = rng.integers(10, T + 1, B) if variable else None
    if variable:
        gy *= np.arange(T)[None, :, None] < lengths[:, None, None]  # padding gets no gradient

    xt = dc.tensor(x, requires_grad=True)
    wt = [dc.tensor(a, requires_grad=True) for a in w]
    gyt = dc.tensor(gy)
    fn = {"lstm": F.lstm, "gru": F.gru, "rnn": F.rnn}[cell]
    kw = {"lengths": lengths, "zero_output": True} if variable else {}

    def ours_fwd():
        with dc.no_grad():
            return fn(xt, None, *wt, **kw)

    def ours_fb():
        out = fn(xt, None, *wt, **kw)[0]
        out.backward(gyt)
        grads = [xt.grad, *[t.grad for t in wt]]
        xt.grad = None
        for t in wt:
            t.grad = None
        return out, grads

    tx = torch.tensor(x, requires_grad=True)
    tgy = torch.tensor(gy)

    def torch_out():
        if not variable:
            return tm(tx)[0]
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            tx, torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(tm(packed)[0], batch_first=True,
                                                      total_length=T)  # fmt: skip
        return y

    def torch_fwd():
        with torch.no_grad():
            return torch_out()

    def torch_fb():
        out = torch_out()
        grads = torch.autograd.grad(out, [tx, *tm.parameters()], tgy)
        return out, grads

    torch_fwd, torch_fb = peer.fn(torch_fwd), peer.fn(torch_fb)
    # validate: outputs and every gradient (x, w_ih, w_hh, b_ih, b_hh)
    out, grads = ours_fb()
    tout, tgrads = torch_fb()
    check_close([out.data] + [g.data for g in grads], [tout, *tgrads], 2e-4,
                f"{cell} {name} outputs and gradients vs torch")  # fmt: skip

    flops = 2.0 * B * T * G * H * (I + H)
    return fwd_fb(ours_fwd, ours_fb, torch_fwd, torch_fb, flops, args.threads, args.pairs,
                  gap=args.gap, target=args.target)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("--target", type=float, default=0.3, help="seconds per timed block")
    ap.add_argument("--cells", nargs="*", default=["lstm", "gru", "rnn"])
    ap.add_argument("--only", type=int, nargs="*", help="indices into CASES")
    add_peer_argument(ap)
    args = ap.parse_args()
    dc.kernels.set_num_threads(args.threads)
    peer = Peer(args.threads, args.peer_in_process)
    banner(
        f"{peer.describe()} (mkldnn {peer.info['mkldnn']})",
        f"pairs={args.pairs}",
    )
    sg = sgemm_gflops(args.threads)
    print(f"# our SGEMM at {args.threads} thread(s): {sg:.1f} GFLOP/s (6400x384 @ 384x1024)")
    print(
        "| cell | case | fwd ours ms | GFLOP/s | torch ms | torch/ours | fwd+bwd ours ms | GFLOP/s "
        "| / SGEMM | torch ms | torch/ours |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = CASES if not args.only else [CASES[i] for i in args.only]
    for cell in args.cells:
        for case in cases:
            r = run(cell, case, args, peer)
            (fo, ft, fs, ff), (bo, bt, bs, bf) = r["fwd"], r["fb"]
            print(
                f"| {cell} | {case[0]} | {fo * 1e3:.2f} | {ff / fo / 1e9:.1f} | {ft * 1e3:.2f} | "
                f"{fs:.2f} | {bo * 1e3:.2f} | {bf / bo / 1e9:.1f} | {bf / bo / 1e9 / sg:.2f} | "
                f"{bt * 1e3:.2f} | {bs:.2f} |",
                flush=True,
            )
    peer.close()


if __name__ == "__main__":
    main()
