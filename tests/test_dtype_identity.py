"""[Note: dtype identity] in csrc/bindings/checks.h: an array whose dtype is an equivalent but
not NumPy's canonical descriptor (every array that crossed a pickle: a multiprocessing
worker's batch, a joblib cache) goes through the native kernels like any other; a
byte-swapped one is still refused by name."""

from __future__ import annotations

import pickle

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore import kernels, optim


def _unpickled(a: np.ndarray) -> np.ndarray:
    b = pickle.loads(pickle.dumps(a))
    assert b.dtype == a.dtype and b.dtype is not np.dtype(a.dtype.name)  # the case under test
    return b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unpickled_arrays_run_through_the_kernels(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7)).astype(dtype)
    w = rng.standard_normal((3, 7)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    xu, wu, bu = _unpickled(x), _unpickled(w), _unpickled(b)
    # GEMM, bias add (linear), softmax + cross-entropy, an activation, a convolution
    np.testing.assert_allclose(
        F.linear(dc.tensor(xu), dc.tensor(wu), dc.tensor(bu)).numpy(), x @ w.T + b, rtol=1e-5
    )
    logits = dc.tensor(xu, requires_grad=True)
    loss = F.cross_entropy(logits, _unpickled(np.array([0, 1, 2, 3, 4], np.int64)))
    loss.backward()
    assert np.isfinite(loss.item()) and logits.grad.shape == x.shape
    np.testing.assert_allclose(F.relu(dc.tensor(xu)).numpy(), np.maximum(x, 0))
    img = _unpickled(rng.standard_normal((1, 2, 6, 6)).astype(dtype))
    ker = _unpickled(rng.standard_normal((4, 2, 3, 3)).astype(dtype))
    assert F.conv2d(dc.tensor(img), dc.tensor(ker)).shape == (1, 4, 4, 4)
    # scatter-add and an optimizer step (their bindings dispatch on dtype)
    idx = _unpickled(np.array([[0, 1, 0]], np.int64))
    out = dc.tensor(np.zeros((1, 2), dtype)).scatter_add(1, dc.tensor(idx), dc.tensor(xu[:1, :3]))
    np.testing.assert_allclose(out.numpy()[0], [x[0, 0] + x[0, 2], x[0, 1]], rtol=1e-6)
    p = dc.tensor(_unpickled(w), requires_grad=True)
    p.grad = dc.tensor(_unpickled(w))
    optim.Adam([p], lr=0.1).step()
    assert np.all(np.isfinite(p.numpy())) and not np.array_equal(p.numpy(), w)
    # a raw kernel
    np.testing.assert_allclose(kernels.sgemm(_unpickled(x.astype(np.float32)),
                                             _unpickled(w.astype(np.float32)), trans_b=True),
                               (x @ w.T).astype(np.float32), rtol=1e-5)  # fmt: skip


def test_byte_swapped_arrays_are_still_refused_by_name():
    a = np.ones((4, 4), np.dtype(">f4"))
    with pytest.raises(TypeError, match="must have dtype float32"):
        kernels.sgemm(a, np.ones((4, 4), np.float32))
