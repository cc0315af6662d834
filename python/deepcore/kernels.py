"""Raw native kernels on NumPy arrays: no autograd, no copies. For microbenchmarks and for the
autograd functions in deepcore.ops / deepcore.nn.functional.

Every function validates its inputs in the binding layer (csrc/bindings/) and raises
TypeError / ValueError naming the bad argument.
"""

from __future__ import annotations

from typing import Any

from . import _C
from ._version import __version__

__all__ = [
    "info",
    "get_cpu_capability",
    "set_cpu_capability",
    "get_num_threads",
    "set_num_threads",
    "sgemm",
    "dgemm",
    "matmul",
    "hash_to_bins",
    "fingerprint64",
    "siphash24",
]

sgemm = _C.sgemm
dgemm = _C.dgemm
matmul = _C.matmul
# Keras's Hashing layer: FarmHash Fingerprint64 / SipHash-2-4 of bytes, bins (csrc/hashing.h)
hash_to_bins = _C.hash_to_bins
fingerprint64 = _C.fingerprint64
siphash24 = _C.siphash24
get_cpu_capability = _C.get_cpu_capability
set_cpu_capability = _C.set_cpu_capability
get_num_threads = _C.get_num_threads
# Process-wide, as torch.set_num_threads: every Python thread's kernels use the count, threads
# started later included ([Note: process-wide thread count] in csrc/core/threads.h).
set_num_threads = _C.set_num_threads


def info() -> dict[str, Any]:
    """Build and runtime facts: compiler, flags, OpenMP threads, CPU capability in use (and the
    best supported), whether CUDA kernels were built (for which archs, with which runtime) and a
    GPU is available; plus the version, the native module's file and the OpenMP runtime loaded
    (in an installed wheel: the copy vendored in deepcore.libs/)."""
    d = dict(_C.info())
    d["version"] = __version__
    d["module"] = _C.__file__
    d["openmp_runtime"] = _loaded_library("libgomp")
    return d


def _loaded_library(stem: str) -> str | None:
    """Path of the shared library whose file name starts with ``stem`` mapped into this
    process (Linux /proc/self/maps), or None."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rstrip("\n").split(" ")[-1]
                if path.rsplit("/", 1)[-1].startswith(stem):
                    return path
    except OSError:
        pass
    return None


def __getattr__(name: str) -> Any:
    # every other kernel of _C (conv2d_forward, ...) is reachable here without being listed
    try:
        return getattr(_C, name)
    except AttributeError:
        raise AttributeError(f"deepcore.kernels has no kernel {name!r}") from None
