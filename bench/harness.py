"""The one timing harness of bench/: every benchmark validates, warms up, alternates and reports
through these functions ([Note: bench protocol]).

[Note: bench protocol]
1. Validate first: ``check_close`` compares our result with the peer's (or a float64
   reference) and stops the run (SystemExit) on a mismatch, so no figure is ever printed for a
   wrong answer.
2. Warm up both sides (first-call allocations, thread pools, caches).
3. Time ours and the peer alternately, in blocks (A B A B ...): ``paired``. Each block repeats
   the call enough times to last ``target`` seconds (timer and scheduler noise) and starts after
   a pause (``gap``) long enough for the other library's spinning OpenMP / BLAS workers to go
   to sleep (on a 2-core machine they steal a core from whoever runs next).
4. Report the medians of both and the median of the *per-pair* ratios: a burst of load from
   another process slows both halves of one pair, so the ratio survives noise that two
   separate medians would not. With one thread each, the CPU-time ratio (the calling thread's
   or the process's CPU time) is immune to being descheduled and is the figure to trust on a
   shared machine.

5. The PyTorch peer runs in its own process (bench/peer.py, [Note: peer process]): ``alternate``
   times its blocks there, in turn with ours, so pairs stay paired.

Benchmarks import deepcore as installed (``pip install .``) or from an in-place build
(``PYTHONPATH=python``), never by editing ``sys.path``; ``banner()`` says which one ran.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Rounds",
    "alternate",
    "Paired",
    "paired",
    "block",
    "check_close",
    "rel_error",
    "deepcore_origin",
    "banner",
    "GpuRounds",
]


def deepcore_origin() -> str:
    """Which deepcore is imported: the installed package or an in-place build of a source tree
    (with its commit), and its path."""
    import deepcore

    pkg = Path(deepcore.__file__).resolve().parent
    root = pkg.parent.parent
    if pkg.parent.name == "python" and (root / "pyproject.toml").exists():
        commit = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return f"deepcore {deepcore.__version__} in-place build at {root} ({commit or 'no git'})"
    return f"deepcore {deepcore.__version__} installed at {pkg}"


def banner(*facts: str) -> None:
    """Print what ran: the deepcore origin, CPU capability and threads, the machine, the load
    average (noise from other processes), and any bench-specific facts."""
    import deepcore

    info = deepcore.kernels.info()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {deepcore_origin()}")
    print(
        f"# {info['cpu_capability']}, {deepcore.kernels.get_num_threads()} threads; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"load average {load:.1f}" + "".join(f"; {f}" for f in facts)
    )


# ---------------------------------------------------------------------- validation
def rel_error(ours: Any, ref: Any) -> float:
    """‖ours − ref‖ / ‖ref‖ in float64 (0 when both are empty)."""
    a, b = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if a.shape != b.shape:
        raise SystemExit(f"validation failed: shape {a.shape} != reference {b.shape}")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check_close(ours: Any, ref: Any, tol: float, what: str) -> float:
    """Stop the benchmark unless every pair (ours[i], ref[i]) agrees to relative error ``tol``
    (arrays or sequences of arrays); returns the largest relative error."""
    pairs = list(zip(ours, ref)) if isinstance(ours, (list, tuple)) else [(ours, ref)]
    errs = [rel_error(a, b) for a, b in pairs]
    worst = max(errs, default=0.0)
    if not worst <= tol:  # NaN fails too
        raise SystemExit(f"validation failed: {what}: relative errors {errs} > {tol:g}")
    return worst


# ---------------------------------------------------------------------- timing
CPU_CLOCKS: dict[str, Callable[[], float]] = {
    "process": time.process_time,
    "thread": time.thread_time,
}


def block(fn: Callable[[], Any], reps: int, gap: float = 0.0, cpu: str = "process") -> tuple:
    """(wall, CPU) seconds per call of ``reps`` back-to-back calls after a ``gap`` pause."""
    if gap:
        time.sleep(gap)
    clock = CPU_CLOCKS[cpu]
    t0, c0 = time.perf_counter(), clock()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps, (clock() - c0) / reps


@dataclass
class Rounds:
    """Per-call seconds of several functions timed in rounds (f0 f1 ... f0 f1 ...):
    ``wall[i][k]`` and ``cpu[i][k]`` for function i in round k."""

    wall: list[list[float]]
    cpu: list[list[float]]
    reps: int

    def median(self, i: int, cpu: bool = False) -> float:
        return statistics.median((self.cpu if cpu else self.wall)[i])

    def ratio(self, i: int, j: int, cpu: bool = False) -> float:
        """Median over the rounds of t_i / t_j (the per-pair ratio)."""
        t = self.cpu if cpu else self.wall
        return statistics.median([a / max(b, 1e-12) for a, b in zip(t[i], t[j])])


def alternate(
    *fns: Callable[[], Any],
    rounds: int = 7,
    reps: int | None = None,
    gap: float = 0.0,
    warmup: int = 2,
    target: float = 0.02,
    cpu: str = "process",
    after_round: Callable[[Rounds], Any] | None = None,
) -> Rounds:
    """Time ``fns`` in turn: ``warmup`` untimed calls of each, then ``rounds`` rounds of one
    block per function, each block ``reps`` calls (by default as many as last ``target``
    seconds for the first function) after a ``gap`` pause; ``after_round(r)`` (e.g. a progress
    line) runs after each round. See [Note: bench protocol]."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    if reps is None:
        one = block(fns[0], 1)[0]
        reps = max(1, int(target / max(one, 1e-9)))
    r = Rounds([[] for _ in fns], [[] for _ in fns], reps)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            # a function of a peer process (bench/peer.py) times its block there
            timed = getattr(fn, "block", None)
            w, c = timed(reps, gap, cpu) if timed else block(fn, reps, gap, cpu)
            r.wall[i].append(w)
            r.cpu[i].append(c)
        if after_round is not None:
            after_round(r)
    return r


