"""Shared test helpers. Import as `from helpers import ...` (tests/ is on sys.path via conftest)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import deepcore as dc
from deepcore.testing import assert_close_rel, gradcheck  # noqa: F401

HAS_TORCH = importlib.util.find_spec("torch") is not None
requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")


def supported_capabilities() -> list[str]:
    order = ["generic", "avx2", "avx512"]
    best = dc.kernels.info()["cpu_capability_supported"]
    return order[: order.index(best) + 1]


@pytest.fixture(params=supported_capabilities())
def cpu_capability(request):
    """Run the test once per CPU kernel variant this machine supports."""
    prev = dc.kernels.get_cpu_capability()
    dc.kernels.set_cpu_capability(request.param)
    yield request.param
    dc.kernels.set_cpu_capability(prev)


def rand(*shape, dtype=np.float64, seed=None, low=-1.0, high=1.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape).astype(dtype)
