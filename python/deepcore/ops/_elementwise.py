"""Element-wise ops: arithmetic with broadcasting, exp/log/sqrt/abs, clip, maximum/minimum,
where, and dtype casts (see the conventions in deepcore/ops/__init__.py).

[Note: ties in max/min] The gradient of ``max``/``min`` over an axis (and of ``maximum``/
``minimum``) is split evenly among tied elements, the subgradient PyTorch uses for ``amax``:
for x = [3, 3, 1], d max(x)/dx = [0.5, 0.5, 0].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array import array_module
from ..autograd import Context, Function
from ..tensor import Tensor, _resolve_dtype, tensor
from ._common import (
    Array,
    Scalar,
    _binary,
    _check_broadcast,
    _coerce,
    _const,
    _data,
    _float_of,
    _shape_of,
    _sum_to,
    _xp,
)
from ._math import _div_rounded

__all__ = [
    "add",
    "sub",
    "mul",
    "div",
    "true_divide",
    "neg",
    "pow",
    "exp",
    "log",
    "sqrt",
    "abs",
    "clip",
    "maximum",
    "minimum",
    "where",
    "cast",
]


class Add(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        return a + b

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        pa, pb = ctx.parents
        return (
            None if pa is None else _sum_to(g, pa.shape),
            None if pb is None else _sum_to(g, pb.shape),
        )


class Sub(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        return a - b

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        pa, pb = ctx.parents
        return (
            None if pa is None else _sum_to(g, pa.shape),
            None if pb is None else _sum_to(-g, pb.shape),
        )


class Mul(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        ctx.saved = (a, b)
        return a * b

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        a, b = ctx.saved
        pa, pb = ctx.parents
        return (
            None if pa is None else _sum_to(g * b, pa.shape),
            None if pb is None else _sum_to(g * a, pb.shape),
        )


class Div(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        out = a / b
        ctx.saved = (b, out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        b, out = ctx.saved
        pa, pb = ctx.parents
        ga = g / b
        return (
            None if pa is None else _sum_to(ga, pa.shape),
            None if pb is None else _sum_to(-ga * out, pb.shape),
        )


class Neg(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        return -x

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return -g


class Pow(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):  # 0**-1 = inf, (-2)**0.5 = nan
            out = a**b
        ctx.saved = (a, b, out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        a, b, out = ctx.saved
        pa, pb = ctx.parents
        ga = gb = None
        if pa is not None:
            if type(b) is int or type(b) is float:
                d = (b * a ** (b - 1)) if b != 0 else array_module(a).zeros_like(a)
            else:
                # where b == 0 the derivative is 0 (PyTorch's convention; b * a**(b-1) is
                # 0 * inf = nan at a == 0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    d = array_module(a).where(b == 0, 0, b * a ** (b - 1)).astype(out.dtype)
            ga = _sum_to(g * d, pa.shape)
        if pb is not None:
            # d(a^b)/db = a^b log a; at a == 0 (with b >= 0) PyTorch's convention: 0
            if not isinstance(a, (int, float, bool)):
                xp = array_module(a)
                with np.errstate(divide="ignore", invalid="ignore"):
                    d = out * xp.log(a)
                d = xp.where((a == 0) & (b >= 0), 0, d)
            elif a == 0:  # 0**b: 0 for b >= 0, out * log(0) = inf * -inf = -inf for b < 0
                with np.errstate(invalid="ignore"):
                    d = array_module(b).where(b >= 0, 0, out * -math.inf).astype(out.dtype)
            else:
                d = out * (math.log(a) if a > 0 else math.nan)
            gb = _sum_to(g * d, pb.shape)
        return ga, gb


class Exp(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        y = array_module(x).exp(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g * ctx.saved[0]


class Log(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        ctx.saved = (x,)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g / ctx.saved[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        y = array_module(x).sqrt(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g / (2 * ctx.saved[0])


class Abs(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        ctx.saved = (x,)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        x = ctx.saved[0]
        return g * array_module(x).sign(x)  # 0 at x == 0, as PyTorch


class Clip(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, lo: Scalar | None, hi: Scalar | None) -> Array:
        ctx.saved = (x, lo, hi)
        return array_module(x).clip(x, lo, hi)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, lo, hi = ctx.saved
        # the gradient passes where lo <= x <= hi (inclusive, as PyTorch's clamp)
        if lo is not None and hi is not None:
            mask = (x >= lo) & (x <= hi)
        elif lo is not None:
            mask = x >= lo
        else:
            mask = x <= hi
        return g * mask, None, None


class _Extremum(Function):
    """maximum / minimum of two operands; ties split the gradient (see [Note: ties in max/min])."""

    pick = ""  # "maximum" or "minimum": the array library's function of that name

    @classmethod
    def forward(cls, ctx: Context, a: Any, b: Any) -> Array:
        ctx.saved = (a, b)
        return getattr(_xp(a, b), cls.pick)(a, b)

    @classmethod
    def backward(cls, ctx: Context, g: Array) -> tuple:
        a, b = ctx.saved
        pa, pb = ctx.parents
        # share of a: 1 where a wins, 0.5 on a tie, 0 where b wins (one ufunc: heaviside)
        d = a - b if cls.pick == "maximum" else b - a
        ga = g * array_module(g).heaviside(d, 0.5)
        return (
            None if pa is None else _sum_to(ga, pa.shape),
            None if pb is None else _sum_to(g - ga, pb.shape),
        )


class Maximum(_Extremum):
    pick = "maximum"


class Minimum(_Extremum):
    pick = "minimum"


class Cast(Function):
    """x in another dtype. A value beyond the new dtype's range becomes inf silently, as in
    PyTorch: under mixed precision a float16 gradient that overflows is the event loss scaling
    detects (the step is skipped), not an error, and NumPy's warning would be one under
    ``-W error``."""

    half_native = True  # its output dtype is the one asked for ([Note: float16 storage])

    @staticmethod
    def forward(ctx: Context, x: Array, dtype: Any) -> Array:
        ctx.saved = (x.dtype,)
        with np.errstate(over="ignore"):  # (CuPy does not warn)
            return x.astype(dtype)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        with np.errstate(over="ignore"):
            return g.astype(ctx.saved[0]), None


class Clone(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        return x.copy()

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g


class Where(Function):
    @staticmethod
    def forward(ctx: Context, cond: Array, a: Any, b: Any) -> Array:
        ctx.saved = (cond,)
        return _xp(a, b).where(cond, a, b)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        cond = ctx.saved[0]
        xp = array_module(g)
        _, pa, pb = ctx.parents
        return (
            None,
            None if pa is None else _sum_to(xp.where(cond, g, 0), pa.shape),
            None if pb is None else _sum_to(xp.where(cond, 0, g), pb.shape),
        )


def where(cond: Any, a: Any = None, b: Any = None) -> Tensor:
    """Elementwise ``a if cond else b`` with broadcasting; gradients flow to a and b. With
    neither a nor b: the indices where cond holds, one int64 tensor per axis (NumPy's and
    Keras's ``where(condition)``)."""
    c = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if a is None and b is None:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in array_module(c).nonzero(c))
    if a is None or b is None:
        raise TypeError("where: give both a and b, or neither")
    if c.dtype != np.bool_:
        c = c != 0
    a2, b2 = _coerce(a), _coerce(b)
    if a2 is NotImplemented or b2 is NotImplemented:
        raise TypeError(f"where: unsupported operands {type(a).__name__}, {type(b).__name__}")
    if not isinstance(a2, Tensor) and not isinstance(b2, Tensor):
        a2 = tensor(a2)
    try:
        np.broadcast_shapes(c.shape, _shape_of(_data(a2)), _shape_of(_data(b2)))
    except ValueError:
        raise ValueError(
            f"where: shapes {c.shape}, {_shape_of(_data(a2))} and {_shape_of(_data(b2))} cannot be "
            "broadcast together"
        ) from None
    if isinstance(a2, Tensor) and isinstance(b2, Tensor) and a2.dtype != b2.dtype:
        dt = _float_of(a2.dtype, b2.dtype)
        a2 = a2 if a2.dtype == dt else a2.astype(dt)
        b2 = b2 if b2.dtype == dt else b2.astype(dt)
    return Where.apply(c, a2, b2)


