"""conv2d / conv3d benchmark: deepcore's native kernels vs PyTorch CPU (oneDNN), same run,
float32.

    python3 bench/conv.py [--threads 2] [--pairs 7] [--algo auto] [--dims 3] [--tiny]

(--algo: auto, direct, im2col or implicit; conv3d reads implicit as its direct.)

Shapes are (N, C, H=W, K, R=S, stride, pad) (with --dims 3: D=H=W and KD=R=S). For each:
validate ours against torch (forward, dX, dW, db), warm up both, then time ours and torch
alternately (A B A B ...): the forward, and forward + backward (dX, dW and db, i.e. what a
training step of a middle layer computes).
Reported: median ms and GFLOP/s of each (2*N*K*P*Q*C*R*S per pass, three passes for
forward+backward), and the median of per-pair ratios torch_time / our_time (> 1: ours faster).

Both sides are called at the kernel level: ours through deepcore.kernels.conv2d_forward /
_backward_input / _backward_weight, torch through torch.nn.functional.conv2d and
torch.ops.aten.convolution_backward, so neither pays for its autograd engine. Each timed block
starts after a short pause (--gap) so the other library's spinning OpenMP workers have gone to
sleep (2-core machine; bench/harness.py, [Note: bench protocol]). With --threads 1 both run on
the calling thread, and the time is that thread's CPU time (time.thread_time), which other
processes on a busy machine do not inflate. PyTorch runs in its own process (bench/peer.py,
[Note: peer process]); --peer-in-process times it in this one, after ``import deepcore``.
"""

from __future__ import annotations

import argparse

import deepcore as dc
import numpy as np
import torch
from harness import banner, check_close, fwd_fb
from peer import Peer, add_peer_argument

K = dc.kernels

SHAPES = [  # (N, C, H, K, R, stride, pad)
    (64, 1, 28, 6, 5, 1, 0),
    (64, 6, 12, 16, 5, 1, 0),
    (32, 64, 56, 64, 3, 1, 1),
    (32, 128, 28, 128, 3, 1, 1),
    (32, 3, 224, 64, 11, 4, 2),
]
SHAPES3 = [  # (N, C, D=H=W, K, KD=R=S, stride, pad): video / volume layers
    (8, 3, 32, 16, 3, 1, 1),
    (8, 32, 16, 32, 3, 1, 1),
    (4, 64, 8, 64, 3, 1, 1),
    (8, 16, 16, 32, 3, 2, 1),
]
# --tiny: calls of microseconds, where starting a thread team costs more than it saves
# ([Note: minimum work per thread] in csrc/core/threads.h)
SHAPES_TINY = [(4, 3, 8, 8, 3, 1, 1), (8, 8, 6, 8, 3, 1, 1), (2, 16, 4, 16, 3, 1, 1)]
SHAPES3_TINY = [(2, 2, 6, 4, 3, 1, 1), (1, 4, 8, 4, 3, 1, 1)]


def run(shape, args, peer) -> dict:
    N, C, H, Kc, R, st, pad = shape
    n = args.dims
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C) + (H,) * n).astype(np.float32)
    w = (rng.standard_normal((Kc, C) + (R,) * n) / np.sqrt(C * R**n)).astype(np.float32)
    b = rng.standard_normal(Kc).astype(np.float32)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    algo = args.algo
    fwd, bin_, bw = (getattr(K, f"conv{n}d_{p}") for p in ("forward", "backward_input",
                                                         "backward_weight"))  # fmt: skip
    tconv = getattr(torch.nn.functional, f"conv{n}d")

    def ours_fwd():
        return fwd(x, w, b, st, pad, 1, 1, algo)

    def ours_fb():
        y = fwd(x, w, b, st, pad, 1, 1, algo)
        dx = bin_(y, w, x.shape, st, pad, 1, 1, algo)
        dw, db = bw(x, y, w.shape, st, pad, 1, 1, algo)
        return y, dx, dw, db

    def torch_fwd():
        with torch.no_grad():
            return tconv(tx, tw, tb, st, pad)

    def torch_fb():
        with torch.no_grad():
            y = tconv(tx, tw, tb, st, pad)
            dx, dw, db = torch.ops.aten.convolution_backward(
                y, tx, tw, [Kc], [st] * n, [pad] * n, [1] * n, False, [0] * n, 1, [True] * 3
            )
        return y, dx, dw, db

    torch_fwd, torch_fb = peer.fn(torch_fwd), peer.fn(torch_fb)
    # validate (dy = y, as in the timed step)
    check_close(list(ours_fb()), list(torch_fb()), 1e-4, f"{shape} y, dx, dw, db vs torch")

    P = (H + 2 * pad - R) // st + 1
    flops = 2.0 * N * Kc * P**n * C * R**n
    out = {"shape": shape}
    out["algo"] = "/".join(
        getattr(K, f"conv{n}d_algorithm")(x.shape, w.shape, st, pad, 1, 1, p, algo)
        for p in ("forward", "backward_input", "backward_weight")
    )
    # one thread each: the calling thread's CPU time (harness.py)
    out.update(fwd_fb(ours_fwd, ours_fb, torch_fwd, torch_fb, flops, args.threads, args.pairs,
                      gap=args.gap, cpu="thread"))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("--algo", default="auto", choices=["auto", "direct", "im2col", "implicit"])
    ap.add_argument("--capability", default=None)
    ap.add_argument("--only", type=int, nargs="*", help="indices into SHAPES (or SHAPES3)")
    ap.add_argument("--dims", type=int, default=2, choices=[2, 3], help="conv2d or conv3d")
    ap.add_argument("--tiny", action="store_true", help="the tiny shapes (SHAPES*_TINY)")
    add_peer_argument(ap)
    args = ap.parse_args()
    K.set_num_threads(args.threads)
    peer = Peer(args.threads, args.peer_in_process)
    if args.capability:
        K.set_cpu_capability(args.capability)
    banner(
        f"{peer.describe()} (mkldnn {peer.info['mkldnn']})",
        f"conv{args.dims}d, algo={args.algo}, pairs={args.pairs}",
    )
    print(
        "| (N, C, H, K, R, s, p) | algo fwd/dX/dW | fwd ours ms | GFLOP/s | torch ms | GFLOP/s "
        "| torch/ours | fwd+bwd ours ms | GFLOP/s | torch ms | GFLOP/s | torch/ours |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = {(3, False): SHAPES3, (2, False): SHAPES, (3, True): SHAPES3_TINY}.get(
        (args.dims, args.tiny), SHAPES_TINY
    )
    shapes = table if not args.only else [table[i] for i in args.only]
    for shape in shapes:
        r = run(shape, args, peer)
        cells = []
        for name in ("fwd", "fb"):
            to, tt, ratio, f = r[name]
            cells += [
                f"{to * 1e3:.2f}",
                f"{f / to / 1e9:.1f}",
                f"{tt * 1e3:.2f}",
                f"{f / tt / 1e9:.1f}",
                f"{ratio:.2f}",
            ]
        print(f"| {shape} | {r['algo']} | " + " | ".join(cells) + " |", flush=True)
    peer.close()


if __name__ == "__main__":
    main()
