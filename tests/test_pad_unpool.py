"""F.pad (PyTorch's argument order and mode names on deepcore.pad) and F.max_unpool1d/2d/3d
(the inverse of max pooling's return_indices): NumPy references, PyTorch parity of values
and gradients, finite differences, bad input."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from deepcore.autograd import backward
from helpers import gradcheck, requires_torch

NP_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def np_torch_pad(x, pad, mode, value=0.0):
    """PyTorch's F.pad in NumPy: pairs from the last axis backwards, negative widths crop."""
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    x = x[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(widths, x.shape))]
    widths = [(max(b, 0), max(a, 0)) for b, a in widths]
    if mode == "constant":
        return np.pad(x, widths, constant_values=value)
    return np.pad(x, widths, mode=NP_MODE[mode])


PAD_CASES = [
    ((2, 3, 5), (1, 2)),
    ((2, 3, 5), (0, 0)),
    ((2, 3, 4, 5), (1, 0, 2, 3)),
    ((2, 3, 4, 5), (-1, 2, 1, -2)),
    ((1, 2, 3, 4, 5), (2, 1, 0, 2, 1, 1)),
    ((1, 1, 1, 6), (3, 3)),
    ((2, 7), (-3, 0, 1, 1)),
    ((3, 4, 5), (1, 1, 1, 1, 1, 1)),
]


@pytest.mark.parametrize("shape,pad", PAD_CASES)
@pytest.mark.parametrize("mode", list(NP_MODE))
def test_pad_against_numpy(shape, pad, mode):
    x = np.random.default_rng(0).standard_normal(shape)
    try:
        want = np_torch_pad(x, pad, mode, 0.5)
    except ValueError:
        pytest.skip("NumPy cannot pad this")
    got = F.pad(dc.tensor(x), pad, mode, 0.5 if mode == "constant" else None)
    np.testing.assert_array_equal(got.detach().numpy(), want)


@requires_torch
@pytest.mark.parametrize("shape,pad", PAD_CASES[:5])
@pytest.mark.parametrize("mode", list(NP_MODE))
def test_pad_torch_parity_with_gradient(shape, pad, mode):
    import torch

    if mode != "constant" and len(pad) // 2 > len(shape) - 2 + (len(shape) == 2):
        pytest.skip("PyTorch pads only the spatial axes in this mode")
    x = np.random.default_rng(1).standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.pad(tx, pad, mode)
    g = np.random.default_rng(2).standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    ox = dc.tensor(x, requires_grad=True)
    y = F.pad(ox, pad, mode)
    backward([y], [g])
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_pad_gradcheck():
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    for mode in NP_MODE:
        gradcheck(lambda t, mode=mode: F.pad(t, (2, 1, -1, 1), mode), [x])


def test_pad_bad_inputs():
    x = dc.tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="mode must be one of"):
        F.pad(x, (1, 1), "edge")
    with pytest.raises(ValueError, match="even length"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match="even length"):
        F.pad(x, (1,) * 8)
    with pytest.raises(TypeError, match="tuple of ints"):
        F.pad(x, (1.0, 1))
    with pytest.raises(TypeError, match="tuple of ints"):
        F.pad(x, 1)
    with pytest.raises(ValueError, match="'reflect' widths must be smaller"):
        F.pad(x, (4, 0), "reflect")
    with pytest.raises(ValueError, match="'circular' widths must be at most"):
        F.pad(x, (5, 0), "circular")
    with pytest.raises(ValueError, match="value is only for"):
        F.pad(x, (1, 1), "replicate", 2.0)
    with pytest.raises(ValueError, match="negative size"):
        F.pad(x, (-3, -2))
    with pytest.raises(ValueError, match="cannot pad the empty axis"):
        F.pad(dc.tensor(np.zeros((2, 0))), (1, 1), "replicate")
    with pytest.raises(ValueError, match="too large|fit"):
        F.pad(x, (2**62, 2**62))
    with pytest.raises(TypeError, match="must be a deepcore Tensor"):
        F.pad([1.0, 2.0], (1, 1))


# ---- max unpooling ------------------------------------------------------------------------


def np_unpool(x, idx, out):
    N, C = x.shape[:2]
    y = np.zeros((N, C, int(np.prod(out))))
    for n in range(N):
        for c in range(C):
            y[n, c, idx[n, c].ravel()] = x[n, c].ravel()
    return y.reshape(N, C, *out)


