"""Keras's loss *functions* (``deepcore.losses.mean_squared_error`` ...): ``fn(y_true,
y_pred)`` returns the per-sample losses, as ``keras.losses.*`` functions do.

[Note: loss function reductions] Each function reduces over the last axis only, as Keras's:
``mean_squared_error(y_true, y_pred)`` has shape ``y_pred.shape[:-1]`` (a scalar for 1-D
input), one value per sample (and time step). The optional ``reduction`` argument is deepcore's
(Keras's functions have none) and serves the Loss classes: ``"mean"`` is the batch mean through
the fused kernels (the lean path of ``MeanSquaredError()(y_true, y_pred)``), ``"none"`` the
per-sample values the weighting of deepcore/losses/_reduction.py works on; they differ from the
default only for 1-D input, whose entries are then samples (one weight each) rather than the
last axis of one sample. Targets take ``y_pred``'s rank first (Keras's
squeeze_or_expand_to_same_rank: (batch,) targets for (batch, 1) predictions are not broadcast
to (batch, batch)).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .. import ops
from ..nn import functional as F
from ..tensor import Tensor

EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [eps, 1 - eps]


def _as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if like is not None and arr.dtype.kind == "f" and arr.dtype != like.dtype:
        arr = arr.astype(like.dtype)
    return Tensor(arr)


def as_prediction(y_pred: Any, dtype: Any = None) -> Tensor:
    """``y_pred`` as a float Tensor, as Keras's ``convert_to_tensor`` of predictions: in
    ``dtype`` when given, else a float array's own dtype, else float32 (lists, numbers,
    integer arrays)."""
    if isinstance(y_pred, Tensor):
        # float16 predictions (a mixed_float16 model's) are scored in float32, as Keras does
        # ([Note: mixed precision] in nn/dtype_policy.py)
        return y_pred.to(dtype=np.float32) if y_pred.dtype == np.float16 else y_pred
    arr = np.asarray(y_pred)
    if arr.dtype.kind != "f" or dtype is not None or not isinstance(y_pred, np.ndarray):
        arr = arr.astype(dtype or np.float32)
    return Tensor(arr)


def same_rank(t: Tensor, like: Any) -> Tensor:
    """Keras's squeeze-or-expand rule for targets against predictions: (n,) labels against
    (n, 1) predictions gain the trailing axis, (n, 1) targets against (n,) predictions lose
    it. Targets must then broadcast to the predictions' shape without enlarging it: (4,)
    against (4, 1) would otherwise pair every label with every prediction, silently."""
    if t.ndim == like.ndim - 1 and like.ndim and like.shape[-1] == 1:
        t = ops.reshape(t, (*t.shape, 1))
    elif t.ndim == like.ndim + 1 and t.shape[-1] == 1:
        t = ops.reshape(t, t.shape[:-1])
    try:
        ok = np.broadcast_shapes(t.shape, like.shape) == tuple(like.shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"targets of shape {tuple(t.shape)} do not match predictions of shape "
            f"{tuple(like.shape)}"
        )
    return t


def _targets(y_true: Any, like: Tensor) -> Tensor:
    """Targets as a float Tensor in ``like``'s dtype (integer / bool labels converted), in
    the predictions' rank (see ``same_rank``)."""
    t = _as_tensor(y_true, like)
    if t.dtype.kind != "f":
        t = Tensor(t.data.astype(like.dtype))
    return same_rank(t, like)


# ---------------------------------------------------------------------- functions
def _loss_function(fn: Callable) -> Callable:
    """A Keras loss function: predictions converted, ``reduction`` checked (see
    [Note: loss function reductions])."""

    @functools.wraps(fn)
    def loss(y_true: Any, y_pred: Any, *args: Any, reduction: str | None = None, **kw: Any):
        if reduction not in (None, "none", "mean"):
            raise ValueError(f"reduction must be None, 'none' or 'mean', got {reduction!r}")
        return fn(y_true, as_prediction(y_pred), *args, reduction=reduction, **kw)

    return loss


def _pointwise(elementwise: Tensor, reduction: str | None) -> Tensor:
    """An element-wise loss reduced over the last axis (the mean over the batch for "mean";
    a 1-D loss kept as per-sample values for "none")."""
    if reduction == "mean":
        return elementwise.mean()
    if reduction == "none" and elementwise.ndim < 2:
        return elementwise
    return elementwise.mean(axis=-1) if elementwise.ndim else elementwise


