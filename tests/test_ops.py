"""Every tensor op against NumPy (float64 reference), gradcheck in float64, PyTorch parity."""

from __future__ import annotations

import operator

import deepcore as dc
import numpy as np
import pytest
from helpers import BINARY_SHAPES, HAS_TORCH, UNARY_SHAPES, check_op, gradcheck, requires_torch

if HAS_TORCH:
    import torch


def _t(fn):
    """torch_fn only when torch is importable."""
    return fn if HAS_TORCH else None


# ------------------------------------------------------------------------------ elementwise
BINARY = {
    "add": (lambda a, b: a + b, np.add, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, np.subtract, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, np.multiply, lambda a, b: a * b),
    "maximum": (dc.maximum, np.maximum, lambda a, b: torch.maximum(a, b)),
    "minimum": (dc.minimum, np.minimum, lambda a, b: torch.minimum(a, b)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name):
    f, ref, tf = BINARY[name]
    check_op(f, ref, BINARY_SHAPES, torch_fn=_t(tf))


def _away_from_zero(case, rng):
    return [rng.uniform(0.5, 2.0, size=s) * rng.choice([-1, 1], size=s) for s in case]


def test_div():
    check_op(
        lambda a, b: a / b,
        np.divide,
        BINARY_SHAPES,
        torch_fn=_t(lambda a, b: a / b),
        make_inputs=_away_from_zero,
    )


def test_pow_tensor_tensor():
    def inputs(case, rng):
        return [rng.uniform(0.5, 2.0, size=case[0]), rng.uniform(-2, 2, size=case[1])]

    check_op(
        lambda a, b: a**b,
        np.power,
        BINARY_SHAPES,
        torch_fn=_t(lambda a, b: a**b),
        make_inputs=inputs,
    )


@pytest.mark.parametrize("p", [2, 3, 0.5, -1.5, 0, 1])
def test_pow_scalar(p):
    def inputs(case, rng):
        return [rng.uniform(0.5, 2.0, size=case[0])]

    check_op(
        lambda a: a**p,
        lambda a: a**p,
        UNARY_SHAPES,
        torch_fn=_t(lambda a: a**p),
        make_inputs=inputs,
    )


def test_rpow_and_reflected_scalars():
    check_op(lambda a: 2.0**a, lambda a: 2.0**a, UNARY_SHAPES, torch_fn=_t(lambda a: 2.0**a))
    check_op(lambda a: 3 - a, lambda a: 3 - a, UNARY_SHAPES, torch_fn=_t(lambda a: 3 - a))
    check_op(
        lambda a: 1.5 / a,
        lambda a: 1.5 / a,
        UNARY_SHAPES,
        torch_fn=_t(lambda a: 1.5 / a),
        make_inputs=_away_from_zero,
    )
    check_op(lambda a: 2 * a + 1, lambda a: 2 * a + 1, UNARY_SHAPES)


def test_pow_zero_base_grad_wrt_exponent():
    # d(0**b)/db at b > 0 is 0 by convention (PyTorch's), not nan
    b = dc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (dc.tensor(np.zeros(2)) ** b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 0.0])


UNARY = {
    "neg": (lambda x: -x, np.negative, lambda x: -x, None),
    "exp": (dc.exp, np.exp, lambda x: torch.exp(x), None),
    "log": (dc.log, np.log, lambda x: torch.log(x), (0.2, 3.0)),
    "sqrt": (dc.sqrt, np.sqrt, lambda x: torch.sqrt(x), (0.2, 3.0)),
    "abs": (dc.abs, np.abs, lambda x: torch.abs(x), None),
    "method_exp": (lambda x: x.exp(), np.exp, lambda x: torch.exp(x), None),
    "clip": (
        lambda x: x.clip(-0.5, 0.7),
        lambda x: np.clip(x, -0.5, 0.7),
        lambda x: torch.clamp(x, -0.5, 0.7),
        None,
    ),
    "clip_lo": (
        lambda x: dc.clip(x, min=0.1),
        lambda x: np.clip(x, 0.1, None),
        lambda x: torch.clamp(x, min=0.1),
        None,
    ),
    "clip_hi": (
        lambda x: dc.clip(x, max=0.1),
        lambda x: np.clip(x, None, 0.1),
        lambda x: torch.clamp(x, max=0.1),
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    f, ref, tf, rng_range = UNARY[name]
    lo, hi = rng_range or (-2.0, 2.0)
    check_op(f, ref, UNARY_SHAPES, torch_fn=_t(tf), low=lo, high=hi)


def test_abs_and_clip_subgradients():
    x = dc.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    dc.abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 1.0])
    x = dc.tensor(np.array([-1.0, 0.0, 1.0, 2.0]), requires_grad=True)
    x.clip(0.0, 1.0).sum().backward()  # inclusive bounds pass the gradient (as torch.clamp)
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 0.0])


