"""A model on "cuda" ([Note: modules on a device] in nn/device.py): ``model.to("cuda")`` moves the
weights and the optimizer's state; fit / evaluate / predict run unchanged (batches moved to the
model's device, predictions and metrics returned on the host) and match the same model trained
on the CPU from the same weights; a file saved from the GPU loads on the CPU and back. Needs the
CUDA kernels of every op the model uses. Marked `gpu` ([Note: gpu marker] in conftest.py)."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import models, optim

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cp():
    from deepcore._array import require_cuda

    return require_cuda()


def _convnet():
    layers.reset_name_counters()
    dc.manual_seed(0)
    m = models.Sequential(
        [
            layers.Conv2D(8, 3, activation="relu", input_shape=(12, 12, 1)),
            layers.MaxPooling2D(2),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(16, activation="relu"),
            layers.Dense(4, activation="softmax"),
        ]
    )
    m.compile(
        optimizer=optim.RMSprop(learning_rate=0.003),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return m


def _data(n=96):
    rng = np.random.default_rng(0)
    x = rng.random((n, 12, 12, 1), dtype=np.float32)
    labels = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype(int)
    labels += 2 * (x[:, :, :6].mean(axis=(1, 2, 3)) > 0.5)
    return x, np.eye(4, dtype=np.float32)[labels]


def test_fit_evaluate_predict_on_cuda_match_the_cpu(cp):
    x, y = _data()
    cpu, gpu = _convnet(), _convnet()
    gpu.set_weights(cpu.get_weights())
    gpu.to("cuda")
    assert all(isinstance(w.data, cp.ndarray) for w in gpu.weights)
    h_cpu = cpu.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    h_gpu = gpu.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    np.testing.assert_allclose(h_gpu.history["loss"], h_cpu.history["loss"], rtol=1e-3)
    for p in gpu.optimizer.parameters():
        assert all(isinstance(a, cp.ndarray) for a in gpu.optimizer.state[p].values())
    p_cpu, p_gpu = cpu.predict(x, verbose=0), gpu.predict(x, verbose=0)
    assert type(p_gpu) is np.ndarray
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(
        gpu.evaluate(x, y, verbose=0), cpu.evaluate(x, y, verbose=0), rtol=1e-3
    )


def test_to_cuda_after_compile_and_fit_moves_the_optimizer_state(cp):
    x, y = _data()
    m = _convnet()
    m.fit(x, y, batch_size=32, epochs=1, verbose=0)
    m.to("cuda")
    for p in m.optimizer.parameters():
        assert all(isinstance(a, cp.ndarray) for a in m.optimizer.state[p].values())
    h = m.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    m.to("cpu")
    assert all(type(w.data) is np.ndarray for w in m.weights)
    m.fit(x, y, batch_size=32, epochs=1, verbose=0)


def test_saved_files_do_not_depend_on_the_device(cp, tmp_path):
    x, y = _data()
    m = _convnet().to("cuda")
    m.fit(x, y, batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "m.deepcore"
    m.save(path)
    back = models.load_model(path)  # on the CPU
    assert all(type(w.data) is np.ndarray for w in back.weights)
    np.testing.assert_allclose(
        back.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-4, atol=1e-6
    )
    back.to("cuda")
    back.fit(x, y, batch_size=32, epochs=1, verbose=0)  # the loaded optimizer state moved too
    sd = m.state_dict()
    assert all(type(a) is np.ndarray for a in sd.values())
    fresh = _convnet().to("cuda")
    fresh.load_state_dict(sd)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)


def test_lazily_built_layers_are_made_on_the_device(cp):
    lin = layers.Dense(3).to("cuda")
    out = lin(dc.tensor(np.ones((2, 4), np.float32), device="cuda"))
    assert isinstance(lin.kernel.data, cp.ndarray) and out.device == "cuda"
