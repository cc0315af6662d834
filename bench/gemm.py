"""SGEMM benchmark: deepcore.kernels.sgemm vs NumPy's BLAS (np.matmul on float32), same run.

    python3 bench/gemm.py [--threads 1 2] [--pairs 7] [--capability avx512]
    python3 bench/gemm.py --wgrad --trans tn nn --threads 1   # weight-gradient shapes

Shapes are M x K x N: C (M x N) = op(A) (M x K) @ op(B) (K x N), row-major; --trans picks
op(A)/op(B) (default nn: no transposes; nt is a Linear layer's x @ w.T).
Each case: validate ours against a float64 reference, warm up both, then time ours and NumPy
alternately (A B A B ...) and report the median GFLOP/s of each and the median of the
per-pair ratios ours/NumPy (> 1 means ours is faster). NumPy's OpenBLAS is pinned to the same
thread count in-process through its own openblas_set_num_threads (threadpoolctl if installed).

Both libraries keep their worker threads spinning after a call (OpenBLAS for ~2^28 cycles,
libgomp for GOMP_SPINCOUNT iterations), which steals a core from whichever runs next on a
2-core machine. Each timed block therefore starts after a pause (--gap) long enough for the
other library's workers to go to sleep; within a block the calls run back to back
(bench/harness.py, [Note: bench protocol]).
"""

from __future__ import annotations

import argparse
import ctypes
import os

import deepcore as dc
import numpy as np
from harness import banner, check_close, paired

K = dc.kernels

SHAPES = [
    ("square", 256, 256, 256),
    ("square", 512, 512, 512),
    ("square", 1024, 1024, 1024),
    ("square", 2048, 2048, 2048),
    ("train", 64, 784, 256),
    ("train", 256, 4096, 4096),
    ("train", 4096, 64, 4096),
]
# --wgrad: weight-gradient products, op(A) = A^T over a long K (the whole batch): dW = dY^T X of
# a Dense layer, and the RNN dW_ih / dW_hh (csrc/rnn.cpp) at bench/rnn.py's B64 T100 I128 H256
# (K = B*T = 6400; M = 4H for an LSTM, 3H for a GRU, H for a simple RNN). Run with --trans tn.
WGRAD_SHAPES = [
    ("wgrad", 1024, 6400, 128),
    ("wgrad", 1024, 6400, 256),
    ("wgrad", 768, 6400, 128),
    ("wgrad", 256, 6400, 256),
]


class NumpyBlas:
    """Thread control and identification of the BLAS NumPy is linked against."""

    def __init__(self) -> None:
        np.ones((4, 4), np.float32) @ np.ones((4, 4), np.float32)  # make sure it is loaded
        self.lib = None
        self.prefix = ""
        self.suffix = ""
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "blas" in ln.lower() and "/" in ln})
        for path in paths:
            lib = ctypes.CDLL(path)
            for prefix, suffix in [("scipy_", "64_"), ("", "64_"), ("", "")]:
                if hasattr(lib, f"{prefix}openblas_set_num_threads{suffix}"):
                    self.lib, self.prefix, self.suffix = lib, prefix, suffix
                    self.path = path
                    return

    def _fn(self, name: str):
        return getattr(self.lib, f"{self.prefix}openblas_{name}{self.suffix}")

    def describe(self) -> str:
        if self.lib is None:
            return "unknown BLAS (no OpenBLAS symbols found)"
        core = self._fn("get_corename")
        core.restype = ctypes.c_char_p
        cfg = self._fn("get_config")
        cfg.restype = ctypes.c_char_p
        return f"{cfg().decode()} | kernel in use: {core().decode()}"

    def set_threads(self, n: int) -> None:
        if self.lib is not None:
            self._fn("set_num_threads")(ctypes.c_int(n))
            return
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(n)
        except ImportError as e:  # no way to pin it in-process
            raise SystemExit(
                "cannot set NumPy's BLAS threads in-process; rerun with OPENBLAS_NUM_THREADS"
            ) from e


