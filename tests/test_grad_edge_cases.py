"""Regression tests for gradient and value edge cases found by a peer's op suite (issue 14):
var/std with N - ddof <= 0, x ** y at x = 0, and probability targets of cross-entropy. Each
expectation is PyTorch's behaviour (checked against PyTorch when it is installed)."""

import warnings

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import HAS_TORCH, gradcheck, requires_torch


def _torch():
    import torch

    return torch


def _same(ours, want):
    """Equal values with nan where nan, inf of the same sign where inf."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(want))
    np.testing.assert_allclose(np.nan_to_num(ours), np.nan_to_num(want), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(want))


# ----------------------------------------------------------------------------- var / std
# (PyTorch warns about degrees of freedom <= 0; deepcore, as NumPy's nan-functions, does not)
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning")


def _var_case(shape, axis, ddof, op="var", seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    t = dc.tensor(x, requires_grad=True)
    y = getattr(t, op)(axis=axis, ddof=ddof)
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    y.backward(g)
    return x, g, y.detach().numpy(), t.grad.detach().numpy()


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_backward_with_no_degrees_of_freedom_is_nan(op):
    # N = 1 along (0, 3) and ddof = 1: N - ddof = 0 (this raised ZeroDivisionError)
    x, g, y, gx = _var_case((1, 2, 3, 1, 5), (0, 3), 1, op)
    assert np.isnan(y).all() and y.shape == (2, 3, 5)
    assert np.isnan(gx).all() and gx.shape == x.shape
    if HAS_TORCH:
        torch = _torch()
        xt = torch.tensor(x, requires_grad=True)
        yt = getattr(xt, op)(dim=(0, 3), correction=1)
        yt.backward(torch.tensor(g))
        _same(y, yt.detach().numpy())
        _same(gx, xt.grad.detach().numpy())


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_over_a_zero_size_axis(op):
    x, g, y, gx = _var_case((2, 0, 3), 1, 0, op)
    assert y.shape == (2, 3) and np.isnan(y).all()
    assert gx.shape == (2, 0, 3)


def test_var_forward_is_inf_when_ddof_exceeds_n_and_values_differ():
    # N = 5 along (0, 4), ddof = 5: sum of squares / 0 -> inf (NumPy and PyTorch), not nan
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 1, 5))
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        want = np.var(x, axis=(0, 4), ddof=5)
    assert np.isposinf(want).all()
    for ddof in (5, 7):
        _same(dc.tensor(x).var(axis=(0, 4), ddof=ddof).detach().numpy(), want)
        _same(dc.tensor(x).std(axis=(0, 4), ddof=ddof).detach().numpy(), want)
    # equal values: 0 / 0 = nan
    assert np.isnan(dc.tensor(np.ones((3, 2))).var(axis=0, ddof=3).detach().numpy()).all()
    if HAS_TORCH:
        torch = _torch()
        _same(
            dc.tensor(x).var(axis=(0, 4), ddof=5).detach().numpy(),
            torch.tensor(x).var(dim=(0, 4), correction=5).detach().numpy(),
        )


def test_var_backward_at_n_equal_ddof_matches_torch_along_an_axis():
    # N - ddof = 0 with differing values: +-inf where x != mean, as PyTorch's var over a dim
    # (its reduction over all elements, without dim, gives +inf everywhere instead)
    x = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]])
    t = dc.tensor(x, requires_grad=True)
    y = t.var(axis=1, ddof=3)
    _same(y.detach().numpy(), np.array([np.inf, np.nan]))
    y.backward(np.ones(2))
    with np.errstate(invalid="ignore"):
        want = np.sign(x - x.mean(1, keepdims=True)) * np.inf  # sign 0 * inf: nan
    _same(t.grad.detach().numpy(), want)
    if HAS_TORCH:
        torch = _torch()
        xt = torch.tensor(x, requires_grad=True)
        xt.var(dim=1, correction=3).backward(torch.ones(2, dtype=torch.float64))
        _same(t.grad.detach().numpy(), xt.grad.detach().numpy())


def test_var_std_ordinary_cases_still_gradcheck():
    x = np.random.default_rng(3).standard_normal((3, 4))
    gradcheck(lambda u: u.var(axis=1, ddof=1), [x])
    gradcheck(lambda u: u.std(axis=(0, 1)), [x])


# ----------------------------------------------------------------------------- pow
def test_pow_tensor_exponent_zero_at_zero_base_has_zero_base_gradient():
    a = dc.tensor(np.array([0.0, 0.0, 2.0, 0.0]), requires_grad=True)
    b = dc.tensor(np.array([0.0, 2.0, 0.0, 0.5]), requires_grad=True)
    (a**b).sum().backward()
    # d/da a**b = b a**(b-1): 0 where b == 0 (PyTorch), 0 at a=0,b=2, inf at a=0,b=0.5
    _same(a.grad.detach().numpy(), np.array([0.0, 0.0, 0.0, np.inf]))
    if HAS_TORCH:
        torch = _torch()
        at = torch.tensor([0.0, 0.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
        bt = torch.tensor([0.0, 2.0, 0.0, 0.5], dtype=torch.float64, requires_grad=True)
        (at**bt).sum().backward()
        _same(a.grad.detach().numpy(), at.grad.detach().numpy())
        _same(b.grad.detach().numpy(), bt.grad.detach().numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_scalar_zero_base_negative_exponent_gradient_is_minus_inf(dtype):
    x = dc.tensor(np.array([-1.5, -1.0, 0.0, 2.0], dtype), requires_grad=True)
    y = 0.0**x
    y.sum().backward()
    _same(y.detach().numpy().astype(np.float64), np.array([np.inf, np.inf, 1.0, 0.0]))
    _same(x.grad.detach().numpy().astype(np.float64), np.array([-np.inf, -np.inf, 0.0, 0.0]))
    assert x.grad.dtype == dtype
    if HAS_TORCH:
        torch = _torch()
        xt = torch.tensor(x.detach().numpy(), requires_grad=True)
        (0.0**xt).sum().backward()
        _same(x.grad.detach().numpy(), xt.grad.detach().numpy())


@requires_torch
def test_pow_scalar_base_gradient_matches_torch_elsewhere():
    torch = _torch()
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    for base in (2.0, 0.5, -2.0):
        t = dc.tensor(x, requires_grad=True)
        (base**t).sum().backward()
        xt = torch.tensor(x, requires_grad=True)
        (base**xt).sum().backward()
        _same(t.grad.detach().numpy(), xt.grad.detach().numpy())


# ----------------------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_get_a_gradient(reduction):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    p = rng.uniform(0.1, 1.0, (4, 5))
    p /= p.sum(axis=1, keepdims=True)
    xt, pt = dc.tensor(x, requires_grad=True), dc.tensor(p, requires_grad=True)
    loss = F.cross_entropy(xt, pt, reduction=reduction)
    g = rng.standard_normal(loss.shape)
    loss.backward(g)
    logp = x - x.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    scale = {"mean": g / 4, "sum": g, "none": g[:, None] if np.ndim(g) else g}[reduction]
    np.testing.assert_allclose(pt.grad.detach().numpy(), -logp * scale, rtol=1e-12, atol=1e-14)
    assert xt.grad is not None
    gradcheck(lambda u, v: F.cross_entropy(u, v, reduction=reduction), [x, p])
    if HAS_TORCH:
        torch = _torch()
        xq = torch.tensor(x, requires_grad=True)
        pq = torch.tensor(p, requires_grad=True)
        torch.nn.functional.cross_entropy(xq, pq, reduction=reduction).backward(torch.tensor(g))
        np.testing.assert_allclose(
            pt.grad.detach().numpy(), pq.grad.detach().numpy(), rtol=1e-12, atol=1e-14
        )
        np.testing.assert_allclose(
            xt.grad.detach().numpy(), xq.grad.detach().numpy(), rtol=1e-12, atol=1e-14
        )


def test_cross_entropy_target_only_requires_grad_and_dtype_mismatch():
    x = np.random.default_rng(1).standard_normal((3, 4))
    p = np.full((3, 4), 0.25)
    pt = dc.tensor(p, requires_grad=True)
    F.cross_entropy(dc.tensor(x), pt).backward()
    assert pt.grad is not None and pt.grad.shape == (3, 4)
    with pytest.raises(TypeError, match="target"):
        F.cross_entropy(dc.tensor(x.astype(np.float32)), pt)