@_loss_function
def mean_squared_error(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """mean((y_pred - y_true)²) over the last axis."""
    if reduction == "mean":
        return F.mse_loss(y_pred, _targets(y_true, y_pred))
    return _pointwise(F.mse_loss(y_pred, _targets(y_true, y_pred), reduction="none"), reduction)


@_loss_function
def mean_absolute_error(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """mean(|y_pred - y_true|) over the last axis."""
    return _pointwise(ops.abs(y_pred - _targets(y_true, y_pred)), reduction)


def _class_axis_last(y_pred: Tensor, t: Tensor | None, axis: int) -> tuple:
    """``y_pred`` (and targets ``t`` of its shape) with the class axis ``axis`` moved last."""
    if axis == -1 or axis == y_pred.ndim - 1:
        return y_pred, t
    if not isinstance(axis, int) or not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(f"axis {axis!r} is out of range for predictions of rank {y_pred.ndim}")
    return ops.moveaxis(y_pred, axis, -1), None if t is None else ops.moveaxis(t, axis, -1)


def _smooth(t: Tensor, label_smoothing: float, classes: float) -> Tensor:
    """Keras's label smoothing: targets pulled towards 1/classes."""
    if not label_smoothing:
        return t
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return t * (1.0 - ls) + ls / classes


@_loss_function
def categorical_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    *,
    reduction: str | None = None,
) -> Tensor:
    """Cross-entropy with one-hot (or probability) targets along ``axis``, in Keras's
    argument order: one value per sample (shape ``y_pred.shape[:-1]``). One implementation:
    ``F.categorical_crossentropy`` (Keras's rescale-and-clip of probabilities in one autograd
    node; the fused softmax cross-entropy kernel from logits)."""
    y_pred, t = _class_axis_last(y_pred, _targets(y_true, y_pred), axis)
    t = _smooth(t, label_smoothing, y_pred.shape[-1])
    return F.categorical_crossentropy(
        y_pred, t, from_logits=from_logits, eps=EPSILON, reduction=reduction or "none"
    )


@_loss_function
def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
    *,
    reduction: str | None = None,
) -> Tensor:
    """Cross-entropy with integer class targets, one value per sample;
    ``F.sparse_categorical_crossentropy`` in Keras's argument order. Samples whose label is
    ``ignore_class`` get loss 0 (and the "mean" is over the others)."""
    t = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if t.ndim == y_pred.ndim and t.shape[-1] == 1:  # Keras accepts (N, 1) labels
        t = t.reshape(t.shape[:-1])
    y_pred, _ = _class_axis_last(y_pred, None, axis)
    if ignore_class is None:
        return F.sparse_categorical_crossentropy(
            y_pred, t, from_logits=from_logits, eps=EPSILON, reduction=reduction or "none"
        )
    keep = t != ignore_class  # Keras zeroes the losses of the ignored label
    per = F.sparse_categorical_crossentropy(
        y_pred, np.where(keep, t, 0), from_logits=from_logits, eps=EPSILON, reduction="none"
    )
    per = per * Tensor(keep.astype(per.dtype))
    return per.sum() * (1.0 / max(int(keep.sum()), 1)) if reduction == "mean" else per


@_loss_function
def binary_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    *,
    reduction: str | None = None,
) -> Tensor:
    """Binary cross-entropy, the mean over ``axis``."""
    y_pred, t = _class_axis_last(y_pred, _targets(y_true, y_pred), axis)
    t = _smooth(t, label_smoothing, 2.0)
    if from_logits:  # max(z, 0) - z t + log(1 + exp(-|z|)): stable for any z
        return _pointwise(F.relu(y_pred) - y_pred * t + F.softplus(-ops.abs(y_pred)), reduction)
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    if reduction == "mean":
        return F.binary_cross_entropy(p, t)
    return _pointwise(F.binary_cross_entropy(p, t, reduction="none"), reduction)


def _plus_minus_one(y_true: Any, y_pred: Tensor) -> Tensor:
    """Hinge targets: 0/1 labels mapped to -1/+1 as Keras does."""
    t = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if np.all((t == 0) | (t == 1)):  # Keras's convert_binary_labels_to_hinge
        t = 2.0 * t - 1.0
    return same_rank(_as_tensor(t.astype(y_pred.dtype, copy=False)), y_pred)


