"""``deepcore.ops`` as Keras 3's ``keras.ops``: every name issue 13 lists, called with Keras's
argument names as the Keras documentation's examples call them, against NumPy."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest
from deepcore import ops
from helpers import check_op

KERAS_NAMES = """one_hot square multiply add subtract divide power shape expand_dims squeeze reshape
transpose concatenate stack einsum matmul tile repeat pad take take_along_axis triu tril top_k
argmax argsort where clip abs exp log sqrt mean sum max min std var equal not_equal greater less
logical_and logical_or logical_not cast convert_to_tensor convert_to_numpy cumsum""".split()


def test_every_listed_keras_name_exists():
    missing = [n for n in KERAS_NAMES if not callable(getattr(ops, n, None))]
    assert not missing


X = np.arange(12.0).reshape(3, 4) - 5.5


def _t(a=X):
    return ops.convert_to_tensor(a)


# (ops call, NumPy reference): Keras's argument names and defaults
CALLS = [
    (lambda: ops.zeros(shape=(2, 3)), np.zeros((2, 3))),
    (lambda: ops.ones((2,), dtype="int32"), np.ones(2, np.int32)),
    (lambda: ops.full(shape=(2, 2), fill_value=7.0), np.full((2, 2), 7.0)),
    (lambda: ops.eye(3, 4, k=1), np.eye(3, 4, 1)),
    (lambda: ops.one_hot(ops.convert_to_tensor([1, 3, 2, 0]), num_classes=4),
     np.eye(4)[[1, 3, 2, 0]]),
    (lambda: ops.square(_t()), X**2),
    (lambda: ops.multiply(_t(), 2.0), X * 2),
    (lambda: ops.add(_t(), _t()), X + X),
    (lambda: ops.subtract(_t(), 1.0), X - 1),
    (lambda: ops.divide(_t(), 4.0), X / 4),
    (lambda: ops.power(_t(), 2), X**2),
    (lambda: ops.expand_dims(_t(), axis=0), X[None]),
    (lambda: ops.squeeze(ops.expand_dims(_t(), 1), axis=1), X),
    (lambda: ops.reshape(_t(), newshape=(4, 3)), X.reshape(4, 3)),
    (lambda: ops.reshape(_t(), (-1,)), X.reshape(-1)),
    (lambda: ops.transpose(_t(), axes=(1, 0)), X.T),
    (lambda: ops.transpose(_t()), X.T),
    (lambda: ops.concatenate([_t(), _t()], axis=1), np.concatenate([X, X], 1)),
    (lambda: ops.stack([_t(), _t()], axis=0), np.stack([X, X])),
    (lambda: ops.einsum("ij,kj->ik", _t(), _t()), X @ X.T),
    (lambda: ops.matmul(_t(), ops.transpose(_t())), X @ X.T),
    (lambda: ops.tile(_t(), (2, 1)), np.tile(X, (2, 1))),
    (lambda: ops.repeat(_t(), 2, axis=1), np.repeat(X, 2, 1)),
    (lambda: ops.pad(_t(), ((1, 0), (0, 2)), constant_values=9.0),
     np.pad(X, ((1, 0), (0, 2)), constant_values=9)),
    (lambda: ops.take(_t(), ops.convert_to_tensor([0, 2]), axis=1), X[:, [0, 2]]),
    (lambda: ops.take_along_axis(_t(), ops.argsort(_t(), axis=1), axis=1), np.sort(X, 1)),
    (lambda: ops.triu(_t(), k=1), np.triu(X, 1)),
    (lambda: ops.tril(_t(), k=-1), np.tril(X, -1)),
    (lambda: ops.argmax(_t(), axis=1), np.argmax(X, 1)),
    (lambda: ops.argsort(-_t(), axis=0), np.argsort(-X, 0, kind="stable")),
    (lambda: ops.where(_t() > 0, _t(), 0.0), np.where(X > 0, X, 0)),
    (lambda: ops.clip(_t(), x_min=-1.0, x_max=2.0), np.clip(X, -1, 2)),
    (lambda: ops.abs(_t()), np.abs(X)),
    (lambda: ops.exp(_t() / 10), np.exp(X / 10)),
    (lambda: ops.log(ops.abs(_t())), np.log(np.abs(X))),
    (lambda: ops.sqrt(ops.abs(_t())), np.sqrt(np.abs(X))),
    (lambda: ops.mean(_t(), axis=0, keepdims=True), X.mean(0, keepdims=True)),
    (lambda: ops.sum(_t(), axis=(0, 1)), X.sum()),
    (lambda: ops.max(_t(), axis=1), X.max(1)),
    (lambda: ops.min(_t()), X.min()),
    (lambda: ops.std(_t(), axis=1), X.std(1)),
    (lambda: ops.var(_t()), X.var()),
    (lambda: ops.equal(_t(), 0.5), X == 0.5),
    (lambda: ops.not_equal(_t(), 0.5), X != 0.5),
    (lambda: ops.greater(_t(), 0.5), X > 0.5),
    (lambda: ops.less(_t(), 0.5), X < 0.5),
    (lambda: ops.logical_and(_t() > 0, _t() < 3), (X > 0) & (X < 3)),
    (lambda: ops.logical_or(_t() > 3, _t() < -3), (X > 3) | (X < -3)),
    (lambda: ops.logical_not(_t() > 0), X <= 0),
    (lambda: ops.cast(_t(), "int32"), X.astype(np.int32)),
    (lambda: ops.sort(_t() * -1, axis=1), np.sort(-X, 1)),
    (lambda: ops.cumsum(_t(), axis=1), np.cumsum(X, 1)),
    (lambda: ops.cumsum(_t()), np.cumsum(X)),
    (lambda: ops.shape(_t()), (3, 4)),
]  # fmt: skip


@pytest.mark.parametrize("i", range(len(CALLS)))
def test_keras_call(i):
    f, want = CALLS[i]
    got = f()
    if isinstance(want, tuple):
        assert got == want
        return
    assert isinstance(got, dc.Tensor)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(ops.convert_to_numpy(got), want)
    if np.asarray(want).dtype.kind in "ib":
        assert got.dtype.kind == np.asarray(want).dtype.kind


def test_keras_doc_examples():
    # keras.ops.top_k's documented example
    values, indices = ops.top_k(ops.convert_to_tensor([5, 2, 7, 1, 9, 3]), k=3)
    assert values.tolist() == [9, 7, 5] and indices.tolist() == [4, 2, 0]
    # convert_to_tensor: Keras's default dtypes for Python data, NumPy arrays keep theirs
    assert ops.convert_to_tensor([1, 2]).dtype == np.int32
    assert ops.convert_to_tensor([1.0, 2]).dtype == np.float32
    assert ops.convert_to_tensor(np.ones(2)).dtype == np.float64
    assert ops.convert_to_tensor([1, 2], dtype="float32").dtype == np.float32
    t = dc.ones(2, requires_grad=True)
    assert ops.convert_to_tensor(t) is t
    assert isinstance(ops.convert_to_numpy(t * 2), np.ndarray)
    assert ops.stop_gradient(t * 2).requires_grad is False


def test_keras_ops_are_differentiable():
    check_op(
        lambda x: ops.sum(ops.square(ops.take_along_axis(x, np.array([[1], [0]]), axis=1))),
        lambda x: (np.take_along_axis(x, np.array([[1], [0]]), 1) ** 2).sum(),
        [(2, 3)],
    )
    check_op(
        lambda x: ops.triu(ops.pad(x, ((0, 1), (1, 0)), mode="reflect")),
        lambda x: np.triu(np.pad(x, ((0, 1), (1, 0)), mode="reflect")),
        [(3, 3)],
    )


def test_keras_vs_pytorch_meanings_of_shared_names():
    # [Note: two audiences, one namespace]
    x = dc.tensor([3.0, 1.0, 2.0])
    assert isinstance(ops.sort(x), dc.Tensor)
    v, i = dc.sort(x)
    assert v.tolist() == [1, 2, 3] and i.tolist() == [1, 2, 0]
    assert x.sort()[1].tolist() == [1, 2, 0]
    assert isinstance(ops.nonzero(x), tuple) and dc.nonzero(x).shape == (3, 1)
    assert dc.repeat(x, 2).tolist() == [3, 3, 1, 1, 2, 2]  # NumPy / Keras: element-wise
    assert x.repeat(2).tolist() == [3, 1, 2, 3, 1, 2]  # PyTorch's Tensor.repeat: tiles


def test_keras_ops_bad_inputs():
    with pytest.raises(TypeError, match="shape given both"):
        ops.zeros((2,), shape=(2,))
    with pytest.raises(ValueError, match="sparse"):
        ops.convert_to_tensor([1], sparse=True)
    with pytest.raises(TypeError, match="give both a and b"):
        ops.where(dc.ones(2) > 0, dc.ones(2))
    with pytest.raises(TypeError, match="unexpected keyword"):
        ops.transpose(dc.ones(2, 2), perm=(1, 0))