@pytest.mark.parametrize(
    "nsp,shape,kw",
    [
        (2, (2, 3, 6, 7), dict(kernel_size=2)),
        (2, (1, 2, 9, 8), dict(kernel_size=3, stride=2, padding=1)),
        (2, (2, 2, 5, 5), dict(kernel_size=3, stride=1)),  # overlapping: repeated indices
        (1, (2, 3, 11), dict(kernel_size=3, stride=2)),
        (3, (1, 2, 4, 6, 5), dict(kernel_size=2, stride=(2, 2, 1))),
    ],
)
def test_max_unpool_round_trip_against_numpy(nsp, shape, kw):
    x = np.random.default_rng(4).standard_normal(shape)
    pool, unpool = getattr(F, f"max_pool{nsp}d"), getattr(F, f"max_unpool{nsp}d")
    y, idx = pool(dc.tensor(x), return_indices=True, **kw)
    out = unpool(y, idx, **kw, output_size=x.shape[2:])
    want = np_unpool(y.detach().numpy(), idx.detach().numpy(), x.shape[2:])
    np.testing.assert_array_equal(out.detach().numpy(), want)
    flat = idx.detach().numpy().reshape(shape[0] * shape[1], -1)
    if all(len(np.unique(r)) == len(r) for r in flat):
        # (with repeated indices one write wins, and the gradient is PyTorch's gather at the
        # indices, which no finite difference sees)
        gradcheck(lambda t: unpool(t, idx, **kw, output_size=x.shape), [y.detach().numpy()])


@requires_torch
@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_max_unpool_torch_parity(nsp):
    import torch

    shape = (2, 3) + (7, 5, 7)[:nsp]  # sizes the default output size reproduces
    x = np.random.default_rng(5).standard_normal(shape)
    tp = getattr(torch.nn.functional, f"max_pool{nsp}d")
    tu = getattr(torch.nn.functional, f"max_unpool{nsp}d")
    ty, ti = tp(torch.tensor(x), 3, 2, 1, return_indices=True)
    tin = ty.detach().clone().requires_grad_()
    tout = tu(tin, ti, 3, 2, 1, output_size=shape[2:])
    g = np.random.default_rng(6).standard_normal(tuple(tout.shape))
    tout.backward(torch.tensor(g))
    oin = dc.tensor(ty.detach().numpy(), requires_grad=True)
    out = getattr(F, f"max_unpool{nsp}d")(oin, dc.tensor(ti.detach().numpy()), 3, 2, 1,
                                          output_size=shape[2:])  # fmt: skip
    backward([out], [g])
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(oin.grad.numpy(), tin.grad.numpy())
    # the default output size
    d = tu(ty, ti, 3, 2, 1)
    assert getattr(F, f"max_unpool{nsp}d")(oin, ti.detach().numpy(), 3, 2, 1).shape == tuple(
        d.shape
    )


def test_max_unpool_bad_inputs():
    x = dc.tensor(np.ones((1, 2, 3, 3)))
    idx = np.zeros((1, 2, 3, 3), np.int64)
    with pytest.raises(ValueError, match=r"4-dimensional \(N, C, H, W\)"):
        F.max_unpool2d(dc.tensor(np.ones((2, 3, 3))), idx[0], 2)
    with pytest.raises(ValueError, match="indices must have the input's shape"):
        F.max_unpool2d(x, idx[:, :1], 2)
    with pytest.raises(TypeError, match="integer"):
        F.max_unpool2d(x, idx.astype(np.float64), 2)
    with pytest.raises(IndexError, match="outside the output plane"):
        F.max_unpool2d(x, idx + 36, 2)
    with pytest.raises(IndexError, match="outside the output plane"):
        F.max_unpool2d(x, idx - 1, 2)
    with pytest.raises(ValueError, match="within a stride"):
        F.max_unpool2d(x, idx, 2, output_size=(9, 6))
    with pytest.raises(ValueError, match="too large"):
        F.max_unpool2d(x, idx, 2**40)
    with pytest.raises(ValueError, match="kernel_size"):
        F.max_unpool2d(x, idx, 0)


# ---- the op-test helper's table: one line per op (forward in both dtypes against NumPy,
# gradcheck on the small cases, PyTorch's forward and input gradients) ------------------------


