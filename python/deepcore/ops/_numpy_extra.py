"""The rest of Keras 3's NumPy-style, math and core ``keras.ops`` names: logical reductions,
``append``/``hstack``/``vstack``, ``average``, ``diagonal``/``trace``, ``diff``, ``dot``,
``outer``, ``tensordot``, ``rot90``, ``linspace``/``logspace``/``tri``/``identity``,
``meshgrid``, ``nan_to_num``, ``divide_no_nan``, ``isin``, ``signbit``, the bitwise ops,
``median``/``quantile``, ``slice``/``slice_update``, ``segment_sum``/``segment_max``,
``in_top_k``, ``unravel_index`` and the small conversions (``array``, ``copy``, ``dtype``,
``is_tensor``, ``ndim``, ``size``).

Most are compositions of differentiable ops (so autograd needs nothing new); ``diagonal``,
``nan_to_num`` and the segment reductions are Functions of their own; the predicates, integer
and creation ops have no gradient. Semantics are NumPy's where Keras follows NumPy (``dot``,
``quantile``'s methods, ``meshgrid``'s "xy" indexing); creation ops default to float32, Keras's
default float.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..autograd import Function
from ..tensor import Tensor
from ._common import _norm_axes, _norm_axis
from ._elementwise import div, mul, where
from ._indexing import getitem, take_along_axis
from ._keras import convert_to_tensor
from ._matmul import matmul
from ._rearrange import flip
from ._reductions import mean
from ._reductions import sum as _sum
from ._shape import concat, expand, moveaxis, permute, reshape, swapaxes
from ._sorting import sort_values

__all__ = [
    "all",
    "any",
    "append",
    "average",
    "count_nonzero",
    "diagonal",
    "trace",
    "diff",
    "dot",
    "outer",
    "tensordot",
    "hstack",
    "vstack",
    "rot90",
    "ravel",
    "meshgrid",
    "nan_to_num",
    "divide_no_nan",
    "isin",
    "signbit",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_invert",
    "median",
    "quantile",
    "copy",
    "array",
    "dtype",
    "is_tensor",
    "ndim",
    "size",
    "unravel_index",
]

#: in ``deepcore.ops`` only, not ``deepcore.<name>``: names whose PyTorch function means
#: something else (``torch.median`` is the lower median and returns indices with a dim,
#: ``torch.meshgrid`` defaults to "ij", ``torch.count_nonzero`` is int64) and names that would
#: shadow Python builtins or modules in ``from deepcore import *``
NOT_TOP_LEVEL = (
    "median",
    "meshgrid",
    "count_nonzero",
    "copy",
    "array",
    "dtype",
    "size",
    "all",
    "any",
)


def _t(x: Any, fn: str, name: str = "x") -> Tensor:
    """``x`` as a Tensor by Keras's ``convert_to_tensor`` rules (NumPy arrays and scalars keep
    their dtype, Python floats are float32); TypeError naming the op and argument otherwise."""
    if isinstance(x, Tensor):
        return x
    try:
        t = convert_to_tensor(x)
    except (TypeError, ValueError):
        t = None
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a tensor, got {type(x).__name__}")
    return t


def _float(x: Any, fn: str, name: str = "x") -> Tensor:
    t = _t(x, fn, name)
    return t if t.dtype.kind == "f" else Tensor._wrap(t.data.astype(np.float32))


def _const(a: Any) -> Tensor:
    return Tensor._wrap(a)


# ------------------------------------------------------------------------ logical reductions
def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """True where every element along ``axis`` (all axes by default) is non-zero."""
    t = _t(x, "all")
    return _const(
        array_module(t.data).all(t.data, axis=_norm_axes(axis, t.ndim), keepdims=keepdims)
    )


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """True where some element along ``axis`` (all axes by default) is non-zero."""
    t = _t(x, "any")
    return _const(
        array_module(t.data).any(t.data, axis=_norm_axes(axis, t.ndim), keepdims=keepdims)
    )


def count_nonzero(x: Any, axis: Any = None) -> Tensor:
    """The number of non-zero elements along ``axis`` (all axes by default), int32 as Keras."""
    t = _t(x, "count_nonzero")
    xp = array_module(t.data)
    n = xp.count_nonzero(t.data, axis=_norm_axes(axis, t.ndim))
    return _const(xp.asarray(n, dtype="int32"))


# ---------------------------------------------------------------------------- joining, diffs
def ravel(x: Any) -> Tensor:
    """x flattened to 1-D (differentiable)."""
    return reshape(_t(x, "ravel"), -1)


def append(x1: Any, x2: Any, axis: int | None = None) -> Tensor:
    """x2 appended to x1 along ``axis``; both flattened first when ``axis`` is None."""
    a, b = _t(x1, "append", "x1"), _t(x2, "append", "x2")
    if axis is None:
        return concat([ravel(a), ravel(b)], 0)
    return concat([a, b], axis)


def hstack(xs: Sequence[Any]) -> Tensor:
    """Concatenation along axis 1 (axis 0 for 1-D tensors), as NumPy's."""
    ts = [_t(x, "hstack", "xs") for x in xs]
    if not ts:
        raise ValueError("hstack: xs must hold at least one tensor")
    return concat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(xs: Sequence[Any]) -> Tensor:
    """Concatenation along axis 0, 1-D tensors taken as rows (1, n)."""
    ts = [_t(x, "vstack", "xs") for x in xs]
    if not ts:
        raise ValueError("vstack: xs must hold at least one tensor")
    return concat([reshape(t, (1, -1)) if t.ndim < 2 else t for t in ts], 0)


