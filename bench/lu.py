"""keras.ops.lu_factor (csrc/lu.h) against torch.linalg.lu_factor (LAPACK getrf) on the CPU.

    python3 bench/lu.py [--threads 1] [--pairs 7]

Each case validates first (the same pivots as torch's, 0-based; the packed LU within a
relative error of 1e-3 in float32), then times ours and the peer alternately
(bench/harness.py's [Note: bench protocol]; PyTorch in its own process, bench/peer.py) and
prints the median times and the median of the per-pair ratios torch / ours (> 1: ours faster).
Below 128 columns ours is unblocked right-looking elimination (one rank-1 update per column),
from 128 getrf's blocked form over dc::gemm ([Note: blocked LU] in csrc/lu.cpp).
"""

from __future__ import annotations

import argparse
import statistics

import deepcore as dc
import numpy as np
import torch
from deepcore import ops
from harness import banner, check_close, paired
from peer import Peer, add_peer_argument

CASES = [(512, 8, 8), (64, 32, 32), (128, 128), (512, 512), (1024, 1024)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--gap", type=float, default=0.02)
    add_peer_argument(ap)
    args = ap.parse_args()
    dc.kernels.set_num_threads(args.threads)
    peer = Peer(args.threads, args.peer_in_process)
    cpu_time = args.threads == 1
    banner("lu_factor, float32", peer.describe(), "times: process CPU" if cpu_time else "wall")
    print("| shape | ours ms | torch ms | torch/ours |")
    print("|---|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for shape in CASES:
        x = rng.standard_normal(shape).astype(np.float32)
        xt = dc.tensor(x)
        tt = torch.from_numpy(x.copy())

        def torch_lu(tt=tt):
            return torch.linalg.lu_factor(tt)

        fn = peer.fn(torch_lu)
        lu, piv = ops.lu_factor(xt)
        t_lu, t_piv = fn()
        if not np.array_equal(piv.data, np.asarray(t_piv) - 1):
            raise SystemExit(f"validation failed: {shape}: pivots differ from torch's")
        check_close(lu.data, t_lu, 1e-3, f"lu {shape}")
        r = paired(lambda xt=xt: ops.lu_factor(xt), fn, args.pairs, gap=args.gap, warmup=1)
        if cpu_time:
            mo, mt = statistics.median(r.ours_cpu), statistics.median(r.peer_cpu)
            sp = r.cpu_speedup
        else:
            mo, mt, sp = r.ours_median, r.peer_median, r.speedup
        print(f"| {shape} | {mo * 1e3:.3f} | {mt * 1e3:.3f} | {sp:.2f} |", flush=True)
    peer.close()


if __name__ == "__main__":
    main()
