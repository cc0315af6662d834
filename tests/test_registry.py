"""Names -> things: one registry per concept (activations, losses, optimizers), and the fused
paths that follow what an activation *is* rather than which object was passed."""

from __future__ import annotations

import deepcore as dc
import deepcore.models
import deepcore.nn as nn
import deepcore.nn.functional as F
import numpy as np
import pytest

X = np.linspace(-4, 4, 17)


def _apply(fn, x=X):
    return fn(dc.tensor(x, dtype="float64")).detach().numpy()


# ---------------------------------------------------------------------- activations
def test_one_activation_table():
    assert nn.get_activation is F.get_activation
    for name in F.ACTIVATIONS.names(aliases=True):
        assert nn.get_activation(name) is F.get_activation(name)


def test_keras_names_have_keras_defaults():
    # leaky_relu: Keras's activation function slope 0.2 (not PyTorch's 0.01) everywhere
    want = np.where(X > 0, X, 0.2 * X)
    np.testing.assert_allclose(_apply(F.leaky_relu), want)
    np.testing.assert_allclose(_apply(F.get_activation("leaky_relu")), want)
    np.testing.assert_allclose(_apply(nn.Activation("leaky_relu", dtype="float64")), want)
    np.testing.assert_allclose(_apply(nn.get_activation("leaky_relu")), want)
    # the LeakyReLU layer keeps Keras's layer default 0.3
    np.testing.assert_allclose(_apply(nn.LeakyReLU(dtype="float64")), np.where(X > 0, X, 0.3 * X))
    # hard_sigmoid: relu6(x + 3) / 6 (Keras 3 and PyTorch's hardsigmoid) everywhere
    want = np.clip(X / 6 + 0.5, 0, 1)
    for fn in (F.hard_sigmoid, F.get_activation("hard_sigmoid"), nn.get_activation("hardsigmoid")):
        np.testing.assert_allclose(_apply(fn), want, atol=1e-15)
    # gelu: the exact form
    np.testing.assert_allclose(_apply(nn.get_activation("gelu")), _apply(F.gelu))


@pytest.mark.parametrize(
    "alias, name",
    [("silu", "swish"), ("hardsigmoid", "hard_sigmoid"), ("identity", "linear"),
     ("logistic", "sigmoid"), ("ReLU", "relu")],
)  # fmt: skip
def test_activation_aliases(alias, name):
    fn = F.get_activation(alias)
    assert fn is F.get_activation(name)
    assert F.serialize_activation(fn) == name


def test_activation_names_follow_the_function_not_the_object():
    assert F.activation_name(F.relu) == "relu"
    assert F.activation_name(F.silu) == "swish"
    assert F.activation_name(None) == "linear"
    assert F.activation_name(lambda x: x) is None
    layer = nn.Dense(3, activation=F.softmax)
    assert layer.get_config()["activation"] == "softmax"
    with pytest.raises(ValueError, match="cannot serialise activation"):
        F.serialize_activation(lambda x: x)
    with pytest.raises(ValueError, match="unknown activation 'rleu'"):
        F.get_activation("rleu")
    with pytest.raises(TypeError, match="activation must be a name or a callable"):
        F.get_activation(3)


# ---------------------------------------------------------------------- fused paths
def _classifier(activation):
    m = dc.models.Sequential([nn.Dense(3, activation=activation, input_shape=(4,))])
    m.compile(optimizer="sgd", loss="categorical_crossentropy")
    return m


@pytest.mark.parametrize("activation", ["softmax", F.softmax, nn.get_activation("softmax")])
def test_softmax_output_fuses_with_cross_entropy_however_given(activation, tmp_path):
    m = _classifier(activation)
    assert m._resolve_compile().fused == [True]
    m.save(tmp_path / "m.deepcore")
    assert dc.models.load_model(tmp_path / "m.deepcore")._resolve_compile().fused == [True]


def test_non_softmax_output_does_not_fuse():
    assert _classifier(F.sigmoid)._resolve_compile().fused == [False]
    assert _classifier(lambda x: F.softmax(x))._resolve_compile().fused == [False]


