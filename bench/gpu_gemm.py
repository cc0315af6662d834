"""GPU GEMM benchmark: deepcore's CUDA GEMMs vs cuBLAS, same run, one section per precision.

    python3 bench/gpu_gemm.py [--reps 30] [--quick] [--precision fp32,tf32,bf16]

fp32: our SIMT kernel (csrc/cuda/gemm.cu, matmul precision "highest") vs cuBLAS fp32 through
CuPy (cupy.matmul; CUPY_TF32 must be unset) and, when a CUDA PyTorch is installed, torch.matmul
with TF32 off. tf32 / bf16: our tensor-core kernel (csrc/cuda/gemm_tc.cu, precision "high" /
"medium"; fp32 operands rounded on the way into shared memory, fp32 accumulation) vs cuBLAS
through PyTorch: torch.matmul of the same fp32 tensors with allow_tf32 on, and of bf16 copies
(bf16 in and out, fp32 accumulation) for bf16; without a CUDA PyTorch those peers are skipped.
Each case: validate ours and each peer against the float64 product (relative error below 1e-5
fp32, 1e-3 TF32, 1e-2 BF16, on a sample of rows for the largest), warm up, then ``--reps``
rounds of every library in turn, each call timed alone with CUDA events after an L2 flush
(bench/harness.py GpuRounds); report the median time and TFLOP/s of each and the median of the
per-round ratios cuBLAS time / ours (> 1: ours faster). Issue-16 targets, printed as RESULT
lines: fp32 >= 0.9x cuBLAS at 4096^3; BF16 (mma.sync) >= 0.6x cuBLAS BF16.
Needs a CUDA GPU, a CUDA build of deepcore and CuPy; run by tools/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from deepcore import _C
from deepcore._array import require_cuda
from harness import GpuRounds, banner, check_close

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
TC_CASES = [c for c in CASES if c[0] in ("square", "odd", "batched", "dense fwd")]
PRECISION = {"fp32": "highest", "tf32": "high", "bf16": "medium"}
TOL = {"fp32": 1e-5, "tf32": 1e-3, "bf16": 1e-2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30, help="timed rounds per case")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a few cases (smoke run)")
    ap.add_argument("--precision", default="fp32,tf32,bf16", help="sections to run")
    args = ap.parse_args()
    if os.environ.get("CUPY_TF32"):
        sys.exit("CUPY_TF32 is set: cuBLAS through CuPy would not compute in fp32; unset it")
    cp = require_cuda()
    torch = None
    try:
        import torch as _torch

        if _torch.cuda.is_available():
            torch = _torch
    except ImportError:
        pass
    gpu = GpuRounds(cp)
    banner(
        gpu.describe(),
        f"CuPy {cp.__version__}",
        f"PyTorch {torch.__version__}" if torch else "no CUDA PyTorch: no TF32 / BF16 peers",
        f"deepcore CUDA archs {_C.info().get('cuda_archs')}",
    )
    import deepcore as dc

    before = dc.get_matmul_precision()
    rows = []
    try:
        for prec in args.precision.split(","):
            cases = QUICK if args.quick else (CASES if prec == "fp32" else TC_CASES)
            print(f"---- {prec} (deepcore matmul precision '{PRECISION[prec]}')", flush=True)
            dc.set_matmul_precision(PRECISION[prec])
            for case in cases:
                ratio = run_case(cp, torch, gpu, prec, case, args)
                if ratio is not None:
                    rows.append((prec, case, ratio))
    finally:
        dc.set_matmul_precision(before)

    for prec, (_label, M, N, K, ta, tb, batch), ratio in rows:
        if (M, N, K, ta, tb, batch) != (4096, 4096, 4096, False, False, 1):
            continue
        target = {"fp32": 0.9, "bf16": 0.6}.get(prec)
        verdict = (
            ""
            if target is None
            else f" (target {target}x: {'met' if ratio >= target else 'NOT met'})"
        )
        print(f"RESULT gemm {prec} 4096^3 NN: ours/cuBLAS {prec} {ratio:.3f}x{verdict}")


def run_case(cp, torch, gpu, prec, case, args):
    label, M, N, K, ta, tb, batch = case
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

    def ours():
        if batch > 1:
            _C.matmul(a, b, ta, tb, out=out)
        else:
            _C.sgemm(a, b, trans_a=ta, trans_b=tb, out=out)

    peers = {}
    if prec == "fp32":
        peers["cuBLAS (CuPy)"] = lambda: cp.matmul(op_a, op_b, out=out)
    if torch is not None:
        x, y, o = torch.from_dlpack(op_a), torch.from_dlpack(op_b), torch.from_dlpack(out)
        if prec == "bf16":
            xb, yb = x.to(torch.bfloat16), y.to(torch.bfloat16)
            ob = torch.empty(o.shape, dtype=torch.bfloat16, device=o.device)

            def peer_bf16():
                torch.matmul(xb, yb, out=ob)

            peers["cuBLAS bf16 (torch)"] = peer_bf16
        else:
            tf32 = prec == "tf32"

            def peer_torch():
                torch.backends.cuda.matmul.allow_tf32 = tf32
                torch.matmul(x, y, out=o)

            peers[f"cuBLAS {prec} (torch)"] = peer_torch
    if not peers:
        print(f"{label:10s} {M}x{N}x{K}: no {prec} peer here, skipped")
        return None

    # validate: every library's result against the float64 product (a sample of rows)
    rows = slice(0, min(M, 512))
    a64 = np.swapaxes(a_h, -1, -2) if ta else a_h
    b64 = np.swapaxes(b_h, -1, -2) if tb else b_h
    ref = np.matmul(a64[..., rows, :].astype(np.float64), b64.astype(np.float64))
    for name, fn in [("deepcore", ours), *peers.items()]:
        out.fill(np.nan)
        fn()
        cp.cuda.Device().synchronize()
        got = out if "bf16 (torch)" not in name else cp.from_dlpack(ob.float())
        check_close(got[..., rows, :].get(), ref, TOL[prec], f"{name} {prec} {label} {M}x{N}x{K}")

    fns = [ours, *peers.values()]
    r = gpu.compare(fns, args.reps, args.warmup)
    flops = 2.0 * M * N * K * batch
    line = (
        f"{label:10s} {M:5d}x{N:5d}x{K:5d}{'' if batch == 1 else f' x{batch}':>5s} "
        f"{'T' if ta else 'N'}{'T' if tb else 'N'}  ours {r.median(0) * 1e3:8.3f} ms "
        f"{flops / r.median(0) * 1e-12:6.2f} TFLOP/s"
    )
    for i, name in enumerate(peers, 1):
        line += f" | {name} {r.median(i) * 1e3:8.3f} ms {flops / r.median(i) * 1e-12:6.2f} TFLOP/s"
    ratio = r.ratio(1, 0)  # first peer's time / ours
    line += f" | ours/cuBLAS {ratio:5.3f}x"
    print(line, flush=True)
    return ratio


if __name__ == "__main__":
    main()
