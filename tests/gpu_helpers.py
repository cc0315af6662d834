"""Shared pieces of the GPU kernel tests (tests/test_gpu_*.py, marked `gpu`: [Note: gpu marker]).

[Note: GPU test oracle] Every CUDA kernel is compared with the CPU kernel of the same op run in
float64 on the same inputs (the CPU kernels are themselves tested against the naive float64
references of csrc/ref/ and NumPy), by the relative error ||got - ref|| / ||ref||. Outputs are
poisoned with NaN before each kernel: passed as ``out=`` filled with NaN where the binding takes
one, and otherwise by ``poison_pool``, which fills blocks of CuPy's memory pool of the outputs'
sizes with NaN and frees them, so the binding's ``cupy.empty`` gets NaN memory back; an element
a kernel leaves unwritten then fails the comparison (``close`` refuses any NaN the reference
does not have).
"""

from __future__ import annotations

import numpy as np
import pytest

# relative-error bounds against the float64 CPU oracle, per dtype of the GPU computation
REL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


@pytest.fixture(scope="module", name="cp")
def cupy_fixture():
    """The `cp` fixture (CuPy) of the GPU tests: import it into a test module."""
    from deepcore._array import require_cuda

    return require_cuda()


def f64(a):
    """A host float64 copy of a NumPy or CuPy array (integer arrays keep their dtype)."""
    a = a.get() if hasattr(a, "__cuda_array_interface__") else np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def nan_like(cp, shape, dtype):
    return cp.full(shape, np.nan, dtype)


def poison_pool(cp, *outputs):
    """Fill pool blocks of each (shape, dtype) in ``outputs`` with NaN, then free them."""
    blocks = [cp.full(shape, np.nan, dtype) for shape, dtype in outputs]
    cp.cuda.get_current_stream().synchronize()
    del blocks


def close(got, ref, dtype, factor=1.0):
    """Assert ||got - ref|| / ||ref|| <= factor * REL[dtype] (host float64 comparison); a NaN in
    ``got`` where ``ref`` has none (an unwritten, poisoned element) fails."""
    g, r = f64(got), f64(ref)
    assert g.shape == r.shape, (g.shape, r.shape)
    assert np.array_equal(np.isnan(g), np.isnan(r)), "NaN where the reference has none (unwritten?)"
    ok = ~np.isnan(r)
    den = np.linalg.norm(r[ok])
    err = np.linalg.norm(g[ok] - r[ok]) / (den if den > 0 else 1.0)
    bound = factor * REL[np.dtype(dtype)]
    assert err <= bound, f"relative error {err:.3g} > {bound:.3g}"


DTYPES = [np.float32, np.float64]
