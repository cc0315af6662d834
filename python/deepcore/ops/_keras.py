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

from typing import Any

import numpy as np

from ..symbolic import KerasTensor
from ..tensor import Tensor, _resolve_dtype
from ._elementwise import abs as _abs
from ._elementwise import cast, div, mul, neg, sub
from ._elementwise import pow as _pow
from ._indexing import nonzero as _nonzero
from ._math import remainder
from ._reductions import max as _max
from ._reductions import min as _min
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
]

#: names whose Keras meaning (here, in ``deepcore.ops``) differs from PyTorch's
#: (``deepcore.<name>``, ``Tensor.<name>``)
KERAS_ONLY = ("sort", "nonzero")

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
    float16 is computed in float32), or Python numbers and lists (floats become float32 and
    ints int32, Keras's default dtypes). A symbolic tensor is returned as it is."""
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
    elif arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
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
