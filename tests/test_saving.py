"""model.save / load_model / save_weights / load_weights: one safetensors file, no pickle."""

from __future__ import annotations

import importlib.util
import json
import os
import struct

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import models, optim
from deepcore.io import safetensors as st
from deepcore.models import Input, Model, Sequential
from helpers import join_safetensors, split_safetensors


@pytest.fixture(autouse=True)
def _fresh():
    layers.reset_name_counters()
    dc.manual_seed(0)


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6, 6, 1)).astype(np.float32)
    labels = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype(np.int64)
    return x, labels


def convnet(kind="conv"):
    if kind == "conv":
        m = Sequential(
            [
                layers.Conv2D(4, (3, 3), activation="relu", input_shape=(6, 6, 1)),
                layers.BatchNormalization(),
                layers.MaxPooling2D((2, 2)),
                layers.Flatten(),
                layers.Dropout(0.2),
                layers.Dense(2, activation="softmax"),
            ]
        )
    else:
        m = Sequential(
            [
                layers.Flatten(input_shape=(6, 6, 1)),
                layers.Dense(8, activation="relu"),
                layers.BatchNormalization(),
                layers.Dropout(0.2),
                layers.Dense(2, activation="softmax"),
            ]
        )
    m.compile(
        optimizer=optim.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return m


@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_save_load_predict_identical_and_training_continues_identically(tmp_path, kind):
    x, y = data()
    m = convnet(kind)
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "m.deepcore"
    m.save(path)
    assert os.listdir(tmp_path) == ["m.deepcore"]
    loaded = models.load_model(path)
    assert type(loaded) is Sequential
    assert [type(lyr).__name__ for lyr in loaded.layers] == [type(lyr).__name__ for lyr in m.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), m.predict(x, verbose=0))
    for (ka, a), (kb, b) in zip(m.state_dict().items(), loaded.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(a, b)  # BatchNorm moving statistics included
    assert type(loaded.optimizer) is type(m.optimizer)
    assert loaded.optimizer.iterations == m.optimizer.iterations > 0
    # the same further training (same shuffles, same dropout masks) gives the same weights
    dc.manual_seed(7)
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    dc.manual_seed(7)
    loaded.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(m.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0))


def test_file_is_plain_safetensors_with_json_metadata(tmp_path):
    x, y = data(16)
    m = convnet()
    m.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.deepcore"
    m.save(path)
    raw = path.read_bytes()
    assert b"pickle" not in raw and not raw.startswith(b"\x80")  # not a pickle stream
    tensors, meta = st.load_file_with_metadata(path)
    assert meta["format"] == "deepcore.model"
    cfg = json.loads(meta["model_config"])
    assert cfg["class_name"] == "Sequential"
    assert [lc["class_name"] for lc in cfg["config"]["layers"]][:2] == [
        "Conv2D",
        "BatchNormalization",
    ]
    cc = json.loads(meta["compile_config"])
    assert cc["optimizer"]["class_name"] == "Adam"
    assert cc["loss"] == "sparse_categorical_crossentropy" and cc["metrics"] == ["accuracy"]
    assert any(k.startswith("optimizer.") for k in tensors)
    assert {k[len("model.") :] for k in tensors if k.startswith("model.")} == set(m.state_dict())


