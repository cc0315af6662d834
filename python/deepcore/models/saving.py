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

Versions (``format_version``): 2 stores Dense and Maxout kernels in Keras's (in, out) layout
(see [Note: dense kernel layout] in deepcore.nn.layers.core); version 1 stored them (out, in),
and its files still load: those kernels and their optimizer slots are transposed on reading.
Any other version is refused with a message naming the file.

[Note: hostile model files] The configuration in a file is data, not code, and may be corrupt or
crafted, so rebuilding a model from it is bounded and its errors are the file's errors:
- the weights the configuration asks for are capped by what the file stores (the count of
  values of its ``model.*`` tensors, from the header): ``Dense(units=2**31)`` raises a
  ``ValueError`` before allocating (see [Note: weight budget] in deepcore.nn.module);
- every input shape in it (``input_shape``, ``batch_shape``, ``build_input_shape`` ...) must be
  a list of None or non-negative integers holding at most ``MAX_SAMPLE_VALUES`` values per
  sample, checked before anything is built;
- any error while rebuilding the model, its compile configuration or its optimizer state (a
  null config, a missing key, a string where a number belongs, JSON nested too deeply) is
  raised as ``ValueError`` (``TypeError`` for a wrong type) that names the file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from ..io import safetensors as st
from ..nn import module as nn_module
from ..nn import serialization as nn_serialization

__all__ = [
    "save_model",
    "load_model",
    "save_weights",
    "load_weights",
    "compile_config",
    "model_to_json",
    "model_from_json",
]

FORMAT_VERSION = "2"
_READABLE_VERSIONS = ("1", "2")  # 1: Dense / Maxout kernels (out, in); see _upgrade_v1
MODEL_FORMAT = "deepcore.model"
WEIGHTS_FORMAT = "deepcore.weights"

#: the most values one sample of a model input may hold in a loaded configuration (1 GiB of
#: float32; see [Note: hostile model files])
MAX_SAMPLE_VALUES = 2**28
_SHAPE_KEYS = frozenset({"input_shape", "batch_input_shape", "batch_shape", "build_input_shape"})
_CONFIG_ERRORS = (
    TypeError,
    ValueError,
    LookupError,
    AttributeError,
    ArithmeticError,
    RecursionError,
    NotImplementedError,
)


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
        "auto_scale_loss": args.get("auto_scale_loss", True),
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
            from ..optim import flatten_state_dict

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
    except ValueError as e:  # JSONDecodeError, or an integer too long to parse
        raise ValueError(f"{path}: the {key!r} metadata is not valid JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"{path}: the {key!r} metadata is nested too deeply") from None


@contextmanager
def _file_errors(path: str, what: str) -> Iterator[None]:
    """Errors while rebuilding ``what`` from the file as the file's errors (see
    [Note: hostile model files]): ValueError (TypeError for a type) naming the file."""
    try:
        yield
    except _CONFIG_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        if isinstance(e, (TypeError, ValueError)) and path in str(msg):
            raise  # it names the file already (the weight budget's errors)
        if isinstance(e, KeyError):
            msg = f"missing key {msg!r}"
        elif not isinstance(e, (TypeError, ValueError)):
            msg = f"{type(e).__name__}: {msg}"
        cls = TypeError if isinstance(e, TypeError) else ValueError
        raise cls(f"{path}: cannot rebuild the {what}: {msg}") from e


def _check_shapes(cfg: Any, path: str) -> None:
    """Every input shape in a configuration, checked before anything is built (see
    [Note: hostile model files]). Walks the JSON without recursion."""
    stack = [cfg]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for k, v in node.items():
                if k in _SHAPE_KEYS and v is not None:
                    for shape in v if v and isinstance(v[0], list) else [v]:
                        _check_shape(shape, k, path)
                else:
                    stack.append(v)


def _check_shape(shape: Any, key: str, path: str) -> None:
    batched = key != "input_shape"
    ok = isinstance(shape, list) and all(
        d is None or (type(d) is int and 0 <= d <= MAX_SAMPLE_VALUES) for d in shape
    )
    if ok:
        values = math.prod(d for d in shape[1 if batched else 0 :] if d is not None)
        ok = values <= MAX_SAMPLE_VALUES
    if not ok:
        raise ValueError(
            f"{path}: invalid {key} {shape!r} in the configuration: it must be a list of None or "
            f"non-negative integers with at most {MAX_SAMPLE_VALUES} values per sample"
        )


def _load_state(model: Any, tensors: Mapping[str, np.ndarray], path: str, strict: bool) -> None:
    state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=strict)
    except (KeyError, ValueError) as e:
        msg = e.args[0] if e.args else str(e)
        raise ValueError(f"{path}: the weights do not fit the model: {msg}") from None


