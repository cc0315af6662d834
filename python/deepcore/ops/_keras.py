"""Keras 3's ``keras.ops`` names over deepcore's ops ([Note: two audiences, one namespace] in
__init__.py).

Most Keras names are deepcore's own functions, which take Keras's argument names as well
(``zeros(shape=...)``, ``clip(x, x_min, x_max)``, ``transpose(x, axes=...)``,
``reshape(x, newshape=...)``, ``eye(N, M, k)``, ``where(condition)``); this module adds the
Keras spellings deepcore has under another name (``subtract``, ``multiply``, ``divide``,
``power``, ``mod``, ``negative``, ``absolute``, ``amax``, ``amin``), the conversions
(``convert_to_tensor``, ``convert_to_numpy``, ``shape``, ``stop_gradient``) and the Keras
meaning of the names Keras and PyTorch use differently (``KERAS_ONLY``: ``sort`` returns the
values, ``nonzero`` a tuple of index tensors).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array import array_module
from ..symbolic import KerasTensor
from ..tensor import Tensor, _resolve_dtype
from ._elementwise import abs as _abs
from ._elementwise import cast, clip, div, mul, neg, sub
from ._elementwise import pow as _pow
from ._indexing import getitem as _getitem
from ._indexing import nonzero as _nonzero
from ._math import remainder
from ._reductions import max as _max
from ._reductions import min as _min
from ._scatter import scatter as _torch_scatter
from ._scatter import scatter_add as _scatter_add
from ._shape import reshape as _reshape
from ._sorting import sort_values

__all__ = [
    "subtract",
    "multiply",
    "divide",
    "power",
    "mod",
    "negative",
    "absolute",
    "amax",
    "amin",
    "shape",
    "convert_to_tensor",
    "convert_to_numpy",
    "stop_gradient",
    "sort",
    "nonzero",
    "scatter",
    "scatter_update",
    "get_item",
    "saturate_cast",
]

#: names whose Keras meaning (here, in ``deepcore.ops``) differs from PyTorch's
#: (``deepcore.<name>``, ``Tensor.<name>``)
KERAS_ONLY = ("sort", "nonzero", "scatter")

subtract = sub
multiply = mul
divide = div
power = _pow
mod = remainder
negative = neg
absolute = _abs
amax = _max
amin = _min


def sort(x: Tensor, axis: int = -1) -> Tensor:
    """Keras's ``sort``: the values sorted along ``axis`` (stable)."""
    return sort_values(x, axis)


def nonzero(x: Tensor) -> tuple[Tensor, ...]:
    """Keras's ``nonzero``: one int64 index tensor per axis (NumPy's form)."""
    return _nonzero(x, as_tuple=True)


def shape(x: Any) -> tuple:
    """The shape as a tuple (None for unknown sizes of a symbolic tensor)."""
    if isinstance(x, (Tensor, KerasTensor, np.ndarray)):
        return tuple(x.shape)
    return tuple(np.shape(x))


def convert_to_tensor(x: Any, dtype: Any = None, sparse: Any = None, ragged: Any = None) -> Any:
    """A Tensor from a Tensor (cast to ``dtype`` if given), a NumPy array (its dtype kept;
    float16 is stored as float16 and computed in float32), or Python numbers and lists (floats
    become float32 and ints int32, Keras's default dtypes). A symbolic tensor is returned as it
    is."""
    if sparse or ragged:
        raise ValueError("convert_to_tensor: deepcore has no sparse or ragged tensors")
    if isinstance(x, KerasTensor):
        return x
    if isinstance(x, Tensor):
        return x if dtype is None else cast(x, dtype)
    if dtype is not None:
        return Tensor(np.asarray(x), dtype=_resolve_dtype(dtype))
    arr = np.asarray(x)
    if not isinstance(x, (np.ndarray, np.generic)):
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype("int32")
    elif arr.dtype.kind == "f" and arr.dtype not in (np.float16, np.float32, np.float64):
        arr = arr.astype(np.float32)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"convert_to_tensor: cannot make a tensor of dtype {arr.dtype}")
    return Tensor(arr)


def convert_to_numpy(x: Any) -> np.ndarray:
    """The values as a NumPy array (a Tensor's storage, detached from the graph)."""
    if isinstance(x, KerasTensor):
        raise TypeError(
            "convert_to_numpy: a KerasTensor is a symbolic placeholder with no values; call the "
            "model on data"
        )
    if isinstance(x, Tensor):
        return x.data
    return np.asarray(x)


def stop_gradient(x: Tensor) -> Tensor:
    """``x`` cut from the graph (Keras's ``stop_gradient``, PyTorch's ``detach``)."""
    return x.detach() if isinstance(x, Tensor) else convert_to_tensor(x)


