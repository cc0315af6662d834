"""Native tensor ops of issue 14 vs PyTorch CPU, same run: interpolation, transposed
convolution, cumulative scans, gather / scatter, 3-D convolution and pooling.

    python3 bench/ops.py [--threads 1] [--pairs 7] [--only interp scan vol] [--match cummax]

Each case runs the public op (deepcore's F.* / dc.* and torch's), float32, forward alone and
forward + backward (a fresh graph per call, backward of a fixed cotangent). Results are
validated against each other first, then ours and torch are timed alternately (bench/harness.py's
[Note: bench protocol]); reported: medians and the median of per-pair ratios torch / ours
(> 1: ours faster). With --threads 1 the times and ratios are process CPU time, which a busy
machine disturbs less than wall time. PyTorch runs in its own process (bench/peer.py,
[Note: peer process]); --peer-in-process times it in this one, after ``import deepcore``.
"""

from __future__ import annotations

import argparse

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import torch
from harness import banner, check_close, paired
from peer import Peer, add_peer_argument

TF = torch.nn.functional


def cases(group: str):
    """(name, make() -> (ours_fwd, torch_fwd, x_ours, x_torch))"""
    rng = np.random.default_rng(0)
    out = []
    if group == "interp":
        x = rng.standard_normal((16, 32, 64, 64)).astype(np.float32)
        for name, kw in [
            ("interpolate nearest x2 (16,32,64,64)", dict(scale_factor=2, mode="nearest")),
            (
                "interpolate bilinear ->(128,128)",
                dict(size=(128, 128), mode="bilinear", align_corners=False),
            ),
            (
                "interpolate bilinear align ->(97,131)",
                dict(size=(97, 131), mode="bilinear", align_corners=True),
            ),
        ]:
            out.append(
                (
                    name,
                    [x],
                    lambda a, kw=kw: F.interpolate(a, **kw),
                    lambda a, kw=kw: TF.interpolate(a, **kw),
                )
            )
    if group == "convt":
        x = rng.standard_normal((16, 64, 28, 28)).astype(np.float32)
        w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32) * 0.1
        b = rng.standard_normal(32).astype(np.float32)
        out.append(
            (
                "conv_transpose2d 64->32 3x3/2 (16,64,28,28)",
                [x, w, b],
                lambda a, v, c: F.conv_transpose2d(a, v, c, 2, 1, 1),
                lambda a, v, c: TF.conv_transpose2d(a, v, c, 2, 1, 1),
            )
        )
        x1 = rng.standard_normal((32, 64, 256)).astype(np.float32)
        w1 = rng.standard_normal((64, 64, 4)).astype(np.float32) * 0.1
        out.append(
            (
                "conv_transpose1d 64->64 k4/2 (32,64,256)",
                [x1, w1],
                lambda a, v: F.conv_transpose1d(a, v, None, 2, 1),
                lambda a, v: TF.conv_transpose1d(a, v, None, 2, 1),
            )
        )
    if group == "scan":
        x = rng.uniform(0.9, 1.1, (256, 4096)).astype(np.float32)
        for op in ("cumsum", "cumprod", "logcumsumexp"):
            for axis in (1, 0):
                out.append(
                    (
                        f"{op} axis {axis} (256,4096)",
                        [x],
                        lambda a, op=op, axis=axis: getattr(dc, op)(a, axis),
                        lambda a, op=op, axis=axis: getattr(torch, op)(a, axis),
                    )
                )
        for op in ("cummax", "cummin"):
            out.append(
                (
                    f"{op} axis 1 (256,4096)",
                    [x],
                    lambda a, op=op: getattr(dc, op)(a, 1)[0],
                    lambda a, op=op: getattr(torch, op)(a, 1)[0],
                )
            )
    if group == "scatter":
        x = rng.standard_normal((1024, 1024)).astype(np.float32)
        idx = rng.integers(0, 1024, (1024, 512))
        src = rng.standard_normal((1024, 512)).astype(np.float32)
        ti = torch.from_numpy(idx)
        out.append(
            (
                "gather axis 1 (1024,1024)[1024,512]",
                [x],
                lambda a: dc.gather(a, 1, idx),
                lambda a: torch.gather(a, 1, ti),
            )
        )
        idx0 = rng.integers(0, 1024, (512, 1024))
        ti0 = torch.from_numpy(idx0)
        out.append(
            (
                "gather axis 0 (1024,1024)[512,1024]",
                [x],
                lambda a: dc.gather(a, 0, idx0),
                lambda a: torch.gather(a, 0, ti0),
            )
        )
        out.append(
            (
                "scatter_add axis 1",
                [x, src],
                lambda a, s: dc.scatter_add(a, 1, idx, s),
                lambda a, s: torch.scatter_add(a, 1, ti, s),
            )
        )
        out.append(
            (
                "scatter_reduce amax axis 1",
                [x, src],
                lambda a, s: dc.scatter_reduce(a, 1, idx, s, "amax"),
                lambda a, s: torch.scatter_reduce(a, 1, ti, s, "amax"),
            )
        )
    if group == "vol":
        x = rng.standard_normal((4, 16, 16, 32, 32)).astype(np.float32)
        w = rng.standard_normal((32, 16, 3, 3, 3)).astype(np.float32) * 0.05
        b = rng.standard_normal(32).astype(np.float32)
        out.append(
            (
                "conv3d 16->32 3x3x3 pad 1 (4,16,16,32,32)",
                [x, w, b],
                lambda a, v, c: F.conv3d(a, v, c, 1, 1),
                lambda a, v, c: TF.conv3d(a, v, c, 1, 1),
            )
        )
        wt = rng.standard_normal((16, 8, 2, 2, 2)).astype(np.float32) * 0.1
        out.append(
            (
                "conv_transpose3d 16->8 2x2x2/2 (4,16,16,32,32)",
                [x, wt],
                lambda a, v: F.conv_transpose3d(a, v, None, 2),
                lambda a, v: TF.conv_transpose3d(a, v, None, 2),
            )
        )
        for name, ours, theirs in [
            ("max_pool3d 2/2", lambda a: F.max_pool3d(a, 2), lambda a: TF.max_pool3d(a, 2)),
            ("max_pool3d 3/2 pad 1", lambda a: F.max_pool3d(a, 3, 2, 1),
             lambda a: TF.max_pool3d(a, 3, 2, 1)),
            ("avg_pool3d 2/2", lambda a: F.avg_pool3d(a, 2), lambda a: TF.avg_pool3d(a, 2)),
            ("adaptive_avg_pool3d ->(3,5,7)", lambda a: F.adaptive_avg_pool3d(a, (3, 5, 7)),
             lambda a: TF.adaptive_avg_pool3d(a, (3, 5, 7))),
        ]:  # fmt: skip
            out.append((name + " (4,16,16,32,32)", [x], ours, theirs))
        x2 = rng.standard_normal((16, 32, 56, 56)).astype(np.float32)
        out.append(
            (
                "max_pool2d 3x3/2 dilation 2 (16,32,56,56)",
                [x2],
                lambda a: F.max_pool2d(a, 3, 2, 1, 2),
                lambda a: TF.max_pool2d(a, 3, 2, 1, 2),
            )
        )
        x1 = rng.standard_normal((4, 8, 9, 9)).astype(np.float32)
        out.append(
            (
                "F.pad reflect (2,3,1,2) (4,8,9,9)",
                [x1],
                lambda a: F.pad(a, (2, 3, 1, 2), "reflect"),
                lambda a: TF.pad(a, (2, 3, 1, 2), "reflect"),
            )
        )
    return out


