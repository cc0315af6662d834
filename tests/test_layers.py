"""deepcore.nn layers: a Keras-run_layer_test-like helper over every layer, plus per-layer
numerics against NumPy float64 references, train/eval behaviour, the channels-last plan and
bad inputs."""

from __future__ import annotations

import json

import deepcore as dc
import deepcore.nn as nn
import numpy as np
import pytest
from deepcore.nn import functional as F

HAS_OPS = all(hasattr(dc.Tensor, a) for a in ("__mul__", "__matmul__", "reshape", "permute"))


def _missing(*fns: str) -> list[str]:
    out = [f"F.{f}" for f in fns if not hasattr(F, f)]
    if not HAS_OPS:
        out.append("Tensor ops")
    return out


def needs(*fns: str):
    """Skip while a dependency from another engineer's area has not landed on this branch."""
    miss = _missing(*fns)
    return pytest.mark.skipif(bool(miss), reason=f"waiting for {', '.join(miss)}")


def as_np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy() if isinstance(t, dc.Tensor) else t)


def build_chain(layers, input_shape):
    """Build layers in sequence from a (None, ...) shape; returns the output shapes."""
    shape = (None, *input_shape)
    shapes = []
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
        shapes.append(shape)
    return shapes


def config_round_trip(layer):
    cfg = json.loads(json.dumps(nn.serialize(layer)))
    clone = nn.deserialize(cfg)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    return clone


def run_layer_test(layer_cls, kwargs, input_shape, expected_output_shape, expected_params,
                   dtype=np.float32, call=True, train=True, seed=0):  # fmt: skip
    """Keras run_layer_test: params, config round trip, forward shape = compute_output_shape,
    state_dict round trip through a clone, and one SGD step that reduces a loss."""
    dc.manual_seed(seed)
    layer = layer_cls(**kwargs)
    batch_shape = (None, *input_shape[1:])
    layer.build(batch_shape)
    assert layer.built
    assert layer.count_params() == expected_params
    assert tuple(layer.compute_output_shape(batch_shape)) == tuple(expected_output_shape)
    clone = config_round_trip(layer)
    if not call:
        return layer
    rng = np.random.default_rng(seed)
    x = dc.tensor(rng.standard_normal(input_shape).astype(dtype))
    y = layer(x)
    assert y.shape == (input_shape[0], *expected_output_shape[1:])
    assert np.all(np.isfinite(as_np(y)))
    # the clone, given the same weights, computes the same
    clone.build(batch_shape)
    clone.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(as_np(clone(x)), as_np(y), rtol=1e-6, atol=1e-6)
    params = list(layer.parameters())
    if train and params:
        target = dc.tensor(rng.standard_normal(y.shape).astype(dtype))

        def loss_fn():
            d = layer(x) - target
            return (d * d).mean()

        loss0 = loss_fn()
        loss0.backward()
        assert all(p.grad is not None and p.grad.shape == p.shape for p in params)
        with dc.no_grad():
            for p in params:
                p.data -= 1e-2 * p.grad.data
        layer.zero_grad()
        assert loss_fn().item() < loss0.item()
    return layer


# ---------------------------------------------------------------------- parameter counts


def test_seed_convnet_parameter_counts():
    """SPEC: the seed Keras convnet reports 93,322 parameters, its conv part 55,744."""
    layers = [
        nn.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        nn.MaxPooling2D((2, 2)),
        nn.Conv2D(64, (3, 3), activation="relu"),
        nn.MaxPooling2D((2, 2)),
        nn.Conv2D(64, (3, 3), activation="relu"),
        nn.Flatten(),
        nn.Dense(64, activation="relu"),
        nn.Dense(10, activation="softmax"),
    ]
    shapes = build_chain(layers, layers[0].input_shape_arg)
    assert shapes == [
        (None, 26, 26, 32),
        (None, 13, 13, 32),
        (None, 11, 11, 64),
        (None, 5, 5, 64),
        (None, 3, 3, 64),
        (None, 576),
        (None, 64),
        (None, 10),
    ]
    counts = [layer.count_params() for layer in layers]
    assert counts == [320, 0, 18496, 0, 36928, 0, 36928, 650]
    assert sum(counts) == 93322 and sum(counts[:5]) == 55744


