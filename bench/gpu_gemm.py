"""GPU SGEMM benchmark: deepcore's SIMT kernel (csrc/cuda/gemm.cu) vs cuBLAS fp32, same run.

    python3 bench/gpu_gemm.py [--reps 30] [--quick]

cuBLAS is reached through CuPy (cupy.matmul, fp32 compute: CUPY_TF32 must be unset) and, when a
CUDA PyTorch is installed, through torch.matmul with TF32 off. Each case: validate ours and
each peer against the float64 product (relative error < 1e-5), warm up, then ``--reps`` rounds
of ours and each peer in turn, each call timed alone with CUDA events after the L2 cache was
flushed (a write over a buffer several times its size); report the median time and TFLOP/s of
each and the median of the per-round ratios ours / cuBLAS (> 1: ours faster).
The issue-16 target is ours >= 0.9x cuBLAS fp32 at 4096^3 (printed as met / not met).
Needs a CUDA GPU, a CUDA build of deepcore and CuPy; run by tools/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
from deepcore import _C
from deepcore._array import require_cuda
from harness import banner, check_close

CASES = [  # (label, M, N, K, trans_a, trans_b, batch)
    ("square", 4096, 4096, 4096, False, False, 1),
    ("square nt", 4096, 4096, 4096, False, True, 1),
    ("square tn", 4096, 4096, 4096, True, False, 1),
    ("square", 2048, 2048, 2048, False, False, 1),
    ("square", 1024, 1024, 1024, False, False, 1),
    ("odd", 4095, 4097, 4093, False, False, 1),
    ("dense fwd", 256, 4096, 4096, False, False, 1),
    ("dense dW", 4096, 4096, 256, True, False, 1),
    ("batched", 512, 512, 512, False, False, 32),
    ("square", 8192, 8192, 8192, False, False, 1),
]
QUICK = [c for c in CASES if c[1] <= 4096 and c[0] in ("square", "batched", "odd")][:4]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30, help="timed rounds per case")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a few cases (smoke run)")
    args = ap.parse_args()
    if os.environ.get("CUPY_TF32"):
        sys.exit("CUPY_TF32 is set: cuBLAS would not compute in fp32; unset it")
    cp = require_cuda()
    torch = None
    try:
        import torch as _torch

        if _torch.cuda.is_available():
            torch = _torch
            torch.backends.cuda.matmul.allow_tf32 = False
    except ImportError:
        pass

    dev = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    l2 = int(dev["l2CacheSize"])
    banner(
        f"GPU {dev['name'].decode()} ({dev['multiProcessorCount']} SMs, L2 {l2 >> 20} MiB)",
        f"CuPy {cp.__version__}",
        f"PyTorch {torch.__version__}" if torch else "no CUDA PyTorch",
        f"deepcore CUDA archs {_C.info().get('cuda_archs')}",
    )
    flush = cp.empty(max(4 * l2, 256 << 20) // 4, cp.float32)
    start, stop = cp.cuda.Event(), cp.cuda.Event()

    def timed(fn) -> float:
        flush.fill(1.0)  # evict the operands from L2 (outside the timed region)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        return cp.cuda.get_elapsed_time(start, stop) * 1e-3

    rows = []
    for label, M, N, K, ta, tb, batch in QUICK if args.quick else CASES:
        rng = np.random.default_rng(M + N + K)
        sa = (K, M) if ta else (M, K)
        sb = (N, K) if tb else (K, N)
        if batch > 1:
            sa, sb = (batch, *sa), (batch, *sb)
        a_h = rng.standard_normal(sa, dtype=np.float32)
        b_h = rng.standard_normal(sb, dtype=np.float32)
        a, b = cp.asarray(a_h), cp.asarray(b_h)
        op_a = a.swapaxes(-1, -2) if ta else a  # cuBLAS reads the transposed views in place
        op_b = b.swapaxes(-1, -2) if tb else b
        out = cp.empty((batch, M, N) if batch > 1 else (M, N), cp.float32)

        def ours(a=a, b=b, ta=ta, tb=tb, out=out, batch=batch):
            if batch > 1:
                _C.matmul(a, b, ta, tb, out=out)
            else:
                _C.sgemm(a, b, trans_a=ta, trans_b=tb, out=out)

        def cublas(op_a=op_a, op_b=op_b, out=out):
            cp.matmul(op_a, op_b, out=out)

        peers = {"cuBLAS (CuPy)": cublas}
        if torch is not None:
            ta_t = torch.from_dlpack(op_a)
            tb_t = torch.from_dlpack(op_b)
            tout = torch.from_dlpack(out)
            peers["cuBLAS (torch)"] = lambda x=ta_t, y=tb_t, o=tout: torch.matmul(x, y, out=o)

        # validate: every library's result against the float64 product (a sampled check of the
        # largest cases keeps the host reference affordable)
        ref_rows = slice(0, min(M, 512))
        a64 = np.swapaxes(a_h, -1, -2) if ta else a_h
        b64 = np.swapaxes(b_h, -1, -2) if tb else b_h
        ref = np.matmul(a64[..., ref_rows, :].astype(np.float64), b64.astype(np.float64))
        for name, fn in [("deepcore", ours), *peers.items()]:
            out.fill(np.nan)
            fn()
            cp.cuda.Device().synchronize()
            check_close(out[..., ref_rows, :].get(), ref, 1e-5, f"{name} {label} {M}x{N}x{K}")

        fns = [ours, *peers.values()]
        for _ in range(args.warmup):
            for fn in fns:
                fn()
        times = [[] for _ in fns]
        for _ in range(args.reps):
            for i, fn in enumerate(fns):
                times[i].append(timed(fn))
        flops = 2.0 * M * N * K * batch
        med = [statistics.median(t) for t in times]
        ratio = statistics.median(p / o for o, p in zip(times[0], times[1]))  # cuBLAS / ours
        line = (
            f"{label:10s} {M:5d}x{N:5d}x{K:5d}{'' if batch == 1 else f' x{batch}':>5s} "
            f"{'T' if ta else 'N'}{'T' if tb else 'N'}  ours {med[0] * 1e3:8.3f} ms "
            f"{flops / med[0] * 1e-12:6.2f} TFLOP/s"
        )
        for name, m in zip(peers, med[1:]):
            line += f" | {name} {m * 1e3:8.3f} ms {flops / m * 1e-12:6.2f} TFLOP/s"
        line += f" | ours/cuBLAS {ratio:5.3f}x"
        print(line, flush=True)
        rows.append((label, M, N, K, ta, tb, batch, ratio))

    for _label, M, N, K, ta, tb, batch, ratio in rows:
        if (M, N, K, ta, tb, batch) == (4096, 4096, 4096, False, False, 1):
            verdict = "met" if ratio >= 0.9 else "NOT met"
            print(f"RESULT sgemm 4096^3 NN: ours/cuBLAS fp32 {ratio:.3f}x (target 0.9x: {verdict})")


if __name__ == "__main__":
    main()