def _read(filepath: Any) -> tuple[str, dict[str, np.ndarray], dict[str, str], int]:
    """(path, tensors, metadata, number of model weight values) of a validated file."""
    path = os.fspath(filepath)
    with st.safe_open(path) as f:
        values = sum(
            math.prod(shape) for k, (_, shape) in f.shapes().items() if k.startswith("model.")
        )
        return path, f.read(), f.metadata(), values


def load_model(
    filepath: Any, custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Any:  # noqa: A002 - Keras's argument name
    """Rebuild a model saved by ``model.save``: architecture, weights and (with ``compile``)
    the compiled optimizer with its state, so training continues where it stopped. A corrupt
    or crafted file raises ``ValueError`` / ``TypeError`` naming it, and building the model
    allocates no more weights than the file stores (see [Note: hostile model files])."""
    custom = nn_serialization.with_custom_objects(custom_objects)
    path, tensors, meta, values = _read(filepath)
    fmt = meta.get("format")
    if fmt != MODEL_FORMAT:
        hint = " (a weights file: use model.load_weights())" if fmt == WEIGHTS_FORMAT else ""
        raise ValueError(f"{path}: not a deepcore model file (format {fmt!r}){hint}")
    version = _check_version(meta, path)
    if "model_config" not in meta:
        raise ValueError(f"{path}: the file has no model_config metadata")
    cfg = _meta_json(meta, "model_config", path)
    if not isinstance(cfg, dict) or not isinstance(cfg.get("class_name"), str):
        raise ValueError(f"{path}: model_config must be an object with a class_name string")
    shape = _meta_json(meta, "build_input_shape", path) if "build_input_shape" in meta else None
    _check_shapes([cfg, {"build_input_shape": shape}], path)
    with _file_errors(path, "model from its configuration"), nn_module.weight_budget(values, path):
        cls = custom.get(cfg["class_name"]) or nn_module.get_layer_class(cfg["class_name"])
        config = cfg.get("config", {})
        if not isinstance(config, dict):
            raise TypeError(f"model_config's config must be an object, got {config!r}")
        model = nn_serialization.from_config(cls, config, custom)
        if not model.built and shape is not None:
            _build_from_shape(model, shape, values)
    moved = _upgrade_v1(model, tensors) if version == "1" else set()
    _load_state(model, tensors, path, strict=True)
    if compile and "compile_config" in meta:
        cc = _meta_json(meta, "compile_config", path)
        with _file_errors(path, "compile configuration"):
            _compile_from_config(model, cc, custom, path)
        if "optimizer_state" in meta:
            from ..optim import unflatten_state_dict

            opt_meta = _meta_json(meta, "optimizer_state", path)
            arrays = {
                k[len("optimizer.") :]: v for k, v in tensors.items() if k.startswith("optimizer.")
            }
            model._attach_optimizer()
            if moved:
                arrays = _upgrade_v1_optimizer(model.optimizer, arrays, moved)
            with _file_errors(path, "optimizer state (it does not fit the model)"):
                model.optimizer.load_state_dict(unflatten_state_dict(opt_meta, arrays))
    return model


def _check_version(meta: Mapping[str, str], path: str) -> str:
    version = meta.get("format_version")
    if version not in _READABLE_VERSIONS:
        raise ValueError(
            f"{path}: unsupported model file version {version!r} (this deepcore reads versions "
            f"{', '.join(_READABLE_VERSIONS)}; a newer deepcore wrote it?)"
        )
    return version


def _upgrade_v1(model: Any, tensors: dict[str, np.ndarray]) -> set[int]:
    """Transpose, in ``tensors``, the weights a version-1 file stored (out, in) (Dense and
    Maxout kernels: the layers' ``_legacy_transposed``); returns the ids of those weights."""
    own = {n: w for n, w, _, _ in model._named_weights()}
    moved = set()
    for prefix, m in model.named_modules():
        for n in getattr(m, "_legacy_transposed", ()):
            name = f"{prefix}.{n}" if prefix else n
            a = tensors.get("model." + name)
            if name in own and a is not None and a.ndim == 2:
                tensors["model." + name] = np.ascontiguousarray(a.T)
                moved.add(id(own[name]))
    return moved


def _upgrade_v1_optimizer(
    opt: Any, arrays: dict[str, np.ndarray], moved: set[int]
) -> dict[str, np.ndarray]:
    """The optimizer slots (``state.<index>.<slot>``) of the weights ``_upgrade_v1`` moved,
    transposed the same way."""
    params = [p for g in opt.param_groups for p in g["params"]]
    idx = {str(i) for i, p in enumerate(params) if id(p) in moved}
    out = {}
    for k, a in arrays.items():
        parts = k.split(".")
        if len(parts) == 3 and parts[1] in idx and a.ndim == 2:
            a = np.ascontiguousarray(a.T)
        out[k] = a
    return out


def _build_from_shape(model: Any, shape: Any, values: int) -> None:
    """Build ``model`` for a saved input shape (already checked by ``_check_shapes``)."""
    from ..tensor import Tensor

    shapes = shape if shape and isinstance(shape[0], list) else [shape]
    try:
        model._maybe_build(tuple(shapes[0]) if len(shapes) == 1 else [tuple(s) for s in shapes])
    except NotImplementedError:
        pass
    if values and not any(True for _ in model._named_weights()):
        # a subclassed model that makes its weights on its first call: call it on zeros
        from ..autograd import no_grad

        xs = [
            np.zeros((1, *[1 if d is None else d for d in s[1:]]), np.dtype(model.dtype))
            for s in shapes
        ]
        with no_grad():
            model(Tensor(xs[0]) if len(xs) == 1 else [Tensor(x) for x in xs], training=False)


def _compile_from_config(model: Any, cc: Any, custom: Mapping[str, Any], path: str) -> None:
    from .. import optim

    if not isinstance(cc, dict) or not isinstance(cc.get("optimizer"), dict):
        raise ValueError(f"{path}: compile_config must be an object with an optimizer object")
    opt = optim.deserialize(cc["optimizer"], custom)
    model.compile(
        optimizer=opt,
        loss=_deserialize(cc.get("loss"), losses_mod, custom, "loss"),
        metrics=_deserialize(cc.get("metrics"), metrics_mod, custom, "metric"),
        weighted_metrics=_deserialize(cc.get("weighted_metrics"), metrics_mod, custom, "metric"),
        loss_weights=cc.get("loss_weights"),
        fuse_softmax_cross_entropy=cc.get("fuse_softmax_cross_entropy", True),
        auto_scale_loss=cc.get("auto_scale_loss", True),
    )


def load_weights(model: Any, filepath: Any, strict: bool = True) -> None:
    """Load weights saved by ``save_weights`` (or the weights of a ``save``d model)."""
    path, tensors, meta, values = _read(filepath)
    if meta.get("format") not in (WEIGHTS_FORMAT, MODEL_FORMAT):
        raise ValueError(f"{path}: not a deepcore weights file (format {meta.get('format')!r})")
    version = _check_version(meta, path)
    if not model.built and "build_input_shape" in meta:
        shape = _meta_json(meta, "build_input_shape", path)
        _check_shapes({"build_input_shape": shape}, path)
        with _file_errors(path, "model for its saved input shape"):
            _build_from_shape(model, shape, values)
    if version == "1":
        _upgrade_v1(model, tensors)
    _load_state(model, tensors, path, strict)


def model_to_json(model: Any, **kwargs: Any) -> str:
    """``model.to_json()``: ``{"class_name", "config"}`` of the architecture as a JSON string
    (no weights), for ``model_from_json``."""
    return json.dumps(nn_module.serialize(model), **kwargs)


def model_from_json(json_string: str, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """Rebuild a model (unbuilt weights freshly initialised) from ``model.to_json()``;
    ``custom_objects`` maps the names of custom layers / functions to them."""
    try:
        cfg = json.loads(json_string)
    except ValueError as e:
        raise ValueError(f"model_from_json: not valid JSON ({e})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("class_name"), str):
        raise ValueError("model_from_json: expected an object with a class_name string")
    return nn_module.deserialize(cfg, nn_serialization.with_custom_objects(custom_objects))
