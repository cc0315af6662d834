"""Attention benchmark: deepcore's fused scaled dot-product attention vs PyTorch's CPU flash
kernel, same run, float32.

    python3 bench/attention.py [--threads 2] [--pairs 5] [--only 0 2] [--skip-memory]

Shapes are (B, H, L, D) self-attention, causal and not. For each: validate ours against torch
(output, dq, dk, dv), warm up both, then time ours and torch alternately (A B A B ...): the
forward, and forward + backward (dq, dk, dv from a given dO). Both sides are called at the
kernel level (ours: deepcore.kernels.attention_forward / _backward; torch:
aten._scaled_dot_product_flash_attention_for_cpu and its _backward), so neither pays for an
autograd engine. Reported: median ms and GFLOP/s of each (4 B H L^2 D multiply-adds x2 for the
forward's two products, 2.5x that again for backward's five, halved when causal), the median
of per-pair ratios torch_time / our_time (> 1: ours faster), and our causal time over our
non-causal time. Our SGEMM's rate on a square product is printed beside for scale.

Then: the fused path against our own unfused one (scores materialised with deepcore's matmul
and softmax through autograd, what a model without the fused kernel would run) at L = 1024,
and the peak resident memory a forward + backward adds at growing L (a fresh process per
measurement, so an earlier peak cannot hide a later one), beside the size of one L x L matrix.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import textwrap

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import torch
from deepcore.nn.functional._attention import _sdpa_materialized
from harness import alternate, banner, check_close, paired
from peer import Peer, add_peer_argument

K = dc.kernels
aten = torch.ops.aten

SHAPES = [(8, 8, 256, 64), (4, 8, 1024, 64), (1, 8, 4096, 64)]


def attention_flops(B, H, L, D, causal):
    f = 4.0 * B * H * L * L * D
    return f / 2 if causal else f


def run(shape, causal, args, peer) -> dict:
    B, H, L, D = shape
    rng = np.random.default_rng(0)
    q, k, v, go = (rng.standard_normal((B, H, L, D)).astype(np.float32) for _ in range(4))
    tq, tk, tv, tgo = (torch.from_numpy(a) for a in (q, k, v, go))

    def ours_fwd():
        return K.attention_forward(q, k, v, None, causal)

    def ours_fb():
        o, lse = K.attention_forward(q, k, v, None, causal)
        return (o, *K.attention_backward(go, q, k, v, o, lse, None, causal))

    def torch_fwd():
        return aten._scaled_dot_product_flash_attention_for_cpu(tq, tk, tv, 0.0, causal)

    def torch_fb():
        o, lse = aten._scaled_dot_product_flash_attention_for_cpu(tq, tk, tv, 0.0, causal)
        g = aten._scaled_dot_product_flash_attention_for_cpu_backward(
            tgo, tq, tk, tv, o, lse, 0.0, causal
        )
        return (o, *g)

    torch_fwd, torch_fb = peer.fn(torch_fwd), peer.fn(torch_fb)
    check_close(list(ours_fb()), list(torch_fb()), 1e-4, f"{shape} causal={causal} o, dq, dk, dv")

    f = attention_flops(B, H, L, D, causal)
    out = {}
    for name, ours, theirs, flops in [
        ("fwd", ours_fwd, torch_fwd, f),
        ("fb", ours_fb, torch_fb, 3.5 * f),
    ]:
        r = paired(ours, theirs, args.pairs, gap=args.gap, warmup=1, target=0.2)
        out[name] = (statistics.median(r.ours), statistics.median(r.peer), r.speedup, flops)
    return out


def sgemm_rate(threads: int) -> float:
    """Our SGEMM's GFLOP/s on a 1024^3 product, through the harness (the CPU time with one
    thread, see [Note: bench protocol])."""
    n = 1024
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    r = alternate(lambda: K.sgemm(a, b, out=c), rounds=5, warmup=1, target=0.2)
    return 2.0 * n**3 / r.median(0, cpu=threads == 1) / 1e9


def fused_vs_unfused(args) -> None:
    B, H, L, D = 4, 8, 1024, 64
    print(f"\n## Fused vs our unfused (materialised) path, (B, H, L, D) = {(B, H, L, D)}, float32")
    print("| causal | pass | fused ms | unfused ms | unfused/fused |")
    print("|---|---|---:|---:|---:|")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((B, H, L, D)).astype(np.float32) for _ in range(4)]
    go = dc.tensor(arrays[3])

    def step(fn, backward, causal):
        ts = [dc.tensor(a, requires_grad=backward) for a in arrays[:3]]
        if not backward:
            with dc.no_grad():
                return fn(ts, causal)
        out = fn(ts, causal)
        (out * go).sum().backward()
        return [t.grad.numpy() for t in ts]

    def fused(ts, c):
        return F.scaled_dot_product_attention(*ts, is_causal=c)

    def unfused(ts, c):
        return _sdpa_materialized(*ts, is_causal=c)[0]

    for causal in (False, True):
        check_close(
            step(fused, True, causal), step(unfused, True, causal), 1e-4, "fused vs unfused"
        )
        for name, bw in (("fwd", False), ("fwd+bwd", True)):
            r = paired(
                functools.partial(step, fused, bw, causal),
                functools.partial(step, unfused, bw, causal),
                args.pairs,
                gap=args.gap,
                warmup=1,
                target=0.2,
            )
            print(
                f"| {causal} | {name} | {r.ours_median * 1e3:.1f} | {r.peer_median * 1e3:.1f} "
                f"| {r.speedup:.2f} |",
                flush=True,
            )


_MEMORY = textwrap.dedent(
    """
    import sys
    import numpy as np
    impl, L, D, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    # float32 straight from the generator: no float64 temporaries whose freed pages the step
    # could reuse unseen
    q, k, v, go = (rng.standard_normal((1, 1, L, D), dtype=np.float32) for _ in range(4))
    if impl == "ours":
        import deepcore as dc
        dc.kernels.set_num_threads(threads)
        K = dc.kernels
        def step(q, k, v, go):
            o, lse = K.attention_forward(q, k, v)
            K.attention_backward(go, q, k, v, o, lse)
    else:
        import torch
        torch.set_num_threads(threads)
        aten = torch.ops.aten
        q, k, v, go = (torch.from_numpy(a) for a in (q, k, v, go))
        def step(q, k, v, go):
            o, lse = aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)
            aten._scaled_dot_product_flash_attention_for_cpu_backward(
                go, q, k, v, o, lse, 0.0, False)
    step(*(a[:, :, :128] for a in (q, k, v, go)))  # warm up: thread pools, scratch
    # the peak is reset to the current resident size first, so the imports' higher transient
    # peak cannot hide the step's growth (ru_maxrss alone reported 0.0 MiB for both sides)
    from deepcore.testing import peak_rss_growth
    print(peak_rss_growth(lambda: step(q, k, v, go)))
    """
)


def memory(args) -> None:
    D = 64
    print(f"\n## Peak resident memory added by one forward + backward, (1, 1, L, {D}) float32")
    print("| L | one L x L matrix MiB | ours MiB | torch MiB | q, k, v, o, dq, dk, dv, dO MiB |")
    print("|---:|---:|---:|---:|---:|")
    for L in (1024, 4096, 8192, 16384):
        grown = {}
        for impl in ("ours", "torch"):
            res = subprocess.run(
                [sys.executable, "-c", _MEMORY, impl, str(L), str(D), str(args.threads)],
                capture_output=True,
                text=True,
                check=True,
            )
            grown[impl] = int(res.stdout.split()[-1]) / 2**20
        print(
            f"| {L} | {L * L * 4 / 2**20:.0f} | {grown['ours']:.1f} | {grown['torch']:.1f} "
            f"| {8 * L * D * 4 / 2**20:.1f} |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("--capability", default=None)
    ap.add_argument("--only", type=int, nargs="*", help="indices into SHAPES")
    ap.add_argument("--skip-unfused", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    add_peer_argument(ap)
    args = ap.parse_args()
    K.set_num_threads(args.threads)
    peer = Peer(args.threads, args.peer_in_process)
    if args.capability:
        K.set_cpu_capability(args.capability)
    banner(peer.describe(), f"pairs={args.pairs}")
    print(f"# our SGEMM 1024^3: {sgemm_rate(args.threads):.1f} GFLOP/s")
    print(
        "| (B, H, L, D) | causal | fwd ours ms | GFLOP/s | torch ms | GFLOP/s | torch/ours "
        "| fwd+bwd ours ms | GFLOP/s | torch ms | GFLOP/s | torch/ours | causal/non-causal "
        "fwd, fwd+bwd (ours) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    shapes = SHAPES if not args.only else [SHAPES[i] for i in args.only]
    for shape in shapes:
        base = None
        for causal in (False, True):
            r = run(shape, causal, args, peer)
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
            if causal:
                cells.append(
                    f"{r['fwd'][0] / base['fwd'][0]:.2f}, {r['fb'][0] / base['fb'][0]:.2f}"
                )
            else:
                base = r
                cells.append("")
            print(f"| {shape} | {causal} | " + " | ".join(cells) + " |", flush=True)
    peer.close()
    if not args.skip_unfused:
        fused_vs_unfused(args)
    if not args.skip_memory:
        memory(args)


if __name__ == "__main__":
    main()