def test_functional_multi_output_round_trip(tmp_path):
    inp = Input(shape=(4,), name="features")
    h = layers.Dense(8, activation="relu")(inp)
    h2 = layers.Add()([h, layers.Dense(8)(inp)])
    a = layers.Dense(3, activation="softmax", name="cls")(h2)
    b = layers.Dense(1, name="reg")(h2)
    m = Model(inp, [a, b])
    m.compile(
        optimizer="rmsprop",
        loss=["categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics=[["accuracy"], []],
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    ya = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    yb = rng.standard_normal((32, 1)).astype(np.float32)
    m.fit(x, [ya, yb], epochs=1, verbose=0)
    m.save(tmp_path / "f.deepcore")
    loaded = models.load_model(tmp_path / "f.deepcore")
    assert isinstance(loaded, models.Functional)
    assert loaded.output_names == ["cls", "reg"]
    for p, q in zip(m.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        np.testing.assert_array_equal(p, q)
    assert loaded.evaluate(x, [ya, yb], verbose=0) == pytest.approx(
        m.evaluate(x, [ya, yb], verbose=0)
    )


def test_uncompiled_model_and_weights_only(tmp_path):
    m = Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    m.save(tmp_path / "u.deepcore")
    loaded = models.load_model(tmp_path / "u.deepcore")
    assert not loaded.compiled
    x = np.ones((2, 2), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), m.predict(x, verbose=0))
    m.save_weights(tmp_path / "w.safetensors")
    other = Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(other.predict(x, verbose=0), m.predict(x, verbose=0))
    with pytest.raises(ValueError, match="weights file"):
        models.load_model(tmp_path / "w.safetensors")
    wrong = Sequential([layers.Dense(4, input_shape=(2,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="do not fit"):
        wrong.load_weights(tmp_path / "w.safetensors")
    with pytest.raises(FileExistsError):
        m.save(tmp_path / "u.deepcore", overwrite=False)


def test_compile_false_and_custom_loss(tmp_path):
    def my_loss(y_true, y_pred):
        return dc.nn.functional.mse_loss(y_pred, dc.tensor(y_true))

    m = Sequential([layers.Dense(1, input_shape=(2,))])
    m.compile(optimizer="sgd", loss=my_loss)
    m.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), verbose=0)
    m.save(tmp_path / "c.deepcore")
    with pytest.raises(ValueError, match="custom_objects"):
        models.load_model(tmp_path / "c.deepcore")
    assert not models.load_model(tmp_path / "c.deepcore", compile=False).compiled
    loaded = models.load_model(tmp_path / "c.deepcore", custom_objects={"my_loss": my_loss})
    assert loaded.compiled


# ---------------------------------------------------------------------- hostile files
@pytest.fixture
def saved(tmp_path):
    m = Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    m.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), verbose=0)
    path = tmp_path / "good.deepcore"
    m.save(path)
    return path


def _rewrite(path, fn, keep_digest=False):
    """Edit the file's header with ``fn(header, body)`` as a hand edit (or another tool) would:
    dropping the digest, unless ``keep_digest`` (then the stale digest no longer matches)."""
    header, body = split_safetensors(path.read_bytes())
    if not keep_digest:
        header["__metadata__"].pop(st.DIGEST_KEY)
    path.write_bytes(join_safetensors(*fn(header, body)))


def test_truncated_and_tampered_files_raise_clear_errors(saved, tmp_path):
    raw = saved.read_bytes()
    bad = tmp_path / "bad.deepcore"
    for cut in (0, 5, 8, 20, len(raw) // 2, len(raw) - 1):
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="bad.deepcore"):
            models.load_model(bad)
    flipped = bytearray(raw)
    flipped[10] ^= 0xFF  # inside the JSON header
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="not valid UTF-8 JSON|header"):
        models.load_model(bad)
    bad.write_bytes(struct.pack("<Q", 10**12) + raw[8:])
    with pytest.raises(ValueError, match="invalid header length"):
        models.load_model(bad)


def test_tampered_contents_raise_clear_errors(saved, tmp_path):
    def offsets(h, body):
        k = next(k for k in h if k != "__metadata__")
        h[k]["data_offsets"][1] += 4
        return h, body

    def bad_shape(h, body):
        k = next(k for k in h if k.startswith("model.") and len(h[k]["shape"]) == 2)
        h[k]["shape"] = [h[k]["shape"][1], h[k]["shape"][0] + 1]
        return h, body

    def bad_config(h, body):
        h["__metadata__"]["model_config"] = "{not json"
        return h, body

    def renamed_weight(h, body):
        k = next(k for k in h if k.startswith("model."))
        h[k.replace("model.", "model.x")] = h.pop(k)
        return h, body

    def not_ours(h, body):
        h["__metadata__"]["format"] = "something.else"
        return h, body

    def unknown_layer(h, body):
        cfg = json.loads(h["__metadata__"]["model_config"])
        cfg["config"]["layers"][0]["class_name"] = "NoSuchLayer"
        h["__metadata__"]["model_config"] = json.dumps(cfg)
        return h, body

    def unknown_dtype(h, body):
        k = next(k for k in h if k != "__metadata__")
        h[k]["dtype"] = "Q8"
        return h, body

    cases = [
        (offsets, "data_offsets|overlap|cover"),
        (bad_shape, "need|bytes"),
        (bad_config, "model_config.*not valid JSON"),
        (renamed_weight, "do not fit.*missing"),
        (not_ours, "not a deepcore model file"),
        (unknown_layer, "NoSuchLayer"),
        (unknown_dtype, "unknown dtype"),
    ]
    for fn, msg in cases:
        bad = tmp_path / f"{fn.__name__}.deepcore"
        bad.write_bytes(saved.read_bytes())
        _rewrite(bad, fn)
        with pytest.raises(ValueError, match=msg):
            models.load_model(bad)