def run_case(name, arrays, ours_fn, torch_fn, peer, pairs, gap, cpu_time):
    ts_ours = [dc.tensor(a) for a in arrays]
    ts_torch = [torch.from_numpy(a.copy()) for a in arrays]

    def fwd_torch():
        with torch.no_grad():
            return torch_fn(*ts_torch)

    fwd_peer = peer.fn(fwd_torch)
    y = ours_fn(*ts_ours)
    check_close(y.numpy(), fwd_peer(), 1e-5, name)
    g = np.random.default_rng(9).standard_normal(y.shape).astype(np.float32)
    gt = torch.from_numpy(g)
    gr_ours = [dc.tensor(a, requires_grad=True) for a in arrays]
    gr_torch = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]

    def ours_fb():
        for t in gr_ours:
            t.grad = None
        ours_fn(*gr_ours).backward(g)

    def torch_fb():
        for t in gr_torch:
            t.grad = None
        torch_fn(*gr_torch).backward(gt)
        return [t.grad for t in gr_torch]

    fb_peer = peer.fn(torch_fb)
    ours_fb()
    check_close([t.grad.numpy() for t in gr_ours], fb_peer(), 1e-4, name + " grads")

    for what, a, b in [
        ("fwd", lambda: ours_fn(*ts_ours), fwd_peer),
        ("fwd+bwd", ours_fb, fb_peer),
    ]:
        r = paired(a, b, pairs, gap=gap, warmup=1, target=0.05)
        if cpu_time:
            import statistics

            mo, mt, sp = statistics.median(r.ours_cpu), statistics.median(r.peer_cpu), r.cpu_speedup
        else:
            mo, mt, sp = r.ours_median, r.peer_median, r.speedup
        print(f"| {name} | {what} | {mo * 1e3:.3f} | {mt * 1e3:.3f} | {sp:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--gap", type=float, default=0.02)
    ap.add_argument("--only", nargs="*", default=["interp", "convt", "scan", "scatter", "vol"])
    ap.add_argument("--match", nargs="*", default=[], help="only cases whose name has one of these")
    add_peer_argument(ap)
    args = ap.parse_args()
    dc.kernels.set_num_threads(args.threads)
    peer = Peer(args.threads, args.peer_in_process)
    cpu_time = args.threads == 1
    banner(
        "issue 14 native ops, float32",
        peer.describe(),
        "times: process CPU time" if cpu_time else "times: wall",
    )
    print("| case | pass | ours ms | torch ms | torch/ours |")
    print("|---|---|---:|---:|---:|")
    for group in args.only:
        for name, arrays, ours_fn, torch_fn in cases(group):
            if args.match and not any(m in name for m in args.match):
                continue
            run_case(name, arrays, ours_fn, torch_fn, peer, args.pairs, args.gap, cpu_time)
    peer.close()


if __name__ == "__main__":
    main()
