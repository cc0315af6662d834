"""Keras's Loss objects: the ``Loss`` base class, ``LossFunctionWrapper`` and the built-in
classes over the functions of _functions.py, the :data:`LOSSES` registry and
``get`` / ``serialize`` / ``deserialize`` (see deepcore/losses/__init__.py)."""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable

import numpy as np

from .._registry import Registry
from ..nn import functional as F
from ..tensor import Tensor
from ._functions import (
    _as_tensor,
    _smooth,
    _targets,
    as_prediction,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    cosine_similarity,
    ctc,
    dice,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
    tversky,
)
from ._reduction import _MEAN_REDUCTIONS, check_reduction, weighted_reduce


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
        y_pred = as_prediction(y_pred, self.dtype)
        y_true = _as_tensor(y_true, y_pred)
        if sample_weight is None and mask is None and self.reduction in _MEAN_REDUCTIONS:
            return self.batch_mean(y_true, y_pred)  # the lean path
        return weighted_reduce(
            self.per_sample(y_true, y_pred), sample_weight, mask, self.reduction, y_pred.ndim < 2
        )

    def batch_mean(self, y_true: Any, y_pred: Tensor) -> Tensor:
        """The mean of the per-sample losses (the built-ins compute it in fused kernels)."""
        out = self.call(y_true, y_pred)
        return out.mean() if getattr(out, "ndim", 0) else out

    def per_sample(self, y_true: Any, y_pred: Tensor) -> Tensor:
        """The unreduced losses: one per sample (and time step), shape ``y_pred.shape[:-1]``."""
        return self.call(y_true, y_pred)

    def fused_softmax_call(
        self, y_true: Any, logits: Tensor, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        """The loss of ``softmax(logits)`` computed from the logits (see the module note)."""
        logits = as_prediction(logits)  # float16 logits scored in float32
        if sample_weight is None and mask is None and self.reduction in _MEAN_REDUCTIONS:
            return self._from_logits(y_true, logits, "mean")
        per = self._from_logits(y_true, logits, "none")
        return weighted_reduce(per, sample_weight, mask, self.reduction, logits.ndim < 2)

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
        """The per-sample losses (the function's values, as in Keras)."""
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def per_sample(self, y_true: Any, y_pred: Tensor) -> Tensor:
        # per sample for weighting ([Note: loss function reductions]); 1-D predictions are one
        # sample, as in Keras: the function's own scalar value, weighted by weighted_reduce
        if self._builtin and y_pred.ndim >= 2:
            return self.fn(y_true, y_pred, reduction="none", **self._fn_kwargs)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def batch_mean(self, y_true: Any, y_pred: Tensor) -> Tensor:
        if self._builtin:  # the fused mean of the built-in function
            return self.fn(y_true, y_pred, reduction="mean", **self._fn_kwargs)
        return super().batch_mean(y_true, y_pred)

    @property
    def _builtin(self) -> bool:
        return LOSSES.name_of(self.fn) is not None

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
    module: str = "deepcore.losses",
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
    axis=-1,
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
    axis=-1,
)
Dice = _loss_class("Dice", dice, "dice", "1 - Dice coefficient", axis=None)
CTC = _loss_class("CTC", ctc, "ctc", "connectionist temporal classification (CTC) loss")
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
    axis=-1,
)


class CategoricalCrossentropy(
    _loss_class(
        "CategoricalCrossentropy",
        categorical_crossentropy,
        "categorical_crossentropy",
        "cross-entropy with one-hot targets",
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
    )
):
    """Cross-entropy with one-hot (or probability) targets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.from_logits = bool(self.from_logits)
        self.fusable_with_softmax = not self.from_logits and self.axis in (-1, None)

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
        ignore_class=None,
        axis=-1,
    )
):
    """Cross-entropy with integer class targets; samples labelled ``ignore_class`` are
    masked out (the mean is over the others, as Keras's mask on the losses)."""

    sparse_targets = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.from_logits = bool(self.from_logits)
        self.fusable_with_softmax = not self.from_logits and self.axis == -1

    def __call__(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        return super().__call__(y_true, y_pred, sample_weight, self._ignore_mask(y_true, mask))

    def fused_softmax_call(
        self, y_true: Any, logits: Tensor, sample_weight: Any = None, mask: Any = None
    ) -> Tensor:
        mask = self._ignore_mask(y_true, mask)
        return super().fused_softmax_call(y_true, logits, sample_weight, mask)

    def _ignore_mask(self, y_true: Any, mask: Any) -> Any:
        """``mask`` and-ed with "the label is not ``ignore_class``"."""
        if self.ignore_class is None:
            return mask
        t = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
        keep = t != self.ignore_class
        if mask is None:
            return keep
        m = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)
        return keep & m.reshape(m.shape + (1,) * (keep.ndim - m.ndim))

    def _from_logits(self, y_true: Any, logits: Tensor, reduction: str) -> Tensor:
        return sparse_categorical_crossentropy(
            y_true, logits, True, self.ignore_class, reduction=reduction
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
    (CTC, "ctc", (), ctc),
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