def _nd_rows(fn: str, indices: Any, shape: tuple) -> tuple[Any, int]:
    """Keras's (N, k) index rows into the first k axes of ``shape`` as flat row numbers into
    those axes (IndexError for an index outside [0, size): see [Note: index errors])."""
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: indices must be integers, got dtype {idx.dtype}")
    if idx.ndim == 1:
        idx = idx.reshape(-1, 1)
    if idx.ndim != 2 or not 1 <= idx.shape[1] <= len(shape):
        raise ValueError(
            f"{fn}: indices must be (N, k) with 1 <= k <= {len(shape)} (the rank), got shape "
            f"{tuple(idx.shape)}"
        )
    k = idx.shape[1]
    lead = shape[:k]
    if idx.size:
        low, high = idx.min(axis=0), idx.max(axis=0)
        for a in range(k):
            if int(low[a]) < 0 or int(high[a]) >= lead[a]:
                bad = int(low[a]) if int(low[a]) < 0 else int(high[a])
                raise IndexError(
                    f"{fn}: index {bad} is out of range for axis {a} of size {lead[a]}"
                )
    xp = array_module(idx)
    strides = xp.asarray([math.prod(lead[a + 1 :]) for a in range(k)], dtype=np.int64)
    return (idx.astype(np.int64) * strides).sum(axis=1), k


def _slice_index(fn: str, indices: Any, shape: tuple, src: Tensor, name: str) -> tuple:
    """(rows, the (N, *rest) index of PyTorch's scatter along axis 0 of ``shape`` folded to
    (rows of the first k axes, *rest)) for Keras's (N, k) ``indices`` and their slices
    ``src`` (N, *shape[k:])."""
    rows, k = _nd_rows(fn, indices, shape)
    rest = shape[k:]
    n = rows.shape[0]
    if tuple(src.shape) != (n, *rest):
        raise ValueError(
            f"{fn}: {name} must have shape {(n, *rest)} (one slice per index row), got "
            f"{tuple(src.shape)}"
        )
    xp = array_module(rows)
    index = xp.ascontiguousarray(
        xp.broadcast_to(rows.reshape((-1,) + (1,) * len(rest)), (n, *rest))
    )
    return (math.prod(shape[:k]), *rest), index


def scatter(indices: Any, values: Any, shape: Any) -> Tensor:
    """Keras's ``scatter``: a zero tensor of ``shape`` with ``values`` (N, *shape[k:]) added at
    the (N, k) ``indices`` (duplicates add up, as TensorFlow's scatter_nd). Differentiable in
    ``values``. (``deepcore.scatter`` and ``Tensor.scatter`` are PyTorch's.)"""
    shape = tuple(int(s) for s in (shape.data.tolist() if isinstance(shape, Tensor) else shape))
    v = values if isinstance(values, Tensor) else convert_to_tensor(values)
    folded, index = _slice_index("scatter", indices, shape, v, "values")
    flat = Tensor._wrap(array_module(v.data).zeros(folded, v.dtype))
    return _reshape(_scatter_add(flat, 0, index, v), shape)


def scatter_update(inputs: Any, indices: Any, updates: Any) -> Tensor:
    """Keras's ``scatter_update``: a copy of ``inputs`` with the slices at the (N, k)
    ``indices`` replaced by ``updates`` (N, *inputs.shape[k:]). Differentiable in both."""
    x = inputs if isinstance(inputs, Tensor) else convert_to_tensor(inputs)
    u = updates if isinstance(updates, Tensor) else convert_to_tensor(updates)
    shape = tuple(x.shape)
    folded, index = _slice_index("scatter_update", indices, shape, u, "updates")
    if u.dtype != x.dtype:
        u = cast(u, x.dtype)
    return _reshape(_torch_scatter(_reshape(x, folded), 0, index, u), shape)


def get_item(x: Any, key: Any) -> Tensor:
    """``x[key]`` (Keras's functional spelling of indexing)."""
    t = x if isinstance(x, Tensor) else convert_to_tensor(x)
    return _getitem(t, key)


def saturate_cast(x: Any, dtype: Any) -> Tensor:
    """``x`` cast to ``dtype`` with values first clipped to what ``dtype`` can hold (Keras's
    ``saturate_cast``: 300 as uint8 is 255, not 44); NaN stays NaN for float targets."""
    t = x if isinstance(x, Tensor) else convert_to_tensor(x)
    out = np.dtype(_resolve_dtype(dtype))
    src = t.dtype
    if out.kind == "b" or src.kind == "b":
        return cast(t, out)
    xp = array_module(t.data)
    lo_t, hi_t = _range(xp, out)
    lo_s, hi_s = _range(xp, src)
    lo, hi = max(lo_t, lo_s), min(hi_t, hi_s)
    # the bounds in the source dtype must not round past the target's range (2**31 - 1 in
    # float32 is 2**31): step them towards zero until they fit
    lo_c, hi_c = xp.asarray(lo).astype(src), xp.asarray(hi).astype(src)
    if src.kind == "f":
        zero = xp.zeros((), src)
        while float(lo_c) < float(lo_t):
            lo_c = xp.nextafter(lo_c, zero)
        while float(hi_c) > float(hi_t):
            hi_c = xp.nextafter(hi_c, zero)
    return cast(clip(t, lo_c.item(), hi_c.item()), out)


def _range(xp: Any, dt: np.dtype) -> tuple:
    """The (min, max) a dtype holds, as Python numbers."""
    info = xp.iinfo(dt) if dt.kind in "iu" else xp.finfo(dt)
    return (int(info.min), int(info.max)) if dt.kind in "iu" else (float(info.min), float(info.max))
