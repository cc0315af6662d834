"""The one rule for the array arguments of every ``deepcore.nn.functional`` op.

[Note: F argument types] An F op's array arguments (the parameters annotated ``ArrayOrTensor``
or ``Tensor``, ``| None`` where optional) take a deepcore Tensor or a NumPy array, nothing
else: a list, tuple, Python number or NumPy scalar raises ``TypeError`` naming the op and the
argument, as PyTorch's functional ops do (``torch.relu([1, 2])`` is a TypeError), instead of
an AttributeError from deep inside (``'list' object has no attribute 'flags'``) or a silent
conversion that only some ops made. ``dc.tensor(data)`` converts explicitly. The rule is applied
once, to the public names ``deepcore.nn.functional`` exports (its ``__init__``), from the
annotations, so a new op is covered by declaring its parameters' types; calls between the
private modules skip the check (their arguments are checked already).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from ...autograd import _AUTOCAST, _autocast_args
from ...tensor import Tensor

_ARRAY_TYPES = (Tensor, np.ndarray)
_ARRAY_ANNOTATIONS = frozenset({"ArrayOrTensor", "Tensor", "Tensor | np.ndarray"})
_MISSING = object()


def _array_params(fn: Callable) -> tuple[tuple[int, str, bool], ...]:
    """(position, name, optional) of each array parameter of ``fn``."""
    out = []
    for i, p in enumerate(inspect.signature(fn).parameters.values()):
        ann = p.annotation if isinstance(p.annotation, str) else ""
        parts = [a.strip() for a in ann.split("|")]
        optional = "None" in parts
        base = " | ".join(a for a in parts if a != "None")
        if base in _ARRAY_ANNOTATIONS:
            out.append((i, p.name, optional))
    return tuple(out)


def checked(fn: Callable) -> Callable:
    """``fn`` with its array arguments checked (see [Note: F argument types]); ``fn`` itself
    when it has none."""
    if getattr(fn, "_dc_checked", False):
        return fn
    specs = _array_params(fn) if inspect.isfunction(fn) else ()
    if not specs:
        return fn
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        n = len(args)
        for i, arg, optional in specs:
            v = args[i] if i < n else kwargs.get(arg, _MISSING)
            if isinstance(v, _ARRAY_TYPES) or v is _MISSING or (v is None and optional):
                continue
            raise TypeError(
                f"{name}: argument {arg!r} must be a deepcore Tensor or a NumPy array"
                f"{' (or None)' if optional else ''}, got {type(v).__name__} "
                "(convert it with deepcore.tensor(...))"
            )
        if _AUTOCAST.dtype is not None:  # weights read in float16 ([Note: mixed precision])
            args = _autocast_args(args)
            if kwargs:
                kwargs = dict(zip(kwargs, _autocast_args(tuple(kwargs.values()))))
        return fn(*args, **kwargs)

    wrapper._dc_checked = True  # type: ignore[attr-defined]
    return wrapper
