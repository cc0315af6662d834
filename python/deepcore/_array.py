"""The array library of a tensor's storage: NumPy on the CPU, CuPy on "cuda" (with the CUDA
backend).

[Note: array module] Autograd ``Function``s compute on raw storage arrays. Where they call a
library *function* on storage (``exp``, ``where``, ``zeros``, ``concatenate``, ...) they take it
from ``xp = array_module(x)`` rather than from ``numpy`` directly, so the same ``forward`` /
``backward`` runs on NumPy and on CuPy arrays (CuPy mirrors NumPy's API). Operators and array
methods (``a + b``, ``g.reshape(s)``, ``x.astype(d)``) need no lookup. ``numpy`` stays the
right call for metadata only: dtypes (``np.result_type``), shapes (``np.broadcast_shapes``),
scalar types, and host-side index arrays.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["array_module", "device_of"]

_ndarray = np.ndarray


def array_module(x: Any) -> ModuleType:
    """``numpy`` for NumPy arrays (and anything that is not a GPU array), ``cupy`` for arrays
    exposing ``__cuda_array_interface__``."""
    if type(x) is _ndarray or not hasattr(x, "__cuda_array_interface__"):  # the hot path first
        return np
    import cupy  # only reachable with a CuPy array in hand

    return cupy


def device_of(x: Any) -> str:
    """ "cpu" or "cuda": where the storage array ``x`` lives."""
    return "cpu" if array_module(x) is np else "cuda"