@pytest.mark.parametrize(
    "layer,input_shape,out_shape,params",
    [
        (lambda: nn.Dense(64), (None, 576), (None, 64), 36928),
        (lambda: nn.Dense(3, use_bias=False), (None, 5, 7), (None, 5, 3), 21),
        (lambda: nn.Conv2D(8, 3, padding="same"), (None, 9, 9, 3), (None, 9, 9, 8), 224),
        (lambda: nn.Conv2D(8, 3, strides=2, padding="same"), (None, 9, 8, 2), (None, 5, 4, 8), 152),
        (lambda: nn.Conv2D(8, (3, 5), padding="full"), (None, 4, 4, 2), (None, 6, 8, 8), 248),
        (
            lambda: nn.Conv2D(6, 3, groups=3, data_format="channels_first"),
            (None, 3, 7, 7),
            (None, 6, 5, 5),
            60,
        ),
        (lambda: nn.Conv2D(4, 3, dilation_rate=2), (None, 9, 9, 1), (None, 5, 5, 4), 40),
        (lambda: nn.Conv1D(5, 3), (None, 10, 4), (None, 8, 5), 65),
        (lambda: nn.Conv1D(5, 3, padding="causal"), (None, 10, 4), (None, 10, 5), 65),
        (lambda: nn.Conv1D(5, 4, strides=3, padding="same"), (None, 10, 4), (None, 4, 5), 85),
        (lambda: nn.MaxPooling2D(), (None, 7, 7, 3), (None, 3, 3, 3), 0),
        (lambda: nn.MaxPooling2D(padding="same"), (None, 7, 7, 3), (None, 4, 4, 3), 0),
        (
            lambda: nn.AveragePooling2D(3, 2, data_format="channels_first"),
            (None, 2, 9, 9),
            (None, 2, 4, 4),
            0,
        ),
        (lambda: nn.MaxPooling1D(3), (None, 10, 2), (None, 3, 2), 0),
        (lambda: nn.AveragePooling1D(2, padding="same"), (None, 5, 2), (None, 3, 2), 0),
        (lambda: nn.GlobalAveragePooling2D(), (None, 5, 5, 7), (None, 7), 0),
        (lambda: nn.GlobalAveragePooling2D(keepdims=True), (None, 5, 5, 7), (None, 1, 1, 7), 0),
        (
            lambda: nn.GlobalMaxPooling2D(data_format="channels_first"),
            (None, 7, 5, 5),
            (None, 7),
            0,
        ),
        (lambda: nn.GlobalAveragePooling1D(), (None, 5, 7), (None, 7), 0),
        (lambda: nn.Flatten(), (None, 3, 3, 64), (None, 576), 0),
        (lambda: nn.Reshape((-1, 4)), (None, 3, 8), (None, 6, 4), 0),
        (lambda: nn.Permute((2, 1)), (None, 3, 8), (None, 8, 3), 0),
        (lambda: nn.Dropout(0.5), (None, 3, 8), (None, 3, 8), 0),
        (lambda: nn.Activation("tanh"), (None, 3), (None, 3), 0),
        (lambda: nn.BatchNormalization(), (None, 5, 5, 16), (None, 5, 5, 16), 64),
        (lambda: nn.BatchNormalization(axis=1), (None, 16, 5, 5), (None, 16, 5, 5), 64),
        (lambda: nn.LayerNormalization(), (None, 6, 10), (None, 6, 10), 20),
        (lambda: nn.Embedding(100, 8), (None, 12), (None, 12, 8), 800),
        (lambda: nn.PReLU(), (None, 4, 4, 3), (None, 4, 4, 3), 48),
        (lambda: nn.PReLU(shared_axes=[1, 2]), (None, 4, 4, 3), (None, 4, 4, 3), 3),
        (lambda: nn.Maxout(5, 3), (None, 7), (None, 5), 120),
        (lambda: nn.ZeroPadding2D(((1, 2), (0, 3))), (None, 4, 4, 3), (None, 7, 7, 3), 0),
        (
            lambda: nn.ZeroPadding2D(1, data_format="channels_first"),
            (None, 3, 4, 4),
            (None, 3, 6, 6),
            0,
        ),
    ],
)
def test_shapes_params_config(layer, input_shape, out_shape, params):
    lay = layer()
    lay.build(input_shape)
    assert lay.count_params() == params
    assert tuple(lay.compute_output_shape(input_shape)) == out_shape
    config_round_trip(lay)