def test_maximum_ties_split_gradient():
    a = dc.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = dc.tensor(np.array([1.0, 1.0, 4.0]), requires_grad=True)
    dc.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 0.0, 1.0])


@requires_torch
def test_maximum_ties_match_torch():
    x = np.array([[1.0, 2.0], [2.0, 2.0]])
    a, b = dc.tensor(x, requires_grad=True), dc.tensor(x.T.copy(), requires_grad=True)
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(x.T.copy(), requires_grad=True)
    dc.maximum(a, b).sum().backward()
    torch.maximum(ta, tb).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy())


# ------------------------------------------------------------------------------ dtype rules
def test_float32_stays_float32_with_scalars():
    x = dc.ones(3)
    for y in (
        x * 2.0,
        2.0 * x,
        x / 3,
        x + np.float64(1.5),
        x**2,
        2.0**x,
        x - 1,
        -x,
        x * np.float32(2),
        dc.maximum(x, 0.5),
        x.clip(0, 1),
        dc.where(x > 0, x, 0.0),
    ):
        assert y.dtype == np.float32, y


def test_mixed_float_dtypes_promote_like_numpy():
    a = dc.ones(2, dtype="float32", requires_grad=True)
    b = dc.ones(2, dtype="float64", requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    assert (a @ b).dtype == np.float64


def test_integer_tensors():
    i = dc.tensor(np.array([1, 2, 3]))
    assert i.dtype == np.int64
    assert (i + 1).dtype == np.int64
    assert (i + 0.5).dtype == np.float32
    assert (i / 2).dtype == np.float32
    np.testing.assert_allclose((i / 2).numpy(), [0.5, 1.0, 1.5])
    assert (i * dc.ones(3)).dtype == np.float32
    assert (i * dc.ones(3, dtype="float64")).dtype == np.float64
    assert i.mean().dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        dc.tensor([1, 2], dtype="int64", requires_grad=True)


def test_ndarray_on_the_left_gives_tensor():
    x = dc.ones(3, requires_grad=True)
    y = np.full(3, 2.0, np.float32) * x
    assert isinstance(y, dc.Tensor) and y.requires_grad
    y = np.ones((2, 3), np.float32) @ dc.ones((3, 2))
    assert isinstance(y, dc.Tensor)


# ------------------------------------------------------------------------------ matmul
MATMUL_SHAPES = [
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((7, 5), (5, 1)),
    ((1, 5), (5, 9)),
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((4, 3), (3,)),
    ((2, 4, 3), (3, 5)),
    ((3, 2), (4, 2, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (2, 4, 1)),
    ((3,), (2, 3, 4)),
    ((2, 3, 4), (4,)),
    ((0, 3), (3, 4)),
    ((3, 0), (0, 4)),
    ((2, 3), (3, 0)),
    ((1, 2, 1, 3, 2), (2, 2)),
]


def test_matmul():
    check_op(lambda a, b: a @ b, np.matmul, MATMUL_SHAPES, torch_fn=_t(torch_matmul))


def torch_matmul(a, b):
    return a @ b


def test_matmul_transposed_views_no_copy_path():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 7)).astype(np.float32)
    b = rng.standard_normal((6, 7)).astype(np.float32)
    ta, tb = dc.tensor(a, requires_grad=True), dc.tensor(b, requires_grad=True)
    y = ta @ tb.T  # b transposed: passed to GEMM with trans_b, not copied
    np.testing.assert_allclose(y.detach().numpy(), a @ b.T, rtol=1e-5, atol=1e-5)
    y.sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), np.ones((5, 6)) @ b, rtol=1e-5)
    np.testing.assert_allclose(tb.grad.numpy(), (a.T @ np.ones((5, 6))).T, rtol=1e-5)
    # strided slices (step 2) and a permuted batch
    x = rng.standard_normal((4, 6, 8))
    gradcheck(lambda t: t[:, ::2, ::2] @ t[0, ::2, ::2].T, [x[:2, :, :4]])
    gradcheck(lambda t: t.permute(2, 0, 1) @ t.permute(2, 1, 0), [x[:2, :3, :2]])


