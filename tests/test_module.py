"""deepcore.nn.Module: weights, naming, state_dict, modes, config/registry, PyTorch style."""

from __future__ import annotations

import json

import deepcore as dc
import deepcore.nn as nn
import numpy as np
import pytest


class Scale(nn.Layer):
    """A Keras-style custom layer: one weight per feature plus a non-trainable counter."""

    def __init__(self, init: str = "ones", **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), self.init)
        self.count = self.add_weight("count", (1,), "zeros", trainable=False)
        self.input_spec = nn.InputSpec(min_ndim=2, axes={-1: input_shape[-1]})

    def call(self, x, training=None):
        self.seen_training = training
        return x * self.w

    def get_config(self):
        return {**super().get_config(), "init": self.init}


class Block(nn.Module):
    """PyTorch style: sub-modules as attributes, in a list and in a dict; forward only."""

    def __init__(self):
        super().__init__()
        self.first = Scale(name="s_first")
        self.stack = [Scale(name="s0"), Scale(name="s1")]
        self.heads = {"a": Scale(name="sa")}
        self.extra = nn.Parameter(np.full((3,), 2.0, np.float32))
        self._private = Scale(name="hidden")  # not traversed

    def forward(self, x):
        x = self.first(x)
        for m in self.stack:
            x = m(x)
        return self.heads["a"](x) * self.extra


def built_block(features=3):
    b = Block()
    for m in [b.first, *b.stack, b.heads["a"]]:
        m.build((None, features))
    return b


def test_parameter_is_tensor():
    p = nn.Parameter(np.zeros((2, 3), np.float32))
    assert isinstance(p, dc.Tensor) and p.requires_grad and p.shape == (2, 3)
    assert nn.Parameter(dc.tensor([1.0, 2.0])).dtype == np.float32
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad


def test_default_names_are_unique_snake_case():
    nn.reset_name_counters()
    names = [nn.Dense(2).name, nn.Dense(2).name, nn.Conv2D(2, 3).name, nn.Dense(2).name]
    assert names == ["dense", "dense_1", "conv2d", "dense_2"]
    assert nn.MaxPooling2D().name == "max_pooling2d"
    assert nn.BatchNormalization().name == "batch_normalization"
    assert nn.GlobalAveragePooling2D().name == "global_average_pooling2d"
    assert nn.Dense(2, name="out").name == "out"
    with pytest.raises(TypeError, match="name"):
        nn.Dense(2, name="")


def test_add_weight_and_named_parameters():
    b = built_block()
    names = [n for n, _ in b.named_parameters()]
    # own weights first, then sub-modules in attribute order; lists/dicts give dotted indices
    assert names == ["extra", "first.w", "stack.0.w", "stack.1.w", "heads.a.w"]
    sd = b.state_dict()
    assert list(sd) == [
        "extra",
        "first.w",
        "first.count",
        "stack.0.w",
        "stack.0.count",
        "stack.1.w",
        "stack.1.count",
        "heads.a.w",
        "heads.a.count",
    ]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    assert len(b.trainable_weights) == 5 and len(b.non_trainable_weights) == 4
    assert b.weights[:5] == b.trainable_weights  # Keras order: trainable first
    assert b.count_params() == 3 + 4 * 3 + 4 * 1
    assert b.first.w.name == "s_first/w"
    assert [n for n, _ in b.named_modules()] == ["", "first", "stack.0", "stack.1", "heads.a"]


def test_shared_weights_and_modules_counted_once():
    s = Scale()
    s.build((None, 4))

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = s
            self.b = s

    t = Twice()
    assert [n for n, _ in t.named_parameters()] == ["a.w"]
    assert t.count_params() == 5


def test_state_dict_round_trip_and_independence():
    b1, b2 = built_block(), built_block()
    for p in b1.parameters():
        p.data[...] = dc.get_rng().standard_normal(p.shape)
    sd = b1.state_dict()
    res = b2.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    for (n1, v1), (n2, v2) in zip(b1.state_dict().items(), b2.state_dict().items()):
        assert n1 == n2
        np.testing.assert_array_equal(v1, v2)
    # loading copies in place: the Parameter objects (held by optimizers) stay the same
    w = b2.first.w
    b2.load_state_dict(sd)
    assert b2.first.w is w
    # state_dict returns copies
    sd["first.w"][...] = 123.0
    assert not np.any(b1.first.w.data == 123.0)


