"""Optimizer step benchmark: deepcore.optim vs torch.optim on the CPU, same run.

    python3 bench/optim.py [--threads 2] [--pairs 7] [--quick]

Each case is an optimizer and a parameter layout (one 1M or 10M-element tensor, the seed
convnet's ten tensors, many small tensors). It first validates ours against torch over three
steps with identical hyperparameters (eps placement matched: eps_inside_sqrt=False), then warms
up and times ours and each torch variant alternately (A B A B ..., bench/harness.py's
[Note: bench protocol]), reporting the median step
time, the effective memory bandwidth (bytes the update must move / time) and the median of the
per-pair ratios torch_time / our_time (> 1: ours is faster); with --threads 1 also the ratio of
CPU times of the calling thread, which a busy shared machine disturbs much less than wall time.
Torch peers: its default CPU path (the single-tensor loop) and, where torch has one, its fused
CPU kernel (fused=True); the ratio against "torch best" uses whichever is faster in each pair.
A second table times our kernel per CPU variant (generic / avx2 / avx512) for Adam on 10M.
"""

from __future__ import annotations

import argparse

import deepcore as dc
import deepcore.optim as optim
import numpy as np
import torch
from harness import alternate, banner, check_close
from peer import Peer, add_peer_argument

# bytes moved per float32 parameter per step: reads (p, g, state...) + writes (p, state...)
BYTES = {
    "sgd_momentum": 4 * (3 + 2),
    "rmsprop": 4 * (3 + 2),
    "adam": 4 * (4 + 3),
    "nadam": 4 * (4 + 3),
}

LAYOUTS = {
    "1M x1": [(1_000_000,)],
    "10M x1": [(10_000_000,)],
    "convnet (93k, 10 tensors)": [
        (32, 1, 3, 3),
        (32,),
        (64, 32, 3, 3),
        (64,),
        (64, 64, 3, 3),
        (64,),
        (576, 64),
        (64,),
        (64, 10),
        (10,),
    ],
    "200 x 5k": [(5_000,)] * 200,
}


def make(name: str, ours_params, torch_params, fused: bool):
    kw_t: dict = {}
    if fused:
        kw_t["fused"] = True
    if name == "sgd_momentum":
        return (
            optim.SGD(ours_params, lr=0.01, momentum=0.9),
            torch.optim.SGD(torch_params, lr=0.01, momentum=0.9, **kw_t),
        )
    if name == "rmsprop":
        return (
            optim.RMSprop(ours_params, lr=1e-3, alpha=0.9, eps=1e-7, eps_inside_sqrt=False),
            torch.optim.RMSprop(torch_params, lr=1e-3, alpha=0.9, eps=1e-7, **kw_t),
        )
    if name == "adam":
        return (
            optim.Adam(ours_params, lr=1e-3, eps=1e-8),
            torch.optim.Adam(torch_params, lr=1e-3, eps=1e-8, **kw_t),
        )
    if name == "nadam":
        return (
            optim.Nadam(ours_params, lr=1e-3, eps=1e-8),
            torch.optim.NAdam(torch_params, lr=1e-3, eps=1e-8, **kw_t),
        )
    raise ValueError(name)


