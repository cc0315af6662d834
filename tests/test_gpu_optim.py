"""CUDA kernels of csrc/cuda/optim.cu: every optimizer of deepcore.optim (the cases of
test_optim.py) stepping parameters on "cuda" through the unchanged Python optimizers, with
gradient clipping (clipvalue, clipnorm, global_clipnorm: the GPU norm reduction and scale /
clamp), against the same optimizer stepping float64 copies on the CPU ([Note: GPU test oracle]
in gpu_helpers.py). The updates are in place, so there is no output to poison: the trajectories
themselves are compared after several steps. Marked `gpu`."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest
from deepcore import _C, optim
from gpu_helpers import DTYPES, close, cupy_fixture, f64  # noqa: F401 (fixture)
from test_optim import CASES, ctor_kwargs

pytestmark = pytest.mark.gpu

SHAPES = [(1,), (7, 3), (300, 257), (4, 1, 3, 3)]


def _trajectory(cls, kw, dtype, device, steps=5):
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    params = [dc.tensor(a, device=device, requires_grad=True) for a in init]
    opt = cls(params, **kw)
    for s in range(steps):
        g_rng = np.random.default_rng(1000 + s)
        for p, shape in zip(params, SHAPES):
            p.grad = dc.tensor(g_rng.standard_normal(shape).astype(dtype), device=device)
        opt.step()
    return [p.data for p in params], opt


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("clip", [None, "clipvalue", "clipnorm", "global_clipnorm"])
def test_optimizer_on_cuda_matches_cpu_float64(cp, name, clip, dtype):
    _, cls, hp = CASES[name]
    kw = ctor_kwargs(cls, hp)
    if clip is not None:
        kw[clip] = 0.5
    ref, _ = _trajectory(cls, kw, np.float64, "cpu")
    got, opt = _trajectory(cls, kw, dtype, "cuda")
    for g, r in zip(got, ref):
        assert isinstance(g, cp.ndarray) and g.dtype == dtype
        close(g, r, dtype, factor=10)
    for st in opt.state.values():  # the state lives with the parameters
        assert all(isinstance(a, cp.ndarray) for a in st.values() if hasattr(a, "shape"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 255, 257, 100003, 3_000_001])
def test_grad_norms_and_scale_clamp(cp, n, dtype):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n).astype(dtype)
    a[n // 2] = -7.5  # the largest magnitude
    d = cp.asarray(a)
    for ord_ in (2.0, np.inf):
        got = _C.grad_norms([d, d[: max(n // 3, 1)]], ord_)
        want = _C.grad_norms([f64(a), f64(a)[: max(n // 3, 1)]], ord_)
        assert type(got) is np.ndarray and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-12)
    _C.scale_clamp_([d], 0.5, 1.0)
    close(d, np.clip(f64(a) * 0.5, -1.0, 1.0), dtype)


def test_inf_norm_keeps_nan(cp):
    d = cp.asarray(np.array([1.0, np.nan, 3.0], np.float32))
    assert np.isnan(_C.grad_norms([d], np.inf)[0])
    assert np.isnan(_C.grad_norms([d], 2.0)[0])


def test_reference_step_has_no_cuda_kernel(cp):
    p, g = cp.ones(3, cp.float32), cp.ones(3, cp.float32)
    with pytest.raises(NotImplementedError, match="reference"):
        _C.optim_step("sgd", {"lr": 0.1}, [p], [g], [[]], np.zeros(1, np.int64), reference=True)


def test_clip_functions_on_cuda(cp):
    p = dc.tensor(np.zeros(5, np.float32), device="cuda", requires_grad=True)
    p.grad = dc.tensor(np.array([3.0, -4.0, 0.0, 0.0, 0.0], np.float32), device="cuda")
    total = optim.clip_grad_norm_([p], 1.0)
    assert abs(float(total) - 5.0) < 1e-6
    close(p.grad.data, np.array([0.6, -0.8, 0, 0, 0]), np.float32)
    optim.clip_grad_value_([p], 0.7)
    close(p.grad.data, np.array([0.6, -0.7, 0, 0, 0]), np.float32)
