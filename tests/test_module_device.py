"""Modules, models and optimizers on a device ([Note: modules on a device] in nn/device.py): the
parts that run on any machine — ``to()``'s arguments and errors without CUDA, host copies in
state_dict / get_weights / optimizer.state_dict, optimizer state following a dtype cast of the
model. tests/test_gpu_model.py (marked `gpu`) runs the same model on "cuda"."""

from __future__ import annotations

import sys

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import _C, optim
from deepcore import _array as dc_array
from deepcore.models import Sequential
from deepcore.nn.device import device_spec

CUDA_READY = _C.info()["cuda_built"] and _C.cuda_device_count() > 0


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    layers.reset_name_counters()
    dc.manual_seed(0)
    monkeypatch.setattr(dc_array, "_cupy", None)  # require_cuda() checks again


def _model():
    m = Sequential([layers.Dense(5, activation="relu", input_shape=(3,)), layers.Dense(2)])
    m.compile(optimizer=optim.Adam(learning_rate=0.01), loss="mse")
    return m


def _data(n=16):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.standard_normal((n, 2)).astype(
        np.float32
    )


@pytest.mark.skipif(CUDA_READY, reason="a GPU is present")
def test_to_cuda_without_gpu_raises_and_changes_nothing():
    m = _model()
    before = [w.data for w in m.weights]
    for call in (
        lambda: m.to("cuda"),
        lambda: m.to(device="cuda:0"),
        lambda: m.to("cuda", "float64"),
    ):
        with pytest.raises(RuntimeError, match="CUDA"):
            call()
    assert all(w.data is a for w, a in zip(m.weights, before))
    assert all(w.dtype == np.float32 for w in m.weights)
    assert device_spec(m) == ("cpu", None)


def test_to_cuda_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setattr(_C, "info", lambda: {"cuda_built": True})
    monkeypatch.setattr(_C, "cuda_device_count", lambda: 1)
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError, match=r"need CuPy.*deepcore\[cuda\]"):
        _model().to("cuda")


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "gpu", "float1"])
def test_to_unknown_device_names_it(bad):
    with pytest.raises(ValueError, match="neither a device"):
        _model().to(bad)


def test_to_argument_forms_on_cpu():
    m = _model()
    assert m.to("cpu") is m and device_spec(m) == ("cpu", None)
    m.to(np.float64)
    assert all(w.dtype == np.float64 for w in m.weights)
    m.to("float32")
    assert all(w.dtype == np.float32 for w in m.weights)
    m.to("cpu", "float64")
    assert all(w.dtype == np.float64 for w in m.weights)
    m.to(device="cpu:0", dtype=np.float32)
    assert all(w.dtype == np.float32 for w in m.weights)
    with pytest.raises(TypeError, match="at most 2"):
        m.to("cpu", "float32", "cpu")
    with pytest.raises(TypeError, match="cannot tell"):
        m.to("float32", "float64")


def test_state_dict_and_get_weights_are_host_copies():
    m = _model()
    sd = m.state_dict()
    for (name, a), w in zip(sd.items(), m.weights):
        assert type(a) is np.ndarray and not np.shares_memory(a, w.data), name
    for a, w in zip(m.get_weights(), m.weights):
        assert type(a) is np.ndarray and not np.shares_memory(a, w.data)
    x, y = _data()
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    st = m.optimizer.state_dict()["state"]
    for i, p in enumerate(m.optimizer.parameters()):
        for n, a in m.optimizer.state[p].items():
            assert type(st[i][n]) is np.ndarray and not np.shares_memory(st[i][n], a)


def test_model_to_dtype_takes_the_optimizer_state_along():
    # regression: the optimizer's slots stayed float32 after model.to(np.float64), so the
    # next fit's update step refused the float64 parameters
    x, y = _data()
    m = _model()
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    m.to(np.float64)
    for p in m.optimizer.parameters():
        assert all(a.dtype == np.float64 for a in m.optimizer.state[p].values())
    h = m.fit(x.astype(np.float64), y.astype(np.float64), epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(h.history["loss"]).all()


def test_optimizer_follows_parameters_cast_behind_its_back():
    # a PyTorch-style loop: the module is cast after the optimizer made its state
    lin = layers.Dense(3)
    lin.build((None, 4))
    opt = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    x = dc.tensor(np.ones((2, 4), np.float32))
    lin(x).sum().backward()
    opt.step()
    lin.to(np.float64)
    lin(dc.tensor(np.ones((2, 4)))).sum().backward()
    opt.step()
    for p in lin.parameters():
        assert all(a.dtype == np.float64 for a in opt.state[p].values())


def test_load_state_dict_copies_into_the_weights():
    m, m2 = _model(), _model()
    x, _ = _data()
    m2.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))
    m2.set_weights(m.get_weights())
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))
