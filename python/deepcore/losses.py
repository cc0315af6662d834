"""Keras-level losses: ``loss(y_true, y_pred)`` objects and names, built on deepcore.nn.functional.

Arguments are in Keras's order (targets first); every loss reduces to the mean over the batch.
``get(identifier)`` resolves what ``Model.compile(loss=...)`` accepts: a name
('mse' / 'mean_squared_error', 'mae', 'categorical_crossentropy', 'sparse_categorical_crossentropy',
'binary_crossentropy', 'hinge'), a :class:`Loss` object, or any callable ``fn(y_true, y_pred)``.

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
    "mean_squared_error",
    "mean_absolute_error",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "hinge",
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
        return F.mse_loss(y_pred, _as_tensor(y_true, y_pred))
    return _pointwise(F.mse_loss(y_pred, _as_tensor(y_true, y_pred), reduction="none"), reduction)


def mean_absolute_error(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    _check_reduction(reduction)
    return _pointwise(ops.abs(y_pred - _as_tensor(y_true, y_pred)), reduction)


def categorical_crossentropy(
    y_true: Any, y_pred: Tensor, from_logits: bool = False, reduction: str = "mean"
) -> Tensor:
    """Cross-entropy with one-hot (or probability) targets along the last axis, in Keras's
    argument order; ``reduction="none"`` gives one value per sample (shape
    ``y_pred.shape[:-1]``). One implementation: ``F.categorical_crossentropy`` (Keras's
    rescale-and-clip of probabilities in one autograd node; the fused softmax cross-entropy
    kernel from logits)."""
    _check_reduction(reduction)
    t = _as_tensor(y_true, y_pred)
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
    y_true: Any, y_pred: Tensor, from_logits: bool = False, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy; ``reduction="none"``: per sample (mean over the last axis)."""
    _check_reduction(reduction)
    t = _as_tensor(y_true, y_pred)
    if from_logits:  # max(z, 0) - z t + log(1 + exp(-|z|)): stable for any z
        return _pointwise(F.relu(y_pred) - y_pred * t + F.softplus(-ops.abs(y_pred)), reduction)
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    if reduction == "mean":
        return F.binary_cross_entropy(p, t)
    return _pointwise(F.binary_cross_entropy(p, t, reduction="none"), reduction)


def hinge(y_true: Any, y_pred: Tensor, reduction: str = "mean") -> Tensor:
    """mean(max(0, 1 - y * score)); 0/1 targets are mapped to -1/+1 as Keras does."""
    _check_reduction(reduction)
    t = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if t.size and t.min() >= 0:
        t = 2.0 * t - 1.0
    t = _as_tensor(t.astype(y_pred.dtype, copy=False))
    if reduction == "mean":
        return F.hinge_loss(y_pred, t)
    return _pointwise(F.hinge_loss(y_pred, t, reduction="none"), reduction)


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


def weighted_reduce(values: Tensor, sample_weight: Any = None, mask: Any = None) -> Tensor:
    """Per-sample losses reduced as Keras's "sum_over_batch_size" (see [Note: weighted losses])."""
    if values.ndim == 0:
        raise ValueError(
            "sample weights and masks need per-sample losses, but the loss returned a scalar: "
            "return one value per sample (shape (batch,) or (batch, time))"
        )
    shape = tuple(values.shape)
    w = None
    if sample_weight is not None:
        sw = sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight
        w = expand_weights(np.asarray(sw, dtype=np.float64), shape, "sample_weight")
    if mask is not None:
        m = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=np.float64)
        scale = m.size / (m.sum() + EPSILON)  # the mean over the unmasked entries
        m = expand_weights(m * scale, shape, "the output mask")
        w = m if w is None else w * m
    if w is None:
        return values.mean()
    return (values * Tensor(w.astype(values.dtype))).sum() * (1.0 / max(values.size, 1))


