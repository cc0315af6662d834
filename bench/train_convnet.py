"""End-to-end training benchmark: the seed Keras convnet on MNIST, deepcore vs PyTorch (CPU).

    python bench/train_convnet.py [--data DIR] [--epochs 5] [--profile]

The seed convnet (Conv2D 32-MaxPool-Conv2D 64-MaxPool-Conv2D 64-Flatten-Dense 64-Dense 10,
93,322 parameters) trained with RMSprop (lr 0.001), batch 64, on the first 8,000 images of the
MNIST 10k test set (``--data`` / $DEEPCORE_DATA / ../shared/data/mnist), tested on the last
2,000. Both frameworks start from the same weights (ours copied into PyTorch) and use the same
optimizer: v = 0.9·v + 0.1·g², w -= lr·g / (sqrt(v) + 1e-7). Keras's RMSprop puts epsilon
*inside* the square root; PyTorch's outside, so ours runs in PyTorch's convention here
(``eps_inside_sqrt=False``) and PyTorch gets Keras's rho/epsilon (alpha=0.9, eps=1e-7).

Protocol (bench/harness.py, [Note: bench protocol]): validate (same weights -> same forward
output), warm up both on a throwaway copy, then alternate training epochs ours / PyTorch
(A B A B ...), each epoch timed whole
(shuffling, batching, forward, backward, update; ours through ``model.fit`` as a user runs it).
Reports images/s per epoch, the median of the per-epoch ratios, and both test accuracies.
``--profile`` adds a cProfile of one more epoch of ours (on a fresh model) with the share of time
spent inside native ``deepcore._C`` calls vs NumPy vs Python.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

import deepcore as dc
import numpy as np
from deepcore import optim
from deepcore.datasets import mnist
from deepcore.models import zoo
from deepcore.utils import scale_to_unit, to_categorical
from harness import alternate, banner, check_close
from peer import Peer, add_peer_argument

REPO = Path(__file__).resolve().parent.parent  # only to find ../shared/data/mnist

LR, RHO, EPS = 1e-3, 0.9, 1e-7


def load(arg: str | None, n_train: int):
    """The 10k MNIST test set from --data, $DEEPCORE_DATA or ../shared/data/mnist, split."""
    env = os.environ.get("DEEPCORE_DATA")
    candidates = [arg] if arg else [env, REPO.parent / "shared/data/mnist",
                                    REPO.parent.parent / "shared/data/mnist"]  # fmt: skip
    for cand in filter(None, candidates):
        try:
            split = mnist.load_test_split(cand, n_train=n_train, download=False)
            break
        except mnist.MnistNotFoundError:
            continue
    else:
        sys.exit(
            f"MNIST test files not found in {candidates}: pass --data DIR or set DEEPCORE_DATA"
        )
    (xtr, ytr), (xte, yte) = split
    prep = lambda x: scale_to_unit(x)[..., None]  # noqa: E731  (N, 28, 28, 1) float32 in [0,1]
    return prep(xtr), ytr.astype(np.int64), prep(xte), yte.astype(np.int64)


# ---------------------------------------------------------------------------------- deepcore
def build_ours(seed: int):
    dc.manual_seed(seed)
    model = zoo.seed_convnet()
    opt = optim.RMSprop(learning_rate=LR, rho=RHO, epsilon=EPS, eps_inside_sqrt=False)
    model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def ours_epoch(model, x, y1h, batch_size: int) -> None:
    """One epoch of model.fit, as a user runs it."""
    model.fit(x, y1h, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)


def ours_accuracy(model, x, y) -> float:
    return float(
        (np.argmax(np.asarray(model.predict(x, batch_size=500, verbose=0)), 1) == y).mean()
    )


# ---------------------------------------------------------------------------------- PyTorch
def build_torch(ours_model):
    import torch
    from torch import nn

    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip
    copy_weights(ours_model, net)
    opt = torch.optim.RMSprop(net.parameters(), lr=LR, alpha=RHO, eps=EPS)
    return net, opt


def copy_weights(ours_model, net) -> None:
    """Ours -> PyTorch. Conv kernels are stored as PyTorch's (K,C,R,S); Dense kernels as Keras's
    (in, out), transposed here to PyTorch's (out, in). The first Dense after Flatten also needs
    its input columns reordered: ours flattens the channels-last (H, W, C) map as Keras does,
    PyTorch flattens (C, H, W)."""
    import torch

    ours = [np.asarray(p.numpy()) for p in ours_model.parameters()]
    theirs = [p for p in net.parameters()]
    ours = [
        a.T if a.ndim == 2 and a.shape[::-1] == tuple(p.shape) != a.shape else a
        for a, p in zip(ours, theirs)
    ]
    assert [a.shape for a in ours] == [tuple(p.shape) for p in theirs], (
        [a.shape for a in ours],
        [tuple(p.shape) for p in theirs],
    )
    dense1 = 6  # conv w,b x3, then the first Dense kernel
    w = ours[dense1]
    ours[dense1] = w.reshape(64, 3, 3, 64).transpose(0, 3, 1, 2).reshape(64, 576)
    with torch.no_grad():
        for a, p in zip(ours, theirs):
            p.copy_(torch.from_numpy(np.ascontiguousarray(a)))


def torch_epoch(net, opt, x, y, batch_size: int, rng: np.random.Generator) -> None:
    import torch
    import torch.nn.functional as F

    net.train()
    order = torch.from_numpy(rng.permutation(len(x)))
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        opt.zero_grad()
        loss = F.cross_entropy(net(x[idx]), y[idx])
        loss.backward()
        opt.step()


def torch_accuracy(net, x, y) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


# ---------------------------------------------------------------------------------- checks
def validate(model, net, x, y) -> float:
    """Same weights -> same predictions (ours ends in softmax, PyTorch in logits)."""
    import torch

    p_ours = np.asarray(model.predict(x[:64], batch_size=64, verbose=0), dtype=np.float64)
    with torch.no_grad():
        p_torch = torch.softmax(net(torch.from_numpy(x[:64].transpose(0, 3, 1, 2))), 1).numpy()
    return check_close(p_ours, p_torch, 1e-4, "softmax outputs from the same weights")


def profile_epoch(x, y1h, batch_size: int, seed: int, top: int) -> str:
    model = build_ours(seed)
    ours_epoch(model, x[: batch_size * 4], y1h[: batch_size * 4], batch_size)  # build + warm up
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    model.fit(x, y1h, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
    prof.disable()
    wall = time.perf_counter() - t
    st = pstats.Stats(prof)
    native = numpy_t = other_builtin = python = 0.0
    rows = []
    for (file, line, name), (_cc, nc, tt, ct, _callers) in st.stats.items():
        if file == "~":  # a C function: classify by what it belongs to
            if "deepcore._C" in name or "_C." in name:
                native += tt
            elif "numpy" in name or "ndarray" in name:
                numpy_t += tt
            else:
                other_builtin += tt
        else:
            python += tt
        rows.append((tt, nc, ct, f"{Path(file).name}:{line}({name})" if file != "~" else name))
    total = native + numpy_t + other_builtin + python
    rows.sort(reverse=True)
    steps = -(-len(x) // batch_size)
    out = [
        f"one epoch under cProfile: {wall:.2f} s wall ({len(x) / wall:.0f} images/s with "
        f"profiling overhead), {steps} steps, {1e3 * wall / steps:.2f} ms/step",
        f"time by kind (tottime): native deepcore._C {100 * native / total:.1f}% | "
        f"NumPy C calls {100 * numpy_t / total:.1f}% | other builtins "
        f"{100 * other_builtin / total:.1f}% | Python code {100 * python / total:.1f}%",
        "",
        "| tottime s | calls | cumtime s | function |",
        "|---:|---:|---:|---|",
    ]
    out += [f"| {tt:.3f} | {nc} | {ct:.3f} | `{name}` |" for tt, nc, ct, name in rows[:top]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="directory with t10k-*-ubyte(.gz)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="cProfile one extra epoch of ours")
    ap.add_argument("--top", type=int, default=25, help="rows of the profile table")
    ap.add_argument("--threads", type=int, help="threads for both (default: each one's own)")
    add_peer_argument(ap)
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        dc.kernels.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    peer = Peer(args.threads or torch.get_num_threads(), args.peer_in_process)

    xtr, ytr, xte, yte = load(args.data, args.n_train)
    y1h = to_categorical(ytr, 10)
    xtr_t = torch.from_numpy(np.ascontiguousarray(xtr.transpose(0, 3, 1, 2)))
    xte_t = torch.from_numpy(np.ascontiguousarray(xte.transpose(0, 3, 1, 2)))
    ytr_t, yte_t = torch.from_numpy(ytr), torch.from_numpy(yte)

    banner(peer.describe())
    print(
        f"data: {len(xtr)} train / {len(xte)} test images, batch {args.batch_size}, "
        f"RMSprop lr {LR} rho {RHO} eps {EPS} (outside sqrt)"
    )

    # warm up both on throwaway copies (first-call costs: allocations, thread pools, builds)
    warm = build_ours(args.seed + 1)
    wnet, wopt = build_torch(warm)
    n_warm = 8 * args.batch_size
    ours_epoch(warm, xtr[:n_warm], y1h[:n_warm], args.batch_size)

    model = build_ours(args.seed)
    model.predict(xtr[:1], verbose=0)  # builds the weights
    net, opt = build_torch(model)
    err = validate(model, net, xtr, ytr)
    print(f"validation: same weights, relative error of softmax(ours) vs softmax(torch) {err:.2e}")

    rng = np.random.default_rng(args.seed)
    n = len(xtr)
    # the peer's model, optimizer and data travel together (one pickle keeps them shared)
    peer_warm, peer_epoch, peer_accuracy = peer.fns(
        lambda: torch_epoch(wnet, wopt, xtr_t[:n_warm], ytr_t[:n_warm], args.batch_size,
                            np.random.default_rng(0)),
        lambda: torch_epoch(net, opt, xtr_t, ytr_t, args.batch_size, rng),
        lambda: torch_accuracy(net, xte_t, yte_t),
    )  # fmt: skip
    peer_warm()

    def report(r) -> None:
        (to, tt), (co, ct) = [w[-1] for w in r.wall], [c[-1] for c in r.cpu]
        print(f"epoch {len(r.wall[0])}: ours {n / to:7.0f} images/s | torch {n / tt:7.0f} "
              f"images/s | ratio {tt / to:.2f} | CPU-time ratio {ct / co:.2f}",
              flush=True)  # fmt: skip

    r = alternate(
        lambda: ours_epoch(model, xtr, y1h, args.batch_size),
        peer_epoch,
        rounds=args.epochs, reps=1, warmup=0, after_round=report,
    )  # fmt: skip
    acc_ours, acc_torch = ours_accuracy(model, xte, yte), peer_accuracy()
    peer.close()
    print()
    print("| | deepcore | PyTorch | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| train images/s (median of {args.epochs} epochs) | {n / r.median(0):.0f} | "
        f"{n / r.median(1):.0f} | {r.ratio(1, 0):.2f}x (median per-epoch ratio) |"
    )
    print(
        f"| CPU seconds per epoch (process; robust on a busy machine) | "
        f"{r.median(0, cpu=True):.3f} | {r.median(1, cpu=True):.3f} | "
        f"{r.ratio(1, 0, cpu=True):.2f}x |"
    )
    print(f"| test accuracy after {args.epochs} epochs (last {len(xte)}) | {acc_ours:.4f} | "
          f"{acc_torch:.4f} | {100 * (acc_ours - acc_torch):+.2f} points |")  # fmt: skip
    if args.profile:
        print()
        print(profile_epoch(xtr, y1h, args.batch_size, args.seed, args.top))


if __name__ == "__main__":
    main()
