"""Element-wise math beyond arithmetic: trigonometric and hyperbolic functions and their
inverses, exp/log variants, erf/erfinv, rounding, sign; binary atan2/logaddexp/lerp; integer
division and remainders with PyTorch's semantics; predicates (isnan, isclose, ...),
comparisons and logical ops as functions.

Every differentiable unary function is one row of ``_UNARY`` (its value and its derivative
from x and y = f(x)) run by one Function, ``_Map``; rounding-like functions (floor, ceil,
trunc, round, sign) have a zero gradient almost everywhere and give exactly 0, as PyTorch.
Integer inputs to a float function (sin of an int64 tensor) are computed in float32.

[Note: integer division] ``//`` (``floor_divide``) rounds toward -inf, ``%`` (``remainder``)
takes the sign of the divisor (Python's and PyTorch's rules), ``fmod`` the sign of the
dividend; ``div(a, b, rounding_mode=None | "trunc" | "floor")`` is true division or
division rounded toward 0 / -inf. On integer tensors the results are exact integers (never
through float), and an integer division or remainder by zero raises ``ZeroDivisionError``
(PyTorch raises a RuntimeError saying ZeroDivisionError; NumPy silently gives 0). On float
tensors x // 0 and x % 0 follow IEEE (inf / nan) as in PyTorch. Gradients: remainder and
fmod pass g to a and -g·floor(a/b) (-g·trunc(a/b)) to b; the rounded divisions have zero
gradient.

[Note: erf in NumPy] NumPy has no erf and deepcore takes no SciPy dependency, so ``erf`` is
evaluated here in float64 (then rounded to the input's dtype): for |x| < 3 the series
erf(x) = 2x/√π · e^(-x²) · Σ (2x²)^n / (2n+1)!! (all terms positive: no cancellation), for
|x| >= 3 1 - erfc(x) with erfc from its continued fraction; both to about 1e-15 relative.
``erfinv`` refines a closed-form first guess (Winitzki's, ~2e-3) with three Halley steps on
erf (on erfc in the tails, where 1 - p is exact), which gives float64 accuracy.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..autograd import Context, Function
from ..tensor import Tensor, tensor
from ._common import Array, _as_tensor, _binary, _check_broadcast, _coerce, _const, _sum_to, _xp

__all__ = [
    # unary math (differentiable)
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "asinh",
    "acosh",
    "atanh",
    "log2",
    "log10",
    "log1p",
    "expm1",
    "exp2",
    "erf",
    "erfinv",
    "square",
    "reciprocal",
    "rsqrt",
    # zero-gradient rounding
    "floor",
    "ceil",
    "trunc",
    "round",
    "sign",
    # binary math
    "arctan2",
    "atan2",
    "logaddexp",
    "lerp",
    # integer division (see [Note: integer division])
    "floor_divide",
    "remainder",
    "fmod",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "left_shift",
    "right_shift",
    # predicates, comparisons, logical ops (bool results, no gradient)
    "isnan",
    "isinf",
    "isfinite",
    "isclose",
    "allclose",
    "equal",
    "not_equal",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
]

_SQRT_PI = math.sqrt(math.pi)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


# ----------------------------------------------------------------------------- erf / erfinv
def _erfc_cf(xp: Any, a: Array) -> Array:
    """erfc(a) for a >= 3 from its continued fraction (evaluated bottom-up, fixed depth)."""
    t = xp.zeros_like(a)
    for k in range(60, 0, -1):
        t = (k / 2.0) / (a + t)
    return xp.exp(-a * a) / (_SQRT_PI * (a + t))


def _erf_series(xp: Any, a: Array) -> Array:
    """erf(a) for 0 <= a < 3 (see [Note: erf in NumPy])."""
    two_a2 = 2.0 * a * a
    term = xp.ones_like(a)
    total = xp.ones_like(a)
    for n in range(1, 60):
        term = term * two_a2 / (2 * n + 1)
        total = total + term
    return 2.0 / _SQRT_PI * a * xp.exp(-a * a) * total


def _erf_parts(x: Array) -> tuple[Array, Array]:
    """(erf(|x|), erfc(|x|)) in float64, elementwise."""
    xp = array_module(x)
    a = xp.asarray(xp.abs(xp.asarray(x, dtype=np.float64)))  # 0-d stays an array
    erf_a = xp.empty_like(a)
    erfc_a = xp.empty_like(a)
    small = a < 3.0  # nan goes to the large branch and stays nan
    s = _erf_series(xp, a[small])
    erf_a[small], erfc_a[small] = s, 1.0 - s
    c = _erfc_cf(xp, a[~small])
    erf_a[~small], erfc_a[~small] = 1.0 - c, c
    return erf_a, erfc_a


def _erf(xp: Any, x: Array) -> Array:
    erf_a, _ = _erf_parts(x)
    return (xp.sign(x) * erf_a).astype(x.dtype)


def _erfinv(xp: Any, y: Array) -> Array:
    p = xp.abs(y.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = -xp.log1p(-p * p)  # -ln(1 - p²) >= 0
        k = 0.147
        t = 2.0 / (math.pi * k) - w / 2.0
        z = xp.sqrt(xp.sqrt(t * t + w / k) - t)
        inside = p < 1.0
        z = xp.where(inside, z, 0.0)
        q = 1.0 - p  # exact for p >= 0.5, where the erfc form is used
        for _ in range(3):
            erf_z, erfc_z = _erf_parts(z)
            f = xp.where(z > 1.0, q - erfc_z, erf_z - p)
            d = 2.0 / _SQRT_PI * xp.exp(-z * z)
            step = f / d
            z = z - step / (1.0 + z * step)  # Halley: f'' = -2 z f'
        z = xp.where(inside, z, xp.where(p == 1.0, math.inf, math.nan))
    return (xp.sign(y) * z).astype(y.dtype)


# ----------------------------------------------------------------------------- unary table
_ZERO = "zero"  # a derivative that is 0 almost everywhere: the gradient is exactly 0

# name -> (f(xp, x), df(xp, x, y) or _ZERO); df is the derivative, multiplied by g in backward
_UNARY: dict[str, tuple[Callable, Any]] = {
    "sin": (lambda xp, x: xp.sin(x), lambda xp, x, y: xp.cos(x)),
    "cos": (lambda xp, x: xp.cos(x), lambda xp, x, y: -xp.sin(x)),
    "tan": (lambda xp, x: xp.tan(x), lambda xp, x, y: 1 + y * y),
    "arcsin": (lambda xp, x: xp.arcsin(x), lambda xp, x, y: 1 / xp.sqrt(1 - x * x)),
    "arccos": (lambda xp, x: xp.arccos(x), lambda xp, x, y: -1 / xp.sqrt(1 - x * x)),
    "arctan": (lambda xp, x: xp.arctan(x), lambda xp, x, y: 1 / (1 + x * x)),
    "sinh": (lambda xp, x: xp.sinh(x), lambda xp, x, y: xp.cosh(x)),
    "cosh": (lambda xp, x: xp.cosh(x), lambda xp, x, y: xp.sinh(x)),
    "arcsinh": (lambda xp, x: xp.arcsinh(x), lambda xp, x, y: 1 / xp.sqrt(x * x + 1)),
    "arccosh": (lambda xp, x: xp.arccosh(x), lambda xp, x, y: 1 / xp.sqrt(x * x - 1)),
    "arctanh": (lambda xp, x: xp.arctanh(x), lambda xp, x, y: 1 / (1 - x * x)),
    "log2": (lambda xp, x: xp.log2(x), lambda xp, x, y: 1 / (x * _LN2)),
    "log10": (lambda xp, x: xp.log10(x), lambda xp, x, y: 1 / (x * _LN10)),
    "log1p": (lambda xp, x: xp.log1p(x), lambda xp, x, y: 1 / (1 + x)),
    "expm1": (lambda xp, x: xp.expm1(x), lambda xp, x, y: y + 1),
    "exp2": (lambda xp, x: xp.exp2(x), lambda xp, x, y: y * _LN2),
    "erf": (_erf, lambda xp, x, y: (2 / _SQRT_PI) * xp.exp(-x * x)),
    "erfinv": (_erfinv, lambda xp, x, y: (_SQRT_PI / 2) * xp.exp(y * y)),
    "square": (lambda xp, x: x * x, lambda xp, x, y: 2 * x),
    "reciprocal": (lambda xp, x: 1 / x, lambda xp, x, y: -y * y),
    "rsqrt": (lambda xp, x: 1 / xp.sqrt(x), lambda xp, x, y: -0.5 * y * y * y),
    "floor": (lambda xp, x: xp.floor(x), _ZERO),
    "ceil": (lambda xp, x: xp.ceil(x), _ZERO),
    "trunc": (lambda xp, x: xp.trunc(x), _ZERO),
    "sign": (lambda xp, x: xp.sign(x), _ZERO),
}
# rounding keeps integer tensors as they are (floor of an int64 tensor is itself, as PyTorch)
_KEEPS_INTEGERS = {"floor", "ceil", "trunc", "sign", "square"}


class _Map(Function):
    """y = f(x) for a function of the ``_UNARY`` table."""

    @staticmethod
    def forward(ctx: Context, x: Array, kind: str) -> Array:
        xp = array_module(x)
        with np.errstate(all="ignore"):  # domain errors give nan / inf, as in PyTorch
            y = _UNARY[kind][0](xp, x)
        ctx.kind = kind
        ctx.saved = (x, y)
        return y

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, y = ctx.saved
        df = _UNARY[ctx.kind][1]
        xp = array_module(g)
        if df is _ZERO:
            return xp.zeros_like(g), None
        with np.errstate(all="ignore"):
            return g * df(xp, x, y), None


def _map_op(kind: str, name: str | None = None) -> Callable[[Tensor], Tensor]:
    name = name or kind

    def f(x: Tensor) -> Tensor:
        x = _as_tensor(x, name)
        if x.data.dtype.kind != "f":
            if kind in _KEEPS_INTEGERS and x.data.dtype.kind in "iu":
                return Tensor._wrap(_UNARY[kind][0](array_module(x.data), x.data))
            x = _const(x, np.float32)
        return _Map.apply(x, kind)

    f.__name__ = name
    f.__qualname__ = name
    f.__doc__ = f"Element-wise {kind} (differentiable; see deepcore/ops/_math.py)."
    return f


sin = _map_op("sin")
cos = _map_op("cos")
tan = _map_op("tan")
arcsin = _map_op("arcsin")
arccos = _map_op("arccos")
arctan = _map_op("arctan")
asin = _map_op("arcsin", "asin")  # PyTorch's names
acos = _map_op("arccos", "acos")
atan = _map_op("arctan", "atan")
sinh = _map_op("sinh")
cosh = _map_op("cosh")
arcsinh = _map_op("arcsinh")
arccosh = _map_op("arccosh")
arctanh = _map_op("arctanh")
asinh = _map_op("arcsinh", "asinh")
acosh = _map_op("arccosh", "acosh")
atanh = _map_op("arctanh", "atanh")
log2 = _map_op("log2")
log10 = _map_op("log10")
log1p = _map_op("log1p")
expm1 = _map_op("expm1")
exp2 = _map_op("exp2")
erf = _map_op("erf")
erfinv = _map_op("erfinv")
square = _map_op("square")
reciprocal = _map_op("reciprocal")
rsqrt = _map_op("rsqrt")
floor = _map_op("floor")
ceil = _map_op("ceil")
trunc = _map_op("trunc")
sign = _map_op("sign")


class _Round(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, decimals: int) -> Array:
        return array_module(x).round(x, decimals)  # half to even, as NumPy and PyTorch

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        return array_module(g).zeros_like(g), None


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001
    """Round half to even to ``decimals`` places (zero gradient); integer tensors unchanged
    for decimals >= 0."""
    x = _as_tensor(x, "round")
    if not is_int(decimals):
        raise TypeError(f"round: decimals must be an int, got {type(decimals).__name__}")
    if x.data.dtype.kind == "f":
        return _Round.apply(x, int(decimals))
    return x if decimals >= 0 else Tensor._wrap(array_module(x.data).round(x.data, int(decimals)))


# ----------------------------------------------------------------------------- binary math
class _Atan2(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        ctx.saved = (a, b)
        return _xp(a, b).arctan2(a, b)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        a, b = ctx.saved
        pa, pb = ctx.parents
        with np.errstate(all="ignore"):
            r = g / (a * a + b * b)
        return (
            None if pa is None else _sum_to(r * b, pa.shape),
            None if pb is None else _sum_to(-r * a, pb.shape),
        )


class _LogAddExp(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        y = _xp(a, b).logaddexp(a, b)
        ctx.saved = (a, b, y)
        return y

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        a, b, y = ctx.saved
        pa, pb = ctx.parents
        xp = array_module(g)
        with np.errstate(invalid="ignore"):
            # where both are -inf (y = -inf) PyTorch splits evenly; exp(nan) -> use 0.5
            ea = xp.where(xp.isneginf(y), 0.5, xp.exp(a - y))
        return (
            None if pa is None else _sum_to(g * ea, pa.shape),
            None if pb is None else _sum_to(g * (1 - ea), pb.shape),
        )


def _float_operands(a: Any, b: Any, name: str) -> tuple[Any, Any]:
    """Both operands of a float-only binary op as Tensors / Python floats (ints -> float32)."""
    a2, b2 = _coerce(a), _coerce(b)
    if a2 is NotImplemented or b2 is NotImplemented:
        raise TypeError(f"{name}: unsupported operands {type(a).__name__}, {type(b).__name__}")
    if not isinstance(a2, Tensor) and not isinstance(b2, Tensor):
        a2 = tensor(a2)
    out = []
    for v in (a2, b2):
        if isinstance(v, Tensor) and v.data.dtype.kind != "f":
            other = b2 if v is a2 else a2
            want = (
                other.data.dtype if isinstance(other, Tensor) and other.dtype.kind == "f" else None
            )
            v = _const(v, want or np.float32)
        elif isinstance(v, (int, bool)):
            v = float(v)
        out.append(v)
    _check_broadcast(out[0], out[1], name)
    return out[0], out[1]


def arctan2(x1: Any, x2: Any) -> Tensor:
    """Element-wise angle of the point (x2, x1) (NumPy's arctan2, PyTorch's atan2)."""
    return _binary(_Atan2, *_float_operands(x1, x2, "arctan2"))


atan2 = arctan2


def logaddexp(x1: Any, x2: Any) -> Tensor:
    """log(exp(x1) + exp(x2)) without overflow."""
    return _binary(_LogAddExp, *_float_operands(x1, x2, "logaddexp"))


def lerp(start: Any, end: Any, weight: Any) -> Tensor:
    """start + weight * (end - start) (PyTorch's ``lerp``); differentiable in all three."""
    start = _as_tensor(start, "lerp")
    return start + weight * (end - start)


# ----------------------------------------------------------------------------- integer ops
def _is_int(v: Any) -> bool:
    if isinstance(v, Tensor):
        return v.data.dtype.kind in "iub"
    return isinstance(v, (int, np.integer))


def _check_int_divisor(b: Any, name: str) -> None:
    """An integer division by zero raises (see [Note: integer division])."""
    bd = b.data if isinstance(b, Tensor) else b
    if (bd == 0).any() if isinstance(bd, np.ndarray) else bd == 0:
        raise ZeroDivisionError(f"{name}: integer division by zero")


class _FloorDivide(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _xp(a, b).floor_divide(a, b)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        pa, pb = ctx.parents
        xp = array_module(g)
        return (
            None if pa is None else xp.zeros(pa.shape, g.dtype),
            None if pb is None else xp.zeros(pb.shape, g.dtype),
        )


class _TruncDivide(_FloorDivide):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        xp = _xp(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            if not (_is_float_array(a) or _is_float_array(b)):
                q = xp.floor_divide(a, b)  # exact on integers: floor, then toward zero
                return q + ((xp.remainder(a, b) != 0) & ((a < 0) != (b < 0)))
            return xp.trunc(a / b)


def _is_float_array(v: Any) -> bool:
    return isinstance(v, float) or (hasattr(v, "dtype") and v.dtype.kind == "f")


class _Remainder(Function):
    """a - b * floor(a / b) (``remainder``) or a - b * trunc(a / b) (``fmod``)."""

    ufunc = "remainder"

    @classmethod
    def forward(cls, ctx: Context, a: Any, b: Any) -> Array:
        ctx.saved = (a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return getattr(_xp(a, b), cls.ufunc)(a, b)

    @classmethod
    def backward(cls, ctx: Context, g: Array) -> tuple:
        a, b = ctx.saved
        pa, pb = ctx.parents
        xp = array_module(g)
        gb = None
        if pb is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = a / b
            q = xp.floor(q) if cls.ufunc == "remainder" else xp.trunc(q)
            gb = _sum_to(-g * q, pb.shape)
        return (None if pa is None else _sum_to(g, pa.shape)), gb


class _Fmod(_Remainder):
    ufunc = "fmod"


def _int_binary(fn: type[Function], a: Any, b: Any, name: str) -> Tensor:
    a2, b2 = _coerce(a), _coerce(b)
    if a2 is NotImplemented or b2 is NotImplemented:
        raise TypeError(f"{name}: unsupported operands {type(a).__name__}, {type(b).__name__}")
    if not isinstance(a2, Tensor) and not isinstance(b2, Tensor):
        a2 = tensor(a2)
    _check_broadcast(a2, b2, name)
    if _is_int(a2) and _is_int(b2):
        _check_int_divisor(b2, name)
        if isinstance(a2, Tensor) and a2.dtype == np.bool_:
            a2 = _const(a2, np.int64)
        if isinstance(b2, Tensor) and b2.dtype == np.bool_:
            b2 = _const(b2, np.int64)
    return _binary(fn, a2, b2)


def floor_divide(a: Any, b: Any) -> Tensor:
    """``a // b``: division rounded toward -inf ([Note: integer division]); zero gradient."""
    return _int_binary(_FloorDivide, a, b, "floor_divide")


def remainder(a: Any, b: Any) -> Tensor:
    """``a % b`` with the sign of the divisor (Python's and PyTorch's ``remainder``)."""
    return _int_binary(_Remainder, a, b, "remainder")


def fmod(a: Any, b: Any) -> Tensor:
    """C's fmod: the remainder with the sign of the dividend (PyTorch's ``fmod``)."""
    return _int_binary(_Fmod, a, b, "fmod")


def _div_rounded(a: Any, b: Any, rounding_mode: str | None) -> Tensor:
    """PyTorch's ``div(a, b, rounding_mode=...)`` (called by ``deepcore.div``)."""
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return _int_binary(_TruncDivide, a, b, "div")
    raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


def _shift(a: Any, b: Any, left: bool, name: str) -> Tensor:
    """PyTorch's shifts on integer tensors: a shift by the bit width or more gives 0 (left, and
    right for non-negative values) or -1 (right shift of a negative value); so does a negative
    shift amount, which C leaves undefined."""
    a2, b2 = _coerce(a), _coerce(b)
    if a2 is NotImplemented or b2 is NotImplemented or not (_is_int(a2) and _is_int(b2)):
        raise TypeError(f"{name}: operands must be integer tensors or ints")
    if not isinstance(a2, Tensor):
        like = b2.data if isinstance(b2, Tensor) else np.asarray(0, dtype=np.int64)
        a2 = Tensor(array_module(like).asarray(a2, dtype=like.dtype))
    _check_broadcast(a2, b2, name)
    ad = a2.data
    bd = b2.data if isinstance(b2, Tensor) else b2
    xp = array_module(ad)
    bits = ad.dtype.itemsize * 8
    bd = xp.asarray(bd)
    ok = (bd >= 0) & (bd < bits)
    safe = xp.where(ok, bd, 0).astype(ad.dtype)
    if left:
        out = xp.where(ok, xp.left_shift(ad, safe), 0)
    else:
        out = xp.where(ok, xp.right_shift(ad, safe), xp.where(ad < 0, -1, 0))
    return Tensor._wrap(out.astype(ad.dtype))


def bitwise_left_shift(a: Any, b: Any) -> Tensor:
    """``a << b`` on integer tensors (PyTorch's semantics, see ``_shift``)."""
    return _shift(a, b, True, "bitwise_left_shift")


def bitwise_right_shift(a: Any, b: Any) -> Tensor:
    """``a >> b`` on integer tensors: arithmetic (sign-filling) shift."""
    return _shift(a, b, False, "bitwise_right_shift")


left_shift = bitwise_left_shift  # NumPy's / Keras's names
right_shift = bitwise_right_shift


# ----------------------------------------------------------------------------- predicates
def _pred(ufunc: str, name: str) -> Callable[[Tensor], Tensor]:
    def f(x: Tensor) -> Tensor:
        d = _as_tensor(x, name).data
        return Tensor._wrap(getattr(array_module(d), ufunc)(d))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Element-wise {ufunc} (a bool tensor, no gradient)."
    return f


isnan = _pred("isnan", "isnan")
isinf = _pred("isinf", "isinf")
isfinite = _pred("isfinite", "isfinite")
logical_not = _pred("logical_not", "logical_not")


def _operand_data(v: Any, name: str) -> Any:
    c = _coerce(v)
    if c is NotImplemented:
        raise TypeError(f"{name}: unsupported operand {type(v).__name__}")
    return c.data if isinstance(c, Tensor) else c


def _cmp(ufunc: str, name: str) -> Callable[[Any, Any], Tensor]:
    def f(x1: Any, x2: Any) -> Tensor:
        a, b = _operand_data(x1, name), _operand_data(x2, name)
        _check_broadcast(a, b, name)
        xp = array_module(a if isinstance(a, np.ndarray) else b)
        return Tensor._wrap(xp.asarray(getattr(xp, ufunc)(a, b)))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Element-wise {ufunc} with broadcasting (a bool tensor, no gradient)."
    return f


equal = _cmp("equal", "equal")
not_equal = _cmp("not_equal", "not_equal")
greater = _cmp("greater", "greater")
greater_equal = _cmp("greater_equal", "greater_equal")
less = _cmp("less", "less")
less_equal = _cmp("less_equal", "less_equal")
logical_and = _cmp("logical_and", "logical_and")
logical_or = _cmp("logical_or", "logical_or")
logical_xor = _cmp("logical_xor", "logical_xor")


def isclose(
    x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> Tensor:
    """|x1 - x2| <= atol + rtol·|x2| element-wise (NumPy's, PyTorch's and Keras's defaults);
    infinities are close only to themselves."""
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol and atol must be non-negative, got {rtol}, {atol}")
    a, b = _operand_data(x1, "isclose"), _operand_data(x2, "isclose")
    _check_broadcast(a, b, "isclose")
    xp = array_module(a if isinstance(a, np.ndarray) else b)
    return Tensor._wrap(xp.asarray(xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)))


def allclose(
    x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> bool:
    """True when ``isclose`` holds everywhere (a Python bool)."""
    return bool(isclose(x1, x2, rtol, atol, equal_nan).data.all())
