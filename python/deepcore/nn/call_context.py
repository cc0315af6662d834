"""Keras's call context: what a layer call passes on to every layer called inside it.

[Note: training mode] ``module.training`` starts True (PyTorch) and is set by ``train()`` /
``eval()``. ``layer(x, training=...)`` overrides it for that call *and every layer called
inside it* (Keras's call context), so ``model(x, training=False)`` runs Dropout and BatchNorm
in inference mode throughout; with no explicit argument each layer uses its own mode, unless
an enclosing call set one.
"""

from __future__ import annotations

import threading
from typing import Any


class _CallContext(threading.local):
    training: bool | None = None


_call_ctx = _CallContext()


def call_in_context(layer: Any, args: tuple, kwargs: dict, training: bool | None) -> Any:
    """``layer.call(*args, **kwargs)`` in training mode ``training`` (None: the enclosing
    call's, else the layer's own), which layers called inside it see too; ``training`` is
    passed to ``call`` when its signature takes it."""
    ctx = _call_ctx
    if training is None:  # no context change: nothing to restore afterwards
        prev = ctx.training
        training = prev if prev is not None else layer.training
        if layer._call_takes_training:
            return layer.call(*args, training=training, **kwargs)
        return layer.call(*args, **kwargs)
    prev = ctx.training
    ctx.training = training = bool(training)
    try:
        if layer._call_takes_training:
            return layer.call(*args, training=training, **kwargs)
        return layer.call(*args, **kwargs)
    finally:
        ctx.training = prev
