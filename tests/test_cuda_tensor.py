"""Tensors on "cuda" ([Note: tensors on "cuda"] in deepcore/_array.py): the error paths, which run
on any machine, and (marked `gpu`, [Note: gpu marker]) the CuPy-backed tensors themselves:
``.to("cuda")`` / ``.to("cpu")`` with gradients flowing back, ``dc.tensor(..., device="cuda")``,
``__cuda_array_interface__``, DLPack with CuPy and PyTorch, and matmul through our GEMM."""

from __future__ import annotations

import sys

import deepcore as dc
import numpy as np
import pytest
from deepcore import _C
from deepcore import _array as dc_array

CUDA_BUILT = _C.info()["cuda_built"]
HAS_GPU = CUDA_BUILT and _C.cuda_device_count() > 0


@pytest.fixture
def fresh_cuda_state(monkeypatch):
    """require_cuda() caches its success; each error-path test starts without the cache."""
    monkeypatch.setattr(dc_array, "_cupy", None)


# ------------------------------------------------------------------ error paths (any machine)


@pytest.mark.skipif(CUDA_BUILT, reason="this build has the CUDA kernels")
def test_without_cuda_build_every_entry_says_so(fresh_cuda_state):
    x = dc.ones(3)
    for call in (
        lambda: x.to("cuda"),
        lambda: x.cuda(),
        lambda: dc.tensor([1.0, 2.0], device="cuda"),
        lambda: dc.tensor([1.0], device="cuda:0"),
    ):
        with pytest.raises(RuntimeError, match="built without CUDA.*DEEPCORE_CUDA=ON"):
            call()


@pytest.mark.skipif(not CUDA_BUILT or HAS_GPU, reason="needs a CUDA build on a machine without GPU")
def test_cuda_build_without_gpu_says_so(fresh_cuda_state):
    with pytest.raises(RuntimeError, match="no CUDA GPU is present"):
        dc.ones(3).to("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU is present"):
        dc.tensor([1.0], device="cuda")


def test_missing_cupy_says_how_to_install_it(fresh_cuda_state, monkeypatch):
    # a CUDA build on a machine with a GPU, but no CuPy: the build and GPU checks are made to
    # pass, and `import cupy` to fail
    monkeypatch.setattr(_C, "info", lambda: {"cuda_built": True})
    monkeypatch.setattr(_C, "cuda_device_count", lambda: 1)
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError, match=r"need CuPy.*deepcore\[cuda\].*cupy-cuda13x"):
        dc.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="need CuPy"):
        dc.tensor([1.0], device="cuda")


def test_checks_run_in_order_build_then_gpu_then_cupy(fresh_cuda_state, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(_C, "info", lambda: {"cuda_built": False})
    monkeypatch.setattr(_C, "cuda_device_count", lambda: 0)
    with pytest.raises(RuntimeError, match="built without CUDA"):
        dc_array.require_cuda()
    monkeypatch.setattr(_C, "info", lambda: {"cuda_built": True})
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        dc_array.require_cuda()


@pytest.mark.parametrize("bad", ["tpu", "cuda:", "cuda:x", "gpu", "cuda:-1", "", None, 3])
def test_unknown_device_names_it(bad):
    with pytest.raises(ValueError, match="unknown device"):
        dc.tensor([1.0], device=bad if bad is not None else "none")
    with pytest.raises(ValueError, match="unknown device"):
        dc.ones(2).to(str(bad))


def test_cpu_device_spellings_are_noops():
    x = dc.ones(2)
    assert x.to("cpu") is x and x.to("cpu:0") is x and x.cpu() is x
    assert dc.tensor([1.0], device="cpu:0").device == "cpu"
    assert dc.tensor(np.ones(2), device=None).device == "cpu"


def test_cpu_tensor_has_no_cuda_array_interface():
    x = dc.ones(3)
    assert not hasattr(x, "__cuda_array_interface__")
    with pytest.raises(AttributeError, match="tensor on 'cpu' has no __cuda_array_interface__"):
        x.__cuda_array_interface__  # noqa: B018


def test_from_dlpack_refuses_other_devices():
    class OnDevice:
        def __init__(self, dev_type):
            self.dev_type = dev_type

        def __dlpack__(self, *args, **kwargs):
            raise AssertionError("must not be read")

        def __dlpack_device__(self):
            return (self.dev_type, 0)

    with pytest.raises(ValueError, match="DLPack device type 4"):
        dc.from_dlpack(OnDevice(4))
    if not HAS_GPU:
        with pytest.raises(RuntimeError, match="CUDA|CuPy"):
            dc.from_dlpack(OnDevice(2))


# ------------------------------------------------------------------ on a GPU


@pytest.fixture(scope="module")
def cp():
    return dc_array.require_cuda()


@pytest.mark.gpu
def test_round_trip_keeps_values_and_dtype(cp):
    for dtype in (np.float32, np.float64, np.int64, np.bool_):
        a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
        t = dc.tensor(a).to("cuda")
        assert t.device == "cuda" and isinstance(t.data, cp.ndarray)
        assert t.dtype == a.dtype and t.shape == a.shape
        back = t.to("cpu")
        assert back.device == "cpu" and type(back.data) is np.ndarray
        np.testing.assert_array_equal(back.numpy(), a)
        assert t.to("cuda") is t and t.cuda() is t


@pytest.mark.gpu
def test_tensor_factory_on_cuda(cp):
    t = dc.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda")
    assert t.device == "cuda" and t.dtype == np.float32
    np.testing.assert_array_equal(t.cpu().numpy(), [[1, 2], [3, 4]])
    u = dc.tensor(np.arange(3.0), dtype="float32", device="cuda:0", requires_grad=True)
    assert u.device == "cuda" and u.dtype == np.float32 and u.requires_grad
    c = cp.arange(4, dtype=cp.float64)
    v = dc.tensor(c)  # a CuPy array stays on the GPU, copied
    assert v.device == "cuda" and v.data.data.ptr != c.data.ptr
    w = dc.tensor(c, device="cpu")
    assert w.device == "cpu"
    np.testing.assert_array_equal(w.numpy(), np.arange(4.0))
    with pytest.raises(ValueError, match="does not exist"):
        dc.tensor([1.0], device=f"cuda:{cp.cuda.runtime.getDeviceCount()}")


@pytest.mark.gpu
def test_host_only_accessors_refuse_gpu_tensors(cp):
    t = dc.ones(3).to("cuda")
    with pytest.raises(TypeError, match=r"use \.cpu\(\)"):
        t.numpy()
    with pytest.raises(TypeError, match=r"use \.cpu\(\)"):
        np.asarray(t)
    assert "device='cuda'" in repr(t)
    assert t.tolist() == [1.0, 1.0, 1.0] and t[1:2].item() == 1.0


@pytest.mark.gpu
def test_cuda_array_interface_shares_memory(cp):
    t = dc.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3), device="cuda")
    view = cp.asarray(t)
    assert view.data.ptr == t.data.data.ptr
    view[0, 0] = 42.0
    assert t.cpu().numpy()[0, 0] == 42.0
    assert t.__cuda_array_interface__["shape"] == (2, 3)


