"""The backward engine: accumulation, graph lifetime, no_grad, detach, retain_graph."""

from __future__ import annotations

import gc
import threading
import weakref

import deepcore as dc
import numpy as np
import pytest
from deepcore.autograd import Function
from helpers import gradcheck


def test_chain_rule_and_shared_subexpressions():
    x = dc.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    h = x * x  # used twice: its gradient is the sum over both uses
    y = (h * 3 + h.exp()).sum()
    y.backward()
    xv = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), 6 * xv + np.exp(xv**2) * 2 * xv)
    gradcheck(lambda a: ((a * a) * 3 + (a * a).exp()).sum(), [np.array([0.5, -1.0, 2.0])])


def test_gradient_accumulates_across_backward_calls():
    w = dc.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3 + 2, 3 + 4])
    w.zero_grad()
    assert w.grad is None


def test_grad_buffer_is_owned_not_aliased():
    # Add's backward passes the incoming gradient through: .grad must still be a private copy
    x = dc.ones(3, requires_grad=True)
    g = np.array([1.0, 2.0, 3.0], np.float32)
    y = x + 1
    y.backward(g)
    x.grad.data += 1
    np.testing.assert_array_equal(g, [1, 2, 3])


def test_backward_with_explicit_gradient_and_errors():
    x = dc.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    with pytest.raises(ValueError, match="gradient has shape"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="does not require grad"):
        dc.ones(2).sum().backward()


def test_second_backward_through_freed_graph_raises():
    x = dc.ones(3, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = dc.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * np.array([1.0, 2.0]))


def test_graph_freed_after_backward_without_gc():
    """Activations are released by reference counting alone: no cycles through the graph."""
    gc.disable()
    try:
        x = dc.randn(50, 20, requires_grad=True)
        w = dc.randn(20, 10, requires_grad=True)
        h = (x @ w).exp()
        act = weakref.ref(h)
        act_data = weakref.ref(h.data)
        loss = (h * h).sum()
        del h
        assert act() is not None  # still held by the graph (saved for Mul's backward)
        loss.backward()
        assert act() is None and act_data() is None, "graph kept an activation alive"
        # the whole graph goes away with its output, again without the cycle collector
        y = (x * 2).sum()
        node = weakref.ref(y._ctx)
        del y
        assert node() is None
    finally:
        gc.enable()


def test_retain_grad_on_non_leaf():
    x = dc.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * 3 * np.array([1.0, 2.0]))
    assert h.grad_fn is not None and not h.is_leaf


def test_no_grad_and_set_grad_enabled():
    x = dc.ones(2, requires_grad=True)
    with dc.no_grad():
        y = x * 2
        assert not dc.is_grad_enabled()
        with dc.enable_grad():
            z = x * 2
    assert dc.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad
    with dc.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert dc.is_grad_enabled()

    @dc.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad and dc.is_grad_enabled()

    @dc.set_grad_enabled(False)
    def g(t):
        return t * 2

    assert dc.is_grad_enabled()  # decorating does not switch the mode
    assert not g(x).requires_grad and dc.is_grad_enabled()
    dc.set_grad_enabled(False)  # as a plain call (PyTorch semantics): sets the mode
    assert not dc.is_grad_enabled()
    dc.set_grad_enabled(True)
    assert dc.is_grad_enabled()


def test_no_grad_is_per_thread():
    seen = []
    with dc.no_grad():
        t = threading.Thread(target=lambda: seen.append(dc.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_detach_shares_storage_and_cuts_graph():
    x = dc.ones(3, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.data)
    z = (y + d).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])


def test_requires_grad_rules():
    with pytest.raises(TypeError, match="floating-point"):
        dc.tensor(np.array([1, 2])).requires_grad_()
    x = dc.ones(2)
    assert not (x * 2).requires_grad
    x.requires_grad_()
    y = x * 2
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="requires grad"):
        y.numpy()


def test_multi_output_function_and_unused_outputs():
    class SplitHalf(Function):
        @staticmethod
        def forward(ctx, x):
            n = x.shape[0] // 2
            return x[:n] * 2, x[n:] * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return np.concatenate([ga * 2, gb * 3])

    x = dc.tensor(np.arange(4.0), requires_grad=True)
    a, b = SplitHalf.apply(x)
    b.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 3, 3])


def test_backward_shape_contract_enforced():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return np.ones(1)

    with pytest.raises(RuntimeError, match="gradient of shape"):
        Bad.apply(dc.ones(3, requires_grad=True)).backward()


def test_deep_graph_no_recursion_limit():
    x = dc.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**5000], rtol=1e-4)


def test_multiple_roots_backward():
    x = dc.tensor([1.0, 2.0], requires_grad=True)
    a, b = (x * 2).sum(), (x * x).sum()
    dc.autograd.backward([a, b])
    np.testing.assert_allclose(x.grad.numpy(), [2 + 2, 2 + 4])


