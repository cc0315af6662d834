"""GPU convolution and pooling benchmark: deepcore's CUDA kernels (csrc/cuda/conv.cu, implicit
GEMM; csrc/cuda/pool.cu) vs PyTorch / cuDNN, same run.

    python3 bench/gpu_conv.py [--reps 30] [--quick]

Each case: forward, input gradient and weight gradient of conv2d (fp32; cuDNN with TF32 off, so
both sides compute in fp32), then max and average pooling forward and backward. Every result is
validated first against PyTorch in float64 on the GPU (relative error < 1e-5); then ``--reps``
rounds of ours and cuDNN in turn, each call timed alone with CUDA events after an L2 flush
(bench/harness.py GpuRounds); printed: median times, TFLOP/s (conv) or GB/s (pooling), and the
median of the per-round ratios cuDNN time / ours (> 1: ours faster).
Needs a CUDA GPU, a CUDA build of deepcore, CuPy and a CUDA PyTorch; run by tools/gpu_check.sh.
"""

from __future__ import annotations

import argparse

import numpy as np
from deepcore import _C
from deepcore._array import require_cuda
from harness import GpuRounds, banner, check_close

CONVS = [  # (label, N, C, H, W, K, R, stride, padding, groups)
    ("seed conv1", 256, 1, 28, 28, 32, 3, 1, 0, 1),
    ("seed conv2", 256, 32, 13, 13, 64, 3, 1, 0, 1),
    ("seed conv3", 256, 64, 5, 5, 64, 3, 1, 0, 1),
    ("resnet 3x3", 32, 64, 56, 56, 64, 3, 1, 1, 1),
    ("resnet 3x3/2", 32, 128, 28, 28, 256, 3, 2, 1, 1),
    ("1x1", 32, 256, 14, 14, 1024, 1, 1, 0, 1),
    ("depthwise", 32, 128, 28, 28, 128, 3, 1, 1, 128),
]
POOLS = [("max 2x2", 256, 32, 26, 26, 2), ("max 3x3/2 pad", 32, 64, 112, 112, 3)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cp = require_cuda()
    try:
        import torch
    except ImportError:
        raise SystemExit("bench/gpu_conv.py needs PyTorch (the cuDNN peer)") from None
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu_conv.py needs a CUDA PyTorch (the cuDNN peer)")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    gpu = GpuRounds(cp)
    banner(
        gpu.describe(),
        f"CuPy {cp.__version__}",
        f"PyTorch {torch.__version__}",
        f"cuDNN {torch.backends.cudnn.version()}",
    )

    for case in CONVS[:3] if args.quick else CONVS:
        bench_conv(cp, torch, gpu, case, args)
    for case in POOLS[:1] if args.quick else POOLS:
        bench_pool(cp, torch, gpu, case, args)


def bench_conv(cp, torch, gpu, case, args) -> None:
    F = torch.nn.functional
    label, N, C, H, W, K, R, st, pad, groups = case
    rng = np.random.default_rng(N + C + H + K)
    x = cp.asarray(rng.standard_normal((N, C, H, W), dtype=np.float32))
    w = cp.asarray(rng.standard_normal((K, C // groups, R, R), dtype=np.float32))
    b = cp.asarray(rng.standard_normal(K, dtype=np.float32))
    tx, tw, tb = (torch.from_dlpack(a) for a in (x, w, b))
    y = _C.conv2d_forward(x, w, b, st, pad, 1, groups)
    dy = cp.asarray(rng.standard_normal(y.shape, dtype=np.float32))
    tdy = torch.from_dlpack(dy)

    # validate against PyTorch in float64
    x64, w64, b64, dy64 = (t.double() for t in (tx, tw, tb, tdy))
    y_ref = F.conv2d(x64, w64, b64, st, pad, 1, groups)
    dx_ref = torch.nn.grad.conv2d_input(x64.shape, w64, dy64, st, pad, 1, groups)
    dw_ref = torch.nn.grad.conv2d_weight(x64, w64.shape, dy64, st, pad, 1, groups)
    dx = _C.conv2d_backward_input(dy, w, x.shape, st, pad, 1, groups)
    dw, db = _C.conv2d_backward_weight(x, dy, w.shape, st, pad, 1, groups)
    check_close(
        [y.get(), dx.get(), dw.get(), db.get()],
        [t.cpu().numpy() for t in (y_ref, dx_ref, dw_ref, dy64.sum(dim=(0, 2, 3)))],
        1e-5,
        f"conv {label}",
    )
    flops = 2.0 * N * K * y.shape[2] * y.shape[3] * (C // groups) * R * R
    passes = [
        (
            "fwd",
            lambda: _C.conv2d_forward(x, w, b, st, pad, 1, groups),
            lambda: F.conv2d(tx, tw, tb, st, pad, 1, groups),
        ),
        (
            "dgrad",
            lambda: _C.conv2d_backward_input(dy, w, x.shape, st, pad, 1, groups),
            lambda: torch.nn.grad.conv2d_input(tx.shape, tw, tdy, st, pad, 1, groups),
        ),
        (
            "wgrad",
            lambda: _C.conv2d_backward_weight(x, dy, w.shape, st, pad, 1, groups),
            lambda: (
                torch.nn.grad.conv2d_weight(tx, tw.shape, tdy, st, pad, 1, groups),
                tdy.sum(dim=(0, 2, 3)),
            ),
        ),
    ]
    for name, ours, peer in passes:
        r = gpu.compare([ours, peer], args.reps, args.warmup)
        print(
            f"conv {label:13s} {name:5s} N{N} C{C} {H}x{W} K{K} {R}x{R}/{st} g{groups}: "
            f"ours {r.median(0) * 1e3:8.3f} ms {flops / r.median(0) * 1e-12:6.2f} TFLOP/s | "
            f"cuDNN {r.median(1) * 1e3:8.3f} ms {flops / r.median(1) * 1e-12:6.2f} TFLOP/s | "
            f"ours/cuDNN {r.ratio(1, 0):5.3f}x",
            flush=True,
        )


def bench_pool(cp, torch, gpu, case, args) -> None:
    F = torch.nn.functional
    label, N, C, H, W, k = case
    st, pad = (2, 1) if k == 3 else (k, 0)
    rng = np.random.default_rng(H)
    x = cp.asarray(rng.standard_normal((N, C, H, W), dtype=np.float32))
    tx = torch.from_dlpack(x)
    y, idx = _C.max_pool2d_forward(x, k, st, pad)
    dy = cp.asarray(rng.standard_normal(y.shape, dtype=np.float32))
    tdy = torch.from_dlpack(dy)
    ty, tidx = F.max_pool2d(tx, k, st, pad, return_indices=True)
    check_close(y.get(), ty.cpu().numpy(), 0.0, f"max pool {label}")
    t_dx = torch.ops.aten.max_pool2d_with_indices_backward(tdy, tx, k, st, pad, 1, False, tidx)
    check_close(
        _C.max_pool2d_backward(dy, idx, x.shape).get(),
        t_dx.cpu().numpy(),
        1e-6,
        f"max pool backward {label}",
    )
    moved = 4.0 * (x.size + 2 * y.size)  # x read, y and the index written
    for name, ours, peer in [
        (
            "fwd",
            lambda: _C.max_pool2d_forward(x, k, st, pad),
            lambda: F.max_pool2d(tx, k, st, pad, return_indices=True),
        ),
        (
            "bwd",
            lambda: _C.max_pool2d_backward(dy, idx, x.shape),
            lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                tdy, tx, k, st, pad, 1, False, tidx
            ),
        ),
    ]:
        r = gpu.compare([ours, peer], args.reps, args.warmup)
        print(
            f"pool {label:13s} {name:5s} N{N} C{C} {H}x{W}: "
            f"ours {r.median(0) * 1e3:8.3f} ms {moved / r.median(0) * 1e-9:7.1f} GB/s | "
            f"PyTorch {r.median(1) * 1e3:8.3f} ms {moved / r.median(1) * 1e-9:7.1f} GB/s | "
            f"ours/PyTorch {r.ratio(1, 0):5.3f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
