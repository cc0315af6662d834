"""Tensor creation, dtypes, interop (NumPy, __array__, DLPack, PyTorch), 0-D to 5-D."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest
from helpers import HAS_TORCH, requires_torch

if HAS_TORCH:
    import torch


def test_tensor_dtypes():
    assert dc.tensor([1.0, 2.0]).dtype == np.float32
    assert dc.tensor([1, 2]).dtype == np.float32  # lists and scalars become float32
    assert dc.tensor(3.0).dtype == np.float32 and dc.tensor(3.0).shape == ()
    assert dc.tensor(np.ones(2)).dtype == np.float64  # a NumPy float array keeps its dtype
    assert dc.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert dc.tensor(np.ones(2, np.float16)).dtype == np.float16  # [Note: float16 storage]
    assert dc.tensor(np.arange(3)).dtype == np.int64
    assert dc.tensor([True, False]).dtype == np.bool_
    for d in ("float64", np.float64, np.dtype("float64")):
        assert dc.tensor([1.0], dtype=d).dtype == np.float64
    with pytest.raises(TypeError, match="unsupported dtype"):
        dc.tensor([1.0], dtype="complex128")
    with pytest.raises(TypeError):
        dc.tensor("abc")
    with pytest.raises(ValueError, match="unknown device"):
        dc.tensor([1.0], device="tpu")


def test_tensor_copies_from_numpy_shares():
    a = np.zeros(3, np.float32)
    t, f = dc.tensor(a), dc.from_numpy(a)
    a[0] = 1
    assert t.numpy()[0] == 0 and f.numpy()[0] == 1
    with pytest.raises(TypeError, match="numpy.ndarray"):
        dc.from_numpy([1.0])


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (2, 1, 3, 4), (2, 2, 1, 3, 2)])
def test_zero_to_five_dims(shape):
    x = dc.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    assert x.ndim == len(shape) and x.shape == shape and x.size == int(np.prod(shape))
    y = (x * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())


def test_properties_and_scalars():
    x = dc.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert len(x) == 2 and x.device == "cpu"
    assert x.sum().item() == 10.0 and float(x[1, 1]) == 4.0 and int(x[0, 1]) == 2
    assert bool(x[0, 0] == 1.0)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x > 0)
    with pytest.raises(ValueError, match="one-element"):
        x.item()
    with pytest.raises(TypeError):
        len(dc.tensor(1.0))
    assert "tensor(" in repr(x) and "grad_fn=<Mul>" in repr(dc.ones(1, requires_grad=True) * 2)
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_array_protocol():
    x = dc.tensor(np.arange(6.0).reshape(2, 3))
    a = np.asarray(x)
    assert a is x.data
    b = np.array(x)
    assert b is not x.data and np.array_equal(b, x.data)
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert x.__array__(copy=True) is not x.data
    with pytest.raises(ValueError, match="copy=False"):
        x.__array__(np.float32, copy=False)
    np.testing.assert_allclose(np.exp(x), np.exp(x.data))  # ufuncs see the array


def test_dlpack_numpy_roundtrip():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = dc.from_dlpack(a)
    assert np.shares_memory(t.numpy(), a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)
    assert t.__dlpack_device__() == (1, 0)
    with pytest.raises(TypeError, match="DLPack"):
        dc.from_dlpack([1, 2])


@requires_torch
def test_dlpack_torch_roundtrip():
    pt = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = dc.from_dlpack(pt)
    assert t.shape == (3, 4) and t.dtype == np.float32
    t.data[0, 0] = 42.0  # zero-copy: visible from torch
    assert pt[0, 0].item() == 42.0
    x = dc.randn(2, 5, dtype="float64")
    px = torch.from_dlpack(x)
    assert px.dtype == torch.float64 and np.array_equal(px.numpy(), x.numpy())
    px[1, 1] = -7.0
    assert x.numpy()[1, 1] == -7.0


def test_manual_seed_reproducible():
    dc.manual_seed(7)
    a = dc.randn(4)
    r = dc.get_rng().random()
    dc.manual_seed(7)
    np.testing.assert_array_equal(a.numpy(), dc.randn(4).numpy())
    assert r == dc.get_rng().random()


def test_to_and_cpu():
    x = dc.ones(2)
    assert x.to("cpu") is x and x.cpu() is x
    with pytest.raises((RuntimeError, NotImplementedError)):
        x.to("cuda")


def test_iteration():
    x = dc.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(rows) == 3 and rows[2].shape == (2,)
    sum(r.sum() for r in rows).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 2)))
    with pytest.raises(TypeError, match="0-d"):
        list(dc.tensor(1.0))
