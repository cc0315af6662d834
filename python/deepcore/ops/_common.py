"""What every op module shares: argument normalisation, dtype reconciliation, gradient shape
helpers. The conventions all ops follow are in deepcore/ops/__init__.py."""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..autograd import Function
from ..tensor import Tensor, tensor

Array = (
    np.ndarray
)  # a storage array: numpy.ndarray, or cupy.ndarray on "cuda" ([Note: array module])
Scalar = Union[int, float, bool]


def _xp(a: Any, b: Any) -> Any:
    """The array library of a binary op whose operands may be Python scalars."""
    return array_module(b if isinstance(a, (int, float, bool)) else a)


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
    if axes:  # ufunc.reduce: np.sum's Python wrapper costs ~2x
        g = array_module(g).add.reduce(g, axis=axes, keepdims=True)
    return g.reshape(shape)


def _expand_to(g: Array, kept: tuple[int, ...], shape: tuple[int, ...]) -> Array:
    """The gradient of a reduction: g (reduced shape) broadcast back to ``shape``. Materialised
    with one broadcasting copy, which is cheaper than np.broadcast_to for small arrays and
    gives later ops contiguous input."""
    out = array_module(g).empty(shape, g.dtype)
    out[...] = g.reshape(kept)
    return out


def _norm_axis(axis: int, ndim: int) -> int:
    if not is_int(axis):
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


def _shape_args(shape: tuple) -> tuple[int, ...]:
    """reshape(2, 3) and reshape((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not is_int(n):
            raise TypeError(f"shape entries must be ints, got {shape!r}")
    return tuple(int(n) for n in shape)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _check_broadcast(a: Any, b: Any, op: str) -> None:
    try:
        np.broadcast_shapes(_shape_of(_data(a)), _shape_of(_data(b)))
    except ValueError:
        raise ValueError(
            f"{op}: shapes {_shape_of(_data(a))} and {_shape_of(_data(b))} cannot be broadcast "
            "together"
        ) from None


def _as_tensor(x: Any, name: str) -> Tensor:
    """``x`` as a Tensor (lists and arrays converted); TypeError naming the op otherwise."""
    if isinstance(x, Tensor):
        return x
    try:
        return tensor(x)
    except TypeError:
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}") from None


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Does ``shape`` broadcast to exactly ``target`` (a mask or a weight for a tensor)?"""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False
