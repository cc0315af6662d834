"""Indexing: ``x[idx]`` (basic, integer-array and boolean-mask indexing with NumPy's rules; the
gradient is scattered back), ``x[idx] = v`` outside the graph, and the indexing functions
``take``, ``index_select``, ``take_along_axis``, ``masked_fill``, ``nonzero``, ``one_hot``.

[Note: index errors] An index out of range raises ``IndexError`` (``x[5]`` on 3 rows,
``take``/``index_select``/``take_along_axis`` with an index >= the axis size or < -size), as
Python and NumPy do, and a float tensor used as an index too; PyTorch raises IndexError for
the first and RuntimeError for the functions. So does every other index *value* outside its
range: gather / scatter indices (ops/_scatter.py), class labels of the cross-entropies and
nll_loss (``target label 7 ... out of range for 4 classes``, as PyTorch's "Target 7 is out of
bounds"), Embedding indices and max_unpool indices. Negative indices count from the end, as in
NumPy. Every other bad argument (an axis out of range, a mask that does not broadcast) is a
ValueError / TypeError naming it, the project's rule.

[Note: advanced index placement] ``x[idx]`` follows NumPy's rules for where the dimensions of
integer-array (advanced) indices go: adjacent advanced indices replace their axes in place
(x[:, [0, 1], [2, 3]] on (A, B, C) is (A, 2)); advanced indices separated by a slice, None or
Ellipsis put their broadcast dimensions first (x[[0, 1], :, [2, 3]] is (2, B)). A Python int
next to an array index counts as an advanced index in NumPy, so x[0, :, [1, 2]] on (A, B, C)
is (2, B) here and in NumPy but (B, 2) in PyTorch, which applies the int first: write
x[0][:, [1, 2]] for PyTorch's result. The gradient of every form is the scatter-add of the
output gradient (repeated indices accumulate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_int, is_real
from ..autograd import Context, Function, _state
from ..tensor import Tensor
from ._common import Array, _as_tensor, _broadcasts_to, _norm_axis
from ._elementwise import where

__all__ = [
    "getitem",
    "setitem",
    "take",
    "index_select",
    "take_along_axis",
    "masked_fill",
    "nonzero",
    "one_hot",
]


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
        xp = array_module(g)
        grad = xp.zeros(shape, dtype=g.dtype)
        if _is_basic_index(idx):
            grad[idx] = g
        else:  # integer arrays may pick an element several times: scatter-add
            xp.add.at(grad, idx, g)
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


# ----------------------------------------------------------------------------- functions
def _int_index(index: Any, name: str, arg: str = "indices") -> Array:
    """An integer index array (Tensor, array or list of ints); bool and float are TypeErrors."""
    d = index.data if isinstance(index, Tensor) else index
    if not isinstance(d, np.ndarray):
        d = np.asarray(d)
        if d.size == 0:
            d = d.astype(np.int64)
    if d.dtype.kind not in "iu":
        raise TypeError(f"{name}: {arg} must be integers, got dtype {d.dtype}")
    return d


def _check_range(idx: Array, n: int, name: str, axis: int) -> None:
    """IndexError for an index outside [-n, n) (see [Note: index errors])."""
    if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
        bad = idx[(idx < -n) | (idx >= n)].reshape(-1)[0]
        raise IndexError(f"{name}: index {int(bad)} is out of range for axis {axis} of size {n}")


def take(x: Tensor, indices: Any, axis: int | None = None) -> Tensor:
    """NumPy's / Keras's ``take``: the elements at ``indices`` along ``axis`` (of the
    flattened tensor when None); the result has the index's shape in place of that axis.
    Differentiable in x (repeated indices accumulate)."""
    x = _as_tensor(x, "take")
    idx = _int_index(indices, "take")
    if axis is None:
        x, ax = x.reshape(-1), 0
    else:
        ax = _norm_axis(axis, x.ndim)
    _check_range(idx, x.shape[ax], "take", ax)
    return GetItem.apply(x, (slice(None),) * ax + (idx,))


def index_select(x: Tensor, axis: int = 0, index: Any = None, *, dim: int | None = None) -> Tensor:
    """PyTorch's ``index_select(input, dim, index)``: the entries of a 1-D integer ``index``
    along ``axis``."""
    if dim is not None:
        axis = dim
    idx = _int_index(index, "index_select", "index")
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 0-D or 1-D, got shape {idx.shape}")
    x = _as_tensor(x, "index_select")
    if x.ndim == 0:
        raise ValueError("index_select: x must have at least one dimension")
    return take(x, idx.reshape(-1), axis)


def _along_axis_index(shape: tuple[int, ...], idx: Array, axis: int) -> tuple:
    """The advanced-index tuple that picks x[..., idx[...], ...] along ``axis`` (open aranges
    on the other axes, broadcast against idx)."""
    xp = array_module(idx)
    nd = len(shape)
    out = []
    for d in range(nd):
        if d == axis:
            out.append(idx)
        else:
            out.append(xp.arange(shape[d]).reshape((1,) * d + (-1,) + (1,) * (nd - d - 1)))
    return tuple(out)


def take_along_axis(x: Tensor, indices: Any, axis: int | None = None) -> Tensor:
    """NumPy's / Keras's ``take_along_axis`` (PyTorch's ``gather`` with broadcasting):
    out[..., i, ...] = x[..., indices[..., i, ...], ...] along ``axis`` (the flattened tensor
    when None); ``indices`` has x's number of dimensions and broadcasts against x on the
    others. Differentiable in x (repeated indices accumulate)."""
    x = _as_tensor(x, "take_along_axis")
    idx = _int_index(indices, "take_along_axis")
    if axis is None:  # the flattened tensor, with a 1-D index
        x, ax = x.reshape(-1), 0
    else:
        ax = _norm_axis(axis, x.ndim)
    if idx.ndim != x.ndim:
        raise ValueError(
            f"take_along_axis: indices must have x's {x.ndim} dimensions, got shape {idx.shape}"
        )
    others = [(a, b) for d, (a, b) in enumerate(zip(x.shape, idx.shape)) if d != ax]
    if any(a != b and a != 1 and b != 1 for a, b in others):
        raise ValueError(
            f"take_along_axis: indices of shape {idx.shape} do not broadcast against x of shape "
            f"{x.shape} outside axis {ax}"
        )
    _check_range(idx, x.shape[ax], "take_along_axis", ax)
    # x's size-1 axes broadcast against the index: their arange(1) index does it
    return GetItem.apply(x, _along_axis_index(x.shape, idx, ax))


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    """``value`` where the bool ``mask`` (broadcast to x's shape) is True, x elsewhere.
    ``value`` a number or a 0-d Tensor (which receives the gradient of the filled places)."""
    x = _as_tensor(x, "masked_fill")
    m = mask.data if isinstance(mask, Tensor) else mask
    if not isinstance(m, np.ndarray) or m.dtype != np.bool_:
        raise TypeError(
            f"masked_fill: mask must be a bool tensor, got {getattr(m, 'dtype', type(m).__name__)}"
        )
    if not _broadcasts_to(m.shape, x.shape):
        raise ValueError(f"masked_fill: mask of shape {m.shape} does not broadcast to {x.shape}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(
                f"masked_fill: value must be a number or a 0-d tensor, got {value.shape}"
            )
    elif not is_real(value):
        raise TypeError(f"masked_fill: value must be a number, got {type(value).__name__}")
    if x.dtype.kind != "f":
        v = value.data if isinstance(value, Tensor) else value
        xp = array_module(x.data)
        return Tensor._wrap(xp.where(m, xp.asarray(v).astype(x.dtype), x.data))
    if isinstance(value, Tensor) and value.dtype != x.dtype:
        value = value.astype(x.dtype)
    return where(m, value, x)


def nonzero(x: Tensor, as_tuple: bool = False) -> Any:
    """Indices of the nonzero elements: an (n, ndim) int64 tensor (PyTorch's default), or with
    ``as_tuple=True`` one 1-D index tensor per axis (NumPy's / Keras's form, usable as
    ``x[nonzero(x, as_tuple=True)]``)."""
    d = _as_tensor(x, "nonzero").data
    xp = array_module(d)
    if d.ndim == 0:
        n = int(bool(d))
        if as_tuple:
            return (Tensor._wrap(xp.zeros(n, np.int64)),)
        return Tensor._wrap(xp.zeros((n, 0), np.int64))
    idx = tuple(i.astype(np.int64) for i in xp.nonzero(d))
    if as_tuple:
        return tuple(Tensor._wrap(i) for i in idx)
    return Tensor._wrap(xp.stack(idx, axis=1))


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: Any = None) -> Tensor:
    """Keras's ``one_hot``: a new axis (at ``axis``, last by default) of ``num_classes`` with 1
    at each label; labels outside [0, num_classes) give a row of zeros, as in Keras. float32
    unless ``dtype`` says otherwise; integer (or whole-number float) labels."""
    from ..tensor import _resolve_dtype

    if not is_int(num_classes):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be >= 1, got {num_classes}")
    d = x.data if isinstance(x, Tensor) else np.asarray(x)
    if d.dtype.kind == "f":
        if not bool((d == array_module(d).trunc(d)).all()):
            raise ValueError("one_hot: float labels must be whole numbers")
        d = d.astype(np.int64)
    elif d.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {d.dtype}")
    xp = array_module(d)
    out = d[..., None] == xp.arange(num_classes)
    ax = _norm_axis(axis, d.ndim + 1)
    if ax != d.ndim:
        out = xp.moveaxis(out, -1, ax)
    dt = np.float32 if dtype is None else _resolve_dtype(dtype)
    return Tensor._wrap(xp.ascontiguousarray(out.astype(dt)))
