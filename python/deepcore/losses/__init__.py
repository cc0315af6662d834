"""Keras losses: ``loss(y_true, y_pred)`` objects and names, built on deepcore.nn.functional.

Arguments are in Keras's order (targets first). ``get(identifier)`` resolves what
``Model.compile(loss=...)`` accepts: every Keras name (the function names 'mean_squared_error',
'categorical_crossentropy', 'huber', 'kl_divergence', ..., the class names 'MeanSquaredError',
..., and the abbreviations 'mse', 'mae', 'mape', 'msle', 'bce', 'kld'; one :data:`LOSSES`
registry), a :class:`Loss` object or class, or any callable ``fn(y_true, y_pred)``.

A ``Loss`` subclass is Keras's pattern: ``call(y_true, y_pred)`` returns the per-sample losses
and ``__call__`` reduces them by ``reduction`` ('sum_over_batch_size', the default, 'mean',
'sum', 'mean_with_sample_weight', or 'none' / None). ``y_true`` reaches ``call`` as a Tensor
(floats in ``y_pred``'s dtype). The loss *functions* (``mean_squared_error(y_true, y_pred)``
...) return the per-sample losses, as Keras's do ([Note: loss function reductions] in
_functions.py).

The package: _functions.py (the functions), _reduction.py (weighting and reductions),
_classes.py (Loss, the classes, the registry, get / serialize).

[Note: fused softmax cross-entropy] A classifier ending in softmax and trained with a
cross-entropy loss on probabilities computes ``-sum(y * log(softmax(z)))``. ``Model`` computes the
same quantity from the logits ``z`` with the fused, max-subtracted ``F.cross_entropy`` (one
native pass, stable for huge logits, no clipping of tiny probabilities) whenever
``Loss.fusable_with_softmax`` is true; the result equals the unfused math wherever the
probabilities are above the clipping epsilon, and is more accurate where they are not.

[Note: weighted losses] ``loss(y_true, y_pred, sample_weight=None, mask=None)`` follows Keras's
"sum_over_batch_size" reduction. The unreduced losses are Keras's per-sample values (the loss
reduced over the last axis only: shape ``y_pred.shape[:-1]``, one per sample, or one per
sample and time step for sequence outputs: what every built-in function returns). With
weights ``w`` (``sample_weight`` of shape ``(batch,)`` or of the per-sample shape, broadcast
along trailing axes) the loss is ``sum(w * loss) / loss.size``: the
weighted sum divided by the number of samples, not by the sum of the weights. 1-D
predictions are one sample, as in Keras: their loss is a scalar, which the weights multiply
before the reduction ('sum_over_batch_size' gives loss · mean(w)). A boolean
``mask`` (the model output's Keras mask, e.g. from ``Embedding(mask_zero=True)``) zeroes the
masked entries and rescales by ``mask.size / (mask.sum() + eps)``, so the loss is the
(weighted) sum over the unmasked entries divided by their number. Without weights or a mask the
loss is the plain mean, computed by the fused kernels.
"""

from __future__ import annotations

from ._classes import (
    CTC,
    LOSSES,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Dice,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    Tversky,
    _snake,  # noqa: F401  (metrics names its classes the same way)
    deserialize,
    get,
    keras_init,  # noqa: F401  (metrics builds its wrappers with these)
    serialize,
    wrapper_class,  # noqa: F401
)
from ._functions import (
    EPSILON,  # noqa: F401
    KLD,
    MAE,
    MAPE,
    MSE,
    MSLE,
    as_prediction,  # noqa: F401
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
    kld,
    log_cosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
    poisson,
    same_rank,  # noqa: F401
    sparse_categorical_crossentropy,
    squared_hinge,
    tversky,
)
from ._reduction import (  # noqa: F401  (models/data_adapter.py expands weights)
    REDUCTIONS,
    check_reduction,
    expand_weights,
    weighted_reduce,
)

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
    "CTC",
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
    "ctc",
    "mse",
    "MSE",
    "mae",
    "MAE",
    "mape",
    "MAPE",
    "msle",
    "MSLE",
    "kld",
    "KLD",
    "weighted_reduce",
    "LOSSES",
    "get",
    "serialize",
    "deserialize",
]
