"""Weighting and reducing per-sample losses as Keras's ``Loss.__call__`` does (see
[Note: weighted losses] in deepcore/losses/__init__.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from ._functions import EPSILON


def expand_weights(w: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    """``w`` broadcast to ``shape`` along trailing axes (Keras's squeeze_or_expand_to_same_rank):
    a (batch,) weight covers every time step of a (batch, time) loss; a trailing axis of size 1
    beyond ``shape`` is dropped. Raises ValueError when the leading sizes disagree."""
    w = np.asarray(w)
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    if w.ndim > len(shape) or tuple(w.shape) != tuple(shape[: w.ndim]):
        raise ValueError(
            f"{what} of shape {tuple(w.shape)} does not match the per-sample losses of shape "
            f"{tuple(shape)}: give one weight per sample (batch,) or one per entry {tuple(shape)}"
        )
    return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)


_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")
REDUCTIONS = (*_MEAN_REDUCTIONS, "sum", "none")


def check_reduction(reduction: Any) -> str:
    """A Loss's ``reduction`` (None means 'none'; tf.keras 2's 'auto' the default)."""
    if reduction is None:
        return "none"
    if reduction == "auto":
        return "sum_over_batch_size"
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS} or None, got {reduction!r}")
    return reduction


def weighted_reduce(
    values: Tensor,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "sum_over_batch_size",
    one_sample: bool = False,
) -> Tensor:
    """Per-sample losses weighted and reduced as Keras's ``reduction`` (see [Note: weighted
    losses]): 'sum_over_batch_size' / 'mean' divide the weighted sum by the number of values,
    'mean_with_sample_weight' by the sum of the weights, 'sum' does not divide, 'none' gives
    the weighted values. ``one_sample``: the predictions were 1-D, one sample whose loss is
    the scalar ``values`` (Keras's rule for weights then applies, ``_weighted_scalar``);
    otherwise a scalar with weights is an error (a custom loss that averaged its samples)."""
    shape = tuple(values.shape)
    if values.ndim == 0 and (sample_weight is not None or mask is not None):
        if one_sample:
            return _weighted_scalar(values, sample_weight, mask, reduction)
        raise ValueError(
            "sample weights and masks need per-sample losses, but the loss returned a scalar: "
            "return one value per sample (shape (batch,) or (batch, time))"
        )
    w = None
    if sample_weight is not None:
        sw = sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight
        w = expand_weights(np.asarray(sw, dtype=np.float64), shape, "sample_weight")
    if mask is not None:
        m = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=np.float64)
        scale = m.size / (m.sum() + EPSILON)  # the mean over the unmasked entries
        m = expand_weights(m * scale, shape, "the output mask")
        w = m if w is None else w * m
    if w is not None:
        values = values * Tensor(w.astype(values.dtype))
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if w is None:
        return values.mean()
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return values.sum() * (1.0 / max(float(w.sum()), EPSILON))
    return values.sum() * (1.0 / max(values.size, 1))


def _weighted_scalar(values: Tensor, sample_weight: Any, mask: Any, reduction: str) -> Tensor:
    """Keras's rule for a scalar loss (1-D predictions are one sample; a custom loss may
    return its mean) with weights: the weights (and a mask, rescaled as above) multiply the
    scalar, and the products are reduced as per-sample values would be, so
    'sum_over_batch_size' gives loss · mean(w) and 'mean_with_sample_weight' the loss."""
    w = None
    if sample_weight is not None:
        sw = sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight
        w = np.asarray(sw, dtype=np.float64)
    if mask is not None:
        m = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=np.float64)
        if reduction in _MEAN_REDUCTIONS:
            m = m * (m.size / (m.sum() + EPSILON))
        try:
            w = m if w is None else w * m
        except ValueError:
            raise ValueError(
                f"sample_weight of shape {w.shape} does not broadcast to the mask of shape "
                f"{m.shape}"
            ) from None
    weighted = values * Tensor(w.astype(values.dtype))
    if reduction == "none":
        return weighted
    if reduction == "sum" or weighted.ndim == 0:
        return weighted.sum()
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return weighted.sum() * (1.0 / max(float(w.sum()), EPSILON))
    return weighted.sum() * (1.0 / max(weighted.size, 1))
