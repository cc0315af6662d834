"""Keras's dtype policies: the dtype a layer computes in and the dtype its weights are stored in.

    keras.mixed_precision.set_global_policy("mixed_float16")
    layer = keras.layers.Dense(10)
    layer.dtype_policy          # <DTypePolicy "mixed_float16">
    layer.compute_dtype         # "float16": inputs are cast to it, weights are read in it
    layer.variable_dtype        # "float32": the weights themselves (layer.dtype, as Keras)

A policy is named by a dtype ("float32", "float64", "float16": both dtypes the same) or
"mixed_float16" (compute float16, variables float32). A layer's ``dtype=`` argument takes a
name, a policy or a NumPy dtype and overrides the global policy, which a layer built without
one follows.

[Note: mixed precision] A layer whose compute dtype differs from its variable dtype
(``_autocast_to``, set by ``Module._set_policy``) casts its first input to the compute dtype in
``Module.__call__`` and, for the duration of its ``call``, sets the autocast dtype of
autograd.py: every ``Function.apply`` inside it then reads a float weight (a Parameter) through
a differentiable cast to float16, so the weight stays float32 and gets a float32 gradient while
the layer computes on float16 values (Keras's AutocastScope). A layer with an unmixed policy
(the guide's final ``Activation("softmax", dtype="float32")``) switches autocast off for its own
call, and losses upcast float16 predictions to float32 (Keras computes losses in float32).
float16 here is storage (see [Note: float16 storage] in autograd.py): each op computes in
float32 and rounds its result, so mixed_float16 gives float16's rounding and memory, not speed.
Keras's "mixed_bfloat16" needs a bfloat16 storage type, which deepcore (NumPy) does not have:
asking for it is a ValueError naming the policy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..autograd import _AUTOCAST
from .call_context import call_in_context

__all__ = [
    "DTypePolicy",
    "FloatDTypePolicy",
    "Policy",
    "dtype_policy",
    "get",
    "global_policy",
    "set_dtype_policy",
    "set_global_policy",
]

_NO_BFLOAT16 = (
    "deepcore has no bfloat16 storage (NumPy has no bfloat16 dtype), so the policy {name!r} "
    "cannot be used; 'mixed_float16' is the mixed-precision policy deepcore supports"
)


def _parse(name: Any) -> tuple[str, str, str]:
    """(policy name, compute dtype, variable dtype) of a policy name."""
    if not isinstance(name, str):
        raise TypeError(
            f"a dtype policy name must be a string such as 'mixed_float16', got {name!r} "
            f"(of type {type(name).__name__})"
        )
    if name == "mixed_float16":
        return name, "float16", "float32"
    if "bfloat16" in name:
        raise ValueError(_NO_BFLOAT16.format(name=name))
    try:
        d = np.dtype(name)
    except TypeError:
        raise ValueError(
            f"cannot convert {name!r} to a dtype policy: valid policies are 'mixed_float16' "
            "and the name of a dtype such as 'float32'"
        ) from None
    if d.kind not in "fiub":
        raise ValueError(f"cannot use {name!r} ({d}) as a dtype policy: not a numeric dtype")
    return d.name, d.name, d.name


class DTypePolicy:
    """A layer's dtype policy (Keras's ``keras.DTypePolicy``, alias
    ``keras.mixed_precision.Policy``): ``name``, ``compute_dtype``, ``variable_dtype``. With no
    name it is a copy of the global policy."""

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            name = dtype_policy().name
        self._name, self._compute_dtype, self._variable_dtype = _parse(name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype layers compute in (their inputs are cast to it, their weights read in it)."""
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype layers create their weights in."""
        return self._variable_dtype

    @property
    def quantization_mode(self) -> None:
        return None  # deepcore has no quantized policies

    def get_config(self) -> dict[str, Any]:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DTypePolicy:
        return cls(**config)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other._name == self._name

    def __hash__(self) -> int:
        return hash(self._name)


FloatDTypePolicy = DTypePolicy  # Keras 3 keeps this name as an alias
Policy = DTypePolicy  # keras.mixed_precision.Policy (legacy name)

_FLOAT32 = DTypePolicy("float32")
_global: list[DTypePolicy] = [_FLOAT32]


def set_dtype_policy(policy: Any) -> None:
    """Set the global dtype policy (``keras.mixed_precision.set_global_policy``): a policy or
    its name; None goes back to "float32"."""
    if policy is None:
        policy = _FLOAT32
    elif isinstance(policy, str):
        policy = DTypePolicy(policy)
    elif not isinstance(policy, DTypePolicy):
        raise ValueError(
            "set_dtype_policy expects the name of a policy (such as 'mixed_float16') or a "
            f"DTypePolicy, got {policy!r} (of type {type(policy).__name__})"
        )
    _global[0] = policy


def dtype_policy() -> DTypePolicy:
    """The global dtype policy (``keras.mixed_precision.global_policy``)."""
    return _global[0]


set_global_policy = set_dtype_policy
global_policy = dtype_policy


@contextlib.contextmanager
def policy_scope(policy: Any) -> Iterator[None]:
    """The global policy set to ``policy`` inside the block (saved configurations are rebuilt
    under "float32": a layer whose config names no dtype was float32 when it was saved)."""
    prev = _global[0]
    set_dtype_policy(policy)
    try:
        yield
    finally:
        _global[0] = prev


def get(dtype: Any) -> DTypePolicy:
    """A layer's ``dtype=`` argument as a policy: None (the global policy), a policy, its name,
    a NumPy dtype or type, or Keras's serialized form ``{"class_name": "DTypePolicy",
    "config": {"name": ...}}``."""
    if dtype is None:
        return _global[0]
    if isinstance(dtype, DTypePolicy):
        return dtype
    if isinstance(dtype, str):
        return _FLOAT32 if dtype == "float32" else DTypePolicy(dtype)
    if isinstance(dtype, dict):
        cfg = dtype.get("config")
        if dtype.get("class_name") in ("DTypePolicy", "FloatDTypePolicy", "Policy") and (
            isinstance(cfg, dict) and isinstance(cfg.get("name"), str)
        ):
            return DTypePolicy(cfg["name"])
        raise ValueError(f"cannot read a dtype policy from {dtype!r}")
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(
            f"dtype must be a dtype policy, its name or a dtype, got {dtype!r} (of type "
            f"{type(dtype).__name__})"
        ) from None
    return DTypePolicy(name)


class PolicyMixin:
    """Module's dtype-policy attributes (Keras's ``Layer.dtype_policy`` and friends)."""

    #: Models leave their inputs as given; each layer inside casts its own ([Note: mixed
    #: precision])
    _casts_inputs = True
    _dtype_policy: DTypePolicy

    def _set_policy(self, policy: DTypePolicy) -> None:
        """Weights in ``variable_dtype`` (``self.dtype``, Keras's ``layer.dtype``), inputs cast
        to ``compute_dtype`` (``_np_dtype``) and, when the two differ, weights read in the
        compute dtype during ``call`` ([Note: mixed precision])."""
        d = object.__setattr__
        d(self, "_dtype_policy", policy)
        d(self, "dtype", policy.variable_dtype)
        compute = np.dtype(policy.compute_dtype)
        mixed = policy.compute_dtype != policy.variable_dtype
        d(self, "_np_dtype", compute if self._casts_inputs else np.dtype(policy.variable_dtype))
        d(self, "_autocast_to", compute if mixed else None)

    @property
    def dtype_policy(self) -> DTypePolicy:
        """The layer's :class:`DTypePolicy` (its ``dtype=`` argument, else the global policy
        when it was made); setting it changes how the layer computes, not existing weights."""
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value: Any) -> None:
        self._set_policy(get(value))

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in (Keras)."""
        return self._dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layer's weights (Keras; also ``layer.dtype``)."""
        return self._dtype_policy.variable_dtype

    input_dtype = compute_dtype

    def _call_autocast(self, args: tuple, kwargs: dict, training: Any) -> Any:
        """The layer's call with autograd's autocast dtype set to this layer's for its
        duration (Module.__call__, when it differs from the enclosing call's)."""
        prev = _AUTOCAST.dtype
        _AUTOCAST.dtype = self._autocast_to
        try:
            return call_in_context(self, args, kwargs, training)
        finally:
            _AUTOCAST.dtype = prev