def bench_case(
    m: int, k: int, n: int, trans: str, pairs: int, gap: float, rng
) -> tuple[float, float, float, float, float]:
    """trans: "nn", "nt", "tn" or "tt" (op(A), op(B)); NumPy multiplies the same transposed
    views (a.T / b.T of the stored arrays), as a Linear layer's x @ w.T does."""
    ta, tb = trans[0] == "t", trans[1] == "t"
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    av, bv = (a.T if ta else a), (b.T if tb else b)
    out = np.empty((m, n), np.float32)
    ref = av.astype(np.float64) @ bv.astype(np.float64)
    err = check_close(
        K.sgemm(a, b, trans_a=ta, trans_b=tb, out=out), ref, 1e-5, f"{m}x{k}x{n} {trans}"
    )

    def run_ours():
        K.sgemm(a, b, trans_a=ta, trans_b=tb, out=out)

    def run_np():
        np.matmul(av, bv, out=out)

    flops = 2.0 * m * n * k
    r = paired(run_ours, run_np, pairs, gap=gap, cpu="thread")
    return flops / r.ours_median / 1e9, flops / r.peer_median / 1e9, r.speedup, r.cpu_speedup, err


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--pairs", type=int, default=7)
    p.add_argument(
        "--trans",
        nargs="+",
        default=["nn"],
        choices=["nn", "nt", "tn", "tt"],
        help="op(A) op(B): n = as stored, t = transposed (nt is a Linear layer's x @ w.T)",
    )
    p.add_argument("--gap", type=float, default=0.2, help="pause (s) before each timed block")
    p.add_argument("--capability", default=None, help="generic | avx2 | avx512 (default: best)")
    p.add_argument("--only", default=None, help="run only shapes whose MxKxN contains this")
    p.add_argument(
        "--wgrad",
        action="store_true",
        help="the weight-gradient shapes (long K) instead of the default ones; use --trans tn",
    )
    args = p.parse_args()
    if args.capability:
        K.set_cpu_capability(args.capability)
    blas = NumpyBlas()
    banner(f"compiler {K.info()['compiler']}")
    print(f"NumPy {np.__version__}: {blas.describe()}")
    env = {k: v for k, v in os.environ.items() if "BLAS" in k or "OMP" in k}
    print(f"environment: {env or 'no BLAS/OMP variables'}; load average {os.getloadavg()}")
    print("shapes are M x K x N; GFLOP/s = 2MNK / wall time; ratio = ours / NumPy speed (median")
    print("of per-pair ratios); cpu = the same ratio in CPU time of the calling thread (1 thread")
    print("only: robust to other processes stealing the core, unlike wall time)")
    print(
        f"{'case':10} {'M x K x N':>17} {'thr':>3} {'ours':>8} {'numpy':>8} {'ratio':>6} "
        f"{'cpu':>6} {'err':>8}"
    )
    rng = np.random.default_rng(0)
    prev = K.get_num_threads()
    try:
        for threads in args.threads:
            K.set_num_threads(threads)
            blas.set_threads(threads)
            for trans in args.trans:
                for kind, m, k, n in WGRAD_SHAPES if args.wgrad else SHAPES:
                    shape = f"{m}x{k}x{n}"
                    if args.only and args.only not in shape:
                        continue
                    g_o, g_n, ratio, cpu, err = bench_case(
                        m, k, n, trans, args.pairs, args.gap, rng
                    )
                    cpu_s = f"{cpu:6.2f}" if threads == 1 else f"{'-':>6}"
                    print(
                        f"{kind + ' ' + trans:10} {shape:>17} {threads:>3} {g_o:8.1f} "
                        f"{g_n:8.1f} {ratio:6.2f} {cpu_s} {err:8.1e}",
                        flush=True,
                    )
    finally:
        K.set_num_threads(prev)


if __name__ == "__main__":
    main()
