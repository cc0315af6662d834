"""Keras losses: ``loss(y_true, y_pred)`` objects and names, built on deepcore.nn.functional.

Arguments are in Keras's order (targets first). ``get(identifier)`` resolves what
``Model.compile(loss=...)`` accepts: every Keras name (the function names 'mean_squared_error',
'categorical_crossentropy', 'huber', 'kl_divergence', ..., the class names 'MeanSquaredError',
..., and the abbreviations 'mse', 'mae', 'mape', 'msle', 'bce', 'kld'; one :data:`LOSSES`
registry), a :class:`Loss` object or class, or any callable ``fn(y_true, y_pred)``.

A ``Loss`` subclass is Keras's pattern: ``call(y_true, y_pred)`` returns the per-sample losses
and ``__call__`` reduces them by ``reduction`` ('sum_over_batch_size', the default, 'mean',
'sum', 'mean_with_sample_weight', or 'none' / None). ``y_true`` reaches ``call`` as a Tensor
(floats in ``y_pred``'s dtype). The loss *functions* here reduce to the batch mean unless given
``reduction="none"`` (Keras's functions return the per-sample values).

[Note: fused softmax cross-entropy] A classifier ending in softmax and trained with a
cross-entropy loss on probabilities computes ``-sum(y * log(softmax(z)))``. ``Model`` computes the
same quantity from the logits ``z`` with the fused, max-subtracted ``F.cross_entropy`` (one
native pass, stable for huge logits, no clipping of tiny probabilities) whenever
``Loss.fusable_with_softmax`` is true; the result equals the unfused math wherever the
probabilities are above the clipping epsilon, and is more accurate where they are not.

[Note: weighted losses] ``loss(y_true, y_pred, sample_weight=None, mask=None)`` follows Keras's
"sum_over_batch_size" reduction. The unreduced losses are Keras's per-sample values (the loss
reduced over the last axis only: shape ``y_pred.shape[:-1]``, one per sample, or one per
sample and time step for sequence outputs; every built-in function gives them with
``reduction="none"``). With weights ``w`` (``sample_weight`` of shape ``(batch,)`` or of the
per-sample shape, broadcast along trailing axes) the loss is ``sum(w * loss) / loss.size``: the
weighted sum divided by the number of samples, not by the sum of the weights. A boolean
``mask`` (the model output's Keras mask, e.g. from ``Embedding(mask_zero=True)``) zeroes the
masked entries and rescales by ``mask.size / (mask.sum() + eps)``, so the loss is the
(weighted) sum over the unmasked entries divided by their number. Without weights or a mask the
loss is the plain mean, computed by the fused kernels.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable

import numpy as np

from . import ops
from ._registry import Registry
from .nn import functional as F
from .tensor import Tensor

__all__ = [
    "Loss",
    "LossFunctionWrapper",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "Hinge",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "CosineSimilarity",
    "Huber",
    "LogCosh",
    "SquaredHinge",
    "CategoricalHinge",
    "KLDivergence",
    "Poisson",
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "Dice",
    "Tversky",
    "mean_squared_error",
    "mean_absolute_error",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "hinge",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "cosine_similarity",
    "huber",
    "log_cosh",
    "squared_hinge",
    "categorical_hinge",
    "kl_divergence",
    "poisson",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "dice",
    "tversky",
    "weighted_reduce",
    "LOSSES",
    "get",
    "serialize",
    "deserialize",
]

EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [eps, 1 - eps]


def _as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if like is not None and arr.dtype.kind == "f" and arr.dtype != like.dtype:
        arr = arr.astype(like.dtype)
    return Tensor(arr)


def _same_rank(t: Tensor, like: Tensor) -> Tensor:
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
    the predictions' rank (see ``_same_rank``)."""
    t = _as_tensor(y_true, like)
    if t.dtype.kind != "f":
        t = Tensor(t.data.astype(like.dtype))
    return _same_rank(t, like)


# ---------------------------------------------------------------------- functions
def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _pointwise(elementwise: Tensor, reduction: str) -> Tensor:
    """An element-wise loss as the batch mean, or per sample (the mean over the last axis)."""
    if reduction == "mean":
        return elementwise.mean()
    return elementwise.mean(axis=-1) if elementwise.ndim >= 2 else elementwise


