"""``model.save(path)`` / ``load_model(path)``: one safetensors file, no pickle.

File layout (see deepcore.io.safetensors for the container):

- tensors ``model.<state_dict name>``: every weight, trainable or not (BatchNorm statistics);
- tensors ``optimizer.<name>``: the optimizer's per-parameter state (``flatten_state_dict``);
- ``__metadata__`` (str -> str, JSON strings where structured):
  ``format`` = "deepcore.model", ``format_version``, ``model_config`` (class name + config of
  the architecture, layers rebuilt by registered class name), ``compile_config`` (optimizer
  class and hyperparameters, loss, metrics, loss weights), ``optimizer_state`` (the JSON part of
  the optimizer's state dict: step counts, iteration count, groups).

``save_weights`` writes only the ``model.*`` tensors (``format`` = "deepcore.weights").
Writes go through a temporary file that is renamed over the target (never a partial file).
Loading validates the container (a truncated or tampered file raises ``ValueError``) and then
the contents (unknown format, bad JSON, missing or misshaped weights all raise ``ValueError``).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from ..io import safetensors as st
from ..nn import module as nn_module

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "compile_config"]

FORMAT_VERSION = "1"
MODEL_FORMAT = "deepcore.model"
WEIGHTS_FORMAT = "deepcore.weights"


# ---------------------------------------------------------------------- compile config
def _serialize(v: Any, mod: Any, base: type) -> Any:
    """Loss / metric arguments of compile() as JSON: names stay names, built-in objects become
    ``{"class_name", "config"}``, code (custom callables) is saved by name as ``{"custom"}``."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, Mapping):
        return {k: _serialize(u, mod, base) for k, u in v.items()}
    if isinstance(v, (list, tuple)):
        return [_serialize(u, mod, base) for u in v]
    if isinstance(v, base):
        try:
            return mod.serialize(v)  # the module's registry knows its built-in classes
        except ValueError:
            pass
    fn = getattr(v, "fn", v)
    return {"custom": getattr(fn, "__name__", getattr(v, "name", type(v).__name__))}


def _deserialize(v: Any, mod: Any, custom: Mapping[str, Any], what: str) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, list):
        return [_deserialize(u, mod, custom, what) for u in v]
    if isinstance(v, dict) and "custom" in v:
        name = v["custom"]
        if name not in custom:
            raise ValueError(
                f"the model was compiled with the custom {what} {name!r}: pass "
                f"custom_objects={{{name!r}: fn}} to load_model(), or compile=False"
            )
        return custom[name]
    if isinstance(v, dict) and "class_name" in v:
        return mod.deserialize(v, dict(custom))
    if isinstance(v, dict):
        return {k: _deserialize(u, mod, custom, what) for k, u in v.items()}
    raise ValueError(f"invalid {what} in the saved compile configuration: {v!r}")


def compile_config(model: Any) -> dict | None:
    """What ``compile()`` was given, as JSON (None when the model is not compiled)."""
    args = getattr(model, "_compile_args", None)
    if args is None:
        return None
    opt = model.optimizer
    return {
        "optimizer": {"class_name": type(opt).__name__, "config": opt.get_config()},
        "loss": _serialize(args["loss"], losses_mod, losses_mod.Loss),
        "metrics": _serialize(args["metrics"], metrics_mod, metrics_mod.Metric),
        "weighted_metrics": _serialize(
            args.get("weighted_metrics"), metrics_mod, metrics_mod.Metric
        ),
        "loss_weights": args["loss_weights"],
        "fuse_softmax_cross_entropy": args["fuse"],
    }


# ---------------------------------------------------------------------- save
def _check_target(filepath: Any, overwrite: bool) -> str:
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory: give a file name (e.g. model.deepcore)")
    return path


