"""Tensor ops as autograd Functions, and the Tensor operators/methods built on them.

Every differentiable op is a :class:`~deepcore.autograd.Function` whose ``forward`` and
``backward`` work on raw arrays; the public functions (``dc.matmul``, ``dc.concat``, ...) and
the Tensor methods (``x.sum(axis=1)``, ``x @ w``, ``x[idx]``) validate and convert arguments,
then call ``Function.apply``.

Semantics follow NumPy where NumPy has an answer (broadcasting, matmul of 1-D operands,
``axis``/``keepdims``, indexing, dtype promotion between float32 and float64), with three
deliberate differences that keep float32 code in float32:

* Python and NumPy *scalars* are weak: ``x * 2.0`` and ``x * np.float64(2)`` stay float32.
* integer (op) float takes the float operand's dtype (int64 tensor + float32 tensor is
  float32, not NumPy's float64); int (op) Python float and int / int give float32.
* ``transpose(i, j)`` with two axes on a tensor of more than two dimensions swaps them
  (PyTorch's meaning); otherwise ``transpose(*axes)`` is NumPy's permutation.

[Note: broadcast gradients] An input that was broadcast in the forward receives the sum of the
output gradient over the broadcast axes; ``_sum_to`` is the one place that reduction is done.

[Note: ties in max/min] The gradient of ``max``/``min`` over an axis (and of ``maximum``/
``minimum``) is split evenly among tied elements, the subgradient PyTorch uses for ``amax``:
for x = [3, 3, 1], d max(x)/dx = [0.5, 0.5, 0].
"""

from __future__ import annotations

import builtins as _bi
import math
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from . import kernels
from .autograd import Context, Function, _state
from .tensor import Tensor, _resolve_dtype, get_rng, tensor

__all__ = [
    # elementwise and matmul
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "exp",
    "log",
    "sqrt",
    "abs",
    "clip",
    "maximum",
    "minimum",
    "matmul",
    "where",
    # reductions
    "sum",
    "mean",
    "max",
    "min",
    "var",
    "std",
    "argmax",
    "argmin",
    # shape
    "reshape",
    "flatten",
    "squeeze",
    "unsqueeze",
    "expand",
    "broadcast_to",
    "transpose",
    "permute",
    "swapaxes",
    "concat",
    "concatenate",
    "stack",
    "split",
    # dtype
    "cast",
    # creation
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "arange",
    "eye",
    "randn",
    "rand",
    "randint",
]

Array = np.ndarray
Scalar = Union[int, float, bool]
_PY_SCALARS = (int, float, bool)


