"""Copying weights in and out of a Module: ``load_state_dict`` (by name, PyTorch) and
``set_weights`` (by position, Keras). Both validate every name and shape before changing
anything, so a bad checkpoint leaves the module untouched."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor

__all__ = ["StateDictKeyError", "LoadResult", "load_state", "set_weight_arrays"]


class StateDictKeyError(KeyError):
    """Missing or unexpected keys in ``load_state_dict(strict=True)``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LoadResult(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


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
        arr = v.data if isinstance(v, Tensor) else np.asarray(v)
        if arr.shape != w.shape:
            raise ValueError(
                f"size mismatch for {k!r} in '{module.name}': the checkpoint has shape "
                f"{arr.shape}, the module's weight has shape {w.shape}"
            )
        arrays[k] = arr
    for k, arr in arrays.items():
        own[k].data[...] = arr
    return LoadResult(missing, unexpected)


def set_weight_arrays(module: Any, arrays: Sequence[Any]) -> None:
    """``Module.set_weights``."""
    ws = module.weights
    if len(arrays) != len(ws):
        raise ValueError(
            f"layer '{module.name}' has {len(ws)} weights, set_weights got {len(arrays)}"
        )
    arrays = [np.asarray(a.data if isinstance(a, Tensor) else a) for a in arrays]
    for w, a in zip(ws, arrays):
        if a.shape != w.shape:
            raise ValueError(
                f"layer '{module.name}': weight {w.name} has shape {w.shape}, got {a.shape}"
            )
    for w, a in zip(ws, arrays):
        w.data[...] = a