# ---------------------------------------------------------------------- objects
class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None) -> scalar Tensor`` (mean over the
    batch; see [Note: weighted losses]). Subclasses implement ``call``, returning the mean or
    (as in Keras) the per-sample losses, which are then averaged."""

    #: the loss is a cross-entropy on probabilities: a softmax output may be fused with it
    fusable_with_softmax = False
    #: the targets are integer class ids (decides what 'accuracy' means)
    sparse_targets = False

    def __init__(self, name: str | None = None) -> None:
        self.name = name or _snake(type(self).__name__)

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(
        self, y_true: Any, y_pred: Tensor, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        if sample_weight is None and mask is None:
            out = self.call(y_true, y_pred)
            return out.mean() if getattr(out, "ndim", 0) else out
        return weighted_reduce(self.per_sample(y_true, y_pred), sample_weight, mask)

    def per_sample(self, y_true: Any, y_pred: Tensor) -> Tensor:
        """The unreduced losses: one per sample (and time step), shape ``y_pred.shape[:-1]``."""
        return self.call(y_true, y_pred)

    def fused_softmax_call(
        self, y_true: Any, logits: Tensor, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        """The loss of ``softmax(logits)`` computed from the logits (see the module note)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class LossFunctionWrapper(Loss):
    """A loss made from a function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn: Callable, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name or getattr(fn, "__name__", "loss"))
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def per_sample(self, y_true: Any, y_pred: Tensor) -> Tensor:
        if LOSSES.name_of(self.fn):  # the built-ins give Keras's per-sample values
            return self.fn(y_true, y_pred, reduction="none", **self._fn_kwargs)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, **self._fn_kwargs}


class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name)

    def get_config(self) -> dict:
        return {"name": self.name}


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, name)

    def get_config(self) -> dict:
        return {"name": self.name}


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, name: str = "categorical_crossentropy") -> None:
        super().__init__(categorical_crossentropy, name, from_logits=bool(from_logits))
        self.from_logits = bool(from_logits)
        self.fusable_with_softmax = not self.from_logits

    def fused_softmax_call(
        self, y_true: Any, logits: Tensor, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        t = _as_tensor(y_true, logits)
        if sample_weight is None and mask is None:
            return F.cross_entropy(logits, t)
        return weighted_reduce(F.cross_entropy(logits, t, reduction="none"), sample_weight, mask)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    sparse_targets = True

    def __init__(
        self, from_logits: bool = False, name: str = "sparse_categorical_crossentropy"
    ) -> None:
        super().__init__(sparse_categorical_crossentropy, name, from_logits=bool(from_logits))
        self.from_logits = bool(from_logits)
        self.fusable_with_softmax = not self.from_logits

    def fused_softmax_call(
        self, y_true: Any, logits: Tensor, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        if sample_weight is None and mask is None:
            return sparse_categorical_crossentropy(y_true, logits, from_logits=True)
        per = sparse_categorical_crossentropy(y_true, logits, from_logits=True, reduction="none")
        return weighted_reduce(per, sample_weight, mask)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits: bool = False, name: str = "binary_crossentropy") -> None:
        super().__init__(binary_crossentropy, name, from_logits=bool(from_logits))
        self.from_logits = bool(from_logits)


class Hinge(LossFunctionWrapper):
    def __init__(self, name: str = "hinge") -> None:
        super().__init__(hinge, name)

    def get_config(self) -> dict:
        return {"name": self.name}


#: Keras name -> Loss class; abbreviations and class names are aliases, and the loss
#: functions stand for their class (see [Note: one registry per concept] in
#: deepcore/_registry.py).
LOSSES: Registry[type[Loss]] = Registry("loss")
for _cls, _name, _short, _fn in [
    (MeanSquaredError, "mean_squared_error", ("mse",), mean_squared_error),
    (MeanAbsoluteError, "mean_absolute_error", ("mae",), mean_absolute_error),
    (CategoricalCrossentropy, "categorical_crossentropy", (), categorical_crossentropy),
    (
        SparseCategoricalCrossentropy,
        "sparse_categorical_crossentropy",
        (),
        sparse_categorical_crossentropy,
    ),
    (BinaryCrossentropy, "binary_crossentropy", ("bce",), binary_crossentropy),
    (Hinge, "hinge", (), hinge),
]:
    LOSSES.register(_name, _cls, aliases=(*_short, _cls.__name__), equivalents=(_fn,))
del _cls, _name, _short, _fn


def _snake(name: str) -> str:
    out = [name[0].lower()]
    for c in name[1:]:
        if c.isupper():
            out.append("_")
        out.append(c.lower())
    return "".join(out)


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
