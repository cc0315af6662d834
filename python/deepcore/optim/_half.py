"""float16 parameters in the optimizers: float32 state and a float32 master copy.

[Note: float16 parameters] A float16 parameter is stepped through a float32 master copy (what
PyTorch AMP's master weights and Keras's float32 variables do): its state arrays are float32,
``state[p]["master"]`` holds its float32 value, each step converts the float16 gradient to
float32, runs the same native update on the master and writes the master back rounded to
float16. Updates smaller than float16's spacing therefore accumulate in the master instead of
rounding away. Before each step the master is checked against the parameter (one compare
pass): a parameter changed from outside (``load_state_dict``, ``set_weights``) restarts its
master from the new float16 value instead of being overwritten by a stale one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import array_module, device_of, to_device
from ..tensor import Tensor

_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)


def _state_dtype(data: Any) -> np.dtype:
    """The dtype of the state arrays of a parameter whose array is ``data``: its own, float32
    for float16 ([Note: float16 parameters])."""
    return _F32 if data.dtype == _F16 else data.dtype


def _like_param(a: Any, p: Tensor, copy: bool = False) -> Any:
    """``a`` (a NumPy or CuPy array) in the state dtype and on the device of parameter ``p``,
    C-contiguous: ``a`` itself where nothing changes and no copy is asked for."""
    data = p.data
    dev = device_of(data)
    a = to_device(a, dev, None if dev == "cpu" else data.device.id)
    dt = _state_dtype(data)
    if copy or a.dtype != dt or not a.flags.c_contiguous:
        a = a.astype(dt, order="C", copy=True)
    return a


def _master(p: Tensor, st: dict[str, Any]) -> Any:
    """The float32 master copy of float16 parameter ``p`` ([Note: float16 parameters]), made
    again from ``p`` when ``p`` no longer equals it rounded."""
    m = st.get("master")
    data = p.data
    xp = array_module(data)
    if m is None or m.shape != data.shape or not bool(xp.array_equal(m.astype(_F16), data)):
        m = st["master"] = data.astype(_F32)
    return m


def _grad_array(g: Any) -> Any:
    """A gradient as the array the native step reads: float16 converted to float32."""
    a = g.data if isinstance(g, Tensor) else g
    return a.astype(_F32) if getattr(a, "dtype", None) == _F16 else a