def test_matmul_bad_inputs():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        dc.ones(2, 3) @ dc.ones(4, 5)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        dc.matmul(dc.tensor(1.0), dc.ones(3))
    with pytest.raises(ValueError, match="batch"):
        dc.ones(2, 3, 4) @ dc.ones(3, 4, 5)
    with pytest.raises(TypeError, match="float32 and float64"):
        dc.tensor(np.ones((2, 2), np.int64)) @ dc.ones(2, 2)


def test_matmul_large_float32_accuracy():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 65, 130))
    b = rng.standard_normal((130, 33))
    y = dc.tensor(a.astype(np.float32)) @ dc.tensor(b.astype(np.float32))
    ref = a @ b
    assert np.linalg.norm(y.numpy() - ref) / np.linalg.norm(ref) < 1e-6 * np.sqrt(130)


# ------------------------------------------------------------------------------ reductions
RED_CASES = [
    ((3, 4), None, False),
    ((3, 4), 0, False),
    ((3, 4), 1, True),
    ((3, 4), -1, False),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (2, 0), True),
    ((5,), 0, False),
    ((), None, False),
    ((1, 1, 3), (0, 1), False),
    ((2, 3, 1, 2, 2), (1, 3), True),
    ((7, 1), 1, False),
]


@pytest.mark.parametrize("shape,axis,keepdims", RED_CASES)
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std"])
def test_smooth_reductions(name, shape, axis, keepdims):
    def torch_fn(x):
        dims = tuple(range(x.ndim)) if axis is None else axis
        if name in ("var", "std"):
            return getattr(torch, name)(x, dim=dims, keepdim=keepdims, correction=0)
        return getattr(torch, name)(x, dim=dims, keepdim=keepdims)

    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    # std of a single element is 0, where its derivative is infinite: forward only
    smooth = name != "std" or int(np.prod([shape[a] for a in axes])) > 1
    check_op(
        lambda x: getattr(x, name)(axis=axis, keepdims=keepdims),
        lambda x: getattr(np, name)(x, axis=axis, keepdims=keepdims),
        [shape],
        torch_fn=_t(torch_fn) if shape != () and smooth else None,
        grad=smooth,
    )


def _distinct(case, rng):
    # well-separated values: no ties, so finite differences see a smooth function
    return [
        rng.permutation(np.arange(int(np.prod(s)), dtype=np.float64)).reshape(s) * 0.37
        for s in case
    ]


@pytest.mark.parametrize("shape,axis,keepdims", RED_CASES)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min(name, shape, axis, keepdims):
    def torch_fn(x):
        dims = tuple(range(x.ndim)) if axis is None else axis
        f = torch.amax if name == "max" else torch.amin
        return f(x, dim=dims, keepdim=keepdims)

    check_op(
        lambda x: getattr(x, name)(axis=axis, keepdims=keepdims),
        lambda x: getattr(np, name)(x, axis=axis, keepdims=keepdims),
        [shape],
        torch_fn=_t(torch_fn) if shape != () else None,
        make_inputs=_distinct,
    )


def test_max_ties_split_evenly():
    x = dc.tensor(np.array([[3.0, 1.0, 3.0], [0.0, 2.0, 1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.5, 0, 0.5], [0, 1, 0]])
    x = dc.tensor(np.array([2.0, 2.0, 2.0, 1.0]), requires_grad=True)
    x.min().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 1])


