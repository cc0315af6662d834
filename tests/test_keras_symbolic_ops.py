"""``deepcore.ops`` on the functional API's symbolic tensors (issue 13): every op given a
KerasTensor records a graph node (``y = ops.maximum(ops.matmul(x, w), 0)`` on
``x = keras.Input((8,))``), the model computes the same as the ops on data, saves and reloads
(constants by value), trains, and eager calls are unchanged. Written from the Keras functional
API guide's use of ``keras.ops`` in models."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import models, ops
from deepcore.models import Input, Model
from deepcore.symbolic import KerasTensor


def _np(t):
    return t.detach().numpy() if isinstance(t, dc.Tensor) else np.asarray(t)


def test_the_issue_example_builds_a_graph():
    rng = np.random.default_rng(0)
    w = dc.tensor(rng.standard_normal((8, 4)).astype(np.float32))
    x = Input((8,))
    y = ops.maximum(ops.matmul(x, w), 0.0)
    assert isinstance(y, KerasTensor) and y.shape == (None, 4)
    model = Model(x, y)
    v = rng.standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(v, verbose=0), np.maximum(v @ w.numpy(), 0), rtol=1e-5, atol=1e-6
    )


# op name -> (call on one placeholder / tensor, NumPy reference)
UNARY = {
    "square": (lambda x: ops.square(x), np.square),
    "exp": (lambda x: ops.exp(x), np.exp),
    "abs": (lambda x: ops.abs(x), np.abs),
    "sqrt_abs": (lambda x: ops.sqrt(ops.abs(x)), lambda a: np.sqrt(np.abs(a))),
    "mean": (lambda x: ops.mean(x, axis=-1, keepdims=True), lambda a: a.mean(-1, keepdims=True)),
    "sum": (lambda x: ops.sum(x, axis=1), lambda a: a.sum(1)),
    "max": (lambda x: ops.max(x, axis=-1), lambda a: a.max(-1)),
    "std": (lambda x: ops.std(x, axis=-1), lambda a: a.std(-1)),
    "clip": (lambda x: ops.clip(x, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5)),
    "reshape": (lambda x: ops.reshape(x, (-1, 3, 2)), lambda a: a.reshape(-1, 3, 2)),
    "transpose": (
        lambda x: ops.transpose(ops.reshape(x, (-1, 3, 2)), (0, 2, 1)),
        lambda a: a.reshape(-1, 3, 2).transpose(0, 2, 1),
    ),
    "expand_squeeze": (
        lambda x: ops.squeeze(ops.expand_dims(x, 1), 1),
        lambda a: a,
    ),
    "concatenate": (
        lambda x: ops.concatenate([x, ops.negative(x)], axis=-1),
        lambda a: np.concatenate([a, -a], -1),
    ),
    "stack": (lambda x: ops.stack([x, x * 2], axis=1), lambda a: np.stack([a, a * 2], 1)),
    "where": (lambda x: ops.where(x > 0, x, 0.0), lambda a: np.where(a > 0, a, 0.0)),
    "cumsum": (lambda x: ops.cumsum(x, axis=-1), lambda a: np.cumsum(a, -1)),
    "einsum": (lambda x: ops.einsum("bi,bi->b", x, x), lambda a: (a * a).sum(-1)),
    "subtract_scalar_first": (lambda x: ops.subtract(1.0, x), lambda a: 1.0 - a),
    "triu": (
        lambda x: ops.triu(ops.reshape(x, (-1, 2, 3))),
        lambda a: np.triu(a.reshape(-1, 2, 3)),
    ),
    "take_along_axis": (
        lambda x: ops.take_along_axis(x, ops.argsort(x, axis=-1), axis=-1),
        lambda a: np.sort(a, -1),
    ),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_ops_on_placeholders_match_the_ops_on_data(name, tmp_path):
    fn, ref = UNARY[name]
    x = Input((6,))
    y = fn(x)
    assert isinstance(y, KerasTensor)
    model = Model(x, y)
    v = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    want = ref(v.astype(np.float64))
    np.testing.assert_allclose(model.predict(v, verbose=0), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(fn(dc.tensor(v))), want, rtol=1e-5, atol=1e-5)  # eager
    path = tmp_path / "m.deepcore"
    model.save(path)
    np.testing.assert_allclose(
        models.load_model(path).predict(v, verbose=0), want, rtol=1e-5, atol=1e-5
    )


def test_constants_are_saved_by_value_and_the_graph_trains(tmp_path):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 3)).astype(np.float32)  # a NumPy constant
    x = Input((5,))
    h = layers.Dense(5)(x)
    out = ops.add(ops.matmul(h, w), ops.mean(h, axis=-1, keepdims=True))
    model = Model(x, out)
    v = rng.standard_normal((8, 5)).astype(np.float32)
    before = model.predict(v, verbose=0)
    path = tmp_path / "c.deepcore"
    model.save(path)
    np.testing.assert_allclose(models.load_model(path).predict(v, verbose=0), before, rtol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    target = np.zeros((8, 3), np.float32)
    loss0 = model.evaluate(v, target, verbose=0)
    model.fit(v, target, epochs=5, verbose=0)
    assert model.evaluate(v, target, verbose=0) < loss0


def test_eager_calls_and_non_tensor_first_arguments_are_unchanged():
    a = dc.tensor(np.array([[1.0, -2.0]], np.float32))
    assert ops.maximum(a, 0.0).numpy().tolist() == [[1.0, 0.0]]
    assert ops.add(2.0, a).numpy().tolist() == [[3.0, 0.0]]
    assert ops.concatenate([a, a], axis=0).shape == (2, 2)
    assert ops.shape(Input((3,))) == (None, 3)  # shape() answers for a placeholder
    assert ops.convert_to_tensor(Input((3,))).shape == (None, 3)
    assert ops.maximum.__name__ == "maximum" and ops.maximum.__doc__
    # only deepcore.ops carries the route; deepcore.<name> and Tensor methods skip it
    assert dc.maximum is ops.raw.maximum and ops.maximum is not ops.raw.maximum
    assert dc.arctan2 is dc.atan2 and ops.arctan2 is ops.atan2  # aliases stay one object


def test_bad_symbolic_arguments():
    x = Input((4,))
    with pytest.raises(TypeError, match="cannot be recorded"):
        ops.add(x, object())
    with pytest.raises(ValueError, match="unknown operation 'tile'"):
        ops.tile(x, (1, 2))  # size-making ops are not recorded (hostile model files)
    with pytest.raises(TypeError, match="no values"):
        ops.convert_to_numpy(x)


@pytest.mark.parametrize(
    "const, match",
    [
        ({"data": [1, 2], "dtype": "object", "shape": [2]}, "dtype in"),
        ({"data": [1, 2], "dtype": "float32", "shape": [3]}, "has shape"),
        ({"data": [1, 2], "dtype": "float32", "shape": [-2]}, "bad shape"),
        ({"data": [[1], [2, 3]], "dtype": "float32", "shape": [2]}, "bad data"),
        ("not a dict", "must be"),
    ],
)
def test_crafted_graph_constants_are_refused(const, match):
    from deepcore.nn.layers.core import OpLambda

    with pytest.raises(ValueError, match=match):
        OpLambda("add", [{"__tensor__": 0}, {"__const__": const}])