@pytest.mark.gpu
def test_dlpack_exchange_with_cupy(cp):
    c = cp.arange(5, dtype=cp.float32)
    t = dc.from_dlpack(c)
    assert t.device == "cuda" and t.data.data.ptr == c.data.ptr
    back = cp.from_dlpack(t)
    assert back.data.ptr == c.data.ptr
    assert t.__dlpack_device__()[0] == 2


@pytest.mark.gpu
def test_dlpack_exchange_with_torch(cp):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch without CUDA")
    x = torch.arange(6, dtype=torch.float32, device="cuda").reshape(2, 3)
    t = dc.from_dlpack(x)
    assert t.device == "cuda" and t.data.data.ptr == x.data_ptr()
    y = torch.from_dlpack(t)
    assert y.data_ptr() == x.data_ptr() and y.device.type == "cuda"
    z = dc.tensor(x)  # through __cuda_array_interface__, copied
    np.testing.assert_array_equal(z.cpu().numpy(), x.cpu().numpy())


@pytest.mark.gpu
def test_matmul_on_cuda_through_our_gemm_with_gradients(cp):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 37, 19)).astype(np.float32)
    w = rng.standard_normal((4, 19, 23)).astype(np.float32)
    g = rng.standard_normal((4, 37, 23)).astype(np.float32)
    ta = dc.tensor(a, requires_grad=True)  # leaves on the CPU: gradients come back through .to
    tw = dc.tensor(w, requires_grad=True)
    y = ta.to("cuda") @ tw.to("cuda")
    assert y.device == "cuda"
    y.backward(cp.asarray(g))
    a64, w64, g64 = (v.astype(np.float64) for v in (a, w, g))
    for got, want in (
        (y.cpu().numpy(), a64 @ w64),
        (ta.grad.numpy(), g64 @ np.swapaxes(w64, -1, -2)),
        (tw.grad.numpy(), np.swapaxes(a64, -1, -2) @ g64),
    ):
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5
    assert ta.grad.device == "cpu" and tw.grad.device == "cpu"


@pytest.mark.gpu
def test_dense_on_cuda_through_our_gemm_with_gradients(cp):
    import deepcore.nn.functional as F

    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 7, 33)).astype(np.float32)
    k = rng.standard_normal((33, 19)).astype(np.float32)
    g = rng.standard_normal((5, 7, 19)).astype(np.float32)
    tx = dc.tensor(x, device="cuda", requires_grad=True)
    tk = dc.tensor(k, device="cuda", requires_grad=True)
    y = F.dense(tx, tk)
    assert y.device == "cuda"
    y.backward(cp.asarray(g))
    x64, k64, g64 = (v.astype(np.float64) for v in (x, k, g))
    for got, want in (
        (y.cpu().numpy(), x64 @ k64),
        (tx.grad.cpu().numpy(), g64 @ k64.T),
        (tk.grad.cpu().numpy(), x64.reshape(-1, 33).T @ g64.reshape(-1, 19)),
    ):
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-5
