"""Element-wise math (deepcore/ops/_math.py): every function against a float64 NumPy reference
over many shapes, float64 gradient checks, PyTorch parity; integer division semantics, shifts,
predicates and bad inputs."""

from __future__ import annotations

import math

import deepcore as dc
import numpy as np
import pytest
from helpers import BINARY_SHAPES, HAS_TORCH, UNARY_SHAPES, check_op, gradcheck, requires_torch

if HAS_TORCH:
    import torch

_erf = np.vectorize(math.erf, otypes=[np.float64])


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _erfinv_ref(y):
    # bisection on math.erf (on math.erfc in the tails, where 1 - |y| is exact): an
    # independent float64 reference (slow, small inputs only)
    a = np.abs(y)
    lo, hi = np.zeros(y.shape), np.full(y.shape, 7.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        below = np.where(a > 0.5, _erfc(mid) > 1 - a, _erf(mid) < a)
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.sign(y) * (lo + hi) / 2


def _t(name):
    return (lambda x: getattr(torch, name)(x)) if HAS_TORCH else None


# name -> (deepcore function, float64 reference, derivative, torch name, input range)
UNARY = {
    "sin": (dc.sin, np.sin, np.cos, "sin", (-3, 3)),
    "cos": (dc.cos, np.cos, lambda x: -np.sin(x), "cos", (-3, 3)),
    "tan": (dc.tan, np.tan, lambda x: 1 / np.cos(x) ** 2, "tan", (-1.2, 1.2)),
    "asin": (dc.asin, np.arcsin, lambda x: 1 / np.sqrt(1 - x * x), "asin", (-0.9, 0.9)),
    "acos": (dc.acos, np.arccos, lambda x: -1 / np.sqrt(1 - x * x), "acos", (-0.9, 0.9)),
    "atan": (dc.atan, np.arctan, lambda x: 1 / (1 + x * x), "atan", (-3, 3)),
    "arcsin": (dc.arcsin, np.arcsin, lambda x: 1 / np.sqrt(1 - x * x), "arcsin", (-0.9, 0.9)),
    "arccos": (dc.arccos, np.arccos, lambda x: -1 / np.sqrt(1 - x * x), "arccos", (-0.9, 0.9)),
    "arctan": (dc.arctan, np.arctan, lambda x: 1 / (1 + x * x), "arctan", (-3, 3)),
    "sinh": (dc.sinh, np.sinh, np.cosh, "sinh", (-3, 3)),
    "cosh": (dc.cosh, np.cosh, np.sinh, "cosh", (-3, 3)),
    "asinh": (dc.asinh, np.arcsinh, lambda x: 1 / np.sqrt(x * x + 1), "asinh", (-3, 3)),
    "acosh": (dc.acosh, np.arccosh, lambda x: 1 / np.sqrt(x * x - 1), "acosh", (1.1, 4)),
    "atanh": (dc.atanh, np.arctanh, lambda x: 1 / (1 - x * x), "atanh", (-0.9, 0.9)),
    "log2": (dc.log2, np.log2, lambda x: 1 / (x * math.log(2)), "log2", (0.1, 4)),
    "log10": (dc.log10, np.log10, lambda x: 1 / (x * math.log(10)), "log10", (0.1, 4)),
    "log1p": (dc.log1p, np.log1p, lambda x: 1 / (1 + x), "log1p", (-0.9, 3)),
    "expm1": (dc.expm1, np.expm1, np.exp, "expm1", (-3, 3)),
    "exp2": (dc.exp2, np.exp2, lambda x: np.exp2(x) * math.log(2), "exp2", (-3, 3)),
    "erf": (dc.erf, _erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x), "erf", (-4, 4)),
    "square": (dc.square, np.square, lambda x: 2 * x, "square", (-3, 3)),
    "reciprocal": (dc.reciprocal, np.reciprocal, lambda x: -1 / x**2, "reciprocal", (0.5, 3)),
    "rsqrt": (dc.rsqrt, lambda x: 1 / np.sqrt(x), lambda x: -0.5 * x**-1.5, "rsqrt", (0.5, 3)),
    "method_sin": (lambda x: x.sin(), np.sin, np.cos, "sin", (-3, 3)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math(name):
    f, ref, d, tname, (lo, hi) = UNARY[name]
    check_op(
        f,
        ref,
        UNARY_SHAPES,
        torch_fn=_t(tname),
        low=lo,
        high=hi,
        np_vjp=lambda x, g: (g * d(x),),
    )


def test_erf_accuracy_over_its_range():
    # series / continued-fraction seam at 3, tails, tiny arguments, signed zeros, nan
    x = np.concatenate(
        [np.linspace(-7, 7, 2001), [2.999999, 3.0, 3.000001, 1e-300, -1e-12, 0.0, 30, -30]]
    )
    got = dc.erf(dc.tensor(x)).numpy()
    np.testing.assert_allclose(got, _erf(x), rtol=4e-15, atol=1e-300)
    assert np.isnan(dc.erf(dc.tensor([np.nan])).numpy()[0])
    assert dc.erf(dc.tensor([np.inf, -np.inf], dtype="float64")).tolist() == [1.0, -1.0]


def test_erfinv():
    y = np.concatenate([np.linspace(-0.999, 0.999, 201), [0.0, 1e-10, -0.5, 0.9999999999]])
    got = dc.erfinv(dc.tensor(y)).numpy()
    np.testing.assert_allclose(got, _erfinv_ref(y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(_erf(got), y, rtol=1e-14, atol=1e-15)  # round trip
    assert got[-1] == pytest.approx(4.57282495854492, rel=1e-14)  # mpmath's erfinv
    edge = dc.erfinv(dc.tensor([1.0, -1.0, 1.5, np.nan], dtype="float64")).numpy()
    assert edge[0] == np.inf and edge[1] == -np.inf and np.isnan(edge[2]) and np.isnan(edge[3])
    check_op(
        dc.erfinv,
        _erfinv_ref,
        [(3,), (2, 3), (), (0,)],
        torch_fn=_t("erfinv"),
        low=-0.95,
        high=0.95,
        np_vjp=lambda x, g: (g * math.sqrt(math.pi) / 2 * np.exp(_erfinv_ref(x) ** 2),),
    )


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "sign", "round"])
def test_rounding_has_zero_gradient(name):
    f, ref = getattr(dc, name), {"trunc": np.trunc, "round": np.round}.get(name)
    ref = ref or getattr(np, name)

    def inputs(case, rng):  # away from the jumps, so finite differences see a flat function
        return [np.round(rng.uniform(-4, 4, size=s)) + rng.uniform(0.1, 0.4, size=s) for s in case]

    check_op(
        f, ref, UNARY_SHAPES, torch_fn=_t(name), make_inputs=inputs, np_vjp=lambda x, g: (0 * g,)
    )
    x = dc.tensor([-2.5, -0.5, 0.5, 1.5, 2.5], dtype="float64")
    if name == "round":  # half to even (NumPy and PyTorch)
        assert dc.round(x).tolist() == [-2.0, -0.0, 0.0, 2.0, 2.0]
        np.testing.assert_allclose(dc.round(dc.tensor([1.234, 5.678]), 2).numpy(), [1.23, 5.68])


def test_rounding_keeps_integers():
    i = dc.tensor(np.array([-3, 0, 5]))
    for name in ("floor", "ceil", "trunc", "round"):
        out = getattr(dc, name)(i)
        assert out.dtype == np.int64 and out.tolist() == [-3, 0, 5]
    assert dc.sign(i).tolist() == [-1, 0, 1] and dc.sign(i).dtype == np.int64
    assert dc.sin(i).dtype == np.float32  # float functions compute integers in float32


def test_domain_errors_give_nan_like_torch():
    x = dc.tensor([-1.0, 2.0], dtype="float64")
    assert np.isnan(dc.log2(x).numpy()[0]) and np.isnan(dc.asin(x).numpy()[1])
    assert dc.log10(dc.tensor([0.0])).numpy()[0] == -np.inf


# ------------------------------------------------------------------------------ binary
def _nonzero_pair(case, rng):
    return [rng.uniform(0.3, 2, size=s) * rng.choice([-1, 1], size=s) for s in case]


def test_atan2():
    def vjp(a, b, g):
        r = g / (a * a + b * b)
        return _sum_to(r * b, a.shape), _sum_to(-r * a, b.shape)

    check_op(
        dc.atan2,
        np.arctan2,
        BINARY_SHAPES,
        torch_fn=(lambda a, b: torch.atan2(a, b)) if HAS_TORCH else None,
        make_inputs=_nonzero_pair,
        np_vjp=vjp,
    )
    assert dc.arctan2 is dc.atan2


def _sum_to(g, shape):
    while g.ndim > len(shape):
        g = g.sum(0)
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


def test_logaddexp():
    def vjp(a, b, g):
        y = np.logaddexp(a, b)
        return _sum_to(g * np.exp(a - y), a.shape), _sum_to(g * np.exp(b - y), b.shape)

    check_op(
        dc.logaddexp,
        np.logaddexp,
        BINARY_SHAPES,
        torch_fn=(lambda a, b: torch.logaddexp(a, b)) if HAS_TORCH else None,
        np_vjp=vjp,
    )
    big = dc.logaddexp(dc.tensor([1000.0, -np.inf]), dc.tensor([1000.0, -np.inf]))
    np.testing.assert_allclose(big.numpy()[0], 1000 + math.log(2), rtol=1e-6)
    assert big.numpy()[1] == -np.inf


def test_lerp():
    check_op(
        lambda a, b, w: dc.lerp(a, b, w),
        lambda a, b, w: a + w * (b - a),
        [((3,), (3,), (3,)), ((2, 3), (3,), ()), ((), (), ()), ((0, 2), (2,), (1,))],
        torch_fn=(lambda a, b, w: torch.lerp(a, b, w)) if HAS_TORCH else None,
    )
    check_op(lambda a, b: a.lerp(b, 0.25), lambda a, b: a + 0.25 * (b - a), [((4,), (4,))])


# ------------------------------------------------------------------------------ integer ops
INTS = np.array([-7, -6, -1, 0, 1, 5, 6, 7, 2**40 + 3, -(2**40) - 3], dtype=np.int64)
DIVS = np.array([3, -3, 2, -2, 7, -7, 1, -1, 5, 4], dtype=np.int64)


def test_integer_floor_div_and_remainder_follow_python():
    a, b = dc.tensor(INTS), dc.tensor(DIVS)
    q, r = a // b, a % b
    assert q.dtype == np.int64 and r.dtype == np.int64
    assert q.tolist() == [int(x) // int(y) for x, y in zip(INTS, DIVS)]
    assert r.tolist() == [int(x) % int(y) for x, y in zip(INTS, DIVS)]
    assert (a // 2).tolist() == [int(x) // 2 for x in INTS]
    assert (7 // dc.tensor(DIVS)).tolist() == [7 // int(y) for y in DIVS]
    assert (-7 % dc.tensor(DIVS)).tolist() == [-7 % int(y) for y in DIVS]


def test_integer_fmod_and_trunc_div_follow_c():
    a, b = dc.tensor(INTS), dc.tensor(DIVS)
    want_q = [int(math.copysign(abs(int(x)) // abs(int(y)), int(x) * int(y))) for x, y in
              zip(INTS, DIVS)]  # fmt: skip
    got_q = dc.div(a, b, rounding_mode="trunc")
    assert got_q.dtype == np.int64 and got_q.tolist() == want_q  # exact, never through float
    assert dc.fmod(a, b).tolist() == [int(x) - int(y) * q for x, y, q in zip(INTS, DIVS, want_q)]
    assert dc.div(a, b, rounding_mode="floor").tolist() == (a // b).tolist()
    assert dc.div(a, b).dtype == np.float32


@requires_torch
def test_integer_ops_match_torch():
    a, b = torch.tensor(INTS), torch.tensor(DIVS)
    da, db = dc.tensor(INTS), dc.tensor(DIVS)
    assert (da // db).tolist() == (a // b).tolist()
    assert (da % db).tolist() == (a % b).tolist()
    assert dc.fmod(da, db).tolist() == torch.fmod(a, b).tolist()
    for mode in ("trunc", "floor"):
        assert (
            dc.div(da, db, rounding_mode=mode).tolist()
            == torch.div(a, b, rounding_mode=mode).tolist()
        )
    x, y = np.array([-7.5, 7.5, -0.5, 3.0]), np.array([2.0, -2.0, 0.3, -1.5])
    for f, tf in ((dc.remainder, torch.remainder), (dc.fmod, torch.fmod),
                  (dc.floor_divide, torch.floor_divide)):  # fmt: skip
        np.testing.assert_allclose(
            f(dc.tensor(x), dc.tensor(y)).numpy(), tf(torch.tensor(x), torch.tensor(y)).numpy()
        )


def test_integer_division_by_zero_raises():
    a = dc.tensor(np.array([1, 2]))
    for f in (lambda: a // 0, lambda: a % dc.tensor(np.array([1, 0])), lambda: dc.fmod(a, 0),
              lambda: dc.div(a, 0, rounding_mode="trunc")):  # fmt: skip
        with pytest.raises(ZeroDivisionError, match="integer division by zero"):
            f()
    x = dc.tensor([1.0, -1.0])  # floats follow IEEE, as PyTorch
    assert (x // 0.0).tolist() == [np.inf, -np.inf]
    assert np.isnan((x % 0.0).numpy()).all()


def test_remainder_and_fmod_gradients():
    def inputs(case, rng):  # quotients a / b away from integers: smooth there
        b = rng.uniform(0.7, 1.3, size=case[1]) * rng.choice([-1, 1], size=case[1])
        k = rng.integers(-4, 4, size=case[0]) + rng.uniform(0.2, 0.8, size=case[0])
        return [np.broadcast_to(b, case[0]) * k, b]

    shapes = [((5,), (5,)), ((2, 3), (3,)), ((), ())]
    for f, q in ((dc.remainder, np.floor), (dc.fmod, np.trunc)):

        def vjp(a, b, g, q=q):
            return g, _sum_to(-g * q(a / b), b.shape)

        ref = np.remainder if f is dc.remainder else np.fmod
        check_op(f, ref, shapes, make_inputs=inputs, np_vjp=vjp)
    x = dc.tensor([2.5, -1.5], requires_grad=True)
    (x // 2.0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


def test_shifts_follow_torch():
    a = dc.tensor(np.array([1, -8, 3, 5, -1], dtype=np.int64))
    s = dc.tensor(np.array([0, 1, 63, 64, 70], dtype=np.int64))
    assert (a << 2).tolist() == [4, -32, 12, 20, -4]
    assert (a >> 1).tolist() == [0, -4, 1, 2, -1]
    assert (a << s).tolist() == [1, -16, -(2**63), 0, 0]
    assert (a >> s).tolist() == [1, -4, 0, 0, -1]
    assert (1 << dc.tensor(np.array([3]))).tolist() == [8]
    i32 = dc.tensor(np.array([1], dtype=np.int32))
    assert (i32 << 32).tolist() == [0] and (i32 << 32).dtype == np.int32
    with pytest.raises(TypeError, match="integer"):
        dc.tensor([1.0]) << 1


# ------------------------------------------------------------------------------ predicates
def test_predicates_and_isclose():
    x = dc.tensor([1.0, np.nan, np.inf, -np.inf, 0.0])
    assert dc.isnan(x).tolist() == [False, True, False, False, False]
    assert dc.isinf(x).tolist() == [False, False, True, True, False]
    assert dc.isfinite(x).tolist() == [True, False, False, False, True]
    a = dc.tensor([1.0, 1.0, np.nan, np.inf], dtype="float64")
    b = dc.tensor([1.0 + 1e-6, 1.1, np.nan, np.inf], dtype="float64")
    assert dc.isclose(a, b).tolist() == [True, False, False, True]
    assert dc.isclose(a, b, equal_nan=True).tolist() == [True, False, True, True]
    assert dc.allclose(a[:1], b[:1]) is True and dc.allclose(a, b) is False
    assert a.isclose(b, rtol=0.2).tolist() == [True, True, False, True]
    with pytest.raises(ValueError, match="non-negative"):
        dc.isclose(a, b, rtol=-1)
    if HAS_TORCH:
        ta, tb = torch.tensor(a.numpy()), torch.tensor(b.numpy())
        assert dc.isclose(a, b).tolist() == torch.isclose(ta, tb).tolist()


def test_comparison_and_logical_functions():
    a, b = dc.tensor([1.0, 2.0, 3.0]), dc.tensor([2.0, 2.0, 2.0])
    assert dc.equal(a, b).tolist() == [False, True, False]
    assert dc.not_equal(a, 2.0).tolist() == [True, False, True]
    assert dc.greater(a, b).tolist() == [False, False, True]
    assert dc.greater_equal(a, b).tolist() == [False, True, True]
    assert dc.less(a, b).tolist() == [True, False, False]
    assert dc.less_equal(a, b).tolist() == [True, True, False]
    assert a.gt(b).tolist() == [False, False, True] and a.eq(b).dtype == np.bool_
    p, q = a > 1.5, a < 2.5
    assert dc.logical_and(p, q).tolist() == [False, True, False]
    assert dc.logical_or(p, q).tolist() == [True, True, True]
    assert dc.logical_xor(p, q).tolist() == [True, False, True]
    assert dc.logical_not(p).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="cannot be broadcast"):
        dc.equal(dc.ones(2), dc.ones(3))


def test_math_bad_inputs():
    with pytest.raises(TypeError, match="sin: expected a Tensor"):
        dc.sin(object())
    with pytest.raises(TypeError, match="decimals must be an int"):
        dc.round(dc.ones(2), 1.5)
    with pytest.raises(ValueError, match="rounding_mode"):
        dc.div(dc.ones(2), 2, rounding_mode="ceil")
    with pytest.raises(ValueError, match="cannot be broadcast"):
        dc.atan2(dc.ones(2), dc.ones(3))
    with pytest.raises(TypeError, match="unsupported operands"):
        dc.logaddexp(dc.ones(2), "a")


def test_gradcheck_composites_of_new_math():
    x = np.random.default_rng(0).uniform(0.2, 0.8, size=(3, 4))
    gradcheck(lambda t: (dc.sin(t) * dc.log1p(t) + dc.erf(t) * dc.atan(t)).sum(axis=1), [x])
