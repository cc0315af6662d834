"""Modules on a device: ``Module.to`` ([Note: modules on a device]).

[Note: modules on a device]
``module.to("cuda")`` moves every weight's storage to the GPU in place (the Tensor objects stay,
so layers, optimizers and user references keep pointing at them) and records the device on
every sub-module (``_device``, read by ``device_spec``), so weights a layer creates later (built
on its first call, Module.add_weight) are made there too; gradients are dropped. A Model also
moves its optimizer's state (Model.to), and an optimizer that finds its state on another device
or in another dtype than its parameters at its next step follows them
(Optimizer._follow_params), as PyTorch's load_state_dict casts state to the parameters' device.
fit / evaluate / predict move each batch to the model's device (Model._on_device) and return
predictions and metrics on the host; state_dict / get_weights / optimizer.state_dict return
host (NumPy) copies and load_state_dict / set_weights copy host or device arrays onto the
weights' device (_array.assign), so a saved file does not depend on where the model was.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import parse_device, require_cuda, to_device
from .dtype_policy import DTypePolicy

__all__ = ["device_spec", "module_to"]


def device_spec(module: Any) -> tuple[str, int | None]:
    """(device, index) the module's weights live on (set by ``to``); ("cpu", None) by default."""
    return module.__dict__.get("_device", ("cpu", None))


def _split_args(args: tuple, dtype: Any, device: Any) -> tuple[Any, Any]:
    """(dtype, device) from ``to``'s positional and keyword arguments: a positional argument is
    a device when it names one ('cpu', 'cuda', 'cuda:<n>', a torch.device), else a dtype."""
    if len(args) > 2:
        raise TypeError(f"to() takes at most 2 positional arguments, got {len(args)}")
    for a in args:
        try:
            parsed = parse_device(a) if isinstance(a, str) or hasattr(a, "type") else None
        except ValueError:
            parsed = None
        if parsed is None and isinstance(a, str):
            try:
                np.dtype(a)
            except TypeError:
                raise ValueError(
                    f"to(): {a!r} is neither a device ('cpu', 'cuda', 'cuda:<index>') nor a dtype"
                ) from None
        if parsed is not None and device is None:
            device = a
        elif parsed is None and dtype is None:
            dtype = a
        else:
            raise TypeError(f"to(): cannot tell what {a!r} is (a device or a dtype)")
    return dtype, device


def module_to(module: Any, args: tuple, dtype: Any = None, device: Any = None) -> Any:
    """``Module.to``: every argument checked (and CUDA's requirements) before anything changes."""
    dtype, device = _split_args(args, dtype, device)
    if device is not None:
        dev, index = parse_device(device)
        if dev == "cuda":
            require_cuda()
    if dtype is not None:
        d = np.dtype(dtype)
        if d.kind != "f":
            raise TypeError(f"modules hold floating-point weights, got dtype {d}")
        for m in module.modules():
            m._set_policy(DTypePolicy(d.name))
        for _, w, _, _ in module._named_weights():
            w.data = w.data.astype(d)
            w.grad = None
    if device is not None:
        for m in module.modules():
            object.__setattr__(m, "_device", (dev, index))
        for _, w, _, _ in module._named_weights():
            w.data = to_device(w.data, dev, index)
            w.grad = None
    return module