class Paired:
    """``alternate(ours, peer)``, read as ours against the peer."""

    def __init__(self, rounds: Rounds) -> None:
        self.rounds = rounds
        self.reps = rounds.reps
        self.ours, self.peer = rounds.wall
        self.ours_cpu, self.peer_cpu = rounds.cpu

    @property
    def ours_median(self) -> float:
        return self.rounds.median(0)

    @property
    def peer_median(self) -> float:
        return self.rounds.median(1)

    @property
    def ratio(self) -> float:
        """Median of the per-pair ratios ours / peer (wall time; < 1: ours faster)."""
        return self.rounds.ratio(0, 1)

    @property
    def speedup(self) -> float:
        """Median of the per-pair ratios peer / ours (wall time; > 1: ours faster)."""
        return self.rounds.ratio(1, 0)

    @property
    def cpu_ratio(self) -> float:
        return self.rounds.ratio(0, 1, cpu=True)

    @property
    def cpu_speedup(self) -> float:
        return self.rounds.ratio(1, 0, cpu=True)


def paired(
    ours: Callable[[], Any],
    peer: Callable[[], Any],
    pairs: int = 7,
    reps: int | None = None,
    gap: float = 0.0,
    warmup: int = 2,
    target: float = 0.02,
    cpu: str = "process",
) -> Paired:
    """Ours and the peer timed alternately in ``pairs`` pairs of blocks (see ``alternate``)."""
    return Paired(
        alternate(
            ours, peer, rounds=pairs, reps=reps, gap=gap, warmup=warmup, target=target, cpu=cpu
        )
    )


def fwd_fb(
    ours_fwd: Callable[[], Any],
    ours_fb: Callable[[], Any],
    peer_fwd: Callable[[], Any],
    peer_fb: Callable[[], Any],
    flops: float,
    threads: int,
    pairs: int,
    gap: float = 0.0,
    target: float = 0.2,
    cpu: str = "process",
) -> dict[str, tuple[float, float, float, float]]:
    """The forward and forward+backward passes timed against the peer:
    ``{"fwd" | "fb": (our median, the peer's median, median of paired peer/ours ratios,
    FLOPs)}``, forward+backward counted as 3x the forward's FLOPs. At one thread the times
    are CPU times (robust to other load), otherwise wall times."""
    out = {}
    for part, ours, theirs, f in (("fwd", ours_fwd, peer_fwd, flops),
                                  ("fb", ours_fb, peer_fb, 3 * flops)):  # fmt: skip
        r = paired(ours, theirs, pairs, gap=gap, warmup=1, target=target, cpu=cpu)
        if threads == 1:
            t_o, t_p, sp = r.ours_cpu, r.peer_cpu, r.cpu_speedup
        else:
            t_o, t_p, sp = r.ours, r.peer, r.speedup
        out[part] = (statistics.median(t_o), statistics.median(t_p), sp, f)
    return out


# ---------------------------------------------------------------------- GPU timing
class GpuRounds:
    """CUDA-event timing for bench/gpu_*.py ([Note: bench protocol] on a GPU): each call timed
    alone between two events on CuPy's current stream, after the L2 cache was flushed (a write
    over a buffer four times its size, outside the timed region); ``compare`` warms every
    function up, then times them in turn for ``reps`` rounds (A B C A B C ...), so a clock or
    thermal change affects every side of a round alike."""

    def __init__(self, cp: Any) -> None:
        self.cp = cp
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        self.device = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        self.sms = int(props["multiProcessorCount"])
        self.l2 = int(props["l2CacheSize"])
        self._flush = cp.empty(max(4 * self.l2, 256 << 20) // 4, cp.float32)
        self._start, self._stop = cp.cuda.Event(), cp.cuda.Event()

    def describe(self) -> str:
        return f"GPU {self.device} ({self.sms} SMs, L2 {self.l2 >> 20} MiB)"

    def time(self, fn: Callable[[], Any]) -> float:
        """Seconds of one call of ``fn`` on the GPU, L2 flushed before it."""
        self._flush.fill(1.0)
        self._start.record()
        fn()
        self._stop.record()
        self._stop.synchronize()
        return self.cp.cuda.get_elapsed_time(self._start, self._stop) * 1e-3

    def compare(self, fns: list[Callable[[], Any]], reps: int, warmup: int = 3) -> Rounds:
        """``reps`` rounds of every function in turn (after ``warmup`` untimed rounds)."""
        for _ in range(warmup):
            for fn in fns:
                fn()
        self.cp.cuda.Device().synchronize()
        rounds = Rounds([[] for _ in fns], [[] for _ in fns], 1)
        for _ in range(reps):
            for i, fn in enumerate(fns):
                rounds.wall[i].append(self.time(fn))
                rounds.cpu[i].append(0.0)
        return rounds