@_loss_function
def hinge(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """mean(max(0, 1 - y * score)); 0/1 targets are mapped to -1/+1 as Keras does."""
    t = _plus_minus_one(y_true, y_pred)
    if reduction == "mean":
        return F.hinge_loss(y_pred, t)
    return _pointwise(F.hinge_loss(y_pred, t, reduction="none"), reduction)


@_loss_function
def squared_hinge(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """mean(max(0, 1 - y * score)²) (0/1 targets mapped to -1/+1)."""
    m = ops.maximum(1.0 - _plus_minus_one(y_true, y_pred) * y_pred, 0.0)
    return _pointwise(m * m, reduction)


def _per_sample(values: Tensor, reduction: str) -> Tensor:
    """Values already one per sample: their mean, or themselves."""
    return values.mean() if reduction == "mean" else values


@_loss_function
def categorical_hinge(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """max(0, max((1 - y) * p) - sum(y * p) + 1) per sample."""
    t = _targets(y_true, y_pred)
    pos = (t * y_pred).sum(axis=-1)
    neg = ((1.0 - t) * y_pred).max(axis=-1)
    return _per_sample(ops.maximum(neg - pos + 1.0, 0.0), reduction)


@_loss_function
def mean_absolute_percentage_error(
    y_true: Any, y_pred: Tensor, *, reduction: str | None = None
) -> Tensor:
    """100 · mean(|y - p| / max(|y|, eps)) over the last axis."""
    t = _targets(y_true, y_pred)
    return _pointwise(ops.abs((t - y_pred) / ops.maximum(ops.abs(t), EPSILON)) * 100.0, reduction)


@_loss_function
def mean_squared_logarithmic_error(
    y_true: Any, y_pred: Tensor, *, reduction: str | None = None
) -> Tensor:
    """mean((log(1 + max(p, eps)) - log(1 + max(y, eps)))²) over the last axis."""
    t = _targets(y_true, y_pred)
    d = ops.log(ops.maximum(y_pred, EPSILON) + 1.0) - ops.log(ops.maximum(t, EPSILON) + 1.0)
    return _pointwise(d * d, reduction)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    return x / ops.sqrt(ops.maximum((x * x).sum(axis=axis, keepdims=True), 1e-12))


@_loss_function
def cosine_similarity(
    y_true: Any, y_pred: Tensor, axis: int = -1, *, reduction: str | None = None
) -> Tensor:
    """The negative cosine similarity along ``axis`` (Keras's loss: -1 when aligned)."""
    t = _targets(y_true, y_pred)
    v = -(_l2_normalize(t, axis) * _l2_normalize(y_pred, axis)).sum(axis=axis)
    return _per_sample(v, reduction)


@_loss_function
def huber(
    y_true: Any, y_pred: Tensor, delta: float = 1.0, *, reduction: str | None = None
) -> Tensor:
    """0.5 e² where |e| <= delta, else delta (|e| - delta / 2); mean over the last axis."""
    delta = float(delta)
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta!r}")
    err = y_pred - _targets(y_true, y_pred)
    a = ops.abs(err)
    return _pointwise(ops.where(a <= delta, 0.5 * err * err, delta * a - 0.5 * delta**2), reduction)


@_loss_function
def log_cosh(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """mean(log(cosh(p - y))) over the last axis, as x + softplus(-2x) - log 2 (no overflow)."""
    x = y_pred - _targets(y_true, y_pred)
    return _pointwise(x + F.softplus(-2.0 * x) - float(np.log(2.0)), reduction)


@_loss_function
def kl_divergence(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """sum(y log(y / p)) over the last axis, both clipped to [eps, 1]."""
    t = ops.clip(_targets(y_true, y_pred), EPSILON, 1.0)
    p = ops.clip(y_pred, EPSILON, 1.0)
    return _per_sample((t * ops.log(t / p)).sum(axis=-1), reduction)


@_loss_function
def poisson(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """mean(p - y log(p + eps)) over the last axis."""
    t = _targets(y_true, y_pred)
    return _pointwise(y_pred - t * ops.log(y_pred + EPSILON), reduction)


@_loss_function
def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    *,
    reduction: str | None = None,
) -> Tensor:
    """Binary cross-entropy scaled by (1 - p_t)^gamma (and alpha-balanced), mean over
    ``axis`` (Lin et al., 2017)."""
    y_pred, t = _class_axis_last(y_pred, _targets(y_true, y_pred), axis)
    t = _smooth(t, label_smoothing, 2.0)
    p = F.sigmoid(y_pred) if from_logits else y_pred
    pc = ops.clip(p, EPSILON, 1.0 - EPSILON)
    bce = -(t * ops.log(pc) + (1.0 - t) * ops.log(1.0 - pc))
    p_t = t * p + (1.0 - t) * (1.0 - p)
    focal = (1.0 - p_t) ** float(gamma) * bce
    if apply_class_balancing:
        focal = (t * float(alpha) + (1.0 - t) * (1.0 - float(alpha))) * focal
    return _pointwise(focal, reduction)


@_loss_function
def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    *,
    reduction: str | None = None,
) -> Tensor:
    """sum(-alpha (1 - p)^gamma y log p) over the classes (``axis``)."""
    y_pred, t = _class_axis_last(y_pred, _targets(y_true, y_pred), axis)
    t = _smooth(t, label_smoothing, y_pred.shape[-1])
    p = F.softmax(y_pred, axis=-1) if from_logits else y_pred
    p = ops.clip(p / p.sum(axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
    focal = float(alpha) * (1.0 - p) ** float(gamma) * (-t * ops.log(p))
    return _per_sample(focal.sum(axis=-1), reduction)


def _overlap_sums(y_true: Any, y_pred: Tensor, axis: Any) -> tuple[Tensor, Tensor, Tensor]:
    """(sum(y p), sum(y), sum(p)) over ``axis`` (every entry when None)."""
    t = _targets(y_true, y_pred)
    return (t * y_pred).sum(axis=axis), t.sum(axis=axis), y_pred.sum(axis=axis)


@_loss_function
def dice(y_true: Any, y_pred: Tensor, axis: Any = None, *, reduction: str | None = None) -> Tensor:
    """1 - 2 sum(y p) / (sum(y) + sum(p) + eps) over ``axis`` (all entries when None)."""
    inter, st, sp = _overlap_sums(y_true, y_pred, axis)
    v = 1.0 - 2.0 * inter / (st + sp + EPSILON)
    return _per_sample(v, reduction) if v.ndim else v


@_loss_function
def tversky(
    y_true: Any,
    y_pred: Tensor,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: Any = None,
    *,
    reduction: str | None = None,
) -> Tensor:
    """1 - tp / (tp + alpha fp + beta fn) with soft counts over ``axis`` (all when None)."""
    tp, st, sp = _overlap_sums(y_true, y_pred, axis)
    v = 1.0 - tp / (tp + float(alpha) * (sp - tp) + float(beta) * (st - tp) + EPSILON)
    return _per_sample(v, reduction) if v.ndim else v


@_loss_function
def ctc(y_true: Any, y_pred: Tensor, *, reduction: str | None = None) -> Tensor:
    """Keras's CTC loss per sample: ``y_true`` (batch, max_length) integer labels padded with
    0, the blank (a row's labels end at its first 0); ``y_pred`` (batch, time, classes)
    logits (log_softmax is applied here). Every time step of a sample counts. The native
    recursion of ``F.ctc_loss`` (PyTorch's CTC) with blank 0."""
    if y_pred.ndim != 3:
        raise ValueError(f"ctc: y_pred must be (batch, time, classes), got shape {y_pred.shape}")
    t = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if t.ndim != 2 or t.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"ctc: y_true must be (batch, max_length) with batch {y_pred.shape[0]}, got shape "
            f"{t.shape}"
        )
    if t.dtype.kind == "f":
        if not np.array_equal(t, np.round(t)):
            raise ValueError("ctc: y_true must hold integer labels")
        t = t.astype(np.int64)
    pad = t == 0
    lengths = np.where(pad.any(axis=1), pad.argmax(axis=1), t.shape[1])
    n, steps = y_pred.shape[0], y_pred.shape[1]
    log_probs = F.log_softmax(y_pred, axis=-1).transpose(1, 0, 2)
    per = F.ctc_loss(
        log_probs, np.where(pad, 0, t), np.full(n, steps), lengths, blank=0, reduction="none"
    )
    return per.mean() if reduction == "mean" else per


# Keras's short names of the functions (keras.losses.mse is keras.losses.mean_squared_error)
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
