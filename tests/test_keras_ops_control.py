"""Keras's control-flow ops run eagerly (ops/_control.py, [Note: eager control flow]): the
Keras documentation's examples, results against plain NumPy loops, gradients through the
loops, structures (tuples, dicts) of tensors, and bad input."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest
from deepcore import ops
from deepcore.testing import gradcheck


def _np(t):
    return t.numpy() if isinstance(t, dc.Tensor) else np.asarray(t)


def test_cond_and_switch():
    x = dc.tensor(np.array([1.0, 2.0]))
    assert _np(ops.cond(x.sum() > 2, lambda: x * 2, lambda: x)).tolist() == [2.0, 4.0]
    assert _np(ops.cond(False, lambda: x * 2, lambda: x)).tolist() == [1.0, 2.0]
    # keras.io: switch(index, branches, *operands), the index clamped
    add_fn = lambda x, y: x + y  # noqa: E731
    sub_fn = lambda x, y: x - y  # noqa: E731
    a, b = np.array(5.0), np.array(2.0)
    assert float(_np(ops.switch(0, [add_fn, sub_fn], a, b))) == 7.0
    assert float(_np(ops.switch(1, [add_fn, sub_fn], a, b))) == 3.0
    assert float(_np(ops.switch(7, [add_fn, sub_fn], a, b))) == 3.0
    assert float(_np(ops.switch(-3, [add_fn, sub_fn], a, b))) == 7.0
    with pytest.raises(ValueError, match="scalar"):
        ops.cond(np.array([True, False]), lambda: 1, lambda: 2)
    with pytest.raises(TypeError, match="callable"):
        ops.cond(True, 1, lambda: 2)
    with pytest.raises(ValueError, match="non-empty"):
        ops.switch(0, [], a)
    with pytest.raises(TypeError, match="integer"):
        ops.switch(0.5, [add_fn], a, b)


def test_while_loop_keras_examples():
    # keras.io: i = 0; cond = lambda i: i < 10; body = lambda i: i + 1 -> 10
    out = ops.while_loop(lambda i: i < 10, lambda i: i + 1, 0)
    assert int(_np(out)) == 10
    # a tuple of variables comes back as a tuple
    x, y = 0, 1
    out = ops.while_loop(lambda x, y: x < 10, lambda x, y: (x + 1, y + 1), (x, y))
    assert isinstance(out, tuple) and [int(_np(v)) for v in out] == [10, 11]
    out = ops.while_loop(lambda i: i < 10, lambda i: i + 1, 0, maximum_iterations=3)
    assert int(_np(out)) == 3
    with pytest.raises(ValueError, match="2 loop variables"):
        ops.while_loop(lambda a, b: a < 3, lambda a, b: a + 1, (0, 1))
    with pytest.raises(ValueError, match="maximum_iterations"):
        ops.while_loop(lambda i: i < 3, lambda i: i + 1, 0, maximum_iterations=-1)


def test_fori_loop_keras_example_and_gradient():
    # keras.io: lower=0, upper=10, body_fun adds i: 0 + 1 + ... + 9 = 45
    assert int(_np(ops.fori_loop(0, 10, lambda i, x: x + i, 0))) == 45
    w = np.array([0.5, -1.0, 2.0])
    gradcheck(lambda a: ops.fori_loop(0, 3, lambda i, v: v * a + i, a).sum(), [w])


def test_scan_cumulative_sum_and_reverse():
    # keras.io: sum_fn(c, x) = (c + x, c + x) over [1, 2, 3, 4, 5]: carry 15, ys the cumsum
    xs = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    carry, ys = ops.scan(lambda c, x: (c + x, c + x), np.array(0.0), xs)
    assert float(_np(carry)) == 15.0
    np.testing.assert_array_equal(_np(ys), np.cumsum(xs))
    carry, ys = ops.scan(lambda c, x: (c + x, c + x), np.array(0.0), xs, reverse=True)
    np.testing.assert_array_equal(_np(ys), np.cumsum(xs[::-1])[::-1])
    # structures: a dict carry, a tuple of xs, a tuple of ys
    xs2 = (np.arange(6.0).reshape(3, 2), np.ones(3))

    def f(c, x):
        a, b = x
        c = {"s": c["s"] + a, "n": c["n"] + b}
        return c, (c["s"], c["n"] * 2)

    carry, (ya, yb) = ops.scan(f, {"s": np.zeros(2), "n": np.array(0.0)}, xs2)
    np.testing.assert_array_equal(_np(carry["s"]), [6.0, 9.0])
    np.testing.assert_array_equal(_np(ya), np.cumsum(xs2[0], axis=0))
    np.testing.assert_array_equal(_np(yb), [2.0, 4.0, 6.0])
    # length without xs
    carry, ys = ops.scan(lambda c, _: (c * 2, c), np.array(1.0), None, length=4)
    assert float(_np(carry)) == 16.0 and _np(ys).tolist() == [1.0, 2.0, 4.0, 8.0]


def test_scan_gradient():
    xs = np.random.default_rng(0).normal(size=(4, 3))

    def f(x0, xs_):
        c, ys = ops.scan(lambda c, x: (ops.tanh(c * x + 1.0), c * x), x0, xs_)
        return c.sum() + ys.sum()

    gradcheck(f, [np.array([0.3, -0.2, 0.1]), xs])


def test_scan_bad_input():
    with pytest.raises(ValueError, match="pair"):
        ops.scan(lambda c, x: c, 0.0, np.ones(3))
    with pytest.raises(ValueError, match="length"):
        ops.scan(lambda c, x: (c, c), 0.0, np.ones(3), length=4)
    with pytest.raises(ValueError, match="differ"):
        ops.scan(lambda c, x: (c, c), 0.0, (np.ones(3), np.ones(2)))
    with pytest.raises(ValueError, match="xs or length"):
        ops.scan(lambda c, x: (c, c), 0.0)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 13])
@pytest.mark.parametrize("reverse", [False, True])
def test_associative_scan_sum_and_max(n, reverse):
    x = np.random.default_rng(n).normal(size=(n, 3))
    got = ops.associative_scan(lambda a, b: a + b, x, reverse=reverse)
    want = np.cumsum(x[::-1], 0)[::-1] if reverse else np.cumsum(x, 0)
    np.testing.assert_allclose(_np(got), want, atol=1e-12)
    got = ops.associative_scan(ops.maximum, x, axis=0)
    np.testing.assert_allclose(_np(got), np.maximum.accumulate(x, axis=0))


def test_associative_scan_axis_structure_and_call_count():
    x = np.random.default_rng(1).normal(size=(2, 9))
    got = ops.associative_scan(lambda a, b: a * b, x, axis=1)
    np.testing.assert_allclose(_np(got), np.cumprod(x, axis=1), rtol=1e-12)
    # a linear recurrence h_t = a_t h_{t-1} + b_t as a scan over (a, b) pairs
    a = np.random.default_rng(2).uniform(0.5, 1.0, size=16)
    b = np.random.default_rng(3).normal(size=16)
    calls = []

    def combine(p, q):
        calls.append(1)
        return (p[0] * q[0], q[0] * p[1] + q[1])

    _, h = ops.associative_scan(combine, (a, b))
    want, acc = [], 0.0
    for t in range(16):
        acc = a[t] * acc + b[t]
        want.append(acc)
    np.testing.assert_allclose(_np(h), want, rtol=1e-12)
    assert len(calls) <= 2 * int(np.ceil(np.log2(16)))  # whole slices, never per element
    gradcheck(lambda v: ops.associative_scan(lambda p, q: p * q, v).sum(), [a[:5]])
    with pytest.raises(ValueError, match="out of range"):
        ops.associative_scan(lambda p, q: p + q, x, axis=2)
    with pytest.raises(ValueError, match="differ in length"):
        ops.associative_scan(lambda p, q: p, (np.ones(3), np.ones(4)))


def test_map_and_vectorized_map():
    # keras.io: map(f, xs) with f = x**2
    xs = np.arange(4.0)
    np.testing.assert_array_equal(_np(ops.map(lambda x: x**2, xs)), xs**2)
    x = np.random.default_rng(4).normal(size=(3, 4))
    np.testing.assert_allclose(_np(ops.vectorized_map(lambda r: ops.sum(r * r), x)), (x * x).sum(1))
    out = ops.map(lambda d: {"y": d["a"] + d["b"]}, {"a": x, "b": x})
    np.testing.assert_allclose(_np(out["y"]), 2 * x)
    gradcheck(lambda a: ops.map(lambda r: ops.sin(r) * r, a).sum(), [x])
    with pytest.raises(ValueError, match="empty"):
        ops.map(lambda r: r, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="leading axis"):
        ops.map(lambda r: r, np.array(1.0))


def test_custom_gradient_keras_example():
    # keras.io: log1pexp with a numerically stable gradient
    @ops.custom_gradient
    def log1pexp(x):
        e = ops.exp(x)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1, e))

        return ops.log(1 + e), grad

    x = dc.tensor(np.array([0.0, 1.0, 100.0]), requires_grad=True)
    y = log1pexp(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 1 / (1 + np.exp(-1.0)), 1.0])

    @ops.custom_gradient
    def scaled(x):
        return x * 3.0, lambda g: g * 10.0  # a deliberately different gradient

    z = dc.tensor(np.ones(2), requires_grad=True)
    scaled(z).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [10.0, 10.0])

    @ops.custom_gradient
    def bad(x):
        return x, lambda g: (g, g)

    w = dc.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="2 gradients for 1"):
        bad(w).sum().backward()