@requires_torch
def test_max_ties_match_torch_amax():
    x = np.array([[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    a, t = dc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (a.max(axis=1) * dc.tensor([1.0, 2.0])).sum().backward()
    (torch.amax(t, dim=1) * torch.tensor([1.0, 2.0])).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy())


def test_reductions_of_empty():
    x = dc.zeros(0, 3)
    np.testing.assert_array_equal(x.sum(axis=0).numpy(), np.zeros(3))
    assert x.sum().item() == 0.0
    assert np.all(np.isnan(x.mean(axis=0).numpy()))
    np.testing.assert_array_equal(x.mean(axis=1).numpy(), np.zeros((0,)))
    with pytest.raises(ValueError, match="empty"):
        x.max()
    with pytest.raises(ValueError, match="empty"):
        x.argmax()


def test_reduction_bad_axis():
    x = dc.ones(2, 3)
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor of dimension 2"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="axis -3"):
        x.mean(axis=-3)
    with pytest.raises(ValueError, match="duplicate"):
        x.max(axis=(0, -2))
    with pytest.raises(TypeError, match="axis must be an int"):
        x.sum(axis=1.0)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_argmin(axis, keepdims):
    x = np.array([[1.0, 5.0, 5.0, 0.0], [7.0, -1.0, 2.0, 7.0], [0.0, 0.0, 0.0, 0.0]])
    t = dc.tensor(x)
    for name in ("argmax", "argmin"):
        got = getattr(t, name)(axis=axis, keepdims=keepdims)
        assert got.dtype == np.int64 and not got.requires_grad
        np.testing.assert_array_equal(
            got.numpy(), getattr(np, name)(x, axis=axis, keepdims=keepdims)
        )


# ------------------------------------------------------------------------------ comparisons
CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
       "==": operator.eq, "!=": operator.ne}  # fmt: skip


@pytest.mark.parametrize("op", sorted(CMP))
def test_comparisons(op):
    f = CMP[op]
    rng = np.random.default_rng(3)
    a = rng.integers(0, 3, size=(3, 4)).astype(np.float32)
    b = rng.integers(0, 3, size=(4,)).astype(np.float32)
    ta = dc.tensor(a, requires_grad=True)
    for other, ref_other in ((dc.tensor(b), b), (1.0, 1.0), (b, b)):
        got = f(ta, other)
        assert isinstance(got, dc.Tensor) and got.dtype == np.bool_ and not got.requires_grad
        np.testing.assert_array_equal(got.numpy(), f(a, ref_other))
    # reflected: scalar on the left
    np.testing.assert_array_equal(f(1.0, ta).numpy(), f(1.0, a))


def test_tensor_stays_hashable():
    a = dc.ones(2)
    assert len({a, dc.ones(2)}) == 2 and {a: 1}[a] == 1


# ------------------------------------------------------------------------------ shape ops
SHAPE_OPS = [
    ("reshape", (2, 3, 4), lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6)),
    ("reshape-1", (2, 3, 4), lambda x: x.reshape((-1, 4)), lambda x: x.reshape(-1, 4)),
    ("reshape0d", (), lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1)),
    ("reshape_empty", (0, 3), lambda x: x.reshape(3, 0), lambda x: x.reshape(3, 0)),
    ("view", (3, 4), lambda x: x.view(2, 6), lambda x: x.reshape(2, 6)),
    ("flatten", (2, 3, 4), lambda x: x.flatten(), lambda x: x.reshape(-1)),
    ("flatten1", (2, 3, 4), lambda x: x.flatten(1), lambda x: x.reshape(2, -1)),
    ("flatten_mid", (2, 3, 4, 5), lambda x: dc.flatten(x, 1, 2), lambda x: x.reshape(2, 12, 5)),
    ("squeeze", (1, 3, 1, 2), lambda x: x.squeeze(), lambda x: x.squeeze()),
    ("squeeze_ax", (1, 3, 1, 2), lambda x: x.squeeze(2), lambda x: x.squeeze(2)),
    ("unsqueeze", (3, 2), lambda x: x.unsqueeze(1), lambda x: np.expand_dims(x, 1)),
    ("unsqueeze-1", (3, 2), lambda x: x.unsqueeze(-1), lambda x: np.expand_dims(x, -1)),
    ("expand", (3, 1), lambda x: x.expand(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4))),
    ("expand-1", (3, 1), lambda x: x.expand(-1, 5), lambda x: np.broadcast_to(x, (3, 5))),
    (
        "broadcast_to",
        (1, 4),
        lambda x: dc.broadcast_to(x, (3, 4)),
        lambda x: np.broadcast_to(x, (3, 4)),
    ),
    ("T", (3, 4), lambda x: x.T, lambda x: x.T),
    ("T3", (2, 3, 4), lambda x: x.T, lambda x: x.T),
    ("mT", (2, 3, 4), lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2)),
    ("transpose_np", (2, 3, 4), lambda x: x.transpose(1, 2, 0), lambda x: x.transpose(1, 2, 0)),
    ("transpose_swap", (2, 3, 4), lambda x: x.transpose(0, 2), lambda x: np.swapaxes(x, 0, 2)),
    ("transpose2d", (2, 3), lambda x: x.transpose(1, 0), lambda x: x.T),
    ("permute", (2, 3, 4, 5), lambda x: x.permute(3, 1, 0, 2), lambda x: x.transpose(3, 1, 0, 2)),
    (
        "permute5d",
        (1, 2, 3, 2, 1),
        lambda x: x.permute((4, 0, 3, 2, 1)),
        lambda x: x.transpose(4, 0, 3, 2, 1),
    ),
    ("swapaxes", (2, 3, 4), lambda x: x.swapaxes(0, -1), lambda x: np.swapaxes(x, 0, -1)),
]