def test_a_corrupted_model_file_is_refused_by_its_digest(saved, tmp_path):
    """[Note: safetensors digest]: a flipped weight byte, or an edited configuration that still
    parses, used to load silently."""
    raw = saved.read_bytes()
    bad = tmp_path / "flipped.deepcore"
    bad.write_bytes(raw[:-3] + bytes([raw[-3] ^ 0x10]) + raw[-2:])
    with pytest.raises(ValueError, match="flipped.deepcore: the file is corrupted"):
        models.load_model(bad)

    def other_loss(h, body):
        h["__metadata__"]["compile_config"] = h["__metadata__"]["compile_config"].replace(
            '"mse"', '"mae"'
        )
        return h, body

    bad.write_bytes(raw)
    _rewrite(bad, other_loss, keep_digest=True)
    with pytest.raises(ValueError, match="corrupted"):
        models.load_model(bad)
    _rewrite(bad, lambda h, b: (h, b))  # the same edit without the digest: loads unverified
    assert models.load_model(bad).get_compile_config()["loss"] == "mae"


def _edit_config(path, fn):
    def edit(h, body):
        cfg = json.loads(h["__metadata__"]["model_config"])
        fn(cfg)
        h["__metadata__"]["model_config"] = json.dumps(cfg)
        return h, body

    _rewrite(path, edit)


def test_a_config_asking_for_more_weights_than_the_file_holds_is_refused(saved, tmp_path):
    """[Note: hostile model files]: an 11 KB file with units=2**31 used to try to allocate
    64 GiB (a MemoryError at best) before comparing anything with the stored tensors."""
    bad = tmp_path / "units.deepcore"
    for units in (2**31, 4):  # 4: only a few values more than the file holds
        bad.write_bytes(saved.read_bytes())
        _edit_config(bad, lambda c, u=units: c["config"]["layers"][0]["config"].update(units=u))
        with pytest.raises(ValueError, match=r"units.deepcore.*asks for a weight 'kernel'"):
            models.load_model(bad)
    bad.write_bytes(saved.read_bytes())
    _edit_config(bad, lambda c: c["config"].update(build_input_shape=[None, 2**31, 2**31]))
    with pytest.raises(ValueError, match="invalid build_input_shape"):
        models.load_model(bad)


def test_malformed_configs_raise_errors_naming_the_file(saved, tmp_path):
    """Issue 9: a null config gave AttributeError, deeply nested JSON RecursionError."""
    deep = {"class_name": "Sequential", "config": {"layers": []}}
    for _ in range(240):  # JSON that parses, models nested deeper than Python's stack
        deep = {"class_name": "Sequential", "config": {"layers": [deep]}}

    def nested(h, body):
        h["__metadata__"]["model_config"] = "[" * 100_000 + "]" * 100_000
        return h, body

    cases = [
        (lambda c: c.update(config=None), TypeError, "config must be an object, got None"),
        (
            lambda c: c["config"]["layers"][0].update(config=None),
            TypeError,
            "the config of a Dense layer must be an object",
        ),
        (lambda c: c["config"]["layers"][1].pop("class_name"), ValueError, "class_name"),
        (lambda c: c["config"].update(layers=7), TypeError, "not iterable"),
        (lambda c: c.update(deep), ValueError, "cannot rebuild the model.*RecursionError"),
    ]
    bad = tmp_path / "cfg.deepcore"
    for fn, exc, msg in cases:
        bad.write_bytes(saved.read_bytes())
        _edit_config(bad, fn)
        with pytest.raises(exc, match=msg) as info:
            models.load_model(bad)
        assert "cfg.deepcore" in str(info.value)
    bad.write_bytes(saved.read_bytes())
    _rewrite(bad, nested)
    with pytest.raises(ValueError, match="cfg.deepcore: the 'model_config' metadata is nested"):
        models.load_model(bad)