def _axis_slice(ndim: int, axis: int, s: builtins.slice) -> tuple:
    return (builtins.slice(None),) * axis + (s,)


def diff(a: Any, n: int = 1, axis: int = -1) -> Tensor:
    """The n-th discrete difference along ``axis`` (differentiable)."""
    t = _t(a, "diff", "a")
    if not is_int(n) or n < 0:
        raise ValueError(f"diff: n must be a non-negative int, got {n!r}")
    if t.ndim == 0:
        raise ValueError("diff: a must have at least one dimension")
    ax = _norm_axis(axis, t.ndim)
    for _ in range(int(n)):  # n differences of the whole tensor (not a loop over elements)
        if t.shape[ax] == 0:
            break
        hi = getitem(t, _axis_slice(t.ndim, ax, builtins.slice(1, None)))
        lo = getitem(t, _axis_slice(t.ndim, ax, builtins.slice(None, -1)))
        t = hi - lo
    return t


def average(x: Any, axis: Any = None, weights: Any = None) -> Tensor:
    """mean(x) without ``weights``, else sum(x · w) / sum(w) along ``axis`` (a 1-D weights
    vector applies along a single axis, as NumPy's)."""
    t = _float(x, "average")
    if weights is None:
        return mean(t, axis)
    w = _float(weights, "average", "weights")
    if w.shape != t.shape:
        if axis is None or w.ndim != 1:
            raise ValueError(
                f"average: weights of shape {w.shape} must match x's {t.shape}, or be 1-D "
                "along one axis"
            )
        ax = _norm_axis(axis, t.ndim)
        if w.shape[0] != t.shape[ax]:
            raise ValueError(
                f"average: weights of length {w.shape[0]} do not match axis {axis} of x "
                f"({t.shape[ax]})"
            )
        shape = [1] * t.ndim
        shape[ax] = w.shape[0]
        w = reshape(w, tuple(shape))
    return _sum(t * w, axis) / _sum(w if w.shape == t.shape else expand(w, *t.shape), axis)


# ------------------------------------------------------------------------- diagonal, trace
def _diag_index(xp: Any, shape: tuple, offset: int, a1: int, a2: int) -> tuple:
    """(rows, cols) of the diagonal ``offset`` of axes a1, a2 (moved last)."""
    n1, n2 = shape[a1], shape[a2]
    r0, c0 = (0, offset) if offset >= 0 else (-offset, 0)
    k = max(0, min(n1 - r0, n2 - c0))
    return xp.arange(k) + r0, xp.arange(k) + c0