def _graph_ops(t):
    """Names of the Functions in t's graph."""
    seen, stack = [], [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        seen.append(node.fn.__name__)
        stack.extend(p.grad_fn for p in node.parents if p is not None)
    return seen


@pytest.mark.parametrize("activation", ["relu", F.relu, nn.get_activation("relu")])
def test_conv_relu_fuses_however_given(activation):
    x = dc.tensor(np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32))
    conv = nn.Conv2D(4, 3, activation=activation)
    y = conv(x)
    ops = _graph_ops(y)
    assert ops and "_Activation" not in ops  # the ReLU ran in the conv kernel's epilogue
    plain = nn.Conv2D(4, 3)
    plain.build(x.shape)
    plain.load_state_dict(conv.state_dict())
    assert "_Activation" in _graph_ops(nn.Conv2D(4, 3, activation=F.sigmoid)(x))
    want = np.maximum(plain(x).detach().numpy(), 0)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------- losses and optimizers
def test_loss_registry_names_aliases_and_functions():
    from deepcore import losses

    for ident in ("mse", "mean_squared_error", "MeanSquaredError", losses.mean_squared_error):
        assert type(losses.get(ident)) is losses.MeanSquaredError
    assert losses.LOSSES.name_of(losses.BinaryCrossentropy) == "binary_crossentropy"
    assert losses.LOSSES.name_of(losses.binary_crossentropy) == "binary_crossentropy"
    cfg = losses.serialize(losses.get("bce"))
    assert type(losses.deserialize(cfg)) is losses.BinaryCrossentropy
    with pytest.raises(ValueError, match="unknown loss 'msse'"):
        losses.get("msse")
    with pytest.raises(ValueError, match="cannot serialize the custom loss"):
        losses.serialize(losses.get(lambda t, p: (p - t).mean()))


def test_optimizer_registry_and_subclasses():
    from deepcore import optim

    assert type(optim.get("RMSprop")) is optim.RMSprop
    assert type(optim.get("rmsprop")) is optim.RMSprop
    assert optim.OPTIMIZERS.name_of(optim.AdamW) == "adamw"

    class MyAdam(optim.Adam):  # does not rename itself: must not take over "adam"
        pass

    assert type(optim.get("adam")) is optim.Adam
    cfg = optim.serialize(MyAdam(learning_rate=0.5))
    with pytest.raises(ValueError, match="unknown optimizer 'MyAdam'"):
        optim.deserialize(cfg)
    opt = optim.deserialize(cfg, custom_objects={"MyAdam": MyAdam})
    assert type(opt) is MyAdam and opt.lr == 0.5


def test_one_categorical_crossentropy():
    """losses.categorical_crossentropy (Keras's argument order, what fit uses) is
    F.categorical_crossentropy: one autograd node, the same value and gradient."""
    from deepcore import losses

    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 1.0, (5, 4))
    t = np.eye(4)[rng.integers(0, 4, 5)]
    # the function gives Keras's per-sample values, the class their mean
    for fn in (losses.categorical_crossentropy, losses.get("categorical_crossentropy")):
        x = dc.tensor(p, dtype="float64", requires_grad=True)
        y = fn(t, x)
        assert y.grad_fn.fn.__name__ == "_CategoricalCE"
        y = y.mean()
        y.backward()
        x2 = dc.tensor(p, dtype="float64", requires_grad=True)
        y2 = F.categorical_crossentropy(x2, t)
        y2.backward()
        np.testing.assert_allclose(y.item(), y2.item(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-12)
    per = losses.sparse_categorical_crossentropy(
        t.argmax(-1)[:, None], dc.tensor(p), reduction="none"
    )
    assert per.grad_fn is None or per.grad_fn.fn.__name__ == "_CategoricalCE"
    np.testing.assert_allclose(
        per.numpy(),
        F.categorical_crossentropy(dc.tensor(p), t, reduction="none").numpy(),
        rtol=1e-6,
    )
