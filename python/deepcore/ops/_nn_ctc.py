"""Keras's CTC ops, ``ctc_loss`` (the native recursion of ``F.ctc_loss``, csrc/ctc.h) and the
greedy ``ctc_decode``, in ``keras.ops`` only ([Note: keras.ops.nn over F] in _nn.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..tensor import Tensor
from ._nn import _F, _float
from ._numpy_extra import _t
from ._shape import permute

__all__ = ["ctc_loss", "ctc_decode"]


def ctc_loss(
    target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0
) -> Tensor:
    """Keras's ``ctc_loss``: the CTC negative log-likelihood per sample, (batch,), of the
    integer labels ``target`` (batch, max_label_length; sample n's first target_length[n])
    under the logits ``output`` (batch, max_length, classes; its first output_length[n]
    steps), class ``mask_index`` the blank. log_softmax, then the native recursion of
    ``F.ctc_loss`` (csrc/ctc.h); differentiable in ``output``."""
    out = _float(output, "ctc_loss", "output")
    if out.ndim != 3:
        raise ValueError(f"ctc_loss: output must be (batch, max_length, classes), got {out.shape}")
    tgt = _t(target, "ctc_loss", "target")
    if tgt.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: target must hold integer labels, got {tgt.dtype}")
    if not is_int(mask_index):
        raise TypeError(f"ctc_loss: mask_index must be an int, got {mask_index!r}")
    F = _F()
    log_probs = permute(F.log_softmax(out, axis=-1), (1, 0, 2))
    tl = _t(target_length, "ctc_loss", "target_length").data.astype(np.int64)
    ol = _t(output_length, "ctc_loss", "output_length").data.astype(np.int64)
    return F.ctc_loss(
        log_probs, tgt.data.astype(np.int64), ol, tl, blank=int(mask_index), reduction="none"
    )


def ctc_decode(
    inputs: Any,
    sequence_lengths: Any,
    strategy: str = "greedy",
    beam_width: int = 100,
    top_paths: int = 1,
    merge_repeated: bool = True,
    mask_index: int | None = 0,
) -> tuple[Tensor, Tensor]:
    """Keras's ``ctc_decode`` with the greedy strategy (what its PyTorch backend offers): the
    best class per step of ``inputs`` (batch, max_length, classes), steps past
    sequence_lengths[n] blank, repeats merged (``merge_repeated``), blanks (``mask_index``;
    None: the last class) dropped and the labels moved to the front, the rest -1. Returns
    (labels (1, batch, max_length) int32, scores (batch, 1): minus the sum of the chosen
    inputs). Vectorised over steps; no gradient. ``strategy="beam_search"`` is not
    implemented (NotImplementedError, as on Keras's PyTorch backend)."""
    if strategy == "beam_search":
        raise NotImplementedError("ctc_decode: the beam_search strategy is not implemented")
    if strategy != "greedy":
        raise ValueError(
            f"ctc_decode: strategy must be 'greedy' or 'beam_search', got {strategy!r}"
        )
    x = _float(inputs, "ctc_decode", "inputs")
    if x.ndim != 3 or x.shape[2] == 0:
        raise ValueError(f"ctc_decode: inputs must be (batch, max_length, classes), got {x.shape}")
    B, T, C = x.shape
    blank = C - 1 if mask_index is None else mask_index
    if not is_int(blank) or not 0 <= blank < C:
        raise ValueError(f"ctc_decode: mask_index must be an int in [0, {C}), got {mask_index!r}")
    lengths = _t(sequence_lengths, "ctc_decode", "sequence_lengths").data
    if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
        raise ValueError(
            f"ctc_decode: sequence_lengths must be {B} integers, got {lengths.dtype} "
            f"{lengths.shape}"
        )
    xp = array_module(x.data)
    best = x.data.argmax(axis=-1)
    scores = x.data.max(axis=-1)
    past = xp.arange(T)[None, :] >= lengths[:, None]
    best = xp.where(past, blank, best)
    scores = xp.where(past, 0.0, scores)
    if merge_repeated and T > 1:
        repeat = xp.zeros((B, T), bool)
        repeat[:, 1:] = best[:, 1:] == best[:, :-1]
        best = xp.where(repeat, blank, best)
    dropped = best == blank
    best = xp.where(dropped, -1, best)
    order = xp.argsort(xp.where(dropped, T, xp.arange(T)[None, :]), axis=-1, kind="stable")
    labels = xp.take_along_axis(best, order, axis=-1).astype("int32")[None]
    return Tensor._wrap(labels), Tensor._wrap(-scores.sum(axis=1, keepdims=True))