# ---------------------------------------------------------------------------------- helpers
def _sum_to(g: Array, shape: tuple[int, ...]) -> Array:
    """Reduce a gradient of a broadcast result back to an input's ``shape``.

    See [Note: broadcast gradients]: leading axes the input did not have are summed away, as
    are axes where the input had size 1 and the result did not.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    if axes:
        g = np.add.reduce(g, axis=axes, keepdims=True)  # np.sum's Python wrapper costs ~2x
    return g.reshape(shape)


def _expand_to(g: Array, kept: tuple[int, ...], shape: tuple[int, ...]) -> Array:
    """The gradient of a reduction: g (reduced shape) broadcast back to ``shape``. Materialised
    with one broadcasting copy, which is cheaper than np.broadcast_to for small arrays and
    gives later ops contiguous input."""
    out = np.empty(shape, g.dtype)
    out[...] = np.reshape(g, kept)
    return out


def _norm_axis(axis: int, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    a = axis + ndim if axis < 0 else axis
    if not 0 <= a < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of dimension {ndim}")
    return int(a)


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    """None (all axes) or a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        axes = tuple(sorted(_norm_axis(a, ndim) for a in axis))
        if len(set(axes)) != len(axes):
            raise ValueError(f"duplicate axis in {tuple(axis)}")
        return axes
    return (_norm_axis(axis, ndim),)


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` with the reduced axes set to 1 (the keepdims shape)."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _float_of(*dtypes: np.dtype) -> np.dtype:
    """Result dtype of mixing tensors: NumPy's rule among floats (float32 + float64 -> float64)
    and among integers; integer/bool with float takes the float's dtype."""
    floats = [d for d in dtypes if d.kind == "f"]
    if floats and len(floats) != len(dtypes):
        return np.result_type(*floats)
    return np.result_type(*dtypes)


def _coerce(x: Any) -> Any:
    """The other operand of a binary op: a Tensor, a weak Python scalar, or NotImplemented."""
    tx = type(x)
    if tx is Tensor or tx is float or tx is int or tx is bool:
        return x
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    if isinstance(x, np.generic):
        if x.dtype.kind not in "fiub":
            return NotImplemented
        return x.item()  # a NumPy scalar is weak like a Python one (x * np.float64(2) stays f32)
    if isinstance(x, (list, tuple)):
        return tensor(x)
    return NotImplemented


def _const(x: Tensor, dtype: Any) -> Tensor:
    """A cast of a tensor that cannot require grad (integer or bool) to a float dtype."""
    return Tensor._wrap(x.data.astype(dtype))


def _binary(fn: type[Function], a: Any, b: Any) -> Tensor:
    """Apply a broadcasting binary Function; a and b are Tensors or Python scalars (at least one
    a Tensor). Reconciles dtypes per the module docstring before the forward runs."""
    # isinstance, not type(): nn.Parameter is a Tensor subclass
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            da, db = a.data.dtype, b.data.dtype
            if da is not db and da != db:
                dt = _float_of(da, db)
                if da.kind != "f" and dt.kind == "f":
                    a = _const(a, dt)
                if db.kind != "f" and dt.kind == "f":
                    b = _const(b, dt)
        elif type(b) is float and a.data.dtype.kind != "f":
            a = _const(a, np.float32)
    elif type(a) is float and b.data.dtype.kind != "f":
        b = _const(b, np.float32)
    return fn.apply(a, b)


def _shape_of(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, np.ndarray) else np.shape(x)


def _nnf() -> Any:
    """deepcore.nn.functional, imported on first use (it imports this module)."""
    from .nn import functional

    return functional


# ---------------------------------------------------------------------------------- arithmetic
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
                d = (b * a ** (b - 1)) if b != 0 else np.zeros_like(a)
            else:
                d = b * a ** (b - 1)
            ga = _sum_to(g * d, pa.shape)
        if pb is not None:
            # d(a^b)/db = a^b log a; at a == 0 (with b >= 0) PyTorch's convention: 0
            if isinstance(a, np.ndarray):
                with np.errstate(divide="ignore", invalid="ignore"):
                    d = out * np.log(a)
                d = np.where((a == 0) & (b >= 0), 0, d)
            else:
                d = out * (math.log(a) if a > 0 else (0.0 if a == 0 else math.nan))
            gb = _sum_to(g * d, pb.shape)
        return ga, gb


class Exp(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        y = np.exp(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g * ctx.saved[0]


class Log(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        ctx.saved = (x,)
        return np.log(x)

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g / ctx.saved[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        y = np.sqrt(x)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g / (2 * ctx.saved[0])


class Abs(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        ctx.saved = (x,)
        return np.abs(x)

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g * np.sign(ctx.saved[0])  # 0 at x == 0, as PyTorch


class Clip(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, lo: Scalar | None, hi: Scalar | None) -> Array:
        ctx.saved = (x, lo, hi)
        return np.clip(x, lo, hi)

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

    pick: Any = None

    @classmethod
    def forward(cls, ctx: Context, a: Any, b: Any) -> Array:
        ctx.saved = (a, b)
        return cls.pick(a, b)

    @classmethod
    def backward(cls, ctx: Context, g: Array) -> tuple:
        a, b = ctx.saved
        pa, pb = ctx.parents
        # share of a: 1 where a wins, 0.5 on a tie, 0 where b wins (one ufunc: heaviside)
        d = a - b if cls.pick is np.maximum else b - a
        ga = g * np.heaviside(d, 0.5)
        return (
            None if pa is None else _sum_to(ga, pa.shape),
            None if pb is None else _sum_to(g - ga, pb.shape),
        )


class Maximum(_Extremum):
    pick = np.maximum


class Minimum(_Extremum):
    pick = np.minimum


class Cast(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, dtype: Any) -> Array:
        ctx.saved = (x.dtype,)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        return g.astype(ctx.saved[0]), None


class Clone(Function):
    @staticmethod
    def forward(ctx: Context, x: Array) -> Array:
        return x.copy()

    @staticmethod
    def backward(ctx: Context, g: Array) -> Array:
        return g


# ---------------------------------------------------------------------------------- matmul
def _gemm_operand(x: Array, trans: bool) -> tuple[Array, bool]:
    """An operand GEMM can read without copying: its matrices must have unit-stride rows. A
    transposed view (x.T, x.swapaxes(-1, -2)) is passed as the original with the flag flipped;
    anything else irregular is copied."""
    if x.flags.c_contiguous:
        return x, trans
    it = x.itemsize
    st = x.strides
    r, c = x.shape[-2], x.shape[-1]
    if (c <= 1 or st[-1] == it) and (r <= 1 or (st[-2] >= c * it and st[-2] % it == 0)):
        return x, trans
    if (r <= 1 or st[-2] == it) and (c <= 1 or (st[-1] >= r * it and st[-1] % it == 0)):
        return x.swapaxes(-1, -2), not trans
    return np.ascontiguousarray(x), trans


_kmatmul = kernels.matmul  # csrc/bindings/gemm.cpp: batched, broadcast op(a) @ op(b)


def _gemm(a: Array, b: Array, trans_a: bool = False, trans_b: bool = False) -> Array:
    """op(a) @ op(b) over the last two axes (batch axes broadcast) through our GEMM."""
    a, trans_a = _gemm_operand(a, trans_a)
    b, trans_b = _gemm_operand(b, trans_b)
    if b.ndim == 2 and a.ndim > 2 and not trans_a and a.flags.c_contiguous:
        # (..., m, k) @ (k, n): one GEMM over all rows instead of a batch of small ones
        out = _kmatmul(a.reshape(-1, a.shape[-1]), b, False, trans_b)
        return out.reshape(a.shape[:-1] + (out.shape[-1],))
    return _kmatmul(a, b, trans_a, trans_b)


class MatMul(Function):
    """NumPy's matmul: 1-D operands are promoted to a row (a) / column (b) and the added axis
    removed from the result. The backward is two matmuls (trans flags, no transposed copies)."""

    @staticmethod
    def forward(ctx: Context, a: Array, b: Array) -> Array:
        ctx.saved = (a, b)
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        out = _gemm(a2, b2)
        if a.ndim == 1:
            out = out.reshape(out.shape[:-2] + out.shape[-1:])
        if b.ndim == 1:
            out = out.reshape(out.shape[:-1])
        return out

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        a, b = ctx.saved
        pa, pb = ctx.parents
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        if b.ndim == 1:  # restore the axes the forward removed (b's first: g may be 0-d)
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if pa is not None:  # dA = dC @ B^T, summed over the batch axes A was broadcast along
            ga = _sum_to(_gemm(g, b2, trans_b=True), a2.shape).reshape(a.shape)
        if pb is not None:  # dB = A^T @ dC
            if b2.ndim == 2 and a2.ndim > 2:
                # all batch rows at once: (rows, k)^T @ (rows, n), no per-batch products to sum
                k, n = a2.shape[-1], g.shape[-1]
                gb = _gemm(a2.reshape(-1, k), np.reshape(g, (-1, n)), trans_a=True)
            else:
                gb = _sum_to(_gemm(a2, g, trans_a=True), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b`` with NumPy's rules (batched, broadcast batch axes, 1-D operands), float32 or
    float64, through deepcore's GEMM."""
    a = a if isinstance(a, Tensor) else tensor(a)
    b = b if isinstance(b, Tensor) else tensor(b)
    da, db = a.data.dtype, b.data.dtype
    if da.kind != "f" or db.kind != "f":
        raise TypeError(f"matmul supports float32 and float64 tensors, got {da} and {db}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}"
        )
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not match: the last axis of a ({ka}) "
            f"must equal the {'second-to-last' if b.ndim > 1 else 'only'} axis of b ({kb})"
        )
    if a.ndim > 2 and b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(
                f"matmul: batch axes of shapes {a.shape} and {b.shape} cannot be broadcast"
            ) from None
    if da != db:
        dt = np.result_type(da, db)
        a = a if da == dt else a.astype(dt)
        b = b if db == dt else b.astype(dt)
    return MatMul.apply(a, b)


# ---------------------------------------------------------------------------------- reductions
class Sum(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple | None, keepdims: bool) -> Array:
        ctx.saved = (x.shape, _kept_shape(x.shape, axes))
        return np.sum(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shape, kept = ctx.saved
        return _expand_to(g, kept, shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple | None, keepdims: bool) -> Array:
        kept = _kept_shape(x.shape, axes)
        n = _count(x.shape, axes)
        ctx.saved = (x.shape, kept, n)
        s = np.sum(x, axis=axes, keepdims=keepdims)
        if n == 0:
            return np.full(s.shape, np.nan, s.dtype)  # mean of nothing, as NumPy (no warning)
        return s / n

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shape, kept, n = ctx.saved
        return _expand_to(g / _bi.max(n, 1), kept, shape), None, None


def _count(shape: tuple[int, ...], axes: tuple | None) -> int:
    return math.prod(shape) if axes is None else math.prod(shape[a] for a in axes)


class _ExtremumReduce(Function):
    """max / min over axes; the gradient is split among ties ([Note: ties in max/min])."""

    reduce: Any = None

    @classmethod
    def forward(cls, ctx: Context, x: Array, axes: tuple | None, keepdims: bool) -> Array:
        if x.size == 0:
            raise ValueError(
                f"{cls.__name__.lower()}() of an empty tensor (shape {x.shape}) has no identity"
            )
        out = cls.reduce(x, axis=axes, keepdims=True)
        ctx.saved = (x, out, axes)
        if keepdims:
            return out
        return out.reshape(
            () if axes is None else tuple(n for i, n in enumerate(x.shape) if i not in axes)
        )

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        x, out, axes = ctx.saved
        mask = x == out
        count = np.sum(mask, axis=axes, keepdims=True).astype(g.dtype)
        return mask * (np.reshape(g, out.shape) / count), None, None


class Max(_ExtremumReduce):
    reduce = np.max


class Min(_ExtremumReduce):
    reduce = np.min


class Var(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple | None, keepdims: bool, ddof: int) -> Array:
        n = _count(x.shape, axes)
        kept = _kept_shape(x.shape, axes)
        d = x - np.mean(x, axis=axes, keepdims=True) if n else x
        denom = n - ddof
        ctx.saved = (d, kept, denom)
        s = np.sum(d * d, axis=axes, keepdims=keepdims)
        if denom <= 0:
            return np.full(s.shape, np.nan, s.dtype)
        return s / denom

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        d, kept, denom = ctx.saved
        return np.reshape(g, kept) * d * (2.0 / denom), None, None, None


def _float_for_reduce(x: Tensor) -> Tensor:
    return x if x.data.dtype.kind == "f" else _const(x, np.float32)


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (int, tuple or None for all)."""
    return Sum.apply(x, _norm_axes(axis, x.ndim), bool(keepdims))


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``; integer tensors are averaged in float32."""
    return Mean.apply(_float_for_reduce(x), _norm_axes(axis, x.ndim), bool(keepdims))


def max(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis`` (the values only; ``argmax`` gives the indices)."""
    return Max.apply(x, _norm_axes(axis, x.ndim), bool(keepdims))


def min(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``."""
    return Min.apply(x, _norm_axes(axis, x.ndim), bool(keepdims))


def var(x: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis`` with NumPy's default ``ddof=0`` (PyTorch's default is 1)."""
    return Var.apply(_float_for_reduce(x), _norm_axes(axis, x.ndim), bool(keepdims), int(ddof))


def std(x: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Standard deviation over ``axis`` (sqrt of ``var``; NumPy's default ``ddof=0``)."""
    return sqrt(var(x, axis, keepdims, ddof))


def _arg_reduce(np_fn: Any, x: Tensor, axis: int | None, keepdims: bool) -> Tensor:
    if x.size == 0:
        raise ValueError(f"{np_fn.__name__}() of an empty tensor (shape {x.shape})")
    ax = None if axis is None else _norm_axis(axis, x.ndim)
    return Tensor._wrap(np.asarray(np_fn(x.data, axis=ax, keepdims=keepdims), dtype=np.int64))


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) maximum over ``axis`` (flattened when None); int64, no gradient."""
    return _arg_reduce(np.argmax, x, axis, keepdims)


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) minimum over ``axis``; int64, no gradient."""
    return _arg_reduce(np.argmin, x, axis, keepdims)


# ---------------------------------------------------------------------------------- shape
class Reshape(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, shape: tuple[int, ...]) -> Array:
        ctx.saved = (x.shape,)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        return g.reshape(ctx.saved[0]), None


class Expand(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, shape: tuple[int, ...]) -> Array:
        ctx.saved = (x.shape,)
        return np.broadcast_to(x, shape)  # a read-only view, as PyTorch's expand

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        return _sum_to(g, ctx.saved[0]), None


class Transpose(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple[int, ...]) -> Array:
        ctx.saved = (axes,)
        return x.transpose(axes)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        axes = ctx.saved[0]
        inv = [0] * len(axes)
        for i, a in enumerate(axes):
            inv[a] = i
        return g.transpose(inv), None


def _shape_args(shape: tuple) -> tuple[int, ...]:
    """reshape(2, 3) and reshape((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"shape entries must be ints, got {shape!r}")
    return tuple(int(n) for n in shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """A tensor with the same data and a new shape (a view when the layout allows)."""
    shape = _shape_args(shape)
    if shape == x.shape:
        return x
    out_shape = shape
    n_unknown = [n for n in shape if n < 0]
    if len(n_unknown) > 1 or (n_unknown and n_unknown[0] != -1):
        raise ValueError(f"reshape: invalid shape {shape} (at most one -1, no other negatives)")
    known = math.prod(n for n in shape if n >= 0)
    if n_unknown:
        if known == 0 or x.size % known:
            raise ValueError(f"cannot reshape a tensor of shape {x.shape} into {shape}")
        out_shape = tuple(x.size // known if n == -1 else n for n in shape)
    elif known != x.size:
        raise ValueError(f"cannot reshape a tensor of shape {x.shape} into {shape}")
    return Reshape.apply(x, out_shape)


def view(x: Tensor, *shape: Any) -> Tensor:
    """Like reshape, but never copies: raises when the layout needs a copy."""
    out = reshape(x, *shape)
    if out.size and out is not x and not np.may_share_memory(out.data, x.data):
        raise RuntimeError(
            f"view of shape {out.shape} is not possible on this non-contiguous tensor of shape "
            f"{x.shape}; use reshape() (which copies)"
        )
    return out


def flatten(x: Tensor, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge axes ``start_axis..end_axis`` (all by default) into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    s = _norm_axis(start_axis, x.ndim)
    e = _norm_axis(end_axis, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    shape = x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :]
    return reshape(x, shape)


def squeeze(x: Tensor, axis: Any = None) -> Tensor:
    """Remove axes of size 1 (all of them, or the given ones, which must have size 1)."""
    axes = _norm_axes(axis, x.ndim)
    if axes is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} has size {x.shape[a]}, not 1")
    return Reshape.apply(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """Insert an axis of size 1 at ``axis`` (an index of the result, may be negative)."""
    a = _norm_axis(axis, x.ndim + 1)
    return Reshape.apply(x, x.shape[:a] + (1,) + x.shape[a:])


def expand(x: Tensor, *shape: Any) -> Tensor:
    """Broadcast to ``shape`` without copying (-1 keeps an axis); the result is read-only."""
    shape = _shape_args(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to fewer axes {shape}")
    shape = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"expand: shape {x.shape} cannot be broadcast to {shape}") from None
    if shape == x.shape:
        return x
    return Expand.apply(x, shape)


broadcast_to = expand


def permute(x: Tensor, *axes: Any) -> Tensor:
    """Reorder the axes: the result's axis i is the input's axis ``axes[i]``."""
    axes = _shape_args(axes)
    if len(axes) != x.ndim:
        raise ValueError(f"permute: {len(axes)} axes given for a tensor of dimension {x.ndim}")
    norm = tuple(_norm_axis(a, x.ndim) for a in axes)
    if sorted(norm) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes")
    if norm == tuple(range(x.ndim)):
        return x
    return Transpose.apply(x, norm)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """No axes: reverse them (NumPy). Two axes on a tensor of more than two dimensions: swap
    them (PyTorch). Otherwise ``axes`` is a full permutation (NumPy)."""
    axes = _shape_args(axes) if axes else ()
    if not axes:
        return Transpose.apply(x, tuple(range(x.ndim - 1, -1, -1))) if x.ndim > 1 else x
    if len(axes) == 2 and x.ndim != 2:
        return swapaxes(x, axes[0], axes[1])
    return permute(x, axes)


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    a, b = _norm_axis(axis1, x.ndim), _norm_axis(axis2, x.ndim)
    if a == b:
        return x
    perm = list(range(x.ndim))
    perm[a], perm[b] = b, a
    return Transpose.apply(x, tuple(perm))


# ---------------------------------------------------------------------------------- indexing
def _is_basic_index(idx: Any) -> bool:
    """True when no element can be selected twice (no integer-array index), so the backward
    can assign instead of scatter-adding."""
    items = idx if type(idx) is tuple else (idx,)
    for it in items:
        if isinstance(it, np.ndarray):
            if it.dtype != np.bool_:
                return False
        elif not (it is None or it is Ellipsis or isinstance(it, (int, slice, np.integer))):
            return False
    return True


class GetItem(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, idx: Any) -> Array:
        ctx.saved = (x.shape, x.dtype, idx)
        return x[idx]

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        shape, dtype, idx = ctx.saved
        grad = np.zeros(shape, dtype=g.dtype)
        if _is_basic_index(idx):
            grad[idx] = g
        else:  # integer arrays may pick an element several times: scatter-add
            np.add.at(grad, idx, g)
        return grad, None


def _index_item(it: Any) -> Any:
    if isinstance(it, Tensor):
        it = it.data
    elif isinstance(it, list):
        it = np.asarray(it)
        if it.size == 0:
            it = it.astype(np.intp)
    if isinstance(it, np.ndarray) and it.dtype.kind not in "iub":
        raise IndexError(f"tensors used as indices must be integer or bool, got dtype {it.dtype}")
    return it


def _index(idx: Any) -> Any:
    t = type(idx)
    if t is int or t is slice:
        return idx
    if t is tuple:
        return tuple(_index_item(i) for i in idx)
    return _index_item(idx)


def getitem(x: Tensor, idx: Any) -> Tensor:
    """``x[idx]``: basic (ints, slices with steps, None, Ellipsis), integer-array and boolean
    mask indexing with NumPy's rules; the gradient is scattered back (summing repeats)."""
    return GetItem.apply(x, _index(idx))


def setitem(x: Tensor, idx: Any, value: Any) -> None:
    """``x[idx] = value`` in place, for tensors outside the graph (or under no_grad)."""
    if _state.enabled:
        if x.requires_grad:
            raise RuntimeError(
                "in-place assignment to a tensor that requires grad; do it under "
                "`with deepcore.no_grad():` or build the result with where()/concat()"
            )
        if isinstance(value, Tensor) and value.requires_grad:
            raise RuntimeError(
                "assigning a tensor that requires grad into one that does not would drop its "
                "gradient; build the result with where()/concat() instead"
            )
    x.data[_index(idx)] = value.data if isinstance(value, Tensor) else value


# ---------------------------------------------------------------------------------- joining
class Concat(Function):
    @staticmethod
    def forward(ctx: Context, *xs: Array, axis: int) -> Array:
        ctx.saved = (axis, [x.shape[axis] for x in xs])
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        axis, sizes = ctx.saved
        return tuple(np.split(g, np.cumsum(sizes)[:-1], axis=axis))


class Stack(Function):
    @staticmethod
    def forward(ctx: Context, *xs: Array, axis: int) -> Array:
        ctx.saved = (axis,)
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        gm = np.moveaxis(g, ctx.saved[0], 0)
        return tuple(gm[i] for i in range(gm.shape[0]))


class Split(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, points: list[int], axis: int) -> tuple:
        ctx.saved = (axis,)
        return tuple(np.split(x, points, axis=axis))

    @staticmethod
    def backward(ctx: Context, *gs: Array) -> tuple:
        return np.concatenate(gs, axis=ctx.saved[0]), None, None


def _tensors(xs: Any, name: str) -> list[Tensor]:
    if isinstance(xs, Tensor) or not isinstance(xs, Sequence):
        raise TypeError(f"{name} expects a sequence of tensors, got {type(xs).__name__}")
    if len(xs) == 0:
        raise ValueError(f"{name} needs at least one tensor")
    ts = [x if isinstance(x, Tensor) else tensor(x) for x in xs]
    dtypes = {t.dtype for t in ts}
    if len(dtypes) > 1:
        dt = _float_of(*dtypes)
        ts = [t if t.dtype == dt else t.astype(dt) for t in ts]
    return ts


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (all other axes must match)."""
    ts = _tensors(tensors, "concat")
    nd = ts[0].ndim
    if nd == 0:
        raise ValueError("concat: zero-dimensional tensors cannot be concatenated; use stack")
    ax = _norm_axis(axis, nd)
    for i, t in enumerate(ts):
        if (
            t.ndim != nd
            or t.shape[:ax] + t.shape[ax + 1 :] != ts[0].shape[:ax] + ts[0].shape[ax + 1 :]
        ):
            raise ValueError(
                f"concat: tensor {i} has shape {t.shape}, incompatible with {ts[0].shape} "
                f"(all axes but {ax} must match)"
            )
    return Concat.apply(*ts, axis=ax)


concatenate = concat


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    ts = _tensors(tensors, "stack")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has {ts[0].shape}")
    return Stack.apply(*ts, axis=_norm_axis(axis, ts[0].ndim + 1))


def split(x: Tensor, indices_or_sections: Any, axis: int = 0) -> tuple[Tensor, ...]:
    """NumPy's split: an int n gives n equal parts (it must divide the axis); a list gives the
    split points. Returns a tuple of views."""
    ax = _norm_axis(axis, x.ndim)
    n = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {ax} of size {n} cannot be split into {k} equal parts")
        points = [n // k * i for i in range(1, k)]
    else:
        points = [int(p) for p in indices_or_sections]
    return Split.apply(x, points, ax)


# ---------------------------------------------------------------------------------- where
class Where(Function):
    @staticmethod
    def forward(ctx: Context, cond: Array, a: Any, b: Any) -> Array:
        ctx.saved = (cond,)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        cond = ctx.saved[0]
        _, pa, pb = ctx.parents
        return (
            None,
            None if pa is None else _sum_to(np.where(cond, g, 0), pa.shape),
            None if pb is None else _sum_to(np.where(cond, 0, g), pb.shape),
        )


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if cond else b`` with broadcasting; gradients flow to a and b."""
    c = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
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


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


# ---------------------------------------------------------------------------------- elementwise
def _check_broadcast(a: Any, b: Any, op: str) -> None:
    try:
        np.broadcast_shapes(_shape_of(_data(a)), _shape_of(_data(b)))
    except ValueError:
        raise ValueError(
            f"{op}: shapes {_shape_of(_data(a))} and {_shape_of(_data(b))} cannot be broadcast "
            "together"
        ) from None


def _binary_op(fn: type[Function], name: str, reflected: bool = False) -> Any:
    apply = fn.apply

    def op(self: Tensor, other: Any) -> Any:
        # hot path (see [Note: apply fast path]): two tensors of one dtype need no coercion
        if type(other) is Tensor and other.data.dtype is self.data.dtype:
            try:
                return apply(other, self) if reflected else apply(self, other)
            except ValueError:
                _check_broadcast(self, other, name)
                raise
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        try:
            return _binary(fn, o, self) if reflected else _binary(fn, self, o)
        except ValueError:
            _check_broadcast(self, o, name)  # a clearer message for the common mistake
            raise

    op.__name__ = name
    return op


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


def div(a: Any, b: Any) -> Tensor:
    """Elementwise true division with broadcasting; integer / integer gives float32."""
    a2, b2 = _coerce(a), _coerce(b)
    return _div(*_div_operands(a2, b2))


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


def clip(x: Tensor, min: Scalar | None = None, max: Scalar | None = None) -> Tensor:  # noqa: A002
    """Limit values to [min, max] (either may be None); the gradient passes inside the range."""
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


# ---------------------------------------------------------------------------------- in place
def _inplace(np_op: Any, fn: type[Function], name: str) -> Any:
    def op(self: Tensor, other: Any) -> Any:
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        if _state.enabled and (self.requires_grad or (isinstance(o, Tensor) and o.requires_grad)):
            if self.requires_grad and self._ctx is None:
                raise RuntimeError(
                    f"a leaf tensor that requires grad is used in an in-place operation ({name});"
                    " update it under `with deepcore.no_grad():`"
                )
            # a graph is being recorded: compute out of place and rebind the name, so the
            # gradient stays correct (the old tensor's saved values are untouched)
            return _binary(fn, self, o)
        np_op(self.data, o.data if isinstance(o, Tensor) else o, out=self.data)
        return self

    op.__name__ = name
    return op


# ---------------------------------------------------------------------------------- creation
def _creation_dtype(dtype: Any) -> Any:
    return np.float32 if dtype is None else _resolve_dtype(dtype)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    return Tensor(np.zeros(_shape_args(shape), _creation_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(_shape_args(shape), _creation_dtype(dtype)), requires_grad)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (its values are whatever the memory held)."""
    return Tensor(np.empty(_shape_args(shape), _creation_dtype(dtype)), requires_grad)


def full(shape: Any, fill_value: Scalar, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``."""
    shape = _shape_args((shape,) if isinstance(shape, (int, np.integer)) else (shape,))
    return Tensor(np.full(shape, fill_value, _creation_dtype(dtype)), requires_grad)


def _like_dtype(x: Tensor, dtype: Any) -> Any:
    return x.dtype if dtype is None else _resolve_dtype(dtype)


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(x.shape, _like_dtype(x, dtype)), requires_grad)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(x.shape, _like_dtype(x, dtype)), requires_grad)


def full_like(
    x: Tensor, fill_value: Scalar, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    return Tensor(np.full(x.shape, fill_value, _like_dtype(x, dtype)), requires_grad)


def arange(
    start: Scalar,
    stop: Scalar | None = None,
    step: Scalar = 1,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``arange(stop)`` / ``arange(start, stop, step)``: int64 for integer arguments, else
    float32 (``dtype`` overrides)."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        ints = _bi.all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dt = np.int64 if ints else np.float32
    else:
        dt = _resolve_dtype(dtype)
    if step == 0:
        raise ValueError("arange: step must not be zero")
    return Tensor(np.arange(start, stop, step).astype(dt), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix."""
    return Tensor(np.eye(n, m, dtype=_creation_dtype(dtype)), requires_grad)


def _float_dtype(dtype: Any, name: str) -> Any:
    dt = _creation_dtype(dtype)
    if np.dtype(dt).kind != "f":
        raise TypeError(f"{name}: dtype must be float32 or float64, got {np.dtype(dt)}")
    return dt


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ``deepcore.get_rng()`` (seeded by ``manual_seed``)."""
    dt = _float_dtype(dtype, "randn")
    return Tensor(get_rng().standard_normal(_shape_args(shape), dtype=dt), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from ``deepcore.get_rng()``."""
    dt = _float_dtype(dtype, "rand")
    return Tensor(get_rng().random(_shape_args(shape), dtype=dt), requires_grad)


def randint(low: int, high: int | None = None, size: Any = (), dtype: Any = None) -> Tensor:
    """Integers in [low, high) (or [0, low)) from ``deepcore.get_rng()``; int64 by default."""
    if high is None:
        low, high = 0, low
    dt = np.int64 if dtype is None else _resolve_dtype(dtype)
    size = _shape_args((size,) if isinstance(size, (int, np.integer)) else (size,))
    return Tensor(get_rng().integers(low, high, size=size).astype(dt))


# ---------------------------------------------------------------------------------- Tensor API
def _compare(np_fn: Any, name: str) -> Any:
    def op(self: Tensor, other: Any) -> Any:
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        return Tensor._wrap(np_fn(self.data, o.data if isinstance(o, Tensor) else o))

    op.__name__ = name
    return op


def _activation(name: str, with_axis: bool = False) -> Any:
    if with_axis:

        def act_axis(self: Tensor, axis: int = -1) -> Tensor:
            return getattr(_nnf(), name)(self, axis=axis)

        act_axis.__name__ = name
        act_axis.__doc__ = f"deepcore.nn.functional.{name}(self, axis=axis)"
        return act_axis

    def act(self: Tensor) -> Tensor:
        return getattr(_nnf(), name)(self)

    act.__name__ = name
    act.__doc__ = f"deepcore.nn.functional.{name}(self)"
    return act


def _truediv(self: Tensor, other: Any) -> Any:
    o = _coerce(other)
    if o is NotImplemented:
        return NotImplemented
    return _div(*_div_operands(self, o))


def _rtruediv(self: Tensor, other: Any) -> Any:
    o = _coerce(other)
    if o is NotImplemented:
        return NotImplemented
    return _div(*_div_operands(o, self))


def _matmul_op(self: Tensor, other: Any) -> Any:
    if not isinstance(other, (Tensor, np.ndarray, list)):
        return NotImplemented
    return matmul(self, other)


def _rmatmul_op(self: Tensor, other: Any) -> Any:
    if not isinstance(other, (Tensor, np.ndarray, list)):
        return NotImplemented
    return matmul(other, self)


def _method_reshape(self: Tensor, *shape: Any) -> Tensor:
    return reshape(self, *shape)


def _iter(self: Tensor) -> Any:
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (getitem(self, i) for i in range(self.shape[0]))


def _fill_(self: Tensor, value: Scalar) -> Tensor:
    setitem(self, Ellipsis, value)
    return self


def _zero_(self: Tensor) -> Tensor:
    return _fill_(self, 0)


_METHODS: dict[str, Any] = {
    # arithmetic operators
    "__add__": _binary_op(Add, "add"),
    "__radd__": _binary_op(Add, "add", reflected=True),
    "__sub__": _binary_op(Sub, "sub"),
    "__rsub__": _binary_op(Sub, "sub", reflected=True),
    "__mul__": _binary_op(Mul, "mul"),
    "__rmul__": _binary_op(Mul, "mul", reflected=True),
    "__truediv__": _truediv,
    "__rtruediv__": _rtruediv,
    "__pow__": _binary_op(Pow, "pow"),
    "__rpow__": _binary_op(Pow, "pow", reflected=True),
    "__matmul__": _matmul_op,
    "__rmatmul__": _rmatmul_op,
    "__neg__": lambda self: Neg.apply(self),
    "__pos__": lambda self: self,
    "__abs__": abs,
    "__iadd__": _inplace(np.add, Add, "+="),
    "__isub__": _inplace(np.subtract, Sub, "-="),
    "__imul__": _inplace(np.multiply, Mul, "*="),
    "__itruediv__": _inplace(np.true_divide, Div, "/="),
    # comparisons: bool tensors, no gradient
    "__lt__": _compare(np.less, "__lt__"),
    "__le__": _compare(np.less_equal, "__le__"),
    "__gt__": _compare(np.greater, "__gt__"),
    "__ge__": _compare(np.greater_equal, "__ge__"),
    "__eq__": _compare(np.equal, "__eq__"),
    "__ne__": _compare(np.not_equal, "__ne__"),
    # logical / bitwise on bool and integer tensors (masks): no gradient
    "__and__": _compare(np.bitwise_and, "__and__"),
    "__rand__": _compare(np.bitwise_and, "__rand__"),
    "__or__": _compare(np.bitwise_or, "__or__"),
    "__ror__": _compare(np.bitwise_or, "__ror__"),
    "__xor__": _compare(np.bitwise_xor, "__xor__"),
    "__rxor__": _compare(np.bitwise_xor, "__rxor__"),
    "__invert__": lambda self: Tensor._wrap(np.invert(self.data)),
    "__getitem__": getitem,
    "__setitem__": setitem,
    "__iter__": _iter,
    # named methods
    "add": add,
    "sub": sub,
    "mul": mul,
    "div": div,
    "pow": pow,
    "neg": neg,
    "exp": exp,
    "log": log,
    "sqrt": sqrt,
    "abs": abs,
    "clip": clip,
    "clamp": clip,
    "maximum": maximum,
    "minimum": minimum,
    "matmul": matmul,
    "sum": sum,
    "mean": mean,
    "max": max,
    "min": min,
    "var": var,
    "std": std,
    "argmax": argmax,
    "argmin": argmin,
    "reshape": _method_reshape,
    "view": view,
    "flatten": flatten,
    "squeeze": squeeze,
    "unsqueeze": unsqueeze,
    "expand": expand,
    "broadcast_to": expand,
    "permute": permute,
    "transpose": transpose,
    "swapaxes": swapaxes,
    "T": property(lambda self: transpose(self)),
    "mT": property(lambda self: swapaxes(self, -1, -2)),
    "astype": cast,
    "float": lambda self: cast(self, np.float32),
    "double": lambda self: cast(self, np.float64),
    "long": lambda self: cast(self, np.int64),
    "bool": lambda self: cast(self, np.bool_),
    "clone": lambda self: Clone.apply(self),
    "fill_": _fill_,
    "zero_": _zero_,
    "any": lambda self, axis=None: Tensor._wrap(np.asarray(np.any(self.data, axis=axis))),
    "all": lambda self, axis=None: Tensor._wrap(np.asarray(np.all(self.data, axis=axis))),
    # activations live in deepcore.nn.functional (fused native kernels)
    "relu": _activation("relu"),
    "sigmoid": _activation("sigmoid"),
    "tanh": _activation("tanh"),
    "softmax": _activation("softmax", with_axis=True),
    "log_softmax": _activation("log_softmax", with_axis=True),
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
del _name, _fn
