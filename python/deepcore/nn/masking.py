"""Keras masks: which entries of a batch are data and which are padding, and how they travel
from layer to layer.

[Note: masking] Keras's masks: a boolean tensor per sample (and time step) saying which
entries are real data and which are padding. A layer *makes* one with
``compute_mask(inputs, mask=None)`` (``Embedding(mask_zero=True)``: ``inputs != 0``); a layer
with ``supports_masking = True`` *passes* the incoming mask on (the default ``compute_mask``
returns it: element-wise layers, Dense, Dropout, Activation, normalisation); a layer whose
``call`` takes a ``mask=`` argument *consumes* it (GlobalAveragePooling1D averages only the
unmasked steps, and returns no mask). A layer that does neither drops the mask with Keras's
warning (Flatten, Conv, pooling, Reshape). Overriding ``compute_mask`` sets
``supports_masking`` (Keras 3). Masks travel beside the values: ``Sequential`` and
functional models run each layer through :func:`call_with_mask`, which hands the mask to
``call`` when it takes one and computes the output's mask; a nested model returns its output
masks from the same run (``model(x, mask=..., return_masks=True)``), and ``fit`` / ``evaluate``
weight the losses and metrics of a model output that still carries a mask (see
[Note: weighted losses] in deepcore.losses). Outside a model's run, masks ride on the
tensors themselves (``_keras_mask``, [Note: masks on tensors]), so a subclassed model's own
``call`` (``h = emb(x); y = lstm(h)``) sees the padding as in Keras; passing
``mask=emb.compute_mask(x)`` explicitly works too.
Recurrent layers take ``call(x, mask=None)`` (a masked step carries the state over) and
return the mask only with ``return_sequences`` (nn/layers/recurrent.py); attention layers take
the query's and value's masks from their inputs' ([Note: attention masks in layers] in
nn/layers/attention.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["attach_mask", "call_with_mask"]


def attach_mask(out: Any, mask: Any) -> None:
    """[Note: masks on tensors] Called eagerly, outside a model, a layer that supports masking
    leaves its output's mask on the output Tensor as ``_keras_mask`` (Keras 3's attribute),
    and a layer whose ``call`` takes ``mask=`` gets the one its input carries when the caller
    gives none: so ``emb(x)._keras_mask`` exists and ``lstm(emb(x))`` in a subclassed
    model's ``call`` sees the padding, as in Keras. A tensor that already has a mask keeps it.
    Models run their layers through :func:`call_with_mask`, which hands masks over explicitly
    (the attribute is then only a by-product)."""
    if mask is None:
        return
    if isinstance(out, (list, tuple)):
        if isinstance(mask, (list, tuple)) and len(mask) == len(out):
            for o, m in zip(out, mask):
                attach_mask(o, m)
        return
    if hasattr(out, "_keras_mask") or not hasattr(type(out), "_keras_mask"):
        return  # has one already, or is not a Tensor
    out._keras_mask = mask


def _live(mask: Any) -> bool:
    if isinstance(mask, (list, tuple)):
        return any(m is not None for m in mask)
    return mask is not None


def call_with_mask(layer: Any, args: Sequence[Any], kwargs: dict, mask: Any) -> tuple:
    """``(output, output mask)`` of ``layer(*args, **kwargs)`` given the mask of its first
    argument (a list of masks for a list of inputs); see [Note: masking]."""
    live = _live(mask)
    if layer._returns_masks:  # a nested model: its masks come from the same run
        return layer(*args, mask=mask if live else None, return_masks=True, **kwargs)
    if live and layer._call_takes_mask:
        out = layer(*args, mask=mask, **kwargs)
    else:
        out = layer(*args, **kwargs)
    if layer.supports_masking:
        first = args[0] if args else next(iter(kwargs.values()), None)  # layer(query=q, ...)
        return out, layer.compute_mask(first, mask if live else None)
    if live:
        warnings.warn(
            f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input with a "
            "mask attached to it. However, this layer does not support masking and will "
            "therefore destroy the mask information. Downstream layers will not see the mask.",
            stacklevel=3,
        )
    return out, None