def mean_squared_error(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """mean((y_pred - y_true)²); ``reduction="none"``: per sample (mean over the last axis)."""
    _check_reduction(reduction)
    if reduction == "mean":
        return F.mse_loss(y_pred, _targets(y_true, y_pred))
    return _pointwise(F.mse_loss(y_pred, _targets(y_true, y_pred), reduction="none"), reduction)


def mean_absolute_error(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    _check_reduction(reduction)
    return _pointwise(ops.abs(y_pred - _targets(y_true, y_pred)), reduction)


def _smooth(t: Tensor, label_smoothing: float, classes: float) -> Tensor:
    """Keras's label smoothing: targets pulled towards 1/classes."""
    if not label_smoothing:
        return t
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return t * (1.0 - ls) + ls / classes


def categorical_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    from_logits: bool = False,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy with one-hot (or probability) targets along the last axis, in Keras's
    argument order; ``reduction="none"`` gives one value per sample (shape
    ``y_pred.shape[:-1]``). One implementation: ``F.categorical_crossentropy`` (Keras's
    rescale-and-clip of probabilities in one autograd node; the fused softmax cross-entropy
    kernel from logits)."""
    _check_reduction(reduction)
    t = _smooth(_targets(y_true, y_pred), label_smoothing, y_pred.shape[-1])
    return F.categorical_crossentropy(
        y_pred, t, from_logits=from_logits, eps=EPSILON, reduction=reduction
    )


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Tensor, from_logits: bool = False, reduction: str = "mean"
) -> Tensor:
    """Cross-entropy with integer class targets (``reduction="none"``: one value per sample);
    ``F.sparse_categorical_crossentropy`` in Keras's argument order."""
    _check_reduction(reduction)
    t = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if t.ndim == y_pred.ndim and t.shape[-1] == 1:  # Keras accepts (N, 1) labels
        t = t.reshape(t.shape[:-1])
    return F.sparse_categorical_crossentropy(
        y_pred, t, from_logits=from_logits, eps=EPSILON, reduction=reduction
    )


def binary_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    from_logits: bool = False,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Binary cross-entropy; ``reduction="none"``: per sample (mean over the last axis)."""
    _check_reduction(reduction)
    t = _smooth(_targets(y_true, y_pred), label_smoothing, 2.0)
    if from_logits:  # max(z, 0) - z t + log(1 + exp(-|z|)): stable for any z
        return _pointwise(F.relu(y_pred) - y_pred * t + F.softplus(-ops.abs(y_pred)), reduction)
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    if reduction == "mean":
        return F.binary_cross_entropy(p, t)
    return _pointwise(F.binary_cross_entropy(p, t, reduction="none"), reduction)


def _plus_minus_one(y_true: Any, y_pred: Tensor) -> Tensor:
    """Hinge targets: 0/1 labels mapped to -1/+1 as Keras does."""
    t = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if t.size and t.min() >= 0:
        t = 2.0 * t - 1.0
    return _same_rank(_as_tensor(t.astype(y_pred.dtype, copy=False)), y_pred)


def hinge(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """mean(max(0, 1 - y * score)); 0/1 targets are mapped to -1/+1 as Keras does."""
    _check_reduction(reduction)
    t = _plus_minus_one(y_true, y_pred)
    if reduction == "mean":
        return F.hinge_loss(y_pred, t)
    return _pointwise(F.hinge_loss(y_pred, t, reduction="none"), reduction)


def squared_hinge(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """mean(max(0, 1 - y * score)²) (0/1 targets mapped to -1/+1)."""
    _check_reduction(reduction)
    m = ops.maximum(1.0 - _plus_minus_one(y_true, y_pred) * y_pred, 0.0)
    return _pointwise(m * m, reduction)


def _per_sample(values: Tensor, reduction: str) -> Tensor:
    """Values already one per sample: their mean, or themselves."""
    return values.mean() if reduction == "mean" else values


def categorical_hinge(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """max(0, max((1 - y) * p) - sum(y * p) + 1) per sample."""
    _check_reduction(reduction)
    t = _targets(y_true, y_pred)
    pos = (t * y_pred).sum(axis=-1)
    neg = ((1.0 - t) * y_pred).max(axis=-1)
    return _per_sample(ops.maximum(neg - pos + 1.0, 0.0), reduction)


def mean_absolute_percentage_error(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """100 · mean(|y - p| / max(|y|, eps)) over the last axis."""
    _check_reduction(reduction)
    t = _targets(y_true, y_pred)
    return _pointwise(ops.abs((t - y_pred) / ops.maximum(ops.abs(t), EPSILON)) * 100.0, reduction)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """mean((log(1 + max(p, eps)) - log(1 + max(y, eps)))²) over the last axis."""
    _check_reduction(reduction)
    t = _targets(y_true, y_pred)
    d = ops.log(ops.maximum(y_pred, EPSILON) + 1.0) - ops.log(ops.maximum(t, EPSILON) + 1.0)
    return _pointwise(d * d, reduction)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    return x / ops.sqrt(ops.maximum((x * x).sum(axis=axis, keepdims=True), 1e-12))


def cosine_similarity(
    y_true: Any, y_pred: Tensor, axis: int = -1, reduction: str = "mean"
) -> Tensor:
    """The negative cosine similarity along ``axis`` (Keras's loss: -1 when aligned)."""
    _check_reduction(reduction)
    t = _targets(y_true, y_pred)
    v = -(_l2_normalize(t, axis) * _l2_normalize(y_pred, axis)).sum(axis=axis)
    return _per_sample(v, reduction)


def huber(y_true: Any, y_pred: Tensor, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """0.5 e² where |e| <= delta, else delta (|e| - delta / 2); mean over the last axis."""
    _check_reduction(reduction)
    delta = float(delta)
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta!r}")
    err = y_pred - _targets(y_true, y_pred)
    a = ops.abs(err)
    return _pointwise(ops.where(a <= delta, 0.5 * err * err, delta * a - 0.5 * delta**2), reduction)


def log_cosh(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """mean(log(cosh(p - y))) over the last axis, as x + softplus(-2x) - log 2 (no overflow)."""
    _check_reduction(reduction)
    x = y_pred - _targets(y_true, y_pred)
    return _pointwise(x + F.softplus(-2.0 * x) - float(np.log(2.0)), reduction)


def kl_divergence(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """sum(y log(y / p)) over the last axis, both clipped to [eps, 1]."""
    _check_reduction(reduction)
    t = ops.clip(_targets(y_true, y_pred), EPSILON, 1.0)
    p = ops.clip(y_pred, EPSILON, 1.0)
    return _per_sample((t * ops.log(t / p)).sum(axis=-1), reduction)


def poisson(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """mean(p - y log(p + eps)) over the last axis."""
    _check_reduction(reduction)
    t = _targets(y_true, y_pred)
    return _pointwise(y_pred - t * ops.log(y_pred + EPSILON), reduction)


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy scaled by (1 - p_t)^gamma (and alpha-balanced), mean over the last
    axis (Lin et al., 2017)."""
    _check_reduction(reduction)
    t = _smooth(_targets(y_true, y_pred), label_smoothing, 2.0)
    p = F.sigmoid(y_pred) if from_logits else y_pred
    pc = ops.clip(p, EPSILON, 1.0 - EPSILON)
    bce = -(t * ops.log(pc) + (1.0 - t) * ops.log(1.0 - pc))
    p_t = t * p + (1.0 - t) * (1.0 - p)
    focal = (1.0 - p_t) ** float(gamma) * bce
    if apply_class_balancing:
        focal = (t * float(alpha) + (1.0 - t) * (1.0 - float(alpha))) * focal
    return _pointwise(focal, reduction)


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """sum(-alpha (1 - p)^gamma y log p) over the classes (last axis)."""
    _check_reduction(reduction)
    t = _smooth(_targets(y_true, y_pred), label_smoothing, y_pred.shape[-1])
    p = F.softmax(y_pred, axis=-1) if from_logits else y_pred
    p = ops.clip(p / p.sum(axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
    focal = float(alpha) * (1.0 - p) ** float(gamma) * (-t * ops.log(p))
    return _per_sample(focal.sum(axis=-1), reduction)


def _overlap_sums(y_true: Any, y_pred: Tensor, axis: Any) -> tuple[Tensor, Tensor, Tensor]:
    """(sum(y p), sum(y), sum(p)) over ``axis`` (every entry when None)."""
    t = _targets(y_true, y_pred)
    return (t * y_pred).sum(axis=axis), t.sum(axis=axis), y_pred.sum(axis=axis)


def dice(y_true: Any, y_pred: Tensor, axis: Any = None, reduction: str = "mean") -> Tensor:
    """1 - 2 sum(y p) / (sum(y) + sum(p) + eps) over ``axis`` (all entries when None)."""
    _check_reduction(reduction)
    inter, st, sp = _overlap_sums(y_true, y_pred, axis)
    v = 1.0 - 2.0 * inter / (st + sp + EPSILON)
    return _per_sample(v, reduction) if v.ndim else v


def tversky(
    y_true: Any,
    y_pred: Tensor,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """1 - tp / (tp + alpha fp + beta fn) with soft counts over ``axis`` (all when None)."""
    _check_reduction(reduction)
    tp, st, sp = _overlap_sums(y_true, y_pred, axis)
    v = 1.0 - tp / (tp + float(alpha) * (sp - tp) + float(beta) * (st - tp) + EPSILON)
    return _per_sample(v, reduction) if v.ndim else v


# ---------------------------------------------------------------------- weighting
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
) -> Tensor:
    """Per-sample losses weighted and reduced as Keras's ``reduction`` (see [Note: weighted
    losses]): 'sum_over_batch_size' / 'mean' divide the weighted sum by the number of values,
    'mean_with_sample_weight' by the sum of the weights, 'sum' does not divide, 'none' gives
    the weighted values."""
    shape = tuple(values.shape)
    if values.ndim == 0 and (sample_weight is not None or mask is not None):
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


# ---------------------------------------------------------------------- objects
class Loss:
    """Base class (Keras's): subclasses implement ``call(y_true, y_pred)`` returning the
    per-sample losses (or their mean); ``loss(y_true, y_pred, sample_weight=None)`` weights and
    reduces them by ``reduction`` (see [Note: weighted losses])."""

    #: the loss is a cross-entropy on probabilities: a softmax output may be fused with it
    fusable_with_softmax = False
    #: the targets are integer class ids (decides what 'accuracy' means)
    sparse_targets = False

    def __init__(
        self, name: str | None = None, reduction: Any = "sum_over_batch_size", dtype: Any = None
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = check_reduction(reduction)
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def __call__(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        if not isinstance(y_pred, Tensor):
            arr = np.asarray(y_pred)
            if arr.dtype.kind != "f" or self.dtype is not None:
                arr = arr.astype(self.dtype or np.float32)
            y_pred = Tensor(arr)
        y_true = _as_tensor(y_true, y_pred)
        if sample_weight is None and mask is None and self.reduction in _MEAN_REDUCTIONS:
            out = self.call(y_true, y_pred)  # the lean path: the built-ins' fused means
            return out.mean() if getattr(out, "ndim", 0) else out
        return weighted_reduce(self.per_sample(y_true, y_pred), sample_weight, mask, self.reduction)

    def per_sample(self, y_true: Any, y_pred: Tensor) -> Tensor:
        """The unreduced losses: one per sample (and time step), shape ``y_pred.shape[:-1]``."""
        return self.call(y_true, y_pred)

    def fused_softmax_call(
        self, y_true: Any, logits: Tensor, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        """The loss of ``softmax(logits)`` computed from the logits (see the module note)."""
        if sample_weight is None and mask is None and self.reduction in _MEAN_REDUCTIONS:
            return self._from_logits(y_true, logits, "mean")
        per = self._from_logits(y_true, logits, "none")
        return weighted_reduce(per, sample_weight, mask, self.reduction)

    def _from_logits(self, y_true: Any, logits: Tensor, reduction: str) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class LossFunctionWrapper(Loss):
    """A loss made from a function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(
        self,
        fn: Callable,
        name: str | None = None,
        reduction: Any = "sum_over_batch_size",
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or getattr(fn, "__name__", "loss"), reduction, dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def per_sample(self, y_true: Any, y_pred: Tensor) -> Tensor:
        if LOSSES.name_of(self.fn):  # the built-ins give Keras's per-sample values
            return self.fn(y_true, y_pred, reduction="none", **self._fn_kwargs)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


def keras_init(params: list[tuple[str, Any]], init: Callable[[Any, dict], None]) -> Callable:
    """An ``__init__`` with the explicit signature ``params`` ((name, default) in Keras's
    argument order, so positional calls work as in Keras) that hands the bound arguments to
    ``init(self, arguments)``."""
    P = inspect.Parameter
    sig = inspect.Signature(
        [
            P("self", P.POSITIONAL_OR_KEYWORD),
            *(P(k, P.POSITIONAL_OR_KEYWORD, default=v) for k, v in params),
        ]
    )

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = sig.bind(self, *args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}: {e}") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        init(self, arguments)

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    return __init__


def wrapper_class(
    base: type,
    cls_name: str,
    fn: Callable,
    doc: str,
    order: list[tuple[str, Any]],
    base_keys: tuple[str, ...],
    module: str = __name__,
    **attrs: Any,
) -> type:
    """A subclass of ``base`` (LossFunctionWrapper, or a metrics wrapper) over the function
    ``fn`` with Keras's signature ``order``: the ``base_keys`` arguments go to
    ``base.__init__(self, fn, ...)``, the rest to ``fn`` and, as in Keras, onto the object as
    attributes (``loss.from_logits``, ``metric.threshold``)."""

    def init(self: Any, a: dict) -> None:
        base_args = {k: a.pop(k) for k in base_keys}
        base.__init__(self, fn, **base_args, **a)
        for k, v in a.items():
            setattr(self, k, v)

    return type(
        cls_name,
        (base,),
        {"__init__": keras_init(order, init), "__doc__": doc, "__module__": module, **attrs},
    )


def _loss_class(cls_name: str, fn: Callable, name: str, doc: str, **params: Any) -> type:
    """A LossFunctionWrapper class with Keras's signature ``(*params, reduction, name,
    dtype)``."""
    order = [*params.items(), ("reduction", "sum_over_batch_size"), ("name", name), ("dtype", None)]
    return wrapper_class(
        LossFunctionWrapper, cls_name, fn, doc, order, ("name", "reduction", "dtype")
    )


MeanSquaredError = _loss_class(
    "MeanSquaredError", mean_squared_error, "mean_squared_error", "mean((y - p)²)"
)
MeanAbsoluteError = _loss_class(
    "MeanAbsoluteError", mean_absolute_error, "mean_absolute_error", "mean(|y - p|)"
)
MeanAbsolutePercentageError = _loss_class(
    "MeanAbsolutePercentageError",
    mean_absolute_percentage_error,
    "mean_absolute_percentage_error",
    "100 mean(|y - p| / |y|)",
)
MeanSquaredLogarithmicError = _loss_class(
    "MeanSquaredLogarithmicError",
    mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error",
    "mean((log(1 + p) - log(1 + y))²)",
)
CosineSimilarity = _loss_class(
    "CosineSimilarity", cosine_similarity, "cosine_similarity", "-cos(y, p)", axis=-1
)
Huber = _loss_class("Huber", huber, "huber_loss", "Huber loss", delta=1.0)
LogCosh = _loss_class("LogCosh", log_cosh, "log_cosh", "mean(log(cosh(p - y)))")
Hinge = _loss_class("Hinge", hinge, "hinge", "mean(max(0, 1 - y p))")
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, "squared_hinge", "mean(max(0, 1 - y p)²)")
CategoricalHinge = _loss_class(
    "CategoricalHinge", categorical_hinge, "categorical_hinge", "categorical hinge"
)
KLDivergence = _loss_class("KLDivergence", kl_divergence, "kl_divergence", "sum(y log(y / p))")
Poisson = _loss_class("Poisson", poisson, "poisson", "mean(p - y log p)")
BinaryFocalCrossentropy = _loss_class(
    "BinaryFocalCrossentropy",
    binary_focal_crossentropy,
    "binary_focal_crossentropy",
    "focal binary cross-entropy",
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
)
CategoricalFocalCrossentropy = _loss_class(
    "CategoricalFocalCrossentropy",
    categorical_focal_crossentropy,
    "categorical_focal_crossentropy",
    "focal categorical cross-entropy",
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
)
Dice = _loss_class("Dice", dice, "dice", "1 - Dice coefficient", axis=None)
Tversky = _loss_class(
    "Tversky", tversky, "tversky", "1 - Tversky index", alpha=0.5, beta=0.5, axis=None
)
BinaryCrossentropy = _loss_class(
    "BinaryCrossentropy",
    binary_crossentropy,
    "binary_crossentropy",
    "binary cross-entropy",
    from_logits=False,
    label_smoothing=0.0,
)


class CategoricalCrossentropy(
    _loss_class(
        "CategoricalCrossentropy",
        categorical_crossentropy,
        "categorical_crossentropy",
        "cross-entropy with one-hot targets",
        from_logits=False,
        label_smoothing=0.0,
    )
):
    """Cross-entropy with one-hot (or probability) targets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.from_logits = bool(self.from_logits)
        self.fusable_with_softmax = not self.from_logits

    def _from_logits(self, y_true: Any, logits: Tensor, reduction: str) -> Tensor:
        t = _smooth(_targets(y_true, logits), self.label_smoothing, logits.shape[-1])
        return F.cross_entropy(logits, t, reduction=reduction)


class SparseCategoricalCrossentropy(
    _loss_class(
        "SparseCategoricalCrossentropy",
        sparse_categorical_crossentropy,
        "sparse_categorical_crossentropy",
        "cross-entropy with integer targets",
        from_logits=False,
    )
):
    """Cross-entropy with integer class targets."""

    sparse_targets = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.from_logits = bool(self.from_logits)
        self.fusable_with_softmax = not self.from_logits

    def _from_logits(self, y_true: Any, logits: Tensor, reduction: str) -> Tensor:
        return sparse_categorical_crossentropy(
            y_true, logits, from_logits=True, reduction=reduction
        )


#: Keras name -> Loss class; class names and abbreviations are aliases, and the loss
#: functions stand for their class (see [Note: one registry per concept] in
#: deepcore/_registry.py).
LOSSES: Registry[type[Loss]] = Registry("loss")
for _cls, _name, _short, _fn in [
    (MeanSquaredError, "mean_squared_error", ("mse",), mean_squared_error),
    (MeanAbsoluteError, "mean_absolute_error", ("mae",), mean_absolute_error),
    (
        MeanAbsolutePercentageError,
        "mean_absolute_percentage_error",
        ("mape",),
        mean_absolute_percentage_error,
    ),
    (
        MeanSquaredLogarithmicError,
        "mean_squared_logarithmic_error",
        ("msle",),
        mean_squared_logarithmic_error,
    ),
    (CosineSimilarity, "cosine_similarity", (), cosine_similarity),
    (Huber, "huber", ("huber_loss",), huber),
    (LogCosh, "log_cosh", ("logcosh",), log_cosh),
    (CategoricalCrossentropy, "categorical_crossentropy", (), categorical_crossentropy),
    (
        SparseCategoricalCrossentropy,
        "sparse_categorical_crossentropy",
        (),
        sparse_categorical_crossentropy,
    ),
    (BinaryCrossentropy, "binary_crossentropy", ("bce",), binary_crossentropy),
    (
        BinaryFocalCrossentropy,
        "binary_focal_crossentropy",
        (),
        binary_focal_crossentropy,
    ),
    (
        CategoricalFocalCrossentropy,
        "categorical_focal_crossentropy",
        (),
        categorical_focal_crossentropy,
    ),
    (Hinge, "hinge", (), hinge),
    (SquaredHinge, "squared_hinge", (), squared_hinge),
    (CategoricalHinge, "categorical_hinge", (), categorical_hinge),
    (KLDivergence, "kl_divergence", ("kld", "kullback_leibler_divergence"), kl_divergence),
    (Poisson, "poisson", (), poisson),
    (Dice, "dice", (), dice),
    (Tversky, "tversky", (), tversky),
]:
    LOSSES.register(_name, _cls, aliases=(*_short, _cls.__name__), equivalents=(_fn,))
del _cls, _name, _short, _fn


def _snake(name: str) -> str:
    """Keras's to_snake_case: 'CustomMSE' -> 'custom_mse', 'KLDivergence' -> 'kl_divergence'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def get(identifier: Any) -> Loss:
    """A :class:`Loss` from a name, a Loss object, a class, a config dict or a callable."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier not in LOSSES:
            raise ValueError(
                f"unknown loss {identifier!r}; known: {', '.join(LOSSES.names(aliases=True))} "
                "(or pass a Loss object or a callable fn(y_true, y_pred))"
            )
        return LOSSES.get(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        name = LOSSES.name_of(identifier)  # a built-in loss function: its Loss class
        return LOSSES.get(name)() if name else LossFunctionWrapper(identifier)
    raise TypeError(f"loss must be a name, a Loss or a callable, got {type(identifier).__name__}")


def serialize(loss: Loss) -> dict:
    """A JSON-able description; custom callables cannot be saved (they are code)."""
    if LOSSES.name_of(type(loss)) is None:
        raise ValueError(
            f"cannot serialize the custom loss {loss!r}: save_weights() works, or pass "
            "custom_objects to load_model()"
        )
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Loss:
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name)
    if cls is None:
        if not isinstance(name, str) or name not in LOSSES:
            raise ValueError(f"unknown loss class {name!r} in the saved configuration")
        cls = LOSSES.get(name)
    return cls.from_config(config.get("config", {}))