@pytest.mark.parametrize("name,shape,f,ref", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops(name, shape, f, ref):
    check_op(f, ref, [shape])


@requires_torch
def test_shape_ops_torch():
    check_op(
        lambda x: x.permute(2, 0, 1).reshape(4, 6),
        lambda x: x.transpose(2, 0, 1).reshape(4, 6),
        [(2, 3, 4)],
        torch_fn=lambda x: x.permute(2, 0, 1).reshape(4, 6),
    )
    check_op(
        lambda x: x.expand(2, 3, 4).transpose(0, 2),
        lambda x: np.swapaxes(np.broadcast_to(x, (2, 3, 4)), 0, 2),
        [(3, 1)],
        torch_fn=lambda x: x.expand(2, 3, 4).transpose(0, 2),
    )


def test_view_shares_memory_and_refuses_copies():
    x = dc.zeros(3, 4)
    v = x.view(12)
    v[5] = 7.0
    assert x.numpy()[1, 1] == 7.0
    assert np.shares_memory(x.T.numpy(), x.numpy())
    with pytest.raises(RuntimeError, match="view"):
        x.T.view(12)
    np.testing.assert_array_equal(x.T.reshape(12).numpy(), x.numpy().T.reshape(12))


def test_shape_bad_inputs():
    x = dc.ones(2, 3)
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\) into \(4,"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="at most one -1"):
        x.reshape(-1, -1)
    with pytest.raises(ValueError, match="squeeze: axis 1 has size 3"):
        x.squeeze(1)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        x.expand(4, 3, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="2 axes given"):
        dc.ones(2, 3, 4).permute(0, 1)
    with pytest.raises(TypeError, match="shape entries must be ints"):
        x.reshape(2.0, 3)


# ------------------------------------------------------------------------------ indexing
INDEXES = [
    ("int", (5, 3), 2),
    ("neg", (5, 3), -1),
    ("slice", (5, 3), slice(1, 4)),
    ("step", (7, 3), slice(None, None, 2)),
    ("negstep", (7, 3), slice(None, None, -3)),
    ("tuple", (4, 5), (slice(1, 3), -2)),
    ("none", (4, 5), (None, slice(None), 1)),
    ("ellipsis", (2, 3, 4), (Ellipsis, 1)),
    ("ellipsis2", (2, 3, 4), (0, Ellipsis, None)),
    ("intarr", (5, 3), np.array([0, 2, 2, 4, 0])),
    ("intlist", (5, 3), [1, 1, 3]),
    ("intarr2d", (5, 3), (np.array([[0, 1], [4, 4]]), np.array([[2, 2], [0, 0]]))),
    ("mixed", (4, 5, 3), (slice(None), np.array([1, 1, 3]), 0)),
    ("bool", (4, 3), np.array([True, False, True, True])),
    ("bool2d", (2, 3), np.array([[True, False, True], [False, False, True]])),
    ("empty_sel", (4, 3), slice(2, 2)),
    ("empty_arr", (4, 3), np.array([], dtype=np.int64)),
    ("0d", (), ()),
    ("5d", (2, 1, 3, 1, 2), (1, 0, slice(None, None, -1), Ellipsis)),
]


@pytest.mark.parametrize("name,shape,idx", INDEXES, ids=[i[0] for i in INDEXES])
def test_getitem(name, shape, idx):
    def torch_fn(x):
        ti = (
            tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in idx)
            if isinstance(idx, tuple)
            else (torch.tensor(idx) if isinstance(idx, (np.ndarray, list)) else idx)
        )
        return x[ti]

    torch_ok = name not in ("negstep", "5d", "0d")  # torch has no negative steps
    check_op(
        lambda x: x[idx], lambda x: x[idx], [shape], torch_fn=_t(torch_fn) if torch_ok else None
    )


