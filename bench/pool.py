"""Pooling benchmark: deepcore vs PyTorch CPU and vs the memory-bandwidth floor, same run.

    python3 bench/pool.py [--threads 2] [--pairs 7] [--shape 64 64 56 56]

2x2 stride-2 max and average pooling, float32, forward and backward. The floor of each case is
(bytes it must read + write) / (copy bandwidth), the copy bandwidth measured in the same run as the
best of a NumPy and a torch (multi-threaded) copy of the input-sized buffer, counting read + write.
Max pooling's training forward also writes int32 argmax indices (ours; torch writes int64); the
inference forward writes only y. Ours and torch are validated, then timed alternately (A B A B ...,
bench/harness.py's [Note: bench protocol]); reported: medians, ours / floor, and the median of per-
pair ratios torch / ours (> 1: ours faster). Rows marked out= pass a preallocated result: a fresh 51
MB array costs page faults on first touch (measured ~9 ms here, more than the kernel), which the
copy-bandwidth floor does not include; torch always allocates.

A second table times the seed convnet's two pools (bench/train_convnet.py: 2x2 max pooling on
(64, 32, 26, 26) and (64, 64, 11, 11), training forward with indices and backward), ours vs
torch only: these are cache-resident, so per-call overhead rather than bandwidth decides.
"""

from __future__ import annotations

import argparse
import statistics

import deepcore as dc
import numpy as np
import torch
from harness import banner, block, check_close, paired
from peer import Peer, add_peer_argument

K = dc.kernels