def _table():
    from conv_reference import np_conv
    from test_pool3d import np_pool

    rng = np.random.default_rng(20)
    w3 = rng.standard_normal((2, 2, 2, 3, 2))
    wt = rng.standard_normal((2, 3, 2, 2, 3))
    idx = np.array([[[[0, 3], [9, 10]]]])  # max_unpool2d into a (1, 1, 4, 4) plane, stride 2

    def tw(a):
        import torch

        return torch.tensor(a)

    return [
        ("pad constant", [(2, 3, 4)], lambda x: F.pad(x, (1, -1, 2, 0), value=0.5),
         lambda x: np_torch_pad(x, (1, -1, 2, 0), "constant", 0.5),
         lambda x: torch_f().pad(x, (1, -1, 2, 0), value=0.5)),
        ("pad reflect", [(2, 3, 4)], lambda x: F.pad(x, (3, 1), "reflect"),
         lambda x: np_torch_pad(x, (3, 1), "reflect"),
         lambda x: torch_f().pad(x, (3, 1), "reflect")),
        ("pad replicate", [(1, 2, 3, 4)], lambda x: F.pad(x, (2, 1, 0, 3), "replicate"),
         lambda x: np_torch_pad(x, (2, 1, 0, 3), "replicate"),
         lambda x: torch_f().pad(x, (2, 1, 0, 3), "replicate")),
        ("pad circular", [(1, 2, 3, 4)], lambda x: F.pad(x, (3, 1, -1, 2), "circular"),
         lambda x: np_torch_pad(x, (3, 1, -1, 2), "circular"),
         lambda x: torch_f().pad(x, (3, 1, -1, 2), "circular")),
        ("conv3d", [(1, 2, 3, 4, 3)], lambda x: F.conv3d(x, dc.tensor(w3.astype(x.dtype)), None,
                                                          (1, 2, 1), 1, (1, 1, 2)),
         lambda x: np_conv(x, w3, None, (1, 2, 1), 1, (1, 1, 2), 1)[0],
         lambda x: torch_f().conv3d(x, tw(w3), None, (1, 2, 1), 1, (1, 1, 2))),
        ("conv_transpose3d", [(1, 2, 2, 3, 2)],
         lambda x: F.conv_transpose3d(x, dc.tensor(wt.astype(x.dtype)), None, 2, 1, 1),
         None, lambda x: torch_f().conv_transpose3d(x, tw(wt), None, 2, 1, 1)),
        ("max_pool3d", [(1, 2, 3, 4, 5)], lambda x: F.max_pool3d(x, (2, 2, 3), 1, (1, 0, 1)),
         lambda x: np_pool(x, (2, 2, 3), 1, (1, 0, 1), "max")[0],
         lambda x: torch_f().max_pool3d(x, (2, 2, 3), 1, (1, 0, 1))),
        ("max_pool3d dilated", [(1, 1, 5, 4, 5)],
         lambda x: F.max_pool3d(x, 2, 1, 1, (2, 1, 2), True),
         lambda x: np_pool(x, 2, 1, 1, "max", ceil_mode=True, dilation=(2, 1, 2))[0],
         lambda x: torch_f().max_pool3d(x, 2, 1, 1, (2, 1, 2), True)),
        ("avg_pool3d", [(1, 2, 4, 3, 5)], lambda x: F.avg_pool3d(x, (3, 2, 2), 2, 1),
         lambda x: np_pool(x, (3, 2, 2), 2, 1, "avg")[0],
         lambda x: torch_f().avg_pool3d(x, (3, 2, 2), 2, 1)),
        ("adaptive_avg_pool3d", [(1, 2, 5, 3, 4)], lambda x: F.adaptive_avg_pool3d(x, (2, 2, 3)),
         None, lambda x: torch_f().adaptive_avg_pool3d(x, (2, 2, 3))),
        ("adaptive_max_pool3d", [(1, 2, 5, 3, 4)], lambda x: F.adaptive_max_pool3d(x, (2, 2, 3)),
         None, lambda x: torch_f().adaptive_max_pool3d(x, (2, 2, 3))),
        ("max_pool2d dilated", [(1, 2, 7, 6)], lambda x: F.max_pool2d(x, 2, 1, 1, (3, 2)),
         lambda x: np_pool(x, 2, 1, 1, "max", dilation=(3, 2))[0],
         lambda x: torch_f().max_pool2d(x, 2, 1, 1, (3, 2))),
        ("max_unpool2d", [(1, 1, 2, 2)], lambda x: F.max_unpool2d(x, idx, 2),
         lambda x: np_unpool(x, idx, (4, 4)),
         lambda x: torch_f().max_unpool2d(x, torch_tensor_int(idx), 2)),
    ]  # fmt: skip


def torch_f():
    import torch

    return torch.nn.functional


def torch_tensor_int(a):
    import torch

    return torch.tensor(a, dtype=torch.int64)


TABLE = _table()


@pytest.mark.parametrize("name,shapes,f,ref,tf", TABLE, ids=[t[0] for t in TABLE])
def test_op_table(name, shapes, f, ref, tf):
    from helpers import HAS_TORCH, check_op

    if ref is None and not HAS_TORCH:
        pytest.skip("the reference is PyTorch")
    if ref is None:  # the reference is PyTorch itself (float64)

        def ref(x):
            import torch

            return tf(torch.tensor(x)).numpy()

    check_op(f, ref, shapes, torch_fn=tf if HAS_TORCH else None)
