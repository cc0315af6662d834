"""Pooling options: ceil_mode (max; average with count_include_pad=False, or True while no
window reaches past the padded input), return_indices, and the refused dilation, against a
float64 NumPy reference (the plain pooling reference of test_pool.py on an input padded out
to the ceil-mode extent), finite differences and PyTorch."""

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import HAS_TORCH, gradcheck, requires_torch
from test_pool import np_pool2d


def ceil_out(n, k, s, p):
    out = -(-(n + 2 * p - k) // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return out


def np_ceil_pool(x, k, s, p, mode, count_include_pad):
    """Pooling with ceil_mode on x (N, C, H, W): x padded by p on every side and out to the
    ceil-mode extent at the bottom / right, then plain valid pooling."""
    H, W = x.shape[2:]
    P, Q = ceil_out(H, k[0], s[0], p[0]), ceil_out(W, k[1], s[1], p[1])
    eh = max((P - 1) * s[0] + k[0] - (H + 2 * p[0]), 0)
    ew = max((Q - 1) * s[1] + k[1] - (W + 2 * p[1]), 0)
    pads = ((0, 0), (0, 0), (p[0], p[0] + eh), (p[1], p[1] + ew))
    if mode == "max":
        y, _ = np_pool2d(np.pad(x, pads, constant_values=-np.inf), k, s, 0, "max")
        return y
    total, _ = np_pool2d(np.pad(x, pads), k, s, 0, "avg")
    if count_include_pad:
        return total
    cnt, _ = np_pool2d(np.pad(np.ones_like(x), pads), k, s, 0, "avg")
    return total / cnt


CASES = [  # (shape, kernel, stride, padding)
    ((2, 3, 5, 5), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 7, 6), (3, 3), (2, 2), (1, 1)),
    ((1, 1, 6, 9), (3, 2), (2, 3), (1, 0)),
    ((2, 2, 4, 4), (2, 2), (2, 2), (0, 0)),  # divides: ceil_mode changes nothing
    ((1, 1, 1, 5), (1, 3), (1, 3), (0, 1)),
]


@pytest.mark.parametrize("shape,k,s,p", CASES)
def test_max_pool_ceil_mode(shape, k, s, p):
    x = np.random.default_rng(0).permutation(int(np.prod(shape))).reshape(shape) * 0.1
    y = F.max_pool2d(dc.tensor(x), k, s, p, ceil_mode=True)
    np.testing.assert_allclose(
        y.detach().numpy(), np_ceil_pool(x, k, s, p, "max", True), rtol=1e-14
    )
    gradcheck(lambda u: F.max_pool2d(u, k, s, p, ceil_mode=True), [x])
    x1 = x[:, :, 0]
    y1 = F.max_pool1d(dc.tensor(x1), k[1], s[1], p[1], ceil_mode=True)
    want1 = np_ceil_pool(x1[:, :, None], (1, k[1]), (1, s[1]), (0, p[1]), "max", True)[:, :, 0]
    np.testing.assert_allclose(y1.detach().numpy(), want1, rtol=1e-14)
    if HAS_TORCH:
        import torch

        t = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, ceil_mode=True)
        np.testing.assert_array_equal(y.detach().numpy(), t.detach().numpy())


@pytest.mark.parametrize("shape,k,s,p", CASES)
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avg_pool_ceil_mode(shape, k, s, p, count_include_pad):
    x = np.random.default_rng(1).standard_normal(shape)
    H, W = shape[2:]
    reaches = any(
        (ceil_out(n, kk, ss, pp) - 1) * ss + kk > n + 2 * pp
        for n, kk, ss, pp in zip((H, W), k, s, p)
    )
    if count_include_pad and reaches:
        with pytest.raises(ValueError, match="ceil_mode"):
            F.avg_pool2d(dc.tensor(x), k, s, p, ceil_mode=True, count_include_pad=True)
        return
    y = F.avg_pool2d(dc.tensor(x), k, s, p, ceil_mode=True, count_include_pad=count_include_pad)
    want = np_ceil_pool(x, k, s, p, "avg", count_include_pad)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12)
    gradcheck(lambda u: F.avg_pool2d(u, k, s, p, True, count_include_pad=count_include_pad), [x])
    if HAS_TORCH:
        import torch

        t = torch.nn.functional.avg_pool2d(
            torch.tensor(x), k, s, p, ceil_mode=True, count_include_pad=count_include_pad
        )
        np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=1e-12)


@requires_torch
@pytest.mark.parametrize("shape,k,s,p", CASES)
def test_max_pool_return_indices_match_torch(shape, k, s, p):
    import torch

    x = np.random.default_rng(2).integers(0, 3, shape).astype(np.float64)  # ties
    for ceil in (False, True):
        xt = dc.tensor(x, requires_grad=True)
        y, i = F.max_pool2d(xt, k, s, p, ceil_mode=ceil, return_indices=True)
        ty, ti = torch.nn.functional.max_pool2d(
            torch.tensor(x), k, s, p, ceil_mode=ceil, return_indices=True
        )
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(i.detach().numpy(), ti.detach().numpy())
        assert i.dtype == np.int64 and not i.requires_grad
        y.sum().backward()  # the values still carry the gradient
        assert xt.grad.sum() == y.size
    y1, i1 = F.max_pool1d(dc.tensor(x[:, :, 0]), k[1], s[1], p[1], return_indices=True)
    ty1, ti1 = torch.nn.functional.max_pool1d(
        torch.tensor(x[:, :, 0]), k[1], s[1], p[1], return_indices=True
    )
    np.testing.assert_array_equal(i1.detach().numpy(), ti1.detach().numpy())


def test_pool_option_bad_inputs():
    x = dc.tensor(np.ones((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="dilation"):
        F.max_pool2d(x, 2, dilation=0)  # (dilation >= 1 runs: test_pool3d.py)
    with pytest.raises(TypeError, match="dilation"):
        F.max_pool2d(x, 2, dilation=1.5)
    with pytest.raises(ValueError, match="ceil_mode"):
        F.avg_pool2d(dc.tensor(np.ones((1, 1, 5, 5), np.float32)), 2, 2, 0, True, True)