def test_getitem_with_tensor_index_and_scatter_add():
    x = dc.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    i = dc.tensor(np.array([2, 0, 2]))
    y = x[i]
    np.testing.assert_array_equal(y.detach().numpy(), [[4, 5], [0, 1], [4, 5]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1], [0, 0], [2, 2]])
    m = x.detach() > 2.0
    np.testing.assert_array_equal(x.detach()[m].numpy(), [3, 4, 5])


def test_getitem_bad_index():
    x = dc.ones(3, 2)
    with pytest.raises(IndexError):
        x[3]
    with pytest.raises(IndexError, match="integer or bool"):
        x[dc.ones(2)]


def test_setitem():
    x = dc.zeros(3, 4)
    x[1] = 2.0
    x[:, 0] = dc.tensor([1.0, 2.0, 3.0])
    x[x > 2.5] = -1.0
    ref = np.zeros((3, 4), np.float32)
    ref[1] = 2.0
    ref[:, 0] = [1, 2, 3]
    ref[ref > 2.5] = -1
    np.testing.assert_array_equal(x.numpy(), ref)
    w = dc.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w[0] = 5.0
    with dc.no_grad():
        w[0] = 5.0
    assert w.numpy()[0] == 5.0
    with pytest.raises(RuntimeError, match="requires grad"):
        x[0, :3] = w


# ------------------------------------------------------------------------------ joining
@pytest.mark.parametrize("axis", [0, -1])
def test_concat(axis):
    if axis == 0:
        sel = [
            ((2, 3), (4, 3)),
            ((3,), (1,)),
            ((1, 3, 2), (2, 3, 2)),
            ((0, 2), (3, 2)),
            ((1,), (1,)),
        ]
    else:
        sel = [((2, 3), (2, 5)), ((2, 3, 1), (2, 3, 2)), ((4,), (2,))]
    check_op(
        lambda a, b: dc.concat([a, b], axis=axis),
        lambda a, b: np.concatenate([a, b], axis=axis),
        sel,
        torch_fn=_t(lambda a, b: torch.cat([a, b], dim=axis)),
    )
    check_op(
        lambda a, b, c: dc.concatenate((a, b, c), 1),
        lambda a, b, c: np.concatenate((a, b, c), 1),
        [((2, 1), (2, 3), (2, 2))],
    )


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack(axis):
    check_op(
        lambda a, b: dc.stack([a, b], axis=axis),
        lambda a, b: np.stack([a, b], axis=axis),
        [((2, 3), (2, 3)), ((4,), (4,)), ((1, 2, 3), (1, 2, 3))],
        torch_fn=_t(lambda a, b: torch.stack([a, b], dim=axis)),
    )
    check_op(
        lambda a, b: dc.stack([a, b]), lambda a, b: np.stack([a, b]), [((), ()), ((0, 2), (0, 2))]
    )


