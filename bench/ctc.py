"""CTC loss benchmark: deepcore's native alpha-beta recursion vs PyTorch CPU, same run.

    python3 bench/ctc.py [--threads 2] [--pairs 7] [--shape 100 32 28 20]

Shape (T, N, C, S): T time steps, N samples, C classes, target length S (every sample full
length, labels random, blank 0); float32 log_softmax inputs. Forward (the per-sample nll) and
forward + backward (the gradient w.r.t. the log-probabilities) through the kernels
(``_C.ctc_loss_forward`` / ``_C.ctc_loss_backward``) against ``torch.ctc_loss`` and its autograd
backward. Validated first (values; gradients after a log_softmax, where both agree: see
[Note: CTC recursion] in csrc/ctc.h), then timed alternately (bench/harness.py's
[Note: bench protocol]); the figure is the median of per-pair ratios torch / ours (> 1: ours
faster).
"""

from __future__ import annotations

import argparse

import deepcore as dc
import numpy as np
import torch
from harness import banner, check_close, paired
from peer import Peer, add_peer_argument

K = dc.kernels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--shape", type=int, nargs=4, default=[100, 32, 28, 20])
    add_peer_argument(ap)
    args = ap.parse_args()
    K.set_num_threads(args.threads)
    peer = Peer(args.threads, args.peer_in_process)
    T, N, C, S = args.shape
    rng = np.random.default_rng(0)
    z = torch.log_softmax(torch.tensor(rng.standard_normal((T, N, C)), dtype=torch.float32), -1)
    lp = np.ascontiguousarray(z.numpy())
    tg = rng.integers(1, C, (N, S)).astype(np.int64)
    il, tl = np.full(N, T, np.int64), np.full(N, S, np.int64)
    tlp = torch.tensor(lp, requires_grad=True)
    ttg, til, ttl = torch.tensor(tg), torch.tensor(il), torch.tensor(tl)
    ones = np.ones(N, np.float32)

    def ours_fwd():
        return dc._C.ctc_loss_forward(lp, tg, il, tl, 0)

    def torch_fwd():
        with torch.no_grad():
            return torch.nn.functional.ctc_loss(tlp, ttg, til, ttl, reduction="none")

    def ours_both():
        nll = dc._C.ctc_loss_forward(lp, tg, il, tl, 0)
        return dc._C.ctc_loss_backward(ones, lp, tg, il, tl, nll, 0)

    def torch_both():
        tlp.grad = None
        torch.nn.functional.ctc_loss(tlp, ttg, til, ttl, reduction="sum").backward()
        return tlp.grad

    torch_fwd, torch_both = peer.fn(torch_fwd), peer.fn(torch_both)
    check_close(ours_fwd(), torch_fwd(), 1e-5, "forward")
    g = ours_both()
    gt = torch_both()
    # compare through log_softmax's backward: g - softmax * sum(g) over the classes
    p = np.exp(lp)
    check_close(g - p * g.sum(-1, keepdims=True), gt - p * gt.sum(-1, keepdims=True), 1e-4, "grad")
    banner(
        f"CTC loss, (T, N, C, S) = {tuple(args.shape)}, float32",
        peer.describe(),
    )
    print("| case | ours ms | torch ms | torch/ours |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in (
        ("forward", ours_fwd, torch_fwd),
        ("forward + backward", ours_both, torch_both),
    ):
        r = paired(ours, theirs, args.pairs)
        print(
            f"| {name} | {r.ours_median * 1e3:.2f} | {r.peer_median * 1e3:.2f} | {r.speedup:.2f} |",
            flush=True,
        )
    peer.close()


if __name__ == "__main__":
    main()