def supports_fused(name: str) -> bool:
    p = [torch.zeros(4, requires_grad=True)]
    try:
        make(name, [dc.tensor(np.zeros(4, np.float32), requires_grad=True)], p, True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def setup(name: str, shapes, fused: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours = [dc.tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad = dc.tensor(g)
        tp.grad = torch.from_numpy(g.copy())
    o, t = make(name, ours, theirs, fused)
    return ours, theirs, o, t


def validate(name: str, shapes) -> float:
    ours, theirs, o, t = setup(name, shapes, False)
    for _ in range(3):
        o.step()
        t.step()
    return check_close(
        [p.data for p in ours], [tp.detach().numpy() for tp in theirs], 1e-5, f"{name} 3 steps"
    )


def peer_steps(peer: Peer, params, opt) -> list:
    """``opt.step`` as a function of the peer. A pickled tensor leaves its ``.grad`` behind, so
    the gradients travel beside the parameters and are put back on the first call."""
    grads = [p.grad for p in params]

    def step() -> None:
        if params[0].grad is None:
            for p, g in zip(params, grads):
                p.grad = g
        opt.step()

    return peer.fns(step)


def reps_for(n_elems: int) -> int:
    return max(3, min(200, int(3e7 // max(n_elems, 1))))


def bench_case(name: str, label: str, shapes, pairs: int, fused_ok: bool, peer: Peer) -> dict:
    n = sum(int(np.prod(s)) for s in shapes)
    validate(name, shapes)
    _, theirs, o, t = setup(name, shapes, False)
    steps = [o.step, *peer_steps(peer, theirs, t)]
    if fused_ok:
        _, theirs_f, _, t_f = setup(name, shapes, True)
        steps += peer_steps(peer, theirs_f, t_f)
    reps = reps_for(n)
    # warm-up: first touch of the state, caches, threads; one thread: this thread's CPU time
    r = alternate(*steps, rounds=pairs, reps=reps, warmup=max(2, reps // 4), cpu="thread")
    best = [min(ts) for ts in zip(*r.wall[1:])]  # torch's faster variant in each round
    best_cpu = [min(ts) for ts in zip(*r.cpu[1:])]
    return dict(
        opt=name,
        layout=label,
        n=n,
        ours=r.median(0),
        torch=r.median(1),
        fused=r.median(2) if fused_ok else None,
        ratio=float(np.median([b / a for a, b in zip(r.wall[0], best)])),
        cpu_ratio=float(np.median([b / max(a, 1e-9) for a, b in zip(r.cpu[0], best_cpu)])),
        gbs=BYTES[name] * n / r.median(0) / 1e9,
    )


def isa_table(pairs: int) -> list[tuple[str, float, float]]:
    prev = dc.kernels.get_cpu_capability()
    order = ["generic", "avx2", "avx512"]
    best = dc.kernels.info()["cpu_capability_supported"]
    caps = order[: order.index(best) + 1]
    _, _, o, _ = setup("adam", LAYOUTS["10M x1"], False)
    n = 10_000_000

    def step_with(cap: str):
        def step() -> None:
            dc.kernels.set_cpu_capability(cap)
            o.step()

        return step

    try:  # interleaved: c1 c2 c3 c1 c2 c3 ...
        r = alternate(*[step_with(c) for c in caps], rounds=pairs, reps=5, warmup=1)
    finally:
        dc.kernels.set_cpu_capability(prev)
    return [(c, r.median(i), BYTES["adam"] * n / r.median(i) / 1e9) for i, c in enumerate(caps)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="fewer cases (smoke run)")
    add_peer_argument(ap)
    args = ap.parse_args()
    dc.kernels.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)  # this process's torch validates
    peer = Peer(args.threads, args.peer_in_process)
    banner(
        peer.describe(),
        f"float32; median of {args.pairs} A/B pairs",
    )
    names = ["sgd_momentum", "rmsprop", "adam", "nadam"]
    layouts = list(LAYOUTS.items())
    if args.quick:
        names, layouts = ["adam"], [layouts[0], layouts[2]]
    one = args.threads == 1  # CPU-time ratios are meaningful only with one thread each
    hdr = (
        f"{'optimizer':<13} {'layout':<26} {'ours ms':>9} {'GB/s':>6} {'torch ms':>9} "
        f"{'fused ms':>9} {'torch best/ours':>15}" + (f" {'(CPU time)':>10}" if one else "")
    )
    print(hdr)
    print("-" * len(hdr))
    for name in names:
        fused_ok = supports_fused(name)
        for label, shapes in layouts:
            r = bench_case(name, label, shapes, args.pairs, fused_ok, peer)
            fused = f"{r['fused'] * 1e3:9.3f}" if r["fused"] is not None else f"{'n/a':>9}"
            print(
                f"{name:<13} {label:<26} {r['ours'] * 1e3:9.3f} {r['gbs']:6.1f} "
                f"{r['torch'] * 1e3:9.3f} {fused} {r['ratio']:14.2f}x"
                + (f" {r['cpu_ratio']:9.2f}x" if one else ""),
                flush=True,
            )
    peer.close()
    print("\nour Adam step on one 10M float32 tensor, per CPU variant:")
    for cap, t, gbs in isa_table(args.pairs):
        print(f"  {cap:<8} {t * 1e3:8.3f} ms  {gbs:6.1f} GB/s")


if __name__ == "__main__":
    main()
