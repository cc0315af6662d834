"""gather, scatter, scatter_add, scatter_reduce: NumPy references (tests/scatter_reference.py)
over shapes incl. index smaller than the input, empty and 0-d ones; float64 finite differences
of every reduction; PyTorch parity (values and gradients); the naive kernels; bad input."""

import deepcore as dc
import numpy as np
import pytest
from deepcore import _C
from helpers import gradcheck, requires_torch
from scatter_reference import np_gather, np_scatter

# (x shape, axis, index shape)
CASES = [
    ((5,), 0, (3,)),
    ((5,), 0, (8,)),
    ((3, 4), 0, (2, 4)),
    ((3, 4), 1, (3, 6)),
    ((3, 4), 1, (2, 2)),  # index smaller on the other axis
    ((2, 3, 4), 1, (2, 5, 3)),
    ((2, 3, 4), 2, (1, 2, 7)),
    ((2, 3, 4), 0, (4, 3, 4)),
    ((3, 4), 0, (0, 4)),
    ((0, 4), 1, (0, 2)),
    ((4, 300), 1, (4, 700)),  # several inner blocks, threaded
    ((300, 5), 0, (900, 5)),
]


def _index(rng, xs, axis, ishape):
    return rng.integers(0, xs[axis], ishape) if xs[axis] else np.zeros(ishape, np.int64)


@pytest.mark.parametrize("xs,axis,ishape", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_gather_and_scatter_match_reference(xs, axis, ishape, dtype):
    rng = np.random.default_rng(0)
    ints = np.dtype(dtype).kind == "i"  # small integers: products stay in range

    def draw(shape):
        return rng.integers(-3, 4, shape) if ints else rng.standard_normal(shape) * 10

    x = draw(xs).astype(dtype)
    idx = _index(rng, xs, axis, ishape)
    np.testing.assert_array_equal(
        dc.gather(dc.tensor(x), axis, idx).detach().numpy(), np_gather(x, axis, idx)
    )
    src = draw(ishape).astype(dtype)
    t = dc.tensor(x)
    np.testing.assert_array_equal(
        t.scatter(axis, idx, src).detach().numpy(), np_scatter(x, axis, idx, src)
    )
    np.testing.assert_array_equal(
        dc.scatter(t, axis, idx, value=3).detach().numpy(),
        np_scatter(x, axis, idx, np.asarray(3, dtype)),
    )
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=0)
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            got = dc.scatter_reduce(t, axis, idx, src, reduce, include_self=include_self)
            want = np_scatter(x, axis, idx, src, reduce, include_self)
            np.testing.assert_allclose(got.detach().numpy(), want, **tol, err_msg=reduce)
    np.testing.assert_allclose(
        dc.scatter_add(t, axis, idx, src).detach().numpy(),
        np_scatter(x, axis, idx, src, "sum"),
        **tol,
    )


def test_src_larger_than_index_and_0d():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4))
    src = rng.standard_normal((4, 6))
    idx = np.array([[0, 2], [1, 1]])
    np.testing.assert_array_equal(
        dc.scatter(dc.tensor(x), 1, idx, dc.tensor(src)).detach().numpy(),
        np_scatter(x, 1, idx, src[:2, :2]),
    )
    s = dc.tensor(np.array(2.5), requires_grad=True)
    y = dc.gather(s, 0, np.array(0))
    assert y.shape == () and y.item() == 2.5
    y.backward()
    assert s.grad.item() == 1.0
    z = dc.scatter(dc.tensor(np.array(1.0)), 0, np.array(0), dc.tensor(np.array(4.0)))
    assert z.shape == () and z.item() == 4.0