def test_an_optimizer_config_without_lr_takes_the_default(saved, tmp_path):
    """Issue 9: it gave KeyError: 'lr' (Keras fills in the default)."""

    def no_lr(h, body):
        cc = json.loads(h["__metadata__"]["compile_config"])
        del cc["optimizer"]["config"]["lr"]
        h["__metadata__"]["compile_config"] = json.dumps(cc)
        return h, body

    bad = tmp_path / "opt.deepcore"
    bad.write_bytes(saved.read_bytes())
    _rewrite(bad, no_lr)
    assert models.load_model(bad).optimizer.lr == optim.Adam().lr

    def no_config(h, body):
        cc = json.loads(h["__metadata__"]["compile_config"])
        cc["optimizer"]["config"] = None
        h["__metadata__"]["compile_config"] = json.dumps(cc)
        return h, body

    bad.write_bytes(saved.read_bytes())
    _rewrite(bad, no_config)
    with pytest.raises(TypeError, match="opt.deepcore: cannot rebuild the compile configuration"):
        models.load_model(bad)


@pytest.mark.parametrize(
    "field, value, msg",
    [
        ("step", -1, "step of parameter 0 must be a non-negative integer"),
        ("step", "x", "step of parameter 0 must be a non-negative integer"),
        ("step", 2**63, "below 2"),
        ("iterations", 2.5, "iterations must be a non-negative integer"),
        ("lr", "x", "lr .learning_rate. must be a number"),
        ("eps", -1.0, "eps .epsilon. must be in"),
    ],
)
def test_a_bad_optimizer_state_is_refused_and_changes_nothing(saved, tmp_path, field, value, msg):
    """These loaded silently (a step of -1 or "x", a learning rate of "x" in a group)."""

    def edit(h, body):
        os_ = json.loads(h["__metadata__"]["optimizer_state"])
        target = {"step": os_["state"]["0"], "iterations": os_, "lr": os_["param_groups"][0]}
        target.get(field, os_["param_groups"][0])[field] = value
        h["__metadata__"]["optimizer_state"] = json.dumps(os_)
        return h, body

    bad = tmp_path / "state.deepcore"
    bad.write_bytes(saved.read_bytes())
    _rewrite(bad, edit)
    with pytest.raises((TypeError, ValueError), match=rf"state.deepcore: .*{msg}"):
        models.load_model(bad)
    m = models.load_model(saved)
    before = m.optimizer.state_dict()
    sd = m.optimizer.state_dict()
    target = {"step": sd["state"][0], "iterations": sd, "lr": sd["param_groups"][0]}
    target.get(field, sd["param_groups"][0])[field] = value
    with pytest.raises((TypeError, ValueError), match=msg):
        m.optimizer.load_state_dict(sd)
    after = m.optimizer.state_dict()  # all or nothing
    assert after["iterations"] == before["iterations"]
    assert after["param_groups"] == before["param_groups"]
    assert [s["step"] for s in after["state"].values()] == [
        s["step"] for s in before["state"].values()
    ]


def test_save_never_leaves_a_partial_file(tmp_path, monkeypatch):
    m = Sequential([layers.Dense(3, input_shape=(2,))])
    path = tmp_path / "m.deepcore"
    m.save(path)
    before = path.read_bytes()
    m2 = Sequential([layers.Dense(300, input_shape=(200,))])
    real_write = st.atomic_write

    def failing_atomic_write(p, write):
        def half(f):
            f.write(b"partial")
            raise RuntimeError("simulated crash mid-write")

        real_write(p, half)

    monkeypatch.setattr(st, "atomic_write", failing_atomic_write)
    with pytest.raises(RuntimeError, match="simulated"):
        m2.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.deepcore"]
    assert models.load_model(path).count_params() == 9


@pytest.mark.skipif(
    importlib.util.find_spec("safetensors") is None, reason="safetensors is not installed"
)
def test_model_file_opens_with_the_safetensors_package(saved):
    from safetensors import safe_open

    with safe_open(str(saved), "np") as f:
        meta = f.metadata()
        names = set(f.keys())
        arrays = {k: f.get_tensor(k) for k in names}
    ours, our_meta = st.load_file_with_metadata(saved)
    assert meta.pop(st.DIGEST_KEY).startswith("crc32:")  # ours is verified, then dropped
    assert meta == our_meta and names == set(ours)
    for k in names:
        np.testing.assert_array_equal(arrays[k], ours[k])
