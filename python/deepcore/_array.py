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

__all__ = [
    "array_module",
    "assign",
    "contiguous",
    "device_of",
    "host_copy",
    "parse_device",
    "require_cuda",
    "to_device",
    "to_host",
]

_ndarray = np.ndarray


def array_module(x: Any) -> ModuleType:
    """``numpy`` for NumPy arrays (and anything that is not a GPU array), ``cupy`` for arrays
    exposing ``__cuda_array_interface__``."""
    if type(x) is _ndarray or not hasattr(x, "__cuda_array_interface__"):  # the hot path first
        return np
    import cupy  # only reachable with a CuPy array in hand

    return cupy


def contiguous(a: Any) -> Any:
    """``a`` as a C-contiguous array of its own library (``a`` itself when it already is one).
    A NumPy scalar (NumPy arithmetic on 0-d arrays returns scalars) becomes a 0-d array, which
    the native kernels need; np.ascontiguousarray would make it shape (1,)."""
    if type(a) is _ndarray or hasattr(a, "__cuda_array_interface__"):
        return a if a.flags.c_contiguous else array_module(a).ascontiguousarray(a)
    return np.asarray(a)


def contiguous_or_none(a: Any) -> Any:
    """``contiguous(a)``, or None for an optional array left out."""
    return None if a is None else contiguous(a)


def device_of(x: Any) -> str:
    """ "cpu" or "cuda": where the storage array ``x`` lives."""
    return "cpu" if array_module(x) is np else "cuda"


# [Note: tensors on "cuda"] A tensor on "cuda" holds a CuPy array: memory from CuPy's pool, our
# kernels launched on CuPy's current stream (the `stream` of each array's
# __cuda_array_interface__, [Note: CUDA stream of a call] in csrc/core/device_dispatch.h).
# Three things must hold before one can exist, each checked by require_cuda() with its own
# message: deepcore was built with the CUDA kernels, a CUDA GPU is present, and CuPy imports
# (the `cuda` extra: pip install "deepcore[cuda]" brings cupy-cuda13x, matching the CUDA 13
# runtime the wheels are built with).
_cupy: ModuleType | None = None  # set once require_cuda() has passed


def require_cuda() -> ModuleType:
    """The ``cupy`` module, once tensors on "cuda" are possible here; else a RuntimeError saying
    which of the three requirements ([Note: tensors on "cuda"]) is missing."""
    global _cupy
    if _cupy is not None:
        return _cupy
    from . import _C

    if not _C.info()["cuda_built"]:
        raise RuntimeError(
            "deepcore was built without CUDA: tensors on 'cuda' are not available "
            "(rebuild with a CUDA compiler and DEEPCORE_CUDA=ON)"
        )
    if _C.cuda_device_count() == 0:
        raise RuntimeError(
            "no CUDA GPU is present (or no CUDA driver): tensors on 'cuda' are not available"
        )
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "tensors on 'cuda' need CuPy, which is not importable here: "
            'pip install "deepcore[cuda]" (cupy-cuda13x)'
        ) from e
    _cupy = cupy
    return cupy


def parse_device(device: Any) -> tuple[str, int | None]:
    """("cpu", None) or ("cuda", index or None) for "cpu", "cpu:0", "cuda", "cuda:<n>" (and any
    object whose str() is one of those, such as torch.device); ValueError for anything else."""
    dev = str(device)
    if dev in ("cpu", "cpu:0"):
        return "cpu", None
    if dev == "cuda":
        return "cuda", None
    if dev.startswith("cuda:") and dev[5:].isdigit():
        return "cuda", int(dev[5:])
    raise ValueError(f"unknown device {device!r} (expected 'cpu', 'cuda' or 'cuda:<index>')")


def to_device(x: Any, device: str, index: int | None = None) -> Any:
    """``x`` (a NumPy or CuPy array) as a storage array on ``device``: the same array when it is
    already there, else a copy (host <-> device, on CuPy's current stream)."""
    if device == "cpu":
        return x if array_module(x) is np else x.get()
    cupy = require_cuda()
    if index is None:
        return cupy.asarray(x)
    if index >= cupy.cuda.runtime.getDeviceCount():
        raise ValueError(
            f"device 'cuda:{index}' does not exist "
            f"({cupy.cuda.runtime.getDeviceCount()} CUDA device(s) present)"
        )
    with cupy.cuda.Device(index):
        return cupy.asarray(x)


def host_copy(x: Any) -> np.ndarray:
    """A new NumPy array with the values of ``x`` (NumPy or CuPy): what state_dicts and saved
    files hold, whatever the device ([Note: modules on a device] in nn/device.py)."""
    return np.array(x, copy=True) if array_module(x) is np else x.get()


def to_host(x: Any) -> np.ndarray:
    """``x`` as a NumPy array: a NumPy array as it is, a CuPy array copied to the host, anything
    else through ``np.asarray``."""
    if type(x) is _ndarray:
        return x
    return x.get() if hasattr(x, "__cuda_array_interface__") else np.asarray(x)


def assign(dst: Any, src: Any) -> None:
    """``dst[...] = src`` with ``src`` first brought to ``dst``'s device (a NumPy or CuPy array,
    either way round): loading host arrays into weights on "cuda", and back."""
    dst[...] = to_device(src, device_of(dst), None if device_of(dst) == "cpu" else dst.device.id)
