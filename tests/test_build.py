"""The build itself: module import, info(), CPU-capability dispatch control, CUDA toolchain."""

import os
import subprocess
import sys

import deepcore as dc
import numpy as np
import pytest
from helpers import supported_capabilities


def test_info_reports_build():
    info = dc.kernels.info()
    for key in (
        "compiler",
        "cxx_flags",
        "num_threads",
        "cpu_capability",
        "cpu_capability_supported",
        "cuda_built",
        "cuda_available",
    ):
        assert key in info
    assert info["num_threads"] >= 1
    assert info["cpu_capability"] in ("generic", "avx2", "avx512")
    assert "-march=native" not in info["cxx_flags"]


def test_info_reports_version_module_and_openmp_runtime():
    info = dc.kernels.info()
    assert info["version"] == dc.__version__
    assert info["module"] == dc._C.__file__
    # _C needs libgomp, so it is mapped (in a repaired wheel: deepcore.libs/libgomp-<hash>)
    assert os.path.basename(info["openmp_runtime"]).startswith("libgomp")
    assert os.path.exists(info["openmp_runtime"])


def test_set_cpu_capability_round_trip():
    prev = dc.kernels.get_cpu_capability()
    try:
        for cap in supported_capabilities():
            dc.kernels.set_cpu_capability(cap)
            assert dc.kernels.get_cpu_capability() == cap
            assert dc.kernels.info()["cpu_capability"] == cap
    finally:
        dc.kernels.set_cpu_capability(prev)


def test_set_cpu_capability_rejects_unknown():
    with pytest.raises(ValueError, match="unknown CPU capability"):
        dc.kernels.set_cpu_capability("sse9")


@pytest.mark.parametrize("cap", supported_capabilities())
def test_env_var_forces_capability(cap):
    code = "import deepcore as dc; print(dc.kernels.info()['cpu_capability'])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DEEPCORE_CPU_CAPABILITY": cap},
        check=True,
    )
    assert out.stdout.strip() == cap


def test_env_var_bad_value_fails_import_clearly():
    code = "import deepcore"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DEEPCORE_CPU_CAPABILITY": "bogus"},
    )
    assert out.returncode != 0
    assert "unknown CPU capability" in out.stderr


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="glibc malloc tuning")
@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, 256 << 20),  # [Note: malloc tuning] in csrc/core/memory.h
        ({"DEEPCORE_MALLOC_MMAP_THRESHOLD": str(64 << 20)}, 64 << 20),
        ({"DEEPCORE_MALLOC_MMAP_THRESHOLD": "0"}, 0),  # opt out: glibc defaults
        ({"MALLOC_MMAP_THRESHOLD_": "1048576"}, 0),  # the user's own setting wins
    ],
)
def test_malloc_tuning(env, expected):
    code = "import deepcore as dc; print(dc.kernels.info()['malloc_mmap_threshold'])"
    base = {
        k: v
        for k, v in __import__("os").environ.items()
        if k not in ("DEEPCORE_MALLOC_MMAP_THRESHOLD", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**base, **env},
        check=True,
    )
    assert int(out.stdout.strip()) == expected


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="glibc malloc tuning")
def test_freed_arrays_are_reused_without_page_faults():
    """[Note: malloc tuning]: a 4 MB array allocated, written and freed 40 times faults its
    pages in once, not every time (with glibc's default trim threshold left at 128 KiB the
    heap top went back to the kernel at each free: 19,240 faults for the 40 before the fix)."""
    code = (
        "import resource, numpy as np, deepcore\n"
        "def once():\n"
        "    a = np.empty(1 << 20, np.float32); a.fill(1.0); return float(a[-1])\n"
        "once()\n"
        "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(40): once()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)\n"
    )
    base = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith("MALLOC_")
        and k not in ("GLIBC_TUNABLES", "DEEPCORE_MALLOC_MMAP_THRESHOLD")
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=base, check=True
    )
    assert int(out.stdout.strip()) < 2000  # 40 x 1,024 pages when each free unmaps them


def test_num_threads_control():
    prev = dc.kernels.get_num_threads()
    try:
        dc.kernels.set_num_threads(1)
        assert dc.kernels.get_num_threads() == 1
        with pytest.raises(ValueError):
            dc.kernels.set_num_threads(0)
    finally:
        dc.kernels.set_num_threads(prev)


def test_cuda_saxpy_or_clear_error():
    info = dc.kernels.info()
    x = np.arange(1000, dtype=np.float32)
    y = np.ones(1000, dtype=np.float32)
    if not info["cuda_available"]:
        with pytest.raises(RuntimeError, match="CUDA|GPU"):
            dc._C.cuda_saxpy_numpy(2.0, x, y)
        return
    dc._C.cuda_saxpy_numpy(2.0, x, y)
    np.testing.assert_array_equal(y, 1 + 2 * np.arange(1000, dtype=np.float32))
