"""Adaptive average / max pooling (1-D, 2-D): float64 NumPy reference with PyTorch's windows
over shapes that divide, do not divide, upsample (output > input) and reach size 1; finite
differences; PyTorch parity incl. indices; bad input."""

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import HAS_TORCH, check_op, requires_torch


def windows(n_in, n_out):
    return [(o * n_in // n_out, -(-(o + 1) * n_in // n_out)) for o in range(n_out)]


def np_adaptive(x, out, reduce):
    """(y, plane-local argmax) of adaptive pooling of x (N, C, *spatial) to `out`."""
    if x.ndim == 3:
        y, i = np_adaptive(x[:, :, None, :], (1, out[0]), reduce)
        return y[:, :, 0], i[:, :, 0]
    N, C, H, W = x.shape
    P, Q = out
    y = np.zeros((N, C, P, Q))
    idx = np.zeros((N, C, P, Q), np.int64)
    for p, (h0, h1) in enumerate(windows(H, P)):
        for q, (w0, w1) in enumerate(windows(W, Q)):
            win = x[:, :, h0:h1, w0:w1].reshape(N, C, (h1 - h0) * (w1 - w0))
            if reduce == "avg":
                y[:, :, p, q] = win.mean(-1)
            else:
                k = win.argmax(-1)
                y[:, :, p, q] = win.max(-1)
                idx[:, :, p, q] = (h0 + k // (w1 - w0)) * W + w0 + k % (w1 - w0)
    return y, idx


def np_adaptive_vjp(x, out, reduce, g):
    gx = np.zeros_like(x)
    if reduce == "max":
        _, idx = np_adaptive(x, out, "max")
        planes = x.shape[0] * x.shape[1]
        flat, ix, gs = gx.reshape(planes, -1), idx.reshape(planes, -1), g.reshape(planes, -1)
        for r in range(planes):
            np.add.at(flat[r], ix[r], gs[r])
        return gx
    if x.ndim == 3:
        return np_adaptive_vjp(x[:, :, None], (1, out[0]), reduce, g[:, :, None])[:, :, 0]
    for p, (h0, h1) in enumerate(windows(x.shape[2], out[0])):
        for q, (w0, w1) in enumerate(windows(x.shape[3], out[1])):
            gx[:, :, h0:h1, w0:w1] += g[:, :, p, q][..., None, None] / ((h1 - h0) * (w1 - w0))
    return gx


CASES = [
    ((2, 3, 8, 8), (4, 4)),
    ((1, 2, 7, 5), (3, 2)),
    ((2, 1, 5, 6), (5, 6)),
    ((1, 2, 3, 4), (7, 9)),  # output larger than input: overlapping windows
    ((2, 2, 9, 7), (1, 1)),
    ((1, 1, 1, 1), (2, 3)),
    ((0, 3, 4, 4), (2, 2)),
    ((3, 4, 10), (3,)),
    ((2, 2, 5), (8,)),
    ((4, 40, 33, 35), (7, 7)),  # threaded
]


@pytest.mark.parametrize("shape,out", CASES)
@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_adaptive_pool(shape, out, reduce):
    nsp = len(shape) - 2
    fn = getattr(F, f"adaptive_{reduce}_pool{nsp}d")
    torch_fn = None
    if HAS_TORCH:
        import torch

        tf = getattr(torch.nn.functional, f"adaptive_{reduce}_pool{nsp}d")

        def torch_fn(x):
            return tf(x, out)

    # distinct values: a finite difference never crosses a tie of the max
    def make(case, rng):
        n = int(np.prod(case[0]))
        return [rng.permutation(n).reshape(case[0]) * 0.01 + rng.uniform(0, 0.001, case[0])]

    check_op(
        lambda x: fn(x, out),
        lambda x: np_adaptive(x, out, reduce)[0],
        [shape],
        torch_fn=torch_fn if np.prod(shape) < 5000 else None,
        np_vjp=lambda x, g: (np_adaptive_vjp(x, out, reduce, g),),
        make_inputs=make,
        grad_max_size=100,
    )


@requires_torch
@pytest.mark.parametrize("shape,out", CASES[:6] + CASES[7:9])
def test_adaptive_max_indices_match_torch(shape, out):
    import torch

    x = np.random.default_rng(0).integers(0, 4, shape).astype(np.float64)  # ties
    nsp = len(shape) - 2
    y, i = getattr(F, f"adaptive_max_pool{nsp}d")(dc.tensor(x), out, return_indices=True)
    ty, ti = getattr(torch.nn.functional, f"adaptive_max_pool{nsp}d")(
        torch.tensor(x), out, return_indices=True
    )
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(i.detach().numpy(), ti.detach().numpy())
    assert i.dtype == np.int64


def test_adaptive_output_size_none_keeps_the_input_size():
    x = np.random.default_rng(1).standard_normal((1, 2, 6, 4))
    y = F.adaptive_avg_pool2d(dc.tensor(x), (3, None))
    np.testing.assert_allclose(y.detach().numpy(), np_adaptive(x, (3, 4), "avg")[0], rtol=1e-12)


def test_adaptive_bad_inputs():
    x = dc.tensor(np.ones((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_max_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(x, 2**62)
    with pytest.raises(TypeError, match="output_size"):
        F.adaptive_avg_pool2d(x, 2.5)
    with pytest.raises(ValueError, match="4-dimensional"):
        F.adaptive_avg_pool2d(dc.tensor(np.ones((2, 4, 4), np.float32)), 2)
    with pytest.raises(ValueError, match="non-empty"):
        F.adaptive_max_pool1d(dc.tensor(np.ones((1, 2, 0), np.float32)), 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.adaptive_avg_pool1d(dc.tensor(np.ones((1, 2, 4), np.int64)), 2)
    with pytest.raises(TypeError, match="x"):
        F.adaptive_avg_pool1d([[1.0]], 2)