def test_two_car_demo_learns():
    """The main job: a 2-layer net trained with this autograd separates the toy problem."""
    from deepcore.examples import two_car

    res = two_car.main(["--epochs", "4", "--seed", "1", "--quiet"])
    assert res["test_accuracy"] > 0.9, res["test_accuracy"]
    assert res["loss"][-1] < res["loss"][0]


def test_tensor_keyword_argument_rejected():
    class Scale(Function):
        @staticmethod
        def forward(ctx, x, s=None):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with pytest.raises(TypeError, match="keyword argument 's'"):
        Scale.apply(dc.ones(2), s=dc.ones(2, requires_grad=True))


def test_tensor_subclass_operands():
    class Param(dc.Tensor):
        __slots__ = ()

    w = Param(np.ones(3, np.float32), requires_grad=True)
    i = dc.tensor(np.array([1, 2, 3]))
    y = i * w  # int (op) float subclass: float32, with a gradient for w
    assert y.dtype == np.float32 and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1, 2, 3])
    x = dc.zeros(3)
    with pytest.raises(RuntimeError, match="leaf tensor"):
        w += x
    x += w.detach()
    np.testing.assert_array_equal(x.numpy(), [1, 1, 1])
    np.testing.assert_array_equal((x == w).numpy(), [True] * 3)


# ---------------------------------------------------------------------- post-accumulate hooks
def test_post_accumulate_hook_runs_once_after_the_last_gradient_during_backward():
    """A leaf used twice is called once, with its complete gradient, and before backward has
    reached the leaves nearer the input (w2 is applied last, so its gradient is final first)."""
    x = dc.tensor(np.array([[0.5, -1.0], [2.0, 0.25]]))
    w1 = dc.tensor(np.array([[1.0, 2.0], [3.0, -1.0]]), requires_grad=True)
    w2 = dc.tensor(np.array([0.5, -2.0]), requires_grad=True)
    seen = []

    def record(name):
        def hook(t):
            seen.append((name, t.grad.numpy().copy(), None if w1.grad is None else 1))

        return hook

    h1 = w1.register_post_accumulate_grad_hook(record("w1"))
    w2.register_post_accumulate_grad_hook(record("w2"))
    h = x @ w1
    y = ((h * w2) + (h * w2).exp()).sum()  # w2 in two nodes, both before x @ w1 in backward
    y.backward()
    assert [s[0] for s in seen] == ["w2", "w1"]
    assert seen[0][2] is None  # w1 had no gradient yet when w2's hook ran
    np.testing.assert_array_equal(seen[0][1], w2.grad.numpy())
    np.testing.assert_array_equal(seen[1][1], w1.grad.numpy())
    # the same graph in PyTorch: the same calls, in the same order, with the same gradients
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x.numpy(), dtype=torch.float64)
    tw1 = torch.tensor(w1.detach().numpy(), dtype=torch.float64, requires_grad=True)
    tw2 = torch.tensor(w2.detach().numpy(), dtype=torch.float64, requires_grad=True)
    tseen = []
    tw1.register_post_accumulate_grad_hook(lambda t: tseen.append(("w1", t.grad.numpy().copy())))
    tw2.register_post_accumulate_grad_hook(lambda t: tseen.append(("w2", t.grad.numpy().copy())))
    th = tx @ tw1
    ((th * tw2) + (th * tw2).exp()).sum().backward()
    assert [s[0] for s in tseen] == ["w2", "w1"]
    for (_, ours, _), (_, theirs) in zip(seen, tseen):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    # removed: no more calls; a second backward accumulates and calls the other hook again
    h1.remove()
    h1.remove()  # removing twice is harmless
    seen.clear()
    (x @ w1 * w2).sum().backward()
    assert [s[0] for s in seen] == ["w2"]


def test_post_accumulate_hook_root_leaf_retain_graph_and_no_gradient():
    w = dc.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.numpy().copy()))
    w.backward(np.array([1.0, 1.0], np.float32))  # w is the root itself
    assert len(calls) == 1
    y = (w * 3).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert [c.tolist() for c in calls] == [[1, 1], [4, 4], [7, 7]]

    class NoInputGrad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return None

    calls.clear()
    v = dc.tensor([1.0], requires_grad=True)
    v.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    NoInputGrad.apply(v).sum().backward()
    assert calls == [] and v.grad is None  # no gradient reached it: not called


def test_post_accumulate_hook_bad_arguments_and_lifetime():
    w = dc.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="callable"):
        w.register_post_accumulate_grad_hook(3)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="require"):
        dc.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)
    from deepcore import autograd

    w.register_post_accumulate_grad_hook(lambda t: None)
    assert id(w) in autograd._post_hooks
    key = id(w)
    del w
    gc.collect()
    assert key not in autograd._post_hooks  # a dead tensor's hooks go with it
