"""The rest of Keras 3's NumPy-style, math and core ops in ``deepcore.ops``
(ops/_numpy_extra.py): values against float64 NumPy over shapes with size-1, empty and odd
axes, gradchecks of the differentiable ones, bad input."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest
from deepcore import ops
from deepcore.testing import gradcheck
from helpers import UNARY_SHAPES, check_op

SHAPES_2D = [(1, 1), (3, 4), (5, 2), (2, 3, 4), (0, 3), (3, 0)]


@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any(name):
    rng = np.random.default_rng(0)
    for s in UNARY_SHAPES:
        x = rng.integers(0, 2, size=s) * rng.integers(0, 2, size=s)
        axes = [None] + list(range(-len(s), len(s)))
        for axis in axes:
            for keep in (False, True):
                got = getattr(ops, name)(x, axis=axis, keepdims=keep)
                want = getattr(np, name)(x, axis=axis, keepdims=keep)
                assert got.dtype == np.bool_
                np.testing.assert_array_equal(got.numpy(), want)


def test_count_nonzero():
    x = np.array([[0, 1, 2], [0, 0, 3.5]])
    assert ops.count_nonzero(x).numpy() == 3
    np.testing.assert_array_equal(ops.count_nonzero(x, axis=0).numpy(), [0, 1, 2])
    np.testing.assert_array_equal(ops.count_nonzero(x, axis=(0, 1)).numpy(), 3)
    assert ops.count_nonzero(np.zeros((0, 3))).numpy() == 0


def test_append_hstack_vstack_ravel():
    check_op(ops.append, lambda a, b: np.append(a, b), [((3,), (2,)), ((2, 3), (4,)), ((0,), (1,))])
    check_op(
        lambda a, b: ops.append(a, b, axis=1),
        lambda a, b: np.append(a, b, 1),
        [((2, 3), (2, 1)), ((1, 0), (1, 2))],
    )
    check_op(
        lambda a, b: ops.hstack([a, b]),
        lambda a, b: np.hstack([a, b]),
        [((3,), (2,)), ((2, 3), (2, 1)), ((2, 1, 2), (2, 3, 2))],
    )
    check_op(
        lambda a, b: ops.vstack([a, b]),
        lambda a, b: np.vstack([a, b]),
        [((3,), (3,)), ((2, 3), (1, 3)), ((0, 2), (1, 2))],
    )
    check_op(ops.ravel, np.ravel, UNARY_SHAPES)


def test_matmul_with_empty_inner_or_batch_axes():
    # regression: (..., m, 0) @ (0, n) and (0, 0, 0) @ (0,) raised "cannot reshape array of
    # size 0" in the one-GEMM path, forward and backward
    for sa, sb in [((0, 0, 0), (0,)), ((2, 3, 0), (0, 4)), ((0, 2, 3), (3,)), ((2, 0, 3), (3, 0))]:
        a = dc.tensor(np.ones(sa), requires_grad=True)
        b = dc.tensor(np.ones(sb), requires_grad=True)
        out = ops.dot(a, b)
        np.testing.assert_array_equal(out.detach().numpy(), np.dot(np.ones(sa), np.ones(sb)))
        out.sum().backward()
        assert a.grad.shape == sa and b.grad.shape == sb
        # every output is empty or a sum over an empty axis: the gradients are all zero
        assert not a.grad.numpy().any() and not b.grad.numpy().any()


def test_average():
    check_op(ops.average, np.average, UNARY_SHAPES[:8])
    check_op(lambda x: ops.average(x, axis=1), lambda x: np.average(x, axis=1), [(3, 4), (1, 1)])

    def pos(shapes, rng):
        return [rng.uniform(-2, 2, size=shapes[0]), rng.uniform(0.5, 2, size=shapes[1])]

    check_op(
        lambda x, w: ops.average(x, axis=0, weights=w),
        lambda x, w: np.average(x, axis=0, weights=w),
        [((4, 3), (4,)), ((1, 2), (1,))],
        make_inputs=pos,
    )
    check_op(
        lambda x, w: ops.average(x, axis=-1, weights=w),
        lambda x, w: np.average(x, axis=-1, weights=w),
        [((2, 3, 5), (5,))],
        make_inputs=pos,
    )
    check_op(
        lambda x, w: ops.average(x, weights=w),
        lambda x, w: np.average(x, weights=w),
        [((3, 4), (3, 4)), ((7,), (7,))],
        make_inputs=pos,
    )


@pytest.mark.parametrize("offset", [0, 1, -2, 5])
def test_diagonal_and_trace(offset):
    shapes = [(3, 4), (4, 3), (1, 1), (2, 3, 5), (0, 3)]
    check_op(lambda x: ops.diagonal(x, offset), lambda x: np.diagonal(x, offset).copy(), shapes)
    check_op(lambda x: ops.trace(x, offset), lambda x: np.trace(x, offset), shapes)
    check_op(
        lambda x: ops.diagonal(x, offset, axis1=2, axis2=0),
        lambda x: np.diagonal(x, offset, 2, 0).copy(),
        [(2, 3, 4), (3, 1, 3)],
    )
    check_op(
        lambda x: ops.trace(x, offset, axis1=-1, axis2=1),
        lambda x: np.trace(x, offset, -1, 1),
        [(2, 3, 4)],
    )


@pytest.mark.parametrize("n,axis", [(1, -1), (2, -1), (1, 0), (3, 1), (0, -1)])
def test_diff(n, axis):
    check_op(
        lambda x: ops.diff(x, n, axis),
        lambda x: np.diff(x, n, axis),
        [(5, 4), (1, 3), (3, 7), (2, 0, 3)] if axis != 1 else [(2, 5, 3), (1, 2, 1)],
    )


def test_products():
    dot_cases = [
        ((), (3,)),
        ((4,), (4,)),
        ((2, 3), (3,)),
        ((2, 3), (3, 4)),
        ((2, 2, 3), (3, 5)),
        ((2, 3), (4, 3, 2)),
        ((1, 1), (1, 1)),
        ((0, 3), (3, 2)),
    ]
    check_op(ops.dot, np.dot, dot_cases)
    check_op(ops.outer, np.outer, [((3,), (4,)), ((2, 2), (3,)), ((1,), (1,)), ((0,), (2,))])
    check_op(
        lambda a, b: ops.tensordot(a, b, 1),
        lambda a, b: np.tensordot(a, b, 1),
        [((2, 3), (3, 4)), ((2, 3, 4), (4, 5))],
    )
    check_op(ops.tensordot, np.tensordot, [((2, 3, 4), (3, 4, 5)), ((3, 4), (3, 4))])
    check_op(
        lambda a, b: ops.tensordot(a, b, ([0, 2], [1, 0])),
        lambda a, b: np.tensordot(a, b, ([0, 2], [1, 0])),
        [((2, 3, 4), (4, 2, 5))],
    )
    check_op(
        lambda a, b: ops.tensordot(a, b, 0), lambda a, b: np.tensordot(a, b, 0), [((2,), (3,))]
    )


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
def test_rot90(k):
    check_op(
        lambda x: ops.rot90(x, k), lambda x: np.rot90(x, k), [(3, 4), (1, 1), (2, 3, 4), (0, 2)]
    )
    check_op(lambda x: ops.rot90(x, k, axes=(2, 0)), lambda x: np.rot90(x, k, (2, 0)), [(2, 3, 4)])


def test_creation():
    for args in [(3,), (0,), (1,)]:
        np.testing.assert_array_equal(ops.identity(*args).numpy(), np.identity(*args))
    assert ops.identity(2).dtype == np.float32 and ops.identity(2, "int32").dtype == np.int32
    for args in [(3,), (3, 5), (4, 2, 1), (3, 3, -1), (0,)]:
        np.testing.assert_array_equal(ops.tri(*args).numpy(), np.tri(*args))
    assert ops.tri(2).dtype == np.float32
    for kw in [{}, dict(num=7), dict(num=1), dict(num=0), dict(num=5, endpoint=False)]:
        np.testing.assert_allclose(
            ops.linspace(2.0, 3.0, **kw).numpy(), np.linspace(2, 3, **kw), rtol=1e-6
        )
        np.testing.assert_allclose(
            ops.logspace(0.0, 2.0, **kw).numpy(), np.logspace(0, 2, **kw), rtol=1e-5
        )
    t, step = ops.linspace(0, 1, 5, retstep=True, dtype="float64")
    assert step == 0.25 and t.dtype == np.float64
    np.testing.assert_allclose(
        ops.linspace([0, 1], [1, 3], 3, axis=1).numpy(), np.linspace([0, 1], [1, 3], 3, axis=1)
    )
    np.testing.assert_allclose(ops.logspace(0, 3, 4, base=2).numpy(), [1, 2, 4, 8])


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_meshgrid(indexing):
    check_op(
        lambda a, b: tuple(ops.meshgrid(a, b, indexing=indexing)),
        lambda a, b: tuple(np.meshgrid(a, b, indexing=indexing)),
        [((3,), (4,)), ((1,), (2,)), ((0,), (3,))],
    )
    check_op(
        lambda a, b, c: tuple(ops.meshgrid(a, b, c, indexing=indexing)),
        lambda a, b, c: tuple(np.meshgrid(a, b, c, indexing=indexing)),
        [((2,), (3,), (4,))],
    )


def test_nan_to_num():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.0])
    np.testing.assert_array_equal(ops.nan_to_num(x).numpy(), np.nan_to_num(x))
    np.testing.assert_array_equal(
        ops.nan_to_num(x, nan=5.0, posinf=9.0, neginf=-9.0).numpy(),
        np.nan_to_num(x, nan=5.0, posinf=9.0, neginf=-9.0),
    )
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(ops.nan_to_num(x32).numpy(), np.nan_to_num(x32))
    t = dc.tensor(x, requires_grad=True)
    ops.nan_to_num(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1, 0, 0, 0, 1])
    check_op(ops.nan_to_num, np.nan_to_num, UNARY_SHAPES)
    np.testing.assert_array_equal(ops.nan_to_num(np.array([1, 2])).numpy(), [1, 2])


def test_divide_no_nan():
    def make(shapes, rng):
        b = rng.uniform(0.5, 2, size=shapes[1]) * rng.choice([-1, 0, 1], size=shapes[1])
        return [rng.uniform(-2, 2, size=shapes[0]), b]

    def ref(a, b):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1, b))

    cases = [((3, 4), (3, 4)), ((5,), ()), ((2, 1), (1, 3)), ((0,), (1,))]
    # no gradcheck across x2 = 0 (a jump); the gradient there is checked below
    check_op(ops.divide_no_nan, ref, cases, make_inputs=make, grad=False)
    check_op(
        ops.divide_no_nan,
        ref,
        cases,
        make_inputs=lambda s, rng: [rng.uniform(-2, 2, size=s[0]), rng.uniform(0.5, 2, size=s[1])],
    )
    a = dc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    ops.divide_no_nan(a, np.array([0.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.25])


def test_predicates_and_bitwise():
    rng = np.random.default_rng(1)
    x = rng.integers(-5, 5, size=(3, 4))
    y = rng.integers(-5, 5, size=(4,))
    for invert in (False, True):
        np.testing.assert_array_equal(
            ops.isin(x, y, invert=invert).numpy(), np.isin(x, y, invert=invert)
        )
    assert ops.isin(np.zeros((0, 2)), np.ones(3)).shape == (0, 2)
    f = np.array([-1.0, -0.0, 0.0, 2.0, -np.inf, np.nan])
    np.testing.assert_array_equal(ops.signbit(f).numpy(), np.signbit(f))
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        np.testing.assert_array_equal(getattr(ops, name)(x, y).numpy(), getattr(np, name)(x, y))
    b = x > 0
    np.testing.assert_array_equal(ops.bitwise_and(b, ~b).numpy(), np.zeros_like(b))
    np.testing.assert_array_equal(ops.bitwise_not(x).numpy(), np.invert(x))
    np.testing.assert_array_equal(ops.bitwise_invert(b).numpy(), ~b)


QUANTILE_SHAPES = [(1,), (7,), (3, 4), (2, 3, 5), (4, 1)]


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile(method):
    for q in (0.3, [0.0, 0.25, 0.5, 1.0]):
        for axis in (None, 0, -1):
            for keep in (False, True):
                check_op(
                    lambda x, q=q, axis=axis, keep=keep: ops.quantile(x, q, axis, method, keep),
                    lambda x, q=q, axis=axis, keep=keep: np.quantile(
                        x, q, axis=axis, method=method, keepdims=keep
                    ),
                    QUANTILE_SHAPES,
                    grad=method == "linear" and axis == -1,
                )
    check_op(
        lambda x: ops.quantile(x, 0.7, axis=(0, 2), method=method),
        lambda x: np.quantile(x, 0.7, axis=(0, 2), method=method),
        [(2, 3, 5)],
    )


def test_median():
    check_op(ops.median, np.median, [(1,), (7,), (4,), (3, 4), (2, 3, 5)])
    check_op(
        lambda x: ops.median(x, axis=1, keepdims=True),
        lambda x: np.median(x, axis=1, keepdims=True),
        [(3, 4), (2, 5, 3), (1, 1)],
    )
    x = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(ops.median(x, axis=1).numpy(), np.median(x, axis=1))
    assert not hasattr(dc, "median")  # torch.median takes the lower middle value


def test_conversions():
    x = dc.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = ops.copy(x)
    assert y is not x and np.array_equal(y.detach().numpy(), x.detach().numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
    assert ops.array([1, 2]).dtype == np.int32 and ops.array([1.0]).dtype == np.float32
    assert ops.array([1, 2], dtype="float64").dtype == np.float64
    assert ops.dtype(x) == "float64" and ops.dtype(1.5) == "float32" and ops.dtype(3) == "int32"
    assert ops.is_tensor(x) and not ops.is_tensor(np.ones(2))
    assert ops.ndim(x) == 2 and ops.ndim(np.ones(())) == 0 and ops.ndim([[1, 2]]) == 2
    assert ops.size(x) == 6 and ops.size(np.ones((0, 3))) == 0
    idx = np.array([0, 5, 7, 11])
    got = ops.unravel_index(idx, (3, 4))
    for g, w in zip(got, np.unravel_index(idx, (3, 4))):
        np.testing.assert_array_equal(g.numpy(), w)


def test_slice_and_slice_update():
    check_op(lambda x: ops.slice(x, [1, 0], [2, 3]), lambda x: x[1:3, 0:3], [(4, 5), (3, 3)])
    check_op(lambda x: ops.slice(x, (0, 1, 2), (1, 0, 1)), lambda x: x[0:1, 1:1, 2:3], [(2, 3, 4)])

    def ref(x, u):
        y = x.copy()
        y[1:3, 2:3] = u
        return y

    check_op(lambda x, u: ops.slice_update(x, [1, 2], u), ref, [((4, 5), (2, 1)), ((3, 3), (2, 1))])
    x = np.zeros((2, 2))
    ops.slice_update(x, [0, 0], np.ones((1, 1)))
    assert np.all(x == 0)  # the input is not modified


def test_segments():
    rng = np.random.default_rng(4)
    for n_rows, n_seg in [(7, 3), (1, 1), (5, 6), (0, 2)]:
        ids = rng.integers(0, n_seg, size=n_rows)
        d = rng.standard_normal((n_rows, 3))
        want_sum = np.zeros((n_seg, 3))
        np.add.at(want_sum, ids, d)
        want_max = np.full((n_seg, 3), -np.inf)
        np.maximum.at(want_max, ids, d)
        np.testing.assert_allclose(ops.segment_sum(d, ids, n_seg).numpy(), want_sum, atol=1e-15)
        np.testing.assert_array_equal(ops.segment_max(d, ids, n_seg).numpy(), want_max)
        if n_rows:
            gradcheck(lambda t, ids=ids, n=n_seg: ops.segment_sum(t, ids, n), [d])
            # empty segments are -inf: replaced by 0 so the finite differences stay finite
            gradcheck(
                lambda t, ids=ids, n=n_seg: ops.nan_to_num(ops.segment_max(t, ids, n), neginf=0.0),
                [d],
            )
    # default num_segments: max id + 1; 1-D data; integer data
    np.testing.assert_array_equal(
        ops.segment_sum(np.array([1, 2, 3]), np.array([0, 0, 2])).numpy(), [3, 0, 3]
    )
    # ties share the gradient
    t = dc.tensor(np.array([2.0, 2.0, 1.0]), requires_grad=True)
    ops.segment_max(t, np.array([0, 0, 0])).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.5, 0.5, 0.0])


def test_in_top_k():
    p = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05]])
    t = np.array([2, 0, 0])
    np.testing.assert_array_equal(ops.in_top_k(t, p, 1).numpy(), [False, False, True])
    np.testing.assert_array_equal(ops.in_top_k(t, p, 2).numpy(), [True, True, True])
    # ties at the boundary count as in (TensorFlow's rule)
    tie = np.array([[0.3, 0.3, 0.1], [0.3, 0.3, 0.1]])
    np.testing.assert_array_equal(ops.in_top_k(np.array([0, 1]), tie, 1).numpy(), [True, True])
    np.testing.assert_array_equal(ops.in_top_k(np.array([2, 2]), tie, 2).numpy(), [False, False])
    assert ops.in_top_k(np.zeros(0, np.int64), np.zeros((0, 3)), 1).shape == (0,)


def test_top_level_names():
    for name in ("trace", "diagonal", "tensordot", "outer", "diff", "isin", "rot90", "hstack"):
        assert getattr(dc, name) is getattr(ops.raw, name)  # dc.* skips the symbolic route
    for name in ("median", "meshgrid", "slice", "copy", "array", "dtype", "size", "all", "any"):
        assert not hasattr(dc, name)


BAD = [
    (lambda: ops.all("x"), TypeError, "all: x"),
    (lambda: ops.all(np.ones((2, 2)), axis=2), ValueError, "axis"),
    (lambda: ops.hstack([]), ValueError, "at least one"),
    (lambda: ops.diff(np.ones(3), n=-1), ValueError, "n must"),
    (lambda: ops.diff(np.ones(()), 1), ValueError, "at least one dimension"),
    (lambda: ops.average(np.ones((2, 3)), weights=np.ones(3)), ValueError, "weights"),
    (lambda: ops.average(np.ones((2, 3)), axis=1, weights=np.ones(2)), ValueError, "length"),
    (lambda: ops.diagonal(np.ones(3)), ValueError, "at least 2"),
    (lambda: ops.diagonal(np.ones((2, 2)), axis1=1, axis2=-1), ValueError, "differ"),
    (lambda: ops.diagonal(np.ones((2, 2)), offset=0.5), TypeError, "offset"),
    (lambda: ops.dot(np.ones((2, 3)), np.ones((2, 3))), ValueError, "aligned"),
    (lambda: ops.tensordot(np.ones((2, 3)), np.ones((4, 3)), 1), ValueError, "must match"),
    (lambda: ops.tensordot(np.ones((2, 3)), np.ones((3, 3)), 3), ValueError, "out of range"),
    (lambda: ops.rot90(np.ones(3)), ValueError, "at least 2"),
    (lambda: ops.identity(-1), ValueError, "n must"),
    (lambda: ops.tri(2, -1), ValueError, "M must"),
    (lambda: ops.linspace(0, 1, -2), ValueError, "num"),
    (lambda: ops.meshgrid(np.ones(2), indexing="xyz"), ValueError, "indexing"),
    (lambda: ops.bitwise_and(np.ones(2), np.ones(2)), TypeError, "integer"),
    (lambda: ops.quantile(np.ones(3), 1.5), ValueError, r"\[0, 1\]"),
    (lambda: ops.quantile(np.ones(3), 0.5, method="cubic"), ValueError, "method"),
    (lambda: ops.quantile(np.ones((0, 2)), 0.5, axis=0), ValueError, "empty"),
    (lambda: ops.unravel_index(np.array([12]), (3, 4)), ValueError, "indices"),
    (lambda: ops.unravel_index(np.array([1.0]), (3, 4)), TypeError, "integers"),
    (lambda: ops.slice(np.ones((3, 3)), [2, 0], [2, 1]), ValueError, "out of range"),
    (lambda: ops.slice(np.ones((3, 3)), [0], [1]), ValueError, "one entry per axis"),
    (lambda: ops.slice_update(np.ones((3, 3)), [0, 0], np.ones(2)), ValueError, "rank"),
    (lambda: ops.segment_sum(np.ones(3), np.array([0, 1])), ValueError, "one id per row"),
    (lambda: ops.segment_sum(np.ones(3), np.array([0, 1, 5]), 3), ValueError, r"\[0, 3\)"),
    (lambda: ops.segment_max(np.ones(2), np.array([0.0, 1.0])), TypeError, "integers"),
    (lambda: ops.in_top_k(np.array([0, 3]), np.ones((2, 3)), 1), ValueError, "targets"),
    (lambda: ops.in_top_k(np.array([0]), np.ones(3), 1), ValueError, "batch"),
    (lambda: ops.in_top_k(np.array([0]), np.ones((1, 3)), 1.5), TypeError, "k must"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input(i):
    call, exc, msg = BAD[i]
    with pytest.raises(exc, match=msg):
        call()