def test_load_state_dict_errors():
    b = built_block()
    sd = b.state_dict()
    bad = dict(sd)
    del bad["stack.1.w"]
    bad["nope"] = np.zeros(3)
    with pytest.raises(KeyError, match=r"missing key\(s\): stack.1.w.*unexpected key\(s\): nope"):
        b.load_state_dict(bad)
    res = b.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["stack.1.w"] and res.unexpected_keys == ["nope"]
    wrong = dict(sd)
    wrong["first.w"] = np.zeros(4)
    before = b.state_dict()
    with pytest.raises(ValueError, match=r"size mismatch for 'first.w'.*\(4,\).*\(3,\)"):
        b.load_state_dict(wrong)
    # nothing was half-loaded
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(KeyError, match="no weights yet"):
        nn.Dense(3).load_state_dict(sd)


def test_get_set_weights():
    s = Scale()
    s.build((None, 2))
    s.set_weights([np.array([3.0, 4.0]), np.array([1.0])])
    np.testing.assert_array_equal(s.get_weights()[0], [3.0, 4.0])
    with pytest.raises(ValueError, match="has 2 weights"):
        s.set_weights([np.zeros(2)])
    with pytest.raises(ValueError, match="shape"):
        s.set_weights([np.zeros(3), np.zeros(1)])


def test_trainable_flag():
    b = built_block()
    b.stack[0].trainable = False
    assert not b.stack[0].w.requires_grad
    assert len(b.trainable_weights) == 4 and len(b.non_trainable_weights) == 5
    assert len(list(b.parameters())) == 5  # parameters() lists frozen ones too (PyTorch)
    b.trainable = False
    assert b.trainable_weights == [] and not any(p.requires_grad for p in b.parameters())
    b.trainable = True
    assert all(p.requires_grad for p in b.parameters())
    # a layer created frozen makes frozen weights
    s = Scale(trainable=False)
    s.build((None, 2))
    assert not s.w.requires_grad and s.trainable_weights == []


def test_train_eval_and_zero_grad():
    b = built_block()
    assert b.training and b.stack[1].training
    b.eval()
    assert not any(m.training for m in b.modules())
    b.train()
    assert all(m.training for m in b.modules())
    for p in b.parameters():
        p.grad = dc.tensor(np.ones(p.shape, np.float32))
    b.zero_grad()
    assert all(p.grad is None for p in b.parameters())


def test_to_dtype_keeps_objects():
    b = built_block()
    w = b.first.w
    b.double()
    assert b.first.w is w and w.dtype == np.float64
    assert all(v.dtype == np.float64 for v in b.state_dict().values())
    b.float()
    assert w.dtype == np.float32


def test_count_params_unbuilt():
    with pytest.raises(ValueError, match="not built"):
        nn.Dense(3).count_params()


def test_build_sets_built_when_called_directly():
    d = nn.Dense(5)
    d.build((None, 7))
    assert d.built and d.count_params() == 40
    assert d.kernel.shape == (7, 5)  # (in, units): see [Note: dense kernel layout]


def test_registry_and_config_round_trip():
    s = Scale(init="zeros", name="my_scale", input_shape=(4,))
    cfg = json.loads(json.dumps(nn.serialize(s)))
    s2 = nn.deserialize(cfg)
    assert type(s2) is Scale and s2.name == "my_scale" and s2.init == "zeros"
    assert s2.input_shape_arg == (4,)
    assert nn.get_layer_class("Dense") is nn.Dense
    with pytest.raises(ValueError, match="unknown layer class 'Nope'"):
        nn.deserialize({"class_name": "Nope", "config": {}})