def test_split():
    check_op(
        lambda x: dc.split(x, 3, axis=1),
        lambda x: tuple(np.split(x, 3, axis=1)),
        [(2, 6), (1, 3, 2)],
    )
    check_op(lambda x: dc.split(x, [1, 3]), lambda x: tuple(np.split(x, [1, 3])), [(5, 2), (3,)])
    # an unused output gets a zero gradient
    x = dc.tensor(np.arange(4.0), requires_grad=True)
    a, b = dc.split(x, 2)
    (b * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 3, 3])


def test_join_bad_inputs():
    with pytest.raises(ValueError, match="tensor 1 has shape"):
        dc.concat([dc.ones(2, 3), dc.ones(2, 4)])
    with pytest.raises(ValueError, match="stack: tensor 1"):
        dc.stack([dc.ones(2), dc.ones(3)])
    with pytest.raises(ValueError, match="at least one"):
        dc.concat([])
    with pytest.raises(TypeError, match="sequence of tensors"):
        dc.concat(dc.ones(3))
    with pytest.raises(ValueError, match="equal parts"):
        dc.split(dc.ones(5), 2)
    with pytest.raises(ValueError, match="out of range"):
        dc.concat([dc.ones(2), dc.ones(2)], axis=1)


# ------------------------------------------------------------------------------ where / cast
def test_where():
    def inputs(case, rng):
        return [rng.uniform(-1, 1, size=s) for s in case]

    cond_of = lambda a: a > 0  # noqa: E731
    check_op(
        lambda a, b: dc.where(cond_of(a.detach()), a, b),
        lambda a, b: np.where(a > 0, a, b),
        BINARY_SHAPES,
        torch_fn=_t(lambda a, b: torch.where(a.detach() > 0, a, b)),
        make_inputs=inputs,
    )
    check_op(lambda a: dc.where(a > 0, a, 0.0), lambda a: np.where(a > 0, a, 0.0), UNARY_SHAPES)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        dc.where(dc.ones(3) > 0, dc.ones(2), 0.0)


def test_cast():
    check_op(lambda x: x.double() * 2, lambda x: x * 2, [(3, 2)], dtypes=(np.float64,))
    x = dc.ones(3, requires_grad=True)
    y = x.to(dtype="float64")
    assert y.dtype == np.float64 and y.requires_grad
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])
    assert x.to(np.float64).dtype == np.float64
    assert x.astype("float32") is x
    i = x.long()
    assert i.dtype == np.int64 and not i.requires_grad
    assert dc.tensor([1.7]).astype(np.int32).numpy()[0] == 1
    assert x.detach().double().float().dtype == np.float32
    with pytest.raises(TypeError, match="unsupported dtype"):
        x.astype("complex64")