def _json(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the {what} is not JSON-serialisable: {e}") from None


def save_model(
    model: Any, filepath: Any, overwrite: bool = True, include_optimizer: bool = True
) -> None:
    """Write architecture, compile configuration, weights and optimizer state to one file."""
    path = _check_target(filepath, overwrite)
    tensors, meta = _weights_and_meta(model, MODEL_FORMAT)
    meta["model_config"] = _json(nn_module.serialize(model), "model configuration")
    cc = compile_config(model)
    if cc is not None:
        meta["compile_config"] = _json(cc, "compile configuration")
        opt = model.optimizer
        if include_optimizer and getattr(opt, "built", False):
            from ..optim.optimizer import flatten_state_dict

            opt_meta, arrays = flatten_state_dict(opt.state_dict())
            meta["optimizer_state"] = _json(opt_meta, "optimizer state")
            for k, v in arrays.items():
                tensors["optimizer." + k] = v
    st.save_file(tensors, path, metadata=meta)


def _weights_and_meta(model: Any, fmt: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if not model.built:
        raise ValueError(
            f"model '{model.name}' is not built, so it has no weights to save: call it on data, "
            "fit it, or build(input_shape) first"
        )
    tensors = {"model." + k: v for k, v in model.state_dict().items()}
    meta = {"format": fmt, "format_version": FORMAT_VERSION}
    if getattr(model, "_build_input_shape", None) is not None:
        meta["build_input_shape"] = _json(_shape_json(model._build_input_shape), "input shape")
    return tensors, meta


def _shape_json(shape: Any) -> Any:
    if isinstance(shape, list):
        return [_shape_json(s) for s in shape]
    return None if shape is None else [None if d is None else int(d) for d in shape]


def save_weights(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Write only the weights (``model.*`` tensors) to one safetensors file."""
    path = _check_target(filepath, overwrite)
    tensors, meta = _weights_and_meta(model, WEIGHTS_FORMAT)
    st.save_file(tensors, path, metadata=meta)


# ---------------------------------------------------------------------- load
def _meta_json(meta: Mapping[str, str], key: str, path: str) -> Any:
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: the {key!r} metadata is not valid JSON ({e})") from None


def _load_state(model: Any, tensors: Mapping[str, np.ndarray], path: str, strict: bool) -> None:
    state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=strict)
    except (KeyError, ValueError) as e:
        msg = e.args[0] if e.args else str(e)
        raise ValueError(f"{path}: the weights do not fit the model: {msg}") from None


def _read(filepath: Any) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    path = os.fspath(filepath)
    tensors, meta = st.load_file_with_metadata(path)
    return path, tensors, meta


def load_model(
    filepath: Any, custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Any:  # noqa: A002 - Keras's argument name
    """Rebuild a model saved by ``model.save``: architecture, weights and (with ``compile``)
    the compiled optimizer with its state, so training continues where it stopped."""
    from . import functional as _functional  # noqa: F401  (registers Functional)
    from . import sequential as _sequential  # noqa: F401

    custom = dict(custom_objects or {})
    path, tensors, meta = _read(filepath)
    fmt = meta.get("format")
    if fmt != MODEL_FORMAT:
        hint = " (a weights file: use model.load_weights())" if fmt == WEIGHTS_FORMAT else ""
        raise ValueError(f"{path}: not a deepcore model file (format {fmt!r}){hint}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: unsupported model file version {meta.get('format_version')!r} "
            f"(this deepcore reads version {FORMAT_VERSION})"
        )
    if "model_config" not in meta:
        raise ValueError(f"{path}: the file has no model_config metadata")
    cfg = _meta_json(meta, "model_config", path)
    if not isinstance(cfg, dict) or "class_name" not in cfg:
        raise ValueError(f"{path}: model_config must be an object with a class_name")
    cls = custom.get(cfg["class_name"]) or nn_module.get_layer_class(cfg["class_name"])
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        model = cls.from_config(cfg.get("config", {}), custom_objects=custom)
    else:
        model = cls.from_config(cfg.get("config", {}))
    if not model.built and "build_input_shape" in meta:
        shape = _meta_json(meta, "build_input_shape", path)
        _build_from_shape(model, shape)
    _load_state(model, tensors, path, strict=True)
    if compile and "compile_config" in meta:
        cc = _meta_json(meta, "compile_config", path)
        _compile_from_config(model, cc, custom, path)
        if "optimizer_state" in meta:
            from ..optim.optimizer import unflatten_state_dict

            opt_meta = _meta_json(meta, "optimizer_state", path)
            arrays = {
                k[len("optimizer.") :]: v for k, v in tensors.items() if k.startswith("optimizer.")
            }
            model._attach_optimizer()
            try:
                model.optimizer.load_state_dict(unflatten_state_dict(opt_meta, arrays))
            except (KeyError, TypeError, ValueError) as e:
                msg = e.args[0] if e.args else str(e)
                raise ValueError(
                    f"{path}: the optimizer state does not fit the model: {msg}"
                ) from None
    return model


def _build_from_shape(model: Any, shape: Any) -> None:
    from ..tensor import Tensor

    shapes = shape if shape and isinstance(shape[0], list) else [shape]
    xs = [
        np.zeros((1, *[1 if d is None else d for d in s[1:]]), np.dtype(model.dtype))
        for s in shapes
    ]
    try:
        model._maybe_build(tuple(shapes[0]) if len(shapes) == 1 else [tuple(s) for s in shapes])
    except NotImplementedError:
        pass
    if not any(True for _ in model.parameters()):
        from ..autograd import no_grad

        with no_grad():
            model(Tensor(xs[0]) if len(xs) == 1 else [Tensor(x) for x in xs], training=False)


def _compile_from_config(model: Any, cc: Any, custom: Mapping[str, Any], path: str) -> None:
    from .. import optim

    if not isinstance(cc, dict) or "optimizer" not in cc:
        raise ValueError(f"{path}: compile_config must be an object with an optimizer")
    try:
        opt = optim.deserialize(cc["optimizer"], custom)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    model.compile(
        optimizer=opt,
        loss=_deserialize(cc.get("loss"), losses_mod, custom, "loss"),
        metrics=_deserialize(cc.get("metrics"), metrics_mod, custom, "metric"),
        weighted_metrics=_deserialize(cc.get("weighted_metrics"), metrics_mod, custom, "metric"),
        loss_weights=cc.get("loss_weights"),
        fuse_softmax_cross_entropy=cc.get("fuse_softmax_cross_entropy", True),
    )


def load_weights(model: Any, filepath: Any, strict: bool = True) -> None:
    """Load weights saved by ``save_weights`` (or the weights of a ``save``d model)."""
    path, tensors, meta = _read(filepath)
    if meta.get("format") not in (WEIGHTS_FORMAT, MODEL_FORMAT):
        raise ValueError(f"{path}: not a deepcore weights file (format {meta.get('format')!r})")
    if not model.built and "build_input_shape" in meta:
        _build_from_shape(model, _meta_json(meta, "build_input_shape", path))
    _load_state(model, tensors, path, strict)
