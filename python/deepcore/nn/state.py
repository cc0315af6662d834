"""Copying weights in and out of a Module: ``load_state_dict`` (by name, PyTorch) and
``get_weights`` / ``set_weights`` (by position, Keras). Both validate every name and shape
before changing anything, so a bad checkpoint leaves the module untouched.

[Note: Keras weight layouts] A layer may store a weight in the layout its kernels want and
show Keras's layout at ``get_weights`` / ``set_weights``: its class attribute
``_keras_layouts`` maps the weight's name to the axis permutation that turns the stored array
into Keras's (convolution kernels: (K, C/groups, kh, kw) stored, (kh, kw, C/groups, K) in
Keras, permutation (2, 3, 1, 0)). The conversion happens only at get/set, never per step; the
state_dict and saved files keep the stored layout.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .._array import assign, host_copy
from ..tensor import Tensor

__all__ = [
    "StateDictKeyError",
    "LoadResult",
    "load_state",
    "get_weight_arrays",
    "set_weight_arrays",
]


class StateDictKeyError(KeyError):
    """Missing or unexpected keys in ``load_state_dict(strict=True)``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LoadResult(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


def _array_of(v: Any) -> Any:
    """The storage of a Tensor, a CuPy array as it is, anything else as a NumPy array."""
    if isinstance(v, Tensor):
        return v.data
    return v if hasattr(v, "__cuda_array_interface__") else np.asarray(v)


def load_state(module: Any, state: dict, strict: bool = True) -> LoadResult:
    """``Module.load_state_dict``."""
    own = OrderedDict((n, w) for n, w, _, _ in module._named_weights())
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        msg = [f"error loading state_dict into {type(module).__name__} '{module.name}':"]
        if missing:
            msg.append(f"missing key(s): {', '.join(missing)}")
        if unexpected:
            msg.append(f"unexpected key(s): {', '.join(unexpected)}")
        if not own:
            msg.append("(the module has no weights yet: call it on an input or build() it first)")
        raise StateDictKeyError(" ".join(msg))
    arrays = {}
    for k, w in own.items():  # validate everything before changing anything
        if k not in state:
            continue
        v = state[k]
        arr = _array_of(v)
        if arr.shape != w.shape:
            raise ValueError(
                f"size mismatch for {k!r} in '{module.name}': the checkpoint has shape "
                f"{arr.shape}, the module's weight has shape {w.shape}"
            )
        arrays[k] = arr
    for k, arr in arrays.items():
        assign(own[k].data, arr)  # onto the weight's device ([Note: modules on a device])
    return LoadResult(missing, unexpected)


def _keras_perms(module: Any) -> dict[int, tuple[int, ...]]:
    """id(weight) -> the permutation to Keras's layout (see [Note: Keras weight layouts])."""
    perms: dict[int, tuple[int, ...]] = {}
    for m in module.modules():
        for name, perm in getattr(m, "_keras_layouts", {}).items():
            w = m._weights.get(name)
            if w is not None and w.ndim == len(perm):
                perms[id(w)] = tuple(perm)
    return perms


def get_weight_arrays(module: Any) -> list[np.ndarray]:
    """``Module.get_weights``: copies in Keras's order and layouts."""
    perms = _keras_perms(module)
    out = []
    for w in module.weights:
        perm = perms.get(id(w))
        a = w.data if perm is None else w.data.transpose(perm)
        out.append(host_copy(a))
    return out


def set_weight_arrays(module: Any, arrays: Sequence[Any]) -> None:
    """``Module.set_weights``: Keras's order and layouts."""
    ws = module.weights
    if len(arrays) != len(ws):
        raise ValueError(
            f"layer '{module.name}' has {len(ws)} weights, set_weights got {len(arrays)}"
        )
    perms = _keras_perms(module)
    arrays = [_array_of(a) for a in arrays]
    stored = []
    for w, a in zip(ws, arrays):
        perm = perms.get(id(w))
        want = w.shape if perm is None else tuple(w.shape[p] for p in perm)
        if a.shape != want:
            raise ValueError(
                f"layer '{module.name}': weight {w.name} has shape {want}, got {a.shape}"
            )
        stored.append(a if perm is None else a.transpose(tuple(int(i) for i in np.argsort(perm))))
    for w, a in zip(ws, stored):
        assign(w.data, a)
