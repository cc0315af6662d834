"""Data-parallel training benchmark: the seed convnet at 1 and 2 MPI ranks (one thread each),
and the all-reduce bandwidth for 1-100 MB buffers.

    python bench/distributed.py [--ranks 2] [--rounds 3] [--batch 128] [--steps 20]

The parent process starts MPI jobs of 1 and of N ranks alternately (A B A B ..., [Note: bench
protocol] in harness.py) through ``deepcore.distributed.launch`` (each rank bound to a core,
OMP_NUM_THREADS=1). Each job:
1. validates: 3 unshuffled steps of SGD from the same weights; the parent checks that the
   N-rank weights equal the 1-rank ones (rel. error < 1e-5) and that every rank agrees;
2. times ``fit`` of the seed convnet (93,322 parameters, RMSprop) for ``--steps`` global
   batches of ``--batch`` images (each of N ranks takes batch/N), after one warm-up epoch, with
   a barrier before and after: images/s = images / wall seconds; and images per CPU-second
   (the process CPU time of all ranks summed), whose N-rank / 1-rank ratio (1.0 ideal) survives
   other processes' load where the wall-clock speed-up does not;
3. (N ranks) times ``allreduce`` of float32 buffers of 1, 10 and 100 MB in place: algorithm
   bandwidth = bytes / seconds, bus bandwidth = 2 (N-1) / N x that (the bytes each rank sends
   and receives in a ring all-reduce);
4. times a PyTorch-style loop (zero_grad, backward, step) of the same convnet under
   ``DistributedOptimizer`` for ``--steps`` global batches: images/s at 1 and N ranks.
Reports the images/s of both, the median of the per-pair throughput ratios (target >= 1.8 at
2 ranks on 2 cores) and the bandwidths.

``--overlap-pairs`` adds a third job per round, N ranks with ``DataParallel(overlap=False)``
(every bucket reduced after backward), and reports the median of the per-round ratios of the
overlapped N-rank throughput to it. ``--bucket-kb`` sets the bucket size (default 25 MiB: the
seed convnet's 0.37 MB of gradients make one bucket, which can only start when backward
reaches the first layer).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import deepcore as dc
import deepcore.distributed as dist
import numpy as np
from deepcore import losses, optim
from deepcore.distributed import launch
from deepcore.models import zoo
from deepcore.utils import to_categorical


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    return x, to_categorical(rng.integers(0, 10, n), 10)


def _model(opt):
    dc.manual_seed(0)
    m = zoo.seed_convnet()
    m.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    return m


def job(batch: int, steps: int, sizes_mb: list[float], overlap: bool, bucket_kb: int) -> dict:
    """One rank's share of a job; rank 0 returns the figures."""
    dist.set_distribution(dist.DataParallel(bucket_bytes=bucket_kb * 1024, overlap=overlap))
    n = dist.world_size()
    # 1. validation
    m = _model(optim.SGD(learning_rate=0.05, momentum=0.9))
    x, y = _data(3 * batch)
    m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    weights = [w.numpy() for w in m.weights]
    spread = max(
        float(np.max(dist.allreduce(w.copy(), "max") - dist.allreduce(w.copy(), "min")))
        for w in weights
    )
    # 2. training throughput
    m = _model("rmsprop")
    x, y = _data(steps * batch)
    m.fit(x[: 2 * batch], y[: 2 * batch], batch_size=batch, epochs=1, verbose=0)  # warm-up
    dist.barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    cpu = np.array([time.process_time() - c0])
    dist.barrier()
    seconds = time.perf_counter() - t0
    dist.allreduce(cpu)  # CPU seconds of all ranks together
    out = {
        "ranks": n,
        "buckets_started_in_backward": dist.distribution()._reducer.started_early,
        "images_per_s": len(x) / seconds,
        "images_per_cpu_s": len(x) / float(cpu[0]),
        "checksums": [w.ravel()[:256].astype(np.float64).tolist() for w in weights],
        "rank_spread": spread,
    }
    # 3. all-reduce bandwidth
    bw = []
    if n > 1:
        for mb in sizes_mb:
            a = np.ones(int(mb * 2**20) // 4, np.float32)
            dist.allreduce(a)
            reps = max(3, int(50 / mb))
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(reps):
                dist.allreduce(a)
            dist.barrier()
            dt = (time.perf_counter() - t0) / reps
            algbw = a.nbytes / dt / 1e9
            bw.append({"MB": mb, "ms": dt * 1e3, "algbw_GBs": algbw,
                       "busbw_GBs": algbw * 2 * (n - 1) / n})  # fmt: skip
    out["allreduce"] = bw
    # 4. a PyTorch-style loop under DistributedOptimizer (buckets started during backward)
    dist.set_distribution(None)
    dc.manual_seed(0)
    net = zoo.seed_convnet()
    opt = dist.DistributedOptimizer(optim.RMSprop(net.parameters()))
    dist.broadcast_parameters(net.parameters())
    b = batch // n
    lo = dist.rank() * b

    def loop(k: int) -> None:
        for s in range(k):
            rows = slice(s * batch + lo, s * batch + lo + b)
            loss = losses.categorical_crossentropy(y[rows], net(dc.tensor(x[rows]))).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    loop(2)  # warm-up
    dist.barrier()
    t0 = time.perf_counter()
    loop(steps)
    dist.barrier()
    out["custom_images_per_s"] = steps * batch / (time.perf_counter() - t0)
    out["custom_buckets_started_in_backward"] = opt._dist_reducer.started_early
    return out


def run_job(n: int, args, overlap: bool = True) -> dict:
    argv = [sys.executable, os.path.abspath(__file__), "--job", "--batch", str(args.batch),
            "--steps", str(args.steps), "--bucket-kb", str(args.bucket_kb)]  # fmt: skip
    if not overlap:
        argv.append("--no-overlap")
    cmd, env = launch.mpirun_command(n, argv, bind=True, threads=1)
    env["OMP_NUM_THREADS"] = "1"
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"{n}-rank job failed:\n{p.stdout}\n{p.stderr}")
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128, help="global batch")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--bucket-kb", type=int, default=25 * 1024, help="gradient bucket size")
    ap.add_argument(
        "--overlap-pairs", action="store_true", help="also time N ranks without overlap"
    )
    ap.add_argument("--no-overlap", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.job:
        r = job(args.batch, args.steps, [1, 10, 100], not args.no_overlap, args.bucket_kb)
        if dist.is_chief():
            print(json.dumps(r))
        return
    from harness import banner, check_close

    dc.kernels.set_num_threads(1)
    banner(f"seed convnet, global batch {args.batch}, {args.steps} steps; 1 thread per rank")
    ones, manys, blocking = [], [], []
    for _ in range(args.rounds):
        ones.append(run_job(1, args))
        manys.append(run_job(args.ranks, args))
        if args.overlap_pairs:
            blocking.append(run_job(args.ranks, args, overlap=False))
    check_close(
        [np.asarray(c) for c in manys[0]["checksums"]],
        [np.asarray(c) for c in ones[0]["checksums"]],
        1e-5,
        "N-rank vs 1-rank weights (first 256 values of each)",
    )
    if manys[0]["rank_spread"] != 0.0:
        raise SystemExit(f"validation failed: ranks disagree by {manys[0]['rank_spread']}")
    ratios = [b["images_per_s"] / a["images_per_s"] for a, b in zip(ones, manys)]
    print(f"validated: {args.ranks}-rank weights = 1-rank weights (3 SGD steps), ranks identical")
    print(f"1 rank : {statistics.median(a['images_per_s'] for a in ones):8.0f} images/s")
    print(
        f"{args.ranks} ranks: {statistics.median(b['images_per_s'] for b in manys):8.0f} images/s"
    )
    print(
        f"speed-up {args.ranks} ranks / 1 rank: median of per-pair ratios "
        f"{statistics.median(ratios):.2f}x  (pairs: {', '.join(f'{r:.2f}' for r in ratios)}; "
        "target >= 1.8x at 2 ranks on 2 cores)"
    )
    eff = [b["images_per_cpu_s"] / a["images_per_cpu_s"] for a, b in zip(ones, manys)]
    print(
        f"images per CPU-second (all ranks' process CPU time), {args.ranks} ranks / 1 rank: "
        f"{statistics.median(eff):.2f}  (pairs: {', '.join(f'{r:.2f}' for r in eff)}; 1.0 = no "
        "CPU spent on distribution; robust to other load, unlike the wall-clock speed-up)"
    )
    print(
        f"gradient buckets of {args.bucket_kb} KiB; started during backward in the job's "
        f"{args.steps + 5} steps: {manys[0]['buckets_started_in_backward']}"
    )
    if blocking:
        ov = [b["images_per_s"] / c["images_per_s"] for b, c in zip(manys, blocking)]
        print(
            f"{args.ranks} ranks, overlapped / blocking buckets: median of per-round ratios "
            f"{statistics.median(ov):.3f}x  (rounds: {', '.join(f'{r:.3f}' for r in ov)}; "
            f"blocking {statistics.median(c['images_per_s'] for c in blocking):.0f} images/s)"
        )
    cr = [b["custom_images_per_s"] / a["custom_images_per_s"] for a, b in zip(ones, manys)]
    print(
        f"custom loop under DistributedOptimizer: 1 rank "
        f"{statistics.median(a['custom_images_per_s'] for a in ones):.0f} images/s, "
        f"{args.ranks} ranks {statistics.median(b['custom_images_per_s'] for b in manys):.0f}; "
        f"median of per-pair ratios {statistics.median(cr):.2f}x  (pairs: "
        f"{', '.join(f'{r:.2f}' for r in cr)}; buckets started during backward: "
        f"{manys[0]['custom_buckets_started_in_backward']})"
    )
    print(f"allreduce, {args.ranks} ranks (float32, in place; median over rounds):")
    for i, row in enumerate(manys[0]["allreduce"]):
        ms = statistics.median(m["allreduce"][i]["ms"] for m in manys)
        alg = statistics.median(m["allreduce"][i]["algbw_GBs"] for m in manys)
        bus = statistics.median(m["allreduce"][i]["busbw_GBs"] for m in manys)
        print(f"  {row['MB']:6.0f} MB: {ms:8.2f} ms  algbw {alg:6.2f} GB/s  busbw {bus:6.2f} GB/s")


if __name__ == "__main__":
    main()