def test_merge_shapes():
    assert nn.Add().compute_output_shape([(None, 4, 4, 3), (None, 4, 4, 3)]) == (None, 4, 4, 3)
    assert nn.Concatenate().compute_output_shape([(None, 4, 4, 3), (None, 4, 4, 5)]) == (
        None, 4, 4, 8)  # fmt: skip
    assert nn.Concatenate(axis=1).compute_output_shape([(None, 2, 3), (None, 4, 3)]) == (
        None, 6, 3)  # fmt: skip
    with pytest.raises(ValueError, match="Concatenate .* match except"):
        nn.Concatenate().compute_output_shape([(None, 4, 3), (None, 5, 3)])
    with pytest.raises(ValueError, match="incompatible shapes"):
        nn.Add().compute_output_shape([(None, 4), (None, 5)])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        nn.Add().compute_output_shape([(None, 4)])


def test_config_contents():
    d = nn.Dense(3, activation="relu", kernel_initializer="he_normal",
                 kernel_regularizer=nn.regularizers.L2(1e-4), name="fc")  # fmt: skip
    cfg = d.get_config()
    assert cfg["activation"] == "relu" and cfg["kernel_initializer"] == "he_normal"
    assert cfg["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 1e-4}}
    c = nn.Conv2D(4, 3, strides=(2, 1), padding="same", data_format="channels_first")
    cfg = c.get_config()
    assert cfg["kernel_size"] == [3, 3] and cfg["strides"] == [2, 1]
    assert cfg["data_format"] == "channels_first"
    with pytest.raises(ValueError, match="cannot serialise activation"):
        nn.Dense(3, activation=lambda x: x).get_config()


# ---------------------------------------------------------------------- bad arguments / inputs


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="units"):
        nn.Dense(0)
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2D(3, 3, padding="sane")
    with pytest.raises(ValueError, match="data_format"):
        nn.Conv2D(3, 3, data_format="nhwc")
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2D(3, (3, 3, 3))
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match="causal"):
        nn.Conv2D(3, 3, padding="causal")
    with pytest.raises(ValueError, match="rate"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        nn.Dense(3, activation="relux")
    with pytest.raises(ValueError, match="unknown initializer"):
        nn.Dense(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="trailing"):
        nn.LayerNormalization(axis=1).build((None, 3, 4))


def test_bad_build_shapes_name_the_layer():
    with pytest.raises(ValueError, match=r"Conv2D 'c1' expects inputs of rank 4"):
        nn.Conv2D(3, 3, name="c1").build((None, 28, 28))
    with pytest.raises(ValueError, match=r"Conv2D 'c2'.*divisible by groups"):
        nn.Conv2D(4, 3, groups=2, name="c2").build((None, 8, 8, 3))
    with pytest.raises(ValueError, match=r"Dense 'd1'"):
        nn.Dense(3, name="d1").build((None,))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn'.*axis 3"):
        nn.BatchNormalization(axis=3, name="bn").build((None, 4, 5))


def test_wrong_channels_after_build_names_the_layer():
    c = nn.Conv2D(3, 3, name="conv_a")
    c.build((None, 8, 8, 2))
    with pytest.raises(ValueError, match=r"layer 'conv_a' \(Conv2D\).*axis -1 of size 2, found 5"):
        c(dc.tensor(np.zeros((1, 8, 8, 5), np.float32)))
    with pytest.raises(ValueError, match=r"layer 'conv_a'.*expected ndim=4, found ndim=3"):
        c(dc.tensor(np.zeros((1, 8, 8), np.float32)))
    d = nn.Dense(3, name="dense_a")
    d.build((None, 6))
    with pytest.raises(ValueError, match=r"layer 'dense_a'.*axis -1 of size 6, found 7"):
        d(dc.tensor(np.zeros((2, 7), np.float32)))
