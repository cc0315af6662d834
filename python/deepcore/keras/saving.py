"""``keras.saving``: whole-model files and the registry of custom objects.

``load_model`` / ``save_model`` are deepcore's (one safetensors file, see
deepcore/models/saving.py); ``register_keras_serializable`` makes a custom layer, loss or
metric function loadable without ``custom_objects``."""

from __future__ import annotations

from typing import Any

from ..models.saving import load_model, save_model
from ..nn.serialization import get_custom_objects, register_serializable

__all__ = [
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "register_keras_serializable",
    "save_model",
]

register_keras_serializable = register_serializable


def get_registered_name(obj: Any) -> str:
    """The ``"package>name"`` an object was registered under (its ``__name__`` if it was
    not registered), as Keras."""
    for key, value in get_custom_objects().items():
        if value is obj and ">" in key:
            return key
    return getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(
    name: str, custom_objects: dict | None = None, module_objects: dict | None = None
) -> Any:
    """The object registered (or passed in ``custom_objects`` / ``module_objects``) under
    ``name``, else None."""
    for table in (custom_objects, get_custom_objects(), module_objects):
        if table and name in table:
            return table[name]
    return None