class _Diagonal(Function):
    @staticmethod
    def forward(ctx: Any, x: Any, offset: int, a1: int, a2: int) -> Any:
        ctx.shape, ctx.args = x.shape, (offset, a1, a2)
        return array_module(x).diagonal(x, offset, a1, a2).copy()

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        offset, a1, a2 = ctx.args
        xp = array_module(g)
        rows, cols = _diag_index(xp, ctx.shape, offset, a1, a2)
        rest = [i for i in range(len(ctx.shape)) if i not in (a1, a2)]
        moved = tuple(ctx.shape[i] for i in rest) + (ctx.shape[a1], ctx.shape[a2])
        gx = xp.zeros(moved, dtype=g.dtype)
        gx[..., rows, cols] = g
        inv = xp.argsort(xp.asarray(rest + [a1, a2]))
        return gx.transpose(tuple(int(i) for i in inv)), None, None, None


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The ``offset`` diagonal of the plane (axis1, axis2), as the last axis (NumPy's);
    differentiable."""
    t = _t(x, "diagonal")
    if t.ndim < 2:
        raise ValueError(f"diagonal: x must have at least 2 dimensions, got shape {t.shape}")
    a1, a2 = _norm_axis(axis1, t.ndim), _norm_axis(axis2, t.ndim)
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    if not is_int(offset):
        raise TypeError(f"diagonal: offset must be an int, got {offset!r}")
    return _Diagonal.apply(t, int(offset), a1, a2)


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The sum of the ``offset`` diagonal of the plane (axis1, axis2); differentiable."""
    return _sum(diagonal(x, offset, axis1, axis2), -1)


# ---------------------------------------------------------------------------------- products
def tensordot(x1: Any, x2: Any, axes: Any = 2) -> Tensor:
    """Sum of products over the last ``axes`` axes of x1 and the first of x2, or over the
    given pairs of axes (NumPy's); one matmul after a transpose and reshape."""
    a, b = _float(x1, "tensordot", "x1"), _float(x2, "tensordot", "x2")
    if is_int(axes):
        k = int(axes)
        if k < 0 or k > a.ndim or k > b.ndim:
            raise ValueError(f"tensordot: axes={k} is out of range for {a.shape} and {b.shape}")
        ax_a, ax_b = list(range(a.ndim - k, a.ndim)), list(range(k))
    else:
        try:
            ax_a, ax_b = ([s] if isinstance(s, (int, np.integer)) else list(s) for s in axes)
        except (TypeError, ValueError):
            raise TypeError(
                f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}"
            ) from None
        ax_a = [_norm_axis(int(i), a.ndim) for i in ax_a]
        ax_b = [_norm_axis(int(i), b.ndim) for i in ax_b]
    if len(ax_a) != len(ax_b) or builtins.any(a.shape[i] != b.shape[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError(
            f"tensordot: the summed axes {ax_a} of {a.shape} and {ax_b} of {b.shape} must match"
        )
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [j for j in range(b.ndim) if j not in ax_b]
    m = math.prod(a.shape[i] for i in free_a)
    n = math.prod(b.shape[j] for j in free_b)
    k = math.prod(a.shape[i] for i in ax_a)
    am = reshape(permute(a, *free_a, *ax_a), (m, k))
    bm = reshape(permute(b, *ax_b, *free_b), (k, n))
    return reshape(
        matmul(am, bm), tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b)
    )


def dot(x1: Any, x2: Any) -> Tensor:
    """NumPy's dot: a product with a scalar, the inner product of vectors, matmul when x2 is
    1-D or 2-D, otherwise the sum over x1's last axis and x2's second-to-last."""
    a, b = _float(x1, "dot", "x1"), _float(x2, "dot", "x2")
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if b.ndim <= 2:
        if a.shape[-1] != b.shape[0]:
            raise ValueError(f"dot: shapes {a.shape} and {b.shape} are not aligned")
        return matmul(a, b)
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 2]))


def outer(x1: Any, x2: Any) -> Tensor:
    """ravel(x1)[:, None] · ravel(x2)[None, :]."""
    a, b = _float(x1, "outer", "x1"), _float(x2, "outer", "x2")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def rot90(array: Any, k: int = 1, axes: tuple = (0, 1)) -> Tensor:
    """Rotation by 90° k times in the plane of ``axes``, from the first axis towards the
    second (NumPy's); differentiable."""
    t = _t(array, "rot90", "array")
    if t.ndim < 2:
        raise ValueError(f"rot90: array must have at least 2 dimensions, got shape {t.shape}")
    if len(axes) != 2:
        raise ValueError(f"rot90: axes must be two axes, got {axes!r}")
    a1, a2 = _norm_axis(axes[0], t.ndim), _norm_axis(axes[1], t.ndim)
    if a1 == a2:
        raise ValueError(f"rot90: the two axes must differ, got {axes!r}")
    k = int(k) % 4
    if k == 0:
        return t
    if k == 2:
        return flip(t, (a1, a2))
    if k == 1:
        return swapaxes(flip(t, a2), a1, a2)
    return flip(swapaxes(t, a1, a2), a2)