def test_kernels_match_naive_reference():
    rng = np.random.default_rng(2)
    for xs, axis, ishape in CASES:
        x = rng.standard_normal(xs)
        idx = _index(rng, xs, axis, ishape)
        src = rng.standard_normal(ishape)
        np.testing.assert_array_equal(
            _C.gather(x, axis, idx), _C.gather(x, axis, idx, reference=True)
        )
        for r in ("assign", "sum", "prod", "amax", "amin"):
            for inc in (True, False):
                np.testing.assert_array_equal(
                    _C.scatter(x, axis, idx, src, r, inc),
                    _C.scatter(x, axis, idx, src, r, inc, reference=True),
                )


# --------------------------------------------------------------------------- gradients
def _grad_case(seed=0, unique=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 5))
    if unique:  # distinct destinations per column (torch's scatter is undefined otherwise)
        idx = np.stack([rng.permutation(3)[:2] for _ in range(5)], axis=1)
    else:
        idx = rng.integers(0, 3, (2, 5))
    src = rng.standard_normal((2, 5))
    return x, idx, src


def test_gather_gradcheck():
    x, idx, _ = _grad_case()
    gradcheck(lambda u: dc.gather(u, 0, idx), [x])
    gradcheck(lambda u: dc.gather(u, 1, np.array([[0, 4, 4], [1, 1, 2]])), [x[:2]])


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_gradcheck(reduce, include_self):
    x, idx, src = _grad_case(3)
    gradcheck(
        lambda u, v: dc.scatter_reduce(u, 0, idx, v, reduce, include_self=include_self), [x, src]
    )


def test_scatter_gradcheck():
    x, idx, src = _grad_case(4, unique=True)
    gradcheck(lambda u, v: dc.scatter(u, 0, idx, v), [x, src])
    gradcheck(lambda u, v: dc.scatter_add(u, 0, idx, v), [x, src])
    gradcheck(lambda u: dc.scatter(u, 0, idx, value=2.0), [x])


def test_scatter_reduce_prod_gradient_with_zeros():
    x = np.array([[0.0, 2.0, 3.0], [4.0, 0.0, 1.5]])
    src = np.array([[0.0, 5.0, 0.0], [2.0, 0.0, 0.0]])
    idx = np.array([[0, 0, 1], [0, 1, 1]])
    for inc in (True, False):
        gradcheck(
            lambda u, v, inc=inc: dc.scatter_reduce(u, 0, idx, v, "prod", include_self=inc),
            [x, src],
        )


@requires_torch
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_torch(reduce, include_self):
    import torch

    x, idx, src = _grad_case(5)
    src[0, 1] = x[idx[0, 1], 1]  # a tie between self and src for amax / amin
    g = np.random.default_rng(6).standard_normal(x.shape)
    xt, st = dc.tensor(x, requires_grad=True), dc.tensor(src, requires_grad=True)
    out = dc.scatter_reduce(xt, 0, idx, st, reduce, include_self=include_self)
    out.backward(g)
    xq, sq = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    oq = torch.scatter_reduce(xq, 0, torch.tensor(idx), sq, reduce, include_self=include_self)
    oq.backward(torch.tensor(g))
    np.testing.assert_allclose(out.detach().numpy(), oq.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        xt.grad.detach().numpy(), xq.grad.detach().numpy(), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        st.grad.detach().numpy(), sq.grad.detach().numpy(), rtol=1e-12, atol=1e-14
    )