def _public_binary(fn: type[Function], name: str) -> Any:
    def f(a: Any, b: Any) -> Tensor:
        a2, b2 = _coerce(a), _coerce(b)
        if a2 is NotImplemented or b2 is NotImplemented:
            raise TypeError(f"{name}: unsupported operands {type(a).__name__}, {type(b).__name__}")
        if not isinstance(a2, Tensor) and not isinstance(b2, Tensor):
            a2 = tensor(a2)
        try:
            return _binary(fn, a2, b2)
        except ValueError:
            _check_broadcast(a2, b2, name)
            raise

    f.__name__ = name
    f.__doc__ = f"Elementwise {name} with broadcasting (Tensors and scalars)."
    return f


def _div_operands(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, Tensor) and a.data.dtype.kind != "f":
        if not (isinstance(b, Tensor) and b.data.dtype.kind == "f"):
            a = _const(a, np.float32)
    if isinstance(b, Tensor) and b.data.dtype.kind != "f":
        if not (isinstance(a, Tensor) and a.data.dtype.kind == "f"):
            b = _const(b, np.float32)
    return a, b


add = _public_binary(Add, "add")
sub = _public_binary(Sub, "sub")
mul = _public_binary(Mul, "mul")
maximum = _public_binary(Maximum, "maximum")
minimum = _public_binary(Minimum, "minimum")
_pow = _public_binary(Pow, "pow")
_div = _public_binary(Div, "div")


