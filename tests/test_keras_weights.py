"""Keras weight layouts (issue 13): Dense kernels are (in, out) everywhere (weights,
get_weights / set_weights, saved files), convolution kernels show Keras's (*kernel_size, in,
out) at get/set; files written before the change (format version 1, Dense kernels (out, in))
still load."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import models, optim
from deepcore.io import safetensors as st


def as_np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy() if isinstance(t, dc.Tensor) else t)


def test_dense_kernel_is_in_out_as_keras():
    # keras.io: model.add(Dense(32, input_shape=(16,))) has a (16, 32) kernel and (32,) bias
    model = models.Sequential([layers.Dense(32, input_shape=(16,))])
    kernel, bias = model.get_weights()
    assert kernel.shape == (16, 32) and bias.shape == (32,)
    assert [tuple(w.shape) for w in model.layers[0].weights] == [(16, 32), (32,)]
    x = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ kernel + bias, rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    # set_weights takes Keras's arrays as they are
    k2 = np.arange(16 * 32, dtype=np.float32).reshape(16, 32) / 100
    model.set_weights([k2, np.ones(32, np.float32)])
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ k2 + 1, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match=r"\(16, 32\)"):
        model.set_weights([k2.T, np.ones(32, np.float32)])


def test_dense_gradients_in_keras_layout():
    d = layers.Dense(3)
    x = dc.tensor(np.random.default_rng(1).standard_normal((4, 5)))
    d.to(np.float64)
    d.build((None, 5))
    y = d(x)
    g = np.random.default_rng(2).standard_normal((4, 3))
    (y * dc.tensor(g)).sum().backward()
    np.testing.assert_allclose(as_np(d.kernel.grad), as_np(x).T @ g, rtol=1e-12)
    np.testing.assert_allclose(as_np(d.bias.grad), g.sum(0), rtol=1e-12)
    # F.dense (Keras layout) and F.linear (PyTorch layout) agree; F.linear is unchanged
    w = as_np(d.kernel)
    np.testing.assert_allclose(
        as_np(layers.functional.dense(x, d.kernel, d.bias)),
        as_np(layers.functional.linear(x, dc.tensor(np.ascontiguousarray(w.T)), d.bias)),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match=r"kernel .* expects 3 input"):
        layers.functional.dense(np.ones((2, 4)), np.ones((3, 2)))


@pytest.mark.parametrize("cls,shape,kshape", [
    (layers.Conv2D, (2, 7, 6, 3), (3, 2)),
    (layers.Conv1D, (2, 9, 3), (4,)),
])  # fmt: skip
def test_conv_get_set_weights_in_keras_layout(cls, shape, kshape):
    layer = cls(5, kshape)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    y = as_np(layer(x))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (*kshape, 3, 5)  # Keras: (*kernel_size, in, out)
    # the stored kernel stays in the layout the kernels read (no per-step conversion)
    assert layer.kernel.shape == (5, 3, *kshape)
    # Keras's definition of the convolution with that kernel
    n_sp = len(kshape)
    out_sp = [s - k + 1 for s, k in zip(shape[1:-1], kshape)]
    ref = np.zeros((shape[0], *out_sp, 5))
    for idx in np.ndindex(*kshape):
        sl = tuple(slice(i, i + o) for i, o in zip(idx, out_sp))
        ref += np.tensordot(x[(slice(None), *sl)], kernel[idx], axes=([1 + n_sp], [0]))
    np.testing.assert_allclose(y, ref + bias, rtol=1e-4, atol=1e-4)
    # set_weights with Keras arrays round-trips
    other = cls(5, kshape)
    other.build((None, *shape[1:]))
    other.set_weights([kernel, bias])
    np.testing.assert_allclose(as_np(other(x)), y, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="has shape"):
        other.set_weights([layer.kernel.numpy(), bias])  # the stored layout is not Keras's
    # whole-model get/set use the same layout
    model = models.Sequential([layers.Input(shape=shape[1:]), cls(5, kshape), layers.Flatten()])
    model.set_weights([kernel, bias])
    np.testing.assert_allclose(model.predict(x, verbose=0), y.reshape(len(x), -1), rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    assert model.get_weights()[0].shape == kernel.shape


def _v1_file(model: models.Model, path, v1_path) -> None:
    """What the code before this change wrote for ``model``: format version 1 with every Dense
    kernel (and its optimizer slots) stored (out, in)."""
    model.save(path)
    with st.safe_open(str(path)) as f:
        tensors, meta = f.read(), f.metadata()
    dense = {id(lyr.kernel) for lyr in model.modules() if isinstance(lyr, layers.Dense)}
    names = [n for n, w, _, _ in model._named_weights() if id(w) in dense]
    params = [p for p in model.parameters() if p.requires_grad]
    slots = [str(i) for i, p in enumerate(params) if id(p) in dense]
    old = {}
    for k, v in tensors.items():
        parts = k.split(".")
        transposed = k[len("model.") :] in names or (
            k.startswith("optimizer.state.") and parts[2] in slots and v.ndim == 2
        )
        old[k] = np.ascontiguousarray(v.T) if transposed else v
    assert any(k[len("model.") :] in names for k in old)
    st.save_file(old, str(v1_path), metadata={**meta, "format_version": "1"})


def test_version_1_files_still_load(tmp_path):
    dc.manual_seed(0)
    model = models.Sequential([
        layers.Input(shape=(6, 6, 1)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
        layers.Dense(5, activation="relu"), layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer=optim.Adam(learning_rate=1e-2), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    v1 = tmp_path / "old.deepcore"
    _v1_file(model, tmp_path / "new.deepcore", v1)
    loaded = models.load_model(v1)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)  # fmt: skip
    # the optimizer state came back in the new layout: one more step is the same step
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # weights-only version-1 files too
    model.save_weights(tmp_path / "w.deepcore")
    with st.safe_open(str(tmp_path / "w.deepcore")) as f:
        tensors, meta = f.read(), f.metadata()
    old = {k: (np.ascontiguousarray(v.T) if v.ndim == 2 else v) for k, v in tensors.items()}
    st.save_file(old, str(tmp_path / "w1.deepcore"), metadata={**meta, "format_version": "1"})
    fresh = models.Sequential([
        layers.Input(shape=(6, 6, 1)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
        layers.Dense(5, activation="relu"), layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    fresh.load_weights(tmp_path / "w1.deepcore")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)  # fmt: skip


def test_unknown_format_version_is_a_clear_error(tmp_path):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    model.save(tmp_path / "m.deepcore")
    with st.safe_open(str(tmp_path / "m.deepcore")) as f:
        tensors, meta = f.read(), f.metadata()
    for version in ("3", "0", None):
        m = dict(meta)
        if version is None:
            del m["format_version"]
        else:
            m["format_version"] = version
        st.save_file(tensors, str(tmp_path / "bad.deepcore"), metadata=m)
        with pytest.raises(ValueError, match="unsupported model file version"):
            models.load_model(tmp_path / "bad.deepcore")
        with pytest.raises(ValueError, match="unsupported model file version"):
            model.load_weights(tmp_path / "bad.deepcore")


def test_dense_initial_kernel_keeps_the_draws_of_the_old_layout():
    """Seeded runs keep their numbers: the (in, out) kernel is the transpose of what the
    (out, in) layout drew, with the fans of a Keras (in, out) kernel (fan_in = in)."""
    init = layers.initializers
    for name, ref in [
        ("glorot_uniform", lambda: init.GlorotUniform()((3, 4))),
        ("he_normal", lambda: init.VarianceScaling(2.0, "fan_out", "truncated_normal")((3, 4))),
    ]:
        dc.manual_seed(7)
        d = layers.Dense(3, kernel_initializer=name)
        d.build((None, 4))
        dc.manual_seed(7)
        np.testing.assert_array_equal(d.kernel.numpy(), ref().T)
    # and the scale is Keras's: He's variance 2 / fan_in with fan_in = the input size
    dc.manual_seed(0)
    big = layers.Dense(400, kernel_initializer="he_normal")
    big.build((None, 100))
    assert big.kernel.numpy().var() == pytest.approx(2.0 / 100, rel=0.05)