def copy_bandwidth(nbytes: int, pairs: int) -> float:
    src = np.random.default_rng(0).standard_normal(nbytes // 4).astype(np.float32)
    dst = np.empty_like(src)
    ts, td = torch.from_numpy(src), torch.from_numpy(dst)
    best = []
    for _ in range(pairs):
        a = block(lambda: np.copyto(dst, src), 3, 0.02)[0]
        b = block(lambda: td.copy_(ts), 3, 0.02)[0]
        best.append(min(a, b))
    return 2 * nbytes / statistics.median(best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("--shape", type=int, nargs=4, default=[64, 64, 56, 56])
    add_peer_argument(ap)
    args = ap.parse_args()
    K.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)  # this process's torch: validation and the copy floor
    peer = Peer(args.threads, args.peer_in_process)
    N, C, H, W = args.shape
    x = np.random.default_rng(1).standard_normal((N, C, H, W)).astype(np.float32)
    tx = torch.from_numpy(x)
    y, idx = K.max_pool2d_forward(x, 2)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    tdy = torch.from_numpy(dy)
    ty, tidx = torch.nn.functional.max_pool2d(tx, 2, return_indices=True)
    check_close([y, idx], [ty.numpy(), tidx.numpy()], 0.0, "max fwd")
    ya = K.avg_pool2d_forward(x, 2)
    check_close(ya, torch.nn.functional.avg_pool2d(tx, 2).numpy(), 1e-6, "avg fwd")
    dxm = K.max_pool2d_backward(dy, idx, x.shape, None, 2)  # with the window, as autograd calls it
    tdxm = torch.ops.aten.max_pool2d_with_indices_backward(
        tdy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx
    )
    check_close(dxm, tdxm.numpy(), 0.0, "max bwd")
    dxa = K.avg_pool2d_backward(dy, x.shape, 2)
    tdxa = torch.ops.aten.avg_pool2d_backward(tdy, tx, [2, 2], [2, 2], [0, 0], False, True, None)
    check_close(dxa, tdxa.numpy(), 1e-6, "avg bwd")

    bw = copy_bandwidth(x.nbytes, args.pairs)
    y_out, dx_out = np.empty_like(y), np.empty_like(x)
    xb, yb = x.nbytes, y.nbytes
    cases = [  # name, ours, torch, bytes moved
        (
            "max fwd (training: y + idx)",
            lambda: K.max_pool2d_forward(x, 2),
            lambda: torch.nn.functional.max_pool2d(tx, 2, return_indices=True),
            xb + 2 * yb,
        ),
        (
            "max fwd (inference: y)",
            lambda: K.max_pool2d_forward(x, 2, return_indices=False),
            lambda: torch.nn.functional.max_pool2d(tx, 2),
            xb + yb,
        ),
        (
            "max fwd (inference, out=)",
            lambda: K.max_pool2d_forward(x, 2, return_indices=False, out=y_out),
            lambda: torch.nn.functional.max_pool2d(tx, 2),
            xb + yb,
        ),
        (
            "max bwd",
            lambda: K.max_pool2d_backward(dy, idx, x.shape, None, 2),
            lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                tdy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx
            ),
            2 * yb + xb,
        ),
        (
            "max bwd (out=)",
            lambda: K.max_pool2d_backward(dy, idx, x.shape, dx_out, 2),
            lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                tdy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx
            ),
            2 * yb + xb,
        ),
        (
            "avg fwd",
            lambda: K.avg_pool2d_forward(x, 2),
            lambda: torch.nn.functional.avg_pool2d(tx, 2),
            xb + yb,
        ),
        (
            "avg bwd",
            lambda: K.avg_pool2d_backward(dy, x.shape, 2),
            lambda: torch.ops.aten.avg_pool2d_backward(
                tdy, tx, [2, 2], [2, 2], [0, 0], False, True, None
            ),
            yb + xb,
        ),
        (
            "avg bwd (out=)",
            lambda: K.avg_pool2d_backward(dy, x.shape, 2, out=dx_out),
            lambda: torch.ops.aten.avg_pool2d_backward(
                tdy, tx, [2, 2], [2, 2], [0, 0], False, True, None
            ),
            yb + xb,
        ),
    ]
    banner(
        f"pooling 2x2/2 on {tuple(args.shape)} float32",
        peer.describe(),
        f"copy bandwidth {bw / 1e9:.1f} GB/s (read+write)",
    )
    print("| case | MB moved | floor ms | ours ms | ours/floor | torch ms | torch/ours |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with torch.no_grad():
        for name, ours, theirs, nbytes in cases:
            r = paired(ours, peer.fn(theirs), args.pairs, reps=3, gap=args.gap, warmup=1)
            floor = nbytes / bw
            mo, mt = r.ours_median, r.peer_median
            print(
                f"| {name} | {nbytes / 1e6:.1f} | {floor * 1e3:.2f} | {mo * 1e3:.2f} | "
                f"{mo / floor:.2f} | {mt * 1e3:.2f} | {r.speedup:.2f} |",
                flush=True,
            )
        convnet_pools(args.pairs, args.gap, peer)
    peer.close()


def convnet_pools(pairs: int, gap: float, peer: Peer) -> None:
    print("\nseed convnet pools (2x2 max, training forward with indices, backward)")
    print("| shape | pass | ours ms | torch ms | torch/ours |")
    print("|---|---|---:|---:|---:|")
    for shape in [(64, 32, 26, 26), (64, 64, 11, 11)]:
        convnet_pool(shape, pairs, gap, peer)


def convnet_pool(shape: tuple, pairs: int, gap: float, peer: Peer) -> None:
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    tx = torch.from_numpy(x)
    y, idx = K.max_pool2d_forward(x, 2)
    ty, tidx = torch.nn.functional.max_pool2d(tx, 2, return_indices=True)
    check_close([y, idx], [ty.numpy(), tidx.numpy()], 0.0, f"{shape} fwd")
    dy = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
    tdy = torch.from_numpy(dy)
    dx = K.max_pool2d_backward(dy, idx, shape, None, 2)
    tdx = torch.ops.aten.max_pool2d_with_indices_backward(
        tdy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx
    )
    check_close(dx, tdx.numpy(), 0.0, f"{shape} bwd")
    cases = [
        (
            "fwd",
            lambda: K.max_pool2d_forward(x, 2),
            lambda: torch.nn.functional.max_pool2d(tx, 2, return_indices=True),
        ),
        (
            "bwd",
            lambda: K.max_pool2d_backward(dy, idx, shape, None, 2),
            lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                tdy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx
            ),
        ),
    ]
    for name, ours, theirs in cases:
        r = paired(ours, peer.fn(theirs), pairs, reps=20, gap=gap, warmup=1)
        print(
            f"| {shape} | {name} | {r.ours_median * 1e3:.3f} | {r.peer_median * 1e3:.3f} | "
            f"{r.speedup:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