def div(a: Any, b: Any, rounding_mode: str | None = None) -> Tensor:
    """Elementwise true division with broadcasting; integer / integer gives float32.
    ``rounding_mode="trunc"`` / ``"floor"`` rounds the quotient toward 0 / -inf, exact on
    integer tensors (PyTorch's ``div``, see [Note: integer division] in _math.py)."""
    if rounding_mode is not None:
        return _div_rounded(a, b, rounding_mode)
    a2, b2 = _coerce(a), _coerce(b)
    return _div(*_div_operands(a2, b2))


true_divide = div


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001
    """Elementwise ``a ** b`` with broadcasting (either may be a scalar)."""
    return _pow(a, b)


def _unary(fn: type[Function], name: str, doc: str) -> Any:
    def f(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = tensor(x)
        if x.data.dtype.kind != "f" and fn is not Neg and fn is not Abs:
            x = _const(x, np.float32)
        return fn.apply(x)

    f.__name__ = name
    f.__doc__ = doc
    return f


neg = _unary(Neg, "neg", "Elementwise -x.")
exp = _unary(Exp, "exp", "Elementwise e**x.")
log = _unary(Log, "log", "Elementwise natural logarithm.")
sqrt = _unary(Sqrt, "sqrt", "Elementwise square root.")
abs = _unary(Abs, "abs", "Elementwise |x| (gradient 0 at 0).")  # noqa: A001


def clip(
    x: Tensor,
    min: Scalar | None = None,  # noqa: A002
    max: Scalar | None = None,  # noqa: A002
    *,
    x_min: Scalar | None = None,
    x_max: Scalar | None = None,
) -> Tensor:
    """Limit values to [min, max] (either may be None; Keras's names ``x_min`` / ``x_max``
    too); the gradient passes inside the range."""
    min = x_min if x_min is not None else min  # noqa: A001
    max = x_max if x_max is not None else max  # noqa: A001
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    lo = min.item() if isinstance(min, (np.generic, Tensor)) else min
    hi = max.item() if isinstance(max, (np.generic, Tensor)) else max
    return Clip.apply(x, lo, hi)


def cast(x: Tensor, dtype: Any) -> Tensor:
    """A copy of ``x`` in ``dtype``; float -> float keeps the graph (the gradient flows back in
    the source dtype), a cast to an integer or bool dtype does not."""
    dt = np.dtype(_resolve_dtype(dtype))
    if dt == x.dtype:
        return x
    if dt.kind != "f":
        return Tensor._wrap(x.data.astype(dt))
    return Cast.apply(x, dt)