@requires_torch
def test_gather_scatter_match_torch():
    import torch

    x, idx, src = _grad_case(7, unique=True)
    g = np.random.default_rng(8).standard_normal(x.shape)
    for name in ("scatter", "scatter_add"):
        xt, st = dc.tensor(x, requires_grad=True), dc.tensor(src, requires_grad=True)
        getattr(xt, name)(0, idx, st).backward(g)
        xq, sq = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
        getattr(xq, name)(0, torch.tensor(idx), sq).backward(torch.tensor(g))
        np.testing.assert_allclose(xt.grad.detach().numpy(), xq.grad.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(st.grad.detach().numpy(), sq.grad.detach().numpy(), rtol=1e-14)
    xt = dc.tensor(x, requires_grad=True)
    gi = np.array([[0, 4, 4, 1], [2, 2, 0, 3]])
    xt[:2].gather(1, gi).backward(np.ones((2, 4)))
    xq = torch.tensor(x, requires_grad=True)
    xq[:2].gather(1, torch.tensor(gi)).backward(torch.ones(2, 4, dtype=torch.float64))
    np.testing.assert_array_equal(xt.grad.detach().numpy(), xq.grad.detach().numpy())


def test_scatter_nan_propagates_in_amax_amin():
    x = np.array([1.0, np.nan, 3.0])
    src = np.array([np.nan, 2.0, 5.0])
    idx = np.array([0, 1, 2])
    got = dc.scatter_reduce(dc.tensor(x), 0, idx, dc.tensor(src), "amax").detach().numpy()
    np.testing.assert_array_equal(got, [np.nan, np.nan, 5.0])


# --------------------------------------------------------------------------- bad input
def test_bad_inputs():
    t = dc.tensor(np.ones((3, 4)))
    idx = np.zeros((2, 4), np.int64)
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        dc.gather(t, 0, np.full((2, 4), 3))
    with pytest.raises(IndexError, match="-1"):
        dc.scatter(t, 1, np.full((3, 1), -1), value=1.0)
    with pytest.raises(IndexError, match="out of bounds"):
        dc.scatter_add(t, 0, np.full((1, 1), 2**40), dc.tensor(np.ones((1, 1))))
    with pytest.raises(TypeError, match="integer dtype"):
        dc.gather(t, 0, idx.astype(np.float32))
    with pytest.raises(TypeError, match="index"):
        dc.gather(t, 0, [[0, 1]])
    with pytest.raises(ValueError, match="axis"):
        dc.gather(t, 2, idx)
    with pytest.raises(ValueError, match="number of dimensions"):
        dc.gather(t, 0, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="larger than x"):
        dc.gather(t, 0, np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match="larger than src"):
        dc.scatter(t, 0, idx, dc.tensor(np.ones((2, 3))))
    with pytest.raises(TypeError, match="dtype"):
        dc.scatter(t, 0, idx, dc.tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(TypeError, match="exactly one"):
        dc.scatter(t, 0, idx)
    with pytest.raises(ValueError, match="reduce"):
        dc.scatter_reduce(t, 0, idx, dc.tensor(np.ones((2, 4))), "max")
    with pytest.raises(ValueError, match="reduce"):
        dc.scatter(t, 0, idx, value=1.0, reduce="mean")
    with pytest.raises(TypeError, match="dtype"):
        _C.gather(np.ones((3, 4), np.float16), 0, idx)
    with pytest.raises(TypeError, match="Tensor"):
        dc.gather(np.ones((3, 4)), 0, idx)


def test_gradient_flows_through_composition():
    # gather of a scatter_add: gradients reach both inputs exactly once
    x, idx, src = _grad_case(9)
    gradcheck(lambda u, v: dc.gather(dc.scatter_add(u, 0, idx, v), 0, idx) * 2.0, [x, src])


def test_gather_backward_binding():
    idx = np.array([[0, 2], [1, 1]])
    dy = np.ones((2, 2))
    want = np.zeros((3, 2))
    np.add.at(want, (idx, np.arange(2)[None, :].repeat(2, 0)), dy)
    np.testing.assert_array_equal(_C.gather_backward(dy, 0, idx, (3, 2)), want)
    with pytest.raises(IndexError, match="out of bounds"):
        _C.gather_backward(dy, 0, np.array([[0, 3], [1, 1]]), (3, 2))
    with pytest.raises(ValueError, match="index's shape"):
        _C.gather_backward(np.ones((2, 1)), 0, idx, (3, 2))
    with pytest.raises(ValueError, match="input_shape"):
        _C.gather_backward(dy, 0, idx, (3, -2))
    with pytest.raises(ValueError, match="input_shape"):
        _C.gather_backward(dy, 0, idx, (3,))
    with pytest.raises(TypeError, match="input_shape"):
        _C.gather_backward(dy, 0, idx, "32")