def test_from_config_for_pytorch_style_init():
    class NoKwargs(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.width = width

        def get_config(self):
            return {**super().get_config(), "width": self.width}

    m = NoKwargs(3)
    m.trainable = False
    m2 = NoKwargs.from_config(m.get_config())
    assert m2.width == 3 and m2.name == m.name and not m2.trainable


def test_unknown_kwarg_and_missing_super_init():
    with pytest.raises(TypeError, match="unexpected keyword"):
        nn.Dense(3, unitz=4)

    class Bad(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(np.zeros(2, np.float32))

    with pytest.raises(RuntimeError, match="super"):
        Bad()


def test_keras_input_shape_arguments():
    assert nn.Dense(3, input_shape=(28, 28)).input_shape_arg == (28, 28)
    assert nn.Dense(3, input_dim=784).input_shape_arg == (784,)
    d = nn.Dense(3, batch_input_shape=(32, 10))
    assert d.input_shape_arg == (10,) and d.batch_size_arg == 32
    assert d.get_config()["input_shape"] == [10]


def test_input_spec_error_names_the_layer():
    s = Scale(name="scaler")
    s.build((None, 3))
    with pytest.raises(ValueError, match=r"layer 'scaler' \(Scale\).*axis -1 of size 3, found 4"):
        s(dc.tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"layer 'scaler'.*min_ndim=2, found ndim=1"):
        s(dc.tensor(np.ones((3,), np.float32)))


def test_call_or_forward_required():
    class Nothing(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match="call\\(\\) or forward\\(\\)"):
        Nothing()(dc.tensor(np.ones((1, 1), np.float32)))


def test_training_argument_propagates():
    """[Note: training mode]: explicit training= reaches nested layers; else own mode."""
    b = built_block()
    x = dc.tensor(np.ones((2, 3), np.float32))
    b(x, training=False)
    assert b.first.seen_training is False and b.heads["a"].seen_training is False
    b.stack[0].eval()
    b(x)
    assert b.first.seen_training is True and b.stack[0].seen_training is False
    b(x, training=True)
    assert b.stack[0].seen_training is True


def test_forward_builds_and_computes():
    b = Block()
    x = dc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    y = b(x)
    np.testing.assert_allclose(
        y.numpy() if not y.requires_grad else y.detach().numpy(), 2 * x.numpy()
    )
    assert b.first.built and b.count_params() == 3 + 4 * 4


def test_regularization_losses():
    d = Scale()
    d.build((None, 3))
    d.w.data[...] = [1.0, -2.0, 3.0]
    d2 = nn.Dense(2, kernel_regularizer=nn.regularizers.L2(0.1))
    d2.build((None, 3))
    d2.kernel.data[...] = 1.0
    assert d.losses == [] and d.regularization_loss() == 0.0
    (loss,) = d2.losses
    assert loss.item() == pytest.approx(0.5 * 0.1 * 6)  # λ/2·‖W‖² (SPEC's convention)
    l1 = nn.regularizers.L1(0.5)(d.w)
    assert l1.item() == pytest.approx(3.0)
    both = nn.regularizers.L1L2(l1=0.5, l2=0.2)(d.w)
    assert both.item() == pytest.approx(3.0 + 0.1 * 14)
    total = d2.regularization_loss()
    total.backward()
    np.testing.assert_allclose(d2.kernel.grad.numpy(), 0.1 * np.ones((3, 2)), rtol=1e-6)


def test_add_weight_keras3_style():
    class K3(nn.Layer):
        def build(self, input_shape):
            self.a = self.add_weight((input_shape[-1], 2), initializer="zeros")
            self.b = self.add_weight(shape=(2,), initializer="ones", trainable=False)
            self.c = self.add_weight(name="c", shape=3)

    k = K3()
    k.build((None, 4))
    assert list(k.state_dict()) == ["weight", "weight_1", "c"]
    assert k.a.shape == (4, 2) and not k.b.requires_grad and k.c.shape == (3,)
    with pytest.raises(TypeError, match="needs a shape"):
        k.add_weight("d")
    with pytest.raises(ValueError, match="already has a weight named 'c'"):
        k.add_weight("c", (1,))


def test_float_inputs_autocast_to_layer_dtype():
    s = Scale()
    x64 = np.ones((2, 3))  # float64, as NumPy makes by default
    y = s(x64)
    assert y.dtype == np.float32
    t = dc.tensor(x64, requires_grad=True)
    s(t).sum().backward()  # the cast is differentiable
    assert t.grad.dtype == np.float64 and np.all(t.grad.numpy() == 1.0)
    idx = nn.Embedding(5, 2)(np.array([[1, 2]]))  # integer inputs are left alone
    assert idx.shape == (1, 2, 2)
    s.double()
    assert s(np.ones((1, 3), np.float32)).dtype == np.float64


def test_add_weight_refuses_float_bool_and_negative_sizes_and_respects_a_budget():
    """A float size used to be truncated (2.5 -> 2); see also [Note: weight budget]."""
    from deepcore.nn.module import weight_budget

    layer = nn.Module(name="m")
    for shape, exc in (((3, 2.5), TypeError), ((3, True), TypeError), ((3, -1), ValueError)):
        with pytest.raises(exc, match="layer 'm': the shape of weight 'w'"):
            layer.add_weight("w", shape)
    with weight_budget(10, "f.deepcore"):
        layer.add_weight("a", (2, 3))
        with pytest.raises(ValueError, match=r"f.deepcore: .* weight 'b' of shape \(5,\)"):
            layer.add_weight("b", (5,))
        layer.add_weight("c", (4,))
    layer.add_weight("d", (2**10,))  # the budget ends with its block
    assert layer.count_params() == 6 + 4 + 2**10