def meshgrid(*x: Any, indexing: str = "xy") -> list[Tensor]:
    """Coordinate grids from 1-D tensors (NumPy's "xy" or "ij" indexing); differentiable."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    ts = [ravel(_t(v, "meshgrid")) for v in x]
    shape = [t.shape[0] for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(ts):
        pos = i
        if indexing == "xy" and len(ts) >= 2 and i < 2:
            pos = 1 - i
        view = [1] * len(ts)
        view[pos] = t.shape[0]
        out.append(expand(reshape(t, tuple(view)), *shape))
    return out


# ------------------------------------------------------------------------------ element-wise
class _NanToNum(Function):
    @staticmethod
    def forward(ctx: Any, x: Any, nan: float, posinf: Any, neginf: Any) -> Any:
        xp = array_module(x)
        ctx.save_for_backward(x)
        return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple:
        (x,) = ctx.saved
        return g * array_module(x).isfinite(x), None, None, None


def nan_to_num(
    x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    """x with NaN, +inf and -inf replaced (by default 0 and the dtype's largest / lowest
    finite values); gradient 1 at finite elements, 0 at the replaced ones."""
    t = _t(x, "nan_to_num")
    if t.dtype.kind != "f":
        return t
    return _NanToNum.apply(t, float(nan), posinf, neginf)


def divide_no_nan(x1: Any, x2: Any) -> Tensor:
    """x1 / x2, and 0 where x2 == 0 (differentiable, with a zero gradient there)."""
    a, b = _float(x1, "divide_no_nan", "x1"), _float(x2, "divide_no_nan", "x2")
    zero = b.detach() == 0
    return where(zero, 0.0, div(a, where(zero, 1.0, b)))


def isin(x1: Any, x2: Any, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """True where an element of x1 occurs in x2 (False with ``invert``)."""
    a, b = _t(x1, "isin", "x1"), _t(x2, "isin", "x2")
    xp = array_module(a.data)
    return _const(xp.isin(a.data, b.data, assume_unique=assume_unique, invert=invert))


def signbit(x: Any) -> Tensor:
    """True where the sign bit is set (negative numbers and -0.0)."""
    t = _t(x, "signbit")
    return _const(array_module(t.data).signbit(t.data))


def _int_operands(fn: str, *xs: Any) -> list[Tensor]:
    ts = [_t(x, fn, n) for x, n in zip(xs, ("x", "y"))]
    for t, n in zip(ts, ("x", "y")):
        if t.dtype.kind not in "iub":
            raise TypeError(f"{fn}: {n} must be an integer or bool tensor, got {t.dtype}")
    return ts


def bitwise_and(x: Any, y: Any) -> Tensor:
    """Element-wise x & y of integer or bool tensors."""
    a, b = _int_operands("bitwise_and", x, y)
    return _const(array_module(a.data).bitwise_and(a.data, b.data))


def bitwise_or(x: Any, y: Any) -> Tensor:
    """Element-wise x | y of integer or bool tensors."""
    a, b = _int_operands("bitwise_or", x, y)
    return _const(array_module(a.data).bitwise_or(a.data, b.data))


def bitwise_xor(x: Any, y: Any) -> Tensor:
    """Element-wise x ^ y of integer or bool tensors."""
    a, b = _int_operands("bitwise_xor", x, y)
    return _const(array_module(a.data).bitwise_xor(a.data, b.data))


def bitwise_invert(x: Any) -> Tensor:
    """Element-wise ~x of an integer or bool tensor (``bitwise_not`` is the same op)."""
    (a,) = _int_operands("bitwise_invert", x)
    return _const(array_module(a.data).invert(a.data))


bitwise_not = bitwise_invert


# ------------------------------------------------------------------------ median, quantile
_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(
    x: Any, q: Any, axis: Any = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    """The q-th quantiles (q in [0, 1], a scalar or 1-D; leading output axis for 1-D q) over
    ``axis`` (all axes by default) with NumPy's methods; a NaN in a slice gives NaN.
    Differentiable: the sorted values it interpolates between receive the gradient."""
    fn = "quantile"
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"{fn}: method must be one of {_QUANTILE_METHODS}, got {method!r}")
    t = _float(x, fn)
    xp = array_module(t.data)
    try:
        qa = xp.asarray(q.data if isinstance(q, Tensor) else q, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{fn}: q must be a number or a 1-D sequence of numbers, got {q!r}"
        ) from None
    if qa.ndim > 1:
        raise ValueError(f"{fn}: q must be a number or a 1-D sequence of numbers, got {q!r}")
    if qa.size and not bool(((qa >= 0) & (qa <= 1)).all()):
        raise ValueError(f"{fn}: q must be in [0, 1], got {q!r}")
    axes = _norm_axes(axis, t.ndim) if t.ndim else ()
    if axes is None:
        axes = tuple(range(t.ndim))
    keep = [i for i in range(t.ndim) if i not in axes]
    kept_shape = tuple(t.shape[i] for i in keep)
    n = math.prod(t.shape[i] for i in axes)
    if n == 0:
        raise ValueError(f"{fn}: cannot take a quantile over an empty axis (shape {t.shape})")
    flat = reshape(permute(t, *keep, *axes), kept_shape + (n,))
    srt = sort_values(flat, -1)
    # the two sorted positions each quantile reads and the weight of the upper one
    pos = qa.reshape(-1) * (n - 1)
    lo = xp.floor(pos)
    hi = xp.minimum(lo + 1, n - 1)
    frac = pos - lo
    if method == "lower":
        hi, frac = lo, frac * 0
    elif method == "higher":
        lo = hi = xp.ceil(pos)
        frac = frac * 0
    elif method == "nearest":
        lo = hi = xp.around(pos)
        frac = frac * 0
    elif method == "midpoint":
        frac = (frac > 0) * 0.5

    def gather(i: Any) -> Tensor:
        index = xp.empty(kept_shape + (i.size,), dtype=np.int64)
        index[...] = i.astype(np.int64)
        return take_along_axis(srt, _const(index), -1)

    vlo, vhi = gather(lo), gather(hi)
    out = vlo + (vhi - vlo) * _const(frac.astype(t.dtype))  # (..., len(q))
    has_nan = xp.isnan(flat.data).any(axis=-1, keepdims=True)
    if has_nan.any():
        out = where(_const(has_nan), float("nan"), out)
    if keepdims:
        shape = [1 if i in axes else t.shape[i] for i in range(t.ndim)]
        out = reshape(moveaxis(out, -1, 0), (pos.size, *shape))
    else:
        out = moveaxis(out, -1, 0)
    return reshape(out, out.shape[1:]) if qa.ndim == 0 else out


def median(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The median over ``axis`` (the mean of the two middle values for an even count, as
    NumPy's; PyTorch's ``median`` takes the lower one); differentiable."""
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


