"""End-to-end GPU training benchmark: the seed Keras convnet on MNIST, deepcore on "cuda" vs
PyTorch on the same GPU, same run.

    python3 bench/gpu_train_convnet.py [--data DIR] [--epochs 5] [--batch-size 64]

The model, data, optimizer and weight copy are bench/train_convnet.py's (the CPU benchmark):
the seed convnet (93,322 parameters), RMSprop lr 1e-3, rho 0.9, eps 1e-7 outside the square
root on both sides, the first 8,000 MNIST test images to train and the last 2,000 to test
(random images of that shape where MNIST is not at hand, said so in the output), both models
from the same weights. Here ours is moved with ``model.to("cuda")`` and trained through
``model.fit`` on the host arrays (fit moves each batch to the GPU), PyTorch's net with
``.cuda()`` in a plain loop that moves each batch the same way; cuDNN with TF32 off and
deepcore's matmul precision "highest", so both compute in fp32.
Protocol: validate (same weights -> same softmax outputs on the GPU, relative error < 1e-4),
warm up both on throwaway copies, then alternate whole epochs ours / PyTorch, each timed with
CUDA events around the epoch (bench/harness.py GpuRounds); reports images/s, the median of the
per-epoch ratios, both test accuracies, and the issue-16 target (>= 1.0x PyTorch).
Needs a CUDA GPU, a CUDA build of deepcore with the kernels of every layer, CuPy and a CUDA
PyTorch; run by tools/gpu_check.sh.
"""

from __future__ import annotations

import argparse

import numpy as np
from deepcore._array import require_cuda
from deepcore.utils import to_categorical
from harness import GpuRounds, banner, check_close
from train_convnet import build_ours, build_torch, load, ours_accuracy, ours_epoch


def torch_epoch(net, opt, x, y, batch_size: int, rng: np.random.Generator) -> None:
    """One epoch of a plain PyTorch loop; each batch copied to the GPU, as fit does for ours."""
    import torch
    import torch.nn.functional as F

    net.train()
    order = torch.from_numpy(rng.permutation(len(x)))
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        xb, yb = x[idx].cuda(), y[idx].cuda()
        opt.zero_grad()
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()


def torch_accuracy(net, x, y) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        return float((net(x.cuda()).argmax(1).cpu() == y).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="directory with t10k-*-ubyte(.gz)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cp = require_cuda()
    import deepcore as dc
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu_train_convnet.py needs a CUDA PyTorch")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    dc.set_matmul_precision("highest")
    gpu = GpuRounds(cp)
    banner(gpu.describe(), f"CuPy {cp.__version__}", f"PyTorch {torch.__version__}")

    try:
        xtr, ytr, xte, yte = load(args.data, args.n_train)
    except SystemExit as e:  # no MNIST on this machine: the same shapes, random pixels
        print(f"{e}; timing on random images of MNIST's shape (accuracies meaningless)")
        rng = np.random.default_rng(args.seed)
        xtr, xte = (rng.random((n, 28, 28, 1), dtype=np.float32) for n in (args.n_train, 2000))
        ytr, yte = rng.integers(0, 10, args.n_train), rng.integers(0, 10, 2000)
    y1h = to_categorical(ytr, 10)
    xtr_t = torch.from_numpy(np.ascontiguousarray(xtr.transpose(0, 3, 1, 2)))
    xte_t = torch.from_numpy(np.ascontiguousarray(xte.transpose(0, 3, 1, 2)))
    ytr_t, yte_t = torch.from_numpy(ytr), torch.from_numpy(yte)
    print(f"data: {len(xtr)} train / {len(xte)} test images, batch {args.batch_size}")

    def pair(seed):
        model = build_ours(seed)
        model.predict(xtr[:1], verbose=0)  # builds the weights
        net, opt = build_torch(model)  # same weights
        return model.to("cuda"), net.cuda(), opt

    # warm up both on throwaway copies (module loads, cuDNN autotuning, CuPy's pool)
    warm, wnet, wopt = pair(args.seed + 1)
    n_warm = 8 * args.batch_size
    ours_epoch(warm, xtr[:n_warm], y1h[:n_warm], args.batch_size)
    torch_epoch(wnet, wopt, xtr_t[:n_warm], ytr_t[:n_warm], args.batch_size,
                np.random.default_rng(0))  # fmt: skip

    model, net, opt = pair(args.seed)
    p_ours = np.asarray(model.predict(xtr[:64], batch_size=64, verbose=0), np.float64)
    with torch.no_grad():
        p_torch = torch.softmax(net(xtr_t[:64].cuda()), 1).double().cpu().numpy()
    err = check_close(p_ours, p_torch, 1e-4, "softmax outputs from the same weights on the GPU")
    print(f"validation: relative error of softmax(ours) vs softmax(torch) {err:.2e}")

    rng = np.random.default_rng(args.seed)
    n = len(xtr)
    r = gpu.compare(
        [
            lambda: ours_epoch(model, xtr, y1h, args.batch_size),
            lambda: torch_epoch(net, opt, xtr_t, ytr_t, args.batch_size, rng),
        ],
        reps=args.epochs,
        warmup=0,
    )
    for e, (to, tt) in enumerate(zip(*r.wall), 1):
        print(f"epoch {e}: ours {n / to:8.0f} images/s | PyTorch {n / tt:8.0f} images/s | "
              f"ratio {tt / to:.2f}")  # fmt: skip
    acc_ours, acc_torch = ours_accuracy(model, xte, yte), torch_accuracy(net, xte_t, yte_t)
    ratio = r.ratio(1, 0)
    print(f"train images/s (median of {args.epochs} epochs): ours {n / r.median(0):.0f}, "
          f"PyTorch {n / r.median(1):.0f}; test accuracy ours {acc_ours:.4f}, "
          f"PyTorch {acc_torch:.4f}")  # fmt: skip
    print(f"RESULT seed convnet training on the GPU: ours/PyTorch {ratio:.3f}x "
          f"(target 1.0x: {'met' if ratio >= 1.0 else 'NOT met'})")  # fmt: skip


if __name__ == "__main__":
    main()
