"""``keras.activations``: the activation functions under Keras's names, from deepcore's one
activation registry (``deepcore.nn.functional``'s ACTIVATIONS, [Note: one registry per
concept]): ``activations.relu(x)``, ``activations.get("gelu")``, ``serialize`` /
``deserialize``. Defaults are Keras's ([Note: activation names and defaults])."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..nn.functional import _activation as _act

ACTIVATIONS = _act.ACTIVATIONS


def get(identifier: str | Callable | dict | None) -> Callable:
    """The activation for a name, a Keras config dict or a callable (returned unchanged);
    None is ``linear``. An unknown name raises ValueError listing the known ones."""
    return _act.get_activation(identifier)


def serialize(activation: Callable | None) -> str:
    """The registered name of ``activation`` (ValueError for an unregistered callable)."""
    return _act.serialize_activation(activation)


def deserialize(config: str | dict, custom_objects: dict | None = None) -> Callable:
    """The activation a name or config stands for (``custom_objects`` first)."""
    name = config if isinstance(config, str) else None
    if name is not None and custom_objects and name in custom_objects:
        return custom_objects[name]
    return get(config)


def _public_names() -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {}
    for name in ACTIVATIONS.names(aliases=True):
        out[name] = ACTIVATIONS.get(name)
    return out


globals().update(_public_names())
__all__ = sorted(["get", "serialize", "deserialize", *_public_names()])