# ------------------------------------------------------------------------------ creation
def test_creation():
    assert dc.zeros(2, 3).shape == (2, 3) and dc.zeros((2, 3)).dtype == np.float32
    assert dc.ones([4], dtype="float64").dtype == np.float64
    assert dc.zeros(3, requires_grad=True).requires_grad
    np.testing.assert_array_equal(dc.full((2, 2), 7).numpy(), np.full((2, 2), 7.0))
    assert dc.full(3, 1.5).shape == (3,) and dc.full(3, 1.5).dtype == np.float32
    x = dc.ones(2, 3, dtype="float64")
    assert (
        dc.zeros_like(x).dtype == np.float64
        and dc.ones_like(x, dtype="float32").dtype == np.float32
    )
    np.testing.assert_array_equal(dc.full_like(x, 3).numpy(), np.full((2, 3), 3.0))
    assert dc.arange(5).dtype == np.int64
    np.testing.assert_allclose(dc.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert dc.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_array_equal(dc.eye(3, 2).numpy(), np.eye(3, 2))
    assert dc.empty(0, 4).shape == (0, 4)
    assert dc.zeros(()).shape == ()
    with pytest.raises(ValueError):
        dc.zeros(-1)
    with pytest.raises(TypeError, match="float32 or float64"):
        dc.randn(2, dtype="int64")
    with pytest.raises(ValueError, match="step"):
        dc.arange(0, 3, 0)


def test_random_creation_reproducible():
    dc.manual_seed(123)
    a, b, c = dc.randn(3, 4), dc.rand(5, dtype="float64"), dc.randint(0, 10, size=(6,))
    dc.manual_seed(123)
    np.testing.assert_array_equal(a.numpy(), dc.randn(3, 4).numpy())
    np.testing.assert_array_equal(b.numpy(), dc.rand(5, dtype="float64").numpy())
    np.testing.assert_array_equal(c.numpy(), dc.randint(0, 10, size=(6,)).numpy())
    assert a.dtype == np.float32 and b.dtype == np.float64 and c.dtype == np.int64
    assert np.all((b.numpy() >= 0) & (b.numpy() < 1))
    assert not np.array_equal(dc.randn(3, 4).numpy(), a.numpy())
    assert dc.randn(2, requires_grad=True).requires_grad


# ------------------------------------------------------------------------------ in place
def test_inplace_ops():
    x = dc.ones(3)
    data = x.data
    x += 1
    x *= dc.tensor([1.0, 2.0, 3.0])
    x -= 0.5
    x /= 2
    assert x.data is data and x.dtype == np.float32
    np.testing.assert_allclose(x.numpy(), (np.array([2, 4, 6]) - 0.5) / 2)
    w = dc.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w += 1
    with dc.no_grad():
        w -= 0.5  # an optimizer step
    np.testing.assert_array_equal(w.numpy(), [0.5] * 3)
    # a non-leaf in a graph: rebinding out of place keeps the gradient right
    h = w * 2
    h += w
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3, 3, 3])


# ------------------------------------------------------------------------------ activations
ACTS = [
    ("relu", lambda x: np.maximum(x, 0)),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", np.tanh),
]


@pytest.mark.parametrize("name,ref", ACTS, ids=[a[0] for a in ACTS])
def test_activation_methods_delegate(name, ref):
    check_op(lambda x: getattr(x, name)(), ref, [(3, 4), (5,)], grad=False)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_methods_delegate(name):
    def ref(x):
        e = np.exp(x - x.max(axis=0, keepdims=True))
        s = e / e.sum(axis=0, keepdims=True)
        return s if name == "softmax" else np.log(s)

    check_op(lambda x: getattr(x, name)(axis=0), ref, [(3, 4)], grad=False)


def test_matmul_irregular_strides():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 2))
    bcast = np.broadcast_to(rng.standard_normal((1, 5, 2)), (3, 5, 2))  # zero batch stride
    for a, b in ((x[::-1], y), (x[::-1, ::2], y), (x[:, :, ::-1], y), (x, bcast),
                 (x.transpose(1, 0, 2), y), (x[0].T, x[1])):  # fmt: skip
        got = dc.from_numpy(a) @ dc.from_numpy(b)
        np.testing.assert_allclose(got.numpy(), a @ b, rtol=1e-12, atol=1e-12)


def test_clone():
    check_op(lambda x: x.clone() * 2, lambda x: x * 2, [(2, 3), ()])
    x = dc.ones(3)
    c = x.clone()
    c += 1
    assert x.numpy()[0] == 1.0


def test_logical_ops_on_masks():
    x = dc.tensor([-1.0, 0.5, 2.0])
    a, b = x > 0, x < 1
    np.testing.assert_array_equal((a & b).numpy(), [False, True, False])
    np.testing.assert_array_equal((a | b).numpy(), [True, True, True])
    np.testing.assert_array_equal((a ^ b).numpy(), [True, False, True])
    np.testing.assert_array_equal((~a).numpy(), [True, False, False])
    np.testing.assert_array_equal((True & a).numpy(), a.numpy())
    with pytest.raises(TypeError):
        x & x  # float tensors have no bitwise and
