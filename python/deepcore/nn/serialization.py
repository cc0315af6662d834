"""Layers by name: every Module subclass registers under its class name (so ``from_config`` /
``load_model`` rebuild it from JSON), ``serialize`` / ``deserialize`` turn a layer into
``{"class_name", "config"}`` and back, and default layer names (``dense``, ``dense_1``, ...)
come from per-prefix counters (Keras's, reset by ``reset_name_counters``).
"""

from __future__ import annotations

import inspect
import re
import threading
from collections import defaultdict
from typing import Any

from .dtype_policy import get as get_policy
from .dtype_policy import policy_scope

__all__ = [
    "serialize",
    "deserialize",
    "get_custom_objects",
    "get_layer_class",
    "register_serializable",
    "reset_name_counters",
    "with_custom_objects",
]

_registry: dict[str, type] = {}
# Objects registered by ``register_serializable`` (Keras's register_keras_serializable): found
# by load_model / from_config / model_from_json without ``custom_objects``.
_custom_objects: dict[str, Any] = {}
_name_uids: dict[str, int] = defaultdict(int)
_name_lock = threading.Lock()


def _snake_case(name: str) -> str:
    """Keras's to_snake_case: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _unique_name(prefix: str) -> str:
    with _name_lock:
        n = _name_uids[prefix]
        _name_uids[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_name_counters() -> None:
    """Restart default layer names at dense, conv2d, ... (Keras's clear_session)."""
    with _name_lock:
        _name_uids.clear()


def get_layer_class(name: str) -> type:
    """The Module subclass registered under ``name`` (its class name)."""
    try:
        return _registry[name]
    except KeyError:
        raise ValueError(
            f"unknown layer class {name!r}: define (import) the class before loading, "
            "or pass it in custom_objects"
        ) from None


def register_serializable(package: str = "Custom", name: str | None = None) -> Any:
    """Decorator: register a class or function so that saved models naming it load without
    ``custom_objects`` (Keras's ``keras.saving.register_keras_serializable``). It is found
    under its own name (what deepcore's files store) and under Keras's ``"package>name"``."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"package must be a string without '>', got {package!r}")

    def deco(obj: Any) -> Any:
        key = name if name is not None else getattr(obj, "__name__", None)
        if not isinstance(key, str) or not key:
            raise ValueError(f"cannot register {obj!r}: it has no __name__; pass name=")
        _custom_objects[key] = obj
        _custom_objects[f"{package}>{key}"] = obj
        return obj

    return deco


def get_custom_objects() -> dict[str, Any]:
    """The live dict of registered custom objects (Keras's ``get_custom_objects``): adding to
    it registers an object under that name."""
    return _custom_objects


def with_custom_objects(custom_objects: Any = None) -> dict[str, Any]:
    """The registered custom objects overlaid by a call's own ``custom_objects``."""
    return {**_custom_objects, **dict(custom_objects or {})}


def serialize(layer: Any) -> dict:
    """``{"class_name": ..., "config": ...}``: JSON-able; ``deserialize`` rebuilds the layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Any:
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config needs 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    if not isinstance(name, str):
        raise TypeError(f"a layer's class_name must be a string, got {name!r}")
    cls = with_custom_objects(custom_objects).get(name) or get_layer_class(name)
    cfg = config.get("config", {})
    if not isinstance(cfg, dict):
        raise TypeError(f"the config of a {name} layer must be an object, got {cfg!r}")
    # a config that names no dtype was saved from a float32 layer, whatever the global policy
    # is now ([Note: mixed precision] in nn/dtype_policy.py)
    with policy_scope("float32"):
        return from_config(cls, dict(cfg), custom_objects)


def from_config(cls: type, config: dict, custom_objects: dict | None = None) -> Any:
    """``cls.from_config(config)``, handing ``custom_objects`` on to a ``from_config`` that
    takes them (models, Lambda, wrappers of other layers)."""
    if custom_objects and "custom_objects" in inspect.signature(cls.from_config).parameters:
        return cls.from_config(config, custom_objects=custom_objects)
    return cls.from_config(config)


def construct(cls: type, config: dict) -> Any:
    """``Module.from_config``: ``cls`` built from its ``get_config()``."""
    config = dict(config)
    params = inspect.signature(cls.__init__).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if takes_kwargs:
        return cls(**config)
    # A PyTorch-style __init__ that does not forward Module's arguments: pass what it
    # accepts, then restore the base attributes.
    base = {k: config.pop(k) for k in ("name", "trainable", "dtype") if k in config}
    for k in ("input_shape", "batch_size"):
        if k not in params:
            config.pop(k, None)
    obj = cls(**config)
    if "name" in base:
        obj.name = base["name"]
    if "trainable" in base:
        obj.trainable = base["trainable"]
    if "dtype" in base:
        policy = get_policy(base["dtype"])
        obj.to(policy.variable_dtype)
        for m in obj.modules():
            m._set_policy(policy)
    return obj
