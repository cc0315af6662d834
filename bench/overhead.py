"""Per-op Python overhead of deepcore's autograd against PyTorch (CPU), same process.

    python bench/overhead.py [--reps 15]     (PYTHONPATH=python for an in-place build)

Cases (tiny tensors, so the time is dispatch + graph bookkeeping, not arithmetic):
  add_fwd       c = a + b on 1-element tensors, no grad recorded
  add_fwd_bwd   (a + b).backward() with a, b requiring grad
  mlp_step      the two_car training step: 2->32->1 ReLU MLP on a batch of 32, BCE-with-logits
                loss from elementwise ops, forward + backward (about 15 ops)
Each case is validated against PyTorch first, then timed ours/peer alternately (A B A B) by
bench/harness.py ([Note: bench protocol]); the figure is the median per-call time and the
median of the per-pair ratios (ours / peer: lower is better for us), in wall time and in
process CPU time (both run on one thread, so CPU time is the robust figure on a busy machine).
"""

from __future__ import annotations

import argparse

import deepcore as dc
import numpy as np
import torch
from harness import banner, check_close, paired
from peer import Peer, add_peer_argument


def _bce(z, y, maximum, log, exp, absf):
    return (maximum(z, 0.0) - z * y + log(1.0 + exp(-absf(z)))).mean()


def _mlp_step(ps, x, y, maximum, log, exp, absf):
    w1, b1, w2, b2 = ps
    z = maximum(x @ w1 + b1, 0.0) @ w2 + b2
    loss = _bce(z, y, maximum, log, exp, absf)
    loss.backward()
    return loss


def cases():
    rng = np.random.default_rng(0)
    a_np, b_np = np.array([1.5], np.float32), np.array([2.5], np.float32)
    a, b = dc.tensor(a_np, requires_grad=True), dc.tensor(b_np, requires_grad=True)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    an, bn = dc.tensor(a_np), dc.tensor(b_np)
    tan, tbn = torch.tensor(a_np), torch.tensor(b_np)

    def ours_add():
        return an + bn

    def peer_add():
        return tan + tbn

    def ours_add_bwd():
        (a + b).backward()

    def peer_add_bwd():
        (ta + tb).backward()

    x_np = rng.uniform(-1, 1, (32, 2)).astype(np.float32)
    y_np = (rng.uniform(0, 1, (32, 1)) > 0.5).astype(np.float32)
    p_np = [
        rng.standard_normal((2, 32)).astype(np.float32),
        np.zeros(32, np.float32),
        rng.standard_normal((32, 1)).astype(np.float32) * 0.2,
        np.zeros(1, np.float32),
    ]
    ps = [dc.tensor(p, requires_grad=True) for p in p_np]
    tps = [torch.tensor(p, requires_grad=True) for p in p_np]
    x, y, tx, ty = dc.tensor(x_np), dc.tensor(y_np), torch.tensor(x_np), torch.tensor(y_np)

    def ours_mlp():
        return _mlp_step(ps, x, y, dc.maximum, dc.log, dc.exp, dc.abs)

    def peer_mlp():
        return _mlp_step(tps, tx, ty, torch.clamp_min, torch.log, torch.exp, torch.abs)

    # validate: same loss and gradients
    for p in ps:
        p.grad = None
    lo, lp = ours_mlp(), peer_mlp()
    check_close(lo.item(), lp.item(), 1e-5, "mlp_step loss")
    grads = [p.grad.numpy() for p in ps], [tp.grad.numpy() for tp in tps]
    check_close(*grads, 1e-4, "mlp_step gradients")
    ours_add_bwd()
    peer_add_bwd()
    check_close(a.grad.numpy(), ta.grad.numpy(), 1e-6, "add_fwd_bwd gradient")
    check_close((an + bn).numpy(), (tan + tbn).numpy(), 1e-6, "add_fwd")
    return [
        ("add_fwd", ours_add, peer_add, 20000),
        ("add_fwd_bwd", ours_add_bwd, peer_add_bwd, 5000),
        ("mlp_step", ours_mlp, peer_mlp, 500),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    add_peer_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(1)  # this process's torch validates
    peer_process = Peer(1, args.peer_in_process)
    banner(peer_process.describe(), f"numpy {np.__version__}")
    print(
        f"{'case':12s} {'ours us':>9s} {'torch us':>9s} {'ours/torch':>10s} "
        f"{'ours cpu us':>11s} {'cpu ratio':>9s}"
    )
    for name, ours, peer, number in cases():
        r = paired(ours, peer_process.fn(peer), pairs=args.reps, reps=number, warmup=number // 3)
        cpu = r.rounds.median(0, cpu=True)
        print(
            f"{name:12s} {r.ours_median * 1e6:9.2f} {r.peer_median * 1e6:9.2f} {r.ratio:10.2f} "
            f"{cpu * 1e6:11.2f} {r.cpu_ratio:9.2f}"
        )
    peer_process.close()


if __name__ == "__main__":
    main()