# -------------------------------------------------------------------------------- conversions
def array(x: Any, dtype: Any = None) -> Tensor:
    """A tensor of ``x`` (``convert_to_tensor``)."""
    return convert_to_tensor(x, dtype)


def copy(x: Any) -> Tensor:
    """A copy of x (differentiable: the gradient passes through)."""
    t = _t(x, "copy")
    return t.clone() if t.dtype.kind == "f" else _const(t.data.copy())


def dtype(x: Any) -> str:
    """The dtype name of x ("float32", "int64", ...); Python floats are "float32" and ints
    "int32", Keras's defaults."""
    if isinstance(x, Tensor) or isinstance(x, np.ndarray):
        return np.dtype(x.dtype).name
    return np.dtype(convert_to_tensor(x).dtype).name


def is_tensor(x: Any) -> bool:
    """Whether x is a deepcore Tensor."""
    return isinstance(x, Tensor)


def ndim(x: Any) -> int:
    """The number of dimensions of x."""
    return len(x.shape) if isinstance(x, (Tensor, np.ndarray)) else len(np.shape(x))


def size(x: Any) -> int:
    """The number of elements of x."""
    shape = x.shape if isinstance(x, (Tensor, np.ndarray)) else np.shape(x)
    return math.prod(shape)


def unravel_index(indices: Any, shape: Any) -> tuple[Tensor, ...]:
    """The coordinates in ``shape`` of flat ``indices``, one int64 tensor per axis."""
    t = _t(indices, "unravel_index", "indices")
    if t.dtype.kind not in "iu":
        raise TypeError(f"unravel_index: indices must be integers, got {t.dtype}")
    dims = tuple(int(d) for d in shape)
    n = math.prod(dims)
    if t.size and (int(t.data.min()) < 0 or int(t.data.max()) >= n):
        raise ValueError(f"unravel_index: indices must be in [0, {n}) for shape {dims}")
    coords = array_module(t.data).unravel_index(t.data, dims)
    return tuple(_const(c.astype(np.int64)) for c in coords)
