"""An optimizer's state as JSON plus arrays: hyperparameters (learning-rate schedules by
config) for ``Optimizer.state_dict`` / ``load_state_dict``, and the flat ``{name: array}`` form
a safetensors file stores (``flatten_state_dict`` / ``unflatten_state_dict``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .schedules import LearningRateSchedule, deserialize, serialize

__all__ = ["flatten_state_dict", "unflatten_state_dict"]


def _lr_to_json(lr: Any) -> Any:
    if isinstance(lr, LearningRateSchedule):
        return serialize(lr)
    if callable(lr):
        raise ValueError(
            "a learning rate given as a plain callable cannot be serialised; use a "
            "deepcore.optim.schedules.LearningRateSchedule"
        )
    return float(lr)


def _lr_from_json(v: Any) -> Any:
    return deserialize(v) if isinstance(v, dict) else v


def _hyper_to_json(hyper: dict[str, Any]) -> dict[str, Any]:
    """A group's (or the defaults') hyperparameters, less ``params``, as JSON-able values."""
    return {
        k: _lr_to_json(v) if k == "lr" else list(v) if isinstance(v, tuple) else v
        for k, v in hyper.items()
        if k != "params"
    }


def _hyper_from_json(saved: dict[str, Any]) -> dict[str, Any]:
    """Inverse of ``_hyper_to_json``: schedules rebuilt, lists back to tuples."""
    return {
        k: _lr_from_json(v) if k == "lr" else tuple(v) if isinstance(v, list) else v
        for k, v in saved.items()
        if k != "params"
    }


def flatten_state_dict(state_dict: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split ``Optimizer.state_dict()`` into JSON-able metadata and a flat {name: array} dict
    (names ``state.<index>.<slot>``) for a safetensors file; ``unflatten_state_dict`` inverts."""
    arrays: dict[str, np.ndarray] = {}
    meta_state: dict[str, dict[str, Any]] = {}
    for idx, st in state_dict["state"].items():
        m = {}
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                arrays[f"state.{idx}.{k}"] = v
                m[k] = {"array": f"state.{idx}.{k}"}
            else:
                m[k] = v
        meta_state[str(idx)] = m
    meta = {k: v for k, v in state_dict.items() if k != "state"}
    meta["state"] = meta_state
    return meta, arrays


def unflatten_state_dict(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    state = {}
    for idx, m in meta["state"].items():
        st = {}
        for k, v in m.items():
            if isinstance(v, dict) and "array" in v:
                if v["array"] not in arrays:
                    raise ValueError(f"optimizer state array {v['array']!r} is missing")
                st[k] = arrays[v["array"]]
            else:
                st[k] = v
        state[int(idx)] = st
    out = {k: v for k, v in meta.items() if k != "state"}
    out["state"] = state
    return out
